"""A sweep run: the runs of a plan not yet in the table, on an executor, their rows written
as their tasks finish."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from replay.study.executor import Events, Executor, one_line_error
from replay.sweep.plan import SweepPlan, TaskPlan
from replay.sweep.progress import SweepProgress
from replay.sweep.table import STATUS_FAILED, STATUS_OK, ResultsTable
from replay.sweep.worker import replay_task


@dataclass
class SweepOutcome:
    total: int                   # runs of the spec
    skipped: int                 # already in the table
    replayed: int                # finished by this sweep
    failed: int                  # of those, failed
    failed_in_table: int         # runs of the spec whose row in the table says failed


class _ProgressEvents(Events):
    def __init__(self, progress: SweepProgress) -> None:
        self.progress = progress

    def started(self, index, worker):
        self.progress.started(index, worker)

    def advanced(self, index, done):
        self.progress.advanced(index, done)


def task_rows(tp: TaskPlan, value, error: BaseException | None, worker: str,
              seconds: float) -> list[dict]:
    """The table rows of a finished task: one per run (policy)."""
    from replay import __version__
    finished = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    by_policy = {}
    if error is None:
        by_policy = {p: (figures, err) for p, figures, err in value}
    rows = []
    for run in tp.runs:
        row = run.columns()
        row["replay_version"] = __version__
        if error is not None:
            figures, err = None, one_line_error(error)
        else:
            figures, err = by_policy.get(run.policy, (None, "the worker returned no result "
                                                      "for this policy"))
        row["status"] = STATUS_OK if err is None else STATUS_FAILED
        row["error"] = err
        if figures:
            row.update(figures)
        row["run.worker"] = worker or None
        row["run.task_seconds"] = seconds if worker else None
        row["run.finished"] = finished
        rows.append(row)
    return rows


def pending_keys(plan: SweepPlan, table: ResultsTable, retry_failed: bool) -> set[str]:
    """Runs of the plan the table does not hold (or holds as failed, when retrying)."""
    statuses = table.statuses()
    return {r.key for r in plan.runs
            if r.key not in statuses or (retry_failed and statuses[r.key] != STATUS_OK)}


def run_sweep(plan: SweepPlan, table: ResultsTable, executor: Executor,
              progress: SweepProgress | None = None, *, retry_failed: bool = False
              ) -> SweepOutcome:
    """Replay the plan's runs the table lacks on ``executor``; each task's rows go to the
    table when it ends; the table is committed at the end, also when interrupted (a
    KeyboardInterrupt is raised again after)."""
    progress = progress or SweepProgress()
    keys = pending_keys(plan, table, retry_failed)
    tasks = plan.tasks(keys)
    progress.begin(len(plan.runs), len(plan.runs) - len(keys), [tp.task.label for tp in tasks],
                   [tp.trace.accesses for tp in tasks], [len(tp.runs) for tp in tasks],
                   executor.name)
    failed = 0
    try:
        shipped = {}
        for tp in tasks:
            if tp.trace.digest not in shipped:
                shipped[tp.trace.digest] = executor.ship(tp.trace.path, tp.trace.digest,
                                                         plan.spec.shared_traces)
        finished = executor.run(replay_task, [tp.task for tp in tasks],
                                [shipped[tp.trace.digest] for tp in tasks],
                                _ProgressEvents(progress))
        try:
            for f in finished:
                tp = tasks[f.index]
                rows = task_rows(tp, f.value, f.error, f.worker, f.seconds)
                table.append(rows)
                bad = [(f"{tp.task.label} policy={r['policy']}", r["error"]) for r in rows
                       if r["status"] != STATUS_OK]
                failed += len(bad)
                progress.finished(f.index, f.worker, f.seconds, bad)
        finally:
            finished.close()
    finally:
        progress.close()
        written = table.commit()
    statuses = {}
    if written is not None:
        statuses = dict(zip(written.column("run_key").to_pylist(),
                            written.column("status").to_pylist()))
    return SweepOutcome(len(plan.runs), len(plan.runs) - len(keys), progress.done, failed,
                        sum(1 for r in plan.runs if statuses.get(r.key) == STATUS_FAILED))
