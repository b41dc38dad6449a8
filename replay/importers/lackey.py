"""valgrind ``--tool=lackey --trace-mem=yes`` output -> page accesses.

Lackey prints one line per guest memory access, in program order::

    I  0400d7d4,8        instruction fetch (skipped unless include_instructions)
     L 04222cac,8        load   -> read
     S 04222cb0,4        store  -> write
     M 0421fe00,8        modify (load and store of one location) -> one write

plus ``==pid==`` / ``--pid--`` banner lines (skipped; the ``Command:`` line
fills meta.command). An access whose bytes cross a page boundary touches
every page it covers (``crossing="both"``, the default: the CPU faults on
each) or only the first (``crossing="first"``). Time is the ordinal of the
line among I/L/S/M lines times ``ns_per_record`` (meta.time_source "ordinal").

Parsing is a byte scanner in C (replay/scan/lackey.c) over chunks of a few
tens of MB: no Python per line (>= 5 M lines/s, see benchmarks/bench_import.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from replay import _scan
from replay.errors import SettingsError, TraceError
from replay.importers._common import (
    BackgroundWriter,
    Source,
    iter_text_chunks,
    progress_bar,
    progress_wanted,
    source_name,
)
from replay.trace import TraceMeta, TraceWriter

FORMAT = "lackey"
OPTIONS = frozenset({"include_instructions", "crossing", "ns_per_record"})

MAX_ACCESS_BYTES = 1 << 16          # larger sizes are not lackey's (x86 max is a 4 KiB xsave)
MAX_PAGES_PER_LINE = (MAX_ACCESS_BYTES >> 12) + 1
OUT_ROWS = 1 << 22                  # accesses per written chunk

_ERRORS = {
    1: "not a lackey line (expected 'I', ' L', ' S', ' M' or a ==pid== banner)",
    2: "no hexadecimal address after the access kind",
    3: "address has more than 16 hex digits (page number >= 2^52)",
    4: "no ',' between address and size",
    5: "no decimal size after ','",
    6: f"access size is larger than {MAX_ACCESS_BYTES} bytes",
    7: "unexpected text after the size",
}


_COMMAND = re.compile(rb"^==\d+== Command: (.*)$", re.MULTILINE)
_VERSION = re.compile(rb"^==\d+== Using Valgrind-(\S+)", re.MULTILINE)
_TOOL = re.compile(rb"^==\d+== (Lackey), ", re.MULTILINE)


def _banner(head: bytes) -> tuple[str, str]:
    """(recorder, command) from the valgrind banner at the top of the file, if any."""
    recorder = "valgrind --tool=lackey --trace-mem=yes"
    m = _VERSION.search(head)
    if m:
        recorder += f" (valgrind {m.group(1).decode('latin-1').rstrip(' ;')})"
    m = _COMMAND.search(head)
    command = m.group(1).decode("utf-8", "replace").strip() if m else ""
    return recorder, command


def import_trace(src: Path, out: Path, opts: dict) -> None:
    include_instr = bool(opts.get("include_instructions", False))
    crossing = opts.get("crossing", "both")
    if crossing not in ("both", "first"):
        raise SettingsError(f"--crossing {crossing!r} is not 'both' or 'first'")
    ns_per_record = int(opts.get("ns_per_record", 1))
    if ns_per_record < 0:
        raise SettingsError("--ns-per-record must not be negative")
    with Source(src, FORMAT) as head_source:
        head = bytearray(1 << 16)
        got = head_source.read_into(memoryview(head))
    recorder, command = _banner(bytes(head[:got]))
    meta = TraceMeta(
        source_format=FORMAT, source_file=source_name(src), recorder=recorder,
        command=opts.get("command") or command,
        licence=opts.get("licence") or "",
        description=opts.get("description") or
        "every guest data access (loads, stores, modifies"
        + (", instruction fetches" if include_instr else "") + ") traced by valgrind lackey",
        sampled=False, time_source="ordinal",
        extra={"crossing": crossing, "include_instructions": include_instr,
               "ns_per_record": ns_per_record},
    )
    with Source(src, FORMAT) as source:
        show = progress_wanted(opts.get("progress"), source.size_bytes)
        with progress_bar(f"lackey {src.name}", source.size_bytes, show) as update, \
                TraceWriter(out, meta, source=src, fmt=FORMAT,
                            max_rows=opts.get("max_accesses")) as trace_writer, \
                BackgroundWriter(trace_writer) as writer:
            ordinal = 0
            line = 1
            for chunk in iter_text_chunks(source, on_progress=update, count_lines=False):
                ordinal, line = _import_chunk(chunk, line, writer, ordinal, ns_per_record,
                                              include_instr, crossing == "both", src)


def _import_chunk(chunk, line: int, writer: BackgroundWriter, ordinal: int,
                  ns_per_record: int, include_instr: bool, both: bool,
                  src: Path) -> tuple[int, int]:
    """Scan one chunk (first line number ``line``); return (ordinal, next line number).

    The scanner parses whole lines of ``data[pos:end]`` into the out arrays and
    returns (pos, rows out, ordinal, lines done, error code); on an error, pos is
    the start of the bad line and lines done counts the lines before it. It stops
    early (at a line start) when the out arrays are nearly full."""
    data = chunk.data
    end = len(data)
    pos = 0
    while pos < end:
        t = np.empty(OUT_ROWS, np.int64)
        v = np.empty(OUT_ROWS, np.int64)
        o = np.empty(OUT_ROWS, np.uint8)
        pos, n, ordinal, lines, err = _scan.lackey(data, pos, end, ordinal, ns_per_record,
                                                   include_instr, both, t, v, o, 0)
        line += lines
        if err:
            text = bytes(data[pos:pos + 60]).split(b"\n")[0].decode("latin-1")
            raise TraceError(f"{_ERRORS[err]}: {text!r}", path=src, fmt=FORMAT, line=line)
        if n:
            writer.write(t[:n], v[:n], o[:n])
    return ordinal, line
