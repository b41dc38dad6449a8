"""Writing folios to swap and reading pages back (mm/page_io.c), and freeing slots."""

from replay._compiled import njit
from replay.model.costs_account import acct_swap_write
from replay.model.state import (
    BACKEND_ZRAM,
    BACKEND_ZSWAP,
    C_BASE,
    C_PSWPIN,
    C_PSWPOUT,
    C_SWPIN_ZERO,
    C_SWPOUT_ZERO,
    C_THP_SWPOUT,
    P_BACKEND,
    P_BASE,
    P_DEVICE,
    P_MEMCG_V2,
    P_ZEROMAP,
    P_ZSWAP,
    P_ZSWAP_WB,
    PMD_ORDER,
    PS_BASE,
    PS_STRIDE,
    PS_SWPOUT,
    S_PEAK_POOL_BYTES,
    S_POOL_BYTES,
)
from replay.model.swapfile import swap_free_slot
from replay.model.zswap import zswap_entry_bytes, zswap_invalidate, zswap_load, zswap_store


@njit(cache=True, inline="always")
def is_folio_zero_filled(st, h, order):
    """is_folio_zero_filled(): every page of the folio holds only zero bytes."""
    for i in range(1 << order):
        if not st.pg[h + i].zero:
            return False
    return True


@njit(cache=True, inline="always")
def _zram_account(st, delta):
    # zram's compressed store is not charged to the memcg; reported as pool bytes
    st.G[S_POOL_BYTES] += delta
    st.G[S_PEAK_POOL_BYTES] = max(st.G[S_PEAK_POOL_BYTES], st.G[S_POOL_BYTES])


@njit(cache=True)
def swap_writeout(st, h, order):
    """swap_writeout(): a dirty folio with slots goes to the zeromap, zswap or the device.

    Returns False when it stays in memory: zswap refused it and the memcg's
    memory.zswap.writeback is 0 (cgroup v2), so it may not go to the device
    (AOP_WRITEPAGE_ACTIVATE)."""
    nr = 1 << order
    if is_folio_zero_filled(st, h, order):
        for i in range(nr):
            st.pg[h + i].pstate = P_ZEROMAP
        st.G[C_BASE + C_SWPOUT_ZERO] += nr
        return True
    if zswap_store(st, h, order):
        return True
    if st.G[P_BASE + P_BACKEND] == BACKEND_ZSWAP and st.G[P_BASE + P_MEMCG_V2] \
            and not st.G[P_BASE + P_ZSWAP_WB]:
        return False
    acct_swap_write(st, h, order)
    total = 0
    for i in range(nr):
        st.pg[h + i].pstate = P_DEVICE
        if st.G[P_BASE + P_BACKEND] == BACKEND_ZRAM:
            total += zswap_entry_bytes(st, h + i)
    if total:
        _zram_account(st, total)
    st.G[C_BASE + C_PSWPOUT] += nr
    st.G[PS_BASE + (order) * PS_STRIDE + PS_SWPOUT] += 1
    if order == PMD_ORDER:
        st.G[C_BASE + C_THP_SWPOUT] += 1
    return True


@njit(cache=True, inline="always")
def swap_read_page(st, p):
    """swap_read_folio() for one page of a folio being read: zeromap, zswap or device.
    Returns the place it was read from (P_ZEROMAP, P_ZSWAP or P_DEVICE)."""
    where = st.pg[p].pstate
    if where == P_ZEROMAP:
        st.G[C_BASE + C_SWPIN_ZERO] += 1
    elif where == P_ZSWAP:
        zswap_load(st, p)
    else:
        st.G[C_BASE + C_PSWPIN] += 1
    return where


@njit(cache=True, inline="always")
def free_swap_slot_of(st, p):
    """Free the page's slot (swap_free / free_swap_and_cache) with what it stores:
    the zswap entry is invalidated, zram discards its copy, the zeromap bit clears."""
    s = st.pg[p].slot
    if s < 0:
        return
    if st.pg[p].pstate == P_ZSWAP:
        zswap_invalidate(st, p)
    elif st.G[P_BASE + P_BACKEND] == BACKEND_ZRAM and (st.pg[p].pstate == P_DEVICE or
                                              st.pg[p].backing == P_DEVICE):
        _zram_account(st, -zswap_entry_bytes(st, p))
    swap_free_slot(st, s)
    st.pg[p].slot = -1
    st.pg[p].shadow = -1
    st.pg[p].backing = 0

