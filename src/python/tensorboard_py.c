/* Python binding of the TensorBoard event writer: ctorch._C._EventFileWriter, used by
 * ctorch.utils.tensorboard.SummaryWriter. */
#include "../core/internal.h"
#include "argparse.h"
#include "ctorch/tensorboard.h"

typedef struct {
    PyObject_HEAD
    ct_tb_writer *w;
} PyTBWriter;

static int tbw_init(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"logdir", "filename_suffix", NULL};
    const char *logdir, *suffix = "";
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|s", kwlist, &logdir, &suffix)) return -1;
    PyTBWriter *o = (PyTBWriter *)self;
    ct_tb_writer_close(o->w);
    o->w = ct_tb_writer_open(logdir, suffix);
    if (!o->w) {
        ctp_raise_ct_error();
        return -1;
    }
    return 0;
}

static void tbw_dealloc(PyObject *self) {
    ct_tb_writer_close(((PyTBWriter *)self)->w);
    Py_TYPE(self)->tp_free(self);
}

static ct_tb_writer *writer(PyObject *self) {
    ct_tb_writer *w = ((PyTBWriter *)self)->w;
    if (!w) PyErr_SetString(PyExc_RuntimeError, "the event file writer is closed");
    return w;
}

static PyObject *tbw_add_scalar(PyObject *self, PyObject *args) {
    const char *tag;
    double value, walltime = -1;
    long long step = 0;
    if (!PyArg_ParseTuple(args, "sd|Ld", &tag, &value, &step, &walltime)) return NULL;
    ct_tb_writer *w = writer(self);
    if (!w || ct_tb_add_scalar(w, tag, value, step, walltime)) return w ? ctp_raise_ct_error() : NULL;
    Py_RETURN_NONE;
}

static PyObject *tbw_add_histogram(PyObject *self, PyObject *args) {
    const char *tag;
    PyObject *t;
    int bins = 30;
    long long step = 0;
    double walltime = -1;
    if (!PyArg_ParseTuple(args, "sO|iLd", &tag, &t, &bins, &step, &walltime)) return NULL;
    if (!PyTensor_Check(t)) return PyErr_Format(PyExc_TypeError, "add_histogram expects a Tensor");
    ct_tb_writer *w = writer(self);
    if (!w || ct_tb_add_histogram(w, tag, ctp_t(t), bins, step, walltime)) return w ? ctp_raise_ct_error() : NULL;
    Py_RETURN_NONE;
}

/* image: a uint8 tensor HWC (made contiguous here) */
static PyObject *tbw_add_image(PyObject *self, PyObject *args) {
    const char *tag;
    PyObject *t;
    long long step = 0;
    double walltime = -1;
    if (!PyArg_ParseTuple(args, "sO|Ld", &tag, &t, &step, &walltime)) return NULL;
    if (!PyTensor_Check(t) || ctp_t(t)->dtype != CT_UINT8 || ctp_t(t)->ndim != 3)
        return PyErr_Format(PyExc_TypeError, "add_image expects a uint8 HWC tensor");
    ct_tensor *c = ct_contig_as(ctp_t(t), CT_UINT8);
    if (!c) return ctp_raise_ct_error();
    ct_tb_writer *w = writer(self);
    int rc = w ? ct_tb_add_image(w, tag, ct_tensor_data(c), (int)c->sizes[0], (int)c->sizes[1], (int)c->sizes[2], step,
                                 walltime)
               : -1;
    ct_tensor_release(c);
    if (rc) return w ? ctp_raise_ct_error() : NULL;
    Py_RETURN_NONE;
}

static PyObject *tbw_add_text(PyObject *self, PyObject *args) {
    const char *tag, *text;
    long long step = 0;
    double walltime = -1;
    if (!PyArg_ParseTuple(args, "ss|Ld", &tag, &text, &step, &walltime)) return NULL;
    ct_tb_writer *w = writer(self);
    if (!w || ct_tb_add_text(w, tag, text, step, walltime)) return w ? ctp_raise_ct_error() : NULL;
    Py_RETURN_NONE;
}

/* add_hparams(list of (name, value), list of metric tags, walltime) */
static PyObject *tbw_add_hparams(PyObject *self, PyObject *args) {
    PyObject *hps, *metrics;
    double walltime = -1;
    if (!PyArg_ParseTuple(args, "O!O!|d", &PyList_Type, &hps, &PyList_Type, &metrics, &walltime)) return NULL;
    Py_ssize_t nh = PyList_GET_SIZE(hps), nm = PyList_GET_SIZE(metrics);
    ct_tb_hparam *h = PyMem_Calloc((size_t)(nh ? nh : 1), sizeof(ct_tb_hparam));
    const char **tags = PyMem_Calloc((size_t)(nm ? nm : 1), sizeof(char *));
    PyObject *res = NULL;
    if (!h || !tags) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < nh; i++) {
        PyObject *pair = PyList_GET_ITEM(hps, i), *name, *val;
        if (!PyArg_ParseTuple(pair, "OO", &name, &val)) goto done;
        h[i].name = PyUnicode_AsUTF8(name);
        if (!h[i].name) goto done;
        if (PyBool_Check(val)) {
            h[i].kind = 2;
            h[i].number = val == Py_True;
        } else if (PyUnicode_Check(val)) {
            h[i].kind = 1;
            h[i].string = PyUnicode_AsUTF8(val);
        } else {
            h[i].kind = 0;
            h[i].number = PyFloat_AsDouble(val);
            if (PyErr_Occurred()) goto done;
        }
    }
    for (Py_ssize_t i = 0; i < nm; i++) {
        tags[i] = PyUnicode_AsUTF8(PyList_GET_ITEM(metrics, i));
        if (!tags[i]) goto done;
    }
    ct_tb_writer *w = writer(self);
    if (!w) goto done;
    if (ct_tb_add_hparams(w, h, (int)nh, tags, (int)nm, walltime)) {
        ctp_raise_ct_error();
        goto done;
    }
    res = Py_NewRef(Py_None);
done:
    PyMem_Free(h);
    PyMem_Free(tags);
    return res;
}

static PyObject *tbw_flush(PyObject *self, PyObject *u) {
    (void)u;
    ct_tb_writer *w = ((PyTBWriter *)self)->w;
    if (w && ct_tb_flush(w)) return ctp_raise_ct_error();
    Py_RETURN_NONE;
}

static PyObject *tbw_close(PyObject *self, PyObject *u) {
    (void)u;
    ct_tb_writer_close(((PyTBWriter *)self)->w);
    ((PyTBWriter *)self)->w = NULL;
    Py_RETURN_NONE;
}

static PyObject *tbw_path(PyObject *self, void *c) {
    (void)c;
    ct_tb_writer *w = ((PyTBWriter *)self)->w;
    if (!w) Py_RETURN_NONE;
    return PyUnicode_FromString(ct_tb_writer_path(w));
}

static PyMethodDef tbw_methods[] = {
    {"add_scalar", tbw_add_scalar, METH_VARARGS, NULL},
    {"add_histogram", tbw_add_histogram, METH_VARARGS, NULL},
    {"add_image", tbw_add_image, METH_VARARGS, NULL},
    {"add_text", tbw_add_text, METH_VARARGS, NULL},
    {"add_hparams", tbw_add_hparams, METH_VARARGS, NULL},
    {"flush", tbw_flush, METH_NOARGS, NULL},
    {"close", tbw_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef tbw_getset[] = {{"path", tbw_path, NULL, NULL, NULL}, {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject PyTBWriter_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ctorch._C._EventFileWriter",
    .tp_basicsize = sizeof(PyTBWriter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = tbw_init,
    .tp_dealloc = tbw_dealloc,
    .tp_methods = tbw_methods,
    .tp_getset = tbw_getset,
};

int ctp_init_tensorboard(PyObject *m) {
    if (PyType_Ready(&PyTBWriter_Type) < 0) return -1;
    return PyModule_AddObjectRef(m, "_EventFileWriter", (PyObject *)&PyTBWriter_Type);
}
