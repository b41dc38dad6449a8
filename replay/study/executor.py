"""Where replays run: here, in worker processes on this machine, or on a Dask cluster.

`replay compare` and `replay sweep` hand an executor a list of tasks (picklable items)
and a function of one task, importable on the workers: ``fn(item, trace_path, report)``
returns what the parent keeps; ``report(n)`` says how far it got (accesses read). The
executor yields each task's ``Finished`` as it ends, in the order they end, and tells an
``Events`` sink when a task starts on a worker and how far it got.

Backends:

- ``InProcess``: one task after another in this process (no start-up cost);
- ``LocalProcesses``: a worker process per core (spawned: no fork of a threaded
  parent); a worker that dies (the OOM killer, a signal) takes the pool with it: the
  pool is made again and the tasks it was running are run again, up to
  ``MAX_ATTEMPTS`` times each;
- ``DaskCluster``: the tasks of a Dask scheduler (``dask scheduler``; workers started
  with ``dask worker``); the scheduler runs again elsewhere the tasks of a worker that
  dies (Dask's ``distributed.scheduler.allowed-failures``, 3 by default).

A task's trace reaches the workers through ``ship``: a path on this machine (here and
in local processes), or, on a cluster, the trace's files sent to the scheduler once (as
a task that returns them, which the scheduler can run again if every worker holding its
result dies): each worker fetches them once, from a worker that has them, when its first
task of that trace runs, and writes them to a temporary folder for the tasks after. With ``shared=True``
the workers read the path itself (a filesystem they share with this machine).

An error in a task is its ``Finished.error`` (the exception), never raised here: the
caller decides (compare raises it, a sweep records it and goes on).
"""

from __future__ import annotations

import atexit
import hashlib
import multiprocessing
import os
import queue as queue_mod
import shutil
import signal
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

from replay.errors import SettingsError

MAX_ATTEMPTS = 3                 # runs of a task whose local worker died, before giving up
CONNECT_TIMEOUT_S = 10           # reaching a Dask scheduler

TaskFn = Callable[[object, Path, Callable[[int], None]], object]


class WorkerLost(RuntimeError):
    """The worker running a task died, too many times."""


@dataclass
class Finished:
    index: int                   # the task's place in the list given to run()
    value: object = None         # what fn returned, when it did
    error: BaseException | None = None
    worker: str = ""             # where it ran (local:<pid>, or the Dask worker's address)
    seconds: float = 0.0         # wall time on the worker


class Events:
    """What an executor says while tasks run: nothing is done with it by default."""

    def started(self, index: int, worker: str) -> None: ...
    def advanced(self, index: int, done: int) -> None: ...


def one_line_error(e: BaseException) -> str:
    """An exception as one line: a ReplayError's own line, else "Type: message"."""
    from replay.errors import ReplayError
    if isinstance(e, ReplayError):
        return e.one_line()
    text = " ".join(str(e).split()) or "(no message)"
    return f"{type(e).__name__}: {text}"


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# ---------------------------------------------------------------- traces on workers


def trace_files(path: str | os.PathLike) -> list[Path]:
    """A trace's file and the sidecars beside it (replay/trace.py names them)."""
    p = Path(path)
    stem = p.name.removesuffix(".parquet")
    files = [p]
    for suffix in (".contents.parquet", ".regions.parquet"):
        side = p.with_name(stem + suffix)
        if side.is_file():
            files.append(side)
    return files


def files_digest(paths: Sequence[Path]) -> str:
    """sha256 of the files' names and bytes (a trace and its sidecars): what the trace
    is, wherever it lies."""
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0")
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


@dataclass(frozen=True)
class ShippedTrace:
    """A trace as a task receives it: its files' bytes (from a cluster's memory)."""

    digest: str
    files: dict[str, bytes]      # file name -> bytes; the first is the trace


_worker_traces: dict[str, Path] = {}
_worker_traces_lock = threading.Lock()
_worker_folder: list[Path] = []


def _worker_trace_folder() -> Path:
    if not _worker_folder:
        folder = Path(tempfile.mkdtemp(prefix="folio-replay-traces-"))
        atexit.register(shutil.rmtree, folder, True)
        _worker_folder.append(folder)
    return _worker_folder[0]


def materialize(trace) -> Path:
    """The path a task reads its trace from: the path itself, or the shipped files written
    once per worker process into a temporary folder."""
    if not isinstance(trace, ShippedTrace):
        return Path(trace)
    with _worker_traces_lock:
        path = _worker_traces.get(trace.digest)
        if path is None:
            folder = _worker_trace_folder() / trace.digest[:16]
            folder.mkdir(exist_ok=True)
            for name, data in trace.files.items():
                (folder / name).write_bytes(data)
            path = folder / next(iter(trace.files))
            _worker_traces[trace.digest] = path
        return path


# ---------------------------------------------------------------- backends


class Executor:
    """Runs tasks; a context manager (its workers end with it)."""

    name = "executor"

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None: ...

    def slots(self) -> int:
        """Tasks it runs at once (the cluster's worker threads, when known)."""
        return 1

    def ship(self, path: Path, digest: str | None = None, shared: bool = False):
        """What a task is given to find the trace at ``path`` (see the module's text)."""
        return Path(path)

    def run(self, fn: TaskFn, items: Sequence, traces: Sequence,
            events: Events | None = None) -> Iterator[Finished]:
        """Run ``fn(item, trace_path, report)`` for each item (its trace: ``traces[k]``, a
        value of ship()); yield each task's Finished as it ends. Closing the iterator
        early stops the tasks still running."""
        raise NotImplementedError


def _timed(fn, item, trace, report, worker: str) -> tuple[object, str, float]:
    t0 = time.perf_counter()
    value = fn(item, materialize(trace), report)
    return value, worker, time.perf_counter() - t0


class InProcess(Executor):
    """Each task in turn, in this process."""

    name = "this process"

    def run(self, fn, items, traces, events=None):
        events = events or Events()
        for k, (item, trace) in enumerate(zip(items, traces)):
            worker = f"local:{os.getpid()}"
            events.started(k, worker)
            try:
                value, _, seconds = _timed(fn, item, trace,
                                           lambda n, k=k: events.advanced(k, n), worker)
            except Exception as e:  # noqa: BLE001 - the caller decides what an error does
                yield Finished(k, error=e, worker=worker)
            else:
                yield Finished(k, value, worker=worker, seconds=seconds)


# local worker processes: each has the parent's queue for its events

_event_queue = None


def _init_local_worker(q) -> None:
    global _event_queue
    _event_queue = q
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the parent stops the workers


def _local_call(k: int, fn, item, trace):
    worker = f"local:{os.getpid()}"
    _event_queue.put(("started", k, worker))
    return _timed(fn, item, trace, lambda n: _event_queue.put(("advanced", k, n)), worker)


class LocalProcesses(Executor):
    """Worker processes on this machine, ``processes`` of them."""

    def __init__(self, processes: int | None = None) -> None:
        self.processes = max(1, processes or cpu_count())
        self.name = f"{self.processes} local worker process{'es' * (self.processes > 1)}"

    def slots(self) -> int:
        return self.processes

    def run(self, fn, items, traces, events=None):
        events = events or Events()
        ctx = multiprocessing.get_context("spawn")
        q = None
        todo = list(range(len(items)))
        attempts = [0] * len(items)
        pool = None

        def drain(timeout: float, running: set[int]) -> None:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    what, k, x = q.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue_mod.Empty:
                    return
                except (EOFError, OSError):
                    return
                if what == "started":
                    running.add(k)
                    events.started(k, x)
                else:
                    events.advanced(k, x)

        try:
            while todo:
                # a queue per pool: a worker killed while it wrote to the queue dies
                # holding the queue's write lock, and every later writer would wait on it
                q = ctx.Queue()
                pool = ProcessPoolExecutor(min(self.processes, len(todo)), mp_context=ctx,
                                           initializer=_init_local_worker, initargs=(q,))
                pending: dict[Future, int] = {
                    pool.submit(_local_call, k, fn, items[k], traces[k]): k for k in todo}
                todo = []
                running: set[int] = set()
                broken = False
                while pending:
                    drain(0.1, running)
                    done, _ = wait(list(pending), timeout=0, return_when=FIRST_COMPLETED)
                    for f in done:
                        k = pending.pop(f)
                        try:
                            value, worker, seconds = f.result()
                        except BrokenProcessPool:
                            broken = True
                            todo.append(k)
                            continue
                        except Exception as e:  # noqa: BLE001 - the task's own error
                            drain(0.0, running)
                            running.discard(k)
                            yield Finished(k, error=e)
                            continue
                        drain(0.0, running)
                        running.discard(k)
                        yield Finished(k, value, worker=worker, seconds=seconds)
                    if broken:
                        break
                if broken:
                    # a worker died: every task not finished comes back; those that were
                    # running count an attempt (which of them was on the dead worker is
                    # not known), and run again in a fresh pool
                    todo += list(pending.values())
                    _stop_pool(pool)
                    pool = None
                    _drop_queue(q)
                    q = None
                    retry = []
                    for k in sorted(set(todo)):
                        if k in running:
                            attempts[k] += 1
                        if attempts[k] >= MAX_ATTEMPTS:
                            yield Finished(k, error=WorkerLost(
                                f"the worker process running it died {attempts[k]} times"))
                        else:
                            retry.append(k)
                    todo = retry
                else:
                    pool.shutdown(wait=True)
                    pool = None
                    drain(0.0, running)
                    _drop_queue(q)
                    q = None
        finally:
            if pool is not None:
                _stop_pool(pool)
            if q is not None:
                _drop_queue(q)


def _drop_queue(q) -> None:
    """Close a queue without waiting on its feeder thread (a reader may be gone)."""
    q.close()
    q.cancel_join_thread()


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: tasks not started are cancelled, those running are killed."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        if p.is_alive():
            p.terminate()
    for p in processes:
        p.join(5)


# Dask: functions the workers run (importable there: folio-replay must be installed on
# every worker, in the same version)


def _dask_call(k: int, fn, item, trace, topic: str, version: str):
    from distributed import get_worker

    from replay import __version__
    worker = get_worker()
    if __version__ != version:
        raise SettingsError(f"worker {worker.address} runs folio-replay {__version__}, "
                            f"this sweep {version}: install the same version there")
    last = [0.0]

    def report(n: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.25:                # at most 4 events a second per task
            last[0] = now
            worker.log_event(topic, ("advanced", k, n))

    worker.log_event(topic, ("started", k, worker.address))
    return _timed(fn, item, trace, report, worker.address)


def _shipped_trace(data: ShippedTrace) -> ShippedTrace:
    return data


def _worker_facts() -> dict:
    import sys

    from replay import __version__
    return {"replay": __version__, "python": sys.version.split()[0]}


def _check_reachable(address: str, timeout: float) -> None:
    """Fail at once when nothing listens at a tcp:// address (Dask's client would try
    again until its timeout)."""
    import socket
    from urllib.parse import urlsplit
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme != "tcp":
        return                                   # tls://, ucx://...: the client checks
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or not port:
        raise SettingsError(f"--scheduler {address!r} is not an address like "
                            "tcp://HOST:PORT")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        raise SettingsError(f"--scheduler {address}: cannot reach a Dask scheduler "
                            f"({e.strerror or e})") from None


class DaskCluster(Executor):
    """The workers of a Dask scheduler at ``address`` (tcp://HOST:PORT)."""

    def __init__(self, address: str, connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        try:
            from distributed import Client
        except ImportError:                      # pragma: no cover - a dependency
            raise SettingsError("--scheduler needs dask.distributed: pip install "
                                "'dask[distributed]'") from None
        self.address = address
        self.name = f"Dask scheduler {address}"
        self.client = None
        _check_reachable(address, connect_timeout)
        try:
            self.client = Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise SettingsError(f"--scheduler {address}: cannot reach a Dask scheduler "
                                f"({one_line_error(e)})") from None
        self._shipped: dict[str, object] = {}
        self.check_workers()

    def check_workers(self) -> None:
        """Every worker there now runs this folio-replay (workers that join later are
        checked by each task)."""
        from replay import __version__
        try:
            facts = self.client.run(_worker_facts)
        except ImportError as e:
            self.close()
            raise SettingsError(f"--scheduler {self.address}: a worker cannot import replay "
                                f"({e}): install folio-replay on every worker") from None
        for address, f in facts.items():
            if f["replay"] != __version__:
                self.close()
                raise SettingsError(f"--scheduler {self.address}: worker {address} runs "
                                    f"folio-replay {f['replay']}, this is {__version__}")

    def slots(self) -> int:
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        return max(1, sum(w.get("nthreads", 1) for w in workers.values()))

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            self._shipped.clear()
            client.close()
            self.client = None

    def ship(self, path, digest=None, shared=False):
        if shared:
            return Path(path)
        files = trace_files(path)
        digest = digest or files_digest(files)
        if digest not in self._shipped:
            data = ShippedTrace(digest, {p.name: p.read_bytes() for p in files})
            # a task that returns the files, not scattered data: the scheduler keeps what
            # makes it, so when every worker holding it dies it is made again elsewhere
            # (scattered data would be lost, and the tasks needing it cancelled)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Large object", UserWarning)
                self._shipped[digest] = self.client.submit(
                    _shipped_trace, data, key=f"folio-replay-trace-{digest[:16]}",
                    pure=False)
        return self._shipped[digest]

    def run(self, fn, items, traces, events=None):
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        from replay import __version__
        events = events or Events()
        topic = f"folio-replay-{uuid.uuid4().hex[:12]}"
        q: queue_mod.SimpleQueue = queue_mod.SimpleQueue()
        self.client.subscribe_topic(topic, lambda event: q.put(event[1]))
        futures = {self.client.submit(_dask_call, k, fn, item, trace, topic, __version__,
                                      key=f"{topic}-{k}", pure=False): k
                   for k, (item, trace) in enumerate(zip(items, traces))}
        done_keys: set[int] = set()

        def drain(timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    what, k, x = q.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue_mod.Empty:
                    return
                if k in done_keys:
                    continue
                if what == "started":
                    events.started(k, x)
                else:
                    events.advanced(k, x)

        ac = as_completed(list(futures), loop=self.client.loop)
        try:
            while not ac.is_empty():
                batch = ac.next_batch(block=False) if ac.has_ready() else []
                if not batch:
                    drain(0.1)
                    continue
                drain(0.0)
                for f in batch:
                    k = futures[f]
                    done_keys.add(k)
                    if f.status == "finished":
                        value, worker, seconds = f.result()
                        yield Finished(k, value, worker=worker, seconds=seconds)
                        continue
                    if f.status == "error":
                        e = f.exception()
                        if isinstance(e, KilledWorker):
                            e = WorkerLost("the workers running it died (Dask gave up: "
                                           f"{one_line_error(e)})")
                    else:
                        e = WorkerLost(f"the scheduler dropped it ({f.status})")
                    yield Finished(k, error=e)
        finally:
            pending = [f for f, k in futures.items() if k not in done_keys]
            if pending and self.client is not None:
                self.client.cancel(pending, force=True)
            if self.client is not None:
                self.client.unsubscribe_topic(topic)


def executor_for(scheduler: str | None, processes: int | None = None,
                 in_process: bool = False) -> Executor:
    """A Dask cluster when a scheduler is given; else local worker processes (or this
    process)."""
    if scheduler:
        return DaskCluster(scheduler)
    if in_process:
        return InProcess()
    return LocalProcesses(processes)
