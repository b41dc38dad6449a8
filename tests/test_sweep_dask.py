"""`replay sweep` and `replay compare` on a real Dask cluster (``LocalCluster``: a scheduler
and two worker processes on loopback): the same table as local processes, row for row;
traces sent to each worker once (or read from a shared path); a worker killed mid-run,
its runs replayed elsewhere with no row lost or twice."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from replay.cli import main
from replay.engine import simulate
from replay.model.config import ModelConfig
from replay.study.executor import DaskCluster, LocalProcesses
from replay.study.parallel import ReplayJob, run_replays
from replay.sweep.plan import plan_sweep
from replay.sweep.progress import SweepProgress
from replay.sweep.runner import run_sweep
from replay.sweep.spec import load_spec
from replay.sweep.table import ResultsTable

distributed = pytest.importorskip("distributed")

KVSCAN = Path(__file__).resolve().parents[1] / "traces" / "kvscan.parquet"
TRACE_KEY = "folio-replay-trace-"


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0",
                                  silence_logs=logging.ERROR) as c:
        yield c


def without_run_columns(table):
    table = table.sort_by("run_key")
    return table.select([c for c in table.column_names if not c.startswith("run.")])


def test_the_cluster_table_is_the_local_table_row_for_row(tmp_path, cluster, zipf_trace,
                                                          seq_trace):
    spec = tmp_path / "s.toml"
    spec.write_text(f'''
traces = ["{zipf_trace}", "{seq_trace}"]
[grid]
policy = ["order0-fallback", "hybrid-supported"]
memory-limit = ["6M", "40%"]
mthp = ["16K", "64K"]
''')
    local, remote = tmp_path / "local.parquet", tmp_path / "cluster.parquet"
    with ResultsTable(local) as table, LocalProcesses(2) as ex:
        run_sweep(plan_sweep(load_spec(spec)), table, ex)
    assert main(["sweep", str(spec), "-o", str(remote), "--scheduler",
                 cluster.scheduler_address, "--quiet"]) == 0
    a, b = pq.read_table(local), pq.read_table(remote)
    assert a.num_rows == b.num_rows == 16
    assert a.column_names == b.column_names
    assert without_run_columns(a).equals(without_run_columns(b))
    assert set(b.column("status").to_pylist()) == {"ok"}
    workers = set(b.column("run.worker").to_pylist())
    assert all(w.startswith("tcp://127.0.0.1:") for w in workers)
    # each trace went to each worker at most once (the tasks after read the worker's copy)
    with distributed.Client(cluster.scheduler_address) as client:
        fetched = client.run(lambda dask_worker: [
            k for entry in dask_worker.transfer_incoming_log
            for k in entry.get("keys", {}) if str(k).startswith(TRACE_KEY)])
    for worker, keys in fetched.items():
        assert len(keys) == len(set(keys)), (worker, keys)


def test_shared_traces_are_read_from_their_path(tmp_path, cluster, zipf_trace):
    spec = tmp_path / "s.toml"
    spec.write_text(f'''
traces = ["{zipf_trace}"]
shared-traces = true
[grid]
policy = ["order0-fallback"]
memory-limit = ["6M", "8M"]
''')
    plan = plan_sweep(load_spec(spec))
    with ResultsTable(tmp_path / "r.parquet") as table, \
            DaskCluster(cluster.scheduler_address) as ex:
        outcome = run_sweep(plan, table, ex)
        held = [k for keys in ex.client.has_what().values() for k in keys
                if str(k).startswith(TRACE_KEY)]
    assert (outcome.replayed, outcome.failed) == (2, 0)
    assert held == []                           # nothing sent: the workers read the path
    rows = pq.read_table(tmp_path / "r.parquet").to_pylist()
    (lib,) = simulate(zipf_trace, ModelConfig(memory_limit_bytes=6 << 20, zswap_shrinker=True),
                      ["order0-fallback"])
    row = next(r for r in rows if r["memory_limit"] == "6M")
    assert row["counters.pgmajfault"] == lib["counters"]["pgmajfault"]


class KillFirstWorker(SweepProgress):
    """Kills (SIGKILL) the worker that starts the first task, while it replays it."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__()
        self.pids = pids
        self.killed: tuple[int, str] | None = None

    def started(self, k, worker):
        super().started(k, worker)
        if self.killed is None and worker in self.pids:
            os.kill(self.pids[worker], signal.SIGKILL)
            self.killed = (k, worker)


def test_a_worker_killed_mid_sweep_its_runs_go_elsewhere_no_row_lost_or_twice(tmp_path,
                                                                              cluster):
    spec = tmp_path / "s.toml"
    spec.write_text(f'''
traces = ["{KVSCAN}"]
[grid]
policy = ["order0-fallback", "hybrid-supported"]
memory-limit = ["16M", "20M", "24M", "28M"]
''')
    plan = plan_sweep(load_spec(spec))
    out = tmp_path / "r.parquet"
    with ResultsTable(out) as table, DaskCluster(cluster.scheduler_address) as ex:
        ex.client.wait_for_workers(2, timeout=60)
        pids = ex.client.run(os.getpid)
        progress = KillFirstWorker(pids)
        outcome = run_sweep(plan, table, ex, progress)
    assert progress.killed is not None
    task, dead = progress.killed
    t = pq.read_table(out)
    keys = t.column("run_key").to_pylist()
    assert sorted(keys) == sorted(r.key for r in plan.runs)      # none lost, none twice
    assert (outcome.replayed, outcome.failed) == (8, 0)
    assert set(t.column("status").to_pylist()) == {"ok"}
    killed_runs = {r.key for r in plan.tasks()[task].runs}
    for row in t.to_pylist():
        if row["run_key"] in killed_runs:
            assert row["run.worker"] != dead     # replayed again by another worker
    assert cluster.scheduler_address                # the cluster lives on (nanny restarts)


def test_compare_on_a_cluster_replays_what_the_library_replays(cluster, zipf_trace):
    cfg = ModelConfig(memory_limit_bytes=6 << 20, zswap_shrinker=True)
    jobs = [ReplayJob("zipf @ 6M", str(zipf_trace), cfg, ("order0-fallback", "full-zswap"),
                      30_000, 1 << 16)]
    (remote,) = run_replays(jobs, scheduler=cluster.scheduler_address)
    lib = simulate(zipf_trace, cfg, ["order0-fallback", "full-zswap"])
    assert [r["counters"] for r in remote] == [r["counters"] for r in lib]
    assert [r["per_size"] for r in remote] == [r["per_size"] for r in lib]


def test_an_unreachable_scheduler_is_one_line(tmp_path, capsys, zipf_trace):
    spec = tmp_path / "s.toml"
    spec.write_text(f'traces = ["{zipf_trace}"]\n')
    code = main(["sweep", str(spec), "--scheduler", "tcp://127.0.0.1:9", "-o",
                 str(tmp_path / "r.parquet")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "cannot reach a Dask scheduler" in err[0]
    assert not (tmp_path / "r.parquet").exists()
    assert main(["sweep", str(spec), "--scheduler", "tcp://127.0.0.1", "-o",
                 str(tmp_path / "r.parquet")]) == 2
    assert "is not an address like tcp://HOST:PORT" in capsys.readouterr().err


class InterruptAfterFirst(SweepProgress):
    """Ctrl-C in the sweep's process once its first task has finished."""

    def finished(self, k, worker, seconds, failed):
        super().finished(k, worker, seconds, failed)
        raise KeyboardInterrupt


def test_a_cluster_sweep_interrupted_and_rerun_has_every_run_once(tmp_path, cluster):
    spec = tmp_path / "s.toml"
    spec.write_text(f'''
traces = ["{KVSCAN}"]
[settings]
tlb = "none"
[grid]
policy = ["order0-fallback", "hybrid-supported"]
memory-limit = ["16M", "20M", "24M", "28M", "32M"]
''')
    plan = plan_sweep(load_spec(spec))
    out = tmp_path / "r.parquet"
    with ResultsTable(out) as table, DaskCluster(cluster.scheduler_address) as ex:
        with pytest.raises(KeyboardInterrupt):
            run_sweep(plan, table, ex, InterruptAfterFirst())
    first = pq.read_table(out).column("run_key").to_pylist()
    assert 2 <= len(first) < 10 and len(first) == len(set(first))
    with ResultsTable(out) as table, DaskCluster(cluster.scheduler_address) as ex:
        outcome = run_sweep(plan, table, ex)
    assert (outcome.skipped, outcome.replayed, outcome.failed) == (len(first),
                                                                  10 - len(first), 0)
    keys = pq.read_table(out).column("run_key").to_pylist()
    assert sorted(keys) == sorted(r.key for r in plan.runs)
