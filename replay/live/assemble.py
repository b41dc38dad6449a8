"""What `replay record` collected, made into a canonical trace (pure: no kernel needed).

A recording gathers, while the program runs:

- faults (EventParser.arrays(): time, tid, tgid, page, write) and exec events, from
  the tracefs instance;
- mapping snapshots (``MapsLog``): /proc/PID/maps (or smaps) of each process, kept
  when they change;
- page contents (``ContentStore``): the bytes of resident pages read at each
  interval, stored once per distinct page, a new version of a page only when its
  bytes changed.

``assemble`` turns that into the access table, the regions and the contents
sidecar. An address space (asid) is a process between two execs: the faults of
the recorded process before its first exec (the forked recorder's own pages) are
left out, a forked child's faults are its own address space, and an exec starts a
new one. A fault counts when its address lies in an anonymous private mapping
of its address space at some snapshot; one that lies only in other mappings
(files, shared memory, the vdso) is left out. One no snapshot covers (a mapping
made and removed between two snapshots) is kept and counted, unless it is an
instruction fetch (code is file-backed) or its address space has no snapshot
at all (a process that ended within the first 10 ms: nothing is known of it).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from replay.live.procmem import Mapping
from replay.trace import OP_READ, OP_WRITE, PAGE_SIZE

ZERO_PAGE = bytes(PAGE_SIZE)
ZERO_KEY = -1                      # a page of zeros: written as class "zero", no bytes


class MapsLog:
    """Mapping snapshots per process, stored when they differ from its previous one."""

    def __init__(self) -> None:
        self.snapshots: list[tuple[int, int, tuple[Mapping, ...]]] = []   # tgid, time, maps
        self._last: dict[int, tuple[Mapping, ...]] = {}

    def add(self, tgid: int, t_ns: int, mappings, *, flags_known: bool = True) -> bool:
        """Keep ``mappings`` of ``tgid`` if they differ from its last snapshot. From maps
        (``flags_known`` False: no VmFlags) a mapping keeps the hugepage flag the last
        snapshot gave the same range."""
        maps = tuple(mappings)
        last = self._last.get(tgid)
        if not flags_known and last:
            huge = {(m.start_vpn, m.end_vpn): m.hugepage for m in last}
            maps = tuple(Mapping(m.start_vpn, m.end_vpn, m.perms, m.inode, m.name,
                                 huge.get((m.start_vpn, m.end_vpn), False)) for m in maps)
        if last is not None and _same_layout(last, maps) and \
                [m.hugepage for m in last] == [m.hugepage for m in maps]:
            return False
        self._last[tgid] = maps
        self.snapshots.append((tgid, t_ns, maps))
        return True

    def last(self, tgid: int) -> tuple[Mapping, ...] | None:
        return self._last.get(tgid)

    def forget(self, tgid: int) -> None:
        """The process exec'd: its next snapshot is stored whatever it looks like."""
        self._last.pop(tgid, None)


def _same_layout(a, b) -> bool:
    return len(a) == len(b) and all(
        (x.start_vpn, x.end_vpn, x.perms, x.inode, x.name) ==
        (y.start_vpn, y.end_vpn, y.perms, y.inode, y.name) for x, y in zip(a, b))


_COEF = np.random.default_rng(0x5EED).integers(0, 1 << 62, PAGE_SIZE // 8, dtype=np.uint64) \
    * np.uint64(2) + np.uint64(1)


def page_hashes(pages: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of 4096 bytes (a random odd multiplier per 8-byte word,
    summed mod 2^64): zero for a page of zeros. Equal hashes are checked byte for byte
    before two pages are taken as one."""
    words = np.ascontiguousarray(pages).view(np.uint64).reshape(len(pages), PAGE_SIZE // 8)
    return words @ _COEF


class ContentStore:
    """Page contents read at each interval: every distinct page once (by its bytes), a row
    per page only when its contents differ from what that page held last time.

    Per process, the pages read last time and their hashes are two sorted arrays, so a
    read of N resident pages costs a few vector operations, and Python work only for the
    pages that changed."""

    def __init__(self) -> None:
        self.blobs: list[bytes] = []
        self._by_hash: dict[int, list[int]] = {}
        self._last: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.rows = 0
        self.pages_read = 0

    def _key(self, page: np.ndarray, h: int) -> int:
        if h == 0 and not page.any():
            return ZERO_KEY
        data = page.tobytes()
        same = self._by_hash.setdefault(h, [])
        for k in same:
            if self.blobs[k] == data:
                return k
        same.append(len(self.blobs))
        self.blobs.append(data)
        return len(self.blobs) - 1

    def add_pages(self, tgid: int, t_ns: int, vpns: np.ndarray, pages: np.ndarray) -> int:
        """What pages ``vpns`` (sorted, distinct) of process ``tgid`` hold at ``t_ns``
        (``pages``: one row of 4096 bytes each); the number that are new versions."""
        n = len(vpns)
        if not n:
            return 0
        self.pages_read += n
        vpns = np.asarray(vpns, np.int64)
        h = page_hashes(pages)
        last_v, last_h = self._last.get(tgid, (np.zeros(0, np.int64), np.zeros(0, np.uint64)))
        i = np.searchsorted(last_v, vpns)
        ic = np.minimum(i, max(len(last_v) - 1, 0))
        found = (i < len(last_v)) & (last_v[ic] == vpns) if len(last_v) else np.zeros(n, bool)
        same = found & (last_h[ic] == h) if len(last_v) else found
        # remember this time's hashes
        if found.any():
            last_h = last_h.copy()
            last_h[ic[found]] = h[found]
        new = ~found
        if new.any():
            v = np.r_[last_v, vpns[new]]
            hh = np.r_[last_h, h[new]]
            o = np.argsort(v, kind="stable")
            last_v, last_h = v[o], hh[o]
        self._last[tgid] = (last_v, last_h)
        changed = np.flatnonzero(~same)
        if not len(changed):
            return 0
        keys = np.array([self._key(pages[j], int(h[j])) for j in changed.tolist()], np.int64)
        self._parts.append((np.full(len(changed), tgid, np.int64),
                            np.full(len(changed), t_ns, np.int64), vpns[changed], keys))
        self.rows += len(changed)
        return len(changed)

    def add(self, tgid: int, t_ns: int, vpn: int, page: bytes) -> bool:
        """One page (``add_pages`` of one); True when it is a new version."""
        arr = np.frombuffer(page, np.uint8).reshape(1, PAGE_SIZE)
        return self.add_pages(tgid, t_ns, np.array([vpn], np.int64), arr) == 1

    def forget(self, tgid: int) -> None:
        """A process exec'd: its pages are new pages (their first contents are version 0)."""
        self._last.pop(tgid, None)

    def arrays(self):
        if not self._parts:
            z = np.zeros(0, np.int64)
            return z, z, z, z
        return tuple(np.concatenate(c) for c in zip(*self._parts))


@dataclass
class Assembled:
    """A recording as trace arrays, sidecars and what was left out."""

    time_ns: np.ndarray
    vpn: np.ndarray
    op: np.ndarray
    asid: np.ndarray
    regions: dict | None
    contents: dict | None
    processes: list[dict] = field(default_factory=list)   # per asid: pid, exec, first time
    origin_ns: int = 0                                     # trace clock time of time_ns 0
    stats: dict = field(default_factory=dict)


def _generations(tgid: np.ndarray, index: np.ndarray,
                 execs: list[tuple[int, int, int, str]], by: str) -> np.ndarray:
    """Per fault (or snapshot), how many execs of its process came before it: by fault
    order (``index`` = position among faults) or by time (``index`` = time)."""
    gen = np.zeros(len(tgid), np.int64)
    per: dict[int, list[int]] = defaultdict(list)
    for before, t, pid, _ in execs:
        per[pid].append(before if by == "order" else t)
    for pid, marks in per.items():
        sel = np.flatnonzero(tgid == pid)
        if len(sel):
            gen[sel] = np.searchsorted(np.sort(np.array(marks, np.int64)), index[sel],
                                       side="right")
    return gen


def _intervals(ranges: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, merged [start, end) page ranges as two arrays."""
    merged: list[list[int]] = []
    for s, e in sorted(ranges):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    if not merged:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    a = np.array(merged, np.int64)
    return a[:, 0], a[:, 1]


def _inside(vpn: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    if not len(starts):
        return np.zeros(len(vpn), bool)
    i = np.searchsorted(starts, vpn, side="right") - 1
    ok = i >= 0
    out = np.zeros(len(vpn), bool)
    out[ok] = vpn[ok] < ends[i[ok]]
    return out


def assemble(faults: dict[str, np.ndarray], execs: list[tuple[int, int, int, str]],
             root_pid: int, maps: MapsLog, contents: ContentStore | None = None, *,
             tid_tgid: dict[int, int] | None = None,
             sample_times: list[int] | None = None) -> Assembled:
    """The trace of a recording; see the module's docstring for what is kept. With
    ``sample_times`` (when each pageout's sample started, trace clock) and contents,
    writes that did not fault are added (``infer_writes``)."""
    n = len(faults["vpn"])
    t = faults["time_ns"].astype(np.int64)
    vpn = faults["vpn"].astype(np.int64)
    tgid = faults["tgid"].astype(np.int64).copy()
    tid = faults["tid"].astype(np.int64)
    unknown = tgid < 0
    if unknown.any():                   # no tgid in the line: ask the map, else the tid
        lookup = tid_tgid or {}
        tgid[unknown] = [lookup.get(int(x), int(x)) for x in tid[unknown]]
    order_index = np.arange(n, dtype=np.int64)
    gen = _generations(tgid, order_index, execs, "order")
    root_execs = [e for e in execs if e[2] == root_pid]
    stats: dict = {"faults": n, "execs": len(execs)}
    keep = np.ones(n, bool)
    if root_execs:
        pre = (tgid == root_pid) & (gen == 0)
        stats["before_exec"] = int(pre.sum())
        keep &= ~pre
    else:
        stats["before_exec"] = 0
        stats["no_exec_seen"] = True
    # mappings per address space (tgid, generation)
    snap_tgid = np.array([s[0] for s in maps.snapshots], np.int64)
    snap_time = np.array([s[1] for s in maps.snapshots], np.int64)
    snap_gen = _generations(snap_tgid, snap_time, execs, "time")
    anon: dict[tuple[int, int], list[Mapping]] = defaultdict(list)
    other: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for (pid, _, mappings), g in zip(maps.snapshots, snap_gen.tolist()):
        for m in mappings:
            if m.anon_private:
                anon[(pid, g)].append(m)
            else:
                other[(pid, g)].append((m.start_vpn, m.end_vpn))
    outside = np.zeros(n, bool)
    uncovered = np.zeros(n, bool)
    unknown_space = np.zeros(n, bool)
    fetch = faults.get("fetch", np.zeros(n, bool))
    keys = np.unique(np.stack([tgid, gen]), axis=1).T if n else np.zeros((0, 2), np.int64)
    for pid, g in keys.tolist():
        sel = np.flatnonzero((tgid == pid) & (gen == g) & keep)
        if not len(sel):
            continue
        if (pid, g) not in anon and (pid, g) not in other:
            unknown_space[sel] = True
            continue
        a0, a1 = _intervals([(m.start_vpn, m.end_vpn) for m in anon.get((pid, g), [])])
        o0, o1 = _intervals(other.get((pid, g), []))
        in_anon = _inside(vpn[sel], a0, a1)
        in_other = _inside(vpn[sel], o0, o1)
        outside[sel[~in_anon & (in_other | fetch[sel])]] = True
        uncovered[sel[~in_anon & ~in_other & ~fetch[sel]]] = True
    keep &= ~outside & ~unknown_space
    stats["outside_anon"] = int(outside.sum())
    stats["no_mappings_known"] = int(unknown_space.sum())
    stats["unmapped_at_snapshots"] = int((uncovered & keep).sum())
    kept = np.flatnonzero(keep)
    # address spaces in order of their first kept fault
    first: dict[tuple[int, int], int] = {}
    for i in kept.tolist():
        k = (int(tgid[i]), int(gen[i]))
        if k not in first:
            first[k] = i
    asid_of = {k: a for a, k in enumerate(sorted(first, key=first.get))}
    exec_names: dict[tuple[int, int], str] = {}
    for pid in {e[2] for e in execs}:
        for g, e in enumerate(sorted((e for e in execs if e[2] == pid), key=lambda e: e[0])):
            exec_names[(pid, g + 1)] = e[3]
    asid = np.zeros(len(kept), np.int32)
    if len(kept):
        lut = {k: a for k, a in asid_of.items()}
        pairs = np.stack([tgid[kept], gen[kept]], axis=1)
        asid = np.array([lut[(p, g)] for p, g in pairs.tolist()], np.int32)
    origin = int(root_execs[0][1]) if root_execs else (int(t[kept].min()) if len(kept) else 0)
    ts = t[kept]
    order = np.argsort(ts, kind="stable")
    time_ns = np.maximum(ts[order] - origin, 0)
    out_vpn = vpn[kept][order]
    out_op = np.where(faults["write"][kept][order], OP_WRITE, OP_READ).astype(np.uint8)
    out_asid = asid[order]
    processes = [{"asid": a, "pid": k[0], "exec": exec_names.get(k, None),
                  "forked": k[1] == 0 and k[0] != root_pid}
                 for k, a in sorted(asid_of.items(), key=lambda kv: kv[1])]
    regions = _regions(asid_of, anon)
    sidecar = None
    if contents is not None and contents.rows:
        changes: list[tuple[int, int, int]] = []
        sidecar = _contents(contents, asid_of, execs, out_asid, out_vpn, stats, changes)
        if sample_times is not None:
            time_ns, out_vpn, out_op, out_asid, n_inferred = infer_writes(
                time_ns, out_vpn, out_op, out_asid, changes,
                np.asarray(sample_times, np.int64) - origin, origin)
            stats["inferred_writes"] = n_inferred
    return Assembled(time_ns.astype(np.int64), out_vpn, out_op, out_asid, regions, sidecar,
                     processes, origin, stats)


def infer_writes(time_ns: np.ndarray, vpn: np.ndarray, op: np.ndarray, asid: np.ndarray,
                 changes: list[tuple[int, int, int]], samples: np.ndarray, origin: int):
    """Writes the faults did not show, from the pages' contents.

    A swap-in maps an exclusive page writable even on a read fault, so a write after a
    read in the same interval does not fault. When a page's contents changed between two
    samples and its faults in that interval (after the previous sample started, up to
    the read that saw the change) are reads only, a write is added right after the first
    of them, at its time. ``samples`` (the start of each sample) and ``time_ns`` are trace
    times; ``changes`` holds (asid, vpn, trace clock time) of each later version.
    Returns the arrays with the writes added (still in time order) and their number."""
    if not changes or not len(vpn):
        return time_ns, vpn, op, asid, 0
    key = (asid.astype(np.int64) << 52) | vpn
    order = np.lexsort((time_ns, key))            # by page, then time
    skey, stime, sop = key[order], time_ns[order], op[order]
    samples = np.sort(samples)
    at: list[int] = []
    for a, v, t_abs in changes:
        t = t_abs - origin
        k = (a << 52) | v
        lo, hi = np.searchsorted(skey, [k, k + 1])
        if lo == hi:
            continue
        i = int(np.searchsorted(samples, t, side="left")) - 1    # the sample that read it
        prev = samples[i - 1] if i >= 1 else -1                  # the one before
        w0, w1 = lo + np.searchsorted(stime[lo:hi], [prev, t], side="right")
        if w0 >= w1 or (sop[w0:w1] == 1).any():
            continue
        at.append(int(order[w0]))
    if not at:
        return time_ns, vpn, op, asid, 0
    at_arr = np.unique(np.array(at, np.int64))
    pos = at_arr + 1                                  # right after the read, same time
    return (np.insert(time_ns, pos, time_ns[at_arr]), np.insert(vpn, pos, vpn[at_arr]),
            np.insert(op, pos, np.uint8(1)), np.insert(asid, pos, asid[at_arr]),
            len(at_arr))


def _regions(asid_of: dict, anon: dict) -> dict | None:
    """The anonymous mappings of each address space, once each; a mapping inside another
    of the same kind (a snapshot of a heap before it grew) is left out."""
    rows = []
    for key, a in asid_of.items():
        huge: dict[tuple[int, int], bool] = {}
        names: dict[tuple[int, int], str | None] = {}
        for m in anon.get(key, []):         # a range is MADV_HUGEPAGE if any smaps said so
            r = (m.start_vpn, m.end_vpn)
            huge[r] = huge.get(r, False) or m.hugepage
            names.setdefault(r, m.name)
        seen = sorted(((s, e, huge[(s, e)], names[(s, e)]) for s, e in huge),
                      key=lambda r: (r[0], -r[1]))
        for s, e, hp, name in seen:
            if any(s2 <= s and e <= e2 and (s2, e2) != (s, e) and hp2 == hp
                   for s2, e2, hp2, _ in seen):
                continue
            rows.append((a, s, e, hp, name))
    if not rows:
        return None
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return {"asid": np.array([r[0] for r in rows], np.int32),
            "start_vpn": np.array([r[1] for r in rows], np.int64),
            "end_vpn": np.array([r[2] for r in rows], np.int64),
            "hugepage": np.array([r[3] for r in rows], bool),
            "name": [r[4] for r in rows]}


def _contents(store: ContentStore, asid_of: dict, execs, out_asid: np.ndarray,
              out_vpn: np.ndarray, stats: dict, changes: list | None = None) -> dict | None:
    """Contents rows of the pages the trace holds: versions in time order, a zero page as
    class ``zero`` (runs of consecutive pages in one row), other pages with their bytes.
    ``changes`` gets (asid, vpn, time read) of every version after the first."""
    c_tgid, c_time, c_vpn, c_key = store.arrays()
    c_gen = _generations(c_tgid, c_time, execs, "time")
    lut = {k: a for k, a in asid_of.items()}
    c_asid = np.array([lut.get((p, g), -1) for p, g in zip(c_tgid.tolist(), c_gen.tolist())],
                      np.int64)
    # only pages of the trace
    page_key = (out_asid.astype(np.int64) << 52) | out_vpn
    traced = np.unique(page_key)
    ck = (np.maximum(c_asid, 0) << 52) | c_vpn
    pos = np.searchsorted(traced, ck)
    ok = (c_asid >= 0) & (pos < len(traced))
    ok[ok] = traced[pos[ok]] == ck[ok]
    sel = np.flatnonzero(ok)
    if not len(sel):
        return None
    a, v, tm, k = c_asid[sel], c_vpn[sel], c_time[sel], c_key[sel]
    order = np.lexsort((tm, v, a))
    a, v, k, tm = a[order], v[order], k[order], tm[order]
    new_page = np.r_[True, (a[1:] != a[:-1]) | (v[1:] != v[:-1])]
    changed = new_page | np.r_[True, k[1:] != k[:-1]]
    a, v, k, new_page, tm = a[changed], v[changed], k[changed], new_page[changed], tm[changed]
    if changes is not None:                    # later versions: the page was written
        later = ~new_page
        changes.extend(zip(a[later].tolist(), v[later].tolist(), tm[later].tolist()))
    starts = np.flatnonzero(new_page)
    version = np.arange(len(a)) - np.repeat(starts, np.diff(np.r_[starts, len(a)]))
    stats["content_pages"] = int(len(starts))
    stats["content_versions"] = int(len(a))
    stats["content_distinct"] = len(np.unique(k[k >= 0]))
    stats["content_zero_pages"] = int((k[new_page] == ZERO_KEY).sum())
    zero = np.flatnonzero(k == ZERO_KEY)
    # runs of consecutive zero pages of one asid and version: one row each
    zo = zero[np.lexsort((v[zero], version[zero], a[zero]))]
    za, zv, zver = a[zo], v[zo], version[zo]
    brk = np.r_[len(zo) > 0, (za[1:] != za[:-1]) | (zver[1:] != zver[:-1])
                | (zv[1:] != zv[:-1] + 1)]
    run = np.flatnonzero(brk)
    npages = np.diff(np.r_[run, len(zo)])
    data = np.flatnonzero(k != ZERO_KEY)
    r_asid = np.r_[za[run], a[data]]
    r_vpn = np.r_[zv[run], v[data]]
    r_npages = np.r_[npages, np.ones(len(data), np.int64)]
    r_version = np.r_[zver[run], version[data]]
    r_key = np.r_[np.full(len(run), ZERO_KEY), k[data]]
    o = np.lexsort((r_version, r_vpn, r_asid))
    r_key = r_key[o]
    return {"asid": r_asid[o].astype(np.int32), "vpn": r_vpn[o], "npages": r_npages[o],
            "version": r_version[o].astype(np.int32),
            "content_class": ["zero" if x == ZERO_KEY else "unknown" for x in r_key.tolist()],
            "data": [None if x == ZERO_KEY else store.blobs[x] for x in r_key.tolist()]}


def lackey_sidecars(pid: int, maps: MapsLog, contents: ContentStore | None,
                    vpns: np.ndarray) -> tuple[dict | None, dict | None, dict]:
    """Regions and contents of a lackey recording (one address space, asid 0): the
    anonymous mappings of the valgrind process that hold a page of the trace (valgrind's
    own mappings hold none), and the contents read of the trace's pages (``vpns``, sorted
    distinct)."""
    anon: dict[tuple[int, int], list[Mapping]] = defaultdict(list)
    for tgid, _, mappings in maps.snapshots:
        if tgid == pid:
            anon[(pid, 0)].extend(m for m in mappings if m.anon_private)
    regions = _regions({(pid, 0): 0}, anon)
    stats: dict = {}
    if regions is not None:
        s, e = regions["start_vpn"], regions["end_vpn"]
        i = np.searchsorted(vpns, s)
        used = (i < len(vpns)) & (vpns[np.minimum(i, max(len(vpns) - 1, 0))] < e) \
            if len(vpns) else np.zeros(len(s), bool)
        keep = np.flatnonzero(used)
        regions = None if not len(keep) else {
            k: (v[keep] if isinstance(v, np.ndarray) else [v[j] for j in keep.tolist()])
            for k, v in regions.items()}
        if regions is not None:
            a0, a1 = _intervals(list(zip(regions["start_vpn"].tolist(),
                                         regions["end_vpn"].tolist())))
            stats["pages_outside_anon_regions"] = int((~_inside(vpns, a0, a1)).sum())
    sidecar = None
    if contents is not None and contents.rows and len(vpns):
        sidecar = _contents(contents, {(pid, 0): 0}, [], np.zeros(len(vpns), np.int32),
                            vpns, stats)
    return regions, sidecar, stats
