"""`replay validate --fault-log`: the replayer's log decoded, the model's log, the CSV."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from replay.engine import simulate
from replay.errors import SettingsError
from replay.live.faultlog import (
    model_rows,
    read_kernel_log,
    summary,
    write_fault_log,
)
from replay.model.config import ModelConfig

PM_SWAP = 1 << 62


def test_kernel_log_decodes_pagemap_swap_entries(tmp_path):
    # (record, page, pagemap entry, major faults the access took); offset above 5 type bits
    rows = [(10, 3, PM_SWAP | (586 << 5) | 0, 1),
            (11, 4, PM_SWAP | (587 << 5) | 1, 0),
            (40, 9, PM_SWAP | (1 << 54) | 2, 2)]
    path = tmp_path / "faults.bin"
    np.array(rows, np.uint64).tofile(path)
    log = read_kernel_log(path)
    assert log.tolist() == [[10, 3, 586, 1], [11, 4, 587, 0], [40, 9, 1 << 49, 1]]
    s = summary(log)
    assert s == {"faults": 3, "major": 2, "swap_cache_hits": 1, "adjacent_majors": 0.0}


def test_kernel_log_of_torn_rows_is_refused(tmp_path):
    path = tmp_path / "faults.bin"
    np.arange(6, dtype=np.uint64).tofile(path)
    with pytest.raises(ValueError, match="not rows of 4"):
        read_kernel_log(path)


def test_csv_has_a_row_per_fault_and_never_replaces_an_input(tmp_path):
    logs = {"kernel run 1": np.array([[5, 1, 100, 1], [6, 2, 101, 0]]),
            "model order0-fallback": model_rows(np.array([[5, 1, 40, 0]]))}
    out = tmp_path / "faults.csv"
    assert write_fault_log(out, logs) == 3
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert [r["source"] for r in rows] == ["kernel run 1", "kernel run 1",
                                           "model order0-fallback"]
    assert [r["seq"] for r in rows] == ["0", "1", "0"]
    assert rows[2]["swap_offset"] == "40" and rows[2]["major"] == "1"
    trace = tmp_path / "t.parquet"
    trace.write_bytes(b"x")
    with pytest.raises(SettingsError):
        write_fault_log(trace, logs, inputs=[trace])
    assert trace.read_bytes() == b"x"


def test_model_log_agrees_with_the_counters(zipf_trace):
    cfg = ModelConfig(memory_limit_bytes=2 << 20, memcg="v1", page_cluster=3, rotational=True,
                      oom="continue")
    plain = simulate(zipf_trace, cfg, ["order0-fallback"])[0]
    r = simulate(zipf_trace, cfg, ["order0-fallback"], fault_log=1 << 20)[0]
    assert r["counters"] == plain["counters"]        # logging changes nothing
    log = model_rows(r["fault_log"])
    assert len(log) > 0
    assert int(log[:, 3].sum()) == r["counters"]["pgmajfault"]
    assert int((log[:, 3] == 0).sum()) >= r["counters"]["swap_ra_hit"]
    assert (np.diff(log[:, 0]) >= 0).all()           # in access order
    assert (log[:, 2] >= 0).all()                    # every faulted page held a slot
