// SPDX-License-Identifier: GPL-2.0-only
/*
 * Writing folios to swap and reading pages back (mm/page_io.c), and freeing slots.
 */
#include "costs.h"

/* is_folio_zero_filled(): every page of the folio holds only zero bytes. */
static inline bool is_folio_zero_filled(struct mm *mm, int64_t h, int order)
{
	int64_t i;
	for (i = 0; i < ((int64_t)1 << order); i++)
		if (!page_zero_filled(page_at(mm, h + i)))
			return false;
	return true;
}

/* zram's compressed store is not charged to the memcg; reported as pool bytes. */
static inline void zram_account(struct mm *mm, int64_t delta)
{
	mm->zswap.bytes += delta;
	if (mm->zswap.bytes > mm->peak_pool_bytes)
		mm->peak_pool_bytes = mm->zswap.bytes;
}

/*
 * swap_writeout(): a dirty folio with slots goes to the zeromap, zswap or the
 * device. Returns false when it stays in memory: zswap refused it and the
 * memcg's memory.zswap.writeback is 0 (cgroup v2), so it may not go to the
 * device (AOP_WRITEPAGE_ACTIVATE).
 */
bool swap_writeout(struct mm *mm, int64_t h, int order)
{
	int64_t nr = (int64_t)1 << order, total = 0, i;
	bool compressed = mm->cfg.swp_flags & SWP_COMPRESSED;
	if (is_folio_zero_filled(mm, h, order)) {
		for (i = 0; i < nr; i++)
			page_at(mm, h + i)->state = PAGE_ZEROMAP;
		count_vm_events(mm, SWPOUT_ZERO, nr);
		return true;
	}
	if (zswap_store(mm, h, order))
		return true;
	if (mm->cfg.zswap_enabled && mm->cfg.memcg_v2 && !mm->cfg.zswap_writeback)
		return false;
	if (compressed)
		zswap_select_unit(mm, h, order);   /* zram stores units as zswap would */
	acct_swap_write(mm, h, order);
	for (i = 0; i < nr; i++) {
		page_at(mm, h + i)->state = PAGE_DEVICE;
		if (compressed)
			total += zswap_entry_bytes(mm, h + i);
	}
	if (total)
		zram_account(mm, total);
	count_vm_events(mm, PSWPOUT, nr);
	count_mthp_stat(mm, order, MTHP_STAT_SWPOUT);
	if (order == HPAGE_PMD_ORDER)
		count_vm_event(mm, THP_SWPOUT);
	return true;
}

/* swap_read_folio() for one page of a folio being read: zeromap, zswap or
 * device. Returns where it was read from (PAGE_ZEROMAP, PAGE_ZSWAP, PAGE_DEVICE). */
int swap_read_page(struct mm *mm, int64_t p)
{
	int where = page_at(mm, p)->state;
	if (where == PAGE_ZEROMAP)
		count_vm_event(mm, SWPIN_ZERO);
	else if (where == PAGE_ZSWAP)
		zswap_load(mm, p);
	else
		count_vm_event(mm, PSWPIN);
	return where;
}

/* Free the page's slot (swap_free / free_swap_and_cache) with what it stores: the
 * zswap entry is invalidated, zram discards its copy, the zeromap bit clears. */
void free_swap_slot_of(struct mm *mm, int64_t p)
{
	struct page *page = page_at(mm, p);
	int64_t s = page->slot;
	if (s < 0)
		return;
	if (page->state == PAGE_ZSWAP)
		zswap_invalidate(mm, p);
	else if ((mm->cfg.swp_flags & SWP_COMPRESSED) &&
		 (page->state == PAGE_DEVICE || page->backing == PAGE_DEVICE))
		zram_account(mm, -zswap_entry_bytes(mm, p));
	swap_free_slot(mm, s);
	page->slot = -1;
	page->shadow = -1;
	page->backing = 0;
}
