"""`replay compare`: the tables as a user sees them (in a pipe, on a terminal, as Markdown
and CSV read back), defaults that answer, notes, and one-line errors for bad settings."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import select
import subprocess
import sys
import time

import numpy as np
import pytest

from replay.cli import main
from replay.commands.compare import default_report_path
from replay.engine import simulate
from replay.gen import generate_to
from replay.model.config import ModelConfig
from replay.policies import available
from replay.report.render import CSV_FIELDS
from replay.report.tables import killed
from replay.trace import TraceMeta, write_trace
from replay.units import format_size

ALL = list(available())
THREE = ["--policy", "order0-fallback", "--policy", "full-zswap", "--policy",
         "hybrid-supported"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def cells(line: str) -> list[str]:
    """A table line split into its cells (columns are two or more spaces apart)."""
    return re.split(r"\s{2,}", line.strip())


def first_number(cell: str) -> float:
    return float(re.match(r"[-\d,.]+", cell).group(0).replace(",", ""))


# ---------------------------------------------------------------- the pipe (session run)


def test_compare_replays_every_trace_and_limit(compared, zipf_trace):
    assert compared.returncode == 0, compared.stderr
    doc = compared.doc
    assert (doc["schema_version"], doc["kind"]) == (1, "compare")
    assert doc["policies"] == ALL                       # every policy, mainline included
    limits = [rp["memory_limit"] for rp in doc["replays"]]
    assert [x["given"] for x in limits] == ["40%", "6M"]
    footprint = doc["replays"][0]["footprint"]["footprint_bytes"]
    assert limits[0]["bytes"] == int(footprint * 0.4) // 4096 * 4096
    assert limits[1]["bytes"] == 6 << 20
    for rp in doc["replays"]:
        assert rp["trace_name"] == zipf_trace.name.removesuffix(".parquet")
        assert [r["policy"] for r in rp["results"]] == ALL
        assert all(r["config"]["memory_limit_bytes"] == rp["memory_limit"]["bytes"]
                   for r in rp["results"])
        assert all("timeline" in r for r in rp["results"])
    # a plain line per replay on stderr (not a terminal), and what was written
    lines = re.findall(rf"replayed \S+ @ \S+: 30,000 accesses under {len(ALL)} policies",
                       compared.stderr)
    assert len(lines) == len(doc["replays"])
    assert "wrote report" in compared.stderr


def test_worker_processes_replay_what_the_library_replays(compared, zipf_trace):
    rp = compared.doc["replays"][1]
    lib = simulate(zipf_trace, ModelConfig(memory_limit_bytes=6 << 20, zswap_shrinker=True),
                   ALL)
    for a, b in zip(rp["results"], lib):
        assert (a["policy"], a["counters"], a["per_size"], a["derived"]) == \
            (b["policy"], b["counters"], b["per_size"], b["derived"])


def test_the_table_in_a_pipe_is_whole_and_says_what_the_results_say(compared):
    out = compared.stdout
    assert "…" not in out                               # nothing cut to 80 columns
    lines = out.splitlines()
    for rp in compared.doc["replays"]:
        start = f"{rp['trace_name']}: memory limit {format_size(rp['memory_limit']['bytes'])} "
        title = next(i for i, line in enumerate(lines) if line.startswith(start))
        header = next(line for line in lines[title:] if "order0-fallback" in line)
        assert cells(header) == ALL
        results = rp["results"]
        for label, get in (("pgmajfault", lambda r: r["counters"]["pgmajfault"]),
                           ("zswpin", lambda r: r["counters"]["zswpin"]),
                           ("workingset_refault_anon",
                            lambda r: r["counters"]["workingset_refault_anon"])):
            row = next(line for line in lines[title:] if line.startswith(label + " "))
            shown = cells(row)[1:]
            assert len(shown) == len(results)
            assert [first_number(c) for c in shown] == [get(r) for r in results]
            values = [get(r) for r in results if not killed(r)]
            for cell, r in zip(shown, results):
                best = get(r) == min(values) and len(set(values)) > 1
                assert ("*" in cell) == best, (label, cell)
            base = get(results[0])
            for cell, r in zip(shown[1:], results[1:]):
                if get(r) != base and base:
                    pct = re.search(r"([+-][\d,.]+)%", cell)
                    assert pct, cell
                    want = (get(r) - base) / base * 100
                    assert float(pct.group(1).replace(",", "")) == pytest.approx(
                        want, abs=0.06 if abs(want) < 10 else 0.6)
        spark = next(i for i, line in enumerate(lines[title:]) if "throughput over" in line)
        marks = lines[title + spark + 1].split()[1]
        assert set(marks) <= set("▁▂▃▄▅▆▇█") and len(marks) >= 12


def test_defaults_on_a_generated_zipf_trace_answer(tmp_path, capsys):
    """Acceptance: `replay gen zipf` and `replay compare` with every default: figures that
    differ between policies, none OOM-killed."""
    trace = tmp_path / "zipf.parquet"
    assert main(["gen", "zipf", "-o", str(trace)]) == 0
    assert capsys.readouterr().err.startswith(f"wrote {trace}: 1,000,000 accesses")
    out = tmp_path / "zipf.json"
    code, stdout, err = run_cli(capsys, "compare", str(trace), "--json", str(out))
    assert code == 0, err
    rp = json.loads(out.read_text())["replays"][0]
    assert rp["memory_limit"]["given"] == "50%"
    assert rp["memory_limit"]["bytes"] == rp["footprint"]["footprint_bytes"] // 2 // 4096 * 4096
    results = rp["results"]
    assert [r["policy"] for r in results] == ALL
    assert not any(killed(r) for r in results)
    figures = {json.dumps(r["counters"], sort_keys=True) for r in results}
    assert len(figures) >= 3                            # large swap-ins change the counters
    assert all(r["counters"]["pgmajfault"] > 0 for r in results)
    by = {r["policy"]: r for r in results}
    assert by["hybrid-supported"]["per_size"]["64kB"]["swpin"] > 0
    assert by["order0-fallback"]["per_size"]["64kB"]["swpin"] == 0
    assert "OOM killed" not in stdout and "was OOM-killed" not in stdout


# ---------------------------------------------------------------- on a terminal


def _run_on_a_pty(argv: list[str], columns: int, timeout: float = 300) -> tuple[int, str]:
    import fcntl
    import pty
    import struct
    import termios
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    proc = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, env=env,
                            close_fds=True)
    os.close(follower)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                data = os.read(leader, 65536)
            except OSError:                     # the follower side closed: EIO
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(leader)
    code = proc.wait(timeout=30)
    return code, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize("columns", [80, 200])
def test_the_table_on_a_terminal_fits_its_width(zipf_trace, columns):
    code, raw = _run_on_a_pty([sys.executable, "-m", "replay.cli", "compare",
                               str(zipf_trace), "--memory-limit", "6M", *THREE], columns)
    assert code == 0, raw
    assert "\x1b[" in raw                               # styled: best values in bold green
    text = ANSI.sub("", raw).replace("\r", "")
    final = text[text.rfind("zipf"):] if "zipf" in text else text
    table = final[final.find(": memory limit 6M"):]
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= columns, max(lines, key=len)
    assert "…" not in table                             # split, never cut
    for name in ("order0-fallback", "full-zswap", "hybrid-supported"):
        assert name in table
    assert "━" in text and "30,000/30,000 accesses" in text     # the progress bar was drawn
    assert "replayed " not in text                      # not the plain lines of a pipe
    if columns == 80:                                   # too narrow for one table: split
        assert sum(1 for line in lines if line.startswith("pgmajfault")) >= 2


# ---------------------------------------------------------------- Markdown and CSV


@pytest.fixture(scope="module")
def small_doc(tmp_path_factory, zipf_trace):
    """A one-limit comparison of three policies as a JSON document."""
    out = tmp_path_factory.mktemp("small") / "c.json"
    assert main(["compare", str(zipf_trace), "--memory-limit", "6M", *THREE,
                 "--json", str(out), "--quiet"]) == 0
    return json.loads(out.read_text())


def test_markdown_reads_back_as_the_results(capsys, zipf_trace, small_doc):
    code, out, err = run_cli(capsys, "compare", str(zipf_trace), "--memory-limit", "6M",
                             *THREE, "--format", "markdown")
    assert code == 0, err
    results = small_doc["replays"][0]["results"]
    tables, rows = [], None
    for line in out.splitlines():
        if line.startswith("|"):
            parts = [c.strip() for c in line.strip().strip("|").split("|")]
            if rows is None:
                rows = {"header": parts}
                tables.append(rows)
            elif not set(line) <= set("|-: "):
                rows[parts[0]] = parts[1:]
        else:
            rows = None
    comparison, per_size = tables[0], tables[1]
    assert comparison["header"][1:] == [r["policy"] for r in results]
    for name in ("pgmajfault", "zswpin", "zswpout", "pswpin"):
        got = [first_number(c.replace("**", "")) for c in comparison[name]]
        assert got == [r["counters"][name] for r in results]
        values = [r["counters"][name] for r in results]
        for cell, v in zip(comparison[name], values):
            assert cell.startswith("**") == (v == min(values) and len(set(values)) > 1)
    assert [first_number(c) for c in comparison["swpin 64kB"]] == \
        [r["per_size"]["64kB"]["swpin"] for r in results]
    assert per_size["header"][0] == "hugepages-64kB/stats"
    assert [int(c.replace(",", "")) for c in per_size["anon_fault_alloc"]] == \
        [r["per_size"]["64kB"]["anon_fault_alloc"] for r in results]
    assert out.startswith("### ")
    assert "```" in out                                 # the sparklines, in a code block


def test_csv_reads_back_as_the_results(capsys, zipf_trace, small_doc):
    code, out, err = run_cli(capsys, "compare", str(zipf_trace), "--memory-limit", "6M",
                             *THREE, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == CSV_FIELDS
    results = {r["policy"]: r for r in small_doc["replays"][0]["results"]}
    seen = 0
    for row in rows:
        assert row["trace"] == zipf_trace.stem
        assert int(row["memory_limit_bytes"]) == 6 << 20
        section, _, rest = row["key"].partition(".")
        if section in ("counters", "per_size", "derived"):
            node = results[row["policy"]][section]
            for part in rest.split("."):
                node = node[part]
            scale = 1 / (1 << 20) if row["unit"] == "MiB" else 1
            assert float(row["value"]) == pytest.approx(node * scale, rel=1e-5)
            seen += 1
    assert seen >= 3 * 20
    major = {r["policy"]: r for r in rows if r["key"] == "counters.pgmajfault"}
    base = results["order0-fallback"]["counters"]["pgmajfault"]
    hs = results["hybrid-supported"]["counters"]["pgmajfault"]
    assert float(major["hybrid-supported"]["change_pct"]) == pytest.approx(
        (hs - base) / base * 100, rel=1e-3)
    assert major["order0-fallback"]["change_pct"] == ""
    assert sum(int(r["best"]) for r in major.values()) >= 1


# ---------------------------------------------------------------- notes and exit status


def test_every_policy_killed_exits_1_with_the_note(tmp_path, capsys):
    """Incompressible pages fill a cgroup v2 memcg with its own zswap pool: without the
    shrinker every policy is OOM-killed (exit 1, a note); the default shrinker answers."""
    trace = tmp_path / "random.parquet"
    generate_to(trace, "zipf", accesses=60_000, pages=8_000, content="random", seed=3)
    code, out, err = run_cli(capsys, "compare", str(trace), "--no-zswap-shrinker", *THREE)
    assert code == 1
    assert "Every policy was OOM-killed" in out and "--zswap-shrinker" in out
    assert err.strip().splitlines()[-1].startswith("replay: every policy was OOM-killed in")
    code, out, err = run_cli(capsys, "compare", str(trace), *THREE)
    assert code == 0, err
    assert "OOM killed" not in out and "was OOM-killed" not in out


def test_a_limit_above_the_footprint_says_nothing_is_reclaimed(capsys, seq_trace):
    code, out, err = run_cli(capsys, "compare", str(seq_trace), "--memory-limit", "1T", *THREE)
    assert code == 0, err
    assert "Nothing is reclaimed" in out
    assert "they all give the same figures" in out
    assert "1024G (above the footprint)" in out


def test_policies_all_default_and_the_absence_of_mainline(capsys, seq_trace, tmp_path):
    out = tmp_path / "a.json"
    assert main(["compare", str(seq_trace), "--policy", "all", "--json", str(out),
                 "--quiet"]) == 0
    assert [r["policy"] for r in json.loads(out.read_text())["replays"][0]["results"]] == ALL
    code, shown, _ = run_cli(capsys, "compare", str(seq_trace), *THREE)
    assert code == 0 and "mainline (v6.18 as it is) is not in this comparison" in shown


def test_a_trace_without_contents_says_what_it_assumed(capsys, tmp_path):
    rng = np.random.default_rng(4)
    n = 20_000
    vpn = 0x7F0000000 + rng.integers(0, 3000, n)
    path = tmp_path / "bare.parquet"
    write_trace(path, TraceMeta(source_format="test"), np.arange(n, dtype=np.int64), vpn,
                (rng.random(n) < 0.4).astype(np.uint8))
    code, out, err = run_cli(capsys, "compare", str(path), *THREE)
    assert code == 0, err
    assert "bare has no page contents" in out and "'mixed'" in out


@pytest.mark.parametrize("argv, says", [
    (["--memory-limit", "0%"], "above 0%"),
    (["--memory-limit", "lots"], "--memory-limit"),
    (["--memory-limit", "100K"], "below 1 MiB"),
    (["--memory-limit", "8M", "--memory-limit", "8M"], "given twice"),
    (["--policy", "nosuch"], "nosuch"),
    (["--policy", "full-zswap", "--policy", "full-zswap"], "given twice"),
    (["--policy", "all", "--policy", "mainline"], "all includes it"),
    (["--format", "xml"], "--format"),
    (["--html", "report.txt"], "does not end in .html"),
    (["--html", "/nonexistent-folder/r.html"], "output folder does not exist"),
    (["--json", "/nonexistent-folder/r.json"], "output folder does not exist"),
    (["--tlb", "pentium"], "TLB preset"),
    (["--mthp", "48K"], "48K"),
    (["--no-such-option"], "No such option"),
])
def test_bad_settings_are_one_line_and_exit_2_before_any_replay(capsys, seq_trace, tmp_path,
                                                                  argv, says):
    code, out, err = run_cli(capsys, "compare", str(seq_trace), *argv)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("replay: error: "), err
    assert says in lines[0]
    assert out == ""
    # checked before the trace is even looked for: a missing one is not what is said
    code, _, err = run_cli(capsys, "compare", str(tmp_path / "missing.parquet"), *argv)
    assert code == 2 and says in err and "missing.parquet" not in err


def test_a_missing_trace_argument_is_one_line(capsys):
    code, _, err = run_cli(capsys, "compare")
    assert code == 2 and err.count("\n") == 1
    assert "Missing argument" in err and "replay compare --help" in err


def test_default_report_paths_never_overwrite(tmp_path):
    import datetime as dt
    day = dt.date(2025, 3, 4)
    first = default_report_path(["kvscan"], "html", tmp_path, day)
    assert first == tmp_path / "kvscan-2025-03-04.html"
    first.write_text("x")
    assert default_report_path(["kvscan"], "html", tmp_path, day) == \
        tmp_path / "kvscan-2025-03-04-2.html"
    assert default_report_path(["a", "b"], "json", tmp_path, day).name == "a+b-2025-03-04.json"


def test_html_without_a_path_lands_in_the_reports_folder(capsys, seq_trace, tmp_path,
                                                        monkeypatch):
    reports = tmp_path / "reports"
    monkeypatch.setenv("FOLIO_REPLAY_REPORTS", str(reports))
    code, _, err = run_cli(capsys, "compare", str(seq_trace), *THREE, "--html")
    assert code == 0, err
    written = list(reports.glob("*.html"))
    assert len(written) == 1 and written[0].name.startswith(seq_trace.stem + "-")
    assert f"wrote report {written[0]}" in err


@pytest.mark.parametrize("cpus, jobs, policies, given, want", [
    (2, 3, 6, {}, (1, 2)),           # the policies of one replay fill both CPUs: threads
    (16, 3, 6, {}, (3, 5)),          # CPUs to spare: a worker per replay, 15 in all
    (64, 3, 6, {}, (3, 6)),          # no more threads than policies
    (2, 3, 1, {}, (2, 1)),           # one policy: a replay per CPU
    (2, 3, 6, {"processes": 3}, (3, 1)),
    (8, 1, 6, {"threads": 3}, (1, 3)),
])
def test_replays_and_threads_share_the_cpus(monkeypatch, cpus, jobs, policies, given, want):
    from replay.study import parallel
    monkeypatch.setattr(parallel, "cpu_count", lambda: cpus)
    assert parallel.plan(jobs, policies, **given) == want
