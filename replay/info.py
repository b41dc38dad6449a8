"""`replay info`: what a trace holds, computed in one streamed pass."""

from __future__ import annotations

import numpy as np

from replay.trace import (
    BLOCK_PAGES,
    BLOCK_SHIFT,
    OP_FREE,
    OP_PAGEOUT,
    OP_READ,
    OP_WRITE,
    PAGE_SIZE,
    Trace,
    block_keys,
)


def content_covered(trace: Trace, touched: np.ndarray) -> np.ndarray:
    """Boolean per dense page: the contents sidecar gives a known class or real bytes."""
    covered = np.zeros(len(touched), bool)
    table = trace.contents()
    if table is None or table.num_rows == 0:
        return covered
    blocks = trace.block_table()
    known = np.array([c != "unknown" for c in table.column("content_class").to_pylist()]) \
        | ~np.asarray(table.column("data").is_null())
    asid = table.column("asid").to_numpy()[known]
    vpn = table.column("vpn").to_numpy()[known]
    npages = table.column("npages").to_numpy()[known]
    single = npages == 1
    keys = block_keys(vpn[single], asid[single])
    rank = np.searchsorted(blocks, keys)
    ok = rank < len(blocks)
    ok[ok] = blocks[rank[ok]] == keys[ok]
    covered[(rank[ok] << BLOCK_SHIFT) | (vpn[single][ok] & (BLOCK_PAGES - 1))] = True
    for a, s, n in zip(asid[~single], vpn[~single], npages[~single]):
        e = s + n
        lo = np.searchsorted(blocks, (int(a) << 43) | (int(s) >> BLOCK_SHIFT))
        hi = np.searchsorted(blocks, (int(a) << 43) | ((int(e) - 1) >> BLOCK_SHIFT), "right")
        for r in range(lo, hi):
            block_vpn = (int(blocks[r]) & ((1 << 43) - 1)) << BLOCK_SHIFT
            a0 = max(int(s), block_vpn) - block_vpn
            a1 = min(int(e), block_vpn + BLOCK_PAGES) - block_vpn
            covered[(r << BLOCK_SHIFT) + a0:(r << BLOCK_SHIFT) + a1] = True
    return covered


def trace_summary(trace: Trace, chunk_rows: int = 1 << 20) -> dict:
    """Counts over the whole trace; memory bounded by the chunk and the touched blocks.

    The trace is checked first (``Trace.check``: every row, the sidecars; no rows is
    an error); the number of accesses is counted from the data, not the footer."""
    trace.check()
    touched = np.zeros(trace.num_dense_pages, bool)
    rows = 0
    ops = np.zeros(4, np.int64)
    first_time = last_time = None
    asids: set[int] = set()
    for ch in trace.iter_chunks(chunk_rows):
        if not len(ch):
            continue
        rows += len(ch)
        touched[trace.dense_ids(ch)] = True
        ops += np.bincount(ch.op, minlength=4)[:4]
        if first_time is None:
            first_time = int(ch.time_ns[0])
        last_time = int(ch.time_ns[-1])
        asids.update(np.unique(ch.asid).tolist())
    distinct = int(touched.sum())
    rw = int(ops[OP_READ] + ops[OP_WRITE])
    covered = content_covered(trace, touched) & touched
    regions = trace.regions()
    m = trace.meta
    return {
        "path": str(trace.path),
        "accesses": rows,
        "reads": int(ops[OP_READ]),
        "writes": int(ops[OP_WRITE]),
        "pageouts": int(ops[OP_PAGEOUT]),
        "frees": int(ops[OP_FREE]),
        "distinct_pages": distinct,
        "footprint_bytes": distinct * PAGE_SIZE,
        "blocks_2m": len(trace.block_table()),
        "address_spaces": len(asids),
        "duration_ns": (last_time - first_time) if first_time is not None else 0,
        "time_source": m.time_source,
        "write_fraction": (int(ops[OP_WRITE]) / rw) if rw else 0.0,
        "content_coverage": (int(covered.sum()) / distinct) if distinct else 0.0,
        "regions": regions.num_rows if regions is not None else 0,
        "source": {"format": m.source_format, "file": m.source_file,
                   "recorder": m.recorder, "command": m.command},
        "description": m.description,
        "licence": m.licence,
        "sampled": bool(m.sampled),
        "sampling": m.sampling,
    }
