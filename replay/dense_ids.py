"""Compiled passes over a trace's chunks: row validation, the block table, dense page ids.

A dense page id is ``rank * 512 + (vpn & 511)``, where ``rank`` is the position
of the access's (address space, 2 MiB block) key ``(asid << 43) | (vpn >> 9)``
in the trace's sorted table of distinct keys (``Trace.block_table``); this is
exactly ``np.searchsorted(table, key)``. Here the rank comes from an
open-addressing hash table (linear probing, Fibonacci hashing) built once from
the sorted table, so a lookup costs one or two cache-resident probes instead
of a binary search per access. A key missing from the table (never the case
for a chunk of the trace the table was built from) falls back to the binary
search, so every input gets the searchsorted result, bit for bit.

The block table is collected the same way: every chunk's keys go into a
growing hash set, and the few distinct keys are sorted once at the end. The
set also keeps, per block, a uint32 mask of the 16-page chunks of the block
that were touched (bit ``(vpn & 511) >> 4``).

The loops are C (replay/scan/rows.c, the extension ``replay._scan`` built at
install); they take integer arrays of any type and release the GIL.
"""

from __future__ import annotations

import numpy as np

from replay import _scan

BLOCK_SHIFT = 9               # replay.trace.BLOCK_SHIFT (not imported: no cycle)
CHUNK_SHIFT = 4               # 16 pages per chunk, 32 chunks per 2 MiB block

# True when every row passes ``replay.trace.check_accesses`` (one loop over the rows).
# Only says whether a chunk is good; the caller re-runs the numpy check on a bad
# chunk to name the first bad row with the usual message.
accesses_ok = _scan.accesses_ok


class BlockSet:
    """The distinct (address space, 2 MiB block) keys of the chunks added so far, and per
    key a mask of the 16-page chunks of its block they touched."""

    def __init__(self) -> None:
        self._set = _scan.BlockSet()

    def add(self, vpn: np.ndarray, asid: np.ndarray) -> None:
        if len(vpn):
            self._set.add(vpn, asid)

    def __len__(self) -> int:
        return len(self._set)

    def _unsorted(self) -> tuple[np.ndarray, np.ndarray]:
        keys = np.empty(len(self._set), np.int64)
        chunks = np.empty(len(self._set), np.uint32)
        self._set.fill(keys, chunks)
        return keys, chunks

    def sorted_keys(self) -> np.ndarray:
        """The keys as a sorted int64 array: the block table."""
        return np.sort(self._unsorted()[0])

    def sorted_keys_and_chunks(self) -> tuple[np.ndarray, np.ndarray]:
        """(the block table, the uint32 chunk mask of each of its blocks)."""
        keys, chunks = self._unsorted()
        order = np.argsort(keys)
        return keys[order], chunks[order]


class DenseIndex:
    """Block key -> rank in a sorted block table, for ``dense_ids``."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = np.ascontiguousarray(table, dtype=np.int64)
        self._index = _scan.DenseIndex(self.table)

    def dense_ids(self, vpn: np.ndarray, asid: np.ndarray) -> np.ndarray:
        """``searchsorted(table, (asid << 43) | (vpn >> 9)) << 9 | (vpn & 511)``, as int64."""
        vpn = np.asarray(vpn)
        asid = np.asarray(asid)
        if len(vpn) != len(asid):
            raise ValueError(f"{len(vpn)} page numbers but {len(asid)} address space ids")
        out = np.empty(len(vpn), np.int64)
        if len(vpn) == 0:
            return out
        if vpn.dtype.kind not in "iu":
            vpn = vpn.astype(np.int64)
        if asid.dtype.kind not in "iu":
            asid = asid.astype(np.int64)
        self._index.dense_ids(vpn, asid, out)
        return out
