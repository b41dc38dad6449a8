"""Swap slot allocation (mm/swapfile.c): per-order clusters of SWAPFILE_CLUSTER slots.

A large folio gets an aligned run of contiguous slots inside a cluster that
serves its order; order 0 may also use any cluster with free slots
(fragmented clusters). Allocation fails when no aligned run is free: the
caller splits the folio (``swpout_fallback``). Large orders are allocated only
on block devices (every backend modelled here is one).
"""

from numba import njit

from replay.model.state import (
    CLUSTER_PAGES,
    P_BASE,
    P_SWAP_SLOTS,
    S_CUR_CLUSTER0,
    S_FREE_CLUSTER_SCAN,
    S_SWAP_USED,
)


@njit(cache=True)
def _run_in_cluster(st, c, nr):
    """First free aligned run of nr slots in cluster c at or after its next hint, or -1."""
    base = c * CLUSTER_PAGES
    start = (st.cl[c].next // nr) * nr
    for k in range(2):
        lo = start if k == 0 else 0
        hi = CLUSTER_PAGES if k == 0 else start
        off = lo
        while off < hi:
            ok = True
            for i in range(nr):
                if st.sl[base + off + i] >= 0:
                    ok = False
                    break
            if ok:
                return base + off
            off += nr
    return -1


@njit(cache=True)
def _take(st, c, s, nr, first_page):
    for i in range(nr):
        st.sl[s + i] = first_page + i
    st.cl[c].free -= nr
    st.cl[c].next = (s - c * CLUSTER_PAGES + nr) % CLUSTER_PAGES
    st.G[S_SWAP_USED] += nr


@njit(cache=True)
def folio_alloc_swap(st, order, first_page):
    """folio_alloc_swap(): slots for a folio of this order; the first slot, or -1."""
    nr = 1 << order
    n_clusters = st.G[P_BASE + P_SWAP_SLOTS] // CLUSTER_PAGES
    cur = st.G[S_CUR_CLUSTER0 + order]
    if cur >= 0 and st.cl[cur].order == order and st.cl[cur].free >= nr:
        s = _run_in_cluster(st, cur, nr)
        if s >= 0:
            _take(st, cur, s, nr, first_page)
            return s
    # a free cluster becomes this order's current cluster
    start = st.G[S_FREE_CLUSTER_SCAN]
    for k in range(n_clusters):
        c = (start + k) % n_clusters
        if st.cl[c].free == CLUSTER_PAGES:
            st.cl[c].order = order
            st.cl[c].next = 0
            st.G[S_CUR_CLUSTER0 + order] = c
            st.G[S_FREE_CLUSTER_SCAN] = c
            _take(st, c, c * CLUSTER_PAGES, nr, first_page)
            return c * CLUSTER_PAGES
    # no free cluster: nonfull clusters of this order, then (order 0) fragmented ones
    for k in range(n_clusters):
        c = (start + k) % n_clusters
        if st.cl[c].free >= nr and (st.cl[c].order == order or order == 0):
            s = _run_in_cluster(st, c, nr)
            if s >= 0:
                st.G[S_CUR_CLUSTER0 + order] = c
                _take(st, c, s, nr, first_page)
                return s
    return -1


@njit(cache=True)
def swap_free_slot(st, s):
    """swap_entries_free() for one slot: the slot and its cluster count are released."""
    if s < 0 or st.sl[s] < 0:
        return
    st.sl[s] = -1
    c = s // CLUSTER_PAGES
    st.cl[c].free += 1
    st.G[S_SWAP_USED] -= 1
    if st.cl[c].free == CLUSTER_PAGES:
        st.cl[c].order = -1
        st.cl[c].next = 0
