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
from numba import njit, types
from numba.core.extending import intrinsic

from replay.errors import SettingsError

ARCHES = ("x86", "arm64", "4k", "none")
ARCH_CODE = {name: i for i, name in enumerate(ARCHES)}
HIT_L1, HIT_L2, WALK = 0, 1, 2
PMD_ORDER = 9
CONTPTE_ORDER = 4                      # 16 x 4 KiB = 64 KiB on arm64 with 4K pages
_NEVER = 62                            # an order no folio reaches

# header slots (the counters, 15..20, are read by replay.timeline too)
H_ARCH, H_L1_N, H_L2_SETS, H_L2_WAYS, H_CSHIFT, H_PMD, H_CEIL, H_HMASK, H_NFREE = range(9)
H_TOP0, H_TOP0_SLOT, H_TOP1, H_TOP1_SLOT = 9, 10, 11, 12      # key, slot: key, slot
H_L2_CYC, H_WALK_CYC = 13, 14
H_L1_HITS, H_L2_HITS, H_WALKS, H_FLUSH_RANGES, H_FLUSH_ALL, H_INVALIDATED = 15, 16, 17, 18, 19, 20
H_OFF_TAG, H_OFF_CELL, H_OFF_LINK, H_OFF_FREE, H_OFF_HASH, H_OFF_L2 = 21, 22, 23, 24, 25, 26
HEADER = 32
COUNTER_NAMES = ("l1_hits", "l2_hits", "walks", "flush_ranges", "flush_all", "invalidated")
_EMPTY = -1                            # a free L1 slot or hash cell, an empty L2 way, no entry


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
    """A fresh (empty) TLB as one int64 array for ``tlb_access`` and friends.

    L1 in recency order is: the entry in H_TOP0 (most recent), the one in H_TOP1, then
    a doubly linked list of slots through a sentinel, least recent last (after a flush
    H_TOP1 or both may be empty, -1, with entries in the list). After the
    header: per L1 slot its entry key (-1: free) and its hash cell; the list links
    (prev, next per slot, then the sentinel's; an unlinked slot links to itself); the
    free-slot stack; the hash of the L1 keys (key, slot pairs; linear probing, at most
    a quarter full); the L2 tags, set after set, each set's in recency order with the
    empty ways last (no stamps: true LRU by position).
    """
    config.validate()
    n = config.l1_entries
    hsize = 1
    while hsize < 4 * n:
        hsize <<= 1
    off_tag = HEADER
    off_cell = off_tag + n
    off_link = off_cell + n
    off_free = off_link + 2 * (n + 1)
    off_hash = off_free + n
    off_l2 = off_hash + 2 * hsize
    s = np.zeros(off_l2 + config.l2_entries, np.int64)
    s[H_ARCH] = ARCH_CODE[config.arch]
    s[H_L1_N] = n
    s[H_L2_SETS] = config.l2_entries // config.l2_ways
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
    s[H_OFF_TAG], s[H_OFF_CELL], s[H_OFF_LINK] = off_tag, off_cell, off_link
    s[H_OFF_FREE], s[H_OFF_HASH], s[H_OFF_L2] = off_free, off_hash, off_l2
    _init(s)
    return s


# Speed (measured: benchmarks/bench_tlb_speed.py). Traces repeat one of the last two
# entries most of the time (lackey traces alternate between two pages: 88% of kvscan's
# accesses), so those two sit in the header, outside the L1 list: such a hit is one or
# two compares. tlb_access is inlined into its caller down to L1 hits (numba's
# inline="always"); an L1 miss is one call. The compiled code works on the state's data
# pointer (``_state``), not on the array: numba wraps each call that passes an array,
# and each copy of an array variable (which inlining makes), in an atomic
# incref/decref of it, and checks every signed array index for a negative value; a
# pointer costs neither.


@intrinsic
def _state(typingctx, arr):
    """The data pointer of a TLB state array (the array must outlive its use)."""
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.dtype == types.int64
            and arr.layout == "C"):
        return None

    def codegen(context, builder, sig, args):
        return context.make_array(arr)(context, builder, value=args[0]).data

    return types.CPointer(types.int64)(arr), codegen


@njit(cache=True)
def _init(tlb: np.ndarray) -> None:
    _reset(_state(tlb))


@njit(cache=True)
def _reset(s) -> None:
    n = s[H_L1_N]
    ot, of, ol, oh = s[H_OFF_TAG], s[H_OFF_FREE], s[H_OFF_LINK], s[H_OFF_HASH]
    for i in range(n):
        s[ot + i] = _EMPTY
        s[of + i] = n - 1 - i
    for i in range(n + 1):
        s[ol + 2 * i] = i                  # unlinked (the sentinel, n: an empty list)
        s[ol + 2 * i + 1] = i
    for i in range(s[H_HMASK] + 1):
        s[oh + 2 * i] = _EMPTY
    o2 = s[H_OFF_L2]
    for i in range(s[H_L2_SETS] * s[H_L2_WAYS]):
        s[o2 + i] = _EMPTY
    s[H_NFREE] = n
    s[H_TOP0] = _EMPTY
    s[H_TOP1] = _EMPTY


@njit(cache=True, inline="always")
def _home(key: np.int64, mask: np.int64) -> np.int64:
    h = (key ^ (key >> 15)) * np.int64(-7046029254386353131)   # 0x9E3779B97F4A7C15
    return (h >> 24) & mask


@njit(cache=True, inline="always")
def _hash_find(s, key: np.int64):
    """(the L1 slot holding ``key``, its hash cell), or (-1, the empty cell where
    ``key`` would go)."""
    oh, mask = s[H_OFF_HASH], s[H_HMASK]
    i = _home(key, mask)
    while True:
        k = s[oh + 2 * i]
        if k == key:
            return s[oh + 2 * i + 1], i
        if k < 0:
            return np.int64(-1), i
        i = (i + 1) & mask


@njit(cache=True, inline="always")
def _hash_delete(s, i: np.int64) -> None:
    """Empty hash cell ``i``: backward-shift deletion (linear probing), keeping each
    slot's cell up to date."""
    oh, mask, oc = s[H_OFF_HASH], s[H_HMASK], s[H_OFF_CELL]
    j = i
    while True:
        j = (j + 1) & mask
        k = s[oh + 2 * j]
        if k < 0:
            break
        if ((j - _home(k, mask)) & mask) >= ((j - i) & mask):   # home not in (i, j]
            slot = s[oh + 2 * j + 1]
            s[oh + 2 * i] = k
            s[oh + 2 * i + 1] = slot
            s[oc + slot] = i
            i = j
    s[oh + 2 * i] = _EMPTY


@njit(cache=True, inline="always")
def _unlink(s, slot: np.int64) -> None:
    ol = s[H_OFF_LINK]
    p, nx = s[ol + 2 * slot], s[ol + 2 * slot + 1]
    s[ol + 2 * p + 1] = nx
    s[ol + 2 * nx] = p
    s[ol + 2 * slot] = slot
    s[ol + 2 * slot + 1] = slot


@njit(cache=True, inline="always")
def _push_top(s, key: np.int64, slot: np.int64) -> None:
    """Make ``key`` (in ``slot``, unlinked) the most recent L1 entry."""
    if s[H_TOP1] >= 0:                      # the second most recent joins the list
        ol, sen, t1 = s[H_OFF_LINK], s[H_L1_N], s[H_TOP1_SLOT]
        h = s[ol + 2 * sen + 1]
        s[ol + 2 * t1] = sen
        s[ol + 2 * t1 + 1] = h
        s[ol + 2 * h] = t1
        s[ol + 2 * sen + 1] = t1
    s[H_TOP1] = s[H_TOP0]
    s[H_TOP1_SLOT] = s[H_TOP0_SLOT]
    s[H_TOP0] = key
    s[H_TOP0_SLOT] = slot


@njit(cache=True, inline="always")
def _l1_remove(s, slot: np.int64) -> None:
    """Drop the entry in ``slot`` from L1 and free the slot."""
    key = s[s[H_OFF_TAG] + slot]
    if key == s[H_TOP0]:
        s[H_TOP0] = s[H_TOP1]
        s[H_TOP0_SLOT] = s[H_TOP1_SLOT]
        s[H_TOP1] = _EMPTY
    elif key == s[H_TOP1]:
        s[H_TOP1] = _EMPTY
    else:
        _unlink(s, slot)
    _hash_delete(s, s[s[H_OFF_CELL] + slot])
    s[s[H_OFF_TAG] + slot] = _EMPTY
    s[s[H_OFF_FREE] + s[H_NFREE]] = slot
    s[H_NFREE] += 1


@njit(cache=True)
def _l1_miss(s, vtag: np.int64, key: np.int64, cell: np.int64) -> np.int64:
    """``key`` is not in L1 (its hash cell would be ``cell``): look it up in its L2 set,
    filling it there on a miss (into an empty way, else over the least recently used
    one), and fill it into L1 as the most recent entry (into a free slot, else over the
    least recently used one)."""
    # L2: the set's ways are kept in recency order, valid ways first
    ways = s[H_L2_WAYS]
    base = s[H_OFF_L2] + (vtag & (s[H_L2_SETS] - 1)) * ways
    last = base + ways - 1
    j = base
    while j < last:
        t = s[j]
        if t == key or t < 0:
            break
        j += 1
    if s[j] == key:
        s[H_L2_HITS] += 1
        level = np.int64(HIT_L2)
    else:                                   # s[j] is empty, or the LRU way (j == last)
        s[H_WALKS] += 1
        level = np.int64(WALK)
    while j > base:
        s[j] = s[j - 1]
        j -= 1
    s[base] = key
    # L1 fill: a free slot, else the least recent entry's. The new key's hash cell is
    # taken before the old one is emptied (the deletion may move it).
    oh, oc = s[H_OFF_HASH], s[H_OFF_CELL]
    nfree = s[H_NFREE]
    if nfree > 0:
        nfree -= 1
        s[H_NFREE] = nfree
        slot = s[s[H_OFF_FREE] + nfree]
        old = np.int64(-1)
    else:
        n = s[H_L1_N]
        slot = s[s[H_OFF_LINK] + 2 * n]     # the list's last entry
        if slot != n:
            _unlink(s, slot)
        elif s[H_TOP1] >= 0:                # (an L1 of 2 entries)
            slot = s[H_TOP1_SLOT]
            s[H_TOP1] = _EMPTY
        else:                               # (an L1 of 1 entry)
            slot = s[H_TOP0_SLOT]
            s[H_TOP0] = _EMPTY
        old = s[oc + slot]
    s[oh + 2 * cell] = key
    s[oh + 2 * cell + 1] = slot
    s[oc + slot] = cell
    if old >= 0:
        _hash_delete(s, old)
    s[s[H_OFF_TAG] + slot] = key
    _push_top(s, key, slot)
    return level


@njit(cache=True, inline="always")
def tlb_access(tlb: np.ndarray, page: np.int64, folio_order: np.int64) -> np.int64:
    """Translate ``page`` (dense id) mapped by a folio of ``folio_order``: 0 L1 hit, 1 L2, 2 walk.

    L1 is fully associative LRU, L2 set-associative LRU; an L2 hit refills L1, a walk
    L2 and L1. Inlined into the caller: a hit on one of the two most recent entries is
    one or two compares, another L1 hit a hash probe and a list move, an L1 miss one
    call.
    """
    s = _state(tlb)
    if s[H_ARCH] == 3:                      # "none": no TLB model, nothing counted
        return np.int64(HIT_L1)
    if folio_order >= s[H_PMD]:
        shift = s[H_PMD]
    elif folio_order >= s[H_CSHIFT]:
        shift = s[H_CSHIFT]
    else:
        shift = np.int64(0)
    vtag = page >> shift
    key = (vtag << 6) | shift
    if s[H_TOP0] == key:
        s[H_L1_HITS] += 1
        return np.int64(HIT_L1)
    if s[H_TOP1] == key:                    # swap the two most recent
        s[H_TOP1] = s[H_TOP0]
        s[H_TOP0] = key
        slot = s[H_TOP1_SLOT]
        s[H_TOP1_SLOT] = s[H_TOP0_SLOT]
        s[H_TOP0_SLOT] = slot
        s[H_L1_HITS] += 1
        return np.int64(HIT_L1)
    slot, cell = _hash_find(s, key)
    if slot >= 0:                           # in the list
        _unlink(s, slot)
        _push_top(s, key, slot)
        s[H_L1_HITS] += 1
        return np.int64(HIT_L1)
    return _l1_miss(s, vtag, key, cell)


@njit(cache=True, inline="always")
def tlb_access_pair(s: np.ndarray, shadow: np.ndarray, page: np.int64,
                    folio_order: np.int64) -> np.int64:
    """``tlb_access`` on the modelled TLB and on its 4K-only shadow; returns the first's.
    (Inlined into the caller, as tlb_access.)"""
    tlb_access(shadow, page, 0)
    return tlb_access(s, page, folio_order)


@njit(cache=True)
def tlb_flush_all(tlb: np.ndarray) -> None:
    """Drop every entry (a full flush)."""
    s = _state(tlb)
    _reset(s)
    s[H_FLUSH_ALL] += 1


@njit(cache=True, inline="always")
def _covers(key: np.int64, first: np.int64, last: np.int64) -> bool:
    """Whether the entry ``key`` translates any page of [first, last]."""
    sh = key & 63
    lo = (key >> 6) << sh
    return lo <= last and lo + (np.int64(1) << sh) > first


@njit(cache=True)
def _flush_range(s, first: np.int64, npages: np.int64) -> None:
    s[H_FLUSH_RANGES] += 1
    last = first + npages - 1
    dropped = np.int64(0)
    # the keys the range can have: one per entry size and entry-sized block it touches
    cs, pmd = s[H_CSHIFT], s[H_PMD]
    nshifts = 1 if cs >= _NEVER else 3      # entry sizes: 4K, then coalesced and PMD
    nkeys = np.int64(0)
    for k in range(nshifts):
        sh = np.int64(0) if k == 0 else (cs if k == 1 else pmd)
        nkeys += (last >> sh) - (first >> sh) + 1
    # L1: look each key up for a small range, else check every slot
    n = s[H_L1_N]
    if 4 * nkeys <= n:
        for k in range(nshifts):
            sh = np.int64(0) if k == 0 else (cs if k == 1 else pmd)
            for v in range(first >> sh, (last >> sh) + 1):
                slot, _ = _hash_find(s, (v << 6) | sh)
                if slot >= 0:
                    _l1_remove(s, slot)
                    dropped += 1
    else:
        ot = s[H_OFF_TAG]
        for slot in range(n):
            key = s[ot + slot]
            if key >= 0 and _covers(key, first, last):
                _l1_remove(s, slot)
                dropped += 1
    # L2: search the set of each key for a small range, else check every way
    sets, ways, o2 = s[H_L2_SETS], s[H_L2_WAYS], s[H_OFF_L2]
    if nkeys <= sets:
        for k in range(nshifts):
            sh = np.int64(0) if k == 0 else (cs if k == 1 else pmd)
            for v in range(first >> sh, (last >> sh) + 1):
                base = o2 + (v & (sets - 1)) * ways
                key = (v << 6) | sh
                for j in range(base, base + ways):
                    t = s[j]
                    if t < 0:
                        break
                    if t == key:            # close the gap: valid ways stay first
                        while j + 1 < base + ways and s[j + 1] >= 0:
                            s[j] = s[j + 1]
                            j += 1
                        s[j] = _EMPTY
                        dropped += 1
                        break
    else:
        for base in range(o2, o2 + sets * ways, ways):
            out = base
            for j in range(base, base + ways):
                t = s[j]
                if t < 0:
                    break
                if _covers(t, first, last):
                    dropped += 1
                else:
                    s[out] = t
                    out += 1
            for j in range(out, base + ways):
                if s[j] < 0:
                    break
                s[j] = _EMPTY
    s[H_INVALIDATED] += dropped


@njit(cache=True)
def tlb_flush_range(tlb: np.ndarray, first_page: np.int64, npages: np.int64) -> None:
    """Drop the entries covering any page of [first_page, first_page + npages) (an unmap)."""
    s = _state(tlb)
    if s[H_ARCH] == 3 or npages <= 0:
        return
    if s[H_CEIL] > 0 and npages > s[H_CEIL]:
        _reset(s)
        s[H_FLUSH_ALL] += 1
        return
    _flush_range(s, first_page, npages)


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
