"""The memcg page counter (mm/page_counter.c) and what is charged to it."""

from replay._compiled import njit
from replay.model.state import (
    P_BASE,
    P_MEMCG_V2,
    S_PEAK_POOL_BYTES,
    S_PEAK_RESIDENT,
    S_POOL_BYTES,
    S_POOL_PAGES_CHARGED,
    S_RESIDENT,
    S_USAGE,
)


@njit(cache=True, inline="always")
def page_counter_uncharge(st, nr):
    """page_counter_uncharge(): pages freed go straight back (not through the stock)."""
    st.G[S_USAGE] -= nr
    st.G[S_RESIDENT] -= nr


@njit(cache=True, inline="always")
def note_resident(st, nr):
    st.G[S_RESIDENT] += nr
    st.G[S_PEAK_RESIDENT] = max(st.G[S_PEAK_RESIDENT], st.G[S_RESIDENT])


@njit(cache=True, inline="always")
def obj_cgroup_charge_zswap(st, delta_bytes):
    """obj_cgroup_{charge,uncharge}_zswap(): the pool is charged to the memcg on cgroup v2.

    Charged from reclaim context, so it may exceed the limit (the next charge reclaims).
    Byte charges are rounded to pages as the obj stock does in the end.
    """
    st.G[S_POOL_BYTES] += delta_bytes
    st.G[S_PEAK_POOL_BYTES] = max(st.G[S_PEAK_POOL_BYTES], st.G[S_POOL_BYTES])
    if st.G[P_BASE + P_MEMCG_V2]:
        pages = (st.G[S_POOL_BYTES] + 4095) >> 12
        st.G[S_USAGE] += pages - st.G[S_POOL_PAGES_CHARGED]
        st.G[S_POOL_PAGES_CHARGED] = pages
