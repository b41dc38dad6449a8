/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * LRU list operations (include/linux/mm_inline.h): folios by head page, on the
 * memcg's two anon lists (inactive, active), doubly linked through the head
 * pages' lru_prev/lru_next. The list's first entry (the sentinel's next) is
 * the most recently added folio; reclaim takes folios from the tail.
 */
#ifndef REPLAY_MM_INLINE_H
#define REPLAY_MM_INLINE_H

#include "mm.h"

static inline int64_t folio_lru_list(const struct mm *mm, const struct page *folio)
{
	return (folio->flags & PG_active) ? LRU_ACTIVE(mm) : LRU_INACTIVE(mm);
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
	int64_t list = folio_lru_list(mm, folio);
	struct page *sentinel = page_at(mm, list);
	int64_t next = sentinel->lru_next;
	sentinel->lru_next = (int32_t)h;
	folio->lru_prev = (int32_t)list;
	folio->lru_next = (int32_t)next;
	page_at(mm, next)->lru_prev = (int32_t)h;
	folio->flags |= PG_lru;
	lruvec_update_size(mm, folio, folio_nr_pages(folio));
}

/* lruvec_del_folio(): take the folio off its list. */
static inline void lruvec_del_folio(struct mm *mm, int64_t h)
{
	struct page *folio = page_at(mm, h);
	if (!(folio->flags & PG_lru))
		return;
	page_at(mm, folio->lru_prev)->lru_next = folio->lru_next;
	page_at(mm, folio->lru_next)->lru_prev = folio->lru_prev;
	folio->flags &= ~PG_lru;
	lruvec_update_size(mm, folio, -folio_nr_pages(folio));
}

/* The folio at the tail of a list, or -1 when it is empty. */
static inline int64_t lru_tail(struct mm *mm, bool active)
{
	int64_t list = active ? LRU_ACTIVE(mm) : LRU_INACTIVE(mm);
	int64_t t = page_at(mm, list)->lru_prev;
	return t == list ? -1 : t;
}

#endif
