"""The csv importer's content column: page contents per access into the contents sidecar.

A cell is a class name, a page's 4096 bytes as 8192 hex digits, or empty. The
sidecar must hold exactly what the cells say, one version per change of a
page's contents (docs/trace-format.md), whichever way the file was read (the
C scanner, pyarrow, small windows and chunks); a replay must see the contents;
a bad cell is one error line naming its line, and nothing is written.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from replay.cli import main
from replay.errors import ReplayError
from replay.importers import _common, run_import
from replay.importers import _contents
from replay.importers import _csvcore as core
from replay.trace import open_trace

CLASSES = ["zero", "random", "text", "half", "mixed", "code"]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def sidecar_by_page(path: Path) -> dict[tuple[int, int, int], tuple[str, bytes | None]]:
    """The contents sidecar beside ``path``, one entry per (asid, vpn, version)."""
    table = pq.read_table(path.with_name(path.stem + ".contents.parquet")).to_pydict()
    out = {}
    for a, v, n, ver, cls, data in zip(*(table[k] for k in (
            "asid", "vpn", "npages", "version", "content_class", "data"))):
        assert n == 1 or data is None
        for p in range(v, v + n):
            key = (a, p, ver)
            assert key not in out, f"{key} given twice"
            out[key] = ("unknown", data) if data is not None else (cls, None)
    return out


def expected_by_page(rows: list[tuple[int, int, str]]) -> dict:
    """What the cells mean, worked out plainly: (asid, vpn, cell) in file order."""
    last: dict[tuple[int, int], tuple] = {}
    version: dict[tuple[int, int], int] = {}
    out = {}
    for asid, vpn, cell in rows:
        text = cell.strip()
        if text.lower() in ("", "unknown"):
            continue
        got = (text.lower(), None) if text.lower() in CLASSES else \
            ("unknown", bytes.fromhex(text))
        page = (asid, vpn)
        if last.get(page) == got:
            continue
        version[page] = version.get(page, -1) + 1
        last[page] = got
        out[(asid, vpn, version[page])] = got
    return out


def mixed_csv(path: Path, n: int = 1500, seed: int = 3) -> list[tuple[int, int, str]]:
    """content first (not where the canonical columns are), then time, vpn, op, asid;
    classes in any case with spaces, empty cells, unknown, and five recorded pages in hex
    (upper and lower case) over 120 pages of 3 address spaces, so pages repeat and change."""
    rng = np.random.default_rng(seed)
    pages = [rng.integers(0, 256, 4096, dtype=np.uint8).tobytes() for _ in range(4)]
    pages.append(bytes(4096))                   # all-zero bytes are bytes, not class zero
    rows, lines = [], ["content,time_ns,vpn,op,asid"]
    for i in range(n):
        asid = int(rng.integers(0, 3))
        vpn = 0x7F000 + int(rng.integers(0, 40))
        pick = rng.random()
        if pick < 0.3:
            cell = ""
        elif pick < 0.35:
            cell = "unknown"
        elif pick < 0.45:
            h = pages[int(rng.integers(0, len(pages)))].hex()
            cell = h.upper() if rng.random() < 0.5 else h
        else:
            c = CLASSES[int(rng.integers(0, 6))]
            cell = rng.choice([c, c.upper(), f" {c} ", c.capitalize()])
        rows.append((asid, vpn, cell))
        lines.append(f"{cell},{i * 10},{vpn},{'rw'[i % 2]},{asid}")
    path.write_text("\n".join(lines) + "\n")
    return rows


def test_a_content_column_round_trips_into_the_sidecar(tmp_path):
    src = tmp_path / "t.csv"
    rows = mixed_csv(src)
    out = tmp_path / "t.parquet"
    note = run_import("csv", src, out, {})
    want = expected_by_page(rows)
    assert sidecar_by_page(out) == want
    versions = [k[2] for k in want]
    assert max(versions) >= 3                         # pages did change, more than once
    assert any(d is not None for _, d in want.values())
    assert any(d is None for _, d in want.values())
    tr = open_trace(out)
    tr.check()                                        # the sidecar passes the reader's checks
    assert tr.num_accesses == len(rows)
    assert tr.meta.extra["columns"]["content"] == "content"
    # the line: pages by what their version 0 (the one replayed) is
    first = {(a, v): got for (a, v, ver), got in want.items() if ver == 0}
    by_class = sum(1 for c, d in first.values() if d is None)
    by_bytes = len(first) - by_class
    changed = len({(a, v) for (a, v, ver) in want if ver > 0})
    assert note.startswith(f"page contents from column 'content': {by_class:,} pages by "
                           "class (zero "), note
    assert f" and {by_bytes:,} pages by their bytes; {changed:,} pages change contents" \
        in note, note


def test_scanner_pyarrow_and_small_windows_give_the_same_sidecar(tmp_path, monkeypatch,
                                                                window_kinds):
    """Class names ride the C scanner (dictionary keys); pyarrow reads hex rows; small
    windows and chunks split pages' histories across windows and compactions."""
    src = tmp_path / "t.csv"
    rows = mixed_csv(src, n=800, seed=5)
    classes_only = tmp_path / "c.csv"
    text = src.read_text().splitlines()
    # the scanner's keys are up to 7 bytes: " random " (8) is pyarrow's, so no padding here
    classes_only.write_text("\n".join(line.replace(" ", "") for line in text
                                      if len(line) < 200) + "\n")
    kinds = window_kinds
    for path in (src, classes_only):
        results = []
        for how in ("whole", "arrow", "small"):
            with monkeypatch.context() as m:
                if how == "arrow":
                    m.setattr(core._Scanner, "usable", staticmethod(lambda *a: False))
                if how == "small":
                    m.setattr(core, "SCAN_ROWS", 37)
                    m.setattr(_common, "CHUNK_BYTES", 3000)
                    m.setattr(_contents, "COMPACT_ENTRIES", 10)    # compacted many times
                kinds.clear()
                out = tmp_path / f"{path.stem}-{how}.parquet"
                run_import("csv", path, out, {})
                results.append(sidecar_by_page(out))
                if path is classes_only and how != "arrow":
                    assert set(kinds) == {"ScannedWindow"}, kinds   # never left the scanner
        assert results[0] == results[1] == results[2]
    kept = [r for r, line in zip(rows, text[1:]) if len(line) < 200]
    assert results[0] == expected_by_page(kept)


def test_runs_of_pages_are_one_row_and_a_later_change_is_version_1(tmp_path):
    lines = ["vpn,content"] + [f"{100 + p},zero" for p in range(64)] + \
        [f"{300 + p},text" for p in range(16)] + ["110,text", "111,text", "112,", "110,text"]
    src = tmp_path / "t.csv"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "t.parquet"
    note = run_import("csv", src, out, {})
    t = pq.read_table(tmp_path / "t.contents.parquet").to_pydict()
    got = sorted(zip(t["vpn"], t["npages"], t["version"], t["content_class"]))
    assert got == [(100, 64, 0, "zero"), (110, 2, 1, "text"), (300, 16, 0, "text")]
    assert note == ("page contents from column 'content': 80 pages by class (zero 64, text "
                    "16); 2 pages change contents (all versions kept; the replay uses each "
                    "page's first)")


def test_the_column_is_found_anywhere_by_name_or_number(tmp_path):
    src = tmp_path / "t.csv"
    src.write_text("Content,op,page\nzero,w,5\nhalf,r,6\n")
    run_import("csv", src, tmp_path / "a.parquet", {})
    assert sidecar_by_page(tmp_path / "a.parquet") == {(0, 5, 0): ("zero", None),
                                                        (0, 6, 0): ("half", None)}
    raw = tmp_path / "raw.csv"
    raw.write_text("5,w,code\n6,r,\n")
    run_import("csv", raw, tmp_path / "b.parquet",
               {"no_header": True, "vpn_col": "1", "op_col": "2", "content_col": "3"})
    assert sidecar_by_page(tmp_path / "b.parquet") == {(0, 5, 0): ("code", None)}
    with pytest.raises(ReplayError, match="one column is given two roles"):
        run_import("csv", raw, tmp_path / "c.parquet",
                   {"no_header": True, "vpn_col": "1", "op_col": "2", "content_col": "2"})


def test_the_import_line_says_where_contents_came_from(tmp_path):
    from replay.costs.content import UNKNOWN_AS
    assert _contents.UNKNOWN_GENERATED_AS == UNKNOWN_AS      # the line says what replay does
    with_col = tmp_path / "a.csv"
    with_col.write_text(f"vpn,content\n5,zero\n6,{'ab' * 4096}\n7,\n")
    without = tmp_path / "b.csv"
    without.write_text("vpn,note\n5,zero\n6,x\n")
    empty = tmp_path / "c.csv"
    empty.write_text("vpn,content\n5,\n6,unknown\n")
    rc, out, err = run_cli(["import", "csv", str(with_col), "-o", str(tmp_path / "a.parquet")])
    assert (rc, out) == (0, "") and err.count("\n") == 1
    assert err.rstrip().endswith("with page contents sidecar; page contents from column "
                                 "'content': 1 page by class (zero 1) and 1 page by its "
                                 "bytes"), err
    for src, why in ((without, "no content column"),
                     (empty, "column 'content' has no contents (every cell empty)")):
        out_path = tmp_path / (src.stem + ".parquet")
        rc, out, err = run_cli(["import", "csv", str(src), "-o", str(out_path)])
        assert (rc, out) == (0, "") and err.count("\n") == 1
        assert err.rstrip().endswith(
            f"no sidecars (no page contents, no regions); {why}: page contents unknown, "
            f"replayed as class unknown (generated as {UNKNOWN_AS})"), err
        assert not out_path.with_name(src.stem + ".contents.parquet").exists()
        assert open_trace(out_path).meta.extra["contents"] == (
            "unknown (no content column)" if src is without else
            "per access, from the content column (each page's first contents are version "
            "0, the one replayed)")


# ---------------------------------------------------------------- the replay sees them


def _reclaim_csv(path: Path, content: bool) -> None:
    """2048 pages written (even ones zero, odd ones text when ``content``), then read twice:
    half the footprint as the memory limit forces them out and back."""
    lines = ["time_ns,vpn,op" + (",content" if content else "")]
    t = 0
    for rnd in range(3):
        for p in range(2048):
            t += 1000
            cell = ("zero" if p % 2 == 0 else "text") if rnd == 0 else ""
            lines.append(f"{t},{0x10000 + p},{'w' if rnd == 0 else 'r'}"
                         + (f",{cell}" if content else ""))
    path.write_text("\n".join(lines) + "\n")


def test_zero_pages_from_the_csv_are_zero_in_the_replay(tmp_path):
    counters = {}
    for content in (True, False):
        src = tmp_path / f"{content}.csv"
        _reclaim_csv(src, content)
        trace = tmp_path / f"{content}.parquet"
        assert run_cli(["import", "csv", str(src), "-o", str(trace)])[0] == 0
        out = tmp_path / f"{content}.json"
        rc, _, err = run_cli(["run", str(trace), "--policy", "order0-fallback",
                              "--memory-limit", "50%", "--json", str(out), "--quiet"])
        assert rc == 0, err
        counters[content] = json.loads(out.read_text())["results"][0]["counters"]
    with_zero, without = counters[True], counters[False]
    assert without["swpout_zero"] == 0 and without["swpin_zero"] == 0
    assert 0 < with_zero["swpout_zero"] <= 1024            # only the 1024 zero pages
    assert with_zero["swpin_zero"] > 0
    # the zero pages are not stored: fewer pages reach zswap and the disk
    assert (with_zero["zswpout"] + with_zero["pswpout"]
            < without["zswpout"] + without["pswpout"])


def test_the_replay_uses_each_pages_first_contents(tmp_path):
    """Pages 0-9 are zero and then text, pages 10-19 text and then zero: the replay's
    sizes take version 0, so the first ten are zero pages and the others are not."""
    from replay.costs.sizes import page_compressed_sizes
    lines = ["vpn,op,content"] + [f"{p},w,{'zero' if p < 10 else 'text'}" for p in range(20)] \
        + [f"{p},w,{'text' if p < 10 else 'zero'}" for p in range(20)]
    src = tmp_path / "t.csv"
    src.write_text("\n".join(lines) + "\n")
    run_import("csv", src, tmp_path / "t.parquet", {})
    tr = open_trace(tmp_path / "t.parquet")
    assert {k[2] for k in sidecar_by_page(tmp_path / "t.parquet")} == {0, 1}
    sizes = page_compressed_sizes(tr, "lz4")
    ids = tr.dense_ids(next(tr.iter_chunks()))[:20]
    assert sizes.is_zero[ids].tolist() == [True] * 10 + [False] * 10


# ---------------------------------------------------------------- bad cells

BAD = {
    "zeros": "content 'zeros' is not a content class (zero, random, text, half, mixed, "
             "code) nor 8192 hex digits (a 4096-byte page)",
    "ab" * 4095: "8190 hex digits, not 8192",
    "ab" * 4097: "8194 hex digits, not 8192",
    "ab" * 2000 + "g" + "a" * 4191: "'g' at character 4001 is not a hex digit",
    "cafe": "content 'cafe': 4 hex digits, not 8192",
    "0x00": "content '0x00' is not a content class",
}


@pytest.mark.parametrize("value", list(BAD), ids=lambda v: v[:8] + f"-{len(v)}")
@pytest.mark.parametrize("path", ["scanner", "pyarrow"])
def test_a_bad_cell_is_one_error_line_naming_its_line(tmp_path, monkeypatch, value, path):
    monkeypatch.setattr(core, "SCAN_ROWS", 16)               # the bad cell in a later window
    if path == "pyarrow":
        monkeypatch.setattr(core._Scanner, "usable", staticmethod(lambda *a: False))
    lines = ["time_ns,vpn,op,content"] + [f"{i},{i},w,{CLASSES[i % 6]}" for i in range(60)]
    lines[41] = f"40,40,w,{value}"                            # line 42 of the file
    src = tmp_path / "in.csv"
    src.write_text("\n".join(lines) + "\n")
    folder = tmp_path / "out"
    folder.mkdir()
    rc, out, err = run_cli(["import", "csv", str(src), "-o", str(folder / "t.parquet")])
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"replay: error: {src}: csv format: "
                                                   "line 42: content "), err
    assert BAD[value] in err, err
    assert len(err) < 400                                    # not the whole page
    assert os.listdir(folder) == []


def test_a_bad_cell_leaves_an_existing_trace_and_its_sidecar_alone(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("vpn,content\n1,zero\n2,text\n")
    out = tmp_path / "t.parquet"
    run_import("csv", src, out, {})
    before = {p.name: p.read_bytes() for p in tmp_path.glob("t.*")}
    assert set(before) == {"t.parquet", "t.contents.parquet"}
    src.write_text("vpn,content\n1,zero\n2,txt\n")
    with pytest.raises(ReplayError, match="line 3: content 'txt' is not a content class"):
        run_import("csv", src, out, {})
    assert {p.name: p.read_bytes() for p in tmp_path.glob("t.*")} == before
    assert sorted(os.listdir(tmp_path)) == ["in.csv", "t.contents.parquet", "t.parquet"]


def test_the_packed_sort_is_a_stable_lexicographic_sort():
    """_order packs the keys and the position into one int64 where they fit (else lexsort):
    both ways must be np.lexsort's stable order, ties kept in place."""
    rng = np.random.default_rng(0)
    packed = 0
    for _ in range(300):
        n = int(rng.integers(0, 300))
        cols = [int(rng.choice([0, 5, 1 << 20])) + rng.integers(
            0, int(rng.choice([1, 3, 1 << 20, 1 << 52])), n) for _ in range(rng.integers(1, 4))]
        widths = sum((int(c.max()) - int(c.min())).bit_length() for c in cols) if n else 0
        packed += widths + max(n - 1, 0).bit_length() <= 63
        assert _contents._order(*cols).tolist() == np.lexsort(cols[::-1]).tolist()
    assert 50 < packed < 250                                   # both ways were taken
