"""order0-fallback: mainline once zswap has ever been enabled.

alloc_swap_folio() returns an order-0 folio whenever !zswap_never_enabled();
a block device then swaps in through swapin_readahead().
"""

from replay.policies.base import builtin

NAME = "order0-fallback"
SUMMARY = "mainline after zswap was ever enabled: always order 0 (readahead on block devices)"
VIEW = "none"   # always order 0: the view is not filled, decide() not called

decide = builtin(NAME)     # replay/mm/policies.c
