/* NumPy interop without importing NumPy at ctorch import time: Tensor.numpy() and
 * Tensor.__array__ export the tensor's memory through a small buffer-protocol object that
 * holds a reference to the tensor (so the storage outlives the tensor object), and
 * ctorch.from_numpy(arr) wraps an ndarray's memory (read through __array_interface__),
 * holding a reference to the array for as long as the storage lives. Also the small
 * dtype cast used by the legacy Tensor.type(). */
#include <stdio.h>

#include "../core/internal.h"
#include "argparse.h"

/* ------------------------------------------------------------------ buffer exporter */

typedef struct {
    PyObject_HEAD
    ct_tensor *t; /* owned: an alias of the exported tensor */
    Py_ssize_t shape[CT_MAX_DIM];
    Py_ssize_t strides[CT_MAX_DIM];
} TensorBuffer;

static const char *buffer_format(int dtype) {
    switch (dtype) {
    case CT_BOOL: return "?";
    case CT_UINT8: return "B";
    case CT_INT8: return "b";
    case CT_INT16: return "h";
    case CT_INT32: return "i";
    case CT_INT64: return sizeof(long) == 8 ? "l" : "q";
    case CT_FLOAT16: return "e";
    case CT_FLOAT32: return "f";
    case CT_FLOAT64: return "d";
    default: return NULL;
    }
}

/* numpy's array interface (version 3): works for any strides, including 1-D strided views
 * whose byte extent exceeds numel * itemsize (which the buffer protocol's `len` cannot say). */
static const char *typestr(int dtype) {
    switch (dtype) {
    case CT_BOOL: return "|b1";
    case CT_UINT8: return "|u1";
    case CT_INT8: return "|i1";
    case CT_INT16: return "<i2";
    case CT_INT32: return "<i4";
    case CT_INT64: return "<i8";
    case CT_FLOAT16: return "<f2";
    case CT_FLOAT32: return "<f4";
    case CT_FLOAT64: return "<f8";
    default: return NULL;
    }
}

static PyObject *tb_array_interface(PyObject *self, void *c) {
    (void)c;
    TensorBuffer *o = (TensorBuffer *)self;
    ct_tensor *t = o->t;
    PyObject *shape = PyTuple_New(t->ndim), *strides = PyTuple_New(t->ndim);
    if (!shape || !strides) {
        Py_XDECREF(shape);
        Py_XDECREF(strides);
        return NULL;
    }
    for (int i = 0; i < t->ndim; i++) {
        PyTuple_SET_ITEM(shape, i, PyLong_FromSsize_t(o->shape[i]));
        PyTuple_SET_ITEM(strides, i, PyLong_FromSsize_t(o->strides[i]));
    }
    void *ptr = t->storage->data ? ct_tensor_data(t) : NULL;
    return Py_BuildValue("{s:(NO),s:N,s:N,s:s,s:i}", "data", PyLong_FromVoidPtr(ptr), Py_False, "shape", shape,
                         "strides", strides, "typestr", typestr(t->dtype), "version", 3);
}

static PyGetSetDef tb_getset[] = {{"__array_interface__", tb_array_interface, NULL, NULL, NULL},
                                  {NULL, NULL, NULL, NULL, NULL}};

static void tb_dealloc(PyObject *self) {
    ct_tensor_release(((TensorBuffer *)self)->t);
    PyObject_Free(self);
}

static PyTypeObject TensorBuffer_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ctorch._C._TensorBuffer",
    .tp_basicsize = sizeof(TensorBuffer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = tb_dealloc,
    .tp_getset = tb_getset,
};

/* ndarray sharing t's memory. New reference. */
static PyObject *export_ndarray(ct_tensor *t) {
    if (!buffer_format(t->dtype))
        return PyErr_Format(PyExc_TypeError, "Got unsupported ScalarType %s",
                            t->dtype == CT_BFLOAT16 ? "BFloat16" : ct_dtype_name(t->dtype));
    PyObject *np = PyImport_ImportModule("numpy");
    if (!np) return NULL;
    TensorBuffer *b = PyObject_New(TensorBuffer, &TensorBuffer_Type);
    if (!b) {
        Py_DECREF(np);
        return NULL;
    }
    b->t = ct_tensor_alias(t);
    if (!b->t) {
        Py_DECREF(b);
        Py_DECREF(np);
        return ctp_raise_ct_error();
    }
    size_t es = ct_dtype_size(t->dtype);
    for (int i = 0; i < t->ndim; i++) {
        b->shape[i] = (Py_ssize_t)t->sizes[i];
        b->strides[i] = (Py_ssize_t)(t->strides[i] * (int64_t)es);
    }
    PyObject *arr = PyObject_CallMethod(np, "asarray", "O", (PyObject *)b);
    Py_DECREF(b);
    Py_DECREF(np);
    return arr;
}

static PyObject *tensor_numpy(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"force", NULL};
    int force = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$p:numpy", kwlist, &force)) return NULL;
    ct_tensor *t = ctp_t(self);
    if (!force && ct_tensor_requires_grad(t))
        return PyErr_Format(PyExc_RuntimeError,
                            "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.");
    return export_ndarray(t);
}

static PyObject *tensor_array(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"dtype", "copy", NULL};
    PyObject *dtype = Py_None, *copy = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OO:__array__", kwlist, &dtype, &copy)) return NULL;
    ct_tensor *t = ctp_t(self);
    if (ct_tensor_requires_grad(t))
        return PyErr_Format(PyExc_RuntimeError,
                            "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.");
    PyObject *arr = export_ndarray(t);
    if (!arr) return NULL;
    if (dtype != Py_None) {
        PyObject *kw = Py_BuildValue("{s:O}", "copy", copy == Py_True ? Py_True : Py_False);
        PyObject *meth = PyObject_GetAttrString(arr, "astype");
        PyObject *a = PyTuple_Pack(1, dtype);
        PyObject *r = kw && meth && a ? PyObject_Call(meth, a, kw) : NULL;
        Py_XDECREF(kw);
        Py_XDECREF(meth);
        Py_XDECREF(a);
        Py_DECREF(arr);
        return r;
    }
    if (copy == Py_True) {
        PyObject *r = PyObject_CallMethod(arr, "copy", NULL);
        Py_DECREF(arr);
        return r;
    }
    return arr;
}

/* ------------------------------------------------------------------ from_numpy */

static PyObject *ndarray_type; /* cached numpy.ndarray once numpy is loaded */

/* 1 if o is a numpy.ndarray (without importing numpy), 0 if not, -1 on error. */
int ctp_is_ndarray(PyObject *o) {
    if (!ndarray_type) {
        PyObject *np, *name = PyUnicode_FromString("numpy");
        if (!name) return -1;
        np = PyImport_GetModule(name);
        Py_DECREF(name);
        if (!np) return PyErr_Occurred() ? -1 : 0;
        ndarray_type = PyObject_GetAttrString(np, "ndarray");
        Py_DECREF(np);
        if (!ndarray_type) return -1;
    }
    return PyObject_IsInstance(o, ndarray_type);
}

static void release_array(void *data, void *ctx) {
    (void)data;
    if (!Py_IsInitialized()) return;
    PyGILState_STATE g = PyGILState_Ensure();
    Py_DECREF((PyObject *)ctx);
    PyGILState_Release(g);
}

static int typestr_dtype(const char *ts, int *order_ok) {
    *order_ok = 1;
    if (strlen(ts) < 3) return -1;
    char order = ts[0], kind = ts[1];
    long size = strtol(ts + 2, NULL, 10);
    int dt = -1;
    if (kind == 'b' && size == 1) dt = CT_BOOL;
    else if (kind == 'u' && size == 1) dt = CT_UINT8;
    else if (kind == 'i' && size == 1) dt = CT_INT8;
    else if (kind == 'i' && size == 2) dt = CT_INT16;
    else if (kind == 'i' && size == 4) dt = CT_INT32;
    else if (kind == 'i' && size == 8) dt = CT_INT64;
    else if (kind == 'f' && size == 2) dt = CT_FLOAT16;
    else if (kind == 'f' && size == 4) dt = CT_FLOAT32;
    else if (kind == 'f' && size == 8) dt = CT_FLOAT64;
    const uint16_t probe = 1;
    int little = *(const uint8_t *)&probe == 1;
    if (size > 1 && ((order == '>' && little) || (order == '<' && !little))) *order_ok = 0;
    return dt;
}

static PyObject *unsupported_dtype(PyObject *arr) {
    PyObject *d = PyObject_GetAttrString(arr, "dtype");
    PyObject *ty = d ? PyObject_GetAttrString(d, "type") : NULL;
    PyObject *nm = ty ? PyObject_GetAttrString(ty, "__name__") : NULL;
    Py_XDECREF(d);
    Py_XDECREF(ty);
    if (!nm) return NULL;
    PyErr_Format(PyExc_TypeError,
                 "can't convert np.ndarray of type numpy.%U. The only supported types are: float64, float32, "
                 "float16, int64, int32, int16, int8, uint8, and bool.",
                 nm);
    Py_DECREF(nm);
    return NULL;
}

static int as_i64(PyObject *o, int64_t *v) {
    long long x = PyLong_AsLongLong(o);
    if (x == -1 && PyErr_Occurred()) return -1;
    *v = x;
    return 0;
}

/* A tensor sharing the ndarray's memory (kept alive by the storage). New reference, or
 * NULL with a Python error. Errors as torch.from_numpy. */
ct_tensor *ctp_tensor_from_ndarray(PyObject *arr, int warn_readonly) {
    PyObject *ai = PyObject_GetAttrString(arr, "__array_interface__");
    if (!ai) return NULL;
    ct_tensor *result = NULL;
    PyObject *ts = PyDict_Check(ai) ? PyDict_GetItemString(ai, "typestr") : NULL;
    PyObject *shape = PyDict_Check(ai) ? PyDict_GetItemString(ai, "shape") : NULL;
    PyObject *strides = PyDict_Check(ai) ? PyDict_GetItemString(ai, "strides") : NULL;
    PyObject *data = PyDict_Check(ai) ? PyDict_GetItemString(ai, "data") : NULL;
    if (!ts || !PyUnicode_Check(ts) || !shape || !PyTuple_Check(shape) || !data || !PyTuple_Check(data) ||
        PyTuple_GET_SIZE(data) != 2) {
        PyErr_SetString(PyExc_TypeError, "from_numpy(): malformed __array_interface__");
        goto done;
    }
    const char *tss = PyUnicode_AsUTF8(ts);
    if (!tss) goto done;
    int order_ok, dt = typestr_dtype(tss, &order_ok);
    if (dt < 0) {
        unsupported_dtype(arr);
        goto done;
    }
    if (!order_ok) {
        PyErr_SetString(PyExc_ValueError, "given numpy array has byte order different from the native byte order. "
                                          "Conversion between byte orders is currently not supported.");
        goto done;
    }
    Py_ssize_t nd = PyTuple_GET_SIZE(shape);
    if (nd > CT_MAX_DIM) {
        PyErr_Format(PyExc_ValueError, "from_numpy(): arrays with more than %d dimensions are not supported",
                     CT_MAX_DIM);
        goto done;
    }
    int64_t sizes[CT_MAX_DIM], st[CT_MAX_DIM];
    int64_t es = (int64_t)ct_dtype_size(dt), numel = 1;
    for (Py_ssize_t i = 0; i < nd; i++) {
        if (as_i64(PyTuple_GET_ITEM(shape, i), &sizes[i])) goto done;
        numel *= sizes[i];
    }
    if (strides && strides != Py_None) {
        if (!PyTuple_Check(strides) || PyTuple_GET_SIZE(strides) != nd) {
            PyErr_SetString(PyExc_TypeError, "from_numpy(): malformed strides");
            goto done;
        }
        for (Py_ssize_t i = 0; i < nd; i++) {
            int64_t b;
            if (as_i64(PyTuple_GET_ITEM(strides, i), &b)) goto done;
            if (b < 0) {
                PyErr_SetString(PyExc_ValueError,
                                "At least one stride in the given numpy array is negative, and tensors with negative "
                                "strides are not currently supported. (You can probably work around this by making a "
                                "copy of your array  with array.copy().) ");
                goto done;
            }
            if (b % es) {
                PyErr_SetString(PyExc_ValueError, "given numpy array strides not a multiple of the element byte size. "
                                                  "Copy the numpy array to reallocate the memory.");
                goto done;
            }
            st[i] = b / es;
        }
    } else {
        ct_contiguous_strides(sizes, (int)nd, st);
    }
    void *ptr = PyLong_AsVoidPtr(PyTuple_GET_ITEM(data, 0));
    if (!ptr && PyErr_Occurred()) goto done;
    int readonly = PyObject_IsTrue(PyTuple_GET_ITEM(data, 1));
    if (readonly < 0) goto done;
    if (readonly && warn_readonly &&
        PyErr_WarnEx(PyExc_UserWarning,
                     "The given NumPy array is not writable, and PyTorch does not support non-writable tensors. This "
                     "means writing to this tensor will result in undefined behavior. You may want to copy the array "
                     "to protect its data or make it writable before converting it to a tensor.",
                     1) < 0)
        goto done;
    int64_t extent = 0;
    if (numel > 0) {
        extent = 1;
        for (Py_ssize_t i = 0; i < nd; i++) extent += (sizes[i] - 1) * st[i];
    }
    Py_INCREF(arr);
    ct_storage *s = ct_storage_wrap(ptr, (size_t)(extent * es), release_array, arr);
    if (!s) {
        Py_DECREF(arr);
        ctp_raise_ct_error();
        goto done;
    }
    result = ct_tensor_new_view(s, dt, 0, sizes, st, (int)nd);
    ct_storage_release(s);
    if (!result) ctp_raise_ct_error();
done:
    Py_DECREF(ai);
    return result;
}

/* Tensor.__array_wrap__(array, context=None, return_scalar=False): NumPy ufuncs applied
 * to a tensor give a tensor back, sharing the result array (bool results become uint8, as
 * torch does). */
static PyObject *tensor_array_wrap(PyObject *self, PyObject *args, PyObject *kwargs) {
    (void)self;
    static char *kwlist[] = {"array", "context", "return_scalar", NULL};
    PyObject *arr, *ctx = Py_None, *rs = Py_False;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|OO:__array_wrap__", kwlist, &arr, &ctx, &rs)) return NULL;
    int is = ctp_is_ndarray(arr);
    if (is < 0) return NULL;
    if (!is) return PyErr_Format(PyExc_TypeError, "expected np.ndarray (got %s)", Py_TYPE(arr)->tp_name);
    PyObject *dt = PyObject_GetAttrString(arr, "dtype");
    PyObject *kind = dt ? PyObject_GetAttrString(dt, "kind") : NULL;
    Py_XDECREF(dt);
    if (!kind) return NULL;
    int is_bool = PyUnicode_Check(kind) && PyUnicode_CompareWithASCIIString(kind, "b") == 0;
    Py_DECREF(kind);
    PyObject *src = is_bool ? PyObject_CallMethod(arr, "astype", "s", "uint8") : Py_NewRef(arr);
    if (!src) return NULL;
    ct_tensor *t = ctp_tensor_from_ndarray(src, 1);
    Py_DECREF(src);
    return t ? ctp_wrap(t) : NULL;
}

static PyObject *py_from_numpy(PyObject *m, PyObject *arr) {
    (void)m;
    int is = ctp_is_ndarray(arr);
    if (is < 0) return NULL;
    if (!is) return PyErr_Format(PyExc_TypeError, "expected np.ndarray (got %s)", Py_TYPE(arr)->tp_name);
    ct_tensor *t = ctp_tensor_from_ndarray(arr, 1);
    return t ? ctp_wrap(t) : NULL;
}

/* _C._to_dtype(t, dtype): t itself when it already has dtype, else a converted copy. */
static PyObject *py_to_dtype(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *to, *dobj;
    int dt;
    if (!PyArg_ParseTuple(args, "OO:_to_dtype", &to, &dobj)) return NULL;
    if (!PyTensor_Check(to)) return PyErr_Format(PyExc_TypeError, "expected a Tensor");
    if (ctp_dtype(dobj, &dt)) return NULL;
    if (ctp_t(to)->dtype == dt) return Py_NewRef(to);
    return ctp_wrap(ct_to_dtype(ctp_t(to), dt, false));
}

static PyMethodDef numpy_functions[] = {
    {"from_numpy", py_from_numpy, METH_O, NULL},
    {"_to_dtype", py_to_dtype, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyMethodDef numpy_methods[] = {
    {"numpy", (PyCFunction)(void (*)(void))tensor_numpy, METH_VARARGS | METH_KEYWORDS, NULL},
    {"__array__", (PyCFunction)(void (*)(void))tensor_array, METH_VARARGS | METH_KEYWORDS, NULL},
    {"__array_wrap__", (PyCFunction)(void (*)(void))tensor_array_wrap, METH_VARARGS | METH_KEYWORDS, NULL},
    {NULL, NULL, 0, NULL}};

int ctp_init_numpy(PyObject *m) {
    if (PyType_Ready(&TensorBuffer_Type) < 0) return -1;
    if (PyModule_AddFunctions(m, numpy_functions) < 0) return -1;
    if (ctp_add_tensor_methods(numpy_methods) < 0) return -1;
    PyObject *prio = PyLong_FromLong(1000);
    if (!prio) return -1;
    int rc = PyObject_SetAttrString((PyObject *)ctp_Tensor_Type, "__array_priority__", prio);
    Py_DECREF(prio);
    return rc;
}
