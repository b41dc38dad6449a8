/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef REPLAY_INVARIANTS_H
#define REPLAY_INVARIANTS_H

#include "mm.h"

#define PROBLEM_LEN 160

/* Problems found in the state (their count; at most max_problems are written). */
int check_invariants(struct mm *mm, int64_t nr_records, char (*problems)[PROBLEM_LEN],
		     int max_problems);

#endif
