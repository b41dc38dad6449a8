/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A data-TLB model (replay/tlb.py documents it and holds the presets): a fully
 * associative L1 and a set-associative L2, true LRU, non-exclusive (an L2 hit
 * refills L1; a walk fills both). An entry covers 4 KiB, an aligned coalesced
 * range (x86 PTE coalescing: 16 or 32 KiB; arm64 contpte: 64 KiB) when a folio
 * that large maps it, or 2 MiB for a PMD-mapped THP.
 */
#ifndef REPLAY_TLB_H
#define REPLAY_TLB_H

#include <stdbool.h>
#include <stdint.h>

enum tlb_arch { TLB_X86, TLB_ARM64, TLB_4K, TLB_NONE };
enum tlb_level { TLB_HIT_L1, TLB_HIT_L2, TLB_WALK };
#define TLB_NEVER 62                 /* an entry shift no folio reaches */
#define TLB_MAX_PAGES (1LL << 30)    /* pages a TLB translates: keys are 32 bits */
#define TLB_EMPTY 0xFFFFFFFFu        /* a free L1 slot or hash cell, an empty L2 way */
#define TLB_SIG_BUCKETS 64           /* presence counters per L2 set */

struct tlb_config {
	int arch;                        /* enum tlb_arch */
	int64_t l1_entries, l2_entries, l2_ways;
	int64_t coalesce_pages;          /* x86: 4 or 8 */
	int64_t l2_hit_cycles, walk_cycles;
	int64_t flush_ceiling_pages;     /* larger flushes drop everything; 0 = never */
};

struct tlb_counters {
	int64_t l1_hits, l2_hits, walks, flush_ranges, flush_all, invalidated;
};

/*
 * An entry's key is (page >> shift) << 2 | size class (0: 4K, 1: coalesced,
 * 2: PMD). L1 in recency order: top0 (most recent), top1, then a doubly linked
 * list of slots through a sentinel (index l1_n), least recent last; a hash
 * (linear probing, at most a quarter full) finds a key's slot. L2: each set's
 * ways in recency order, its valid ones first (l2_count of them), and per set
 * TLB_SIG_BUCKETS counters of the keys it holds by a hash of the key, so that
 * a key whose counter is 0 is known absent without reading the set.
 */
struct tlb {
	int arch;
	int64_t l1_n, l2_sets, l2_ways, cshift, pmd, ceil, hmask, nfree;
	uint32_t top0, top1;
	int32_t top0_slot, top1_slot;
	int64_t l2_cycles, walk_cycles;
	struct tlb_counters c;
	uint32_t *tag;       /* per L1 slot: its key, TLB_EMPTY free */
	int32_t *cell;       /* per L1 slot: its hash cell */
	int32_t *link;       /* (prev, next) per slot, then the sentinel's */
	int32_t *freelist;   /* free slots (a stack) */
	uint32_t *hkey;      /* hash cells: key, TLB_EMPTY empty */
	int32_t *hslot;      /* hash cells: its L1 slot */
	uint32_t *l2;        /* sets x ways keys */
	uint8_t *l2_count;   /* per set: valid ways */
	uint8_t *l2_sig;     /* per set: TLB_SIG_BUCKETS presence counters */
	void *mem;
};

struct tlb *tlb_create(const struct tlb_config *cfg);
void tlb_destroy(struct tlb *t);
void tlb_reset(struct tlb *t);
void tlb_flush_range(struct tlb *t, int64_t first_page, int64_t npages);
void tlb_flush_all(struct tlb *t);
int tlb_access_slow(struct tlb *t, uint32_t key, int64_t vtag);

static inline int64_t tlb_cycles(const struct tlb *t)
{
	return t->c.l2_hits * t->l2_cycles + t->c.walks * t->walk_cycles;
}

/* Translate page (dense id) mapped by a folio of folio_order: 0 L1 hit, 1 L2, 2 walk.
 * A hit on one of the two most recent entries is one or two compares. */
static inline int tlb_access(struct tlb *t, int64_t page, int64_t folio_order)
{
	int64_t vtag;
	uint32_t key;
	if (t->arch == TLB_NONE)
		return TLB_HIT_L1;
	if (folio_order >= t->pmd) {
		vtag = page >> t->pmd;
		key = (uint32_t)(vtag << 2) | 2;
	} else if (folio_order >= t->cshift) {
		vtag = page >> t->cshift;
		key = (uint32_t)(vtag << 2) | 1;
	} else {
		vtag = page;
		key = (uint32_t)(vtag << 2);
	}
	if (t->top0 == key) {
		t->c.l1_hits++;
		return TLB_HIT_L1;
	}
	if (t->top1 == key) {             /* swap the two most recent */
		int32_t slot = t->top1_slot;
		t->top1 = t->top0;
		t->top0 = key;
		t->top1_slot = t->top0_slot;
		t->top0_slot = slot;
		t->c.l1_hits++;
		return TLB_HIT_L1;
	}
	return tlb_access_slow(t, key, vtag);
}

#endif
