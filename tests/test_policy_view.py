"""How much of the view a policy reads (its module's VIEW): the model fills less of it,
or does not ask the policy at all, and nothing else changes.

Each built-in policy is replayed as declared and again with VIEW "all" (everything
filled, the policy always asked): the results must be identical, so a declaration
that hides something a policy reads (or a "none" policy that would answer non-zero)
fails here.
"""

from __future__ import annotations

import dataclasses

import pytest

from replay.engine import simulate
from replay.errors import SettingsError
from replay.model.config import ModelConfig
from replay.policies import BUILTIN, _from_module, get
from replay.policies.base import V_CANDIDATES, V_YOUNG_NEAR, highest_order, policy

CONFIGS = {
    "zswap v1": ModelConfig(memory_limit_bytes=2 << 20, memcg="v1", mthp_sizes_kb=(16, 64)),
    "zram, zswap never enabled": ModelConfig(memory_limit_bytes=2 << 20, backend="zram",
                                             zswap_ever_enabled=False),
    "disk, rotational": ModelConfig(memory_limit_bytes=2 << 20, backend="disk",
                                    rotational=True, page_cluster=0),
}


def strip(r: dict) -> dict:
    return {k: v for k, v in r.items() if k != "run"}


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("trace_fixture", ["zipf_trace", "swapin_trace"])
def test_built_in_policies_read_no_more_than_they_declare(request, trace_fixture, config):
    path = request.getfixturevalue(trace_fixture)
    declared = [get(name) for name in BUILTIN]
    assert {p.view for p in declared} == {"none", "ranges", "all"}
    everything = [dataclasses.replace(p, view="all") for p in declared]
    as_declared = simulate(path, CONFIGS[config], declared)
    asked_all = simulate(path, CONFIGS[config], everything)
    for a, b, p in zip(as_declared, asked_all, declared):
        assert strip(a) == strip(b), (p.name, p.view)
    # the traces do swap in large folios under some policy (else this proves little)
    assert any(r["per_size"].get("64kB", {}).get("swpin") for r in as_declared)


def _young_or_order0(view):
    """Large only when the young-near evidence was not computed (-1)."""
    if view[V_YOUNG_NEAR] == -1:
        return highest_order(view[V_CANDIDATES])
    return 0


young_probe = policy(_young_or_order0)


def test_ranges_leaves_young_near_out_and_none_is_never_asked(swapin_trace):
    cfg = CONFIGS["zswap v1"]
    base = dataclasses.replace(get("hybrid-supported"), name="probe", decide=young_probe)
    runs = {view: simulate(swapin_trace, cfg, [dataclasses.replace(base, view=view)])[0]
            for view in ("all", "ranges", "none")}
    large = {view: sum(s["swpin"] for s in r["per_size"].values())
             for view, r in runs.items()}
    assert large["all"] == 0           # young computed (>= 0): the probe says order 0
    assert large["ranges"] > 0         # -1: the probe swaps in large
    assert large["none"] == 0          # not asked: order 0
    assert runs["none"]["counters"]["pgmajfault"] > runs["ranges"]["counters"]["pgmajfault"]


def test_a_policy_module_with_a_bad_view_is_refused():
    import types
    mod = types.ModuleType("bad_view_policy")
    mod.NAME, mod.SUMMARY, mod.decide, mod.VIEW = "bad", "bad", young_probe, "some"
    with pytest.raises(SettingsError, match="VIEW 'some'"):
        _from_module(mod, "test")
