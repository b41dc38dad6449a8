"""The server-rendered pages: the comparison form, the list of comparisons, a job (its
progress, its error, or its report with the bar to download and share it), the API's
summary and error pages. Every value is escaped; styles and script are /assets/ files
(replay/serve/assets.py)."""

from __future__ import annotations

import datetime as _dt
import html
import shlex
from dataclasses import dataclass, field
from urllib.parse import urlencode

from replay import __version__
from replay.serve.detect import PARQUET
from replay.serve.settings import MEMORY_LIMITS_HELP, Field, fields
from replay.serve.store import JOB_STATES, JobRecord, TraceRecord
from replay.units import format_size

FAVICON = ('<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/'
           'svg%22 viewBox=%220 0 16 16%22%3E%3Cpath d=%22M0 0h16L0 16z%22 fill=%22%2356b4e9%22/'
           '%3E%3Cpath d=%22M16 0v16H0z%22 fill=%22%23e69f00%22/%3E%3C/svg%3E">')
NAV = (("new", "/", "New comparison"), ("jobs", "/jobs", "Comparisons"), ("api", "/api", "API"))


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def badge(state: str) -> str:
    return f'<span class="srv-badge srv-{_e(state)}">{_e(state)}</span>'


def top_bar(active: str = "") -> str:
    links = "".join(f'<a href="{href}"{" class=srv-on" if key == active else ""}>{label}</a>'
                    for key, href, label in NAV)
    return ('<header class="srv-top"><div class="srv-wrap">'
            '<a class="srv-brand" href="/"><span class="srv-mark"></span>folio-replay</a>'
            f'<nav class="srv-nav">{links}</nav>'
            '<span class="srv-tagline">large-folio swap-in policies on Linux v6.18\'s '
            "anonymous memory, swap and zswap</span></div></header>")


def layout(title: str, body: str, active: str = "", head: str = "") -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)} · folio-replay</title>{FAVICON}"
            f'<link rel="stylesheet" href="/assets/serve.css">{head}</head>'
            f'<body class="srv-page">{top_bar(active)}'
            f'<main class="srv-wrap srv-main">{body}</main>'
            f'<footer class="srv-wrap srv-footer">folio-replay {_e(__version__)} · a model of '
            "Linux v6.18's anonymous memory, swap and zswap · traces and reports stay on this "
            "server</footer>"
            '<script src="/assets/serve.js" defer></script></body></html>\n')


def error_alert(message: str | None, title: str = "Not started", hint: str | None = None) -> str:
    if not message:
        return ""
    more = f'<span class="srv-hint">{_e(hint)}</span>' if hint else ""
    return (f'<div class="srv-alert srv-error" role="alert"><strong>{_e(title)}</strong>'
            f"<code>{_e(message)}</code>{more}</div>")


def error_page(status: int, message: str) -> str:
    titles = {400: "Bad request", 403: "Refused", 404: "Not found", 409: "Not yet",
              413: "Too large", 429: "The queue is full", 507: "No room"}
    title = titles.get(status, "Error")
    body = (f"<h1>{_e(title)}</h1>" + error_alert(message, f"HTTP {status}")
            + '<p><a href="/">Start a comparison</a> · <a href="/jobs">All comparisons</a></p>')
    return layout(title, body)


# ---------------------------------------------------------------- the comparison form


@dataclass
class BundledTrace:
    name: str
    accesses: int | None
    size_bytes: int
    problem: str | None = None


@dataclass
class FormState:
    values: dict                              # setting name -> value (form_values_of)
    policies: dict[str, str]                  # name -> summary
    colours: dict[str, str]
    bundled: list[BundledTrace]
    uploads: list[TraceRecord]
    formats: list[str]
    max_upload_bytes: int
    workers: int
    max_queued: int
    source: str = "upload"                    # upload, bundled or previous
    chosen_bundled: str = ""
    chosen_upload: str = ""
    format: str = "auto"
    import_options: str = ""
    description: str = ""
    error: str | None = None
    error_hint: str | None = None
    recent: list[JobRecord] = field(default_factory=list)


def _field_input(f: Field, value) -> str:
    name = _e(f.name)
    if f.kind == "bool":
        checked = " checked" if value else ""
        return (f'<div class="srv-field"><label class="srv-check"><input type="checkbox" '
                f'name="{name}" value="on"{checked}><span>{_e(f.label)}<span class="srv-flag">'
                f'{_e(f.flag)}</span></span></label><span class="srv-help">{_e(f.help)}'
                "</span></div>")
    if f.kind == "choice":
        options = []
        if f.default is None:
            options.append(f'<option value=""{" selected" if not value else ""}>default'
                           "</option>")
        for c in f.choices:
            selected = " selected" if str(value) == c else ""
            options.append(f'<option value="{_e(c)}"{selected}>{_e(c)}</option>')
        control = f'<select id="f-{name}" name="{name}">{"".join(options)}</select>'
    else:
        kind = "number" if f.kind == "int" else "text"
        shown = "" if value is None else value
        placeholder = f' placeholder="{_e(f.default)}"' if f.default is not None else ""
        control = (f'<input id="f-{name}" type="{kind}" name="{name}" value="{_e(shown)}"'
                   f"{placeholder}>")
    return (f'<div class="srv-field"><label for="f-{name}">{_e(f.label)}<span class="srv-flag">'
            f'{_e(f.flag)}</span></label>{control}<span class="srv-help">{_e(f.help)}</span>'
            "</div>")


def _choice(value: str, title: str, body: str, state: FormState, disabled: bool = False) -> str:
    checked = " checked" if state.source == value and not disabled else ""
    dis = " disabled" if disabled else ""
    return (f'<label class="srv-choice"><span class="srv-choice-title"><input type="radio" '
            f'name="trace_source" value="{value}"{checked}{dis}>{title}</span>'
            f'<span class="srv-choice-body">{body}</span></label>')


def new_page(state: FormState) -> str:
    v = state.values
    fmt_options = "".join(
        f'<option value="{_e(f)}"{" selected" if state.format == f else ""}>{_e(label)}</option>'
        for f, label in [("auto", "Detect from the file"),
                         (PARQUET, "canonical trace (.parquet)"),
                         *((f, f) for f in state.formats)])
    upload = (
        '<input type="file" name="file" aria-label="trace file">'
        '<span class="srv-help">Any format <code>replay import</code> reads (csv, lackey, damo, '
        "libcachesim-csv, oraclegeneral, champsim, perf-script; .gz .bz2 .xz .zst .lz4 are "
        f"read compressed) or a canonical .parquet trace; up to "
        f"{_e(format_size(state.max_upload_bytes))}.</span>"
        '<div style="margin-top:10px"><label class="srv-label" for="f-format">Format</label>'
        f'<select id="f-format" name="format">{fmt_options}</select></div>'
        '<div style="margin-top:10px"><label class="srv-label" for="f-import">Import options'
        '</label><input id="f-import" type="text" name="import_options" '
        f'value="{_e(state.import_options)}" placeholder="e.g. --addr-col 2 --op-col 3">'
        '<span class="srv-help">As for <code>replay import</code>; csv needs them unless its '
        "header names the columns (time_ns, vpn or addr, op, asid).</span></div>"
        '<div style="margin-top:10px"><label class="srv-label" for="f-desc">Description'
        f'</label><input id="f-desc" type="text" name="description" value="{_e(state.description)}"'
        ' placeholder="what the workload is"></div>')
    if state.bundled:
        opts = "".join(
            f'<option value="{_e(t.name)}"{" selected" if t.name == state.chosen_bundled else ""}'
            f'{" disabled" if t.problem else ""}>{_e(t.name)} — '
            + (_e(t.problem) if t.problem else f"{t.accesses:,} accesses") + "</option>"
            for t in state.bundled)
        bundled = (f'<select name="bundled" aria-label="bundled trace">{opts}</select>'
                   '<span class="srv-help">The traces in the server\'s traces/ folder '
                   "(<code>replay traces</code> lists them).</span>")
    else:
        bundled = '<span class="srv-help">The server\'s traces folder holds no trace.</span>'
    if state.uploads:
        opts = "".join(
            f'<option value="{_e(t.id)}"{" selected" if t.id == state.chosen_upload else ""}>'
            f"{_e(t.name)} — {t.accesses:,} accesses, {_e(when(t.created))}</option>"
            for t in state.uploads)
        previous = (f'<select name="previous" aria-label="uploaded trace">{opts}</select>'
                    '<span class="srv-help">Traces uploaded to this server, newest first.'
                    "</span>")
    else:
        previous = '<span class="srv-help">Nothing has been uploaded yet.</span>'
    chosen = set(v.get("policies") or []) or set(state.policies)
    policies = "".join(
        f'<label class="srv-policy"><input type="checkbox" name="policy" value="{_e(p)}"'
        f'{" checked" if p in chosen else ""}><span><span class="srv-name">'
        f'<span class="srv-swatch" style="background:{_e(state.colours.get(p, "#444"))}"></span>'
        f'{_e(p)}</span><span class="srv-summary">{_e(summary)}</span></span></label>'
        for p, summary in state.policies.items())
    main = "".join(_field_input(f, v.get(f.name)) for f in fields() if f.main)
    more = "".join(_field_input(f, v.get(f.name)) for f in fields() if not f.main)
    body = [
        "<h1>Compare swap-in policies on a trace</h1>",
        '<p class="srv-lede">Upload a page-access trace of your workload (or pick one). Each '
        "policy replays it through the model of the kernel's anonymous-memory, swap and zswap "
        "path in a memcg of each memory limit; the result is the report of <code>replay "
        "compare</code>: the kernel's counters per policy, tables and figures, with a link to "
        "share it and the JSON document.</p>",
        error_alert(state.error, hint=state.error_hint),
        f'<form id="compare-form" method="post" action="/compare" enctype="multipart/form-data"'
        f' data-max-upload="{state.max_upload_bytes}" '
        f'data-max-upload-text="{_e(format_size(state.max_upload_bytes))}">',
        '<section class="srv-card"><h2><span class="srv-step">1</span>Trace</h2>'
        '<div class="srv-choices">',
        _choice("upload", "Upload a file", upload, state),
        _choice("bundled", "A bundled trace", bundled, state, disabled=not state.bundled),
        _choice("previous", "A trace uploaded before", previous, state,
                disabled=not state.uploads),
        "</div></section>",
        '<section class="srv-card"><h2><span class="srv-step">2</span>Memory limits and '
        'policies</h2><div class="srv-field"><label for="f-limits">Memory limits<span '
        'class="srv-flag">--memory-limit</span></label><input id="f-limits" type="text" '
        f'name="memory_limits" value="{_e(v.get("memory_limits", ""))}" placeholder="50%">'
        f'<span class="srv-help">{_e(MEMORY_LIMITS_HELP)} Two or more draw each figure against '
        "the limit.</span></div>"
        '<div style="margin-top:14px"><span class="srv-label">Policies<span class="srv-flag">'
        f'--policy</span></span><div class="srv-policies">{policies}</div></div></section>',
        '<section class="srv-card"><h2><span class="srv-step">3</span>Model settings</h2>'
        '<p class="srv-help" style="margin:-6px 0 14px">The defaults are those of <code>replay '
        "compare</code>: cgroup v2, 64K mTHP, zswap (lz4) with its shrinker.</p>"
        f'<div class="srv-grid">{main}</div>'
        f'<details><summary>More settings</summary><div class="srv-grid">{more}</div>'
        "</details></section>",
        '<div class="srv-actions"><button class="srv-button srv-primary" type="submit">'
        'Compare policies</button><span id="submit-status" class="srv-muted">'
        f"{state.workers} comparison{'s' if state.workers != 1 else ''} run at once here; "
        f"up to {state.max_queued} wait in the queue.</span></div></form>",
    ]
    if state.recent:
        body.append('<h2>Recent comparisons <a class="srv-small" style="font-weight:400;'
                    'margin-left:8px" href="/jobs">all of them</a></h2>')
        body.append(jobs_table(state.recent))
    return layout("New comparison", "".join(body), "new")


# ---------------------------------------------------------------- the list


def _verdict(job: JobRecord) -> str:
    if job.state != "done" or not job.verdict:
        return f'<span class="srv-muted">{_e(job.error or "")}</span>' if job.error else ""
    parts = []
    for v in job.verdict:
        best = ", ".join(v["fewest_major_faults"]) or "every policy OOM-killed"
        parts.append(f'<span class="srv-mono">{_e(format_size(v["memory_limit_bytes"]))}</span> '
                     f"{_e(best)}")
    return "<br>".join(parts)


def jobs_table(jobs: list[JobRecord]) -> str:
    rows = []
    for j in jobs:
        took = (j.finished - j.started) if j.finished and j.started else None
        policies = (f"all {len(j.policies)}" if len(j.policies) >= 6
                    else ", ".join(f'<span class="srv-nowrap">{_e(p)}</span>'
                                   for p in j.policies))
        rows.append(
            f'<tr><td><a href="/jobs/{_e(j.id)}"><strong>{_e(j.trace_name)}</strong></a>'
            f'<br><span class="srv-muted srv-mono srv-small">{_e(j.id)}</span></td>'
            f'<td class="srv-mono">{_e(" ".join(j.memory_limits))}</td>'
            f'<td class="srv-small">{policies}</td>'
            f"<td>{badge(j.state)}</td>"
            f'<td class="srv-small">{_verdict(j)}</td>'
            f'<td class="srv-small srv-num">{_e(when(j.created))}</td>'
            f'<td class="srv-small srv-num">{_e(duration(took))}</td></tr>')
    return ('<div class="srv-card srv-table-card"><table class="srv-table"><thead><tr>'
            "<th>Trace</th><th>Memory limits</th><th>Policies</th><th>State</th>"
            "<th>Fewest major faults</th><th>Submitted</th><th>Took</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def jobs_page(jobs: list[JobRecord], total: int, *, trace: str, policy: str, state: str,
              policies: list[str], offset: int, limit: int) -> str:
    pol_opts = '<option value="">any policy</option>' + "".join(
        f'<option value="{_e(p)}"{" selected" if p == policy else ""}>{_e(p)}</option>'
        for p in policies)
    state_opts = '<option value="">any state</option>' + "".join(
        f'<option value="{s}"{" selected" if s == state else ""}>{s}</option>'
        for s in JOB_STATES)
    body = [
        "<h1>Comparisons</h1>",
        '<p class="srv-lede">Every comparison run on this server, newest first. Each has a '
        "stable address to share; its report and JSON document stay here.</p>",
        '<form class="srv-card srv-search" method="get" action="/jobs" role="search">'
        '<div><label class="srv-label" for="q-trace">Trace</label><input id="q-trace" '
        f'type="search" name="trace" value="{_e(trace)}" placeholder="part of its name"></div>'
        f'<div><label class="srv-label" for="q-policy">Policy</label><select id="q-policy" '
        f'name="policy">{pol_opts}</select></div>'
        f'<div><label class="srv-label" for="q-state">State</label><select id="q-state" '
        f'name="state">{state_opts}</select></div>'
        '<div><button class="srv-button" type="submit">Search</button></div></form>',
    ]
    if trace or policy or state:
        matches = "1 comparison matches" if total == 1 else f"{total:,} comparisons match"
        body.append(f'<p class="srv-muted">{matches}. <a href="/jobs">Show all</a></p>')
    if jobs:
        body.append(jobs_table(jobs))
    else:
        body.append('<div class="srv-card srv-empty">No comparison matches. '
                    '<a href="/">Start one</a>.</div>')
    query = {k: v for k, v in (("trace", trace), ("policy", policy), ("state", state)) if v}
    pager = []
    if offset > 0:
        pager.append(f'<a href="/jobs?{_e(urlencode({**query, "offset": max(0, offset - limit)}))}"'
                     ">&larr; newer</a>")
    else:
        pager.append("<span></span>")
    if offset + limit < total:
        pager.append(f'<a href="/jobs?{_e(urlencode({**query, "offset": offset + limit}))}">'
                     "older &rarr;</a>")
    body.append(f'<div class="srv-pager">{"".join(pager)}</div>')
    return layout("Comparisons", "".join(body), "jobs")


# ---------------------------------------------------------------- a job


def _settings_table(job: JobRecord, status: dict, trace: TraceRecord | None) -> str:
    rows = [("trace", job.trace_name + (" (bundled)" if job.bundled_name else "")),
            ("memory limits", " ".join(job.memory_limits)),
            ("policies", ", ".join(job.policies))]
    if trace is not None:
        rows.append(("uploaded as", f"{trace.name} ({trace.format}"
                     + (f", {trace.compression}" if trace.compression else "")
                     + f", {format_size(trace.upload_bytes)}, {trace.accesses:,} accesses)"))
        if trace.description:
            rows.append(("description", trace.description))
    changed = changed_settings(job.settings)
    rows.append(("changed settings", shlex.join(changed) if changed else
                 "none: the defaults of replay compare"))
    rows += [("submitted", when(job.created)), ("job", job.id)]
    return '<table class="srv-kv"><tbody>' + "".join(
        f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows) + "</tbody></table>"


def changed_settings(argv: list[str]) -> list[str]:
    """The options of a job's settings but its memory limits and policies."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in ("--memory-limit", "--policy"):
            skip = True
        else:
            out.append(arg)
    return out


def _command(job: JobRecord, element_id: str = "job-command") -> str:
    return (f'<pre class="srv-cmd" id="{element_id}">{_e(job.command)}</pre>')


def job_page(job: JobRecord, status: dict, trace: TraceRecord | None) -> str:
    p = status["progress"]
    title = f"{len(job.memory_limits)} memory limit" \
            f"{'s' if len(job.memory_limits) != 1 else ''} × {len(job.policies)} " \
            f"polic{'ies' if len(job.policies) != 1 else 'y'}"
    body = [f"<h1>{_e(job.trace_name)} {badge(job.state)}</h1>",
            f'<p class="srv-lede">{_e(title)} · submitted {_e(when(job.created))} · job '
            f'<span class="srv-mono">{_e(job.id)}</span></p>']
    head = ""
    if job.state in ("queued", "running"):
        head = '<noscript><meta http-equiv="refresh" content="3"></noscript>'
        waiting = " srv-waiting" if job.state == "queued" else ""
        body.append(
            f'<section class="srv-card" data-job-status="/api/jobs/{_e(job.id)}">'
            f'<div class="srv-row"><span class="srv-phase" id="job-phase">'
            f'{_e(status["phase_text"])}</span><form method="post" '
            f'action="/jobs/{_e(job.id)}/cancel" style="margin-left:auto">'
            '<button class="srv-button srv-danger" type="submit">Cancel</button></form></div>'
            f'<div class="srv-progress{waiting}"><div id="job-bar" '
            f'style="width:{100 * p["fraction"]:.1f}%"></div></div>'
            '<dl class="srv-stats">'
            f'<div><dt>Accesses replayed</dt><dd id="job-done">{_e(p["accesses_text"])}</dd></div>'
            f'<div><dt>Accesses per second</dt><dd id="job-rate">{_e(p["rate_text"])}</dd></div>'
            f'<div><dt>Time left</dt><dd id="job-eta">{_e(p["eta_text"])}</dd></div>'
            f'<div><dt>Elapsed</dt><dd id="job-elapsed">{_e(p["elapsed_text"])}</dd></div>'
            "</dl><p class=\"srv-help\" style=\"margin:12px 0 0\">Every policy replays the "
            "trace side by side, one memory limit after the other; accesses count once per "
            "limit. The report opens here when the job is done: this address is the one to "
            "share.</p></section>")
    elif job.state == "failed":
        body.append(error_alert(job.error, "The comparison failed"))
    elif job.state == "cancelled":
        body.append('<div class="srv-alert srv-info"><strong>Cancelled</strong>'
                    f"{_e(job.error or 'cancelled')}; its worker was freed.</div>")
    if job.state in ("failed", "cancelled"):
        again = _again_buttons(job)
        body.append(f'<div class="srv-row" style="margin-bottom:18px">{again}</div>')
    body.append('<section class="srv-card"><h2>Settings</h2>'
                f"{_settings_table(job, status, trace)}"
                '<h2 style="margin-top:18px">The same comparison on the command line</h2>'
                f"{_command(job)}</section>")
    return layout(f"{job.trace_name} ({job.state})", "".join(body), "jobs", head)


def _again_buttons(job: JobRecord) -> str:
    return (f'<form method="post" action="/jobs/{_e(job.id)}/rerun">'
            '<button class="srv-button srv-primary" type="submit">Run it again</button></form>'
            f'<a class="srv-button" href="/?from={_e(job.id)}">Change the settings</a>')


def result_bar(job: JobRecord, status: dict, share_url: str) -> str:
    """What the server shows above a finished job's report."""
    took = (job.finished - job.started) if job.finished and job.started else None
    stem = job.trace_name
    return (
        f"{top_bar('jobs')}"
        '<section class="srv-result" aria-label="this comparison"><div class="srv-wrap">'
        '<div class="srv-result-head"><span class="srv-result-title">'
        f"{_e(job.trace_name)} {badge(job.state)}</span>"
        f'<span class="srv-muted srv-small">job <span class="srv-mono">{_e(job.id)}</span> · '
        f"{_e(when(job.finished))} · took {_e(duration(took))}</span>"
        f'<a class="srv-button" href="/jobs/{_e(job.id)}/result.json" '
        f'download="{_e(stem)}-{_e(job.id)}.json">Download JSON</a>'
        f'<a class="srv-button" href="/jobs/{_e(job.id)}/report.html" '
        f'download="{_e(stem)}-{_e(job.id)}.html">Download report</a>'
        f'<a class="srv-button" href="/?from={_e(job.id)}">Change the settings</a></div>'
        '<div class="srv-result-grid"><div><div class="srv-label">Share this result</div>'
        f'<div class="srv-share"><input id="share-url" type="text" readonly '
        f'value="{_e(share_url)}" aria-label="address of this result">'
        '<button class="srv-button" type="button" data-copy="share-url">Copy</button></div>'
        '</div><div><div class="srv-label">The same comparison on the command line</div>'
        f"{_command(job)}</div></div></div></section>")


def report_page(report: str, job: JobRecord, status: dict, share_url: str) -> str:
    """The report of `replay compare`, as it was written, with the server's bar above."""
    bar = result_bar(job, status, share_url)
    head = f'<link rel="stylesheet" href="/assets/serve.css">{FAVICON}'
    page = report.replace("</head>", head + "</head>", 1)
    page = page.replace("<body>", "<body>" + bar, 1)
    return page.replace("</body>", '<script src="/assets/serve.js" defer></script></body>', 1)


# ---------------------------------------------------------------- the API's summary

API_ROUTES = [
    ("POST", "/api/traces", "Upload a trace: the file as the body (<code>?name=</code>, "
     "<code>format=</code>, <code>options=</code>, <code>description=</code>) or a multipart "
     "form with a <code>file</code> part. 201 with the trace; 413 over the size limit; 422 "
     "with the importer's one-line error."),
    ("GET", "/api/traces", "Uploaded and bundled traces, with the ids jobs take."),
    ("POST", "/api/jobs", "Start a comparison: <code>{\"trace\": ID, \"settings\": {...}}"
     "</code>. 202 with its status; 400 for bad settings; 429 when the queue is full."),
    ("GET", "/api/jobs/{id}", "Its status: state, phase, accesses replayed, rate, time left, "
     "error, verdict."),
    ("GET", "/api/jobs/{id}/result", "The JSON document of <code>replay compare --json</code> "
     "(409 until the job is done)."),
    ("POST", "/api/jobs/{id}/cancel", "Cancel a waiting or running job (its worker is freed)."),
    ("GET", "/api/jobs", "Comparisons, newest first: <code>?trace=</code>, "
     "<code>policy=</code>, <code>state=</code>, <code>limit=</code>, <code>offset=</code>."),
    ("GET", "/api/settings", "Every setting with its default, choices and help; the "
     "policies."),
]


def api_page(base_url: str) -> str:
    rows = "".join(f'<tr><td class="srv-mono">{m}</td><td class="srv-mono">{_e(path)}</td>'
                   f"<td>{text}</td></tr>" for m, path, text in API_ROUTES)
    base = base_url.rstrip("/")
    example = (f"trace=$(curl -s --data-binary @app.lackey.gz '{base}/api/traces?name=app."
               "lackey.gz' | jq -r .id)\n"
               f"job=$(curl -s {base}/api/jobs -H 'Content-Type: application/json' -d "
               "'{\"trace\": \"'$trace'\", \"settings\": {\"memory_limit\": [\"16M\", "
               "\"32M\"]}}' | jq -r .id)\n"
               f"until curl -s {base}/api/jobs/$job | jq -e '.state != \"queued\" and "
               ".state != \"running\"' >/dev/null; do sleep 2; done\n"
               f"curl -s {base}/api/jobs/$job/result > result.json")
    body = ("<h1>JSON API</h1>"
            '<p class="srv-lede">The same as the pages, for scripts and CI: upload a trace, '
            "start a comparison, follow it, fetch the verdict. Errors are "
            '<code>{"error": "one line"}</code> with the HTTP status. docs/serve.md in the '
            "project describes every field.</p>"
            '<div class="srv-card srv-table-card"><table class="srv-table"><thead><tr>'
            "<th>Method</th><th>Path</th><th>What</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>"
            '<section class="srv-card"><h2>From a shell</h2>'
            f'<pre class="srv-cmd">{_e(example)}</pre></section>')
    return layout("API", body, "api")
