"""The C loops of replay._scan at their edges: hash table growth, empty and strided inputs,
integer types other than the trace's, extreme keys, the chunk masks of the block table,
buffers the scanners must not read past, and reading without numba."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from replay import _scan
from replay.dense_ids import BlockSet, DenseIndex, accesses_ok
from replay.importers import _csvcore as core
from replay.importers import damo, run_import
from replay.trace import (
    ASID_LIMIT,
    BLOCK_SHIFT,
    VPN_LIMIT,
    Trace,
    TraceMeta,
    block_keys,
    open_trace,
    write_trace,
)


def chunk_masks(vpn: np.ndarray, asid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct block keys, uint32 mask of the 16-page chunks touched per block),
    by numpy."""
    keys = block_keys(vpn, asid)
    table = np.unique(keys)
    masks = np.zeros(len(table), np.uint32)
    bits = np.left_shift(np.uint32(1), ((vpn & 511) >> 4).astype(np.uint32))
    np.bitwise_or.at(masks, np.searchsorted(table, keys), bits)
    return table, masks


def searchsorted_ids(table: np.ndarray, vpn: np.ndarray, asid: np.ndarray) -> np.ndarray:
    rank = np.searchsorted(table, block_keys(vpn, asid))
    return (rank.astype(np.int64) << BLOCK_SHIFT) | (vpn & ((1 << BLOCK_SHIFT) - 1))


# ---------------------------------------------------------------- block set and chunk masks


def test_block_set_grows_from_16_slots_and_keeps_every_chunk_mask():
    rng = np.random.default_rng(1)
    n = 200_000
    vpn = rng.integers(0, 1 << 30, n).astype(np.int64)      # ~200k distinct blocks
    asid = rng.integers(0, 3, n).astype(np.int32)
    s = BlockSet()
    for a in range(0, n, 65_536):
        s.add(vpn[a:a + 65_536], asid[a:a + 65_536])
    keys, masks = s.sorted_keys_and_chunks()
    want_keys, want_masks = chunk_masks(vpn, asid)
    assert len(s) == len(want_keys) > 100_000                # 14 doublings from 16 slots
    assert keys.dtype == np.int64 and masks.dtype == np.uint32
    assert np.array_equal(keys, want_keys) and np.array_equal(masks, want_masks)
    assert np.array_equal(s.sorted_keys(), want_keys)


def test_runs_of_one_block_across_calls_set_every_chunk_bit():
    # one block, the 32 chunks touched one page at a time, a call per page: the run that
    # skips the probe must still set each page's bit
    s = BlockSet()
    for page in range(0, 512, 16):
        s.add(np.array([0x40000 + page], np.int64), np.array([5], np.int32))
    keys, masks = s.sorted_keys_and_chunks()
    assert keys.tolist() == [(5 << 43) | (0x40000 >> 9)]
    assert masks.tolist() == [0xFFFFFFFF]


def test_an_empty_block_set_and_empty_chunks():
    s = BlockSet()
    s.add(np.zeros(0, np.int64), np.zeros(0, np.int32))
    keys, masks = s.sorted_keys_and_chunks()
    assert len(s) == 0 and keys.dtype == np.int64 and masks.dtype == np.uint32
    assert len(keys) == len(masks) == 0


def test_extreme_keys_are_kept_as_numpy_computes_them():
    # the top of the vpn and asid ranges, and rows never validated: negative and huge vpns
    vpn = np.array([VPN_LIMIT - 1, 0, -1, -(1 << 62), (1 << 63) - 1, 511, 512, VPN_LIMIT],
                   np.int64)
    asid = np.array([ASID_LIMIT - 1, ASID_LIMIT - 1, 0, 7, 0, 0, 0, ASID_LIMIT - 1], np.int32)
    s = BlockSet()
    s.add(vpn, asid)
    keys, masks = s.sorted_keys_and_chunks()
    want_keys, want_masks = chunk_masks(vpn, asid)
    assert np.array_equal(keys, want_keys) and np.array_equal(masks, want_masks)


@pytest.mark.parametrize("vpn_type,asid_type", [(np.uint64, np.uint8), (np.int32, np.int16),
                                                (np.uint32, np.int64), (np.int16, np.uint16)])
def test_other_integer_types_and_strided_views_give_the_same_keys(vpn_type, asid_type):
    rng = np.random.default_rng(2)
    vpn = rng.integers(0, 30_000, 5000)
    asid = rng.integers(0, 100, 5000)
    want_keys, want_masks = chunk_masks(vpn.astype(np.int64), asid.astype(np.int32))
    s = BlockSet()
    v = np.repeat(vpn.astype(vpn_type), 2)[::2]             # a strided view
    s.add(v, asid.astype(asid_type))
    keys, masks = s.sorted_keys_and_chunks()
    assert not v.flags.c_contiguous
    assert np.array_equal(keys, want_keys) and np.array_equal(masks, want_masks)


def test_block_set_refuses_what_it_cannot_read():
    s = BlockSet()
    with pytest.raises(ValueError, match="3 page numbers but 2"):
        s.add(np.zeros(3, np.int64), np.zeros(2, np.int32))
    with pytest.raises(TypeError, match="vpn"):
        s.add(np.zeros(3, np.float64), np.zeros(3, np.int32))
    with pytest.raises(TypeError, match="asid"):
        s.add(np.zeros(3, np.int64), np.zeros(3, ">i4"))     # not the machine's byte order
    with pytest.raises(TypeError, match="vpn"):
        s.add(np.zeros((2, 2), np.int64), np.zeros(2, np.int32))
    assert len(s) == 0


def _mixed_trace(path, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 3, n)
    vpn = np.where(kind == 0, 0x7F000 + rng.integers(0, 20_000, n),
                   np.where(kind == 1, rng.integers(0, VPN_LIMIT, n), rng.integers(0, 600, n)))
    asid = rng.choice(np.array([0, 3, ASID_LIMIT - 1], np.int32), n)
    op = rng.integers(0, 4, n).astype(np.uint8)
    t = np.cumsum(rng.integers(0, 3, n)).astype(np.int64)
    write_trace(path, TraceMeta(source_format="test"), t, vpn.astype(np.int64), op, asid)
    return vpn.astype(np.int64), asid


@pytest.mark.parametrize("chunk_rows", [1000, 1 << 20])
def test_trace_block_chunk_masks_match_numpy_and_align_with_the_table(tmp_path, chunk_rows):
    p = tmp_path / "t.parquet"
    vpn, asid = _mixed_trace(p, 30_000, 4)
    tr = open_trace(p)
    masks = tr.block_chunk_masks(chunk_rows)
    want_keys, want_masks = chunk_masks(vpn, asid)
    assert masks.dtype == np.uint32
    assert np.array_equal(tr.block_table(), want_keys)
    assert np.array_equal(masks, want_masks)
    # a block touched by a single page has one bit; the dense runs fill many
    counts = np.array([int(m).bit_count() for m in masks])
    assert counts.min() == 1 and counts.max() == 32


def test_chunk_masks_come_from_the_block_table_pass_alone(tmp_path, monkeypatch):
    p = tmp_path / "t.parquet"
    _mixed_trace(p, 5000, 5)
    passes = []
    real = Trace.iter_chunks

    def counted(self, *args, **kwargs):
        passes.append(1)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Trace, "iter_chunks", counted)
    tr = open_trace(p)
    masks = tr.block_chunk_masks()
    table = tr.block_table()
    assert tr.block_chunk_masks() is masks and tr.block_table() is table
    assert len(passes) == 1 and len(masks) == len(table)
    other = open_trace(p)
    other.block_table()
    assert other.block_chunk_masks() is not None and len(passes) == 2


# ---------------------------------------------------------------- dense index


@pytest.mark.parametrize("nkeys", [0, 1, 7, 8, 9, 16, 17, 1000])
def test_dense_index_at_table_sizes_around_its_slot_counts(nkeys):
    # slots are a power of two at least twice the table: 16 up to 8 keys, 32 from 9
    rng = np.random.default_rng(nkeys)
    vpn = rng.integers(0, 1 << 40, 3000).astype(np.int64)
    asid = rng.integers(0, 4, 3000).astype(np.int32)
    table = np.unique(block_keys(vpn, asid))[:nkeys]
    got = DenseIndex(table).dense_ids(vpn, asid)
    assert np.array_equal(got, searchsorted_ids(table, vpn, asid))


def test_dense_index_with_int64_extreme_keys_and_repeats():
    table = np.array([-(1 << 63), -(1 << 63), -5, 0, 0, 0, 17, (1 << 63) - 1, (1 << 63) - 1],
                     np.int64)
    vpn = np.array([-(1 << 63), -1, 0, 17 << 9, (1 << 63) - 1, 5, 1 << 62], np.int64)
    asid = np.zeros(len(vpn), np.int32)
    got = DenseIndex(table).dense_ids(vpn, asid)
    assert np.array_equal(got, searchsorted_ids(table, vpn, asid))


def test_dense_index_reads_strided_and_other_integer_types():
    rng = np.random.default_rng(3)
    vpn = rng.integers(0, 1 << 32, 4000)
    asid = rng.integers(0, 200, 4000)
    table = np.unique(block_keys(vpn.astype(np.int64), asid.astype(np.int32)))
    want = searchsorted_ids(table, vpn.astype(np.int64), asid.astype(np.int32))
    index = DenseIndex(table)
    strided = np.stack([vpn, vpn]).T.copy()[:, 0]           # column of a 2-d array
    assert not strided.flags.c_contiguous
    assert np.array_equal(index.dense_ids(strided, asid.astype(np.uint8)), want)
    assert np.array_equal(index.dense_ids(vpn.astype(np.uint64), asid.astype(np.int16)), want)
    with pytest.raises(TypeError, match="out"):
        index._index.dense_ids(vpn, asid, np.empty(len(vpn), np.int32))
    with pytest.raises(ValueError, match="outputs"):
        index._index.dense_ids(vpn, asid, np.empty(len(vpn) - 1, np.int64))


# ---------------------------------------------------------------- row checks


def _good_rows(n: int):
    """n rows that pass the checks, in the trace's column types."""
    t = np.arange(n, dtype=np.int64)
    return t, np.arange(n, dtype=np.int64), np.zeros(n, np.uint8), np.zeros(n, np.int32)


def test_empty_chunks_pass_and_lengths_must_agree():
    assert accesses_ok(*_good_rows(0), 10)
    t, v, o, a = _good_rows(3)
    with pytest.raises(ValueError, match="op has 2 rows"):
        accesses_ok(t, v, o[:2], a, 0)
    with pytest.raises(TypeError, match="time_ns"):
        accesses_ok(t.astype(float), v, o, a, 0)


@pytest.mark.parametrize("n", [1, 2, 63, 64, 65, 66, 129, 150])
@pytest.mark.parametrize("canonical", [True, False])
def test_a_bad_row_anywhere_in_the_blocks_and_the_tail_is_seen(n, canonical):
    # the checks run on row 0, blocks of 64 rows, then the rest one by one; the trace's own
    # column types in one loop, other types one pass per column
    def good() -> list[np.ndarray]:
        cols = list(_good_rows(n))
        return cols if canonical else [cols[0].astype(np.int32), *cols[1:]]

    for i in range(n):
        for col, value in ((1, VPN_LIMIT), (1, -1), (2, 4), (3, ASID_LIMIT), (3, -1)):
            cols = good()
            cols[col][i] = value
            assert not accesses_ok(*cols, 0), (i, col, value)
        if i:
            cols = good()
            cols[0][i] = cols[0][i - 1] - 1
            assert not accesses_ok(*cols, 0), i
    assert accesses_ok(*good(), 0) and not accesses_ok(*good(), 1)


def test_unsigned_times_compare_as_numbers():
    _, v, o, a = _good_rows(2)
    # 2^63 + 1 then 5: going backwards, though the int64 reading of the bits goes up
    assert not accesses_ok(np.array([(1 << 63) + 1, 5], np.uint64), v, o, a, 0)
    assert accesses_ok(np.array([5, (1 << 63) + 1], np.uint64), v, o, a, 0)
    assert accesses_ok(np.array([5, 6], np.uint64), v, o, a, -(1 << 63))
    assert not accesses_ok(np.array([5, 6], np.uint64), v, o, a, 6)
    # vpn and op as uint64: values past 2^63 are out of range, not negative
    assert not accesses_ok(*_good_rows(2)[:1], np.array([0, 1 << 63], np.uint64), o, a, 0)


def test_int64_times_far_apart_compare_as_numbers():
    # b - a overflows int64 here: the check must still see which is larger
    _, v, o, a = _good_rows(2)
    lo, hi = -(1 << 63), (1 << 63) - 1
    assert accesses_ok(np.array([lo, hi], np.int64), v, o, a, lo)
    assert not accesses_ok(np.array([hi, lo], np.int64), v, o, a, lo)
    assert not accesses_ok(np.array([1 << 62, -(1 << 62)], np.int64), v, o, a, lo)
    assert accesses_ok(np.array([-(1 << 62), 1 << 62], np.int64), v, o, a, lo)


def test_strided_and_narrow_columns_are_checked():
    t, v, o, a = _good_rows(50)
    t2 = np.repeat(t, 3)[::3]
    assert not t2.flags.c_contiguous
    assert accesses_ok(t2, v.astype(np.int16), o.astype(np.int64), a.astype(np.uint16), 0)
    bad = v.astype(np.int16)
    bad[49] = -3
    assert not accesses_ok(t2, bad, o, a, 0)


# ---------------------------------------------------------------- csv scanner


def _scanner(ncols: int = 3, dict_col: int = 2, cap: int = 100):
    """Arguments of _scan.csv_rows for columns 0..ncols-2 numbers and one dictionary."""
    num_slot = np.full(ncols, -1, np.int64)
    dict_slot = np.full(ncols, -1, np.int64)
    nums = [c for c in range(ncols) if c != dict_col]
    for k, c in enumerate(nums):
        num_slot[c] = k
    dict_slot[dict_col] = 0
    zeros = np.zeros(len(nums), np.int64)
    ones = np.ones(len(nums), np.uint64)
    most = np.full(len(nums), (1 << 64) - 1, np.uint64)
    out = (np.zeros((len(nums), cap), np.uint64), np.zeros((1, cap), np.uint8),
           np.zeros((1, _scan.CSV_KEY_SLOTS), np.uint64), np.zeros(1, np.int64))
    return (num_slot, dict_slot, zeros, zeros, ones, most, *out, cap)


def _scan_text(text: bytes, **kw):
    args = _scanner(**kw)
    buf = np.frombuffer(text, np.uint8)
    end, rows, status = _scan.csv_rows(buf, 0, len(buf), ord(","), 3, *args)
    return end, rows, status, args


def test_csv_scanner_stops_at_its_row_cap_on_a_line_start():
    text = b"".join(b"%d,%d,r\r\n" % (i, 7 * i) for i in range(10))
    end, rows, status, args = _scan_text(text, cap=4)
    assert (rows, status) == (4, 0) and text[end - 2:end] == b"\r\n"
    assert text[:end].count(b"\n") == 4
    assert args[6][0, :4].tolist() == [0, 1, 2, 3] and args[6][1, :4].tolist() == [0, 7, 14, 21]


def test_csv_scanner_key_table_fills_to_32_values_then_gives_up():
    ops = [f"o{i}" for i in range(_scan.CSV_MAX_KEYS)]
    text = "".join(f"1,2,{o}\n" for o in ops).encode()
    end, rows, status, args = _scan_text(text)
    assert (rows, status, end) == (len(ops), 0, len(text))
    keys, nkeys = args[8][0], args[9]
    assert nkeys[0] == _scan.CSV_MAX_KEYS
    seen = {core._unpack_key(int(keys[slot])) for slot in args[7][0, :rows]}
    assert seen == {o.encode() for o in ops}
    end, rows, status, _ = _scan_text(text + b"3,4,one_more\n" + b"5,6,x\n")
    assert status == 1 and rows == len(ops)       # the 33rd value: pyarrow's


@pytest.mark.parametrize("value,ok", [(b"abcdefg", True), (b"abcdefgh", False),
                                      (b'"abcdefg"', True), (b"", True)])
def test_csv_scanner_packs_dictionary_values_of_up_to_7_bytes(value, ok):
    _, rows, status, args = _scan_text(b"1,2," + value + b"\n")
    assert (status == 0) == ok and rows == ok
    if ok:
        assert core._unpack_key(int(args[8][0, args[7][0, 0]])) == value.strip(b'"')


def test_csv_scanner_refuses_a_buffer_that_does_not_end_with_a_newline():
    args = _scanner()
    buf = np.frombuffer(b"1,2,r\n3,4,w", np.uint8)
    with pytest.raises(ValueError, match="whole lines"):
        _scan.csv_rows(buf, 0, len(buf), ord(","), 3, *args)
    with pytest.raises(ValueError, match="whole lines"):
        _scan.csv_rows(buf, 0, len(buf) + 1, ord(","), 3, *args)
    assert _scan.csv_rows(buf, 0, 6, ord(","), 3, *args) == (6, 1, 0)
    small = list(args)
    small[6] = np.zeros((2, 5), np.uint64)           # fewer rows than the cap
    with pytest.raises(ValueError, match="do not fit"):
        _scan.csv_rows(buf, 0, 6, ord(","), 3, *small)


def _raw(values: list[bytes]):
    import pyarrow as pa
    return pa.array(values, pa.binary())


@pytest.mark.parametrize("text,mode,scale,value,error", [
    (b"18446744073709551615", core.NUM_INT, 0, (1 << 64) - 1, ""),
    (b"18446744073709551616", core.NUM_INT, 0, None, "value does not fit in 64 bits"),
    (b"0xffffffffffffffff", core.NUM_ADDR, 0, (1 << 64) - 1, ""),
    (b"0x1ffffffffffffffff", core.NUM_ADDR, 0, None, "value does not fit in 64 bits"),
    (b"0XaB", core.NUM_ADDR, 0, 0xAB, ""),
    (b"0x", core.NUM_ADDR, 0, None, "not a number"),
    (b" +12\t\r", core.NUM_INT, 0, 12, ""),
    (b"+", core.NUM_INT, 0, None, "not a number"),
    (b"", core.NUM_INT, 0, None, "empty value"),
    (b"-3", core.NUM_INT, 0, None, "negative value"),
    (b"5.000", core.NUM_INT, 0, 5, ""),
    (b"5.01", core.NUM_INT, 0, None, "not a whole number"),
    (b"1.5", core.NUM_DECIMAL, 9, 1_500_000_000, ""),
    (b"1.0000000019", core.NUM_DECIMAL, 9, 1_000_000_001, ""),   # past the ns: dropped
    (b".5", core.NUM_DECIMAL, 3, 500, ""),
    (b"18446744073.709551615", core.NUM_DECIMAL, 9, (1 << 64) - 1, ""),
    (b"18446744073.709551616", core.NUM_DECIMAL, 9, None, "value does not fit in 64 bits"),
    (b"18446744074", core.NUM_DECIMAL, 9, None, "value does not fit in 64 bits"),
    (b"0x10", core.NUM_DECIMAL, 0, None, "not a number"),
    (b"1e3", core.NUM_INT, 0, None, "not a number"),
])
def test_number_parser_edges(text, mode, scale, value, error):
    vals, bad, why = core.parse_numbers(_raw([b"7", text]), mode, scale)
    if value is None:
        assert (bad, why) == (1, error)
    else:
        assert (bad, why) == (-1, "") and int(vals[1]) == value


def test_number_parser_refuses_offsets_outside_its_data():
    data = np.frombuffer(b"12345", np.uint8)
    out = np.zeros(2, np.uint64)
    with pytest.raises(ValueError, match="outside"):
        _scan.parse_numbers(np.array([0, 3, 9], np.int32), data, 0, 0, out)
    assert _scan.parse_numbers(np.array([0, 3, 5], np.int32), data, 0, 0, out) == (-1, 0)
    assert out.tolist() == [123, 45]


def test_csv_with_more_op_values_than_the_scanner_keeps_imports_as_pyarrow_does(tmp_path):
    ops = [f"k{i}" for i in range(40)]
    op_map = ",".join(f"{o}={'read' if i % 2 else 'write'}" for i, o in enumerate(ops))
    rows = [f"{i},{i * 3},{ops[i % 40]}" for i in range(400)]
    src = tmp_path / "t.csv"
    src.write_text("time_ns,vpn,op\n" + "\n".join(rows) + "\n")
    run_import("csv", src, tmp_path / "t.parquet", {"op_map": op_map})
    ch = list(open_trace(tmp_path / "t.parquet").iter_chunks())
    op = np.concatenate([c.op for c in ch])
    assert op.tolist() == [0 if (i % 40) % 2 else 1 for i in range(400)]


# ---------------------------------------------------------------- lackey scanner


def _lackey(text: bytes, out_rows: int = 1000, both: bool = True):
    buf = np.frombuffer(text, np.uint8)
    t = np.zeros(out_rows, np.int64)
    v = np.zeros(out_rows, np.int64)
    o = np.zeros(out_rows, np.uint8)
    got = _scan.lackey(buf, 0, len(buf), 0, 1, False, both, t, v, o, 0)
    return got, t, v, o


def test_lackey_sizes_up_to_64_kib_and_pages_up_to_the_top_of_the_address_space():
    (pos, n, ordinal, lines, err), t, v, o = _lackey(b" L ffffffffffffffff,65536\n"
                                                     b" S fffffffffffff000,4096\n"
                                                     b" M 0fff,65536\n")
    assert err == 0 and lines == 3 and ordinal == 3
    # the first wraps past 2^64: its first page only; the last covers 17 pages
    assert v[:n].tolist() == [(1 << 52) - 1, (1 << 52) - 1] + list(range(17))
    assert o[:n].tolist() == [0, 1] + [1] * 17
    assert t[:n].tolist() == [0, 1] + [2] * 17
    (pos, n, _, lines, err), *_ = _lackey(b" L 1000,8\n L 1000,65537\n")
    assert (err, n, lines, pos) == (6, 1, 1, 10)   # the bad line: where it starts


def test_lackey_stops_before_its_out_arrays_fill_and_resumes_on_a_line_start():
    margin = _scan.LACKEY_OUT_MARGIN
    text = b"".join(b" L %x,65536\n" % ((i << 16) + 8) for i in range(200))   # 17 pages
    buf = np.frombuffer(text, np.uint8)
    rows = margin + 20
    t, v, o = np.zeros(rows, np.int64), np.zeros(rows, np.int64), np.zeros(rows, np.uint8)
    pos, n, ordinal, lines, err = _scan.lackey(buf, 0, len(buf), 0, 1, False, True, t, v, o, 0)
    assert err == 0 and n <= rows and 0 < pos < len(buf) and text[pos - 1:pos] == b"\n"
    assert n == 17 * lines and ordinal == lines
    with pytest.raises(ValueError, match="more than"):
        _scan.lackey(buf, 0, len(buf), 0, 1, False, True, t[:margin], v[:margin],
                     o[:margin], 0)
    with pytest.raises(ValueError, match="whole lines"):
        _scan.lackey(buf[:-1], 0, len(buf) - 1, 0, 1, False, True, t, v, o, 0)


# ---------------------------------------------------------------- damo


def _accessed_pages_py(starts, ends, probs, key) -> list[int]:
    out = []
    for s, e, p in zip(starts, ends, probs):
        if not p > 0:
            continue
        if p >= 1:
            out.extend(range(s, e))
            continue
        threshold = int(p * float(1 << 53))
        out.extend(q for q in range(s, e) if damo._mix64(q ^ key) >> 11 < threshold)
    return out


def test_damo_sampling_matches_its_definition_and_counts_first():
    starts = np.array([0, 1000, 5000, 9000], np.int64)
    ends = np.array([800, 1500, 7000, 9100], np.int64)
    probs = np.array([0.3, 1.0, 0.05, np.nan])
    key = damo._mix64(12345)
    n = damo._accessed_pages(starts, ends, probs, key, np.zeros(0, np.int64))
    out = np.empty(n, np.int64)
    assert damo._accessed_pages(starts, ends, probs, key, out) == n
    assert out.tolist() == _accessed_pages_py(starts, ends, probs, key)
    assert 500 < n < 1000 and out[(out >= 1000) & (out < 1500)].size == 500
    with pytest.raises(ValueError, match="too short"):
        damo._accessed_pages(starts, ends, probs, key, np.empty(n - 1, np.int64))


def test_mix64_is_splitmix64s_finaliser():
    # known values of splitmix64's output function (state increments of the golden gamma)
    gamma = 0x9E3779B97F4A7C15
    assert damo._mix64(gamma) == 0xE220A8397B1DCDAF
    assert damo._mix64((2 * gamma) % (1 << 64)) == 0x6E789E6AA1B965F4


# ---------------------------------------------------------------- no numba


def test_reading_and_importing_do_not_import_numba(tmp_path):
    src = tmp_path / "t.csv"
    src.write_text("time_ns,vpn,op\n1,5,r\n2,600,w\n")
    lk = tmp_path / "t.lackey"
    lk.write_text(" L 04222cac,8\n S 04222ff0,32\n")
    dm = tmp_path / "d.json"
    region = {"start": 4096, "end": 40960, "nr_accesses": 10}
    snapshot = {"start_time": 0, "end_time": 10, "regions": [region]}
    dm.write_text(json.dumps([{"target_id": 1, "snapshots": [snapshot]}]))
    code = f"""
import sys
import replay.trace, replay.importers
from replay.importers import FORMATS, importer, run_import
from replay.trace import open_trace
for name in FORMATS:
    importer(name)
for fmt, src in (("csv", {str(src)!r}), ("lackey", {str(lk)!r}), ("damo", {str(dm)!r})):
    out = src + ".parquet"
    run_import(fmt, src, out, {{}})
    tr = open_trace(out)
    tr.block_table(); tr.block_chunk_masks()
    ids = [tr.dense_ids(ch) for ch in tr.iter_chunks()]
    assert sum(map(len, ids)) == tr.num_accesses > 0
print("numba" in sys.modules)
"""
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert got.stdout.strip() == "False"
