"""The ASGI application (Starlette): the pages and the JSON API over the store and the
job runner. docs/serve.md describes both."""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replay import __version__
from replay.errors import ReplayError, SettingsError, TraceError
from replay.serve import assets, pages
from replay.serve import settings as settings_mod
from replay.serve.detect import PARQUET
from replay.serve.jobs import Runner
from replay.serve.store import (
    BUNDLED_PREFIX,
    DONE,
    ID_PATTERN,
    JOB_STATES,
    QUEUED,
    RUNNING,
    JobRecord,
    QueueFull,
    Store,
    TraceRecord,
)
from replay.serve.uploads import UploadRefused, import_upload, receive, trace_stem
from replay.units import format_size

MAX_JSON_BYTES = 1 << 20
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")


@dataclass(frozen=True)
class ServeConfig:
    data_dir: Path
    max_upload_bytes: int = 1 << 30
    max_queued: int = 20
    workers: int = 1
    threads: int = 1
    job_timeout_s: float | None = None
    imports_at_once: int = 2          # uploads imported at once (each a thread)


class Refused(Exception):
    """A request answered with ``status`` and a one-line reason."""

    def __init__(self, status: int, message: str, headers: dict | None = None,
                 hint: str | None = None) -> None:
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.hint = hint                  # for the page: what to do about it
        super().__init__(message)


# ---------------------------------------------------------------- middleware


class SecurityHeaders:
    """Headers on every answer: no sniffing, no framing, scripts and styles from here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"),
                            (b"referrer-policy", b"same-origin"),
                            (b"content-security-policy", CSP.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


# ---------------------------------------------------------------- the application


@dataclass
class Service:
    config: ServeConfig
    store: Store
    runner: Runner
    limiter: anyio.CapacityLimiter | None = None
    _bundled_cache: dict = field(default_factory=dict)

    # ------------------------------------------------------------ traces

    def bundled(self) -> list[pages.BundledTrace]:
        from replay.study.folders import trace_files, trace_name
        from replay.trace import open_trace
        out = []
        for p in trace_files():
            try:
                st = p.stat()
            except OSError:
                continue
            key = (str(p), st.st_mtime_ns, st.st_size)
            if key not in self._bundled_cache:
                try:
                    accesses, problem = int(open_trace(p).num_accesses), None
                except ReplayError as e:
                    accesses, problem = None, e.message
                self._bundled_cache[key] = pages.BundledTrace(trace_name(p), accesses,
                                                              st.st_size, problem)
            out.append(self._bundled_cache[key])
        return out

    def resolve_trace(self, ref: str) -> tuple[str, str, TraceRecord | None]:
        """(trace_ref, display name, the upload's record) of what a request names: an
        upload's id or 'bundled:<name>' (a name the traces folder lists, never a path)."""
        ref = str(ref or "").strip()
        if ref.startswith(BUNDLED_PREFIX):
            name = ref[len(BUNDLED_PREFIX):]
            usable = [t.name for t in self.bundled() if t.problem is None]
            if name not in usable:
                raise SettingsError(f"no trace named {name!r} in the server's traces folder "
                                    f"(it has: {', '.join(usable) or 'none'})")
            return ref, name, None
        if not ID_PATTERN.match(ref):
            raise SettingsError(f"{ref!r} is not a trace id (12 hex digits, or bundled:NAME; "
                                "GET /api/traces lists them)")
        rec = self.store.trace(ref)
        if rec is None:
            raise SettingsError(f"no uploaded trace with id {ref}")
        return ref, trace_stem(rec.name), rec

    def command_of(self, name: str, rec: TraceRecord | None, argv: list[str]) -> str:
        if rec is None:
            return settings_mod.compare_command(name, argv)
        if rec.format == PARQUET:
            return settings_mod.compare_command(rec.name, argv)
        trace_file = f"{name}.parquet"
        args = list(rec.import_args)
        if rec.description and "--description" not in args:
            args += ["--description", rec.description]
        return (settings_mod.import_command(rec.format, rec.name, trace_file, args) + " && "
                + settings_mod.compare_command(trace_file, argv))

    async def import_(self, upload, fmt: str, options: str, description: str) -> TraceRecord:
        try:
            return await anyio.to_thread.run_sync(
                lambda: import_upload(self.store, upload, fmt=fmt, options=options,
                                      description=description), limiter=self.limiter)
        except TraceError as e:
            raise Refused(422, e.one_line()) from None
        except SettingsError as e:
            raise Refused(400, e.one_line()) from None

    # ------------------------------------------------------------ jobs

    def queue_full(self, waiting: int) -> Refused:
        return Refused(429, f"the queue is full: {waiting} comparisons wait for a worker "
                       f"(this server's limit, replay serve --max-queued); try again when one "
                       "has started", {"Retry-After": "30"})

    def check_queue(self) -> None:
        waiting = self.store.count(QUEUED)
        if waiting >= self.config.max_queued:
            raise self.queue_full(waiting)

    def start_job(self, trace_ref: str, argv: list[str]) -> JobRecord:
        try:
            checked = settings_mod.check(argv)
            ref, name, rec = self.resolve_trace(trace_ref)
        except SettingsError as e:
            raise Refused(400, e.one_line()) from None
        try:
            job = self.store.add_job(trace_ref=ref, trace_name=name, settings=checked.argv,
                                     policies=checked.policies,
                                     memory_limits=checked.memory_limits,
                                     command=self.command_of(name, rec, checked.argv),
                                     max_queued=self.config.max_queued)
        except QueueFull as e:
            raise self.queue_full(e.waiting) from None
        self.runner.wake()
        return job

    def job_or_404(self, job_id: str) -> JobRecord:
        job = self.store.job(job_id) if ID_PATTERN.match(job_id) else None
        if job is None:
            raise Refused(404, f"no comparison with id {job_id!r} on this server")
        return job

    def status(self, job: JobRecord, request: Request | None = None) -> dict:
        return job_status(self.store, job, base_url(request) if request else "")


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _rate_text(rate: float | None) -> str:
    if not rate:
        return "-"
    if rate >= 1e6:
        return f"{rate / 1e6:.2f} M"
    if rate >= 1e3:
        return f"{rate / 1e3:.0f} k"
    return f"{rate:.0f}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def job_status(store: Store, job: JobRecord, base: str = "") -> dict:
    """A job as GET /api/jobs/<id> answers it (docs/serve.md)."""
    now = time.time()
    done, total = job.accesses_done, job.accesses_total
    fraction = min(1.0, done / total) if total else (1.0 if job.state == DONE else 0.0)
    rate = None
    if job.replay_started and job.progress_at and done > 0 \
            and job.progress_at > job.replay_started:
        rate = done / (job.progress_at - job.replay_started)
    eta = (total - done) / rate if rate and job.state == RUNNING and done < total else None
    elapsed = ((job.finished or now) - job.started) if job.started else None
    position = store.queue_position(job)
    if job.state == QUEUED:
        phase_text = ("Waiting for a worker: next in the queue" if position == 1 else
                      f"Waiting for a worker: {_ordinal(position or 0)} in the queue")
    elif job.state == RUNNING:
        phase_text = (job.phase[:1].upper() + job.phase[1:]) if job.phase else "Running"
    else:
        phase_text = job.state.capitalize()
    return {
        "id": job.id,
        "state": job.state,
        "phase": job.phase,
        "phase_text": phase_text,
        "queue_position": position,
        "trace": {"id": job.trace_ref, "name": job.trace_name},
        "memory_limits": job.memory_limits,
        "policies": job.policies,
        "settings": job.settings,
        "command": job.command,
        "error": job.error,
        "created": job.created,
        "started": job.started,
        "finished": job.finished,
        "worker_pid": job.worker_pid if job.state == RUNNING else None,
        "progress": {
            "accesses_done": done,
            "accesses_total": total,
            "fraction": fraction,
            "rate_per_s": rate,
            "eta_s": eta,
            "elapsed_s": elapsed,
            "accesses_text": f"{done:,} of {total:,}" if total else "-",
            "rate_text": _rate_text(rate),
            "eta_text": f"about {pages.duration(eta)}" if eta is not None else "-",
            "elapsed_text": pages.duration(elapsed),
        },
        "verdict": job.verdict,
        "urls": {"page": f"{base}/jobs/{job.id}", "status": f"{base}/api/jobs/{job.id}",
                 "result": f"{base}/api/jobs/{job.id}/result",
                 "report": f"{base}/jobs/{job.id}/report.html",
                 "cancel": f"{base}/api/jobs/{job.id}/cancel"},
    }


def trace_json(rec: TraceRecord) -> dict:
    return {"id": rec.id, "name": rec.name, "format": rec.format,
            "compression": rec.compression, "import_options": rec.import_args,
            "upload_bytes": rec.upload_bytes, "accesses": rec.accesses,
            "description": rec.description, "created": rec.created}


def create_app(config: ServeConfig, store: Store | None = None) -> Starlette:
    """The application of one server (the store created and locked by the caller)."""
    store = store or Store(config.data_dir).create()
    runner = Runner(store, workers=config.workers, threads=config.threads,
                    job_timeout_s=config.job_timeout_s)
    svc = Service(config, store, runner)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        svc.limiter = anyio.CapacityLimiter(config.imports_at_once)
        runner.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(runner.stop)

    def is_api(request: Request) -> bool:
        return request.url.path.startswith("/api/") or request.url.path == "/api"

    def refused(request: Request, status: int, message: str,
                headers: dict | None = None) -> Response:
        if is_api(request):
            return JSONResponse({"error": message}, status, headers=headers)
        return HTMLResponse(pages.error_page(status, message), status, headers=headers)

    def same_origin(request: Request) -> None:
        """A browser's POST from another site's page is refused (no cross-site requests
        starting or cancelling jobs); clients that send no Origin (curl, scripts) pass."""
        origin = request.headers.get("origin")
        if origin is None:
            return
        if origin == "null" or urlsplit(origin).netloc != request.headers.get("host", ""):
            raise Refused(403, "a request from another site's page is refused")

    # ------------------------------------------------------------ pages

    def form_state(request: Request, **kw) -> pages.FormState:
        from replay.importers import FORMATS
        from replay.report.figures import policy_colours
        policies = settings_mod.available_policies()
        values = kw.pop("values", None) or settings_mod.form_values_of([])
        if not values.get("memory_limits"):
            values["memory_limits"] = "50%"
        state = pages.FormState(
            values=values, policies=policies, colours=policy_colours(list(policies)),
            bundled=svc.bundled(), uploads=store.traces(50), formats=sorted(FORMATS),
            max_upload_bytes=config.max_upload_bytes, workers=config.workers,
            max_queued=config.max_queued, recent=store.jobs(limit=5)[0], **kw)
        if state.source == "bundled" and not any(t.problem is None for t in state.bundled):
            state.source = "upload"
        if state.source == "previous" and not state.uploads:
            state.source = "upload"
        return state

    async def new_form(request: Request) -> Response:
        kw: dict = {}
        from_job = request.query_params.get("from", "")
        if from_job:
            job = svc.job_or_404(from_job)
            kw["values"] = settings_mod.form_values_of(job.settings)
            kw["values"]["memory_limits"] = " ".join(job.memory_limits)
            if job.bundled_name is not None:
                kw.update(source="bundled", chosen_bundled=job.bundled_name)
            else:
                kw.update(source="previous", chosen_upload=job.trace_ref)
        state = await anyio.to_thread.run_sync(lambda: form_state(request, **kw))
        return HTMLResponse(pages.new_page(state))

    async def submit_form(request: Request) -> Response:
        same_origin(request)
        svc.check_queue()
        try:
            upload = await receive(request, store.uploads_dir, config.max_upload_bytes)
        except UploadRefused as e:
            message, status = e.message, e.status
            state = await anyio.to_thread.run_sync(lambda: form_state(request, error=message))
            return HTMLResponse(pages.new_page(state), status)
        source = upload.get("trace_source", "upload")
        kept = dict(source=source if source in ("upload", "bundled", "previous") else "upload",
                    chosen_bundled=upload.get("bundled"), chosen_upload=upload.get("previous"),
                    format=upload.get("format", "auto"),
                    import_options=upload.get("import_options"),
                    description=upload.get("description"))
        values: dict = {}
        try:
            try:
                values = settings_mod.values_from_form(upload)
                argv = settings_mod.argv_of(values)
                settings_mod.check(argv)
            except SettingsError as e:
                raise Refused(400, e.one_line()) from None
            if source == "upload":
                if upload.path is None:
                    raise Refused(400, "choose a trace file to upload (or pick a trace)")
                svc.check_queue()
                try:
                    rec = await svc.import_(upload, upload.get("format", "auto"),
                                            upload.get("import_options"),
                                            upload.get("description"))
                except Refused as e:
                    e.hint = ("Choose the file again (a browser does not keep it) once its "
                              "format or import options are right.")
                    raise
                ref = rec.id
            elif source == "bundled":
                ref = BUNDLED_PREFIX + upload.get("bundled")
            elif source == "previous":
                ref = upload.get("previous")
            else:
                raise Refused(400, f"unknown trace source {source!r}")
            job = await anyio.to_thread.run_sync(svc.start_job, ref, argv)
        except Refused as e:
            message, status, headers, hint = e.message, e.status, e.headers, e.hint
            if values:
                values = {**values, "memory_limits": " ".join(values["memory_limits"])}
            state = await anyio.to_thread.run_sync(
                lambda: form_state(request, error=message, error_hint=hint,
                                   values=values or None, **kept))
            return HTMLResponse(pages.new_page(state), status, headers=headers)
        finally:
            upload.discard()
        return RedirectResponse(f"/jobs/{job.id}", 303)

    async def jobs_list(request: Request) -> Response:
        q = request.query_params
        trace, policy, state = q.get("trace", "").strip(), q.get("policy", ""), q.get("state", "")
        if state and state not in JOB_STATES:
            state = ""
        offset = _int(q.get("offset"), 0, 0, 10**9)
        limit = 50
        jobs, total = store.jobs(trace=trace, policy=policy, state=state, limit=limit,
                                 offset=offset)
        known = sorted(set(settings_mod.available_policies()) | set(store.known_policies()))
        return HTMLResponse(pages.jobs_page(jobs, total, trace=trace, policy=policy,
                                            state=state, policies=known, offset=offset,
                                            limit=limit))

    async def job_view(request: Request) -> Response:
        job = svc.job_or_404(request.path_params["job_id"])
        status = svc.status(job, request)
        if job.state == DONE:
            report = store.result_dir(job.id) / "report.html"
            try:
                text = await anyio.to_thread.run_sync(report.read_text)
            except OSError:
                raise Refused(404, "this comparison's report is no longer on the server") \
                    from None
            return HTMLResponse(pages.report_page(text, job, status,
                                                  f"{base_url(request)}/jobs/{job.id}"))
        rec = store.trace(job.trace_ref) if job.bundled_name is None else None
        return HTMLResponse(pages.job_page(job, status, rec))

    def result_file(job: JobRecord, name: str) -> Path:
        if job.state != DONE:
            raise Refused(409, f"the comparison is {job.state}"
                          + (f": {job.error}" if job.error else "; its result is not ready"))
        path = store.result_dir(job.id) / name
        if not path.is_file():
            raise Refused(404, "this comparison's result is no longer on the server")
        return path

    async def report_file(request: Request) -> Response:
        job = svc.job_or_404(request.path_params["job_id"])
        return FileResponse(result_file(job, "report.html"), media_type="text/html")

    async def json_file(request: Request) -> Response:
        job = svc.job_or_404(request.path_params["job_id"])
        return FileResponse(result_file(job, "result.json"), media_type="application/json",
                            filename=f"{job.trace_name}-{job.id}.json")

    async def cancel_form(request: Request) -> Response:
        same_origin(request)
        job = svc.job_or_404(request.path_params["job_id"])
        store.cancel(job.id)
        runner.wake()
        return RedirectResponse(f"/jobs/{job.id}", 303)

    async def rerun_form(request: Request) -> Response:
        same_origin(request)
        job = svc.job_or_404(request.path_params["job_id"])
        new = await anyio.to_thread.run_sync(svc.start_job, job.trace_ref, job.settings)
        return RedirectResponse(f"/jobs/{new.id}", 303)

    async def api_page(request: Request) -> Response:
        return HTMLResponse(pages.api_page(base_url(request)))

    async def css(request: Request) -> Response:
        return Response(assets.CSS, media_type="text/css",
                        headers={"Cache-Control": "max-age=300"})

    async def js(request: Request) -> Response:
        return Response(assets.JS, media_type="text/javascript",
                        headers={"Cache-Control": "max-age=300"})

    # ------------------------------------------------------------ the API

    async def api_health(request: Request) -> Response:
        return JSONResponse({"ok": True, "version": __version__, "workers": config.workers,
                             "busy": runner.busy, "queued": store.count(QUEUED),
                             "running": store.count(RUNNING)})

    async def api_settings(request: Request) -> Response:
        from replay.commands.common import DEFAULT_MEMORY_LIMIT
        from replay.importers import FORMATS
        return JSONResponse({
            "settings": [{"name": f.name, "option": f.flag, "off_option": f.off_flag,
                          "kind": f.kind, "choices": list(f.choices), "default": f.default,
                          "help": f.help} for f in settings_mod.fields()],
            "memory_limit": {"default": DEFAULT_MEMORY_LIMIT,
                             "max": settings_mod.MAX_MEMORY_LIMITS,
                             "help": settings_mod.MEMORY_LIMITS_HELP},
            "policies": settings_mod.available_policies(),
            "formats": ["auto", PARQUET, *sorted(FORMATS)],
            "limits": {"max_upload_bytes": config.max_upload_bytes,
                       "max_queued": config.max_queued, "workers": config.workers,
                       "job_timeout_s": config.job_timeout_s}})

    async def api_traces(request: Request) -> Response:
        bundled = await anyio.to_thread.run_sync(svc.bundled)
        return JSONResponse({
            "uploads": [trace_json(t) for t in store.traces(200)],
            "bundled": [{"id": BUNDLED_PREFIX + t.name, "name": t.name,
                         "accesses": t.accesses, "problem": t.problem} for t in bundled]})

    async def api_trace(request: Request) -> Response:
        trace_id = request.path_params["trace_id"]
        rec = store.trace(trace_id) if ID_PATTERN.match(trace_id) else None
        if rec is None:
            raise Refused(404, f"no uploaded trace with id {trace_id!r}")
        return JSONResponse(trace_json(rec))

    async def api_upload(request: Request) -> Response:
        same_origin(request)
        try:
            upload = await receive(request, store.uploads_dir, config.max_upload_bytes)
        except UploadRefused as e:
            raise Refused(e.status, e.message) from None
        try:
            if upload.path is None:
                raise Refused(400, "no file in the request: send it as the body, or as the "
                              "part named 'file' of a multipart form")
            rec = await svc.import_(upload, upload.get("format", "auto"),
                                    upload.get("options"), upload.get("description"))
        finally:
            upload.discard()
        return JSONResponse(trace_json(rec), 201, headers={"Location": f"/api/traces/{rec.id}"})

    async def api_jobs(request: Request) -> Response:
        q = request.query_params
        state = q.get("state", "")
        if state and state not in JOB_STATES:
            raise Refused(400, f"unknown state {state!r} (one of {', '.join(JOB_STATES)})")
        limit = _int(q.get("limit"), 50, 1, 500)
        offset = _int(q.get("offset"), 0, 0, 10**9)
        jobs, total = store.jobs(trace=q.get("trace", "").strip(), policy=q.get("policy", ""),
                                 state=state, limit=limit, offset=offset)
        return JSONResponse({"total": total, "offset": offset,
                             "jobs": [svc.status(j, request) for j in jobs]})

    async def api_start(request: Request) -> Response:
        same_origin(request)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_JSON_BYTES:
                raise Refused(413, f"the request is larger than {MAX_JSON_BYTES // 1024} KiB")
        try:
            doc = json.loads(body or b"null")
        except ValueError as e:
            raise Refused(400, f"the body is not JSON ({e})") from None
        if not isinstance(doc, dict) or "trace" not in doc:
            raise Refused(400, 'expected {"trace": ID, "settings": {...}}')
        stray = sorted(set(doc) - {"trace", "settings"})
        if stray:
            raise Refused(400, f"unknown field {stray[0]!r} (expected trace and settings)")
        try:
            argv = settings_mod.argv_of(settings_mod.values_from_json(doc.get("settings")))
        except SettingsError as e:
            raise Refused(400, e.one_line()) from None
        job = await anyio.to_thread.run_sync(svc.start_job, str(doc["trace"]), argv)
        return JSONResponse(svc.status(job, request), 202,
                            headers={"Location": f"/api/jobs/{job.id}"})

    async def api_status(request: Request) -> Response:
        job = svc.job_or_404(request.path_params["job_id"])
        return JSONResponse(svc.status(job, request), headers={"Cache-Control": "no-store"})

    async def api_result(request: Request) -> Response:
        job = svc.job_or_404(request.path_params["job_id"])
        return FileResponse(result_file(job, "result.json"), media_type="application/json")

    async def api_cancel(request: Request) -> Response:
        same_origin(request)
        job = svc.job_or_404(request.path_params["job_id"])
        was = store.cancel(job.id)
        if was is None:
            raise Refused(409, f"the comparison is already {store.job(job.id).state}")
        runner.wake()
        return JSONResponse(svc.status(store.job(job.id), request))

    # ------------------------------------------------------------ errors

    async def on_refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Refused)
        return refused(request, exc.status, exc.message, exc.headers)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: f"nothing at {request.url.path}",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(
                       exc.status_code, str(exc.detail))
        return refused(request, exc.status_code, message, getattr(exc, "headers", None))

    routes = [
        Route("/", new_form, methods=["GET"]),
        Route("/compare", submit_form, methods=["POST"]),
        Route("/jobs", jobs_list, methods=["GET"]),
        Route("/jobs/{job_id}", job_view, methods=["GET"]),
        Route("/jobs/{job_id}/report.html", report_file, methods=["GET"]),
        Route("/jobs/{job_id}/result.json", json_file, methods=["GET"]),
        Route("/jobs/{job_id}/cancel", cancel_form, methods=["POST"]),
        Route("/jobs/{job_id}/rerun", rerun_form, methods=["POST"]),
        Route("/assets/serve.css", css, methods=["GET"]),
        Route("/assets/serve.js", js, methods=["GET"]),
        Route("/api", api_page, methods=["GET"]),
        Route("/api/health", api_health, methods=["GET"]),
        Route("/api/settings", api_settings, methods=["GET"]),
        Route("/api/traces", api_traces, methods=["GET"]),
        Route("/api/traces", api_upload, methods=["POST"]),
        Route("/api/traces/{trace_id}", api_trace, methods=["GET"]),
        Route("/api/jobs", api_jobs, methods=["GET"]),
        Route("/api/jobs", api_start, methods=["POST"]),
        Route("/api/jobs/{job_id}", api_status, methods=["GET"]),
        Route("/api/jobs/{job_id}/result", api_result, methods=["GET"]),
        Route("/api/jobs/{job_id}/cancel", api_cancel, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(SecurityHeaders)],
                    exception_handlers={Refused: on_refused, HTTPException: on_http})
    app.state.service = svc
    return app


def _int(text: str | None, default: int, lo: int, hi: int) -> int:
    try:
        return max(lo, min(hi, int(text))) if text not in (None, "") else default
    except ValueError:
        return default


def default_workers() -> int:
    """Comparisons at once: half the CPUs, 1 to 4 (each one's policies replay in threads on
    the CPUs left to it)."""
    from replay.study.parallel import cpu_count
    return max(1, min(4, cpu_count() // 2))


def threads_per_job(workers: int) -> int:
    from replay.study.parallel import cpu_count
    return max(1, cpu_count() // workers)


def describe(config: ServeConfig) -> str:
    from replay.serve.jobs import format_seconds
    timeout = (f"; a job may run {format_seconds(config.job_timeout_s)}"
               if config.job_timeout_s else "")
    return (f"data in {os.fspath(config.data_dir)}; {config.workers} worker"
            f"{'s' if config.workers != 1 else ''} of {config.threads} thread"
            f"{'s' if config.threads != 1 else ''}; uploads up to "
            f"{format_size(config.max_upload_bytes)}; {config.max_queued} jobs may wait"
            f"{timeout}")
