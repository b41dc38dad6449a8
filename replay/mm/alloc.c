// SPDX-License-Identifier: GPL-2.0-only
/*
 * Memory for the model's large arrays (page records, swap slots, LRU rings):
 * 2 MiB aligned and advised MADV_HUGEPAGE, because the replay touches them at
 * random and with 4 KiB pages nearly every such touch is also a (hardware) TLB
 * miss. Where transparent huge pages are off, this is plain memory.
 */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "alloc.h"

#define HUGE (2UL << 20)

void *mm_alloc(size_t bytes, bool zero)
{
	void *p;
	if (bytes < HUGE) {
		if (posix_memalign(&p, 64, bytes ? bytes : 64))
			return NULL;
	} else {
		size_t rounded = (bytes + HUGE - 1) & ~(HUGE - 1);
		if (posix_memalign(&p, HUGE, rounded))
			return NULL;
#ifdef MADV_HUGEPAGE
		madvise(p, rounded, MADV_HUGEPAGE);
#endif
	}
	if (zero)
		memset(p, 0, bytes);
	return p;
}
