"""Several replays (trace x memory limit) at once, one worker process each, on all cores,
or on a Dask cluster.

Each replay is one ``replay.engine.simulate`` call, which itself replays its policies
side by side in threads; processes x threads stays about the number of CPUs. Where they
run is an executor's business (``replay.study.executor``: this process, local worker
processes, or a Dask cluster, the same executors `replay sweep` uses); workers report
progress (accesses read so far) to the parent, which draws it: a rich progress bar per
replay on a terminal, one plain line per finished replay otherwise. Results come back in
the order the jobs were given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

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
from replay.study.executor import (
    DaskCluster,
    Events,
    Executor,
    InProcess,
    LocalProcesses,
    cpu_count,
)


@dataclass(frozen=True)
class ReplayJob:
    label: str                        # "kvscan @ 24M", for progress lines
    trace_path: str
    config: ModelConfig
    policies: tuple[str, ...]
    accesses: int
    chunk_rows: int
    sim_options: dict = field(default_factory=dict)
    threads: int = 1                  # policies side by side (set by run_replays)


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


# ---------------------------------------------------------------- running them


class _ReporterEvents(Events):
    """An executor's events, to a Reporter."""

    def __init__(self, jobs: list[ReplayJob], reporter: Reporter) -> None:
        self.jobs, self.reporter = jobs, reporter

    def started(self, index, worker):
        self.reporter.started(index, self.jobs[index])

    def advanced(self, index, done):
        self.reporter.advanced(index, self.jobs[index], done)


def replay_job(job: ReplayJob, trace_path: Path, report) -> list[dict]:
    """One job's results (one per policy), on whichever worker runs it."""
    from replay.engine import simulate
    report(0)
    return simulate(str(trace_path), job.config, list(job.policies), progress=report,
                    threads=job.threads, chunk_rows=job.chunk_rows, **job.sim_options)


def run_replays(jobs: list[ReplayJob], reporter: Reporter | None = None, *,
                processes: int | None = None, threads: int | None = None,
                scheduler: str | None = None) -> list[list[dict]]:
    """Replay every job; one list of results (one per policy) per job, in job order. A
    job's error is raised (the first to end).

    With ``scheduler`` (a Dask scheduler's address) the jobs run on that cluster, their
    traces sent to it once each, one thread per replay unless ``threads`` says more.
    Otherwise one job, or one process: replayed here, without workers; else in worker
    processes (``plan``)."""
    reporter = reporter or Reporter()
    if not jobs:
        return []
    if scheduler:
        executor: Executor = DaskCluster(scheduler)
        per = threads or 1
    else:
        procs, per = plan(len(jobs), max(len(j.policies) for j in jobs), processes, threads)
        executor = InProcess() if procs == 1 else LocalProcesses(procs)
    jobs = [dataclasses.replace(j, threads=per) for j in jobs]
    out: list[list[dict] | None] = [None] * len(jobs)
    try:
        with executor:
            traces = [executor.ship(Path(j.trace_path)) for j in jobs]
            finished = executor.run(replay_job, jobs, traces, _ReporterEvents(jobs, reporter))
            try:
                for f in finished:
                    if f.error is not None:
                        raise f.error
                    out[f.index] = f.value
                    reporter.finished(f.index, jobs[f.index], f.seconds)
            finally:
                finished.close()
    finally:
        reporter.close()
    return out  # type: ignore[return-value]
