"""An OOM kill ends a policy's replay (oom=kill, the default), as the kernel's OOM
killer ends the workload; oom=continue forces the charge and replays on.

The trace writes 1024 distinct pages into a 1 MiB memcg (256 pages, two of them the PTE
tables of its two 2 MiB blocks) with a 1 MiB swap device (one cluster: 512 slots): once
254 pages are resident and 512 swapped out,
reclaim finds no free slot, nothing can be freed, and the next fault's order-0 charge
fails.
"""

from __future__ import annotations

import json

import pytest

from replay.cli import main as cli_main
from replay.engine import simulate
from replay.model.config import ModelConfig

W = 1
PAGES = 1024
POLICIES = ("order0-fallback", "hybrid-supported")


def oom_config(**kw) -> ModelConfig:
    base = {"memory_limit_bytes": 1 << 20, "swap_bytes": 1 << 20, "mthp_sizes_kb": (),
            "page_cluster": 0}
    base.update(kw)
    return ModelConfig(**base)


@pytest.fixture
def fill(hand_trace):
    """One write to each of 1024 pages of a 4 MiB mapping; pages compress to 2 KiB."""
    return hand_trace([(p, W) for p in range(PAGES)], blocks=2, hugepage=False)


def test_an_oom_kill_ends_the_replay_of_that_policy(fill):
    killed_at = {}
    for memcg in ("v1", "v2"):
        for r in simulate(fill.path, oom_config(memcg=memcg), POLICIES,
                          contents=fill.contents):
            d, c = r["derived"], r["counters"]
            assert d["oom_killed"] is True, (memcg, r["policy"])
            assert c["oom_kill"] == 1
            assert c["pgfault"] == d["accesses"] < PAGES
            killed_at[memcg, r["policy"]] = d["accesses"]
            if memcg == "v1":
                # 256 pages of memcg: two of them the PTE tables of the mapping's two
                # 2 MiB blocks, 254 resident; + 511 swapped out (a cluster of 512 slots,
                # the first the swap header's); the next fault is the last
                assert d["accesses"] == 254 + 511 + 1
                assert c["zswpout"] == 511
            else:
                # the zswap pool is charged to the memcg: it fills the 1 MiB limit first
                assert d["final_pool_bytes"] >= 512 << 10
    for p in POLICIES:
        assert killed_at["v2", p] < killed_at["v1", p]


def test_oom_continue_forces_the_charge_and_replays_everything(fill):
    for r in simulate(fill.path, oom_config(oom="continue"), POLICIES,
                      contents=fill.contents):
        d, c = r["derived"], r["counters"]
        assert d["oom_killed"] is False
        assert d["accesses"] == PAGES
        assert c["pgfault"] == PAGES
        assert c["oom_kill"] > 1


def test_the_kill_point_does_not_depend_on_the_chunk_size(fill):
    whole = simulate(fill.path, oom_config(), ["order0-fallback"], contents=fill.contents)[0]
    for rows in (1, 7, 333):
        part = simulate(fill.path, oom_config(), ["order0-fallback"], contents=fill.contents,
                        chunk_rows=rows)[0]
        for key in ("counters", "derived", "per_size", "time"):
            assert part[key] == whole[key], (rows, key)
        # the timeline ends at the kill: its windows hold exactly the replayed accesses
        assert sum(part["timeline"]["columns"]["accesses"]) == whole["derived"]["accesses"]


def test_a_memcg_with_room_is_not_killed(fill):
    r = simulate(fill.path, oom_config(memory_limit_bytes=8 << 20), ["order0-fallback"],
                 contents=fill.contents)[0]
    assert r["derived"]["oom_killed"] is False and r["counters"]["oom_kill"] == 0
    assert r["derived"]["accesses"] == PAGES


def test_replay_run_reports_the_kill_and_takes_the_option(fill, tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["run", str(fill.path), "--memory-limit", "1M", "--swap-size", "1M", "--mthp",
            "none", "--policy", "order0-fallback", "--json", str(out)]
    assert cli_main(args) == 1                     # every policy (the one) was killed
    killed = json.loads(out.read_text())["results"][0]
    assert killed["config"]["oom"] == "kill" and killed["derived"]["oom_killed"]
    shown = capsys.readouterr().out
    assert "OOM killed" in shown and "--memory-limit" in shown and "--oom continue" in shown
    assert cli_main([*args, "--oom", "continue", "--quiet"]) == 0
    kept = json.loads(out.read_text())["results"][0]
    assert kept["config"]["oom"] == "continue" and not kept["derived"]["oom_killed"]
    assert kept["derived"]["accesses"] > killed["derived"]["accesses"]
    assert cli_main([*args, "--oom", "maybe"]) == 2


def test_reading_stops_once_every_policy_is_killed(fill):
    seen = []
    simulate(fill.path, oom_config(), POLICIES, contents=fill.contents, chunk_rows=64,
             progress=seen.append)
    assert 0 < seen[-1] < PAGES                      # the chunks after the kills are not read
    seen.clear()
    simulate(fill.path, oom_config(oom="continue"), POLICIES, contents=fill.contents,
             chunk_rows=64, progress=seen.append)
    assert seen[-1] == PAGES
