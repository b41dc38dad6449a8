"""The results table of a sweep: one Parquet file, one row per run, kept as runs finish.

``results.parquet`` is a plain Parquet file (pandas, polars, DuckDB and pyarrow read it
as it is). While a sweep runs, each finished task's rows are written at once to their
own file in ``results.parquet.parts/`` (through a temporary file and a rename, so a part
is whole or absent: a crash loses only the runs in flight); when the sweep ends, or is
interrupted, the parts are folded into ``results.parquet`` (again written aside and
renamed) and the folder is removed. A sweep killed outright leaves its parts: the next
one (or ``read_results``) reads them with the file.

The table keeps each run key once: when rows of one key meet (a failed run replayed
again, or parts folded into the file by a sweep killed before it removed them) the
last written wins. A lock in the parts folder keeps a second sweep from writing the
same table at the same time.

Columns, in order: ``run_key``, ``status`` (``ok`` or ``failed``), ``error`` (the failed
run's one line), ``trace``, ``policy``, every setting (``memory_limit`` as given and
``memory_limit_bytes`` resolved, then the settings of `replay run` by their snake-case
names), ``trace_path``, ``trace_digest``, ``trace_accesses``, ``footprint_bytes``,
``replay_version``; then the figures (``counters.*``, ``per_size.<size>.*``,
``derived.*``, ``time.*``, ``tlb.*``, ``compression.*``) and last ``run.*``: where and
how long it ran (``run.worker``, ``run.engine_seconds``, ``run.total_seconds``,
``run.task_seconds``, ``run.finished``).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from replay.errors import ReplayError, SettingsError

PARTS_SUFFIX = ".parts"
LOCK_NAME = ".lock"
HEAD = ["run_key", "status", "error", "trace", "policy"]
TRACE_COLUMNS = ["trace_path", "trace_digest", "trace_accesses", "footprint_bytes",
                 "replay_version"]
FIGURE_SECTIONS = ("counters", "per_size", "derived", "time", "tlb", "compression", "run")
STATUS_OK, STATUS_FAILED = "ok", "failed"


def parts_folder(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p.with_name(p.name + PARTS_SUFFIX)


_SIZE = re.compile(r"^\d+kB$")


def _figure_rank(name: str) -> tuple:
    """Where a figure column goes: by section; counters, per-size stats and derived
    figures in the model's order (per-size grouped by size), the rest by name, sizes
    in numeric order. The same for any rows, whatever order they came in."""
    from replay.model.state import COUNTER_NAMES, DERIVED_NAMES, PER_SIZE_NAMES
    section, _, rest = name.partition(".")
    parts = rest.split(".")
    size = next((int(x[:-2]) for x in parts if _SIZE.match(x)), 0)
    template = ".".join("*" if _SIZE.match(x) else x for x in parts)
    known = {"counters": COUNTER_NAMES, "derived": DERIVED_NAMES,
             "per_size": PER_SIZE_NAMES}.get(section, ())
    last = parts[-1]
    idx = known.index(last) if last in known else len(known)
    if section == "per_size":
        return (FIGURE_SECTIONS.index(section), size, idx, template)
    return (FIGURE_SECTIONS.index(section), 0, idx, template, size)


def column_order(names: list[str]) -> list[str]:
    """The table's column order (the module's text): identity and settings, then the
    figures by section (``_figure_rank``), ``run.*`` last; any other column after."""
    from replay.sweep.settings import settings
    setting_names = [n for n in settings() if n != "policy"]
    fixed = HEAD + setting_names[:1] + ["memory_limit_bytes"] + setting_names[1:] \
        + TRACE_COLUMNS
    known = [n for n in fixed if n in names]
    figures = sorted((n for n in names if n not in fixed
                      and n.split(".", 1)[0] in FIGURE_SECTIONS), key=_figure_rank)
    rest = sorted(n for n in names if n not in fixed and n not in figures)
    return known + figures + rest


def rows_table(rows: list[dict]) -> pa.Table:
    """An Arrow table of row dicts whose keys differ (absent: null)."""
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    ordered = column_order(list(names))
    return pa.table({n: pa.array([r.get(n) for r in rows]) for n in ordered})


def _concat(tables: list[pa.Table]) -> pa.Table:
    tables = [t for t in tables if t is not None]
    if not tables:
        return pa.table({})
    t = pa.concat_tables(tables, promote_options="permissive")
    return t.select(column_order(t.column_names))


def last_per_key(table: pa.Table) -> pa.Table:
    """Each run key once: its last row."""
    if table.num_rows == 0:
        return table
    keys = table.column("run_key").to_pylist()
    last = {k: i for i, k in enumerate(keys)}
    if len(last) == len(keys):
        return table
    return table.take(sorted(last.values()))


def _read_file(path: Path) -> pa.Table:
    try:
        t = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as e:
        raise ReplayError(f"not a readable Parquet file ({' '.join(str(e).split())})",
                          path=path) from None
    if "run_key" not in t.column_names or "status" not in t.column_names:
        raise ReplayError("a Parquet file but not a sweep results table (no run_key and "
                          "status columns)", path=path)
    return t


def _part_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.name.endswith(".parquet") and not p.name.startswith("."))


def read_results(path: str | os.PathLike) -> pa.Table:
    """Every row of a results table (its file, and the parts of a sweep running or killed),
    each run key once."""
    p = Path(path)
    parts = _part_files(parts_folder(p))
    if not p.exists() and not parts:
        raise ReplayError("no such results table", path=p)
    if p.is_dir():
        raise ReplayError("is a folder, not a results table", path=p)
    tables = [_read_file(p)] if p.exists() else []
    tables += [_read_file(x) for x in parts]
    return last_per_key(_concat(tables))


def _write_atomic(table: pa.Table, final: Path) -> None:
    """Write a Parquet file whole or not at all: beside it, synced, then renamed."""
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            pq.write_table(table, f, compression="zstd")
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def check_table_output(path: str | os.PathLike) -> Path:
    """A table we may write (before any work): a .parquet path in a writable folder, and,
    when it exists, a results table already (never a trace or another file)."""
    from replay.commands.common import check_output
    p = check_output(path, "-o", (".parquet",))
    if p.exists():
        _read_file(p)
    return p


class ResultsTable:
    """A results table open for a sweep to add rows to (see the module's text)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = check_table_output(path)
        self.parts = parts_folder(self.path)
        self._lock_fd: int | None = None
        self._seq = 0
        self._lock()
        try:
            self.rows = read_results(self.path) if (self.path.exists()
                                                    or _part_files(self.parts)) else None
        except BaseException:
            self.close()
            raise

    def _lock(self) -> None:
        try:
            self.parts.mkdir(exist_ok=True)
        except OSError as e:
            raise SettingsError(f"-o: cannot make the parts folder ({e.strerror})",
                                path=self.parts) from None
        fd = os.open(self.parts / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise SettingsError(f"another sweep (pid {holder}) is writing this table",
                                    path=self.path) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def statuses(self) -> dict[str, str]:
        """Run key -> status of the rows already in the table."""
        if self.rows is None or self.rows.num_rows == 0:
            return {}
        return dict(zip(self.rows.column("run_key").to_pylist(),
                        self.rows.column("status").to_pylist()))

    def append(self, rows: list[dict]) -> None:
        """Rows of finished runs, on disk now (a part file)."""
        if not rows:
            return
        self._seq += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq:06d}.parquet"
        _write_atomic(rows_table(rows), self.parts / name)

    def commit(self) -> pa.Table | None:
        """Fold the parts into the file; the table as written (None: no row yet)."""
        parts = _part_files(self.parts)
        if not parts:
            return _read_file(self.path) if self.path.exists() else None
        tables = ([_read_file(self.path)] if self.path.exists() else []) + \
            [_read_file(x) for x in parts]
        table = last_per_key(_concat(tables))
        _write_atomic(table, self.path)
        for x in parts:
            x.unlink()
        return table

    def close(self) -> None:
        """Release the lock; the parts folder goes when it holds nothing else."""
        if self._lock_fd is None:
            return
        if not _part_files(self.parts):
            for leftover in self.parts.iterdir():
                if leftover.name.startswith("."):
                    leftover.unlink()             # the lock, and temporary files
            try:
                self.parts.rmdir()
            except OSError:
                pass                              # someone else's file is there
        os.close(self._lock_fd)
        self._lock_fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
