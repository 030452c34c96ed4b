/* The ctorch._C module: initialisation, exception mapping, hand-written functions that take
 * arbitrary Python data (tensor(), as_tensor()), and small module-level utilities. */
#include <string.h>

#include "../core/internal.h"
#include "argparse.h"

extern PyObject *ctp_wrap_as(PyTypeObject *type, ct_tensor *t);

/* ------------------------------------------------------------------ tensor(data) */

typedef struct {
    int ndim;
    int64_t sizes[CT_MAX_DIM];
    int kind; /* 0 bool, 1 int, 2 float */
} scan_state;

static int is_seq(PyObject *o) {
    return (PyList_Check(o) || PyTuple_Check(o)) ||
           (!PyUnicode_Check(o) && !PyBytes_Check(o) && !PyTensor_Check(o) && !PyDict_Check(o) &&
            PySequence_Check(o) && !ctp_is_number(o) && PyObject_HasAttrString(o, "__len__"));
}

static int leaf_kind(PyObject *o, int *kind) {
    if (PyBool_Check(o)) {
        return 0;
    }
    if (PyLong_Check(o)) {
        if (*kind < 1) *kind = 1;
        return 0;
    }
    if (PyFloat_Check(o)) {
        *kind = 2;
        return 0;
    }
    if (PyTensor_Check(o)) {
        ct_tensor *t = ctp_t(o);
        if (t->numel != 1) {
            PyErr_SetString(PyExc_ValueError, "only one element tensors can be converted to Python scalars");
            return -1;
        }
        int k = t->dtype == CT_BOOL ? 0 : ct_dtype_is_floating(t->dtype) ? 2 : 1;
        if (k > *kind) *kind = k;
        return 0;
    }
    if (ctp_is_number(o)) {
        const char *tn = Py_TYPE(o)->tp_name;
        int k = strstr(tn, "bool") ? 0 : (strstr(tn, "int") ? 1 : 2);
        if (k > *kind) *kind = k;
        return 0;
    }
    if (PyUnicode_Check(o)) {
        PyErr_SetString(PyExc_ValueError, "too many dimensions 'str'");
        return -1;
    }
    PyErr_Format(PyExc_TypeError, "new(): invalid data type '%s'", Py_TYPE(o)->tp_name);
    return -1;
}

static int scan(PyObject *o, int d, scan_state *st) {
    if (d == st->ndim) {
        if (is_seq(o)) {
            PyErr_Format(PyExc_ValueError, "too many dimensions '%s'", Py_TYPE(o)->tp_name);
            return -1;
        }
        return leaf_kind(o, &st->kind);
    }
    if (!is_seq(o)) {
        PyErr_Format(PyExc_ValueError, "expected sequence of length %lld at dim %d (got %s)",
                     (long long)st->sizes[d], d, Py_TYPE(o)->tp_name);
        return -1;
    }
    PyObject *f = PySequence_Fast(o, "expected a sequence");
    if (!f) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(f);
    if (n != st->sizes[d]) {
        PyErr_Format(PyExc_ValueError, "expected sequence of length %lld at dim %d (got %zd)", (long long)st->sizes[d],
                     d, n);
        Py_DECREF(f);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (scan(PySequence_Fast_GET_ITEM(f, i), d + 1, st)) {
            Py_DECREF(f);
            return -1;
        }
    Py_DECREF(f);
    return 0;
}

static int fill(PyObject *o, int d, const scan_state *st, char **p, int dtype) {
    if (d == st->ndim) {
        ct_scalar s;
        if (ctp_scalar(o, &s)) return -1;
        ct_store_scalar(*p, dtype, s);
        *p += ct_dtype_size(dtype);
        return 0;
    }
    PyObject *f = PySequence_Fast(o, "expected a sequence");
    if (!f) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(f);
    for (Py_ssize_t i = 0; i < n; i++)
        if (fill(PySequence_Fast_GET_ITEM(f, i), d + 1, st, p, dtype)) {
            Py_DECREF(f);
            return -1;
        }
    Py_DECREF(f);
    return 0;
}

static int format_dtype(const char *fmt, Py_ssize_t itemsize) {
    while (*fmt == '<' || *fmt == '=' || *fmt == '@' || *fmt == '|') fmt++;
    switch (*fmt) {
    case '?': return CT_BOOL;
    case 'B': return CT_UINT8;
    case 'b': return CT_INT8;
    case 'h': return CT_INT16;
    case 'i': return itemsize == 4 ? CT_INT32 : -1;
    case 'l':
    case 'q': return itemsize == 8 ? CT_INT64 : itemsize == 4 ? CT_INT32 : -1;
    case 'e': return CT_FLOAT16;
    case 'f': return CT_FLOAT32;
    case 'd': return CT_FLOAT64;
    default: return -1;
    }
}

static void release_buffer(void *data, void *ctx) {
    (void)data;
    Py_buffer *view = ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    PyBuffer_Release(view);
    PyGILState_Release(g);
    PyMem_RawFree(view);
}

/* A tensor viewing a buffer-protocol object's memory (numpy arrays), keeping it alive.
 * New reference, or NULL with a Python error. */
ct_tensor *ctp_tensor_from_buffer(PyObject *obj, int writable_required) {
    Py_buffer *view = PyMem_RawMalloc(sizeof(Py_buffer));
    if (!view) return (PyErr_NoMemory(), NULL);
    int flags = PyBUF_RECORDS_RO;
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        PyMem_RawFree(view);
        return NULL;
    }
    (void)writable_required;
    int dt = format_dtype(view->format ? view->format : "B", view->itemsize);
    if (dt < 0) {
        PyErr_Format(PyExc_TypeError,
                     "can't convert np.ndarray of type with format '%s'. The only supported types are: float64, "
                     "float32, float16, int64, int32, int16, int8, uint8, and bool.",
                     view->format ? view->format : "?");
        PyBuffer_Release(view);
        PyMem_RawFree(view);
        return NULL;
    }
    int nd = view->ndim;
    if (nd > CT_MAX_DIM) {
        PyErr_SetString(PyExc_ValueError, "too many dimensions");
        PyBuffer_Release(view);
        PyMem_RawFree(view);
        return NULL;
    }
    int64_t sizes[CT_MAX_DIM], strides[CT_MAX_DIM];
    int64_t es = view->itemsize;
    /* the view's lowest address becomes the storage start */
    int64_t lo = 0, hi = 0;
    for (int i = 0; i < nd; i++) {
        sizes[i] = view->shape[i];
        if (view->strides[i] % es) {
            PyErr_SetString(PyExc_ValueError, "given numpy array strides not a multiple of the element byte size. "
                                              "Copy the numpy array to reallocate the memory.");
            PyBuffer_Release(view);
            PyMem_RawFree(view);
            return NULL;
        }
        strides[i] = view->strides[i] / es;
        if (sizes[i] > 0) {
            if (strides[i] < 0) lo += (sizes[i] - 1) * strides[i]; else hi += (sizes[i] - 1) * strides[i];
        }
    }
    int64_t numel = 1;
    for (int i = 0; i < nd; i++) numel *= sizes[i];
    char *base = (char *)view->buf + lo * es;
    size_t nbytes = numel ? (size_t)(hi - lo + 1) * (size_t)es : 0;
    ct_storage *s = ct_storage_wrap(base, nbytes, release_buffer, view);
    if (!s) {
        PyBuffer_Release(view);
        PyMem_RawFree(view);
        ctp_raise_ct_error();
        return NULL;
    }
    ct_tensor *t = ct_tensor_new_view(s, dt, numel ? -lo : 0, sizes, strides, nd);
    ct_storage_release(s);
    if (!t) ctp_raise_ct_error();
    return t;
}

static int has_buffer(PyObject *o) {
    return PyObject_CheckBuffer(o) && !PyBytes_Check(o) && !PyByteArray_Check(o) && !PyUnicode_Check(o);
}

/* New tensor holding data's values (copy when copy != 0 or the dtype changes). dtype -1:
 * infer. Returns a Python Tensor. */
PyObject *ctp_tensor_from_data(PyObject *data, int dtype, int copy) {
    if (PyTensor_Check(data)) {
        ct_tensor *src = ctp_t(data);
        int dt = dtype < 0 ? src->dtype : dtype;
        if (!copy && dt == src->dtype) return Py_NewRef(data);
        ct_tensor *t = ct_empty(src->sizes, src->ndim, dt);
        if (!t || ct_copy_into(t, src)) {
            ct_tensor_release(t);
            return ctp_raise_ct_error();
        }
        return ctp_wrap(t);
    }
    int is_nd = ctp_is_ndarray(data);
    if (is_nd < 0) return NULL;
    if (is_nd || has_buffer(data)) {
        /* ndarrays: torch.from_numpy's checks (negative strides, byte order, dtypes) */
        ct_tensor *v = is_nd ? ctp_tensor_from_ndarray(data, !copy) : ctp_tensor_from_buffer(data, 0);
        if (!v) return NULL;
        int dt = dtype < 0 ? v->dtype : dtype;
        if (!copy && dt == v->dtype) return ctp_wrap(v);
        ct_tensor *t = ct_empty(v->sizes, v->ndim, dt);
        if (!t || ct_copy_into(t, v)) {
            ct_tensor_release(t);
            ct_tensor_release(v);
            return ctp_raise_ct_error();
        }
        ct_tensor_release(v);
        return ctp_wrap(t);
    }
    scan_state st = {0};
    st.kind = 0;
    PyObject *o = data;
    Py_INCREF(o);
    while (is_seq(o)) {
        if (st.ndim >= CT_MAX_DIM) {
            Py_DECREF(o);
            return PyErr_Format(PyExc_ValueError, "too many dimensions");
        }
        Py_ssize_t n = PySequence_Size(o);
        if (n < 0) {
            Py_DECREF(o);
            return NULL;
        }
        st.sizes[st.ndim++] = n;
        if (n == 0) break;
        PyObject *first = PySequence_GetItem(o, 0);
        Py_DECREF(o);
        if (!first) return NULL;
        o = first;
    }
    Py_DECREF(o);
    if (scan(data, 0, &st)) return NULL;
    int dt = dtype;
    if (dt < 0) {
        int64_t numel = 1;
        for (int i = 0; i < st.ndim; i++) numel *= st.sizes[i];
        dt = st.kind == 2 || numel == 0 ? ct_get_default_dtype() : st.kind == 1 ? CT_INT64 : CT_BOOL;
        if (numel == 0 && st.kind < 2 && st.ndim > 0) dt = ct_get_default_dtype();
        /* all-bool/all-int empty lists are still float in torch */
    }
    ct_tensor *t = ct_empty(st.sizes, st.ndim, dt);
    if (!t) return ctp_raise_ct_error();
    char *p = ct_tensor_data(t);
    if (fill(data, 0, &st, &p, dt)) {
        ct_tensor_release(t);
        return NULL;
    }
    return ctp_wrap(t);
}

static ctp_sig sig_tensor, sig_as_tensor;

static PyObject *py_tensor(PyObject *mod, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    (void)mod;
    PyObject *a[8];
    if (ctp_parse(&sig_tensor, args, nargs, kwnames, a, 1)) return NULL;
    int dtype, device;
    if (ctp_dtype_opt(a[1], &dtype) || ctp_device_opt(a[2], &device)) return NULL;
    PyObject *r = ctp_tensor_from_data(a[0], dtype, 1);
    if (r && ctp_factory_post(r, a[3])) Py_CLEAR(r);
    return r;
}

static PyObject *py_as_tensor(PyObject *mod, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    (void)mod;
    PyObject *a[8];
    if (ctp_parse(&sig_as_tensor, args, nargs, kwnames, a, 1)) return NULL;
    int dtype, device;
    if (ctp_dtype_opt(a[1], &dtype) || ctp_device_opt(a[2], &device)) return NULL;
    return ctp_tensor_from_data(a[0], dtype, 0);
}

/* ------------------------------------------------------------------ small utilities */

static PyObject *py_get_default_dtype(PyObject *m, PyObject *u) {
    (void)m;
    (void)u;
    return Py_NewRef(ctp_dtype_objs[ct_get_default_dtype()]);
}
static PyObject *py_set_default_dtype(PyObject *m, PyObject *arg) {
    (void)m;
    int d;
    if (ctp_dtype(arg, &d)) return NULL;
    if (ct_set_default_dtype(d)) return ctp_raise_ct_error();
    Py_RETURN_NONE;
}
static PyObject *py_promote_types(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *a, *b;
    int x, y;
    if (!PyArg_ParseTuple(args, "OO", &a, &b) || ctp_dtype(a, &x) || ctp_dtype(b, &y)) return NULL;
    return Py_NewRef(ctp_dtype_objs[ct_promote_types(x, y)]);
}
static PyObject *py_result_type(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *a, *b;
    if (!PyArg_ParseTuple(args, "OO", &a, &b)) return NULL;
    ct_tensor *x, *y, *tx = NULL, *ty = NULL;
    if (!(PyTensor_Check(a) || ctp_is_number(a)) || !(PyTensor_Check(b) || ctp_is_number(b)))
        return PyErr_Format(PyExc_TypeError, "result_type(): arguments must be Tensors or Numbers");
    if (ctp_tensor_or_scalar(a, &x, &tx)) return NULL;
    if (ctp_tensor_or_scalar(b, &y, &ty)) {
        ct_tensor_release(tx);
        return NULL;
    }
    ct_tensor *ab[2] = {x, y};
    int r = ct_result_type(2, ab);
    ct_tensor_release(tx);
    ct_tensor_release(ty);
    return Py_NewRef(ctp_dtype_objs[r]);
}
static PyObject *py_can_cast(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *a, *b;
    int x, y;
    if (!PyArg_ParseTuple(args, "OO", &a, &b) || ctp_dtype(a, &x) || ctp_dtype(b, &y)) return NULL;
    return PyBool_FromLong(ct_can_cast(x, y));
}
static PyObject *py_get_num_threads(PyObject *m, PyObject *u) {
    (void)m;
    (void)u;
    return PyLong_FromLong(ct_get_num_threads());
}
static PyObject *py_set_num_threads(PyObject *m, PyObject *arg) {
    (void)m;
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n < 1) return PyErr_Format(PyExc_RuntimeError, "set_num_threads expects a positive integer");
    ct_set_num_threads((int)n);
    Py_RETURN_NONE;
}
static PyObject *py_set_size_type(PyObject *m, PyObject *o) {
    (void)m;
    if (!PyType_Check(o) || !PyType_IsSubtype((PyTypeObject *)o, &PyTuple_Type))
        return PyErr_Format(PyExc_TypeError, "expected a tuple subclass");
    Py_INCREF(o);
    Py_XSETREF(ctp_Size_Type, (PyTypeObject *)o);
    Py_RETURN_NONE;
}
/* Where LAPACK (scipy-openblas32) lives; loaded at the first linalg call (src/kernels/cpu/lapack.c). */
void ct_lapack_set_path(const char *path);
static PyObject *py_set_lapack_path(PyObject *m, PyObject *o) {
    (void)m;
    const char *p = PyUnicode_AsUTF8(o);
    if (!p) return NULL;
    ct_lapack_set_path(p);
    Py_RETURN_NONE;
}
static PyObject *py_is_tensor(PyObject *m, PyObject *o) {
    (void)m;
    return PyBool_FromLong(PyTensor_Check(o));
}

#define FASTKW METH_FASTCALL | METH_KEYWORDS
PyMethodDef ctp_module_functions_manual[] = {
    {"tensor", (PyCFunction)(void (*)(void))py_tensor, FASTKW, NULL},
    {"as_tensor", (PyCFunction)(void (*)(void))py_as_tensor, FASTKW, NULL},
    {"get_default_dtype", py_get_default_dtype, METH_NOARGS, NULL},
    {"set_default_dtype", py_set_default_dtype, METH_O, NULL},
    {"promote_types", py_promote_types, METH_VARARGS, NULL},
    {"result_type", py_result_type, METH_VARARGS, NULL},
    {"can_cast", py_can_cast, METH_VARARGS, NULL},
    {"get_num_threads", py_get_num_threads, METH_NOARGS, NULL},
    {"set_num_threads", py_set_num_threads, METH_O, NULL},
    {"is_tensor", py_is_tensor, METH_O, NULL},
    {"_set_size_type", py_set_size_type, METH_O, NULL},
    {"_set_lapack_path", py_set_lapack_path, METH_O, NULL},
    {NULL, NULL, 0, NULL}};

/* ------------------------------------------------------------------ init */

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "ctorch._C", "ctorch's C core", -1, NULL, NULL, NULL, NULL,
                                    NULL};

PyMODINIT_FUNC PyInit__C(void) {
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    if (ctp_parse_sig("tensor(PyObject data, *, ScalarType? dtype=None, Device? device=None, bool requires_grad=False, "
                      "bool pin_memory=False)", &sig_tensor) ||
        ctp_parse_sig("as_tensor(PyObject data, ScalarType? dtype=None, Device? device=None)", &sig_as_tensor))
        goto fail;
    if (ctp_init_dtypes(m) < 0 || ctp_init_tensor_type(m) < 0 || ctp_init_autograd(m) < 0) goto fail;
    if (ctp_init_repr(m) < 0 || ctp_init_numpy(m) < 0 || ctp_init_dlpack(m) < 0) goto fail;
    if (ctp_init_shared(m) < 0 || ctp_init_tensorboard(m) < 0 || ctp_init_serialize(m) < 0) goto fail;
    PyObject *rt = PyModule_New("ctorch.return_types");
    if (!rt || PyModule_AddObject(m, "return_types", rt) < 0) goto fail;
    if (ctp_init_generated(rt) < 0) goto fail;
    if (ctp_init_random(m) < 0) goto fail;
    if (PyModule_AddFunctions(m, ctp_module_functions_manual) < 0) goto fail;
    for (const ctp_namespace *ns = ctp_namespaces; ns->defs; ns++) {
        char name[64];
        snprintf(name, sizeof name, "_ns_%s", ns->ns[0] ? ns->ns : "torch");
        PyObject *sub = PyModule_New(name);
        if (!sub || PyModule_AddFunctions(sub, ns->defs) < 0 || PyModule_AddObject(m, name, sub) < 0) goto fail;
    }
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
