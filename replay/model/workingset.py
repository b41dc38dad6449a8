"""Workingset detection for anon folios (mm/workingset.c), classic LRU (no MGLRU)."""

from replay._compiled import njit
from replay.model.state import (
    C_BASE,
    C_WS_ACTIVATE,
    C_WS_REFAULT,
    C_WS_RESTORE,
    F_ACTIVE,
    F_WORKINGSET,
    P_BASE,
    P_EXACT_LRU,
    S_AGE,
    S_NR_ACTIVE,
)


@njit(cache=True, inline="always")
def workingset_eviction(st, h, nr):
    """workingset_eviction(): age the lruvec by nr and return the shadow (age, workingset bit).

    Leaves out: bucket_order (0 on 64-bit with this much RAM) and the memcg id in the shadow.
    """
    st.G[S_AGE] += nr
    return (st.G[S_AGE] << 1) | (1 if st.pg[h].fflags & F_WORKINGSET else 0)


@njit(cache=True, inline="always")
def workingset_refault(st, h, shadow, nr):
    """workingset_refault() + workingset_test_recent() for an anon folio being swapped in.

    An anon refault is activated when its refault distance is at most
    active_file + inactive_file + active_anon (no file pages in the modelled memcg,
    swap always available). LRU sizes are exact (the kernel reads flushed memcg stats).
    """
    if shadow < 0:
        return
    st.G[C_BASE + C_WS_REFAULT] += nr
    if st.G[P_BASE + P_EXACT_LRU]:
        return                     # one list, no activation, in the cache-simulator mode
    eviction = shadow >> 1
    distance = st.G[S_AGE] - eviction
    if distance > st.G[S_NR_ACTIVE]:
        return
    st.pg[h].fflags |= F_ACTIVE
    st.G[S_AGE] += nr
    st.G[C_BASE + C_WS_ACTIVATE] += nr
    if shadow & 1:
        st.pg[h].fflags |= F_WORKINGSET
        st.G[C_BASE + C_WS_RESTORE] += nr
