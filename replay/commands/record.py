"""`replay record -o OUT.parquet [--method pageout|lackey] -- CMD ARGS...`: record a program."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click
import numpy as np

from replay.commands.common import wrote_trace_line
from replay.errors import SettingsError, Terminated
from replay.live.record import (
    DEFAULT_INTERVAL_MS,
    METHODS,
    Outcome,
    RecordSettings,
    record_lackey,
    record_pageout,
)
from replay.trace import DEFAULT_CHUNK_ROWS, TraceMeta, TraceWriter, check_trace_output
from replay.units import parse_size

_EPILOG = """\b
Methods (docs/recording.md measures both):
  pageout  root: zram0 as swap, a tracefs instance of its own for the program's page
           faults, MADV_PAGEOUT of its anonymous memory every --interval ms; the first
           access to each page in each interval, timed; page contents read at each
           interval. Every setting is restored afterwards, also on Ctrl-C.
  lackey   valgrind --tool=lackey --trace-mem=yes: every data access, in order
           (ordinal time), 50-100x slower; no root.
Ctrl-C stops the program and keeps what was recorded (exit 130)."""


def _meta(argv: list[str], settings: RecordSettings, outcome: Outcome, description,
          licence) -> TraceMeta:
    x = outcome.meta_extra
    interval = f"{settings.interval_s * 1000:g} ms"
    if settings.method == "pageout":
        recorder = (f"replay record --method pageout (tracefs exceptions:page_fault_user, "
                    f"process_madvise MADV_PAGEOUT every {interval}, zram; Linux "
                    f"{x['kernel_release']})")
        sampling = (f"the first access to each page of the program's anonymous private "
                    f"mappings in each {interval} interval (its fault after MADV_PAGEOUT); "
                    "later accesses in the interval, file-backed and shared pages are not "
                    "seen")
        what = "page faults after MADV_PAGEOUT every " + interval
    else:
        recorder = f"replay record --method lackey ({x.get('recorder') or 'valgrind lackey'})"
        sampling = ""
        what = "every data access traced by valgrind lackey"
    extra = {k: v for k, v in x.items() if k != "recorder"}
    return TraceMeta(
        source_format="record", source_file="", recorder=recorder,
        command=shlex.join(argv), description=description or f"{shlex.join(argv)}: {what}",
        licence=licence or "", sampled=settings.method == "pageout", sampling=sampling,
        time_source="recorded" if settings.method == "pageout" else "ordinal", extra=extra)


def _write(out: Path, meta: TraceMeta, outcome: Outcome, imported: Path | None) -> None:
    a = outcome.assembled
    with TraceWriter(out, meta) as w:
        if imported is None:
            n = len(a.vpn)
            for s in range(0, n, DEFAULT_CHUNK_ROWS):
                e = min(n, s + DEFAULT_CHUNK_ROWS)
                w.write(a.time_ns[s:e], a.vpn[s:e], a.op[s:e], a.asid[s:e])
        else:
            from replay.trace import open_trace
            for ch in open_trace(imported).iter_chunks():
                w.write(ch.time_ns, ch.vpn, ch.op, ch.asid)
        if a.regions is not None:
            w.set_regions(**a.regions)
        if a.contents is not None:
            w.set_contents(**a.contents)


def first_versions(contents: dict | None) -> dict | None:
    """The contents rows of version 0 only: each page's first contents, the ones a replay
    uses (later versions only say what a page held later)."""
    if contents is None:
        return None
    keep = np.flatnonzero(np.asarray(contents["version"]) == 0)
    return {k: (v[keep] if isinstance(v, np.ndarray) else [v[i] for i in keep.tolist()])
            for k, v in contents.items()}


def _summary(outcome: Outcome, settings: RecordSettings) -> str:
    s = outcome.assembled.stats
    parts = [f"{outcome.wall_s:.1f} s"]
    if settings.method == "pageout":
        times = outcome.meta_extra.get("pageout_times_ns") or []
        gaps = sorted(b - a for a, b in zip(times, times[1:]))
        every = (f", every {gaps[len(gaps) // 2] / 1e6:.0f} ms (median; a pageout of what "
                 "the program touched takes its time)"
                 if gaps and gaps[len(gaps) // 2] > 1.5e6 * settings.interval_s * 1000 else "")
        parts.append(f"{outcome.intervals:,} pageouts (--interval "
                     f"{settings.interval_s * 1000:g} ms{every})")
        if s.get("inferred_writes"):
            parts.append(f"{s['inferred_writes']:,} writes inferred from changed contents")
        left = []
        if s.get("outside_anon"):
            left.append(f"{s['outside_anon']:,} faults on file-backed or shared pages")
        if s.get("no_mappings_known"):
            left.append(f"{s['no_mappings_known']:,} of processes that ended before their "
                        "mappings were read")
        if s.get("before_exec"):
            left.append(f"{s['before_exec']:,} before the program's exec")
        if left:
            parts.append("left out: " + ", ".join(left))
        if s.get("unmapped_at_snapshots"):
            parts.append(f"{s['unmapped_at_snapshots']:,} faults kept in mappings no "
                         "snapshot saw")
    if "content_pages" in s:
        kept = ("; the first of each page kept"
                if s.get("content_versions_kept") == "first" else "")
        parts.append(f"contents of {s['content_pages']:,} pages ({s['content_versions']:,} "
                     f"versions, {s['content_distinct']:,} distinct non-zero pages, "
                     f"{s['content_zero_pages']:,} zero pages{kept})")
    elif settings.contents:
        parts.append("no page contents read")
    return "; ".join(parts)


@click.command("record", epilog=_EPILOG,
               context_settings={"ignore_unknown_options": True,
                                 "allow_interspersed_args": False})
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Trace to write (.parquet), with its contents and regions sidecars.")
@click.option("--method", type=click.Choice(METHODS), default="pageout", show_default=True,
              help="pageout: page faults after MADV_PAGEOUT (root); lackey: valgrind.")
@click.option("--interval", "interval_ms", type=click.FloatRange(min=1), default=None,
              help=f"Milliseconds between pageouts (lackey: between reads of page contents) "
                   f"[default: {DEFAULT_INTERVAL_MS['pageout']:g} for pageout, "
                   f"{DEFAULT_INTERVAL_MS['lackey']:g} for lackey].")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True),
              default=None, help="Stop the program after this many seconds (SIGTERM, then "
                                 "SIGKILL) and keep the trace.")
@click.option("--swap-size", default=None,
              help="pageout: zram0 disksize [default: the machine's RAM].")
@click.option("--contents/--no-contents", default=True, show_default=True,
              help="Read page contents (the real bytes, each distinct page stored once).")
@click.option("--content-versions", type=click.Choice(("all", "first")), default="all",
              show_default=True,
              help="Keep every version of a page's contents, or only its first (the one a "
                   "replay uses: a smaller contents sidecar).")
@click.option("--description", help="Describe the workload (metadata).")
@click.option("--licence", help="Licence of the trace data (metadata).")
@click.option("--progress/--no-progress", default=None,
              help="Progress line on stderr [default: on a terminal].")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def COMMAND(output, method, interval_ms, timeout_s, swap_size, contents, content_versions,
            description, licence, progress, command) -> None:
    """Run COMMAND and record its page accesses (and page contents) as a trace."""
    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise SettingsError("no command to record: replay record -o OUT.parquet -- CMD ARGS")
    out = check_trace_output(Path(output))
    settings = RecordSettings(method=method, interval_ms=interval_ms, timeout_s=timeout_s,
                              swap_bytes=parse_size(swap_size, "--swap-size")
                              if swap_size else None, contents=contents)
    if progress is None:
        try:
            progress = sys.stderr.isatty()
        except (AttributeError, ValueError):
            progress = False

    def log(msg: str) -> None:
        if progress:
            click.echo(f"replay record: {msg}", err=True)

    imported = tmp = None
    if method == "pageout":
        outcome = record_pageout(argv, settings, progress=progress)
    else:
        outcome, imported, tmp = record_lackey(argv, settings, out_path=out,
                                               progress=progress, log=log)
    if content_versions == "first" and outcome.assembled.contents is not None:
        outcome.assembled.contents = first_versions(outcome.assembled.contents)
        outcome.assembled.stats["content_versions_kept"] = "first"
    outcome.meta_extra["content_versions"] = content_versions
    try:
        if imported is None and not len(outcome.assembled.vpn):
            raise SettingsError(f"no page accesses were recorded ({outcome.exit_words()}); "
                                f"nothing written")
        _write(out, _meta(argv, settings, outcome, description, licence), outcome, imported)
    finally:
        if tmp is not None:
            tmp.cleanup()
    how = outcome.exit_words()
    if outcome.stopped_by == "timeout":
        how += f" (stopped after the {timeout_s:g} s timeout)"
    elif outcome.stopped_by:
        how += f" (stopped by {outcome.stopped_by})"
    click.echo(wrote_trace_line(out) + f"; {how}", err=True)
    click.echo(f"replay record: {_summary(outcome, settings)}", err=True)
    for note in outcome.notes:
        click.echo(f"replay record: note: {note}", err=True)
    if outcome.stop_signum is not None:
        import signal
        if outcome.stop_signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated(outcome.stop_signum)
