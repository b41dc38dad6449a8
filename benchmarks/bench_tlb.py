"""Nanoseconds per access of the TLB model alone, and per flush (prints a table).

1. ``access`` over a stream of page ids, in C (``replay._mm.TLB.access_many``), x86
   (zen4) and arm64 (neoverse-n2) presets, on three streams: sequential (each page
   touched 4 times in a row, then the next), uniform over 1 M pages, Zipf(1.2) over
   1 M pages; with 4 KiB folios (order 0) and 64 KiB folios (order 4); and the TLB with
   its 4K-only shadow (what the engine's exact shadow mode does per access).
2. ``flush_range``, ns per call: 20 000 ranges of 1, 16 and 32 pages at random starts,
   over a TLB whose L1 and L2 are full of 4K entries.

The TLB inside the engine is measured by benchmarks/bench_engine.py (section tlb). The
machine is shared and noisy: each figure is the best of --repeat runs; compare rows
within one run. Run: python benchmarks/bench_tlb.py [--accesses N] [--repeat R]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from replay.tlb import TLBConfig, make_tlb_state, tlb_access_many, tlb_counters


def streams(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    zipf = rng.zipf(1.2, n) % 1_000_000
    return {"sequential x4": np.repeat(np.arange(n // 4 + 1, dtype=np.int64), 4)[:n],
            "uniform 1M": rng.integers(0, 1_000_000, n, dtype=np.int64),
            "zipf(1.2) 1M": zipf.astype(np.int64)}


def best(fn, repeat: int) -> float:
    out = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accesses", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    rng = np.random.default_rng(1)
    rows = []
    for stream, pages in streams(a.accesses, rng).items():
        for preset in ("x86", "arm64"):
            cfg = TLBConfig.preset(preset)
            for order in (0, 4):
                orders = np.full(len(pages), order, np.int64)
                s = best(lambda cfg=cfg, pages=pages, orders=orders: tlb_access_many(
                    make_tlb_state(cfg), pages, orders), a.repeat)
                tlb = make_tlb_state(cfg)
                tlb_access_many(tlb, pages, orders)
                c = tlb_counters(tlb)
                rows.append((stream, preset, f"{4 << order}K", "TLB",
                             f"{s / len(pages) * 1e9:.1f}",
                             f"{1000 * c['walks'] / c['accesses']:.1f}"))
            zeros = np.zeros(len(pages), np.int64)
            orders = np.full(len(pages), 4, np.int64)

            def pair(cfg=cfg, pages=pages, orders=orders, zeros=zeros):
                tlb_access_many(make_tlb_state(cfg), pages, orders)
                tlb_access_many(make_tlb_state(cfg.shadow()), pages, zeros)
            s = best(pair, a.repeat)
            rows.append((stream, preset, "64K", "TLB + 4K shadow",
                         f"{s / len(pages) * 1e9:.1f}", ""))
    print(f"{'stream':14s} {'preset':6s} {'folio':5s} {'what':16s} {'ns/access':>9s} "
          f"{'walks/1000':>10s}")
    for r in rows:
        print(f"{r[0]:14s} {r[1]:6s} {r[2]:5s} {r[3]:16s} {r[4]:>9s} {r[5]:>10s}")
    print()
    for preset in ("x86", "arm64"):
        cfg = TLBConfig.preset(preset)
        for npages in (1, 16, 32):
            tlb = make_tlb_state(cfg)
            tlb_access_many(tlb, np.arange(200_000, dtype=np.int64),
                            np.zeros(200_000, np.int64))
            starts = rng.integers(0, 1_000_000, 20_000)
            t = time.perf_counter()
            for p in starts.tolist():
                tlb.flush_range(p, npages)
            s = time.perf_counter() - t
            print(f"flush_range {npages:3d} pages, {preset:5s}: {s / len(starts) * 1e9:7.0f} ns "
                  "per call (a Python call included)")


if __name__ == "__main__":
    main()
