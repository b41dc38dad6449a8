"""The model of Linux v6.18's anonymous-memory path (mm/memory.c, mm/vmscan.c,
mm/swapfile.c, mm/swap_state.c, mm/zswap.c, mm/workingset.c), one module per area.

State lives in flat numpy arrays so that the compiled replay loop (replay.engine)
can run over it; function names are the kernel's.
"""

from replay._compiled import drop_stale_caches

drop_stale_caches()    # before any compiled model function is loaded from numba's cache
