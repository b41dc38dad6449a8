"""hybrid-rejected: fujunjie RFC v1 (May 2026).

A large folio when the range is wholly in zswap or wholly on the backing
device (or wholly zero); a range split between zswap and the device falls back
to order 0.
"""

from replay.policies.base import builtin

NAME = "hybrid-rejected"
SUMMARY = "fujunjie RFC v1: large if wholly in zswap or wholly on disk; mixed ranges order 0"
VIEW = "ranges"   # no V_YOUNG_NEAR

decide = builtin(NAME)     # replay/mm/policies.c
