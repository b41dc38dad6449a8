"""The swap-in policy interface: one function per policy.

At a major swap fault the model computes what the kernel knows there and hands
it to the policy as an int64 array (the *view*); the policy returns the folio
order to swap in (0: the order-0 path: readahead on a block device, a single
page on zram). It reads the view and changes nothing. The model then carries
the decision out: charges the folio (``--charge-guard`` may refuse it first),
re-checks the range after the charge as the kernel must after
swapcache_prepare(), and loads it.

The built-in policies are C functions of the model (replay/mm/policies.c). A
third-party policy is a few lines of Python decorated with ``policy``: numba
compiles it (once, cached) into a C function the model calls at each fault, so
numba is needed for plug-ins only (``pip install 'folio-replay[plugins]'``).

View slots (all int64):

==================  ===========================================================
``V_CANDIDATES``    bitmask of orders that passed thp_swap_suitable_orders() and
                    can_swapin_thp() (contiguous slots, zeromap all-or-none, none
                    in the swap cache), enabled for the VMA and inside it
``V_BACKEND``       0 zswap over a block device, 1 zram, 2 plain disk
``V_SYNC_IO``       1 when the swap device is SWP_SYNCHRONOUS_IO (zram)
``V_ZSWAP_EVER``    1 when zswap has ever been enabled (mainline's static key)
``V_MARGIN``        memcg margin in pages (limit - usage)
``V_WRITE``         1 for a write fault
``V_YOUNG_NEAR``    young resident PTEs in the 16 pages either side of the
                    fault's 64K-aligned range (locality evidence)
``V_ADJACENT``      1 when the previous major fault was within 32 pages
``V_HUGEPAGE``      1 when the VMA has MADV_HUGEPAGE
``V_ZSWAP + k``     pages of the order-k range that are in zswap
``V_DEVICE + k``    pages of the order-k range that are on the device
``V_ZEROMAP + k``   pages of the order-k range that are in the zeromap
==================  ===========================================================

A policy module may say how much of the view it reads, with ``VIEW`` (filling the
view is a good part of a fault's cost in the model):

- ``"all"`` (the default): every slot;
- ``"ranges"``: everything but ``V_YOUNG_NEAR`` (which is then -1): scanning 48
  PTEs' young bits at every major fault is the costly part;
- ``"none"``: the policy always returns 0 (order 0), so the model neither fills
  the view nor calls it.

``policy``, ``highest_order`` and ``range_is_uniform`` (for plug-ins) are
imported from here; they load numba when first used (replay.policies.jit).
"""

from __future__ import annotations

import numpy as np

from replay import _mm

V_CANDIDATES = 0
V_BACKEND = 1
V_SYNC_IO = 2
V_ZSWAP_EVER = 3
V_MARGIN = 4
V_WRITE = 5
V_YOUNG_NEAR = 6
V_ADJACENT = 7
V_HUGEPAGE = 8
V_ZSWAP = 16
V_DEVICE = 32
V_ZEROMAP = 48
VIEW_SIZE = _mm.VIEW_SIZE

BACKEND_ZSWAP, BACKEND_ZRAM, BACKEND_DISK = 0, 1, 2

# how much of the view a policy reads (its module's VIEW; enum policy_view in the model)
VIEW_LEVELS = {"none": 0, "ranges": 1, "all": 2}


class PolicyFunction:
    """A compiled policy: the address of its C function ``int64_t fn(const int64_t *view)``
    (what the model calls), and a call from Python for tests and tools."""

    def __init__(self, address: int, name: str, keep=None) -> None:
        self.address = int(address)
        self.__name__ = name
        self.keep = keep            # what must outlive the address (numba's compiled code)

    def __call__(self, view) -> int:
        v = np.ascontiguousarray(view, np.int64)
        if v.shape != (VIEW_SIZE,):
            raise ValueError(f"a policy view is {VIEW_SIZE} int64, not {v.shape}")
        return _mm.call_policy(self.address, v)

    def __repr__(self) -> str:
        return f"<policy {self.__name__} at {self.address:#x}>"


def builtin(name: str) -> PolicyFunction:
    """The built-in policy ``name`` (replay/mm/policies.c)."""
    return PolicyFunction(_mm.builtin_policy(name), name)


def __getattr__(name: str):
    # the plug-in helpers need numba: load it only when a plug-in asks for them
    if name in ("policy", "highest_order", "range_is_uniform", "POLICY_SIGNATURE"):
        from replay.policies import jit
        return getattr(jit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
