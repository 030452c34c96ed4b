"""Autograd of indexing: t[...] (views and advanced indexing), t[...] = v on tensors in the
graph, and the index ops (gather/scatter family, index_*, masked_*, take/put), against torch."""
import numpy as np
import pytest
import torch

import ctorch
from helpers import check_grad

M34 = [[True, False, True, False], [False, False, True, True], [True, True, False, False]]
M4 = [True, False, True, True]


def T(lib, v, dtype=None):
    return lib.tensor(v, dtype=getattr(lib, dtype) if dtype else None)


def name(t):
    g = t.grad_fn
    if g is None:
        return None
    return g.name() if hasattr(g, "name") and not isinstance(g, torch.autograd.graph.Node) else type(g).__name__


GETITEM = [
    ("x[1]", (3, 4, 5)),
    ("x[-1]", (3, 4, 5)),
    ("x[1:3]", (4, 5)),
    ("x[::2]", (5, 3)),
    ("x[1:, ::3]", (4, 7)),
    ("x[:, 1]", (3, 4)),
    ("x[1, ::2]", (3, 5)),
    ("x[None]", (3, 4)),
    ("x[:, None, 1:]", (3, 4)),
    ("x[...]", (3, 4)),
    ("x[..., 1]", (2, 3, 4)),
    ("x[1, ..., None]", (2, 3, 4)),
    ("x[0, 0, 0]", (2, 3, 4)),
    ("x[:, :]", (3, 4)),
    ("x[0:3, 1:]", (3, 4)),
    ("x[T(lib, 1)]", (3, 4)),
    ("x[T(lib, [0, 2, 2])]", (3, 4)),
    ("x[[2, 0, 2, 2]]", (3, 4)),
    ("x[:, [1, 1, 3]]", (3, 4)),
    ("x[T(lib, [[0, 1], [1, 1]])]", (3, 4)),
    ("x[T(lib, [0, 2]), T(lib, [1, 3])]", (3, 4)),
    ("x[T(lib, [0, 2, 0]), 1:]", (3, 4)),
    ("x[T(lib, [0, 1]), :, T(lib, [2, 2])]", (2, 3, 4)),
    ("x[1:, T(lib, [0, 0])]", (3, 4, 2)),
    ("x[T(lib, M34)]", (3, 4)),
    ("x[:, T(lib, M4)]", (3, 4)),
    ("x[T(lib, M4)]", (4, 2)),
    ("x[True]", (3, 4)),
    ("x[False]", (3, 4)),
    ("x[None, T(lib, [1, 0]), ..., None]", (3, 4)),
    ("x[T(lib, [[1], [2]]), T(lib, [0, 3, 3])]", (3, 4)),
]


@pytest.mark.parametrize("expr,shape", GETITEM, ids=[e for e, _ in GETITEM])
def test_getitem_grad(expr, shape):
    check_grad(lambda lib, x: (x * 1)[...] if False else eval(expr, {"T": T, "M34": M34, "M4": M4, "lib": lib, "x": x}),
               shape)
    check_grad(lambda lib, x: eval(expr, {"T": T, "M34": M34, "M4": M4, "lib": lib, "x": x * 2}), shape,
               dtype="float32", rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("expr,shape", GETITEM[::3], ids=[e for e, _ in GETITEM[::3]])
def test_getitem_double_backward(expr, shape):
    # the product makes the second derivative nonzero
    check_grad(lambda lib, x: eval(expr, {"T": T, "M34": M34, "M4": M4, "lib": lib, "x": x * x}), shape,
               create_graph=True)


@pytest.mark.parametrize("expr,shape", GETITEM, ids=[e for e, _ in GETITEM])
def test_getitem_grad_fn_names(expr, shape):
    outs = []
    for lib in (ctorch, torch):
        x = lib.ones(shape, dtype=lib.float64, requires_grad=True) * 1
        outs.append(name(eval(expr, {"T": T, "M34": M34, "M4": M4, "lib": lib, "x": x})))
    assert outs[0] == outs[1]


def test_inplace_on_views_rebases_like_torch():
    res = []
    for lib in (ctorch, torch):
        x = lib.arange(12.0).reshape(3, 4).requires_grad_()
        w = lib.tensor([0.5, -1.0, 2.0, 3.0], requires_grad=True)
        y = x * 1
        v = y[1]
        v.mul_(w)           # in-place on a view: the base's history is rebased (CopySlices)
        y[:, 0] += 10 * w[0]
        r = y[2]
        r[1:3] = w[:2] * 2  # setitem on a view
        (y * lib.arange(12.0).reshape(3, 4)).sum().backward()
        res.append((y.tolist(), x.grad.tolist(), w.grad.tolist()))
        leaf = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError):
            leaf[1:].mul_(2)  # a view of a leaf that requires grad
    assert res[0] == res[1]


def test_getitem_nograd_and_leaf_values():
    x = ctorch.ones((3, 4), requires_grad=True)
    with ctorch.no_grad():
        assert x[1].grad_fn is None and not x[[0, 1]].requires_grad
    assert x[1].grad_fn is not None and x[1].requires_grad
    y = ctorch.ones((3, 4))
    assert y[1].grad_fn is None and not y[[1]].requires_grad


# ------------------------------------------------------------------ setitem

SETITEM = [
    # (index expression, base shape, value shape or None for a Python scalar)
    ("[1]", (3, 4), (4,)),
    ("[1]", (3, 4), None),
    ("[1:, ::2]", (3, 4), (2, 2)),
    ("[:, 1]", (3, 4), (1, 3)),  # leading size-1 dims of the value are dropped
    ("[...]", (3, 4), (4,)),
    ("[None, 0]", (3, 4), (1, 4)),
    ("[[0, 2]]", (3, 4), (2, 4)),
    ("[[0, 2]]", (3, 4), (4,)),
    ("[[0, 2]]", (3, 4), None),
    ("[T(lib, M34)]", (3, 4), None),
    ("[T(lib, M34)]", (3, 4), (6,)),
    ("[T(lib, M34)]", (3, 4), (1,)),
    ("[:, T(lib, M4)]", (3, 4), (3, 3)),
    ("[T(lib, [0, 2]), T(lib, [1, 3])]", (3, 4), (2,)),
    ("[T(lib, [0, 1]), 1:]", (3, 4), (2, 3)),
    ("[True]", (3, 4), (3, 4)),
    ("[False]", (3, 4), (4,)),
    ("[1, ..., None]", (2, 3, 4), (4, 1)),
]


def _setitem_fn(idx, scalar):
    def fn(lib, x, *v):
        y = x * 1.5
        val = 2.5 if scalar else v[0] * 1
        exec("y" + idx + " = val", {"T": T, "M34": M34, "M4": M4, "lib": lib, "y": y, "val": val})
        return y * y
    return fn


@pytest.mark.parametrize("idx,shape,vshape", SETITEM, ids=["%s-%s" % (i, v) for i, _, v in SETITEM])
def test_setitem_grad(idx, shape, vshape):
    shapes = (shape,) if vshape is None else (shape, vshape)
    check_grad(_setitem_fn(idx, vshape is None), *shapes)
    check_grad(_setitem_fn(idx, vshape is None), *shapes, dtype="float32", rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("idx,shape,vshape", SETITEM[::3], ids=["%s-%s" % (i, v) for i, _, v in SETITEM[::3]])
def test_setitem_double_backward(idx, shape, vshape):
    shapes = (shape,) if vshape is None else (shape, vshape)
    check_grad(_setitem_fn(idx, vshape is None), *shapes, create_graph=True)


def test_setitem_repeated_indices_accumulate():
    # value gradient gathered from the written positions: every repeat gets it
    def fn(lib, x, v):
        y = x * 1
        y[T(lib, [0, 2, 0])] = v * 1
        return y
    check_grad(fn, (3, 4), (4,))

    def fn2(lib, x, v):
        return x.index_put((T(lib, [0, 2, 0]),), v * 1, accumulate=True) * x
    check_grad(fn2, (3, 4), (3, 4), create_graph=True)


SETITEM_NAMES = [
    ("[1] = 0.0", "CopySlices"), ("[1:] = 0.0", "CopySlices"), ("[[0, 1]] = 0.0", "IndexPutBackward0"),
    ("[T(lib, M34)] = 0.0", "IndexPutBackward0"), ("[None] = 1.0", "CopySlices"), ("[True] = 1.0", "CopySlices"),
    ("[...] = 2.0", "FillBackward3"), ("[:] = 2.0", "FillBackward3"), ("[0:3, :] = 2.0", "FillBackward3"),
    ("[-100:] = 2.0", "CopySlices"), ("[...] = lib.ones(4, dtype=lib.float64)", "CopyBackwards"),
    ("[:, ...] = lib.ones(4)", "CopyBackwards"), ("[T(lib, 1)] = 2.0", "CopySlices"),
    ("[T(lib, True)] = 1.0", "CopySlices"), ("[T(lib, 1), [0, 1]] = 1.0", "CopySlices"),
    ("[..., T(lib, M4)] = 1.0", "IndexPutBackward0"), ("[[0], ...] = 1.0", "IndexPutBackward0"),
    ("[None, [0, 1]] = 1.0", "CopySlices"), ("[1:, [0, 1]] = 1.0", "CopySlices"),
]


@pytest.mark.parametrize("stmt,nm", SETITEM_NAMES, ids=[s for s, _ in SETITEM_NAMES])
def test_setitem_names_and_history(stmt, nm):
    outs, grads = [], []
    for lib in (ctorch, torch):
        x = lib.ones((3, 4), dtype=lib.float64, requires_grad=True)
        y = x * 2
        exec("y" + stmt, {"T": T, "M34": M34, "M4": M4, "lib": lib, "y": y})
        outs.append(name(y))
        g, = lib.autograd.grad(y, [x], grad_outputs=lib.ones((3, 4), dtype=lib.float64))
        grads.append(g.tolist())
    assert outs == [nm, nm]
    assert grads[0] == grads[1]


def test_setitem_value_requires_grad_on_plain_base():
    for lib in (ctorch, torch):
        buf = lib.zeros((3, 2), dtype=lib.float64)
        v = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        buf[1] = v * 3
        assert buf.requires_grad
        g, = lib.autograd.grad(buf, [v], grad_outputs=lib.ones((3, 2), dtype=lib.float64))
        assert g.tolist() == [3.0, 3.0]


def test_setitem_leaf_error():
    for lib in (ctorch, torch):
        x = lib.ones((3, 4), requires_grad=True)
        for stmt in ("x[0] = 1", "x[[0]] = 1", "x[T(lib, M34)] = 0", "x[1:] = lib.zeros(4)"):
            with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
                exec(stmt, {"T": T, "M34": M34, "lib": lib, "x": x})
        with lib.no_grad():
            x[0] = 5.0
        assert x[0, 0].item() == 5.0


def test_setitem_saved_tensor_version_check():
    for lib in (ctorch, torch):
        x = lib.ones((3,), dtype=lib.float64, requires_grad=True)
        y = x * 1
        z = y * y  # saves y
        y[0] = 2.0
        with pytest.raises(RuntimeError):
            lib.autograd.grad(z, [x], grad_outputs=lib.ones((3,), dtype=lib.float64))


# ------------------------------------------------------------------ index ops

I2 = [[0, 2, 1, 0], [2, 0, 0, 1]]  # (2, 4) into dim 0 of a (3, 4)
OPS = [
    # (name, fn(lib, *inputs), input shapes, double backward?)
    ("index_select", lambda lib, x: x.index_select(0, T(lib, [2, 0, 2])), [(3, 4)], True),
    ("index_select_neg_dim", lambda lib, x: lib.index_select(x, -1, T(lib, [1, 1, 3])), [(3, 4)], False),
    ("gather", lambda lib, x: x.gather(0, T(lib, I2)), [(3, 4)], True),
    ("gather_dim1", lambda lib, x: lib.gather(x, 1, T(lib, [[0, 0], [3, 1], [2, 2]])), [(3, 4)], False),
    ("scatter_src", lambda lib, x, s: x.scatter(0, T(lib, [[0, 2, 1, 0], [1, 0, 2, 2]]), s), [(3, 4), (2, 4)], True),
    ("scatter_value", lambda lib, x: x.scatter(0, T(lib, I2), 1.5), [(3, 4)], True),
    ("scatter_add", lambda lib, x, s: x.scatter_add(0, T(lib, I2), s), [(3, 4), (2, 4)], True),
    ("index_add", lambda lib, x, s: x.index_add(0, T(lib, [2, 0, 2]), s), [(3, 4), (3, 4)], True),
    ("index_add_alpha", lambda lib, x, s: x.index_add(1, T(lib, [1, 3]), s, alpha=-2.5), [(3, 4), (3, 2)], False),
    ("index_copy", lambda lib, x, s: x.index_copy(0, T(lib, [2, 0]), s), [(3, 4), (2, 4)], True),
    ("index_fill_scalar", lambda lib, x: x.index_fill(1, T(lib, [0, 2, 2]), -1.0), [(3, 4)], True),
    ("index_fill_tensor", lambda lib, x, v: x.index_fill(1, T(lib, [0, 2, 2]), v * 2), [(3, 4), ()], True),
    ("index_put", lambda lib, x, v: x.index_put((T(lib, [0, 2]),), v), [(3, 4), (4,)], True),
    ("index_put_2idx", lambda lib, x, v: lib.index_put(x, (T(lib, [0, 2, 0]), T(lib, [1, 1, 1])), v), [(3, 4), (3,)],
     False),
    ("index_put_acc", lambda lib, x, v: x.index_put((T(lib, [0, 2, 0]),), v, accumulate=True), [(3, 4), (3, 4)], True),
    ("index_put_mask", lambda lib, x, v: x.index_put((T(lib, M34),), v), [(3, 4), ()], False),
    ("masked_fill_scalar", lambda lib, x: x.masked_fill(T(lib, M34), 3.0), [(3, 4)], True),
    ("masked_fill_bcast", lambda lib, x: lib.masked_fill(x, T(lib, M4), 3.0), [(3, 4)], False),
    ("masked_fill_tensor", lambda lib, x, v: x.masked_fill(T(lib, M34), v * 1), [(3, 4), ()], True),
    ("masked_select", lambda lib, x: x.masked_select(T(lib, M34)), [(3, 4)], True),
    ("masked_select_bcast", lambda lib, x: lib.masked_select(x, T(lib, M34)), [(4,)], False),
    ("masked_scatter", lambda lib, x, s: x.masked_scatter(T(lib, M34), s), [(3, 4), (2, 4)], True),
    ("masked_scatter_exact", lambda lib, x, s: x.masked_scatter(T(lib, M34), s), [(3, 4), (6,)], False),
    ("take", lambda lib, x: x.take(T(lib, [[0, 11], [5, 5]])), [(3, 4)], True),
    ("take_along_dim", lambda lib, x: lib.take_along_dim(x, T(lib, [[0, 2], [1, 1], [3, 0]]), 1), [(3, 4)], True),
    ("take_along_dim_bcast", lambda lib, x: lib.take_along_dim(x, T(lib, [[0], [2]]), dim=0), [(3, 4)], False),
    ("take_along_dim_flat", lambda lib, x: lib.take_along_dim(x, T(lib, [7, 0, 7])), [(3, 4)], False),
    ("put", lambda lib, x, s: x.put(T(lib, [0, 11, 5]), s), [(3, 4), (3,)], True),
    ("put_acc", lambda lib, x, s: x.put(T(lib, [[0, 5], [5, 5]]), s, accumulate=True), [(3, 4), (4,)], True),
    ("index_Tensor", lambda lib, x: lib.ops.aten.index(x, [None, T(lib, [2, 0])]) if lib is torch
     else lib._C._index(x, [None, T(lib, [2, 0])]) if hasattr(lib._C, "_index") else x[:, T(lib, [2, 0])],
     [(3, 4)], False),
]

SR = [(r, inc) for r in ("sum", "prod", "mean", "amax", "amin") for inc in (True, False)]


@pytest.mark.parametrize("op", OPS, ids=[o[0] for o in OPS])
def test_op_grad(op):
    _, fn, shapes, _ = op
    check_grad(lambda lib, *a: fn(lib, *a) * 1, *shapes)
    check_grad(lambda lib, *a: fn(lib, *a) * 1, *shapes, dtype="float32", rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", [o for o in OPS if o[3]], ids=[o[0] for o in OPS if o[3]])
def test_op_double_backward(op):
    _, fn, shapes, _ = op
    check_grad(lambda lib, *a: fn(lib, *[t * t for t in a]), *shapes, create_graph=True)


@pytest.mark.parametrize("op", OPS, ids=[o[0] for o in OPS])
def test_op_names(op):
    _, fn, shapes, _ = op
    outs = []
    for lib in (ctorch, torch):
        ins = [lib.ones(s, dtype=lib.float64, requires_grad=True) for s in shapes]
        outs.append(name(fn(lib, *ins)))
    assert outs[0] == outs[1]


@pytest.mark.parametrize("reduce,include_self", SR, ids=["%s-%s" % p for p in SR])
def test_scatter_reduce_grad(reduce, include_self):
    idx = [[0, 2, 1, 0], [2, 0, 0, 1], [0, 0, 2, 0]]
    fn = lambda lib, x, s: x.scatter_reduce(0, T(lib, idx), s, reduce, include_self=include_self)
    check_grad(fn, (3, 4), (3, 4))
    check_grad(fn, (3, 4), (3, 4), dtype="float32", rtol=1e-4, atol=1e-5)
    if reduce in ("sum", "mean", "amax"):
        check_grad(lambda lib, x, s: fn(lib, x * x, s * s), (3, 4), (3, 4), create_graph=True)


@pytest.mark.parametrize("reduce,include_self", SR, ids=["%s-%s" % p for p in SR])
def test_scatter_reduce_ties_and_zeros(reduce, include_self):
    # ties for amax/amin (gradient split evenly), zeros for prod (one and two zeros per slot)
    xv = [[1.0, 0.0, 2.0], [3.0, 3.0, 0.0]]
    sv = [[3.0, 0.0, 2.0, 0.0], [1.0, 3.0, 5.0, 0.0]]
    idx = [[0, 1, 0, 1], [1, 1, 0, 2]]
    res = []
    for lib in (ctorch, torch):
        x = lib.tensor(xv, dtype=lib.float64, requires_grad=True)
        s = lib.tensor(sv, dtype=lib.float64, requires_grad=True)
        y = x.scatter_reduce(1, T(lib, idx), s, reduce, include_self=include_self)
        w = lib.tensor([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]], dtype=lib.float64)
        gx, gs = lib.autograd.grad(y * w, [x, s], grad_outputs=lib.ones((2, 3), dtype=lib.float64))
        res.append((y.tolist(), gx.tolist(), gs.tolist(), name(y)))
    assert res[0] == res[1]


def test_scatter_reduce_kwarg_not_differentiable_like_torch():
    for lib in (ctorch, torch):
        x = lib.ones((3, 4), dtype=lib.float64, requires_grad=True)
        y = x.scatter(0, T(lib, I2), 2.0, reduce="multiply")
        assert name(y) == "NotImplemented"
        with pytest.raises(RuntimeError, match="not implemented"):
            lib.autograd.grad(y, [x], grad_outputs=lib.ones((3, 4), dtype=lib.float64))


INPLACE = [
    ("scatter_", lambda lib, y, s: y.scatter_(0, T(lib, I2), s), [(3, 4), (2, 4)]),
    ("scatter_value_", lambda lib, y: y.scatter_(0, T(lib, I2), 1.5), [(3, 4)]),
    ("scatter_add_", lambda lib, y, s: y.scatter_add_(0, T(lib, I2), s), [(3, 4), (2, 4)]),
    ("scatter_reduce_", lambda lib, y, s: y.scatter_reduce_(0, T(lib, I2), s, "amax"), [(3, 4), (2, 4)]),
    ("index_add_", lambda lib, y, s: y.index_add_(0, T(lib, [2, 0, 2]), s, alpha=2), [(3, 4), (3, 4)]),
    ("index_copy_", lambda lib, y, s: y.index_copy_(0, T(lib, [2, 0]), s), [(3, 4), (2, 4)]),
    ("index_fill_", lambda lib, y: y.index_fill_(1, T(lib, [0, 2]), 2.0), [(3, 4)]),
    ("index_fill_tensor_", lambda lib, y, v: y.index_fill_(1, T(lib, [0, 2]), v * 1), [(3, 4), ()]),
    ("index_put_", lambda lib, y, v: y.index_put_((T(lib, [0, 2, 0]),), v, accumulate=True), [(3, 4), (4,)]),
    ("masked_fill_", lambda lib, y: y.masked_fill_(T(lib, M34), 0.0), [(3, 4)]),
    ("masked_fill_tensor_", lambda lib, y, v: y.masked_fill_(T(lib, M34), v * 1), [(3, 4), ()]),
    ("masked_scatter_", lambda lib, y, s: y.masked_scatter_(T(lib, M34), s), [(3, 4), (7,)]),
    ("put_", lambda lib, y, s: y.put_(T(lib, [0, 11]), s), [(3, 4), (2,)]),
]


@pytest.mark.parametrize("op", INPLACE, ids=[o[0] for o in INPLACE])
def test_inplace_grad(op):
    _, fn, shapes = op

    def f(lib, x, *rest):
        y = x * 1.5
        r = fn(lib, y, *rest)
        assert r is y
        return y * x
    check_grad(f, *shapes)
    outs = []
    for lib in (ctorch, torch):
        ins = [lib.ones(s, dtype=lib.float64, requires_grad=True) for s in shapes]
        y = ins[0] * 1
        fn(lib, y, *ins[1:])
        outs.append(name(y))
    assert outs[0] == outs[1]


def test_inplace_on_leaf_refused():
    for lib in (ctorch, torch):
        x = lib.ones((3, 4), dtype=lib.float64, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf Variable"):
            x.index_fill_(1, T(lib, [0]), 2.0)


def test_integer_outputs_not_differentiable():
    for lib in (ctorch, torch):
        x = lib.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=lib.float64, requires_grad=True)
        assert not lib.nonzero(x).requires_grad
        assert not lib.argwhere(x).requires_grad
        assert not any(t.requires_grad for t in lib.where(x))
        i = lib.tensor([[1, 0], [0, 1]])
        assert not i.gather(0, T(lib, [[0, 1]])).requires_grad


def test_index_ops_nograd_and_gradcheck():
    x = ctorch.ones((3, 4), dtype=ctorch.float64, requires_grad=True)
    with ctorch.no_grad():
        assert not x.gather(0, T(ctorch, I2)).requires_grad
        assert not x[[0, 1]].requires_grad
    g = ctorch.autograd.gradcheck
    xs = ctorch.tensor(np.random.default_rng(1).uniform(-1, 1, (3, 4)), dtype=ctorch.float64, requires_grad=True)
    ss = ctorch.tensor(np.random.default_rng(2).uniform(-1, 1, (2, 4)), dtype=ctorch.float64, requires_grad=True)
    assert g(lambda a: a[T(ctorch, [0, 2, 2]), 1:], (xs,))
    assert g(lambda a, b: a.scatter_add(0, T(ctorch, I2), b), (xs, ss))
    assert g(lambda a, b: a.scatter_reduce(0, T(ctorch, I2), b, "amax"), (xs, ss))
    assert g(lambda a: a.masked_select(T(ctorch, M34)), (xs,))
    assert g(lambda a, b: a.masked_scatter(T(ctorch, M34), b), (xs, ss))


def test_scatter_src_larger_than_index():
    # torch refuses these gradients (index-shaped grad for a larger src); ctorch gives the
    # gradient of the elements the index reads, zeros for the rest of src
    for op in ("scatter", "scatter_add", "scatter_reduce"):
        x = ctorch.ones((3, 4), dtype=ctorch.float64, requires_grad=True)
        s = ctorch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]], dtype=ctorch.float64, requires_grad=True)
        idx = T(ctorch, [[0, 2, 2]])
        args = (0, idx, s) + (("sum",) if op == "scatter_reduce" else ())
        y = getattr(x, op)(*args)
        w = ctorch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [9.0, 10.0, 11.0, 12.0]], dtype=ctorch.float64)
        gx, gs = ctorch.autograd.grad(y * w, [x, s], grad_outputs=ctorch.ones((3, 4), dtype=ctorch.float64))
        assert gs.tolist() == [[1.0, 10.0, 11.0, 0.0], [0.0, 0.0, 0.0, 0.0]]


@pytest.mark.parametrize("op", [o for o in OPS if o[2][0] == (3, 4)], ids=[o[0] for o in OPS if o[2][0] == (3, 4)])
def test_op_grad_noncontiguous(op):
    # self as a strided view (every other column of a (3, 8)), gradients through the view too
    _, fn, shapes, _ = op
    check_grad(lambda lib, x, *a: fn(lib, x[:, 1::2], *a) * 1, (3, 8), *shapes[1:])


def test_setitem_grad_value_into_view_refused():
    # the engine does not rebase views: a value requiring grad written through a view of a
    # plain tensor would be lost for the base, so it is refused (torch supports it)
    x = ctorch.zeros((2, 3), dtype=ctorch.float64)
    v = ctorch.tensor(2.0, dtype=ctorch.float64, requires_grad=True)
    with pytest.raises(NotImplementedError, match="shares its memory"):
        x[0][1] = v * 1
    x[0, 1] = v * 1  # the base itself works
    g, = ctorch.autograd.grad(x, [v], grad_outputs=ctorch.ones((2, 3), dtype=ctorch.float64))
    assert g.item() == 1.0
    y = ctorch.zeros((2, 3), dtype=ctorch.float64)
    y[0][1] = 3.0  # no grad involved: plain write
    assert y[0, 1].item() == 3.0


def _random_index(lib, shape, r):
    items, d = [], 0
    for row in r:
        if d >= len(shape):
            break
        k, size = int(row[0]), shape[d]
        if k == 0:
            items.append(int(row[1] % size) - (size if row[2] % 2 else 0))
        elif k == 1:
            items.append(slice(int(row[1] % (size + 1)), None, int(row[2] % 3) + 1))
        elif k == 2:
            items.append(None)
            continue
        elif k == 3:
            items.append([int(v) % size for v in row[1:4]])
        elif k == 4:
            items.append(lib.tensor([int(v) % size for v in row[1:3]]))
        elif k == 5:
            items.append(lib.tensor([bool(row[1 + j % 5] % 2) for j in range(size)]))
        else:
            items.append(slice(None))
        d += 1
    return tuple(items)


@pytest.mark.parametrize("seed", range(4))
def test_random_index_getitem_setitem(seed):
    # random mixes of ints, slices, None, int lists/tensors and masks: values, gradients of
    # t[idx] and of t[idx] = v (both the base and v), grad_fn names, all against torch
    rng = np.random.default_rng(seed)
    for _ in range(30):
        shape = tuple(int(v) for v in rng.integers(1, 4, size=3))
        r = rng.integers(0, 7, size=(3, 6))
        xs = rng.uniform(-1, 1, size=shape)
        try:
            torch.ones(shape)[_random_index(torch, shape, r)]
        except IndexError:  # indices that do not broadcast: same error class
            with pytest.raises(IndexError):
                ctorch.ones(shape)[_random_index(ctorch, shape, r)]
            continue
        res = []
        for lib in (ctorch, torch):
            idx = _random_index(lib, shape, r)
            x = lib.tensor(xs, dtype=lib.float64, requires_grad=True)
            z = (x * 2)[idx]
            vals = lib.tensor(np.linspace(-1, 1, z.numel()).reshape(tuple(z.shape)), dtype=lib.float64,
                              requires_grad=True)
            y = x * 3
            y[idx] = vals * 1
            gz, = lib.autograd.grad(z, [x], grad_outputs=lib.ones(tuple(z.shape), dtype=lib.float64))
            gx, gv = lib.autograd.grad(y * y, [x, vals], grad_outputs=lib.ones(shape, dtype=lib.float64))
            res.append((z.tolist(), gz.tolist(), y.tolist(), gx.tolist(), gv.tolist(), name(z), name(y)))
        for a, b in zip(*res):
            if isinstance(a, str):
                assert a == b
            else:
                np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-12, atol=1e-12)


def test_scatter_reduce_prod_src_larger_double_backward():
    x = ctorch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=ctorch.float64, requires_grad=True)
    s = ctorch.tensor([[2.0, 5.0, 7.0], [3.0, 1.0, 9.0]], dtype=ctorch.float64, requires_grad=True)
    y = x.scatter_reduce(1, T(ctorch, [[0, 0], [1, 0]]), s, "prod")
    gs, = ctorch.autograd.grad(y, [s], grad_outputs=ctorch.ones((2, 2), dtype=ctorch.float64), create_graph=True)
    # y[0,0] = 1*2*5, y[1,0] = 3*1, y[1,1] = 4*3
    np.testing.assert_allclose(gs.tolist(), [[5.0, 2.0, 0.0], [4.0, 3.0, 0.0]], rtol=1e-12)
    h, = ctorch.autograd.grad(gs, [s], grad_outputs=ctorch.ones((2, 3), dtype=ctorch.float64))
    np.testing.assert_allclose(h.tolist(), [[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]], rtol=1e-12, atol=1e-12)
