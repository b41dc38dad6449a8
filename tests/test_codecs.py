"""Content generators, real codecs and per-page compressed sizes of a trace."""

from __future__ import annotations

import numpy as np
import pytest

from replay.costs import codecs as codecs_mod
from replay.costs.codecs import codec_key, get_codec, lzo_available, parse_codec
from replay.costs.content import SAMPLE_PAGES, UNKNOWN_AS, class_page
from replay.costs.sizes import clear_cache, page_compressed_sizes
from replay.costs.zsmalloc import size_class_table, zs_alloc_bytes, zs_huge_class_size
from replay.errors import SettingsError
from replay.trace import PAGE_SIZE, TraceMeta, open_trace, write_trace

BASE = 0x7F0000000          # 2 MiB aligned vpn


def _ratio(cls: str, n: int = 24, key: str = "lz4") -> float:
    c = get_codec(key)
    return n * PAGE_SIZE / sum(c.compressed_len(class_page(cls, i)) for i in range(n))


def test_class_pages_are_deterministic_distinct_and_page_sized():
    for cls in ("random", "text", "half", "mixed", "code"):
        a, b = class_page(cls, 3), class_page(cls, 4)
        assert len(a) == PAGE_SIZE and a != b
        assert class_page(cls, 3) == a
        assert class_page(cls, 3 + SAMPLE_PAGES) == a      # the sample wraps
    assert class_page("zero", 7) == bytes(PAGE_SIZE)
    assert class_page("unknown", 5) == class_page(UNKNOWN_AS, 5)
    with pytest.raises(ValueError):
        class_page("video", 0)


@pytest.mark.parametrize("cls, lo, hi", [("random", 0.99, 1.01), ("text", 1.7, 3.0),
                                         ("half", 1.8, 2.1), ("mixed", 1.6, 2.3),
                                         ("code", 1.5, 2.1)])
def test_lz4_ratios_of_classes_are_plausible(cls, lo, hi):
    assert lo <= _ratio(cls) <= hi


def test_zero_page_compresses_to_a_few_bytes_and_random_does_not_compress():
    c = get_codec("lz4")
    assert c.compressed_len(bytes(PAGE_SIZE)) < 40
    assert c.compressed_len(class_page("random", 1)) >= PAGE_SIZE


@pytest.mark.parametrize("key", ["lz4", "zstd-1", "zstd-3", "deflate"]
                         + (["lzo"] if lzo_available() else []))
def test_codecs_roundtrip_and_zstd_beats_lz4_on_text(key):
    c = get_codec(key)
    for cls in ("zero", "random", "text"):
        assert c.roundtrip(class_page(cls, 2))
    assert _ratio("text", 8, "zstd-3") > _ratio("text", 8, "lz4")


def test_lz4_size_is_the_raw_block_without_the_binding_header():
    import lz4.block
    page = class_page("text", 9)
    assert get_codec("lz4").compressed_len(page) == len(lz4.block.compress(page)) - 4
    assert len(lz4.block.compress(page, store_size=False)) == \
        get_codec("lz4").compressed_len(page)


def test_codec_names_and_levels_are_checked():
    assert codec_key("zstd") == "zstd-3"
    assert codec_key("ZSTD-5") == "zstd-5"
    assert parse_codec("zstd", 7) == ("zstd", 7)
    for bad in ("lz5", "zstd-40", ""):
        with pytest.raises(SettingsError):
            parse_codec(bad)
    with pytest.raises(SettingsError):
        parse_codec("lz4", 3)


def test_missing_lzo_binding_is_a_clear_settings_error(monkeypatch):
    monkeypatch.setattr(codecs_mod, "_lzo", None)
    get_codec.cache_clear()
    try:
        with pytest.raises(SettingsError, match="python-lzo"):
            get_codec("lzo")
    finally:
        get_codec.cache_clear()


def test_zsmalloc_classes_round_up_with_the_handle_and_huge_threshold():
    table, huge = size_class_table(8)
    assert zs_alloc_bytes(1) == 32                    # 1 + 8-byte handle -> 32 minimum
    assert zs_alloc_bytes(25) == 48                   # 33 -> next 16-byte class
    assert (np.diff(table[1:]) >= 0).all()            # monotone
    assert (table[1:] >= np.arange(1, PAGE_SIZE + 1)).all()
    assert 3000 < huge < PAGE_SIZE and zs_huge_class_size() == huge
    assert zs_alloc_bytes(huge) == PAGE_SIZE


# ---------------------------------------------------------------- sizes of a trace


def _trace(tmp_path, contents, pages=1024, name="t.parquet"):
    vpn = BASE + np.arange(pages, dtype=np.int64)
    path = tmp_path / name
    write_trace(path, TraceMeta(source_format="test"), np.arange(pages, dtype=np.int64), vpn,
                np.ones(pages, np.uint8), contents=contents)
    return open_trace(path)


def test_sizes_follow_the_contents_classes_per_dense_page(tmp_path):
    tr = _trace(tmp_path, {"asid": [0, 0, 0], "vpn": [BASE, BASE + 16, BASE + 600],
                               "npages": [16, 16, 100], "version": [0, 0, 0],
                               "content_class": ["zero", "random", "text"]})
    clear_cache()
    ps = page_compressed_sizes(tr, "lz4")
    ids = tr.dense_ids(next(tr.iter_chunks()))
    zero, rnd, txt = ids[:16], ids[16:32], ids[600:700]
    assert ps.num_pages == tr.num_dense_pages
    assert ps.is_zero[zero].all() and ps.is_same[zero].all() and not ps.is_zero[rnd].any()
    assert (ps.comp_bytes[zero] < 40).all()
    assert ps.incompressible[rnd].all() and (ps.comp_bytes[rnd] == PAGE_SIZE).all()
    assert ps.zram_huge[rnd].all() and not ps.zram_huge[txt].any()
    assert 1.7 < 100 * PAGE_SIZE / ps.comp_bytes[txt].sum() < 3.0
    assert ps.comp_bytes.dtype == np.int32
    assert set(ps.summary(np.isin(np.arange(ps.num_pages), ids))["per_class"]) == \
        {"zero", "random", "text", "unknown"}
    again = page_compressed_sizes(tr, "lz4")
    assert again.distinct_compressed == 0                 # all from the cache
    assert (again.comp_bytes == ps.comp_bytes).all()


def test_recorded_bytes_win_over_class_and_lowest_version_wins(tmp_path):
    page = class_page("text", 1)
    same = np.full(PAGE_SIZE // 8, 0x0101010101010101, np.uint64).tobytes()
    tr = _trace(tmp_path, {
        "asid": [0, 0, 0, 0], "vpn": [BASE, BASE + 5, BASE + 7, BASE + 7], "npages": [64, 1, 1, 1],
        "version": [0, 0, 1, 0], "content_class": ["random", "unknown", "unknown", "zero"],
        "data": [None, page, same, None]}, pages=64)
    ps = page_compressed_sizes(tr, "lz4")
    ids = tr.dense_ids(next(tr.iter_chunks()))
    assert ps.has_data[ids[5]] and ps.comp_bytes[ids[5]] == get_codec("lz4").compressed_len(page)
    assert ps.incompressible[ids[4]]                      # the random range around it
    assert ps.is_zero[ids[7]] and not ps.has_data[ids[7]]   # version 0 beats version 1


def test_pages_without_contents_are_unknown_and_generated_as_mixed(tmp_path):
    vpn = BASE + np.arange(32, dtype=np.int64)
    write_trace(tmp_path / "n.parquet", TraceMeta(), np.arange(32), vpn, np.zeros(32, np.uint8))
    ps = page_compressed_sizes(open_trace(tmp_path / "n.parquet"), "lz4")
    assert (ps.content_class == 0).all() and not ps.has_data.any()
    assert 1.5 < ps.summary()["ratio"] < 2.5


def test_multi_page_units_add_up_and_compress_better_than_pages(tmp_path):
    tr = _trace(tmp_path, {"asid": [0, 0], "vpn": [BASE, BASE + 512], "npages": [512, 512],
                               "version": [0, 0], "content_class": ["text", "random"]})
    one = page_compressed_sizes(tr, "lz4", unit_pages=1)
    six = page_compressed_sizes(tr, "lz4", unit_pages=16)
    assert len(six.unit_comp_bytes) == six.num_pages // 16
    assert (six.comp_bytes.reshape(-1, 16).sum(axis=1) == six.unit_comp_bytes).all()
    ids = tr.dense_ids(next(tr.iter_chunks()))
    text = ids[:512]
    assert six.comp_bytes[text].sum() < one.comp_bytes[text].sum()
    assert six.unit_incompressible[ids[512] // 16]
    with pytest.raises(SettingsError):
        page_compressed_sizes(tr, "lz4", unit_pages=3)


def test_a_million_page_trace_is_sized_in_seconds(tmp_path):
    """1 M dense pages of generated classes: bounded work (cached distinct contents)."""
    import time
    pages = 1 << 20
    vpn = BASE + np.arange(0, pages, 64, dtype=np.int64)       # touch every 2 MiB block
    n = len(vpn)
    classes = ["text", "zero", "half", "mixed", "code", "random"]
    runs = np.arange(0, pages, 4096)
    write_trace(tmp_path / "big.parquet", TraceMeta(), np.arange(n), vpn, np.ones(n, np.uint8),
                contents={"asid": np.zeros(len(runs), np.int32), "vpn": BASE + runs,
                              "npages": np.full(len(runs), 4096), "version": np.zeros(len(runs)),
                              "content_class": [classes[i % 6] for i in range(len(runs))]})
    tr = open_trace(tmp_path / "big.parquet")
    page_compressed_sizes(tr, "lz4")                            # streams generated, cached
    t = time.perf_counter()
    ps = page_compressed_sizes(tr, "lz4")
    assert ps.num_pages == pages
    assert time.perf_counter() - t < 10.0
