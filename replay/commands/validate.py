"""`replay validate TRACE`: the live kernel vs the simulator on the same trace."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from replay.atomic import check_output
from replay.errors import SettingsError
from replay.live.faultlog import summary as fault_summary
from replay.live.faultlog import write_fault_log
from replay.live.paths import KernelPaths
from replay.live.runner import CommandRunner, LiveError
from replay.live.session import Interrupted, recover
from replay.live.validate import ValidateSettings, run_validation, write_json_atomic
from replay.study.folders import find_trace
from replay.trace import sidecar_paths
from replay.units import parse_size


def _sizes(text: str) -> tuple[int, ...]:
    if text.strip().lower() in ("", "none", "off"):
        return ()
    out = []
    for part in text.split(","):
        n = parse_size(part.strip() if part.strip()[-1:].isalpha() else part.strip() + "K",
                       "--mthp size")
        if n % 1024:
            raise SettingsError(f"mTHP size {part!r} is not a whole number of KiB")
        out.append(n // 1024)
    return tuple(sorted(set(out)))


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.1f}"
    return f"{int(v):,}"


def _pct(v, sign: bool = True) -> str:
    if v is None:
        return "-"
    return f"{v * 100:+.1f}%" if sign else f"{v * 100:.1f}%"


def print_report(report: dict, console: Console) -> None:
    k = report["kernel"]
    s = report["settings"]
    console.print(f"kernel {k['release']}, memcg {k['memcg']}, "
                  f"MGLRU {'on' if k['mglru'] else 'off'}, zswap ever enabled: "
                  f"{k['zswap_ever_enabled']} ({k['zswap_evidence']})", markup=False)
    sizes = ",".join(f"{x}K" for x in s["mthp_sizes_kb"]) or "none"
    where = (f" over a {'swapfile' if s.get('swap_device') == 'file' else 'loop device'}"
             if s["backend"] == "zswap" else "")
    console.print(f"{s['backend']} backend{where}, mTHP {sizes}, "
                  f"limit {s['memory_limit_bytes'] >> 20} MiB, page-cluster "
                  f"{s['page_cluster']}, swappiness {s['swappiness']}, {len(report['runs'])} "
                  f"run(s); policy {', '.join(report['policies'])}", markup=False)
    for w in k.get("warnings", []) + report.get("consistency", []):
        console.print(f"[yellow]note:[/] {escape(w)}")
    runs = len(report["runs"])
    spread_title = f"kernel spread ({runs} runs)" if runs > 1 else "kernel spread"
    if report["comparison"]:
        for policy, rows in report["comparison"].items():
            t = Table(title=f"kernel vs model ({policy})", title_justify="left")
            t.add_column("counter", no_wrap=True,
                         min_width=max([len(r["counter"]) for r in rows] + [7]))
            for col in ("kernel", spread_title, "model", "model error"):
                t.add_column(col, justify="right")
            for row in rows:
                err = row["relative_error"]
                bad = abs(err) > max(row["kernel_spread"], 0.05) and not row["shared"]
                t.add_row(escape(row["counter"]) + (" *" if row["shared"] else ""),
                          _fmt(row["kernel"]),
                          _pct(row["kernel_spread"], sign=False) if runs > 1 else "-",
                          _fmt(row["model"]), f"[red]{_pct(err)}[/]" if bad else _pct(err))
            console.print(t)
            if any(row["shared"] for row in rows):
                console.print("* other processes had MADV_HUGEPAGE regions during the runs and "
                              "count in the same global mTHP statistics: not in the maximum")
        if report["max_relative_error"] is not None:
            console.print(f"max relative error: {report['max_relative_error']:.3g} "
                          "(|model - kernel| / max(kernel, 1), kernel = mean over runs)")
    else:
        t = Table(title="kernel counters", title_justify="left")
        t.add_column("counter", no_wrap=True,
                     min_width=max([len(k) for k in report["kernel_summary"]] + [7]))
        for col in ("mean", "min", "max", spread_title):
            t.add_column(col, justify="right")
        for key, v in report["kernel_summary"].items():
            t.add_row(escape(key), _fmt(v["mean"]), _fmt(v["min"]), _fmt(v["max"]),
                      _pct(v["spread"], sign=False) if runs > 1 else "-")
        console.print(t)


@click.command("validate")
@click.argument("trace", type=click.Path(dir_okay=False), required=False)
@click.option("--backend", type=click.Choice(["zram", "zswap"]), default="zram",
              show_default=True, help="zram (lz4) as swap, or zswap over a loop device or "
                                      "a swapfile (--swap-device).")
@click.option("--swap-device", type=click.Choice(["loop", "file"]), default=None,
              help="With --backend zswap: a loop device over a file in /var/tmp (a block "
                   "device: large folios swap out whole), or the file itself as a swapfile "
                   "(no large swap slots: every large folio is split at swap-out). Removed "
                   "afterwards. [default: loop]")
@click.option("--mthp", "mthp", default="64K", show_default=True,
              help="mTHP sizes set to 'madvise' (comma list, or 'none'); all others and 2M "
                   "are set to 'never'.")
@click.option("--hugepage", type=click.Choice(["regions", "all"]), default="regions",
              show_default=True,
              help="Which 2 MiB blocks the replayer (and the model) madvise MADV_HUGEPAGE, "
                   "for the --mthp sizes: those the trace's regions sidecar marks (every "
                   "block of a trace without one), or all (a recorded program that did not "
                   "madvise, replayed with large folios).")
@click.option("--limit", default="64M", show_default=True,
              help="memcg v1 memory.limit_in_bytes.")
@click.option("--page-cluster", default=3, show_default=True, type=click.IntRange(0, 31))
@click.option("--swappiness", default=60, show_default=True, type=click.IntRange(1, 200))
@click.option("--swap-size", default=None,
              help="zram disksize / loop or swap file size [default: twice the replayed region, "
                   "at least 256M].")
@click.option("--runs", default=3, show_default=True, type=click.IntRange(1),
              help="Kernel runs (the model is deterministic: run once).")
@click.option("--timeout", "timeout_s", default=600.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True), help="Seconds per kernel run.")
@click.option("--flush-every", default=32, show_default=True, type=click.IntRange(0),
              help="Read memory.stat every N records (flushes memcg statistics; 0: never).")
@click.option("--verify", is_flag=True, help="Compare each touched page with its content.")
@click.option("--coalesce-pageout/--no-coalesce-pageout", default=True, show_default=True,
              help="One MADV_PAGEOUT per run of pageout records of consecutive pages (the "
                   "advised range a recorder saw), or one per record (4 KiB: splits the large "
                   "folio it hits).")
@click.option("--policy", "policies", multiple=True,
              help="Model policy to compare [default: mainline, or order0-fallback once "
                   "zswap has been enabled since boot].")
@click.option("--no-model", is_flag=True, help="Measure the kernel only.")
@click.option("--allow-zswap", is_flag=True,
              help="Let the zswap backend enable zswap (sets its ever-enabled key until "
                   "reboot: no large swap-in from zram afterwards).")
@click.option("--zswap-max-pool-percent", type=click.IntRange(1, 100), default=None)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), default=None,
              help="Write the whole report as JSON (with max_relative_error).")
@click.option("--fault-log", "fault_log", type=click.Path(dir_okay=False), default=None,
              help="Write every fault on a swapped-out page, each kernel run's and the "
                   "model's, to this CSV: record, page, swap offset, major or swap cache "
                   "hit (docs/validation.md).")
@click.option("--recover", "recover_only", is_flag=True,
              help="Restore the settings a killed validation left behind, then exit.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
def COMMAND(trace, backend, swap_device, mthp, hugepage, limit, page_cluster, swappiness, swap_size,
            runs, timeout_s, flush_every, verify, coalesce_pageout, policies, no_model, allow_zswap,
            zswap_max_pool_percent, json_out, fault_log, recover_only, quiet) -> None:
    """Replay TRACE in a real process under a memcg and compare the kernel's counters
    with the simulator's (needs root, memcg v1, zram; restores every setting)."""
    err = Console(stderr=True)
    paths, runner = KernelPaths(), CommandRunner()
    if recover_only:
        n = recover(paths, runner, log=lambda m: err.print(m, style="dim", markup=False))
        click.echo(f"replay validate: restored {n} setting(s)" if n else
                   "replay validate: nothing to restore")
        return
    if trace is None:
        raise SettingsError("validate needs a TRACE (or --recover)")
    if swap_device and backend != "zswap":
        raise SettingsError(f"--swap-device {swap_device} is for --backend zswap (zram is "
                            "its own swap device)")
    settings = ValidateSettings(
        backend=backend, swap_device=swap_device or "loop", mthp_sizes_kb=_sizes(mthp),
        hugepage=hugepage,
        memory_limit_bytes=parse_size(limit, "--limit"), page_cluster=page_cluster,
        swappiness=swappiness,
        swap_bytes=parse_size(swap_size, "--swap-size") if swap_size else None,
        runs=runs, timeout_s=timeout_s, flush_every=flush_every, verify=verify,
        coalesce_pageout=coalesce_pageout, allow_zswap=allow_zswap,
        zswap_max_pool_percent=zswap_max_pool_percent, policies=tuple(policies),
        model=not no_model, fault_log=fault_log is not None)
    progress = None if quiet else (lambda m: err.print(m, style="dim", markup=False))
    trace = str(find_trace(trace))           # a path, or a name in traces/
    inputs = (trace, *sidecar_paths(trace))
    if json_out:
        check_output(json_out, inputs, "--json output")   # before the kernel runs
    if fault_log:
        check_output(fault_log, inputs, "--fault-log output")
    try:
        report = run_validation(trace, settings, paths=paths, runner=runner, progress=progress)
    except Interrupted as e:
        click.echo(f"replay: validate: stopped by {e.name}; every setting was restored",
                   err=True)
        sys.exit(128 + e.signum)
    logs = report.pop("fault_logs", {})
    if fault_log:
        rows = write_fault_log(fault_log, logs, inputs=inputs)
        for name, log in logs.items():
            s = fault_summary(log)
            err.print(f"fault log, {name}: {s['faults']:,} faults on swapped-out pages, "
                      f"{s['major']:,} major, {s['swap_cache_hits']:,} swap cache hits; "
                      f"{s['adjacent_majors']:.2%} of consecutive majors at adjacent offsets",
                      style="dim", markup=False)
        err.print(f"fault log: {rows:,} rows in {fault_log}", style="dim", markup=False)
    if json_out:
        write_json_atomic(json_out, report, inputs=inputs)
    print_report(report, Console())
    if report["model_error"]:
        raise LiveError(f"model comparison failed: {report['model_error']}")
