/* Python binding of the ONNX writer (ctorch._C._OnnxModel, used by ctorch.onnx.export) and
 * the op tracer switch ctorch._C._set_tracer (NOTE [Op tracer] in argparse.h). */
#include "../core/internal.h"
#include "argparse.h"
#include "ctorch/onnx.h"

typedef struct {
    PyObject_HEAD
    ct_onnx_model *m;
} PyOnnxModel;

/* _OnnxModel(graph_name, opset, ir_version=0) */
static int om_init(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"graph_name", "opset", "ir_version", NULL};
    const char *name;
    long long opset, ir = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sL|L", kwlist, &name, &opset, &ir)) return -1;
    PyOnnxModel *o = (PyOnnxModel *)self;
    ct_onnx_model_free(o->m);
    o->m = ct_onnx_model_new(name, opset, ir);
    if (!o->m) {
        ctp_raise_ct_error();
        return -1;
    }
    return 0;
}

static void om_dealloc(PyObject *self) {
    ct_onnx_model_free(((PyOnnxModel *)self)->m);
    Py_TYPE(self)->tp_free(self);
}

static ct_onnx_model *model(PyObject *self) {
    ct_onnx_model *m = ((PyOnnxModel *)self)->m;
    if (!m) PyErr_SetString(PyExc_RuntimeError, "_OnnxModel is not initialised");
    return m;
}

/* list/tuple of str -> array of borrowed UTF-8 pointers (PyMem); NULL on error */
static const char **str_array(PyObject *seq, Py_ssize_t *n) {
    PyObject *f = PySequence_Fast(seq, "expected a list of str");
    if (!f) return NULL;
    *n = PySequence_Fast_GET_SIZE(f);
    const char **out = PyMem_Calloc((size_t)(*n ? *n : 1), sizeof(char *));
    if (!out) {
        Py_DECREF(f);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < *n; i++) {
        /* the strings stay alive through the caller's list */
        out[i] = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(f, i));
        if (!out[i]) {
            PyMem_Free(out);
            Py_DECREF(f);
            return NULL;
        }
    }
    Py_DECREF(f);
    return out;
}

/* add_node(op_type, inputs, outputs, attrs: dict name -> int|float|str|Tensor|list of
 * int|list of float|list of str, name=None). Attribute types follow the Python value; a
 * list with a str is STRINGS, with a float FLOATS, otherwise INTS. */
static PyObject *om_add_node(PyObject *self, PyObject *args) {
    const char *op, *name = NULL;
    PyObject *ins, *outs, *attrs = NULL;
    if (!PyArg_ParseTuple(args, "sOO|Oz", &op, &ins, &outs, &attrs, &name)) return NULL;
    ct_onnx_model *m = model(self);
    if (!m) return NULL;
    Py_ssize_t ni = 0, no = 0, na = 0;
    const char **in = NULL, **out = NULL;
    ct_onnx_attr *at = NULL;
    PyObject *res = NULL, *keep = PyList_New(0); /* buffers backing INTS/FLOATS */
    if (!keep) return NULL;
    in = str_array(ins, &ni);
    if (!in) goto done;
    out = str_array(outs, &no);
    if (!out) goto done;
    if (attrs && attrs != Py_None) {
        if (!PyDict_Check(attrs)) {
            PyErr_SetString(PyExc_TypeError, "add_node: attrs must be a dict");
            goto done;
        }
        at = PyMem_Calloc((size_t)PyDict_Size(attrs) + 1, sizeof *at);
        if (!at) {
            PyErr_NoMemory();
            goto done;
        }
        PyObject *k, *v;
        Py_ssize_t pos = 0;
        while (PyDict_Next(attrs, &pos, &k, &v)) {
            ct_onnx_attr *a = &at[na++];
            a->name = PyUnicode_AsUTF8(k);
            if (!a->name) goto done;
            if (PyBool_Check(v) || PyLong_Check(v)) {
                a->type = CT_ONNX_ATTR_INT;
                a->i = PyLong_AsLongLong(v);
            } else if (PyFloat_Check(v)) {
                a->type = CT_ONNX_ATTR_FLOAT;
                a->f = PyFloat_AsDouble(v);
            } else if (PyUnicode_Check(v)) {
                a->type = CT_ONNX_ATTR_STRING;
                a->s = PyUnicode_AsUTF8(v);
            } else if (PyTensor_Check(v)) {
                a->type = CT_ONNX_ATTR_TENSOR;
                a->t = ctp_t(v);
            } else if (PyList_Check(v) || PyTuple_Check(v)) {
                Py_ssize_t n = PySequence_Size(v);
                int isf = 0, iss = 0;
                for (Py_ssize_t j = 0; j < n; j++) {
                    if (PyFloat_Check(PySequence_Fast_GET_ITEM(v, j))) isf = 1;
                    if (PyUnicode_Check(PySequence_Fast_GET_ITEM(v, j))) iss = 1;
                }
                if (iss) { /* STRINGS: pointers into the (alive) str objects */
                    PyObject *buf = PyBytes_FromStringAndSize(NULL, (n ? n : 1) * (Py_ssize_t)sizeof(char *));
                    if (!buf || PyList_Append(keep, buf)) {
                        Py_XDECREF(buf);
                        goto done;
                    }
                    Py_DECREF(buf);
                    const char **d = (const char **)PyBytes_AS_STRING(buf);
                    for (Py_ssize_t j = 0; j < n; j++) {
                        d[j] = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(v, j));
                        if (!d[j]) goto done;
                    }
                    a->type = CT_ONNX_ATTR_STRINGS;
                    a->strings = d;
                    a->n = (int)n;
                    continue;
                }
                PyObject *buf = PyBytes_FromStringAndSize(NULL, (n ? n : 1) * 8);
                if (!buf || PyList_Append(keep, buf)) {
                    Py_XDECREF(buf);
                    goto done;
                }
                Py_DECREF(buf);
                a->n = (int)n;
                if (isf) {
                    double *d = (double *)PyBytes_AS_STRING(buf);
                    for (Py_ssize_t j = 0; j < n; j++) d[j] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(v, j));
                    a->type = CT_ONNX_ATTR_FLOATS;
                    a->floats = d;
                } else {
                    int64_t *d = (int64_t *)PyBytes_AS_STRING(buf);
                    for (Py_ssize_t j = 0; j < n; j++) d[j] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(v, j));
                    a->type = CT_ONNX_ATTR_INTS;
                    a->ints = d;
                }
            } else {
                PyErr_Format(PyExc_TypeError, "add_node: attribute '%s' has unsupported type %s", a->name,
                             Py_TYPE(v)->tp_name);
                goto done;
            }
            if (PyErr_Occurred()) goto done;
        }
    }
    if (ct_onnx_add_node(m, op, name, in, (int)ni, out, (int)no, at, (int)na)) {
        ctp_raise_ct_error();
        goto done;
    }
    res = Py_NewRef(Py_None);
done:
    PyMem_Free(in);
    PyMem_Free(out);
    PyMem_Free(at);
    Py_DECREF(keep);
    return res;
}

static PyObject *om_add_initializer(PyObject *self, PyObject *args) {
    const char *name;
    PyObject *t;
    if (!PyArg_ParseTuple(args, "sO!", &name, ctp_Tensor_Type, &t)) return NULL;
    ct_onnx_model *m = model(self);
    if (!m) return NULL;
    if (ct_onnx_add_initializer(m, name, ctp_t(t))) return ctp_raise_ct_error();
    Py_RETURN_NONE;
}

/* add_value(is_output, name, dtype, dims: list of int (fixed) or str (symbolic)) */
static PyObject *om_add_value(PyObject *self, PyObject *args) {
    int is_out;
    const char *name;
    PyObject *dt, *dims;
    if (!PyArg_ParseTuple(args, "psOO", &is_out, &name, &dt, &dims)) return NULL;
    int dtype;
    if (ctp_dtype(dt, &dtype)) return NULL;
    ct_onnx_model *m = model(self);
    if (!m) return NULL;
    PyObject *f = PySequence_Fast(dims, "add_value: dims must be a list");
    if (!f) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(f);
    if (n > CT_MAX_DIM) {
        Py_DECREF(f);
        return PyErr_Format(PyExc_ValueError, "add_value: too many dims");
    }
    int64_t d[CT_MAX_DIM];
    const char *p[CT_MAX_DIM];
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PySequence_Fast_GET_ITEM(f, i);
        p[i] = NULL;
        d[i] = 0;
        if (PyUnicode_Check(o))
            p[i] = PyUnicode_AsUTF8(o);
        else
            d[i] = PyLong_AsLongLong(o);
        if (PyErr_Occurred()) {
            Py_DECREF(f);
            return NULL;
        }
    }
    int rc = ct_onnx_add_value(m, is_out, name, dtype, (int)n, d, p);
    Py_DECREF(f);
    if (rc) return ctp_raise_ct_error();
    Py_RETURN_NONE;
}

static PyObject *om_serialize(PyObject *self, PyObject *u) {
    (void)u;
    ct_onnx_model *m = model(self);
    if (!m) return NULL;
    size_t n;
    const uint8_t *p = ct_onnx_serialize(m, &n);
    if (!p) return ctp_raise_ct_error();
    return PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n);
}

static PyMethodDef om_methods[] = {
    {"add_node", om_add_node, METH_VARARGS, NULL},
    {"add_initializer", om_add_initializer, METH_VARARGS, NULL},
    {"add_value", om_add_value, METH_VARARGS, NULL},
    {"serialize", om_serialize, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyTypeObject PyOnnxModel_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ctorch._C._OnnxModel",
    .tp_basicsize = sizeof(PyOnnxModel),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = om_init,
    .tp_dealloc = om_dealloc,
    .tp_methods = om_methods,
};

/* _set_tracer(callable or None) -> the previous tracer (or None) */
static PyObject *py_set_tracer(PyObject *mod, PyObject *tr) {
    (void)mod;
    if (tr != Py_None && !PyCallable_Check(tr)) return PyErr_Format(PyExc_TypeError, "_set_tracer: not callable");
    PyObject *prev = ctp_tracer ? ctp_tracer : Py_NewRef(Py_None);
    ctp_tracer = tr == Py_None ? NULL : Py_NewRef(tr);
    return prev;
}

static PyMethodDef onnx_functions[] = {{"_set_tracer", py_set_tracer, METH_O, NULL}, {NULL, NULL, 0, NULL}};

int ctp_init_onnx(PyObject *m) {
    if (PyType_Ready(&PyOnnxModel_Type) < 0) return -1;
    if (PyModule_AddFunctions(m, onnx_functions) < 0) return -1;
    return PyModule_AddObjectRef(m, "_OnnxModel", (PyObject *)&PyOnnxModel_Type);
}
