"""Write tests/golden/results.json.gz: the results the golden test expects.

The file was made from the numba model of 3b348e9 (the model before the C port; the
C model reproduced it exactly on a wider matrix of 128 trace x setting cases), so the
test pins the model's behaviour on the bundled trace and on the test suite's
generated traces. After an intended change of the model's behaviour, run this again
(with the changed model) and say in the commit what moved and why:

    python tests/golden/make_golden.py [TRACE_DIR]

TRACE_DIR holds the generated traces (made there if missing; see tests/conftest.py
for the same parameters).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from golden_cases import CASES, POLICIES, make_traces, run_case  # noqa: E402


def digest(timeline: dict) -> str:
    return hashlib.sha256(json.dumps(timeline, sort_keys=True).encode()).hexdigest()


def golden_form(results: list[dict]) -> list[dict]:
    """A result as the golden file keeps it: no run times, the timeline as a digest."""
    out = []
    for r in results:
        r = {k: v for k, v in r.items() if k != "run"}
        if "timeline" in r:
            r["timeline"] = digest(r["timeline"])
        out.append(r)
    return out


if __name__ == "__main__":
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/folio-replay-golden")
    traces = make_traces(folder)
    doc = {"policies": list(POLICIES),
           "cases": {cid: golden_form(run_case(traces, cid)) for cid in CASES}}
    with gzip.open(HERE / "results.json.gz", "wt") as f:
        json.dump(doc, f, sort_keys=True)
    print(f"wrote {len(doc['cases'])} cases")
