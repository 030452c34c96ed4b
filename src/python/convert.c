/* Converters between Python objects and C API values, wrapping of results, the dtype
 * objects and ctorch.Size. */
#include <string.h>

#include "argparse.h"
#include "../core/internal.h"

ct_generator *(*ctp_generator_of)(PyObject *obj) = NULL;

/* ------------------------------------------------------------------ errors */

PyObject *ctp_raise_ct_error(void) {
    if (PyErr_Occurred()) return NULL;
    PyObject *exc;
    switch (ct_last_error_kind()) {
    case CT_ERR_VALUE: exc = PyExc_ValueError; break;
    case CT_ERR_TYPE: exc = PyExc_TypeError; break;
    case CT_ERR_INDEX: exc = PyExc_IndexError; break;
    case CT_ERR_NOT_IMPLEMENTED: exc = PyExc_NotImplementedError; break;
    case CT_ERR_MEMORY: exc = PyExc_RuntimeError; break; /* torch: "DefaultCPUAllocator: can't allocate memory" */
    case CT_ERR_IO: exc = PyExc_OSError; break;
    case CT_ERR_KEY: exc = PyExc_KeyError; break;
    case CT_ERR_UNPICKLING: {
        PyObject *pickle = PyImport_ImportModule("pickle");
        PyObject *e = pickle ? PyObject_GetAttrString(pickle, "UnpicklingError") : NULL;
        Py_XDECREF(pickle);
        if (!e) return NULL;
        PyErr_SetString(e, ct_last_error());
        Py_DECREF(e);
        ct_clear_error();
        return NULL;
    }
    case CT_ERR_LINALG: { /* ctorch.linalg.LinAlgError, a RuntimeError subclass */
        PyObject *mod = PyImport_ImportModule("ctorch.linalg");
        PyObject *e = mod ? PyObject_GetAttrString(mod, "LinAlgError") : NULL;
        Py_XDECREF(mod);
        if (!e) {
            PyErr_Clear();
            e = Py_NewRef(PyExc_RuntimeError);
        }
        PyErr_SetString(e, ct_last_error());
        Py_DECREF(e);
        ct_clear_error();
        return NULL;
    }
    case CT_OK: exc = PyExc_RuntimeError; break;
    default: exc = PyExc_RuntimeError; break;
    }
    const char *msg = ct_last_error();
    PyErr_SetString(exc, msg[0] ? msg : "ctorch: unknown error");
    ct_clear_error();
    return NULL;
}

/* ------------------------------------------------------------------ wrapping */

PyObject *ctp_wrap(ct_tensor *r) {
    if (!r) return ctp_raise_ct_error();
    if (r->pyobj) {
        PyObject *o = (PyObject *)r->pyobj;
        Py_INCREF(o);
        ct_tensor_release(r);
        return o;
    }
    PyTensor *o = (PyTensor *)ctp_Tensor_Type->tp_alloc(ctp_Tensor_Type, 0);
    if (!o) {
        ct_tensor_release(r);
        return NULL;
    }
    o->t = r;
    r->pyobj = o;
    return (PyObject *)o;
}

PyObject *ctp_wrap_self(PyObject *self_obj, ct_tensor *r) {
    ct_tensor_release(r);
    return Py_NewRef(self_obj);
}

PyObject *ctp_wrap_vec(ct_tensorvec v) {
    PyObject *t = PyTuple_New(v.n);
    if (!t) {
        ct_tensorvec_release(v);
        return NULL;
    }
    for (int64_t i = 0; i < v.n; i++) {
        PyObject *w = ctp_wrap(v.data[i]);
        v.data[i] = NULL;
        if (!w) {
            for (int64_t j = i + 1; j < v.n; j++) ct_tensor_release(v.data[j]);
            free(v.data);
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, w);
    }
    free(v.data);
    return t;
}

PyObject *ctp_wrap_tuple(ct_tensor **rs, int n, PyTypeObject *structseq) {
    PyObject *t = structseq ? PyStructSequence_New(structseq) : PyTuple_New(n);
    if (!t) {
        for (int i = 0; i < n; i++) ct_tensor_release(rs[i]);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        PyObject *w = ctp_wrap(rs[i]);
        if (!w) {
            for (int j = i + 1; j < n; j++) ct_tensor_release(rs[j]);
            Py_DECREF(t);
            return NULL;
        }
        if (structseq)
            PyStructSequence_SET_ITEM(t, i, w);
        else
            PyTuple_SET_ITEM(t, i, w);
    }
    return t;
}

PyObject *ctp_from_scalar(ct_scalar s) {
    switch (s.kind) {
    case CT_SCALAR_BOOL: return PyBool_FromLong((long)s.v.i);
    case CT_SCALAR_INT: return PyLong_FromLongLong(s.v.i);
    default: return PyFloat_FromDouble(s.v.d);
    }
}

PyTypeObject *ctp_Size_Type = NULL;

PyObject *ctp_size(const int64_t *sizes, int n) {
    PyObject *t = PyTuple_New(n);
    if (!t) return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *v = PyLong_FromLongLong(sizes[i]);
        if (!v) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    if (!ctp_Size_Type) return t;
    PyObject *args = PyTuple_Pack(1, t);
    Py_DECREF(t);
    if (!args) return NULL;
    PyObject *s = PyTuple_Type.tp_new(ctp_Size_Type, args, NULL);
    Py_DECREF(args);
    return s;
}

PyObject *ctp_write_out(PyObject *outo, ct_tensor *r) {
    if (!PyTensor_Check(outo)) {
        PyErr_Format(PyExc_TypeError, "argument 'out' must be Tensor, not %s", Py_TYPE(outo)->tp_name);
        return NULL;
    }
    ct_tensor *out = ctp_t(outo);
    if (!ct_can_cast(r->dtype, out->dtype)) {
        ct_errorf(CT_ERR_RUNTIME, "result type %s can't be cast to the desired output type %s", ct_dtype_name(r->dtype),
                  ct_dtype_name(out->dtype));
        return ctp_raise_ct_error();
    }
    bool same = out->ndim == r->ndim;
    for (int i = 0; same && i < r->ndim; i++) same = out->sizes[i] == r->sizes[i];
    if (!same) {
        /* resize out (torch warns when out was non-empty; we resize silently) */
        if (ct_resize_(out, (ct_intlist){r->sizes, r->ndim}) == NULL) return ctp_raise_ct_error();
        ct_tensor_release(out); /* ct_resize_ returned a new reference to out */
    }
    if (ct_copy_into(out, r)) return ctp_raise_ct_error();
    return Py_NewRef(outo);
}

int ctp_out_autograd_check(const char *name, PyObject *outo, ct_tensor *const *rs, int n, bool differentiable) {
    if (!ct_grad_enabled()) return 0;
    bool bad = false;
    for (int k = 0; k < n && !bad; k++) {
        if (!rs[k]) continue;
        bad = ct_tensor_requires_grad(rs[k]);
        PyObject *o = outo;
        if ((PyTuple_Check(outo) || PyList_Check(outo)) && k < PySequence_Fast_GET_SIZE(outo))
            o = PySequence_Fast_GET_ITEM(outo, k);
        if (!bad && differentiable && PyTensor_Check(o) && ct_dtype_is_floating(rs[k]->dtype))
            bad = ct_tensor_requires_grad(ctp_t(o));
    }
    if (!bad) return 0;
    PyErr_Format(PyExc_RuntimeError, "%s(): functions with out=... arguments don't support automatic "
                 "differentiation, but one of the arguments requires grad.", name);
    return -1;
}

int ctp_factory_post(PyObject *res, PyObject *requires_grad) {
    if (requires_grad == Py_True) return PyObject_SetAttrString(res, "requires_grad", Py_True);
    return 0;
}

/* ------------------------------------------------------------------ converters */

static int type_error(const char *what, PyObject *o) {
    PyErr_Format(PyExc_TypeError, "expected %s, but got %s", what, Py_TYPE(o)->tp_name);
    return -1;
}

int ctp_tensor(PyObject *o, ct_tensor **v) {
    if (!PyTensor_Check(o)) return type_error("Tensor", o);
    *v = ctp_t(o);
    return 0;
}

int ctp_tensor_opt(PyObject *o, ct_tensor **v) {
    if (o == Py_None) {
        *v = NULL;
        return 0;
    }
    return ctp_tensor(o, v);
}

int ctp_is_number(PyObject *o) {
    if (PyFloat_Check(o) || PyLong_Check(o)) return 1;
    if (PyTensor_Check(o) || PyUnicode_Check(o) || PyBytes_Check(o)) return 0;
    /* numpy scalars */
    const char *tn = Py_TYPE(o)->tp_name;
    if (!strncmp(tn, "numpy.", 6)) return PyNumber_Check(o) && !PySequence_Check(o);
    return 0;
}

ct_tensor *ctp_wrap_number(PyObject *o) {
    ct_tensor *t;
    if (PyBool_Check(o)) {
        t = ct_scalar_tensor_i64(o == Py_True, CT_BOOL);
    } else if (PyLong_Check(o)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow) {
            PyErr_SetString(PyExc_RuntimeError, "Overflow when unpacking long");
            return NULL;
        }
        if (v == -1 && PyErr_Occurred()) return NULL;
        t = ct_scalar_tensor_i64(v, CT_INT64);
    } else if (PyFloat_Check(o)) {
        t = ct_scalar_tensor_f64(PyFloat_AS_DOUBLE(o), CT_FLOAT64);
    } else {
        /* numpy scalar: by kind */
        const char *tn = Py_TYPE(o)->tp_name;
        if (strstr(tn, "bool")) {
            int b = PyObject_IsTrue(o);
            if (b < 0) return NULL;
            t = ct_scalar_tensor_i64(b, CT_BOOL);
        } else if (strstr(tn, "int")) {
            long long v = PyLong_AsLongLong(o);
            if (v == -1 && PyErr_Occurred()) return NULL;
            t = ct_scalar_tensor_i64(v, CT_INT64);
        } else {
            double d = PyFloat_AsDouble(o);
            if (d == -1.0 && PyErr_Occurred()) return NULL;
            t = ct_scalar_tensor_f64(d, CT_FLOAT64);
        }
    }
    if (!t) {
        ctp_raise_ct_error();
        return NULL;
    }
    t->flags |= CT_FLAG_WRAPPED_NUMBER;
    return t;
}

int ctp_tensor_or_scalar(PyObject *o, ct_tensor **v, ct_tensor **tmp) {
    *tmp = NULL;
    if (PyTensor_Check(o)) {
        *v = ctp_t(o);
        return 0;
    }
    ct_tensor *t = ctp_wrap_number(o);
    if (!t) return -1;
    *v = *tmp = t;
    return 0;
}

void ctp_listbuf_free(ctp_listbuf *b) {
    if (b->owned && b->data) PyMem_Free(b->data);
    b->data = NULL;
}

void ctp_intbuf_free(ctp_intbuf *b) {
    if (b->data && b->data != b->small) PyMem_Free(b->data);
    b->data = NULL;
}

int ctp_tensorlist(PyObject *o, ct_tensorlist *v, ctp_listbuf *buf, int allow_none) {
    buf->owned = 0;
    buf->data = NULL;
    if (!PyTuple_Check(o) && !PyList_Check(o)) return type_error("a tuple or list of Tensors", o);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
    PyObject **items = PySequence_Fast_ITEMS(o);
    if (n <= 8) {
        buf->data = buf->small;
    } else {
        buf->data = PyMem_Malloc(sizeof(ct_tensor *) * (size_t)n);
        if (!buf->data) return (PyErr_NoMemory(), -1);
        buf->owned = 1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (items[i] == Py_None && allow_none) {
            buf->data[i] = NULL;
        } else if (PyTensor_Check(items[i])) {
            buf->data[i] = ctp_t(items[i]);
        } else {
            return type_error("Tensor in list", items[i]);
        }
    }
    v->data = buf->data;
    v->n = n;
    return 0;
}

int ctp_scalar(PyObject *o, ct_scalar *v) {
    if (PyBool_Check(o)) {
        *v = ct_scalar_b(o == Py_True);
        return 0;
    }
    if (PyLong_Check(o)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow) {
            PyErr_SetString(PyExc_RuntimeError, "Overflow when unpacking long");
            return -1;
        }
        if (x == -1 && PyErr_Occurred()) return -1;
        *v = ct_scalar_i(x);
        return 0;
    }
    if (PyFloat_Check(o)) {
        *v = ct_scalar_f(PyFloat_AS_DOUBLE(o));
        return 0;
    }
    if (PyTensor_Check(o)) {
        if (ct_item(ctp_t(o), v)) return (ctp_raise_ct_error(), -1);
        return 0;
    }
    if (ctp_is_number(o)) {
        ct_tensor *t = ctp_wrap_number(o);
        if (!t) return -1;
        int rc = ct_item(t, v);
        ct_tensor_release(t);
        if (rc) return (ctp_raise_ct_error(), -1);
        return 0;
    }
    return type_error("a number", o);
}

int ctp_int(PyObject *o, int64_t *v) {
    if (PyTensor_Check(o)) {
        ct_scalar s;
        if (ct_item(ctp_t(o), &s)) return (ctp_raise_ct_error(), -1);
        *v = ct_scalar_to_i64(s);
        return 0;
    }
    long long x = PyLong_AsLongLong(o);
    if (x == -1 && PyErr_Occurred()) {
        if (PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_RuntimeError, "Overflow when unpacking long");
        }
        return -1;
    }
    *v = x;
    return 0;
}

int ctp_intlist(PyObject *o, ct_intlist *v, ctp_intbuf *buf) {
    buf->data = buf->small;
    if (!PyTuple_Check(o) && !PyList_Check(o)) {
        if (PyTensor_Check(o) && ctp_t(o)->ndim == 1) {
            ct_tensor *t = ctp_t(o);
            if (t->numel > CT_MAX_DIM) {
                buf->data = PyMem_Malloc(sizeof(int64_t) * (size_t)t->numel);
                if (!buf->data) return (PyErr_NoMemory(), -1);
            }
            const char *base = ct_tensor_data(t);
            for (int64_t i = 0; i < t->numel; i++)
                buf->data[i] = ct_load_i64(base + i * t->strides[0] * (int64_t)ct_dtype_size(t->dtype), t->dtype);
            v->data = buf->data;
            v->n = t->numel;
            return 0;
        }
        if (ctp_int(o, &buf->small[0])) return -1;
        v->data = buf->data;
        v->n = 1;
        return 0;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
    PyObject **items = PySequence_Fast_ITEMS(o);
    if (n > CT_MAX_DIM) {
        buf->data = PyMem_Malloc(sizeof(int64_t) * (size_t)n);
        if (!buf->data) return (PyErr_NoMemory(), -1);
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (ctp_int(items[i], &buf->data[i])) return -1;
    v->data = buf->data;
    v->n = n;
    return 0;
}

int ctp_intlist_opt(PyObject *o, ct_intlist *v, ctp_intbuf *buf) {
    if (o == Py_None) {
        buf->data = NULL;
        *v = CT_INTLIST_NONE;
        return 0;
    }
    return ctp_intlist(o, v, buf);
}

int ctp_float(PyObject *o, double *v) {
    if (PyTensor_Check(o)) {
        ct_scalar s;
        if (ct_item(ctp_t(o), &s)) return (ctp_raise_ct_error(), -1);
        *v = ct_scalar_to_f64(s);
        return 0;
    }
    double d = PyFloat_AsDouble(o);
    if (d == -1.0 && PyErr_Occurred()) return -1;
    *v = d;
    return 0;
}

int ctp_bool(PyObject *o, bool *v) {
    int b = PyObject_IsTrue(o);
    if (b < 0) return -1;
    *v = b != 0;
    return 0;
}

int ctp_str(PyObject *o, const char **v) {
    const char *s = PyUnicode_AsUTF8(o);
    if (!s) return -1;
    *v = s;
    return 0;
}

int ctp_str_opt(PyObject *o, const char **v) {
    if (o == Py_None) {
        *v = NULL;
        return 0;
    }
    return ctp_str(o, v);
}

int ctp_dtype(PyObject *o, int *v) {
    if (PyObject_TypeCheck(o, &PyDType_Type)) {
        *v = ((PyDType *)o)->dtype;
        return 0;
    }
    if (o == (PyObject *)&PyFloat_Type) {
        *v = CT_FLOAT64;
        return 0;
    }
    if (o == (PyObject *)&PyLong_Type) {
        *v = CT_INT64;
        return 0;
    }
    if (o == (PyObject *)&PyBool_Type) {
        *v = CT_BOOL;
        return 0;
    }
    return type_error("a dtype", o);
}

int ctp_dtype_opt(PyObject *o, int *v) {
    if (o == Py_None) {
        *v = CT_DTYPE_NONE;
        return 0;
    }
    return ctp_dtype(o, v);
}

int ctp_device_opt(PyObject *o, int *v) {
    *v = -1;
    if (o == Py_None) return 0;
    PyObject *s = PyObject_Str(o);
    if (!s) return -1;
    const char *str = PyUnicode_AsUTF8(s);
    int ok = str && (!strcmp(str, "cpu") || !strncmp(str, "cpu:", 4));
    if (!ok && PyLong_Check(o)) ok = 0;
    if (!ok) {
        PyErr_Format(PyExc_RuntimeError,
                     "Device '%s' is not available: this build of ctorch supports only the 'cpu' device",
                     str ? str : "?");
        Py_DECREF(s);
        return -1;
    }
    Py_DECREF(s);
    *v = 0;
    return 0;
}

int ctp_generator_opt(PyObject *o, ct_generator **v) {
    if (o == Py_None) {
        *v = NULL;
        return 0;
    }
    ct_generator *g = ctp_generator_of ? ctp_generator_of(o) : NULL;
    if (!g) return type_error("a Generator", o);
    *v = g;
    return 0;
}

/* ------------------------------------------------------------------ dtype objects */

PyObject *ctp_dtype_objs[CT_NUM_DTYPES];

static PyObject *dtype_repr(PyObject *o) {
    return PyUnicode_FromFormat("torch.%s", ct_dtype_name(((PyDType *)o)->dtype));
}

static PyObject *dtype_is_floating(PyObject *o, void *c) {
    (void)c;
    return PyBool_FromLong(ct_dtype_is_floating(((PyDType *)o)->dtype));
}
static PyObject *dtype_itemsize(PyObject *o, void *c) {
    (void)c;
    return PyLong_FromSize_t(ct_dtype_size(((PyDType *)o)->dtype));
}
static PyObject *dtype_is_signed(PyObject *o, void *c) {
    (void)c;
    int d = ((PyDType *)o)->dtype;
    return PyBool_FromLong(d != CT_BOOL && d != CT_UINT8);
}
static PyObject *dtype_false(PyObject *o, void *c) {
    (void)o;
    (void)c;
    Py_RETURN_FALSE;
}
static PyObject *dtype_reduce(PyObject *o, PyObject *unused) {
    (void)unused;
    return PyUnicode_FromString(ct_dtype_name(((PyDType *)o)->dtype));
}

static PyGetSetDef dtype_getset[] = {
    {"is_floating_point", dtype_is_floating, NULL, NULL, NULL},
    {"itemsize", dtype_itemsize, NULL, NULL, NULL},
    {"is_signed", dtype_is_signed, NULL, NULL, NULL},
    {"is_complex", dtype_false, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyMethodDef dtype_methods[] = {{"__reduce__", dtype_reduce, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};

PyTypeObject PyDType_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ctorch.dtype",
    .tp_basicsize = sizeof(PyDType),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_repr = dtype_repr,
    .tp_getset = dtype_getset,
    .tp_methods = dtype_methods,
};

int ctp_init_dtypes(PyObject *m) {
    if (PyType_Ready(&PyDType_Type) < 0) return -1;
    for (int d = 0; d < CT_NUM_DTYPES; d++) {
        PyDType *o = PyObject_New(PyDType, &PyDType_Type);
        if (!o) return -1;
        o->dtype = d;
        ctp_dtype_objs[d] = (PyObject *)o;
        if (PyModule_AddObjectRef(m, ct_dtype_name(d), (PyObject *)o) < 0) return -1;
    }
    static const struct { const char *alias; int d; } aliases[] = {
        {"half", CT_FLOAT16}, {"float", CT_FLOAT32}, {"double", CT_FLOAT64}, {"short", CT_INT16},
        {"int", CT_INT32},    {"long", CT_INT64},    {"float16", CT_FLOAT16}};
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (PyModule_AddObjectRef(m, aliases[i].alias, ctp_dtype_objs[aliases[i].d]) < 0) return -1;
    return PyModule_AddObjectRef(m, "dtype", (PyObject *)&PyDType_Type);
}
