"""`replay sweep SPEC.toml`: a grid of runs on local cores or a Dask cluster, into one
resumable Parquet table (docs/sweeps.md)."""

from __future__ import annotations

import signal
from pathlib import Path

import click
from rich.console import Console

from replay.study.executor import cpu_count, executor_for
from replay.sweep.plan import plan_sweep
from replay.sweep.progress import LineProgress, RichProgress, SweepProgress
from replay.sweep.runner import pending_keys, run_sweep
from replay.sweep.spec import load_spec
from replay.sweep.table import ResultsTable, check_table_output


class Terminated(KeyboardInterrupt):
    """SIGTERM: stop as Ctrl-C does."""


def _on_sigterm(signum, frame):
    raise Terminated()


@click.command("sweep")
@click.argument("spec", type=click.Path(dir_okay=True))
@click.option("-o", "--output", default=None, metavar="TABLE.parquet",
              help="The results table: made, or resumed when it exists [default: the spec's "
              "name, .parquet, beside it].")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run on this Dask cluster (`dask scheduler`, `dask worker`) instead of "
              "local worker processes.")
@click.option("--workers", default=None, type=click.IntRange(1),
              help="Local worker processes [default: one per core].")
@click.option("--retry-failed", is_flag=True,
              help="Replay again the runs whose row says failed (by default a run in the "
              "table, failed or not, is skipped).")
@click.option("--dry-run", is_flag=True,
              help="Say what would be replayed (runs, tasks, runs already in the table), "
              "replay nothing.")
@click.option("--quiet", is_flag=True, help="No progress, only errors.")
def COMMAND(spec, output, scheduler, workers, retry_failed, dry_run, quiet) -> None:
    """Replay a grid of runs (SPEC.toml) on local cores or a Dask cluster, into one Parquet
    table. Exits 1 when a run of the spec failed (its row says why)."""
    if scheduler and workers:
        raise click.UsageError("--workers is the number of local worker processes: not with "
                               "--scheduler (the cluster's workers run the sweep)")
    spec_obj = load_spec(spec)
    out = Path(output) if output else Path(spec).with_suffix(".parquet")
    check_table_output(out)
    err = Console(stderr=True)
    show = not quiet
    executor = None if dry_run else executor_for(scheduler, workers or cpu_count())
    try:
        with ResultsTable(out) as table:
            if show and err.is_terminal:
                with err.status("planning") as st:
                    plan = plan_sweep(spec_obj, status=st.update)
            else:
                plan = plan_sweep(spec_obj)
            if dry_run:
                _describe(plan, table, retry_failed, out)
                return
            if quiet:
                progress: SweepProgress = SweepProgress()
            elif err.is_terminal:
                progress = RichProgress(err)
            else:
                progress = LineProgress()
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
            try:
                outcome = run_sweep(plan, table, executor, progress, retry_failed=retry_failed)
            except KeyboardInterrupt as e:
                done = _runs_in_table(plan, out)
                click.echo(f"replay: interrupted: {done} of the spec's {len(plan.runs)} runs "
                           f"are in {out}; the same command finishes the rest", err=True)
                raise click.exceptions.Exit(143 if isinstance(e, Terminated) else 130) \
                    from None
            finally:
                signal.signal(signal.SIGTERM, previous)
    finally:
        if executor is not None:
            executor.close()
    if not quiet:
        click.echo(f"wrote {out}: {outcome.total} runs of the spec ({outcome.skipped} were "
                   f"already there, {outcome.replayed} replayed now, {outcome.failed} of them "
                   "failed)", err=True)
    if outcome.failed_in_table:
        click.echo(f"replay: {outcome.failed_in_table} runs of the spec failed: their rows "
                   "say why (column error); --retry-failed replays them again", err=True)
        raise click.exceptions.Exit(1)


def _runs_in_table(plan, path: Path) -> int:
    """How many runs of the plan the table at ``path`` holds (for the interrupted line)."""
    from replay.errors import ReplayError
    from replay.sweep.table import read_results
    try:
        keys = set(read_results(path).column("run_key").to_pylist())
    except ReplayError:
        return 0
    return sum(1 for r in plan.runs if r.key in keys)


def _describe(plan, table: ResultsTable, retry_failed: bool, out: Path) -> None:
    keys = pending_keys(plan, table, retry_failed)
    tasks = plan.tasks(keys)
    policies = sorted({r.policy for r in plan.runs})
    click.echo(f"{len(plan.runs)} runs: {len(plan.traces)} trace(s) "
               f"({', '.join(t.name for t in plan.traces)}), {len(policies)} policies, "
               f"settings varied: {', '.join(plan.varied) or 'none'}")
    click.echo(f"{len(plan.runs) - len(keys)} already in {out}; {len(keys)} to replay in "
               f"{len(tasks)} tasks")
    for tp in tasks:
        click.echo(f"  {tp.task.label}: {', '.join(tp.task.policies)}")
