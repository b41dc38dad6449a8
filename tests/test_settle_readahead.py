"""The child that settles the kernel's cluster-readahead state before a kernel run."""

from __future__ import annotations

from pathlib import Path

import pytest

from replay.live.readahead import FAULTS, STRIDE, settle_swap_readahead
from replay.live.runner import LiveError


def swap_active() -> bool:
    try:
        return len(Path("/proc/swaps").read_text().splitlines()) > 1
    except OSError:
        return True


def test_faults_are_never_adjacent_and_outnumber_the_halvings():
    assert STRIDE > 8                 # wider than page-cluster 3's window: no readahead hit
    assert FAULTS >= 4                # 8 -> 4 -> 2 -> 1


@pytest.mark.skipif(swap_active(), reason="swap is on: the child would page out for real")
def test_child_runs_and_reports_what_reached_swap():
    assert settle_swap_readahead() == 0     # no swap device: nothing was paged out


def test_a_failing_child_is_one_line(monkeypatch):
    monkeypatch.setattr("replay.live.readahead._CHILD", "raise SystemExit('boom')")
    with pytest.raises(LiveError, match="settling swap readahead: the child failed"):
        settle_swap_readahead()
