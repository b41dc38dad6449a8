"""Each importer maps its source to the accesses docs/trace-format.md says it does."""

from __future__ import annotations

import gzip
import json
import lzma
import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest

from replay.cli import main
from replay.errors import TraceError
from replay.importers import _common, lackey, run_import
from replay.importers.champsim import RECORD as CHAMPSIM_RECORD
from replay.importers.oraclegeneral import RECORD as ORACLE_RECORD
from replay.trace import open_trace

SHARED = Path(os.environ.get("FOLIO_REPLAY_SHARED",
                             Path(__file__).resolve().parents[2] / "shared"))
EXTERNAL = SHARED / "data" / "external"
needs_shared = pytest.mark.skipif(not EXTERNAL.is_dir(), reason="../shared is absent")


def read_all(path: Path) -> dict[str, np.ndarray]:
    t = open_trace(path)
    chunks = list(t.iter_chunks())
    return {k: np.concatenate([getattr(c, k) for c in chunks])
            for k in ("time_ns", "vpn", "op", "asid")}


def do_import(fmt: str, src: Path, out: Path, **options) -> dict[str, np.ndarray]:
    run_import(fmt, src, out, options)
    return read_all(out)


# ---------------------------------------------------------------- lackey

LACKEY = """\
==1234== Lackey, an example Valgrind tool
==1234== Using Valgrind-3.19.0 and LibVEX; rerun with -h for copyright info
==1234== Command: ./prog --size 4
==1234==
I  0400d7d4,8
 S 04222cac,8
 L 04222ffe,4
I  0400d7d8,3
 M 0421fe00,8
 L 7ff000ff0,8
--1234-- a verbose message
==1234== Exit code: 0
"""


def test_lackey_loads_are_reads_stores_and_modifies_are_one_write(tmp_path):
    src = tmp_path / "t.lackey"
    src.write_text(LACKEY)
    got = do_import("lackey", src, tmp_path / "t.parquet")
    # S, L (crosses 0x04222fff -> 0x04223000: two pages), M, L: instruction lines skipped
    assert got["vpn"].tolist() == [0x04222, 0x04222, 0x04223, 0x0421F, 0x7FF000]
    assert got["op"].tolist() == [1, 0, 0, 1, 0]
    # time = ordinal of the record among I/L/S/M lines (1 ns each by default)
    assert got["time_ns"].tolist() == [1, 2, 2, 4, 5]
    meta = open_trace(tmp_path / "t.parquet").meta
    assert meta.command == "./prog --size 4"
    assert "3.19.0" in meta.recorder
    assert meta.time_source == "ordinal" and not meta.sampled
    assert meta.source_file == "t.lackey" and meta.source_format == "lackey"


def test_lackey_crossing_first_counts_only_the_first_page(tmp_path):
    src = tmp_path / "t.lackey"
    src.write_text(LACKEY)
    got = do_import("lackey", src, tmp_path / "t.parquet", crossing="first")
    assert got["vpn"].tolist() == [0x04222, 0x04222, 0x0421F, 0x7FF000]


def test_lackey_instruction_fetches_only_when_asked(tmp_path):
    src = tmp_path / "t.lackey"
    src.write_text(LACKEY)
    got = do_import("lackey", src, tmp_path / "t.parquet", include_instructions=True,
                    ns_per_record=10)
    assert got["vpn"].tolist() == [0x0400D, 0x04222, 0x04222, 0x04223, 0x0400D, 0x0421F,
                                   0x7FF000]
    assert got["op"].tolist() == [0, 1, 0, 0, 0, 1, 0]
    assert got["time_ns"].tolist() == [0, 10, 20, 20, 30, 40, 50]


def _random_lackey(rng: np.random.Generator, n: int) -> str:
    kinds = rng.choice(["I  ", " L ", " S ", " M "], n)
    addr = rng.integers(0, 1 << 40, n)
    size = rng.integers(1, 65, n)
    lines = [f"{k}{a:08x},{s}" for k, a, s in zip(kinds, addr, size)]
    for i in rng.choice(n, n // 50):
        lines[i] = "==77== banner"
    return "\n".join(lines)          # no newline at the end: the last line still counts


def test_lackey_result_does_not_depend_on_chunk_sizes(tmp_path, monkeypatch):
    src = tmp_path / "r.lackey"
    src.write_text(_random_lackey(np.random.default_rng(5), 5000))
    whole = do_import("lackey", src, tmp_path / "a.parquet")
    monkeypatch.setattr(_common, "CHUNK_BYTES", 777)
    monkeypatch.setattr(lackey, "OUT_ROWS", 300)
    pieces = do_import("lackey", src, tmp_path / "b.parquet")
    for k in whole:
        assert np.array_equal(whole[k], pieces[k]), k
    # and the scanner agrees with a plain Python reading of the same lines
    exp_vpn = []
    for line in src.read_text().splitlines():
        if line[:3] in (" L ", " S ", " M "):
            a, s = line[3:].split(",")
            a, s = int(a, 16), int(s)
            exp_vpn.extend(range(a >> 12, ((a + s - 1) >> 12) + 1))
    assert whole["vpn"].tolist() == exp_vpn


def test_lackey_compressed_source_gives_the_same_trace(tmp_path):
    text = _random_lackey(np.random.default_rng(6), 2000)
    (tmp_path / "t.lackey").write_text(text)
    with gzip.open(tmp_path / "t.lackey.gz", "wt") as f:
        f.write(text)
    (tmp_path / "t.lackey.xz").write_bytes(lzma.compress(text.encode()))
    plain = do_import("lackey", tmp_path / "t.lackey", tmp_path / "p.parquet")
    for name in ("t.lackey.gz", "t.lackey.xz"):
        got = do_import("lackey", tmp_path / name, tmp_path / "c.parquet")
        assert np.array_equal(got["vpn"], plain["vpn"]) and np.array_equal(got["op"],
                                                                           plain["op"])


# ---------------------------------------------------------------- csv


def test_csv_with_canonical_header_needs_no_options(tmp_path):
    src = tmp_path / "t.csv"
    src.write_text("\ntime_ns,vpn,op,asid\n10,5,r,0\n20,0x6,W,3\n\n30,7,free,1\n40,8,2,0\n")
    got = do_import("csv", src, tmp_path / "t.parquet")
    assert got["time_ns"].tolist() == [10, 20, 30, 40]
    assert got["vpn"].tolist() == [5, 6, 7, 8]
    assert got["op"].tolist() == [0, 1, 3, 2]
    assert got["asid"].tolist() == [0, 3, 1, 0]
    assert open_trace(tmp_path / "t.parquet").meta.time_source == "recorded"


def test_csv_byte_addresses_and_decimal_seconds(tmp_path):
    src = tmp_path / "t.csv"
    src.write_text("ts;address;kind\n1.5;0x7f0000001fff;load\n1.000000001;4096;STORE\n"
                   "2;140737488351232;ld\n")
    with pytest.raises(TraceError, match="line 3: time goes backwards"):
        do_import("csv", src, tmp_path / "t.parquet", delimiter=";", time_col="ts",
                  time_unit="s", addr_col="address", op_col="kind", op_map="ld=read")
    src.write_text("ts;address;kind\n1.5;0x7f0000001fff;load\n1.500000001;4096;STORE\n"
                   "2;140737488351232;ld\n")
    got = do_import("csv", src, tmp_path / "t.parquet", delimiter=";", time_col="ts",
                    time_unit="s", addr_col="address", op_col="kind", op_map="ld=read")
    assert got["time_ns"].tolist() == [1_500_000_000, 1_500_000_001, 2_000_000_000]
    assert got["vpn"].tolist() == [0x7F0000001, 1, 140737488351232 >> 12]
    assert got["op"].tolist() == [0, 1, 0]


def test_csv_without_header_by_column_number_and_ordinal_time(tmp_path):
    src = tmp_path / "t.tsv"
    src.write_text("a\t100\tw\nb\t101\tr\n")
    got = do_import("csv", src, tmp_path / "t.parquet", no_header=True, delimiter="\\t",
                    vpn_col="2", op_col="3", ns_per_record=7)
    assert got["vpn"].tolist() == [100, 101]
    assert got["op"].tolist() == [1, 0]
    assert got["time_ns"].tolist() == [0, 7]
    assert open_trace(tmp_path / "t.parquet").meta.time_source == "ordinal"


def test_csv_windows_do_not_change_the_trace_or_line_numbers(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(3)
    n = 3000
    rows = [f"{i * 3},{v},{'rw'[o]}" for i, (v, o) in
            enumerate(zip(rng.integers(0, 1 << 30, n), rng.integers(0, 2, n)))]
    src = tmp_path / "t.csv"
    src.write_text("time_ns,vpn,op\n" + "\n".join(rows) + "\n")
    whole = do_import("csv", src, tmp_path / "a.parquet")
    monkeypatch.setattr(_common, "CHUNK_BYTES", 1000)
    pieces = do_import("csv", src, tmp_path / "b.parquet")
    for k in whole:
        assert np.array_equal(whole[k], pieces[k]), k
    assert whole["vpn"].tolist() == [int(r.split(",")[1]) for r in rows]
    # a bad value far into the file is reported at its own line
    rows[2500] = "7500,12x,r"
    src.write_text("time_ns,vpn,op\n" + "\n".join(rows) + "\n")
    assert main(["import", "csv", str(src), "-o", str(tmp_path / "c.parquet")]) == 2
    assert "line 2502: page number '12x'" in capsys.readouterr().err


# ---------------------------------------------------------------- libCacheSim


@needs_shared
@pytest.mark.parametrize("fmt,name", [
    ("libcachesim-csv", "libcachesim-cloudPhysicsIO.csv"),
    ("oraclegeneral", "libcachesim-cloudPhysicsIO.oracleGeneral.bin"),
])
def test_libcachesim_sample_is_one_access_per_request(tmp_path, capsys, fmt, name):
    out = tmp_path / "t.parquet"
    assert main(["import", fmt, str(EXTERNAL / name), "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["info", "--json", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["accesses"] == 113872
    if fmt == "oraclegeneral":
        rec = np.fromfile(EXTERNAL / name, ORACLE_RECORD)
        lbn, t_s = rec["obj_id"].astype(np.int64), rec["time"].astype(np.int64)
        ops = np.zeros(len(rec), np.uint8)
    else:
        table = pacsv.read_csv(EXTERNAL / name)
        lbn, t_s = table["lbn"].to_numpy(), table["time"].to_numpy()
        ops = np.array([{"28": 0, "2a": 1}[o] for o in table["op"].to_pylist()], np.uint8)
    got = read_all(out)
    assert np.array_equal(got["vpn"], lbn * 512 // 4096)
    assert np.array_equal(got["time_ns"], t_s * 1_000_000_000)
    assert np.array_equal(got["op"], ops)
    assert info["duration_ns"] == 7200 * 1_000_000_000   # the sample spans two hours


@needs_shared
def test_libcachesim_expand_touches_every_page_of_each_request(tmp_path):
    table = pacsv.read_csv(EXTERNAL / "libcachesim-cloudPhysicsIO.csv")
    lbn, size = table["lbn"].to_pylist(), table["size"].to_pylist()
    expected = []
    for b, s in zip(lbn, size):
        expected.extend(range(b * 512 // 4096, (b * 512 + max(s, 1) - 1) // 4096 + 1))
    got = do_import("libcachesim-csv", EXTERNAL / "libcachesim-cloudPhysicsIO.csv",
                    tmp_path / "t.parquet", expand=True)
    assert got["vpn"].tolist() == expected


def test_libcachesim_csv_scsi_opcodes_and_header_detection(tmp_path):
    src = tmp_path / "t.csv"
    src.write_text("1,5,28,4096,16\n1,5,2A,512,17\n1,6,8a,8192,24\n1,6,read,512,0\n")
    got = do_import("libcachesim-csv", src, tmp_path / "t.parquet", expand=True)
    # lbn 16 = page 2; lbn 17 (byte 8704, 512 bytes) = page 2; lbn 24 + 8 KiB = pages 3, 4
    assert got["vpn"].tolist() == [2, 2, 3, 4, 0]
    assert got["op"].tolist() == [0, 1, 1, 1, 0]
    assert got["time_ns"].tolist() == [5e9, 5e9, 6e9, 6e9, 6e9]
    assert open_trace(tmp_path / "t.parquet").meta.extra["header"] is False


def test_oraclegeneral_expand_splits_a_request_across_pages(tmp_path):
    rec = np.zeros(3, ORACLE_RECORD)
    rec["time"] = [1, 1, 3]
    rec["obj_id"] = [7, 8, 1 << 40]        # byte 3584 + 1024 bytes crosses into page 1
    rec["size"] = [1024, 0, 4096]
    rec["next_access_vtime"] = -1
    src = tmp_path / "t.oracleGeneral.bin"
    rec.tofile(src)
    got = do_import("oraclegeneral", src, tmp_path / "t.parquet", expand=True)
    assert got["vpn"].tolist() == [0, 1, 1, (1 << 40) // 8]
    assert got["time_ns"].tolist() == [1e9, 1e9, 1e9, 3e9]
    assert not got["op"].any()


# ---------------------------------------------------------------- champsim


def _champsim_records() -> np.ndarray:
    r = np.zeros(4, CHAMPSIM_RECORD)
    r["ip"] = [0x401000, 0x401004, 0x401008, 0x40100C]
    r["source_memory"][0] = [0x7F0000001000, 0, 0x7F0000002000, 0]
    r["destination_memory"][0] = [0x7F0000009000, 0]
    r["destination_memory"][1] = [0x7F0000003008, 0]
    r["source_memory"][3] = [0xFFFFFFFFFFFFF000, 0, 0, 0]
    r["is_branch"][2] = 1
    r["branch_taken"][2] = 1
    return r


def test_champsim_sources_are_reads_then_destinations_writes(tmp_path):
    src = tmp_path / "t.champsim"
    _champsim_records().tofile(src)
    got = do_import("champsim", src, tmp_path / "t.parquet")
    assert got["vpn"].tolist() == [0x7F0000001, 0x7F0000002, 0x7F0000009, 0x7F0000003,
                                   (1 << 52) - 1]
    assert got["op"].tolist() == [0, 0, 1, 1, 0]
    assert got["time_ns"].tolist() == [0, 0, 0, 1, 3]     # instruction ordinal


def test_champsim_xz_and_instruction_fetches(tmp_path):
    raw = _champsim_records().tobytes()
    (tmp_path / "t.champsim.xz").write_bytes(lzma.compress(raw))
    got = do_import("champsim", tmp_path / "t.champsim.xz", tmp_path / "t.parquet",
                    include_instructions=True)
    assert got["vpn"].tolist()[:5] == [0x401, 0x7F0000001, 0x7F0000002, 0x7F0000009, 0x401]
    assert got["op"].tolist()[:5] == [0, 0, 0, 1, 0]
    assert len(got["vpn"]) == 4 + 5


# ---------------------------------------------------------------- perf script

PERF = """\
# ========
# cmdline : /usr/bin/perf record -e exceptions:page_fault_user -- ./prog 1
# ========
#
            prog  4469 [000]   425.429082: exceptions:page_fault_user: address=0x7f13d34e3b70 ip=0x7f13d34e3b70 error_code=0x14
            prog  4469 [001]   425.429090: exceptions:page_fault_user: address=0x7f13d34fce06 ip=0x7f13d34e47ad error_code=0x6
 Web Content  4470/4471   425.4291: exceptions:page_fault_user: address=0x55d4a0001000 ip=0x55d4a0000000 error_code=0x4
            prog  4469 [000]   425.429200123: exceptions:page_fault_kernel: address=0x7f13d3500000 ip=0xffffffff81775b9a error_code=0x2
\t    7f13d34e3b70 _start+0x0 (/usr/lib/ld.so)

            prog  4469 [000]   425.429300: sched:sched_switch: prev_comm=prog prev_pid=4469
            prog  4469 [000]   425.429400: 1 cpu/mem-stores/P:     7ffd5a003a90
            prog  4469 [000]   425.429500: 1 cpu/mem-loads,ldlat=30/P:     ffff888000001000
"""


def test_perf_script_faults_and_samples(tmp_path):
    src = tmp_path / "perf.txt"
    src.write_text(PERF)
    got = do_import("perf-script", src, tmp_path / "t.parquet")
    assert got["vpn"].tolist() == [0x7F13D34E3, 0x7F13D34FC, 0x55D4A0001, 0x7F13D3500,
                                   0x7FFD5A003]
    # error_code bit 1 (X86_PF_WRITE) and "store" events are writes
    assert got["op"].tolist() == [0, 1, 0, 1, 1]
    assert got["time_ns"].tolist() == [425_429_082_000, 425_429_090_000, 425_429_100_000,
                                       425_429_200_123, 425_429_400_000]
    # processes in order of appearance; pid from pid/tid
    assert got["asid"].tolist() == [0, 0, 1, 0, 0]
    meta = open_trace(tmp_path / "t.parquet").meta
    assert meta.sampled and "page faults" in meta.sampling and "sampled" in meta.sampling
    assert meta.extra["pids"] == [4469, 4470]
    assert meta.extra["skipped_events"] == {"sched:sched_switch": 1}
    assert meta.extra["skipped_kernel_addresses"] == 1
    assert meta.command == "./prog 1"


def test_perf_script_pid_filter(tmp_path):
    src = tmp_path / "perf.txt"
    src.write_text(PERF)
    got = do_import("perf-script", src, tmp_path / "t.parquet", pid=(4470,))
    assert got["vpn"].tolist() == [0x55D4A0001]


# ---------------------------------------------------------------- damo


def _damo_record(target_id, snapshots, intervals=None) -> dict:
    rec = {"kdamond_idx": 0, "context_idx": 0, "scheme_idx": None, "target_id": target_id,
           "snapshots": [{"start_time": s, "end_time": e, "regions": [
               {"start": f"{a:,}", "end": f"{b:,}", "nr_accesses": {"samples": k, "percent": None},
                "age": {"usec": None, "aggr_intervals": 3}} for a, b, k in regions]}
               for s, e, regions in snapshots]}
    if intervals is not None:
        rec["intervals"] = intervals
    return rec


def test_damo_region_hotness_becomes_page_accesses(tmp_path):
    base = 0x7F0000000000
    pages = 4096
    snaps = [(1000 * i, 1000 * (i + 1), [(base, base + pages * 4096, k),
                                        (base + pages * 4096, base + 2 * pages * 4096, 0)])
             for i, k in enumerate([10, 10, 5, 10])]
    src = tmp_path / "damon.data"
    src.write_text(json.dumps([_damo_record(42, snaps, {"sample_us": "5 ms",
                                                        "aggr_us": "100 ms",
                                                        "ops_update_us": "1 s"})]))
    got = do_import("damo", src, tmp_path / "t.parquet")
    t, v = got["time_ns"], got["vpn"]
    # nr_accesses 10 of 20 samples: about half of the region's pages each snapshot
    for i, k in enumerate([10, 10, 5, 10]):
        in_snap = (t >= 1000 * i) & (t < 1000 * (i + 1))
        n = int(in_snap.sum())
        assert abs(n - pages * k / 20) < 5 * np.sqrt(pages * k / 20), (i, n)
        assert len(np.unique(v[in_snap])) == n          # each page once per snapshot
    # the idle region is never touched; all are reads
    assert (v < (base >> 12) + pages).all() and not got["op"].any()
    # the same pages stay hot: snapshots 0, 1 and 3 touch the same set; 2 a subset of it
    sets = [set(v[(t >= 1000 * i) & (t < 1000 * (i + 1))].tolist()) for i in range(4)]
    assert sets[0] == sets[1] == sets[3] and sets[2] < sets[0]
    # seeded: the same seed gives the same trace, another seed other pages
    again = do_import("damo", src, tmp_path / "u.parquet")
    assert np.array_equal(again["vpn"], v)
    other = do_import("damo", src, tmp_path / "o.parquet", seed=2)
    assert set(other["vpn"].tolist()) != sets[0]
    tr = open_trace(tmp_path / "t.parquet")
    assert tr.meta.sampled and tr.meta.time_source == "recorded"
    regions = tr.regions().to_pylist()
    assert [(r["start_vpn"], r["end_vpn"]) for r in regions] == \
        [(base >> 12, (base >> 12) + 2 * pages)]


def test_damo_targets_interleave_by_time_and_get_their_own_asid(tmp_path):
    a = [(0, 100, [(0x1000000, 0x1100000, 20)]), (100, 200, [(0x1000000, 0x1100000, 20)])]
    b = [(50, 150, [(0x9000000, 0x9010000, 20)])]
    raw = json.dumps([_damo_record(1, a), _damo_record(2, b)]).encode()
    src = tmp_path / "damon.data.json_compressed"
    src.write_bytes(zlib.compress(raw))
    got = do_import("damo", src, tmp_path / "t.parquet")
    assert (np.diff(got["time_ns"]) >= 0).all()
    assert set(got["asid"][got["vpn"] >= 0x9000].tolist()) == {1}
    assert set(got["asid"][got["vpn"] < 0x9000].tolist()) == {0}
    # nr_accesses 20 of 20: every page, once per snapshot
    assert len(got["vpn"]) == 2 * 256 + 16
    assert open_trace(tmp_path / "t.parquet").meta.recorder.endswith("json_compressed")


@needs_shared
def test_damo_real_record_matches_its_documented_expectation(tmp_path):
    src = EXTERNAL / "damo-damon.data.json_compressed"
    scale = 0.05
    got = do_import("damo", src, tmp_path / "t.parquet", scale=scale)
    data = json.loads(zlib.decompress(src.read_bytes()))
    snaps = data[0]["snapshots"]
    assert len(snaps) == 543

    def num(s):
        return int(str(s).replace(",", ""))

    expected = 0.0
    spans = []
    for sn in snaps:
        for r in sn["regions"]:
            pages = (num(r["end"]) - num(r["start"])) // 4096
            expected += pages * min(scale * r["nr_accesses"]["samples"] / 20, 1.0)
            spans.append((num(r["start"]) >> 12, num(r["end"]) >> 12))
    n = len(got["vpn"])
    assert abs(n - expected) < 0.02 * expected, (n, expected)
    assert got["time_ns"][0] >= num(snaps[0]["start_time"])
    assert got["time_ns"][-1] < num(snaps[-1]["end_time"])
    # the regions sidecar is the union of all snapshots' regions
    spans.sort()
    merged = [list(spans[0])]
    for s, e in spans[1:]:
        if s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    regions = open_trace(tmp_path / "t.parquet").regions().to_pylist()
    assert [[r["start_vpn"], r["end_vpn"]] for r in regions] == merged
    vpn = got["vpn"]
    inside = np.zeros(len(vpn), bool)
    for s, e in merged:
        inside |= (vpn >= s) & (vpn < e)
    assert inside.all()


# ---------------------------------------------------------------- options


def test_an_option_of_another_format_is_refused(tmp_path, capsys):
    src = tmp_path / "t.lackey"
    src.write_text(LACKEY)
    rc = main(["import", "lackey", str(src), "-o", str(tmp_path / "t.parquet"), "--expand"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert "--expand does not apply to the lackey format" in err
    assert not (tmp_path / "t.parquet").exists()


def test_progress_bar_never_touches_stdout(tmp_path, capsys):
    src = tmp_path / "t.lackey"
    src.write_text(_random_lackey(np.random.default_rng(8), 3000))
    out = tmp_path / "t.parquet"
    assert main(["import", "lackey", str(src), "-o", str(out), "--progress"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert main(["info", "--json", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["accesses"] > 0


def test_perf_page_fault_recording_of_a_real_program(tmp_path):
    perf = shutil.which("perf")
    if perf is None:
        pytest.skip("no perf")
    data = tmp_path / "perf.data"
    rec = subprocess.run([perf, "record", "-q", "-e", "exceptions:page_fault_user", "-o",
                          str(data), "--", "/bin/true"], capture_output=True, text=True,
                         timeout=120, check=False)
    if rec.returncode != 0 or not data.exists():
        pytest.skip(f"perf record cannot trace page faults here: {rec.stderr.strip()[:100]}")
    text = subprocess.run([perf, "script", "-i", str(data), "-F",
                           "comm,pid,tid,time,event,trace"], capture_output=True, text=True,
                          timeout=120, check=False).stdout
    src = tmp_path / "faults.txt"
    src.write_text(text)
    faults = re.findall(r"address=0x([0-9a-f]+) ip=0x[0-9a-f]+ error_code=0x([0-9a-f]+)", text)
    if not faults:
        pytest.skip("perf recorded no page faults")
    got = do_import("perf-script", src, tmp_path / "t.parquet")
    assert got["vpn"].tolist() == [int(a, 16) >> 12 for a, _ in faults]
    assert got["op"].tolist() == [(int(e, 16) >> 1) & 1 for _, e in faults]
    assert (np.diff(got["time_ns"]) >= 0).all()
