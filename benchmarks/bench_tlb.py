"""Per-access cost of the TLB model inside a compiled loop (prints accesses per second).

The engine's target is >= 20 M accesses/s including the TLB model, so the model
alone must be well above that. Compare rows within one run (the machine is noisy).
Run: python benchmarks/bench_tlb.py [--accesses N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numba import njit

from replay.tlb import (
    TLBConfig,
    make_tlb_state,
    tlb_access,
    tlb_access_pair,
    tlb_counters,
    tlb_flush_range,
)


@njit(cache=True)
def _loop_empty(pages: np.ndarray, orders: np.ndarray) -> np.int64:
    acc = np.int64(0)
    for i in range(len(pages)):
        acc += pages[i] ^ orders[i]
    return acc


@njit(cache=True)
def _loop_tlb(s: np.ndarray, pages: np.ndarray, orders: np.ndarray) -> np.int64:
    acc = np.int64(0)
    for i in range(len(pages)):
        acc += tlb_access(s, pages[i], orders[i])
    return acc


@njit(cache=True)
def _loop_pair(s: np.ndarray, shadow: np.ndarray, pages: np.ndarray,
               orders: np.ndarray) -> np.int64:
    acc = np.int64(0)
    for i in range(len(pages)):
        acc += tlb_access_pair(s, shadow, pages[i], orders[i])
    return acc


@njit(cache=True)
def _loop_flushing(s: np.ndarray, pages: np.ndarray, orders: np.ndarray) -> np.int64:
    """Every 1000th access unmaps a 64 KiB range first (a swap-out every 1000 accesses)."""
    acc = np.int64(0)
    for i in range(len(pages)):
        if i % 1000 == 999:
            tlb_flush_range(s, pages[i] & ~np.int64(15), 16)
        acc += tlb_access(s, pages[i], orders[i])
    return acc


def streams(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    npages = 1 << 20
    ranks = rng.zipf(1.2, n) % npages
    perm = rng.permutation(npages)
    return {
        "sequential (8 accesses per page)": np.arange(n, dtype=np.int64) // 8 % npages,
        "zipf(1.2) over 1M pages": perm[ranks].astype(np.int64),
        "uniform over 1M pages": rng.integers(0, npages, n, dtype=np.int64),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accesses", type=int, default=10_000_000)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    n = args.accesses
    # compile (or load from the numba cache) every loop before timing anything
    warm = np.arange(1000, dtype=np.int64)
    for cfg in (TLBConfig.preset("x86"), TLBConfig.preset("arm64")):
        _loop_empty(warm, warm)
        _loop_tlb(make_tlb_state(cfg), warm, warm & 7)
        _loop_pair(make_tlb_state(cfg), make_tlb_state(cfg.shadow()), warm, warm & 7)
        _loop_flushing(make_tlb_state(cfg), warm, warm & 7)
    for name, pages in streams(n, rng).items():
        for order_name, order in (("4K folios", 0), ("64K folios", 4)):
            orders = np.full(n, order, np.int64)
            print(f"{name}, {order_name}:")
            t = time.perf_counter()
            _loop_empty(pages, orders)
            base = time.perf_counter() - t
            print(f"  empty loop               {n / base / 1e6:8.1f} M accesses/s")
            for preset in ("x86", "arm64"):
                cfg = TLBConfig.preset(preset)
                s = make_tlb_state(cfg)
                t = time.perf_counter()
                _loop_tlb(s, pages, orders)
                dt = time.perf_counter() - t
                c = tlb_counters(s)
                print(f"  {preset:6s} tlb_access        {n / dt / 1e6:8.1f} M accesses/s   "
                      f"({dt / n * 1e9:5.1f} ns each; walks {c['walks'] / n:.3f}, "
                      f"L2 hits {c['l2_hits'] / n:.3f} per access)")
                s, sh = make_tlb_state(cfg), make_tlb_state(cfg.shadow())
                t = time.perf_counter()
                _loop_pair(s, sh, pages, orders)
                dt = time.perf_counter() - t
                print(f"  {preset:6s} + 4K shadow       {n / dt / 1e6:8.1f} M accesses/s")
            s = make_tlb_state(TLBConfig.preset("x86"))
            t = time.perf_counter()
            _loop_flushing(s, pages, orders)
            dt = time.perf_counter() - t
            print(f"  x86    with 64K flushes   {n / dt / 1e6:8.1f} M accesses/s")


if __name__ == "__main__":
    main()
