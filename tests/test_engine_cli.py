"""`replay run`: the results document, every policy, and one-line errors for bad settings."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from replay.cli import main
from replay.engine import simulate
from replay.model.config import ModelConfig
from replay.model.state import COUNTER_NAMES, DERIVED_NAMES, PER_SIZE_NAMES
from replay.policies import BUILTIN

POLICIES = list(BUILTIN)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def policy_args() -> list[str]:
    return [a for name in POLICIES for a in ("--policy", name)]


@pytest.mark.parametrize("trace_fixture", ["seq_trace", "zipf_trace", "swapin_trace"])
def test_run_writes_the_results_document_for_every_policy(request, capsys, tmp_path,
                                                           trace_fixture):
    trace = request.getfixturevalue(trace_fixture)
    out = tmp_path / "run.json"
    code, stdout, err = run_cli(capsys, "run", str(trace), *policy_args(), "--memory-limit",
                                "8M", "--mthp", "16K,64K", "--json", str(out), "--quiet")
    assert (code, err) == (0, "")
    assert stdout == ""                       # --quiet: no table
    doc = json.loads(out.read_text())
    assert set(doc) == {"schema_version", "trace", "results"}
    assert doc["schema_version"] == 1
    assert doc["trace"]["path"] == str(trace)
    assert doc["trace"]["accesses"] > 0
    assert doc["trace"]["source_format"] == "gen"
    assert [r["policy"] for r in doc["results"]] == POLICIES      # bare names, in order
    for r in doc["results"]:
        assert {"policy", "config", "counters", "per_size", "derived", "run"} <= set(r)
        cfg = r["config"]
        assert cfg["memory_limit_bytes"] == 8 << 20
        assert cfg["mthp_sizes_kb"] == [16, 64]
        assert cfg["backend"] == "zswap"
        assert list(r["counters"]) == list(COUNTER_NAMES)
        assert all(isinstance(v, int) and v >= 0 for v in r["counters"].values())
        assert set(r["per_size"]) >= {"16kB", "64kB"}
        for stats in r["per_size"].values():
            assert list(stats) == list(PER_SIZE_NAMES)
        derived = r["derived"]
        assert set(DERIVED_NAMES) <= set(derived)
        for name in ("swapin_amplification", "swapin_pages_unused_reclaimed",
                     "peak_resident_bytes", "peak_pool_bytes"):
            assert name in derived
        assert derived["accesses"] == doc["trace"]["accesses"]
        assert 0 < derived["peak_resident_bytes"] <= 8 << 20
        assert set(r["run"]) == {"engine_seconds", "total_seconds"}
        assert 0 < r["run"]["engine_seconds"] <= r["run"]["total_seconds"]
        if derived["swapin_pages_used"]:
            assert derived["swapin_amplification"] == pytest.approx(
                derived["swapin_pages"] / derived["swapin_pages_used"])
    # the command replays what the library replays with the same settings (the command's
    # defaults turn the zswap shrinker on; the library's ModelConfig keeps the kernel's off)
    lib = simulate(trace, ModelConfig(memory_limit_bytes=8 << 20, mthp_sizes_kb=(16, 64),
                                      zswap_shrinker=True), POLICIES)
    for a, b in zip(doc["results"], lib):
        assert (a["counters"], a["per_size"], a["derived"]) == \
            (b["counters"], b["per_size"], b["derived"])


def test_run_options_reach_the_model(capsys, tmp_path, zipf_trace):
    out = tmp_path / "run.json"
    code, _, err = run_cli(capsys, "run", str(zipf_trace), "--policy", "hybrid-supported",
                           "--memory-limit", "2M", "--mthp", "none", "--backend", "zram",
                           "--zswap-max-pool", "1M", "--page-cluster", "0", "--memcg", "v1",
                           "--first-read", "allocate", "--charge-guard", "--swap-size", "64M",
                           "--reclaim", "exact-lru", "--json", str(out), "--quiet")
    assert (code, err) == (0, "")
    r = json.loads(out.read_text())["results"][0]
    cfg = r["config"]
    assert (cfg["memory_limit_bytes"], cfg["mthp_sizes_kb"], cfg["backend"]) == \
        (2 << 20, [], "zram")
    assert (cfg["zswap_max_pool_bytes"], cfg["page_cluster"], cfg["memcg"]) == \
        (1 << 20, 0, "v1")
    assert (cfg["first_read"], cfg["charge_guard"], cfg["swap_bytes"], cfg["reclaim"]) == \
        ("allocate", True, 64 << 20, "exact-lru")
    assert r["per_size"] == {}                   # no mTHP size enabled, none used
    assert r["counters"]["swap_ra"] == 0         # zram: no readahead
    assert r["counters"]["pgmajfault"] > 0


def test_run_prints_a_table_without_quiet(capsys, seq_trace):
    code, stdout, err = run_cli(capsys, "run", str(seq_trace), "--policy", "full-zswap",
                                "--policy", "hybrid-rejected", "--memory-limit", "4M")
    assert (code, err) == (0, "")
    for word in ("full-zswap", "hybrid-rejected", "pgmajfault", "zswpin", "swpin (large)"):
        assert word in stdout


@pytest.mark.parametrize("argv,says", [
    (["--memory-limit", "-5"], "--memory-limit"),
    (["--memory-limit", "100K"], "below 1 MiB"),
    (["--mthp", "48K"], "48K"),
    (["--mthp", "lots"], "--mthp"),
    (["--policy", "nosuch"], "nosuch"),
    (["--zswap-max-pool", "many%"], "--zswap-max-pool"),
    (["--swap-size", "1K"], "swap"),
])
def test_bad_settings_exit_2_with_one_line(capsys, seq_trace, argv, says):
    code, _stdout, err = run_cli(capsys, "run", str(seq_trace), "--quiet", *argv)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("replay: error: ")
    assert says in lines[0]
    assert "Traceback" not in err


def test_missing_trace_is_one_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", str(tmp_path / "nope.parquet"), "--quiet")
    assert code == 2
    assert err.count("\n") == 1 and "nope.parquet" in err


def test_bad_setting_from_a_real_process(tmp_path, seq_trace):
    """The installed entry point, in its own process: exit status 2, one line, no JSON."""
    out = tmp_path / "run.json"
    p = subprocess.run([sys.executable, "-m", "replay.cli", "run", str(seq_trace),
                        "--mthp", "48K", "--json", str(out)],
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 2
    assert len(p.stderr.splitlines()) == 1 and p.stderr.startswith("replay: error: ")
    assert not out.exists()


def test_swapin_1g_large_policies_swap_in_64k_folios_with_fewer_major_faults(capsys, tmp_path,
                                                                          gen_trace):
    """The RFC's microbenchmark: write, MADV_PAGEOUT, read back 32 MiB; zswap, 64K mTHP.

    order0-fallback reads 4K pages with readahead; full-zswap, hybrid-rejected and
    hybrid-supported read 64K folios and take fewer major faults. hybrid-rejected and
    hybrid-supported take exactly one per folio (every range is wholly in zswap or
    wholly zero); full-zswap refuses the zero-filled ones."""
    trace = gen_trace("swapin-1g", size_bytes=32 << 20, seed=2)
    out = tmp_path / "run.json"
    code, _, err = run_cli(capsys, "run", str(trace), "--policy", "order0-fallback",
                           "--policy", "full-zswap", "--policy", "hybrid-rejected",
                           "--policy", "hybrid-supported", "--memory-limit", "64M",
                           "--mthp", "64K", "--backend", "zswap", "--json", str(out), "--quiet")
    assert (code, err) == (0, "")
    res = {r["policy"]: r for r in json.loads(out.read_text())["results"]}
    pages = (32 << 20) // 4096
    folios = pages // 16
    base = res["order0-fallback"]
    assert base["per_size"]["64kB"]["swpin"] == 0
    assert base["counters"]["swap_ra"] > 0
    assert base["counters"]["swap_ra_hit"] > 0
    assert base["counters"]["pgmajfault"] >= folios
    for name in ("full-zswap", "hybrid-rejected", "hybrid-supported"):
        r = res[name]
        assert r["per_size"]["64kB"]["swpin"] > 0, name
        assert r["counters"]["pgmajfault"] < base["counters"]["pgmajfault"], name
        assert r["derived"]["swapin_pages"] == pages, name
    zero_folios = base["counters"]["swpout_zero"] // 16
    assert 0 < zero_folios < folios
    for name in ("hybrid-rejected", "hybrid-supported"):
        r = res[name]
        assert r["counters"]["pgmajfault"] == folios
        assert r["per_size"]["64kB"]["swpin"] == folios - zero_folios   # zero ones: swpin_zero
        assert r["counters"]["swap_ra"] == 0
        assert r["counters"]["zswpin"] == pages - 16 * zero_folios
    assert res["full-zswap"]["per_size"]["64kB"]["swpin"] <= folios - zero_folios


def test_help_lists_every_verb_with_its_own_line_without_loading_them():
    """`replay --help` comes from the table in replay/cli.py (the verbs' modules, and
    numpy with them, load only when a verb runs): the table's lines are the verbs' own."""
    import importlib
    import subprocess
    import sys

    from replay.cli import COMMANDS
    for name, (module, line) in COMMANDS.items():
        command = importlib.import_module(module).COMMAND
        assert command.name == name
        assert command.get_short_help_str(70) == line, name
    probe = ("import sys; from replay.cli import main; code = main(['--help']); "
             "print('loaded', sorted(m for m in ('numpy', 'pyarrow', 'replay.engine') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert "loaded []" in out
    for name in COMMANDS:
        assert f"  {name} " in out
