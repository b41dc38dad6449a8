"""Cost models: loading and checking, the flat array for compiled code, calibration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from replay.cli import main
from replay.costs.calibrate import corpus, fit_linear
from replay.costs.model import (
    CM_COMP_A,
    CM_CPU_GHZ,
    CM_DEV_READ_LAT_NS,
    CM_PARAMS,
    CM_SIZE,
    PARAM_NAMES,
    CostModel,
    compress_cost_ns,
    decompress_cost_ns,
    device_read_ns,
)
from replay.costs.sizes import page_compressed_sizes
from replay.errors import SettingsError
from replay.trace import PAGE_SIZE, TraceMeta, open_trace, write_trace


def test_shipped_default_loads_and_names_itself():
    m = CostModel.load()
    assert m.is_default and m.source == "shipped default"
    assert "lz4" in m.codec_keys() and "zstd-3" in m.codec_keys()
    assert m.describe()["machine"]["cpu"]
    for name in PARAM_NAMES:
        assert m.param(name) >= 0
        assert m.params()[name]["kind"] in ("measured", "published", "derived", "estimate")
        assert m.params()[name]["source"]


def test_costs_grow_with_size_and_zstd_is_slower_than_lz4():
    m = CostModel.load()
    small, big = m.compress_ns("lz4", PAGE_SIZE, 2000), m.compress_ns("lz4", 16 * PAGE_SIZE,
                                                                      32000)
    assert 0 < small < big
    assert m.decompress_ns("zstd", 2000, PAGE_SIZE) >= 0
    assert m.class_ns("zstd-3", "compress", "text") > m.class_ns("lz4", "compress", "text")
    assert m.class_ns("lz4", "compress", "video") is None
    arr = m.compress_ns("lz4", PAGE_SIZE, np.array([100, 2000]))
    assert arr.shape == (2,) and arr[0] <= arr[1]


def _costs(cm):
    return compress_cost_ns(cm, 4096.0, 2000.0), decompress_cost_ns(cm, 2000.0, 4096.0), \
        device_read_ns(cm, 4096.0)


def test_as_array_matches_the_methods_for_compiled_code():
    m = CostModel.load()
    cm = m.as_array("lz4", "hdd")
    assert cm.shape == (CM_SIZE,) and cm.dtype == np.float64
    comp, decomp, dev = _costs(cm)
    assert comp == pytest.approx(float(m.compress_ns("lz4", 4096, 2000)))
    assert decomp == pytest.approx(float(m.decompress_ns("lz4", 2000, 4096)))
    assert dev == pytest.approx(m.param("hdd_read_latency_ns") + m.param("hdd_read_ns_per_kib")
                                * 4)
    assert cm[CM_CPU_GHZ] == m.param("cpu_ghz")
    assert cm[CM_PARAMS + PARAM_NAMES.index("zram_read_ns")] == m.param("zram_read_ns")
    assert m.as_array("lz4", "nvme")[CM_DEV_READ_LAT_NS] < cm[CM_DEV_READ_LAT_NS]
    assert m.as_array("zstd-3")[CM_COMP_A] == m.fit("zstd-3", "compress")[0]
    with pytest.raises(SettingsError):
        m.as_array("lz4", "floppy")


def _write(tmp_path, doc, name="m.json"):
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


def test_bad_cost_model_files_are_one_line_settings_errors_naming_the_file(tmp_path, capsys):
    good = CostModel.load().data
    broken = json.loads(json.dumps(good))
    broken["codecs"]["lz4"]["compress"]["a_ns"] = "fast"
    no_param = json.loads(json.dumps(good))
    del no_param["params"]["zram_read_ns"]
    cases = {
        "syntax.json": '{"format": ',
        "other.json": {"format": "something else"},
        "fit.json": broken,
        "param.json": no_param,
    }
    for name, doc in cases.items():
        path = _write(tmp_path, doc, name)
        with pytest.raises(SettingsError) as e:
            CostModel.load(path)
        assert str(path) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(SettingsError, match="no such"):
        CostModel.load(tmp_path / "missing.json")
    m = CostModel.load(_write(tmp_path, good, "ok.json"))
    assert not m.is_default and m.source.endswith("ok.json")
    with pytest.raises(SettingsError, match="calibrate"):
        m.compress_ns("zstd-19", 4096, 100)


def test_fit_recovers_a_known_linear_cost():
    rng = np.random.default_rng(2)
    in_b = rng.choice([4096, 16384, 65536], 60).astype(float)
    out_b = in_b * rng.uniform(0.1, 1.0, 60)
    t = 300 + 0.5 * in_b + 0.25 * out_b
    f = fit_linear(in_b, out_b, t, overhead_ns=50)
    assert f.a_fit_ns == pytest.approx(300, rel=1e-3)
    assert f.a_ns == pytest.approx(250, rel=1e-3)
    assert f.b_ns_per_in_byte == pytest.approx(0.5, rel=1e-3)
    assert f.c_ns_per_out_byte == pytest.approx(0.25, rel=1e-3)
    assert f.r2 > 0.999 and f.max_rel_residual < 1e-3


def test_calibrate_writes_a_model_that_loads(tmp_path, capsys):
    out = tmp_path / "cm.json"
    rc = main(["calibrate", "--codec", "lz4", "--samples", "1", "--rounds", "1",
               "--no-memory", "-o", str(out)])
    assert rc == 0
    m = CostModel.load(out)
    assert m.codec_keys() == ["lz4"]
    f = m.data["codecs"]["lz4"]["compress"]
    assert f["samples"] == len(corpus(1))
    assert m.data["params"]["anon_fault_4k_ns"]["kind"] == "estimate"   # not measured
    assert "R^2" in capsys.readouterr().out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_calibrate_reports_bad_output_folder_in_one_line(tmp_path, capsys):
    rc = main(["calibrate", "--codec", "lz4", "--samples", "1", "--rounds", "1", "--no-memory",
               "-o", str(tmp_path / "nope" / "cm.json")])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]


def test_unit_costs_use_class_times_and_copy_for_raw_units(tmp_path):
    base = 0x7F0000000
    vpn = base + np.arange(64, dtype=np.int64)
    write_trace(tmp_path / "t.parquet", TraceMeta(), np.arange(64), vpn, np.ones(64, np.uint8),
                contents={"asid": [0, 0], "vpn": [base, base + 32], "npages": [32, 32],
                          "version": [0, 0], "content_class": ["text", "random"]})
    tr = open_trace(tmp_path / "t.parquet")
    sizes = page_compressed_sizes(tr, "lz4")
    m = CostModel.load()
    comp, decomp = m.unit_costs_ns(sizes)
    ids = tr.dense_ids(next(tr.iter_chunks()))
    assert comp[ids[0]] == pytest.approx(m.class_ns("lz4", "compress", "text"))
    assert decomp[ids[40]] == pytest.approx(m.param("copy_ns_per_kib") * 4)
