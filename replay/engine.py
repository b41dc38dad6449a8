"""The replay engine: the one per-access loop, and ``simulate()`` around it.

The loop is compiled (numba). An access to a mapped page only sets its young
bit (and the folio's dirty bit on a write); everything rarer goes to the
model's fault, madvise and unmap paths (replay.model.memory). Several policies
are replayed in lockstep: the trace is read once, chunk by chunk, and each
chunk is fed to every policy's state. State persists across chunks, so the
chunk size does not change any result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numba import njit

from replay.errors import SettingsError
from replay.model.config import ModelConfig
from replay.model.invariants import check_invariants
from replay.model.memory import handle_mm_fault, madvise_pageout, zap_page
from replay.model.mm_inline import lruvec_add_folio, lruvec_del_folio
from replay.model.state import (
    BACKEND_DISK,
    BACKEND_ZRAM,
    BACKEND_ZSWAP,
    COUNTER_NAMES,
    D_BASE,
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
    P_ORDERS_MASK,
    P_PAGE_CLUSTER,
    P_POOL_LIMIT_BYTES,
    P_ROTATIONAL,
    P_SHRINKER,
    P_STOCK,
    P_SWAP_FULL_HALF,
    P_THP_ALWAYS,
    P_ZEROPAGE,
    P_ZSWAP_EVER,
    P_ZSWAP_MAX_BYTES,
    P_ZSWAP_WB,
    PER_SIZE_NAMES,
    S_ACCESS_INDEX,
    S_PEAK_POOL_BYTES,
    S_PEAK_RESIDENT,
    S_POOL_BYTES,
    S_RESIDENT,
    ModelState,
    StateView,
    new_state,
)
from replay.policies import Policy
from replay.policies import get as get_policy
from replay.policies.base import VIEW_SIZE
from replay.trace import BLOCK_PAGES, PAGE_SIZE, Trace, block_keys, open_trace

SCHEMA_VERSION = 1


@njit(cache=True)
def replay_chunk(st, pages, ops, policy_fn, view):
    """Feed one chunk of accesses (dense page ids, ops) through the model."""
    exact = st.G[P_BASE + P_EXACT_LRU]
    for i in range(pages.shape[0]):
        p = pages[i]
        op = ops[i]
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
                continue
            if s == P_ZEROPAGE and op == 0:
                continue
            handle_mm_fault(st, p, op == 1, policy_fn, view)
        elif op == 2:
            madvise_pageout(st, p)
        else:
            zap_page(st, p)
    st.G[S_ACCESS_INDEX] += pages.shape[0]


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
    return P


def page_layout(trace: Trace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per dense page: VMA bounds [lo, hi) clipped to its 2 MiB block, and MADV_HUGEPAGE.

    Without a regions sidecar, every touched 2 MiB block is one mapping, no hint."""
    blocks = trace.block_table()
    n = len(blocks) * BLOCK_PAGES
    idx = np.arange(n, dtype=np.int64)
    block_start = (idx >> 9) << 9
    lo = block_start.astype(np.int32)
    hi = (block_start + BLOCK_PAGES).astype(np.int32)
    hint = np.zeros(n, np.uint8)
    regions = trace.regions()
    if regions is None or regions.num_rows == 0:
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


def page_contents(trace: Trace, cfg: ModelConfig) -> PageContents:
    """Compressed sizes from the real codec (replay.costs) on the trace's contents."""
    from replay.costs.sizes import page_compressed_sizes
    sizes = page_compressed_sizes(trace, codec=cfg.compressor)
    return PageContents(np.asarray(sizes.comp_bytes, np.int32),
                        np.asarray(sizes.is_zero, bool), f"{cfg.compressor} on page contents")


def _build_state(trace: Trace, cfg: ModelConfig, contents: PageContents,
                 layout) -> ModelState:
    n = trace.num_dense_pages
    st = new_state(n, cfg.swap_bytes // PAGE_SIZE, params_from_config(cfg))
    pg = st.pg
    pg["comp"][:n] = contents.comp_bytes
    pg["zero"][:n] = contents.is_zero
    pg["vma_lo"][:n], pg["vma_hi"][:n], pg["hint"][:n] = layout
    return st


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
    derived["accesses"] = int(st.G[S_ACCESS_INDEX])
    return {
        "policy": policy.name,
        "config": {**cfg.to_dict(), "policy_origin": policy.origin,
                   "page_contents": contents.source},
        "counters": counters,
        "per_size": per_size,
        "derived": derived,
        "run": {"engine_seconds": engine_s, "total_seconds": total_s},
    }


def simulate(trace: Trace | str, config: ModelConfig, policies=("order0-fallback",), *,
             chunk_rows: int = 1 << 20, check: bool = True, progress=None,
             contents: PageContents | None = None, return_states: bool = False):
    """Replay the trace under each policy; one result dict per policy (see README).

    ``progress``, when given, is called with the number of accesses done so far.
    """
    t0 = time.perf_counter()
    config.validate()
    if not isinstance(trace, Trace):
        trace = open_trace(trace)
    if not policies:
        raise SettingsError("no policy to replay")
    pols = [get_policy(p) if isinstance(p, str) else p for p in policies]
    if contents is None:
        contents = page_contents(trace, config)
    layout = page_layout(trace)
    states = [_build_state(trace, config, contents, layout) for _ in pols]
    views = [np.zeros(VIEW_SIZE, np.int64) for _ in pols]
    engine_s = [0.0] * len(pols)
    done = 0
    for chunk in trace.iter_chunks(chunk_rows):
        pages = trace.dense_ids(chunk)
        ops = chunk.op
        for k, pol in enumerate(pols):
            t = time.perf_counter()
            replay_chunk(states[k], pages, ops, pol.decide, views[k])
            engine_s[k] += time.perf_counter() - t
        done += len(chunk)
        if progress is not None:
            progress(done)
    total = time.perf_counter() - t0
    results = []
    for k, pol in enumerate(pols):
        if check:
            problems = check_invariants(states[k])
            if problems:
                raise AssertionError(f"model invariant broken under {pol.name}: "
                                     + "; ".join(problems[:5]))
        results.append(result_of(states[k], pol, config, engine_s[k], total, contents))
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

