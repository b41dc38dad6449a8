"""Codec ratios and speeds per content class, and the cost of sizing a 1M-page trace.

Prints, for every usable codec: compression ratio and us per 4 KiB page (and per
64 KiB unit) of each content class; then the time page_compressed_sizes takes on a
generated trace of 1 M dense pages (first call: generates and compresses; second:
cached). Compare rows within one run; the machine is noisy.
Run: python benchmarks/bench_codecs.py [--pages N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from replay.costs.calibrate import _time_call, python_call_ns
from replay.costs.codecs import available_codec_keys, get_codec
from replay.costs.content import class_page
from replay.costs.sizes import clear_cache, page_compressed_sizes
from replay.trace import PAGE_SIZE, TraceMeta, open_trace, write_trace

CLASSES = ("zero", "random", "text", "half", "mixed", "code")


def codec_table(samples: int) -> None:
    overhead = python_call_ns()
    print(f"python call overhead {overhead:.0f} ns (subtracted)")
    print(f"{'codec':8s} {'class':7s} {'ratio 4K':>9s} {'ratio 64K':>9s} {'comp us':>8s} "
          f"{'decomp us':>9s} {'comp us/64K':>11s} {'decomp us/64K':>13s}")
    for key in available_codec_keys():
        c = get_codec(key)
        for cls in CLASSES:
            pages = [class_page(cls, i) for i in range(samples * 16)]
            units = [b"".join(pages[i:i + 16]) for i in range(0, len(pages), 16)]
            r4 = len(pages) * PAGE_SIZE / sum(c.compressed_len(p) for p in pages)
            r64 = len(pages) * PAGE_SIZE / sum(c.compressed_len(u) for u in units)

            def t(bufs, c=c):
                comp = np.mean([_time_call(c.compress_call, b, 100_000, 3) for b in bufs])
                dec = np.mean([_time_call(c.decompressor(len(b)), c.compress_call(b), 100_000, 3)
                               for b in bufs])
                return (comp - overhead) / 1000, (dec - overhead) / 1000

            c4, d4 = t(pages[:samples])
            c64, d64 = t(units[:max(1, samples // 4)])
            print(f"{key:8s} {cls:7s} {r4:9.2f} {r64:9.2f} {c4:8.2f} {d4:9.2f} {c64:11.1f} "
                  f"{d64:13.1f}")


def sizing(pages: int) -> None:
    base = 0x7F0000000
    vpn = base + np.arange(0, pages, 64, dtype=np.int64)
    runs = np.arange(0, pages, 16)
    rng = np.random.default_rng(1)
    cls = rng.choice(len(CLASSES), len(runs), p=[0.1, 0.15, 0.3, 0.15, 0.2, 0.1])
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "big.parquet"
        write_trace(path, TraceMeta(), np.arange(len(vpn)), vpn, np.ones(len(vpn), np.uint8),
                    contents={"asid": np.zeros(len(runs), np.int32), "vpn": base + runs,
                              "npages": np.full(len(runs), 16),
                              "version": np.zeros(len(runs), np.int32),
                              "content_class": [CLASSES[i] for i in cls]})
        tr = open_trace(path)
        tr.block_table()
        for codec in ("lz4", "zstd-3"):
            for unit in (1, 16):
                clear_cache()
                t0 = time.perf_counter()
                ps = page_compressed_sizes(tr, codec, unit_pages=unit)
                t1 = time.perf_counter()
                page_compressed_sizes(tr, codec, unit_pages=unit)
                t2 = time.perf_counter()
                print(f"sizing {ps.num_pages:,} pages, {codec}, unit {unit:2d}: "
                      f"{t1 - t0:5.2f} s ({ps.distinct_compressed} distinct compressed), "
                      f"cached {t2 - t1:5.2f} s, ratio {ps.summary()['ratio']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=1 << 20)
    ap.add_argument("--samples", type=int, default=8)
    args = ap.parse_args()
    codec_table(args.samples)
    sizing(args.pages)


if __name__ == "__main__":
    main()
