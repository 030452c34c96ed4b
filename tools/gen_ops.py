#!/usr/bin/env python3
"""Generate the C API header and the Python bindings from the op table (src/ops/*.ops).

Each non-comment line of an .ops file declares one op overload:

    name[.overload](params) -> returns  | attrs

params use torch's schema vocabulary (see TYPES below); `*` starts keyword-only params.
attrs (space separated):
    function      expose as ctorch.<name> (or ctorch.<ns>.<pyname>)
    method        expose as Tensor.<name>
    out           add a keyword-only `out=` to the Python signature (written by copy)
    out_exact     with out: the out= tensor must have exactly the result's dtype (torch's
                  "Found dtype Double but expected Float" ops: abs, floor, clamp, where ...)
    ns=NAME       Python namespace: linalg, nn (ctorch.nn.functional backing), special, fft
    py=NAME       Python name (default: table name with the `ns_` prefix stripped)
    manual        the Python binding is hand-written (src/python); listed here for the record
    autograd      recorded by autograd: the generated ct_<cname> calls the hand-written kernel
                  ct_<cname>_impl, then (grad mode on) the hand-written maker ctg_<cname>(results...,
                  params...) in src/autograd/, which records the node when an input requires grad
    autograd=inplace
                  for in-place ops (name ends in _): with grad recording needed, runs the
                  out-of-place op (which records) and commits the result into self, rebasing
                  self's history; otherwise calls ct_<cname>_impl

Outputs (argv): <ops_gen.h> <bindings_gen.c> <autograd_gen.c>
"""
import os
import re
import sys

TYPES = {
    # schema type: (C parameter type, converter kind)
    "Tensor": ("ct_tensor *", "tensor"),
    "Tensor?": ("ct_tensor *", "tensor_opt"),
    "TensorOrScalar": ("ct_tensor *", "tensor_or_scalar"),
    "Tensor[]": ("ct_tensorlist", "tensorlist"),
    "Tensor?[]": ("ct_tensorlist", "tensorlist_opt"),
    "Scalar": ("ct_scalar", "scalar"),
    "Scalar?": ("const ct_scalar *", "scalar_opt"),
    "int": ("int64_t", "int"),
    "int?": ("const int64_t *", "int_opt"),
    "int[]": ("ct_intlist", "intlist"),
    "int[]?": ("ct_intlist", "intlist_opt"),
    "float": ("double", "float"),
    "float?": ("const double *", "float_opt"),
    "bool": ("bool", "bool"),
    "bool?": ("const bool *", "bool_opt"),
    "str": ("const char *", "str"),
    "str?": ("const char *", "str_opt"),
    "ScalarType": ("int", "dtype"),
    "ScalarType?": ("int", "dtype_opt"),
    "Device?": ("int", "device_opt"),
    "Generator?": ("ct_generator *", "generator_opt"),
    "Layout?": (None, "ignored"),
    "MemoryFormat?": (None, "ignored"),
}

PARSE_KIND = {  # converter kind -> enum in src/python/argparse.h
    "tensor": "CTP_TENSOR", "tensor_opt": "CTP_TENSOR", "tensor_or_scalar": "CTP_TENSOR_OR_SCALAR",
    "tensorlist": "CTP_TENSORLIST", "tensorlist_opt": "CTP_TENSORLIST_OPT",
    "scalar": "CTP_SCALAR", "scalar_opt": "CTP_SCALAR",
    "int": "CTP_INT", "int_opt": "CTP_INT", "intlist": "CTP_INTLIST", "intlist_opt": "CTP_INTLIST",
    "float": "CTP_FLOAT", "float_opt": "CTP_FLOAT", "bool": "CTP_BOOL", "bool_opt": "CTP_BOOL",
    "str": "CTP_STR", "str_opt": "CTP_STR", "dtype": "CTP_DTYPE", "dtype_opt": "CTP_DTYPE",
    "device_opt": "CTP_DEVICE", "generator_opt": "CTP_GENERATOR", "ignored": "CTP_ANY",
}


class Param:
    def __init__(self, text, kwonly):
        m = re.match(r"^(\S+)\s+(\w+)(?:=(.*))?$", text.strip())
        if not m:
            raise SyntaxError("bad param: " + text)
        t, self.name, self.default = m.group(1), m.group(2), m.group(3)
        self.mutable = "!" in t
        t = re.sub(r"\(\w!?\)", "", t)
        t = re.sub(r"int\[\d+\]", "int[]", t)
        if t not in TYPES:
            raise SyntaxError("unknown type %r in %r" % (t, text))
        self.type = t
        self.ctype, self.kind = TYPES[t]
        self.kwonly = kwonly
        self.optional = t.endswith("?")


class Op:
    def __init__(self, line, src):
        decl, _, attrs = line.partition("|")
        m = re.match(r"^\s*([\w]+)(?:\.(\w+))?\((.*)\)\s*->\s*(.+?)\s*$", decl)
        if not m:
            raise SyntaxError("%s: bad op line: %s" % (src, line))
        self.name, self.overload, ptext, self.ret_text = m.groups()
        self.attrs = {}
        for a in attrs.split():
            k, _, v = a.partition("=")
            self.attrs[k] = v or True
        self.params = []
        kwonly = False
        for p in split_top(ptext):
            if p.strip() == "*":
                kwonly = True
                continue
            if p.strip():
                self.params.append(Param(p, kwonly))
        self.cname = self.attrs.get("c") or (self.name + ("_" + self.overload if self.overload else ""))
        ns = self.attrs.get("ns")
        default_py = self.name
        if ns and default_py.startswith(ns + "_"):
            default_py = default_py[len(ns) + 1:]
        self.pyname = self.attrs.get("py", default_py)
        self.ns = ns or ""
        self.parse_ret()
        self.src = src

    def parse_ret(self):
        r = self.ret_text.strip()
        self.ret_names = []
        if r in ("()", "None"):
            self.ret = "none"
        elif r.startswith("("):
            parts = split_top(r[1:-1])
            self.ret = "tuple"
            self.ret_n = len(parts)
            for p in parts:
                bits = p.split()
                self.ret_names.append(bits[1] if len(bits) > 1 else None)
        elif r.startswith("Tensor(a!)") or r.startswith("Tensor(a)"):
            self.ret = "self" if "!" in r else "tensor"
        elif r == "Tensor":
            self.ret = "tensor"
        elif r == "Tensor[]":
            self.ret = "tensorvec"
        elif r in ("Scalar", "bool", "int", "float"):
            self.ret = r.lower()
        else:
            raise SyntaxError("bad return " + r)

    def c_params(self):
        out = []
        for p in self.params:
            if p.ctype is not None:
                out.append("%s%s" % (p.ctype if p.ctype.endswith("*") else p.ctype + " ", p.name))
        return out

    def c_decl(self, suffix=""):
        ps = self.c_params()
        fn = "ct_" + self.cname + suffix
        if self.ret in ("tensor", "self"):
            return "ct_tensor *%s(%s)" % (fn, ", ".join(ps) or "void")
        if self.ret == "tensorvec":
            return "ct_tensorvec %s(%s)" % (fn, ", ".join(ps) or "void")
        if self.ret == "tuple":
            ps = ps + ["ct_tensor **out%d" % i for i in range(self.ret_n)]
        elif self.ret == "scalar":
            ps = ps + ["ct_scalar *result"]
        elif self.ret == "bool":
            ps = ps + ["bool *result"]
        elif self.ret == "int":
            ps = ps + ["int64_t *result"]
        elif self.ret == "float":
            ps = ps + ["double *result"]
        return "int %s(%s)" % (fn, ", ".join(ps) or "void")

    def py_signature(self, method):
        """Signature string parsed at import by the binding's argument parser."""
        parts = []
        star = False
        params = self.params
        if method:
            params = [p for p in params if p.name != "self"]
        for p in params:
            if p.kwonly and not star:
                parts.append("*")
                star = True
            name = "input" if p.name == "self" else p.name
            s = "%s %s" % (p.type, name)
            if p.default is not None:
                s += "=" + p.default
            parts.append(s)
        if "out" in self.attrs:
            if not star:
                parts.append("*")
                star = True
            parts.append("PyObject out=None" if self.ret == "tuple" else "Tensor? out=None")
        if "factory" in self.attrs:
            if not star:
                parts.append("*")
            parts.append("bool requires_grad=False")
            parts.append("bool pin_memory=False")
        return "%s(%s)" % (self.pyname, ", ".join(parts))


def split_top(s):
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def load(dirpath):
    ops = []
    for fn in sorted(os.listdir(dirpath)):
        if not fn.endswith(".ops"):
            continue
        with open(os.path.join(dirpath, fn)) as f:
            for i, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                ops.append(Op(line, "%s:%d" % (fn, i)))
    return ops


CONV = {  # converter kind -> C code converting parsed object `o` into variable `v`
    "tensor": "if (ctp_tensor(o, &v)) goto fail;",
    "tensor_opt": "if (ctp_tensor_opt(o, &v)) goto fail;",
    "tensor_or_scalar": "if (ctp_tensor_or_scalar(o, &v, &tmp[ntmp++])) goto fail;",
    "tensorlist": "if (ctp_tensorlist(o, &v, &lists[nlists++], 0)) goto fail;",
    "tensorlist_opt": "if (ctp_tensorlist(o, &v, &lists[nlists++], 1)) goto fail;",
    "scalar": "if (ctp_scalar(o, &v)) goto fail;",
    "int": "if (ctp_int(o, &v)) goto fail;",
    "intlist": "if (ctp_intlist(o, &v, &ibufs[nib++])) goto fail;",
    "intlist_opt": "if (ctp_intlist_opt(o, &v, &ibufs[nib++])) goto fail;",
    "float": "if (ctp_float(o, &v)) goto fail;",
    "bool": "if (ctp_bool(o, &v)) goto fail;",
    "str": "if (ctp_str(o, &v)) goto fail;",
    "str_opt": "if (ctp_str_opt(o, &v)) goto fail;",
    "dtype": "if (ctp_dtype(o, &v)) goto fail;",
    "dtype_opt": "if (ctp_dtype_opt(o, &v)) goto fail;",
    "device_opt": "if (ctp_device_opt(o, &v)) goto fail;",
    "generator_opt": "if (ctp_generator_opt(o, &v)) goto fail;",
}
OPT_SCALAR = {  # optional by-pointer kinds: storage type and converter
    "scalar_opt": ("ct_scalar", "ctp_scalar"),
    "int_opt": ("int64_t", "ctp_int"),
    "float_opt": ("double", "ctp_float"),
    "bool_opt": ("bool", "ctp_bool"),
}


WRITE_OUT_TUPLE = r"""/* out= of an op returning several tensors: a tuple/list of n tensors, each written like
 * a single out= (resized, cast-checked); returns them as the op's (named) tuple. Consumes rs. */
static PyObject *write_out_tuple(PyObject *outo, ct_tensor **rs, int n, PyTypeObject *st) {
    PyObject *res = NULL;
    if (!(PyTuple_Check(outo) || PyList_Check(outo)) || PySequence_Fast_GET_SIZE(outo) != n) {
        PyErr_Format(PyExc_TypeError, "argument 'out' must be tuple of %d Tensors, not %s", n, Py_TYPE(outo)->tp_name);
        goto done;
    }
    res = st ? PyStructSequence_New(st) : PyTuple_New(n);
    for (int k = 0; res && k < n; k++) {
        PyObject *w = ctp_write_out(PySequence_Fast_GET_ITEM(outo, k), rs[k]);
        if (!w) {
            Py_CLEAR(res);
            break;
        }
        if (st)
            PyStructSequence_SET_ITEM(res, k, w);
        else
            PyTuple_SET_ITEM(res, k, w);
    }
done:
    for (int k = 0; k < n; k++) ct_tensor_release(rs[k]);
    return res;
}
"""


def gen_caller(op, idx):
    """C function converting parsed PyObjects into C values and calling ct_<cname>."""
    L = []
    fname = "call_%d_%s" % (idx, op.cname)
    L.append("static PyObject *%s(PyObject **a, PyObject *self_obj) {" % fname)
    L.append("    ct_tensor *tmp[%d]; int ntmp = 0; (void)tmp;" % (len(op.params) + 1))
    L.append("    ctp_listbuf lists[%d]; int nlists = 0; (void)lists;" % (len(op.params) + 1))
    L.append("    ctp_intbuf ibufs[%d]; int nib = 0; (void)ibufs;" % (len(op.params) + 1))
    L.append("    PyObject *res = NULL; PyObject *o; (void)o; (void)self_obj;")
    args = []
    for i, p in enumerate(op.params):
        if p.kind == "ignored":
            continue
        v = "v%d" % i
        if p.kind in OPT_SCALAR:
            st, conv = OPT_SCALAR[p.kind]
            L.append("    %s %s_s; const %s *%s = NULL;" % (st, v, st, v))
            L.append("    o = a[%d]; if (o && o != Py_None) { if (%s(o, &%s_s)) goto fail; %s = &%s_s; }"
                     % (i, conv, v, v, v))
        else:
            L.append("    %s%s;" % (p.ctype if p.ctype.endswith("*") else p.ctype + " ", v))
            L.append("    o = a[%d]; %s" % (i, CONV[p.kind].replace("&v", "&" + v)))
        args.append(v)
    has_out = "out" in op.attrs
    rg_index = len(op.params) + (1 if has_out else 0)
    call = "ct_%s(%s" % (op.cname, ", ".join(args))
    sep = ", " if args else ""
    r = op.ret
    if r in ("tensor", "self"):
        L.append("    {")
        L.append("        ct_tensor *r = %s);" % call)
        L.append("        if (!r) goto fail;")
        if has_out:
            L.append("        PyObject *outo = a[%d];" % len(op.params))
            if "out_exact" in op.attrs:
                L.append("        if (outo && outo != Py_None && PyTensor_Check(outo) && ctp_t(outo)->dtype != r->dtype) {")
                L.append("            ct_errorf(CT_ERR_RUNTIME, \"Found dtype %s but expected %s\", ct_dtype_name(ctp_t(outo)->dtype), ct_dtype_name(r->dtype));")
                L.append("            ct_tensor_release(r); goto fail; }")
            L.append("        if (outo && outo != Py_None && ctp_out_autograd_check(\"%s\", outo, &r, 1, %s)) {"
                     " ct_tensor_release(r); goto fail; }" % (op.name, "true" if "autograd" in op.attrs else "false"))
            L.append("        if (outo && outo != Py_None) { res = ctp_write_out(outo, r); ct_tensor_release(r); goto done; }")
        if r == "self":
            L.append("        res = ctp_wrap_self(self_obj ? self_obj : a[0], r);")
        else:
            L.append("        res = ctp_wrap(r);")
        if "factory" in op.attrs:
            L.append("        if (res && ctp_factory_post(res, a[%d])) { Py_CLEAR(res); goto fail; }" % rg_index)
        L.append("    }")
    elif r == "tensorvec":
        L.append("    { ct_tensorvec r = %s); if (r.n < 0) goto fail; res = ctp_wrap_vec(r); }" % call)
    elif r == "tuple":
        outs = ", ".join("&r%d" % k for k in range(op.ret_n))
        L.append("    { ct_tensor %s;" % ", ".join("*r%d = NULL" % k for k in range(op.ret_n)))
        L.append("      if (%s%s%s)) goto fail;" % (call, sep, outs))
        L.append("      ct_tensor *rs[%d] = {%s};" % (op.ret_n, ", ".join("r%d" % k for k in range(op.ret_n))))
        st = "&rt_%s" % op.cname if any(op.ret_names) else "NULL"
        if has_out:  # out=(t0, t1, ...): each result written into its tensor, those returned
            L.append("      PyObject *outo = a[%d];" % len(op.params))
            L.append("      if (outo && outo != Py_None && ctp_out_autograd_check(\"%s\", outo, rs, %d, %s)) {"
                     " for (int k = 0; k < %d; k++) ct_tensor_release(rs[k]); goto fail; }"
                     % (op.name, op.ret_n, "true" if "autograd" in op.attrs else "false", op.ret_n))
            L.append("      if (outo && outo != Py_None) { res = write_out_tuple(outo, rs, %d, %s); goto done; }"
                     % (op.ret_n, st))
        L.append("      res = ctp_wrap_tuple(rs, %d, %s); }" % (op.ret_n, st))
    elif r == "scalar":
        L.append("    { ct_scalar r; if (%s%s&r)) goto fail; res = ctp_from_scalar(r); }" % (call, sep))
    elif r == "bool":
        L.append("    { bool r; if (%s%s&r)) goto fail; res = PyBool_FromLong(r); }" % (call, sep))
    elif r == "int":
        L.append("    { int64_t r; if (%s%s&r)) goto fail; res = PyLong_FromLongLong(r); }" % (call, sep))
    elif r == "float":
        L.append("    { double r; if (%s%s&r)) goto fail; res = PyFloat_FromDouble(r); }" % (call, sep))
    elif r == "none":
        L.append("    if (%s)) goto fail; res = Py_NewRef(Py_None);" % call)
    L.append("    goto done;")
    L.append("fail:")
    L.append("    if (!PyErr_Occurred()) ctp_raise_ct_error();")
    L.append("    res = NULL;")
    L.append("done:")
    L.append("    for (int k = 0; k < ntmp; k++) ct_tensor_release(tmp[k]);")
    L.append("    for (int k = 0; k < nlists; k++) ctp_listbuf_free(&lists[k]);")
    L.append("    for (int k = 0; k < nib; k++) ctp_intbuf_free(&ibufs[k]);")
    L.append("    return res;")
    L.append("}")
    return fname, "\n".join(L)


def maker_decl(op):
    ps = op.c_params()
    if op.ret in ("tensor", "self"):
        rs = ["ct_tensor *result"]
    elif op.ret == "tuple":
        rs = ["ct_tensor *result%d" % i for i in range(op.ret_n)]
    elif op.ret == "tensorvec":
        rs = ["ct_tensorvec *result"]
    else:
        raise SyntaxError("%s: autograd on an op returning %s" % (op.src, op.ret))
    return "int ctg_%s(%s)" % (op.cname, ", ".join(rs + ps))


def gen_autograd_wrapper(op):
    args = [p.name for p in op.params if p.ctype is not None]
    a = ", ".join(args)
    L = ["%s {" % op.c_decl()]
    if op.attrs["autograd"] == "inplace":
        base = op.name[:-1] + ("_" + op.overload if op.overload else "")
        tens = [p.name for p in op.params if p.kind in ("tensor", "tensor_opt", "tensor_or_scalar")]
        L.append("    ct_tensor *ins[%d] = {%s};" % (len(tens), ", ".join(tens)))
        L.append("    int k = ct_autograd_inplace_begin(self, %d, ins);" % len(tens))
        L.append("    if (k < 0) return NULL;")
        L.append("    if (k == 0) return ct_%s_impl(%s);" % (op.cname, a))
        L.append("    return ct_autograd_inplace_commit(self, ct_%s(%s));" % (base, a))
    elif op.ret in ("tensor", "self"):
        L.append("    ct_tensor *r = ct_%s_impl(%s);" % (op.cname, a))
        L.append("    if (r && ct_grad_enabled() && ctg_%s(r%s)) { ct_tensor_release(r); return NULL; }"
                 % (op.cname, (", " + a) if a else ""))
        L.append("    return r;")
    elif op.ret == "tuple":
        outs = ", ".join("out%d" % i for i in range(op.ret_n))
        L.append("    if (ct_%s_impl(%s)) return -1;" % (op.cname, ", ".join(args + ["out%d" % i for i in range(op.ret_n)])))
        L.append("    if (ct_grad_enabled() && ctg_%s(%s%s)) {" % (op.cname, ", ".join("*out%d" % i for i in range(op.ret_n)),
                                                                  (", " + a) if a else ""))
        for i in range(op.ret_n):
            L.append("        ct_tensor_release(*out%d); *out%d = NULL;" % (i, i))
        L.append("        return -1;")
        L.append("    }")
        L.append("    return 0;")
        del outs
    elif op.ret == "tensorvec":
        L.append("    ct_tensorvec r = ct_%s_impl(%s);" % (op.cname, a))
        L.append("    if (r.n >= 0 && ct_grad_enabled() && ctg_%s(&r%s)) { ct_tensorvec_release(r); return CT_TENSORVEC_ERR; }"
                 % (op.cname, (", " + a) if a else ""))
        L.append("    return r;")
    L.append("}")
    return "\n".join(L) + "\n"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    opsdir = os.path.join(here, "..", "src", "ops")
    ops = load(opsdir)
    hdr_path, c_path = sys.argv[1], sys.argv[2]

    H = ["/* Generated by tools/gen_ops.py from the op table (src/ops/NAME.ops): the C API of every op. Do not edit. */",
         "#ifndef CTORCH_OPS_GEN_H", "#define CTORCH_OPS_GEN_H", "#include \"ctorch/core.h\"",
         "#ifdef __cplusplus", "extern \"C\" {", "#endif"]
    for op in ops:
        if "manual" in op.attrs and op.attrs.get("manual") is True and any(p.ctype is None and p.kind != "ignored" for p in op.params):
            continue
        H.append("/* %s  [%s] */" % (op.c_decl().replace("ct_", "", 0), op.src))
        H.append("CT_API %s;" % op.c_decl())
        if "autograd" in op.attrs:
            H.append("%s;" % op.c_decl("_impl"))
            if op.attrs["autograd"] is True:
                H.append("%s;" % maker_decl(op))
    H += ["#ifdef __cplusplus", "}", "#endif", "#endif", ""]

    C = ["/* Generated by tools/gen_ops.py from the op table (src/ops/NAME.ops): Python bindings. Do not edit. */",
         "#include \"python/argparse.h\"", ""]
    if any(op.ret == "tuple" and "out" in op.attrs and "manual" not in op.attrs for op in ops):
        C.append(WRITE_OUT_TUPLE)
    groups = {}  # (kind, ns, pyname) -> [(op, caller)]
    structseqs = []
    for idx, op in enumerate(ops):
        if "manual" in op.attrs:
            continue
        fname, body = gen_caller(op, idx)
        C.append(body)
        C.append("")
        if op.ret == "tuple" and any(op.ret_names):
            structseqs.append(op)
        if "function" in op.attrs:
            groups.setdefault(("fn", op.ns, op.pyname), []).append((op, fname, False))
        if "method" in op.attrs:
            groups.setdefault(("m", "", op.pyname), []).append((op, fname, True))
    # named-tuple return types
    for op in structseqs:
        fields = ", ".join('{"%s", NULL}' % n for n in op.ret_names)
        C.insert(2, "static PyStructSequence_Field rtf_%s[] = {%s, {NULL, NULL}};" % (op.cname, fields))
        C.insert(3, "static PyStructSequence_Desc rtd_%s = {\"ctorch.return_types.%s\", NULL, rtf_%s, %d};"
                 % (op.cname, op.name, op.cname, op.ret_n))
        C.insert(4, "static PyTypeObject rt_%s;" % op.cname)
    # overload sets
    tables = {"fn": {}, "m": {}}
    for (kind, ns, pyname), lst in groups.items():
        key = "%s_%s_%s" % (kind, ns or "top", pyname)
        sigs = ", ".join('{"%s", %s, NULL}' % (op.py_signature(meth), fn) for op, fn, meth in lst)
        C.append("static ctp_overload ov_%s[] = {%s, {NULL, NULL, NULL}};" % (key, sigs))
        if kind == "m":
            C.append("static PyObject *py_%s(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {"
                     " return ctp_dispatch(ov_%s, \"%s\", self, args, nargs, kwnames); }" % (key, key, pyname))
        else:
            C.append("static PyObject *py_%s(PyObject *mod, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {"
                     " (void)mod; return ctp_dispatch(ov_%s, \"%s\", NULL, args, nargs, kwnames); }" % (key, key, pyname))
        tables[kind].setdefault(ns, []).append((pyname, key))
    C.append("")
    for kind in ("fn", "m"):
        for ns, entries in sorted(tables[kind].items()):
            tname = "ctp_%s_%s" % ("methods" if kind == "m" else "functions", ns or "top")
            C.append("PyMethodDef %s[] = {" % tname)
            for pyname, key in sorted(entries):
                C.append('    {"%s", (PyCFunction)(void (*)(void))py_%s, METH_FASTCALL | METH_KEYWORDS, NULL},' % (pyname, key))
            C.append("    {NULL, NULL, 0, NULL}};")
    # namespace registry
    C.append("const ctp_namespace ctp_namespaces[] = {")
    for ns in sorted(tables["fn"]):
        C.append('    {"%s", ctp_functions_%s},' % (ns, ns or "top"))
    C.append("    {NULL, NULL}};")
    C.append("PyMethodDef *ctp_tensor_methods_gen = %s;" % ("ctp_methods_top" if "" in tables["m"] else "NULL"))
    # overload parse at import, structseq init
    C.append("int ctp_init_generated(PyObject *rtmod) {")
    for (kind, ns, pyname), lst in groups.items():
        key = "%s_%s_%s" % (kind, ns or "top", pyname)
        C.append("    if (ctp_prepare(ov_%s)) return -1;" % key)
    for op in structseqs:
        C.append("    if (PyStructSequence_InitType2(&rt_%s, &rtd_%s) < 0) return -1;" % (op.cname, op.cname))
        C.append("    Py_INCREF(&rt_%s); if (PyModule_AddObject(rtmod, \"%s\", (PyObject *)&rt_%s) < 0) return -1;"
                 % (op.cname, op.name, op.cname))
    C.append("    return 0;")
    C.append("}")
    A = ["/* Generated by tools/gen_ops.py: autograd-recording wrappers of ops marked `autograd`. */",
         "#include \"ctorch/autograd.h\"", "#include \"ctorch/ops_gen.h\"", "",
         "int ct_autograd_inplace_begin(ct_tensor *self, int n, ct_tensor *const *inputs);",
         "ct_tensor *ct_autograd_inplace_commit(ct_tensor *self, ct_tensor *result);", ""]
    for op in ops:
        if "autograd" in op.attrs:
            A.append(gen_autograd_wrapper(op))
    with open(sys.argv[3], "w") as f:
        f.write("\n".join(A) + "\n")
    with open(hdr_path, "w") as f:
        f.write("\n".join(H))
    with open(c_path, "w") as f:
        f.write("\n".join(C) + "\n")


if __name__ == "__main__":
    main()
