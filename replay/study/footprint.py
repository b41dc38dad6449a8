"""A trace's footprint: the distinct pages it reads or writes, and how many of them
have recorded contents. Memory limits given as a percent are of this footprint."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from replay.info import content_covered
from replay.trace import OP_WRITE, PAGE_SIZE, Trace


@dataclass(frozen=True)
class Footprint:
    accesses: int
    distinct_pages: int          # pages read or written (op <= 1) at least once
    content_pages: int           # of those, pages the contents sidecar covers

    @property
    def bytes(self) -> int:
        return self.distinct_pages * PAGE_SIZE

    @property
    def content_coverage(self) -> float:
        return self.content_pages / self.distinct_pages if self.distinct_pages else 0.0

    def to_dict(self) -> dict:
        return {"accesses": self.accesses, "distinct_pages": self.distinct_pages,
                "footprint_bytes": self.bytes, "content_coverage": self.content_coverage}


def trace_footprint(trace: Trace, chunk_rows: int = 1 << 20) -> Footprint:
    """One streamed pass: pages read or written (MADV_PAGEOUT and frees do not count)."""
    touched = np.zeros(trace.num_dense_pages, bool)
    for chunk in trace.iter_chunks(chunk_rows):
        if len(chunk):
            ids = trace.dense_ids(chunk)
            touched[ids[chunk.op <= OP_WRITE]] = True
    distinct = int(touched.sum())
    covered = int((content_covered(trace, touched) & touched).sum()) if distinct else 0
    return Footprint(int(trace.num_accesses), distinct, covered)
