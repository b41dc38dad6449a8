"""`replay calibrate [TRACE] -o PATH`: measure this machine into a cost model for `replay run`."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from replay.atomic import check_output, write_json_atomic
from replay.costs.calibrate import calibrate, corpus
from replay.costs.codecs import available_codec_keys, codec_key, lzo_available
from replay.trace import open_trace


def default_output() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "folio-replay" / "cost-model.json"


@click.command("calibrate")
@click.argument("trace", required=False, type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Cost model to write [default: $XDG_CACHE_HOME/folio-replay/cost-model.json].")
@click.option("--codec", "codecs", multiple=True,
              help="Codec to measure (lz4, lzo, zstd-N, deflate); repeat. Default: all usable.")
@click.option("--samples", default=6, show_default=True, type=click.IntRange(1, 64),
              help="Buffers per content class and unit size (1, 4 and 16 pages).")
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1, 20),
              help="Timing rounds per buffer (the minimum is kept).")
@click.option("--no-memory", is_flag=True,
              help="Skip the memory bandwidth and anonymous fault measurements.")
def COMMAND(trace, output, codecs, samples, rounds, no_memory) -> None:
    """Time the codecs (and memory costs) of this machine; write a cost model JSON.

    Without TRACE the corpus is generated pages of every content class; with
    TRACE, its recorded page bytes and the classes it uses. Use the result with
    `replay run --cost-model PATH`.
    """
    out = Path(output) if output else default_output()
    if output is None:
        out.parent.mkdir(parents=True, exist_ok=True)
    tr = open_trace(trace) if trace else None
    inputs = (tr.path, tr.contents_path, tr.regions_path) if tr else ()
    check_output(out, inputs, "output")           # before the measurements, not after
    keys = [codec_key(c) for c in codecs] if codecs else available_codec_keys()
    console = Console(stderr=True)
    if not lzo_available() and not codecs:
        console.print("[yellow]python-lzo is not installed: lzo (the kernel's default zswap "
                      "compressor) is not measured; pip install 'folio-replay[lzo]'[/]")
    buffers = corpus(samples, tr)
    name = f"trace {trace}" if trace else "generated content classes"
    with console.status("calibrating") as status:
        doc = calibrate(keys, buffers, name, rounds=rounds, measure_memory=not no_memory,
                        progress=lambda m: status.update(f"calibrating: {m}"))
    write_json_atomic(out, doc, inputs=inputs)
    show(doc, Console())
    click.echo(f"wrote {out}; use it with: replay run --cost-model {out}")


def show(doc: dict, console: Console) -> None:
    """Fit quality and per-class figures as rich tables."""
    t = Table(title="codec time fits: time = a + b*in_bytes + c*out_bytes", title_justify="left")
    for col in ("codec", "op", "a ns", "b ns/KiB in", "c ns/KiB out", "R^2",
                "median |resid|", "max |resid|", "n"):
        t.add_column(col, justify="left" if col in ("codec", "op") else "right")
    for key, entry in doc["codecs"].items():
        for op in ("compress", "decompress"):
            f = entry[op]
            t.add_row(key, op, f"{f['a_ns']:.0f}", f"{f['b_ns_per_in_byte'] * 1024:.0f}",
                      f"{f['c_ns_per_out_byte'] * 1024:.0f}", f"{f['r2']:.3f}",
                      f"{f['median_rel_residual']:.0%}", f"{f['max_rel_residual']:.0%}",
                      str(f["samples"]))
    console.print(t)
    t = Table(title="per content class, 4 KiB page (64 KiB unit)", title_justify="left")
    for col in ("codec", "class", "ratio", "compress us", "decompress us"):
        t.add_column(col, justify="left" if col in ("codec", "class") else "right")
    for key, entry in doc["codecs"].items():
        for cls, per in entry["per_class"].items():
            a, b = per.get("4k", {}), per.get("64k", {})
            t.add_row(key, cls, f"{a.get('ratio', 0):.2f} ({b.get('ratio', 0):.2f})",
                      f"{a.get('compress_us', 0):.2f} ({b.get('compress_us', 0):.1f})",
                      f"{a.get('decompress_us', 0):.2f} ({b.get('decompress_us', 0):.1f})")
    console.print(t)
    p = doc["params"]
    console.print(f"python call overhead {doc['python_call_ns']:.0f} ns (subtracted); "
                  f"memset {p['clear_page_ns_per_kib']['value']} ns/KiB, memcpy "
                  f"{p['copy_ns_per_kib']['value']} ns/KiB, first-touch 4K anon fault "
                  f"{p['anon_fault_4k_ns']['value']} ns, cpu {p['cpu_ghz']['value']} GHz")
