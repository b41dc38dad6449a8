"""The published results a trace can express, replayed through the full model (prints figures).

1. Usama Arif's zswapin microbenchmark (``replay gen swapin-1g``: write a region,
   MADV_PAGEOUT all of it, read it back): time spent in swap-in faults per policy,
   with 1M and 64K mTHP, page-cluster 3 and 0 (no readahead). Published: 1M large
   swap-in 36% faster than order 0; order 0 without readahead 3% slower.
2. fujunjie's RFC v2 finding: on a sparse random trace the policies stay close.
3. Barry Song's multi-page compression: bytes and codec time per page with 4K,
   16K and 64K compression units (lz4 and zstd-3), and what it does to swap-in.
4. Speed of the full model with the TLB model (accesses per second), on the
   fault-bound microbenchmark, on a page-level random trace (every access a
   different page: a TLB miss each) and on a stream with locality (8 accesses
   per page, as instruction-level traces have).

Run: python benchmarks/bench_swapin_1g.py [--size 256M] [--quick]
Every figure comes from the shipped cost model and the measured codecs; the
machine is noisy (compare speeds within one run).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from replay.engine import simulate
from replay.gen import generate_to
from replay.model.config import ModelConfig
from replay.policies import DEFAULT_POLICIES
from replay.trace import TraceMeta, write_trace
from replay.units import format_size, parse_size


def pct(a: float, b: float) -> str:
    return f"{100.0 * (a / b - 1.0):+6.1f}%" if b else "   n/a"


def swapin_1g(path: Path, size: int) -> None:
    print(f"\n1. swapin microbenchmark, {format_size(size)}, zswap (lz4), memcg v1 "
          f"limit {format_size(2 * size)}: time inside swap-in faults")
    print(f"   {'mTHP':>5} {'pc':>2} {'policy':16} {'swapin ms':>10} {'ns/page':>8} "
          f"{'vs order0 pc3':>13} {'folios swapped in':28} {'TLB L2 miss/1000':>16}")
    for mthp in (1024, 64):
        base = None
        for pc in (3, 0):
            cfg = ModelConfig(memory_limit_bytes=2 * size, mthp_sizes_kb=(mthp,), memcg="v1",
                              page_cluster=pc)
            for r in simulate(path, cfg, ["order0-fallback", "full-zswap"]):
                t = r["time"]
                if base is None:
                    base = t["swapin_ns"]
                folios = ", ".join(f"{v}x{k}" for k, v in t["swapin_folios"].items())
                print(f"   {mthp:>4}K {pc:>2} {r['policy']:16} {t['swapin_ns'] / 1e6:10.1f} "
                      f"{t['swapin_ns_per_page']:8.0f} {pct(t['swapin_ns'], base):>13} "
                      f"{folios:28} {r['tlb']['misses_per_1000']['l2']:16.1f}")


def random_sparse(folder: Path, size: int, accesses: int) -> None:
    path = folder / "sparse.parquet"
    pages = size // 4096
    generate_to(path, "random", accesses=accesses, pages=pages, seed=3)
    cfg = ModelConfig(memory_limit_bytes=size // 2, mthp_sizes_kb=(64,), memcg="v1")
    print(f"\n2. sparse random: {accesses:,} accesses over {format_size(size)}, memcg v1 "
          f"limit {format_size(size // 2)}, 64K mTHP, zswap")
    print(f"   {'policy':18} {'total ms':>10} {'vs order0':>9} {'swapin ms':>10} {'vs order0':>9} "
          f"{'swapin pages':>12}")
    res = simulate(path, cfg, list(DEFAULT_POLICIES))
    b = res[0]["time"]
    for r in res:
        t = r["time"]
        print(f"   {r['policy']:18} {t['total_ns'] / 1e6:10.1f} {pct(t['total_ns'], b['total_ns']):>9} "
              f"{t['swapin_ns'] / 1e6:10.1f} {pct(t['swapin_ns'], b['swapin_ns']):>9} "
              f"{r['derived']['swapin_pages']:12,}")


def multi_page(path: Path, size: int, codecs: tuple[str, ...]) -> None:
    print(f"\n3. multi-page compression on the same data ({format_size(size)}, default content "
          "mix), full-zswap with 64K mTHP")
    print(f"   {'codec':7} {'unit':>4} {'stored MB':>9} {'comp ns/pg':>10} {'decomp ns/pg':>12} "
          f"{'peak pool MB':>12} {'swapin ms':>9}   order0-fallback swapin ms")
    for codec in codecs:
        for unit in (4, 16, 64):
            cfg = ModelConfig(memory_limit_bytes=2 * size, mthp_sizes_kb=(64,), memcg="v1",
                              page_cluster=0, compressor=codec)
            large, small = simulate(path, cfg, ["full-zswap", "order0-fallback"],
                                    compression_unit_kb=unit, tlb=None)
            c = large["compression"]
            part = c["per_unit"] if unit > 4 else c["per_page"]
            print(f"   {codec:7} {unit:>3}K {part['stored_bytes'] / 1e6:9.1f} "
                  f"{part['compress_ns_per_page']:10.0f} {part['decompress_ns_per_page']:12.0f} "
                  f"{large['derived']['peak_pool_bytes'] / 1e6:12.1f} "
                  f"{large['time']['swapin_ns'] / 1e6:9.1f}   "
                  f"{small['time']['swapin_ns'] / 1e6:9.1f}")


def locality_trace(path: Path, accesses: int, pages: int) -> None:
    """Runs of 8 accesses to a page, the pages walked in order, 30% writes."""
    base = 0x7F0000000
    rng = np.random.default_rng(1)
    vpn = base + (np.arange(accesses, dtype=np.int64) // 8) % pages
    op = (rng.random(accesses) < 0.3).astype(np.uint8)
    write_trace(path, TraceMeta(source_format="bench", time_source="recorded",
                                description="8 accesses per page, sequential"),
                np.arange(accesses, dtype=np.int64) * 10, vpn, op,
                regions={"asid": [0], "start_vpn": [base], "end_vpn": [base + pages],
                             "hugepage": [True], "name": ["a"]})


def speed(folder: Path, s1g: Path, size: int, accesses: int) -> None:
    loc = folder / "locality.parquet"
    locality_trace(loc, accesses, 16384)
    page_level = folder / "zipf.parquet"
    generate_to(page_level, "zipf", accesses=accesses, pages=16384, seed=2)
    print("\n4. full model speed, one policy (full-zswap), best of 3, M accesses/s")
    rows = [("swapin microbenchmark (fault-bound)", s1g,
             ModelConfig(memory_limit_bytes=2 * size, mthp_sizes_kb=(1024,), memcg="v1")),
            ("page-level zipf, in memory (a TLB miss per access)", page_level,
             ModelConfig(memory_limit_bytes=1 << 30)),
            ("8 accesses per page, in memory", loc,
             ModelConfig(memory_limit_bytes=1 << 30, first_read="allocate"))]
    setups = [("no TLB", {"tlb": None}), ("x86", {"tlb_shadow": "off"}),
              ("x86 + 4K shadow", {}), ("arm64", {"tlb": "arm64", "tlb_shadow": "off"}),
              ("arm64 + 4K shadow", {"tlb": "arm64"})]
    print(f"   {'trace':52}" + "".join(f"{name:>18}" for name, _ in setups))
    for label, path, cfg in rows:
        cells = []
        for _, kw in setups:
            best = float("inf")
            for _ in range(3):
                (r,) = simulate(path, cfg, ["full-zswap"], timeline=True, **kw)
                best = min(best, r["run"]["engine_seconds"])
            cells.append(r["derived"]["accesses"] / best / 1e6)
        print(f"   {label:52}" + "".join(f"{c:18.1f}" for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="256M", help="region of the swapin microbenchmark")
    ap.add_argument("--quick", action="store_true", help="32M region, fewer accesses")
    args = ap.parse_args()
    size = parse_size("32M" if args.quick else args.size)
    accesses = 500_000 if args.quick else 4_000_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        s1g = folder / "swapin.parquet"
        generate_to(s1g, "swapin-1g", size_bytes=size, seed=1)
        t = time.perf_counter()
        # a first small replay (codec caches, imports) before anything is timed
        simulate(s1g, ModelConfig(memory_limit_bytes=2 * size, mthp_sizes_kb=(64,)),
                 ["order0-fallback", "full-zswap"])
        print(f"warm-up {time.perf_counter() - t:.1f} s")
        swapin_1g(s1g, size)
        random_sparse(folder, size, accesses // 4)
        multi_page(s1g, size, ("lz4", "zstd-3"))
        speed(folder, s1g, size, accesses)


if __name__ == "__main__":
    main()
