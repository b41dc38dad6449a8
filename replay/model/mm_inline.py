"""LRU list operations (include/linux/mm_inline.h): folios by head page, two lists.

The lists are doubly linked through ``lru_prev``/``lru_next``; sentinel N is the
inactive anon list, N+1 the active anon list. The head (sentinel's next) is the
most recently added folio; reclaim takes folios from the tail.
"""

from numba import njit

from replay.model.state import (F_ACTIVE, F_LRU, P_NR_PAGES, S_NR_ACTIVE, S_NR_INACTIVE)


@njit(cache=True)
def folio_nr_pages(st, h):
    return 1 << st.forder[h]


@njit(cache=True)
def _list_of(st, h):
    n = st.P[P_NR_PAGES]
    return n + 1 if st.fflags[h] & F_ACTIVE else n


@njit(cache=True)
def lruvec_add_folio(st, h):
    """lruvec_add_folio(): put the folio at the head of its list (active or inactive)."""
    lst = _list_of(st, h)
    nxt = st.lru_next[lst]
    st.lru_next[lst] = h
    st.lru_prev[h] = lst
    st.lru_next[h] = nxt
    st.lru_prev[nxt] = h
    st.fflags[h] |= F_LRU
    if st.fflags[h] & F_ACTIVE:
        st.S[S_NR_ACTIVE] += folio_nr_pages(st, h)
    else:
        st.S[S_NR_INACTIVE] += folio_nr_pages(st, h)


@njit(cache=True)
def lruvec_add_folio_tail(st, h):
    """lruvec_add_folio_tail(): put the folio at the tail (next to be reclaimed)."""
    lst = _list_of(st, h)
    prv = st.lru_prev[lst]
    st.lru_prev[lst] = h
    st.lru_next[h] = lst
    st.lru_prev[h] = prv
    st.lru_next[prv] = h
    st.fflags[h] |= F_LRU
    if st.fflags[h] & F_ACTIVE:
        st.S[S_NR_ACTIVE] += folio_nr_pages(st, h)
    else:
        st.S[S_NR_INACTIVE] += folio_nr_pages(st, h)


@njit(cache=True)
def lruvec_del_folio(st, h):
    """lruvec_del_folio(): take the folio off its list."""
    if not st.fflags[h] & F_LRU:
        return
    prv = st.lru_prev[h]
    nxt = st.lru_next[h]
    st.lru_next[prv] = nxt
    st.lru_prev[nxt] = prv
    st.fflags[h] &= ~F_LRU
    if st.fflags[h] & F_ACTIVE:
        st.S[S_NR_ACTIVE] -= folio_nr_pages(st, h)
    else:
        st.S[S_NR_INACTIVE] -= folio_nr_pages(st, h)


@njit(cache=True)
def lru_tail(st, active):
    """The folio at the tail of a list, or -1 when it is empty."""
    n = st.P[P_NR_PAGES]
    lst = n + 1 if active else n
    t = st.lru_prev[lst]
    return -1 if t == lst else t
