/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The LRU lists as logs (struct lru_log in mm.h): the anon LRU lists of the
 * lruvec (folios, the newest added last) and the zswap LRU (entries by page).
 *
 * Adding appends the page and gives it its position (page->lru_pos for the
 * anon lists, page->zs_pos for zswap); deleting overwrites its entry with a
 * tombstone (LOG_DELETED), so a walk from the oldest end skips deleted entries
 * without reading their pages. When the ring fills, the live entries are moved
 * up together (or the ring grows), in order, and get new positions.
 */
#ifndef REPLAY_LRU_LOG_H
#define REPLAY_LRU_LOG_H

#include "mm.h"

enum lru_log_kind { LOG_INACTIVE = LRU_INACTIVE_ANON, LOG_ACTIVE = LRU_ACTIVE_ANON, LOG_ZSWAP };

#define LOG_DELETED (-1)
#define LOG_SCOUT_SPAN 1024       /* how far ahead of the oldest entry records are prefetched */

int lru_log_init(struct lru_log *log, int64_t capacity);
void lru_log_free(struct lru_log *log);
void lru_log_make_room(struct mm *mm, struct lru_log *log, int kind);

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

/* Delete the entry at pos. */
static inline void lru_log_del(struct lru_log *log, int64_t pos)
{
	log->ring[pos & log->mask] = LOG_DELETED;
	log->nr_live--;
}

/* Prefetch the records of the next live entries past the scout (two at a time,
 * at most LOG_SCOUT_SPAN positions ahead of the oldest): a walk from the oldest
 * end then finds them in cache, however many deleted entries lie between. */
static inline void lru_log_scout(struct mm *mm, struct lru_log *log)
{
	int found = 0;
	if (log->scout < log->first)
		log->scout = log->first;
	while (found < 2 && log->scout < log->next && log->scout - log->first < LOG_SCOUT_SPAN) {
		int64_t h = log->ring[log->scout & log->mask];
		log->scout++;
		if (h != LOG_DELETED) {
			__builtin_prefetch(&mm->pages[page_index(mm, h)], 1);
			found++;
		}
	}
}

/* The oldest live entry, or -1 when there is none (deleted entries before it go). */
static inline int64_t lru_log_oldest(struct mm *mm, struct lru_log *log)
{
	while (log->first < log->next) {
		int64_t h = log->ring[log->first & log->mask];
		if (h != LOG_DELETED) {
			lru_log_scout(mm, log);
			return h;
		}
		log->first++;
	}
	return -1;
}

#endif
