"""Reading a canonical trace into dense page ids: what is pyarrow's, what is ours (prints a table).

What ``simulate()`` pays before the model sees an access: ``Trace.block_table()`` (one
validating pass collecting the distinct 2 MiB block keys), then a second pass of
``iter_chunks`` + ``dense_ids`` per chunk. Each row shows seconds (best of --repeat)
and M accesses/s on one trace, the current code beside the former numpy method:
validation by numpy comparisons, the block table by np.unique per chunk, dense ids by
np.searchsorted into the table (kept here for comparison; their results are checked to
be identical before anything is timed).

  decode                  pyarrow alone: iter_batches + zero-copy to_numpy (4 columns)
  decode + validation     iter_chunks of a fresh Trace (every row checked)
  block_table pass        a fresh Trace's block_table(): decode + validation + keys
  dense-id pass           iter_chunks + dense_ids once the block table is known (the new
                          code skips the check there: the block_table pass made it)
  open + both passes      what simulate() pays; target >= 30 M accesses/s on one core
  compute only            on chunks already decoded: validation, key set, id mapping

Default trace: Zipf(1.0), 1 M pages, --accesses accesses, cached in --cache (as
bench_engine.py). The process is pinned to one CPU unless --all-cores (pyarrow then
decodes columns on both cores). The machine is noisy: compare rows within one run.

    python benchmarks/bench_read.py [--trace PATH] [--accesses 10000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from replay.dense_ids import BlockSet, DenseIndex, accesses_ok
from replay.gen import generate_to
from replay.trace import (
    ASID_LIMIT,
    BLOCK_PAGES,
    BLOCK_SHIFT,
    DEFAULT_CHUNK_ROWS,
    OP_FREE,
    VPN_LIMIT,
    Trace,
    block_keys,
    open_trace,
)

PAGES = 1_000_000
COLUMNS = ["time_ns", "vpn", "op", "asid"]


def zipf_trace(cache: Path, accesses: int, seed: int = 1) -> Path:
    path = cache / f"zipf-a1.0-{PAGES}p-{accesses}.parquet"
    if not path.exists():
        t = time.perf_counter()
        generate_to(path, "zipf", accesses=accesses, pages=PAGES, alpha=1.0, seed=seed)
        print(f"generated {path.name} in {time.perf_counter() - t:.1f} s", flush=True)
    return path


# ---------------------------------------------------------------- the former methods


def numpy_rows_ok(time_ns, vpn, op, asid, last_time: int) -> bool:
    """The former check_accesses: vectorised numpy comparisons."""
    bad = ((vpn < 0) | (vpn >= VPN_LIMIT)).any() or (op > OP_FREE).any() \
        or ((asid < 0) | (asid >= ASID_LIMIT)).any() or bool(time_ns[0] < last_time)
    return not (bad or (len(time_ns) > 1 and (time_ns[1:] < time_ns[:-1]).any()))


def numpy_block_table(chunks) -> np.ndarray:
    """The former block_table: np.unique per chunk, merged every 16 chunks."""
    parts = []
    acc = np.zeros(0, np.int64)
    for vpn, asid in chunks:
        parts.append(np.unique(block_keys(vpn, asid)))
        if len(parts) >= 16:
            acc = np.unique(np.concatenate([acc, *parts]))
            parts = []
    return np.unique(np.concatenate([acc, *parts])) if parts or len(acc) \
        else np.zeros(0, np.int64)


def searchsorted_ids(table: np.ndarray, vpn: np.ndarray, asid: np.ndarray) -> np.ndarray:
    """The former dense_ids."""
    rank = np.searchsorted(table, block_keys(vpn, asid))
    return (rank.astype(np.int64) << BLOCK_SHIFT) | (vpn & (BLOCK_PAGES - 1))


# ---------------------------------------------------------------- passes


def decoded(path: Path, rows: int):
    """(time_ns, vpn, op, asid) numpy arrays per batch: pyarrow alone, nothing checked."""
    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows, columns=COLUMNS):
        yield [batch.column(i).to_numpy(zero_copy_only=False) for i in range(4)]


def old_validated(path: Path, rows: int):
    last = -(1 << 63)
    for cols in decoded(path, rows):
        if len(cols[1]):
            assert numpy_rows_ok(*cols, last)
            last = int(cols[0][-1])
        yield cols


def old_block_table_pass(path: Path, rows: int) -> np.ndarray:
    return numpy_block_table((c[1], c[3]) for c in old_validated(path, rows))


def old_dense_pass(path: Path, table: np.ndarray, rows: int) -> int:
    total = 0
    for cols in old_validated(path, rows):
        total += len(searchsorted_ids(table, cols[1], cols[3]))
    return total


def new_dense_pass(tr: Trace, rows: int) -> int:
    total = 0
    for ch in tr.iter_chunks(rows):
        total += len(tr.dense_ids(ch))
    return total


def best_of(repeat: int, fns: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best seconds of each function, the functions interleaved round by round."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trace", type=Path, help="a canonical trace (default: generated Zipf)")
    ap.add_argument("--accesses", type=int, default=10_000_000)
    ap.add_argument("--cache", type=Path,
                    default=Path(tempfile.gettempdir()) / "folio-replay-bench")
    ap.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--all-cores", action="store_true", help="do not pin to one CPU")
    a = ap.parse_args()
    if not a.all_cores:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    a.cache.mkdir(parents=True, exist_ok=True)
    path = a.trace or zipf_trace(a.cache, a.accesses)
    rows = a.chunk_rows
    tr = open_trace(path)
    n = tr.num_accesses

    # warm up (first use of each function) and check old == new before timing anything
    t = time.perf_counter()
    table = tr.block_table(rows)
    ids = [tr.dense_ids(ch) for ch in tr.iter_chunks(rows)]
    print(f"{path}\n{n:,} accesses, {len(table):,} blocks of 2 MiB, chunks of {rows:,} rows, "
          f"{'all cores' if a.all_cores else 'one CPU'}; warm-up {time.perf_counter() - t:.1f} s",
          flush=True)
    assert np.array_equal(table, old_block_table_pass(path, rows)), "block tables differ"
    for got, cols in zip(ids, decoded(path, rows), strict=True):
        assert np.array_equal(got, searchsorted_ids(table, cols[1], cols[3])), "ids differ"
    print("block table and dense ids identical to np.unique + np.searchsorted", flush=True)
    del ids

    def new_block_table() -> None:
        open_trace(path).block_table(rows)

    def new_total() -> None:
        t2 = open_trace(path)
        t2.block_table(rows)
        new_dense_pass(t2, rows)

    def old_total() -> None:
        old_dense_pass(path, old_block_table_pass(path, rows), rows)

    checked = open_trace(path)
    checked.block_table(rows)                # its later passes skip the row check
    passes = best_of(a.repeat, {
        "decode": lambda: sum(1 for _ in decoded(path, rows)),
        "decode + validation (new)": lambda: sum(1 for _ in open_trace(path).iter_chunks(rows)),
        "decode + validation (old)": lambda: sum(1 for _ in old_validated(path, rows)),
        "block_table pass (new)": new_block_table,
        "block_table pass (old)": lambda: old_block_table_pass(path, rows),
        "dense-id pass (new)": lambda: new_dense_pass(checked, rows),
        "dense-id pass (old)": lambda: old_dense_pass(path, table, rows),
        "open + both passes (new)": new_total,
        "open + both passes (old)": old_total,
    })

    chunks = list(decoded(path, rows))
    index = DenseIndex(table)

    def key_set() -> None:
        s = BlockSet()
        for c in chunks:
            s.add(c[1], c[3])
        s.sorted_keys_and_chunks()      # what block_table() takes

    last_times = [-(1 << 63)] + [int(c[0][-1]) for c in chunks[:-1]]

    def each(fn: Callable) -> Callable[[], None]:
        """Call fn per chunk, dropping each result at once as the engine does."""
        def run() -> None:
            for c, lt in zip(chunks, last_times, strict=True):
                fn(c, lt)
        return run

    compute = best_of(a.repeat, {
        "validation (new: C)": each(lambda c, lt: accesses_ok(*c, lt)),
        "validation (old: numpy)": each(lambda c, lt: numpy_rows_ok(*c, lt)),
        "block keys (new: hash set + sort)": key_set,   # with the chunk masks
        "block keys (old: np.unique)": lambda: numpy_block_table((c[1], c[3]) for c in chunks),
        "dense ids (new: hash lookup)": each(lambda c, lt: index.dense_ids(c[1], c[3])),
        "dense ids (old: searchsorted)": each(lambda c, lt: searchsorted_ids(table, c[1], c[3])),
    })

    print(f"\n{'':36s} {'seconds':>8s} {'M acc/s':>8s}  new vs old")
    for title, res in (("passes over the file", passes), ("compute only, chunks decoded", compute)):
        print(title)
        for name, s in res.items():
            ratio = ""
            if name.endswith("(new)") or "(new:" in name:
                old = [v for k, v in res.items()
                       if k.split(" (")[0] == name.split(" (")[0] and "old" in k]
                ratio = f"  {old[0] / s:5.1f}x" if old else ""
            print(f"  {name:34s} {s:8.3f} {n / s / 1e6:8.1f}{ratio}")
    total = passes["open + both passes (new)"]
    print(f"\ntarget: open + both passes >= 30 M accesses/s: {n / total / 1e6:.1f} "
          f"({'met' if n / total >= 30e6 else 'NOT met'})")


if __name__ == "__main__":
    main()
