/* Python side of autograd: grad_fn node objects, Tensor.backward / hooks / detach, and the
 * module functions behind ctorch.autograd (backward, grad, grad mode, anomaly mode). */
#include "../autograd/autograd_internal.h"
#include "argparse.h"

/* ------------------------------------------------------------------ Node objects */

typedef struct {
    PyObject_HEAD
    ct_node *node;
    PyObject *dict;
} PyNode;

static PyTypeObject PyNode_Type;

PyObject *ctp_wrap_node(ct_node *n) {
    if (!n) Py_RETURN_NONE;
    if (n->pyobj) return Py_NewRef((PyObject *)n->pyobj);
    PyNode *o = PyObject_GC_New(PyNode, &PyNode_Type);
    if (!o) return NULL;
    ct_node_retain(n);
    o->node = n;
    o->dict = NULL;
    n->pyobj = o;
    PyObject_GC_Track(o);
    return (PyObject *)o;
}

static void node_dealloc(PyObject *self) {
    PyNode *o = (PyNode *)self;
    PyObject_GC_UnTrack(self);
    Py_CLEAR(o->dict);
    if (o->node->pyobj == self) o->node->pyobj = NULL;
    ct_node_release(o->node);
    PyObject_GC_Del(self);
}

static int node_traverse(PyObject *self, visitproc visit, void *arg) {
    Py_VISIT(((PyNode *)self)->dict);
    return 0;
}

static PyObject *node_repr(PyObject *self) {
    return PyUnicode_FromFormat("<%s object at %p>", ((PyNode *)self)->node->name, self);
}

static PyObject *node_name(PyObject *self, PyObject *unused) {
    (void)unused;
    return PyUnicode_FromString(((PyNode *)self)->node->name);
}

static PyObject *node_next_functions(PyObject *self, void *c) {
    (void)c;
    ct_node *n = ((PyNode *)self)->node;
    PyObject *t = PyTuple_New(n->n_inputs);
    for (int i = 0; t && i < n->n_inputs; i++) {
        PyObject *fn = ctp_wrap_node(n->next[i].fn);
        PyObject *pair = fn ? Py_BuildValue("(Ni)", fn, n->next[i].input_nr) : NULL;
        if (!pair) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, pair);
    }
    return t;
}

static PyObject *node_variable(PyObject *self, void *c) {
    (void)c;
    ct_node *n = ((PyNode *)self)->node;
    if (!n->leaf) return PyErr_Format(PyExc_AttributeError, "'%s' object has no attribute 'variable'", n->name);
    ct_tensor_retain(n->leaf);
    return ctp_wrap(n->leaf);
}

static PyObject *node_metadata(PyObject *self, void *c) {
    (void)c;
    PyNode *o = (PyNode *)self;
    if (!o->dict) o->dict = PyDict_New();
    return Py_XNewRef(o->dict);
}

static PyMethodDef node_methods[] = {{"name", node_name, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static PyGetSetDef node_getset[] = {{"next_functions", node_next_functions, NULL, NULL, NULL},
                                    {"variable", node_variable, NULL, NULL, NULL},
                                    {"metadata", node_metadata, NULL, NULL, NULL},
                                    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject PyNode_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ctorch._C.Node",
    .tp_basicsize = sizeof(PyNode),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = node_dealloc,
    .tp_traverse = node_traverse,
    .tp_repr = node_repr,
    .tp_methods = node_methods,
    .tp_getset = node_getset,
};

/* ------------------------------------------------------------------ hooks */

static ct_tensor *py_hook(void *ctx, ct_tensor *grad, int *err) {
    PyObject *fn = ctx;
    ct_tensor_retain(grad);
    PyObject *g = ctp_wrap(grad);
    if (!g) {
        *err = 1;
        return NULL;
    }
    PyObject *r = PyObject_CallOneArg(fn, g);
    Py_DECREF(g);
    if (!r) {
        *err = 1;
        return NULL;
    }
    if (r == Py_None) {
        Py_DECREF(r);
        return NULL;
    }
    if (!PyTensor_Check(r)) {
        PyErr_Format(PyExc_TypeError, "hook returned an object of type %s, expected a Tensor or None",
                     Py_TYPE(r)->tp_name);
        Py_DECREF(r);
        *err = 1;
        return NULL;
    }
    ct_tensor *t = ctp_t(r);
    ct_tensor_retain(t);
    Py_DECREF(r);
    return t;
}

static void py_hook_free(void *ctx) {
    PyGILState_STATE st = PyGILState_Ensure();
    Py_DECREF((PyObject *)ctx);
    PyGILState_Release(st);
}

static PyObject *register_hook_impl(PyObject *self, PyObject *fn, int post) {
    if (!PyCallable_Check(fn)) return PyErr_Format(PyExc_TypeError, "hook must be callable");
    Py_INCREF(fn);
    int64_t id = post ? ct_tensor_register_post_accumulate_hook(ctp_t(self), py_hook, fn, py_hook_free)
                      : ct_tensor_register_hook(ctp_t(self), py_hook, fn, py_hook_free);
    if (id < 0) {
        Py_DECREF(fn);
        return ctp_raise_ct_error();
    }
    return PyLong_FromLongLong(id);
}

static PyObject *t_register_hook_id(PyObject *self, PyObject *fn) { return register_hook_impl(self, fn, 0); }
static PyObject *t_register_post_hook_id(PyObject *self, PyObject *fn) { return register_hook_impl(self, fn, 1); }
static PyObject *t_remove_hook(PyObject *self, PyObject *id) {
    long long v = PyLong_AsLongLong(id);
    if (v == -1 && PyErr_Occurred()) return NULL;
    ct_tensor_remove_hook(ctp_t(self), v);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ tensor methods */

/* Collect a tensor or a sequence of tensors (None allowed when allow_none) into a C array
 * of borrowed pointers. Returns count or -1. */
static Py_ssize_t tensor_seq(PyObject *o, ct_tensor ***out, const char *what, int allow_none) {
    *out = NULL;
    if (PyTensor_Check(o)) {
        *out = PyMem_Malloc(sizeof(ct_tensor *));
        if (!*out) return (PyErr_NoMemory(), -1);
        (*out)[0] = ctp_t(o);
        return 1;
    }
    PyObject *f = PySequence_Fast(o, what);
    if (!f) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(f);
    *out = PyMem_Malloc(sizeof(ct_tensor *) * (size_t)(n ? n : 1));
    if (!*out) {
        Py_DECREF(f);
        return (PyErr_NoMemory(), -1);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = PySequence_Fast_GET_ITEM(f, i);
        if (e == Py_None && allow_none) {
            (*out)[i] = NULL;
        } else if (PyTensor_Check(e)) {
            (*out)[i] = ctp_t(e);
        } else {
            PyErr_Format(PyExc_TypeError, "%s: expected Tensor, got %s", what, Py_TYPE(e)->tp_name);
            Py_DECREF(f);
            PyMem_Free(*out);
            *out = NULL;
            return -1;
        }
    }
    Py_DECREF(f);
    return n;
}

static PyObject *m_backward(PyObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"gradient", "retain_graph", "create_graph", "inputs", NULL};
    PyObject *gradient = Py_None, *retain = Py_None, *inputs = Py_None;
    int create = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOpO", kwlist, &gradient, &retain, &create, &inputs)) return NULL;
    if (gradient != Py_None && !PyTensor_Check(gradient))
        return PyErr_Format(PyExc_TypeError, "gradient must be a Tensor or None");
    int retain_graph = retain == Py_None ? create : PyObject_IsTrue(retain);
    ct_tensor *root = ctp_t(self);
    ct_tensor *g = gradient == Py_None ? NULL : ctp_t(gradient);
    ct_tensor **ins = NULL;
    Py_ssize_t nin = 0;
    if (inputs != Py_None) {
        nin = tensor_seq(inputs, &ins, "inputs", 0);
        if (nin < 0) return NULL;
        if (nin == 0) {
            PyMem_Free(ins);
            return PyErr_Format(PyExc_RuntimeError, "'inputs' argument to backward() cannot be empty.");
        }
    }
    int rc = ct_autograd_backward(1, &root, &g, retain_graph, create, (int)nin, ins);
    PyMem_Free(ins);
    if (rc) return ctp_raise_ct_error();
    Py_RETURN_NONE;
}

static PyObject *m_retain_grad(PyObject *self, PyObject *unused) {
    (void)unused;
    if (ct_retain_grad(ctp_t(self))) return ctp_raise_ct_error();
    Py_RETURN_NONE;
}

static PyObject *m_detach(PyObject *self, PyObject *unused) {
    (void)unused;
    PyObject *res = ctp_wrap(ct_detach(ctp_t(self)));
    if (ctp_tracer && res) return ctp_trace_op("detach", res, 1, "input", self);
    return res;
}

static PyObject *m_detach_(PyObject *self, PyObject *unused) {
    (void)unused;
    if (ct_detach_(ctp_t(self))) return ctp_raise_ct_error();
    return Py_NewRef(self);
}

PyMethodDef ctp_tensor_methods_autograd[] = {
    {"backward", (PyCFunction)(void (*)(void))m_backward, METH_VARARGS | METH_KEYWORDS, NULL},
    {"retain_grad", m_retain_grad, METH_NOARGS, NULL},
    {"detach", m_detach, METH_NOARGS, NULL},
    {"detach_", m_detach_, METH_NOARGS, NULL},
    {"_register_hook", t_register_hook_id, METH_O, NULL},
    {"_register_post_accumulate_grad_hook", t_register_post_hook_id, METH_O, NULL},
    {"_remove_hook", t_remove_hook, METH_O, NULL},
    {NULL, NULL, 0, NULL}};

static PyObject *get_grad_fn(PyObject *self, void *c) {
    (void)c;
    return ctp_wrap_node(ct_tensor_grad_fn(ctp_t(self)));
}
static PyObject *get_is_leaf(PyObject *self, void *c) {
    (void)c;
    return PyBool_FromLong(ct_tensor_is_leaf(ctp_t(self)));
}
static PyObject *get_retains_grad(PyObject *self, void *c) {
    (void)c;
    ct_tensor *t = ctp_t(self);
    return PyBool_FromLong(t->autograd && t->autograd->retains_grad);
}
static PyObject *get_version(PyObject *self, void *c) {
    (void)c;
    return PyLong_FromLongLong(ctp_t(self)->storage->version);
}

PyGetSetDef ctp_tensor_getset_autograd[] = {
    {"grad_fn", get_grad_fn, NULL, NULL, NULL},
    {"is_leaf", get_is_leaf, NULL, NULL, NULL},
    {"retains_grad", get_retains_grad, NULL, NULL, NULL},
    {"_version", get_version, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}};

/* ------------------------------------------------------------------ custom Functions */

/* NOTE [ Python Function nodes ]
 * A node recorded by ctorch.autograd.Function.apply holds the ctx object (a Python
 * FunctionCtx) in its payload. Its backward calls ctx._do_backward(grads) under the GIL
 * (backward always runs on the thread that called it, which holds the GIL). Outputs saved
 * by save_for_backward are stored detached by the Python layer, so there is no
 * node -> ctx -> output -> node cycle invisible to Python's GC. */
typedef struct {
    PyObject *ctx;
    char name[96];
    int n_out;
    ct_input_meta out_meta[];
} py_fn_payload;

static void py_fn_destroy(ct_node *n) {
    py_fn_payload *p = n->payload;
    if (!p) return;
    PyGILState_STATE st = PyGILState_Ensure();
    Py_XDECREF(p->ctx);
    PyGILState_Release(st);
    free(p);
    n->payload = NULL;
}

static int py_fn_backward(ct_node *n, ct_tensor *const *g, ct_tensor **gi) {
    py_fn_payload *p = n->payload;
    PyObject *grads = PyTuple_New(p->n_out);
    if (!grads) return -1;
    PyObject *mat = PyObject_GetAttrString(p->ctx, "materialize_grads");
    int materialize = mat ? PyObject_IsTrue(mat) : 1;
    Py_XDECREF(mat);
    PyErr_Clear();
    for (int i = 0; i < p->n_out; i++) {
        PyObject *v;
        if (g[i]) {
            ct_tensor_retain(g[i]);
            v = ctp_wrap(g[i]);
        } else if (materialize && p->out_meta[i].ndim >= 0) {
            v = ctp_wrap(ct_zeros((ct_intlist){p->out_meta[i].sizes, p->out_meta[i].ndim}, p->out_meta[i].dtype, -1));
        } else {
            v = Py_NewRef(Py_None);
        }
        if (!v) {
            Py_DECREF(grads);
            return -1;
        }
        PyTuple_SET_ITEM(grads, i, v);
    }
    PyObject *meth = PyUnicode_FromString("_do_backward");
    PyObject *res = meth ? PyObject_CallMethodOneArg(p->ctx, meth, grads) : NULL;
    Py_XDECREF(meth);
    Py_DECREF(grads);
    if (!res) return -1;
    if (!PyTuple_Check(res)) {
        Py_DECREF(res);
        PyErr_SetString(PyExc_TypeError, "backward must return a tuple of gradients");
        return -1;
    }
    Py_ssize_t nr = PyTuple_GET_SIZE(res);
    for (int i = 0; i < n->n_inputs; i++) {
        PyObject *v = i < nr ? PyTuple_GET_ITEM(res, i) : Py_None;
        if (v == Py_None || !ct_node_needs_grad(n, i)) continue;
        if (!PyTensor_Check(v)) {
            PyErr_Format(PyExc_TypeError, "%s returned a gradient of type %s at index %d, expected a Tensor or None",
                         n->name, Py_TYPE(v)->tp_name, i);
            Py_DECREF(res);
            return -1;
        }
        ct_tensor *t = ctp_t(v);
        const ct_input_meta *im = &n->in_meta[i];
        bool same = t->ndim == im->ndim;
        for (int d = 0; same && d < im->ndim; d++) same = t->sizes[d] == im->sizes[d];
        if (!same) {
            /* torch accepts a gradient that sums to the input's shape */
            ct_tensor *r = ct_sum_to_meta(t, im);
            if (!r || r->ndim != im->ndim) {
                ct_tensor_release(r);
                char b1[128], b2[128];
                PyErr_Format(PyExc_RuntimeError, "Function %s returned an invalid gradient at index %d - got %s but "
                             "expected shape compatible with %s", n->name, i,
                             ct_shape_str(t->sizes, t->ndim, b1, sizeof b1),
                             ct_shape_str(im->sizes, im->ndim, b2, sizeof b2));
                Py_DECREF(res);
                return -1;
            }
            gi[i] = r;
        } else {
            ct_tensor_retain(t);
            gi[i] = t;
        }
    }
    Py_DECREF(res);
    return 0;
}

/* _function_record(ctx, name, inputs, outputs, differentiable): inputs is a tuple with a
 * Tensor or None per forward argument; outputs a tuple (Tensor or anything); differentiable
 * a tuple of bools per output. */
static PyObject *f_function_record(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *ctx, *inputs, *outputs, *diff;
    const char *name;
    if (!PyArg_ParseTuple(args, "OsO!O!O!", &ctx, &name, &PyTuple_Type, &inputs, &PyTuple_Type, &outputs,
                          &PyTuple_Type, &diff))
        return NULL;
    Py_ssize_t nin = PyTuple_GET_SIZE(inputs), nout = PyTuple_GET_SIZE(outputs);
    ct_tensor **ins = PyMem_Calloc((size_t)(nin ? nin : 1), sizeof(ct_tensor *));
    if (!ins) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < nin; i++) {
        PyObject *v = PyTuple_GET_ITEM(inputs, i);
        ins[i] = PyTensor_Check(v) ? ctp_t(v) : NULL;
    }
    py_fn_payload *p = calloc(1, sizeof(py_fn_payload) + sizeof(ct_input_meta) * (size_t)(nout ? nout : 1));
    if (!p) {
        PyMem_Free(ins);
        return PyErr_NoMemory();
    }
    snprintf(p->name, sizeof p->name, "%s", name);
    p->n_out = (int)nout;
    ct_node *n = ct_node_new(p->name, py_fn_backward, (int)nin, ins, (int)nout);
    PyMem_Free(ins);
    if (!n) {
        free(p);
        return ctp_raise_ct_error();
    }
    Py_INCREF(ctx);
    p->ctx = ctx;
    n->payload = p;
    n->destroy = py_fn_destroy;
    for (Py_ssize_t i = 0; i < nout; i++) {
        PyObject *o = PyTuple_GET_ITEM(outputs, i);
        p->out_meta[i].ndim = -1;
        if (!PyTensor_Check(o)) continue;
        ct_tensor *t = ctp_t(o);
        p->out_meta[i].ndim = t->ndim;
        p->out_meta[i].dtype = t->dtype;
        for (int d = 0; d < t->ndim; d++) p->out_meta[i].sizes[d] = t->sizes[d];
        if (PyObject_IsTrue(PyTuple_GET_ITEM(diff, i)) && ct_dtype_is_floating(t->dtype)) {
            if (ct_node_set_output(n, t, (int)i)) {
                ct_node_release(n);
                return ctp_raise_ct_error();
            }
        }
    }
    ct_node_release(n);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ module functions */

static PyObject *f_backward(PyObject *m, PyObject *args, PyObject *kw) {
    (void)m;
    static char *kwlist[] = {"tensors", "grad_tensors", "retain_graph", "create_graph", "inputs", NULL};
    PyObject *tensors, *grads = Py_None, *retain = Py_None, *inputs = Py_None;
    int create = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|OOpO", kwlist, &tensors, &grads, &retain, &create, &inputs))
        return NULL;
    ct_tensor **roots = NULL, **gs = NULL, **ins = NULL;
    Py_ssize_t nr = tensor_seq(tensors, &roots, "tensors", 0), ng = 0, nin = 0;
    if (nr < 0) return NULL;
    PyObject *res = NULL;
    if (grads != Py_None) {
        ng = tensor_seq(grads, &gs, "grad_tensors", 1);
        if (ng < 0) goto done;
        if (ng != nr) {
            PyErr_Format(PyExc_RuntimeError, "got %zd tensors and %zd gradients", nr, ng);
            goto done;
        }
    }
    if (inputs != Py_None) {
        nin = tensor_seq(inputs, &ins, "inputs", 0);
        if (nin < 0) goto done;
    }
    int retain_graph = retain == Py_None ? create : PyObject_IsTrue(retain);
    if (ct_autograd_backward((int)nr, roots, gs, retain_graph, create, (int)nin, ins)) {
        ctp_raise_ct_error();
        goto done;
    }
    res = Py_NewRef(Py_None);
done:
    PyMem_Free(roots);
    PyMem_Free(gs);
    PyMem_Free(ins);
    return res;
}

static PyObject *f_grad(PyObject *m, PyObject *args, PyObject *kw) {
    (void)m;
    static char *kwlist[] = {"outputs", "inputs", "grad_outputs", "retain_graph", "create_graph", "allow_unused",
                             "materialize_grads", NULL};
    PyObject *outputs, *inputs, *grads = Py_None, *retain = Py_None, *allow = Py_None;
    int create = 0, materialize = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OOpOp", kwlist, &outputs, &inputs, &grads, &retain, &create, &allow,
                                     &materialize))
        return NULL;
    ct_tensor **outs = NULL, **gs = NULL, **ins = NULL, **results = NULL;
    Py_ssize_t no = tensor_seq(outputs, &outs, "outputs", 0), ng = 0, nin = 0;
    PyObject *res = NULL;
    if (no < 0) return NULL;
    nin = tensor_seq(inputs, &ins, "inputs", 0);
    if (nin < 0) goto done;
    if (grads != Py_None) {
        ng = tensor_seq(grads, &gs, "grad_outputs", 1);
        if (ng < 0) goto done;
        if (ng != no) {
            PyErr_Format(PyExc_RuntimeError, "grad requires one grad_output per output: got %zd outputs and %zd "
                         "grad_outputs", no, ng);
            goto done;
        }
    }
    int retain_graph = retain == Py_None ? create : PyObject_IsTrue(retain);
    int allow_unused = allow == Py_None ? materialize : PyObject_IsTrue(allow);
    if (materialize && allow != Py_None && !allow_unused) {
        PyErr_SetString(PyExc_ValueError, "Expected allow_unused to be True or not passed when materialize_grads=True, "
                                          "but got: allow_unused=False.");
        goto done;
    }
    results = PyMem_Calloc((size_t)(nin ? nin : 1), sizeof(ct_tensor *));
    if (!results) {
        PyErr_NoMemory();
        goto done;
    }
    if (ct_autograd_grad((int)no, outs, gs, (int)nin, ins, retain_graph, create, allow_unused, results)) {
        ctp_raise_ct_error();
        goto done;
    }
    res = PyTuple_New(nin);
    for (Py_ssize_t i = 0; res && i < nin; i++) {
        PyObject *v;
        if (results[i]) {
            v = ctp_wrap(results[i]);
            results[i] = NULL;
        } else if (materialize) {
            v = ctp_wrap(ct_zeros((ct_intlist){ins[i]->sizes, ins[i]->ndim}, ins[i]->dtype, -1));
        } else {
            v = Py_NewRef(Py_None);
        }
        if (!v) {
            Py_CLEAR(res);
            break;
        }
        PyTuple_SET_ITEM(res, i, v);
    }
done:
    if (results)
        for (Py_ssize_t i = 0; i < nin; i++) ct_tensor_release(results[i]);
    PyMem_Free(results);
    PyMem_Free(outs);
    PyMem_Free(gs);
    PyMem_Free(ins);
    return res;
}

static PyObject *f_is_grad_enabled(PyObject *m, PyObject *u) {
    (void)m;
    (void)u;
    return PyBool_FromLong(ct_grad_enabled());
}
static PyObject *f_set_grad_enabled(PyObject *m, PyObject *v) {
    (void)m;
    int b = PyObject_IsTrue(v);
    if (b < 0) return NULL;
    return PyBool_FromLong(ct_set_grad_enabled(b));
}
static PyObject *f_is_inference(PyObject *m, PyObject *u) {
    (void)m;
    (void)u;
    return PyBool_FromLong(ct_inference_mode_enabled());
}
static PyObject *f_set_inference(PyObject *m, PyObject *v) {
    (void)m;
    int b = PyObject_IsTrue(v);
    if (b < 0) return NULL;
    return PyBool_FromLong(ct_set_inference_mode(b));
}
static PyObject *f_set_anomaly(PyObject *m, PyObject *v) {
    (void)m;
    int b = PyObject_IsTrue(v);
    if (b < 0) return NULL;
    ct_set_detect_anomaly(b);
    Py_RETURN_NONE;
}
static PyObject *f_is_anomaly(PyObject *m, PyObject *u) {
    (void)m;
    (void)u;
    return PyBool_FromLong(ct_is_anomaly_enabled());
}

PyMethodDef ctp_autograd_functions[] = {
    {"_autograd_backward", (PyCFunction)(void (*)(void))f_backward, METH_VARARGS | METH_KEYWORDS, NULL},
    {"_autograd_grad", (PyCFunction)(void (*)(void))f_grad, METH_VARARGS | METH_KEYWORDS, NULL},
    {"_function_record", f_function_record, METH_VARARGS, NULL},
    {"is_grad_enabled", f_is_grad_enabled, METH_NOARGS, NULL},
    {"_set_grad_enabled", f_set_grad_enabled, METH_O, NULL},
    {"is_inference_mode_enabled", f_is_inference, METH_NOARGS, NULL},
    {"_set_inference_mode", f_set_inference, METH_O, NULL},
    {"set_anomaly_enabled", f_set_anomaly, METH_O, NULL},
    {"is_anomaly_enabled", f_is_anomaly, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

int ctp_init_autograd(PyObject *m) {
    if (PyType_Ready(&PyNode_Type) < 0) return -1;
    if (PyModule_AddObjectRef(m, "Node", (PyObject *)&PyNode_Type) < 0) return -1;
    return PyModule_AddFunctions(m, ctp_autograd_functions);
}
