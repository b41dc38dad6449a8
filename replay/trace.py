"""The canonical trace: a Parquet access table plus two optional sidecars.

See docs/trace-format.md for the format. This module is the only code that
reads or writes it; importers hand it numpy arrays, the engine reads numpy
arrays back in bounded chunks.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from replay.atomic import check_output, final_path, remove_temp, replace, temp_beside
from replay.errors import TraceError, os_reason

PAGE_SIZE = 4096
PAGE_SHIFT = 12
VPN_LIMIT = 1 << 52           # vpn of a 4 KiB page in a 64-bit address space
ASID_LIMIT = 1 << 20          # asids are packed beside the 2 MiB block number
BLOCK_SHIFT = 9               # 512 pages = one 2 MiB PMD block
BLOCK_PAGES = 1 << BLOCK_SHIFT
FORMAT_VERSION = 1
META_KEY = b"folio_replay"

OP_READ, OP_WRITE, OP_PAGEOUT, OP_FREE = 0, 1, 2, 3
OP_NAMES = ("read", "write", "pageout", "free")

# Content classes: what a page holds when its real bytes were not recorded.
CONTENT_CLASSES = ("unknown", "zero", "random", "text", "half", "mixed", "code")

ACCESS_SCHEMA = pa.schema([
    pa.field("time_ns", pa.int64(), nullable=False),
    pa.field("vpn", pa.int64(), nullable=False),
    pa.field("op", pa.uint8(), nullable=False),
    pa.field("asid", pa.int32(), nullable=False),
])

CONTENTS_SCHEMA = pa.schema([
    pa.field("asid", pa.int32(), nullable=False),
    pa.field("vpn", pa.int64(), nullable=False),
    pa.field("npages", pa.int64(), nullable=False),
    pa.field("version", pa.int32(), nullable=False),
    pa.field("content_class", pa.string(), nullable=False),
    pa.field("data", pa.binary(), nullable=True),
])

REGIONS_SCHEMA = pa.schema([
    pa.field("asid", pa.int32(), nullable=False),
    pa.field("start_vpn", pa.int64(), nullable=False),
    pa.field("end_vpn", pa.int64(), nullable=False),
    pa.field("hugepage", pa.bool_(), nullable=False),
    pa.field("name", pa.string(), nullable=True),
])

DEFAULT_CHUNK_ROWS = 1 << 20


@dataclass
class TraceMeta:
    """File-level metadata stored in the access table's Parquet key-value metadata."""

    source_format: str = "unknown"
    source_file: str = ""
    page_size: int = PAGE_SIZE
    recorder: str = ""
    command: str = ""
    description: str = ""
    licence: str = ""
    sampled: bool = False
    sampling: str = ""          # how the source relates to real accesses when sampled
    time_source: str = "ordinal"  # "recorded" when time_ns came from the source
    format_version: int = FORMAT_VERSION
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> TraceMeta:
        """The metadata, every known field checked for its type; ValueError or TypeError
        saying what is wrong otherwise (fields this version does not know are ignored)."""
        try:
            raw = json.loads(text)
        except RecursionError:
            raise ValueError("metadata is JSON nested too deeply") from None
        except ValueError as e:                  # JSONDecodeError, UnicodeDecodeError
            raise ValueError(f"metadata is not JSON ({_first_line(e)[:80]})") from None
        if not isinstance(raw, dict):
            raise TypeError(f"metadata is a JSON {_json_kind(raw)}, not an object")
        for name, want in _META_TYPES.items():
            if name not in raw:
                continue
            v = raw[name]
            ok = (type(v) is int) if want is int else isinstance(v, want)
            if not ok:
                shown = repr(v)
                shown = shown if len(shown) <= 40 else shown[:37] + "..."
                raise TypeError(f"metadata field {name} is {shown}, not "
                                 f"{_META_TYPE_NAMES[want]}")
        if raw.get("time_source", "ordinal") not in ("recorded", "ordinal"):
            raise ValueError(f"metadata field time_source is {raw['time_source']!r}, not "
                             "'recorded' or 'ordinal'")
        return cls(**{k: v for k, v in raw.items() if k in _META_TYPES})


_META_TYPES = {f.name: {"str": str, "int": int, "bool": bool, "dict": dict}[f.type]
               for f in dataclasses.fields(TraceMeta)}
_META_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false",
                    dict: "an object"}


def _json_kind(v) -> str:
    return {type(None): "null", list: "list", str: "string", int: "number", float: "number",
            bool: "boolean"}.get(type(v), type(v).__name__)


def sidecar_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(contents, regions) sidecar paths of the trace at ``path`` (same stem)."""
    p = Path(path)
    stem = p.name.removesuffix(".parquet")
    return p.with_name(stem + ".contents.parquet"), p.with_name(stem + ".regions.parquet")


def block_keys(vpn: np.ndarray, asid: np.ndarray) -> np.ndarray:
    """The (address space, 2 MiB block) key of each access, as one int64."""
    return (asid.astype(np.int64) << 43) | (vpn >> BLOCK_SHIFT)


# ---------------------------------------------------------------- validation


def check_accesses(time_ns: np.ndarray, vpn: np.ndarray, op: np.ndarray, asid: np.ndarray,
                   *, last_time: int, first_row: int, path, fmt: str,
                   lines: np.ndarray | None = None) -> None:
    """Raise TraceError naming the first bad row of a chunk (1-based record or line)."""

    def fail(idx: int, what: str) -> None:
        if lines is not None:
            raise TraceError(what, path=path, fmt=fmt, line=int(lines[idx]))
        raise TraceError(what, path=path, fmt=fmt, record=first_row + idx + 1)

    n = len(vpn)
    if not (len(time_ns) == n == len(op) == len(asid)):
        raise TraceError("columns have different lengths", path=path, fmt=fmt)
    if n == 0:
        return
    if all(a.dtype.kind in "iu" for a in (time_ns, vpn, op, asid)):
        from replay.dense_ids import accesses_ok  # C (replay/scan/rows.c), one loop
        if accesses_ok(time_ns, vpn, op, asid, last_time):
            return
    # a bad row: the vectorised checks below find the first one and name it
    bad = (vpn < 0) | (vpn >= VPN_LIMIT)
    if bad.any():
        i = int(np.argmax(bad))
        fail(i, f"page number {int(vpn[i])} is outside 0..2^52-1")
    bad = op > OP_FREE
    if bad.any():
        i = int(np.argmax(bad))
        fail(i, f"op {int(op[i])} is not 0 (read), 1 (write), 2 (pageout) or 3 (free)")
    bad = (asid < 0) | (asid >= ASID_LIMIT)
    if bad.any():
        i = int(np.argmax(bad))
        fail(i, f"address space id {int(asid[i])} is outside 0..2^20-1")
    if time_ns[0] < last_time:
        fail(0, f"time goes backwards ({int(time_ns[0])} after {last_time})")
    if n > 1:
        dec = time_ns[1:] < time_ns[:-1]
        if dec.any():
            i = int(np.argmax(dec)) + 1
            fail(i, f"time goes backwards ({int(time_ns[i])} after {int(time_ns[i - 1])})")


# ---------------------------------------------------------------- writing


def check_trace_output(out_path: str | os.PathLike,
                       inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Check a trace output and its two sidecar paths before any work (see
    replay.atomic.check_output: folder, kind of file, not an input)."""
    out = Path(out_path)
    for p in (out, *sidecar_paths(out)):
        check_output(p, inputs, "output")
    return out


def too_many_accesses(limit: int, source, fmt: str | None, where: str = "") -> TraceError:
    """The error of an import whose output would pass its limit (``--max-accesses``)."""
    return TraceError(f"{where}more than {limit:,} accesses: over the import's limit "
                      "(--max-accesses; the default is the larger of 2^30 and 64 per byte "
                      "of the source)", path=source, fmt=fmt)


class TraceWriter:
    """Writes a trace atomically: everything goes to temporary files renamed at close.

    Errors inside the ``with`` block remove every temporary file, so a failed
    import leaves nothing behind. ``source`` and ``fmt`` name the input in
    error messages (the user fixes the input, not the output).
    """

    def __init__(self, out_path: str | os.PathLike, meta: TraceMeta, *,
                 source: str | os.PathLike | None = None, fmt: str | None = None,
                 row_group_rows: int = DEFAULT_CHUNK_ROWS,
                 max_rows: int | None = None) -> None:
        self.out_path = Path(out_path)
        self.meta = meta
        self.source = source if source is not None else out_path
        self._input = source                 # the source, which the output must not be
        self.fmt = fmt or meta.source_format
        self.row_group_rows = row_group_rows
        self.max_rows = max_rows             # more accesses than this are an error
        self.rows = 0
        self.last_time = -(1 << 63)
        self._regions: pa.Table | None = None
        self._contents: pa.Table | None = None
        self._temps: list[Path] = []
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> Self:
        check_trace_output(self.out_path, [self._input])
        self._main_tmp = temp_beside(final_path(self.out_path))
        self._temps.append(self._main_tmp)
        schema = ACCESS_SCHEMA.with_metadata({META_KEY: self.meta.to_json().encode()})
        try:
            # dictionary encoding only where it pays (op, asid); time_ns and vpn as
            # DELTA_BINARY_PACKED (standard Parquet, read by every Arrow/Parquet reader):
            # about half the write and read CPU of plain + zstd, and files mostly smaller
            # (traces/kvscan: 1.7 MB instead of 4.5)
            self._writer = pq.ParquetWriter(self._main_tmp, schema, compression="zstd",
                                            use_dictionary=["op", "asid"],
                                            column_encoding={"time_ns": "DELTA_BINARY_PACKED",
                                                             "vpn": "DELTA_BINARY_PACKED"})
        except BaseException:
            remove_temp(self._main_tmp)
            raise
        return self

    def write(self, time_ns, vpn, op, asid=None, *, lines: np.ndarray | None = None) -> None:
        """Append a chunk of accesses (validated first; see check_accesses)."""
        vpn = np.asarray(vpn, dtype=np.int64)
        n = len(vpn)
        time_ns = np.asarray(time_ns, dtype=np.int64)
        op = np.asarray(op)
        if op.dtype != np.uint8:
            wide = op.astype(np.int64)
            if len(wide) and ((wide < 0) | (wide > OP_FREE)).any():
                i = int(np.argmax((wide < 0) | (wide > OP_FREE)))
                where = {"line": int(lines[i])} if lines is not None else \
                    {"record": self.rows + i + 1}
                raise TraceError(f"op {int(wide[i])} is not 0 (read), 1 (write), 2 (pageout) "
                                 "or 3 (free)", path=self.source, fmt=self.fmt, **where)
            op = wide.astype(np.uint8)
        asid = np.zeros(n, np.int32) if asid is None else np.asarray(asid, dtype=np.int32)
        check_accesses(time_ns, vpn, op, asid, last_time=self.last_time, first_row=self.rows,
                       path=self.source, fmt=self.fmt, lines=lines)
        if n == 0:
            return
        if self.max_rows is not None and self.rows + n > self.max_rows:
            raise too_many_accesses(self.max_rows, self.source, self.fmt)
        table = pa.Table.from_arrays(
            [pa.array(time_ns), pa.array(vpn), pa.array(op), pa.array(asid)],
            schema=ACCESS_SCHEMA)
        try:
            self._writer.write_table(table, row_group_size=self.row_group_rows)
        except OSError as e:
            raise self._write_error(e) from None
        self.rows += n
        self.last_time = int(time_ns[-1])

    def set_regions(self, asid, start_vpn, end_vpn, hugepage, name=None) -> None:
        """Record the mappings (VMAs). ``end_vpn`` is exclusive."""
        n = len(start_vpn)
        start = np.asarray(start_vpn, np.int64)
        end = np.asarray(end_vpn, np.int64)
        if n and ((start < 0).any() or (end > VPN_LIMIT).any() or (end <= start).any()):
            raise TraceError("a region is empty or outside 0..2^52 pages",
                             path=self.source, fmt=self.fmt)
        self._regions = pa.Table.from_arrays([
            pa.array(np.asarray(asid, np.int32)), pa.array(start), pa.array(end),
            pa.array(np.asarray(hugepage, bool)),
            pa.array(list(name) if name is not None else [None] * n, pa.string()),
        ], schema=REGIONS_SCHEMA)

    def set_contents(self, asid, vpn, npages, version, content_class, data=None) -> None:
        """Record page contents: a class per page range, or real 4 KiB bytes per page."""
        n = len(vpn)
        classes = list(content_class)
        unknown = set(classes) - set(CONTENT_CLASSES)
        if unknown:
            raise TraceError(f"unknown content class {min(unknown)!r}",
                             path=self.source, fmt=self.fmt)
        if data is None:
            data = [None] * n
        for d in data:
            if d is not None and len(d) != PAGE_SIZE:
                raise TraceError(f"page contents of {len(d)} bytes, not {PAGE_SIZE}",
                                 path=self.source, fmt=self.fmt)
        self._contents = pa.Table.from_arrays([
            pa.array(np.asarray(asid, np.int32)), pa.array(np.asarray(vpn, np.int64)),
            pa.array(np.asarray(npages, np.int64)), pa.array(np.asarray(version, np.int32)),
            pa.array(classes, pa.string()), pa.array(list(data), pa.binary()),
        ], schema=CONTENTS_SCHEMA)

    def _write_error(self, e: OSError) -> TraceError:
        return TraceError(f"cannot write the trace ({os_reason(e)})", path=self.out_path)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._writer is not None:
                writer, self._writer = self._writer, None
                try:
                    writer.close()
                except OSError as e:
                    if exc_type is None:
                        raise self._write_error(e) from None
            if exc_type is not None:
                return
            if self.rows == 0:
                raise TraceError("no accesses found", path=self.source, fmt=self.fmt)
            contents_path, regions_path = sidecar_paths(self.out_path)
            renames = []
            try:
                for table, final in ((self._contents, contents_path),
                                     (self._regions, regions_path)):
                    final = final_path(final)
                    if table is not None:
                        tmp = temp_beside(final)
                        self._temps.append(tmp)
                        pq.write_table(table, tmp, compression="zstd")
                        renames.append((tmp, final))
                    elif final.exists():
                        final.unlink()   # a stale sidecar of an older trace must not travel
                renames.append((self._main_tmp, final_path(self.out_path)))  # the table last
                for tmp, final in renames:
                    replace(tmp, final)
            except OSError as e:
                raise self._write_error(e) from None
            self._temps.clear()
        finally:
            for t in self._temps:
                remove_temp(t)


def write_trace(out_path, meta: TraceMeta, time_ns, vpn, op, asid=None, *,
                regions: dict | None = None, contents: dict | None = None) -> None:
    """Write a whole in-memory trace (used by the generators and tests)."""
    with TraceWriter(out_path, meta) as w:
        n = len(vpn)
        for s in range(0, n, DEFAULT_CHUNK_ROWS):
            e = min(n, s + DEFAULT_CHUNK_ROWS)
            w.write(time_ns[s:e], vpn[s:e], op[s:e], None if asid is None else asid[s:e])
        if regions is not None:
            w.set_regions(**regions)
        if contents is not None:
            w.set_contents(**contents)


# ---------------------------------------------------------------- reading


@dataclass
class AccessChunk:
    """One bounded chunk of a trace as numpy arrays."""

    first_row: int
    time_ns: np.ndarray
    vpn: np.ndarray
    op: np.ndarray
    asid: np.ndarray

    def __len__(self) -> int:
        return len(self.vpn)


class Trace:
    """A canonical trace opened for reading; see ``open_trace``."""

    FMT = "folio-replay trace"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        _check_regular(self.path, None)
        try:
            # pre_buffer (pyarrow's default) kept the buffers of every row group read:
            # memory grew with the trace's length
            self._pf = pq.ParquetFile(self.path, pre_buffer=False)
        except (pa.ArrowException, OSError) as e:
            raise TraceError(f"not a readable Parquet file ({_first_line(e)})",
                             path=self.path, fmt=self.FMT) from None
        schema = self._pf.schema_arrow
        got = [(f.name, f.type) for f in schema]
        want = [(f.name, f.type) for f in ACCESS_SCHEMA]
        if got != want:
            cols = ", ".join(f"{n} {t}" for n, t in got)
            raise TraceError(f"columns are ({cols}), expected (time_ns int64, vpn int64, "
                             "op uint8, asid int32)", path=self.path, fmt=self.FMT)
        md = schema.metadata or {}
        try:
            self.meta = TraceMeta.from_json(md[META_KEY]) if META_KEY in md else TraceMeta()
        except (ValueError, TypeError) as e:
            raise TraceError(str(e), path=self.path, fmt=self.FMT) from None
        if self.meta.page_size != PAGE_SIZE:
            raise TraceError(f"page size {self.meta.page_size} is not supported "
                             f"(only {PAGE_SIZE})", path=self.path, fmt=self.FMT)
        if self.meta.format_version != FORMAT_VERSION:
            raise TraceError(f"format version {self.meta.format_version} is not one this "
                             f"folio-replay reads ({FORMAT_VERSION})", path=self.path,
                             fmt=self.FMT)
        md = self._pf.metadata
        # the footer's count, until a pass over the data confirms it (iter_chunks)
        self.num_accesses = md.num_rows
        groups = sum(md.row_group(i).num_rows for i in range(md.num_row_groups))
        if groups != md.num_rows:
            raise self._count_error(groups)
        self.contents_path, self.regions_path = sidecar_paths(self.path)
        self._blocks: np.ndarray | None = None
        self._block_chunks: np.ndarray | None = None   # uint32 per block, see block_chunk_masks
        self._index = None                   # replay.dense_ids.DenseIndex of _blocks
        self._rows_checked = False           # a pass of iter_chunks checked every row
        self._sidecars: dict[str, pa.Table | None] = {}

    def _count_error(self, rows: int) -> TraceError:
        return TraceError(f"the footer says {self.num_accesses:,} accesses but the data holds "
                          f"{rows:,}: a damaged file", path=self.path, fmt=self.FMT)

    # -- streaming
    def iter_chunks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                    columns: tuple[str, ...] = ("time_ns", "vpn", "op", "asid"),
                    validate: bool = True) -> Iterator[AccessChunk]:
        """Yield validated chunks of at most ``chunk_rows`` accesses, in order.

        Once one pass has checked every row (``block_table`` does), later passes of the
        same Trace skip the check: the rows were read from the same open file."""
        if chunk_rows <= 0:
            raise ValueError("chunk_rows must be positive")
        row = 0
        last_time = -(1 << 63)
        cols = list(columns)
        if validate:
            cols = ["time_ns", "vpn", "op", "asid"]
        check = validate and not self._rows_checked
        try:
            for batch in self._pf.iter_batches(batch_size=chunk_rows, columns=cols):
                for i, name in enumerate(cols):
                    if batch.column(i).null_count:
                        k = _first_null(batch.column(i))
                        raise TraceError(f"{name} is null (a required column)",
                                         path=self.path, fmt=self.FMT, record=row + k + 1)
                arrays = {name: batch.column(i).to_numpy(zero_copy_only=False)
                          for i, name in enumerate(cols)}
                n = batch.num_rows
                empty = np.zeros(0)
                chunk = AccessChunk(row, arrays.get("time_ns", empty), arrays.get("vpn", empty),
                                    arrays.get("op", empty), arrays.get("asid", empty))
                if check and n:
                    check_accesses(chunk.time_ns, chunk.vpn, chunk.op, chunk.asid,
                                   last_time=last_time, first_row=row, path=self.path,
                                   fmt=self.FMT)
                    last_time = int(chunk.time_ns[-1])
                row += n
                yield chunk
        except (pa.ArrowException, OSError) as e:
            raise TraceError(f"corrupt or truncated data near record {row + 1} "
                             f"({_first_line(e)})", path=self.path, fmt=self.FMT) from None
        # the rows counted are the trace's size; a footer that says otherwise is damage
        if row != self.num_accesses:
            raise self._count_error(row)
        if check:
            self._rows_checked = True

    # -- dense page ids
    def block_table(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> np.ndarray:
        """Sorted distinct (asid, 2 MiB block) keys (``block_keys``): one validating pass
        collecting them in a compiled hash set, one sort; then cached."""
        if self._blocks is None:
            from replay.dense_ids import BlockSet
            blocks = BlockSet()
            for ch in self.iter_chunks(chunk_rows):
                blocks.add(ch.vpn, ch.asid)
            self._blocks, self._block_chunks = blocks.sorted_keys_and_chunks()
        return self._blocks

    def block_chunk_masks(self, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> np.ndarray:
        """Per block of ``block_table()`` (same order), a uint32 mask of the 16-page chunks
        of the block the trace touches, by any op: bit ``(vpn & 511) >> 4``. Collected by
        the block table's pass (no pass of its own) and cached with it."""
        self.block_table(chunk_rows)
        return self._block_chunks

    def dense_ids(self, chunk: AccessChunk) -> np.ndarray:
        """Dense page ids: rank of the 2 MiB block * 512 + offset in it (folio alignment kept).

        The rank is ``np.searchsorted(block_table(), block_keys(vpn, asid))``, found by a
        compiled hash lookup built once per trace; a key not in the table gets its
        searchsorted rank too (a chunk of this trace never has one)."""
        table = self.block_table()
        if self._index is None or self._index.table is not table:
            from replay.dense_ids import DenseIndex
            self._index = DenseIndex(table)
        return self._index.dense_ids(chunk.vpn, chunk.asid)

    @property
    def num_dense_pages(self) -> int:
        return len(self.block_table()) * BLOCK_PAGES

    # -- checks
    def check(self) -> Trace:
        """Read and check everything before a replay: every row (one validating pass,
        which ``block_table`` keeps), the row count, both sidecars. A trace without
        accesses is refused: there is nothing to replay."""
        self.block_table()
        if self.num_accesses == 0:
            raise TraceError("no accesses: nothing to replay or describe", path=self.path,
                             fmt=self.FMT)
        self.contents()
        self.regions()
        return self

    # -- sidecars
    def regions(self) -> pa.Table | None:
        return self._read_sidecar(self.regions_path, REGIONS_SCHEMA, "regions sidecar")

    def contents(self) -> pa.Table | None:
        return self._read_sidecar(self.contents_path, CONTENTS_SCHEMA, "contents sidecar")

    def _read_sidecar(self, path: Path, schema: pa.Schema, fmt: str) -> pa.Table | None:
        """The sidecar, checked whole (check_contents, check_regions); read once."""
        if fmt in self._sidecars:
            return self._sidecars[fmt]
        if not path.exists() and not path.is_symlink():
            self._sidecars[fmt] = None
            return None
        _check_regular(path, fmt)
        try:
            table = pq.ParquetFile(path).read()     # (read_table would load pyarrow.dataset)
        except (pa.ArrowException, OSError) as e:
            raise TraceError(f"not a readable Parquet file ({_first_line(e)})",
                             path=path, fmt=fmt) from None
        if [(f.name, f.type) for f in table.schema] != [(f.name, f.type) for f in schema]:
            cols = ", ".join(f"{f.name} {f.type}" for f in table.schema)
            want = ", ".join(f"{f.name} {f.type}" for f in schema)
            raise TraceError(f"columns are ({cols}), expected ({want})", path=path, fmt=fmt)
        (check_contents if schema is CONTENTS_SCHEMA else check_regions)(table, path)
        self._sidecars[fmt] = table
        return table


def _check_regular(path: Path, fmt: str | None) -> None:
    """TraceError unless ``path`` is an existing regular file (a FIFO would block the
    reader; a device is not a trace)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise TraceError("no such file", path=path, fmt=fmt) from None
    except OSError as e:
        raise TraceError(f"cannot read ({os_reason(e)})", path=path, fmt=fmt) from None
    if stat.S_ISDIR(st.st_mode):
        raise TraceError("is a folder, not a trace file", path=path, fmt=fmt)
    if not stat.S_ISREG(st.st_mode):
        from replay.atomic import _kind
        raise TraceError(f"is {_kind(st.st_mode)}, not a regular file", path=path, fmt=fmt)


def _first_null(col) -> int:
    return int(np.flatnonzero(np.asarray(col.is_null()))[0])


def _check_table(table: pa.Table, schema: pa.Schema, path, fmt: str) -> dict[str, np.ndarray]:
    """No nulls in a non-nullable column; the numeric columns as numpy arrays."""
    for f in schema:
        col = table.column(f.name)
        if not f.nullable and col.null_count:
            raise TraceError(f"{f.name} is null (a required column)", path=path, fmt=fmt,
                             record=_first_null(col) + 1)
    return {f.name: table.column(f.name).to_numpy() for f in schema
            if pa.types.is_integer(f.type)}


def _first(bad: np.ndarray) -> int | None:
    idx = np.flatnonzero(bad)
    return int(idx[0]) if len(idx) else None


def check_contents(table: pa.Table, path) -> None:
    """Every row of a contents sidecar (docs/trace-format.md): asid, vpn and npages give
    pages inside 0..2^52-1, version >= 0, a known class, data null or 4096 bytes."""
    fmt = "contents sidecar"
    c = _check_table(table, CONTENTS_SCHEMA, path, fmt)

    def fail(i: int, what: str):
        raise TraceError(what, path=path, fmt=fmt, record=i + 1)

    asid, vpn, npages, version = c["asid"], c["vpn"], c["npages"], c["version"]
    if (i := _first((asid < 0) | (asid >= ASID_LIMIT))) is not None:
        fail(i, f"asid {asid[i]} is outside 0..2^20-1")
    if (i := _first((vpn < 0) | (vpn >= VPN_LIMIT))) is not None:
        fail(i, f"vpn {vpn[i]} is outside 0..2^52-1")
    if (i := _first(npages < 1)) is not None:
        fail(i, f"npages {npages[i]} is not at least 1")
    if (i := _first(npages > VPN_LIMIT - vpn)) is not None:
        fail(i, f"pages vpn .. vpn + npages - 1 go past 2^52 (vpn {vpn[i]}, npages "
             f"{npages[i]})")
    if (i := _first(version < 0)) is not None:
        fail(i, f"version {version[i]} is negative")
    classes = table.column("content_class")
    known = pc.is_in(classes, value_set=pa.array(CONTENT_CLASSES))
    if (i := _first(~np.asarray(known))) is not None:
        fail(i, f"content_class {classes[i].as_py()[:40]!r} is not one of "
             f"{', '.join(CONTENT_CLASSES)}")
    lengths = pc.binary_length(table.column("data"))
    bad = pc.fill_null(pc.not_equal(lengths, PAGE_SIZE), False)
    if (i := _first(np.asarray(bad))) is not None:
        fail(i, f"data has {lengths[i].as_py()} bytes, not {PAGE_SIZE}")


def check_regions(table: pa.Table, path) -> None:
    """Every row of a regions sidecar: asid in 0..2^20-1, 0 <= start_vpn < end_vpn <= 2^52,
    hugepage given (name may be null)."""
    fmt = "regions sidecar"
    c = _check_table(table, REGIONS_SCHEMA, path, fmt)

    def fail(i: int, what: str):
        raise TraceError(what, path=path, fmt=fmt, record=i + 1)

    asid, start, end = c["asid"], c["start_vpn"], c["end_vpn"]
    if (i := _first((asid < 0) | (asid >= ASID_LIMIT))) is not None:
        fail(i, f"asid {asid[i]} is outside 0..2^20-1")
    if (i := _first((start < 0) | (start >= VPN_LIMIT))) is not None:
        fail(i, f"start_vpn {start[i]} is outside 0..2^52-1")
    if (i := _first((end < 1) | (end > VPN_LIMIT))) is not None:
        fail(i, f"end_vpn {end[i]} is outside 1..2^52")
    if (i := _first(start >= end)) is not None:
        fail(i, f"start_vpn {start[i]} is not below end_vpn {end[i]}")


def open_trace(path: str | os.PathLike) -> Trace:
    """Open a canonical trace, checking its schema and metadata (not yet its rows)."""
    return Trace(path)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
