"""`replay diff A.json B.json`: the counters that changed, with percentages, and an exit
status that gates a patch (1 when any moved more than --threshold, 0 when none did)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from replay.cli import main
from replay.report.diff import diff_documents, flatten


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def results(tmp_path_factory, zipf_trace):
    """`replay run --json` of order0-fallback alone, full-zswap alone, both, and the
    first again."""
    d = tmp_path_factory.mktemp("diff")
    made = {}
    for name, argv in (("o0", ["--policy", "order0-fallback"]),
                       ("fz", ["--policy", "full-zswap"]),
                       ("both", ["--policy", "order0-fallback", "--policy", "full-zswap"]),
                       ("o0-again", ["--policy", "order0-fallback"])):
        out = d / f"{name}.json"
        assert main(["run", str(zipf_trace), "--memory-limit", "6M", *argv, "--json",
                     str(out), "--quiet"]) == 0
        made[name] = out
    return made


def test_two_policies_list_the_changed_counters_and_exit_1(results, capsys):
    a, b = results["o0"], results["fz"]
    code, out, err = run_cli(capsys, "diff", str(a), str(b))
    assert code == 1
    ra = json.loads(a.read_text())["results"][0]
    rb = json.loads(b.read_text())["results"][0]
    assert ra["counters"]["pgmajfault"] != rb["counters"]["pgmajfault"]
    assert "order0-fallback -> " in out and "full-zswap" in out
    row = next(line for line in out.splitlines() if line.startswith("counters.pgmajfault "))
    va, vb = ra["counters"]["pgmajfault"], rb["counters"]["pgmajfault"]
    assert f"{va:,}" in row and f"{vb:,}" in row and "moved" in row
    pct = float(re.search(r"([+-][\d,.]+)%", row).group(1).replace(",", ""))
    assert pct == pytest.approx((vb - va) / va * 100, abs=0.06)
    fa, fb = flatten(ra), flatten(rb)
    changed = {k for k in fa.keys() | fb.keys() if fa.get(k) != fb.get(k)}
    listed = {line.split()[0] for line in out.splitlines() if line[:1].isalpha()
              and "." in line.split()[0]}
    assert listed == changed                            # every changed counter, no other
    assert "counters.oom_kill" not in listed            # unchanged ones are left out
    assert err.strip().splitlines()[-1].startswith(f"{len(changed)} counter(s) moved")


def test_identical_results_exit_0(results, capsys):
    code, out, err = run_cli(capsys, "diff", str(results["o0"]), str(results["o0-again"]))
    assert code == 0
    assert "no counter changed" in out                  # engine seconds are not counters
    assert "no counter moved" in err


def test_a_threshold_lets_small_moves_pass(results, capsys):
    a, b = str(results["o0"]), str(results["fz"])
    d = diff_documents(json.loads(results["o0"].read_text()),
                       json.loads(results["fz"].read_text()))
    finite = [abs(c.pct) for p in d.pairs for c in p.changes if c.pct is not None]
    from_zero = [c for p in d.pairs for c in p.changes if c.pct is None]
    biggest = max(finite)
    code, _, _ = run_cli(capsys, "diff", a, b, "--threshold", f"{biggest + 1}%")
    assert code == (1 if from_zero else 0)              # a counter from 0 always moves
    code, _, _ = run_cli(capsys, "diff", a, b, "--threshold", f"{biggest / 2}")
    assert code == 1


def test_documents_pair_by_policy_and_list_the_unpaired(results, capsys):
    code, out, _ = run_cli(capsys, "diff", str(results["both"]), str(results["o0"]))
    assert code == 1                                    # full-zswap is on one side only
    assert "only in A:" in out and "full-zswap" in out.split("only in A:")[1]
    assert "no counter changed" in out                  # order0-fallback paired with itself


def test_markdown_and_csv(results, capsys):
    a, b = str(results["o0"]), str(results["fz"])
    code, out, _ = run_cli(capsys, "diff", a, b, "--format", "csv")
    assert code == 1
    rows = list(csv.DictReader(io.StringIO(out)))
    major = next(r for r in rows if r["counter"] == "counters.pgmajfault")
    ra = json.loads(results["o0"].read_text())["results"][0]
    assert int(major["a"]) == ra["counters"]["pgmajfault"] and major["moved"] == "1"
    code, out, _ = run_cli(capsys, "diff", a, b, "--format", "markdown")
    assert code == 1
    assert "| counters.pgmajfault |" in out and out.startswith("### ")


def test_compare_documents_pair_by_trace_limit_and_policy(tmp_path, zipf_trace, capsys):
    docs = []
    for name, extra in (("a", []), ("b", ["--memcg", "v1"])):
        out = tmp_path / f"{name}.json"
        assert main(["compare", str(zipf_trace), "--memory-limit", "6M", "--policy",
                     "order0-fallback", "--policy", "hybrid-supported", *extra, "--json",
                     str(out), "--quiet"]) == 0
        docs.append(out)
    code, out, _ = run_cli(capsys, "diff", str(docs[0]), str(docs[1]))
    assert code == 1
    assert out.count("setting memcg: v2 -> v1") == 2    # both policies' results paired
    assert "@ 6M: order0-fallback" in out and "@ 6M: hybrid-supported" in out


@pytest.mark.parametrize("content, says", [
    (None, "no such file"),
    ("{not json", "not JSON"),
    ('{"schema_version": 1, "something": []}', "not a results document"),
    ('{"schema_version": 7, "results": []}', "schema version 7"),
    ('{"schema_version": 1, "results": [{"policy": "x"}]}', "a result lacks"),
])
def test_bad_documents_are_one_line_and_exit_2(results, tmp_path, capsys, content, says):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    code, out, err = run_cli(capsys, "diff", str(results["o0"]), str(bad))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and says in err and str(bad) in err


def test_a_bad_threshold_is_one_line(results, capsys):
    code, _, err = run_cli(capsys, "diff", str(results["o0"]), str(results["fz"]),
                           "--threshold", "much")
    assert code == 2 and err.count("\n") == 1 and "--threshold" in err
