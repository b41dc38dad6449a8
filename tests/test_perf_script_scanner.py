"""perf-script's C scanner (replay/scan/perf.c): a line it reads itself must be what the
regular expressions make of it (``perf_script._slow_line``, the line-by-line parser's
code), byte for byte over the 256 latin-1 characters; files must import as the
line-by-line parser (tests/perf_reference.py) read them, across window and piece
boundaries, with CRLF ends, very long lines, odd spacing, other events and a truncated
last line."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_perf_script_fast import _LINE, FAULT, import_both

from replay import _scan
from replay.importers import _common, perf_script
from replay.importers._common import MAX_LINE_BYTES

SAMPLE = "prog  4469/4471 [001]   425.429095: cpu/mem-loads,ldlat=30/P: 7ffd5a003a90 4011a0"
STORE = "prog  4470/4470 [001]   425.429096:       1 cpu/mem-stores/P: 0x7ffd5a003a98"
NO_ADDR = "prog  4470 [000]   425.429097: sched:sched_switch: prev_comm=prog prev_pid=4470"
CHAIN = "\t    7f13d34e3b70 _start+0x0 (/usr/lib/ld.so)"


# ---------------------------------------------------------------- line by line


def scanned(line: bytes):
    """What the scanner makes of one line: ("acc", pid, time, addr, op, event name),
    ("skip", event name), None (a line to skip), or "slow" (handed back to Python)."""
    buf = np.frombuffer(line + b"\n", np.uint8)
    events = perf_script._Events()
    table = perf_script._EventTable()
    out = perf_script._Out(1)
    while True:
        table.sync(events)
        _, n, ns, lines, status, a, b = _scan.perf(
            buf, 0, len(buf), 1, 0, table.names, table.lens, table.flags, table.count,
            out.line, out.pid, out.time, out.addr, out.op, out.event, 0, out.skip_line,
            out.skip_event, 0)
        if status == perf_script._SCAN_NEW_EVENT:
            events.code(buf[a:b].tobytes().decode("latin-1"))
            continue
        if status == perf_script._SCAN_SLOW:
            assert (a, b, lines) == (0, len(line), 0)
            return "slow"
        assert lines == 1 and n + ns <= 1
        if n:
            return ("acc", int(out.pid[0]), int(out.time[0]), int(out.addr[0]),
                    int(out.op[0]), events.names[int(out.event[0])])
        if ns:
            return ("skip", events.names[int(out.skip_event[0])])
        return None


def expressions(line: bytes):
    """What the regular expressions make of it, in the same terms (or ("bad", what))."""
    events = perf_script._Events()
    state = perf_script._State(None)
    got = perf_script._slow_line(line.decode("latin-1"), events, state)
    if got is None or got[0] == "bad":
        return got
    if got[0] == "skip":
        return ("skip", events.names[got[1]])
    return (*got[:5], events.names[got[5]])


def agree(line: bytes) -> object:
    """The scanner's answer, checked: the expressions' own, or handed back."""
    got = scanned(line)
    if got != "slow":
        assert got == expressions(line), line
    return got


COMMON = [FAULT, FAULT.replace("error_code=0x6", "error_code=0x14"),
          FAULT.replace("page_fault_user", "page_fault_kernel"), SAMPLE, STORE, NO_ADDR, CHAIN,
          "", "   ", "\t", "4469/4469 425.429090: page-faults: 7f13d34fce06",
          "prog 4469 425.429090: exceptions:page_fault_user: address=0x7f13d34fce06 "
          "ip=0x7f13d34e47ad error_code=0x6",
          "Web Content 12 4469 [3] 1700000000.123456789: 250 mem-loads: 0x10 main+0x4",
          "p 1 0.1: exceptions:page_fault_user: address=0x1 ip=0x2 error_code=0x2",
          "p 1 0.1: exceptions:page_fault_user: ip=0x2 error_code=0x2 address=0x00001"]


@pytest.mark.parametrize("line", COMMON)
def test_the_scanner_reads_perfs_own_lines_itself(line):
    """The shapes perf writes never go the slow way (a file of them would import at the
    regular expressions' speed), with LF and CRLF ends."""
    for text in (line, line + "\r"):
        got = agree(text.encode("latin-1"))
        assert got != "slow", text


@pytest.mark.parametrize("line", [
    "# cmdline : /usr/bin/perf record -- ./prog", "#", "  # x", "garbage", "\t7f13d34e3b70",
    "prog 4469 [000] 425.4", FAULT.replace("error_code=0x6", ""),
    FAULT.replace("address=0x7f13d34fce06", "address=0x1ffffffffffffffff"),
    FAULT.replace("4469", "99999999999999999999"), FAULT.replace("425.", "9223372036."),
    FAULT.replace("425.", "10000000000000000000.")])
def test_what_the_scanner_hands_back(line):
    """Headers, bad lines, faults without their fields and numbers past 64 bits (or a pid
    of 2^62 and more) go to the regular expressions, which say what they are."""
    assert agree(line.encode("latin-1")) == "slow"


# each field of a fault line and of a sample line, and the places between them
_FIELDS = [b"  prog ", b"4469", b"/4471", b" ", b"[000]", b" ", b"425", b".", b"429090",
           b":", b" ", b"250", b" ", b"exceptions:page_fault_user", b":", b" ",
           b"address=0x7f13d34fce06", b" ", b"ip=0x7f13d34e47ad", b" ", b"error_code=0x6",
           b" "]
_SAMPLE_FIELDS = [b"prog ", b"4469", b" ", b"425.429090", b": ", b"mem-loads", b": ",
                  b"0x", b"7ffd5a003a90", b" ", b"main", b" "]


@pytest.mark.parametrize("fields", [_FIELDS, _SAMPLE_FIELDS], ids=["fault", "sample"])
def test_every_byte_at_every_place(fields):
    """Each of the 256 bytes (but the newline) put before, in place of and after each
    field: whitespace (str.isspace), digits, hex digits and word characters (for \\b)
    as Python's re has them."""
    checked = 0
    for i in range(len(fields) + 1):
        for c in range(256):
            if c == 10:
                continue
            ch = bytes([c])
            variants = [b"".join(fields[:i]) + ch + b"".join(fields[i:])]
            if i < len(fields):
                variants.append(b"".join(fields[:i]) + ch + b"".join(fields[i + 1:]))
                f = fields[i]
                variants.append(b"".join(fields[:i]) + f[:len(f) // 2] + ch + f[len(f) // 2:]
                                + b"".join(fields[i + 1:]))
            for v in variants:
                if agree(v) == "slow":           # only bad lines and headers go back
                    got = expressions(v)
                    assert (got is not None and got[0] == "bad") or \
                        v.decode("latin-1").lstrip().startswith("#"), v
                checked += 1
    assert checked == 255 * (3 * len(fields) + 1)


_CHAR = st.characters(min_codepoint=0, max_codepoint=255, blacklist_characters="\n")


@settings(max_examples=3000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(line=_LINE, edits=st.lists(st.tuples(st.integers(0, 200), _CHAR,
                                            st.sampled_from(["insert", "replace", "delete"])),
                                  max_size=3))
def test_any_line_is_read_as_the_expressions_read_it(line, edits):
    """perf's shapes and hostile ones (test_perf_script_fast's lines), with bytes put in,
    changed or taken out anywhere."""
    text = line.replace("\n", "")
    for at, ch, how in edits:
        at = min(at, len(text))
        if how == "insert":
            text = text[:at] + ch + text[at:]
        elif how == "replace":
            text = text[:at] + ch + text[at + 1:]
        else:
            text = text[:at] + text[at + 1:]
    agree(text.encode("latin-1"))


@settings(max_examples=1000, deadline=None, derandomize=True)
@given(tokens=st.lists(st.sampled_from(
    ["4469", "4469/4471", "[000]", "[0]", "425.429090:", "425.4:", "1.", ".5:", "1:", "250",
     "ev:", "a:b:", ":", "::", "exceptions:page_fault_user:", "mem-loads:", "0x7f00",
     "7f00", "address=0x10", "error_code=0x2", "ip=0x1", "x", "#", "[]", "/"]),
    min_size=1, max_size=12),
    seps=st.lists(st.sampled_from([" ", "  ", "\t", "\r", "\x0b", "\x1c", "\x85", "\xa0",
                                   "", " \xa0 "]), min_size=13, max_size=13))
def test_token_soups(tokens, seps):
    """Lines made of the tokens _HEAD's groups are made of, in any order and number,
    with any whitespace between: where the pid starts (the first token only when no
    later one gives a match), periods, colons in event names."""
    text = seps[0] + "".join(t + s for t, s in zip(tokens, seps[1:]))
    agree(text.encode("latin-1"))


def test_where_the_pid_starts():
    """The shortest comm that gives a match: a later head wins over a first-token pid."""
    assert agree(b"4469 425.1: ev: 4470 426.2: ev2: 0x7f0000001000") == \
        ("acc", 4470, 426_200_000_000, 0x7F0000001000, 0, "ev2")
    assert agree(b"  7 4469 425.1: ev: 0x10") == ("acc", 4469, 425_100_000_000, 16, 0, "ev")
    assert agree(b"4469 425.1: ev: 0x10") == ("acc", 4469, 425_100_000_000, 16, 0, "ev")
    assert agree(b"a 12 4469 [1] 2.000000001: ev:") == ("skip", "ev")


# ---------------------------------------------------------------- whole files


def _mixed_lines(rng: np.random.Generator, n: int) -> list[str]:
    """Fault, sample, no-address, call-chain, blank and header lines, times increasing."""
    lines = ["# ========", "# cmdline : /usr/bin/perf record -e x -- ./prog 1", "#"]
    t = 425_000_000
    for i in range(n):
        t += int(rng.integers(0, 30))
        pid = int(rng.choice([4469, 4470, 4471]))
        ts = f"{t // 10**6:6d}.{t % 10**6:06d}"
        addr = int(rng.integers(1 << 40, 1 << 47))
        kind = int(rng.integers(0, 8))
        if kind <= 2:
            lines.append(f"  prog {pid:5d} [{i % 4:03d}] {ts}: exceptions:page_fault_user: "
                         f"address=0x{addr:x} ip=0x{addr - 7:x} error_code=0x{i % 8:x}")
        elif kind == 3:
            lines.append(f"prog {pid}/{pid + 1} {ts}: cpu/mem-loads,ldlat=30/P: {addr:x} "
                         "main+0x10 (/tmp/prog)")
        elif kind == 4:
            lines.append(f"  prog {pid} [{i % 4}] {ts}:     1 cpu/mem-stores/P: 0x{addr:x}")
        elif kind == 5:
            lines.append(f"  prog {pid} [000] {ts}: sched:sched_switch: prev_comm=prog")
        elif kind == 6:
            lines.append(CHAIN)
        else:
            lines.append("" if i % 2 else "  \t ")
    return lines


def _check(text: bytes, tmp: Path, keep=None) -> dict | str:
    ref, new = import_both(text, tmp, keep)
    assert new == ref
    return new


@pytest.mark.parametrize("chunk", [None, 40, 97, 256, 4096])
@pytest.mark.parametrize("piece", [1, 3, 64, 1 << 14])
def test_lines_split_across_windows_and_pieces(tmp_path, monkeypatch, chunk, piece):
    """Window (chunk) and piece boundaries anywhere in a line, a piece of one line."""
    if chunk:
        monkeypatch.setattr(_common, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(perf_script, "PIECE_LINES", piece)
    lines = _mixed_lines(np.random.default_rng(chunk or 0), 300)
    got = _check(("\n".join(lines) + "\n").encode(), tmp_path)
    assert isinstance(got, dict) and len(got["vpn"]) > 100
    assert got["command"] == "./prog 1"


@pytest.mark.parametrize("chunk", [None, 64])
def test_crlf_files(tmp_path, monkeypatch, chunk):
    if chunk:
        monkeypatch.setattr(_common, "CHUNK_BYTES", chunk)
    lines = _mixed_lines(np.random.default_rng(5), 200)
    got = _check(("\r\n".join(lines) + "\r\n").encode(), tmp_path)
    assert isinstance(got, dict) and len(got["vpn"]) > 50


@pytest.mark.parametrize("cut", [1, 5, 20, 40, 70, 100, 123, 124])
@pytest.mark.parametrize("last", [FAULT, SAMPLE, NO_ADDR, CHAIN])
def test_a_truncated_last_line(tmp_path, cut, last):
    """A file cut anywhere in its last line (no newline at the end)."""
    head = FAULT.replace("425.429090", "425.000001") + "\n"
    text = (head + last[:cut]).encode()
    _check(text, tmp_path)


def test_very_long_lines(tmp_path, monkeypatch):
    """A long comm, a long rest, many tokens that look like pids and times, and a line
    just under the longest the reader takes; windows smaller than the lines."""
    monkeypatch.setattr(_common, "CHUNK_BYTES", 1 << 16)
    long_comm = "x" * 100_000 + " " + FAULT
    long_rest = FAULT + " " + "address=zz " * 20_000
    soup = " ".join(["1 1.1: 1", "2 [3] 4.5: 6"] * 20_000)
    samples = SAMPLE + " " + "ab" * 200_000
    near = "y" * (MAX_LINE_BYTES - len(FAULT) - 8) + " " + FAULT
    text = "\n".join([long_comm, long_rest, soup + " " + FAULT, near, samples]) + "\n"
    got = _check(text.encode(), tmp_path)
    assert isinstance(got, dict) and len(got["vpn"]) == 5


def test_a_line_past_the_longest(tmp_path, monkeypatch):
    """A line of more than MAX_LINE_BYTES in a window that holds it is read like any
    other; one that does not fit is the reader's error, as before."""
    text = ("z" * (MAX_LINE_BYTES + 200_000) + " " + FAULT + "\n").encode()
    got = _check(text, tmp_path)
    assert isinstance(got, dict) and len(got["vpn"]) == 1
    monkeypatch.setattr(_common, "CHUNK_BYTES", 1 << 16)
    _, new = import_both(text, tmp_path)
    assert new.endswith(f"line longer than {MAX_LINE_BYTES} bytes: not a text trace")


@pytest.mark.parametrize("sep", [" ", "\t", "  \t ", "\x0b", "\x0c", "\x1c", "\x1f", "\x85",
                                 "\xa0", "\r", " \x00 "])
def test_odd_spacing_between_the_fields(tmp_path, sep):
    """Every place perf puts spaces, filled with other whitespace (and non-whitespace)."""
    lines = []
    for i in range(20):
        t = f"425.{429090 + i:06d}"
        lines.append(f"{sep}prog{sep}4469{sep}[000]{sep}{t}:{sep}exceptions:page_fault_user:"
                     f"{sep}address=0x7f13d34f{i:04x}{sep}ip=0x7f13d34e47ad{sep}error_code=0x6"
                     f"{sep}")
        lines.append(f"prog{sep}4470/4471{sep}{t}:{sep}5{sep}mem-loads:{sep}0x7f00{i:x}{sep}x")
    _check("\n".join(lines).encode("latin-1"), tmp_path)


def test_events_other_than_the_kept_ones(tmp_path):
    """Events without an address are counted, others with one are samples; names longer
    than the scanner's table takes and more events than its slots go the slow way."""
    long_name = "e" * (perf_script.EVENT_BYTES + 5)
    lines = []
    for i in range(perf_script.EVENT_SLOTS + 40):
        t = f"425.{429090 + i:06d}"
        lines.append(f"  prog 4469 [000] {t}: tp:event{i}: 0x7f00{i:04x} sym")
        lines.append(f"  prog 4469 [000] {t}: cycles:u: ffffffff81000000 sym")
        lines.append(f"  prog 4470 [000] {t}: sched:sched_switch: prev_comm=x")
        lines.append(f"  prog 4470 [000] {t}: {long_name}: 0x10")
        lines.append(f"  prog 4470 [000] {t}: raw_syscalls:sys_enter: NR 0 (3, 7f00)")
        lines.append(f"  prog 4471 [000] {t}: mem-Store: 0X12")
    got = _check("\n".join(lines).encode(), tmp_path)
    assert isinstance(got, dict)
    assert got["kernel"] == perf_script.EVENT_SLOTS + 40
    assert got["events"] == {long_name: perf_script.EVENT_SLOTS + 40} | \
        {f"tp:event{i}": 1 for i in range(perf_script.EVENT_SLOTS + 40)}
    assert set(got["skipped_events"]) == {"sched:sched_switch", "raw_syscalls:sys_enter",
                                          "mem-Store"}


def test_a_perf_file_goes_through_the_scanner(tmp_path, monkeypatch):
    """Only the header lines of an ordinary file reach the regular expressions."""
    seen = []
    slow_line = perf_script._slow_line

    def counting(text, events, st):
        seen.append(text)
        return slow_line(text, events, st)
    monkeypatch.setattr(perf_script, "_slow_line", counting)
    lines = _mixed_lines(np.random.default_rng(9), 2000)
    _check(("\n".join(lines) + "\n").encode(), tmp_path)
    assert seen == lines[:3]


@pytest.mark.parametrize("piece", [2, 1 << 14])
def test_the_first_problem_in_line_order_is_the_error(tmp_path, monkeypatch, piece):
    """A bad line, time going backwards and a fault without its fields, in either order,
    in one piece or across pieces: the same error line as the line-by-line parser."""
    monkeypatch.setattr(perf_script, "PIECE_LINES", piece)
    base = [FAULT.replace("425.429090", f"425.{429090 + i:06d}") for i in range(10)]
    for bad_at, back_at in [(3, 6), (6, 3), (1, 9), (9, 1)]:
        lines = list(base)
        lines[bad_at] = "garbage line"
        lines[back_at] = lines[back_at].replace("425.", "424.")
        with tempfile.TemporaryDirectory() as tmp:
            ref, new = import_both(("\n".join(lines) + "\n").encode(), Path(tmp))
        assert new == ref and f"line {min(bad_at, back_at) + 1}:" in new
    lines = list(base)
    lines[4] = lines[4].replace(" error_code=0x6", "")
    ref, new = import_both(("\n".join(lines) + "\n").encode(), tmp_path)
    assert new == ref and "line 5: exceptions:page_fault_user without address=" in new
