"""The one gateway through which live code changes the machine.

External commands (mkswap, swapon, swapoff, losetup, dmesg, cc), writes to
sysfs/procfs/cgroupfs files, cgroup folder creation and removal, and
signals to processes all go through a ``CommandRunner``. Tests substitute
a fake with the same methods that emulates the kernel's side effects on a
temporary root and can make any step fail.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from replay.errors import ReplayError


class LiveError(ReplayError):
    """The live kernel refused something, or a command failed: one line for the user."""


class Refused(LiveError):
    """A comparison the model cannot make on this machine (the reason says why)."""


class CommandRunner:
    """Runs commands and changes kernel files; every failure is a one-line LiveError."""

    def run(self, argv: Sequence[str | os.PathLike], *, timeout_s: float = 120.0,
            check: bool = True) -> str:
        """Run ``argv`` and return its stdout."""
        args = [os.fspath(a) for a in argv]
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s,
                                  check=False)
        except FileNotFoundError:
            raise LiveError(f"{args[0]}: command not found") from None
        except subprocess.TimeoutExpired:
            raise LiveError(f"{' '.join(args)}: no answer within {timeout_s:g} s") from None
        if check and done.returncode != 0:
            msg = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise LiveError(f"{' '.join(args)} failed (exit {done.returncode})"
                            + (f": {msg[-1]}" if msg else ""))
        return done.stdout

    def write(self, path: Path, value: str) -> None:
        """Write ``value`` to a kernel file (sysfs, procfs, cgroupfs) in one write."""
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise LiveError(f"{path}: cannot write {value!r} ({e.strerror})") from None

    def mkdir(self, path: Path) -> None:
        """Create a cgroup folder (the kernel fills it with its control files)."""
        try:
            os.mkdir(path)
        except OSError as e:
            raise LiveError(f"{path}: cannot create ({e.strerror})") from None

    def rmdir(self, path: Path) -> None:
        """Remove a cgroup folder (it must have no processes left)."""
        try:
            os.rmdir(path)
        except OSError as e:
            raise LiveError(f"{path}: cannot remove ({e.strerror})") from None

    def kill(self, pid: int, sig: int) -> None:
        """Send ``sig`` to ``pid``; a process that is already gone is not an error."""
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        except OSError as e:
            raise LiveError(f"cannot signal process {pid} ({e.strerror})") from None
