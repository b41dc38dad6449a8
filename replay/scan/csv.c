/* Delimited text: the byte scanner of replay.importers._csvcore and its number parser.
 *
 * The scanner reads the common case (unquoted or simply quoted fields, LF or
 * CR LF line ends, numbers parsed straight from the bytes, dictionary values as
 * small keys) and stops where it cannot go; pyarrow.csv reads the rest. Numbers
 * are read exactly as parse_one says, on both paths, so that both give the same
 * values and errors. Every buffer the scanner walks ends with a newline, which
 * is what stops each of its loops before the end.
 */
#include "scan.h"

enum { NUM_INT = 0, NUM_ADDR = 1, NUM_DECIMAL = 2 };   /* _csvcore.NUM_* */

/* parse_one's error codes (_csvcore._NUM_ERRORS) */
enum { NUM_OK = 0, NUM_EMPTY = 1, NUM_NOT_A_NUMBER = 2, NUM_NEGATIVE = 3, NUM_TOO_BIG = 4,
       NUM_NOT_WHOLE = 5 };

static inline int is_digit(int c) { return c >= '0' && c <= '9'; }

/* The value of data[a:b] as a uint64: NUM_OK and *value, or an error code.
 *
 * Modes NUM_INT and NUM_ADDR: decimal or 0x hex integer (as pyarrow reads them), a
 * fraction of zeros allowed; NUM_DECIMAL: decimal with an optional fraction, times
 * 10**scale (fraction digits past scale are dropped). Spaces and tabs around the
 * value (and a CR after it) are ignored; a leading '+' is allowed. */
static int parse_one(const uint8_t *data, Py_ssize_t a, Py_ssize_t b, int64_t mode,
                     int64_t scale, uint64_t *value)
{
    const uint64_t limit = UINT64_MAX;
    while (a < b && (data[a] == ' ' || data[a] == '\t'))
        a++;
    while (b > a && (data[b - 1] == ' ' || data[b - 1] == '\t' || data[b - 1] == '\r'))
        b--;
    if (a == b)
        return NUM_EMPTY;
    if (data[a] == '-')
        return NUM_NEGATIVE;
    if (data[a] == '+') {
        a++;
        if (a == b)
            return NUM_NOT_A_NUMBER;
    }
    uint64_t v = 0;
    if (mode != NUM_DECIMAL && b - a > 2 && data[a] == '0' && (data[a + 1] == 'x'
                                                               || data[a + 1] == 'X')) {
        a += 2;
        if (b - a > 16)
            return NUM_TOO_BIG;
        for (Py_ssize_t j = a; j < b; j++) {
            int c = data[j], d;
            if (is_digit(c))
                d = c - '0';
            else if (c >= 'a' && c <= 'f')
                d = c - 'a' + 10;
            else if (c >= 'A' && c <= 'F')
                d = c - 'A' + 10;
            else
                return NUM_NOT_A_NUMBER;
            v = (v << 4) | (uint64_t)d;
        }
        *value = v;
        return NUM_OK;
    }
    Py_ssize_t digits = 0, j = a;
    while (j < b && is_digit(data[j])) {
        uint64_t d = (uint64_t)(data[j] - '0');
        /* below 19 digits the value cannot overflow: skip the division */
        if (digits >= 18 && v > (limit - d) / 10)
            return NUM_TOO_BIG;
        v = v * 10 + d;
        digits++;
        j++;
    }
    int64_t frac_digits = 0;
    if (j < b && data[j] == '.') {
        j++;
        if (mode != NUM_DECIMAL) {
            while (j < b && data[j] == '0')
                j++;
            if (j < b)
                return data[j] >= '1' && data[j] <= '9' ? NUM_NOT_WHOLE : NUM_NOT_A_NUMBER;
        }
        while (j < b && is_digit(data[j])) {
            if (frac_digits < scale) {
                uint64_t d = (uint64_t)(data[j] - '0');
                if (v > (limit - d) / 10)
                    return NUM_TOO_BIG;
                v = v * 10 + d;
                frac_digits++;
            }
            digits++;
            j++;
        }
    }
    if (digits == 0 || j != b)
        return NUM_NOT_A_NUMBER;
    if (mode == NUM_DECIMAL)
        for (int64_t k = frac_digits; k < scale; k++) {
            if (v > limit / 10)
                return NUM_TOO_BIG;
            v *= 10;
        }
    *value = v;
    return NUM_OK;
}

/* _scan.parse_numbers: parse_one over the values of an Arrow binary array, into out. */
PyObject *scan_parse_numbers(PyObject *self, PyObject *args)
{
    PyObject *offsets_obj, *data_obj, *out_obj;
    long long mode, scale;
    if (!PyArg_ParseTuple(args, "OOLLO:parse_numbers", &offsets_obj, &data_obj, &mode, &scale,
                          &out_obj))
        return NULL;
    Column offsets = {0}, data = {0}, out = {0};
    Py_ssize_t bad = -1;
    int code = NUM_OK, out_of_range = 0;
    if (column_get(offsets_obj, "offsets", ELEM_I32, 0, &offsets) < 0
        || column_get(data_obj, "data", ELEM_U8, 0, &data) < 0
        || column_get(out_obj, "out", ELEM_U64, 1, &out) < 0)
        goto done;
    Py_ssize_t n = offsets.len - 1;
    if (n > out.len) {
        PyErr_Format(PyExc_ValueError, "parse_numbers: %zd values but out has %zd", n, out.len);
        goto done;
    }
    const int32_t *off = (const int32_t *)offsets.data;
    const uint8_t *bytes = (const uint8_t *)data.data;
    uint64_t *values = (uint64_t *)out.data;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t a = off[i], b = off[i + 1];
        if (a < 0 || a > b || b > data.len) {
            out_of_range = 1;
            break;
        }
        uint64_t v = 0;
        code = parse_one(bytes, a, b, mode, scale, &v);
        if (code != NUM_OK) {
            bad = i;
            break;
        }
        values[i] = v;
    }
    Py_END_ALLOW_THREADS
    if (out_of_range)
        PyErr_SetString(PyExc_ValueError, "parse_numbers: an offset is outside the data");
done:
    column_release(&offsets);
    column_release(&data);
    column_release(&out);
    if (PyErr_Occurred())
        return NULL;
    return Py_BuildValue("ni", bad, code);
}

/* The field at *pos: unquoted (no quote in it) or "..." with no quote, CR or LF inside.
 * Sets its text [*a, *b) (inside the quotes), *pos to the byte after it and *c to that
 * byte; true when that byte is the delimiter, LF or CR LF. */
static ALWAYS_INLINE int csv_field(const uint8_t *buf, Py_ssize_t *pos, int delim,
                                   Py_ssize_t *a, Py_ssize_t *b, int *c)
{
    Py_ssize_t p = *pos;
    int ch = buf[p];
    if (ch == '"') {
        p++;
        *a = p;
        ch = buf[p];
        while (ch != '"' && ch != '\n' && ch != '\r')
            ch = buf[++p];
        if (ch != '"') {
            *b = p;
            *pos = p;
            *c = ch;
            return 0;
        }
        *b = p;
        ch = buf[++p];
    } else {
        *a = p;
        while (ch != delim && ch != '\n' && ch != '\r' && ch != '"')
            ch = buf[++p];
        *b = p;
    }
    *pos = p;
    *c = ch;
    return ch == delim || ch == '\n' || (ch == '\r' && buf[p + 1] == '\n');
}

/* What csv_scan needs besides the text: per column where its values go, per number
 * column how it is read, and the out arrays (see scan_csv_rows). */
typedef struct {
    int delim;
    Py_ssize_t ncols;
    const int64_t *num_slot, *dict_slot;
    const int64_t *mode, *scale;
    const uint64_t *mul, *most;
    uint64_t *nums;
    uint8_t *codes;
    uint64_t *keys;
    int64_t *nkeys;
    Py_ssize_t cap;
} CsvScan;

/* Read whole lines of buf[pos:end] into the out arrays, at most cap rows; sets *end_pos
 * (the position after the last line read) and *rows. Returns 0, or 1 where the lines
 * from *end_pos are not for this scanner. */
static int csv_scan(const CsvScan *s, const uint8_t *buf, Py_ssize_t pos, Py_ssize_t end,
                    Py_ssize_t *end_pos, Py_ssize_t *rows_out)
{
    Py_ssize_t rows = 0;
    int status = 0;
    while (pos < end) {
        if (rows >= s->cap)
            break;
        int c = buf[pos];
        if (c == '\n') {                        /* blank line */
            pos++;
            continue;
        }
        if (c == '\r' && buf[pos + 1] == '\n') {
            pos += 2;
            continue;
        }
        Py_ssize_t col = 0;
        for (;;) {
            if (col >= s->ncols) {
                status = 1;
                goto out;
            }
            int64_t k = s->num_slot[col];
            if (k >= 0) {
                /* the common case: up to 18 plain digits, then the delimiter or LF */
                Py_ssize_t start = pos;
                uint64_t v = 0;
                c = buf[pos];
                while (is_digit(c)) {
                    v = v * 10 + (uint64_t)(c - '0');
                    c = buf[++pos];
                }
                Py_ssize_t n = pos - start;
                if (n > 0 && n < 19 && (c == s->delim || c == '\n') && v <= s->most[k]) {
                    s->nums[k * s->cap + rows] = v * s->mul[k];
                } else {
                    Py_ssize_t a, b;
                    pos = start;
                    if (!csv_field(buf, &pos, s->delim, &a, &b, &c)
                        || parse_one(buf, a, b, s->mode[k], s->scale[k], &v) != NUM_OK) {
                        status = 1;
                        goto out;
                    }
                    s->nums[k * s->cap + rows] = v;
                }
            } else {
                Py_ssize_t a, b;
                if (!csv_field(buf, &pos, s->delim, &a, &b, &c)) {
                    status = 1;
                    goto out;
                }
                k = s->dict_slot[col];
                if (k >= 0) {
                    if (b - a > CSV_KEY_BYTES) {
                        status = 1;
                        goto out;
                    }
                    /* the bytes little-endian in bits 0-55, the length in bits 56-58, and
                     * bit 63 marking a slot in use */
                    uint64_t key = (uint64_t)(b - a) << 56 | UINT64_C(1) << 63;
                    for (Py_ssize_t j = a; j < b; j++)
                        key |= (uint64_t)buf[j] << (8 * (j - a));
                    uint64_t *slots = s->keys + k * CSV_KEY_SLOTS;
                    /* open addressing over CSV_KEY_SLOTS = 2^6 slots, Fibonacci hashing */
                    Py_ssize_t idx = (Py_ssize_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 58);
                    int probes = 0;
                    while (slots[idx] != key) {
                        if (slots[idx] == 0) {
                            if (s->nkeys[k] >= CSV_MAX_KEYS) {
                                status = 1;
                                goto out;
                            }
                            slots[idx] = key;
                            s->nkeys[k]++;
                            break;
                        }
                        if (++probes == CSV_KEY_SLOTS) {    /* full (never, at half load) */
                            status = 1;
                            goto out;
                        }
                        idx = (idx + 1) & (CSV_KEY_SLOTS - 1);
                    }
                    s->codes[k * s->cap + rows] = (uint8_t)idx;
                }
            }
            col++;
            if (c == s->delim) {
                pos++;
                continue;
            }
            pos += c == '\r' ? 2 : 1;           /* past the line end */
            break;
        }
        if (col != s->ncols) {
            status = 1;
            goto out;
        }
        rows++;
    }
out:
    *end_pos = pos;
    *rows_out = rows;
    return status;
}

/* The largest value of an int64 array plus one (0 when empty or all negative). */
static Py_ssize_t slots_used(const Column *c)
{
    int64_t most = -1;
    for (Py_ssize_t i = 0; i < c->len; i++)
        if (((const int64_t *)c->data)[i] > most)
            most = ((const int64_t *)c->data)[i];
    return (Py_ssize_t)(most + 1);
}

/* _scan.csv_rows: check the arrays fit together, then csv_scan without the GIL. */
PyObject *scan_csv_rows(PyObject *self, PyObject *args)
{
    PyObject *o[12];
    Py_ssize_t pos, end, ncols, cap;
    int delim;
    if (!PyArg_ParseTuple(args, "OnninOOOOOOOOOOn:csv_rows", &o[0], &pos, &end, &delim, &ncols,
                          &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &o[7], &o[8], &o[9],
                          &o[10], &cap))
        return NULL;
    static const char *const names[] = {"buf", "num_slot", "dict_slot", "mode", "scale", "mul",
                                        "most", "nums", "codes", "keys", "nkeys"};
    static const ElemType types[] = {ELEM_U8, ELEM_I64, ELEM_I64, ELEM_I64, ELEM_I64, ELEM_U64,
                                     ELEM_U64, ELEM_U64, ELEM_U8, ELEM_U64, ELEM_I64};
    static const int writable[] = {0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1};
    Column c[11];
    memset(c, 0, sizeof c);
    Py_ssize_t end_pos = pos, rows = 0;
    int status = 0;
    for (int i = 0; i < 11; i++)
        if (column_get(o[i], names[i], types[i], writable[i], &c[i]) < 0)
            goto done;
    const uint8_t *buf = (const uint8_t *)c[0].data;
    /* everything the loop will index, checked first */
    Py_ssize_t nnum = slots_used(&c[1]), ndict = slots_used(&c[2]);
    if (pos < 0 || pos > end || end > c[0].len || (pos < end && buf[end - 1] != '\n')) {
        PyErr_SetString(PyExc_ValueError, "csv_rows: buf[pos:end] is not whole lines of buf");
        goto done;
    }
    if (delim < 0 || delim > 255 || ncols <= 0 || cap < 0 || c[1].len != ncols
        || c[2].len != ncols || c[3].len < nnum || c[4].len < nnum || c[5].len < nnum
        || c[6].len < nnum || c[7].len < nnum * cap || c[8].len < ndict * cap
        || c[9].len < ndict * CSV_KEY_SLOTS || c[10].len < ndict) {
        PyErr_SetString(PyExc_ValueError, "csv_rows: the column arrays do not fit together");
        goto done;
    }
    CsvScan s = {
        .delim = delim, .ncols = ncols,
        .num_slot = (const int64_t *)c[1].data, .dict_slot = (const int64_t *)c[2].data,
        .mode = (const int64_t *)c[3].data, .scale = (const int64_t *)c[4].data,
        .mul = (const uint64_t *)c[5].data, .most = (const uint64_t *)c[6].data,
        .nums = (uint64_t *)c[7].data, .codes = (uint8_t *)c[8].data,
        .keys = (uint64_t *)c[9].data, .nkeys = (int64_t *)c[10].data, .cap = cap,
    };
    for (Py_ssize_t k = 0; k < ndict; k++)
        if (s.nkeys[k] < 0 || s.nkeys[k] > CSV_MAX_KEYS) {
            PyErr_SetString(PyExc_ValueError, "csv_rows: nkeys is out of range");
            goto done;
        }
    Py_BEGIN_ALLOW_THREADS
    status = csv_scan(&s, buf, pos, end, &end_pos, &rows);
    Py_END_ALLOW_THREADS
done:
    for (int i = 0; i < 11; i++)
        column_release(&c[i]);
    if (PyErr_Occurred())
        return NULL;
    return Py_BuildValue("nni", end_pos, rows, status);
}
