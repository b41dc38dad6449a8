/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * LRU list operations (include/linux/mm_inline.h): folios by head page, on the
 * memcg's two anon lists (inactive, active). A list's newest folio is the one
 * added last; reclaim takes folios from the oldest end (the list's tail). The
 * lists are logs (lru_log.h), with the list_head's order.
 */
#ifndef REPLAY_MM_INLINE_H
#define REPLAY_MM_INLINE_H

#include "lru_log.h"
#include "mm.h"

static inline enum lru_list folio_lru_list(const struct page *folio)
{
	return (folio->flags & PG_active) ? LRU_ACTIVE_ANON : LRU_INACTIVE_ANON;
}

static inline void lruvec_update_size(struct mm *mm, const struct page *folio, int64_t nr)
{
	if (folio->flags & PG_active)
		mm->lruvec.nr_active += nr;
	else
		mm->lruvec.nr_inactive += nr;
}

/* lruvec_add_folio(): put the folio at the head of its list (active or inactive). */
static inline void lruvec_add_folio(struct mm *mm, int64_t h)
{
	struct page *folio = page_at(mm, h);
	enum lru_list lru = folio_lru_list(folio);
	folio->flags |= PG_lru;
	folio->lru_pos = lru_log_add(mm, &mm->lruvec.lists[lru], lru, h);
	lruvec_update_size(mm, folio, folio_nr_pages(folio));
}

/* lruvec_del_folio(): take the folio off its list. */
static inline void lruvec_del_folio(struct mm *mm, int64_t h)
{
	struct page *folio = page_at(mm, h);
	if (!(folio->flags & PG_lru))
		return;
	folio->flags &= ~PG_lru;
	lru_log_del(&mm->lruvec.lists[folio_lru_list(folio)], folio->lru_pos);
	folio->lru_pos = -1;
	lruvec_update_size(mm, folio, -folio_nr_pages(folio));
}

/* folio_test_dirty(), with the dirty bits of the folio's PTEs folded in (as
 * try_to_unmap() moves them to the folio): a write hit marks only its PTE. */
static inline bool folio_test_dirty(struct mm *mm, int64_t h)
{
	const struct page *folio = page_at(mm, h);
	int64_t nr = folio_nr_pages(folio), i;
	if (folio->flags & PG_dirty)
		return true;
	for (i = 0; i < nr; i++)
		if (page_at(mm, h + i)->pte_dirty)
			return true;
	return false;
}

/* Set the translation order of the folio's pages (tlb_order). */
static inline void folio_set_tlb_order(struct mm *mm, int64_t h, int64_t nr, int order)
{
	int64_t i;
	for (i = 0; i < nr; i++)
		page_at(mm, h + i)->tlb_order = (uint8_t)order;
}

/* The folio at the tail of a list (its oldest), or -1 when it is empty. */
static inline int64_t lru_tail(struct mm *mm, bool active)
{
	enum lru_list lru = active ? LRU_ACTIVE_ANON : LRU_INACTIVE_ANON;
	return lru_log_oldest(mm, &mm->lruvec.lists[lru]);
}

#endif
