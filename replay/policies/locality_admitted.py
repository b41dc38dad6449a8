"""locality-admitted: fujunjie RFC v2 (May 2026).

As hybrid-rejected, capped at 64K, and admitted only on locality evidence
around the fault: the previous major fault was next to this one (a readahead
window would have covered it), or at least half of the neighbouring PTEs are
young. Otherwise order 0.
"""

from replay.policies.base import V_ADJACENT, V_CANDIDATES, V_YOUNG_NEAR, policy, range_is_uniform

NAME = "locality-admitted"
SUMMARY = "fujunjie RFC v2: as hybrid-rejected, max 64K, only with locality evidence"
MAX_ORDER = 4          # 64K
YOUNG_NEAR_MIN = 16    # half of the 32 neighbouring PTEs


@policy
def decide(view):
    if view[V_ADJACENT] == 0 and view[V_YOUNG_NEAR] < 16:
        return 0
    mask = view[V_CANDIDATES]
    k = 4
    while k > 0:
        if mask & (1 << k) and range_is_uniform(view, k):
            return k
        k -= 1
    return 0
