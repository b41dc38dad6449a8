"""`replay validate --fault-log`: every fault on a swapped-out page, kernel and model.

The counters say how many swap-ins the kernel and the model took; the fault
log says which, in order: for each read or write of a page whose PTE is a
swap entry, the trace record, the page, its swap offset and whether the
access read it from swap (a major fault) or found it in the swap cache (a
readahead hit). The replayer reads the kernel's side from
/proc/self/pagemap before the access and its major-fault count after it;
the model logs the same at the same point of do_swap_page().

One CSV, a row per fault: ``source`` (``kernel run N`` or ``model POLICY``),
``seq`` (the fault's position in its source), ``record`` (the trace record,
0-based), ``page`` (the replayer's dense page id: the same in both),
``swap_offset`` (the kernel's offset on its device, which counts from 1
after the swap header; the model's slot, from 0) and ``major`` (1 read from
swap, 0 a swap cache hit).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from replay import atomic
from replay.errors import SettingsError, os_reason

PM_SWAP = np.uint64(1 << 62)
PM_PFN_MASK = np.uint64((1 << 55) - 1)
SWP_TYPE_BITS = np.uint64(5)           # MAX_SWAPFILES_SHIFT: type in bits 0-4, offset above
FIELDS = 4
MAX_FAULTS = 1 << 21                   # the replayer's and the model's capacity


def read_kernel_log(path: str | os.PathLike) -> np.ndarray:
    """The replayer's log (record, page, pagemap entry, major faults taken) as rows
    (record, page, swap offset, major)."""
    raw = np.fromfile(path, dtype=np.uint64)
    if raw.size % FIELDS:
        raise ValueError(f"{path}: {raw.size} words, not rows of {FIELDS}")
    raw = raw.reshape(-1, FIELDS)
    out = np.empty((len(raw), FIELDS), np.int64)
    out[:, 0] = raw[:, 0]
    out[:, 1] = raw[:, 1]
    out[:, 2] = ((raw[:, 2] & PM_PFN_MASK) >> SWP_TYPE_BITS).astype(np.int64)
    out[:, 3] = (raw[:, 3] >= 1).astype(np.int64)      # major faults the access took
    return out


def model_rows(log: np.ndarray) -> np.ndarray:
    """The model's log (access, page, slot, swap cache hit) as (record, page, slot, major)."""
    out = np.array(log, dtype=np.int64, copy=True).reshape(-1, FIELDS)
    out[:, 3] = 1 - out[:, 3]
    return out


def write_fault_log(path: str | os.PathLike, logs: dict[str, np.ndarray],
                    inputs=()) -> int:
    """Write every source's rows to one CSV (atomically); returns the rows written."""
    sources, seqs, cols = [], [], [[], [], [], []]
    for name, rows in logs.items():
        rows = np.asarray(rows, np.int64).reshape(-1, FIELDS)
        sources.append(np.full(len(rows), name, dtype=object))
        seqs.append(np.arange(len(rows), dtype=np.int64))
        for k in range(FIELDS):
            cols[k].append(rows[:, k])

    def cat(parts, dt):
        return np.concatenate(parts) if parts else np.empty(0, dt)

    table = pa.table({
        "source": pa.array(cat(sources, object), pa.string()),
        "seq": cat(seqs, np.int64),
        "record": cat(cols[0], np.int64),
        "page": cat(cols[1], np.int64),
        "swap_offset": cat(cols[2], np.int64),
        "major": cat(cols[3], np.int64),
    })
    final = atomic.check_output(path, inputs)
    tmp = atomic.temp_beside(final)
    try:
        pacsv.write_csv(table, str(tmp))
        atomic.replace(tmp, final)
    except OSError as e:
        atomic.remove_temp(tmp)
        raise SettingsError(f"cannot write the fault log ({os_reason(e)})",
                            path=Path(path)) from None
    except BaseException:
        atomic.remove_temp(tmp)
        raise
    return table.num_rows


def summary(rows: np.ndarray) -> dict:
    """Faults, major faults, swap cache hits, and how often consecutive majors hit
    adjacent offsets (what opens cluster readahead's window without hits)."""
    rows = np.asarray(rows).reshape(-1, FIELDS)
    major = rows[:, 3] == 1
    off = rows[major, 2]
    adjacent = float(np.mean(np.abs(np.diff(off)) == 1)) if len(off) > 1 else 0.0
    return {"faults": int(len(rows)), "major": int(major.sum()),
            "swap_cache_hits": int((~major).sum()), "adjacent_majors": adjacent}
