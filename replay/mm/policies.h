/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef REPLAY_POLICIES_H
#define REPLAY_POLICIES_H

#include "mm.h"

struct builtin_policy {
	const char *name;
	swapin_policy_fn fn;
};

extern const struct builtin_policy builtin_policies[];
swapin_policy_fn builtin_policy(const char *name);

#endif
