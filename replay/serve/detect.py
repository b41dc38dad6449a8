"""Which importer an uploaded file needs, from its first bytes (and, for binary record
formats without a signature, a hint in its name).

The compression comes from the file's magic number, never from its name: the server names
the stored upload itself, with the suffix the importers' reader decompresses by
(replay/importers/_common.py). Then the (decompressed) head is read:

- ``PAR1``: a canonical trace (Parquet), taken as it is;
- zlib data or text opening with ``[``/``{``: DAMON's ``json_compressed`` or ``json``;
- text whose lines are valgrind lackey's, or ``perf script``'s sample lines, or
  libCacheSim's ``version,time,op,size,lbn`` rows: those formats; other text: ``csv``;
- binary: ChampSim's 64-byte records (the branch flags of every record 0 or 1), else
  libCacheSim's 24-byte oracleGeneral records (time never going back); a file read whole
  must be a whole number of records.

What it cannot tell is a one-line error that asks for the format.
"""

from __future__ import annotations

import bz2
import io
import lzma
import re
import zlib
from dataclasses import dataclass

import numpy as np

from replay.errors import TraceError

HEAD_BYTES = 256 << 10          # read from the upload to sniff
SNIFF_BYTES = 64 << 10          # decompressed bytes looked at

PARQUET = "parquet"              # a canonical trace, not an importer's format

# magic number -> the suffix the importers' reader decompresses by
_MAGIC = (
    (b"\x1f\x8b", "gz"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zst"),
    (b"\x04\x22\x4d\x18", "lz4"),
)

_LACKEY = re.compile(rb"^(?:==\d+==|--\d+--|I\s+[0-9a-fA-F]+,\d+\s*$|\s[LSM]\s+[0-9a-fA-F]+,\d+\s*$)")
_PERF = re.compile(rb"^\s*(?:.*?\s+)?\d+(?:/\d+)?\s+(?:\[\d+\]\s+)?\d+\.\d{1,9}:\s+(?:\d+\s+)?\S+?:")
_LCS_OPS = {b"08", b"28", b"88", b"a8", b"0a", b"2a", b"8a", b"aa", b"0x28", b"0x2a",
            b"read", b"write", b"r", b"w", b"get", b"set"}
_NUMBER = re.compile(rb"^\s*(?:0x)?[0-9a-fA-F]+(?:\.\d+)?\s*$")


@dataclass(frozen=True)
class Detected:
    format: str                  # an importer's format, or PARQUET
    compression: str | None      # gz, bz2, xz, zst, lz4 or None


def compression_of(head: bytes) -> str | None:
    for magic, suffix in _MAGIC:
        if head.startswith(magic):
            return suffix
    return None


def decompressed_head(head: bytes, compression: str | None) -> bytes:
    """Up to SNIFF_BYTES of what the file holds; what a cut-short head allows."""
    if compression is None:
        return head[:SNIFF_BYTES]
    try:
        if compression == "gz":
            return zlib.decompressobj(wbits=47).decompress(head, SNIFF_BYTES)
        if compression == "bz2":
            return bz2.BZ2Decompressor().decompress(head, max_length=SNIFF_BYTES)
        if compression == "xz":
            return lzma.LZMADecompressor().decompress(head, max_length=SNIFF_BYTES)
        if compression == "zst":
            import zstandard
            reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(head))
            return reader.read(SNIFF_BYTES)
        import lz4.frame
        return lz4.frame.LZ4FrameDecompressor().decompress(head, max_length=SNIFF_BYTES)
    except Exception:                # noqa: BLE001 - corrupt data: the importer will say
        return b""


def _text_lines(data: bytes) -> list[bytes] | None:
    """The head's complete non-blank lines, when it is text (UTF-8, no NUL)."""
    if not data or b"\x00" in data:
        return None
    cut = data if len(data) < SNIFF_BYTES else data[: data.rfind(b"\n") + 1] or data
    try:
        cut.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(cut) - 4:          # not just a character cut at the end
            return None
    return [line for line in cut.split(b"\n")[:400] if line.strip()]


def _share(lines: list[bytes], pattern: re.Pattern) -> float:
    return sum(1 for line in lines if pattern.match(line)) / len(lines)


def _libcachesim_csv(lines: list[bytes]) -> bool:
    first = [f.strip().lower() for f in lines[0].split(b",")]
    if first == [b"version", b"time", b"op", b"size", b"lbn"]:
        return True
    rows = [[f.strip().lower() for f in line.split(b",")] for line in lines[:50]]
    if rows and not _NUMBER.match(rows[0][min(1, len(rows[0]) - 1)]):
        rows = rows[1:]                      # a header of other names
    return bool(rows) and all(
        len(r) == 5 and r[2] in _LCS_OPS and all(_NUMBER.match(r[k]) for k in (0, 1, 3, 4))
        for r in rows)


def _champsim(data: bytes, whole: bool) -> bool:
    from replay.importers.champsim import RECORD
    n = min(len(data) // RECORD.itemsize, 256)
    if n == 0 or (whole and len(data) % RECORD.itemsize):
        return False
    rec = np.frombuffer(data[: n * RECORD.itemsize], RECORD)
    return bool(np.isin(rec["is_branch"], (0, 1)).all()
                and np.isin(rec["branch_taken"], (0, 1)).all()
                and (rec["ip"] > 0).all())


def _oraclegeneral(data: bytes, whole: bool) -> bool:
    from replay.importers.oraclegeneral import RECORD
    n = min(len(data) // RECORD.itemsize, 1024)
    if n == 0 or (whole and len(data) % RECORD.itemsize):
        return False
    rec = np.frombuffer(data[: n * RECORD.itemsize], RECORD)
    t = rec["time"].astype(np.int64)
    return bool((np.diff(t) >= 0).all() and (rec["next_access_vtime"] >= -1).all())


def detect(head: bytes, name: str = "") -> Detected:
    """The format of an upload whose first bytes are ``head`` (HEAD_BYTES of them, or the
    whole file); ``name`` (the user's, only read) breaks the tie of binary records."""
    compression = compression_of(head)
    data = decompressed_head(head, compression)
    lower = name.lower()
    if data.startswith(b"PAR1"):
        if compression is not None:
            raise TraceError(f"a {compression}-compressed Parquet file: upload the .parquet "
                             "trace itself", path=name)
        return Detected(PARQUET, None)
    if len(data) >= 2 and data[0] == 0x78 and (data[0] * 256 + data[1]) % 31 == 0:
        try:
            inner = zlib.decompressobj().decompress(data, 64)
        except zlib.error:
            inner = b""
        if inner.lstrip()[:1] in (b"[", b"{"):
            return Detected("damo", compression)
    lines = _text_lines(data)
    if lines:
        if lines[0].lstrip()[:1] in (b"[", b"{"):
            return Detected("damo", compression)
        if _share(lines, _LACKEY) >= 0.9:
            return Detected("lackey", compression)
        body = [line for line in lines if not line.startswith(b"#")
                and not line.startswith((b"\t", b"    "))]
        if body and _share(body, _PERF) >= 0.5:
            return Detected("perf-script", compression)
        if _libcachesim_csv(lines):
            return Detected("libcachesim-csv", compression)
        return Detected("csv", compression)
    if lines is None and data:
        if "champsim" in lower:
            return Detected("champsim", compression)
        if "oraclegeneral" in lower:
            return Detected("oraclegeneral", compression)
        # the whole file is in hand: its size must be a whole number of records
        whole = len(head) < HEAD_BYTES and len(data) < SNIFF_BYTES
        if _champsim(data, whole):
            return Detected("champsim", compression)
        if _oraclegeneral(data, whole):
            return Detected("oraclegeneral", compression)
    raise TraceError("cannot tell which format this file is in (not a Parquet trace, nor "
                     "text or records of a format replay imports): choose its format",
                     path=name or None)
