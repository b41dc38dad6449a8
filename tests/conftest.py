"""Shared fixtures for the engine tests: small traces, hand-built traces, page contents."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from replay.engine import PageContents
from replay.gen import generate_to
from replay.trace import BLOCK_PAGES, TraceMeta, open_trace, write_trace

# ---------------------------------------------------------------- generated traces

@pytest.fixture(scope="session")
def gen_trace(tmp_path_factory):
    """``gen_trace(pattern, **kw)`` -> path of a generated trace, made once per session."""
    folder = tmp_path_factory.mktemp("gen")
    made: dict[tuple, Path] = {}

    def make(pattern: str, **kw) -> Path:
        key = (pattern, tuple(sorted(kw.items())))
        if key not in made:
            path = folder / f"{pattern}-{len(made)}.parquet"
            generate_to(path, pattern, **kw)
            made[key] = path
        return made[key]

    return make


@pytest.fixture(scope="session")
def seq_trace(gen_trace) -> Path:
    return gen_trace("seq", accesses=20_000, pages=3_000, seed=3)


@pytest.fixture(scope="session")
def zipf_trace(gen_trace) -> Path:
    return gen_trace("zipf", accesses=30_000, pages=6_000, seed=5)


@pytest.fixture(scope="session")
def swapin_trace(gen_trace) -> Path:
    return gen_trace("swapin-1g", size_bytes=8 << 20, seed=7)


@pytest.fixture(scope="session")
def phases_trace(gen_trace) -> Path:
    return gen_trace("phases", accesses=20_000, pages=4_000, seed=9, hugepage=False)


@pytest.fixture(scope="session")
def mixed_ops_trace(tmp_path_factory) -> Path:
    """Reads, writes, MADV_PAGEOUT and MADV_DONTNEED over three mappings (one with
    MADV_HUGEPAGE, one without, one not 64K aligned), in a second address space too."""
    rng = np.random.default_rng(11)
    base = 0x7F0000000
    n = 30_000
    # three regions: [base, base+700) hugepage; [base+1024, base+1024+301) plain;
    # [base+2000+3, base+2000+3+900) hugepage, unaligned start
    lo = np.array([base, base + 1024, base + 2003])
    size = np.array([700, 301, 900])
    which = rng.choice(3, n, p=[0.5, 0.2, 0.3])
    # locality: runs of neighbouring pages, with jumps
    jump = rng.random(n) < 0.05
    walk = np.cumsum(np.where(jump, rng.integers(0, 900, n), 1))
    vpn = lo[which] + walk % size[which]
    op = rng.choice(4, n, p=[0.55, 0.35, 0.06, 0.04]).astype(np.uint8)
    asid = (rng.random(n) < 0.15).astype(np.int32)
    path = tmp_path_factory.mktemp("mixed") / "mixed.parquet"
    regions = {"asid": np.r_[np.zeros(3, np.int32), np.ones(3, np.int32)],
                   "start_vpn": np.r_[lo, lo], "end_vpn": np.r_[lo + size, lo + size],
                   "hugepage": [True, False, True] * 2, "name": ["a", "b", "c"] * 2}
    contents = {"asid": [0, 0, 1], "vpn": [base, base + 1024, base], "npages": [700, 301, 700],
                    "version": [0, 0, 0], "content_class": ["text", "zero", "random"]}
    write_trace(path, TraceMeta(source_format="test", description="mixed ops"),
                np.arange(n, dtype=np.int64), vpn, op, asid, regions=regions, contents=contents)
    return path


# ---------------------------------------------------------------- hand-built traces

BASE_VPN = 0x7F0000000        # 2 MiB aligned: dense page id = offset from here


@dataclass
class HandTrace:
    path: Path
    contents: PageContents


@pytest.fixture
def hand_trace(tmp_path):
    """``hand_trace(events, comp_bytes=2048, zero=(), hugepage=True, blocks=1)`` -> HandTrace.

    ``events`` are (page offset, op) pairs in one mapping of ``blocks`` 2 MiB blocks
    (MADV_HUGEPAGE unless told), so a page's dense id is its offset. Every page
    compresses to ``comp_bytes``; pages in ``zero`` are zero-filled."""
    count = [0]

    def make(events, *, comp_bytes: int = 2048, zero=(), hugepage: bool = True,
             blocks: int = 1) -> HandTrace:
        pages = np.array([p for p, _ in events], np.int64)
        ops = np.array([o for _, o in events], np.uint8)
        assert pages.max() < blocks * BLOCK_PAGES
        path = tmp_path / f"hand{count[0]}.parquet"
        count[0] += 1
        write_trace(path, TraceMeta(source_format="test", description="hand-built"),
                    np.arange(len(pages), dtype=np.int64), BASE_VPN + pages, ops,
                    regions={"asid": [0], "start_vpn": [BASE_VPN],
                                 "end_vpn": [BASE_VPN + blocks * BLOCK_PAGES],
                                 "hugepage": [hugepage],
                                 "name": ["anon"]})
        n = open_trace(path).num_dense_pages
        is_zero = np.zeros(n, bool)
        is_zero[list(zero)] = True
        return HandTrace(path, PageContents(np.full(n, comp_bytes, np.int32), is_zero,
                                            "hand-set sizes"))

    return make


# ---------------------------------------------------------------- replay compare

@dataclass
class Compared:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    doc: dict
    html: Path


@pytest.fixture(scope="session")
def compared(tmp_path_factory, zipf_trace) -> Compared:
    """`replay compare` of the small Zipf trace at two memory limits (one a percent of its
    footprint): replayed in two worker processes (--jobs), run as its own process with
    stdout a pipe,
    writing the JSON document and the HTML report."""
    import json
    import subprocess
    import sys
    out = tmp_path_factory.mktemp("compare")
    argv = [sys.executable, "-m", "replay.cli", "compare", str(zipf_trace),
            "--memory-limit", "40%", "--memory-limit", "6M", "--jobs", "2",
            "--json", str(out / "zipf.json"), "--html", str(out / "zipf.html")]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    doc = json.loads((out / "zipf.json").read_text()) if p.returncode == 0 else {}
    return Compared(argv, p.returncode, p.stdout, p.stderr, doc, out / "zipf.html")


@pytest.fixture
def window_kinds(monkeypatch) -> list[str]:
    """Names of the window classes the csv importer got, in order."""
    from replay.importers import _csvcore as core
    kinds: list[str] = []
    real = core.iter_windows

    def spy(*args, **kwargs):
        for win in real(*args, **kwargs):
            kinds.append(type(win).__name__)
            yield win

    monkeypatch.setattr(core, "iter_windows", spy)
    return kinds
