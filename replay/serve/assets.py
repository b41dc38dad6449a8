"""The pages' stylesheet and script, served from /assets/ (no build step, nothing fetched
from elsewhere).

Every rule is scoped to a ``srv-`` class, so the same stylesheet can style the server's bar
above a `replay compare` report without touching the report's own styles. The script is
progressive: every page works without it (the job page then refreshes itself); with it the
trace panes follow the choice, an upload over the limit is refused before it is sent, the
job page follows the job through GET /api/jobs/<id>, and copy buttons copy.
"""

CSS = """
.srv-page { margin: 0; color: #1d2329; background: #f3f5f7;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
.srv-page *, .srv-top *, .srv-result * { box-sizing: border-box; }
.srv-top { background: #1d2329; color: #e9edf1; margin: 0;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
.srv-top .srv-wrap { display: flex; align-items: center; gap: 28px; height: 54px; }
.srv-brand { color: #fff !important; font-weight: 700; font-size: 17px; letter-spacing: .01em;
  text-decoration: none; display: flex; align-items: center; gap: 9px; }
.srv-brand .srv-mark { display: inline-block; width: 18px; height: 18px; border-radius: 4px;
  background: linear-gradient(135deg, #56b4e9 0 50%, #e69f00 50% 100%); }
.srv-nav { display: flex; gap: 4px; }
.srv-nav a { color: #c9d1d9 !important; text-decoration: none; padding: 6px 12px;
  border-radius: 6px; font-size: 14.5px; }
.srv-nav a:hover { background: #2c353e; color: #fff !important; }
.srv-nav a.srv-on { background: #34404b; color: #fff !important; }
.srv-tagline { margin-left: auto; color: #8f9ba6; font-size: 13px; }
.srv-wrap { max-width: 1180px; margin: 0 auto; padding: 0 32px; }
.srv-main { padding-top: 26px; padding-bottom: 56px; }
.srv-page h1 { font-size: 25px; margin: 0 0 4px; letter-spacing: -.01em; }
.srv-page h2 { font-size: 17px; margin: 0 0 12px; }
.srv-lede { color: #4d5863; margin: 0 0 20px; max-width: 820px; }
.srv-muted { color: #5b6670; }
.srv-small { font-size: 13px; }
.srv-page a, .srv-result a { color: #0b5cad; text-decoration: none; }
.srv-page a:hover, .srv-result a:hover { text-decoration: underline; }
.srv-card { background: #fff; border: 1px solid #dde2e7; border-radius: 10px;
  padding: 20px 22px; margin: 0 0 18px; box-shadow: 0 1px 2px rgba(16, 24, 32, .04); }
.srv-step { display: inline-flex; width: 24px; height: 24px; border-radius: 50%;
  background: #0b5cad; color: #fff; font-size: 13px; align-items: center;
  justify-content: center; margin-right: 8px; vertical-align: 1px; }
.srv-alert { border-radius: 8px; padding: 12px 16px; margin: 0 0 18px; font-size: 14.5px; }
.srv-alert.srv-error { background: #fdecec; border: 1px solid #f3b4b4; color: #7a1212; }
.srv-alert.srv-info { background: #eef5fc; border: 1px solid #bcd6f0; color: #143d66; }
.srv-error-text { color: #a4161a; font-weight: 600; }
.srv-alert .srv-hint { display: block; margin-top: 6px; color: #5b2a2a; font-size: 13.5px; }
.srv-alert strong { display: block; margin-bottom: 2px; }
.srv-alert code { white-space: pre-wrap; word-break: break-word; }
.srv-choices { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 12px;
  align-items: start; }
.srv-choice { border: 1px solid #dde2e7; border-radius: 8px; padding: 12px 14px;
  display: block; cursor: pointer; background: #fbfcfd; }
.srv-choice.srv-chosen { border-color: #0b5cad; background: #f3f8fd;
  box-shadow: 0 0 0 1px #0b5cad inset; }
.srv-choice > .srv-choice-title { font-weight: 600; display: flex; gap: 8px;
  align-items: center; margin-bottom: 8px; }
.srv-choice.srv-dim .srv-choice-body { opacity: .55; }
.srv-grid { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 14px 18px; }
.srv-grid.srv-two { grid-template-columns: repeat(2, minmax(0, 1fr)); }
.srv-field label, .srv-label { display: block; font-weight: 600; font-size: 13.5px;
  margin-bottom: 3px; }
.srv-flag { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; color: #6b7680;
  font-weight: 400; margin-left: 4px; }
.srv-help { display: block; color: #6b7680; font-size: 12.5px; margin-top: 3px;
  line-height: 1.4; }
.srv-page input[type=text], .srv-page input[type=number], .srv-page input[type=search],
.srv-page select { width: 100%; height: 36px; padding: 6px 9px; border: 1px solid #c4ccd4;
  border-radius: 6px; font: inherit; font-size: 14px; background: #fff; color: #1d2329; }
.srv-nowrap { white-space: nowrap; }
.srv-page input[type=file] { font-size: 14px; width: 100%; }
.srv-page input:focus, .srv-page select:focus { outline: 2px solid #8cb8e6;
  border-color: #0b5cad; }
.srv-check { display: flex; gap: 8px; align-items: flex-start; font-weight: 600;
  font-size: 13.5px; }
.srv-check input { margin-top: 3px; }
.srv-policies { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr));
  gap: 8px 22px; margin-top: 6px; }
.srv-policy { display: flex; gap: 9px; align-items: flex-start; padding: 8px 10px;
  border: 1px solid #e4e8ec; border-radius: 7px; background: #fbfcfd; }
.srv-policy input { margin-top: 4px; }
.srv-policy .srv-name { font: 600 13.5px ui-monospace, "DejaVu Sans Mono", monospace; }
.srv-policy .srv-summary { display: block; color: #5b6670; font-size: 12.5px;
  line-height: 1.35; }
.srv-swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 6px; vertical-align: 0; }
.srv-page details { margin-top: 16px; }
.srv-page summary { cursor: pointer; color: #0b5cad; font-weight: 600; font-size: 14px;
  margin-bottom: 12px; }
.srv-actions { display: flex; align-items: center; gap: 16px; margin: 6px 0 30px; }
.srv-button { display: inline-block; border: 1px solid #c4ccd4; background: #fff;
  color: #1d2329 !important; border-radius: 7px; padding: 7px 14px; font: inherit;
  font-size: 14px; font-weight: 600; cursor: pointer; text-decoration: none !important;
  white-space: nowrap; }
.srv-button:hover { background: #f1f4f7; }
.srv-button.srv-primary { background: #0b5cad; border-color: #0b5cad; color: #fff !important;
  padding: 10px 22px; font-size: 15px; }
.srv-button.srv-primary:hover { background: #094d91; }
.srv-button.srv-danger { color: #a4161a !important; border-color: #e3a3a5; }
.srv-button.srv-danger:hover { background: #fdf0f0; }
.srv-button[disabled] { opacity: .6; cursor: progress; }
.srv-table { width: 100%; border-collapse: collapse; font-size: 14px; background: #fff; }
.srv-table th { text-align: left; font-weight: 600; color: #4d5863; font-size: 12.5px;
  text-transform: uppercase; letter-spacing: .03em; padding: 9px 12px;
  border-bottom: 1px solid #dde2e7; background: #f8f9fb; }
.srv-table td { padding: 10px 12px; border-bottom: 1px solid #edf0f3; vertical-align: top; }
.srv-table tr:last-child td { border-bottom: 0; }
.srv-table tr:hover td { background: #fafcfe; }
.srv-table .srv-num { text-align: right; font-variant-numeric: tabular-nums;
  white-space: nowrap; }
.srv-table-card { padding: 0; overflow: hidden; }
.srv-mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
.srv-badge { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12.5px;
  font-weight: 600; letter-spacing: .02em; vertical-align: 3px; }
.srv-badge.srv-queued { background: #eceff2; color: #4d5863; }
.srv-badge.srv-running { background: #e1eefb; color: #0b5cad; }
.srv-badge.srv-done { background: #e3f4e8; color: #14632f; }
.srv-badge.srv-failed { background: #fdecec; color: #a4161a; }
.srv-badge.srv-cancelled { background: #fff4dc; color: #8a5a00; }
.srv-search { display: grid; grid-template-columns: 2fr 1.3fr 1fr auto; gap: 12px;
  align-items: end; }
.srv-progress { height: 12px; border-radius: 6px; background: #e8ecf0; overflow: hidden;
  margin: 12px 0 16px; }
.srv-progress > div { height: 100%; background: linear-gradient(90deg, #0b5cad, #3b82c4);
  border-radius: 6px; transition: width .4s ease; }
.srv-progress.srv-waiting > div { background: #b8c2cc; }
.srv-stats { display: grid; gap: 10px;
  grid-template-columns: minmax(0, 1.7fr) repeat(3, minmax(0, 1fr));
  margin: 0; }
.srv-stats div { background: #f8f9fb; border: 1px solid #edf0f3; border-radius: 8px;
  padding: 9px 12px; }
.srv-stats dt { color: #5b6670; font-size: 12px; text-transform: uppercase;
  letter-spacing: .03em; }
.srv-stats dd { margin: 2px 0 0; font-size: 18px; font-weight: 600;
  font-variant-numeric: tabular-nums; }
.srv-phase { font-size: 15px; font-weight: 600; }
.srv-kv { width: 100%; border-collapse: collapse; font-size: 14px; }
.srv-kv td { padding: 6px 0; border-bottom: 1px solid #edf0f3; vertical-align: top; }
.srv-kv td:first-child { color: #5b6670; width: 190px; }
.srv-cmd { background: #1d2329; color: #e9edf1; border-radius: 8px; padding: 12px 14px;
  font: 13px/1.5 ui-monospace, "DejaVu Sans Mono", monospace; white-space: pre-wrap;
  overflow-wrap: anywhere; margin: 6px 0 0; }
.srv-row { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
.srv-pager { display: flex; justify-content: space-between; margin-top: 12px; }
.srv-empty { padding: 28px; text-align: center; color: #5b6670; }
.srv-footer { color: #7b8690; font-size: 12.5px; padding-bottom: 30px; }
.srv-result { background: #fff; border-bottom: 1px solid #dde2e7; color: #1d2329;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
.srv-result .srv-wrap { padding-top: 16px; padding-bottom: 16px; }
.srv-result-head { display: flex; align-items: center; gap: 14px; flex-wrap: wrap; }
.srv-result-title { font-size: 17px; font-weight: 700; margin-right: auto; }
.srv-result-grid { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1.6fr);
  gap: 16px; margin-top: 12px; }
.srv-result .srv-label { font-size: 12px; text-transform: uppercase; letter-spacing: .03em;
  color: #5b6670; font-weight: 600; }
.srv-share { display: flex; gap: 8px; }
.srv-share input { flex: 1; min-width: 0; padding: 6px 9px; border: 1px solid #c4ccd4;
  border-radius: 6px; font: 13px ui-monospace, "DejaVu Sans Mono", monospace;
  background: #f8f9fb; color: #1d2329; }
.srv-result .srv-cmd { margin: 0; font-size: 12.5px; padding: 8px 12px; }
@media (max-width: 860px) {
  .srv-grid, .srv-choices, .srv-policies, .srv-stats, .srv-search, .srv-result-grid {
    grid-template-columns: 1fr; }
  .srv-tagline { display: none; }
}
"""

JS = r"""
(function () {
  "use strict";
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // ---- the comparison form: the chosen trace pane, the upload's size
  var form = $("#compare-form");
  if (form) {
    var choices = $all(".srv-choice", form);
    var sync = function () {
      choices.forEach(function (c) {
        var on = $("input[name=trace_source]", c).checked;
        c.classList.toggle("srv-chosen", on);
        c.classList.toggle("srv-dim", !on);
      });
    };
    choices.forEach(function (c) {
      $all("input, select", c).forEach(function (el) {
        var pick = function () {
          if (el.name === "trace_source") { sync(); return; }
          $("input[name=trace_source]", c).checked = true; sync();
        };
        el.addEventListener("change", pick);
        el.addEventListener("focus", pick);
      });
    });
    sync();
    form.addEventListener("submit", function (ev) {
      var status = $("#submit-status");
      var file = $("input[type=file]", form);
      var max = parseInt(form.getAttribute("data-max-upload"), 10);
      var source = $("input[name=trace_source]:checked", form);
      if (source && source.value === "upload" && file && file.files.length) {
        if (max && file.files[0].size > max) {
          ev.preventDefault();
          status.textContent = "This file is " + (file.files[0].size / 1048576).toFixed(1) +
            " MiB: larger than this server's limit of " + form.getAttribute("data-max-upload-text") + ".";
          status.className = "srv-error-text";
          return;
        }
      }
      var button = $("button[type=submit]", form);
      button.disabled = true;
      status.className = "srv-muted";
      status.textContent = source && source.value === "upload"
        ? "Uploading and importing the trace\u2026 the job page opens when it is queued."
        : "Queueing the comparison\u2026";
    });
  }

  // ---- the job page: follow the job
  var job = $("[data-job-status]");
  if (job) {
    var url = job.getAttribute("data-job-status");
    var set = function (id, text) { var el = document.getElementById(id); if (el) { el.textContent = text; } };
    var tick = function () {
      fetch(url, {headers: {"Accept": "application/json"}, cache: "no-store"})
        .then(function (r) { return r.json(); })
        .then(function (s) {
          if (s.state !== "queued" && s.state !== "running") { window.location.reload(); return; }
          var p = s.progress;
          set("job-phase", s.phase_text);
          set("job-done", p.accesses_text);
          set("job-rate", p.rate_text);
          set("job-eta", p.eta_text);
          set("job-elapsed", p.elapsed_text);
          var bar = document.getElementById("job-bar");
          if (bar) {
            bar.style.width = (100 * p.fraction).toFixed(1) + "%";
            bar.parentNode.classList.toggle("srv-waiting", s.state === "queued");
          }
          window.setTimeout(tick, 1000);
        })
        .catch(function () { window.setTimeout(tick, 3000); });
    };
    window.setTimeout(tick, 700);
  }

  // ---- copy buttons
  $all("[data-copy]").forEach(function (b) {
    b.addEventListener("click", function () {
      var target = document.getElementById(b.getAttribute("data-copy"));
      var text = target.value !== undefined ? target.value : target.textContent;
      var done = function () { var t = b.textContent; b.textContent = "Copied"; setTimeout(function () { b.textContent = t; }, 1400); };
      var fallback = function () {
        if (target.select) { target.select(); }      // selected, at least, to copy by hand
        try { if (document.execCommand("copy")) { done(); } } catch (e) { /* selected */ }
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, fallback);
      } else {
        fallback();
      }
    });
  });
})();
"""
