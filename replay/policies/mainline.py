"""mainline: Linux v6.18 as it is.

Large swap-in only on a SWP_SYNCHRONOUS_IO device (zram) and only while zswap
has never been enabled; the highest order that can_swapin_thp() accepts.
"""

from replay.policies.base import V_CANDIDATES, V_SYNC_IO, V_ZSWAP_EVER, highest_order, policy

NAME = "mainline"
SUMMARY = "v6.18 as is: large swap-in from zram only while zswap was never enabled"
VIEW = "ranges"   # no V_YOUNG_NEAR


@policy
def decide(view):
    if view[V_SYNC_IO] == 0 or view[V_ZSWAP_EVER] != 0:
        return 0
    return highest_order(view[V_CANDIDATES])
