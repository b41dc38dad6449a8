"""The swap cache and swap readahead (mm/swap_state.c).

Order-0 swap-in on a device without SWP_SYNCHRONOUS_IO reads a window of pages
into the swap cache: cluster readahead (aligned blocks of swap offsets) while a
rotational swap device is active, else VMA readahead (around the faulting
address, clipped to the VMA and its 2 MiB block). The window adapts to
readahead hits as __swapin_nr_pages() does.
"""

from replay._compiled import njit
from replay.model.costs_account import acct_swap_read
from replay.model.memcontrol import try_charge_memcg
from replay.model.mm_inline import lruvec_add_folio
from replay.model.page_io import swap_read_page
from replay.model.state import (
    C_BASE,
    C_SWAP_RA,
    D_BASE,
    D_RA_PAGES,
    D_SWAPIN_PAGES,
    F_DIRTY,
    F_READAHEAD,
    F_SWAPCACHE,
    P_BASE,
    P_DEVICE,
    P_PAGE_CLUSTER,
    P_ROTATIONAL,
    P_SWAP_SLOTS,
    P_SWAPCACHE,
    P_ZEROMAP,
    P_ZSWAP,
    S_RA_HITS,
    S_RA_PREV_OFFSET,
    S_RA_PREV_PAGE,
    S_RA_PREV_WIN,
    S_RA_VMA_WIN,
)
from replay.model.swapfile import swap_slot_owner
from replay.model.workingset import workingset_refault
from replay.model.zswap import zswap_folio_swapin

SWAP_RA_ORDER_CEILING = 5


@njit(cache=True, inline="always")
def is_swapped(state):
    return state == P_ZSWAP or state == P_DEVICE or state == P_ZEROMAP


@njit(cache=True)
def __swapin_nr_pages(prev_offset, offset, hits, max_pages, prev_win):
    """__swapin_nr_pages(): the adaptive readahead window."""
    pages = hits + 2
    if pages == 2:
        if offset != prev_offset + 1 and offset != prev_offset - 1:
            pages = 1
    else:
        roundup = 4
        while roundup < pages:
            roundup <<= 1
        pages = roundup
    pages = min(pages, max_pages)
    last_ra = prev_win // 2
    pages = max(pages, last_ra)
    return pages


@njit(cache=True)
def read_swap_cache_page(st, p, readahead):
    """__read_swap_cache_async() for one page: charge an order-0 folio, read the page into
    the swap cache and put it on the LRU (activated when its refault is recent).
    Returns False when the charge failed."""
    if not try_charge_memcg(st, 1, True):
        return False
    where = swap_read_page(st, p)
    acct_swap_read(st, p, where, 0)
    st.pg[p].pstate = P_SWAPCACHE
    st.pg[p].head = p
    st.pg[p].forder = 0
    flags = F_SWAPCACHE
    if readahead:
        flags |= F_READAHEAD
        st.G[C_BASE + C_SWAP_RA] += 1
        st.G[D_BASE + D_RA_PAGES] += 1
    if where == P_ZSWAP:
        flags |= F_DIRTY            # zswap_load() erased the entry: only memory holds it
        st.pg[p].backing = 0
    else:
        st.pg[p].backing = where
        if where == P_DEVICE:
            zswap_folio_swapin(st)
    st.pg[p].fflags = flags
    workingset_refault(st, p, st.pg[p].shadow, 1)
    st.pg[p].shadow = -1
    st.pg[p].used = 1
    st.G[D_BASE + D_SWAPIN_PAGES] += 1
    lruvec_add_folio(st, p)
    return True


@njit(cache=True)
def swapin_nr_pages(st, offset):
    """swapin_nr_pages() for cluster readahead."""
    max_pages = 1 << st.G[P_BASE + P_PAGE_CLUSTER]
    if max_pages <= 1:
        return 1
    hits = st.G[S_RA_HITS]
    st.G[S_RA_HITS] = 0
    pages = __swapin_nr_pages(st.G[S_RA_PREV_OFFSET], offset, hits, max_pages,
                              st.G[S_RA_PREV_WIN])
    if hits == 0:
        st.G[S_RA_PREV_OFFSET] = offset
    st.G[S_RA_PREV_WIN] = pages
    return pages


@njit(cache=True)
def swap_cluster_readahead(st, p):
    """swap_cluster_readahead(): read the aligned block of swap offsets around the entry."""
    offset = st.pg[p].slot
    mask = swapin_nr_pages(st, offset) - 1
    if mask == 0:
        read_swap_cache_page(st, p, False)
        return
    start = offset & ~mask
    end = min(offset | mask, st.G[P_BASE + P_SWAP_SLOTS] - 1)
    for off in range(start, end + 1):
        q = swap_slot_owner(st, off)
        if q < 0:
            continue
        if q == p:
            read_swap_cache_page(st, p, False)
        elif is_swapped(st.pg[q].pstate):
            read_swap_cache_page(st, q, True)
    if st.pg[p].pstate != P_SWAPCACHE:       # the target must be read even if RA skipped it
        read_swap_cache_page(st, p, False)


@njit(cache=True)
def swap_vma_readahead(st, p):
    """swap_vma_readahead() with swap_vma_ra_win(): pages around the faulting address."""
    max_win = 1 << min(st.G[P_BASE + P_PAGE_CLUSTER], SWAP_RA_ORDER_CEILING)
    prev = st.G[S_RA_PREV_PAGE]
    if max_win == 1:
        win = 1
    else:
        hits = st.G[S_RA_HITS]
        st.G[S_RA_HITS] = 0
        win = __swapin_nr_pages(prev, p, hits, max_win, st.G[S_RA_VMA_WIN])
        st.G[S_RA_PREV_PAGE] = p
        st.G[S_RA_VMA_WIN] = win
    if win == 1:
        read_swap_cache_page(st, p, False)
        return
    if p == prev + 1:
        lo, hi = p, p + win
    elif prev == p + 1:
        lo, hi = p - win + 1, p + 1
    else:
        left = (win - 1) // 2
        lo, hi = p - left, p + win - left
    block = p & ~511
    lo = max(lo, st.pg[p].vma_lo, block)
    hi = min(hi, st.pg[p].vma_hi, block + 512)
    for q in range(lo, hi):
        if q == p:
            read_swap_cache_page(st, p, False)
        elif is_swapped(st.pg[q].pstate) and st.pg[q].slot >= 0:
            read_swap_cache_page(st, q, True)
    if st.pg[p].pstate != P_SWAPCACHE:
        read_swap_cache_page(st, p, False)


@njit(cache=True)
def swapin_readahead(st, p):
    """swapin_readahead(): VMA readahead unless a rotational swap device is active."""
    if st.G[P_BASE + P_ROTATIONAL]:
        swap_cluster_readahead(st, p)
    else:
        swap_vma_readahead(st, p)
