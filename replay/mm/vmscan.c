// SPDX-License-Identifier: GPL-2.0-only
/*
 * Reclaim (mm/vmscan.c): the classic active/inactive anon LRU at folio
 * granularity.
 *
 * Modelled: folio_check_references() (a young PTE keeps a folio, referenced
 * again at the next look it is activated; references count per mapping, not
 * per PTE), shrink_active_list() deactivation (setting PG_workingset),
 * shrink_inactive_list() in SWAP_CLUSTER_MAX batches, shrink_folio_list()
 * swap-out of whole folios with a split on slot-allocation failure, partially
 * mapped folios split before swap-out, shadow entries (workingset_eviction),
 * refault-driven deactivation (snapshot_refaults). Left out: the priority
 * loop's proportional scan sizes (batches of 32 pages are scanned until the
 * target is met), writeback completion (I/O is taken as finished at once),
 * file pages (the modelled memcg has none), MGLRU.
 */
#include <math.h>

#include "costs.h"
#include "mm_inline.h"

#define DEF_PRIORITY 12

enum folio_references { FOLIOREF_RECLAIM, FOLIOREF_KEEP, FOLIOREF_ACTIVATE };

/* folio_referenced(): clear the young PTEs mapping the folio; the number of
 * mappings that had one (1 here: one address space, no fork), not of PTEs. */
static inline int folio_referenced(struct mm *mm, int64_t h)
{
	int64_t nr = folio_nr_pages(page_at(mm, h)), i;
	int young = 0;
	for (i = 0; i < nr; i++) {
		struct page *page = page_at(mm, h + i);
		if (page->young) {
			page->young = 0;
			if (page->state == PAGE_MAPPED)
				young = 1;
		}
	}
	return young;
}

/* folio_check_references() for an anon folio: referenced by one mapping, it is
 * kept (PG_referenced set) and activated when still referenced at the next look. */
static inline enum folio_references folio_check_references(struct mm *mm, int64_t h)
{
	int refs = folio_referenced(mm, h);
	struct page *folio = page_at(mm, h);
	int was_referenced = folio->flags & PG_referenced;
	folio->flags &= ~PG_referenced;
	if (refs) {
		folio->flags |= PG_referenced;
		if (was_referenced || refs > 1)
			return FOLIOREF_ACTIVATE;
		return FOLIOREF_KEEP;
	}
	return FOLIOREF_RECLAIM;
}

/* split_folio(): order-0 folios in place; unmapped (freed) subpages are freed.
 * As __folio_split() remaps an anon folio with RMP_USE_SHARED_ZEROPAGE
 * (try_to_map_unused_to_zeropage() in mm/migrate.c), a mapped subpage that is
 * zero filled is mapped to the shared zero page instead, and its page freed. The
 * folio must be off the LRU; returns the number of pages freed. */
int64_t split_folio(struct mm *mm, int64_t h)
{
	struct page *folio = page_at(mm, h);
	int order = folio->order;
	int64_t nr = (int64_t)1 << order, freed = 0, i;
	uint8_t flags = folio->flags & (PG_active | PG_referenced | PG_dirty | PG_workingset
					| PG_swapcache | PG_readahead);
	if (folio_test_dirty(mm, h))           /* a dirty PTE dirties every new folio */
		flags |= PG_dirty;
	tlb_unmap(mm, h, nr);                      /* remapped as order-0 folios */
	count_mthp_stat(mm, order, MTHP_STAT_SPLIT);
	if (order == HPAGE_PMD_ORDER)
		count_vm_event(mm, THP_SPLIT_PAGE);
	for (i = 0; i < nr; i++) {
		int64_t p = h + i;
		struct page *page = page_at(mm, p);
		page->order = 0;
		page->tlb_order = 0;
		if (page->state == PAGE_FREED) {
			if (page->slot >= 0)
				/* a zapped page of a folio in the swap cache: its entry went too */
				free_swap_slot_of(mm, p);
			page->head = -1;
			page->flags = 0;
			page->pte_dirty = 0;
			freed++;
		} else if (page->state == PAGE_MAPPED && page_zero_filled(page) && page->slot < 0) {
			page->state = PAGE_ZEROPAGE;     /* the PTE maps the shared zero page */
			page->head = -1;
			page->flags = 0;
			page->pte_dirty = 0;
			page->young = 0;
			page->used = 0;
			freed++;
		} else {
			page->head = (int32_t)p;
			page->flags = flags;
		}
	}
	if (freed)
		page_counter_uncharge(mm, freed);
	return freed;
}

static inline void free_folio(struct mm *mm, int64_t h, int64_t nr)
{
	struct page *folio;
	int64_t i;
	for (i = 0; i < nr; i++) {
		struct page *page = page_at(mm, h + i);
		page->head = -1;
		page->young = 0;
		page->pte_dirty = 0;
		page->tlb_order = 0;
		if (page->used == 1)
			count_replay_stats(mm, SWAPIN_UNUSED_RECLAIMED, 1);
		page->used = 0;
	}
	folio = page_at(mm, h);
	folio->flags = 0;
	folio->order = 0;
	page_counter_uncharge(mm, nr);
}

/* A folio swapped in (read into the swap cache) and not mapped since: the
 * kernel's swap cache folio whose ->mapping no fault has set (folio_test_anon()
 * is false until folio_add_anon_rmap_ptes() or folio_add_new_anon_rmap()). */
static inline bool folio_never_mapped(const struct page *folio)
{
	return folio->order == 0 && folio->state == PAGE_SWAPCACHE && folio->used == 1;
}

/*
 * add_to_swap() + try_to_unmap() + pageout() + __remove_mapping() for an
 * isolated folio. Returns the pages reclaimed, or -1 when a large folio found
 * no aligned slot run (the caller splits it). An order-0 folio with no free
 * slot is activated.
 */
static int64_t swap_out_folio(struct mm *mm, int64_t h)
{
	struct page *folio = page_at(mm, h);
	int order = folio->order;
	int64_t nr = (int64_t)1 << order, shadow, i;
	if (!(folio->flags & PG_swapcache)) {
		int64_t s = folio_alloc_swap(mm, order, h);
		if (s < 0) {
			if (order > 0)
				return -1;
			folio->flags |= PG_active;            /* swap full: activate_locked */
			lruvec_add_folio(mm, h);
			mm->lruvec.nonresident_age += nr;     /* move_folios_to_lru() ages the lruvec */
			return 0;
		}
		for (i = 0; i < nr; i++)
			page_at(mm, h + i)->slot = (int32_t)(s + i);
		folio->flags |= PG_swapcache | PG_dirty;  /* add_to_swap() dirties the folio */
		acct_add_to_swap(mm);
	}
	if (folio_test_dirty(mm, h)) {
		if (folio_never_mapped(folio)) {
			/* pageout(): "if (!shmem_mapping(mapping) && !folio_test_anon(folio))
			 * return PAGE_ACTIVATE". A folio read into the swap cache and never
			 * mapped since (readahead not yet hit) has no anon mapping yet, and
			 * one loaded from zswap is dirty (zswap_load() dropped its entry):
			 * activate_locked, every time reclaim finds it, until a fault maps it */
			folio->flags |= PG_active;
			count_vm_events(mm, PGACTIVATE, nr);
			count_replay_stats(mm, READAHEAD_ACTIVATED, nr);
			lruvec_add_folio(mm, h);
			mm->lruvec.nonresident_age += nr;     /* move_folios_to_lru() */
			return 0;
		}
		if (!swap_writeout(mm, h, order)) {
			/* pageout() -> AOP_WRITEPAGE_ACTIVATE (memory.zswap.writeback=0 and
			 * zswap refused it): try_to_unmap() already ran, so the folio stays in
			 * the swap cache, unmapped and dirty, and activate_locked puts it on
			 * the active list */
			acct_unmap_folio(mm, h, nr);
			for (i = 0; i < nr; i++) {
				struct page *page = page_at(mm, h + i);
				if (page->state == PAGE_MAPPED)
					page->state = PAGE_SWAPCACHE;
				page->backing = 0;
			}
			folio->flags |= PG_active;
			count_vm_events(mm, PGACTIVATE, nr);
			lruvec_add_folio(mm, h);
			mm->lruvec.nonresident_age += nr;
			return 0;
		}
	} else {
		for (i = 0; i < nr; i++) {                /* clean swap cache folio: no I/O */
			struct page *page = page_at(mm, h + i);
			page->state = page->backing ? page->backing : PAGE_DEVICE;
		}
	}
	acct_unmap_folio(mm, h, nr);
	shadow = workingset_eviction(mm, h, nr);
	for (i = 0; i < nr; i++) {
		struct page *page = page_at(mm, h + i);
		page->shadow = shadow;
		page->backing = 0;
	}
	free_folio(mm, h, nr);
	return nr;
}

/* One subpage of a split folio in shrink_folio_list(). A page the split mapped to
 * the zero page was freed by the split: no slot, no pageout() (no swpout_zero),
 * not counted as reclaimed (the live kernel's swpout_zero and pgsteal on a
 * swapfile count none of them: docs/validation.md). */
static int64_t swap_out_subpage(struct mm *mm, int64_t p)
{
	struct page *page = page_at(mm, p);
	if (page->head == p) {
		int64_t r = swap_out_folio(mm, p);
		return r > 0 ? r : 0;
	}
	return 0;
}

/* One subpage of a folio split on the reclaim list (swap_out_split()). */
static int64_t swap_out_split_page(struct mm *mm, int64_t p)
{
	if (page_at(mm, p)->state == PAGE_ZEROPAGE) {
		/* mapped to the zero page by the split, the subpage is still on the list:
		 * folio_alloc_swap() gives it a slot, and swap_writeout() frees the slot at
		 * once (folio_free_swap(): no PTE holds the entry), with no I/O and no
		 * swpout_zero. The allocator has moved past the slot all the same: the live
		 * kernel's next subpage takes the offset after it. */
		int64_t s = folio_alloc_swap(mm, 0, p);
		if (s >= 0)
			swap_free_slot(mm, s);
		return 0;
	}
	return swap_out_subpage(mm, p);
}

/* The subpages of a folio split on the reclaim list: the head takes its slot at
 * once (folio_alloc_swap() again after the split), then the others go from the
 * last to the second (lru_add_split_folio() puts each tail right after the head
 * on the private list, so the list holds them in reverse). The live kernel's
 * slots say so (validate --fault-log, a sequential trace over a swapfile):
 * subpages 0, 1, 2 ... 15 of a 64K folio at offsets 1, 16, 15 ... 2. Returns the
 * pages reclaimed (not those the split freed: zapped, or mapped to the zero
 * page). */
static int64_t swap_out_split(struct mm *mm, int64_t h, int64_t nr)
{
	int64_t got = swap_out_split_page(mm, h), i;
	for (i = nr - 1; i > 0; i--)
		got += swap_out_split_page(mm, h + i);
	return got;
}

/*
 * shrink_folio_list() for one isolated folio; returns the pages reclaimed.
 * Kept or activated folios go back on their list. A partially mapped large
 * folio is split first (its unmapped pages freed without I/O); a large folio
 * with no aligned slot run is split (swpout_fallback) and its pages swapped out
 * one by one.
 */
static int64_t shrink_folio(struct mm *mm, int64_t h, bool ignore_references)
{
	struct page *folio = page_at(mm, h);
	int order = folio->order;
	int64_t nr = (int64_t)1 << order, got;
	if (!ignore_references) {
		enum folio_references ref = folio_check_references(mm, h);
		if (ref == FOLIOREF_ACTIVATE) {
			folio->flags |= PG_active;
			count_vm_events(mm, PGACTIVATE, nr);
			lruvec_add_folio(mm, h);
			mm->lruvec.nonresident_age += nr;   /* workingset_age_nonresident() */
			return 0;
		}
		if (ref == FOLIOREF_KEEP) {
			lruvec_add_folio(mm, h);
			return 0;
		}
	}
	if (order > 0 && (folio->flags & PG_partially_mapped)) {
		split_folio(mm, h);
		return swap_out_split(mm, h, nr);
	}
	got = swap_out_folio(mm, h);
	if (got >= 0)
		return got;
	count_mthp_stat(mm, order, MTHP_STAT_SWPOUT_FALLBACK);
	if (order == HPAGE_PMD_ORDER)
		count_vm_event(mm, THP_SWPOUT_FALLBACK);
	/* __folio_split() unmaps the folio PTE by PTE (migration entries): once partly
	 * unmapped it is queued for deferred split, which counts (the live kernel's
	 * split_deferred equals its split on a swapfile) */
	count_mthp_stat(mm, order, MTHP_STAT_SPLIT_DEFERRED);
	if (order == HPAGE_PMD_ORDER)
		count_vm_event(mm, THP_DEFERRED_SPLIT_PAGE);
	split_folio(mm, h);
	return swap_out_split(mm, h, nr);
}

/* shrink_inactive_list(): isolate up to nr_to_scan pages (at most
 * SWAP_CLUSTER_MAX) from the tail and reclaim them, in the order they were
 * taken (the kernel's private folio_list). */
static int64_t shrink_inactive_list(struct mm *mm, int64_t nr_to_scan)
{
	int64_t isolated[SWAP_CLUSTER_MAX], k = 0, scanned = 0, reclaimed = 0, i;
	while (scanned < nr_to_scan && k < nr_to_scan) {
		int64_t h = lru_tail(mm, false);
		if (h < 0)
			break;
		lruvec_del_folio(mm, h);
		isolated[k++] = h;
		scanned += folio_nr_pages(page_at(mm, h));
	}
	acct_reclaim_scan(mm, k);
	count_vm_events(mm, PGSCAN, scanned);
	for (i = 0; i < k; i++)
		reclaimed += shrink_folio(mm, isolated[i], false);
	count_vm_events(mm, PGSTEAL, reclaimed);
	return reclaimed;
}

/* shrink_active_list(): deactivate folios from the active tail (young bits cleared). */
static void shrink_active_list(struct mm *mm, int64_t nr_to_scan)
{
	int64_t scanned = 0;
	while (scanned < nr_to_scan) {
		int64_t h = lru_tail(mm, true), nr;
		struct page *folio;
		if (h < 0)
			break;
		lruvec_del_folio(mm, h);
		acct_reclaim_scan(mm, 1);
		folio_referenced(mm, h);
		folio = page_at(mm, h);
		folio->flags &= ~PG_active;
		folio->flags |= PG_workingset;
		lruvec_add_folio(mm, h);
		nr = folio_nr_pages(folio);
		count_vm_events(mm, PGDEACTIVATE, nr);
		scanned += nr;
	}
}

/* inactive_is_low() for anon: inactive * ratio < active, ratio = sqrt(10 * GiB) or 1. */
static bool inactive_is_low(const struct mm *mm)
{
	int64_t inactive = mm->lruvec.nr_inactive, active = mm->lruvec.nr_active;
	int64_t gb = (inactive + active) >> 18;
	int64_t ratio = gb ? (int64_t)sqrt(10.0 * (double)gb) : 1;
	return inactive * ratio < active;
}

/*
 * try_to_free_mem_cgroup_pages() -> shrink_lruvec(): reclaim at least
 * max(nr_pages, SWAP_CLUSTER_MAX), raising the priority from DEF_PRIORITY.
 *
 * At each priority both anon lists are scanned by size >> priority in batches
 * of SWAP_CLUSTER_MAX, inactive first; the active list is deactivated only when
 * refault activations happened since the last reclaim or the inactive list is
 * low (sc->may_deactivate), and once more after each pass when the inactive
 * list is low. When nothing could be reclaimed because deactivation was
 * skipped, the loop runs again with force_deactivate. After the lists, each
 * priority runs the zswap shrinker (shrink_slab(), a no-op unless enabled).
 * Left out: the swappiness/cost fraction of get_scan_count() (no file pages
 * here, both lists are anon), memory.low protection.
 */
int64_t try_to_free_mem_cgroup_pages(struct mm *mm, int64_t nr_pages)
{
	int64_t target = max64(nr_pages, SWAP_CLUSTER_MAX), reclaimed = 0;
	bool may_deactivate;
	int attempt;
	count_replay_stats(mm, RECLAIM_ROUNDS, 1);
	if (mm->si.inuse_pages >= mm->si.nr_slots - 1)   /* every slot but the header's taken */
		return 0;       /* get_scan_count(): no free swap slot, !can_reclaim_anon_pages() */
	may_deactivate = (int64_t)mm->vm_events[WORKINGSET_ACTIVATE_ANON]
		!= mm->lruvec.refaults_snapshot || inactive_is_low(mm);
	for (attempt = 0; attempt < 2; attempt++) {
		bool skipped_deactivate = false;
		int priority;
		for (priority = DEF_PRIORITY; priority >= 0; priority--) {
			int64_t nr_inactive = mm->lruvec.nr_inactive >> priority;
			int64_t nr_active = mm->lruvec.nr_active >> priority;
			while (nr_inactive > 0 || nr_active > 0) {
				if (nr_inactive > 0) {
					int64_t n = min64(nr_inactive, SWAP_CLUSTER_MAX);
					nr_inactive -= n;
					reclaimed += shrink_inactive_list(mm, n);
				}
				if (nr_active > 0) {
					int64_t n = min64(nr_active, SWAP_CLUSTER_MAX);
					nr_active -= n;
					if (may_deactivate)
						shrink_active_list(mm, n);
					else
						skipped_deactivate = true;
				}
				if (reclaimed >= target)
					break;
			}
			if (inactive_is_low(mm))
				shrink_active_list(mm, SWAP_CLUSTER_MAX);
			shrink_slab(mm, priority);     /* shrink_node_memcgs(): after the lruvec */
			if (reclaimed >= target)
				break;
		}
		if (reclaimed >= target || !skipped_deactivate)
			break;
		may_deactivate = true;             /* sc->force_deactivate */
	}
	mm->lruvec.refaults_snapshot = mm->vm_events[WORKINGSET_ACTIVATE_ANON]; /* snapshot_refaults() */
	return reclaimed;
}

/* Cache-simulator reclaim (--reclaim exact-lru): evict least recently used
 * folios, one at a time, with no second chance. Not the kernel's; for
 * cross-checks. */
int64_t exact_lru_evict(struct mm *mm, int64_t nr_pages)
{
	int64_t reclaimed = 0;
	while (reclaimed < nr_pages) {
		int64_t h = lru_tail(mm, false), got;
		if (h < 0)
			break;
		lruvec_del_folio(mm, h);
		acct_reclaim_scan(mm, 1);
		got = shrink_folio(mm, h, true);
		count_vm_events(mm, PGSCAN, got == 0 ? folio_nr_pages(page_at(mm, h)) : got);
		count_vm_events(mm, PGSTEAL, got);
		reclaimed += got;
		if (got == 0)
			break;
	}
	return reclaimed;
}

/* reclaim_pages() for MADV_PAGEOUT: reclaim the folio ignoring references. */
int64_t reclaim_pages(struct mm *mm, int64_t h)
{
	if (!(page_at(mm, h)->flags & PG_lru))
		return 0;
	lruvec_del_folio(mm, h);
	acct_reclaim_scan(mm, 1);
	return shrink_folio(mm, h, true);
}
