/* `perf script` text: the byte scanner of replay.importers.perf_script.
 *
 * A line is what the importer's regular expressions say it is (_HEAD, _ADDRESS,
 * _ERROR_CODE, _FIRST_HEX, _CALLCHAIN, applied to the line decoded as latin-1); this
 * scanner decides a line itself only where it can say exactly what they make of it, and
 * hands every other line back to Python (PF_SLOW): '#' lines, lines that are not perf
 * script (Python raises the error naming the line), faults without their fields,
 * addresses past 64 bits, and numbers past what it converts (a pid of 2^62 or more, a
 * time of 2^63 ns or more). The character classes are those of Python's `re` on str
 * (\s: str.isspace, \d: 0-9, \b: str.isalnum or '_') over the 256 latin-1 characters.
 *
 * How _HEAD matches, spelled out (re's order of trying; every step but the first is
 * forced, since each number runs to the first byte that cannot continue it):
 *
 *   ^\s*(?:(?P<comm>.*?)\s+)?(?P<pid>\d+)(?:/(?P<tid>\d+))?\s+(?:\[\d+\]\s+)?
 *   (?P<sec>\d+)\.(?P<frac>\d{1,9}):\s+(?:\d+\s+)?(?P<event>\S+?):(?:\s+(?P<rest>.*?))?\s*$
 *
 * - where the pid starts: with the shortest comm first, so at the start of the second,
 *   third, ... whitespace-separated token (the first that gives a match), and only when
 *   none does at the first token (no comm);
 * - from there: the pid's digits, '/' and the tid's digits, whitespace, '[' digits ']'
 *   and whitespace, or not, the seconds' digits, '.', 1-9 digits of fraction, ':',
 *   whitespace, a period's digits and whitespace when the token after the whitespace is
 *   all digits followed by whitespace, then the event: the next token, which must end
 *   with ':' and be longer than it (a ':' inside a token is not followed by whitespace);
 *   rest: the line after the whitespace that follows, less its trailing whitespace.
 *
 * The buffer ends with a newline (iter_text_chunks adds one to a truncated last line).
 */
#include "scan.h"

#define CL_SPACE 1              /* \s */
#define CL_DIGIT 2              /* \d */
#define CL_HEX 4                /* [0-9a-fA-F] */
#define CL_WORD 8               /* \w: \b is between a word character and another */

static uint8_t cls[256];

#define IS_SPACE(c) (cls[(uint8_t)(c)] & CL_SPACE)
#define IS_DIGIT(c) (cls[(uint8_t)(c)] & CL_DIGIT)
#define IS_HEX(c) (cls[(uint8_t)(c)] & CL_HEX)
#define IS_WORD(c) (cls[(uint8_t)(c)] & CL_WORD)

/* Fill cls (once, when the module loads). */
void perf_init_tables(void)
{
    static const uint8_t spaces[] = {9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 0x85, 0xA0};
    /* latin-1 characters past ASCII that str.isalnum() calls alphanumeric */
    static const uint8_t words[] = {0xAA, 0xB2, 0xB3, 0xB5, 0xB9, 0xBA, 0xBC, 0xBD, 0xBE};
    memset(cls, 0, sizeof cls);
    for (size_t i = 0; i < sizeof spaces; i++)
        cls[spaces[i]] |= CL_SPACE;
    for (size_t i = 0; i < sizeof words; i++)
        cls[words[i]] |= CL_WORD;
    for (int c = 0xC0; c <= 0xFF; c++)
        if (c != 0xD7 && c != 0xF7)     /* x and / signs */
            cls[c] |= CL_WORD;
    for (int c = '0'; c <= '9'; c++)
        cls[c] |= CL_DIGIT | CL_HEX | CL_WORD;
    for (int c = 'a'; c <= 'z'; c++)
        cls[c] |= CL_WORD | (c <= 'f' ? CL_HEX : 0);
    for (int c = 'A'; c <= 'Z'; c++)
        cls[c] |= CL_WORD | (c <= 'F' ? CL_HEX : 0);
    cls['_'] |= CL_WORD;
}

/* perf_script._SCAN_STATUS */
enum { PF_DONE = 0, PF_SLOW = 1, PF_NEW_EVENT = 2 };

/* what one line is */
enum { LN_NOTHING, LN_ACCESS, LN_SKIP, LN_SLOW, LN_NEW_EVENT };

/* Where _HEAD's groups are in a line it matches (offsets into the line). */
typedef struct {
    Py_ssize_t pid0, pid1, sec0, sec1, frac0, frac1, ev0, ev1, rest0, rest1;
} Head;

static ALWAYS_INLINE Py_ssize_t skip_digits(const uint8_t *s, Py_ssize_t i, Py_ssize_t n)
{
    while (i < n && IS_DIGIT(s[i]))
        i++;
    return i;
}

static ALWAYS_INLINE Py_ssize_t skip_spaces(const uint8_t *s, Py_ssize_t i, Py_ssize_t n)
{
    while (i < n && IS_SPACE(s[i]))
        i++;
    return i;
}

static ALWAYS_INLINE Py_ssize_t skip_token(const uint8_t *s, Py_ssize_t i, Py_ssize_t n)
{
    while (i < n && !IS_SPACE(s[i]))
        i++;
    return i;
}

/* _HEAD with the pid at p (s[p] a digit): 1 and *h, or 0 when it does not match there. */
static int head_at(const uint8_t *s, Py_ssize_t n, Py_ssize_t p, Head *h)
{
    Py_ssize_t i = skip_digits(s, p, n), j;
    h->pid0 = p;
    h->pid1 = i;
    if (i < n && s[i] == '/') {                         /* /tid */
        j = i + 1;
        i = skip_digits(s, j, n);
        if (i == j)
            return 0;
    }
    j = i;
    i = skip_spaces(s, i, n);
    if (i == j)
        return 0;
    if (i < n && s[i] == '[') {                         /* [cpu] */
        j = i + 1;
        i = skip_digits(s, j, n);
        if (i == j || i >= n || s[i] != ']')
            return 0;
        j = ++i;
        i = skip_spaces(s, i, n);
        if (i == j)
            return 0;
    }
    h->sec0 = i;
    i = skip_digits(s, i, n);
    if (i == h->sec0 || i >= n || s[i] != '.')
        return 0;
    h->sec1 = i++;
    h->frac0 = i;
    i = skip_digits(s, i, n);
    if (i == h->frac0 || i - h->frac0 > 9 || i >= n || s[i] != ':')
        return 0;
    h->frac1 = i++;
    j = i;
    i = skip_spaces(s, i, n);
    if (i == j)
        return 0;
    if (i < n && IS_DIGIT(s[i])) {                      /* a period, if whitespace follows */
        j = skip_digits(s, i, n);
        if (j < n && IS_SPACE(s[j]))
            i = skip_spaces(s, j, n);
    }
    h->ev0 = i;
    i = skip_token(s, i, n);
    if (i - h->ev0 < 2 || s[i - 1] != ':')
        return 0;
    h->ev1 = i - 1;
    i = skip_spaces(s, i, n);
    Py_ssize_t e = n;
    while (e > i && IS_SPACE(s[e - 1]))
        e--;
    h->rest0 = i;
    h->rest1 = e;
    return 1;
}

/* _HEAD's match of the line s[0:n] (not all whitespace; its first non-space at first). */
static int head(const uint8_t *s, Py_ssize_t n, Py_ssize_t first, Head *h)
{
    Py_ssize_t i = skip_token(s, first, n);
    while (i < n) {                                     /* the second token on */
        i = skip_spaces(s, i, n);
        if (i < n && IS_DIGIT(s[i]) && head_at(s, n, i, h))
            return 1;
        i = skip_token(s, i, n);
    }
    return IS_DIGIT(s[first]) && head_at(s, n, first, h);
}

static ALWAYS_INLINE uint64_t load8(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* s[0:len] == name (len <= 16; compared eight bytes at a time, overlapping). */
static ALWAYS_INLINE int same_bytes(const uint8_t *s, const char *name, Py_ssize_t len)
{
    const uint8_t *t = (const uint8_t *)name;
    if (len < 8)
        return memcmp(s, t, (size_t)len) == 0;
    return load8(s) == load8(t) && load8(s + len - 8) == load8(t + len - 8);
}

static ALWAYS_INLINE Py_ssize_t skip_hex(const uint8_t *s, Py_ssize_t i, Py_ssize_t n)
{
    while (i < n && IS_HEX(s[i]))
        i++;
    return i;
}

/* The hex digits of `name=(?:0x)?([0-9a-fA-F]+)\b` searched for (the first match) in
 * s[r0:r1], `name` (8 to 16 bytes) starting with a word character: 1 and [*h0, *h1),
 * or 0. */
static int find_field(const uint8_t *s, Py_ssize_t r0, Py_ssize_t r1, const char *name,
                      Py_ssize_t len, Py_ssize_t *h0_out, Py_ssize_t *h1_out)
{
    for (Py_ssize_t j = r0; j + len <= r1; j++) {
        if (s[j] != (uint8_t)name[0] || !same_bytes(s + j, name, len))
            continue;
        if (j > r0 && IS_WORD(s[j - 1]))                /* \b before the name */
            continue;
        Py_ssize_t k = j + len, h0 = k;
        /* with 0x first; without it the digits would be the '0' alone, followed by the
         * word character 'x': no match */
        if (k + 1 < r1 && s[k] == '0' && s[k + 1] == 'x')
            h0 = k + 2;
        Py_ssize_t h1 = skip_hex(s, h0, r1);
        if (h1 > h0 && (h1 == r1 || !IS_WORD(s[h1]))) {
            *h0_out = h0;
            *h1_out = h1;
            return 1;
        }
    }
    return 0;
}

/* A fault's rest s[r0:r1] exactly as perf prints it, "address=0xA ip=0xI error_code=0xE"
 * (hex digits A, I, E): 1 and the digits of A and E, else 0. Then _ADDRESS's first match
 * is at r0 and _ERROR_CODE's where E's name is: no "error_code=" can start earlier, in
 * hex digits or the fixed text. */
static ALWAYS_INLINE int fault_layout(const uint8_t *s, Py_ssize_t r0, Py_ssize_t r1,
                                      Py_ssize_t *a0, Py_ssize_t *a1, Py_ssize_t *c0,
                                      Py_ssize_t *c1)
{
    if (r1 - r0 < 33 || !same_bytes(s + r0, "address=0x", 10))
        return 0;
    Py_ssize_t i = skip_hex(s, r0 + 10, r1);
    if (i == r0 + 10 || r1 - i < 20 || !same_bytes(s + i, " ip=0x", 6))
        return 0;
    *a0 = r0 + 10;
    *a1 = i;
    Py_ssize_t j = skip_hex(s, i + 6, r1);
    if (j == i + 6 || r1 - j < 15 || !same_bytes(s + j, " error_code=0x", 14))
        return 0;
    *c0 = j + 14;
    *c1 = skip_hex(s, j + 14, r1);
    return *c1 > *c0 && *c1 == r1;
}

/* The value of the hex digits s[h0:h1], or -1 (as a flag) past 16 significant digits. */
static ALWAYS_INLINE int hex_number(const uint8_t *s, Py_ssize_t h0, Py_ssize_t h1,
                                   uint64_t *out)
{
    while (h0 < h1 && s[h0] == '0')
        h0++;
    if (h1 - h0 > 16)
        return -1;
    uint64_t v = 0;
    for (; h0 < h1; h0++) {
        uint8_t c = s[h0];
        v = (v << 4) | (uint64_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    *out = v;
    return 0;
}

/* The value of the decimal digits s[d0:d1], or -1 past 19 significant digits. */
static ALWAYS_INLINE int dec_value(const uint8_t *s, Py_ssize_t d0, Py_ssize_t d1,
                                   uint64_t *out)
{
    while (d0 < d1 && s[d0] == '0')
        d0++;
    if (d1 - d0 > 19)
        return -1;
    uint64_t v = 0;
    for (; d0 < d1; d0++)
        v = v * 10 + (uint64_t)(s[d0] - '0');
    *out = v;
    return 0;
}

static const int64_t POW10[10] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                                  100000000, 1000000000};

#define PID_LIMIT (UINT64_C(1) << 62)           /* perf_script._State.pid_key */
#define SEC_LIMIT UINT64_C(9223372035)          /* below it, sec * 10^9 + frac < 2^63 */

/* The event table: names (event_bytes each, zero-padded), their lengths (-1: none) and
 * flags (bit 0: a fault event, bit 1: a store), n of them. */
typedef struct {
    const uint8_t *names;
    const int64_t *lens;
    const uint8_t *flags;
    Py_ssize_t n, cap, bytes;
} Events;

#define EV_FAULT 1
#define EV_STORE 2

/* The code of event s[e0:e1], or -1 when it is not in the table. *last: the code found
 * last, tried first. */
static ALWAYS_INLINE Py_ssize_t event_code(const Events *ev, const uint8_t *s, Py_ssize_t e0,
                                           Py_ssize_t e1, Py_ssize_t *last)
{
    Py_ssize_t len = e1 - e0;
    Py_ssize_t c = *last;
    if (c >= 0 && ev->lens[c] == len && memcmp(ev->names + c * ev->bytes, s + e0, (size_t)len) == 0)
        return c;
    for (c = 0; c < ev->n; c++)
        if (ev->lens[c] == len
            && memcmp(ev->names + c * ev->bytes, s + e0, (size_t)len) == 0) {
            *last = c;
            return c;
        }
    return -1;
}

/* What one line s[0:n] is. For LN_ACCESS *pid, *time, *addr, *op, *code; for LN_SKIP
 * *code; for LN_NEW_EVENT the event's offsets *e0, *e1. */
static ALWAYS_INLINE int perf_line(const uint8_t *s, Py_ssize_t n, const Events *ev,
                                   Py_ssize_t *last, int64_t *pid, int64_t *time,
                                   uint64_t *addr, uint8_t *op, Py_ssize_t *code,
                                   Py_ssize_t *e0, Py_ssize_t *e1)
{
    Py_ssize_t first = skip_spaces(s, 0, n);
    if (first == n)
        return LN_NOTHING;                              /* blank */
    Head h;
    if (!head(s, n, first, &h)) {
        if (s[first] == '#')
            return LN_SLOW;                             /* a header line: # cmdline */
        if (first >= 1) {                               /* a call chain: ^\s+[0-9a-fA-F]+\s */
            Py_ssize_t j = first;
            while (j < n && IS_HEX(s[j]))
                j++;
            if (j > first && j < n && IS_SPACE(s[j]))
                return LN_NOTHING;
        }
        return LN_SLOW;                                 /* not perf script: Python says so */
    }
    Py_ssize_t c = event_code(ev, s, h.ev0, h.ev1, last);
    if (c < 0) {
        if (ev->n >= ev->cap || h.ev1 - h.ev0 > ev->bytes)
            return LN_SLOW;
        *e0 = h.ev0;
        *e1 = h.ev1;
        return LN_NEW_EVENT;
    }
    *code = c;
    Py_ssize_t a0, a1;
    if (ev->flags[c] & EV_FAULT) {
        Py_ssize_t c0, c1;
        if (!fault_layout(s, h.rest0, h.rest1, &a0, &a1, &c0, &c1)
            && (!find_field(s, h.rest0, h.rest1, "address=", 8, &a0, &a1)
                || !find_field(s, h.rest0, h.rest1, "error_code=", 11, &c0, &c1)))
            return LN_SLOW;                             /* an error: Python says which */
        uint8_t last_digit = s[c1 - 1];
        int v = last_digit <= '9' ? last_digit - '0' : (last_digit | 0x20) - 'a' + 10;
        *op = (v & 2) ? 1 : 0;                          /* X86_PF_WRITE: OP_WRITE */
    } else {
        Py_ssize_t r0 = h.rest0, r1 = h.rest1;
        a0 = r0;
        if (r0 + 1 < r1 && s[r0] == '0' && s[r0 + 1] == 'x')
            a0 = r0 + 2;
        a1 = a0;
        while (a1 < r1 && IS_HEX(s[a1]))
            a1++;
        if (a1 == a0 || (a1 < r1 && IS_WORD(s[a1])))
            return LN_SKIP;                             /* no address: counted, skipped */
        *op = (ev->flags[c] & EV_STORE) ? 1 : 0;
    }
    uint64_t a = 0, p = 0, sec = 0, frac = 0;
    if (hex_number(s, a0, a1, &a) < 0 || dec_value(s, h.pid0, h.pid1, &p) < 0 || p >= PID_LIMIT
        || dec_value(s, h.sec0, h.sec1, &sec) < 0 || sec >= SEC_LIMIT)
        return LN_SLOW;                                 /* too long: an error, or big numbers */
    dec_value(s, h.frac0, h.frac1, &frac);
    *addr = a;
    *pid = (int64_t)p;
    *time = (int64_t)sec * 1000000000 + (int64_t)frac * POW10[9 - (h.frac1 - h.frac0)];
    return LN_ACCESS;
}

/* Where perf_scan writes. */
typedef struct {
    int64_t *line, *pid, *time, *event, *skip_line, *skip_event;
    uint64_t *addr;
    uint8_t *op;
} PerfOut;

/* Scan up to max_lines lines of buf[*pos:end]: accesses to the out rows from *n_out,
 * events without an address to the skip rows from *n_skip, each with its line's index
 * (line0 + lines before it). Stops at the end, after max_lines lines, or at a line that
 * Python must read (PF_SLOW: *a, *b its start and newline) or whose event is new
 * (PF_NEW_EVENT: *a, *b the event name's offsets), with *pos at that line's start and
 * *lines the lines done before it. */
static int perf_scan_body(const Events *ev, const PerfOut *o, const uint8_t *buf,
                          Py_ssize_t *pos_io, Py_ssize_t end, Py_ssize_t max_lines,
                          int64_t line0, Py_ssize_t *n_out_io, Py_ssize_t *n_skip_io,
                          Py_ssize_t *lines_out, Py_ssize_t *a_out, Py_ssize_t *b_out)
{
    Py_ssize_t pos = *pos_io, n_out = *n_out_io, n_skip = *n_skip_io, lines = 0, last = -1;
    int status = PF_DONE;
    while (pos < end && lines < max_lines) {
        const uint8_t *s = buf + pos;
        const uint8_t *nl = memchr(s, '\n', (size_t)(end - pos));
        Py_ssize_t n = nl - s;
        int64_t pid = 0, time = 0;
        uint64_t addr = 0;
        uint8_t op = 0;
        Py_ssize_t code = 0, e0 = 0, e1 = 0;
        int kind = perf_line(s, n, ev, &last, &pid, &time, &addr, &op, &code, &e0, &e1);
        if (kind == LN_ACCESS) {
            o->line[n_out] = line0 + lines;
            o->pid[n_out] = pid;
            o->time[n_out] = time;
            o->addr[n_out] = addr;
            o->op[n_out] = op;
            o->event[n_out] = code;
            n_out++;
        } else if (kind == LN_SKIP) {
            o->skip_line[n_skip] = line0 + lines;
            o->skip_event[n_skip] = code;
            n_skip++;
        } else if (kind == LN_SLOW) {
            status = PF_SLOW;
            *a_out = pos;
            *b_out = pos + n;
            break;
        } else if (kind == LN_NEW_EVENT) {
            status = PF_NEW_EVENT;
            *a_out = pos + e0;
            *b_out = pos + e1;
            break;
        }
        pos += n + 1;
        lines++;
    }
    *pos_io = pos;
    *n_out_io = n_out;
    *n_skip_io = n_skip;
    *lines_out = lines;
    return status;
}

CLONED(int, perf_scan,
       (const Events *ev, const PerfOut *o, const uint8_t *buf, Py_ssize_t *pos_io,
        Py_ssize_t end, Py_ssize_t max_lines, int64_t line0, Py_ssize_t *n_out_io,
        Py_ssize_t *n_skip_io, Py_ssize_t *lines_out, Py_ssize_t *a_out, Py_ssize_t *b_out),
       (ev, o, buf, pos_io, end, max_lines, line0, n_out_io, n_skip_io, lines_out, a_out,
        b_out))

/* _scan.perf: check the buffer, event table and out arrays, then perf_scan without the
 * GIL. */
PyObject *scan_perf(PyObject *self, PyObject *args)
{
    PyObject *buf_obj, *names_obj, *lens_obj, *flags_obj;
    PyObject *line_obj, *pid_obj, *time_obj, *addr_obj, *op_obj, *event_obj;
    PyObject *skip_line_obj, *skip_event_obj;
    Py_ssize_t pos, end, max_lines, n_ev, n_out, n_skip;
    long long line0;
    if (!PyArg_ParseTuple(args, "OnnnLOOOnOOOOOOnOOn:perf", &buf_obj, &pos, &end, &max_lines,
                          &line0, &names_obj, &lens_obj, &flags_obj, &n_ev, &line_obj,
                          &pid_obj, &time_obj, &addr_obj, &op_obj, &event_obj, &n_out,
                          &skip_line_obj, &skip_event_obj, &n_skip))
        return NULL;
    Column buf = {0}, names = {0}, lens = {0}, flags = {0}, line = {0}, pid = {0}, time = {0},
           addr = {0}, op = {0}, event = {0}, skip_line = {0}, skip_event = {0};
    Py_ssize_t lines = 0, a = -1, b = -1;
    int status = PF_DONE;
    if (column_get(buf_obj, "buf", ELEM_U8, 0, &buf) < 0
        || column_get(names_obj, "ev_names", ELEM_U8, 0, &names) < 0
        || column_get(lens_obj, "ev_lens", ELEM_I64, 0, &lens) < 0
        || column_get(flags_obj, "ev_flags", ELEM_U8, 0, &flags) < 0
        || column_get(line_obj, "out_line", ELEM_I64, 1, &line) < 0
        || column_get(pid_obj, "out_pid", ELEM_I64, 1, &pid) < 0
        || column_get(time_obj, "out_time", ELEM_I64, 1, &time) < 0
        || column_get(addr_obj, "out_addr", ELEM_U64, 1, &addr) < 0
        || column_get(op_obj, "out_op", ELEM_U8, 1, &op) < 0
        || column_get(event_obj, "out_event", ELEM_I64, 1, &event) < 0
        || column_get(skip_line_obj, "skip_line", ELEM_I64, 1, &skip_line) < 0
        || column_get(skip_event_obj, "skip_event", ELEM_I64, 1, &skip_event) < 0)
        goto done;
    const uint8_t *bytes = (const uint8_t *)buf.data;
    if (pos < 0 || pos > end || end > buf.len || (pos < end && bytes[end - 1] != '\n')) {
        PyErr_SetString(PyExc_ValueError, "perf: buf[pos:end] is not whole lines of buf");
        goto done;
    }
    Py_ssize_t cap = lens.len;
    if (cap == 0 || flags.len != cap || names.len % cap != 0 || n_ev < 0 || n_ev > cap) {
        PyErr_SetString(PyExc_ValueError, "perf: the event table's arrays do not agree");
        goto done;
    }
    if (max_lines < 0 || n_out < 0 || n_skip < 0 || line.len < n_out + max_lines
        || pid.len < line.len || time.len < line.len || addr.len < line.len
        || op.len < line.len || event.len < line.len || skip_line.len < n_skip + max_lines
        || skip_event.len < skip_line.len) {
        PyErr_SetString(PyExc_ValueError, "perf: the out arrays have no room for max_lines "
                        "more rows");
        goto done;
    }
    Events ev = {
        .names = (const uint8_t *)names.data, .lens = (const int64_t *)lens.data,
        .flags = (const uint8_t *)flags.data, .n = n_ev, .cap = cap, .bytes = names.len / cap,
    };
    PerfOut o = {
        .line = (int64_t *)line.data, .pid = (int64_t *)pid.data,
        .time = (int64_t *)time.data, .event = (int64_t *)event.data,
        .skip_line = (int64_t *)skip_line.data, .skip_event = (int64_t *)skip_event.data,
        .addr = (uint64_t *)addr.data, .op = (uint8_t *)op.data,
    };
    Py_BEGIN_ALLOW_THREADS
    status = perf_scan(&ev, &o, bytes, &pos, end, max_lines, line0, &n_out, &n_skip, &lines,
                       &a, &b);
    Py_END_ALLOW_THREADS
done:
    column_release(&buf);
    column_release(&names);
    column_release(&lens);
    column_release(&flags);
    column_release(&line);
    column_release(&pid);
    column_release(&time);
    column_release(&addr);
    column_release(&op);
    column_release(&event);
    column_release(&skip_line);
    column_release(&skip_event);
    if (PyErr_Occurred())
        return NULL;
    return Py_BuildValue("nnnninn", pos, n_out, n_skip, lines, status, a, b);
}
