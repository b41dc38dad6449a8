/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The LRU lists as logs (struct lru_log in mm.h): the anon LRU lists of the
 * lruvec (folios, the newest added last) and the zswap LRU (entries by page).
 *
 * An entry at position pos naming page h is live when h still has that
 * position (page->lru_pos for the anon lists, with PG_lru and the list's
 * PG_active state; page->zs_pos for zswap). Adding appends; deleting forgets
 * the position; the oldest live entry is found by skipping stale ones. When the
 * ring fills, the live entries are moved up together (or the ring grows), in
 * order, and get new positions.
 */
#ifndef REPLAY_LRU_LOG_H
#define REPLAY_LRU_LOG_H

#include "mm.h"

enum lru_log_kind { LOG_INACTIVE = LRU_INACTIVE_ANON, LOG_ACTIVE = LRU_ACTIVE_ANON, LOG_ZSWAP };

#define LOG_PREFETCH 8            /* entries ahead whose records are prefetched */

int lru_log_init(struct lru_log *log, int64_t capacity);
void lru_log_free(struct lru_log *log);
void lru_log_make_room(struct mm *mm, struct lru_log *log, int kind);

static inline bool lru_log_live(const struct mm *mm, int kind, int64_t h, int64_t pos)
{
	const struct page *page = &mm->pages[page_index(mm, h)];
	if (kind == LOG_ZSWAP)
		return page->zs_pos == pos;
	return page->lru_pos == pos &&
		(page->flags & (PG_lru | PG_active)) == (kind == LOG_ACTIVE ? PG_lru | PG_active : PG_lru);
}

/* Append page h as the newest entry; returns its position. */
static inline int64_t lru_log_add(struct mm *mm, struct lru_log *log, int kind, int64_t h)
{
	int64_t pos;
	if (unlikely(log->next - log->first > log->mask))
		lru_log_make_room(mm, log, kind);
	pos = log->next++;
	log->ring[pos & log->mask] = (int32_t)h;
	log->nr_live++;
	return pos;
}

/* The oldest live entry, or -1 when there is none (stale entries before it go). */
static inline int64_t lru_log_oldest(struct mm *mm, struct lru_log *log, int kind)
{
	while (log->first < log->next) {
		int64_t h = log->ring[log->first & log->mask];
		if (log->first + LOG_PREFETCH < log->next)
			__builtin_prefetch(&mm->pages[page_index(mm,
				log->ring[(log->first + LOG_PREFETCH) & log->mask])], 0);
		if (lru_log_live(mm, kind, h, log->first))
			return h;
		log->first++;
	}
	return -1;
}

#endif
