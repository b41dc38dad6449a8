"""Block I/O requests (libCacheSim traces) -> 4 KiB page accesses.

A request reads or writes ``size`` bytes at logical block (512-byte sector)
``lbn``: its first page is ``lbn * 512 // 4096``. By default a request is one
access to that page (what a cache simulator counting requests sees);
``expand`` makes it one access per 4 KiB page of ``[lbn * 512, lbn * 512 + size)``
(a zero-size request still touches its first page), all at the request's time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from replay.errors import TraceError
from replay.trace import VPN_LIMIT

SECTOR_BYTES = 512
SECTORS_PER_PAGE = 4096 // SECTOR_BYTES
MAX_REQUEST_BYTES = 1 << 32       # libCacheSim sizes are uint32
BATCH_ACCESSES = 1 << 22          # accesses per written chunk when expanding
NS_PER_S = 1_000_000_000


def check_requests(time_ns: np.ndarray, lbn: np.ndarray, size: np.ndarray, last_time: int,
                   fail: Callable[[int, str], TraceError]) -> None:
    """Raise (via ``fail(index, what)``) at the first request that cannot be imported."""
    bad = np.flatnonzero(lbn >= np.uint64(VPN_LIMIT * SECTORS_PER_PAGE))
    if len(bad):
        i = int(bad[0])
        raise fail(i, f"block number {int(lbn[i])} is beyond 2^52 pages of 4 KiB")
    bad = np.flatnonzero(size >= np.uint64(MAX_REQUEST_BYTES))
    if len(bad):
        i = int(bad[0])
        raise fail(i, f"request size {int(size[i])} bytes is 4 GiB or more")
    if len(time_ns):
        if time_ns[0] < last_time:
            raise fail(0, f"time goes backwards ({int(time_ns[0])} ns after {last_time} ns)")
        dec = np.flatnonzero(time_ns[1:] < time_ns[:-1])
        if len(dec):
            i = int(dec[0]) + 1
            raise fail(i, f"time goes backwards ({int(time_ns[i])} ns after "
                       f"{int(time_ns[i - 1])} ns)")


def request_accesses(time_ns: np.ndarray, lbn: np.ndarray, size: np.ndarray, op: np.ndarray,
                     expand: bool) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(time_ns, vpn, op) batches of at most ~BATCH_ACCESSES accesses (checked requests)."""
    first = (lbn // np.uint64(SECTORS_PER_PAGE)).astype(np.int64)
    if not expand:
        yield time_ns, first, op
        return
    offset = (lbn % np.uint64(SECTORS_PER_PAGE)).astype(np.int64) * SECTOR_BYTES
    span = np.maximum(size.astype(np.int64), 1)
    last = first + ((offset + span - 1) >> 12)
    last = np.minimum(last, VPN_LIMIT - 1)
    counts = last - first + 1
    ends = np.cumsum(counts)
    start_req = 0
    n = len(first)
    while start_req < n:
        base = ends[start_req - 1] if start_req else 0
        stop = int(np.searchsorted(ends, base + BATCH_ACCESSES, side="right"))
        stop = max(stop, start_req + 1)
        c = counts[start_req:stop]
        total = int(c.sum())
        rep = np.repeat(np.arange(start_req, stop), c)
        within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(c) - c, c)
        yield time_ns[rep], first[rep] + within, op[rep]
        start_req = stop
