"""Simulated time in the engine: costs worked out by hand, the time series, the run JSON.

The hand-worked tests use a cost model with round numbers (``round_costs``) and
hand-set page sizes (every page compresses to 2048 bytes), so the codec times
come from its size fits: compress 1000 + 0.0625 ns per input byte (1256 ns a
page, 5096 ns a 64K unit), decompress 500 + 0.125 ns per output byte (1012 ns a
page, 8692 ns a 64K unit). Traces are in one MADV_HUGEPAGE mapping; a page's
dense id is its offset.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from replay.cli import main as cli_main
from replay.costs.model import DEFAULT_PATH
from replay.engine import simulate
from replay.model.config import ModelConfig
from replay.timeline import MAX_ROWS

R, W, P, F = 0, 1, 2, 3
A = range(16)

PARAMS = {
    "cpu_ghz": 2.0, "fault_entry_exit_ns": 400.0, "anon_fault_4k_ns": 3000.0,
    "clear_page_ns_per_kib": 25.0, "copy_ns_per_kib": 40.0, "pte_batch_ns": 40.0,
    "pte_ns_per_page": 5.0, "rmap_ns_per_folio": 50.0, "rmap_ns_per_page": 8.0,
    "memcg_charge_ns_per_folio": 100.0, "memcg_charge_refill_ns": 640.0,
    "lru_add_ns_per_folio": 60.0, "reclaim_scan_ns_per_folio": 400.0,
    "reclaim_unmap_ns_per_folio": 1000.0, "swap_cache_ns_per_folio": 150.0,
    "swap_slot_alloc_ns_per_folio": 200.0, "zswap_store_ns_per_page": 500.0,
    "zswap_load_ns_per_page": 400.0, "zram_read_ns": 1000.0, "zram_write_ns": 800.0,
    "nvme_read_latency_ns": 80000.0, "nvme_read_ns_per_kib": 300.0,
    "nvme_write_latency_ns": 20000.0, "nvme_write_ns_per_kib": 500.0,
}
COMP_PAGE, COMP_UNIT = 1256, 5096          # ns, 4 KiB page / 64 KiB unit of 2048-byte pages
DECOMP_PAGE, DECOMP_UNIT = 1012, 8692
MAP1 = 40 + 5 + 50 + 8                     # set_ptes + rmap of one page
CHARGE1 = 100 + 640 / 64                   # one page from the stock, refill amortised


@pytest.fixture(scope="module")
def round_costs(tmp_path_factory):
    data = json.loads(DEFAULT_PATH.read_text())
    for name, value in PARAMS.items():
        data["params"][name]["value"] = value
    data["codecs"] = {"lz4": {
        "compress": {"a_ns": 1000.0, "b_ns_per_in_byte": 0.0625, "c_ns_per_out_byte": 0.0},
        "decompress": {"a_ns": 500.0, "b_ns_per_in_byte": 0.0, "c_ns_per_out_byte": 0.125}}}
    path = tmp_path_factory.mktemp("costs") / "round.json"
    path.write_text(json.dumps(data))
    return path


def ev(pages, op):
    return [(p, op) for p in pages]


def run(trace, cfg, policies, costs, **kw) -> dict[str, dict]:
    kw.setdefault("tlb", None)
    res = simulate(trace.path, cfg, policies, contents=trace.contents, cost_model=costs, **kw)
    return {r["policy"]: r for r in res}


def cfg(**kw) -> ModelConfig:
    base = {"memory_limit_bytes": 1 << 20, "mthp_sizes_kb": (64,), "page_cluster": 0}
    base.update(kw)
    return ModelConfig(**base)


def test_an_order0_anonymous_fault_costs_the_measured_fault(hand_trace, round_costs):
    t = hand_trace([(0, W)])
    r = run(t, cfg(mthp_sizes_kb=()), ["order0-fallback"], round_costs)["order0-fallback"]
    tm = r["time"]
    assert tm["kernel_ns"] == tm["fault_ns"] == 3000.0
    assert tm["swapin_ns"] == tm["reclaim_ns"] == tm["compress_ns"] == 0.0
    assert tm["total_ns"] == tm["trace_ns"] + tm["kernel_ns"] + tm["tlb_ns"]


def test_a_64k_anonymous_fault_adds_zeroing_and_ptes_for_each_extra_page(hand_trace,
                                                                        round_costs):
    t = hand_trace(ev(A, W))
    r = run(t, cfg(), ["order0-fallback"], round_costs)["order0-fallback"]
    assert r["per_size"]["64kB"]["anon_fault_alloc"] == 1
    assert r["time"]["fault_ns"] == 3000.0 + 15 * (4 * 25.0 + 5.0 + 8.0)


# Write page 0 (order-0 folio), MADV_PAGEOUT it, read it back (page-cluster 0: no readahead).
# Reclaim: isolate 400 + slot 200 + swap cache 150 + compress 1256 + zswap store 500
#          + unmap 1000 + swap cache delete 150 = 3656.
# Swap-in fault: entry 400 + swap cache lookup 150 + charge 110 + swap cache add 150
#          + LRU 60 + zswap_load 400 + decompress 1012 + map 103 = 2385.
def test_order0_zswap_round_trip_worked_by_hand(hand_trace, round_costs):
    t = hand_trace([(0, W), (0, P), (0, R)])
    r = run(t, cfg(mthp_sizes_kb=()), ["order0-fallback"], round_costs)["order0-fallback"]
    tm = r["time"]
    assert r["counters"]["zswpin"] == 1
    assert tm["reclaim_ns"] == 400 + 200 + 150 + COMP_PAGE + 500 + 1000 + 150
    assert tm["compress_ns"] == COMP_PAGE
    assert tm["decompress_ns"] == DECOMP_PAGE
    swapin = 400 + 150 + CHARGE1 + 150 + 60 + 400 + DECOMP_PAGE + MAP1
    assert tm["swapin_ns"] == pytest.approx(swapin)
    assert tm["kernel_ns"] == pytest.approx(3000 + tm["reclaim_ns"] + swapin)
    assert tm["fault_ns"] == pytest.approx(3000 + swapin)
    assert tm["io_ns"] == 0.0
    assert tm["swapin_folios"] == {"4kB": 1}


# A 64K folio to zswap and back. full-zswap: one fault, one charge of 16 pages (a quarter
# of a stock refill), 16 loads, one set_ptes batch and one rmap call for 16 pages.
# order0-fallback: 16 order-0 faults as in the test above.
def test_large_swapin_pays_the_per_fault_work_once(hand_trace, round_costs):
    t = hand_trace(ev(A, W) + [(0, P)] + ev(A, R))
    res = run(t, cfg(), ["order0-fallback", "full-zswap"], round_costs)
    large = 400 + 150 + (100 + 640 * 16 / 64) + 150 + 60 + (40 + 16 * 5 + 50 + 16 * 8) \
        + 16 * (400 + DECOMP_PAGE)
    small = 16 * (400 + 150 + CHARGE1 + 150 + 60 + 400 + DECOMP_PAGE + MAP1)
    assert res["full-zswap"]["time"]["swapin_ns"] == pytest.approx(large)
    assert res["full-zswap"]["time"]["swapin_folios"] == {"64kB": 1}
    assert res["order0-fallback"]["time"]["swapin_ns"] == pytest.approx(small)
    assert res["order0-fallback"]["time"]["swapin_folios"] == {"4kB": 16}
    for r in res.values():        # same swap-out: reclaim of one 64K folio into zswap
        assert r["time"]["reclaim_ns"] == 400 + 200 + 150 + 16 * (COMP_PAGE + 500) + 1000 + 150


# 64K compression units: the folio is stored as one unit (compressed once). Read back
# page by page (order 0), every read decompresses the whole unit; as one 64K folio, once.
def test_a_64k_unit_is_decompressed_whole_for_every_partial_read(hand_trace, round_costs):
    t = hand_trace(ev(A, W) + [(0, P)] + ev(A, R))
    res = run(t, cfg(), ["order0-fallback", "full-zswap"], round_costs, compression_unit_kb=64)
    for r in res.values():
        assert r["time"]["compress_ns"] == COMP_UNIT
        assert r["compression"]["per_unit"]["units"] == 1
    assert res["order0-fallback"]["time"]["decompress_ns"] == 16 * DECOMP_UNIT
    assert res["full-zswap"]["time"]["decompress_ns"] == DECOMP_UNIT
    per_page = run(t, cfg(), ["full-zswap"], round_costs)["full-zswap"]["time"]
    assert per_page["decompress_ns"] == 16 * DECOMP_PAGE
    assert per_page["compress_ns"] == 16 * COMP_PAGE


def test_an_order0_folio_is_compressed_alone_even_with_64k_units(hand_trace, round_costs):
    t = hand_trace([(0, W), (0, P), (0, R)])
    r = run(t, cfg(mthp_sizes_kb=()), ["order0-fallback"], round_costs,
            compression_unit_kb=64)["order0-fallback"]
    assert r["time"]["compress_ns"] == COMP_PAGE
    assert r["time"]["decompress_ns"] == DECOMP_PAGE


# Plain disk: a 64K folio written to the device (asynchronous: transfer only, 16 x 4 KiB at
# 500 ns/KiB); read back as one 64K folio (hybrid-rejected admits a range wholly on the
# device): one I/O, latency once plus transfer; order 0 at page-cluster 0: 16 I/Os.
def test_device_reads_wait_once_per_fault_and_writes_cost_their_transfer(hand_trace,
                                                                         round_costs):
    t = hand_trace(ev(A, W) + [(0, P)] + ev(A, R))
    res = run(t, cfg(backend="disk"), ["order0-fallback", "hybrid-rejected"], round_costs)
    write = 16 * 4 * 500.0
    assert res["hybrid-rejected"]["time"]["io_ns"] == write + 80000 + 16 * 4 * 300
    assert res["order0-fallback"]["time"]["io_ns"] == write + 16 * (80000 + 4 * 300)
    assert res["order0-fallback"]["time"]["decompress_ns"] == 0.0


def test_time_adds_up_on_a_generated_trace(zipf_trace):
    (r,) = simulate(zipf_trace, ModelConfig(memory_limit_bytes=2 << 20), ["full-zswap"])
    tm = r["time"]
    assert r["counters"]["pgmajfault"] > 0 and tm["swapin_ns"] > 0
    assert tm["total_ns"] == pytest.approx(tm["trace_ns"] + tm["kernel_ns"] + tm["tlb_ns"])
    assert tm["swapin_ns"] <= tm["fault_ns"] <= tm["kernel_ns"]
    assert tm["compress_ns"] <= tm["reclaim_ns"] <= tm["kernel_ns"]
    assert 0 < tm["decompress_ns"] < tm["swapin_ns"] + tm["reclaim_ns"]
    pages = sum(int(k[:-2]) // 4 * v for k, v in tm["swapin_folios"].items())
    assert pages == r["derived"]["swapin_pages"]


def test_trace_time_is_recorded_time_or_a_default_per_access(gen_trace, hand_trace,
                                                            round_costs):
    path = gen_trace("seq", accesses=5000, pages=1000, seed=2, ns_per_access=250)
    (r,) = simulate(path, ModelConfig(memory_limit_bytes=64 << 20), tlb=None)
    assert r["time"]["time_source"] == "recorded"
    assert r["time"]["trace_ns"] == 250 * 4999
    t = hand_trace([(p, W) for p in range(10)])          # written with ordinal times
    (r,) = simulate(t.path, cfg(), contents=t.contents, cost_model=round_costs,
                    ordinal_ns_per_access=7)
    assert r["time"]["time_source"] == "ordinal"
    assert r["time"]["trace_ns"] == 7 * 9


def _windows(r: dict) -> dict:
    return r["timeline"]["columns"]


def test_timeline_windows_of_accesses_add_up_to_the_totals(zipf_trace):
    (r,) = simulate(zipf_trace, ModelConfig(memory_limit_bytes=2 << 20), ["full-zswap"],
                    timeline_accesses=1000)
    cols = _windows(r)
    n = r["derived"]["accesses"]
    assert r["timeline"]["window"] == {"unit": "accesses", "size": 1000}
    assert len(cols["accesses"]) == math.ceil(n / 1000)
    assert all(a == 1000 for a in cols["accesses"][:-1])
    assert sum(cols["accesses"]) == n
    assert sum(cols["pgmajfault"]) == r["counters"]["pgmajfault"]
    assert sum(cols["pgfault"]) == r["counters"]["pgfault"]
    assert sum(cols["swapin_ns"]) == pytest.approx(r["time"]["swapin_ns"])
    for size, col in cols["swapins"].items():
        assert sum(col) == r["time"]["swapin_folios"][size]
    assert cols["end_ns"][-1] == pytest.approx(r["time"]["total_ns"])
    assert cols["start_ns"][1:] == cols["end_ns"][:-1]
    assert 0 < max(cols["pool_bytes"]) <= r["derived"]["peak_pool_bytes"]
    assert max(cols["resident_bytes"]) <= r["derived"]["peak_resident_bytes"]
    assert all(t > 0 for t in cols["accesses_per_s"])


def test_timeline_windows_of_simulated_time(zipf_trace):
    (r,) = simulate(zipf_trace, ModelConfig(memory_limit_bytes=2 << 20), ["order0-fallback"],
                    timeline_ns=200_000)
    cols = _windows(r)
    assert r["timeline"]["window"] == {"unit": "ns", "size": 200_000}
    end = np.array(cols["end_ns"])
    assert (np.diff(end) > 0).all()
    # every window but the last ends at the first access past a multiple of the window
    crossed = np.floor(end[:-1] / 200_000) > np.floor(np.r_[0, end[:-2]] / 200_000)
    assert crossed.all()
    assert len(end) >= r["time"]["total_ns"] // 200_000 // 4
    assert sum(cols["accesses"]) == r["derived"]["accesses"]


def test_timeline_memory_stays_bounded(seq_trace):
    # oom=continue: the whole trace is replayed (a 2M cgroup v2 memcg fills with its pool)
    (r,) = simulate(seq_trace, ModelConfig(memory_limit_bytes=2 << 20, oom="continue"),
                    ["order0-fallback"], timeline_accesses=1)
    cols = _windows(r)
    assert len(cols["accesses"]) <= MAX_ROWS
    assert r["timeline"]["window"]["size"] >= 4          # 20,000 windows, merged 2+ times
    assert sum(cols["accesses"]) == r["derived"]["accesses"] == 20_000
    assert sum(cols["pgfault"]) == r["counters"]["pgfault"]


def test_costs_tlb_and_timeline_change_no_counter(mixed_ops_trace):
    # cgroup v1: the zswap pool (smaller with 16K units) is not charged to the memcg
    c = ModelConfig(memory_limit_bytes=1 << 20, mthp_sizes_kb=(16, 64), memcg="v1")
    pols = ["order0-fallback", "hybrid-supported"]
    # (the model's invariants are test_engine_invariants' business, not checked here)
    a = simulate(mixed_ops_trace, c, pols, tlb=None, timeline=False, check=False)
    b = simulate(mixed_ops_trace, c, pols, tlb="arm64", tlb_shadow="exact",
                 timeline_accesses=100, compression_unit_kb=16, check=False)
    for x, y in zip(a, b):
        assert x["counters"] == y["counters"]
        assert x["per_size"] == y["per_size"]
        assert x["counters"]["pgmajfault"] > 0
        dx, dy = dict(x["derived"]), dict(y["derived"])
        for k in ("peak_pool_bytes", "final_pool_bytes"):     # pooled by unit
            dx.pop(k), dy.pop(k)
        assert dx == dy


def test_64k_units_store_fewer_bytes_of_text(gen_trace):
    path = gen_trace("swapin-1g", size_bytes=2 << 20, seed=4, content="text")
    (r,) = simulate(path, ModelConfig(memory_limit_bytes=64 << 20, mthp_sizes_kb=(64,)),
                    ["full-zswap"], compression_unit_kb=64, tlb=None)
    comp = r["compression"]
    assert comp["pages"] == 512
    assert comp["per_unit"]["stored_bytes"] < comp["per_page"]["stored_bytes"]
    assert r["derived"]["peak_pool_bytes"] == comp["per_unit"]["stored_bytes"]


def test_run_json_carries_time_tlb_and_timeline(gen_trace, tmp_path):
    path = gen_trace("swapin-1g", size_bytes=1 << 20, seed=5, content="text")
    out = tmp_path / "run.json"
    rc = cli_main([
        "run", str(path), "--mthp", "64K", "--memory-limit", "16M", "--memcg", "v1",
        "--policy", "order0-fallback", "--policy", "full-zswap", "--tlb", "arm64",
        "--compression-unit", "16K", "--timeline-window", "100", "--json", str(out),
        "--quiet"])
    assert rc == 0
    doc = json.loads(out.read_text())
    for r in doc["results"]:
        assert r["config"]["compression_unit_kb"] == 16
        assert set(r["time"]) >= {"total_ns", "swapin_ns", "compress_ns", "decompress_ns",
                                  "io_ns", "reclaim_ns"}
        assert r["tlb"]["config"]["arch"] == "arm64"
        assert set(r["tlb"]["misses_per_1000"]) == {"l1", "l2"}
        assert "cycles_saved" in r["tlb"]
        assert r["timeline"]["window"] == {"unit": "accesses", "size": 100}
        assert sum(r["timeline"]["columns"]["accesses"]) == 768
    o0, fz = doc["results"]
    assert fz["time"]["swapin_ns"] < o0["time"]["swapin_ns"]


@pytest.mark.parametrize("args, message", [
    (["--timeline-window", "soon"], "--timeline-window"),
    (["--compression-unit", "8K"], "compression-unit"),
    (["--tlb", "pentium"], "TLB preset"),
])
def test_bad_cost_options_are_one_line_errors(gen_trace, capsys, args, message):
    path = gen_trace("swapin-1g", size_bytes=1 << 20, seed=5)
    assert cli_main(["run", str(path), "--quiet", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
