"""Kernel counters around a replay, in the same shape as the simulator's results.

Sources, per counter (memcg v1's memory.stat has only a few event counters):
- memcg memory.stat (only the replayer is charged there): pgfault,
  pgmajfault, workingset_refault_anon.
- /proc/vmstat (global; the snapshots are taken right around the replay,
  and validate owns the only swap device, so swap counters are the
  replayer's): pswpin, pswpout, zswpin, zswpout, zswpwb, swpin_zero,
  swpout_zero, thp_swpout, workingset_activate/restore_anon, pgscan/pgsteal
  (anon + file: only limited memcgs reclaim on this machine) ... .
  pgactivate, pgdeactivate and pgrotated also count every other process's
  file pages: they go to ``derived["global_shared"]``, not compared.
- hugepages-<N>kB/stats/ (global per size: nothing else uses mTHP sizes
  that validate turns on only for the replayer's MADV_HUGEPAGE region).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from replay.live.paths import KernelPaths
from replay.live.runner import LiveError

MEMCG_V1_EVENTS = ("pgfault", "pgmajfault", "workingset_refault_anon")
VMSTAT_EVENTS = (
    "pgfault", "pgmajfault", "pswpin", "pswpout", "zswpin", "zswpout", "zswpwb",
    "swpin_zero", "swpout_zero", "thp_swpout", "thp_swpout_fallback",
    "workingset_refault_anon", "workingset_activate_anon", "workingset_restore_anon",
    "pgactivate", "pgdeactivate", "pgrotated", "swap_ra", "swap_ra_hit",
    "thp_split_page", "thp_deferred_split_page", "oom_kill",
    "pgscan_anon", "pgscan_file", "pgsteal_anon", "pgsteal_file",
    "pgscan_direct", "pgsteal_direct", "pgscan_kswapd", "pgsteal_kswapd",
)
MTHP_GAUGES = ("nr_anon", "nr_anon_partially_mapped")
RECLAIM_SPLIT = ("pgscan_anon", "pgscan_file", "pgsteal_anon", "pgsteal_file",
                 "pgscan_direct", "pgsteal_direct", "pgscan_kswapd", "pgsteal_kswapd")
# global LRU events every process's file pages feed: not the replayer's, not compared
GLOBAL_SHARED = ("pgactivate", "pgdeactivate", "pgrotated")


def read_kv(path: Path) -> dict[str, int]:
    """'name value' lines (vmstat, memory.stat, mm_stat-like) as ints."""
    out = {}
    try:
        text = path.read_text()
    except OSError as e:
        raise LiveError(f"{path}: cannot read ({e.strerror})") from None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def read_mthp_stats(paths: KernelPaths, size_kb: int) -> dict[str, int]:
    stats = paths.mthp(size_kb) / "stats"
    out = {}
    if stats.is_dir():
        for f in sorted(stats.iterdir()):
            try:
                out[f.name] = int(f.read_text().strip())
            except (OSError, ValueError):
                continue
    return out


ZRAM_MM_STAT = ("orig_data_size", "compr_data_size", "mem_used_total", "mem_limit",
                "mem_used_max", "same_pages", "pages_compacted", "huge_pages",
                "huge_pages_since")


def read_zram_mm_stat(zram: Path) -> dict[str, int]:
    try:
        values = [int(v) for v in (zram / "mm_stat").read_text().split()]
    except (OSError, ValueError):
        return {}
    return dict(zip(ZRAM_MM_STAT, values))


@dataclass
class Snapshot:
    """All counters at one instant."""

    time_ns: int
    memcg: dict[str, int]
    vmstat: dict[str, int]
    mthp: dict[int, dict[str, int]] = field(default_factory=dict)


def snapshot(paths: KernelPaths, memcg: Path, sizes_kb: tuple[int, ...]) -> Snapshot:
    return Snapshot(time_ns=time.monotonic_ns(),
                    memcg=read_kv(memcg / "memory.stat"),
                    vmstat=read_kv(paths.proc_vmstat),
                    mthp={s: read_mthp_stats(paths, s) for s in sizes_kb})


def _delta(a: dict[str, int], b: dict[str, int], names) -> dict[str, int]:
    return {n: b[n] - a[n] for n in names if n in a and n in b}


def swap_ins(c: dict) -> int:
    """Pages swapped in: from zswap, from the device, and zero-filled ones."""
    return c.get("zswpin", 0) + c.get("pswpin", 0) + c.get("swpin_zero", 0)


def swap_outs(c: dict) -> int:
    """Pages swapped out once each (zswap writeback re-counts a page in pswpout)."""
    return (c.get("zswpout", 0) + c.get("pswpout", 0) - c.get("zswpwb", 0)
            + c.get("swpout_zero", 0))


def kernel_result(before: Snapshot, after: Snapshot, *, sizes_kb: tuple[int, ...],
                  config: dict, run: dict, extra_derived: dict | None = None) -> dict:
    """The kernel's counters of one run, shaped like one simulator result."""
    vm = _delta(before.vmstat, after.vmstat, VMSTAT_EVENTS)
    memcg = _delta(before.memcg, after.memcg, MEMCG_V1_EVENTS)
    counters = {k: v for k, v in vm.items() if k not in RECLAIM_SPLIT + GLOBAL_SHARED}
    counters.update(memcg)          # per-memcg beats global where memcg v1 has it
    counters["pgscan"] = vm.get("pgscan_anon", 0) + vm.get("pgscan_file", 0)
    counters["pgsteal"] = vm.get("pgsteal_anon", 0) + vm.get("pgsteal_file", 0)
    per_size = {}
    gauges = {}
    for s in sizes_kb:
        a, b = before.mthp.get(s, {}), after.mthp.get(s, {})
        names = [n for n in b if n not in MTHP_GAUGES and not n.startswith("shmem_")]
        per_size[f"{s}kB"] = _delta(a, b, names)
        gauges[f"{s}kB"] = {n: b[n] for n in MTHP_GAUGES if n in b}
    derived = {
        "swap_ins": swap_ins(counters),
        "swap_outs": swap_outs(counters),
        "global": {k: v for k, v in vm.items() if k in MEMCG_V1_EVENTS},
        "reclaim_split": {k: vm[k] for k in RECLAIM_SPLIT if k in vm},
        "global_shared": {k: vm[k] for k in GLOBAL_SHARED if k in vm},
        "mthp_gauges_after": gauges,
        "snapshot_gap_ns": after.time_ns - before.time_ns,
    }
    if extra_derived:
        derived.update(extra_derived)
    return {"policy": "kernel", "config": config, "counters": counters,
            "per_size": per_size, "derived": derived, "run": run}
