"""`replay policies`: the swap-in policies this installation knows."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from replay.policies import available


@click.command("policies")
def COMMAND() -> None:
    """List swap-in policies: built-in ones and those registered by entry points."""
    t = Table(title="swap-in policies", title_justify="left")
    t.add_column("name", style="bold")
    t.add_column("from")
    t.add_column("what it does")
    for p in available().values():
        t.add_row(p.name, p.origin, p.summary)
    Console().print(t)
