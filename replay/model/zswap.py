"""zswap (mm/zswap.c, v6.18): a compressed cache in front of the swap device.

Entries are per 4 KiB page and kept on an LRU (sentinel N; head = oldest) with a
second-chance ``referenced`` bit. A large folio is stored all or nothing. The
pool limit is max_pool_percent of RAM (or a size); once hit, stores are refused
until the pool falls below accept_threshold_percent of it, and the shrink worker
writes entries back to the device. The same pool accounting serves zram (its
compressed store) when the backend is zram.
"""

from replay._compiled import njit
from replay.model.costs_account import acct_zswap_store, acct_zswap_writeback, select_store_sizes
from replay.model.page_counter import obj_cgroup_charge_zswap
from replay.model.state import (
    BACKEND_ZSWAP,
    C_BASE,
    C_PSWPOUT,
    C_ZSWAP_REJECT_POOL,
    C_ZSWPIN,
    C_ZSWPOUT,
    C_ZSWPWB,
    P_ACCEPT_BYTES,
    P_BACKEND,
    P_BASE,
    P_DEVICE,
    P_MEMCG_V2,
    P_NR_PAGES,
    P_POOL_LIMIT_BYTES,
    P_ZSWAP,
    P_ZSWAP_MAX_BYTES,
    P_ZSWAP_WB,
    PS_BASE,
    PS_STRIDE,
    PS_ZSWPOUT,
    S_POOL_BYTES,
    S_POOL_FULL,
    S_ZS_COUNT,
)

PAGE_SIZE = 4096
ZS_SIZE_CLASS_DELTA = 16    # zsmalloc size classes are 16 bytes apart


@njit(cache=True, inline="always")
def zswap_entry_bytes(st, p):
    """Pool bytes of one stored page: compressed size rounded to its zsmalloc class;
    an incompressible page is stored as is (PAGE_SIZE)."""
    c = st.pg[p].comp
    if c >= PAGE_SIZE:
        return PAGE_SIZE
    return ((c + ZS_SIZE_CLASS_DELTA - 1) // ZS_SIZE_CLASS_DELTA) * ZS_SIZE_CLASS_DELTA


@njit(cache=True, inline="always")
def _lru_add(st, p):
    n = st.G[P_BASE + P_NR_PAGES]
    prv = st.pg[n].zs_prev          # tail = newest
    st.pg[n].zs_prev = p
    st.pg[p].zs_next = n
    st.pg[p].zs_prev = prv
    st.pg[prv].zs_next = p
    st.pg[p].zs_ref = 1             # entry->referenced = true at store
    st.G[S_ZS_COUNT] += 1


@njit(cache=True, inline="always")
def _lru_del(st, p):
    prv = st.pg[p].zs_prev
    nxt = st.pg[p].zs_next
    st.pg[prv].zs_next = nxt
    st.pg[nxt].zs_prev = prv
    st.G[S_ZS_COUNT] -= 1


@njit(cache=True, inline="always")
def zswap_check_limits(st):
    """zswap_check_limits(): True when the pool is (still) full and stores are refused."""
    cur = st.G[S_POOL_BYTES]
    if cur >= st.G[P_BASE + P_POOL_LIMIT_BYTES]:
        st.G[S_POOL_FULL] = 1
    elif st.G[S_POOL_FULL] and cur <= st.G[P_BASE + P_ACCEPT_BYTES]:
        st.G[S_POOL_FULL] = 0
    return st.G[S_POOL_FULL] != 0


@njit(cache=True)
def zswap_writeback_entry(st, p):
    """zswap_writeback_entry(): decompress one entry and write it to its slot on the device."""
    _lru_del(st, p)
    acct_zswap_writeback(st, p)
    obj_cgroup_charge_zswap(st, -zswap_entry_bytes(st, p))
    st.pg[p].pstate = P_DEVICE
    st.G[C_BASE + C_ZSWPWB] += 1
    st.G[C_BASE + C_PSWPOUT] += 1


@njit(cache=True)
def shrink_worker(st, target_bytes):
    """shrink_worker() / shrink_memcg_cb(): write back from the LRU with a second chance
    until the pool is at most target_bytes. Runs synchronously here (a workqueue in
    the kernel)."""
    n = st.G[P_BASE + P_NR_PAGES]
    guard = 2 * st.G[S_ZS_COUNT] + 2
    while st.G[S_POOL_BYTES] > target_bytes and st.G[S_ZS_COUNT] > 0 and guard > 0:
        guard -= 1
        e = st.pg[n].zs_next        # oldest
        if st.pg[e].zs_ref:
            st.pg[e].zs_ref = 0     # second chance: rotate
            _lru_del(st, e)
            _lru_add(st, e)
            st.pg[e].zs_ref = 0
            continue
        zswap_writeback_entry(st, e)


@njit(cache=True)
def zswap_store(st, h, order):
    """zswap_store(): store every page of the folio, or none. True when stored.

    Leaves out: compression failures (incompressible pages are stored raw) and
    the per-memcg zswap.max shrink of one entry before refusing.
    """
    if st.G[P_BASE + P_BACKEND] != BACKEND_ZSWAP:
        return False
    nr = 1 << order
    if zswap_check_limits(st):
        st.G[C_BASE + C_ZSWAP_REJECT_POOL] += 1
        if st.G[P_BASE + P_ZSWAP_WB]:
            shrink_worker(st, st.G[P_BASE + P_ACCEPT_BYTES])
        return False
    select_store_sizes(st, h, order)
    total = 0
    for i in range(nr):
        total += zswap_entry_bytes(st, h + i)
    if st.G[P_BASE + P_MEMCG_V2] and st.G[P_BASE + P_ZSWAP_MAX_BYTES] >= 0 and \
            st.G[S_POOL_BYTES] + total > st.G[P_BASE + P_ZSWAP_MAX_BYTES]:
        return False             # obj_cgroup_may_zswap() refused
    acct_zswap_store(st, h, order)
    for i in range(nr):
        p = h + i
        st.pg[p].pstate = P_ZSWAP
        _lru_add(st, p)
    obj_cgroup_charge_zswap(st, total)
    st.G[C_BASE + C_ZSWPOUT] += nr
    if order > 0:
        st.G[PS_BASE + (order) * PS_STRIDE + PS_ZSWPOUT] += 1
    return True


@njit(cache=True, inline="always")
def zswap_load(st, p):
    """zswap_load() of one page (v6.18 erases the entry: the folio is then dirty)."""
    _lru_del(st, p)
    obj_cgroup_charge_zswap(st, -zswap_entry_bytes(st, p))
    st.G[C_BASE + C_ZSWPIN] += 1


@njit(cache=True, inline="always")
def zswap_invalidate(st, p):
    """zswap_invalidate(): the slot was freed; drop the entry without I/O."""
    _lru_del(st, p)
    obj_cgroup_charge_zswap(st, -zswap_entry_bytes(st, p))
