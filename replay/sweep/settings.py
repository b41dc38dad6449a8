"""The settings a sweep can vary: every setting of `replay run`, read off its own options.

A setting is named as its option without the dashes (``memory-limit``, ``zswap-max-pool``,
``page-cluster``; ``memory_limit`` is the same key); its column in the results table is
the snake-case name (``memory_limit``). Its values are what the option takes: text
(``"64K"``, ``"16K,64K"``, ``"50%"``), one of the option's choices, an integer, or, for an
on/off option (``--rotational/--no-rotational``, ``--charge-guard``), true or false.

``threads`` (policies side by side) and ``chunk-rows`` change no result: they are not
settings of a sweep (its workers run one policy group per core each).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import click

from replay.commands.common import DEFAULT_MEMORY_LIMIT, settings_options

NOT_SETTINGS = {"threads": "changes no result (a sweep runs one replay per worker thread)",
                "chunk_rows": "changes no result"}


@dataclass(frozen=True)
class Setting:
    name: str                    # snake case: the column, and the key of the options dict
    option: str                  # --memory-limit
    kind: str                    # "text", "choice", "int" or "flag"
    default: object
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    help: str = ""

    @property
    def key(self) -> str:
        """The key in a spec: the option without its dashes."""
        return self.option.removeprefix("--")


def _setting_of(p: click.Option) -> Setting:
    default = p.default
    if p.is_flag:
        kind = "flag"
        default = bool(default) if isinstance(default, bool) else False
    elif isinstance(p.type, click.Choice):
        kind = "choice"
    elif isinstance(p.type, click.types.IntParamType):
        kind = "int"
    else:
        kind = "text"
    return Setting(
        p.name, p.opts[0], kind, default,
        choices=tuple(p.type.choices) if kind == "choice" else (),
        minimum=getattr(p.type, "min", None), maximum=getattr(p.type, "max", None),
        help=p.help or "")


@cache
def settings() -> dict[str, Setting]:
    """Every sweep setting by column name, in the order `replay run --help` lists them
    (memory-limit and policy first)."""

    @click.command()
    @settings_options
    def probe(**_kw):                            # only its options are read
        return None

    out = {"memory_limit": Setting("memory_limit", "--memory-limit", "text",
                                   DEFAULT_MEMORY_LIMIT,
                                   help="memcg limit: a percent of the trace's footprint "
                                   "or a size")}
    out["policy"] = Setting("policy", "--policy", "text", "all",
                            help="swap-in policy (or all)")
    for p in probe.params:
        if isinstance(p, click.Option) and p.name not in ("policies", *NOT_SETTINGS):
            out[p.name] = _setting_of(p)
    return out


def setting_named(key: str) -> Setting | None:
    """The setting a spec key names (dashes or underscores), or None."""
    return settings().get(key.replace("-", "_"))


def defaults() -> dict[str, object]:
    """The options dict `replay run` would have with no option given (no policy)."""
    return {s.name: s.default for s in settings().values() if s.name != "policy"}
