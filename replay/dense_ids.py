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
growing hash set, and the few distinct keys are sorted once at the end.

Slots are int64 pairs ``[key, value]`` in one array (one cache line per probe);
``value < 0`` marks an empty slot, so any int64 key, even one of a row that was
never validated, is stored and found correctly.
"""

from __future__ import annotations

import numpy as np
from numba import njit

BLOCK_SHIFT = 9               # replay.trace.BLOCK_SHIFT (not imported: no cycle)
ASID_SHIFT = 43               # key = (asid << 43) | (vpn >> 9)
VPN_BITS = 52                 # vpn < 2^52  (replay.trace.VPN_LIMIT)
ASID_BITS = 20                # asid < 2^20 (replay.trace.ASID_LIMIT)
OP_BITS = 2                   # op <= 3     (replay.trace.OP_FREE)
_FIB = np.uint64(0x9E3779B97F4A7C15)   # 2^64 / golden ratio
_MIN_SLOTS = 16


@njit(cache=True, inline="always")
def _home(key, shift):
    """The first slot probed for ``key`` (top bits of a Fibonacci hash)."""
    return np.int64((np.uint64(key) * _FIB) >> np.uint64(shift))


def _shift_of(nslots: int) -> int:
    return 64 - (nslots.bit_length() - 1)


def _slots_for(nkeys: int) -> int:
    """A power of two at least twice ``nkeys`` (load factor <= 1/2)."""
    n = _MIN_SLOTS
    while n < 2 * nkeys:
        n *= 2
    return n


# ---------------------------------------------------------------- validation


@njit(cache=True, nogil=True)
def accesses_ok(time_ns, vpn, op, asid, last_time) -> bool:
    """True when every row passes ``replay.trace.check_accesses`` (one branch-free pass).

    Only says whether a chunk is good; the caller re-runs the numpy check on a bad
    chunk to name the first bad row with the usual message."""
    n = len(vpn)
    bad = False
    for i in range(n):
        # an arithmetic shift leaves a negative value nonzero: one test per range
        bad |= ((vpn[i] >> VPN_BITS) != 0) | ((op[i] >> OP_BITS) != 0) \
            | ((asid[i] >> ASID_BITS) != 0)
    if n:
        bad |= time_ns[0] < last_time
    for i in range(1, n):
        bad |= time_ns[i] < time_ns[i - 1]
    return not bad


# ---------------------------------------------------------------- block table


@njit(cache=True, nogil=True)
def _set_grow(slots, shift):
    """The same set in twice as many slots; returns (slots, shift)."""
    new = np.empty(2 * len(slots), np.int64)
    new[1::2] = -1
    shift -= 1
    mask = (len(new) >> 1) - 1
    for s in range(len(slots) >> 1):
        if slots[2 * s + 1] >= 0:
            key = slots[2 * s]
            t = _home(key, shift)
            while new[2 * t + 1] >= 0:
                t = (t + 1) & mask
            new[2 * t] = key
            new[2 * t + 1] = 1
    return new, shift


@njit(cache=True, nogil=True)
def _set_add_blocks(slots, shift, count, vpn, asid):
    """Add the block key of every row to the set; returns (slots, shift, count)."""
    mask = (len(slots) >> 1) - 1
    have = False
    last = np.int64(0)
    for i in range(len(vpn)):
        key = (np.int64(asid[i]) << ASID_SHIFT) | (np.int64(vpn[i]) >> BLOCK_SHIFT)
        if have and key == last:        # runs of one block: no probe
            continue
        have = True
        last = key
        s = _home(key, shift)
        while True:
            if slots[2 * s + 1] < 0:
                slots[2 * s] = key
                slots[2 * s + 1] = 1
                count += 1
                if 2 * count > (len(slots) >> 1):
                    slots, shift = _set_grow(slots, shift)
                    mask = (len(slots) >> 1) - 1
                break
            if slots[2 * s] == key:
                break
            s = (s + 1) & mask
    return slots, shift, count


@njit(cache=True, nogil=True)
def _set_keys(slots, count):
    out = np.empty(count, np.int64)
    k = 0
    for s in range(len(slots) >> 1):
        if slots[2 * s + 1] >= 0:
            out[k] = slots[2 * s]
            k += 1
    return out


class BlockSet:
    """The distinct (address space, 2 MiB block) keys of the chunks added so far."""

    def __init__(self) -> None:
        self._slots = np.empty(2 * _MIN_SLOTS, np.int64)
        self._slots[1::2] = -1
        self._shift = _shift_of(_MIN_SLOTS)
        self._count = 0

    def add(self, vpn: np.ndarray, asid: np.ndarray) -> None:
        if len(vpn):
            self._slots, self._shift, self._count = _set_add_blocks(
                self._slots, self._shift, self._count, vpn, asid)

    def __len__(self) -> int:
        return self._count

    def sorted_keys(self) -> np.ndarray:
        """The keys as a sorted int64 array: the block table."""
        return np.sort(_set_keys(self._slots, self._count))


# ---------------------------------------------------------------- dense ids


@njit(cache=True, nogil=True)
def _build_index(table, nslots, shift):
    slots = np.empty(2 * nslots, np.int64)
    slots[1::2] = -1
    mask = nslots - 1
    for r in range(len(table)):
        key = table[r]
        s = _home(key, shift)
        while slots[2 * s + 1] >= 0:
            if slots[2 * s] == key:     # a repeated key keeps its first rank (searchsorted)
                break
            s = (s + 1) & mask
        if slots[2 * s + 1] < 0:
            slots[2 * s] = key
            slots[2 * s + 1] = r
    return slots


@njit(cache=True, nogil=True)
def _dense_ids(vpn, asid, table, slots, shift, out):
    mask = (len(slots) >> 1) - 1
    for i in range(len(vpn)):
        v = np.int64(vpn[i])
        key = (np.int64(asid[i]) << ASID_SHIFT) | (v >> BLOCK_SHIFT)
        s = _home(key, shift)
        while True:
            r = slots[2 * s + 1]
            if r < 0:                   # not in the table: where searchsorted puts it
                r = np.searchsorted(table, key)
                break
            if slots[2 * s] == key:
                break
            s = (s + 1) & mask
        out[i] = (r << BLOCK_SHIFT) | (v & ((1 << BLOCK_SHIFT) - 1))
    return out


class DenseIndex:
    """Block key -> rank in a sorted block table, for ``dense_ids``."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = np.ascontiguousarray(table, dtype=np.int64)
        nslots = _slots_for(len(self.table))
        self._shift = _shift_of(nslots)
        self._slots = _build_index(self.table, nslots, self._shift)

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
        return _dense_ids(vpn, asid, self.table, self._slots, self._shift, out)
