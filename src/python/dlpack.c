/* DLPack exchange: Tensor.__dlpack__ / __dlpack_device__ (export, unversioned "dltensor"
 * and versioned "dltensor_versioned" capsules) and ctorch.from_dlpack (import from any
 * producer object or capsule). Zero-copy both ways: an exported capsule holds a tensor
 * alias (so the storage outlives the tensor), an imported tensor's storage calls the
 * producer's deleter when its last view goes.
 *
 * The structs follow the public DLPack ABI (dlpack.h, v0.8 for DLManagedTensor and v1.0
 * for DLManagedTensorVersioned). */
#include <stdlib.h>

#include "../core/internal.h"
#include "argparse.h"

/* ------------------------------------------------------------------ DLPack ABI */

enum { kDLCPU = 1, kDLCUDAHost = 3 };
enum { kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLBfloat = 4, kDLComplex = 5, kDLBool = 6 };

typedef struct {
    int32_t device_type;
    int32_t device_id;
} DLDevice;

typedef struct {
    uint8_t code;
    uint8_t bits;
    uint16_t lanes;
} DLDataType;

typedef struct {
    void *data;
    DLDevice device;
    int32_t ndim;
    DLDataType dtype;
    int64_t *shape;
    int64_t *strides; /* in elements; NULL: compact row-major */
    uint64_t byte_offset;
} DLTensor;

typedef struct DLManagedTensor {
    DLTensor dl_tensor;
    void *manager_ctx;
    void (*deleter)(struct DLManagedTensor *self);
} DLManagedTensor;

typedef struct {
    uint32_t major;
    uint32_t minor;
} DLPackVersion;

#define DLPACK_FLAG_BITMASK_READ_ONLY (1ULL << 0)

typedef struct DLManagedTensorVersioned {
    DLPackVersion version;
    void *manager_ctx;
    void (*deleter)(struct DLManagedTensorVersioned *self);
    uint64_t flags;
    DLTensor dl_tensor;
} DLManagedTensorVersioned;

/* ------------------------------------------------------------------ export */

typedef struct {
    union {
        DLManagedTensor m;
        DLManagedTensorVersioned v;
    } u;
    ct_tensor *t; /* owned alias keeping the storage alive */
    int64_t shape[CT_MAX_DIM];
    int64_t strides[CT_MAX_DIM];
} export_ctx;

static void export_free(export_ctx *c) {
    if (!c) return;
    ct_tensor_release(c->t);
    free(c);
}
static void deleter_unversioned(DLManagedTensor *self) { export_free(self ? self->manager_ctx : NULL); }
static void deleter_versioned(DLManagedTensorVersioned *self) { export_free(self ? self->manager_ctx : NULL); }

/* Capsule destructors: free only when no consumer took ownership (name unchanged). */
static void capsule_unversioned(PyObject *cap) {
    const char *n = PyCapsule_GetName(cap);
    if (n && !strcmp(n, "dltensor")) {
        DLManagedTensor *m = PyCapsule_GetPointer(cap, "dltensor");
        if (m && m->deleter) m->deleter(m);
    }
    PyErr_Clear();
}
static void capsule_versioned(PyObject *cap) {
    const char *n = PyCapsule_GetName(cap);
    if (n && !strcmp(n, "dltensor_versioned")) {
        DLManagedTensorVersioned *m = PyCapsule_GetPointer(cap, "dltensor_versioned");
        if (m && m->deleter) m->deleter(m);
    }
    PyErr_Clear();
}

static int dl_dtype_of(int dtype, DLDataType *d) {
    d->lanes = 1;
    d->bits = (uint8_t)(ct_dtype_size(dtype) * 8);
    switch (dtype) {
    case CT_BOOL: d->code = kDLBool; break;
    case CT_UINT8: d->code = kDLUInt; break;
    case CT_INT8:
    case CT_INT16:
    case CT_INT32:
    case CT_INT64: d->code = kDLInt; break;
    case CT_BFLOAT16: d->code = kDLBfloat; break;
    default: d->code = kDLFloat; break;
    }
    return 0;
}

static PyObject *export_capsule(ct_tensor *src, int versioned) {
    export_ctx *c = calloc(1, sizeof *c);
    if (!c) return PyErr_NoMemory();
    c->t = ct_tensor_alias(src);
    if (!c->t) {
        free(c);
        return ctp_raise_ct_error();
    }
    ct_tensor *t = c->t;
    for (int i = 0; i < t->ndim; i++) {
        c->shape[i] = t->sizes[i];
        c->strides[i] = t->strides[i];
    }
    DLTensor *dl = versioned ? &c->u.v.dl_tensor : &c->u.m.dl_tensor;
    dl->data = ct_tensor_data(t);
    dl->device.device_type = kDLCPU;
    dl->device.device_id = 0;
    dl->ndim = t->ndim;
    dl_dtype_of(t->dtype, &dl->dtype);
    dl->shape = c->shape;
    dl->strides = c->strides;
    dl->byte_offset = 0;
    PyObject *cap;
    if (versioned) {
        c->u.v.version.major = 1;
        c->u.v.version.minor = 0;
        c->u.v.manager_ctx = c;
        c->u.v.deleter = deleter_versioned;
        c->u.v.flags = 0;
        cap = PyCapsule_New(&c->u.v, "dltensor_versioned", capsule_versioned);
    } else {
        c->u.m.manager_ctx = c;
        c->u.m.deleter = deleter_unversioned;
        cap = PyCapsule_New(&c->u.m, "dltensor", capsule_unversioned);
    }
    if (!cap) export_free(c);
    return cap;
}

static PyObject *tensor_dlpack(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"stream", "max_version", "dl_device", "copy", NULL};
    PyObject *stream = NULL, *max_version = Py_None, *dl_device = Py_None, *copy = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$OOOO:__dlpack__", kwlist, &stream, &max_version, &dl_device,
                                     &copy))
        return NULL;
    ct_tensor *t = ctp_t(self);
    if (ct_tensor_requires_grad(t)) {
        PyErr_SetString(PyExc_BufferError, "Can't export tensors that require gradient, use tensor.detach()");
        return NULL;
    }
    if (stream && stream != Py_None) {
        if (!PyLong_CheckExact(stream)) {
            PyErr_SetString(PyExc_TypeError, "stream must be ``int`` or ``none``");
            return NULL;
        }
        long long s = PyLong_AsLongLong(stream);
        if (s == -1 && PyErr_Occurred()) return NULL;
        if (s != -1) {
            PyErr_SetString(PyExc_AssertionError, "stream should be None on cpu.");
            return NULL;
        }
    }
    if (dl_device != Py_None) {
        long dev = -1, idx = -1;
        if (!PyTuple_Check(dl_device) || PyTuple_GET_SIZE(dl_device) != 2 ||
            ((dev = PyLong_AsLong(PyTuple_GET_ITEM(dl_device, 0))) == -1 && PyErr_Occurred()) ||
            ((idx = PyLong_AsLong(PyTuple_GET_ITEM(dl_device, 1))) == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError, "dl_device must be a (device_type, device_id) tuple");
            return NULL;
        }
        if (dev != kDLCPU || idx != 0) {
            PyErr_SetString(PyExc_BufferError, "Unsupported device for DLPack export: only (kDLCPU, 0) is available");
            return NULL;
        }
    }
    int versioned = 0;
    if (max_version != Py_None) {
        if (!PyTuple_Check(max_version) || PyTuple_GET_SIZE(max_version) < 1) {
            PyErr_SetString(PyExc_TypeError, "max_version must be a (major, minor) tuple");
            return NULL;
        }
        long major = PyLong_AsLong(PyTuple_GET_ITEM(max_version, 0));
        if (major == -1 && PyErr_Occurred()) return NULL;
        versioned = major >= 1;
    }
    if (copy == Py_True) {
        ct_tensor *c = ct_clone(t);
        if (!c) return ctp_raise_ct_error();
        PyObject *r = export_capsule(c, versioned);
        ct_tensor_release(c);
        return r;
    }
    return export_capsule(t, versioned);
}

static PyObject *tensor_dlpack_device(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return Py_BuildValue("(ii)", kDLCPU, 0);
}

/* ------------------------------------------------------------------ import */

typedef struct {
    void *managed;
    int versioned;
} import_ctx;

static void import_release(void *data, void *ctx) {
    (void)data;
    import_ctx *c = ctx;
    if (c->versioned) {
        DLManagedTensorVersioned *m = c->managed;
        if (m->deleter) m->deleter(m);
    } else {
        DLManagedTensor *m = c->managed;
        if (m->deleter) m->deleter(m);
    }
    free(c);
}

static int ct_dtype_from_dl(DLDataType d) {
    if (d.lanes != 1) return -1;
    switch (d.code) {
    case kDLBool: return d.bits == 8 ? CT_BOOL : -1;
    case kDLUInt: return d.bits == 8 ? CT_UINT8 : -1;
    case kDLInt:
        return d.bits == 8 ? CT_INT8 : d.bits == 16 ? CT_INT16 : d.bits == 32 ? CT_INT32 : d.bits == 64 ? CT_INT64 : -1;
    case kDLFloat: return d.bits == 16 ? CT_FLOAT16 : d.bits == 32 ? CT_FLOAT32 : d.bits == 64 ? CT_FLOAT64 : -1;
    case kDLBfloat: return d.bits == 16 ? CT_BFLOAT16 : -1;
    default: return -1;
    }
}

/* Tensor from a capsule; takes ownership of the managed tensor (renaming the capsule)
 * only once every check passed. */
static PyObject *from_capsule(PyObject *cap) {
    int versioned;
    void *managed;
    if (PyCapsule_IsValid(cap, "dltensor_versioned")) {
        versioned = 1;
        managed = PyCapsule_GetPointer(cap, "dltensor_versioned");
    } else if (PyCapsule_IsValid(cap, "dltensor")) {
        versioned = 0;
        managed = PyCapsule_GetPointer(cap, "dltensor");
    } else {
        PyErr_SetString(PyExc_RuntimeError, "from_dlpack received an invalid capsule. Note that DLTensor capsules can "
                                            "be consumed only once, so you might have already constructed a tensor "
                                            "from it once.");
        return NULL;
    }
    if (!managed) return NULL;
    DLTensor *dl;
    if (versioned) {
        DLManagedTensorVersioned *m = managed;
        if (m->version.major > 1) {
            PyErr_Format(PyExc_BufferError, "from_dlpack: unsupported DLPack version %u.%u (max supported 1.x)",
                         m->version.major, m->version.minor);
            return NULL;
        }
        dl = &m->dl_tensor;
    } else {
        dl = &((DLManagedTensor *)managed)->dl_tensor;
    }
    if (dl->device.device_type != kDLCPU && dl->device.device_type != kDLCUDAHost) {
        PyErr_Format(PyExc_RuntimeError, "from_dlpack: unsupported device type %d (only CPU tensors can be imported)",
                     (int)dl->device.device_type);
        return NULL;
    }
    int dt = ct_dtype_from_dl(dl->dtype);
    if (dt < 0) {
        PyErr_Format(PyExc_RuntimeError, "from_dlpack: unsupported DLPack dtype (code %d, bits %d, lanes %d)",
                     dl->dtype.code, dl->dtype.bits, dl->dtype.lanes);
        return NULL;
    }
    if (dl->ndim < 0 || dl->ndim > CT_MAX_DIM || (dl->ndim > 0 && !dl->shape)) {
        PyErr_Format(PyExc_RuntimeError, "from_dlpack: unsupported number of dimensions %d", (int)dl->ndim);
        return NULL;
    }
    int nd = dl->ndim;
    int64_t sizes[CT_MAX_DIM], st[CT_MAX_DIM], numel = 1;
    for (int i = 0; i < nd; i++) {
        if (dl->shape[i] < 0) {
            PyErr_SetString(PyExc_RuntimeError, "from_dlpack: negative dimension in shape");
            return NULL;
        }
        sizes[i] = dl->shape[i];
        numel *= sizes[i];
    }
    if (dl->strides)
        for (int i = 0; i < nd; i++) st[i] = dl->strides[i];
    else
        ct_contiguous_strides(sizes, nd, st);
    int64_t es = (int64_t)ct_dtype_size(dt), lo = 0, hi = 0;
    if (numel > 0)
        for (int i = 0; i < nd; i++) {
            int64_t span = (sizes[i] - 1) * st[i];
            if (span < 0) lo += span; else hi += span;
        }
    char *first = (char *)dl->data + dl->byte_offset;
    import_ctx *ctx = malloc(sizeof *ctx);
    if (!ctx) return PyErr_NoMemory();
    ctx->managed = managed;
    ctx->versioned = versioned;
    /* take ownership: the producer's capsule destructor must not free it any more */
    if (PyCapsule_SetName(cap, versioned ? "used_dltensor_versioned" : "used_dltensor")) {
        free(ctx);
        return NULL;
    }
    ct_storage *s = ct_storage_wrap(first + lo * es, numel > 0 ? (size_t)(hi - lo + 1) * (size_t)es : 0,
                                    import_release, ctx);
    if (!s) {
        import_release(NULL, ctx);
        return ctp_raise_ct_error();
    }
    ct_tensor *t = ct_tensor_new_view(s, dt, numel > 0 ? -lo : 0, sizes, st, nd);
    ct_storage_release(s);
    return ctp_wrap(t);
}

static PyObject *py_from_dlpack(PyObject *m, PyObject *args, PyObject *kwargs) {
    (void)m;
    static char *kwlist[] = {"ext_tensor", "device", "copy", NULL};
    PyObject *obj, *device = Py_None, *copy = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$OO:from_dlpack", kwlist, &obj, &device, &copy)) return NULL;
    int dev;
    if (ctp_device_opt(device, &dev)) return NULL;
    PyObject *cap;
    if (PyCapsule_CheckExact(obj)) {
        cap = Py_NewRef(obj);
    } else {
        int has = PyObject_HasAttrString(obj, "__dlpack__");
        if (!has) return from_capsule(obj); /* raises the invalid-capsule error */
        PyObject *dev_t = PyObject_CallMethod(obj, "__dlpack_device__", NULL);
        if (!dev_t) return NULL;
        Py_DECREF(dev_t);
        PyObject *meth = PyObject_GetAttrString(obj, "__dlpack__");
        if (!meth) return NULL;
        PyObject *kw = Py_BuildValue("{s:(ii)}", "max_version", 1, 0);
        if (kw && copy != Py_None) PyDict_SetItemString(kw, "copy", copy);
        PyObject *empty = PyTuple_New(0);
        cap = kw && empty ? PyObject_Call(meth, empty, kw) : NULL;
        if (!cap && PyErr_ExceptionMatches(PyExc_TypeError)) {
            /* an older producer without max_version */
            PyErr_Clear();
            PyDict_DelItemString(kw, "max_version");
            cap = PyObject_Call(meth, empty, kw);
        }
        Py_XDECREF(empty);
        Py_XDECREF(kw);
        Py_DECREF(meth);
        if (!cap) return NULL;
    }
    PyObject *r = from_capsule(cap);
    Py_DECREF(cap);
    if (r && copy == Py_True && PyCapsule_CheckExact(obj)) {
        PyObject *c = ctp_wrap(ct_clone(ctp_t(r)));
        Py_DECREF(r);
        r = c;
    }
    return r;
}

static PyMethodDef dlpack_functions[] = {
    {"from_dlpack", (PyCFunction)(void (*)(void))py_from_dlpack, METH_VARARGS | METH_KEYWORDS, NULL},
    {NULL, NULL, 0, NULL}};

static PyMethodDef dlpack_methods[] = {
    {"__dlpack__", (PyCFunction)(void (*)(void))tensor_dlpack, METH_VARARGS | METH_KEYWORDS, NULL},
    {"__dlpack_device__", tensor_dlpack_device, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

int ctp_init_dlpack(PyObject *m) {
    if (PyModule_AddFunctions(m, dlpack_functions) < 0) return -1;
    return ctp_add_tensor_methods(dlpack_methods);
}
