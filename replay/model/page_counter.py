"""The memcg page counter (mm/page_counter.c) and what is charged to it."""

from numba import njit

from replay.model.state import (P_MEMCG_V2, S_PEAK_POOL_BYTES, S_PEAK_RESIDENT,
                                S_POOL_BYTES, S_POOL_PAGES_CHARGED, S_RESIDENT, S_USAGE)


@njit(cache=True)
def page_counter_uncharge(st, nr):
    """page_counter_uncharge(): pages freed go straight back (not through the stock)."""
    st.S[S_USAGE] -= nr
    st.S[S_RESIDENT] -= nr


@njit(cache=True)
def note_resident(st, nr):
    st.S[S_RESIDENT] += nr
    if st.S[S_RESIDENT] > st.S[S_PEAK_RESIDENT]:
        st.S[S_PEAK_RESIDENT] = st.S[S_RESIDENT]


@njit(cache=True)
def obj_cgroup_charge_zswap(st, delta_bytes):
    """obj_cgroup_{charge,uncharge}_zswap(): the pool is charged to the memcg on cgroup v2.

    Charged from reclaim context, so it may exceed the limit (the next charge reclaims).
    Byte charges are rounded to pages as the obj stock does in the end.
    """
    st.S[S_POOL_BYTES] += delta_bytes
    if st.S[S_POOL_BYTES] > st.S[S_PEAK_POOL_BYTES]:
        st.S[S_PEAK_POOL_BYTES] = st.S[S_POOL_BYTES]
    if st.P[P_MEMCG_V2]:
        pages = (st.S[S_POOL_BYTES] + 4095) >> 12
        st.S[S_USAGE] += pages - st.S[S_POOL_PAGES_CHARGED]
        st.S[S_POOL_PAGES_CHARGED] = pages
