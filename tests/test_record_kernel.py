"""`replay record --method pageout` on the live kernel: the pages a program touches, and the
machine restored, also after Ctrl-C.

Marked ``kernel``: needs root, zram0 unused, no swap on, tracefs with the
exceptions:page_fault_user event, and no validation journal; skipped with the
reason otherwise. Never touches zswap.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from replay.cli import main
from replay.live.paths import KernelPaths
from replay.live.session import active_swaps, read_journal, read_setting
from replay.trace import open_trace

pytestmark = pytest.mark.kernel
PATHS = KernelPaths()
INSTANCES = PATHS.tracefs / "instances"


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    if not PATHS.zram(0).is_dir():
        return "no /sys/block/zram0"
    if read_setting(PATHS.zram(0) / "disksize") != "0":
        return "zram0 is in use"
    if active_swaps(PATHS):
        return "swap is on"
    if not (PATHS.tracefs / "events/exceptions/page_fault_user/format").exists():
        return "no tracefs event exceptions:page_fault_user"
    if read_journal(PATHS) is not None:
        return "a validation journal is in /run/folio-replay (another replay validate or " \
               "record, or one to --recover)"
    return None


@pytest.fixture(scope="module", autouse=True)
def live_kernel():
    reason = _skip_reason()
    if reason:
        pytest.skip(f"live kernel recording unavailable: {reason}")


def machine_state() -> dict:
    return {
        "swaps": PATHS.proc_swaps.read_text(),
        "zram_disksize": read_setting(PATHS.zram(0) / "disksize"),
        "zram_algorithm": read_setting(PATHS.zram(0) / "comp_algorithm"),
        "instances": sorted(p.name for p in INSTANCES.iterdir()),
        "zswap_enabled": read_setting(PATHS.zswap_params / "enabled"),
        "journal": read_journal(PATHS),
    }


def _skip_if_busy(code: int, err: str) -> None:
    if code == 2 and "another replay" in err:
        pytest.skip("another replay validate or record was using the kernel at the same time")


# A buffer of N private anonymous pages: written in three rounds, every other page read
# between them, with pauses longer than the pageout interval; page i's first byte is
# 1 + i % 250 from the first round on. Its address goes to the file argv[1].
TOUCH = r"""
import ctypes, mmap, sys, time
n = 256
m = mmap.mmap(-1, n * 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
for r in range(3):
    for i in range(n):
        m[i * 4096 + r] = 1 + i % 250
    time.sleep(0.3)
    s = 0
    for i in range(0, n, 2):
        s += m[i * 4096 + 100]
    time.sleep(0.3)
open(sys.argv[1], "w").write(hex(addr))
"""

LOOP = r"""
import ctypes, mmap, sys, time
n = 2048
m = mmap.mmap(-1, n * 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
open(sys.argv[1], "w").write(hex(ctypes.addressof(ctypes.c_char.from_buffer(m))))
try:
    while True:
        for i in range(n):
            m[i * 4096] = 7
        time.sleep(0.02)
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_a_recorded_program_touches_its_buffer_and_the_machine_is_restored(tmp_path, capsys):
    before = machine_state()
    out = tmp_path / "touch.parquet"
    addr_file = tmp_path / "addr"
    code = main(["record", "-o", str(out), "--interval", "50", "--no-progress", "--",
                 sys.executable, "-c", TOUCH, str(addr_file)])
    err = capsys.readouterr().err
    _skip_if_busy(code, err)
    assert code == 0, err
    assert "the program exited with code 0" in err
    assert machine_state() == before
    assert main(["info", str(out)]) == 0
    capsys.readouterr()
    t = open_trace(out).check()
    first = int(addr_file.read_text(), 16) >> 12
    n = 256
    chunks = list(t.iter_chunks())
    vpn = np.concatenate([c.vpn for c in chunks])
    op = np.concatenate([c.op for c in chunks])
    time_ns = np.concatenate([c.time_ns for c in chunks])
    mine = (vpn >= first) & (vpn < first + n)
    # every page of the buffer is written, once per round (pageouts come between them)
    writes = np.bincount(vpn[mine & (op == 1)] - first, minlength=n)
    assert (writes >= 1).all()
    assert (writes >= 2).sum() >= n * 0.9, writes
    # the reads between the rounds fault on the even pages, which were paged out
    reads = set((vpn[mine & (op == 0)] - first).tolist())
    assert len(reads & set(range(0, n, 2))) >= n // 2 * 0.9
    assert not reads - set(range(0, n, 2))
    assert (np.diff(time_ns) >= 0).all() and time_ns[-1] > 1_000_000_000   # 1.8 s of pauses
    m = t.meta
    assert m.sampled and m.time_source == "recorded" and m.extra["method"] == "pageout"
    assert m.extra["intervals"] >= 10 and m.extra["lost_events"] == 0
    assert m.extra["kernel_release"] == os.uname().release
    # the buffer is one region, and its pages' first contents are what the program wrote
    r = t.regions()
    starts, ends = r.column("start_vpn").to_numpy(), r.column("end_vpn").to_numpy()
    assert ((starts <= first) & (ends >= first + n)).any()
    c = t.contents()
    rows = {(v, ver): d for v, ver, d in zip(c.column("vpn").to_pylist(),
                                             c.column("version").to_pylist(),
                                             c.column("data").to_pylist())}
    firsts = [rows.get((first + i, 0)) for i in range(n)]
    assert sum(d is not None and d[0] == 1 + i % 250 for i, d in enumerate(firsts)) >= n * 0.95


def test_ctrl_c_mid_recording_keeps_a_valid_trace_and_restores_everything(tmp_path):
    before = machine_state()
    out = tmp_path / "loop.parquet"
    addr_file = tmp_path / "addr"
    proc = subprocess.Popen([sys.executable, "-m", "replay.cli", "record", "-o", str(out),
                             "--interval", "50", "--no-progress", "--", sys.executable, "-c",
                             LOOP, str(addr_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not addr_file.exists():
            time.sleep(0.05)
        if proc.poll() is not None:
            _, err = proc.communicate()
            _skip_if_busy(proc.returncode, err)
            pytest.fail(f"the recording ended early: {err}")
        assert [p for p in INSTANCES.iterdir() if p.name.startswith("folio-replay-record-")]
        assert "/dev/zram0" in PATHS.proc_swaps.read_text()
        time.sleep(1.0)                                   # a few intervals in
        proc.send_signal(signal.SIGINT)                   # to the recorder alone
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "replay: interrupted" in err and "stopped by SIGINT" in err
    assert "Traceback" not in err
    assert machine_state() == before
    assert main(["info", str(out)]) == 0
    t = open_trace(out).check()
    first = int(addr_file.read_text(), 16) >> 12
    vpn = np.concatenate([c.vpn for c in t.iter_chunks()])
    assert set(range(first, first + 2048)) <= set(vpn.tolist())
    assert t.meta.extra["stopped_by"] == "SIGINT"



# The program forks: the child writes its own buffer, the parent waits for it.
FORK = r"""
import ctypes, mmap, os, sys, time
n = 64
m = mmap.mmap(-1, n * 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
pid = os.fork()
if pid == 0:
    c = mmap.mmap(-1, n * 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    for r in range(3):
        for i in range(n):
            c[i * 4096] = 9
        time.sleep(0.2)
    open(sys.argv[1], "w").write(f"{os.getpid()} {ctypes.addressof(ctypes.c_char.from_buffer(c)):#x}")
    os._exit(0)
for i in range(n):
    m[i * 4096] = 1
os.waitpid(pid, 0)
"""


def test_a_forked_child_is_an_address_space_of_its_own(tmp_path, capsys):
    before = machine_state()
    out = tmp_path / "fork.parquet"
    child_file = tmp_path / "child"
    code = main(["record", "-o", str(out), "--interval", "50", "--no-progress", "--",
                 sys.executable, "-c", FORK, str(child_file)])
    err = capsys.readouterr().err
    _skip_if_busy(code, err)
    assert code == 0, err
    assert machine_state() == before
    t = open_trace(out).check()
    pid, addr = child_file.read_text().split()
    procs = t.meta.extra["processes"]
    child = [p for p in procs if p["pid"] == int(pid)]
    assert len(child) == 1 and child[0]["forked"], procs
    asid = child[0]["asid"]
    first = int(addr, 16) >> 12
    chunks = list(t.iter_chunks())
    vpn = np.concatenate([c.vpn for c in chunks])
    a = np.concatenate([c.asid for c in chunks])
    op = np.concatenate([c.op for c in chunks])
    mine = (a == asid) & (vpn >= first) & (vpn < first + 64)
    assert set((vpn[mine] - first).tolist()) == set(range(64))
    assert (op[mine] == 1).all()
    assert len(set(a.tolist())) >= 2
