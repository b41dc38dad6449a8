"""`replay run TRACE`: replay a trace under each swap-in policy and compare."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from replay.atomic import write_json_atomic
from replay.commands.common import (
    DEFAULT_MEMORY_LIMIT,
    MIN_MEMORY_LIMIT,
    check_output,
    config_from_options,
    parse_memory_limit,
    resolve_policies,
    settings_options,
    sim_options,
)
from replay.engine import run_document, simulate, trace_header
from replay.policies import available
from replay.report.document import replay_entry
from replay.report.notes import every_policy_killed, replay_notes
from replay.report.render import output_console
from replay.report.tables import SWAP_DEVICE_WORDS
from replay.study.folders import find_trace
from replay.study.footprint import trace_footprint
from replay.trace import open_trace
from replay.units import format_size

ROWS = [
    ("pgfault", "counters"), ("pgmajfault", "counters"), ("swpin (large)", None),
    ("swpin_fallback", None), ("zswpin", "counters"), ("pswpin", "counters"),
    ("swpin_zero", "counters"), ("zswpout", "counters"), ("pswpout", "counters"),
    ("zswpwb", "counters"), ("swpout_zero", "counters"), ("swpout (large)", None),
    ("swpout_fallback", None), ("split", None), ("swap_ra", "counters"),
    ("swap_ra_hit", "counters"), ("readahead_activated", "derived"),
    ("workingset_refault_anon", "counters"),
    ("workingset_activate_anon", "counters"), ("pgscan", "counters"), ("pgsteal", "counters"),
    ("swapin_pages", "derived"), ("swapin_pages_unused_reclaimed", "derived"),
    ("swapin_amplification", "derived"), ("peak_resident_bytes", "derived"),
    ("peak_pool_bytes", "derived"),
]


def _cell(r: dict, name: str, section: str | None) -> str:
    if section is None:
        key = name.split(" ")[0]
        parts = [f"{v[key]:,}@{size}" for size, v in r["per_size"].items() if v[key]]
        return " ".join(parts) if parts else "0"
    v = r[section][name]
    if name.endswith("_bytes"):
        return format_size(v)
    if isinstance(v, float):
        return f"{v:.3f}"
    return f"{v:,}"


def results_table(doc: dict) -> Table:
    results = doc["results"]
    cfg = results[0]["config"]
    title = (f"{escape(str(doc['trace']['path']))}: {doc['trace']['accesses']:,} accesses, "
             f"memcg {format_size(cfg['memory_limit_bytes'])} ({cfg['memcg']}), "
             f"mTHP {','.join(f'{k}K' for k in cfg['mthp_sizes_kb']) or 'none'} "
             f"({cfg['thp_enabled']}), {cfg['backend']}"
             + (f" on a {SWAP_DEVICE_WORDS[cfg['swap_device']]}"
                if cfg.get("swap_device") in SWAP_DEVICE_WORDS else "")
             + f", page-cluster {cfg['page_cluster']}"
             + (", charge guard" if cfg["charge_guard"] else ""))
    t = Table(title=title, title_justify="left")
    t.add_column("counter", style="bold")
    for r in results:
        t.add_column(r["policy"], justify="right")
    for name, section in ROWS:
        t.add_row(name, *[_cell(r, name, section) for r in results])
    t.add_row("swap-in time", *[
        f"{r['time']['swapin_ns'] / 1e6:,.1f} ms" if "time" in r else "-" for r in results])
    t.add_row("swap-in ns per page", *[
        f"{r['time']['swapin_ns_per_page']:,.0f}" if "time" in r else "-" for r in results])
    t.add_row("simulated time", *[
        f"{r['time']['total_ns'] / 1e6:,.1f} ms" if "time" in r else "-" for r in results])
    t.add_row("TLB misses /1000 (L1, L2)", *[
        f"{r['tlb']['misses_per_1000']['l1']:.1f}, {r['tlb']['misses_per_1000']['l2']:.1f}"
        if r.get("tlb", {}).get("config") else "-" for r in results])
    t.add_row("TLB cycles saved vs 4K", *[
        f"{r['tlb']['cycles_saved']:,}" if "cycles_saved" in r.get("tlb", {}) else "-"
        for r in results])
    if any(r["derived"].get("oom_killed") for r in results):
        t.add_row("OOM killed", *[
            f"at access {r['derived']['accesses']:,}" if r["derived"].get("oom_killed")
            else "no" for r in results], style="bold red")
    t.add_row("engine M accesses/s", *[
        f"{r['derived']['accesses'] / r['run']['engine_seconds'] / 1e6:.1f}"
        if r["run"]["engine_seconds"] > 0 else "-" for r in results])
    return t


@click.command("run")
@click.argument("trace")
@click.option("--memory-limit", default=DEFAULT_MEMORY_LIMIT, show_default=True,
              help="memcg limit: a percent of the trace's footprint (pages it reads or "
              "writes) or a size (K/M/G).")
@settings_options
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="Write the results document here (atomically).")
@click.option("--quiet", is_flag=True, help="No table, no progress.")
def COMMAND(trace, memory_limit, policies, json_out, quiet, chunk_rows, threads,
            **opts) -> None:
    """Replay TRACE (a file, or a name in traces/) through the model under each swap-in
    policy. Exits 1 when every policy was OOM-killed."""
    limit = parse_memory_limit(memory_limit)
    pols = resolve_policies(policies)
    kw = sim_options(opts)
    config_from_options(opts, MIN_MEMORY_LIMIT)          # every setting checked before work
    tr = open_trace(find_trace(trace))
    inputs = (tr.path, tr.contents_path, tr.regions_path, opts["cost_model"])
    if json_out:
        check_output(json_out, "--json", inputs=inputs)   # before the replay, not after
    tr.check()              # every row, the row count and the sidecars, before the replay
    fp = trace_footprint(tr)
    cfg = config_from_options(opts, limit.bytes_for(fp.bytes))
    show = not quiet and sys.stderr.isatty()
    if show:
        with Progress(TextColumn("replaying"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                      TimeRemainingColumn(), console=Console(stderr=True),
                      transient=True) as bar:
            task = bar.add_task("replay", total=tr.num_accesses)
            results = simulate(tr, cfg, pols, chunk_rows=chunk_rows or 1 << 20,
                               progress=lambda n: bar.update(task, completed=n),
                               threads=threads, **kw)
    else:
        results = simulate(tr, cfg, pols, chunk_rows=chunk_rows or 1 << 20, threads=threads,
                           **kw)
    doc = run_document(tr, results)
    if json_out:
        write_json_atomic(json_out, doc, inputs=inputs)
    entry = replay_entry(trace_header(tr), fp.to_dict(), limit.text, cfg.memory_limit_bytes,
                         results)
    if not quiet:
        console = output_console()
        console.print(results_table(doc))
        for note in replay_notes(entry, list(available())):
            console.print(f"note: {note}", style="red" if "OOM" in note else None,
                          highlight=False)
    if every_policy_killed(entry):
        raise click.exceptions.Exit(1)
