/* DAMON records: which pages of a snapshot's regions replay.importers.damo samples. */
#include "scan.h"

/* splitmix64's finaliser: a fixed, well-mixed hash of a 64-bit value. */
static inline uint64_t mix64(uint64_t x)
{
    x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
    return x ^ (x >> 31);
}

/* Pages p of each region r (starts[r] <= p < ends[r]) whose hash (mix64(p ^ key) >> 11) / 2^53
 * is below probs[r], in address order, into out when store; returns how many, or -1 when
 * out is too short. */
static Py_ssize_t accessed_pages(const int64_t *starts, const int64_t *ends, const double *probs,
                                 Py_ssize_t nregions, uint64_t key, int store, int64_t *out,
                                 Py_ssize_t out_len)
{
    Py_ssize_t n = 0;
    for (Py_ssize_t r = 0; r < nregions; r++) {
        double prob = probs[r];
        if (!(prob > 0.0))              /* NaN too: not accessed */
            continue;
        if (prob >= 1.0) {
            if (ends[r] <= starts[r])
                continue;
            if (store) {
                if (ends[r] - starts[r] > out_len - n)
                    return -1;
                for (int64_t p = starts[r]; p < ends[r]; p++)
                    out[n++] = p;
            } else {
                n += (Py_ssize_t)(ends[r] - starts[r]);
            }
            continue;
        }
        /* the top 53 bits of the hash against prob * 2^53 (exact: prob < 1) */
        uint64_t threshold = (uint64_t)(prob * 9007199254740992.0);
        for (int64_t p = starts[r]; p < ends[r]; p++)
            if ((mix64((uint64_t)p ^ key) >> 11) < threshold) {
                if (store) {
                    if (n == out_len)
                        return -1;
                    out[n] = p;
                }
                n++;
            }
    }
    return n;
}

/* _scan.damo_accessed_pages: accessed_pages over numpy arrays, without the GIL. */
PyObject *scan_damo_accessed_pages(PyObject *self, PyObject *args)
{
    PyObject *starts_obj, *ends_obj, *probs_obj, *key_obj, *out_obj;
    if (!PyArg_ParseTuple(args, "OOOOO:damo_accessed_pages", &starts_obj, &ends_obj, &probs_obj,
                          &key_obj, &out_obj))
        return NULL;
    uint64_t key = PyLong_AsUnsignedLongLong(key_obj);
    if (key == (uint64_t)-1 && PyErr_Occurred())
        return NULL;
    Column starts = {0}, ends = {0}, probs = {0}, out = {0};
    Py_ssize_t n = 0;
    if (column_get(starts_obj, "starts", ELEM_I64, 0, &starts) < 0
        || column_get(ends_obj, "ends", ELEM_I64, 0, &ends) < 0
        || column_get(probs_obj, "probs", ELEM_F64, 0, &probs) < 0
        || column_get(out_obj, "out", ELEM_I64, 1, &out) < 0)
        goto done;
    if (ends.len != starts.len || probs.len != starts.len) {
        PyErr_SetString(PyExc_ValueError, "damo_accessed_pages: starts, ends and probs differ "
                        "in length");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    n = accessed_pages((const int64_t *)starts.data, (const int64_t *)ends.data,
                       (const double *)probs.data, starts.len, key, out.len > 0,
                       (int64_t *)out.data, out.len);
    Py_END_ALLOW_THREADS
    if (n < 0)
        PyErr_SetString(PyExc_ValueError, "damo_accessed_pages: out is too short");
done:
    column_release(&starts);
    column_release(&ends);
    column_release(&probs);
    column_release(&out);
    if (PyErr_Occurred())
        return NULL;
    return PyLong_FromSsize_t(n);
}
