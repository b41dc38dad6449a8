"""The documents reports are made from, and read back.

A *replay* is one trace replayed at one memory limit under several policies:

    {"trace": {path, accesses, ...},      # replay.engine.trace_header
     "trace_name": "kvscan",
     "footprint": {accesses, distinct_pages, footprint_bytes, content_coverage},
     "memory_limit": {"given": "50%", "bytes": 25325568},
     "results": [...],                     # simulate()'s, one per policy
     "notes": ["...", ...]}

`replay compare --json` writes ``{"schema_version": 1, "kind": "compare", "created",
"replay_version", "policies", "replays": [...]}``; `replay run --json` writes one
replay's ``{"schema_version": 1, "trace": ..., "results": [...]}`` (``replays_of``
reads either).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path

from replay.errors import ReplayError
from replay.study.folders import trace_name

SCHEMA_VERSION = 1


def replay_entry(trace_header: dict, footprint: dict, limit_given: str, limit_bytes: int,
                 results: list[dict]) -> dict:
    return {"trace": trace_header, "trace_name": trace_name(trace_header["path"]),
            "footprint": footprint,
            "memory_limit": {"given": limit_given, "bytes": int(limit_bytes)},
            "results": results, "notes": []}


def compare_document(replays: list[dict], policies: list[str]) -> dict:
    from replay import __version__
    return {"schema_version": SCHEMA_VERSION, "kind": "compare",
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "replay_version": __version__, "policies": list(policies), "replays": replays}


def load_document(path: str | os.PathLike) -> dict:
    """A saved results document (`replay run --json` or `replay compare --json`)."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ReplayError("no such file", path=p) from None
    except IsADirectoryError:
        raise ReplayError("is a folder, not a results document", path=p) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ReplayError(f"unreadable ({e})", path=p) from None
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ReplayError(f"not JSON ({e})", path=p) from None
    if not isinstance(doc, dict) or not ("replays" in doc or "results" in doc):
        raise ReplayError("not a results document of replay run --json or replay compare "
                          "--json (no results)", path=p)
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ReplayError(f"schema version {doc.get('schema_version')!r}, this replay reads "
                          f"{SCHEMA_VERSION}", path=p)
    try:
        replays = replays_of(doc)
        for rp in replays:
            for r in rp["results"]:
                r["policy"], r["config"]["memory_limit_bytes"], r["counters"]
    except (KeyError, TypeError, IndexError) as e:
        raise ReplayError(f"a result lacks {e}: not a results document", path=p) from None
    return doc


def replays_of(doc: dict) -> list[dict]:
    """The replays of a document of either kind."""
    if "replays" in doc:
        return doc["replays"]
    results = doc["results"]
    limit = results[0]["config"]["memory_limit_bytes"] if results else 0
    return [{"trace": doc["trace"], "trace_name": trace_name(doc["trace"]["path"]),
             "footprint": doc.get("footprint"),
             "memory_limit": {"given": None, "bytes": limit}, "results": results,
             "notes": doc.get("notes", [])}]
