/* valgrind lackey output: the byte scanner of replay.importers.lackey.
 *
 * Lines are "I  ADDR,SIZE" (instruction fetch), " L", " S" or " M" (load, store,
 * modify), ==pid== / --pid-- banners and blank lines. The buffer ends with a
 * newline, which stops every loop below before its end.
 */
#include "scan.h"

#define MAX_ACCESS_BYTES 65536          /* lackey.MAX_ACCESS_BYTES */
#define NOT_HEX 255

/* lackey._ERRORS codes */
enum { LK_OK = 0, LK_BAD_LINE = 1, LK_NO_ADDRESS = 2, LK_ADDRESS_TOO_LONG = 3, LK_NO_COMMA = 4,
       LK_NO_SIZE = 5, LK_SIZE_TOO_BIG = 6, LK_TRAILING_TEXT = 7 };

static uint8_t hex_value[256];          /* a byte's hex digit value, NOT_HEX for others */

/* Fill hex_value (once, when the module loads). */
void lackey_init_tables(void)
{
    for (int c = 0; c < 256; c++)
        hex_value[c] = NOT_HEX;
    for (int d = 0; d < 10; d++)
        hex_value['0' + d] = (uint8_t)d;
    for (int d = 0; d < 6; d++) {
        hex_value['a' + d] = (uint8_t)(10 + d);
        hex_value['A' + d] = (uint8_t)(10 + d);
    }
}

/* Where lackey_scan writes and how it turns lines into accesses. */
typedef struct {
    int64_t ns_per_record;
    int include_instr;
    int both_pages;                     /* an access crossing pages touches each one */
    int64_t *out_time, *out_vpn;
    uint8_t *out_op;
    Py_ssize_t cap;                     /* stop at a line start once this many rows are out */
} LackeyScan;

/* Scan the lines of buf[*pos:end] into the out arrays from row *n_out: one access per
 * L/S/M line (and I line if asked), per page it covers if asked. Updates *pos, *n_out and
 * *ordinal (the I/L/S/M lines seen), sets *lines (lines done) and returns LK_OK, or an
 * error code with *pos at the start of the bad line. */
static int lackey_scan(const LackeyScan *s, const uint8_t *buf, Py_ssize_t *pos_io,
                       Py_ssize_t end, int64_t *ordinal_io, Py_ssize_t *n_out_io,
                       Py_ssize_t *lines_out)
{
    Py_ssize_t pos = *pos_io, n_out = *n_out_io, lines = 0, line_start = pos;
    int64_t ordinal = *ordinal_io;
    int err = LK_OK;
    while (pos < end) {
        if (n_out >= s->cap)
            break;
        line_start = pos;
        int c = buf[pos];
        while (c == ' ' || c == '\t')
            c = buf[++pos];
        int kind;                       /* 0 I, 1 L, 2 S, 3 M */
        if (c == 'L') {
            kind = 1;
        } else if (c == 'I') {
            kind = 0;
        } else if (c == 'S') {
            kind = 2;
        } else if (c == 'M') {
            kind = 3;
        } else if (c == '\n' || c == '\r' || (c == '=' && buf[pos + 1] == '=')
                   || (c == '-' && buf[pos + 1] == '-')) {
            while (buf[pos] != '\n')    /* a blank line, a ==pid== / --pid-- banner */
                pos++;
            pos++;
            lines++;
            continue;
        } else {
            err = LK_BAD_LINE;
            break;
        }
        c = buf[++pos];
        if (c != ' ' && c != '\t') {
            err = LK_BAD_LINE;
            break;
        }
        while (c == ' ' || c == '\t')
            c = buf[++pos];
        uint64_t addr = 0;
        Py_ssize_t start = pos;
        int v = hex_value[c];
        while (v != NOT_HEX) {
            addr = (addr << 4) | (uint64_t)v;
            v = hex_value[buf[++pos]];
        }
        if (pos == start) {
            err = LK_NO_ADDRESS;
            break;
        }
        if (pos - start > 16) {
            err = LK_ADDRESS_TOO_LONG;
            break;
        }
        if (buf[pos] != ',') {
            err = LK_NO_COMMA;
            break;
        }
        pos++;
        int64_t size = 0;
        start = pos;
        c = buf[pos];
        while (c >= '0' && c <= '9') {
            size = size * 10 + (c - '0');
            c = buf[++pos];
            if (size > MAX_ACCESS_BYTES)
                break;
        }
        if (size > MAX_ACCESS_BYTES) {
            err = LK_SIZE_TOO_BIG;
            break;
        }
        if (pos == start) {
            err = LK_NO_SIZE;
            break;
        }
        if (c != '\n') {
            while (c == ' ' || c == '\t' || c == '\r')
                c = buf[++pos];
            if (c != '\n') {
                err = LK_TRAILING_TEXT;
                break;
            }
        }
        pos++;
        lines++;
        /* unsigned: wraps as numpy's int64 would, where C's signed overflow is undefined */
        int64_t t = (int64_t)((uint64_t)ordinal * (uint64_t)s->ns_per_record);
        ordinal++;
        if (kind == 0 && !s->include_instr)
            continue;
        uint8_t op = kind <= 1 ? 0 : 1;  /* I, L: read; S, M: write */
        uint64_t first = addr >> 12;
        s->out_time[n_out] = t;
        s->out_vpn[n_out] = (int64_t)first;
        s->out_op[n_out] = op;
        n_out++;
        if (s->both_pages && size > 1) {
            uint64_t last_byte = addr + (uint64_t)(size - 1);
            if (last_byte >= addr) {    /* no wrap past 2^64 */
                uint64_t last = last_byte >> 12;
                for (uint64_t p = first; p != last;) {
                    p++;
                    s->out_time[n_out] = t;
                    s->out_vpn[n_out] = (int64_t)p;
                    s->out_op[n_out] = op;
                    n_out++;
                }
            }
        }
    }
    *pos_io = err ? line_start : pos;
    *n_out_io = n_out;
    *ordinal_io = ordinal;
    *lines_out = lines;
    return err;
}

/* _scan.lackey: check the buffer and out arrays, then lackey_scan without the GIL. */
PyObject *scan_lackey(PyObject *self, PyObject *args)
{
    PyObject *buf_obj, *time_obj, *vpn_obj, *op_obj;
    Py_ssize_t pos, end, n_out;
    long long ordinal, ns_per_record;
    int include_instr, both_pages;
    if (!PyArg_ParseTuple(args, "OnnLLppOOOn:lackey", &buf_obj, &pos, &end, &ordinal,
                          &ns_per_record, &include_instr, &both_pages, &time_obj, &vpn_obj,
                          &op_obj, &n_out))
        return NULL;
    Column buf = {0}, out_time = {0}, out_vpn = {0}, out_op = {0};
    Py_ssize_t lines = 0;
    int err = LK_OK;
    int64_t ord = ordinal;
    if (column_get(buf_obj, "buf", ELEM_U8, 0, &buf) < 0
        || column_get(time_obj, "out_time", ELEM_I64, 1, &out_time) < 0
        || column_get(vpn_obj, "out_vpn", ELEM_I64, 1, &out_vpn) < 0
        || column_get(op_obj, "out_op", ELEM_U8, 1, &out_op) < 0)
        goto done;
    const uint8_t *bytes = (const uint8_t *)buf.data;
    if (pos < 0 || pos > end || end > buf.len || (pos < end && bytes[end - 1] != '\n')) {
        PyErr_SetString(PyExc_ValueError, "lackey: buf[pos:end] is not whole lines of buf");
        goto done;
    }
    if (out_vpn.len <= LACKEY_OUT_MARGIN || out_time.len < out_vpn.len
        || out_op.len < out_vpn.len || n_out < 0) {
        PyErr_Format(PyExc_ValueError, "lackey: the out arrays need more than %d rows, "
                     "all the same length", LACKEY_OUT_MARGIN);
        goto done;
    }
    LackeyScan s = {
        .ns_per_record = ns_per_record, .include_instr = include_instr,
        .both_pages = both_pages, .out_time = (int64_t *)out_time.data,
        .out_vpn = (int64_t *)out_vpn.data, .out_op = (uint8_t *)out_op.data,
        .cap = out_vpn.len - LACKEY_OUT_MARGIN,
    };
    Py_BEGIN_ALLOW_THREADS
    err = lackey_scan(&s, bytes, &pos, end, &ord, &n_out, &lines);
    Py_END_ALLOW_THREADS
done:
    column_release(&buf);
    column_release(&out_time);
    column_release(&out_vpn);
    column_release(&out_op);
    if (PyErr_Occurred())
        return NULL;
    return Py_BuildValue("nnLni", pos, n_out, (long long)ord, lines, err);
}
