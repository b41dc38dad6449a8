"""`replay sweep`: a grid of runs (``spec``, ``plan``) replayed on an executor
(``replay.study.executor``: local worker processes or a Dask cluster) by ``runner``, the
rows of a ``worker``'s results kept in one resumable Parquet ``table``, with ``progress``
over the sweep; ``report`` draws its curves and heatmaps for `replay compare --sweep`.
"""
