"""Importers from formats people already record; one module per format.

Each module (imported lazily, only when its format is used) defines
``FORMAT`` (its name here), ``OPTIONS`` (the option names it accepts) and
``import_trace(src, out, options)``, which streams the source into a
``TraceWriter`` (and may return words for the end of the import line).
``run_import`` is the one way in: it checks the paths, rejects options the
format does not use, and turns every complaint about the input into one
``TraceError`` line (file, format, line or record, what is wrong).
See docs/trace-format.md for how each source maps to page accesses.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import pyarrow as pa

from replay.errors import ReplayError, SettingsError, TraceError, os_reason
from replay.importers._common import check_regular_source
from replay.trace import check_trace_output

FORMATS: dict[str, str] = {
    "csv": "replay.importers.csvfile",
    "lackey": "replay.importers.lackey",
    "damo": "replay.importers.damo",
    "libcachesim-csv": "replay.importers.libcachesim_csv",
    "oraclegeneral": "replay.importers.oraclegeneral",
    "champsim": "replay.importers.champsim",
    "perf-script": "replay.importers.perf_script",
}

# options every importer takes (see replay/commands/import_.py)
COMMON_OPTIONS = frozenset({"progress", "description", "command", "licence", "max_accesses"})

# An import writes at most this many accesses unless --max-accesses says otherwise: the
# larger of 2^30 and 64 per byte of the source file. Sources whose accesses follow from
# their bytes (a lackey or csv line, a ChampSim record) stay far below it; it stops a
# source that expands without bound (a DAMON region, an --expand'ed 4 GiB block request,
# a decompression bomb) before it fills the disk.
DEFAULT_MAX_ACCESSES = 1 << 30
MAX_ACCESSES_PER_BYTE = 64


def default_max_accesses(source_bytes: int) -> int:
    return max(DEFAULT_MAX_ACCESSES, MAX_ACCESSES_PER_BYTE * source_bytes)


def importer(fmt: str):
    """The module importing ``fmt``."""
    if fmt not in FORMATS:
        raise SettingsError(f"unknown trace format {fmt!r} (known: {', '.join(sorted(FORMATS))})")
    return importlib.import_module(FORMATS[fmt])


def run_import(fmt: str, src: str | os.PathLike, out: str | os.PathLike,
               options: dict | None = None) -> str | None:
    """Import ``src`` (recorded in ``fmt``) as the canonical trace ``out``.

    ``options`` maps option names to values; ``None`` values mean "not given".
    Bad input raises ``TraceError``; nothing is left at ``out`` (or beside it)
    unless the import succeeded. Returns what the importer has to add to the import
    line (csv: where the page contents came from), or None.
    """
    module = importer(fmt)
    given = {k: v for k, v in (options or {}).items() if v is not None}
    allowed = COMMON_OPTIONS | module.OPTIONS
    stray = sorted(set(given) - allowed)
    if stray:
        names = ", ".join("--" + s.replace("_", "-") for s in stray)
        raise SettingsError(f"{names} does not apply to the {fmt} format")
    src_path = Path(src)
    out_path = Path(out)
    st = check_regular_source(src_path, fmt)
    if not os.access(src_path, os.R_OK):
        raise TraceError("not readable (permission denied)", path=src_path, fmt=fmt)
    if st.st_size == 0:
        raise TraceError("file is empty", path=src_path, fmt=fmt)
    given.setdefault("max_accesses", default_max_accesses(st.st_size))
    # the output (and the sidecars beside it, which a new trace replaces or removes) is
    # checked before the work: its folder, its kind, and that it is not the source
    check_trace_output(out_path, [src_path])
    try:
        return module.import_trace(src_path, out_path, given)
    except ReplayError:
        raise
    except MemoryError:
        raise TraceError("out of memory while importing", path=src_path, fmt=fmt) from None
    except (ValueError, OverflowError, UnicodeDecodeError, EOFError, json.JSONDecodeError,
            pa.ArrowException) as e:
        raise TraceError(_first_line(e), path=src_path, fmt=fmt) from None
    except OSError as e:
        # reading the source reports its own errors (Source.read_into): this is the output
        raise TraceError(f"cannot write the trace ({os_reason(e)})", path=out_path) from None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__
