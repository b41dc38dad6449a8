"""Every kernel path the live code touches, from one root (``/`` on a real machine)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class KernelPaths:
    """The file system locations of the kernel interfaces, under ``root``.

    Unit tests pass a temporary folder as ``root`` and get the same code
    paths against fake files; nothing in replay/live builds a path any
    other way.
    """

    root: Path = Path("/")

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def at(self, path: str) -> Path:
        """``path`` (absolute, as on a real machine) under the root."""
        return self.root / path.lstrip("/")

    @property
    def is_real(self) -> bool:
        return self.root == Path("/")

    # -- /proc
    @property
    def proc_swaps(self) -> Path:
        return self.at("/proc/swaps")

    @property
    def proc_vmstat(self) -> Path:
        return self.at("/proc/vmstat")

    @property
    def proc_meminfo(self) -> Path:
        return self.at("/proc/meminfo")

    @property
    def page_cluster(self) -> Path:
        return self.at("/proc/sys/vm/page-cluster")

    @property
    def osrelease(self) -> Path:
        return self.at("/proc/sys/kernel/osrelease")

    def proc_pid(self, pid: int) -> Path:
        return self.at(f"/proc/{pid}")

    # -- transparent hugepages
    @property
    def thp(self) -> Path:
        return self.at("/sys/kernel/mm/transparent_hugepage")

    def mthp(self, size_kb: int) -> Path:
        """hugepages-<N>kB: its ``enabled`` file and ``stats/`` folder."""
        return self.thp / f"hugepages-{size_kb}kB"

    def mthp_sizes_kb(self) -> list[int]:
        """Every anonymous mTHP size this kernel offers (hugepages-*kB with ``enabled``)."""
        if not self.thp.is_dir():
            return []
        sizes = []
        for p in self.thp.glob("hugepages-*kB"):
            if not (p / "enabled").exists():     # e.g. 8kB: shmem only, no anon order 1
                continue
            try:
                sizes.append(int(p.name[len("hugepages-"):-len("kB")]))
            except ValueError:
                continue
        return sorted(sizes)

    @property
    def lru_gen_enabled(self) -> Path:
        return self.at("/sys/kernel/mm/lru_gen/enabled")

    # -- zram, block devices
    def zram(self, n: int = 0) -> Path:
        return self.at(f"/sys/block/zram{n}")

    def sys_block(self, name: str) -> Path:
        return self.at(f"/sys/block/{name}")

    def dev(self, name: str) -> Path:
        """A device node, as passed to mkswap/swapon/losetup."""
        return self.at(f"/dev/{name}")

    # -- zswap
    @property
    def zswap_params(self) -> Path:
        return self.at("/sys/module/zswap/parameters")

    @property
    def zswap_debugfs(self) -> Path:
        return self.at("/sys/kernel/debug/zswap")

    @property
    def debugfs(self) -> Path:
        return self.at("/sys/kernel/debug")

    # -- tracefs
    @property
    def tracefs(self) -> Path:
        return self.at("/sys/kernel/tracing")

    # -- cgroups
    @property
    def memcg_v1(self) -> Path:
        return self.at("/sys/fs/cgroup/memory")

    @property
    def cgroup_root(self) -> Path:
        return self.at("/sys/fs/cgroup")

    # -- our own state (tmpfs: it lives exactly as long as the kernel settings)
    @property
    def journal_dir(self) -> Path:
        return self.at("/run/folio-replay")

    @property
    def swapfile_dir(self) -> Path:
        """Where the zswap backend's loop-device backing file goes (on the real disk)."""
        return self.at("/var/tmp")
