"""The cases of the golden-result test (tests/test_golden_results.py) and how to run them.

Traces: the bundled recorded trace and the test suite's generated traces (the same
parameters as tests/conftest.py). Settings: the README's quick start, and the
settings matrix of the invariants test on a 4 MiB memcg.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from replay.engine import simulate
from replay.model.config import ModelConfig
from replay.trace import TraceMeta, write_trace

REPO = Path(__file__).resolve().parent.parent
POLICIES = ("order0-fallback", "mainline", "full-zswap", "hybrid-rejected",
            "locality-admitted", "hybrid-supported")
GENERATED = {
    "seq": ("seq", {"accesses": 20_000, "pages": 3_000, "seed": 3}),
    "zipf": ("zipf", {"accesses": 30_000, "pages": 6_000, "seed": 5}),
    "swapin": ("swapin-1g", {"size_bytes": 8 << 20, "seed": 7}),
    "phases": ("phases", {"accesses": 20_000, "pages": 4_000, "seed": 9, "hugepage": False}),
}
SETTINGS = {
    # a 4 MiB cgroup v2 memcg fills with its own zswap pool and, in v6.18, with the pages
    # read ahead from zswap that reclaim can only activate: the first OOM kill ends it
    # (oom=continue would force every later charge through reclaim's retries)
    "default": {"oom": "kill"},
    "v1": {"memcg": "v1"},
    "shrinker": {"zswap_shrinker": True},
    "tight-pool-writeback": {"zswap_max_pool_bytes": 256 << 10},
    "zram-never-enabled": {"backend": "zram", "zswap_ever_enabled": False},
    "disk-rotational": {"backend": "disk", "rotational": True},
    "small-swap": {"swap_bytes": 8 << 20, "mthp_sizes_kb": (16, 64), "memcg": "v1"},
    "swapfile-rotational": {"swap_device": "file", "rotational": True, "memcg": "v1",
                            "first_read": "allocate", "oom": "kill"},
    "exact-lru": {"reclaim": "exact-lru", "first_read": "allocate", "mthp_sizes_kb": (),
                  "backend": "zram", "page_cluster": 0},
}
KVSCAN = {
    # the README's quick start
    "readme": ({"memory_limit_bytes": 24 << 20, "memcg": "v1", "hugepage_default": True}, {}),
    "v2-zswap-max": ({"memory_limit_bytes": 24 << 20, "memcg_zswap_max_bytes": 12 << 20},
                     {"tlb": "arm64"}),
    "shrinker-unit64": ({"memory_limit_bytes": 24 << 20, "zswap_shrinker": True,
                         "oom": "continue"}, {"compression_unit_kb": 64}),
}
CASES = ([f"kvscan/{k}" for k in KVSCAN]
         + [f"{t}/{s}" for t in (*GENERATED, "mixed") for s in SETTINGS])


def make_traces(folder: Path) -> dict[str, Path]:
    """The traces of the cases, made in ``folder`` where missing."""
    from replay.gen import generate_to
    folder.mkdir(parents=True, exist_ok=True)
    out = {"kvscan": REPO / "traces" / "kvscan.parquet"}
    for name, (pattern, kw) in GENERATED.items():
        out[name] = folder / f"{name}.parquet"
        if not out[name].exists():
            generate_to(out[name], pattern, **kw)
    out["mixed"] = folder / "mixed.parquet"
    if not out["mixed"].exists():
        write_mixed_ops(out["mixed"])
    return out


def write_mixed_ops(path: Path) -> None:
    """Reads, writes, MADV_PAGEOUT and MADV_DONTNEED over three mappings (one with
    MADV_HUGEPAGE, one without, one not 64K aligned), in a second address space too."""
    rng = np.random.default_rng(11)
    base = 0x7F0000000
    n = 30_000
    lo = np.array([base, base + 1024, base + 2003])
    size = np.array([700, 301, 900])
    which = rng.choice(3, n, p=[0.5, 0.2, 0.3])
    jump = rng.random(n) < 0.05
    walk = np.cumsum(np.where(jump, rng.integers(0, 900, n), 1))
    vpn = lo[which] + walk % size[which]
    op = rng.choice(4, n, p=[0.55, 0.35, 0.06, 0.04]).astype(np.uint8)
    asid = (rng.random(n) < 0.15).astype(np.int32)
    regions = {"asid": np.r_[np.zeros(3, np.int32), np.ones(3, np.int32)],
               "start_vpn": np.r_[lo, lo], "end_vpn": np.r_[lo + size, lo + size],
               "hugepage": [True, False, True] * 2, "name": ["a", "b", "c"] * 2}
    contents = {"asid": [0, 0, 1], "vpn": [base, base + 1024, base], "npages": [700, 301, 700],
                "version": [0, 0, 0], "content_class": ["text", "zero", "random"]}
    write_trace(path, TraceMeta(source_format="test", description="mixed ops"),
                np.arange(n, dtype=np.int64), vpn, op, asid, regions=regions, contents=contents)


def run_case(traces: dict[str, Path], case: str) -> list[dict]:
    """The results of one case under every policy."""
    trace, setting = case.split("/")
    if trace == "kvscan":
        cfg, kw = KVSCAN[setting]
        return simulate(traces[trace], ModelConfig(**cfg), POLICIES, **kw)
    cfg = ModelConfig(memory_limit_bytes=4 << 20, **{"oom": "continue", **SETTINGS[setting]})
    return simulate(traces[trace], cfg, POLICIES)
