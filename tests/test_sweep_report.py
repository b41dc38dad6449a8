"""`replay compare --sweep TABLE`: the tables and the HTML report of a sweep's results:
curves of a figure against a setting (a line per policy, the report's policy colours,
units in the labels), heatmaps over two settings (a panel per policy, one colour scale),
and one-line errors for what the table cannot give."""

from __future__ import annotations

import base64
import re

import pyarrow.parquet as pq
import pytest
from matplotlib.colors import to_hex

from replay.cli import main
from replay.report.figures import policy_colours
from replay.study.executor import InProcess
from replay.sweep.figures import curves_figure, heatmap_figure, measure
from replay.sweep.plan import plan_sweep
from replay.sweep.runner import run_sweep
from replay.sweep.spec import load_spec
from replay.sweep.table import ResultsTable

POLICIES = ["order0-fallback", "hybrid-supported"]


@pytest.fixture(scope="module")
def table(tmp_path_factory, gen_trace):
    trace = gen_trace("zipf", accesses=30_000, pages=6_000, seed=5)
    folder = tmp_path_factory.mktemp("sweep-report")
    spec = folder / "grid.toml"
    spec.write_text(f'''
traces = ["{trace}"]
[settings]
tlb = "none"
[grid]
policy = ["order0-fallback", "hybrid-supported"]
memory-limit = ["30%", "50%", "70%"]
mthp = ["16K", "64K"]
''')
    out = folder / "grid.parquet"
    with ResultsTable(out) as t:
        run_sweep(plan_sweep(load_spec(spec)), t, InProcess())
    return out


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_curves_one_line_per_policy_in_its_colour_with_units(table):
    t = pq.read_table(table)
    rows = t.to_pylist()
    m = measure("pgmajfault", t.column_names)
    assert m.name == "counters.pgmajfault"
    fig, left_out = curves_figure(rows, m, "memory_limit")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert left_out == 0
    assert [ax.get_title() for ax in panels] == ["mthp=16K", "mthp=64K"]
    colours = policy_colours(POLICIES)
    for ax in panels:
        assert ax.get_xlabel() == "memory-limit (% of the trace's footprint)"
        assert ax.get_ylabel() == "Major faults (pgmajfault)"
        lines = [ln for ln in ax.get_lines() if ln.get_linestyle() != "None"]
        assert [to_hex(ln.get_color()) for ln in lines] == [colours[p].lower()
                                                           for p in POLICIES]
        assert list(lines[0].get_xdata()) == [30.0, 50.0, 70.0]
    # the points are the table's figures
    ax = panels[1]
    want = sorted((r["memory_limit"], r["counters.pgmajfault"]) for r in rows
                  if r["mthp"] == "64K" and r["policy"] == "hybrid-supported")
    assert list(ax.get_lines()[1].get_ydata()) == [v for _, v in want]


def test_heatmap_a_panel_per_policy_on_one_scale(table):
    t = pq.read_table(table)
    rows = t.to_pylist()
    m = measure("swapin_ns", t.column_names)            # time.swapin_ns, shown in ms
    fig, left_out = heatmap_figure(rows, m, "memory_limit", "mthp")
    panels = [ax for ax in fig.axes if ax.get_title() in POLICIES]
    assert left_out == 0
    colours = policy_colours(POLICIES)
    assert [ax.get_title() for ax in panels] == POLICIES
    assert [to_hex(ax.title.get_color()) for ax in panels] == [colours[p].lower()
                                                               for p in POLICIES]
    images = [ax.get_images()[0] for ax in panels]
    assert images[0].norm is images[1].norm              # one colour scale
    bar = next(ax for ax in fig.axes if ax not in panels)
    assert bar.get_ylabel() == "Swap-in time (ms, simulated)"
    assert [x.get_text() for x in panels[0].get_yticklabels()] == ["16K", "64K"]
    # a cell holds its run's figure, in ms
    r = next(r for r in rows if r["policy"] == "hybrid-supported" and r["mthp"] == "64K"
             and r["memory_limit"] == "30%")
    cell = images[1].get_array()[1, 0]
    assert cell == pytest.approx(r["time.swapin_ns"] / 1e6)


def test_compare_sweep_prints_a_table_per_figure_and_writes_the_report(table, tmp_path,
                                                                       capsys):
    html = tmp_path / "r.html"
    code, out, err = run_cli(capsys, "compare", "--sweep", str(table), "--figure",
                             "pgmajfault", "--figure", "throughput", "--html", str(html))
    assert code == 0, err
    assert "Major faults (pgmajfault)" in out and "Throughput (M accesses / s" in out
    rows = pq.read_table(table).to_pylist()
    r = next(r for r in rows if r["policy"] == "order0-fallback" and r["mthp"] == "16K"
             and r["memory_limit"] == "50%")
    line = next(ln for ln in out.splitlines() if re.search(r"50%\s*│\s*16K", ln))
    assert f"{r['counters.pgmajfault']:,}" in line
    page = html.read_text()
    assert page.count('data-figure="sweep-curves"') == 2 * 2     # 2 figures x 2 settings
    assert page.count('data-figure="sweep-heatmap"') == 2        # the pair, per figure
    for svg in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page):
        text = base64.b64decode(svg).decode()
        assert text.startswith("<?xml") and "</svg>" in text
        for p in POLICIES:
            assert policy_colours(POLICIES)[p].lower() in text.lower()
    assert "wrote report" in err


def test_compare_sweep_where_and_markdown(table, capsys):
    code, out, _ = run_cli(capsys, "compare", "--sweep", str(table), "--where", "mthp=64K",
                           "--figure", "pgmajfault", "--format", "markdown")
    assert code == 0
    assert "### Major faults (pgmajfault)" in out
    body = [ln for ln in out.splitlines() if ln.startswith("| ") and "%" in ln]
    assert len(body) == 3                               # three limits, mthp fixed
    assert all("16K" not in ln for ln in body)


@pytest.mark.parametrize("argv,says", [
    (["--figure", "pgmajfalt"], "did you mean counters.pgmajfault"),
    (["--figure", "swpin"], "per_size.16kB.swpin, per_size.64kB.swpin"),
    (["--against", "backend"], "every run has the same value (zswap)"),
    (["--against", "nonsense"], "--against nonsense: not a setting"),
    (["--heatmap", "mthp,mthp"], "two different settings"),
    (["--heatmap", "mthp"], "is not two settings"),
    (["--where", "mthp=128K"], "no run with that value (it has 16K, 64K)"),
    (["--where", "mthp"], "is not SETTING=VALUE"),
    (["--mthp", "16K"], "--mthp has no meaning with --sweep"),
    (["kvscan"], "TRACE has no meaning with --sweep"),
])
def test_what_a_sweep_table_cannot_give_is_one_line(table, capsys, argv, says):
    code, _, err = run_cli(capsys, "compare", "--sweep", str(table), *argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and says in err, err


def test_sweep_options_need_a_table_and_a_table_must_be_one(capsys, tmp_path, zipf_trace):
    code, _, err = run_cli(capsys, "compare", str(zipf_trace), "--figure", "pgmajfault")
    assert code == 2 and "--figure reads a sweep table" in err
    code, _, err = run_cli(capsys, "compare")
    assert code == 2 and "Missing argument 'TRACE...'" in err
    code, _, err = run_cli(capsys, "compare", "--sweep", str(zipf_trace))
    assert code == 2 and "not a sweep results table" in err
