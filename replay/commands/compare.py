"""`replay compare TRACE...`: every trace x memory limit x policy, replayed side by side on
all cores; tables on stdout, and an HTML report and a JSON document when asked."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import click
from rich.console import Console

from replay.atomic import write_json_atomic, write_text_atomic
from replay.commands.common import (
    DEFAULT_MEMORY_LIMIT,
    MIN_MEMORY_LIMIT,
    check_output,
    config_from_options,
    parse_memory_limit,
    progress_chunk_rows,
    resolve_policies,
    settings_options,
    sim_options,
)
from replay.engine import trace_header
from replay.errors import SettingsError
from replay.policies import available
from replay.report.document import compare_document, replay_entry
from replay.report.notes import every_policy_killed, replay_notes
from replay.report.render import FORMATS, csv_text, markdown_replay, output_console, print_replay
from replay.study.folders import find_trace, reports_folder, trace_name
from replay.study.footprint import trace_footprint
from replay.study.parallel import BarReporter, LineReporter, ReplayJob, Reporter, run_replays
from replay.trace import open_trace
from replay.units import format_size


def default_report_path(names: list[str], suffix: str, folder: Path | None = None,
                        today: _dt.date | None = None) -> Path:
    """reports/<trace>-<date>.<suffix>; -2, -3 ... when that exists (never overwritten)."""
    folder = reports_folder() if folder is None else folder
    stem = "+".join(names[:3]) + (f"+{len(names) - 3}-more" if len(names) > 3 else "")
    stem = f"{stem}-{(today or _dt.date.today()).isoformat()}"
    path = folder / f"{stem}.{suffix}"
    n = 2
    while path.exists():
        path = folder / f"{stem}-{n}.{suffix}"
        n += 1
    return path


def _output(value: str | None, option: str, suffix: str, names: list[str],
            inputs=()) -> Path | None:
    if value is None:
        return None
    if value == "":
        folder = reports_folder()
        if not folder.exists():
            try:
                folder.mkdir(parents=True)
            except OSError as e:
                raise SettingsError(f"{option}: cannot make the reports folder ({e.strerror})",
                                    path=folder) from None
        value = str(default_report_path(names, suffix, folder))
    return check_output(value, option, (f".{suffix}",) + ((".htm",) if suffix == "html" else ()),
                        inputs=inputs)


@click.command("compare")
@click.argument("traces", nargs=-1, metavar="TRACE...")
@click.option("--memory-limit", "memory_limits", multiple=True, metavar="L",
              help="memcg limit: a percent of the trace's footprint (pages it reads or "
              f"writes) or a size (K/M/G); repeat for a curve [default: {DEFAULT_MEMORY_LIMIT}].")
@settings_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
              show_default=True, help="Tables for the terminal, a mail (markdown) or a "
              "spreadsheet (csv).")
@click.option("--html", "html_out", is_flag=False, flag_value="", default=None,
              metavar="[PATH]", help="Write the HTML report (figures embedded) "
              "[PATH default: reports/<trace>-<date>.html].")
@click.option("--json", "json_out", is_flag=False, flag_value="", default=None,
              metavar="[PATH]", help="Write every result, timelines included "
              "[PATH default: reports/<trace>-<date>.json].")
@click.option("--jobs", default=None, type=click.IntRange(1),
              help="Replays run at once, one worker process each [default: as many as the "
              "CPUs the policies of one replay leave idle].")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the replays on this Dask cluster (docs/sweeps.md) instead of local "
              "worker processes; each trace is sent to it once.")
@click.option("--sweep", "sweep_table", default=None, metavar="TABLE.parquet",
              help="Report on a `replay sweep` results table instead of replaying: its "
              "tables, and with --html curves and heatmaps (docs/sweeps.md).")
@click.option("--figure", "figures", multiple=True, metavar="NAME",
              help="With --sweep: a figure to draw, a column of the table or its last part "
              "(pgmajfault, swapin_amplification, time.swapin_ns) or throughput; "
              "repeatable [default: pgmajfault, throughput, swapin_amplification].")
@click.option("--against", multiple=True, metavar="SETTING",
              help="With --sweep: curves against this setting (repeatable) [default: every "
              "setting the sweep varies].")
@click.option("--heatmap", "heatmaps", multiple=True, metavar="X,Y",
              help="With --sweep: heatmaps over two settings (repeatable) [default: the "
              "first two the sweep varies].")
@click.option("--where", multiple=True, metavar="SETTING=VALUE",
              help="With --sweep: only the runs with this value (repeatable).")
@click.option("--quiet", is_flag=True, help="No tables, no progress.")
@click.pass_context
def COMMAND(ctx, traces, memory_limits, policies, fmt, html_out, json_out, jobs, scheduler,
            sweep_table, figures, against, heatmaps, where, quiet, threads, chunk_rows,
            **opts) -> None:
    """Compare swap-in policies on each TRACE (a file, or a name in traces/) at each memory
    limit. Exits 1 when every policy of a replay was OOM-killed."""
    if sweep_table is not None:
        _compare_sweep(ctx, sweep_table, figures, against, heatmaps, where, fmt, html_out,
                       quiet)
        return
    for name, given in (("--figure", figures), ("--against", against),
                        ("--heatmap", heatmaps), ("--where", where)):
        if given:
            raise click.UsageError(f"{name} reads a sweep table: give --sweep TABLE")
    if not traces:
        raise click.UsageError("Missing argument 'TRACE...' (or --sweep TABLE).")
    if scheduler and jobs:
        raise SettingsError("--jobs is the number of local worker processes: not with "
                            "--scheduler (the cluster's workers run the replays)")
    limits = [parse_memory_limit(t) for t in (memory_limits or (DEFAULT_MEMORY_LIMIT,))]
    seen = set()
    for lim in limits:
        if lim.text in seen:
            raise SettingsError(f"--memory-limit {lim.text} is given twice")
        seen.add(lim.text)
    pols = resolve_policies(policies)
    kw = sim_options(opts)
    config_from_options(opts, MIN_MEMORY_LIMIT)          # every setting checked before work
    names = [trace_name(t) for t in traces]
    inputs = [opts["cost_model"]]            # the traces are .parquet: never a report's name
    html_path = _output(html_out, "--html", "html", names, inputs)
    json_path = _output(json_out, "--json", "json", names, inputs)
    paths = []
    for t in traces:
        p = find_trace(t)
        if any(p.resolve() == q.resolve() for q in paths):
            raise SettingsError(f"trace {t} is given twice")
        paths.append(p)
    err = Console(stderr=True)
    opened = [open_trace(p) for p in paths]
    footprints = []
    for tr, name in zip(opened, names):
        if err.is_terminal and not quiet:
            with err.status(f"reading {name} for its footprint"):
                footprints.append(trace_footprint(tr))
        else:
            footprints.append(trace_footprint(tr))
    jobs_list, entries = [], []
    for tr, name, fp in zip(opened, names, footprints):
        resolved: dict[int, str] = {}
        for lim in limits:
            limit_bytes = lim.bytes_for(fp.bytes)
            if limit_bytes in resolved:
                raise SettingsError(f"--memory-limit {lim.text} and {resolved[limit_bytes]} "
                                    f"are the same limit ({format_size(limit_bytes)}) for "
                                    f"{name}")
            resolved[limit_bytes] = lim.text
            cfg = config_from_options(opts, limit_bytes)
            jobs_list.append(ReplayJob(
                f"{name} @ {format_size(limit_bytes)}", str(tr.path), cfg, tuple(pols),
                int(tr.num_accesses), chunk_rows or progress_chunk_rows(tr.num_accesses), kw))
            entries.append((tr, fp, lim.text, limit_bytes))
    if quiet:
        reporter: Reporter = Reporter()
    elif err.is_terminal:
        reporter = BarReporter(jobs_list, err)
    else:
        reporter = LineReporter()
    results = run_replays(jobs_list, reporter, processes=jobs, threads=threads,
                          scheduler=scheduler)
    replays = []
    for (tr, fp, given, limit_bytes), res in zip(entries, results):
        entry = replay_entry(trace_header(tr), fp.to_dict(), given, limit_bytes, res)
        entry["notes"] = replay_notes(entry, list(available()))
        replays.append(entry)
    doc = compare_document(replays, pols)
    if not quiet:
        if fmt == "markdown":
            click.echo("\n".join(markdown_replay(rp, rp["notes"]) for rp in replays), nl=False)
        elif fmt == "csv":
            click.echo(csv_text(replays), nl=False)
            for rp in replays:
                for n in rp["notes"]:
                    click.echo(f"note: {rp['trace_name']} at "
                               f"{format_size(rp['memory_limit']['bytes'])}: {n}", err=True)
        else:
            out = output_console()
            for rp in replays:
                print_replay(out, rp, rp["notes"])
    if json_path is not None:
        write_json_atomic(json_path, doc)
        if not quiet:
            click.echo(f"wrote {json_path}", err=True)
    if html_path is not None:
        from replay.report.html import report_html
        summaries = {name: p.summary for name, p in available().items()}
        if err.is_terminal and not quiet:
            with err.status("drawing the report's figures"):
                page = report_html(doc, summaries)
        else:
            page = report_html(doc, summaries)
        write_text_atomic(html_path, page)
        if not quiet:
            click.echo(f"wrote report {html_path}", err=True)
    if any(every_policy_killed(rp) for rp in replays):
        dead = ", ".join(f"{rp['trace_name']} at {format_size(rp['memory_limit']['bytes'])}"
                         for rp in replays if every_policy_killed(rp))
        click.echo(f"replay: every policy was OOM-killed in {dead}: nothing to compare there "
                   "(see the note)", err=True)
        raise click.exceptions.Exit(1)


SWEEP_OPTIONS = {"sweep_table", "figures", "against", "heatmaps", "where", "fmt", "html_out",
                 "quiet"}


def _compare_sweep(ctx, table, figures, against, heatmaps, where, fmt, html_out, quiet
                   ) -> None:
    """`compare --sweep TABLE`: its tables, and the report, from a sweep's results."""
    from click.core import ParameterSource

    from replay.report.render import output_console
    from replay.sweep.report import print_tables, sweep_report_html, sweep_view
    for param in ctx.command.params:
        if param.name in SWEEP_OPTIONS:
            continue
        if ctx.get_parameter_source(param.name) not in (ParameterSource.DEFAULT, None):
            what = "TRACE" if param.name == "traces" else param.opts[0]
            raise click.UsageError(f"{what} has no meaning with --sweep: the table holds "
                                   "the runs and their settings")
    view = sweep_view(table, figures, against, heatmaps, where)
    stem = Path(table).name.removesuffix(".parquet")
    html_path = _output(html_out, "--html", "html", [stem])
    if not quiet:
        print_tables(view, fmt, output_console())
    if html_path is not None:
        summaries = {name: p.summary for name, p in available().items()}
        err = Console(stderr=True)
        if err.is_terminal and not quiet:
            with err.status("drawing the report's figures"):
                page = sweep_report_html(view, summaries)
        else:
            page = sweep_report_html(view, summaries)
        write_text_atomic(html_path, page)
        if not quiet:
            click.echo(f"wrote report {html_path}", err=True)
