// SPDX-License-Identifier: GPL-2.0-only
/*
 * Room in an LRU log (lru_log.h): when its ring is full, drop the deleted
 * entries (moving the live ones together, in order, with new positions) or,
 * when more than a quarter of the entries are live, grow the ring.
 */
#include <stdlib.h>

#include "alloc.h"
#include "lru_log.h"

int lru_log_init(struct lru_log *log, int64_t capacity)
{
	int64_t cap = 64;
	while (cap < capacity)
		cap <<= 1;
	log->ring = mm_alloc((size_t)cap * sizeof(int32_t), false);
	log->first = log->next = log->scout = 0;
	log->mask = cap - 1;
	log->nr_live = 0;
	return log->ring ? 0 : -1;
}

void lru_log_free(struct lru_log *log)
{
	free(log->ring);
	log->ring = NULL;
}

void lru_log_make_room(struct mm *mm, struct lru_log *log, int kind)
{
	int64_t cap = log->mask + 1, pos, out = log->first;
	int32_t *ring = log->ring;
	if (4 * log->nr_live >= cap) {
		/* grow: the same positions in a ring twice as large */
		int32_t *bigger = mm_alloc((size_t)(2 * cap) * sizeof(int32_t), false);
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
		if (h == LOG_DELETED)
			continue;
		ring[out & log->mask] = (int32_t)h;
		if (kind == LOG_ZSWAP)
			page_at(mm, h)->zs_pos = out;
		else
			page_at(mm, h)->lru_pos = out;
		out++;
	}
	log->next = out;
	log->scout = log->first;
}
