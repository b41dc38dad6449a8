/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef REPLAY_ALLOC_H
#define REPLAY_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* An array of bytes for the model (free() releases it), zeroed when asked. */
void *mm_alloc(size_t bytes, bool zero);

#endif
