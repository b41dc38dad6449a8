"""`replay sweep` specs: what a grid expands to, the run keys, and one clear line naming
the file and the key for each bad spec (exit 2, nothing replayed)."""

from __future__ import annotations

import pytest

from replay.cli import main
from replay.policies import available
from replay.sweep.plan import plan_sweep
from replay.sweep.settings import settings
from replay.sweep.spec import SpecError, load_spec


def spec_file(tmp_path, text: str, name: str = "s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_every_setting_of_replay_run_is_a_sweep_setting():
    from replay.commands.run import COMMAND as run_command
    run_options = {p.name for p in run_command.params} - {
        "trace", "json_out", "quiet", "threads", "chunk_rows", "policies"}
    assert run_options <= set(settings()), run_options - set(settings())
    assert "policy" in settings()


def test_a_grid_is_every_combination_and_runs_add_to_it(tmp_path, zipf_trace):
    p = spec_file(tmp_path, f'''
traces = ["{zipf_trace}"]
[settings]
tlb = "none"
[grid]
policy = ["order0-fallback", "hybrid-supported"]
memory-limit = ["40%", "60%"]
mthp = ["16K", "64k,16K"]
[[run]]
memory-limit = "6M"
mthp = "none"
policy = "full-zswap"
''')
    spec = load_spec(p)
    assert len(spec.points) == 4 + 1
    assert {pt.values["mthp"] for pt in spec.points} == {"16K", "16K,64K", "none"}
    assert all(pt.values["tlb"] == "none" for pt in spec.points)
    plan = plan_sweep(spec)
    assert len(plan.runs) == 2 * 2 * 2 + 1
    assert len({r.key for r in plan.runs}) == len(plan.runs)
    assert plan.varied == ["memory_limit", "mthp"]
    tasks = plan.tasks()
    assert len(tasks) == 5                       # one per setting point, policies together
    assert sorted(len(t.runs) for t in tasks) == [1, 2, 2, 2, 2]


def test_keys_are_stable_and_spelling_blind(tmp_path, zipf_trace):
    a = plan_sweep(load_spec(spec_file(tmp_path, f'traces = ["{zipf_trace}"]\n'
                                       '[grid]\nmthp = ["64K"]\npolicy = "order0-fallback"\n',
                                       "a.toml")))
    b = plan_sweep(load_spec(spec_file(tmp_path, f'traces = ["{zipf_trace}"]\n'
                                       '[settings]\nmthp = "64k"\n'
                                       'policy = ["order0-fallback"]\n', "b.toml")))
    c = plan_sweep(load_spec(spec_file(tmp_path, f'traces = ["{zipf_trace}"]\n'
                                       '[settings]\nmthp = "16K"\n'
                                       'policy = ["order0-fallback"]\n', "c.toml")))
    assert [r.key for r in a.runs] == [r.key for r in b.runs]
    assert a.runs[0].key != c.runs[0].key


def test_policy_not_given_is_every_policy_and_a_run_given_twice_is_one_run(tmp_path,
                                                                            zipf_trace):
    p = spec_file(tmp_path, f'''
traces = ["{zipf_trace}"]
[[grid]]
memory-limit = ["6M", "8M"]
[[grid]]
memory-limit = ["8M", "10M"]
''')
    plan = plan_sweep(load_spec(p))
    assert len(plan.runs) == 3 * len(available())


def test_traces_are_found_by_name_and_from_the_spec_folder(tmp_path, zipf_trace,
                                                          monkeypatch):
    folder = zipf_trace.parent
    monkeypatch.setenv("FOLIO_REPLAY_TRACES", str(folder))
    name = zipf_trace.name.removesuffix(".parquet")
    p = spec_file(folder, f'traces = ["{name}", "./{zipf_trace.name}"]\n'
                  '[settings]\npolicy = "order0-fallback"\n', "named.toml")
    plan = plan_sweep(load_spec(p))
    assert len(plan.traces) == 1                 # the same file twice is one trace
    assert len(plan.runs) == 1


def test_a_grid_or_run_value_replaces_the_settings_one(tmp_path, zipf_trace):
    p = spec_file(tmp_path, f'traces = ["{zipf_trace}"]\n[settings]\nmthp = "64K"\n'
                  'backend = "zram"\n[grid]\nmthp = ["16K"]\n[[run]]\nbackend = "disk"\n')
    spec = load_spec(p)
    assert [(pt.values["mthp"], pt.values["backend"]) for pt in spec.points] == [
        ("16K", "zram"), ("64K", "disk")]


BAD = [
    ('traces = ["T"]\n[grid]\nmthp = ["16K", "63K"]\n', "grid.mthp", "63K"),
    ('traces = ["T"]\n[grid]\nmthp = ["16K", "16K"]\n', "grid.mthp", "given twice"),
    ('traces = ["T"]\n[grid]\nmthp = []\n', "grid.mthp", "empty list"),
    ('traces = ["T"]\n[grid]\ncompressor = ["lz4", "lz5"]\n', "grid.compressor", "lz5"),
    ('traces = ["T"]\n[grid]\ncompressor = ["zstd-9"]\n', "grid (compressor = \"zstd-9\")",
     "no timings for codec zstd-9"),
    ('traces = ["T"]\n[grid]\nmemcg = ["v1", "v2"]\nzswap-writeback = [true, false]\n',
     'grid (memcg = "v1", zswap-writeback = false)', "cgroup v2"),
    ('traces = ["T"]\n[grid]\npage-cluster = [2, 40]\n', "grid.page-cluster", "0..31"),
    ('traces = ["T"]\n[grid]\nrotational = ["yes"]\n', "grid.rotational", "true or false"),
    ('traces = ["T"]\n[grid]\nmemory-limit = ["0%"]\n', "grid.memory-limit", "above 0%"),
    ('traces = ["T"]\n[grid]\nram = ["lots"]\n', "grid.ram", "not a size"),
    ('traces = ["T"]\n[grid]\nbackend = ["nvme"]\n', "grid.backend", "zswap, zram, disk"),
    ('traces = ["T"]\n[grid]\npolicy = ["order0-fallback", "best"]\n', "grid.policy",
     "unknown policy 'best'"),
    ('traces = ["T"]\n[grid]\nthreads = [2]\n', "grid.threads", "changes no result"),
    ('traces = ["T"]\n[grid]\nmthp-size = ["16K"]\n', "grid.mthp-size", "unknown setting"),
    ('traces = ["T"]\n[grid]\nmthp = ["16K"]\nmthp_ = 1\n', "grid.mthp_", "unknown setting"),
    ('traces = ["T"]\n[[run]]\nmthp = ["16K"]\n', "run[1].mthp", "not a list"),
    ('traces = ["T"]\nmthp = "16K"\n', "mthp", "unknown key"),
    ('traces = ["T"]\n[grid]\nmemory-limit = ["6M"]\nmemory_limit = ["8M"]\n',
     "grid.memory_limit", "same setting"),
    ('traces = ["nope"]\n', "traces", "no such file"),
    ('traces = []\n', "traces", "no trace"),
    ('shared-traces = true\n', "traces", "no traces"),
    ('traces = ["T"]\nshared-traces = "yes"\n', "shared-traces", "true or false"),
    ('traces = ["T"\n', "", "not TOML"),
]


@pytest.mark.parametrize("text,key,says", BAD)
def test_a_bad_spec_is_one_line_naming_the_file_and_the_key(tmp_path, capsys, zipf_trace,
                                                            text, key, says):
    p = spec_file(tmp_path, text.replace('"T"', f'"{zipf_trace}"'), "bad.toml")
    with pytest.raises(SpecError):
        plan_sweep(load_spec(p))
    code = main(["sweep", str(p), "-o", str(tmp_path / "out.parquet")])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"replay: error: {p}: {key}"), lines[0]
    assert says in lines[0]
    assert not (tmp_path / "out.parquet").exists()


def test_outputs_are_checked_before_any_trace_is_read(tmp_path, capsys, zipf_trace):
    p = spec_file(tmp_path, f'traces = ["{zipf_trace}"]\n')
    for out, says in ((str(zipf_trace), "not a sweep results table"),
                      (str(tmp_path / "no" / "x.parquet"), "output folder does not exist"),
                      (str(tmp_path / "x.csv"), "does not end in .parquet")):
        assert main(["sweep", str(p), "-o", out]) == 2
        err = capsys.readouterr().err
        assert says in err and len(err.strip().splitlines()) == 1


def test_missing_spec_and_scheduler_with_workers(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "none.toml")]) == 2
    assert "none.toml: no such file" in capsys.readouterr().err
    p = spec_file(tmp_path, 'traces = ["x"]\n')
    assert main(["sweep", str(p), "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"]) == 2
    assert "--workers" in capsys.readouterr().err
