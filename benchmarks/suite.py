"""asv benchmarks: what the policies do to each trace, and how fast the engine is, per commit.

`asv run A..B` builds each commit in its own virtualenv and runs this file (the working
tree's copy: the same benchmarks for every commit) against it; see asv.conf.json and the
README's Benchmarks section.

- `PolicyOutcomes`: the kernel's counters and the model's derived figures for every trace in
  traces/ (or $FOLIO_REPLAY_TRACES) x memory limit x registered policy, with the README's
  settings (`replay compare`'s defaults: cgroup v2, 64K mTHP, zswap with lz4 and the zswap
  shrinker, x86 TLB). A step in one of these is a change in what the model or a policy does.
- `EngineSpeed`, `EngineMemory`: time, peak memory and time per access of replays of fixed
  generated traces, per policy.
- `ImportSpeed`, `CalibrateSpeed`: `replay import` and `replay calibrate`.

Direction: asv takes a lower value as better for every benchmark, and asv 0.6 (0.6.6, the
newest release) has no attribute that says otherwise (asv issue #1617 asks for one). The
replay's throughput is therefore tracked as its inverse, `EngineSpeed.track_ns_per_access`
(M accesses/s = 1000 / ns per access), so that `asv continuous` and `asv compare` flag a
slower engine as the regression. The outcome counters have no better direction of their own
(a policy trades major faults for swap-in amplification); a flagged change in them means
"the model's answer changed", to be read, not a verdict.

The scripts bench_*.py beside this file print one-off comparisons and define nothing asv
collects (no time_/track_/peakmem_ names). asv imports them when it discovers benchmarks,
which they pass because they run nothing on import; at a commit that lacks something one of
them imports, asv's discovery tries another commit (main's tip) and its forkserver skips
the module: only this file's benchmarks run.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path

# numpy, pyarrow and the project are imported where they are used: asv's default launch
# method starts a new process for each benchmark and parameter, which imports this module
# (and, for the parameters, the policy registry) before it runs; the outcome tracks need
# nothing more. BLAS threads are limited to one as the CLI does (the replay parallelises
# itself), before numpy is loaded; so asv's forkserver (asv.conf.json) forks from a process
# that started no BLAS thread pool.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

ROOT = Path(__file__).resolve().parents[1]

# Traces: every file of traces/ (or of the folder named by FOLIO_REPLAY_TRACES, the variable
# `replay compare` reads too) named <name>.parquet, but for the sidecars and hidden files.
# The rule is replay.study.folders' own, repeated here so that the list does not depend on
# the commit being measured (replay.study is younger than some of them) and so that the
# folder is the checkout's, wherever asv installed the package.
TRACES_ENV = "FOLIO_REPLAY_TRACES"
TRACE_SUFFIX = ".parquet"
SIDECAR_SUFFIXES = (".contents.parquet", ".regions.parquet")

PAGE_SIZE = 4096
MIB = 1 << 20
OP_WRITE = 1          # ops 0 (read) and 1 (write) touch a page; 2, 3 (pageout, free) do not

# The README's memory limits for kvscan (16M, 24M, 32M) are a third, a half and two thirds
# of its footprint, rounded to whole MiB; every trace gets the same fractions of its own.
MEMORY_LIMIT_FRACTIONS = {"1/3": Fraction(1, 3), "1/2": Fraction(1, 2),
                          "2/3": Fraction(2, 3)}


def traces_folder() -> Path:
    env = os.environ.get(TRACES_ENV)
    return Path(env).expanduser() if env else ROOT / "traces"


def trace_paths(folder: Path | None = None) -> dict[str, Path]:
    """The traces to track, by name (the file's stem), in name order."""
    folder = traces_folder() if folder is None else folder
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        name = path.name
        if (name.endswith(TRACE_SUFFIX) and not name.startswith(".")
                and not name.endswith(SIDECAR_SUFFIXES) and path.is_file()):
            found[name.removesuffix(TRACE_SUFFIX)] = path
    return found


def policy_names() -> list[str]:
    """Every registered policy (built in, and entry points installed beside the project)."""
    from replay.policies import available
    return list(available())


def footprint_bytes(path: str | os.PathLike) -> int:
    """The trace's footprint as `replay compare` counts it: distinct (asid, vpn) pages read
    or written, in bytes. Read from the Parquet file directly, so that the memory limits do
    not depend on the commit being measured."""
    import numpy as np
    import pyarrow.parquet as pq
    seen: dict[int, np.ndarray] = {}
    for batch in pq.ParquetFile(path).iter_batches(columns=["vpn", "op", "asid"],
                                                   batch_size=1 << 20):
        vpn = batch.column("vpn").to_numpy()
        op = batch.column("op").to_numpy()
        asid = batch.column("asid").to_numpy()
        touches = op <= OP_WRITE
        vpn, asid = vpn[touches], asid[touches]
        for a in np.unique(asid):
            pages = np.unique(vpn[asid == a])
            before = seen.get(int(a))
            seen[int(a)] = pages if before is None else np.union1d(before, pages)
    return PAGE_SIZE * sum(len(pages) for pages in seen.values())


def memory_limit_bytes(footprint: int, fraction: Fraction) -> int:
    """A fraction of the footprint, rounded to whole MiB, at least the model's 1 MiB."""
    return max(MIB, round(footprint * fraction / MIB) * MIB)


def readme_config(memory_limit: int):
    """The ModelConfig of `replay compare` with its default settings (tests check they are
    the same): the library's kernel defaults but for the zswap shrinker, on."""
    from replay.model.config import ModelConfig
    return ModelConfig(memory_limit_bytes=memory_limit, zswap_shrinker=True)


# ---------------------------------------------------------------- outcomes of the policies

# figure name -> where it is in a result of replay.engine.simulate, and how it is scaled
OUTCOME_FIGURES = {
    "pgmajfault": (("counters", "pgmajfault"), 1),
    "swpin_4kB": (("time", "swapin_folios", "4kB"), 1),
    "swpin_64kB": (("per_size", "64kB", "swpin"), 1),
    "swpin_fallback_64kB": (("per_size", "64kB", "swpin_fallback"), 1),
    "zswpin": (("counters", "zswpin"), 1),
    "zswpwb": (("counters", "zswpwb"), 1),
    "swapin_amplification": (("derived", "swapin_amplification"), 1),
    "swapin_ms": (("time", "swapin_ns"), 1e-6),
    "total_ms": (("time", "total_ns"), 1e-6),
    "tlb_l1_misses_per_1000": (("tlb", "misses_per_1000", "l1"), 1),
    "tlb_l2_misses_per_1000": (("tlb", "misses_per_1000", "l2"), 1),
}


def outcome_figures(result: dict) -> dict[str, float]:
    """The tracked figures of one policy's result; NaN for one this commit does not report
    (asv shows it as missing)."""
    out = {}
    for name, (keys, scale) in OUTCOME_FIGURES.items():
        value = result
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        out[name] = math.nan if value is None else float(value) * scale
    return out


def replay_outcomes(traces: dict[str, Path], policies: list[str]) -> dict:
    """One replay per trace and memory limit, every policy of it side by side (as `replay
    compare` does): {(trace, memory limit, policy): outcome_figures}. Policies this commit
    does not have are left out."""
    from replay.engine import simulate
    from replay.policies import available
    known = [p for p in policies if p in available()]
    outcomes = {}
    for name, path in traces.items():
        if not path.is_file():
            continue
        footprint = footprint_bytes(path)
        for label, fraction in MEMORY_LIMIT_FRACTIONS.items():
            config = readme_config(memory_limit_bytes(footprint, fraction))
            for result in simulate(str(path), config, known):
                outcomes[name, label, result["policy"]] = outcome_figures(result)
    return outcomes


class PolicyOutcomes:
    """What each policy does to each trace in traces/ at a third, a half and two thirds of
    its footprint (whole MiB: kvscan's 16M, 24M, 32M), with `replay compare`'s default
    settings. Counts are the kernel's counters of one replay; times are simulated."""

    params = [list(trace_paths()), list(MEMORY_LIMIT_FRACTIONS), policy_names()]
    param_names = ["trace", "memory_limit", "policy"]
    timeout = 120

    def setup_cache(self):
        return replay_outcomes(trace_paths(), self.params[2])

    setup_cache.timeout = 3600      # every trace's replays; kvscan's take a few seconds

    def setup(self, outcomes, trace, memory_limit, policy):
        key = (trace, memory_limit, policy)
        if key not in outcomes:
            raise NotImplementedError(f"{policy} on {trace}: not replayed at this commit")
        self.figures = outcomes[key]

    def track_pgmajfault(self, outcomes, trace, memory_limit, policy):
        return self.figures["pgmajfault"]

    track_pgmajfault.unit = "major faults"

    def track_swpin_4kB(self, outcomes, trace, memory_limit, policy):
        return self.figures["swpin_4kB"]

    track_swpin_4kB.unit = "order-0 swap-ins"

    def track_swpin_64kB(self, outcomes, trace, memory_limit, policy):
        return self.figures["swpin_64kB"]

    track_swpin_64kB.unit = "64K swap-ins"

    def track_swpin_fallback_64kB(self, outcomes, trace, memory_limit, policy):
        return self.figures["swpin_fallback_64kB"]

    track_swpin_fallback_64kB.unit = "64K swap-in fallbacks"

    def track_zswpin(self, outcomes, trace, memory_limit, policy):
        return self.figures["zswpin"]

    track_zswpin.unit = "pages loaded from zswap"

    def track_zswpwb(self, outcomes, trace, memory_limit, policy):
        return self.figures["zswpwb"]

    track_zswpwb.unit = "pages written back by zswap"

    def track_swapin_amplification(self, outcomes, trace, memory_limit, policy):
        return self.figures["swapin_amplification"]

    track_swapin_amplification.unit = "pages swapped in per page used"

    def track_swapin_time(self, outcomes, trace, memory_limit, policy):
        return self.figures["swapin_ms"]

    track_swapin_time.unit = "simulated ms"

    def track_total_time(self, outcomes, trace, memory_limit, policy):
        return self.figures["total_ms"]

    track_total_time.unit = "simulated ms"

    def track_tlb_l1_misses(self, outcomes, trace, memory_limit, policy):
        return self.figures["tlb_l1_misses_per_1000"]

    track_tlb_l1_misses.unit = "misses per 1000 accesses"

    def track_tlb_l2_misses(self, outcomes, trace, memory_limit, policy):
        return self.figures["tlb_l2_misses_per_1000"]

    track_tlb_l2_misses.unit = "misses per 1000 accesses"


# ---------------------------------------------------------------- the engine's speed

# Fixed generated traces (`replay gen` with these settings; sparse-blocks is bench_engine's),
# each replayed at half its footprint with the README's settings.
GENERATED_TRACES = {
    # skewed reuse, ~5% of accesses fault: the hit path and the TLB model dominate
    "zipf": {"pattern": "zipf", "accesses": 500_000, "pages": 50_000, "seed": 7},
    # uniform reuse, ~17% of accesses fault: the fault, reclaim and swap-in path
    "random": {"pattern": "random", "accesses": 200_000, "pages": 50_000, "seed": 7},
    # one write in each of 100k separate 2 MiB blocks: what the per-page records cost
    "sparse-blocks": {"blocks": 100_000},
}


def write_generated_trace(name: str, path: Path) -> None:
    import numpy as np

    from replay.gen import generate_to
    spec = GENERATED_TRACES[name]
    if "pattern" in spec:
        generate_to(path, spec["pattern"], accesses=spec["accesses"], pages=spec["pages"],
                    seed=spec["seed"])
        return
    from replay.trace import TraceMeta, write_trace
    blocks = spec["blocks"]
    vpn = np.arange(blocks, dtype=np.int64) * 3 * 512 + (1 << 28)
    write_trace(path, TraceMeta(source_format="bench", description="one write per block"),
                np.arange(blocks, dtype=np.int64), vpn, np.ones(blocks, np.uint8))


class _GeneratedTraceReplay:
    """Benchmarks of one-policy replays of generated traces (params: trace, policy)."""

    param_names = ["trace", "policy"]
    timeout = 300

    def setup_cache(self):
        # asv runs setup_cache in a new folder that the benchmarks share (their working
        # folder), and removes it after them; EngineSpeed and EngineMemory share this one
        # (asv keys the cache by the function's place in the file), so it writes every trace
        traces = {}
        for name in GENERATED_TRACES:
            path = Path.cwd() / f"{name}.parquet"
            write_generated_trace(name, path)
            limit = memory_limit_bytes(footprint_bytes(path), Fraction(1, 2))
            traces[name] = (str(path), limit)
        return traces

    setup_cache.timeout = 600

    def setup(self, traces, trace, policy):
        from replay.policies import available
        if policy not in available():
            raise NotImplementedError(f"no policy {policy} at this commit")
        self.path, limit = traces[trace]
        self.config = readme_config(limit)

    def replay(self, policy: str) -> dict:
        from replay.engine import simulate
        return simulate(self.path, self.config, [policy])[0]


class EngineSpeed(_GeneratedTraceReplay):
    """Replays of the generated zipf and random traces, one policy at a time, at half their
    footprint with the README's settings: the wall time of simulate() (trace reading
    included), the process's peak memory, and the engine's time per access, the inverse of
    its throughput (lower is better, as asv assumes)."""

    params = [["zipf", "random"], policy_names()]
    # a replay takes 0.1-0.5 s: two rounds of one or two samples
    number = 1
    repeat = (1, 2, 2.0)
    rounds = 2
    warmup_time = 0.0

    def time_replay(self, traces, trace, policy):
        self.replay(policy)

    def peakmem_replay(self, traces, trace, policy):
        self.replay(policy)

    def track_ns_per_access(self, traces, trace, policy):
        result = self.replay(policy)
        return 1e9 * result["run"]["engine_seconds"] / result["derived"]["accesses"]

    track_ns_per_access.unit = "engine ns per access"


class EngineMemory(_GeneratedTraceReplay):
    """Peak memory of the process replaying a trace that writes once in each of 100k
    separate 2 MiB blocks (the model's per-page records, not the accesses, take the
    memory)."""

    params = [["sparse-blocks"], policy_names()]

    def peakmem_replay(self, traces, trace, policy):
        self.replay(policy)


# ---------------------------------------------------------------- import and calibration

IMPORT_LINES = 500_000


def write_lackey(path: Path, lines: int, seed: int = 1) -> None:
    """valgrind --tool=lackey lines: loads, stores and modifies over 256 MiB."""
    import numpy as np
    rng = np.random.default_rng(seed)
    addrs = 0x4000000 + rng.integers(0, 1 << 28, lines)
    kinds = np.array([" L ", " S ", " M "])[rng.integers(0, 3, lines)]
    with open(path, "w") as f:
        f.write("==4242== Lackey, an example Valgrind tool\n")
        f.writelines(f"{k}{a:08x},8\n" for k, a in zip(kinds, addrs))


def write_csv(path: Path, lines: int, seed: int = 1) -> None:
    """time_ns,vpn,op,asid rows (the canonical columns: no import options needed)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    rng = np.random.default_rng(seed)
    table = pa.table({
        "time_ns": np.arange(lines, dtype=np.int64) * 100,
        "vpn": 0x7F0000000 + rng.integers(0, 1 << 18, lines),
        "op": np.where(rng.random(lines) < 0.3, "w", "r"),
        "asid": rng.integers(0, 4, lines).astype(np.int32),
    })
    pacsv.write_csv(table, path)


class ImportSpeed:
    """`replay import` of a 500k-line file of each format into a trace."""

    params = [["lackey", "csv"]]
    param_names = ["format"]
    timeout = 120
    number = 1
    repeat = (2, 5, 4.0)
    warmup_time = 0.0

    def setup_cache(self):
        sources = {"lackey": Path.cwd() / "source.lackey", "csv": Path.cwd() / "source.csv"}
        write_lackey(sources["lackey"], IMPORT_LINES)
        write_csv(sources["csv"], IMPORT_LINES)
        return {fmt: str(path) for fmt, path in sources.items()}

    def time_import(self, sources, fmt):
        from replay.importers import run_import
        run_import(fmt, sources[fmt], Path.cwd() / f"imported-{fmt}.parquet", {})


class CalibrateSpeed:
    """`replay calibrate`'s codec fits (lz4 and zstd-1 over the generated corpus; the
    memory measurements, which time the machine rather than the project, left out)."""

    timeout = 120
    number = 1
    repeat = (2, 5, 4.0)
    warmup_time = 0.0

    def time_calibrate_codecs(self):
        from replay.costs.calibrate import calibrate, corpus
        calibrate(["lz4", "zstd-1"], corpus(), "generated content classes", rounds=3,
                  measure_memory=False)
