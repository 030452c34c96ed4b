/* The Python Tensor type: lifetime, attributes, hand-written methods (geometry queries,
 * tolist), the legacy constructor, and arithmetic operator slots. Op methods come from
 * the generated table (ctp_tensor_methods_gen). */
#include <string.h>

#include "../core/internal.h"
#include "argparse.h"

static void tensor_dealloc(PyObject *self) {
    PyTensor *o = (PyTensor *)self;
    PyObject_GC_UnTrack(self);
    if (o->weakrefs) PyObject_ClearWeakRefs(self);
    Py_CLEAR(o->dict);
    if (o->t) {
        if (o->t->pyobj == self) o->t->pyobj = NULL;
        ct_tensor_release(o->t);
        o->t = NULL;
    }
    Py_TYPE(self)->tp_free(self);
}

static int tensor_traverse(PyObject *self, visitproc visit, void *arg) {
    Py_VISIT(((PyTensor *)self)->dict);
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int tensor_clear(PyObject *self) {
    Py_CLEAR(((PyTensor *)self)->dict);
    return 0;
}

/* Bind a fresh instance of `type` (Tensor or a subclass) to tensor t (stolen). */
PyObject *ctp_wrap_as(PyTypeObject *type, ct_tensor *t) {
    if (!t) return ctp_raise_ct_error();
    PyTensor *o = (PyTensor *)type->tp_alloc(type, 0);
    if (!o) {
        ct_tensor_release(t);
        return NULL;
    }
    o->t = t;
    if (!t->pyobj) t->pyobj = o;
    return (PyObject *)o;
}

extern PyObject *ctp_tensor_from_data(PyObject *data, int dtype, int copy);

/* ctorch.Tensor(*sizes) / ctorch.Tensor(sequence): float32 by default, as torch. */
static PyObject *tensor_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    (void)kwargs;
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (n == 1 && !PyLong_Check(PyTuple_GET_ITEM(args, 0))) {
        PyObject *a = PyTuple_GET_ITEM(args, 0);
        if (PyTensor_Check(a)) {
            ct_tensor *al = ct_tensor_alias(ctp_t(a));
            return ctp_wrap_as(type, al);
        }
        PyObject *r = ctp_tensor_from_data(a, ct_get_default_dtype(), 1);
        if (!r || type == ctp_Tensor_Type) return r;
        ct_tensor *al = ct_tensor_alias(ctp_t(r));
        Py_DECREF(r);
        return ctp_wrap_as(type, al);
    }
    int64_t sizes[CT_MAX_DIM];
    if (n > CT_MAX_DIM) return PyErr_Format(PyExc_RuntimeError, "too many dimensions");
    for (Py_ssize_t i = 0; i < n; i++) {
        if (ctp_int(PyTuple_GET_ITEM(args, i), &sizes[i])) return NULL;
    }
    ct_tensor *t = ct_zeros((ct_intlist){sizes, n}, ct_get_default_dtype(), -1);
    return ctp_wrap_as(type, t);
}

/* ------------------------------------------------------------------ attributes */

static PyObject *get_shape(PyObject *self, void *c) {
    (void)c;
    ct_tensor *t = ctp_t(self);
    return ctp_size(t->sizes, t->ndim);
}
static PyObject *get_dtype(PyObject *self, void *c) {
    (void)c;
    return Py_NewRef(ctp_dtype_objs[ctp_t(self)->dtype]);
}
static PyObject *get_ndim(PyObject *self, void *c) {
    (void)c;
    return PyLong_FromLong(ctp_t(self)->ndim);
}
static PyObject *get_requires_grad(PyObject *self, void *c) {
    (void)c;
    return PyBool_FromLong(ct_tensor_requires_grad(ctp_t(self)));
}
static int set_requires_grad(PyObject *self, PyObject *v, void *c) {
    (void)c;
    if (!v || !PyBool_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "requires_grad must be a bool");
        return -1;
    }
    if (ct_tensor_set_requires_grad(ctp_t(self), v == Py_True)) {
        ctp_raise_ct_error();
        return -1;
    }
    return 0;
}
static PyObject *get_grad(PyObject *self, void *c) {
    (void)c;
    ct_tensor *g = ct_tensor_grad(ctp_t(self));
    if (!g) Py_RETURN_NONE;
    ct_tensor_retain(g);
    return ctp_wrap(g);
}
static int set_grad(PyObject *self, PyObject *v, void *c) {
    (void)c;
    if (v && v != Py_None && !PyTensor_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "assigned grad expected to be a Tensor or None");
        return -1;
    }
    if (ct_tensor_set_grad(ctp_t(self), (v && v != Py_None) ? ctp_t(v) : NULL)) {
        ctp_raise_ct_error();
        return -1;
    }
    return 0;
}
static PyObject *get_data(PyObject *self, void *c) {
    (void)c;
    return ctp_wrap(ct_tensor_alias(ctp_t(self)));
}
static int set_data(PyObject *self, PyObject *v, void *c) {
    (void)c;
    if (!v || !PyTensor_Check(v)) {
        PyErr_SetString(PyExc_TypeError, "data must be a Tensor");
        return -1;
    }
    ct_tensor *t = ctp_t(self), *src = ctp_t(v);
    ct_storage_retain(src->storage);
    ct_storage_release(t->storage);
    t->storage = src->storage;
    t->dtype = src->dtype;
    t->ndim = src->ndim;
    t->offset = src->offset;
    memcpy(t->sizes, src->sizes, sizeof(int64_t) * (size_t)src->ndim);
    memcpy(t->strides, src->strides, sizeof(int64_t) * (size_t)src->ndim);
    ct_tensor_update_meta(t);
    return 0;
}
static PyObject *get_device(PyObject *self, void *c) {
    (void)self;
    (void)c;
    PyObject *m = PyImport_ImportModule("ctorch");
    if (!m) return NULL;
    PyObject *r = PyObject_CallMethod(m, "device", "s", "cpu");
    Py_DECREF(m);
    return r;
}
static PyObject *get_false(PyObject *self, void *c) {
    (void)self;
    (void)c;
    Py_RETURN_FALSE;
}
static PyObject *get_itemsize(PyObject *self, void *c) {
    (void)c;
    return PyLong_FromSize_t(ct_dtype_size(ctp_t(self)->dtype));
}
static PyObject *get_nbytes(PyObject *self, void *c) {
    (void)c;
    ct_tensor *t = ctp_t(self);
    return PyLong_FromLongLong(t->numel * (int64_t)ct_dtype_size(t->dtype));
}

/* T / mT / H / mH: transposed views (real dtypes only, so H is T for matrices). */
static PyObject *get_T(PyObject *self, void *c) {
    (void)c;
    ct_tensor *t = ctp_t(self);
    if (t->ndim == 2) { /* a permute, as torch (PermuteBackward0 under autograd) */
        int64_t p[2] = {1, 0};
        return ctp_wrap(ct_permute(t, (ct_intlist){p, 2}));
    }
    if (PyErr_WarnEx(PyExc_UserWarning,
                     t->ndim == 0 ? "Tensor.T is deprecated on 0-D tensors. This function is the identity in these cases."
                                  : "The use of `x.T` on tensors of dimension other than 2 to reverse their shape is "
                                    "deprecated and it will throw an error in a future release. Consider `x.mT` to "
                                    "transpose batches of matrices or `x.permute(*torch.arange(x.ndim - 1, -1, -1))` to "
                                    "reverse the dimensions of a tensor.", 1) < 0)
        return NULL;
    int64_t rev[CT_MAX_DIM];
    for (int i = 0; i < t->ndim; i++) rev[i] = t->ndim - 1 - i;
    return ctp_wrap(ct_permute(t, (ct_intlist){rev, t->ndim}));
}
static PyObject *get_mT(PyObject *self, void *c) {
    ct_tensor *t = ctp_t(self);
    if (t->ndim == 0) return Py_NewRef(self); /* the tensor itself on 0-D, as torch */
    if (t->ndim < 2)
        return PyErr_Format(PyExc_RuntimeError, "tensor.%s is only supported on matrices or batches of matrices. Got "
                            "%d-D tensor.", (const char *)c, t->ndim);
    return ctp_wrap(ct_transpose(t, -2, -1));
}
static PyObject *get_H(PyObject *self, void *c) {
    (void)c;
    ct_tensor *t = ctp_t(self);
    if (t->ndim == 0) return Py_NewRef(self);
    if (t->ndim != 2)
        return PyErr_Format(PyExc_RuntimeError, "tensor.H is only supported on matrices (2-D tensors). Got %d-D "
                            "tensor.%s", t->ndim, t->ndim > 2 ? " For batches of matrices, consider using tensor.mH" : "");
    return ctp_wrap(ct_transpose(t, 0, 1));
}


static PyGetSetDef tensor_getset[] = {
    {"T", get_T, NULL, NULL, NULL},
    {"mT", get_mT, NULL, NULL, "mT"},
    {"H", get_H, NULL, NULL, NULL},
    {"mH", get_mT, NULL, NULL, "mH"},
    {"shape", get_shape, NULL, NULL, NULL},
    {"dtype", get_dtype, NULL, NULL, NULL},
    {"ndim", get_ndim, NULL, NULL, NULL},
    {"requires_grad", get_requires_grad, set_requires_grad, NULL, NULL},
    {"grad", get_grad, set_grad, NULL, NULL},
    {"data", get_data, set_data, NULL, NULL},
    {"device", get_device, NULL, NULL, NULL},
    {"is_cuda", get_false, NULL, NULL, NULL},
    {"is_sparse", get_false, NULL, NULL, NULL},
    {"is_quantized", get_false, NULL, NULL, NULL},
    {"is_meta", get_false, NULL, NULL, NULL},
    {"itemsize", get_itemsize, NULL, NULL, NULL},
    {"nbytes", get_nbytes, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

/* ------------------------------------------------------------------ manual methods */

static int opt_dim(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, const char *name,
                   int *dim, int *has) {
    *has = 0;
    PyObject *d = nargs > 0 ? args[0] : NULL;
    if (kwnames && PyTuple_GET_SIZE(kwnames) == 1 && !d) d = args[nargs];
    if (!d || d == Py_None) return 0;
    int64_t v;
    if (!PyLong_Check(d)) {
        PyErr_Format(PyExc_TypeError, "%s(): argument 'dim' must be int, not %s", name, Py_TYPE(d)->tp_name);
        return -1;
    }
    if (ctp_int(d, &v)) return -1;
    int w = ct_wrap_dim(v, ctp_t(self)->ndim, name);
    if (w < 0) return (ctp_raise_ct_error(), -1);
    *dim = w;
    *has = 1;
    return 0;
}

static PyObject *m_size(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    int dim, has;
    if (opt_dim(self, args, nargs, kwnames, "size", &dim, &has)) return NULL;
    ct_tensor *t = ctp_t(self);
    if (has) return PyLong_FromLongLong(t->ndim ? t->sizes[dim] : 1);
    return ctp_size(t->sizes, t->ndim);
}

static PyObject *m_stride(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    int dim, has;
    if (opt_dim(self, args, nargs, kwnames, "stride", &dim, &has)) return NULL;
    ct_tensor *t = ctp_t(self);
    if (has) return PyLong_FromLongLong(t->ndim ? t->strides[dim] : 1);
    PyObject *r = PyTuple_New(t->ndim);
    for (int i = 0; r && i < t->ndim; i++) PyTuple_SET_ITEM(r, i, PyLong_FromLongLong(t->strides[i]));
    return r;
}

static PyObject *m_dim(PyObject *self, PyObject *unused) {
    (void)unused;
    return PyLong_FromLong(ctp_t(self)->ndim);
}
static PyObject *m_numel(PyObject *self, PyObject *unused) {
    (void)unused;
    return PyLong_FromLongLong(ctp_t(self)->numel);
}
static PyObject *m_element_size(PyObject *self, PyObject *unused) {
    (void)unused;
    return PyLong_FromSize_t(ct_dtype_size(ctp_t(self)->dtype));
}
static PyObject *m_data_ptr(PyObject *self, PyObject *unused) {
    (void)unused;
    return PyLong_FromVoidPtr(ct_tensor_data(ctp_t(self)));
}
static PyObject *m_storage_offset(PyObject *self, PyObject *unused) {
    (void)unused;
    return PyLong_FromLongLong(ctp_t(self)->offset);
}
static PyObject *m_is_contiguous(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kw) {
    (void)args;
    (void)nargs;
    (void)kw;
    return PyBool_FromLong(ct_tensor_is_contiguous(ctp_t(self)));
}
static PyObject *m_is_floating_point(PyObject *self, PyObject *unused) {
    (void)unused;
    return PyBool_FromLong(ct_dtype_is_floating(ctp_t(self)->dtype));
}
static PyObject *m_requires_grad_(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    PyObject *flag = nargs > 0 ? args[0] : (kwnames && PyTuple_GET_SIZE(kwnames) ? args[nargs] : Py_True);
    if (set_requires_grad(self, flag, NULL)) return NULL;
    return Py_NewRef(self);
}

static PyObject *tolist_rec(const ct_tensor *t, const char *p, int d) {
    if (d == t->ndim) {
        if (t->dtype == CT_BOOL) return PyBool_FromLong(*(const uint8_t *)p != 0);
        if (ct_dtype_is_floating(t->dtype)) return PyFloat_FromDouble(ct_load_f64(p, t->dtype));
        return PyLong_FromLongLong(ct_load_i64(p, t->dtype));
    }
    PyObject *l = PyList_New(t->sizes[d]);
    if (!l) return NULL;
    int64_t step = t->strides[d] * (int64_t)ct_dtype_size(t->dtype);
    for (int64_t i = 0; i < t->sizes[d]; i++) {
        PyObject *e = tolist_rec(t, p + i * step, d + 1);
        if (!e) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, i, e);
    }
    return l;
}

static PyObject *m_tolist(PyObject *self, PyObject *unused) {
    (void)unused;
    ct_tensor *t = ctp_t(self);
    return tolist_rec(t, ct_tensor_data(t), 0);
}

static PyObject *m_make_subclass(PyObject *unused, PyObject *args, PyObject *kwargs) {
    (void)unused;
    static char *kwlist[] = {"cls", "data", "require_grad", NULL};
    PyObject *cls, *data;
    int rg = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|p", kwlist, &cls, &data, &rg)) return NULL;
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, ctp_Tensor_Type) || !PyTensor_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "_make_subclass(cls, data): cls must be a Tensor subclass, data a Tensor");
        return NULL;
    }
    ct_tensor *al = ct_tensor_alias(ctp_t(data));
    if (!al) return ctp_raise_ct_error();
    if (rg && ct_tensor_set_requires_grad(al, true)) {
        ct_tensor_release(al);
        return ctp_raise_ct_error();
    }
    return ctp_wrap_as((PyTypeObject *)cls, al);
}

#define FASTKW METH_FASTCALL | METH_KEYWORDS
PyMethodDef ctp_tensor_methods_manual[] = {
    {"size", (PyCFunction)(void (*)(void))m_size, FASTKW, NULL},
    {"stride", (PyCFunction)(void (*)(void))m_stride, FASTKW, NULL},
    {"dim", m_dim, METH_NOARGS, NULL},
    {"ndimension", m_dim, METH_NOARGS, NULL},
    {"numel", m_numel, METH_NOARGS, NULL},
    {"nelement", m_numel, METH_NOARGS, NULL},
    {"element_size", m_element_size, METH_NOARGS, NULL},
    {"data_ptr", m_data_ptr, METH_NOARGS, NULL},
    {"storage_offset", m_storage_offset, METH_NOARGS, NULL},
    {"is_contiguous", (PyCFunction)(void (*)(void))m_is_contiguous, FASTKW, NULL},
    {"is_floating_point", m_is_floating_point, METH_NOARGS, NULL},
    {"requires_grad_", (PyCFunction)(void (*)(void))m_requires_grad_, FASTKW, NULL},
    {"tolist", m_tolist, METH_NOARGS, NULL},
    {"_make_subclass", (PyCFunction)(void (*)(void))m_make_subclass, METH_VARARGS | METH_KEYWORDS | METH_STATIC, NULL},
    {NULL, NULL, 0, NULL}};

/* ------------------------------------------------------------------ protocol slots */

static Py_ssize_t tensor_len(PyObject *self) {
    ct_tensor *t = ctp_t(self);
    if (t->ndim == 0) {
        PyErr_SetString(PyExc_TypeError, "len() of a 0-d tensor");
        return -1;
    }
    return (Py_ssize_t)t->sizes[0];
}

static int one_element(PyObject *self, ct_scalar *s, const char *what) {
    ct_tensor *t = ctp_t(self);
    if (t->numel != 1) {
        if (!strcmp(what, "bool"))
            PyErr_SetString(PyExc_RuntimeError, "Boolean value of Tensor with more than one value is ambiguous");
        else
            PyErr_Format(PyExc_RuntimeError, "a Tensor with %lld elements cannot be converted to Scalar",
                         (long long)t->numel);
        return -1;
    }
    if (ct_item(t, s)) return (ctp_raise_ct_error(), -1);
    return 0;
}

static int tensor_bool(PyObject *self) {
    ct_scalar s;
    if (one_element(self, &s, "bool")) return -1;
    return s.kind == CT_SCALAR_FLOAT ? s.v.d != 0 : s.v.i != 0;
}
static PyObject *tensor_float(PyObject *self) {
    ct_scalar s;
    if (one_element(self, &s, "float")) return NULL;
    return PyFloat_FromDouble(ct_scalar_to_f64(s));
}
static PyObject *tensor_int(PyObject *self) {
    ct_scalar s;
    if (one_element(self, &s, "int")) return NULL;
    if (s.kind == CT_SCALAR_FLOAT) return PyNumber_Long(PyFloat_FromDouble(s.v.d));
    return PyLong_FromLongLong(s.v.i);
}
static PyObject *tensor_index(PyObject *self) {
    ct_tensor *t = ctp_t(self);
    if (t->numel != 1 || !ct_dtype_is_integral(t->dtype, true)) {
        PyErr_SetString(PyExc_TypeError, "only integer tensors of a single element can be converted to an index");
        return NULL;
    }
    return tensor_int(self);
}

/* Binary operator slots: either operand may be the tensor; Python numbers become wrapped
 * numbers. Returns NotImplemented for foreign types so Python can try the other side. */
typedef ct_tensor *(*binfn)(ct_tensor *, ct_tensor *);
static PyObject *binary_slot(PyObject *a, PyObject *b, binfn fn) {
    ct_tensor *x, *y, *tx = NULL, *ty = NULL;
    if (!(PyTensor_Check(a) || ctp_is_number(a)) || !(PyTensor_Check(b) || ctp_is_number(b))) Py_RETURN_NOTIMPLEMENTED;
    if (ctp_tensor_or_scalar(a, &x, &tx)) return NULL;
    if (ctp_tensor_or_scalar(b, &y, &ty)) {
        ct_tensor_release(tx);
        return NULL;
    }
    ct_tensor *r = fn(x, y);
    ct_tensor_release(tx);
    ct_tensor_release(ty);
    return ctp_wrap(r);
}
static PyObject *inplace_slot(PyObject *a, PyObject *b, binfn fn) {
    ct_tensor *y, *ty = NULL;
    if (!(PyTensor_Check(b) || ctp_is_number(b))) Py_RETURN_NOTIMPLEMENTED;
    if (ctp_tensor_or_scalar(b, &y, &ty)) return NULL;
    ct_tensor *r = fn(ctp_t(a), y);
    ct_tensor_release(ty);
    if (!r) return ctp_raise_ct_error();
    return ctp_wrap_self(a, r);
}

static ct_tensor *f_add(ct_tensor *a, ct_tensor *b) { return ct_add(a, b, ct_scalar_i(1)); }
static ct_tensor *f_sub(ct_tensor *a, ct_tensor *b) { return ct_sub(a, b, ct_scalar_i(1)); }
static ct_tensor *f_div(ct_tensor *a, ct_tensor *b) { return ct_div(a, b, NULL); }
static ct_tensor *f_add_(ct_tensor *a, ct_tensor *b) { return ct_add_(a, b, ct_scalar_i(1)); }
static ct_tensor *f_sub_(ct_tensor *a, ct_tensor *b) { return ct_sub_(a, b, ct_scalar_i(1)); }
static ct_tensor *f_div_(ct_tensor *a, ct_tensor *b) { return ct_div_(a, b, NULL); }

static PyObject *nb_add(PyObject *a, PyObject *b) { return binary_slot(a, b, f_add); }
static PyObject *nb_sub(PyObject *a, PyObject *b) { return binary_slot(a, b, f_sub); }
static PyObject *nb_mul(PyObject *a, PyObject *b) { return binary_slot(a, b, ct_mul); }
/* number / tensor is reciprocal(tensor) * number in torch (__rtruediv__); same rounding */
static ct_tensor *f_rdiv(ct_tensor *a, ct_tensor *b) {
    ct_tensor *r = ct_reciprocal(b);
    if (!r) return NULL;
    ct_tensor *m = ct_mul(r, a);
    ct_tensor_release(r);
    return m;
}
static PyObject *nb_div(PyObject *a, PyObject *b) {
    return binary_slot(a, b, (!PyTensor_Check(a) && PyTensor_Check(b)) ? f_rdiv : f_div);
}
static PyObject *nb_iadd(PyObject *a, PyObject *b) { return inplace_slot(a, b, f_add_); }
static PyObject *nb_isub(PyObject *a, PyObject *b) { return inplace_slot(a, b, f_sub_); }
static PyObject *nb_imul(PyObject *a, PyObject *b) { return inplace_slot(a, b, ct_mul_); }
static PyObject *nb_idiv(PyObject *a, PyObject *b) { return inplace_slot(a, b, f_div_); }
/* `a @ b` takes tensors only (a Python number gives NotImplemented -> TypeError, as torch);
 * `a @= b` writes the product into a, whose shape must not change. */
static PyObject *nb_matmul(PyObject *a, PyObject *b) {
    if (!PyTensor_Check(a) || !PyTensor_Check(b)) Py_RETURN_NOTIMPLEMENTED;
    return ctp_wrap(ct_matmul(ctp_t(a), ctp_t(b)));
}
static PyObject *nb_imatmul(PyObject *a, PyObject *b) {
    if (!PyTensor_Check(a) || !PyTensor_Check(b)) Py_RETURN_NOTIMPLEMENTED;
    ct_tensor *r = ct_matmul(ctp_t(a), ctp_t(b));
    if (!r) return ctp_raise_ct_error();
    ct_tensor *t = ctp_t(a);
    if (r->ndim != t->ndim || memcmp(r->sizes, t->sizes, sizeof(int64_t) * (size_t)t->ndim) != 0) {
        ct_tensor_release(r);
        PyErr_SetString(PyExc_RuntimeError, "[matmul] the in-place result shape does not match self's shape");
        return NULL;
    }
    ct_tensor *o = ct_copy_(t, r, false);
    ct_tensor_release(r);
    if (!o) return ctp_raise_ct_error();
    return ctp_wrap_self(a, o);
}
static PyObject *nb_neg(PyObject *a) { return ctp_wrap(ct_neg(ctp_t(a))); }
static PyObject *nb_pos(PyObject *a) {
    if (ctp_t(a)->dtype == CT_BOOL) {
        PyErr_SetString(PyExc_RuntimeError, "The `+` operator, on a bool tensor is not supported.");
        return NULL;
    }
    return Py_NewRef(a);
}

/* Elementwise-family operators: // % ** & | ^ << >> ~ abs(), their in-place forms, and
 * the rich comparisons (tensors back; NotImplemented for foreign types, so `t == "x"`
 * is False as in torch). */
static PyObject *nb_floordiv(PyObject *a, PyObject *b) { return binary_slot(a, b, ct_floor_divide); }
static PyObject *nb_rem(PyObject *a, PyObject *b) { return binary_slot(a, b, ct_remainder); }
static PyObject *nb_and(PyObject *a, PyObject *b) { return binary_slot(a, b, ct_bitwise_and); }
static PyObject *nb_or(PyObject *a, PyObject *b) { return binary_slot(a, b, ct_bitwise_or); }
static PyObject *nb_xor(PyObject *a, PyObject *b) { return binary_slot(a, b, ct_bitwise_xor); }
static PyObject *nb_lshift(PyObject *a, PyObject *b) { return binary_slot(a, b, ct_bitwise_left_shift); }
static PyObject *nb_rshift(PyObject *a, PyObject *b) { return binary_slot(a, b, ct_bitwise_right_shift); }
static PyObject *nb_ifloordiv(PyObject *a, PyObject *b) { return inplace_slot(a, b, ct_floor_divide_); }
static PyObject *nb_irem(PyObject *a, PyObject *b) { return inplace_slot(a, b, ct_remainder_); }
static PyObject *nb_iand(PyObject *a, PyObject *b) { return inplace_slot(a, b, ct_bitwise_and_); }
static PyObject *nb_ior(PyObject *a, PyObject *b) { return inplace_slot(a, b, ct_bitwise_or_); }
static PyObject *nb_ixor(PyObject *a, PyObject *b) { return inplace_slot(a, b, ct_bitwise_xor_); }
static PyObject *nb_ilshift(PyObject *a, PyObject *b) { return inplace_slot(a, b, ct_bitwise_left_shift_); }
static PyObject *nb_irshift(PyObject *a, PyObject *b) { return inplace_slot(a, b, ct_bitwise_right_shift_); }
static PyObject *nb_pow(PyObject *a, PyObject *b, PyObject *mod) {
    if (mod != Py_None) Py_RETURN_NOTIMPLEMENTED;
    return binary_slot(a, b, ct_pow);
}
static PyObject *nb_ipow(PyObject *a, PyObject *b, PyObject *mod) {
    if (mod != Py_None) Py_RETURN_NOTIMPLEMENTED;
    return inplace_slot(a, b, ct_pow_);
}
static PyObject *nb_invert(PyObject *a) {
    if (ct_dtype_is_floating(ctp_t(a)->dtype)) {
        PyErr_SetString(PyExc_TypeError, "~ (operator.invert) is only implemented on integer and Boolean-type tensors");
        return NULL;
    }
    return ctp_wrap(ct_bitwise_not(ctp_t(a)));
}
static PyObject *nb_abs(PyObject *a) { return ctp_wrap(ct_abs(ctp_t(a))); }

static PyObject *tensor_richcompare(PyObject *a, PyObject *b, int op) {
    static const binfn fns[] = {ct_lt, ct_le, ct_eq, ct_ne, ct_gt, ct_ge}; /* Py_LT .. Py_GE */
    if (op < 0 || op > 5) Py_RETURN_NOTIMPLEMENTED;
    return binary_slot(a, b, fns[op]);
}

/* Tensors hash by identity (as torch), also with __eq__ defined elementwise. */
static Py_hash_t tensor_hash(PyObject *self) {
    size_t y = (size_t)self;
    y = (y >> 4) | (y << (8 * sizeof(void *) - 4));
    Py_hash_t h = (Py_hash_t)y;
    return h == -1 ? -2 : h;
}

PyTypeObject *ctp_Tensor_Type = NULL;

/* t[...] and t[...] = v live in indexing.c */
PyObject *ctp_tensor_getitem(PyObject *self, PyObject *index);
int ctp_tensor_setitem(PyObject *self, PyObject *index, PyObject *value);
PyObject *ctp_tensor_sq_item(PyObject *self, Py_ssize_t i);
PyObject *ctp_tensor_iter(PyObject *self);

static PyMemberDef tensor_members[] = {
    {"__dictoffset__", T_PYSSIZET, offsetof(PyTensor, dict), READONLY, NULL},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(PyTensor, weakrefs), READONLY, NULL},
    {NULL, 0, 0, 0, NULL}};

/* Merge the manual and generated method tables into tp_methods before PyType_Ready. */
/* Concatenate NULL-terminated tables (methods or getsets) into one new table. */
#define CONCAT_TABLES(TYPE, FIELD, OUT, ...)                                          \
    do {                                                                              \
        TYPE *parts_[] = {__VA_ARGS__};                                               \
        size_t total_ = 0;                                                            \
        for (size_t k_ = 0; k_ < sizeof parts_ / sizeof parts_[0]; k_++)             \
            for (TYPE *p_ = parts_[k_]; p_ && p_->FIELD; p_++) total_++;              \
        OUT = PyMem_Calloc(total_ + 1, sizeof(TYPE));                                 \
        if (!OUT) return -1;                                                          \
        size_t i_ = 0;                                                                \
        for (size_t k_ = 0; k_ < sizeof parts_ / sizeof parts_[0]; k_++)             \
            for (TYPE *p_ = parts_[k_]; p_ && p_->FIELD; p_++) OUT[i_++] = *p_;       \
    } while (0)

int ctp_init_tensor_type(PyObject *m) {
    PyMethodDef *all;
    PyGetSetDef *getset;
    CONCAT_TABLES(PyMethodDef, ml_name, all, ctp_tensor_methods_manual, ctp_tensor_methods_gen,
                  ctp_tensor_methods_autograd);
    CONCAT_TABLES(PyGetSetDef, name, getset, tensor_getset, ctp_tensor_getset_autograd);
    /* A heap type, so the Python layer can add methods (backward, __repr__ helpers ...) to
     * ctorch.Tensor itself and every op result is directly a ctorch.Tensor. */
    PyType_Slot slots[] = {
        {Py_tp_dealloc, tensor_dealloc},
        {Py_tp_traverse, tensor_traverse},
        {Py_tp_clear, tensor_clear},
        {Py_tp_getset, getset},
        {Py_tp_methods, all},
        {Py_tp_members, tensor_members},
        {Py_tp_new, tensor_new},
        {Py_tp_repr, ctp_tensor_repr},
        {Py_tp_str, ctp_tensor_str},
        {Py_nb_add, nb_add},
        {Py_nb_subtract, nb_sub},
        {Py_nb_multiply, nb_mul},
        {Py_nb_true_divide, nb_div},
        {Py_nb_inplace_add, nb_iadd},
        {Py_nb_inplace_subtract, nb_isub},
        {Py_nb_inplace_multiply, nb_imul},
        {Py_nb_inplace_true_divide, nb_idiv},
        {Py_nb_negative, nb_neg},
        {Py_nb_matrix_multiply, nb_matmul},
        {Py_nb_inplace_matrix_multiply, nb_imatmul},
        {Py_nb_floor_divide, nb_floordiv},
        {Py_nb_remainder, nb_rem},
        {Py_nb_power, nb_pow},
        {Py_nb_and, nb_and},
        {Py_nb_or, nb_or},
        {Py_nb_xor, nb_xor},
        {Py_nb_lshift, nb_lshift},
        {Py_nb_rshift, nb_rshift},
        {Py_nb_inplace_floor_divide, nb_ifloordiv},
        {Py_nb_inplace_remainder, nb_irem},
        {Py_nb_inplace_power, nb_ipow},
        {Py_nb_inplace_and, nb_iand},
        {Py_nb_inplace_or, nb_ior},
        {Py_nb_inplace_xor, nb_ixor},
        {Py_nb_inplace_lshift, nb_ilshift},
        {Py_nb_inplace_rshift, nb_irshift},
        {Py_nb_invert, nb_invert},
        {Py_nb_absolute, nb_abs},
        {Py_tp_richcompare, tensor_richcompare},
        {Py_tp_hash, tensor_hash},
        {Py_nb_positive, nb_pos},
        {Py_nb_bool, tensor_bool},
        {Py_nb_float, tensor_float},
        {Py_nb_int, tensor_int},
        {Py_nb_index, tensor_index},
        {Py_sq_length, tensor_len},
        {Py_mp_length, tensor_len},
        {Py_mp_subscript, ctp_tensor_getitem},
        {Py_mp_ass_subscript, ctp_tensor_setitem},
        {Py_sq_item, ctp_tensor_sq_item},
        {Py_tp_iter, ctp_tensor_iter},
        {0, NULL}};
    PyType_Spec spec = {"ctorch.Tensor", sizeof(PyTensor), 0,
                        Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC, slots};
    ctp_Tensor_Type = (PyTypeObject *)PyType_FromSpec(&spec);
    if (!ctp_Tensor_Type) return -1;
    return PyModule_AddObjectRef(m, "Tensor", (PyObject *)ctp_Tensor_Type);
}
