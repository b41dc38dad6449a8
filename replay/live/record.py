"""`replay record`: run a program and record its page accesses as a canonical trace.

Two methods:

``pageout`` (default; root): zram0 becomes the only swap device, a tracefs instance of
our own records ``exceptions:page_fault_user``/``page_fault_kernel`` and
``sched:sched_process_exec`` of the program and the processes it forks, and every
``interval`` the program's anonymous private mappings are pushed out to zram with
``process_madvise(MADV_PAGEOUT)``: the next access to each page faults, and the fault
is recorded (a write when error_code bit 1 is set). Before each pageout the bytes of
the resident pages are read from /proc/PID/mem (the contents sidecar), and the
mappings from /proc/PID/smaps (the regions sidecar); mappings are also read every
10 ms, which is cheap, to tell anonymous faults from file ones. Sampled: the first
access to each page in each interval.

``lackey``: the program runs under ``valgrind --tool=lackey --trace-mem=yes`` and the
log is imported with the lackey importer: every data access, in order (ordinal time).
Needs no root and changes no kernel setting. Page contents are read from the valgrind
process's memory (the guest runs at its own addresses there) at each interval, for
the resident pages the log has touched so far.

Every kernel change of the pageout method (zram, swapon, the tracefs instance and its
files) is journalled in a KernelSession before it is made, and undone on every path:
the program's end or crash, an error, Ctrl-C, SIGTERM, SIGHUP, the timeout. Ctrl-C,
SIGTERM and SIGHUP stop the program and keep what was recorded.
"""

from __future__ import annotations

import os
import platform
import select
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from replay.live.assemble import Assembled, ContentStore, MapsLog, assemble, lackey_sidecars
from replay.live.paths import KernelPaths
from replay.live.procmem import (
    PageoutError,
    descendants,
    open_pidfd,
    pageout,
    parse_maps,
    read_pages,
    read_text,
    resident_pages,
)
from replay.live.runner import CommandRunner, LiveError, Refused
from replay.live.session import CATCH_SIGNALS, KernelSession, active_swaps, read_setting

METHODS = ("pageout", "lackey")
DEFAULT_INTERVAL_MS = {"pageout": 100.0, "lackey": 1000.0}
MAPS_EVERY_S = 0.010               # mapping snapshots (cheap) between the pageouts
STOP_GRACE_S = (1.0, 3.0, 5.0)     # after a stop: own signal, SIGTERM, SIGKILL at these
ZRAM_ALGORITHMS = ("lz4", "lzo-rle", "lzo")
SAMPLE_PAGES = 16384               # pages read and paged out at a time (64 MiB of a mapping)
LACKEY_MIN_FREE = 1 << 30          # lackey: stop the program when the log's disk has less


class StartError(LiveError):
    """The program could not be started."""


@dataclass
class RecordSettings:
    method: str = "pageout"
    interval_ms: float | None = None          # None: the method's default
    timeout_s: float | None = None
    swap_bytes: int | None = None             # zram disksize; None: MemTotal
    contents: bool = True

    @property
    def interval_s(self) -> float:
        ms = self.interval_ms if self.interval_ms is not None else \
            DEFAULT_INTERVAL_MS[self.method]
        return ms / 1000.0


@dataclass
class Outcome:
    """How a recording ended, and what it gathered."""

    assembled: Assembled
    meta_extra: dict
    exit_code: int | None = None              # the program's, when it exited
    exit_signal: int | None = None            # the signal that ended it
    stopped_by: str | None = None             # SIGINT, SIGTERM, SIGHUP, timeout
    stop_signum: int | None = None
    intervals: int = 0
    lost_events: int = 0
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    def exit_words(self) -> str:
        if self.exit_signal is not None:
            name = signal.Signals(self.exit_signal).name
            return f"the program was killed by {name}"
        if self.exit_code is not None:
            return f"the program exited with code {self.exit_code}"
        return "the program's exit status is unknown"


# ---------------------------------------------------------------- the program


def resolve_command(argv: list[str]) -> str:
    """The executable ``argv[0]`` names (PATH searched); StartError when there is none."""
    if not argv:
        raise StartError("no command to record (give it after --)")
    name = argv[0]
    if os.sep in name:
        path = name
        if not os.path.exists(path):
            raise StartError(f"{name}: cannot run the program (No such file or directory)")
    else:
        found = shutil.which(name)
        if found is None:
            raise StartError(f"{name}: cannot run the program (command not found)")
        path = found
    if os.path.isdir(path):
        raise StartError(f"{name}: cannot run the program (Is a directory)")
    if not os.access(path, os.X_OK):
        raise StartError(f"{name}: cannot run the program (Permission denied)")
    return path


class Program:
    """The recorded program: forked, held until ``go()`` (so the recording is set up on its
    pid first), then exec'd. Its exit status comes from ``poll``/``wait``."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = list(argv)
        self.path = resolve_command(self.argv)
        self.pid: int | None = None
        self.pidfd: int | None = None
        self.status: int | None = None        # os.waitpid status
        self._go_w = self._err_r = -1

    def spawn(self) -> int:
        go_r, go_w = os.pipe()
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:                          # the child: wait for go, then exec
            try:
                os.close(go_w)
                os.close(err_r)
                for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM,
                            signal.SIGHUP):
                    signal.signal(sig, signal.SIG_DFL)
                if os.read(go_r, 1) != b"g":
                    os._exit(127)
                os.close(go_r)
                os.execv(self.path, self.argv)
            except OSError as e:
                try:
                    os.write(err_w, str(e.errno or 0).encode())
                finally:
                    os._exit(127)
            except BaseException:
                os._exit(127)
            os._exit(127)
        os.close(go_r)
        os.close(err_w)
        self.pid, self._go_w, self._err_r = pid, go_w, err_r
        self.pidfd = open_pidfd(pid)
        return pid

    def go(self) -> None:
        """Let it exec; StartError (one line) if exec failed."""
        os.write(self._go_w, b"g")
        os.close(self._go_w)
        self._go_w = -1
        data = b""
        while True:
            try:
                chunk = os.read(self._err_r, 64)
            except InterruptedError:
                continue
            if not chunk:
                break
            data += chunk
        os.close(self._err_r)
        self._err_r = -1
        if data:
            self.wait()
            code = int(data or b"0")
            raise StartError(f"{self.argv[0]}: cannot run the program "
                             f"({os.strerror(code) if code else 'exec failed'})")

    def poll(self) -> bool:
        """True once it has exited (and is reaped)."""
        if self.status is not None:
            return True
        if self.pid is None:
            return True
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            self.status = 0
            return True
        if pid == 0:
            return False
        self.status = status
        return True

    def wait_for(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for it to exit (pidfd readable); True if it has."""
        if self.poll():
            return True
        if self.pidfd is not None and timeout_s > 0:
            try:
                select.select([self.pidfd], [], [], timeout_s)
            except InterruptedError:
                pass
        elif timeout_s > 0:
            time.sleep(min(timeout_s, 0.01))
        return self.poll()

    def wait(self) -> None:
        if self.status is None and self.pid is not None:
            while True:
                try:
                    _, self.status = os.waitpid(self.pid, 0)
                    break
                except InterruptedError:
                    continue
                except ChildProcessError:
                    self.status = 0
                    break

    def signal_tree(self, proc_root: Path, sig: int) -> None:
        if self.pid is None or self.poll():
            return
        for pid in reversed(descendants(proc_root, self.pid)):
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def kill(self, proc_root: Path | None = None) -> None:
        """Make sure it is gone (every error path): SIGKILL (to the processes it forked
        too, with ``proc_root``), reap."""
        if proc_root is not None and self.pid is not None and self.status is None \
                and self._go_w < 0:
            self.signal_tree(proc_root, signal.SIGKILL)
        for fd in (self._go_w, self._err_r):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._go_w = self._err_r = -1
        if self.pid is not None and self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait()
        self.close()

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None

    @property
    def exit_code(self) -> int | None:
        if self.status is None or not os.WIFEXITED(self.status):
            return None
        return os.WEXITSTATUS(self.status)

    @property
    def exit_signal(self) -> int | None:
        if self.status is None or not os.WIFSIGNALED(self.status):
            return None
        return os.WTERMSIG(self.status)


class StopSignals:
    """While recording, SIGINT, SIGTERM and SIGHUP only ask to stop (the program is then
    stopped and what was recorded is kept); a second one stops harder."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0
        self._old: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        import threading
        if threading.current_thread() is threading.main_thread():
            for sig in CATCH_SIGNALS:
                self._old[sig] = signal.signal(sig, self._on)
        return self

    def _on(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
        self.count += 1

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


# ---------------------------------------------------------------- checks


def check_pageout_machine(paths: KernelPaths) -> None:
    """Everything the pageout method needs, before anything is changed: one line each."""
    from replay.live.tracefs import check_tracefs
    if paths.is_real and os.geteuid() != 0:
        raise Refused("--method pageout needs root (zram swap, a tracefs instance, "
                      "process_madvise); --method lackey does not")
    zram = paths.zram(0)
    if not zram.is_dir():
        raise Refused(f"no zram0 ({zram} is missing; load the zram module)")
    if read_setting(zram / "disksize") != "0":
        raise Refused(f"zram0 is in use (disksize {read_setting(zram / 'disksize')}); "
                      "recording needs it unused")
    swaps = active_swaps(paths)
    if swaps:
        raise Refused(f"swap is already on ({', '.join(swaps)}): recording swaps the program "
                      "out to zram only; swapoff it first")
    check_tracefs(paths)


def zram_algorithm(paths: KernelPaths) -> str:
    from replay.live.setup import choices
    offered = choices(paths.zram(0) / "comp_algorithm")
    for name in ZRAM_ALGORITHMS:
        if name in offered:
            return name
    return offered[0] if offered else "lzo-rle"


def mem_total(paths: KernelPaths) -> int:
    try:
        for line in paths.proc_meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 4 << 30


def kernel_release(paths: KernelPaths) -> str:
    try:
        return paths.osrelease.read_text().strip()
    except OSError:
        return platform.release()


# ---------------------------------------------------------------- sampling


class Sampler:
    """Mapping snapshots, page contents and pageouts of the program's processes."""

    def __init__(self, paths: KernelPaths, root_pid: int, *, contents: bool,
                 pageout_pages: bool) -> None:
        self.paths = paths
        self.proc = paths.at("/proc")
        self.root_pid = root_pid
        self.maps = MapsLog()
        self.store = ContentStore() if contents else None
        self.do_pageout = pageout_pages
        self.tracked: set[int] = {root_pid}
        self.tid_tgid: dict[int, int] = {}
        self.pidfds: dict[int, int] = {}
        self.samples: list[tuple[int, int]] = []      # (time, resident pages) per pageout
        self.touched: np.ndarray | None = None        # lackey: pages the log has so far
        self.advised_bytes = 0
        self._smaps_layout: dict[int, tuple] = {}

    def processes(self, refresh: bool = False) -> list[int]:
        """The program's processes alive now; ``refresh`` walks the process tree again (at
        each interval and after an exec), else the ones known."""
        if refresh and self.root_pid:
            self.tracked.update(descendants(self.proc, self.root_pid))
        alive = [p for p in sorted(self.tracked) if (self.proc / str(p)).is_dir()]
        self.tracked.intersection_update(alive)
        self.tracked.add(self.root_pid)
        return alive

    def _maps(self, pid: int, smaps: bool):
        text = read_text(self.proc / str(pid) / ("smaps" if smaps else "maps"))
        return None if text is None else parse_maps(text)

    def snapshot_maps(self, refresh: bool = False) -> None:
        """Every 10 ms: /proc/PID/maps of each process, kept when it changed (cheap: no
        page walk; MADV_HUGEPAGE is read from smaps at the intervals)."""
        for pid in self.processes(refresh):
            t = time.monotonic_ns()
            maps = self._maps(pid, smaps=False)
            if maps is not None:
                self.maps.add(pid, t, maps, flags_known=False)

    def _threads(self, pid: int) -> None:
        try:
            for tid in os.listdir(self.proc / str(pid) / "task"):
                self.tid_tgid[int(tid)] = pid
        except OSError:
            pass

    def sample(self, pageout_pages: bool = True) -> int:
        """One interval: contents of the resident pages of each process's anonymous
        mappings, then (pageout method) MADV_PAGEOUT on them. Resident pages seen."""
        resident_total = 0
        t_sample = time.monotonic_ns()
        for pid in self.processes(refresh=True):
            self._threads(pid)
            t = time.monotonic_ns()
            maps = self._maps(pid, smaps=False)
            if maps is None:
                continue
            layout = tuple((m.start_vpn, m.end_vpn, m.perms, m.name) for m in maps)
            if self._smaps_layout.get(pid) != layout:      # VmFlags for MADV_HUGEPAGE
                full = self._maps(pid, smaps=True)
                if full is not None:
                    self._smaps_layout[pid] = layout
                    maps = full
                    self.maps.add(pid, t, maps)
                else:
                    self.maps.add(pid, t, maps, flags_known=False)
            else:
                self.maps.add(pid, t, maps, flags_known=False)
            anon = [m for m in maps if m.anon_private]
            resident_total += self._contents(pid, t, anon, self.do_pageout and pageout_pages)
        if pageout_pages:
            self.samples.append((t_sample, resident_total))
        return resident_total

    def _contents(self, pid: int, t: int, anon, push_out: bool) -> int:
        """Chunk by chunk of each mapping (SAMPLE_PAGES): the resident pages (pagemap),
        their bytes, then MADV_PAGEOUT from the first to the last of them, so that a page
        touched while the sample runs is rarely paged out before its bytes were read.
        Resident pages seen."""
        if self.store is None and not push_out:
            return 0
        try:
            pagemap = os.open(self.proc / str(pid) / "pagemap", os.O_RDONLY)
        except OSError:
            return 0
        mem = -1
        resident = 0
        try:
            if self.store is not None:
                try:
                    mem = os.open(self.proc / str(pid) / "mem", os.O_RDONLY)
                except OSError:
                    mem = -1
            for m in anon:
                for start in range(m.start_vpn, m.end_vpn, SAMPLE_PAGES):
                    vpns = resident_pages(pagemap, start, min(m.end_vpn, start + SAMPLE_PAGES))
                    if not len(vpns):
                        continue
                    resident += len(vpns)
                    if mem >= 0:
                        read = vpns
                        if self.touched is not None:        # lackey: the guest's pages only
                            read = vpns[np.isin(vpns, self.touched, assume_unique=True)]
                        if len(read):
                            got, pages = read_pages(mem, read)
                            self.store.add_pages(pid, t, got, pages)
                    if push_out and not self._pageout(pid, int(vpns[0]), int(vpns[-1]) + 1):
                        push_out = False                    # the process is gone
        finally:
            os.close(pagemap)
            if mem >= 0:
                os.close(mem)
        return resident

    def _pageout(self, pid: int, start: int, end: int) -> bool:
        """MADV_PAGEOUT of pages [start, end) (one range: its pages that are not resident
        cost a page-table walk, where a range per run of resident pages would cost a TLB
        flush each); False when the process is gone."""
        fd = self.pidfds.get(pid)
        if fd is None:
            fd = open_pidfd(pid)
            if fd is None:
                return False
            self.pidfds[pid] = fd
        try:
            self.advised_bytes += pageout(fd, [(start, end)])
        except PageoutError as e:
            raise LiveError(f"process {pid}: {e.strerror}") from None
        return True

    def forget_exec(self, pid: int) -> None:
        """``pid`` exec'd: its next snapshot is kept even if it looks like the last one,
        and its pages' next contents are version 0 of new pages."""
        self.maps.forget(pid)
        if self.store is not None:
            self.store.forget(pid)

    def close(self) -> None:
        for fd in self.pidfds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.pidfds.clear()


class Status:
    """The progress line on stderr (rich, transient), or nothing."""

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled = enabled
        self.label = label
        self._live = None
        self._last = 0.0

    def __enter__(self) -> Status:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live
            from rich.text import Text
            self._text = Text
            self._live = Live(Text(self.label), console=Console(stderr=True),
                              refresh_per_second=4, transient=True,
                              redirect_stdout=False, redirect_stderr=False)
            self._live.__enter__()
        return self

    def update(self, words: str, force: bool = False) -> None:
        if self._live is None:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.25:
            return
        self._last = now
        self._live.update(self._text(f"{self.label}: {words}", style="dim"))

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None


# ---------------------------------------------------------------- the loop


def _run_loop(program: Program, sampler: Sampler, settings: RecordSettings, stop: StopSignals,
              status: Status, *, counts=None, on_tick=None,
              should_stop=None) -> tuple[str | None, int, int]:
    """Sample until the program exits, a signal asks to stop, or the timeout; then stop the
    program. Returns (what stopped it, the signal, intervals done).

    ``on_tick()`` runs before each interval's sample and returns True when the process
    tree should be walked again at once (an exec was seen); ``should_stop()`` returns why
    the recording must end now (lackey: the disk is filling), or None."""
    interval = settings.interval_s
    start = time.monotonic()
    next_maps = start
    next_sample = start + interval
    intervals = 0
    stopped_by = None
    while True:
        now = time.monotonic()
        if stop.signum is not None:
            stopped_by = signal.Signals(stop.signum).name
            break
        if settings.timeout_s is not None and now - start >= settings.timeout_s:
            stopped_by = "timeout"
            break
        if should_stop is not None:
            stopped_by = should_stop()
            if stopped_by:
                break
        if program.poll():
            break
        if now >= next_sample:
            if on_tick is not None:
                on_tick()
            sampler.sample()
            intervals += 1
            next_sample = max(next_sample + interval, time.monotonic() + interval / 10)
            next_maps = time.monotonic() + MAPS_EVERY_S
        elif now >= next_maps:
            sampler.snapshot_maps(refresh=bool(on_tick and on_tick(maps_only=True)))
            next_maps = max(next_maps + MAPS_EVERY_S, time.monotonic())
        extra = counts() if counts else ""
        status.update(f"{now - start:.1f} s, {intervals:,} intervals{extra}")
        wait = min(next_maps, next_sample) - time.monotonic()
        program.wait_for(max(0.0, min(wait, 0.05)))
    if stopped_by is not None and not program.poll():
        # what the program holds now, before it is stopped (no pageout: it is ending)
        if sampler.store is not None:
            status.update("reading page contents before stopping the program", force=True)
            try:
                sampler.sample(pageout_pages=False)
            except LiveError:
                pass
        _stop_program(program, sampler.proc, stopped_by, stop, status)
    program.wait()
    return stopped_by, stop.signum or 0, intervals


def _stop_program(program: Program, proc_root: Path, stopped_by: str, stop: StopSignals,
                  status: Status) -> None:
    """Ask the program to end: Ctrl-C reached it already from the terminal; a signal sent
    to us alone is passed on; then SIGTERM, then SIGKILL."""
    first = stop.signum if stop.signum is not None else signal.SIGTERM
    t0 = time.monotonic()
    steps = [(STOP_GRACE_S[0] if stopped_by.startswith("SIG") else 0.0, first),
             (STOP_GRACE_S[1], signal.SIGTERM), (STOP_GRACE_S[2], signal.SIGKILL)]
    count = stop.count
    for at, sig in steps:
        while time.monotonic() - t0 < at:
            if program.wait_for(0.05):
                return
            if stop.count > count:              # asked again: straight to SIGKILL
                program.signal_tree(proc_root, signal.SIGKILL)
                program.wait()
                return
            status.update(f"stopping the program ({stopped_by})", force=True)
        program.signal_tree(proc_root, sig)
    program.wait()


# ---------------------------------------------------------------- pageout


def record_pageout(argv: list[str], settings: RecordSettings, *, paths: KernelPaths | None = None,
                   runner: CommandRunner | None = None, progress: bool = False,
                   log=None) -> Outcome:
    """Record ``argv`` with the pageout method (see the module docstring)."""
    from replay.live import tracefs
    from replay.live.setup import setup_zram
    paths = paths or KernelPaths()
    runner = runner or CommandRunner()
    resolve_command(argv)
    check_pageout_machine(paths)
    algorithm = zram_algorithm(paths)
    disksize = settings.swap_bytes or (mem_total(paths) >> 20 << 20)
    release = kernel_release(paths)
    wall0 = time.monotonic()
    program = Program(argv)
    parser = tracefs.EventParser()
    reader = None
    sampler = None
    exec_pids: list[int] = []
    with KernelSession(paths, runner, log=log, command="replay record") as session:
        try:
            backend = setup_zram(session, disksize_bytes=disksize, algorithm=algorithm)
            inst = tracefs.create_instance(session)
            pid = program.spawn()
            tracefs.follow_pid(session, inst, pid)
            tracefs.enable_events(session, inst)
            reader = tracefs.PipeReader(inst.file("trace_pipe"), parser,
                                        on_exec=lambda e: exec_pids.append(e[2])).start()
            sampler = Sampler(paths, pid, contents=settings.contents, pageout_pages=True)
            label = f"recording {Path(argv[0]).name} (pid {pid}, pageout every " \
                    f"{settings.interval_s * 1000:g} ms)"

            def counts() -> str:
                faults, _ = reader.snapshot()
                words = f", {faults:,} faults"
                if sampler.store is not None:
                    words += f", {sampler.store.rows:,} page contents"
                return words

            def on_tick(maps_only: bool = False) -> bool:
                """An exec was seen: the process's next mappings and page contents are a
                new address space's; walk the process tree again."""
                if not exec_pids:
                    return False
                while exec_pids:
                    sampler.forget_exec(exec_pids.pop())
                return True

            with StopSignals() as stop, Status(progress, label) as status:
                program.go()
                stopped_by, signum, intervals = _run_loop(program, sampler, settings, stop,
                                                          status, counts=counts,
                                                          on_tick=on_tick)
                status.update("reading the last events", force=True)
                tracefs.disable_events(session, inst)
                reader.drain()
                lost = tracefs.lost_events(inst) + parser.lost
        finally:
            program.kill(paths.at("/proc"))
            if reader is not None:
                reader.close()
            if sampler is not None:
                sampler.close()
    # every setting is back; what was recorded is in memory
    faults = parser.arrays()
    assembled = assemble(faults, parser.execs, program.pid, sampler.maps, sampler.store,
                         tid_tgid=sampler.tid_tgid,
                         sample_times=[t for t, _ in sampler.samples])
    origin = assembled.origin_ns
    extra = {
        "method": "pageout", "interval_ms": settings.interval_s * 1000,
        "kernel_release": release,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "events": ["exceptions:page_fault_user", "exceptions:page_fault_kernel",
                   "sched:sched_process_exec"],
        "swap": {"device": "zram0", "comp_algorithm": backend.compressor,
                 "disksize": disksize},
        "intervals": intervals,
        "pageout_times_ns": [max(0, t - origin) for t, _ in sampler.samples][:100_000],
        "resident_pages_at_pageout": [r for _, r in sampler.samples][:100_000],
        "lost_events": lost, "kernel_address_faults": parser.kernel_addresses,
        "processes": assembled.processes, "left_out": assembled.stats,
        "exit_code": program.exit_code, "exit_signal": program.exit_signal,
        "stopped_by": stopped_by, "contents": settings.contents,
        "mthp": _mthp_settings(paths),
    }
    out = Outcome(assembled, extra, program.exit_code, program.exit_signal, stopped_by,
                  signum if stopped_by in ("SIGINT", "SIGTERM", "SIGHUP") else None,
                  intervals, lost, time.monotonic() - wall0)
    if lost:
        out.notes.append(f"{lost:,} trace events were lost (the ring buffer overflowed): "
                         "those accesses are missing")
    return out


def _mthp_settings(paths: KernelPaths) -> dict:
    out = {}
    try:
        out["thp"] = read_setting(paths.thp / "enabled")
        for size in paths.mthp_sizes_kb():
            out[f"{size}kB"] = read_setting(paths.mthp(size) / "enabled")
    except LiveError:
        pass
    return out


# ---------------------------------------------------------------- lackey


class LogTail:
    """The pages a growing lackey log has touched so far (the C scanner on new lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos = 0
        self.rest = b""
        self.pages = np.zeros(0, np.int64)
        self._pending: list[np.ndarray] = []
        self._fd = -1

    def update(self) -> np.ndarray:
        from replay import _scan
        if self._fd < 0:
            try:
                self._fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return self.touched()
        while True:
            data = os.pread(self._fd, 16 << 20, self.pos)
            if not data:
                break
            self.pos += len(data)
            data = self.rest + data
            cut = data.rfind(b"\n") + 1
            self.rest = data[cut:]
            if cut:
                self._scan(_scan, np.frombuffer(data, np.uint8, cut))
        return self.touched()

    def _scan(self, _scan, buf: np.ndarray) -> None:
        pos, end = 0, len(buf)
        cap = 1 << 20
        t = np.empty(cap, np.int64)
        v = np.empty(cap, np.int64)
        o = np.empty(cap, np.uint8)
        while pos < end:
            pos, n, _, _, err = _scan.lackey(buf, pos, end, 0, 1, False, True, t, v, o, 0)
            if n:
                self._pending.append(np.unique(v[:n]))
            if err:                                # a line the importer would refuse later
                nl = np.flatnonzero(buf[pos:] == 10)
                pos = end if not len(nl) else pos + int(nl[0]) + 1

    def touched(self) -> np.ndarray:
        if self._pending:
            self.pages = np.union1d(self.pages, np.concatenate(self._pending))
            self._pending.clear()
        return self.pages

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def cut_to_whole_lines(path: Path) -> int:
    """Truncate a log a killed valgrind left mid-line to its last whole line; bytes cut."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as f:
        back = min(size, 1 << 16)
        f.seek(size - back)
        tail = f.read(back)
        if tail.endswith(b"\n"):
            return 0
        nl = tail.rfind(b"\n")
        keep = size - back + nl + 1 if nl >= 0 else 0
        f.truncate(keep)
        return size - keep


def drop_bad_last_line(path: Path) -> int:
    """A killed valgrind's last line, cut short and given a newline by grep, is not a lackey
    line: drop it (bytes dropped), so the import takes everything before it."""
    from replay import _scan
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as f:
        back = min(size, 4096)
        f.seek(size - back)
        tail = f.read(back)
        start = tail.rfind(b"\n", 0, len(tail) - 1) + 1
        last = tail[start:]
        if not last.endswith(b"\n"):
            return 0
        buf = np.frombuffer(last, np.uint8)
        rows = 1024
        *_, err = _scan.lackey(buf, 0, len(buf), 0, 1, False, True, np.empty(rows, np.int64),
                               np.empty(rows, np.int64), np.empty(rows, np.uint8), 0)
        if not err:
            return 0
        f.truncate(size - len(last))
        return len(last)


def record_lackey(argv: list[str], settings: RecordSettings, *, out_path: Path,
                  paths: KernelPaths | None = None, progress: bool = False,
                  log=None) -> tuple[Outcome, Path, tempfile.TemporaryDirectory]:
    """Record ``argv`` under valgrind lackey. Returns the outcome, the imported trace (in a
    temporary folder the caller removes) and that folder."""
    from replay.importers import run_import
    from replay.trace import open_trace
    paths = paths or KernelPaths()
    resolve_command(argv)
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise Refused("--method lackey needs valgrind (not found on PATH)")
    release = kernel_release(paths)
    wall0 = time.monotonic()
    tmp = tempfile.TemporaryDirectory(prefix="folio-replay-record-", dir=out_path.parent)
    grep = None
    try:
        import subprocess
        log_path = Path(tmp.name) / "lackey.log"
        version = ""
        try:
            version = subprocess.run([valgrind, "--version"], capture_output=True, text=True,
                                     timeout=30, check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
        # lackey prints every instruction fetch too ("I  addr,size"): the importer skips
        # them, so they are dropped on the way (grep), which keeps the log a few times
        # smaller; without grep valgrind writes the log itself
        vg = [valgrind, "--tool=lackey", "--trace-mem=yes"]
        pipe_w = -1
        if shutil.which("grep"):
            pipe_r, pipe_w = os.pipe()
            with open(log_path, "wb") as log_file:
                grep = subprocess.Popen(["grep", "-v", "-e", "^I "], stdin=pipe_r,
                                        stdout=log_file, env={**os.environ, "LC_ALL": "C"})
            os.close(pipe_r)
            os.set_inheritable(pipe_w, True)
            vg.append(f"--log-fd={pipe_w}")
        else:
            vg.append(f"--log-file={log_path}")
        program = Program([*vg, *argv])
        tail = LogTail(log_path)
        sampler = None
        try:
            try:
                pid = program.spawn()
            finally:
                if pipe_w >= 0:
                    os.close(pipe_w)
            sampler = Sampler(paths, pid, contents=settings.contents, pageout_pages=False)
            sampler.root_pid = pid
            label = f"recording {Path(argv[0]).name} under valgrind lackey (pid {pid})"

            def counts() -> str:
                try:
                    size = log_path.stat().st_size
                except OSError:
                    size = 0
                words = f", log {size / 1e6:,.0f} MB"
                if sampler.store is not None:
                    words += f", {sampler.store.rows:,} page contents"
                return words

            def on_tick(maps_only: bool = False) -> bool:
                if sampler.store is not None and not maps_only:
                    sampler.touched = tail.update()
                return False

            def disk_filling() -> str | None:
                if shutil.disk_usage(tmp.name).free < LACKEY_MIN_FREE:
                    return "low disk space"
                return None

            with StopSignals() as stop, Status(progress, label) as status:
                program.go()
                stopped_by, signum, intervals = _run_loop(program, sampler, settings, stop,
                                                          status, counts=counts,
                                                          on_tick=on_tick,
                                                          should_stop=disk_filling)
        finally:
            program.kill(paths.at("/proc"))
            if grep is not None:
                try:
                    grep.wait(timeout=600)           # the rest of the log, to its end
                except subprocess.TimeoutExpired:
                    grep.kill()
                    grep.wait()
            tail.close()
            if sampler is not None:
                sampler.close()
        if not log_path.exists() or log_path.stat().st_size == 0:
            raise LiveError("valgrind wrote no log: nothing was recorded")
        cut = cut_to_whole_lines(log_path) + drop_bad_last_line(log_path)
        imported = Path(tmp.name) / "lackey.parquet"
        if log:
            log(f"importing the lackey log ({log_path.stat().st_size / 1e6:,.0f} MB)")
        run_import("lackey", log_path, imported, {"progress": progress,
                                                  "command": " ".join(argv)})
        log_path.unlink()
        trace = open_trace(imported)
        vpns = np.unique(np.concatenate([c.vpn for c in trace.iter_chunks()] or
                                        [np.zeros(0, np.int64)]))
        regions, contents, stats = lackey_sidecars(pid, sampler.maps, sampler.store, vpns)
        assembled = Assembled(np.zeros(0, np.int64), vpns, np.zeros(0, np.uint8),
                              np.zeros(0, np.int32), regions, contents,
                              [{"asid": 0, "pid": pid, "exec": argv[0], "forked": False}],
                              0, stats)
        extra = {
            "method": "lackey", "interval_ms": settings.interval_s * 1000,
            "kernel_release": release,
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "valgrind": version, "intervals": intervals,
            "exit_code": program.exit_code, "exit_signal": program.exit_signal,
            "stopped_by": stopped_by, "contents": settings.contents,
            "log_bytes_cut": cut, "left_out": stats,
            "lackey": dict(trace.meta.extra),
        }
        out = Outcome(assembled, extra, program.exit_code, program.exit_signal, stopped_by,
                      signum if stopped_by in ("SIGINT", "SIGTERM", "SIGHUP") else None,
                      intervals, 0, time.monotonic() - wall0)
        out.meta_extra["recorder"] = trace.meta.recorder
        return out, imported, tmp
    except BaseException:
        if grep is not None and grep.poll() is None:
            grep.kill()
            grep.wait()
        tmp.cleanup()
        raise


__all__ = ["METHODS", "Outcome", "RecordSettings", "StartError", "record_lackey",
           "record_pageout", "resolve_command"]

