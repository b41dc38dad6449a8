"""The exact-LRU mode against libCacheSim's LRU: major faults = LRU misses - cold misses.

exact-lru replays the trace as a cache simulator would: one LRU list, every first
touch allocates, zram (no swap cache, no readahead), no mTHP. Its memory limit is
the cache capacity in pages, so every LRU miss is a fault: a cold miss is the first
touch of a page (do_anonymous_page), every other miss a major fault.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from replay.engine import simulate
from replay.model.config import ModelConfig
from replay.trace import PAGE_SIZE, TraceMeta, open_trace, write_trace

lcs = pytest.importorskip("libcachesim")

SHARED = Path(os.environ.get("FOLIO_REPLAY_SHARED",
                             Path(__file__).resolve().parents[2] / "shared"))
ORACLE = SHARED / "data" / "external" / "libcachesim-cloudPhysicsIO.oracleGeneral.bin"


def exact_lru(capacity_pages: int) -> ModelConfig:
    return ModelConfig(reclaim="exact-lru", first_read="allocate", mthp_sizes_kb=(),
                       backend="zram", page_cluster=0,
                       memory_limit_bytes=capacity_pages * PAGE_SIZE)


def page_sequence(path: Path) -> np.ndarray:
    """The trace's pages as one id each (dense ids: one per (address space, page))."""
    t = open_trace(path)
    return np.concatenate([t.dense_ids(ch) for ch in t.iter_chunks()])


def lru_misses(pages: np.ndarray, capacity: int, folder: Path) -> int:
    """libCacheSim LRU misses over ``pages`` with room for ``capacity`` objects.

    The ids go through a raw int64 file and its binary reader (the C replay loop);
    libCacheSim aborts the process on bad arguments, so they are checked first."""
    assert capacity >= 1 and len(pages) >= 1 and pages.min() >= 0
    ids = folder / f"ids-{capacity}.bin"
    pages.astype("<i8").tofile(ids)
    params = lcs.ReaderInitParam(binary_fmt_str="<q", ignore_obj_size=True)
    params.obj_id_field = 1
    reader = lcs.TraceReader(str(ids), lcs.TraceType.BIN_TRACE, params)
    assert reader.get_num_of_req() == len(pages)
    miss_ratio, _ = lcs.LRU(capacity, hashpower=20).process_trace(reader)
    return round(miss_ratio * len(pages))


def check_against_lru(path: Path, capacities, folder: Path) -> None:
    pages = page_sequence(path)
    cold = len(np.unique(pages))
    for cap in capacities:
        misses = lru_misses(pages, cap, folder)
        r = simulate(path, exact_lru(cap), ["order0-fallback"])[0]
        c = r["counters"]
        assert c["pgmajfault"] == misses - cold, cap
        assert c["pgfault"] == misses, cap              # cold misses fault too
        assert c["swap_ra"] == 0 and c["oom_kill"] == 0, cap
        assert r["derived"]["peak_resident_bytes"] <= cap * PAGE_SIZE, cap


@pytest.mark.parametrize("pattern,kw", [
    ("zipf", {"accesses": 40_000, "pages": 8_000, "alpha": 0.9}),
    ("random", {"accesses": 30_000, "pages": 3_000}),
    ("phases", {"accesses": 30_000, "pages": 5_000}),
    ("seq", {"accesses": 12_000, "pages": 1_500}),
])
def test_exact_lru_major_faults_match_libcachesim_lru_on_synthetic_traces(
        gen_trace, tmp_path, pattern, kw):
    path = gen_trace(pattern, seed=21, **kw)
    check_against_lru(path, (256, 1000, 2500), tmp_path)


def test_exact_lru_matches_libcachesim_with_several_address_spaces(tmp_path):
    """The same page number in two address spaces is two pages."""
    rng = np.random.default_rng(4)
    n = 20_000
    vpn = 0x7F0000000 + rng.zipf(1.3, n) % 4_000
    asid = rng.integers(0, 3, n).astype(np.int32)
    path = tmp_path / "asids.parquet"
    write_trace(path, TraceMeta(source_format="test"), np.arange(n, dtype=np.int64), vpn,
                rng.integers(0, 2, n).astype(np.uint8), asid)
    check_against_lru(path, (256, 700), tmp_path)


@pytest.fixture(scope="module")
def cloudphysics_trace(tmp_path_factory) -> Path:
    """libCacheSim's sample block trace as 4 KiB pages (sector * 512 // 4096)."""
    if not ORACLE.is_file():
        pytest.skip("../shared is absent")
    out = tmp_path_factory.mktemp("oracle") / "cloudphysics.parquet"
    from replay.importers import FORMATS, run_import
    if "oraclegeneral" in FORMATS:
        run_import("oraclegeneral", ORACLE, out, {})
    else:
        rec = np.fromfile(ORACLE, np.dtype([("time", "<u4"), ("obj_id", "<u8"),
                                            ("size", "<u4"), ("next", "<i8")]))
        write_trace(out, TraceMeta(source_format="oraclegeneral"),
                    rec["time"].astype(np.int64) * 1_000_000_000,
                    rec["obj_id"].astype(np.int64) * 512 // PAGE_SIZE,
                    np.zeros(len(rec), np.uint8))
    return out


def test_exact_lru_major_faults_match_libcachesim_lru_on_a_real_trace(cloudphysics_trace,
                                                                     tmp_path):
    pages = page_sequence(cloudphysics_trace)
    assert len(pages) == 113_872
    check_against_lru(cloudphysics_trace, (256, 2_000, 10_000, 40_000), tmp_path)
