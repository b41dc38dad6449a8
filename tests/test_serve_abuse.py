"""replay serve under abuse, on real servers on loopback: uploads over the limit (declared,
streamed, chunked), wrong and unknown formats, names and ids that try to be paths,
concurrent uploads, a full queue, cancelling, a killed worker, a job over its time limit,
a server killed (and one stopped) mid-job and started again."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import secrets
import signal
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from serve_server import Server, pid_alive, replaying, wait_gone
from test_import_bad_input import CSV, LACKEY

from replay.gen import generate_to

LIMIT_TEXT = "the upload is larger than this server's limit of 2M (replay serve --max-upload)"


@pytest.fixture(scope="module")
def traces(tmp_path_factory) -> Path:
    """The servers' traces folder: a small trace, and one long enough to be caught while
    it replays (seconds under every policy)."""
    folder = tmp_path_factory.mktemp("abuse-traces")
    generate_to(folder / "small.parquet", "zipf", accesses=10_000, pages=2_000, seed=2)
    generate_to(folder / "long.parquet", "zipf", accesses=1_500_000, pages=120_000, seed=3)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory, traces):
    data = tmp_path_factory.mktemp("abuse") / "data"
    with Server(data, "--workers", "1", "--max-upload", "2M", traces=traces) as s:
        yield s


def csv_bytes(n: int, start_vpn: int = 0x7F000) -> bytes:
    rows = "".join(f"{t},{start_vpn + t % 300},{'rw'[t % 2]}\n" for t in range(n))
    return ("time_ns,vpn,op\n" + rows).encode()


def server_files(server: Server) -> list[str]:
    return sorted(str(p.relative_to(server.data)) for p in server.data.rglob("*")
                  if p.is_file() and p.name not in ("serve.sqlite3", "serve.sqlite3-wal",
                                                    "serve.sqlite3-shm", "serve.lock"))


# ---------------------------------------------------------------- sizes


def test_an_upload_over_the_limit_is_413_with_the_reason(server):
    before = server_files(server)
    a = server.upload(os.urandom(3 << 20), "big.csv")
    assert (a.status, a.json()) == (413, {"error": LIMIT_TEXT})
    a = server.upload_form(os.urandom(3 << 20), "big.csv")
    assert (a.status, a.json()) == (413, {"error": LIMIT_TEXT})
    page = server.upload_form(os.urandom(3 << 20), "big.csv", {"trace_source": "upload",
                                                               "policy": "mainline"},
                              path="/compare")
    assert page.status == 413 and "limit of 2M" in page.text and "<form" in page.text
    assert server_files(server) == before                 # nothing kept of any of them
    assert server.upload(os.urandom(2 << 20), "at-the-limit.bin").status == 422  # taken


def test_a_body_declared_too_large_is_refused_before_it_is_read(server):
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/api/traces?name=huge.csv")
    conn.putheader("Content-Length", str(10 << 30))
    conn.endheaders()                                      # and not a byte of the body
    r = conn.getresponse()
    assert (r.status, json.loads(r.read())) == (413, {"error": LIMIT_TEXT})
    conn.close()


def test_a_chunked_upload_is_cut_at_the_limit(server):
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    chunks = (os.urandom(256 << 10) for _ in range(12))  # 3 MiB, no Content-Length
    conn.request("POST", "/api/traces?name=stream.csv", body=chunks, encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    r = conn.getresponse()
    assert (r.status, json.loads(r.read())) == (413, {"error": LIMIT_TEXT})
    conn.close()
    assert list((server.data / "uploads").iterdir()) == []


# ---------------------------------------------------------------- formats


def test_wrong_and_unknown_formats_get_the_importers_one_line(server):
    def error(status: int, data: bytes, name: str, **params) -> str:
        a = server.upload(data, name, **params)
        assert a.status == status, a.text
        assert str(server.data) not in a.text              # never the server's paths
        return a.json()["error"]

    assert error(422, CSV, "data.csv", format="lackey").startswith(
        "data.csv: lackey format: line 1: not a lackey line")
    assert error(422, os.urandom(5000), "noise.bin").startswith(
        "noise.bin: cannot tell which format this file is in")
    assert error(422, gzip.compress(CSV * 400)[:-40], "cut.csv.gz").startswith(
        "cut.csv.gz: csv format: corrupt or truncated gz data")
    assert error(422, b"", "empty.csv") == "empty.csv: file is empty"
    assert "unknown trace format 'excel'" in error(400, CSV, "x.csv", format="excel")
    assert error(400, CSV, "x.csv", options="--time-col 9") == \
        "--time-col 9 is outside columns 1..3"
    assert error(400, LACKEY, "x.lackey", options="--addr-col 2") == \
        "--addr-col does not apply to the lackey format"
    assert list((server.data / "uploads").iterdir()) == []
    assert list((server.data / "traces").glob(".*")) == []


def test_the_form_shows_an_import_error_on_the_page(server):
    page = server.upload_form(CSV, "data.csv", {"trace_source": "upload", "format": "lackey",
                                                "memory_limits": "50%", "policy": "mainline"},
                              path="/compare")
    assert page.status == 422
    assert "data.csv: lackey format: line 1: not a lackey line" in page.text
    assert 'class="srv-alert srv-error"' in page.text
    assert "Choose the file again" in page.text             # the browser dropped it
    assert 'value="lackey" selected' in page.text            # the rest of the form is kept


# ---------------------------------------------------------------- names that try to be paths


def test_uploaded_names_never_become_paths(server):
    token = secrets.token_hex(4)
    before = set(server_files(server))
    for name in (f"../../../../../../tmp/evil-{token}.csv",
                 f"..\\..\\..\\tmp\\evil-{token}.csv", f"/tmp/evil-{token}.csv"):
        a = server.upload(csv_bytes(50), name)
        assert a.status == 201, a.text
        assert a.json()["name"] == f"evil-{token}.csv"
    a = server.upload_form(csv_bytes(50), f"../../evil-{token}.csv")
    assert a.status == 201 and a.json()["name"] == f"evil-{token}.csv"
    assert list(Path("/tmp").glob(f"evil-{token}*")) == []
    assert not any(token in p for p in server_files(server))
    new = set(server_files(server)) - before
    assert len(new) == 4
    assert all(re.fullmatch(r"traces/[0-9a-f]{12}\.parquet", p) for p in new), new


def test_ids_and_trace_names_never_become_paths(server):
    for path in ("/jobs/..%2F..%2Fserve.sqlite3", "/jobs/..%2fserve.sqlite3/result.json",
                 "/api/jobs/..%2F..%2Fserve.sqlite3/result", "/api/traces/..%2Fserve.sqlite3",
                 "/jobs/%2e%2e/serve.sqlite3", "/api/traces/..", "/jobs/....%2f%2f"):
        a = server.get(path)
        assert a.status == 404, path
        assert b"SQLite format" not in a.body
    a = server.start_job("bundled:../../../etc/passwd")
    assert a.status == 400 and a.json()["error"].startswith(
        "no trace named '../../../etc/passwd' in the server's traces folder")
    a = server.start_job("bundled:long.parquet/../small")
    assert a.status == 400
    a = server.start_job("../traces/0123456789ab")
    assert a.status == 400 and "is not a trace id" in a.json()["error"]
    a = server.start_job("bundled:small", cost_model="/etc/passwd")
    assert (a.status, a.json()) == (400, {"error": "unknown setting 'cost_model' (GET "
                                                   "/api/settings lists them)"})
    a = server.upload(csv_bytes(10), "t.csv", options="-o /tmp/x.parquet")
    assert (a.status, a.json()) == (400, {"error": "import options: No such option '-o'."})


def test_a_post_from_another_sites_page_is_refused(server):
    a = server.request("POST", "/api/jobs", json.dumps({"trace": "bundled:small"}).encode(),
                       {"Content-Type": "application/json", "Origin": "http://evil.example"})
    assert (a.status, a.json()) == (403, {"error": "a request from another site's page is "
                                                   "refused"})


# ---------------------------------------------------------------- at once


def test_concurrent_uploads_each_get_their_own_trace(server):
    sizes = [300, 500, 700, 900, 1100, 1300]

    def send(n: int):
        return server.upload(csv_bytes(n, start_vpn=0x7F000 + n * 1000), "same-name.csv")

    with ThreadPoolExecutor(len(sizes)) as pool:
        answers = list(pool.map(send, sizes))
    assert [a.status for a in answers] == [201] * len(sizes)
    ids = [a.json()["id"] for a in answers]
    assert len(set(ids)) == len(sizes)
    assert [a.json()["accesses"] for a in answers] == sizes
    assert list((server.data / "uploads").iterdir()) == []


# ---------------------------------------------------------------- the queue and workers


def test_a_full_queue_is_429_and_cancel_frees_the_worker(tmp_path, traces):
    with Server(tmp_path / "data", "--workers", "1", "--max-queued", "2",
                traces=traces) as s:
        long = s.start_job("bundled:long", memory_limit=["30%", "60%"]).json()
        s.wait(long["id"], lambda st: st["state"] != "queued")       # it holds the worker
        waiting = [s.start_job("bundled:small", policy="mainline").json() for _ in range(2)]
        assert [j["state"] for j in waiting] == ["queued", "queued"]
        a = s.start_job("bundled:small")
        assert a.status == 429
        assert a.json()["error"] == ("the queue is full: 2 comparisons wait for a worker "
                                     "(this server's limit, replay serve --max-queued); try "
                                     "again when one has started")
        assert a.headers["retry-after"] == "30"
        page = s.upload_form(b"", "", {"trace_source": "bundled", "bundled": "small",
                                       "policy": "mainline"}, path="/compare")
        assert page.status == 429 and "the queue is full" in page.text
        running = s.wait(long["id"], replaying)
        assert running["state"] == "running", running["error"]
        pid = running["worker_pid"]
        assert pid_alive(pid)
        assert s.status(waiting[1]["id"])["queue_position"] == 2
        # cancel a waiting job, then the running one: its worker goes, the next job runs
        a = s.post_json(f"/api/jobs/{waiting[0]['id']}/cancel", {})
        assert (a.status, a.json()["state"]) == (200, "cancelled")
        a = s.post_json(f"/api/jobs/{long['id']}/cancel", {})
        assert (a.status, a.json()["state"]) == (200, "cancelled")
        assert wait_gone(pid), "the cancelled job's worker still runs"
        last = s.wait(waiting[1]["id"], timeout=120)
        assert last["state"] == "done", last["error"]
        assert s.status(long["id"])["state"] == "cancelled"
        assert s.status(long["id"])["error"] == "cancelled by a user"
        a = s.post_json(f"/api/jobs/{long['id']}/cancel", {})
        assert (a.status, a.json()) == (409, {"error": "the comparison is already cancelled"})
        a = s.get(f"/api/jobs/{long['id']}/result")
        assert (a.status, a.json()) == (409, {"error": "the comparison is cancelled: "
                                                       "cancelled by a user"})


def test_a_killed_worker_fails_its_job_and_frees_its_slot(tmp_path, traces):
    with Server(tmp_path / "data", "--workers", "1", traces=traces) as s:
        long = s.start_job("bundled:long").json()
        after = s.start_job("bundled:small", policy="order0-fallback").json()
        running = s.wait(long["id"], replaying)
        assert running["state"] == "running", running["error"]
        os.kill(running["worker_pid"], signal.SIGKILL)
        failed = s.wait(long["id"])
        assert failed["state"] == "failed"
        assert failed["error"] == "its worker process was killed by SIGKILL before it finished"
        page = s.get(f"/jobs/{long['id']}")
        assert "killed by SIGKILL" in page.text and "Run it again" in page.text
        done = s.wait(after["id"], timeout=120)
        assert done["state"] == "done", done["error"]
        # run it again, from its page: a new job of the same trace and settings
        page = s.request("POST", f"/jobs/{long['id']}/rerun", b"")
        assert page.status == 200                            # the new job's page
        newest = s.get("/api/jobs?limit=1").json()["jobs"][0]
        assert newest["id"] not in (long["id"], after["id"])
        assert (newest["command"], newest["settings"]) == (failed["command"],
                                                           failed["settings"])
        assert f"/jobs/{newest['id']}/cancel" in page.text
        s.post_json(f"/api/jobs/{newest['id']}/cancel", {})


def test_a_job_over_the_time_limit_fails_and_frees_its_worker(tmp_path, traces):
    # Four memory limits: 24 runs of 1.5 M accesses, ~8 s of replay on this machine
    # unloaded (one run of every policy took 2.3 s), four times the limit.
    with Server(tmp_path / "data", "--workers", "1", "--job-timeout", "2s",
                traces=traces) as s:
        long = s.start_job("bundled:long",
                           memory_limit=["20%", "35%", "50%", "65%"]).json()
        started = s.wait(long["id"], lambda st: st["worker_pid"] is not None
                         or st["state"] not in ("queued", "running"))
        assert started["state"] == "running", started["error"]
        pid = started["worker_pid"]
        failed = s.wait(long["id"], timeout=60)
        assert failed["state"] == "failed"
        assert failed["error"] == ("it ran longer than this server's limit of 2 s (replay "
                                   "serve --job-timeout)")
        assert wait_gone(pid)


def _group_gone(pgid: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_a_server_killed_mid_job_loses_only_that_job(tmp_path, traces):
    data = tmp_path / "data"
    first = Server(data, "--workers", "1", traces=traces).start()
    try:
        upload = first.upload(csv_bytes(3000), "kept.csv").json()
        long = first.start_job("bundled:long").json()
        queued = first.start_job(upload["id"], policy="order0-fallback").json()
        running = first.wait(long["id"], replaying)
        assert running["state"] == "running", running["error"]
        pid = running["worker_pid"]
        first.kill()                                       # SIGKILL: no shutdown at all
        assert wait_gone(pid), "the worker outlived the server"
        assert _group_gone(first.proc.pid), "something the server started still runs"
    finally:
        first.stop()
    with Server(data, "--workers", "1", traces=traces) as second:
        failed = second.status(long["id"])
        assert failed["state"] == "failed"
        assert failed["error"].startswith("the server stopped while this job ran")
        done = second.wait(queued["id"], timeout=120)     # it waited, and runs now
        assert done["state"] == "done", done["error"]
        assert upload["id"] in [t["id"] for t in second.get("/api/traces").json()["uploads"]]
        # stopped (SIGTERM) mid-job: that job fails too, with its own reason
        again = second.start_job("bundled:long").json()
        running = second.wait(again["id"], replaying)
        assert running["state"] == "running", running["error"]
        pid = running["worker_pid"]
    assert wait_gone(pid)
    with Server(data, "--workers", "1", traces=traces) as third:
        assert third.status(again["id"])["error"] == ("the server was stopped while this job "
                                                      "ran; run it again")
        assert third.status(done["id"])["state"] == "done"


def test_one_data_folder_one_server(server, traces):
    other = Server(server.data, traces=traces)
    with pytest.raises(AssertionError, match="another replay serve is using this data folder"):
        other.start(timeout=30)
    assert other.proc.wait(timeout=30) == 2
