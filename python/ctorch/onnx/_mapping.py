"""Traced ops -> ONNX nodes (opset 13..17). One handler per traced op name; a handler gets the
exporter (node emission, value names, constants, dynamic sizes), the op's parsed arguments
(names as in the op table, a method's self as "input") and its result, and returns the ONNX
name(s) of the result."""
import math

import ctorch as _ct
from ctorch import _C

INT64_MAX = 2 ** 63 - 1
INT64_MIN = -2 ** 63


class OnnxExporterError(RuntimeError):
    pass


class UnsupportedOperatorError(OnnxExporterError):
    pass


_ELEM = {}


def _elem(dt):
    if not _ELEM:
        for name, code in (("float32", 1), ("uint8", 2), ("int8", 3), ("int16", 5), ("int32", 6), ("int64", 7),
                           ("bool", 9), ("float16", 10), ("float64", 11), ("bfloat16", 16)):
            _ELEM[getattr(_ct, name)] = code
    return _ELEM[dt]


def _is_tensor(o):
    return isinstance(o, _ct.Tensor)


def _layout_key(t):
    return (t.data_ptr(), tuple(t.shape), tuple(t.stride()), t.dtype) if t.numel() else ("empty", id(t))


def _is_num(o):
    return isinstance(o, (bool, int, float)) and not _is_tensor(o)


def _tensors_in(o):
    if _is_tensor(o):
        yield o
    elif isinstance(o, (list, tuple)):
        for x in o:
            yield from _tensors_in(x)


def _ilist(v):
    if v is None:
        return None
    if isinstance(v, int):
        return [v]
    if _is_tensor(v):
        return [int(x) for x in v.tolist()] if v.dim() else [int(v)]
    return [int(x) for x in v]


HANDLERS = {}


def handles(*names):
    def deco(fn):
        for n in names:
            HANDLERS[n] = fn
        return fn
    return deco


class Exporter:
    def __init__(self, opset, records, records2, inputs, inputs2, input_names, outputs, outputs2, output_names,
                 params, dynamic_axes, export_params=True, keep_initializers_as_inputs=False):
        self.opset = opset
        self.records, self.records2 = records, records2
        self.inputs, self.inputs2, self.input_names = inputs, inputs2, input_names
        self.outputs, self.outputs2, self.output_names = outputs, outputs2, output_names
        self.params = params
        self.dyn = dynamic_axes
        self.export_params = export_params
        self.keep_inits_as_inputs = bool(keep_initializers_as_inputs)
        self.names = {}      # id(tensor) -> ONNX value name
        self.live = set()    # ids of tensors computed from graph inputs
        self.twin = {}       # id(tensor of run 1) -> the same value in run 2
        self.nodes = []      # [op_type, inputs, outputs, attrs]
        self.inits = {}      # name -> tensor
        self.param_inputs = []
        self.dimsrc = {}     # (size in run 1, size in run 2) -> (value name, axis)
        self.symbol_of = {}  # (size run 1, size run 2) -> dim_param
        self.consts = {}
        self.shape_cache = {}
        self.counter = 0
        self.used_names = set(input_names) | set(output_names)

    # ------------------------------------------------------------ names and nodes
    def fresh(self, base):
        self.counter += 1
        n = "/%s_%d" % (base, self.counter)
        return n

    def emit(self, op, inputs, attrs=None, nout=1):
        outs = [self.fresh(op) for _ in range(nout)]
        self.nodes.append([op, list(inputs), outs, dict(attrs or {})])
        return outs[0] if nout == 1 else outs

    def init(self, base, tensor):
        name = base
        while name in self.inits or name in self.used_names:
            self.counter += 1
            name = "%s_%d" % (base, self.counter)
        self.inits[name] = tensor
        self.used_names.add(name)
        return name

    def const(self, value, dtype):
        """Name of a constant: a Python number or list of numbers of dtype."""
        key = (repr(value), str(dtype))
        n = self.consts.get(key)
        if n is None:
            t = _ct.tensor(value, dtype=dtype)
            n = self.init("/Constant", t)
            self.consts[key] = n
        return n

    def i64(self, values):
        return self.const([int(v) for v in values], _ct.int64)

    def val(self, obj, dtype=None):
        """ONNX name of a tensor (graph input, computed value, parameter or constant) or a
        Python number (a 0-dim constant of dtype, default by the number's type); cast to
        dtype when given and different."""
        if _is_tensor(obj):
            if id(obj) in self.unbound:
                raise UnsupportedOperatorError("ONNX export: '%s' uses an output of '%s' that has no ONNX "
                                               "equivalent (e.g. pooling indices)"
                                               % (self.cur_name, self.unbound_by.get(id(obj), "?")))
            n = self.names.get(id(obj))
            if n is None:
                p = self.params.get(id(obj))
                alias = self.aliases.get(_layout_key(obj)) if p is None else None
                if alias is not None and alias is not obj:
                    # an untraced alias (e.g. .data) of a parameter or a computed value
                    return self.val(alias, dtype)
                if p is not None:
                    n = p[0]
                    while n in self.used_names:
                        self.counter += 1
                        n = "%s_%d" % (p[0], self.counter)
                    if self.export_params:
                        self.inits[n] = p[1].detach()
                    else:
                        self.param_inputs.append((n, p[1]))
                    self.used_names.add(n)
                else:
                    if self.records2 is not None and tuple(obj.shape) != tuple(self.shape2(obj)):
                        raise OnnxExporterError(
                            "a tensor created inside forward has a size that depends on a dynamic axis "
                            "(shape %s); build it from the inputs (e.g. zeros_like/new_zeros)" % (tuple(obj.shape),))
                    n = self.init("/Constant", obj.detach().clone())
                self.names[id(obj)] = n
            if dtype is not None and obj.dtype != dtype:
                n = self.emit("Cast", [n], {"to": _elem(dtype)})
            return n
        if _is_num(obj):
            if dtype is None:
                dtype = _ct.bool if isinstance(obj, bool) else (_ct.int64 if isinstance(obj, int) else _ct.float32)
            if dtype == _ct.bool:
                obj = bool(obj)
            elif dtype.is_floating_point:
                obj = float(obj)
            else:
                obj = int(obj)
            return self.const(obj, dtype)
        if obj is None:
            return ""
        raise OnnxExporterError("cannot use %s as an ONNX value" % type(obj).__name__)

    def cast(self, name, dtype):
        return self.emit("Cast", [name], {"to": _elem(dtype)})

    # ------------------------------------------------------------ dynamic sizes
    def shape2(self, obj):
        o2 = self.twin.get(id(obj), obj)
        return tuple(o2.shape)

    def dyn_dims(self, obj):
        s1, s2 = tuple(obj.shape), self.shape2(obj)
        return [i for i in range(len(s1)) if s1[i] != s2[i]]

    def note_dims(self, obj, name):
        if self.records2 is None or not _is_tensor(obj):
            return
        s1, s2 = tuple(obj.shape), self.shape2(obj)
        for i in range(len(s1)):
            if s1[i] != s2[i]:
                self.dimsrc.setdefault((s1[i], s2[i]), (name, i))

    def shape_of(self, name):
        s = self.shape_cache.get(name)
        if s is None:
            s = self.shape_cache[name] = self.emit("Shape", [name])
        return s

    def ints(self, v1, v2=None):
        """INT64 1-D tensor of the sizes v1 (run 1) / v2 (run 2): a constant where they agree,
        else gathered at run time from a value having that dynamic dimension."""
        v1 = [int(x) for x in v1]
        v2 = v1 if v2 is None else [int(x) for x in v2]
        if v1 == v2:
            return self.i64(v1)
        pieces, static = [], []
        for a, b in zip(v1, v2):
            if a == b:
                static.append(a)
                continue
            if static:
                pieces.append(self.i64(static))
                static = []
            src = self.dimsrc.get((a, b))
            if src is None:
                raise OnnxExporterError("cannot express the size %d (%d in a second run with other dynamic sizes) "
                                        "from the dynamic axes" % (a, b))
            pieces.append(self.emit("Gather", [self.shape_of(src[0]), self.i64([src[1]])], {"axis": 0}))
        if static:
            pieces.append(self.i64(static))
        return pieces[0] if len(pieces) == 1 else self.emit("Concat", pieces, {"axis": 0})

    def reshape_spec(self, x, res):
        """Shape input of a Reshape of x into res's shape that stays right for other sizes of
        the dynamic axes: fixed sizes, 0 (copy) where a dynamic input dim stays in place, -1
        for one remaining dynamic dim, else sizes computed at run time."""
        r1 = tuple(res.shape)
        r2 = self.shape2(res) if self.records2 is not None else r1
        d = [i for i in range(len(r1)) if r1[i] != r2[i]]
        if not d:
            return self.i64(r1)
        s1 = tuple(x.shape)
        s2 = self.shape2(x)
        v1, v2 = list(r1), list(r2)
        unresolved, runtime = [], []
        for i in d:
            if i < len(s1) and s1[i] == r1[i] and s2[i] == r2[i]:
                v1[i] = v2[i] = 0  # copy the input's dim
            elif (r1[i], r2[i]) in self.dimsrc:
                runtime.append(i)
            else:
                unresolved.append(i)  # e.g. a product of dynamic sizes
        if len(unresolved) > 1:
            raise OnnxExporterError("ONNX export: cannot express the reshape of %s into %s for other sizes of the "
                                    "dynamic axes" % (tuple(s1), tuple(r1)))
        free = unresolved or runtime[:1]
        if free:
            v1[free[0]] = v2[free[0]] = -1
        return self.ints(v1, v2)

    def arg2(self, key):
        """The argument `key` of the current op in run 2 (same as run 1 without dynamic axes)."""
        if self.records2 is None:
            return self.cur_args[key]
        return self.records2[self.k][1][key]

    # ------------------------------------------------------------ build
    def _bind(self, res, out):
        if _is_tensor(res):
            if out is None:
                return
            self.names[id(res)] = out
            self.live.add(id(res))
            self.aliases[_layout_key(res)] = res
            self.note_dims(res, out)
        elif isinstance(res, (list, tuple)):
            if not isinstance(out, (list, tuple)):
                out = [out] + [None] * (len(res) - 1)
            for r, o in zip(res, out):
                if _is_tensor(r) and o is not None:
                    self._bind(r, o)
                elif _is_tensor(r):
                    self.unbound.add(id(r))
                    self.unbound_by[id(r)] = self.cur_name

    def _pair(self, r1, r2):
        if _is_tensor(r1) and _is_tensor(r2):
            self.twin[id(r1)] = r2
        elif isinstance(r1, (list, tuple)) and isinstance(r2, (list, tuple)):
            for a, b in zip(r1, r2):
                self._pair(a, b)

    def build(self):
        self.aliases = {_layout_key(p): p for _, p in self.params.values()}
        self.unbound = set()
        self.unbound_by = {}
        for i, t in enumerate(self.inputs):
            name = self.input_names[i]
            self.names[id(t)] = name
            self.live.add(id(t))
            self.aliases[_layout_key(t)] = t
            if self.inputs2 is not None:
                self.twin[id(t)] = self.inputs2[i]
                for ax, sym in self.dyn.get(name, {}).items():
                    ax = ax % t.dim()
                    self.symbol_of[(t.shape[ax], self.inputs2[i].shape[ax])] = sym
            self.note_dims(t, name)
        if self.records2 is not None and len(self.records2) != len(self.records):
            raise OnnxExporterError("with dynamic_axes the model ran a different sequence of ops for another input "
                                    "size; it cannot be exported with these dynamic axes")
        for k, (name, args, res) in enumerate(self.records):
            self.k, self.cur_args, self.cur_name = k, args, name
            if self.records2 is not None:
                if self.records2[k][0] != name:
                    raise OnnxExporterError("with dynamic_axes the model ran different ops for another input size "
                                            "(%s vs %s)" % (name, self.records2[k][0]))
                self._pair(res, self.records2[k][2])
            if not any(True for _ in _tensors_in(res)):
                continue  # sizes, items: Python values
            ins = [t for v in args.values() for t in _tensors_in(v)]
            if any(id(t) in self.unbound for t in ins):
                # computed from a value with no ONNX equivalent: an error only if it is used
                origin = next(self.unbound_by[id(t)] for t in ins if id(t) in self.unbound)
                for t in _tensors_in(res):
                    self.unbound.add(id(t))
                    self.unbound_by[id(t)] = origin
                continue
            # ops on parameters stay nodes (the initializers keep their state-dict names);
            # ops on constants made in forward are folded
            if not any(id(t) in self.live or id(t) in self.params for t in ins):
                if self.records2 is None or all(tuple(t.shape) == self.shape2(t) for t in _tensors_in(res)):
                    continue  # a constant: becomes an initializer when used
                # a size that depends on a dynamic axis: computed in the graph
                if name in _DYNAMIC_FACTORIES:
                    self._bind(res, _DYNAMIC_FACTORIES[name](self, args, res))
                    continue
            h = HANDLERS.get(name)
            if h is None:
                raise UnsupportedOperatorError("ONNX export of operator '%s' is not supported (opset %d)"
                                               % (name, self.opset))
            out = h(self, args, res)
            self._bind(res, out)
        return self._finish()

    def _finish(self):
        # outputs: rename the producing node's output where possible, else Identity
        produced = {}
        for node in self.nodes:
            for o in node[2]:
                produced[o] = node
        graph_in = set(self.input_names)
        final = []
        self.cur_name = "the graph outputs"
        for i, t in enumerate(self.outputs):
            internal = self.val(t)
            oname = self.output_names[i]
            if internal in produced and internal not in graph_in and internal not in self.inits and \
                    internal not in final:
                for node in self.nodes:
                    node[1] = [oname if x == internal else x for x in node[1]]
                    node[2] = [oname if x == internal else x for x in node[2]]
                self.names = {k: (oname if v == internal else v) for k, v in self.names.items()}
            else:
                self.nodes.append(["Identity", [internal], [oname], {}])
            final.append(oname)
        # dead-code elimination
        need = set(final)
        keep = []
        for node in reversed(self.nodes):
            if any(o in need for o in node[2]):
                keep.append(node)
                need.update(x for x in node[1] if x)
        keep.reverse()
        m = _C._OnnxModel("main_graph", self.opset)
        for i, t in enumerate(self.inputs):
            m.add_value(False, self.input_names[i], t.dtype, self._dims(t, self.input_names[i]))
        for n, p in self.param_inputs:
            if n in need:
                m.add_value(False, n, p.dtype, list(p.shape))
        param_names = {p[0] for p in self.params.values()}
        if self.keep_inits_as_inputs:  # parameters listed as (overridable) graph inputs too
            for n, t in self.inits.items():
                if n in need and n in param_names:
                    m.add_value(False, n, t.dtype, list(t.shape))
        for n, t in self.inits.items():
            if n in need:
                m.add_initializer(n, t)
        for j, (op, ins, outs, attrs) in enumerate(keep):
            m.add_node(op, ins, outs, attrs, "%s_%d" % (op, j))
        for i, t in enumerate(self.outputs):
            m.add_value(True, final[i], t.dtype, self._dims(t, final[i], self.outputs2[i] if self.outputs2 else None))
        self.kept = keep
        return m.serialize()

    def _dims(self, t, name, t2=None):
        dims = list(t.shape)
        given = self.dyn.get(name, {})
        for ax, sym in given.items():
            dims[ax % t.dim()] = sym
        if t2 is not None:
            for i, (a, b) in enumerate(zip(t.shape, t2.shape)):
                if a != b and not isinstance(dims[i], str):
                    dims[i] = self.symbol_of.get((a, b), "%s_dim_%d" % (name, i))
        return dims

    def describe(self):
        lines = ["graph(%s) -> (%s)" % (", ".join(self.input_names), ", ".join(self.output_names))]
        for op, ins, outs, attrs in self.kept:
            lines.append("  %s = %s(%s)%s" % (", ".join(outs), op, ", ".join(ins), " " + repr(attrs) if attrs else ""))
        return "\n".join(lines)


# ------------------------------------------------------------------ helpers for handlers

def _x(a):
    return a["input"]


def _norm_dim(d, n):
    return d + n if d < 0 else d


def _unary(op):
    def h(ex, a, r):
        x = _x(a)
        n = ex.val(x)
        if x.dtype != r.dtype:
            n = ex.cast(n, r.dtype)
        return ex.emit(op, [n])
    return h


for _name, _op in (("exp", "Exp"), ("log", "Log"), ("sqrt", "Sqrt"), ("abs", "Abs"), ("absolute", "Abs"),
                   ("neg", "Neg"), ("negative", "Neg"), ("sigmoid", "Sigmoid"), ("tanh", "Tanh"), ("erf", "Erf"),
                   ("reciprocal", "Reciprocal"), ("sin", "Sin"), ("cos", "Cos"), ("floor", "Floor"),
                   ("ceil", "Ceil"), ("sign", "Sign"), ("relu", "Relu"), ("logical_not", "Not"),
                   ("tan", "Tan"), ("asin", "Asin"), ("acos", "Acos"), ("atan", "Atan"), ("sinh", "Sinh"),
                   ("cosh", "Cosh"), ("exp_", "Exp"), ("relu_", "Relu"), ("sigmoid_", "Sigmoid"),
                   ("tanh_", "Tanh"), ("neg_", "Neg"), ("abs_", "Abs"), ("sqrt_", "Sqrt"), ("log_", "Log")):
    HANDLERS[_name] = _unary(_op)


@handles("rsqrt", "rsqrt_")
def _rsqrt(ex, a, r):
    return ex.emit("Reciprocal", [ex.emit("Sqrt", [ex.val(_x(a), r.dtype)])])


@handles("square", "square_")
def _square(ex, a, r):
    n = ex.val(_x(a), r.dtype)
    return ex.emit("Mul", [n, n])


@handles("round")
def _round(ex, a, r):
    if a.get("decimals", 0):
        s = 10.0 ** a["decimals"]
        n = ex.emit("Mul", [ex.val(_x(a)), ex.val(s, r.dtype)])
        return ex.emit("Div", [ex.emit("Round", [n]), ex.val(s, r.dtype)])
    return ex.emit("Round", [ex.val(_x(a))])


@handles("log2", "log10", "log1p", "expm1", "exp2")
def _logs(ex, a, r):
    n = ex.val(_x(a), r.dtype)
    name = ex.cur_name
    if name == "log1p":
        return ex.emit("Log", [ex.emit("Add", [n, ex.val(1.0, r.dtype)])])
    if name == "expm1":
        return ex.emit("Sub", [ex.emit("Exp", [n]), ex.val(1.0, r.dtype)])
    if name == "exp2":
        return ex.emit("Pow", [ex.val(2.0, r.dtype), n])
    base = 2.0 if name == "log2" else 10.0
    return ex.emit("Div", [ex.emit("Log", [n]), ex.val(math.log(base), r.dtype)])


def _other_key(a):
    for k in ("other", "exponent", "mat2"):
        if k in a:
            return k
    raise OnnxExporterError("internal: no second operand")


def _binary(op, compare=False):
    def h(ex, a, r):
        x, y = a["input"], a[_other_key(a)]
        if op in ("And", "Or", "Xor") and r.dtype != _ct.bool:
            raise UnsupportedOperatorError("ONNX export of '%s' on integer tensors needs opset 18 (Bitwise%s)"
                                           % (ex.cur_name, op))
        if compare:
            dt = _ct.result_type(x, y) if (_is_tensor(x) or _is_tensor(y)) else r.dtype
        else:
            dt = r.dtype
        nx, ny = ex.val(x, dt), ex.val(y, dt)
        alpha = a.get("alpha", 1)
        if alpha is not None and not (_is_num(alpha) and alpha == 1):
            ny = ex.emit("Mul", [ny, ex.val(alpha, dt)])
        return ex.emit(op, [nx, ny])
    return h


for _name, _op in (("add", "Add"), ("sub", "Sub"), ("subtract", "Sub"), ("mul", "Mul"), ("multiply", "Mul"),
                   ("true_divide", "Div"), ("pow", "Pow"), ("minimum", "Min"), ("maximum", "Max"),
                   ("fmax", "Max"), ("fmin", "Min"), ("add_", "Add"), ("sub_", "Sub"), ("mul_", "Mul"),
                   ("bitwise_and", "And"), ("bitwise_or", "Or"), ("bitwise_xor", "Xor"), ("logical_and", "And"),
                   ("logical_or", "Or"), ("logical_xor", "Xor")):
    HANDLERS[_name] = _binary(_op)
for _name, _op in (("eq", "Equal"), ("lt", "Less"), ("le", "LessOrEqual"), ("gt", "Greater"),
                   ("ge", "GreaterOrEqual"), ("greater", "Greater"), ("less", "Less"),
                   ("greater_equal", "GreaterOrEqual"), ("less_equal", "LessOrEqual")):
    HANDLERS[_name] = _binary(_op, compare=True)


@handles("ne", "not_equal")
def _ne(ex, a, r):
    return ex.emit("Not", [_binary("Equal", compare=True)(ex, a, r)])


@handles("div", "div_", "divide")
def _div(ex, a, r):
    mode = a.get("rounding_mode")
    x, y = a["input"], a["other"]
    if mode is None:
        return ex.emit("Div", [ex.val(x, r.dtype), ex.val(y, r.dtype)])
    q = ex.emit("Div", [ex.val(x, r.dtype), ex.val(y, r.dtype)])
    if not r.dtype.is_floating_point:
        if mode == "trunc":
            return q
        return _int_floordiv(ex, x, y, r)
    if mode == "floor":
        return ex.emit("Floor", [q])
    # trunc: sign(q) * floor(|q|)
    return ex.emit("Mul", [ex.emit("Sign", [q]), ex.emit("Floor", [ex.emit("Abs", [q])])])


@handles("floor_divide")
def _floordiv(ex, a, r):
    q = ex.emit("Div", [ex.val(a["input"], r.dtype), ex.val(a["other"], r.dtype)])
    if r.dtype.is_floating_point:
        return ex.emit("Floor", [q])
    return _int_floordiv(ex, a["input"], a["other"], r)


def _int_floordiv(ex, x, y, r):
    # (x - mod(x, y)) / y is exact, and Mod(fmod=0) takes the divisor's sign as Python's %
    xn, yn = ex.val(x, r.dtype), ex.val(y, r.dtype)
    return ex.emit("Div", [ex.emit("Sub", [xn, ex.emit("Mod", [xn, yn], {"fmod": 0})]), yn])


@handles("remainder")
def _rem(ex, a, r):
    if r.dtype.is_floating_point:
        return _float_rem(ex, a, r)
    return ex.emit("Mod", [ex.val(a["input"], r.dtype), ex.val(a["other"], r.dtype)], {"fmod": 0})


def _float_rem(ex, a, r):
    x, y = ex.val(a["input"], r.dtype), ex.val(a["other"], r.dtype)
    return ex.emit("Sub", [x, ex.emit("Mul", [y, ex.emit("Floor", [ex.emit("Div", [x, y])])])])


@handles("where")
def _where(ex, a, r):
    if "input" not in a or "other" not in a:
        return _nonzero_tuple_nodes(ex, a["condition"], r)
    c = ex.val(a["condition"], _ct.bool)
    return ex.emit("Where", [c, ex.val(a["input"], r.dtype), ex.val(a["other"], r.dtype)])


@handles("masked_fill", "masked_fill_")
def _masked_fill(ex, a, r):
    v = a["value"]
    if _is_tensor(v) and id(v) not in ex.live and v.numel() == 1:
        v = v.item()
    return ex.emit("Where", [ex.val(a["mask"], _ct.bool), ex.val(v, r.dtype), ex.val(a["input"])])


@handles("clamp", "clip", "clamp_", "clip_", "clamp_min", "clamp_max")
def _clamp(ex, a, r):
    lo = a.get("min")
    hi = a.get("max")
    if ex.cur_name == "clamp_min":
        lo, hi = a.get("min", a.get("other")), None
    if ex.cur_name == "clamp_max":
        lo, hi = None, a.get("max", a.get("other"))
    x = ex.val(a["input"], r.dtype)
    if (lo is None or not _is_tensor(lo) or lo.dim() == 0) and (hi is None or not _is_tensor(hi) or hi.dim() == 0):
        return ex.emit("Clip", [x, ex.val(lo, r.dtype) if lo is not None else "",
                                ex.val(hi, r.dtype) if hi is not None else ""])
    if lo is not None:
        x = ex.emit("Max", [x, ex.val(lo, r.dtype)])
    if hi is not None:
        x = ex.emit("Min", [x, ex.val(hi, r.dtype)])
    return x


# ------------------------------------------------------------------ activations

(_RELU, _HARDTANH, _LEAKY, _ELU, _CELU, _GELU, _SILU, _MISH, _SOFTPLUS, _SOFTSIGN, _SOFTSHRINK, _HARDSHRINK,
 _TANHSHRINK, _HARDSWISH, _HARDSIGMOID, _TANH, _SIGMOID, _LOGSIGMOID, _THRESHOLD) = range(19)


@handles("_act", "_act_")
def _act(ex, a, r):
    kind, p0, p1, p2 = a["kind"], a["p0"], a["p1"], a["p2"]
    x = ex.val(a["input"])
    dt = r.dtype

    def c(v):
        return ex.val(float(v), dt)
    if kind == _RELU:
        return ex.emit("Relu", [x])
    if kind == _HARDTANH:
        return ex.emit("Clip", [x, c(p0), c(p1)])
    if kind == _LEAKY:
        return ex.emit("LeakyRelu", [x], {"alpha": float(p0)})
    if kind == _ELU:
        if p2 != 1.0:
            x = ex.emit("Mul", [x, c(p2)])
        if p1 != 1.0:
            return ex.emit("Selu", [x], {"alpha": float(p0), "gamma": float(p1)})
        return ex.emit("Elu", [x], {"alpha": float(p0)})
    if kind == _CELU:
        return ex.emit("Celu", [x], {"alpha": float(p0)})
    if kind == _GELU:
        if p0 == 0.0:  # x * 0.5 * (1 + erf(x / sqrt(2)))
            e = ex.emit("Erf", [ex.emit("Div", [x, c(math.sqrt(2.0))])])
            return ex.emit("Mul", [ex.emit("Mul", [x, c(0.5)]), ex.emit("Add", [e, c(1.0)])])
        # tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        x3 = ex.emit("Mul", [ex.emit("Mul", [x, x]), x])
        inner = ex.emit("Mul", [ex.emit("Add", [x, ex.emit("Mul", [x3, c(0.044715)])]), c(math.sqrt(2.0 / math.pi))])
        return ex.emit("Mul", [ex.emit("Mul", [x, c(0.5)]), ex.emit("Add", [ex.emit("Tanh", [inner]), c(1.0)])])
    if kind == _SILU:
        return ex.emit("Mul", [x, ex.emit("Sigmoid", [x])])
    if kind == _MISH:
        return ex.emit("Mul", [x, ex.emit("Tanh", [ex.emit("Softplus", [x])])])
    if kind == _SOFTPLUS:
        if p0 == 1.0:
            sp = ex.emit("Softplus", [x])
            bx = x
        else:
            bx = ex.emit("Mul", [x, c(p0)])
            sp = ex.emit("Div", [ex.emit("Softplus", [bx]), c(p0)])
        return ex.emit("Where", [ex.emit("Greater", [bx, c(p1)]), x, sp])
    if kind == _SOFTSIGN:
        return ex.emit("Softsign", [x])
    if kind == _SOFTSHRINK:
        return ex.emit("Shrink", [x], {"lambd": float(p0), "bias": float(p0)})
    if kind == _HARDSHRINK:
        return ex.emit("Shrink", [x], {"lambd": float(p0), "bias": 0.0})
    if kind == _TANHSHRINK:
        return ex.emit("Sub", [x, ex.emit("Tanh", [x])])
    if kind == _HARDSWISH:
        if ex.opset >= 14:
            return ex.emit("HardSwish", [x])
        return ex.emit("Mul", [x, ex.emit("HardSigmoid", [x], {"alpha": 1.0 / 6, "beta": 0.5})])
    if kind == _HARDSIGMOID:
        return ex.emit("HardSigmoid", [x], {"alpha": 1.0 / 6, "beta": 0.5})
    if kind == _TANH:
        return ex.emit("Tanh", [x])
    if kind == _SIGMOID:
        return ex.emit("Sigmoid", [x])
    if kind == _LOGSIGMOID:
        return ex.emit("Neg", [ex.emit("Softplus", [ex.emit("Neg", [x])])])
    if kind == _THRESHOLD:
        return ex.emit("Where", [ex.emit("Greater", [x, c(p0)]), x, c(p1)])
    raise UnsupportedOperatorError("ONNX export of activation kind %d is not supported" % kind)


@handles("softmax", "log_softmax", "_softmax", "_log_softmax")
def _softmax(ex, a, r):
    x = ex.val(a["input"], r.dtype)
    op = "LogSoftmax" if "log" in ex.cur_name else "Softmax"
    return ex.emit(op, [x], {"axis": int(a["dim"])})


@handles("prelu")
def _prelu(ex, a, r):
    x, w = a["input"], a["weight"]
    wn = ex.val(w)
    if x.dim() >= 2 and w.numel() > 1:
        wn = ex.emit("Reshape", [wn, ex.i64([w.numel()] + [1] * (x.dim() - 2))])
    return ex.emit("PRelu", [ex.val(x), wn])


@handles("glu")
def _glu(ex, a, r):
    x = a["input"]
    d = _norm_dim(a.get("dim", -1), x.dim())
    h = x.shape[d] // 2
    p, q = ex.emit("Split", [ex.val(x), ex.i64([h, h])], {"axis": d}, nout=2)
    return ex.emit("Mul", [p, ex.emit("Sigmoid", [q])])


@handles("dropout", "dropout_", "feature_dropout", "alpha_dropout", "feature_alpha_dropout", "_dropout")
def _dropout(ex, a, r):
    if a.get("train", a.get("training", False)):
        raise UnsupportedOperatorError("ONNX export of dropout in training mode is not supported")
    return ex.val(_x(a))


# ------------------------------------------------------------------ linear algebra

@handles("matmul", "mm", "bmm")
def _matmul(ex, a, r):
    y = a.get("other", a.get("mat2"))
    return ex.emit("MatMul", [ex.val(a["input"], r.dtype), ex.val(y, r.dtype)])


@handles("addmm")
def _addmm(ex, a, r):
    return ex.emit("Gemm", [ex.val(a["mat1"]), ex.val(a["mat2"]), ex.val(a["input"])],
                   {"alpha": float(a.get("alpha", 1)), "beta": float(a.get("beta", 1))})


@handles("baddbmm", "addbmm")
def _baddbmm(ex, a, r):
    p = ex.emit("MatMul", [ex.val(a["batch1"]), ex.val(a["batch2"])])
    if ex.cur_name == "addbmm":
        p = ex.emit("ReduceSum", [p, ex.i64([0])], {"keepdims": 0})
    alpha, beta = a.get("alpha", 1), a.get("beta", 1)
    if alpha != 1:
        p = ex.emit("Mul", [p, ex.val(float(alpha), r.dtype)])
    if beta == 0:
        return p
    i = ex.val(a["input"])
    if beta != 1:
        i = ex.emit("Mul", [i, ex.val(float(beta), r.dtype)])
    return ex.emit("Add", [i, p])


@handles("linear")
def _linear(ex, a, r):
    x, w, b = a["input"], a["weight"], a.get("bias")
    if x.dim() == 2 and w.dim() == 2:
        ins = [ex.val(x), ex.val(w)] + ([ex.val(b)] if b is not None else [])
        return ex.emit("Gemm", ins, {"transB": 1})
    wt = ex.emit("Transpose", [ex.val(w)], {"perm": [1, 0]}) if w.dim() == 2 else ex.val(w)
    y = ex.emit("MatMul", [ex.val(x), wt])
    if b is not None:
        y = ex.emit("Add", [y, ex.val(b)])
    return y


@handles("dot", "inner", "vdot")
def _dot(ex, a, r):
    return ex.emit("ReduceSum", [ex.emit("Mul", [ex.val(a["input"]), ex.val(a.get("tensor", a.get("other")))])],
                   {"keepdims": 0})


@handles("outer", "ger")
def _outer(ex, a, r):
    x = ex.emit("Unsqueeze", [ex.val(a["input"]), ex.i64([1])])
    return ex.emit("Mul", [x, ex.val(a.get("vec2", a.get("other")))])


# ------------------------------------------------------------------ shape ops

@handles("reshape", "view", "view_as", "reshape_as", "flatten", "unflatten", "_unsafe_view", "ravel",
         "atleast_1d", "atleast_2d", "atleast_3d")
def _reshape(ex, a, r):
    x = _x(a)
    if tuple(x.shape) == tuple(r.shape) and (ex.records2 is None or ex.shape2(x) == ex.shape2(r)):
        return ex.val(x)
    return ex.emit("Reshape", [ex.val(x), ex.reshape_spec(x, r)])


@handles("permute")
def _permute(ex, a, r):
    x = _x(a)
    perm = [_norm_dim(d, x.dim()) for d in _ilist(a["dims"])]
    return ex.emit("Transpose", [ex.val(x)], {"perm": perm})


def _transpose_perm(n, d0, d1):
    perm = list(range(n))
    d0, d1 = _norm_dim(d0, n), _norm_dim(d1, n)
    perm[d0], perm[d1] = perm[d1], perm[d0]
    return perm


@handles("transpose", "swapaxes", "swapdims", "transpose_")
def _transpose(ex, a, r):
    x = _x(a)
    if x.dim() < 2:
        return ex.val(x)
    d0 = a.get("dim0", a.get("axis0"))
    d1 = a.get("dim1", a.get("axis1"))
    return ex.emit("Transpose", [ex.val(x)], {"perm": _transpose_perm(x.dim(), d0, d1)})


@handles("t", "adjoint")
def _t(ex, a, r):
    x = _x(a)
    if x.dim() < 2:
        return ex.val(x)
    return ex.emit("Transpose", [ex.val(x)], {"perm": _transpose_perm(x.dim(), -2, -1) if ex.cur_name == "adjoint"
                                              else [1, 0]})


@handles("movedim", "moveaxis")
def _movedim(ex, a, r):
    x = _x(a)
    n = x.dim()
    src = [_norm_dim(d, n) for d in _ilist(a["source"])]
    dst = [_norm_dim(d, n) for d in _ilist(a["destination"])]
    perm = [-1] * n
    for s, d in zip(src, dst):
        perm[d] = s
    rest = iter(i for i in range(n) if i not in src)
    perm = [p if p >= 0 else next(rest) for p in perm]
    return ex.emit("Transpose", [ex.val(x)], {"perm": perm})


@handles("squeeze", "squeeze_")
def _squeeze(ex, a, r):
    x = _x(a)
    n = x.dim()
    s1, s2 = tuple(x.shape), ex.shape2(x)
    dims = _ilist(a.get("dim"))
    if dims is None:
        dims = list(range(n))
    axes = sorted({_norm_dim(d, n) for d in dims if n and s1[_norm_dim(d, n)] == 1 and s2[_norm_dim(d, n)] == 1})
    if not axes:
        return ex.val(x)
    return ex.emit("Squeeze", [ex.val(x), ex.i64(axes)])


@handles("unsqueeze", "unsqueeze_")
def _unsqueeze(ex, a, r):
    return ex.emit("Unsqueeze", [ex.val(_x(a)), ex.i64([_norm_dim(a["dim"], r.dim())])])


@handles("cat", "concat", "concatenate")
def _cat(ex, a, r):
    ts = [t for t in a["tensors"] if not (t.dim() == 1 and t.shape[0] == 0)]
    d = _norm_dim(a.get("dim", 0), r.dim())
    if len(ts) == 1:
        return ex.val(ts[0], r.dtype)
    return ex.emit("Concat", [ex.val(t, r.dtype) for t in ts], {"axis": d})


@handles("stack")
def _stack(ex, a, r):
    d = _norm_dim(a.get("dim", 0), r.dim())
    ins = [ex.emit("Unsqueeze", [ex.val(t, r.dtype), ex.i64([d])]) for t in a["tensors"]]
    return ins[0] if len(ins) == 1 else ex.emit("Concat", ins, {"axis": d})


def _split_out(ex, x, r, d):
    d = _norm_dim(d, x.dim())
    if d in ex.dyn_dims(x):
        raise OnnxExporterError("ONNX export: '%s' along a dynamic axis is not supported" % ex.cur_name)
    sizes = [t.shape[d] for t in r]
    if len(sizes) == 1:
        return [ex.val(x)]
    outs = ex.emit("Split", [ex.val(x), ex.i64(sizes)], {"axis": d}, nout=len(sizes))
    return outs


@handles("split", "split_with_sizes", "chunk", "tensor_split", "hsplit", "vsplit", "dsplit")
def _split(ex, a, r):
    x = _x(a)
    d = a.get("dim", 0)
    if ex.cur_name in ("hsplit",):
        d = 1 if x.dim() > 1 else 0
    elif ex.cur_name == "vsplit":
        d = 0
    elif ex.cur_name == "dsplit":
        d = 2
    return _split_out(ex, x, r, d)


@handles("unbind")
def _unbind(ex, a, r):
    x = _x(a)
    d = _norm_dim(a.get("dim", 0), x.dim())
    outs = _split_out(ex, x, r, d)
    return [ex.emit("Squeeze", [o, ex.i64([d])]) for o in outs]


@handles("expand", "expand_as", "broadcast_to")
def _expand(ex, a, r):
    x = _x(a)
    r1, r2 = tuple(r.shape), ex.shape2(r)
    s1, s2 = tuple(x.shape), ex.shape2(x)
    off = len(r1) - len(s1)
    v1, v2 = list(r1), list(r2)
    for i in range(len(r1)):
        j = i - off
        if r1[i] != r2[i] and j >= 0 and s1[j] == r1[i] and s2[j] == r2[i]:
            v1[i] = v2[i] = 1
    return ex.emit("Expand", [ex.val(x), ex.ints(v1, v2)])


@handles("repeat", "tile")
def _repeat(ex, a, r):
    x = _x(a)
    reps = _ilist(a.get("repeats", a.get("dims")))
    n = ex.val(x)
    if len(reps) > x.dim():
        n = ex.emit("Unsqueeze", [n, ex.i64(list(range(len(reps) - x.dim())))])
    elif len(reps) < x.dim():
        reps = [1] * (x.dim() - len(reps)) + reps
    return ex.emit("Tile", [n, ex.i64(reps)])


@handles("narrow")
def _narrow(ex, a, r):
    x = _x(a)
    d = _norm_dim(a["dim"], x.dim())
    s = a["start"]
    s = int(s.item()) if _is_tensor(s) else int(s)
    if s < 0:
        s += x.shape[d]
    return ex.emit("Slice", [ex.val(x), ex.i64([s]), ex.i64([s + int(a["length"])]), ex.i64([d])])


@handles("select")
def _select(ex, a, r):
    x = _x(a)
    return ex.emit("Gather", [ex.val(x), ex.val(int(a["index"]), _ct.int64)], {"axis": _norm_dim(a["dim"], x.dim())})


@handles("index_select")
def _index_select(ex, a, r):
    x = _x(a)
    return ex.emit("Gather", [ex.val(x), ex.val(a["index"], _ct.int64)], {"axis": _norm_dim(a["dim"], x.dim())})


@handles("gather", "take_along_dim")
def _gather(ex, a, r):
    x = _x(a)
    return ex.emit("GatherElements", [ex.val(x), ex.val(a.get("index", a.get("indices")), _ct.int64)],
                   {"axis": _norm_dim(a["dim"], x.dim())})


@handles("flip")
def _flip(ex, a, r):
    x = _x(a)
    dims = [_norm_dim(d, x.dim()) for d in _ilist(a["dims"])]
    k = len(dims)
    return ex.emit("Slice", [ex.val(x), ex.i64([-1] * k), ex.i64([INT64_MIN] * k), ex.i64(dims), ex.i64([-1] * k)])


@handles("tril", "triu")
def _trilu(ex, a, r):
    if ex.opset < 14:
        raise UnsupportedOperatorError("ONNX export of %s needs opset 14 (Trilu)" % ex.cur_name)
    return ex.emit("Trilu", [ex.val(_x(a)), ex.val(int(a.get("diagonal", 0)), _ct.int64)],
                   {"upper": 1 if ex.cur_name == "triu" else 0})


@handles("__getitem__")
def _getitem(ex, a, r):
    x = _x(a)
    idx = a["index"]
    idx2 = ex.arg2("index")
    if not isinstance(idx, tuple):
        idx, idx2 = (idx,), (idx2,)
    return _index_nodes(ex, x, ex.val(x), idx, idx2)


def _index_nodes(ex, x, src, idx, idx2):
    """x[idx] applied to the ONNX value src (x's name, or a same-shaped value)."""
    n = x.dim()
    used = sum(1 for i in idx if i is not None and i is not Ellipsis and not isinstance(i, bool)
               and not (_is_tensor(i) and i.dtype == _ct.bool))
    in_dim, out_pos = 0, 0
    slices, gathers, unsq = [], [], []
    for it, it2 in zip(idx, idx2):
        if it is None:
            unsq.append(out_pos)
            out_pos += 1
        elif it is Ellipsis:
            k = n - used
            in_dim += k
            out_pos += k
        elif isinstance(it, slice):
            if not (it.start is None and it.stop is None and it.step in (None, 1)):
                slices.append((in_dim, it, it2))
            in_dim += 1
            out_pos += 1
        elif isinstance(it, int) and not isinstance(it, bool):
            gathers.append((in_dim, it))
            in_dim += 1
        elif _is_tensor(it) and it.dtype != _ct.bool and it.dtype.is_floating_point is False:
            gathers.append((in_dim, it))
            in_dim += 1
            out_pos += it.dim()
        else:
            raise UnsupportedOperatorError("ONNX export of indexing with %s is not supported" % type(it).__name__)
    if sum(1 for g in gathers if _is_tensor(g[1])) > 1:
        lead = []
        for it in idx:
            if not (_is_tensor(it) and not _is_mask(it) and not it.dtype.is_floating_point):
                break
            lead.append(it)
        rest = idx[len(lead):]
        if len(lead) < 2 or any(not (it is Ellipsis or (isinstance(it, slice) and it.start is None and it.stop is None
                                                         and it.step in (None, 1))) for it in rest):
            raise UnsupportedOperatorError("ONNX export of indexing with more than one index tensor supports only "
                                           "x[i, j, ...] (index tensors on the leading dims, then full slices)")
        return _gather_nd(ex, x, src, lead)
    cur = src
    if slices:
        st1, st2, en1, en2, axes, steps = [], [], [], [], [], []
        for d, s, s2 in slices:
            if s.step is not None and s.step <= 0:
                raise UnsupportedOperatorError("ONNX export: slice step must be positive")
            st1.append(0 if s.start is None else int(s.start))
            st2.append(0 if s2.start is None else int(s2.start))
            en1.append(INT64_MAX if s.stop is None else int(s.stop))
            en2.append(INT64_MAX if s2.stop is None else int(s2.stop))
            axes.append(d)
            steps.append(1 if s.step is None else int(s.step))
        cur = ex.emit("Slice", [cur, ex.ints(st1, st2), ex.ints(en1, en2), ex.i64(axes), ex.i64(steps)])
    for d, g in sorted(gathers, key=lambda t: -t[0]):
        cur = ex.emit("Gather", [cur, ex.val(g, _ct.int64)], {"axis": d})
    if unsq:
        cur = ex.emit("Unsqueeze", [cur, ex.i64(unsq)])
    if cur == src:
        cur = ex.emit("Identity", [cur])
    return cur


def _positions(ex, xn):
    """INT64 tensor shaped like the value xn holding 0..numel-1 (flat positions)."""
    shape = ex.shape_of(xn)
    numel = ex.emit("ReduceProd", [shape], {"keepdims": 0})
    flat = ex.emit("Range", [ex.val(0, _ct.int64), numel, ex.val(1, _ct.int64)])
    return ex.emit("Reshape", [flat, shape])


def _scatter_flat(ex, x, xn, pos, value):
    """x with the flat positions pos (any shape) overwritten by value broadcast to pos's shape."""
    vn = ex.val(value, x.dtype)
    vn = ex.emit("Expand", [vn, ex.shape_of(pos)])
    flat = ex.i64([-1])
    out = ex.emit("ScatterElements", [ex.emit("Reshape", [xn, flat]), ex.emit("Reshape", [pos, flat]),
                                      ex.emit("Reshape", [vn, flat])], {"axis": 0})
    return ex.emit("Reshape", [out, ex.shape_of(xn)])


def _is_mask(i):
    return _is_tensor(i) and i.dtype == _ct.bool


@handles("__setitem__")
def _setitem(ex, a, r):
    """x[index] = value as a pure function of x: the positions x[index] selects are found by
    indexing a tensor of flat positions the same way, then overwritten with ScatterElements;
    a boolean mask (x[mask] = scalar) becomes Where."""
    x, value = a["input"], a["value"]
    idx, idx2 = a["index"], ex.arg2("index")
    if not isinstance(idx, tuple):
        idx, idx2 = (idx,), (idx2,)
    xn = ex.val(x)
    masks = [i for i in idx if _is_mask(i)]
    if masks:
        rest = [i for i in idx if not _is_mask(i) and i is not Ellipsis]
        m = masks[0]
        if len(masks) > 1 or rest or (_is_tensor(value) and value.numel() != 1) or m.dim() > x.dim() or \
                tuple(m.shape) != tuple(x.shape[:m.dim()]):
            raise UnsupportedOperatorError(
                "ONNX export of Tensor.__setitem__ with a boolean mask supports x[mask] = scalar (one mask over the "
                "leading dims); other mask assignments need nonzero")
        mn = ex.val(m)
        if m.dim() < x.dim():
            mn = ex.emit("Unsqueeze", [mn, ex.i64(range(m.dim(), x.dim()))])
        vn = ex.val(value, x.dtype)
        if _is_tensor(value) and value.dim() > 0:
            vn = ex.emit("Reshape", [vn, ex.i64([])])
        return ex.emit("Where", [mn, vn, xn])
    pos = _index_nodes(ex, x, _positions(ex, xn), idx, idx2)
    return _scatter_flat(ex, x, xn, pos, value)


@handles("index_put", "index_put_")
def _index_put(ex, a, r):
    """x.index_put_(indices, values, accumulate): the index tensors address the leading dims
    (broadcast together); ScatterND writes (or, with accumulate, adds) the values there."""
    x, values = a["input"], a["values"]
    indices = list(a["indices"])
    xn = ex.val(x)
    if any(i is None for i in indices):
        raise UnsupportedOperatorError("ONNX export of index_put with None indices is not supported")
    if len(indices) == 1 and _is_mask(indices[0]):
        m = indices[0]
        if (values.numel() != 1 or a.get("accumulate")) or tuple(m.shape) != tuple(x.shape[:m.dim()]):
            raise UnsupportedOperatorError("ONNX export of index_put with a boolean mask supports a single-element "
                                           "value without accumulate")
        mn = ex.val(m)
        if m.dim() < x.dim():
            mn = ex.emit("Unsqueeze", [mn, ex.i64(range(m.dim(), x.dim()))])
        return ex.emit("Where", [mn, ex.emit("Reshape", [ex.val(values, x.dtype), ex.i64([])]), xn])
    if any(_is_mask(i) or i.dtype.is_floating_point for i in indices):
        raise UnsupportedOperatorError("ONNX export of index_put with boolean masks mixed with other indices is not "
                                       "supported")
    k = len(indices)
    shape = ex.shape_of(xn)
    cols = []
    bshape = None
    for d, i in enumerate(indices):
        n = ex.val(i, _ct.int64)
        size = ex.emit("Gather", [shape, ex.i64([d])], {"axis": 0})
        n = ex.emit("Where", [ex.emit("Less", [n, ex.val(0, _ct.int64)]), ex.emit("Add", [n, size]), n])
        cols.append(n)
    # broadcast the index tensors together: the shape of their (zeroed) sum
    if k > 1:
        zero = ex.val(0, _ct.int64)
        acc = ex.emit("Mul", [cols[0], zero])
        for c in cols[1:]:
            acc = ex.emit("Add", [acc, ex.emit("Mul", [c, zero])])
        bshape = ex.emit("Shape", [acc])
    else:
        bshape = ex.shape_of(cols[0])
    cols = [ex.emit("Unsqueeze", [ex.emit("Expand", [c, bshape]), ex.i64([-1])]) for c in cols]
    nd = cols[0] if k == 1 else ex.emit("Concat", cols, {"axis": -1})
    # values broadcast to index shape + the remaining dims of x
    tail = ex.emit("Slice", [shape, ex.i64([k]), ex.i64([INT64_MAX]), ex.i64([0])])
    vshape = ex.emit("Concat", [bshape, tail], {"axis": 0})
    vn = ex.emit("Expand", [ex.val(values, x.dtype), vshape])
    attrs = {}
    if a.get("accumulate"):
        if ex.opset < 16:
            raise UnsupportedOperatorError("ONNX export of index_put with accumulate=True needs opset 16 "
                                           "(ScatterND reduction)")
        attrs["reduction"] = "add"
    return ex.emit("ScatterND", [xn, nd, vn], attrs)


# ------------------------------------------------------------------ conversions and copies

@handles("contiguous", "clone", "detach", "to", "float", "double", "long", "int", "half", "bool", "short", "byte",
         "char", "bfloat16", "type_as", "to_dtype", "type", "cpu", "copy", "alias", "positive", "resolve_conj",
         "resolve_neg", "requires_grad_", "detach_")
def _identity(ex, a, r):
    x = _x(a)
    if not _is_tensor(r):
        raise UnsupportedOperatorError("ONNX export of '%s' is not supported" % ex.cur_name)
    n = ex.val(x)
    if x.dtype != r.dtype:
        return ex.cast(n, r.dtype)
    return n if r is not x else None


@handles("zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like")
def _like(ex, a, r):
    x = _x(a)
    if ex.cur_name in ("rand_like", "randn_like"):
        raise UnsupportedOperatorError("ONNX export of '%s' is not supported" % ex.cur_name)
    v = {"zeros_like": 0, "ones_like": 1, "empty_like": 0}.get(ex.cur_name, a.get("fill_value", 0))
    return ex.emit("ConstantOfShape", [ex.shape_of(ex.val(x))], {"value": _ct.tensor([v], dtype=r.dtype)})


@handles("new_zeros", "new_ones", "new_full", "new_empty")
def _new(ex, a, r):
    v = {"new_zeros": 0, "new_ones": 1, "new_empty": 0}.get(ex.cur_name, a.get("fill_value", 0))
    return ex.emit("ConstantOfShape", [ex.ints(r.shape, ex.shape2(r))], {"value": _ct.tensor([v], dtype=r.dtype)})


def _dyn_factory(ex, a, r):
    name = ex.cur_name
    if name in ("zeros", "ones", "full", "empty"):
        v = {"zeros": 0, "ones": 1, "empty": 0}.get(name, a.get("fill_value", 0))
        return ex.emit("ConstantOfShape", [ex.ints(r.shape, ex.shape2(r))], {"value": _ct.tensor([v], dtype=r.dtype)})
    if name == "arange":
        start = a.get("start", 0)
        end, end2 = a["end"], ex.arg2("end")
        step = a.get("step", 1)
        s = ex.val(start, r.dtype)
        e = ex.emit("Reshape", [ex.ints([end], [end2]), ex.i64([])])
        if r.dtype != _ct.int64:
            e = ex.cast(e, r.dtype)
        return ex.emit("Range", [s, e, ex.val(step, r.dtype)])
    raise OnnxExporterError("ONNX export: '%s' with a size that depends on a dynamic axis is not supported" % name)


_DYNAMIC_FACTORIES = {n: _dyn_factory for n in ("zeros", "ones", "full", "empty", "arange")}


# ------------------------------------------------------------------ reductions

def _axes(a, x):
    d = a.get("dim")
    if d is None:
        return None
    d = _ilist(d)
    if not d:
        return None
    return [_norm_dim(i, max(x.dim(), 1)) for i in d]


def _reduce(op):
    def h(ex, a, r):
        x = _x(a)
        axes = _axes(a, x)
        keep = 1 if a.get("keepdim", False) else 0
        n = ex.val(x, r.dtype if (a.get("dtype") is not None or r.dtype != x.dtype) and r.dtype != _ct.bool else None)
        if x.dim() == 0:
            return ex.emit("Identity", [n])
        if op == "ReduceSum":
            ins = [n] + ([ex.i64(axes)] if axes is not None else [])
            return ex.emit(op, ins, {"keepdims": keep})
        attrs = {"keepdims": keep}
        if axes is not None:
            attrs["axes"] = axes
        return ex.emit(op, [n], attrs)
    return h


HANDLERS["sum"] = _reduce("ReduceSum")
HANDLERS["mean"] = _reduce("ReduceMean")
HANDLERS["amax"] = _reduce("ReduceMax")
HANDLERS["amin"] = _reduce("ReduceMin")
HANDLERS["logsumexp"] = _reduce("ReduceLogSumExp")
HANDLERS["prod"] = _reduce("ReduceProd")


@handles("max", "min")
def _maxmin(ex, a, r):
    x = _x(a)
    big = "Max" if ex.cur_name == "max" else "Min"
    if "other" in a:
        return ex.emit(big, [ex.val(x, r.dtype), ex.val(a["other"], r.dtype)])
    if "dim" not in a:
        return ex.emit("Reduce" + big, [ex.val(x)], {"keepdims": 0})
    d = _norm_dim(a["dim"], max(x.dim(), 1))
    keep = 1 if a.get("keepdim", False) else 0
    v = ex.emit("Reduce" + big, [ex.val(x)], {"axes": [d], "keepdims": keep})
    i = ex.emit("Arg" + big, [ex.val(x)], {"axis": d, "keepdims": keep})
    return [v, i]


@handles("argmax", "argmin")
def _argmax(ex, a, r):
    x = _x(a)
    op = "ArgMax" if ex.cur_name == "argmax" else "ArgMin"
    d = a.get("dim")
    keep = 1 if a.get("keepdim", False) else 0
    if d is None:
        flat = ex.emit("Reshape", [ex.val(x), ex.i64([-1])])
        out = ex.emit(op, [flat], {"axis": 0, "keepdims": 0})
        if keep:
            out = ex.emit("Reshape", [out, ex.i64([1] * x.dim())])
        return out
    return ex.emit(op, [ex.val(x)], {"axis": _norm_dim(d, x.dim()), "keepdims": keep})


@handles("var", "std")
def _var(ex, a, r):
    x = _x(a)
    axes = _axes(a, x)
    if axes is None:
        axes = list(range(x.dim()))
    keep = 1 if a.get("keepdim", False) else 0
    corr = a.get("correction")
    if corr is None:
        corr = 1 if a.get("unbiased", True) else 0
    n = 1
    for d in axes:
        n *= x.shape[d]
    if any(d in ex.dyn_dims(x) for d in axes):
        raise OnnxExporterError("ONNX export: %s over a dynamic axis is not supported" % ex.cur_name)
    xn = ex.val(x)
    m = ex.emit("ReduceMean", [xn], {"axes": axes, "keepdims": 1})
    dv = ex.emit("Sub", [xn, m])
    s = ex.emit("ReduceSum", [ex.emit("Mul", [dv, dv]), ex.i64(axes)], {"keepdims": keep})
    v = ex.emit("Div", [s, ex.val(float(max(n - corr, 0)), r.dtype)])
    return ex.emit("Sqrt", [v]) if ex.cur_name == "std" else v


@handles("norm", "vector_norm", "linalg_vector_norm")
def _norm(ex, a, r):
    x = _x(a)
    p = a.get("p", a.get("ord", 2))
    if p is None:
        p = 2
    axes = _axes(a, x)
    attrs = {"keepdims": 1 if a.get("keepdim", False) else 0}
    if axes is not None:
        attrs["axes"] = axes
    if p == 2:
        return ex.emit("ReduceL2", [ex.val(x)], attrs)
    if p == 1:
        return ex.emit("ReduceL1", [ex.val(x)], attrs)
    raise UnsupportedOperatorError("ONNX export of norm with p=%s is not supported" % p)


@handles("cumsum")
def _cumsum(ex, a, r):
    x = _x(a)
    return ex.emit("CumSum", [ex.val(x, r.dtype), ex.val(_norm_dim(a["dim"], max(x.dim(), 1)), _ct.int64)])


# ------------------------------------------------------------------ nn layers

def _rep(v, n):
    v = _ilist(v)
    return v * n if len(v) == 1 else v


@handles("convolution", "_convolution")
def _conv(ex, a, r):
    x, w, b = a["input"], a["weight"], a.get("bias")
    nd = w.dim() - 2
    pad = _rep(a["padding"], nd)
    attrs = {"kernel_shape": list(w.shape[2:]), "strides": _rep(a["stride"], nd), "pads": pad + pad,
             "dilations": _rep(a["dilation"], nd), "group": int(a["groups"])}
    ins = [ex.val(x), ex.val(w)] + ([ex.val(b)] if b is not None else [])
    if a.get("transposed", False):
        op = _rep(a.get("output_padding", [0]), nd)
        if any(op):
            attrs["output_padding"] = op
        return ex.emit("ConvTranspose", ins, attrs)
    return ex.emit("Conv", ins, attrs)


@handles("pad")
def _pad(ex, a, r):
    x = _x(a)
    pad = _ilist(a["pad"])
    n = x.dim()
    begins, ends = [0] * n, [0] * n
    for i in range(len(pad) // 2):
        d = n - 1 - i
        begins[d], ends[d] = pad[2 * i], pad[2 * i + 1]
    mode = a.get("mode", "constant")
    if mode == "circular":
        # wrap around: [x[-b:], x, x[:e]] per padded dim (negative pads crop)
        cur = ex.val(x)
        for d in range(n):
            b, e = begins[d], ends[d]
            if b == 0 and e == 0:
                continue
            if d in ex.dyn_dims(x):
                raise UnsupportedOperatorError("ONNX export of circular pad over a dynamic axis is not supported")
            size = x.shape[d]
            parts = []
            if b > 0:
                parts.append(ex.emit("Slice", [cur, ex.i64([size - b]), ex.i64([size]), ex.i64([d])]))
            parts.append(ex.emit("Slice", [cur, ex.i64([max(-b, 0)]), ex.i64([size - max(-e, 0)]), ex.i64([d])]))
            if e > 0:
                parts.append(ex.emit("Slice", [cur, ex.i64([0]), ex.i64([e]), ex.i64([d])]))
            cur = ex.emit("Concat", parts, {"axis": d}) if len(parts) > 1 else parts[0]
            size = size + b + e
        return cur
    onnx_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}.get(mode)
    if onnx_mode is None:
        raise UnsupportedOperatorError("ONNX export of pad mode '%s' is not supported (opset %d)" % (mode, ex.opset))
    ins = [ex.val(x), ex.i64(begins + ends)]
    if onnx_mode == "constant":
        ins.append(ex.val(float(a.get("value") or 0.0), r.dtype))
    return ex.emit("Pad", ins, {"mode": onnx_mode})


def _pool_attrs(a, nd):
    k = _rep(a["kernel_size"], nd)
    s = _ilist(a.get("stride")) or k
    s = _rep(s, nd)
    p = _rep(a.get("padding", [0]), nd)
    return {"kernel_shape": k, "strides": s, "pads": p + p, "ceil_mode": 1 if a.get("ceil_mode") else 0}


@handles("max_pool")
def _max_pool(ex, a, r):
    x = _x(a)
    nd = x.dim() - 2
    attrs = _pool_attrs(a, nd)
    dil = _rep(a.get("dilation", [1]), nd)
    if any(d != 1 for d in dil):
        attrs["dilations"] = dil
    return [ex.emit("MaxPool", [ex.val(x)], attrs), None]


@handles("max_pool_values")
def _max_pool_values(ex, a, r):
    # nn_max_pool without the indices (F.max_pool* with neither indices nor a gradient asked for)
    return _max_pool(ex, a, r)[0]


@handles("avg_pool")
def _avg_pool(ex, a, r):
    x = _x(a)
    nd = x.dim() - 2
    if a.get("divisor_override") is not None:
        raise UnsupportedOperatorError("ONNX export of avg_pool with divisor_override is not supported")
    attrs = _pool_attrs(a, nd)
    attrs["count_include_pad"] = 1 if a.get("count_include_pad", True) else 0
    return ex.emit("AveragePool", [ex.val(x)], attrs)


def _adaptive(ex, a, r, glob, local):
    x = _x(a)
    ins = list(x.shape[2:])
    outs = list(r.shape[2:])
    dd = [d - 2 for d in ex.dyn_dims(x) if d >= 2]
    if all(o == 1 for o in outs):
        return ex.emit(glob, [ex.val(x)])
    if dd or any(i % o for i, o in zip(ins, outs)):
        raise UnsupportedOperatorError("ONNX export of adaptive pooling from %s to %s is not supported (input size "
                                       "must be a multiple of the output size)" % (ins, outs))
    k = [i // o for i, o in zip(ins, outs)]
    return ex.emit(local, [ex.val(x)], {"kernel_shape": k, "strides": k})


@handles("adaptive_avg_pool")
def _adaptive_avg(ex, a, r):
    return _adaptive(ex, a, r, "GlobalAveragePool", "AveragePool")


@handles("adaptive_max_pool")
def _adaptive_max(ex, a, r):
    return [_adaptive(ex, a, r[0], "GlobalMaxPool", "MaxPool"), None]


@handles("batch_norm")
def _batch_norm(ex, a, r):
    x = _x(a)
    c = x.shape[1]
    w, b = a.get("weight"), a.get("bias")
    if a.get("training") or a.get("running_mean") is None:
        # batch statistics (training=TrainingMode.TRAINING / PRESERVE on a training model, or
        # track_running_stats=False): normalise by the batch's own mean and biased variance over
        # every axis but the channels. ONNX graphs are stateless, so the running-stat update
        # that training mode also does is not part of the graph (onnxruntime ignores
        # BatchNormalization's training_mode, so the statistics are computed explicitly).
        if x.dim() < 2:
            raise UnsupportedOperatorError("ONNX export of batch_norm needs an input with a channel dimension")
        axes = [0] + list(range(2, x.dim()))
        xn = ex.val(x)
        m = ex.emit("ReduceMean", [xn], {"axes": axes, "keepdims": 1})
        d = ex.emit("Sub", [xn, m])
        v = ex.emit("ReduceMean", [ex.emit("Mul", [d, d])], {"axes": axes, "keepdims": 1})
        y = ex.emit("Div", [d, ex.emit("Sqrt", [ex.emit("Add", [v, ex.val(float(a["eps"]), x.dtype)])])])
        cshape = ex.i64([c] + [1] * (x.dim() - 2))
        if w is not None:
            y = ex.emit("Mul", [y, ex.emit("Reshape", [ex.val(w, x.dtype), cshape])])
        if b is not None:
            y = ex.emit("Add", [y, ex.emit("Reshape", [ex.val(b, x.dtype), cshape])])
        return [y, None, None]
    wn = ex.val(w) if w is not None else ex.const([1.0] * c, x.dtype)
    bn = ex.val(b) if b is not None else ex.const([0.0] * c, x.dtype)
    y = ex.emit("BatchNormalization", [ex.val(x), wn, bn, ex.val(a["running_mean"]), ex.val(a["running_var"])],
                {"epsilon": float(a["eps"])})
    return [y, None, None]


@handles("layer_norm")
def _layer_norm(ex, a, r):
    x = _x(a)
    ns = _ilist(a["normalized_shape"])
    axis = x.dim() - len(ns)
    w, b = a.get("weight"), a.get("bias")
    if ex.opset >= 17:
        wn = ex.val(w) if w is not None else ex.const(_ones(ns, 1.0), x.dtype)
        ins = [ex.val(x), wn] + ([ex.val(b)] if b is not None else [])
        return [ex.emit("LayerNormalization", ins, {"axis": axis, "epsilon": float(a["eps"])}), None, None]
    axes = list(range(axis, x.dim()))
    xn = ex.val(x)
    m = ex.emit("ReduceMean", [xn], {"axes": axes, "keepdims": 1})
    d = ex.emit("Sub", [xn, m])
    v = ex.emit("ReduceMean", [ex.emit("Mul", [d, d])], {"axes": axes, "keepdims": 1})
    y = ex.emit("Div", [d, ex.emit("Sqrt", [ex.emit("Add", [v, ex.val(float(a["eps"]), x.dtype)])])])
    if w is not None:
        y = ex.emit("Mul", [y, ex.val(w)])
    if b is not None:
        y = ex.emit("Add", [y, ex.val(b)])
    return [y, None, None]


def _ones(shape, v):
    if not shape:
        return v
    return [_ones(shape[1:], v) for _ in range(shape[0])]


@handles("group_norm")
def _group_norm(ex, a, r):
    x = _x(a)
    g = int(a["num_groups"])
    c = x.shape[1]
    xn = ex.val(x)
    shp = ex.emit("Shape", [xn])
    grouped = ex.emit("Reshape", [xn, ex.i64([0, g, -1])])
    m = ex.emit("ReduceMean", [grouped], {"axes": [2], "keepdims": 1})
    d = ex.emit("Sub", [grouped, m])
    v = ex.emit("ReduceMean", [ex.emit("Mul", [d, d])], {"axes": [2], "keepdims": 1})
    y = ex.emit("Div", [d, ex.emit("Sqrt", [ex.emit("Add", [v, ex.val(float(a["eps"]), x.dtype)])])])
    y = ex.emit("Reshape", [y, shp])
    bshape = [c] + [1] * (x.dim() - 2)
    if a.get("weight") is not None:
        y = ex.emit("Mul", [y, ex.emit("Reshape", [ex.val(a["weight"]), ex.i64(bshape)])])
    if a.get("bias") is not None:
        y = ex.emit("Add", [y, ex.emit("Reshape", [ex.val(a["bias"]), ex.i64(bshape)])])
    return [y, None, None]


@handles("_embedding", "embedding")
def _embedding(ex, a, r):
    return ex.emit("Gather", [ex.val(a["weight"]), ex.val(a["indices"], _ct.int64)], {"axis": 0})


# ------------------------------------------------------------------ recurrent layers and attention

# gate blocks in ONNX order, as indices of torch's blocks: LSTM torch (i, f, g, o) -> ONNX (i, o, f, c);
# GRU torch (r, z, n) -> ONNX (z, r, h)
_GATE_PERM = {2: [0, 3, 1, 2], 3: [1, 0, 2], 0: [0], 1: [0]}


def _reshape_runtime(ex, name, v1, v2):
    """Reshape name to sizes v1 (run 1) / v2 (run 2); one dynamic size becomes -1."""
    v1, v2 = list(v1), list(v2)
    d = [i for i in range(len(v1)) if v1[i] != v2[i]]
    if d:
        v1[d[0]] = v2[d[0]] = -1
    return ex.emit("Reshape", [name, ex.ints(v1, v2)])


@handles("rnn_layer")
def _rnn_layer(ex, a, r):
    """One layer and direction of RNN/LSTM/GRU over a whole (unpacked) sequence: xg (T*B, G)
    holds the input projections, so the ONNX node gets W = the gate permutation matrix
    (X W^T reorders the gates) and zero input biases."""
    mode = int(a["mode"])
    xg, w_hh, b_hh, w_hr = a["xg"], a["w_hh"], a.get("b_hh"), a.get("w_hr")
    h0, c0 = a["h0"], a.get("c0")
    bs, bs2 = _ilist(a["batch_sizes"]), _ilist(ex.arg2("batch_sizes"))
    if len(set(bs)) > 1:
        raise UnsupportedOperatorError("ONNX export of packed sequences with varying lengths is not supported")
    t1, b1 = len(bs), bs[0] if bs else 0
    t2, b2 = len(bs2), bs2[0] if bs2 else 0
    if w_hr is not None:
        return _lstm_proj_unrolled(ex, a, t1, b1, t2, b2)
    g = xg.shape[1]
    h = w_hh.shape[1]
    nb = g // h
    perm = _GATE_PERM[mode]
    rows = [blk * h + j for blk in perm for j in range(h)]
    x = _reshape_runtime(ex, ex.val(xg), [t1, b1, g], [t2, b2, g])
    eye = _ct.eye(g, dtype=xg.dtype)[_ct.tensor(rows)].reshape(1, g, g).contiguous()
    w = ex.init("/rnn_W", eye)
    idx = ex.i64(rows)
    rr = ex.emit("Unsqueeze", [ex.emit("Gather", [ex.val(w_hh), idx], {"axis": 0}), ex.i64([0])])
    zeros = ex.const([0.0] * g, xg.dtype)
    rb = ex.emit("Gather", [ex.val(b_hh), idx], {"axis": 0}) if b_hh is not None else zeros
    bias = ex.emit("Unsqueeze", [ex.emit("Concat", [zeros, rb], {"axis": 0}), ex.i64([0])])
    ins = [x, w, rr, bias, "", ex.emit("Unsqueeze", [ex.val(h0), ex.i64([0])])]
    attrs = {"hidden_size": h, "direction": "reverse" if a.get("reverse") else "forward"}
    if mode == 2:
        ins.append(ex.emit("Unsqueeze", [ex.val(c0), ex.i64([0])]))
        y, yh, yc = ex.emit("LSTM", ins, attrs, nout=3)
    elif mode == 3:
        attrs["linear_before_reset"] = 1
        y, yh = ex.emit("GRU", ins, attrs, nout=2)
        yc = None
    else:
        attrs["activations"] = ["Relu" if mode == 1 else "Tanh"]
        y, yh = ex.emit("RNN", ins, attrs, nout=2)
        yc = None
    assert nb == len(perm)
    out = ex.emit("Reshape", [ex.emit("Squeeze", [y, ex.i64([1])]), ex.i64([-1, h])])
    hn = ex.emit("Squeeze", [yh, ex.i64([0])])
    cn = ex.emit("Squeeze", [yc, ex.i64([0])]) if yc is not None else None
    return [out, hn, cn, None]


def _lstm_proj_unrolled(ex, a, t1, b1, t2, b2):
    """LSTM with proj_size: ONNX's LSTM has no projection (torch.onnx refuses these), so the
    recurrence is unrolled step by step from MatMul/Sigmoid/Tanh; the batch axis may be
    dynamic, the sequence length is fixed at the traced one."""
    xg, w_hh, b_hh, w_hr = a["xg"], a["w_hh"], a.get("b_hh"), a["w_hr"]
    if t1 != t2:
        raise UnsupportedOperatorError("ONNX export of LSTM with proj_size over a dynamic sequence axis is not "
                                       "supported (ONNX's LSTM has no projection; the steps are unrolled)")
    g = xg.shape[1]
    hs = g // 4
    x3 = _reshape_runtime(ex, ex.val(xg), [t1, b1, g], [t2, b2, g])
    whh_t = ex.emit("Transpose", [ex.val(w_hh)], {"perm": [1, 0]})
    whr_t = ex.emit("Transpose", [ex.val(w_hr)], {"perm": [1, 0]})
    bias = ex.val(b_hh) if b_hh is not None else None
    h, c = ex.val(a["h0"]), ex.val(a["c0"])
    outs = [None] * t1
    split = ex.i64([hs] * 4)
    for step in (reversed(range(t1)) if a.get("reverse") else range(t1)):
        gates = ex.emit("Add", [ex.emit("Gather", [x3, ex.val(step, _ct.int64)], {"axis": 0}),
                                ex.emit("MatMul", [h, whh_t])])
        if bias is not None:
            gates = ex.emit("Add", [gates, bias])
        gi, gf, gg, go = ex.emit("Split", [gates, split], {"axis": 1}, nout=4)
        c = ex.emit("Add", [ex.emit("Mul", [ex.emit("Sigmoid", [gf]), c]),
                            ex.emit("Mul", [ex.emit("Sigmoid", [gi]), ex.emit("Tanh", [gg])])])
        hfull = ex.emit("Mul", [ex.emit("Sigmoid", [go]), ex.emit("Tanh", [c])])
        h = ex.emit("MatMul", [hfull, whr_t])
        outs[step] = h
    p = w_hr.shape[0]
    if t1 == 0:
        return [ex.emit("Reshape", [x3, ex.i64([0, p])]), h, c, None]
    y = ex.emit("Concat", outs, {"axis": 0}) if t1 > 1 else ex.emit("Identity", [outs[0]])
    return [y, h, c, None]


@handles("sdpa")
def _sdpa(ex, a, r):
    """Scaled dot-product attention on (N, L, E) x (N, S, E) x (N, S, Ev), decomposed."""
    q, k, v = a["q"], a["k"], a["v"]
    dt = q.dtype
    s = ex.emit("MatMul", [ex.val(q), ex.emit("Transpose", [ex.val(k)], {"perm": [0, 2, 1]})])
    s = ex.emit("Mul", [s, ex.val(float(a["scale"]), dt)])
    if a.get("attn_mask") is not None:
        s = ex.emit("Add", [s, ex.val(a["attn_mask"], dt)])
    if a.get("is_causal"):
        if ex.opset < 14:
            raise UnsupportedOperatorError("ONNX export of causal attention needs opset 14 (Trilu)")
        ls = ex.emit("Slice", [ex.shape_of(s), ex.i64([1]), ex.i64([3]), ex.i64([0])])
        ones = ex.emit("ConstantOfShape", [ls], {"value": _ct.tensor([1.0], dtype=dt)})
        keep = ex.emit("Cast", [ex.emit("Trilu", [ones], {"upper": 0})], {"to": _elem(_ct.bool)})
        s = ex.emit("Where", [keep, s, ex.val(float("-inf"), dt)])
    p = ex.emit("Softmax", [s], {"axis": -1})
    if a.get("dropout_mask") is not None:
        p = ex.emit("Mul", [p, ex.val(a["dropout_mask"], dt)])
    out = ex.emit("MatMul", [p, ex.val(v)])
    return [out, p if a.get("need_weights") else None]


@handles("rms_norm")
def _rms_norm(ex, a, r):
    x = _x(a)
    ns = _ilist(a["normalized_shape"])
    axes = list(range(x.dim() - len(ns), x.dim()))
    eps = a.get("eps")
    if eps is None:
        eps = {_ct.float64: 2.220446049250313e-16, _ct.float16: 0.0009765625,
               _ct.bfloat16: 0.0078125}.get(x.dtype, 1.1920928955078125e-07)
    xn = ex.val(x)
    ms = ex.emit("ReduceMean", [ex.emit("Mul", [xn, xn])], {"axes": axes, "keepdims": 1})
    y = ex.emit("Div", [xn, ex.emit("Sqrt", [ex.emit("Add", [ms, ex.val(float(eps), x.dtype)])])])
    if a.get("weight") is not None:
        y = ex.emit("Mul", [y, ex.val(a["weight"])])
    return [y, None]


@handles("pixel_shuffle")
def _pixel_shuffle(ex, a, r):
    x = _x(a)
    if x.dim() != 4:
        raise UnsupportedOperatorError("ONNX export of pixel_shuffle supports 4-D inputs only")
    return ex.emit("DepthToSpace", [ex.val(x)], {"blocksize": int(a["upscale_factor"]), "mode": "CRD"})


@handles("upsample")
def _upsample(ex, a, r):
    x = _x(a)
    mode = a["mode"]
    attrs = {}
    if mode == "nearest":
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    elif mode == "nearest-exact":
        # source index floor((dst + 0.5) * in / out) == round_prefer_ceil of the half-pixel coordinate
        attrs = {"mode": "nearest", "coordinate_transformation_mode": "half_pixel",
                 "nearest_mode": "round_prefer_ceil"}
    elif mode in ("linear", "bilinear", "trilinear", "bicubic"):
        attrs = {"mode": "cubic" if mode == "bicubic" else "linear",
                 "coordinate_transformation_mode": "align_corners" if a.get("align_corners")
                 else "pytorch_half_pixel"}
        if mode == "bicubic":
            attrs["cubic_coeff_a"] = -0.75
    else:
        raise UnsupportedOperatorError("ONNX export of interpolate mode '%s' is not supported" % mode)
    scales = [a.get("scale_%d" % i) for i in range(x.dim() - 2)]
    ins, outs = list(x.shape[2:]), list(r.shape[2:])
    if any(s is not None and abs(s * i - o) > 1e-9 for s, i, o in zip(scales, ins, outs)):
        # a scale_factor that does not give an integer size: torch maps coordinates with the
        # given scale and floors the size, which is what Resize does with a scales input
        if any(s_ is None for s_ in scales):
            raise UnsupportedOperatorError("ONNX export of interpolate mixing sizes and non-integral scales is not "
                                           "supported")
        sc = ex.const([1.0, 1.0] + [float(s_) for s_ in scales], _ct.float32)
        return ex.emit("Resize", [ex.val(x), "", sc], attrs)
    sizes = ex.ints(r.shape, ex.shape2(r))
    return ex.emit("Resize", [ex.val(x), "", "", sizes], attrs)


@handles("copy_")
def _copy_(ex, a, r):
    dst, src = a["input"], a["src"]
    n = ex.val(src, dst.dtype)
    if tuple(src.shape) != tuple(dst.shape) or (ex.records2 is not None and ex.shape2(src) != ex.shape2(dst)):
        n = ex.emit("Expand", [n, ex.shape_of(ex.val(dst))])
    return n


@handles("fill_", "zero_")
def _fill_(ex, a, r):
    x = a["input"]
    v = 0 if ex.cur_name == "zero_" else a["value"]
    if _is_tensor(v):
        if id(v) in ex.live:
            return ex.emit("Expand", [ex.val(v, x.dtype), ex.shape_of(ex.val(x))])
        v = v.item()
    return ex.emit("ConstantOfShape", [ex.shape_of(ex.val(x))], {"value": _ct.tensor([v], dtype=x.dtype)})


@handles("isnan", "isinf")
def _isnan(ex, a, r):
    x = _x(a)
    if not x.dtype.is_floating_point:
        return ex.emit("ConstantOfShape", [ex.shape_of(ex.val(x))], {"value": _ct.tensor([False])})
    return ex.emit("IsNaN" if ex.cur_name == "isnan" else "IsInf", [ex.val(x)])


@handles("trunc", "fix")
def _trunc(ex, a, r):
    x = ex.val(_x(a))
    if not r.dtype.is_floating_point:
        return ex.emit("Identity", [x])
    return ex.emit("Mul", [ex.emit("Sign", [x]), ex.emit("Floor", [ex.emit("Abs", [x])])])


@handles("erfc")
def _erfc(ex, a, r):
    return ex.emit("Sub", [ex.val(1.0, r.dtype), ex.emit("Erf", [ex.val(_x(a), r.dtype)])])


@handles("logit")
def _logit(ex, a, r):
    x = ex.val(_x(a), r.dtype)
    eps = a.get("eps")
    if eps is not None:
        x = ex.emit("Clip", [x, ex.val(float(eps), r.dtype), ex.val(1.0 - float(eps), r.dtype)])
    return ex.emit("Log", [ex.emit("Div", [x, ex.emit("Sub", [ex.val(1.0, r.dtype), x])])])


@handles("lerp")
def _lerp(ex, a, r):
    x, e = ex.val(a["input"], r.dtype), ex.val(a["end"], r.dtype)
    return ex.emit("Add", [x, ex.emit("Mul", [ex.val(a["weight"], r.dtype), ex.emit("Sub", [e, x])])])


@handles("addcmul", "addcdiv")
def _addc(ex, a, r):
    op = "Mul" if ex.cur_name == "addcmul" else "Div"
    t = ex.emit(op, [ex.val(a["tensor1"], r.dtype), ex.val(a["tensor2"], r.dtype)])
    v = a.get("value", 1)
    if v != 1:
        t = ex.emit("Mul", [t, ex.val(v, r.dtype)])
    return ex.emit("Add", [ex.val(a["input"], r.dtype), t])


@handles("_einsum")
def _einsum(ex, a, r):
    eq = a["equation"].replace(" ", "")
    return ex.emit("Einsum", [ex.val(t, r.dtype) for t in a["tensors"]], {"equation": eq})


@handles("all", "any")
def _all_any(ex, a, r):
    x = _x(a)
    axes = _axes(a, x)
    attrs = {"keepdims": 1 if a.get("keepdim", False) else 0}
    if axes is not None:
        attrs["axes"] = axes
    n = ex.emit("Cast", [ex.val(x, _ct.bool)], {"to": _elem(_ct.int32)})
    red = ex.emit("ReduceMin" if ex.cur_name == "all" else "ReduceMax", [n], attrs)
    return ex.cast(red, r.dtype)


@handles("pixel_unshuffle")
def _pixel_unshuffle(ex, a, r):
    x = _x(a)
    if x.dim() != 4:
        raise UnsupportedOperatorError("ONNX export of pixel_unshuffle supports 4-D inputs only")
    f = int(a["downscale_factor"])
    n, c, h, w = x.shape
    dyn = ex.dyn_dims(x)
    if any(d != 0 for d in dyn):
        raise OnnxExporterError("ONNX export: pixel_unshuffle with dynamic channel/spatial axes is not supported")
    y = ex.emit("Reshape", [ex.val(x), ex.i64([0, c, h // f, f, w // f, f])])
    y = ex.emit("Transpose", [y], {"perm": [0, 1, 3, 5, 2, 4]})
    return ex.emit("Reshape", [y, ex.i64([0, c * f * f, h // f, w // f])])


@handles("local_response_norm")
def _lrn(ex, a, r):
    size = int(a["size"])
    x = _x(a)
    if size % 2 == 0 or x.dim() < 3:
        raise UnsupportedOperatorError("ONNX export of local_response_norm needs an odd size and a 3-D+ input")
    return ex.emit("LRN", [ex.val(x)], {"size": size, "alpha": float(a["alpha"]), "beta": float(a["beta"]),
                                         "bias": float(a["k"])})


@handles("lp_pool")
def _lp_pool(ex, a, r):
    x = _x(a)
    p = float(a["norm_type"])
    if p != 2.0 or a.get("ceil_mode"):
        raise UnsupportedOperatorError("ONNX export of lp_pool supports norm_type=2 without ceil_mode (opset 17)")
    nd = x.dim() - 2
    k = _rep(a["kernel_size"], nd)
    s = _rep(_ilist(a.get("stride")) or k, nd)
    return ex.emit("LpPool", [ex.val(x)], {"kernel_shape": k, "strides": s, "p": 2})


@handles("bilinear")
def _bilinear(ex, a, r):
    y = ex.emit("Einsum", [ex.val(a["input1"]), ex.val(a["weight"]), ex.val(a["input2"])],
                {"equation": "...i,oij,...j->...o"})
    if a.get("bias") is not None:
        y = ex.emit("Add", [y, ex.val(a["bias"])])
    return y


# ------------------------------------------------------------------ sorting and selection

def _dim_size(ex, x, xn, d):
    """1-D INT64 [size of dim d of x] (a constant unless the dim is dynamic)."""
    if d in ex.dyn_dims(x):
        return ex.emit("Gather", [ex.shape_of(xn), ex.i64([d])], {"axis": 0})
    return ex.i64([x.shape[d]])


@handles("sort", "argsort")
def _sort(ex, a, r):
    x = _x(a)
    if x.dim() == 0:
        n = ex.val(x)
        outs = [ex.emit("Identity", [n]), ex.const(0, _ct.int64)]
        return outs[1] if ex.cur_name == "argsort" else outs
    d = _norm_dim(a.get("dim", -1), x.dim())
    xn = ex.val(x)
    vals, idx = ex.emit("TopK", [xn, _dim_size(ex, x, xn, d)],
                        {"axis": d, "largest": 1 if a.get("descending") else 0, "sorted": 1}, nout=2)
    return idx if ex.cur_name == "argsort" else [vals, idx]


@handles("topk")
def _topk(ex, a, r):
    x = _x(a)
    d = _norm_dim(a.get("dim", -1), max(x.dim(), 1))
    vals, idx = ex.emit("TopK", [ex.val(x), ex.i64([int(a["k"])])],
                        {"axis": d, "largest": 1 if a.get("largest", True) else 0, "sorted": 1}, nout=2)
    return [vals, idx]


def _kth_smallest(ex, x, xn, d, k, keepdim):
    """(values, indices) of the k-th smallest along d; k a 1-D INT64 value [k]."""
    vals, idx = ex.emit("TopK", [xn, k], {"axis": d, "largest": 0, "sorted": 1}, nout=2)
    pick = ex.emit("Sub", [k, ex.i64([1])])
    outs = [ex.emit("Gather", [v, pick], {"axis": d}) for v in (vals, idx)]
    if not keepdim:
        outs = [ex.emit("Squeeze", [o, ex.i64([d])]) for o in outs]
    return outs


@handles("kthvalue")
def _kthvalue(ex, a, r):
    x = _x(a)
    d = _norm_dim(a.get("dim", -1), max(x.dim(), 1))
    return _kth_smallest(ex, x, ex.val(x), d, ex.i64([int(a["k"])]), a.get("keepdim", False))


@handles("median")
def _median(ex, a, r):
    """The lower median, as torch: the ((n - 1) // 2 + 1)-th smallest."""
    x = _x(a)
    xn = ex.val(x)
    if a.get("dim") is None:
        flat = ex.emit("Reshape", [xn, ex.i64([-1])])
        n = ex.emit("Shape", [flat])
        k = ex.emit("Add", [ex.emit("Div", [ex.emit("Sub", [n, ex.i64([1])]), ex.i64([2])]), ex.i64([1])])
        vals = ex.emit("TopK", [flat, k], {"axis": 0, "largest": 0, "sorted": 1}, nout=2)[0]
        return ex.emit("Squeeze", [ex.emit("Gather", [vals, ex.emit("Sub", [k, ex.i64([1])])], {"axis": 0}),
                                   ex.i64([0])])
    d = _norm_dim(a["dim"], max(x.dim(), 1))
    n = _dim_size(ex, x, xn, d)
    k = ex.emit("Add", [ex.emit("Div", [ex.emit("Sub", [n, ex.i64([1])]), ex.i64([2])]), ex.i64([1])])
    return _kth_smallest(ex, x, xn, d, k, a.get("keepdim", False))


# ------------------------------------------------------------------ scatter / index_* family

def _scatter_src(ex, a, x):
    src = a.get("src")
    if src is None:
        src = a.get("value")
    n = ex.val(src, x.dtype)
    if not _is_tensor(src) or src.dim() == 0:
        n = ex.emit("Expand", [n, ex.shape_of(ex.val(a["index"]))])
    elif tuple(src.shape) != tuple(a["index"].shape):
        # scatter reads src only where index has entries: src[:index.shape]
        ish = list(a["index"].shape)
        n = ex.emit("Slice", [n, ex.i64([0] * len(ish)), ex.i64(ish), ex.i64(range(len(ish)))])
    return n


@handles("scatter", "scatter_", "scatter_add", "scatter_add_", "scatter_reduce", "scatter_reduce_")
def _scatter(ex, a, r):
    x = _x(a)
    d = _norm_dim(a["dim"], max(x.dim(), 1))
    name = ex.cur_name.rstrip("_")
    reduce = a.get("reduce")
    if name == "scatter_add":
        reduce = "sum"
    if name == "scatter_reduce" and not a.get("include_self", True):
        raise UnsupportedOperatorError("ONNX export of scatter_reduce with include_self=False is not supported")
    red = {None: None, "sum": "add", "add": "add", "prod": "mul", "multiply": "mul"}
    if reduce not in red:
        raise UnsupportedOperatorError("ONNX export of %s with reduce='%s' needs opset 18" % (ex.cur_name, reduce))
    attrs = {"axis": d}
    if red[reduce] is not None:
        if ex.opset < 16:
            raise UnsupportedOperatorError("ONNX export of %s with a reduction needs opset 16" % ex.cur_name)
        attrs["reduction"] = red[reduce]
    return ex.emit("ScatterElements", [ex.val(x), ex.val(a["index"], _ct.int64), _scatter_src(ex, a, x)], attrs)


def _norm_index(ex, x, xn, d, index):
    """index (1-D) with negative entries wrapped by the size of dim d."""
    i = ex.val(index, _ct.int64)
    if index.dim() == 0:
        i = ex.emit("Reshape", [i, ex.i64([1])])
    n = _dim_size(ex, x, xn, d)
    return ex.emit("Where", [ex.emit("Less", [i, ex.i64([0])]), ex.emit("Add", [i, n]), i])


def _along(ex, name, d, rank):
    """name (1-D) reshaped to broadcast along dim d of a rank-`rank` tensor."""
    return ex.emit("Reshape", [name, ex.i64([1] * d + [-1] + [1] * (rank - d - 1))])


@handles("index_fill", "index_fill_")
def _index_fill(ex, a, r):
    x = _x(a)
    d = _norm_dim(a["dim"], max(x.dim(), 1))
    xn = ex.val(x)
    i = _norm_index(ex, x, xn, d, a["index"])
    n = ex.emit("Squeeze", [_dim_size(ex, x, xn, d), ex.i64([0])])
    ar = ex.emit("Range", [ex.val(0, _ct.int64), n, ex.val(1, _ct.int64)])
    eq = ex.emit("Equal", [ex.emit("Unsqueeze", [ar, ex.i64([1])]), ex.emit("Unsqueeze", [i, ex.i64([0])])])
    hit = ex.emit("Cast", [ex.emit("ReduceMax", [ex.cast(eq, _ct.int32)], {"axes": [1], "keepdims": 0})],
                  {"to": _elem(_ct.bool)})
    v = a["value"]
    vn = ex.val(v, x.dtype)
    if _is_tensor(v) and v.dim() > 0:
        vn = ex.emit("Reshape", [vn, ex.i64([])])
    return ex.emit("Where", [_along(ex, hit, d, max(x.dim(), 1)), vn, xn])


@handles("index_copy", "index_copy_", "index_add", "index_add_")
def _index_copy(ex, a, r):
    x, src = _x(a), a["source"]
    d = _norm_dim(a["dim"], max(x.dim(), 1))
    xn = ex.val(x)
    sn = ex.val(src, x.dtype)
    i = _norm_index(ex, x, xn, d, a["index"])
    idx = ex.emit("Expand", [_along(ex, i, d, max(x.dim(), 1)), ex.shape_of(sn)])
    attrs = {"axis": d}
    if ex.cur_name.startswith("index_add"):
        if ex.opset < 16:
            raise UnsupportedOperatorError("ONNX export of index_add needs opset 16 (ScatterElements reduction)")
        attrs["reduction"] = "add"
        alpha = a.get("alpha", 1)
        if alpha != 1:
            sn = ex.emit("Mul", [sn, ex.val(alpha, x.dtype)])
    return ex.emit("ScatterElements", [xn, idx, sn], attrs)


# ------------------------------------------------------------------ more elementwise / shape

@handles("atan2", "arctan2")
def _atan2(ex, a, r):
    """atan2(y, x) from Atan with the quadrant corrections (ONNX has no Atan2)."""
    y = ex.val(a["input"], r.dtype)
    x = ex.val(a["other"], r.dtype)
    zero = ex.val(0.0, r.dtype)
    pi = ex.val(math.pi, r.dtype)
    base = ex.emit("Atan", [ex.emit("Div", [y, x])])
    ylt0 = ex.emit("Less", [y, zero])
    shift = ex.emit("Where", [ylt0, ex.emit("Neg", [pi]), pi])
    res = ex.emit("Where", [ex.emit("Less", [x, zero]), ex.emit("Add", [base, shift]), base])
    half = ex.emit("Mul", [ex.emit("Sign", [y]), ex.val(math.pi / 2, r.dtype)])
    return ex.emit("Where", [ex.emit("Equal", [x, zero]), half, res])


@handles("roll")
def _roll(ex, a, r):
    x = _x(a)
    shifts = _ilist(a["shifts"])
    dims = a.get("dims")
    xn = ex.val(x)
    if dims is None or _ilist(dims) == []:
        flat = ex.emit("Reshape", [xn, ex.i64([-1])])
        if ex.dyn_dims(x):
            raise UnsupportedOperatorError("ONNX export of roll without dims over dynamic axes is not supported")
        n = x.numel()
        out = _roll_dim(ex, flat, 0, n, shifts[0])
        return ex.emit("Reshape", [out, ex.shape_of(xn)])
    dims = _ilist(dims)
    cur = xn
    for sh, d in zip(shifts, dims):
        d = _norm_dim(d, x.dim())
        if d in ex.dyn_dims(x):
            raise UnsupportedOperatorError("ONNX export of roll over a dynamic axis is not supported")
        cur = _roll_dim(ex, cur, d, x.shape[d], sh)
    return cur


def _roll_dim(ex, cur, d, n, shift):
    if n == 0:
        return cur
    s = shift % n
    if s == 0:
        return ex.emit("Identity", [cur])
    tail = ex.emit("Slice", [cur, ex.i64([n - s]), ex.i64([n]), ex.i64([d])])
    head = ex.emit("Slice", [cur, ex.i64([0]), ex.i64([n - s]), ex.i64([d])])
    return ex.emit("Concat", [tail, head], {"axis": d})


@handles("repeat_interleave")
def _repeat_interleave(ex, a, r):
    x = _x(a)
    reps = a.get("repeats")
    if _is_tensor(reps):
        if reps.numel() != 1:
            raise UnsupportedOperatorError("ONNX export of repeat_interleave with per-element repeats is not "
                                           "supported")
        reps = int(reps.item())
    xn = ex.val(x)
    d = a.get("dim")
    if d is None:
        xn = ex.emit("Reshape", [xn, ex.i64([-1])])
        d, rank = 0, 1
    else:
        rank = max(x.dim(), 1)
        d = _norm_dim(d, rank)
    shape = ex.emit("Shape", [xn])
    u = ex.emit("Unsqueeze", [xn, ex.i64([d + 1])])
    head = ex.emit("Slice", [shape, ex.i64([0]), ex.i64([d + 1]), ex.i64([0])])
    rest = ex.emit("Slice", [shape, ex.i64([d + 1]), ex.i64([INT64_MAX]), ex.i64([0])])
    big = ex.emit("Expand", [u, ex.emit("Concat", [head, ex.i64([int(reps)]), rest], {"axis": 0})])
    head2 = ex.emit("Slice", [shape, ex.i64([0]), ex.i64([d]), ex.i64([0])])
    return ex.emit("Reshape", [big, ex.emit("Concat", [head2, ex.i64([-1]), rest], {"axis": 0})])


@handles("_norm_dim")
def _norm_dim_op(ex, a, r):
    x = _x(a)
    p = float(a["p"])
    if p not in (1.0, 2.0):
        raise UnsupportedOperatorError("ONNX export of a p=%s norm is not supported" % p)
    d = _norm_dim(a["dim"], max(x.dim(), 1))
    out = ex.emit("ReduceL2" if p == 2.0 else "ReduceL1", [ex.val(x)],
                  {"axes": [d], "keepdims": 1 if a.get("keepdim") else 0})
    eps = float(a.get("eps") or 0.0)
    if eps > 0:
        out = ex.emit("Max", [out, ex.val(eps, r.dtype)])
    return out


@handles("_cosine_similarity")
def _cosine(ex, a, r):
    if a.get("mode", 0) != 0:
        raise UnsupportedOperatorError("ONNX export of this cosine-similarity variant is not supported")
    x1, x2 = a["x1"], a["x2"]
    nd = max(x1.dim(), x2.dim(), 1)
    d = _norm_dim(a.get("dim", 1), nd)
    n1, n2 = ex.val(x1, r.dtype), ex.val(x2, r.dtype)
    dot = ex.emit("ReduceSum", [ex.emit("Mul", [n1, n2]), ex.i64([d])], {"keepdims": 0})
    s1 = ex.emit("ReduceSum", [ex.emit("Mul", [n1, n1]), ex.i64([d])], {"keepdims": 0})
    s2 = ex.emit("ReduceSum", [ex.emit("Mul", [n2, n2]), ex.i64([d])], {"keepdims": 0})
    eps = float(a.get("eps", 1e-8))
    den = ex.emit("Sqrt", [ex.emit("Max", [ex.emit("Mul", [s1, s2]), ex.val(eps * eps, r.dtype)])])
    return ex.emit("Div", [dot, den])


@handles("frac", "frac_")
def _frac(ex, a, r):
    x = ex.val(_x(a))
    t = ex.emit("Mul", [ex.emit("Sign", [x]), ex.emit("Floor", [ex.emit("Abs", [x])])])
    return ex.emit("Sub", [x, t])


@handles("nan_to_num", "nan_to_num_")
def _nan_to_num(ex, a, r):
    x = _x(a)
    xn = ex.val(x)
    if not x.dtype.is_floating_point:
        return ex.emit("Identity", [xn])
    big = {_ct.float16: 65504.0, _ct.bfloat16: 3.3895313892515355e38, _ct.float32: 3.4028234663852886e38,
           _ct.float64: 1.7976931348623157e308}[x.dtype]  # the dtype's largest finite value
    nan = a.get("nan")
    pos, neg = a.get("posinf"), a.get("neginf")
    pos = big if pos is None else pos
    neg = -big if neg is None else neg
    out = ex.emit("Where", [ex.emit("IsNaN", [xn]), ex.val(0.0 if nan is None else nan, x.dtype), xn])
    out = ex.emit("Where", [ex.emit("IsInf", [xn], {"detect_negative": 0}), ex.val(pos, x.dtype), out])
    return ex.emit("Where", [ex.emit("IsInf", [xn], {"detect_positive": 0}), ex.val(neg, x.dtype), out])


@handles("count_nonzero")
def _count_nonzero(ex, a, r):
    x = _x(a)
    xn = ex.val(x)
    nz = ex.cast(ex.emit("Not", [ex.emit("Equal", [xn, ex.val(0, x.dtype) if x.dtype != _ct.bool
                                                     else ex.val(False)])]), _ct.int64)
    axes = _axes(a, x)
    ins = [nz] + ([ex.i64(axes)] if axes is not None else [])
    return ex.emit("ReduceSum", ins, {"keepdims": 0})


@handles("_nonzero", "nonzero", "argwhere")
def _nonzero(ex, a, r):
    return ex.emit("Transpose", [ex.emit("NonZero", [ex.val(_x(a))])], {"perm": [1, 0]})


@handles("var_mean", "std_mean")
def _var_mean(ex, a, r):
    name = ex.cur_name
    ex.cur_name = name.split("_")[0]
    try:
        v = _var(ex, a, r[0])
    finally:
        ex.cur_name = name
    x = _x(a)
    axes = _axes(a, x)
    attrs = {"keepdims": 1 if a.get("keepdim", False) else 0}
    if axes is not None:
        attrs["axes"] = axes
    else:
        attrs["keepdims"] = 0
    return [v, ex.emit("ReduceMean", [ex.val(x)], attrs)]


@handles("diagonal")
def _diagonal(ex, a, r):
    x = _x(a)
    d1 = _norm_dim(a.get("dim1", 0), x.dim())
    d2 = _norm_dim(a.get("dim2", 1), x.dim())
    off = int(a.get("offset", 0))
    if d1 in ex.dyn_dims(x) or d2 in ex.dyn_dims(x):
        raise UnsupportedOperatorError("ONNX export of diagonal over a dynamic axis is not supported")
    rest = [i for i in range(x.dim()) if i not in (d1, d2)]
    t = ex.emit("Transpose", [ex.val(x)], {"perm": rest + [d1, d2]})
    n1, n2 = x.shape[d1], x.shape[d2]
    length = max(0, min(n1, n2 - off) if off >= 0 else min(n1 + off, n2))
    r0, c0 = (0, off) if off >= 0 else (-off, 0)
    flat_idx = [(r0 + k) * n2 + (c0 + k) for k in range(length)]
    lead = ex.emit("Slice", [ex.emit("Shape", [t]), ex.i64([0]), ex.i64([len(rest)]), ex.i64([0])])
    flat = ex.emit("Reshape", [t, ex.emit("Concat", [lead, ex.i64([n1 * n2])], {"axis": 0})])
    return ex.emit("Gather", [flat, ex.i64(flat_idx)], {"axis": len(rest)})


@handles("trace")
def _trace_op(ex, a, r):
    x = _x(a)
    n = min(x.shape)
    flat = ex.emit("Reshape", [ex.val(x, r.dtype), ex.i64([-1])])
    diag = ex.emit("Gather", [flat, ex.i64([k * x.shape[1] + k for k in range(n)])], {"axis": 0})
    return ex.emit("ReduceSum", [diag], {"keepdims": 0})


def _nonzero_tuple_nodes(ex, x, r):
    """nonzero(as_tuple=True) / where(cond): one 1-D index tensor per dim, rows of NonZero."""
    nz = ex.emit("NonZero", [ex.val(x)])
    n = max(x.dim(), 1)
    if n == 1:
        parts = [nz]
    else:
        parts = ex.emit("Split", [nz, ex.i64([1] * n)], {"axis": 0}, nout=n)
    return [ex.emit("Squeeze", [p_, ex.i64([0])]) for p_ in parts][:len(r)]


@handles("_nonzero_tuple", "nonzero_numpy")
def _nonzero_tuple(ex, a, r):
    return _nonzero_tuple_nodes(ex, _x(a), r)


def _gather_nd(ex, x, src, indices):
    """x[i0, i1, ..., ik-1] for integer index tensors on the leading dims: GatherND over the
    broadcast, stacked indices (negative entries wrapped)."""
    shape = ex.shape_of(src)
    cols = []
    for d, i in enumerate(indices):
        n = ex.val(i, _ct.int64)
        size = ex.emit("Gather", [shape, ex.i64([d])], {"axis": 0})
        cols.append(ex.emit("Where", [ex.emit("Less", [n, ex.val(0, _ct.int64)]), ex.emit("Add", [n, size]), n]))
    zero = ex.val(0, _ct.int64)
    acc = ex.emit("Mul", [cols[0], zero])
    for c in cols[1:]:
        acc = ex.emit("Add", [acc, ex.emit("Mul", [c, zero])])
    bshape = ex.emit("Shape", [acc])
    cols = [ex.emit("Unsqueeze", [ex.emit("Expand", [c, bshape]), ex.i64([-1])]) for c in cols]
    return ex.emit("GatherND", [src, ex.emit("Concat", cols, {"axis": -1})])
