"""The replay engine: the one per-access loop, and ``simulate()`` around it.

The loop is compiled (numba). An access to a mapped page only sets its young
bit (and the folio's dirty bit on a write); everything rarer goes to the
model's fault, madvise and unmap paths (replay.model.memory). Several policies
are replayed in lockstep: the trace is read once, chunk by chunk, and each
chunk is fed to every policy's state. State persists across chunks, so the
chunk size does not change any result.
"""

from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numba import njit

from replay.errors import SettingsError
from replay.model.config import ModelConfig
from replay.model.costs_account import (
    CP_TLB_L2,
    CP_TLB_WALK,
    T_COMPRESS,
    T_DECOMPRESS,
    T_FAULT,
    T_IO,
    T_KERNEL,
    T_RECLAIM,
    T_SHADOW_OFF,
    T_SWAPIN,
    T_SWPIN_FOLIOS,
    T_TL_MODE,
    T_TL_NEXT,
    T_TL_ROWS,
    T_TL_WINDOW,
    T_TLB_OFF,
    T_TRACE_NS,
    acct_fault,
    cost_params_ps,
    fault_begin,
    install_costs,
    tlb_order,
    tlb_unmap,
    unit_shares,
)
from replay.model.invariants import check_invariants
from replay.model.memory import handle_mm_fault, madvise_pageout, zap_page
from replay.model.mm_inline import lruvec_add_folio, lruvec_del_folio
from replay.model.state import (
    BACKEND_DISK,
    BACKEND_ZRAM,
    BACKEND_ZSWAP,
    COUNTER_NAMES,
    D_BASE,
    D_SWAPIN_PAGES,
    D_SWAPIN_USED,
    DERIVED_NAMES,
    F_DIRTY,
    MAX_ORDER,
    NR_PARAMS,
    P_ACCEPT_BYTES,
    P_BACKEND,
    P_BASE,
    P_CHARGE_GUARD,
    P_EXACT_LRU,
    P_FIRST_READ_ALLOC,
    P_LIMIT_PAGES,
    P_MAPPED,
    P_MEMCG_V2,
    P_NR_PAGES,
    P_OOM_KILL,
    P_ORDERS_MASK,
    P_PAGE_CLUSTER,
    P_POOL_LIMIT_BYTES,
    P_ROTATIONAL,
    P_SHRINKER,
    P_STOCK,
    P_SWAP_FULL_HALF,
    P_THP_ALWAYS,
    P_VIEW,
    P_ZEROPAGE,
    P_ZSWAP_EVER,
    P_ZSWAP_MAX_BYTES,
    P_ZSWAP_WB,
    PER_SIZE_NAMES,
    S_ACCESS_INDEX,
    S_OOM,
    S_PEAK_POOL_BYTES,
    S_PEAK_RESIDENT,
    S_POOL_BYTES,
    S_RESIDENT,
    T_BASE,
    ModelState,
    StateView,
    new_state,
)
from replay.policies import Policy
from replay.policies import get as get_policy
from replay.policies.base import VIEW_LEVELS, VIEW_SIZE
from replay.timeline import (
    MODE_ACCESSES,
    MODE_OFF,
    MODE_TIME,
    Timeline,
    clock_ps,
    default_window,
    next_boundary,
    write_row,
)
from replay.tlb import TLBConfig, make_tlb_state, tlb_access, tlb_flush_range, tlb_summary
from replay.trace import BLOCK_PAGES, PAGE_SIZE, Trace, block_keys, open_trace

SCHEMA_VERSION = 1


@njit(cache=True, nogil=True)
def replay_chunk(st, pages, ops, tns, policy_fn, view, tl):
    """Feed one chunk of accesses (dense page ids, ops, trace time in ns) through the model.

    Every access to a mapped page is translated by the TLB model (when one is set up in
    G), with the coverage of the folio mapping it. Returns the number of accesses
    consumed: all of them, or fewer when the timeline buffer ``tl`` is full (the caller
    drains it and calls again with the rest). After an OOM kill with oom=kill, the
    policy's replay is over: the access that faulted is the last one counted, and later
    calls consume everything without replaying it.
    """
    G = st.G
    oom_kill = G[P_BASE + P_OOM_KILL]
    if oom_kill and G[S_OOM]:
        return pages.shape[0]
    exact = G[P_BASE + P_EXACT_LRU]
    toff = G[T_BASE + T_TLB_OFF]
    soff = G[T_BASE + T_SHADOW_OFF]
    tlb = G[toff:]
    shadow = G[soff:]
    tlb_on = toff > 0
    shadow_on = soff > 0
    mode = G[T_BASE + T_TL_MODE]
    window = G[T_BASE + T_TL_WINDOW]
    nxt = G[T_BASE + T_TL_NEXT]
    row = G[T_BASE + T_TL_ROWS]
    done0 = G[S_ACCESS_INDEX]
    last_ns = G[T_BASE + T_TRACE_NS]
    n = pages.shape[0]
    consumed = n
    for i in range(n):
        if mode != 0:
            if mode == 1:
                now = done0 + i
            else:
                now = clock_ps(G, last_ns, tlb_on, tlb)
            if now >= nxt:
                if row == tl.shape[0]:
                    consumed = i
                    break
                write_row(st, tl, row, done0 + i, last_ns, tlb_on, tlb)
                row += 1
                nxt = next_boundary(now, window)
        p = pages[i]
        op = ops[i]
        last_ns = tns[i]
        if op <= 1:
            s = st.pg[p].pstate
            if s == P_MAPPED:
                st.pg[p].young = 1
                h = st.pg[p].head
                if op == 1:
                    st.pg[h].fflags |= F_DIRTY
                if st.pg[p].used == 1:
                    st.pg[p].used = 2
                    st.G[D_BASE + D_SWAPIN_USED] += 1
                if exact:
                    lruvec_del_folio(st, h)
                    lruvec_add_folio(st, h)
                if tlb_on:
                    tlb_access(tlb, p, tlb_order(st, h))
                    if shadow_on:
                        tlb_access(shadow, p, 0)
                continue
            if s == P_ZEROPAGE and op == 0:
                if tlb_on:
                    tlb_access(tlb, p, 0)
                    if shadow_on:
                        tlb_access(shadow, p, 0)
                continue
            kernel0 = fault_begin(st)
            swapin0 = G[D_BASE + D_SWAPIN_PAGES]
            if s == P_ZEROPAGE:
                tlb_unmap(st, p, 1)           # copy on write replaces the zero-page PTE
            handle_mm_fault(st, p, op == 1, policy_fn, view)
            acct_fault(st, p, s, kernel0, swapin0)
            if oom_kill and G[S_OOM]:
                consumed = i + 1              # the workload is killed in this fault
                break
            if tlb_on:
                s = st.pg[p].pstate
                if s == P_MAPPED or s == P_ZEROPAGE:
                    order = tlb_order(st, st.pg[p].head) if s == P_MAPPED else 0
                    tlb_access(tlb, p, order)
                    if shadow_on:
                        tlb_access(shadow, p, 0)
        elif op == 2:
            madvise_pageout(st, p)
        else:
            s = st.pg[p].pstate
            if s == P_MAPPED or s == P_ZEROPAGE:
                tlb_unmap(st, p, 1)           # zap_pte_range() flushes what it cleared
            zap_page(st, p)
    st.G[S_ACCESS_INDEX] += consumed
    G[T_BASE + T_TRACE_NS] = last_ns
    G[T_BASE + T_TL_NEXT] = nxt
    G[T_BASE + T_TL_ROWS] = row
    return consumed


@njit(cache=True)
def shadow_chunk(s, pages, ops):
    """The 4K-only baseline TLB shared by all policies of a run: every read and write of
    the trace, flushed where the trace itself unmaps (MADV_PAGEOUT, MADV_DONTNEED or
    munmap of the page); reclaim's unmaps differ by policy and are left out."""
    for i in range(pages.shape[0]):
        if ops[i] <= 1:
            tlb_access(s, pages[i], 0)
        else:
            tlb_flush_range(s, pages[i], 1)


SHADOW_MODES = ("shared", "exact", "off")


def _shadow_mode(mode, tlb_cfg) -> str:
    if tlb_cfg is None or mode is False or mode is None:
        return "off"
    if mode is True:
        return "exact"
    if mode not in SHADOW_MODES:
        raise SettingsError(f"TLB shadow {mode!r} is not one of {', '.join(SHADOW_MODES)}")
    return mode


def params_from_config(cfg: ModelConfig) -> np.ndarray:
    """The flat parameter array the compiled model reads."""
    P = np.zeros(NR_PARAMS, np.int64)
    P[P_LIMIT_PAGES] = cfg.memory_limit_bytes // PAGE_SIZE
    mask = 0
    for kb in cfg.mthp_sizes_kb:
        mask |= 1 << ((kb * 1024 // PAGE_SIZE).bit_length() - 1)
    P[P_ORDERS_MASK] = mask
    P[P_BACKEND] = {"zswap": BACKEND_ZSWAP, "zram": BACKEND_ZRAM, "disk": BACKEND_DISK}[
        cfg.backend]
    P[P_POOL_LIMIT_BYTES] = cfg.zswap_pool_limit_bytes
    P[P_ACCEPT_BYTES] = cfg.zswap_pool_limit_bytes * cfg.zswap_accept_threshold_percent // 100
    P[P_SHRINKER] = int(cfg.zswap_shrinker)
    P[P_ZSWAP_WB] = int(cfg.zswap_writeback)
    P[P_ZSWAP_MAX_BYTES] = -1 if cfg.memcg_zswap_max_bytes is None else cfg.memcg_zswap_max_bytes
    P[P_PAGE_CLUSTER] = cfg.page_cluster
    P[P_ROTATIONAL] = int(cfg.rotational)
    P[P_EXACT_LRU] = int(cfg.reclaim == "exact-lru")
    P[P_MEMCG_V2] = int(cfg.memcg == "v2")
    P[P_FIRST_READ_ALLOC] = int(cfg.first_read == "allocate")
    P[P_CHARGE_GUARD] = int(cfg.charge_guard)
    P[P_ZSWAP_EVER] = int(cfg.zswap_ever_enabled)
    P[P_SWAP_FULL_HALF] = 1
    P[P_THP_ALWAYS] = int(cfg.thp_enabled == "always")
    P[P_STOCK] = int(cfg.reclaim != "exact-lru")
    P[P_OOM_KILL] = int(cfg.oom == "kill")
    P[P_VIEW] = VIEW_LEVELS["all"]     # simulate() sets each policy's own (its VIEW)
    return P


def page_layout(trace: Trace, hugepage_default: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per dense page: VMA bounds [lo, hi) clipped to its 2 MiB block, and MADV_HUGEPAGE.

    Without a regions sidecar, every touched 2 MiB block is one mapping, with
    MADV_HUGEPAGE when ``hugepage_default``."""
    blocks = trace.block_table()
    n = len(blocks) * BLOCK_PAGES
    idx = np.arange(n, dtype=np.int64)
    block_start = (idx >> 9) << 9
    lo = block_start.astype(np.int32)
    hi = (block_start + BLOCK_PAGES).astype(np.int32)
    hint = np.zeros(n, np.uint8)
    regions = trace.regions()
    if regions is None or regions.num_rows == 0:
        hint[:] = 1 if hugepage_default else 0
        return lo, hi, hint
    lo[:] = hi                  # unmapped unless a region covers it: empty bounds
    asid = regions.column("asid").to_numpy()
    start = regions.column("start_vpn").to_numpy()
    end = regions.column("end_vpn").to_numpy()
    huge = regions.column("hugepage").to_numpy(zero_copy_only=False)
    for a, s, e, hp in zip(asid, start, end, huge):
        k0 = np.searchsorted(blocks, block_keys(np.array([s]), np.array([a]))[0])
        k1 = np.searchsorted(blocks, block_keys(np.array([e - 1]), np.array([a]))[0], "right")
        for r in range(k0, k1):
            bvpn = (int(blocks[r]) & ((1 << 43) - 1)) << 9
            a0 = max(int(s), bvpn) - bvpn
            a1 = min(int(e), bvpn + BLOCK_PAGES) - bvpn
            base = r * BLOCK_PAGES
            lo[base + a0:base + a1] = base + a0
            hi[base + a0:base + a1] = base + a1
            hint[base + a0:base + a1] = 1 if hp else 0
    # pages no region covers are still mapped (the trace touched them): own block
    uncovered = lo >= hi
    lo[uncovered] = block_start[uncovered]
    hi[uncovered] = block_start[uncovered] + BLOCK_PAGES
    return lo, hi, hint


@dataclass
class PageContents:
    """What the model needs from page contents: compressed bytes and zero-filled pages."""

    comp_bytes: np.ndarray   # int32 per dense page
    is_zero: np.ndarray      # bool per dense page
    source: str
    sizes: object = None     # the PageSizes they came from (codec timings per content class)


def page_contents(trace: Trace, cfg: ModelConfig) -> PageContents:
    """Compressed sizes from the real codec (replay.costs) on the trace's contents."""
    from replay.costs.sizes import page_compressed_sizes
    sizes = page_compressed_sizes(trace, codec=cfg.compressor)
    return PageContents(np.asarray(sizes.comp_bytes, np.int32),
                        np.asarray(sizes.is_zero, bool), f"{cfg.compressor} on page contents",
                        sizes)


# Trace time of a trace whose times are only an order (meta.time_source "ordinal", e.g.
# lackey or ChampSim records): one memory access per ns, an estimate for instruction-level
# traces (a load or store every ~3 instructions at ~1 instruction per cycle at 3 GHz).
ORDINAL_NS_PER_ACCESS = 1
COMPRESSION_UNITS_KB = (4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


@dataclass
class PageCosts:
    """Per dense page: compress and decompress time (ns) of the page alone and of its
    compression unit, and its share of the unit's stored bytes (unit_pages > 1)."""

    unit_pages: int
    c_ns: np.ndarray
    d_ns: np.ndarray
    ucomp: np.ndarray
    uc_ns: np.ndarray
    ud_ns: np.ndarray
    unit_bytes: np.ndarray    # stored bytes per unit (per page when unit_pages == 1)
    source: str


def page_costs(trace: Trace, cfg: ModelConfig, contents: PageContents, cm,
               unit_pages: int = 1) -> PageCosts:
    """Codec times per page and per compression unit, from the cost model: the measured
    time of the content class when a page (unit) is of one generated class, else the
    size fit; raw (incompressible) pages decompress as a copy."""
    from replay.costs.sizes import page_compressed_sizes
    codec = cfg.compressor
    sizes = contents.sizes
    comp = np.asarray(contents.comp_bytes, np.int64)
    if sizes is not None:
        c, d = cm.unit_costs_ns(sizes, codec)
        source = "codec timings per content class (size fit for recorded or mixed pages)"
    else:
        c = cm.compress_ns(codec, PAGE_SIZE, comp)
        d = np.where(comp >= PAGE_SIZE, cm.param("copy_ns_per_kib") * PAGE_SIZE / 1024,
                     cm.decompress_ns(codec, comp, PAGE_SIZE))
        source = "codec size fit on the given sizes"
    n = len(comp)
    zeros = np.zeros(n, np.int32)
    if unit_pages == 1:
        return PageCosts(1, _ns32(c), _ns32(d), zeros, zeros, zeros,
                         np.minimum(comp, PAGE_SIZE), source)
    u = unit_pages
    if sizes is not None:
        su = page_compressed_sizes(trace, codec=codec, unit_pages=u)
        uc, ud = cm.unit_costs_ns(su, codec)
        unit_bytes = np.asarray(su.unit_comp_bytes, np.int64)
    else:
        unit_bytes = np.minimum(comp.reshape(-1, u).sum(axis=1), u * PAGE_SIZE)
        uc = cm.compress_ns(codec, u * PAGE_SIZE, unit_bytes)
        ud = np.where(unit_bytes >= u * PAGE_SIZE,
                      cm.param("copy_ns_per_kib") * u * PAGE_SIZE / 1024,
                      cm.decompress_ns(codec, unit_bytes, u * PAGE_SIZE))
    return PageCosts(u, _ns32(c), _ns32(d), unit_shares(unit_bytes, u),
                     _ns32(np.repeat(uc, u)), _ns32(np.repeat(ud, u)), unit_bytes, source)


def _ns32(a) -> np.ndarray:
    return np.minimum(np.rint(np.asarray(a, np.float64)), 2**31 - 1).astype(np.int32)


def _build_state(trace: Trace, cfg: ModelConfig, contents: PageContents,
                 layout) -> ModelState:
    n = trace.num_dense_pages
    st = new_state(n, cfg.swap_bytes // PAGE_SIZE, params_from_config(cfg))
    pg = st.pg
    pg["comp"][:n] = contents.comp_bytes
    pg["zero"][:n] = contents.is_zero
    pg["vma_lo"][:n], pg["vma_hi"][:n], pg["hint"][:n] = layout
    return st


@dataclass
class CostSetup:
    """Everything simulate() needs to book time and run the TLB model, shared by policies."""

    costs: PageCosts
    params_ps: np.ndarray
    tlb: TLBConfig | None
    shadow: str               # "shared", "exact" or "off" (SHADOW_MODES)
    cost_model: object
    device: str
    ordinal: bool
    ns_per_access: int


def _install(st: ModelState, setup: CostSetup):
    """The state with cost booking on and the TLB (and its 4K-only shadow) appended to G.

    Returns (state, TLB view, shadow view); the views are None without a TLB model."""
    n = int(st.G[P_BASE + P_NR_PAGES])
    parts = []
    if setup.tlb is not None:
        parts.append(make_tlb_state(setup.tlb))
        if setup.shadow == "exact":
            parts.append(make_tlb_state(setup.tlb.shadow()))
    base = len(st.G)                  # scalars ... and the swap device, then the TLBs
    G = np.zeros(base + sum(len(x) for x in parts), np.int64)
    G[:base] = st.G
    install_costs(G, setup.params_ps, setup.costs.unit_pages)
    views = [None, None]
    off = base
    for k, part in enumerate(parts):
        G[off:off + len(part)] = part
        G[T_BASE + (T_TLB_OFF if k == 0 else T_SHADOW_OFF)] = off
        views[k] = G[off:off + len(part)]
        off += len(part)
    pg = st.pg
    c = setup.costs
    pg["comp1"][:n] = pg["comp"][:n]
    pg["c_ns"][:n], pg["d_ns"][:n] = c.c_ns, c.d_ns
    pg["ucomp"][:n], pg["uc_ns"][:n], pg["ud_ns"][:n] = c.ucomp, c.uc_ns, c.ud_ns
    return st._replace(G=G), views[0], views[1]


def _ns(ps) -> float:
    return float(ps) / 1000.0


def time_of(st: ModelState, setup: CostSetup, tlb_view) -> dict:
    """The ``time`` section of a result: simulated time and where it went (ns)."""
    G = st.G
    t = {k: int(G[T_BASE + k]) for k in (T_KERNEL, T_FAULT, T_SWAPIN, T_COMPRESS,
                                         T_DECOMPRESS, T_IO, T_RECLAIM)}
    tlb_ps = 0
    if tlb_view is not None:
        c = tlb_summary(tlb_view)
        tlb_ps = int(c["l2_hits"] * setup.params_ps[CP_TLB_L2]
                     + c["walks"] * setup.params_ps[CP_TLB_WALK])
    trace_ns = int(G[T_BASE + T_TRACE_NS])
    swapin_pages = int(G[D_BASE + D_SWAPIN_PAGES])
    folios = {f"{(PAGE_SIZE << k) // 1024}kB": int(G[T_BASE + T_SWPIN_FOLIOS + k])
              for k in range(MAX_ORDER) if G[T_BASE + T_SWPIN_FOLIOS + k]}
    return {
        "total_ns": trace_ns + _ns(t[T_KERNEL] + tlb_ps),
        "trace_ns": trace_ns,
        "kernel_ns": _ns(t[T_KERNEL]),
        "tlb_ns": _ns(tlb_ps),
        "fault_ns": _ns(t[T_FAULT]),
        "swapin_ns": _ns(t[T_SWAPIN]),
        "compress_ns": _ns(t[T_COMPRESS]),
        "decompress_ns": _ns(t[T_DECOMPRESS]),
        "io_ns": _ns(t[T_IO]),
        "reclaim_ns": _ns(t[T_RECLAIM]),
        "swapin_ns_per_page": _ns(t[T_SWAPIN]) / swapin_pages if swapin_pages else 0.0,
        "swapin_folios": folios,
        "time_source": "ordinal" if setup.ordinal else "recorded",
        "ns_per_access": setup.ns_per_access if setup.ordinal else None,
        "cost_model": setup.cost_model.source,
        "device_costs": setup.device,
        "codec_costs": setup.costs.source,
    }


def tlb_of(setup: CostSetup, tlb_view, shadow_view) -> dict:
    """The ``tlb`` section: misses per 1000 accesses per level, and what the folio sizes
    saved against the same TLB with 4 KiB entries only (``shadow_view``: the policy's own
    exact 4K-only copy, or the one shared by all policies of the run)."""
    if setup.tlb is None:
        return {"config": None}
    cfg = setup.tlb
    out: dict = {"config": cfg.to_dict()}
    main = tlb_summary(tlb_view)

    def levels(c: dict) -> dict:
        acc = max(1, c["accesses"])
        return {"l1": 1000.0 * (c["l2_hits"] + c["walks"]) / acc,
                "l2": 1000.0 * c["walks"] / acc}

    ghz = setup.cost_model.param("cpu_ghz")
    out.update({k: main[k] for k in ("accesses", "l1_hits", "l2_hits", "walks", "cycles",
                                     "flush_ranges", "flush_all", "invalidated")})
    out["misses_per_1000"] = levels(main)
    out["ns"] = main["cycles"] / ghz
    if shadow_view is not None:
        base = tlb_summary(shadow_view)
        out["shadow_4k"] = {"mode": setup.shadow, "accesses": base["accesses"],
                            "walks": base["walks"], "l2_hits": base["l2_hits"],
                            "cycles": base["cycles"], "misses_per_1000": levels(base)}
        out["walks_saved"] = base["walks"] - main["walks"]
        out["cycles_saved"] = base["cycles"] - main["cycles"]
        out["ns_saved"] = out["cycles_saved"] / ghz
    return out


def compression_of(st: ModelState, costs: PageCosts, codec: str) -> dict:
    """Bytes and codec time to compress every touched page once, per 4 KiB page and (with
    a larger unit) per unit: the multi-page compression comparison, independent of policy."""
    v = StateView(st)
    touched = np.flatnonzero(v.pstate != 0)

    def stored(b):
        return int(((np.asarray(b, np.int64) + 15) // 16 * 16).sum())

    npg = max(1, len(touched))
    comp1 = np.minimum(v.comp1[touched], PAGE_SIZE)
    out = {"codec": codec, "unit_kb": costs.unit_pages * PAGE_SIZE // 1024,
           "pages": len(touched),
           "per_page": {"stored_bytes": stored(comp1),
                        "compress_ns_per_page": float(v.c_ns[touched].sum()) / npg,
                        "decompress_ns_per_page": float(v.d_ns[touched].sum()) / npg}}
    if costs.unit_pages > 1:
        u = costs.unit_pages
        units = np.unique(touched // u)
        first = units * u
        out["per_unit"] = {"units": len(units),
                           "stored_bytes": stored(costs.unit_bytes[units]),
                           "compress_ns_per_page": float(v.uc_ns[first].sum()) / (len(units) * u)
                           if len(units) else 0.0,
                           "decompress_ns_per_page": float(v.ud_ns[first].sum())
                           / (len(units) * u) if len(units) else 0.0}
    return out


def result_of(st: ModelState, policy: Policy, cfg: ModelConfig, engine_s: float,
              total_s: float, contents: PageContents) -> dict:
    v = StateView(st)
    counters = {name: int(v.C[i]) for i, name in enumerate(COUNTER_NAMES)}
    per_size = {}
    enabled = {(kb * 1024 // PAGE_SIZE).bit_length() - 1 for kb in cfg.mthp_sizes_kb}
    for order in range(1, MAX_ORDER):
        row = v.PS[order, :len(PER_SIZE_NAMES)]
        if order in enabled or row.any():
            per_size[f"{(PAGE_SIZE << order) // 1024}kB"] = {
                name: int(row[i]) for i, name in enumerate(PER_SIZE_NAMES)}
    derived = {name: int(v.D[i]) for i, name in enumerate(DERIVED_NAMES)}
    swapped_in = derived["swapin_pages"]
    derived["swapin_amplification"] = (swapped_in / derived["swapin_pages_used"]
                                       if derived["swapin_pages_used"] else 0.0)
    derived["peak_resident_bytes"] = int(st.G[S_PEAK_RESIDENT]) * PAGE_SIZE
    derived["peak_pool_bytes"] = int(st.G[S_PEAK_POOL_BYTES])
    derived["final_resident_bytes"] = int(st.G[S_RESIDENT]) * PAGE_SIZE
    derived["final_pool_bytes"] = int(st.G[S_POOL_BYTES])
    derived["accesses"] = int(st.G[S_ACCESS_INDEX])     # replayed: fewer after an OOM kill
    derived["oom_killed"] = bool(cfg.oom == "kill" and st.G[S_OOM])
    return {
        "policy": policy.name,
        "config": {**cfg.to_dict(), "policy_origin": policy.origin,
                   "page_contents": contents.source},
        "counters": counters,
        "per_size": per_size,
        "derived": derived,
        "run": {"engine_seconds": engine_s, "total_seconds": total_s},
    }


def _tlb_config(tlb) -> TLBConfig | None:
    if tlb is None or isinstance(tlb, TLBConfig):
        return None if tlb is None or tlb.arch == "none" else tlb.validate()
    if str(tlb).lower() in ("none", "off"):
        return None
    return TLBConfig.preset(str(tlb).lower())


def simulate(trace: Trace | str, config: ModelConfig, policies=("order0-fallback",), *,
             chunk_rows: int = 1 << 20, check: bool = True, progress=None,
             contents: PageContents | None = None, return_states: bool = False,
             cost_model=None, device: str | None = None, compression_unit_kb: int = 4,
             tlb="x86", tlb_shadow: str | bool = "exact", timeline: bool = True,
             timeline_accesses: int | None = None, timeline_ns: int | None = None,
             ordinal_ns_per_access: int = ORDINAL_NS_PER_ACCESS, threads: int | None = None):
    """Replay the trace under each policy; one result dict per policy (see README).

    ``progress``, when given, is called with the number of accesses done so far.
    Costs: ``cost_model`` (a CostModel, a path, or None for the shipped one), ``device``
    (nvme or hdd; default hdd for a rotational swap device), ``compression_unit_kb``
    (4 = per page; 16, 64 ... = multi-page units). ``tlb``: a TLBConfig, a preset name
    (x86, arm64, zen4, neoverse-n2, ...) or None; ``tlb_shadow``: the 4K-only baseline
    for the cycles saved, "exact" (one per policy, flushed with the model), "shared" (one
    for all policies, flushed only where the trace itself unmaps: cheaper, but it misses
    the flushes of reclaim and of copy-on-write from the zero page) or "off". Timeline windows: ``timeline_accesses`` accesses or
    ``timeline_ns`` of simulated time (default: about 500 windows of accesses).
    ``threads``: policies replayed side by side (default: one per CPU); ``engine_seconds``
    is each policy's own time in the loop either way (wall time of its thread).
    """
    with contextlib.ExitStack() as cleanup:
        return _simulate(trace, config, policies, cleanup, chunk_rows=chunk_rows,
                         check=check, progress=progress, contents=contents,
                         return_states=return_states, cost_model=cost_model, device=device,
                         compression_unit_kb=compression_unit_kb, tlb=tlb,
                         tlb_shadow=tlb_shadow, timeline=timeline,
                         timeline_accesses=timeline_accesses, timeline_ns=timeline_ns,
                         ordinal_ns_per_access=ordinal_ns_per_access, threads=threads)


def _simulate(trace, config, policies, cleanup, *, chunk_rows, check, progress, contents,
              return_states, cost_model, device, compression_unit_kb, tlb, tlb_shadow,
              timeline, timeline_accesses, timeline_ns, ordinal_ns_per_access, threads):
    from replay.costs.model import CostModel
    t0 = time.perf_counter()
    config.validate()
    if not isinstance(trace, Trace):
        trace = open_trace(trace)
    if not policies:
        raise SettingsError("no policy to replay")
    if threads is not None and threads < 1:
        raise SettingsError(f"threads must be at least 1, not {threads}")
    pols = [get_policy(p) if isinstance(p, str) else p for p in policies]
    if compression_unit_kb not in COMPRESSION_UNITS_KB:
        raise SettingsError(f"compression unit {compression_unit_kb}K is not one of "
                            f"{', '.join(f'{k}K' for k in COMPRESSION_UNITS_KB)}")
    if timeline_accesses is not None and timeline_ns is not None:
        raise SettingsError("a timeline window is either accesses or a time, not both")
    for name, w in (("accesses", timeline_accesses), ("time", timeline_ns)):
        if w is not None and w <= 0:
            raise SettingsError(f"timeline window ({name}) must be positive")
    cm = cost_model if isinstance(cost_model, CostModel) else CostModel.load(cost_model)
    device = device or ("hdd" if config.rotational else "nvme")
    if device not in ("nvme", "hdd"):
        raise SettingsError(f"device costs {device!r} are not nvme or hdd")
    if ordinal_ns_per_access < 0:
        raise SettingsError("ordinal ns per access must not be negative")
    tlb_cfg = _tlb_config(tlb)
    if contents is None:
        contents = page_contents(trace, config)
    layout = page_layout(trace, config.hugepage_default)
    setup = CostSetup(
        costs=page_costs(trace, config, contents, cm, compression_unit_kb * 1024 // PAGE_SIZE),
        params_ps=cost_params_ps(cm, device, tlb_cfg.l2_hit_cycles if tlb_cfg else 0,
                                 tlb_cfg.walk_cycles if tlb_cfg else 0),
        tlb=tlb_cfg, shadow=_shadow_mode(tlb_shadow, tlb_cfg), cost_model=cm, device=device,
        ordinal=trace.meta.time_source == "ordinal", ns_per_access=int(ordinal_ns_per_access))
    installed = [_install(_build_state(trace, config, contents, layout), setup) for _ in pols]
    states = [x[0] for x in installed]
    for st, pol in zip(states, pols):
        st.G[P_BASE + P_VIEW] = VIEW_LEVELS[pol.view]
    views = [np.zeros(VIEW_SIZE, np.int64) for _ in pols]
    if not timeline:
        mode, window = MODE_OFF, 1
    elif timeline_ns is not None:
        mode, window = MODE_TIME, int(timeline_ns) * 1000
    else:
        mode, window = MODE_ACCESSES, int(timeline_accesses or default_window(
            trace.num_accesses))
    timelines = [Timeline(st.G, mode, window) for st in states]
    engine_s = [0.0] * len(pols)
    shared = make_tlb_state(tlb_cfg.shadow()) if setup.shadow == "shared" else None
    shadow_s = 0.0
    done = 0
    t_first = None
    workers = min(len(pols), threads or os.cpu_count() or 1)
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    if pool:
        cleanup.callback(pool.shutdown)
    for chunk in trace.iter_chunks(chunk_rows):
        pages = trace.dense_ids(chunk)
        ops = chunk.op
        if setup.ordinal:
            tns = (np.arange(len(chunk), dtype=np.int64) + done) * setup.ns_per_access
        else:
            if t_first is None and len(chunk):
                t_first = int(chunk.time_ns[0])
            tns = np.asarray(chunk.time_ns, np.int64) - (t_first or 0)
        def replay_policy(k, pages=pages, ops=ops, tns=tns):
            # an empty call first: numba's compile (first run) or cache load happens here,
            # outside engine_seconds (it consumes nothing and changes nothing)
            replay_chunk(states[k], pages[:0], ops[:0], tns[:0], pols[k].decide, views[k],
                         timelines[k].buffer)
            t = time.perf_counter()
            pos = 0
            while True:
                pos += replay_chunk(states[k], pages[pos:], ops[pos:], tns[pos:],
                                    pols[k].decide, views[k], timelines[k].buffer)
                timelines[k].drain(states[k].G)
                if pos >= len(pages):
                    break
            return time.perf_counter() - t

        # policies have their own state: they replay the chunk side by side (the compiled
        # loop releases the GIL)
        seconds = pool.map(replay_policy, range(len(pols))) if pool else map(
            replay_policy, range(len(pols)))
        for k, sec in enumerate(seconds):
            engine_s[k] += sec
        if shared is not None:
            t = time.perf_counter()
            shadow_chunk(shared, pages, ops)
            shadow_s += time.perf_counter() - t
        done += len(chunk)
        if progress is not None:
            progress(done)
        if config.oom == "kill" and all(st.G[S_OOM] for st in states):
            break                     # every policy's workload was OOM-killed
    total = time.perf_counter() - t0
    results = []
    for k, pol in enumerate(pols):
        st, tlb_view, shadow_view = installed[k][0], installed[k][1], installed[k][2]
        if shared is not None:
            shadow_view = shared
        if check:
            problems = check_invariants(st)
            if problems:
                raise AssertionError(f"model invariant broken under {pol.name}: "
                                     + "; ".join(problems[:5]))
        if mode != MODE_OFF:
            timelines[k].finish(st, tlb_view is not None,
                                tlb_view if tlb_view is not None else st.G,
                                int(st.G[S_ACCESS_INDEX]),
                                int(st.G[T_BASE + T_TRACE_NS]))
        # each policy's engine time carries its share of the shared 4K-only shadow
        r = result_of(st, pol, config, engine_s[k] + shadow_s / len(pols), total, contents)
        r["config"].update({"compression_unit_kb": compression_unit_kb,
                            "cost_model": cm.source, "device_costs": device,
                            "tlb": tlb_cfg.name if tlb_cfg else "none"})
        r["time"] = time_of(st, setup, tlb_view)
        r["tlb"] = tlb_of(setup, tlb_view, shadow_view)
        r["compression"] = compression_of(st, setup.costs, config.compressor)
        if mode != MODE_OFF:
            r["timeline"] = timelines[k].to_dict()
        results.append(r)
    if return_states:
        return results, states
    return results


def trace_header(trace: Trace) -> dict:
    m = trace.meta
    return {"path": str(trace.path), "accesses": int(trace.num_accesses),
            "dense_pages": int(trace.num_dense_pages), "source_format": m.source_format,
            "source_file": m.source_file, "sampled": bool(m.sampled),
            "description": m.description}


def run_document(trace: Trace, results: list[dict]) -> dict:
    """The `replay run --json` document."""
    return {"schema_version": SCHEMA_VERSION, "trace": trace_header(trace), "results": results}

