"""The `replay` command line: one small module per verb in replay/commands/."""

from __future__ import annotations

import importlib
import sys

import click

from replay import __version__
from replay.errors import ReplayError, one_line

# verb modules, each defining a click command named COMMAND
COMMAND_MODULES = (
    "replay.commands.import_",
    "replay.commands.gen",
    "replay.commands.info",
    "replay.commands.run",
    "replay.commands.policies",
    "replay.commands.validate",
    "replay.commands.calibrate",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="replay")
def cli() -> None:
    """Replay page-access traces through Linux large-folio swap-in policies."""


for _name in COMMAND_MODULES:
    cli.add_command(importlib.import_module(_name).COMMAND)


def main(argv: list[str] | None = None) -> int:
    """Entry point: a ReplayError is one line on stderr and exit code 2, never a traceback."""
    try:
        cli.main(args=argv, prog_name="replay", standalone_mode=False)
    except ReplayError as e:
        click.echo(f"replay: error: {e.one_line()}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("replay: interrupted", err=True)
        return 130
    except click.ClickException as e:
        # a usage error (an unknown option, a value click refuses) is one line too
        click.echo(f"replay: error: {one_line(e.format_message())}", err=True)
        return 2
    except MemoryError:
        click.echo("replay: error: out of memory", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("replay: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
