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
#include <string.h>

#include "mm.h"
#include "tlb.h"

struct tlb *tlb_create(const struct tlb_config *cfg)
{
	int64_t n = cfg->l1_entries, hsize = 1, sets = cfg->l2_entries / cfg->l2_ways;
	size_t bytes;
	struct tlb *t = calloc(1, sizeof(*t));
	char *mem;
	if (!t)
		return NULL;
	while (hsize < 4 * n)
		hsize <<= 1;
	bytes = (size_t)(n * 4 + n * 4 + 2 * (n + 1) * 4 + n * 4 + hsize * 8 +
			 cfg->l2_entries * 4 + sets + sets * TLB_SIG_BUCKETS + 64);
	mem = aligned_alloc(64, (bytes + 63) / 64 * 64);
	if (!mem) {
		free(t);
		return NULL;
	}
	t->mem = mem;
	t->arch = cfg->arch;
	t->l1_n = n;
	t->l2_ways = cfg->l2_ways;
	t->l2_sets = sets;
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
	t->l2 = (uint32_t *)mem;                  /* the hot arrays first */
	t->hkey = t->l2 + cfg->l2_entries;
	t->hslot = (int32_t *)(t->hkey + hsize);
	t->tag = (uint32_t *)(t->hslot + hsize);
	t->cell = (int32_t *)(t->tag + n);
	t->link = t->cell + n;
	t->freelist = t->link + 2 * (n + 1);
	t->l2_count = (uint8_t *)(t->freelist + n);
	t->l2_sig = t->l2_count + sets;
	tlb_reset(t);
	return t;
}

void tlb_destroy(struct tlb *t)
{
	if (t) {
		free(t->mem);
		free(t);
	}
}

/* Drop every entry (the counters stay). */
void tlb_reset(struct tlb *t)
{
	int64_t n = t->l1_n, i;
	for (i = 0; i < n; i++) {
		t->tag[i] = TLB_EMPTY;
		t->freelist[i] = (int32_t)(n - 1 - i);
	}
	for (i = 0; i < n + 1; i++) {       /* unlinked (the sentinel n: an empty list) */
		t->link[2 * i] = (int32_t)i;
		t->link[2 * i + 1] = (int32_t)i;
	}
	for (i = 0; i <= t->hmask; i++)
		t->hkey[i] = TLB_EMPTY;
	for (i = 0; i < t->l2_sets * t->l2_ways; i++)
		t->l2[i] = TLB_EMPTY;
	memset(t->l2_count, 0, (size_t)t->l2_sets);
	memset(t->l2_sig, 0, (size_t)(t->l2_sets * TLB_SIG_BUCKETS));
	t->nfree = n;
	t->top0 = TLB_EMPTY;
	t->top1 = TLB_EMPTY;
}

static inline int64_t home(uint32_t key, int64_t mask)
{
	return (int64_t)((key * 0x9E3779B1u) >> 8) & mask;
}

/* A key's presence counter in its L2 set. */
static inline uint8_t *l2_sig(struct tlb *t, int64_t set, uint32_t key)
{
	return &t->l2_sig[set * TLB_SIG_BUCKETS + ((key * 0x85EBCA77u) >> 26)];
}

/* The L1 slot holding key (its hash cell in *cell), or -1 with *cell the empty
 * cell where key would go. */
static inline int64_t hash_find(const struct tlb *t, uint32_t key, int64_t *cell)
{
	int64_t mask = t->hmask, i = home(key, mask);
	for (;;) {
		uint32_t k = t->hkey[i];
		if (k == key) {
			*cell = i;
			return t->hslot[i];
		}
		if (k == TLB_EMPTY) {
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
		uint32_t k;
		j = (j + 1) & mask;
		k = t->hkey[j];
		if (k == TLB_EMPTY)
			break;
		if (((j - home(k, mask)) & mask) >= ((j - i) & mask)) {   /* home not in (i, j] */
			int32_t slot = t->hslot[j];
			t->hkey[i] = k;
			t->hslot[i] = slot;
			t->cell[slot] = (int32_t)i;
			i = j;
		}
	}
	t->hkey[i] = TLB_EMPTY;
}

static inline void unlink_slot(struct tlb *t, int32_t slot)
{
	int32_t p = t->link[2 * slot], nx = t->link[2 * slot + 1];
	t->link[2 * p + 1] = nx;
	t->link[2 * nx] = p;
	t->link[2 * slot] = slot;
	t->link[2 * slot + 1] = slot;
}

/* Make key (in slot, unlinked) the most recent L1 entry. */
static inline void push_top(struct tlb *t, uint32_t key, int32_t slot)
{
	if (t->top1 != TLB_EMPTY) {       /* the second most recent joins the list */
		int32_t sen = (int32_t)t->l1_n, t1 = t->top1_slot, h = t->link[2 * sen + 1];
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
static void l1_remove(struct tlb *t, int32_t slot)
{
	uint32_t key = t->tag[slot];
	if (key == t->top0) {
		t->top0 = t->top1;
		t->top0_slot = t->top1_slot;
		t->top1 = TLB_EMPTY;
	} else if (key == t->top1) {
		t->top1 = TLB_EMPTY;
	} else {
		unlink_slot(t, slot);
	}
	hash_delete(t, t->cell[slot]);
	t->tag[slot] = TLB_EMPTY;
	t->freelist[t->nfree] = slot;
	t->nfree++;
}

/* key is not in L1 (its hash cell would be cell): look it up in its L2 set,
 * filling it there on a miss (an empty way, else over the least recent), and
 * fill it into L1 as the most recent entry (a free slot, else over the least
 * recently used one). */
static int l1_miss(struct tlb *t, int64_t vtag, uint32_t key, int64_t cell)
{
	int64_t ways = t->l2_ways, set = vtag & (t->l2_sets - 1), j, old;
	uint32_t *base = t->l2 + set * ways;
	int64_t count = t->l2_count[set];
	int32_t slot;
	int level;
	uint8_t *sig = l2_sig(t, set, key);
	j = count;                            /* absent: the first empty way, or the last */
	if (*sig) {
		for (j = 0; j < count; j++)
			if (base[j] == key)
				break;
	}
	if (j < count) {
		t->c.l2_hits++;
		level = TLB_HIT_L2;
	} else {
		t->c.walks++;
		level = TLB_WALK;
		if (count == ways) {              /* the least recent way goes */
			j = ways - 1;
			(*l2_sig(t, set, base[j]))--;
		} else {
			t->l2_count[set]++;
		}
		(*sig)++;
	}
	memmove(base + 1, base, (size_t)j * sizeof(*base));
	base[0] = key;
	/* L1 fill; the new key's cell is taken before the old one is emptied (the
	 * deletion may move it) */
	if (t->nfree > 0) {
		t->nfree--;
		slot = t->freelist[t->nfree];
		old = -1;
	} else {
		int32_t n = (int32_t)t->l1_n;
		slot = t->link[2 * n];        /* the list's last entry */
		if (slot != n) {
			unlink_slot(t, slot);
		} else if (t->top1 != TLB_EMPTY) {   /* (an L1 of 2 entries) */
			slot = t->top1_slot;
			t->top1 = TLB_EMPTY;
		} else {                      /* (an L1 of 1 entry) */
			slot = t->top0_slot;
			t->top0 = TLB_EMPTY;
		}
		old = t->cell[slot];
	}
	t->hkey[cell] = key;
	t->hslot[cell] = slot;
	t->cell[slot] = (int32_t)cell;
	if (old >= 0)
		hash_delete(t, old);
	t->tag[slot] = key;
	push_top(t, key, slot);
	return level;
}

/* tlb_access() past the two most recent entries: a hash probe, then a list
 * move on an L1 hit or the L2 lookup on a miss. */
int tlb_access_slow(struct tlb *t, uint32_t key, int64_t vtag)
{
	int64_t cell, slot = hash_find(t, key, &cell);
	if (slot >= 0) {
		unlink_slot(t, (int32_t)slot);
		push_top(t, key, (int32_t)slot);
		t->c.l1_hits++;
		return TLB_HIT_L1;
	}
	return l1_miss(t, vtag, key, cell);
}

void tlb_flush_all(struct tlb *t)
{
	tlb_reset(t);
	t->c.flush_all++;
}

/* The page shift of a key's size class. */
static inline int64_t key_shift(const struct tlb *t, uint32_t key)
{
	uint32_t c = key & 3;
	return c == 0 ? 0 : (c == 1 ? t->cshift : t->pmd);
}

/* Whether the entry key translates any page of [first, last]. */
static inline bool covers(const struct tlb *t, uint32_t key, int64_t first, int64_t last)
{
	int64_t sh = key_shift(t, key), lo = (int64_t)(key >> 2) << sh;
	return lo <= last && lo + ((int64_t)1 << sh) > first;
}

/* Remove way w of an L2 set (valid ways stay first, in order). */
static inline void l2_remove(struct tlb *t, int64_t set, int64_t w)
{
	uint32_t *base = t->l2 + set * t->l2_ways;
	int64_t count = t->l2_count[set];
	(*l2_sig(t, set, base[w]))--;
	memmove(base + w, base + w + 1, (size_t)(count - 1 - w) * sizeof(*base));
	base[count - 1] = TLB_EMPTY;
	t->l2_count[set] = (uint8_t)(count - 1);
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
				int64_t cell, slot = hash_find(t, (uint32_t)(v << 2) | (uint32_t)k, &cell);
				if (slot >= 0) {
					l1_remove(t, (int32_t)slot);
					dropped++;
				}
			}
		}
	} else {
		int32_t slot;
		for (slot = 0; slot < n; slot++) {
			uint32_t key = t->tag[slot];
			if (key != TLB_EMPTY && covers(t, key, first, last)) {
				l1_remove(t, slot);
				dropped++;
			}
		}
	}
	/* L2: each key in its set for a small range (known absent when its presence
	 * counter is 0), else check every way */
	if (nkeys <= sets) {
		for (k = 0; k < nshifts; k++) {
			int64_t sh = k == 0 ? 0 : (k == 1 ? cs : pmd), v;
			for (v = first >> sh; v <= last >> sh; v++) {
				uint32_t key = (uint32_t)(v << 2) | (uint32_t)k;
				int64_t set = v & (sets - 1), count, w;
				const uint32_t *base;
				if (!*l2_sig(t, set, key))
					continue;
				base = t->l2 + set * ways;
				count = t->l2_count[set];
				for (w = 0; w < count; w++) {
					if (base[w] == key) {
						l2_remove(t, set, w);
						dropped++;
						break;
					}
				}
			}
		}
	} else {
		int64_t set;
		for (set = 0; set < sets; set++) {
			uint32_t *base = t->l2 + set * ways;
			int64_t w = 0;
			while (w < t->l2_count[set]) {
				if (covers(t, base[w], first, last)) {
					l2_remove(t, set, w);
					dropped++;
				} else {
					w++;
				}
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
