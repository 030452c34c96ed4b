/* Python bindings of src/serialize: Python objects <-> the C value tree for the weights-only
 * checkpoint path, the ZIP writer/reader used by the general (Python pickle) path, and the
 * safetensors codec. Nothing here imports or calls anything named by a file: user-allowed
 * globals are looked up in the dict of objects the caller registered by name. */
#include "argparse.h"
#include "ctorch/serialize.h"

#define PyTensor_CheckExact(o) Py_IS_TYPE(o, ctp_Tensor_Type)

static PyObject *g_param_type, *g_odict_type, *g_device_type, *g_not_weights_only;

static PyObject *f_setup(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *p, *o, *d;
    if (!PyArg_ParseTuple(args, "OOO", &p, &o, &d)) return NULL;
    Py_XSETREF(g_param_type, Py_NewRef(p));
    Py_XSETREF(g_odict_type, Py_NewRef(o));
    Py_XSETREF(g_device_type, Py_NewRef(d));
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ Python -> value */

typedef struct to_ctx {
    PyObject *memo; /* id -> capsule-less pointer (PyLong of the ct_value*) */
    int depth;
} to_ctx;

#define NOT_WO ((ct_value *)1) /* "not weights-only representable": fall back to Python pickle */

static ct_value *to_value(PyObject *o, to_ctx *c);

static ct_value *memo_lookup(to_ctx *c, PyObject *o) {
    PyObject *key = PyLong_FromVoidPtr(o);
    if (!key) return NULL;
    PyObject *got = PyDict_GetItemWithError(c->memo, key);
    Py_DECREF(key);
    if (!got) return NULL;
    ct_value *v = PyLong_AsVoidPtr(got);
    if (v->mark == 1) return NOT_WO; /* a container that contains itself: Python's pickle copes */
    ct_value_retain(v);
    return v;
}

static int memo_store(to_ctx *c, PyObject *o, ct_value *v) {
    PyObject *key = PyLong_FromVoidPtr(o), *val = PyLong_FromVoidPtr(v);
    int rc = (key && val) ? PyDict_SetItem(c->memo, key, val) : -1;
    Py_XDECREF(key);
    Py_XDECREF(val);
    return rc;
}

static ct_value *fail_ct(void) {
    ctp_raise_ct_error();
    return NULL;
}

static ct_value *to_value_inner(PyObject *o, to_ctx *c) {
    if (o == Py_None) return ct_value_none() ?: fail_ct();
    if (PyBool_Check(o)) return ct_value_bool(o == Py_True) ?: fail_ct();
    if (PyLong_CheckExact(o)) {
        int ovf;
        long long x = PyLong_AsLongLongAndOverflow(o, &ovf);
        if (ovf) return NOT_WO;
        if (x == -1 && PyErr_Occurred()) return NULL;
        return ct_value_int(x) ?: fail_ct();
    }
    if (PyFloat_CheckExact(o)) return ct_value_float(PyFloat_AS_DOUBLE(o)) ?: fail_ct();
    if (PyUnicode_CheckExact(o)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(o, &n);
        if (!s) {
            PyErr_Clear();
            return NOT_WO; /* lone surrogates: let pickle handle it */
        }
        return ct_value_str(s, (size_t)n) ?: fail_ct();
    }
    if (PyObject_TypeCheck(o, &PyDType_Type)) {
        for (int d = 0; d < CT_NUM_DTYPES; d++)
            if (ctp_dtype_objs[d] == o) return ct_value_dtype(d) ?: fail_ct();
        return NOT_WO;
    }
    if (g_device_type && Py_IS_TYPE(o, (PyTypeObject *)g_device_type)) {
        PyObject *s = PyObject_Str(o);
        if (!s) return NULL;
        Py_ssize_t n;
        const char *p = PyUnicode_AsUTF8AndSize(s, &n);
        ct_value *v = p ? ct_value_device(p) : NULL;
        Py_DECREF(s);
        return v ?: (PyErr_Occurred() ? NULL : fail_ct());
    }
    /* identity-preserving kinds */
    ct_value *v = memo_lookup(c, o);
    if (v) return v;
    if (PyErr_Occurred()) return NULL;
    if (++c->depth > 900) return NOT_WO;
    if (PyBytes_CheckExact(o)) {
        v = ct_value_bytes(PyBytes_AS_STRING(o), (size_t)PyBytes_GET_SIZE(o));
        if (!v) return fail_ct();
    } else if (PyTensor_Check(o)) {
        int is_param = 0;
        if (!PyTensor_CheckExact(o)) {
            if (!g_param_type || !Py_IS_TYPE(o, (PyTypeObject *)g_param_type)) return NOT_WO; /* subclasses */
            is_param = 1;
        }
        /* a tensor with Python attributes (__dict__ entries) is pickled by Python */
        PyObject **dp = _PyObject_GetDictPtr(o);
        if (dp && *dp && PyDict_GET_SIZE(*dp) > 0) return NOT_WO;
        PyObject *rg = PyObject_GetAttrString(o, "requires_grad");
        if (!rg) return NULL;
        int b = PyObject_IsTrue(rg);
        Py_DECREF(rg);
        v = ct_value_tensor(ctp_t(o), is_param, b == 1);
        if (!v) return fail_ct();
    } else if (PyTuple_Check(o) && (PyTuple_CheckExact(o) || (ctp_Size_Type && Py_IS_TYPE(o, ctp_Size_Type)))) {
        Py_ssize_t n = PyTuple_GET_SIZE(o);
        v = ct_value_tuple((size_t)n);
        if (!v) return fail_ct();
        for (Py_ssize_t i = 0; i < n; i++) {
            ct_value *it = to_value(PyTuple_GET_ITEM(o, i), c);
            if (!it || it == NOT_WO) {
                ct_value_release(v);
                return it;
            }
            ct_value_seq_set(v, (size_t)i, it);
        }
    } else if (PyList_CheckExact(o) || PySet_CheckExact(o)) {
        int is_set = PySet_CheckExact(o);
        v = is_set ? ct_value_set() : ct_value_list();
        if (!v) return fail_ct();
        if (!is_set && memo_store(c, o, v)) goto pyfail;
        v->mark = 1;
        PyObject *seq = is_set ? PySequence_List(o) : Py_NewRef(o);
        if (!seq) goto pyfail;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(seq); i++) {
            ct_value *it = to_value(PyList_GET_ITEM(seq, i), c);
            if (!it || it == NOT_WO) {
                Py_DECREF(seq);
                ct_value_release(v);
                return it;
            }
            if (ct_value_list_append(v, it)) {
                Py_DECREF(seq);
                ct_value_release(v);
                return fail_ct();
            }
        }
        Py_DECREF(seq);
        v->mark = 0;
    } else if (PyDict_CheckExact(o) || (g_odict_type && Py_IS_TYPE(o, (PyTypeObject *)g_odict_type))) {
        int ordered = !PyDict_CheckExact(o);
        v = ct_value_dict(ordered);
        if (!v) return fail_ct();
        if (memo_store(c, o, v)) goto pyfail;
        v->mark = 1;
        PyObject *items = PyMapping_Items(o);
        if (!items) goto pyfail;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(items); i++) {
            PyObject *kv = PyList_GET_ITEM(items, i);
            ct_value *k = to_value(PyTuple_GET_ITEM(kv, 0), c);
            ct_value *x = (k && k != NOT_WO) ? to_value(PyTuple_GET_ITEM(kv, 1), c) : NULL;
            if (!k || k == NOT_WO || !x || x == NOT_WO) {
                if (k != NOT_WO) ct_value_release(k);
                if (x != NOT_WO) ct_value_release(x);
                Py_DECREF(items);
                ct_value_release(v);
                return (k == NOT_WO || x == NOT_WO) ? NOT_WO : NULL;
            }
            if (ct_value_dict_set(v, k, x)) {
                Py_DECREF(items);
                ct_value_release(v);
                return fail_ct();
            }
        }
        Py_DECREF(items);
        if (ordered) { /* instance attributes, e.g. state_dict()._metadata */
            PyObject **dp = _PyObject_GetDictPtr(o);
            if (dp && *dp && PyDict_GET_SIZE(*dp) > 0) {
                ct_value *a = to_value(*dp, c);
                if (!a || a == NOT_WO) {
                    ct_value_release(v);
                    return a;
                }
                v->attrs = a;
            }
        }
        v->mark = 0;
    } else {
        return NOT_WO;
    }
    c->depth--;
    if (!PyList_CheckExact(o) && !PyDict_Check(o) && memo_store(c, o, v)) goto pyfail;
    return v;
pyfail:
    ct_value_release(v);
    return NULL;
}

static ct_value *to_value(PyObject *o, to_ctx *c) {
    /* cycles: a container met again while it is still being converted is in the memo but
     * incomplete; Python's pickler handles those, so do we by falling back */
    return to_value_inner(o, c);
}

/* _save(obj, path or None) -> None | bytes | NotImplemented (not weights-only representable) */
static PyObject *f_save(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *obj, *path;
    if (!PyArg_ParseTuple(args, "OO", &obj, &path)) return NULL;
    to_ctx c = {PyDict_New(), 0};
    if (!c.memo) return NULL;
    ct_value *v = to_value(obj, &c);
    Py_DECREF(c.memo);
    if (!v) return NULL;
    if (v == NOT_WO) Py_RETURN_NOTIMPLEMENTED;
    if (path != Py_None) {
        PyObject *b = PyUnicode_EncodeFSDefault(path);
        if (!b) {
            ct_value_release(v);
            return NULL;
        }
        int rc;
        Py_BEGIN_ALLOW_THREADS rc = ct_save(PyBytes_AS_STRING(b), v);
        Py_END_ALLOW_THREADS Py_DECREF(b);
        ct_value_release(v);
        if (rc) return ctp_raise_ct_error();
        Py_RETURN_NONE;
    }
    void *out = NULL;
    size_t len = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ct_save_buffer(v, &out, &len);
    Py_END_ALLOW_THREADS ct_value_release(v);
    if (rc) return ctp_raise_ct_error();
    PyObject *r = PyBytes_FromStringAndSize(out, (Py_ssize_t)len);
    free(out);
    return r;
}

/* ------------------------------------------------------------------ value -> Python */

typedef struct from_ctx {
    PyObject *memo;    /* id(ct_value) -> object */
    PyObject *globals; /* "module.name" -> object (user-allowed) */
} from_ctx;

static PyObject *from_value(ct_value *v, from_ctx *c);

static PyObject *tuple_of(ct_value *v, from_ctx *c) {
    PyObject *t = PyTuple_New((Py_ssize_t)v->u.seq.n);
    if (!t) return NULL;
    for (size_t i = 0; i < v->u.seq.n; i++) {
        PyObject *x = from_value(v->u.seq.items[i], c);
        if (!x) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, x);
    }
    return t;
}

static PyObject *user_global(ct_value *g, from_ctx *c) {
    /* flags carry the allow-list entry; 0 = a user-allowed global, others are only
     * meaningful as callables inside the file (torch rebuild functions, storage types) */
    PyObject *o = c->globals && (g->flags & 0xFF) == 0 ? PyDict_GetItemString(c->globals, g->u.s.data) : NULL;
    if (!o) {
        PyObject *pickle = PyImport_ImportModule("pickle");
        PyObject *e = pickle ? PyObject_GetAttrString(pickle, "UnpicklingError") : NULL;
        Py_XDECREF(pickle);
        if (e) {
            PyErr_Format(e, "Weights only load failed: Unsupported global: GLOBAL %s was not an allowed global",
                         g->u.s.data);
            Py_DECREF(e);
        }
        return NULL;
    }
    return Py_NewRef(o);
}

static PyObject *from_value_inner(ct_value *v, from_ctx *c) {
    switch (v->kind) {
    case CT_VAL_NONE: Py_RETURN_NONE;
    case CT_VAL_BOOL: return PyBool_FromLong(v->u.b);
    case CT_VAL_INT: return PyLong_FromLongLong(v->u.i);
    case CT_VAL_FLOAT: return PyFloat_FromDouble(v->u.f);
    case CT_VAL_STR: return PyUnicode_DecodeUTF8(v->u.s.data, (Py_ssize_t)v->u.s.len, "surrogatepass");
    case CT_VAL_BYTES: return PyBytes_FromStringAndSize(v->u.s.data, (Py_ssize_t)v->u.s.len);
    case CT_VAL_DTYPE: return Py_NewRef(ctp_dtype_objs[v->u.i]);
    case CT_VAL_DEVICE: return PyObject_CallFunction(g_device_type, "s", v->u.s.data);
    case CT_VAL_GLOBAL: return user_global(v, c);
    default: break;
    }
    PyObject *key = PyLong_FromVoidPtr(v);
    if (!key) return NULL;
    PyObject *got = PyDict_GetItemWithError(c->memo, key);
    if (got || PyErr_Occurred()) {
        Py_DECREF(key);
        return got ? Py_NewRef(got) : NULL;
    }
    PyObject *r = NULL;
    switch (v->kind) {
    case CT_VAL_TUPLE: r = tuple_of(v, c); break;
    case CT_VAL_LIST:
        r = PyList_New(0);
        if (r && PyDict_SetItem(c->memo, key, r)) Py_CLEAR(r);
        for (size_t i = 0; r && i < v->u.seq.n; i++) {
            PyObject *x = from_value(v->u.seq.items[i], c);
            if (!x || PyList_Append(r, x)) Py_CLEAR(r);
            Py_XDECREF(x);
        }
        break;
    case CT_VAL_SET: {
        PyObject *t = tuple_of(v, c);
        r = t ? PySet_New(t) : NULL;
        Py_XDECREF(t);
        break;
    }
    case CT_VAL_DICT:
        r = (v->flags & CT_VALF_ORDERED) ? PyObject_CallNoArgs(g_odict_type) : PyDict_New();
        if (r && PyDict_SetItem(c->memo, key, r)) Py_CLEAR(r);
        for (size_t i = 0; r && i < v->u.dict.n; i++) {
            PyObject *k = from_value(v->u.dict.keys[i], c);
            PyObject *x = k ? from_value(v->u.dict.vals[i], c) : NULL;
            if (!x || PyObject_SetItem(r, k, x)) Py_CLEAR(r);
            Py_XDECREF(k);
            Py_XDECREF(x);
        }
        if (r && v->attrs && v->attrs->kind == CT_VAL_DICT) {
            for (size_t i = 0; r && i < v->attrs->u.dict.n; i++) {
                ct_value *k = v->attrs->u.dict.keys[i];
                if (k->kind != CT_VAL_STR) continue;
                PyObject *x = from_value(v->attrs->u.dict.vals[i], c);
                if (!x || PyObject_SetAttrString(r, k->u.s.data, x)) Py_CLEAR(r);
                Py_XDECREF(x);
            }
        }
        break;
    case CT_VAL_TENSOR: {
        ct_tensor *t = ct_tensor_alias(v->u.tensor);
        PyObject *base = t ? ctp_wrap(t) : ctp_raise_ct_error();
        if (!base) break;
        bool rg = (v->flags & CT_VALF_REQUIRES_GRAD) != 0;
        if (v->flags & CT_VALF_PARAMETER) {
            r = PyObject_CallFunction(g_param_type, "OO", base, rg ? Py_True : Py_False);
            Py_DECREF(base);
        } else {
            r = base;
            if (rg && ct_dtype_is_floating(v->u.tensor->dtype)) {
                PyObject *x = PyObject_CallMethod(r, "requires_grad_", "O", Py_True);
                if (!x) Py_CLEAR(r);
                Py_XDECREF(x);
            }
        }
        break;
    }
    case CT_VAL_OBJECT: {
        PyObject *f = user_global(v->u.obj.func, c);
        PyObject *a = f ? from_value(v->u.obj.args, c) : NULL;
        if (a && !PyTuple_Check(a)) {
            PyErr_SetString(PyExc_TypeError, "arguments must be a tuple");
            Py_CLEAR(a);
        }
        if (a) {
            if (v->flags & CT_VALF_NEWOBJ) {
                PyObject *new_ = PyObject_GetAttrString(f, "__new__");
                PyObject *full = new_ ? PyTuple_New(PyTuple_GET_SIZE(a) + 1) : NULL;
                if (full) {
                    PyTuple_SET_ITEM(full, 0, Py_NewRef(f));
                    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(a); i++)
                        PyTuple_SET_ITEM(full, i + 1, Py_NewRef(PyTuple_GET_ITEM(a, i)));
                    r = PyObject_Call(new_, full, NULL);
                }
                Py_XDECREF(full);
                Py_XDECREF(new_);
            } else {
                r = PyObject_Call(f, a, NULL);
            }
        }
        Py_XDECREF(f);
        Py_XDECREF(a);
        if (r && v->u.obj.state) {
            PyObject *st = from_value(v->u.obj.state, c);
            if (!st) Py_CLEAR(r);
            else if (PyObject_HasAttrString(r, "__setstate__")) {
                PyObject *x = PyObject_CallMethod(r, "__setstate__", "O", st);
                if (!x) Py_CLEAR(r);
                Py_XDECREF(x);
            } else {
                PyObject *d = st, *slots = NULL;
                if (PyTuple_Check(st) && PyTuple_GET_SIZE(st) == 2) {
                    d = PyTuple_GET_ITEM(st, 0);
                    slots = PyTuple_GET_ITEM(st, 1);
                }
                PyObject *items[2] = {d, slots};
                for (int k = 0; k < 2 && r; k++) {
                    if (!items[k] || items[k] == Py_None) continue;
                    if (!PyDict_Check(items[k])) {
                        PyErr_SetString(PyExc_TypeError, "state is not a dictionary");
                        Py_CLEAR(r);
                        break;
                    }
                    PyObject *kk, *vv;
                    Py_ssize_t pos = 0;
                    while (r && PyDict_Next(items[k], &pos, &kk, &vv))
                        if (PyObject_SetAttr(r, kk, vv)) Py_CLEAR(r);
                }
            }
            Py_XDECREF(st);
        }
        break;
    }
    default: PyErr_SetString(PyExc_RuntimeError, "ctorch.load: unexpected value kind");
    }
    if (r && v->kind != CT_VAL_LIST && v->kind != CT_VAL_DICT && PyDict_SetItem(c->memo, key, r)) Py_CLEAR(r);
    Py_DECREF(key);
    return r;
}

static PyObject *from_value(ct_value *v, from_ctx *c) {
    if (Py_EnterRecursiveCall(" while converting a loaded checkpoint")) return NULL;
    PyObject *r = from_value_inner(v, c);
    Py_LeaveRecursiveCall();
    return r;
}

typedef struct src_buf {
    Py_buffer view;
    int have_view;
    char *path;
} src_buf;

static int get_src(PyObject *src, src_buf *b) {
    memset(b, 0, sizeof *b);
    if (PyUnicode_Check(src)) {
        PyObject *e = PyUnicode_EncodeFSDefault(src);
        if (!e) return -1;
        b->path = strdup(PyBytes_AS_STRING(e));
        Py_DECREF(e);
        if (!b->path) {
            PyErr_NoMemory();
            return -1;
        }
        return 0;
    }
    if (PyObject_GetBuffer(src, &b->view, PyBUF_SIMPLE)) return -1;
    b->have_view = 1;
    return 0;
}
static void drop_src(src_buf *b) {
    if (b->have_view) PyBuffer_Release(&b->view);
    free(b->path);
}

/* map_location hook: restore(bytes_tensor, location) -> uint8 tensor whose storage to use.
 * Runs with the GIL released around it (ct_load drops it); a Python exception is kept in
 * the context and re-raised as is once the load returns. */
typedef struct map_hook {
    PyObject *restore;
    PyObject *exc; /* the first exception raised by restore */
} map_hook;

static ct_storage *py_map_storage(void *ctx, ct_storage *s, const char *location) {
    map_hook *h = ctx;
    PyGILState_STATE g = PyGILState_Ensure();
    ct_storage *out = NULL;
    int64_t n = (int64_t)ct_storage_nbytes(s);
    ct_tensor *t = ct_tensor_new_view(s, CT_UINT8, 0, &n, NULL, 1);
    PyObject *pt = t ? ctp_wrap(t) : ctp_raise_ct_error();
    PyObject *r = pt ? PyObject_CallFunction(h->restore, "Ns", pt, location) : NULL;
    if (r && PyTensor_Check(r)) {
        out = ctp_t(r)->storage;
        ct_storage_retain(out);
    } else if (r) {
        PyErr_Format(PyExc_TypeError, "map_location must give a storage, got %s", Py_TYPE(r)->tp_name);
    }
    Py_XDECREF(r);
    if (!out) {
        PyObject *et, *ev, *tb;
        PyErr_Fetch(&et, &ev, &tb);
        PyErr_NormalizeException(&et, &ev, &tb);
        if (tb && ev) PyException_SetTraceback(ev, tb);
        Py_XDECREF(et);
        Py_XDECREF(tb);
        if (!h->exc) h->exc = ev;
        else Py_XDECREF(ev);
        ct_error(CT_ERR_RUNTIME, "[load] map_location failed");
    }
    PyGILState_Release(g);
    return out;
}

/* _load(src: str path | bytes-like, globals: dict name->object, mmap: bool, restore=None) */
static PyObject *f_load(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *src, *globals, *restore = Py_None;
    int mmap_;
    if (!PyArg_ParseTuple(args, "OOp|O", &src, &globals, &mmap_, &restore)) return NULL;
    if (!PyDict_Check(globals)) return PyErr_Format(PyExc_TypeError, "globals must be a dict");
    Py_ssize_t ng = PyDict_GET_SIZE(globals), pos = 0;
    const char **names = PyMem_Calloc((size_t)ng + 1, sizeof *names);
    if (!names) return PyErr_NoMemory();
    PyObject *k, *x;
    Py_ssize_t i = 0;
    while (PyDict_Next(globals, &pos, &k, &x)) {
        names[i] = PyUnicode_Check(k) ? PyUnicode_AsUTF8(k) : NULL;
        if (!names[i]) {
            PyMem_Free(names);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "global names must be str");
            return NULL;
        }
        i++;
    }
    map_hook hook = {restore, NULL};
    ct_load_options opts = {names, (size_t)ng, mmap_ != 0, 0, NULL, NULL};
    if (restore != Py_None) {
        opts.map_storage = py_map_storage;
        opts.map_ctx = &hook;
    }
    src_buf b;
    if (get_src(src, &b)) {
        PyMem_Free(names);
        return NULL;
    }
    ct_value *v;
    Py_BEGIN_ALLOW_THREADS v = b.path ? ct_load(b.path, &opts) : ct_load_buffer(b.view.buf, (size_t)b.view.len, &opts);
    Py_END_ALLOW_THREADS drop_src(&b);
    PyMem_Free(names);
    if (hook.exc) {
        ct_value_release(v);
        PyErr_SetObject((PyObject *)Py_TYPE(hook.exc), hook.exc);
        Py_DECREF(hook.exc);
        return NULL;
    }
    if (!v) return ctp_raise_ct_error();
    from_ctx c = {PyDict_New(), globals};
    PyObject *r = c.memo ? from_value(v, &c) : NULL;
    Py_XDECREF(c.memo);
    ct_value_release(v);
    return r;
}

/* ------------------------------------------------------------------ ZIP records */

/* _zip_write(path or None, records: list of (name, bytes-like | Tensor(whole storage))) */
static PyObject *f_zip_write(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *path, *records;
    if (!PyArg_ParseTuple(args, "OO!", &path, &PyList_Type, &records)) return NULL;
    PyObject *pb = NULL;
    if (path != Py_None && !(pb = PyUnicode_EncodeFSDefault(path))) return NULL;
    ct_zip_writer *w = ct_zip_writer_new(pb ? PyBytes_AS_STRING(pb) : NULL, "archive");
    Py_XDECREF(pb);
    if (!w) return ctp_raise_ct_error();
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(records); i++) {
        PyObject *rec = PyList_GET_ITEM(records, i), *name, *data;
        if (!PyTuple_Check(rec) || !PyArg_ParseTuple(rec, "UO", &name, &data)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "records must be (name, data) tuples");
            ct_zip_writer_abort(w);
            return NULL;
        }
        const char *nm = PyUnicode_AsUTF8(name);
        int rc;
        if (!nm) {
            ct_zip_writer_abort(w);
            return NULL;
        }
        if (PyTensor_Check(data)) {
            ct_storage *s = ctp_t(data)->storage;
            Py_BEGIN_ALLOW_THREADS rc = ct_zip_writer_add(w, nm, s->data, s->nbytes);
            Py_END_ALLOW_THREADS
        } else {
            Py_buffer view;
            if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)) {
                ct_zip_writer_abort(w);
                return NULL;
            }
            Py_BEGIN_ALLOW_THREADS rc = ct_zip_writer_add(w, nm, view.buf, (size_t)view.len);
            Py_END_ALLOW_THREADS PyBuffer_Release(&view);
        }
        if (rc) {
            ct_zip_writer_abort(w);
            return ctp_raise_ct_error();
        }
    }
    void *out = NULL;
    size_t len = 0;
    if (ct_zip_writer_finish(w, &out, &len)) return ctp_raise_ct_error();
    if (path != Py_None) Py_RETURN_NONE;
    PyObject *r = PyBytes_FromStringAndSize(out, (Py_ssize_t)len);
    free(out);
    return r;
}

typedef struct zr_handle {
    ct_zip_reader *r;
    src_buf src;
} zr_handle;

static void zr_destroy(PyObject *cap) {
    zr_handle *h = PyCapsule_GetPointer(cap, "ctorch.zip_reader");
    if (!h) return;
    ct_zip_reader_close(h->r);
    drop_src(&h->src);
    PyMem_Free(h);
}

static PyObject *f_zip_open(PyObject *m, PyObject *src) {
    (void)m;
    zr_handle *h = PyMem_Calloc(1, sizeof *h);
    if (!h) return PyErr_NoMemory();
    if (get_src(src, &h->src)) {
        PyMem_Free(h);
        return NULL;
    }
    h->r = h->src.path ? ct_zip_reader_open_file(h->src.path)
                       : ct_zip_reader_open_mem(h->src.view.buf, (size_t)h->src.view.len);
    if (!h->r) {
        drop_src(&h->src);
        PyMem_Free(h);
        return ctp_raise_ct_error();
    }
    PyObject *cap = PyCapsule_New(h, "ctorch.zip_reader", zr_destroy);
    if (!cap) {
        ct_zip_reader_close(h->r);
        drop_src(&h->src);
        PyMem_Free(h);
    }
    return cap;
}

static zr_handle *zr_get(PyObject *cap) { return PyCapsule_GetPointer(cap, "ctorch.zip_reader"); }

static PyObject *f_zip_names(PyObject *m, PyObject *cap) {
    (void)m;
    zr_handle *h = zr_get(cap);
    if (!h) return NULL;
    PyObject *l = PyList_New(0);
    for (size_t i = 0; l && i < ct_zip_reader_count(h->r); i++) {
        PyObject *s = PyUnicode_DecodeUTF8(ct_zip_reader_name(h->r, i), (Py_ssize_t)strlen(ct_zip_reader_name(h->r, i)),
                                           "surrogateescape");
        if (!s || PyList_Append(l, s)) Py_CLEAR(l);
        Py_XDECREF(s);
    }
    return l;
}

static PyObject *f_zip_record(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *cap;
    const char *name;
    if (!PyArg_ParseTuple(args, "Os", &cap, &name)) return NULL;
    zr_handle *h = zr_get(cap);
    if (!h) return NULL;
    const void *p;
    size_t n;
    if (ct_zip_reader_find(h->r, name, &p, &n)) Py_RETURN_NONE;
    return PyBytes_FromStringAndSize(p, (Py_ssize_t)n);
}

/* _zip_storage(handle, record, dtype, share) -> 1-D tensor over the whole record */
static PyObject *f_zip_storage(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *cap, *dt;
    const char *name;
    int share;
    if (!PyArg_ParseTuple(args, "OsOp", &cap, &name, &dt, &share)) return NULL;
    zr_handle *h = zr_get(cap);
    int dtype;
    if (!h || ctp_dtype(dt, &dtype)) return NULL;
    ct_storage *s = ct_zip_reader_storage(h->r, name, share != 0);
    if (!s) return ctp_raise_ct_error();
    int64_t n = (int64_t)(ct_storage_nbytes(s) / ct_dtype_size(dtype));
    ct_tensor *t = ct_tensor_new_view(s, dtype, 0, &n, NULL, 1);
    ct_storage_release(s);
    return ctp_wrap(t);
}

/* _storage_view(t, dtype) -> 1-D tensor of dtype over the whole storage of t */
static PyObject *f_storage_view(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *o, *dt;
    int dtype;
    if (!PyArg_ParseTuple(args, "O!O", ctp_Tensor_Type, &o, &dt) || ctp_dtype(dt, &dtype)) return NULL;
    ct_storage *s = ctp_t(o)->storage;
    int64_t n = (int64_t)(ct_storage_nbytes(s) / ct_dtype_size(dtype));
    ct_tensor *t = ct_tensor_new_view(s, dtype, 0, &n, NULL, 1);
    return t ? ctp_wrap(t) : ctp_raise_ct_error();
}

/* _storage_info(t) -> (storage address, storage nbytes) */
static PyObject *f_storage_info(PyObject *m, PyObject *o) {
    (void)m;
    if (!PyTensor_Check(o)) return PyErr_Format(PyExc_TypeError, "expected a Tensor");
    ct_storage *s = ctp_t(o)->storage;
    return Py_BuildValue("(Nn)", PyLong_FromVoidPtr(s), (Py_ssize_t)s->nbytes);
}

/* ------------------------------------------------------------------ safetensors */

typedef struct st_handle {
    ct_st_file *f;
    src_buf src;
} st_handle;

static void st_destroy(PyObject *cap) {
    st_handle *h = PyCapsule_GetPointer(cap, "ctorch.safetensors");
    if (!h) return;
    ct_st_close(h->f);
    drop_src(&h->src);
    PyMem_Free(h);
}

static PyObject *f_st_open(PyObject *m, PyObject *src) {
    (void)m;
    st_handle *h = PyMem_Calloc(1, sizeof *h);
    if (!h) return PyErr_NoMemory();
    if (get_src(src, &h->src)) {
        PyMem_Free(h);
        return NULL;
    }
    h->f = h->src.path ? ct_st_open_file(h->src.path) : ct_st_open_mem(h->src.view.buf, (size_t)h->src.view.len);
    if (!h->f) {
        drop_src(&h->src);
        PyMem_Free(h);
        return ctp_raise_ct_error();
    }
    PyObject *cap = PyCapsule_New(h, "ctorch.safetensors", st_destroy);
    if (!cap) {
        ct_st_close(h->f);
        drop_src(&h->src);
        PyMem_Free(h);
    }
    return cap;
}

static st_handle *st_get(PyObject *cap) { return PyCapsule_GetPointer(cap, "ctorch.safetensors"); }

/* _st_entries(handle) -> list of (name, dtype str, shape tuple, (begin, end)) in header order */
static PyObject *f_st_entries(PyObject *m, PyObject *cap) {
    (void)m;
    st_handle *h = st_get(cap);
    if (!h) return NULL;
    PyObject *l = PyList_New(0);
    for (size_t i = 0; l && i < ct_st_count(h->f); i++) {
        const ct_st_entry *e = ct_st_entry_at(h->f, i);
        PyObject *shape = PyTuple_New(e->ndim);
        for (int d = 0; shape && d < e->ndim; d++) PyTuple_SET_ITEM(shape, d, PyLong_FromLongLong(e->shape[d]));
        PyObject *t = shape ? Py_BuildValue("(sNs(KK))", e->name, shape, e->dtype, (unsigned long long)e->begin,
                                            (unsigned long long)e->end)
                            : NULL;
        if (!t || PyList_Append(l, t)) Py_CLEAR(l);
        Py_XDECREF(t);
    }
    return l;
}

static PyObject *f_st_metadata(PyObject *m, PyObject *cap) {
    (void)m;
    st_handle *h = st_get(cap);
    if (!h) return NULL;
    if (!ct_st_metadata_count(h->f)) Py_RETURN_NONE;
    PyObject *d = PyDict_New();
    for (size_t i = 0; d && i < ct_st_metadata_count(h->f); i++) {
        const char *k, *v;
        ct_st_metadata_at(h->f, i, &k, &v);
        PyObject *vs = PyUnicode_FromString(v);
        if (!vs || PyDict_SetItemString(d, k, vs)) Py_CLEAR(d);
        Py_XDECREF(vs);
    }
    return d;
}

static PyObject *f_st_get(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *cap;
    const char *name;
    int share;
    if (!PyArg_ParseTuple(args, "Osp", &cap, &name, &share)) return NULL;
    st_handle *h = st_get(cap);
    if (!h) return NULL;
    ct_tensor *t = ct_st_get_tensor(h->f, name, share != 0);
    return ctp_wrap(t);
}

/* _st_save(path or None, names list, tensors list, metadata dict or None) */
static PyObject *f_st_save(PyObject *m, PyObject *args) {
    (void)m;
    PyObject *path, *names, *tensors, *meta;
    if (!PyArg_ParseTuple(args, "OO!O!O", &path, &PyList_Type, &names, &PyList_Type, &tensors, &meta)) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(names), nm = meta == Py_None ? 0 : PyDict_Size(meta);
    if (n != PyList_GET_SIZE(tensors) || nm < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "names and tensors differ in length");
        return NULL;
    }
    const char **cn = PyMem_Calloc((size_t)n + 1, sizeof *cn), **mk = PyMem_Calloc((size_t)nm + 1, sizeof *mk),
               **mv = PyMem_Calloc((size_t)nm + 1, sizeof *mv);
    ct_tensor **ts = PyMem_Calloc((size_t)n + 1, sizeof *ts);
    PyObject *r = NULL, *pb = NULL;
    if (!cn || !mk || !mv || !ts) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyList_GET_ITEM(tensors, i);
        if (!PyUnicode_Check(PyList_GET_ITEM(names, i)) || !PyTensor_Check(t)) {
            PyErr_SetString(PyExc_TypeError, "expected str names and Tensor values");
            goto done;
        }
        if (!(cn[i] = PyUnicode_AsUTF8(PyList_GET_ITEM(names, i)))) goto done;
        ts[i] = ctp_t(t);
    }
    Py_ssize_t pos = 0, i = 0;
    PyObject *k, *v;
    while (nm && PyDict_Next(meta, &pos, &k, &v)) {
        if (!PyUnicode_Check(k) || !PyUnicode_Check(v)) {
            PyErr_SetString(PyExc_ValueError, "metadata keys and values must be str");
            goto done;
        }
        if (!(mk[i] = PyUnicode_AsUTF8(k)) || !(mv[i] = PyUnicode_AsUTF8(v))) goto done;
        i++;
    }
    if (path != Py_None && !(pb = PyUnicode_EncodeFSDefault(path))) goto done;
    void *out = NULL;
    size_t len = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = ct_st_save(pb ? PyBytes_AS_STRING(pb) : NULL, cn, ts, (size_t)n, mk, mv, (size_t)nm,
                                           &out, &len);
    Py_END_ALLOW_THREADS if (rc) {
        ctp_raise_ct_error();
        goto done;
    }
    if (pb) r = Py_NewRef(Py_None);
    else {
        r = PyBytes_FromStringAndSize(out, (Py_ssize_t)len);
        free(out);
    }
done:
    Py_XDECREF(pb);
    PyMem_Free(cn);
    PyMem_Free(mk);
    PyMem_Free(mv);
    PyMem_Free(ts);
    return r;
}

static PyMethodDef serialize_functions[] = {
    {"_serialize_setup", f_setup, METH_VARARGS, NULL},
    {"_save", f_save, METH_VARARGS, NULL},
    {"_load", f_load, METH_VARARGS, NULL},
    {"_storage_view", f_storage_view, METH_VARARGS, NULL},
    {"_zip_write", f_zip_write, METH_VARARGS, NULL},
    {"_zip_open", f_zip_open, METH_O, NULL},
    {"_zip_names", f_zip_names, METH_O, NULL},
    {"_zip_record", f_zip_record, METH_VARARGS, NULL},
    {"_zip_storage", f_zip_storage, METH_VARARGS, NULL},
    {"_storage_info", f_storage_info, METH_O, NULL},
    {"_st_open", f_st_open, METH_O, NULL},
    {"_st_entries", f_st_entries, METH_O, NULL},
    {"_st_metadata", f_st_metadata, METH_O, NULL},
    {"_st_get", f_st_get, METH_VARARGS, NULL},
    {"_st_save", f_st_save, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

int ctp_init_serialize(PyObject *m) {
    (void)g_not_weights_only;
    return PyModule_AddFunctions(m, serialize_functions);
}
