"""ChampSim binary traces (``input_instr``, 64 bytes per instruction) -> page accesses.

Layout (ChampSim inc/trace_instruction.h, little-endian, no padding)::

    u64 ip; u8 is_branch; u8 branch_taken; u8 destination_registers[2];
    u8 source_registers[4]; u64 destination_memory[2]; u64 source_memory[4];

Per instruction, in this order: each non-zero ``source_memory`` address is a
read, then each non-zero ``destination_memory`` address a write (zero = empty
slot); with ``include_instructions`` the ip is a read first. ChampSim records
no access size, so an access touches one page. Time is the instruction's
ordinal times ``ns_per_record``. Plain files, ``.xz`` (as ChampSim's traces
are published) and ``.gz`` are streamed. ``is_branch`` and ``branch_taken``
must be 0 or 1: that catches most files that are not ChampSim traces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from replay.errors import SettingsError, TraceError
from replay.importers._common import (
    BackgroundWriter,
    Source,
    iter_binary_chunks,
    progress_bar,
    progress_wanted,
    source_name,
)
from replay.trace import TraceMeta, TraceWriter

FORMAT = "champsim"
OPTIONS = frozenset({"include_instructions", "ns_per_record"})

RECORD = np.dtype([
    ("ip", "<u8"), ("is_branch", "u1"), ("branch_taken", "u1"),
    ("destination_registers", "u1", (2,)), ("source_registers", "u1", (4,)),
    ("destination_memory", "<u8", (2,)), ("source_memory", "<u8", (4,)),
])
assert RECORD.itemsize == 64


def import_trace(src: Path, out: Path, opts: dict) -> None:
    include_instr = bool(opts.get("include_instructions", False))
    ns_per_record = int(opts.get("ns_per_record", 1))
    if ns_per_record < 0:
        raise SettingsError("--ns-per-record must not be negative")
    meta = TraceMeta(
        source_format=FORMAT, source_file=source_name(src),
        recorder="ChampSim tracer (Intel Pin)", command=opts.get("command") or "",
        licence=opts.get("licence") or "",
        description=opts.get("description") or
        "data memory operands of every instruction (sources read, destinations written)"
        + (" and instruction fetches" if include_instr else ""),
        sampled=False, time_source="ordinal",
        extra={"include_instructions": include_instr, "ns_per_record": ns_per_record},
    )
    # column order of an instruction's accesses: [ip], 4 sources (reads), 2 destinations
    ops = np.array(([0] if include_instr else []) + [0, 0, 0, 0, 1, 1], np.uint8)
    with Source(src, FORMAT) as source:
        show = progress_wanted(opts.get("progress"), source.size_bytes)
        with progress_bar(f"champsim {src.name}", source.size_bytes, show) as update, \
                TraceWriter(out, meta, source=src, fmt=FORMAT,
                            max_rows=opts.get("max_accesses")) as trace_writer, \
                BackgroundWriter(trace_writer) as writer:
            for data, first in iter_binary_chunks(source, RECORD.itemsize,
                                                  on_progress=update):
                rec = data.view(RECORD)
                flags = np.flatnonzero((rec["is_branch"] > 1) | (rec["branch_taken"] > 1))
                if len(flags):
                    i = int(flags[0])
                    raise TraceError(
                        f"is_branch {rec['is_branch'][i]} / branch_taken "
                        f"{rec['branch_taken'][i]} are not 0 or 1: not a ChampSim trace",
                        path=src, fmt=FORMAT, record=first + i + 1)
                parts = [rec["source_memory"], rec["destination_memory"]]
                if include_instr:
                    parts.insert(0, rec["ip"][:, None])
                addr = np.concatenate(parts, axis=1)            # (n, 6 or 7), row = instr
                keep = addr != 0
                rows, cols = np.nonzero(keep)                   # row-major: program order
                vpn = (addr[rows, cols] >> np.uint64(12)).astype(np.int64)
                time_ns = (rows.astype(np.int64) + first) * ns_per_record
                if len(vpn):
                    writer.write(time_ns, vpn, ops[cols])
