// SPDX-License-Identifier: GPL-2.0-only
/*
 * The data-TLB model (tlb.h). The engine calls tlb_access() on every access
 * to a mapped page and tlb_flush_range() wherever a mapping goes away or
 * changes (swap-out, free, split, copy on write), as the kernel flushes.
 * Left out: the instruction TLB, page-walk caches (a walk costs walk_cycles
 * flat), skewed L2 indexing, ASIDs (dense page ids separate address spaces),
 * speculative fills.
 */
#include <stdlib.h>

#include "tlb.h"

#define EMPTY (-1)

struct tlb *tlb_create(const struct tlb_config *cfg)
{
	int64_t n = cfg->l1_entries, hsize = 1, total;
	struct tlb *t = calloc(1, sizeof(*t));
	int64_t *mem;
	if (!t)
		return NULL;
	while (hsize < 4 * n)
		hsize <<= 1;
	total = n + n + 2 * (n + 1) + n + 2 * hsize + cfg->l2_entries;
	mem = malloc((size_t)total * sizeof(int64_t));
	if (!mem) {
		free(t);
		return NULL;
	}
	t->arch = cfg->arch;
	t->l1_n = n;
	t->l2_ways = cfg->l2_ways;
	t->l2_sets = cfg->l2_entries / cfg->l2_ways;
	if (cfg->arch == TLB_X86) {
		t->cshift = cfg->coalesce_pages == 4 ? 2 : 3;
		t->pmd = 9;
	} else if (cfg->arch == TLB_ARM64) {
		t->cshift = 4;                /* contpte: 16 x 4 KiB */
		t->pmd = 9;
	} else {
		t->cshift = TLB_NEVER;
		t->pmd = TLB_NEVER;
	}
	t->ceil = cfg->flush_ceiling_pages;
	t->hmask = hsize - 1;
	t->l2_cycles = cfg->l2_hit_cycles;
	t->walk_cycles = cfg->walk_cycles;
	t->tag = mem;
	t->cell = t->tag + n;
	t->link = t->cell + n;
	t->freelist = t->link + 2 * (n + 1);
	t->hash = t->freelist + n;
	t->l2 = t->hash + 2 * hsize;
	tlb_reset(t);
	return t;
}

void tlb_destroy(struct tlb *t)
{
	if (t) {
		free(t->tag);
		free(t);
	}
}

/* Drop every entry (the counters stay). */
void tlb_reset(struct tlb *t)
{
	int64_t n = t->l1_n, i;
	for (i = 0; i < n; i++) {
		t->tag[i] = EMPTY;
		t->freelist[i] = n - 1 - i;
	}
	for (i = 0; i < n + 1; i++) {       /* unlinked (the sentinel n: an empty list) */
		t->link[2 * i] = i;
		t->link[2 * i + 1] = i;
	}
	for (i = 0; i <= t->hmask; i++)
		t->hash[2 * i] = EMPTY;
	for (i = 0; i < t->l2_sets * t->l2_ways; i++)
		t->l2[i] = EMPTY;
	t->nfree = n;
	t->top0 = EMPTY;
	t->top1 = EMPTY;
}

static inline int64_t home(int64_t key, int64_t mask)
{
	uint64_t h = (uint64_t)(key ^ (key >> 15)) * 0x9E3779B97F4A7C15ULL;
	return (int64_t)(h >> 24) & mask;
}

/* The L1 slot holding key (its hash cell in *cell), or -1 with *cell the empty
 * cell where key would go. */
static inline int64_t hash_find(const struct tlb *t, int64_t key, int64_t *cell)
{
	int64_t mask = t->hmask, i = home(key, mask);
	for (;;) {
		int64_t k = t->hash[2 * i];
		if (k == key) {
			*cell = i;
			return t->hash[2 * i + 1];
		}
		if (k < 0) {
			*cell = i;
			return -1;
		}
		i = (i + 1) & mask;
	}
}

/* Empty hash cell i: backward-shift deletion, keeping each slot's cell current. */
static void hash_delete(struct tlb *t, int64_t i)
{
	int64_t mask = t->hmask, j = i;
	for (;;) {
		int64_t k;
		j = (j + 1) & mask;
		k = t->hash[2 * j];
		if (k < 0)
			break;
		if (((j - home(k, mask)) & mask) >= ((j - i) & mask)) {   /* home not in (i, j] */
			int64_t slot = t->hash[2 * j + 1];
			t->hash[2 * i] = k;
			t->hash[2 * i + 1] = slot;
			t->cell[slot] = i;
			i = j;
		}
	}
	t->hash[2 * i] = EMPTY;
}

static inline void unlink_slot(struct tlb *t, int64_t slot)
{
	int64_t p = t->link[2 * slot], nx = t->link[2 * slot + 1];
	t->link[2 * p + 1] = nx;
	t->link[2 * nx] = p;
	t->link[2 * slot] = slot;
	t->link[2 * slot + 1] = slot;
}

/* Make key (in slot, unlinked) the most recent L1 entry. */
static inline void push_top(struct tlb *t, int64_t key, int64_t slot)
{
	if (t->top1 >= 0) {               /* the second most recent joins the list */
		int64_t sen = t->l1_n, t1 = t->top1_slot, h = t->link[2 * sen + 1];
		t->link[2 * t1] = sen;
		t->link[2 * t1 + 1] = h;
		t->link[2 * h] = t1;
		t->link[2 * sen + 1] = t1;
	}
	t->top1 = t->top0;
	t->top1_slot = t->top0_slot;
	t->top0 = key;
	t->top0_slot = slot;
}

/* Drop the entry in slot from L1 and free the slot. */
static void l1_remove(struct tlb *t, int64_t slot)
{
	int64_t key = t->tag[slot];
	if (key == t->top0) {
		t->top0 = t->top1;
		t->top0_slot = t->top1_slot;
		t->top1 = EMPTY;
	} else if (key == t->top1) {
		t->top1 = EMPTY;
	} else {
		unlink_slot(t, slot);
	}
	hash_delete(t, t->cell[slot]);
	t->tag[slot] = EMPTY;
	t->freelist[t->nfree] = slot;
	t->nfree++;
}

/* key is not in L1 (its hash cell would be cell): look it up in its L2 set,
 * filling it there on a miss (an empty way, else over the least recent), and
 * fill it into L1 as the most recent entry (a free slot, else over the least
 * recently used one). */
int tlb_l1_miss(struct tlb *t, int64_t vtag, int64_t key, int64_t cell)
{
	int64_t ways = t->l2_ways;
	int64_t *base = t->l2 + (vtag & (t->l2_sets - 1)) * ways;
	int64_t *last = base + ways - 1, *j = base, slot, old;
	int level;
	while (j < last) {
		int64_t v = *j;
		if (v == key || v < 0)
			break;
		j++;
	}
	if (*j == key) {
		t->c.l2_hits++;
		level = TLB_HIT_L2;
	} else {                          /* *j is empty, or the LRU way (j == last) */
		t->c.walks++;
		level = TLB_WALK;
	}
	while (j > base) {
		*j = *(j - 1);
		j--;
	}
	*base = key;
	/* L1 fill; the new key's cell is taken before the old one is emptied (the
	 * deletion may move it) */
	if (t->nfree > 0) {
		t->nfree--;
		slot = t->freelist[t->nfree];
		old = -1;
	} else {
		int64_t n = t->l1_n;
		slot = t->link[2 * n];        /* the list's last entry */
		if (slot != n) {
			unlink_slot(t, slot);
		} else if (t->top1 >= 0) {    /* (an L1 of 2 entries) */
			slot = t->top1_slot;
			t->top1 = EMPTY;
		} else {                      /* (an L1 of 1 entry) */
			slot = t->top0_slot;
			t->top0 = EMPTY;
		}
		old = t->cell[slot];
	}
	t->hash[2 * cell] = key;
	t->hash[2 * cell + 1] = slot;
	t->cell[slot] = cell;
	if (old >= 0)
		hash_delete(t, old);
	t->tag[slot] = key;
	push_top(t, key, slot);
	return level;
}

/* tlb_access() past the two most recent entries: a hash probe, then a list
 * move on an L1 hit or the L2 lookup on a miss. */
int tlb_access_slow(struct tlb *t, int64_t key, int64_t vtag)
{
	int64_t cell, slot = hash_find(t, key, &cell);
	if (slot >= 0) {
		unlink_slot(t, slot);
		push_top(t, key, slot);
		t->c.l1_hits++;
		return TLB_HIT_L1;
	}
	return tlb_l1_miss(t, vtag, key, cell);
}

void tlb_flush_all(struct tlb *t)
{
	tlb_reset(t);
	t->c.flush_all++;
}

/* Whether the entry key translates any page of [first, last]. */
static inline bool covers(int64_t key, int64_t first, int64_t last)
{
	int64_t sh = key & 63, lo = (key >> 6) << sh;
	return lo <= last && lo + ((int64_t)1 << sh) > first;
}

static void flush_range(struct tlb *t, int64_t first, int64_t npages)
{
	int64_t last = first + npages - 1, dropped = 0, nkeys = 0;
	int64_t cs = t->cshift, pmd = t->pmd, n = t->l1_n;
	int64_t sets = t->l2_sets, ways = t->l2_ways;
	int nshifts = cs >= TLB_NEVER ? 1 : 3;    /* entry sizes: 4K, coalesced, PMD */
	int k;
	t->c.flush_ranges++;
	for (k = 0; k < nshifts; k++) {
		int64_t sh = k == 0 ? 0 : (k == 1 ? cs : pmd);
		nkeys += (last >> sh) - (first >> sh) + 1;
	}
	/* L1: look each key up for a small range, else check every slot */
	if (4 * nkeys <= n) {
		for (k = 0; k < nshifts; k++) {
			int64_t sh = k == 0 ? 0 : (k == 1 ? cs : pmd), v;
			for (v = first >> sh; v <= last >> sh; v++) {
				int64_t cell, slot = hash_find(t, (v << 6) | sh, &cell);
				if (slot >= 0) {
					l1_remove(t, slot);
					dropped++;
				}
			}
		}
	} else {
		int64_t slot;
		for (slot = 0; slot < n; slot++) {
			int64_t key = t->tag[slot];
			if (key >= 0 && covers(key, first, last)) {
				l1_remove(t, slot);
				dropped++;
			}
		}
	}
	/* L2: search each key's set for a small range, else check every way */
	if (nkeys <= sets) {
		for (k = 0; k < nshifts; k++) {
			int64_t sh = k == 0 ? 0 : (k == 1 ? cs : pmd), v;
			for (v = first >> sh; v <= last >> sh; v++) {
				int64_t *base = t->l2 + (v & (sets - 1)) * ways, *end = base + ways;
				int64_t key = (v << 6) | sh, *j;
				for (j = base; j < end; j++) {
					if (*j < 0)
						break;
					if (*j == key) {      /* close the gap: valid ways stay first */
						while (j + 1 < end && *(j + 1) >= 0) {
							*j = *(j + 1);
							j++;
						}
						*j = EMPTY;
						dropped++;
						break;
					}
				}
			}
		}
	} else {
		int64_t *base, *end = t->l2 + sets * ways;
		for (base = t->l2; base < end; base += ways) {
			int64_t *out = base, *j;
			for (j = base; j < base + ways; j++) {
				if (*j < 0)
					break;
				if (covers(*j, first, last))
					dropped++;
				else
					*out++ = *j;
			}
			for (j = out; j < base + ways; j++) {
				if (*j < 0)
					break;
				*j = EMPTY;
			}
		}
	}
	t->c.invalidated += dropped;
}

/* Drop the entries covering any page of [first_page, first_page + npages) (an
 * unmap); a range past the flush ceiling drops everything, as the kernel does. */
void tlb_flush_range(struct tlb *t, int64_t first_page, int64_t npages)
{
	if (t->arch == TLB_NONE || npages <= 0)
		return;
	if (t->ceil > 0 && npages > t->ceil) {
		tlb_reset(t);
		t->c.flush_all++;
		return;
	}
	flush_range(t, first_page, npages);
}
