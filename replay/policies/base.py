"""The swap-in policy interface: one compiled function per policy.

At a major swap fault the model computes what the kernel knows there and hands
it to the policy as an int64 array (the *view*); the policy returns the folio
order to swap in (0: the order-0 path: readahead on a block device, a single
page on zram). The function runs inside the compiled replay loop, so it must be
a numba ``@njit`` function with the signature ``POLICY_SIGNATURE``; it reads the
view and changes nothing. The model then carries the decision out: charges the
folio (``--charge-guard`` may refuse it first), re-checks the range after the
charge as the kernel must after swapcache_prepare(), and loads it.

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
"""

from __future__ import annotations

from numba import cfunc, njit, types
from numba.experimental.function_type import WrapperAddressProtocol

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
VIEW_SIZE = 64

BACKEND_ZSWAP, BACKEND_ZRAM, BACKEND_DISK = 0, 1, 2

# how much of the view a policy reads (its module's VIEW; the model's P_VIEW parameter)
VIEW_LEVELS = {"none": 0, "ranges": 1, "all": 2}

POLICY_SIGNATURE = types.int64(types.int64[:])
POLICY_TYPE = types.FunctionType(POLICY_SIGNATURE)


class PolicyFunction(WrapperAddressProtocol):
    """A compiled policy as a first-class function: the replay loop is compiled once for
    every policy (numba types it by its signature, not by its identity)."""

    def __init__(self, compiled, name: str) -> None:
        self._compiled = compiled
        self.__name__ = name

    def __wrapper_address__(self) -> int:
        return self._compiled.address

    def signature(self):
        return POLICY_SIGNATURE

    def __call__(self, view):
        """Call from Python (tests, tools): through a compiled trampoline."""
        return _trampoline(view, self)


@njit(cache=True)
def _trampoline(view, fn):
    return fn(view)


def policy(fn):
    """Decorator: compile ``fn(view) -> order`` (numba nopython code) as a swap-in policy."""
    return PolicyFunction(cfunc(POLICY_SIGNATURE, cache=True)(fn), fn.__name__)


@njit(cache=True)
def highest_order(mask):
    """The highest order set in a bitmask, or 0."""
    k = 9
    while k > 0:
        if mask & (1 << k):
            return k
        k -= 1
    return 0


@njit(cache=True)
def range_is_uniform(view, k):
    """The order-k range is wholly in zswap, wholly on the device, or wholly zero."""
    nr = 1 << k
    return view[V_ZSWAP + k] == nr or view[V_DEVICE + k] == nr or view[V_ZEROMAP + k] == nr
