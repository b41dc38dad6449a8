"""The model of Linux v6.18's anonymous-memory path.

The model itself is C (replay/mm/, one file per kernel file: memory.c, vmscan.c,
swapfile.c, swap_state.c, page_io.c, zswap.c, memcontrol.c, workingset.c),
compiled into ``replay._mm`` when the package is installed. This package holds
its Python face: the settings (config), the names of its counters and page
states (state), and the invariant check (invariants).
"""
