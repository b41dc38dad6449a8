"""full-zswap: Usama Arif's RFC (Oct 2024) as posted.

Large swap-in only when zswap_present_test() says the whole range is in zswap;
a range wholly on the device (or wholly zero) is refused too (the reviewers'
point in the thread).
"""

from replay.policies.base import builtin

NAME = "full-zswap"
SUMMARY = "Usama Arif RFC: large only if the whole range is in zswap"
VIEW = "ranges"   # no V_YOUNG_NEAR

decide = builtin(NAME)     # replay/mm/policies.c
