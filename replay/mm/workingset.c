// SPDX-License-Identifier: GPL-2.0-only
/*
 * Workingset detection for anon folios (mm/workingset.c), classic LRU (no MGLRU).
 */
#include "mm.h"

/*
 * workingset_eviction(): age the lruvec by nr and return the shadow (age,
 * workingset bit). Leaves out: bucket_order (0 on 64-bit with this much RAM)
 * and the memcg id in the shadow.
 */
int64_t workingset_eviction(struct mm *mm, int64_t h, int64_t nr)
{
	mm->lruvec.nonresident_age += nr;
	return (mm->lruvec.nonresident_age << 1) | ((page_at(mm, h)->flags & PG_workingset) ? 1 : 0);
}

/*
 * workingset_refault() + workingset_test_recent() for an anon folio being swapped
 * in. An anon refault is activated when its refault distance is at most
 * active_file + inactive_file + active_anon (no file pages in the modelled memcg,
 * swap always available). LRU sizes are exact (the kernel reads flushed memcg
 * statistics).
 */
void workingset_refault(struct mm *mm, int64_t h, int64_t shadow, int64_t nr)
{
	struct page *folio;
	int64_t eviction, distance;
	if (shadow < 0)
		return;
	count_vm_events(mm, WORKINGSET_REFAULT_ANON, nr);
	if (mm->cfg.exact_lru)
		return;               /* one list, no activation, in the cache-simulator mode */
	eviction = shadow >> 1;
	distance = mm->lruvec.nonresident_age - eviction;
	if (distance > mm->lruvec.nr_active)
		return;
	folio = page_at(mm, h);
	folio->flags |= PG_active;
	mm->lruvec.nonresident_age += nr;
	count_vm_events(mm, WORKINGSET_ACTIVATE_ANON, nr);
	if (shadow & 1) {
		folio->flags |= PG_workingset;
		count_vm_events(mm, WORKINGSET_RESTORE_ANON, nr);
	}
}
