"""Measuring this machine for a cost model (the work behind ``replay calibrate``).

Codec timings: every codec compresses and decompresses a corpus of buffers
(single pages and 4- and 16-page units, so input sizes vary and the fit can
tell per-call from per-byte cost). Each buffer is timed as the minimum over
``rounds`` of the mean of back-to-back calls (the minimum drops interference
from the other core), then ``time = a + b*in_bytes + c*out_bytes`` is fitted
by non-negative least squares on relative errors (scipy ``lsq_linear``): a
1 us page matters as much as a 100 us unit. The intercept includes the
Python call overhead of the binding; ``python_call_ns`` (the same loop around
``len``) is measured and subtracted from ``a`` so the model holds the codec's
own cost.

Memory costs: memset/memcpy bandwidth, and the first-touch fault of an
order-0 anonymous page (mmap + MADV_NOHUGEPAGE, one write per page, minus the
same writes to present pages).
"""

from __future__ import annotations

import datetime
import mmap
import os
import platform
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import lsq_linear

from replay.costs.codecs import get_codec
from replay.costs.content import class_page
from replay.costs.model import FORMAT, FORMAT_VERSION
from replay.costs.params import DEFAULT_PARAMS
from replay.trace import CONTENT_CLASSES, PAGE_SIZE, Trace

CORPUS_CLASSES = ("zero", "random", "text", "half", "mixed", "code")
UNIT_SIZES = (1, 4, 16)


@dataclass
class Sample:
    """One buffer of the corpus."""

    label: str           # content class or "recorded"
    npages: int
    data: bytes


@dataclass
class Fit:
    a_ns: float
    b_ns_per_in_byte: float
    c_ns_per_out_byte: float
    r2: float
    median_rel_residual: float
    max_rel_residual: float
    samples: int
    a_fit_ns: float      # intercept before subtracting the Python call overhead

    def to_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in vars(self).items()}


def corpus(samples_per_class: int = 6, trace: Trace | None = None,
           seed: int = 1) -> list[Sample]:
    """Buffers to time: generated class pages, or pages of ``trace`` (real bytes first)."""
    out: list[Sample] = []
    rng = np.random.default_rng(seed)
    if trace is not None:
        table = trace.contents()
        if table is not None and table.num_rows:
            data = [d for d in table.column("data").to_pylist() if d is not None]
            if data:
                pick = rng.permutation(len(data))[:samples_per_class * 16]
                pages = [data[i] for i in pick]
                for units in UNIT_SIZES:
                    for k in range(0, min(len(pages), samples_per_class * units), units):
                        chunk = pages[k:k + units]
                        if len(chunk) == units:
                            out.append(Sample("recorded", units, b"".join(chunk)))
            classes = sorted({str(c) for c in table.column("content_class").to_pylist()}
                             - {"unknown"})
        else:
            classes = []
        if not out and not classes:
            classes = ["unknown"]
    else:
        classes = list(CORPUS_CLASSES)
    for cls in classes:
        if cls not in CONTENT_CLASSES:
            continue
        for units in UNIT_SIZES:
            for _ in range(samples_per_class):
                first = int(rng.integers(0, 1 << 16)) * units
                out.append(Sample(cls, units, b"".join(class_page(cls, first + i)
                                                       for i in range(units))))
    return out


def _time_call(f: Callable, arg, budget_ns: int, rounds: int) -> float:
    """Minimum over rounds of the mean ns of back-to-back ``f(arg)`` calls."""
    t0 = time.perf_counter_ns()
    f(arg)
    one = max(1, time.perf_counter_ns() - t0)
    reps = max(1, min(10000, budget_ns // one))
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(reps):
            f(arg)
        best = min(best, (time.perf_counter_ns() - t0) / reps)
    return best


def python_call_ns(rounds: int = 5) -> float:
    """Cost of the timing loop around a trivial C call (subtracted from the intercepts)."""
    buf = bytes(PAGE_SIZE)
    return _time_call(len, buf, 200_000, rounds)


def fit_linear(in_bytes: np.ndarray, out_bytes: np.ndarray, t_ns: np.ndarray,
               overhead_ns: float = 0.0) -> Fit:
    """Non-negative least squares of t = a + b*in + c*out on relative residuals."""
    x = np.c_[np.ones(len(t_ns)), in_bytes, out_bytes].astype(float)
    w = 1.0 / np.maximum(t_ns, 1.0)
    scale = np.array([1.0, 1e-3, 1e-3])        # condition the columns (ns vs ns/KB)
    res = lsq_linear(x * w[:, None] * scale, t_ns * w, bounds=(0, np.inf))
    coef = res.x * scale
    pred = x @ coef
    ss_res = float(((t_ns - pred) ** 2).sum())
    ss_tot = float(((t_ns - t_ns.mean()) ** 2).sum())
    rel = np.abs(pred - t_ns) / np.maximum(t_ns, 1.0)
    return Fit(a_ns=max(0.0, float(coef[0]) - overhead_ns), b_ns_per_in_byte=float(coef[1]),
               c_ns_per_out_byte=float(coef[2]),
               r2=1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0,
               median_rel_residual=float(np.median(rel)), max_rel_residual=float(rel.max()),
               samples=len(t_ns), a_fit_ns=float(coef[0]))


def measure_codec(key: str, samples: list[Sample], overhead_ns: float, rounds: int = 3,
                  budget_ns: int = 200_000) -> dict:
    """Timings, fits and ratios of one codec over the corpus."""
    codec = get_codec(key)
    rows = []
    for s in samples:
        blob = codec.compress_call(s.data)
        out = len(blob) - codec.header_bytes
        dec = codec.decompressor(len(s.data))
        tc = _time_call(codec.compress_call, s.data, budget_ns, rounds)
        td = _time_call(dec, blob, budget_ns, rounds)
        rows.append((s.label, s.npages, len(s.data), out, tc, td))
    arr = np.array([r[2:] for r in rows], float)
    comp = fit_linear(arr[:, 0], arr[:, 1], arr[:, 2], overhead_ns)
    decomp = fit_linear(arr[:, 1], arr[:, 0], arr[:, 3], overhead_ns)
    per_class: dict[str, dict] = {}
    for label in dict.fromkeys(r[0] for r in rows):
        for units in UNIT_SIZES:
            sel = [r for r in rows if r[0] == label and r[1] == units]
            if not sel:
                continue
            d = per_class.setdefault(label, {})
            d[f"{units * 4}k"] = {
                "ratio": round(sum(r[2] for r in sel) / max(1, sum(r[3] for r in sel)), 3),
                "compress_us": round(max(0.0, float(np.mean([r[4] for r in sel])) - overhead_ns)
                                     / 1000, 3),
                "decompress_us": round(max(0.0, float(np.mean([r[5] for r in sel])) - overhead_ns)
                                       / 1000, 3),
            }
    return {"library": codec.library, "note": codec.note, "compress": comp.to_dict(),
            "decompress": decomp.to_dict(), "per_class": per_class}


def memory_bandwidth_ns_per_kib(nbytes: int = 64 << 20, rounds: int = 3) -> tuple[float, float]:
    """(memset, memcpy) ns per KiB on buffers larger than the caches."""
    a = np.ones(nbytes, np.uint8)
    b = np.ones(nbytes, np.uint8)
    best_set = best_cpy = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        a.fill(0)
        t1 = time.perf_counter_ns()
        np.copyto(b, a)
        t2 = time.perf_counter_ns()
        best_set = min(best_set, (t1 - t0) / (nbytes / 1024))
        best_cpy = min(best_cpy, (t2 - t1) / (nbytes / 1024))
    return best_set, best_cpy


def anon_fault_ns(nbytes: int = 64 << 20, rounds: int = 3) -> float:
    """Cost of the first write to an order-0 anonymous page, minus a write to a present page."""
    npages = nbytes // PAGE_SIZE
    best = float("inf")
    for _ in range(rounds):
        m = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        try:
            if hasattr(mmap, "MADV_NOHUGEPAGE"):
                m.madvise(mmap.MADV_NOHUGEPAGE)
            view = np.frombuffer(m, np.uint8)
            t0 = time.perf_counter_ns()
            view[::PAGE_SIZE] = 1                 # faults
            t1 = time.perf_counter_ns()
            view[::PAGE_SIZE] = 2                 # present
            t2 = time.perf_counter_ns()
            del view
            best = min(best, ((t1 - t0) - (t2 - t1)) / npages)
        finally:
            m.close()
    return best


def cpu_ghz() -> float | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) / 1000.0
    except (OSError, ValueError):
        return None
    return None


def machine_info() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "cpus": os.cpu_count(), "kernel": platform.release(),
            "python": platform.python_version()}


def calibrate(codec_keys: Iterable[str], samples: list[Sample], corpus_name: str, *,
              rounds: int = 3, measure_memory: bool = True,
              progress: Callable[[str], None] | None = None) -> dict:
    """Measure everything and return the cost-model JSON document."""
    say = progress or (lambda msg: None)
    say("python call overhead")
    overhead = python_call_ns()
    codecs = {}
    for key in codec_keys:
        say(f"codec {key}")
        codecs[get_codec(key).key] = measure_codec(key, samples, overhead, rounds=rounds)
    params = {name: dict(p) for name, p in DEFAULT_PARAMS.items()}
    ghz = cpu_ghz()
    if ghz:
        params["cpu_ghz"]["value"] = round(ghz, 3)
    else:
        params["cpu_ghz"]["kind"] = "estimate"
    if measure_memory:
        say("memory bandwidth and anonymous faults")
        set_kib, cpy_kib = memory_bandwidth_ns_per_kib()
        params["clear_page_ns_per_kib"]["value"] = round(set_kib, 2)
        params["copy_ns_per_kib"]["value"] = round(cpy_kib, 2)
        params["anon_fault_4k_ns"]["value"] = round(anon_fault_ns(), 1)
    else:
        for name in ("clear_page_ns_per_kib", "copy_ns_per_kib", "anon_fault_4k_ns"):
            params[name]["kind"] = "estimate"
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "corpus": corpus_name,
        "python_call_ns": round(overhead, 1),
        "fit": "time_ns = a_ns + b_ns_per_in_byte * in_bytes + c_ns_per_out_byte * out_bytes; "
               "decompress: in = compressed bytes, out = uncompressed bytes",
        "codecs": codecs,
        "params": params,
    }
