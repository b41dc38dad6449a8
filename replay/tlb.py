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

The model is C (replay/mm/tlb.c); ``make_tlb_state`` makes one on its own (the
engine's TLBs live inside each replay's model). Left out:
instruction TLB, page-walk caches (walks cost ``walk_cycles`` flat), skewed
L2 indexing (sets are a power of two; where a real L2 is skewed the ways are
rounded), ASIDs (dense page ids already separate address spaces) and
speculative fills.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from replay import _mm
from replay.errors import SettingsError

ARCHES = ("x86", "arm64", "4k", "none")
ARCH_CODE = {name: i for i, name in enumerate(ARCHES)}
HIT_L1, HIT_L2, WALK = 0, 1, 2
PMD_ORDER = 9
CONTPTE_ORDER = 4                      # 16 x 4 KiB = 64 KiB on arm64 with 4K pages
_NEVER = 62                            # an order no folio reaches

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


def c_args(config: TLBConfig) -> tuple:
    """The configuration as replay._mm.TLB (and the model) take it."""
    config.validate()
    return (ARCH_CODE[config.arch], config.l1_entries, config.l2_entries, config.l2_ways,
            config.coalesce_pages, config.l2_hit_cycles, config.walk_cycles,
            config.flush_ceiling_pages)


def make_tlb_state(config: TLBConfig) -> _mm.TLB:
    """A fresh (empty) TLB for ``tlb_access`` and friends."""
    return _mm.TLB(*c_args(config))


def tlb_access(tlb: _mm.TLB, page: int, folio_order: int) -> int:
    """Translate ``page`` (dense id) mapped by a folio of ``folio_order``: 0 L1 hit, 1 L2, 2 walk.

    L1 is fully associative LRU, L2 set-associative LRU; an L2 hit refills L1, a walk
    L2 and L1."""
    return tlb.access(int(page), int(folio_order))


def tlb_access_pair(tlb: _mm.TLB, shadow: _mm.TLB, page: int, folio_order: int) -> int:
    """``tlb_access`` on the modelled TLB and on its 4K-only shadow; returns the first's."""
    shadow.access(int(page), 0)
    return tlb.access(int(page), int(folio_order))


def tlb_access_many(tlb: _mm.TLB, pages: np.ndarray, orders: np.ndarray) -> None:
    """``tlb_access`` for arrays of pages and folio orders (int64), in one call."""
    tlb.access_many(np.ascontiguousarray(pages, np.int64), np.ascontiguousarray(orders, np.int64))


def tlb_flush_all(tlb: _mm.TLB) -> None:
    """Drop every entry (a full flush)."""
    tlb.flush_all()


def tlb_flush_range(tlb: _mm.TLB, first_page: int, npages: int) -> None:
    """Drop the entries covering any page of [first_page, first_page + npages) (an unmap)."""
    tlb.flush_range(int(first_page), int(npages))


def tlb_cycles(tlb: _mm.TLB) -> int:
    """Extra cycles spent on translation: L2 hits and page walks, at the configured costs."""
    return tlb.cycles()


def counters_of(raw: dict, cycles: int) -> dict:
    """Counters as plain data (accesses = l1_hits + l2_hits + walks)."""
    out = {name: int(raw[name]) for name in COUNTER_NAMES}
    out["accesses"] = out["l1_hits"] + out["l2_hits"] + out["walks"]
    out["cycles"] = int(cycles)
    return out


def tlb_counters(tlb: _mm.TLB) -> dict:
    """Counters as plain data (accesses = l1_hits + l2_hits + walks)."""
    return counters_of(tlb.counters(), tlb.cycles())


def tlb_summary(tlb: _mm.TLB, shadow: _mm.TLB | None = None) -> dict:
    """Counters of a TLB and, with its 4K-only shadow, the walks and cycles saved."""
    return summary_of(tlb_counters(tlb), None if shadow is None else tlb_counters(shadow))


def summary_of(out: dict, base: dict | None) -> dict:
    """``tlb_summary`` from counters already taken (``counters_of``)."""
    out = dict(out)
    if base is not None:
        out["shadow_4k"] = base
        out["walks_saved"] = base["walks"] - out["walks"]
        out["cycles_saved"] = base["cycles"] - out["cycles"]
    return out
