"""`replay record`'s parts that need no kernel: /proc/PID/maps parsing, the trace_pipe
parser, page contents kept once per distinct page, the trace assembled from a recording,
the lackey log tail, starting the program, and the command's one-line errors."""

from __future__ import annotations

import mmap
import os
import signal
import sys
import time

import numpy as np
import pytest

from replay.cli import main
from replay.live.assemble import (
    ZERO_KEY,
    ContentStore,
    MapsLog,
    assemble,
    lackey_sidecars,
    page_hashes,
)
from replay.live.procmem import (
    Mapping,
    merge_ranges,
    pageout,
    parse_maps,
    read_pages,
    resident_pages,
    runs,
)
from replay.live.record import (
    LogTail,
    Program,
    StartError,
    cut_to_whole_lines,
    resolve_command,
)
from replay.live.tracefs import EventParser
from replay.trace import PAGE_SIZE, TraceMeta, open_trace, write_trace

# ---------------------------------------------------------------- /proc/PID/maps

MAPS = """\
55d0c0a00000-55d0c0a02000 r--p 00000000 fd:01 1835143                    /usr/bin/prog
55d0c0a02000-55d0c0a05000 r-xp 00002000 fd:01 1835143                    /usr/bin/prog
55d0c1f6b000-55d0c1f8c000 rw-p 00000000 00:00 0                          [heap]
7f1e2c000000-7f1e2c021000 rw-p 00000000 00:00 0
7f1e2c021000-7f1e30000000 ---p 00000000 00:00 0
7f1e31000000-7f1e31400000 rw-s 00000000 00:01 2049                       /dev/zero (deleted)
7f1e32000000-7f1e32001000 rw-p 00000000 00:00 0                          [anon:my buffer]
7f1e33000000-7f1e33002000 rw-p 00000000 fd:01 99                         /tmp/a file with spaces
7ffc1a2e4000-7ffc1a305000 rw-p 00000000 00:00 0                          [stack]
7ffc1a3d8000-7ffc1a3dc000 r--p 00000000 00:00 0                          [vvar]
7ffc1a3dc000-7ffc1a3de000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
"""


def test_maps_lines_become_page_ranges_and_only_private_anonymous_ones_count():
    maps = parse_maps(MAPS)
    assert len(maps) == 11                          # [vsyscall] is above the user half
    by_name = {m.name: m for m in maps}
    heap = by_name["[heap]"]
    assert (heap.start_vpn, heap.end_vpn, heap.perms) == (0x55d0c1f6b, 0x55d0c1f8c, "rw-p")
    assert by_name["/tmp/a file with spaces"].inode == 99
    assert by_name["[anon:my buffer]"].pages == 1
    anon = [m for m in maps if m.anon_private]
    assert [m.name for m in anon] == ["[heap]", None, "[anon:my buffer]", "[stack]"]
    # file-backed, shared (shmem), guard/reserve (---p), vvar and vdso are not
    assert not by_name["/dev/zero (deleted)"].anon_private
    assert not by_name["[vdso]"].anon_private
    assert not any(m.perms == "---p" and m.anon_private for m in maps)
    assert all(not m.hugepage for m in maps)        # maps says nothing of MADV_HUGEPAGE


def test_smaps_vmflags_hg_is_madv_hugepage():
    text = ("7f1e2c000000-7f1e2c400000 rw-p 00000000 00:00 0\n"
            "Size:               4096 kB\nRss:                   0 kB\n"
            "VmFlags: rd wr mr mw me ac sd hg\n"
            "7f1e2d000000-7f1e2d400000 rw-p 00000000 00:00 0\n"
            "Size:               4096 kB\nVmFlags: rd wr mr mw me ac sd nh\n")
    a, b = parse_maps(text)
    assert a.hugepage and not b.hugepage
    assert a.anon_private and b.anon_private


def test_maps_of_this_process_parse(tmp_path):
    buf = mmap.mmap(-1, 16 * PAGE_SIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    addr = _address(buf)
    maps = parse_maps(open("/proc/self/maps").read())
    mine = [m for m in maps if m.start_vpn <= addr >> 12 < m.end_vpn]
    assert len(mine) == 1 and mine[0].anon_private
    buf.close()


def test_runs_split_at_gaps_and_at_the_limit():
    v = np.array([1, 2, 3, 7, 8, 20], np.int64)
    assert list(runs(v)) == [(1, 3), (7, 2), (20, 1)]
    assert list(runs(np.arange(10, dtype=np.int64), limit=4)) == [(0, 4), (4, 4), (8, 2)]
    assert list(runs(np.zeros(0, np.int64))) == []
    assert merge_ranges([(5, 9), (1, 3), (3, 4), (8, 12)]) == [(1, 4), (5, 12)]


def _address(buf) -> int:
    import ctypes
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


def test_resident_pages_and_their_bytes_come_from_pagemap_and_mem():
    n = 32
    buf = mmap.mmap(-1, n * PAGE_SIZE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    addr = _address(buf)
    first = addr >> 12
    for i in range(0, n, 3):                         # every third page written
        buf[i * PAGE_SIZE:i * PAGE_SIZE + 5] = bytes([i]) * 5
    pagemap = os.open("/proc/self/pagemap", os.O_RDONLY)
    mem = os.open("/proc/self/mem", os.O_RDONLY)
    try:
        vpns = resident_pages(pagemap, first, first + n)
        assert vpns.tolist() == [first + i for i in range(0, n, 3)]
        got, pages = read_pages(mem, vpns)
        assert got.tolist() == vpns.tolist()
        assert pages.shape == (len(vpns), PAGE_SIZE)
        for (v, page) in zip(got.tolist(), pages):
            i = v - first
            assert bytes(page[:6]) == bytes([i]) * 5 + b"\0"
        # a page that is not mapped is left out, not an error
        got, _ = read_pages(mem, np.array([first, 1], np.int64))
        assert got.tolist() == [first]
    finally:
        os.close(pagemap)
        os.close(mem)
        del pages
        buf.close()


def test_pageout_advises_every_range_and_skips_one_that_went_away():
    # a child of our own (without swap MADV_PAGEOUT reclaims nothing: harmless)
    child = Program([sys.executable, "-c", "import time; time.sleep(30)"])
    child.spawn()
    try:
        child.go()
        time.sleep(0.2)
        maps = [m for m in parse_maps(open(f"/proc/{child.pid}/maps").read())
                if m.anon_private]
        ranges = [(m.start_vpn, m.end_vpn) for m in maps]
        total = sum(e - s for s, e in ranges) * PAGE_SIZE
        if os.geteuid() != 0:
            pytest.skip("process_madvise(MADV_PAGEOUT) of another process needs root")
        assert pageout(child.pidfd, ranges) == total
        gone = [(1, 2)] + ranges                       # page 1 is never mapped
        assert pageout(child.pidfd, gone) == total
    finally:
        child.kill()


# ---------------------------------------------------------------- trace_pipe


LINES = (
    b"          python3-1001    (   1001) [001] d....   100.000100: page_fault_user: "
    b"address=0x7f0000001234 ip=0x7f00aaaa0000 error_code=0x6\n"
    b"          python3-1001    (   1001) [000] .....   100.000200: sched_process_exec: "
    b"filename=/usr/bin/python3 pid=1001 old_pid=1001\n"
    b"          python3-1001    (   1001) [000] d....   100.000300: page_fault_user: "
    b"address=0x7f0000002000 ip=0x7f00aaaa0000 error_code=0x4\n"
    b" my prog-with-dash-1002    (   1001) [001] d....   100.000400: page_fault_user: "
    b"address=0x7f0000003008 ip=0x7f00aaaa0000 error_code=0x7\n"
    b"CPU:1 [LOST 17 EVENTS]\n"
    b"          python3-1003    (-------) [001] d....   100.000500: page_fault_kernel: "
    b"address=0x7f0000004000 ip=copy_user_generic error_code=0x2\n"
    b"          python3-1001    (   1001) [001] d....   100.000600: page_fault_user: "
    b"address=0xffff888000001000 ip=0x7f00aaaa0000 error_code=0x0\n"
    b"          python3-1001    (   1001) [001] d....   100.000700: page_fault_user: "
    b"address=0x7f0000005000 ip=0x7f0000005000 error_code=0x14\n"
)


def test_the_event_parser_reads_faults_execs_and_lost_events_in_order():
    p = EventParser()
    # fed in awkward pieces: lines cut anywhere
    for i in range(0, len(LINES), 37):
        p.feed(LINES[i:i + 37])
    p.finish()
    a = p.arrays()
    assert a["vpn"].tolist() == [0x7f0000001, 0x7f0000002, 0x7f0000003, 0x7f0000004,
                                 0x7f0000005]
    assert a["write"].tolist() == [True, False, True, True, False]
    assert a["fetch"].tolist() == [False, False, False, False, True]
    assert a["tid"].tolist() == [1001, 1001, 1002, 1003, 1001]
    assert a["tgid"].tolist() == [1001, 1001, 1001, -1, 1001]   # a thread; one unknown
    assert a["time_ns"].tolist() == [100_000_100_000, 100_000_300_000, 100_000_400_000,
                                     100_000_500_000, 100_000_700_000]
    assert p.execs == [(1, 100_000_200_000, 1001, "/usr/bin/python3")]
    assert p.lost == 17
    assert p.kernel_addresses == 1
    assert p.faults == 5


def test_the_event_parser_takes_lines_without_a_tgid_and_nanoseconds():
    p = EventParser()
    p.feed(b"prog-7 [000] d.... 5.123456789: page_fault_user: address=0x1000 ip=0x0 "
           b"error_code=0x6\n")
    a = p.arrays()
    assert a["tgid"].tolist() == [-1] and a["time_ns"].tolist() == [5_123_456_789]
    assert p.arrays()["vpn"].tolist() == [1]               # a second call is the same


# ---------------------------------------------------------------- contents


def _page(fill: int, at: int = 0) -> bytes:
    b = bytearray(PAGE_SIZE)
    b[at] = fill
    return bytes(b)


def test_contents_keep_each_distinct_page_once_and_a_version_per_change():
    s = ContentStore()
    assert s.add(1, 10, 100, _page(7))
    assert s.add(1, 10, 101, _page(7))            # the same bytes: one blob, two pages
    assert not s.add(1, 20, 100, _page(7))        # unchanged: no new row
    assert s.add(1, 30, 100, _page(8))            # changed: a new version
    assert s.add(1, 30, 102, bytes(PAGE_SIZE))    # zeros: no bytes kept
    assert s.add(2, 30, 100, _page(7))            # another process's page 100
    assert len(s.blobs) == 2 and s.rows == 5
    tg, t, v, k = s.arrays()
    assert tg.tolist() == [1, 1, 1, 1, 2]
    assert v.tolist() == [100, 101, 100, 102, 100]
    assert k.tolist() == [0, 0, 1, ZERO_KEY, 0]
    s.forget(1)                                   # exec: page 100 of pid 1 is new
    assert s.add(1, 40, 100, _page(8))


def test_page_hashes_are_zero_for_zero_pages_and_tell_pages_apart():
    pages = np.zeros((4, PAGE_SIZE), np.uint8)
    pages[1, 0] = 1
    pages[2, 8] = 1
    pages[3, 4095] = 1
    h = page_hashes(pages)
    assert h[0] == 0 and len(set(h.tolist())) == 4


def test_pages_with_equal_hashes_but_other_bytes_stay_apart(monkeypatch):
    import replay.live.assemble as asm
    monkeypatch.setattr(asm, "page_hashes", lambda pages: np.full(len(pages), 5, np.uint64))
    s = ContentStore()
    s.add(1, 0, 1, _page(1))
    s.add(1, 0, 2, _page(2))
    assert len(s.blobs) == 2


# ---------------------------------------------------------------- assembling a trace


def _maps(*ranges, name=None, inode=0, perms="rw-p", hugepage=False):
    return [Mapping(s, e, perms, inode, name, hugepage) for s, e in ranges]


def _faults(rows):
    """rows: (time, tid, tgid, vpn, write[, fetch])"""
    rows = [r if len(r) == 6 else (*r, False) for r in rows]
    return {"time_ns": np.array([r[0] for r in rows], np.int64),
            "tid": np.array([r[1] for r in rows], np.int32),
            "tgid": np.array([r[2] for r in rows], np.int32),
            "vpn": np.array([r[3] for r in rows], np.int64),
            "write": np.array([r[4] for r in rows], bool),
            "fetch": np.array([r[5] for r in rows], bool)}


def test_a_recording_becomes_address_spaces_by_process_and_exec():
    root, child = 100, 200
    faults = _faults([
        (1000, root, root, 0x500, True),          # before the exec: the recorder's fork
        (2000, root, root, 0x10, True),           # after it
        (2500, 101, root, 0x11, False),           # a thread of root
        (2600, root, root, 0x900, False),         # in a file mapping: left out
        (2700, root, root, 0x12, False),          # no snapshot covers it: kept, counted
        (2750, root, root, 0x13, False, True),    # ...unless it is an instruction fetch
        (3000, child, child, 0x10, True),         # the forked child's own copy
        (3500, child, child, 0x20, True),         # after the child's exec
        (3600, 300, 300, 0x10, True),             # a process no snapshot saw: left out
    ])
    execs = [(1, 1500, root, "/bin/prog"), (7, 3400, child, "/bin/other")]
    log = MapsLog()
    log.add(root, 1600, _maps((0x10, 0x12)) + _maps((0x900, 0x901), name="/lib", inode=5))
    log.add(child, 2900, _maps((0x10, 0x12)))
    log.add(child, 3450, _maps((0x20, 0x30), name="[heap]", hugepage=True))
    a = assemble(faults, execs, root, log)
    assert a.stats["before_exec"] == 1
    assert a.stats["outside_anon"] == 2
    assert a.stats["no_mappings_known"] == 1
    assert a.stats["unmapped_at_snapshots"] == 1
    assert a.vpn.tolist() == [0x10, 0x11, 0x12, 0x10, 0x20]
    assert a.asid.tolist() == [0, 0, 0, 1, 2]
    assert a.op.tolist() == [1, 0, 0, 1, 1]
    assert a.time_ns.tolist() == [500, 1000, 1200, 1500, 2000]   # from the root's exec
    assert a.origin_ns == 1500
    assert [(p["asid"], p["pid"], p["exec"], p["forked"]) for p in a.processes] == [
        (0, root, "/bin/prog", False), (1, child, None, True), (2, child, "/bin/other", False)]
    r = a.regions
    assert r["asid"].tolist() == [0, 1, 2]
    assert r["hugepage"].tolist() == [False, False, True]
    assert r["name"] == [None, None, "[heap]"]


def test_times_from_several_cpus_are_put_in_order():
    faults = _faults([(30, 1, 1, 5, False), (10, 1, 1, 6, False), (20, 1, 1, 7, True)])
    log = MapsLog()
    log.add(1, 6, _maps((0, 100)))             # after the exec: its address space
    a = assemble(faults, [(0, 5, 1, "/p")], 1, log)
    assert a.time_ns.tolist() == [5, 15, 25] and a.vpn.tolist() == [6, 7, 5]


def test_contents_of_a_recording_are_versions_of_traced_pages_only():
    faults = _faults([(10, 1, 1, 0x10, True), (11, 1, 1, 0x11, True), (12, 1, 1, 0x12, True),
                      (13, 1, 1, 0x13, False)])
    log = MapsLog()
    log.add(1, 5, _maps((0x10, 0x20)))
    s = ContentStore()
    s.add(1, 20, 0x10, _page(1))
    s.add(1, 20, 0x11, bytes(PAGE_SIZE))
    s.add(1, 20, 0x12, bytes(PAGE_SIZE))
    s.add(1, 20, 0x1f, _page(9))              # never faulted: not in the trace, left out
    s.add(1, 30, 0x10, _page(2))              # version 1
    s.add(1, 30, 0x11, _page(1))              # zero, then bytes
    a = assemble(faults, [(0, 1, 1, "/p")], 1, log, s)
    c = a.contents
    rows = list(zip(c["vpn"].tolist(), c["npages"].tolist(), c["version"].tolist(),
                    c["content_class"], [d is not None for d in c["data"]]))
    assert rows == [(0x10, 1, 0, "unknown", True), (0x10, 1, 1, "unknown", True),
                    (0x11, 2, 0, "zero", False),       # 0x11 and 0x12: one run of zeros
                    (0x11, 1, 1, "unknown", True)]
    assert c["data"][0] == _page(1) and c["data"][1] == _page(2)
    assert a.stats["content_pages"] == 3 and a.stats["content_zero_pages"] == 2


def test_an_assembled_recording_is_a_valid_trace(tmp_path, capsys):
    faults = _faults([(10 + i, 1, 1, 0x10 + i % 7, bool(i % 2)) for i in range(50)])
    log = MapsLog()
    log.add(1, 5, _maps((0x10, 0x20), hugepage=True))
    s = ContentStore()
    for v in range(0x10, 0x17):
        s.add(1, 20, v, _page(v))
    a = assemble(faults, [(0, 1, 1, "/p")], 1, log, s)
    out = tmp_path / "rec.parquet"
    write_trace(out, TraceMeta(source_format="record", sampled=True, time_source="recorded"),
                a.time_ns, a.vpn, a.op, a.asid, regions=a.regions, contents=a.contents)
    assert main(["info", str(out)]) == 0
    assert "100.0%" in capsys.readouterr().out            # every page has its bytes
    t = open_trace(out).check()
    assert t.num_accesses == 50 and t.regions().num_rows == 1


def test_lackey_sidecars_keep_the_mappings_that_hold_traced_pages():
    log = MapsLog()
    log.add(7, 0, _maps((0x10, 0x20), (0x100, 0x200)) + _maps((0x300, 0x310), name="/lib",
                                                               inode=3))
    s = ContentStore()
    s.add(7, 1, 0x11, _page(3))
    s.add(7, 1, 0x150, _page(4))                  # valgrind's own page: not in the trace
    regions, contents, stats = lackey_sidecars(7, log, s, np.array([0x11, 0x305], np.int64))
    assert regions["start_vpn"].tolist() == [0x10]
    assert contents["vpn"].tolist() == [0x11]
    assert stats["pages_outside_anon_regions"] == 1


# ---------------------------------------------------------------- lackey log


def test_the_log_tail_finds_touched_pages_as_the_log_grows(tmp_path):
    log = tmp_path / "l.log"
    log.write_bytes(b"==1== Lackey, an example\n I  04000000,3\n L 7f0000001000,8\n S 7f00")
    tail = LogTail(log)
    assert tail.update().tolist() == [0x7f0000001]
    with open(log, "ab") as f:
        f.write(b"00002ff8,16\n M 7f0000005000,4\n")
    assert tail.update().tolist() == [0x7f0000001, 0x7f0000002, 0x7f0000003, 0x7f0000005]
    tail.close()


def test_a_log_cut_mid_line_is_cut_to_its_last_whole_line(tmp_path):
    log = tmp_path / "l.log"
    log.write_bytes(b" L 1000,8\n S 20")
    assert cut_to_whole_lines(log) == 5
    assert log.read_bytes() == b" L 1000,8\n"
    assert cut_to_whole_lines(log) == 0


# ---------------------------------------------------------------- the program


def test_commands_that_cannot_run_are_one_line(tmp_path):
    with pytest.raises(StartError, match="command not found"):
        resolve_command(["no-such-command-xyz"])
    with pytest.raises(StartError, match="No such file"):
        resolve_command([str(tmp_path / "nope")])
    (tmp_path / "plain").write_text("x")
    with pytest.raises(StartError, match="Permission denied"):
        resolve_command([str(tmp_path / "plain")])
    with pytest.raises(StartError, match="no command"):
        resolve_command([])


def test_a_program_is_held_until_go_and_reports_its_exit(tmp_path):
    flag = tmp_path / "ran"
    p = Program(["/bin/sh", "-c", f"touch {flag}; exit 7"])
    p.spawn()
    time.sleep(0.2)
    assert not flag.exists() and not p.poll()          # held before exec
    p.go()
    p.wait()
    assert flag.exists() and p.exit_code == 7 and p.exit_signal is None
    p.close()


def test_a_program_whose_exec_fails_is_a_start_error(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x00\x01garbage")
    bad.chmod(0o755)
    p = Program([str(bad)])
    p.spawn()
    with pytest.raises(StartError, match="Exec format error"):
        p.go()
    assert p.status is not None
    p.kill()


def test_a_killed_program_reports_the_signal():
    p = Program(["/bin/sh", "-c", "kill -TERM $$"])
    p.spawn()
    p.go()
    p.wait()
    assert p.exit_signal == signal.SIGTERM and p.exit_code is None
    p.close()


# ---------------------------------------------------------------- the command


def test_record_without_a_command_is_one_line(capsys, tmp_path):
    code = main(["record", "-o", str(tmp_path / "t.parquet")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("replay: error: ") and err.count("\n") == 1


def test_record_of_a_missing_command_is_one_line_and_writes_nothing(capsys, tmp_path):
    for method in ("pageout", "lackey"):
        code = main(["record", "-o", str(tmp_path / "t.parquet"), "--method", method, "--",
                     "no-such-command-xyz", "--flag"])
        err = capsys.readouterr().err
        assert code == 2, err
        assert err.startswith("replay: error: ") and err.count("\n") == 1
        assert "no-such-command-xyz: cannot run the program (command not found)" in err
    assert list(tmp_path.iterdir()) == []


def test_record_refuses_a_bad_output_before_running_anything(capsys, tmp_path):
    code = main(["record", "-o", str(tmp_path / "no" / "t.parquet"), "--", "true"])
    assert code == 2 and "folder does not exist" in capsys.readouterr().err


def test_a_write_that_did_not_fault_is_inferred_from_changed_contents():
    from replay.live.assemble import infer_writes
    # page 1: read at 10, its contents changed by the sample at 20 (read at 25): a write
    # page 2: a write fault in the interval already: nothing added
    # page 3: changed without a fault in the interval (never paged out): nothing to place
    # page 4: read at 3, before the sample at 5 that came before: not this interval's
    t = np.array([3, 10, 12, 14], np.int64)
    v = np.array([4, 1, 2, 1], np.int64)
    op = np.array([0, 0, 1, 0], np.uint8)
    a = np.zeros(4, np.int32)
    samples = np.array([0, 5, 20, 40], np.int64)
    origin = 1000
    changes = [(0, 1, origin + 25), (0, 2, origin + 25), (0, 3, origin + 25),
               (0, 4, origin + 25)]
    t2, v2, op2, a2, n = infer_writes(t, v, op, a, changes, samples, origin)
    assert n == 1
    assert list(zip(t2.tolist(), v2.tolist(), op2.tolist())) == [
        (3, 4, 0), (10, 1, 0), (10, 1, 1), (12, 2, 1), (14, 1, 0)]
    assert len(a2) == 5


def test_a_recording_with_samples_adds_the_inferred_writes():
    faults = _faults([(1010, 1, 1, 0x10, False), (1030, 1, 1, 0x11, True)])
    log = MapsLog()
    log.add(1, 1001, _maps((0x10, 0x20)))
    s = ContentStore()
    s.add(1, 1005, 0x10, _page(1))              # read at the first sample...
    s.add(1, 1040, 0x10, _page(2))              # ...changed by the second
    a = assemble(faults, [(0, 1000, 1, "/p")], 1, log, s, sample_times=[1005, 1040])
    assert a.op.tolist() == [0, 1, 1] and a.vpn.tolist() == [0x10, 0x10, 0x11]
    assert a.stats["inferred_writes"] == 1


def test_a_last_line_cut_short_by_a_killed_valgrind_is_dropped(tmp_path):
    from replay.live.record import drop_bad_last_line
    log = tmp_path / "l.log"
    log.write_bytes(b"==1== Lackey\n L 7f0000001000,8\n S 7f00\n")
    assert drop_bad_last_line(log) == len(b" S 7f00\n")
    assert log.read_bytes() == b"==1== Lackey\n L 7f0000001000,8\n"
    assert drop_bad_last_line(log) == 0


def test_pageout_without_root_is_one_line_and_changes_nothing(monkeypatch, capsys, tmp_path):
    import replay.live.record as rec
    monkeypatch.setattr(rec.os, "geteuid", lambda: 1000)
    code = main(["record", "-o", str(tmp_path / "t.parquet"), "--", "true"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--method pageout needs root" in err and "--method lackey does not" in err
    assert list(tmp_path.iterdir()) == []
