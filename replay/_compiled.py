"""Keeping numba's on-disk cache of the compiled model consistent.

``@njit(cache=True)`` keys each compiled function on its own source file
only: after an edit to (or an upgrade of) replay/model/memory.py, the cached
``replay_chunk`` of engine.py would still run the old memory.py code. So
before anything is compiled, cached compilations older than the newest
source of the compiled model are dropped (the next replay recompiles).
"""

from __future__ import annotations

from pathlib import Path

import numba

PACKAGE = Path(__file__).resolve().parent
MODEL_SOURCE_DIRS = (PACKAGE, PACKAGE / "model", PACKAGE / "policies")


def _cache_dirs() -> list[Path]:
    """Where numba keeps the model's compilations: each source directory's __pycache__
    and, with NUMBA_CACHE_DIR set, that directory's subdirectory for it."""
    dirs = [d / "__pycache__" for d in MODEL_SOURCE_DIRS]
    if numba.config.CACHE_DIR:
        try:        # numba's own naming of the subdirectory (a private helper)
            from numba.core.caching import _CacheLocator
            subpath = _CacheLocator.get_suitable_cache_subpath
        except (ImportError, AttributeError):
            return dirs
        root = Path(numba.config.CACHE_DIR)
        dirs += [root / subpath(str(d / "x.py")) for d in MODEL_SOURCE_DIRS]
    return dirs


def drop_stale_caches() -> int:
    """Remove cached compilations older than any model source; returns how many."""
    sources = [p for d in MODEL_SOURCE_DIRS for p in d.glob("*.py")]
    try:
        newest = max(p.stat().st_mtime for p in sources)
    except ValueError:
        return 0
    dropped = 0
    for cache in _cache_dirs():
        if not cache.is_dir():
            continue
        for f in cache.glob("*.nb[ic]"):
            try:
                if f.stat().st_mtime < newest:
                    f.unlink()
                    dropped += 1
            except OSError:
                pass
    return dropped


def njit(*args, **kwargs):
    """``numba.njit`` for the model's functions: compiled without reference counting.

    They take the state (a tuple of arrays) and pass it on, allocate nothing and keep
    no array beyond a call; with numba's reference counting every call paid an atomic
    increment and decrement per array of the state (a fifth of the replay time of a
    fault-heavy trace). The loops in replay.engine that call them keep it (they slice).
    """
    kwargs.setdefault("_nrt", False)
    if len(args) == 1 and callable(args[0]) and not kwargs.keys() - {"_nrt"}:
        return numba.njit(**kwargs)(args[0])
    return numba.njit(*args, **kwargs)
