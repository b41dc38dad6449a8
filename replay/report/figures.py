"""The report's figures (matplotlib, no pyplot state), returned as SVG text.

One colour per policy in every figure (``policy_colours``); a policy whose figures are
exactly those of an earlier one is drawn dashed over it and named so in the legend. Legends
sit under the panels, never on the data.
"""

from __future__ import annotations

import io
import math

import matplotlib
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from replay.report.notes import _same
from replay.report.tables import BASELINE, MIB, killed, lookup, throughput

# Okabe-Ito colours (told apart with the common colour-vision deficiencies)
_FIXED = {
    "order0-fallback": "#000000",
    "mainline": "#8c8c8c",
    "full-zswap": "#0072B2",
    "hybrid-rejected": "#D55E00",
    "locality-admitted": "#009E73",
    "hybrid-supported": "#CC79A7",
}
_MORE = ["#E69F00", "#56B4E9", "#F0C000", "#7F3C8D", "#11A579", "#3969AC", "#E73F74",
         "#80BA5A"]

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9.5,
    "axes.titlesize": 10.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 9.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e3e3e3",
    "grid.linewidth": 0.7,
    "legend.frameon": False,
    "svg.hashsalt": "folio-replay",     # the same SVG for the same figures
    "svg.fonttype": "path",             # text drawn as paths: no font needed to view it
}


def policy_colours(policies: list[str]) -> dict[str, str]:
    """A colour per policy name, the same for every figure of a report."""
    out, extra = {}, iter(_MORE)
    for p in policies:
        out[p] = _FIXED.get(p) or next(extra, "#444444")
    return out


_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]


def policy_markers(policies: list[str]) -> dict[str, str]:
    """A marker shape per policy (told apart where lines coincide, and in grey print)."""
    return {p: _MARKERS[k % len(_MARKERS)] for k, p in enumerate(policies)}


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", facecolor="white", metadata={"Date": None})
    return buf.getvalue()


def _figure(w: float, h: float) -> Figure:
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(w, h), layout="constrained")
    return fig


def _line_styles(results: list[dict]) -> dict[str, dict]:
    """Solid lines; a policy with the same figures as an earlier one dashed over it (each
    such policy with its own dash offset, so all stay visible), labelled "= that one"."""
    styles: dict[str, dict] = {}
    seen: list[dict] = []
    for r in results:
        twin = next((s for s in seen if _same(s, r)), None)
        if twin is None:
            styles[r["policy"]] = {"ls": "-", "label": r["policy"]}
            seen.append(r)
        else:
            n = sum(1 for v in styles.values() if v.get("twin") == twin["policy"])
            styles[r["policy"]] = {"ls": (3 * (n + 1), (3, 3 * (n + 2))), "twin": twin["policy"],
                                   "label": f"{r['policy']} (= {twin['policy']})"}
    return styles


def _legend(fig: Figure, handles, labels, ncol: int | None = None) -> None:
    fig.legend(handles, labels, loc="outside lower center",
               ncol=ncol or min(len(labels), 4), handlelength=2.6, fontsize=9)


def _time_axis(results: list[dict]) -> tuple[float, str]:
    end = max((max(lookup(r, "timeline.columns.end_ns") or [0]) for r in results), default=0)
    return (1e9, "s") if end >= 2e9 else (1e6, "ms")


def _mib(x, _pos=None) -> str:
    return f"{x:,.0f}" if x >= 10 else f"{x:,.1f}"


# ---------------------------------------------------------------- one replay


TIMELINE_POINTS = 120


def timeline_points(c: dict, points: int = TIMELINE_POINTS) -> dict[str, list[float]]:
    """The timeline's windows merged into at most ``points`` runs of consecutive windows
    (equal shares of the accesses): throughput over the run's simulated time, major faults
    per 1000 of its accesses, mean resident memory and pool. Without the merge, a small
    trace's 500 windows of a few dozen accesses each draw noise."""
    n = len(c["accesses"])
    k = max(1, -(-n // points))
    out: dict[str, list[float]] = {"mid_ns": [], "accesses_per_s": [], "majflt_per_1000": [],
                                   "resident_bytes": [], "pool_bytes": []}
    for lo in range(0, n, k):
        hi = min(n, lo + k)
        start, end = c["start_ns"][lo], c["end_ns"][hi - 1]
        acc = sum(c["accesses"][lo:hi])
        out["mid_ns"].append((start + end) / 2)
        out["accesses_per_s"].append(acc / (end - start) * 1e9 if end > start else 0.0)
        out["majflt_per_1000"].append(1000 * sum(c["pgmajfault"][lo:hi]) / acc if acc else 0.0)
        out["resident_bytes"].append(sum(c["resident_bytes"][lo:hi]) / (hi - lo))
        out["pool_bytes"].append(sum(c["pool_bytes"][lo:hi]) / (hi - lo))
    return out


def timeline_figure(replay: dict, colours: dict[str, str]) -> str | None:
    """Throughput, major faults, resident memory and zswap pool over simulated time."""
    results = [r for r in replay["results"] if lookup(r, "timeline.columns.accesses")]
    if not results:
        return None
    with matplotlib.rc_context(STYLE):
        fig = _figure(11, 6.6)
        axes = fig.subplots(2, 2, sharex=True)
        scale, unit = _time_axis(results)
        styles = _line_styles(results)
        handles, labels = [], []
        limit_mib = replay["memory_limit"]["bytes"] / MIB
        for r in results:
            b = timeline_points(r["timeline"]["columns"])
            mid = [t / scale for t in b["mid_ns"]]
            st = styles[r["policy"]]
            kw = {"color": colours[r["policy"]], "ls": st["ls"], "lw": 1.5}
            if r["policy"] == BASELINE:                   # thin, on top: seen inside a
                kw.update(lw=1.1, zorder=3)               # policy's line that follows it
            (h,) = axes[0, 0].plot(mid, [v / 1e6 if v > 0 else math.nan
                                         for v in b["accesses_per_s"]], **kw)
            axes[0, 1].plot(mid, b["majflt_per_1000"], **kw)
            axes[1, 0].plot(mid, [v / MIB for v in b["resident_bytes"]], **kw)
            axes[1, 1].plot(mid, [v / MIB for v in b["pool_bytes"]], **kw)
            if killed(r):
                for ax, ys in ((axes[1, 0], b["resident_bytes"]), (axes[1, 1], b["pool_bytes"])):
                    ax.plot(mid[-1], ys[-1] / MIB, marker="x", ms=8, mew=2, color=kw["color"],
                            ls="none")
            handles.append(h)
            labels.append(st["label"] + (" (OOM-killed: x)" if killed(r) else ""))
        axes[1, 0].axhline(limit_mib, color="#555555", lw=0.9, ls=":")
        axes[1, 0].annotate(f"memory limit {limit_mib:,.1f} MiB", (0.99, limit_mib),
                            xycoords=("axes fraction", "data"), xytext=(0, 3),
                            textcoords="offset points", ha="right", va="bottom",
                            fontsize=8.5, color="#555555")
        axes[0, 0].set(title="Throughput", ylabel="M accesses / s (simulated, log scale)")
        axes[0, 0].set_yscale("log")
        axes[0, 1].set(title="Major faults", ylabel="major faults per 1000 accesses")
        axes[1, 0].set(title="Resident memory (memcg)", ylabel="MiB",
                       xlabel=f"simulated time ({unit})")
        axes[1, 1].set(title="zswap pool", ylabel="MiB", xlabel=f"simulated time ({unit})")
        for ax in axes.flat:
            ax.set_xlim(left=0)
            if ax is not axes[0, 0]:
                ax.set_ylim(bottom=0)
                ax.yaxis.set_major_formatter(FuncFormatter(_mib))
        axes[0, 0].yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
        axes[1, 0].set_ylim(top=max(limit_mib * 1.12, axes[1, 0].get_ylim()[1]))
        _legend(fig, handles, labels, ncol=min(len(labels), 3))
        return _svg(fig)


def distribution_figure(replay: dict, colours: dict[str, str]) -> str:
    """Swap-ins by folio size (the swap-in order histogram), and TLB misses per policy."""
    results = replay["results"]
    with matplotlib.rc_context(STYLE):
        fig = _figure(11, 3.9)
        ax_sw, ax_tlb = fig.subplots(1, 2, width_ratios=[1.15, 1])
        sizes = sorted({s for r in results for s in (lookup(r, "time.swapin_folios") or {})},
                       key=lambda s: int(s.rstrip("kB")))
        n = len(results)
        width = 0.8 / max(1, n)
        handles = []
        for i, r in enumerate(results):
            folios = lookup(r, "time.swapin_folios") or {}
            xs = [j - 0.4 + width * (i + 0.5) for j in range(len(sizes))]
            ys = [folios.get(s, 0) for s in sizes]
            handles.append(ax_sw.bar(xs, [y if y > 0 else math.nan for y in ys], width,
                                     color=colours[r["policy"]], label=r["policy"]))
        ax_sw.set_xticks(range(len(sizes)), sizes)
        ax_sw.set(title="Swap-ins by folio size", xlabel="folio size",
                  ylabel="folios swapped in (log scale)")
        if sizes:
            ax_sw.set_yscale("log")
            ax_sw.set_ylim(bottom=0.8)                   # bars rise from 1 folio
            ax_sw.grid(axis="x", visible=False)
        else:
            ax_sw.text(0.5, 0.5, "no swap-ins", ha="center", va="center",
                       transform=ax_sw.transAxes, color="#555555")
            ax_sw.set_yticks([])
        # TLB: dTLB misses and page walks per policy, the 4 KiB-only baseline as a tick
        names = [r["policy"] for r in results]
        l1 = [lookup(r, "tlb.misses_per_1000.l1") for r in results]
        if any(v is not None for v in l1):
            l2 = [lookup(r, "tlb.misses_per_1000.l2") or 0.0 for r in results]
            base = [lookup(r, "tlb.shadow_4k.misses_per_1000.l2") for r in results]
            xs = range(n)
            ax_tlb.bar([x - 0.2 for x in xs], [v or 0.0 for v in l1], 0.38,
                       color=[colours[p] for p in names], alpha=0.45,
                       label="dTLB misses (L1)")
            ax_tlb.bar([x + 0.2 for x in xs], l2, 0.38, color=[colours[p] for p in names],
                       label="page walks (L2 misses)")
            if any(b is not None for b in base):
                ax_tlb.scatter([x + 0.2 for x in xs], [b if b is not None else math.nan
                                                       for b in base],
                               marker="_", s=500, color="#222222", linewidths=2,
                               label="page walks with 4 KiB pages only", zorder=3)
            ax_tlb.set_xticks(list(xs), names, rotation=20, ha="right")
            keys = [Patch(facecolor="#777777", alpha=0.45, label="dTLB misses (L1)"),
                    Patch(facecolor="#777777", label="page walks (L2 misses)")]
            if any(b is not None for b in base):
                keys.append(Line2D([], [], color="#222222", lw=2,
                                   label="page walks, 4 KiB pages only"))
            ax_tlb.legend(handles=keys, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                          fontsize=8.5)
            ax_tlb.grid(axis="x", visible=False)
            ax_tlb.set(title="TLB misses", ylabel="per 1000 accesses")
        else:
            ax_tlb.text(0.5, 0.5, "no TLB model (--tlb none)", ha="center", va="center",
                        transform=ax_tlb.transAxes, color="#555555")
            ax_tlb.set(title="TLB misses")
            ax_tlb.set_xticks([])
            ax_tlb.set_yticks([])
        if sizes:
            _legend(fig, handles, names, ncol=min(n, 6))
        return _svg(fig)


# ---------------------------------------------------------------- across memory limits


def _large_share(r: dict) -> float | None:
    """Percent of swapped-in folios that were large (above 4 KiB)."""
    folios = lookup(r, "time.swapin_folios") or {}
    total = sum(folios.values())
    if not total:
        return None
    return 100.0 * sum(v for s, v in folios.items() if s != "4kB") / total


CURVES = [
    ("Throughput", "M accesses / s (simulated)", throughput),
    ("Major faults", "pgmajfault", lambda r: r["counters"]["pgmajfault"]),
    ("Refaults", "workingset_refault_anon", lambda r: r["counters"]["workingset_refault_anon"]),
    ("Swap-in time", "ms (simulated)", lambda r: (lookup(r, "time.swapin_ns") or 0) / 1e6),
    ("Swap-in amplification", "pages swapped in / pages used",
     lambda r: r["derived"]["swapin_amplification"] or None),
    ("Large swap-ins", "% of folios swapped in", _large_share),
    ("Peak resident memory", "MiB", lambda r: r["derived"]["peak_resident_bytes"] / MIB),
    ("Peak zswap pool", "MiB", lambda r: r["derived"]["peak_pool_bytes"] / MIB),
    ("dTLB misses", "per 1000 accesses", lambda r: lookup(r, "tlb.misses_per_1000.l1")),
]


def _curve_twins(replays: list[dict], policies: list[str]) -> dict[str, tuple]:
    """(line style, legend label) per policy: dashed over an earlier policy whose figures
    it shares at every limit (each such twin with its own dash offset)."""
    def figures(p):
        return [next((r for r in rp["results"] if r["policy"] == p), None) for rp in replays]

    out: dict[str, tuple] = {}
    solid: list[str] = []
    for p in policies:
        mine = figures(p)
        twin = next((q for q in solid if all(a is not None and b is not None and _same(a, b)
                                             for a, b in zip(figures(q), mine))), None)
        if twin is None:
            solid.append(p)
            out[p] = ("-", p)
        else:
            n = sum(1 for v in out.values() if v[1].endswith(f"(= {twin})"))
            out[p] = ((3 * (n + 1), (3, 3 * (n + 2))), f"{p} (= {twin})")
    return out


def limit_curves_figure(replays: list[dict], colours: dict[str, str]) -> str | None:
    """Each figure against the memory limit, one line per policy (miss-ratio-curve style);
    the replays are one trace's, at two or more limits."""
    replays = sorted(replays, key=lambda rp: rp["memory_limit"]["bytes"])
    if len(replays) < 2:
        return None
    policies = []
    for rp in replays:
        for r in rp["results"]:
            if r["policy"] not in policies:
                policies.append(r["policy"])
    limits = [rp["memory_limit"]["bytes"] / MIB for rp in replays]
    footprint = (replays[0].get("footprint") or {}).get("footprint_bytes")
    with matplotlib.rc_context(STYLE):
        fig = _figure(11, 9.2)
        axes = fig.subplots(3, 3, sharex=True)
        handles, labels = {}, {}
        twins = _curve_twins(replays, policies)
        markers = policy_markers(policies)
        for ax, (title, ylabel, get) in zip(axes.flat, CURVES):
            for p in policies:
                ys, dead = [], []
                for rp in replays:
                    r = next((x for x in rp["results"] if x["policy"] == p), None)
                    v = get(r) if r is not None else None
                    ys.append(math.nan if v is None or (r is not None and killed(r)) else v)
                    dead.append(v if r is not None and killed(r) and v is not None
                                else math.nan)
                (h,) = ax.plot(limits, ys, color=colours[p], ls=twins[p][0], lw=1.5,
                               marker=markers[p], ms=4.5, mfc="white", mew=1.3)
                if any(not math.isnan(d) for d in dead):
                    ax.plot(limits, dead, color=colours[p], ls="none", marker="x", ms=8,
                            mew=2)
                    labels[p] = f"{twins[p][1]} (x: OOM-killed)"
                handles[p] = h
                labels.setdefault(p, twins[p][1])
            ax.set(title=title, ylabel=ylabel)
            ax.set_ylim(bottom=0)
            ax.yaxis.set_major_locator(MaxNLocator(5))
        for ax in axes[-1]:
            ax.set_xticks(limits, [f"{x:,.0f}\n{100 * x * MIB / footprint:.0f}%"
                                   if footprint else f"{x:,.0f}" for x in limits])
            ax.set_xlabel("memory limit (MiB" + (", % of footprint)" if footprint else ")"))
        _legend(fig, [handles[p] for p in policies], [labels[p] for p in policies],
                ncol=min(len(policies), 3))
        return _svg(fig)
