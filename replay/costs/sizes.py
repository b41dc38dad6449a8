"""Compressed size of every page of a trace, with real codecs on real or representative bytes.

``page_compressed_sizes(trace, codec)`` is what the engine calls once per
replay: numpy arrays indexed by dense page id (``Trace.dense_ids``), so the
compiled loop reads a page's stored size with one load.

What a page holds: the contents sidecar gives real 4 KiB bytes for some pages
and a content class for page ranges; a page it does not cover is "unknown"
(generated as ``content.UNKNOWN_AS``). When the sidecar has several versions
of a page, the lowest version is used (the contents when the page was first
written; a trace that records later versions still replays with the first);
at equal versions real bytes win over a class, and a later row over an
earlier one. A data row with ``npages > 1`` gives its bytes to its first page
and its class to the rest.

Which sample page a generated page gets: sample ``(vpn + 7919 * asid) % 512``
of its class, so neighbouring pages differ and the same page always compresses
the same way.

Compression unit: 1 page (zswap and zram today: one entry per 4 KiB subpage)
or a folio-sized unit of ``unit_pages`` aligned pages compressed as one buffer
(Barry Song's multi-page zsmalloc RFC; reading any page decompresses the whole
unit). Per-unit results are in ``unit_*``; per-page ``comp_bytes`` then holds
the unit's size apportioned over its pages (floor division, the remainder to
the first pages, so a unit's pages add up to the unit size exactly).

Work is bounded by distinct contents, not by pages: results are cached per
(codec, content identity) for the life of the process, where the identity of
a generated page is (class, sample) and of a real page the blake2b digest of
its bytes, so a 1M-page trace of generated classes compresses a few thousand
distinct pages or units.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow.compute as pc

from replay.costs.codecs import Codec, get_codec
from replay.costs.content import CLASS_CODE, SAMPLE_PAGES, UNKNOWN_AS, class_page
from replay.costs.zsmalloc import zs_huge_class_size
from replay.errors import SettingsError
from replay.trace import BLOCK_PAGES, BLOCK_SHIFT, CONTENT_CLASSES, PAGE_SIZE, Trace

UNIT_PAGES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_ASID_MIX = 7919
_NGEN = len(CONTENT_CLASSES) * SAMPLE_PAGES      # generated page keys are below this
_GEN_CLASS = np.array([CLASS_CODE[UNKNOWN_AS] if c == "unknown" else i
                       for i, c in enumerate(CONTENT_CLASSES)], np.int64)

# (codec key, content identity) -> (compressed bytes, all zero, same-filled)
_CACHE: dict[tuple[str, bytes], tuple[int, bool, bool]] = {}


@dataclass
class PageSizes:
    """Compressed sizes per dense page (and per compression unit) of one trace."""

    codec: str                     # codec key, e.g. "lz4", "zstd-3"
    unit_pages: int                # pages compressed together (1 = per 4 KiB page)
    comp_bytes: np.ndarray         # int32 per page: bytes stored (PAGE_SIZE when incompressible)
    is_zero: np.ndarray            # bool per page: all zero bytes
    is_same: np.ndarray            # bool per page: one repeated 8-byte word (zram ZRAM_SAME)
    incompressible: np.ndarray     # bool per page: its unit compressed to >= its size
    zram_huge: np.ndarray          # bool per page: zram would store it raw (>= huge_class_size)
    content_class: np.ndarray      # int8 per page: index into CONTENT_CLASSES
    has_data: np.ndarray           # bool per page: real bytes were recorded
    unit_comp_bytes: np.ndarray    # int32 per unit: bytes stored for the whole unit
    unit_is_zero: np.ndarray       # bool per unit
    unit_incompressible: np.ndarray  # bool per unit
    distinct_compressed: int = 0   # distinct pages/units compressed for this call (not cached)
    notes: list[str] = field(default_factory=list)

    @property
    def num_pages(self) -> int:
        return len(self.comp_bytes)

    def summary(self, touched: np.ndarray | None = None) -> dict:
        """Plain-data figures for results: ratios overall and per content class."""
        sel = np.ones(self.num_pages, bool) if touched is None else touched.astype(bool)
        stored = self.comp_bytes[sel].astype(np.int64)
        out = {
            "codec": self.codec,
            "unit_pages": self.unit_pages,
            "pages": int(sel.sum()),
            "zero_pages": int(self.is_zero[sel].sum()),
            "incompressible_pages": int(self.incompressible[sel].sum()),
            "stored_bytes": int(stored.sum()),
            "ratio": float(sel.sum() * PAGE_SIZE / max(1, stored.sum())),
            "per_class": {},
        }
        for code, name in enumerate(CONTENT_CLASSES):
            m = sel & (self.content_class == code) & ~self.has_data
            if m.any():
                out["per_class"][name] = {
                    "pages": int(m.sum()),
                    "ratio": float(m.sum() * PAGE_SIZE / self.comp_bytes[m].sum())}
        m = sel & self.has_data
        if m.any():
            out["per_class"]["recorded"] = {
                "pages": int(m.sum()),
                "ratio": float(m.sum() * PAGE_SIZE / self.comp_bytes[m].sum())}
        return out


def _resolve_contents(trace: Trace, pages: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """Per page (``pages``, sorted dense ids; default every dense page): content class
    code, and index into the returned data list (-1: none)."""
    want = pages
    n = trace.num_dense_pages if want is None else len(want)
    cls = np.zeros(n, np.int8)                       # 0 = "unknown"
    data_idx = np.full(n, -1, np.int32)
    table = trace.contents()
    blocks = trace.block_table()
    if table is None or table.num_rows == 0 or n == 0:
        return cls, data_idx, []
    asid = table.column("asid").to_numpy().astype(np.int64)
    vpn = table.column("vpn").to_numpy()
    npages = table.column("npages").to_numpy()
    version = table.column("version").to_numpy()
    names = table.column("content_class").to_numpy(zero_copy_only=False)
    code = np.array([CLASS_CODE.get(str(c), 0) for c in names], np.int64) if len(names) \
        else np.zeros(0, np.int64)
    has = ~np.asarray(table.column("data").is_null())
    rows = np.arange(table.num_rows)
    # data rows: their first page only
    data_rows = rows[has]
    data_list = pc.filter(table.column("data"), pc.invert(table.column("data").is_null()))
    data_list = data_list.to_pylist()
    # pieces: (row, first vpn, npages, is_data)
    p_row = np.r_[rows, data_rows]
    p_vpn = np.r_[vpn + has, vpn[has]]            # a data row's class covers vpn+1..
    p_len = np.r_[npages - has, np.ones(len(data_rows), np.int64)]
    p_data = np.r_[np.full(len(rows), -1), np.arange(len(data_rows))]
    keep = p_len > 0
    p_row, p_vpn, p_len, p_data = p_row[keep], p_vpn[keep], p_len[keep], p_data[keep]
    p_asid = asid[p_row]
    # split every piece into its parts inside touched 2 MiB blocks
    k0 = (p_asid << 43) | (p_vpn >> BLOCK_SHIFT)
    k1 = (p_asid << 43) | ((p_vpn + p_len - 1) >> BLOCK_SHIFT)
    lo = np.searchsorted(blocks, k0, "left")
    hi = np.searchsorted(blocks, k1, "right")
    nparts = hi - lo
    piece = np.repeat(np.arange(len(p_row)), nparts)
    if len(piece) == 0:
        return cls, data_idx, data_list
    first = np.repeat(np.cumsum(nparts) - nparts, nparts)
    rank = lo[piece] + (np.arange(len(piece)) - first)
    block_vpn = (blocks[rank] & ((1 << 43) - 1)) << BLOCK_SHIFT
    a0 = np.maximum(p_vpn[piece], block_vpn) - block_vpn
    a1 = np.minimum(p_vpn[piece] + p_len[piece], block_vpn + BLOCK_PAGES) - block_vpn
    start = (rank << BLOCK_SHIFT) + a0
    length = a1 - a0
    # priority: highest version first ... lowest version last; class before data; row order
    row = p_row[piece]
    order = np.lexsort((row, p_data[piece] >= 0, -version[row]))
    start, length, piece = start[order], length[order], piece[order]
    pages = np.repeat(start - np.cumsum(length) + length, length) + np.arange(length.sum())
    # the last writer of each page wins: first occurrence in the reversed order
    rev = pages[::-1]
    uniq, first_rev = np.unique(rev, return_index=True)
    winner = np.repeat(piece, length)[::-1][first_rev]
    if want is not None:        # only the pages asked for
        at = np.minimum(np.searchsorted(want, uniq), max(0, n - 1))
        hit = want[at] == uniq if n else np.zeros(len(uniq), bool)
        uniq, winner = at[hit], winner[hit]
    cls[uniq] = code[p_row[winner]]
    data_idx[uniq] = p_data[winner]
    return cls, data_idx, data_list


def _identity_and_bytes(key: int, data_digests: list[bytes], data_list: list[bytes]):
    if key < _NGEN:
        c, s = divmod(key, SAMPLE_PAGES)
        return b"g" + key.to_bytes(4, "little"), lambda: class_page(CONTENT_CLASSES[c], s)
    d = key - _NGEN
    return b"d" + data_digests[d], lambda: data_list[d]


def _measure(codec: Codec, ident: bytes, make) -> tuple[int, bool, bool]:
    hit = _CACHE.get((codec.key, ident))
    if hit is not None:
        return hit
    buf = make()
    comp = codec.compressed_len(buf)
    zero = buf.count(0) == len(buf)
    words = np.frombuffer(buf, np.uint64).reshape(-1, PAGE_SIZE // 8)
    same = bool((words == words[:, :1]).all())
    res = (comp, zero, same)
    _CACHE[(codec.key, ident)] = res
    return res


def page_compressed_sizes(trace: Trace, codec: str = "lz4", level: int | None = None,
                          unit_pages: int = 1, pages: np.ndarray | None = None) -> PageSizes:
    """Stored size of every dense page of ``trace`` under ``codec`` (see the module
    docstring), or of the pages ``pages`` (sorted dense ids, in whole aligned units)."""
    if unit_pages not in UNIT_PAGES:
        raise SettingsError(f"compression unit of {unit_pages} pages is not one of "
                            f"{', '.join(map(str, UNIT_PAGES))}")
    cdc = get_codec(codec, level)
    cls, data_idx, data_list = _resolve_contents(trace, pages)
    blocks = trace.block_table()
    dense = np.arange(trace.num_dense_pages, dtype=np.int64) if pages is None else \
        np.asarray(pages, np.int64)
    n = len(dense)
    keys = _page_keys(dense, blocks, cls, data_idx)
    digests = [hashlib.blake2b(d, digest_size=16).digest() for d in data_list]
    before = len(_CACHE)
    nunits = n // unit_pages
    if unit_pages == 1:
        # a table by key (a few thousand generated keys, then the recorded pages)
        uniq = np.unique(keys)
        size = int(uniq[-1]) + 1 if len(uniq) else 1
        comp_t = np.zeros(size, np.int32)
        zero_t = np.zeros(size, bool)
        same_t = np.zeros(size, bool)
        for k in uniq.tolist():
            comp_t[k], zero_t[k], same_t[k] = _measure(cdc, *_identity_and_bytes(
                k, digests, data_list))
        unit_comp = comp_t[keys]
        unit_zero = zero_t[keys]
        is_zero = unit_zero
        is_same = same_t[keys]
    else:
        rows = keys.astype(np.int64).reshape(nunits, unit_pages)
        uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        comp_t = np.zeros(len(uniq), np.int64)
        zero_t = np.zeros(len(uniq), bool)
        for i, row in enumerate(uniq.tolist()):
            parts = [_identity_and_bytes(k, digests, data_list) for k in row]
            ident = b"u" + b"".join(p[0] for p in parts)
            comp_t[i], zero_t[i], _ = _measure(
                cdc, ident, lambda parts=parts: b"".join(p[1]() for p in parts))
        unit_comp = comp_t[inverse]
        unit_zero = zero_t[inverse]
        # per-page zero / same-filled flags still come from each page alone
        uk = np.unique(keys)
        zs = np.array([_page_flags(k, digests, data_list) for k in uk.tolist()],
                      bool).reshape(-1, 2)
        pos = np.searchsorted(uk, keys)
        is_zero, is_same = zs[pos, 0], zs[pos, 1]
    unit_bytes = unit_pages * PAGE_SIZE
    unit_incomp = unit_comp >= unit_bytes
    unit_stored = np.where(unit_incomp, unit_bytes, unit_comp).astype(np.int32)
    if unit_pages == 1:
        per_page = unit_stored
    else:
        per_page = np.repeat(unit_stored // unit_pages, unit_pages) + (
            np.tile(np.arange(unit_pages), nunits)
            < np.repeat(unit_stored % unit_pages, unit_pages))
    notes = [cdc.note] if cdc.note else []
    if unit_pages > 1:
        notes.append(f"{unit_pages}-page compression units: per-page sizes are the unit's "
                     "size apportioned")
    return PageSizes(
        codec=cdc.key, unit_pages=unit_pages, comp_bytes=per_page.astype(np.int32),
        is_zero=np.asarray(is_zero, bool), is_same=np.asarray(is_same, bool),
        incompressible=np.repeat(unit_incomp, unit_pages),
        zram_huge=per_page >= zs_huge_class_size(),
        content_class=cls, has_data=data_idx >= 0,
        unit_comp_bytes=unit_stored, unit_is_zero=np.asarray(unit_zero, bool),
        unit_incompressible=unit_incomp, distinct_compressed=len(_CACHE) - before, notes=notes)


def _page_keys(dense: np.ndarray, blocks: np.ndarray, cls: np.ndarray,
               data_idx: np.ndarray) -> np.ndarray:
    """Each page's content key (int32): its recorded bytes (``_NGEN`` + index), else its
    class's sample ``(vpn + 7919 * asid) % 512``. A block starts at a multiple of 512, so
    the sample is ``(offset in the block + 7919 * asid) % 512``."""
    keys = np.empty(len(dense), np.int32)
    if not len(dense):
        return keys
    asid_part = ((blocks >> 43) * _ASID_MIX % SAMPLE_PAGES).astype(np.int32)
    step = 1 << 20                         # bounded temporaries
    for a in range(0, len(dense), step):
        d = dense[a:a + step]
        sample = (asid_part[d >> BLOCK_SHIFT] + (d & (BLOCK_PAGES - 1)).astype(np.int32)) \
            % SAMPLE_PAGES
        gen = _GEN_CLASS[cls[a:a + step]].astype(np.int32) * SAMPLE_PAGES + sample
        di = data_idx[a:a + step]
        keys[a:a + step] = np.where(di >= 0, _NGEN + di, gen)
    return keys


def _page_flags(key: int, digests: list[bytes], data_list: list[bytes]) -> tuple[bool, bool]:
    if key < _NGEN:
        zero = CONTENT_CLASSES[key // SAMPLE_PAGES] == "zero"
        return zero, zero
    buf = data_list[key - _NGEN]
    words = np.frombuffer(buf, np.uint64)
    return buf.count(0) == len(buf), bool((words == words[0]).all())


def clear_cache() -> None:
    """Forget every cached size (tests; a long-lived process comparing many traces)."""
    _CACHE.clear()
