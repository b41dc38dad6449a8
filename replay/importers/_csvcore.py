"""Delimited text read in bounded windows: a C byte scanner, pyarrow.csv for the rest.

The file is cut into chunks of whole lines (a few tens of MB). When the caller
says in advance how each number column is read (``modes``), a byte scanner in C
(replay/scan/csv.c) reads the common case itself -- unquoted or simply quoted fields,
plain/hex/decimal numbers parsed straight from the bytes into numpy arrays,
dictionary columns (op) as small keys -- in windows of SCAN_ROWS rows. Where it
cannot go (doubled quotes, a lone CR, a bad or null value, a wrong column
count, ...) it stops, and ``pyarrow.csv.read_csv`` (multithreaded) reads that
chunk and the rest of the file, the wanted columns converted by pyarrow or,
when pyarrow refuses a value, as raw bytes converted by the same number parser
(``parse_numbers``), so that every bad value is reported with its line. Both ways
give the same rows, values and error messages. Quoted fields may not contain
newlines (no trace format needs them).
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

from replay import _scan
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
    path: object = None           # the source, for error messages
    fmt: str | None = None

    def column(self, spec: str | int, what: str) -> int:
        """0-based index of a column given as a header name or a 1-based number."""
        text = str(spec).strip()
        if self.header is not None and text in self.header:
            return self._only([i for i, h in enumerate(self.header) if h == text], text)
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
                return self._only([i for i, h in enumerate(lower) if h == n], n)
        return None

    def _only(self, found: list[int], name: str) -> int:
        """The one column of that name; two columns of one name are not guessed between."""
        if len(found) > 1:
            raise TraceError(f"header: {name!r} names columns "
                             f"{', '.join(str(i + 1) for i in found[:-1])} and {found[-1] + 1}"
                             " (give the column by number)", path=self.path, fmt=self.fmt)
        return found[0]


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
                return CsvLayout(delimiter, [c.strip() for c in row], len(row), src.path,
                                 src.fmt)
            return CsvLayout(delimiter, None, len(row), src.path, src.fmt)
        break
    raise TraceError("no data lines", path=src.path, fmt=src.fmt)


# how a wanted column is read (COL_RAW: bytes, only on pyarrow's slow path)
COL_U64, COL_DICT, COL_RAW = "u64", "dict", "raw"
_ARROW_TYPES = {COL_U64: pa.uint64(), COL_DICT: pa.dictionary(pa.int32(), pa.binary()),
                COL_RAW: pa.binary()}

SCAN_ROWS = 1 << 20            # rows per window on the byte-scanner path (one row group)
SCAN_KEYS = _scan.CSV_MAX_KEYS  # distinct values of a dictionary column per window (32)
_KEY_SLOTS = _scan.CSV_KEY_SLOTS  # its hash table (64 slots)
SCAN_KEY_BYTES = _scan.CSV_KEY_BYTES  # longest dictionary value packed into one word (7)


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
        """The column as uint64 (see parse_numbers for ``mode``); a bad value raises."""
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

    def values(self, col: int) -> tuple[np.ndarray, list[bytes]]:
        """The column as (int64 index per row, the distinct raw values it indexes): each
        row's value is ``raws[index[row]]``, so work per distinct value is done once."""
        index = np.empty(self.rows, np.int64)
        raws: list[bytes] = []
        row = 0
        for piece in self.columns[col].chunks:
            if not pa.types.is_dictionary(piece.type):
                piece = pc.dictionary_encode(piece)
            index[row:row + len(piece)] = \
                piece.indices.to_numpy(zero_copy_only=False).astype(np.int64) + len(raws)
            raws.extend(raw or b"" for raw in piece.dictionary.to_pylist())
            row += len(piece)
        return index, raws


@dataclass
class ScannedWindow(CsvWindow):
    """A window the byte scanner parsed: numbers already uint64, dictionary values as keys.

    Anything it was not asked for in advance (another mode or scale, a value
    ``codes``' lookup refuses) is answered by pyarrow's reading of the same
    bytes, so the result and the error message are those of the pyarrow path.
    """

    nums: dict[int, np.ndarray] = None          # column -> uint64 values
    modes: dict[int, tuple[int, int]] = None    # column -> (mode, scale) they were parsed with
    keys: dict[int, tuple[np.ndarray, dict[int, bytes]]] = None  # column -> (slots, slot -> raw)
    reader: _ArrowReader = None
    _arrow: CsvWindow | None = None

    def _by_arrow(self) -> CsvWindow:
        if self._arrow is None:
            self._arrow = self.reader.window(self.chunk, self.skip_first)
        return self._arrow

    def numbers(self, col: int, mode: int, scale: int, what: str) -> np.ndarray:
        if col in self.nums and self.modes[col] == (mode, scale):
            return self.nums[col]
        return self._by_arrow().numbers(col, mode, scale, what)

    def codes(self, col: int, lookup, what: str) -> np.ndarray:
        if col not in self.keys:
            return self._by_arrow().codes(col, lookup, what)
        index, raws = self.keys[col]
        table = np.full(_KEY_SLOTS, 255, np.uint8)
        for slot, raw in raws.items():
            code = lookup(raw)
            if code is None or not 0 <= code < 255:
                return self._by_arrow().codes(col, lookup, what)   # names the row
            table[slot] = code
        return table[index]

    def values(self, col: int) -> tuple[np.ndarray, list[bytes]]:
        if col not in self.keys:
            return self._by_arrow().values(col)
        index, raws = self.keys[col]
        return index.astype(np.int64), [raws.get(slot, b"") for slot in range(_KEY_SLOTS)]


class _ArrowReader:
    """pyarrow.csv on a window of whole lines: the wanted columns converted, else raw."""

    def __init__(self, layout: CsvLayout, wanted: dict[int, str], src: Source) -> None:
        self.names = [f"c{i}" for i in range(layout.ncols)]
        self.wanted = wanted
        self.src = src
        self.parse = pacsv.ParseOptions(delimiter=layout.delimiter)
        self.fast = self._convert(wanted)
        self.slow = self._convert({i: COL_RAW for i in wanted})

    def _convert(self, kinds: dict[int, str]) -> pacsv.ConvertOptions:
        # no null values: an empty or "NA" number is a bad value, named by line
        return pacsv.ConvertOptions(include_columns=[self.names[i] for i in kinds],
                                    column_types={self.names[i]: _ARROW_TYPES[k]
                                                  for i, k in kinds.items()},
                                    check_utf8=False, strings_can_be_null=False,
                                    null_values=[], quoted_strings_can_be_null=False)

    def window(self, chunk: TextChunk, skip: bool) -> CsvWindow:
        read = pacsv.ReadOptions(column_names=self.names, use_threads=True,
                                 block_size=4 << 20)
        body = chunk.data[_after_header(chunk.data):] if skip else chunk.data
        if len(body) == 0:
            # the header alone (the first chunk of "header\nrow" without a final newline):
            # no rows, where pyarrow would say "Empty CSV file"
            cols = {i: pa.chunked_array([], _ARROW_TYPES[k]) for i, k in self.wanted.items()}
            return CsvWindow(cols, 0, chunk, skip, self.src)
        buf = pa.py_buffer(body)
        try:
            table = pacsv.read_csv(buf, read_options=read, parse_options=self.parse,
                                   convert_options=self.fast)
        except pa.ArrowInvalid as e:
            if "conversion error" not in str(e):
                raise _parse_error(e, chunk, self.src) from None
            # a value pyarrow would not convert: read the window raw to name it by line
            try:
                table = pacsv.read_csv(buf, read_options=read, parse_options=self.parse,
                                       convert_options=self.slow)
            except pa.ArrowInvalid as e2:
                raise _parse_error(e2, chunk, self.src) from None
        cols = {i: table.column(self.names[i]) for i in self.wanted}
        return CsvWindow(cols, table.num_rows, chunk, skip, self.src)


class _Scanner:
    """The C byte scanner for the common case; ``scan`` returns None where it cannot go.

    It takes unquoted fields and simply quoted ones (``"..."`` with no quote,
    CR or newline inside), CRLF or LF line ends and blank lines; numbers as
    ``parse_numbers`` reads them in the (mode, scale) given per column; dictionary
    values of up to SCAN_KEY_BYTES bytes, at most SCAN_KEYS distinct per window.
    Anything else (a doubled quote, a bad or null value, a wrong column count,
    a lone CR) is left to pyarrow, which reads it or names the line.
    """

    def __init__(self, layout: CsvLayout, wanted: dict[int, str],
                 modes: dict[int, tuple[int, int]], rows: int) -> None:
        self.ncols = layout.ncols
        self.delim = ord(layout.delimiter)
        self.rows = rows
        self.num_cols = [c for c, k in wanted.items() if k == COL_U64]
        self.dict_cols = [c for c, k in wanted.items() if k == COL_DICT]
        self.num_slot = np.full(layout.ncols, -1, np.int64)
        self.dict_slot = np.full(layout.ncols, -1, np.int64)
        for k, c in enumerate(self.num_cols):
            self.num_slot[c] = k
        for k, c in enumerate(self.dict_cols):
            self.dict_slot[c] = k
        self.modes = {c: modes[c] for c in self.num_cols}
        self.mode = np.array([modes[c][0] for c in self.num_cols] or [0], np.int64)
        self.scale = np.array([modes[c][1] for c in self.num_cols] or [0], np.int64)
        # plain digits d in mode NUM_DECIMAL: d * 10**scale, which fits when d <= most
        mul = [10 ** int(s) if m == NUM_DECIMAL else 1 for m, s in zip(self.mode, self.scale)]
        self.mul = np.array(mul, np.uint64)
        self.most = np.array([0xFFFFFFFFFFFFFFFF // m for m in mul], np.uint64)

    @staticmethod
    def usable(layout: CsvLayout, wanted: dict[int, str],
               modes: dict[int, tuple[int, int]] | None) -> bool:
        return (modes is not None and ord(layout.delimiter) < 128
                and all(k == COL_DICT or (k == COL_U64 and c in modes)
                        for c, k in wanted.items()))

    def scan(self, data: np.ndarray, pos: int, stop: int):
        """(end, rows, numbers by column, keys by column) of the rows of data[pos:stop]
        up to ``rows``, or None where the scanner cannot go."""
        # window size: a data row has ncols - 1 delimiters, a newline and a digit or more
        cap = min(self.rows, (stop - pos) // (self.ncols + 1) + 1)
        nums = np.empty((len(self.num_cols), cap), np.uint64)
        codes = np.empty((len(self.dict_cols), cap), np.uint8)
        keys = np.zeros((len(self.dict_cols), _KEY_SLOTS), np.uint64)
        nkeys = np.zeros(len(self.dict_cols), np.int64)
        end, rows, status = _scan.csv_rows(data, pos, stop, self.delim, self.ncols,
                                           self.num_slot, self.dict_slot, self.mode,
                                           self.scale, self.mul, self.most, nums, codes, keys,
                                           nkeys, cap)
        if status:
            return None
        by_num = {c: nums[k, :rows] for k, c in enumerate(self.num_cols)}
        by_key = {c: (codes[k, :rows], {int(i): _unpack_key(int(keys[k, i]))
                                        for i in np.flatnonzero(keys[k])})
                  for k, c in enumerate(self.dict_cols)}
        return end, rows, by_num, by_key


def _unpack_key(key: int) -> bytes:
    """The bytes the scanner packed: little-endian in bits 0-55, length in 56-58."""
    n = (key >> 56) & 0x7F
    return (key & ((1 << 56) - 1)).to_bytes(7, "little")[:n]


def iter_windows(src: Source, layout: CsvLayout, wanted: dict[int, str], on_progress=None,
                 modes: dict[int, tuple[int, int]] | None = None) -> Iterator[CsvWindow]:
    """Parse the file window by window; only the ``wanted`` columns (index -> COL_*).

    ``modes`` (column -> (NUM_* mode, scale)) says in advance how each COL_U64
    column will be asked for with ``numbers``: given for all of them, the byte
    scanner reads the common case itself and leaves the rest to pyarrow (from
    the window it could not read to the end of that chunk; the next chunk is
    the scanner's again); the windows are the same rows, values and errors
    either way.
    """
    reader = _ArrowReader(layout, wanted, src)
    scanner = _Scanner(layout, wanted, modes, SCAN_ROWS) \
        if _Scanner.usable(layout, wanted, modes) else None
    first = True
    for chunk in iter_text_chunks(src, on_progress=on_progress, count_lines=False):
        skip = first and layout.header is not None
        first = False
        if scanner is None:
            yield reader.window(chunk, skip)
            continue
        data = chunk.data
        start = 0
        pos = _after_header(data) if skip else 0
        while pos < len(data):
            got = scanner.scan(data, pos, len(data))
            if got is None:
                # not for the scanner: pyarrow reads (or names what is wrong in) the rest
                yield reader.window(_sub_chunk(chunk, start, len(data)), skip)
                break
            end, rows, nums, keys = got
            yield ScannedWindow({}, rows, _sub_chunk(chunk, start, end), skip, src,
                                nums=nums, modes=scanner.modes, keys=keys, reader=reader)
            skip = False
            start = pos = end


def _sub_chunk(chunk: TextChunk, start: int, end: int) -> TextChunk:
    if start == 0 and end == len(chunk.data):
        return chunk
    return TextChunk(chunk.data[start:end], chunk.first_line if start == 0 else None,
                     chunk.start_byte + start)


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


def parse_numbers(arr: pa.Array, mode: int, scale: int = 0) -> tuple[np.ndarray, int, str]:
    """(uint64 values, index of the first bad value or -1, what is wrong).

    mode NUM_INT and NUM_ADDR: decimal or 0x hex integer (as pyarrow reads them); NUM_DECIMAL:
    decimal with an optional fraction, times 10**scale (extra fraction digits are dropped).
    Spaces and tabs around a value are ignored; a leading '+' is allowed.
    """
    n = len(arr)
    out = np.zeros(n, np.uint64)
    if n == 0:
        return out, -1, ""
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], np.int32)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None and bufs[2].size \
        else np.zeros(1, np.uint8)
    bad, code = _scan.parse_numbers(offsets, data, mode, scale, out)
    return out, int(bad), _NUM_ERRORS.get(int(code), "")


def value_text(arr: pa.Array, i: int) -> str:
    v = arr[i].as_py()
    return (v or b"").decode("utf-8", "replace")[:40]
