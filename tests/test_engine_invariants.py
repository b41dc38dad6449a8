"""Invariants after every replay, checked here independently of replay.model.invariants.

- every touched page is in exactly one place (resident, swap cache, zswap, device,
  zeromap, zero page, freed) and the structures agree: folios, swap slots and
  clusters, the zswap LRU;
- counters add up the way the kernel counts them (a page written back from zswap is
  counted in zswpout and in pswpout; every page swapped in was read from exactly one
  of zswap, the device or the zeromap);
- chunking the trace (any chunk size) and running twice change nothing but timings.
"""

from __future__ import annotations

import numpy as np
import pytest

from replay.engine import simulate
from replay.model.config import ModelConfig
from replay.model.invariants import check_invariants
from replay.model.state import (
    CLUSTER_PAGES,
    MAX_ORDER,
    P_DEVICE,
    P_FREED,
    P_MAPPED,
    P_NONE,
    P_SWAPCACHE,
    P_ZEROMAP,
    P_ZEROPAGE,
    P_ZSWAP,
    PER_SIZE_NAMES,
    C,
    StateView,
)
from replay.policies import BUILTIN
from replay.trace import open_trace

POLICIES = tuple(BUILTIN)
PS_SWPOUT = PER_SIZE_NAMES.index("swpout")
PS_SWPIN = PER_SIZE_NAMES.index("swpin")


def without_run(results: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "run"} for r in results]


def touched_pages(path, upto: int | None = None) -> np.ndarray:
    """Dense ids of the pages the trace reads or writes (in its first ``upto`` accesses)."""
    t = open_trace(path)
    ids, ops = [], []
    for ch in t.iter_chunks():
        ids.append(t.dense_ids(ch))
        ops.append(ch.op)
    ids, ops = np.concatenate(ids)[:upto], np.concatenate(ops)[:upto]
    return np.unique(ids[ops <= 1])


def state_problems(v: StateView, touched: np.ndarray, frees: bool) -> list[str]:
    """Everything wrong with one final state (empty when it is consistent)."""
    bad: list[str] = []
    ps, head, slot, order = v.pstate, v.head, v.slot, v.forder
    pages = np.arange(v.n)
    if (ps > P_FREED).any():
        bad.append("a page state out of range")
    if (ps[touched] == P_NONE).any():
        bad.append("a page the trace read or wrote is in no place at all")
    resident = (ps == P_MAPPED) | (ps == P_SWAPCACHE)
    swapped = (ps == P_ZSWAP) | (ps == P_DEVICE) | (ps == P_ZEROMAP)
    # folios
    if (head[resident] < 0).any():
        bad.append("a resident page belongs to no folio")
    if (head[swapped | (ps == P_NONE) | (ps == P_ZEROPAGE)] >= 0).any():
        bad.append("a page that is not resident belongs to a folio")
    heads = np.unique(head[head >= 0])
    for h in heads:
        nr = 1 << int(order[h])
        if h % nr:
            bad.append(f"folio {h} of order {int(order[h])} is not aligned")
        if not (head[h:h + nr] == h).all():
            bad.append(f"folio {h}: a page inside it names another head")
        if int((head == h).sum()) != nr:
            bad.append(f"folio {h}: {int((head == h).sum())} pages name it, order says {nr}")
        if not ((ps[h:h + nr] == P_MAPPED) | (ps[h:h + nr] == P_SWAPCACHE)).any():
            bad.append(f"folio {h} has no resident page")
        if h < v.vma_lo[h] or h + nr > v.vma_hi[h]:
            bad.append(f"folio {h} crosses its mapping's bounds")
    # swap slots and clusters
    if (slot[swapped] < 0).any():
        bad.append("a swapped-out page has no slot")
    if (slot[(ps == P_NONE) | (ps == P_ZEROPAGE)] >= 0).any():
        bad.append("a page with nothing to keep holds a slot")
    if (slot[(ps == P_FREED) & (head < 0)] >= 0).any():
        bad.append("a freed page leaks its swap slot")
    holders = pages[slot >= 0]
    if (v.slot_owner[slot[holders]] != holders).any():
        bad.append("a slot's owner is not the page holding it")
    owned = np.flatnonzero(v.slot_owner >= 0)
    if (slot[v.slot_owner[owned]] != owned).any():
        bad.append("a slot names a page that does not hold it")
    if v.slot_owner[0] != -2:                 # slot_owner - 1 of the swap header's page
        bad.append("slot 0 is not the swap header's")
    free = (v.slot_owner.reshape(-1, CLUSTER_PAGES) == -1).sum(axis=1)
    if (free != v.cluster_free).any():
        bad.append("a cluster's free count differs from its free slots")
    # zswap LRU holds exactly the pages in zswap
    lru = v.zswap_lru.tolist()
    if len(lru) != len(set(lru)) or set(lru) != set(np.flatnonzero(ps == P_ZSWAP).tolist()):
        bad.append("the zswap LRU and the pages in zswap differ")
    # counters (kernel names)
    c = {name: int(v.C[i]) for name, i in C.items()}
    derived = {"swapin_pages": int(v.D[1]), "swapin_pages_used": int(v.D[2]),
               "readahead_pages": int(v.D[3]), "unused_reclaimed": int(v.D[0])}
    if derived["swapin_pages"] != c["zswpin"] + c["pswpin"] + c["swpin_zero"]:
        bad.append("pages swapped in != zswpin + pswpin + swpin_zero")
    device_writes = sum(int(v.PS[o, PS_SWPOUT]) << o for o in range(MAX_ORDER))
    if c["pswpout"] != device_writes + c["zswpwb"]:
        bad.append(f"pswpout {c['pswpout']} != folios written to the device "
                   f"{device_writes} + zswap writeback {c['zswpwb']}")
    entries = int((ps == P_ZSWAP).sum())
    if not frees and entries != c["zswpout"] - c["zswpin"] - c["zswpwb"]:
        bad.append(f"{entries} zswap entries != zswpout - zswpin - zswpwb "
                   f"({c['zswpout']} - {c['zswpin']} - {c['zswpwb']})")
    if entries > c["zswpout"] - c["zswpin"] - c["zswpwb"]:
        bad.append("more zswap entries than were stored and not loaded or written back")
    for small, big in (("pgmajfault", "pgfault"), ("pgsteal", "pgscan"),
                       ("swap_ra_hit", "swap_ra"),
                       ("workingset_activate_anon", "workingset_refault_anon"),
                       ("workingset_restore_anon", "workingset_activate_anon"),
                       ("zswpin", "zswpout")):
        if c[small] > c[big]:
            bad.append(f"{small} {c[small]} exceeds {big} {c[big]}")
    if derived["readahead_pages"] != c["swap_ra"]:
        bad.append("readahead pages != swap_ra")
    if derived["swapin_pages_used"] + derived["unused_reclaimed"] > derived["swapin_pages"]:
        bad.append("more swapped-in pages used or reclaimed unused than swapped in")
    for o in range(1, MAX_ORDER):
        row = dict(zip(PER_SIZE_NAMES, v.PS[o, :len(PER_SIZE_NAMES)].tolist()))
        if row["swpin_fallback_charge"] > row["swpin_fallback"] or \
                row["anon_fault_fallback_charge"] > row["anon_fault_fallback"]:
            bad.append(f"order {o}: a charge fallback not counted as a fallback")
    return bad


CONFIGS = {
    # a 4 MiB cgroup v2 memcg fills with its own zswap pool (shrinker off) and with the
    # pages read ahead from zswap (reclaim can only activate them until a fault maps
    # them, as in v6.18): the first OOM kill ends the replay, whose state is checked there
    # (oom=continue would force every later charge through reclaim's retries)
    "default": {"oom": "kill"},
    # the zswap shrinker writes entries back in memcg reclaim
    "shrinker": {"zswap_shrinker": True},
    "v1": {"memcg": "v1"},
    "tight-pool-writeback": {"zswap_max_pool_bytes": 256 << 10},
    # memory.zswap.writeback=0: refused folios stay in memory, so the memcg fills and
    # the workload is OOM-killed (oom=kill: the forced charges of oom=continue would
    # run reclaim retries on every later fault); the state is checked where it stopped
    "pool-no-writeback": {"zswap_max_pool_bytes": 256 << 10, "zswap_writeback": False,
                          "oom": "kill"},
    "zram-never-enabled": {"backend": "zram", "zswap_ever_enabled": False},
    "disk-rotational": {"backend": "disk", "rotational": True},
    "v1-madvise-16-32-64": {"memcg": "v1", "thp_enabled": "madvise", "mthp_sizes_kb": (16, 32, 64)},
    "guard-allocate": {"charge_guard": True, "first_read": "allocate", "page_cluster": 0, "memcg": "v1"},
    # 2048 slots: swap fills up, large folios fall back to splitting
    "small-swap": {"swap_bytes": 8 << 20, "mthp_sizes_kb": (16, 64), "memcg": "v1"},
    "exact-lru": {"reclaim": "exact-lru", "first_read": "allocate", "mthp_sizes_kb": (),
                      "backend": "zram", "page_cluster": 0},
}
TRACES = ("seq_trace", "zipf_trace", "swapin_trace", "phases_trace", "mixed_ops_trace")


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("trace_fixture", TRACES)
def test_every_policy_leaves_a_consistent_state(request, trace_fixture, config):
    path = request.getfixturevalue(trace_fixture)
    # oom=continue unless the config says: every access is replayed, so every touched
    # page must have a place (after an OOM kill, every page touched before it)
    cfg = ModelConfig(memory_limit_bytes=4 << 20, **{"oom": "continue", **CONFIGS[config]})
    results, states = simulate(path, cfg, POLICIES, return_states=True)
    frees = trace_fixture == "mixed_ops_trace"
    n = open_trace(path).num_accesses
    for r, st in zip(results, states):
        d = r["derived"]
        touched = touched_pages(path, d["accesses"])
        assert check_invariants(st) == [], r["policy"]
        assert state_problems(StateView(st), touched, frees) == [], r["policy"]
        assert d["accesses"] == n or d["oom_killed"]
        if not r["counters"]["oom_kill"]:
            assert d["peak_resident_bytes"] <= cfg.memory_limit_bytes, r["policy"]
        assert d["peak_pool_bytes"] >= d["final_pool_bytes"]


def test_the_states_are_not_trivially_consistent(zipf_trace, seq_trace, mixed_ops_trace):
    """The traces above do reach every place a page can be (else the checks prove little)."""
    seen = set()
    for path, cfg in ((zipf_trace, ModelConfig(memory_limit_bytes=4 << 20, oom="continue",
                                               zswap_max_pool_bytes=256 << 10)),
                      (seq_trace, ModelConfig(memory_limit_bytes=4 << 20, oom="continue",
                                              backend="disk", rotational=True)),
                      (mixed_ops_trace, ModelConfig(memory_limit_bytes=1 << 20,
                                                    oom="continue"))):
        _, states = simulate(path, cfg, ["order0-fallback"], return_states=True)
        seen |= set(np.unique(StateView(states[0]).pstate).tolist())
    assert {P_MAPPED, P_SWAPCACHE, P_ZSWAP, P_DEVICE, P_ZEROMAP, P_ZEROPAGE, P_FREED} <= seen


def test_the_checker_catches_a_broken_state(zipf_trace):
    """Corrupting one record is reported (the checker is not vacuous)."""
    cfg = ModelConfig(memory_limit_bytes=4 << 20, oom="continue")
    _, states = simulate(zipf_trace, cfg, ["order0-fallback"], return_states=True)
    v = StateView(states[0])
    touched = touched_pages(zipf_trace)
    assert state_problems(v, touched, False) == []
    p = int(np.flatnonzero(v.pstate == P_ZSWAP)[0])
    v.pstate[p] = P_DEVICE              # claims the device while its zswap entry lives on
    assert any("zswap" in s for s in state_problems(v, touched, False))
    v.pstate[p] = P_ZSWAP
    q = int(np.flatnonzero(v.slot >= 0)[0])
    v.slot_owner[v.slot[q]] = -1        # a slot freed behind its page's back
    assert state_problems(v, touched, False)


def assert_same_replay(a, b, what) -> None:
    assert without_run(a[0]) == without_run(b[0]), what
    for x, y in zip(a[1], b[1]):
        ax, ay = x.arrays(), y.arrays()
        for field in ax:
            assert ax[field] == ay[field], (what, field)


@pytest.mark.parametrize("config", ["default", "tight-pool-writeback", "pool-no-writeback",
                                    "zram-never-enabled",
                                    "disk-rotational", "exact-lru"])
def test_chunk_size_does_not_change_results(mixed_ops_trace, config):
    cfg = ModelConfig(memory_limit_bytes=2 << 20, **{"oom": "continue", **CONFIGS[config]})
    whole = simulate(mixed_ops_trace, cfg, POLICIES, return_states=True)
    for rows in (7, 1000, 4099):
        parts = simulate(mixed_ops_trace, cfg, POLICIES, chunk_rows=rows, return_states=True)
        assert_same_replay(parts, whole, rows)


def test_chunk_size_does_not_change_results_on_zipf(zipf_trace):
    cfg = ModelConfig(memory_limit_bytes=2 << 20, oom="continue", memcg="v1",
                      mthp_sizes_kb=(16, 32, 64))
    whole = simulate(zipf_trace, cfg, POLICIES, return_states=True)
    for rows in (7, 1000):
        parts = simulate(zipf_trace, cfg, POLICIES, chunk_rows=rows, return_states=True)
        assert_same_replay(parts, whole, rows)


def test_same_trace_and_config_twice_give_identical_results(zipf_trace, swapin_trace):
    cfg = ModelConfig(memory_limit_bytes=2 << 20, oom="continue",
                      zswap_max_pool_bytes=512 << 10)
    for path in (zipf_trace, swapin_trace):
        first = simulate(path, cfg, POLICIES)
        second = simulate(path, cfg, POLICIES)
        assert without_run(first) == without_run(second)
        for r in first:
            assert set(r["run"]) == {"engine_seconds", "total_seconds"}
            assert 0 <= r["run"]["engine_seconds"] <= r["run"]["total_seconds"]


def test_policies_replayed_together_match_each_replayed_alone(zipf_trace):
    """Lockstep replay shares only the trace: each policy's result is its own."""
    cfg = ModelConfig(memory_limit_bytes=2 << 20, oom="continue")
    together = simulate(zipf_trace, cfg, POLICIES)
    for r in together:
        alone = simulate(zipf_trace, cfg, [r["policy"]])
        assert without_run(alone) == without_run([r])
