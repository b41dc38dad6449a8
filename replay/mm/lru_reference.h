/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef REPLAY_LRU_REFERENCE_H
#define REPLAY_LRU_REFERENCE_H

#include <stdint.h>

/* Misses of a plain LRU of capacity pages over ids < nr_pages (-1: no memory). */
int64_t lru_reference_misses(const int64_t *ids, int64_t n, int64_t nr_pages, int64_t capacity);

#endif
