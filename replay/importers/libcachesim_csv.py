"""libCacheSim's block-trace CSV (``version,time,op,size,lbn``) -> page accesses.

Columns by position, as libCacheSim reads them: 1 version (ignored), 2 time
(seconds), 3 op (SCSI opcode in hex: 08/28/88/a8 read, 0a/2a/8a/aa write;
also read/write/r/w), 4 size (bytes), 5 lbn (512-byte sectors). A first line
whose time field is not a number is a header. Pages and ``expand``: see
replay/importers/_block.py. Time must not go backwards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from replay.errors import TraceError
from replay.importers import _block
from replay.importers import _csvcore as core
from replay.importers._common import (
    BackgroundWriter,
    Source,
    progress_bar,
    progress_wanted,
    source_name,
)
from replay.trace import OP_READ, OP_WRITE, TraceMeta, TraceWriter

FORMAT = "libcachesim-csv"
OPTIONS = frozenset({"expand"})

SCSI_READ = (0x08, 0x28, 0x88, 0xA8)     # READ(6), READ(10), READ(16), READ(12)
SCSI_WRITE = (0x0A, 0x2A, 0x8A, 0xAA)    # WRITE(6), WRITE(10), WRITE(16), WRITE(12)
NAMES = {b"read": OP_READ, b"r": OP_READ, b"get": OP_READ,
         b"write": OP_WRITE, b"w": OP_WRITE, b"set": OP_WRITE}
COL_TIME, COL_OP, COL_SIZE, COL_LBN = 1, 2, 3, 4


def op_code(raw: bytes) -> int | None:
    text = raw.strip().lower()
    if text in NAMES:
        return NAMES[text]
    try:
        code = int(text.removeprefix(b"0x"), 16)
    except ValueError:
        return None
    if code in SCSI_READ:
        return OP_READ
    if code in SCSI_WRITE:
        return OP_WRITE
    return None


def _has_header(src: Path) -> bool:
    with Source(src, FORMAT) as s:
        layout = core.read_layout(s, ",", header=True)
    fields = layout.header or []
    if len(fields) < 5:
        raise TraceError(f"{len(fields)} columns; expected 5 (version,time,op,size,lbn)",
                         path=src, fmt=FORMAT, line=1)
    return not fields[COL_TIME].strip().replace(".", "", 1).isdigit()


def import_trace(src: Path, out: Path, opts: dict) -> None:
    expand = bool(opts.get("expand", False))
    header = _has_header(src)
    meta = TraceMeta(
        source_format=FORMAT, source_file=source_name(src),
        recorder="libCacheSim block trace CSV",
        command=opts.get("command") or "",
        licence=opts.get("licence") or "",
        description=opts.get("description") or
        "block I/O requests (logical block numbers in 512-byte sectors) as 4 KiB pages",
        sampled=False, time_source="recorded",
        extra={"expand": expand, "time_unit": "s", "header": header},
    )
    with Source(src, FORMAT) as source:
        layout = core.read_layout(source, ",", header)
    wanted = {COL_TIME: core.COL_U64, COL_OP: core.COL_DICT, COL_SIZE: core.COL_U64,
              COL_LBN: core.COL_U64}
    with Source(src, FORMAT) as source:
        show = progress_wanted(opts.get("progress"), source.size_bytes)
        with progress_bar(f"libCacheSim csv {src.name}", source.size_bytes, show) as update, \
                TraceWriter(out, meta, source=src, fmt=FORMAT,
                            max_rows=opts.get("max_accesses")) as trace_writer, \
                BackgroundWriter(trace_writer) as writer:
            last_time = -1
            for win in core.iter_windows(source, layout, wanted, on_progress=update):
                if win.rows == 0:
                    continue
                t = win.numbers(COL_TIME, core.NUM_DECIMAL, 9, "time")
                bad = np.flatnonzero(t >= np.uint64(1 << 63))
                if len(bad):
                    raise win.fail(int(bad[0]), "time overflows 64-bit nanoseconds")
                time_ns = t.view(np.int64)
                lbn = win.numbers(COL_LBN, core.NUM_INT, 0, "lbn")
                size = win.numbers(COL_SIZE, core.NUM_INT, 0, "size")
                op = win.codes(COL_OP, op_code, "op is not a SCSI read or write opcode "
                               "(hex 28, 2a, 08, 0a, 88, 8a, a8, aa) nor read/write:")
                _block.check_requests(time_ns, lbn, size, last_time, win.fail)
                last_time = int(time_ns[-1])
                for tt, vpn, o in _block.request_accesses(time_ns, lbn, size, op, expand):
                    writer.write(tt, vpn, o)
