"""`replay validate`: the same trace through the live kernel and through the simulator.

run_validation() checks the machine, sets the kernel up (mTHP sizes,
page-cluster once; per run a fresh swap backend and a fresh memcg),
replays the trace N times with the native replayer, snapshots the
counters right around each replay, restores every setting, then runs the
simulator with the matching ModelConfig and compares.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from replay import atomic
from replay.errors import ReplayError, SettingsError
from replay.live.counters import (
    kernel_result,
    read_kv,
    read_zram_mm_stat,
    snapshot,
    swap_ins,
    swap_outs,
)
from replay.live.faultlog import MAX_FAULTS, model_rows, read_kernel_log
from replay.live.native import ExportSummary, build_replayer, export_replay_file
from replay.live.paths import KernelPaths
from replay.live.probe import (
    KernelInfo,
    check_comparable,
    hugepage_users,
    mainline_policy,
    probe_kernel,
)
from replay.live.readahead import settle_swap_readahead
from replay.live.replayer import ReplayerDied, ReplayerProcess, ReplayerTimeout
from replay.live.runner import CommandRunner, LiveError, Refused
from replay.live.session import KernelSession, check_no_stale_journal, memcg_pids
from replay.live.setup import (
    Backend,
    create_memcg,
    restart_swap,
    set_mthp_sizes,
    set_page_cluster,
    setup_zram,
    setup_zswap,
    ZSWAP_DEVICES,
)
from replay.model.config import ModelConfig
from replay.trace import open_trace

BACKENDS = ("zram", "zswap")


HUGEPAGE_CHOICES = ("regions", "all")


@dataclass
class ValidateSettings:
    """What `replay validate` sets up; the ModelConfig follows from it."""

    backend: str = "zram"
    swap_device: str = "loop"              # under zswap: a loop device, or a swapfile
    mthp_sizes_kb: tuple[int, ...] = (64,)
    hugepage: str = "regions"              # MADV_HUGEPAGE where the regions sidecar says
                                           # (every block without one), or "all" blocks
    memory_limit_bytes: int = 64 << 20
    page_cluster: int = 3
    swappiness: int = 60
    swap_bytes: int | None = None          # zram disksize / loop file; None: from the trace
    runs: int = 3
    timeout_s: float = 600.0               # per run
    flush_every: int = 32
    verify: bool = False
    coalesce_pageout: bool = True          # a run of pageout records = one advised range
    allow_zswap: bool = False
    zswap_max_pool_percent: int | None = None
    zram_algorithm: str = "lz4"
    policies: tuple[str, ...] = ()         # empty: the mainline policy this kernel is
    model: bool = True
    fault_log: bool = False                # log every fault on a swap PTE (--fault-log)

    def check(self) -> ValidateSettings:
        if self.backend not in BACKENDS:
            raise SettingsError(f"backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.swap_device not in ZSWAP_DEVICES:
            raise SettingsError(f"swap device {self.swap_device!r} is not one of "
                                f"{', '.join(ZSWAP_DEVICES)}")
        if self.hugepage not in HUGEPAGE_CHOICES:
            raise SettingsError(f"hugepage {self.hugepage!r} is not one of "
                                f"{', '.join(HUGEPAGE_CHOICES)}")
        if self.runs < 1:
            raise SettingsError("--runs must be at least 1")
        if self.memory_limit_bytes < (4 << 20):
            raise SettingsError(f"memory limit {self.memory_limit_bytes} bytes is below 4 MiB")
        if not 0 <= self.page_cluster <= 31:
            raise SettingsError(f"page-cluster {self.page_cluster} is outside 0..31")
        if not 1 <= self.swappiness <= 200:
            raise SettingsError(f"swappiness {self.swappiness} is outside 1..200 (0 OOM-kills "
                                "at once under memcg v1)")
        if self.flush_every < 0:
            raise SettingsError("--flush-every must be 0 (never) or positive")
        if self.timeout_s <= 0:
            raise SettingsError("--timeout must be positive")
        return self


def default_swap_bytes(export: ExportSummary) -> int:
    """Room for the whole replayed region twice over, at least 256 MiB, in MiB."""
    need = max(256 << 20, 2 * export.region_bytes)
    return -(-need // (1 << 20)) << 20


def model_config(settings: ValidateSettings, info: KernelInfo, backend: Backend | None,
                 swap_bytes: int) -> ModelConfig:
    """The simulator settings that match the kernel run."""
    return ModelConfig(
        memory_limit_bytes=settings.memory_limit_bytes,
        mthp_sizes_kb=tuple(settings.mthp_sizes_kb),
        thp_enabled="madvise",            # the sizes are set to madvise, the replayer
        hugepage_default=True,            # madvises every block without a regions sidecar
        hugepage_all=settings.hugepage == "all",
        block_mappings=True,              # the replayer maps the trace as one region
        backend=settings.backend,
        swap_device="zram" if settings.backend == "zram" else settings.swap_device,
        ram_bytes=info.ram_bytes or ModelConfig.ram_bytes,
        swap_bytes=swap_bytes,
        page_cluster=settings.page_cluster,
        rotational=backend.rotational if backend else settings.backend != "zram",
        memcg="v1",
        first_read="allocate",
        zswap_ever_enabled=bool(info.zswap_ever_enabled) or settings.backend == "zswap",
        compressor=(backend.compressor if backend else
                    (settings.zram_algorithm if settings.backend == "zram"
                     else info.zswap_compressor or "lzo")),
        swappiness=settings.swappiness,
        **({"zswap_max_pool_percent": settings.zswap_max_pool_percent}
           if settings.zswap_max_pool_percent else {}),
    )


# ---------------------------------------------------------------- one run


def replay_once(session: KernelSession, *, binary: Path, export: ExportSummary,
                settings: ValidateSettings, swap_bytes: int, config: dict, index: int,
                progress=None, fault_log: Path | None = None) -> tuple[dict, Backend]:
    """One kernel run: fresh backend and memcg, replay, counters; undone at the end."""
    paths = session.paths
    t_start = time.monotonic()
    with session.scope():
        if settings.backend == "zram":
            backend = setup_zram(session, disksize_bytes=swap_bytes,
                                 algorithm=settings.zram_algorithm)
        else:
            backend = setup_zswap(session, swap_bytes=swap_bytes, device=settings.swap_device,
                                  max_pool_percent=settings.zswap_max_pool_percent)
        memcg = create_memcg(session, limit_bytes=settings.memory_limit_bytes,
                             swappiness=settings.swappiness)
        if settings.backend != "zram" and settings.page_cluster > 0 and paths.is_real:
            settle_swap_readahead()
            # the child's slots were freed but its allocations moved the device's
            # cluster state on: a fresh swapon starts it where the model starts
            restart_swap(session, backend)
        proc = ReplayerProcess(binary, export.path, memcg,
                               hugepage=bool(settings.mthp_sizes_kb),
                               flush_every=settings.flush_every, verify=settings.verify,
                               coalesce_pageout=settings.coalesce_pageout,
                               lock_optional=not paths.is_real, fault_log=fault_log)
        try:
            deadline = time.monotonic() + settings.timeout_s
            proc.start()
            ready = proc.wait_ready(deadline)
            if proc.pid not in memcg_pids(memcg):
                raise LiveError(f"the replayer (pid {proc.pid}) is not in {memcg} after "
                                "joining it")
            others = set(hugepage_users(paths, {proc.pid, os.getpid()}))
            before = snapshot(paths, memcg, settings.mthp_sizes_kb)
            proc.go()
            try:
                done = proc.wait_done(deadline)
            except ReplayerDied as e:
                raise _explain_death(e, memcg, settings, index, swap_bytes) from None
            except ReplayerTimeout:
                raise LiveError(f"run {index}: the replayer did not finish within "
                                f"{settings.timeout_s:g} s (--timeout)") from None
            after = snapshot(paths, memcg, settings.mthp_sizes_kb)
            others |= set(hugepage_users(paths, {proc.pid, os.getpid()}))
            memcg_extra = _memcg_extra(memcg)
            zram_stat = read_zram_mm_stat(paths.zram(0)) if backend.name == "zram" else {}
            proc.release()
        finally:
            proc.close()
        if done.get("verify_mismatches"):
            raise LiveError(f"run {index}: {done['verify_mismatches']} page(s) read back with "
                            f"wrong content (first at record {done['first_mismatch_record'] + 1})"
                            ": the kernel corrupted memory, or the replayer has a bug")
    run = {"index": index, "replayer": done, "ready": ready,
           "rusage_process": proc.rusage_dict(),
           "backend": asdict(backend), "memcg": memcg.name,
           "duration_ns": int((time.monotonic() - t_start) * 1e9)}
    extra = {"memcg": memcg_extra, "zram_mm_stat": zram_stat,
             "other_hugepage_users": sorted(others) if settings.mthp_sizes_kb else [],
             "rusage_majflt": done.get("majflt"), "rusage_minflt": done.get("minflt")}
    result = kernel_result(before, after, sizes_kb=settings.mthp_sizes_kb, config=config,
                           run=run, extra_derived=extra)
    if progress:
        c = result["counters"]
        progress(f"run {index}/{settings.runs}: {done['elapsed_ns'] / 1e9:.2f} s replay, "
                 f"{run['duration_ns'] / 1e9:.2f} s in all, pgmajfault {c.get('pgmajfault', 0)}"
                 f", swap-ins {swap_ins(c)}, swap-outs {swap_outs(c)}")
    return result, backend


def _memcg_extra(memcg: Path) -> dict:
    out = {}
    for name in ("memory.max_usage_in_bytes", "memory.memsw.max_usage_in_bytes",
                 "memory.failcnt"):
        try:
            out[name.removeprefix("memory.")] = int((memcg / name).read_text().strip())
        except (OSError, ValueError):
            pass
    try:
        out["oom_kill"] = read_kv(memcg / "memory.oom_control").get("oom_kill", 0)
    except OSError:
        pass
    return out


def _explain_death(e: ReplayerDied, memcg: Path, settings: ValidateSettings, index: int,
                   swap_bytes: int) -> LiveError:
    extra = _memcg_extra(memcg)
    if e.signal == 9 and extra.get("oom_kill"):
        # the dead process's swap is freed by now; memsw's peak still tells how full it got
        swap_peak = max(0, extra.get("memsw.max_usage_in_bytes", 0)
                        - settings.memory_limit_bytes)
        full = swap_peak > 0.9 * swap_bytes
        return LiveError(f"run {index}: the kernel OOM-killed the replayer in its memcg (limit "
                         f"{settings.memory_limit_bytes >> 20} MiB, swappiness "
                         f"{settings.swappiness}, swap use peaked near {swap_peak >> 20} of "
                         f"{swap_bytes >> 20} MiB)"
                         + ("; raise --swap-size" if full else
                            "; the memcg's LRU state is in the kernel log (dmesg)"))
    return LiveError(f"run {index}: {e.message}")


# ---------------------------------------------------------------- all runs


def run_kernel(trace_path: str | os.PathLike, settings: ValidateSettings, *,
               paths: KernelPaths | None = None, runner: CommandRunner | None = None,
               progress=None, cache: Path | None = None) -> dict:
    """The kernel side: N runs, every setting restored; returns the runs and the setup."""
    try:
        return _run_kernel(trace_path, settings, paths=paths, runner=runner, progress=progress,
                           cache=cache)
    except OSError as e:      # after every restore: one line, not a traceback
        where = f"{e.filename}: " if e.filename else ""
        raise LiveError(f"{where}{e.strerror or e}") from None


def _run_kernel(trace_path, settings: ValidateSettings, *, paths, runner, progress,
                cache) -> dict:
    settings.check()
    paths = paths or KernelPaths()
    runner = runner or CommandRunner()
    trace = open_trace(trace_path)
    check_no_stale_journal(paths)        # a killed run's leftovers explain everything else
    info = probe_kernel(paths, runner)
    check_comparable(info, backend=settings.backend, allow_zswap=settings.allow_zswap)
    binary = build_replayer(runner, cache=cache)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="folio-replay-validate-") as tmp:
        export = export_replay_file(trace, Path(tmp) / "trace.frp",
                                    hugepage_all=settings.hugepage == "all")
        swap_bytes = settings.swap_bytes or default_swap_bytes(export)
        if export.region_bytes > info.ram_bytes // 2 and info.ram_bytes:
            raise Refused(f"the replayed region ({export.region_bytes >> 20} MiB) is more than "
                          f"half of RAM ({info.ram_bytes >> 20} MiB)")
        if progress:
            progress(f"kernel {info.release}; zswap ever enabled: {info.zswap_ever_enabled} "
                     f"({info.zswap_evidence}); {export.records:,} accesses over "
                     f"{export.region_bytes >> 20} MiB")
        runs: list[dict] = []
        fault_logs: dict[str, np.ndarray] = {}
        backend = None
        with KernelSession(paths, runner, allow_zswap=settings.allow_zswap) as session:
            set_mthp_sizes(session, tuple(settings.mthp_sizes_kb))
            set_page_cluster(session, settings.page_cluster)
            for i in range(1, settings.runs + 1):
                config = model_config(settings, info, backend, swap_bytes).to_dict()
                log_path = Path(tmp) / f"faults-{i}.bin" if settings.fault_log else None
                result, backend = replay_once(session, binary=binary, export=export,
                                              settings=settings, swap_bytes=swap_bytes,
                                              config=config, index=i, progress=progress,
                                              fault_log=log_path)
                runs.append(result)
                if log_path is not None:
                    fault_logs[f"kernel run {i}"] = read_kernel_log(log_path)
    config = model_config(settings, info, backend, swap_bytes)
    for r in runs:
        r["config"] = config.to_dict()
    return {"kernel": info.to_dict(), "settings": asdict(settings), "runs": runs,
            "export": {"records": export.records, "pages": export.pages,
                       "contents": export.contents, "data_pages": export.data_pages,
                       "hugepage_blocks": export.hugepage_blocks,
                       "class_pages": export.class_pages},
            "model_config": config, "swap_bytes": swap_bytes,
            "kernel_seconds": time.monotonic() - t0,
            **({"fault_logs": fault_logs} if settings.fault_log else {})}


def run_model(trace_path, config: ModelConfig, policies: list[str],
              fault_log: bool = False) -> list[dict]:
    """The simulator on the same trace (replay.engine.simulate)."""
    try:
        from replay.engine import simulate
    except ImportError as e:
        raise LiveError(f"the simulator is not available ({e}); the kernel's counters are "
                        "above") from None
    return simulate(str(trace_path), config, policies=policies,
                    fault_log=MAX_FAULTS if fault_log else 0)


def run_validation(trace_path: str | os.PathLike, settings: ValidateSettings, *,
                   paths: KernelPaths | None = None, runner: CommandRunner | None = None,
                   progress=None, cache: Path | None = None) -> dict:
    """Kernel runs, then the model, then the comparison: the whole report as plain data.

    A model failure does not lose the kernel's measurements: the report
    then has ``model_error`` and no comparison.
    """
    report = run_kernel(trace_path, settings, paths=paths, runner=runner, progress=progress,
                        cache=cache)
    config: ModelConfig = report.pop("model_config")
    info = report["kernel"]
    policies = list(settings.policies) or [mainline_policy(KernelInfo(**info), settings.backend)]
    report["policies"] = policies
    report["model_config"] = config.to_dict()
    report["model"] = []
    report["model_error"] = None
    if settings.model:
        t0 = time.monotonic()
        try:
            report["model"] = run_model(trace_path, config, policies, settings.fault_log)
            for m in report["model"]:
                if "fault_log" in m:
                    report.setdefault("fault_logs", {})[f"model {m['policy']}"] = model_rows(
                        m.pop("fault_log"))
        except ReplayError as e:
            report["model_error"] = e.one_line()
        except Exception as e:  # noqa: BLE001 - a model bug must not lose the kernel's runs
            report["model_error"] = f"{type(e).__name__}: {e}"
        report["model_seconds"] = time.monotonic() - t0
    report["kernel_summary"] = summarize_runs(report["runs"])
    report["comparison"] = {m["policy"]: compare(report["runs"], m) for m in report["model"]}
    errors = [abs(row["relative_error"]) for rows in report["comparison"].values()
              for row in rows if row["relative_error"] is not None and not row["shared"]]
    report["max_relative_error"] = max(errors) if errors else None
    report["consistency"] = consistency_notes(report)
    return report


# ---------------------------------------------------------------- comparing


def flatten(result: dict) -> dict[str, float]:
    """The comparable numbers of a result: headline lines first, then every counter."""
    c = result.get("counters", {})
    out: dict[str, float] = {}
    if "pgmajfault" in c:
        out["pgmajfault"] = c["pgmajfault"]
    out["swap-ins"] = swap_ins(c)
    out["swap-outs"] = swap_outs(c)
    per_size = result.get("per_size", {})
    for size, stats in per_size.items():
        if "swpout" in stats:
            out[f"{size} swpout"] = stats["swpout"]
    for name in sorted(c):
        if name != "pgmajfault":
            out[name] = c[name]
    for size in per_size:
        for name in sorted(per_size[size]):
            key = f"{size} {name}"
            if key not in out:
                out[key] = per_size[size][name]
    return out


def summarize_runs(runs: list[dict]) -> dict[str, dict]:
    """Per line: mean, min, max and relative spread ((max - min) / max(|mean|, 1)) over runs."""
    flat = [flatten(r) for r in runs]
    out = {}
    for key in flat[0] if flat else []:
        values = [f[key] for f in flat if key in f]
        mean = sum(values) / len(values)
        out[key] = {"mean": mean, "min": min(values), "max": max(values),
                    "values": values,
                    "spread": (max(values) - min(values)) / max(abs(mean), 1.0)}
    return out


def relative_error(model: float, kernel: float) -> float:
    """(model - kernel) / max(|kernel|, 1): defined when the kernel counted 0, never inf."""
    return (model - kernel) / max(abs(kernel), 1.0)


# counters other processes' mTHP faults and splits also feed (global hugepages-*/stats, thp_*)
SHARED_MTHP_STATS = ("anon_fault_alloc", "anon_fault_fallback", "anon_fault_fallback_charge",
                     "anon_fault_declined", "split", "split_failed", "split_deferred")
SHARED_THP_EVENTS = ("thp_split_page", "thp_deferred_split_page")


def shared_keys(kernel_runs: list[dict]) -> set[str]:
    """Lines another process may have counted in: when one had MADV_HUGEPAGE regions."""
    if not any(r.get("derived", {}).get("other_hugepage_users") for r in kernel_runs):
        return set()
    keys = set(SHARED_THP_EVENTS)
    for r in kernel_runs:
        for size in r.get("per_size", {}):
            keys.update(f"{size} {name}" for name in SHARED_MTHP_STATS)
    return keys


def compare(kernel_runs: list[dict], model: dict) -> list[dict]:
    """Rows of kernel (mean over runs) vs model: the headline lines, then shared counters.

    ``shared`` marks lines other processes may have counted in during the
    runs (global mTHP fault and split statistics); they stay out of
    ``max_relative_error``.
    """
    summary = summarize_runs(kernel_runs)
    shared = shared_keys(kernel_runs)
    m = flatten(model)
    rows = []
    for key, k in summary.items():
        if key not in m:
            continue
        value = m[key]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        rows.append({"counter": key, "kernel": k["mean"], "kernel_min": k["min"],
                     "kernel_max": k["max"], "kernel_spread": k["spread"], "model": value,
                     "relative_error": relative_error(value, k["mean"]),
                     "shared": key in shared})
    return rows


def consistency_notes(report: dict) -> list[str]:
    """Checks of the kernel's behaviour against what the setup implies."""
    notes = []
    for r in report["runs"]:
        c, d = r["counters"], r["derived"]
        rus = d.get("rusage_majflt")
        if rus is not None and c.get("pgmajfault") is not None and rus != c["pgmajfault"]:
            notes.append(f"run {r['run']['index']}: getrusage majflt {rus} != memcg "
                         f"pgmajfault {c['pgmajfault']} (a fault retried after waiting on a "
                         "folio lock counts as major in getrusage only)")
        users = d.get("other_hugepage_users") or []
        if users:
            who = ", ".join(f"{pid} {comm}" for pid, comm in users[:5])
            notes.append(f"run {r['run']['index']}: other processes have MADV_HUGEPAGE regions "
                         f"({who}): the global mTHP counters (hugepages-*kB/stats, thp_*) "
                         "include their faults and splits")
        minflt = d.get("rusage_minflt")
        for size, st in r["per_size"].items():
            allocs = st.get("anon_fault_alloc", 0) + st.get("anon_fault_fallback", 0)
            if minflt is not None and allocs > minflt:
                notes.append(f"run {r['run']['index']}: {size} anon faults ({allocs}) exceed "
                             f"the replayer's minor faults ({minflt}): other processes "
                             "faulted mTHP folios during the run")
        if d.get("memcg", {}).get("oom_kill"):
            notes.append(f"run {r['run']['index']}: {d['memcg']['oom_kill']} OOM kill(s) in "
                         "the memcg")
    info = report["kernel"]
    if report["settings"]["backend"] == "zram" and info.get("zswap_ever_enabled") is False:
        for r in report["runs"]:
            for size, st in r["per_size"].items():
                if st.get("swpout", 0) and not st.get("swpin", 0) \
                        and not st.get("swpin_fallback", 0) and swap_ins(r["counters"]):
                    notes.append(f"run {r['run']['index']}: {size} folios swapped out but "
                                 "none swapped in whole: was zswap enabled since boot after "
                                 "all?")
    return notes


def write_json_atomic(path: str | os.PathLike, data: dict, inputs=()) -> None:
    """Write the report as JSON through a temporary file and a rename (never over one
    of ``inputs``)."""
    atomic.write_json_atomic(path, data, default=_json_default, inputs=inputs)


def _json_default(o):
    if isinstance(o, (Path,)):
        return str(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


__all__ = ["ValidateSettings", "compare", "flatten", "relative_error", "run_kernel",
           "run_validation", "summarize_runs", "write_json_atomic"]
