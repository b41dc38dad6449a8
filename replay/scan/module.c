/* The module replay._scan: its functions, types and constants (see scan.h). */
#include "scan.h"

static PyMethodDef scan_methods[] = {
    {"accesses_ok", (PyCFunction)(void (*)(void))scan_accesses_ok, METH_VARARGS | METH_KEYWORDS,
     "accesses_ok(time_ns, vpn, op, asid, last_time) -> bool\n\n"
     "True when every row passes replay.trace.check_accesses: 0 <= vpn < 2^52, "
     "0 <= op <= 3, 0 <= asid < 2^20, time never below last_time nor the row before. "
     "Integer arrays of any type and stride."},
    {"csv_rows", scan_csv_rows, METH_VARARGS,
     "csv_rows(buf, pos, end, delim, ncols, num_slot, dict_slot, mode, scale, mul, most, "
     "nums, codes, keys, nkeys, cap) -> (end, rows, status)\n\n"
     "The csv byte scanner over the whole lines of buf[pos:end]; see "
     "replay.importers._csvcore._Scanner."},
    {"parse_numbers", scan_parse_numbers, METH_VARARGS,
     "parse_numbers(offsets, data, mode, scale, out) -> (first bad index or -1, error code)\n\n"
     "Each value data[offsets[i]:offsets[i+1]] as a uint64 into out (Arrow binary layout); "
     "see replay.importers._csvcore.parse_numbers."},
    {"lackey", scan_lackey, METH_VARARGS,
     "lackey(buf, pos, end, ordinal, ns_per_record, include_instr, both_pages, out_time, "
     "out_vpn, out_op, n_out) -> (pos, n_out, ordinal, lines, error code)\n\n"
     "The valgrind lackey scanner over the whole lines of buf[pos:end]; see "
     "replay.importers.lackey."},
    {"perf", scan_perf, METH_VARARGS,
     "perf(buf, pos, end, max_lines, line0, ev_names, ev_lens, ev_flags, n_ev, out_line, "
     "out_pid, out_time, out_addr, out_op, out_event, n_out, skip_line, skip_event, n_skip) "
     "-> (pos, n_out, n_skip, lines, status, a, b)\n\n"
     "The perf script scanner over up to max_lines whole lines of buf[pos:end]; see "
     "replay.importers.perf_script."},
    {"damo_accessed_pages", scan_damo_accessed_pages, METH_VARARGS,
     "damo_accessed_pages(starts, ends, probs, key, out) -> count\n\n"
     "The pages DAMON's regions say were accessed (see replay.importers.damo), into out; "
     "with an empty out, only their count."},
    {NULL, NULL, 0, NULL},
};

#ifdef SCAN_AVX2_CLONES
int scan_cpu_avx2 = 0;
#endif

/* Add the types and constants to the module; -1 on error. */
static int scan_exec(PyObject *m)
{
#ifdef SCAN_AVX2_CLONES
    __builtin_cpu_init();
    scan_cpu_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
#endif
    PyType_Spec *specs[] = {&block_set_spec, &dense_index_spec};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        PyObject *type = PyType_FromModuleAndSpec(m, specs[i], NULL);
        if (type == NULL)
            return -1;
        const char *name = strrchr(specs[i]->name, '.') + 1;
        int rc = PyModule_AddObjectRef(m, name, type);
        Py_DECREF(type);
        if (rc < 0)
            return -1;
    }
    if (PyModule_AddIntConstant(m, "CSV_KEY_SLOTS", CSV_KEY_SLOTS) < 0
        || PyModule_AddIntConstant(m, "CSV_MAX_KEYS", CSV_MAX_KEYS) < 0
        || PyModule_AddIntConstant(m, "CSV_KEY_BYTES", CSV_KEY_BYTES) < 0
        || PyModule_AddIntConstant(m, "LACKEY_OUT_MARGIN", LACKEY_OUT_MARGIN) < 0)
        return -1;
#ifdef SCAN_AVX2_CLONES
    if (PyModule_AddIntConstant(m, "AVX2", scan_cpu_avx2) < 0)
#else
    if (PyModule_AddIntConstant(m, "AVX2", 0) < 0)
#endif
        return -1;
    lackey_init_tables();
    perf_init_tables();
    return 0;
}

static PyModuleDef_Slot scan_slots[] = {
    {Py_mod_exec, scan_exec},
    {0, NULL},
};

static struct PyModuleDef scan_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "replay._scan",
    .m_doc = "Compiled loops of trace reading and importing (C, built at install).",
    .m_size = 0,
    .m_methods = scan_methods,
    .m_slots = scan_slots,
};

/* The module's entry point (multi-phase initialisation: scan_exec does the work). */
PyMODINIT_FUNC PyInit__scan(void)
{
    return PyModuleDef_Init(&scan_module);
}
