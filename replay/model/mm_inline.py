"""LRU list operations (include/linux/mm_inline.h): folios by head page, two lists.

The lists are doubly linked through ``lru_prev``/``lru_next``; sentinel N is the
inactive anon list, N+1 the active anon list. The head (sentinel's next) is the
most recently added folio; reclaim takes folios from the tail.
"""

from replay._compiled import njit
from replay.model.state import F_ACTIVE, F_LRU, P_BASE, P_NR_PAGES, S_NR_ACTIVE, S_NR_INACTIVE


@njit(cache=True, inline="always")
def folio_nr_pages(st, h):
    return 1 << st.pg[h].forder


@njit(cache=True, inline="always")
def _list_of(st, h):
    n = st.G[P_BASE + P_NR_PAGES]
    return n + 1 if st.pg[h].fflags & F_ACTIVE else n


@njit(cache=True, inline="always")
def lruvec_add_folio(st, h):
    """lruvec_add_folio(): put the folio at the head of its list (active or inactive)."""
    lst = _list_of(st, h)
    nxt = st.pg[lst].lru_next
    st.pg[lst].lru_next = h
    st.pg[h].lru_prev = lst
    st.pg[h].lru_next = nxt
    st.pg[nxt].lru_prev = h
    st.pg[h].fflags |= F_LRU
    if st.pg[h].fflags & F_ACTIVE:
        st.G[S_NR_ACTIVE] += folio_nr_pages(st, h)
    else:
        st.G[S_NR_INACTIVE] += folio_nr_pages(st, h)


@njit(cache=True, inline="always")
def lruvec_del_folio(st, h):
    """lruvec_del_folio(): take the folio off its list."""
    if not st.pg[h].fflags & F_LRU:
        return
    prv = st.pg[h].lru_prev
    nxt = st.pg[h].lru_next
    st.pg[prv].lru_next = nxt
    st.pg[nxt].lru_prev = prv
    st.pg[h].fflags &= ~F_LRU
    if st.pg[h].fflags & F_ACTIVE:
        st.G[S_NR_ACTIVE] -= folio_nr_pages(st, h)
    else:
        st.G[S_NR_INACTIVE] -= folio_nr_pages(st, h)


@njit(cache=True, inline="always")
def lru_tail(st, active):
    """The folio at the tail of a list, or -1 when it is empty."""
    n = st.G[P_BASE + P_NR_PAGES]
    lst = n + 1 if active else n
    t = st.pg[lst].lru_prev
    return -1 if t == lst else t
