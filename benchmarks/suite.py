"""asv benchmarks: costs to track over commits (lower is better for every figure).

Run with `asv run --environment existing` (see asv.conf.json). The scripts
bench_*.py beside this file print one-off comparisons with peers; this suite
tracks the project's own figures: replay speed, import speed, and the
counters a policy produces on the bundled trace (a change in the model shows
up as a step in these).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import ClassVar

import numpy as np

from replay.engine import simulate
from replay.gen import generate_to
from replay.model.config import ModelConfig
from replay.trace import open_trace

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "traces" / "kvscan.parquet"
POLICIES = ["order0-fallback", "full-zswap", "hybrid-rejected", "locality-admitted",
            "hybrid-supported"]


def _zipf_trace(accesses: int) -> Path:
    cache = Path(tempfile.gettempdir()) / f"folio-replay-asv-zipf-{accesses}.parquet"
    if not cache.exists():
        generate_to(cache, "zipf", accesses=accesses, pages=200_000, seed=7)
    return cache


class ReplaySpeed:
    """Engine time per access on a 2 M-access Zipf trace (ns per access)."""

    params: ClassVar[list] = [["exact-lru", "linux"]]
    param_names: ClassVar[list] = ["reclaim"]
    timeout = 600

    def setup(self, reclaim):
        self.trace = open_trace(_zipf_trace(2_000_000))
        self.cfg = ModelConfig(memory_limit_bytes=256 << 20, reclaim=reclaim,
                               mthp_sizes_kb=() if reclaim == "exact-lru" else (64,),
                               backend="zram" if reclaim == "exact-lru" else "zswap",
                               first_read="allocate", page_cluster=0, memcg="v1")
        simulate(self.trace, self.cfg, ["order0-fallback"])    # compile / warm caches

    def track_engine_ns_per_access(self, reclaim):
        r = simulate(self.trace, self.cfg, ["order0-fallback"])[0]
        return 1e9 * r["run"]["engine_seconds"] / r["derived"]["accesses"]

    track_engine_ns_per_access.unit = "ns"


class BundledTraceCounters:
    """What each policy does to the bundled real trace (24M memcg, 64K mTHP, zswap)."""

    params: ClassVar[list] = [POLICIES]
    param_names: ClassVar[list] = ["policy"]
    timeout = 600

    def setup_cache(self):
        cfg = ModelConfig(memory_limit_bytes=24 << 20, mthp_sizes_kb=(64,), memcg="v1")
        return {r["policy"]: r for r in simulate(open_trace(BUNDLED), cfg, POLICIES)}

    def track_pgmajfault(self, results, policy):
        return results[policy]["counters"]["pgmajfault"]

    def track_swapin_pages_unused(self, results, policy):
        return results[policy]["derived"]["swapin_pages_unused_reclaimed"]

    def track_zswpin(self, results, policy):
        return results[policy]["counters"]["zswpin"]


class ImportSpeed:
    """Import time per line of a 1 M-line lackey file (ns per line)."""

    timeout = 300

    def setup(self):
        self.dir = tempfile.mkdtemp()
        self.src = os.path.join(self.dir, "t.lackey")
        rng = np.random.default_rng(1)
        addrs = 0x4000000 + rng.integers(0, 1 << 26, 1_000_000)
        kinds = np.array([" L ", " S ", " M "])[rng.integers(0, 3, 1_000_000)]
        with open(self.src, "w") as f:
            f.writelines(f"{k}{a:08x},8\n" for k, a in zip(kinds, addrs))

    def teardown(self):
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)

    def time_import_lackey(self):
        from replay.importers import run_import
        run_import("lackey", self.src, os.path.join(self.dir, "out.parquet"), {})
