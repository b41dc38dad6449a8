"""Progress over a whole sweep (runs done of the total, failed, rate, time left) and per
worker (its runs, what it replays now): rich on a terminal, plain lines otherwise.

A task is a trace at one setting under several policies: its runs (one per policy) end
together. The rate and the time left count the runs finished by this sweep, not those a
previous one left in the table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table


@dataclass
class WorkerState:
    runs: int = 0
    failed: int = 0
    busy_s: float = 0.0
    task: int | None = None
    done_accesses: int = 0


def fmt_duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class SweepProgress:
    """The counts, for every display; shows nothing itself."""

    def __init__(self) -> None:
        self.total = 0                        # runs of the spec
        self.already = 0                      # of them, in the table before this sweep
        self.done = 0                         # finished by this sweep (ok or failed)
        self.failed = 0
        self.labels: list[str] = []
        self.accesses: list[int] = []
        self.task_runs: list[int] = []
        self.workers: dict[str, WorkerState] = {}
        self.t0 = time.monotonic()

    # what the runner says
    def begin(self, total: int, already: int, labels: list[str], accesses: list[int],
              task_runs: list[int], where: str) -> None:
        self.total, self.already = total, already
        self.labels, self.accesses, self.task_runs = labels, accesses, task_runs
        self.where = where
        self.t0 = time.monotonic()

    def started(self, k: int, worker: str) -> None:
        for w in self.workers.values():           # a task run again elsewhere
            if w.task == k:
                w.task = None
        state = self.workers.setdefault(worker, WorkerState())
        state.task, state.done_accesses = k, 0

    def advanced(self, k: int, done: int) -> None:
        for w in self.workers.values():
            if w.task == k:
                w.done_accesses = done

    def finished(self, k: int, worker: str, seconds: float, failed: list[tuple[str, str]]
                 ) -> None:
        """Task ``k`` ended on ``worker``; ``failed``: (run label, error) of its runs that
        failed."""
        n = self.task_runs[k]
        self.done += n
        self.failed += len(failed)
        for w in self.workers.values():
            if w.task == k:
                w.task = None
        if worker:
            state = self.workers.setdefault(worker, WorkerState())
            state.runs += n
            state.failed += len(failed)
            state.busy_s += seconds

    def close(self) -> None: ...

    # derived
    @property
    def in_table(self) -> int:
        return self.already + self.done

    def rate_per_min(self) -> float:
        elapsed = time.monotonic() - self.t0
        return 60.0 * self.done / elapsed if elapsed > 0 else 0.0

    def eta_s(self) -> float | None:
        rate = self.rate_per_min()
        left = self.total - self.in_table
        return 60.0 * left / rate if rate > 0 else None

    def summary(self) -> str:
        eta = self.eta_s()
        return (f"{self.in_table}/{self.total} runs, {self.failed} failed, "
                f"{self.rate_per_min():.1f} runs/min"
                + (f", {fmt_duration(eta)} left" if eta is not None and self.in_table
                   < self.total else ""))


class LineProgress(SweepProgress):
    """A line per finished task, one per failed run, and per worker at the end."""

    def __init__(self, file=None) -> None:
        super().__init__()
        self.console = Console(file=file, stderr=file is None, width=100_000,
                               highlight=False, markup=False, soft_wrap=True)

    def begin(self, total, already, labels, accesses, task_runs, where):
        super().begin(total, already, labels, accesses, task_runs, where)
        todo = total - already
        self.console.print(f"sweep: {total} runs, {already} already in the table, {todo} to "
                           f"replay in {len(labels)} tasks on {where}")

    def finished(self, k, worker, seconds, failed):
        super().finished(k, worker, seconds, failed)
        n = self.task_runs[k]
        state = f"{n - len(failed)} ok" + (f", {len(failed)} failed" if failed else "")
        self.console.print(f"[{self.summary()}] {self.labels[k]}: {state} in "
                           f"{seconds:.1f} s" + (f" on {worker}" if worker else ""))
        for label, error in failed:
            self.console.print(f"  failed: {label}: {error}")

    def close(self):
        elapsed = time.monotonic() - self.t0
        for name, w in sorted(self.workers.items()):
            self.console.print(f"worker {name}: {w.runs} runs ({w.failed} failed), busy "
                               f"{fmt_duration(w.busy_s)} of {fmt_duration(elapsed)}")


class RichProgress(SweepProgress):
    """A bar over the sweep's runs, and a line per worker, redrawn in place."""

    def __init__(self, console: Console | None = None) -> None:
        super().__init__()
        self.console = console or Console(stderr=True)
        self.bar = Progress(TextColumn("[bold]sweep"), BarColumn(bar_width=40),
                            TextColumn("{task.fields[summary]}"), console=self.console)
        self.task_id = None
        self.live: Live | None = None

    def begin(self, total, already, labels, accesses, task_runs, where):
        super().begin(total, already, labels, accesses, task_runs, where)
        self.task_id = self.bar.add_task("sweep", total=max(1, total), completed=already,
                                         summary=self.summary())
        self.console.print(f"sweep: {total} runs, {already} already in the table, "
                           f"{total - already} to replay in {len(labels)} tasks on {where}",
                           highlight=False)
        self.live = Live(self._render(), console=self.console, refresh_per_second=4,
                         get_renderable=self._render, transient=False)
        self.live.start()

    def _render(self):
        if self.task_id is not None:
            self.bar.update(self.task_id, completed=self.in_table, summary=self.summary())
        table = Table(box=None, pad_edge=False, show_header=True, header_style="dim")
        table.add_column("worker")
        table.add_column("runs", justify="right")
        table.add_column("failed", justify="right")
        table.add_column("replaying")
        table.add_column("", justify="right")
        for name, w in sorted(self.workers.items()):
            now, pct = "idle", ""
            if w.task is not None:
                now = self.labels[w.task]
                total = self.accesses[w.task]
                pct = f"{100 * w.done_accesses / total:3.0f}%" if total else ""
            table.add_row(name, str(w.runs), str(w.failed), now, pct)
        if not self.workers:
            table.add_row("(waiting for workers)", "", "", "", "")
        return Group(self.bar, table)

    def finished(self, k, worker, seconds, failed):
        super().finished(k, worker, seconds, failed)
        for label, error in failed:
            self.console.print(f"failed: {label}: {error}", highlight=False, markup=False)

    def close(self):
        if self.live is not None:
            self.live.refresh()
            self.live.stop()
            self.live = None
