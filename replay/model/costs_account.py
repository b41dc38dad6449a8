"""Simulated time: what the model's steps cost, booked into the T region of G.

The model (the other modules here) says what happened; the helpers below, called
at the few places where something takes time, say how long it took, from the cost
model (replay/costs/model.py: codec timings measured on page contents, documented
fault, memcg, reclaim and device parameters; docs/costs.md). Times are kept in
picoseconds (int64, so sub-ns parameters such as a TLB hit in cycles add up exactly;
about 106 days of simulated time fit).

Slots (``st.G[T_BASE + T_x]``):

* ``T_ON``: 1 when costs are booked (``install_costs``); a state made by
  ``new_state`` has 0 and every helper returns at once, so the model runs and
  counts exactly as without this module.
* ``T_KERNEL``: all modelled kernel work (faults, the reclaim they do, MADV_PAGEOUT).
  Simulated time = the trace's own time + ``T_KERNEL`` + TLB miss time.
* Inclusive: ``T_FAULT`` (inside any fault), ``T_SWAPIN`` (inside swap-in faults:
  do_swap_page, major or minor, with the reclaim its charges do), ``T_RECLAIM``
  (inside reclaim: scan, unmap, slot allocation, compression, zswap/zram store,
  device writes, zswap writeback). Leaf: ``T_COMPRESS``, ``T_DECOMPRESS``, ``T_IO``.
* ``T_SWPIN_FOLIOS + order``: folios swapped in per order (counted at the fault).

Compression unit (``T_UNIT_SHIFT``, log2 pages; 0 = per 4 KiB page as zswap and zram
do today): with multi-page units (the zsmalloc/zram multi-page RFC), a folio of at
least a unit is stored as whole units: each unit is compressed once (its measured
time), its pages share its stored size (``ucomp``, 16-byte steps adding up to the
unit's size) and are marked ``inunit``; a smaller folio is stored page by page as
today. Reading a page of a stored unit decompresses the whole unit: once per unit
when the folio read covers it (a large swap-in), once per page otherwise (order-0
swap-in, readahead, zswap writeback). Freeing a page frees its share (the kernel
would keep the object until its last page goes: not modelled).

Device I/O: a read waits for the device (``device_read_latency`` once per fault
that reads from the device: a readahead window or a large folio is one I/O, plus
transfer per page). Writes (pageout, zswap writeback) are asynchronous, pageout()
does not wait for them: only their transfer time (the device busy time) is booked.
"""

from __future__ import annotations

import numpy as np

from replay._compiled import njit
from replay.model.state import (
    BACKEND_ZRAM,
    D_BASE,
    D_SWAPIN_PAGES,
    F_PARTIAL,
    MAX_ORDER,
    MEMCG_CHARGE_BATCH,
    P_BACKEND,
    P_BASE,
    P_FREED,
    P_MAPPED,
    P_NONE,
    P_SWAPCACHE,
    P_ZEROMAP,
    P_ZEROPAGE,
    P_ZSWAP,
    T_BASE,
    T_SIZE,
)
from replay.tlb import tlb_flush_range

# ---- slots, relative to T_BASE
T_ON = 0
T_KERNEL = 1
T_FAULT = 2
T_SWAPIN = 3
T_RECLAIM = 4
T_COMPRESS = 5
T_DECOMPRESS = 6
T_IO = 7
T_IO_PENDING = 8      # the current fault read from the device: book its latency once
T_LAST_UNIT = 9       # unit decompressed by the current large read (-1 none)
T_UNIT_SHIFT = 10
T_TLB_OFF = 11        # offset in G of the TLB state (0 = no TLB model)
T_SHADOW_OFF = 12     # offset in G of its 4K-only shadow (0 = none)
T_TL_NEXT = 13        # timeline: next window boundary (accesses, or simulated ps)
T_TL_ROWS = 14        # timeline: rows written into the current buffer
T_TL_MODE = 15        # timeline: 0 off, 1 windows of accesses, 2 windows of simulated time
T_TL_WINDOW = 16      # timeline: window size (accesses, or ps)
T_TRACE_NS = 17       # the trace's own time (ns from its first access) at the last access replayed
T_SWPIN_FOLIOS = 20   # 20..29: folios swapped in, per order
T_CP = 32             # cost parameters in ps, CP_* below

# cost parameters (ps), filled by install_costs
(CP_FAULT_ENTRY, CP_ANON_FAULT_4K, CP_CLEAR_PAGE, CP_PTE_BATCH, CP_PTE, CP_RMAP_FOLIO,
 CP_RMAP_PAGE, CP_CHARGE, CP_CHARGE_REFILL, CP_LRU_ADD, CP_RECLAIM_SCAN, CP_RECLAIM_UNMAP,
 CP_SWAP_CACHE, CP_SLOT_ALLOC, CP_ZSWAP_STORE, CP_ZSWAP_LOAD, CP_ZRAM_READ, CP_ZRAM_WRITE,
 CP_DEV_READ_LAT, CP_DEV_READ_PAGE, CP_DEV_WRITE_PAGE, CP_TLB_L2, CP_TLB_WALK) = range(23)
NR_CP = 23
assert T_CP + NR_CP <= T_SIZE and T_SWPIN_FOLIOS + MAX_ORDER <= T_CP

PAGE_KIB = 4


# ---------------------------------------------------------------- Python side


def cost_params_ps(cm, device: str, tlb_l2_cycles: int, tlb_walk_cycles: int) -> np.ndarray:
    """The CP_* parameters in ps from a ``CostModel`` (replay.costs.model)."""
    p = cm.param
    ns = np.zeros(NR_CP, np.float64)
    ns[CP_FAULT_ENTRY] = p("fault_entry_exit_ns")
    ns[CP_ANON_FAULT_4K] = p("anon_fault_4k_ns")
    ns[CP_CLEAR_PAGE] = p("clear_page_ns_per_kib") * PAGE_KIB
    ns[CP_PTE_BATCH] = p("pte_batch_ns")
    ns[CP_PTE] = p("pte_ns_per_page")
    ns[CP_RMAP_FOLIO] = p("rmap_ns_per_folio")
    ns[CP_RMAP_PAGE] = p("rmap_ns_per_page")
    ns[CP_CHARGE] = p("memcg_charge_ns_per_folio")
    ns[CP_CHARGE_REFILL] = p("memcg_charge_refill_ns")
    ns[CP_LRU_ADD] = p("lru_add_ns_per_folio")
    ns[CP_RECLAIM_SCAN] = p("reclaim_scan_ns_per_folio")
    ns[CP_RECLAIM_UNMAP] = p("reclaim_unmap_ns_per_folio")
    ns[CP_SWAP_CACHE] = p("swap_cache_ns_per_folio")
    ns[CP_SLOT_ALLOC] = p("swap_slot_alloc_ns_per_folio")
    ns[CP_ZSWAP_STORE] = p("zswap_store_ns_per_page")
    ns[CP_ZSWAP_LOAD] = p("zswap_load_ns_per_page")
    ns[CP_ZRAM_READ] = p("zram_read_ns")
    ns[CP_ZRAM_WRITE] = p("zram_write_ns")
    ns[CP_DEV_READ_LAT] = p(f"{device}_read_latency_ns")
    ns[CP_DEV_READ_PAGE] = p(f"{device}_read_ns_per_kib") * PAGE_KIB
    ns[CP_DEV_WRITE_PAGE] = p(f"{device}_write_ns_per_kib") * PAGE_KIB
    ghz = p("cpu_ghz")
    ns[CP_TLB_L2] = tlb_l2_cycles / ghz
    ns[CP_TLB_WALK] = tlb_walk_cycles / ghz
    return np.rint(ns * 1000.0).astype(np.int64)


def install_costs(G: np.ndarray, params_ps: np.ndarray, unit_pages: int) -> None:
    """Switch cost booking on in a state's G (the engine calls this once per state)."""
    G[T_BASE:T_BASE + T_SIZE] = 0
    G[T_BASE + T_ON] = 1
    G[T_BASE + T_LAST_UNIT] = -1
    G[T_BASE + T_UNIT_SHIFT] = int(unit_pages).bit_length() - 1
    G[T_BASE + T_CP:T_BASE + T_CP + NR_CP] = params_ps


def unit_shares(unit_bytes: np.ndarray, unit_pages: int) -> np.ndarray:
    """Per page: its share of its unit's stored bytes, in 16-byte steps (zsmalloc's class
    spacing) adding up to the unit's size rounded up to 16; raw units are 4 KiB a page."""
    steps = (unit_bytes.astype(np.int64) + 15) // 16
    k = np.arange(unit_pages)
    share = (steps[:, None] // unit_pages + (k[None, :] < (steps % unit_pages)[:, None])) * 16
    return np.minimum(share, 4096).reshape(-1).astype(np.int32)


# ---------------------------------------------------------------- compiled helpers


@njit(cache=True, inline="always")
def _cp(st, i):
    return st.G[T_BASE + T_CP + i]


@njit(cache=True, inline="always")
def _book(st, slot, ps):
    st.G[T_BASE + slot] += ps
    st.G[T_BASE + T_KERNEL] += ps


@njit(cache=True, inline="always")
def tlb_unmap(st, first, npages):
    """The mappings of [first, first + npages) went away or changed (unmap, swap-out,
    split, COW): drop their TLB entries, in the TLB and its 4K-only shadow."""
    off = st.G[T_BASE + T_TLB_OFF]
    if off:
        tlb_flush_range(st.G[off:], first, npages)
        off = st.G[T_BASE + T_SHADOW_OFF]
        if off:
            tlb_flush_range(st.G[off:], first, npages)


@njit(cache=True, inline="always")
def tlb_order(st, h):
    """Order of the translation a folio gives its pages: its own, or 0 when it is only
    partly mapped (a PTE of it was zapped: no contpte block, no coalesced range)."""
    if st.pg[h].fflags & F_PARTIAL:
        return 0
    return st.pg[h].forder


@njit(cache=True, inline="always")
def acct_reclaim_scan(st, nr_folios):
    """Folios isolated and checked by reclaim (shrink_*_list, MADV_PAGEOUT)."""
    if st.G[T_BASE + T_ON]:
        _book(st, T_RECLAIM, nr_folios * _cp(st, CP_RECLAIM_SCAN))


@njit(cache=True, inline="always")
def acct_add_to_swap(st):
    """folio_alloc_swap() + add_to_swap_cache() for a folio being reclaimed."""
    if st.G[T_BASE + T_ON]:
        _book(st, T_RECLAIM, _cp(st, CP_SLOT_ALLOC) + _cp(st, CP_SWAP_CACHE))


@njit(cache=True, inline="always")
def acct_unmap_folio(st, h, nr):
    """try_to_unmap() with its TLB flush, and __remove_mapping(), of a reclaimed folio."""
    tlb_unmap(st, h, nr)
    if st.G[T_BASE + T_ON]:
        _book(st, T_RECLAIM, _cp(st, CP_RECLAIM_UNMAP) + _cp(st, CP_SWAP_CACHE))


@njit(cache=True, inline="always")
def select_store_sizes(st, h, order):
    """Before a zswap/zram store: the folio's pages take their unit share of the stored
    size when the folio holds whole compression units, else their own size."""
    shift = st.G[T_BASE + T_UNIT_SHIFT]
    if shift == 0 or not st.G[T_BASE + T_ON]:
        return
    whole = order >= shift
    for i in range(1 << order):
        q = h + i
        if whole:
            st.pg[q].comp = st.pg[q].ucomp
            st.pg[q].inunit = 1
        else:
            st.pg[q].comp = st.pg[q].comp1
            st.pg[q].inunit = 0


@njit(cache=True, inline="always")
def _compress_folio_ps(st, h, order):
    shift = st.G[T_BASE + T_UNIT_SHIFT]
    t = 0
    for i in range(1 << order):
        q = h + i
        if st.pg[q].inunit:
            if (q & ((1 << shift) - 1)) == 0:
                t += st.pg[q].uc_ns
        else:
            t += st.pg[q].c_ns
    return t * 1000


@njit(cache=True, inline="always")
def acct_zswap_store(st, h, order):
    """zswap_store() of a folio: compress every page (or unit), store the entries."""
    if not st.G[T_BASE + T_ON]:
        return
    c = _compress_folio_ps(st, h, order)
    other = (1 << order) * _cp(st, CP_ZSWAP_STORE)
    st.G[T_BASE + T_COMPRESS] += c
    _book(st, T_RECLAIM, c + other)


@njit(cache=True, inline="always")
def acct_swap_write(st, h, order):
    """swap_writeout() to the device: zram compresses and stores each page (or unit);
    a block device gets one write of the folio (asynchronous: transfer time only)."""
    if not st.G[T_BASE + T_ON]:
        return
    nr = 1 << order
    if st.G[P_BASE + P_BACKEND] == BACKEND_ZRAM:
        select_store_sizes(st, h, order)
        c = _compress_folio_ps(st, h, order)
        st.G[T_BASE + T_COMPRESS] += c
        _book(st, T_RECLAIM, c + nr * _cp(st, CP_ZRAM_WRITE))
    else:
        io = nr * _cp(st, CP_DEV_WRITE_PAGE)
        st.G[T_BASE + T_IO] += io
        _book(st, T_RECLAIM, io)


@njit(cache=True, inline="always")
def _decompress_ps(st, q, order):
    """Decompressing page q for a folio read of ``order``: the page, or its whole unit."""
    if not st.pg[q].inunit:
        return st.pg[q].d_ns * 1000
    shift = st.G[T_BASE + T_UNIT_SHIFT]
    if order >= shift:
        unit = q >> shift
        if st.G[T_BASE + T_LAST_UNIT] == unit:
            return 0
        st.G[T_BASE + T_LAST_UNIT] = unit
    return st.pg[q].ud_ns * 1000


@njit(cache=True)
def acct_zswap_writeback(st, p):
    """zswap_writeback_entry(): decompress the entry (its whole unit) and write the page."""
    if not st.G[T_BASE + T_ON]:
        return
    d = _decompress_ps(st, p, 0)
    io = _cp(st, CP_DEV_WRITE_PAGE)
    st.G[T_BASE + T_DECOMPRESS] += d
    st.G[T_BASE + T_IO] += io
    _book(st, T_RECLAIM, d + io)


@njit(cache=True, inline="always")
def acct_swap_read(st, q, where, order):
    """swap_read_folio() of page q into a folio of ``order``, from ``where`` (the page's
    state before the read: zeromap, zswap or device)."""
    if not st.G[T_BASE + T_ON]:
        return
    if where == P_ZEROMAP:
        st.G[T_BASE + T_KERNEL] += _cp(st, CP_CLEAR_PAGE)
    elif where == P_ZSWAP:
        d = _decompress_ps(st, q, order)
        st.G[T_BASE + T_DECOMPRESS] += d
        st.G[T_BASE + T_KERNEL] += d + _cp(st, CP_ZSWAP_LOAD)
    elif st.G[P_BASE + P_BACKEND] == BACKEND_ZRAM:
        d = _decompress_ps(st, q, order)
        st.G[T_BASE + T_DECOMPRESS] += d
        st.G[T_BASE + T_KERNEL] += d + _cp(st, CP_ZRAM_READ)
    else:
        _book(st, T_IO, _cp(st, CP_DEV_READ_PAGE))
        st.G[T_BASE + T_IO_PENDING] = 1


@njit(cache=True, inline="always")
def _charge_ps(st, nr):
    """mem_cgroup_charge() of nr pages: from the per-CPU stock, with a page_counter
    charge (the refill) every MEMCG_CHARGE_BATCH pages, or one for a larger folio."""
    return _cp(st, CP_CHARGE) + _cp(st, CP_CHARGE_REFILL) * min(nr, MEMCG_CHARGE_BATCH) \
        // MEMCG_CHARGE_BATCH


@njit(cache=True, inline="always")
def _map_ps(st, nr):
    """set_ptes() + folio_add_anon_rmap_ptes() of nr pages of one folio."""
    return (_cp(st, CP_PTE_BATCH) + nr * _cp(st, CP_PTE) + _cp(st, CP_RMAP_FOLIO)
            + nr * _cp(st, CP_RMAP_PAGE))


@njit(cache=True, inline="always")
def fault_begin(st):
    """Before handle_mm_fault(): a new fault reads units afresh."""
    st.G[T_BASE + T_LAST_UNIT] = -1
    return st.G[T_BASE + T_KERNEL]


@njit(cache=True)
def acct_fault(st, p, before, kernel0, swapin_pages0):
    """After handle_mm_fault() on page p (state ``before``): book the fault's own work
    (entry/exit, allocation and zeroing, charge, swap cache, LRU add, PTEs and rmap;
    what it read and reclaimed was booked on the way) and the time spent inside it.

    Anonymous faults use the measured order-0 fault (anon_fault_4k_ns) and add, for a
    large folio, zeroing and PTE/rmap work per extra page. A major swap fault on the
    order-0 path (swapin_readahead) charges, adds to the swap cache and LRU every page
    it read and maps one; a large or SWP_SYNCHRONOUS_IO swap-in does it once per folio
    (swapcache_prepare() standing for the swap cache add). Every swap fault, major or
    minor, starts with a swap cache lookup.
    """
    if not st.G[T_BASE + T_ON]:
        return
    G = st.G
    swap = False
    if before == P_NONE or before == P_FREED:
        if st.pg[p].pstate == P_ZEROPAGE:
            cost = _cp(st, CP_FAULT_ENTRY) + _cp(st, CP_PTE_BATCH) + _cp(st, CP_PTE)
        else:
            h = st.pg[p].head
            nr = 1 << st.pg[h].forder if h >= 0 else 1
            cost = _cp(st, CP_ANON_FAULT_4K) + (nr - 1) * (
                _cp(st, CP_CLEAR_PAGE) + _cp(st, CP_PTE) + _cp(st, CP_RMAP_PAGE))
    elif before == P_ZEROPAGE:
        cost = _cp(st, CP_ANON_FAULT_4K)          # do_wp_page(): copy into a new folio
    elif before == P_SWAPCACHE:
        swap = True                               # minor: swap cache hit
        cost = _cp(st, CP_FAULT_ENTRY) + _cp(st, CP_SWAP_CACHE) + _map_ps(st, 1)
    else:
        swap = True
        order = 0
        if st.pg[p].pstate == P_MAPPED and st.pg[p].head >= 0:
            order = st.pg[st.pg[p].head].forder
        cost = _cp(st, CP_FAULT_ENTRY) + _cp(st, CP_SWAP_CACHE)   # swap_cache_get_folio() miss
        if order > 0 or G[P_BASE + P_BACKEND] == BACKEND_ZRAM:
            nr = 1 << order
            cost += _charge_ps(st, nr) + _cp(st, CP_SWAP_CACHE) + _cp(st, CP_LRU_ADD) \
                + _map_ps(st, nr)
            G[T_BASE + T_SWPIN_FOLIOS + order] += 1
        else:
            nin = G[D_BASE + D_SWAPIN_PAGES] - swapin_pages0
            cost += nin * (_charge_ps(st, 1) + _cp(st, CP_SWAP_CACHE) + _cp(st, CP_LRU_ADD)) \
                + _map_ps(st, 1)
            G[T_BASE + T_SWPIN_FOLIOS] += nin
        if G[T_BASE + T_IO_PENDING]:
            G[T_BASE + T_IO_PENDING] = 0
            lat = _cp(st, CP_DEV_READ_LAT)
            G[T_BASE + T_IO] += lat
            cost += lat
    G[T_BASE + T_KERNEL] += cost
    spent = G[T_BASE + T_KERNEL] - kernel0
    G[T_BASE + T_FAULT] += spent
    if swap:
        G[T_BASE + T_SWAPIN] += spent
