"""The line-by-line perf-script parser folio-replay had before its numpy rewrite (issue
13), kept verbatim as the reference the rewrite must agree with
(tests/test_perf_script_fast.py). Not a test module itself."""

from __future__ import annotations

import re
from pathlib import Path

from replay.errors import TraceError
from replay.trace import OP_READ, OP_WRITE

FORMAT = "perf-script"

X86_PF_WRITE = 1 << 1
FAULT_EVENTS = ("exceptions:page_fault_user", "exceptions:page_fault_kernel")
KERNEL_HALF = 1 << 63

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


def parse_reference(text: str, keep: set[int] | None = None, src: Path = Path("src")) -> dict:
    """What the old importer made of a whole file (or the TraceError it raised)."""
    st = _State()
    _parse_lines(text, 1, st, keep, src)
    return {"time_ns": st.t, "vpn": st.v, "op": st.o, "asid": st.a,
            "pids": list(st.pids), "events": st.events, "skipped_events": st.skipped_events,
            "kernel": st.kernel_addresses, "command": st.command}
