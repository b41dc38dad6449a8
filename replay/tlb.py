"""A data-TLB model the engine's compiled loop calls on every access.

Two levels, as on current x86 and arm64 cores: a small fully associative L1
dTLB and a set-associative L2 TLB, true LRU within a set, non-exclusive
(an L2 hit refills L1; a page walk fills both). One entry covers:

* 4 KiB, for an order-0 folio (and for every page in the 4K-only shadow);
* on x86 (AMD "PTE coalescing", Zen and later): an aligned 16 KiB range
  (``coalesce_pages`` 4; 8 gives 32 KiB) when a folio of that size or larger
  maps it. The hardware coalesces any physically contiguous aligned PTEs; the
  model assumes only pages of one large folio are contiguous;
* on arm64: one 64 KiB contpte block (16 PTEs with the contiguous bit, set by
  the kernel's contpte layer, arch/arm64/mm/contpte.c) when a 64 KiB or larger
  folio maps it; 16K and 32K folios get no contpte;
* on both: 2 MiB for a PMD-mapped THP (folio order 9).

Lookups use the coverage of the folio mapping the page now, so the engine
must call ``tlb_flush_range`` whenever a mapping goes away or changes
(swap-out, free, split), as the kernel flushes. A range of more than
``flush_ceiling_pages`` pages flushes everything, as the kernel does
(x86 ``tlb_single_page_flush_ceiling`` 33; arm64 MAX_DVM_OPS = PTRS_PER_PTE 512).

Everything lives in one int64 array (``make_tlb_state``) so numba code can
pass it around; the offsets below are compile-time constants. Left out:
instruction TLB, page-walk caches (walks cost ``walk_cycles`` flat), skewed
L2 indexing (sets are a power of two; where a real L2 is skewed the ways are
rounded), ASIDs (dense page ids already separate address spaces) and
speculative fills.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
from numba import njit

from replay.errors import SettingsError

ARCHES = ("x86", "arm64", "4k", "none")
ARCH_CODE = {name: i for i, name in enumerate(ARCHES)}
HIT_L1, HIT_L2, WALK = 0, 1, 2
PMD_ORDER = 9
CONTPTE_ORDER = 4                      # 16 x 4 KiB = 64 KiB on arm64 with 4K pages
_NEVER = 62                            # an order no folio reaches

# header slots
H_ARCH, H_L1_N, H_L2_SETS, H_L2_WAYS, H_CSHIFT, H_PMD = 0, 1, 2, 3, 4, 5
H_CEIL, H_HMASK, H_CLOCK, H_HEAD, H_TAIL, H_NFREE, H_MRU = 6, 7, 8, 9, 10, 11, 12
H_L2_CYC, H_WALK_CYC = 13, 14
H_L1_HITS, H_L2_HITS, H_WALKS, H_FLUSH_RANGES, H_FLUSH_ALL, H_INVALIDATED = 15, 16, 17, 18, 19, 20
H_OFF_TAG, H_OFF_PREV, H_OFF_NEXT, H_OFF_FREE, H_OFF_HASH, H_OFF_L2TAG, H_OFF_L2STAMP = (
    21, 22, 23, 24, 25, 26, 27)
HEADER = 32
COUNTER_NAMES = ("l1_hits", "l2_hits", "walks", "flush_ranges", "flush_all", "invalidated")


@dataclass(frozen=True)
class TLBConfig:
    """Sizes and costs of a two-level data TLB; ``preset()`` gives documented cores."""

    arch: str = "x86"                  # x86 | arm64 | 4k (no coalescing) | none (no model)
    l1_entries: int = 72               # fully associative
    l2_entries: int = 3072
    l2_ways: int = 24
    coalesce_pages: int = 4            # x86 only: 4 (16 KiB) or 8 (32 KiB)
    l2_hit_cycles: int = 7             # extra cycles of an L1 miss that hits L2
    walk_cycles: int = 40              # extra cycles of an L2 miss (page walk)
    flush_ceiling_pages: int = 33      # larger flushes drop everything; 0 = never
    name: str = "zen4"
    source: str = ""

    @classmethod
    def preset(cls, name: str) -> TLBConfig:
        """A documented core: zen2, zen4, neoverse-n1, neoverse-n2, neoverse-v2, or x86/arm64."""
        key = {"x86": "zen4", "arm64": "neoverse-n2"}.get(name, name)
        if key not in PRESETS:
            raise SettingsError(f"TLB preset {name!r} is not one of "
                                f"{', '.join(['x86', 'arm64', *PRESETS])}")
        return PRESETS[key]

    def shadow(self) -> TLBConfig:
        """The same TLB with every entry covering 4 KiB: the baseline for cycles saved."""
        return replace(self, arch="4k", name=f"{self.name} (4K-only)")

    def validate(self) -> TLBConfig:
        if self.arch not in ARCHES:
            raise SettingsError(f"TLB arch {self.arch!r} is not one of {', '.join(ARCHES)}")
        if self.l1_entries < 1 or self.l2_entries < 1 or self.l2_ways < 1:
            raise SettingsError("TLB sizes must be positive")
        sets = self.l2_entries // self.l2_ways
        if sets * self.l2_ways != self.l2_entries or sets & (sets - 1):
            raise SettingsError(f"L2 TLB of {self.l2_entries} entries and {self.l2_ways} ways "
                                "does not give a power-of-two number of sets")
        if self.coalesce_pages not in (4, 8):
            raise SettingsError("x86 coalescing covers 4 (16K) or 8 (32K) pages")
        if min(self.l2_hit_cycles, self.walk_cycles, self.flush_ceiling_pages) < 0:
            raise SettingsError("TLB cycles and flush ceiling must not be negative")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    "zen4": TLBConfig(
        "x86", 72, 3072, 24, 4, 7, 40, 33, "zen4",
        "AMD Zen 4 (family 19h model 10h+): L1 dTLB 72 entries fully associative, L2 dTLB "
        "3072 entries (AMD Software Optimization Guide for family 19h, 57647; not re-checked "
        "here: associativity taken as 24-way, 128 sets); PTE coalescing of 4 aligned pages."),
    "zen2": TLBConfig(
        "x86", 64, 2048, 16, 4, 7, 40, 33, "zen2",
        "AMD Zen 2: L1 dTLB 64 entries fully associative, L2 dTLB 2048 entries 12-way "
        "(WikiChip, from AMD's family 17h guide; the L2 is skewed, modelled 16-way x 128 sets)."),
    "neoverse-n1": TLBConfig(
        "arm64", 48, 1280, 5, 4, 3, 40, 512, "neoverse-n1",
        "Arm Cortex-A76 / Neoverse N1 TRM: L1 data TLB 48 entries fully associative (caches "
        "4K, 16K, 64K, 2M blocks), L2 TLB 1280 entries 5-way, L2 access usually 3 cycles."),
    "neoverse-n2": TLBConfig(
        "arm64", 48, 1536, 6, 4, 3, 40, 512, "neoverse-n2",
        "Arm Neoverse N2 TRM (102099): L1 data TLB 48 entries fully associative, L2 TLB 1536 "
        "entries 6-way (not re-checked here); L2 hit cycles as the N1 TRM."),
    "neoverse-v2": TLBConfig(
        "arm64", 48, 2048, 8, 4, 3, 40, 512, "neoverse-v2",
        "Arm Neoverse V2 TRM: L1 data TLB 48 entries fully associative, L2 TLB 2048 entries "
        "8-way (not re-checked here); L2 hit cycles as the N1 TRM."),
}


def make_tlb_state(config: TLBConfig) -> np.ndarray:
    """A fresh (empty) TLB as one int64 array for ``tlb_access`` and friends."""
    config.validate()
    n = config.l1_entries
    hsize = 1
    while hsize < 4 * n:
        hsize <<= 1
    sets = config.l2_entries // config.l2_ways
    off_tag = HEADER
    off_prev = off_tag + n
    off_next = off_prev + n
    off_free = off_next + n
    off_hash = off_free + n
    off_l2tag = off_hash + hsize
    off_l2stamp = off_l2tag + config.l2_entries
    s = np.zeros(off_l2stamp + config.l2_entries, np.int64)
    s[H_ARCH] = ARCH_CODE[config.arch]
    s[H_L1_N] = n
    s[H_L2_SETS] = sets
    s[H_L2_WAYS] = config.l2_ways
    if config.arch == "x86":
        s[H_CSHIFT], s[H_PMD] = (2 if config.coalesce_pages == 4 else 3), PMD_ORDER
    elif config.arch == "arm64":
        s[H_CSHIFT], s[H_PMD] = CONTPTE_ORDER, PMD_ORDER
    else:
        s[H_CSHIFT], s[H_PMD] = _NEVER, _NEVER
    s[H_CEIL] = config.flush_ceiling_pages
    s[H_HMASK] = hsize - 1
    s[H_L2_CYC] = config.l2_hit_cycles
    s[H_WALK_CYC] = config.walk_cycles
    s[H_OFF_TAG], s[H_OFF_PREV], s[H_OFF_NEXT], s[H_OFF_FREE] = off_tag, off_prev, off_next, off_free
    s[H_OFF_HASH], s[H_OFF_L2TAG], s[H_OFF_L2STAMP] = off_hash, off_l2tag, off_l2stamp
    _reset(s)
    return s


@njit(cache=True)
def _reset(s: np.ndarray) -> None:
    n = s[H_L1_N]
    ot, of, oh = s[H_OFF_TAG], s[H_OFF_FREE], s[H_OFF_HASH]
    for i in range(n):
        s[ot + i] = -1
        s[of + i] = n - 1 - i              # free stack: slot 0 popped first
    for i in range(s[H_HMASK] + 1):
        s[oh + i] = -1
    o2 = s[H_OFF_L2TAG]
    for i in range(s[H_L2_SETS] * s[H_L2_WAYS]):
        s[o2 + i] = -1
    s[H_HEAD] = -1
    s[H_TAIL] = -1
    s[H_NFREE] = n
    s[H_MRU] = -1


@njit(cache=True, inline="always")
def _home(s: np.ndarray, key: np.int64) -> np.int64:
    h = (key ^ (key >> 15)) * np.int64(-7046029254386353131)   # 0x9E3779B97F4A7C15
    return (h >> 24) & s[H_HMASK]


@njit(cache=True, inline="always")
def _hash_find(s: np.ndarray, key: np.int64) -> np.int64:
    oh, ot, mask = s[H_OFF_HASH], s[H_OFF_TAG], s[H_HMASK]
    i = _home(s, key)
    while True:
        slot = s[oh + i]
        if slot < 0:
            return -1
        if s[ot + slot] == key:
            return slot
        i = (i + 1) & mask


@njit(cache=True, inline="always")
def _hash_insert(s: np.ndarray, key: np.int64, slot: np.int64) -> None:
    oh, mask = s[H_OFF_HASH], s[H_HMASK]
    i = _home(s, key)
    while s[oh + i] >= 0:
        i = (i + 1) & mask
    s[oh + i] = slot


@njit(cache=True, inline="always")
def _hash_delete(s: np.ndarray, key: np.int64) -> None:
    """Remove ``key`` (present) with backward-shift deletion (linear probing)."""
    oh, ot, mask = s[H_OFF_HASH], s[H_OFF_TAG], s[H_HMASK]
    i = _home(s, key)
    while s[ot + s[oh + i]] != key:
        i = (i + 1) & mask
    s[oh + i] = -1
    j = i
    while True:
        j = (j + 1) & mask
        slot = s[oh + j]
        if slot < 0:
            return
        k = _home(s, s[ot + slot])
        if i <= j:
            stays = i < k <= j
        else:
            stays = k > i or k <= j
        if not stays:
            s[oh + i] = slot
            s[oh + j] = -1
            i = j


@njit(cache=True, inline="always")
def _unlink(s: np.ndarray, slot: np.int64) -> None:
    op, on = s[H_OFF_PREV], s[H_OFF_NEXT]
    p, n = s[op + slot], s[on + slot]
    if p >= 0:
        s[on + p] = n
    else:
        s[H_HEAD] = n
    if n >= 0:
        s[op + n] = p
    else:
        s[H_TAIL] = p


@njit(cache=True, inline="always")
def _push_front(s: np.ndarray, slot: np.int64) -> None:
    op, on = s[H_OFF_PREV], s[H_OFF_NEXT]
    head = s[H_HEAD]
    s[op + slot] = -1
    s[on + slot] = head
    if head >= 0:
        s[op + head] = slot
    else:
        s[H_TAIL] = slot
    s[H_HEAD] = slot


@njit(cache=True, inline="always")
def _l1_fill(s: np.ndarray, key: np.int64) -> None:
    ot = s[H_OFF_TAG]
    if s[H_NFREE] > 0:
        s[H_NFREE] -= 1
        slot = s[s[H_OFF_FREE] + s[H_NFREE]]
    else:
        slot = s[H_TAIL]
        _hash_delete(s, s[ot + slot])
        _unlink(s, slot)
    s[ot + slot] = key
    _push_front(s, slot)
    _hash_insert(s, key, slot)
    s[H_MRU] = key


@njit(cache=True, inline="always")
def tlb_access(s: np.ndarray, page: np.int64, folio_order: np.int64) -> np.int64:
    """Translate ``page`` (dense id) mapped by a folio of ``folio_order``: 0 L1 hit, 1 L2, 2 walk.

    Inlined into the caller: a repeat of the last entry costs a compare; anything
    else is one call to the L1/L2 lookup.
    """
    if s[H_ARCH] == 3:                      # "none": no TLB model, nothing counted
        return 0
    if folio_order >= s[H_PMD]:
        shift = s[H_PMD]
    elif folio_order >= s[H_CSHIFT]:
        shift = s[H_CSHIFT]
    else:
        shift = np.int64(0)
    key = ((page >> shift) << 6) | shift
    if s[H_MRU] == key:                     # same entry as the last access
        s[H_L1_HITS] += 1
        return 0
    return _tlb_lookup(s, page >> shift, key)


@njit(cache=True)
def _tlb_lookup(s: np.ndarray, vtag: np.int64, key: np.int64) -> np.int64:
    slot = _hash_find(s, key)
    if slot >= 0:
        if s[H_HEAD] != slot:
            _unlink(s, slot)
            _push_front(s, slot)
        s[H_MRU] = key
        s[H_L1_HITS] += 1
        return 0
    # L2: scan the set, remembering the LRU (or an empty) way
    ways = s[H_L2_WAYS]
    base = s[H_OFF_L2TAG] + (vtag & (s[H_L2_SETS] - 1)) * ways
    ostamp = s[H_OFF_L2STAMP] - s[H_OFF_L2TAG]
    s[H_CLOCK] += 1
    victim = base
    oldest = np.int64(1) << 62
    for w in range(base, base + ways):
        t = s[w]
        if t == key:
            s[w + ostamp] = s[H_CLOCK]
            s[H_L2_HITS] += 1
            _l1_fill(s, key)
            return 1
        st = s[w + ostamp] if t >= 0 else np.int64(-1)
        if st < oldest:
            oldest = st
            victim = w
    s[victim] = key
    s[victim + ostamp] = s[H_CLOCK]
    s[H_WALKS] += 1
    _l1_fill(s, key)
    return 2


@njit(cache=True)
def tlb_flush_all(s: np.ndarray) -> None:
    """Drop every entry (a full flush)."""
    _reset(s)
    s[H_FLUSH_ALL] += 1


@njit(cache=True)
def tlb_flush_range(s: np.ndarray, first_page: np.int64, npages: np.int64) -> None:
    """Drop the entries covering any page of [first_page, first_page + npages) (an unmap)."""
    if s[H_ARCH] == 3 or npages <= 0:
        return
    if s[H_CEIL] > 0 and npages > s[H_CEIL]:
        tlb_flush_all(s)
        return
    s[H_FLUSH_RANGES] += 1
    s[H_MRU] = -1
    last = first_page + npages - 1
    # L1: walk the list
    ot, on = s[H_OFF_TAG], s[H_OFF_NEXT]
    slot = s[H_HEAD]
    while slot >= 0:
        nxt = s[on + slot]
        key = s[ot + slot]
        sh = key & 63
        lo = (key >> 6) << sh
        hi = lo + (np.int64(1) << sh) - 1
        if lo <= last and hi >= first_page:
            _hash_delete(s, key)
            _unlink(s, slot)
            s[ot + slot] = -1
            s[s[H_OFF_FREE] + s[H_NFREE]] = slot
            s[H_NFREE] += 1
            s[H_INVALIDATED] += 1
        slot = nxt
    # L2: look up every tag the range could have at each entry size
    sets, ways, o2 = s[H_L2_SETS], s[H_L2_WAYS], s[H_OFF_L2TAG]
    for k in range(3):
        sh = np.int64(0) if k == 0 else (s[H_CSHIFT] if k == 1 else s[H_PMD])
        if sh >= _NEVER or (k == 2 and s[H_PMD] == s[H_CSHIFT]):
            continue
        v0, v1 = first_page >> sh, last >> sh
        for v in range(v0, v1 + 1):
            key = (v << 6) | sh
            base = o2 + (v & (sets - 1)) * ways
            for w in range(base, base + ways):
                if s[w] == key:
                    s[w] = -1
                    s[H_INVALIDATED] += 1
            if v - v0 >= sets:              # every set seen once: done
                break


@njit(cache=True)
def tlb_access_pair(s: np.ndarray, shadow: np.ndarray, page: np.int64,
                    folio_order: np.int64) -> np.int64:
    """``tlb_access`` on the modelled TLB and on its 4K-only shadow; returns the first's."""
    tlb_access(shadow, page, 0)
    return tlb_access(s, page, folio_order)


@njit(cache=True)
def tlb_flush_range_pair(s: np.ndarray, shadow: np.ndarray, first_page: np.int64,
                         npages: np.int64) -> None:
    tlb_flush_range(shadow, first_page, npages)
    tlb_flush_range(s, first_page, npages)


@njit(cache=True)
def tlb_cycles(s: np.ndarray) -> np.int64:
    """Extra cycles spent on translation: L2 hits and page walks, at the configured costs."""
    return s[H_L2_HITS] * s[H_L2_CYC] + s[H_WALKS] * s[H_WALK_CYC]


def tlb_counters(s: np.ndarray) -> dict:
    """Counters as plain data (accesses = l1_hits + l2_hits + walks)."""
    out = {name: int(s[H_L1_HITS + i]) for i, name in enumerate(COUNTER_NAMES)}
    out["accesses"] = out["l1_hits"] + out["l2_hits"] + out["walks"]
    out["cycles"] = int(tlb_cycles(s))
    return out


def tlb_summary(s: np.ndarray, shadow: np.ndarray | None = None) -> dict:
    """Counters of a TLB and, with its 4K-only shadow, the walks and cycles saved."""
    out = tlb_counters(s)
    if shadow is not None:
        base = tlb_counters(shadow)
        out["shadow_4k"] = base
        out["walks_saved"] = base["walks"] - out["walks"]
        out["cycles_saved"] = base["cycles"] - out["cycles"]
    return out
