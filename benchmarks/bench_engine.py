"""The replay engine's speed and memory against its targets, measured in one run (prints a table).

Every figure is measured here, in this run, on the same traces; the machine is
shared and noisy, so the targets that are ratios (hit path against a bare LRU,
exact-lru against libCacheSim, N cores against one, against an older build) are
the ones to trust. Sections (--skip to leave some out):

  start    `replay --help`; `replay run` of a 100k-access trace with every policy,
           both in a new process (median of 5)
  hits     the hit path: a Zipf trace over 1 M pages replayed twice in a memcg that
           holds it, the second pass (all hits), engine ns per access, against a bare
           LRU's second pass over the same ids (an int32 doubly linked list,
           replay._mm.lru_reference)
  faults   the order-0 fault path: Zipf(1.0) over 1 M pages, 64M cgroup v1 memcg,
           order0-fallback, TLB off: engine ns per fault (all-in, and less the hit
           cost per access); the full model with the TLB on, M accesses/s (and, with
           --baseline, against an older checkout on the same trace)
  tlb      the TLB model inside the engine: engine ns per access with the TLB (and its
           exact 4K-only shadow) on, less with it off, in a memcg that holds the trace
  lru      --reclaim exact-lru (zram, no mTHP, first read allocates, page-cluster 0,
           TLB off: the model is then a plain LRU) against libCacheSim's LRU, same
           capacities, misses compared
  cores    N policies on N cores (threads) against one policy on one
  memory   peak RSS of `replay run` on 5 M and 60 M accesses of one pattern; model
           bytes per touched page; peak RSS on a trace with one access in each of
           100,000 separate 2 MiB blocks

    python benchmarks/bench_engine.py [--quick] [--skip start,hits,...] [--baseline DIR]
                                      [--cache DIR]

--baseline DIR: a checkout (with its build, e.g. `pip install -e` or `python setup.py
build_ext --inplace` done there) whose engine is timed on the same fault-path trace in a
child process (PYTHONPATH=DIR), for the "x today's figure" target.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from replay import _mm
from replay.engine import simulate
from replay.gen import generate_to
from replay.model.config import ModelConfig
from replay.trace import PAGE_SIZE, TraceMeta, open_trace, write_trace

ROOT = Path(__file__).resolve().parents[1]
PEAK = ("import sys; from replay.cli import main; rc = main(sys.argv[1:]); "
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1],"
        " file=sys.stderr); sys.exit(rc)")


def zipf(cache: Path, accesses: int, pages: int, seed: int = 1) -> Path:
    path = cache / f"zipf-a1.0-{pages}p-{accesses}.parquet"
    if not path.exists():
        generate_to(path, "zipf", accesses=accesses, pages=pages, alpha=1.0, seed=seed)
    return path


def sparse_blocks(cache: Path, blocks: int = 100_000) -> Path:
    """One write in each of ``blocks`` separate 2 MiB blocks."""
    path = cache / f"sparse-{blocks}-blocks.parquet"
    if not path.exists():
        vpn = np.arange(blocks, dtype=np.int64) * 3 * 512 + (1 << 28)
        write_trace(path, TraceMeta(source_format="bench", description="one access per block"),
                    np.arange(blocks, dtype=np.int64), vpn, np.ones(blocks, np.uint8))
    return path


def dense_ids(path: Path) -> np.ndarray:
    t = open_trace(path)
    return np.concatenate([t.dense_ids(ch) for ch in t.iter_chunks()]).astype(np.int64)


def engine(path, cfg: ModelConfig, policies=("order0-fallback",), **kw) -> list[dict]:
    return simulate(path, cfg, list(policies), timeline=False, **kw)


def process(argv: list[str], env=None, runs: int = 5) -> tuple[float, int]:
    """Median wall seconds and the largest peak RSS (bytes) of a new process, over runs."""
    walls, peaks = [], []
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-c", PEAK, *argv], capture_output=True, text=True,
                           env=env, check=False)
        walls.append(time.perf_counter() - t)
        if p.returncode:
            raise SystemExit(f"replay {' '.join(argv)} failed: {p.stderr.strip()[-500:]}")
        peaks.append(int(p.stderr.strip().splitlines()[-1]) * 1024)
    return statistics.median(walls), max(peaks)


def exact_lru(capacity: int) -> ModelConfig:
    return ModelConfig(reclaim="exact-lru", first_read="allocate", mthp_sizes_kb=(),
                       backend="zram", page_cluster=0, memory_limit_bytes=capacity * PAGE_SIZE)


def v1_64m(**kw) -> ModelConfig:
    return ModelConfig(**{"memory_limit_bytes": 64 << 20, "memcg": "v1", **kw})


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, what: str, figure: str, target: str = "", verdict: str = "") -> None:
        self.rows.append((what, figure, target, verdict))
        print(f"  {what}: {figure}" + (f"  [{target}: {verdict}]" if target else ""), flush=True)

    def show(self) -> None:
        w = [max(len(r[i]) for r in self.rows) for i in range(4)]
        print("\n" + "  ".join(h.ljust(w[i]) for i, h in enumerate(
            ("what", "measured", "target", "verdict"))))
        for r in self.rows:
            print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))


def met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def section_start(t: Table, cache: Path) -> None:
    print("\nstart-up (new processes, median of 5)", flush=True)
    wall, _ = process(["--help"])
    t.add("replay --help", f"{wall:.2f} s", "< 0.3 s", met(wall < 0.3))
    small = zipf(cache, 100_000, 20_000)
    wall, _ = process(["run", str(small), "--quiet", "--policy", "all"])
    t.add("replay run, 100k accesses, every policy", f"{wall:.2f} s", "< 1 s", met(wall < 1.0))


def twice(cache: Path, path: Path) -> Path:
    """The trace's accesses replayed twice in a row (the second pass: hits only)."""
    out = path.with_name(path.stem + "-twice.parquet")
    if not out.exists():
        t = open_trace(path)
        vpn = np.concatenate([ch.vpn for ch in t.iter_chunks()])
        op = np.concatenate([ch.op for ch in t.iter_chunks()])
        write_trace(out, TraceMeta(source_format="bench", description="twice"),
                    np.arange(2 * len(vpn), dtype=np.int64), np.r_[vpn, vpn], np.r_[op, op])
    return out


def section_hits(t: Table, cache: Path, n: int) -> float:
    """The hit path: the second replay of a trace in a memcg that holds it, against the
    bare LRU's second pass over the same ids (Zipf(1.0) over 1 M pages)."""
    print("\nhit path (the second pass of a trace replayed twice, memcg holds it)", flush=True)
    once = zipf(cache, n // 2, 1_000_000, seed=2)
    both = twice(cache, once)
    cfg = v1_64m(memory_limit_bytes=8 << 30)
    e1 = engine(once, cfg, tlb=None)[0]["run"]["engine_seconds"]
    e2 = engine(both, cfg, tlb=None)[0]["run"]["engine_seconds"]
    ids = dense_ids(both)
    half = len(ids) // 2
    s = time.perf_counter()
    _mm.lru_reference(ids[:half], 1 << 20)
    b1 = time.perf_counter() - s
    s = time.perf_counter()
    _mm.lru_reference(ids, 1 << 20)
    b2 = time.perf_counter() - s
    eng, bare = (e2 - e1) / half * 1e9, (b2 - b1) / half * 1e9
    t.add(f"bare LRU, hits ({half:,} accesses over 1 M pages)", f"{bare:.1f} ns/access")
    t.add("engine, hits (TLB off)", f"{eng:.1f} ns/access", "<= 1.5x bare LRU",
          f"{eng / bare:.2f}x {met(eng <= 1.5 * bare)}")
    return eng


def section_faults(t: Table, cache: Path, n: int, hit_ns: float, baseline: str | None) -> None:
    print("\nfault path: Zipf(1.0) over 1 M pages, 64M cgroup v1, order0-fallback", flush=True)
    path = zipf(cache, n, 1_000_000)
    r = engine(path, v1_64m(), tlb=None)[0]
    s, f = r["run"]["engine_seconds"], r["counters"]["pgfault"]
    all_in = s / f * 1e9
    marginal = (s - n * hit_ns * 1e-9) / f * 1e9
    t.add(f"order-0 fault, TLB off ({f:,} faults, {r['counters']['pgmajfault']:,} major)",
          f"{all_in:.0f} ns all-in, {marginal:.0f} ns less hits", "<= 250 ns",
          met(marginal <= 250))
    on = engine(path, v1_64m())[0]
    rate = n / on["run"]["engine_seconds"] / 1e6
    t.add("full model, TLB on", f"{rate:.2f} M accesses/s")
    if baseline:
        # the older checkout and this one alternately, three times each: medians
        code = ("import json, sys; from replay.engine import simulate; "
                "from replay.model.config import ModelConfig; "
                f"r = simulate({str(path)!r}, ModelConfig(memory_limit_bytes=64 << 20, "
                "memcg='v1'), ['order0-fallback'], timeline=False)[0]; "
                "print(json.dumps(r['run']['engine_seconds']))")
        ours, theirs = [on["run"]["engine_seconds"]], []
        for _ in range(3):
            # run from the checkout's folder: `python -c` puts the working folder first
            p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": baseline}, cwd=baseline,
                               check=False)
            if p.returncode:
                t.add("baseline", "failed: " + p.stderr.strip().splitlines()[-1])
                return
            theirs.append(json.loads(p.stdout.strip().splitlines()[-1]))
            ours.append(engine(path, v1_64m())[0]["run"]["engine_seconds"])
        rate = n / statistics.median(ours) / 1e6
        base = n / statistics.median(theirs) / 1e6
        t.add("full model, TLB on (median of 4)", f"{rate:.2f} M accesses/s")
        t.add(f"  the same on {baseline} (median of 3, alternated)", f"{base:.2f} M accesses/s",
              ">= 3x that", f"{rate / base:.1f}x {met(rate >= 3 * base)}")


def section_tlb(t: Table, cache: Path, n: int) -> None:
    print("\nTLB model inside the engine (memcg holds the trace)", flush=True)
    path = zipf(cache, n, 1_000_000)
    cfg = v1_64m(memory_limit_bytes=8 << 30)
    off = engine(path, cfg, tlb=None)[0]["run"]["engine_seconds"]
    for label, kw in (("x86 with its exact 4K-only shadow (the default)", {}),
                      ("x86, shadow off", {"tlb_shadow": "off"}),
                      ("arm64 with its shadow", {"tlb": "arm64"})):
        on = engine(path, cfg, **kw)[0]["run"]["engine_seconds"]
        ns = (on - off) / n * 1e9
        t.add(f"TLB model, {label}", f"{ns:.1f} ns/access", "<= 30 ns", met(ns <= 30))


def libcachesim_lru(ids_path: Path, n: int, capacity: int) -> tuple[int, float] | None:
    try:
        import libcachesim as lcs
    except ImportError:
        return None
    params = lcs.ReaderInitParam(binary_fmt_str="<q", ignore_obj_size=True)
    params.obj_id_field = 1
    reader = lcs.TraceReader(str(ids_path), lcs.TraceType.BIN_TRACE, params)
    cache = lcs.LRU(capacity, hashpower=20)
    s = time.perf_counter()
    ratio, _ = cache.process_trace(reader)
    return round(ratio * n), time.perf_counter() - s


def section_lru(t: Table, cache: Path, n: int, capacities: list[int]) -> None:
    print("\nexact-lru against libCacheSim's LRU", flush=True)
    path = zipf(cache, n, 1_000_000)
    ids = dense_ids(path)
    ids_path = path.with_suffix(".ids.bin")
    if not ids_path.exists():
        ids.astype("<i8").tofile(ids_path)
    for cap in capacities:
        r = engine(path, exact_lru(cap), tlb=None)[0]
        eng = r["run"]["engine_seconds"]
        s = time.perf_counter()
        bare_misses = _mm.lru_reference(ids, cap)
        bare = time.perf_counter() - s
        lcs = libcachesim_lru(ids_path, len(ids), cap)
        misses = r["counters"]["pgfault"]
        if lcs is None:
            t.add(f"exact-lru, {cap:,} pages", f"{n / eng / 1e6:.1f} M/s (libCacheSim absent)")
            continue
        lcs_misses, lcs_s = lcs
        same = lcs_misses == misses == bare_misses
        t.add(f"libCacheSim LRU, {cap:,} pages", f"{n / lcs_s / 1e6:.1f} M/s",
              "", f"miss ratio {lcs_misses / n:.3f}")
        t.add(f"  bare LRU (the memory bound), {cap:,} pages", f"{n / bare / 1e6:.1f} M/s",
              "", f"{lcs_s / bare:.1f}x libCacheSim")
        t.add(f"  exact-lru engine, {cap:,} pages", f"{n / eng / 1e6:.1f} M/s",
              ">= 10x libCacheSim, same misses",
              f"{lcs_s / eng:.1f}x, misses {'identical' if same else 'DIFFER'} "
              f"{met(lcs_s / eng >= 10 and same)}")


def section_cores(t: Table, cache: Path, n: int) -> None:
    """N policies replayed side by side on N threads against the same N one after the
    other: the replay loops' wall time (the longest policy's engine seconds with N
    threads, the sum with one)."""
    cores = os.cpu_count() or 1
    print(f"\n{cores} policies on {cores} cores", flush=True)
    path = zipf(cache, n, 1_000_000)
    pols = ["hybrid-supported"] * cores
    serial = sum(r["run"]["engine_seconds"] for r in engine(path, v1_64m(), pols, threads=1))
    side = max(r["run"]["engine_seconds"] for r in engine(path, v1_64m(), pols,
                                                          threads=cores))
    speedup = serial / side
    t.add(f"{cores} policies on {cores} threads against one after the other",
          f"{speedup:.2f}x one core's throughput", f">= {0.8 * cores:.1f}x",
          met(speedup >= 0.8 * cores))


def section_memory(t: Table, cache: Path, small: int, large: int) -> None:
    print("\nmemory (peak RSS of `replay run` in a new process)", flush=True)
    peaks = {}
    for n in (small, large):
        path = zipf(cache, n, 1_000_000)
        _, peaks[n] = process(["run", str(path), "--quiet", "--policy", "order0-fallback",
                               "--memcg", "v1", "--memory-limit", "64M"], runs=1)
        t.add(f"peak RSS, {n:,} accesses", f"{peaks[n] / 2**20:.0f} MiB")
    growth = peaks[large] / peaks[small] - 1
    t.add(f"  {large // small}x the accesses", f"{100 * growth:+.1f}% peak RSS",
          "within 10%", met(abs(growth) <= 0.10))
    t.add("model state per touched page per policy", f"{_mm.PAGE_RECORD_SIZE} bytes",
          "<= 64 bytes", met(_mm.PAGE_RECORD_SIZE <= 64))
    sparse = sparse_blocks(cache)
    for pols in (["order0-fallback"], ["all"]):
        _, peak = process(["run", str(sparse), "--quiet", "--memory-limit", "1G",
                           *[a for p in pols for a in ("--policy", p)]], runs=1)
        what = "one policy" if pols != ["all"] else "every policy"
        t.add(f"peak RSS, 100,000 separate 2 MiB blocks, {what}", f"{peak / 2**20:.0f} MiB",
              "< 200 MB" if what == "one policy" else "",
              met(peak < 200e6) if what == "one policy" else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accesses", type=int, default=10_000_000)
    ap.add_argument("--quick", action="store_true", help="2 M accesses, memory on 1 M / 6 M")
    ap.add_argument("--capacities", default="25000,100000,400000")
    ap.add_argument("--skip", default="", help="comma list of sections to skip")
    ap.add_argument("--baseline", help="a checkout to time on the fault-path trace too")
    ap.add_argument("--cache", type=Path,
                    default=Path(tempfile.gettempdir()) / "folio-replay-bench")
    a = ap.parse_args()
    n = 2_000_000 if a.quick else a.accesses
    mem = (1_000_000, 6_000_000) if a.quick else (5_000_000, 60_000_000)
    skip = set(filter(None, a.skip.split(",")))
    a.cache.mkdir(parents=True, exist_ok=True)
    print(f"traces in {a.cache}; {os.cpu_count()} CPUs", flush=True)
    t = Table()
    hit_ns = 0.0
    if "start" not in skip:
        section_start(t, a.cache)
    if "hits" not in skip:
        hit_ns = section_hits(t, a.cache, n)
    if "faults" not in skip:
        section_faults(t, a.cache, n, hit_ns, a.baseline)
    if "tlb" not in skip:
        section_tlb(t, a.cache, n)
    if "lru" not in skip:
        section_lru(t, a.cache, n, [int(x) for x in a.capacities.split(",")])
    if "cores" not in skip:
        section_cores(t, a.cache, n)
    if "memory" not in skip:
        section_memory(t, a.cache, *mem)
    t.show()


if __name__ == "__main__":
    main()
