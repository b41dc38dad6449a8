"""The swap device as v6.18 sees it (--swap-device): a partition or a loop device is a
block device (SWP_BLKDEV) and gets large swap slots; a swapfile on a file system gets
none (cluster_alloc_swap_entry()), so every large folio is split at swap-out
(swpout_fallback, split). The split maps zero-filled subpages to the shared zero page
(try_to_map_unused_to_zeropage()) and frees them: no pageout, no swpout_zero, never
swapped in; a read of them afterwards does not fault, a write copies the zero page
into an order-0 folio. A page never written since its folio was allocated holds the
folio's zeros, whatever the trace says its contents are.
"""

from __future__ import annotations

import pytest

from replay.engine import simulate
from replay.errors import SettingsError
from replay.model.config import ModelConfig

R, W = 0, 1
PAGES = 512                       # one 2 MiB block: 32 folios of 64K
FOLIOS = PAGES // 16


def cfg(device: str, **kw) -> ModelConfig:
    base = {"memory_limit_bytes": 1 << 20, "page_cluster": 0, "memcg": "v1",
            "swap_device": device, "mthp_sizes_kb": (64,)}
    base.update(kw)
    return ModelConfig(**base)


def run(trace, config, policy="order0-fallback"):
    return simulate(trace.path, config, [policy], contents=trace.contents)[0]


def test_a_block_device_swaps_large_folios_out_whole_a_swapfile_splits_them(hand_trace):
    t = hand_trace([(p, W) for p in range(PAGES)])          # 2 MiB written, 1 MiB limit
    for device in ("partition", "loop"):
        s = run(t, cfg(device, backend="disk"))["per_size"]["64kB"]
        assert s["swpout"] > 0 and s["swpout_fallback"] == 0 and s["split"] == 0, device
    r = run(t, cfg("file", backend="disk"))
    s = r["per_size"]["64kB"]
    assert s["swpout"] == 0
    assert s["swpout_fallback"] > 0 and s["split"] == s["swpout_fallback"]
    # the split folios' pages went out one by one, as order-0 writes
    assert r["counters"]["pswpout"] == 16 * s["swpout_fallback"]


def test_zswap_on_a_swapfile_stores_the_split_pages(hand_trace):
    t = hand_trace([(p, W) for p in range(PAGES)])
    r = run(t, cfg("file"))
    s = r["per_size"]["64kB"]
    assert s["zswpout"] == 0 and s["swpout_fallback"] > 0
    assert r["counters"]["zswpout"] == 16 * s["swpout_fallback"]
    whole = run(t, cfg("loop"))["per_size"]["64kB"]
    assert whole["zswpout"] > 0 and whole["swpout_fallback"] == 0


def test_zero_subpages_of_a_split_folio_map_the_zero_page(hand_trace):
    # every folio holds 4 zero pages among 12 others; written, then read twice over
    zero = [p for p in range(PAGES) if p % 16 in (1, 2, 8, 15)]
    events = [(p, W) for p in range(PAGES)] + [(p, R) for p in range(PAGES)] * 2
    t = hand_trace(events, zero=zero)
    w = run(hand_trace(events[:PAGES], zero=zero), cfg("file"))["counters"]
    f = run(t, cfg("file"))
    c, s = f["counters"], f["per_size"]["64kB"]
    split = s["swpout_fallback"]
    assert split > 0
    # the split freed the zero subpages (no pageout, as the live kernel counts): while
    # writing, only the 12 others of each split folio were swapped out...
    assert w["swpout_zero"] == 0
    assert w["zswpout"] == 12 * run(hand_trace(events[:PAGES], zero=zero),
                                    cfg("file"))["per_size"]["64kB"]["swpout_fallback"]
    # ...and the reads find the zero page: nothing zero is ever swapped in or out
    assert c["swpin_zero"] == 0 and c["swpout_zero"] == 0
    # the block device keeps them inside their folios: stored in zswap with them and
    # swapped in (order 0 here), then swapped out and in again from the zeromap
    b = run(t, cfg("loop"))
    assert b["per_size"]["64kB"]["swpout_fallback"] == 0
    assert b["per_size"]["64kB"]["zswpout"] > 0
    assert b["counters"]["swpin_zero"] > 0
    assert b["counters"]["zswpin"] > f["counters"]["zswpin"]


def test_untouched_subpages_are_zero_and_split_off(hand_trace):
    # one page written in each 64K folio: the other 15 still hold the zeros the folio
    # was allocated with, whatever the trace says their contents are
    t = hand_trace([(p, W) for p in range(0, PAGES, 16)])     # 2 MiB of folios, 1 MiB limit
    f = run(t, cfg("file"))
    c, s = f["counters"], f["per_size"]["64kB"]
    assert s["swpout_fallback"] > 0
    assert c["zswpout"] == s["swpout_fallback"]    # one page of data per split folio
    assert c["swpout_zero"] == 0


def test_a_first_touch_of_a_remapped_page_copies_the_zero_page(hand_trace):
    # with first reads allocating (the live replayer writes a page's content at its
    # first touch), reading a never-touched page that a split mapped to the zero page
    # is a copy-on-write fault; a page already touched reads the zero page freely
    events = ([(p, W) for p in range(0, PAGES, 16)]
              + [(p, W) for p in range(PAGES, 2 * PAGES)]          # push block 0 out
              + [(p + 1, R) for p in range(0, PAGES, 16)])         # never touched
    t = hand_trace(events, blocks=2)
    r = run(t, cfg("file", first_read="allocate", memory_limit_bytes=2 << 20))
    z = run(t, cfg("file", first_read="zero-page", memory_limit_bytes=2 << 20))
    assert r["per_size"]["64kB"]["swpout_fallback"] > 0
    # the last reads: minor faults when first reads allocate, none otherwise
    assert r["counters"]["pgfault"] - z["counters"]["pgfault"] >= FOLIOS // 2


def test_a_write_to_a_remapped_zero_subpage_copies_it_minor(hand_trace):
    zero = [p for p in range(PAGES) if p % 16 == 3]
    events = [(p, W) for p in range(PAGES)] + [(p, W) for p in zero]
    t = hand_trace(events, zero=zero)
    r = run(t, cfg("file"))
    c = r["counters"]
    split = r["per_size"]["64kB"]["swpout_fallback"]
    assert split > 0
    # the zero subpages of the split folios are written again: one minor fault each
    # (do_wp_page on the zero page), no swap-in for them
    assert c["pgfault"] == FOLIOS + split + c["pgmajfault"]
    assert c["swpin_zero"] == 0


def test_a_fully_zero_folio_on_a_swapfile_is_split_and_mapped_to_the_zero_page(hand_trace):
    t = hand_trace([(p, W) for p in range(PAGES)] + [(p, R) for p in range(PAGES)],
                   zero=range(PAGES))
    r = run(t, cfg("file"))
    c = r["counters"]
    assert r["per_size"]["64kB"]["swpout_fallback"] > 0
    assert c["swpout_zero"] == 0 and c["pgmajfault"] == 0 and c["swpin_zero"] == 0
    # on a block device the zero folio goes to the zeromap whole and is read back from it
    b = run(t, cfg("partition"))["counters"]
    assert b["swpout_zero"] > 0 and b["swpin_zero"] > 0 and b["pgmajfault"] > 0


@pytest.mark.parametrize("backend, device", [("zram", "file"), ("zram", "loop"),
                                             ("zswap", "zram"), ("disk", "nvme")])
def test_a_device_that_does_not_go_with_the_backend_is_refused(backend, device):
    with pytest.raises(SettingsError, match="swap device"):
        ModelConfig(backend=backend, swap_device=device).validate()


def test_the_default_device_follows_the_backend():
    assert ModelConfig(backend="zram").swap_device == "zram"
    assert ModelConfig(backend="zswap").swap_device == "partition"
    assert "blkdev" in ModelConfig(backend="zswap").swap_caps
    assert "blkdev" not in ModelConfig(backend="zswap", swap_device="file").swap_caps


@pytest.mark.parametrize("verb", ["run", "validate"])
def test_the_cli_refuses_a_swapfile_under_zram_in_one_line(verb, hand_trace, capsys):
    from replay.cli import main
    t = hand_trace([(p, W) for p in range(64)])
    assert main([verb, str(t.path), "--backend", "zram", "--swap-device", "file"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "zram" in err[0] and "swap" in err[0]
