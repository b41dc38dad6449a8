// SPDX-License-Identifier: GPL-2.0-only
/*
 * folio-replay native replayer: replays an exported trace in a real process
 * confined to a memcg, so the live kernel's counters can be compared with the
 * simulator's (see docs/validation.md and replay/live/).
 *
 * Built on first use by replay/live/native.py with the system `cc`; the
 * binary is cached by source hash. Protocol with the parent (one line each,
 * on stdout; the parent answers on stdin):
 *
 *   replayer -> "ready <region address> <region bytes>"    (joined, mapped)
 *   parent   -> "g"                  (counters snapshotted; start replaying)
 *   replayer -> "done {json}"        (replay finished, process still alive)
 *   parent   -> closes stdin         (counters snapshotted again; exit)
 *
 * Order of events, which makes the counters repeatable (live-kernel.md):
 *   1. read the whole export file and allocate all bookkeeping;
 *   2. grow the stack, open cgroup.procs and memory.stat, mlockall(MCL_CURRENT):
 *      everything so far is resident and charged to the parent's memcg;
 *   3. write our pid into the memcg's cgroup.procs;
 *   4. map the replayed region (2 MiB aligned, MADV_HUGEPAGE per 2 MiB block
 *      when asked): only it is charged to the memcg;
 *   5. replay: the first touch of a page writes its whole content (so the
 *      kernel allocates a page instead of mapping the shared zero page),
 *      later reads load one word, writes store one word (a locked OR of 0:
 *      a write fault that keeps the page's content, which the model
 *      compressed), pageout = MADV_PAGEOUT, free = MADV_DONTNEED (the next
 *      touch is a first touch again);
 *      memory.stat is read every --flush-every records, which flushes the
 *      memcg statistics that workingset refault activation reads;
 *   6. with --fault-log OUT: before each read or write of a page whose PTE is a
 *      swap entry (/proc/self/pagemap), log the record, the page, the pagemap
 *      entry and the major faults the access took (getrusage before and after;
 *      up to 2^21 accesses); written to OUT (u64 each, four per access) after
 *      the replay.
 *
 * Export file (little endian), written by replay/live/native.py:
 *   header: "FRPLAY02", u32 version, u32 header bytes, u64 n_records,
 *           u64 n_pages, u64 n_contents, u64 records_off, u64 content_ids_off,
 *           u64 hugepage_off, u64 contents_off
 *   records:     u32 per record: dense page id << 2 | op (0 read, 1 write,
 *                2 pageout, 3 free)
 *   content_ids: u32 per dense page: index into contents, or 0xffffffff for
 *                an all-zero page
 *   hugepage:    u8 per 2 MiB block: 1 when the trace's region asks
 *                MADV_HUGEPAGE
 *   contents:    n_contents distinct pages of 4096 bytes: the bytes the model
 *                compresses for those pages (replay.costs: recorded bytes, or
 *                the sample page of the page's content class)
 *
 * Exit codes: 0 ok, 2 bad arguments or file, 3 system call failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define PAGE_SIZE 4096UL
#define BLOCK_PAGES 512UL
#define BLOCK_BYTES (PAGE_SIZE * BLOCK_PAGES)
#define MAGIC "FRPLAY02"
#define FORMAT_VERSION 2
#define ZERO_CONTENT 0xffffffffU

enum { OP_READ, OP_WRITE, OP_PAGEOUT, OP_FREE };

struct header {
	char magic[8];
	uint32_t version;
	uint32_t header_bytes;
	uint64_t n_records;
	uint64_t n_pages;
	uint64_t n_contents;
	uint64_t records_off;
	uint64_t content_ids_off;
	uint64_t hugepage_off;
	uint64_t contents_off;
};

static char stat_buf[1 << 16];      /* memory.stat is read into this (bss: locked) */
static char line_buf[1024];

static void die(int code, const char *fmt, ...)
{
	va_list ap;
	char msg[512];
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = snprintf(line_buf, sizeof(line_buf), "replayer: error: %s\n", msg);
	if (write(2, line_buf, (size_t)n) < 0)
		_exit(code);
	_exit(code);
}

static void put_line(const char *fmt, ...)
{
	va_list ap;
	int n;
	size_t off = 0;

	va_start(ap, fmt);
	n = vsnprintf(line_buf, sizeof(line_buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line_buf))
		die(3, "status line too long");
	while (off < (size_t)n) {
		ssize_t w = write(1, line_buf + off, (size_t)n - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			die(3, "write to parent: %s", strerror(errno));
		}
		off += (size_t)w;
	}
}

/* ---------------------------------------------------------------- state */

struct replay {
	const struct header *h;
	const uint32_t *records;
	const uint32_t *content_ids;
	const uint8_t *hugepage;
	const uint8_t *contents;
	uint64_t *touched;          /* bitmap: page holds its content */
	uint8_t *region;
	int stat_fd;
	unsigned long flush_every;
	int verify;
	int coalesce_pageout;
	/* --fault-log: for each read or write of a page whose PTE is a swap entry, the
	 * record, the page, its /proc/self/pagemap entry (swap type and offset) and the
	 * major faults the access took (1: read from swap; 0: a swap cache hit) */
	int pagemap_fd;
	uint64_t *fault_log, fault_log_len, fault_log_cap;
	/* results */
	uint64_t first_touches, reads, writes, pageouts, frees, madvise_calls;
	uint64_t madvise_errors, flushes, verify_mismatches;
	int64_t first_mismatch_record;
	uint64_t sink;
};

static inline int test_bit(const uint64_t *b, uint64_t i) { return (b[i >> 6] >> (i & 63)) & 1; }
static inline void set_bit(uint64_t *b, uint64_t i) { b[i >> 6] |= 1ULL << (i & 63); }
static inline void clear_bit(uint64_t *b, uint64_t i) { b[i >> 6] &= ~(1ULL << (i & 63)); }

static const uint8_t zero_page[PAGE_SIZE];

/* the bytes dense page `pg` holds once written */
static inline const uint8_t *page_content(const struct replay *r, uint64_t pg)
{
	uint32_t id = r->content_ids[pg];

	return id == ZERO_CONTENT ? zero_page : r->contents + (uint64_t)id * PAGE_SIZE;
}

static void first_touch(struct replay *r, uint64_t pg, uint8_t *p)
{
	memcpy(p, page_content(r, pg), PAGE_SIZE);
	set_bit(r->touched, pg);
	r->first_touches++;
}

static void do_madvise(struct replay *r, uint8_t *p, size_t len, int advice)
{
	r->madvise_calls++;
	if (madvise(p, len, advice) != 0)
		r->madvise_errors++;
}

static void flush_memcg_stats(struct replay *r)
{
	/* reading memory.stat flushes the memcg's rstat counters */
	if (pread(r->stat_fd, stat_buf, sizeof(stat_buf), 0) < 0)
		die(3, "read memory.stat: %s", strerror(errno));
	r->flushes++;
}

#define PM_SWAP (1ULL << 62)

/* --fault-log: log the access when the page's PTE is a swap entry (pagemap
 * shows swap offsets to CAP_SYS_ADMIN only) */
static int log_if_swapped(struct replay *r, uint64_t i, uint64_t pg)
{
	uint64_t e, va = (uint64_t)(uintptr_t)r->region + pg * PAGE_SIZE;
	struct rusage ru;

	if (pread(r->pagemap_fd, &e, sizeof(e), (off_t)(va / PAGE_SIZE * 8)) != sizeof(e))
		die(3, "read /proc/self/pagemap: %s", strerror(errno));
	if (!(e & PM_SWAP) || r->fault_log_len + 4 > r->fault_log_cap)
		return 0;
	r->fault_log[r->fault_log_len++] = i;
	r->fault_log[r->fault_log_len++] = pg;
	r->fault_log[r->fault_log_len++] = e;
	getrusage(RUSAGE_SELF, &ru);
	r->fault_log[r->fault_log_len++] = (uint64_t)ru.ru_majflt;
	return 1;
}

static void replay_records(struct replay *r)
{
	const uint64_t n = r->h->n_records;

	for (uint64_t i = 0; i < n; i++) {
		uint32_t rec = r->records[i];
		uint64_t pg = rec >> 2;
		uint8_t *p = r->region + pg * PAGE_SIZE;

		int logged = r->fault_log && (rec & 3) <= OP_WRITE && test_bit(r->touched, pg) &&
			     log_if_swapped(r, i, pg);
		switch (rec & 3) {
		case OP_READ:
			r->reads++;
			if (!test_bit(r->touched, pg))
				first_touch(r, pg, p);
			else
				r->sink += *(volatile uint64_t *)p;
			break;
		case OP_WRITE:
			r->writes++;
			if (!test_bit(r->touched, pg)) {
				first_touch(r, pg, p);
			} else {
				/* a locked read-modify-write faults as a write (one
				 * write fault, as the trace says) and keeps the value */
				__atomic_fetch_or((uint64_t *)p, 0, __ATOMIC_RELAXED);
			}
			break;
		case OP_PAGEOUT: {
			uint64_t len = 1;
			r->pageouts++;
			if (r->coalesce_pageout) {
				/* a run of pageouts of consecutive pages: one madvise */
				while (i + 1 < n && (r->records[i + 1] & 3) == OP_PAGEOUT &&
				       (r->records[i + 1] >> 2) == pg + len) {
					i++;
					len++;
					r->pageouts++;
					if (r->flush_every && (i + 1) % r->flush_every == 0)
						flush_memcg_stats(r);
				}
			}
			do_madvise(r, p, len * PAGE_SIZE, MADV_PAGEOUT);
			break;
		}
		case OP_FREE:
			r->frees++;
			do_madvise(r, p, PAGE_SIZE, MADV_DONTNEED);
			clear_bit(r->touched, pg);
			break;
		}
		if (logged) {           /* major faults it took: 1 read from swap, 0 a cache hit */
			struct rusage ru;
			getrusage(RUSAGE_SELF, &ru);
			r->fault_log[r->fault_log_len - 1] =
				(uint64_t)ru.ru_majflt - r->fault_log[r->fault_log_len - 1];
		}
		if (r->verify && (rec & 3) <= OP_WRITE) {
			if (memcmp(p, page_content(r, pg), PAGE_SIZE) != 0) {
				if (r->verify_mismatches++ == 0)
					r->first_mismatch_record = (int64_t)i;
			}
		}
		if (r->flush_every && (i + 1) % r->flush_every == 0)
			flush_memcg_stats(r);
	}
}

/* ---------------------------------------------------------------- setup */

static uint8_t *load_file(const char *path, size_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *buf;
	size_t off = 0;

	if (fd < 0)
		die(2, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0)
		die(3, "%s: %s", path, strerror(errno));
	if ((size_t)st.st_size < sizeof(struct header))
		die(2, "%s: too short for a replay file", path);
	buf = malloc((size_t)st.st_size);
	if (!buf)
		die(3, "%s: cannot allocate %lld bytes", path, (long long)st.st_size);
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(2, "%s: read failed at byte %zu", path, off);
		off += (size_t)n;
	}
	close(fd);
	*size = off;
	return buf;
}

static void check_range(const char *what, uint64_t off, uint64_t len, size_t size)
{
	if (off > size || len > size - off)
		die(2, "replay file: %s (%" PRIu64 " bytes at %" PRIu64 ") is outside the file",
		    what, len, off);
}

static void parse_file(struct replay *r, const uint8_t *buf, size_t size)
{
	const struct header *h = (const struct header *)buf;

	if (memcmp(h->magic, MAGIC, 8) != 0)
		die(2, "replay file: bad magic (not written by replay validate)");
	if (h->version != FORMAT_VERSION)
		die(2, "replay file: version %u, this replayer reads %d", h->version, FORMAT_VERSION);
	if (h->n_pages == 0 || h->n_pages % BLOCK_PAGES != 0 || h->n_pages > (1ULL << 30))
		die(2, "replay file: %" PRIu64 " pages is not a positive multiple of 512 below 2^30",
		    h->n_pages);
	check_range("records", h->records_off, h->n_records * 4, size);
	check_range("content ids", h->content_ids_off, h->n_pages * 4, size);
	check_range("hugepage flags", h->hugepage_off, h->n_pages / BLOCK_PAGES, size);
	check_range("contents", h->contents_off, h->n_contents * PAGE_SIZE, size);
	if (h->records_off % 4 || h->content_ids_off % 4)
		die(2, "replay file: misaligned tables");
	r->h = h;
	r->records = (const uint32_t *)(buf + h->records_off);
	r->content_ids = (const uint32_t *)(buf + h->content_ids_off);
	r->hugepage = buf + h->hugepage_off;
	r->contents = buf + h->contents_off;
	for (uint64_t i = 0; i < h->n_records; i++)
		if ((r->records[i] >> 2) >= h->n_pages)
			die(2, "replay file: record %" PRIu64 " names page %u of %" PRIu64,
			    i + 1, r->records[i] >> 2, h->n_pages);
	for (uint64_t i = 0; i < h->n_pages; i++)
		if (r->content_ids[i] != ZERO_CONTENT && r->content_ids[i] >= h->n_contents)
			die(2, "replay file: page %" PRIu64 " has content %u of %" PRIu64,
			    i, r->content_ids[i], h->n_contents);
}

/* grow the stack now so that mlockall(MCL_CURRENT) covers what replaying uses */
static __attribute__((noinline)) uint64_t grow_stack(void)
{
	volatile uint8_t area[256 << 10];

	for (size_t i = 0; i < sizeof(area); i += PAGE_SIZE)
		area[i] = (uint8_t)i;
	return area[PAGE_SIZE];
}

static void join_memcg(const char *procs_path, int procs_fd)
{
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());

	if (write(procs_fd, pid, (size_t)n) != n)
		die(3, "join memcg (%s): %s", procs_path, strerror(errno));
	close(procs_fd);
}

static uint8_t *map_region(uint64_t bytes)
{
	/* over-map by 2 MiB, then trim: the region starts on a 2 MiB boundary */
	size_t len = (size_t)bytes + BLOCK_BYTES;
	uint8_t *raw = mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t start, end;

	if (raw == MAP_FAILED)
		die(3, "mmap %" PRIu64 " bytes: %s", bytes, strerror(errno));
	start = ((uintptr_t)raw + BLOCK_BYTES - 1) & ~(uintptr_t)(BLOCK_BYTES - 1);
	end = start + bytes;
	if (start > (uintptr_t)raw)
		munmap(raw, start - (uintptr_t)raw);
	if ((uintptr_t)raw + len > end)
		munmap((void *)end, (uintptr_t)raw + len - end);
	return (uint8_t *)start;
}

static void advise_hugepage(struct replay *r)
{
	uint64_t blocks = r->h->n_pages / BLOCK_PAGES;

	for (uint64_t b = 0; b < blocks;) {
		uint64_t e = b;
		if (!r->hugepage[b]) {
			b++;
			continue;
		}
		while (e < blocks && r->hugepage[e])
			e++;
		if (madvise(r->region + b * BLOCK_BYTES, (e - b) * BLOCK_BYTES, MADV_HUGEPAGE) != 0)
			die(3, "madvise(MADV_HUGEPAGE): %s", strerror(errno));
		b = e;
	}
}

static int wait_for_parent(void)
{
	char c;

	for (;;) {
		ssize_t n = read(0, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (c == '\n')
			continue;
		return c;
	}
}

static int64_t ns_between(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);
}

static int64_t tv_us(const struct timeval *t)
{
	return (int64_t)t->tv_sec * 1000000LL + t->tv_usec;
}

static void usage(void)
{
	die(2, "usage: replayer FILE --cgroup-procs PATH --memory-stat PATH "
	       "[--flush-every N] [--hugepage] [--verify] [--coalesce-pageout] [--lock-optional] "
	       "[--fault-log OUT]");
}

int main(int argc, char **argv)
{
	struct replay r = { .first_mismatch_record = -1, .flush_every = 32 };
	const char *file = NULL, *procs_path = NULL, *stat_path = NULL, *fault_log_path = NULL;
	int hugepage = 0, lock_optional = 0, procs_fd, c;
	size_t size;
	uint8_t *buf;
	struct rusage ru0, ru1;
	struct timespec t0, t1;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--cgroup-procs") && i + 1 < argc)
			procs_path = argv[++i];
		else if (!strcmp(argv[i], "--memory-stat") && i + 1 < argc)
			stat_path = argv[++i];
		else if (!strcmp(argv[i], "--flush-every") && i + 1 < argc)
			r.flush_every = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--hugepage"))
			hugepage = 1;
		else if (!strcmp(argv[i], "--verify"))
			r.verify = 1;
		else if (!strcmp(argv[i], "--coalesce-pageout"))
			r.coalesce_pageout = 1;
		else if (!strcmp(argv[i], "--fault-log") && i + 1 < argc)
			fault_log_path = argv[++i];
		else if (!strcmp(argv[i], "--lock-optional"))
			lock_optional = 1;
		else if (argv[i][0] != '-' && !file)
			file = argv[i];
		else
			usage();
	}
	if (!file || !procs_path || !stat_path)
		usage();

	/* die with the parent: it restores the machine, we must not outlive it */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		die(3, "parent exited before the replay started");

	/* 1. everything the replay needs, allocated before joining the memcg */
	buf = load_file(file, &size);
	parse_file(&r, buf, size);
	r.touched = calloc((r.h->n_pages + 63) / 64, sizeof(uint64_t));
	if (!r.touched)
		die(3, "cannot allocate bookkeeping");
	if (fault_log_path) {
		r.fault_log_cap = 4 * (r.h->n_records < (1u << 21) ? r.h->n_records : (1u << 21));
		r.fault_log = calloc(r.fault_log_cap, sizeof(uint64_t));
		r.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		if (!r.fault_log || r.pagemap_fd < 0)
			die(3, "--fault-log: cannot allocate or open /proc/self/pagemap");
	}

	/* 2. resident and locked, charged to the parent's memcg */
	r.sink = grow_stack();
	procs_fd = open(procs_path, O_WRONLY | O_CLOEXEC);
	if (procs_fd < 0)
		die(3, "%s: %s", procs_path, strerror(errno));
	r.stat_fd = open(stat_path, O_RDONLY | O_CLOEXEC);
	if (r.stat_fd < 0)
		die(3, "%s: %s", stat_path, strerror(errno));
	if (mlockall(MCL_CURRENT) != 0 && !lock_optional)
		die(3, "mlockall(MCL_CURRENT): %s", strerror(errno));

	/* 3. join the memcg; 4. map the region (charged to it from now on) */
	join_memcg(procs_path, procs_fd);
	r.region = map_region(r.h->n_pages * PAGE_SIZE);
	if (hugepage)
		advise_hugepage(&r);
	put_line("ready %p %" PRIu64 "\n", (void *)r.region, r.h->n_pages * PAGE_SIZE);

	c = wait_for_parent();
	if (c != 'g')
		_exit(c < 0 ? 0 : 2);

	/* 5. replay */
	getrusage(RUSAGE_SELF, &ru0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	replay_records(&r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &ru1);
	if (fault_log_path) {
		FILE *f = fopen(fault_log_path, "wb");
		if (!f || fwrite(r.fault_log, sizeof(uint64_t), r.fault_log_len, f) != r.fault_log_len ||
		    fclose(f) != 0)
			die(3, "%s: cannot write", fault_log_path);
	}

	put_line("done {\"records\": %" PRIu64 ", \"first_touches\": %" PRIu64
		 ", \"reads\": %" PRIu64 ", \"writes\": %" PRIu64 ", \"pageouts\": %" PRIu64
		 ", \"frees\": %" PRIu64 ", \"madvise_calls\": %" PRIu64
		 ", \"madvise_errors\": %" PRIu64 ", \"flushes\": %" PRIu64
		 ", \"verify\": %s, \"verify_mismatches\": %" PRIu64
		 ", \"first_mismatch_record\": %" PRId64 ", \"elapsed_ns\": %" PRId64
		 ", \"minflt\": %ld, \"majflt\": %ld, \"utime_us\": %" PRId64
		 ", \"stime_us\": %" PRId64 ", \"nvcsw\": %ld, \"nivcsw\": %ld"
		 ", \"region_bytes\": %" PRIu64 ", \"sink\": %" PRIu64 "}\n",
		 r.h->n_records, r.first_touches, r.reads, r.writes, r.pageouts, r.frees,
		 r.madvise_calls, r.madvise_errors, r.flushes, r.verify ? "true" : "false",
		 r.verify_mismatches, r.first_mismatch_record, ns_between(&t0, &t1),
		 ru1.ru_minflt - ru0.ru_minflt, ru1.ru_majflt - ru0.ru_majflt,
		 tv_us(&ru1.ru_utime) - tv_us(&ru0.ru_utime),
		 tv_us(&ru1.ru_stime) - tv_us(&ru0.ru_stime),
		 ru1.ru_nvcsw - ru0.ru_nvcsw, ru1.ru_nivcsw - ru0.ru_nivcsw,
		 r.h->n_pages * PAGE_SIZE, r.sink & 0xff);

	/* stay alive (and charged) until the parent has read the counters */
	while (wait_for_parent() >= 0)
		;
	return 0;
}
