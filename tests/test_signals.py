"""SIGTERM and SIGINT (issue 13, case 6): one line, exit 143 or 130, nothing left
behind, from the first moment of a command; a rerun removes the temporaries of
a process that was killed outright (SIGKILL leaves them).

Each test runs the console script in its own process and signals it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from replay.gen import generate_to

EXE = Path(sys.executable).with_name("replay")
REPLAY = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "replay.cli"]


def heavy_damo(path: Path, snapshots: int = 3000) -> Path:
    """A small DAMON record that imports for tens of seconds: every snapshot reads all
    65,536 pages of a 256 MiB region."""
    snaps = [{"start_time": i * 100_000_000, "end_time": (i + 1) * 100_000_000,
              "regions": [{"start": 0x7F0000000000, "end": 0x7F0000000000 + (256 << 20),
                           "nr_accesses": {"samples": 20}}]} for i in range(snapshots)]
    path.write_text(json.dumps([{"target_id": 1, "snapshots": snaps}]))
    return path


def start_import(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """An import under way: its temporary trace exists and holds more than 1 MB."""
    src = heavy_damo(tmp_path / "heavy.json")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    p = subprocess.Popen([*REPLAY, "import", "damo", str(src), "-o", str(out_dir / "t.parquet")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        temps = [f for f in out_dir.iterdir() if f.name.startswith(".t.parquet.tmp-")]
        try:
            if temps and temps[0].stat().st_size > (1 << 20):
                return p, out_dir
        except FileNotFoundError:
            pass
        if p.poll() is not None:
            break
        time.sleep(0.05)
    p.kill()
    _, err = p.communicate()
    pytest.fail(f"the import did not get under way (rc {p.returncode}): {err}")


@pytest.mark.parametrize("sig,code,line", [(signal.SIGTERM, 143, "replay: terminated\n"),
                                           (signal.SIGINT, 130, "replay: interrupted\n")])
def test_a_signal_during_an_import_leaves_nothing(tmp_path, sig, code, line):
    """SIGTERM used to kill the process outright, leaving 60-123 MB hidden temporaries."""
    p, out_dir = start_import(tmp_path)
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    assert (p.returncode, err, out) == (code, line, "")
    assert os.listdir(out_dir) == []


def test_a_rerun_removes_what_a_killed_import_left(tmp_path):
    p, out_dir = start_import(tmp_path)
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)
    left = [f.name for f in out_dir.iterdir()]
    assert len(left) == 1 and left[0].startswith(f".t.parquet.tmp-{p.pid}-")
    src = tmp_path / "small.lackey"
    src.write_bytes(b" L 7f0000001000,8\n S 7f0000002000,8\n")
    r = subprocess.run([*REPLAY, "import", "lackey", str(src), "-o", str(out_dir / "t.parquet")],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    assert os.listdir(out_dir) == ["t.parquet"]


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("sig") / "t.parquet"
    generate_to(p, "seq", accesses=1000, pages=100)
    return p


@pytest.fixture(scope="module")
def start_up_s(small_trace) -> float:
    """How long `replay info` takes here, start to end (the fastest of three)."""
    best = float("inf")
    for _ in range(3):
        t = time.monotonic()
        subprocess.run([*REPLAY, "info", str(small_trace)], capture_output=True, check=True,
                       timeout=120)
        best = min(best, time.monotonic() - t)
    return best


@pytest.mark.parametrize("fraction", [0.3, 0.45, 0.6, 0.75])
def test_sigint_while_the_modules_load_is_one_line(small_trace, start_up_s, fraction):
    """Ctrl-C in the first moments (numpy, pyarrow and the extensions loading) used to
    print a traceback, once a SystemError. Each delay is a fraction of how long `replay
    info` takes here, so that the signals land in different imports."""
    delay = max(0.08, fraction * start_up_s)
    p = subprocess.Popen([*REPLAY, "info", str(small_trace)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    if p.returncode == 0:
        pytest.skip(f"`replay info` finished within {delay:.2f} s: nothing to interrupt")
    assert (p.returncode, err) == (130, "replay: interrupted\n")
    assert out == ""


@pytest.mark.parametrize("fraction", [0.4, 0.7])
def test_sigterm_while_the_modules_load_is_one_line(small_trace, start_up_s, fraction):
    delay = max(0.12, fraction * start_up_s)
    p = subprocess.Popen([*REPLAY, "info", str(small_trace)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=120)
    if p.returncode == 0:
        pytest.skip(f"`replay info` finished within {delay:.2f} s: nothing to interrupt")
    assert (p.returncode, err, out) == (143, "replay: terminated\n", "")


def test_a_process_whose_cleanup_waits_on_a_thread_still_ends_after_a_signal(tmp_path):
    """Once a SIGINT did not end `replay` within 60 s: its cleanup waited for a worker
    thread (a compile). After a signal the console script ends within its grace time
    whatever it waits for, removing its temporary files first."""
    script = tmp_path / "busy.py"
    out = tmp_path / "out.json"
    script.write_text(f"""
import sys, threading, time
import click
import replay.cli as cli
from replay.atomic import temp_beside
from pathlib import Path

cli.EXIT_GRACE_S = 1.0

@click.command("busy")
def busy():
    worker = threading.Thread(target=time.sleep, args=(60,))
    worker.start()
    try:
        tmp = temp_beside(Path({str(out)!r}))
        print("ready", flush=True)
        time.sleep(60)
    finally:
        worker.join()          # what a thread pool's shutdown does: waits for the worker

cli.cli.add_command(busy)
sys.argv = ["replay", "busy"]
cli.entry()
""")
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert time.monotonic() - t0 < 15
    assert (p.returncode, err) == (143, "replay: terminated\n")
    assert [f.name for f in tmp_path.iterdir()] == ["busy.py"]


def test_an_interrupt_while_caching_sample_pages_leaves_no_temporary(tmp_path, monkeypatch):
    """The sample-page cache ($XDG_CACHE_HOME/folio-replay) is written through a
    temporary file: an interrupt (KeyboardInterrupt, or SIGTERM's exception) as it is
    renamed used to leave the temporary behind."""
    from replay.costs import content
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        content.class_stream.__wrapped__("text")
    assert list((tmp_path / "folio-replay").iterdir()) == []
