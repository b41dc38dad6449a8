"""Golden results: the model's outcomes on the bundled trace and the suite's generated
traces, under every policy, are what they were (tests/golden/results.json.gz; made from
the model before its port to C, which the C model reproduced exactly).

Counters, per-size stats and derived figures must be equal; floating-point figures
(simulated time, TLB ns, amplification) equal to 1e-9 relative; the timeline bit for
bit (its digest). After an intended change of the model, regenerate the file with
tests/golden/make_golden.py and say in the commit what moved and why.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest

from golden_cases import CASES, POLICIES, make_traces, run_case

GOLDEN = Path(__file__).resolve().parent / "golden" / "results.json.gz"


@pytest.fixture(scope="module")
def golden() -> dict:
    with gzip.open(GOLDEN, "rt") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    return make_traces(tmp_path_factory.mktemp("golden"))


def differences(want, got, path: str = "") -> list[str]:
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{path}.{k}: missing" for k in want.keys() ^ got.keys()]
        for k in want.keys() & got.keys():
            out += differences(want[k], got[k], f"{path}.{k}")
        return out
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return [f"{path}: {len(want)} items, got {len(got)}"]
        return [d for i, (w, g) in enumerate(zip(want, got))
                for d in differences(w, g, f"{path}[{i}]")]
    if isinstance(want, float) or isinstance(got, float):
        ok = want is not None and got is not None and math.isclose(
            want, got, rel_tol=1e-9, abs_tol=1e-12)
        return [] if ok else [f"{path}: {want!r}, got {got!r}"]
    return [] if want == got else [f"{path}: {want!r}, got {got!r}"]


def test_the_golden_file_covers_every_case(golden):
    assert sorted(golden["cases"]) == sorted(CASES)
    assert golden["policies"] == list(POLICIES)


@pytest.mark.parametrize("case", CASES)
def test_results_are_the_golden_ones(golden, traces, case):
    from golden.make_golden import golden_form
    got = golden_form(run_case(traces, case))
    diffs = differences(golden["cases"][case], got)
    assert not diffs, f"{len(diffs)} differences, first: " + "; ".join(sorted(diffs)[:8])


def test_the_comparison_catches_a_change(golden):
    case = golden["cases"]["kvscan/readme"]
    changed = json.loads(json.dumps(case))
    changed[2]["counters"]["pgmajfault"] += 1
    changed[0]["time"]["total_ns"] *= 1 + 1e-6
    assert len(differences(case, changed)) == 2
