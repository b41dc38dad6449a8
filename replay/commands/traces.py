"""`replay traces`: the traces in the traces folder, by name, with `replay info`'s figures.
A file there that is not a readable trace gets its one-line error; the others are still
listed."""

from __future__ import annotations

import json

import click
from rich import box
from rich.markup import escape
from rich.table import Table

from replay.errors import ReplayError
from replay.info import trace_summary
from replay.report.render import output_console
from replay.study.folders import TRACES_ENV, trace_files, trace_name, traces_folder
from replay.trace import open_trace
from replay.units import format_size


@click.command("traces")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list to stdout.")
def COMMAND(as_json: bool) -> None:
    """List the traces of the traces folder (compare or run them by name)."""
    folder = traces_folder()
    listed, errors = [], []
    for path in trace_files(folder):
        try:
            listed.append((trace_name(path), trace_summary(open_trace(path))))
        except ReplayError as e:
            errors.append((trace_name(path), e.one_line()))
    for _name, message in errors:
        click.echo(f"replay: error: {message}", err=True)
    if as_json:
        click.echo(json.dumps([{"name": n, **s} for n, s in listed]
                              + [{"name": n, "error": m} for n, m in errors], indent=2))
        return
    out = output_console()
    if not listed:
        out.print(f"no trace in {folder}" + ("" if folder.is_dir() else " (no such folder)")
                  + f"; drop a .parquet trace there (or set {TRACES_ENV})", highlight=False)
        return
    t = Table(title=f"traces in {escape(str(folder))}", title_justify="left",
              box=box.SIMPLE_HEAD,
              show_edge=False, pad_edge=False)
    t.add_column("name", style="bold", no_wrap=True)
    for col in ("accesses", "pages", "footprint", "writes", "contents", "duration"):
        t.add_column(col, justify="right")
    t.add_column("source")
    t.add_column("description", overflow="fold")
    for name, s in listed:
        t.add_row(escape(name), f"{s['accesses']:,}", f"{s['distinct_pages']:,}",
                  format_size(s["footprint_bytes"]), f"{s['write_fraction']:.0%}",
                  f"{s['content_coverage']:.0%}",
                  f"{s['duration_ns'] / 1e9:.3g} s" + (" (ordinal)" if s["time_source"]
                                                       == "ordinal" else ""),
                  escape(s["source"]["format"]), escape(s["description"] or ""))
    out.print(t)
