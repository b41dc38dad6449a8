"""Writing folios to swap and reading pages back (mm/page_io.c), and freeing slots."""

from numba import njit

from replay.model.page_counter import obj_cgroup_charge_zswap
from replay.model.state import (BACKEND_ZRAM, C_PSWPIN, C_PSWPOUT, C_SWPIN_ZERO,
                                C_SWPOUT_ZERO, C_THP_SWPOUT, P_BACKEND, P_DEVICE, P_MEMCG_V2,
                                P_ZEROMAP, P_ZSWAP, PMD_ORDER, PS_SWPOUT, S_PEAK_POOL_BYTES,
                                S_POOL_BYTES)
from replay.model.swapfile import swap_free_slot
from replay.model.zswap import zswap_entry_bytes, zswap_invalidate, zswap_load, zswap_store


@njit(cache=True)
def is_folio_zero_filled(st, h, order):
    """is_folio_zero_filled(): every page of the folio holds only zero bytes."""
    for i in range(1 << order):
        if not st.zero[h + i]:
            return False
    return True


@njit(cache=True)
def _zram_account(st, delta):
    # zram's compressed store is not charged to the memcg; reported as pool bytes
    if st.P[P_MEMCG_V2]:
        st.S[S_POOL_BYTES] += delta   # no memcg charge for zram even on v2
    else:
        st.S[S_POOL_BYTES] += delta
    if st.S[S_POOL_BYTES] > st.S[S_PEAK_POOL_BYTES]:
        st.S[S_PEAK_POOL_BYTES] = st.S[S_POOL_BYTES]


@njit(cache=True)
def swap_writeout(st, h, order):
    """swap_writeout(): a dirty folio with slots goes to the zeromap, zswap or the device."""
    nr = 1 << order
    if is_folio_zero_filled(st, h, order):
        for i in range(nr):
            st.pstate[h + i] = P_ZEROMAP
        st.C[C_SWPOUT_ZERO] += nr
        return
    if zswap_store(st, h, order):
        return
    total = 0
    for i in range(nr):
        st.pstate[h + i] = P_DEVICE
        if st.P[P_BACKEND] == BACKEND_ZRAM:
            total += zswap_entry_bytes(st, h + i)
    if total:
        _zram_account(st, total)
    st.C[C_PSWPOUT] += nr
    st.PS[order, PS_SWPOUT] += 1
    if order == PMD_ORDER:
        st.C[C_THP_SWPOUT] += 1


@njit(cache=True)
def swap_read_page(st, p):
    """swap_read_folio() for one page of a folio being read: zeromap, zswap or device.
    Returns the place it was read from (P_ZEROMAP, P_ZSWAP or P_DEVICE)."""
    where = st.pstate[p]
    if where == P_ZEROMAP:
        st.C[C_SWPIN_ZERO] += 1
    elif where == P_ZSWAP:
        zswap_load(st, p)
    else:
        st.C[C_PSWPIN] += 1
    return where


@njit(cache=True)
def free_swap_slot_of(st, p):
    """Free the page's slot (swap_free / free_swap_and_cache) with what it stores:
    the zswap entry is invalidated, zram discards its copy, the zeromap bit clears."""
    s = st.slot[p]
    if s < 0:
        return
    if st.pstate[p] == P_ZSWAP:
        zswap_invalidate(st, p)
    elif st.P[P_BACKEND] == BACKEND_ZRAM and (st.pstate[p] == P_DEVICE or
                                              st.backing[p] == P_DEVICE):
        _zram_account(st, -zswap_entry_bytes(st, p))
    swap_free_slot(st, s)
    st.slot[p] = -1
    st.shadow[p] = -1
    st.backing[p] = 0


# re-exported for callers that only need the pool accounting
obj_cgroup_charge_zswap = obj_cgroup_charge_zswap
