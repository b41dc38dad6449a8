"""zswap (mm/zswap.c, v6.18): a compressed cache in front of the swap device.

Entries are per 4 KiB page and kept on an LRU (sentinel N; head = oldest) with a
second-chance ``referenced`` bit. A large folio is stored all or nothing. The
pool limit is max_pool_percent of RAM (or a size); once hit, stores are refused
until the pool falls below accept_threshold_percent of it, and the shrink worker
writes entries back to the device. With the shrinker enabled (zswap.shrinker_enabled,
off by default), memcg reclaim also writes entries back through shrink_slab().
The same pool accounting serves zram (its compressed store) when the backend is zram.
"""

from replay._compiled import njit
from replay.model.costs_account import acct_zswap_store, acct_zswap_writeback, select_store_sizes
from replay.model.page_counter import obj_cgroup_charge_zswap
from replay.model.state import (
    BACKEND_ZSWAP,
    C_BASE,
    C_PSWPOUT,
    C_ZSWAP_REJECT_POOL,
    C_ZSWAP_REJECT_POOR,
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
    P_SHRINKER,
    P_ZSWAP,
    P_ZSWAP_MAX_BYTES,
    P_ZSWAP_WB,
    PS_BASE,
    PS_STRIDE,
    PS_ZSWPOUT,
    S_POOL_BYTES,
    S_POOL_FULL,
    S_ZS_COUNT,
    S_ZS_DEFERRED,
    S_ZS_DISK_SWAPINS,
)

PAGE_SIZE = 4096
PAGE_SHIFT = 12
ZS_SIZE_CLASS_DELTA = 16    # zsmalloc size classes are 16 bytes apart
SHRINK_BATCH = 128          # do_shrink_slab()'s batch when the shrinker sets none
DEFAULT_SEEKS = 2           # zswap's shrinker->seeks


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

    Incompressible pages are stored raw, or refused when the memcg's
    memory.zswap.writeback is 0. Leaves out: the per-memcg zswap.max shrink of one
    entry before refusing.
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
    no_writeback = st.G[P_BASE + P_MEMCG_V2] and not st.G[P_BASE + P_ZSWAP_WB]
    total = 0
    for i in range(nr):
        b = zswap_entry_bytes(st, h + i)
        if b >= PAGE_SIZE and no_writeback:
            # zswap_compress(): an incompressible page is stored as is, unless the
            # memcg may not write back: then it is refused (only metadata overhead)
            st.G[C_BASE + C_ZSWAP_REJECT_POOR] += 1
            return False
        total += b
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


@njit(cache=True, inline="always")
def zswap_folio_swapin(st):
    """zswap_folio_swapin(): a folio was read from the swap device (not found in zswap);
    the shrinker holds back that many entries at its next count."""
    st.G[S_ZS_DISK_SWAPINS] += 1


@njit(cache=True)
def zswap_shrinker_count(st):
    """zswap_shrinker_count() for the memcg: the entries on its zswap LRU, less the
    disk swap-ins since the last count (consumed here), scaled by the memcg's zswap
    pages per entry (the better the compression, the fewer written back).

    cgroup v1 charges no zswap statistics to the memcg (MEMCG_ZSWAPPED stays 0), so
    the count there is 0: the shrinker does not write back in memcg reclaim. The
    pool bytes are the model's (zsmalloc classes) where the kernel counts compressed
    lengths.
    """
    if not st.G[P_BASE + P_SHRINKER] or not st.G[P_BASE + P_ZSWAP_WB] \
            or not st.G[P_BASE + P_MEMCG_V2]:
        return 0
    nr_stored = st.G[S_ZS_COUNT]
    if nr_stored == 0:
        return 0
    nr_backing = st.G[S_POOL_BYTES] >> PAGE_SHIFT
    nr_freeable = nr_stored                      # list_lru_shrink_count()
    disk = st.G[S_ZS_DISK_SWAPINS]
    remain = 0 if nr_freeable >= disk else disk - nr_freeable
    st.G[S_ZS_DISK_SWAPINS] = remain
    nr_freeable -= disk - remain
    if nr_freeable == 0:
        return 0
    return nr_freeable * nr_backing // nr_stored     # mult_frac()


@njit(cache=True)
def zswap_shrinker_scan(st, nr_to_scan):
    """zswap_shrinker_scan() -> list_lru_shrink_walk(shrink_memcg_cb): walk nr_to_scan
    entries from the oldest; a referenced entry loses its bit and rotates, the others
    are written back. Returns the entries written back (0: SHRINK_STOP)."""
    n = st.G[P_BASE + P_NR_PAGES]
    freed = 0
    for _ in range(nr_to_scan):
        if st.G[S_ZS_COUNT] == 0:
            break
        e = st.pg[n].zs_next        # oldest
        if st.pg[e].zs_ref:
            _lru_del(st, e)
            _lru_add(st, e)
            st.pg[e].zs_ref = 0
            continue
        zswap_writeback_entry(st, e)
        freed += 1
    return freed


@njit(cache=True)
def shrink_slab(st, priority):
    """shrink_slab() -> do_shrink_slab() for the memcg's one shrinker here, zswap's:
    scan (count >> priority) * 4 / seeks entries plus the deferred share, at most
    twice the count, in batches of SHRINK_BATCH; carry what was not scanned over
    (nr_deferred). Returns the entries written back. Their pool memory is uncharged
    from the memcg (obj_cgroup_uncharge_zswap); it is not counted as reclaimed pages.
    """
    freeable = zswap_shrinker_count(st)
    if freeable == 0:
        return 0
    nr = st.G[S_ZS_DEFERRED]
    st.G[S_ZS_DEFERRED] = 0
    delta = (freeable >> priority) * 4 // DEFAULT_SEEKS
    total_scan = min((nr >> priority) + delta, 2 * freeable)
    scanned = 0
    freed = 0
    while total_scan >= SHRINK_BATCH or total_scan >= freeable:
        nr_to_scan = min(SHRINK_BATCH, total_scan)
        ret = zswap_shrinker_scan(st, nr_to_scan)
        if ret == 0:
            break                   # SHRINK_STOP
        freed += ret
        total_scan -= nr_to_scan
        scanned += nr_to_scan
    st.G[S_ZS_DEFERRED] += min(max(nr + delta - scanned, 0), 2 * freeable)
    return freed
