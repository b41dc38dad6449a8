"""The bundled traces of traces/: small enough to ship, described, licensed, with real page
contents where they were recorded, and each one a trace on which the policies differ at half
its footprint (the README's question has an answer on every one of them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from replay.engine import simulate
from replay.model.config import ModelConfig
from replay.study.folders import SIDECAR_SUFFIXES, trace_files, trace_name
from replay.study.footprint import trace_footprint
from replay.trace import open_trace

TRACES = Path(__file__).resolve().parents[1] / "traces"
BUNDLED = trace_files(TRACES)
MAX_BYTES = 20_000_000            # the trace and its sidecars


def on_disk(path: Path) -> int:
    stem = path.name.removesuffix(".parquet")
    return sum(p.stat().st_size for p in [path, *(path.with_name(stem + s)
                                                   for s in SIDECAR_SUFFIXES)]
               if p.exists())


def recorded(path: Path) -> bool:
    return open_trace(path).meta.source_format == "record"


def test_at_least_five_bundled_traces_of_which_five_hold_real_page_contents():
    assert len(BUNDLED) >= 5
    with_contents = [p for p in BUNDLED
                     if trace_footprint(open_trace(p)).content_coverage >= 0.9]
    assert len(with_contents) >= 5, [p.name for p in with_contents]


@pytest.mark.parametrize("path", BUNDLED, ids=trace_name)
def test_a_bundled_trace_is_at_most_20_MB_and_valid(path):
    assert on_disk(path) <= MAX_BYTES, f"{path.name}: {on_disk(path):,} bytes"
    t = open_trace(path).check()
    assert t.num_accesses > 0


@pytest.mark.parametrize("path", BUNDLED, ids=trace_name)
def test_a_bundled_trace_says_what_it_is_and_under_which_licence(path):
    m = open_trace(path).meta
    assert m.description and m.licence
    readme = (TRACES / "README.md").read_text()
    assert re.search(rf"^\| `{re.escape(trace_name(path))}` \|", readme, re.M), \
        f"traces/README.md has no row for {trace_name(path)}"


@pytest.mark.parametrize("path", [p for p in BUNDLED if recorded(p)], ids=trace_name)
def test_a_recorded_trace_keeps_its_provenance(path):
    t = open_trace(path)
    m, x = t.meta, t.meta.extra
    assert m.command and m.sampled and m.time_source == "recorded"
    assert x["method"] == "pageout" and x["kernel_release"] and x["recorded_at"]
    assert x["lost_events"] == 0 and x["exit_code"] == 0
    assert x["content_versions"] == "first"
    versions = t.contents().column("version").to_numpy()
    assert (versions == 0).all()
    # most pages have their bytes; a garbage-collected heap (jsindex: 71%) frees some pages
    # between two samples of the recorder, and those have none
    assert trace_footprint(t).content_coverage >= 0.7


@pytest.mark.parametrize("path", BUNDLED, ids=trace_name)
def test_the_policies_differ_at_half_the_footprint(path):
    t = open_trace(path)
    half = max(1 << 20, round(trace_footprint(t).bytes / 2 / (1 << 20)) << 20)
    config = ModelConfig(memory_limit_bytes=half, zswap_shrinker=True)
    results = {r["policy"]: r for r in simulate(str(path), config,
                                                ["order0-fallback", "hybrid-supported"])}
    base, large = results["order0-fallback"], results["hybrid-supported"]
    assert base["counters"]["pgmajfault"] > 0
    assert large["per_size"]["64kB"]["swpin"] > 0          # large folios came back whole
    assert base["counters"]["pgmajfault"] != large["counters"]["pgmajfault"]
    assert (base["derived"]["swapin_amplification"]
            != large["derived"]["swapin_amplification"])
