// SPDX-License-Identifier: GPL-2.0-only
/*
 * The replay loop. An access to a mapped page only sets its young bit (and the
 * folio's dirty bit on a write) and goes through the TLB model; everything
 * rarer goes to the model's fault, madvise and unmap paths (memory.c). State
 * persists across calls, so the chunk size changes no result.
 */
#include "costs.h"
#include "mm_inline.h"
#include "replay.h"

#define PREFETCH_AHEAD 16        /* accesses ahead whose page record is prefetched */

enum trace_op { OP_READ, OP_WRITE, OP_PAGEOUT, OP_FREE };

static inline void prefetch_access(const struct mm *mm, int64_t p, bool exact)
{
	const struct page *page = &mm->pages[page_index(mm, p)];
	if (page->state == PAGE_MAPPED) {
		if (exact && page->lru_pos >= 0) {
			const struct page *folio = &mm->pages[page_index(mm, page->head)];
			const struct lru_log *log = &mm->lruvec.lists[folio_lru_list(folio)];
			if (folio->lru_pos >= 0)
				__builtin_prefetch(&log->ring[folio->lru_pos & log->mask], 1);
		}
	} else if (page->slot >= 0) {
		__builtin_prefetch(&mm->si.slot_owner[page->slot], 1);
	}
}

/* Time spent on L2 TLB hits and page walks so far (ps). */
int64_t tlb_time_ps(const struct mm *mm)
{
	if (!mm->tlb)
		return 0;
	return mm->tlb->c.l2_hits * mm->time.cp[CP_TLB_L2] + mm->tlb->c.walks * mm->time.cp[CP_TLB_WALK];
}

/* Simulated time (ps): the trace's own time, modelled kernel work, TLB misses. */
static inline int64_t clock_ps(const struct mm *mm, int64_t trace_ns)
{
	return trace_ns * 1000 + mm->time.kernel + tlb_time_ps(mm);
}

/* A timeline row: the state after done accesses. */
void timeline_row(const struct mm *mm, int64_t *r, int64_t done, int64_t trace_ns)
{
	int k;
	r[TL_ACCESSES] = done;
	r[TL_TRACE_NS] = trace_ns;
	r[TL_KERNEL_PS] = mm->time.kernel;
	r[TL_TLB_PS] = tlb_time_ps(mm);
	r[TL_TLB_WALKS] = mm->tlb ? mm->tlb->c.walks : 0;
	r[TL_PGFAULT] = (int64_t)mm->vm_events[PGFAULT];
	r[TL_PGMAJFAULT] = (int64_t)mm->vm_events[PGMAJFAULT];
	r[TL_SWAPIN_PS] = mm->time.swapin;
	r[TL_POOL_BYTES] = mm->zswap.bytes;
	r[TL_RESIDENT_PAGES] = mm->resident;
	for (k = 0; k < MAX_ORDER; k++)
		r[TL_SWPIN + k] = mm->time.swpin_folios[k];
}

static inline void tlb_translate(struct mm *mm, int64_t p, int64_t order)
{
	tlb_access(mm->tlb, p, order);
	if (mm->tlb_shadow)
		tlb_access(mm->tlb_shadow, p, 0);
}

/*
 * Feed one chunk of accesses (dense page ids, ops, trace time in ns) through the
 * model. Returns the number of accesses consumed: all of them, or fewer when the
 * timeline buffer is full (the caller drains it and calls again with the rest).
 * After an OOM kill with oom=kill the replay is over: the access that faulted is
 * the last one counted, and later calls consume everything without replaying it.
 */
int64_t replay_chunk(struct mm *mm, const int64_t *pages, const uint8_t *ops,
		     const int64_t *tns, int64_t n, struct timeline *tl)
{
	const bool oom_kill = mm->cfg.oom_kill, exact = mm->cfg.exact_lru;
	const bool tlb_on = mm->tlb != NULL;
	/* what makes a page hold its data: a write, or any first touch when a first read
	 * allocates (the live replayer writes a page's content at its first touch) */
	const uint8_t touch_writes = mm->cfg.first_read_allocates ? 1 : 0;
	const int mode = tl->mode;
	const int64_t window = tl->window, done0 = mm->accesses;
	int64_t next = tl->next, row = tl->rows, last_ns = mm->trace_ns, consumed = n, i;
	if (oom_kill && mm->memcg.oom)
		return n;
	for (i = 0; i < n; i++) {
		struct page *page;
		int64_t p;
		int op;
		if (mode != TIMELINE_OFF) {
			int64_t now = mode == TIMELINE_ACCESSES ? done0 + i : clock_ps(mm, last_ns);
			if (now >= next) {
				if (row == tl->capacity) {
					consumed = i;
					break;
				}
				timeline_row(mm, tl->buf[row], done0 + i, last_ns);
				row++;
				next = (now / window + 1) * window;
			}
		}
		/* the record of the access PREFETCH_AHEAD on, and the directory entry that
		 * finds the one twice as far */
		if (likely(i + 2 * PREFETCH_AHEAD < n) && !mm->identity)
			__builtin_prefetch(&mm->dir[pages[i + 2 * PREFETCH_AHEAD] >> CHUNK_SHIFT], 0);
		if (likely(i + PREFETCH_AHEAD < n))
			__builtin_prefetch(&mm->pages[page_index(mm, pages[i + PREFETCH_AHEAD])], 1);
		/* in exact-LRU mode, for an access a quarter as far (its record is in
		 * cache by now), what it will touch besides: its LRU entry (a hit moves
		 * it), its swap slot's owner when it is swapped out (a swap-in frees it) */
		if (exact && likely(i + PREFETCH_AHEAD / 4 < n))
			prefetch_access(mm, pages[i + PREFETCH_AHEAD / 4], exact);
		p = pages[i];
		op = ops[i];
		last_ns = tns[i];
		if (likely(op <= OP_WRITE)) {
			int s;
			page = page_at(mm, p);
			s = page->state;
			if (likely(s == PAGE_MAPPED)) {
				/* a hit: the PTE's accessed and dirty bits, in the page's record only */
				page->young = 1;
				page->written |= op | touch_writes;
				if (op == OP_WRITE)
					page->pte_dirty = 1;
				if (unlikely(page->used == 1)) {
					page->used = 2;
					count_replay_stats(mm, SWAPIN_USED, 1);
				}
				if (exact) {
					lruvec_del_folio(mm, page->head);
					lruvec_add_folio(mm, page->head);
				}
				if (tlb_on)
					tlb_translate(mm, p, page->tlb_order);
				continue;
			}
			/* a read of the zero page does not fault, unless it is the first touch of a
			 * page when a first read allocates (the live replayer writes the page's
			 * content there: copy on write) */
			if (s == PAGE_ZEROPAGE && op == OP_READ && (page->written || !touch_writes)) {
				if (tlb_on)
					tlb_translate(mm, p, 0);
				continue;
			}
			{
				int64_t kernel0 = fault_begin(mm);
				int64_t swapin0 = (int64_t)mm->replay_stats[SWAPIN_PAGES];
				if (s == PAGE_ZEROPAGE)
					tlb_unmap(mm, p, 1);  /* copy on write replaces the zero-page PTE */
				mm->fault_access = done0 + i;
				handle_mm_fault(mm, p, op == OP_WRITE);
				if (page->state == PAGE_MAPPED)
					page->written |= op | touch_writes;
				acct_fault(mm, p, s, kernel0, swapin0);
			}
			if (oom_kill && mm->memcg.oom) {
				consumed = i + 1;          /* the workload is killed in this fault */
				break;
			}
			if (tlb_on) {
				s = page->state;
				if (s == PAGE_MAPPED)
					tlb_translate(mm, p, page->tlb_order);
				else if (s == PAGE_ZEROPAGE)
					tlb_translate(mm, p, 0);
			}
		} else if (op == OP_PAGEOUT) {
			madvise_pageout(mm, p);
		} else {
			page = page_at(mm, p);
			if (page->state == PAGE_MAPPED || page->state == PAGE_ZEROPAGE)
				tlb_unmap(mm, p, 1);      /* zap_pte_range() flushes what it cleared */
			zap_page(mm, p);
		}
	}
	mm->accesses += consumed;
	mm->trace_ns = last_ns;
	tl->next = next;
	tl->rows = row;
	return consumed;
}

/* The 4K-only baseline TLB shared by all policies of a run: every read and write
 * of the trace, flushed where the trace itself unmaps (MADV_PAGEOUT,
 * MADV_DONTNEED, munmap); reclaim's unmaps differ by policy and are left out. */
void replay_shared_shadow(struct tlb *t, const int64_t *pages, const uint8_t *ops, int64_t n)
{
	int64_t i;
	for (i = 0; i < n; i++) {
		if (ops[i] <= OP_WRITE)
			tlb_access(t, pages[i], 0);
		else
			tlb_flush_range(t, pages[i], 1);
	}
}
