"""full-zswap: Usama Arif's RFC (Oct 2024) as posted.

Large swap-in only when zswap_present_test() says the whole range is in zswap;
a range wholly on the device (or wholly zero) is refused too (the reviewers'
point in the thread).
"""

from replay.policies.base import V_CANDIDATES, V_ZSWAP, policy

NAME = "full-zswap"
SUMMARY = "Usama Arif RFC: large only if the whole range is in zswap"
VIEW = "ranges"   # no V_YOUNG_NEAR


@policy
def decide(view):
    mask = view[V_CANDIDATES]
    k = 9
    while k > 0:
        if mask & (1 << k) and view[V_ZSWAP + k] == (1 << k):
            return k
        k -= 1
    return 0
