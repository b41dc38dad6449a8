"""memory.zswap.writeback=0 (cgroup v2, --no-zswap-writeback): nothing of the memcg goes
to the swap device. A folio zswap refuses (pool limit, or an incompressible page, which
zswap then refuses instead of storing raw) stays in memory: unmapped, in the swap
cache, activated (AOP_WRITEPAGE_ACTIVATE); its next access is a minor fault.
"""

from __future__ import annotations

import pytest

from replay.engine import simulate
from replay.errors import SettingsError
from replay.model.config import ModelConfig

R, W = 0, 1
PAGES = 512


def cfg(**kw) -> ModelConfig:
    base = {"memory_limit_bytes": 1 << 20, "page_cluster": 0, "oom": "continue"}
    base.update(kw)
    return ModelConfig(**base)


@pytest.fixture
def write_then_read(hand_trace):
    def make(comp_bytes):
        events = [(p, W) for p in range(PAGES)] + [(p, R) for p in range(PAGES)]
        return hand_trace(events, comp_bytes=comp_bytes)
    return make


def run(trace, config, policy="order0-fallback"):
    return simulate(trace.path, config, [policy], contents=trace.contents)[0]


def test_refused_folios_stay_in_memory_and_fault_back_minor(write_then_read):
    t = write_then_read(2048)
    on = run(t, cfg(zswap_max_pool_bytes=0))            # pool full: every store refused
    off = run(t, cfg(zswap_max_pool_bytes=0, zswap_writeback=False))
    assert on["counters"]["pswpout"] > 0 and on["counters"]["pgmajfault"] > 0
    c = off["counters"]
    assert c["zswap_reject_pool_limit"] > 0
    assert c["pswpout"] == 0 and c["zswpout"] == 0 and c["pgmajfault"] == 0
    assert c["pgactivate"] > 0
    # the kept folios were unmapped: reading them again faults (minor), 64K at a time
    assert c["pgfault"] > PAGES // 16
    assert off["counters"]["oom_kill"] > 0               # nothing could be freed


def test_incompressible_pages_are_refused_instead_of_stored_raw(write_then_read):
    t = write_then_read(4096)
    raw = run(t, cfg())
    assert raw["counters"]["zswpout"] > 0                # stored as is
    assert raw["counters"]["zswap_reject_compress_poor"] == 0
    off = run(t, cfg(zswap_writeback=False))
    c = off["counters"]
    assert c["zswpout"] == 0 and c["pswpout"] == 0
    assert c["zswap_reject_compress_poor"] > 0


def test_when_zswap_takes_everything_writeback_off_changes_nothing(write_then_read):
    t = write_then_read(2048)
    for policy in ("order0-fallback", "hybrid-supported"):
        a = run(t, cfg(memory_limit_bytes=3 << 19), policy)
        b = run(t, cfg(memory_limit_bytes=3 << 19, zswap_writeback=False), policy)
        for key in ("counters", "per_size", "derived"):
            assert a[key] == b[key], (policy, key)
        assert a["counters"]["zswpout"] > 0 and a["counters"]["pswpout"] == 0


def test_writeback_off_is_a_cgroup_v2_setting():
    with pytest.raises(SettingsError, match="cgroup v2"):
        ModelConfig(memcg="v1", zswap_writeback=False).validate()
