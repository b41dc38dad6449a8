// SPDX-License-Identifier: GPL-2.0-only
/*
 * The built-in swap-in policies (the modules of replay/policies name and describe them).
 * A policy reads what the kernel knows at the fault (the view, mm.h's V_*
 * slots; replay/policies/base.py documents them) and returns the folio order to
 * swap in (0: the order-0 path). It changes nothing: the model carries its
 * decision out.
 */
#include <string.h>

#include "policies.h"

/* The highest order set in a bitmask, or 0. */
static inline int64_t highest_order(int64_t mask)
{
	int64_t k;
	for (k = 9; k > 0; k--)
		if (mask & ((int64_t)1 << k))
			return k;
	return 0;
}

/* The order-k range is wholly in zswap, wholly on the device, or wholly zero. */
static inline bool range_is_uniform(const int64_t *view, int64_t k)
{
	int64_t nr = (int64_t)1 << k;
	return view[V_ZSWAP + k] == nr || view[V_DEVICE + k] == nr || view[V_ZEROMAP + k] == nr;
}

/* order0-fallback: mainline once zswap was ever enabled (alloc_swap_folio()
 * returns order 0 whenever !zswap_never_enabled()). */
static int64_t order0_fallback(const int64_t *view)
{
	return 0;
}

/* mainline: v6.18 as is: large swap-in only on a SWP_SYNCHRONOUS_IO device and
 * only while zswap has never been enabled; the highest order can_swapin_thp()
 * accepts. */
static int64_t mainline(const int64_t *view)
{
	if (view[V_SYNC_IO] == 0 || view[V_ZSWAP_EVER] != 0)
		return 0;
	return highest_order(view[V_CANDIDATES]);
}

/* full-zswap: Usama Arif's RFC: large only when zswap_present_test() says the
 * whole range is in zswap (a range wholly on the device is refused too). */
static int64_t full_zswap(const int64_t *view)
{
	int64_t mask = view[V_CANDIDATES], k;
	for (k = 9; k > 0; k--)
		if ((mask & ((int64_t)1 << k)) && view[V_ZSWAP + k] == ((int64_t)1 << k))
			return k;
	return 0;
}

/* hybrid-rejected: fujunjie RFC v1: large when the range is wholly in zswap or
 * wholly on the device (or wholly zero); a mixed range falls back to order 0. */
static int64_t hybrid_rejected(const int64_t *view)
{
	int64_t mask = view[V_CANDIDATES], k;
	for (k = 9; k > 0; k--)
		if ((mask & ((int64_t)1 << k)) && range_is_uniform(view, k))
			return k;
	return 0;
}

/* locality-admitted: fujunjie RFC v2: as hybrid-rejected, capped at 64K, and only
 * on locality evidence: the previous major fault was next to this one, or at
 * least half of the 32 neighbouring PTEs are young. */
static int64_t locality_admitted(const int64_t *view)
{
	int64_t mask = view[V_CANDIDATES], k;
	if (view[V_ADJACENT] == 0 && view[V_YOUNG_NEAR] < 16)
		return 0;
	for (k = 4; k > 0; k--)
		if ((mask & ((int64_t)1 << k)) && range_is_uniform(view, k))
			return k;
	return 0;
}

/* hybrid-supported: what no patch does: any suitable range, zswap and disk mixed. */
static int64_t hybrid_supported(const int64_t *view)
{
	return highest_order(view[V_CANDIDATES]);
}

const struct builtin_policy builtin_policies[] = {
	{"order0-fallback", order0_fallback},
	{"mainline", mainline},
	{"full-zswap", full_zswap},
	{"hybrid-rejected", hybrid_rejected},
	{"locality-admitted", locality_admitted},
	{"hybrid-supported", hybrid_supported},
	{NULL, NULL},
};

swapin_policy_fn builtin_policy(const char *name)
{
	const struct builtin_policy *p;
	for (p = builtin_policies; p->name; p++)
		if (!strcmp(p->name, name))
			return p->fn;
	return NULL;
}
