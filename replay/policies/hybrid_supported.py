"""hybrid-supported: load a range partly in zswap and partly on the device as one
large folio (each page from where it is). None of the posted patches does this;
it bounds what supporting hybrid ranges could gain.
"""

from replay.policies.base import builtin

NAME = "hybrid-supported"
SUMMARY = "no patch does this: large swap-in of any suitable range, zswap and disk mixed"
VIEW = "ranges"   # no V_YOUNG_NEAR

decide = builtin(NAME)     # replay/mm/policies.c
