/* replay._scan: the compiled loops of trace reading and importing.
 *
 * Every function takes numpy arrays through the buffer protocol (no numpy
 * headers needed), checks their element types and sizes before touching them,
 * and runs its loop with the GIL released. This header holds what the source
 * files share: typed views of those arrays and the declarations of the
 * functions and types module.c puts in the module.
 */
#ifndef REPLAY_SCAN_H
#define REPLAY_SCAN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

/* On x86-64 (GCC or clang) the hot loops are compiled twice, for baseline x86-64 and for
 * AVX2 + BMI2 (twice the vector width, shifts by a register in one instruction), and the
 * second runs when the CPU has them: the build stays portable (no -march flag); defining
 * SCAN_NO_CLONES builds the portable loops alone, as on other machines. CLONED
 * defines ``name(params)`` calling the ALWAYS_INLINE ``name##_body(args)`` either way. */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__) && !defined(SCAN_NO_CLONES)
#define SCAN_AVX2_CLONES 1
extern int scan_cpu_avx2;           /* the CPU has AVX2 and BMI2 (set when the module loads) */
#define CLONED(ret, name, params, args) \
    static ret name##_base params { return name##_body args; } \
    __attribute__((target("avx2,bmi,bmi2"))) static ret name##_avx2 params \
    { return name##_body args; } \
    static ret name params { return scan_cpu_avx2 ? name##_avx2 args : name##_base args; }
#else
#define CLONED(ret, name, params, args) static ret name params { return name##_body args; }
#endif

/* Element types of the arrays the loops read and write. */
typedef enum {
    ELEM_I8, ELEM_U8, ELEM_I16, ELEM_U16, ELEM_I32, ELEM_U32, ELEM_I64, ELEM_U64, ELEM_F64,
} ElemType;

/* An array seen through the buffer protocol: first element, length, byte stride, type.
 * ``held`` says whether ``view`` must be released. */
typedef struct {
    Py_buffer view;
    char *data;
    Py_ssize_t len;
    Py_ssize_t stride;
    ElemType type;
    int held;
} Column;

/* A 1-d array of any native integer type and any stride (as numba took them); 0 or -1. */
int column_get_int(PyObject *obj, const char *name, Column *col);

/* A C-contiguous array of exactly ``type`` (any shape, seen flat), writable if asked; 0 or -1. */
int column_get(PyObject *obj, const char *name, ElemType type, int writable, Column *col);

/* Release what column_get / column_get_int took (safe on a column never taken). */
void column_release(Column *col);

/* Element i of an integer column as int64: the value itself, uint64 wrapped as numpy's
 * astype(int64) does. With constant ``type`` and ``stride`` the switch folds away. */
static ALWAYS_INLINE int64_t load_int(const char *data, Py_ssize_t stride, ElemType type,
                                      Py_ssize_t i)
{
    const char *p = data + i * stride;
    /* memcpy: a strided view may be unaligned; compilers make each one a plain load */
    switch (type) {
    case ELEM_I8: { int8_t v; memcpy(&v, p, 1); return v; }
    case ELEM_U8: { uint8_t v; memcpy(&v, p, 1); return v; }
    case ELEM_I16: { int16_t v; memcpy(&v, p, 2); return v; }
    case ELEM_U16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case ELEM_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    case ELEM_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case ELEM_I64: { int64_t v; memcpy(&v, p, 8); return v; }
    default: { uint64_t v; memcpy(&v, p, 8); return (int64_t)v; }
    }
}

/* rows.c: row checks, the block set, the dense-index hash */
PyObject *scan_accesses_ok(PyObject *self, PyObject *args, PyObject *kwargs);
extern PyType_Spec block_set_spec;
extern PyType_Spec dense_index_spec;

/* csv.c: the delimited-text byte scanner and the number parser */
#define CSV_KEY_SLOTS 64       /* hash slots per dictionary column and window (power of 2) */
#define CSV_MAX_KEYS 32        /* distinct values a dictionary column may have per window */
#define CSV_KEY_BYTES 7        /* longest dictionary value packed in one word */
PyObject *scan_csv_rows(PyObject *self, PyObject *args);
PyObject *scan_parse_numbers(PyObject *self, PyObject *args);

/* lackey.c: valgrind lackey lines */
#define LACKEY_OUT_MARGIN 260  /* out rows kept free: one line writes at most 17 */
PyObject *scan_lackey(PyObject *self, PyObject *args);
void lackey_init_tables(void);

/* perf.c: `perf script` lines */
PyObject *scan_perf(PyObject *self, PyObject *args);
void perf_init_tables(void);

/* damo.c: DAMON region sampling */
PyObject *scan_damo_accessed_pages(PyObject *self, PyObject *args);

#endif
