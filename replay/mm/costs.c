// SPDX-License-Identifier: GPL-2.0-only
/*
 * The cost of a fault as a whole (costs.h has the hooks called on the way).
 */
#include "costs.h"

/* mem_cgroup_charge() of nr pages: from the per-CPU stock, with a page_counter
 * charge (the refill) every MEMCG_CHARGE_BATCH pages, or one for a larger folio. */
static inline int64_t charge_ps(const struct mm *mm, int64_t nr)
{
	return cp(mm, CP_CHARGE) + cp(mm, CP_CHARGE_REFILL) * min64(nr, MEMCG_CHARGE_BATCH)
		/ MEMCG_CHARGE_BATCH;
}

/* set_ptes() + folio_add_anon_rmap_ptes() of nr pages of one folio. */
static inline int64_t map_ps(const struct mm *mm, int64_t nr)
{
	return cp(mm, CP_PTE_BATCH) + nr * cp(mm, CP_PTE) + cp(mm, CP_RMAP_FOLIO)
		+ nr * cp(mm, CP_RMAP_PAGE);
}

/*
 * After handle_mm_fault() on page p (state before: before): book the fault's
 * own work (entry/exit, allocation and zeroing, charge, swap cache, LRU add,
 * PTEs and rmap; what it read and reclaimed was booked on the way) and the
 * time spent inside it.
 *
 * Anonymous faults use the measured order-0 fault and add, for a large folio,
 * zeroing and PTE/rmap work per extra page. A major swap fault on the order-0
 * path (swapin_readahead) charges, adds to the swap cache and LRU every page it
 * read and maps one; a large or SWP_SYNCHRONOUS_IO swap-in does it once per
 * folio (swapcache_prepare() standing for the swap cache add). Every swap
 * fault, major or minor, starts with a swap cache lookup.
 */
void acct_fault(struct mm *mm, int64_t p, int before, int64_t kernel0, int64_t swapin0)
{
	const struct page *page;
	int64_t cost, spent;
	bool swap = false;
	if (!mm->time.on)
		return;
	page = page_at(mm, p);
	if (before == PAGE_NONE || before == PAGE_FREED) {
		if (page->state == PAGE_ZEROPAGE) {
			cost = cp(mm, CP_FAULT_ENTRY) + cp(mm, CP_PTE_BATCH) + cp(mm, CP_PTE);
		} else {
			int64_t nr = page->head >= 0 ? folio_nr_pages(page_at(mm, page->head)) : 1;
			cost = cp(mm, CP_ANON_FAULT_4K) + (nr - 1) * (cp(mm, CP_CLEAR_PAGE)
				+ cp(mm, CP_PTE) + cp(mm, CP_RMAP_PAGE));
		}
	} else if (before == PAGE_ZEROPAGE) {
		cost = cp(mm, CP_ANON_FAULT_4K);     /* do_wp_page(): copy into a new folio */
	} else if (before == PAGE_SWAPCACHE) {
		swap = true;                          /* minor: swap cache hit */
		cost = cp(mm, CP_FAULT_ENTRY) + cp(mm, CP_SWAP_CACHE) + map_ps(mm, 1);
	} else {
		int order = 0;
		swap = true;
		if (page->state == PAGE_MAPPED && page->head >= 0)
			order = page_at(mm, page->head)->order;
		cost = cp(mm, CP_FAULT_ENTRY) + cp(mm, CP_SWAP_CACHE);  /* swap cache miss */
		if (order > 0 || (mm->cfg.swp_flags & SWP_SYNCHRONOUS_IO)) {
			int64_t nr = (int64_t)1 << order;
			cost += charge_ps(mm, nr) + cp(mm, CP_SWAP_CACHE) + cp(mm, CP_LRU_ADD)
				+ map_ps(mm, nr);
			mm->time.swpin_folios[order]++;
		} else {
			int64_t nin = (int64_t)mm->replay_stats[SWAPIN_PAGES] - swapin0;
			cost += nin * (charge_ps(mm, 1) + cp(mm, CP_SWAP_CACHE) + cp(mm, CP_LRU_ADD))
				+ map_ps(mm, 1);
			mm->time.swpin_folios[0] += nin;
		}
		if (mm->time.io_pending) {
			int64_t lat = cp(mm, CP_DEV_READ_LAT);
			mm->time.io_pending = false;
			mm->time.io += lat;
			cost += lat;
		}
	}
	mm->time.kernel += cost;
	spent = mm->time.kernel - kernel0;
	mm->time.fault += spent;
	if (swap)
		mm->time.swapin += spent;
}
