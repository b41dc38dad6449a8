"""mainline: Linux v6.18 as it is.

Large swap-in only on a SWP_SYNCHRONOUS_IO device (zram) and only while zswap
has never been enabled; the highest order that can_swapin_thp() accepts.
"""

from replay.policies.base import builtin

NAME = "mainline"
SUMMARY = "v6.18 as is: large swap-in from zram only while zswap was never enabled"
VIEW = "ranges"   # no V_YOUNG_NEAR

decide = builtin(NAME)     # replay/mm/policies.c
