"""Any delimited text trace -> page accesses, one access per data row.

Columns are named by header name or 1-based number. With a header and no
options, the canonical names are found by themselves: ``time_ns``/``time``,
``vpn``/``page`` or ``addr``/``address``, ``op``/``rw``, ``asid``.

- address: ``addr_col`` (bytes, decimal or 0x hex; page = addr >> 12) or
  ``vpn_col`` (4 KiB page numbers, < 2^52).
- time: ``time_col`` in ``time_unit`` (ns, us, ms, s; decimal fractions kept
  down to the ns), which must not go backwards; without it time is the row
  ordinal times ``ns_per_record`` (meta.time_source "ordinal").
- op: ``op_col`` values r/w/R/W/0/1/read/write/load/store/2/pageout/3/free
  (case-insensitive) plus ``op_map`` ("ld=read,st=write"); without it, reads.
- asid: ``asid_col`` (0..2^20-1); without it 0.
- content: ``content_col`` (found by itself as ``content``): the page's contents at
  that access, a class name or 8192 hex digits, empty for none; written to the contents
  sidecar (replay/importers/_contents.py). Without it the contents are unknown.

``import_trace`` returns the words the import line ends with: where the contents came
from, or that there are none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from replay.errors import SettingsError, TraceError
from replay.importers import _csvcore as core
from replay.importers._contents import ContentColumn, unknown_note
from replay.importers._common import (
    BackgroundWriter,
    Source,
    progress_bar,
    progress_wanted,
    source_name,
)
from replay.trace import (
    ASID_LIMIT,
    OP_FREE,
    OP_NAMES,
    OP_PAGEOUT,
    OP_READ,
    OP_WRITE,
    VPN_LIMIT,
    TraceMeta,
    TraceWriter,
)

FORMAT = "csv"
OPTIONS = frozenset({"time_col", "time_unit", "addr_col", "vpn_col", "op_col", "op_map",
                     "asid_col", "content_col", "delimiter", "no_header",
                     "ns_per_record"})

TIME_SCALE = {"ns": 0, "us": 3, "ms": 6, "s": 9}
TIME_LIMIT = 1 << 63

OP_VALUES = {
    OP_READ: ("r", "read", "rd", "load", "ld", "l", "0"),
    OP_WRITE: ("w", "write", "wr", "store", "st", "s", "m", "modify", "1"),
    OP_PAGEOUT: ("pageout", "p", "2"),
    OP_FREE: ("free", "f", "3"),
}


def op_table(extra: str | None) -> dict[bytes, int]:
    """Raw op value (lower case) -> op code, the built-in values plus ``--op-map``."""
    table = {v.encode(): code for code, values in OP_VALUES.items() for v in values}
    if extra:
        for part in extra.split(","):
            if not part.strip():
                continue
            value, sep, name = part.partition("=")
            name = name.strip().lower()
            if not sep or name not in OP_NAMES or not value.strip():
                raise SettingsError(f"--op-map entry {part!r} is not VALUE=read|write|"
                                    "pageout|free")
            table[value.strip().lower().encode()] = OP_NAMES.index(name)
    return table


def import_trace(src: Path, out: Path, opts: dict) -> str:
    delimiter = core.parse_delimiter(opts.get("delimiter"))
    header = not opts.get("no_header", False)
    if opts.get("addr_col") is not None and opts.get("vpn_col") is not None:
        raise SettingsError("give --addr-col or --vpn-col, not both")
    if opts.get("ns_per_record") is not None and opts.get("time_col") is not None:
        raise SettingsError("--ns-per-record is for files without a time column")
    ops = op_table(opts.get("op_map"))
    with Source(src, FORMAT) as s:
        layout = core.read_layout(s, delimiter, header)

    def pick(opt: str, *names: str) -> int | None:
        if opts.get(opt) is not None:
            return layout.column(opts[opt], "--" + opt.replace("_", "-"))
        return layout.find(*names)

    time_col = pick("time_col", "time_ns", "time", "timestamp")
    if opts.get("time_unit") and time_col is None:
        raise SettingsError("--time-unit needs a time column (--time-col)")
    unit = opts.get("time_unit") or "ns"
    if unit not in TIME_SCALE:
        raise SettingsError(f"--time-unit {unit!r} is not one of ns, us, ms, s")
    vpn_col = addr_col = None
    if opts.get("addr_col") is not None:
        addr_col = pick("addr_col")
    elif opts.get("vpn_col") is not None:
        vpn_col = pick("vpn_col")
    else:
        vpn_col = layout.find("vpn", "page")
        if vpn_col is None:
            addr_col = layout.find("addr", "address", "vaddr")
    if vpn_col is None and addr_col is None:
        cols = ", ".join(layout.header) if layout.header else f"{layout.ncols} unnamed"
        raise TraceError(f"no address column among ({cols}): give --addr-col or --vpn-col",
                         path=src, fmt=FORMAT)
    op_col = pick("op_col", "op", "rw", "operation")
    asid_col = pick("asid_col", "asid")
    content_col = pick("content_col", "content")
    ns_per_record = int(opts.get("ns_per_record", 1))
    names = layout.header or [str(i + 1) for i in range(layout.ncols)]
    used = {"time": time_col, "vpn": vpn_col, "addr": addr_col, "op": op_col, "asid": asid_col,
            "content": content_col}
    meta = TraceMeta(
        source_format=FORMAT, source_file=source_name(src),
        recorder="delimited text (recorder unknown)",
        command=opts.get("command") or "",
        licence=opts.get("licence") or "",
        description=opts.get("description") or
        "one access per row: " + ", ".join(f"{k} from column {names[v]!r}"
                                            for k, v in used.items() if v is not None),
        sampled=False, time_source="recorded" if time_col is not None else "ordinal",
        extra={"columns": {k: names[v] for k, v in used.items() if v is not None},
               "time_unit": unit if time_col is not None else None,
               "ops": "recorded" if op_col is not None else "all reads (no op column)",
               "contents": ("per access, from the content column (each page's first "
                            "contents are version 0, the one replayed)"
                            if content_col is not None else
                            "unknown (no content column)")},
    )
    wanted: dict[int, str] = {}
    # how each number column is read: the byte scanner parses them as it goes
    modes: dict[int, tuple[int, int]] = {}
    for c, mode in ((time_col, (core.NUM_DECIMAL, TIME_SCALE[unit])),
                    (vpn_col, (core.NUM_ADDR, 0)), (addr_col, (core.NUM_ADDR, 0)),
                    (asid_col, (core.NUM_INT, 0))):
        if c is not None:
            wanted[c] = core.COL_U64
            modes[c] = mode
    if op_col is not None:
        wanted[op_col] = core.COL_DICT
    if content_col is not None:
        wanted[content_col] = core.COL_DICT
    roles = (time_col, vpn_col, addr_col, op_col, asid_col, content_col)
    if len(set(roles) - {None}) != sum(c is not None for c in roles):
        raise SettingsError("one column is given two roles (time, address, op, asid, "
                            "content)")
    contents = ContentColumn(names[content_col]) if content_col is not None else None
    with Source(src, FORMAT) as source:
        show = progress_wanted(opts.get("progress"), source.size_bytes)
        with progress_bar(f"csv {src.name}", source.size_bytes, show) as update, \
                TraceWriter(out, meta, source=src, fmt=FORMAT,
                            max_rows=opts.get("max_accesses")) as trace_writer, \
                BackgroundWriter(trace_writer) as writer:
            rows = 0
            last_time = -1
            for win in core.iter_windows(source, layout, wanted, on_progress=update,
                                          modes=modes):
                n = win.rows
                if n == 0:
                    continue
                if time_col is not None:
                    t = win.numbers(time_col, core.NUM_DECIMAL, TIME_SCALE[unit], "time")
                    bad = np.flatnonzero(t >= np.uint64(TIME_LIMIT))
                    if len(bad):
                        raise win.fail(int(bad[0]), f"time {int(t[bad[0]])} ns overflows "
                                       "64-bit nanoseconds")
                    time_ns = t.view(np.int64)
                    if time_ns[0] < last_time:
                        raise win.fail(0, f"time goes backwards ({int(time_ns[0])} ns after "
                                       f"{last_time} ns)")
                    dec = np.flatnonzero(time_ns[1:] < time_ns[:-1])
                    if len(dec):
                        i = int(dec[0]) + 1
                        raise win.fail(i, f"time goes backwards ({int(time_ns[i])} ns after "
                                       f"{int(time_ns[i - 1])} ns)")
                    last_time = int(time_ns[-1])
                else:
                    time_ns = np.arange(rows, rows + n, dtype=np.int64) * ns_per_record
                if vpn_col is not None:
                    v = win.numbers(vpn_col, core.NUM_ADDR, 0, "page number")
                    bad = np.flatnonzero(v >= np.uint64(VPN_LIMIT))
                    if len(bad):
                        raise win.fail(int(bad[0]), f"page number {int(v[bad[0]])} is >= 2^52")
                    vpn = v.view(np.int64)
                else:
                    vpn = (win.numbers(addr_col, core.NUM_ADDR, 0, "address")
                           >> np.uint64(12)).view(np.int64)
                if op_col is not None:
                    op = win.codes(op_col, lambda raw: ops.get(raw.strip().lower()),
                                   "op is not read/write/pageout/free (see --op-map):")
                else:
                    op = np.zeros(n, np.uint8)
                if asid_col is not None:
                    a = win.numbers(asid_col, core.NUM_INT, 0, "asid")
                    bad = np.flatnonzero(a >= np.uint64(ASID_LIMIT))
                    if len(bad):
                        raise win.fail(int(bad[0]), f"asid {int(a[bad[0]])} is outside "
                                       "0..2^20-1")
                    asid = a.astype(np.int32)
                else:
                    asid = None
                if contents is not None:
                    contents.add(win, content_col, vpn, asid)
                writer.write(time_ns, vpn, op, asid)
                rows += n
            if contents is None:
                return unknown_note("no content column")
            sidecar, note = contents.finish()
            if sidecar is not None:
                trace_writer.set_contents(**sidecar)
            return note
