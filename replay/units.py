"""Parsing sizes the way users write them (64M, 1G, 16K, 4096)."""

from __future__ import annotations

import re

from replay.errors import SettingsError

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str | int, what: str = "size") -> int:
    """Bytes from '64M', '1G', '16K', '4096' (binary units); SettingsError otherwise."""
    if isinstance(text, int):
        value = text
    else:
        m = _SIZE.match(str(text))
        if not m:
            raise SettingsError(f"{what} {text!r} is not a size like 4096, 64K, 64M or 1G")
        value = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if value < 0:
        raise SettingsError(f"{what} {text!r} is negative")
    return value


def format_size(n: int) -> str:
    """'64K', '1M', '1.5G' for a byte count (binary units)."""
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= scale:
            v = n / scale
            return f"{v:g}{unit}" if v == int(v) else f"{v:.1f}{unit}"
    return f"{n}B"
