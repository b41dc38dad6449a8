"""Third-party policies in Python, compiled with numba into C functions the model calls.

    from replay.policies.base import V_CANDIDATES, policy

    @policy
    def decide(view):
        return 2 if view[V_CANDIDATES] & (1 << 2) else 0

``policy`` compiles ``decide`` (numba nopython code reading the view, an int64
array of VIEW_SIZE slots) into ``int64_t decide(const int64_t *view)``, cached on
disk by numba, so only a plug-in's first use waits for a compile (about a
second). ``highest_order`` and ``range_is_uniform`` are helpers a policy may call.
"""

from __future__ import annotations

import sys

try:
    import numba
    from numba import carray, cfunc, njit, types
except ImportError as e:     # numba is an optional dependency, for plug-ins only
    raise ImportError("third-party policies are compiled with numba: "
                      "pip install 'folio-replay[plugins]' (or numba)") from e

from replay.policies.base import V_DEVICE, V_ZEROMAP, V_ZSWAP, VIEW_SIZE, PolicyFunction

POLICY_SIGNATURE = types.int64(types.CPointer(types.int64))


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


def policy(fn) -> PolicyFunction:
    """Decorator: compile ``fn(view) -> order`` (numba nopython code) as a swap-in policy."""
    name = getattr(fn, "__name__", "policy")
    print(f"folio-replay: compiling policy {fn.__module__}.{name} with numba "
          f"{numba.__version__} (cached after the first time)", file=sys.stderr)
    inner = njit(fn)

    def entry(view_ptr):
        return inner(carray(view_ptr, (VIEW_SIZE,)))

    compiled = cfunc(POLICY_SIGNATURE)(entry)
    return PolicyFunction(compiled.address, name, keep=compiled)
