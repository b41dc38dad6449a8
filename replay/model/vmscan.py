"""Reclaim (mm/vmscan.c): classic active/inactive anon LRU at folio granularity.

Modelled: folio_check_references() (a young PTE keeps a folio, referenced again
at the next look it is activated; references count per mapping, not per PTE), shrink_active_list() deactivation (setting
PG_workingset), shrink_inactive_list() in SWAP_CLUSTER_MAX batches,
shrink_folio_list() swap-out of whole folios with split on slot-allocation
failure, partially mapped folios split before swap-out, shadow entries
(workingset_eviction), refault-driven deactivation (snapshot_refaults).
Left out: the priority loop's proportional scan sizes (batches of 32 pages are
scanned until the target is met), writeback completion (I/O is taken as
finished at once), file pages (the modelled memcg has none), MGLRU.
"""

import numpy as np

from replay._compiled import njit
from replay.model.costs_account import (
    acct_add_to_swap,
    acct_reclaim_scan,
    acct_unmap_folio,
    tlb_unmap,
)
from replay.model.mm_inline import folio_nr_pages, lru_tail, lruvec_add_folio, lruvec_del_folio
from replay.model.page_counter import page_counter_uncharge
from replay.model.page_io import free_swap_slot_of, swap_writeout
from replay.model.state import (
    C_BASE,
    C_PGACTIVATE,
    C_PGDEACTIVATE,
    C_PGSCAN,
    C_PGSTEAL,
    C_THP_SPLIT_PAGE,
    C_THP_SWPOUT_FALLBACK,
    C_WS_ACTIVATE,
    D_BASE,
    D_RECLAIM_ROUNDS,
    D_UNUSED_RECLAIMED,
    F_ACTIVE,
    F_DIRTY,
    F_LRU,
    F_PARTIAL,
    F_READAHEAD,
    F_REFERENCED,
    F_SWAPCACHE,
    F_WORKINGSET,
    P_BASE,
    P_DEVICE,
    P_FREED,
    P_MAPPED,
    P_SWAP_SLOTS,
    P_SWAPCACHE,
    PMD_ORDER,
    PS_BASE,
    PS_SPLIT,
    PS_STRIDE,
    PS_SWPOUT_FALLBACK,
    S_AGE,
    S_NR_ACTIVE,
    S_NR_INACTIVE,
    S_REFAULT_SNAP,
    S_SWAP_USED,
    SWAP_CLUSTER_MAX,
)
from replay.model.swapfile import folio_alloc_swap
from replay.model.workingset import workingset_eviction
from replay.model.zswap import shrink_slab

DEF_PRIORITY = 12

FOLIOREF_RECLAIM = 0
FOLIOREF_KEEP = 1
FOLIOREF_ACTIVATE = 2


@njit(cache=True, inline="always")
def folio_referenced(st, h):
    """folio_referenced(): clear the young PTEs mapping the folio; the number of
    mappings that had one (1 here: one address space, no fork), not of PTEs."""
    young = 0
    for i in range(folio_nr_pages(st, h)):
        p = h + i
        if st.pg[p].young:
            st.pg[p].young = 0
            if st.pg[p].pstate == P_MAPPED:
                young = 1
    return young


@njit(cache=True, inline="always")
def folio_check_references(st, h):
    """folio_check_references() for an anon folio: referenced by one mapping, it is kept
    (PG_referenced set) and activated when still referenced at the next look."""
    refs = folio_referenced(st, h)
    was_referenced = st.pg[h].fflags & F_REFERENCED
    st.pg[h].fflags &= ~F_REFERENCED
    if refs:
        st.pg[h].fflags |= F_REFERENCED
        if was_referenced or refs > 1:
            return FOLIOREF_ACTIVATE
        return FOLIOREF_KEEP
    return FOLIOREF_RECLAIM


@njit(cache=True)
def split_folio(st, h):
    """split_folio(): order-0 folios in place; unmapped (freed) subpages are freed.
    The folio must be off the LRU; returns the number of pages freed."""
    order = st.pg[h].forder
    nr = 1 << order
    flags = st.pg[h].fflags & (F_ACTIVE | F_REFERENCED | F_DIRTY | F_WORKINGSET | F_SWAPCACHE
                            | F_READAHEAD)
    freed = 0
    tlb_unmap(st, h, nr)                          # remapped as order-0 folios
    st.G[PS_BASE + (order) * PS_STRIDE + PS_SPLIT] += 1
    if order == PMD_ORDER:
        st.G[C_BASE + C_THP_SPLIT_PAGE] += 1
    for i in range(nr):
        p = h + i
        st.pg[p].forder = 0
        if st.pg[p].pstate == P_FREED:
            if st.pg[p].slot >= 0:
                # a zapped page of a folio in the swap cache: its swap entry went too
                free_swap_slot_of(st, p)
            st.pg[p].head = -1
            st.pg[p].fflags = 0
            freed += 1
        else:
            st.pg[p].head = p
            st.pg[p].fflags = flags
    if freed:
        page_counter_uncharge(st, freed)
    return freed


@njit(cache=True, inline="always")
def _free_folio(st, h, nr):
    for i in range(nr):
        p = h + i
        st.pg[p].head = -1
        st.pg[p].young = 0
        if st.pg[p].used == 1:
            st.G[D_BASE + D_UNUSED_RECLAIMED] += 1
        st.pg[p].used = 0
    st.pg[h].fflags = 0
    st.pg[h].forder = 0
    page_counter_uncharge(st, nr)


@njit(cache=True)
def _swap_out_folio(st, h):
    """add_to_swap() + try_to_unmap() + pageout() + __remove_mapping() for an isolated folio.

    Returns the pages reclaimed, or -1 when a large folio found no aligned slot run
    (the caller splits it). An order-0 folio with no free slot is activated.
    """
    order = st.pg[h].forder
    nr = 1 << order
    if not st.pg[h].fflags & F_SWAPCACHE:
        s = folio_alloc_swap(st, order, h)
        if s < 0:
            if order > 0:
                return -1
            st.pg[h].fflags |= F_ACTIVE          # swap full: activate_locked
            lruvec_add_folio(st, h)
            st.G[S_AGE] += nr                    # move_folios_to_lru() ages the lruvec
            return 0
        for i in range(nr):
            st.pg[h + i].slot = s + i
        st.pg[h].fflags |= F_SWAPCACHE | F_DIRTY     # add_to_swap() dirties the folio
        acct_add_to_swap(st)
    if st.pg[h].fflags & F_DIRTY:
        if not swap_writeout(st, h, order):
            # pageout() -> AOP_WRITEPAGE_ACTIVATE (memory.zswap.writeback=0 and zswap
            # refused it): try_to_unmap() already ran, so the folio stays in the swap
            # cache, unmapped and dirty, and activate_locked puts it on the active list
            acct_unmap_folio(st, h, nr)
            for i in range(nr):
                if st.pg[h + i].pstate == P_MAPPED:
                    st.pg[h + i].pstate = P_SWAPCACHE
                st.pg[h + i].backing = 0
            st.pg[h].fflags |= F_ACTIVE
            st.G[C_BASE + C_PGACTIVATE] += nr
            lruvec_add_folio(st, h)
            st.G[S_AGE] += nr                    # move_folios_to_lru() ages the lruvec
            return 0
    else:
        for i in range(nr):                       # clean swap cache folio: no I/O
            p = h + i
            st.pg[p].pstate = st.pg[p].backing if st.pg[p].backing else P_DEVICE
    acct_unmap_folio(st, h, nr)
    shadow = workingset_eviction(st, h, nr)
    for i in range(nr):
        st.pg[h + i].shadow = shadow
        st.pg[h + i].backing = 0
    _free_folio(st, h, nr)
    return nr


@njit(cache=True)
def _swap_out_split(st, h, nr):
    got = 0
    for i in range(nr):
        if st.pg[h + i].head == h + i:
            r = _swap_out_folio(st, h + i)
            if r > 0:
                got += r
    return got


@njit(cache=True)
def shrink_folio(st, h, ignore_references):
    """shrink_folio_list() for one isolated folio; returns the pages reclaimed.

    Kept or activated folios go back on their list. A partially mapped large folio
    is split first (its unmapped pages freed without I/O); a large folio with no
    aligned slot run is split (swpout_fallback) and its pages swapped out one by one.
    """
    order = st.pg[h].forder
    nr = 1 << order
    if not ignore_references:
        ref = folio_check_references(st, h)
        if ref == FOLIOREF_ACTIVATE:
            st.pg[h].fflags |= F_ACTIVE
            st.G[C_BASE + C_PGACTIVATE] += nr
            lruvec_add_folio(st, h)
            st.G[S_AGE] += nr          # move_folios_to_lru(): workingset_age_nonresident()
            return 0
        if ref == FOLIOREF_KEEP:
            lruvec_add_folio(st, h)
            return 0
    if order > 0 and st.pg[h].fflags & F_PARTIAL:
        split_folio(st, h)
        return _swap_out_split(st, h, nr)
    got = _swap_out_folio(st, h)
    if got >= 0:
        return got
    st.G[PS_BASE + (order) * PS_STRIDE + PS_SWPOUT_FALLBACK] += 1
    if order == PMD_ORDER:
        st.G[C_BASE + C_THP_SWPOUT_FALLBACK] += 1
    split_folio(st, h)
    return _swap_out_split(st, h, nr)


@njit(cache=True)
def shrink_inactive_list(st, nr_to_scan):
    """shrink_inactive_list(): isolate up to nr_to_scan pages from the tail and reclaim.

    The isolated folios are chained through their (now unused) LRU links, in the order
    they were taken, as the kernel's private folio_list."""
    k = 0
    scanned = 0
    first = -1
    last = -1
    while scanned < nr_to_scan and k < nr_to_scan:
        h = lru_tail(st, False)
        if h < 0:
            break
        lruvec_del_folio(st, h)
        if last < 0:
            first = h
        else:
            st.pg[last].lru_next = h
        st.pg[h].lru_next = -1
        last = h
        k += 1
        scanned += folio_nr_pages(st, h)
    acct_reclaim_scan(st, k)
    st.G[C_BASE + C_PGSCAN] += scanned
    reclaimed = 0
    h = first
    while h >= 0:
        nxt = st.pg[h].lru_next           # shrink_folio() may put h back on a list
        reclaimed += shrink_folio(st, h, 0)
        h = nxt
    st.G[C_BASE + C_PGSTEAL] += reclaimed
    return reclaimed


@njit(cache=True)
def shrink_active_list(st, nr_to_scan):
    """shrink_active_list(): deactivate folios from the active tail (young bits cleared)."""
    scanned = 0
    while scanned < nr_to_scan:
        h = lru_tail(st, True)
        if h < 0:
            break
        lruvec_del_folio(st, h)
        acct_reclaim_scan(st, 1)
        folio_referenced(st, h)
        st.pg[h].fflags &= ~F_ACTIVE
        st.pg[h].fflags |= F_WORKINGSET
        lruvec_add_folio(st, h)
        nr = folio_nr_pages(st, h)
        st.G[C_BASE + C_PGDEACTIVATE] += nr
        scanned += nr


@njit(cache=True)
def inactive_is_low(st):
    """inactive_is_low() for anon: inactive * ratio < active, ratio = sqrt(10 * GiB) or 1."""
    inactive = st.G[S_NR_INACTIVE]
    active = st.G[S_NR_ACTIVE]
    gb = (inactive + active) >> 18
    ratio = int(np.sqrt(10.0 * gb)) if gb else 1
    return inactive * ratio < active


@njit(cache=True)
def try_to_free_mem_cgroup_pages(st, nr_pages):
    """try_to_free_mem_cgroup_pages() -> shrink_lruvec(): reclaim at least
    max(nr_pages, SWAP_CLUSTER_MAX), raising the priority from DEF_PRIORITY.

    At each priority both anon lists are scanned by ``size >> priority`` in
    batches of SWAP_CLUSTER_MAX, inactive first; the active list is deactivated
    only when refault activations happened since the last reclaim or the inactive
    list is low (sc->may_deactivate), and once more after each pass when the
    inactive list is low. When nothing could be reclaimed because deactivation
    was skipped, the loop runs again with force_deactivate. After the lists, each
    priority runs the zswap shrinker (shrink_slab(), a no-op unless enabled). Left
    out: the
    swappiness/cost fraction of get_scan_count() (no file pages here, both lists
    are anon), memory.low protection.
    """
    target = max(nr_pages, SWAP_CLUSTER_MAX)
    st.G[D_BASE + D_RECLAIM_ROUNDS] += 1
    if st.G[S_SWAP_USED] >= st.G[P_BASE + P_SWAP_SLOTS]:
        return 0      # get_scan_count(): no free swap slot, !can_reclaim_anon_pages()
    may_deactivate = (st.G[C_BASE + C_WS_ACTIVATE] != st.G[S_REFAULT_SNAP]
                      or inactive_is_low(st))
    reclaimed = 0
    for attempt in range(2):
        skipped_deactivate = False
        for priority in range(DEF_PRIORITY, -1, -1):
            nr_inactive = st.G[S_NR_INACTIVE] >> priority
            nr_active = st.G[S_NR_ACTIVE] >> priority
            while nr_inactive > 0 or nr_active > 0:
                if nr_inactive > 0:
                    n = min(nr_inactive, SWAP_CLUSTER_MAX)
                    nr_inactive -= n
                    reclaimed += shrink_inactive_list(st, n)
                if nr_active > 0:
                    n = min(nr_active, SWAP_CLUSTER_MAX)
                    nr_active -= n
                    if may_deactivate:
                        shrink_active_list(st, n)
                    else:
                        skipped_deactivate = True
                if reclaimed >= target:
                    break
            if inactive_is_low(st):
                shrink_active_list(st, SWAP_CLUSTER_MAX)
            shrink_slab(st, priority)   # shrink_node_memcgs(): after the lruvec
            if reclaimed >= target:
                break
        if reclaimed >= target or not skipped_deactivate:
            break
        may_deactivate = True          # sc->force_deactivate
    st.G[S_REFAULT_SNAP] = st.G[C_BASE + C_WS_ACTIVATE]   # snapshot_refaults()
    return reclaimed


@njit(cache=True)
def exact_lru_evict(st, nr_pages):
    """Cache-simulator reclaim (--reclaim exact-lru): evict least recently used folios,
    one at a time, with no second chance. Not the kernel's; for cross-checks."""
    reclaimed = 0
    while reclaimed < nr_pages:
        h = lru_tail(st, False)
        if h < 0:
            break
        lruvec_del_folio(st, h)
        acct_reclaim_scan(st, 1)
        got = shrink_folio(st, h, 1)
        st.G[C_BASE + C_PGSCAN] += folio_nr_pages(st, h) if got == 0 else got
        st.G[C_BASE + C_PGSTEAL] += got
        reclaimed += got
        if got == 0:
            break
    return reclaimed


@njit(cache=True)
def reclaim_pages(st, h):
    """reclaim_pages() for MADV_PAGEOUT: reclaim the folio ignoring references."""
    if not st.pg[h].fflags & F_LRU:
        return 0
    lruvec_del_folio(st, h)
    acct_reclaim_scan(st, 1)
    return shrink_folio(st, h, 1)

