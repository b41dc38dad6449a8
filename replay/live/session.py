"""Changing kernel settings with a write-ahead undo journal, and restoring them on every path.

A ``KernelSession`` records how to undo each change *before* making it, in
a journal under /run/folio-replay (tmpfs: it lives as long as the settings
it describes). Leaving the session, normally or through any exception
(including SIGTERM and SIGHUP, which its handlers turn into ``Interrupted``,
and Ctrl-C), undoes everything in reverse order. Each undo step is
idempotent and compares before it writes: restoring never writes a value
that is already there (a write to zswap's ``enabled`` parameter, even of
its current value, sets zswap's "ever enabled" key until reboot). A step
that fails does not stop the others; what could not be restored stays in
the journal, and ``recover`` (``replay validate --recover``) retries it,
also after a crash or SIGKILL that no handler can catch.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from replay.live.paths import KernelPaths
from replay.live.runner import CommandRunner, LiveError, Refused

JOURNAL_NAME = "validate.json"
CATCH_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


class Interrupted(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds like KeyboardInterrupt so every restore runs."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


def raise_for_signal(signum: int) -> None:
    """Ctrl-C stays KeyboardInterrupt; SIGTERM and SIGHUP become Interrupted."""
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signum)


class RestoreError(LiveError):
    """Some settings could not be restored; they stay in the journal for --recover."""


def read_setting(path: Path) -> str:
    """A kernel setting's current value: the [selected] word of a choice file, else the text."""
    try:
        text = path.read_text().strip()
    except OSError as e:
        raise LiveError(f"{path}: cannot read ({e.strerror})") from None
    for word in text.split():
        if word.startswith("[") and word.endswith("]"):
            return word[1:-1]
    return text


def active_swaps(paths: KernelPaths) -> list[str]:
    """Swap areas in use (/proc/swaps, header skipped)."""
    try:
        lines = paths.proc_swaps.read_text().splitlines()[1:]
    except FileNotFoundError:
        return []
    return [line.split()[0] for line in lines if line.strip()]


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class KernelSession:
    """Apply kernel settings with undo records journalled first; restore on exit.

    ``allow_zswap`` must be True for any write under zswap's module
    parameters (enforced here as well as in the command line).
    """

    def __init__(self, paths: KernelPaths, runner: CommandRunner, *,
                 allow_zswap: bool = False, log=None, command: str = "replay validate") -> None:
        self.paths = paths
        self.command = command            # who holds the journal, for the others' refusals
        self.runner = runner
        self.allow_zswap = allow_zswap
        self.log = log or (lambda msg: None)
        self.undo: list[dict] = []
        self.journal = paths.journal_dir / JOURNAL_NAME
        self._restoring = False
        self._pending_signal: int | None = None
        self._old_handlers: dict[int, object] = {}
        self._active = False

    # ------------------------------------------------------------ journal
    def _save(self) -> None:
        tmp = self.journal.with_name(f".{self.journal.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps({"owner_pid": os.getpid(), "command": self.command,
                                   "started": self._started, "undo": self.undo}, indent=1))
        os.replace(tmp, self.journal)

    def push(self, record: dict) -> None:
        """Journal how to undo the change about to be made (write-ahead)."""
        self.undo.append(record)
        self._save()

    # ------------------------------------------------------------ entering and leaving
    def __enter__(self) -> Self:
        check_no_stale_journal(self.paths)
        try:
            self.paths.journal_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LiveError(f"{self.paths.journal_dir}: cannot create the restore journal "
                            f"({e.strerror})") from None
        self._started = time.time()
        try:      # O_EXCL: of two validations starting at once, one refuses
            fd = os.open(self.journal, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise Refused(f"another replay validate or replay record is starting "
                          f"({self.journal})") from None
        except OSError as e:
            raise LiveError(f"{self.journal}: cannot create the restore journal "
                            f"({e.strerror})") from None
        os.close(fd)
        self._save()
        self._active = True
        self._install_handlers()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            failures = self.restore_to(0)
        finally:
            self._active = False
            self._remove_handlers()
        if failures:
            after = ""
            if exc is not None:
                what = exc.one_line() if hasattr(exc, "one_line") else (str(exc) or
                                                                        type(exc).__name__)
                after = f" (after: {what})"
            raise RestoreError(restore_message(failures, self.journal) + after)
        remove_journal(self.journal)
        if self._pending_signal is not None and exc is None:
            signum, self._pending_signal = self._pending_signal, None
            raise_for_signal(signum)

    @contextmanager
    def scope(self) -> Iterator[None]:
        """Changes made inside are undone when the block ends (one validation run)."""
        mark = len(self.undo)
        try:
            yield
        finally:
            failures = self.restore_to(mark)
            if failures:
                raise RestoreError(restore_message(failures, self.journal))
            if self._pending_signal is not None:     # arrived while restoring
                signum, self._pending_signal = self._pending_signal, None
                raise_for_signal(signum)

    # ------------------------------------------------------------ signals
    def _on_signal(self, signum, frame) -> None:
        if self._restoring:
            self._pending_signal = signum        # finish restoring first
            return
        raise_for_signal(signum)

    def _install_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in CATCH_SIGNALS:
            self._old_handlers[sig] = signal.signal(sig, self._on_signal)

    def _remove_handlers(self) -> None:
        for sig, old in self._old_handlers.items():
            signal.signal(sig, old)
        self._old_handlers.clear()

    # ------------------------------------------------------------ changes
    def _guard(self, path: Path) -> None:
        if not self.allow_zswap and self.paths.zswap_params in path.parents:
            raise LiveError(f"{path}: refusing to write a zswap parameter without "
                            "--allow-zswap (any write sets zswap's ever-enabled key until "
                            "reboot)")

    def set(self, path: Path, value: str, *, what: str) -> None:
        """Set a kernel setting, journalling its old value; nothing happens if it is ``value``."""
        self._guard(path)
        old = read_setting(path)
        if old == value:
            return
        self.push({"kind": "set", "path": str(path), "value": old, "what": what})
        self.log(f"{what}: {old} -> {value}")
        self.runner.write(path, value)

    def write(self, path: Path, value: str) -> None:
        """Write a file whose undo is journalled otherwise (own memcg, zram before reset)."""
        self._guard(path)
        self.runner.write(path, value)

    # ------------------------------------------------------------ restoring
    def restore_to(self, mark: int) -> list[tuple[dict, str]]:
        """Undo journalled changes above ``mark``, newest first; return the failures."""
        failures: list[tuple[dict, str]] = []
        self._restoring = True
        try:
            while len(self.undo) > mark:
                record = self.undo[-1]
                try:
                    undo_record(record, self.paths, self.runner, self.log)
                except (LiveError, OSError) as e:
                    msg = e.one_line() if isinstance(e, LiveError) else str(e)
                    failures.append((record, msg))
                self.undo.pop()
                if self._active:
                    self._save()
        finally:
            self._restoring = False
        if failures:
            # keep what failed in the journal, for --recover
            self.undo[mark:mark] = [r for r, _ in reversed(failures)]
            if self._active:
                self._save()
        return failures


def restore_message(failures: list[tuple[dict, str]], journal: Path) -> str:
    what = "; ".join(f"{describe(r)}: {msg}" for r, msg in failures)
    return (f"could not restore {len(failures)} setting(s): {what}. They are kept in {journal}: "
            "fix the cause, then run `replay validate --recover`")


def describe(record: dict) -> str:
    kind = record["kind"]
    if kind == "set":
        return f"{record['what']} back to {record['value']!r}"
    if kind == "swapoff":
        return f"swapoff {record['device']}"
    if kind == "zram_reset":
        return f"reset {record['zram']}"
    if kind == "memcg":
        return f"remove memcg {record['path']}"
    if kind == "loop_detach":
        return f"detach the loop device of {record['file']}"
    if kind == "unlink":
        return f"remove {record['path']}"
    if kind == "tracefs_write":
        return f"{record['what']} back to {record['value']!r}"
    if kind == "tracefs_instance":
        return f"remove the trace instance {record['path']}"
    return kind


def undo_record(record: dict, paths: KernelPaths, runner: CommandRunner, log) -> None:
    """Undo one journalled change; does nothing when it is already undone."""
    kind = record["kind"]
    if kind == "set":
        path = Path(record["path"])
        if read_setting(path) != record["value"]:
            log(f"restore {record['what']}: {record['value']}")
            runner.write(path, record["value"])
    elif kind == "swapoff":
        dev = record["device"]
        if any(_same_file(s, dev) for s in active_swaps(paths)):
            log(f"swapoff {dev}")
            runner.run(["swapoff", dev], timeout_s=600)
    elif kind == "zram_reset":
        zram = Path(record["zram"])
        if read_setting(zram / "disksize") != "0":
            log(f"reset {zram.name}")
            runner.write(zram / "reset", "1")
    elif kind == "memcg":
        remove_memcg(Path(record["path"]), runner, log)
    elif kind == "loop_detach":
        out = runner.run(["losetup", "-j", record["file"]], check=False)
        for line in out.splitlines():
            dev = line.split(":", 1)[0].strip()
            if dev:
                log(f"losetup -d {dev}")
                runner.run(["losetup", "-d", dev])
    elif kind == "unlink":
        p = Path(record["path"])
        if p.exists():
            log(f"rm {p}")
            p.unlink()
    elif kind == "tracefs_write":
        # a file of our own tracefs instance: gone with the instance, nothing to put back
        path = Path(record["path"])
        if path.exists() and read_setting(path) != record["value"]:
            log(f"restore {record['what']}: {record['value']!r}")
            runner.write(path, record["value"])
    elif kind == "tracefs_instance":
        remove_tracefs_instance(Path(record["path"]), runner, log)
    else:
        raise LiveError(f"unknown journal record {kind!r}")


def remove_tracefs_instance(path: Path, runner: CommandRunner, log,
                            wait_s: float = 5.0) -> None:
    """Undo of ``tracefs_instance`` (replay record): events off and the pid filter cleared,
    then the folder removed (a trace_pipe still open makes it busy for a moment)."""
    if not path.is_dir():
        return
    for name, value in (("events/enable", "0"), ("set_event_pid", "")):
        p = path / name
        try:
            if p.exists() and read_setting(p) != value:
                runner.write(p, value)
        except LiveError:
            pass                         # the folder goes anyway, with its settings
    log(f"rmdir {path}")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            runner.rmdir(path)
            return
        except LiveError:
            if not path.is_dir():
                return
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def memcg_pids(group: Path) -> list[int]:
    try:
        return [int(x) for x in (group / "cgroup.procs").read_text().split()]
    except FileNotFoundError:
        return []


def remove_memcg(group: Path, runner: CommandRunner, log, wait_s: float = 10.0) -> None:
    """Kill every process in our memcg (only ours are there), then remove the group."""
    if not group.exists():
        return
    deadline = time.monotonic() + wait_s
    while True:
        pids = memcg_pids(group)
        if not pids:
            break
        for pid in pids:
            runner.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise LiveError(f"{group}: processes {pids} are still in it after SIGKILL")
        time.sleep(0.02)
    log(f"rmdir {group}")
    runner.rmdir(group)


def read_journal(paths: KernelPaths) -> dict | None:
    path = paths.journal_dir / JOURNAL_NAME
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise LiveError(f"{path}: unreadable restore journal ({e})") from None


def check_no_stale_journal(paths: KernelPaths) -> None:
    """Refuse to start while another validation runs or one left settings behind."""
    j = read_journal(paths)
    if j is None:
        return
    pid = int(j.get("owner_pid", 0))
    who = j.get("command") or "replay validate"
    where = paths.journal_dir / JOURNAL_NAME
    if pid and pid != os.getpid() and _pid_alive(pid):
        raise Refused(f"another {who} (pid {pid}) is changing kernel settings "
                      f"({where}); wait for it to finish")
    if not j.get("undo"):                 # killed before it changed anything
        remove_journal(where)
        return
    raise Refused(f"a previous {who} (pid {pid}) ended without restoring "
                  f"{len(j.get('undo', []))} setting(s) ({where}): run "
                  "`replay validate --recover` first")


def recover(paths: KernelPaths, runner: CommandRunner, log=None) -> int:
    """Restore what a journal left by a killed validation lists; returns the steps undone."""
    j = read_journal(paths)
    if j is None:
        return 0
    pid = int(j.get("owner_pid", 0))
    if pid and pid != os.getpid() and _pid_alive(pid):
        raise Refused(f"{j.get('command') or 'replay validate'} (pid {pid}) is still running; "
                      "it restores its own settings")
    session = KernelSession(paths, runner, allow_zswap=True, log=log)
    session.undo = list(j.get("undo", []))
    session._started = j.get("started", time.time())
    session._active = True
    n = len(session.undo)
    failures = session.restore_to(0)
    if failures:
        raise RestoreError(restore_message(failures, session.journal))
    remove_journal(session.journal)
    return n


def remove_journal(journal: Path) -> None:
    """Remove the journal, and its folder when nothing else is in it."""
    journal.unlink(missing_ok=True)
    try:
        journal.parent.rmdir()
    except OSError:
        pass
