"""The job queue: waiting jobs in the store, run oldest first in at most ``workers`` worker
processes at once.

One dispatcher thread owns the worker processes. Each turn (every POLL_S, or at once when
woken by a new or cancelled job) it:

- reaps workers: one that exited leaving its job running failed it (killed by a signal,
  or an exit status without a result), and its slot is free;
- stops the worker of a job that is no longer running under its token (cancelled by a
  user): SIGTERM, then SIGKILL; its slot is free;
- fails a job that ran longer than the server's limit, and stops its worker;
- starts the oldest waiting jobs in the free slots (a spawned process each: no fork of a
  threaded server).

At start-up the jobs a previous server left running are failed (their workers died with
it); waiting jobs stay in the queue and run. At shutdown the running jobs are stopped and
failed.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import secrets
import signal
import threading
import time
from dataclasses import dataclass

from replay.serve.store import RUNNING, Store

POLL_S = 0.25
STOP_GRACE_S = 3.0
INTERRUPTED = ("the server stopped while this job ran (it was killed or restarted): its "
               "replay was lost; run it again")
STOPPED = "the server was stopped while this job ran; run it again"

log = logging.getLogger("replay.serve")


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    token: str
    started: float                   # monotonic


def death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"its worker process was killed by {name} before it finished"
    return f"its worker process exited with status {exitcode} before it finished"


def format_seconds(s: float) -> str:
    s = int(round(s))
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    return f"{s / 3600:g} h"


class Runner:
    """The worker processes of one server."""

    def __init__(self, store: Store, *, workers: int, threads: int,
                 job_timeout_s: float | None = None) -> None:
        self.store = store
        self.workers = workers
        self.threads = threads
        self.job_timeout_s = job_timeout_s
        self._running: dict[str, _Worker] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._context = multiprocessing.get_context("spawn")

    # ------------------------------------------------------------ life

    def start(self) -> list[str]:
        """Fail what a previous server left running; start dispatching. Returns the ids
        of the jobs failed."""
        failed = self.store.fail_interrupted(INTERRUPTED)
        for job_id in failed:
            log.warning("job %s failed: %s", job_id, INTERRUPTED)
        self._thread = threading.Thread(target=self._loop, name="replay-serve-dispatcher",
                                        daemon=True)
        self._thread.start()
        return failed

    def stop(self) -> None:
        """Stop dispatching, stop the workers and fail their jobs."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for job_id, w in list(self._running.items()):
            self.store.fail_running(job_id, w.token, STOPPED)
            self._stop_process(w)
        self._running.clear()

    def wake(self) -> None:
        self._wake.set()

    @property
    def busy(self) -> int:
        return len(self._running)

    # ------------------------------------------------------------ the dispatcher

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._turn()
            except Exception:            # noqa: BLE001 - the dispatcher never dies
                log.exception("replay serve: dispatcher")
            self._wake.wait(POLL_S)
            self._wake.clear()

    def _turn(self) -> None:
        for job_id, w in list(self._running.items()):
            job = self.store.job(job_id)
            mine = job is not None and job.state == RUNNING and job.run_token == w.token
            if not w.process.is_alive():
                w.process.join()
                if mine:
                    reason = death_reason(w.process.exitcode)
                    self.store.fail_running(job_id, w.token, reason)
                    log.warning("job %s failed: %s", job_id, reason)
                del self._running[job_id]
            elif not mine:
                self._stop_process(w)            # cancelled
                del self._running[job_id]
            elif (self.job_timeout_s is not None
                  and time.monotonic() - w.started > self.job_timeout_s):
                self.store.fail_running(
                    job_id, w.token, f"it ran longer than this server's limit of "
                    f"{format_seconds(self.job_timeout_s)} (replay serve --job-timeout)")
                self._stop_process(w)
                del self._running[job_id]
        while len(self._running) < self.workers and not self._stopping.is_set():
            token = secrets.token_hex(8)
            job = self.store.claim_next(token)
            if job is None:
                break
            from replay.serve import worker
            process = self._context.Process(
                target=worker.run, name=f"replay-serve-job-{job.id}", daemon=True,
                args=(str(self.store.data_dir), job.id, token, self.threads, os.getpid()))
            try:
                process.start()
            except OSError as e:
                self.store.fail_running(job.id, token,
                                        f"the server could not start a worker ({e.strerror})")
                continue
            self.store.set_worker(job.id, token, process.pid)
            self._running[job.id] = _Worker(process, token, time.monotonic())

    @staticmethod
    def _stop_process(w: _Worker) -> None:
        if w.process.is_alive():
            w.process.terminate()
            w.process.join(STOP_GRACE_S)
            if w.process.is_alive():
                w.process.kill()
        w.process.join(STOP_GRACE_S)
