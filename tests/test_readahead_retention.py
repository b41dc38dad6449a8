"""Readahead pages loaded from zswap stay in memory until a fault maps them (v6.18).

pageout() returns PAGE_ACTIVATE for a folio that is not anon
(``!shmem_mapping(mapping) && !folio_test_anon(folio)``), and a swap cache
folio read ahead and never mapped has no anon mapping yet; loaded from zswap
it is dirty (zswap_load() erased its entry), so reclaim reaches pageout() and
activates it, each time it finds it. Read from a device it is clean and
reclaimed without I/O.

The trace is the one measured on the live kernel (docs/validation.md, "Cluster
readahead at page-cluster 3: found"): in a 16 MiB memcg v1, zswap over a
rotational loop device, page-cluster 3, 64K mTHP everywhere: write A (2,048
pages) and B (8,192: pushes A out), read 4 pages of each aligned 8 of A
(readahead brings the other 4 into the swap cache), write D new pages, then
read the fifth page of each 8. The kernel (6.18.44, three runs): 254 of the
256 probes were swap cache hits at D = 0, 1,024 and 8,192 (twice the memcg),
pgmajfault 260, swap_ra 1,788-1,792, swap_ra_hit 1,020, pgactivate 985-1,016,
active_anon 4,161,536 bytes at the end.
"""

from __future__ import annotations

import numpy as np
import pytest

from replay.engine import simulate
from replay.gen import BASE_VPN, generate
from replay.model.config import ModelConfig
from replay.trace import write_trace

A, B = 2048, 8192
PROBES = A // 8


def retention_trace(path, d: int) -> str:
    seq: list[int] = []
    ops: list[int] = []
    seq += range(A)
    ops += [1] * A                                  # write A
    seq += range(4096, 4096 + B)
    ops += [1] * B                                  # write B: A goes out to zswap
    for k in range(A // 8):                         # read 4 of each aligned 8 of A
        seq += [8 * k + j for j in range(4)]
        ops += [0] * 4
    c0 = 4096 + B + 2048
    seq += range(c0, c0 + d)
    ops += [1] * d                                  # D new pages
    seq += [8 * k + 4 for k in range(A // 8)]
    ops += [0] * PROBES                             # probe the pages read ahead
    t = generate("seq", pages=c0 + max(d, 1) + 16, accesses=16, content="text")
    write_trace(path, t["meta"], np.arange(len(seq), dtype=np.int64) * 100,
                BASE_VPN + np.array(seq, np.int64), np.array(ops, np.uint8),
                regions=t["regions"], contents=t["contents"])
    return str(path)


def config(**kw) -> ModelConfig:
    base = dict(memory_limit_bytes=16 << 20, mthp_sizes_kb=(64,), thp_enabled="madvise",
                hugepage_default=True, hugepage_all=True, block_mappings=True,
                backend="zswap", swap_device="loop", swap_bytes=256 << 20, page_cluster=3,
                rotational=True, memcg="v1", first_read="allocate", zswap_ever_enabled=True,
                compressor="lz4")
    base.update(kw)
    return ModelConfig(**base)


def probe_hits(result) -> int:
    log = result["fault_log"]
    assert len(log) >= PROBES
    probes = log[-PROBES:]
    assert list(probes[:, 1] % 8) == [4] * PROBES     # the last faults are the probes
    return int(probes[:, 3].sum())                    # 1: a swap cache hit


@pytest.mark.parametrize("d", [0, 8192])
def test_zswap_readahead_pages_outlive_twice_the_memcg(tmp_path, d):
    r = simulate(retention_trace(tmp_path / "t.parquet", d), config(), ["order0-fallback"],
                 fault_log=1 << 16)[0]
    c = r["counters"]
    assert probe_hits(r) >= PROBES - 4               # the kernel: 254 of 256
    assert c["pgmajfault"] == 260                    # the kernel: 260
    assert c["swap_ra_hit"] == 1020                  # the kernel: 1,020
    assert 1780 <= c["swap_ra"] <= 1800              # the kernel: 1,788-1,792
    assert r["derived"]["readahead_activated"] >= (PROBES * 3 if d else 0)


def test_readahead_pages_from_a_device_are_reclaimed(tmp_path):
    # the pool takes nothing: A is written to the device, read back clean, and the
    # pages read ahead are dropped without I/O under the new pages' pressure
    r = simulate(retention_trace(tmp_path / "t.parquet", 8192), config(zswap_max_pool_bytes=0),
                 ["order0-fallback"], fault_log=1 << 16)[0]
    assert probe_hits(r) <= 8
    assert r["derived"]["readahead_activated"] == 0
    assert r["counters"]["pgmajfault"] > 260 + PROBES - 8
