"""Memory cgroup charging (mm/memcontrol.c): try_charge_memcg() with the per-CPU stock."""

from replay._compiled import njit
from replay.model.page_counter import note_resident
from replay.model.state import (
    C_BASE,
    C_OOM_KILL,
    MAX_RECLAIM_RETRIES,
    MEMCG_CHARGE_BATCH,
    P_BASE,
    P_EXACT_LRU,
    P_LIMIT_PAGES,
    P_STOCK,
    S_OOM,
    S_STOCK,
    S_USAGE,
)
from replay.model.vmscan import exact_lru_evict, try_to_free_mem_cgroup_pages

PAGE_ALLOC_COSTLY_ORDER = 3


@njit(cache=True, inline="always")
def mem_cgroup_margin(st):
    """mem_cgroup_margin(): pages left below the limit (the stock counts as used)."""
    m = st.G[P_BASE + P_LIMIT_PAGES] - st.G[S_USAGE]
    return max(0, m)


@njit(cache=True, inline="always")
def _refill_stock(st, nr):
    st.G[S_STOCK] += nr
    if st.G[S_STOCK] > MEMCG_CHARGE_BATCH:      # drain_stock()
        st.G[S_USAGE] -= st.G[S_STOCK]
        st.G[S_STOCK] = 0


@njit(cache=True)
def try_charge_memcg(st, nr, may_reclaim):
    """try_charge_memcg(): charge nr pages, reclaiming when over the limit.

    ``may_reclaim`` is whether the gfp mask allows direct reclaim (order 0 always;
    large folios only in a MADV_HUGEPAGE region with defrag=madvise). Returns False
    when the charge fails; an order-0 charge that cannot be met counts an OOM kill
    and is forced, so the state stays whole: the replay loop then ends this policy's
    replay (oom=kill, the kernel kills the workload) or goes on (oom=continue).
    """
    limit = st.G[P_BASE + P_LIMIT_PAGES]
    if st.G[P_BASE + P_EXACT_LRU]:
        over = st.G[S_USAGE] + nr - limit
        if over > 0:
            exact_lru_evict(st, over)
        st.G[S_USAGE] += nr
        note_resident(st, nr)
        return True
    if st.G[P_BASE + P_STOCK] and st.G[S_STOCK] >= nr:
        st.G[S_STOCK] -= nr
        note_resident(st, nr)
        return True
    batch = max(MEMCG_CHARGE_BATCH, nr) if st.G[P_BASE + P_STOCK] else nr
    retries = MAX_RECLAIM_RETRIES
    drained = False
    loops = 0
    while True:
        loops += 1
        if st.G[S_USAGE] + batch <= limit:
            st.G[S_USAGE] += batch
            if batch > nr:
                _refill_stock(st, batch - nr)
            note_resident(st, nr)
            return True
        if batch > nr:
            batch = nr
            continue
        if not may_reclaim:
            return False
        reclaimed = try_to_free_mem_cgroup_pages(st, nr)
        if mem_cgroup_margin(st) >= nr:
            continue
        if not drained:
            st.G[S_USAGE] -= st.G[S_STOCK]
            st.G[S_STOCK] = 0
            drained = True
            continue
        if reclaimed and nr <= (1 << PAGE_ALLOC_COSTLY_ORDER) and loops < 1024:
            continue
        if retries > 0:
            retries -= 1
            continue
        if nr > (1 << PAGE_ALLOC_COSTLY_ORDER):
            return False            # costly orders skip the OOM killer
        st.G[C_BASE + C_OOM_KILL] += 1
        st.G[S_OOM] = 1
        st.G[S_USAGE] += nr
        note_resident(st, nr)
        return True
