/* Signature-driven argument parsing for the generated bindings: signatures are parsed
 * once at import; a call matches positional and keyword arguments against them, checks
 * types (so overloads can be told apart) and fills defaults. Errors are TypeErrors worded
 * as torch's. */
#include <stdarg.h>
#include <string.h>

#include "argparse.h"

static const struct {
    const char *type;
    int kind;
    const char *display;
} type_map[] = {
    {"Tensor", CTP_TENSOR, "Tensor"},
    {"TensorOrScalar", CTP_TENSOR_OR_SCALAR, "Tensor"},
    {"Tensor[]", CTP_TENSORLIST, "tuple of Tensors"},
    {"Tensor?[]", CTP_TENSORLIST_OPT, "tuple of Tensors"},
    {"Scalar", CTP_SCALAR, "Number"},
    {"int", CTP_INT, "int"},
    {"int[]", CTP_INTLIST, "tuple of ints"},
    {"float", CTP_FLOAT, "float"},
    {"bool", CTP_BOOL, "bool"},
    {"str", CTP_STR, "str"},
    {"ScalarType", CTP_DTYPE, "dtype"},
    {"Device", CTP_DEVICE, "Device"},
    {"Generator", CTP_GENERATOR, "Generator"},
    {"Layout", CTP_ANY, "layout"},
    {"MemoryFormat", CTP_ANY, "memory_format"},
    {"PyObject", CTP_ANY, "object"},
};

static PyObject *parse_default(const char *s) {
    if (!strcmp(s, "None")) Py_RETURN_NONE;
    if (!strcmp(s, "True")) Py_RETURN_TRUE;
    if (!strcmp(s, "False")) Py_RETURN_FALSE;
    if (s[0] == '"' || s[0] == '\'') {
        size_t n = strlen(s);
        return PyUnicode_FromStringAndSize(s + 1, (Py_ssize_t)(n >= 2 ? n - 2 : 0));
    }
    if (s[0] == '[') {
        PyObject *lst = PyList_New(0);
        const char *p = s + 1;
        while (lst && *p && *p != ']') {
            char *end;
            long long v = strtoll(p, &end, 10);
            if (end == p) break;
            PyObject *iv = PyLong_FromLongLong(v);
            PyList_Append(lst, iv);
            Py_XDECREF(iv);
            p = end;
            while (*p == ',' || *p == ' ') p++;
        }
        PyObject *t = lst ? PyList_AsTuple(lst) : NULL;
        Py_XDECREF(lst);
        return t;
    }
    if (strchr(s, '.') || strchr(s, 'e') || strstr(s, "inf") || strstr(s, "nan")) {
        if (!strcmp(s, "inf")) return PyFloat_FromDouble(INFINITY);
        if (!strcmp(s, "-inf")) return PyFloat_FromDouble(-INFINITY);
        return PyFloat_FromDouble(strtod(s, NULL));
    }
    if (!strncmp(s, "torch.", 6) || !strncmp(s, "ctorch.", 7)) Py_RETURN_NONE;
    return PyLong_FromLongLong(strtoll(s, NULL, 10));
}

int ctp_parse_sig(const char *text, ctp_sig *s) {
    memset(s, 0, sizeof *s);
    const char *lp = strchr(text, '(');
    if (!lp) goto bad;
    size_t nl = (size_t)(lp - text);
    if (nl >= sizeof s->name) nl = sizeof s->name - 1;
    memcpy(s->name, text, nl);
    const char *p = lp + 1;
    int kwonly = 0;
    size_t dl = 0;
    dl += (size_t)snprintf(s->display + dl, sizeof s->display - dl, "(");
    int first = 1;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        char item[160];
        size_t k = 0;
        int depth = 0;
        while (*p && !(depth == 0 && (*p == ',' || *p == ')')) && k < sizeof item - 1) {
            if (*p == '[' || *p == '(') depth++;
            if (*p == ']' || (*p == ')' && depth > 0)) depth--;
            item[k++] = *p++;
        }
        item[k] = 0;
        if (!strcmp(item, "*")) {
            kwonly = 1;
            dl += (size_t)snprintf(s->display + dl, sizeof s->display - dl, "%s*", first ? "" : ", ");
            first = 0;
            continue;
        }
        if (s->nparams >= CTP_MAX_PARAMS) goto bad;
        ctp_param *pp = &s->p[s->nparams++];
        char type[64], name[64], def[64];
        def[0] = 0;
        char *eq = strchr(item, '=');
        if (eq) {
            *eq = 0;
            snprintf(def, sizeof def, "%s", eq + 1);
        }
        if (sscanf(item, "%63s %63s", type, name) != 2) goto bad;
        size_t tl = strlen(type);
        pp->optional = 0;
        if (tl && type[tl - 1] == '?') {
            pp->optional = 1;
            type[--tl] = 0;
        }
        if (!strcmp(type, "Tensor?[]")) pp->optional = 0;
        pp->kind = -1;
        const char *disp = type;
        for (size_t i = 0; i < sizeof type_map / sizeof type_map[0]; i++)
            if (!strcmp(type_map[i].type, type)) {
                pp->kind = type_map[i].kind;
                disp = type_map[i].display;
            }
        if (pp->kind < 0) goto bad;
        snprintf(pp->type_name, sizeof pp->type_name, "%s", disp);
        pp->kwonly = kwonly;
        if (!kwonly) s->npos++;
        pp->name = PyUnicode_InternFromString(name);
        if (!pp->name) return -1;
        if (def[0]) {
            pp->deflt = parse_default(def);
            if (!pp->deflt) return -1;
        }
        dl += (size_t)snprintf(s->display + dl, sizeof s->display - dl, "%s%s %s%s%s", first ? "" : ", ", disp, name,
                               def[0] ? " = " : "", def);
        if (dl >= sizeof s->display) dl = sizeof s->display - 1;
        first = 0;
    }
    snprintf(s->display + dl, sizeof s->display - dl, ")");
    return 0;
bad:
    PyErr_Format(PyExc_RuntimeError, "ctorch internal: bad signature '%s'", text);
    return -1;
}

int ctp_prepare(ctp_overload *ovs) {
    for (ctp_overload *o = ovs; o->sig; o++) {
        o->parsed = PyMem_Calloc(1, sizeof(ctp_sig));
        if (!o->parsed) return -1;
        if (ctp_parse_sig(o->sig, o->parsed)) return -1;
    }
    return 0;
}

static int is_int_like(PyObject *o) {
    if (PyBool_Check(o)) return 0;
    if (PyLong_CheckExact(o) || PyLong_Check(o)) return 1;
    if (PyTensor_Check(o)) {
        ct_tensor *t = ctp_t(o);
        return t->ndim == 0 && ct_dtype_is_integral(t->dtype, false);
    }
    if (PyFloat_Check(o) || PyUnicode_Check(o) || PySequence_Check(o)) return 0;
    return PyIndex_Check(o);
}

static int is_float_like(PyObject *o) {
    if (PyFloat_Check(o) || PyLong_Check(o)) return 1;
    if (PyTensor_Check(o)) return ctp_t(o)->numel == 1 && ctp_t(o)->ndim == 0;
    if (PyUnicode_Check(o)) return 0;
    return ctp_is_number(o);
}

/* Does `o` fit param `p`? (None is handled by the caller.) */
static int type_ok(const ctp_param *p, PyObject *o) {
    switch (p->kind) {
    case CTP_TENSOR: return PyTensor_Check(o);
    case CTP_TENSOR_OR_SCALAR: return PyTensor_Check(o) || ctp_is_number(o);
    case CTP_TENSORLIST:
    case CTP_TENSORLIST_OPT: {
        if (!PyTuple_Check(o) && !PyList_Check(o)) return 0;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
        PyObject **items = PySequence_Fast_ITEMS(o);
        for (Py_ssize_t i = 0; i < n; i++)
            if (!PyTensor_Check(items[i]) && !(p->kind == CTP_TENSORLIST_OPT && items[i] == Py_None)) return 0;
        return 1;
    }
    case CTP_SCALAR: return ctp_is_number(o) || (PyTensor_Check(o) && ctp_t(o)->numel == 1);
    case CTP_INT: return is_int_like(o);
    case CTP_INTLIST: {
        if (is_int_like(o)) return 1;
        if (!PyTuple_Check(o) && !PyList_Check(o)) {
            if (PyTensor_Check(o)) return ctp_t(o)->ndim <= 1 && ct_dtype_is_integral(ctp_t(o)->dtype, false);
            return 0;
        }
        Py_ssize_t n = PySequence_Fast_GET_SIZE(o);
        PyObject **items = PySequence_Fast_ITEMS(o);
        for (Py_ssize_t i = 0; i < n; i++)
            if (!is_int_like(items[i])) return 0;
        return 1;
    }
    case CTP_FLOAT: return is_float_like(o);
    case CTP_BOOL:
        return PyBool_Check(o) || (Py_TYPE(o)->tp_name && !strcmp(Py_TYPE(o)->tp_name, "numpy.bool"));
    case CTP_STR: return PyUnicode_Check(o);
    case CTP_DTYPE:
        return PyObject_TypeCheck(o, &PyDType_Type) || o == (PyObject *)&PyFloat_Type ||
               o == (PyObject *)&PyLong_Type || o == (PyObject *)&PyBool_Type;
    case CTP_DEVICE: /* ctorch.device is a Python class: its tp_name is "device" */
        return PyUnicode_Check(o) || PyLong_Check(o) || !strcmp(Py_TYPE(o)->tp_name, "ctorch.device") ||
               !strcmp(Py_TYPE(o)->tp_name, "device");
    case CTP_GENERATOR: return ctp_generator_of && ctp_generator_of(o) != NULL;
    default: return 1;
    }
}

static const char *pytype_name(PyObject *o) {
    if (PyTensor_Check(o)) return "Tensor";
    return Py_TYPE(o)->tp_name;
}

int ctp_parse(const ctp_sig *s, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, PyObject **out,
              int raise_error) {
    PyObject *packed = NULL;
    for (int i = 0; i < s->nparams; i++) out[i] = NULL;
    Py_ssize_t npos = nargs;
    /* varargs sizes: f(2, 3) for f(int[] size, ...); as torch, only when the int list is
     * the one positional parameter (so x.roll(1, 0) is shifts=1, dims=0) */
    if (s->nparams > 0 && s->p[0].kind == CTP_INTLIST && !s->p[0].kwonly && s->npos == 1 && nargs >= 1 &&
        is_int_like(args[0])) {
        Py_ssize_t run = 1;
        while (run < nargs && is_int_like(args[run])) run++;
        if (run > 1 || nargs > s->npos) {
            Py_ssize_t rest = nargs - run;
            if (rest <= s->npos - 1) {
                packed = PyTuple_New(run);
                if (!packed) return -1;
                for (Py_ssize_t i = 0; i < run; i++) PyTuple_SET_ITEM(packed, i, Py_NewRef(args[i]));
                out[0] = packed;
                for (Py_ssize_t i = 0; i < rest; i++) out[1 + i] = args[run + i];
                npos = -1; /* consumed */
            }
        }
    }
    if (npos >= 0) {
        if (npos > s->npos) {
            if (raise_error)
                PyErr_Format(PyExc_TypeError, "%s() takes %d positional argument%s but %zd were given", s->name,
                             s->npos, s->npos == 1 ? "" : "s", npos);
            goto fail;
        }
        for (Py_ssize_t i = 0; i < npos; i++) out[i] = args[i];
    }
    if (kwnames) {
        Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t k = 0; k < nk; k++) {
            PyObject *key = PyTuple_GET_ITEM(kwnames, k);
            int found = -1;
            for (int i = 0; i < s->nparams; i++)
                if (s->p[i].name == key) {
                    found = i;
                    break;
                }
            if (found < 0)
                for (int i = 0; i < s->nparams; i++)
                    if (PyUnicode_Compare(s->p[i].name, key) == 0) {
                        found = i;
                        break;
                    }
            if (found < 0) {
                if (raise_error)
                    PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", s->name, key);
                goto fail;
            }
            if (out[found]) {
                if (raise_error)
                    PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%U'", s->name, key);
                goto fail;
            }
            out[found] = args[nargs + k];
        }
    }
    for (int i = 0; i < s->nparams; i++) {
        const ctp_param *p = &s->p[i];
        if (!out[i]) {
            if (!p->deflt) {
                if (raise_error)
                    PyErr_Format(PyExc_TypeError, "%s() missing required argument '%U' (pos %d)", s->name, p->name,
                                 i + 1);
                goto fail;
            }
            out[i] = p->deflt;
            continue;
        }
        if (out[i] == Py_None && (p->optional || p->kind == CTP_ANY)) continue;
        if (!type_ok(p, out[i])) {
            if (raise_error) {
                if (i < nargs)
                    PyErr_Format(PyExc_TypeError, "%s(): argument '%U' (position %d) must be %s, not %s", s->name,
                                 p->name, i + 1, p->type_name, pytype_name(out[i]));
                else
                    PyErr_Format(PyExc_TypeError, "%s(): argument '%U' must be %s, not %s", s->name, p->name,
                                 p->type_name, pytype_name(out[i]));
            }
            goto fail;
        }
    }
    if (packed) {
        /* keep the packed tuple alive for the call: park it in a thread-local slot */
        static _Thread_local PyObject *keep = NULL;
        Py_XSETREF(keep, packed);
    }
    return 0;
fail:
    Py_XDECREF(packed);
    return -1;
}

/* ------------------------------------------------------------------ tracer (NOTE [Op tracer]) */

PyObject *ctp_tracer = NULL;

static PyObject *trace_call(const char *name, PyObject *names, PyObject *vals, PyObject *res) {
    PyObject *tr = ctp_tracer, *ok = NULL;
    if (names && vals) {
        ctp_tracer = NULL; /* ops the callback runs are not traced */
        ok = PyObject_CallFunction(tr, "sOOO", name, names, vals, res);
        ctp_tracer = tr;
    }
    Py_XDECREF(names);
    Py_XDECREF(vals);
    if (!ok) {
        Py_DECREF(res);
        return NULL;
    }
    Py_DECREF(ok);
    return res;
}

PyObject *ctp_trace_sig(const char *name, const ctp_sig *s, PyObject *const *a, int has_self, PyObject *res) {
    int n = s->nparams + (has_self ? 1 : 0);
    PyObject *names = PyTuple_New(n), *vals = PyTuple_New(n);
    if (names && vals) {
        for (int i = 0; i < n; i++) {
            PyObject *nm = has_self ? (i == 0 ? PyUnicode_InternFromString("self") : Py_NewRef(s->p[i - 1].name))
                                    : Py_NewRef(s->p[i].name);
            PyTuple_SET_ITEM(names, i, nm);
            PyTuple_SET_ITEM(vals, i, Py_NewRef(a[i] ? a[i] : Py_None));
        }
    }
    return trace_call(name, names, vals, res);
}

PyObject *ctp_trace_op(const char *name, PyObject *res, int n, ...) {
    PyObject *names = PyTuple_New(n), *vals = PyTuple_New(n);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *nm = va_arg(ap, const char *);
        PyObject *v = va_arg(ap, PyObject *);
        if (names && vals) {
            PyTuple_SET_ITEM(names, i, PyUnicode_InternFromString(nm));
            PyTuple_SET_ITEM(vals, i, Py_NewRef(v ? v : Py_None));
        }
    }
    va_end(ap);
    return trace_call(name, names, vals, res);
}

static void describe_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "(");
    Py_ssize_t nk = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nargs + nk && k < n; i++) {
        const char *tn = pytype_name(args[i]);
        if (i < nargs)
            k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? ", " : "", tn);
        else
            k += (size_t)snprintf(buf + k, n - k, "%s%s=%s", i ? ", " : "",
                                  PyUnicode_AsUTF8(PyTuple_GET_ITEM(kwnames, i - nargs)), tn);
    }
    if (k < n) snprintf(buf + k, n - k, ")");
}

PyObject *ctp_dispatch(ctp_overload *ovs, const char *name, PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                       PyObject *kwnames) {
    PyObject *a[CTP_MAX_PARAMS + 1];
    int off = self ? 1 : 0;
    if (self) a[0] = self;
    int nov = 0;
    for (ctp_overload *o = ovs; o->sig; o++) nov++;
    for (ctp_overload *o = ovs; o->sig; o++) {
        if (ctp_parse(o->parsed, args, nargs, kwnames, a + off, nov == 1) == 0) {
            PyObject *r = o->call(a, self);
            if (ctp_tracer && r) return ctp_trace_sig(name, o->parsed, a, self != NULL, r);
            return r;
        }
        if (nov == 1) return NULL;
        if (PyErr_Occurred()) return NULL;
    }
    char got[512];
    describe_args(args, nargs, kwnames, got, sizeof got);
    PyObject *msg = PyUnicode_FromFormat("%s() received an invalid combination of arguments - got %s, but expected "
                                         "one of:", name, got);
    for (ctp_overload *o = ovs; msg && o->sig; o++) {
        PyObject *m2 = PyUnicode_FromFormat("%U\n * %s", msg, o->parsed->display);
        Py_SETREF(msg, m2);
    }
    if (msg) {
        PyErr_SetObject(PyExc_TypeError, msg);
        Py_DECREF(msg);
    }
    return NULL;
}
