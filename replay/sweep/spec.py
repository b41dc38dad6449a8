"""A sweep's spec: a TOML file naming traces and, per setting, the values to replay.

    traces = ["kvscan", "data/redis.parquet"]   # names in traces/, or paths (from the spec)
    shared-traces = false                       # true: workers read these paths themselves

    [settings]                                  # one value each, for every run
    backend = "zswap"

    [grid]                                      # every combination of these lists
    policy = ["order0-fallback", "hybrid-supported"]
    memory-limit = ["25%", "50%", "75%"]
    mthp = ["16K", "64K", "16K,64K"]

    [[run]]                                     # explicit runs, beside the grid
    memory-limit = "24M"
    mthp = "none"

``[[grid]]`` may be given several times (their union: a grid per valid corner, where a
setting is only valid with another, e.g. ``zswap-writeback = false`` with ``memcg =
"v2"``), and a ``[[grid]]`` or ``[[run]]`` may name its own ``traces``. A setting not
given has `replay run`'s default; ``policy`` not given is every policy. Every value is
checked here, and each combination, before any trace is read: a bad one is one line
naming the file and the key (``SpecError``, exit 2).
"""

from __future__ import annotations

import itertools
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from replay.commands.common import (
    MIN_MEMORY_LIMIT,
    config_from_options,
    parse_memory_limit,
    parse_mthp,
    resolve_policies,
    sim_options,
)
from replay.errors import ReplayError, SettingsError
from replay.sweep.settings import NOT_SETTINGS, Setting, defaults, setting_named, settings

TOP_KEYS = ("traces", "shared-traces", "settings", "grid", "run")


class SpecError(SettingsError):
    """A sweep spec that cannot be run: names the file and the key."""


@dataclass(frozen=True)
class Point:
    """One combination of settings (every setting but the policy), with the policies to
    replay at it and the traces."""

    where: str                   # "grid", "grid[2]", "run[3]": for messages
    values: dict                 # setting name -> value, every setting (defaults filled)
    given: tuple[str, ...]       # the settings this point's section varies or sets
    policies: tuple[str, ...]
    traces: tuple[str, ...]


@dataclass
class Spec:
    path: Path
    traces: tuple[str, ...]
    shared_traces: bool
    points: list[Point] = field(default_factory=list)

    def varied(self) -> list[str]:
        """Settings that take more than one value across the points (policy aside)."""
        names = []
        for name in settings():
            if name == "policy":
                continue
            if len({_hashable(p.values[name]) for p in self.points}) > 1:
                names.append(name)
        return names


def _hashable(v):
    return tuple(v) if isinstance(v, list) else v


def _fail(spec_path: Path, where: str, message: str) -> SpecError:
    return SpecError(f"{where}: {message}" if where else message, path=spec_path)


def _value(spec_path: Path, where: str, s: Setting, v):
    """One value of a setting, as `replay run`'s option takes it; checked on its own."""
    loc = f"{where}.{s.key}"
    if s.kind == "flag":
        if not isinstance(v, bool):
            raise _fail(spec_path, loc, f"{v!r} is not true or false")
        return v
    if isinstance(v, bool) or isinstance(v, float) or isinstance(v, (list, dict)):
        raise _fail(spec_path, loc, f"{v!r} is not a value of {s.option}")
    if s.kind == "int":
        if not isinstance(v, int):
            raise _fail(spec_path, loc, f"{v!r} is not a whole number")
        if (s.minimum is not None and v < s.minimum) or (s.maximum is not None
                                                          and v > s.maximum):
            raise _fail(spec_path, loc, f"{v} is outside {s.minimum}..{s.maximum}")
        return v
    v = str(v)
    if s.kind == "choice" and v not in s.choices:
        raise _fail(spec_path, loc, f"{v!r} is not one of {', '.join(s.choices)}")
    # the meaning of the text: as `replay run` reads it, this setting alone changed
    opts = defaults()
    opts[s.name] = v
    try:
        if s.name == "memory_limit":
            parse_memory_limit(v)
        elif s.name == "policy":
            resolve_policies([v])
        else:
            config_from_options(opts, MIN_MEMORY_LIMIT)
            sim_options(opts)
            if s.name == "compressor":
                from replay.costs.codecs import get_codec
                get_codec(v)
    except ReplayError as e:
        raise _fail(spec_path, loc, e.one_line()) from None
    if s.name == "mthp":                          # one spelling per set of sizes
        sizes = parse_mthp(v)
        return ",".join(f"{k}K" for k in sizes) or "none"
    return v


def _values(spec_path: Path, where: str, key: str, raw, many: bool) -> list:
    s = setting_named(key)
    if s is None:
        hint = NOT_SETTINGS.get(key.replace("-", "_"))
        known = ", ".join(x.key for x in settings().values())
        raise _fail(spec_path, f"{where}.{key}",
                    f"not a sweep setting: it {hint}" if hint else
                    f"unknown setting (settings: {known})")
    if isinstance(raw, list):
        if not many and s.name != "policy":
            raise _fail(spec_path, f"{where}.{key}", "one value here, not a list (lists go "
                        "in [grid])")
        if not raw:
            raise _fail(spec_path, f"{where}.{key}", "an empty list: no run")
        items = raw
    else:
        items = [raw]
    out = []
    for v in items:
        x = _value(spec_path, where, s, v)
        if x in out:
            raise _fail(spec_path, f"{where}.{key}", f"{v!r} is given twice")
        out.append(x)
    return out


def _traces(spec_path: Path, where: str, raw) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise _fail(spec_path, f"{where}traces", "an empty list: no trace")
    for t in items:
        if not isinstance(t, str) or not t.strip():
            raise _fail(spec_path, f"{where}traces", f"{t!r} is not a trace name or path")
    if len(set(items)) != len(items):
        raise _fail(spec_path, f"{where}traces", "a trace is given twice")
    return tuple(items)


def _section(spec_path: Path, where: str, table, many: bool, fixed: dict,
             top_traces: tuple[str, ...] | None) -> list[Point]:
    if not isinstance(table, dict):
        raise _fail(spec_path, where, "is not a table of settings")
    keys: dict[str, str] = {}
    axes: list[tuple[str, list]] = []
    traces = top_traces
    for key, raw in table.items():
        if key == "traces":
            traces = _traces(spec_path, f"{where}.", raw)
            continue
        s = setting_named(key)
        if s is not None and s.name in keys:
            raise _fail(spec_path, f"{where}.{key}", f"the same setting as {keys[s.name]}")
        vals = _values(spec_path, where, key, raw, many)
        keys[s.name] = key
        axes.append((s.name, vals))
    if traces is None:
        raise _fail(spec_path, "traces", "no trace: give traces = [...] at the top")
    policy_axis = next((vals for name, vals in axes if name == "policy"), None)
    if policy_axis is None:
        policy_axis = list(fixed.get("policy", ["all"]))
    try:
        policies = tuple(resolve_policies(policy_axis))
    except ReplayError as e:
        raise _fail(spec_path, f"{where}.{keys.get('policy', 'policy')}",
                    e.one_line()) from None
    axes = [(n, v) for n, v in axes if n != "policy"]
    base = defaults()
    base.update({k: v for k, v in fixed.items() if k != "policy"})
    points = []
    for combo in itertools.product(*(vals for _, vals in axes)):
        values = dict(base)
        values.update({name: v for (name, _), v in zip(axes, combo)})
        given = tuple(n for n, _ in axes)
        _check_combination(spec_path, where, values, given, dict(zip(given, combo)))
        points.append(Point(where, values, given, policies, traces))
    return points


def _check_combination(spec_path: Path, where: str, values: dict, given: tuple[str, ...],
                       combo: dict) -> None:
    """The settings together, as `replay run` would check them (cgroup v2 only settings,
    a codec the cost model has timings for)."""
    try:
        config_from_options(values, MIN_MEMORY_LIMIT)
        sim = sim_options(values)
        from replay.costs.model import CostModel
        CostModel.load(sim["cost_model"]).fit(values["compressor"], "compress")
    except ReplayError as e:
        what = ", ".join(f"{settings()[n].key} = {_toml(v)}" for n, v in combo.items()
                         if n in given)
        raise _fail(spec_path, where + (f" ({what})" if what else ""), e.one_line()) from None


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)


def load_spec(path: str | os.PathLike) -> Spec:
    """Read and check a spec (see the module's text); SpecError names the file and key."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise SpecError("no such file", path=p) from None
    except IsADirectoryError:
        raise SpecError("is a folder, not a sweep spec", path=p) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"unreadable ({e})", path=p) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"not TOML ({e})", path=p) from None
    for key in doc:
        if key not in TOP_KEYS:
            hint = (" (settings go in [settings], [grid] or [[run]])"
                    if setting_named(key) is not None else "")
            raise _fail(p, key, f"unknown key{hint}; a spec has {', '.join(TOP_KEYS)}")
    if "traces" not in doc:
        raise _fail(p, "traces", "no traces: give traces = [\"kvscan\", ...]")
    traces = _traces(p, "", doc["traces"])
    shared = doc.get("shared-traces", False)
    if not isinstance(shared, bool):
        raise _fail(p, "shared-traces", f"{shared!r} is not true or false")
    fixed: dict = {}
    fixed_table = doc.get("settings", {})
    if not isinstance(fixed_table, dict):
        raise _fail(p, "settings", "is not a table of settings")
    for key, raw in fixed_table.items():
        if key == "traces":
            raise _fail(p, "settings.traces", "traces go at the top of the spec")
        vals = _values(p, "settings", key, raw, many=False)
        fixed[setting_named(key).name] = vals if setting_named(key).name == "policy" \
            else vals[0]
    spec = Spec(p, traces, shared)
    grids = doc.get("grid")
    runs = doc.get("run")
    if isinstance(grids, dict):
        grids = [grids]
    if grids is not None and not isinstance(grids, list):
        raise _fail(p, "grid", "is not a table ([grid]) or tables ([[grid]])")
    if runs is not None and not isinstance(runs, list):
        raise _fail(p, "run", "explicit runs are tables: [[run]]")
    for k, g in enumerate(grids or []):
        where = "grid" if len(grids) == 1 else f"grid[{k + 1}]"
        spec.points += _section(p, where, g, True, fixed, traces)
    for k, r in enumerate(runs or []):
        spec.points += _section(p, f"run[{k + 1}]", r, False, fixed, traces)
    if grids is None and runs is None:               # the settings alone: one point
        spec.points += _section(p, "settings", {}, False, fixed, traces)
    return spec
