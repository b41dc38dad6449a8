"""The `replay` command line: one small module per verb in replay/commands/.

A verb's module is imported only when the verb runs (its dependencies, numpy,
pyarrow, scipy or matplotlib, take most of a second to load): ``replay --help``
lists the verbs from the table below.

Errors a user can act on are one line on stderr and exit code 2, never a
traceback. Ctrl-C (SIGINT) and SIGTERM (what `timeout`, CI and systemd send)
end a command the same way from its first moment: one line, exit code 130 or
143, and every temporary file removed (SIGTERM is turned into an exception, so
the same cleanup runs as for an error). A verb's module is imported with both
signals held back, so that an interrupt never lands inside an extension
module's initialisation; it is acted on as soon as the module is loaded.
"""

from __future__ import annotations

import sys

try:
    import importlib
    import os
    import signal
    import threading

    import click

    from replay import __version__
    from replay.errors import ReplayError, Terminated, one_line
except KeyboardInterrupt:                      # Ctrl-C while Python loads this module
    sys.stderr.write("replay: interrupted\n")
    raise SystemExit(130) from None

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
    "record": ("replay.commands.record",
               "Run COMMAND and record its page accesses (and page contents) as a..."),
    "validate": ("replay.commands.validate",
                 "Replay TRACE in a real process under a memcg and compare the..."),
    "calibrate": ("replay.commands.calibrate",
                  "Time the codecs (and memory costs) of this machine; write a cost..."),
    "serve": ("replay.commands.serve",
              "Serve the web page and API: upload traces, compare, share reports."),
}
COMMAND_MODULES = tuple(module for module, _ in COMMANDS.values())


SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_GRACE_S = 20.0          # after a signal, cleanup gets this long before the process ends


def _load_command(name: str) -> click.Command:
    """Import a verb's module, holding SIGINT and SIGTERM back meanwhile."""
    held: list[int] = []
    old = _set_handlers(lambda signum, frame: held.append(signum))
    try:
        command = importlib.import_module(COMMANDS[name][0]).COMMAND
    finally:
        _restore_handlers(old)
    if held:
        _raise_for(held[0])
    return command


class LazyGroup(click.Group):
    """A group whose verbs are imported when they run, not to list them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:              # added with add_command (tests, plug-ins)
            return self.commands[name]
        if name not in COMMANDS:
            return None
        return _load_command(name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([
                (name, COMMANDS[name][1] if name in COMMANDS
                 else self.commands[name].get_short_help_str(70))
                for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="replay")
def cli() -> None:
    """Replay page-access traces through Linux large-folio swap-in policies."""


def _raise_for(signum: int):
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def _set_handlers(handler) -> dict:
    """Install ``handler`` for SIGINT and SIGTERM (only the main thread may); the old ones."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {s: signal.signal(s, handler) for s in SIGNALS}


def _restore_handlers(old: dict) -> None:
    for s, h in old.items():
        signal.signal(s, h)


class _Watchdog:
    """After the first signal, the process ends within EXIT_GRACE_S even if a thread it
    waits for does not (a compile in a worker thread): temporaries are removed first."""

    def __init__(self) -> None:
        self.timer: threading.Timer | None = None

    def arm(self, signum: int) -> None:
        if self.timer is None:
            self.timer = threading.Timer(EXIT_GRACE_S, self._expire, (signum,))
            self.timer.daemon = True
            self.timer.start()

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()

    @staticmethod
    def _expire(signum: int) -> None:
        from replay.atomic import remove_live_temps
        remove_live_temps()
        word = "interrupted" if signum == signal.SIGINT else "terminated"
        os.write(2, f"replay: {word}\n".encode())
        os._exit(128 + signum)


def main(argv: list[str] | None = None, *, watchdog: bool = False) -> int:
    """Run one command; the exit code. A ReplayError is one line on stderr and exit code 2,
    never a traceback; SIGINT is 130 and SIGTERM 143, with one line.

    ``watchdog`` (the console script) also ends the process EXIT_GRACE_S after a signal
    whatever it is waiting for; in-process callers (tests) do without."""
    dog = _Watchdog()

    def on_signal(signum, frame):
        if watchdog:
            dog.arm(signum)
        _raise_for(signum)

    old = _set_handlers(on_signal)
    try:
        return _run(argv)
    finally:
        dog.cancel()
        if watchdog:
            # the console script exits next: a signal now changes nothing it did (and
            # must not end it with a traceback or by the signal itself)
            _set_handlers(signal.SIG_IGN)
        else:
            _restore_handlers(old)


def _run(argv: list[str] | None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        try:
            with cli.make_context("replay", args) as ctx:
                code = cli.invoke(ctx)
        except click.exceptions.Exit as e:          # --help, --version, ctx.exit(n)
            return e.exit_code
    except ReplayError as e:
        click.echo(f"replay: error: {e.one_line()}", err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("replay: interrupted", err=True)
        return 130
    except click.exceptions.NoArgsIsHelpError as e:   # `replay` alone: the help
        e.show()
        return 2
    except click.UsageError as e:
        # a usage error (an unknown option, a value click refuses) is one line too
        where = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
        click.echo(f"replay: error: {one_line(e.format_message())}{where}", err=True)
        return 2
    except click.ClickException as e:
        click.echo(f"replay: error: {one_line(e.format_message())}", err=True)
        return 2
    except MemoryError:
        click.echo("replay: error: out of memory", err=True)
        return 2
    except KeyboardInterrupt:
        click.echo("replay: interrupted", err=True)
        return 130
    except Terminated as e:
        click.echo("replay: terminated", err=True)
        return 128 + e.signum
    except BrokenPipeError:
        return 0
    except Exception as e:
        # an interrupt that surfaced as another error (an extension module's SystemError
        # "returned a result with an exception set") is still an interrupt
        signum = _interrupt_in(e)
        if signum is None:
            raise
        click.echo("replay: interrupted" if signum == signal.SIGINT else "replay: terminated",
                   err=True)
        return 128 + signum
    return code if isinstance(code, int) else 0


def _interrupt_in(e: BaseException) -> int | None:
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, KeyboardInterrupt):
            return signal.SIGINT
        if isinstance(e, Terminated):
            return e.signum
        e = e.__cause__ or e.__context__
    return None


def entry() -> None:
    """The console script: main(), then exit; after a signal the process exits at once
    (os._exit, streams flushed) instead of waiting for threads that may not end soon."""
    code = main(watchdog=True)
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
