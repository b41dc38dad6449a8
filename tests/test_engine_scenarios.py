"""Hand-worked traces: the cases the large-folio swap-in thread argues about.

Every trace lives in one 2 MiB MADV_HUGEPAGE mapping with 64K mTHP, so pages
0..15 are one 64K folio ("A"), 16..31 the next, and so on. Each expected
number below is worked out by hand from the v6.18 semantics (see the comment
above each test); page-cluster 0 is used wherever readahead is not the point,
so an order-0 swap-in reads exactly one page.
"""

from __future__ import annotations

import pytest

from replay.engine import simulate
from replay.model.config import ModelConfig

R, W, P, F = 0, 1, 2, 3       # read, write, MADV_PAGEOUT, MADV_DONTNEED
A = range(16)                 # the first 64K folio
B = range(16, 32)             # the second
ALL = ("order0-fallback", "full-zswap", "hybrid-rejected", "hybrid-supported",
       "locality-admitted", "mainline")


def ev(pages, op) -> list[tuple[int, int]]:
    return [(p, op) for p in pages]


def run(trace, cfg: ModelConfig, policies=ALL) -> dict[str, dict]:
    results = simulate(trace.path, cfg, policies, contents=trace.contents)
    return {r["policy"]: r for r in results}


def c(r: dict, name: str) -> int:
    return r["counters"][name]


def ps(r: dict, name: str, size: str = "64kB") -> int:
    return r["per_size"][size][name]


def d(r: dict, name: str):
    return r["derived"][name]


def small(**kw) -> ModelConfig:
    """1 MiB memcg (256 pages: no reclaim in these traces), 64K mTHP, zswap, page-cluster 0."""
    base = {"memory_limit_bytes": 1 << 20, "mthp_sizes_kb": (64,), "page_cluster": 0}
    base.update(kw)
    return ModelConfig(**base)


# A pool limit of 0 bytes: zswap_check_limits() finds the pool full at every store, so
# folio A is written whole to the device (pswpout 16, swpout@64K 1). Reading A back:
# can_swapin_thp() accepts the range (16 contiguous device slots). full-zswap refuses it
# (not all in zswap) and so do order0-fallback, mainline (not zram) and locality-admitted
# (no evidence: nothing young near, no earlier fault): 16 order-0 major faults.
# hybrid-rejected and hybrid-supported load it as one 64K folio: one major fault.
def test_folio_wholly_on_disk_full_zswap_refuses_hybrid_rejected_admits(hand_trace):
    t = hand_trace(ev(A, W) + ev([0], P) + ev(A, R))
    res = run(t, small(zswap_max_pool_bytes=0))
    for r in res.values():
        assert c(r, "zswpout") == 0
        assert c(r, "zswap_reject_pool_limit") == 1
        assert c(r, "pswpout") == 16
        assert ps(r, "swpout") == 1
        assert ps(r, "anon_fault_alloc") == 1
        assert c(r, "pswpin") == 16
        assert c(r, "zswpin") == 0
        assert d(r, "swapin_pages") == 16
        assert d(r, "swapin_pages_used") == 16
    for name in ("order0-fallback", "full-zswap", "locality-admitted", "mainline"):
        r = res[name]
        assert (c(r, "pgfault"), c(r, "pgmajfault"), ps(r, "swpin")) == (17, 16, 0), name
    for name in ("hybrid-rejected", "hybrid-supported"):
        r = res[name]
        assert (c(r, "pgfault"), c(r, "pgmajfault"), ps(r, "swpin")) == (2, 1, 1), name
        assert d(r, "large_swapin_hybrid") == 0
        assert c(r, "workingset_refault_anon") == 16   # the folio's shadow, 16 pages


# Pool limit 16 KiB, every page compresses to 1024 bytes: A (16 entries) fills the pool
# exactly (16384 >= limit: reached full). B's store is refused (zswap_reject_pool_limit 1),
# B goes to the device (16 pages) and the shrink worker writes back from the LRU down to the
# accept threshold (90%: 14745 bytes): every entry of A has its referenced bit, so all 16
# rotate once, then A0 and A1 are written back (16384 -> 15360 -> 14336). A is now hybrid:
# 2 pages on the device, 14 in zswap. zswpwb 2, and those pages count in pswpout too:
# pswpout = 16 (B) + 2. Reading A then B:
#   hybrid-supported: A as one 64K folio (zswpin 14 + pswpin 2, large_swapin_hybrid 1),
#                     B as one 64K folio: 2 major faults;
#   hybrid-rejected:  A mixed -> 16 order-0 faults, B wholly on disk -> 1: 17;
#   locality-admitted: A: no evidence -> 16; B: the previous major fault (page 15) is
#                     adjacent and B is uniform -> 1: 17;
#   full-zswap, order0-fallback, mainline: 32.
def test_writeback_makes_folio_hybrid_only_hybrid_supported_swaps_it_in_large(hand_trace):
    t = hand_trace(ev(A, W) + ev(B, W) + ev([0], P) + ev([16], P) + ev(A, R) + ev(B, R),
                   comp_bytes=1024)
    res = run(t, small(zswap_max_pool_bytes=16 << 10))
    for r in res.values():
        assert c(r, "zswpout") == 16
        assert ps(r, "zswpout") == 1
        assert c(r, "zswap_reject_pool_limit") == 1
        assert c(r, "zswpwb") == 2
        assert c(r, "pswpout") == 18          # written-back pages count in pswpout as well
        assert ps(r, "swpout") == 1           # B
        assert c(r, "zswpin") == 14
        assert c(r, "pswpin") == 18
        assert d(r, "peak_pool_bytes") == 16384
        assert d(r, "final_pool_bytes") == 0
    expect = {"hybrid-supported": (2, 2, 1), "hybrid-rejected": (17, 1, 0),
              "locality-admitted": (17, 1, 0), "full-zswap": (32, 0, 0),
              "order0-fallback": (32, 0, 0), "mainline": (32, 0, 0)}
    for name, (majflt, swpin, hybrid) in expect.items():
        r = res[name]
        got = (c(r, "pgmajfault"), ps(r, "swpin"), d(r, "large_swapin_hybrid"))
        assert got == (majflt, swpin, hybrid), name
        assert c(r, "pgfault") == 2 + majflt       # two write faults, every read a fault


# The memcg charge-margin guard. Limit 256 pages; A goes to zswap (16 entries of 2048
# bytes = 8 pool pages charged on cgroup v2). Then 12 more 64K folios are written: the
# per-CPU stock hands out 48 pages per 64-page batch, so usage ends at
# 64 (A's batch) - 16 (A freed) + 8 (pool) + 3 * 64 (three more batches) = 248 pages,
# margin 8 < max(64, 16). The guard turns the 64K swap-in of A into order 0
# (charge_guard_refusals 1, swpin_fallback@64K 1) and A comes back in 16 order-0 faults;
# without the guard (or with room: no extra folios, margin 200) it is one 64K swap-in.
@pytest.mark.parametrize("policy", ["full-zswap", "hybrid-rejected", "hybrid-supported"])
def test_charge_guard_turns_large_swapin_into_order0(hand_trace, policy):
    filler = range(16, 16 + 12 * 16)
    tight = hand_trace(ev(A, W) + ev([0], P) + ev(filler, W) + ev(A, R))
    roomy = hand_trace(ev(A, W) + ev([0], P) + ev(A, R))

    guarded = run(tight, small(charge_guard=True), [policy])[policy]
    assert d(guarded, "charge_guard_refusals") == 1
    assert ps(guarded, "swpin_fallback") == 1
    assert ps(guarded, "swpin_fallback_charge") == 0
    assert ps(guarded, "swpin") == 0
    assert c(guarded, "pgmajfault") == 16
    assert c(guarded, "zswpin") == 16
    assert c(guarded, "pgfault") == 1 + 12 + 16

    unguarded = run(tight, small(charge_guard=False), [policy])[policy]
    assert d(unguarded, "charge_guard_refusals") == 0
    assert ps(unguarded, "swpin_fallback") == 0
    assert ps(unguarded, "swpin") == 1
    assert c(unguarded, "pgmajfault") == 1
    assert c(unguarded, "zswpin") == 16
    assert c(unguarded, "pgfault") == 1 + 12 + 1
    for r in (guarded, unguarded):
        assert c(r, "pgscan") == 0           # no reclaim: only the guard made the difference

    room = run(roomy, small(charge_guard=True), [policy])[policy]
    assert d(room, "charge_guard_refusals") == 0
    assert ps(room, "swpin") == 1
    assert c(room, "pgmajfault") == 1


# A zero-filled folio is not stored: swap_writeout() sets its zeromap bits (swpout_zero 16).
# Coming back it is read from the zeromap: swpin_zero counts pages, the large swap-in is
# one major fault and, as in the kernel, no per-size swpin (that counts device reads).
# full-zswap refuses the range (not in zswap): 16 order-0 faults.
def test_zero_filled_folio_swaps_in_from_the_zeromap(hand_trace):
    t = hand_trace(ev(A, W) + ev([0], P) + ev(A, R), zero=A)
    res = run(t, small(), ["full-zswap", "hybrid-rejected"])
    for r in res.values():
        assert c(r, "swpout_zero") == 16
        assert (c(r, "zswpout"), c(r, "pswpout")) == (0, 0)
        assert c(r, "swpin_zero") == 16
        assert (c(r, "zswpin"), c(r, "pswpin")) == (0, 0)
        assert ps(r, "swpin") == 0
    assert c(res["hybrid-rejected"], "pgmajfault") == 1
    assert c(res["full-zswap"], "pgmajfault") == 16


# mainline v6.18 swaps in large only from a SWP_SYNCHRONOUS_IO device (zram) and only while
# zswap was never enabled; once it was, alloc_swap_folio() returns order 0.
def test_mainline_large_swapin_only_from_zram_while_zswap_never_enabled(hand_trace):
    t = hand_trace(ev(A, W) + ev([0], P) + ev(A, R))
    never = run(t, small(backend="zram", zswap_ever_enabled=False), ["mainline"])["mainline"]
    assert (c(never, "pgmajfault"), ps(never, "swpin"), c(never, "pswpin")) == (1, 1, 16)
    ever = run(t, small(backend="zram", zswap_ever_enabled=True), ["mainline"])["mainline"]
    assert (c(ever, "pgmajfault"), ps(ever, "swpin"), c(ever, "pswpin")) == (16, 0, 16)
    assert c(ever, "swap_ra") == 0           # zram skips the swap cache: no readahead


# VMA readahead on an order-0 re-read of A from zswap, page-cluster 3 (window up to 8).
# swap_vma_ra_win(): fault 0: no history -> window 1. Fault 1: next to the previous fault,
# no hits -> 2 (pages 1, 2). Page 2 is a swap cache hit: a minor fault, one readahead hit,
# and swap_update_readahead() moves the VMA's readahead address to page 2. Fault 3: 1 hit
# -> 4, and 3 follows 2, so pages 3..6. Hits at 4, 5, 6 (3 hits) -> fault 7: 8 pages, 7..14.
# Hits at 8..14 -> fault 15: 8 pages from 15, only 15 is swapped. Major faults at
# 0, 1, 3, 7, 15 = 5; swap_ra = 1 + 3 + 7 = 11, all of them hit.
def test_vma_readahead_window_grows_with_hits(hand_trace):
    t = hand_trace(ev(A, W) + ev([0], P) + ev(A, R))
    r = run(t, small(page_cluster=3), ["order0-fallback"])["order0-fallback"]
    assert c(r, "zswpin") == 16
    assert c(r, "pgmajfault") == 5
    assert c(r, "swap_ra") == 11
    assert c(r, "swap_ra_hit") == 11
    assert d(r, "readahead_pages") == 11
    assert c(r, "pgfault") == 1 + 16


# After an order-0 swap-in the swap cache keeps the slot (a read fault, swap not half full).
# A page read from the device is clean: MADV_PAGEOUT drops it without I/O and the next read
# is a major fault from the device again. A page loaded from zswap is dirty (zswap_load()
# erased the entry), so the same pageout stores it in zswap again.
@pytest.mark.parametrize("pool_bytes,where_in,where_out", [(0, "pswpin", "pswpout"),
                                                           (None, "zswpin", "zswpout")])
def test_clean_swapcache_page_is_reclaimed_without_io(hand_trace, pool_bytes, where_in,
                                                      where_out):
    t = hand_trace(ev(A, W) + ev([0], P) + ev([0], R) + ev([0], P) + ev([0], R))
    r = run(t, small(zswap_max_pool_bytes=pool_bytes), ["order0-fallback"])["order0-fallback"]
    assert c(r, "pgmajfault") == 2
    assert c(r, where_in) == 2
    if where_out == "pswpout":
        assert c(r, "pswpout") == 16          # no second write: the slot still held the data
    else:
        assert c(r, "zswpout") == 17          # rewritten: the load had erased the entry
    assert c(r, "pgsteal") == 0               # reclaim_pages() is not shrink_inactive_list()


# A write fault on a page in the swap cache frees its slot (should_try_to_free_swap()):
# the page is dirty, and its next reclaim allocates a new slot and writes again.
def test_write_fault_frees_the_swap_slot(hand_trace):
    t = hand_trace(ev(A, W) + ev([0], P) + ev([0], W) + ev([0], P))
    r = run(t, small(zswap_max_pool_bytes=0), ["order0-fallback"])["order0-fallback"]
    assert c(r, "pswpin") == 1
    assert c(r, "pswpout") == 16 + 1


# MADV_DONTNEED of part of a 64K folio: the folio goes on the deferred split queue
# (split_deferred@64K 1). MADV_PAGEOUT then splits it (split@64K 1): the 4 unmapped pages
# are freed without I/O and the 12 others are swapped out one by one (order-0 slots).
def test_partially_unmapped_folio_is_split_before_swapout(hand_trace):
    t = hand_trace(ev(A, W) + ev(range(4), F) + ev([8], P))
    r = run(t, small(zswap_max_pool_bytes=0), ["order0-fallback"])["order0-fallback"]
    assert ps(r, "split_deferred") == 1
    assert ps(r, "split") == 1
    assert ps(r, "swpout") == 0
    assert c(r, "pswpout") == 12
    assert d(r, "final_resident_bytes") == 0


# Freeing swapped-out pages (munmap of swap PTEs) releases their slots and zswap entries.
def test_free_of_swapped_out_pages_drops_zswap_entries(hand_trace):
    t = hand_trace(ev(A, W) + ev([0], P) + ev(A, F) + ev(A, R))
    r = run(t, small(), ["hybrid-supported"])["hybrid-supported"]
    assert c(r, "zswpout") == 16
    assert c(r, "zswpin") == 0
    assert d(r, "final_pool_bytes") == 0
    assert c(r, "pgmajfault") == 0
    # the reads after the free are first touches again: the zero page, no allocation
    assert d(r, "zero_page_maps") == 16


# A page of a partly unmapped 64K folio faults again: the kernel allocates a new order-0
# page there while the old subpage waits in the folio for the deferred split. The model
# splits the folio at that point (one record per page): 15 pages of the old folio stay
# resident as order-0 folios, the new page makes 16; nothing is counted twice.
def test_refault_into_a_partly_unmapped_folio_splits_it(hand_trace):
    t = hand_trace(ev(A, W) + ev([1, 7], F) + ev([7], W) + ev([0], P))
    r = run(t, small(zswap_max_pool_bytes=0), ["order0-fallback"])["order0-fallback"]
    assert ps(r, "anon_fault_alloc") == 1
    assert ps(r, "split_deferred") == 1
    assert ps(r, "split") == 1
    assert c(r, "pgfault") == 2
    assert c(r, "pswpout") == 1               # MADV_PAGEOUT of page 0, an order-0 folio now
    assert d(r, "final_resident_bytes") == (16 - 2 + 1 - 1) * 4096


# The first fault in each 2 MiB block allocates its PTE table, a page charged to the memcg
# (pte_alloc_one(): GFP_PGTABLE_USER has __GFP_ACCOUNT) and never freed in a replay. Eight
# blocks, one page written in each: 8 page tables. A 1 MiB memcg (256 pages) and 256 pages
# written in one block: 255 fit beside the block's page table, so the last fault reclaims
# (a batch of pages: zswpout > 0); 255 pages fit. exact-lru is a cache model: no page tables, no reclaim.
def test_each_touched_block_charges_a_page_table(hand_trace):
    sparse = hand_trace([(b * 512, W) for b in range(8)], blocks=8, hugepage=False)
    r = run(sparse, small(mthp_sizes_kb=()), ["order0-fallback"])["order0-fallback"]
    assert d(r, "pagetable_pages") == 8 and c(r, "zswpout") == 0
    full = hand_trace(ev(range(256), W), hugepage=False)
    r = run(full, small(mthp_sizes_kb=()), ["order0-fallback"])["order0-fallback"]
    assert d(r, "pagetable_pages") == 1 and c(r, "zswpout") > 0
    r = run(full, small(mthp_sizes_kb=(), reclaim="exact-lru"),
            ["order0-fallback"])["order0-fallback"]
    assert d(r, "pagetable_pages") == 0 and c(r, "zswpout") == 0
    fits = hand_trace(ev(range(255), W), hugepage=False)
    r = run(fits, small(mthp_sizes_kb=()), ["order0-fallback"])["order0-fallback"]
    assert d(r, "pagetable_pages") == 1 and c(r, "zswpout") == 0
