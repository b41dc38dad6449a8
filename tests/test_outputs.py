"""Outputs, round two (issue 13): every output is checked before the work starts,
never replaces an input or a device, keeps the mode of the file it replaces, and
a full disk or a read-only folder is one error line.

The checks run through the real CLI (in-process, with `replay.cli.main`), or in
a child process where the process itself must be limited (RLIMIT_FSIZE: a write
past the limit fails with EFBIG, as a full disk fails with ENOSPC).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import replay.commands.run as run_command
from replay.cli import main
from replay.gen import generate_to


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def one_error_line(rc: int, err: str, *words: str) -> None:
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("replay: error: "), err
    for w in words:
        assert w in err, err


@pytest.fixture
def no_replay(monkeypatch):
    """`replay run` must refuse before it replays: a replay here fails the test."""
    def refuse(*a, **k):
        raise AssertionError("the replay started before the output was checked")
    monkeypatch.setattr(run_command, "simulate", refuse)


@pytest.fixture
def trace(tmp_path) -> Path:
    """A small generated trace with both sidecars, in its own folder."""
    folder = tmp_path / "trace"
    folder.mkdir()
    path = folder / "t.parquet"
    generate_to(path, "seq", accesses=2000, pages=300, seed=1)
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# ---------------------------------------------------------------- case 2: inputs


@pytest.mark.parametrize("which", ["trace", "contents", "regions"])
def test_run_json_onto_the_trace_or_a_sidecar_is_refused(trace, no_replay, which):
    before = snapshot(trace.parent)
    target = {"trace": trace, "contents": trace.with_name("t.contents.parquet"),
              "regions": trace.with_name("t.regions.parquet")}[which]
    assert target.exists()
    rc, _, err = run_cli(["run", str(trace), "--quiet", "--json", str(target)])
    one_error_line(rc, err, str(target), "is an input of this command")
    assert snapshot(trace.parent) == before


def test_run_json_onto_the_trace_through_a_symlink_or_hard_link_is_refused(trace, no_replay,
                                                                          tmp_path):
    before = snapshot(trace.parent)
    link = tmp_path / "link.json"
    link.symlink_to(trace)
    hard = tmp_path / "hard.json"
    os.link(trace, hard)
    for out in (link, hard):
        rc, _, err = run_cli(["run", str(trace), "--quiet", "--json", str(out)])
        one_error_line(rc, err, "is an input of this command")
    assert snapshot(trace.parent) == before
    assert link.is_symlink()


def test_run_json_onto_the_cost_model_is_refused(trace, no_replay, tmp_path):
    model = tmp_path / "costs.json"
    shutil.copy(Path(__file__).resolve().parents[1] / "replay" / "data" / "cost_model.json",
                model)
    before = model.read_bytes()
    rc, _, err = run_cli(["run", str(trace), "--quiet", "--cost-model", str(model),
                          "--json", str(model)])
    one_error_line(rc, err, "is an input of this command")
    assert model.read_bytes() == before


def test_import_onto_its_source_or_a_sidecar_name_of_the_output_is_refused(tmp_path):
    """`-o t.parquet` would remove a stale `t.contents.parquet`: the source, here."""
    src = tmp_path / "t.contents.parquet"
    src.write_bytes(b"time_ns,vpn,op\n1,5,r\n2,6,w\n")
    before = src.read_bytes()
    for out in (src, tmp_path / "t.parquet"):
        rc, _, err = run_cli(["import", "csv", str(src), "-o", str(out)])
        one_error_line(rc, err, "is an input of this command")
        assert src.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["t.contents.parquet"]


# ---------------------------------------------------------------- case 2: not regular files


def _nodes(tmp_path: Path) -> dict[str, Path]:
    nodes = {}
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    nodes["FIFO"] = fifo
    link = tmp_path / "null-link.json"
    link.symlink_to("/dev/null")
    nodes["character device (through a symlink)"] = link
    dev = tmp_path / "null.json"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        nodes["character device,"] = dev
    except PermissionError:
        pass                           # not root: the symlink to /dev/null covers devices
    return nodes


def test_run_json_onto_a_device_fifo_or_symlink_to_one_is_refused(trace, no_replay, tmp_path):
    """The temporary file used to be renamed over the node: as root, `--json
    /dev/null` would have replaced /dev/null with a regular file."""
    for kind, node in _nodes(tmp_path).items():
        rc, _, err = run_cli(["run", str(trace), "--quiet", "--json", str(node)])
        one_error_line(rc, err, str(node), kind, "not a regular file")
        assert not node.resolve().is_file(), kind
    assert os.stat("/dev/null").st_rdev == os.makedev(1, 3)


def test_gen_and_import_onto_a_device_or_fifo_are_refused(tmp_path):
    src = tmp_path / "t.csv"
    src.write_bytes(b"time_ns,vpn,op\n1,5,r\n")
    for kind, node in _nodes(tmp_path).items():
        rc, _, err = run_cli(["gen", "seq", "--accesses", "10", "-o", str(node)])
        one_error_line(rc, err, kind, "not a regular file")
        rc, _, err = run_cli(["import", "csv", str(src), "-o", str(node)])
        one_error_line(rc, err, kind, "not a regular file")
        assert not node.resolve().is_file(), kind


# ---------------------------------------------------------------- case 5: before the work


def test_run_json_into_a_missing_folder_is_refused_before_the_replay(trace, no_replay,
                                                                     tmp_path):
    """It used to fail after the replay (78 s on a 50 M-access trace), losing the results."""
    out = tmp_path / "missing" / "r.json"
    rc, _, err = run_cli(["run", str(trace), "--quiet", "--json", str(out)])
    one_error_line(rc, err, str(out.parent), "output folder does not exist")


def test_run_json_onto_a_folder_is_refused_before_the_replay(trace, no_replay, tmp_path):
    rc, _, err = run_cli(["run", str(trace), "--quiet", "--json", str(tmp_path)])
    one_error_line(rc, err, "is a directory")


def test_import_checks_its_output_before_reading_the_source(tmp_path, monkeypatch):
    """perf-script reads its whole source once before it opens the trace: the output
    folder is checked first."""
    import replay.importers.perf_script as perf

    def refuse(*a, **k):
        raise AssertionError("the source was read before the output was checked")
    monkeypatch.setattr(perf, "import_trace", refuse)
    src = tmp_path / "perf.txt"
    src.write_text("p 1 [0] 1.5: 1 mem-loads: 7f00\n")
    rc, _, err = run_cli(["import", "perf-script", str(src), "-o",
                          str(tmp_path / "no" / "t.parquet")])
    one_error_line(rc, err, "output folder does not exist")


# ---------------------------------------------------------------- case 3: read-only, full disk


@contextlib.contextmanager
def read_only(folder: Path):
    """The folder takes no new files: 0555, and immutable (chattr +i) for root, whom
    permissions do not stop. Skips where neither holds."""
    folder.chmod(0o555)
    immutable = False
    try:
        probe = folder / ".probe"
        try:
            probe.touch()
            probe.unlink()
            writable = True
        except OSError:
            writable = False
        if writable and shutil.which("chattr"):
            immutable = subprocess.run(["chattr", "+i", str(folder)], capture_output=True,
                                       check=False).returncode == 0
            writable = not immutable
        if writable:
            pytest.skip("cannot make a folder read-only here (root without chattr +i)")
        yield folder
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=False)
        folder.chmod(0o755)


def test_outputs_into_a_read_only_folder_are_one_line_before_the_work(trace, no_replay,
                                                                      tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    src = tmp_path / "t.csv"
    src.write_bytes(b"time_ns,vpn,op\n1,5,r\n")
    with read_only(ro):
        rc, _, err = run_cli(["run", str(trace), "--quiet", "--json", str(ro / "r.json")])
        one_error_line(rc, err, str(ro), "takes no new files")
        rc, _, err = run_cli(["gen", "seq", "--accesses", "10", "-o", str(ro / "t.parquet")])
        one_error_line(rc, err, str(ro), "takes no new files")
        rc, _, err = run_cli(["import", "csv", str(src), "-o", str(ro / "t.parquet")])
        one_error_line(rc, err, str(ro), "takes no new files")
        assert os.listdir(ro) == []


def _limited(max_bytes: int):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return limit


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, trace):
    """A write that fails part way (RLIMIT_FSIZE here, ENOSPC on a full disk): one
    line, exit 2, no temporary file, the old output untouched."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    old = out_dir / "t.parquet"
    old.write_bytes(b"old")
    cmd = [sys.executable, "-m", "replay.cli", "gen", "random", "--accesses", "200000",
           "-o", str(old)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False,
                       preexec_fn=_limited(64 << 10))
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1, p.stderr
    assert "cannot write the trace (File too large)" in p.stderr
    assert sorted(os.listdir(out_dir)) == ["t.parquet"] and old.read_bytes() == b"old"
    # --json: the replay's document is larger than the limit
    json_out = out_dir / "r.json"
    cmd = [sys.executable, "-m", "replay.cli", "run", str(trace), "--quiet", "--policy",
           "order0-fallback", "--memory-limit", "1M", "--json", str(json_out)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False,
                       preexec_fn=_limited(8 << 10))
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1, p.stderr
    assert "cannot write the output (File too large)" in p.stderr
    assert sorted(os.listdir(out_dir)) == ["t.parquet"]


# ---------------------------------------------------------------- case 9: the mode


def test_replacing_an_output_keeps_its_mode(tmp_path, trace):
    out = tmp_path / "r.json"
    out.write_text("{}")
    out.chmod(0o600)
    rc, _, err = run_cli(["run", str(trace), "--quiet", "--policy", "order0-fallback",
                          "--memory-limit", "1M", "--json", str(out)])
    assert rc == 0, err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert json.loads(out.read_text())["results"]
    t = tmp_path / "g.parquet"
    t.write_bytes(b"x")
    t.chmod(0o640)
    rc, _, err = run_cli(["gen", "seq", "--accesses", "10", "-o", str(t)])
    assert rc == 0, err
    assert stat.S_IMODE(t.stat().st_mode) == 0o640


def test_an_output_through_a_symlink_replaces_the_target_and_keeps_the_link(tmp_path, trace):
    target = tmp_path / "results-1.json"
    target.write_text("{}")
    link = tmp_path / "latest.json"
    link.symlink_to(target.name)
    rc, _, err = run_cli(["run", str(trace), "--quiet", "--policy", "order0-fallback",
                          "--memory-limit", "1M", "--json", str(link)])
    assert rc == 0, err
    assert link.is_symlink() and json.loads(target.read_text())["results"]


# ---------------------------------------------------------------- case 6: stale temporaries


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_rerun_removes_temporaries_dead_processes_left(tmp_path, trace):
    dead = _dead_pid()
    out = tmp_path / "r.json"
    stale = [tmp_path / f".r.json.tmp-{dead}-abc123", tmp_path / f".g.parquet.tmp-{dead}-x1",
             tmp_path / f".g.contents.parquet.tmp-{dead}-y_2"]
    alive = tmp_path / f".r.json.tmp-{os.getppid()}-live1"      # a live process's
    other = tmp_path / f".other.json.tmp-{dead}-abc"            # another output's
    for p in (*stale, alive, other):
        p.write_bytes(b"partial")
    rc, _, err = run_cli(["run", str(trace), "--quiet", "--policy", "order0-fallback",
                          "--memory-limit", "1M", "--json", str(out)])
    assert rc == 0, err
    rc, _, err = run_cli(["gen", "seq", "--accesses", "10", "-o", str(tmp_path / "g.parquet")])
    assert rc == 0, err
    names = set(os.listdir(tmp_path))
    assert not names & {p.name for p in stale}
    assert {alive.name, other.name, "r.json", "g.parquet"} <= names
