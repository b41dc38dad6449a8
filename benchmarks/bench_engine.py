"""Replay engine speed against its targets, in one run on the same traces (prints a table).

1. exact-lru (one policy, zram, no mTHP: the cache-simulator mode) against libCacheSim's
   LRU through its Python package (C replay loop fed a raw int64 file of page ids), same
   capacity; miss counts side by side (LRU misses - cold misses must equal pgmajfault).
   Target: exact-lru >= 10x libCacheSim's accesses per second. For scale, a bare LRU: a
   compiled doubly linked list over the same dense ids and nothing else (no page states,
   no swap, no counters), i.e. the speed of memory itself for an exact LRU of this trace
   on this machine: no exact-LRU replay of it can be faster.
2. The full model with every built-in policy (64M memcg, 64K mTHP, zswap), replayed in
   lockstep with the TLB model on (as `replay run`), one thread: engine seconds per
   policy. Also on the bundled recorded program (traces/kvscan.parquet, 24M). Target:
   >= 20 M accesses/s. On cgroup v2 the zswap pool is charged to the memcg, and over a
   1 M-page footprint the 64M memcg fills with its own pool (shrinker off): the kernel
   OOM-kills the workload, and so does the model (oom=kill: that policy's replay ends).
   So cgroup v2 is shown with memory.zswap.max 16M (the pool stays within the limit,
   zswap writes back to the device), with the zswap shrinker (memcg reclaim writes
   entries back), with --oom continue (the forced charges: reclaim retries on nearly
   every fault), and cgroup v1; also without the TLB model (the
   kernel model alone), per fault, and with a memcg that holds everything.
3. `replay run` end to end on a 20 M-access trace, in this process (Python start-up and
   numba's cache load excluded by a warm-up run on a small trace): one policy, and with
   --run-all-policies the default policy set too. Target: >= 10 M accesses/s.
4. Peak memory: max RSS of a `replay run` process on 5 M and on 20 M accesses of the same
   pattern and footprint. Target: independent of trace length.
5. Where the time goes: reading the trace + dense ids alone, against the compiled loop.

Traces: Zipf(1.0) over 1 M pages (`replay gen zipf --pages 1000000`), cached in
--cache (default: $TMPDIR/folio-replay-bench). The machine is shared and noisy: compare
ratios within one run.

    python benchmarks/bench_engine.py [--accesses 10000000] [--capacities 25000,100000]
                                      [--quick] [--skip lru,model,run,memory]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numba import njit

from replay.engine import simulate
from replay.gen import generate_to
from replay.model.config import ModelConfig
from replay.policies import BUILTIN
from replay.trace import PAGE_SIZE, open_trace

PAGES = 1_000_000


def zipf_trace(cache: Path, accesses: int, seed: int = 1) -> Path:
    path = cache / f"zipf-a1.0-{PAGES}p-{accesses}.parquet"
    if not path.exists():
        t = time.perf_counter()
        generate_to(path, "zipf", accesses=accesses, pages=PAGES, alpha=1.0, seed=seed)
        print(f"  generated {path.name} in {time.perf_counter() - t:.1f} s", flush=True)
    return path


def dense_id_file(trace_path: Path) -> tuple[Path, int, float]:
    """The trace's page ids as a raw little-endian int64 file (libCacheSim's input);
    also the number of distinct pages and the seconds one read + dense-id pass took."""
    out = trace_path.with_suffix(".ids.bin")
    t = time.perf_counter()
    tr = open_trace(trace_path)
    parts = [tr.dense_ids(ch) for ch in tr.iter_chunks()]
    read_s = time.perf_counter() - t
    ids = np.concatenate(parts)
    if not out.exists():
        tmp = out.with_suffix(".tmp")
        ids.astype("<i8").tofile(tmp)
        os.replace(tmp, out)
    return out, len(np.unique(ids)), read_s


def libcachesim_lru(ids_path: Path, n: int, capacity: int) -> tuple[int, float]:
    """(misses, seconds of the replay alone) of libCacheSim's LRU."""
    import libcachesim as lcs
    assert capacity >= 1                       # bad arguments abort the process
    params = lcs.ReaderInitParam(binary_fmt_str="<q", ignore_obj_size=True)
    params.obj_id_field = 1
    reader = lcs.TraceReader(str(ids_path), lcs.TraceType.BIN_TRACE, params)
    cache = lcs.LRU(capacity, hashpower=20)
    t = time.perf_counter()
    miss_ratio, _ = cache.process_trace(reader)
    return round(miss_ratio * n), time.perf_counter() - t


@njit(cache=True)
def bare_lru(ids: np.ndarray, n: int, capacity: int) -> int:
    """Misses of a plain LRU of ``capacity`` pages over dense ids < n: a doubly linked
    list in two int64 arrays and a residency byte per page, nothing else."""
    prev = np.full(n, -1, np.int64)
    nxt = np.full(n, -1, np.int64)
    resident = np.zeros(n, np.uint8)
    head = tail = -1
    size = misses = 0
    for i in range(ids.shape[0]):
        p = ids[i]
        if resident[p]:
            if p != head:                       # move to the front
                a, b = prev[p], nxt[p]
                nxt[a] = b
                if b >= 0:
                    prev[b] = a
                else:
                    tail = a
                prev[p] = -1
                nxt[p] = head
                prev[head] = p
                head = p
            continue
        misses += 1
        if size == capacity:                    # evict the tail
            t = tail
            tail = prev[t]
            if tail >= 0:
                nxt[tail] = -1
            else:
                head = -1
            resident[t] = 0
            size -= 1
        resident[p] = 1
        prev[p] = -1
        nxt[p] = head
        if head >= 0:
            prev[head] = p
        else:
            tail = p
        head = p
        size += 1
    return misses


def exact_lru(capacity: int) -> ModelConfig:
    return ModelConfig(reclaim="exact-lru", first_read="allocate", mthp_sizes_kb=(),
                       backend="zram", page_cluster=0, memory_limit_bytes=capacity * PAGE_SIZE)


def full_model(**kw) -> ModelConfig:
    """64M memcg, 64K mTHP, zswap (cgroup v2 unless told: the pool is charged to the memcg)."""
    return ModelConfig(**{"memory_limit_bytes": 64 << 20, "mthp_sizes_kb": (64,),
                          "backend": "zswap", **kw})


def peak_rss_bytes(argv: list[str]) -> tuple[int, float]:
    """Max RSS (bytes) and wall seconds of a child process."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode() if p.stderr else ""
    if p.returncode:
        raise SystemExit(f"{' '.join(argv)} failed: {err}")
    return usage.ru_maxrss * 1024, wall


def mps(n: int, s: float) -> str:
    return f"{n / s / 1e6:8.1f}" if s > 0 else "     inf"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accesses", type=int, default=10_000_000)
    ap.add_argument("--run-accesses", type=int, default=20_000_000,
                    help="trace length for `replay run` end to end and the 20 M memory run")
    ap.add_argument("--small-accesses", type=int, default=5_000_000,
                    help="the shorter trace of the memory comparison")
    ap.add_argument("--capacities", default="25000,100000,400000",
                    help="LRU capacities in pages (comma list)")
    ap.add_argument("--cache", type=Path,
                    default=Path(tempfile.gettempdir()) / "folio-replay-bench")
    ap.add_argument("--quick", action="store_true", help="1 M / 2 M / 0.5 M accesses")
    ap.add_argument("--run-all-policies", action="store_true",
                    help="also time `replay run` with its default policy set (slow)")
    ap.add_argument("--skip", default="", help="comma list of sections to skip: "
                    "lru,model,run,memory")
    a = ap.parse_args()
    if a.quick:
        a.accesses, a.run_accesses, a.small_accesses = 1_000_000, 2_000_000, 500_000
    skip = set(filter(None, a.skip.split(",")))
    a.capacities = [int(x) for x in a.capacities.split(",")]
    a.cache.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, str, str]] = []   # (what, M acc/s or figure, target, verdict)

    print(f"traces in {a.cache}", flush=True)
    main_trace = zipf_trace(a.cache, a.accesses)
    n = open_trace(main_trace).num_accesses

    # warm numba's caches (or compile, on a fresh checkout) outside every timing
    warm = zipf_trace(a.cache, 20_000)
    t = time.perf_counter()
    simulate(warm, exact_lru(1000), ["order0-fallback"])
    simulate(warm, full_model(), list(BUILTIN))
    simulate(warm, full_model(), ["order0-fallback"], tlb=None, timeline=False)
    print(f"  warm-up (numba cache load or compile) {time.perf_counter() - t:.1f} s", flush=True)

    ids_path, cold, read_s = dense_id_file(main_trace)
    rows.append(("read trace + dense ids only", mps(n, read_s), "", ""))
    ids = np.fromfile(ids_path, "<i8")
    n_ids = int(ids.max()) + 1
    bare_lru(ids[:1000], n_ids, 10)                  # compile

    # 1. exact-lru vs libCacheSim, at several capacities (the miss ratio decides the speed)
    if "lru" not in skip:
        print(f"\nexact-lru vs libCacheSim LRU, {n:,} accesses, {cold:,} distinct pages")
        for cap in a.capacities:
            r = simulate(main_trace, exact_lru(cap), ["order0-fallback"])[0]
            r_bare = simulate(main_trace, exact_lru(cap), ["order0-fallback"], tlb=None,
                              timeline=False)[0]
            eng_s = r["run"]["engine_seconds"]
            bare_s = r_bare["run"]["engine_seconds"]
            try:
                misses, lcs_s = libcachesim_lru(ids_path, n, cap)
            except ImportError:
                misses, lcs_s = None, 0.0
            maj = r["counters"]["pgmajfault"]
            if misses is None:
                print("  libCacheSim not installed")
                rows.append((f"exact-lru engine, {cap:,} pages", mps(n, eng_s), "", ""))
                continue
            same = misses - cold == maj == r_bare["counters"]["pgmajfault"]
            print(f"  capacity {cap:,} pages: libCacheSim misses {misses:,} (ratio "
                  f"{misses / n:.3f}) - cold {cold:,} = {misses - cold:,}; exact-lru "
                  f"pgmajfault {maj:,}; identical: {same}")
            rows.append((f"libCacheSim LRU (C, process_trace), {cap:,} pages", mps(n, lcs_s),
                         "", f"miss ratio {misses / n:.3f}"))
            t = time.perf_counter()
            bare_misses = bare_lru(ids, n_ids, cap)
            bare_lru_s = time.perf_counter() - t
            rows.append(("  bare LRU (compiled list, nothing else): the memory bound",
                         mps(n, bare_lru_s), "", f"{lcs_s / bare_lru_s:.1f}x libCacheSim"
                         + ("" if bare_misses == misses else " MISSES DIFFER")))
            for label, sec in (("TLB model on", eng_s), ("TLB + timeline off", bare_s)):
                ratio = lcs_s / sec if sec else float("inf")
                rows.append((f"  exact-lru engine, {label}", mps(n, sec), ">= 10x libCacheSim",
                             (f"{ratio:.1f}x {verdict(ratio >= 10 and same)}; "
                              f"{bare_lru_s / sec:.2f}x bare LRU")))
            faults = r_bare["counters"]["pgfault"]
            rows.append((f"  exact-lru engine ns per fault (pgfault {faults:,})",
                         f"{1e9 * bare_s / max(1, r_bare['counters']['pgfault']):8.0f}", "", ""))

    # 2. full model, every policy in lockstep (TLB model on, as `replay run`)
    if "model" not in skip:
        # the 64M cgroup v2 memcg: where the kernel would OOM-kill the workload
        killed = simulate(main_trace, full_model(), ["order0-fallback"], tlb=None,
                          timeline=False)[0]["derived"]
        print(f"\nfull model, Zipf trace, 64M cgroup v2: OOM killed {killed['oom_killed']} "
              f"at access {killed['accesses']:,} of {n:,}", flush=True)
        for label, cfg in (("v2 zswap.max 16M", full_model(memcg_zswap_max_bytes=16 << 20)),
                           ("v2 zswap shrinker", full_model(zswap_shrinker=True)),
                           ("v2 --oom continue", full_model(oom="continue")),
                           ("v1", full_model(memcg="v1"))):
            t = time.perf_counter()
            # the forced charges are slow: one policy shows them
            pols = ["order0-fallback"] if "continue" in label else list(BUILTIN)
            res = simulate(main_trace, cfg, pols, threads=1)
            wall = time.perf_counter() - t
            c = res[0]["counters"]
            for r in res:
                s = r["run"]["engine_seconds"]
                m = r["derived"]["accesses"]
                rows.append((f"full model {label} {r['policy']}"
                             + (" (OOM killed)" if r["derived"]["oom_killed"] else ""),
                             mps(m, s), ">= 20 M/s", verdict(m / s >= 20e6)))
            print(f"\nfull model, Zipf trace, cgroup {label}: {len(res)} policies in {wall:.1f} s "
                  f"wall; order0-fallback: pgfault {c['pgfault']:,} "
                  f"({100 * c['pgfault'] / n:.0f}% of accesses), pgmajfault "
                  f"{c['pgmajfault']:,}, oom_kill {c['oom_kill']:,}, reclaim rounds "
                  f"{res[0]['derived']['reclaim_rounds']:,}", flush=True)
            if "continue" in label:
                continue
            # the same replay without the TLB model and timeline: the kernel model alone
            bare = simulate(main_trace, cfg, ["order0-fallback"], tlb=None, timeline=False)[0]
            s = bare["run"]["engine_seconds"]
            rows.append((f"full model {label} order0-fallback, TLB + timeline off", mps(n, s),
                         ">= 20 M/s", verdict(n / s >= 20e6)))
            c = bare["counters"]
            rows.append((f"  {label}: engine ns per fault (pgfault {c['pgfault']:,})",
                         f"{1e9 * s / max(1, c['pgfault']):8.0f}", "", ""))
        # the loop itself: a memcg that holds the whole footprint (faults on first touch only)
        fits = simulate(main_trace, full_model(memory_limit_bytes=8 << 30), ["order0-fallback"],
                        tlb=None, timeline=False)[0]
        s = fits["run"]["engine_seconds"]
        what = f"full model, no reclaim ({fits['counters']['pgfault']:,} first-touch faults)"
        rows.append((what, mps(n, s), "", ""))
        # a recorded program: the bundled trace at the quick start's limit (24M: half
        # its footprint), every policy, TLB model on
        real = Path(__file__).resolve().parents[1] / "traces" / "kvscan.parquet"
        if real.exists():
            m = open_trace(real).num_accesses
            # on cgroup v2 the pool is charged: kvscan's 48 MiB compress to ~27 MiB, more
            # than the 24M limit, so the plain v2 memcg OOM-kills it (the kernel's too)
            for label, cfg in (("v2 zswap.max 12M",
                                full_model(memory_limit_bytes=24 << 20,
                                           memcg_zswap_max_bytes=12 << 20)),
                               ("v2 zswap shrinker",
                                full_model(memory_limit_bytes=24 << 20, zswap_shrinker=True)),
                               ("v1", full_model(memory_limit_bytes=24 << 20, memcg="v1"))):
                res = simulate(real, cfg, list(BUILTIN), threads=1)
                c = res[0]["counters"]
                print(f"\nfull model, traces/kvscan.parquet ({m:,} accesses), 24M, cgroup "
                      f"{label}: order0-fallback pgfault {c['pgfault']:,} "
                      f"({100 * c['pgfault'] / m:.1f}% of accesses), pgmajfault "
                      f"{c['pgmajfault']:,}")
                for r in res:
                    s = r["run"]["engine_seconds"]
                    k = r["derived"]["accesses"]
                    rows.append((f"kvscan {label} {r['policy']}"
                                 + (" (OOM killed)" if r["derived"]["oom_killed"] else ""),
                                 mps(k, s), ">= 20 M/s", verdict(k / s >= 20e6)))

    # 3. `replay run` end to end, start-up excluded
    if "run" not in skip:
        from replay.cli import main as replay_main
        run_trace = zipf_trace(a.cache, a.run_accesses, seed=2)
        m = open_trace(run_trace).num_accesses
        out = a.cache / "run.json"
        replay_main(["run", str(warm), "--json", str(out), "--quiet"])   # warm
        runs = [(run_trace, m, "one policy, defaults (64M cgroup v2)",
                 ["--policy", "order0-fallback"]),
                (run_trace, m, "one policy, --zswap-max 16M", ["--policy", "order0-fallback",
                                                              "--zswap-max", "16M"]),
                (run_trace, m, "one policy, --memcg v1", ["--policy", "order0-fallback",
                                                         "--memcg", "v1"])]
        if a.run_all_policies:
            runs.append((run_trace, m, "default policies", []))
        real = Path(__file__).resolve().parents[1] / "traces" / "kvscan.parquet"
        if real.exists():     # the README's quick start
            runs.append((real, open_trace(real).num_accesses,
                         "quick start: kvscan, 24M, v1, default policies",
                         ["--memory-limit", "24M", "--memcg", "v1", "--hugepage-default"]))
        for path, count, label, extra in runs:
            t = time.perf_counter()
            code = replay_main(["run", str(path), "--json", str(out), "--quiet", *extra])
            s = time.perf_counter() - t
            assert code == 0
            res = json.loads(out.read_text())["results"]
            # a replay that every policy's OOM kill ended early read less of the trace
            done = max(r["derived"]["accesses"] for r in res)
            killed = sum(r["derived"]["oom_killed"] for r in res)
            note = f", OOM killed at {done / 1e6:.2f} M" if killed == len(res) else ""
            rows.append((f"replay run, {count / 1e6:.1f} M accesses, {label} ({len(res)}{note})",
                         mps(done, s), ">= 10 M/s", verdict(done / s >= 10e6)))

    # 4. peak memory against trace length
    if "memory" not in skip:
        rss = {}
        for acc in (a.small_accesses, a.run_accesses):
            p = zipf_trace(a.cache, acc, seed=2)
            out = a.cache / f"mem-{acc}.json"
            # cgroup v1: the 64M v2 default OOM-kills this workload within 14k accesses
            rss[acc], wall = peak_rss_bytes([sys.executable, "-m", "replay.cli", "run", str(p),
                                             "--policy", "order0-fallback", "--memcg", "v1",
                                             "--quiet", "--json", str(out)])
            rows.append((f"replay run max RSS, {acc / 1e6:g} M accesses",
                         f"{rss[acc] / 2**20:7.0f}M", "", f"({wall:.1f} s wall)"))
        lo, hi = rss[a.small_accesses], rss[a.run_accesses]
        growth = hi / lo - 1
        rows.append(("max RSS growth, 4x the accesses", f"{100 * growth:+7.1f}%",
                     "independent of length", verdict(growth < 0.15)))

    print()
    w = max(len(r[0]) for r in rows)
    print(f"{'':{w}}  {'M acc/s':>8}  {'target':<22} result")
    for what, fig, target, res in rows:
        print(f"{what:{w}}  {fig:>8}  {target:<22} {res}")


if __name__ == "__main__":
    main()
