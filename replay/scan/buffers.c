/* Typed views of numpy arrays (or any buffer) for the loops of replay._scan. */
#include "scan.h"

#include <string.h>

static const char *const ELEM_NAMES[] = {
    "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float64",
};

/* The element type a buffer's struct-style format names, or -1 (another type, or a byte
 * order other than the machine's). */
static int elem_type_of(const Py_buffer *view)
{
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=') {
        f++;
    } else if (*f == '<' || *f == '>' || *f == '!') {
        int little = *f == '<';
        if (little != PY_LITTLE_ENDIAN)
            return -1;
        f++;
    }
    if (f[0] == '\0' || f[1] != '\0')
        return -1;
    int is_signed;
    switch (f[0]) {
    case 'b': case 'h': case 'i': case 'l': case 'q': case 'n':
        is_signed = 1;
        break;
    case 'B': case 'H': case 'I': case 'L': case 'Q': case 'N':
        is_signed = 0;
        break;
    case 'd':
        return view->itemsize == 8 ? ELEM_F64 : -1;
    default:
        return -1;
    }
    switch (view->itemsize) {
    case 1: return is_signed ? ELEM_I8 : ELEM_U8;
    case 2: return is_signed ? ELEM_I16 : ELEM_U16;
    case 4: return is_signed ? ELEM_I32 : ELEM_U32;
    case 8: return is_signed ? ELEM_I64 : ELEM_U64;
    default: return -1;
    }
}

/* A 1-d integer column of any native type and stride from obj (see scan.h); 0 or -1. */
int column_get_int(PyObject *obj, const char *name, Column *col)
{
    memset(col, 0, sizeof *col);
    if (PyObject_GetBuffer(obj, &col->view, PyBUF_RECORDS_RO) < 0) {
        PyErr_Format(PyExc_TypeError, "%s: expected a 1-d integer array, got %.80s", name,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    col->held = 1;
    int type = elem_type_of(&col->view);
    if (col->view.ndim != 1 || type < 0 || type == ELEM_F64) {
        PyErr_Format(PyExc_TypeError, "%s: expected a 1-d array of a native integer type "
                     "(ndim %d, format '%s')", name, col->view.ndim,
                     col->view.format ? col->view.format : "B");
        column_release(col);
        return -1;
    }
    col->type = (ElemType)type;
    col->data = col->view.buf;
    col->len = col->view.shape[0];
    col->stride = col->view.strides[0];
    return 0;
}

/* A C-contiguous array of exactly ``type`` from obj, seen flat (see scan.h); 0 or -1. */
int column_get(PyObject *obj, const char *name, ElemType type, int writable, Column *col)
{
    memset(col, 0, sizeof *col);
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, &col->view, flags) < 0) {
        PyErr_Format(PyExc_TypeError, "%s: expected a C-contiguous%s %s array, got %.80s",
                     name, writable ? " writable" : "", ELEM_NAMES[type], Py_TYPE(obj)->tp_name);
        return -1;
    }
    col->held = 1;
    if (elem_type_of(&col->view) != (int)type) {
        PyErr_Format(PyExc_TypeError, "%s: expected a %s array (format '%s')", name,
                     ELEM_NAMES[type], col->view.format ? col->view.format : "B");
        column_release(col);
        return -1;
    }
    if ((uintptr_t)col->view.buf % (uintptr_t)col->view.itemsize != 0) {
        PyErr_Format(PyExc_ValueError, "%s: the array's data is not aligned", name);
        column_release(col);
        return -1;
    }
    col->type = type;
    col->data = col->view.buf;
    col->stride = col->view.itemsize;
    col->len = col->view.len / col->view.itemsize;
    return 0;
}

/* Give back the buffer a column holds, if any. */
void column_release(Column *col)
{
    if (col->held) {
        PyBuffer_Release(&col->view);
        col->held = 0;
    }
}
