"""A policy from another distribution, found through the `folio_replay.policies` entry points.

The test writes a tiny installed distribution (a module plus its *.dist-info with
METADATA and entry_points.txt) into a folder and puts that folder on the path: in a
fresh process through PYTHONPATH (as `pip install` of a plugin would), and in this
process through sys.path.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from replay.engine import simulate
from replay.model.config import ModelConfig
from replay.policies import available

MODULE = "fr_test_order2_policy"
NAME = "order2-only"
DIST = "fr-test-order2-policy"
PLUGIN = f'''"""Test plugin: swap in 16K folios whenever the 16K range qualifies, nothing larger."""

from replay.policies.base import V_CANDIDATES, policy

NAME = "{NAME}"
SUMMARY = "test plugin: 16K folios only"


def _decide(view):
    if view[V_CANDIDATES] & (1 << 2):
        return 2
    return 0


decide = policy(_decide)
'''


@pytest.fixture(scope="module")
def plugin_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("plugin")
    (root / f"{MODULE}.py").write_text(PLUGIN)
    info = root / f"{MODULE}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {DIST}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[folio_replay.policies]\n{NAME} = {MODULE}\n")
    return root


@pytest.fixture
def plugin_on_path(plugin_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_dir))       # also invalidates import caches
    yield plugin_dir
    sys.modules.pop(MODULE, None)
    importlib.invalidate_caches()


def cli(plugin_dir: Path, *argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200",
               PYTHONPATH=os.pathsep.join(filter(None, [str(plugin_dir),
                                                        os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "replay.cli", *argv], env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def test_policies_command_lists_the_plugin(plugin_dir):
    p = cli(plugin_dir, "policies")
    assert p.returncode == 0, p.stderr
    line = next(ln for ln in p.stdout.splitlines() if NAME in ln)
    assert DIST in line and "16K folios only" in line
    assert "hybrid-rejected" in p.stdout                # the built-in ones are still there


def test_run_uses_the_plugin(plugin_dir, gen_trace, tmp_path):
    trace = gen_trace("swapin-1g", size_bytes=4 << 20, seed=3)
    out = tmp_path / "run.json"
    p = cli(plugin_dir, "run", str(trace), "--policy", NAME, "--policy", "hybrid-supported",
            "--mthp", "16K,64K", "--json", str(out), "--quiet")
    assert p.returncode == 0, p.stderr
    mine, builtin = json.loads(out.read_text())["results"]
    assert mine["policy"] == NAME
    assert mine["config"]["policy_origin"] == DIST
    # its decisions: 16K folios where hybrid-supported takes the highest order, 64K
    assert mine["per_size"]["16kB"]["swpin"] > 0
    assert mine["per_size"]["64kB"]["swpin"] == 0
    assert builtin["per_size"]["64kB"]["swpin"] > 0
    assert builtin["per_size"]["16kB"]["swpin"] == 0


def test_plugin_decisions_show_in_the_counters(plugin_on_path, gen_trace):
    """Every 16K range of the read-back phase is swapped in as one 16K folio: one major
    fault per 4 pages, and a 16K swpin for each range not read from the zeromap."""
    pols = available()
    assert pols[NAME].origin == DIST
    assert pols[NAME].decide(np.array([1 << 2] + [0] * 63, np.int64)) == 2
    trace = gen_trace("swapin-1g", size_bytes=4 << 20, seed=3)
    pages = (4 << 20) // 4096
    cfg = ModelConfig(memory_limit_bytes=64 << 20, mthp_sizes_kb=(16, 64))
    r = simulate(trace, cfg, [NAME])[0]
    zero_pages = r["counters"]["swpout_zero"]
    assert r["counters"]["pgmajfault"] == pages // 4
    assert r["per_size"]["16kB"]["swpin"] == (pages - zero_pages) // 4
    assert r["per_size"]["64kB"]["swpin"] == 0
    assert r["counters"]["swap_ra"] == 0


def test_unknown_policy_still_names_the_plugin(plugin_on_path):
    from replay.errors import SettingsError
    from replay.policies import get
    with pytest.raises(SettingsError) as e:
        get("nosuch")
    assert NAME in str(e.value)
