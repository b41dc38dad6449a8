"""Dense page ids and the block table from the compiled hash passes equal their numpy
definitions (searchsorted into np.unique of the block keys), bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replay.dense_ids import BlockSet, DenseIndex, accesses_ok
from replay.errors import TraceError
from replay.trace import (
    ASID_LIMIT,
    BLOCK_SHIFT,
    VPN_LIMIT,
    TraceMeta,
    block_keys,
    check_accesses,
    open_trace,
    write_trace,
)


def searchsorted_ids(table: np.ndarray, vpn: np.ndarray, asid: np.ndarray) -> np.ndarray:
    """The definition the compiled lookup must reproduce (the former Trace.dense_ids)."""
    rank = np.searchsorted(table, block_keys(vpn, asid))
    return (rank.astype(np.int64) << BLOCK_SHIFT) | (vpn & ((1 << BLOCK_SHIFT) - 1))


def mixed_accesses(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """vpn/asid over several address spaces: dense runs, scattered pages, and pages at
    the top of the 2^52 range, with asids up to 2^20 - 1."""
    asids = np.array([0, 1, 7, 4242, ASID_LIMIT - 1], np.int32)
    asid = asids[rng.integers(0, len(asids), n)]
    kind = rng.integers(0, 3, n)
    vpn = np.where(kind == 0, 0x10000 + rng.integers(0, 5000, n),
                   np.where(kind == 1, rng.integers(0, VPN_LIMIT, n),
                            VPN_LIMIT - 1 - rng.integers(0, 3000, n)))
    return vpn.astype(np.int64), asid


def write_mixed(path, rng, n):
    vpn, asid = mixed_accesses(rng, n)
    op = rng.integers(0, 4, n).astype(np.uint8)
    t = np.cumsum(rng.integers(0, 3, n)).astype(np.int64)
    write_trace(path, TraceMeta(source_format="test"), t, vpn, op, asid)
    return vpn, asid


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_set_keys_are_the_sorted_distinct_block_keys(seed):
    rng = np.random.default_rng(seed)
    vpn, asid = mixed_accesses(rng, 20_000)
    blocks = BlockSet()
    for s in range(0, len(vpn), 1234):          # chunks that split runs of one block
        blocks.add(vpn[s:s + 1234], asid[s:s + 1234])
    blocks.add(vpn[:0], asid[:0])               # an empty chunk changes nothing
    want = np.unique(block_keys(vpn, asid))
    assert len(want) > 1000                     # the set grew many times from 16 slots
    got = blocks.sorted_keys()
    assert got.dtype == np.int64 and np.array_equal(got, want)
    assert len(blocks) == len(want)


def test_an_empty_block_set_is_an_empty_table():
    assert BlockSet().sorted_keys().dtype == np.int64 and len(BlockSet().sorted_keys()) == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hash_lookup_equals_searchsorted_for_keys_in_the_table(seed):
    rng = np.random.default_rng(seed)
    vpn, asid = mixed_accesses(rng, 30_000)
    table = np.unique(block_keys(vpn, asid))
    got = DenseIndex(table).dense_ids(vpn, asid)
    assert got.dtype == np.int64
    assert np.array_equal(got, searchsorted_ids(table, vpn, asid))


def test_keys_missing_from_the_table_get_their_searchsorted_rank_as_before():
    rng = np.random.default_rng(5)
    vpn, asid = mixed_accesses(rng, 10_000)
    keys = block_keys(vpn, asid)
    table = np.unique(keys[keys % 3 == 0])      # a third of the blocks are known
    assert not np.isin(keys, table).all()
    got = DenseIndex(table).dense_ids(vpn, asid)
    assert np.array_equal(got, searchsorted_ids(table, vpn, asid))
    # beyond every key of the table: rank len(table), as searchsorted says
    top = np.array([VPN_LIMIT - 1]), np.array([ASID_LIMIT - 1], np.int32)
    assert DenseIndex(table[:5]).dense_ids(*top)[0] >> BLOCK_SHIFT == 5
    # an empty table ranks everything 0
    assert np.array_equal(DenseIndex(np.zeros(0, np.int64)).dense_ids(vpn, asid),
                          vpn & 511)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-(1 << 62), (1 << 62)), st.integers(0, ASID_LIMIT - 1)),
                max_size=60),
       st.lists(st.integers(-(1 << 63), (1 << 63) - 1), max_size=40))
def test_any_int64_page_numbers_map_as_searchsorted_does(rows, extra_keys):
    # rows never validated (negative or huge vpn) and tables with duplicate keys too
    vpn = np.array([r[0] for r in rows], np.int64)
    asid = np.array([r[1] for r in rows], np.int32)
    table = np.sort(np.concatenate([block_keys(vpn[::2], asid[::2]),
                                    np.array(extra_keys, np.int64)]))
    got = DenseIndex(table).dense_ids(vpn, asid)
    assert np.array_equal(got, searchsorted_ids(table, vpn, asid))


def test_empty_chunks_give_empty_int64_ids():
    idx = DenseIndex(np.array([3, 9], np.int64))
    out = idx.dense_ids(np.zeros(0, np.int64), np.zeros(0, np.int32))
    assert out.dtype == np.int64 and len(out) == 0
    with pytest.raises(ValueError):
        idx.dense_ids(np.zeros(3, np.int64), np.zeros(2, np.int32))


@pytest.mark.parametrize("rows", [1, 511, 513, 4096, 100_000])
def test_trace_dense_ids_over_chunks_equal_the_searchsorted_definition(tmp_path, rows):
    p = tmp_path / "t.parquet"
    vpn, asid = write_mixed(p, np.random.default_rng(rows), 6000)
    tr = open_trace(p)
    table = tr.block_table()
    assert np.array_equal(table, np.unique(block_keys(vpn, asid)))
    chunks = list(tr.iter_chunks(rows))
    got = np.concatenate([tr.dense_ids(c) for c in chunks])
    assert np.array_equal(got, searchsorted_ids(table, vpn, asid))
    assert got.max() < tr.num_dense_pages


def test_a_block_table_of_other_chunk_rows_is_the_same(tmp_path):
    p = tmp_path / "t.parquet"
    write_mixed(p, np.random.default_rng(9), 5000)
    a = open_trace(p).block_table(chunk_rows=100)
    b = open_trace(p).block_table(chunk_rows=1 << 20)
    assert np.array_equal(a, b)


def _large_good_chunk(n=70_000):
    rng = np.random.default_rng(3)
    t = np.cumsum(rng.integers(0, 5, n)).astype(np.int64) + 100
    vpn = rng.integers(0, VPN_LIMIT, n).astype(np.int64)
    op = rng.integers(0, 4, n).astype(np.uint8)
    asid = rng.integers(0, ASID_LIMIT, n).astype(np.int32)
    return t, vpn, op, asid


@pytest.mark.parametrize("column,value,pos", [
    ("vpn", -1, 0), ("vpn", VPN_LIMIT, 69_999), ("vpn", 1 << 62, 40_000),
    ("op", 4, 12_345), ("op", 255, 1),
    ("asid", -1, 500), ("asid", ASID_LIMIT, 65_536),
    ("time_ns", 0, 33_333), ("time_ns", 0, 0),
])
def test_the_compiled_check_and_the_numpy_check_name_the_same_bad_row(column, value, pos):
    cols = dict(zip(("time_ns", "vpn", "op", "asid"), _large_good_chunk()))
    assert accesses_ok(*cols.values(), 100)
    check_accesses(*cols.values(), last_time=100, first_row=0, path="x", fmt="f")
    cols[column] = cols[column].copy()
    cols[column][pos] = value
    assert not accesses_ok(*cols.values(), 100)
    with pytest.raises(TraceError) as e:
        check_accesses(*cols.values(), last_time=100, first_row=10, path="x", fmt="f")
    assert f"record {10 + pos + 1}" in str(e.value)


def test_time_before_the_previous_chunk_is_caught_by_the_compiled_check():
    t, vpn, op, asid = _large_good_chunk()
    assert accesses_ok(t, vpn, op, asid, int(t[0]))
    assert not accesses_ok(t, vpn, op, asid, int(t[0]) + 1)


def test_rows_are_checked_again_until_one_pass_read_them_all(tmp_path):
    p = tmp_path / "t.parquet"
    n = 3000
    vpn = np.arange(n, dtype=np.int64)
    t = np.arange(n, dtype=np.int64)
    write_trace(p, TraceMeta(source_format="test"), t, vpn, np.zeros(n, np.uint8))
    # make the last record bad behind the writer's back
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pq.read_table(p)
    bad_vpn = vpn.copy()
    bad_vpn[-1] = -5
    pq.write_table(table.set_column(1, "vpn", pa.array(bad_vpn)), p)
    tr = open_trace(p)
    next(iter(tr.iter_chunks(1000)))            # an abandoned pass checks only what it read
    for _ in range(2):                          # every full pass still finds the bad row
        with pytest.raises(TraceError, match=f"record {n}"):
            list(tr.iter_chunks(1000))
    with pytest.raises(TraceError, match=f"record {n}"):
        tr.block_table()
