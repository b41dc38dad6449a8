"""The HTML report: one self-contained file (figures embedded as SVG images, styles
inline, no script, nothing fetched) with the settings, the traces, the tables, the notes
and the figures of a comparison."""

from __future__ import annotations

import base64
import html
import re
from collections import OrderedDict

from replay.report.figures import (
    distribution_figure,
    limit_curves_figure,
    policy_colours,
    timeline_figure,
)
from replay.report.render import row_label
from replay.report.tables import (
    Grid,
    comparison_table,
    fmt_change,
    per_size_tables,
    replay_title,
    settings_line,
)
from replay.units import format_size

CSS = """
:root { --ink: #1d2329; --muted: #5b6670; --rule: #d9dee3; --band: #f5f7f9;
        --best: #e3f4e8; --best-ink: #14632f; --accent: #0b5cad; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 32px 64px; }
header { border-bottom: 2px solid var(--ink); margin-bottom: 22px; padding-bottom: 10px; }
h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 20px; margin: 38px 0 6px; padding-top: 8px; border-top: 1px solid var(--rule); }
h3 { font-size: 16px; margin: 22px 0 6px; }
.sub, .caption, .legend { color: var(--muted); }
.caption { margin: 0 0 10px; font-size: 14px; }
.legend { font-size: 13px; margin: 6px 0 0; }
nav ul { margin: 6px 0 0; padding-left: 20px; columns: 2; }
nav a, a { color: var(--accent); text-decoration: none; }
table { border-collapse: collapse; font-size: 13.5px; margin: 6px 0 4px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--rule); text-align: right;
         white-space: nowrap; }
th { background: var(--band); font-weight: 600; position: sticky; top: 0; }
td:first-child, th:first-child { text-align: left; }
td.label { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
td.num { font-variant-numeric: tabular-nums; }
td.best { background: var(--best); color: var(--best-ink); font-weight: 700; }
td.oom { color: #a4161a; font-weight: 600; }
.change { color: var(--muted); font-size: 11.5px; font-weight: 400; margin-left: 5px; }
tbody tr:nth-child(even) td:not(.best) { background: #fbfcfd; }
table.kv td { text-align: left; white-space: normal; }
table.kv td:first-child { color: var(--muted); width: 220px; }
.scroll { overflow-x: auto; }
ul.notes { margin: 10px 0; padding: 10px 14px 10px 30px; background: #fff8e6;
           border-left: 4px solid #e0a800; font-size: 14px; }
figure { margin: 18px 0 6px; }
figure img { display: block; width: 100%; height: auto; border: 1px solid var(--rule); }
figcaption { color: var(--muted); font-size: 13px; margin-top: 4px; }
details { margin: 10px 0; }
summary { cursor: pointer; color: var(--accent); }
footer { margin-top: 48px; color: var(--muted); font-size: 12.5px; }
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _img(svg: str, name: str, alt: str) -> str:
    data = base64.b64encode(svg.encode()).decode("ascii")
    return (f'<img class="plot" data-figure="{_e(name)}" alt="{_e(alt)}" '
            f'src="data:image/svg+xml;base64,{data}">')


def _slug(text: str) -> str:
    """An id for a fragment link: letters, digits, '.', '_' and '-' only."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)


def _anchor(replay: dict) -> str:
    return _slug(f"r-{replay['trace_name']}-{replay['memory_limit']['bytes']}")


def grid_html(grid: Grid, header: str = "") -> str:
    out = ['<div class="scroll"><table>', "<thead><tr>",
           f"<th>{_e(header)}</th>"]
    out += [f"<th>{_e(c)}</th>" for c in grid.columns]
    out.append("</tr></thead><tbody>")
    for row in grid.rows:
        oom = row.label == "OOM killed"
        out.append(f'<tr><td class="label">{_e(row_label(row))}</td>')
        for c in row.cells:
            cls = ["num"] + (["best"] if c.best else []) + (["oom"] if oom and c.text != "no"
                                                            else [])
            change = fmt_change(c.change_pct)
            title = ' title="best of the row"' if c.best else ""
            out.append(f'<td class="{" ".join(cls)}"{title}>{_e(c.text)}'
                       + (f'<span class="change">{_e(change)}</span>' if change else "")
                       + "</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _kv(rows: list[tuple[str, str]]) -> str:
    return ('<table class="kv"><tbody>'
            + "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows)
            + "</tbody></table>")


def _settings_rows(cfg: dict) -> list[tuple[str, str]]:
    rows = []
    for k, v in cfg.items():
        if k in ("memory_limit_bytes", "extra", "policy_origin"):
            continue
        if isinstance(v, bool):
            v = "yes" if v else "no"
        elif k.endswith("_bytes") and isinstance(v, int):
            v = format_size(v)
        elif isinstance(v, list):
            v = ", ".join(map(str, v)) or "none"
        elif v is None:
            v = "-"
        rows.append((k, str(v)))
    return rows


def report_html(doc: dict, policy_summaries: dict[str, str] | None = None) -> str:
    """The report of a `replay compare` document (replay.report.document)."""
    replays = doc["replays"]
    policies = doc["policies"]
    colours = policy_colours(policies)
    by_trace: OrderedDict[str, list[dict]] = OrderedDict()
    for rp in replays:
        by_trace.setdefault(rp["trace_name"], []).append(rp)
    names = list(by_trace)
    title = f"folio-replay: {', '.join(names)}"
    limits = sorted({rp["memory_limit"]["bytes"] for rp in replays})
    cfg = replays[0]["results"][0]["config"] if replays and replays[0]["results"] else {}
    body = [f"<header><h1>{_e(title)}</h1>",
            (f'<div class="sub">{len(policies)} swap-in policies &times; {len(limits)} memory '
             f"limit{'s' if len(limits) != 1 else ''} &times; {len(names)} "
             f"trace{'s' if len(names) != 1 else ''}; {_e(settings_line(cfg)) if cfg else ''}"
             f"<br>created {_e(doc.get('created', ''))} by folio-replay "
             f"{_e(doc.get('replay_version', ''))} (a model of Linux v6.18's anonymous "
             "memory, swap and zswap)</div></header>")]
    toc = [('<nav><strong>Contents</strong><ul><li><a href="#settings">Settings and '
            'policies</a></li><li><a href="#traces">Traces</a></li>')]
    for name, rps in by_trace.items():
        if len(rps) > 1:
            toc.append(f'<li><a href="#curves-{_slug(name)}">{_e(name)} across memory limits'
                       "</a></li>")
        for rp in rps:
            toc.append(f'<li><a href="#{_anchor(rp)}">{_e(replay_title(rp))}</a></li>')
    toc.append("</ul></nav>")
    body += toc
    # settings and policies
    body.append('<h2 id="settings">Settings and policies</h2>')
    body.append('<p class="caption">The same for every replay below but the memory limit. '
                "Counters keep the kernel's names (/proc/vmstat, "
                "/sys/kernel/mm/transparent_hugepage/hugepages-*/stats).</p>")
    summaries = policy_summaries or {}
    body.append('<div class="scroll"><table class="kv"><tbody>' + "".join(
        f'<tr><td><span style="color:{colours[p]}">&#9632;</span> {_e(p)}</td>'
        f"<td>{_e(summaries.get(p, ''))}</td></tr>" for p in policies) + "</tbody></table></div>")
    if cfg:
        body.append("<details><summary>every setting of the model</summary>"
                    + _kv(_settings_rows(cfg)) + "</details>")
    # traces
    body.append('<h2 id="traces">Traces</h2>')
    for name, rps in by_trace.items():
        rp = rps[0]
        tr, fp = rp["trace"], rp.get("footprint") or {}
        rows = [("file", tr["path"]), ("accesses", f"{tr['accesses']:,}")]
        if fp:
            foot = format_size(fp["footprint_bytes"])
            rows.append(("footprint", f"{fp['distinct_pages']:,} pages read or written ({foot})"))
            rows.append(("page contents", f"{fp['content_coverage']:.0%} of the pages "
                         "recorded or classed" + ("" if fp["content_coverage"] >= 1 else
                                                  "; the rest compress like 'mixed' (heap)")))
        rows.append(("source", f"{tr.get('source_format', '')}: {tr.get('source_file', '')}"))
        if tr.get("description"):
            rows.append(("description", tr["description"]))
        rows.append(("memory limits", ", ".join(
            f"{format_size(x['memory_limit']['bytes'])}"
            + (f" ({x['memory_limit']['given']})"
               if (x["memory_limit"].get("given") or "").endswith("%") else "")
            for x in rps)))
        body.append(f"<h3>{_e(name)}</h3>" + _kv(rows))
    # across limits
    for name, rps in by_trace.items():
        if len(rps) < 2:
            continue
        svg = limit_curves_figure(rps, colours)
        if svg:
            body.append(f'<h2 id="curves-{_slug(name)}">{_e(name)} across memory limits</h2>')
            body.append('<p class="caption">Each figure against the memory limit, one line per '
                        "policy: the curves a cache simulator draws for miss ratios. An x "
                        "marks a policy OOM-killed at that limit (its figures stop at the "
                        "kill).</p>")
            alt = f"{name}: figures against the memory limit"
            body.append(f"<figure>{_img(svg, 'limit-curves', alt)}"
                        "<figcaption>Throughput is accesses per simulated second: the "
                        "trace's own time plus the modelled kernel and TLB time."
                        "</figcaption></figure>")
    # one section per replay
    for rp in replays:
        grid = comparison_table(rp)
        body.append(f'<h2 id="{_anchor(rp)}">{_e(grid.title)}</h2>')
        body.append(f'<p class="caption">{_e(grid.caption)}</p>')
        body.append(grid_html(grid))
        shaded = ("Shaded: best of the row (lower is better, throughput higher; OOM-killed "
                  "policies left out; none when all are equal).")
        body.append("".join(f'<p class="legend">{_e(line)}</p>'
                            for line in [shaded, *grid.legend[1:]]))
        if rp.get("notes"):
            body.append('<ul class="notes">' + "".join(f"<li>{_e(n)}</li>"
                                                       for n in rp["notes"]) + "</ul>")
        svg = timeline_figure(rp, colours)
        if svg:
            body.append(f"<figure>{_img(svg, 'timeline', f'{grid.title}: over time')}"
                        "<figcaption>Against simulated time; each point covers 1/120 of the "
                        "trace's accesses: its throughput, its major faults per 1000 of its "
                        "accesses, and its mean resident memory and zswap pool."
                        "</figcaption></figure>")
        svg = distribution_figure(rp, colours)
        body.append(f"<figure>{_img(svg, 'distribution', f'{grid.title}: swap-in sizes and TLB')}"
                    "<figcaption>Left: folios swapped in by size (the swap-in order "
                    "histogram). Right: dTLB misses and page walks per 1000 accesses; the "
                    "black tick is the same TLB with 4 KiB pages only.</figcaption></figure>")
        for g in per_size_tables(rp):
            body.append(f"<h3>{_e(g.title)}</h3>" + grid_html(g, g.title))
    body.append("<footer>Figures are the model's; `replay validate` compares it with a live "
                "kernel. Generated offline: this file needs no network.</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")
