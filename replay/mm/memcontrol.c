// SPDX-License-Identifier: GPL-2.0-only
/*
 * Memory cgroup charging (mm/memcontrol.c, mm/page_counter.c): try_charge_memcg()
 * with the per-CPU charge stock, and what is charged to the page counter.
 */
#include "mm.h"

/* page_counter_uncharge(): pages freed go straight back (not through the stock). */
void page_counter_uncharge(struct mm *mm, int64_t nr)
{
	mm->memcg.usage -= nr;
	mm->resident -= nr;
}

/*
 * obj_cgroup_{charge,uncharge}_zswap(): the zswap pool is charged to the memcg on
 * cgroup v2. Charged from reclaim context, so it may exceed the limit (the next
 * charge reclaims). Byte charges are rounded to pages as the obj stock does in
 * the end.
 */
void obj_cgroup_charge_zswap(struct mm *mm, int64_t delta_bytes)
{
	mm->zswap.bytes += delta_bytes;
	if (mm->zswap.bytes > mm->peak_pool_bytes)
		mm->peak_pool_bytes = mm->zswap.bytes;
	if (mm->cfg.memcg_v2) {
		int64_t pages = (mm->zswap.bytes + 4095) >> 12;
		mm->memcg.usage += pages - mm->memcg.pool_pages_charged;
		mm->memcg.pool_pages_charged = pages;
	}
}

/* refill_stock(), with drain_stock() past MEMCG_CHARGE_BATCH. */
static inline void refill_stock(struct mm *mm, int64_t nr)
{
	mm->memcg.stock += nr;
	if (mm->memcg.stock > MEMCG_CHARGE_BATCH) {
		mm->memcg.usage -= mm->memcg.stock;
		mm->memcg.stock = 0;
	}
}

/*
 * try_charge_memcg(): charge nr pages, reclaiming when over the limit.
 *
 * may_reclaim is whether the gfp mask allows direct reclaim (order 0 always;
 * large folios only in a MADV_HUGEPAGE region with defrag=madvise). Returns
 * false when the charge fails; an order-0 charge that cannot be met counts an
 * OOM kill and is forced, so the state stays whole: the replay loop then ends
 * this policy's replay (oom=kill, the kernel kills the workload) or goes on
 * (oom=continue). Left out: memory.high, the OOM killer's victim selection.
 */
static bool charge_memcg(struct mm *mm, int64_t nr, bool may_reclaim, bool anon)
{
	struct mem_cgroup *memcg = &mm->memcg;
	int64_t limit = mm->cfg.limit_pages, batch, loops = 0;
	int retries = MAX_RECLAIM_RETRIES;
	bool drained = false;
	if (mm->cfg.exact_lru) {
		int64_t over = memcg->usage + nr - limit;
		if (over > 0)
			exact_lru_evict(mm, over);
		memcg->usage += nr;
		if (anon)
			note_resident(mm, nr);
		return true;
	}
	if (mm->cfg.charge_stock && memcg->stock >= nr) {
		memcg->stock -= nr;
		if (anon)
			note_resident(mm, nr);
		return true;
	}
	batch = mm->cfg.charge_stock ? max64(MEMCG_CHARGE_BATCH, nr) : nr;
	for (;;) {
		int64_t reclaimed;
		loops++;
		if (memcg->usage + batch <= limit) {
			memcg->usage += batch;
			if (batch > nr)
				refill_stock(mm, batch - nr);
			if (anon)
				note_resident(mm, nr);
			return true;
		}
		if (batch > nr) {
			batch = nr;
			continue;
		}
		if (!may_reclaim)
			return false;
		reclaimed = try_to_free_mem_cgroup_pages(mm, nr);
		if (mem_cgroup_margin(mm) >= nr)
			continue;
		if (!drained) {
			memcg->usage -= memcg->stock;
			memcg->stock = 0;
			drained = true;
			continue;
		}
		if (reclaimed && nr <= (1 << PAGE_ALLOC_COSTLY_ORDER) && loops < 1024)
			continue;
		if (retries > 0) {
			retries--;
			continue;
		}
		if (nr > (1 << PAGE_ALLOC_COSTLY_ORDER))
			return false;             /* costly orders skip the OOM killer */
		count_vm_event(mm, OOM_KILL);
		memcg->oom = true;
		memcg->usage += nr;
		if (anon)
			note_resident(mm, nr);
		return true;
	}
}

bool try_charge_memcg(struct mm *mm, int64_t nr, bool may_reclaim)
{
	return charge_memcg(mm, nr, may_reclaim, true);
}

/*
 * A page table page: GFP_PGTABLE_USER has __GFP_ACCOUNT, so pte_alloc_one()
 * charges it to the memcg (memory.stat "pagetables"; v1 charges kmem to the
 * memory counter too), reclaiming like any charge. Not an anon page: not on
 * the LRU, not resident anon memory.
 */
void memcg_charge_pagetable(struct mm *mm)
{
	charge_memcg(mm, 1, true, false);
	mm->memcg.pagetables++;
	count_replay_stats(mm, PAGETABLE_PAGES, 1);
}
