"""locality-admitted: fujunjie RFC v2 (May 2026).

As hybrid-rejected, capped at 64K, and admitted only on locality evidence
around the fault: the previous major fault was next to this one (a readahead
window would have covered it), or at least half of the neighbouring PTEs are
young. Otherwise order 0.
"""

from replay.policies.base import builtin

NAME = "locality-admitted"
SUMMARY = "fujunjie RFC v2: as hybrid-rejected, max 64K, only with locality evidence"

decide = builtin(NAME)     # replay/mm/policies.c
