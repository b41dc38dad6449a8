"""What `replay run` and `replay compare` share: the settings options, their parsing into a
ModelConfig and simulate() arguments, memory limits relative to a trace's footprint, the
policy list, and checks of output paths made before any replay starts."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import click

from replay.errors import SettingsError
from replay.model.config import (
    BACKENDS,
    FIRST_READ,
    MEMCG_VERSIONS,
    OOM_MODES,
    RECLAIM_MODES,
    ModelConfig,
)
from replay.trace import PAGE_SIZE
from replay.units import format_size, parse_size

DEFAULT_MEMORY_LIMIT = "50%"
MIN_MEMORY_LIMIT = 1 << 20          # ModelConfig.validate's floor


# ---------------------------------------------------------------- memory limits


@dataclass(frozen=True)
class MemoryLimit:
    """A --memory-limit as given: a size, or a percent of the trace's footprint."""

    text: str
    percent: float | None = None
    size_bytes: int | None = None

    def bytes_for(self, footprint_bytes: int) -> int:
        """The limit in bytes: a percent of the footprint in whole pages, at least the
        model's floor of 1 MiB (a smaller trace's replay then says nothing is reclaimed)."""
        if self.size_bytes is not None:
            return self.size_bytes
        limit = int(footprint_bytes * self.percent / 100) // PAGE_SIZE * PAGE_SIZE
        return max(limit, MIN_MEMORY_LIMIT)


def parse_memory_limit(text: str) -> MemoryLimit:
    """'50%' (of the footprint) or a size ('24M', '1G', '4096')."""
    t = str(text).strip()
    if t.endswith("%"):
        try:
            pct = float(t[:-1])
        except ValueError:
            raise SettingsError(f"--memory-limit {text!r} is not a percent like 50% "
                                "or a size like 64M") from None
        if not 0 < pct < float("inf"):
            raise SettingsError(f"--memory-limit {text!r} must be above 0%")
        return MemoryLimit(t, percent=pct)
    size = parse_size(t, "--memory-limit")
    if size < MIN_MEMORY_LIMIT:
        raise SettingsError(f"--memory-limit {text!r} is below 1 MiB")
    return MemoryLimit(t, size_bytes=size)


# ---------------------------------------------------------------- policies


def resolve_policies(given: tuple[str, ...] | list[str]) -> list[str]:
    """Policy names to replay: every available one when none (or 'all') is given; each
    name once (a second mention is refused, not replayed twice)."""
    from replay.policies import available
    known = list(available())
    if not given:
        return known
    out: list[str] = []
    for name in given:
        names = known if name == "all" else [name]
        for n in names:
            if n not in known:
                raise SettingsError(f"unknown policy {n!r}; `replay policies` lists "
                                    f"{', '.join(known)} (or all)")
            if n in out:
                raise SettingsError(f"--policy {n} is given twice"
                                    + (" (all includes it)" if "all" in given else ""))
            out.append(n)
    return out


# ---------------------------------------------------------------- settings


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


def config_from_options(o: dict, memory_limit_bytes: int) -> ModelConfig:
    """The ModelConfig of the settings options (the memory limit resolved by the caller)."""
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
        memory_limit_bytes=memory_limit_bytes,
        mthp_sizes_kb=parse_mthp(o["mthp"]), thp_enabled=o["thp"], backend=o["backend"],
        swap_device=o.get("swap_device"),
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
    """simulate() keyword arguments from the cost, TLB and timeline options (not threads)."""
    unit = parse_size(o["compression_unit"], "--compression-unit")
    if unit not in (4 << 10, 16 << 10, 64 << 10):
        raise SettingsError(f"--compression-unit {o['compression_unit']!r} is not 4K, 16K "
                            "or 64K")
    accesses, ns = parse_window(o["timeline_window"])
    if str(o["tlb"]).lower() not in ("none", "off"):
        from replay.tlb import TLBConfig
        TLBConfig.preset(str(o["tlb"]).lower())          # an unknown preset: one line, now
    from replay.costs.model import CostModel
    CostModel.load(o["cost_model"])      # read and checked before the replay (simulate and
    # the worker processes load it again by path: a path pickles and keys a sweep's runs)
    return {"cost_model": o["cost_model"], "device": o["device_costs"],
            "compression_unit_kb": unit // 1024, "tlb": o["tlb"], "tlb_shadow": o["tlb_shadow"],
            "timeline_accesses": accesses, "timeline_ns": ns}


def progress_chunk_rows(accesses: int) -> int:
    """Chunk size for a replay with a progress bar: about 64 updates, 64K..1M rows (the
    chunk size changes no result)."""
    rows = 1 << 16
    while rows < (1 << 20) and rows * 64 < accesses:
        rows <<= 1
    return rows


# ---------------------------------------------------------------- options

_SETTINGS = [
    click.option("--mthp", default="64K", show_default=True,
                 help="Enabled mTHP sizes, e.g. 16K,32K,64K, or none."),
    click.option("--thp", type=click.Choice(["always", "madvise"]), default="always",
                 show_default=True,
                 help="Those sizes 'always', or only in MADV_HUGEPAGE regions."),
    click.option("--hugepage-default/--no-hugepage-default", default=False, show_default=True,
                 help="Take mappings without a regions sidecar as MADV_HUGEPAGE (with "
                 "defrag=madvise only those reclaim to charge a large folio)."),
    click.option("--backend", type=click.Choice(BACKENDS), default="zswap", show_default=True),
    click.option("--swap-device", type=click.Choice(["partition", "loop", "file"]),
                 default=None,
                 help="What zswap or disk swaps to: a partition or loop device (block devices: "
                 "large folios swap out whole), or a swapfile on a file system (v6.18 gives it "
                 "no large swap slots: every large folio is split at swap-out) [default: "
                 "partition; zram is its own device]."),
    click.option("--compressor", default="lz4", show_default=True,
                 help="Codec for page sizes: lz4, zstd, zstd-N, lzo, deflate."),
    click.option("--zswap-max-pool", default=None,
                 help="zswap pool limit: a size (e.g. 256M) or a percent of --ram "
                 "(default 20%)."),
    click.option("--ram", default="24G", show_default=True, help="RAM for max_pool_percent."),
    click.option("--swap-size", default="8G", show_default=True, help="Swap device size."),
    click.option("--page-cluster", default=3, show_default=True, type=click.IntRange(0, 31)),
    click.option("--rotational/--no-rotational", default=False, show_default=True,
                 help="Rotational swap device (cluster readahead instead of VMA readahead)."),
    click.option("--reclaim", type=click.Choice(RECLAIM_MODES), default="linux",
                 show_default=True),
    click.option("--memcg", type=click.Choice(MEMCG_VERSIONS), default="v2", show_default=True,
                 help="v2 charges the zswap pool to the memcg; v1 does not."),
    click.option("--zswap-max", default=None,
                 help="cgroup v2 memory.zswap.max of the memcg (a size, or max)."),
    click.option("--zswap-writeback/--no-zswap-writeback", default=True, show_default=True,
                 help="cgroup v2 memory.zswap.writeback: may zswap write entries back."),
    click.option("--zswap-shrinker/--no-zswap-shrinker", default=True, show_default=True,
                 help="zswap.shrinker_enabled: memcg reclaim writes zswap entries back "
                 "(cgroup v2; v1 charges no zswap statistics to the memcg, so it never does). "
                 "The kernel's default is off; without it a cgroup v2 memcg fills with its "
                 "own zswap pool and is OOM-killed."),
    click.option("--first-read", type=click.Choice(FIRST_READ), default="zero-page",
                 show_default=True),
    click.option("--charge-guard", is_flag=True,
                 help="Barry Song's memcg charge-margin guard, for every policy of the run."),
    click.option("--oom", type=click.Choice(OOM_MODES), default="kill", show_default=True,
                 help="When the memcg cannot make room: the OOM kill ends that policy's "
                 "replay (as the kernel kills the workload), or the charge is forced and it "
                 "goes on."),
    click.option("--zswap-never-enabled", is_flag=True,
                 help="For the mainline policy: zswap's static key was never set since boot."),
    click.option("--cost-model", type=click.Path(dir_okay=False), default=None,
                 help="Cost model JSON (replay calibrate -o); default: the shipped one."),
    click.option("--device-costs", type=click.Choice(["nvme", "hdd"]), default=None,
                 help="Swap device latency and bandwidth [default: hdd with --rotational, "
                 "else nvme]."),
    click.option("--compression-unit", default="4K", show_default=True,
                 help="Compression unit: 4K (zswap, zram today), or 16K or 64K units of large "
                 "folios (the zsmalloc multi-page RFC; a partial read decompresses the unit)."),
    click.option("--tlb", default="x86", show_default=True,
                 help="TLB model: x86, arm64, none, or a preset (zen2, zen4, neoverse-n1, "
                 "neoverse-n2, neoverse-v2)."),
    click.option("--tlb-shadow", type=click.Choice(["exact", "shared", "off"]),
                 default="exact", show_default=True,
                 help="4K-only baseline TLB for the cycles saved: one per policy (doubles the "
                 "TLB's cost), one shared by all policies (misses reclaim and copy-on-write "
                 "flushes), or none."),
    click.option("--timeline-window", default=None,
                 help="Timeline windows: N accesses, or a simulated time such as 10ms "
                 "[default: ~500 windows of accesses]."),
    click.option("--threads", default=None, type=click.IntRange(1),
                 help="Policies of one replay replayed side by side [default: one per CPU "
                 "left to the replay]."),
    click.option("--chunk-rows", default=None, type=click.IntRange(1), hidden=True),
]

POLICY_OPTION = click.option(
    "--policy", "policies", multiple=True, metavar="NAME|all",
    help="Swap-in policy (repeatable); all, or none given: every policy `replay policies` "
    "lists.")


def settings_options(f):
    """The model, cost, TLB and timeline settings, as options of a command."""
    for option in reversed(_SETTINGS):
        f = option(f)
    return POLICY_OPTION(f)


# ---------------------------------------------------------------- outputs


def check_output(path: str | os.PathLike, option: str,
                 suffixes: tuple[str, ...] | None = None, inputs=()) -> Path:
    """An output file we may write (replay.atomic.check_output: its folder exists and
    takes new files, it is absent or a regular file, it is none of ``inputs``), and its
    name ends as the option expects, when it says (so `--html kvscan` is not taken as a
    path)."""
    from replay.atomic import check_output as check_file
    p = Path(path).expanduser()
    if suffixes and not p.name.lower().endswith(suffixes):
        raise SettingsError(f"{option} {os.fspath(path)!r} does not end in "
                            f"{' or '.join(suffixes)}")
    check_file(p, inputs, f"{option} output")
    if p.exists() and not os.access(p, os.W_OK):
        raise SettingsError(f"{option}: file is not writable", path=p)
    return p


def wrote_trace_line(path: str | os.PathLike) -> str:
    """The line `gen` and `import` end with: what they wrote."""
    from replay.trace import open_trace
    tr = open_trace(path)
    sidecars = [what for what, p in (("page contents", tr.contents_path),
                                     ("regions", tr.regions_path)) if p.exists()]
    size = Path(path).stat().st_size
    return (f"wrote {os.fspath(path)}: {tr.num_accesses:,} accesses, "
            f"{format_size(size)}B on disk"
            + (f", with {' and '.join(sidecars)} sidecar{'s' if len(sidecars) > 1 else ''}"
               if sidecars else ", no sidecars (no page contents, no regions)"))
