"""`replay import FORMAT SRC -o OUT.parquet`: bring a recorded trace into the canonical format."""

from __future__ import annotations

import click
from click.core import ParameterSource

from replay.commands.common import wrote_trace_line
from replay.importers import FORMATS, run_import

_FORMATS_HELP = """\b
Formats (docs/trace-format.md says how each maps to page accesses):
  csv              any delimited text: --time-col, --addr-col/--vpn-col, --op-col, ...
  lackey           valgrind --tool=lackey --trace-mem=yes output
  damo             DAMON records from `damo record` (json_compressed or json)
  libcachesim-csv  libCacheSim block CSV: version,time,op,size,lbn
  oraclegeneral    libCacheSim oracleGeneral binary (24-byte records)
  champsim         ChampSim binary traces (64-byte records), plain or .xz
  perf-script      `perf script` text: page_fault_user tracepoints or address samples
Compressed sources (.gz .bz2 .xz .zst .lz4) are read on the fly."""


@click.command("import", epilog=_FORMATS_HELP)
@click.argument("fmt", metavar="FORMAT", type=click.Choice(sorted(FORMATS)))
@click.argument("src", type=click.Path(dir_okay=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=True),
              help="Trace to write (.parquet).")
@click.option("--description", help="Describe the workload (stored in the trace's metadata).")
@click.option("--command", "command", help="The command that was traced (metadata).")
@click.option("--licence", help="Licence of the trace data (metadata), e.g. CC0-1.0.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr [default: on a terminal, for big files].")
@click.option("--max-accesses", type=click.IntRange(1),
              help="Refuse a source that gives more accesses than this [default: the larger "
              "of 2^30 and 64 per byte of the source file].")
# csv
@click.option("--time-col", help="csv: time column (header name or 1-based number); "
              "without it time is the row ordinal.")
@click.option("--time-unit", type=click.Choice(["ns", "us", "ms", "s"]),
              help="csv: unit of --time-col [default: ns]; decimals allowed.")
@click.option("--addr-col", help="csv: byte address column (decimal or 0x hex).")
@click.option("--vpn-col", help="csv: page number column (4 KiB pages).")
@click.option("--op-col", help="csv: operation column; without it every access is a read.")
@click.option("--op-map", help="csv: extra op values, e.g. 'ld=read,st=write,x=free' "
              "(built in: r w R W 0 1 2 3 read write load store pageout free).")
@click.option("--asid-col", help="csv: address-space column (0..2^20-1) [default: all 0].")
@click.option("--content-col", help="csv: page contents at each access: a class (zero, "
              "random, text, half, mixed, code) or 8192 hex digits; empty: none "
              "[default: the column named content, if any].")
@click.option("--delimiter", help="csv: field delimiter (one character, '\\t' for tab) "
              "[default: ,].")
@click.option("--no-header", is_flag=True, help="csv: the first line is data; name columns "
              "by number.")
# lackey, champsim
@click.option("--include-instructions", is_flag=True,
              help="lackey, champsim: also count instruction fetches (as reads).")
@click.option("--crossing", type=click.Choice(["both", "first"]),
              help="lackey: an access crossing a page boundary touches both pages "
              "[default] or the first only.")
@click.option("--ns-per-record", type=click.IntRange(0, 10**9),
              help="lackey, champsim, csv without --time-col: ns of trace time per "
              "record [default: 1].")
# libCacheSim
@click.option("--expand", is_flag=True, help="libcachesim-csv, oraclegeneral: one access per "
              "4 KiB page the request covers (default: one per request, its first page).")
# damo
@click.option("--seed", type=int, help="damo: seed of the page sampling [default: 1].")
@click.option("--scale", type=click.FloatRange(0.0, min_open=True),
              help="damo: multiply each region's access probability [default: 1].")
@click.option("--no-regions", is_flag=True, help="damo: do not write the regions sidecar.")
# perf-script
@click.option("--pid", type=int, multiple=True,
              help="perf-script: keep only this process (repeatable).")
@click.pass_context
def COMMAND(ctx: click.Context, fmt: str, src: str, output: str, **options) -> None:
    """Import SRC, recorded in FORMAT, as a canonical trace."""
    given = {name: value for name, value in options.items()
             if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)}
    if "pid" in given:
        given["pid"] = tuple(given["pid"])
    note = run_import(fmt, src, output, given)
    click.echo(wrote_trace_line(output) + (f"; {note}" if note else ""), err=True)
