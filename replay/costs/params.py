"""Documented defaults of every non-codec cost (see docs/costs.md).

``kind`` is ``measured`` when ``replay calibrate`` measures it on the machine
(the value here is then only a fallback), ``published`` for a figure from a
datasheet or the linux-mm threads, ``derived`` for one computed from a
published figure, ``estimate`` for a reasoned guess to replace with a
measurement where possible. Units are in the names.
"""

from __future__ import annotations

DEFAULT_PARAMS: dict[str, dict] = {
    "cpu_ghz": {
        "value": 3.0, "unit": "GHz", "kind": "measured",
        "source": "/proc/cpuinfo 'cpu MHz' of the calibrating machine; converts TLB cycles to ns"},
    "fault_entry_exit_ns": {
        "value": 400.0, "unit": "ns", "kind": "estimate",
        "source": "x86-64 page-fault exception entry, handle_mm_fault() dispatch and return to "
               "user with speculation mitigations; bounded above by anon_fault_4k_ns"},
    "anon_fault_4k_ns": {
        "value": 1500.0, "unit": "ns", "kind": "measured",
        "source": "first write to an order-0 anonymous page (MADV_NOHUGEPAGE): fault entry/exit, "
               "do_anonymous_page(), zeroing, memcg charge, PTE, rmap, LRU add; minus the "
               "same writes to present pages"},
    "clear_page_ns_per_kib": {
        "value": 25.0, "unit": "ns/KiB", "kind": "measured",
        "source": "memset of a 64 MiB buffer (clear_page / folio_zero_user)"},
    "copy_ns_per_kib": {
        "value": 40.0, "unit": "ns/KiB", "kind": "measured",
        "source": "memcpy between two 64 MiB buffers (raw zswap entries, copies of pages)"},
    "pte_batch_ns": {
        "value": 40.0, "unit": "ns", "kind": "estimate",
        "source": "one set_ptes()/zap batch: page-table lock, arm64 contpte fold/unfold check"},
    "pte_ns_per_page": {
        "value": 5.0, "unit": "ns", "kind": "estimate", "source": "one PTE written or cleared in a batch"},
    "rmap_ns_per_folio": {
        "value": 50.0, "unit": "ns", "kind": "estimate",
        "source": "folio_add_anon_rmap_ptes()/folio_remove_rmap_ptes() fixed part"},
    "rmap_ns_per_page": {
        "value": 8.0, "unit": "ns", "kind": "estimate",
        "source": "per-page _mapcount atomic of a PTE-mapped folio"},
    "memcg_charge_ns_per_folio": {
        "value": 100.0, "unit": "ns", "kind": "estimate",
        "source": "mem_cgroup_charge() served from the per-CPU stock"},
    "memcg_charge_refill_ns": {
        "value": 800.0, "unit": "ns", "kind": "estimate",
        "source": "page_counter_try_charge() up the hierarchy when the per-CPU stock of "
               "MEMCG_CHARGE_BATCH (64) pages runs out"},
    "lru_add_ns_per_folio": {
        "value": 60.0, "unit": "ns", "kind": "estimate",
        "source": "folio_add_lru() through a per-CPU folio_batch of 31"},
    "reclaim_scan_ns_per_folio": {
        "value": 400.0, "unit": "ns", "kind": "estimate",
        "source": "shrink_folio_list(): isolate, folio_referenced() rmap walk of one mapping"},
    "reclaim_unmap_ns_per_folio": {
        "value": 1000.0, "unit": "ns", "kind": "estimate",
        "source": "try_to_unmap() of one mapping plus its TLB flush"},
    "swap_cache_ns_per_folio": {
        "value": 150.0, "unit": "ns", "kind": "estimate",
        "source": "add_to_swap_cache()/swap cache lookup and delete (xarray)"},
    "swap_slot_alloc_ns_per_folio": {
        "value": 200.0, "unit": "ns", "kind": "estimate",
        "source": "folio_alloc_swap(): cluster allocation of 1 or 2^order slots"},
    "zswap_store_ns_per_page": {
        "value": 500.0, "unit": "ns", "kind": "estimate",
        "source": "zswap_store() per subpage apart from compression: zs_malloc() and copy, "
               "xarray store, objcg charge, zswap LRU add"},
    "zswap_load_ns_per_page": {
        "value": 400.0, "unit": "ns", "kind": "estimate",
        "source": "zswap_load() apart from decompression: xarray lookup/erase, zs_obj_read, "
               "zs_free"},
    "zram_read_ns": {
        "value": 1000.0, "unit": "ns", "kind": "derived",
        "source": "zram 4K random read with page-cluster 0 and lz4: 1.7 us mean (Barry Song, "
               "linux-mm large-folio swap-in threads) minus ~0.7 us of lz4 decompression"},
    "zram_write_ns": {
        "value": 800.0, "unit": "ns", "kind": "estimate",
        "source": "zram_write_page() apart from compression: same-filled check, zs_malloc, copy"},
    "nvme_read_latency_ns": {
        "value": 80000.0, "unit": "ns", "kind": "published",
        "source": "4 KiB random read at queue depth 1 on data-center NVMe SSDs: 70-90 us in vendor "
               "datasheets (e.g. Intel SSD DC P4510, 77 us typical); not re-checked here"},
    "nvme_read_ns_per_kib": {
        "value": 300.0, "unit": "ns/KiB", "kind": "published",
        "source": "~3.3 GB/s sequential read of a PCIe 3.0 x4 NVMe SSD"},
    "nvme_write_latency_ns": {
        "value": 20000.0, "unit": "ns", "kind": "published",
        "source": "4 KiB write latency into the drive's write cache (datasheets: ~18 us typical)"},
    "nvme_write_ns_per_kib": {
        "value": 500.0, "unit": "ns/KiB", "kind": "published",
        "source": "~2 GB/s sustained sequential write of a PCIe 3.0 NVMe SSD"},
    "hdd_read_latency_ns": {
        "value": 8_000_000.0, "unit": "ns", "kind": "published",
        "source": "7200 rpm disk: 4.17 ms average rotational latency plus ~4 ms average seek"},
    "hdd_read_ns_per_kib": {
        "value": 6500.0, "unit": "ns/KiB", "kind": "published",
        "source": "~150 MB/s media transfer rate of a 7200 rpm disk"},
    "hdd_write_latency_ns": {
        "value": 8_000_000.0, "unit": "ns", "kind": "published",
        "source": "as hdd_read_latency_ns (no write cache assumed)"},
    "hdd_write_ns_per_kib": {
        "value": 6500.0, "unit": "ns/KiB", "kind": "published", "source": "as hdd_read_ns_per_kib"},
}
