"""`replay compare --sweep TABLE`: a sweep's results table as tables (a figure per policy
at each combination of the varied settings) and as the HTML report: curves of each chosen
figure against each chosen setting, one line per policy, and heatmaps of it over two
settings, one panel per policy."""

from __future__ import annotations

import datetime as _dt
import html
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from replay.errors import SettingsError
from replay.report.figures import _svg, policy_colours
from replay.report.html import CSS, _img, _kv, _slug
from replay.sweep.figures import (
    MAX_HEATMAP_ROWS,
    MAX_PANELS,
    Measure,
    axis_for,
    curves_figure,
    facets,
    heatmap_figure,
    measure,
    policies_of,
    setting_label,
    varied,
)
from replay.sweep.settings import setting_named, settings
from replay.sweep.table import read_results
from replay.units import format_size

DEFAULT_FIGURES = ("pgmajfault", "throughput", "swapin_amplification")


def _e(text) -> str:
    return html.escape(str(text), quote=True)


@dataclass
class SweepView:
    """The rows of a table to report on, and what to draw from them."""

    path: Path
    rows: list[dict]
    columns: list[str]
    measures: list[Measure]
    against: list[str]
    heatmaps: list[tuple[str, str]]
    where: list[tuple[str, object]]


def _setting(text: str, option: str, rows: list[dict]) -> str:
    s = setting_named(text.strip())
    if s is None:
        raise SettingsError(f"{option} {text}: not a setting (settings: "
                            f"{', '.join(x.key for x in settings().values())})")
    if s.name == "policy":
        raise SettingsError(f"{option} policy: the policies are the lines (or panels) "
                            "of every figure")
    return s.name


def _parse_value(name: str, text: str, rows: list[dict]):
    """A --where value as the table holds it (true/false for on/off settings)."""
    values = {r.get(name) for r in rows}
    for v in values:
        shown = ("true" if v else "false") if isinstance(v, bool) else str(v)
        if shown.lower() == text.strip().lower() or (
                isinstance(v, bool) and text.strip().lower() in (("on", "yes") if v
                                                                else ("off", "no"))):
            return v
    known = ", ".join(sorted(("true" if v else "false") if isinstance(v, bool) else str(v)
                             for v in values))
    raise SettingsError(f"--where {setting_label(name)}={text}: the table has no run with "
                        f"that value (it has {known})")


def sweep_view(path: str | Path, figures=(), against=(), heatmaps=(), where=()
               ) -> SweepView:
    """Read a table and check what is asked of it (SettingsError: one line)."""
    table = read_results(path)
    rows = table.to_pylist()
    if not rows:
        raise SettingsError("the table has no run", path=path)
    conditions = []
    for text in where:
        if "=" not in text:
            raise SettingsError(f"--where {text!r} is not SETTING=VALUE")
        key, value = text.split("=", 1)
        name = "trace" if key.strip() == "trace" else _setting(key, "--where", rows)
        v = _parse_value(name, value, rows)
        conditions.append((name, v))
        rows = [r for r in rows if r.get(name) == v]
    if not rows:
        raise SettingsError("no run of the table is in every --where given", path=path)
    measures = []
    for name in figures or DEFAULT_FIGURES:
        m = measure(name, table.column_names)
        if m.name not in [x.name for x in measures]:
            measures.append(m)
    moving = [n for n in varied(rows) if n != "trace"]
    chosen = [_setting(a, "--against", rows) for a in against] if against else moving
    for name in chosen:
        if name not in moving:
            only = {r.get(name) for r in rows}
            raise SettingsError(f"--against {setting_label(name)}: every run has the same "
                                f"value ({', '.join(map(str, only))}): nothing to draw "
                                "against")
    pairs = []
    for text in heatmaps:
        parts = [x for x in text.split(",") if x.strip()]
        if len(parts) != 2:
            raise SettingsError(f"--heatmap {text!r} is not two settings, X,Y")
        x, y = (_setting(p, "--heatmap", rows) for p in parts)
        if x == y:
            raise SettingsError(f"--heatmap {text}: two different settings")
        for n in (x, y):
            if n not in moving:
                raise SettingsError(f"--heatmap {text}: every run has the same "
                                    f"{setting_label(n)}")
        pairs.append((x, y))
    if not heatmaps and len(moving) >= 2:
        pairs = [(moving[0], moving[1])]
    return SweepView(Path(path), rows, table.column_names, measures, chosen, pairs,
                     conditions)


# ---------------------------------------------------------------- tables


def pivot(view: SweepView, m: Measure) -> tuple[list[str], list[list[str]]]:
    """A row per combination of the varied settings (and trace), a column per policy."""
    policies = policies_of(view.rows)
    moving = varied(view.rows)
    header = [setting_label(n) for n in moving] or ["run"]
    body = []
    for _, group in facets(view.rows, moving):
        first = group[0]
        cells = [_text(first.get(n)) for n in moving] or ["all"]
        for p in policies:
            r = next((x for x in group if x["policy"] == p), None)
            if r is None:
                cells.append("")
            elif r["status"] != "ok":
                cells.append("failed")
            else:
                v = m.of(r)
                cells.append("-" if v is None else _number(v)
                             + (" (OOM)" if r.get("derived.oom_killed") else ""))
        body.append(cells)
    return header + policies, body


def _text(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return "-" if v is None else str(v)


def _number(v: float) -> str:
    if v == int(v) and abs(v) >= 1:
        return f"{int(v):,}"
    if abs(v) >= 100:
        return f"{v:,.1f}"
    return f"{v:.3f}"


def print_tables(view: SweepView, fmt: str, console: Console) -> None:
    import csv
    import io
    if fmt == "csv":
        moving = varied(view.rows)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["trace", "policy", *moving, "status", *[m.name for m in view.measures]])
        for r in view.rows:
            w.writerow([r["trace"], r["policy"], *[_text(r.get(n)) for n in moving],
                        r["status"], *["" if m.of(r) is None else repr(m.of(r))
                                       for m in view.measures]])
        console.file.write(buf.getvalue())
        return
    for m in view.measures:
        header, body = pivot(view, m)
        if fmt == "markdown":
            lines = [f"### {m.label}", "", "| " + " | ".join(header) + " |",
                     "|" + "---|" * (len(header) - len(policies_of(view.rows)))
                     + "---:|" * len(policies_of(view.rows))]
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
                      for row in body]
            console.file.write("\n".join(lines) + "\n\n")
            continue
        t = Table(title=m.label, title_justify="left")
        n_settings = len(header) - len(policies_of(view.rows))
        for k, h in enumerate(header):
            t.add_column(h, justify="left" if k < n_settings else "right",
                         style="bold" if k < n_settings else None)
        for row in body:
            t.add_row(*row)
        console.print(t)


# ---------------------------------------------------------------- HTML


def _fixed_settings(rows: list[dict]) -> list[tuple[str, str]]:
    out = []
    for name in settings():
        if name == "policy":
            continue
        values = {_text(r.get(name)) for r in rows}
        if len(values) == 1:
            out.append((settings()[name].key, values.pop()))
    return out


def sweep_report_html(view: SweepView, policy_summaries: dict[str, str] | None = None
                      ) -> str:
    rows = view.rows
    policies = policies_of(rows)
    colours = policy_colours(policies)
    moving = varied(rows)
    traces = list(dict.fromkeys(r["trace"] for r in rows))
    failed = [r for r in rows if r["status"] != "ok"]
    versions = sorted({r.get("replay_version") or "?" for r in rows})
    title = f"folio-replay sweep: {view.path.name}"
    varied_text = "; ".join(
        f"{setting_label(n)} ({len(axis_for(n, rows).values)} values)"
        for n in moving if n != "trace") or "no setting varied"
    body = [f"<header><h1>{_e(title)}</h1>",
            f'<div class="sub">{len(rows)} runs ({len(failed)} failed): {len(traces)} '
            f"trace{'s' if len(traces) != 1 else ''} &times; {len(policies)} policies; "
            f"varied: {_e(varied_text)}"
            + (f"; only runs with {_e(', '.join(f'{setting_label(n)}={_text(v)}' for n, v in view.where))}"
               if view.where else "")
            + f"<br>table {_e(view.path)}, made by folio-replay {_e(', '.join(versions))}; "
            f"report {_e(_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds'))}"
            "</div></header>"]
    toc = ['<nav><strong>Contents</strong><ul><li><a href="#settings">Settings and '
           'policies</a></li><li><a href="#traces">Traces</a></li>']
    for m in view.measures:
        toc.append(f'<li><a href="#f-{_slug(m.name)}">{_e(m.title)}</a></li>')
    if failed:
        toc.append('<li><a href="#failed">Failed runs</a></li>')
    toc.append("</ul></nav>")
    body += toc
    body.append('<h2 id="settings">Settings and policies</h2>')
    summaries = policy_summaries or {}
    body.append('<div class="scroll"><table class="kv"><tbody>' + "".join(
        f'<tr><td><span style="color:{colours[p]}">&#9632;</span> {_e(p)}</td>'
        f"<td>{_e(summaries.get(p, ''))}</td></tr>" for p in policies)
        + "</tbody></table></div>")
    body.append("<h3>Varied</h3>" + _kv([(setting_label(n), ", ".join(
        [_text(v) for v in axis_for(n, rows).values] if n != "trace" else traces))
        for n in moving] or [("-", "no setting takes more than one value")]))
    body.append("<details><summary>every setting the runs share</summary>"
                + _kv(_fixed_settings(rows)) + "</details>")
    body.append('<h2 id="traces">Traces</h2>')
    seen = {}
    for r in rows:
        seen.setdefault(r["trace"], r)
    body.append(_kv([(name, f"{r['trace_path']}: {r['trace_accesses']:,} accesses, "
                      f"footprint {format_size(r['footprint_bytes'])}, sha256 "
                      f"{r['trace_digest'][:16]}...") for name, r in seen.items()]))
    for m in view.measures:
        body.append(f'<h2 id="f-{_slug(m.name)}">{_e(m.title)}</h2>')
        body.append(f'<p class="caption">{_e(m.label)}, column <code>{_e(m.name)}</code>. '
                    "One line per policy; a panel per combination of the other varied "
                    "settings. An x marks a policy OOM-killed there (its figures stop at "
                    "the kill); a failed run is a gap.</p>")
        for name in view.against:
            fig, left = curves_figure(rows, m, name, colours)
            alt = f"{m.title} against {setting_label(name)}"
            cap = f"{m.title} against {setting_label(name)}" + (
                f"; {left} more panels left out (at most {MAX_PANELS}): narrow the runs "
                "with --where SETTING=VALUE" if left else "")
            body.append(f"<figure>{_img(_svg(fig), 'sweep-curves', alt)}"
                        f"<figcaption>{_e(cap)}</figcaption></figure>")
        for x, y in view.heatmaps:
            fig, left = heatmap_figure(rows, m, x, y, colours)
            alt = f"{m.title} over {setting_label(x)} and {setting_label(y)}"
            cap = (f"{alt}, a panel per policy, one colour scale for all; n/a: no run "
                   "(or a failed one); OOM: killed there." + (
                       f" {left} more rows of panels left out (at most "
                       f"{MAX_HEATMAP_ROWS}): narrow with --where." if left else ""))
            body.append(f"<figure>{_img(_svg(fig), 'sweep-heatmap', alt)}"
                        f"<figcaption>{_e(cap)}</figcaption></figure>")
    if failed:
        body.append('<h2 id="failed">Failed runs</h2>')
        shown = failed[:100]
        head = ["trace", "policy", *[setting_label(n) for n in moving if n != "trace"],
                "error"]
        out = ['<div class="scroll"><table><thead><tr>'
               + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"]
        for r in shown:
            cells = [r["trace"], r["policy"], *[_text(r.get(n)) for n in moving
                                                if n != "trace"], r["error"] or ""]
            out.append("<tr>" + "".join(f'<td class="label">{_e(c)}</td>' for c in cells)
                       + "</tr>")
        out.append("</tbody></table></div>")
        if len(failed) > len(shown):
            out.append(f'<p class="caption">and {len(failed) - len(shown)} more.</p>')
        body.append("".join(out))
    body.append("<footer>Figures are the model's (a model of Linux v6.18's anonymous "
                "memory, swap and zswap). Generated offline: this file needs no network."
                "</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")
