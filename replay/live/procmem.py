"""A recorded process's memory as /proc shows it: mappings, resident pages, their bytes,
and MADV_PAGEOUT on its anonymous mappings (process_madvise).

Used by `replay record`. The parsers (``parse_maps``, ``anon_private``) are pure and
unit tested; the readers take the process's /proc folder from ``KernelPaths.proc_pid``.
Nothing here changes a kernel setting: pushing a process's pages out to swap is what
the recording does to the recorded program, and it ends with the program.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
USER_LIMIT = 1 << 47                # x86-64 user addresses (4-level page tables) are below
SYS_PROCESS_MADVISE = 440           # x86_64
MADV_PAGEOUT = 21
UIO_MAXIOV = 1024                   # iovecs per process_madvise call
PAGEMAP_PRESENT = 1 << 63
PAGEMAP_SWAPPED = 1 << 62
READ_RUN_PAGES = 256                # pages read from /proc/PID/mem in one pread

# pseudo-mappings of the kernel: never anonymous memory of the program
SPECIAL_NAMES = ("[vvar]", "[vvar_vclock]", "[vdso]", "[vsyscall]", "[uprobes]")

_MAPS_LINE = re.compile(
    r"^([0-9a-f]+)-([0-9a-f]+) +(\S{4}) +([0-9a-f]+) +([0-9a-f]+:[0-9a-f]+) +(\d+) *(.*)$")


@dataclass(frozen=True)
class Mapping:
    """One line of /proc/PID/maps (or smaps), in pages; ``end_vpn`` exclusive."""

    start_vpn: int
    end_vpn: int
    perms: str                     # e.g. "rw-p"
    inode: int
    name: str | None               # path, [heap], [stack], [anon:NAME], or None
    hugepage: bool = False         # VmFlags "hg" (MADV_HUGEPAGE); False when unknown

    @property
    def anon_private(self) -> bool:
        """Private anonymous memory (what the model's anon path holds): no file behind it,
        private, not a kernel pseudo-mapping, and accessible at all."""
        return anon_private(self)

    @property
    def pages(self) -> int:
        return self.end_vpn - self.start_vpn


def anon_private(m: Mapping) -> bool:
    if m.inode != 0 or m.perms[3:4] != "p":
        return False
    if m.perms[:3] == "---":                 # guard pages and reserves: nothing resident
        return False
    if m.name is None:
        return True
    if m.name in SPECIAL_NAMES:
        return False
    return m.name in ("[heap]", "[stack]") or m.name.startswith(("[anon:", "[stack:"))


def parse_maps(text: str) -> list[Mapping]:
    """The mappings of a /proc/PID/maps or /proc/PID/smaps text (smaps: ``VmFlags``'s
    ``hg`` sets ``hugepage``; its other lines are skipped). Lines that are neither are
    ignored, and so are mappings above the user half (the [vsyscall] page)."""
    out: list[Mapping] = []
    for line in text.splitlines():
        if line.startswith("VmFlags:"):
            if out:
                flags = line.split()[1:]
                last = out[-1]
                out[-1] = Mapping(last.start_vpn, last.end_vpn, last.perms, last.inode,
                                  last.name, "hg" in flags)
            continue
        m = _MAPS_LINE.match(line)
        if not m:
            continue
        start, end = int(m.group(1), 16), int(m.group(2), 16)
        if start >= USER_LIMIT or end <= start:
            continue
        name = m.group(7).strip() or None
        out.append(Mapping(start >> PAGE_SHIFT, -(-end >> PAGE_SHIFT), m.group(3),
                           int(m.group(6)), name))
    return out


def read_text(path: Path) -> str | None:
    """A /proc file's text, or None when the process is gone (or it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError as e:
        if e.errno in (errno.ESRCH, errno.EACCES, errno.EPERM, errno.EINVAL):
            return None
        raise


def children(proc_root: Path, pid: int) -> list[int]:
    """The children of every thread of ``pid`` (/proc/PID/task/TID/children)."""
    out: list[int] = []
    try:
        tasks = os.listdir(proc_root / str(pid) / "task")
    except OSError:
        return out
    for tid in tasks:
        text = read_text(proc_root / str(pid) / "task" / tid / "children")
        if text:
            out.extend(int(x) for x in text.split())
    return out


def descendants(proc_root: Path, pid: int) -> list[int]:
    """``pid`` and every process below it, parents first."""
    seen = [pid]
    i = 0
    while i < len(seen):
        for c in children(proc_root, seen[i]):
            if c not in seen:
                seen.append(c)
        i += 1
    return seen


def tgid_of(proc_root: Path, tid: int) -> int | None:
    """The process (thread group) a thread belongs to, while it lives."""
    text = read_text(proc_root / str(tid) / "status")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("Tgid:"):
            return int(line.split()[1])
    return None


# ---------------------------------------------------------------- resident pages


def resident_pages(pagemap_fd: int, start_vpn: int, end_vpn: int,
                   step: int = 1 << 18) -> np.ndarray:
    """Page numbers in [start_vpn, end_vpn) that are present in RAM (/proc/PID/pagemap
    bit 63), in order. A process that is gone gives what was read so far."""
    out = []
    vpn = start_vpn
    while vpn < end_vpn:
        n = min(step, end_vpn - vpn)
        try:
            raw = os.pread(pagemap_fd, n * 8, vpn * 8)
        except OSError as e:
            if e.errno in (errno.ESRCH, errno.EIO, errno.ENOMEM, errno.EINVAL):
                break
            raise
        if not raw:
            break
        entries = np.frombuffer(raw, np.uint64, len(raw) // 8)
        present = np.flatnonzero(entries & np.uint64(PAGEMAP_PRESENT))
        if len(present):
            out.append(present.astype(np.int64) + vpn)
        vpn += len(entries)
        if len(entries) < n:
            break
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def runs(vpns: np.ndarray, limit: int = READ_RUN_PAGES) -> Iterator[tuple[int, int]]:
    """Runs of consecutive page numbers (sorted input) as (first, count), at most
    ``limit`` pages each."""
    if not len(vpns):
        return
    breaks = np.flatnonzero(np.diff(vpns) != 1) + 1
    for s, e in zip(np.r_[0, breaks].tolist(), np.r_[breaks, len(vpns)].tolist()):
        first = int(vpns[s])
        count = e - s
        while count > 0:
            n = min(limit, count)
            yield first, n
            first += n
            count -= n


def read_pages(mem_fd: int, vpns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bytes of pages ``vpns`` (sorted) from /proc/PID/mem: (the page numbers read,
    uint8 array of their 4096 bytes each, one row per page). Pages that cannot be read
    (unmapped meanwhile, the process gone) are left out."""
    buf = np.empty((len(vpns), PAGE_SIZE), np.uint8)
    ok = np.zeros(len(vpns), bool)
    at = 0
    for first, n in runs(vpns):
        view = memoryview(buf[at:at + n]).cast("B")
        try:
            got = os.preadv(mem_fd, [view], first << PAGE_SHIFT)
        except OSError:
            got = 0
        if got == n * PAGE_SIZE:
            ok[at:at + n] = True
        else:                                    # part of the run failed: page by page
            for i in range(n):
                try:
                    one = os.preadv(mem_fd, [memoryview(buf[at + i]).cast("B")],
                                    (first + i) << PAGE_SHIFT)
                except OSError:
                    continue
                ok[at + i] = one == PAGE_SIZE
        at += n
    if ok.all():
        return vpns, buf
    return vpns[ok], buf[ok]


# ---------------------------------------------------------------- MADV_PAGEOUT


class _Iovec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


_libc = None


def _syscall():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc.syscall


class PageoutError(OSError):
    """process_madvise refused for a reason that is not the process or a mapping going
    away (EPERM: not allowed; ENOSYS: no such syscall)."""


def pageout(pidfd: int, ranges: Iterable[tuple[int, int]]) -> int:
    """MADV_PAGEOUT over page ranges [start_vpn, end_vpn) of the process of ``pidfd``
    (process_madvise, x86_64 nr 440); the bytes advised. A range that went away meanwhile
    (ENOMEM), that the kernel will not page out (EINVAL: locked, PFN maps) is skipped; a
    process that is gone (ESRCH) ends it. Returns what the kernel reported as advised."""
    ranges = [(s, e) for s, e in ranges if e > s]
    call = _syscall()
    done = 0
    i = 0
    while i < len(ranges):
        batch = ranges[i:i + UIO_MAXIOV]
        iov = (_Iovec * len(batch))(*[_Iovec(s << PAGE_SHIFT, (e - s) << PAGE_SHIFT)
                                      for s, e in batch])
        got = call(SYS_PROCESS_MADVISE, ctypes.c_int(pidfd), iov, ctypes.c_size_t(len(batch)),
                   ctypes.c_int(MADV_PAGEOUT), ctypes.c_uint(0))
        if got >= 0:
            done += got
            # a short count: the kernel stopped at a range; skip it and go on after it
            advised, k = got, 0
            while k < len(batch) and advised >= (batch[k][1] - batch[k][0]) << PAGE_SHIFT:
                advised -= (batch[k][1] - batch[k][0]) << PAGE_SHIFT
                k += 1
            i += max(k + (1 if k < len(batch) else 0), 1)
            continue
        err = ctypes.get_errno()
        if err == errno.ESRCH:
            return done
        if err in (errno.ENOMEM, errno.EINVAL, errno.EFAULT, errno.EAGAIN):
            if len(batch) == 1:
                i += 1
                continue
            for s, e in batch:                 # find the range it refused: one by one
                done += pageout(pidfd, [(s, e)])
            i += len(batch)
            continue
        if err == errno.EINTR:
            continue
        raise PageoutError(err, f"process_madvise(MADV_PAGEOUT): {os.strerror(err)}")
    return done


def open_pidfd(pid: int) -> int | None:
    """A pidfd for ``pid`` (pidfd_open), or None when it is gone."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, overlapping or touching ranges joined."""
    out: list[list[int]] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]
