"""Several replays (trace x memory limit) at once, one worker process each, on all cores.

Each replay is one ``replay.engine.simulate`` call, which itself replays its policies
side by side in threads; processes x threads stays about the number of CPUs. Workers
report progress (accesses read so far) through a queue to the parent, which draws it:
a rich progress bar per replay on a terminal, one plain line per finished replay
otherwise. Results come back in the order the jobs were given.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_mod
import signal
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from replay.model.config import ModelConfig


@dataclass(frozen=True)
class ReplayJob:
    label: str                        # "kvscan @ 24M", for progress lines
    trace_path: str
    config: ModelConfig
    policies: tuple[str, ...]
    accesses: int
    chunk_rows: int
    sim_options: dict = field(default_factory=dict)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def plan(jobs: int, policies: int, processes: int | None = None,
         threads: int | None = None) -> tuple[int, int]:
    """(worker processes, threads per replay) for ``jobs`` replays of ``policies`` each,
    about one per CPU in all.

    Threads first: a replay's policies run side by side in threads at no start-up cost,
    while a worker process pays its interpreter and the compiled model's load (about 2 s
    of CPU each, measured); so workers are added only for CPUs the policies of one replay
    leave idle (ceil(CPUs / policies) replays at once)."""
    cpus = cpu_count()
    procs = processes or -(-cpus // max(1, policies))
    procs = max(1, min(jobs, procs))
    per = threads or max(1, cpus // procs)
    return procs, max(1, min(per, policies))


# ---------------------------------------------------------------- progress displays


class Reporter:
    """What the parent does with progress: nothing, by default."""

    def started(self, k: int, job: ReplayJob) -> None: ...
    def advanced(self, k: int, job: ReplayJob, done: int) -> None: ...
    def finished(self, k: int, job: ReplayJob, seconds: float) -> None: ...
    def close(self) -> None: ...


class _Rate(ProgressColumn):
    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed:
            return Text("   -   ", style="progress.data.speed")
        return Text(f"{speed / 1e6:5.2f} M/s", style="progress.data.speed")


class _Count(ProgressColumn):
    def render(self, task) -> Text:
        total = f"{int(task.total or 0):,}"
        return Text(f"{int(task.completed):>{len(total)},}/{total} accesses",
                    style="progress.download")


class BarReporter(Reporter):
    """A rich progress bar per replay (accesses read, rate, time left), on stderr."""

    def __init__(self, jobs: list[ReplayJob], console: Console | None = None) -> None:
        console = console or Console(stderr=True)
        # the bar takes what the other columns leave, up to 40 characters
        self.progress = Progress(TextColumn("{task.description}"),
                                 BarColumn(bar_width=max(10, min(40, console.width - 70))),
                                 TaskProgressColumn(), _Count(), _Rate(),
                                 TimeRemainingColumn(), console=console)
        width = max(len(j.label) for j in jobs)
        self.tasks = [self.progress.add_task(f"{j.label:<{width}}", total=j.accesses,
                                             start=False) for j in jobs]
        self.progress.start()

    def started(self, k, job):
        self.progress.start_task(self.tasks[k])

    def advanced(self, k, job, done):
        self.progress.update(self.tasks[k], completed=done)

    def finished(self, k, job, seconds):
        self.progress.update(self.tasks[k], completed=job.accesses)

    def close(self):
        self.progress.stop()


class LineReporter(Reporter):
    """One plain line per finished replay (for logs and pipes)."""

    def __init__(self, file=None) -> None:
        self.console = Console(file=file, stderr=file is None, width=100_000,
                               highlight=False, markup=False)

    def finished(self, k, job, seconds):
        rate = job.accesses / seconds / 1e6 if seconds > 0 else 0.0
        self.console.print(f"replayed {job.label}: {job.accesses:,} accesses under "
                           f"{len(job.policies)} policies in {seconds:.1f} s "
                           f"({rate:.2f} M accesses/s)")


# ---------------------------------------------------------------- workers

_progress_queue = None


def _init_worker(q) -> None:
    global _progress_queue
    _progress_queue = q
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the parent stops the workers


def _replay(k: int, job: ReplayJob, threads: int, report=None) -> tuple[list[dict], float]:
    """(results, wall seconds) of one job."""
    from replay.engine import simulate
    send = report or (lambda n: _progress_queue.put((k, n)))
    t0 = time.perf_counter()
    send(0)
    results = simulate(job.trace_path, job.config, list(job.policies), progress=send,
                       threads=threads, chunk_rows=job.chunk_rows, **job.sim_options)
    return results, time.perf_counter() - t0


def run_replays(jobs: list[ReplayJob], reporter: Reporter | None = None, *,
                processes: int | None = None, threads: int | None = None) -> list[list[dict]]:
    """Replay every job; one list of results (one per policy) per job, in job order.

    One job, or one process: replayed here, without workers."""
    reporter = reporter or Reporter()
    if not jobs:
        return []
    procs, per = plan(len(jobs), max(len(j.policies) for j in jobs), processes, threads)
    out: list[list[dict] | None] = [None] * len(jobs)
    try:
        if procs == 1:
            for k, job in enumerate(jobs):
                def report(n, k=k, job=job):
                    if n == 0:
                        reporter.started(k, job)
                    else:
                        reporter.advanced(k, job, n)

                out[k], seconds = _replay(k, job, per, report)
                reporter.finished(k, job, seconds)
        else:
            _run_in_workers(jobs, out, reporter, procs, per)
    finally:
        reporter.close()
    return out  # type: ignore[return-value]


def _run_in_workers(jobs, out, reporter, procs, per) -> None:
    ctx = multiprocessing.get_context("spawn")       # no fork of a threaded parent
    q = ctx.Queue()
    pool = ProcessPoolExecutor(procs, mp_context=ctx, initializer=_init_worker,
                               initargs=(q,))
    try:
        pending: dict[Future, int] = {pool.submit(_replay, k, job, per): k
                                      for k, job in enumerate(jobs)}

        def drain(timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    k, n = q.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue_mod.Empty:
                    return
                if n == 0:
                    reporter.started(k, jobs[k])
                else:
                    reporter.advanced(k, jobs[k], n)

        while pending:
            drain(0.1)
            done, _ = wait(list(pending), timeout=0, return_when=FIRST_COMPLETED)
            for f in done:
                k = pending.pop(f)
                out[k], seconds = f.result()         # a worker's error is raised here
                drain(0.0)
                reporter.finished(k, jobs[k], seconds)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        for p in list(getattr(pool, "_processes", {}).values()):
            p.terminate()                            # a replay in flight stops now
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        q.close()
