/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Simulated time: what the model's steps cost (docs/costs.md).
 *
 * The model says what happened; these hooks, called where something takes
 * time (as tracepoints sit in the kernel), say how long it took, from the
 * cost model's parameters (ps). With costs off (mm->time.on false) each
 * returns at once and the model counts exactly the same.
 *
 * mm->time: kernel (all modelled kernel work), inclusive fault / swapin /
 * reclaim, leaf compress / decompress / io, and folios swapped in per order.
 * Simulated time = the trace's time + kernel + TLB miss time.
 *
 * Compression unit (unit_shift, log2 pages; 0 = per 4 KiB page): a folio of at
 * least a unit is stored as whole units, each compressed once, its pages
 * sharing its stored size; reading a page of a stored unit decompresses the
 * whole unit, once per unit when a large read covers it.
 *
 * Device I/O: a read waits for the device once per fault that read from it
 * (a readahead window or a large folio is one I/O), plus transfer per page;
 * writes are asynchronous: only their transfer time is booked.
 */
#ifndef REPLAY_COSTS_H
#define REPLAY_COSTS_H

#include "mm.h"
#include "tlb.h"

static inline int64_t cp(const struct mm *mm, enum cost_param i)
{
	return mm->time.cp[i];
}

static inline void book(struct mm *mm, int64_t *slot, int64_t ps)
{
	*slot += ps;
	mm->time.kernel += ps;
}

/* The page's compressed size as stored now: its unit share when it was stored
 * as part of a compression unit, else its own. */
static inline int64_t page_comp(const struct mm *mm, int64_t p)
{
	int64_t i = page_index(mm, p);
	if (mm->pages[i].in_unit)
		return mm->units.comp[i];
	if (!mm->pages[i].written && mm->cfg.zero_comp >= 0)
		return mm->cfg.zero_comp;       /* still the zeros its folio came with */
	return mm->pages[i].comp;
}

/* The page's own codec times: a zero page's while it was never written. */
static inline int64_t page_c_ns(const struct mm *mm, int64_t k)
{
	return !mm->pages[k].written && mm->cfg.zero_c_ns >= 0 ? mm->cfg.zero_c_ns
							       : mm->pages[k].c_ns;
}

static inline int64_t page_d_ns(const struct mm *mm, int64_t k)
{
	return !mm->pages[k].written && mm->cfg.zero_d_ns >= 0 ? mm->cfg.zero_d_ns
							       : mm->pages[k].d_ns;
}

/* The mappings of [first, first + npages) went away or changed (unmap,
 * swap-out, split, copy on write): drop their TLB entries, in the TLB and its
 * 4K-only shadow. */
static inline void tlb_unmap(struct mm *mm, int64_t first, int64_t npages)
{
	if (mm->tlb) {
		tlb_flush_range(mm->tlb, first, npages);
		if (mm->tlb_shadow)
			tlb_flush_range(mm->tlb_shadow, first, npages);
	}
}

/* Folios isolated and checked by reclaim (shrink_*_list, MADV_PAGEOUT). */
static inline void acct_reclaim_scan(struct mm *mm, int64_t nr_folios)
{
	if (mm->time.on)
		book(mm, &mm->time.reclaim, nr_folios * cp(mm, CP_RECLAIM_SCAN));
}

/* folio_alloc_swap() + add_to_swap_cache() for a folio being reclaimed. */
static inline void acct_add_to_swap(struct mm *mm)
{
	if (mm->time.on)
		book(mm, &mm->time.reclaim, cp(mm, CP_SLOT_ALLOC) + cp(mm, CP_SWAP_CACHE));
}

/* try_to_unmap() with its TLB flush, and __remove_mapping(), of a reclaimed folio. */
static inline void acct_unmap_folio(struct mm *mm, int64_t h, int64_t nr)
{
	tlb_unmap(mm, h, nr);
	if (mm->time.on)
		book(mm, &mm->time.reclaim, cp(mm, CP_RECLAIM_UNMAP) + cp(mm, CP_SWAP_CACHE));
}

static inline int64_t compress_folio_ps(const struct mm *mm, int64_t h, int order)
{
	int shift = mm->time.unit_shift;
	int64_t t = 0, i;
	for (i = 0; i < ((int64_t)1 << order); i++) {
		int64_t q = h + i, k = page_index(mm, q);
		if (mm->pages[k].in_unit) {
			if ((q & (((int64_t)1 << shift) - 1)) == 0)
				t += mm->units.c_ns[k];
		} else {
			t += page_c_ns(mm, k);
		}
	}
	return t * 1000;
}

/* zswap_store() of a folio: compress every page (or unit), store the entries. */
static inline void acct_zswap_store(struct mm *mm, int64_t h, int order)
{
	int64_t c;
	if (!mm->time.on)
		return;
	c = compress_folio_ps(mm, h, order);
	mm->time.compress += c;
	book(mm, &mm->time.reclaim, c + ((int64_t)1 << order) * cp(mm, CP_ZSWAP_STORE));
}

/* swap_writeout() to the device: zram compresses and stores each page (or
 * unit); a block device gets one write of the folio (transfer time only). */
static inline void acct_swap_write(struct mm *mm, int64_t h, int order)
{
	int64_t nr = (int64_t)1 << order;
	if (!mm->time.on)
		return;
	if (mm->cfg.swp_flags & SWP_COMPRESSED) {
		int64_t c = compress_folio_ps(mm, h, order);
		mm->time.compress += c;
		book(mm, &mm->time.reclaim, c + nr * cp(mm, CP_ZRAM_WRITE));
	} else {
		int64_t io = nr * cp(mm, CP_DEV_WRITE_PAGE);
		mm->time.io += io;
		book(mm, &mm->time.reclaim, io);
	}
}

/* Decompressing page q for a folio read of order: the page, or its whole unit. */
static inline int64_t decompress_ps(struct mm *mm, int64_t q, int order)
{
	int64_t k = page_index(mm, q);
	int shift;
	if (!mm->pages[k].in_unit)
		return page_d_ns(mm, k) * 1000;
	shift = mm->time.unit_shift;
	if (order >= shift) {
		int64_t unit = q >> shift;
		if (mm->time.last_unit == unit)
			return 0;
		mm->time.last_unit = unit;
	}
	return (int64_t)mm->units.d_ns[k] * 1000;
}

/* zswap_writeback_entry(): decompress the entry (its whole unit), write the page. */
static inline void acct_zswap_writeback(struct mm *mm, int64_t p)
{
	int64_t d, io;
	if (!mm->time.on)
		return;
	d = decompress_ps(mm, p, 0);
	io = cp(mm, CP_DEV_WRITE_PAGE);
	mm->time.decompress += d;
	mm->time.io += io;
	book(mm, &mm->time.reclaim, d + io);
}

/* swap_read_folio() of page q into a folio of order, from where (the page's
 * state before the read: zeromap, zswap or device). */
static inline void acct_swap_read(struct mm *mm, int64_t q, int where, int order)
{
	if (!mm->time.on)
		return;
	if (where == PAGE_ZEROMAP) {
		mm->time.kernel += cp(mm, CP_CLEAR_PAGE);
	} else if (where == PAGE_ZSWAP) {
		int64_t d = decompress_ps(mm, q, order);
		mm->time.decompress += d;
		mm->time.kernel += d + cp(mm, CP_ZSWAP_LOAD);
	} else if (mm->cfg.swp_flags & SWP_COMPRESSED) {
		int64_t d = decompress_ps(mm, q, order);
		mm->time.decompress += d;
		mm->time.kernel += d + cp(mm, CP_ZRAM_READ);
	} else {
		book(mm, &mm->time.io, cp(mm, CP_DEV_READ_PAGE));
		mm->time.io_pending = true;
	}
}

/* Before handle_mm_fault(): a new fault reads units afresh. */
static inline int64_t fault_begin(struct mm *mm)
{
	mm->time.last_unit = -1;
	return mm->time.kernel;
}

void acct_fault(struct mm *mm, int64_t p, int before, int64_t kernel0, int64_t swapin0);

#endif
