"""Running the native replayer as a child process and talking its line protocol."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from replay.live.runner import LiveError


class ReplayerDied(LiveError):
    """The replayer exited before finishing (``signal`` says which, if one killed it)."""

    def __init__(self, message: str, *, exit_code: int | None, sig: int | None) -> None:
        self.exit_code = exit_code
        self.signal = sig
        super().__init__(message)


class ReplayerTimeout(LiveError):
    """The replayer did not say what was expected before the deadline."""


class ReplayerProcess:
    """One replayer child: start, wait for 'ready', 'go', wait for 'done', release, reap.

    Started in its own session (a terminal's Ctrl-C or `timeout`'s signal
    reach the parent, which then kills it and restores), and with
    PR_SET_PDEATHSIG so it never outlives the parent.
    """

    def __init__(self, binary: Path, export: Path, memcg: Path, *, hugepage: bool,
                 flush_every: int, verify: bool = False, coalesce_pageout: bool = True,
                 lock_optional: bool = False, fault_log: Path | None = None) -> None:
        self.argv = [str(binary), str(export), "--cgroup-procs", str(memcg / "cgroup.procs"),
                     "--memory-stat", str(memcg / "memory.stat"),
                     "--flush-every", str(flush_every)]
        if hugepage:
            self.argv.append("--hugepage")
        if verify:
            self.argv.append("--verify")
        if coalesce_pageout:
            self.argv.append("--coalesce-pageout")
        if lock_optional:
            self.argv.append("--lock-optional")
        if fault_log is not None:
            self.argv += ["--fault-log", str(fault_log)]
        self.proc: subprocess.Popen | None = None
        self._buf = b""
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self.rusage = None
        self.exit_code: int | None = None
        self.signal: int | None = None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, start_new_session=True, bufsize=0)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _read_line(self, deadline: float, waiting_for: str) -> str:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ReplayerTimeout(f"the replayer did not report '{waiting_for}' in time "
                                      "(--timeout)")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                self._died(waiting_for)
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode(errors="replace")

    def _died(self, waiting_for: str) -> None:
        self.reap()
        self._stderr.seek(0)
        err = self._stderr.read().decode(errors="replace").strip().splitlines()
        how = (f"killed by {signal.Signals(self.signal).name}" if self.signal
               else f"exit {self.exit_code}")
        raise ReplayerDied(f"the replayer ended ({how}) before '{waiting_for}'"
                           + (f": {err[-1]}" if err else ""),
                           exit_code=self.exit_code, sig=self.signal)

    def wait_ready(self, deadline: float) -> dict:
        line = self._read_line(deadline, "ready")
        parts = line.split()
        if not parts or parts[0] != "ready":
            raise LiveError(f"the replayer said {line!r} instead of 'ready'")
        return {"region_address": parts[1] if len(parts) > 1 else "",
                "region_bytes": int(parts[2]) if len(parts) > 2 else 0}

    def go(self) -> None:
        try:
            self.proc.stdin.write(b"g\n")
        except BrokenPipeError:
            self._died("go")

    def wait_done(self, deadline: float) -> dict:
        line = self._read_line(deadline, "done")
        if not line.startswith("done "):
            raise LiveError(f"the replayer said {line[:80]!r} instead of 'done'")
        try:
            return json.loads(line[5:])
        except ValueError:
            raise LiveError(f"the replayer's report is not JSON: {line[:80]!r}") from None

    def release(self, timeout_s: float = 30.0) -> None:
        """Let it exit (close its stdin) and reap it, with its rusage."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        deadline = time.monotonic() + timeout_s
        while self.exit_code is None and self.signal is None:
            if self._try_reap():
                break
            if time.monotonic() > deadline:
                self.kill()
                raise LiveError("the replayer did not exit after its run")
            time.sleep(0.005)

    def kill(self) -> None:
        """SIGKILL it (if still running) and reap it."""
        if self.proc is None or self.exit_code is not None or self.signal is not None:
            return
        os.kill(self.proc.pid, signal.SIGKILL)     # our child, not yet reaped: its pid is ours
        self.reap()

    def reap(self) -> None:
        if self.proc is None or self.exit_code is not None or self.signal is not None:
            return
        _, status, rusage = os.wait4(self.proc.pid, 0)
        self._set_status(status, rusage)

    def _try_reap(self) -> bool:
        pid, status, rusage = os.wait4(self.proc.pid, os.WNOHANG)
        if pid == 0:
            return False
        self._set_status(status, rusage)
        return True

    def _set_status(self, status: int, rusage) -> None:
        self.rusage = rusage
        if os.WIFSIGNALED(status):
            self.signal = os.WTERMSIG(status)
            self.proc.returncode = -self.signal
        else:
            self.exit_code = os.WEXITSTATUS(status)
            self.proc.returncode = self.exit_code

    def close(self) -> None:
        """Kill if needed and release every file descriptor."""
        try:
            self.kill()
        finally:
            for f in (self.proc.stdin if self.proc else None,
                      self.proc.stdout if self.proc else None, self._stderr):
                if f is not None:
                    try:
                        f.close()
                    except OSError:
                        pass

    def rusage_dict(self) -> dict:
        r = self.rusage
        if r is None:
            return {}
        return {"minflt": r.ru_minflt, "majflt": r.ru_majflt, "maxrss_kb": r.ru_maxrss,
                "utime_us": int(r.ru_utime * 1e6), "stime_us": int(r.ru_stime * 1e6),
                "nvcsw": r.ru_nvcsw, "nivcsw": r.ru_nivcsw}
