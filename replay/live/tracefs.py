"""Page-fault events of one process tree from a tracefs instance of our own.

`replay record --method pageout` creates ``/sys/kernel/tracing/instances/<name>`` (its own
ring buffer: the global one and other instances are left alone), filters its events to
the recorded process and its descendants (``set_event_pid`` with ``event-fork``),
enables ``exceptions:page_fault_user`` and ``page_fault_kernel`` (a system call touching
user memory) and ``sched:sched_process_exec``, and reads the instance's ``trace_pipe``
on a thread. Every change is journalled in the KernelSession first (``tracefs_instance``:
the folder, removed last; ``tracefs_write``: a file of it, put back first), so every
path out of the recording removes the instance.

``EventParser`` turns trace_pipe text into arrays; it is pure and unit tested. Lines
look like (``record-tgid`` adds the thread group in parentheses)::

    python3-16378   (  16378) [001] d....  14387.249464: page_fault_user: address=0x7f88b2ea7280 ip=0x7f88b2baba17 error_code=0x7
    python3-16378   (  16378) [001] .....  14387.250918: sched_process_exec: filename=/usr/bin/python3 pid=16378 old_pid=16378
    CPU:1 [LOST 123 EVENTS]

Timestamps are the instance's clock, set to ``mono`` (CLOCK_MONOTONIC, as
``time.monotonic_ns``), printed in microseconds.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from replay.live.runner import LiveError, Refused
from replay.live.session import KernelSession, read_setting

FAULT_EVENTS = ("exceptions/page_fault_user", "exceptions/page_fault_kernel")
EXEC_EVENT = "sched/sched_process_exec"
INSTANCE_PREFIX = "folio-replay-record-"
X86_PF_WRITE = 1 << 1
X86_PF_INSTR = 1 << 4
USER_LIMIT = 1 << 47
BUFFER_KB = 32768                  # per CPU, in our instance only

_FAULT = re.compile(
    rb"-(\d+) +(?:\( *(\d+|-+)\) +)?\[\d+\] +(?:\S+ +)?(\d+)\.(\d+): page_fault_(?:user|kernel): "
    rb"address=(?:0x)?([0-9a-fA-F]+)\S* ip=\S+ error_code=(?:0x)?([0-9a-fA-F]+)")
_EXEC = re.compile(
    rb"-(\d+) +(?:\( *(\d+|-+)\) +)?\[\d+\] +(?:\S+ +)?(\d+)\.(\d+): sched_process_exec: "
    rb"filename=(.*) pid=(\d+) old_pid=(\d+)")
_LOST = re.compile(rb"\[LOST (\d+) EVENTS\]")
_SPECIAL = re.compile(rb"sched_process_exec: |\[LOST \d+ EVENTS\]")


def check_tracefs(paths) -> Path:
    """The tracefs root; Refused (one line) when tracefs or the events are missing."""
    root = paths.tracefs
    if not (root / "instances").is_dir():
        raise Refused(f"no tracefs at {root} (mount it: mount -t tracefs nodev {root})")
    for event in FAULT_EVENTS[:1] + (EXEC_EVENT,):
        fmt = root / "events" / event / "format"
        try:
            text = fmt.read_text()
        except OSError:
            raise Refused(f"this kernel has no tracefs event {event.replace('/', ':')} "
                          f"({fmt} is missing)") from None
        if event in FAULT_EVENTS and not ("address" in text and "error_code" in text):
            raise Refused(f"{fmt}: the event has no address and error_code fields")
    return root


@dataclass
class Instance:
    """Our tracefs instance: its folder and what it was set to."""

    path: Path
    events: list[str] = field(default_factory=list)

    def file(self, name: str) -> Path:
        return self.path / name


def tracefs_set(session: KernelSession, path: Path, value: str, *, what: str) -> None:
    """Set a file of our instance, journalling its old value (``tracefs_write``: put back
    unless the instance is gone by then); nothing happens when it is ``value``."""
    old = read_setting(path)
    if old == value:
        return
    session.push({"kind": "tracefs_write", "path": str(path), "value": old, "what": what})
    session.log(f"{what}: {old} -> {value}")
    session.runner.write(path, value)


def create_instance(session: KernelSession, *, buffer_kb: int = BUFFER_KB) -> Instance:
    """A new instance (unique name), clock ``mono``, ``record-tgid`` and ``event-fork`` on,
    a larger buffer; nothing enabled yet. The folder is journalled first (removed last on
    every path), then each option (put back before it)."""
    root = check_tracefs(session.paths)
    path = root / "instances" / f"{INSTANCE_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    session.push({"kind": "tracefs_instance", "path": str(path)})
    session.runner.mkdir(path)
    inst = Instance(path)
    # the clock and the buffer's size are the instance's own and go with it: not journalled
    # (putting the buffer's size back would only reallocate it before the folder goes)
    session.runner.write(inst.file("trace_clock"), "mono")
    session.runner.write(inst.file("buffer_size_kb"), str(buffer_kb))
    for option in ("record-tgid", "event-fork"):
        if inst.file(f"options/{option}").exists():
            tracefs_set(session, inst.file(f"options/{option}"), "1",
                        what=f"trace instance option {option}")
    return inst


def follow_pid(session: KernelSession, inst: Instance, pid: int) -> None:
    """Only events of ``pid`` (and, with event-fork, the processes it forks)."""
    tracefs_set(session, inst.file("set_event_pid"), str(pid), what="trace instance pid filter")


def enable_events(session: KernelSession, inst: Instance) -> None:
    """The fault events (page_fault_kernel only where the kernel has it) and exec."""
    for event in FAULT_EVENTS + (EXEC_EVENT,):
        enable = inst.path / "events" / event / "enable"
        if event == FAULT_EVENTS[1] and not enable.exists():
            continue
        tracefs_set(session, enable, "1", what=f"trace event {event.replace('/', ':')}")
        inst.events.append(event)


def disable_events(session: KernelSession, inst: Instance) -> None:
    """Stop recording (before the last read of the buffer); the journal puts the same
    value back anyway when the instance is removed."""
    for event in inst.events:
        enable = inst.path / "events" / event / "enable"
        try:
            if read_setting(enable) != "0":
                session.runner.write(enable, "0")
        except LiveError:
            pass


def lost_events(inst: Instance) -> int:
    """Events the instance's ring buffer overwrote or dropped (per_cpu/cpuN/stats)."""
    total = 0
    for stats in sorted(inst.path.glob("per_cpu/cpu*/stats")):
        try:
            for line in stats.read_text().splitlines():
                key, _, value = line.partition(":")
                if key.strip() in ("overrun", "dropped events"):
                    total += int(value.split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total


# ---------------------------------------------------------------- parsing


def _frac_ns(frac: bytes) -> int:
    return int((frac + b"000000000")[:9])


class EventParser:
    """trace_pipe text -> fault arrays, exec events and lost counts; fed whole lines.

    Per fault: time (ns of the trace clock), tid, tgid (-1 when the line has none),
    page number, write (error_code bit 1) and instruction fetch (bit 4). Faults at kernel addresses are dropped.
    ``execs`` holds (faults before it, time, pid, filename) per exec, so an exec splits
    the faults of its process exactly, whatever the times' resolution.
    """

    def __init__(self) -> None:
        self._t: list[np.ndarray] = []
        self._tid: list[np.ndarray] = []
        self._tgid: list[np.ndarray] = []
        self._vpn: list[np.ndarray] = []
        self._write: list[np.ndarray] = []
        self._fetch: list[np.ndarray] = []
        self.faults = 0
        self.execs: list[tuple[int, int, int, str]] = []
        self.lost = 0
        self.kernel_addresses = 0
        self.lines = 0
        self._rest = b""

    def feed(self, data: bytes) -> None:
        """Text from trace_pipe; a partial last line waits for the next feed."""
        data = self._rest + data
        cut = data.rfind(b"\n") + 1
        self._rest = data[cut:]
        if cut:
            self._parse(data[:cut])

    def finish(self) -> None:
        if self._rest:
            self._parse(self._rest + b"\n")
            self._rest = b""

    def _parse(self, text: bytes) -> None:
        self.lines += text.count(b"\n")
        pos = 0
        for m in _SPECIAL.finditer(text):
            start = text.rfind(b"\n", 0, m.start()) + 1
            end = text.find(b"\n", m.end())
            end = len(text) if end < 0 else end
            if start < pos:                      # two on one line: not a line we know
                continue
            self._faults(text[pos:start])
            line = text[start:end]
            e = _EXEC.search(line)
            if e:
                self.execs.append((self.faults, int(e.group(3)) * 1_000_000_000
                                   + _frac_ns(e.group(4)), int(e.group(6)),
                                   e.group(5).decode("utf-8", "replace")))
            else:
                lost = _LOST.search(line)
                if lost:
                    self.lost += int(lost.group(1))
            pos = end
        self._faults(text[pos:])

    def _faults(self, text: bytes) -> None:
        found = _FAULT.findall(text)
        if not found:
            return
        a = np.array(found, dtype="S24")
        tid = a[:, 0].astype(np.int64)
        tg = a[:, 1]
        tgid = np.full(len(a), -1, np.int64)
        known = (np.char.str_len(tg) > 0) & ~np.char.startswith(tg, b"-")
        tgid[known] = tg[known].astype(np.int64)
        frac = np.char.ljust(a[:, 3], 9, b"0")
        t = a[:, 2].astype(np.int64) * 1_000_000_000 + frac.astype(np.int64)
        addr = np.array([int(x, 16) for x in a[:, 4].tolist()], np.uint64)
        err = np.array([int(x[-2:], 16) for x in a[:, 5].tolist()], np.int64)
        user = addr < np.uint64(USER_LIMIT)
        if not user.all():
            self.kernel_addresses += int((~user).sum())
        keep = np.flatnonzero(user)
        self._t.append(t[keep])
        self._tid.append(tid[keep].astype(np.int32))
        self._tgid.append(tgid[keep].astype(np.int32))
        self._vpn.append((addr[keep] >> np.uint64(12)).astype(np.int64))
        self._write.append((err[keep] & X86_PF_WRITE) != 0)
        self._fetch.append((err[keep] & X86_PF_INSTR) != 0)
        self.faults += len(keep)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every fault so far, in the order read: time_ns, tid, tgid, vpn, write, fetch."""
        def cat(parts, dtype):
            return np.concatenate(parts) if parts else np.zeros(0, dtype)
        out = {"time_ns": cat(self._t, np.int64), "tid": cat(self._tid, np.int32),
               "tgid": cat(self._tgid, np.int32), "vpn": cat(self._vpn, np.int64),
               "write": cat(self._write, bool), "fetch": cat(self._fetch, bool)}
        # keep one part, so a second call does not copy everything again
        self._t, self._tid, self._tgid = [out["time_ns"]], [out["tid"]], [out["tgid"]]
        self._vpn, self._write, self._fetch = [out["vpn"]], [out["write"]], [out["fetch"]]
        return out


class PipeReader:
    """Reads an instance's trace_pipe on a thread into an EventParser until stopped.

    ``drain()`` (after the events are disabled) reads what is left and stops."""

    CHUNK = 1 << 20

    def __init__(self, pipe: Path, parser: EventParser, on_exec=None) -> None:
        self.pipe = pipe
        self.parser = parser
        self.on_exec = on_exec
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._fd = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
        self._thread = threading.Thread(target=self._run, name="trace-pipe", daemon=True)

    def start(self) -> PipeReader:
        self._thread.start()
        return self

    def _read_some(self) -> bool:
        """One read; False when nothing was there."""
        try:
            data = os.read(self._fd, self.CHUNK)
        except BlockingIOError:
            return False
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EINTR):
                return False
            raise
        if not data:
            return False
        with self._lock:
            before = len(self.parser.execs)
            self.parser.feed(data)
            new = self.parser.execs[before:]
        if new and self.on_exec:
            for e in new:
                self.on_exec(e)
        return True

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._read_some():
                    self._stop.wait(0.02)
        except BaseException as e:       # reported by drain() in the main thread
            self.error = e

    def snapshot(self):
        """(faults so far, execs so far) under the reader's lock."""
        with self._lock:
            return self.parser.faults, list(self.parser.execs)

    def drain(self, quiet_s: float = 0.2, limit_s: float = 30.0) -> None:
        """Stop the thread, then read until trace_pipe has been empty for ``quiet_s``."""
        self._stop.set()
        self._thread.join()
        deadline = time.monotonic() + limit_s
        empty_since = time.monotonic()
        while time.monotonic() < deadline and self.error is None:
            try:
                if self._read_some():
                    empty_since = time.monotonic()
                elif time.monotonic() - empty_since > quiet_s:
                    break
                else:
                    time.sleep(0.01)
            except OSError as e:
                self.error = e
        with self._lock:
            self.parser.finish()
        if self.error is not None:
            err, self.error = self.error, None
            raise LiveError(f"{self.pipe}: reading the trace failed ({err})")

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
