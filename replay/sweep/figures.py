"""Figures of a sweep table (matplotlib, as the compare report's): a chosen figure against
any setting, one line per policy, and heatmaps of a figure over two settings, one panel
per policy. Policies keep the colours of every report (``policy_colours``).

A figure is a column of the table (``counters.pgmajfault``, or its last part when that
names one column: ``pgmajfault``) or ``throughput`` (accesses per simulated second); its
unit comes from its name (``*_bytes`` in MiB, ``time.*_ns`` in ms, counters as counts).
Settings the curve or heatmap does not use, and the trace when there are several, split
the figure into panels, one per combination of their values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from replay.errors import SettingsError
from replay.report.figures import STYLE, _figure, policy_colours, policy_markers
from replay.report.tables import BASELINE
from replay.sweep.settings import settings
from replay.units import parse_size

MIB = 1 << 20
MAX_PANELS = 12               # curves: combinations of the other settings drawn
MAX_HEATMAP_ROWS = 4          # heatmaps: rows of policy panels drawn


# ---------------------------------------------------------------- what is plotted


@dataclass(frozen=True)
class Measure:
    """A figure of the table: its name, title, unit and how a row gives it."""

    name: str                  # the column, or "throughput"
    title: str
    unit: str
    scale: float = 1.0

    def of(self, row: dict) -> float | None:
        if self.name == "throughput":
            total, acc = row.get("time.total_ns"), row.get("derived.accesses")
            return acc / total * 1e3 if total and acc is not None else None
        v = row.get(self.name)
        if v is None or isinstance(v, str):
            return None
        return float(v) * self.scale

    @property
    def label(self) -> str:
        return f"{self.title} ({self.unit})" if self.unit else self.title


_TITLES = {
    "throughput": ("Throughput", "M accesses / s, simulated"),
    "derived.swapin_amplification": ("Swap-in amplification", "pages swapped in / page used"),
    "derived.swapin_pages_unused_reclaimed": ("Swapped in, reclaimed unused", "pages"),
    "time.swapin_ns_per_page": ("Swap-in time per page", "ns, simulated"),
    "derived.oom_killed": ("OOM-killed", "1 = yes"),
    "counters.pgmajfault": ("Major faults", "pgmajfault"),
    "counters.workingset_refault_anon": ("Refaults", "workingset_refault_anon"),
    "counters.zswpin": ("zswap loads", "zswpin"),
    "counters.pswpin": ("Swap device reads", "pswpin, pages"),
    "counters.zswpwb": ("zswap writebacks", "zswpwb"),
    "time.swapin_ns": ("Swap-in time", "ms, simulated"),
    "time.total_ns": ("Simulated time", "ms"),
    "derived.peak_resident_bytes": ("Peak resident memory", "MiB"),
    "derived.peak_pool_bytes": ("Peak zswap pool", "MiB"),
}
_SCALES = {"time.swapin_ns": 1e-6, "time.total_ns": 1e-6,
           "derived.peak_resident_bytes": 1 / MIB, "derived.peak_pool_bytes": 1 / MIB}


def measure(name: str, columns: list[str]) -> Measure:
    """The figure a user names (a column, the unique column ending with it, or
    throughput); SettingsError naming the candidates otherwise."""
    if name == "throughput":
        return Measure(name, *_TITLES[name])
    figures = [c for c in columns if "." in c and not c.startswith("run.")
               or c.startswith("run.") and c.endswith("_seconds")]
    if name not in columns:
        matches = [c for c in figures if c.endswith("." + name)]
        if len(matches) > 1:
            raise SettingsError(f"--figure {name} is any of {', '.join(matches)}: say which")
        if not matches:
            import difflib
            close = difflib.get_close_matches(name, figures + ["throughput"], 3, 0.5)
            raise SettingsError(f"--figure {name}: no such figure in the table"
                                + (f" (did you mean {', '.join(close)}?)" if close else
                                   "; its columns are counters.*, per_size.*, derived.*, "
                                   "time.*, tlb.*, compression.*"))
        name = matches[0]
    if name in _TITLES:
        return Measure(name, *_TITLES[name], _SCALES.get(name, 1.0))
    section, _, rest = name.partition(".")
    last = rest.rsplit(".", 1)[-1]
    if name.endswith("_bytes"):
        return Measure(name, rest, "MiB", 1 / MIB)
    if section == "time" and name.endswith("_ns"):
        return Measure(name, rest, "ms, simulated", 1e-6)
    if "misses_per_1000" in name:
        return Measure(name, f"TLB misses ({last})", "per 1000 accesses")
    if section == "run" and name.endswith("_seconds"):
        return Measure(name, rest, "s, wall clock")
    if section in ("counters", "per_size") or rest.startswith("swapin_folios"):
        title = rest.replace(".", " ") if section == "per_size" else rest
        return Measure(name, title, "count")
    if section == "tlb" and "cycles" in last:
        return Measure(name, rest, "cycles")
    return Measure(name, rest, "")


# ---------------------------------------------------------------- settings as axes


def _percent(v) -> float | None:
    if isinstance(v, str) and v.strip().endswith("%"):
        try:
            return float(v.strip()[:-1])
        except ValueError:
            return None
    return None


def _size(v) -> int | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        return parse_size(v)
    except SettingsError:
        return None


def _mthp_order(v) -> tuple:
    sizes = [int(x) for x in re.findall(r"(\d+)K", str(v))]
    return (max(sizes, default=0), len(sizes), str(v))


@dataclass
class Axis:
    """A setting as an axis: numeric positions, or categories in a sensible order."""

    setting: str
    label: str
    values: list               # the setting's values, in axis order
    positions: list[float]     # where each value sits
    ticks: list[str]
    numeric: bool

    def position(self, row: dict) -> float | None:
        v = row.get(self.setting)
        try:
            return self.positions[self.values.index(v)]
        except ValueError:
            return None


def setting_label(name: str) -> str:
    s = settings().get(name)
    return s.key if s is not None else name


def axis_for(name: str, rows: list[dict]) -> Axis:
    values = []
    for r in rows:
        if r.get(name) not in values:
            values.append(r.get(name))
    label = setting_label(name)
    pct = [_percent(v) for v in values]
    if values and all(p is not None for p in pct):
        order = sorted(range(len(values)), key=lambda i: pct[i])
        vals = [values[i] for i in order]
        return Axis(name, f"{label} (% of the trace's footprint)", vals,
                    [pct[i] for i in order], [f"{pct[i]:g}" for i in order], True)
    if name == "memory_limit":                  # sizes, or sizes and percents: bytes
        limit = {}
        for r in rows:
            limit.setdefault(r.get(name), r.get("memory_limit_bytes") or 0)
        vals = sorted(values, key=lambda v: limit[v])
        return Axis(name, f"{label} (MiB)", vals, [limit[v] / MIB for v in vals],
                    [f"{limit[v] / MIB:g}" for v in vals], True)
    if settings().get(name) is not None and settings()[name].kind == "int":
        vals = sorted(v for v in values if v is not None)
        return Axis(name, label, vals, [float(v) for v in vals], [str(v) for v in vals], True)
    sizes = [_size(v) for v in values]
    if values and all(s is not None for s in sizes) and name != "mthp":
        order = sorted(range(len(values)), key=lambda i: sizes[i])
        big = max(sizes)
        unit, div = ("GiB", 1 << 30) if big >= 4 << 30 else (
            ("MiB", MIB) if big >= 1 << 20 else ("KiB", 1024))
        return Axis(name, f"{label} ({unit})", [values[i] for i in order],
                    [sizes[i] / div for i in order],
                    [f"{sizes[i] / div:g}" for i in order], True)
    if name == "mthp":
        vals = sorted(values, key=_mthp_order)
        label = "mTHP sizes enabled"
    elif all(isinstance(v, bool) for v in values):
        vals = sorted(values)
    else:
        vals = sorted(values, key=lambda v: (v is None, str(v)))
    ticks = ["no" if v is False else "yes" if v is True else "-" if v is None else str(v)
             for v in vals]
    return Axis(name, label, vals, [float(i) for i in range(len(vals))], ticks, False)


# ---------------------------------------------------------------- panels


def policies_of(rows: list[dict]) -> list[str]:
    from replay.policies import BUILTIN
    names = list(dict.fromkeys(r["policy"] for r in rows))
    known = [p for p in BUILTIN if p in names]
    return known + [p for p in names if p not in known]


def varied(rows: list[dict]) -> list[str]:
    """Settings with more than one value in the rows (the trace first, when several;
    policy aside)."""
    out = ["trace"] if len({r["trace"] for r in rows}) > 1 else []
    for name in settings():
        if name != "policy" and len({_key(r.get(name)) for r in rows}) > 1:
            out.append(name)
    return out


def _key(v):
    return (type(v).__name__, v)


def _value_text(name: str, v) -> str:
    if isinstance(v, bool):
        return f"{setting_label(name)} {'on' if v else 'off'}"
    return f"{setting_label(name)}={v}"


def facets(rows: list[dict], others: list[str]) -> list[tuple[str, list[dict]]]:
    """(title, rows) per combination of the ``others`` settings' values, in the order of
    their axes."""
    if not others:
        return [("", rows)]
    axes = [axis_for(n, rows) for n in others]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(_key(r.get(n)) for n in others), []).append(r)

    def order(item):
        first = item[1][0]
        return tuple(ax.values.index(first.get(ax.setting)) for ax in axes)

    out = []
    for _, group in sorted(groups.items(), key=order):
        first = group[0]
        out.append((", ".join(_value_text(n, first.get(n)) for n in others), group))
    return out


def _killed(row: dict) -> bool:
    return bool(row.get("derived.oom_killed"))


def _ok(row: dict) -> bool:
    return row.get("status") == "ok"


def curves_figure(rows: list[dict], m: Measure, setting: str,
                  colours: dict[str, str] | None = None) -> tuple[Figure, int]:
    """``m`` against ``setting``, a line per policy, a panel per combination of the
    other varied settings (at most MAX_PANELS). Returns the figure and how many panels
    were left out."""
    policies = policies_of(rows)
    colours = colours or policy_colours(policies)
    markers = policy_markers(policies)
    others = [n for n in varied(rows) if n != setting]
    panels = facets(rows, others)
    left_out = max(0, len(panels) - MAX_PANELS)
    panels = panels[:MAX_PANELS]
    axis = axis_for(setting, rows)
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    with matplotlib.rc_context(STYLE):
        fig = _figure(min(11, 3.9 * ncols + 0.6), 2.9 * nrows + 0.9)
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        any_killed = False
        for ax, (title, group) in zip(axes, panels):
            for p in policies:
                pts = sorted((axis.position(r), m.of(r), _killed(r)) for r in group
                             if r["policy"] == p and _ok(r) and axis.position(r) is not None)
                xs = [x for x, _, _ in pts]
                ys = [math.nan if (y is None or dead) else y for _, y, dead in pts]
                kw = {"lw": 1.5, "zorder": 2}
                if p == BASELINE:                # thin, on top: seen inside a policy's
                    kw = {"lw": 1.1, "zorder": 3}  # line that it coincides with
                ax.plot(xs, ys, color=colours[p], marker=markers[p], ms=4.5, mfc="white",
                        mew=1.3, **kw)
                dead = [(x, y) for x, y, k in pts if k and y is not None]
                if dead:
                    any_killed = True
                    ax.plot([x for x, _ in dead], [y for _, y in dead], ls="none",
                            marker="x", ms=8, mew=2, color=colours[p])
            ax.set_title(title, fontsize=9.5, fontweight="normal")
            ax.set_xticks(axis.positions, axis.ticks,
                          rotation=30 if not axis.numeric and len(axis.ticks) > 4 else 0)
            ax.set_xlabel(axis.label)
            ax.set_ylabel(m.label)
            ax.set_ylim(bottom=0)
            ax.yaxis.set_major_formatter(FuncFormatter(_tick))
            if not axis.numeric:
                ax.set_xlim(-0.4, len(axis.positions) - 0.6)
                ax.grid(axis="x", visible=False)
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        fig.suptitle(f"{m.title} against {setting_label(setting)}", fontweight="bold")
        handles = [Line2D([], [], color=colours[p], marker=markers[p], mfc="white", mew=1.3,
                          lw=1.5) for p in policies]
        labels = list(policies)
        if any_killed:
            handles.append(Line2D([], [], color="#444444", marker="x", ls="none", ms=8,
                                  mew=2))
            labels.append("OOM-killed (figures stop at the kill)")
        fig.legend(handles, labels, loc="outside lower center",
                   ncol=min(len(labels), 4), handlelength=2.6, fontsize=9)
        return fig, left_out


def _tick(v, _pos=None) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}"


def _cell_text(v: float) -> str:
    a = abs(v)
    if a >= 100_000:
        return f"{v / 1000:,.0f}k"
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def heatmap_figure(rows: list[dict], m: Measure, x: str, y: str,
                   colours: dict[str, str] | None = None) -> tuple[Figure, int]:
    """``m`` over settings ``x`` (columns) and ``y`` (rows of cells), a panel per policy,
    a row of panels per combination of the other varied settings (at most
    MAX_HEATMAP_ROWS); one colour scale for every panel. Returns the figure and how many
    rows of panels were left out."""
    policies = policies_of(rows)
    colours = colours or policy_colours(policies)
    others = [n for n in varied(rows) if n not in (x, y)]
    groups = facets(rows, others)
    left_out = max(0, len(groups) - MAX_HEATMAP_ROWS)
    groups = groups[:MAX_HEATMAP_ROWS]
    ax_x, ax_y = axis_for(x, rows), axis_for(y, rows)
    grids, killed_cells = [], []
    for _, group in groups:
        for p in policies:
            g = np.full((len(ax_y.values), len(ax_x.values)), np.nan)
            k = np.zeros(g.shape, bool)
            for r in group:
                if r["policy"] != p or not _ok(r):
                    continue
                i = ax_y.values.index(r.get(y))
                j = ax_x.values.index(r.get(x))
                v = m.of(r)
                g[i, j] = math.nan if v is None else v
                k[i, j] = _killed(r)
            grids.append(g)
            killed_cells.append(k)
    finite = np.concatenate([g[np.isfinite(g)] for g in grids]) if grids else np.zeros(0)
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    norm = Normalize(lo, hi)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#e6e6e6")
    ncols = len(policies)
    cell_w = 0.55 * len(ax_x.values) + 1.2
    with matplotlib.rc_context(STYLE):
        fig = _figure(min(16, max(7.5, cell_w * ncols + 1.4)),
                      (0.42 * len(ax_y.values) + 1.5) * len(groups) + 1.2)
        axes = fig.subplots(len(groups), ncols, squeeze=False)
        image = None
        for gi, (title, _) in enumerate(groups):
            for pi, p in enumerate(policies):
                ax = axes[gi, pi]
                g, k = grids[gi * ncols + pi], killed_cells[gi * ncols + pi]
                image = ax.imshow(np.ma.masked_invalid(g), cmap=cmap, norm=norm,
                                  aspect="auto", origin="lower")
                for (i, j), v in np.ndenumerate(g):
                    if math.isnan(v):
                        text, ink = "n/a", "#555555"
                    else:
                        text = _cell_text(v) + (" OOM" if k[i, j] else "")
                        ink = "white" if norm(v) < 0.55 else "black"
                    ax.text(j, i, text, ha="center", va="center", fontsize=7.5, color=ink)
                ax.set_xticks(range(len(ax_x.ticks)), ax_x.ticks,
                              rotation=30 if len(ax_x.ticks) > 4 else 0)
                ax.set_yticks(range(len(ax_y.ticks)), ax_y.ticks if pi == 0 else [])
                ax.grid(False)
                ax.set_title(p, color=colours[p], fontsize=10, fontweight="bold")
                if pi == 0:
                    ax.set_ylabel(ax_y.label + (f"\n{title}" if title else ""))
                for spine in ax.spines.values():
                    spine.set_visible(True)
                    spine.set_color(colours[p])
                    spine.set_linewidth(2)
        fig.suptitle(f"{m.title} over {setting_label(x)} and {setting_label(y)}",
                     fontweight="bold")
        fig.supxlabel(ax_x.label, fontsize=9.5)
        if image is not None:
            bar = fig.colorbar(image, ax=axes, location="right", shrink=0.9, pad=0.02)
            bar.set_label(m.label)
        return fig, left_out
