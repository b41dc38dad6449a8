"""The TLB model on hand-worked access streams, and step by step against a plain-Python model."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace

import numpy as np
import pytest

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


# ---------------------------------------------------------------- against a reference model

class ReferenceTLB:
    """The model as plainly as Python says it: L1 an OrderedDict in recency order, each
    L2 set a list in recency order (least recent first), entries (tag, shift) covering
    pages [tag << shift, (tag + 1) << shift)."""

    def __init__(self, cfg: TLBConfig):
        self.cfg = cfg
        self.sets = cfg.l2_entries // cfg.l2_ways
        if cfg.arch == "x86":
            self.shifts = (2 if cfg.coalesce_pages == 4 else 3, 9)
        elif cfg.arch == "arm64":
            self.shifts = (4, 9)
        else:
            self.shifts = ()
        self.counters = dict.fromkeys(("l1_hits", "l2_hits", "walks", "flush_ranges",
                                       "flush_all", "invalidated"), 0)
        self._empty()

    def _empty(self) -> None:
        self.l1: OrderedDict = OrderedDict()
        self.l2: list[list] = [[] for _ in range(self.sets)]

    def access(self, page: int, order: int) -> int:
        if self.cfg.arch == "none":
            return HIT_L1
        shift = 0
        for sh in self.shifts:                 # coalesced / contpte, then PMD
            if order >= sh:
                shift = sh
        entry = (page >> shift, shift)
        if entry in self.l1:
            self.l1.move_to_end(entry)
            self.counters["l1_hits"] += 1
            return HIT_L1
        ways = self.l2[entry[0] % self.sets]
        if entry in ways:
            ways.remove(entry)
            got = HIT_L2
            self.counters["l2_hits"] += 1
        else:
            if len(ways) == self.cfg.l2_ways:
                ways.pop(0)
            got = WALK
            self.counters["walks"] += 1
        ways.append(entry)
        if len(self.l1) == self.cfg.l1_entries:
            self.l1.popitem(last=False)
        self.l1[entry] = None
        return got

    def flush_range(self, first: int, npages: int) -> None:
        if self.cfg.arch == "none" or npages <= 0:
            return
        if 0 < self.cfg.flush_ceiling_pages < npages:
            self.flush_all()
            return
        self.counters["flush_ranges"] += 1
        last = first + npages - 1

        def covers(e):
            return e[0] << e[1] <= last and (e[0] + 1) << e[1] > first

        for e in [e for e in self.l1 if covers(e)]:
            del self.l1[e]
            self.counters["invalidated"] += 1
        for ways in self.l2:
            kept = [e for e in ways if not covers(e)]
            self.counters["invalidated"] += len(ways) - len(kept)
            ways[:] = kept

    def flush_all(self) -> None:
        self._empty()
        self.counters["flush_all"] += 1


def replay_both(cfg: TLBConfig, steps) -> int:
    """Feed (op, page, arg) steps to the model and the reference: op "a" is an access
    (arg: folio order), "f" a range flush (arg: pages), "F" a full flush. Return codes
    and all counters must agree after every step; returns the number of steps."""
    s, ref = make_tlb_state(cfg), ReferenceTLB(cfg)
    for i, (op, page, arg) in enumerate(steps):
        if op == "a":
            got, want = tlb_access(s, page, arg), ref.access(page, arg)
            assert got == want, f"step {i}: access({page}, order {arg}) gave {got}, want {want}"
        elif op == "f":
            tlb_flush_range(s, page, arg)
            ref.flush_range(page, arg)
        else:
            tlb_flush_all(s)
            ref.flush_all()
        c = tlb_counters(s)
        assert {k: c[k] for k in ref.counters} == ref.counters, f"step {i}: {(op, page, arg)}"
    return len(steps)


ORDERS = (0, 2, 3, 4, 9)
SMALL = replace(X86, l1_entries=6, l2_entries=32, l2_ways=4, name="small")
REFERENCE_CONFIGS = {
    "x86": X86, "arm64": ARM,
    "zen2": TLBConfig.preset("zen2"), "neoverse-n1": TLBConfig.preset("neoverse-n1"),
    "neoverse-v2": TLBConfig.preset("neoverse-v2"),
    "x86-4k-shadow": X86.shadow(), "arm64-4k-shadow": ARM.shadow(),
    "x86-32k-coalescing": replace(X86, coalesce_pages=8),
    "x86-no-flush-ceiling": replace(X86, flush_ceiling_pages=0),
    "small": SMALL,
    "l1-of-1": replace(SMALL, l1_entries=1, l2_entries=8, l2_ways=8),
    "l1-of-2": replace(SMALL, l1_entries=2, l2_entries=8, l2_ways=2),
    "l1-of-3": replace(ARM, l1_entries=3, l2_entries=16, l2_ways=4),
}


def random_steps(seed: int, n: int, span: int, flush_share: float = 0.03):
    """Accesses with the locality traces have (runs of pages, pairs of pages taken in
    turns, jumps), each with an order from ORDERS; flushes of 1..1024 pages starting at
    or before a recently used page."""
    rng = np.random.default_rng(seed)
    steps, page, other = [], int(rng.integers(span)), int(rng.integers(span))
    for _ in range(n):
        r = rng.random()
        if r < flush_share:
            npages = int(rng.choice([1, 2, 15, 16, 17, 33, 34, 64, 257, 512, 513, 1024]))
            steps.append(("f", max(0, page - int(rng.integers(npages + 1))), npages))
            continue
        if r < flush_share + 0.002:
            steps.append(("F", 0, 0))
            continue
        kind = rng.random()
        if kind < 0.35:
            page, other = other, page          # back to the other page of the pair
        elif kind < 0.65:
            page = (page + 1) % span
        elif kind < 0.9:
            page = (page + int(rng.integers(-40, 41))) % span
        else:
            page = int(rng.integers(span))
        steps.append(("a", page, int(rng.choice(ORDERS))))
    return steps


@pytest.mark.parametrize("name", sorted(REFERENCE_CONFIGS))
def test_random_streams_match_the_reference_model_step_by_step(name):
    cfg = REFERENCE_CONFIGS[name]
    for seed, span in ((1, 300), (2, 6000), (3, 1 << 20)):
        assert replay_both(cfg, random_steps(seed, 1500, span)) == 1500


def _cyclic(keys: int, rounds: int, order: int = 0, stride: int = 1):
    return [("a", k * stride, order) for _ in range(rounds) for k in range(keys)]


STRUCTURED = {
    # one more page than L1 holds, in turn: every access misses L1, LRU evicts the next
    "cyclic-l1-plus-1": lambda cfg: _cyclic(cfg.l1_entries + 1, 4),
    # more entries than an L2 set holds, all in one set
    "one-l2-set": lambda cfg: _cyclic(cfg.l2_ways + 2, 4,
                                      stride=cfg.l2_entries // cfg.l2_ways),
    # two pages in turns, a third now and then; flush each of the two in turn
    "pair-then-flush-each": lambda cfg: (
        [("a", p, 0) for p in [10, 20] * 5 + [30] + [10, 20] * 3]
        + [("f", 20, 1), ("a", 10, 0), ("a", 30, 0), ("a", 20, 0),
           ("f", 20, 1), ("f", 30, 1), ("a", 10, 0), ("a", 30, 0), ("a", 20, 0)]),
    # flush the most recent, the second most recent and an older entry
    "flush-by-recency": lambda cfg: (
        _cyclic(min(cfg.l1_entries, 8), 2)
        + [("f", 7, 1), ("f", 6, 1), ("f", 1, 1)] + _cyclic(min(cfg.l1_entries, 8), 2)),
    # 2M and 64K folios swept page by page, then unmapped whole or in part
    "large-folios": lambda cfg: (
        [("a", p, 9) for p in range(1024)] + [("f", 0, 512), ("a", 3, 9)]
        + [("a", p, 4) for p in range(2048, 2048 + 256)] + [("f", 2048 + 20, 16)]
        + [("a", p, 4) for p in range(2048, 2048 + 64)]),
    # a range of more pages than L2 has sets still drops every page's entry
    "flush-wider-than-l2": lambda cfg: (
        _cyclic(600, 1) + [("f", 0, 600)] + _cyclic(600, 1)),
}


@pytest.mark.parametrize("stream", sorted(STRUCTURED))
@pytest.mark.parametrize("name", ["x86", "arm64", "x86-no-flush-ceiling", "small",
                                  "l1-of-1", "l1-of-2", "l1-of-3"])
def test_structured_streams_match_the_reference_model(name, stream):
    cfg = REFERENCE_CONFIGS[name]
    steps = STRUCTURED[stream](cfg)
    assert replay_both(cfg, steps) == len(steps)


def test_a_flush_wider_than_the_l2_sets_leaves_no_stale_l2_entry():
    """arm64 flushes up to 512 pages one by one, more than its 256 L2 sets: every page's
    4K entry must go (an earlier version stopped after one page per set)."""
    s = make_tlb_state(ARM.shadow())
    for p in range(300):
        tlb_access(s, p, 0)
    tlb_flush_range(s, 0, 300)
    assert tlb_counters(s)["flush_all"] == 0
    assert [tlb_access(s, p, 0) for p in (0, 255, 256, 290, 299)] == [WALK] * 5


def test_a_fresh_tlb_counts_nothing():
    s = make_tlb_state(X86)
    assert tlb_counters(s) == {"l1_hits": 0, "l2_hits": 0, "walks": 0, "flush_ranges": 0,
                               "flush_all": 0, "invalidated": 0, "accesses": 0, "cycles": 0}
