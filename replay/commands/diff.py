"""`replay diff A.json B.json`: what changed between two saved results, per counter; exit
status 1 when any moved more than --threshold (a gate for a patch), 0 when none did."""

from __future__ import annotations

import csv
import io

import click
from rich import box
from rich.table import Table
from rich.text import Text

from replay.report.diff import Diff, diff_documents, parse_threshold
from replay.report.document import load_document
from replay.report.render import FORMATS, output_console


def _num(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.1f}"
    return f"{int(v):,}"


def _pct(c) -> str:
    if c.pct is None:
        return "new" if not c.a else "gone" if c.b is None else "-"
    return f"{c.pct:+.2f}%" if abs(c.pct) < 10 else f"{c.pct:+,.1f}%"


def _rows(d: Diff):
    for p in d.pairs:
        for c in p.changes:
            yield p, c


def print_table(d: Diff, a: str, b: str) -> None:
    out = output_console()
    for p in d.pairs:
        out.print(Text(p.label, style="bold"))
        for key, va, vb in p.settings:
            out.print(Text(f"  setting {key}: {va} -> {vb}", style="yellow"))
        if not p.changes:
            out.print("  no counter changed")
            continue
        t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        t.add_column("counter", no_wrap=True)
        t.add_column(f"A ({a})", justify="right")
        t.add_column(f"B ({b})", justify="right")
        t.add_column("change", justify="right")
        t.add_column("", no_wrap=True)
        for c in p.changes:
            delta = None if c.a is None or c.b is None else c.b - c.a
            t.add_row(c.key, _num(c.a), _num(c.b),
                      (("+" if delta > 0 else "") + _num(delta) + " " if delta is not None
                       else "") + _pct(c),
                      Text("moved", style="bold red") if c.moved else "",
                      style=None if c.moved else "dim")
        out.print(t)
    for label in d.only_a:
        out.print(Text(f"only in A: {label}", style="yellow"))
    for label in d.only_b:
        out.print(Text(f"only in B: {label}", style="yellow"))


def markdown(d: Diff, a: str, b: str) -> str:
    lines = []
    for p in d.pairs:
        lines += [f"### {p.label}", ""]
        lines += [f"- setting `{k}`: {va} -> {vb}" for k, va, vb in p.settings]
        if p.settings:
            lines.append("")
        if not p.changes:
            lines += ["No counter changed.", ""]
            continue
        lines += [f"| counter | A ({a}) | B ({b}) | change | moved |", "|---|---:|---:|---:|---|"]
        lines += [f"| {c.key} | {_num(c.a)} | {_num(c.b)} | {_pct(c)} | "
                  f"{'**moved**' if c.moved else ''} |" for c in p.changes]
        lines.append("")
    lines += [f"- only in A: {x}" for x in d.only_a] + [f"- only in B: {x}" for x in d.only_b]
    return "\n".join(lines).rstrip() + "\n"


def csv_out(d: Diff) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("result_a", "result_b", "counter", "a", "b", "change_pct", "moved"))
    for p, c in _rows(d):
        w.writerow((p.label_a, p.label_b, c.key, "" if c.a is None else c.a,
                    "" if c.b is None else c.b, "" if c.pct is None else f"{c.pct:.6g}",
                    int(c.moved)))
    return buf.getvalue()


@click.command("diff")
@click.argument("a", metavar="A.json", type=click.Path(dir_okay=False))
@click.argument("b", metavar="B.json", type=click.Path(dir_okay=False))
@click.option("--threshold", default="0%", show_default=True,
              help="A counter moved when it changed by more than this percent (from 0: "
              "always).")
@click.option("--all", "show_all", is_flag=True, help="List unchanged counters too.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
              show_default=True)
def COMMAND(a, b, threshold, show_all, fmt) -> None:
    """What changed between two results documents (replay run --json or replay compare
    --json). Exit status 1 when a counter moved more than --threshold, else 0."""
    pct = parse_threshold(threshold)
    d = diff_documents(load_document(a), load_document(b), pct, include_unchanged=show_all)
    if not d.pairs and not (d.only_a or d.only_b):
        click.echo("both documents are empty", err=True)
    if fmt == "markdown":
        click.echo(markdown(d, a, b), nl=False)
    elif fmt == "csv":
        click.echo(csv_out(d), nl=False)
    else:
        print_table(d, a, b)
    moved = sum(c.moved for _, c in _rows(d))
    changed = sum(1 for _, c in _rows(d) if c.pct != 0.0 or c.moved)
    summary = (f"{moved} counter(s) moved more than {pct:g}%"
               if moved else f"no counter moved more than {pct:g}%")
    click.echo(f"{summary} ({changed} changed in {len(d.pairs)} paired result(s)"
               + (f"; {len(d.only_a) + len(d.only_b)} result(s) on one side only"
                  if d.only_a or d.only_b else "") + ")", err=True)
    if d.moved:
        raise click.exceptions.Exit(1)
