"""Reports of replay results: tables (terminal, Markdown, CSV), notes, sparklines, the
HTML report with its figures, and the differences between two saved results.

Everything here reads result dicts as `replay.engine.simulate` returns them (and as the
JSON documents hold them); nothing reads the model's internals.
"""
