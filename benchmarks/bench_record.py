"""What `replay record` costs the recorded program, and how a pageout trace compares with
the exact lackey trace of the same program (docs/recording.md).

    sudo python benchmarks/bench_record.py [--mib 64] [--rounds 20] [--iters 50000000]
        [--sleep-us 0] [--runs 3] [--intervals 20,100,500] [--no-lackey] [--out DIR]
        [--json FILE]

Builds benchmarks/record_workload.c, then times it (its own CLOCK_MONOTONIC time, main
to end): bare, under `replay record --method pageout` at each interval, and under
`--method lackey`. The last trace of each method is then compared, on the workload's
buffer (its address is in the workload's output): accesses, distinct pages, reads and
writes, per round (a marker page written at the start of each round shows where it
starts, in both traces), per pageout interval; and each trace is replayed with
`replay run` under the same settings. Needs root (pageout) and valgrind (lackey).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RUN_SETTINGS = ["--memory-limit", "32M", "--backend", "zram", "--compressor", "lz4",
                "--mthp", "none", "--policy", "mainline"]
COUNTERS = ("pgfault", "pgmajfault", "swap-ins", "swap-outs", "swpout_zero",
            "workingset_refault_anon", "workingset_activate_anon")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def workload_cmd(binary: Path, a, out: Path) -> list[str]:
    return [str(binary), str(a.mib), str(a.rounds), str(a.iters), str(a.sleep_us), str(out)]


def read_out(path: Path) -> dict:
    elapsed, buf, marker, _ = path.read_text().split()
    return {"elapsed_s": int(elapsed) / 1e9, "buf": int(buf, 16) >> 12,
            "marker": int(marker, 16) >> 12}


def record(method: str, interval: int | None, cmd: list[str], trace: Path) -> float:
    argv = [sys.executable, "-m", "replay.cli", "record", "--no-progress", "--method", method,
            "-o", str(trace)]
    if interval is not None:
        argv += ["--interval", str(interval)]
    busy = ("is in use", "another replay", "swap is already on")
    give_up = time.monotonic() + 3600
    while True:
        t0 = time.monotonic()
        p = subprocess.run(argv + ["--", *cmd], capture_output=True, text=True, check=False)
        wall = time.monotonic() - t0
        if p.returncode == 0:
            return wall
        if p.returncode == 2 and any(b in p.stderr for b in busy) and \
                time.monotonic() < give_up:      # another session has zram0: wait for it
            print(f"  waiting: {p.stderr.strip()}", flush=True)
            time.sleep(15)
            continue
        raise SystemExit(f"replay record failed ({p.returncode}): {p.stderr.strip()}")


def analyse(trace: Path, out: dict, a) -> dict:
    from replay.trace import open_trace
    t = open_trace(trace)
    chunks = list(t.iter_chunks())
    vpn = np.concatenate([c.vpn for c in chunks])
    op = np.concatenate([c.op for c in chunks])
    tm = np.concatenate([c.time_ns for c in chunks])
    npages = a.mib * 256
    buf = (vpn >= out["buf"]) & (vpn < out["buf"] + npages)
    marks = (vpn >= out["marker"]) & (vpn < out["marker"] + a.rounds + 1)
    # round r runs from the first access to marker page r to the first one of page r + 1
    first_mark = {}
    for i in np.flatnonzero(marks).tolist():
        first_mark.setdefault(int(vpn[i] - out["marker"]), i)
    bounds = [first_mark.get(r) for r in range(a.rounds + 1)]
    per_round = []
    if all(b is not None for b in bounds):
        for r in range(a.rounds):
            sel = np.flatnonzero(buf[bounds[r]:bounds[r + 1]]) + bounds[r]
            per_round.append({"accesses": len(sel), "pages": len(np.unique(vpn[sel])),
                              "writes": int((op[sel] == 1).sum())})
    res = {
        "accesses": len(vpn), "distinct_pages": len(np.unique(vpn)),
        "buffer_accesses": int(buf.sum()),
        "buffer_reads": int((buf & (op == 0)).sum()),
        "buffer_writes": int((buf & (op == 1)).sum()),
        "buffer_pages": len(np.unique(vpn[buf])),
        "rounds_found": len(per_round),
        "round_accesses_mean": statistics.mean(r["accesses"] for r in per_round)
        if per_round else None,
        "round_pages_mean": statistics.mean(r["pages"] for r in per_round)
        if per_round else None,
        "per_round": per_round,
    }
    x = t.meta.extra
    if x.get("method") == "pageout":
        times = np.array(x["pageout_times_ns"], np.int64)
        edges = np.r_[0, times, max(int(tm[-1]) + 1, int(times[-1]) + 1 if len(times) else 1)]
        counts = np.histogram(tm, bins=edges)[0]
        gaps = np.diff(times) / 1e6 if len(times) > 1 else np.zeros(0)
        res.update({
            "intervals": len(times),
            "interval_ms_asked": x["interval_ms"],
            "interval_ms_median": float(np.median(gaps)) if len(gaps) else None,
            "interval_ms_max": float(gaps.max()) if len(gaps) else None,
            "accesses_per_interval_median": float(np.median(counts)),
            "accesses_per_interval_max": int(counts.max()),
            "resident_at_pageout_median": float(np.median(x["resident_pages_at_pageout"]))
            if x["resident_pages_at_pageout"] else None,
            "duration_s": float(tm[-1]) / 1e9,
        })
    contents = t.contents()
    if contents is not None:
        v = contents.column("vpn").to_numpy()
        res["content_rows"] = contents.num_rows
        res["buffer_pages_with_contents"] = len(np.unique(v[(v >= out["buf"])
                                                            & (v < out["buf"] + npages)]))
    return res


def replay_run(trace: Path, tmp: Path) -> dict:
    doc = tmp / (trace.stem + ".run.json")
    p = subprocess.run([sys.executable, "-m", "replay.cli", "run", str(trace), *RUN_SETTINGS,
                        "--json", str(doc)], capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise SystemExit(f"replay run failed: {p.stderr.strip()}")
    c = json.loads(doc.read_text())["results"][0]["counters"]
    c["swap-ins"] = c.get("pswpin", 0) + c.get("zswpin", 0) + c.get("swpin_zero", 0)
    c["swap-outs"] = (c.get("pswpout", 0) + c.get("zswpout", 0) - c.get("zswpwb", 0)
                      + c.get("swpout_zero", 0))
    return {k: c.get(k, 0) for k in COUNTERS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--iters", type=int, default=50_000_000)
    ap.add_argument("--sleep-us", type=int, default=0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--intervals", default="20,100,500")
    ap.add_argument("--no-lackey", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args()
    intervals = [int(x) for x in a.intervals.split(",") if x]
    tmp = a.out or Path(tempfile.mkdtemp(prefix="bench-record-"))
    tmp.mkdir(parents=True, exist_ok=True)
    binary = tmp / "record_workload"
    subprocess.run(["cc", "-O2", "-o", str(binary), str(HERE / "record_workload.c")],
                   check=True)
    out_file = tmp / "workload.out"
    cmd = workload_cmd(binary, a, out_file)
    doc = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
           "kernel": os.uname().release, "cpus": os.cpu_count(), "load_before": load(),
           "workload": {"mib": a.mib, "rounds": a.rounds, "iters": a.iters,
                        "sleep_us": a.sleep_us}, "timing": {},
           "traces": {}, "model": {}}
    print(f"load {doc['load_before']}", flush=True)
    bare = []
    for _ in range(a.runs):
        subprocess.run(cmd, check=True)
        bare.append(read_out(out_file)["elapsed_s"])
    doc["timing"]["bare"] = {"elapsed_s": bare}
    print(f"bare: {statistics.median(bare):.2f} s {bare}", flush=True)
    traces: dict[str, tuple[Path, dict]] = {}
    # the intervals take turns, so a change of load hits them alike
    for run in range(a.runs):
        for iv in intervals:
            name = f"pageout-{iv}ms"
            trace = tmp / f"{name}.parquet"
            wall = record("pageout", iv, cmd, trace)
            o = read_out(out_file)
            t = doc["timing"].setdefault(name, {"elapsed_s": [], "wall_s": []})
            t["elapsed_s"].append(o["elapsed_s"])
            t["wall_s"].append(wall)
            traces[name] = (trace, o)
            print(f"{name} run {run + 1}: {o['elapsed_s']:.2f} s (recorder {wall:.2f} s)",
                  flush=True)
    if not a.no_lackey:
        name = "lackey"
        trace = tmp / "lackey.parquet"
        wall = record("lackey", None, cmd, trace)
        o = read_out(out_file)
        doc["timing"][name] = {"elapsed_s": [o["elapsed_s"]], "wall_s": [wall]}
        traces[name] = (trace, o)
        print(f"lackey: {o['elapsed_s']:.2f} s (recorder {wall:.2f} s)", flush=True)
    doc["load_after"] = load()
    base = statistics.median(bare)
    for t in doc["timing"].values():
        t["median_s"] = statistics.median(t["elapsed_s"])
        t["slowdown"] = t["median_s"] / base
    for name, (trace, o) in traces.items():
        doc["traces"][name] = analyse(trace, o, a)
        doc["model"][name] = replay_run(trace, tmp)
    print(json.dumps({k: v for k, v in doc.items() if k != "traces"}, indent=1))
    for name, r in doc["traces"].items():
        print(name, json.dumps({k: v for k, v in r.items() if k != "per_round"}))
    if a.json:
        a.json.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
