"""The csv importer's byte scanner gives exactly what the pyarrow path gives.

``replay import csv`` reads the common case (unquoted or simply quoted fields)
with a C byte scanner (replay._scan) and leaves anything else to pyarrow.csv. Both must
give the same trace, or the same one-line error, for any input: these tests
import the same bytes both ways and compare.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replay.errors import ReplayError
from replay.importers import _common, run_import
from replay.importers import _csvcore as core
from replay.trace import open_trace


def read_all(path: Path) -> dict[str, list[int]]:
    chunks = list(open_trace(path).iter_chunks())
    return {k: np.concatenate([getattr(c, k) for c in chunks]).tolist()
            for k in ("time_ns", "vpn", "op", "asid")}


def import_both(src: Path, options: dict, monkeypatch) -> tuple[object, object]:
    """(scanner result, pyarrow-only result): a dict of columns or the error text."""

    def one(out: Path):
        try:
            run_import("csv", src, out, dict(options))
        except ReplayError as e:
            assert not out.exists()
            return str(e)
        return read_all(out)

    scanned = one(src.with_suffix(".scan.parquet"))
    with monkeypatch.context() as m:
        m.setattr(core._Scanner, "usable", staticmethod(lambda *a: False))
        arrow = one(src.with_suffix(".arrow.parquet"))
    return scanned, arrow


def test_canonical_csv_takes_the_scanner_and_matches_pyarrow(tmp_path, monkeypatch,
                                                            window_kinds):
    rng = np.random.default_rng(7)
    n = 2000
    t = np.cumsum(rng.integers(0, 50, n))
    vpn = rng.integers(0, 1 << 40, n)
    op = rng.choice(["r", "w", "R", "W", "pageout", "free", "0", "1"], n)
    asid = rng.integers(0, 1 << 20, n)
    rows = [f"{a},{b},{c},{d}" for a, b, c, d in zip(t, vpn, op, asid)]
    src = tmp_path / "t.csv"
    src.write_text("time_ns,vpn,op,asid\n" + "\n".join(rows) + "\n")
    scanned, arrow = import_both(src, {}, monkeypatch)
    assert isinstance(scanned, dict) and scanned == arrow
    assert scanned["vpn"] == vpn.tolist() and scanned["time_ns"] == t.tolist()
    assert scanned["asid"] == asid.tolist()
    code = {"r": 0, "w": 1, "R": 0, "W": 1, "pageout": 2, "free": 3, "0": 0, "1": 1}
    assert scanned["op"] == [code[o] for o in op]
    assert window_kinds == ["ScannedWindow", "CsvWindow"]     # scanner, then pyarrow only


def test_quoted_fields_as_pyarrow_writes_them_stay_on_the_scanner(tmp_path, window_kinds):
    src = tmp_path / "t.csv"
    src.write_text('"time_ns","vpn","op","asid"\r\n0,"17","r",1\r\n\r\n100,0x12,"W",2\r\n')
    run_import("csv", src, tmp_path / "t.parquet", {})
    assert read_all(tmp_path / "t.parquet") == {"time_ns": [0, 100], "vpn": [17, 0x12],
                                                "op": [0, 1], "asid": [1, 2]}
    assert window_kinds == ["ScannedWindow"]


@pytest.mark.parametrize("body", [
    '5,"a""b",r\n6,7,w\n',      # a doubled quote
    '5,7,"r"x\n6,7,w\n',        # text after a closing quote
    '5,7,r\r6,7,w\n',           # a lone CR: pyarrow ends a line there
    '5,7,prefetch\n6,7,w\n',    # a dictionary value longer than 7 bytes
])
def test_what_the_scanner_leaves_to_pyarrow_imports_the_same(tmp_path, monkeypatch,
                                                             window_kinds, body):
    src = tmp_path / "t.csv"
    src.write_text("time_ns,vpn,op\n" + body)
    scanned, arrow = import_both(src, {"op_map": "prefetch=read"}, monkeypatch)
    assert scanned == arrow
    assert window_kinds == ["CsvWindow", "CsvWindow"]      # scanner gave up at once


def test_one_odd_line_sends_only_its_chunk_to_pyarrow(tmp_path, monkeypatch, window_kinds):
    monkeypatch.setattr(_common, "CHUNK_BYTES", 400)
    rows = [f'{i},{i + 7},"{"rw"[i % 2]}",{i % 3}' for i in range(300)]
    rows[150] = '150,157,"r""",0'         # a doubled quote: op is r" for pyarrow
    src = tmp_path / "t.csv"
    src.write_text("time_ns,vpn,op,asid\n" + "\n".join(rows) + "\n")
    scanned, arrow = import_both(src, {"op_map": 'r"=pageout'}, monkeypatch)
    assert isinstance(scanned, dict) and scanned == arrow
    assert scanned["op"][149:152] == [1, 2, 1]
    kinds = window_kinds[:len(window_kinds) // 2]          # the scanner's run
    assert kinds.count("CsvWindow") == 1
    assert kinds.index("CsvWindow") not in (0, len(kinds) - 1)


@pytest.mark.parametrize("text", ["time_ns,vpn,op\n1,5,r", "time_ns,vpn,op\n\n1,5,r\n"])
def test_a_header_and_one_row_imports_both_ways(tmp_path, monkeypatch, text):
    """The first chunk may hold the header alone (no newline after the row)."""
    src = tmp_path / "t.csv"
    src.write_text(text)
    scanned, arrow = import_both(src, {}, monkeypatch)
    assert scanned == arrow == {"time_ns": [1], "vpn": [5], "op": [0], "asid": [0]}


def test_bad_values_are_named_by_line_on_the_scanner_path(tmp_path, monkeypatch):
    monkeypatch.setattr(core, "SCAN_ROWS", 7)              # many windows per chunk
    rows = [f"{i},{i + 100},{'rw'[i % 2]}" for i in range(60)]
    src = tmp_path / "t.csv"
    cases = {
        41: ("41,,w", "line 45: page number '': empty value"),
        42: ("42,NA,r", "line 46: page number 'NA': not a number"),
        50: ("50,1.5,r", "line 54: page number '1.5': not a whole number"),
        30: ("30,130,x", "line 34: op is not read/write/pageout/free (see --op-map): 'x'"),
        20: ("2,120,r", "line 24: time goes backwards (2 ns after 19 ns)"),
        33: ("33,4503599627370496,w", "line 37: page number 4503599627370496 is >= 2^52"),
    }
    for i, (row, text) in cases.items():
        bad = list(rows)
        bad[i] = row
        src.write_text("\n\ntime_ns,vpn,op\n" + "\n".join(bad) + "\n")
        with pytest.raises(ReplayError) as err:
            run_import("csv", src, tmp_path / "t.parquet", {})
        assert text in str(err.value)
        assert not (tmp_path / "t.parquet").exists()


def test_small_windows_and_chunks_do_not_change_the_trace(tmp_path, monkeypatch):
    rng = np.random.default_rng(11)
    n = 3000
    rows = [f"{i // 3}.{i % 3}, 0x{a:x} ,{o}" for i, (a, o) in
            enumerate(zip(rng.integers(0, 1 << 47, n), rng.choice(["ld", "st"], n)))]
    src = tmp_path / "t.csv"
    src.write_text("ts,addr,kind\n" + "\n".join(rows))
    opts = {"time_col": "ts", "time_unit": "ms", "addr_col": "addr", "op_col": "kind"}
    run_import("csv", src, tmp_path / "a.parquet", opts)
    whole = read_all(tmp_path / "a.parquet")
    monkeypatch.setattr(core, "SCAN_ROWS", 100)
    monkeypatch.setattr(_common, "CHUNK_BYTES", 5000)
    run_import("csv", src, tmp_path / "b.parquet", opts)
    assert read_all(tmp_path / "b.parquet") == whole
    assert whole["time_ns"][:4] == [0, 100_000, 200_000, 1_000_000]
    assert whole["vpn"] == [int(r.split(",")[1], 16) >> 12 for r in rows]
    assert whole["op"] == [0 if r.endswith("ld") else 1 for r in rows]


# ---------------------------------------------------------------- any csv, both ways

_SEPS = [",", ";", "\t", " "]


@st.composite
def csv_files(draw) -> tuple[bytes, dict]:
    """A small delimited file (mostly valid, a quarter with one bad cell) and its options."""
    sep = draw(st.sampled_from(_SEPS))
    header = draw(st.booleans())
    unit = draw(st.sampled_from(["ns", "us", "s"]))
    addr = draw(st.booleans())
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    nrows = draw(st.integers(1, 25))
    t = np.cumsum(draw(st.lists(st.integers(0, 1500), min_size=nrows, max_size=nrows)))
    styles = ["dec", "dec", "plus", "quoted"] + ([] if sep == " " else ["space"])

    def number(v: int, hex_ok: bool = True) -> str:
        style = draw(st.sampled_from(styles + (["hex"] if hex_ok else [])))
        text = f"0x{v:x}" if style == "hex" else str(v)
        return {"plus": f"+{text}", "space": f" {text} ", "quoted": f'"{text}"'}.get(style,
                                                                                      text)

    def time_text(v: int) -> str:
        if unit == "ns":
            return number(int(v), hex_ok=False)
        text = f"{v // 1000}.{v % 1000:03d}"
        return draw(st.sampled_from([text, f'"{text}"', f"{text}000", text.rstrip("0")]))

    page = st.integers(0, (1 << 64) - 1 if addr else (1 << 52) - 1)
    ops = st.sampled_from(["r", "w", "R", "W", "load", "store", "m", "free", "2", '"r"',
                           '"W"', "ld"])
    lines = []
    for i in range(nrows):
        cells = [time_text(int(t[i])), number(draw(page)), draw(ops),
                 number(draw(st.sampled_from([0, 1, 7, (1 << 20) - 1]))),
                 draw(st.sampled_from(["x", "", '"q,q"', "a_b", '"a b"']))]
        lines.append(sep.join(cells))
        if draw(st.integers(0, 8)) == 0:
            lines.append("")
    if draw(st.integers(0, 3)) == 0:           # one bad cell or line
        bad = draw(st.sampled_from(["", "NA", "-1", "1e3", "0x", "12x", '"5""', "1.5", "x",
                                    "99999999999999999999", "4503599627370496", "0x1p",
                                    "1048576", " r", '"r" ']))
        row = draw(st.integers(0, nrows - 1))
        cells = lines[row].split(sep) if lines[row] else ["1", "2"]
        cells[draw(st.integers(0, len(cells) - 1))] = bad
        lines[row] = sep.join(cells)
    names = ["t", "addr" if addr else "vpn", "op", "asid", "note"]
    text = (sep.join(names) + eol if header else "") + eol.join(lines)
    if draw(st.booleans()):
        text += eol
    opts = {"delimiter": {"\t": "\\t", " ": "space"}.get(sep, sep), "time_col": "1",
            "time_unit": unit, "op_col": "3", "asid_col": "4", "op_map": "ld=read",
            ("addr_col" if addr else "vpn_col"): "2"}
    if not header:
        opts["no_header"] = True
    return text.encode(), opts


def test_any_small_csv_gives_the_same_trace_or_error_both_ways(monkeypatch):
    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(case=csv_files(), chunk=st.sampled_from([None, 64, 300]))
    def check(case: tuple[bytes, dict], chunk: int | None) -> None:
        data, opts = case
        with tempfile.TemporaryDirectory() as tmp, monkeypatch.context() as m:
            if chunk is not None:
                m.setattr(_common, "CHUNK_BYTES", chunk)
            src = Path(tmp) / "in.csv"
            src.write_bytes(data)
            scanned, arrow = import_both(src, opts, monkeypatch)
            assert scanned == arrow
    check()
