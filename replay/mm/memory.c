// SPDX-License-Identifier: GPL-2.0-only
/*
 * The anonymous fault paths (mm/memory.c, v6.18) and the madvise/unmap events.
 *
 * do_anonymous_page() with mTHP order selection (alloc_anon_folio()),
 * do_wp_page() from the shared zero page, do_swap_page() with
 * alloc_swap_folio() / can_swapin_thp() and the policy's decision,
 * MADV_PAGEOUT and MADV_DONTNEED.
 */
#include <stdlib.h>
#include <string.h>

#include "costs.h"
#include "mm_inline.h"

const struct page page_none = {.head = -1, .slot = -1, .lru_pos = -1, .zs_pos = -1,
				 .shadow = -1};

/* thp_vma_allowable_orders(): the orders enabled for the page's VMA (every VMA
 * with 'always', MADV_HUGEPAGE ones with 'madvise'), below PMD order only (a
 * PMD THP is not modelled: 2M faults are not mTHP). */
unsigned thp_vma_allowable_orders(struct mm *mm, int64_t p)
{
	if (mm->cfg.thp_always || page_at(mm, p)->hugepage)
		return mm->cfg.orders & ((1u << HPAGE_PMD_ORDER) - 2);
	return 0;
}

/* thp_vma_suitable_order(): the aligned range of the order lies inside the VMA. */
static inline bool thp_vma_suitable_order(struct mm *mm, int64_t p, int order)
{
	int64_t nr = (int64_t)1 << order, r0 = p & ~(nr - 1);
	const struct page *page = page_at(mm, p);
	return r0 >= vma_start(page, p) && r0 + nr <= vma_end(page, p);
}

/* Map a new folio of the order at h (set_ptes + folio_add_new_anon_rmap) and put
 * it on the LRU. */
static inline void install_folio(struct mm *mm, int64_t h, int order, uint8_t flags)
{
	int64_t nr = (int64_t)1 << order, i;
	struct page *folio;
	for (i = 0; i < nr; i++) {
		struct page *page = page_at(mm, h + i);
		page->state = PAGE_MAPPED;
		page->head = (int32_t)h;
		page->pte_dirty = 0;
		page->tlb_order = (uint8_t)order;
	}
	folio = page_at(mm, h);
	folio->order = (int8_t)order;
	folio->flags = flags;
	lruvec_add_folio(mm, h);
}

/* pte_alloc(): the first fault in a 2 MiB block allocates the block's PTE table
 * (before the zero page or a folio is mapped), charged to the memcg and kept (a
 * replay never unmaps). Exact-LRU mode is a cache model: no page tables. */
static inline void pte_alloc(struct mm *mm, int64_t p)
{
	uint8_t *table = &mm->pte_tables[p >> HPAGE_PMD_ORDER];
	if (*table || mm->cfg.exact_lru)
		return;
	*table = 1;
	memcg_charge_pagetable(mm);
}

/* do_anonymous_page() + alloc_anon_folio(): the zero page on a first read, else
 * the highest enabled order whose aligned range is pte_none and inside the VMA;
 * a charge failure falls back to the next lower order. */
static void do_anonymous_page(struct mm *mm, int64_t p, bool write)
{
	unsigned orders;
	int order = HPAGE_PMD_ORDER, chosen = 0;
	int64_t nr, i;
	pte_alloc(mm, p);
	if (!write && !mm->cfg.first_read_allocates) {
		page_at(mm, p)->state = PAGE_ZEROPAGE;
		count_replay_stats(mm, ZERO_PAGE_MAPS, 1);
		return;
	}
	orders = thp_vma_allowable_orders(mm, p);
	for (; order > 0; order--) {
		if ((orders & (1u << order)) && thp_vma_suitable_order(mm, p, order)) {
			int64_t r0 = p & ~(((int64_t)1 << order) - 1), i;
			bool none = true;
			for (i = 0; i < ((int64_t)1 << order); i++) {
				const struct page *q = page_at(mm, r0 + i);
				if (!(q->state == PAGE_NONE || q->state == PAGE_FREED) || q->head >= 0) {
					none = false;
					break;
				}
			}
			if (none)
				break;
			orders &= ~(1u << order);
		}
	}
	/* allocation: the highest remaining order first, charge failures fall back */
	for (; order > 0; order--) {
		if (orders & (1u << order)) {
			if (try_charge_memcg(mm, (int64_t)1 << order, page_at(mm, p)->hugepage)) {
				chosen = order;
				break;
			}
			count_mthp_stat(mm, order, MTHP_STAT_ANON_FAULT_FALLBACK_CHARGE);
			count_mthp_stat(mm, order, MTHP_STAT_ANON_FAULT_FALLBACK);
		}
	}
	if (chosen == 0)
		try_charge_memcg(mm, 1, true);
	else
		count_mthp_stat(mm, chosen, MTHP_STAT_ANON_FAULT_ALLOC);
	nr = (int64_t)1 << chosen;
	for (i = 0; i < nr; i++)                   /* allocated zeroed */
		page_at(mm, (p & ~(nr - 1)) + i)->written = 0;
	install_folio(mm, p & ~(nr - 1), chosen, PG_dirty);
	page_at(mm, p)->young = 1;
}

/* do_wp_page() on the shared zero page: copy on write into an order-0 folio. */
static void do_wp_page(struct mm *mm, int64_t p)
{
	try_charge_memcg(mm, 1, true);
	page_at(mm, p)->written = 0;               /* a copy of the zero page */
	install_folio(mm, p, 0, PG_dirty);
	page_at(mm, p)->young = 1;
}

/* can_swapin_thp(): nr swap PTEs with contiguous, aligned slots of one device,
 * zeromap all or none, none in the swap cache (swap counts are 1: no fork). */
static bool can_swapin_thp(struct mm *mm, int64_t r0, int64_t nr)
{
	int64_t s0 = page_at(mm, r0)->slot, zero = 0, i;
	if (s0 < 0 || s0 % nr != 0)
		return false;
	for (i = 0; i < nr; i++) {
		const struct page *q = page_at(mm, r0 + i);
		if (!is_swapped(q->state) || q->slot != s0 + i)
			return false;
		if (q->state == PAGE_ZEROMAP)
			zero++;
	}
	return zero == 0 || zero == nr;
}

/* What the kernel knows at the fault, for the policy (replay/policies/base.py).
 * Returns the candidate orders. */
int64_t fill_view(struct mm *mm, int64_t p, bool write, int64_t *view)
{
	unsigned orders = thp_vma_allowable_orders(mm, p);
	int64_t mask = 0, young = -1, last;
	int k;
	memset(view, 0, VIEW_SIZE * sizeof(*view));
	for (k = 1; k < HPAGE_PMD_ORDER; k++) {
		if ((orders & (1u << k)) && thp_vma_suitable_order(mm, p, k)) {
			int64_t nr = (int64_t)1 << k, r0 = p & ~(nr - 1);
			if (can_swapin_thp(mm, r0, nr)) {
				int64_t z = 0, d = 0, zm = 0, i;
				mask |= (int64_t)1 << k;
				for (i = 0; i < nr; i++) {
					int s = page_at(mm, r0 + i)->state;
					if (s == PAGE_ZSWAP)
						z++;
					else if (s == PAGE_DEVICE)
						d++;
					else
						zm++;
				}
				view[V_ZSWAP + k] = z;
				view[V_DEVICE + k] = d;
				view[V_ZEROMAP + k] = zm;
			}
		}
	}
	view[V_CANDIDATES] = mask;
	view[V_BACKEND] = mm->cfg.backend_code;
	view[V_SYNC_IO] = (mm->cfg.swp_flags & SWP_SYNCHRONOUS_IO) ? 1 : 0;
	view[V_ZSWAP_EVER] = mm->cfg.zswap_ever_enabled;
	view[V_MARGIN] = mem_cgroup_margin(mm);
	view[V_WRITE] = write ? 1 : 0;
	view[V_HUGEPAGE] = page_at(mm, p)->hugepage;
	if (mm->cfg.view >= VIEW_ALL) {        /* else not read by the policy (VIEW "ranges") */
		int64_t r0 = p & ~(int64_t)15, block = p & ~(int64_t)(HPAGE_PMD_NR - 1), q;
		int64_t lo = max64(r0 - 16, block), hi = min64(r0 + 32, block + HPAGE_PMD_NR);
		young = 0;
		for (q = lo; q < hi; q++) {
			const struct page *page;
			if (q >= r0 && q < r0 + 16)
				continue;
			page = page_peek(mm, q);
			if (page->state == PAGE_MAPPED && page->young)
				young++;
		}
	}
	view[V_YOUNG_NEAR] = young;
	last = mm->last_fault_page;
	view[V_ADJACENT] = last >= 0 && llabs(p - last) <= 32 && p != last ? 1 : 0;
	return mask;
}

static inline int next_lower(int64_t mask, int order)
{
	int k;
	for (k = order - 1; k > 0; k--)
		if (mask & ((int64_t)1 << k))
			return k;
	return 0;
}

/* mem_cgroup_swap_full() -> vm_swap_full() on cgroup v1: more than half of swap in use. */
static inline bool swap_full(const struct mm *mm)
{
	return mm->cfg.swap_full_half && 2 * mm->si.inuse_pages > mm->si.nr_slots - 1;  /* the header is no slot */
}

/* The SWP_SYNCHRONOUS_IO path of do_swap_page() (and a large swap-in): read the
 * range into a new folio, bypassing the swap cache, and free its slots. The
 * folio was charged already. */
static void swapin_direct(struct mm *mm, int64_t p, int order)
{
	int64_t nr = (int64_t)1 << order, r0 = p & ~(nr - 1), zs = 0, dev = 0, i;
	int64_t shadow = page_at(mm, r0)->shadow;
	for (i = 0; i < nr; i++) {
		int64_t q = r0 + i;
		int where = swap_read_page(mm, q);
		acct_swap_read(mm, q, where, order);
		if (where == PAGE_ZSWAP) {
			zs++;
			/* the entry is gone; free_swap_slot_of() must not drop it again */
			page_at(mm, q)->state = PAGE_MAPPED;
		} else if (where == PAGE_DEVICE) {
			dev++;
		}
		free_swap_slot_of(mm, q);
		page_at(mm, q)->used = 1;
	}
	if (order > 0) {
		/* a zero-filled folio is read from the zeromap: swpin_zero only, as the
		 * kernel (and the patches) count it */
		if (zs || dev)
			count_mthp_stat(mm, order, MTHP_STAT_SWPIN);
		if (zs && dev)
			count_replay_stats(mm, LARGE_SWAPIN_HYBRID, 1);
	}
	if (dev)
		zswap_folio_swapin(mm);           /* read from the device: the shrinker backs off */
	count_replay_stats(mm, SWAPIN_PAGES, nr);
	install_folio(mm, r0, order, PG_dirty);
	lruvec_del_folio(mm, r0);
	workingset_refault(mm, r0, shadow, nr);
	lruvec_add_folio(mm, r0);
}

/* Map a swap cache folio (do_swap_page() after the lookup or the read). A large
 * one (kept in the swap cache when memory.zswap.writeback=0 refused it) is
 * mapped whole, as v6.18 does for a folio whose swap PTEs all point at it. */
static inline void map_swapcache_page(struct mm *mm, int64_t p, bool write)
{
	int64_t h = page_at(mm, p)->head, nr = folio_nr_pages(page_at(mm, h)), i;
	for (i = 0; i < nr; i++) {
		struct page *page = page_at(mm, h + i);
		if (page->state == PAGE_SWAPCACHE)
			page->state = PAGE_MAPPED;
	}
	if (write || swap_full(mm)) {
		/* should_try_to_free_swap() -> folio_free_swap(): the slots go, the folio
		 * is dirty */
		struct page *folio;
		for (i = 0; i < nr; i++)
			free_swap_slot_of(mm, h + i);
		folio = page_at(mm, h);
		folio->flags &= ~PG_swapcache;
		folio->flags |= PG_dirty;
	}
}

static inline void note_used(struct mm *mm, struct page *page)
{
	if (page->used == 1) {
		page->used = 2;
		count_replay_stats(mm, SWAPIN_USED, 1);
	}
}

/* do_swap_page(): a fault on a swap PTE (or on a page read ahead into the swap cache). */
static void do_swap_page(struct mm *mm, int64_t p, bool write)
{
	struct page *page = page_at(mm, p);
	int64_t mask = 0;
	int order;
	if (unlikely(mm->fault_log != NULL) &&
	    mm->fault_log_len + FAULT_LOG_FIELDS <= mm->fault_log_cap) {
		int64_t *e = mm->fault_log + mm->fault_log_len;
		e[0] = mm->fault_access;
		e[1] = p;
		e[2] = page->slot;
		e[3] = page->state == PAGE_SWAPCACHE;
		mm->fault_log_len += FAULT_LOG_FIELDS;
	}
	if (page->state == PAGE_SWAPCACHE) {
		/* swap_cache_get_folio() hit: a minor fault; swap_update_readahead() */
		if (page->flags & PG_readahead) {
			page->flags &= ~PG_readahead;
			mm->ra.hits++;
			count_vm_event(mm, SWAP_RA_HIT);
		}
		if (mm->cfg.swp_flags & SWP_SOLIDSTATE)
			mm->ra.prev_page = p;     /* VMA readahead: the hit is the last address */
		map_swapcache_page(mm, p, write);
		page->young = 1;
		note_used(mm, page);
		return;
	}
	count_vm_event(mm, PGMAJFAULT);
	/* no large order is allowed here, or the policy always says order 0 (VIEW
	 * "none"): order 0, and the policy is not asked */
	if (mm->cfg.view != VIEW_NONE && thp_vma_allowable_orders(mm, p))
		mask = fill_view(mm, p, write, mm->view);
	order = mask ? (int)mm->policy(mm->view) : 0;
	if (order < 0 || order >= HPAGE_PMD_ORDER || (order > 0 && !(mask & ((int64_t)1 << order))))
		order = 0;
	if (order > 0 && mm->cfg.charge_guard) {
		int64_t nr = (int64_t)1 << order;
		if (mm->view[V_MARGIN] < max64(64, nr)) {
			count_replay_stats(mm, CHARGE_GUARD_REFUSALS, 1);
			count_mthp_stat(mm, order, MTHP_STAT_SWPIN_FALLBACK);
			order = 0;
		}
	}
	mm->last_fault_page = p;
	/* alloc_swap_folio(): charge the chosen order, lower candidates on failure */
	while (order > 0) {
		if (try_charge_memcg(mm, (int64_t)1 << order, page_at(mm, p)->hugepage))
			break;
		count_mthp_stat(mm, order, MTHP_STAT_SWPIN_FALLBACK_CHARGE);
		count_mthp_stat(mm, order, MTHP_STAT_SWPIN_FALLBACK);
		order = next_lower(mask, order);
	}
	if (order > 0) {
		/* the charge may have reclaimed and written zswap entries back: check
		 * again, as the kernel must after swapcache_prepare() */
		int64_t again = fill_view(mm, p, write, mm->view);
		if (!(again & ((int64_t)1 << order)) || mm->policy(mm->view) < order) {
			count_replay_stats(mm, SWAPIN_RACE_FALLBACK, 1);
			page_counter_uncharge(mm, (int64_t)1 << order);
			order = 0;
		}
	}
	if (order > 0) {
		swapin_direct(mm, p, order);
	} else if (mm->cfg.swp_flags & SWP_SYNCHRONOUS_IO) {
		try_charge_memcg(mm, 1, true);
		swapin_direct(mm, p, 0);
	} else {
		swapin_readahead(mm, p);
		map_swapcache_page(mm, p, write);
	}
	page->young = 1;
	note_used(mm, page);
}

/* deferred_split_scan() for one partially unmapped folio: split it, freeing its
 * unmapped pages. Done before such a page faults again: one record per page
 * cannot hold both the old unmapped subpage and the new folio the kernel
 * allocates there. */
static void deferred_split_folio(struct mm *mm, int64_t h)
{
	int64_t nr = folio_nr_pages(page_at(mm, h)), i;
	lruvec_del_folio(mm, h);
	split_folio(mm, h);
	for (i = 0; i < nr; i++)
		if (page_at(mm, h + i)->head == h + i)
			lruvec_add_folio(mm, h + i);
}

/* handle_mm_fault(): the page is not mapped, or a write hits the zero page. */
void handle_mm_fault(struct mm *mm, int64_t p, bool write)
{
	struct page *page = page_at(mm, p);
	int s = page->state;
	count_vm_event(mm, PGFAULT);
	if (s == PAGE_NONE || s == PAGE_FREED) {
		if (page->head >= 0)
			deferred_split_folio(mm, page->head);
		do_anonymous_page(mm, p, write);
	} else if (s == PAGE_ZEROPAGE) {
		do_wp_page(mm, p);
	} else {
		do_swap_page(mm, p, write);
	}
}

/* MADV_PAGEOUT on the page: the folio mapping it is reclaimed whole (a recorder
 * emits one event per page of the advised range; the first one takes the folio). */
void madvise_pageout(struct mm *mm, int64_t p)
{
	const struct page *page = page_at(mm, p);
	if (page->state == PAGE_MAPPED || page->state == PAGE_SWAPCACHE)
		if (page->head >= 0)
			reclaim_pages(mm, page->head);
}

static void free_whole_folio(struct mm *mm, int64_t h)
{
	int64_t nr = folio_nr_pages(page_at(mm, h)), i;
	struct page *folio;
	lruvec_del_folio(mm, h);
	for (i = 0; i < nr; i++) {
		int64_t q = h + i;
		struct page *page = page_at(mm, q);
		if (page->slot >= 0)
			free_swap_slot_of(mm, q);
		page->head = -1;
		page->young = 0;
		page->used = 0;
		page->pte_dirty = 0;
		page->tlb_order = 0;
		if (page->state == PAGE_MAPPED || page->state == PAGE_SWAPCACHE)
			page->state = PAGE_FREED;
	}
	folio = page_at(mm, h);
	folio->flags = 0;
	folio->order = 0;
	page_counter_uncharge(mm, nr);
}

/* MADV_DONTNEED / munmap of one page (zap_pte_range()): the PTE goes; a swap
 * entry frees its slot; a large folio partly unmapped goes on the deferred split
 * queue. */
void zap_page(struct mm *mm, int64_t p)
{
	struct page *page = page_at(mm, p);
	int s = page->state;
	if (s == PAGE_MAPPED) {
		int64_t h = page->head, mapped = 0, i;
		struct page *folio = page_at(mm, h);
		int order = folio->order;
		page->state = PAGE_FREED;
		page->young = 0;
		if (order == 0) {
			free_whole_folio(mm, h);
			return;
		}
		for (i = 0; i < ((int64_t)1 << order); i++)
			if (page_at(mm, h + i)->state == PAGE_MAPPED)
				mapped++;
		if (mapped == 0) {
			free_whole_folio(mm, h);
		} else if (!(folio->flags & PG_partially_mapped)) {
			folio->flags |= PG_partially_mapped;
			folio_set_tlb_order(mm, h, (int64_t)1 << order, 0);
			count_mthp_stat(mm, order, MTHP_STAT_SPLIT_DEFERRED);
		}
	} else if (s == PAGE_SWAPCACHE) {
		int64_t h = page->head;
		if (page_at(mm, h)->order > 0)
			/* a large swap cache folio (kept by memory.zswap.writeback=0): split so
			 * that the zapped page goes alone and the others stay cached (the
			 * kernel frees the one swap entry without splitting; split_page counts
			 * the difference) */
			deferred_split_folio(mm, h);
		free_whole_folio(mm, page->head);
	} else if (s == PAGE_ZSWAP || s == PAGE_DEVICE || s == PAGE_ZEROMAP) {
		free_swap_slot_of(mm, p);
		page->state = PAGE_FREED;
		page->used = 0;
	} else if (s == PAGE_ZEROPAGE) {
		page->state = PAGE_FREED;
	}
}
