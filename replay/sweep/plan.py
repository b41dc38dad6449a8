"""A spec made into runs: one per trace x settings x policy, each with a stable key.

A run's key is the sha256 of what decides its figures: the trace's bytes (its files'
digest), the policy, every model setting (``ModelConfig``, the memory limit in bytes) and
the cost, TLB and timeline settings (a cost model file by its bytes). The same run in
another spec, or spelled differently (``64k`` for ``64K``), has the same key: a table
keeps each key once, and a sweep skips the keys already there.

Runs that differ only in the policy form one task: a worker replays their policies in
lockstep over one read of the trace (three times cheaper than one replay per policy).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from replay.commands.common import (
    config_from_options,
    parse_memory_limit,
    progress_chunk_rows,
    sim_options,
)
from replay.errors import ReplayError
from replay.model.config import ModelConfig
from replay.study.executor import files_digest, trace_files
from replay.study.folders import find_trace, trace_name
from replay.sweep.settings import settings
from replay.sweep.spec import Spec, _fail
from replay.units import format_size

KEY_VERSION = 1                  # of what a run key hashes


@dataclass(frozen=True)
class SweepTrace:
    name: str
    path: Path
    digest: str
    accesses: int
    footprint_bytes: int
    stat: tuple[int, int]        # size and modification time (ns) when it was read


@dataclass
class Run:
    key: str
    trace: SweepTrace
    policy: str
    settings: dict               # setting name -> value as the spec gives it (canonical)
    memory_limit_bytes: int

    def columns(self) -> dict:
        """The run's columns in the table: what it is, before any figure."""
        out = {"run_key": self.key, "trace": self.trace.name,
               "trace_path": str(self.trace.path), "trace_digest": self.trace.digest,
               "trace_accesses": self.trace.accesses,
               "footprint_bytes": self.trace.footprint_bytes, "policy": self.policy}
        for name in settings():
            if name != "policy":
                out[name] = self.settings[name]
        out["memory_limit_bytes"] = self.memory_limit_bytes
        return out


@dataclass(frozen=True)
class SweepTask:
    """What a worker replays: one trace at one setting, under some policies."""

    label: str                   # "kvscan memory-limit=24M mthp=16K", for progress
    config: ModelConfig
    policies: tuple[str, ...]
    sim_options: dict
    chunk_rows: int
    trace_path: str              # where the sweep read the trace
    trace_stat: tuple[int, int]  # its size and modification time (ns) then


@dataclass
class TaskPlan:
    task: SweepTask
    trace: SweepTrace
    runs: list[Run]              # one per policy, in the task's policy order


@dataclass
class SweepPlan:
    spec: Spec
    traces: list[SweepTrace]
    runs: list[Run]              # every run of the spec, each key once, in spec order
    varied: list[str] = field(default_factory=list)

    def tasks(self, keys: set[str] | None = None) -> list[TaskPlan]:
        """The tasks of the runs whose key is in ``keys`` (default: every run)."""
        groups: dict[tuple, TaskPlan] = {}
        for run in self.runs:
            if keys is not None and run.key not in keys:
                continue
            cfg, sim = _model_of(run)
            g = (run.trace.digest, json.dumps(cfg.to_dict(), sort_keys=True),
                 json.dumps(sim, sort_keys=True))
            tp = groups.get(g)
            if tp is None:
                label = " ".join([run.trace.name] + [
                    f"{settings()[n].key}={run.settings[n]}" for n in self.varied])
                task = SweepTask(label, cfg, (), sim,
                                 progress_chunk_rows(run.trace.accesses),
                                 str(run.trace.path), run.trace.stat)
                tp = groups[g] = TaskPlan(task, run.trace, [])
            tp.runs.append(run)
        out = []
        for tp in groups.values():
            task = tp.task
            tp.task = dataclasses.replace(task, policies=tuple(r.policy for r in tp.runs))
            out.append(tp)
        return out


def _model_of(run: Run) -> tuple[ModelConfig, dict]:
    opts = dict(run.settings)
    return config_from_options(opts, run.memory_limit_bytes), sim_options(opts)


def _file_digest(path) -> str | None:
    if path is None:
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_key(trace_digest: str, policy: str, cfg: ModelConfig, sim: dict) -> str:
    sim = dict(sim)
    sim["cost_model"] = _file_digest(sim.get("cost_model"))
    doc = {"key_version": KEY_VERSION, "trace": trace_digest, "policy": policy,
           "model": cfg.to_dict(), "sim": sim}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]


def _trace_of(spec: Spec, text: str, cache: dict[str, SweepTrace]) -> SweepTrace:
    """A trace the spec names: a path from the spec's folder, or a name in traces/."""
    from replay.study.footprint import trace_footprint
    from replay.trace import open_trace
    candidate = (spec.path.parent / text).expanduser()
    try:
        path = candidate if candidate.is_file() else find_trace(text)
    except ReplayError as e:
        raise _fail(spec.path, "traces", e.one_line()) from None
    real = str(path.resolve())
    if real in cache:
        return cache[real]
    try:
        tr = open_trace(path)
        fp = trace_footprint(tr)
    except ReplayError as e:
        raise _fail(spec.path, "traces", e.one_line()) from None
    info = path.stat()
    st = SweepTrace(trace_name(path), path, files_digest(trace_files(path)),
                    int(tr.num_accesses), fp.bytes, (info.st_size, info.st_mtime_ns))
    cache[real] = st
    return st


def plan_sweep(spec: Spec, status=None) -> SweepPlan:
    """Every run of the spec: traces read (footprints, digests), memory limits resolved,
    keys made. ``status(text)`` is told what is being read."""
    cache: dict[str, SweepTrace] = {}
    runs: list[Run] = []
    seen: dict[str, Run] = {}
    limits_seen: dict[tuple[str, int, str], str] = {}
    for point in spec.points:
        for text in point.traces:
            if status is not None and text not in cache:
                status(f"reading {text} for its footprint and digest")
            tr = _trace_of(spec, text, cache)
            given = point.values["memory_limit"]
            limit = parse_memory_limit(given).bytes_for(tr.footprint_bytes)
            others = json.dumps({k: v for k, v in point.values.items()
                                 if k != "memory_limit"}, sort_keys=True)
            prev = limits_seen.setdefault((tr.digest, limit, others), given)
            if prev != given:
                raise _fail(spec.path, f"{point.where}.memory-limit",
                            f"{prev} and {given} are the same limit ({format_size(limit)}) "
                            f"for {tr.name}")
            cfg = config_from_options(dict(point.values), limit)
            sim = sim_options(dict(point.values))
            for policy in point.policies:
                key = run_key(tr.digest, policy, cfg, sim)
                if key in seen:
                    continue                  # the same run from another grid or run
                run = Run(key, tr, policy, dict(point.values), limit)
                seen[key] = run
                runs.append(run)
    return SweepPlan(spec, list(cache.values()), runs, spec.varied())
