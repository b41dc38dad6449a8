"""Bad input never gives a traceback: one line on stderr, exit code 2, nothing left behind.

Every importer (and the trace reader behind `replay info`) is given an empty
file, a truncated file, random bytes, another format, a number too large for
a page number, time going backwards and a missing path, through the real CLI.
"""

from __future__ import annotations

import contextlib
import io
import json
import lzma
import os
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replay.cli import main
from replay.importers import FORMATS
from replay.importers.champsim import RECORD as CHAMPSIM_RECORD
from replay.importers.oraclegeneral import RECORD as ORACLE_RECORD
from replay.trace import ACCESS_SCHEMA, META_KEY, TraceMeta

LACKEY = b"==9== Lackey, an example Valgrind tool\nI  0400d7d4,8\n S 04222cac,8\n L 04222ff0,4\n"
CSV = b"time_ns,vpn,op\n1,5,r\n2,6,w\n3,7,r\n"
LCS_CSV = b"version,time,op,size,lbn\n1,5,28,512,16\n1,5,2a,4096,24\n1,6,28,512,8\n"
PERF = (b"prog 4469 [000] 425.429082: exceptions:page_fault_user: address=0x7f13d34e3b70 "
        b"ip=0x7f13d34e3b70 error_code=0x14\n"
        b"prog 4469 [000] 425.429090: exceptions:page_fault_user: address=0x7f13d34fce06 "
        b"ip=0x7f13d34e47ad error_code=0x6\n")


def oracle(times=(1, 1, 2), lbns=(16, 24, 8)) -> bytes:
    r = np.zeros(len(times), ORACLE_RECORD)
    r["time"], r["obj_id"], r["size"], r["next_access_vtime"] = times, lbns, 4096, -1
    return r.tobytes()


def champsim(n: int = 3) -> bytes:
    r = np.zeros(n, CHAMPSIM_RECORD)
    r["ip"] = 0x401000
    r["source_memory"][:, 0] = 0x7F0000001000
    return r.tobytes()


def damo(starts=(0, 100), end_addr: int = 0x7F0000100000) -> bytes:
    rec = [{"target_id": 1, "snapshots": [
        {"start_time": s, "end_time": s + 100, "regions": [
            {"start": "139,637,976,727,552", "end": f"{end_addr:,}",
             "nr_accesses": {"samples": 10, "percent": None}}]} for s in starts]}]
    return zlib.compress(json.dumps(rec).encode())


VALID = {
    "lackey": LACKEY, "csv": CSV, "libcachesim-csv": LCS_CSV, "oraclegeneral": oracle(),
    "champsim": champsim(), "perf-script": PERF, "damo": damo(),
}
RANDOM = np.random.default_rng(20).integers(0, 256, 4096, dtype=np.uint8).tobytes()

# (case, format) -> (file bytes, text the error must contain)
CASES: dict[tuple[str, str], tuple[bytes, str]] = {}
for _fmt in FORMATS:
    CASES["empty", _fmt] = (b"", "file is empty")
    CASES["random", _fmt] = (RANDOM, "")
CASES["truncated", "lackey"] = (LACKEY + b" L 0422", "line 5: no ',' between address and size")
CASES["truncated", "csv"] = (CSV + b"4,8", "line 5: expected 3 columns, got 2")
CASES["truncated", "libcachesim-csv"] = (LCS_CSV + b"1,7,2", "line 5: expected 5 columns")
CASES["truncated", "oraclegeneral"] = (oracle()[:-5], "record 3: truncated")
CASES["truncated", "champsim"] = (champsim()[:-1], "record 3: truncated")
CASES["truncated", "perf-script"] = (PERF + b"prog 4469 [000] 425.4", "line 3: not a perf")
CASES["truncated", "damo"] = (damo()[:-7], "corrupt or truncated zlib data")
CASES["wrong", "lackey"] = (CSV, "line 1: not a lackey line")
CASES["wrong", "csv"] = (LACKEY, "no address column")
CASES["wrong", "libcachesim-csv"] = (LACKEY, "expected 5")
CASES["wrong", "oraclegeneral"] = (CSV[:24], "record 1: block number")
CASES["wrong", "champsim"] = (CSV[:32] * 2, "record 1: is_branch")
CASES["wrong", "perf-script"] = (CSV, "line 1: not a perf script sample line")
CASES["wrong", "damo"] = (CSV, "not valid JSON")
CASES["huge", "lackey"] = (LACKEY + b" L 1ffffffffffffffff,8\n", "line 5: address has more")
CASES["huge", "csv"] = (CSV + b"4,4503599627370496,r\n", "line 5: page number 4503599627370496")
CASES["huge", "libcachesim-csv"] = (LCS_CSV + b"1,7,28,512,36028797018963968\n",
                                    "line 5: block number 36028797018963968")
CASES["huge", "oraclegeneral"] = (oracle(lbns=(16, 1 << 55, 8)), "record 2: block number")
CASES["huge", "perf-script"] = (PERF.replace(b"address=0x7f13d34fce06",
                                             b"address=0x1ffffffffffffffff"),
                                "line 2: address 0x1ffffffffffffffff does not fit")
CASES["huge", "damo"] = (damo(end_addr=(1 << 64) + 4096), "record 1: snapshot 1 region 1")
CASES["backwards", "csv"] = (CSV + b"2,8,r\n", "line 5: time goes backwards")
CASES["content class", "csv"] = (b"vpn,content\n5,zero\n6,zeros\n",
                                "line 3: content 'zeros' is not a content class")
CASES["content hex", "csv"] = (b"vpn,content\n5,zero\n6," + b"0f" * 4000 + b"\n",
                              "...': 8000 hex digits, not 8192")
CASES["backwards", "libcachesim-csv"] = (LCS_CSV + b"1,5,28,512,8\n",
                                         "line 5: time goes backwards")
CASES["backwards", "oraclegeneral"] = (oracle(times=(1, 3, 2)), "record 3: time goes backwards")
CASES["backwards", "perf-script"] = (PERF.replace(b"425.429090", b"425.429000"),
                                     "line 2: time goes backwards")
CASES["backwards", "damo"] = (damo(starts=(100, 0)), "snapshot 2: time goes backwards")


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def assert_one_error_line(rc: int, err: str, src: Path, fmt: str, text: str) -> None:
    assert rc == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(f"replay: error: {src}: {fmt} format: "), err
    assert "Traceback" not in err
    assert text in err, err


@pytest.mark.parametrize("case,fmt", sorted(CASES), ids=lambda x: str(x))
def test_bad_source_is_one_error_line_and_leaves_nothing(tmp_path, case, fmt):
    data, text = CASES[case, fmt]
    src = tmp_path / "in" / "source.trace"
    src.parent.mkdir()
    src.write_bytes(data)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    rc, out, err = run_cli(["import", fmt, str(src), "-o", str(out_dir / "t.parquet")])
    assert_one_error_line(rc, err, src, fmt, text)
    assert out == ""
    assert os.listdir(out_dir) == []


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_valid_sources_of_the_bad_input_tests_do_import(tmp_path, fmt):
    """The bad inputs above are one defect away from these, which import cleanly."""
    src = tmp_path / "source.trace"
    src.write_bytes(VALID[fmt])
    rc, _, err = run_cli(["import", fmt, str(src), "-o", str(tmp_path / "t.parquet")])
    assert rc == 0, err
    assert (tmp_path / "t.parquet").exists()


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_missing_source_is_one_error_line(tmp_path, fmt):
    src = tmp_path / "nope.trace"
    rc, _, err = run_cli(["import", fmt, str(src), "-o", str(tmp_path / "t.parquet")])
    assert_one_error_line(rc, err, src, fmt, "no such file")
    assert os.listdir(tmp_path) == []


def test_champsim_top_of_the_address_space_is_a_valid_page(tmp_path):
    """A 64-bit address always has a page number below 2^52: the largest imports."""
    r = np.zeros(1, CHAMPSIM_RECORD)
    r["source_memory"][0, 0] = 0xFFFFFFFFFFFFFFFF
    src = tmp_path / "t.champsim"
    src.write_bytes(r.tobytes())
    rc, _, err = run_cli(["import", "champsim", str(src), "-o", str(tmp_path / "t.parquet")])
    assert rc == 0, err


def test_output_folder_missing_is_one_error_line(tmp_path):
    src = tmp_path / "t.csv"
    src.write_bytes(CSV)
    out = tmp_path / "no" / "t.parquet"
    rc, _, err = run_cli(["import", "csv", str(src), "-o", str(out)])
    assert rc == 2 and err.count("\n") == 1 and "output folder does not exist" in err


def test_console_script_reports_one_line_and_exit_code_2(tmp_path):
    exe = Path(sys.executable).with_name("replay")
    if not exe.exists():
        pytest.skip("replay console script not installed beside this python")
    src = tmp_path / "t.lackey"
    src.write_bytes(LACKEY + b"garbage\n")
    proc = subprocess.run([str(exe), "import", "lackey", str(src), "-o",
                           str(tmp_path / "t.parquet")],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (f"replay: error: {src}: lackey format: line 5: not a lackey line "
                           "(expected 'I', ' L', ' S', ' M' or a ==pid== banner): "
                           "'garbage'\n")
    assert proc.stdout == ""
    assert sorted(os.listdir(tmp_path)) == ["t.lackey"]


# ---------------------------------------------------------------- the reader


def _parquet(path: Path, time_ns, vpn) -> None:
    schema = ACCESS_SCHEMA.with_metadata({META_KEY: TraceMeta().to_json().encode()})
    n = len(vpn)
    pq.write_table(pa.Table.from_arrays(
        [pa.array(time_ns, pa.int64()), pa.array(vpn, pa.int64()),
         pa.array(np.zeros(n, np.uint8)), pa.array(np.zeros(n, np.int32))], schema=schema),
        path)


def _reader_cases(tmp: Path) -> dict[str, tuple[Path, str]]:
    good = tmp / "good.parquet"
    _parquet(good, [1, 2, 3], [5, 6, 7])
    cases = {}
    for name, data in (("empty", b""), ("truncated", good.read_bytes()[:-40]),
                       ("random", RANDOM), ("wrong", CSV)):
        p = tmp / f"{name}.parquet"
        p.write_bytes(data)
        cases[name] = (p, "not a readable Parquet file")
    _parquet(tmp / "huge.parquet", [1, 2], [5, 1 << 52])
    cases["huge"] = (tmp / "huge.parquet", "record 2: page number 4503599627370496")
    _parquet(tmp / "backwards.parquet", [1, 3, 2], [5, 6, 7])
    cases["backwards"] = (tmp / "backwards.parquet", "record 3: time goes backwards")
    cases["missing"] = (tmp / "missing.parquet", "no such file")
    return cases


@pytest.mark.parametrize("case", ["empty", "truncated", "random", "wrong", "huge",
                                  "backwards", "missing"])
def test_reader_bad_trace_is_one_error_line(tmp_path, case):
    path, text = _reader_cases(tmp_path)[case]
    rc, out, err = run_cli(["info", "--json", str(path)])
    assert rc == 2, err
    assert err.count("\n") == 1 and err.startswith(f"replay: error: {path}: ")
    assert text in err, err
    assert out == ""


# ---------------------------------------------------------------- arbitrary bytes

_LINES = {
    "lackey": [b"I  0400d7d4,8", b" L 04222cac,8", b" S 7ff0,4096", b" M 0,1", b"==1== x",
               b"", b" L zz,1", b" L 1,", b"--2-- y"],
    "csv": [b"time_ns,vpn,op", b"1,2,r", b"3,4,w", b"2,1,x", b"5,,r", b"a,b", b"9,0x10,W"],
    "libcachesim-csv": [b"version,time,op,size,lbn", b"1,5,28,512,16", b"1,6,2a,0,7",
                        b"1,4,28,1,1", b"1,7,99,1,1", b"x,y"],
    "perf-script": [PERF.split(b"\n")[0], PERF.split(b"\n")[1], b"# c", b"\t ffff sym",
                    b"p 1 [0] 1.5: 1 mem-loads: 7f00", b"p 1 [0] 0.1: sched:x: a=1"],
}


def _arbitrary(fmt: str):
    raw = st.binary(max_size=600)
    if fmt in _LINES:
        lines = st.lists(st.sampled_from(_LINES[fmt]), max_size=12).map(b"\n".join)
        return st.one_of(raw, lines)
    if fmt == "oraclegeneral":
        return st.one_of(raw, st.lists(st.tuples(st.integers(0, 9), st.integers(0, 1 << 56),
                                                 st.integers(0, 1 << 20)), max_size=8)
                         .map(lambda rs: oracle([r[0] for r in rs], [r[1] for r in rs])
                              if rs else b""))
    if fmt == "damo":
        return st.one_of(raw, st.just(damo()).map(lambda b: zlib.decompress(b)),
                         st.binary(max_size=200).map(zlib.compress))
    return st.one_of(raw, st.binary(max_size=10).map(lambda b: champsim(2) + b))


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_arbitrary_bytes_give_a_trace_or_one_error_line(fmt):
    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(data=_arbitrary(fmt))
    def check(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "in.trace"
            src.write_bytes(data)
            out = Path(tmp) / "out" / "t.parquet"
            out.parent.mkdir()
            rc, stdout, err = run_cli(["import", fmt, str(src), "-o", str(out)])
            assert stdout == ""
            if rc == 0:
                assert err.startswith(f"wrote {out}: ") and err.count("\n") == 1, err
                rc2, info, err2 = run_cli(["info", "--json", str(out)])
                assert rc2 == 0, err2
                assert json.loads(info)["accesses"] > 0
            else:
                assert rc == 2, err
                assert err.count("\n") == 1 and err.startswith("replay: error: "), err
                assert os.listdir(out.parent) == []
    check()


def test_xz_champsim_cut_short_is_one_error_line(tmp_path):
    src = tmp_path / "t.champsim.xz"
    src.write_bytes(lzma.compress(champsim(100))[:-20])
    rc, _, err = run_cli(["import", "champsim", str(src), "-o", str(tmp_path / "t.parquet")])
    assert_one_error_line(rc, err, src, "champsim", "corrupt or truncated xz data")
    assert sorted(os.listdir(tmp_path)) == ["t.champsim.xz"]
