"""Errors a user can act on: each becomes one line on stderr and exit code 2."""

from __future__ import annotations

import os
import re


class ReplayError(Exception):
    """A problem with the user's input or settings, reported as one line.

    ``path`` names the file, ``fmt`` the format it was read as, ``where`` a
    line or record number when known.
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None,
                 fmt: str | None = None, line: int | None = None,
                 record: int | None = None) -> None:
        self.message = message
        self.path = os.fspath(path) if path is not None else None
        self.fmt = fmt
        self.line = line
        self.record = record
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = []
        if self.path is not None:
            parts.append(self.path)
        if self.fmt:
            parts.append(f"{self.fmt} format")
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.record is not None:
            parts.append(f"record {self.record}")
        parts.append(self.message)
        return one_line(": ".join(parts))


# characters that would end the error line or drive the terminal: shown escaped
_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters escaped ('\\n', '\\x1b'):
    a file name holding a newline must not split the error line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


class TraceError(ReplayError):
    """A trace file (source or canonical) is unreadable, truncated or invalid."""


class SettingsError(ReplayError):
    """A setting makes no sense (negative size, unknown policy, ...)."""


def os_reason(e: OSError) -> str:
    """What an OSError says, in the system's words ('No space left on device'); pyarrow's
    I/O errors carry it only in their text ('... [errno 28] ...')."""
    if e.errno:
        return os.strerror(e.errno)
    if e.strerror:
        return e.strerror
    m = re.search(r"\[errno (\d+)\]", str(e))
    if m:
        return os.strerror(int(m.group(1)))
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


class Terminated(BaseException):
    """SIGTERM arrived (replay.cli turns it into this): it unwinds the stack like
    KeyboardInterrupt, so every ``finally`` and ``__exit__`` runs and removes what a
    command had half-written."""

    def __init__(self, signum: int = 15) -> None:
        self.signum = signum
        super().__init__(f"signal {signum}")
