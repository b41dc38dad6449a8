"""The `replay` command line: one small module per verb in replay/commands/."""

from __future__ import annotations

import importlib
import sys

import click

from replay import __version__
from replay.errors import ReplayError

# verb modules, each defining a click command named COMMAND
COMMAND_MODULES = (
    "replay.commands.import_",
    "replay.commands.gen",
    "replay.commands.info",
    "replay.commands.run",
    "replay.commands.compare",
    "replay.commands.diff",
    "replay.commands.traces",
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
        code = cli.main(args=argv, prog_name="replay", standalone_mode=False)
    except ReplayError as e:
        click.echo(f"replay: error: {e.one_line()}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("replay: interrupted", err=True)
        return 130
    except click.exceptions.NoArgsIsHelpError as e:
        e.show()                      # `replay` alone: the help, as click shows it
        return e.exit_code
    except click.UsageError as e:
        where = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        click.echo(f"replay: error: {e.format_message()}{where}", err=True)
        return e.exit_code
    except click.ClickException as e:
        click.echo(f"replay: error: {e.format_message()}", err=True)
        return e.exit_code
    except KeyboardInterrupt:
        click.echo("replay: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
