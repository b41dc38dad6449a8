"""The canonical trace: a Parquet access table plus two optional sidecars.

See docs/trace-format.md for the format. This module is the only code that
reads or writes it; importers hand it numpy arrays, the engine reads numpy
arrays back in bounded chunks.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from replay.atomic import check_output, final_path, temp_beside
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
        raw = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


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
        from replay.dense_ids import accesses_ok  # compiled; numba loads on the first rows
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


class TraceWriter:
    """Writes a trace atomically: everything goes to temporary files renamed at close.

    Errors inside the ``with`` block remove every temporary file, so a failed
    import leaves nothing behind. ``source`` and ``fmt`` name the input in
    error messages (the user fixes the input, not the output).
    """

    def __init__(self, out_path: str | os.PathLike, meta: TraceMeta, *,
                 source: str | os.PathLike | None = None, fmt: str | None = None,
                 row_group_rows: int = DEFAULT_CHUNK_ROWS) -> None:
        self.out_path = Path(out_path)
        self.meta = meta
        self.source = source if source is not None else out_path
        self._input = source                 # the source, which the output must not be
        self.fmt = fmt or meta.source_format
        self.row_group_rows = row_group_rows
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
            self._main_tmp.unlink(missing_ok=True)
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
                    os.replace(tmp, final)
            except OSError as e:
                raise self._write_error(e) from None
            self._temps.clear()
        finally:
            for t in self._temps:
                try:
                    t.unlink()
                except FileNotFoundError:
                    pass


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
        if not self.path.exists():
            raise TraceError("no such file", path=self.path)
        if self.path.is_dir():
            raise TraceError("is a folder, not a trace file", path=self.path)
        try:
            self._pf = pq.ParquetFile(self.path)
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
            raise TraceError(f"unreadable metadata ({e})", path=self.path, fmt=self.FMT) from None
        if self.meta.page_size != PAGE_SIZE:
            raise TraceError(f"page size {self.meta.page_size} is not supported "
                             f"(only {PAGE_SIZE})", path=self.path, fmt=self.FMT)
        self.num_accesses = self._pf.metadata.num_rows
        self.contents_path, self.regions_path = sidecar_paths(self.path)
        self._blocks: np.ndarray | None = None
        self._index = None                   # replay.dense_ids.DenseIndex of _blocks
        self._rows_checked = False           # a pass of iter_chunks checked every row

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
        if check and row == self.num_accesses:
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
            self._blocks = blocks.sorted_keys()
        return self._blocks

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

    # -- sidecars
    def regions(self) -> pa.Table | None:
        return self._read_sidecar(self.regions_path, REGIONS_SCHEMA, "regions sidecar")

    def contents(self) -> pa.Table | None:
        return self._read_sidecar(self.contents_path, CONTENTS_SCHEMA, "contents sidecar")

    def _read_sidecar(self, path: Path, schema: pa.Schema, fmt: str) -> pa.Table | None:
        if not path.exists():
            return None
        try:
            table = pq.read_table(path)
        except (pa.ArrowException, OSError) as e:
            raise TraceError(f"not a readable Parquet file ({_first_line(e)})",
                             path=path, fmt=fmt) from None
        if [(f.name, f.type) for f in table.schema] != [(f.name, f.type) for f in schema]:
            raise TraceError("columns do not match the format", path=path, fmt=fmt)
        return table


def open_trace(path: str | os.PathLike) -> Trace:
    """Open a canonical trace, checking its schema and metadata (not yet its rows)."""
    return Trace(path)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
