"""Where traces are found by name and where reports land.

Traces: ``$FOLIO_REPLAY_TRACES`` when set, else the project's ``traces/``
folder. A trace there is named by its file's stem (``kvscan`` for
``kvscan.parquet``); its sidecars (``*.contents.parquet``,
``*.regions.parquet``) and hidden files (an import in progress) are not
traces. Reports: ``$FOLIO_REPLAY_REPORTS`` when set, else the project's
``reports/`` folder (``./reports`` when the package is installed without its
project folder).
"""

from __future__ import annotations

import os
from pathlib import Path

from replay.errors import TraceError

TRACES_ENV = "FOLIO_REPLAY_TRACES"
REPORTS_ENV = "FOLIO_REPLAY_REPORTS"
TRACE_SUFFIX = ".parquet"
SIDECAR_SUFFIXES = (".contents.parquet", ".regions.parquet")

PROJECT = Path(__file__).resolve().parents[2]


def _project_has_checkout() -> bool:
    return (PROJECT / "pyproject.toml").is_file()


def traces_folder() -> Path:
    env = os.environ.get(TRACES_ENV)
    if env:
        return Path(env).expanduser()
    return PROJECT / "traces" if _project_has_checkout() else Path.cwd() / "traces"


def reports_folder() -> Path:
    env = os.environ.get(REPORTS_ENV)
    if env:
        return Path(env).expanduser()
    return PROJECT / "reports" if _project_has_checkout() else Path.cwd() / "reports"


def trace_name(path: str | os.PathLike) -> str:
    """``kvscan`` for ``.../kvscan.parquet``."""
    name = Path(path).name
    return name.removesuffix(TRACE_SUFFIX)


def is_trace_file(path: Path) -> bool:
    name = path.name
    return (name.endswith(TRACE_SUFFIX) and not name.startswith(".")
            and not name.endswith(SIDECAR_SUFFIXES) and path.is_file())


def trace_files(folder: Path | None = None) -> list[Path]:
    """The traces in the traces folder, by name."""
    folder = traces_folder() if folder is None else folder
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if is_trace_file(p)), key=lambda p: p.name)


def find_trace(arg: str | os.PathLike) -> Path:
    """A trace given as a path, or by name (a stem in the traces folder)."""
    text = os.fspath(arg)
    path = Path(text).expanduser()
    if path.exists():
        return path
    folder = traces_folder()
    if "/" not in text and os.sep not in text:
        candidate = folder / (text if text.endswith(TRACE_SUFFIX) else text + TRACE_SUFFIX)
        if is_trace_file(candidate):
            return candidate
        names = [trace_name(p) for p in trace_files(folder)]
        known = f"traces there: {', '.join(names)}" if names else "it has no trace"
        raise TraceError(f"no such file, and no trace of that name in {folder} ({known}; "
                         "`replay traces` lists them)", path=text)
    raise TraceError("no such file", path=text)
