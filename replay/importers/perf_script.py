"""``perf script`` text -> page accesses (sampled: faults or address samples, not every access).

Two kinds of events are understood:

- page-fault tracepoints, ``perf record -e exceptions:page_fault_user`` (and
  ``exceptions:page_fault_kernel``, a kernel access to user memory)::

      prog  4469 [000]   425.429090: exceptions:page_fault_user: address=0x7f13d34fce06 ip=0x7f13d34e47ad error_code=0x6

  the page of ``address``; a write when ``error_code`` has bit 1 (X86_PF_WRITE).
- samples with a data address (``perf mem record``, ``perf record -d -e
  page-faults`` ...), printed with the address field:
  ``perf script -F comm,pid,tid,time,event,addr``; the first hex number after
  the event name is the address; the event is a write when its name says
  "store", else a read.

Time is perf's timestamp column (seconds, micro or nano; exact), which must
not go backwards. The address space is the process: ``pid/tid`` gives the pid,
a lone number is taken as the pid (perf prints the tid when only ``tid`` is
asked for: print ``pid,tid`` for threaded programs). Processes get asids 0, 1,
... in order of appearance (meta.extra["pids"]). Kernel addresses (top bit
set), blank, ``#`` header and call-chain lines are skipped; other events
without an address are counted in meta.extra and skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from replay.errors import TraceError
from replay.importers._common import (
    BackgroundWriter,
    Source,
    iter_text_chunks,
    progress_bar,
    progress_wanted,
    source_name,
)
from replay.trace import OP_READ, OP_WRITE, TraceMeta, TraceWriter

FORMAT = "perf-script"
OPTIONS = frozenset({"pid"})

X86_PF_WRITE = 1 << 1
FAULT_EVENTS = ("exceptions:page_fault_user", "exceptions:page_fault_kernel")
KERNEL_HALF = 1 << 63
FLUSH_ROWS = 1 << 20

_HEAD = re.compile(
    r"^\s*(?:(?P<comm>.*?)\s+)?(?P<pid>\d+)(?:/(?P<tid>\d+))?\s+(?:\[\d+\]\s+)?"
    r"(?P<sec>\d+)\.(?P<frac>\d{1,9}):\s+(?:\d+\s+)?(?P<event>\S+?):(?:\s+(?P<rest>.*?))?\s*$")
_ADDRESS = re.compile(r"\baddress=(?:0x)?([0-9a-fA-F]+)\b")
_ERROR_CODE = re.compile(r"\berror_code=(?:0x)?([0-9a-fA-F]+)\b")
_FIRST_HEX = re.compile(r"^(?:0x)?([0-9a-fA-F]+)\b")
_CALLCHAIN = re.compile(r"^\s+[0-9a-fA-F]+\s")
_CMDLINE = re.compile(r"^# cmdline : (.*)$")


class _State:
    def __init__(self) -> None:
        self.pids: dict[int, int] = {}
        self.last_time = -1
        self.skipped_events: dict[str, int] = {}
        self.kernel_addresses = 0
        self.events: dict[str, int] = {}
        self.command = ""
        self.t: list[int] = []
        self.v: list[int] = []
        self.o: list[int] = []
        self.a: list[int] = []
        self.lines: list[int] = []


def _parse_lines(text: str, first_line: int, st: _State, keep_pids: set[int] | None,
                 src: Path) -> None:
    for k, line in enumerate(text.split("\n")):
        if not line.strip():
            continue
        lineno = first_line + k
        m = _HEAD.match(line)
        if m is None:
            if line.lstrip().startswith("#"):
                c = _CMDLINE.match(line.strip())
                if c:
                    cmd = c.group(1).strip()
                    st.command = cmd.split(" -- ", 1)[1] if " -- " in cmd else cmd
                continue
            if _CALLCHAIN.match(line):
                continue
            raise TraceError(f"not a perf script sample line: {line.strip()[:60]!r}",
                             path=src, fmt=FORMAT, line=lineno)
        event = m.group("event")
        rest = m.group("rest") or ""
        if event in FAULT_EVENTS:
            am = _ADDRESS.search(rest)
            em = _ERROR_CODE.search(rest)
            if am is None or em is None:
                raise TraceError(f"{event} without address= and error_code=",
                                 path=src, fmt=FORMAT, line=lineno)
            addr_text = am.group(1)
            op = OP_WRITE if int(em.group(1)[-8:], 16) & X86_PF_WRITE else OP_READ
        else:
            hm = _FIRST_HEX.match(rest)
            if hm is None:
                st.skipped_events[event] = st.skipped_events.get(event, 0) + 1
                continue
            addr_text = hm.group(1)
            op = OP_WRITE if "store" in event.lower() else OP_READ
        if len(addr_text.lstrip("0")) > 16:
            raise TraceError(f"address 0x{addr_text[:24]} does not fit in 64 bits",
                             path=src, fmt=FORMAT, line=lineno)
        addr = int(addr_text, 16)
        pid = int(m.group("pid"))
        if keep_pids is not None and pid not in keep_pids:
            continue
        time_ns = int(m.group("sec")) * 1_000_000_000 + int((m.group("frac") + "00000000")[:9])
        if time_ns < st.last_time:
            raise TraceError(f"time goes backwards ({time_ns} ns after {st.last_time} ns)",
                             path=src, fmt=FORMAT, line=lineno)
        if time_ns >= 1 << 63:
            raise TraceError("time overflows 64-bit nanoseconds", path=src, fmt=FORMAT,
                             line=lineno)
        st.last_time = time_ns
        if addr >= KERNEL_HALF:
            st.kernel_addresses += 1
            continue
        asid = st.pids.setdefault(pid, len(st.pids))
        st.events[event] = st.events.get(event, 0) + 1
        st.t.append(time_ns)
        st.v.append(addr >> 12)
        st.o.append(op)
        st.a.append(asid)
        st.lines.append(lineno)


def _flush(st: _State, writer) -> None:
    if not st.t:
        return
    writer.write(np.array(st.t, np.int64), np.array(st.v, np.int64), np.array(st.o, np.uint8),
                 np.array(st.a, np.int32), lines=np.array(st.lines, np.int64))
    st.t, st.v, st.o, st.a, st.lines = [], [], [], [], []


def _sampling_text(events: dict[str, int]) -> str:
    faults = sum(n for e, n in events.items() if e in FAULT_EVENTS or "fault" in e)
    samples = sum(events.values()) - faults
    parts = []
    if faults:
        parts.append("page faults only: an access appears when it faulted (first touch, "
                      "copy-on-write, swap-in, NUMA hinting); accesses to resident pages are "
                      "missing")
    if samples:
        parts.append("sampled memory accesses (1 in the sampling period of the event); "
                     "most accesses are missing")
    return "; ".join(parts) or "perf events"


def _pass(src: Path, st: _State, keep: set[int] | None, writer, update) -> None:
    """One pass over the file; rows go to ``writer`` (None: only learn the metadata)."""
    with Source(src, FORMAT) as source:
        for chunk in iter_text_chunks(source, on_progress=update):
            _parse_lines(chunk.data.tobytes().decode("latin-1"), chunk.first_line, st,
                         keep, src)
            if writer is None:
                st.t, st.v, st.o, st.a, st.lines = [], [], [], [], []
            elif len(st.t) >= FLUSH_ROWS:
                _flush(st, writer)
        if writer is not None:
            _flush(st, writer)


def import_trace(src: Path, out: Path, opts: dict) -> None:
    keep = set(opts["pid"]) if opts.get("pid") else None
    size = src.stat().st_size
    show = progress_wanted(opts.get("progress"), size)
    # the metadata (events, processes) must be known when the trace is opened for
    # writing: a first pass learns it, the second writes the accesses
    first = _State()
    with progress_bar(f"perf script {src.name} (1/2)", size, show) as update:
        _pass(src, first, keep, None, update)
    if not first.events:
        if first.skipped_events:
            names = ", ".join(sorted(first.skipped_events))
            raise TraceError(f"no accesses: events {names} carry no address (record "
                             "exceptions:page_fault_user, or print samples with "
                             "perf script -F comm,pid,tid,time,event,addr)",
                             path=src, fmt=FORMAT)
        raise TraceError("no accesses found", path=src, fmt=FORMAT)
    meta = TraceMeta(
        source_format=FORMAT, source_file=source_name(src),
        recorder="perf record + perf script (" + ", ".join(sorted(first.events)) + ")",
        command=opts.get("command") or first.command,
        licence=opts.get("licence") or "",
        description=opts.get("description") or
        ("page faults" if any(e in FAULT_EVENTS or "fault" in e for e in first.events)
         else "sampled data addresses") + f" of {len(first.pids)} process(es) seen by perf"
        + (f" running {first.command}" if first.command else ""), sampled=True,
        sampling=_sampling_text(first.events), time_source="recorded",
        extra={"pids": list(first.pids), "events": first.events,
               "skipped_events": first.skipped_events,
               "skipped_kernel_addresses": first.kernel_addresses})
    with progress_bar(f"perf script {src.name} (2/2)", size, show) as update, \
            TraceWriter(out, meta, source=src, fmt=FORMAT,
                        max_rows=opts.get("max_accesses")) as trace_writer, \
            BackgroundWriter(trace_writer) as writer:
        _pass(src, _State(), keep, writer, update)
