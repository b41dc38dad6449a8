"""The TLB model inside the engine, on hand-worked access streams.

Each trace is one 2 MiB MADV_HUGEPAGE mapping (dense id = page offset); 64K mTHP
unless said otherwise, so pages 0..15 are one 64K folio. The TLB is empty at
the start; every read or write is one translation, after its fault if it has one.
arm64 (Neoverse N2: 48-entry L1) maps a 64K folio with one contpte entry; x86
(Zen 4: 72-entry L1, 16K PTE coalescing) with four 16K entries. ``exact``: the
4K-only shadow is replayed per policy and flushed with the model.
"""

from __future__ import annotations

import pytest

from replay.engine import simulate
from replay.model.config import ModelConfig
from replay.tlb import TLBConfig

R, W, P, F = 0, 1, 2, 3
A = range(16)
WALK_CYCLES = TLBConfig.preset("arm64").walk_cycles


def ev(pages, op):
    return [(p, op) for p in pages]


def tlb_of(trace, policies=("order0-fallback",), tlb="arm64", shadow="exact",
           **cfg) -> dict[str, dict]:
    base = {"memory_limit_bytes": 1 << 20, "mthp_sizes_kb": (64,), "page_cluster": 0}
    base.update(cfg)
    res = simulate(trace.path, ModelConfig(**base), list(policies), contents=trace.contents,
                   tlb=tlb, tlb_shadow=shadow, timeline=False)
    return {r["policy"]: r["tlb"] for r in res}


def test_a_64k_folio_walked_page_by_page_is_one_contpte_miss(hand_trace):
    t = hand_trace(ev(A, W))
    tlb = tlb_of(t)["order0-fallback"]
    assert tlb["accesses"] == 16
    assert tlb["walks"] == 1 and tlb["l1_hits"] == 15
    assert tlb["shadow_4k"]["walks"] == 16
    assert tlb["walks_saved"] == 15
    assert tlb["cycles_saved"] == 15 * WALK_CYCLES
    assert tlb["misses_per_1000"] == {"l1": 1000 / 16, "l2": 1000 / 16}


def test_x86_coalesces_a_64k_folio_into_four_16k_entries(hand_trace):
    t = hand_trace(ev(A, W))
    assert tlb_of(t, tlb="x86")["order0-fallback"]["walks"] == 4


def test_16k_folios_get_no_contpte_on_arm64_but_coalesce_on_x86(hand_trace):
    t = hand_trace(ev(A, W))
    assert tlb_of(t, mthp_sizes_kb=(16,))["order0-fallback"]["walks"] == 16
    assert tlb_of(t, tlb="x86", mthp_sizes_kb=(16,))["order0-fallback"]["walks"] == 4


# Swap the folio out and read it back: the swap-out flushed its contpte entry, so the
# first read walks again. As one 64K folio (full-zswap): 1 + 1 walks. As 16 order-0
# folios: 1 + 16. The exact 4K shadow walks 16 + 16 either way.
def test_swap_out_flushes_and_swap_in_size_decides_the_misses(hand_trace):
    t = hand_trace(ev(A, W) + [(0, P)] + ev(A, R))
    res = tlb_of(t, ["full-zswap", "order0-fallback"])
    assert res["full-zswap"]["walks"] == 2
    assert res["order0-fallback"]["walks"] == 17
    for r in res.values():
        assert r["shadow_4k"]["walks"] == 32
        assert r["accesses"] == 32
    assert res["full-zswap"]["cycles_saved"] == 30 * WALK_CYCLES
    assert res["order0-fallback"]["cycles_saved"] == 15 * WALK_CYCLES


def test_madv_dontneed_flushes_the_page(hand_trace):
    # write (fault, walk), read (hit), zap, read (zero-page fault, walk again)
    t = hand_trace([(0, W), (0, R), (0, F), (0, R)])
    tlb = tlb_of(t, mthp_sizes_kb=())["order0-fallback"]
    assert tlb["walks"] == 2 and tlb["l1_hits"] == 1


def test_a_partly_unmapped_64k_folio_is_mapped_by_4k_entries(hand_trace):
    # zapping page 3 unfolds the contpte block: the other 15 pages each take a walk
    rest = [p for p in A if p != 3]
    t = hand_trace(ev(A, W) + [(3, F)] + ev(rest, R))
    tlb = tlb_of(t)["order0-fallback"]
    assert tlb["walks"] == 1 + 15


def test_copy_on_write_from_the_zero_page_flushes_it(hand_trace):
    # read (zero page, walk), read (hit), write (COW: new PTE, walk)
    t = hand_trace([(0, R), (0, R), (0, W)])
    tlb = tlb_of(t, mthp_sizes_kb=())["order0-fallback"]
    assert (tlb["walks"], tlb["l1_hits"]) == (2, 1)


def test_the_shared_shadow_matches_the_exact_one_without_reclaim_or_cow(gen_trace,
                                                                        hand_trace):
    # writes only (no zero page, so no copy on write), and no memory pressure
    path = gen_trace("seq", accesses=20_000, pages=3_000, seed=3, write_fraction=1.0)
    big = {"memory_limit_bytes": 64 << 20}
    exact = tlb_of_path(path, "exact", **big)
    shared = tlb_of_path(path, "shared", **big)
    assert exact["walks"] == shared["walks"] > 0
    assert exact["shadow_4k"]["walks"] == shared["shadow_4k"]["walks"] > exact["walks"]
    # copy on write from the zero page flushes the exact shadow, not the shared one
    t = hand_trace([(0, R), (0, W), (0, R)])
    cow = {s: tlb_of(t, shadow=s, mthp_sizes_kb=())["order0-fallback"]["shadow_4k"]["walks"]
           for s in ("exact", "shared")}
    assert cow == {"exact": 2, "shared": 1}
    # MADV_PAGEOUT of page 0 unmaps the whole folio: the exact shadow drops all 16 entries,
    # the shared one (policy-independent) only the page the trace names
    t = hand_trace(ev(A, W) + [(0, P)] + ev(A, R))
    assert tlb_of(t, shadow="shared")["order0-fallback"]["shadow_4k"]["walks"] == 17


def tlb_of_path(path, shadow, **cfg) -> dict:
    (r,) = simulate(path, ModelConfig(**cfg), ["full-zswap"], tlb="x86", tlb_shadow=shadow,
                    timeline=False)
    return r["tlb"]


def test_no_tlb_model_reports_none(hand_trace):
    t = hand_trace(ev(A, W))
    tlb = tlb_of(t, tlb="none")["order0-fallback"]
    assert tlb == {"config": None}


@pytest.mark.parametrize("preset", ["zen2", "neoverse-n1", "neoverse-v2"])
def test_every_preset_runs_in_the_engine(hand_trace, preset):
    t = hand_trace(ev(A, W) + [(0, P)] + ev(A, R))
    tlb = tlb_of(t, ["full-zswap"], tlb=preset)["full-zswap"]
    assert tlb["config"]["name"] == preset
    assert tlb["accesses"] == 32
    assert tlb["walks"] < tlb["shadow_4k"]["walks"] == 32
