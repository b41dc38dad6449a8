// SPDX-License-Identifier: GPL-2.0-only
/*
 * A bare LRU over page ids: a doubly linked list in two int32 arrays and a
 * residency byte per page, nothing else (no page states, no swap, no
 * counters). benchmarks/bench_engine.py measures the model's exact-LRU mode and
 * hit path against it: it is the speed of memory itself for an exact LRU of a
 * trace on this machine.
 */
#include <stdlib.h>

#include "lru_reference.h"

int64_t lru_reference_misses(const int64_t *ids, int64_t n, int64_t nr_pages, int64_t capacity)
{
	int32_t *prev = malloc((size_t)nr_pages * sizeof(int32_t));
	int32_t *next = malloc((size_t)nr_pages * sizeof(int32_t));
	uint8_t *resident = calloc((size_t)nr_pages, 1);
	int32_t head = -1, tail = -1;
	int64_t size = 0, misses = 0, i;
	if (!prev || !next || !resident) {
		free(prev);
		free(next);
		free(resident);
		return -1;
	}
	for (i = 0; i < n; i++) {
		int32_t p = (int32_t)ids[i];
		if (resident[p]) {
			if (p != head) {          /* move to the front */
				int32_t a = prev[p], b = next[p];
				next[a] = b;
				if (b >= 0)
					prev[b] = a;
				else
					tail = a;
				prev[p] = -1;
				next[p] = head;
				prev[head] = p;
				head = p;
			}
			continue;
		}
		misses++;
		if (size == capacity) {       /* evict the tail */
			int32_t t = tail;
			tail = prev[t];
			if (tail >= 0)
				next[tail] = -1;
			else
				head = -1;
			resident[t] = 0;
			size--;
		}
		resident[p] = 1;
		prev[p] = -1;
		next[p] = head;
		if (head >= 0)
			prev[head] = p;
		else
			tail = p;
		head = p;
		size++;
	}
	free(prev);
	free(next);
	free(resident);
	return misses;
}
