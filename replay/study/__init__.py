"""What a comparison over traces and memory limits needs around the engine: traces found
by name (``folders``), their footprints (``footprint``), and replays run in worker
processes with their progress (``parallel``).
"""
