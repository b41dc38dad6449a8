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
line by line only to lines of uncommon shapes. The common ones (fault and sample
lines, call-chain lines, empty lines) are parsed with numpy over whole chunks
(``_fast_chunk``; no Python per line): a line whose head (pid .. event) and rest
have, byte for byte but for digits, the shape of a line the expressions already
parsed is read at that line's offsets (``_by_templates``; a perf file has a
handful of shapes), others field by field (``_by_fields``); each way takes a line
only where its shape leaves no doubt about what the expressions make of it, and
``tests/test_perf_script_fast.py`` checks that against the line-by-line parser.
One pass reads the file; the accesses are spooled (21 bytes each) to a temporary
file beside the output until the metadata (events, processes) is known, then
written as the trace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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

_HEAD = re.compile(
    r"^\s*(?:(?P<comm>.*?)\s+)?(?P<pid>\d+)(?:/(?P<tid>\d+))?\s+(?:\[\d+\]\s+)?"
    r"(?P<sec>\d+)\.(?P<frac>\d{1,9}):\s+(?:\d+\s+)?(?P<event>\S+?):(?:\s+(?P<rest>.*?))?\s*$")
_ADDRESS = re.compile(r"\baddress=(?:0x)?([0-9a-fA-F]+)\b")
_ERROR_CODE = re.compile(r"\berror_code=(?:0x)?([0-9a-fA-F]+)\b")
_FIRST_HEX = re.compile(r"^(?:0x)?([0-9a-fA-F]+)\b")
_CALLCHAIN = re.compile(r"^\s+[0-9a-fA-F]+\s")
_CMDLINE = re.compile(r"^# cmdline : (.*)$")

_MAX_EVENT = 64                      # longest event name the fast path takes
_ADDR_PREFIX = np.frombuffer(b"address=0x", np.uint8)
_IP_PREFIX = np.frombuffer(b"ip=0x", np.uint8)
_ERR_PREFIX = np.frombuffer(b"error_code=0x", np.uint8)
_SPACE, _COLON, _DOT, _LBRACK, _RBRACK, _SLASH, _NL = (ord(c) for c in " :.[]/\n")


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


_PAD = 96                            # widest window the fast path looks at


class _Bytes:
    """The chunk as a sliding window of _PAD bytes: a window of up to _PAD bytes at each
    of n positions is one fancy-indexing copy. Before the chunk are _PAD zero bytes
    (``base``: the chunk's buffer, the chunk at ``offset``, with at least _PAD bytes of
    room after it; else a padded copy is made); after it, whatever the buffer holds."""

    def __init__(self, data: np.ndarray, base: np.ndarray | None = None,
                 offset: int = 0) -> None:
        if base is None or offset < _PAD or len(base) < offset + len(data) + _PAD:
            base = np.zeros(len(data) + 2 * _PAD, np.uint8)
            base[_PAD:_PAD + len(data)] = data
            offset = _PAD
        self.offset = offset
        self.win = np.lib.stride_tricks.sliding_window_view(base, _PAD)

    def at(self, start: np.ndarray, width: int) -> np.ndarray:
        """data[start[i]:start[i] + width] as an (n, width) matrix (0 before data)."""
        return self.win[start + self.offset, :width]

    def before(self, end: np.ndarray, width: int) -> np.ndarray:
        """data[end[i] - width:end[i]], the last column nearest ``end``."""
        return self.win[end + self.offset - width, :width]


def _is_digit(m: np.ndarray) -> np.ndarray:
    return (m - np.uint8(48)) <= 9            # uint8 arithmetic wraps below '0'


def _hex_digits(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, is a hex digit) of each byte."""
    d = m - np.uint8(48)
    lo = (m | np.uint8(0x20)) - np.uint8(97)           # a-f and A-F alike
    is_d, is_l = d <= 9, lo <= 5
    return np.where(is_d, d, lo + np.uint8(10)), is_d | is_l


def _first(mask: np.ndarray) -> np.ndarray:
    """Index of the first True of each row, or the row length when there is none."""
    idx = mask.argmax(axis=1)
    return np.where(mask[np.arange(len(idx)), idx], idx, mask.shape[1])


def _pick(mat: np.ndarray, col: np.ndarray) -> np.ndarray:
    """mat[i, col[i]] (col clipped to the matrix)."""
    return mat[np.arange(len(col)), np.minimum(col, mat.shape[1] - 1)]


_POW10 = 10 ** np.arange(8, -1, -1, dtype=np.int64)              # 10^8 .. 10^0
_SHIFT16 = (4 * np.arange(15, -1, -1)).astype(np.uint64)         # nibble shifts
_COLS9 = np.arange(9, dtype=np.int64)[None, :]
_COLS16 = np.arange(16, dtype=np.int64)[None, :]


def _dec(b: _Bytes, end: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Value of the ``length`` (1..9) decimal digits before ``end`` (already checked)."""
    m = b.before(end, 9).astype(np.int64) - 48
    live = _COLS9 >= (9 - length)[:, None]
    return (np.where(live, m, 0) * _POW10).sum(axis=1)


def _hex_token(b: _Bytes, start: np.ndarray, end: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """(value, ok) of data[start:end] as 1..16 hex digits."""
    length = end - start
    val, is_hex = _hex_digits(b.before(end, 16))
    live = _COLS16 >= (16 - length)[:, None]
    ok = (length >= 1) & (length <= 16) & ~(live & ~is_hex).any(axis=1)
    v = np.where(live, val, np.uint8(0)).astype(np.uint64)
    return (v << _SHIFT16).sum(axis=1, dtype=np.uint64), ok


@dataclass
class _Anchors:
    """Where a chunk's lines are, and each candidate sample line's two colons."""

    data: np.ndarray
    b: _Bytes
    nl: np.ndarray               # newline of each line
    line_start: np.ndarray
    slow: np.ndarray             # per line: left to the regular expressions
    T: np.ndarray                # per candidate line: the time's colon
    E: np.ndarray                # the event's colon
    line: np.ndarray             # the candidate's line

    @staticmethod
    def white(m: np.ndarray) -> np.ndarray:
        """Bytes that are whitespace to ``re``'s \\s and str.strip (latin-1 text)."""
        return (m <= 32) | (m == 0x85) | (m == 0xA0)


def _anchors(data: np.ndarray, base: np.ndarray | None = None, offset: int = 0,
             nl: np.ndarray | None = None) -> _Anchors:
    """The lines and, for each line with one, its time colon T (its first ``:`` that
    follows a digit and is followed by a space) and event colon E (the next ``:``
    followed by a space, in the same line). A line with a colon followed by other
    whitespace is left to the regular expressions."""
    b = _Bytes(data, base, offset)
    if nl is None:
        nl = np.flatnonzero(data == _NL)
    line_start = np.r_[0, nl[:-1] + 1]
    slow = np.zeros(len(nl), bool)
    colon = np.flatnonzero(data == _COLON)
    nxt = data[colon + 1]                                   # data ends with a newline
    prv = data[np.maximum(colon - 1, 0)]
    odd = ((nxt < 32) & (nxt != _NL)) | (nxt == 0x85) | (nxt == 0xA0)
    slow[np.searchsorted(nl, colon[odd])] = True
    is_sp = nxt == _SPACE
    csp = colon[is_sp]                                       # colons followed by a space
    timey = np.flatnonzero(_is_digit(prv[is_sp]))            # indices into csp
    tc_line = np.searchsorted(nl, csp[timey])
    first = np.r_[True, tc_line[1:] != tc_line[:-1]] if len(timey) else np.zeros(0, bool)
    k, line = timey[first], tc_line[first]
    T = csp[k]
    if len(csp):
        E = csp[np.minimum(k + 1, len(csp) - 1)]             # the next one, if in the line
        good = (k + 1 < len(csp)) & (E < nl[line]) & ~slow[line]
    else:
        E, good = T, np.zeros(len(T), bool)
    slow[line[~good]] = True
    return _Anchors(data, b, nl, line_start, slow, T[good], E[good], line[good])


@dataclass
class _Parsed:
    """What the fast path made of each candidate line (arrays over the candidates)."""

    ok: np.ndarray
    pid: np.ndarray
    time: np.ndarray
    code: np.ndarray
    addr: np.ndarray
    op: np.ndarray
    skipped: np.ndarray

    @classmethod
    def empty(cls, n: int) -> _Parsed:
        return cls(np.zeros(n, bool), np.zeros(n, np.int64), np.zeros(n, np.int64),
                   np.full(n, -1, np.int64), np.zeros(n, np.uint64), np.zeros(n, np.uint8),
                   np.zeros(n, bool))


def _fast_chunk(data: np.ndarray, events: _Events, base: np.ndarray | None = None,
                offset: int = 0, nl: np.ndarray | None = None) -> tuple[_Rows, np.ndarray]:
    """Parse the common lines of a chunk (whole lines, ending with a newline) with numpy.

    Returns the rows of those lines and the indices of the lines left to the regular
    expressions (``_slow_line``). Lines whose pieces have the very shape of a line
    already parsed are read at fixed offsets (``_by_templates``); the others field by
    field (``_by_fields``); the rest by the regular expressions. Lines without a time
    colon are empty or call-chain lines, or go the slow way.
    """
    a = _anchors(data, base, offset, nl)
    n = len(a.T)
    res = _Parsed.empty(n)
    done = _by_templates(a, events, res)
    _by_fields(a, np.flatnonzero(~done), events, res)
    slow = a.slow
    slow[a.line[~res.ok]] = True
    keep = res.ok & ~slow[a.line]
    acc = keep & ~res.skipped
    skip = keep & res.skipped

    # lines without a time colon: empty, call chains, or the slow way
    b = a.b
    has_time = np.zeros(len(a.nl), bool)
    has_time[a.line] = True
    other = np.flatnonzero(~has_time & ~slow)
    o = other[a.line_start[other] != a.nl[other]]            # not empty
    m = b.at(a.line_start[o], 40)
    h0 = _first((m != _SPACE) & (m != 9))
    m = b.at(a.line_start[o] + h0, 24)
    h1 = _first(~_hex_digits(m)[1])
    after = _pick(m, h1)
    chain = (h0 >= 1) & (h0 < 40) & (h1 >= 1) & (h1 < 24) & ((after == _SPACE) | (after == 9))
    slow[o[~chain]] = True

    na = int(acc.sum())
    rows = _Rows(line=a.line[acc], pid=res.pid[acc], time=res.time[acc], addr=res.addr[acc],
                 op=res.op[acc], event=res.code[acc], big_time=np.zeros(na, bool),
                 skip_line=a.line[skip], skip_event=res.code[skip])
    return rows, np.flatnonzero(slow)


# ---------------------------------------------------------------- by templates

_MAX_TEMPLATES = 12          # per piece and chunk; lines of other shapes go field by field
_HL, _HW = 47, 88            # the head window: _HL bytes before T, _HW bytes in all
_FW = 64                     # the fault-rest window


class _Template:
    """A piece of a line (a window at a fixed place from an anchor, a multiple of eight
    bytes wide) that other lines' pieces are compared with: the template's bytes at
    ``exact`` columns, a decimal digit at ``digits`` columns, a hex digit at ``hexes``
    columns, anything elsewhere.

    Compared eight bytes at a time, only the words with something to check: bytes equal
    under a mask, which for a digit is its high nibble (3); then a digit's low nibble
    plus 6 must not carry; hex digits byte by byte.
    """

    def __init__(self, window: np.ndarray, exact: np.ndarray, digits: np.ndarray,
                 hexes: np.ndarray | None = None) -> None:
        def word(bytemask: np.ndarray, byte: int) -> np.ndarray:
            return np.where(bytemask, byte, 0).astype(np.uint8).view(np.uint64)
        hexes = np.zeros(len(exact), bool) if hexes is None else hexes
        used = np.flatnonzero((exact | digits | hexes).reshape(-1, 8).any(axis=1))
        self.w0, self.w1 = int(used[0]), int(used[-1]) + 1      # the words looked at
        sl = slice(self.w0, self.w1)
        row = np.ascontiguousarray(window)
        self.emask = (word(exact, 0xFF) | word(digits, 0xF0))[sl]
        self.epat = (row.view(np.uint64) & word(exact, 0xFF) | word(digits, 0x30))[sl]
        self.dlo = word(digits, 0x0F)[sl]
        self.dlo_add = word(digits, 0x06)[sl]
        self.dlo_carry = word(digits, 0x10)[sl]
        self.any_digits = bool(digits.any())
        hw = np.flatnonzero(hexes.reshape(-1, 8).any(axis=1))
        if len(hw):
            self.h0, self.h1 = int(hw[0]), int(hw[-1]) + 1
            self.hmask = word(hexes, 0x80)[self.h0:self.h1]
        else:
            self.hmask = None

    def matches(self, windows: np.ndarray) -> np.ndarray:
        """Which rows of ``windows`` ((n, width) uint8, C-contiguous) match."""
        w = windows.view(np.uint64)[:, self.w0:self.w1]
        bad = np.bitwise_and(w, self.emask)
        bad ^= self.epat
        if self.any_digits:
            t = np.bitwise_and(w, self.dlo)
            t += self.dlo_add
            t &= self.dlo_carry
            bad |= t
        acc = bad[:, 0].copy()
        for j in range(1, bad.shape[1]):
            acc |= bad[:, j]
        if self.hmask is not None:
            h = _hex_flags(windows.view(np.uint64)[:, self.h0:self.h1])
            h &= self.hmask
            h ^= self.hmask
            for j in range(h.shape[1]):
                acc |= h[:, j]
        return acc == 0


def _hex_tail(b: _Bytes, end: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Whether the ``length`` (1..8) bytes before each ``end`` are all hex digits."""
    w = b.before(end, 8).view(np.uint64)[:, 0]
    live = np.uint64(0xFFFFFFFFFFFFFFFF) << (np.uint64(8) * (8 - length).astype(np.uint64))
    return (_hex_flags(w) & live) == (_B7 & live)


_B7 = np.uint64(0x8080808080808080)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)


def _hex_flags(w: np.ndarray) -> np.ndarray:
    """Per byte of uint64 words, bit 7 set iff the byte is a hex digit: 0-9 (0x30-0x39),
    or a-f / A-F (0x61-0x66 once 0x20 is set). Bytes are cleared of bit 7 first so that
    no sum carries into the next byte; a byte that had it is not ASCII, not hex."""
    def rep(x: int) -> np.uint64:
        return np.uint64(x * 0x0101010101010101)
    v = w & _LOW7
    ascii_ = ~w & _B7
    digit = ((v + rep(0x50)) & ~(v + rep(0x46))) & _B7          # 0x30 <= v <= 0x39
    y = v | rep(0x20)
    letter = ((y + rep(0x1F)) & ~(y + rep(0x19))) & _B7         # 0x61 <= y <= 0x66
    return ascii_ & (digit | letter)


_ZEROS = np.uint64(0x3030303030303030)


def _live(length: int) -> np.ndarray:
    """Two words masking the last ``length`` (0..16) of 16 bytes."""
    return np.where(np.arange(16) >= 16 - length, 0xFF, 0).astype(np.uint8).view(np.uint64)


def _sixteen(win: np.ndarray, end: int) -> np.ndarray:
    """Columns end-16 .. end-1 of a window (zeros left of column 0) as two uint64 words."""
    if end >= 16:
        return np.ascontiguousarray(win[:, end - 16:end]).view(np.uint64)
    out = np.zeros((len(win), 16), np.uint8)
    out[:, 16 - end:] = win[:, :end]
    return out.view(np.uint64)


def _dec_in(win: np.ndarray, end: int, length: int) -> np.ndarray:
    """The ``length`` (1..16) decimal digits ending at column ``end`` of each row."""
    return _dec_words(_sixteen(win, end), length)


def _hex_in(win: np.ndarray, end: int, length: int) -> np.ndarray:
    """The ``length`` (1..16) hex digits ending at column ``end`` of each row."""
    return _hex_words(_sixteen(win, end), length)


def _dec_words(words: np.ndarray, length: int) -> np.ndarray:
    """Decimal digits, right-aligned in two words, eight at a time in a word: pairs, then
    quads, then the eight (the bytes before the number read as '0')."""
    keep = _live(length)
    if length <= 8:                                    # the second word is enough
        words, keep = words[:, 1:], keep[1:]
    w = (words & keep) | (_ZEROS & ~keep)
    x = w - _ZEROS
    x = (x * np.uint64(10) + (x >> np.uint64(8))) & np.uint64(0x00FF00FF00FF00FF)
    x = (x * np.uint64(100) + (x >> np.uint64(16))) & np.uint64(0x0000FFFF0000FFFF)
    x = (x * np.uint64(10000) + (x >> np.uint64(32))) & np.uint64(0xFFFFFFFF)
    if length <= 8:
        return x[:, 0].astype(np.int64)
    return (x[:, 0] * np.uint64(100_000_000) + x[:, 1]).astype(np.int64)


def _hex_words(words: np.ndarray, length: int) -> np.ndarray:
    """Hex digits, right-aligned in two words, as uint64: nibbles (the low four bits, plus
    9 for a letter), then packed pairwise."""
    keep = _live(length)
    w = (words & keep) | (_ZEROS & ~keep)
    nib = (w & np.uint64(0x0F0F0F0F0F0F0F0F)) + \
        np.uint64(9) * ((w >> np.uint64(6)) & np.uint64(0x0101010101010101))
    x = ((nib & np.uint64(0x00FF00FF00FF00FF)) << np.uint64(4)) | \
        ((nib >> np.uint64(8)) & np.uint64(0x00FF00FF00FF00FF))
    x = ((x & np.uint64(0x0000FFFF0000FFFF)) << np.uint64(8)) | \
        ((x >> np.uint64(16)) & np.uint64(0x0000FFFF0000FFFF))
    x = ((x & np.uint64(0xFFFFFFFF)) << np.uint64(16)) | (x >> np.uint64(32))
    return (x[:, 0] << np.uint64(32)) | x[:, 1]


def _matching(tpl: _Template, windows: np.ndarray, pending: np.ndarray) -> np.ndarray:
    """Indices of the pending rows whose window matches (a smaller set is copied out
    first, a large one compared in place)."""
    cand = np.flatnonzero(pending)
    if 2 * len(cand) < len(pending):
        return cand[tpl.matches(windows[cand])]
    return np.flatnonzero(tpl.matches(windows) & pending)


def _line_match(a: _Anchors, i: int):
    """_HEAD's match of candidate i's line (text offsets are byte offsets), or None."""
    ls = int(a.line_start[a.line[i]])
    text = a.data[ls:a.nl[a.line[i]]].tobytes().decode("latin-1")
    m = _HEAD.match(text)
    if m is None or ls + m.end("frac") != a.T[i] or ls + m.end("event") != a.E[i]:
        return None, ls
    return m, ls


def _by_templates(a: _Anchors, events: _Events, res: _Parsed) -> np.ndarray:
    """Parse the lines whose pieces each match a template made from a line the regular
    expressions parsed: the head (pid .. time, period, event) and a fault's rest.
    Returns which candidates were parsed."""
    n = len(a.T)
    b, T, E = a.b, a.T, a.E
    head = np.zeros(n, bool)
    fault = np.zeros(n, bool)
    if n == 0:
        return head
    # the head: the byte before the pid .. T .. the space after E
    hw = b.at(T - _HL, _HW)                                 # hw[:, _HL] is T
    pending = np.ones(n, bool)
    cols = np.arange(_HW)
    for _ in range(_MAX_TEMPLATES):
        cand = np.flatnonzero(pending)
        if len(cand) == 0:
            break
        r = int(cand[0])
        m, ls = _line_match(a, r)
        spans = None if m is None else _head_spans(m, ls, int(T[r]), int(E[r]))
        if spans is None:
            pending[r] = False
            continue
        c_lo, c_hi, ev0, (pid_c, pid_l), (sec_c, sec_l), (frac_c, frac_l) = spans
        digit = _is_digit(hw[r]) & (cols >= c_lo) & ((cols <= _HL) | (cols < ev0))
        inside = (cols >= c_lo) & (cols < c_hi)
        tpl = _Template(hw[r], inside & ~digit, digit)
        got = _matching(tpl, hw, pending)
        win = hw if len(got) == n else hw[got]
        res.pid[got] = _dec_in(win, pid_c + pid_l, pid_l)
        res.time[got] = _dec_in(win, sec_c + sec_l, sec_l) * 1_000_000_000 + \
            _dec_in(win, frac_c + frac_l, frac_l) * 10 ** (9 - frac_l)
        c = events.code(m.group("event"))
        res.code[got] = c
        fault[got] = events.fault[c]
        res.op[got] = OP_WRITE if events.store[c] else OP_READ
        head[got] = True
        pending[got] = False
    # a fault's rest: "address=0xA ip=0xI error_code=0xE" and the newline
    rest = np.zeros(n, bool)
    end = a.nl[a.line]
    span = end - (E + 2)
    fw = b.at(E + 2, _FW)
    pending = head & fault & (span < _FW)
    for _ in range(_MAX_TEMPLATES):
        cand = np.flatnonzero(pending)
        if len(cand) == 0:
            break
        r = int(cand[0])
        m, ls = _line_match(a, r)
        fields = None if m is None else _fault_fields(m)
        if fields is None:
            pending[r] = False
            continue
        (a0, al), (i0, il), (c0, _) = fields
        # the template ends where error_code's digits start; they run to the line end
        # (1-8 hex digits, checked row by row: their number varies from line to line)
        wild = np.zeros(_FW, bool)
        wild[a0:a0 + al] = wild[i0:i0 + il] = True
        tpl = _Template(fw[r], (np.arange(_FW) < c0) & ~wild, np.zeros(_FW, bool), wild)
        el = span - c0
        got = _matching(tpl, fw, pending & (el >= 1) & (el <= 8))
        got = got[_hex_tail(b, end[got], el[got])]
        res.addr[got] = _hex_in(fw if len(got) == n else fw[got], a0 + al, al)
        last = _hex_digits(a.data[end[got] - 1])[0]               # error_code's last digit
        res.op[got] = np.where((last & X86_PF_WRITE) != 0, OP_WRITE, OP_READ)
        rest[got] = True
        pending[got] = False
    done = head & ((fault & rest) | ~fault)
    # samples: the first hex number after the event, field by field
    s = np.flatnonzero(done & ~fault)
    if len(s):
        ok, addr, skipped = _sample_rest(a, E[s])
        res.addr[s] = addr
        res.skipped[s] = skipped
        done[s[~ok]] = False
    res.ok |= done
    return done


def _head_spans(m, ls: int, t: int, e: int):
    """Columns of a head template in the window [T - _HL, T - _HL + _HW) of a line _HEAD
    parsed: (first, end) of the template (the byte before the pid .. the space after E),
    where the event starts, and (column, length) of pid, sec and frac. None when the
    fast path does not take its shape."""
    w0 = t - _HL
    pid0, pid1 = (ls + x for x in m.span("pid"))
    sec0, sec1 = (ls + x for x in m.span("sec"))
    frac0, frac1 = (ls + x for x in m.span("frac"))
    if pid0 == 0 or pid0 - 1 < w0 or e + 2 > w0 + _HW or \
            not (1 <= pid1 - pid0 <= 9 and 1 <= sec1 - sec0 <= 9):
        return None
    return (pid0 - 1 - w0, e + 2 - w0, ls + m.start("event") - w0,
            (pid0 - w0, pid1 - pid0), (sec0 - w0, sec1 - sec0), (frac0 - w0, frac1 - frac0))


_FAULT_REST = re.compile(r"address=0x([0-9a-fA-F]{1,16}) ip=0x([0-9a-fA-F]{1,16}) "
                         r"error_code=0x([0-9a-fA-F]{1,16})")


def _fault_fields(m):
    """Columns and lengths of the address, ip and error_code digits of a fault line's
    rest when it is exactly the fast path's layout (from E + 2 to the line end)."""
    if m.group("event") not in FAULT_EVENTS or m.group("rest") is None:
        return None
    line = m.string
    r0 = m.start("rest")
    if r0 != m.end("event") + 2 or m.end("rest") != len(line):
        return None
    f = _FAULT_REST.fullmatch(m.group("rest"))
    if f is None:
        return None
    return tuple((f.start(g), f.end(g) - f.start(g)) for g in (1, 2, 3))


# ---------------------------------------------------------------- field by field


def _sample_rest(a: _Anchors, E: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ok, address, no address) of samples' rests: the first token after E's space is
    1-16 hex digits (``0x`` optional) ending at whitespace, or there is no token, or it
    starts with a byte that is not a hex digit (no address)."""
    b = a.b
    m = b.at(E + 1, 24)
    r1 = _first(m != _SPACE)
    ch = _pick(m, r1)
    odd = a.white(ch) & (ch != _NL)                     # other whitespace: the slow way
    no_addr = (ch == _NL) | ~_hex_digits(ch)[1]
    pre = (ch == ord("0")) & (_pick(m, r1 + 1) == ord("x"))
    h0 = E + 1 + r1 + np.where(pre, 2, 0)
    stop = _first(a.white(b.at(h0, 24)))
    av, a_ok = _hex_token(b, h0, h0 + stop)
    ok = (no_addr | (a_ok & (stop < 24))) & ~odd & (r1 < 24)
    return ok, np.where(no_addr, np.uint64(0), av), no_addr


def _by_fields(a: _Anchors, idx: np.ndarray, events: _Events, res: _Parsed) -> None:
    """Parse candidates ``idx`` field by field, each field in a small window gathered where
    the previous one ended:

    - before T: ``PID`` or ``PID/TID`` (1-9 digits of pid) after a space or at the line
      start, spaces, optionally ``[CPU]`` and spaces, then ``S.F`` (1-9 digits each);
    - after T: spaces, an optional all-digit period and spaces, then the event up to E,
      with no whitespace in it;
    - a fault event's rest is exactly ``address=0xA ip=0xI error_code=0xE`` with one
      space between and none after (1-16 hex digits each); a sample's, see
      ``_sample_rest``.

    Why a line so parsed is what ``_HEAD`` makes of it: its time is a token ``D.F:``
    followed by whitespace; when no colon of the line is followed by other whitespace
    (``_anchors``), every such token ends at a colon that follows a digit and is
    followed by a space, so a valid one at T, the first, is the one ``_HEAD`` takes
    (its ``comm`` is as short as it can be).
    """
    if len(idx) == 0:
        return
    b, data = a.b, a.data
    T, E, line = a.T[idx], a.E[idx], a.line[idx]
    n = len(idx)
    ok = np.ones(n, bool)
    white = a.white
    nl = a.nl

    # S.F before T, a space before S
    m = b.before(T, 10)[:, ::-1]                            # m[:, j] = data[T - 1 - j]
    fl = _first(~_is_digit(m))
    ok &= (fl >= 1) & (fl <= 9) & (_pick(m, fl) == _DOT)
    sec_end = T - fl - 1
    m = b.before(sec_end, 10)[:, ::-1]
    sl = _first(~_is_digit(m))
    ok &= (sl >= 1) & (sl <= 9) & (_pick(m, sl) == _SPACE)
    sec_start = sec_end - sl
    # spaces, then [CPU] and spaces, or not
    m = b.before(sec_start, 32)[:, ::-1]
    k = _first(m != _SPACE)
    ok &= k < 32
    prev_end = sec_start - k                                 # exclusive end of the token
    cpu = _pick(m, k) == _RBRACK
    m = b.before(prev_end - 1, 10)[:, ::-1]
    cl = _first(~_is_digit(m))
    cpu_ok = (cl >= 1) & (cl < 10) & (_pick(m, cl) == _LBRACK)
    lbrack = prev_end - 1 - cl - 1
    m = b.before(lbrack, 32)[:, ::-1]
    k2 = _first(m != _SPACE)
    cpu_ok &= (k2 >= 1) & (k2 < 32)
    ok &= ~cpu | cpu_ok
    pid_tok_end = np.where(cpu, lbrack - k2, prev_end)
    # PID or PID/TID, after a space or at the line start
    m = b.before(pid_tok_end, 24)[:, ::-1]
    d1 = _first(~_is_digit(m))
    slash = _pick(m, d1) == _SLASH
    m2 = b.before(pid_tok_end - d1 - 1, 12)[:, ::-1]
    d2 = _first(~_is_digit(m2))
    pid_end = np.where(slash, pid_tok_end - d1 - 1, pid_tok_end)
    pid_len = np.where(slash, d2, d1)
    before = np.where(slash, _pick(m2, d2), _pick(m, d1))
    pid_start = pid_end - pid_len
    ok &= (d1 >= 1) & (d1 < 24) & (pid_len >= 1) & (pid_len <= 9)
    ok &= (before == _SPACE) | (before == _NL) | (pid_start == 0)
    pid = _dec(b, pid_end, np.clip(pid_len, 1, 9))
    sec = _dec(b, sec_end, np.clip(sl, 1, 9))
    fl9 = np.clip(fl, 1, 9)
    time = sec * 1_000_000_000 + _dec(b, T, fl9) * 10 ** (9 - fl9)

    # after T: spaces, an optional period and spaces, the event up to E
    m = b.at(T + 1, 32)
    r0 = _first(m != _SPACE)
    ok &= r0 < 32
    m = b.at(T + 1 + r0, 24)
    q = _first(~_is_digit(m))
    period = (q >= 1) & (q < 24) & (_pick(m, q) == _SPACE)
    m = b.at(T + 1 + r0 + q, 32)
    k3 = _first(m != _SPACE)
    ok &= ~period | (k3 < 32)
    ev_start = np.where(period, T + 1 + r0 + q + k3, T + 1 + r0)
    ev_len = E - ev_start
    m = b.at(ev_start, _MAX_EVENT + 2)
    ok &= (ev_len >= 1) & (ev_len <= _MAX_EVENT) & (_first(white(m)) == ev_len + 1)

    # event names: runs of equal event names, each run named once
    sel = np.flatnonzero(ok)
    code = np.full(n, -1, np.int64)
    if len(sel):
        ev_l = ev_len[sel]
        w = int(ev_l.max())
        emat = b.at(ev_start[sel], w).copy()
        emat[np.arange(w)[None, :] >= ev_l[:, None]] = 0
        differs = np.r_[True, (emat[1:] != emat[:-1]).any(axis=1) | (ev_l[1:] != ev_l[:-1])]
        heads = np.flatnonzero(differs)
        head_codes = np.array([events.code(bytes(emat[h, :ev_l[h]]).decode("latin-1"))
                               for h in heads], np.int64)
        code[sel] = head_codes[np.cumsum(differs) - 1]
    fault = np.zeros(n, bool)
    store = np.zeros(n, bool)
    fault[sel] = events.fault[code[sel]]
    store[sel] = events.store[code[sel]]

    addr = np.zeros(n, np.uint64)
    op = np.zeros(n, np.uint8)
    skipped = np.zeros(n, bool)
    # faults: "E: address=0xA ip=0xI error_code=0xE\n"
    f = np.flatnonzero(ok & fault)
    if len(f):
        end = nl[line[f]]
        m = b.before(end, 32)[:, ::-1]
        s1 = _first(m == _SPACE)                             # error_code's length
        err_start = end - s1
        good = (s1 > len(_ERR_PREFIX)) & (s1 < 32)
        good &= (b.at(err_start, len(_ERR_PREFIX)) == _ERR_PREFIX).all(axis=1)
        good &= _hex_token(b, err_start + len(_ERR_PREFIX), end)[1]
        m = b.before(err_start - 1, 24)[:, ::-1]
        s2 = _first(m == _SPACE)                             # ip's length
        ip_start = err_start - 1 - s2
        good &= (s2 > len(_IP_PREFIX)) & (s2 < 24)
        good &= (b.at(ip_start, len(_IP_PREFIX)) == _IP_PREFIX).all(axis=1)
        good &= _hex_token(b, ip_start + len(_IP_PREFIX), err_start - 1)[1]
        a_start = E[f] + 2
        good &= (b.at(a_start, len(_ADDR_PREFIX)) == _ADDR_PREFIX).all(axis=1)
        av, a_ok = _hex_token(b, a_start + len(_ADDR_PREFIX), ip_start - 1)
        good &= a_ok
        last = _hex_digits(data[end - 1])[0]                 # error_code's last digit
        addr[f] = av
        op[f] = np.where((last & X86_PF_WRITE) != 0, OP_WRITE, OP_READ)
        ok[f[~good]] = False
    # samples: the first hex number after the event, if any
    s = np.flatnonzero(ok & ~fault)
    if len(s):
        s_ok, s_addr, s_skip = _sample_rest(a, E[s])
        skipped[s] = s_skip
        addr[s] = s_addr
        op[s] = np.where(store[s], OP_WRITE, OP_READ)
        ok[s[~s_ok]] = False
    res.ok[idx] = ok
    res.pid[idx] = pid
    res.time[idx] = time
    res.code[idx] = code
    res.addr[idx] = addr
    res.op[idx] = op
    res.skipped[idx] = skipped


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


def _with_slow_lines(rows: _Rows, data: np.ndarray, slow: np.ndarray, events: _Events,
                     st: _State) -> _Rows:
    """Add what the regular expressions make of the lines the fast path left."""
    if len(slow) == 0:
        return rows
    nl = np.flatnonzero(data == 10)
    starts = np.r_[0, nl[:-1] + 1]
    acc, skip = [], []
    for i in slow.tolist():
        text = data[starts[i]:nl[i]].tobytes().decode("latin-1")
        got = _slow_line(text, events, st)
        if got is None:
            continue
        if got[0] == "acc":
            acc.append((i, *got[1:]))
        elif got[0] == "skip":
            skip.append((i, got[1]))
        else:
            rows.bad_line.append(i)
            rows.bad_what.append(got[1])
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
        rows.skip_event = np.r_[rows.skip_event, np.array([s[1] for s in skip])][order]
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
    too many processes) is the error, naming its line."""
    kept = st.kept(rows.pid)
    t = rows.time[kept]
    kl = rows.line[kept]
    # (line, rank, what): the first line's problem; on one line, what the line-by-line
    # reading checked first
    problems: list[tuple[int, int, str]] = [(b, 0, w) for b, w in
                                            zip(rows.bad_line, rows.bad_what)]
    if len(t):
        prev = np.r_[st.last_time, t[:-1]]
        back = np.flatnonzero(t < prev)
        if len(back):
            i = int(back[0])
            what = f"time goes backwards ({int(t[i])} ns after {int(prev[i])} ns)"
            problems.append((int(kl[i]), 1, what))
        big = np.flatnonzero(rows.big_time[kept])
        if len(big):
            problems.append((int(kl[big[0]]), 2, "time overflows 64-bit nanoseconds"))
    user = kept & (rows.addr < np.uint64(KERNEL_HALF))
    # processes in order of appearance
    upid = rows.pid[user]
    uline = rows.line[user]
    if len(upid):
        unknown = np.flatnonzero(~np.isin(upid, st.pid_keys))   # few known pids: cheap
        uniq, first = np.unique(upid[unknown], return_index=True)
        order = np.argsort(first, kind="stable")
        new = uniq[order]
        new_first = unknown[first[order]]
        if len(st.pids) + len(new) > ASID_LIMIT:
            j = ASID_LIMIT - len(st.pids)
            what = (f"address space id {ASID_LIMIT} is outside 0..2^20-1 (more than 2^20 "
                    "processes)")
            problems.append((int(uline[new_first[j]]), 3, what))
    if problems:
        line, _, what = min(problems)
        raise TraceError(what, path=src, fmt=FORMAT, line=first_line + line)
    if len(t):
        st.last_time = int(t[-1])
    st.kernel_addresses += int((kept & ~user).sum())
    if len(upid):
        for p in new.tolist():
            st.pids[st.real_pid.get(p, p)] = len(st.pids)
        st.pid_keys = np.r_[st.pid_keys, new]
        st.pid_asids = np.r_[st.pid_asids, np.arange(len(st.pids) - len(new), len(st.pids))]
        order = np.argsort(st.pid_keys)
        st.pid_keys, st.pid_asids = st.pid_keys[order], st.pid_asids[order]
        asid = st.pid_asids[np.searchsorted(st.pid_keys, upid)].astype(np.int32)
    else:
        asid = np.zeros(0, np.int32)
    n_ev = len(events.names)
    st.event_counts = np.r_[st.event_counts, np.zeros(n_ev - len(st.event_counts), np.int64)]
    st.skipped_counts = np.r_[st.skipped_counts,
                              np.zeros(n_ev - len(st.skipped_counts), np.int64)]
    st.event_counts += np.bincount(rows.event[user], minlength=n_ev)
    st.skipped_counts += np.bincount(rows.skip_event.astype(np.int64), minlength=n_ev)
    return (rows.time[user], (rows.addr[user] >> np.uint64(12)).astype(np.int64),
            rows.op[user], asid)


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
    with Source(src, FORMAT) as source:
        for chunk in iter_text_chunks(source, on_progress=update, count_lines=False,
                                      pad=_PAD):
            # pieces of PIECE_LINES lines: the arrays of a piece stay in the CPU's cache
            # (a third faster than whole 32 MiB chunks)
            nl = np.flatnonzero(chunk.data == 10)
            for k in range(0, len(nl), PIECE_LINES):
                p0 = int(nl[k - 1]) + 1 if k else 0
                piece_nl = nl[k:k + PIECE_LINES] - p0
                data = chunk.data[p0:p0 + int(piece_nl[-1]) + 1]
                rows, slow = _fast_chunk(data, events, chunk.base, chunk.offset + p0, piece_nl)
                rows = _with_slow_lines(rows, data, slow, events, st)
                t, v, o, a = _apply(rows, first_line, st, events, src)
                first_line += len(piece_nl)
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
