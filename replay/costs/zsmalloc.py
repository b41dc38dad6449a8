"""zsmalloc size classes: what a compressed object really occupies in the pool.

zswap and zram store each compressed object with ``zs_malloc(pool, len)``
(mm/zsmalloc.c): the length plus an 8-byte handle (ZS_HANDLE_SIZE) is rounded
up to a size class (32 bytes minimum, then steps of PAGE_SIZE >> 8 = 16 bytes);
neighbouring classes with the same zspage geometry are merged into the larger
one (``can_merge``), and a zspage chains up to CONFIG_ZSMALLOC_CHAIN_SIZE
pages (8 here) chosen by ``calculate_zspage_chain_size`` to waste least.
zram stores anything of ``huge_class_size`` bytes or more uncompressed
(``zs_huge_class_size``). Left out: partially used zspages (fragmentation
between compactions), which depend on the order of stores and frees.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from replay.trace import PAGE_SIZE

ZS_HANDLE_SIZE = 8
ZS_MIN_ALLOC_SIZE = 32
ZS_SIZE_CLASS_DELTA = PAGE_SIZE >> 8
ZSMALLOC_CHAIN_SIZE = 8           # CONFIG_ZSMALLOC_CHAIN_SIZE default (and on these machines)


def _chain_size(class_size: int, max_pages: int) -> int:
    """calculate_zspage_chain_size(): pages per zspage wasting least (1 for powers of 2)."""
    if class_size & (class_size - 1) == 0:
        return 1
    best, chain = None, 1
    for i in range(1, max_pages + 1):
        waste = (i * PAGE_SIZE) % class_size
        if best is None or waste < best:
            best, chain = waste, i
    return chain


@cache
def size_class_table(chain_size: int = ZSMALLOC_CHAIN_SIZE) -> tuple[np.ndarray, int]:
    """(bytes occupied for each object length 0..PAGE_SIZE, huge_class_size), as zs_create_pool."""
    nclasses = -(-(PAGE_SIZE - ZS_MIN_ALLOC_SIZE) // ZS_SIZE_CLASS_DELTA) + 1
    class_size = np.zeros(nclasses, np.int64)
    huge = 0
    prev = None                               # (size, pages_per_zspage, objs_per_zspage)
    for i in range(nclasses - 1, -1, -1):     # largest first, as zs_create_pool
        size = min(ZS_MIN_ALLOC_SIZE + i * ZS_SIZE_CLASS_DELTA, PAGE_SIZE)
        pages = _chain_size(size, chain_size)
        objs = pages * PAGE_SIZE // size
        if pages != 1 and objs != 1 and not huge:
            huge = size - (ZS_HANDLE_SIZE - 1)
        if prev is not None and prev[1] == pages and prev[2] == objs:
            class_size[i] = prev[0]           # merged into the larger class
            continue
        class_size[i] = size
        prev = (size, pages, objs)
    lengths = np.arange(PAGE_SIZE + 1)
    with_handle = np.minimum(lengths + ZS_HANDLE_SIZE, PAGE_SIZE)
    idx = np.where(with_handle > ZS_MIN_ALLOC_SIZE,
                   -(-(with_handle - ZS_MIN_ALLOC_SIZE) // ZS_SIZE_CLASS_DELTA), 0)
    occupied = class_size[np.minimum(idx, nclasses - 1)]
    occupied[0] = 0
    return occupied, huge


def zs_alloc_bytes(length: np.ndarray | int, chain_size: int = ZSMALLOC_CHAIN_SIZE):
    """Pool bytes a stored object of ``length`` bytes (<= PAGE_SIZE) occupies (vectorised)."""
    table, _ = size_class_table(chain_size)
    return table[np.minimum(length, PAGE_SIZE)]


def zs_huge_class_size(chain_size: int = ZSMALLOC_CHAIN_SIZE) -> int:
    """zram stores a page whose compressed length is >= this uncompressed (ZRAM_HUGE)."""
    return size_class_table(chain_size)[1]
