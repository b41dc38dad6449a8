"""The `replay` command line: one small module per verb in replay/commands/.

A verb's module is imported only when the verb runs (its dependencies, numpy,
pyarrow, scipy or matplotlib, take most of a second to load): ``replay --help``
lists the verbs from the table below.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from replay import __version__
from replay.errors import ReplayError

# The replay parallelises itself (policies side by side in threads): numpy's BLAS
# threads would only spin beside it. Set before numpy is first imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# verb: (module defining a click command named COMMAND, the line --help shows for it;
# tests/test_engine_cli.py checks that the line is the command's own)
COMMANDS = {
    "import": ("replay.commands.import_",
               "Import SRC, recorded in FORMAT, as a canonical trace."),
    "gen": ("replay.commands.gen",
            "Generate a synthetic trace: seq, random, zipf, phases or swapin-1g."),
    "info": ("replay.commands.info",
             "Summarise TRACE: accesses, distinct pages, duration, writes,..."),
    "run": ("replay.commands.run",
            "Replay TRACE (a file, or a name in traces/) through the model under..."),
    "compare": ("replay.commands.compare",
                "Compare swap-in policies on each TRACE (a file, or a name in..."),
    "sweep": ("replay.commands.sweep",
              "Replay a grid of runs (SPEC.toml) on local cores or a Dask cluster,..."),
    "diff": ("replay.commands.diff",
             "What changed between two results documents (replay run --json or..."),
    "traces": ("replay.commands.traces",
               "List the traces of the traces folder (compare or run them by name)."),
    "policies": ("replay.commands.policies",
                 "List swap-in policies: built-in ones and those registered by entry..."),
    "validate": ("replay.commands.validate",
                 "Replay TRACE in a real process under a memcg and compare the..."),
    "calibrate": ("replay.commands.calibrate",
                  "Time the codecs (and memory costs) of this machine; write a cost..."),
}
COMMAND_MODULES = tuple(module for module, _ in COMMANDS.values())


class LazyGroup(click.Group):
    """A group whose verbs are imported when they run, not to list them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        return importlib.import_module(COMMANDS[name][0]).COMMAND

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="replay")
def cli() -> None:
    """Replay page-access traces through Linux large-folio swap-in policies."""


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
