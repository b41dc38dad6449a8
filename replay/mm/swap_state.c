// SPDX-License-Identifier: GPL-2.0-only
/*
 * The swap cache and swap readahead (mm/swap_state.c).
 *
 * Order-0 swap-in on a device without SWP_SYNCHRONOUS_IO reads a window of
 * pages into the swap cache: cluster readahead (aligned blocks of swap offsets)
 * while a rotational swap device is active, else VMA readahead (around the
 * faulting address, clipped to the VMA and its 2 MiB block). The window adapts
 * to readahead hits as __swapin_nr_pages() does.
 */
#include "costs.h"
#include "mm_inline.h"

#define SWAP_RA_ORDER_CEILING 5

/* __swapin_nr_pages(): the adaptive readahead window. */
static int64_t __swapin_nr_pages(int64_t prev_offset, int64_t offset, int64_t hits,
				 int64_t max_pages, int64_t prev_win)
{
	int64_t pages = hits + 2, last_ra;
	if (pages == 2) {
		if (offset != prev_offset + 1 && offset != prev_offset - 1)
			pages = 1;
	} else {
		int64_t roundup = 4;
		while (roundup < pages)
			roundup <<= 1;
		pages = roundup;
	}
	pages = min64(pages, max_pages);
	last_ra = prev_win / 2;
	return max64(pages, last_ra);
}

/* __read_swap_cache_async() for one page: charge an order-0 folio, read the
 * page into the swap cache and put it on the LRU (activated when its refault is
 * recent). Returns false when the charge failed. */
static bool read_swap_cache_page(struct mm *mm, int64_t p, bool readahead)
{
	struct page *page;
	int where;
	uint8_t flags = PG_swapcache;
	if (!try_charge_memcg(mm, 1, true))
		return false;
	where = swap_read_page(mm, p);
	acct_swap_read(mm, p, where, 0);
	page = page_at(mm, p);
	page->state = PAGE_SWAPCACHE;
	page->head = (int32_t)p;
	page->order = 0;
	page->tlb_order = 0;
	if (readahead) {
		flags |= PG_readahead;
		count_vm_event(mm, SWAP_RA);
		count_replay_stats(mm, READAHEAD_PAGES, 1);
	}
	if (where == PAGE_ZSWAP) {
		flags |= PG_dirty;          /* zswap_load() erased the entry: only memory holds it */
		page->backing = 0;
	} else {
		page->backing = (uint8_t)where;
		if (where == PAGE_DEVICE)
			zswap_folio_swapin(mm);
	}
	page->flags = flags;
	workingset_refault(mm, p, page->shadow, 1);
	page->shadow = -1;
	page->used = 1;
	count_replay_stats(mm, SWAPIN_PAGES, 1);
	lruvec_add_folio(mm, p);
	return true;
}

/* swapin_nr_pages() for cluster readahead. */
static int64_t swapin_nr_pages(struct mm *mm, int64_t offset)
{
	int64_t max_pages = (int64_t)1 << mm->cfg.page_cluster, hits, pages;
	if (max_pages <= 1)
		return 1;
	hits = mm->ra.hits;
	mm->ra.hits = 0;
	pages = __swapin_nr_pages(mm->ra.prev_offset, offset, hits, max_pages, mm->ra.prev_win);
	if (hits == 0)
		mm->ra.prev_offset = offset;
	mm->ra.prev_win = pages;
	return pages;
}

/* swap_cluster_readahead(): read the aligned block of swap offsets around the entry. */
static void swap_cluster_readahead(struct mm *mm, int64_t p)
{
	int64_t offset = page_at(mm, p)->slot, mask, start, end, off;
	mask = swapin_nr_pages(mm, offset) - 1;
	if (mask == 0) {
		read_swap_cache_page(mm, p, false);
		return;
	}
	start = offset & ~mask;
	end = min64(offset | mask, mm->si.nr_slots - 1);
	for (off = start; off <= end; off++) {
		int64_t q = swap_slot_owner(mm, off);
		if (q < 0)
			continue;
		if (q == p)
			read_swap_cache_page(mm, p, false);
		else if (is_swapped(page_at(mm, q)->state))
			read_swap_cache_page(mm, q, true);
	}
	if (page_at(mm, p)->state != PAGE_SWAPCACHE)  /* the target must be read anyway */
		read_swap_cache_page(mm, p, false);
}

/* swap_vma_readahead() with swap_vma_ra_win(): pages around the faulting address. */
static void swap_vma_readahead(struct mm *mm, int64_t p)
{
	int64_t max_win = (int64_t)1 << min64(mm->cfg.page_cluster, SWAP_RA_ORDER_CEILING);
	int64_t prev = mm->ra.prev_page, win, lo, hi, block, q;
	if (max_win == 1) {
		win = 1;
	} else {
		int64_t hits = mm->ra.hits;
		mm->ra.hits = 0;
		win = __swapin_nr_pages(prev, p, hits, max_win, mm->ra.vma_win);
		mm->ra.prev_page = p;
		mm->ra.vma_win = win;
	}
	if (win == 1) {
		read_swap_cache_page(mm, p, false);
		return;
	}
	if (p == prev + 1) {
		lo = p;
		hi = p + win;
	} else if (prev == p + 1) {
		lo = p - win + 1;
		hi = p + 1;
	} else {
		int64_t left = (win - 1) / 2;
		lo = p - left;
		hi = p + win - left;
	}
	block = p & ~(int64_t)(HPAGE_PMD_NR - 1);
	lo = max64(max64(lo, vma_start(page_at(mm, p), p)), block);
	hi = min64(min64(hi, vma_end(page_at(mm, p), p)), block + HPAGE_PMD_NR);
	for (q = lo; q < hi; q++)            /* the window's records: a few lines in a row */
		__builtin_prefetch(page_peek(mm, q), 0);
	for (q = lo; q < hi; q++) {
		const struct page *page;
		if (q == p) {
			read_swap_cache_page(mm, p, false);
			continue;
		}
		page = page_peek(mm, q);
		if (is_swapped(page->state) && page->slot >= 0)
			read_swap_cache_page(mm, q, true);
	}
	if (page_at(mm, p)->state != PAGE_SWAPCACHE)
		read_swap_cache_page(mm, p, false);
}

/* swapin_readahead(): VMA readahead unless a rotational swap device is active. */
void swapin_readahead(struct mm *mm, int64_t p)
{
	if (!(mm->cfg.swp_flags & SWP_SOLIDSTATE))
		swap_cluster_readahead(mm, p);
	else
		swap_vma_readahead(mm, p);
}
