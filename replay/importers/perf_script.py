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

A line is what the regular expressions ``_HEAD`` (and ``_ADDRESS``,
``_ERROR_CODE``, ``_FIRST_HEX``, ``_CALLCHAIN``) say it is, but they are applied
line by line only to lines of uncommon shapes. The others (fault and sample
lines, events without an address, call-chain and blank lines) are read by a byte
scanner in C (replay/scan/perf.c, no Python per line), 16 K lines at a time: it
follows the expressions' own order of trying, takes a line only where it can say
exactly what they make of it, and hands every other line back (``#`` lines, lines
that are not perf script, faults without their fields, numbers past 64 bits) to
``_slow_line``, so errors and their messages are the expressions' own;
``tests/test_perf_script_fast.py`` and ``tests/test_perf_script_scanner.py`` check
the result against the line-by-line parser (``tests/perf_reference.py``).
One pass reads the file; the accesses are spooled (21 bytes each) to a temporary
file beside the output until the metadata (events, processes) is known, then
written as the trace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from replay import _scan
from replay.atomic import final_path, remove_temp, temp_beside
from replay.errors import TraceError
from replay.importers._common import (
    BackgroundWriter,
    Source,
    iter_text_chunks,
    progress_bar,
    progress_wanted,
    source_name,
)
from replay.trace import (
    ASID_LIMIT,
    OP_READ,
    OP_WRITE,
    TraceMeta,
    TraceWriter,
    too_many_accesses,
)

FORMAT = "perf-script"
OPTIONS = frozenset({"pid"})

X86_PF_WRITE = 1 << 1
FAULT_EVENTS = ("exceptions:page_fault_user", "exceptions:page_fault_kernel")
KERNEL_HALF = 1 << 63
TIME_LIMIT = 1 << 63
WRITE_ROWS = 1 << 20               # accesses per write of the trace
PIECE_LINES = 1 << 14              # lines parsed at a time

# what a line is; replay/scan/perf.c reads lines exactly as these do (a change here is a
# change there: tests/test_perf_script_scanner.py compares the two byte by byte)
_HEAD = re.compile(
    r"^\s*(?:(?P<comm>.*?)\s+)?(?P<pid>\d+)(?:/(?P<tid>\d+))?\s+(?:\[\d+\]\s+)?"
    r"(?P<sec>\d+)\.(?P<frac>\d{1,9}):\s+(?:\d+\s+)?(?P<event>\S+?):(?:\s+(?P<rest>.*?))?\s*$")
_ADDRESS = re.compile(r"\baddress=(?:0x)?([0-9a-fA-F]+)\b")
_ERROR_CODE = re.compile(r"\berror_code=(?:0x)?([0-9a-fA-F]+)\b")
_FIRST_HEX = re.compile(r"^(?:0x)?([0-9a-fA-F]+)\b")
_CALLCHAIN = re.compile(r"^\s+[0-9a-fA-F]+\s")
_CMDLINE = re.compile(r"^# cmdline : (.*)$")


# ---------------------------------------------------------------- one chunk

@dataclass
class _Rows:
    """What the lines of a chunk say, by line index in the chunk (all arrays in line order).

    Accesses (``line``, ``pid``, ``time``, ``addr``, ``op``, ``event``), events without an
    address (``skip_line``, ``skip_event``), and problems (``bad_line``, ``bad_what``):
    a line that is not perf script, a fault without its fields, an address past 64 bits.
    ``big_time`` marks accesses whose time is 2^63 ns or more (``time`` is clipped).
    """

    line: np.ndarray
    pid: np.ndarray
    time: np.ndarray
    addr: np.ndarray
    op: np.ndarray
    event: np.ndarray
    big_time: np.ndarray
    skip_line: np.ndarray
    skip_event: np.ndarray
    bad_line: list[int] = field(default_factory=list)
    bad_what: list[str] = field(default_factory=list)


class _Events:
    """Event names and their codes, with what each name says (fault, store)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.codes: dict[str, int] = {}
        self.fault = np.zeros(0, bool)
        self.store = np.zeros(0, bool)

    def code(self, name: str) -> int:
        c = self.codes.get(name)
        if c is None:
            c = self.codes[name] = len(self.names)
            self.names.append(name)
            self.fault = np.append(self.fault, name in FAULT_EVENTS)
            self.store = np.append(self.store, "store" in name.lower())
        return c


# ---------------------------------------------------------------- the C scanner

EVENT_SLOTS = 256              # event names the scanner knows (lines of others: the slow way)
EVENT_BYTES = 128              # the longest name it knows (longer ones: the slow way)
_SCAN_DONE, _SCAN_SLOW, _SCAN_NEW_EVENT = 0, 1, 2       # replay/scan/perf.c's PF_*


class _EventTable:
    """The events as the scanner sees them: each code's name (zero-padded, its length in
    ``lens``, -1 for a name too long) and flags (bit 0: a fault event, bit 1: a store)."""

    def __init__(self) -> None:
        self.names = np.zeros((EVENT_SLOTS, EVENT_BYTES), np.uint8)
        self.lens = np.full(EVENT_SLOTS, -1, np.int64)
        self.flags = np.zeros(EVENT_SLOTS, np.uint8)
        self.count = 0

    def sync(self, events: _Events) -> None:
        """Add the events named since the last sync."""
        n = min(len(events.names), EVENT_SLOTS)
        for c in range(self.count, n):
            name = events.names[c].encode("latin-1")
            if len(name) <= EVENT_BYTES:
                self.names[c, :len(name)] = np.frombuffer(name, np.uint8)
                self.lens[c] = len(name)
            self.flags[c] = int(events.fault[c]) | int(events.store[c]) << 1
        self.count = n


class _Out:
    """The scanner's rows for one piece: accesses, and events without an address."""

    def __init__(self, rows: int) -> None:
        self.line = np.empty(rows, np.int64)
        self.pid = np.empty(rows, np.int64)
        self.time = np.empty(rows, np.int64)
        self.addr = np.empty(rows, np.uint64)
        self.op = np.empty(rows, np.uint8)
        self.event = np.empty(rows, np.int64)
        self.skip_line = np.empty(rows, np.int64)
        self.skip_event = np.empty(rows, np.int64)


def _scan_piece(data: np.ndarray, pos: int, end: int, events: _Events, table: _EventTable,
                out: _Out, st: _State) -> tuple[int, int, _Rows]:
    """Read up to PIECE_LINES lines of ``data[pos:end]`` (whole lines): (where the next
    piece starts, the lines read, their rows by line index in the piece).

    The C scanner reads the lines it can say exactly what the regular expressions make
    of; it stops at a line whose event it does not know yet (named here, then it reads
    the line) and at any other line (read here by ``_slow_line``). A bad line ends the
    piece: ``_apply`` raises the first problem in line order.
    """
    n = ns = lines = 0
    acc: list[tuple] = []
    skip: list[tuple[int, int]] = []
    bad_line: list[int] = []
    bad_what: list[str] = []
    while lines < PIECE_LINES and pos < end:
        if table.count < min(len(events.names), EVENT_SLOTS):
            table.sync(events)
        pos, n, ns, done, status, a, b = _scan.perf(
            data, pos, end, PIECE_LINES - lines, lines, table.names, table.lens,
            table.flags, table.count, out.line, out.pid, out.time, out.addr, out.op,
            out.event, n, out.skip_line, out.skip_event, ns)
        lines += done
        if status == _SCAN_NEW_EVENT:
            known = len(events.names)
            events.code(data[a:b].tobytes().decode("latin-1"))
            if len(events.names) == known:        # it would stop at the line again
                raise RuntimeError("perf script scanner: an event it knows came back as new")
        elif status == _SCAN_SLOW:
            got = _slow_line(data[a:b].tobytes().decode("latin-1"), events, st)
            if got is not None:
                if got[0] == "acc":
                    acc.append((lines, *got[1:]))
                elif got[0] == "skip":
                    skip.append((lines, got[1]))
                else:
                    bad_line.append(lines)
                    bad_what.append(got[1])
            pos = b + 1
            lines += 1
            if bad_line:
                break
    rows = _Rows(line=out.line[:n], pid=out.pid[:n], time=out.time[:n], addr=out.addr[:n],
                 op=out.op[:n], event=out.event[:n], big_time=np.zeros(n, bool),
                 skip_line=out.skip_line[:ns], skip_event=out.skip_event[:ns],
                 bad_line=bad_line, bad_what=bad_what)
    return pos, lines, _with_slow_lines(rows, acc, skip, st)


# ---------------------------------------------------------------- the slow way


def _slow_line(text: str, events: _Events, st: _State) -> tuple | None:
    """One line by the regular expressions: ("acc", pid, time, addr, op, event),
    ("skip", event), ("bad", what), or None (a line to skip)."""
    if not text.strip():
        return None
    m = _HEAD.match(text)
    if m is None:
        if text.lstrip().startswith("#"):
            c = _CMDLINE.match(text.strip())
            if c:
                cmd = c.group(1).strip()
                st.command = cmd.split(" -- ", 1)[1] if " -- " in cmd else cmd
            return None
        if _CALLCHAIN.match(text):
            return None
        return ("bad", f"not a perf script sample line: {text.strip()[:60]!r}")
    event = m.group("event")
    rest = m.group("rest") or ""
    if event in FAULT_EVENTS:
        am = _ADDRESS.search(rest)
        em = _ERROR_CODE.search(rest)
        if am is None or em is None:
            return ("bad", f"{event} without address= and error_code=")
        addr_text = am.group(1)
        op = OP_WRITE if int(em.group(1)[-8:], 16) & X86_PF_WRITE else OP_READ
    else:
        hm = _FIRST_HEX.match(rest)
        if hm is None:
            return ("skip", events.code(event))
        addr_text = hm.group(1)
        op = OP_WRITE if "store" in event.lower() else OP_READ
    if len(addr_text.lstrip("0")) > 16:
        return ("bad", f"address 0x{addr_text[:24]} does not fit in 64 bits")
    time_ns = int(m.group("sec")) * 1_000_000_000 + int((m.group("frac") + "00000000")[:9])
    return ("acc", int(m.group("pid")), time_ns, int(addr_text, 16), op, events.code(event))


def _with_slow_lines(rows: _Rows, acc: list[tuple], skip: list[tuple[int, int]],
                     st: _State) -> _Rows:
    """Add what the regular expressions made of the lines the scanner left (``acc``:
    (line, pid, time, addr, op, event); ``skip``: (line, event)), in line order."""
    if acc:
        line = np.array([a[0] for a in acc], np.int64)
        times = [a[2] for a in acc]
        pid = np.array([st.pid_key(a[1]) for a in acc], np.int64)
        big = np.array([t >= TIME_LIMIT for t in times], bool)
        time = np.array([min(t, TIME_LIMIT - 1) for t in times], np.int64)
        addr = np.array([a[3] for a in acc], np.uint64)
        op = np.array([a[4] for a in acc], np.uint8)
        ev = np.array([a[5] for a in acc], np.int64)
        order = np.argsort(np.r_[rows.line, line], kind="stable")
        rows.line = np.r_[rows.line, line][order]
        rows.pid = np.r_[rows.pid, pid][order]
        rows.time = np.r_[rows.time, time][order]
        rows.addr = np.r_[rows.addr, addr][order]
        rows.op = np.r_[rows.op, op][order]
        rows.event = np.r_[rows.event, ev][order]
        rows.big_time = np.r_[rows.big_time, big][order]
    if skip:
        line = np.array([s[0] for s in skip], np.int64)
        order = np.argsort(np.r_[rows.skip_line, line], kind="stable")
        rows.skip_line = np.r_[rows.skip_line, line][order]
        rows.skip_event = np.r_[rows.skip_event, np.array([s[1] for s in skip], np.int64)][order]
    return rows


# ---------------------------------------------------------------- the file


@dataclass
class _State:
    """What one pass over the file has learnt."""

    keep: set[int] | None
    pids: dict[int, int] = field(default_factory=dict)      # pid -> asid
    pid_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pid_asids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # a pid of 2^62 or more (only ever seen in made-up files) is kept as a negative
    # stand-in, so that every pid fits in an int64 array
    stand_in: dict[int, int] = field(default_factory=dict)  # pid -> stand-in
    real_pid: dict[int, int] = field(default_factory=dict)  # stand-in -> pid
    last_time: int = -1
    kernel_addresses: int = 0
    event_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    skipped_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    command: str = ""
    rows: int = 0

    def pid_key(self, pid: int) -> int:
        if pid < 1 << 62:
            return pid
        if pid not in self.stand_in:
            key = -1 - len(self.stand_in)
            self.stand_in[pid], self.real_pid[key] = key, pid
        return self.stand_in[pid]

    def kept(self, keys: np.ndarray) -> np.ndarray:
        """Which pid keys --pid keeps (all without --pid)."""
        if self.keep is None:
            return np.ones(len(keys), bool)
        small = np.array(sorted(p for p in self.keep if 0 <= p < 1 << 62), np.int64)
        big = np.array(sorted(self.stand_in[p] for p in self.keep if p in self.stand_in),
                       np.int64)
        return np.isin(keys, small) | np.isin(keys, big)


def _apply(rows: _Rows, first_line: int, st: _State, events: _Events, src: Path
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The chunk's accesses in order, checked as the line-by-line reading checked them:
    the first problem in line order (a bad line, time going backwards or past 2^63 ns,
    too many processes) is the error, naming its line. The columns returned may be the
    rows' own (when every row is kept), valid until the next piece is read."""
    # the rows --pid keeps (None: all of them, the columns are taken as they are)
    kept = None if st.keep is None else st.kept(rows.pid)
    t = rows.time if kept is None else rows.time[kept]
    kl = rows.line if kept is None else rows.line[kept]
    # (line, rank, what): the first line's problem; on one line, what the line-by-line
    # reading checked first
    problems: list[tuple[int, int, str]] = [(b, 0, w) for b, w in
                                            zip(rows.bad_line, rows.bad_what)]
    if len(t):
        if t[0] < st.last_time:
            back = 0
        else:
            later = np.flatnonzero(t[1:] < t[:-1])
            back = int(later[0]) + 1 if len(later) else -1
        if back >= 0:
            prev = st.last_time if back == 0 else int(t[back - 1])
            what = f"time goes backwards ({int(t[back])} ns after {prev} ns)"
            problems.append((int(kl[back]), 1, what))
        big = np.flatnonzero(rows.big_time if kept is None else rows.big_time[kept])
        if len(big):
            problems.append((int(kl[big[0]]), 2, "time overflows 64-bit nanoseconds"))
    user = rows.addr < np.uint64(KERNEL_HALF)
    if kept is not None:
        user &= kept
    every = bool(user.all())

    def users(col: np.ndarray) -> np.ndarray:
        return col if every else col[user]

    # processes in order of appearance
    upid = users(rows.pid)
    new = None                          # pids not seen before, if any
    if len(upid):
        keys = st.pid_keys
        at = np.searchsorted(keys, upid)
        if len(keys) and (keys[np.minimum(at, len(keys) - 1)] == upid).all():
            asid = st.pid_asids[at].astype(np.int32)        # every pid known: the rule
        else:
            unknown = np.flatnonzero(~np.isin(upid, keys))   # few known pids: cheap
            uniq, first = np.unique(upid[unknown], return_index=True)
            order = np.argsort(first, kind="stable")
            new = uniq[order]
            new_first = unknown[first[order]]
            if len(st.pids) + len(new) > ASID_LIMIT:
                j = ASID_LIMIT - len(st.pids)
                what = (f"address space id {ASID_LIMIT} is outside 0..2^20-1 (more than "
                        "2^20 processes)")
                problems.append((int(users(rows.line)[new_first[j]]), 3, what))
    else:
        asid = np.zeros(0, np.int32)
    if problems:
        line, _, what = min(problems)
        raise TraceError(what, path=src, fmt=FORMAT, line=first_line + line)
    if len(t):
        st.last_time = int(t[-1])
    st.kernel_addresses += len(t) - len(upid)
    if new is not None:
        for p in new.tolist():
            st.pids[st.real_pid.get(p, p)] = len(st.pids)
        st.pid_keys = np.r_[st.pid_keys, new]
        st.pid_asids = np.r_[st.pid_asids, np.arange(len(st.pids) - len(new), len(st.pids))]
        order = np.argsort(st.pid_keys)
        st.pid_keys, st.pid_asids = st.pid_keys[order], st.pid_asids[order]
        asid = st.pid_asids[np.searchsorted(st.pid_keys, upid)].astype(np.int32)
    n_ev = len(events.names)
    if len(st.event_counts) < n_ev:
        st.event_counts = np.r_[st.event_counts,
                                np.zeros(n_ev - len(st.event_counts), np.int64)]
        st.skipped_counts = np.r_[st.skipped_counts,
                                  np.zeros(n_ev - len(st.skipped_counts), np.int64)]
    st.event_counts += np.bincount(users(rows.event), minlength=n_ev)
    st.skipped_counts += np.bincount(rows.skip_event.astype(np.int64), minlength=n_ev)
    # page numbers are below 2^52: the same bits as int64
    return (users(rows.time), (users(rows.addr) >> np.uint64(12)).view(np.int64),
            users(rows.op), asid)


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


SPOOL = np.dtype([("t", "<i8"), ("v", "<i8"), ("o", "u1"), ("a", "<i4")])


def _read_pass(src: Path, st: _State, events: _Events, spool, update, limit: int | None
               ) -> None:
    """Read the whole file once: accesses go to the spool file, facts to ``st``."""
    first_line = 1
    table = _EventTable()
    out = _Out(PIECE_LINES)
    with Source(src, FORMAT) as source:
        for chunk in iter_text_chunks(source, on_progress=update, count_lines=False):
            # pieces of PIECE_LINES lines: the rows of a piece stay in the CPU's cache
            data = chunk.data
            pos, end = 0, len(data)
            while pos < end:
                pos, lines, rows = _scan_piece(data, pos, end, events, table, out, st)
                t, v, o, a = _apply(rows, first_line, st, events, src)
                first_line += lines
                if len(t):
                    if limit is not None and st.rows + len(t) > limit:
                        raise too_many_accesses(limit, src, FORMAT)
                    rec = np.empty(len(t), SPOOL)
                    rec["t"], rec["v"], rec["o"], rec["a"] = t, v, o, a
                    rec.tofile(spool)
                    st.rows += len(t)


def import_trace(src: Path, out: Path, opts: dict) -> None:
    keep = set(opts["pid"]) if opts.get("pid") else None
    limit = opts.get("max_accesses")
    size = src.stat().st_size
    show = progress_wanted(opts.get("progress"), size)
    st = _State(keep)
    events = _Events()
    # the metadata (events, processes) must be known when the trace is opened for
    # writing: one pass reads the file and spools the accesses beside the output
    spool_path = temp_beside(final_path(out))
    try:
        with open(spool_path, "wb") as spool, \
                progress_bar(f"perf script {src.name}", size, show) as update:
            _read_pass(src, st, events, spool, update, limit)
        counts = dict(zip(events.names, st.event_counts.tolist()))
        seen = {e: n for e, n in counts.items() if n}
        skipped = {e: n for e, n in zip(events.names, st.skipped_counts.tolist()) if n}
        if not seen:
            if skipped:
                names = ", ".join(sorted(skipped))
                raise TraceError(f"no accesses: events {names} carry no address (record "
                                 "exceptions:page_fault_user, or print samples with "
                                 "perf script -F comm,pid,tid,time,event,addr)",
                                 path=src, fmt=FORMAT)
            raise TraceError("no accesses found", path=src, fmt=FORMAT)
        meta = TraceMeta(
            source_format=FORMAT, source_file=source_name(src),
            recorder="perf record + perf script (" + ", ".join(sorted(seen)) + ")",
            command=opts.get("command") or st.command,
            licence=opts.get("licence") or "",
            description=opts.get("description") or
            ("page faults" if any(e in FAULT_EVENTS or "fault" in e for e in seen)
             else "sampled data addresses") + f" of {len(st.pids)} process(es) seen by perf"
            + (f" running {st.command}" if st.command else ""), sampled=True,
            sampling=_sampling_text(seen), time_source="recorded",
            extra={"pids": list(st.pids), "events": seen, "skipped_events": skipped,
                   "skipped_kernel_addresses": st.kernel_addresses})
        with TraceWriter(out, meta, source=src, fmt=FORMAT, max_rows=limit) as trace_writer, \
                BackgroundWriter(trace_writer) as writer:
            for start in range(0, st.rows, WRITE_ROWS):
                rec = np.fromfile(spool_path, SPOOL, count=min(WRITE_ROWS, st.rows - start),
                                  offset=start * SPOOL.itemsize)
                writer.write(rec["t"], rec["v"], rec["o"], rec["a"])
    finally:
        remove_temp(spool_path)
