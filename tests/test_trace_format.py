"""The canonical trace: round trips, streaming, dense ids, sidecars, validation, atomicity."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from replay.cli import main
from replay.errors import TraceError
from replay.gen import generate_to
from replay.info import trace_summary
from replay.trace import (
    BLOCK_PAGES,
    OP_PAGEOUT,
    OP_READ,
    OP_WRITE,
    TraceMeta,
    TraceWriter,
    open_trace,
    sidecar_paths,
    write_trace,
)


def _small(path, n=1000, seed=0):
    rng = np.random.default_rng(seed)
    vpn = np.concatenate([0x10000 + rng.integers(0, 700, n // 2),
                          0x7F0000000 + rng.integers(0, 300, n - n // 2)])
    op = rng.integers(0, 2, n).astype(np.uint8)
    t = np.arange(n, dtype=np.int64) * 3
    write_trace(path, TraceMeta(source_format="test", description="hand made"), t, vpn, op)
    return t, vpn, op


def test_round_trip_keeps_every_column_and_the_metadata(tmp_path):
    p = tmp_path / "t.parquet"
    t, vpn, op = _small(p)
    tr = open_trace(p)
    assert tr.num_accesses == len(vpn)
    got = list(tr.iter_chunks(10_000))
    assert len(got) == 1
    assert np.array_equal(got[0].vpn, vpn) and np.array_equal(got[0].op, op)
    assert np.array_equal(got[0].time_ns, t) and not got[0].asid.any()
    assert tr.meta.description == "hand made" and tr.meta.source_format == "test"
    # a plain Parquet file any Arrow tool can read, with exactly the four columns
    assert pq.read_table(p).column_names == ["time_ns", "vpn", "op", "asid"]


@pytest.mark.parametrize("rows", [1, 7, 100, 999, 1000, 5000])
def test_chunks_of_any_size_give_the_same_rows(tmp_path, rows):
    p = tmp_path / "t.parquet"
    _, vpn, _ = _small(p)
    tr = open_trace(p)
    chunks = list(tr.iter_chunks(rows))
    assert all(len(c) <= rows for c in chunks)
    assert np.array_equal(np.concatenate([c.vpn for c in chunks]), vpn)
    dense = np.concatenate([tr.dense_ids(c) for c in chunks])
    assert np.array_equal(dense, tr.dense_ids(next(iter(tr.iter_chunks(10_000)))))


def test_dense_ids_keep_folio_alignment_and_are_compact(tmp_path):
    p = tmp_path / "t.parquet"
    _, vpn, _ = _small(p)
    tr = open_trace(p)
    dense = tr.dense_ids(next(iter(tr.iter_chunks())))
    # offsets inside the 2 MiB block are kept, so 16-page (64K) alignment is kept
    assert np.array_equal(dense % BLOCK_PAGES, vpn % BLOCK_PAGES)
    assert dense.max() < tr.num_dense_pages == len(np.unique(vpn >> 9)) * BLOCK_PAGES
    # same page -> same id, different pages -> different ids
    assert len(np.unique(dense)) == len(np.unique(vpn))


def test_sidecars_travel_with_the_trace_and_stale_ones_are_removed(tmp_path):
    p = tmp_path / "g.parquet"
    generate_to(p, "seq", accesses=2000, pages=256)
    contents, regions = sidecar_paths(p)
    assert contents.exists() and regions.exists()
    tr = open_trace(p)
    assert tr.regions().num_rows == 1 and tr.contents().num_rows >= 1
    _small(p)          # rewritten without sidecars: the old ones must not stay beside it
    assert not contents.exists() and not regions.exists()


def test_bad_rows_name_the_record(tmp_path):
    p = tmp_path / "bad.parquet"
    with pytest.raises(TraceError) as e:
        write_trace(p, TraceMeta(), np.array([0, 5, 4]), np.array([1, 2, 3]),
                    np.zeros(3, np.uint8))
    assert "record 3" in str(e.value) and "time goes backwards" in str(e.value)
    with pytest.raises(TraceError) as e:
        write_trace(p, TraceMeta(), np.arange(2), np.array([1, 1 << 52]), np.zeros(2, np.uint8))
    assert "record 2" in str(e.value) and "2^52" in str(e.value)
    with pytest.raises(TraceError, match="op 7"):
        write_trace(p, TraceMeta(), np.arange(2), np.array([1, 2]), np.array([0, 7]))
    assert list(tmp_path.iterdir()) == []      # nothing half-written


def test_an_error_inside_the_writer_leaves_nothing(tmp_path):
    p = tmp_path / "x.parquet"
    with pytest.raises(RuntimeError), TraceWriter(p, TraceMeta()) as w:
        w.write(np.arange(3), np.array([1, 2, 3]), np.zeros(3, np.uint8))
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_truncated_trace_is_one_clear_error(tmp_path, capsys):
    p = tmp_path / "t.parquet"
    _small(p, n=50_000)
    data = p.read_bytes()
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(data[: len(data) // 2])
    assert main(["info", str(cut)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(cut) in err[0] and "Parquet" in err[0]


def test_info_json_counts_what_the_trace_holds(tmp_path, capsys):
    p = tmp_path / "t.parquet"
    vpn = np.array([10, 11, 10, 600, 10])
    op = np.array([OP_WRITE, OP_READ, OP_READ, OP_WRITE, OP_PAGEOUT], np.uint8)
    write_trace(p, TraceMeta(source_format="test", sampled=True, sampling="every 10th"),
                np.array([0, 10, 20, 30, 45]), vpn, op)
    assert main(["info", str(p), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["accesses"] == 5 and s["distinct_pages"] == 3 and s["duration_ns"] == 45
    assert s["write_fraction"] == pytest.approx(2 / 4)
    assert s["pageouts"] == 1 and s["sampled"] is True
    assert s["content_coverage"] == 0.0 and s["source"]["format"] == "test"


def test_info_shows_what_a_trace_says_of_itself_as_text_not_markup(tmp_path, capsys,
                                                                     monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")          # one line per row
    p = tmp_path / "t.parquet"
    write_trace(p, TraceMeta(source_format="test", description="b[i] += [bold]1[/bold]",
                             command="python3 -c 'b[i] = 1'"),
                np.array([0, 10]), np.array([10, 11]), np.array([OP_WRITE, OP_READ], np.uint8))
    assert main(["info", str(p)]) == 0
    out = capsys.readouterr().out
    assert "b[i] += [bold]1[/bold]" in out and "python3 -c 'b[i] = 1'" in out


def test_generated_contents_cover_every_page(tmp_path):
    p = tmp_path / "z.parquet"
    generate_to(p, "zipf", accesses=5000, pages=1000, content="text=1,zero=1")
    s = trace_summary(open_trace(p))
    assert s["content_coverage"] == 1.0 and s["distinct_pages"] <= 1000


def test_swapin_1g_writes_pages_out_then_reads_them_back(tmp_path):
    p = tmp_path / "s.parquet"
    generate_to(p, "swapin-1g", size_bytes=4 << 20)
    ch = next(iter(open_trace(p).iter_chunks()))
    n = (4 << 20) // 4096
    assert len(ch) == 3 * n
    assert (ch.op[:n] == OP_WRITE).all() and (ch.op[n:2 * n] == OP_PAGEOUT).all()
    assert (ch.op[2 * n:] == OP_READ).all()
    assert np.array_equal(ch.vpn[:n], ch.vpn[2 * n:])


@pytest.mark.parametrize("args, words", [
    (["gen", "zipf", "-o", "{d}/x.parquet", "--content", "sand=1"], "content class"),
    (["gen", "seq", "-o", "{d}/x.parquet", "--size", "12Q"], "--size"),
    (["gen", "seq", "-o", "{d}/nofolder/x.parquet"], "does not exist"),
    (["info", "{d}/missing.parquet"], "no such file"),
])
def test_bad_settings_are_one_line_and_exit_2(tmp_path, capsys, args, words):
    argv = [a.format(d=tmp_path) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]
    assert not list(tmp_path.glob("*.parquet"))
