"""A comparison's settings: the form's fields and the API's settings object, both turned
into the options of `replay compare` and checked as that command checks them.

The fields are `replay compare`'s own options (replay/commands/common.py), read from the
click command, so the page offers the CLI's settings with the CLI's defaults and help, and
a job's settings *are* a `replay compare` command line: the server parses it with that
command's parser and validates it with the same functions before the job is queued.
Left out: ``--cost-model`` (a file on the server), ``--threads`` (the server's to choose)
and the outputs (the server writes the report and the JSON document).
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

import click
from click.core import ParameterSource

from replay.errors import SettingsError

MAX_MEMORY_LIMITS = 8

# compare's parameters that are not settings a user of the server gives
_NOT_SETTINGS = {"traces", "memory_limits", "policies", "cost_model", "threads", "chunk_rows",
                 "fmt", "html_out", "json_out", "jobs", "quiet",
                 # where replays run, and reading a sweep table: not the server's to offer
                 "scheduler", "sweep_table", "figures", "against", "heatmaps", "where"}

# the fields shown first; the others are under "More settings"
MAIN_SETTINGS = ("mthp", "thp", "backend", "compressor", "memcg", "zswap_shrinker",
                 "zswap_writeback", "hugepage_default", "reclaim", "oom")

LABELS = {
    "mthp": "mTHP sizes", "thp": "THP mode", "backend": "Swap backend",
    "swap_device": "Swap device (zswap, disk)",
    "compressor": "Compressor", "memcg": "cgroup version", "zswap_shrinker": "zswap shrinker",
    "zswap_writeback": "zswap writeback", "hugepage_default": "MADV_HUGEPAGE by default",
    "reclaim": "Reclaim", "oom": "When the memcg cannot make room",
    "zswap_max_pool": "zswap pool limit", "ram": "RAM", "swap_size": "Swap device size",
    "page_cluster": "page-cluster", "rotational": "Rotational swap device",
    "zswap_max": "memory.zswap.max", "first_read": "First read of a page",
    "charge_guard": "memcg charge-margin guard", "zswap_never_enabled": "zswap never enabled",
    "device_costs": "Swap device costs", "compression_unit": "Compression unit",
    "tlb": "TLB model", "tlb_shadow": "4K-only baseline TLB",
    "timeline_window": "Timeline window",
}

MEMORY_LIMITS_HELP = ("One or more, separated by spaces or commas: a percent of the trace's "
                      "footprint (the distinct pages it reads or writes), e.g. 50%, or a "
                      f"size, e.g. 24M. At most {MAX_MEMORY_LIMITS}.")


@dataclass(frozen=True)
class Field:
    """One setting: an option of `replay compare`."""

    name: str                    # the option's name in the command (and in the API)
    flag: str                    # --mthp
    off_flag: str | None         # --no-zswap-shrinker, for an on/off setting
    kind: str                    # bool, choice, int or text
    choices: tuple[str, ...]
    default: object
    help: str
    label: str
    main: bool


def _compare():
    from replay.commands.compare import COMMAND
    return COMMAND


@functools.cache
def defaults() -> dict:
    """Every option of `replay compare` with its default."""
    return dict(_compare().make_context("replay compare", ["TRACE"]).params)


@functools.cache
def fields() -> tuple[Field, ...]:
    out = []
    values = defaults()
    for p in _compare().params:
        if not isinstance(p, click.Option) or p.name in _NOT_SETTINGS or p.hidden:
            continue
        if p.is_flag and p.is_bool_flag:
            kind = "bool"
        elif isinstance(p.type, click.Choice):
            kind = "choice"
        elif isinstance(p.type, click.types.IntParamType):
            kind = "int"
        else:
            kind = "text"
        default = values[p.name]
        if kind == "bool":
            default = bool(default)
        out.append(Field(p.name, p.opts[0], p.secondary_opts[0] if p.secondary_opts else None,
                         kind, tuple(p.type.choices) if kind == "choice" else (), default,
                         " ".join((p.help or "").split()),
                         LABELS.get(p.name, p.name.replace("_", " ")), p.name in MAIN_SETTINGS))
    out.sort(key=lambda f: (not f.main, MAIN_SETTINGS.index(f.name) if f.main else 0))
    return tuple(out)


def field_names() -> list[str]:
    return ["memory_limits", "policies", *(f.name for f in fields())]


def available_policies() -> dict[str, str]:
    """Policy name -> its one-line summary, as `replay policies` lists them."""
    from replay.policies import available
    return {name: p.summary for name, p in available().items()}


# ---------------------------------------------------------------- to a command line


def argv_of(values: Mapping[str, object]) -> list[str]:
    """The `replay compare` options (after the trace) for ``values``: setting name ->
    value (a bool for on/off settings; lists for memory_limits and policies). Settings at
    their default are left out, so the command line says what was changed."""
    argv: list[str] = []
    for limit in values.get("memory_limits") or ():
        argv += ["--memory-limit", str(limit)]
    for policy in values.get("policies") or ():
        argv += ["--policy", str(policy)]
    for f in fields():
        if f.name not in values:
            continue
        v = values[f.name]
        if f.kind == "bool":
            if bool(v) != f.default:
                argv.append(f.flag if v else f.off_flag)
            continue
        text = "" if v is None else str(v).strip()
        if text and text != str(f.default if f.default is not None else ""):
            argv += [f.flag, text]
    return argv


def split_limits(text: str) -> list[str]:
    return [t for t in re.split(r"[\s,]+", text.strip()) if t]


def values_from_form(form) -> dict[str, object]:
    """The settings of the page's form (a starlette FormData or a dict of lists)."""
    get = form.get
    getlist = form.getlist if hasattr(form, "getlist") else (lambda k: form.get(k) or [])
    values: dict[str, object] = {"memory_limits": split_limits(str(get("memory_limits") or ""))}
    chosen = [str(p) for p in getlist("policy")]
    if not chosen:
        raise SettingsError("choose at least one policy")
    values["policies"] = [] if set(chosen) == set(available_policies()) else chosen
    for f in fields():
        if f.kind == "bool":
            values[f.name] = f.name in form          # an unticked box is not sent
        else:
            values[f.name] = str(get(f.name) or "")
    return values


def values_from_json(settings: object) -> dict[str, object]:
    """The settings of an API request: {"memory_limit": ["16M", "50%"], "policy": [...],
    "mthp": "16K,64K", "zswap_shrinker": false, ...}; names as the options of `replay
    compare` (dashes or underscores), a list or one value for the repeatable ones."""
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise SettingsError("settings must be a JSON object of setting names to values")
    by_name = {f.name: f for f in fields()}
    aliases = {"memory_limit": "memory_limits", "policy": "policies"}
    values: dict[str, object] = {}
    for key, value in settings.items():
        name = str(key).lstrip("-").replace("-", "_")
        name = aliases.get(name, name)
        if name in ("memory_limits", "policies"):
            items = value if isinstance(value, list) else [value]
            if not all(isinstance(v, str) for v in items):
                raise SettingsError(f"setting {key!r} must be a string or a list of strings")
            if name == "memory_limits":
                items = [limit for v in items for limit in split_limits(v)]
            values[name] = items
            continue
        f = by_name.get(name)
        if f is None:
            raise SettingsError(f"unknown setting {key!r} (GET /api/settings lists them)")
        if f.kind == "bool":
            if not isinstance(value, bool):
                raise SettingsError(f"setting {key!r} must be true or false")
        elif f.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise SettingsError(f"setting {key!r} must be a whole number")
        elif value is not None and not isinstance(value, str | int | float):
            raise SettingsError(f"setting {key!r} must be a string")
        values[name] = value
    return values


# ---------------------------------------------------------------- parsing and checking


def compare_options(argv: list[str]) -> dict:
    """Every option of `replay compare` for these settings, parsed by that command."""
    try:
        ctx = _compare().make_context("replay compare", ["TRACE", *argv])
    except click.ClickException as e:
        raise SettingsError(e.format_message()) from None
    return dict(ctx.params)


@dataclass(frozen=True)
class Checked:
    argv: list[str]
    policies: list[str]          # resolved: every available one when none was given
    memory_limits: list[str]     # as given (the default when none was)


def check(argv: list[str]) -> Checked:
    """The checks `replay compare` makes before any replay, and the server's limits."""
    from replay.commands.common import (
        DEFAULT_MEMORY_LIMIT,
        MIN_MEMORY_LIMIT,
        config_from_options,
        parse_memory_limit,
        resolve_policies,
        sim_options,
    )
    opts = compare_options(argv)
    given = list(opts["memory_limits"]) or [DEFAULT_MEMORY_LIMIT]
    if len(given) > MAX_MEMORY_LIMITS:
        raise SettingsError(f"{len(given)} memory limits: this server compares at most "
                            f"{MAX_MEMORY_LIMITS} in one job")
    seen = set()
    for text in given:
        lim = parse_memory_limit(text)
        if lim.text in seen:
            raise SettingsError(f"--memory-limit {lim.text} is given twice")
        seen.add(lim.text)
    policies = resolve_policies(opts["policies"])
    sim_options(opts)
    config_from_options(opts, MIN_MEMORY_LIMIT)
    return Checked(list(argv), policies, given)


def form_values_of(argv: list[str]) -> dict[str, object]:
    """The form's values for a job's settings (to start again from them)."""
    opts = compare_options(argv)
    values: dict[str, object] = {f.name: opts[f.name] for f in fields()}
    values["memory_limits"] = " ".join(opts["memory_limits"])
    values["policies"] = list(opts["policies"])
    return values


# ---------------------------------------------------------------- import options


@functools.cache
def _import_options_command() -> click.Command:
    from replay.commands.import_ import COMMAND
    params = [p for p in COMMAND.params
              if p.name not in ("fmt", "src", "output", "progress")]
    return click.Command("import", params=params)


def import_options(text: str) -> tuple[list[str], dict]:
    """The options of `replay import` given as text (``--time-col 1 --addr-col 2``): the
    arguments, and the options given as run_import takes them. The source, the output and
    the format are the server's."""
    try:
        args = shlex.split(text or "")
    except ValueError as e:
        raise SettingsError(f"import options: {e}") from None
    try:
        ctx = _import_options_command().make_context("import options", list(args))
    except click.ClickException as e:
        raise SettingsError(f"import options: {e.format_message()}") from None
    given = {name: value for name, value in ctx.params.items()
             if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)}
    if "pid" in given:
        given["pid"] = tuple(given["pid"])
    return args, given


# ---------------------------------------------------------------- the equivalent commands


def compare_command(trace_arg: str, argv: list[str]) -> str:
    return shlex.join(["replay", "compare", trace_arg, *argv, "--html", "--json"])


def import_command(fmt: str, source_name: str, trace_file: str, args: list[str]) -> str:
    return shlex.join(["replay", "import", fmt, source_name, "-o", trace_file, *args])
