// SPDX-License-Identifier: GPL-2.0-only
/*
 * Invariants of the model state, checked after every replay (and by the tests):
 *
 * - every touched page is in exactly one place, and that place is consistent:
 *   a resident or swap-cache page belongs to a folio whose head is on an LRU
 *   list; a swapped-out page owns its slot; a zswap page is on the zswap LRU;
 * - the LRU lists hold exactly the resident folios, and their page counts match;
 * - the memcg usage is the resident pages plus the charge stock, the page tables (plus the
 *   charged zswap pool on cgroup v2);
 * - the zswap pool is the sum of its entries;
 * - the swap clusters' free counts match their slots, and the search trees match
 *   the clusters;
 * - counters add up: pages written back from zswap were counted in zswpout and
 *   are counted in pswpout too; zswap loads never exceed stores.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "costs.h"
#include "invariants.h"
#include "lru_log.h"
#include "mm_inline.h"

#define REPORT(...) do { \
	if (nr < max_problems) \
		snprintf(problems[nr], PROBLEM_LEN, __VA_ARGS__); \
	nr++; \
} while (0)

static int64_t free_class(int64_t free)
{
	int64_t c = 1;
	if (free <= 0)
		return 0;
	while (2 * c <= free)
		c *= 2;
	return c;
}

/* The dense id of record index k (the inverse of page_index()), or -1. */
static int64_t *record_ids(const struct mm *mm, int64_t nr_records)
{
	int64_t *ids = malloc((size_t)nr_records * sizeof(int64_t)), c, nchunks, i;
	if (!ids)
		return NULL;
	for (i = 0; i < nr_records; i++)
		ids[i] = -1;
	nchunks = mm->nr_pages >> CHUNK_SHIFT;
	for (c = 0; c < nchunks; c++) {
		int32_t d = mm->dir[c];
		if (d >= 0)
			for (i = 0; i < CHUNK_PAGES; i++)
				ids[((int64_t)d << CHUNK_SHIFT) + i] = (c << CHUNK_SHIFT) + i;
	}
	return ids;
}

int check_invariants(struct mm *mm, int64_t nr_records, char (*problems)[PROBLEM_LEN],
		     int max_problems)
{
	int nr = 0, list;
	int64_t *ids = record_ids(mm, nr_records), k, in_folio = 0, holding = 0, owned = 0;
	int64_t folio_pages = 0, zswapped = 0, pool = 0, usage, c;
	uint8_t *listed = calloc((size_t)nr_records, 1);
	bool bad_resident = false, bad_slot = false, bad_owner = false, bad_head = false;
	if (!ids || !listed) {
		free(ids);
		free(listed);
		REPORT("out of memory checking the state");
		return nr;
	}
	/* LRU lists: their live entries */
	for (list = 0; list < NR_LRU_LISTS; list++) {
		const struct lru_log *log = &mm->lruvec.lists[list];
		int64_t count = list ? mm->lruvec.nr_active : mm->lruvec.nr_inactive;
		int64_t pages = 0, live = 0, pos;
		for (pos = log->first; pos < log->next; pos++) {
			int64_t x = log->ring[pos & log->mask];
			const struct page *f;
			if (x != LOG_DELETED && (x < 0 || x >= mm->nr_pages ||
						 mm->dir[x >> CHUNK_SHIFT] < 0)) {
				REPORT("an LRU list holds page %lld, outside the replay", (long long)x);
				break;
			}
			if (x == LOG_DELETED)
				continue;
			f = page_at(mm, x);
			if (f->lru_pos != pos || !(f->flags & PG_lru) ||
			    folio_lru_list(f) != (enum lru_list)list)
				REPORT("folio %lld is listed at %lld but says %lld (flags %x)", (long long)x,
				       (long long)pos, (long long)f->lru_pos, f->flags);
			live++;
			pages += folio_nr_pages(f);
			if (listed[page_index(mm, x)])
				REPORT("folio %lld is on an LRU list twice", (long long)x);
			listed[page_index(mm, x)] = 1;
			if (f->head != x)
				bad_head = true;
		}
		if (live != log->nr_live)
			REPORT("LRU list %s counts %lld folios, holds %lld", list ? "active" : "inactive",
			       (long long)log->nr_live, (long long)live);
		if (pages != count)
			REPORT("LRU list %s counts %lld pages, holds %lld", list ? "active" : "inactive",
			       (long long)count, (long long)pages);
		folio_pages += pages;
	}
	/* the zswap LRU: one live entry per page in zswap */
	{
		const struct lru_log *log = &mm->zswap.lru;
		int64_t live = 0, pos;
		for (pos = log->first; pos < log->next; pos++) {
			int64_t x = log->ring[pos & log->mask];
			if (x == LOG_DELETED)
				continue;
			if (x < 0 || x >= mm->nr_pages || mm->dir[x >> CHUNK_SHIFT] < 0) {
				REPORT("the zswap LRU holds page %lld, outside the replay", (long long)x);
				break;
			}
			live++;
			if (page_at(mm, x)->state != PAGE_ZSWAP || page_at(mm, x)->zs_pos != pos)
				REPORT("page %lld is on the zswap LRU, not in zswap there", (long long)x);
		}
		if (live != log->nr_live)
			REPORT("the zswap LRU counts %lld entries, holds %lld", (long long)log->nr_live,
			       (long long)live);
	}
	for (k = 0; k < nr_records; k++) {
		const struct page *page = &mm->pages[k];
		int64_t p = ids[k];
		if (p < 0)
			continue;
		if ((page->state == PAGE_MAPPED || page->state == PAGE_SWAPCACHE) && page->head < 0)
			bad_resident = true;
		if (is_swapped(page->state)) {
			if (page->slot < 0)
				bad_slot = true;
			else if (swap_slot_owner(mm, page->slot) != p)
				bad_owner = true;
		}
		if (page->slot >= 0)
			holding++;
		if (page->head >= 0) {
			in_folio++;
			if (page->head >= mm->nr_pages || mm->dir[page->head >> CHUNK_SHIFT] < 0 ||
			    !listed[page_index(mm, page->head)])
				bad_head = true;
		}
		if (page->state == PAGE_ZSWAP) {
			int64_t size = page_comp(mm, p);
			zswapped++;
			pool += size >= PAGE_SIZE ? PAGE_SIZE : (size + 15) / 16 * 16;
		}
	}
	if (bad_resident)
		REPORT("a resident page has no folio");
	if (bad_slot)
		REPORT("a swapped-out page has no swap slot");
	else if (bad_owner)
		REPORT("a swap slot does not point back at its page");
	if (mm->si.inuse_pages != holding)
		REPORT("swap slots in use %lld != pages holding one %lld",
		       (long long)mm->si.inuse_pages, (long long)holding);
	for (c = 0; c < mm->si.nr_slots; c++)
		owned += mm->si.slot_owner[c] != 0 && mm->si.slot_owner[c] != SWAP_HEADER_OWNER;
	if (owned != mm->si.inuse_pages)
		REPORT("slot owners and slots in use disagree");
	if (bad_head)
		REPORT("folios on the LRU differ from the folios pages belong to");
	if (folio_pages != in_folio)
		REPORT("LRU holds %lld pages, %lld pages are in folios", (long long)folio_pages,
		       (long long)in_folio);
	if (mm->resident != in_folio)
		REPORT("resident count %lld != pages in folios %lld", (long long)mm->resident,
		       (long long)in_folio);
	usage = in_folio + mm->memcg.stock + mm->memcg.pagetables +
		(mm->cfg.memcg_v2 ? mm->memcg.pool_pages_charged : 0);
	if (usage != mm->memcg.usage && !mm->vm_events[OOM_KILL])
		REPORT("memcg usage %lld != resident + stock (+ pool) %lld",
		       (long long)mm->memcg.usage, (long long)usage);
	if (zswapped != mm->zswap.lru.nr_live)
		REPORT("%lld pages in zswap, %lld entries on its LRU", (long long)zswapped,
		       (long long)mm->zswap.lru.nr_live);
	if (mm->cfg.zswap_enabled && pool != mm->zswap.bytes)
		REPORT("zswap pool %lld bytes != sum of entries %lld", (long long)mm->zswap.bytes,
		       (long long)pool);
	/* swap clusters and their search trees */
	{
		const struct swap_info_struct *si = &mm->si;
		int64_t leaves = si->leaves, i;
		bool bad_free = false, bad_t0 = false, bad_tk = false, bad_inner = false;
		for (c = 0; c < si->nr_clusters; c++) {
			int64_t used = 0, fc;
			int o;
			for (i = 0; i < SWAPFILE_CLUSTER; i++)
				used += si->slot_owner[c * SWAPFILE_CLUSTER + i] != 0;
			if (si->clusters[c].count_free != SWAPFILE_CLUSTER - used)
				bad_free = true;
			fc = free_class(si->clusters[c].count_free);
			if (si->trees[leaves + c] != fc)
				bad_t0 = true;
			for (o = 1; o < MAX_ORDER; o++) {
				int64_t want = si->clusters[c].order == o ? fc : -1;
				if (si->trees[(int64_t)o * 2 * leaves + leaves + c] != want)
					bad_tk = true;
			}
		}
		for (i = 0; i < MAX_ORDER && leaves > 1; i++) {
			const int16_t *t = si->trees + i * 2 * leaves;
			int64_t j;
			for (j = 1; j < leaves; j++)
				if (t[j] != (t[2 * j] > t[2 * j + 1] ? t[2 * j] : t[2 * j + 1]))
					bad_inner = true;
		}
		if (bad_free)
			REPORT("a cluster's free count disagrees with its slots");
		if (bad_t0)
			REPORT("the cluster search tree disagrees with the free counts");
		if (bad_tk)
			REPORT("an order's cluster search tree disagrees with the clusters");
		if (bad_inner)
			REPORT("a cluster search tree node is not the max of its children");
	}
	/* counters */
	if (mm->vm_events[PSWPOUT] < mm->vm_events[ZSWPWB])
		REPORT("zswpwb exceeds pswpout: written-back pages must count in pswpout");
	if (mm->vm_events[ZSWPIN] > mm->vm_events[ZSWPOUT])
		REPORT("zswpin exceeds zswpout");
	if (mm->vm_events[PGMAJFAULT] > mm->vm_events[PGFAULT])
		REPORT("pgmajfault exceeds pgfault");
	free(ids);
	free(listed);
	return nr;
}
