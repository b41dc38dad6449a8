"""`replay info TRACE`: a readable summary, or --json for scripts."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from replay.info import trace_summary
from replay.study.folders import find_trace
from replay.trace import open_trace
from replay.units import format_size


@click.command("info")
@click.argument("trace")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object to stdout.")
def COMMAND(trace: str, as_json: bool) -> None:
    """Summarise TRACE: accesses, distinct pages, duration, writes, contents, source."""
    s = trace_summary(open_trace(find_trace(trace)))
    if as_json:
        click.echo(json.dumps(s, indent=2))
        return
    # what the trace says about itself (file names, the command, the description) is
    # shown as text, never read as rich markup: "b[i]" in a command stays "b[i]"
    t = Table(title=f"trace {escape(str(s['path']))}", show_header=False,
              title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("accesses", f"{s['accesses']:,} ({s['reads']:,} reads, {s['writes']:,} writes, "
              f"{s['pageouts']:,} pageouts, {s['frees']:,} frees)")
    t.add_row("distinct pages", f"{s['distinct_pages']:,} ({format_size(s['footprint_bytes'])}"
              f" in {s['blocks_2m']:,} 2 MiB blocks)")
    t.add_row("address spaces", str(s["address_spaces"]))
    t.add_row("duration", f"{s['duration_ns'] / 1e9:.6g} s (time {s['time_source']})")
    t.add_row("write fraction", f"{s['write_fraction']:.3f}")
    t.add_row("content coverage", f"{s['content_coverage']:.1%}")
    t.add_row("regions", str(s["regions"]) if s["regions"] else "none (2 MiB blocks touched)")
    src = s["source"]
    t.add_row("source", escape(src["format"] + (f": {src['file']}" if src["file"] else "") +
                               (f" (recorder {src['recorder']})" if src["recorder"] else "")))
    if src["command"]:
        t.add_row("command", escape(src["command"]))
    if s["description"]:
        t.add_row("description", escape(s["description"]))
    if s["licence"]:
        t.add_row("licence", escape(s["licence"]))
    t.add_row("sampled", escape("yes: " + s["sampling"]) if s["sampled"] else "no (every access)")
    Console().print(t)
