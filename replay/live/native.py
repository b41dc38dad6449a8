"""The native replayer: building it (cached by source hash) and exporting a trace for it.

The export is a compact binary file (layout in replay/native/replayer.c):
one u32 per access (dense page id << 2 | op: ``Trace.dense_ids`` keep the
2 MiB alignment, so folio boundaries in the replayed region are the
trace's), a content id per page into a table of distinct 4 KiB pages, and
a MADV_HUGEPAGE flag per 2 MiB block. Page contents are resolved exactly as
the simulator resolves them (replay.costs.sizes: recorded bytes, else the
sample page ``(vpn + 7919 * asid) % 512`` of the page's content class, the
lowest version winning), so the kernel compresses the bytes the model does.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from replay.costs import sizes as _sizes
from replay.costs.content import SAMPLE_PAGES, class_page
from replay.errors import TraceError
from replay.live.runner import CommandRunner, LiveError
from replay.trace import BLOCK_PAGES, BLOCK_SHIFT, CONTENT_CLASSES, PAGE_SIZE, Trace

MAGIC = b"FRPLAY02"
FORMAT_VERSION = 2
HEADER = struct.Struct("<8sII7Q")
CFLAGS = ("-O2", "-std=gnu11", "-Wall", "-Wextra")
MAX_PAGES = 1 << 30                 # dense ids are 30 bits in a record
ZERO_CONTENT = 0xFFFFFFFF
ZERO_CLASS = CONTENT_CLASSES.index("zero")


def replayer_source() -> Path:
    return Path(__file__).resolve().parent.parent / "native" / "replayer.c"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "folio-replay"


def build_replayer(runner: CommandRunner | None = None, *, cc: str | None = None,
                   cache: Path | None = None) -> Path:
    """The replayer binary for the current source, compiled with ``cc`` on first use."""
    runner = runner or CommandRunner()
    src = replayer_source()
    digest = hashlib.sha256(src.read_bytes() + " ".join(CFLAGS).encode()).hexdigest()[:16]
    out_dir = cache or cache_dir()
    out = out_dir / f"replayer-{digest}"
    if out.is_file() and os.access(out, os.X_OK):
        return out
    cc = cc or os.environ.get("CC") or "cc"
    if shutil.which(cc) is None:
        raise LiveError(f"no C compiler: replay validate builds its native replayer with `{cc}` "
                        "on first use (install gcc, or set CC)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LiveError(f"{out_dir}: cannot create the build cache ({e.strerror})") from None
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    try:
        runner.run([cc, *CFLAGS, "-o", str(tmp), str(src)], timeout_s=300)
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)
        for old in out_dir.glob("replayer-*"):       # builds of older sources
            if old != out and len(old.name) == len("replayer-") + 16:
                old.unlink(missing_ok=True)
    except LiveError as e:
        raise LiveError(f"building the replayer failed: {e.message}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


@dataclass
class ExportSummary:
    """What went into a replay file."""

    path: Path
    records: int
    pages: int                      # dense pages = mapped region / 4 KiB
    contents: int                   # distinct non-zero page contents in the file
    data_pages: int                 # pages with recorded bytes
    hugepage_blocks: int            # 2 MiB blocks with MADV_HUGEPAGE asked
    class_pages: dict               # content class -> dense pages of it (recorded ones apart)

    @property
    def region_bytes(self) -> int:
        return self.pages * PAGE_SIZE


def page_contents(trace: Trace) -> tuple[np.ndarray, list[bytes], dict]:
    """Per dense page a content id (ZERO_CONTENT for zero pages) and the distinct contents.

    Uses the simulator's own resolution of the contents sidecar
    (replay.costs.sizes), so both sides see the same bytes in every page.
    """
    n = trace.num_dense_pages
    cls, data_idx, data_list = _sizes._resolve_contents(trace)
    blocks = trace.block_table()
    dense = np.arange(n, dtype=np.int64)
    bkey = blocks[dense >> BLOCK_SHIFT]
    vpn = ((bkey & ((1 << 43) - 1)) << BLOCK_SHIFT) | (dense & (BLOCK_PAGES - 1))
    sample = (vpn + _sizes._ASID_MIX * (bkey >> 43)) % SAMPLE_PAGES
    gen_class = _sizes._GEN_CLASS[cls]
    ngen = len(CONTENT_CLASSES) * SAMPLE_PAGES
    keys = np.where(data_idx >= 0, ngen + data_idx.astype(np.int64),
                    gen_class * SAMPLE_PAGES + sample)
    zero = (data_idx < 0) & (gen_class == ZERO_CLASS)
    uniq, inverse = np.unique(keys[~zero], return_inverse=True)
    ids = np.full(n, ZERO_CONTENT, np.uint32)
    ids[~zero] = inverse.astype(np.uint32)
    contents = []
    for k in uniq.tolist():
        if k >= ngen:
            contents.append(data_list[k - ngen])
        else:
            c, i = divmod(k, SAMPLE_PAGES)
            contents.append(class_page(CONTENT_CLASSES[c], i))
    counts = np.bincount(cls[data_idx < 0].astype(np.int64), minlength=len(CONTENT_CLASSES))
    summary = {CONTENT_CLASSES[i]: int(v) for i, v in enumerate(counts) if v}
    if (data_idx >= 0).any():
        summary["recorded"] = int((data_idx >= 0).sum())
    return ids, contents, summary


def _hugepage_blocks(trace: Trace, blocks: np.ndarray, hugepage_all: bool = False
                     ) -> np.ndarray:
    """Per touched 2 MiB block: does a region asking MADV_HUGEPAGE cover any of it (every
    block when the trace has no regions sidecar, or with ``hugepage_all``: the model is
    told the same)."""
    from replay.engine import page_layout
    hint = page_layout(trace, hugepage_default=True, hugepage_all=hugepage_all,
                       block_mappings=True)[2]
    return hint.reshape(len(blocks), BLOCK_PAGES).max(axis=1).astype(np.uint8)


def _align(n: int, a: int) -> int:
    return -(-n // a) * a


def export_replay_file(trace: Trace, out_path: str | os.PathLike, *,
                       hugepage_all: bool = False) -> ExportSummary:
    """Write the replayer's input for ``trace`` to ``out_path`` (temp + rename);
    ``hugepage_all``: MADV_HUGEPAGE on every block, whatever its regions say."""
    out_path = Path(out_path)
    blocks = trace.block_table()
    n_pages = len(blocks) * BLOCK_PAGES
    if n_pages >= MAX_PAGES:
        raise TraceError(f"{len(blocks)} distinct 2 MiB blocks are more than the replayer "
                         f"maps ({MAX_PAGES >> 18} GiB)", path=trace.path, fmt=trace.FMT)
    n_records = trace.num_accesses
    ids, contents, class_pages = page_contents(trace)
    huge = _hugepage_blocks(trace, blocks, hugepage_all)

    records_off = _align(HEADER.size, 64)
    content_ids_off = _align(records_off + 4 * n_records, 64)
    hugepage_off = content_ids_off + 4 * n_pages
    contents_off = _align(hugepage_off + len(blocks), PAGE_SIZE)

    tmp = out_path.with_name(f".{out_path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(HEADER.pack(MAGIC, FORMAT_VERSION, HEADER.size, n_records, n_pages,
                                len(contents), records_off, content_ids_off, hugepage_off,
                                contents_off))
            f.seek(records_off)
            written = 0
            for chunk in trace.iter_chunks():
                rec = (trace.dense_ids(chunk) << 2) | chunk.op.astype(np.int64)
                f.write(rec.astype("<u4").tobytes())
                written += len(rec)
            if written != n_records:
                raise TraceError(f"{written} accesses read, metadata says {n_records}",
                                 path=trace.path, fmt=trace.FMT)
            f.seek(content_ids_off)
            f.write(ids.astype("<u4").tobytes())
            f.write(huge.tobytes())
            f.seek(contents_off)
            f.writelines(contents)
        os.replace(tmp, out_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return ExportSummary(path=out_path, records=n_records, pages=n_pages,
                         contents=len(contents), data_pages=class_pages.get("recorded", 0),
                         hugepage_blocks=int(huge.sum()), class_pages=class_pages)


def read_replay_file(path: str | os.PathLike) -> dict:
    """A replay file's header and tables as numpy arrays (for tests and debugging)."""
    raw = Path(path).read_bytes()
    names = ("magic", "version", "header_bytes", "n_records", "n_pages", "n_contents",
             "records_off", "content_ids_off", "hugepage_off", "contents_off")
    h = dict(zip(names, HEADER.unpack_from(raw)))
    out = dict(h)
    out["records"] = np.frombuffer(raw, "<u4", h["n_records"], h["records_off"])
    out["content_ids"] = np.frombuffer(raw, "<u4", h["n_pages"], h["content_ids_off"])
    out["hugepage"] = np.frombuffer(raw, np.uint8, h["n_pages"] // BLOCK_PAGES,
                                    h["hugepage_off"])
    out["contents"] = [raw[h["contents_off"] + i * PAGE_SIZE:
                           h["contents_off"] + (i + 1) * PAGE_SIZE]
                       for i in range(h["n_contents"])]
    return out
