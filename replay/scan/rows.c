/* Passes over a trace's chunks: row checks, the block set, the dense-index hash.
 *
 * A block key is ``(asid << 43) | (vpn >> 9)``: an address space and a 2 MiB block
 * of it, as replay.trace.block_keys computes it (int64, wrapping like numpy). Both
 * hash tables here use open addressing with linear probing and Fibonacci hashing
 * (the top bits of key * 2^64/phi), and are kept at most half full, so a probe
 * sequence always ends at an empty slot.
 */
#include "scan.h"

#define VPN_BITS 52            /* vpn < 2^52  (replay.trace.VPN_LIMIT) */
#define OP_BITS 2              /* op <= 3     (replay.trace.OP_FREE) */
#define ASID_BITS 20           /* asid < 2^20 (replay.trace.ASID_LIMIT) */
#define BLOCK_SHIFT 9          /* 512 pages of 4 KiB = one 2 MiB block */
#define ASID_SHIFT 43          /* key = (asid << 43) | (vpn >> 9) */
#define CHUNK_SHIFT 4          /* chunks of 16 pages: 32 per block, one bit each */
#define MIN_SLOTS 16
#define FIB UINT64_C(0x9E3779B97F4A7C15)   /* 2^64 / golden ratio */

/* The first slot probed for ``key`` in a table of 2^(64 - shift) slots. */
static inline Py_ssize_t home_slot(int64_t key, int shift)
{
    return (Py_ssize_t)(((uint64_t)key * FIB) >> shift);
}

/* log2 of a power of two. */
static int log2_of(Py_ssize_t pow2)
{
    int k = 0;
    while (((Py_ssize_t)1 << k) < pow2)
        k++;
    return k;
}

/* The block key of one access (see the top of this file). */
static inline int64_t block_key(int64_t vpn, int64_t asid)
{
    /* unsigned shift: no overflow in C; >> of a negative vpn is arithmetic, as numpy's */
    return (int64_t)(((uint64_t)asid << ASID_SHIFT) | (uint64_t)(vpn >> BLOCK_SHIFT));
}

/* True for uint64 columns: the one type whose values int64 cannot hold. */
static inline int is_unsigned64(ElemType t) { return t == ELEM_U64; }

/* ---------------------------------------------------------------- row checks */

/* 1 when b < a (int64), else 0, with no compare instruction (SSE2 has none for 64-bit
 * lanes): the sign of the exact b - a is the sign of the wrapped difference d, flipped
 * when the subtraction overflowed (a and b of different signs, d's sign not b's). */
static inline uint64_t less_i64(int64_t b, int64_t a)
{
    uint64_t ub = (uint64_t)b, ua = (uint64_t)a, d = ub - ua;
    return (d ^ ((ub ^ ua) & (ub ^ d))) >> 63;
}

#define LESS_NATIVE(b, a) ((b) < (a))   /* the types below 64 bits compare in SSE2 lanes */

/* For an integer type T (U: its unsigned twin):
 *   high_bits_clear_T(data, n, stride, bits): true when every element is in 0 .. 2^bits - 1
 *   nondecreasing_T(data, n, stride): true when no element is below the one before it
 * Both work in the type's own width (a uint8 column is 16 lanes of an SSE register, not
 * 2 widened ones) in blocks of 64 elements with no branch, which the compiler vectorises;
 * memcpy loads, as a strided view may be unaligned. */
#define ROW_CHECKS(NAME, T, U, IS_SIGNED, LESS) \
static ALWAYS_INLINE int high_bits_clear_##NAME(const char *data, Py_ssize_t n, \
                                                Py_ssize_t stride, int bits) \
{ \
    const int width = 8 * (int)sizeof(T); \
    U mask;                     /* the bits no value in range has */ \
    if (IS_SIGNED) \
        mask = bits >= width - 1 ? (U)((U)1 << (width - 1)) : (U) ~(U)(((U)1 << bits) - 1); \
    else if (bits >= width) \
        return 1; \
    else \
        mask = (U) ~(U)(((U)1 << bits) - 1); \
    U any = 0; \
    Py_ssize_t i = 0; \
    for (; i + 64 <= n; i += 64) \
        for (int j = 0; j < 64; j++) { \
            U u; \
            memcpy(&u, data + (i + j) * stride, sizeof u); \
            any |= u & mask; \
        } \
    for (; i < n; i++) { \
        U u; \
        memcpy(&u, data + i * stride, sizeof u); \
        any |= u & mask; \
    } \
    return any == 0; \
} \
static ALWAYS_INLINE int nondecreasing_##NAME(const char *data, Py_ssize_t n, Py_ssize_t stride) \
{ \
    U bad = 0; \
    Py_ssize_t i = 1; \
    for (; i + 64 <= n; i += 64) \
        for (int j = 0; j < 64; j++) { \
            T a, b; \
            memcpy(&a, data + (i + j - 1) * stride, sizeof a); \
            memcpy(&b, data + (i + j) * stride, sizeof b); \
            bad |= (U)LESS(b, a); \
        } \
    for (; i < n; i++) { \
        T a, b; \
        memcpy(&a, data + (i - 1) * stride, sizeof a); \
        memcpy(&b, data + i * stride, sizeof b); \
        bad |= (U)LESS(b, a); \
    } \
    return bad == 0; \
}

ROW_CHECKS(I8, int8_t, uint8_t, 1, LESS_NATIVE)
ROW_CHECKS(U8, uint8_t, uint8_t, 0, LESS_NATIVE)
ROW_CHECKS(I16, int16_t, uint16_t, 1, LESS_NATIVE)
ROW_CHECKS(U16, uint16_t, uint16_t, 0, LESS_NATIVE)
ROW_CHECKS(I32, int32_t, uint32_t, 1, LESS_NATIVE)
ROW_CHECKS(U32, uint32_t, uint32_t, 0, LESS_NATIVE)
ROW_CHECKS(I64, int64_t, uint64_t, 1, less_i64)
ROW_CHECKS(U64, uint64_t, uint64_t, 0, LESS_NATIVE)

/* Each type with its own element size as a constant stride (contiguous arrays), and
 * with the column's stride otherwise. */
#define FOR_EACH_INT_TYPE(CASE) \
    CASE(I8, 1) CASE(U8, 1) CASE(I16, 2) CASE(U16, 2) \
    CASE(I32, 4) CASE(U32, 4) CASE(I64, 8) CASE(U64, 8)

/* high_bits_clear_T for a column of any integer type. */
static ALWAYS_INLINE int high_bits_clear(const Column *c, int bits)
{
    const char *data = c->data;
    Py_ssize_t n = c->len;
    switch (c->type) {
#define CASE(NAME, SIZE) \
    case ELEM_##NAME: \
        return c->stride == (SIZE) ? high_bits_clear_##NAME(data, n, SIZE, bits) \
                                   : high_bits_clear_##NAME(data, n, c->stride, bits);
    FOR_EACH_INT_TYPE(CASE)
#undef CASE
    default:
        return 0;
    }
}

/* nondecreasing_T for a column of any integer type. */
static ALWAYS_INLINE int nondecreasing(const Column *c)
{
    const char *data = c->data;
    Py_ssize_t n = c->len;
    switch (c->type) {
#define CASE(NAME, SIZE) \
    case ELEM_##NAME: \
        return c->stride == (SIZE) ? nondecreasing_##NAME(data, n, SIZE) \
                                   : nondecreasing_##NAME(data, n, c->stride);
    FOR_EACH_INT_TYPE(CASE)
#undef CASE
    default:
        return 0;
    }
}

/* The row checks of the trace's own column types (time and vpn int64, op uint8, asid int32,
 * all contiguous) in one loop over the rows (the time of row 0 is checked by the caller):
 * true when every row passes. */
static ALWAYS_INLINE int canonical_rows_ok(const char *time, const char *vpn, const char *op,
                                           const char *asid, Py_ssize_t n)
{
    const uint64_t vpn_mask = ~((UINT64_C(1) << VPN_BITS) - 1);
    const uint32_t asid_mask = ~((UINT32_C(1) << ASID_BITS) - 1);
    const uint8_t op_mask = (uint8_t)~((1u << OP_BITS) - 1);
    uint64_t any = 0;
#define CANONICAL_ROW(i) do { \
        int64_t t0, t1; \
        uint64_t v; \
        uint32_t a; \
        memcpy(&t0, time + 8 * ((i) - 1), 8); \
        memcpy(&t1, time + 8 * (i), 8); \
        memcpy(&v, vpn + 8 * (i), 8); \
        memcpy(&a, asid + 4 * (i), 4); \
        any |= (v & vpn_mask) | (a & asid_mask) | ((uint8_t)op[i] & op_mask) \
            | less_i64(t1, t0); \
    } while (0)
    if (n == 0)
        return 1;
    uint64_t v0;
    uint32_t a0;
    memcpy(&v0, vpn, 8);
    memcpy(&a0, asid, 4);
    any = (v0 & vpn_mask) | (a0 & asid_mask) | ((uint8_t)op[0] & op_mask);
    Py_ssize_t i = 1;
    for (; i + 64 <= n; i += 64)
        for (int j = 0; j < 64; j++)
            CANONICAL_ROW(i + j);
    for (; i < n; i++)
        CANONICAL_ROW(i);
#undef CANONICAL_ROW
    return any == 0;
}

/* True when the columns time_ns, vpn, op, asid pass the checks (see accesses_ok): one loop
 * over the rows for the trace's own types, else one pass per column. */
static ALWAYS_INLINE int rows_ok_body(const Column *cols, long long last_time)
{
    Py_ssize_t n = cols[1].len;
    int ok;
    if (cols[0].type == ELEM_I64 && cols[0].stride == 8 && cols[1].type == ELEM_I64
        && cols[1].stride == 8 && cols[2].type == ELEM_U8 && cols[2].stride == 1
        && cols[3].type == ELEM_I32 && cols[3].stride == 4)
        ok = canonical_rows_ok(cols[0].data, cols[1].data, cols[2].data, cols[3].data, n);
    else
        ok = high_bits_clear(&cols[1], VPN_BITS) && high_bits_clear(&cols[2], OP_BITS)
            && high_bits_clear(&cols[3], ASID_BITS) && nondecreasing(&cols[0]);
    if (ok && n) {
        /* the first time against the previous chunk's last, compared as numbers */
        int64_t t0 = load_int(cols[0].data, cols[0].stride, cols[0].type, 0);
        if (is_unsigned64(cols[0].type))
            ok = last_time < 0 || (uint64_t)t0 >= (uint64_t)last_time;
        else
            ok = t0 >= last_time;
    }
    return ok;
}

CLONED(int, rows_ok, (const Column *cols, long long last_time), (cols, last_time))

/* _scan.accesses_ok: take the four columns, check their lengths, rows_ok without the GIL. */
PyObject *scan_accesses_ok(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"time_ns", "vpn", "op", "asid", "last_time", NULL};
    PyObject *objs[4];
    long long last_time;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOL:accesses_ok", kwlist, &objs[0],
                                     &objs[1], &objs[2], &objs[3], &last_time))
        return NULL;
    static const char *const names[] = {"time_ns", "vpn", "op", "asid"};
    Column cols[4];
    memset(cols, 0, sizeof cols);
    int ok = 0;
    for (int k = 0; k < 4; k++)
        if (column_get_int(objs[k], names[k], &cols[k]) < 0)
            goto done;
    Py_ssize_t n = cols[1].len;
    for (int k = 0; k < 4; k++)
        if (cols[k].len != n) {
            PyErr_Format(PyExc_ValueError, "accesses_ok: %s has %zd rows, vpn %zd", names[k],
                         cols[k].len, n);
            goto done;
        }
    Py_BEGIN_ALLOW_THREADS
    ok = rows_ok(cols, last_time);
    Py_END_ALLOW_THREADS
done:
    for (int k = 0; k < 4; k++)
        column_release(&cols[k]);
    if (PyErr_Occurred())
        return NULL;
    return PyBool_FromLong(ok);
}

/* ---------------------------------------------------------------- the block set */

/* A slot of the block set: a key, the 16-page chunks of its block seen, in use or not. */
typedef struct {
    int64_t key;
    uint32_t chunks;
    uint32_t used;
} BlockSlot;

typedef struct {
    PyObject_HEAD
    BlockSlot *slots;
    Py_ssize_t nslots;          /* a power of two */
    int shift;                  /* 64 - log2(nslots) */
    Py_ssize_t count;           /* slots in use: at most nslots / 2 */
    int busy;                   /* a call is adding (with the GIL released) */
} BlockSetObject;

/* Rehash the set into twice as many slots; -1 when out of memory (the set unchanged). */
static int block_set_grow(BlockSetObject *s)
{
    Py_ssize_t nslots = 2 * s->nslots;
    BlockSlot *slots = PyMem_RawCalloc((size_t)nslots, sizeof(BlockSlot));
    if (slots == NULL)
        return -1;
    int shift = s->shift - 1;
    Py_ssize_t mask = nslots - 1;
    for (Py_ssize_t i = 0; i < s->nslots; i++) {
        if (!s->slots[i].used)
            continue;
        Py_ssize_t t = home_slot(s->slots[i].key, shift);
        while (slots[t].used)
            t = (t + 1) & mask;
        slots[t] = s->slots[i];
    }
    PyMem_RawFree(s->slots);
    s->slots = slots;
    s->nslots = nslots;
    s->shift = shift;
    return 0;
}

/* Add the block key and chunk bit of rows [0, n); -1 when out of memory. */
static ALWAYS_INLINE int block_set_add_t(BlockSetObject *s, const char *vpn, Py_ssize_t vstride,
                                         ElemType vtype, const char *asid, Py_ssize_t astride,
                                         ElemType atype, Py_ssize_t n)
{
    /* the table in locals: with -fno-strict-aliasing every store to a slot could change
     * s's fields, which the compiler would then reload on each row */
    BlockSlot *slots = s->slots;
    Py_ssize_t mask = s->nslots - 1;
    int shift = s->shift;
    /* every row probes: skipping the probe for a run of one block costs a branch that
     * mispredicts on mixed traces, more than a probe of a cached slot (measured) */
    int rc = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t v = load_int(vpn, vstride, vtype, i);
        int64_t key = block_key(v, load_int(asid, astride, atype, i));
        /* the key compare first: a hit leaves the loop at once (an empty slot's key is 0;
         * key 0 stopping at an empty slot is not in the set, and is added there) */
        Py_ssize_t t = home_slot(key, shift);
        while (slots[t].key != key && slots[t].used)
            t = (t + 1) & mask;
        BlockSlot *slot = &slots[t];
        /* a store per row, unconditional: testing the bit first costs a mispredicted
         * branch per new chunk, more than the store (measured) */
        slot->chunks |= UINT32_C(1) << ((v & 511) >> CHUNK_SHIFT);
        if (!slot->used) {
            slot->used = 1;
            slot->key = key;
            s->count++;
            if (2 * s->count > s->nslots) {
                if (block_set_grow(s) < 0) {
                    rc = -1;
                    break;
                }
                slots = s->slots;
                mask = s->nslots - 1;
                shift = s->shift;
            }
        }
    }
    return rc;
}

/* block_set_add_t for columns of any integer types (int64 vpn, int32 asid: the trace's). */
static ALWAYS_INLINE int block_set_add_rows_body(BlockSetObject *s, const Column *vpn,
                                                  const Column *asid)
{
    if (vpn->type == ELEM_I64 && vpn->stride == 8 && asid->type == ELEM_I32 && asid->stride == 4)
        return block_set_add_t(s, vpn->data, 8, ELEM_I64, asid->data, 4, ELEM_I32, vpn->len);
    return block_set_add_t(s, vpn->data, vpn->stride, vpn->type, asid->data, asid->stride,
                           asid->type, vpn->len);
}

CLONED(int, block_set_add_rows, (BlockSetObject *s, const Column *vpn, const Column *asid),
       (s, vpn, asid))

/* BlockSet(): an empty set of MIN_SLOTS slots. */
static PyObject *block_set_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) != 0 || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "BlockSet() takes no arguments");
        return NULL;
    }
    BlockSetObject *s = (BlockSetObject *)PyType_GenericAlloc(type, 0);
    if (s == NULL)
        return NULL;
    s->slots = PyMem_RawCalloc(MIN_SLOTS, sizeof(BlockSlot));
    if (s->slots == NULL) {
        Py_DECREF(s);
        return PyErr_NoMemory();
    }
    s->nslots = MIN_SLOTS;
    s->shift = 64 - log2_of(MIN_SLOTS);
    return (PyObject *)s;
}

/* Free the slots, then the object. */
static void block_set_dealloc(BlockSetObject *s)
{
    PyTypeObject *type = Py_TYPE(s);
    PyMem_RawFree(s->slots);
    type->tp_free((PyObject *)s);
    Py_DECREF(type);
}

/* BlockSet.add(vpn, asid): block_set_add_rows without the GIL (one call at a time). */
static PyObject *block_set_add(BlockSetObject *s, PyObject *args)
{
    PyObject *vpn_obj, *asid_obj;
    if (!PyArg_ParseTuple(args, "OO:add", &vpn_obj, &asid_obj))
        return NULL;
    Column vpn, asid;
    if (column_get_int(vpn_obj, "vpn", &vpn) < 0)
        return NULL;
    if (column_get_int(asid_obj, "asid", &asid) < 0) {
        column_release(&vpn);
        return NULL;
    }
    int rc = 0;
    if (vpn.len != asid.len) {
        PyErr_Format(PyExc_ValueError, "%zd page numbers but %zd address space ids", vpn.len,
                     asid.len);
        rc = -1;
    } else if (s->busy) {
        PyErr_SetString(PyExc_RuntimeError, "BlockSet.add is running in another thread");
        rc = -1;
    } else {
        s->busy = 1;
        Py_BEGIN_ALLOW_THREADS
        rc = block_set_add_rows(s, &vpn, &asid);
        Py_END_ALLOW_THREADS
        s->busy = 0;
        if (rc < 0)
            PyErr_NoMemory();
    }
    column_release(&vpn);
    column_release(&asid);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* BlockSet.fill(keys, chunks): every key and chunk mask, in slot order. */
static PyObject *block_set_fill(BlockSetObject *s, PyObject *args)
{
    PyObject *keys_obj, *chunks_obj;
    if (!PyArg_ParseTuple(args, "OO:fill", &keys_obj, &chunks_obj))
        return NULL;
    Column keys, chunks;
    if (column_get(keys_obj, "keys", ELEM_I64, 1, &keys) < 0)
        return NULL;
    if (column_get(chunks_obj, "chunks", ELEM_U32, 1, &chunks) < 0) {
        column_release(&keys);
        return NULL;
    }
    int ok = keys.len == s->count && chunks.len == s->count && !s->busy;
    if (ok) {
        int64_t *k = (int64_t *)keys.data;
        uint32_t *c = (uint32_t *)chunks.data;
        Py_ssize_t j = 0;
        for (Py_ssize_t i = 0; i < s->nslots; i++)
            if (s->slots[i].used) {
                k[j] = s->slots[i].key;
                c[j] = s->slots[i].chunks;
                j++;
            }
    } else if (s->busy) {
        PyErr_SetString(PyExc_RuntimeError, "BlockSet.add is running in another thread");
    } else {
        PyErr_Format(PyExc_ValueError, "fill: the set has %zd keys, the arrays %zd and %zd",
                     s->count, keys.len, chunks.len);
    }
    column_release(&keys);
    column_release(&chunks);
    if (!ok)
        return NULL;
    Py_RETURN_NONE;
}

/* len(BlockSet): the number of distinct keys. */
static Py_ssize_t block_set_len(BlockSetObject *s)
{
    return s->count;
}

static PyMethodDef block_set_methods[] = {
    {"add", (PyCFunction)block_set_add, METH_VARARGS,
     "add(vpn, asid): add each row's block key, and its 16-page chunk to the key's mask."},
    {"fill", (PyCFunction)block_set_fill, METH_VARARGS,
     "fill(keys, chunks): write every key (int64) and its chunk mask (uint32), in slot "
     "order, into arrays of len(self)."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot block_set_slots[] = {
    {Py_tp_doc, "The distinct block keys (asid << 43 | vpn >> 9) of the rows added, each "
                "with a uint32 mask of the 16-page chunks of its block that were touched "
                "(bit (vpn & 511) >> 4)."},
    {Py_tp_new, block_set_new},
    {Py_tp_dealloc, block_set_dealloc},
    {Py_tp_methods, block_set_methods},
    {Py_sq_length, block_set_len},
    {0, NULL},
};

PyType_Spec block_set_spec = {
    .name = "replay._scan.BlockSet",
    .basicsize = sizeof(BlockSetObject),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = block_set_slots,
};

/* ---------------------------------------------------------------- the dense index */

/* A slot of the dense index: a key and its rank in the table (rank < 0: empty). */
typedef struct {
    int64_t key;
    int64_t rank;
} RankSlot;

typedef struct {
    PyObject_HEAD
    RankSlot *slots;
    Py_ssize_t nslots;          /* a power of two, at least twice the table */
    int shift;
    int64_t *table;             /* a copy of the sorted table, for keys not in it */
    Py_ssize_t ntable;
} DenseIndexObject;

/* np.searchsorted(table, key) (side left): the first index whose value is >= key. */
static int64_t lower_bound(const int64_t *table, Py_ssize_t n, int64_t key)
{
    Py_ssize_t lo = 0, hi = n;
    while (lo < hi) {
        Py_ssize_t mid = lo + ((hi - lo) >> 1);
        if (table[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Fill the index from the table: each key's first rank (searchsorted's for repeats). */
static void dense_index_build(DenseIndexObject *d)
{
    Py_ssize_t mask = d->nslots - 1;
    for (Py_ssize_t i = 0; i < d->nslots; i++) {
        d->slots[i].key = 0;        /* an empty slot matching key 0 still says "empty" */
        d->slots[i].rank = -1;
    }
    for (Py_ssize_t r = 0; r < d->ntable; r++) {
        int64_t key = d->table[r];
        Py_ssize_t t = home_slot(key, d->shift);
        while (d->slots[t].rank >= 0 && d->slots[t].key != key)
            t = (t + 1) & mask;
        if (d->slots[t].rank < 0) {
            d->slots[t].key = key;
            d->slots[t].rank = r;
        }
    }
}

/* out[i] = rank of row i's block key << 9 | (vpn & 511) for rows [0, n). */
static ALWAYS_INLINE void dense_ids_t(const DenseIndexObject *d, const char *vpn,
                                      Py_ssize_t vstride, ElemType vtype, const char *asid,
                                      Py_ssize_t astride, ElemType atype, Py_ssize_t n,
                                      int64_t *out)
{
    /* in locals: with -fno-strict-aliasing a store to out could change d's fields */
    const RankSlot *slots = d->slots;
    const int64_t *table = d->table;
    Py_ssize_t mask = d->nslots - 1, ntable = d->ntable;
    int shift = d->shift;
    /* every row probes: skipping the probe for a run of one block costs a branch that
     * mispredicts on mixed traces, more than a probe of a cached slot (measured) */
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t v = load_int(vpn, vstride, vtype, i);
        int64_t key = block_key(v, load_int(asid, astride, atype, i));
        /* the key compare first: a hit (nearly every row) leaves the loop at once */
        Py_ssize_t t = home_slot(key, shift);
        while (slots[t].key != key && slots[t].rank >= 0)
            t = (t + 1) & mask;
        int64_t rank = slots[t].rank;
        if (rank < 0)                   /* not in the table: where searchsorted puts it */
            rank = lower_bound(table, ntable, key);
        out[i] = (int64_t)((uint64_t)rank << BLOCK_SHIFT) | (v & ((1 << BLOCK_SHIFT) - 1));
    }
}

/* dense_ids_t for columns of any integer types (int64 vpn, int32 asid: the trace's). */
static ALWAYS_INLINE int dense_ids_rows_body(const DenseIndexObject *d, const Column *vpn,
                                             const Column *asid, int64_t *out)
{
    if (vpn->type == ELEM_I64 && vpn->stride == 8 && asid->type == ELEM_I32 && asid->stride == 4)
        dense_ids_t(d, vpn->data, 8, ELEM_I64, asid->data, 4, ELEM_I32, vpn->len, out);
    else
        dense_ids_t(d, vpn->data, vpn->stride, vpn->type, asid->data, asid->stride, asid->type,
                    vpn->len, out);
    return 0;
}

CLONED(int, dense_ids_rows, (const DenseIndexObject *d, const Column *vpn, const Column *asid,
                             int64_t *out), (d, vpn, asid, out))

/* DenseIndex(table): copy the sorted table and hash each key to its rank. */
static PyObject *dense_index_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"table", NULL};
    PyObject *table_obj;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:DenseIndex", kwlist, &table_obj))
        return NULL;
    Column table;
    if (column_get(table_obj, "table", ELEM_I64, 0, &table) < 0)
        return NULL;
    DenseIndexObject *d = (DenseIndexObject *)PyType_GenericAlloc(type, 0);
    if (d == NULL) {
        column_release(&table);
        return NULL;
    }
    Py_ssize_t nslots = MIN_SLOTS;
    while (nslots < 2 * table.len)
        nslots *= 2;
    d->nslots = nslots;
    d->shift = 64 - log2_of(nslots);
    d->ntable = table.len;
    d->slots = PyMem_RawMalloc((size_t)nslots * sizeof(RankSlot));
    d->table = PyMem_RawMalloc((size_t)(table.len ? table.len : 1) * sizeof(int64_t));
    if (d->slots == NULL || d->table == NULL) {
        column_release(&table);
        Py_DECREF(d);
        return PyErr_NoMemory();
    }
    memcpy(d->table, table.data, (size_t)table.len * sizeof(int64_t));
    column_release(&table);
    Py_BEGIN_ALLOW_THREADS
    dense_index_build(d);
    Py_END_ALLOW_THREADS
    return (PyObject *)d;
}

/* Free the slots and the table copy, then the object. */
static void dense_index_dealloc(DenseIndexObject *d)
{
    PyTypeObject *type = Py_TYPE(d);
    PyMem_RawFree(d->slots);
    PyMem_RawFree(d->table);
    type->tp_free((PyObject *)d);
    Py_DECREF(type);
}

/* DenseIndex.dense_ids(vpn, asid, out): dense_ids_rows into out without the GIL. */
static PyObject *dense_index_dense_ids(DenseIndexObject *d, PyObject *args)
{
    PyObject *vpn_obj, *asid_obj, *out_obj;
    if (!PyArg_ParseTuple(args, "OOO:dense_ids", &vpn_obj, &asid_obj, &out_obj))
        return NULL;
    Column vpn = {0}, asid = {0}, out = {0};
    if (column_get_int(vpn_obj, "vpn", &vpn) < 0 || column_get_int(asid_obj, "asid", &asid) < 0
        || column_get(out_obj, "out", ELEM_I64, 1, &out) < 0)
        goto done;
    if (asid.len != vpn.len || out.len != vpn.len) {
        PyErr_Format(PyExc_ValueError, "%zd page numbers, %zd address space ids, %zd outputs",
                     vpn.len, asid.len, out.len);
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    dense_ids_rows(d, &vpn, &asid, (int64_t *)out.data);
    Py_END_ALLOW_THREADS
done:
    column_release(&vpn);
    column_release(&asid);
    column_release(&out);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef dense_index_methods[] = {
    {"dense_ids", (PyCFunction)dense_index_dense_ids, METH_VARARGS,
     "dense_ids(vpn, asid, out): out[i] = searchsorted(table, key of row i) << 9 "
     "| (vpn[i] & 511), into an int64 array of the rows' length."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot dense_index_slots[] = {
    {Py_tp_doc, "DenseIndex(table): a hash from each key of a sorted int64 table to its "
                "rank (its first, for repeated keys)."},
    {Py_tp_new, dense_index_new},
    {Py_tp_dealloc, dense_index_dealloc},
    {Py_tp_methods, dense_index_methods},
    {0, NULL},
};

PyType_Spec dense_index_spec = {
    .name = "replay._scan.DenseIndex",
    .basicsize = sizeof(DenseIndexObject),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = dense_index_slots,
};
