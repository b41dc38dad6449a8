"""A real `replay serve` on loopback for the tests: started as its own process on a free
port (--port 0, the address read from its first line), polled until it answers, spoken to
over HTTP with the standard library only."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

FINISHED = ("done", "failed", "cancelled")


@dataclass
class Answer:
    status: int
    headers: dict                      # names in lower case
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Server:
    """``replay serve`` in a subprocess. ``args`` are its options beyond --port/--data."""

    def __init__(self, data: Path, *args: str, traces: Path | None = None,
                 env: dict | None = None) -> None:
        self.data = Path(data)
        self.args = list(args)
        self.env = {**os.environ, **(env or {})}
        if traces is not None:
            self.env["FOLIO_REPLAY_TRACES"] = str(traces)
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.lines: queue.Queue[str] = queue.Queue()
        self.log = self.data.parent / f"{self.data.name}-server.log"

    # ------------------------------------------------------------ life

    def start(self, timeout: float = 60) -> Server:
        self.data.mkdir(parents=True, exist_ok=True)
        log = open(self.log, "a")      # noqa: SIM115 - the server's stderr, read on failure
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "replay.cli", "serve", "--port", "0", "--data",
             str(self.data), "--log-level", "warning", *self.args],
            stdout=subprocess.PIPE, stderr=log, text=True, env=self.env,
            start_new_session=True)
        log.close()
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()
        deadline = time.monotonic() + timeout
        first = ""
        while not first.startswith("replay serve: http://"):
            try:
                first = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"replay serve did not start: {self.stderr()}") \
                        from None
        self.url = first.split()[2].rstrip("/")
        while True:
            try:
                if self.get("/api/health").status == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"replay serve did not answer: {self.stderr()}")
            time.sleep(0.1)

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def stderr(self) -> str:
        try:
            return self.log.read_text()[-4000:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a crash would: no shutdown of any kind."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ HTTP

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None, timeout: float = 120) -> Answer:
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Answer(r.status, {k.lower(): v for k, v in r.headers.items()}, r.read())
        except urllib.error.HTTPError as e:
            return Answer(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post_json(self, path: str, doc) -> Answer:
        return self.request("POST", path, json.dumps(doc).encode(),
                            {"Content-Type": "application/json"})

    def upload(self, data: bytes, name: str, **params: str) -> Answer:
        """POST /api/traces with the file as the body."""
        query = urllib.parse.urlencode({"name": name, **params})
        return self.request("POST", f"/api/traces?{query}", data,
                            {"Content-Type": "application/octet-stream"})

    def upload_form(self, data: bytes, filename: str, fields: dict | None = None,
                    path: str = "/api/traces") -> Answer:
        """The same as a multipart form (what a browser or curl -F sends)."""
        boundary = "----folio-replay-test-boundary"
        parts = []
        for k, v in (fields or {}).items():
            for value in v if isinstance(v, list) else [v]:
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"'
                             f"\r\n\r\n{value}\r\n".encode())
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                     f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                     .encode() + data + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        return self.request("POST", path, b"".join(parts),
                            {"Content-Type": f"multipart/form-data; boundary={boundary}"})

    def start_job(self, trace: str, **settings) -> Answer:
        return self.post_json("/api/jobs", {"trace": trace, "settings": settings})

    def status(self, job_id: str) -> dict:
        a = self.get(f"/api/jobs/{job_id}")
        assert a.status == 200, a.text
        return a.json()

    def wait(self, job_id: str, until=FINISHED, timeout: float = 300,
             watch=None) -> dict:
        """Poll the job until its state is in ``until`` (or ``until(status)`` is true);
        ``watch(status)`` sees every status on the way."""
        test = until if callable(until) else (lambda s: s["state"] in until)
        deadline = time.monotonic() + timeout
        while True:
            s = self.status(job_id)
            if watch is not None:
                watch(s)
            if test(s):
                return s
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {s['state']} ({s['phase']}) "
                                     f"after {timeout} s; server: {self.stderr()}")
            time.sleep(0.2)


def replaying(s: dict) -> bool:
    """The job is replaying accesses (its worker has started and read the trace), or has
    ended."""
    if s["state"] == "queued":
        return False
    return s["state"] != "running" or s["progress"]["accesses_done"] > 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:                                   # a zombie child of a dead server counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False
    return True


def wait_gone(pid: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return False
