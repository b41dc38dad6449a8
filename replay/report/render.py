"""Replays drawn as text: a rich table for the terminal, Markdown for a mail, CSV for a
spreadsheet. All three show the same tables (replay.report.tables)."""

from __future__ import annotations

import csv
import io

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from replay.report.tables import (
    Grid,
    Row,
    comparison_table,
    fmt_change,
    per_size_tables,
    throughput_sparklines,
)

FORMATS = ("table", "markdown", "csv")
BEST_MARK = "*"


def output_console(file=None, **kw) -> Console:
    """A console for tables: the terminal's width on a terminal; in a pipe or a file, no
    width limit (nothing is cut to 80 columns, each line as long as it needs)."""
    probe = Console(file=file, **kw)
    if probe.is_terminal:
        return probe
    return Console(file=file, width=100_000, **kw)


def row_label(row) -> str:
    return f"{row.label} ({row.unit})" if row.unit else row.label


# ---------------------------------------------------------------- terminal


def rich_table(grid: Grid) -> Table:
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    t.add_column(grid.title if grid.title.startswith("hugepages-") else "", style="bold",
                 no_wrap=True)
    for name in grid.columns:
        t.add_column(name, justify="right", overflow="fold")
    for row in grid.rows:
        cells = []
        for c in row.cells:
            text = Text(c.text, style="bold green" if c.best else "")
            if c.best:
                text.append(" " + BEST_MARK, style="bold green")
            change = fmt_change(c.change_pct)
            if change:
                text.append(" " + change, style="dim")
            cells.append(text)
        t.add_row(row_label(row), *cells,
                  style="bold red" if row.label == "OOM killed" else None)
    return t


def _fits(console: Console, table: Table) -> bool:
    wide = console.options.update_width(1 << 20)
    return console.measure(table, options=wide).maximum <= console.width


def _columns(grid: Grid, keep: list[int]) -> Grid:
    rows = [Row(r.label, r.key, r.unit, r.better, [r.cells[i] for i in keep])
            for r in grid.rows]
    return Grid(grid.title, [grid.columns[i] for i in keep], rows, grid.caption, grid.legend)


def print_grid(console: Console, grid: Grid) -> None:
    """The table; on a terminal too narrow for it, split into tables of as many policy
    columns as fit (no cell is wrapped or cut)."""
    table = rich_table(grid)
    if _fits(console, table):
        console.print(table)
        return
    parts: list[list[int]] = []
    for i in range(len(grid.columns)):
        if parts and _fits(console, rich_table(_columns(grid, [*parts[-1], i]))):
            parts[-1].append(i)
        else:
            parts.append([i])
    for k, keep in enumerate(parts):
        if k:
            console.print()
        console.print(rich_table(_columns(grid, keep)))


def spark_table(replay: dict, width: int = 48) -> Table | None:
    sparks = throughput_sparklines(replay, width)
    if not sparks:
        return None
    t = Table(box=None, show_header=False, pad_edge=False)
    t.add_column(style="bold", no_wrap=True)
    t.add_column(no_wrap=True)
    t.add_column(no_wrap=True, style="dim")
    for s in sparks:
        t.add_row(s.policy, s.line, f"{s.low:,.2f}..{s.high:,.2f} M/s")
    return t


def print_replay(console: Console, replay: dict, notes: list[str]) -> None:
    grid = comparison_table(replay)
    console.print(Text(grid.title, style="bold"))
    console.print(Text(grid.caption, style="dim"))
    print_grid(console, grid)
    for line in grid.legend:
        console.print(Text(line, style="dim"))
    for g in per_size_tables(replay):
        console.print()
        print_grid(console, g)
    names = max((len(r["policy"]) for r in replay["results"]), default=0)
    sparks = spark_table(replay, max(12, min(48, console.width - names - 24)))
    if sparks is not None:
        console.print()
        console.print(Group(Text("throughput over the trace (accesses per simulated second, "
                                 "one log scale for all policies)", style="bold"), sparks))
    for note in notes:
        console.print(Text("note: ", style="bold yellow") + Text(note))
    console.print()


# ---------------------------------------------------------------- Markdown


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_grid(grid: Grid) -> str:
    head = "| " + " | ".join([_md(grid.title) if grid.title.startswith("hugepages-") else ""]
                             + [_md(c) for c in grid.columns]) + " |"
    rule = "|---|" + "---:|" * len(grid.columns)
    lines = [head, rule]
    for row in grid.rows:
        cells = []
        for c in row.cells:
            text = f"**{c.text}**" if c.best else c.text
            change = fmt_change(c.change_pct)
            cells.append(_md(text + (f" ({change})" if change else "")))
        lines.append("| " + " | ".join([_md(row_label(row))] + cells) + " |")
    return "\n".join(lines)


def markdown_replay(replay: dict, notes: list[str]) -> str:
    grid = comparison_table(replay)
    out = [f"### {_md(grid.title)}", "", grid.caption, "", markdown_grid(grid), ""]
    out += [f"_{_md(line.replace('* best', 'bold: best'))}_  " for line in grid.legend]
    for g in per_size_tables(replay):
        out += ["", markdown_grid(g)]
    sparks = throughput_sparklines(replay)
    if sparks:
        width = max(len(s.policy) for s in sparks)
        out += ["", "Throughput over the trace (M accesses/s; one log scale for all policies):",
                "", "```"]
        out += [f"{s.policy:<{width}}  {s.line}  {s.low:,.2f} .. {s.high:,.2f}"
                for s in sparks]
        out += ["```"]
    if notes:
        out += [""] + [f"- {_md(n)}" for n in notes]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- CSV

CSV_FIELDS = ("trace", "memory_limit_bytes", "table", "metric", "unit", "key", "policy",
              "value", "change_pct", "best")


def csv_text(replays: list[dict]) -> str:
    """One line per (replay, table, row, policy): a long table for pivoting."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for rp in replays:
        for grid in [comparison_table(rp), *per_size_tables(rp)]:
            table = "comparison" if not grid.title.startswith("hugepages-") else grid.title
            for row in grid.rows:
                for policy, c in zip(grid.columns, row.cells):
                    value = "" if c.value is None else (
                        c.value if isinstance(c.value, int) else f"{c.value:.6g}")
                    w.writerow([rp["trace_name"], rp["memory_limit"]["bytes"], table,
                                row.label, row.unit, row.key, policy, value,
                                "" if c.change_pct is None else f"{c.change_pct:.4g}",
                                int(c.best)])
    return buf.getvalue()
