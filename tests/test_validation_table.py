"""`python -m replay.live.table`: the rows it writes and the section it replaces (the
kernel runs themselves are `replay validate`'s, tested in test_validate_*.py)."""

from __future__ import annotations

import pytest

from replay.live import table


def report(errors: dict[str, tuple[float, float]]) -> dict:
    rows = [{"counter": c, "kernel": k, "model": m, "relative_error": (m - k) / max(k, 1)}
            for c, (k, m) in errors.items()]
    return {"comparison": {"order0-fallback": rows}, "policies": ["order0-fallback"]}


def test_a_row_names_its_worst_target_line_and_whether_it_is_within_3_percent():
    line, worst = table.table_row("zswap-file", "zipf", 0, report({
        "pgmajfault": (1000, 1010), "swap-ins": (1000, 1020), "swap-outs": (1000, 990),
        "swap_ra_hit": (100, 0)}))                      # not a target line
    assert worst == pytest.approx(0.02)
    assert line.startswith("| zswap-file | zipf | 0 | order0-fallback | 1,000 / 1,010 (+1.0%)")
    assert line.endswith("| 2.0% | yes |")
    line, worst = table.table_row("zswap-loop", "kvscan", 3, report({
        "pgmajfault": (1000, 800), "64kB split": (10, 10)}))
    assert worst == pytest.approx(0.2) and line.endswith("| 20.0% | no |")
    assert "| - |" in line                              # a counter the report lacks


def test_the_section_between_the_markers_is_replaced_and_the_rest_kept(tmp_path):
    doc = tmp_path / "v.md"
    doc.write_text(f"# V\nbefore\n{table.START}\nold\n{table.END}\nafter\n")
    table.replace_section(doc, "new rows")
    assert doc.read_text() == f"# V\nbefore\n{table.START}\nnew rows\n{table.END}\nafter\n"
    assert [p.name for p in tmp_path.iterdir()] == ["v.md"]    # no temporary left


def test_a_document_without_markers_is_refused_before_any_run(tmp_path, capsys):
    doc = tmp_path / "v.md"
    doc.write_text("# nothing to replace\n")
    with pytest.raises(SystemExit) as e:
        table.main(["--doc", str(doc), "--only", "zswap-file"])
    assert e.value.code == 2
    assert "marker" in capsys.readouterr().err
    assert doc.read_text() == "# nothing to replace\n"


def test_every_bundled_trace_gets_rows_at_half_its_footprint(tmp_path):
    from pathlib import Path

    from replay.study.folders import trace_files, trace_name
    from replay.study.footprint import trace_footprint
    from replay.trace import open_trace
    bundled = Path(__file__).resolve().parents[1] / "traces"
    names = {trace_name(p) for p in trace_files(bundled)}
    got = table.traces(tmp_path, bundled, names)
    assert [n for n, _, _ in got] == sorted(names) and "kvscan" in names
    for name, path, limit in got:
        half = trace_footprint(open_trace(path)).bytes / 2
        assert limit % (1 << 20) == 0 and abs(limit - half) <= 1 << 19, name
    assert dict((n, lim) for n, _, lim in got)["kvscan"] == 24 << 20   # as before
    assert table.traces(tmp_path, bundled, {"xz"})[0][0] == "xz"
    assert not list(tmp_path.iterdir())               # no generated trace was asked for
