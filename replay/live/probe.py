"""What the live kernel is, and whether the model can be compared with it here."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

from replay.live.counters import read_kv
from replay.live.paths import KernelPaths
from replay.live.runner import CommandRunner, LiveError, Refused
from replay.live.session import active_swaps, read_setting

MODEL_KERNEL = "6.18"
ZSWAP_LOADED_MESSAGE = "zswap: loaded using pool"


@dataclass
class KernelInfo:
    """Facts about the running kernel that decide what a comparison means."""

    release: str = ""
    is_root: bool = False
    mglru: bool | None = None             # None: CONFIG_LRU_GEN off (classic LRU)
    memcg: str | None = None              # "v1", "v2" or None
    zram: bool = False
    zram_algorithms: list[str] = field(default_factory=list)
    zswap_enabled: bool | None = None     # the parameter now
    zswap_ever_enabled: bool | None = None
    zswap_evidence: str = ""
    zswap_compressor: str = ""
    thp_enabled: str = ""
    thp_defrag: str = ""
    mthp_sizes_kb: list[int] = field(default_factory=list)
    ram_bytes: int = 0
    swaps: list[str] = field(default_factory=list)
    damon: list[str] = field(default_factory=list)   # DAMON at work: kdamonds, modules
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _read(path, default: str = "") -> str:
    try:
        return read_setting(path)
    except LiveError:
        return default


def zswap_ever_enabled(paths: KernelPaths, runner: CommandRunner) -> tuple[bool | None, str]:
    """Has zswap been enabled since boot (its static key set)? With the evidence.

    Enabled now; or zswap's debugfs folder exists (created at zswap's
    first setup, seen only when debugfs is mounted); or /proc/vmstat counts
    zswap stores, loads or writebacks since boot; or the kernel log has
    "zswap: loaded using pool". Without a readable log: unknown (None).
    Reads only; never touches the zswap parameters.
    """
    if _read(paths.zswap_params / "enabled") == "Y":
        return True, "zswap is enabled now"
    if paths.zswap_debugfs.is_dir():
        return True, f"{paths.zswap_debugfs} exists"
    try:
        stored = {k: v for k, v in read_kv(paths.proc_vmstat).items()
                  if k in ("zswpout", "zswpin", "zswpwb") and v > 0}
    except LiveError:
        stored = {}
    if stored:
        # these count since boot, and only zswap counts them: it stored pages, so it was on
        return True, "/proc/vmstat since boot: " + ", ".join(
            f"{k} {v:,}" for k, v in sorted(stored.items()))
    try:
        log = runner.run(["dmesg"], timeout_s=30)
    except LiveError as e:
        return None, f"kernel log unreadable ({e.message})"
    for line in log.splitlines():
        if ZSWAP_LOADED_MESSAGE in line:
            return True, f"kernel log: {line.strip()[:100]}"
    first = log.splitlines()[0] if log.strip() else ""
    if "Linux version" not in first and "Command line" not in log[:4000]:
        # the ring buffer wrapped: the message could have been lost
        return None, "kernel log does not reach back to boot and has no zswap pool message"
    return False, "kernel log since boot has no 'zswap: loaded using pool'"


def damon_at_work(paths: KernelPaths) -> list[str]:
    """DAMON threads running on this machine (sysfs kdamonds that are on) and the DAMON
    modules that are enabled (damon_reclaim, damon_lru_sort, damon_stat). Physical-address
    monitoring clears the accessed bits of sampled pages (page_idle's young flag keeps
    them for reclaim), and the modules reclaim or reorder the LRU themselves: a live run
    shares the machine with them, the model does not."""
    found = []
    root = paths.at("/sys/kernel/mm/damon/admin/kdamonds")
    try:
        kdamonds = sorted((p for p in os.listdir(root) if p.isdigit()), key=int)
    except OSError:
        kdamonds = []
    for k in kdamonds:
        if _read(root / k / "state") == "on":
            ops = _read(root / k / "contexts" / "0" / "operations", "?")
            found.append(f"kdamond {k} ({ops} monitoring, pid {_read(root / k / 'pid', '?')})")
    for module in ("damon_reclaim", "damon_lru_sort", "damon_stat"):
        if _read(paths.at(f"/sys/module/{module}/parameters/enabled")) == "Y":
            found.append(f"{module} enabled")
    return found


def probe_kernel(paths: KernelPaths | None = None,
                 runner: CommandRunner | None = None) -> KernelInfo:
    paths = paths or KernelPaths()
    runner = runner or CommandRunner()
    info = KernelInfo()
    info.release = _read(paths.osrelease)
    info.is_root = os.geteuid() == 0 if paths.is_real else True
    if paths.lru_gen_enabled.exists():
        value = _read(paths.lru_gen_enabled, "0x0000")
        try:
            info.mglru = int(value, 16) != 0
        except ValueError:
            info.mglru = value not in ("n", "N", "0")
    if (paths.memcg_v1 / "memory.limit_in_bytes").exists():
        info.memcg = "v1"
    elif "memory" in _read(paths.cgroup_root / "cgroup.controllers").split():
        info.memcg = "v2"
    zram = paths.zram(0)
    info.zram = zram.is_dir()
    if info.zram:
        info.zram_algorithms = [w.strip("[]") for w in
                                (zram / "comp_algorithm").read_text().split()]
    if paths.zswap_params.is_dir():
        info.zswap_enabled = _read(paths.zswap_params / "enabled") == "Y"
        info.zswap_compressor = _read(paths.zswap_params / "compressor")
    info.zswap_ever_enabled, info.zswap_evidence = zswap_ever_enabled(paths, runner)
    info.thp_enabled = _read(paths.thp / "enabled")
    info.thp_defrag = _read(paths.thp / "defrag")
    info.mthp_sizes_kb = paths.mthp_sizes_kb()
    try:
        for line in paths.proc_meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                info.ram_bytes = int(line.split()[1]) * 1024
    except OSError:
        pass
    info.swaps = active_swaps(paths)
    info.damon = damon_at_work(paths)
    if info.damon:
        info.warnings.append(f"DAMON is at work here ({'; '.join(info.damon)}): its sampling "
                             "clears accessed bits reclaim reads, which the model does not "
                             "do; the kernel's counters may move with it")
    if not info.release.startswith(MODEL_KERNEL + ".") and info.release != MODEL_KERNEL:
        info.warnings.append(f"kernel {info.release or 'unknown'}: the model follows "
                             f"v{MODEL_KERNEL}")
    if info.zswap_ever_enabled is None:
        info.warnings.append(f"whether zswap was enabled since boot is unknown "
                             f"({info.zswap_evidence})")
    return info


def check_comparable(info: KernelInfo, *, backend: str, allow_zswap: bool) -> None:
    """Raise Refused with the reason when this machine cannot be compared with the model."""
    if not info.is_root:
        raise Refused("validate needs root: it sets up swap, zram, mTHP sizes and a memcg")
    if info.mglru:
        raise Refused("MGLRU is on (/sys/kernel/mm/lru_gen/enabled): the model follows the "
                      "classic active/inactive LRU; turn it off (echo n > "
                      "/sys/kernel/mm/lru_gen/enabled) to compare")
    if info.memcg != "v1":
        raise Refused(("cgroup v2 only" if info.memcg == "v2" else "no memory cgroup")
                      + ": validate confines the replayer in a memcg v1 group "
                      "(/sys/fs/cgroup/memory); cgroup v2 validation is not implemented "
                      "(its memory.stat and zswap charging differ)")
    if info.swaps:
        raise Refused(f"swap is already on ({', '.join(info.swaps)}): the global swap "
                      "counters would mix with it; swapoff it first")
    if not info.mthp_sizes_kb:
        raise Refused("this kernel has no mTHP sizes (/sys/kernel/mm/transparent_hugepage/"
                      "hugepages-*kB)")
    if backend == "zram" and not info.zram:
        raise Refused("no zram0 (/sys/block/zram0 is missing; load the zram module)")
    if backend == "zswap":
        if info.zswap_enabled is None:
            raise Refused("this kernel has no zswap (/sys/module/zswap/parameters is missing)")
        if not info.zswap_enabled and not allow_zswap:
            raise Refused("the zswap backend enables zswap, which sets zswap's ever-enabled "
                          "key until reboot: after it zram never swaps in large folios again "
                          "on this boot; pass --allow-zswap to accept that")


def mainline_policy(info: KernelInfo, backend: str) -> str:
    """The simulator policy that is this kernel: v6.18 as it behaves here.

    ``mainline`` swaps large folios in from zram (SWP_SYNCHRONOUS_IO) while
    zswap was never enabled; ``order0-fallback`` once zswap has been
    enabled (alloc_swap_folio() returns order 0) and for the zswap backend.
    """
    if backend == "zswap" or info.zswap_ever_enabled:
        return "order0-fallback"
    return "mainline"


def hugepage_users(paths: KernelPaths, exclude: set[int] | frozenset = frozenset()
                   ) -> list[tuple[int, str]]:
    """Other processes with MADV_HUGEPAGE regions ('hg' in smaps VmFlags): (pid, comm).

    While validate has an mTHP size at 'madvise', their faults and splits
    land in the same global hugepages-*/stats counters as the replayer's.
    (numpy, for one, madvises large arrays.)
    """
    proc = paths.at("/proc")
    users = []
    try:
        entries = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return users
    for name in entries:
        pid = int(name)
        if pid in exclude:
            continue
        try:
            smaps = (proc / name / "smaps").read_bytes()
        except OSError:
            continue
        if any(line.startswith(b"VmFlags:") and b" hg" in line for line in smaps.splitlines()):
            try:
                comm = (proc / name / "comm").read_text().strip()
            except OSError:
                comm = "?"
            users.append((pid, comm))
    return users
