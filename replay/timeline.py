"""The timeline of a replay: the model's state sampled at fixed windows.

The replay loop (replay/mm/replay.c) writes one row of cumulative
counters (and the pool and resident sizes at that moment) at the end of every
window into a small preallocated buffer; ``Timeline`` collects the rows across
chunks and turns them into per-window figures. Windows are either N accesses or
a span of simulated time; a time window ends at the first access that completes
past its boundary, so a window with no access in it merges into the next (its
row says how long it really was). Memory stays bounded: past ``max_rows`` rows
every other row is dropped (rows are cumulative, so two windows merge into one)
and the window size doubles.
"""

from __future__ import annotations

import numpy as np

from replay import _mm
from replay.model.state import MAX_ORDER
from replay.trace import PAGE_SIZE

MODE_OFF, MODE_ACCESSES, MODE_TIME = 0, 1, 2
# columns of a row (enum in replay/mm/replay.h)
(TL_ACCESSES, TL_TRACE_NS, TL_KERNEL_PS, TL_TLB_PS, TL_TLB_WALKS, TL_PGFAULT, TL_PGMAJFAULT,
 TL_SWAPIN_PS, TL_POOL_BYTES, TL_RESIDENT_PAGES) = range(10)
TL_SWPIN = 10                       # 10..19: folios swapped in, per order
NR_TL = TL_SWPIN + MAX_ORDER
assert NR_TL == _mm.NR_TL
BUFFER_ROWS = 256                   # rows per replay call before Python drains them
DEFAULT_WINDOWS = 500               # windows of a trace when none is given
MAX_ROWS = 4096


class Timeline:
    """Rows of one policy's replay, collected from the compiled loop's buffer."""

    def __init__(self, model, mode: int, window: int, max_rows: int = MAX_ROWS):
        self.mode = mode
        self.window = int(window)
        self.max_rows = max_rows
        self.rows: list[np.ndarray] = []
        self.nrows = 0
        self.buffer = np.zeros((BUFFER_ROWS, NR_TL), np.int64)
        model.tl_mode = mode
        model.tl_window = self.window
        model.tl_next = self.window
        model.tl_rows = 0

    def drain(self, model) -> None:
        """Take the rows the replay loop wrote; coarsen when there are too many."""
        n = int(model.tl_rows)
        if n:
            self.rows.append(self.buffer[:n].copy())
            self.nrows += n
            model.tl_rows = 0
        while self.nrows > self.max_rows:
            allrows = np.concatenate(self.rows)
            keep = allrows[1::2]
            self.rows = [keep]
            self.nrows = len(keep)
            self.window *= 2
            model.tl_window = self.window
            last = keep[-1]
            now = last[TL_ACCESSES] if self.mode == MODE_ACCESSES else (
                last[TL_TRACE_NS] * 1000 + last[TL_KERNEL_PS] + last[TL_TLB_PS])
            model.tl_next = (int(now) // self.window + 1) * self.window

    def finish(self, model) -> None:
        """A last row for the accesses after the last full window."""
        self.drain(model)
        done, trace_ns = int(model.accesses), int(model.trace_ns)
        last_done = int(self.rows[-1][-1][TL_ACCESSES]) if self.nrows else 0
        if done > last_done:
            buf = np.zeros((1, NR_TL), np.int64)
            model.timeline_row(buf[0], done, trace_ns)
            self.rows.append(buf)
            self.nrows += 1

    def to_dict(self) -> dict:
        """Per-window figures, as columns (lists of equal length)."""
        unit = "accesses" if self.mode == MODE_ACCESSES else "ns"
        size = self.window if self.mode == MODE_ACCESSES else self.window / 1000.0
        out: dict = {"window": {"unit": unit, "size": size}}
        if not self.nrows:
            out["columns"] = {}
            return out
        r = np.concatenate(self.rows)
        prev = np.vstack([np.zeros((1, NR_TL), np.int64), r[:-1]])
        clock_ps = r[:, TL_TRACE_NS] * 1000 + r[:, TL_KERNEL_PS] + r[:, TL_TLB_PS]
        start_ps = np.r_[0, clock_ps[:-1]]
        d = r - prev
        span_s = (clock_ps - start_ps) / 1e12
        acc = d[:, TL_ACCESSES]
        with np.errstate(divide="ignore", invalid="ignore"):
            tput = np.where(span_s > 0, acc / span_s, 0.0)
        cols = {
            "start_ns": (start_ps / 1000.0).tolist(),
            "end_ns": (clock_ps / 1000.0).tolist(),
            "accesses": acc.tolist(),
            "accesses_per_s": tput.tolist(),
            "pgfault": d[:, TL_PGFAULT].tolist(),
            "pgmajfault": d[:, TL_PGMAJFAULT].tolist(),
            "swapin_ns": (d[:, TL_SWAPIN_PS] / 1000.0).tolist(),
            "tlb_walks": d[:, TL_TLB_WALKS].tolist(),
            "pool_bytes": r[:, TL_POOL_BYTES].tolist(),
            "resident_bytes": (r[:, TL_RESIDENT_PAGES] * PAGE_SIZE).tolist(),
        }
        swapins = {}
        for k in range(MAX_ORDER):
            col = d[:, TL_SWPIN + k]
            if col.any():
                swapins[f"{(PAGE_SIZE << k) // 1024}kB"] = col.tolist()
        cols["swapins"] = swapins
        out["columns"] = cols
        return out


def default_window(num_accesses: int) -> int:
    """Accesses per window giving about DEFAULT_WINDOWS windows."""
    return max(1, -(-int(num_accesses) // DEFAULT_WINDOWS))
