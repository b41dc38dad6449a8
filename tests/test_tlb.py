"""The TLB model on hand-worked access streams."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from numba import njit

from replay.errors import SettingsError
from replay.tlb import (
    HIT_L1,
    HIT_L2,
    WALK,
    TLBConfig,
    make_tlb_state,
    tlb_access,
    tlb_access_pair,
    tlb_counters,
    tlb_flush_all,
    tlb_flush_range,
    tlb_summary,
)

ARM = TLBConfig.preset("arm64")
X86 = TLBConfig.preset("x86")


def walk_folio(cfg: TLBConfig, order: int, npages: int = 16, first: int = 1024) -> dict:
    s = make_tlb_state(cfg)
    for p in range(first, first + npages):
        tlb_access(s, p, order)
    return tlb_counters(s)


def test_64k_folio_walked_page_by_page_costs_one_contpte_miss_on_arm64():
    assert walk_folio(ARM, 4)["walks"] == 1
    assert walk_folio(ARM, 4)["l1_hits"] == 15


def test_64k_folio_costs_four_misses_with_x86_16k_coalescing_and_two_with_32k():
    assert walk_folio(X86, 4)["walks"] == 4
    assert walk_folio(replace(X86, coalesce_pages=8), 4)["walks"] == 2


def test_order0_pages_and_the_4k_shadow_miss_on_every_page():
    assert walk_folio(ARM, 0)["walks"] == 16
    assert walk_folio(X86.shadow(), 4)["walks"] == 16


def test_small_folios_get_no_contpte_on_arm64_but_coalesce_on_x86():
    assert walk_folio(ARM, 3)["walks"] == 16          # 32K folio: no contpte block
    assert walk_folio(X86, 2)["walks"] == 4           # 16K folio: coalesced


def test_a_pmd_mapped_thp_is_one_entry():
    assert walk_folio(X86, 9, npages=512, first=0)["walks"] == 1
    assert walk_folio(ARM, 9, npages=512, first=512)["walks"] == 1


def test_l1_is_fully_associative_lru_and_l2_catches_its_victims():
    cfg = replace(X86, l1_entries=4, l2_entries=64, l2_ways=4)
    s = make_tlb_state(cfg)
    got = [tlb_access(s, p, 0) for p in (0, 1, 2, 3, 0, 4)]
    assert got == [WALK, WALK, WALK, WALK, HIT_L1, WALK]   # 4 evicts 1 (LRU), not 0
    assert tlb_access(s, 0, 0) == HIT_L1
    assert tlb_access(s, 1, 0) == HIT_L2                     # back from L2
    assert tlb_access(s, 2, 0) == HIT_L2                     # 1 evicted 2 from L1
    c = tlb_counters(s)
    assert c["accesses"] == 9 and c["walks"] == 5 and c["l2_hits"] == 2


def test_l2_set_conflicts_evict_the_least_recently_used_way():
    cfg = replace(X86, l1_entries=1, l2_entries=8, l2_ways=2)     # 4 sets of 2 ways
    s = make_tlb_state(cfg)
    same_set = [0, 4, 8]                       # all map to set 0
    for p in same_set:
        assert tlb_access(s, p, 0) == WALK
    # L2 set 0 now holds 4 and 8 (0 was the LRU way); L1 holds 8
    assert tlb_access(s, 4, 0) == HIT_L2
    assert tlb_access(s, 0, 0) == WALK         # evicted by 8
    assert tlb_access(s, 1, 0) == WALK         # another set: no conflict with the above
    assert tlb_access(s, 4, 0) == HIT_L2       # 4 was touched more recently than 8


def test_flush_range_drops_overlapping_entries_of_every_size():
    s = make_tlb_state(ARM)
    for p in range(1024, 1040):
        tlb_access(s, p, 4)                    # one contpte entry
    tlb_access(s, 5000, 0)
    tlb_flush_range(s, 1030, 1)                # any page of the block drops the block
    assert tlb_access(s, 1024, 4) == WALK
    assert tlb_access(s, 5000, 0) == HIT_L1    # outside the range: kept
    tlb_flush_range(s, 5000, 1)
    assert tlb_access(s, 5000, 0) == WALK
    assert tlb_counters(s)["flush_ranges"] == 2


def test_large_flushes_flush_everything_like_the_kernel_ceiling():
    s = make_tlb_state(X86)                    # x86 ceiling: 33 pages
    tlb_access(s, 10, 0)
    tlb_access(s, 100_000, 0)
    tlb_flush_range(s, 0, 64)
    assert tlb_counters(s)["flush_all"] == 1
    assert tlb_access(s, 100_000, 0) == WALK
    tlb_flush_all(s)
    assert tlb_counters(s)["flush_all"] == 2


def test_none_arch_models_nothing():
    s = make_tlb_state(replace(X86, arch="none"))
    assert [tlb_access(s, p, 0) for p in range(100)] == [HIT_L1] * 100
    assert tlb_counters(s)["accesses"] == 0


@njit
def _pair_loop(s, shadow, pages, orders):
    for i in range(len(pages)):
        tlb_access_pair(s, shadow, pages[i], orders[i])


def test_shadow_measures_cycles_saved_on_the_same_stream():
    s, shadow = make_tlb_state(ARM), make_tlb_state(ARM.shadow())
    pages = np.tile(np.arange(4096, dtype=np.int64), 3)      # 16 MiB, 3 sweeps
    _pair_loop(s, shadow, pages, np.full(len(pages), 4, np.int64))
    out = tlb_summary(s, shadow)
    assert out["shadow_4k"]["walks"] == 3 * 4096             # 4096 entries never fit
    assert out["walks"] == 256                 # 256 contpte blocks: cold misses, then L2
    assert out["l2_hits"] == 2 * 256           # (more than L1's 48, fewer than L2's 1536)
    assert out["cycles_saved"] == out["shadow_4k"]["cycles"] - out["cycles"] > 0


def test_random_stream_agrees_with_a_reference_lru_model():
    """Fully associative L1 + set-associative L2, both LRU, checked against plain Python."""
    cfg = replace(X86, l1_entries=8, l2_entries=32, l2_ways=4)
    s = make_tlb_state(cfg)
    rng = np.random.default_rng(3)
    pages = rng.integers(0, 64, 5000)
    l1: list[int] = []
    l2 = [[] for _ in range(8)]
    for p in pages.tolist():
        if p in l1:
            want = HIT_L1
            l1.remove(p)
        else:
            ways = l2[p & 7]
            if p in ways:
                want = HIT_L2
                ways.remove(p)
            else:
                want = WALK
                if len(ways) == 4:
                    ways.pop(0)
            ways.append(p)
            if len(l1) == 8:
                l1.pop(0)
        l1.append(p)
        assert tlb_access(s, p, 0) == want


def test_bad_configs_are_settings_errors():
    with pytest.raises(SettingsError):
        make_tlb_state(replace(X86, l2_entries=3000, l2_ways=24))
    with pytest.raises(SettingsError):
        make_tlb_state(replace(X86, arch="riscv"))
    with pytest.raises(SettingsError):
        TLBConfig.preset("pentium")
    assert TLBConfig.preset("neoverse-v2").l2_entries == 2048
