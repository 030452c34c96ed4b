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


def test_getitem_views_marked():
    x = ctorch.ones((3, 4), requires_grad=True) * 1
    v = x[1]
    assert v._is_view() if hasattr(v, "_is_view") else True
    with pytest.raises(Exception):
        v.mul_(2)  # in-place on a view of a tensor requiring grad is refused, never silently wrong
    assert not x[[0, 1]].requires_grad is False


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


def test_setitem_names_and_history():
    for idx, nm in (("[1]", "CopySlices"), ("[1:]", "CopySlices"), ("[[0, 1]]", "IndexPutBackward0"),
                    ("[T(lib, M34)]", "IndexPutBackward0")):
        outs = []
        for lib in (ctorch, torch):
            y = lib.ones((3, 4), dtype=lib.float64, requires_grad=True) * 1
            exec("y" + idx + " = 0.0", {"T": T, "M34": M34, "lib": lib, "y": y})
            outs.append(name(y))
        assert outs == [nm, nm]


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
