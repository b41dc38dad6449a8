"""Nanoseconds per access of the TLB model, alone and inside the engine (prints a table).

1. ``tlb_access`` alone in a compiled loop (the loop's own cost subtracted), x86 (zen4)
   and arm64 (neoverse-n2) presets, on three streams of page ids: sequential (each page
   touched 4 times in a row, then the next), uniform over 1 M pages, Zipf(1.2) over
   1 M pages; with 4 KiB folios (order 0) and 64 KiB folios (order 4); then the TLB and
   its 4K-only shadow together (what the engine's exact shadow mode does per access).
2. ``tlb_flush_range``, ns per call: 20 000 ranges of 1, 16 and 32 pages (x86 flushes
   everything above 33 pages, arm64 above 512) and 512 pages on arm64, at random
   starts over the pages of a fill that left L1 and L2 full of 4K entries.
3. The engine on traces/kvscan.parquet (2.8 M accesses) with a memory limit that holds
   everything (8 GiB, 64K mTHP, zswap), one policy, timeline off: engine seconds with no
   TLB model, the x86 TLB without its shadow, and with the exact 4K-only shadow; the ns
   per access the TLB adds. Target: TLB + exact shadow <= 8 ns per access (>= 60 M/s).

The machine is shared and noisy: each figure is the best of --repeat runs; compare rows
within one run. Run: python benchmarks/bench_tlb_speed.py [--accesses N] [--repeat R]
[--skip-engine]. The loops below are cached by numba keyed on this file only: after an
edit of replay/tlb.py, clear their cache (benchmarks/__pycache__, or NUMBA_CACHE_DIR).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from numba import njit

from replay.tlb import TLBConfig, make_tlb_state, tlb_access, tlb_flush_range

TRACE = Path(__file__).resolve().parents[1] / "traces" / "kvscan.parquet"
NPAGES = 1 << 20


@njit(cache=True)
def _loop_empty(pages: np.ndarray, order: np.int64) -> np.int64:
    acc = np.int64(0)
    for i in range(len(pages)):
        acc += pages[i] ^ order
    return acc


@njit(cache=True)
def _loop_tlb(s: np.ndarray, pages: np.ndarray, order: np.int64) -> np.int64:
    acc = np.int64(0)
    for i in range(len(pages)):
        acc += tlb_access(s, pages[i], order)
    return acc


@njit(cache=True)
def _loop_tlb_shadow(s: np.ndarray, shadow: np.ndarray, pages: np.ndarray,
                     order: np.int64) -> np.int64:
    acc = np.int64(0)
    for i in range(len(pages)):
        acc += tlb_access(s, pages[i], order)
        acc += tlb_access(shadow, pages[i], 0)
    return acc


@njit(cache=True)
def _loop_flush(s: np.ndarray, starts: np.ndarray, npages: np.int64) -> None:
    for i in range(len(starts)):
        tlb_flush_range(s, starts[i], npages)


@njit(cache=True)
def _loop_fill(s: np.ndarray, first: np.int64, n: np.int64) -> None:
    for p in range(first, first + n):
        tlb_access(s, p, 0)


def best(fn, repeat: int, *args) -> float:
    """Fewest seconds ``fn(*args)`` took in ``repeat`` runs."""
    out = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        out = min(out, time.perf_counter() - t)
    return out


def _tlb_alone(cfg: TLBConfig, pages: np.ndarray, order: int) -> None:
    _loop_tlb(make_tlb_state(cfg), pages, order)


def _tlb_and_shadow(cfg: TLBConfig, pages: np.ndarray, order: int) -> None:
    _loop_tlb_shadow(make_tlb_state(cfg), make_tlb_state(cfg.shadow()), pages, order)


def _flush_warm(cfg: TLBConfig, starts: np.ndarray, npages: int) -> float:
    """Seconds of the flushes alone, on a TLB first filled with 4K entries."""
    s = make_tlb_state(cfg)
    _loop_fill(s, 0, 4 * cfg.l2_entries)
    t = time.perf_counter()
    _loop_flush(s, starts, npages)
    return time.perf_counter() - t


def streams(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    perm = rng.permutation(NPAGES).astype(np.int64)
    return {
        "sequential x4": np.arange(n, dtype=np.int64) // 4 % NPAGES,
        "uniform 1M pages": rng.integers(0, NPAGES, n, dtype=np.int64),
        "zipf(1.2) 1M pages": perm[(rng.zipf(1.2, n) - 1) % NPAGES],
    }


def bench_streams(n: int, repeat: int) -> None:
    print(f"1. tlb_access alone, ns per access (best of {repeat}, {n / 1e6:.0f} M accesses,"
          " empty loop subtracted)")
    presets = ("x86", "arm64")
    cols = [f"{p} o{o}" for p in presets for o in (0, 4)]
    print(f"   {'stream':22s}" + "".join(f"{c:>10s}" for c in cols)
          + "".join(f"{c + '+sh':>12s}" for c in cols))
    warm = np.arange(1000, dtype=np.int64)
    for p in presets:
        cfg = TLBConfig.preset(p)
        _loop_empty(warm, 0)
        _loop_tlb(make_tlb_state(cfg), warm, 0)
        _loop_tlb_shadow(make_tlb_state(cfg), make_tlb_state(cfg.shadow()), warm, 0)
    for name, pages in streams(n, np.random.default_rng(1)).items():
        empty = best(_loop_empty, repeat, pages, 0)
        alone, paired = [], []
        for p in presets:
            cfg = TLBConfig.preset(p)
            for order in (0, 4):
                alone.append((best(_tlb_alone, repeat, cfg, pages, order) - empty) / n * 1e9)
                paired.append((best(_tlb_and_shadow, repeat, cfg, pages, order) - empty)
                              / n * 1e9)
        print(f"   {name:22s}" + "".join(f"{x:10.2f}" for x in alone)
              + "".join(f"{x:12.2f}" for x in paired))


def bench_flush(calls: int, repeat: int) -> None:
    print(f"2. tlb_flush_range from a TLB full of 4K entries, ns per call (best of {repeat})")
    rng = np.random.default_rng(2)
    for p, sizes in (("x86", (1, 16, 32)), ("arm64", (1, 16, 32, 512))):
        cfg = TLBConfig.preset(p)
        row = []
        for npages in sizes:
            # ranges over the pages the fill touched, so some entries really drop
            starts = rng.integers(0, 4 * cfg.l2_entries, calls).astype(np.int64)
            _loop_flush(make_tlb_state(cfg), starts[:10], npages)
            dt = min(_flush_warm(cfg, starts, npages) for _ in range(repeat))
            row.append(f"{npages:4d} pages {dt / calls * 1e9:8.1f}")
        print(f"   {p:6s} " + "   ".join(row))


def bench_engine(repeat: int) -> None:
    from replay.engine import simulate
    from replay.model.config import ModelConfig
    from replay.trace import open_trace

    cfg = ModelConfig(memory_limit_bytes=8 << 30, mthp_sizes_kb=(64,), backend="zswap")
    n = open_trace(TRACE).num_accesses
    runs = (("no TLB model", None, "off"), ("x86, shadow off", "x86", "off"),
            ("x86, exact shadow", "x86", "exact"))
    print(f"3. engine on {TRACE.name} ({n / 1e6:.2f} M accesses, 8G limit, 64K mTHP, zswap), "
          f"best of {repeat} engine_seconds")
    secs = {}
    for label, tlb, shadow in runs:
        simulate(str(TRACE), cfg, ["order0-fallback"], tlb=tlb, tlb_shadow=shadow,
                 timeline=False)                                    # compile / load cache
        out = float("inf")
        for _ in range(repeat):
            r = simulate(str(TRACE), cfg, ["order0-fallback"], tlb=tlb, tlb_shadow=shadow,
                         timeline=False)[0]
            out = min(out, r["run"]["engine_seconds"])
        secs[label] = out
    base = secs["no TLB model"]
    for label, _, _ in runs:
        dt = secs[label]
        extra = (dt - base) / n * 1e9
        print(f"   {label:18s} {n / dt / 1e6:8.1f} M accesses/s   {dt / n * 1e9:6.2f} ns each"
              f"   TLB adds {extra:6.2f} ns")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accesses", type=int, default=4_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-engine", action="store_true")
    args = ap.parse_args()
    bench_streams(args.accesses, args.repeat)
    bench_flush(20_000, args.repeat)
    if not args.skip_engine:
        bench_engine(args.repeat)


if __name__ == "__main__":
    main()
