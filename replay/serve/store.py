"""The server's store: SQLite (``serve.sqlite3``) for the traces and jobs, files beside it.

Under the data folder::

    serve.sqlite3        traces, jobs (and each job's policies, for the search)
    serve.lock           held while a server uses the folder (one server per folder)
    uploads/             request bodies being received: <random>.part, gone once imported
    traces/<id>.parquet  imported traces (and their sidecars), named by the server's id
    results/<job id>/    report.html and result.json of a finished comparison

Every file name is made by the server (ids of 12 hex digits); what a user calls a file is
kept in the database as its display name only. Each call opens its own connection (the
server's threads and the worker processes share the database; WAL mode lets readers run
beside a writer). A worker's writes to its job are guarded by the job's ``run_token``: once
the job was cancelled, failed by the server, or taken over after a restart, the writes of
the process that ran it change nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import sqlite3
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from replay.errors import SettingsError

SCHEMA_VERSION = 1
ID_PATTERN = re.compile(r"^[0-9a-f]{12}$")
BUNDLED_PREFIX = "bundled:"

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
JOB_STATES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
FINISHED_STATES = (DONE, FAILED, CANCELLED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS traces (
    id TEXT PRIMARY KEY,             -- the file is traces/<id>.parquet
    name TEXT NOT NULL,              -- display name: the uploaded file's name, never a path
    format TEXT NOT NULL,            -- the importer used, or 'parquet' (a canonical trace)
    compression TEXT,                -- of the upload (gz, xz, ...), read on the fly
    import_args TEXT NOT NULL,       -- JSON list: the import options given
    upload_bytes INTEGER NOT NULL,
    accesses INTEGER NOT NULL,
    description TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    trace_ref TEXT NOT NULL,         -- an uploaded trace's id, or 'bundled:<name>'
    trace_name TEXT NOT NULL,        -- display name
    settings TEXT NOT NULL,          -- JSON list: the options of `replay compare`
    policies TEXT NOT NULL,          -- JSON list, resolved
    memory_limits TEXT NOT NULL,     -- JSON list, as given
    command TEXT NOT NULL,           -- the equivalent command line
    state TEXT NOT NULL,
    phase TEXT NOT NULL DEFAULT '',
    error TEXT,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    accesses_done INTEGER NOT NULL DEFAULT 0,
    accesses_total INTEGER NOT NULL DEFAULT 0,
    replay_started REAL,             -- when the first replay began (for the rate)
    progress_at REAL,                -- when accesses_done was last written
    run_token TEXT,
    worker_pid INTEGER,
    verdict TEXT                     -- JSON: per replay, each policy's major faults
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created);
CREATE TABLE IF NOT EXISTS job_policies (
    job_id TEXT NOT NULL REFERENCES jobs (id),
    policy TEXT NOT NULL,
    PRIMARY KEY (job_id, policy)
);
CREATE INDEX IF NOT EXISTS job_policies_policy ON job_policies (policy);
"""


class QueueFull(Exception):
    """The queue holds as many waiting jobs as the server allows."""

    def __init__(self, waiting: int) -> None:
        self.waiting = waiting
        super().__init__(f"{waiting} jobs are waiting")


def new_id() -> str:
    return secrets.token_hex(6)


@dataclass(frozen=True)
class TraceRecord:
    id: str
    name: str
    format: str
    compression: str | None
    import_args: list[str]
    upload_bytes: int
    accesses: int
    description: str
    created: float

    @property
    def ref(self) -> str:
        return self.id


@dataclass(frozen=True)
class JobRecord:
    id: str
    trace_ref: str
    trace_name: str
    settings: list[str]
    policies: list[str]
    memory_limits: list[str]
    command: str
    state: str
    phase: str
    error: str | None
    created: float
    started: float | None
    finished: float | None
    accesses_done: int
    accesses_total: int
    replay_started: float | None
    progress_at: float | None
    run_token: str | None
    worker_pid: int | None
    verdict: list[dict] | None

    @property
    def finished_state(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def bundled_name(self) -> str | None:
        """The trace's name in the traces folder, for a bundled trace."""
        if self.trace_ref.startswith(BUNDLED_PREFIX):
            return self.trace_ref[len(BUNDLED_PREFIX):]
        return None


def _trace(row: sqlite3.Row) -> TraceRecord:
    return TraceRecord(row["id"], row["name"], row["format"], row["compression"],
                       json.loads(row["import_args"]), row["upload_bytes"], row["accesses"],
                       row["description"], row["created"])


def _job(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        row["id"], row["trace_ref"], row["trace_name"], json.loads(row["settings"]),
        json.loads(row["policies"]), json.loads(row["memory_limits"]), row["command"],
        row["state"], row["phase"], row["error"], row["created"], row["started"],
        row["finished"], row["accesses_done"], row["accesses_total"], row["replay_started"],
        row["progress_at"], row["run_token"], row["worker_pid"],
        json.loads(row["verdict"]) if row["verdict"] else None)


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Store:
    """The database and the folders of one data folder."""

    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.data_dir = Path(data_dir)
        self.db_path = self.data_dir / "serve.sqlite3"
        self.uploads_dir = self.data_dir / "uploads"
        self.traces_dir = self.data_dir / "traces"
        self.results_dir = self.data_dir / "results"

    # ------------------------------------------------------------ set-up

    def create(self) -> Store:
        """Make the folders and the schema (idempotent)."""
        try:
            for d in (self.data_dir, self.uploads_dir, self.traces_dir, self.results_dir):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SettingsError(f"--data: cannot make the data folder ({e.strerror})",
                                path=e.filename or self.data_dir) from None
        if not os.access(self.data_dir, os.W_OK | os.X_OK):
            raise SettingsError("--data: the data folder is not writable", path=self.data_dir)
        try:
            with closing(self._connect()) as db:
                db.execute("PRAGMA journal_mode=WAL")
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version not in (0, SCHEMA_VERSION):
                    raise SettingsError(f"--data: the database has schema version {version}, "
                                        f"this replay serve reads {SCHEMA_VERSION}",
                                        path=self.db_path)
                db.executescript(_SCHEMA)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as e:
            raise SettingsError(f"--data: not a database of replay serve ({e})",
                                path=self.db_path) from None
        return self

    def lock(self):
        """Hold the folder's lock for this process's life (another server: one line)."""
        path = self.data_dir / "serve.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SettingsError("--data: another replay serve is using this data folder",
                                path=self.data_dir) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd

    def clean_leftovers(self) -> int:
        """Remove what a server killed mid-upload, mid-import or mid-write left: partial
        uploads and hidden temporary files. Returns how many files went."""
        removed = 0
        leftovers = [*self.uploads_dir.iterdir(), *self.traces_dir.glob(".*"),
                     *self.results_dir.glob("*/.*.tmp")]
        for p in leftovers:
            try:
                p.unlink()
                removed += 1
            except (IsADirectoryError, FileNotFoundError):
                pass
        return removed

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA synchronous=NORMAL")      # WAL: no corruption, fewer fsyncs
        return db

    @contextmanager
    def _transaction(self):
        with closing(self._connect()) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with closing(self._connect()) as db:
            return db.execute(sql, args).fetchall()

    # ------------------------------------------------------------ files

    def trace_path(self, trace_id: str) -> Path:
        if not ID_PATTERN.match(trace_id):
            raise ValueError(f"not a trace id: {trace_id!r}")
        return self.traces_dir / f"{trace_id}.parquet"

    def result_dir(self, job_id: str) -> Path:
        if not ID_PATTERN.match(job_id):
            raise ValueError(f"not a job id: {job_id!r}")
        return self.results_dir / job_id

    # ------------------------------------------------------------ traces

    def add_trace(self, rec: TraceRecord) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO traces (id, name, format, compression, import_args, "
                       "upload_bytes, accesses, description, created) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (rec.id, rec.name, rec.format, rec.compression,
                        json.dumps(rec.import_args), rec.upload_bytes, rec.accesses,
                        rec.description, rec.created))

    def trace(self, trace_id: str) -> TraceRecord | None:
        rows = self._query("SELECT * FROM traces WHERE id = ?", (trace_id,))
        return _trace(rows[0]) if rows else None

    def traces(self, limit: int = 100) -> list[TraceRecord]:
        return [_trace(r) for r in self._query(
            "SELECT * FROM traces ORDER BY created DESC LIMIT ?", (limit,))]

    # ------------------------------------------------------------ jobs

    def add_job(self, *, trace_ref: str, trace_name: str, settings: list[str],
                policies: list[str], memory_limits: list[str], command: str,
                max_queued: int) -> JobRecord:
        """Queue a job, unless ``max_queued`` jobs already wait (QueueFull)."""
        job_id = new_id()
        with self._transaction() as db:
            waiting = db.execute("SELECT COUNT(*) FROM jobs WHERE state = ?",
                                 (QUEUED,)).fetchone()[0]
            if waiting >= max_queued:
                raise QueueFull(waiting)
            db.execute("INSERT INTO jobs (id, trace_ref, trace_name, settings, policies, "
                       "memory_limits, command, state, phase, created) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (job_id, trace_ref, trace_name, json.dumps(settings),
                        json.dumps(policies), json.dumps(memory_limits), command, QUEUED,
                        "waiting for a worker", time.time()))
            db.executemany("INSERT INTO job_policies (job_id, policy) VALUES (?, ?)",
                           [(job_id, p) for p in policies])
        job = self.job(job_id)
        assert job is not None
        return job

    def job(self, job_id: str) -> JobRecord | None:
        rows = self._query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def jobs(self, *, trace: str = "", policy: str = "", state: str = "", limit: int = 50,
             offset: int = 0) -> tuple[list[JobRecord], int]:
        """Jobs newest first whose trace name contains ``trace`` (any case), that compared
        ``policy`` and are in ``state`` (each when given); and how many match in all."""
        where, args = [], []
        if trace:
            where.append("trace_name LIKE ? ESCAPE '\\'")
            args.append(_like(trace))
        if policy:
            where.append("id IN (SELECT job_id FROM job_policies WHERE policy = ?)")
            args.append(policy)
        if state:
            where.append("state = ?")
            args.append(state)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with closing(self._connect()) as db:
            total = db.execute(f"SELECT COUNT(*) FROM jobs {clause}", args).fetchone()[0]
            rows = db.execute(f"SELECT * FROM jobs {clause} ORDER BY created DESC, id "
                              "LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
        return [_job(r) for r in rows], total

    def known_policies(self) -> list[str]:
        return [r[0] for r in self._query(
            "SELECT DISTINCT policy FROM job_policies ORDER BY policy")]

    def queue_position(self, job: JobRecord) -> int | None:
        """1 for the next job to run; None when the job is not waiting."""
        if job.state != QUEUED:
            return None
        rows = self._query("SELECT COUNT(*) FROM jobs WHERE state = ? AND "
                           "(created < ? OR (created = ? AND id < ?))",
                           (QUEUED, job.created, job.created, job.id))
        return rows[0][0] + 1

    def count(self, state: str) -> int:
        return self._query("SELECT COUNT(*) FROM jobs WHERE state = ?", (state,))[0][0]

    def claim_next(self, run_token: str) -> JobRecord | None:
        """The oldest waiting job, now running under ``run_token``."""
        with self._transaction() as db:
            row = db.execute("SELECT id FROM jobs WHERE state = ? ORDER BY created, id "
                             "LIMIT 1", (QUEUED,)).fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET state = ?, phase = ?, started = ?, run_token = ?, "
                       "accesses_done = 0 WHERE id = ?",
                       (RUNNING, "starting a worker", time.time(), run_token, row["id"]))
        return self.job(row["id"])

    def set_worker(self, job_id: str, run_token: str, pid: int) -> None:
        with self._transaction() as db:
            db.execute("UPDATE jobs SET worker_pid = ? WHERE id = ? AND run_token = ? "
                       "AND state = ?", (pid, job_id, run_token, RUNNING))

    def report_progress(self, job_id: str, run_token: str, *, phase: str | None = None,
                        done: int | None = None, total: int | None = None,
                        replay_started: float | None = None) -> bool:
        """A worker's progress; False when the job is no longer its own to report."""
        sets, args = [], []
        if phase is not None:
            sets.append("phase = ?")
            args.append(phase)
        if done is not None:
            sets += ["accesses_done = ?", "progress_at = ?"]
            args += [done, time.time()]
        if total is not None:
            sets.append("accesses_total = ?")
            args.append(total)
        if replay_started is not None:
            sets.append("replay_started = ?")
            args.append(replay_started)
        if not sets:
            return True
        with self._transaction() as db:
            cur = db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ? AND "
                             "run_token = ? AND state = ?", [*args, job_id, run_token, RUNNING])
            return cur.rowcount == 1

    def finish(self, job_id: str, run_token: str, state: str, *, error: str | None = None,
               verdict: list[dict] | None = None) -> bool:
        """End a running job (done or failed); False when it was not running under
        ``run_token`` any more (cancelled, or failed by the server)."""
        assert state in (DONE, FAILED)
        with self._transaction() as db:
            cur = db.execute(
                "UPDATE jobs SET state = ?, phase = ?, error = ?, finished = ?, verdict = ? "
                "WHERE id = ? AND run_token = ? AND state = ?",
                (state, "", error, time.time(), json.dumps(verdict) if verdict else None,
                 job_id, run_token, RUNNING))
            return cur.rowcount == 1

    def fail_running(self, job_id: str, run_token: str, error: str) -> bool:
        """The server ends a running job: its worker died, or ran too long."""
        with self._transaction() as db:
            cur = db.execute("UPDATE jobs SET state = ?, phase = '', error = ?, finished = ? "
                             "WHERE id = ? AND run_token = ? AND state = ?",
                             (FAILED, error, time.time(), job_id, run_token, RUNNING))
            return cur.rowcount == 1

    def cancel(self, job_id: str) -> str | None:
        """Cancel a waiting or running job; the state it was in when it was cancelled, or
        None when it had already finished (nothing changed)."""
        with self._transaction() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row["state"] in FINISHED_STATES:
                return None
            db.execute("UPDATE jobs SET state = ?, phase = '', error = ?, finished = ? "
                       "WHERE id = ?", (CANCELLED, "cancelled by a user", time.time(), job_id))
            return row["state"]

    def fail_interrupted(self, error: str) -> list[str]:
        """At start-up: every job a previous server left running failed with ``error`` (its
        worker died with that server). Waiting jobs stay queued."""
        with self._transaction() as db:
            ids = [r["id"] for r in db.execute("SELECT id FROM jobs WHERE state = ?",
                                               (RUNNING,))]
            db.execute("UPDATE jobs SET state = ?, phase = '', error = ?, finished = ? "
                       "WHERE state = ?", (FAILED, error, time.time(), RUNNING))
        return ids
