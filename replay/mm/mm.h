/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The model of Linux v6.18's anonymous-memory path: its state and functions.
 *
 * One `struct mm` is the state of one replay (one policy): the pages of the
 * replayed address space, the memcg with its lruvec, the swap device
 * (swap_info_struct with its clusters), the zswap pool, the readahead state,
 * the counters and the simulated time. Each .c file of this folder models the
 * kernel file of the same name (memory.c, vmscan.c, swapfile.c, swap_state.c,
 * page_io.c, zswap.c, memcontrol.c, workingset.c), with the kernel's function
 * names; each function says which kernel function it models and what it
 * leaves out.
 *
 * Pages are named by dense ids (the rank of the trace's 2 MiB block * 512 +
 * the offset in it, so folio alignment is the trace's); a folio is named by
 * its head page. Only the pages a replay can reach have a record: a directory
 * maps each 16-page chunk of the id space to its records (mm->dir), so memory
 * grows with the pages touched, not with the address space.
 */
#ifndef REPLAY_MM_H
#define REPLAY_MM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmstat.h"

#define PAGE_SHIFT 12
#define PAGE_SIZE 4096
#define MAX_ORDER 10                /* orders 0..9 are counted (PMD order 9 = 2M) */
#define HPAGE_PMD_ORDER 9
#define HPAGE_PMD_NR 512
#define SWAPFILE_CLUSTER 512
#define MEMCG_CHARGE_BATCH 64
#define SWAP_CLUSTER_MAX 32
#define MAX_RECLAIM_RETRIES 16
#define PAGE_ALLOC_COSTLY_ORDER 3
#define CHUNK_SHIFT 4               /* the directory maps 16-page chunks */
#define CHUNK_PAGES (1 << CHUNK_SHIFT)

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* Where a page is. Every page the trace touched is in exactly one place. */
enum page_state {
	PAGE_NONE = 0,      /* never touched: pte_none */
	PAGE_MAPPED,        /* resident, mapped by a PTE, part of the folio page->head */
	PAGE_SWAPCACHE,     /* resident in the swap cache, not mapped (e.g. read ahead) */
	PAGE_ZSWAP,         /* swapped out, stored in zswap */
	PAGE_DEVICE,        /* swapped out, on the swap device (or zram) */
	PAGE_ZEROMAP,       /* swapped out in a zero-filled folio: its swap_zeromap bit */
	PAGE_ZEROPAGE,      /* mapped to the shared zero page (first read, never written) */
	PAGE_FREED,         /* MADV_DONTNEED / munmap: pte_none again */
	NR_PAGE_STATES
};

static inline bool is_swapped(int state)
{
	return state == PAGE_ZSWAP || state == PAGE_DEVICE || state == PAGE_ZEROMAP;
}

/* Folio flags (include/linux/page-flags.h), kept at the folio's head page. */
enum pageflags {
	PG_active = 1 << 0,
	PG_referenced = 1 << 1,
	PG_dirty = 1 << 2,             /* PG_dirty (a write also marks its PTE: page->pte_dirty) */
	PG_workingset = 1 << 3,
	PG_swapcache = 1 << 4,         /* the folio holds swap slots */
	PG_lru = 1 << 5,
	PG_readahead = 1 << 6,         /* brought in by readahead, not yet hit */
	PG_partially_mapped = 1 << 7,  /* a PTE of it was zapped: on the deferred split queue */
};

/*
 * One 4 KiB page of the replayed address space: one cache line. The folio
 * fields (flags, order, LRU position) are valid at the folio's head page. The
 * second half is what the trace says about the page (its compressed size and
 * codec times, whether it is zero filled, its VMA): the same in every policy's
 * model, kept here so that a fault finds everything about a page in one line.
 */
struct page {
	uint8_t state;        /* enum page_state */
	uint8_t young;        /* the PTE's accessed bit */
	uint8_t used;         /* 1: swapped in and not accessed since; 2: accessed since */
	uint8_t backing;      /* a swap cache page: where its clean copy is (PAGE_DEVICE,
	                       * PAGE_ZEROMAP) or 0 when only memory holds it */
	uint8_t flags;        /* enum pageflags, at the head */
	int8_t order;         /* folio order, at the head */
	uint8_t zs_referenced; /* zswap_entry.referenced (the shrinker's second chance) */
	uint8_t in_unit;      /* stored as part of a multi-page compression unit */
	int32_t head;         /* the folio's head page, -1 when in no folio */
	int32_t slot;         /* swap offset, -1 when none */
	int64_t lru_pos;      /* the folio's position in its LRU list (struct lru_log), -1 none */
	int64_t zs_pos;       /* the zswap entry's position in the zswap LRU, -1 none */
	int64_t shadow;       /* workingset shadow: eviction age << 1 | workingset, or -1 */
	/* what the trace says about the page */
	int32_t c_ns, d_ns;   /* compress / decompress ns of the page alone */
	uint16_t comp;        /* compressed bytes of the page alone (at most PAGE_SIZE) */
	uint16_t vma_start, vma_end;   /* its VMA's bounds [start, end) in its 2 MiB block */
	uint8_t zero;         /* zero filled */
	uint8_t hugepage;     /* MADV_HUGEPAGE */
	/* the page's PTE */
	uint8_t pte_dirty;    /* written since its folio last left memory (folio_test_dirty()) */
	uint8_t tlb_order;    /* the order of the translation that maps it: its folio's, or 0
	                       * when the folio is partly mapped (no contpte, no coalescing) */
	uint8_t written;      /* holds the data the trace gives it: written since its folio
	                       * was allocated (or touched at all, when a first read
	                       * allocates); 0: still the zeros the folio came with (a
	                       * page the zero page maps keeps it: zero data stays zero) */
	uint8_t pad[5];
} __attribute__((aligned(64)));

/* The page holds only zero bytes: its data is zero filled, or it was never written
 * since its folio was allocated zeroed (folio_zero_user()). */
static inline bool page_zero_filled(const struct page *page)
{
	return page->zero || !page->written;
}

/*
 * With multi-page compression units (replay/mm/costs.h), each page's share of
 * its unit's stored bytes and the whole unit's codec times, indexed like the
 * page records (arrays owned by Python; read only for pages stored in a unit).
 */
struct unit_info {
	const int32_t *comp;
	const int32_t *c_ns, *d_ns;
};

/*
 * An LRU list as the kernel's list_head is used for the anon LRU lists and the
 * zswap LRU: entries added at one end, deleted anywhere, taken from the other
 * end. Kept as a log: a ring of the pages in the order they were added, each
 * page remembering its position; deleting only forgets the position (the
 * entry goes stale and is skipped later), and walking from the oldest end
 * reads the ring in order, so the next entries' records can be prefetched
 * instead of chasing pointers. The order is exactly the list's.
 */
struct lru_log {
	int32_t *ring;
	int64_t first, next;      /* entries [first, next) by position; ring[pos & mask] */
	int64_t scout;            /* entries before it have had their records prefetched */
	int64_t mask;
	int64_t nr_live;          /* entries not deleted */
};

/* Settings of a replay (replay.model.config.ModelConfig), as the kernel sees them. */
enum swp_flags {                /* swap_info_struct->flags that the model reads */
	SWP_BLKDEV = 1 << 0,        /* a block device (large slots may be allocated) */
	SWP_SOLIDSTATE = 1 << 1,    /* not rotational: VMA readahead */
	SWP_SYNCHRONOUS_IO = 1 << 2, /* zram, pmem: the swap cache is bypassed */
	SWP_COMPRESSED = 1 << 3,    /* the device compresses what it stores (zram): stored
	                             * bytes are counted and codec time is booked */
};

struct mm_config {
	int64_t limit_pages;        /* memory.max / memory.limit_in_bytes */
	unsigned orders;            /* enabled mTHP orders (bit k: order k) */
	bool thp_always;            /* the enabled sizes apply to every VMA, else MADV_HUGEPAGE */
	unsigned swp_flags;         /* enum swp_flags */
	bool zswap_enabled;         /* zswap in front of the device */
	bool zswap_ever_enabled;    /* !zswap_never_enabled() */
	int64_t zswap_pool_limit_bytes;
	int64_t zswap_accept_bytes;
	bool zswap_shrinker;        /* zswap.shrinker_enabled */
	bool zswap_writeback;       /* memory.zswap.writeback (cgroup v2) */
	int64_t zswap_max_bytes;    /* memory.zswap.max (cgroup v2), -1 = max */
	int64_t swap_slots;
	int page_cluster;
	bool exact_lru;             /* reclaim is a plain LRU (cache-simulator mode) */
	bool memcg_v2;              /* the zswap pool is charged to the memcg */
	bool first_read_allocates;  /* a first read allocates instead of mapping the zero page */
	bool charge_guard;          /* Barry Song's charge-margin guard on large swap-ins */
	bool swap_full_half;        /* vm_swap_full() frees slots past half use */
	bool charge_stock;          /* the per-CPU charge stock (off in exact-LRU mode) */
	bool oom_kill;              /* an OOM kill ends the replay */
	int view;                   /* enum policy_view: how much of the view the policy reads */
	int backend_code;           /* V_BACKEND in the policy view: 0 zswap, 1 zram, 2 disk */
	/* a page never written since its folio was allocated holds zeros: what the codec
	 * makes of a zero page (-1: use the page's own figures) */
	int32_t zero_comp, zero_c_ns, zero_d_ns;
};

/* The memcg: its page counter and per-CPU charge stock (mm/memcontrol.c). */
struct mem_cgroup {
	int64_t usage;              /* page_counter usage: anon pages + stock (+ zswap pool, v2) */
	int64_t stock;              /* memcg_stock_pcp.nr_pages */
	int64_t pool_pages_charged; /* zswap pool pages charged (v2) */
	int64_t pagetables;         /* PTE tables charged (kmem, never uncharged in a replay) */
	bool oom;                   /* could not make room: the workload is OOM-killed */
};

/* The memcg's anon lruvec (classic active/inactive LRU). */
enum lru_list { LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, NR_LRU_LISTS };

struct lruvec {
	struct lru_log lists[NR_LRU_LISTS];
	int64_t nr_inactive, nr_active;   /* pages */
	int64_t nonresident_age;
	int64_t refaults_snapshot;        /* workingset activations at the last reclaim */
};

/* zswap's pool and the memcg's zswap LRU (mm/zswap.c). */
struct zswap_pool {
	struct lru_log lru;               /* entries by page, the oldest first; lru.nr_live
	                                   * is the number stored */
	int64_t bytes;
	bool reached_full;                /* zswap_pool_reached_full */
	int64_t nr_disk_swapins;          /* zswap_lruvec_state.nr_disk_swapins */
	int64_t nr_deferred;              /* the shrinker's nr_deferred */
};

struct swap_cluster_info {
	int32_t order;                    /* the order it serves, -1 when free */
	int32_t count_free;
	int32_t next;                     /* next offset to try inside it */
};

/* The swap device (mm/swapfile.c): slots, clusters and search trees over them. */
struct swap_info_struct {
	int64_t nr_slots;
	int64_t inuse_pages;
	int32_t *slot_owner;              /* page + 1 holding each slot, 0 = free */
	struct swap_cluster_info *clusters;
	int64_t nr_clusters;
	int64_t leaves;                   /* per tree: clusters rounded up to a power of two */
	int16_t *trees;                   /* MAX_ORDER max-trees of 2 * leaves nodes */
	int64_t cur_cluster[MAX_ORDER];   /* this order's current cluster, -1 none */
	int64_t free_cluster_scan;
};

/* Swap readahead state (mm/swap_state.c). */
struct swap_ra_info {
	int64_t hits;                     /* swapin_readahead_hits */
	int64_t prev_offset;              /* cluster readahead */
	int64_t prev_win;
	int64_t prev_page;                /* VMA readahead */
	int64_t vma_win;
};

/* Simulated time (replay/mm/costs.h), picoseconds. */
enum cost_param {
	CP_FAULT_ENTRY, CP_ANON_FAULT_4K, CP_CLEAR_PAGE, CP_PTE_BATCH, CP_PTE, CP_RMAP_FOLIO,
	CP_RMAP_PAGE, CP_CHARGE, CP_CHARGE_REFILL, CP_LRU_ADD, CP_RECLAIM_SCAN,
	CP_RECLAIM_UNMAP, CP_SWAP_CACHE, CP_SLOT_ALLOC, CP_ZSWAP_STORE, CP_ZSWAP_LOAD,
	CP_ZRAM_READ, CP_ZRAM_WRITE, CP_DEV_READ_LAT, CP_DEV_READ_PAGE, CP_DEV_WRITE_PAGE,
	CP_TLB_L2, CP_TLB_WALK,
	NR_COST_PARAMS
};

struct replay_time {
	bool on;                          /* costs are booked */
	int unit_shift;                   /* log2 pages of the compression unit */
	int64_t kernel, fault, swapin, reclaim, compress, decompress, io;
	bool io_pending;                  /* the current fault read from the device */
	int64_t last_unit;                /* unit decompressed by the current large read */
	int64_t swpin_folios[MAX_ORDER];
	int64_t cp[NR_COST_PARAMS];
};

struct tlb;

/* How much of the view a policy reads (replay.policies.base.VIEW_LEVELS). */
enum policy_view { VIEW_NONE = 0, VIEW_RANGES = 1, VIEW_ALL = 2 };

/* The policy view's slots (replay/policies/base.py documents them). */
enum {
	V_CANDIDATES = 0, V_BACKEND = 1, V_SYNC_IO = 2, V_ZSWAP_EVER = 3, V_MARGIN = 4,
	V_WRITE = 5, V_YOUNG_NEAR = 6, V_ADJACENT = 7, V_HUGEPAGE = 8,
	V_ZSWAP = 16, V_DEVICE = 32, V_ZEROMAP = 48, VIEW_SIZE = 64
};

typedef int64_t (*swapin_policy_fn)(const int64_t *view);

/* A fault log entry: the access, the page, its swap slot, 1 for a swap cache hit. */
#define FAULT_LOG_FIELDS 4

struct mm {
	int64_t nr_pages;                 /* the dense id space */
	const int32_t *dir;               /* records of each 16-page chunk (index), -1 none */
	bool identity;                    /* every chunk has its records, in order: record = id */
	struct page *pages;
	uint8_t *pte_tables;              /* per 2 MiB block of the id space: has its PTE table */
	struct unit_info units;
	struct mm_config cfg;
	struct mem_cgroup memcg;
	struct lruvec lruvec;
	struct zswap_pool zswap;
	struct swap_info_struct si;
	struct swap_ra_info ra;
	unsigned long vm_events[NR_VM_EVENT_ITEMS];
	unsigned long mthp_stats[MAX_ORDER][__MTHP_STAT_COUNT];
	unsigned long replay_stats[NR_REPLAY_STAT_ITEMS];
	struct replay_time time;
	struct tlb *tlb, *tlb_shadow;     /* the TLB model and its 4K-only copy, or NULL */
	swapin_policy_fn policy;
	int64_t view[VIEW_SIZE];
	int64_t resident, peak_resident;  /* pages resident (mapped + swap cache) */
	int64_t peak_pool_bytes;
	int64_t last_fault_page;          /* the previous major fault (V_ADJACENT) */
	int64_t accesses;                 /* replayed so far */
	int64_t fault_access;             /* the access being faulted (0-based, whole replay) */
	int64_t *fault_log;               /* diagnostic: FAULT_LOG_FIELDS per fault on a swap PTE */
	int64_t fault_log_len, fault_log_cap;   /* in int64s */
	int64_t trace_ns;                 /* trace time of the last access replayed */
};

/* The index of page p's record (and of its unit_info entries). */
static inline int64_t page_index(const struct mm *mm, int64_t p)
{
	if (mm->identity)        /* a trace that touches (nearly) all of its blocks */
		return p;
	return ((int64_t)mm->dir[p >> CHUNK_SHIFT] << CHUNK_SHIFT) | (p & (CHUNK_PAGES - 1));
}

static inline struct page *page_at(struct mm *mm, int64_t p)
{
	return &mm->pages[page_index(mm, p)];
}

/* Page p's record for reading where p may be a page the replay never reaches
 * (a scan around a fault): such a page is pte_none. */
extern const struct page page_none;

static inline const struct page *page_peek(const struct mm *mm, int64_t p)
{
	int32_t c;
	if (mm->identity)
		return &mm->pages[p];
	c = mm->dir[p >> CHUNK_SHIFT];
	if (c < 0)
		return &page_none;
	return &mm->pages[((int64_t)c << CHUNK_SHIFT) | (p & (CHUNK_PAGES - 1))];
}

static inline struct page *folio_of(struct mm *mm, const struct page *page)
{
	return page_at(mm, page->head);
}

/* The page's VMA bounds [start, end) as dense ids. */
static inline int64_t vma_start(const struct page *page, int64_t p)
{
	return (p & ~(int64_t)(HPAGE_PMD_NR - 1)) + page->vma_start;
}

static inline int64_t vma_end(const struct page *page, int64_t p)
{
	return (p & ~(int64_t)(HPAGE_PMD_NR - 1)) + page->vma_end;
}

static inline int64_t folio_nr_pages(const struct page *head)
{
	return (int64_t)1 << head->order;
}

static inline void count_vm_events(struct mm *mm, enum vm_event_item item, long delta)
{
	mm->vm_events[item] += delta;
}

static inline void count_vm_event(struct mm *mm, enum vm_event_item item)
{
	mm->vm_events[item]++;
}

static inline void count_mthp_stat(struct mm *mm, int order, enum mthp_stat_item item)
{
	mm->mthp_stats[order][item]++;
}

static inline void count_replay_stats(struct mm *mm, enum replay_stat_item item, long delta)
{
	mm->replay_stats[item] += delta;
}

static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* memory.c */
void handle_mm_fault(struct mm *mm, int64_t p, bool write);
void madvise_pageout(struct mm *mm, int64_t p);
void zap_page(struct mm *mm, int64_t p);
unsigned thp_vma_allowable_orders(struct mm *mm, int64_t p);
int64_t fill_view(struct mm *mm, int64_t p, bool write, int64_t *view);

/* vmscan.c */
int64_t split_folio(struct mm *mm, int64_t h);
int64_t try_to_free_mem_cgroup_pages(struct mm *mm, int64_t nr_pages);
int64_t exact_lru_evict(struct mm *mm, int64_t nr_pages);
int64_t reclaim_pages(struct mm *mm, int64_t h);

/* memcontrol.c */
bool try_charge_memcg(struct mm *mm, int64_t nr, bool may_reclaim);
void memcg_charge_pagetable(struct mm *mm);
void page_counter_uncharge(struct mm *mm, int64_t nr);
void obj_cgroup_charge_zswap(struct mm *mm, int64_t delta_bytes);

static inline int64_t mem_cgroup_margin(const struct mm *mm)
{
	return max64(0, mm->cfg.limit_pages - mm->memcg.usage);
}

/* swapfile.c */
int64_t folio_alloc_swap(struct mm *mm, int order, int64_t first_page);
void swap_free_slot(struct mm *mm, int64_t slot);
int swap_info_init(struct swap_info_struct *si, int64_t nr_slots);
void swap_info_free(struct swap_info_struct *si);

/* slot_owner of slot 0, the swap header's page: taken, and no page's */
#define SWAP_HEADER_OWNER (-1)

static inline int64_t swap_slot_owner(const struct mm *mm, int64_t slot)
{
	return (int64_t)mm->si.slot_owner[slot] - 1;
}

/* swap_state.c */
void swapin_readahead(struct mm *mm, int64_t p);

/* page_io.c */
bool swap_writeout(struct mm *mm, int64_t h, int order);
int swap_read_page(struct mm *mm, int64_t p);
void free_swap_slot_of(struct mm *mm, int64_t p);

/* zswap.c */
bool zswap_store(struct mm *mm, int64_t h, int order);
void zswap_load(struct mm *mm, int64_t p);
void zswap_invalidate(struct mm *mm, int64_t p);
int64_t zswap_entry_bytes(struct mm *mm, int64_t p);
int64_t zswap_shrinker_count(struct mm *mm);
int64_t shrink_slab(struct mm *mm, int priority);
void zswap_select_unit(struct mm *mm, int64_t h, int order);

static inline void zswap_folio_swapin(struct mm *mm)
{
	/* zswap_folio_swapin(): a folio was read from the swap device (not found in
	 * zswap); the shrinker holds back that many entries at its next count. */
	mm->zswap.nr_disk_swapins++;
}

/* workingset.c */
int64_t workingset_eviction(struct mm *mm, int64_t h, int64_t nr);
void workingset_refault(struct mm *mm, int64_t h, int64_t shadow, int64_t nr);

/* the resident-page count and its peak */
static inline void note_resident(struct mm *mm, int64_t nr)
{
	mm->resident += nr;
	if (mm->resident > mm->peak_resident)
		mm->peak_resident = mm->resident;
}

#endif
