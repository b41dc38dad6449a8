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
 * L1 in recency order: top0 (most recent), top1, then a doubly linked list of
 * slots through a sentinel (index l1_n), least recent last. A hash (linear
 * probing, at most a quarter full) finds a key's slot. L2: each set's ways in
 * recency order, empty ways last.
 */
struct tlb {
	int arch;
	int64_t l1_n, l2_sets, l2_ways, cshift, pmd, ceil, hmask, nfree;
	int64_t top0, top0_slot, top1, top1_slot;
	int64_t l2_cycles, walk_cycles;
	struct tlb_counters c;
	int64_t *tag;        /* per L1 slot: its key, -1 free */
	int64_t *cell;       /* per L1 slot: its hash cell */
	int64_t *link;       /* (prev, next) per slot, then the sentinel's */
	int64_t *freelist;   /* free slots (a stack) */
	int64_t *hash;       /* (key, slot) pairs */
	int64_t *l2;         /* sets x ways keys, -1 empty */
};

struct tlb *tlb_create(const struct tlb_config *cfg);
void tlb_destroy(struct tlb *t);
void tlb_reset(struct tlb *t);
int tlb_l1_miss(struct tlb *t, int64_t vtag, int64_t key, int64_t cell);
void tlb_flush_range(struct tlb *t, int64_t first_page, int64_t npages);
void tlb_flush_all(struct tlb *t);
int tlb_access_slow(struct tlb *t, int64_t key, int64_t vtag);

static inline int64_t tlb_cycles(const struct tlb *t)
{
	return t->c.l2_hits * t->l2_cycles + t->c.walks * t->walk_cycles;
}

/* Translate page (dense id) mapped by a folio of folio_order: 0 L1 hit, 1 L2, 2 walk.
 * A hit on one of the two most recent entries is one or two compares. */
static inline int tlb_access(struct tlb *t, int64_t page, int64_t folio_order)
{
	int64_t shift, vtag, key;
	if (t->arch == TLB_NONE)
		return TLB_HIT_L1;
	if (folio_order >= t->pmd)
		shift = t->pmd;
	else if (folio_order >= t->cshift)
		shift = t->cshift;
	else
		shift = 0;
	vtag = page >> shift;
	key = (vtag << 6) | shift;
	if (t->top0 == key) {
		t->c.l1_hits++;
		return TLB_HIT_L1;
	}
	if (t->top1 == key) {             /* swap the two most recent */
		int64_t slot = t->top1_slot;
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
