/* Tensor.__getitem__ / __setitem__: translate the Python index object into ct_index_item
 * entries and call ct_tensor_index / ct_tensor_index_put_ (src/ops/indexing.c). */
#include "../core/internal.h"
#include "argparse.h"
#include "ctorch/indexing.h"
#include "../kernels/cpu/index.h"

extern PyObject *ctp_tensor_from_data(PyObject *data, int dtype, int copy);

#define MAX_ITEMS 64

typedef struct {
    ct_index_item items[MAX_ITEMS];
    int n;
    PyObject *keep[MAX_ITEMS]; /* tensors made from lists/arrays, owned */
    int nkeep;
} index_buf;

static void buf_free(index_buf *b) {
    for (int i = 0; i < b->nkeep; i++) Py_DECREF(b->keep[i]);
    b->nkeep = 0;
}

static int invalid_index(PyObject *o) {
    PyErr_Format(PyExc_IndexError,
                 "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are valid indices "
                 "(got %s)", Py_TYPE(o)->tp_name);
    return -1;
}

static int is_numpy_scalar(PyObject *o) { return !strncmp(Py_TYPE(o)->tp_name, "numpy.", 6) && ctp_is_number(o); }

/* A nested sequence (or array) -> index tensor held in b->keep. */
static int seq_to_tensor(PyObject *o, index_buf *b, ct_tensor **out) {
    PyObject *t = ctp_tensor_from_data(o, -1, 0);
    if (!t) {
        if (PyErr_ExceptionMatches(PyExc_TypeError) || PyErr_ExceptionMatches(PyExc_ValueError)) {
            PyErr_Clear();
            return invalid_index(o);
        }
        return -1;
    }
    if (ctp_t(t)->numel == 0 && ct_dtype_is_floating(ctp_t(t)->dtype)) {
        /* [] indexes nothing: an empty int64 index, as torch */
        ct_tensor *e = ct_empty(ctp_t(t)->sizes, ctp_t(t)->ndim, CT_INT64);
        Py_DECREF(t);
        t = ctp_wrap(e);
        if (!t) return -1;
    }
    b->keep[b->nkeep++] = t;
    *out = ctp_t(t);
    return 0;
}

static int convert_one(PyObject *o, index_buf *b) {
    if (b->n >= MAX_ITEMS) {
        PyErr_SetString(PyExc_IndexError, "too many indices");
        return -1;
    }
    ct_index_item *it = &b->items[b->n++];
    if (o == Py_None) {
        *it = ct_index_none();
    } else if (o == Py_Ellipsis) {
        *it = ct_index_ellipsis();
    } else if (PyBool_Check(o)) {
        *it = ct_index_bool(o == Py_True);
    } else if (PyLong_Check(o)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (v == -1 && PyErr_Occurred()) return -1;
        if (overflow) {
            PyErr_SetString(PyExc_ValueError, "Overflow when unpacking long long");
            return -1;
        }
        *it = ct_index_int(v);
    } else if (PySlice_Check(o)) {
        Py_ssize_t start, stop, step;
        if (PySlice_Unpack(o, &start, &stop, &step) < 0) return -1;
        if (step < 0) {
            PyErr_SetString(PyExc_ValueError, "step must be greater than zero");
            return -1;
        }
        *it = ct_index_slice(start, stop == PY_SSIZE_T_MAX ? CT_INDEX_END : stop, step);
    } else if (PyTensor_Check(o)) {
        *it = ct_index_tensor(ctp_t(o));
    } else if (is_numpy_scalar(o)) {
        if (strstr(Py_TYPE(o)->tp_name, "int")) { /* numpy bools and floats are rejected, as torch */
            PyObject *i = PyNumber_Index(o);
            if (!i) return -1;
            long long v = PyLong_AsLongLong(i);
            Py_DECREF(i);
            if (v == -1 && PyErr_Occurred()) return -1;
            *it = ct_index_int(v);
        } else {
            return invalid_index(o);
        }
    } else if (PyUnicode_Check(o) || PyBytes_Check(o)) {
        PyErr_Format(PyExc_TypeError, "new(): invalid data type '%s'", Py_TYPE(o)->tp_name);
        return -1;
    } else if (PySequence_Check(o) || PyObject_CheckBuffer(o)) {
        ct_tensor *t;
        if (seq_to_tensor(o, b, &t)) return -1;
        *it = ct_index_tensor(t);
    } else {
        return invalid_index(o);
    }
    return 0;
}

/* torch's legacy rule: a short list holding a sequence, slice, Ellipsis, None or tensor is
 * read as a tuple of indices. */
static int list_as_tuple(PyObject *o) {
    Py_ssize_t n = PyList_GET_SIZE(o);
    if (n >= 32) return 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = PyList_GET_ITEM(o, i);
        if (PyTensor_Check(e) || PySlice_Check(e) || e == Py_Ellipsis || e == Py_None) return 1;
        if (PySequence_Check(e) && !PyUnicode_Check(e) && !PyBytes_Check(e)) return 1;
    }
    return 0;
}

static int convert_index(PyObject *index, index_buf *b) {
    b->n = 0;
    b->nkeep = 0;
    if (PyTuple_Check(index) || (PyList_Check(index) && list_as_tuple(index))) {
        PyObject *seq = PySequence_Fast(index, "index");
        if (!seq) return -1;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        for (Py_ssize_t i = 0; i < n; i++) {
            if (convert_one(PySequence_Fast_GET_ITEM(seq, i), b)) {
                Py_DECREF(seq);
                return -1;
            }
        }
        Py_DECREF(seq);
        return 0;
    }
    return convert_one(index, b);
}

PyObject *ctp_tensor_getitem(PyObject *self, PyObject *index) {
    index_buf b;
    if (convert_index(index, &b)) {
        buf_free(&b);
        return NULL;
    }
    ct_tensor *r = ct_tensor_index(ctp_t(self), b.items, b.n);
    buf_free(&b);
    return ctp_wrap(r);
}

int ctp_tensor_setitem(PyObject *self, PyObject *index, PyObject *value) {
    if (!value) {
        PyErr_SetString(PyExc_TypeError, "Tensor does not support item deletion");
        return -1;
    }
    ct_tensor *v, *tmp = NULL;
    ct_tensor *t = ctp_t(self);
    if (PyTensor_Check(value)) {
        v = ctp_t(value);
    } else if (PyBool_Check(value) || PyLong_Check(value) || PyFloat_Check(value) ||
               (is_numpy_scalar(value) && strstr(Py_TYPE(value)->tp_name, "int"))) {
        /* Python numbers (float subclasses such as numpy.float64 included) and numpy
         * integers; other numpy scalars are a TypeError in torch */
        ct_scalar s;
        if (ctp_scalar(value, &s)) return -1;
        if (ct_ix_scalar_fits(s, t->dtype, false, "index_put_")) return (ctp_raise_ct_error(), -1);
        tmp = v = ct_empty(NULL, 0, t->dtype);
        if (!v) return (ctp_raise_ct_error(), -1);
        ct_store_scalar(ct_tensor_data(v), t->dtype, s);
    } else {
        PyErr_Format(PyExc_TypeError, "can't assign a %s to a ctorch.Tensor", Py_TYPE(value)->tp_name);
        return -1;
    }
    index_buf b;
    int rc = convert_index(index, &b);
    if (rc == 0) {
        rc = ct_tensor_index_put_(t, b.items, b.n, v, false);
        if (rc) ctp_raise_ct_error();
    }
    buf_free(&b);
    ct_tensor_release(tmp);
    return rc;
}

/* Iteration walks dim 0 (t[0], t[1], ... as views), as torch's __iter__ does. */
PyObject *ctp_tensor_sq_item(PyObject *self, Py_ssize_t i) {
    ct_index_item it = ct_index_int(i);
    return ctp_wrap(ct_tensor_index(ctp_t(self), &it, 1));
}

PyObject *ctp_tensor_iter(PyObject *self) {
    if (ctp_t(self)->ndim == 0) {
        PyErr_SetString(PyExc_TypeError, "iteration over a 0-d tensor");
        return NULL;
    }
    return PySeqIter_New(self);
}
