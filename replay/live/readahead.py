"""Put the kernel's cluster-readahead state at rest before a kernel run.

``swapin_nr_pages()`` in mm/swap_state.c keeps its state in statics shared by
every process and kept from one swap-in to the next: ``swapin_readahead_hits``
(4 at boot), ``prev_offset`` and ``last_readahead_pages``. A run therefore
starts with whatever window the machine's last swap-in left open, and
``last_ra = prev_win / 2`` with the hits it feeds keeps a window open once it
is. The model starts each replay at rest (window 1, no hits).

``settle_swap_readahead()`` brings the kernel there too: a short-lived child
process writes order-0 pages, pages them out (MADV_PAGEOUT) and reads back
one page in every ``STRIDE`` at offsets that are never adjacent, never
touching a page read ahead. Each fault consumes the pending hits and at
most halves the window, so after ``FAULTS`` faults the window is 1 and the
hits are 0. The child exits, which frees its swap slots and swap cache.
Only cluster readahead (a rotational swap device active) has this global
state; VMA readahead keeps its state per VMA and zram reads no ahead.
"""

from __future__ import annotations

import subprocess
import sys

from replay.live.runner import LiveError

STRIDE = 16          # pages between faults: more than the widest cluster window (page-cluster 3)
FAULTS = 8           # 8 -> 4 -> 2 -> 1 takes four; the rest absorb a window the first one opens

_CHILD = r"""
import mmap, os, sys
stride, faults = int(sys.argv[1]), int(sys.argv[2])
n = stride * faults
m = mmap.mmap(-1, n * 4096)
m.madvise(mmap.MADV_NOHUGEPAGE)
for i in range(n):
    m[i * 4096:(i + 1) * 4096] = os.urandom(4096)
m.madvise(getattr(mmap, "MADV_PAGEOUT", 21))     # 21 on every Linux architecture
with open("/proc/self/status") as f:
    swapped = [int(l.split()[1]) for l in f if l.startswith("VmSwap:")][0] // 4
total = 0
for i in range(faults):
    total += m[i * stride * 4096 + 1]
print(swapped, total)
"""


def settle_swap_readahead(stride: int = STRIDE, faults: int = FAULTS,
                          timeout_s: float = 30.0) -> int:
    """Run the settling child; returns how many of its pages reached swap (0: none did)."""
    try:
        out = subprocess.run([sys.executable, "-c", _CHILD, str(stride), str(faults)],
                             capture_output=True, text=True, timeout=timeout_s, check=True)
    except subprocess.CalledProcessError as e:
        last = (e.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise LiveError(f"settling swap readahead: the child failed ({last[0]})") from None
    except subprocess.TimeoutExpired:
        raise LiveError(f"settling swap readahead: the child did not finish within "
                        f"{timeout_s:g} s") from None
    return int(out.stdout.split()[0])
