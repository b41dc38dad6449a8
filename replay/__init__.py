"""folio-replay: replay page-access traces through Linux large-folio swap-in policies.

The public surface is small and stable (asv benchmarks and user scripts import
it); everything else is private to the package.
"""

from replay.errors import ReplayError, SettingsError, TraceError
from replay.trace import Trace, TraceMeta, TraceWriter, open_trace, write_trace

__version__ = "0.1.0"

__all__ = [
    "ReplayError", "SettingsError", "TraceError",
    "Trace", "TraceMeta", "TraceWriter", "open_trace", "write_trace",
    "__version__",
]
