/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The replay loop: the one per-access loop over a chunk of the trace, and the
 * timeline rows it writes.
 */
#ifndef REPLAY_REPLAY_H
#define REPLAY_REPLAY_H

#include "mm.h"
#include "tlb.h"

/* A timeline row: cumulative figures after a window (replay/timeline.py reads them). */
enum {
	TL_ACCESSES, TL_TRACE_NS, TL_KERNEL_PS, TL_TLB_PS, TL_TLB_WALKS, TL_PGFAULT,
	TL_PGMAJFAULT, TL_SWAPIN_PS, TL_POOL_BYTES, TL_RESIDENT_PAGES,
	TL_SWPIN,                        /* TL_SWPIN + order: folios swapped in */
	NR_TL = TL_SWPIN + MAX_ORDER
};

enum timeline_mode { TIMELINE_OFF, TIMELINE_ACCESSES, TIMELINE_TIME };

struct timeline {
	int mode;                        /* enum timeline_mode */
	int64_t window;                  /* accesses, or ps of simulated time */
	int64_t next;                    /* the next window boundary */
	int64_t rows;                    /* rows written into the buffer */
	int64_t (*buf)[NR_TL];
	int64_t capacity;                /* rows the buffer holds */
};

int64_t replay_chunk(struct mm *mm, const int64_t *pages, const uint8_t *ops,
		     const int64_t *tns, int64_t n, struct timeline *tl);
void timeline_row(const struct mm *mm, int64_t *row, int64_t done, int64_t trace_ns);
void replay_shared_shadow(struct tlb *t, const int64_t *pages, const uint8_t *ops, int64_t n);
int64_t tlb_time_ps(const struct mm *mm);

#endif
