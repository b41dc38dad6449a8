"""`replay run TRACE`: replay a trace under each swap-in policy and compare."""

from __future__ import annotations

import math
import sys

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from replay.atomic import check_output, write_json_atomic
from replay.engine import run_document, simulate
from replay.errors import SettingsError
from replay.model.config import (
    BACKENDS,
    FIRST_READ,
    MEMCG_VERSIONS,
    OOM_MODES,
    RECLAIM_MODES,
    ModelConfig,
)
from replay.policies import DEFAULT_POLICIES
from replay.trace import open_trace
from replay.units import format_size, parse_size


def parse_mthp(text: str) -> tuple[int, ...]:
    """'16K,64K' -> (16, 64); 'none' -> ()."""
    if text.strip().lower() in ("none", "off", ""):
        return ()
    sizes = []
    for part in text.split(","):
        b = parse_size(part.strip(), "--mthp size")
        if b % 1024:
            raise SettingsError(f"--mthp size {part!r} is not a whole number of KiB")
        sizes.append(b // 1024)
    return tuple(sorted(set(sizes)))


def config_from_options(o: dict) -> ModelConfig:
    pool = o["zswap_max_pool"]
    pool_percent, pool_bytes = 20, None
    if pool:
        if pool.endswith("%"):
            try:
                pool_percent = int(pool[:-1])
            except ValueError:
                raise SettingsError(f"--zswap-max-pool {pool!r} is not a percent") from None
        else:
            pool_bytes = parse_size(pool, "--zswap-max-pool")
    cfg = ModelConfig(
        memory_limit_bytes=parse_size(o["memory_limit"], "--memory-limit"),
        mthp_sizes_kb=parse_mthp(o["mthp"]), thp_enabled=o["thp"], backend=o["backend"],
        ram_bytes=parse_size(o["ram"], "--ram"), zswap_max_pool_percent=pool_percent,
        zswap_max_pool_bytes=pool_bytes, swap_bytes=parse_size(o["swap_size"], "--swap-size"),
        page_cluster=o["page_cluster"], rotational=o["rotational"], reclaim=o["reclaim"],
        memcg=o["memcg"], first_read=o["first_read"], charge_guard=o["charge_guard"],
        zswap_ever_enabled=not o["zswap_never_enabled"], compressor=o["compressor"],
        hugepage_default=o["hugepage_default"],
        memcg_zswap_max_bytes=(parse_size(o["zswap_max"], "--zswap-max")
                               if o["zswap_max"] not in (None, "max") else None),
        zswap_writeback=o["zswap_writeback"], oom=o["oom"],
        zswap_shrinker=o["zswap_shrinker"],
    )
    return cfg.validate()


_TIME_UNITS_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


MAX_WINDOW = 1 << 53        # accesses, or ns (104 days): the model keeps windows in ps


def parse_window(text: str | None) -> tuple[int | None, int | None]:
    """--timeline-window: '100000' accesses, or a simulated time '10ms', '1s', '500us'."""
    if text is None:
        return None, None
    t = text.strip().lower()
    for unit in ("ns", "us", "ms", "s"):
        if t.endswith(unit):
            try:
                v = float(t[: -len(unit)])
            except ValueError:
                break
            if not math.isfinite(v) or v <= 0:
                break
            ns = v * _TIME_UNITS_NS[unit]
            if ns < 1 or ns > MAX_WINDOW:
                raise SettingsError(f"--timeline-window {text!r} is outside 1 ns .. "
                                    f"{MAX_WINDOW // 86_400_000_000_000} days")
            return None, int(ns)
    else:
        if t.isdigit() and int(t) > 0:
            if int(t) > MAX_WINDOW:
                raise SettingsError(f"--timeline-window {text!r} is more than 2^53 accesses")
            return int(t), None
    raise SettingsError(f"--timeline-window {text!r} is not a number of accesses or a time "
                        "like 10ms, 1s, 500us")


def sim_options(o: dict) -> dict:
    """simulate() keyword arguments from the cost, TLB and timeline options."""
    unit = parse_size(o["compression_unit"], "--compression-unit")
    if unit not in (4 << 10, 16 << 10, 64 << 10):
        raise SettingsError(f"--compression-unit {o['compression_unit']!r} is not 4K, 16K "
                            "or 64K")
    accesses, ns = parse_window(o["timeline_window"])
    from replay.costs.model import CostModel
    cost_model = CostModel.load(o["cost_model"])      # read and checked before the replay
    return {"cost_model": cost_model, "device": o["device_costs"],
            "compression_unit_kb": unit // 1024, "tlb": o["tlb"], "tlb_shadow": o["tlb_shadow"],
            "timeline_accesses": accesses, "timeline_ns": ns, "threads": o["threads"]}


ROWS = [
    ("pgfault", "counters"), ("pgmajfault", "counters"), ("swpin (large)", None),
    ("swpin_fallback", None), ("zswpin", "counters"), ("pswpin", "counters"),
    ("swpin_zero", "counters"), ("zswpout", "counters"), ("pswpout", "counters"),
    ("zswpwb", "counters"), ("swpout_zero", "counters"), ("swap_ra", "counters"),
    ("swap_ra_hit", "counters"), ("workingset_refault_anon", "counters"),
    ("workingset_activate_anon", "counters"), ("pgscan", "counters"), ("pgsteal", "counters"),
    ("swapin_pages", "derived"), ("swapin_pages_unused_reclaimed", "derived"),
    ("swapin_amplification", "derived"), ("peak_resident_bytes", "derived"),
    ("peak_pool_bytes", "derived"),
]


def _cell(r: dict, name: str, section: str | None) -> str:
    if section is None:
        key = "swpin" if name.startswith("swpin ") else name
        parts = [f"{v[key]:,}@{size}" for size, v in r["per_size"].items() if v[key]]
        return " ".join(parts) if parts else "0"
    v = r[section][name]
    if name.endswith("_bytes"):
        return format_size(v)
    if isinstance(v, float):
        return f"{v:.3f}"
    return f"{v:,}"


def results_table(doc: dict) -> Table:
    results = doc["results"]
    cfg = results[0]["config"]
    title = (f"{doc['trace']['path']}: {doc['trace']['accesses']:,} accesses, "
             f"memcg {format_size(cfg['memory_limit_bytes'])} ({cfg['memcg']}), "
             f"mTHP {','.join(f'{k}K' for k in cfg['mthp_sizes_kb']) or 'none'} "
             f"({cfg['thp_enabled']}), {cfg['backend']}, page-cluster {cfg['page_cluster']}"
             + (", charge guard" if cfg["charge_guard"] else ""))
    t = Table(title=title, title_justify="left")
    t.add_column("counter", style="bold")
    for r in results:
        t.add_column(r["policy"], justify="right")
    for name, section in ROWS:
        t.add_row(name, *[_cell(r, name, section) for r in results])
    t.add_row("swap-in time", *[
        f"{r['time']['swapin_ns'] / 1e6:,.1f} ms" if "time" in r else "-" for r in results])
    t.add_row("swap-in ns per page", *[
        f"{r['time']['swapin_ns_per_page']:,.0f}" if "time" in r else "-" for r in results])
    t.add_row("simulated time", *[
        f"{r['time']['total_ns'] / 1e6:,.1f} ms" if "time" in r else "-" for r in results])
    t.add_row("TLB misses /1000 (L1, L2)", *[
        f"{r['tlb']['misses_per_1000']['l1']:.1f}, {r['tlb']['misses_per_1000']['l2']:.1f}"
        if r.get("tlb", {}).get("config") else "-" for r in results])
    t.add_row("TLB cycles saved vs 4K", *[
        f"{r['tlb']['cycles_saved']:,}" if "cycles_saved" in r.get("tlb", {}) else "-"
        for r in results])
    if any(r["derived"].get("oom_killed") for r in results):
        t.add_row("OOM killed", *[
            f"at access {r['derived']['accesses']:,}" if r["derived"].get("oom_killed")
            else "no" for r in results], style="bold red")
    t.add_row("engine M accesses/s", *[
        f"{r['derived']['accesses'] / r['run']['engine_seconds'] / 1e6:.1f}"
        if r["run"]["engine_seconds"] > 0 else "-" for r in results])
    return t


@click.command("run")
@click.argument("trace", type=click.Path(dir_okay=False))
@click.option("--policy", "policies", multiple=True,
              help="Swap-in policy (repeatable); default: every built-in policy but mainline.")
@click.option("--memory-limit", default="64M", show_default=True,
              help="memcg limit (bytes or K/M/G).")
@click.option("--mthp", default="64K", show_default=True,
              help="Enabled mTHP sizes, e.g. 16K,32K,64K, or none.")
@click.option("--thp", type=click.Choice(["always", "madvise"]), default="always",
              show_default=True, help="Those sizes 'always', or only in MADV_HUGEPAGE regions.")
@click.option("--hugepage-default/--no-hugepage-default", default=False, show_default=True,
              help="Take mappings without a regions sidecar as MADV_HUGEPAGE.")
@click.option("--backend", type=click.Choice(BACKENDS), default="zswap", show_default=True)
@click.option("--compressor", default="lz4", show_default=True,
              help="Codec for page sizes: lz4, zstd, zstd-N, lzo, deflate.")
@click.option("--zswap-max-pool", default=None,
              help="zswap pool limit: a size (e.g. 256M) or a percent of --ram (default 20%).")
@click.option("--ram", default="24G", show_default=True, help="RAM for max_pool_percent.")
@click.option("--swap-size", default="8G", show_default=True, help="Swap device size.")
@click.option("--page-cluster", default=3, show_default=True, type=click.IntRange(0, 31))
@click.option("--rotational/--no-rotational", default=False, show_default=True,
              help="Rotational swap device (cluster readahead instead of VMA readahead).")
@click.option("--reclaim", type=click.Choice(RECLAIM_MODES), default="linux",
              show_default=True)
@click.option("--memcg", type=click.Choice(MEMCG_VERSIONS), default="v2", show_default=True,
              help="v2 charges the zswap pool to the memcg; v1 does not.")
@click.option("--zswap-max", default=None,
              help="cgroup v2 memory.zswap.max of the memcg (a size, or max).")
@click.option("--zswap-writeback/--no-zswap-writeback", default=True, show_default=True,
              help="cgroup v2 memory.zswap.writeback: may zswap write entries back.")
@click.option("--zswap-shrinker/--no-zswap-shrinker", default=False, show_default=True,
              help="zswap.shrinker_enabled: memcg reclaim writes zswap entries back "
              "(cgroup v2; v1 charges no zswap statistics to the memcg, so it never does).")
@click.option("--first-read", type=click.Choice(FIRST_READ), default="zero-page",
              show_default=True)
@click.option("--charge-guard", is_flag=True,
              help="Barry Song's memcg charge-margin guard, for every policy of the run.")
@click.option("--oom", type=click.Choice(OOM_MODES), default="kill", show_default=True,
              help="When the memcg cannot make room: the OOM kill ends that policy's replay "
              "(as the kernel kills the workload), or the charge is forced and it goes on.")
@click.option("--zswap-never-enabled", is_flag=True,
              help="For the mainline policy: zswap's static key was never set since boot.")
@click.option("--cost-model", type=click.Path(dir_okay=False), default=None,
              help="Cost model JSON (replay calibrate -o); default: the shipped one.")
@click.option("--device-costs", type=click.Choice(["nvme", "hdd"]), default=None,
              help="Swap device latency and bandwidth [default: hdd with --rotational, "
              "else nvme].")
@click.option("--compression-unit", default="4K", show_default=True,
              help="Compression unit: 4K (zswap, zram today), or 16K or 64K units of large "
              "folios (the zsmalloc multi-page RFC; a partial read decompresses the unit).")
@click.option("--tlb", default="x86", show_default=True,
              help="TLB model: x86, arm64, none, or a preset (zen2, zen4, neoverse-n1, "
              "neoverse-n2, neoverse-v2).")
@click.option("--tlb-shadow", type=click.Choice(["exact", "shared", "off"]), default="exact",
              show_default=True,
              help="4K-only baseline TLB for the cycles saved: one per policy (doubles the "
              "TLB's cost), one shared by all policies (misses reclaim and copy-on-write "
              "flushes), or none.")
@click.option("--timeline-window", default=None,
              help="Timeline windows: N accesses, or a simulated time such as 10ms "
              "[default: ~500 windows of accesses].")
@click.option("--threads", default=None, type=click.IntRange(1),
              help="Policies replayed side by side [default: one per CPU].")
@click.option("--chunk-rows", default=1 << 20, show_default=True, type=click.IntRange(1),
              hidden=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="Write the results document here (atomically).")
@click.option("--quiet", is_flag=True, help="No table, no progress.")
def COMMAND(trace, policies, json_out, quiet, chunk_rows, **opts) -> None:
    """Replay TRACE through the model under each swap-in policy."""
    cfg = config_from_options(opts)
    kw = sim_options(opts)
    tr = open_trace(trace)
    inputs = (tr.path, tr.contents_path, tr.regions_path, opts["cost_model"])
    if json_out:
        check_output(json_out, inputs, "--json output")   # before the replay, not after
    tr.check()              # every row, the row count and the sidecars, before the replay
    pols = list(policies) or list(DEFAULT_POLICIES)
    show = not quiet and sys.stderr.isatty()
    if show:
        with Progress(TextColumn("replaying"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                      TimeRemainingColumn(), console=Console(stderr=True),
                      transient=True) as bar:
            task = bar.add_task("replay", total=tr.num_accesses)
            results = simulate(tr, cfg, pols, chunk_rows=chunk_rows,
                               progress=lambda n: bar.update(task, completed=n), **kw)
    else:
        results = simulate(tr, cfg, pols, chunk_rows=chunk_rows, **kw)
    doc = run_document(tr, results)
    if json_out:
        write_json_atomic(json_out, doc, inputs=inputs)
    if not quiet:
        console = Console()
        console.print(results_table(doc))
        killed = [r["policy"] for r in results if r["derived"].get("oom_killed")]
        if killed:
            console.print(f"OOM killed under {', '.join(killed)}: the memcg could not make "
                          "room (on cgroup v2 its own zswap pool is charged to it). See "
                          "--zswap-shrinker, --zswap-max, --memory-limit, or --oom continue "
                          "to replay on.", style="red", highlight=False)
