"""What a comparison over traces and memory limits needs around the engine: traces found
by name (``folders``), their footprints (``footprint``), and replays run in worker
processes with their progress (``parallel``).

(Kept out of ``replay/`` itself: a change to a module there makes numba recompile the
model, see replay._compiled.)
"""
