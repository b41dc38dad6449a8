"""Outputs appear whole or not at all: written to a temporary file beside, then renamed."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from replay.errors import SettingsError


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    final = Path(path)
    if not final.parent.is_dir():
        raise SettingsError("output folder does not exist", path=final.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json_atomic(path: str | os.PathLike, doc, default=None) -> None:
    """Write a JSON document atomically (indented, keys in insertion order)."""
    write_text_atomic(path, json.dumps(doc, indent=1, default=default) + "\n")
