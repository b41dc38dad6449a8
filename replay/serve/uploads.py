"""Uploads: a request body streamed to a file of the server's naming, with a size limit;
then imported as a canonical trace with the importers' one-line errors.

A body is either a multipart form (the page's form, ``curl -F file=@trace.csv``), whose
one file part is streamed to disk and whose other fields are kept (each small), or the
file itself (``curl --data-binary @trace.csv '...?name=trace.csv'``). Past the limit the
file is deleted and the rest of the body read and dropped (up to DRAIN_BYTES, so that the
client, still sending, reads the 413 answer rather than a reset connection); a body
declared larger than that is refused before it is read.

The name a client gives its file is a display name only: the file on disk is
``uploads/<random>.part``, renamed with the compression suffix its magic number calls for,
and the trace ``traces/<id>.parquet``. Errors that name the server's files are reworded to
name the user's file.
"""

from __future__ import annotations

import os
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from starlette.requests import Request

from replay.errors import ReplayError, SettingsError, TraceError
from replay.serve.detect import HEAD_BYTES, PARQUET, Detected, compression_of, detect
from replay.serve.store import Store, TraceRecord, new_id

DRAIN_BYTES = 64 << 20          # read and dropped past the limit, so the client reads the 413
FORM_OVERHEAD = 1 << 20         # a form's fields and part headers beside its file
MAX_FIELD_BYTES = 64 << 10
MAX_FIELDS = 200
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".lzma", ".zst", ".zstd", ".lz4")


class UploadRefused(Exception):
    """An upload the server will not take: ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass
class Upload:
    path: Path | None                 # the body's file on disk; None when no file was sent
    filename: str                     # the client's name for it (display only)
    size: int
    fields: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[-1] if values else default

    def getlist(self, name: str) -> list[str]:
        return list(self.fields.get(name, []))

    def __contains__(self, name: str) -> bool:
        return name in self.fields

    def discard(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


def display_name(filename: str) -> str:
    """What to call an uploaded file: the last part of the client's name, without control
    characters, at most 120 characters; never a path."""
    name = re.split(r"[/\\]", filename or "")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    name = name.lstrip(".").strip() or "upload"
    return name[:120]


def trace_stem(name: str) -> str:
    """The name a trace gets from its upload's name: ``app`` for ``app.lackey.gz``;
    letters, digits, '.', '_' and '-' only (for the report's title and the command line)."""
    stem = name
    for suffix in COMPRESSED_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    for _ in range(2):
        base, dot, ext = stem.rpartition(".")
        if dot and base and re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,15}", ext):
            stem = base
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-")
    return stem[:80] or "trace"


def _part_file(folder: Path):
    path = folder / f"{secrets.token_hex(8)}.part"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return path, os.fdopen(fd, "wb")


def _too_large(limit: int) -> UploadRefused:
    from replay.units import format_size
    return UploadRefused(413, f"the upload is larger than this server's limit of "
                         f"{format_size(limit)} (replay serve --max-upload)")


def _no_space(e: OSError) -> UploadRefused:
    return UploadRefused(507, f"the server cannot store the upload ({e.strerror})")


class _Sink:
    """The file part: bytes to disk until the limit, then dropped."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder = folder
        self.limit = limit
        self.path: Path | None = None
        self.file = None
        self.size = 0
        self.over = False
        self.pending: list[bytes] = []

    def open(self) -> None:
        self.path, self.file = _part_file(self.folder)

    def add(self, data: bytes) -> None:
        self.size += len(data)
        if self.over:
            return
        if self.size > self.limit:
            self.over = True
            self.pending.clear()
            self.drop()
            return
        self.pending.append(data)

    async def flush(self) -> None:
        if self.pending and self.file is not None:
            data = b"".join(self.pending)
            self.pending.clear()
            try:
                await anyio.to_thread.run_sync(self.file.write, data)
            except OSError as e:
                self.drop()
                raise _no_space(e) from None

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def drop(self) -> None:
        self.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


async def receive(request: Request, folder: Path, limit: int) -> Upload:
    """The request's upload, its file on disk (UploadRefused: 400, 413, 507)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            declared_bytes = int(declared)
        except ValueError:
            raise UploadRefused(400, "Content-Length is not a number") from None
        if declared_bytes > limit + FORM_OVERHEAD + DRAIN_BYTES:
            raise _too_large(limit)
    ctype = request.headers.get("content-type", "")
    if ctype.lower().startswith("multipart/form-data"):
        return await _receive_multipart(request, folder, limit, ctype)
    return await _receive_body(request, folder, limit)


async def _drain(stream, sink: _Sink, limit: int) -> None:
    """Past the limit: read and drop the rest of the body, DRAIN_BYTES at most."""
    dropped = 0
    async for chunk in stream:
        dropped += len(chunk)
        if dropped > DRAIN_BYTES:
            break
    raise _too_large(limit)


async def _receive_body(request: Request, folder: Path, limit: int) -> Upload:
    sink = _Sink(folder, limit)
    sink.open()
    stream = request.stream()
    try:
        async for chunk in stream:
            sink.add(chunk)
            if sink.over:
                await _drain(stream, sink, limit)
            if sum(map(len, sink.pending)) >= 1 << 20:
                await sink.flush()
        await sink.flush()
    except BaseException:
        sink.drop()
        raise
    sink.close()
    fields = {k: request.query_params.getlist(k) for k in request.query_params}
    return Upload(sink.path, request.query_params.get("name", ""), sink.size, fields)


async def _receive_multipart(request: Request, folder: Path, limit: int,
                             ctype: str) -> Upload:
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(ctype)
    boundary = params.get(b"boundary")
    if not boundary:
        raise UploadRefused(400, "multipart form without a boundary")
    sink = _Sink(folder, limit)
    fields: dict[str, list[str]] = {}
    state = {"headers": [], "name": "", "filename": None, "data": bytearray(),
             "header_name": b"", "header_value": b"", "files": 0, "fields": 0}

    def on_part_begin() -> None:
        state.update(headers=[], name="", filename=None, data=bytearray())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header_name"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["header_value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"].append((state["header_name"].lower(), state["header_value"]))
        state["header_name"], state["header_value"] = b"", b""

    def on_headers_finished() -> None:
        disposition = dict(state["headers"]).get(b"content-disposition", b"")
        _, options = parse_options_header(disposition)
        if b"name" not in options:
            raise UploadRefused(400, "a form part without a name")
        state["name"] = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            state["files"] += 1
            if state["files"] > 1:
                raise UploadRefused(400, "one file per upload")
            state["filename"] = options[b"filename"].decode("utf-8", "replace")
            sink.open()
        else:
            state["fields"] += 1
            if state["fields"] > MAX_FIELDS:
                raise UploadRefused(400, f"more than {MAX_FIELDS} form fields")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["filename"] is not None:
            sink.add(data[start:end])
        else:
            state["data"] += data[start:end]
            if len(state["data"]) > MAX_FIELD_BYTES:
                raise UploadRefused(400, f"form field {state['name']!r} is longer than "
                                    f"{MAX_FIELD_BYTES // 1024} KiB")

    def on_part_end() -> None:
        if state["filename"] is None:
            fields.setdefault(state["name"], []).append(
                bytes(state["data"]).decode("utf-8", "replace"))
        else:
            fields.setdefault(state["name"], []).append(state["filename"])

    parser = MultipartParser(boundary, {
        "on_part_begin": on_part_begin, "on_part_data": on_part_data,
        "on_part_end": on_part_end, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished})
    stream = request.stream()
    try:
        async for chunk in stream:
            try:
                parser.write(chunk)
            except FormParserError:
                raise UploadRefused(400, "malformed multipart form data") from None
            if sink.over:
                await _drain(stream, sink, limit)
            await sink.flush()
        try:
            parser.finalize()
        except FormParserError:
            raise UploadRefused(400, "malformed multipart form data") from None
    except BaseException:
        sink.drop()
        raise
    sink.close()
    filename = fields.get("file", [""])[-1] if state["files"] else ""
    if sink.path is not None and sink.size == 0 and not filename:
        sink.drop()                       # the form's file field, left empty
    return Upload(sink.path, filename, sink.size, fields)


# ---------------------------------------------------------------- import


def _renamed(e: ReplayError, names: dict[str, str]) -> ReplayError:
    """``e`` naming the user's file instead of the server's."""
    path = names.get(e.path, "the server's copy") if e.path is not None else None
    return type(e)(e.message, path=path, fmt=e.fmt, line=e.line, record=e.record)


def import_upload(store: Store, upload: Upload, *, fmt: str = "auto", options: str = "",
                  description: str = "") -> TraceRecord:
    """Import an upload as a canonical trace in the store (TraceError, SettingsError: one
    line naming the user's file). The upload's file is gone afterwards either way."""
    from replay.importers import FORMATS, run_import
    from replay.serve.settings import import_options
    from replay.trace import open_trace, sidecar_paths

    name = display_name(upload.filename)
    try:
        if upload.path is None or upload.size == 0:
            raise TraceError("file is empty", path=name)
        fmt = (fmt or "auto").strip()
        if fmt not in ("auto", PARQUET, *FORMATS):
            raise SettingsError(f"unknown trace format {fmt!r} (known: auto, {PARQUET}, "
                                f"{', '.join(sorted(FORMATS))})")
        with open(upload.path, "rb") as f:
            head = f.read(HEAD_BYTES)
        found = (detect(head, name) if fmt == "auto"
                 else Detected(fmt, None if fmt == PARQUET else compression_of(head)))
        args, given = import_options(options)
        if description.strip():
            given.setdefault("description", description.strip())
        if found.format == PARQUET and args:
            raise SettingsError("import options do not apply to a canonical (Parquet) trace")
        src = upload.path
        if found.compression:
            src = upload.path.with_suffix(f".part.{found.compression}")
            os.replace(upload.path, src)
            upload.path = src
        trace_id = new_id()
        out = store.trace_path(trace_id)
        try:
            if found.format == PARQUET:
                for _ in open_trace(src).iter_chunks():
                    pass                             # every row checked now: one line
                os.replace(src, out)
                upload.path = None
            else:
                run_import(found.format, src, out, given)
            trace = open_trace(out)
            if trace.num_accesses == 0:
                raise TraceError("holds no accesses", path=name, fmt=found.format)
            accesses = int(trace.num_accesses)
        except ReplayError as e:
            for p in (out, *sidecar_paths(out)):
                p.unlink(missing_ok=True)
            raise _renamed(e, {str(src): name, str(out): "the server's copy"}) from None
        rec = TraceRecord(trace_id, name, found.format, found.compression, args, upload.size,
                          accesses, description.strip(), time.time())
        store.add_trace(rec)
        return rec
    finally:
        upload.discard()
