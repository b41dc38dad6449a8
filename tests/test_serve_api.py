"""replay serve's JSON API end to end, on a real server on loopback: upload a generated
trace (as a compressed CSV: detected, imported), compare policies at two memory limits,
follow the progress, fetch the result; the result is what the command line the server shows
gives; the list finds it by trace and policy; its page is the report."""

from __future__ import annotations

import gzip
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from serve_server import Server

from replay.gen import generate_to

POLICIES = ["order0-fallback", "hybrid-rejected", "hybrid-supported"]


def csv_of(parquet: Path, out: Path) -> Path:
    """The trace's accesses as the CSV a user might have: time_ns, vpn, op, asid."""
    table = pq.read_table(parquet, columns=["time_ns", "vpn", "op", "asid"])
    pacsv.write_csv(table, out)
    return out


@pytest.fixture(scope="module")
def traces(tmp_path_factory) -> Path:
    """The server's traces folder, with one small trace."""
    folder = tmp_path_factory.mktemp("serve-traces")
    generate_to(folder / "small.parquet", "zipf", accesses=20_000, pages=3_000, seed=4)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory, traces):
    data = tmp_path_factory.mktemp("serve") / "data"
    with Server(data, "--workers", "1", traces=traces) as s:
        yield s


@pytest.fixture(scope="module")
def uploaded(server, tmp_path_factory) -> tuple[dict, Path]:
    """A generated Zipf trace uploaded as trace.csv.gz (the file kept, for the command
    line)."""
    folder = tmp_path_factory.mktemp("upload")
    generate_to(folder / "gen.parquet", "zipf", accesses=60_000, pages=8_000, seed=21)
    src = folder / "zipf-app.csv.gz"
    src.write_bytes(gzip.compress(csv_of(folder / "gen.parquet", folder / "t.csv").read_bytes()))
    a = server.upload(src.read_bytes(), src.name, description="a generated Zipf workload")
    assert a.status == 201, a.text
    assert a.headers["location"] == f"/api/traces/{a.json()['id']}"
    return a.json(), src


@pytest.fixture(scope="module")
def finished(server, uploaded) -> tuple[dict, list[dict]]:
    """A comparison of the upload at two memory limits under three policies, run to its
    end; every status seen on the way."""
    trace, _ = uploaded
    a = server.start_job(trace["id"], memory_limit=["40%", "8M"], policy=POLICIES,
                         mthp="16K,64K")
    assert a.status == 202, a.text
    seen: list[dict] = []
    status = server.wait(a.json()["id"], watch=seen.append)
    return status, seen


def test_an_upload_is_detected_imported_and_described(uploaded, server):
    trace, _ = uploaded
    assert (trace["name"], trace["format"], trace["compression"]) == \
        ("zipf-app.csv.gz", "csv", "gz")
    assert trace["accesses"] == 60_000
    assert trace["description"] == "a generated Zipf workload"
    listed = server.get("/api/traces").json()
    assert trace["id"] in [t["id"] for t in listed["uploads"]]
    assert listed["bundled"] == [{"id": "bundled:small", "name": "small", "accesses": 20_000,
                                  "problem": None}]
    assert server.get(f"/api/traces/{trace['id']}").json() == trace


PROGRESS_LIMITS = ["40%", "35%", "30%", "25%", "20%", "8M"]


@pytest.fixture(scope="module")
def watched(server, uploaded) -> tuple[dict, list[dict]]:
    """A comparison long enough to be seen replaying (six memory limits: a replay at one
    limit takes a tenth of a second or two, less than the polls' spacing), run to its
    end; every status seen on the way."""
    trace, _ = uploaded
    a = server.start_job(trace["id"], memory_limit=PROGRESS_LIMITS, policy=POLICIES,
                         mthp="16K,64K")
    assert a.status == 202, a.text
    seen: list[dict] = []
    status = server.wait(a.json()["id"], watch=seen.append)
    return status, seen


def test_the_job_reports_progress_and_ends_done(watched):
    status, seen = watched
    assert status["state"] == "done", status["error"]
    total = len(PROGRESS_LIMITS) * 60_000                # accesses, once per memory limit
    assert status["progress"]["accesses_done"] == status["progress"]["accesses_total"] == total
    states = [s["state"] for s in seen]
    assert states[0] in ("queued", "running") and "running" in states
    done = [s["progress"]["accesses_done"] for s in seen if s["state"] == "running"]
    assert done == sorted(done)                          # never goes back
    rates = [s["progress"]["rate_per_s"] for s in seen if s["progress"]["rate_per_s"]]
    assert rates and all(r > 0 for r in rates)
    phases = {s["phase"] for s in seen if s["state"] == "running"}
    assert any(p.startswith("replaying at") for p in phases), phases
    assert status["verdict"] and len(status["verdict"]) == len(PROGRESS_LIMITS)
    for v in status["verdict"]:
        assert set(v["pgmajfault"]) == set(POLICIES)
        best = min(v["pgmajfault"][p] for p in POLICIES if p not in v["oom_killed"])
        assert all(v["pgmajfault"][p] == best for p in v["fewest_major_faults"])


def test_the_result_is_compares_document(server, finished, uploaded):
    status, _ = finished
    doc = server.get(f"/api/jobs/{status['id']}/result").json()
    assert doc["kind"] == "compare" and doc["policies"] == POLICIES
    assert [rp["memory_limit"]["given"] for rp in doc["replays"]] == ["40%", "8M"]
    for rp in doc["replays"]:
        assert rp["trace_name"] == "zipf-app"
        assert rp["trace"]["path"] == "zipf-app.parquet"          # no server path
        assert rp["trace"]["source_file"] == "zipf-app.csv.gz"
        assert [r["policy"] for r in rp["results"]] == POLICIES
        assert all(r["config"]["mthp_sizes_kb"] == [16, 64] for r in rp["results"])
    assert str(server.data) not in json.dumps(doc)


def test_the_command_line_shown_gives_the_same_counters(server, finished, uploaded, tmp_path):
    """Run the command the job shows, where the uploaded file is: the same kernel
    counters, policy by policy, limit by limit."""
    status, _ = finished
    _, src = uploaded
    command = status["command"]
    assert command.startswith("replay import csv zipf-app.csv.gz -o zipf-app.parquet "
                              "--description 'a generated Zipf workload' && replay compare "
                              "zipf-app.parquet --memory-limit 40% --memory-limit 8M ")
    (tmp_path / src.name).write_bytes(src.read_bytes())
    reports = tmp_path / "reports"
    reports.mkdir()
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "FOLIO_REPLAY_REPORTS": str(reports),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    assert shlex.split(command)[0] == "replay" and command.endswith(" --html --json")
    # the figures change no counter: the report is not drawn again here (seconds saved)
    command = command.removesuffix(" --html --json") + " --json"
    p = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=600, check=False)
    assert p.returncode == 0, p.stderr
    [mine] = reports.glob("*.json")
    local = json.loads(mine.read_text())
    served = server.get(f"/api/jobs/{status['id']}/result").json()
    for a, b in zip(local["replays"], served["replays"], strict=True):
        assert a["memory_limit"] == b["memory_limit"]
        assert [r["counters"] for r in a["results"]] == [r["counters"] for r in b["results"]]
        assert [r["per_size"] for r in a["results"]] == [r["per_size"] for r in b["results"]]


def test_the_list_finds_it_by_trace_and_policy(server, finished):
    status, _ = finished
    job = status["id"]

    def ids(query: str) -> list[str]:
        a = server.get(f"/api/jobs?{query}")
        assert a.status == 200, a.text
        return [j["id"] for j in a.json()["jobs"]]

    assert job in ids("trace=ZIPF-A")                        # any case, part of the name
    assert job in ids("policy=hybrid-rejected")
    assert job in ids("trace=zipf&policy=order0-fallback&state=done")
    assert job not in ids("policy=full-zswap")               # not compared in this job
    assert job not in ids("trace=kvscan")
    assert job not in ids("trace=%25")                        # % is a character, not a wildcard
    page = server.get("/jobs?trace=zipf&policy=hybrid-rejected")
    assert page.status == 200 and f'href="/jobs/{job}"' in page.text
    n = len(ids("trace=zipf&policy=hybrid-rejected"))   # this job, and the progress test's
    assert n >= 1
    assert ("1 comparison matches" if n == 1 else f"{n} comparisons match") in page.text
    assert job not in ids("trace=zipf&policy=hybrid-rejected&state=failed")
    assert server.get("/api/jobs?state=bogus").status == 400


def test_the_job_page_is_the_report_with_its_links(server, finished):
    status, _ = finished
    job = status["id"]
    page = server.get(f"/jobs/{job}")
    assert page.status == 200
    text = page.text
    assert "<h1>folio-replay: zipf-app</h1>" in text               # compare's report
    assert text.count('class="plot"') == 5          # curves, then timeline + sizes per limit
    assert f'value="{server.url}/jobs/{job}"' in text                # the address to share
    assert f'href="/jobs/{job}/result.json"' in text
    assert "replay import csv zipf-app.csv.gz -o zipf-app.parquet" in text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    download = server.get(f"/jobs/{job}/result.json")
    assert download.status == 200
    assert download.headers["content-disposition"] == \
        f'attachment; filename="zipf-app-{job}.json"'
    assert json.loads(download.body)["kind"] == "compare"
    again = server.get(f"/?from={job}")                   # "Change the settings"
    assert again.status == 200
    assert 'name="memory_limits" value="40% 8M"' in again.text
    assert 'name="mthp" value="16K,64K"' in again.text
    assert 'name="trace_source" value="previous" checked' in again.text
    assert f'<option value="{status["trace"]["id"]}" selected>' in again.text
    assert again.text.count('name="policy" value=') == 6
    assert again.text.count('checked><span><span class="srv-name">') == len(POLICIES)
    raw = server.get(f"/jobs/{job}/report.html")
    assert raw.status == 200 and raw.text.startswith("<!DOCTYPE html>")
    assert "srv-result" not in raw.text                  # the report as compare wrote it
    assert str(server.data) not in raw.text


def test_a_bundled_trace_by_name(server):
    a = server.start_job("bundled:small", memory_limit="60%", policy="order0-fallback")
    assert a.status == 202, a.text
    assert a.json()["command"] == ("replay compare small --memory-limit 60% --policy "
                                   "order0-fallback --html --json")
    status = server.wait(a.json()["id"])
    assert status["state"] == "done", status["error"]
    doc = server.get(f"/api/jobs/{status['id']}/result").json()
    assert doc["replays"][0]["trace"]["path"] == "traces/small.parquet"
    assert doc["replays"][0]["trace"]["accesses"] == 20_000


def test_results_and_statuses_of_unknown_jobs(server, uploaded):
    assert server.get("/api/jobs/000000000000").status == 404
    assert server.get("/api/jobs/000000000000/result").json() == \
        {"error": "no comparison with id '000000000000' on this server"}
    assert server.get("/jobs/nothing-here").status == 404
    assert server.get("/api/nothing").json() == {"error": "nothing at /api/nothing"}
    settings = server.get("/api/settings").json()
    assert {"name": "mthp", "option": "--mthp", "off_option": None, "kind": "text",
            "choices": [], "default": "64K"}.items() <= settings["settings"][0].items()
    assert "hybrid-supported" in settings["policies"]
