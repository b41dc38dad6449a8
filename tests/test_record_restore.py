"""`replay record --method pageout` against a fake kernel root: every setting comes back.

The fake root of tests/test_validate_restore.py (make_root, FakeRunner) gets a tracefs
(instances, the two events' format files); creating an instance gives it the files the
recorder writes. The recorded program is real: it writes its own fault and exec lines
into the fake instance's trace_pipe (a regular file the reader follows), and the fake
root's /proc/PID links to the real /proc/PID once the recorder filters on that pid, so
the whole recording runs (mappings, page contents, process_madvise, the trace) without
touching the machine's settings.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

from replay.cli import main
from replay.live import record as record_mod
from replay.live.paths import KernelPaths
from replay.live.record import RecordSettings, record_pageout
from replay.live.runner import LiveError, Refused
from replay.live.session import Interrupted, KernelSession, read_journal, recover
from replay.trace import open_trace
from tests.test_validate_restore import FakeRunner, machine_state, make_root

EVENTS = ("exceptions/page_fault_user", "exceptions/page_fault_kernel",
          "sched/sched_process_exec")

# The recorded program: touches N pages of a private anonymous buffer, writes the fault
# lines the kernel would (and its exec line) into the fake trace_pipe, then waits for a few
# intervals so that the recorder reads its mappings and contents.
PROGRAM = r"""
import ctypes, mmap, os, sys, time
pipe, n, stay, code, addr_file = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \
    int(sys.argv[4]), sys.argv[5]
pid = os.getpid()
def line(t, event, rest):
    return (f"         python3-{pid}   ({pid:>7}) [000] d.... {t // 10**9}."
            f"{t % 10**9 // 1000:06d}: {event}: {rest}\n")
t0 = time.monotonic_ns()
buf = mmap.mmap(-1, n * 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
out = [line(t0, "sched_process_exec", f"filename={sys.executable} pid={pid} old_pid={pid}")]
for i in range(n):
    buf[i * 4096] = i + 1
    out.append(line(time.monotonic_ns(), "page_fault_user",
                    f"address={addr + i * 4096:#x} ip=0x0 error_code=0x6"))
for i in range(0, n, 2):
    out.append(line(time.monotonic_ns(), "page_fault_user",
                    f"address={addr + i * 4096 + 8:#x} ip=0x0 error_code=0x4"))
with open(pipe, "a") as f:
    f.write("".join(out))
with open(addr_file, "w") as f:
    f.write(hex(addr))
time.sleep(stay)
sys.exit(code)
"""


def make_tracefs(paths: KernelPaths) -> None:
    root = paths.tracefs
    (root / "instances").mkdir(parents=True)
    for event in EVENTS:
        d = root / "events" / event
        d.mkdir(parents=True)
        (d / "format").write_text("name: x\nformat:\n\tfield:unsigned long address;\n"
                                  "\tfield:unsigned long error_code;\n")


class TracefsRunner(FakeRunner):
    """FakeRunner that also emulates tracefs instances and links /proc/PID of the program
    into the fake root when the recorder filters on it."""

    def mkdir(self, path: Path) -> None:
        if path.parent != self.paths.tracefs / "instances":
            return super().mkdir(path)
        self._step("mkdir")
        os.mkdir(path)
        files = {"trace_clock": "[local] global counter uptime perf mono mono_raw boot\n",
                 "buffer_size_kb": "1410\n", "set_event_pid": "", "trace_pipe": "",
                 "options/record-tgid": "0\n", "options/event-fork": "0\n",
                 "events/enable": "0\n", "per_cpu/cpu0/stats": "overrun: 0\n"
                 "dropped events: 0\n"}
        for event in EVENTS:
            files[f"events/{event}/enable"] = "0\n"
        for name, text in files.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_text(text)

    def rmdir(self, path: Path) -> None:
        if path.parent != self.paths.tracefs / "instances":
            return super().rmdir(path)
        self._step("rmdir")
        if (path / "events/enable").read_text().strip() != "0":
            raise LiveError(f"{path}: events still enabled (the fake's check)")
        shutil.rmtree(path)

    def write(self, path: Path, value: str) -> None:
        super().write(path, value)
        path = Path(path)
        if path.name == "set_event_pid" and value:
            link = self.paths.at(f"/proc/{value}")
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.exists():
                link.symlink_to(f"/proc/{value}")
        if path.name == "enable" and path.parent.name == "events":
            for event in EVENTS:               # events/enable: every event of the instance
                (path.parent / event / "enable").write_text(value + "\n")


def state(paths: KernelPaths) -> dict:
    s = machine_state(paths)
    s["instances"] = sorted(p.name for p in (paths.tracefs / "instances").iterdir())
    s["tracefs"] = sorted(str(p.relative_to(paths.tracefs))
                          for p in paths.tracefs.rglob("*") if "instances" not in p.parts)
    return s


@pytest.fixture
def fake(tmp_path):
    paths = make_root(tmp_path / "root")
    make_tracefs(paths)
    return paths, TracefsRunner(paths)


def program(paths: KernelPaths, n: int = 40, stay: float = 0.6, code: int = 0) -> list[str]:
    """The program's command line; it writes its buffer's address to ROOT/addr."""
    # the pipe path is only known once the instance exists: a wrapper finds it
    finder = ("import glob, os, sys; p = glob.glob(sys.argv[1] + '/*/trace_pipe')[0]; "
              "os.execv(sys.executable, [sys.executable, '-c', sys.argv[2], p, "
              "*sys.argv[3:]])")
    return [sys.executable, "-c", finder, str(paths.tracefs / "instances"), PROGRAM, str(n),
            str(stay), str(code), str(paths.root / "addr")]


# ---------------------------------------------------------------- whole recordings


def test_a_recording_on_a_fake_root_gives_the_pages_and_restores_everything(fake):
    paths, runner = fake
    before = state(paths)
    n = 40
    out = record_pageout(program(paths, n), RecordSettings(interval_ms=50), paths=paths,
                         runner=runner)
    assert state(paths) == before                       # instance gone, zram back, ...
    a = out.assembled
    assert out.exit_code == 0 and out.stopped_by is None and out.intervals >= 3
    addr = int((paths.root / "addr").read_text(), 16)
    first = addr >> 12
    assert a.vpn.tolist()[:n] == [first + i for i in range(n)], (str(a.stats), len(a.vpn), a.vpn[:3], first, out.meta_extra["processes"], out.meta_extra["pageout_times_ns"][:3])
    assert a.op.tolist() == [1] * n + [0] * (n // 2)
    assert set(a.asid.tolist()) == {0}
    assert a.stats["before_exec"] == 0
    # the buffer is a region, and its pages' bytes were read (page i starts with i + 1)
    r = a.regions
    assert any(s <= first and first + n <= e for s, e in zip(r["start_vpn"], r["end_vpn"]))
    c = a.contents
    got = {v: d for v, d, ver in zip(c["vpn"].tolist(), c["data"], c["version"].tolist())
           if ver == 0 and d is not None}
    assert all(got[first + i][0] == (i + 1) & 0xFF for i in range(n))
    # what was set, and put back
    tracing = "sys/kernel/tracing/instances/"
    sets = [(p.split("/", 5)[-1], v) for p, v in runner.writes if p.startswith(tracing)]
    assert ("trace_clock", "mono") in sets and ("options/record-tgid", "1") in sets
    assert ("options/event-fork", "1") in sets
    assert ("events/exceptions/page_fault_user/enable", "1") in sets
    assert ("events/exceptions/page_fault_user/enable", "0") in sets
    assert [c[0] for c in runner.commands] == ["mkswap", "swapon", "swapoff"]
    assert ("sys/block/zram0/comp_algorithm", "lz4") in runner.writes


def test_the_command_writes_a_trace_that_replay_info_accepts(fake, monkeypatch, tmp_path,
                                                             capsys):
    paths, runner = fake
    monkeypatch.setattr(record_mod, "KernelPaths", lambda: paths)
    monkeypatch.setattr(record_mod, "CommandRunner", lambda: runner)
    before = state(paths)
    out = tmp_path / "rec.parquet"
    code = main(["record", "-o", str(out), "--interval", "50", "--", *program(paths, 20,
                                                                              code=3)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "the program exited with code 3" in err
    assert state(paths) == before
    assert main(["info", str(out)]) == 0
    t = open_trace(out)
    assert t.num_accesses == 30 and t.meta.sampled and t.meta.time_source == "recorded"
    assert t.meta.source_format == "record" and t.meta.extra["method"] == "pageout"
    assert t.meta.extra["exit_code"] == 3 and t.meta.extra["kernel_release"] == "6.18.44-fake"
    assert t.contents() is not None and t.regions() is not None


def test_a_program_that_records_nothing_writes_nothing(fake, monkeypatch, tmp_path, capsys):
    paths, runner = fake
    monkeypatch.setattr(record_mod, "KernelPaths", lambda: paths)
    monkeypatch.setattr(record_mod, "CommandRunner", lambda: runner)
    before = state(paths)
    code = main(["record", "-o", str(tmp_path / "t.parquet"), "--", "true"])
    err = capsys.readouterr().err
    assert code == 2 and "no page accesses were recorded" in err and err.count("\n") == 1
    assert state(paths) == before
    assert list(tmp_path.glob("t*")) == []


@pytest.mark.parametrize("step", ["write:comp_algorithm", "write:disksize", "mkswap", "swapon",
                                  "mkdir", "write:trace_clock", "write:buffer_size_kb",
                                  "write:record-tgid", "write:set_event_pid", "write:enable"])
def test_a_failing_setup_step_leaves_the_machine_as_it_was(fake, step):
    paths, runner = fake
    before = state(paths)
    runner.fail[step] = 1
    with pytest.raises(LiveError, match="injected"):
        record_pageout(program(paths), RecordSettings(interval_ms=50), paths=paths,
                       runner=runner)
    assert state(paths) == before


def test_a_failing_restore_step_is_kept_for_recover(fake):
    paths, runner = fake
    before = state(paths)
    runner.fail["rmdir"] = 200                # the instance cannot be removed for now
    with pytest.raises(LiveError, match="replay validate --recover"):
        record_pageout(program(paths, stay=0.2), RecordSettings(interval_ms=50), paths=paths,
                       runner=runner)
    journal = read_journal(paths)
    assert journal["command"] == "replay record"
    assert [r["kind"] for r in journal["undo"]] == ["tracefs_instance"]
    assert state(paths)["swaps"] == before["swaps"]           # the rest was restored
    # a new recording refuses to start on top of it, naming who left it
    with pytest.raises(Refused, match="previous replay record .* --recover"):
        record_pageout(program(paths), RecordSettings(), paths=paths, runner=runner)
    runner.fail.clear()
    assert recover(paths, runner) == 1
    assert state(paths) == before


def test_sigterm_during_setup_restores_everything(fake):
    paths, runner = fake
    before = state(paths)
    runner.hooks["write:set_event_pid"] = lambda: os.kill(os.getpid(), signal.SIGTERM)
    with pytest.raises(Interrupted):
        record_pageout(program(paths), RecordSettings(), paths=paths, runner=runner)
    assert state(paths) == before


def test_sigint_while_recording_keeps_the_trace_and_restores_everything(fake):
    paths, runner = fake
    before = state(paths)
    # a signal to the recorder alone: it is passed on to the program, which ends
    import threading
    import time

    def interrupt_once_it_ran():
        deadline = time.monotonic() + 60
        while not (paths.root / "addr").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_it_ran, daemon=True).start()
    out = record_pageout(program(paths, 30, stay=30), RecordSettings(interval_ms=50),
                         paths=paths, runner=runner)
    assert state(paths) == before
    assert out.stopped_by == "SIGINT" and out.stop_signum == signal.SIGINT
    assert out.exit_signal == signal.SIGINT or out.exit_code not in (None, 0)
    assert len(out.assembled.vpn) == 45, (out.assembled.stats, out.meta_extra)


def test_the_timeout_stops_the_program_and_keeps_the_trace(fake):
    paths, runner = fake
    before = state(paths)
    out = record_pageout(program(paths, 30, stay=30), RecordSettings(interval_ms=50,
                                                                     timeout_s=2.0),
                         paths=paths, runner=runner)
    assert state(paths) == before
    assert out.stopped_by == "timeout" and out.stop_signum is None
    assert out.exit_signal == signal.SIGTERM
    assert len(out.assembled.vpn) == 45, (out.assembled.stats, out.meta_extra)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("breakage, says", [
    (lambda p: shutil.rmtree(p.zram(0)), "no zram0"),
    (lambda p: (p.zram(0) / "disksize").write_text("1048576\n"), "zram0 is in use"),
    (lambda p: p.proc_swaps.write_text(p.proc_swaps.read_text() + "/dev/sda2 partition 1 0 -2\n"),
     "swap is already on"),
    (lambda p: shutil.rmtree(p.tracefs / "events" / "exceptions"),
     "no tracefs event exceptions:page_fault_user"),
    (lambda p: shutil.rmtree(p.tracefs), "no tracefs"),
])
def test_a_machine_that_cannot_record_is_refused_before_any_change(fake, breakage, says):
    paths, runner = fake
    breakage(paths)
    with pytest.raises(Refused, match=says):
        record_pageout(program(paths), RecordSettings(), paths=paths, runner=runner)
    assert runner.writes == [] and runner.commands == []
    assert not paths.journal_dir.exists() or not any(paths.journal_dir.iterdir())


def test_record_refuses_while_a_validation_holds_the_journal(fake):
    paths, runner = fake
    paths.journal_dir.mkdir(parents=True, exist_ok=True)
    (paths.journal_dir / "validate.json").write_text(
        json.dumps({"owner_pid": os.getppid(), "undo": []}))
    with pytest.raises(Refused, match=f"another replay validate \\(pid {os.getppid()}\\)"):
        record_pageout(program(paths), RecordSettings(), paths=paths, runner=runner)
    assert runner.writes == []


def test_a_validation_refuses_while_a_recording_holds_the_journal(fake):
    paths, runner = fake
    paths.journal_dir.mkdir(parents=True, exist_ok=True)
    (paths.journal_dir / "validate.json").write_text(
        json.dumps({"owner_pid": os.getppid(), "command": "replay record", "undo": []}))
    with pytest.raises(Refused, match="another replay record"), KernelSession(paths, runner):
        pass


def test_recover_removes_an_instance_a_killed_recording_left(fake):
    paths, runner = fake
    before = state(paths)
    inst = paths.tracefs / "instances" / "folio-replay-record-1-abcd"
    runner.mkdir(inst)
    runner.write(inst / "set_event_pid", "12345")
    runner.write(inst / "events/enable", "1")
    runner.write(inst / "trace_clock", "mono")
    paths.journal_dir.mkdir(parents=True, exist_ok=True)
    (paths.journal_dir / "validate.json").write_text(json.dumps({
        "owner_pid": 999999999, "command": "replay record", "undo": [
            {"kind": "tracefs_instance", "path": str(inst)},
            {"kind": "tracefs_write", "path": str(inst / "trace_clock"), "value": "local",
             "what": "trace instance clock"},
            {"kind": "tracefs_write", "path": str(inst / "set_event_pid"), "value": "",
             "what": "trace instance pid filter"}]}))
    assert recover(paths, runner) == 3
    assert state(paths) == before
    assert ("sys/kernel/tracing/instances/folio-replay-record-1-abcd/set_event_pid", "") \
        in runner.writes


def test_a_tracefs_write_whose_instance_is_gone_is_nothing_to_restore(fake):
    paths, runner = fake
    paths.journal_dir.mkdir(parents=True, exist_ok=True)
    gone = paths.tracefs / "instances" / "gone"
    (paths.journal_dir / "validate.json").write_text(json.dumps({
        "owner_pid": 999999999, "command": "replay record", "undo": [
            {"kind": "tracefs_instance", "path": str(gone)},
            {"kind": "tracefs_write", "path": str(gone / "trace_clock"), "value": "local",
             "what": "trace instance clock"}]}))
    assert recover(paths, runner) == 2
    assert runner.writes == []
    assert read_journal(paths) is None



@pytest.mark.parametrize("versions", ["all", "first"])
def test_content_versions_are_said_in_the_metadata(fake, monkeypatch, tmp_path, capsys,
                                                   versions):
    paths, runner = fake
    monkeypatch.setattr(record_mod, "KernelPaths", lambda: paths)
    monkeypatch.setattr(record_mod, "CommandRunner", lambda: runner)
    out = tmp_path / "rec.parquet"
    code = main(["record", "-o", str(out), "--interval", "50", "--content-versions", versions,
                 "--", *program(paths, 20)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert ("the first of each page kept" in err) is (versions == "first")
    t = open_trace(out)
    assert t.meta.extra["content_versions"] == versions
    assert (t.contents().column("version").to_numpy() == 0).all()
