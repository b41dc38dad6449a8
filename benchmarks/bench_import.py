"""Import speed, end to end: source file -> canonical Parquet trace.

Generates (in a temp folder) a 10 M-line lackey file and a 10 M-line CSV
(and 10 M-record oracleGeneral and ChampSim files, a 10 M-line perf script
of page faults, and with --formats csv-content the same CSV with a content
column of class names), imports each in this
process and prints lines (or records) per second. Python start-up is
excluded, and so is a first import of a small file of each format (the
modules' first load). The csv file is also imported with pyarrow.csv alone
(the byte scanner switched off), the comparison that keeps the scanner. The
machine is shared and noisy: each import runs --repeat times and the best is
shown. Target: >= 5 M lines/s (perf-script: >= 2 M lines/s).

    python benchmarks/bench_import.py [--lines 10000000] [--repeat 3] [--keep DIR]
                                      [--formats perf-script,lackey,...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from replay.importers import _csvcore, run_import
from replay.trace import open_trace

HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)
LINE_WIDTH = 24                # the longest line: 3 + 16 hex digits + ',' + 2 + '\n' = 23


def lackey_text(kind: np.ndarray, addr: np.ndarray, size: np.ndarray) -> bytes:
    """Lackey lines ('I  %08x,%d' / ' L %08x,%d' ...), sizes below 100, vectorised: each
    line laid out in a row of LINE_WIDTH bytes, then the rows' used bytes in order."""
    n = len(kind)
    rows = np.arange(n)
    ndigits = np.count_nonzero(addr[:, None] >> (4 * np.arange(16)) != 0, axis=1)
    nd = np.maximum(ndigits, 8)                   # at least 8 hex digits, as lackey prints
    text = np.zeros((n, LINE_WIDTH), np.uint8)
    text[:, 0] = np.where(kind == 0, ord("I"), ord(" "))
    text[:, 1] = np.choose(kind, [ord(" "), ord("L"), ord("S"), ord("M")])
    text[:, 2] = ord(" ")
    for j in range(16):                           # digit j of nd, most significant first
        shift = np.maximum(4 * (nd - 1 - j), 0)
        text[:, 3 + j] = np.where(j < nd, HEX_DIGITS[(addr >> shift) & 15], 0)
    at = 3 + nd
    text[rows, at] = ord(",")
    two = size >= 10
    text[rows, at + 1] = np.where(two, ord("0") + size // 10, ord("0") + size % 10)
    text[rows, at + 2] = np.where(two, ord("0") + size % 10, ord("\n"))
    text[rows[two], at[two] + 3] = ord("\n")
    used = np.arange(LINE_WIDTH) < (at + 2 + two)[:, None] + 1
    return text[used].tobytes()


def make_lackey(path: Path, lines: int, seed: int = 1) -> None:
    """A lackey-like file: 60% I, 28% L, 9% S, 3% M lines over a 256 MiB heap + a stack."""
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        f.write(b"==4242== Lackey, an example Valgrind tool\n"
                b"==4242== Command: ./synthetic\n==4242== \n")
        step = 1 << 21
        for s in range(0, lines, step):
            n = min(step, lines - s)
            kind = rng.choice(4, n, p=[0.60, 0.28, 0.09, 0.03]).astype(np.int64)
            heap = 0x55d4a0000000 + rng.integers(0, 1 << 28, n) & ~7
            stack = 0x7ffd5a000000 + rng.integers(0, 1 << 16, n) & ~7
            code = 0x401000 + rng.integers(0, 1 << 20, n)
            addr = np.where(kind == 0, code, np.where(rng.random(n) < 0.7, heap, stack))
            size = np.where(kind == 0, rng.integers(1, 16, n), 8).astype(np.int64)
            f.write(lackey_text(kind, addr.astype(np.int64), size))


def make_csv(path: Path, lines: int, seed: int = 1, content: bool = False) -> None:
    """time_ns,vpn,op,asid rows (the canonical columns, so no options are needed); with
    ``content``, a content column too: a class per 64-page run of each page number (the
    same page keeps its class), one cell in seven empty."""
    rng = np.random.default_rng(seed)
    classes = np.array(["zero", "random", "text", "half", "mixed", "code", ""])
    step = 1 << 21
    fields = [("time_ns", pa.int64()), ("vpn", pa.int64()), ("op", pa.string()),
              ("asid", pa.int32())] + ([("content", pa.string())] if content else [])
    with pacsv.CSVWriter(path, pa.schema(fields)) as w:
        for s in range(0, lines, step):
            n = min(step, lines - s)
            t = (np.arange(s, s + n, dtype=np.int64) * 100)
            vpn = 0x7F0000000 + rng.integers(0, 1 << 18, n)
            op = np.where(rng.random(n) < 0.3, "w", "r")
            asid = rng.integers(0, 4, n).astype(np.int32)
            cols = {"time_ns": t, "vpn": vpn, "op": op, "asid": asid}
            if content:
                cols["content"] = classes[(vpn // 64) % 7]
            w.write_table(pa.table(cols))


def make_csv_content(path: Path, lines: int, seed: int = 1) -> None:
    """make_csv's rows plus a content column."""
    make_csv(path, lines, seed, content=True)


def make_oraclegeneral(path: Path, records: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    rec = np.zeros(records, np.dtype([("t", "<u4"), ("id", "<u8"), ("sz", "<u4"),
                                      ("nx", "<i8")]))
    rec["t"] = np.sort(rng.integers(0, 7200, records))
    rec["id"] = rng.integers(0, 1 << 30, records)
    rec["sz"] = 4096
    rec["nx"] = -1
    rec.tofile(path)


def make_champsim(path: Path, records: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    rec = np.zeros((records, 8), np.uint64)
    rec[:, 0] = 0x401000 + rng.integers(0, 1 << 20, records)
    rec[:, 4] = np.where(rng.random(records) < 0.3, 0x55d4a0000000 +
                         rng.integers(0, 1 << 28, records), 0)
    rec[:, 2] = np.where(rng.random(records) < 0.1, 0x7ffd5a000000 +
                         rng.integers(0, 1 << 16, records), 0)
    rec.tofile(path)


def make_perf_script(path: Path, lines: int, seed: int = 1) -> None:
    """`perf script` output of exceptions:page_fault_user (perf's own layout), 3 processes."""
    rng = np.random.default_rng(seed)
    step = 1 << 20
    with open(path, "w") as f:
        f.write("# ========\n# cmdline : /usr/bin/perf record -e exceptions:page_fault_user "
                "-- ./synthetic\n# ========\n#\n")
        for s in range(0, lines, step):
            n = min(step, lines - s)
            addr = (0x7F0000000000 + rng.integers(0, 1 << 32, n)).tolist()
            err = rng.choice([0x4, 0x6, 0x14, 0x7], n).tolist()
            pid = rng.choice([4469, 4470, 4471], n).tolist()
            t = (425_000_000 + np.arange(s, s + n) * 7).tolist()
            f.write("".join(
                f"            prog {p:5d} [{i % 4:03d}] {us // 10**6:6d}.{us % 10**6:06d}: "
                f"exceptions:page_fault_user: address=0x{a:x} ip=0x{a - 77:x} "
                f"error_code=0x{e:x}\n"
                for i, (p, us, a, e) in enumerate(zip(pid, t, addr, err))))


def timed_import(fmt: str, src: Path, out: Path, options: dict | None = None,
                 scanner: bool = True) -> float:
    """Seconds of one import; ``scanner=False`` reads csv with pyarrow.csv alone."""
    usable = _csvcore._Scanner.usable
    if not scanner:
        _csvcore._Scanner.usable = staticmethod(lambda *args: False)
    try:
        t0 = time.perf_counter()
        run_import(fmt, src, out, dict(options or {}, progress=False))
        return time.perf_counter() - t0
    finally:
        _csvcore._Scanner.usable = usable


def count_lines(path: Path) -> int:
    n = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            n += block.count(b"\n")
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--keep", type=Path, help="generate into (and keep) this folder")
    ap.add_argument("--repeat", type=int, default=3, help="imports per format (best is shown)")
    ap.add_argument("--formats", default="lackey,csv,oraclegeneral,champsim,perf-script",
                    help="comma-separated formats to measure")
    args = ap.parse_args()
    wanted = set(args.formats.split(","))
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench-import-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        files = {
            "lackey": (tmp / "big.lackey", make_lackey, {}),
            "csv": (tmp / "big.csv", make_csv, {}),
            "csv-content": (tmp / "big-content.csv", make_csv_content, {}),
            "oraclegeneral": (tmp / "big.oracleGeneral.bin", make_oraclegeneral, {}),
            "champsim": (tmp / "big.champsim", make_champsim, {}),
            "perf-script": (tmp / "big.perf.txt", make_perf_script, {}),
        }
        files = {k: v for k, v in files.items() if k in wanted}
        for path, make, _opts in files.values():
            if not path.exists():
                t0 = time.perf_counter()
                make(path, args.lines)
                print(f"generated {path.name}: {path.stat().st_size / 1e6:.0f} MB "
                      f"in {time.perf_counter() - t0:.1f} s")
        print(f"{'format':<20} {'lines':>12} {'best s':>8} {'median s':>9} "
              f"{'M lines/s':>10} {'accesses':>12}   (best of {args.repeat})")
        runs = [(fmt, fmt, True) for fmt in files]
        if "csv" in files:
            runs.insert(runs.index(("csv", "csv", True)) + 1, ("csv (pyarrow.csv)", "csv", False))
        for label, fmt, scanner in runs:
            path, make, opts = files[fmt]
            reader = "csv" if fmt == "csv-content" else fmt
            small = tmp / f"small.{fmt}"
            make(small, 1000)
            timed_import(reader, small, tmp / "small.parquet", opts, scanner)   # warm-up
            lines = count_lines(path) if reader in ("lackey", "csv", "perf-script") \
                else args.lines
            out = tmp / f"{fmt}.parquet"
            times = sorted(timed_import(reader, path, out, opts, scanner)
                           for _ in range(args.repeat))
            acc = open_trace(out).num_accesses
            best = times[0]
            print(f"{label:<20} {lines:>12,} {best:>8.2f} {times[len(times) // 2]:>9.2f} "
                  f"{lines / best / 1e6:>10.2f} {acc:>12,}", flush=True)
            out.unlink()
            out.with_name(out.stem + ".contents.parquet").unlink(missing_ok=True)
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"(cpu count {os.cpu_count()})")


if __name__ == "__main__":
    main()
