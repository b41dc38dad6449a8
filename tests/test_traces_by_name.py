"""Traces by name: a file dropped into the traces folder ($FOLIO_REPLAY_TRACES here, so the
project's traces/ is left alone) is listed by `replay traces` and runs by its name."""

from __future__ import annotations

import json
import shutil

import pytest

from replay.cli import main
from replay.study.folders import find_trace, trace_files

POLICIES = ["--policy", "order0-fallback", "--policy", "full-zswap"]


@pytest.fixture
def folder(tmp_path, monkeypatch, zipf_trace):
    """A traces folder holding `mytrace` (with its sidecars), a corrupt `broken.parquet`,
    a hidden temporary file and a README."""
    d = tmp_path / "traces"
    d.mkdir()
    stem = zipf_trace.name.removesuffix(".parquet")
    for side in ("", ".contents", ".regions"):
        src = zipf_trace.with_name(stem + side + ".parquet")
        if src.exists():
            shutil.copy(src, d / f"mytrace{side}.parquet")
    (d / "broken.parquet").write_bytes(b"PAR1 this is not a parquet file")
    (d / ".import.parquet.tmp").write_bytes(b"half written")
    (d / "README.md").write_text("my traces\n")
    monkeypatch.setenv("FOLIO_REPLAY_TRACES", str(d))
    return d


def test_the_folder_lists_traces_not_sidecars(folder):
    assert [p.name for p in trace_files()] == ["broken.parquet", "mytrace.parquet"]
    assert find_trace("mytrace") == folder / "mytrace.parquet"
    assert find_trace("mytrace.parquet") == folder / "mytrace.parquet"


def test_replay_traces_lists_a_dropped_file_and_the_bad_one_in_one_line(folder, capsys):
    assert main(["traces"]) == 0
    out, err = capsys.readouterr()
    assert str(folder) in out
    row = next(line for line in out.splitlines() if line.strip().startswith("mytrace "))
    assert "30,000" in row                              # replay info's accesses
    assert "contents" not in row and "regions" not in row
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("replay: error: ")
    assert "broken.parquet" in lines[0] and "not a readable Parquet file" in lines[0]
    assert main(["traces", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    good = next(t for t in listed if t["name"] == "mytrace")
    assert good["accesses"] == 30_000 and good["distinct_pages"] > 0
    assert next(t for t in listed if t["name"] == "broken")["error"]


def test_a_dropped_trace_runs_by_name(folder, tmp_path, capsys, zipf_trace):
    out = tmp_path / "c.json"
    assert main(["compare", "mytrace", *POLICIES, "--memory-limit", "6M", "--json", str(out),
                 "--quiet"]) == 0
    rp = json.loads(out.read_text())["replays"][0]
    assert rp["trace_name"] == "mytrace"
    assert rp["trace"]["path"] == str(folder / "mytrace.parquet")
    # the same figures as the file it was copied from, sidecars and all
    ref = tmp_path / "ref.json"
    assert main(["compare", str(zipf_trace), *POLICIES, "--memory-limit", "6M", "--json",
                 str(ref), "--quiet"]) == 0
    base = json.loads(ref.read_text())["replays"][0]
    for a, b in zip(rp["results"], base["results"]):
        assert (a["counters"], a["per_size"]) == (b["counters"], b["per_size"])
    assert main(["run", "mytrace", *POLICIES, "--memory-limit", "6M", "--quiet"]) == 0
    assert main(["info", "mytrace", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accesses"] == 30_000


def test_an_unknown_name_is_one_line_naming_the_traces_there(folder, capsys):
    assert main(["compare", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nosuch" in err
    assert "broken, mytrace" in err and str(folder) in err
    assert main(["compare", "broken", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable Parquet file" in err


def test_an_empty_or_missing_folder_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FOLIO_REPLAY_TRACES", str(tmp_path / "none"))
    assert main(["traces"]) == 0
    assert "no trace in" in capsys.readouterr().out
