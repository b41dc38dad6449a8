"""`replay validate` on the live kernel (zram only): real counters, and the machine restored.

Marked ``kernel``: needs root, zram0 unused, memcg v1, no swap on, MGLRU
off; skipped with the reason otherwise. Never touches zswap.
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

from replay.cli import main
from replay.gen import generate_to
from replay.live.paths import KernelPaths
from replay.live.probe import check_comparable, probe_kernel
from replay.live.runner import CommandRunner, LiveError
from replay.live.session import active_swaps, read_journal, read_setting

pytestmark = pytest.mark.kernel
PATHS = KernelPaths()


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if not PATHS.zram(0).is_dir():
        return "no /sys/block/zram0"
    try:
        info = probe_kernel(PATHS, CommandRunner())
        check_comparable(info, backend="zram", allow_zswap=False)
    except LiveError as e:
        return e.one_line()
    if read_setting(PATHS.zram(0) / "disksize") != "0":
        return "zram0 is in use"
    if read_journal(PATHS) is not None:
        return "a validation journal is left in /run/folio-replay (replay validate --recover)"
    return None


@pytest.fixture(scope="module", autouse=True)
def live_kernel():
    reason = _skip_reason()
    if reason:
        pytest.skip(f"live kernel validation unavailable: {reason}")


def machine_state() -> dict:
    """Everything validate changes, as the kernel reports it."""
    memcg = PATHS.memcg_v1
    return {
        "swaps": active_swaps(PATHS),
        "zram_disksize": read_setting(PATHS.zram(0) / "disksize"),
        "zram_algorithm": read_setting(PATHS.zram(0) / "comp_algorithm"),
        "mthp": {s: read_setting(PATHS.mthp(s) / "enabled") for s in PATHS.mthp_sizes_kb()},
        "page_cluster": read_setting(PATHS.page_cluster),
        "zswap_enabled": read_setting(PATHS.zswap_params / "enabled"),
        "memcgs": sorted(p.name for p in memcg.iterdir() if p.is_dir()),
        "loops": subprocess.run(["losetup", "-a"], capture_output=True, text=True,
                                check=False).stdout,
        "journal": read_journal(PATHS),
    }


def assert_restored(before: dict) -> None:
    after = machine_state()
    assert after == before
    assert after["swaps"] == [] and after["zram_disksize"] == "0"
    assert not [g for g in after["memcgs"] if g.startswith("folio-replay-")]
    assert after["journal"] is None


def test_a_short_validation_measures_swap_and_restores_the_machine(tmp_path, capsys):
    before = machine_state()
    trace = tmp_path / "seq.parquet"
    generate_to(trace, "seq", pages=8192, accesses=30000, seed=1)      # 32 MiB, twice over
    out = tmp_path / "report.json"
    code = main(["validate", str(trace), "--runs", "2", "--limit", "16M", "--mthp", "64K",
                 "--page-cluster", "0", "--no-model", "--json", str(out), "-q"])
    _skip_if_another_validation_ran(code, capsys.readouterr().err)
    assert code == 0
    assert_restored(before)
    report = json.loads(out.read_text())
    assert report["max_relative_error"] is None          # no model asked
    assert report["kernel"]["memcg"] == "v1"
    assert len(report["runs"]) == 2
    for run in report["runs"]:
        c = run["counters"]
        assert c["pswpout"] > 0 and c["pgmajfault"] > 0
        assert run["per_size"]["64kB"]["swpout"] > 0
        # getrusage of the replayer and its memcg agree on major faults, but for the odd
        # retried fault (mm_account_fault counts FAULT_FLAG_TRIED as major, PGMAJFAULT not)
        assert abs(run["derived"]["rusage_majflt"] - c["pgmajfault"]) <= \
            max(2, c["pgmajfault"] // 100)
        assert run["run"]["replayer"]["records"] == 30000
        assert run["derived"]["memcg"]["oom_kill"] == 0
    cfg = report["model_config"]
    assert cfg["backend"] == "zram" and cfg["rotational"] is False
    assert cfg["page_cluster"] == 0 and cfg["memory_limit_bytes"] == 16 << 20


def test_sigterm_in_the_middle_of_a_run_restores_the_machine(tmp_path):
    before = machine_state()
    trace = tmp_path / "big.parquet"
    generate_to(trace, "seq", pages=40960, accesses=400000, seed=2)
    proc = subprocess.Popen([sys.executable, "-m", "replay.cli", "validate", str(trace),
                             "--runs", "5", "--no-model", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        joined = _wait_for_replayer_in_memcg(proc, timeout_s=120)
        if not joined and proc.poll() is not None:
            _skip_if_another_validation_ran(proc.returncode, proc.communicate()[1])
        assert joined, "the replayer never joined its memcg"
        time.sleep(0.3)                                  # mid-replay
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _skip_if_another_validation_ran(proc.returncode, err)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM; every setting was restored" in err
    assert "Traceback" not in err
    assert_restored(before)


def _skip_if_another_validation_ran(code: int, err: str) -> None:
    if code == 2 and ("another replay" in err):
        pytest.skip("another replay validate or record was using the kernel at the same time")


def _wait_for_replayer_in_memcg(proc: subprocess.Popen, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        for group in PATHS.memcg_v1.glob("folio-replay-*"):
            try:
                if (group / "cgroup.procs").read_text().split():
                    return True
            except OSError:
                continue
        time.sleep(0.05)
    return False


def test_recover_with_nothing_left_says_so(capsys):
    assert main(["validate", "--recover"]) == 0
    assert "nothing to restore" in capsys.readouterr().out
    assert not Path("/run/folio-replay/validate.json").exists()
