"""Settings and error lines, round two (issue 13): sizes and windows that overflow,
out of memory, and file names that would break the one error line."""

from __future__ import annotations

import contextlib
import io
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

import replay.commands.info as info_command
import replay.commands.run as run_command
from replay.cli import main
from replay.gen import generate_to


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trace(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("settings") / "t.parquet"
    generate_to(p, "seq", accesses=2000, pages=300, seed=1)
    return p


@pytest.fixture
def no_replay(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the replay started with settings that should be refused")
    monkeypatch.setattr(run_command, "simulate", refuse)


@pytest.mark.parametrize("argv,says", [
    (["--memory-limit", "99999999999999999T"], "memory limit"),
    (["--ram", "99999999999999999T"], "--ram"),
    (["--swap-size", "99999999999999999T"], "swap"),
    (["--swap-size", "2T"], "swap"),
    (["--zswap-max-pool", "99999999999999999T"], "zswap"),
    (["--zswap-max", "99999999999999999T"], "memory.zswap.max"),
    (["--timeline-window", "inf"], "--timeline-window"),
    (["--timeline-window", "infs"], "--timeline-window"),
    (["--timeline-window", "nanms"], "--timeline-window"),
    (["--timeline-window", "1e300s"], "--timeline-window"),
    (["--timeline-window", "0.0001ns"], "--timeline-window"),
    (["--timeline-window", "99999999999999999999999"], "--timeline-window"),
])
def test_settings_that_overflow_are_one_line(trace, no_replay, argv, says):
    """These ended in OverflowError tracebacks (or overflowed the model's 64-bit
    parameters) instead of one line."""
    rc, _, err = run_cli(["run", str(trace), "--quiet", *argv])
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith("replay: error: "), err
    assert says in err, err


def test_large_but_sane_sizes_are_accepted(trace):
    rc, _, err = run_cli(["run", str(trace), "--quiet", "--policy", "order0-fallback",
                          "--memory-limit", "64T", "--ram", "256T", "--swap-size", "1G",
                          "--timeline-window", "1.5ms"])
    assert rc == 0, err


def test_out_of_memory_is_one_line(trace, monkeypatch):
    def no_memory(*a, **k):
        raise MemoryError
    monkeypatch.setattr(info_command, "trace_summary", no_memory)
    rc, out, err = run_cli(["info", str(trace)])
    assert rc == 2
    assert out == "" and err == "replay: error: out of memory\n"


def test_out_of_memory_in_a_real_process_is_one_line(tmp_path):
    """A generator asked for more than the address-space limit allows."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    p = subprocess.run([sys.executable, "-m", "replay.cli", "gen", "random", "--accesses",
                        "1000000000", "-o", str(tmp_path / "t.parquet")],
                       capture_output=True, text=True, timeout=300, check=False,
                       preexec_fn=limit)
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and "out of memory" in p.stderr, p.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["two\nlines.parquet", "cr\rhere.parquet",
                                  "esc\x1b[31mred.parquet", "ls\u2028sep.parquet"])
def test_a_file_name_with_control_characters_stays_on_one_line(tmp_path, name):
    missing = tmp_path / name
    for argv in (["info", str(missing)], ["import", "csv", str(missing), "-o",
                                          str(tmp_path / "t.parquet")]):
        rc, _, err = run_cli(argv)
        assert rc == 2
        assert len(err.splitlines()) == 1 and err.endswith("\n"), repr(err)
        assert "\x1b" not in err
        assert "no such file" in err


def test_an_escaped_name_is_still_recognisable(tmp_path):
    rc, _, err = run_cli(["info", str(tmp_path / "a\nb.parquet")])
    assert rc == 2 and "a\\nb.parquet: no such file" in err, err


@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_a_cost_model_that_is_not_a_small_regular_file_is_one_line(trace, no_replay, tmp_path,
                                                                  kind):
    """A FIFO blocked the replay for ever; /dev/zero was read until memory ran out."""
    if kind == "fifo":
        model = tmp_path / "costs.json"
        os.mkfifo(model)
    elif kind == "device":
        model = Path("/dev/zero")
    else:
        model = tmp_path / "costs.json"
        with open(model, "wb") as f:
            f.truncate(1 << 30)                      # sparse: 1 GiB of zeros
    rc, _, err = run_cli(["run", str(trace), "--quiet", "--cost-model", str(model)])
    assert rc == 2, err
    assert err.count("\n") == 1 and "cost model" in err and str(model) in err, err
