"""The asv suite (benchmarks/suite.py): its parameters are found when it loads (a trace dropped
into the traces folder is tracked), its settings are `replay compare`'s defaults, and its
benchmarks return numbers."""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import math
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from replay.commands.common import config_from_options, sim_options
from replay.commands.compare import COMMAND as COMPARE
from replay.engine import simulate
from replay.gen import generate_to
from replay.policies import available
from replay.study.folders import TRACES_ENV
from replay.study.footprint import trace_footprint
from replay.trace import TraceMeta, open_trace, write_trace

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "benchmarks" / "suite.py"
KVSCAN = ROOT / "traces" / "kvscan.parquet"

_loads = itertools.count()


def load_suite():
    """A fresh import of the suite, as asv does in each of its processes (the parameters
    are computed then)."""
    spec = importlib.util.spec_from_file_location(f"asv_suite_{next(_loads)}", SUITE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def track_methods(cls) -> list[str]:
    return sorted(name for name in dir(cls) if name.startswith("track_"))


@pytest.fixture
def traces_folder(tmp_path, monkeypatch):
    """An empty traces folder the suite (and `replay compare`) reads instead of traces/."""
    folder = tmp_path / "traces"
    folder.mkdir()
    monkeypatch.setenv(TRACES_ENV, str(folder))
    return folder


def test_a_trace_dropped_in_is_a_new_parameter_value(traces_folder):
    shutil.copy(KVSCAN, traces_folder / "kvscan.parquet")
    assert load_suite().PolicyOutcomes.params[0] == ["kvscan"]

    generate_to(traces_folder / "dropped.parquet", "zipf", accesses=2_000, pages=300, seed=1)
    (traces_folder / ".importing.parquet").write_bytes(b"")        # hidden: not a trace
    suite = load_suite()
    # sidecars are not traces: generate_to wrote dropped.contents.parquet beside it
    assert (traces_folder / "dropped.contents.parquet").exists()
    assert suite.PolicyOutcomes.params[0] == ["dropped", "kvscan"]
    assert suite.PolicyOutcomes.params[1] == ["1/3", "1/2", "2/3"]
    assert suite.PolicyOutcomes.params[2] == list(available())


def test_without_the_variable_the_checkouts_traces_are_tracked(monkeypatch):
    monkeypatch.delenv(TRACES_ENV, raising=False)
    names = load_suite().PolicyOutcomes.params[0]
    assert names == sorted(p.name.removesuffix(".parquet") for p in (ROOT / "traces").iterdir()
                           if p.name.endswith(".parquet") and p.name.count(".") == 1)
    assert "kvscan" in names


def test_footprint_and_memory_limits_are_replay_compares(tmp_path):
    suite = load_suite()
    # two address spaces sharing page numbers, pageouts and frees that touch nothing new
    vpn = np.array([10, 11, 10, 10, 12, 99, 98, 11], np.int64)
    op = np.array([0, 1, 0, 0, 1, 2, 3, 0], np.uint8)
    asid = np.array([0, 0, 1, 1, 1, 0, 1, 1], np.int32)
    path = tmp_path / "two-spaces.parquet"
    write_trace(path, TraceMeta(), np.arange(len(vpn), dtype=np.int64), vpn, op, asid)
    assert suite.footprint_bytes(path) == 5 * 4096
    assert suite.footprint_bytes(path) == trace_footprint(open_trace(path)).bytes
    assert suite.footprint_bytes(KVSCAN) == trace_footprint(open_trace(KVSCAN)).bytes

    # the README's limits for kvscan: a third, a half and two thirds of it, in whole MiB
    kvscan = suite.footprint_bytes(KVSCAN)
    assert [suite.memory_limit_bytes(kvscan, f) >> 20
            for f in suite.MEMORY_LIMIT_FRACTIONS.values()] == [16, 24, 32]
    assert suite.memory_limit_bytes(300 * 4096, Fraction(1, 3)) == 1 << 20


def test_settings_are_replay_compares_defaults():
    suite = load_suite()
    opts = dict(COMPARE.make_context("compare", ["kvscan"]).params)
    assert suite.readme_config(24 << 20) == config_from_options(opts, 24 << 20)
    # the suite calls simulate() with its defaults: they are compare's
    defaults = {name: p.default for name, p in inspect.signature(simulate).parameters.items()}
    for name, value in sim_options(opts).items():
        assert defaults[name] == value, name


def test_outcome_tracks_return_the_replays_numbers(traces_folder):
    generate_to(traces_folder / "tiny.parquet", "zipf", accesses=20_000, pages=2_000, seed=5)
    suite = load_suite()
    bench = suite.PolicyOutcomes()
    outcomes = bench.setup_cache()
    policies = bench.params[2]
    assert set(outcomes) == {("tiny", limit, policy) for limit in bench.params[1]
                             for policy in policies}
    tracks = track_methods(suite.PolicyOutcomes)
    assert len(tracks) == len(suite.OUTCOME_FIGURES)
    for limit, policy in itertools.product(bench.params[1], policies):
        bench.setup(outcomes, "tiny", limit, policy)
        for name in tracks:
            value = getattr(bench, name)(outcomes, "tiny", limit, policy)
            assert isinstance(value, float) and math.isfinite(value), (name, limit, policy)

    # the numbers are the replay's: major faults at a third of the footprint
    footprint = suite.footprint_bytes(traces_folder / "tiny.parquet")
    config = suite.readme_config(suite.memory_limit_bytes(footprint, Fraction(1, 3)))
    result = simulate(str(traces_folder / "tiny.parquet"), config, ["hybrid-supported"])[0]
    bench.setup(outcomes, "tiny", "1/3", "hybrid-supported")
    assert bench.track_pgmajfault(outcomes, "tiny", "1/3", "hybrid-supported") == \
        result["counters"]["pgmajfault"] > 0
    assert bench.track_swapin_time(outcomes, "tiny", "1/3", "hybrid-supported") == \
        pytest.approx(result["time"]["swapin_ns"] / 1e6)

    # a policy the commit being measured does not have is skipped, not failed
    with pytest.raises(NotImplementedError):
        bench.setup(outcomes, "tiny", "1/3", "no-such-policy")


def test_engine_and_import_benchmarks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)            # asv's setup_cache writes into its working folder
    suite = load_suite()
    speed = suite.EngineSpeed()
    traces = speed.setup_cache()
    assert set(traces) == set(suite.GENERATED_TRACES)
    speed.setup(traces, "random", "order0-fallback")
    ns = speed.track_ns_per_access(traces, "random", "order0-fallback")
    assert isinstance(ns, float) and 0 < ns < 1e6
    with pytest.raises(NotImplementedError):
        speed.setup(traces, "random", "no-such-policy")

    imports = suite.ImportSpeed()
    sources = imports.setup_cache()
    for fmt in imports.params[0]:
        imports.time_import(sources, fmt)
        assert open_trace(tmp_path / f"imported-{fmt}.parquet").num_accesses > 0
    assert open_trace(tmp_path / "imported-csv.parquet").num_accesses == suite.IMPORT_LINES
