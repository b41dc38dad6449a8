"""The zswap shrinker (zswap.shrinker_enabled): memcg reclaim writes zswap entries back
through shrink_slab(), on cgroup v2.

The trace writes 1024 distinct pages (compressing to 2 KiB) into a 1 MiB memcg with
a 64 MiB swap device. On cgroup v2 the pool is charged to the memcg: without the
shrinker it fills the memcg and the workload is OOM-killed; with it, reclaim writes
the oldest entries back to the device and the workload runs to the end.
"""

from __future__ import annotations

import pytest

from replay.cli import main as cli_main
from replay.engine import simulate
from replay.model.config import ModelConfig

PAGES = 1024


@pytest.fixture
def fill(hand_trace):
    """Writes to 1024 pages of a 4 MiB mapping, then reads the first 256 again."""
    return hand_trace([(p, 1) for p in range(PAGES)] + [(p, 0) for p in range(256)],
                      blocks=2, hugepage=False)


def config(**kw) -> ModelConfig:
    base = {"memory_limit_bytes": 1 << 20, "swap_bytes": 64 << 20, "mthp_sizes_kb": (),
            "page_cluster": 0}
    base.update(kw)
    return ModelConfig(**base)


def test_without_the_shrinker_the_charged_pool_gets_the_workload_killed(fill):
    r = simulate(fill.path, config(), ["order0-fallback"], contents=fill.contents)[0]
    assert r["derived"]["oom_killed"]
    assert r["counters"]["zswpwb"] == 0


def test_the_shrinker_writes_back_and_the_workload_survives(fill):
    r = simulate(fill.path, config(zswap_shrinker=True), ["order0-fallback"],
                 contents=fill.contents)[0]
    d, c = r["derived"], r["counters"]
    assert not d["oom_killed"] and d["accesses"] == PAGES + 256
    assert c["zswpwb"] > 0
    assert c["pswpout"] >= c["zswpwb"]            # written-back pages count in pswpout
    assert c["pswpin"] > 0                        # the reads find some pages on the device
    assert d["peak_pool_bytes"] < 1 << 20


def test_the_shrinker_does_nothing_on_cgroup_v1(fill):
    off, on = (simulate(fill.path, config(memcg="v1", zswap_shrinker=s), ["order0-fallback"],
                        contents=fill.contents)[0] for s in (False, True))
    for key in ("counters", "derived", "per_size"):
        assert off[key] == on[key]
    assert on["counters"]["zswpwb"] == 0


def test_nor_with_zswap_writeback_off(fill):
    r = simulate(fill.path, config(zswap_shrinker=True, zswap_writeback=False),
                 ["order0-fallback"], contents=fill.contents)[0]
    assert r["counters"]["zswpwb"] == 0 and r["derived"]["oom_killed"]


def test_the_count_holds_back_disk_swapins_and_scales_by_compression(fill):
    _, states = simulate(fill.path, config(zswap_shrinker=True), ["order0-fallback"],
                         contents=fill.contents, return_states=True)
    m = states[0]
    stored, backing = m.zswap_nr_stored, m.pool_bytes >> 12
    assert stored >= 2
    held = stored // 2
    m.zswap_nr_disk_swapins = held
    assert m.zswap_shrinker_count() == (stored - held) * backing // stored > 0
    assert m.zswap_nr_disk_swapins == 0                    # consumed
    m.zswap_nr_disk_swapins = stored + 5
    assert m.zswap_shrinker_count() == 0
    assert m.zswap_nr_disk_swapins == 5                    # the rest carries over
    m.zswap_shrinker = False
    assert m.zswap_shrinker_count() == 0


def test_replay_run_takes_the_option(fill, tmp_path):
    import json
    out = tmp_path / "r.json"
    assert cli_main(["run", str(fill.path), "--memory-limit", "1M", "--mthp", "none",
                     "--policy", "order0-fallback", "--zswap-shrinker", "--quiet",
                     "--json", str(out)]) == 0
    r = json.loads(out.read_text())["results"][0]
    assert r["config"]["zswap_shrinker"] is True
