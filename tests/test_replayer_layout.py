"""What `replay validate` tells the model about the replayer's memory: one mapping per
touched 2 MiB block (block_mappings: the replayer maps a trace as one region, whatever the
trace's own mappings were), MADV_HUGEPAGE per block, or on every block (--hugepage all); and
`replay record --content-versions first`."""

from __future__ import annotations

import numpy as np
import pytest

from replay.commands.record import first_versions
from replay.engine import page_layout, simulate
from replay.errors import SettingsError
from replay.live.native import export_replay_file, read_replay_file
from replay.live.probe import KernelInfo
from replay.live.validate import ValidateSettings, model_config
from replay.model.config import ModelConfig
from replay.trace import BLOCK_PAGES, open_trace


def test_block_mappings_give_whole_blocks_and_a_block_hint_where_a_region_asks(mixed_ops_trace):
    t = open_trace(mixed_ops_trace)
    lo, hi, hint = page_layout(t)
    blo, bhi, bhint = page_layout(t, block_mappings=True)
    ids = np.arange(len(lo))
    block = ids // BLOCK_PAGES * BLOCK_PAGES
    assert (blo == block).all() and (bhi == block + BLOCK_PAGES).all()
    # the regions clip some pages' mappings inside a block; the blocks never do
    assert ((lo > block) | (hi < block + BLOCK_PAGES)).any()
    # a block is madvised when any page of it was
    per_block = hint.reshape(-1, BLOCK_PAGES).max(axis=1)
    assert (bhint.reshape(-1, BLOCK_PAGES) == per_block[:, None]).all()
    assert 0 < per_block.sum() < len(per_block)     # the plain region's block stays plain


def test_hugepage_all_madvises_every_page_and_keeps_the_bounds(mixed_ops_trace):
    t = open_trace(mixed_ops_trace)
    lo, hi, hint = page_layout(t)
    alo, ahi, ahint = page_layout(t, hugepage_all=True)
    assert (alo == lo).all() and (ahi == hi).all()
    assert hint.min() == 0 and (ahint == 1).all()
    ids = np.arange(0, len(lo), 7)
    assert (page_layout(t, ids=ids, hugepage_all=True, block_mappings=True)[2] == 1).all()


def test_hugepage_all_gives_the_plain_regions_large_folios_in_the_model(mixed_ops_trace):
    def alloc(**kw):
        config = ModelConfig(memory_limit_bytes=4 << 20, thp_enabled="madvise",
                             block_mappings=True, **kw)
        (r,) = simulate(str(mixed_ops_trace), config, ["order0-fallback"])
        return r["per_size"]["64kB"]["anon_fault_alloc"]
    assert alloc(hugepage_all=True) > alloc() > 0


def test_the_replay_file_madvises_every_block_with_hugepage_all(mixed_ops_trace, tmp_path):
    t = open_trace(mixed_ops_trace)
    export_replay_file(t, tmp_path / "a.frp")
    export_replay_file(t, tmp_path / "b.frp", hugepage_all=True)
    per_region = read_replay_file(tmp_path / "a.frp")["hugepage"]
    every = read_replay_file(tmp_path / "b.frp")["hugepage"]
    assert 0 < per_region.sum() < len(per_region)
    assert (every == 1).all() and len(every) == len(per_region)
    # the model is told what the replayer does
    expected = page_layout(t, hugepage_default=True, block_mappings=True)[2]
    assert (expected.reshape(-1, BLOCK_PAGES).max(axis=1) == per_region).all()


@pytest.mark.parametrize("mode", ["regions", "all"])
def test_validate_tells_the_model_the_replayers_layout(mode):
    settings = ValidateSettings(hugepage=mode).check()
    config = model_config(settings, KernelInfo(), None, 256 << 20)
    assert config.block_mappings is True
    assert config.hugepage_all is (mode == "all")
    assert config.thp_enabled == "madvise"


def test_an_unknown_hugepage_mode_is_refused():
    with pytest.raises(SettingsError, match="hugepage 'some'"):
        ValidateSettings(hugepage="some").check()


def test_first_versions_keeps_version_zero_rows_only():
    contents = {"asid": np.array([0, 0, 0, 1], np.int32),
                "vpn": np.array([5, 5, 6, 5], np.int64),
                "npages": np.array([1, 1, 1, 1], np.int64),
                "version": np.array([0, 1, 0, 0], np.int32),
                "content_class": ["unknown", "unknown", "zero", "unknown"],
                "data": [b"a" * 4096, b"b" * 4096, None, b"c" * 4096]}
    kept = first_versions(contents)
    assert kept["vpn"].tolist() == [5, 6, 5] and kept["asid"].tolist() == [0, 0, 1]
    assert kept["data"] == [b"a" * 4096, None, b"c" * 4096]
    assert kept["content_class"] == ["unknown", "zero", "unknown"]
    assert first_versions(None) is None
