"""`replay gen PATTERN -o OUT.parquet`: synthetic traces for tests and demos."""

from __future__ import annotations

import click

from replay.commands.common import wrote_trace_line
from replay.gen import DEFAULT_CONTENT, PATTERNS, generate_to
from replay.trace import check_trace_output
from replay.units import parse_size


@click.command("gen")
@click.argument("pattern", type=click.Choice(PATTERNS))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Trace to write (.parquet).")
@click.option("--accesses", default=1_000_000, show_default=True, type=click.IntRange(1),
              help="Number of accesses (not swapin-1g, which is 3 events per page).")
@click.option("--pages", default=65536, show_default=True, type=click.IntRange(1),
              help="Distinct pages of the working set.")
@click.option("--size", default=None, help="Working set as a size (e.g. 256M, 1G); "
              "overrides --pages; swapin-1g defaults to 1G.")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--write-fraction", default=0.3, show_default=True, type=float)
@click.option("--alpha", default=1.0, show_default=True, type=float, help="Zipf exponent.")
@click.option("--phases", default=8, show_default=True, type=click.IntRange(1))
@click.option("--content", default=DEFAULT_CONTENT, show_default=True,
              help="Content mix: class=weight,... (zero, random, text, half, mixed, code).")
@click.option("--content-run", default=16, show_default=True, type=click.IntRange(1),
              help="Pages per content-class run (16 = one 64K folio).")
@click.option("--ns-per-access", default=100, show_default=True, type=click.IntRange(0),
              help="Workload time between accesses.")
@click.option("--no-hugepage", is_flag=True, help="Region without MADV_HUGEPAGE.")
def COMMAND(pattern, output, accesses, pages, size, seed, write_fraction, alpha, phases,
            content, content_run, ns_per_access, no_hugepage) -> None:
    """Generate a synthetic trace: seq, random, zipf, phases or swapin-1g."""
    check_trace_output(output)
    generate_to(output, pattern, accesses=accesses, pages=pages,
                size_bytes=parse_size(size, "--size") if size else None, seed=seed,
                write_fraction=write_fraction, alpha=alpha, phases=phases, content=content,
                content_run_pages=content_run, ns_per_access=ns_per_access,
                hugepage=not no_hugepage)
    click.echo(wrote_trace_line(output), err=True)
