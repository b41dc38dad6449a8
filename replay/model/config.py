"""Every setting of a replay, in one plain dataclass recorded in each result."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from replay.errors import SettingsError

# What each backend is to the kernel: zswap in front of the swap device or not, and the
# device's swap_info_struct capabilities (replay/mm/mm.h enum swp_flags). The model tests
# these, never the backend's name.
SWAP_BACKENDS = {
    # zswap over a block device (a partition, or a loop device on a swapfile)
    "zswap": {"zswap": True, "device": ("blkdev",)},
    # zram: synchronous I/O (the swap cache is bypassed), and it compresses what it stores
    "zram": {"zswap": False, "device": ("blkdev", "synchronous_io", "compressed")},
    # a plain block device, no zswap
    "disk": {"zswap": False, "device": ("blkdev",)},
}
BACKENDS = tuple(SWAP_BACKENDS)
# What the swap device is, as swapon sees it: a partition and a loop device are block
# devices (SWP_BLKDEV: large swap slots); a swapfile on a file system is not, so v6.18
# splits every large folio at swap-out there; zram is zram's own block device.
SWAP_DEVICES = ("partition", "loop", "file", "zram")
BACKEND_VIEW_CODE = {"zswap": 0, "zram": 1, "disk": 2}   # the policy view's V_BACKEND
RECLAIM_MODES = ("linux", "exact-lru")
MEMCG_VERSIONS = ("v1", "v2")
FIRST_READ = ("zero-page", "allocate")
OOM_MODES = ("kill", "continue")
MTHP_SIZES_KB = (8, 16, 32, 64, 128, 256, 512, 1024)   # below PMD order (2M swaps in as order 0)
# Sizes the model's 64-bit arithmetic takes with room to spare (a memory limit of
# 99999999999999999T overflowed it); the swap device costs the model a word per 4 KiB slot.
MAX_SIZE_BYTES = 1 << 50                                 # 1 PiB
MAX_SWAP_BYTES = 1 << 40                                 # 1 TiB: 2 GiB of slots per policy


@dataclass
class ModelConfig:
    """Settings of one replay; units in the names, kernel defaults as defaults."""

    memory_limit_bytes: int = 64 << 20        # memcg limit (memory.max / limit_in_bytes)
    mthp_sizes_kb: tuple[int, ...] = (64,)    # hugepages-<N>kB sizes that are enabled
    thp_enabled: str = "always"               # those sizes set to 'always', or 'madvise'
                                              # (only MADV_HUGEPAGE regions); defrag=madvise
    hugepage_default: bool = False            # MADV_HUGEPAGE on mappings the trace has no
                                              # regions sidecar for
    hugepage_all: bool = False                # MADV_HUGEPAGE on every mapping, whatever
                                              # the regions sidecar says
    block_mappings: bool = False              # each touched 2 MiB block one mapping (as
                                              # `replay validate`'s replayer maps a trace),
                                              # MADV_HUGEPAGE where a region of it asks
    backend: str = "zswap"                    # zswap over a block device, zram, or a plain disk
    swap_device: str | None = None            # partition, loop or file (zswap, disk); zram
                                              # (zram). None: zram for zram, else partition
    ram_bytes: int = 24 << 30                 # machine RAM, for zswap max_pool_percent
    zswap_max_pool_percent: int = 20
    zswap_max_pool_bytes: int | None = None   # overrides the percent when set
    zswap_accept_threshold_percent: int = 90
    zswap_shrinker: bool = False              # zswap.shrinker_enabled (the kernel's default
                                              # is off, CONFIG_ZSWAP_SHRINKER_DEFAULT_ON=n)
    zswap_writeback: bool = True              # memory.zswap.writeback (cgroup v2)
    memcg_zswap_max_bytes: int | None = None  # memory.zswap.max (cgroup v2), None = max
    swap_bytes: int = 8 << 30                 # size of the swap device
    page_cluster: int = 3                     # /proc/sys/vm/page-cluster
    rotational: bool = False                  # rotational swap device: cluster readahead
                                              # (a loop device on /dev/vda is; an NVMe SSD is not)
    reclaim: str = "linux"                    # active/inactive LRU, or exact LRU for cross-checks
    memcg: str = "v2"                         # v2 charges the zswap pool to the memcg
    first_read: str = "zero-page"             # first read of a never-written page
    charge_guard: bool = False                # Barry Song's memcg charge-margin guard
    oom: str = "kill"                         # an OOM kill ends the policy's replay, as the
                                              # kernel's kills the workload; "continue"
                                              # forces the charge and replays on
    zswap_ever_enabled: bool = True           # mainline falls back to order 0 once it is
    compressor: str = "lz4"
    swappiness: int = 60
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.swap_device is None:
            self.swap_device = "zram" if self.backend == "zram" else "partition"

    def validate(self) -> ModelConfig:
        for what, v in (("memory limit", self.memory_limit_bytes), ("--ram", self.ram_bytes),
                        ("zswap max pool", self.zswap_max_pool_bytes),
                        ("memory.zswap.max", self.memcg_zswap_max_bytes),
                        ("swap device", self.swap_bytes)):
            if v is not None and (type(v) is not int or v < 0):
                raise SettingsError(f"{what} {v!r} is not a size in bytes")
            if v is not None and v > MAX_SIZE_BYTES:
                raise SettingsError(f"{what} of {v} bytes is more than 1 PiB")
        if self.swap_bytes > MAX_SWAP_BYTES:
            raise SettingsError(f"swap device of {self.swap_bytes} bytes is more than 1 TiB "
                                "(the model keeps a word per 4 KiB slot)")
        if self.memory_limit_bytes < (1 << 20):
            raise SettingsError(f"memory limit {self.memory_limit_bytes} bytes is below 1 MiB")
        for s in self.mthp_sizes_kb:
            if s not in MTHP_SIZES_KB:
                raise SettingsError(f"mTHP size {s}K is not one of "
                                    f"{', '.join(f'{k}K' for k in MTHP_SIZES_KB)}")
        if self.thp_enabled not in ("always", "madvise"):
            raise SettingsError(f"thp mode {self.thp_enabled!r} is not always or madvise")
        if self.backend not in BACKENDS:
            raise SettingsError(f"backend {self.backend!r} is not one of {', '.join(BACKENDS)}")
        if self.swap_device not in SWAP_DEVICES:
            raise SettingsError(f"swap device {self.swap_device!r} is not one of "
                                f"{', '.join(SWAP_DEVICES)}")
        if (self.swap_device == "zram") != (self.backend == "zram"):
            raise SettingsError(f"swap device {self.swap_device} does not go with backend "
                                f"{self.backend}: zram is its own swap device (--backend zram), "
                                "the others are partition, loop or file")
        if self.reclaim not in RECLAIM_MODES:
            raise SettingsError(f"reclaim {self.reclaim!r} is not one of "
                                f"{', '.join(RECLAIM_MODES)}")
        if self.memcg not in MEMCG_VERSIONS:
            raise SettingsError(f"memcg {self.memcg!r} is not v1 or v2")
        if self.first_read not in FIRST_READ:
            raise SettingsError(f"first read {self.first_read!r} is not zero-page or allocate")
        if not self.zswap_writeback and self.memcg != "v2":
            raise SettingsError("memory.zswap.writeback is a cgroup v2 setting: "
                                "--no-zswap-writeback needs --memcg v2")
        if self.oom not in OOM_MODES:
            raise SettingsError(f"oom {self.oom!r} is not kill or continue")
        if not 0 <= self.page_cluster <= 31:
            raise SettingsError(f"page-cluster {self.page_cluster} is outside 0..31")
        if not 1 <= self.zswap_max_pool_percent <= 100:
            raise SettingsError("zswap max_pool_percent must be 1..100")
        if not 0 <= self.zswap_accept_threshold_percent <= 100:
            raise SettingsError("zswap accept_threshold_percent must be 0..100")
        if self.swap_bytes < (1 << 20):
            raise SettingsError("swap device below 1 MiB")
        return self

    @property
    def zswap_pool_limit_bytes(self) -> int:
        if self.zswap_max_pool_bytes is not None:
            return self.zswap_max_pool_bytes
        return self.ram_bytes * self.zswap_max_pool_percent // 100

    @property
    def zswap_enabled(self) -> bool:
        """zswap sits in front of the swap device (/sys/module/zswap/parameters/enabled)."""
        return SWAP_BACKENDS[self.backend]["zswap"]

    @property
    def swap_caps(self) -> tuple[str, ...]:
        """The swap device's capabilities: blkdev (not on a swapfile), synchronous_io,
        compressed, and solidstate unless it is rotational."""
        caps = SWAP_BACKENDS[self.backend]["device"]
        if self.swap_device == "file":
            caps = tuple(c for c in caps if c != "blkdev")
        return caps if self.rotational else (*caps, "solidstate")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["mthp_sizes_kb"] = list(self.mthp_sizes_kb)
        return d
