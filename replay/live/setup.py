"""The settings a validation run changes, each journalled in a KernelSession first.

mTHP sizes, page-cluster, the swap backend (zram, or zswap over a loop
device or a swapfile) and a uniquely named memcg v1 group. Each function leaves the
machine restorable at every step: the undo record goes into the journal
before the change is made.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from replay.live.paths import KernelPaths
from replay.live.runner import LiveError, Refused
from replay.live.session import KernelSession, active_swaps, read_setting

MEMCG_PREFIX = "folio-replay-"
PMD_SIZE_KB = 2048


def choices(path: Path) -> list[str]:
    """The words a choice file offers ('[lzo-rle] lzo lz4' -> ['lzo-rle', 'lzo', 'lz4'])."""
    try:
        return [w.strip("[]") for w in path.read_text().split()]
    except OSError as e:
        raise LiveError(f"{path}: cannot read ({e.strerror})") from None


def set_mthp_sizes(session: KernelSession, sizes_kb: tuple[int, ...]) -> dict[int, str]:
    """hugepages-<N>kB/enabled: 'madvise' for the asked sizes, 'never' for all others (2M too).

    Returns the values found before. 2M stays off because MADV_HUGEPAGE
    would otherwise give PMD THPs, which swap out whole and in as order 0.
    """
    paths = session.paths
    available = paths.mthp_sizes_kb()
    missing = [s for s in sizes_kb if s not in available]
    if missing:
        offered = ", ".join(f"{s}K" for s in available) or "none"
        raise Refused(f"this kernel has no {missing[0]}K mTHP size (it offers {offered})")
    if PMD_SIZE_KB in sizes_kb:
        raise Refused("2M is PMD-sized THP, not mTHP: it swaps in as order 0; "
                      "validate compares mTHP sizes below 2M")
    before = {}
    for size in available:
        enabled = paths.mthp(size) / "enabled"
        before[size] = read_setting(enabled)
        session.set(enabled, "madvise" if size in sizes_kb else "never",
                    what=f"hugepages-{size}kB/enabled")
    return before


def set_page_cluster(session: KernelSession, page_cluster: int) -> None:
    session.set(session.paths.page_cluster, str(page_cluster), what="vm.page-cluster")


def check_no_swap(paths: KernelPaths) -> None:
    swaps = active_swaps(paths)
    if swaps:
        raise Refused(f"swap is already on ({', '.join(swaps)}): the global swap counters "
                      "would mix with it and the memcg could swap to it; swapoff it first")


@dataclass
class Backend:
    """The swap device of one run."""

    name: str                  # zram | zswap
    device: str                # what swapon was given
    rotational: bool
    compressor: str
    swap_bytes: int
    swap_device: str = "zram"  # zram | loop | file


def _rotational(paths: KernelPaths, device: str) -> bool:
    name = Path(device).name
    try:
        return read_setting(paths.sys_block(name) / "queue" / "rotational") == "1"
    except LiveError:
        return True


def setup_zram(session: KernelSession, *, disksize_bytes: int, algorithm: str = "lz4",
               n: int = 0) -> Backend:
    """zram<n> as the only swap device: comp_algorithm, disksize, mkswap, swapon."""
    paths, runner = session.paths, session.runner
    zram = paths.zram(n)
    if not zram.is_dir():
        raise Refused(f"no zram{n} ({zram} is missing; load the zram module)")
    if read_setting(zram / "disksize") != "0":
        raise Refused(f"zram{n} is in use (disksize {read_setting(zram / 'disksize')}); "
                      "it must be unused")
    offered = choices(zram / "comp_algorithm")
    if algorithm not in offered:
        raise Refused(f"zram{n} has no {algorithm} compressor (it offers {', '.join(offered)})")
    check_no_swap(paths)
    # undo order (reverse): swapoff, reset, comp_algorithm back
    session.set(zram / "comp_algorithm", algorithm, what=f"zram{n} comp_algorithm")
    session.push({"kind": "zram_reset", "zram": str(zram)})
    session.write(zram / "disksize", str(disksize_bytes))
    dev = str(paths.dev(f"zram{n}"))
    session.push({"kind": "swapoff", "device": dev})
    runner.run(["mkswap", dev])
    runner.run(["swapon", dev])
    return Backend("zram", dev, _rotational(paths, dev), algorithm, disksize_bytes)


def _backing_rotational(paths: KernelPaths, file: Path) -> bool:
    """Whether the block device under a file's file system is rotational (a partition
    answers for its disk); rotational when it cannot be told."""
    st = os.stat(file)
    dev = paths.at(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}")
    for queue in (dev / "queue", dev / ".." / "queue"):
        try:
            return read_setting(queue / "rotational") == "1"
        except LiveError:
            continue
    return True


ZSWAP_DEVICES = ("loop", "file")


def setup_zswap(session: KernelSession, *, swap_bytes: int, device: str = "loop",
                max_pool_percent: int | None = None) -> Backend:
    """zswap in front of a swap device made from a file on the real disk.

    device "loop": a loop device over the file. It is a block device (SWP_BLKDEV), so
    large folios get large swap slots and swap out whole; it inherits "rotational"
    from the backing disk. device "file": the file itself as a swapfile; v6.18 gives
    a swapfile on a file system no large slots, so every large folio is split at
    swap-out. Enabling zswap sets its ever-enabled key until reboot: the session
    refuses without allow_zswap.
    """
    paths, runner = session.paths, session.runner
    if device not in ZSWAP_DEVICES:
        raise LiveError(f"zswap swap device {device!r} is not one of {', '.join(ZSWAP_DEVICES)}")
    if not session.allow_zswap:
        raise Refused("the zswap backend enables zswap, which sets zswap's ever-enabled key "
                      "until reboot: after it zram never swaps in large folios again on this "
                      "boot; pass --allow-zswap to accept that")
    if not paths.zswap_params.is_dir():
        raise Refused(f"this kernel has no zswap ({paths.zswap_params} is missing)")
    check_no_swap(paths)
    folder = paths.swapfile_dir
    free = shutil.disk_usage(folder).free
    what = "the loop device's backing file" if device == "loop" else "the swapfile"
    if free < swap_bytes + (256 << 20):
        raise Refused(f"{folder} has {free >> 20} MiB free; {what} needs "
                      f"{swap_bytes >> 20} MiB")
    backing = folder / f"{MEMCG_PREFIX}{os.getpid()}-{secrets.token_hex(4)}.swap"
    session.push({"kind": "unlink", "path": str(backing)})
    fd = os.open(backing, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.posix_fallocate(fd, 0, swap_bytes)
    finally:
        os.close(fd)
    if device == "loop":
        session.push({"kind": "loop_detach", "file": str(backing)})
        dev = runner.run(["losetup", "--find", "--show", str(backing)]).strip()
        if not dev:
            raise LiveError(f"losetup gave no device for {backing}")
        rotational = _rotational(paths, dev)
    else:
        dev = str(backing)
        rotational = _backing_rotational(paths, backing)
    session.push({"kind": "swapoff", "device": dev})
    runner.run(["mkswap", dev])
    runner.run(["swapon", dev])
    params = paths.zswap_params
    if max_pool_percent is not None:
        session.set(params / "max_pool_percent", str(max_pool_percent),
                    what="zswap max_pool_percent")
    session.set(params / "enabled", "Y", what="zswap enabled")
    compressor = read_setting(params / "compressor")
    return Backend("zswap", dev, rotational, compressor, swap_bytes, device)


def restart_swap(session: KernelSession, backend: Backend) -> None:
    """swapoff and swapon the backend's device again: its slot allocator starts afresh
    (swapon sets up new cluster lists), as the model's does. The journal already
    holds its swapoff."""
    session.runner.run(["swapoff", backend.device], timeout_s=600)
    session.runner.run(["swapon", backend.device])


def create_memcg(session: KernelSession, *, limit_bytes: int, swappiness: int) -> Path:
    """A new memcg v1 group with a unique name: the limit, memsw unlimited, swappiness."""
    paths = session.paths
    base = paths.memcg_v1
    if not (base / "memory.limit_in_bytes").exists():
        raise Refused(f"memcg v1 is not mounted at {base}")
    group = base / f"{MEMCG_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    session.push({"kind": "memcg", "path": str(group)})
    session.runner.mkdir(group)
    session.write(group / "memory.limit_in_bytes", str(limit_bytes))
    if (group / "memory.memsw.limit_in_bytes").exists():
        session.write(group / "memory.memsw.limit_in_bytes", "-1")
    session.write(group / "memory.swappiness", str(swappiness))
    return group
