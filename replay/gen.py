"""Synthetic traces for tests and demos (all vectorised, all seeded)."""

from __future__ import annotations

import numpy as np

from replay.errors import SettingsError
from replay.trace import (
    BLOCK_PAGES,
    CONTENT_CLASSES,
    OP_PAGEOUT,
    OP_READ,
    OP_WRITE,
    PAGE_SIZE,
    TraceMeta,
    write_trace,
)

PATTERNS = ("seq", "random", "zipf", "phases", "swapin-1g")
BASE_VPN = 0x7F0000000          # 0x7f0000000000 >> 12: 2 MiB aligned, like a large mmap
DEFAULT_CONTENT = "text=0.5,half=0.25,zero=0.1,random=0.15"


def parse_content_mix(text: str) -> dict[str, float]:
    """'text=0.5,zero=0.1,...' or a single class name -> normalised weights."""
    mix: dict[str, float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in CONTENT_CLASSES:
            raise SettingsError(f"content class {name!r} is not one of "
                                f"{', '.join(CONTENT_CLASSES)}")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise SettingsError(f"content weight {weight!r} is not a number") from None
        if w < 0:
            raise SettingsError(f"content weight for {name} is negative")
        mix[name] = mix.get(name, 0.0) + w
    total = sum(mix.values())
    if not mix or total <= 0:
        raise SettingsError(f"content mix {text!r} has no positive weight")
    return {k: v / total for k, v in mix.items()}


def _zipf_ranks(rng: np.random.Generator, n_items: int, n: int, alpha: float) -> np.ndarray:
    """Bounded Zipf(alpha) samples over 0..n_items-1 by inverse CDF (any alpha >= 0)."""
    weights = 1.0 / np.arange(1, n_items + 1, dtype=np.float64) ** alpha
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n)), n_items - 1)


def generate(pattern: str, *, accesses: int = 1_000_000, pages: int = 65536,
             size_bytes: int | None = None, seed: int = 1, write_fraction: float = 0.3,
             alpha: float = 1.0, phases: int = 8, hot_fraction: float = 0.125,
             content: str = DEFAULT_CONTENT, content_run_pages: int = 16,
             ns_per_access: int = 100, hugepage: bool = True) -> dict:
    """Build a trace in memory: a dict of arrays and metadata for ``write_trace``."""
    if pattern not in PATTERNS:
        raise SettingsError(f"pattern {pattern!r} is not one of {', '.join(PATTERNS)}")
    if size_bytes is not None:
        if size_bytes < PAGE_SIZE:
            raise SettingsError(f"size {size_bytes} is smaller than one page")
        pages = size_bytes // PAGE_SIZE
    if pages <= 0 or accesses <= 0:
        raise SettingsError("pages and accesses must be positive")
    if not 0.0 <= write_fraction <= 1.0:
        raise SettingsError(f"write fraction {write_fraction} is outside 0..1")
    if content_run_pages <= 0 or ns_per_access < 0:
        raise SettingsError("content run and ns per access must be positive")
    rng = np.random.default_rng(seed)
    desc = ""
    if pattern == "swapin-1g":
        if size_bytes is None:
            pages = (1 << 30) // PAGE_SIZE
        idx = np.arange(pages, dtype=np.int64)
        offsets = np.concatenate([idx, idx, idx])
        op = np.concatenate([np.full(pages, OP_WRITE, np.uint8),
                             np.full(pages, OP_PAGEOUT, np.uint8),
                             np.full(pages, OP_READ, np.uint8)])
        desc = (f"write {pages * PAGE_SIZE >> 20} MiB, MADV_PAGEOUT all of it, read it all back "
                "(the large-folio zswapin RFC microbenchmark)")
    else:
        if pattern == "seq":
            offsets = np.arange(accesses, dtype=np.int64) % pages
            desc = f"sequential loop over {pages} pages"
        elif pattern == "random":
            offsets = rng.integers(0, pages, accesses, dtype=np.int64)
            desc = f"uniform random over {pages} pages"
        elif pattern == "zipf":
            perm = rng.permutation(pages).astype(np.int64)
            offsets = perm[_zipf_ranks(rng, pages, accesses, alpha)]
            desc = f"Zipf({alpha}) over {pages} pages, hot pages scattered"
        else:  # phases
            if phases <= 0 or not 0 < hot_fraction <= 1:
                raise SettingsError("phases must be positive and hot fraction in (0, 1]")
            hot = max(1, int(pages * hot_fraction))
            phase = np.arange(accesses, dtype=np.int64) * phases // accesses
            start = phase * max(1, (pages - hot) // max(1, phases - 1))
            in_hot = rng.random(accesses) < 0.9
            offsets = np.where(in_hot, start + rng.integers(0, hot, accesses),
                               rng.integers(0, pages, accesses)) % pages
            desc = f"{phases} phases, hot set of {hot} of {pages} pages moving, 90% hot"
        op = (rng.random(accesses) < write_fraction).astype(np.uint8)
    n = len(offsets)
    vpn = BASE_VPN + offsets
    time_ns = np.arange(n, dtype=np.int64) * ns_per_access
    # content classes in runs (a 64K folio of one class can be all zero)
    mix = parse_content_mix(content)
    names = list(mix)
    runs = -(-pages // content_run_pages)
    cls = rng.choice(len(names), size=runs, p=[mix[k] for k in names])
    # merge neighbouring runs of the same class into one range
    starts = np.flatnonzero(np.r_[True, cls[1:] != cls[:-1]])
    ends = np.r_[starts[1:], runs]
    contents = {
        "asid": np.zeros(len(starts), np.int32),
        "vpn": BASE_VPN + starts * content_run_pages,
        "npages": np.minimum(ends * content_run_pages, pages) - starts * content_run_pages,
        "version": np.zeros(len(starts), np.int32),
        "content_class": [names[c] for c in cls[starts]],
    }
    mapped = -(-pages // BLOCK_PAGES) * BLOCK_PAGES
    regions = {"asid": [0], "start_vpn": [BASE_VPN], "end_vpn": [BASE_VPN + mapped],
               "hugepage": [hugepage], "name": ["anon"]}
    meta = TraceMeta(source_format="gen", source_file=pattern, recorder="replay gen",
                     description=desc, licence="CC0-1.0", time_source="recorded",
                     extra={"pattern": pattern, "seed": seed, "pages": pages,
                            "content_mix": content, "ns_per_access": ns_per_access})
    return {"meta": meta, "time_ns": time_ns, "vpn": vpn, "op": op, "regions": regions,
            "contents": contents}


def generate_to(path, pattern: str, **kw) -> None:
    """Generate and write a trace atomically."""
    t = generate(pattern, **kw)
    write_trace(path, t["meta"], t["time_ns"], t["vpn"], t["op"],
                regions=t["regions"], contents=t["contents"])
