"""`replay sweep` on local worker processes: the table's rows and columns, what a rerun
skips, failed runs as rows, interruption (Ctrl-C, SIGTERM, SIGKILL) and a rerun that
completes with every run exactly once, progress."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rich.console import Console

from replay.cli import main
from replay.engine import simulate
from replay.gen import generate_to
from replay.model.config import ModelConfig
from replay.study.executor import InProcess, LocalProcesses, trace_files
from replay.sweep.plan import plan_sweep
from replay.sweep.progress import RichProgress, SweepProgress
from replay.sweep.runner import run_sweep
from replay.sweep.spec import load_spec
from replay.sweep.table import ResultsTable, parts_folder, read_results

POLICIES = '["order0-fallback", "hybrid-supported"]'


@pytest.fixture(scope="module")
def longer_trace(tmp_path_factory) -> Path:
    """A trace whose replays take a few tenths of a second (time to interrupt a sweep)."""
    path = tmp_path_factory.mktemp("sweep") / "zipf300k.parquet"
    generate_to(path, "zipf", accesses=300_000, pages=20_000, seed=1)
    return path


def write_spec(folder: Path, text: str, name: str = "sweep.toml") -> Path:
    p = folder / name
    p.write_text(text)
    return p


def cli(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "replay.cli", *argv], capture_output=True,
                          text=True, timeout=600, check=False, **kw)


def copy_trace(src: Path, dst: Path) -> None:
    """A trace and its sidecars, under another name."""
    for f in trace_files(src):
        shutil.copy(f, dst.with_name(f.name.replace(src.name.removesuffix(".parquet"),
                                                    dst.name.removesuffix(".parquet"), 1)))


def keys_once(table) -> list[str]:
    keys = table.column("run_key").to_pylist()
    assert len(keys) == len(set(keys)), "a run is in the table twice"
    return keys


def test_sweep_writes_a_row_per_run_and_a_rerun_skips_them(tmp_path, zipf_trace):
    spec = write_spec(tmp_path, f'''
traces = ["{zipf_trace}"]
[settings]
tlb = "none"
[grid]
policy = {POLICIES}
memory-limit = ["6M", "40%"]
mthp = ["16K", "none"]
''')
    out = tmp_path / "r.parquet"
    p = cli("sweep", str(spec), "-o", str(out), "--workers", "2")
    assert p.returncode == 0, p.stderr
    t = pq.read_table(out)
    keys_once(t)
    assert t.num_rows == 2 * 2 * 2
    assert not parts_folder(out).exists()
    # the settings are columns, then every figure
    for col in ("run_key", "status", "error", "trace", "policy", "memory_limit",
                "memory_limit_bytes", "mthp", "backend", "compressor", "zswap_shrinker",
                "page_cluster", "trace_digest", "counters.pgmajfault", "counters.zswpin",
                "per_size.16kB.swpin", "derived.swapin_amplification", "time.swapin_ns",
                "run.worker", "run.engine_seconds"):
        assert col in t.column_names, col
    assert set(t.column("status").to_pylist()) == {"ok"}
    assert sorted(set(t.column("mthp").to_pylist())) == ["16K", "none"]
    assert t.schema.field("counters.pgmajfault").type == "int64"
    # a row's figures are the library's for the same run
    row = next(r for r in t.to_pylist() if r["memory_limit"] == "6M" and r["mthp"] == "16K"
               and r["policy"] == "hybrid-supported")
    (lib,) = simulate(zipf_trace, ModelConfig(memory_limit_bytes=6 << 20, mthp_sizes_kb=(16,),
                                              zswap_shrinker=True),
                      ["hybrid-supported"], tlb="none")
    assert row["counters.pgmajfault"] == lib["counters"]["pgmajfault"] > 0
    assert row["per_size.16kB.swpin"] == lib["per_size"]["16kB"]["swpin"]
    assert row["time.swapin_ns"] == pytest.approx(lib["time"]["swapin_ns"])
    # progress lines: one per task, per worker at the end
    lines = p.stderr.splitlines()
    assert lines[0].startswith("sweep: 8 runs, 0 already in the table, 8 to replay in 4 tasks")
    assert len([ln for ln in lines if re.match(r"\[\d+/8 runs, 0 failed, [\d.]+ runs/min", ln)
                ]) == 4
    assert any(ln.startswith("worker local:") for ln in lines)
    # the same spec again: nothing replayed, the table as it was
    before = pq.read_table(out)
    p = cli("sweep", str(spec), "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert "8 were already there, 0 replayed now" in p.stderr
    assert pq.read_table(out).equals(before)
    # one more value: only its runs are replayed
    spec.write_text(spec.read_text().replace('["16K", "none"]', '["16K", "none", "64K"]'))
    p = cli("sweep", str(spec), "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert "8 were already there, 4 replayed now" in p.stderr
    t = pq.read_table(out)
    assert len(keys_once(t)) == 12
    assert set(keys_once(before)) < set(t.column("run_key").to_pylist())


def test_a_failed_run_is_a_row_with_its_error_and_the_sweep_goes_on(tmp_path, zipf_trace,
                                                                    seq_trace, capsys):
    changing = tmp_path / "changing.parquet"
    copy_trace(seq_trace, changing)
    planned = changing.stat()
    spec = write_spec(tmp_path, f'''
traces = ["{changing}", "{zipf_trace}"]
[grid]
policy = {POLICIES}
memory-limit = ["6M", "8M"]
''')
    out = tmp_path / "r.parquet"
    plan = plan_sweep(load_spec(spec))
    generate_to(changing, "seq", accesses=1_000, pages=500, seed=2)   # after it was read
    with ResultsTable(out) as table:
        outcome = run_sweep(plan, table, InProcess())
    assert (outcome.total, outcome.replayed, outcome.failed) == (8, 8, 4)
    rows = pq.read_table(out).to_pylist()
    assert len(rows) == 8
    for r in rows:
        if r["trace"] == "changing":
            assert r["status"] == "failed"
            assert "changed since the sweep read it" in r["error"]
            assert "\n" not in r["error"]
            assert r["counters.pgmajfault"] is None
        else:
            assert (r["status"], r["error"]) == ("ok", None)
            assert r["counters.pgfault"] > 0
    # the command: failed rows are skipped (exit 1, saying so) until asked to retry
    copy_trace(seq_trace, changing)
    os.utime(changing, ns=(planned.st_atime_ns, planned.st_mtime_ns))
    assert main(["sweep", str(spec), "-o", str(out), "--quiet"]) == 1
    assert "4 runs of the spec failed" in capsys.readouterr().err
    assert main(["sweep", str(spec), "-o", str(out), "--quiet", "--retry-failed"]) == 0
    rows = pq.read_table(out).to_pylist()
    assert len(rows) == 8 and {r["status"] for r in rows} == {"ok"}
    assert len({r["run_key"] for r in rows}) == 8


def _wait_for_parts(out: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    parts = parts_folder(out)
    while time.monotonic() < deadline:
        if parts.is_dir() and any(p.name.endswith(".parquet") and not p.name.startswith(".")
                                  for p in parts.iterdir()):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("no run finished in time")


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_an_interrupted_sweep_rerun_completes_with_every_run_once(tmp_path, longer_trace,
                                                                  how):
    spec = write_spec(tmp_path, f'''
traces = ["{longer_trace}"]
[settings]
tlb = "none"
[grid]
policy = {POLICIES}
memory-limit = ["30%", "40%", "50%", "60%", "70%", "80%"]
''')
    out = tmp_path / "r.parquet"
    proc = subprocess.Popen([sys.executable, "-m", "replay.cli", "sweep", str(spec), "-o",
                             str(out), "--workers", "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _wait_for_parts(out, proc)
        if how == "SIGKILL":                   # the sweep and its workers, outright
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.send_signal(getattr(signal, how))
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    first = read_results(out)
    done = len(keys_once(first))
    assert 2 <= done < 12
    if how == "SIGKILL":
        assert proc.returncode == -signal.SIGKILL
        assert parts_folder(out).is_dir()      # its finished runs wait there
    else:
        assert proc.returncode == {"SIGINT": 130, "SIGTERM": 143}[how], err
        assert f"interrupted: {done} of the spec's 12 runs are in {out}" in err
        assert pq.read_table(out).num_rows == done
        assert not parts_folder(out).exists()
    p = cli("sweep", str(spec), "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert f"{done} were already there, {12 - done} replayed now" in p.stderr
    t = pq.read_table(out)
    assert len(keys_once(t)) == 12
    assert set(first.column("run_key").to_pylist()) <= set(t.column("run_key").to_pylist())
    assert not parts_folder(out).exists()


def test_one_sweep_at_a_time_writes_a_table(tmp_path):
    out = tmp_path / "r.parquet"
    with ResultsTable(out):
        with pytest.raises(Exception, match=f"another sweep \\(pid {os.getpid()}\\) is "
                                            "writing this table"):
            ResultsTable(out)
    with ResultsTable(out):                    # released with the first
        pass
    assert not parts_folder(out).exists()


def test_rich_progress_shows_the_sweep_and_each_worker():
    buf = io.StringIO()
    progress = RichProgress(Console(file=buf, force_terminal=True, width=140))
    progress.begin(10, 4, ["kvscan memory-limit=16M", "kvscan memory-limit=24M"],
                   [1000, 1000], [3, 3], "2 local worker processes")
    progress.started(0, "local:11")
    progress.started(1, "local:12")
    progress.advanced(1, 500)
    progress.finished(0, "local:11", 2.0, [("kvscan memory-limit=16M policy=x", "boom")])
    text = Console(file=io.StringIO(), width=140)
    text.print(progress._render())
    shown = text.file.getvalue()
    progress.close()
    assert "7/10 runs, 1 failed" in shown
    assert re.search(r"local:11\s+3\s+1\s+idle", shown), shown
    assert re.search(r"local:12\s+0\s+0\s+kvscan memory-limit=24M\s+50%", shown), shown
    assert "failed: kvscan memory-limit=16M policy=x: boom" in buf.getvalue()


class KillFirstLocalWorker(SweepProgress):
    """Kills (SIGKILL) the local worker process that starts the first task."""

    killed: tuple[int, str] | None = None

    def started(self, k, worker):
        super().started(k, worker)
        if self.killed is None:
            os.kill(int(worker.removeprefix("local:")), signal.SIGKILL)
            self.killed = (k, worker)


def test_a_local_worker_killed_mid_sweep_its_runs_run_again(tmp_path, longer_trace):
    spec = write_spec(tmp_path, f'''
traces = ["{longer_trace}"]
[grid]
policy = {POLICIES}
memory-limit = ["30%", "50%", "70%"]
''')
    plan = plan_sweep(load_spec(spec))
    out = tmp_path / "r.parquet"
    progress = KillFirstLocalWorker()
    with ResultsTable(out) as table, LocalProcesses(2) as ex:
        outcome = run_sweep(plan, table, ex, progress)
    assert progress.killed is not None
    task, dead = progress.killed
    t = pq.read_table(out)
    assert sorted(keys_once(t)) == sorted(r.key for r in plan.runs)
    assert (outcome.replayed, outcome.failed) == (6, 0)
    again = {r.key for r in plan.tasks()[task].runs}
    assert all(row["run.worker"] != dead for row in t.to_pylist() if row["run_key"] in again)
