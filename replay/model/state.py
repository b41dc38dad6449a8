"""Names of the model's counters, page states and records, from the C model (replay/mm).

The counters are declared once, in replay/mm/vmstat.h (as the kernel's enum
vm_event_item and enum mthp_stat_item); the tuples here are generated from
that declaration by the extension module. ``StateView`` gives tests and tools
numpy arrays of one replay's final state, indexed by dense page id.
"""

from __future__ import annotations

import numpy as np

from replay import _mm

COUNTER_NAMES: tuple[str, ...] = tuple(_mm.VM_EVENT_NAMES)    # /proc/vmstat names
PER_SIZE_NAMES: tuple[str, ...] = tuple(_mm.MTHP_STAT_NAMES)  # hugepages-<N>kB/stats/ names
DERIVED_NAMES: tuple[str, ...] = tuple(_mm.REPLAY_STAT_NAMES)  # the replay's own figures
C = {n: i for i, n in enumerate(COUNTER_NAMES)}
D = {n: i for i, n in enumerate(DERIVED_NAMES)}

MAX_ORDER = _mm.MAX_ORDER        # orders 0..9 are counted (PMD order 9 = 2M)
PMD_ORDER = 9
CLUSTER_PAGES = _mm.SWAPFILE_CLUSTER
CHUNK_PAGES = _mm.CHUNK_PAGES    # the model keeps records for 16-page chunks

# enum page_state (replay/mm/mm.h)
(P_NONE, P_MAPPED, P_SWAPCACHE, P_ZSWAP, P_DEVICE, P_ZEROMAP, P_ZEROPAGE, P_FREED) = range(8)
PSTATE_NAMES = ("none", "mapped", "swapcache", "zswap", "device", "zeromap", "zeropage",
                "freed")
# enum pageflags
F_ACTIVE, F_REFERENCED, F_DIRTY, F_WORKINGSET, F_SWAPCACHE, F_LRU, F_READAHEAD, F_PARTIAL = (
    1 << k for k in range(8))

# struct page, as numpy sees it
PAGE_DTYPE = np.dtype({
    "names": [f[0] for f in _mm.PAGE_RECORD_FIELDS],
    "formats": [f[2] for f in _mm.PAGE_RECORD_FIELDS],
    "offsets": [f[1] for f in _mm.PAGE_RECORD_FIELDS],
    "itemsize": _mm.PAGE_RECORD_SIZE,
})
CLUSTER_DTYPE = np.dtype([("order", "<i4"), ("free", "<i4"), ("next", "<i4")])


class StateView:
    """Numpy copies of one replay's final state (a ``replay._mm.Model``), per dense page id.

    Pages the replay could not reach have the default record (pte_none). The LRU lists
    are arrays of their pages, oldest first: ``lru_inactive``, ``lru_active`` (folio
    heads) and ``zswap_lru`` (pages in zswap)."""

    def __init__(self, model) -> None:
        self.model = model
        n = int(model.nr_pages)
        self.n = n
        arrays = model.arrays()
        records = np.frombuffer(arrays["pages"], PAGE_DTYPE)
        ids = np.asarray(model.page_ids, np.int64)
        dense = np.zeros(n, PAGE_DTYPE)
        dense["head"] = dense["slot"] = dense["shadow"] = -1
        dense["lru_pos"] = dense["zs_pos"] = -1
        dense[ids] = records[:len(ids)]
        for name in PAGE_DTYPE.names:
            setattr(self, name, dense[name])
        self.lru_inactive, self.lru_active, self.zswap_lru = (
            np.frombuffer(model.lru_order(k), np.int32).astype(np.int64) for k in range(3))
        block = np.arange(n, dtype=np.int64) & ~511    # VMA bounds as dense ids
        self.vma_lo = np.where(self.vma_end > 0, block + self.vma_start, 0)
        self.vma_hi = np.where(self.vma_end > 0, block + self.vma_end, 0)
        self.slot_owner = np.frombuffer(arrays["slot_owner"], np.int32).astype(np.int64) - 1
        cl = np.frombuffer(arrays["clusters"], CLUSTER_DTYPE)
        self.cluster_order = cl["order"].astype(np.int64)
        self.cluster_free = cl["free"].astype(np.int64)
        self.cluster_next = cl["next"].astype(np.int64)
        self.cluster_trees = np.frombuffer(arrays["trees"], np.int16).astype(np.int64)
        c = model.counters()
        self.C = np.array([c["vm_events"][k] for k in COUNTER_NAMES], np.int64)
        self.D = np.array([c["replay_stats"][k] for k in DERIVED_NAMES], np.int64)
        self.PS = np.array(c["mthp_stats"], np.int64)

