"""folio-replay: replay page-access traces through Linux large-folio swap-in policies.

The public surface is small and stable (asv benchmarks and user scripts import
it); everything else is private to the package. Importing the package is cheap:
the names below load their modules (numpy, pyarrow) when first used, so that the
command line can take Ctrl-C from its first moment (replay.cli).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "ReplayError": "replay.errors", "SettingsError": "replay.errors",
    "TraceError": "replay.errors",
    "Trace": "replay.trace", "TraceMeta": "replay.trace", "TraceWriter": "replay.trace",
    "open_trace": "replay.trace", "write_trace": "replay.trace",
}

__all__ = [
    "ReplayError",
    "SettingsError",
    "Trace",
    "TraceError",
    "TraceMeta",
    "TraceWriter",
    "__version__",
    "open_trace",
    "write_trace",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'replay' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
