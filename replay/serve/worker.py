"""What a worker process does with one job: the comparison `replay compare` would make
(the trace's footprint, then one replay per memory limit, every policy side by side in
threads), its report and JSON document written atomically under ``results/<job id>/``,
progress written to the job as it goes.

The worker dies with the server (PR_SET_PDEATHSIG on Linux): a server killed mid-job
leaves no replay running, and the next server marks that job failed. Every write to the
job is guarded by its run token (replay/serve/store.py), so a worker whose job was
cancelled or failed meanwhile changes nothing; it exits as soon as it notices.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from replay.errors import ReplayError, TraceError
from replay.serve.store import DONE, FAILED, RUNNING, JobRecord, Store

PROGRESS_EVERY_S = 0.25
PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Be killed when the server dies (Linux), and exit now if it already has."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(1)


class Progress:
    """The job's phase and accesses replayed, written at most every PROGRESS_EVERY_S."""

    def __init__(self, store: Store, job: JobRecord) -> None:
        self.store = store
        self.job_id = job.id
        self.token = job.run_token or ""
        self.base = 0
        self.last = 0.0

    def _write(self, **kw) -> None:
        if not self.store.report_progress(self.job_id, self.token, **kw):
            os._exit(0)                  # cancelled or failed by the server: nothing to do

    def phase(self, text: str, **kw) -> None:
        self._write(phase=text, **kw)

    def accesses(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            self._write(done=self.base + done)


def trace_source(store: Store, job: JobRecord) -> tuple[Path, dict]:
    """The job's trace file, and what its report says about it instead of server paths."""
    from replay.serve.uploads import trace_stem
    from replay.study.folders import is_trace_file, traces_folder
    bundled = job.bundled_name
    if bundled is not None:
        path = traces_folder() / f"{bundled}.parquet"
        if not is_trace_file(path):
            raise TraceError("no longer in the server's traces folder", path=bundled)
        return path, {"path": f"traces/{bundled}.parquet"}
    rec = store.trace(job.trace_ref)
    path = store.trace_path(job.trace_ref)
    if rec is None or not path.is_file():
        raise TraceError("the uploaded trace is no longer on the server", path=job.trace_name)
    header = {"path": f"{trace_stem(rec.name)}.parquet"}
    if rec.format != "parquet":
        header["source_file"] = rec.name
    return path, header


def compare(store: Store, job: JobRecord, threads: int, progress: Progress) -> dict:
    """The `replay compare` document of the job's trace and settings."""
    from replay.commands.common import (
        config_from_options,
        parse_memory_limit,
        progress_chunk_rows,
        resolve_policies,
        sim_options,
    )
    from replay.engine import simulate, trace_header
    from replay.errors import SettingsError
    from replay.policies import available
    from replay.report.document import compare_document, replay_entry
    from replay.report.notes import replay_notes
    from replay.serve.settings import compare_options
    from replay.study.footprint import trace_footprint
    from replay.trace import open_trace
    from replay.units import format_size

    opts = compare_options(job.settings)
    limits = [parse_memory_limit(t) for t in job.memory_limits]
    policies = resolve_policies(opts["policies"])
    kw = sim_options(opts)
    path, shown = trace_source(store, job)
    try:
        trace = open_trace(path)
        progress.phase("reading the trace for its footprint")
        footprint = trace_footprint(trace)
    except TraceError as e:
        if e.path == str(path):
            raise TraceError(e.message, path=job.trace_name, fmt=e.fmt, line=e.line,
                             record=e.record) from None
        raise
    resolved: dict[int, str] = {}
    plan = []
    for lim in limits:
        limit_bytes = lim.bytes_for(footprint.bytes)
        if limit_bytes in resolved:
            raise SettingsError(f"--memory-limit {lim.text} and {resolved[limit_bytes]} are "
                                f"the same limit ({format_size(limit_bytes)}) for "
                                f"{job.trace_name}")
        resolved[limit_bytes] = lim.text
        plan.append((lim.text, limit_bytes, config_from_options(opts, limit_bytes)))
    accesses = int(trace.num_accesses)
    header = {**trace_header(trace), **shown}
    chunk_rows = progress_chunk_rows(accesses)
    replays = []
    progress.phase(f"replaying at {format_size(plan[0][1])}", total=accesses * len(plan),
                   done=0, replay_started=time.time())
    for k, (given, limit_bytes, cfg) in enumerate(plan):
        progress.base = k * accesses
        if k:
            progress.phase(f"replaying at {format_size(limit_bytes)} ({k + 1} of {len(plan)})")
        elif len(plan) > 1:
            progress.phase(f"replaying at {format_size(limit_bytes)} (1 of {len(plan)})")
        results = simulate(trace, cfg, policies, progress=progress.accesses, threads=threads,
                           chunk_rows=chunk_rows, **kw)
        progress.accesses(accesses, force=True)
        entry = replay_entry(header, footprint.to_dict(), given, limit_bytes, results)
        entry["notes"] = replay_notes(entry, list(available()))
        replays.append(entry)
    return compare_document(replays, policies)


def verdict_of(doc: dict) -> list[dict]:
    """Per replay: each policy's major faults, the policies with the fewest (OOM-killed
    ones left out) and those OOM-killed: what the list of comparisons shows."""
    out = []
    for rp in doc["replays"]:
        faults = {r["policy"]: int(r["counters"]["pgmajfault"]) for r in rp["results"]}
        killed = [r["policy"] for r in rp["results"] if r["derived"].get("oom_killed")]
        alive = {p: n for p, n in faults.items() if p not in killed}
        best = min(alive.values()) if alive else None
        out.append({"memory_limit": rp["memory_limit"]["given"],
                    "memory_limit_bytes": rp["memory_limit"]["bytes"],
                    "pgmajfault": faults,
                    "fewest_major_faults": [p for p, n in alive.items() if n == best],
                    "oom_killed": killed})
    return out


def run(data_dir: str, job_id: str, run_token: str, threads: int, parent_pid: int) -> None:
    """A worker process's entry point: run one job to its end."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the server stops its workers itself
    store = Store(data_dir)
    job = store.job(job_id)
    if job is None or job.run_token != run_token or job.state != RUNNING:
        return
    progress = Progress(store, job)
    try:
        doc = compare(store, job, threads, progress)
        progress.phase("drawing the report's figures")
        from replay.atomic import write_json_atomic, write_text_atomic
        from replay.report.html import report_html
        from replay.serve.settings import available_policies
        page = report_html(doc, available_policies())
        progress.phase("writing the report")
        folder = store.result_dir(job_id)
        folder.mkdir(exist_ok=True)
        write_json_atomic(folder / "result.json", doc)
        write_text_atomic(folder / "report.html", page)
        store.finish(job_id, run_token, DONE, verdict=verdict_of(doc))
    except ReplayError as e:
        store.finish(job_id, run_token, FAILED, error=e.one_line())
    except MemoryError:
        store.finish(job_id, run_token, FAILED, error="the worker ran out of memory")
    except Exception as e:           # noqa: BLE001 - the job fails with its reason, logged
        traceback.print_exc()
        first = (str(e).strip().splitlines() or [""])[0][:200]
        store.finish(job_id, run_token, FAILED,
                     error=f"internal error: {type(e).__name__}: {first} (the server's log "
                     "has the traceback)")
