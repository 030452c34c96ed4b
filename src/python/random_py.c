/* ctorch.Generator: the Python face of ct_generator (include/ctorch/random.h), plus the
 * module-level default generator. Registers ctp_generator_of so that generated bindings
 * accept `generator=` arguments. */
#include "argparse.h"

typedef struct {
    PyObject_HEAD
    ct_generator *g;
    int owned; /* 0 for the default generator */
} PyGenerator;

static PyTypeObject PyGenerator_Type;

static ct_generator *generator_of(PyObject *o) {
    if (!PyObject_TypeCheck(o, &PyGenerator_Type)) return NULL;
    return ((PyGenerator *)o)->g;
}

/* Python int -> 64-bit seed: unsigned first, then negative values as two's complement. */
static int unpack_seed(PyObject *o, uint64_t *seed) {
    if (!PyLong_Check(o)) {
        PyErr_Format(PyExc_TypeError, "manual_seed expected a long, but got %s", Py_TYPE(o)->tp_name);
        return -1;
    }
    unsigned long long u = PyLong_AsUnsignedLongLong(o);
    if (!(u == (unsigned long long)-1 && PyErr_Occurred())) {
        *seed = u;
        return 0;
    }
    PyErr_Clear();
    long long s = PyLong_AsLongLong(o);
    if (s == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "Overflow when unpacking long long");
        return -1;
    }
    *seed = (uint64_t)s;
    return 0;
}

static PyObject *gen_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"device", NULL};
    PyObject *device = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O:Generator", kwlist, &device)) return NULL;
    if (device && device != Py_None) {
        int d;
        if (ctp_device_opt(device, &d)) return NULL;
    }
    PyGenerator *self = (PyGenerator *)type->tp_alloc(type, 0);
    if (!self) return NULL;
    self->g = ct_generator_new();
    if (!self->g) {
        Py_DECREF(self);
        return ctp_raise_ct_error();
    }
    self->owned = 1;
    return (PyObject *)self;
}

static void gen_dealloc(PyObject *o) {
    PyGenerator *self = (PyGenerator *)o;
    if (self->owned) ct_generator_free(self->g);
    Py_TYPE(o)->tp_free(o);
}

static PyObject *gen_manual_seed(PyObject *o, PyObject *seed) {
    uint64_t s;
    if (unpack_seed(seed, &s)) return NULL;
    ct_generator_manual_seed(((PyGenerator *)o)->g, s);
    return Py_NewRef(o);
}

static PyObject *gen_seed(PyObject *o, PyObject *unused) {
    (void)unused;
    return PyLong_FromUnsignedLongLong(ct_generator_seed(((PyGenerator *)o)->g));
}

static PyObject *gen_initial_seed(PyObject *o, PyObject *unused) {
    (void)unused;
    return PyLong_FromUnsignedLongLong(ct_generator_initial_seed(((PyGenerator *)o)->g));
}

static PyObject *gen_get_state(PyObject *o, PyObject *unused) {
    (void)unused;
    return ctp_wrap(ct_generator_get_state(((PyGenerator *)o)->g));
}

static PyObject *gen_set_state(PyObject *o, PyObject *state) {
    if (!PyTensor_Check(state)) {
        PyErr_Format(PyExc_TypeError, "expected a torch.ByteTensor, but got %s", Py_TYPE(state)->tp_name);
        return NULL;
    }
    if (ct_generator_set_state(((PyGenerator *)o)->g, ctp_t(state))) return ctp_raise_ct_error();
    return Py_NewRef(o);
}

static PyObject *gen_clone_state(PyObject *o, PyObject *unused) {
    (void)unused;
    PyGenerator *c = (PyGenerator *)gen_new(&PyGenerator_Type, PyTuple_New(0), NULL);
    if (!c) return NULL;
    ct_generator_copy_state(c->g, ((PyGenerator *)o)->g);
    return (PyObject *)c;
}

static PyObject *gen_device(PyObject *o, void *c) {
    (void)o;
    (void)c;
    PyObject *mod = PyImport_ImportModule("ctorch");
    if (!mod) return NULL;
    PyObject *r = PyObject_CallMethod(mod, "device", "s", "cpu");
    Py_DECREF(mod);
    return r;
}

/* Pickling: (Generator, (), state bytes); the state as bytes keeps it independent of
 * tensor pickling. */
static PyObject *gen_reduce(PyObject *o, PyObject *unused) {
    (void)unused;
    ct_tensor *st = ct_generator_get_state(((PyGenerator *)o)->g);
    if (!st) return ctp_raise_ct_error();
    PyObject *bytes = PyBytes_FromStringAndSize(ct_tensor_data(st), (Py_ssize_t)st->numel);
    ct_tensor_release(st);
    if (!bytes) return NULL;
    return Py_BuildValue("(O()N)", (PyObject *)Py_TYPE(o), bytes);
}

static PyObject *gen_setstate(PyObject *o, PyObject *state) {
    if (PyBytes_Check(state)) {
        int64_t n = PyBytes_GET_SIZE(state);
        ct_tensor *t = ct_tensor_from_data(PyBytes_AS_STRING(state), &n, 1, CT_UINT8);
        if (!t) return ctp_raise_ct_error();
        int rc = ct_generator_set_state(((PyGenerator *)o)->g, t);
        ct_tensor_release(t);
        if (rc) return ctp_raise_ct_error();
        Py_RETURN_NONE;
    }
    PyObject *r = gen_set_state(o, state);
    if (!r) return NULL;
    Py_DECREF(r);
    Py_RETURN_NONE;
}

static PyMethodDef gen_methods[] = {
    {"manual_seed", gen_manual_seed, METH_O, "Seed the generator; returns it."},
    {"seed", gen_seed, METH_NOARGS, "Seed from the OS's entropy; returns the seed."},
    {"initial_seed", gen_initial_seed, METH_NOARGS, "The seed last set."},
    {"get_state", gen_get_state, METH_NOARGS, "The state as a uint8 tensor."},
    {"set_state", gen_set_state, METH_O, "Restore a state from get_state()."},
    {"clone_state", gen_clone_state, METH_NOARGS, "A new Generator with a copy of the state."},
    {"__reduce__", gen_reduce, METH_NOARGS, NULL},
    {"__setstate__", gen_setstate, METH_O, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef gen_getset[] = {{"device", gen_device, NULL, NULL, NULL}, {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject PyGenerator_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "ctorch.Generator",
    .tp_basicsize = sizeof(PyGenerator),
    .tp_dealloc = gen_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Generator(device='cpu'): a Mersenne Twister random number generator (torch.Generator).",
    .tp_methods = gen_methods,
    .tp_getset = gen_getset,
    .tp_new = gen_new,
};

static PyObject *py_get_rng_state(PyObject *m, PyObject *unused) {
    (void)m;
    (void)unused;
    return ctp_wrap(ct_generator_get_state(NULL));
}

static PyObject *py_set_rng_state(PyObject *m, PyObject *state) {
    (void)m;
    if (!PyTensor_Check(state) || ctp_t(state)->dtype != CT_UINT8) {
        PyErr_SetString(PyExc_TypeError, "RNG state must be a torch.ByteTensor");
        return NULL;
    }
    if (ct_generator_set_state(NULL, ctp_t(state))) return ctp_raise_ct_error();
    Py_RETURN_NONE;
}

static PyMethodDef random_functions[] = {
    {"get_rng_state", py_get_rng_state, METH_NOARGS, "The default generator's state (uint8 tensor)."},
    {"set_rng_state", py_set_rng_state, METH_O, "Restore the default generator's state."},
    {NULL, NULL, 0, NULL}};

int ctp_init_random(PyObject *m) {
    if (PyType_Ready(&PyGenerator_Type) < 0) return -1;
    Py_INCREF(&PyGenerator_Type);
    if (PyModule_AddObject(m, "Generator", (PyObject *)&PyGenerator_Type) < 0) return -1;
    PyGenerator *d = (PyGenerator *)PyGenerator_Type.tp_alloc(&PyGenerator_Type, 0);
    if (!d) return -1;
    d->g = ct_default_generator();
    d->owned = 0;
    if (PyModule_AddObject(m, "default_generator", (PyObject *)d) < 0) return -1;
    if (PyModule_AddFunctions(m, random_functions) < 0) return -1;
    ctp_generator_of = generator_of;
    return 0;
}
