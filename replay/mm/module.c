/* Placeholder while the model is ported. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static struct PyModuleDef mm_module = {PyModuleDef_HEAD_INIT, "replay._mm", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__mm(void) { return PyModule_Create(&mm_module); }
