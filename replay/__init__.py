"""folio-replay: replay page-access traces through Linux large-folio swap-in policies.

The public surface is small and stable (asv benchmarks and user scripts import
it); everything else is private to the package. The trace names load numpy and
pyarrow when first used, so that importing the package (the CLI does) costs
nothing.
"""

from replay.errors import ReplayError, SettingsError, TraceError

__version__ = "0.1.0"

__all__ = [
    "ReplayError", "SettingsError", "TraceError",
    "Trace", "TraceMeta", "TraceWriter", "open_trace", "write_trace",
    "__version__",
]
_TRACE_NAMES = ("Trace", "TraceMeta", "TraceWriter", "open_trace", "write_trace")


def __getattr__(name: str):
    if name in _TRACE_NAMES:
        from replay import trace
        return getattr(trace, name)
    raise AttributeError(f"module 'replay' has no attribute {name!r}")
