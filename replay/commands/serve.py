"""`replay serve`: the web page and JSON API (replay/serve/, docs/serve.md)."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import click

from replay.errors import SettingsError
from replay.units import parse_size

DATA_ENV = "FOLIO_REPLAY_DATA"


def default_data_dir() -> Path:
    """$FOLIO_REPLAY_DATA, else serve-data/ beside reports/ (the project folder in a
    checkout, else the current folder)."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    from replay.study.folders import reports_folder
    return reports_folder().parent / "serve-data"


def parse_duration(text: str) -> float | None:
    """'90s', '30m', '2h', '0' (no limit) -> seconds."""
    t = text.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}
    try:
        value = float(t[:-1]) * scale[t[-1]] if t and t[-1] in scale else float(t)
    except ValueError:
        raise SettingsError(f"--job-timeout {text!r} is not a duration like 90s, 30m or "
                            "2h") from None
    if value < 0:
        raise SettingsError(f"--job-timeout {text!r} is negative")
    return value or None


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (port 0: a free one), or one line saying why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise SettingsError(f"--host {host!r}: {e.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise SettingsError(f"cannot listen on {host}:{port} ({e.strerror})") from None
    return sock


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback lets others on the network "
              "upload traces and run jobs (there is no login).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port (0: a free one, printed).")
@click.option("--data", "data_dir", default=None, type=click.Path(file_okay=False),
              help="Folder of the store: its database, uploaded traces and results "
              f"[default: ${DATA_ENV}, else serve-data/ beside reports/].")
@click.option("--workers", default=None, type=click.IntRange(1),
              help="Comparisons run at once, one worker process each [default: half the "
              "CPUs, 1 to 4].")
@click.option("--max-upload", default="1G", show_default=True,
              help="Largest upload taken (HTTP 413 beyond).")
@click.option("--max-queued", default=20, show_default=True, type=click.IntRange(1),
              help="Comparisons that may wait for a worker (HTTP 429 beyond).")
@click.option("--job-timeout", default="6h", show_default=True,
              help="A comparison running longer fails, freeing its worker (90s, 30m, 2h; 0: "
              "no limit).")
@click.option("--log-level", type=click.Choice(["warning", "info", "debug"]), default="info",
              show_default=True, help="The web server's log (info: one line per request).")
def COMMAND(host, port, data_dir, workers, max_upload, max_queued, job_timeout,
            log_level) -> None:
    """Serve the web page and API: upload traces, compare, share reports.

    Uploads are imported as `replay import` would, comparisons run as `replay compare`
    would (in worker processes, several at once, the rest queued), and each result gets a
    page to share with its report, its JSON document and its command line. docs/serve.md
    describes the pages and the JSON API."""
    from replay.serve.app import (
        ServeConfig,
        create_app,
        default_workers,
        describe,
        threads_per_job,
    )
    from replay.serve.store import Store

    limit = parse_size(max_upload, "--max-upload")
    if limit < 1:
        raise SettingsError("--max-upload must be at least one byte")
    timeout = parse_duration(job_timeout)
    workers = workers or default_workers()
    data = Path(data_dir).expanduser() if data_dir else default_data_dir()
    sock = listen(host, port)
    try:
        store = Store(data).create()
        lock = store.lock()
    except BaseException:
        sock.close()
        raise
    store.clean_leftovers()
    config = ServeConfig(data_dir=data.resolve(), max_upload_bytes=limit,
                         max_queued=max_queued, workers=workers,
                         threads=threads_per_job(workers), job_timeout_s=timeout)
    app = create_app(config, store)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    click.echo(f"replay serve: http://{shown}:{bound_port}/ ({describe(config)})")
    if not _loopback(host):
        click.echo(f"replay serve: warning: listening on {host}: anyone who reaches this "
                   "machine can upload traces and run comparisons (there is no login)",
                   err=True)
    import uvicorn
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on",
                                           timeout_graceful_shutdown=5,
                                           limit_concurrency=256))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        os.close(lock)
