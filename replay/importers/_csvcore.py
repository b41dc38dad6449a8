"""Delimited text read with pyarrow.csv (multithreaded) in bounded windows.

The file is cut into windows of whole lines (a few tens of MB); each window is
parsed by ``pyarrow.csv.read_csv`` with the wanted columns as raw bytes, and
the numbers are converted by a numba scanner that knows decimal, ``0x`` hex
and decimal fractions, so that every bad value can be reported with its line.
Quoted fields may not contain newlines (no trace format needs them).
"""

from __future__ import annotations

import csv as pycsv
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from numba import njit

from replay.errors import SettingsError, TraceError
from replay.importers._common import Source, TextChunk, first_line, iter_text_chunks, line_at

NUM_INT, NUM_ADDR, NUM_DECIMAL = 0, 1, 2

_NUM_ERRORS = {
    1: "empty value",
    2: "not a number",
    3: "negative value",
    4: "value does not fit in 64 bits",
    5: "not a whole number",
}


@dataclass
class CsvLayout:
    """Where the columns are: positional names c0..cN-1, header names when there is one."""

    delimiter: str
    header: list[str] | None      # names from the first line, or None (--no-header)
    ncols: int

    def column(self, spec: str | int, what: str) -> int:
        """0-based index of a column given as a header name or a 1-based number."""
        text = str(spec).strip()
        if self.header is not None and text in self.header:
            return self.header.index(text)
        if text.isdigit():
            i = int(text) - 1
            if 0 <= i < self.ncols:
                return i
            raise SettingsError(f"{what} {text} is outside columns 1..{self.ncols}")
        known = ", ".join(self.header) if self.header else f"numbers 1..{self.ncols}"
        raise SettingsError(f"{what} {text!r} is not a column (columns: {known})")

    def find(self, *names: str) -> int | None:
        """The first header column with one of ``names`` (case-insensitive), if any."""
        if self.header is None:
            return None
        lower = [h.strip().lower() for h in self.header]
        for n in names:
            if n in lower:
                return lower.index(n)
        return None


def parse_delimiter(text: str | None) -> str:
    if text is None:
        return ","
    text = {"\\t": "\t", "tab": "\t", "space": " "}.get(text, text)
    if len(text) != 1:
        raise SettingsError(f"delimiter {text!r} is not one character")
    if text in "\r\n\"":
        raise SettingsError(f"delimiter {text!r} is not allowed")
    return text


def read_layout(src: Source, delimiter: str, header: bool) -> CsvLayout:
    """Read the first non-empty line: the header names, or just the column count."""
    for chunk in iter_text_chunks(src, chunk_bytes=1 << 16):
        text = chunk.data.tobytes().decode("utf-8", "replace")
        for raw in text.split("\n"):
            if raw.strip("\r") == "":
                continue
            try:
                row = next(pycsv.reader([raw.rstrip("\r")], delimiter=delimiter))
            except pycsv.Error as e:
                raise TraceError(f"first line is not delimited text ({e})", path=src.path,
                                 fmt=src.fmt) from None
            if header:
                return CsvLayout(delimiter, [c.strip() for c in row], len(row))
            return CsvLayout(delimiter, None, len(row))
        break
    raise TraceError("no data lines", path=src.path, fmt=src.fmt)


# how a wanted column is read on the fast path (pyarrow converts it, multithreaded)
COL_U64, COL_DICT, COL_RAW = "u64", "dict", "raw"
_ARROW_TYPES = {COL_U64: pa.uint64(), COL_DICT: pa.dictionary(pa.int32(), pa.binary()),
                COL_RAW: pa.binary()}


@dataclass
class CsvWindow:
    """One window of rows: the wanted columns, and where they came from.

    Columns are uint64, dictionary or raw bytes (raw on the slow path, taken
    when pyarrow refused a value, so that the bad value can be named by line).
    """

    columns: dict[int, pa.ChunkedArray]
    rows: int
    chunk: TextChunk
    skip_first: bool               # the window starts with the header line
    src: Source

    def line_of(self, row: int) -> int:
        """1-based line number of data row ``row`` of this window (blank lines skipped)."""
        data = self.chunk.data.tobytes()
        line = self.chunk.first_line
        if line is None:
            line = line_at(self.src.path, self.src.fmt, self.chunk.start_byte)
        seen = -1 - (1 if self.skip_first else 0)
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                return line
            if data[start:end].strip(b"\r") != b"":
                seen += 1
                if seen == row:
                    return line
            line += 1
            start = end + 1

    def fail(self, row: int, what: str) -> TraceError:
        return TraceError(what, path=self.src.path, fmt=self.src.fmt, line=self.line_of(row))

    def numbers(self, col: int, mode: int, scale: int, what: str) -> np.ndarray:
        """The column as uint64 (see _parse_numbers for ``mode``); a bad value raises."""
        arr = self.columns[col]
        if arr.type == pa.uint64():
            vals = arr.to_numpy()
            if mode == NUM_DECIMAL and scale:
                mul = np.uint64(10 ** scale)
                over = np.flatnonzero(vals > np.uint64(0xFFFFFFFFFFFFFFFF) // mul)
                if len(over):
                    raise self.fail(int(over[0]), f"{what} {int(vals[over[0]])}: "
                                    "value does not fit in 64 bits")
                vals = vals * mul
            return vals
        raw = arr.combine_chunks()
        vals, bad, why = parse_numbers(raw, mode, scale)
        if bad >= 0:
            raise self.fail(bad, f"{what} {value_text(raw, bad)!r}: {why}")
        return vals

    def codes(self, col: int, lookup, what: str) -> np.ndarray:
        """The column mapped through ``lookup(raw bytes) -> code | None``; unmapped raises."""
        arr = self.columns[col]
        out = np.empty(self.rows, np.uint8)
        row = 0
        for piece in arr.chunks:
            if not pa.types.is_dictionary(piece.type):
                piece = pc.dictionary_encode(piece)
            table = np.full(len(piece.dictionary) + 1, 255, np.int16)
            for k, raw in enumerate(piece.dictionary.to_pylist()):
                code = lookup(raw or b"")
                if code is not None:
                    table[k] = code
            got = table[piece.indices.to_numpy(zero_copy_only=False)]
            bad = np.flatnonzero(got == 255)
            if len(bad):
                i = int(bad[0])
                text = (piece[i].as_py() or b"").decode("utf-8", "replace")[:40]
                raise self.fail(row + i, f"{what} {text!r}")
            out[row:row + len(piece)] = got
            row += len(piece)
        return out


def iter_windows(src: Source, layout: CsvLayout, wanted: dict[int, str],
                 on_progress=None) -> Iterator[CsvWindow]:
    """Parse the file window by window; only the ``wanted`` columns (index -> COL_*)."""
    names = [f"c{i}" for i in range(layout.ncols)]
    parse = pacsv.ParseOptions(delimiter=layout.delimiter)

    def convert(kinds: dict[int, str]) -> pacsv.ConvertOptions:
        return pacsv.ConvertOptions(include_columns=[names[i] for i in kinds],
                                    column_types={names[i]: _ARROW_TYPES[k]
                                                  for i, k in kinds.items()},
                                    check_utf8=False, strings_can_be_null=False)

    fast = convert(wanted)
    slow = convert({i: COL_RAW for i in wanted})
    first = True
    for chunk in iter_text_chunks(src, on_progress=on_progress, count_lines=False):
        skip = first and layout.header is not None
        read = pacsv.ReadOptions(column_names=names, use_threads=True, block_size=4 << 20)
        buf = pa.py_buffer(chunk.data[_after_header(chunk.data):] if skip else chunk.data)
        try:
            table = pacsv.read_csv(buf, read_options=read, parse_options=parse,
                                   convert_options=fast)
        except pa.ArrowInvalid as e:
            if "conversion error" not in str(e):
                raise _parse_error(e, chunk, src) from None
            # a value pyarrow would not convert: read the window raw to name it by line
            try:
                table = pacsv.read_csv(buf, read_options=read, parse_options=parse,
                                       convert_options=slow)
            except pa.ArrowInvalid as e2:
                raise _parse_error(e2, chunk, src) from None
        first = False
        cols = {i: table.column(names[i]) for i in wanted}
        yield CsvWindow(cols, table.num_rows, chunk, skip, src)


def _after_header(data: np.ndarray) -> int:
    """Offset just past the first non-blank line (the header)."""
    raw = data[:4 << 20].tobytes()
    start = 0
    while True:
        end = raw.find(b"\n", start)
        if end < 0:
            return len(raw)
        if raw[start:end].strip(b"\r") != b"":
            return end + 1
        start = end + 1


def _parse_error(e: Exception, chunk: TextChunk, src: Source) -> TraceError:
    """pyarrow's complaint, with the line number found by looking for the bad row."""
    msg = first_line(e).removeprefix("CSV parse error: ")
    line = None
    m = re.match(r"Expected (\d+) columns?, got (\d+): ?(.*)$", msg)
    if m:
        row_text = m.group(3)
        data = chunk.data.tobytes()
        needle = row_text.encode("utf-8", "replace")
        if data.startswith(needle):
            at = 0
        else:
            at = data.find(b"\n" + needle)
            at = at + 1 if at >= 0 else -1
        if at >= 0:
            first = chunk.first_line or line_at(src.path, src.fmt, chunk.start_byte)
            line = first + data.count(b"\n", 0, at)
        msg = f"expected {m.group(1)} columns, got {m.group(2)} ({row_text[:60]!r})"
    return TraceError(msg, path=src.path, fmt=src.fmt, line=line)


# ---------------------------------------------------------------- numbers


@njit(cache=True, nogil=True)
def _parse_numbers(offsets, data, mode, scale, out):
    """Parse each value data[offsets[i]:offsets[i+1]] into out (uint64).

    mode 0 and 1: decimal or 0x hex integer (as pyarrow reads them); 2: decimal with an optional
    fraction, times 10**scale (extra fraction digits are dropped).
    Returns (index of the first bad value or -1, error code).
    """
    n = len(offsets) - 1
    limit = np.uint64(0xFFFFFFFFFFFFFFFF)
    for i in range(n):
        a = offsets[i]
        b = offsets[i + 1]
        while a < b and (data[a] == 32 or data[a] == 9):
            a += 1
        while b > a and (data[b - 1] == 32 or data[b - 1] == 9 or data[b - 1] == 13):
            b -= 1
        if a == b:
            return i, 1
        if data[a] == 45:
            return i, 3
        if data[a] == 43:
            a += 1
            if a == b:
                return i, 2
        v = np.uint64(0)
        if mode != 2 and b - a > 2 and data[a] == 48 and (data[a + 1] == 120 or
                                                           data[a + 1] == 88):
            a += 2
            if b - a > 16:
                return i, 4
            for j in range(a, b):
                c = data[j]
                if 48 <= c <= 57:
                    d = c - 48
                elif 97 <= c <= 102:
                    d = c - 87
                elif 65 <= c <= 70:
                    d = c - 55
                else:
                    return i, 2
                v = (v << np.uint64(4)) | np.uint64(d)
            out[i] = v
            continue
        digits = 0
        j = a
        while j < b and 48 <= data[j] <= 57:
            d = np.uint64(data[j] - 48)
            if v > (limit - d) // np.uint64(10):
                return i, 4
            v = v * np.uint64(10) + d
            digits += 1
            j += 1
        frac_digits = 0
        if j < b and data[j] == 46:
            j += 1
            if mode != 2:
                while j < b and data[j] == 48:
                    j += 1
                if j < b:
                    return i, 5 if 49 <= data[j] <= 57 else 2
            while j < b and 48 <= data[j] <= 57:
                if frac_digits < scale:
                    d = np.uint64(data[j] - 48)
                    if v > (limit - d) // np.uint64(10):
                        return i, 4
                    v = v * np.uint64(10) + d
                    frac_digits += 1
                digits += 1
                j += 1
        if digits == 0 or j != b:
            return i, 2
        if mode == 2:
            for _ in range(scale - frac_digits):
                if v > limit // np.uint64(10):
                    return i, 4
                v = v * np.uint64(10)
        out[i] = v
    return -1, 0


def parse_numbers(arr: pa.Array, mode: int, scale: int = 0) -> tuple[np.ndarray, int, str]:
    """(uint64 values, index of the first bad value or -1, what is wrong)."""
    n = len(arr)
    out = np.zeros(n, np.uint64)
    if n == 0:
        return out, -1, ""
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], np.int32)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None and bufs[2].size \
        else np.zeros(1, np.uint8)
    bad, code = _parse_numbers(offsets, data, mode, scale, out)
    return out, int(bad), _NUM_ERRORS.get(int(code), "")


def value_text(arr: pa.Array, i: int) -> str:
    v = arr[i].as_py()
    return (v or b"").decode("utf-8", "replace")[:40]
