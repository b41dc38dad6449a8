"""The tables of a replay, as plain data that every renderer (terminal, Markdown, CSV,
HTML) draws the same way.

The comparison table has one column per policy and one row per figure: the kernel's
counters under their /proc/vmstat and hugepages-*/stats names, then derived figures.
Each row says whether lower or higher is better; the best cell is marked (OOM-killed
policies are left out: their figures stop at the kill), and each cell carries its change
against ``order0-fallback`` in percent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from replay.units import format_size

BASELINE = "order0-fallback"
LOWER, HIGHER = "lower", "higher"
MIB = 1 << 20

# how a settings line names the swap device under zswap or a plain disk
SWAP_DEVICE_WORDS = {"loop": "loop device", "file": "swapfile"}


@dataclass
class Cell:
    value: float | int | None      # in the row's unit; None: not available
    text: str
    change_pct: float | None = None  # against the baseline policy
    best: bool = False


@dataclass
class Row:
    label: str                     # what a reader sees (kernel names for kernel counters)
    key: str                       # where it comes from in a result, e.g. counters.zswpin
    unit: str                      # "" for counts
    better: str | None             # LOWER, HIGHER or None (no direction)
    cells: list[Cell]


@dataclass
class Grid:
    title: str
    columns: list[str]             # policy names
    rows: list[Row]
    caption: str = ""              # settings line under the title
    legend: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- reading results


def lookup(result: dict, key: str):
    """``result["a"]["b"]...`` for ``key`` "a.b..."; None when absent."""
    node = result
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def throughput(result: dict) -> float | None:
    """Accesses per simulated second (the trace's own time plus modelled kernel and TLB
    time), in millions."""
    total = lookup(result, "time.total_ns")
    if not total:
        return None
    return result["derived"]["accesses"] / total * 1e3


def killed(result: dict) -> bool:
    return bool(result["derived"].get("oom_killed"))


# ---------------------------------------------------------------- formatting


def fmt_count(v) -> str:
    return f"{int(v):,}"


def fmt_fixed(digits: int) -> Callable[[float], str]:
    return lambda v: f"{v:,.{digits}f}"


def fmt_change(pct: float | None) -> str:
    if pct is None or pct == 0:
        return ""
    if abs(pct) < 0.05:
        return "~0%"
    return f"{pct:+.1f}%" if abs(pct) < 10 else f"{pct:+,.0f}%"


def change_pct(value, base) -> float | None:
    if value is None or base is None:
        return None
    if base == 0:
        return 0.0 if value == 0 else None
    return (value - base) / abs(base) * 100.0


@dataclass(frozen=True)
class Metric:
    label: str
    key: str
    better: str | None
    unit: str = ""
    scale: float = 1.0
    fmt: Callable = fmt_count
    get: Callable | None = None     # value from a result, instead of lookup(key) * scale

    def value(self, result: dict):
        if self.get is not None:
            return self.get(result)
        v = lookup(result, self.key)
        if v is None or isinstance(v, bool):
            return None
        return v * self.scale if self.scale != 1.0 else v


def comparison_metrics(results: list[dict]) -> list[Metric]:
    """The rows of the comparison table; swap-ins and fallbacks per folio size present."""
    sizes = sorted({s for r in results for s in r.get("per_size", {})},
                   key=lambda s: int(s.rstrip("kB")))
    m = [Metric("pgmajfault", "counters.pgmajfault", LOWER)]
    for s in sizes:
        m.append(Metric(f"swpin {s}", f"per_size.{s}.swpin", None))
    for s in sizes:
        m.append(Metric(f"swpin_fallback {s}", f"per_size.{s}.swpin_fallback", None))
    m += [
        Metric("zswpin", "counters.zswpin", LOWER),
        Metric("zswpout", "counters.zswpout", LOWER),
        Metric("zswpwb", "counters.zswpwb", LOWER),
        Metric("pswpin", "counters.pswpin", LOWER),
        Metric("pswpout", "counters.pswpout", LOWER),
        Metric("workingset_refault_anon", "counters.workingset_refault_anon", LOWER),
        Metric("swap-in amplification", "derived.swapin_amplification", LOWER,
               fmt=fmt_fixed(2)),
        Metric("swapped in, reclaimed unused", "derived.swapin_pages_unused_reclaimed",
               LOWER, unit="pages"),
        Metric("peak resident", "derived.peak_resident_bytes", LOWER, unit="MiB",
               scale=1 / MIB, fmt=fmt_fixed(1)),
        Metric("peak zswap pool", "derived.peak_pool_bytes", LOWER, unit="MiB",
               scale=1 / MIB, fmt=fmt_fixed(1)),
        Metric("swap-in time", "time.swapin_ns", LOWER, unit="ms", scale=1e-6,
               fmt=fmt_fixed(1)),
        Metric("simulated time", "time.total_ns", LOWER, unit="ms", scale=1e-6,
               fmt=fmt_fixed(1)),
        Metric("throughput", "throughput", HIGHER, unit="M accesses/s", fmt=fmt_fixed(2),
               get=throughput),
        Metric("dTLB misses", "tlb.misses_per_1000.l1", LOWER, unit="per 1000 accesses",
               fmt=fmt_fixed(1)),
        Metric("page walks", "tlb.misses_per_1000.l2", LOWER, unit="per 1000 accesses",
               fmt=fmt_fixed(1)),
    ]
    return m


def _row(metric: Metric, results: list[dict], base: dict | None) -> Row:
    values = [metric.value(r) for r in results]
    base_value = metric.value(base) if base is not None else None
    cells = []
    for r, v in zip(results, values):
        if v is None:
            cells.append(Cell(None, "-"))
            continue
        pct = change_pct(v, base_value) if base is not None and r is not base else None
        cells.append(Cell(v, metric.fmt(v), pct))
    if metric.better is not None:
        alive = [(c, v) for c, v, r in zip(cells, values, results)
                 if v is not None and not killed(r)]
        if len(alive) > 1:
            vals = [v for _, v in alive]
            target = min(vals) if metric.better == LOWER else max(vals)
            tol = 1e-9 * max(1.0, abs(target))
            winners = [c for c, v in alive if abs(v - target) <= tol]
            if len(winners) < len(alive):          # everyone equal: nobody is best
                for c in winners:
                    c.best = True
    return Row(metric.label, metric.key, metric.unit, metric.better, cells)


def settings_line(cfg: dict) -> str:
    """The settings a reader needs to place the figures, in one line."""
    memcg = f"cgroup {cfg['memcg']}"
    if cfg["memcg"] == "v2":
        extras = []
        if cfg.get("zswap_shrinker"):
            extras.append("zswap shrinker")
        if not cfg.get("zswap_writeback", True):
            extras.append("zswap.writeback=0")
        if cfg.get("memcg_zswap_max_bytes") is not None:
            extras.append(f"zswap.max {format_size(cfg['memcg_zswap_max_bytes'])}")
        if extras:
            memcg += f" ({', '.join(extras)})"
    mthp = ",".join(f"{k}K" for k in cfg["mthp_sizes_kb"]) or "none"
    parts = [memcg, f"mTHP {mthp} ({cfg['thp_enabled']}"
             + (", MADV_HUGEPAGE by default)" if cfg.get("hugepage_default") else ")"),
             (f"{cfg['backend']} ({cfg['compressor']})"
              if cfg["backend"] in ("zswap", "zram") else cfg["backend"])
             + (f" on a {SWAP_DEVICE_WORDS[cfg['swap_device']]}"
                if cfg.get("swap_device") in SWAP_DEVICE_WORDS else ""),
             f"{cfg.get('device_costs', 'nvme')}{' rotational' if cfg['rotational'] else ''}",
             f"page-cluster {cfg['page_cluster']}", f"TLB {cfg.get('tlb', 'none')}"]
    if cfg.get("charge_guard"):
        parts.append("charge guard")
    if cfg.get("oom") == "continue":
        parts.append("OOM: continue")
    return ", ".join(parts)


def replay_title(replay: dict) -> str:
    fp = replay.get("footprint") or {}
    limit = replay["memory_limit"]
    size = format_size(limit["bytes"])
    given = limit.get("given") or ""
    pct = ""
    if fp.get("footprint_bytes"):
        actual = 100 * limit["bytes"] / fp["footprint_bytes"]
        pct = f" = {actual:.0f}% of the footprint" if actual < 1000 else " (above the footprint)"
        if given.endswith("%"):
            try:
                asked = float(given[:-1])
            except ValueError:
                asked = actual
            if abs(asked - actual) >= 1:
                pct += f" (the least the model takes; {given} would be below 1 MiB)"
            else:
                pct = f" = {given} of the footprint"
    foot = f", footprint {format_size(fp['footprint_bytes'])}" if fp.get("footprint_bytes") \
        else ""
    return (f"{replay['trace_name']}: memory limit {size}{pct}{foot}, "
            f"{replay['trace']['accesses']:,} accesses")


def comparison_table(replay: dict) -> Grid:
    results = replay["results"]
    base = next((r for r in results if r["policy"] == BASELINE), None)
    rows = [_row(m, results, base) for m in comparison_metrics(results)]
    if any(killed(r) for r in results):
        rows.append(Row("OOM killed", "derived.oom_killed", "", None, [
            Cell(r["derived"]["accesses"],
                 f"at access {r['derived']['accesses']:,}" if killed(r) else "no")
            for r in results]))
    legend = [("* best of the row (lower is better, throughput higher; OOM-killed policies "
               "left out; no mark when all are equal)")]
    if base is not None:
        legend.append(f"+n% / -n%: change against {BASELINE}")
    return Grid(replay_title(replay), [r["policy"] for r in results], rows,
                settings_line(results[0]["config"]) if results else "", legend)


def per_size_tables(replay: dict) -> list[Grid]:
    """hugepages-<size>/stats of each policy, one table per folio size, rows in the
    kernel's order."""
    results = replay["results"]
    sizes = sorted({s for r in results for s in r.get("per_size", {})},
                   key=lambda s: int(s.rstrip("kB")))
    grids = []
    for s in sizes:
        names: list[str] = []
        for r in results:
            for name in r.get("per_size", {}).get(s, {}):
                if name not in names:
                    names.append(name)
        rows = []
        for name in names:
            cells = []
            for r in results:
                v = r.get("per_size", {}).get(s, {}).get(name)
                cells.append(Cell(v, fmt_count(v) if v is not None else "-"))
            rows.append(Row(name, f"per_size.{s}.{name}", "", None, cells))
        grids.append(Grid(f"hugepages-{s}/stats", [r["policy"] for r in results], rows))
    return grids


# ---------------------------------------------------------------- sparklines

SPARK = "▁▂▃▄▅▆▇█"


def throughput_buckets(result: dict, width: int) -> list[float] | None:
    """Throughput (accesses per simulated second) over the trace in ``width`` buckets of
    its timeline windows: each bucket's accesses over its simulated time."""
    cols = lookup(result, "timeline.columns")
    if not cols or not cols.get("accesses"):
        return None
    acc = cols["accesses"]
    span = [e - s for s, e in zip(cols["start_ns"], cols["end_ns"])]
    n = len(acc)
    out = []
    for b in range(min(width, n)):
        lo, hi = b * n // min(width, n), (b + 1) * n // min(width, n)
        a, t = sum(acc[lo:hi]), sum(span[lo:hi])
        out.append(a / t * 1e9 if t > 0 else 0.0)
    return out


def sparkline(values: list[float], low: float, top: float) -> str:
    """One mark per value on a log scale from ``low`` to ``top`` (both > 0)."""
    if top <= 0 or low <= 0 or top <= low:
        return SPARK[-1 if top > 0 else 0] * len(values)
    span = math.log(top / low)
    marks = []
    for v in values:
        x = math.log(v / low) / span if v > 0 else 0.0
        marks.append(SPARK[max(0, min(len(SPARK) - 1, int(x * len(SPARK))))])
    return "".join(marks)


@dataclass
class Spark:
    policy: str
    line: str
    low: float        # M accesses/s
    high: float


def throughput_sparklines(replay: dict, width: int = 48) -> list[Spark]:
    """One line per policy on a common log scale (the lowest to the highest bucket of any
    policy): throughput spans orders of magnitude between windows that fault and those
    that do not."""
    series = [(r["policy"], throughput_buckets(r, width)) for r in replay["results"]]
    series = [(p, s) for p, s in series if s]
    if not series:
        return []
    top = max(max(s) for _, s in series)
    low = min((v for _, s in series for v in s if v > 0), default=0.0)
    return [Spark(p, sparkline(s, low, top), min(s) / 1e6, max(s) / 1e6) for p, s in series]
