/* Tensor printing: Tensor.__repr__/__str__ and __format__, with torch's formatter rules
 * (integer / fixed / scientific modes, common width, line wrapping, summarization with
 * edge items) and the print options (set_printoptions / get_printoptions state).
 *
 * NOTE [ Printing semantics ]
 * The element set the formatter measures is the *summarized* data: along each dimension
 * of size > 2*edgeitems only the first and last edgeitems slices are visited when the
 * tensor has more than `threshold` elements. With edgeitems == 0 a 1-D tensor still
 * measures every element (torch's x[:0] ++ x[-0:] quirk) and higher ranks measure none. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../core/internal.h"
#include "argparse.h"

/* ------------------------------------------------------------------ options */

typedef struct {
    int64_t precision;
    double threshold;
    int threshold_is_float; /* how get_printoptions reports it */
    int64_t edgeitems;
    int64_t linewidth;
    int sci_mode; /* -1: automatic, 0/1 forced */
} print_opts;

static print_opts opts = {4, 1000.0, 0, 3, 80, -1};

/* ------------------------------------------------------------------ string buffer */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_reserve(sbuf *b, size_t extra) {
    if (b->oom || b->n + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1) cap *= 2;
    char *np = PyMem_Realloc(b->p, cap);
    if (!np) {
        b->oom = 1;
        return;
    }
    b->p = np;
    b->cap = cap;
}
static void sb_putn(sbuf *b, const char *s, size_t n) {
    sb_reserve(b, n);
    if (b->oom) return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }
static void sb_spaces(sbuf *b, int64_t n) {
    if (n <= 0) return;
    sb_reserve(b, (size_t)n);
    if (b->oom) return;
    memset(b->p + b->n, ' ', (size_t)n);
    b->n += (size_t)n;
    b->p[b->n] = 0;
}

/* ------------------------------------------------------------------ formatter */

typedef struct {
    int floating;
    int int_mode;
    int sci_mode;
    int64_t max_width;
    int64_t prec;
    /* measuring state */
    int any;
    double amin, amax;
    char *tmp; /* scratch for one number */
    size_t tmpcap;
} formatter;

/* Python's float formatting for 'f'/'e' with a precision: C's printf except that NaN
 * never carries a sign. Writes into f->tmp and returns its length. */
static int64_t fmt_float(formatter *f, double v, char conv, int64_t prec) {
    if (isnan(v)) return (int64_t)snprintf(f->tmp, f->tmpcap, "nan");
    if (isinf(v)) return (int64_t)snprintf(f->tmp, f->tmpcap, v < 0 ? "-inf" : "inf");
    const char *fmt = conv == 'e' ? "%.*e" : "%.*f";
    return (int64_t)snprintf(f->tmp, f->tmpcap, fmt, (int)prec, v);
}

/* str() of a non-floating element. */
static int64_t fmt_int(formatter *f, const char *p, int dtype) {
    if (dtype == CT_BOOL) return (int64_t)snprintf(f->tmp, f->tmpcap, "%s", *(const uint8_t *)p ? "True" : "False");
    return (int64_t)snprintf(f->tmp, f->tmpcap, "%lld", (long long)ct_load_i64(p, dtype));
}

typedef void (*visit_fn)(formatter *f, const char *p, int dtype);

/* Visit the summarized element set (see the NOTE at the top). */
static void visit_rec(const ct_tensor *t, const char *p, int d, int summarize, visit_fn fn, formatter *f) {
    if (d == t->ndim) {
        fn(f, p, t->dtype);
        return;
    }
    int64_t n = t->sizes[d], e = opts.edgeitems;
    int64_t step = t->strides[d] * (int64_t)ct_dtype_size(t->dtype);
    if (summarize && n > 2 * e) {
        for (int64_t i = 0; i < e; i++) visit_rec(t, p + i * step, d + 1, summarize, fn, f);
        for (int64_t i = n - e; i < n; i++) visit_rec(t, p + i * step, d + 1, summarize, fn, f);
    } else {
        for (int64_t i = 0; i < n; i++) visit_rec(t, p + i * step, d + 1, summarize, fn, f);
    }
}

static void visit(const ct_tensor *t, int summarize, visit_fn fn, formatter *f) {
    if (summarize && opts.edgeitems <= 0 && t->ndim >= 2) return;
    visit_rec(t, ct_tensor_data(t), 0, summarize && !(opts.edgeitems <= 0 && t->ndim == 1), fn, f);
}

static void v_int_width(formatter *f, const char *p, int dtype) {
    int64_t w = fmt_int(f, p, dtype);
    if (w > f->max_width) f->max_width = w;
}

static void v_stats(formatter *f, const char *p, int dtype) {
    double v = ct_load_f64(p, dtype);
    if (!isfinite(v) || v == 0) return;
    double a = fabs(v);
    if (!f->any) {
        f->amin = f->amax = a;
        f->any = 1;
    } else {
        if (a < f->amin) f->amin = a;
        if (a > f->amax) f->amax = a;
    }
    if (v != ceil(v)) f->int_mode = 0;
}

static void v_float_width(formatter *f, const char *p, int dtype) {
    double v = ct_load_f64(p, dtype);
    if (!isfinite(v) || v == 0) return;
    int64_t w;
    if (f->sci_mode)
        w = fmt_float(f, v, 'e', f->prec);
    else if (f->int_mode)
        w = fmt_float(f, v, 'f', 0) + 1;
    else
        w = fmt_float(f, v, 'f', f->prec);
    if (w > f->max_width) f->max_width = w;
}

static int formatter_init(formatter *f, const ct_tensor *t, int summarize) {
    memset(f, 0, sizeof *f);
    f->floating = ct_dtype_is_floating(t->dtype);
    f->int_mode = 1;
    f->max_width = 1;
    f->prec = 0; /* set below once the precision is actually used */
    f->tmpcap = 400;
    f->tmp = PyMem_Malloc(f->tmpcap);
    if (!f->tmp) return (PyErr_NoMemory(), -1);
    if (!f->floating) {
        visit(t, summarize, v_int_width, f);
        return 0;
    }
    visit(t, summarize, v_stats, f);
    if (!f->any) {
        f->int_mode = 1;
        return 0;
    }
    if (opts.sci_mode < 0)
        f->sci_mode = f->amax / f->amin > 1000.0 || f->amax > 1.0e8 || f->amin < 1.0e-4;
    else
        f->sci_mode = opts.sci_mode;
    if (f->sci_mode || !f->int_mode) {
        /* Python's format() rules for the "{:.{precision}f}" torch builds */
        if (opts.precision < 0) {
            PyErr_SetString(PyExc_ValueError, "Format specifier missing precision");
            return -1;
        }
        if (opts.precision > INT_MAX) {
            PyErr_SetString(PyExc_ValueError, "precision too big");
            return -1;
        }
        f->prec = opts.precision;
        char *np = PyMem_Realloc(f->tmp, 400 + (size_t)f->prec);
        if (!np) return (PyErr_NoMemory(), -1);
        f->tmp = np;
        f->tmpcap = 400 + (size_t)f->prec;
    }
    visit(t, summarize, v_float_width, f);
    return 0;
}

/* Append one formatted element, right-aligned to the common width. */
static void format_elem(formatter *f, sbuf *b, const char *p, int dtype) {
    int64_t n;
    if (f->floating) {
        double v = ct_load_f64(p, dtype);
        if (f->sci_mode) {
            n = fmt_float(f, v, 'e', f->prec);
        } else if (f->int_mode) {
            n = fmt_float(f, v, 'f', 0);
            if (isfinite(v)) f->tmp[n++] = '.', f->tmp[n] = 0;
        } else {
            n = fmt_float(f, v, 'f', f->prec);
        }
    } else {
        n = fmt_int(f, p, dtype);
    }
    sb_spaces(b, f->max_width - n);
    sb_putn(b, f->tmp, (size_t)n);
}

static void vector_str(formatter *f, sbuf *b, const ct_tensor *t, const char *p, int64_t indent, int summarize) {
    int64_t elen = f->max_width + 2;
    double per = floor((double)(opts.linewidth - indent) / (double)elen);
    int64_t per_line = per < 1 ? 1 : (int64_t)per;
    int64_t n = t->sizes[t->ndim - 1], e = opts.edgeitems;
    int64_t step = t->strides[t->ndim - 1] * (int64_t)ct_dtype_size(t->dtype);
    sb_puts(b, "[");
    if (summarize && e <= 0) {
        sb_puts(b, "...]");
        return;
    }
    int gap = summarize && n > 2 * e;
    int64_t count = gap ? 2 * e + 1 : n; /* items including the " ..." marker */
    for (int64_t k = 0; k < count; k++) {
        if (k > 0) {
            if (k % per_line == 0) {
                sb_puts(b, ",\n");
                sb_spaces(b, indent + 1);
            } else {
                sb_puts(b, ", ");
            }
        }
        if (gap && k == e) {
            sb_puts(b, " ...");
            continue;
        }
        int64_t i = gap && k > e ? n - e + (k - e - 1) : k;
        format_elem(f, b, p + i * step, t->dtype);
    }
    sb_puts(b, "]");
}

static void tensor_str_rec(formatter *f, sbuf *b, const ct_tensor *t, const char *p, int d, int64_t indent,
                           int summarize) {
    int dim = t->ndim - d;
    if (dim == 0) {
        format_elem(f, b, p, t->dtype);
        return;
    }
    if (dim == 1) {
        /* vector_str reads the last dimension */
        vector_str(f, b, t, p, indent, summarize);
        return;
    }
    int64_t n = t->sizes[d], e = opts.edgeitems;
    int64_t step = t->strides[d] * (int64_t)ct_dtype_size(t->dtype);
    int gap = summarize && n > 2 * e;
    int64_t count = gap ? 2 * e + 1 : n;
    sb_puts(b, "[");
    for (int64_t k = 0; k < count; k++) {
        if (k > 0) {
            sb_puts(b, ",");
            for (int i = 0; i < dim - 1; i++) sb_puts(b, "\n");
            sb_spaces(b, indent + 1);
        }
        if (gap && k == e) {
            sb_puts(b, "...");
            continue;
        }
        int64_t i = gap && k > e ? n - e + (k - e - 1) : k;
        tensor_str_rec(f, b, t, p + i * step, d + 1, indent + 1, summarize);
    }
    sb_puts(b, "]");
}

/* ------------------------------------------------------------------ repr */

static void shape_tuple(sbuf *b, const ct_tensor *t) {
    char num[32];
    sb_puts(b, "(");
    for (int i = 0; i < t->ndim; i++) {
        snprintf(num, sizeof num, "%s%lld", i ? ", " : "", (long long)t->sizes[i]);
        sb_puts(b, num);
    }
    sb_puts(b, t->ndim == 1 ? ",)" : ")");
}

#define MAX_SUFFIX 4

PyObject *ctp_tensor_repr(PyObject *self) {
    ct_tensor *t = ctp_t(self);
    sbuf b = {0};
    sbuf suf[MAX_SUFFIX] = {{0}};
    int nsuf = 0;
    PyObject *result = NULL;
    formatter f = {0};

    /* prefix */
    PyTypeObject *tp = Py_TYPE(self);
    PyObject *tname = NULL;
    if (tp == ctp_Tensor_Type) {
        sb_puts(&b, "tensor(");
    } else {
        tname = PyObject_GetAttrString((PyObject *)tp, "__name__");
        const char *nm = tname ? PyUnicode_AsUTF8(tname) : NULL;
        if (!nm) goto done;
        if (!strcmp(nm, "Parameter")) nm = "tensor";
        sb_puts(&b, nm);
        sb_puts(&b, "(");
    }
    int64_t indent = (int64_t)b.n;

    int dt = t->dtype, defdt = ct_get_default_dtype();
    if (t->numel == 0) {
        if (t->ndim != 1) {
            sb_puts(&suf[nsuf], "size=");
            shape_tuple(&suf[nsuf++], t);
        }
        if (dt != defdt) {
            sb_puts(&suf[nsuf], "dtype=torch.");
            sb_puts(&suf[nsuf++], ct_dtype_name(dt));
        }
        sb_puts(&b, "[]");
    } else {
        if (opts.edgeitems == 0) {
            sb_puts(&suf[nsuf], "size=");
            shape_tuple(&suf[nsuf++], t);
        }
        if (dt != defdt && dt != CT_INT64 && dt != CT_BOOL) {
            sb_puts(&suf[nsuf], "dtype=torch.");
            sb_puts(&suf[nsuf++], ct_dtype_name(dt));
        }
        int summarize = (double)t->numel > opts.threshold;
        if (formatter_init(&f, t, summarize)) goto done;
        tensor_str_rec(&f, &b, t, ct_tensor_data(t), 0, indent, summarize);
    }

    /* grad_fn / requires_grad */
    PyObject *gf = PyObject_GetAttrString(self, "grad_fn");
    if (!gf) goto done;
    if (gf != Py_None) {
        PyObject *gname = PyObject_CallMethod(gf, "name", NULL); /* the node's name, e.g. MulBackward0 */
        const char *gn = gname ? PyUnicode_AsUTF8(gname) : NULL;
        if (!gn) {
            Py_XDECREF(gname);
            Py_DECREF(gf);
            goto done;
        }
        sb_puts(&suf[nsuf], "grad_fn=<");
        sb_puts(&suf[nsuf], gn);
        sb_puts(&suf[nsuf++], ">");
        Py_DECREF(gname);
    } else if (ct_tensor_requires_grad(t)) {
        sb_puts(&suf[nsuf++], "requires_grad=True");
    }
    Py_DECREF(gf);

    /* torch's _add_suffixes, including its line-length arithmetic */
    const char *nl = b.p ? strrchr(b.p, '\n') : NULL;
    int64_t last = (int64_t)b.n - (nl ? (int64_t)(nl - b.p) : -1) + 1;
    for (int i = 0; i < nsuf; i++) {
        int64_t sl = (int64_t)suf[i].n;
        if (last + sl + 2 > opts.linewidth) {
            sb_puts(&b, ",\n");
            sb_spaces(&b, indent);
            last = indent + sl;
        } else {
            sb_puts(&b, ", ");
            last += sl + 2;
        }
        sb_putn(&b, suf[i].p, suf[i].n);
        if (suf[i].oom) b.oom = 1;
    }
    sb_puts(&b, ")");
    if (b.oom)
        PyErr_NoMemory();
    else
        result = PyUnicode_FromStringAndSize(b.p, (Py_ssize_t)b.n);
done:
    Py_XDECREF(tname);
    PyMem_Free(f.tmp);
    PyMem_Free(b.p);
    for (int i = 0; i < MAX_SUFFIX; i++) PyMem_Free(suf[i].p);
    return result;
}

/* str(t) is repr(t), through the type so that a subclass overriding __repr__ gets it for
 * str() too (as object.__str__ does for torch.Tensor). */
PyObject *ctp_tensor_str(PyObject *self) { return PyObject_Repr(self); }

/* Tensor.__format__: 0-dim plain tensors format their Python number; otherwise only the
 * empty spec is accepted (as object.__format__). */
static PyObject *tensor_format(PyObject *self, PyObject *spec) {
    if (!PyUnicode_Check(spec)) return PyErr_Format(PyExc_TypeError, "format spec must be a str");
    ct_tensor *t = ctp_t(self);
    if (t->ndim == 0 && Py_TYPE(self) == ctp_Tensor_Type) {
        ct_scalar s;
        if (ct_item(t, &s)) return ctp_raise_ct_error();
        PyObject *num = ctp_from_scalar(s);
        if (!num) return NULL;
        PyObject *r = PyObject_Format(num, spec);
        Py_DECREF(num);
        return r;
    }
    if (PyUnicode_GetLength(spec) > 0)
        return PyErr_Format(PyExc_TypeError, "unsupported format string passed to %s.__format__",
                            Py_TYPE(self)->tp_name[0] && strrchr(Py_TYPE(self)->tp_name, '.')
                                ? strrchr(Py_TYPE(self)->tp_name, '.') + 1
                                : Py_TYPE(self)->tp_name);
    return PyObject_Str(self);
}

/* ------------------------------------------------------------------ options API */

static PyObject *py_set_printoptions(PyObject *m, PyObject *args, PyObject *kwargs) {
    (void)m;
    static char *kwlist[] = {"precision", "threshold", "edgeitems", "linewidth", "profile", "sci_mode", NULL};
    PyObject *precision = Py_None, *threshold = Py_None, *edgeitems = Py_None, *linewidth = Py_None,
             *profile = Py_None, *sci = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OOOOOO:set_printoptions", kwlist, &precision, &threshold,
                                     &edgeitems, &linewidth, &profile, &sci))
        return NULL;
    print_opts o = opts;
    if (profile != Py_None) {
        const char *p = PyUnicode_Check(profile) ? PyUnicode_AsUTF8(profile) : "";
        if (!p) return NULL;
        if (!strcmp(p, "default")) {
            o.precision = 4, o.threshold = 1000, o.threshold_is_float = 0, o.edgeitems = 3, o.linewidth = 80;
        } else if (!strcmp(p, "short")) {
            o.precision = 2, o.threshold = 1000, o.threshold_is_float = 0, o.edgeitems = 2, o.linewidth = 80;
        } else if (!strcmp(p, "full")) {
            o.precision = 4, o.threshold = INFINITY, o.threshold_is_float = 1, o.edgeitems = 3, o.linewidth = 80;
        }
    }
    long long v;
    if (precision != Py_None) {
        if ((v = PyLong_AsLongLong(precision)) == -1 && PyErr_Occurred()) return NULL;
        o.precision = v;
    }
    if (threshold != Py_None) {
        double d = PyFloat_AsDouble(threshold);
        if (d == -1.0 && PyErr_Occurred()) return NULL;
        o.threshold = d;
        o.threshold_is_float = !PyLong_Check(threshold);
    }
    if (edgeitems != Py_None) {
        if ((v = PyLong_AsLongLong(edgeitems)) == -1 && PyErr_Occurred()) return NULL;
        o.edgeitems = v;
    }
    if (linewidth != Py_None) {
        if ((v = PyLong_AsLongLong(linewidth)) == -1 && PyErr_Occurred()) return NULL;
        o.linewidth = v;
    }
    if (sci == Py_None) {
        o.sci_mode = -1;
    } else {
        int b = PyObject_IsTrue(sci);
        if (b < 0) return NULL;
        o.sci_mode = b;
    }
    opts = o;
    Py_RETURN_NONE;
}

static PyObject *py_get_printoptions(PyObject *m, PyObject *unused) {
    (void)m;
    (void)unused;
    PyObject *thr = opts.threshold_is_float || !isfinite(opts.threshold) ? PyFloat_FromDouble(opts.threshold)
                                                                          : PyLong_FromDouble(opts.threshold);
    PyObject *sci = opts.sci_mode < 0 ? Py_NewRef(Py_None) : PyBool_FromLong(opts.sci_mode);
    if (!thr || !sci) {
        Py_XDECREF(thr);
        Py_XDECREF(sci);
        return NULL;
    }
    return Py_BuildValue("{s:L,s:N,s:L,s:L,s:N}", "precision", (long long)opts.precision, "threshold", thr,
                         "edgeitems", (long long)opts.edgeitems, "linewidth", (long long)opts.linewidth, "sci_mode",
                         sci);
}

static PyMethodDef repr_functions[] = {
    {"set_printoptions", (PyCFunction)(void (*)(void))py_set_printoptions, METH_VARARGS | METH_KEYWORDS, NULL},
    {"get_printoptions", py_get_printoptions, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyMethodDef repr_methods[] = {{"__format__", tensor_format, METH_O, NULL}, {NULL, NULL, 0, NULL}};

/* Add methods to the (heap) Tensor type after it was created. 0 on success. */
int ctp_add_tensor_methods(PyMethodDef *defs) {
    for (PyMethodDef *d = defs; d->ml_name; d++) {
        PyObject *descr = PyDescr_NewMethod(ctp_Tensor_Type, d);
        if (!descr) return -1;
        int rc = PyObject_SetAttrString((PyObject *)ctp_Tensor_Type, d->ml_name, descr);
        Py_DECREF(descr);
        if (rc) return -1;
    }
    return 0;
}

int ctp_init_repr(PyObject *m) {
    if (PyModule_AddFunctions(m, repr_functions) < 0) return -1;
    return ctp_add_tensor_methods(repr_methods);
}
