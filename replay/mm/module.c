// SPDX-License-Identifier: GPL-2.0-only
/*
 * replay._mm: the model as a CPython extension.
 *
 * Model: one replay's state (struct mm) with its TLBs; replay() feeds it a chunk
 * of the trace with the GIL released. TLB: the TLB model on its own (tests, the
 * shared 4K-only shadow). The counter names Python sees come from vmstat.h.
 * Arrays are passed with the buffer protocol (numpy arrays), so the build needs
 * no numpy headers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "invariants.h"
#include "lru_log.h"
#include "lru_reference.h"
#include "mm.h"
#include "policies.h"
#include "replay.h"
#include "tlb.h"

static const char *const vm_event_names[] = {
#define X(item, name) name,
	FOR_EACH_VM_EVENT(X)
#undef X
};
static const char *const mthp_stat_names[] = {
#define X(item, name) name,
	FOR_EACH_MTHP_STAT(X)
#undef X
};
static const char *const replay_stat_names[] = {
#define X(item, name) name,
	FOR_EACH_REPLAY_STAT(X)
#undef X
};

/* ------------------------------------------------------------------ buffers */

/* Get a C-contiguous buffer of n items of itemsize bytes (n < 0: any length). */
static int get_array(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, Py_ssize_t n,
		     const char *what)
{
	if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
		return -1;
	if (view->itemsize != itemsize || (n >= 0 && view->len != n * itemsize)) {
		PyErr_Format(PyExc_ValueError, "%s: expected %zd items of %zd bytes, got %zd bytes "
			     "of %zd-byte items", what, n, itemsize, view->len, view->itemsize);
		PyBuffer_Release(view);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ TLB */

typedef struct {
	PyObject_HEAD
	struct tlb *tlb;
} TLBObject;

static int parse_tlb_config(PyObject *args, struct tlb_config *cfg)
{
	long long l1, l2, ways, coalesce, l2cyc, walkcyc, ceil;
	int arch;
	if (!PyArg_ParseTuple(args, "iLLLLLLL", &arch, &l1, &l2, &ways, &coalesce, &l2cyc,
			      &walkcyc, &ceil))
		return -1;
	if (arch < TLB_X86 || arch > TLB_NONE || l1 < 1 || l2 < 1 || ways < 1 || l2 % ways ||
	    ((l2 / ways) & (l2 / ways - 1))) {
		PyErr_SetString(PyExc_ValueError, "bad TLB configuration");
		return -1;
	}
	cfg->arch = arch;
	cfg->l1_entries = l1;
	cfg->l2_entries = l2;
	cfg->l2_ways = ways;
	cfg->coalesce_pages = coalesce;
	cfg->l2_hit_cycles = l2cyc;
	cfg->walk_cycles = walkcyc;
	cfg->flush_ceiling_pages = ceil;
	return 0;
}

static int TLB_init(TLBObject *self, PyObject *args, PyObject *kwds)
{
	struct tlb_config cfg;
	if (parse_tlb_config(args, &cfg) < 0)
		return -1;
	tlb_destroy(self->tlb);
	self->tlb = tlb_create(&cfg);
	if (!self->tlb) {
		PyErr_NoMemory();
		return -1;
	}
	return 0;
}

static void TLB_dealloc(TLBObject *self)
{
	tlb_destroy(self->tlb);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *counters_dict(const struct tlb_counters *c)
{
	return Py_BuildValue("{s:L,s:L,s:L,s:L,s:L,s:L}", "l1_hits", (long long)c->l1_hits,
			     "l2_hits", (long long)c->l2_hits, "walks", (long long)c->walks,
			     "flush_ranges", (long long)c->flush_ranges, "flush_all",
			     (long long)c->flush_all, "invalidated", (long long)c->invalidated);
}

static PyObject *TLB_access(TLBObject *self, PyObject *args)
{
	long long page, order;
	if (!PyArg_ParseTuple(args, "LL", &page, &order))
		return NULL;
	if (page < 0 || page >= TLB_MAX_PAGES) {
		PyErr_Format(PyExc_ValueError, "page %lld is outside the TLB model's 2^30 pages", page);
		return NULL;
	}
	return PyLong_FromLong(tlb_access(self->tlb, page, order));
}

static PyObject *TLB_access_many(TLBObject *self, PyObject *args)
{
	PyObject *pages_obj, *orders_obj;
	Py_buffer pages, orders;
	Py_ssize_t n, i;
	if (!PyArg_ParseTuple(args, "OO", &pages_obj, &orders_obj))
		return NULL;
	if (get_array(pages_obj, &pages, 8, -1, "pages") < 0)
		return NULL;
	n = pages.len / 8;
	if (get_array(orders_obj, &orders, 8, n, "orders") < 0) {
		PyBuffer_Release(&pages);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		int64_t p = ((int64_t *)pages.buf)[i];
		if (p < 0 || p >= TLB_MAX_PAGES) {
			PyBuffer_Release(&pages);
			PyBuffer_Release(&orders);
			return PyErr_Format(PyExc_ValueError, "page %lld is outside the TLB model's "
					    "2^30 pages", (long long)p);
		}
	}
	Py_BEGIN_ALLOW_THREADS
	for (i = 0; i < n; i++)
		tlb_access(self->tlb, ((int64_t *)pages.buf)[i], ((int64_t *)orders.buf)[i]);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&pages);
	PyBuffer_Release(&orders);
	Py_RETURN_NONE;
}

static PyObject *TLB_flush_range(TLBObject *self, PyObject *args)
{
	long long first, n;
	if (!PyArg_ParseTuple(args, "LL", &first, &n))
		return NULL;
	tlb_flush_range(self->tlb, first, n);
	Py_RETURN_NONE;
}

static PyObject *TLB_flush_all(TLBObject *self, PyObject *unused)
{
	tlb_flush_all(self->tlb);
	Py_RETURN_NONE;
}

static PyObject *TLB_counters(TLBObject *self, PyObject *unused)
{
	return counters_dict(&self->tlb->c);
}

static PyObject *TLB_cycles(TLBObject *self, PyObject *unused)
{
	return PyLong_FromLongLong(tlb_cycles(self->tlb));
}

static PyObject *TLB_replay_shared(TLBObject *self, PyObject *args)
{
	PyObject *pages_obj, *ops_obj;
	Py_buffer pages, ops;
	Py_ssize_t n;
	if (!PyArg_ParseTuple(args, "OO", &pages_obj, &ops_obj))
		return NULL;
	if (get_array(pages_obj, &pages, 8, -1, "pages") < 0)
		return NULL;
	n = pages.len / 8;
	if (get_array(ops_obj, &ops, 1, n, "ops") < 0) {
		PyBuffer_Release(&pages);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	replay_shared_shadow(self->tlb, pages.buf, ops.buf, n);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&pages);
	PyBuffer_Release(&ops);
	Py_RETURN_NONE;
}

static PyMethodDef TLB_methods[] = {
	{"access", (PyCFunction)TLB_access, METH_VARARGS,
	 "access(page, folio_order) -> 0 L1 hit, 1 L2 hit, 2 walk"},
	{"access_many", (PyCFunction)TLB_access_many, METH_VARARGS,
	 "access_many(pages, orders): access() for int64 arrays"},
	{"flush_range", (PyCFunction)TLB_flush_range, METH_VARARGS,
	 "flush_range(first_page, npages): drop the entries covering the range"},
	{"flush_all", (PyCFunction)TLB_flush_all, METH_NOARGS, "drop every entry"},
	{"counters", (PyCFunction)TLB_counters, METH_NOARGS, "the counters as a dict"},
	{"cycles", (PyCFunction)TLB_cycles, METH_NOARGS, "L2-hit and walk cycles so far"},
	{"replay_shared", (PyCFunction)TLB_replay_shared, METH_VARARGS,
	 "replay_shared(pages, ops): the 4K-only shadow shared by the policies of a run"},
	{NULL},
};

static PyTypeObject TLBType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "replay._mm.TLB",
	.tp_doc = "TLB(arch, l1_entries, l2_entries, l2_ways, coalesce_pages, l2_hit_cycles, "
		  "walk_cycles, flush_ceiling_pages): the data-TLB model",
	.tp_basicsize = sizeof(TLBObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)TLB_init,
	.tp_dealloc = (destructor)TLB_dealloc,
	.tp_methods = TLB_methods,
};

/* ------------------------------------------------------------------ Model */

enum { INFO_COMP, INFO_C_NS, INFO_D_NS, INFO_UNIT_COMP, INFO_UNIT_C_NS, INFO_UNIT_D_NS,
       INFO_ZERO, INFO_HUGEPAGE, INFO_VMA_START, INFO_VMA_END, NR_INFO };
static const char *const info_names[NR_INFO] = {
	"comp", "c_ns", "d_ns", "unit_comp", "unit_c_ns", "unit_d_ns", "zero", "hugepage",
	"vma_start", "vma_end",
};
static const Py_ssize_t info_itemsize[NR_INFO] = {4, 4, 4, 4, 4, 4, 1, 1, 4, 4};

typedef struct {
	PyObject_HEAD
	struct mm mm;
	struct timeline tl;
	int64_t nr_records;
	Py_buffer dir;
	Py_buffer info[NR_INFO];             /* the unit arrays are kept; the others are copied */
	bool have_buffers;
	bool busy;                          /* a replay() runs (the GIL is released) */
	PyObject *policy_ref;               /* keeps a plug-in policy's compiled code alive */
} ModelObject;

static void Model_release(ModelObject *self)
{
	int i;
	if (self->have_buffers) {
		PyBuffer_Release(&self->dir);
		for (i = 0; i < NR_INFO; i++)     /* a no-op for those released already */
			PyBuffer_Release(&self->info[i]);
		self->have_buffers = false;
	}
	free(self->mm.pages);
	self->mm.pages = NULL;
	free(self->mm.pte_tables);
	self->mm.pte_tables = NULL;
	lru_log_free(&self->mm.lruvec.lists[LRU_INACTIVE_ANON]);
	lru_log_free(&self->mm.lruvec.lists[LRU_ACTIVE_ANON]);
	lru_log_free(&self->mm.zswap.lru);
	swap_info_free(&self->mm.si);
	tlb_destroy(self->mm.tlb);
	tlb_destroy(self->mm.tlb_shadow);
	self->mm.tlb = self->mm.tlb_shadow = NULL;
	Py_CLEAR(self->policy_ref);
}

static void Model_dealloc(ModelObject *self)
{
	free(self->mm.fault_log);
	self->mm.fault_log = NULL;
	Model_release(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int config_int(PyObject *config, const char *key, long long *out)
{
	PyObject *v = PyDict_GetItemString(config, key);
	if (!v) {
		PyErr_Format(PyExc_KeyError, "model config lacks %s", key);
		return -1;
	}
	*out = PyLong_AsLongLong(v);
	if (*out == -1 && PyErr_Occurred())
		return -1;
	return 0;
}

static int parse_config(PyObject *config, struct mm_config *cfg)
{
	long long v;
#define GET(key, field) do { if (config_int(config, key, &v) < 0) return -1; cfg->field = v; } while (0)
	if (!PyDict_Check(config)) {
		PyErr_SetString(PyExc_TypeError, "config must be a dict");
		return -1;
	}
	GET("limit_pages", limit_pages);
	GET("orders", orders);
	GET("thp_always", thp_always);
	GET("swp_flags", swp_flags);
	GET("zswap_enabled", zswap_enabled);
	GET("zswap_ever_enabled", zswap_ever_enabled);
	GET("zswap_pool_limit_bytes", zswap_pool_limit_bytes);
	GET("zswap_accept_bytes", zswap_accept_bytes);
	GET("zswap_shrinker", zswap_shrinker);
	GET("zswap_writeback", zswap_writeback);
	GET("zswap_max_bytes", zswap_max_bytes);
	GET("page_cluster", page_cluster);
	GET("exact_lru", exact_lru);
	GET("memcg_v2", memcg_v2);
	GET("first_read_allocates", first_read_allocates);
	GET("charge_guard", charge_guard);
	GET("swap_full_half", swap_full_half);
	GET("charge_stock", charge_stock);
	GET("oom_kill", oom_kill);
	GET("view", view);
	GET("backend_code", backend_code);
#undef GET
	{
		static const char *const keys[3] = {"zero_comp", "zero_c_ns", "zero_d_ns"};
		int32_t *fields[3] = {&cfg->zero_comp, &cfg->zero_c_ns, &cfg->zero_d_ns};
		int k;
		for (k = 0; k < 3; k++) {           /* optional */
			*fields[k] = -1;
			if (PyDict_GetItemString(config, keys[k])) {
				if (config_int(config, keys[k], &v) < 0)
					return -1;
				*fields[k] = (int32_t)v;
			}
		}
	}
	return 0;
}

/*
 * Model(nr_pages, dir, info, config, swap_slots, policy, policy_ref, cost_params,
 *       unit_shift, tlb, shadow)
 *
 * dir: int32 per 16-page chunk of the id space; info: a dict of arrays with
 * what the trace says about each page (one entry per record: comp, c_ns, d_ns,
 * zero, hugepage, vma_start, vma_end (dense ids), and unit_comp, unit_c_ns,
 * unit_d_ns for compression units); config:
 * a dict of struct mm_config's fields; policy: the address of a
 * swapin_policy_fn; cost_params: int64 ps per enum cost_param, or None (no
 * costs); tlb, shadow: TLB configuration tuples or None.
 */
static int Model_init(ModelObject *self, PyObject *args, PyObject *kwds)
{
	long long nr_pages, swap_slots;
	int unit_shift, i;
	PyObject *dir_obj, *info, *config, *policy_obj, *policy_ref, *costs, *tlb_args, *shadow_args;
	struct mm *mm = &self->mm;
	Py_ssize_t nr_dir;
	if (!PyArg_ParseTuple(args, "LOOOLOOOiOO", &nr_pages, &dir_obj, &info, &config, &swap_slots,
			      &policy_obj, &policy_ref, &costs, &unit_shift, &tlb_args, &shadow_args))
		return -1;
	Model_release(self);
	memset(mm, 0, sizeof(*mm));
	if (nr_pages < 0 || nr_pages % HPAGE_PMD_NR || nr_pages + 2 > INT32_MAX) {
		PyErr_SetString(PyExc_ValueError, "nr_pages must be a multiple of 512 below 2^31");
		return -1;
	}
	nr_dir = (Py_ssize_t)(nr_pages >> CHUNK_SHIFT);
	if (get_array(dir_obj, &self->dir, 4, nr_dir, "dir") < 0)
		return -1;
	{
		const int32_t *dir = self->dir.buf;
		int32_t top = -1;
		for (i = 0; i < nr_dir; i++)
			if (dir[i] > top)
				top = dir[i];
		self->nr_records = ((int64_t)top + 1) << CHUNK_SHIFT;
		mm->identity = true;
		for (i = 0; i < nr_dir && mm->identity; i++)
			mm->identity = dir[i] == i;
	}
	if (!PyDict_Check(info)) {
		PyBuffer_Release(&self->dir);
		PyErr_SetString(PyExc_TypeError, "info must be a dict");
		return -1;
	}
	for (i = 0; i < NR_INFO; i++) {
		PyObject *arr = PyDict_GetItemString(info, info_names[i]);
		if (!arr) {
			PyErr_Format(PyExc_KeyError, "info lacks %s", info_names[i]);
		} else if (get_array(arr, &self->info[i], info_itemsize[i],
				     /* units: only read with unit_shift > 0 */
				     i >= INFO_UNIT_COMP && i <= INFO_UNIT_D_NS && !unit_shift ? -1 :
				     self->nr_records, info_names[i]) == 0) {
			continue;
		}
		while (--i >= 0)
			PyBuffer_Release(&self->info[i]);
		PyBuffer_Release(&self->dir);
		return -1;
	}
	self->have_buffers = true;
	mm->nr_pages = nr_pages;
	mm->dir = self->dir.buf;
	mm->units.comp = self->info[INFO_UNIT_COMP].buf;
	mm->units.c_ns = self->info[INFO_UNIT_C_NS].buf;
	mm->units.d_ns = self->info[INFO_UNIT_D_NS].buf;
	if (parse_config(config, &mm->cfg) < 0)
		return -1;
	mm->policy = (swapin_policy_fn)PyLong_AsVoidPtr(policy_obj);
	if (!mm->policy) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError, "no policy function");
		return -1;
	}
	Py_INCREF(policy_ref);
	self->policy_ref = policy_ref;
	mm->pages = mm_alloc((size_t)(self->nr_records + 1) * sizeof(struct page), false);
	mm->pte_tables = mm_alloc((size_t)(nr_pages >> HPAGE_PMD_ORDER) + 1, true);
	if (!mm->pages || !mm->pte_tables || swap_info_init(&mm->si, swap_slots) < 0 ||
	    lru_log_init(&mm->lruvec.lists[LRU_INACTIVE_ANON], 1024) < 0 ||
	    lru_log_init(&mm->lruvec.lists[LRU_ACTIVE_ANON], 1024) < 0 ||
	    lru_log_init(&mm->zswap.lru, 1024) < 0) {
		PyErr_NoMemory();
		return -1;
	}
	{
		const int32_t *comp = self->info[INFO_COMP].buf, *c_ns = self->info[INFO_C_NS].buf;
		const int32_t *d_ns = self->info[INFO_D_NS].buf;
		const int32_t *lo = self->info[INFO_VMA_START].buf, *hi = self->info[INFO_VMA_END].buf;
		const uint8_t *zero = self->info[INFO_ZERO].buf, *huge = self->info[INFO_HUGEPAGE].buf;
		const int32_t *dir = self->dir.buf;
		Py_ssize_t c;
		for (c = 0; c < nr_dir; c++) {
			int64_t k0 = (int64_t)dir[c] << CHUNK_SHIFT, block = (c << CHUNK_SHIFT) &
				~(int64_t)(HPAGE_PMD_NR - 1);
			int j;
			if (dir[c] < 0)
				continue;
			for (j = 0; j < CHUNK_PAGES; j++) {
				int64_t k = k0 + j;
				struct page *page = &mm->pages[k];
				*page = page_none;
				page->comp = (uint16_t)(comp[k] < 0 ? 0 : comp[k] > PAGE_SIZE ? PAGE_SIZE : comp[k]);
				page->c_ns = c_ns[k];
				page->d_ns = d_ns[k];
				page->zero = zero[k] != 0;
				page->hugepage = huge[k] != 0;
				if (lo[k] < block || hi[k] > block + HPAGE_PMD_NR || lo[k] > hi[k]) {
					PyErr_Format(PyExc_ValueError, "page %lld: VMA [%d, %d) leaves its 2 MiB block",
						     (long long)((c << CHUNK_SHIFT) + j), lo[k], hi[k]);
					for (i = 0; i < NR_INFO; i++)
						if (i < INFO_UNIT_COMP || i > INFO_UNIT_D_NS)
							PyBuffer_Release(&self->info[i]);
					return -1;
				}
				page->vma_start = (uint16_t)(lo[k] - block);
				page->vma_end = (uint16_t)(hi[k] - block);
			}
		}
	}
	for (i = 0; i < NR_INFO; i++)          /* copied into the records */
		if (i < INFO_UNIT_COMP || i > INFO_UNIT_D_NS)
			PyBuffer_Release(&self->info[i]);
	mm->ra.prev_offset = -10;
	mm->ra.prev_win = 1;
	mm->ra.prev_page = -10;
	mm->ra.vma_win = 1;
	mm->last_fault_page = -10;
	mm->time.last_unit = -1;
	if (costs != Py_None) {
		Py_buffer cb;
		if (get_array(costs, &cb, 8, NR_COST_PARAMS, "cost_params") < 0)
			return -1;
		memcpy(mm->time.cp, cb.buf, sizeof(mm->time.cp));
		PyBuffer_Release(&cb);
		mm->time.on = true;
		mm->time.unit_shift = unit_shift;
	}
	if (tlb_args != Py_None) {
		struct tlb_config cfg;
		if (nr_pages > TLB_MAX_PAGES) {
			PyErr_Format(PyExc_ValueError, "the TLB model translates at most 2^30 pages "
				     "(4 TiB of 2 MiB blocks); this trace spans %lld", nr_pages);
			return -1;
		}
		if (parse_tlb_config(tlb_args, &cfg) < 0)
			return -1;
		mm->tlb = tlb_create(&cfg);
		if (!mm->tlb) {
			PyErr_NoMemory();
			return -1;
		}
		if (shadow_args != Py_None) {
			if (parse_tlb_config(shadow_args, &cfg) < 0)
				return -1;
			mm->tlb_shadow = tlb_create(&cfg);
			if (!mm->tlb_shadow) {
				PyErr_NoMemory();
				return -1;
			}
		}
	}
	return 0;
}

static PyObject *Model_replay(ModelObject *self, PyObject *args)
{
	PyObject *pages_obj, *ops_obj, *tns_obj, *buf_obj;
	Py_buffer pages, ops, tns, buf;
	Py_ssize_t n;
	int64_t consumed;
	if (!PyArg_ParseTuple(args, "OOOO", &pages_obj, &ops_obj, &tns_obj, &buf_obj))
		return NULL;
	if (!self->mm.pages) {
		PyErr_SetString(PyExc_RuntimeError, "model not initialised");
		return NULL;
	}
	if (get_array(pages_obj, &pages, 8, -1, "pages") < 0)
		return NULL;
	n = pages.len / 8;
	if (get_array(ops_obj, &ops, 1, n, "ops") < 0)
		goto release_pages;
	if (get_array(tns_obj, &tns, 8, n, "tns") < 0)
		goto release_ops;
	if (PyObject_GetBuffer(buf_obj, &buf, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0)
		goto release_tns;
	if (buf.len % (NR_TL * 8)) {
		PyErr_SetString(PyExc_ValueError, "timeline buffer: rows of NR_TL int64");
		goto release_buf;
	}
	{
		/* every page id must name a record: the replay trusts them */
		const int64_t *p = pages.buf;
		Py_ssize_t i;
		for (i = 0; i < n; i++)
			if (p[i] < 0 || p[i] >= self->mm.nr_pages ||
			    self->mm.dir[p[i] >> CHUNK_SHIFT] < 0) {
				PyErr_Format(PyExc_ValueError, "page id %lld has no record", (long long)p[i]);
				goto release_buf;
			}
	}
	if (self->busy) {
		PyErr_SetString(PyExc_RuntimeError, "the model is replaying in another thread");
		goto release_buf;
	}
	self->busy = true;
	self->tl.buf = (int64_t (*)[NR_TL])buf.buf;
	self->tl.capacity = buf.len / (NR_TL * 8);
	Py_BEGIN_ALLOW_THREADS
	consumed = replay_chunk(&self->mm, pages.buf, ops.buf, tns.buf, n, &self->tl);
	Py_END_ALLOW_THREADS
	self->busy = false;
	self->tl.buf = NULL;
	PyBuffer_Release(&buf);
	PyBuffer_Release(&tns);
	PyBuffer_Release(&ops);
	PyBuffer_Release(&pages);
	return PyLong_FromLongLong(consumed);
release_buf:
	PyBuffer_Release(&buf);
release_tns:
	PyBuffer_Release(&tns);
release_ops:
	PyBuffer_Release(&ops);
release_pages:
	PyBuffer_Release(&pages);
	return NULL;
}

static PyObject *Model_timeline_row(ModelObject *self, PyObject *args)
{
	PyObject *row_obj;
	long long done, trace_ns;
	Py_buffer row;
	if (!PyArg_ParseTuple(args, "OLL", &row_obj, &done, &trace_ns))
		return NULL;
	if (PyObject_GetBuffer(row_obj, &row, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0)
		return NULL;
	if (row.len != NR_TL * 8) {
		PyBuffer_Release(&row);
		PyErr_SetString(PyExc_ValueError, "a timeline row is NR_TL int64");
		return NULL;
	}
	timeline_row(&self->mm, row.buf, done, trace_ns);
	PyBuffer_Release(&row);
	Py_RETURN_NONE;
}

static PyObject *Model_counters(ModelObject *self, PyObject *unused)
{
	PyObject *vm = PyDict_New(), *stats = PyDict_New(), *per_order = PyList_New(MAX_ORDER);
	int i, o;
	if (!vm || !stats || !per_order)
		goto fail;
	for (i = 0; i < NR_VM_EVENT_ITEMS; i++) {
		PyObject *v = PyLong_FromUnsignedLong(self->mm.vm_events[i]);
		if (!v || PyDict_SetItemString(vm, vm_event_names[i], v) < 0) {
			Py_XDECREF(v);
			goto fail;
		}
		Py_DECREF(v);
	}
	for (i = 0; i < NR_REPLAY_STAT_ITEMS; i++) {
		PyObject *v = PyLong_FromUnsignedLong(self->mm.replay_stats[i]);
		if (!v || PyDict_SetItemString(stats, replay_stat_names[i], v) < 0) {
			Py_XDECREF(v);
			goto fail;
		}
		Py_DECREF(v);
	}
	for (o = 0; o < MAX_ORDER; o++) {
		PyObject *row = PyTuple_New(__MTHP_STAT_COUNT);
		if (!row)
			goto fail;
		for (i = 0; i < __MTHP_STAT_COUNT; i++)
			PyTuple_SET_ITEM(row, i, PyLong_FromUnsignedLong(self->mm.mthp_stats[o][i]));
		PyList_SET_ITEM(per_order, o, row);
	}
	return Py_BuildValue("{s:N,s:N,s:N}", "vm_events", vm, "mthp_stats", per_order,
			     "replay_stats", stats);
fail:
	Py_XDECREF(vm);
	Py_XDECREF(stats);
	Py_XDECREF(per_order);
	return NULL;
}

static PyObject *Model_time(ModelObject *self, PyObject *unused)
{
	const struct replay_time *t = &self->mm.time;
	PyObject *folios = PyTuple_New(MAX_ORDER);
	int o;
	if (!folios)
		return NULL;
	for (o = 0; o < MAX_ORDER; o++)
		PyTuple_SET_ITEM(folios, o, PyLong_FromLongLong(t->swpin_folios[o]));
	return Py_BuildValue("{s:L,s:L,s:L,s:L,s:L,s:L,s:L,s:N}", "kernel_ps", (long long)t->kernel,
			     "fault_ps", (long long)t->fault, "swapin_ps", (long long)t->swapin,
			     "reclaim_ps", (long long)t->reclaim, "compress_ps",
			     (long long)t->compress, "decompress_ps", (long long)t->decompress,
			     "io_ps", (long long)t->io, "swpin_folios", folios);
}

static PyObject *Model_tlb_counters(ModelObject *self, PyObject *args)
{
	int shadow = 0;
	struct tlb *t;
	if (!PyArg_ParseTuple(args, "|p", &shadow))
		return NULL;
	t = shadow ? self->mm.tlb_shadow : self->mm.tlb;
	if (!t)
		Py_RETURN_NONE;
	return Py_BuildValue("{s:N,s:L}", "counters", counters_dict(&t->c), "cycles",
			     (long long)tlb_cycles(t));
}

#define MAX_PROBLEMS 32

static PyObject *Model_check(ModelObject *self, PyObject *unused)
{
	char (*problems)[PROBLEM_LEN] = malloc(MAX_PROBLEMS * PROBLEM_LEN);
	PyObject *out;
	int n, i;
	if (!problems)
		return PyErr_NoMemory();
	Py_BEGIN_ALLOW_THREADS
	n = check_invariants(&self->mm, self->nr_records, problems, MAX_PROBLEMS);
	Py_END_ALLOW_THREADS
	out = PyList_New(0);
	for (i = 0; out && i < n && i < MAX_PROBLEMS; i++) {
		PyObject *s = PyUnicode_FromString(problems[i]);
		if (!s || PyList_Append(out, s) < 0)
			Py_CLEAR(out);
		Py_XDECREF(s);
	}
	free(problems);
	return out;
}

/* Copies of the state's arrays, for tests and tools (replay.model.state.StateView). */
static PyObject *Model_arrays(ModelObject *self, PyObject *unused)
{
	const struct mm *mm = &self->mm;
	const struct swap_info_struct *si = &mm->si;
	return Py_BuildValue(
		"{s:y#,s:y#,s:y#,s:y#,s:L}",
		"pages", (const char *)mm->pages, (Py_ssize_t)(self->nr_records * sizeof(struct page)),
		"slot_owner", (const char *)si->slot_owner, (Py_ssize_t)(si->nr_slots * sizeof(int32_t)),
		"clusters", (const char *)si->clusters,
		(Py_ssize_t)(si->nr_clusters * sizeof(struct swap_cluster_info)),
		"trees", (const char *)si->trees, (Py_ssize_t)(MAX_ORDER * 2 * si->leaves * sizeof(int16_t)),
		"leaves", (long long)si->leaves);
}

/* The live entries of an LRU log, oldest first (int32 page ids). */
static PyObject *Model_lru_order(ModelObject *self, PyObject *args)
{
	int kind;
	struct lru_log *log;
	PyObject *out;
	int32_t *buf;
	int64_t pos, n = 0;
	if (!PyArg_ParseTuple(args, "i", &kind))
		return NULL;
	if (kind < LOG_INACTIVE || kind > LOG_ZSWAP) {
		PyErr_SetString(PyExc_ValueError, "kind: 0 inactive, 1 active, 2 zswap");
		return NULL;
	}
	log = kind == LOG_ZSWAP ? &self->mm.zswap.lru : &self->mm.lruvec.lists[kind];
	buf = malloc((size_t)(log->next - log->first + 1) * sizeof(int32_t));
	if (!buf)
		return PyErr_NoMemory();
	for (pos = log->first; pos < log->next; pos++) {
		int64_t h = log->ring[pos & log->mask];
		if (h != LOG_DELETED)
			buf[n++] = (int32_t)h;
	}
	out = PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)(n * sizeof(int32_t)));
	free(buf);
	return out;
}

/* The records of pages the replay touched (state not PAGE_NONE), as int32 bytes. */
static PyObject *Model_touched_records(ModelObject *self, PyObject *unused)
{
	int64_t k, n = 0;
	int32_t *out = malloc((size_t)(self->nr_records + 1) * sizeof(int32_t));
	PyObject *bytes;
	if (!out)
		return PyErr_NoMemory();
	for (k = 0; k < self->nr_records; k++)
		if (self->mm.pages[k].state != PAGE_NONE)
			out[n++] = (int32_t)k;
	bytes = PyBytes_FromStringAndSize((const char *)out, (Py_ssize_t)(n * sizeof(int32_t)));
	free(out);
	return bytes;
}

static PyObject *Model_zswap_shrinker_count(ModelObject *self, PyObject *unused)
{
	return PyLong_FromLongLong(zswap_shrinker_count(&self->mm));
}

/* The fault log (a diagnostic: replay validate --fault-log). */
static PyObject *Model_start_fault_log(ModelObject *self, PyObject *args)
{
	long long cap;
	if (!PyArg_ParseTuple(args, "L", &cap))
		return NULL;
	if (cap < 0) {
		PyErr_SetString(PyExc_ValueError, "capacity must not be negative");
		return NULL;
	}
	free(self->mm.fault_log);
	self->mm.fault_log = calloc((size_t)cap * FAULT_LOG_FIELDS + 1, sizeof(int64_t));
	if (!self->mm.fault_log)
		return PyErr_NoMemory();
	self->mm.fault_log_cap = cap * FAULT_LOG_FIELDS;
	self->mm.fault_log_len = 0;
	Py_RETURN_NONE;
}

static PyObject *Model_fault_log(ModelObject *self, PyObject *unused)
{
	return PyBytes_FromStringAndSize((const char *)self->mm.fault_log,
					 (Py_ssize_t)(self->mm.fault_log_len * sizeof(int64_t)));
}

static PyMethodDef Model_methods[] = {
	{"start_fault_log", (PyCFunction)Model_start_fault_log, METH_VARARGS,
	 "start_fault_log(capacity): from now on log each fault on a swap PTE (the access, "
	 "the page, its swap slot, 1 for a swap cache hit), up to capacity faults"},
	{"fault_log", (PyCFunction)Model_fault_log, METH_NOARGS,
	 "the fault log so far: int64 bytes, four per fault (access, page, slot, swap cache hit)"},
	{"replay", (PyCFunction)Model_replay, METH_VARARGS,
	 "replay(pages, ops, trace_ns, timeline_buffer) -> accesses consumed"},
	{"timeline_row", (PyCFunction)Model_timeline_row, METH_VARARGS,
	 "timeline_row(row, done, trace_ns): write the state into a timeline row"},
	{"counters", (PyCFunction)Model_counters, METH_NOARGS,
	 "vm_events, mthp_stats (per order) and replay_stats"},
	{"time", (PyCFunction)Model_time, METH_NOARGS, "simulated time, ps"},
	{"tlb_counters", (PyCFunction)Model_tlb_counters, METH_VARARGS,
	 "tlb_counters(shadow=False): the TLB's (or its 4K shadow's) counters, or None"},
	{"check", (PyCFunction)Model_check, METH_NOARGS, "problems found in the state"},
	{"arrays", (PyCFunction)Model_arrays, METH_NOARGS,
	 "copies of the page records and the swap device"},
	{"lru_order", (PyCFunction)Model_lru_order, METH_VARARGS,
	 "lru_order(kind) -> the pages on a list, oldest first (0 inactive, 1 active, "
	 "2 zswap), as int32 bytes"},
	{"touched_records", (PyCFunction)Model_touched_records, METH_NOARGS,
	 "the records of the pages the replay touched, as int32 bytes"},
	{"zswap_shrinker_count", (PyCFunction)Model_zswap_shrinker_count, METH_NOARGS,
	 "zswap_shrinker_count() as memcg reclaim would call it"},
	{NULL},
};

#define MEMBER(name, type, field, doc) {name, type, offsetof(ModelObject, field), 0, doc}
static PyMemberDef Model_members[] = {
	MEMBER("nr_pages", T_LONGLONG, mm.nr_pages, "the dense id space"),
	MEMBER("nr_records", T_LONGLONG, nr_records, "page records (reachable pages + sentinels)"),
	MEMBER("accesses", T_LONGLONG, mm.accesses, "accesses replayed"),
	MEMBER("trace_ns", T_LONGLONG, mm.trace_ns, "trace time of the last access replayed"),
	MEMBER("oom", T_BOOL, mm.memcg.oom, "the memcg could not make room (an OOM kill)"),
	MEMBER("usage", T_LONGLONG, mm.memcg.usage, "memcg usage, pages"),
	MEMBER("stock", T_LONGLONG, mm.memcg.stock, "memcg charge stock, pages"),
	MEMBER("resident", T_LONGLONG, mm.resident, "resident pages"),
	MEMBER("peak_resident", T_LONGLONG, mm.peak_resident, "peak resident pages"),
	MEMBER("pool_bytes", T_LONGLONG, mm.zswap.bytes, "zswap (or zram) pool bytes"),
	MEMBER("peak_pool_bytes", T_LONGLONG, mm.peak_pool_bytes, "peak pool bytes"),
	MEMBER("zswap_nr_stored", T_LONGLONG, mm.zswap.lru.nr_live, "zswap entries"),
	MEMBER("zswap_nr_disk_swapins", T_LONGLONG, mm.zswap.nr_disk_swapins,
	       "zswap_lruvec_state.nr_disk_swapins"),
	MEMBER("zswap_shrinker", T_BOOL, mm.cfg.zswap_shrinker, "zswap.shrinker_enabled"),
	MEMBER("nr_inactive", T_LONGLONG, mm.lruvec.nr_inactive, "inactive anon pages"),
	MEMBER("nr_active", T_LONGLONG, mm.lruvec.nr_active, "active anon pages"),
	MEMBER("swap_inuse_pages", T_LONGLONG, mm.si.inuse_pages, "swap slots in use"),
	MEMBER("swap_slots", T_LONGLONG, mm.si.nr_slots, "swap slots"),
	MEMBER("tl_mode", T_INT, tl.mode, "timeline: 0 off, 1 accesses, 2 simulated time"),
	MEMBER("tl_window", T_LONGLONG, tl.window, "timeline window (accesses or ps)"),
	MEMBER("tl_next", T_LONGLONG, tl.next, "timeline: next window boundary"),
	MEMBER("tl_rows", T_LONGLONG, tl.rows, "timeline: rows in the buffer"),
	{NULL},
};

static PyTypeObject ModelType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "replay._mm.Model",
	.tp_doc = "One replay's model state (struct mm).",
	.tp_basicsize = sizeof(ModelObject),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Model_init,
	.tp_dealloc = (destructor)Model_dealloc,
	.tp_methods = Model_methods,
	.tp_members = Model_members,
};

/* ------------------------------------------------------------------ module */

static PyObject *mm_builtin_policy(PyObject *mod, PyObject *args)
{
	const char *name;
	swapin_policy_fn fn;
	if (!PyArg_ParseTuple(args, "s", &name))
		return NULL;
	fn = builtin_policy(name);
	if (!fn) {
		PyErr_Format(PyExc_KeyError, "no built-in policy %s", name);
		return NULL;
	}
	return PyLong_FromVoidPtr((void *)fn);
}

static PyObject *mm_call_policy(PyObject *mod, PyObject *args)
{
	PyObject *addr, *view_obj;
	Py_buffer view;
	swapin_policy_fn fn;
	int64_t order;
	if (!PyArg_ParseTuple(args, "OO", &addr, &view_obj))
		return NULL;
	fn = (swapin_policy_fn)PyLong_AsVoidPtr(addr);
	if (!fn)
		return PyErr_Occurred() ? NULL : PyErr_Format(PyExc_ValueError, "null policy");
	if (get_array(view_obj, &view, 8, VIEW_SIZE, "view") < 0)
		return NULL;
	order = fn(view.buf);
	PyBuffer_Release(&view);
	return PyLong_FromLongLong(order);
}

static PyObject *mm_lru_reference(PyObject *mod, PyObject *args)
{
	PyObject *ids_obj;
	long long capacity;
	Py_buffer ids;
	int64_t n, i, top = 0, misses;
	if (!PyArg_ParseTuple(args, "OL", &ids_obj, &capacity))
		return NULL;
	if (capacity < 1)
		return PyErr_Format(PyExc_ValueError, "capacity must be at least 1");
	if (get_array(ids_obj, &ids, 8, -1, "ids") < 0)
		return NULL;
	n = ids.len / 8;
	for (i = 0; i < n; i++) {
		int64_t p = ((const int64_t *)ids.buf)[i];
		if (p < 0 || p >= INT32_MAX) {
			PyBuffer_Release(&ids);
			return PyErr_Format(PyExc_ValueError, "page id %lld out of range", (long long)p);
		}
		top = p > top ? p : top;
	}
	Py_BEGIN_ALLOW_THREADS
	misses = lru_reference_misses(ids.buf, n, top + 1, capacity);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&ids);
	if (misses < 0)
		return PyErr_NoMemory();
	return PyLong_FromLongLong(misses);
}

static PyObject *names_tuple(const char *const *names, int n)
{
	PyObject *t = PyTuple_New(n);
	int i;
	for (i = 0; t && i < n; i++)
		PyTuple_SET_ITEM(t, i, PyUnicode_FromString(names[i]));
	return t;
}

static PyObject *builtin_policy_names(void)
{
	PyObject *l = PyList_New(0);
	const struct builtin_policy *p;
	for (p = builtin_policies; l && p->name; p++) {
		PyObject *s = PyUnicode_FromString(p->name);
		if (!s || PyList_Append(l, s) < 0)
			Py_CLEAR(l);
		Py_XDECREF(s);
	}
	return l;
}

static PyMethodDef mm_functions[] = {
	{"builtin_policy", mm_builtin_policy, METH_VARARGS,
	 "builtin_policy(name) -> the address of a built-in policy's function"},
	{"lru_reference", mm_lru_reference, METH_VARARGS,
	 "lru_reference(ids, capacity) -> misses of a bare LRU (benchmarks' reference)"},
	{"call_policy", mm_call_policy, METH_VARARGS,
	 "call_policy(address, view) -> the order the policy at address returns"},
	{NULL},
};

static struct PyModuleDef mm_module = {
	PyModuleDef_HEAD_INIT, "replay._mm",
	"The model of Linux v6.18's anonymous-memory path, in C (replay/mm).", -1, mm_functions,
};

#define ADD_FIELD(list, name, member, fmt) do { \
	PyObject *f = Py_BuildValue("(sns)", name, (Py_ssize_t)offsetof(struct page, member), fmt); \
	if (!f || PyList_Append(list, f) < 0) { Py_XDECREF(f); return NULL; } \
	Py_DECREF(f); \
} while (0)

static PyObject *page_record_fields(void)
{
	PyObject *l = PyList_New(0);
	if (!l)
		return NULL;
	ADD_FIELD(l, "pstate", state, "u1");
	ADD_FIELD(l, "young", young, "u1");
	ADD_FIELD(l, "used", used, "u1");
	ADD_FIELD(l, "backing", backing, "u1");
	ADD_FIELD(l, "fflags", flags, "u1");
	ADD_FIELD(l, "forder", order, "i1");
	ADD_FIELD(l, "zs_ref", zs_referenced, "u1");
	ADD_FIELD(l, "inunit", in_unit, "u1");
	ADD_FIELD(l, "head", head, "<i4");
	ADD_FIELD(l, "slot", slot, "<i4");
	ADD_FIELD(l, "lru_pos", lru_pos, "<i8");
	ADD_FIELD(l, "zs_pos", zs_pos, "<i8");
	ADD_FIELD(l, "shadow", shadow, "<i8");
	ADD_FIELD(l, "c_ns", c_ns, "<i4");
	ADD_FIELD(l, "d_ns", d_ns, "<i4");
	ADD_FIELD(l, "comp", comp, "<u2");
	ADD_FIELD(l, "vma_start", vma_start, "<u2");
	ADD_FIELD(l, "vma_end", vma_end, "<u2");
	ADD_FIELD(l, "zero", zero, "u1");
	ADD_FIELD(l, "hugepage", hugepage, "u1");
	return l;
}

PyMODINIT_FUNC PyInit__mm(void)
{
	PyObject *m;
	if (PyType_Ready(&ModelType) < 0 || PyType_Ready(&TLBType) < 0)
		return NULL;
	m = PyModule_Create(&mm_module);
	if (!m)
		return NULL;
	Py_INCREF(&ModelType);
	Py_INCREF(&TLBType);
	if (PyModule_AddObject(m, "Model", (PyObject *)&ModelType) < 0 ||
	    PyModule_AddObject(m, "TLB", (PyObject *)&TLBType) < 0 ||
	    PyModule_AddObject(m, "VM_EVENT_NAMES", names_tuple(vm_event_names, NR_VM_EVENT_ITEMS)) < 0 ||
	    PyModule_AddObject(m, "MTHP_STAT_NAMES", names_tuple(mthp_stat_names, __MTHP_STAT_COUNT)) < 0 ||
	    PyModule_AddObject(m, "REPLAY_STAT_NAMES",
			       names_tuple(replay_stat_names, NR_REPLAY_STAT_ITEMS)) < 0 ||
	    PyModule_AddObject(m, "BUILTIN_POLICIES", builtin_policy_names()) < 0 ||
	    PyModule_AddObject(m, "PAGE_RECORD_FIELDS", page_record_fields()) < 0 ||
	    PyModule_AddIntConstant(m, "PAGE_RECORD_SIZE", sizeof(struct page)) < 0 ||
	    PyModule_AddIntConstant(m, "CHUNK_PAGES", CHUNK_PAGES) < 0 ||
	    PyModule_AddIntConstant(m, "MAX_ORDER", MAX_ORDER) < 0 ||
	    PyModule_AddIntConstant(m, "NR_TL", NR_TL) < 0 ||
	    PyModule_AddIntConstant(m, "NR_COST_PARAMS", NR_COST_PARAMS) < 0 ||
	    PyModule_AddIntConstant(m, "VIEW_SIZE", VIEW_SIZE) < 0 ||
	    PyModule_AddIntConstant(m, "SWAPFILE_CLUSTER", SWAPFILE_CLUSTER) < 0 ||
	    PyModule_AddIntConstant(m, "SWP_BLKDEV", SWP_BLKDEV) < 0 ||
	    PyModule_AddIntConstant(m, "SWP_SOLIDSTATE", SWP_SOLIDSTATE) < 0 ||
	    PyModule_AddIntConstant(m, "SWP_SYNCHRONOUS_IO", SWP_SYNCHRONOUS_IO) < 0 ||
	    PyModule_AddIntConstant(m, "SWP_COMPRESSED", SWP_COMPRESSED) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
