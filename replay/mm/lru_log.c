// SPDX-License-Identifier: GPL-2.0-only
/*
 * Room in an LRU log (lru_log.h): when its ring is full, drop the stale entries
 * (moving the live ones together, in order, with new positions) or, when at
 * least half of the entries are live, grow the ring.
 */
#include <stdlib.h>

#include "lru_log.h"

int lru_log_init(struct lru_log *log, int64_t capacity)
{
	int64_t cap = 64;
	while (cap < capacity)
		cap <<= 1;
	log->ring = malloc((size_t)cap * sizeof(int32_t));
	log->first = log->next = 0;
	log->mask = cap - 1;
	log->nr_live = 0;
	return log->ring ? 0 : -1;
}

void lru_log_free(struct lru_log *log)
{
	free(log->ring);
	log->ring = NULL;
}

static inline void set_pos(struct mm *mm, int kind, int64_t h, int64_t pos)
{
	struct page *page = page_at(mm, h);
	if (kind == LOG_ZSWAP)
		page->zs_pos = pos;
	else
		page->lru_pos = pos;
}

void lru_log_make_room(struct mm *mm, struct lru_log *log, int kind)
{
	int64_t cap = log->mask + 1, pos, out = log->first;
	int32_t *ring = log->ring;
	if (2 * log->nr_live >= cap) {
		/* grow: the same positions in a ring twice as large */
		int32_t *bigger = malloc((size_t)(2 * cap) * sizeof(int32_t));
		if (!bigger)
			abort();
		for (pos = log->first; pos < log->next; pos++)
			bigger[pos & (2 * cap - 1)] = ring[pos & log->mask];
		free(ring);
		log->ring = bigger;
		log->mask = 2 * cap - 1;
		return;
	}
	/* keep the live entries, in order, at positions from first on */
	for (pos = log->first; pos < log->next; pos++) {
		int64_t h = ring[pos & log->mask];
		if (pos + LOG_PREFETCH < log->next)
			__builtin_prefetch(&mm->pages[page_index(mm,
				ring[(pos + LOG_PREFETCH) & log->mask])], 1);
		if (!lru_log_live(mm, kind, h, pos))
			continue;
		ring[out & log->mask] = (int32_t)h;
		set_pos(mm, kind, h, out);
		out++;
	}
	log->next = out;
}
