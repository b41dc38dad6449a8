"""Outputs appear whole or not at all, and never where they must not.

Every output is checked before the work starts (``check_output``): its folder
exists and takes new files, it is absent or a regular file (a device, FIFO or
socket, or a symlink to one, is refused: renaming over it would replace the
node), and it is none of the command's inputs. It is then written to a
temporary file beside it (``.NAME.tmp-PID-XXXXXXXX``, the mode of the file it
replaces) and renamed over it. A temporary file is removed on any error or
interrupt (SIGTERM included: replay.cli turns it into an exception); one a
killed process left behind is removed by the next command writing that output,
once no process of that pid is alive.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from replay.errors import SettingsError, os_reason

TEMP_MARK = ".tmp-"
_LIVE: set[Path] = set()        # temporaries of this process not yet renamed or removed


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def final_path(path: str | os.PathLike) -> Path:
    """Where an output is written: a symlink's target (the link stays a link)."""
    p = Path(path)
    return Path(os.path.realpath(p)) if p.is_symlink() else p


def check_output(path: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (),
                 what: str = "output") -> Path:
    """Refuse an output the command must not write, before any work; the path to write.

    SettingsError (one line) when the folder is missing or takes no new files, when
    the output exists and is not a regular file (or a symlink to one), or when it is
    one of ``inputs`` (the same file, by any name: os.path.samefile). Removes the
    temporary files of this output that dead processes left behind.
    """
    p = Path(path)
    try:
        st = p.stat()                      # follows a symlink
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise SettingsError(f"{what} cannot be examined ({os_reason(e)})", path=p) from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise SettingsError(f"{what} is a folder, not a file", path=p)
        if not stat.S_ISREG(st.st_mode):
            link = " (through a symlink)" if p.is_symlink() else ""
            raise SettingsError(f"{what} is {_kind(st.st_mode)}{link}, not a regular file: "
                                "refusing to replace it", path=p)
        for inp in inputs:
            if inp is not None and _same_file(p, Path(inp)):
                same = "" if os.fspath(inp) == os.fspath(p) else f" ({inp})"
                raise SettingsError(f"{what} is an input of this command{same}: refusing to "
                                    "overwrite it", path=p)
    final = final_path(p)
    folder = final.parent
    if not folder.is_dir():
        raise SettingsError(f"{what} folder does not exist", path=folder)
    remove_stale_temps(final)
    probe = None
    try:
        fd, probe = tempfile.mkstemp(prefix=_temp_prefix(final), dir=folder)
        os.close(fd)
    except OSError as e:
        raise SettingsError(f"{what} folder takes no new files ({os_reason(e)})",
                            path=folder) from None
    finally:
        if probe is not None:
            remove_temp(Path(probe))
    return final


def _temp_prefix(final: Path) -> str:
    return f".{final.name}{TEMP_MARK}{os.getpid()}-"


def temp_beside(final: Path) -> Path:
    """A new, empty temporary file beside ``final``, with the mode ``final`` has (or a new
    file's mode, from the umask, when it does not exist yet)."""
    fd, name = tempfile.mkstemp(prefix=_temp_prefix(final), dir=final.parent)
    try:
        try:
            st = final.stat()
            mode = stat.S_IMODE(st.st_mode)
        except FileNotFoundError:
            st = None
            umask = os.umask(0)            # mkstemp makes 0600
            os.umask(umask)
            mode = 0o666 & ~umask
        os.fchmod(fd, mode)
        if st is not None and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
            try:
                os.fchown(fd, st.st_uid, st.st_gid)
            except OSError:
                pass                       # not ours to give away: the mode is kept
    except BaseException:
        os.close(fd)
        remove_temp(Path(name))
        raise
    os.close(fd)
    _LIVE.add(Path(name))
    return Path(name)


def remove_live_temps() -> None:
    """Remove every temporary file of this process still there (the last resort of
    replay.cli when cleanup after a signal takes too long)."""
    for p in list(_LIVE):
        remove_temp(p)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True                        # someone else's process
    except OverflowError:
        return False
    return True


def remove_stale_temps(final: Path) -> int:
    """Remove ``final``'s temporary files (``.NAME.tmp-PID-...``) of processes that are
    gone; the number removed."""
    pattern = re.compile(re.escape(f".{final.name}{TEMP_MARK}") + r"(\d+)-[A-Za-z0-9_]+\Z")
    removed = 0
    try:
        names = os.listdir(final.parent)
    except OSError:
        return 0
    for name in names:
        m = pattern.match(name)
        if m and not _pid_alive(int(m.group(1))):
            try:
                if (final.parent / name).is_file():
                    (final.parent / name).unlink()
                    removed += 1
            except OSError:
                pass
    return removed


def remove_temp(p: Path) -> None:
    """Remove a temporary file (gone already is fine)."""
    _LIVE.discard(p)
    try:
        p.unlink()
    except FileNotFoundError:
        pass


def replace(tmp: Path, final: Path) -> None:
    """Rename a temporary file over its output (os.replace), which it then no longer is."""
    os.replace(tmp, final)
    _LIVE.discard(tmp)


def write_text_atomic(path: str | os.PathLike, text: str,
                      inputs: Iterable[str | os.PathLike | None] = ()) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder.

    The output is checked again (``check_output``); a write error (a full disk, a
    folder that turned read-only) is one SettingsError line and leaves nothing."""
    final = check_output(path, inputs)
    tmp = temp_beside(final)
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        replace(tmp, final)
    except OSError as e:
        remove_temp(tmp)
        raise SettingsError(f"cannot write the output ({os_reason(e)})",
                            path=Path(path)) from None
    except BaseException:
        remove_temp(tmp)
        raise


def write_json_atomic(path: str | os.PathLike, doc, default=None,
                      inputs: Iterable[str | os.PathLike | None] = ()) -> None:
    """Write a JSON document atomically (indented, keys in insertion order)."""
    write_text_atomic(path, json.dumps(doc, indent=1, default=default) + "\n", inputs)
