"""Policies replayed side by side in threads give the results they give one by one."""

from __future__ import annotations

import pytest

from replay.engine import simulate
from replay.errors import SettingsError
from replay.model.config import ModelConfig
from replay.policies import BUILTIN


def without_run(results):
    return [{k: v for k, v in r.items() if k != "run"} for r in results]


@pytest.mark.parametrize("memcg", ["v1", "v2"])
def test_threads_do_not_change_results(mixed_ops_trace, memcg):
    cfg = ModelConfig(memory_limit_bytes=1 << 20, mthp_sizes_kb=(16, 64), memcg=memcg)
    one = simulate(mixed_ops_trace, cfg, list(BUILTIN), threads=1, chunk_rows=4099)
    many = simulate(mixed_ops_trace, cfg, list(BUILTIN), threads=3, chunk_rows=4099)
    assert without_run(one) == without_run(many)
    assert one[0]["counters"]["pgmajfault"] > 0


def test_threads_must_be_positive(seq_trace):
    with pytest.raises(SettingsError, match="threads"):
        simulate(seq_trace, ModelConfig(), ["order0-fallback"], threads=0)
