"""Invariants of the model state, checked after every replay (and by the tests).

The check is the model's own (replay/mm/invariants.c lists what it checks): every
touched page is in exactly one place and the structures agree (folios and LRU
lists, swap slots, clusters and their search trees, the zswap LRU and pool, the
memcg's usage), and the counters add up.
"""

from __future__ import annotations


def check_invariants(model) -> list[str]:
    """Problems found in one replay's state (a ``replay._mm.Model``); empty when it is
    consistent."""
    return model.check()
