"""`replay import FORMAT SRC -o OUT.parquet`: bring a recorded trace into the canonical format."""

from __future__ import annotations

import click

from replay.importers import FORMATS, run_import


@click.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(sorted(FORMATS)))
@click.argument("src", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Trace to write (.parquet).")
def COMMAND(fmt: str, src: str, output: str) -> None:
    """Import SRC, recorded in FORMAT, as a canonical trace."""
    run_import(fmt, src, output, {})
