"""The real compressors, called the way the kernel's crypto wrappers call them.

Sizes are the kernel's: lz4 and lzo produce raw blocks (python-lz4's 4-byte
size header is subtracted), zstd a frame as crypto/zstd.c does, deflate a raw
stream with the 2 KiB window of crypto/deflate.c. Each codec is created once
and reused (a fresh ZstdCompressor per call costs ~8 us, see perf-anchors).

Codec keys name a codec and its level: ``lz4``, ``lzo``, ``deflate``,
``zstd-3`` (``zstd`` alone means level 3, the kernel's ZSTD_DEF_LEVEL).
``lzo-rle`` (zram's default here) has no Python binding: it is measured as
lzo1x-1, which it extends with run-length coding of zero runs (sizes a few
bytes larger on zero-rich pages), and says so in ``Codec.note``.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import lz4
import lz4.block
import zstandard

from replay.errors import SettingsError

try:                                    # optional extra: pip install 'folio-replay[lzo]'
    import lzo as _lzo
except ImportError:                     # pragma: no cover - depends on the machine
    _lzo = None

CODEC_NAMES = ("lz4", "lzo", "lzo-rle", "zstd", "deflate")
ZSTD_DEFAULT_LEVEL = 3                  # crypto/zstd.c ZSTD_DEF_LEVEL
DEFLATE_WINDOW_BITS = 11                # crypto/deflate.c DEFLATE_DEF_WINBITS
LZO_MISSING = ("codec lzo needs the python-lzo package: pip install 'folio-replay[lzo]' "
               "(building it needs Debian's liblzo2-dev)")


@dataclass(frozen=True)
class Codec:
    """One compressor at one level, with the calls used for timing and sizing."""

    key: str                             # "lz4", "lzo", "zstd-3", ...
    name: str                            # kernel crypto name: lz4, lzo, lzo-rle, zstd, deflate
    level: int | None
    library: str                         # binding and library versions
    compress_call: Callable[[bytes], bytes]     # one positional argument: the input
    _decompressor: Callable[[int], Callable[[bytes], bytes]]
    header_bytes: int = 0                # binding framing not stored by the kernel
    note: str = ""

    def compressed_len(self, data: bytes) -> int:
        """Bytes the kernel's compressor would produce for ``data``."""
        return len(self.compress_call(data)) - self.header_bytes

    def decompressor(self, out_len: int) -> Callable[[bytes], bytes]:
        """A one-argument call decompressing ``compress_call`` output of ``out_len`` bytes."""
        return self._decompressor(out_len)

    def roundtrip(self, data: bytes) -> bool:
        """True when decompressing the compressed data gives ``data`` back."""
        return self.decompressor(len(data))(self.compress_call(data)) == data


def parse_codec(text: str, level: int | None = None) -> tuple[str, int | None]:
    """'lz4', 'zstd', 'zstd-5' (or a separate level) -> (name, level); SettingsError if bad."""
    t = str(text).strip().lower()
    m = re.fullmatch(r"(zstd)[-:]?(-?\d+)", t)
    if m:
        if level is not None and int(m.group(2)) != level:
            raise SettingsError(f"codec {text!r} and level {level} disagree")
        t, level = m.group(1), int(m.group(2))
    if t not in CODEC_NAMES:
        raise SettingsError(f"codec {text!r} is not one of {', '.join(CODEC_NAMES)} "
                            "(zstd takes a level: zstd-1 .. zstd-19)")
    if t == "zstd":
        level = ZSTD_DEFAULT_LEVEL if level is None else level
        if not 1 <= level <= 19:
            raise SettingsError(f"zstd level {level} is outside 1..19")
    elif level is not None:
        raise SettingsError(f"codec {t} has no levels (only zstd does)")
    return t, level


def codec_key(text: str, level: int | None = None) -> str:
    """Canonical key of a codec spelling: 'zstd' -> 'zstd-3', 'LZ4' -> 'lz4'."""
    name, level = parse_codec(text, level)
    return f"{name}-{level}" if name == "zstd" else name


def lzo_available() -> bool:
    return _lzo is not None


@functools.cache
def get_codec(text: str, level: int | None = None) -> Codec:
    """The codec for a key or name (one instance per key, reused)."""
    name, level = parse_codec(text, level)
    if name == "lz4":
        lib = f"python-lz4 {lz4.__version__} / liblz4 {lz4.library_version_string()}"
        return Codec("lz4", "lz4", None, lib, lz4.block.compress,
                     lambda n: lz4.block.decompress, header_bytes=4)
    if name in ("lzo", "lzo-rle"):
        if _lzo is None:
            raise SettingsError(LZO_MISSING)
        lib = (f"python-lzo {_lzo.__version__.decode()} / liblzo2 "
               f"{_lzo.LZO_VERSION_STRING.decode()}")
        note = "" if name == "lzo" else "lzo-rle measured as lzo1x-1 (no Python lzo-rle)"
        f, g = _lzo.compress, _lzo.decompress
        return Codec(name, name, None, lib, lambda d: f(d, 1, False),  # lzo1x_1, no header
                     lambda n: lambda b: g(b, False, n), note=note)
    if name == "zstd":
        lib = f"zstandard {zstandard.__version__} / libzstd {zstandard.ZSTD_VERSION}"
        cctx = zstandard.ZstdCompressor(level=level)
        dctx = zstandard.ZstdDecompressor()
        return Codec(f"zstd-{level}", "zstd", level, lib, cctx.compress,
                     lambda n: dctx.decompress)
    lib = f"zlib {zlib.ZLIB_RUNTIME_VERSION} (raw deflate, window 2^{DEFLATE_WINDOW_BITS})"
    c, d, w = zlib.compress, zlib.decompress, -DEFLATE_WINDOW_BITS
    return Codec("deflate", "deflate", None, lib, lambda data: c(data, -1, w),
                 lambda n: lambda b: d(b, w, n),
                 note="zlib default level and memLevel 8 (the kernel uses memLevel 9)")


def available_codec_keys(zstd_levels: tuple[int, ...] = (1, 3)) -> list[str]:
    """Keys of the codecs usable on this machine (lzo only with python-lzo)."""
    keys = ["lz4"]
    if _lzo is not None:
        keys.append("lzo")
    keys.extend(f"zstd-{lv}" for lv in zstd_levels)
    keys.append("deflate")
    return keys
