"""Invariants of the model state, checked after every replay (and by the tests).

- every touched page is in exactly one place, and that place is consistent:
  a resident or swap-cache page belongs to a folio whose head is on an LRU list;
  a swapped-out page owns its slot; a zswap page is on the zswap LRU;
- the LRU lists hold exactly the resident folios, and their page counts match;
- the memcg usage is the resident pages plus the charge stock (plus the charged
  zswap pool on cgroup v2);
- the zswap pool is the sum of its entries;
- counters add up: pages written back from zswap were counted as zswpout before
  and are counted in pswpout too; zswap loads never exceed stores (a load erases
  the entry; zeromap and device pages can be read again from a clean swap cache).
"""

from __future__ import annotations

import numpy as np

from replay.model.state import (
    BACKEND_ZSWAP,
    F_LRU,
    MAX_ORDER,
    P_BACKEND,
    P_DEVICE,
    P_MAPPED,
    P_MEMCG_V2,
    P_SWAPCACHE,
    P_ZEROMAP,
    P_ZSWAP,
    S_NR_ACTIVE,
    S_NR_INACTIVE,
    S_POOL_BYTES,
    S_POOL_PAGES_CHARGED,
    S_RESIDENT,
    S_STOCK,
    S_SWAP_USED,
    S_USAGE,
    S_ZS_COUNT,
    C,
    ModelState,
    StateView,
)


def _walk(next_arr, sentinel, limit):
    out = []
    x = int(next_arr[sentinel])
    while x != sentinel and len(out) <= limit:
        out.append(x)
        x = int(next_arr[x])
    return out


def check_invariants(st: ModelState) -> list[str]:
    """Problems found (empty when the state is consistent)."""
    bad: list[str] = []
    st = StateView(st)
    n = st.n
    ps = st.pstate
    resident = (ps == P_MAPPED) | (ps == P_SWAPCACHE)
    if (st.head[resident] < 0).any():
        bad.append("a resident page has no folio")
    swapped = (ps == P_ZSWAP) | (ps == P_DEVICE) | (ps == P_ZEROMAP)
    sl = st.slot[swapped]
    if (sl < 0).any():
        bad.append("a swapped-out page has no swap slot")
    elif len(sl) and (st.slot_owner[sl] != np.flatnonzero(swapped)).any():
        bad.append("a swap slot does not point back at its page")
    if int(st.S[S_SWAP_USED]) != int((st.slot >= 0).sum()):
        bad.append(f"swap slots in use {int(st.S[S_SWAP_USED])} != pages holding one "
                   f"{int((st.slot >= 0).sum())}")
    if int((st.slot_owner >= 0).sum()) != int(st.S[S_SWAP_USED]):
        bad.append("slot owners and slots in use disagree")
    # LRU lists
    folio_pages = 0
    heads = set()
    for lst, count_idx in ((n, S_NR_INACTIVE), (n + 1, S_NR_ACTIVE)):
        members = _walk(st.lru_next, lst, n + 2)
        pages = sum(1 << int(st.forder[h]) for h in members)
        if pages != int(st.S[count_idx]):
            bad.append(f"LRU list {count_idx} counts {int(st.S[count_idx])} pages, "
                       f"holds {pages}")
        folio_pages += pages
        heads.update(members)
    in_folio = np.flatnonzero(st.head >= 0)
    if set(np.unique(st.head[in_folio]).tolist()) != heads:
        bad.append("folios on the LRU differ from the folios pages belong to")
    if folio_pages != len(in_folio):
        bad.append(f"LRU holds {folio_pages} pages, {len(in_folio)} pages are in folios")
    if any(not st.fflags[h] & F_LRU for h in heads):
        bad.append("a listed folio lacks its LRU flag")
    if int(st.S[S_RESIDENT]) != len(in_folio):
        bad.append(f"resident count {int(st.S[S_RESIDENT])} != pages in folios {len(in_folio)}")
    usage = len(in_folio) + int(st.S[S_STOCK])
    if st.P[P_MEMCG_V2]:
        usage += int(st.S[S_POOL_PAGES_CHARGED])
    if usage != int(st.S[S_USAGE]) and not st.C[C["oom_kill"]]:
        bad.append(f"memcg usage {int(st.S[S_USAGE])} != resident + stock (+ pool) {usage}")
    # zswap
    zs = np.flatnonzero(ps == P_ZSWAP)
    if len(zs) != int(st.S[S_ZS_COUNT]):
        bad.append(f"{len(zs)} pages in zswap, {int(st.S[S_ZS_COUNT])} entries on its LRU")
    if st.P[P_BACKEND] == BACKEND_ZSWAP:
        comp = st.comp[zs].astype(np.int64)
        size = np.where(comp >= 4096, 4096, (comp + 15) // 16 * 16)
        if int(size.sum()) != int(st.S[S_POOL_BYTES]):
            bad.append(f"zswap pool {int(st.S[S_POOL_BYTES])} bytes != sum of entries "
                       f"{int(size.sum())}")
    # swap clusters: free counts match the slots, the search trees match the clusters
    n_clusters = len(st.cluster_free)
    used = (st.slot_owner.reshape(n_clusters, -1) >= 0).sum(axis=1)
    if (st.cluster_free != st.slot_owner.shape[0] // n_clusters - used).any():
        bad.append("a cluster's free count disagrees with its slots")
    leaves = len(st.cluster_trees) // (2 * MAX_ORDER)
    trees = st.cluster_trees.reshape(MAX_ORDER, 2 * leaves)
    free = st.cluster_free
    free_class = np.where(free > 0, 1 << np.maximum(np.log2(np.maximum(free, 1)), 0)
                          .astype(np.int64), 0)          # largest power of two <= free
    if (trees[0, leaves:leaves + n_clusters] != free_class).any():
        bad.append("the cluster search tree disagrees with the free counts")
    for k in range(1, MAX_ORDER):
        want = np.where(st.cluster_order == k, free_class, -1)
        if (trees[k, leaves:leaves + n_clusters] != want).any():
            bad.append(f"the order-{k} cluster search tree disagrees with the clusters")
    inner = np.maximum(trees[:, 2:2 * leaves:2], trees[:, 3:2 * leaves:2])
    if leaves > 1 and (trees[:, 1:leaves] != inner).any():
        bad.append("a cluster search tree node is not the max of its children")
    # counters
    c = st.C
    if c[C["pswpout"]] < c[C["zswpwb"]]:
        bad.append("zswpwb exceeds pswpout: written-back pages must count in pswpout")
    if c[C["zswpin"]] > c[C["zswpout"]]:
        bad.append("zswpin exceeds zswpout")
    if c[C["pgmajfault"]] > c[C["pgfault"]]:
        bad.append("pgmajfault exceeds pgfault")
    return bad
