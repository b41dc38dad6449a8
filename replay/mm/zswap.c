// SPDX-License-Identifier: GPL-2.0-only
/*
 * zswap (mm/zswap.c, v6.18): a compressed cache in front of the swap device.
 *
 * Entries are per 4 KiB page and kept on an LRU (list_lru, a log here:
 * lru_log.h) with a second-chance referenced bit. A large folio is stored all or
 * nothing. The pool limit is max_pool_percent of RAM (or a size); once hit,
 * stores are refused until the pool falls below accept_threshold_percent of it,
 * and the shrink worker writes entries back to the device. With the shrinker
 * enabled (zswap.shrinker_enabled, off by default), memcg reclaim also writes
 * entries back through shrink_slab(). The same pool accounting serves zram (its
 * compressed store).
 */
#include "costs.h"
#include "lru_log.h"

#define ZS_SIZE_CLASS_DELTA 16   /* zsmalloc size classes are 16 bytes apart */
#define SHRINK_BATCH 128         /* do_shrink_slab()'s batch when the shrinker sets none */
#define DEFAULT_SEEKS 2          /* zswap's shrinker->seeks */

/* Pool bytes of one stored page: its compressed size rounded to its zsmalloc
 * class; an incompressible page is stored as is (PAGE_SIZE). */
int64_t zswap_entry_bytes(struct mm *mm, int64_t p)
{
	int64_t c = page_comp(mm, p);
	if (c >= PAGE_SIZE)
		return PAGE_SIZE;
	return ((c + ZS_SIZE_CLASS_DELTA - 1) / ZS_SIZE_CLASS_DELTA) * ZS_SIZE_CLASS_DELTA;
}

/* list_lru_add(): the entry becomes the newest. */
static inline void zswap_lru_add(struct mm *mm, int64_t p)
{
	struct page *page = page_at(mm, p);
	page->zs_pos = lru_log_add(mm, &mm->zswap.lru, LOG_ZSWAP, p);
	page->zs_referenced = 1;          /* entry->referenced = true at store */
}

/* list_lru_del() */
static inline void zswap_lru_del(struct mm *mm, int64_t p)
{
	struct page *page = page_at(mm, p);
	lru_log_del(&mm->zswap.lru, page->zs_pos);
	page->zs_pos = -1;
}

/* The oldest entry. */
static inline int64_t zswap_lru_oldest(struct mm *mm)
{
	return lru_log_oldest(mm, &mm->zswap.lru);
}

/* zswap_check_limits(): true when the pool is (still) full and stores are refused. */
static inline bool zswap_check_limits(struct mm *mm)
{
	int64_t cur = mm->zswap.bytes;
	if (cur >= mm->cfg.zswap_pool_limit_bytes)
		mm->zswap.reached_full = true;
	else if (mm->zswap.reached_full && cur <= mm->cfg.zswap_accept_bytes)
		mm->zswap.reached_full = false;
	return mm->zswap.reached_full;
}

/* zswap_writeback_entry(): decompress one entry and write it to its slot on the device. */
static void zswap_writeback_entry(struct mm *mm, int64_t p)
{
	zswap_lru_del(mm, p);
	acct_zswap_writeback(mm, p);
	obj_cgroup_charge_zswap(mm, -zswap_entry_bytes(mm, p));
	page_at(mm, p)->state = PAGE_DEVICE;
	count_vm_event(mm, ZSWPWB);
	count_vm_event(mm, PSWPOUT);
}

/* shrink_worker() / shrink_memcg_cb(): write back from the LRU with a second
 * chance until the pool is at most target_bytes. Runs synchronously here (a
 * workqueue in the kernel). */
static void shrink_worker(struct mm *mm, int64_t target_bytes)
{
	int64_t guard = 2 * mm->zswap.lru.nr_live + 2;
	while (mm->zswap.bytes > target_bytes && mm->zswap.lru.nr_live > 0 && guard > 0) {
		int64_t e = zswap_lru_oldest(mm);
		guard--;
		if (page_at(mm, e)->zs_referenced) {
			page_at(mm, e)->zs_referenced = 0;            /* second chance: rotate */
			zswap_lru_del(mm, e);
			zswap_lru_add(mm, e);
			page_at(mm, e)->zs_referenced = 0;
			continue;
		}
		zswap_writeback_entry(mm, e);
	}
}

/* With multi-page compression units: before a store, the folio's pages take
 * their unit's share of the stored size when the folio holds whole units, else
 * their own size. */
void zswap_select_unit(struct mm *mm, int64_t h, int order)
{
	int shift = mm->time.unit_shift;
	int64_t i;
	if (shift == 0 || !mm->time.on)
		return;
	for (i = 0; i < ((int64_t)1 << order); i++)
		page_at(mm, h + i)->in_unit = order >= shift;
}

/*
 * zswap_store(): store every page of the folio, or none. True when stored.
 * Incompressible pages are stored raw, or refused when the memcg's
 * memory.zswap.writeback is 0. Leaves out: the per-memcg zswap.max shrink of
 * one entry before refusing.
 */
bool zswap_store(struct mm *mm, int64_t h, int order)
{
	int64_t nr = (int64_t)1 << order, total = 0, i;
	bool no_writeback;
	if (!mm->cfg.zswap_enabled)
		return false;
	if (zswap_check_limits(mm)) {
		count_vm_event(mm, ZSWAP_REJECT_POOL_LIMIT);
		if (mm->cfg.zswap_writeback)
			shrink_worker(mm, mm->cfg.zswap_accept_bytes);
		return false;
	}
	zswap_select_unit(mm, h, order);
	no_writeback = mm->cfg.memcg_v2 && !mm->cfg.zswap_writeback;
	for (i = 0; i < nr; i++) {
		int64_t b = zswap_entry_bytes(mm, h + i);
		if (b >= PAGE_SIZE && no_writeback) {
			/* zswap_compress(): an incompressible page is stored as is, unless
			 * the memcg may not write back: then it is refused */
			count_vm_event(mm, ZSWAP_REJECT_COMPRESS_POOR);
			return false;
		}
		total += b;
	}
	if (mm->cfg.memcg_v2 && mm->cfg.zswap_max_bytes >= 0 &&
	    mm->zswap.bytes + total > mm->cfg.zswap_max_bytes)
		return false;             /* obj_cgroup_may_zswap() refused */
	acct_zswap_store(mm, h, order);
	for (i = 0; i < nr; i++) {
		page_at(mm, h + i)->state = PAGE_ZSWAP;
		zswap_lru_add(mm, h + i);
	}
	obj_cgroup_charge_zswap(mm, total);
	count_vm_events(mm, ZSWPOUT, nr);
	if (order > 0)
		count_mthp_stat(mm, order, MTHP_STAT_ZSWPOUT);
	return true;
}

/* zswap_load() of one page (v6.18 erases the entry: the folio is then dirty). */
void zswap_load(struct mm *mm, int64_t p)
{
	zswap_lru_del(mm, p);
	obj_cgroup_charge_zswap(mm, -zswap_entry_bytes(mm, p));
	count_vm_event(mm, ZSWPIN);
}

/* zswap_invalidate(): the slot was freed; drop the entry without I/O. */
void zswap_invalidate(struct mm *mm, int64_t p)
{
	zswap_lru_del(mm, p);
	obj_cgroup_charge_zswap(mm, -zswap_entry_bytes(mm, p));
}

/*
 * zswap_shrinker_count() for the memcg: the entries on its zswap LRU, less the
 * disk swap-ins since the last count (consumed here), scaled by the memcg's
 * zswap pages per entry (the better the compression, the fewer written back).
 * cgroup v1 charges no zswap statistics to the memcg (MEMCG_ZSWAPPED stays 0),
 * so the count there is 0. The pool bytes are the model's (zsmalloc classes)
 * where the kernel counts compressed lengths.
 */
int64_t zswap_shrinker_count(struct mm *mm)
{
	int64_t nr_stored, nr_backing, nr_freeable, disk, remain;
	if (!mm->cfg.zswap_shrinker || !mm->cfg.zswap_writeback || !mm->cfg.memcg_v2)
		return 0;
	nr_stored = mm->zswap.lru.nr_live;
	if (nr_stored == 0)
		return 0;
	nr_backing = mm->zswap.bytes >> PAGE_SHIFT;
	nr_freeable = nr_stored;                       /* list_lru_shrink_count() */
	disk = mm->zswap.nr_disk_swapins;
	remain = nr_freeable >= disk ? 0 : disk - nr_freeable;
	mm->zswap.nr_disk_swapins = remain;
	nr_freeable -= disk - remain;
	if (nr_freeable == 0)
		return 0;
	return nr_freeable * nr_backing / nr_stored;   /* mult_frac() */
}

/* zswap_shrinker_scan() -> list_lru_shrink_walk(shrink_memcg_cb): walk nr_to_scan
 * entries from the oldest; a referenced entry loses its bit and rotates, the
 * others are written back. Returns the entries written back (0: SHRINK_STOP). */
static int64_t zswap_shrinker_scan(struct mm *mm, int64_t nr_to_scan)
{
	int64_t freed = 0, i;
	for (i = 0; i < nr_to_scan; i++) {
		int64_t e;
		if (mm->zswap.lru.nr_live == 0)
			break;
		e = zswap_lru_oldest(mm);
		if (page_at(mm, e)->zs_referenced) {
			zswap_lru_del(mm, e);
			zswap_lru_add(mm, e);
			page_at(mm, e)->zs_referenced = 0;
			continue;
		}
		zswap_writeback_entry(mm, e);
		freed++;
	}
	return freed;
}

/*
 * shrink_slab() -> do_shrink_slab() for the memcg's one shrinker here, zswap's:
 * scan (count >> priority) * 4 / seeks entries plus the deferred share, at most
 * twice the count, in batches of SHRINK_BATCH; carry what was not scanned over
 * (nr_deferred). Returns the entries written back. Their pool memory is
 * uncharged from the memcg; it is not counted as reclaimed pages.
 */
int64_t shrink_slab(struct mm *mm, int priority)
{
	int64_t freeable = zswap_shrinker_count(mm), nr, delta, total_scan;
	int64_t scanned = 0, freed = 0;
	if (freeable == 0)
		return 0;
	nr = mm->zswap.nr_deferred;
	mm->zswap.nr_deferred = 0;
	delta = (freeable >> priority) * 4 / DEFAULT_SEEKS;
	total_scan = min64((nr >> priority) + delta, 2 * freeable);
	while (total_scan >= SHRINK_BATCH || total_scan >= freeable) {
		int64_t nr_to_scan = min64(SHRINK_BATCH, total_scan);
		int64_t ret = zswap_shrinker_scan(mm, nr_to_scan);
		if (ret == 0)
			break;                    /* SHRINK_STOP */
		freed += ret;
		total_scan -= nr_to_scan;
		scanned += nr_to_scan;
	}
	mm->zswap.nr_deferred += min64(max64(nr + delta - scanned, 0), 2 * freeable);
	return freed;
}
