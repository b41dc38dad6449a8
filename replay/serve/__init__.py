"""`replay serve`: a web page and a JSON API to upload a trace, compare the swap-in policies
on it in worker processes, and share the report.

- ``store``: the SQLite store of traces and jobs, and the files under ``--data``;
- ``detect``: which importer an uploaded file needs, from its first bytes;
- ``uploads``: request bodies streamed to disk with a size limit, then imported;
- ``settings``: the settings form and the API's settings object, turned into the
  options of `replay compare` and checked as that command checks them;
- ``jobs``: the queue and the worker processes that run the comparisons;
- ``worker``: what a worker process does (the replays, the report, its files);
- ``pages``: the server-rendered HTML; ``app``: the ASGI application (Starlette).

docs/serve.md describes the pages and the API.
"""
