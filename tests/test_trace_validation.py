"""The canonical trace and its sidecars are validated completely (issue 13): types,
nullability, ranges, classes, lengths, metadata, and row counts from the data.

Each damaged file is read through `replay info` and `replay run` (in-process CLI):
one error line naming the file (and the column and record where there is one),
exit code 2.
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import replay.commands.run as run_command
from replay.cli import main
from replay.trace import (
    ACCESS_SCHEMA,
    CONTENTS_SCHEMA,
    META_KEY,
    REGIONS_SCHEMA,
    TraceMeta,
    open_trace,
    write_trace,
)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture
def no_replay(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the replay started on a trace that should have been refused")
    monkeypatch.setattr(run_command, "simulate", refuse)


def refused_by_info_and_run(path: Path, *words: str, named: Path | None = None) -> None:
    """`info` and `run` both give one error line naming ``named`` (default: the trace)."""
    named = named or path
    for argv in (["info", "--json", str(path)], ["run", str(path), "--quiet"]):
        rc, out, err = run_cli(argv)
        assert rc == 2, (argv, err)
        assert out == ""
        assert err.count("\n") == 1 and err.startswith(f"replay: error: {named}: "), err
        assert "Traceback" not in err
        for w in words:
            assert w in err, err


def nullable(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, f.type, nullable=True) for f in schema])


def access_table(path: Path, *, time_ns=(1, 2, 3), vpn=(5, 6, 7), op=(0, 1, 0), asid=(0, 0, 0),
                 meta: bytes | None = None) -> None:
    md = {META_KEY: TraceMeta().to_json().encode() if meta is None else meta}
    schema = nullable(ACCESS_SCHEMA).with_metadata(md)
    pq.write_table(pa.Table.from_arrays(
        [pa.array(time_ns, pa.int64()), pa.array(vpn, pa.int64()), pa.array(op, pa.uint8()),
         pa.array(asid, pa.int32())], schema=schema), path)


def good_trace(path: Path) -> None:
    write_trace(path, TraceMeta(source_format="test"), np.arange(3, dtype=np.int64),
                np.array([5, 6, 7]), np.zeros(3, np.uint8))


# ---------------------------------------------------------------- cases 4 and 3: nulls


@pytest.mark.parametrize("column,record", [("vpn", 2), ("op", 3), ("time_ns", 1), ("asid", 2)])
def test_a_null_in_an_access_column_names_the_column_and_record(tmp_path, no_replay, column,
                                                                record):
    """A null vpn used to become a garbage page id (run exit 0, wrong results); `info`
    on a null op crashed."""
    cols = {"time_ns": [1, 2, 3], "vpn": [5, 6, 7], "op": [0, 1, 0], "asid": [0, 0, 0]}
    cols[column][record - 1] = None
    p = tmp_path / "t.parquet"
    access_table(p, **cols)
    refused_by_info_and_run(p, f"record {record}", f"{column} is null")


# ---------------------------------------------------------------- case 3, 9: metadata


@pytest.mark.parametrize("meta,says", [
    (b"[1, 2]", "metadata is a JSON list, not an object"),
    (b"null", "metadata is a JSON null, not an object"),
    (b'"hello"', "metadata is a JSON string, not an object"),
    (b"{", "metadata is not JSON"),
    (b"\xff\xfe", "metadata is not JSON"),
    (b'{"page_size": "4096"}', "metadata field page_size is '4096', not an integer"),
    (b'{"page_size": 8192}', "page size 8192 is not supported (only 4096)"),
    (b'{"page_size": true}', "metadata field page_size is True, not an integer"),
    (b'{"sampled": "yes"}', "metadata field sampled is 'yes', not true or false"),
    (b'{"description": 7}', "metadata field description is 7, not a string"),
    (b'{"extra": [1]}', "metadata field extra is [1], not an object"),
    (b'{"format_version": 2}', "format version 2"),
    (b"[" * 100_000 + b"]" * 100_000, "metadata is"),
])
def test_metadata_of_the_wrong_shape_is_one_line(tmp_path, no_replay, meta, says):
    p = tmp_path / "t.parquet"
    access_table(p, meta=meta)
    refused_by_info_and_run(p, says)


def test_string_page_size_no_longer_reads_as_unsupported_4096(tmp_path, no_replay):
    p = tmp_path / "t.parquet"
    access_table(p, meta=b'{"page_size": "4096"}')
    rc, _, err = run_cli(["info", str(p)])
    assert rc == 2 and "(only 4096)" not in err, err


# ---------------------------------------------------------------- case 9: the footer


def _lie_about_rows(path: Path, true_rows: int, claimed: int) -> None:
    """Change the file-level num_rows in the Parquet footer (thrift compact protocol:
    field 3, i64, zigzag varint of the same length), leaving the data alone."""
    def varint(v: int) -> bytes:
        z, out = v << 1, bytearray()
        while True:
            b = z & 0x7F
            z >>= 7
            out.append(b | (0x80 if z else 0))
            if not z:
                return bytes(out)
    b = bytearray(path.read_bytes())
    flen = struct.unpack("<I", b[-8:-4])[0]
    start = len(b) - 8 - flen
    old, new = b"\x16" + varint(true_rows), b"\x16" + varint(claimed)
    assert len(old) == len(new)
    i = bytes(b[start:-8]).index(old)          # the first: FileMetaData, before row groups
    b[start + i:start + i + len(old)] = new
    path.write_bytes(bytes(b))
    assert pq.ParquetFile(path).metadata.num_rows == claimed


@pytest.mark.parametrize("claimed", [1001, 999])
def test_a_footer_that_lies_about_the_row_count_is_not_believed(tmp_path, no_replay, claimed):
    p = tmp_path / "t.parquet"
    write_trace(p, TraceMeta(), np.arange(1000, dtype=np.int64), np.arange(1000) + 100,
                np.zeros(1000, np.uint8))
    _lie_about_rows(p, 1000, claimed)
    refused_by_info_and_run(p, f"footer says {claimed:,} accesses", "1,000")


def test_info_counts_rows_from_the_data(tmp_path):
    p = tmp_path / "t.parquet"
    write_trace(p, TraceMeta(), np.arange(1000, dtype=np.int64), np.arange(1000) + 100,
                np.zeros(1000, np.uint8))
    rc, out, err = run_cli(["info", "--json", str(p)])
    assert rc == 0, err
    assert json.loads(out)["accesses"] == 1000


# ---------------------------------------------------------------- case 9: no rows


def test_a_trace_with_no_rows_is_refused_by_run_and_info(tmp_path, no_replay):
    """`run` used to replay nothing (exit 0, an empty table)."""
    p = tmp_path / "t.parquet"
    access_table(p, time_ns=[], vpn=[], op=[], asid=[])
    refused_by_info_and_run(p, "no accesses")


# ---------------------------------------------------------------- sidecars


def contents_sidecar(trace: Path, **cols) -> Path:
    base = {"asid": [0, 0], "vpn": [5, 6], "npages": [1, 2], "version": [0, 0],
            "content_class": ["text", "zero"], "data": [None, None]}
    base.update(cols)
    path = trace.with_name("t.contents.parquet")
    pq.write_table(pa.Table.from_arrays(
        [pa.array(base[f.name], f.type) for f in CONTENTS_SCHEMA],
        schema=nullable(CONTENTS_SCHEMA)), path)
    return path


def regions_sidecar(trace: Path, **cols) -> Path:
    base = {"asid": [0], "start_vpn": [0], "end_vpn": [512], "hugepage": [True],
            "name": ["heap"]}
    base.update(cols)
    path = trace.with_name("t.regions.parquet")
    pq.write_table(pa.Table.from_arrays(
        [pa.array(base[f.name], f.type) for f in REGIONS_SCHEMA],
        schema=nullable(REGIONS_SCHEMA)), path)
    return path


@pytest.mark.parametrize("cols,says", [
    ({"vpn": [5, None]}, "record 2: vpn is null"),
    ({"content_class": ["text", "plutonium"]},
     "record 2: content_class 'plutonium' is not one of unknown, zero"),
    ({"npages": [1, -3]}, "record 2: npages -3 is not at least 1"),
    ({"npages": [0, 1]}, "record 1: npages 0 is not at least 1"),
    ({"vpn": [-5, 6]}, "record 1: vpn -5 is outside 0..2^52-1"),
    ({"vpn": [5, (1 << 52) - 1]}, "record 2: pages vpn .. vpn + npages - 1 go past 2^52"),
    ({"asid": [0, 1 << 20]}, "record 2: asid 1048576 is outside 0..2^20-1"),
    ({"version": [-1, 0]}, "record 1: version -1 is negative"),
    ({"data": [b"x" * 8192, None]}, "record 1: data has 8192 bytes, not 4096"),
    ({"data": [None, b"x" * 4095]}, "record 2: data has 4095 bytes, not 4096"),
    ({"data": [None, b"x" * 12]}, "record 2: data has 12 bytes, not 4096"),
])
def test_bad_contents_sidecar_values_name_the_column_and_record(tmp_path, no_replay, cols,
                                                                says):
    """These were accepted (a 4095-byte data crashed the replay with a traceback)."""
    p = tmp_path / "t.parquet"
    good_trace(p)
    side = contents_sidecar(p, **cols)
    refused_by_info_and_run(p, "contents sidecar", says, named=side)


@pytest.mark.parametrize("cols,says", [
    ({"start_vpn": [None]}, "record 1: start_vpn is null"),
    ({"hugepage": [None]}, "record 1: hugepage is null"),
    ({"start_vpn": [600]}, "record 1: start_vpn 600 is not below end_vpn 512"),
    ({"start_vpn": [-1]}, "record 1: start_vpn -1 is outside 0..2^52-1"),
    ({"end_vpn": [(1 << 52) + 1]}, "record 1: end_vpn 4503599627370497 is outside 1..2^52"),
    ({"asid": [-2]}, "record 1: asid -2 is outside 0..2^20-1"),
])
def test_bad_regions_sidecar_values_name_the_column_and_record(tmp_path, no_replay, cols,
                                                               says):
    p = tmp_path / "t.parquet"
    good_trace(p)
    side = regions_sidecar(p, **cols)
    refused_by_info_and_run(p, "regions sidecar", says, named=side)


def test_valid_sidecars_with_null_data_and_names_are_read(tmp_path):
    p = tmp_path / "t.parquet"
    good_trace(p)
    contents_sidecar(p, data=[b"\0" * 4096, None])
    regions_sidecar(p, name=[None])
    t = open_trace(p)
    assert t.contents().num_rows == 2 and t.regions().num_rows == 1
    rc, out, err = run_cli(["info", "--json", str(p)])
    assert rc == 0, err
    assert json.loads(out)["regions"] == 1


def test_a_sidecar_that_is_a_fifo_is_refused(tmp_path, no_replay):
    import os
    p = tmp_path / "t.parquet"
    good_trace(p)
    os.mkfifo(p.with_name("t.regions.parquet"))
    refused_by_info_and_run(p, "FIFO", named=p.with_name("t.regions.parquet"))


def test_a_trace_that_is_a_fifo_is_refused(tmp_path, no_replay):
    import os
    p = tmp_path / "t.parquet"
    os.mkfifo(p)
    refused_by_info_and_run(p, "FIFO", "not a regular file")
