"""DAMON records (``damo record``, json_compressed or json) -> sampled page accesses.

A DAMON record holds, per monitoring target, snapshots (one per aggregation
interval, ``start_time``..``end_time`` in ns) of regions ``[start, end)`` with
``nr_accesses``: in how many of the interval's sampling checks (one random
page of the region per sampling interval) an access was seen. It says how hot
each region was, not which page was touched when. This importer turns it into
page accesses, deterministically (docs/trace-format.md, "damo"):

- a page p of a region is accessed in a snapshot iff
  ``u(seed, target, p) < scale * nr_accesses / max_nr_accesses``, where u is a
  fixed per-page uniform hash in [0, 1) and max_nr_accesses = aggregation /
  sampling interval (20 when the record has no ``intervals``: DAMON's default
  5 ms / 100 ms). So the accessed fraction of a region follows nr_accesses,
  and the same pages stay the hot ones while the region stays hot (the hash
  does not change between snapshots, even when DAMON splits or merges regions);
- each accessed page is accessed once in that snapshot; the accesses are
  spread evenly over ``[start_time, end_time)`` in a seeded random order
  (DAMON says nothing about order inside an interval; a shuffle invents no
  spatial locality);
- every access is a read (DAMON does not tell reads from writes);
- targets are address spaces 0, 1, ... in order of appearance; their snapshots
  are interleaved by time.

The regions sidecar holds the union of every snapshot's regions per target
(DAMON's monitored ranges: the mapped areas plus small holes between them).
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from replay import _scan
from replay.errors import SettingsError, TraceError
from replay.importers._common import (
    PROGRESS_MIN_BYTES,
    BackgroundWriter,
    Source,
    progress_bar,
    progress_wanted,
    source_name,
)
from replay.trace import (
    ASID_LIMIT,
    PAGE_SHIFT,
    VPN_LIMIT,
    TraceMeta,
    TraceWriter,
    too_many_accesses,
)

FORMAT = "damo"
OPTIONS = frozenset({"seed", "scale", "no_regions"})

DEFAULT_SAMPLE_US = 5_000        # DAMON's defaults (damo's DamonIntervals)
DEFAULT_AGGR_US = 100_000
ADDR_LIMIT = VPN_LIMIT << PAGE_SHIFT
WRITE_ROWS = 1 << 21
MAX_HOT_PAGES = 1 << 28          # 1 TiB of regions with accesses per snapshot (counting
                                 # their accessed pages takes a second or two)
# A snapshot's accesses are made (and shuffled) in memory, about 40 bytes each: beyond
# this many (32 GiB of accessed pages in one aggregation interval) --scale must thin it.
MAX_SNAPSHOT_ACCESSES = 1 << 23
MAX_JSON_BYTES = 256 << 20       # a record is parsed whole: at most this much JSON
_TIME_UNITS_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                  "m": 60_000_000_000, "h": 3_600_000_000_000, "d": 86_400_000_000_000}
_NUMBER = re.compile(r"^[+]?\d+(?:\.\d*)?$")


class _Bad(Exception):
    """A value that is not what damo writes; becomes a TraceError with context."""


def _number(value, what: str) -> float | int:
    """damo's numbers: ints, or strings with thousands separators ('139,821,623,742,464')."""
    if isinstance(value, bool) or value is None:
        raise _Bad(f"{what} is {value!r}, not a number")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        text = value.replace(",", "").strip()
        if _NUMBER.match(text):
            return float(text) if "." in text else int(text)
    raise _Bad(f"{what} {value!r} is not a number")


def _time_ns(value, what: str, unit_ns: int = 1) -> int:
    """A time: a number (in ``unit_ns``) or damo's text ('1 m 5.250 s', '100 ms')."""
    if isinstance(value, str):
        fields = value.replace(",", "").split()
        if len(fields) >= 2 and len(fields) % 2 == 0:
            total = 0.0
            for num, unit in zip(fields[0::2], fields[1::2]):
                if unit not in _TIME_UNITS_NS or not _NUMBER.match(num):
                    raise _Bad(f"{what} {value!r} is not a time")
                total += float(num) * _TIME_UNITS_NS[unit]
            return int(total)
        m = re.match(r"^([+]?\d+(?:\.\d*)?)(ns|us|ms|s|m|h|d)$", value.replace(",", "").strip())
        if m:
            return int(float(m.group(1)) * _TIME_UNITS_NS[m.group(2)])
    v = _number(value, what)
    if v < 0:
        raise _Bad(f"{what} {value!r} is negative")
    return int(v * unit_ns)


@dataclass
class _Target:
    key: tuple
    target_id: object
    max_nr_accesses: float
    snapshots: list = field(default_factory=list)   # (start_ns, end_ns, starts, ends, nr)
    first_record: int = 1                            # 1-based index of its first record


def _read_bounded(src: Path) -> bytes:
    """The source's bytes (decompressed when its name says so, see _common.Source), at most
    MAX_JSON_BYTES: a record is parsed whole, so its size is bounded before it is read."""
    out = bytearray()
    buf = bytearray(1 << 20)
    with Source(src, FORMAT) as source:
        while True:
            got = source.read_into(memoryview(buf))
            if not got:
                return bytes(out)
            out += buf[:got]
            if len(out) > MAX_JSON_BYTES:
                raise _too_big(src)


def _too_big(src: Path) -> TraceError:
    return TraceError(f"more than {MAX_JSON_BYTES >> 20} MiB of JSON: a DAMON record is "
                      "parsed whole, and one this large is not read (split the recording)",
                      path=src, fmt=FORMAT)


def _inflate(raw: bytes, src: Path) -> bytes:
    """damo's json_compressed: one zlib stream, inflated in steps, at most MAX_JSON_BYTES
    (a small file can inflate to gigabytes); bytes after the stream, or a stream that
    does not end, are errors naming the compressed byte."""
    d = zlib.decompressobj()
    out = []
    size = 0
    step = 1 << 16
    for at in range(0, len(raw), step):
        piece = raw[at:at + step]
        data = piece
        while data:
            try:
                got = d.decompress(data, MAX_JSON_BYTES + 1 - size)
            except zlib.error as e:
                raise TraceError(f"corrupt or truncated zlib data near compressed byte "
                                 f"{at + len(piece):,} ({e})", path=src, fmt=FORMAT) from None
            out.append(got)
            size += len(got)
            if size > MAX_JSON_BYTES:
                raise _too_big(src)
            data = d.unconsumed_tail
        if d.eof:
            end = at + len(piece) - len(d.unused_data)
            if end < len(raw):
                raise TraceError(f"bytes after the end of the zlib stream (it ends at "
                                 f"compressed byte {end:,} of {len(raw):,})", path=src,
                                 fmt=FORMAT)
            return b"".join(out)
    raise TraceError(f"corrupt or truncated zlib data: the file ends at compressed byte "
                     f"{len(raw):,}, inside the stream (after {size:,} bytes of JSON)",
                     path=src, fmt=FORMAT)


def _load(src: Path) -> tuple[list, bool]:
    raw = _read_bounded(src)
    compressed = len(raw) >= 2 and raw[0] == 0x78 and (raw[0] * 256 + raw[1]) % 31 == 0
    if compressed:
        raw = _inflate(raw, src)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TraceError("neither JSON nor zlib-compressed JSON (damo's json and "
                         "json_compressed record formats; perf and the old binary "
                         "record format are not read)", path=src, fmt=FORMAT) from None
    del raw
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        where = " of the decompressed JSON" if compressed else ""
        raise TraceError(f"not valid JSON: {e.msg} at line {e.lineno}{where}",
                         path=src, fmt=FORMAT, line=None if compressed else e.lineno) from None
    except RecursionError:
        raise TraceError("JSON nested too deeply", path=src, fmt=FORMAT) from None
    if not isinstance(data, list):
        raise TraceError("expected a JSON list of DAMON records", path=src, fmt=FORMAT)
    return data, compressed


def _parse(data: list, src: Path) -> list[_Target]:
    targets: dict[tuple, _Target] = {}
    for r_idx, rec in enumerate(data):
        def bad(what: str, r_idx=r_idx) -> TraceError:
            return TraceError(what, path=src, fmt=FORMAT, record=r_idx + 1)
        if not isinstance(rec, dict) or not isinstance(rec.get("snapshots"), list):
            raise bad("not a DAMON record (an object with 'snapshots')")
        try:
            max_nr = DEFAULT_AGGR_US / DEFAULT_SAMPLE_US
            iv = rec.get("intervals")
            if isinstance(iv, dict) and "sample_us" in iv and "aggr_us" in iv:
                sample = _time_ns(iv["sample_us"], "sample interval", 1000)
                aggr = _time_ns(iv["aggr_us"], "aggregation interval", 1000)
                if sample <= 0 or aggr < sample:
                    raise _Bad(f"intervals sample {sample} ns, aggregation {aggr} ns")
                max_nr = aggr / sample
            key = (rec.get("kdamond_idx"), rec.get("context_idx"), str(rec.get("target_id")))
            tgt = targets.get(key)
            if tgt is None:
                if len(targets) >= ASID_LIMIT:
                    raise _Bad("more than 2^20 targets")
                tgt = targets[key] = _Target(key, rec.get("target_id"), max_nr,
                                             first_record=r_idx + 1)
            for s_idx, snap in enumerate(rec["snapshots"]):
                where = f"snapshot {s_idx + 1}"
                if not isinstance(snap, dict) or not isinstance(snap.get("regions"), list):
                    raise _Bad(f"{where} has no 'regions' list")
                start_ns = _time_ns(snap.get("start_time"), f"{where} start_time")
                end_ns = _time_ns(snap.get("end_time"), f"{where} end_time")
                if start_ns >= 1 << 63 or end_ns >= 1 << 63:
                    raise _Bad(f"{where} time overflows 64-bit nanoseconds")
                if end_ns < start_ns:
                    raise _Bad(f"{where} ends ({end_ns} ns) before it starts ({start_ns} ns)")
                if tgt.snapshots and start_ns < tgt.snapshots[-1][0]:
                    raise _Bad(f"{where}: time goes backwards (start {start_ns} ns after "
                               f"{tgt.snapshots[-1][0]} ns)")
                regions = snap["regions"]
                if _fake_snapshot(regions):
                    continue
                n = len(regions)
                starts = np.zeros(n, np.int64)
                ends = np.zeros(n, np.int64)
                nr = np.zeros(n, np.float64)
                for g, reg in enumerate(regions):
                    rw = f"{where} region {g + 1}"
                    if not isinstance(reg, dict):
                        raise _Bad(f"{rw} is not an object")
                    a = _number(reg.get("start"), f"{rw} start")
                    b = _number(reg.get("end"), f"{rw} end")
                    if not (0 <= a < b <= ADDR_LIMIT) or a != int(a) or b != int(b):
                        raise _Bad(f"{rw} [{reg.get('start')}, {reg.get('end')}) is empty or "
                                   "beyond 2^52 pages of 4 KiB")
                    starts[g] = int(a) >> PAGE_SHIFT
                    ends[g] = (int(b) + (1 << PAGE_SHIFT) - 1) >> PAGE_SHIFT
                    nr[g] = _nr_accesses(reg.get("nr_accesses"), tgt.max_nr_accesses, rw)
                hot_pages = int((ends - starts)[nr > 0].sum())
                if hot_pages > MAX_HOT_PAGES:
                    raise _Bad(f"{where}: regions with accesses span {hot_pages << 12 >> 30} "
                               f"GiB; more than {MAX_HOT_PAGES >> 18} GiB per snapshot is not "
                               "supported")
                tgt.snapshots.append((start_ns, end_ns, starts, ends, nr))
        except _Bad as e:
            raise bad(str(e)) from None
    return list(targets.values())


def _fake_snapshot(regions: list) -> bool:
    """damo appends a 0-0 region with nr_accesses -1 to a one-snapshot record: skip it."""
    if len(regions) != 1 or not isinstance(regions[0], dict):
        return False
    r = regions[0]
    acc = r.get("nr_accesses")
    samples = acc.get("samples") if isinstance(acc, dict) else acc
    return str(r.get("start")) == "0" and str(r.get("end")) == "0" and str(samples) == "-1"


def _nr_accesses(value, max_nr: float, where: str) -> float:
    if isinstance(value, dict):
        if value.get("samples") is not None:
            v = _number(value["samples"], f"{where} nr_accesses")
        elif value.get("percent") is not None:
            v = _number(str(value["percent"]).rstrip("% "), f"{where} nr_accesses percent")
            v = v * max_nr / 100
        else:
            raise _Bad(f"{where} nr_accesses has neither samples nor percent")
    else:
        v = _number(value, f"{where} nr_accesses")
    if v < 0:
        raise _Bad(f"{where} nr_accesses {v} is negative")
    return float(v)


# ---------------------------------------------------------------- page sampling


_U64 = (1 << 64) - 1


def _mix64(x: int) -> int:
    """splitmix64's finaliser: a fixed, well-mixed hash of a 64-bit value (as in C:
    replay/scan/damo.c hashes each page with it)."""
    x &= _U64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _U64
    return x ^ (x >> 31)


def _accessed_pages(starts: np.ndarray, ends: np.ndarray, probs: np.ndarray, key: int,
                    out: np.ndarray) -> int:
    """Pages p of each region with hash(key, p) / 2^53 < prob, in address order, into out.

    With an empty ``out`` only counts them (so the caller can size ``out``)."""
    return _scan.damo_accessed_pages(starts, ends, probs, key, out)


def _snapshot_accesses(tgt_idx: int, s_idx: int, snap, max_nr: float, scale: float,
                       seed: int, room: int) -> tuple[np.ndarray, np.ndarray]:
    """The snapshot's accesses (time, vpn). They are counted before any memory is taken:
    more than MAX_SNAPSHOT_ACCESSES, or than ``room`` (what --max-accesses leaves), is a
    _TooMany error."""
    start_ns, end_ns, starts, ends, nr = snap
    probs = np.minimum(nr / max_nr * scale, 1.0)
    hot = probs > 0
    if int((ends[hot] - starts[hot]).sum()) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    key = _mix64(((seed & 0xFFFFFFFF) << 20 | tgt_idx) + 0x9E3779B97F4A7C15)
    n = int(_accessed_pages(starts, ends, probs, key, np.zeros(0, np.int64)))
    if n > MAX_SNAPSHOT_ACCESSES or n > room:
        raise _TooMany(n)
    out = np.empty(n, np.int64)
    _accessed_pages(starts, ends, probs, key, out)
    rng = np.random.default_rng([seed & 0xFFFFFFFF, tgt_idx, s_idx])
    rng.shuffle(out)                  # in place: the order of out[rng.permutation(n)]
    return _spread(start_ns, end_ns, n), out


def _spread(start_ns: int, end_ns: int, n: int) -> np.ndarray:
    """start + (i * span) // n for i < n, exactly, without 64-bit overflow (span = q*n + r:
    i * span // n = i * q + (i * r) // n, and i * r < n^2)."""
    q, r = divmod(end_ns - start_ns, max(n, 1))
    i = np.arange(n, dtype=np.int64)
    return start_ns + i * q + (i * r) // max(n, 1)


class _TooMany(Exception):
    """A snapshot would give more accesses than may be made (see _snapshot_accesses)."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.n = n


def _regions_union(targets: list[_Target]) -> tuple[list, list, list]:
    asid, start, end = [], [], []
    for i, tgt in enumerate(targets):
        if not tgt.snapshots:
            continue
        s = np.concatenate([sn[2] for sn in tgt.snapshots])
        e = np.concatenate([sn[3] for sn in tgt.snapshots])
        order = np.argsort(s, kind="stable")
        s, e = s[order], e[order]
        cur_s, cur_e = int(s[0]), int(e[0])
        for a, b in zip(s[1:].tolist(), e[1:].tolist()):
            if a <= cur_e:
                cur_e = max(cur_e, b)
            else:
                asid.append(i)
                start.append(cur_s)
                end.append(cur_e)
                cur_s, cur_e = a, b
        asid.append(i)
        start.append(cur_s)
        end.append(cur_e)
    return asid, start, end


def import_trace(src: Path, out: Path, opts: dict) -> None:
    seed = int(opts.get("seed", 1))
    scale = float(opts.get("scale", 1.0))
    if not scale > 0:
        raise SettingsError("--scale must be positive")
    data, compressed = _load(src)
    targets = _parse(data, src)
    total = sum(len(t.snapshots) for t in targets)
    if total == 0:
        raise TraceError("no snapshots in the DAMON record", path=src, fmt=FORMAT)
    max_nrs = sorted({t.max_nr_accesses for t in targets})
    meta = TraceMeta(
        source_format=FORMAT, source_file=source_name(src),
        recorder="damo record (DAMON), " + ("json_compressed" if compressed else "json"),
        command=opts.get("command") or "",
        licence=opts.get("licence") or "",
        description=opts.get("description") or
        "DAMON region access frequencies turned into page accesses",
        sampled=True,
        sampling=(f"DAMON regions, not accesses: in each aggregation interval a page of a "
                  f"region is read once iff a per-page hash (seed {seed}) is below "
                  f"{scale:g} * nr_accesses / {'|'.join(f'{m:g}' for m in max_nrs)} "
                  "(max nr_accesses); order inside an interval is a seeded shuffle; no "
                  "writes; see docs/trace-format.md"),
        time_source="recorded",
        extra={"seed": seed, "scale": scale, "max_nr_accesses": max_nrs,
               "targets": [str(t.target_id) for t in targets], "snapshots": total},
    )
    # snapshots of all targets in time order (each target's are already in order)
    order = sorted(((sn[0], ti, si) for ti, t in enumerate(targets)
                    for si, sn in enumerate(t.snapshots)))
    show = progress_wanted(opts.get("progress"), PROGRESS_MIN_BYTES if total >= 5000 else 0)
    with progress_bar(f"damo {src.name}", total, show) as update, \
            TraceWriter(out, meta, source=src, fmt=FORMAT,
                        max_rows=opts.get("max_accesses")) as trace_writer:
        if not opts.get("no_regions", False):
            asid, start, end = _regions_union(targets)
            trace_writer.set_regions(asid, start, end, [False] * len(asid),
                                     [f"damon target {targets[a].target_id}" for a in asid])
        with BackgroundWriter(trace_writer) as writer:
            merger = _Merger(writer)
            limit = opts.get("max_accesses")
            made = 0
            for done, (start_ns, ti, si) in enumerate(order):
                merger.release_before(start_ns)
                tgt = targets[ti]
                room = (limit - made) if limit is not None else MAX_SNAPSHOT_ACCESSES
                try:
                    t, v = _snapshot_accesses(ti, si, tgt.snapshots[si],
                                              tgt.max_nr_accesses, scale, seed, room)
                except _TooMany as e:
                    raise _too_many(e.n, room, limit, made, src, tgt, ti, si) from None
                made += len(t)
                if len(t):
                    merger.add(t, v, ti)
                update(done + 1)
            merger.release_before(1 << 63)
            merger.flush()


def _too_many(n: int, room: int, limit: int | None, made: int, src: Path, tgt: _Target,
              ti: int, si: int) -> TraceError:
    """The error for a snapshot whose accesses may not be made; it names the DAMON record
    (1-based, the first one of the target) and the target's snapshot."""
    where = f"snapshot {si + 1} of target {tgt.target_id}"
    if n > MAX_SNAPSHOT_ACCESSES:
        what = (f"{where} gives {n:,} accesses, more than the {MAX_SNAPSHOT_ACCESSES:,} one "
                "snapshot may (32 GiB of accessed pages); thin it with --scale "
                f"{max(MAX_SNAPSHOT_ACCESSES / n, 1e-6):.2g}")
        return TraceError(what, path=src, fmt=FORMAT, record=tgt.first_record)
    return too_many_accesses(limit, src, FORMAT,
                             where=f"{where} brings the trace to {made + n:,} accesses, ")


class _Merger:
    """Interleaves the accesses of overlapping snapshots (several targets) by time.

    Pending pieces are each sorted by time; when a snapshot starting at S comes,
    every pending access before S is final (later snapshots start at S or
    after): those prefixes are merged (stable: earlier snapshot first) and
    queued; the queue goes to the writer in chunks of about WRITE_ROWS.
    """

    def __init__(self, writer) -> None:
        self.writer = writer
        self.pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.ready: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.ready_rows = 0

    def add(self, t: np.ndarray, v: np.ndarray, asid: int) -> None:
        self.pending.append((t, v, np.full(len(t), asid, np.int32)))

    def release_before(self, start_ns: int) -> None:
        batch, keep = [], []
        for t, v, a in self.pending:
            cut = int(np.searchsorted(t, start_ns, side="left"))
            if cut:
                batch.append((t[:cut], v[:cut], a[:cut]))
            if cut < len(t):
                keep.append((t[cut:], v[cut:], a[cut:]))
        self.pending = keep
        if not batch:
            return
        if len(batch) > 1:
            t = np.concatenate([b[0] for b in batch])
            o = np.argsort(t, kind="stable")
            batch = [(t[o], np.concatenate([b[1] for b in batch])[o],
                      np.concatenate([b[2] for b in batch])[o])]
        self.ready.extend(batch)
        self.ready_rows += len(batch[0][0])
        if self.ready_rows >= WRITE_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.ready:
            return
        t = np.concatenate([r[0] for r in self.ready])
        v = np.concatenate([r[1] for r in self.ready])
        a = np.concatenate([r[2] for r in self.ready])
        self.ready, self.ready_rows = [], 0
        self.writer.write(t, v, np.zeros(len(t), np.uint8), a)
