"""What things cost: codec timings fitted by ``replay calibrate`` plus documented parameters.

A cost model is one JSON file (``replay/data/cost_model.json`` ships as the
default, measured on this project's machines; ``replay calibrate -o PATH``
writes one for yours). It holds

* per codec key (``lz4``, ``lzo``, ``zstd-3``, ...): a least-squares fit
  ``time_ns = a + b * in_bytes + c * out_bytes`` for compress and decompress,
  with its goodness of fit, measured on real page contents;
* ``params``: every other cost, each ``{"value", "unit", "kind", "source"}``
  where kind is ``measured`` (by calibrate, on the machine named in
  ``machine``), ``published`` (a figure from a paper, datasheet or the
  linux-mm threads) or ``estimate`` (a reasoned guess: replace it when you
  can measure it). docs/costs.md lists them with their sources.

``CostModel.as_array(codec, device)`` flattens what the compiled engine loop
needs into a float64 array; the ``CM_*`` constants index it and the helpers at
the end read it (plain Python: what compiled code computes from the array).
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from replay.costs.codecs import codec_key
from replay.errors import ReplayError, SettingsError
from replay.trace import CONTENT_CLASSES

FORMAT = "folio-replay cost model"
FORMAT_VERSION = 1
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "cost_model.json"
MAX_FILE_BYTES = 16 << 20        # a cost model is a few KiB of JSON
DEVICES = ("nvme", "hdd")
FIT_FIELDS = ("a_ns", "b_ns_per_in_byte", "c_ns_per_out_byte")

# every parameter the engine may use, in as_array order (after the codec and device slots)
PARAM_NAMES = (
    "cpu_ghz",
    "fault_entry_exit_ns",
    "anon_fault_4k_ns",
    "clear_page_ns_per_kib",
    "copy_ns_per_kib",
    "pte_batch_ns",
    "pte_ns_per_page",
    "rmap_ns_per_folio",
    "rmap_ns_per_page",
    "memcg_charge_ns_per_folio",
    "memcg_charge_refill_ns",
    "lru_add_ns_per_folio",
    "reclaim_scan_ns_per_folio",
    "reclaim_unmap_ns_per_folio",
    "swap_cache_ns_per_folio",
    "swap_slot_alloc_ns_per_folio",
    "zswap_store_ns_per_page",
    "zswap_load_ns_per_page",
    "zram_read_ns",
    "zram_write_ns",
    "nvme_read_latency_ns",
    "nvme_read_ns_per_kib",
    "nvme_write_latency_ns",
    "nvme_write_ns_per_kib",
    "hdd_read_latency_ns",
    "hdd_read_ns_per_kib",
    "hdd_write_latency_ns",
    "hdd_write_ns_per_kib",
)

# as_array layout
CM_COMP_A, CM_COMP_B, CM_COMP_C = 0, 1, 2
CM_DECOMP_A, CM_DECOMP_B, CM_DECOMP_C = 3, 4, 5
CM_DEV_READ_LAT_NS, CM_DEV_READ_NS_PER_KIB = 6, 7
CM_DEV_WRITE_LAT_NS, CM_DEV_WRITE_NS_PER_KIB = 8, 9
CM_PARAMS = 10                                   # PARAM_NAMES[i] is at CM_PARAMS + i
CM_CPU_GHZ = CM_PARAMS + 0
CM_FAULT_ENTRY_EXIT_NS = CM_PARAMS + 1
CM_ANON_FAULT_4K_NS = CM_PARAMS + 2
CM_CLEAR_PAGE_NS_PER_KIB = CM_PARAMS + 3
CM_COPY_NS_PER_KIB = CM_PARAMS + 4
CM_PTE_BATCH_NS = CM_PARAMS + 5
CM_PTE_NS_PER_PAGE = CM_PARAMS + 6
CM_RMAP_NS_PER_FOLIO = CM_PARAMS + 7
CM_RMAP_NS_PER_PAGE = CM_PARAMS + 8
CM_MEMCG_CHARGE_NS_PER_FOLIO = CM_PARAMS + 9
CM_MEMCG_CHARGE_REFILL_NS = CM_PARAMS + 10
CM_LRU_ADD_NS_PER_FOLIO = CM_PARAMS + 11
CM_RECLAIM_SCAN_NS_PER_FOLIO = CM_PARAMS + 12
CM_RECLAIM_UNMAP_NS_PER_FOLIO = CM_PARAMS + 13
CM_SWAP_CACHE_NS_PER_FOLIO = CM_PARAMS + 14
CM_SWAP_SLOT_ALLOC_NS_PER_FOLIO = CM_PARAMS + 15
CM_ZSWAP_STORE_NS_PER_PAGE = CM_PARAMS + 16
CM_ZSWAP_LOAD_NS_PER_PAGE = CM_PARAMS + 17
CM_ZRAM_READ_NS = CM_PARAMS + 18
CM_ZRAM_WRITE_NS = CM_PARAMS + 19
CM_SIZE = CM_PARAMS + len(PARAM_NAMES)
assert CM_ZRAM_WRITE_NS == CM_PARAMS + PARAM_NAMES.index("zram_write_ns")


@dataclass
class CostModel:
    """A loaded cost model; ``source`` says which file (results record it)."""

    data: dict
    path: Path
    is_default: bool = False
    _warned: set = field(default_factory=set, repr=False)

    # -- loading
    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> CostModel:
        """Read and check a cost model; None = the shipped default. Bad files: SettingsError."""
        p = DEFAULT_PATH if path is None else Path(path)
        try:
            st = p.stat()
            if not stat.S_ISREG(st.st_mode):     # a FIFO would block, /dev/zero never end
                raise SettingsError("cost model is not a regular file", path=p)
            if st.st_size > MAX_FILE_BYTES:
                raise SettingsError(f"cost model of {st.st_size} bytes is not one (more "
                                    f"than {MAX_FILE_BYTES >> 20} MiB)", path=p)
            text = p.read_text()
        except FileNotFoundError:
            raise SettingsError("no such cost model file", path=p) from None
        except (OSError, UnicodeDecodeError) as e:
            raise SettingsError(f"cannot read cost model ({e})", path=p) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SettingsError(f"not valid JSON (line {e.lineno}: {e.msg})", path=p) from None
        model = cls(data, p, is_default=path is None)
        model.check()
        return model

    def check(self) -> None:
        """Raise SettingsError naming the file for anything the engine could trip on."""
        d = self.data

        def bad(what: str) -> ReplayError:
            return SettingsError(f"not a usable cost model: {what}", path=self.path)

        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise bad(f'"format" is not "{FORMAT}"')
        if d.get("version") != FORMAT_VERSION:
            raise bad(f"version {d.get('version')!r} is not {FORMAT_VERSION}")
        codecs = d.get("codecs")
        if not isinstance(codecs, dict) or not codecs:
            raise bad('no "codecs" timings')
        for key, entry in codecs.items():
            for op in ("compress", "decompress"):
                fit = entry.get(op) if isinstance(entry, dict) else None
                if not isinstance(fit, dict):
                    raise bad(f"codec {key} has no {op} fit")
                for f in FIT_FIELDS:
                    v = fit.get(f)
                    if not _is_number(v) or v < 0:
                        raise bad(f"codec {key} {op} {f} is {v!r}, not a number >= 0")
        params = d.get("params")
        if not isinstance(params, dict):
            raise bad('no "params"')
        for name in PARAM_NAMES:
            p = params.get(name)
            v = p.get("value") if isinstance(p, dict) else None
            if not _is_number(v) or v < 0:
                raise bad(f"parameter {name} is {v!r}, not a number >= 0")
        if params["cpu_ghz"]["value"] <= 0:
            raise bad("parameter cpu_ghz must be positive")

    # -- reading
    @property
    def source(self) -> str:
        return "shipped default" if self.is_default else str(self.path)

    def describe(self) -> dict:
        """What results record about the model used."""
        return {"path": str(self.path), "default": self.is_default,
                "created": self.data.get("created", ""), "machine": self.data.get("machine", {}),
                "corpus": self.data.get("corpus", "")}

    def codec_keys(self) -> list[str]:
        return sorted(self.data["codecs"])

    def _codec_entry(self, codec: str) -> dict:
        key = codec_key(codec)
        codecs = self.data["codecs"]
        if key not in codecs and key == "lzo-rle" and "lzo" in codecs:
            key = "lzo"                        # measured as lzo1x-1 anyway
        if key not in codecs:
            raise SettingsError(f"has no timings for codec {key} (it has "
                                f"{', '.join(self.codec_keys())}); run `replay calibrate "
                                f"--codec {key}`", path=self.path)
        return codecs[key]

    def fit(self, codec: str, op: str) -> tuple[float, float, float]:
        """(a_ns, b_ns_per_in_byte, c_ns_per_out_byte) of ``op`` (compress or decompress)."""
        f = self._codec_entry(codec)[op]
        return float(f["a_ns"]), float(f["b_ns_per_in_byte"]), float(f["c_ns_per_out_byte"])

    def compress_ns(self, codec: str, in_bytes, out_bytes):
        """Time to compress ``in_bytes`` into ``out_bytes`` (scalars or numpy arrays)."""
        a, b, c = self.fit(codec, "compress")
        return a + b * np.asarray(in_bytes, float) + c * np.asarray(out_bytes, float)

    def decompress_ns(self, codec: str, in_bytes, out_bytes):
        """Time to decompress ``in_bytes`` of compressed data back into ``out_bytes``."""
        a, b, c = self.fit(codec, "decompress")
        return a + b * np.asarray(in_bytes, float) + c * np.asarray(out_bytes, float)

    def class_ns(self, codec: str, op: str, content_class: str, unit_pages: int = 1
                 ) -> float | None:
        """Mean measured time of ``op`` on one unit of a content class, if calibrated.

        Content moves codec time more than size does (zero and random pages are
        fast, text and heap pages slow), so when the class is known this beats
        the size fit. None when the model has no such measurement.
        """
        per = self._codec_entry(codec).get("per_class", {}).get(content_class, {})
        m = per.get(f"{unit_pages * 4}k")
        if not isinstance(m, dict) or not _is_number(m.get(f"{op}_us")):
            return None
        return float(m[f"{op}_us"]) * 1000.0

    def unit_costs_ns(self, sizes, codec: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(compress ns, decompress ns) per compression unit of a ``PageSizes``.

        Units of one generated content class use that class's measured time
        (``class_ns``); units with recorded bytes or mixed classes use the size
        fit. Incompressible units decompress as a copy (zswap stores them raw).
        """
        codec = codec or sizes.codec
        u = sizes.unit_pages
        cls = sizes.content_class.reshape(-1, u)
        data = sizes.has_data.reshape(-1, u)
        in_b = float(u * 4096)
        out_b = sizes.unit_comp_bytes.astype(np.float64)
        comp = self.compress_ns(codec, in_b, out_b)
        decomp = self.decompress_ns(codec, out_b, in_b)
        one = (cls == cls[:, :1]).all(axis=1) & ~data.any(axis=1)
        for code, name in enumerate(CONTENT_CLASSES):
            m = one & (cls[:, 0] == code)
            if not m.any():
                continue
            key = "mixed" if name == "unknown" else name
            c, d = self.class_ns(codec, "compress", key, u), self.class_ns(codec, "decompress",
                                                                            key, u)
            if c is not None:
                comp[m] = c
            if d is not None:
                decomp[m] = d
        raw = sizes.unit_incompressible
        decomp[raw] = self.param("copy_ns_per_kib") * in_b / 1024.0
        return comp, decomp

    def param(self, name: str) -> float:
        if name not in self.data["params"]:
            raise SettingsError(f"has no parameter {name}", path=self.path)
        return float(self.data["params"][name]["value"])

    def params(self) -> dict[str, dict]:
        return self.data["params"]

    def as_array(self, codec: str = "lz4", device: str = "nvme") -> np.ndarray:
        """float64 array for compiled code: the codec's fits, the device's costs, every param."""
        if device not in DEVICES:
            raise SettingsError(f"device {device!r} is not one of {', '.join(DEVICES)}")
        out = np.zeros(CM_SIZE, np.float64)
        out[CM_COMP_A:CM_COMP_C + 1] = self.fit(codec, "compress")
        out[CM_DECOMP_A:CM_DECOMP_C + 1] = self.fit(codec, "decompress")
        out[CM_DEV_READ_LAT_NS] = self.param(f"{device}_read_latency_ns")
        out[CM_DEV_READ_NS_PER_KIB] = self.param(f"{device}_read_ns_per_kib")
        out[CM_DEV_WRITE_LAT_NS] = self.param(f"{device}_write_latency_ns")
        out[CM_DEV_WRITE_NS_PER_KIB] = self.param(f"{device}_write_ns_per_kib")
        for i, name in enumerate(PARAM_NAMES):
            out[CM_PARAMS + i] = self.param(name)
        return out


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# ---------------------------------------------------------------- readers of as_array()


def compress_cost_ns(cm: np.ndarray, in_bytes: float, out_bytes: float) -> float:
    """Compress time of the codec ``cm`` was built for."""
    return cm[CM_COMP_A] + cm[CM_COMP_B] * in_bytes + cm[CM_COMP_C] * out_bytes


def decompress_cost_ns(cm: np.ndarray, in_bytes: float, out_bytes: float) -> float:
    """Decompress time (in = compressed bytes, out = uncompressed bytes)."""
    return cm[CM_DECOMP_A] + cm[CM_DECOMP_B] * in_bytes + cm[CM_DECOMP_C] * out_bytes


def device_read_ns(cm: np.ndarray, nbytes: float) -> float:
    """One read I/O of ``nbytes`` from the swap device ``cm`` was built for."""
    return cm[CM_DEV_READ_LAT_NS] + cm[CM_DEV_READ_NS_PER_KIB] * nbytes / 1024.0


def device_write_ns(cm: np.ndarray, nbytes: float) -> float:
    """One write I/O of ``nbytes`` to the swap device."""
    return cm[CM_DEV_WRITE_LAT_NS] + cm[CM_DEV_WRITE_NS_PER_KIB] * nbytes / 1024.0


def cycles_to_ns(cm: np.ndarray, cycles: float) -> float:
    """CPU cycles in ns at the cost model's clock."""
    return cycles / cm[CM_CPU_GHZ]
