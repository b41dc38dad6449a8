"""Page contents given per access in a text column, made into the contents sidecar.

A cell is a content class (``zero``, ``random``, ``text``, ``half``, ``mixed``,
``code``; case-insensitive, spaces around it ignored), the page's 4096 bytes as
exactly 8192 hex digits (either case; nothing shorter is padded, nothing longer
cut), or empty: no information at that access (``unknown`` means the same).
Anything else is an error naming the line.

Versions (docs/trace-format.md, the contents sidecar): a page's first contents
are version 0; each access whose contents differ from the page's previous ones
(another class, other bytes) starts the next version, so ``zero, zero, text,
zero`` at four accesses are versions 0, 1, 2. The replay uses the lowest version
of each page (replay/costs/sizes.py): its first contents. Pages with the same
class and version at consecutive page numbers are one row of ``npages``; a page
given as bytes is a row of its own (its ``content_class`` is ``unknown``, which
the bytes override).

Work and memory: each window's rows are sorted by page and only the accesses
whose contents differ from the page's previous one in that window are kept
(24 bytes each). When the kept entries pass twice the size of the last
compaction (and 1 M), they are compacted: sorted by page across windows and
cut to the changes again. So memory stays within a few times the sidecar's
own entries (one per page and version) plus the distinct recorded pages, and
each entry is sorted a bounded number of times on average.
"""

from __future__ import annotations

import binascii
import re

import numpy as np

from replay.trace import CONTENT_CLASSES, PAGE_SIZE

HEX_DIGITS = 2 * PAGE_SIZE
# what the replay generates for a page of class unknown (replay.costs.content.UNKNOWN_AS,
# not imported here: replay.costs takes a third of a second to import; a test checks)
UNKNOWN_GENERATED_AS = "mixed"
CLASSES = tuple(c for c in CONTENT_CLASSES if c != "unknown")
_CLASS_KEY = {name.encode(): CONTENT_CLASSES.index(name) for name in CLASSES}
_CLASS_KEY[b"unknown"] = 0          # said outright: no information, as an empty cell
_DATA = len(CONTENT_CLASSES)        # keys from here on are recorded pages: _DATA + index
_HEX = frozenset(b"0123456789abcdefABCDEF")
_NON_HEX = re.compile(rb"[^0-9a-fA-F]")
COMPACT_ENTRIES = 1 << 20           # entries held before the first compaction


def unknown_note(why: str) -> str:
    """The import line's words for a trace without contents."""
    return (f"{why}: page contents unknown, replayed as class unknown (generated as "
            f"{UNKNOWN_GENERATED_AS})")


class ContentColumn:
    """Collects a column's page contents window by window; ``finish`` gives the sidecar."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._pages: list[bytes] = []               # recorded pages, by index
        self._page_index: dict[bytes, int] = {}     # their bytes -> index
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._held = 0                              # entries in _parts
        self._compacted = 0                         # entries after the last compaction

    def _key(self, raw: bytes) -> int | str:
        """The content key of a cell (0 none, a class index, or _DATA + page), or what is
        wrong with it."""
        text = raw.strip(b" \t\r")
        if len(text) <= 16:
            key = _CLASS_KEY.get(text.lower()) if text else 0
            if key is not None:
                return key
            if not text or not set(text) <= _HEX:
                return (f"{_show(text)} is not a content class ({', '.join(CLASSES)}) "
                        f"nor {HEX_DIGITS} hex digits (a {PAGE_SIZE}-byte page)")
        page = None
        if len(text) == HEX_DIGITS:
            try:
                page = binascii.unhexlify(text)   # the common case: no search before it
            except binascii.Error:
                pass
        if page is None:
            m = _NON_HEX.search(text)
            if m:
                return (f"{_show(text)}: {_show(m.group())} at character {m.start() + 1} "
                        "is not a hex digit")
            return (f"{_show(text)}: {len(text)} hex digits, not {HEX_DIGITS} (the "
                    f"{PAGE_SIZE} bytes of a page; nothing is padded or cut)")
        index = self._page_index.get(page)
        if index is None:
            index = self._page_index[page] = len(self._pages)
            self._pages.append(page)
        return _DATA + index

    def add(self, win, col: int, vpn: np.ndarray, asid: np.ndarray | None) -> None:
        """The window's cells of the column, for its rows' pages; a bad cell raises
        (``win.fail``: the file, its line, what is wrong)."""
        index, raws = win.values(col)
        keys = np.zeros(len(raws), np.int64)
        bad: dict[int, str] = {}
        for i, raw in enumerate(raws):
            got = self._key(raw)
            if isinstance(got, str):
                bad[i] = got
            else:
                keys[i] = got
        if bad:
            row = int(np.flatnonzero(np.isin(index, list(bad)))[0])
            raise win.fail(row, f"content {bad[int(index[row])]}")
        key = keys[index]
        has = np.flatnonzero(key)
        if not len(has):
            return
        v = vpn[has]
        a = np.zeros(len(has), np.int64) if asid is None else asid[has].astype(np.int64)
        k = key[has]
        order = _order(a, v)                # by page, each page's accesses in row order
        a, v, k = a[order], v[order], k[order]
        keep = _changes(a, v, k)
        self._parts.append((a[keep], v[keep], k[keep]))
        self._held += int(keep.sum())
        if self._held > max(2 * self._compacted, COMPACT_ENTRIES):
            self._compact()

    def _compact(self) -> None:
        """The parts as one, in page order, only each page's changes. Every part is in page
        order, a page's accesses in row order, and the parts are in file order: a stable
        sort by page keeps each page's accesses in time order."""
        a, v, k = (np.concatenate(x) for x in zip(*self._parts))
        order = _order(a, v)
        a, v, k = a[order], v[order], k[order]
        keep = _changes(a, v, k)
        self._parts = [(a[keep], v[keep], k[keep])]
        self._held = self._compacted = len(self._parts[0][0])

    def finish(self) -> tuple[dict | None, str]:
        """(set_contents' arguments, or None when no cell gave contents; the import
        line's words on where the contents came from)."""
        if not self._parts:
            return None, unknown_note(f"column {self.name!r} has no contents (every cell "
                                      "empty)")
        if len(self._parts) > 1:
            self._compact()
        (a, v, k), = self._parts
        self._parts = []
        first = np.r_[True, (a[1:] != a[:-1]) | (v[1:] != v[:-1])]
        starts = np.flatnonzero(first)
        lengths = np.diff(np.r_[starts, len(a)])
        version = np.arange(len(a)) - np.repeat(starts, lengths)
        # class rows: runs of consecutive pages of one asid, version and class
        cls = np.flatnonzero(k < _DATA)
        o = cls[_order(a[cls], version[cls], v[cls])]
        ca, cv, cver, ck = a[o], v[o], version[o], k[o]
        brk = np.r_[len(o) > 0, (ca[1:] != ca[:-1]) | (cver[1:] != cver[:-1])
                    | (ck[1:] != ck[:-1]) | (cv[1:] != cv[:-1] + 1)]
        run = np.flatnonzero(brk)
        npages = np.diff(np.r_[run, len(o)])
        data = np.flatnonzero(k >= _DATA)
        r_asid = np.r_[ca[run], a[data]]
        r_vpn = np.r_[cv[run], v[data]]
        r_npages = np.r_[npages, np.ones(len(data), np.int64)]
        r_version = np.r_[cver[run], version[data]]
        r_key = np.r_[ck[run], k[data]]
        o = _order(r_asid, r_vpn, r_version)
        r_key = r_key[o]
        names = np.array(CONTENT_CLASSES + ("unknown",), object)
        blobs: list[bytes | None] = [None] * len(r_key)
        for i in np.flatnonzero(r_key >= _DATA).tolist():
            blobs[i] = self._pages[int(r_key[i]) - _DATA]
        contents = {
            "asid": r_asid[o], "vpn": r_vpn[o], "npages": r_npages[o],
            "version": r_version[o],
            "content_class": names[np.minimum(r_key, _DATA)].tolist(),
            "data": blobs,
        }
        # the words: what each page's version 0 (what the replay uses) is
        used = k[starts]
        per_class = np.bincount(np.minimum(used, _DATA), minlength=_DATA + 1)
        by_class = {c: int(per_class[CONTENT_CLASSES.index(c)]) for c in CLASSES}
        recorded = int(per_class[_DATA])
        parts = []
        classed = sum(by_class.values())
        if classed:
            parts.append(f"{classed:,} page{'s' if classed != 1 else ''} by class ("
                         + ", ".join(f"{c} {by_class[c]:,}" for c in CLASSES if by_class[c])
                         + ")")
        if recorded:
            parts.append(f"{recorded:,} page{'s' if recorded != 1 else ''} by "
                         f"{'their' if recorded != 1 else 'its'} bytes")
        note = f"page contents from column {self.name!r}: {' and '.join(parts)}"
        changed = int((lengths > 1).sum())
        if changed:
            note += (f"; {changed:,} page{'s change' if changed != 1 else ' changes'} "
                     "contents (all versions kept; the replay uses each page's first)")
        return contents, note


def _order(*cols: np.ndarray) -> np.ndarray:
    """Stable order by the columns (non-negative int64, most significant first). Fast
    path: the columns less their minimums and the position packed in one int64, sorted
    by value (several times quicker than a stable argsort); else np.lexsort."""
    n = len(cols[0])
    pos_bits = max(n - 1, 0).bit_length()
    fields, bits = [], pos_bits
    for c in cols:
        lo = int(c.min()) if n else 0
        width = (int(c.max()) - lo).bit_length() if n else 0
        fields.append((c, lo, width))
        bits += width
    if bits > 63:
        return np.lexsort(cols[::-1])
    packed = np.zeros(n, np.int64)
    for c, lo, width in fields:
        packed <<= width
        packed |= c - lo
    packed <<= pos_bits
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    return packed & ((1 << pos_bits) - 1)


def _changes(a: np.ndarray, v: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Where, in accesses sorted by page and then time, a page's contents change (its first
    access included)."""
    return np.r_[True, (a[1:] != a[:-1]) | (v[1:] != v[:-1]) | (k[1:] != k[:-1])]


def _show(text: bytes) -> str:
    s = text.decode("utf-8", "replace")
    return repr(s if len(s) <= 40 else s[:40] + "...")
