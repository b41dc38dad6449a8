"""The replay engine: ``simulate()`` around the model's replay loop.

The model and its per-access loop are C (replay/mm, compiled when the package is
installed): an access to a mapped page only sets its young bit (and the folio's
dirty bit on a write); everything rarer goes to the model's fault, madvise and
unmap paths. Several policies are replayed in lockstep: the trace is read once,
chunk by chunk, and each chunk is fed to every policy's model, side by side in
threads (the loop releases the GIL). State persists across chunks, so the chunk
size does not change any result.

Memory follows the pages a replay can reach, not the address space: the model
keeps a record for each 16-page chunk of the dense id space that holds a page the
trace touches, widened to whole aligned ranges of the largest folio (or
compression unit) the settings allow (``PageSpace``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from replay import _mm
from replay.errors import SettingsError
from replay.model.config import BACKEND_VIEW_CODE, ModelConfig
from replay.model.invariants import check_invariants
from replay.model.state import (
    CHUNK_PAGES,
    COUNTER_NAMES,
    DERIVED_NAMES,
    MAX_ORDER,
    PER_SIZE_NAMES,
)
from replay.policies import Policy
from replay.policies import get as get_policy
from replay.policies.base import VIEW_LEVELS
from replay.timeline import (
    MODE_ACCESSES,
    MODE_OFF,
    MODE_TIME,
    Timeline,
    default_window,
)
from replay.tlb import TLBConfig, c_args, counters_of, summary_of
from replay.trace import BLOCK_PAGES, PAGE_SIZE, Trace, block_keys, open_trace

SCHEMA_VERSION = 1
CHUNK_SHIFT = CHUNK_PAGES.bit_length() - 1

SWP_FLAGS = {"blkdev": _mm.SWP_BLKDEV, "solidstate": _mm.SWP_SOLIDSTATE,
             "synchronous_io": _mm.SWP_SYNCHRONOUS_IO, "compressed": _mm.SWP_COMPRESSED}


def model_config(cfg: ModelConfig, view: str = "all") -> dict:
    """The settings as the C model reads them (replay/mm/mm.h struct mm_config)."""
    orders = 0
    for kb in cfg.mthp_sizes_kb:
        orders |= 1 << ((kb * 1024 // PAGE_SIZE).bit_length() - 1)
    flags = 0
    for cap in cfg.swap_caps:
        flags |= SWP_FLAGS[cap]
    pool = cfg.zswap_pool_limit_bytes
    return {
        "limit_pages": cfg.memory_limit_bytes // PAGE_SIZE,
        "orders": orders,
        "thp_always": int(cfg.thp_enabled == "always"),
        "swp_flags": flags,
        "zswap_enabled": int(cfg.zswap_enabled),
        "zswap_ever_enabled": int(cfg.zswap_ever_enabled),
        "zswap_pool_limit_bytes": pool,
        "zswap_accept_bytes": pool * cfg.zswap_accept_threshold_percent // 100,
        "zswap_shrinker": int(cfg.zswap_shrinker),
        "zswap_writeback": int(cfg.zswap_writeback),
        "zswap_max_bytes": -1 if cfg.memcg_zswap_max_bytes is None else cfg.memcg_zswap_max_bytes,
        "page_cluster": cfg.page_cluster,
        "exact_lru": int(cfg.reclaim == "exact-lru"),
        "memcg_v2": int(cfg.memcg == "v2"),
        "first_read_allocates": int(cfg.first_read == "allocate"),
        "charge_guard": int(cfg.charge_guard),
        "swap_full_half": 1,
        "charge_stock": int(cfg.reclaim != "exact-lru"),
        "oom_kill": int(cfg.oom == "kill"),
        "view": VIEW_LEVELS[view],
        "backend_code": BACKEND_VIEW_CODE[cfg.backend],
    }


# ---------------------------------------------------------------- the pages a replay reaches


@dataclass
class PageSpace:
    """The page records of a replay: the dense id space (``nr_pages``, 512 per 2 MiB block
    of the trace), the 16-page chunks that have records (``chunks``, sorted), the
    directory the model looks records up in (``dir``: record chunk per chunk, -1 none)
    and the dense id of every record (``ids``)."""

    nr_pages: int
    chunks: np.ndarray
    dir: np.ndarray
    ids: np.ndarray

    @property
    def nr_records(self) -> int:
        return len(self.ids)

    def index(self, pages: np.ndarray) -> np.ndarray:
        """Record index of each dense page id (-1 where there is none)."""
        pages = np.asarray(pages, np.int64)
        c = self.dir[pages >> CHUNK_SHIFT].astype(np.int64)
        return np.where(c >= 0, (c << CHUNK_SHIFT) | (pages & (CHUNK_PAGES - 1)), -1)



def reach_order(cfg: ModelConfig, unit_pages: int = 1) -> int:
    """The largest aligned range the model may touch around a page the trace touches: its
    largest folio (mTHP size) or compression unit, as an order."""
    orders = [(kb * 1024 // PAGE_SIZE).bit_length() - 1 for kb in cfg.mthp_sizes_kb]
    return max([0, *orders, int(unit_pages).bit_length() - 1])


def touched_chunks(trace: Trace) -> np.ndarray:
    """Sorted dense chunk numbers (id >> 4) of the chunks the trace touches (any op)."""
    masks = getattr(trace, "block_chunk_masks", None)
    if masks is not None:
        m = np.asarray(masks(), np.uint32)
        bits = np.unpackbits(m.astype("<u4").view(np.uint8).reshape(-1, 4), axis=1,
                             bitorder="little")
        rank, bit = np.nonzero(bits)
        return (rank.astype(np.int64) * (BLOCK_PAGES // CHUNK_PAGES) + bit)
    seen = np.zeros(trace.num_dense_pages // CHUNK_PAGES, bool)
    for ch in trace.iter_chunks():
        seen[trace.dense_ids(ch) >> CHUNK_SHIFT] = True
    return np.flatnonzero(seen).astype(np.int64)


def page_space(trace: Trace, order: int) -> PageSpace:
    """The records for a replay whose folios and units are at most ``order``."""
    nr_pages = trace.num_dense_pages
    chunks = touched_chunks(trace)
    group = 1 << max(0, order - CHUNK_SHIFT)         # chunks per aligned range of the order
    if group > 1:
        chunks = np.unique((chunks // group)[:, None] * group + np.arange(group))
    if 2 * len(chunks) >= nr_pages // CHUNK_PAGES:
        # most of the id space: records for all of it, looked up without the directory
        chunks = np.arange(nr_pages // CHUNK_PAGES, dtype=np.int64)
    dir_ = np.full(nr_pages // CHUNK_PAGES, -1, np.int32)
    dir_[chunks] = np.arange(len(chunks), dtype=np.int32)
    ids = (chunks[:, None] * CHUNK_PAGES + np.arange(CHUNK_PAGES)).reshape(-1)
    return PageSpace(nr_pages, chunks, dir_, ids)


def page_layout(trace: Trace, hugepage_default: bool = False, ids: np.ndarray | None = None,
                hugepage_all: bool = False, block_mappings: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per page (``ids``, sorted dense ids; default every dense page): VMA bounds [lo, hi)
    clipped to its 2 MiB block, and MADV_HUGEPAGE.

    Without a regions sidecar, every touched 2 MiB block is one mapping, with
    MADV_HUGEPAGE when ``hugepage_default``. ``block_mappings``: every touched block is one
    mapping anyway (as the live replayer maps a trace), MADV_HUGEPAGE when a region asks it
    for any page of the block. ``hugepage_all`` madvises every mapping."""
    if hugepage_all or block_mappings:
        lo, hi, hint = page_layout(trace, hugepage_default, ids)
        if block_mappings:
            block_start = (np.asarray(lo, np.int64) >> 9) << 9
            lo = block_start.astype(np.int32)
            hi = (block_start + BLOCK_PAGES).astype(np.int32)
            _, first, inverse = np.unique(block_start, return_index=True, return_inverse=True)
            per_block = np.maximum.reduceat(hint, first) if len(first) else hint
            hint = per_block[inverse].astype(np.uint8)
        if hugepage_all:
            hint[:] = 1
        return lo, hi, hint
    blocks = trace.block_table()
    if ids is None:
        ids = np.arange(len(blocks) * BLOCK_PAGES, dtype=np.int64)
    ids = np.asarray(ids, np.int64)
    block_start = (ids >> 9) << 9
    lo = block_start.astype(np.int32)
    hi = (block_start + BLOCK_PAGES).astype(np.int32)
    hint = np.zeros(len(ids), np.uint8)
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
            i0, i1 = np.searchsorted(ids, [base + a0, base + a1])
            lo[i0:i1] = base + a0
            hi[i0:i1] = base + a1
            hint[i0:i1] = 1 if hp else 0
    # pages no region covers are still mapped (the trace touched them): own block
    uncovered = lo >= hi
    lo[uncovered] = block_start[uncovered]
    hi[uncovered] = block_start[uncovered] + BLOCK_PAGES
    return lo, hi, hint


@dataclass
class PageContents:
    """What the model needs from page contents: compressed bytes and zero-filled pages,
    per page of ``pages`` (sorted dense ids), or per dense page when ``pages`` is None."""

    comp_bytes: np.ndarray   # int32 per page
    is_zero: np.ndarray      # bool per page
    source: str
    sizes: object = None     # the PageSizes they came from (codec timings per content class)
    pages: np.ndarray | None = None

    def for_pages(self, ids: np.ndarray) -> PageContents:
        """The same contents for the pages ``ids`` (a subset of these pages)."""
        if self.pages is not None and len(self.pages) == len(ids) and \
                np.array_equal(self.pages, ids):
            return self
        if self.sizes is not None:
            raise ValueError("contents with codec sizes cannot be re-indexed")
        at = ids if self.pages is None else np.searchsorted(self.pages, ids)
        return PageContents(np.asarray(self.comp_bytes)[at], np.asarray(self.is_zero)[at],
                            self.source, None, np.asarray(ids, np.int64))


def page_contents(trace: Trace, cfg: ModelConfig, ids: np.ndarray | None = None
                  ) -> PageContents:
    """Compressed sizes from the real codec (replay.costs) on the trace's contents, for the
    pages ``ids`` (default every dense page)."""
    from replay.costs.sizes import page_compressed_sizes
    sizes = page_compressed_sizes(trace, codec=cfg.compressor, pages=ids)
    return PageContents(np.asarray(sizes.comp_bytes, np.int32),
                        np.asarray(sizes.is_zero, bool), f"{cfg.compressor} on page contents",
                        sizes, None if ids is None else np.asarray(ids, np.int64))


# Trace time of a trace whose times are only an order (meta.time_source "ordinal", e.g.
# lackey or ChampSim records): one memory access per ns, an estimate for instruction-level
# traces (a load or store every ~3 instructions at ~1 instruction per cycle at 3 GHz).
ORDINAL_NS_PER_ACCESS = 1
COMPRESSION_UNITS_KB = (4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


@dataclass
class PageCosts:
    """Per page: compress and decompress time (ns) of the page alone and of its
    compression unit, and its share of the unit's stored bytes (unit_pages > 1)."""

    unit_pages: int
    c_ns: np.ndarray
    d_ns: np.ndarray
    ucomp: np.ndarray
    uc_ns: np.ndarray
    ud_ns: np.ndarray
    unit_bytes: np.ndarray    # stored bytes per unit (empty when unit_pages == 1)
    source: str
    zero: tuple[int, int, int] = (-1, -1, -1)   # a zero page: bytes, compress, decompress ns


def page_costs(trace: Trace, cfg: ModelConfig, contents: PageContents, cm,
               unit_pages: int = 1) -> PageCosts:
    """Codec times per page and per compression unit, from the cost model: the measured
    time of the content class when a page (unit) is of one generated class, else the
    size fit; raw (incompressible) pages decompress as a copy. Units are whole and
    aligned in ``contents``' pages."""
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
    zero = zero_page_costs(cm, codec)
    if unit_pages == 1:                  # no unit arrays: the model does not read them
        empty = np.zeros(0, np.int32)
        return PageCosts(1, _ns32(c), _ns32(d), empty, empty, empty, empty, source, zero)
    u = unit_pages
    if sizes is not None:
        su = page_compressed_sizes(trace, codec=codec, unit_pages=u, pages=contents.pages)
        uc, ud = cm.unit_costs_ns(su, codec)
        unit_bytes = np.asarray(su.unit_comp_bytes, np.int64)
    else:
        unit_bytes = np.minimum(comp.reshape(-1, u).sum(axis=1), u * PAGE_SIZE)
        uc = cm.compress_ns(codec, u * PAGE_SIZE, unit_bytes)
        ud = np.where(unit_bytes >= u * PAGE_SIZE,
                      cm.param("copy_ns_per_kib") * u * PAGE_SIZE / 1024,
                      cm.decompress_ns(codec, unit_bytes, u * PAGE_SIZE))
    return PageCosts(u, _ns32(c), _ns32(d), unit_shares(unit_bytes, u),
                     _ns32(np.repeat(uc, u)), _ns32(np.repeat(ud, u)), unit_bytes, source, zero)


def zero_page_costs(cm, codec: str) -> tuple[int, int, int]:
    """(compressed bytes, compress ns, decompress ns) of an all-zero page: what a page
    holds until it is written (its folio was allocated zeroed), whatever the trace says
    its data are. The codec's own output size; the measured time of the zero class when
    calibrated, else the size fit."""
    from replay.costs.codecs import get_codec
    comp = get_codec(codec).compressed_len(bytes(PAGE_SIZE))
    c = cm.class_ns(codec, "compress", "zero")
    d = cm.class_ns(codec, "decompress", "zero")
    if c is None:
        c = float(cm.compress_ns(codec, PAGE_SIZE, comp))
    if d is None:
        d = float(cm.decompress_ns(codec, comp, PAGE_SIZE))
    return int(comp), int(round(c)), int(round(d))


def _ns32(a) -> np.ndarray:
    return np.minimum(np.rint(np.asarray(a, np.float64)), 2**31 - 1).astype(np.int32)


def unit_shares(unit_bytes: np.ndarray, unit_pages: int) -> np.ndarray:
    """Per page: its share of its unit's stored bytes, in 16-byte steps (zsmalloc's class
    spacing) adding up to the unit's size rounded up to 16; raw units are 4 KiB a page."""
    steps = (unit_bytes.astype(np.int64) + 15) // 16
    k = np.arange(unit_pages)
    share = (steps[:, None] // unit_pages + (k[None, :] < (steps % unit_pages)[:, None])) * 16
    return np.minimum(share, 4096).reshape(-1).astype(np.int32)


# ---------------------------------------------------------------- costs and the TLB

# the cost parameters the model books (replay/mm/mm.h enum cost_param), in its order
COST_PARAMS = (
    ("fault_entry_exit_ns", 1), ("anon_fault_4k_ns", 1), ("clear_page_ns_per_kib", 4),
    ("pte_batch_ns", 1), ("pte_ns_per_page", 1), ("rmap_ns_per_folio", 1),
    ("rmap_ns_per_page", 1), ("memcg_charge_ns_per_folio", 1), ("memcg_charge_refill_ns", 1),
    ("lru_add_ns_per_folio", 1), ("reclaim_scan_ns_per_folio", 1),
    ("reclaim_unmap_ns_per_folio", 1), ("swap_cache_ns_per_folio", 1),
    ("swap_slot_alloc_ns_per_folio", 1), ("zswap_store_ns_per_page", 1),
    ("zswap_load_ns_per_page", 1), ("zram_read_ns", 1), ("zram_write_ns", 1),
    ("{device}_read_latency_ns", 1), ("{device}_read_ns_per_kib", 4),
    ("{device}_write_ns_per_kib", 4),
)
CP_TLB_L2, CP_TLB_WALK = len(COST_PARAMS), len(COST_PARAMS) + 1
assert CP_TLB_WALK + 1 == _mm.NR_COST_PARAMS


def cost_params_ps(cm, device: str, tlb_l2_cycles: int, tlb_walk_cycles: int) -> np.ndarray:
    """The model's cost parameters in ps from a ``CostModel`` (replay.costs.model); a
    parameter per KiB is taken per 4 KiB page."""
    ns = np.zeros(_mm.NR_COST_PARAMS, np.float64)
    for i, (name, scale) in enumerate(COST_PARAMS):
        ns[i] = cm.param(name.format(device=device)) * scale
    ghz = cm.param("cpu_ghz")
    ns[CP_TLB_L2] = tlb_l2_cycles / ghz
    ns[CP_TLB_WALK] = tlb_walk_cycles / ghz
    return np.rint(ns * 1000.0).astype(np.int64)


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


SHADOW_MODES = ("shared", "exact", "off")


def _shadow_mode(mode, tlb_cfg) -> str:
    if tlb_cfg is None or mode is False or mode is None:
        return "off"
    if mode is True:
        return "exact"
    if mode not in SHADOW_MODES:
        raise SettingsError(f"TLB shadow {mode!r} is not one of {', '.join(SHADOW_MODES)}")
    return mode


def _tlb_config(tlb) -> TLBConfig | None:
    if tlb is None or isinstance(tlb, TLBConfig):
        return None if tlb is None or tlb.arch == "none" else tlb.validate()
    if str(tlb).lower() in ("none", "off"):
        return None
    return TLBConfig.preset(str(tlb).lower())


# ---------------------------------------------------------------- one replay's model


class ModelState(_mm.Model):
    """One replay's model (replay._mm.Model, struct mm) with the Python-side facts about
    it: the dense page id of each record (``page_ids``) and the arrays it reads."""

    page_ids: np.ndarray
    space: PageSpace


def page_info(contents: PageContents, layout, costs: PageCosts) -> dict:
    """What the trace says about each page of the replay, as the model takes it (its
    records get a copy; it keeps the unit arrays, which are empty without units)."""
    units = costs.unit_pages > 1

    def per_page(values, dtype, needed=True):
        return np.ascontiguousarray(values, dtype) if needed else np.zeros(0, dtype)

    return {
        "comp": per_page(contents.comp_bytes, np.int32),
        "c_ns": per_page(costs.c_ns, np.int32),
        "d_ns": per_page(costs.d_ns, np.int32),
        "unit_comp": per_page(costs.ucomp, np.int32, units),
        "unit_c_ns": per_page(costs.uc_ns, np.int32, units),
        "unit_d_ns": per_page(costs.ud_ns, np.int32, units),
        "zero": per_page(contents.is_zero, np.uint8),
        "hugepage": per_page(layout[2], np.uint8),
        "vma_start": per_page(layout[0], np.int32),
        "vma_end": per_page(layout[1], np.int32),
    }


def build_model(space: PageSpace, cfg: ModelConfig, policy: Policy, info: dict,
                setup: CostSetup) -> ModelState:
    """A fresh model for one policy over the records of ``space`` (``info``: page_info)."""
    tlb = c_args(setup.tlb) if setup.tlb is not None else None
    shadow = c_args(setup.tlb.shadow()) if tlb is not None and setup.shadow == "exact" else None
    conf = model_config(cfg, policy.view)
    conf["zero_comp"], conf["zero_c_ns"], conf["zero_d_ns"] = setup.costs.zero
    m = ModelState(space.nr_pages, space.dir, info, conf,
                   cfg.swap_bytes // PAGE_SIZE, policy.decide.address, policy.decide,
                   setup.params_ps, setup.costs.unit_pages.bit_length() - 1, tlb, shadow)
    m.page_ids = space.ids
    m.space = space
    return m


# ---------------------------------------------------------------- results


def _ns(ps) -> float:
    return float(ps) / 1000.0


def tlb_figures(m: ModelState, shadow: bool = False) -> dict | None:
    c = m.tlb_counters(shadow)
    return None if c is None else counters_of(c["counters"], c["cycles"])


def time_of(m: ModelState, setup: CostSetup) -> dict:
    """The ``time`` section of a result: simulated time and where it went (ns)."""
    t = m.time()
    tlb_ps = 0
    c = tlb_figures(m)
    if c is not None:
        tlb_ps = int(c["l2_hits"] * setup.params_ps[CP_TLB_L2]
                     + c["walks"] * setup.params_ps[CP_TLB_WALK])
    trace_ns = int(m.trace_ns)
    swapin_pages = m.counters()["replay_stats"]["swapin_pages"]
    folios = {f"{(PAGE_SIZE << k) // 1024}kB": int(t["swpin_folios"][k])
              for k in range(MAX_ORDER) if t["swpin_folios"][k]}
    return {
        "total_ns": trace_ns + _ns(t["kernel_ps"] + tlb_ps),
        "trace_ns": trace_ns,
        "kernel_ns": _ns(t["kernel_ps"]),
        "tlb_ns": _ns(tlb_ps),
        "fault_ns": _ns(t["fault_ps"]),
        "swapin_ns": _ns(t["swapin_ps"]),
        "compress_ns": _ns(t["compress_ps"]),
        "decompress_ns": _ns(t["decompress_ps"]),
        "io_ns": _ns(t["io_ps"]),
        "reclaim_ns": _ns(t["reclaim_ps"]),
        "swapin_ns_per_page": _ns(t["swapin_ps"]) / swapin_pages if swapin_pages else 0.0,
        "swapin_folios": folios,
        "time_source": "ordinal" if setup.ordinal else "recorded",
        "ns_per_access": setup.ns_per_access if setup.ordinal else None,
        "cost_model": setup.cost_model.source,
        "device_costs": setup.device,
        "codec_costs": setup.costs.source,
    }


def tlb_of(setup: CostSetup, main: dict | None, base: dict | None) -> dict:
    """The ``tlb`` section: misses per 1000 accesses per level, and what the folio sizes
    saved against the same TLB with 4 KiB entries only (``base``: the policy's own exact
    4K-only copy, or the one shared by all policies of the run)."""
    if setup.tlb is None or main is None:
        return {"config": None}
    cfg = setup.tlb
    out: dict = {"config": cfg.to_dict()}

    def levels(c: dict) -> dict:
        acc = max(1, c["accesses"])
        return {"l1": 1000.0 * (c["l2_hits"] + c["walks"]) / acc,
                "l2": 1000.0 * c["walks"] / acc}

    ghz = setup.cost_model.param("cpu_ghz")
    main = summary_of(main, base)
    out.update({k: main[k] for k in ("accesses", "l1_hits", "l2_hits", "walks", "cycles",
                                     "flush_ranges", "flush_all", "invalidated")})
    out["misses_per_1000"] = levels(main)
    out["ns"] = main["cycles"] / ghz
    if base is not None:
        out["shadow_4k"] = {"mode": setup.shadow, "accesses": base["accesses"],
                            "walks": base["walks"], "l2_hits": base["l2_hits"],
                            "cycles": base["cycles"], "misses_per_1000": levels(base)}
        out["walks_saved"] = main["walks_saved"]
        out["cycles_saved"] = main["cycles_saved"]
        out["ns_saved"] = out["cycles_saved"] / ghz
    return out


def compression_of(m: ModelState, info: dict, costs: PageCosts, codec: str) -> dict:
    """Bytes and codec time to compress every touched page once, per 4 KiB page and (with
    a larger unit) per unit: the multi-page compression comparison, independent of policy."""
    touched = np.frombuffer(m.touched_records(), np.int32)   # record indices, dense order

    def stored(b):
        return int(((np.asarray(b, np.int64) + 15) // 16 * 16).sum())

    npg = max(1, len(touched))
    comp1 = np.minimum(info["comp"][touched], PAGE_SIZE)
    out = {"codec": codec, "unit_kb": costs.unit_pages * PAGE_SIZE // 1024,
           "pages": len(touched),
           "per_page": {"stored_bytes": stored(comp1),
                        "compress_ns_per_page": float(info["c_ns"][touched].sum()) / npg,
                        "decompress_ns_per_page": float(info["d_ns"][touched].sum()) / npg}}
    if costs.unit_pages > 1:
        u = costs.unit_pages
        units = np.unique(touched // u)           # units are whole and aligned in records
        first = units * u
        out["per_unit"] = {"units": len(units),
                           "stored_bytes": stored(costs.unit_bytes[units]),
                           "compress_ns_per_page": float(info["unit_c_ns"][first].sum())
                           / (len(units) * u) if len(units) else 0.0,
                           "decompress_ns_per_page": float(info["unit_d_ns"][first].sum())
                           / (len(units) * u) if len(units) else 0.0}
    return out


def result_of(m: ModelState, policy: Policy, cfg: ModelConfig, engine_s: float,
              total_s: float, contents: PageContents) -> dict:
    c = m.counters()
    counters = {name: int(c["vm_events"][name]) for name in COUNTER_NAMES}
    per_size = {}
    enabled = {(kb * 1024 // PAGE_SIZE).bit_length() - 1 for kb in cfg.mthp_sizes_kb}
    for order in range(1, MAX_ORDER):
        row = c["mthp_stats"][order]
        if order in enabled or any(row):
            per_size[f"{(PAGE_SIZE << order) // 1024}kB"] = {
                name: int(row[i]) for i, name in enumerate(PER_SIZE_NAMES)}
    derived = {name: int(c["replay_stats"][name]) for name in DERIVED_NAMES}
    swapped_in = derived["swapin_pages"]
    derived["swapin_amplification"] = (swapped_in / derived["swapin_pages_used"]
                                       if derived["swapin_pages_used"] else 0.0)
    derived["peak_resident_bytes"] = int(m.peak_resident) * PAGE_SIZE
    derived["peak_pool_bytes"] = int(m.peak_pool_bytes)
    derived["final_resident_bytes"] = int(m.resident) * PAGE_SIZE
    derived["final_pool_bytes"] = int(m.pool_bytes)
    derived["accesses"] = int(m.accesses)          # replayed: fewer after an OOM kill
    derived["oom_killed"] = bool(cfg.oom == "kill" and m.oom)
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
             contents: PageContents | None = None, return_states: bool = False,
             cost_model=None, device: str | None = None, compression_unit_kb: int = 4,
             tlb="x86", tlb_shadow: str | bool = "exact", timeline: bool = True,
             timeline_accesses: int | None = None, timeline_ns: int | None = None,
             ordinal_ns_per_access: int = ORDINAL_NS_PER_ACCESS, threads: int | None = None,
             fault_log: int = 0):
    """Replay the trace under each policy; one result dict per policy (see README).

    ``progress``, when given, is called with the number of accesses done so far.
    Costs: ``cost_model`` (a CostModel, a path, or None for the shipped one), ``device``
    (nvme or hdd; default hdd for a rotational swap device), ``compression_unit_kb``
    (4 = per page; 16, 64 ... = multi-page units). ``tlb``: a TLBConfig, a preset name
    (x86, arm64, zen4, neoverse-n2, ...) or None; ``tlb_shadow``: the 4K-only baseline
    for the cycles saved, "exact" (one per policy, flushed with the model), "shared" (one
    for all policies, flushed only where the trace itself unmaps: cheaper, but it misses
    the flushes of reclaim and of copy-on-write from the zero page) or "off". Timeline
    windows: ``timeline_accesses`` accesses or ``timeline_ns`` of simulated time (default:
    about 500 windows of accesses). ``threads``: policies replayed side by side (default:
    one per CPU); ``engine_seconds`` is each policy's own time in the loop either way.
    ``contents``: page sizes to use instead of the codec's (tests). ``return_states``:
    also return each policy's final model (``ModelState``; replay.model.state.StateView
    reads it). ``fault_log``: log up to this many faults on swap PTEs per policy, in
    each result's ``fault_log`` (an int64 array of rows: access, page, swap slot, 1 for
    a swap cache hit), for ``replay validate --fault-log``.
    """
    with contextlib.ExitStack() as cleanup:
        return _simulate(trace, config, policies, cleanup, chunk_rows=chunk_rows,
                         check=check, progress=progress, contents=contents,
                         return_states=return_states, cost_model=cost_model, device=device,
                         compression_unit_kb=compression_unit_kb, tlb=tlb,
                         tlb_shadow=tlb_shadow, timeline=timeline,
                         timeline_accesses=timeline_accesses, timeline_ns=timeline_ns,
                         ordinal_ns_per_access=ordinal_ns_per_access, threads=threads,
                         fault_log=fault_log)


def _simulate(trace, config, policies, cleanup, *, chunk_rows, check, progress, contents,
              return_states, cost_model, device, compression_unit_kb, tlb, tlb_shadow,
              timeline, timeline_accesses, timeline_ns, ordinal_ns_per_access, threads,
              fault_log):
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
    unit_pages = compression_unit_kb * 1024 // PAGE_SIZE
    space = page_space(trace, reach_order(config, unit_pages))
    if contents is None:
        contents = page_contents(trace, config, space.ids)
    else:
        contents = contents.for_pages(space.ids)
    layout = page_layout(trace, config.hugepage_default, space.ids, config.hugepage_all,
                         config.block_mappings)
    setup = CostSetup(
        costs=page_costs(trace, config, contents, cm, unit_pages),
        params_ps=cost_params_ps(cm, device, tlb_cfg.l2_hit_cycles if tlb_cfg else 0,
                                 tlb_cfg.walk_cycles if tlb_cfg else 0),
        tlb=tlb_cfg, shadow=_shadow_mode(tlb_shadow, tlb_cfg), cost_model=cm, device=device,
        ordinal=trace.meta.time_source == "ordinal", ns_per_access=int(ordinal_ns_per_access))
    info = page_info(contents, layout, setup.costs)
    models = [build_model(space, config, pol, info, setup) for pol in pols]
    if fault_log:
        for m in models:
            m.start_fault_log(int(fault_log))
    del layout                   # copied into the models' records
    contents = dataclasses.replace(contents, comp_bytes=None, is_zero=None, sizes=None)
    if not timeline:
        mode, window = MODE_OFF, 1
    elif timeline_ns is not None:
        mode, window = MODE_TIME, int(timeline_ns) * 1000
    else:
        mode, window = MODE_ACCESSES, int(timeline_accesses or default_window(
            trace.num_accesses))
    timelines = [Timeline(m, mode, window) for m in models]
    engine_s = [0.0] * len(pols)
    shared = _mm.TLB(*c_args(tlb_cfg.shadow())) if setup.shadow == "shared" else None
    shadow_s = 0.0
    done = 0
    t_first = None
    workers = min(len(pols), threads or os.cpu_count() or 1)
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    if pool:
        cleanup.callback(pool.shutdown)
    for chunk in trace.iter_chunks(chunk_rows):
        pages = np.ascontiguousarray(trace.dense_ids(chunk), np.int64)
        ops = np.ascontiguousarray(chunk.op, np.uint8)
        if setup.ordinal:
            tns = (np.arange(len(chunk), dtype=np.int64) + done) * setup.ns_per_access
        else:
            if t_first is None and len(chunk):
                t_first = int(chunk.time_ns[0])
            tns = np.asarray(chunk.time_ns, np.int64) - (t_first or 0)

        def replay_policy(k, pages=pages, ops=ops, tns=tns):
            m, tl = models[k], timelines[k]
            t = time.perf_counter()
            pos = 0
            while True:
                pos += m.replay(pages[pos:], ops[pos:], tns[pos:], tl.buffer)
                tl.drain(m)
                if pos >= len(pages):
                    break
            return time.perf_counter() - t

        # policies have their own state: they replay the chunk side by side (the replay
        # loop releases the GIL)
        seconds = pool.map(replay_policy, range(len(pols))) if pool else map(
            replay_policy, range(len(pols)))
        for k, sec in enumerate(seconds):
            engine_s[k] += sec
        if shared is not None:
            t = time.perf_counter()
            shared.replay_shared(pages, ops)
            shadow_s += time.perf_counter() - t
        done += len(chunk)
        if progress is not None:
            progress(done)
        if config.oom == "kill" and all(m.oom for m in models):
            break                     # every policy's workload was OOM-killed
    total = time.perf_counter() - t0
    results = []
    shared_counters = counters_of(shared.counters(), shared.cycles()) if shared else None
    for k, pol in enumerate(pols):
        m = models[k]
        if check:
            problems = check_invariants(m)
            if problems:
                raise AssertionError(f"model invariant broken under {pol.name}: "
                                     + "; ".join(problems[:5]))
        if mode != MODE_OFF:
            timelines[k].finish(m)
        # each policy's engine time carries its share of the shared 4K-only shadow
        r = result_of(m, pol, config, engine_s[k] + shadow_s / len(pols), total, contents)
        r["config"].update({"compression_unit_kb": compression_unit_kb,
                            "cost_model": cm.source, "device_costs": device,
                            "tlb": tlb_cfg.name if tlb_cfg else "none"})
        r["time"] = time_of(m, setup)
        base = shared_counters if shared is not None else tlb_figures(m, shadow=True)
        r["tlb"] = tlb_of(setup, tlb_figures(m), base)
        r["compression"] = compression_of(m, info, setup.costs, config.compressor)
        if mode != MODE_OFF:
            r["timeline"] = timelines[k].to_dict()
        if fault_log:
            r["fault_log"] = np.frombuffer(m.fault_log(), np.int64).reshape(-1, 4).copy()
        results.append(r)
    if return_states:
        return results, models
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

