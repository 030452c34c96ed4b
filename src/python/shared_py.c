/* Python bindings for shared-memory tensors: Tensor.share_memory_(), is_shared(), and the
 * handle/rebuild pair used by ctorch.multiprocessing's pickling of tensors. */
#include "argparse.h"

static PyObject *m_share_memory_(PyObject *self, PyObject *unused) {
    (void)unused;
    if (ct_storage_share(ctp_t(self)->storage)) return ctp_raise_ct_error();
    return Py_NewRef(self);
}

static PyObject *m_is_shared(PyObject *self, PyObject *unused) {
    (void)unused;
    return PyBool_FromLong(ct_storage_is_shared(ctp_t(self)->storage));
}

/* (name, storage_nbytes, dtype_index, offset, sizes, strides): moves the storage into
 * shared memory first if needed. */
static PyObject *f_shm_handle(PyObject *m, PyObject *arg) {
    (void)m;
    if (!PyTensor_Check(arg)) return PyErr_Format(PyExc_TypeError, "expected a Tensor");
    ct_tensor *t = ctp_t(arg);
    if (ct_storage_share(t->storage)) return ctp_raise_ct_error();
    PyObject *sizes = PyTuple_New(t->ndim), *strides = PyTuple_New(t->ndim);
    if (!sizes || !strides) {
        Py_XDECREF(sizes);
        Py_XDECREF(strides);
        return NULL;
    }
    for (int i = 0; i < t->ndim; i++) {
        PyTuple_SET_ITEM(sizes, i, PyLong_FromLongLong(t->sizes[i]));
        PyTuple_SET_ITEM(strides, i, PyLong_FromLongLong(t->strides[i]));
    }
    return Py_BuildValue("(snlLNN)", ct_storage_shm_name(t->storage), (Py_ssize_t)t->storage->nbytes, (long)t->dtype,
                         (long long)t->offset, sizes, strides);
}

static PyObject *f_tensor_from_shm(PyObject *m, PyObject *args) {
    (void)m;
    const char *name;
    Py_ssize_t nbytes;
    long dtype;
    long long offset;
    PyObject *sizes, *strides;
    if (!PyArg_ParseTuple(args, "snlLO!O!", &name, &nbytes, &dtype, &offset, &PyTuple_Type, &sizes, &PyTuple_Type,
                          &strides))
        return NULL;
    Py_ssize_t nd = PyTuple_GET_SIZE(sizes);
    if (dtype < 0 || dtype >= CT_NUM_DTYPES || nd > CT_MAX_DIM || PyTuple_GET_SIZE(strides) != nd || nbytes < 0)
        return PyErr_Format(PyExc_ValueError, "invalid shared tensor handle");
    int64_t sz[CT_MAX_DIM], st[CT_MAX_DIM];
    for (Py_ssize_t i = 0; i < nd; i++) {
        sz[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(sizes, i));
        st[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(strides, i));
    }
    if (PyErr_Occurred()) return NULL;
    ct_storage *s = ct_storage_open_shared(name, (size_t)nbytes);
    if (!s) return ctp_raise_ct_error();
    ct_tensor *t = ct_tensor_new_view(s, (int)dtype, offset, sz, st, (int)nd);
    ct_storage_release(s);
    return ctp_wrap(t);
}

static PyObject *f_set_shm_prefix(PyObject *m, PyObject *arg) {
    (void)m;
    const char *p = PyUnicode_AsUTF8(arg);
    if (!p) return NULL;
    ct_shm_set_prefix(p);
    Py_RETURN_NONE;
}

static PyMethodDef shared_methods[] = {
    {"share_memory_", m_share_memory_, METH_NOARGS, NULL},
    {"is_shared", m_is_shared, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyMethodDef shared_functions[] = {
    {"_shm_handle", f_shm_handle, METH_O, NULL},
    {"_tensor_from_shm", f_tensor_from_shm, METH_VARARGS, NULL},
    {"_set_shm_prefix", f_set_shm_prefix, METH_O, NULL},
    {NULL, NULL, 0, NULL}};

int ctp_init_shared(PyObject *m) {
    if (PyModule_AddFunctions(m, shared_functions) < 0) return -1;
    return ctp_add_tensor_methods(shared_methods);
}
