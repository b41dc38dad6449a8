// SPDX-License-Identifier: GPL-2.0-only
/*
 * Swap slot allocation (mm/swapfile.c): per-order clusters of SWAPFILE_CLUSTER
 * slots.
 *
 * A large folio gets an aligned run of contiguous slots inside a cluster that
 * serves its order; order 0 may also use any cluster with free slots
 * (fragmented clusters). Allocation fails when no aligned run is free: the
 * caller splits the folio (swpout_fallback). A device without SWP_BLKDEV (a
 * swapfile on a file system) has no large slots at all.
 *
 * Within its current cluster an order allocates forward only (the kernel's
 * global_cluster->next[order], or the per-CPU offset): past the cluster's end it
 * takes a nonfull cluster of its order (one with free slots: slots freed behind
 * the allocator), scanned from its start, before a free cluster, as
 * cluster_alloc_swap_entry() does; the live kernel's fault log showed it going
 * back to the holes of the cluster it had just filled. Page 0 is the swap
 * header, never a slot.
 *
 * Finding the next cluster with room is the kernel's list lookup
 * (free_clusters, nonfull_clusters[order], frag_clusters): here a search, in
 * cluster order from the last cluster taken, over max-trees of the clusters'
 * free classes (the largest power of two not above the free count): tree 0
 * over every cluster, tree k over the clusters serving order k (-1 elsewhere),
 * so it costs O(log clusters) however fragmented the device is.
 */
#include <stdlib.h>

#include "alloc.h"
#include "mm.h"

static inline void cluster_changed(struct swap_info_struct *si, int64_t c, int old_order);

int swap_info_init(struct swap_info_struct *si, int64_t nr_slots)
{
	int64_t nr_clusters = max64(1, nr_slots / SWAPFILE_CLUSTER), leaves = 1, i;
	int16_t *t0;
	while (leaves < nr_clusters)
		leaves <<= 1;
	si->nr_clusters = nr_clusters;
	si->nr_slots = nr_clusters * SWAPFILE_CLUSTER;
	si->leaves = leaves;
	si->inuse_pages = 0;
	si->free_cluster_scan = 0;
	for (i = 0; i < MAX_ORDER; i++)
		si->cur_cluster[i] = -1;
	si->slot_owner = mm_alloc((size_t)si->nr_slots * sizeof(int32_t), true);  /* 0: free */
	si->clusters = malloc((size_t)nr_clusters * sizeof(*si->clusters));
	si->trees = malloc((size_t)(MAX_ORDER + 1) * 2 * leaves * sizeof(int16_t));
	if (!si->slot_owner || !si->clusters || !si->trees) {
		swap_info_free(si);
		return -1;
	}
	for (i = 0; i < nr_clusters; i++) {
		si->clusters[i].order = -1;
		si->clusters[i].count_free = SWAPFILE_CLUSTER;
		si->clusters[i].next = 0;
	}
	for (i = 0; i < (MAX_ORDER + 1) * 2 * leaves; i++)
		si->trees[i] = -1;
	t0 = si->trees;
	for (i = 0; i < nr_clusters; i++)
		t0[leaves + i] = SWAPFILE_CLUSTER;
	for (i = leaves - 1; i > 0; i--)
		t0[i] = t0[2 * i] > t0[2 * i + 1] ? t0[2 * i] : t0[2 * i + 1];
	/* Page 0 holds the swap header (mkswap) and is never a slot: setup_clusters()
	 * counts it in cluster 0 and lists that cluster as a nonfull order-0 one, which
	 * cluster_alloc_swap_entry() takes before a free cluster, so the first order-0
	 * entry is offset 1 and the first large one starts the next cluster. Offsets
	 * here are the kernel's: cluster readahead aligns its window to them. */
	si->slot_owner[0] = SWAP_HEADER_OWNER;
	si->clusters[0].count_free = SWAPFILE_CLUSTER - 1;
	si->clusters[0].order = 0;
	si->clusters[0].next = 1;
	si->cur_cluster[0] = 0;
	cluster_changed(si, 0, -1);
	return 0;
}

void swap_info_free(struct swap_info_struct *si)
{
	free(si->slot_owner);
	free(si->clusters);
	free(si->trees);
	si->slot_owner = NULL;
	si->clusters = NULL;
	si->trees = NULL;
}

/* The largest power of two <= free (0 for a full cluster): a cluster's tree value. */
static inline int free_class(int64_t free)
{
	int c = 1;
	if (free <= 0)
		return 0;
	while (2 * c <= free)
		c *= 2;
	return c;
}

/* tree 0 is over every cluster, tree k (1 <= k < MAX_ORDER) over the clusters
 * serving order k, tree ORDER0_TREE over those serving order 0 */
#define ORDER0_TREE MAX_ORDER

static inline int16_t *tree(struct swap_info_struct *si, int k)
{
	return si->trees + (int64_t)k * 2 * si->leaves;
}

/* Set cluster c's value in max-tree k. */
static inline void tree_set(struct swap_info_struct *si, int k, int64_t c, int value)
{
	int16_t *t = tree(si, k);
	int64_t i = si->leaves + c;
	if (t[i] == value)
		return;
	t[i] = (int16_t)value;
	for (i >>= 1; i >= 1; i >>= 1) {
		int m = t[2 * i] > t[2 * i + 1] ? t[2 * i] : t[2 * i + 1];
		if (t[i] == m)
			break;
		t[i] = (int16_t)m;
	}
}

/* First cluster c in [lo, hi) whose value in tree k is >= need, or -1. */
static int64_t tree_first(struct swap_info_struct *si, int k, int64_t lo, int64_t hi, int need)
{
	int16_t *t = tree(si, k);
	int64_t leaves = si->leaves, i, c;
	if (lo >= hi)
		return -1;
	i = leaves + lo;
	if (t[i] < need) {
		for (;;) {
			while (i & 1) {
				i >>= 1;
				if (i <= 1)
					return -1;
			}
			i += 1;
			if (t[i] >= need)
				break;
		}
		while (i < leaves)
			i = t[2 * i] >= need ? 2 * i : 2 * i + 1;
	}
	c = i - leaves;
	return c < hi ? c : -1;
}

/* Keep the trees in step after cluster c's free count or order changed. */
static inline void cluster_changed(struct swap_info_struct *si, int64_t c, int old_order)
{
	int o = si->clusters[c].order, free = free_class(si->clusters[c].count_free);
	tree_set(si, 0, c, free);
	if (old_order != o && old_order >= 0)
		tree_set(si, old_order ? old_order : ORDER0_TREE, c, -1);
	if (o >= 0)
		tree_set(si, o ? o : ORDER0_TREE, c, free);
}

/* alloc_swap_scan_cluster(): the first free aligned run of nr slots in cluster c
 * at or after offset `from` in it, scanning towards the cluster's end only, or -1. */
static int64_t run_in_cluster(struct swap_info_struct *si, int64_t c, int64_t nr, int64_t from)
{
	int64_t base = c * SWAPFILE_CLUSTER, off = ((from + nr - 1) / nr) * nr;
	const int32_t *owners = si->slot_owner + base;
	for (; off + nr <= SWAPFILE_CLUSTER; off += nr) {
		int64_t i;
		for (i = 0; i < nr; i++)
			if (owners[off + i])
				break;
		if (i == nr)
			return base + off;
	}
	return -1;
}

static inline void take(struct mm *mm, int64_t c, int64_t s, int64_t nr, int64_t first_page,
			int old_order)
{
	struct swap_info_struct *si = &mm->si;
	int64_t i;
	for (i = 0; i < nr; i++)
		si->slot_owner[s + i] = (int32_t)(first_page + i + 1);
	si->clusters[c].count_free -= (int32_t)nr;
	/* the next allocation of this order goes on from here; past the cluster's end,
	 * or with the cluster full, it takes a new cluster (SWAP_ENTRY_INVALID) */
	si->clusters[c].next = (int32_t)(s - c * SWAPFILE_CLUSTER + nr);
	if (si->clusters[c].count_free == 0)
		si->clusters[c].next = SWAPFILE_CLUSTER;
	si->inuse_pages += nr;
	cluster_changed(si, c, old_order);
}

/* The first cluster at or after start, wrapping around, with value >= need in tree k. */
static inline int64_t first_from(struct swap_info_struct *si, int k, int64_t start, int need)
{
	int64_t c = tree_first(si, k, start, si->nr_clusters, need);
	if (c < 0)
		c = tree_first(si, k, 0, start, need);
	return c;
}

/* folio_alloc_swap(): slots for a folio of this order; the first slot, or -1. */
int64_t folio_alloc_swap(struct mm *mm, int order, int64_t first_page)
{
	struct swap_info_struct *si = &mm->si;
	int64_t nr = (int64_t)1 << order, cur = si->cur_cluster[order], start, c;
	int k;
	/* cluster_alloc_swap_entry(): "Swapfile is not block device so unable to
	 * allocate large entries" (a swapfile on a file system has no SWP_BLKDEV) */
	if (order > 0 && !(mm->cfg.swp_flags & SWP_BLKDEV))
		return -1;
	if (cur >= 0 && si->clusters[cur].order == order && si->clusters[cur].count_free >= nr &&
	    si->clusters[cur].next < SWAPFILE_CLUSTER) {
		int64_t s = run_in_cluster(si, cur, nr, si->clusters[cur].next);
		if (s >= 0) {
			take(mm, cur, s, nr, first_page, order);
			return s;
		}
	}
	/* new_cluster: a nonfull cluster of this order (it has room: slots freed since
	 * it was last allocated from), scanned from its start, before a free one */
	start = si->free_cluster_scan;
	{
		int k = order ? order : ORDER0_TREE;
		int64_t lo = cur >= 0 ? cur : start, pass;
		for (pass = 0; pass < 2; pass++) {
			int64_t a = pass == 0 ? lo : 0, b = pass == 0 ? si->nr_clusters : lo;
			while (a < b) {
				int64_t s;
				c = tree_first(si, k, a, b, (int)nr);
				if (c < 0)
					break;
				s = run_in_cluster(si, c, nr, 0);
				if (s >= 0) {
					si->cur_cluster[order] = c;
					take(mm, c, s, nr, first_page, order);
					return s;
				}
				a = c + 1;
			}
		}
	}
	/* a free cluster becomes this order's current cluster */
	c = first_from(si, 0, start, SWAPFILE_CLUSTER);
	if (c >= 0) {
		int old = si->clusters[c].order;
		si->clusters[c].order = order;
		si->clusters[c].next = 0;
		si->cur_cluster[order] = c;
		si->free_cluster_scan = c;
		take(mm, c, c * SWAPFILE_CLUSTER, nr, first_page, old);
		return c * SWAPFILE_CLUSTER;
	}
	/* no free cluster: nonfull clusters of this order, then (order 0) fragmented
	 * ones, in cluster order from the scan position */
	for (k = 0; k < 2; k++) {
		int64_t lo = k == 0 ? start : 0, hi = k == 0 ? si->nr_clusters : start;
		while (lo < hi) {
			int64_t s;
			c = tree_first(si, order, lo, hi, (int)nr);
			if (c < 0)
				break;
			s = run_in_cluster(si, c, nr, 0);    /* a listed cluster: from its start */
			if (s >= 0) {
				si->cur_cluster[order] = c;
				take(mm, c, s, nr, first_page, si->clusters[c].order);
				return s;
			}
			lo = c + 1;
		}
	}
	return -1;
}

/* swap_entries_free() for one slot: the slot and its cluster count are released. */
void swap_free_slot(struct mm *mm, int64_t s)
{
	struct swap_info_struct *si = &mm->si;
	int64_t c;
	int old;
	if (s < 0 || !si->slot_owner[s])
		return;
	si->slot_owner[s] = 0;
	c = s / SWAPFILE_CLUSTER;
	old = si->clusters[c].order;
	si->clusters[c].count_free++;
	si->inuse_pages--;
	if (si->clusters[c].count_free == SWAPFILE_CLUSTER) {
		si->clusters[c].order = -1;
		si->clusters[c].next = 0;
	}
	cluster_changed(si, c, old);
}
