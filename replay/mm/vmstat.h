/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The counters the model keeps, one declaration per table, as the kernel's
 * enum vm_event_item (include/linux/vm_event_item.h) and enum mthp_stat_item
 * (include/linux/huge_mm.h). The names Python sees (results' "counters",
 * "per_size" and "derived") are generated from these lists (module.c).
 */
#ifndef REPLAY_MM_VMSTAT_H
#define REPLAY_MM_VMSTAT_H

/* /proc/vmstat events, with the kernel's names (some are node stats or zswap's
 * debugfs counters in the kernel; all are events here). */
#define FOR_EACH_VM_EVENT(X) \
	X(PGFAULT, "pgfault") \
	X(PGMAJFAULT, "pgmajfault") \
	X(PSWPIN, "pswpin") \
	X(PSWPOUT, "pswpout") \
	X(ZSWPIN, "zswpin") \
	X(ZSWPOUT, "zswpout") \
	X(ZSWPWB, "zswpwb") \
	X(SWPIN_ZERO, "swpin_zero") \
	X(SWPOUT_ZERO, "swpout_zero") \
	X(THP_SWPOUT, "thp_swpout") \
	X(THP_SWPOUT_FALLBACK, "thp_swpout_fallback") \
	X(WORKINGSET_REFAULT_ANON, "workingset_refault_anon") \
	X(WORKINGSET_ACTIVATE_ANON, "workingset_activate_anon") \
	X(WORKINGSET_RESTORE_ANON, "workingset_restore_anon") \
	X(PGSCAN, "pgscan") \
	X(PGSTEAL, "pgsteal") \
	X(PGACTIVATE, "pgactivate") \
	X(PGDEACTIVATE, "pgdeactivate") \
	X(PGROTATED, "pgrotated") \
	X(SWAP_RA, "swap_ra") \
	X(SWAP_RA_HIT, "swap_ra_hit") \
	X(THP_SPLIT_PAGE, "thp_split_page") \
	X(THP_DEFERRED_SPLIT_PAGE, "thp_deferred_split_page") \
	X(ZSWAP_REJECT_POOL_LIMIT, "zswap_reject_pool_limit") \
	X(ZSWAP_REJECT_COMPRESS_POOR, "zswap_reject_compress_poor") \
	X(OOM_KILL, "oom_kill") \
	X(PGFREE_SWAPCACHE, "pgfree_swapcache")

enum vm_event_item {
#define X(item, name) item,
	FOR_EACH_VM_EVENT(X)
#undef X
	NR_VM_EVENT_ITEMS
};

/* hugepages-<N>kB/stats/, per order */
#define FOR_EACH_MTHP_STAT(X) \
	X(MTHP_STAT_ANON_FAULT_ALLOC, "anon_fault_alloc") \
	X(MTHP_STAT_ANON_FAULT_FALLBACK, "anon_fault_fallback") \
	X(MTHP_STAT_ANON_FAULT_FALLBACK_CHARGE, "anon_fault_fallback_charge") \
	X(MTHP_STAT_SWPIN, "swpin") \
	X(MTHP_STAT_SWPIN_FALLBACK, "swpin_fallback") \
	X(MTHP_STAT_SWPIN_FALLBACK_CHARGE, "swpin_fallback_charge") \
	X(MTHP_STAT_SWPOUT, "swpout") \
	X(MTHP_STAT_SWPOUT_FALLBACK, "swpout_fallback") \
	X(MTHP_STAT_ZSWPOUT, "zswpout") \
	X(MTHP_STAT_SPLIT, "split") \
	X(MTHP_STAT_SPLIT_DEFERRED, "split_deferred")

enum mthp_stat_item {
#define X(item, name) item,
	FOR_EACH_MTHP_STAT(X)
#undef X
	__MTHP_STAT_COUNT
};

/* The replay's own figures (not the kernel's): results' "derived". */
#define FOR_EACH_REPLAY_STAT(X) \
	X(SWAPIN_UNUSED_RECLAIMED, "swapin_pages_unused_reclaimed") /* swapped in, reclaimed unused */ \
	X(SWAPIN_PAGES, "swapin_pages")         /* pages brought in by swap-in, any path */ \
	X(SWAPIN_USED, "swapin_pages_used")     /* of those, accessed before reclaim */ \
	X(READAHEAD_PAGES, "readahead_pages") \
	X(READAHEAD_ACTIVATED, "readahead_activated") /* unmapped, dirty: pageout() activated it */ \
	X(LARGE_SWAPIN_HYBRID, "large_swapin_hybrid") /* loaded from zswap and device together */ \
	X(SWAPIN_RACE_FALLBACK, "swapin_race_fallback") /* range changed between check and load */ \
	X(CHARGE_GUARD_REFUSALS, "charge_guard_refusals") \
	X(ZERO_PAGE_MAPS, "zero_page_maps") \
	X(RECLAIM_ROUNDS, "reclaim_rounds") \
	X(PAGETABLE_PAGES, "pagetable_pages")   /* PTE tables charged to the memcg */

enum replay_stat_item {
#define X(item, name) item,
	FOR_EACH_REPLAY_STAT(X)
#undef X
	NR_REPLAY_STAT_ITEMS
};

#endif
