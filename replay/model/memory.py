"""The anonymous fault paths (mm/memory.c, v6.18) and the madvise/unmap events.

do_anonymous_page() with mTHP order selection (alloc_anon_folio), do_wp_page()
from the shared zero page, do_swap_page() with alloc_swap_folio() /
can_swapin_thp() and the policy's decision, MADV_PAGEOUT and MADV_DONTNEED.
"""

from replay._compiled import njit
from replay.model.costs_account import acct_swap_read
from replay.model.memcontrol import mem_cgroup_margin, try_charge_memcg
from replay.model.mm_inline import lruvec_add_folio, lruvec_del_folio
from replay.model.page_counter import page_counter_uncharge
from replay.model.page_io import free_swap_slot_of, swap_read_page
from replay.model.state import (
    BACKEND_ZRAM,
    C_BASE,
    C_PGFAULT,
    C_PGMAJFAULT,
    C_SWAP_RA_HIT,
    D_BASE,
    D_GUARD,
    D_HYBRID,
    D_RACE,
    D_SWAPIN_PAGES,
    D_SWAPIN_USED,
    D_ZERO_PAGE_MAPS,
    F_DIRTY,
    F_PARTIAL,
    F_READAHEAD,
    F_SWAPCACHE,
    P_BACKEND,
    P_BASE,
    P_CHARGE_GUARD,
    P_DEVICE,
    P_FIRST_READ_ALLOC,
    P_FREED,
    P_MAPPED,
    P_NONE,
    P_ORDERS_MASK,
    P_ROTATIONAL,
    P_SWAP_FULL_HALF,
    P_SWAP_SLOTS,
    P_SWAPCACHE,
    P_THP_ALWAYS,
    P_VIEW,
    P_ZEROMAP,
    P_ZEROPAGE,
    P_ZSWAP,
    P_ZSWAP_EVER,
    PMD_ORDER,
    PS_ANON_FAULT_ALLOC,
    PS_ANON_FAULT_FALLBACK,
    PS_ANON_FAULT_FALLBACK_CHARGE,
    PS_BASE,
    PS_SPLIT_DEFERRED,
    PS_STRIDE,
    PS_SWPIN,
    PS_SWPIN_FALLBACK,
    PS_SWPIN_FALLBACK_CHARGE,
    S_LAST_FAULT_PAGE,
    S_RA_HITS,
    S_RA_PREV_PAGE,
    S_SWAP_USED,
)
from replay.model.swap_state import is_swapped, swapin_readahead
from replay.model.vmscan import reclaim_pages, split_folio
from replay.model.workingset import workingset_refault
from replay.model.zswap import zswap_folio_swapin
from replay.policies.base import (
    V_ADJACENT,
    V_BACKEND,
    V_CANDIDATES,
    V_DEVICE,
    V_HUGEPAGE,
    V_MARGIN,
    V_SYNC_IO,
    V_WRITE,
    V_YOUNG_NEAR,
    V_ZEROMAP,
    V_ZSWAP,
    V_ZSWAP_EVER,
    VIEW_LEVELS,
)

VIEW_NONE = VIEW_LEVELS["none"]
VIEW_ALL = VIEW_LEVELS["all"]


@njit(cache=True, inline="always")
def thp_vma_allowable_orders(st, p):
    """Orders enabled for the page's VMA: the per-size enabled set, applying to every
    VMA ('always') or to MADV_HUGEPAGE ones ('madvise'); orders below PMD order only
    (a PMD THP is not modelled: 2M faults are not mTHP)."""
    if st.G[P_BASE + P_THP_ALWAYS] or st.pg[p].hint:
        return st.G[P_BASE + P_ORDERS_MASK] & ((1 << PMD_ORDER) - 2)
    return 0


@njit(cache=True, inline="always")
def _suitable(st, p, order):
    nr = 1 << order
    r0 = p & ~(nr - 1)
    return r0 >= st.pg[p].vma_lo and r0 + nr <= st.pg[p].vma_hi


@njit(cache=True, inline="always")
def _install_folio(st, h, order, flags):
    nr = 1 << order
    for i in range(nr):
        q = h + i
        st.pg[q].pstate = P_MAPPED
        st.pg[q].head = h
    st.pg[h].forder = order
    st.pg[h].fflags = flags
    lruvec_add_folio(st, h)


@njit(cache=True)
def do_anonymous_page(st, p, write):
    """do_anonymous_page() + alloc_anon_folio(): the zero page on a first read, else the
    highest enabled order whose aligned range is pte_none and inside the VMA."""
    if not write and not st.G[P_BASE + P_FIRST_READ_ALLOC]:
        st.pg[p].pstate = P_ZEROPAGE
        st.G[D_BASE + D_ZERO_PAGE_MAPS] += 1
        return
    orders = thp_vma_allowable_orders(st, p)
    order = 9
    chosen = 0
    while order > 0:
        if orders & (1 << order) and _suitable(st, p, order):
            nr = 1 << order
            r0 = p & ~(nr - 1)
            none = True
            for i in range(nr):
                s = st.pg[r0 + i].pstate
                if not (s == P_NONE or s == P_FREED) or st.pg[r0 + i].head >= 0:
                    none = False
                    break
            if none:
                break
            orders &= ~(1 << order)
        order -= 1
    # allocation: highest remaining order first, charge failures fall back
    while order > 0:
        if orders & (1 << order):
            if try_charge_memcg(st, 1 << order, st.pg[p].hint != 0):
                chosen = order
                break
            st.G[PS_BASE + (order) * PS_STRIDE + PS_ANON_FAULT_FALLBACK_CHARGE] += 1
            st.G[PS_BASE + (order) * PS_STRIDE + PS_ANON_FAULT_FALLBACK] += 1
        order -= 1
    if chosen == 0:
        try_charge_memcg(st, 1, True)
    else:
        st.G[PS_BASE + (chosen) * PS_STRIDE + PS_ANON_FAULT_ALLOC] += 1
    nr = 1 << chosen
    _install_folio(st, p & ~(nr - 1), chosen, F_DIRTY)
    st.pg[p].young = 1


@njit(cache=True)
def do_wp_page(st, p):
    """do_wp_page() on the shared zero page: copy on write into an order-0 folio."""
    try_charge_memcg(st, 1, True)
    _install_folio(st, p, 0, F_DIRTY)
    st.pg[p].young = 1


@njit(cache=True)
def can_swapin_thp(st, r0, nr):
    """can_swapin_thp(): nr swap PTEs with contiguous, aligned slots of one device,
    zeromap all or none, none in the swap cache (swap counts are 1: no fork)."""
    s0 = st.pg[r0].slot
    if s0 < 0 or s0 % nr != 0:
        return False
    zero = 0
    for i in range(nr):
        q = r0 + i
        if not is_swapped(st.pg[q].pstate) or st.pg[q].slot != s0 + i:
            return False
        if st.pg[q].pstate == P_ZEROMAP:
            zero += 1
    return zero == 0 or zero == nr


@njit(cache=True)
def fill_view(st, p, write, view):
    """What the kernel knows at the fault, for the policy (see replay.policies.base)."""
    view[:] = 0
    orders = thp_vma_allowable_orders(st, p)
    mask = 0
    for k in range(1, PMD_ORDER):
        if orders & (1 << k) and _suitable(st, p, k):
            nr = 1 << k
            r0 = p & ~(nr - 1)
            if can_swapin_thp(st, r0, nr):
                mask |= 1 << k
                z = 0
                d = 0
                zm = 0
                for i in range(nr):
                    s = st.pg[r0 + i].pstate
                    if s == P_ZSWAP:
                        z += 1
                    elif s == P_DEVICE:
                        d += 1
                    else:
                        zm += 1
                view[V_ZSWAP + k] = z
                view[V_DEVICE + k] = d
                view[V_ZEROMAP + k] = zm
    view[V_CANDIDATES] = mask
    view[V_BACKEND] = st.G[P_BASE + P_BACKEND]
    view[V_SYNC_IO] = 1 if st.G[P_BASE + P_BACKEND] == BACKEND_ZRAM else 0
    view[V_ZSWAP_EVER] = st.G[P_BASE + P_ZSWAP_EVER]
    view[V_MARGIN] = mem_cgroup_margin(st)
    view[V_WRITE] = 1 if write else 0
    view[V_HUGEPAGE] = st.pg[p].hint
    young = -1                       # not read by the policy (VIEW "ranges")
    if st.G[P_BASE + P_VIEW] >= VIEW_ALL:
        r0 = p & ~15
        lo = max(r0 - 16, p & ~511)
        hi = min(r0 + 32, (p & ~511) + 512)
        young = 0
        for q in range(lo, hi):
            if (q < r0 or q >= r0 + 16) and st.pg[q].pstate == P_MAPPED and st.pg[q].young:
                young += 1
    view[V_YOUNG_NEAR] = young
    last = st.G[S_LAST_FAULT_PAGE]
    view[V_ADJACENT] = 1 if last >= 0 and abs(p - last) <= 32 and p != last else 0
    return mask


@njit(cache=True)
def _next_lower(mask, order):
    k = order - 1
    while k > 0:
        if mask & (1 << k):
            return k
        k -= 1
    return 0


@njit(cache=True, inline="always")
def _swap_full(st):
    """mem_cgroup_swap_full() -> vm_swap_full() on cgroup v1: more than half of swap in use."""
    return st.G[P_BASE + P_SWAP_FULL_HALF] and 2 * st.G[S_SWAP_USED] > st.G[P_BASE + P_SWAP_SLOTS]


@njit(cache=True)
def _swapin_direct(st, p, order, write):
    """The SWP_SYNCHRONOUS_IO path of do_swap_page(): read the range into a new folio,
    bypassing the swap cache, and free its slots. The folio was charged already."""
    nr = 1 << order
    r0 = p & ~(nr - 1)
    shadow = st.pg[r0].shadow
    zs = 0
    dev = 0
    for i in range(nr):
        q = r0 + i
        where = swap_read_page(st, q)
        acct_swap_read(st, q, where, order)
        if where == P_ZSWAP:
            zs += 1
            st.pg[q].pstate = P_MAPPED     # the entry is gone; free_swap_slot_of must not drop it
        elif where == P_DEVICE:
            dev += 1
        free_swap_slot_of(st, q)
        st.pg[q].used = 1
    if order > 0:
        if zs or dev:
            # a zero-filled folio is read from the zeromap: swpin_zero only, as the kernel
            # (and the patches) count it
            st.G[PS_BASE + (order) * PS_STRIDE + PS_SWPIN] += 1
        if zs and dev:
            st.G[D_BASE + D_HYBRID] += 1
    if dev:
        zswap_folio_swapin(st)          # read from the device: the shrinker backs off
    st.G[D_BASE + D_SWAPIN_PAGES] += nr
    _install_folio(st, r0, order, F_DIRTY)
    lruvec_del_folio(st, r0)
    workingset_refault(st, r0, shadow, nr)
    lruvec_add_folio(st, r0)


@njit(cache=True, inline="always")
def _map_swapcache_page(st, p, write):
    """Map a swap cache folio (do_swap_page after the lookup or the read). A large one
    (kept in the swap cache when memory.zswap.writeback=0 refused it) is mapped whole,
    as v6.18 does for a folio whose swap PTEs all still point at it."""
    h = st.pg[p].head
    nr = 1 << st.pg[h].forder
    for i in range(nr):
        if st.pg[h + i].pstate == P_SWAPCACHE:
            st.pg[h + i].pstate = P_MAPPED
    if write or _swap_full(st):
        # should_try_to_free_swap() -> folio_free_swap(): the slots go, the folio is dirty
        for i in range(nr):
            free_swap_slot_of(st, h + i)
        st.pg[h].fflags &= ~F_SWAPCACHE
        st.pg[h].fflags |= F_DIRTY


@njit(cache=True)
def do_swap_page(st, p, write, policy_fn, view):
    """do_swap_page(): a fault on a swap PTE (or a page read ahead into the swap cache)."""
    if st.pg[p].pstate == P_SWAPCACHE:
        # swap_cache_get_folio() hit: a minor fault; swap_update_readahead()
        if st.pg[p].fflags & F_READAHEAD:
            st.pg[p].fflags &= ~F_READAHEAD
            st.G[S_RA_HITS] += 1
            st.G[C_BASE + C_SWAP_RA_HIT] += 1
        if not st.G[P_BASE + P_ROTATIONAL]:
            st.G[S_RA_PREV_PAGE] = p     # VMA readahead: the hit's address becomes the last one
        _map_swapcache_page(st, p, write)
        st.pg[p].young = 1
        if st.pg[p].used == 1:
            st.pg[p].used = 2
            st.G[D_BASE + D_SWAPIN_USED] += 1
        return
    st.G[C_BASE + C_PGMAJFAULT] += 1
    # no large order is allowed here, or the policy always says order 0 (VIEW "none"):
    # order 0, and the policy is not asked
    mask = 0
    if st.G[P_BASE + P_VIEW] != VIEW_NONE and thp_vma_allowable_orders(st, p):
        mask = fill_view(st, p, write, view)
    order = policy_fn(view) if mask else 0
    if order < 0 or order >= PMD_ORDER or (order > 0 and not mask & (1 << order)):
        order = 0
    if order > 0 and st.G[P_BASE + P_CHARGE_GUARD]:
        nr = 1 << order
        if view[V_MARGIN] < max(64, nr):
            st.G[D_BASE + D_GUARD] += 1
            st.G[PS_BASE + (order) * PS_STRIDE + PS_SWPIN_FALLBACK] += 1
            order = 0
    st.G[S_LAST_FAULT_PAGE] = p
    # alloc_swap_folio(): charge the chosen order, lower candidates on failure
    while order > 0:
        if try_charge_memcg(st, 1 << order, st.pg[p].hint != 0):
            break
        st.G[PS_BASE + (order) * PS_STRIDE + PS_SWPIN_FALLBACK_CHARGE] += 1
        st.G[PS_BASE + (order) * PS_STRIDE + PS_SWPIN_FALLBACK] += 1
        order = _next_lower(mask, order)
    if order > 0:
        # the charge may have reclaimed and written zswap entries back: check again,
        # as the kernel must after swapcache_prepare()
        nr = 1 << order
        again = fill_view(st, p, write, view)
        if not again & (1 << order) or policy_fn(view) < order:
            st.G[D_BASE + D_RACE] += 1
            page_counter_uncharge(st, nr)
            order = 0
    sync = st.G[P_BASE + P_BACKEND] == BACKEND_ZRAM
    if order > 0:
        _swapin_direct(st, p, order, write)
    elif sync:
        try_charge_memcg(st, 1, True)
        _swapin_direct(st, p, 0, write)
    else:
        swapin_readahead(st, p)
        _map_swapcache_page(st, p, write)
    st.pg[p].young = 1
    if st.pg[p].used == 1:
        st.pg[p].used = 2
        st.G[D_BASE + D_SWAPIN_USED] += 1


@njit(cache=True)
def deferred_split_folio(st, h):
    """deferred_split_scan() for one partially unmapped folio: split it, freeing its
    unmapped pages. Done before such a page faults again: one record per page cannot
    hold both the old unmapped subpage and the new folio the kernel allocates there."""
    nr = 1 << st.pg[h].forder
    lruvec_del_folio(st, h)
    split_folio(st, h)
    for i in range(nr):
        if st.pg[h + i].head == h + i:
            lruvec_add_folio(st, h + i)


@njit(cache=True)
def handle_mm_fault(st, p, write, policy_fn, view):
    """A fault: the page is not mapped, or a write hits the zero page."""
    st.G[C_BASE + C_PGFAULT] += 1
    s = st.pg[p].pstate
    if s == P_NONE or s == P_FREED:
        if st.pg[p].head >= 0:
            deferred_split_folio(st, st.pg[p].head)
        do_anonymous_page(st, p, write)
    elif s == P_ZEROPAGE:
        do_wp_page(st, p)
    else:
        do_swap_page(st, p, write, policy_fn, view)


@njit(cache=True)
def madvise_pageout(st, p):
    """MADV_PAGEOUT on the page: the folio mapping it is reclaimed whole (a recorder
    emits one event per page of the advised range; the first one takes the folio)."""
    s = st.pg[p].pstate
    if s == P_MAPPED or s == P_SWAPCACHE:
        h = st.pg[p].head
        if h >= 0:
            reclaim_pages(st, h)


@njit(cache=True)
def _free_whole_folio(st, h):
    nr = 1 << st.pg[h].forder
    lruvec_del_folio(st, h)
    for i in range(nr):
        q = h + i
        if st.pg[q].slot >= 0:
            free_swap_slot_of(st, q)
        st.pg[q].head = -1
        st.pg[q].young = 0
        st.pg[q].used = 0
        if st.pg[q].pstate == P_MAPPED or st.pg[q].pstate == P_SWAPCACHE:
            st.pg[q].pstate = P_FREED
    st.pg[h].fflags = 0
    st.pg[h].forder = 0
    page_counter_uncharge(st, nr)


@njit(cache=True)
def zap_page(st, p):
    """MADV_DONTNEED / munmap of one page (zap_pte_range): the PTE goes; a swap entry
    frees its slot; a large folio partly unmapped goes on the deferred split queue."""
    s = st.pg[p].pstate
    if s == P_MAPPED:
        h = st.pg[p].head
        order = st.pg[h].forder
        st.pg[p].pstate = P_FREED
        st.pg[p].young = 0
        if order == 0:
            _free_whole_folio(st, h)
            return
        mapped = 0
        for i in range(1 << order):
            if st.pg[h + i].pstate == P_MAPPED:
                mapped += 1
        if mapped == 0:
            _free_whole_folio(st, h)
        elif not st.pg[h].fflags & F_PARTIAL:
            st.pg[h].fflags |= F_PARTIAL
            st.G[PS_BASE + (order) * PS_STRIDE + PS_SPLIT_DEFERRED] += 1
    elif s == P_SWAPCACHE:
        h = st.pg[p].head
        if st.pg[h].forder > 0:
            # a large swap cache folio (kept by memory.zswap.writeback=0): split so that
            # the zapped page goes alone and the others stay cached (the kernel frees
            # the one swap entry without splitting; split_page counts the difference)
            deferred_split_folio(st, h)
        _free_whole_folio(st, st.pg[p].head)
    elif s == P_ZSWAP or s == P_DEVICE or s == P_ZEROMAP:
        free_swap_slot_of(st, p)
        st.pg[p].pstate = P_FREED
        st.pg[p].used = 0
    elif s == P_ZEROPAGE:
        st.pg[p].pstate = P_FREED

