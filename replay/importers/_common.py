"""What every importer shares: opening (maybe compressed) sources, bounded chunks, progress.

Importers read their source in chunks of a few tens of MB so memory stays
bounded whatever the file size; text formats get chunks that end at a line
end, with the number of the chunk's first line, so errors can name a line.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import stat
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np

from replay.errors import TraceError

CHUNK_BYTES = 32 << 20          # text and binary chunks: bounded memory, big enough to vectorise
PROGRESS_MIN_BYTES = 64 << 20   # a progress bar only for imports long enough to want one
MAX_LINE_BYTES = 1 << 20        # a longer "line" is not text of any supported format

# Decompressors' and decoders' complaints about corrupt or truncated input (lz4's
# LZ4FrameFile says RuntimeError for corrupt data).
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    EOFError, lzma.LZMAError, zlib.error, OSError, UnicodeDecodeError,
)

_COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".lzma", ".zst", ".zstd", ".lz4")
UTF8_BOM = b"\xef\xbb\xbf"
# text formats: a UTF-8 byte-order mark at the start of the (decompressed) source is
# dropped (spreadsheets and Windows editors write one; it is not part of the first field)
TEXT_FORMATS = frozenset({"csv", "libcachesim-csv", "lackey", "perf-script"})


def compression_of(path: Path) -> str | None:
    """The compression a source file's name announces (None for a plain file)."""
    name = path.name.lower()
    for suffix in _COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            return suffix[1:]
    return None


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, for an error message."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_regular_source(path: Path, fmt: str | None) -> os.stat_result:
    """The source's stat; TraceError unless it is an existing, readable regular file.

    A FIFO or a device is refused before it is opened (opening a FIFO blocks, and a
    device's size says nothing about what reading it gives)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise TraceError("no such file", path=path, fmt=fmt) from None
    except OSError as e:
        raise TraceError(f"cannot read ({e.strerror or first_line(e)})", path=path,
                         fmt=fmt) from None
    if stat.S_ISDIR(st.st_mode):
        raise TraceError("is a folder, not a trace file", path=path, fmt=fmt)
    if not stat.S_ISREG(st.st_mode):
        raise TraceError(f"is {file_kind(st.st_mode)}, not a regular file", path=path,
                         fmt=fmt)
    return st


class DecodeError(Exception):
    """A compressed stream is corrupt or cut short; the message says where."""


class ZstdFrames:
    """zstd frames one after another (``zstd -T``, ``pzstd`` and ``cat a.zst b.zst`` write
    several), decompressed in bounded steps.

    zstandard's stream reader ends quietly where the file ends, even inside a frame, and
    stops after the first frame: a file cut short would import in part. Here the
    compressed bytes are fed ``STEP`` at a time (so one step gives at most a few tens of
    MB however well the data compresses: no decompression bomb), every frame is read,
    and the end of the file inside a frame, or bytes that are not a frame, raise
    DecodeError naming the compressed byte.
    """

    STEP = 2048

    def __init__(self, raw) -> None:
        import zstandard
        self._zstd = zstandard
        self._dctx = zstandard.ZstdDecompressor()
        self._raw = raw
        self._obj = None            # the frame being decompressed, None between frames
        self._consumed = 0          # compressed bytes fed to finished frames or this one
        self._produced = 0          # decompressed bytes produced
        self._out = b""
        self._out_pos = 0

    def readinto(self, view) -> int:
        while self._out_pos >= len(self._out):
            data = self._raw.read(self.STEP)
            if not data:
                if self._obj is not None:
                    raise DecodeError(
                        f"truncated zst data: the file ends inside a frame at compressed "
                        f"byte {self._consumed:,} (after {self._produced:,} decompressed "
                        "bytes)")
                return 0
            self._out = self._feed(data)
            self._out_pos = 0
        n = min(len(view), len(self._out) - self._out_pos)
        view[:n] = self._out[self._out_pos:self._out_pos + n]
        self._out_pos += n
        return n

    def _feed(self, data: bytes) -> bytes:
        outs = []
        while data:
            if self._obj is None:
                self._obj = self._dctx.decompressobj()
            try:
                out = self._obj.decompress(data)
            except self._zstd.ZstdError as e:
                raise DecodeError(
                    f"corrupt zst data near compressed byte {self._consumed + len(data):,} "
                    f"(after {self._produced:,} decompressed bytes): {first_line(e)}"
                ) from None
            outs.append(out)
            self._produced += len(out)
            if self._obj.eof:
                rest = self._obj.unused_data
                self._consumed += len(data) - len(rest)
                data = rest
                self._obj = None
            else:
                self._consumed += len(data)
                data = b""
        return b"".join(outs)

    def close(self) -> None:
        self._out = b""


class Source:
    """A source file opened for reading, decompressed on the fly when its name says so.

    ``read_into`` fills a buffer; ``raw_pos`` is how far into the file on disk the
    reader has got (compressed bytes), for progress bars; ``pos`` how far into the
    (decompressed) source. Any read or decompression error is a TraceError naming the
    file and the byte it happened at. Text formats drop a leading UTF-8 byte-order mark.
    """

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.fmt = fmt
        self.size_bytes = check_regular_source(path, fmt).st_size
        self.compression = compression_of(path)
        self.pos = 0
        self._head = b""
        self._raw = open(path, "rb")  # noqa: SIM115 - closed in close()
        raw = self._raw
        try:
            if self.compression is None:
                self._f = raw
            elif self.compression == "gz":
                self._f = gzip.GzipFile(fileobj=raw, mode="rb")
            elif self.compression == "bz2":
                self._f = bz2.BZ2File(raw, "rb")
            elif self.compression in ("xz", "lzma"):
                self._f = lzma.LZMAFile(raw, "rb")  # noqa: SIM115 - closed in close()
            elif self.compression in ("zst", "zstd"):
                self._f = ZstdFrames(raw)
            else:
                import lz4.frame
                self._f = lz4.frame.LZ4FrameFile(raw, "rb")
            if fmt in TEXT_FORMATS:
                head = bytearray(len(UTF8_BOM))
                got = self._read_raw(memoryview(head))
                self._head = bytes(head[:got]).removeprefix(UTF8_BOM)
        except BaseException:
            raw.close()
            raise

    def _read_raw(self, view: memoryview) -> int:
        """Fill ``view`` from the decoder as far as it goes; 0 at the end."""
        total = 0
        n = len(view)
        errors = DECODE_ERRORS + ((RuntimeError,) if self.compression == "lz4" else ())
        while total < n:
            try:
                got = self._f.readinto(view[total:])
            except DecodeError as e:
                raise TraceError(str(e), path=self.path, fmt=self.fmt) from None
            except errors as e:
                at = self.pos + len(self._head) + total
                if self.compression is None:
                    what = f"read error at byte {at:,}"
                else:
                    what = f"corrupt or truncated {self.compression} data at decompressed " \
                           f"byte {at:,}"
                reason = e.strerror if isinstance(e, OSError) and e.strerror else first_line(e)
                raise TraceError(f"{what} ({reason})", path=self.path, fmt=self.fmt) from None
            if not got:
                break
            total += got
        return total

    def read_into(self, view: memoryview) -> int:
        """Fill ``view`` as far as the source allows; 0 at the end."""
        total = 0
        if self._head:
            total = min(len(view), len(self._head))
            view[:total] = self._head[:total]
            self._head = self._head[total:]
        total += self._read_raw(view[total:])
        self.pos += total
        return total

    @property
    def raw_pos(self) -> int:
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        try:
            if self._f is not self._raw:
                self._f.close()
        finally:
            self._raw.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class TextChunk:
    """Bytes ending at a line end (``data``), and the 1-based number of its first line."""

    data: np.ndarray
    first_line: int | None         # None when not counted (see line_at)
    start_byte: int                # offset in the (decompressed) source
    base: np.ndarray | None = None  # the whole buffer: data is base[offset:offset + len]
    offset: int = 0


def iter_text_chunks(src: Source, chunk_bytes: int | None = None, on_progress=None,
                     count_lines: bool = True, pad: int = 0) -> Iterator[TextChunk]:
    """Chunks of whole lines; the last line gets a newline added if the file lacks one.

    Memory: one buffer of ``chunk_bytes`` plus the carried-over partial line.
    Without ``count_lines`` the chunks' first_line is None (saves a pass over
    the data; ``line_at`` finds a line number when an error needs one). With ``pad``,
    the buffer has ``pad`` zero bytes before each chunk and at least ``pad`` bytes
    after it (``TextChunk.base`` and ``offset``), so that windows around any byte of
    the chunk need no copy.
    """
    if chunk_bytes is None:
        chunk_bytes = CHUNK_BYTES
    whole = bytearray(pad + chunk_bytes + MAX_LINE_BYTES + 1 + pad)
    base = np.frombuffer(whole, np.uint8)
    buf = base[pad:]                       # the chunks start here
    view = memoryview(whole)[pad:]
    carry = 0
    line = 1
    start_byte = 0
    while True:
        got = src.read_into(view[carry:carry + chunk_bytes])
        end = carry + got
        if on_progress is not None:
            on_progress(src.raw_pos)
        if got == 0:
            if carry:
                buf[carry] = 0x0A
                arr = buf[:carry + 1]
                yield TextChunk(arr, line if count_lines else None, start_byte, base, pad)
            return
        arr = buf[:end]
        cut = _last_newline(arr)
        if cut < 0:
            if end > MAX_LINE_BYTES:
                raise _long_line(src, line if count_lines else None)
            carry = end
            continue
        chunk = arr[:cut + 1]
        yield TextChunk(chunk, line if count_lines else None, start_byte, base, pad)
        if count_lines:
            line += int(np.count_nonzero(chunk == 0x0A))
        start_byte += cut + 1
        rest = end - (cut + 1)
        if rest > MAX_LINE_BYTES:
            raise _long_line(src, line if count_lines else None)
        buf[:rest] = buf[cut + 1:end].copy()      # the partial line, to the front
        carry = rest


def _long_line(src: Source, line: int | None) -> TraceError:
    return TraceError(f"line longer than {MAX_LINE_BYTES} bytes: not a text trace",
                      path=src.path, fmt=src.fmt, line=line)


def line_at(path: Path, fmt: str, byte: int) -> int:
    """1-based number of the line starting at (decompressed) offset ``byte`` of ``path``."""
    lines = 1
    done = 0
    buf = bytearray(1 << 22)
    with Source(path, fmt) as src:
        while done < byte:
            got = src.read_into(memoryview(buf)[:min(len(buf), byte - done)])
            if not got:
                break
            lines += buf[:got].count(b"\n")
            done += got
    return lines


def _last_newline(arr: np.ndarray) -> int:
    """Index of the last b'\\n' in ``arr`` (searching backwards), or -1."""
    n = len(arr)
    step = 1 << 16
    hi = n
    while hi > 0:
        lo = max(0, hi - step)
        idx = np.flatnonzero(arr[lo:hi] == 0x0A)
        if len(idx):
            return lo + int(idx[-1])
        hi = lo
    return -1


def iter_binary_chunks(src: Source, record_bytes: int, chunk_bytes: int | None = None,
                       on_progress=None) -> Iterator[tuple[np.ndarray, int]]:
    """(bytes holding whole records, index of the first record); raises on a partial record."""
    if chunk_bytes is None:
        chunk_bytes = CHUNK_BYTES
    per = max(1, chunk_bytes // record_bytes) * record_bytes
    buf = bytearray(per)
    view = memoryview(buf)
    record = 0
    while True:
        got = src.read_into(view)
        if on_progress is not None:
            on_progress(src.raw_pos)
        if got == 0:
            return
        whole = got - got % record_bytes
        if whole:
            yield np.frombuffer(buf, np.uint8, whole), record
            record += whole // record_bytes
        if got % record_bytes:
            raise TraceError(f"truncated: the last record has {got % record_bytes} of "
                             f"{record_bytes} bytes", path=src.path, fmt=src.fmt,
                             record=record + 1)
        if got < per:
            return


class BackgroundWriter:
    """Hands chunks to ``TraceWriter.write`` on one worker thread, one chunk in flight.

    Parquet encoding releases the GIL, so parsing the next chunk overlaps with
    writing this one; memory stays bounded (two chunks). Errors from the
    write come back at the next ``write`` or at ``close``.
    """

    def __init__(self, writer) -> None:
        from concurrent.futures import ThreadPoolExecutor
        self.writer = writer
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trace-writer")
        self._pending = None

    def write(self, *args, **kwargs) -> None:
        self._wait()
        self._pending = self._pool.submit(self.writer.write, *args, **kwargs)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._wait()
            elif self._pending is not None:
                self._pending.exception()   # let it finish; the first error wins
        finally:
            self._pool.shutdown(wait=True)


# ---------------------------------------------------------------- progress


def progress_wanted(setting: bool | None, size_bytes: int) -> bool:
    """Auto: a bar only on a terminal and for a file big enough to take a while."""
    if setting is not None:
        return setting
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty and size_bytes >= PROGRESS_MIN_BYTES


@contextmanager
def progress_bar(label: str, total_bytes: int, enabled: bool):
    """Yield ``update(done_bytes)``; a rich bar on stderr when enabled, else a no-op.

    The bar never touches stdout, so ``--json`` output stays clean.
    """
    if not enabled:
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=max(total_bytes, 1))
        yield lambda done: bar.update(task, completed=done)


# ---------------------------------------------------------------- small helpers


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def source_name(path: Path) -> str:
    return os.path.basename(path)


def parse_decimal_ns(sec: str, frac: str) -> int:
    """Exact nanoseconds from 'SSS' and 'FFFFFF' (perf's seconds.micro or seconds.nano)."""
    frac = (frac + "000000000")[:9]
    return int(sec) * 1_000_000_000 + int(frac)
