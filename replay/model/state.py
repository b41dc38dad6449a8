"""The model's state: flat numpy arrays the compiled loop runs over.

Pages are dense page ids (rank of the 2 MiB block * 512 + offset, so folio
alignment is kept); folios are named by their head page. Every touched page is
in exactly one place (``pstate``): resident (mapped), in the swap cache
(unmapped, e.g. read ahead), in zswap, on the swap device, in the zeromap,
mapped to the shared zero page, or freed.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

# ---- page states (pstate)
P_NONE = 0        # never touched: pte_none
P_MAPPED = 1      # resident, mapped by a PTE, part of folio head[p]
P_SWAPCACHE = 2   # resident in the swap cache, not mapped (readahead)
P_ZSWAP = 3       # swapped out, stored in zswap
P_DEVICE = 4      # swapped out, on the swap device (or zram)
P_ZEROMAP = 5     # swapped out as part of a zero-filled folio: swap_zeromap bit
P_ZEROPAGE = 6    # mapped to the shared zero page (first read, never written)
P_FREED = 7       # MADV_DONTNEED / munmap: pte_none again
NR_PSTATES = 8
PSTATE_NAMES = ("none", "mapped", "swapcache", "zswap", "device", "zeromap", "zeropage", "freed")

# ---- folio flags (fflags, indexed by head page)
F_ACTIVE = 1       # on the active anon LRU
F_REFERENCED = 2   # PG_referenced
F_DIRTY = 4        # PG_dirty (or a dirty PTE)
F_WORKINGSET = 8   # PG_workingset
F_SWAPCACHE = 16   # folio holds swap slots (folio_test_swapcache)
F_LRU = 32         # on an LRU list
F_READAHEAD = 64   # PG_readahead: brought in by readahead, not yet hit
F_PARTIAL = 128    # partially unmapped: on the deferred split queue

# ---- scalars (S)
S_USAGE = 0            # memcg page_counter usage, pages (anon + stock; + zswap pool in v2)
S_STOCK = 1            # per-CPU charge stock, pages
S_AGE = 2              # lruvec->nonresident_age
S_NR_INACTIVE = 3      # pages on the inactive anon LRU
S_NR_ACTIVE = 4        # pages on the active anon LRU
S_POOL_BYTES = 5       # zswap pool bytes
S_POOL_PAGES_CHARGED = 6   # pool pages charged to the memcg (v2)
S_POOL_FULL = 7        # zswap_pool_reached_full
S_SWAP_USED = 8        # swap slots in use
S_RA_HITS = 9          # swapin_readahead_hits
S_RA_PREV_OFFSET = 10  # prev_offset (cluster readahead) / previous fault page (VMA)
S_RA_PREV_WIN = 11     # last readahead window
S_RESIDENT = 12        # pages resident (mapped + swap cache)
S_PEAK_RESIDENT = 13
S_PEAK_POOL_BYTES = 14
S_CUR_CLUSTER0 = 16    # 16..25: current swap cluster per order (-1 none)
S_FREE_CLUSTER_SCAN = 26
S_LAST_FAULT_PAGE = 27
S_ACCESS_INDEX = 28    # accesses processed so far
S_OOM = 29             # set when the memcg could not make room (an OOM kill)
S_ZS_COUNT = 30        # zswap entries (stored pages)
S_REFAULT_SNAP = 31    # refaults seen at the end of the last reclaim (snapshot_refaults)
S_RA_PREV_PAGE = 32    # VMA readahead: previous fault page
S_RA_VMA_WIN = 33      # VMA readahead: previous window
S_SW_SLOTS = 34        # offset in G of the swap slots' owner pages (-1: free)
S_SW_CLUSTERS = 35     # offset in G of the clusters: (order, free, next) each
S_SW_TREES = 36        # offset in G of the cluster search trees (replay.model.swapfile)
S_SW_LEAVES = 37       # leaves per tree (clusters rounded up to a power of two)
S_ZS_DISK_SWAPINS = 38  # zswap_lruvec_state.nr_disk_swapins (the shrinker's protection)
S_ZS_DEFERRED = 39     # the zswap shrinker's nr_deferred (do_shrink_slab)
NR_SCALARS = 40

# ---- global counters (C): /proc/vmstat names
COUNTER_NAMES = (
    "pgfault", "pgmajfault", "pswpin", "pswpout", "zswpin", "zswpout", "zswpwb",
    "swpin_zero", "swpout_zero", "thp_swpout", "thp_swpout_fallback",
    "workingset_refault_anon", "workingset_activate_anon", "workingset_restore_anon",
    "pgscan", "pgsteal", "pgactivate", "pgdeactivate", "pgrotated",
    "swap_ra", "swap_ra_hit", "thp_split_page", "thp_deferred_split_page",
    "zswap_reject_pool_limit", "zswap_reject_compress_poor", "oom_kill",
    "pgfree_swapcache",
)
C = {n: i for i, n in enumerate(COUNTER_NAMES)}
NR_COUNTERS = len(COUNTER_NAMES)
(C_PGFAULT, C_PGMAJFAULT, C_PSWPIN, C_PSWPOUT, C_ZSWPIN, C_ZSWPOUT, C_ZSWPWB,
 C_SWPIN_ZERO, C_SWPOUT_ZERO, C_THP_SWPOUT, C_THP_SWPOUT_FALLBACK,
 C_WS_REFAULT, C_WS_ACTIVATE, C_WS_RESTORE, C_PGSCAN, C_PGSTEAL, C_PGACTIVATE,
 C_PGDEACTIVATE, C_PGROTATED, C_SWAP_RA, C_SWAP_RA_HIT, C_THP_SPLIT_PAGE,
 C_THP_DEFERRED_SPLIT, C_ZSWAP_REJECT_POOL, C_ZSWAP_REJECT_POOR, C_OOM_KILL,
 C_PGFREE_SWAPCACHE) = range(NR_COUNTERS)

# derived counters (D): not the kernel's, named in results["derived"]
DERIVED_NAMES = (
    "swapin_pages_unused_reclaimed",  # swapped in (fault or readahead) and reclaimed unused
    "swapin_pages",                    # pages brought in by swap-in, any path
    "swapin_pages_used",               # of those, accessed before reclaim
    "readahead_pages",
    "large_swapin_hybrid",             # large folios loaded from zswap and device together
    "swapin_race_fallback",            # range changed between the check and the load
    "charge_guard_refusals",
    "zero_page_maps",
    "reclaim_rounds",
)
D = {n: i for i, n in enumerate(DERIVED_NAMES)}
NR_DERIVED = len(DERIVED_NAMES)
(D_UNUSED_RECLAIMED, D_SWAPIN_PAGES, D_SWAPIN_USED, D_RA_PAGES, D_HYBRID, D_RACE,
 D_GUARD, D_ZERO_PAGE_MAPS, D_RECLAIM_ROUNDS) = range(NR_DERIVED)

# ---- per-size stats (PS[order, stat]): hugepages-<N>kB/stats/ names
PER_SIZE_NAMES = (
    "anon_fault_alloc", "anon_fault_fallback", "anon_fault_fallback_charge",
    "swpin", "swpin_fallback", "swpin_fallback_charge", "swpout", "swpout_fallback",
    "zswpout", "split", "split_deferred",
)
(PS_ANON_FAULT_ALLOC, PS_ANON_FAULT_FALLBACK, PS_ANON_FAULT_FALLBACK_CHARGE, PS_SWPIN,
 PS_SWPIN_FALLBACK, PS_SWPIN_FALLBACK_CHARGE, PS_SWPOUT, PS_SWPOUT_FALLBACK, PS_ZSWPOUT,
 PS_SPLIT, PS_SPLIT_DEFERRED) = range(len(PER_SIZE_NAMES))
MAX_ORDER = 10   # orders 0..9 tracked (PMD order 9 = 2M)
PMD_ORDER = 9

# ---- parameters (P)
(P_LIMIT_PAGES, P_ORDERS_MASK, P_BACKEND, P_POOL_LIMIT_BYTES, P_ACCEPT_BYTES, P_SHRINKER,
 P_ZSWAP_WB, P_ZSWAP_MAX_BYTES, P_SWAP_SLOTS, P_PAGE_CLUSTER, P_ROTATIONAL, P_EXACT_LRU,
 P_MEMCG_V2, P_FIRST_READ_ALLOC, P_CHARGE_GUARD, P_ZSWAP_EVER, P_SWAP_FULL_HALF,
 P_THP_ALWAYS, P_NR_PAGES, P_STOCK, P_SYNC_IO, P_OOM_KILL, P_VIEW) = range(23)
NR_PARAMS = 24
BACKEND_ZSWAP, BACKEND_ZRAM, BACKEND_DISK = 0, 1, 2

CLUSTER_PAGES = 512   # SWAPFILE_CLUSTER
MEMCG_CHARGE_BATCH = 64
SWAP_CLUSTER_MAX = 32
MAX_RECLAIM_RETRIES = 16

# ---- layout of the flat int64 array G: scalars, parameters, counters, derived, per-size
S_BASE = 0
P_BASE = 64
C_BASE = 128
D_BASE = 192
PS_BASE = 256
PS_STRIDE = 16
# T: simulated time, compression unit and TLB bookkeeping (replay/model/costs_account.py
# names its slots; all zero = not accounted, as in a state made here)
T_BASE = PS_BASE + MAX_ORDER * PS_STRIDE
T_SIZE = 64
G_SIZE = T_BASE + T_SIZE

# Per-page record (pages are dense ids; folio fields are read at the folio's head page;
# entries N and N+1 are the LRU sentinels, N the zswap LRU sentinel).
PAGE_DTYPE = np.dtype([
    ("pstate", np.uint8), ("young", np.uint8), ("zero", np.uint8), ("hint", np.uint8),
    ("used", np.uint8), ("backing", np.uint8), ("fflags", np.uint8), ("forder", np.int8),
    ("zs_ref", np.uint8),
    ("head", np.int32), ("slot", np.int32), ("vma_lo", np.int32), ("vma_hi", np.int32),
    ("comp", np.int32), ("lru_prev", np.int32), ("lru_next", np.int32),
    ("zs_prev", np.int32), ("zs_next", np.int32),
    ("shadow", np.int64),
    # costs (replay/model/costs_account.py): compress/decompress ns of the page alone, its
    # own stored size, its share of its compression unit's size, the whole unit's
    # compress/decompress ns, and whether it is stored as part of a unit now
    ("c_ns", np.int32), ("d_ns", np.int32), ("comp1", np.int32), ("ucomp", np.int32),
    ("uc_ns", np.int32), ("ud_ns", np.int32), ("inunit", np.uint8),
], align=True)
CL_ORDER, CL_FREE, CL_NEXT = range(3)     # a cluster's fields in G

# The state handed to the compiled code: two arrays, a record array per page and G (the
# scalars, parameters, counters and costs, then the swap device, then the TLB model).
# Few arguments keep numba's compile time down (a tuple of thirty arrays took minutes)
# and its calls cheap: a tuple is passed by value, each array costing ~8 ns per call.
ModelState = namedtuple("ModelState", ["pg", "G"])


def new_state(n_pages: int, n_slots: int, params: np.ndarray) -> ModelState:
    """Empty state for ``n_pages`` dense pages and a swap device of ``n_slots`` slots."""
    n = n_pages
    n_clusters = max(1, n_slots // CLUSTER_PAGES)
    n_slots = n_clusters * CLUSTER_PAGES
    leaves = 1
    while leaves < n_clusters:
        leaves <<= 1
    slots = G_SIZE
    clusters = slots + n_slots
    trees = clusters + 3 * n_clusters
    G = np.zeros(trees + MAX_ORDER * 2 * leaves, np.int64)
    G[P_BASE:P_BASE + len(params)] = params
    G[P_BASE + P_SWAP_SLOTS] = n_slots
    G[P_BASE + P_NR_PAGES] = n
    G[S_CUR_CLUSTER0:S_CUR_CLUSTER0 + MAX_ORDER] = -1
    G[S_RA_PREV_OFFSET] = -10
    G[S_LAST_FAULT_PAGE] = -10
    G[S_RA_PREV_WIN] = 1
    G[S_RA_PREV_PAGE] = -10
    G[S_RA_VMA_WIN] = 1
    G[S_SW_SLOTS], G[S_SW_CLUSTERS], G[S_SW_TREES], G[S_SW_LEAVES] = (
        slots, clusters, trees, leaves)
    G[slots:clusters] = -1
    cl = G[clusters:trees].reshape(n_clusters, 3)
    cl[:, CL_ORDER] = -1
    cl[:, CL_FREE] = CLUSTER_PAGES
    # max-trees over the clusters' free classes (replay.model.swapfile): tree 0 over every
    # cluster, tree k over the clusters serving order k (-1 elsewhere)
    G[trees:] = -1
    t0 = G[trees:trees + 2 * leaves]
    t0[leaves:leaves + n_clusters] = CLUSTER_PAGES
    for i in range(leaves - 1, 0, -1):
        t0[i] = max(t0[2 * i], t0[2 * i + 1])
    pg = np.zeros(n + 2, PAGE_DTYPE)
    pg["head"] = -1
    pg["slot"] = -1
    pg["shadow"] = -1
    pg["comp"] = 2048
    pg["lru_prev"][n] = pg["lru_next"][n] = n            # empty inactive list
    pg["lru_prev"][n + 1] = pg["lru_next"][n + 1] = n + 1
    pg["zs_prev"][n] = pg["zs_next"][n] = n              # empty zswap LRU
    return ModelState(pg=pg, G=G)


class StateView:
    """Numpy views of a ModelState under the field names, for Python-side code
    (results, invariants, tests); the compiled code indexes the arrays directly."""

    def __init__(self, st: ModelState) -> None:
        self.state = st
        n = int(st.G[P_BASE + P_NR_PAGES])
        self.n = n
        for name in PAGE_DTYPE.names:
            full = st.pg[name]
            setattr(self, name, full if name.startswith(("lru_", "zs_prev", "zs_next"))
                    else full[:n])
        self.S = st.G[S_BASE:S_BASE + NR_SCALARS]
        self.P = st.G[P_BASE:P_BASE + NR_PARAMS]
        self.C = st.G[C_BASE:C_BASE + NR_COUNTERS]
        self.D = st.G[D_BASE:D_BASE + NR_DERIVED]
        self.PS = st.G[PS_BASE:PS_BASE + MAX_ORDER * PS_STRIDE].reshape(MAX_ORDER, PS_STRIDE)
        G = st.G
        n_slots = int(G[P_BASE + P_SWAP_SLOTS])
        slots, clusters, trees = (int(G[S_SW_SLOTS]), int(G[S_SW_CLUSTERS]),
                                  int(G[S_SW_TREES]))
        self.slot_owner = G[slots:slots + n_slots]
        cl = G[clusters:trees].reshape(-1, 3)
        self.cluster_order = cl[:, CL_ORDER]
        self.cluster_free = cl[:, CL_FREE]
        self.cluster_next = cl[:, CL_NEXT]
        self.cluster_trees = G[trees:trees + MAX_ORDER * 2 * int(G[S_SW_LEAVES])]
