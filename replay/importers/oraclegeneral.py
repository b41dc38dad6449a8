"""libCacheSim oracleGeneral binary traces -> page accesses.

Each request is a 24-byte little-endian record ``<IQIq>``: clock time
(uint32, seconds), obj_id (uint64; for block traces the logical block number
in 512-byte sectors), size (uint32, bytes), next_access_vtime (int64, -1 =
never again; not used). oracleGeneral has no operation: every access is a
read. Pages and ``expand``: see replay/importers/_block.py. Time must not go
backwards (the sample from libCacheSim's repository does not).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from replay.errors import TraceError
from replay.importers import _block
from replay.importers._common import (
    BackgroundWriter,
    Source,
    iter_binary_chunks,
    progress_bar,
    progress_wanted,
    source_name,
)
from replay.trace import TraceMeta, TraceWriter

FORMAT = "oraclegeneral"
OPTIONS = frozenset({"expand"})

RECORD = np.dtype([("time", "<u4"), ("obj_id", "<u8"), ("size", "<u4"),
                   ("next_access_vtime", "<i8")])
assert RECORD.itemsize == 24


def import_trace(src: Path, out: Path, opts: dict) -> None:
    expand = bool(opts.get("expand", False))
    meta = TraceMeta(
        source_format=FORMAT, source_file=source_name(src),
        recorder="libCacheSim oracleGeneral (traceConv)",
        command=opts.get("command") or "",
        licence=opts.get("licence") or "",
        description=opts.get("description") or
        "block I/O requests (logical block numbers in 512-byte sectors) as 4 KiB pages",
        sampled=False, time_source="recorded",
        extra={"expand": expand, "ops": "all reads (oracleGeneral records no operation)",
               "time_unit": "s"},
    )
    with Source(src, FORMAT) as source:
        show = progress_wanted(opts.get("progress"), source.size_bytes)
        with progress_bar(f"oracleGeneral {src.name}", source.size_bytes, show) as update, \
                TraceWriter(out, meta, source=src, fmt=FORMAT,
                            max_rows=opts.get("max_accesses")) as trace_writer, \
                BackgroundWriter(trace_writer) as writer:
            last_time = -1
            for data, first in iter_binary_chunks(source, RECORD.itemsize,
                                                  on_progress=update):
                rec = data.view(RECORD)
                time_ns = rec["time"].astype(np.int64) * _block.NS_PER_S
                lbn = rec["obj_id"]
                size = rec["size"].astype(np.uint64)

                def fail(i: int, what: str, first=first) -> TraceError:
                    return TraceError(what, path=src, fmt=FORMAT, record=first + i + 1)

                _block.check_requests(time_ns, lbn, size, last_time, fail)
                last_time = int(time_ns[-1])
                op = np.zeros(len(rec), np.uint8)
                for t, vpn, o in _block.request_accesses(time_ns, lbn, size, op, expand):
                    writer.write(t, vpn, o)
