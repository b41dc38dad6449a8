"""Swap slot allocation (mm/swapfile.c): per-order clusters of SWAPFILE_CLUSTER slots.

A large folio gets an aligned run of contiguous slots inside a cluster that
serves its order; order 0 may also use any cluster with free slots
(fragmented clusters). Allocation fails when no aligned run is free: the
caller splits the folio (``swpout_fallback``). Large orders are allocated only
on block devices (every backend modelled here is one).

Finding the next cluster with room is the kernel's list lookup (free_clusters,
nonfull_clusters[order], frag_clusters): here it is a search, in cluster order
from the last cluster taken, over max-trees of the clusters' free counts (one
over every cluster, one per order over the clusters serving it), so it costs
O(log clusters) however fragmented the device is.

The device lives in G (replay.model.state: the slot owners, a (order, free,
next) triple per cluster, the trees), so that the compiled functions pass one
array fewer.
"""

from replay._compiled import njit
from replay.model.state import (
    CL_FREE,
    CL_NEXT,
    CL_ORDER,
    CLUSTER_PAGES,
    P_BASE,
    P_SWAP_SLOTS,
    S_CUR_CLUSTER0,
    S_FREE_CLUSTER_SCAN,
    S_SW_CLUSTERS,
    S_SW_LEAVES,
    S_SW_SLOTS,
    S_SW_TREES,
    S_SWAP_USED,
)


@njit(cache=True, inline="always")
def swap_slot_owner(st, s):
    """The page holding slot s, or -1."""
    return st.G[st.G[S_SW_SLOTS] + s]


@njit(cache=True, inline="always")
def _cl(st, c, field):
    return st.G[st.G[S_SW_CLUSTERS] + 3 * c + field]


@njit(cache=True, inline="always")
def _cl_set(st, c, field, value):
    st.G[st.G[S_SW_CLUSTERS] + 3 * c + field] = value


@njit(cache=True, inline="always")
def free_class(free):
    """The largest power of two <= free (0 for a full cluster): a cluster's tree value."""
    if free <= 0:
        return 0
    c = 1
    while 2 * c <= free:
        c *= 2
    return c


@njit(cache=True, inline="always")
def _tree_set(st, tree, c, value):
    """Set cluster c's value in max-tree ``tree`` (0: every cluster, k: clusters of order k)."""
    leaves = st.G[S_SW_LEAVES]
    base = st.G[S_SW_TREES] + tree * 2 * leaves
    G = st.G
    i = leaves + c
    if G[base + i] == value:
        return
    G[base + i] = value
    i >>= 1
    while i >= 1:
        m = max(G[base + 2 * i], G[base + 2 * i + 1])
        if G[base + i] == m:
            break
        G[base + i] = m
        i >>= 1


@njit(cache=True)
def _tree_first(st, tree, lo, hi, need):
    """First cluster c in [lo, hi) whose value in ``tree`` is >= need, or -1."""
    if lo >= hi:
        return -1
    leaves = st.G[S_SW_LEAVES]
    base = st.G[S_SW_TREES] + tree * 2 * leaves
    G = st.G
    i = leaves + lo
    if G[base + i] < need:
        while True:
            while i & 1:
                i >>= 1
                if i <= 1:
                    return -1
            i += 1
            if G[base + i] >= need:
                break
        while i < leaves:
            i = 2 * i if G[base + 2 * i] >= need else 2 * i + 1
    c = i - leaves
    return c if c < hi else -1


@njit(cache=True, inline="always")
def cluster_changed(st, c, old_order):
    """Keep the trees in step after cluster c's free count or order changed."""
    o = _cl(st, c, CL_ORDER)
    free = free_class(_cl(st, c, CL_FREE))
    _tree_set(st, 0, c, free)
    if old_order != o and old_order >= 1:
        _tree_set(st, old_order, c, -1)
    if o >= 1:
        _tree_set(st, o, c, free)


@njit(cache=True)
def _run_in_cluster(st, c, nr):
    """First free aligned run of nr slots in cluster c at or after its next hint, or -1."""
    base = c * CLUSTER_PAGES
    owners = st.G[S_SW_SLOTS] + base
    G = st.G
    start = (_cl(st, c, CL_NEXT) // nr) * nr
    for k in range(2):
        lo = start if k == 0 else 0
        hi = CLUSTER_PAGES if k == 0 else start
        off = lo
        while off < hi:
            ok = True
            for i in range(nr):
                if G[owners + off + i] >= 0:
                    ok = False
                    break
            if ok:
                return base + off
            off += nr
    return -1


@njit(cache=True, inline="always")
def _take(st, c, s, nr, first_page, old_order):
    owners = st.G[S_SW_SLOTS]
    for i in range(nr):
        st.G[owners + s + i] = first_page + i
    _cl_set(st, c, CL_FREE, _cl(st, c, CL_FREE) - nr)
    _cl_set(st, c, CL_NEXT, (s - c * CLUSTER_PAGES + nr) % CLUSTER_PAGES)
    st.G[S_SWAP_USED] += nr
    cluster_changed(st, c, old_order)


@njit(cache=True)
def _first_from(st, tree, start, n_clusters, need):
    """The first cluster at or after ``start``, wrapping around, with value >= need."""
    c = _tree_first(st, tree, start, n_clusters, need)
    if c < 0:
        c = _tree_first(st, tree, 0, start, need)
    return c


@njit(cache=True)
def folio_alloc_swap(st, order, first_page):
    """folio_alloc_swap(): slots for a folio of this order; the first slot, or -1."""
    nr = 1 << order
    n_clusters = st.G[P_BASE + P_SWAP_SLOTS] // CLUSTER_PAGES
    cur = st.G[S_CUR_CLUSTER0 + order]
    if cur >= 0 and _cl(st, cur, CL_ORDER) == order and _cl(st, cur, CL_FREE) >= nr:
        s = _run_in_cluster(st, cur, nr)
        if s >= 0:
            _take(st, cur, s, nr, first_page, order)
            return s
    # a free cluster becomes this order's current cluster
    start = st.G[S_FREE_CLUSTER_SCAN]
    c = _first_from(st, 0, start, n_clusters, CLUSTER_PAGES)
    if c >= 0:
        old = _cl(st, c, CL_ORDER)
        _cl_set(st, c, CL_ORDER, order)
        _cl_set(st, c, CL_NEXT, 0)
        st.G[S_CUR_CLUSTER0 + order] = c
        st.G[S_FREE_CLUSTER_SCAN] = c
        _take(st, c, c * CLUSTER_PAGES, nr, first_page, old)
        return c * CLUSTER_PAGES
    # no free cluster: nonfull clusters of this order, then (order 0) fragmented ones,
    # in cluster order from the scan position
    for k in range(2):
        lo = start if k == 0 else 0
        hi = n_clusters if k == 0 else start
        while lo < hi:
            c = _tree_first(st, order, lo, hi, nr)
            if c < 0:
                break
            s = _run_in_cluster(st, c, nr)
            if s >= 0:
                st.G[S_CUR_CLUSTER0 + order] = c
                _take(st, c, s, nr, first_page, _cl(st, c, CL_ORDER))
                return s
            lo = c + 1
    return -1


@njit(cache=True, inline="always")
def swap_free_slot(st, s):
    """swap_entries_free() for one slot: the slot and its cluster count are released."""
    if s < 0:
        return
    at = st.G[S_SW_SLOTS] + s
    if st.G[at] < 0:
        return
    st.G[at] = -1
    c = s // CLUSTER_PAGES
    old = _cl(st, c, CL_ORDER)
    free = _cl(st, c, CL_FREE) + 1
    _cl_set(st, c, CL_FREE, free)
    st.G[S_SWAP_USED] -= 1
    if free == CLUSTER_PAGES:
        _cl_set(st, c, CL_ORDER, -1)
        _cl_set(st, c, CL_NEXT, 0)
    cluster_changed(st, c, old)
