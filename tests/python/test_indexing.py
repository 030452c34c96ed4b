"""Indexing against torch: t[...] and t[...] = v (basic views, advanced indices, masks),
and the index op family (gather/scatter, index_*, masked_*, take/put, nonzero/where)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import ctorch
from helpers import DTYPES, check, make_pair

GETITEM_DTYPES = ["float32", "int64", "bool", "float16", "uint8"]

# Index expressions on x of shape (3, 4, 5); T builds an index tensor with the library
# under test, B a bool mask.
GETITEM_CASES = [
    "x[0]", "x[-1]", "x[2, 3]", "x[1, -2, 4]", "x[0][1][2]",
    "x[:]", "x[1:]", "x[:2]", "x[-2:]", "x[::2]", "x[:, 1:3]", "x[:, ::3, 1::2]", "x[1:100]", "x[-100:2]",
    "x[2:1]", "x[5:]", "x[:, :, 4:]", "x[..., 0]", "x[0, ...]", "x[..., 1:3, :]", "x[...]", "x[()]",
    "x[None]", "x[:, None]", "x[..., None]", "x[None, 0, None, :, None]", "x[None, ..., None]",
    "x[True]", "x[False]", "x[0, True]", "x[:, False, 1]",
    "x[[0, 2]]", "x[[2, 0, 2, 1]]", "x[[-1, 0]]", "x[[]]", "x[:, [1, 3]]", "x[..., [4, 0]]",
    "x[[0, 1], [1, 2]]", "x[[0, 1], :, [1, 2]]", "x[:, [0, 1], [1, 2]]", "x[[0, 1], [1, 2], [3, 4]]",
    "x[[[0, 1], [2, 0]]]", "x[T([[0, 1], [2, 0]])]", "x[T([0, 2]), 1]", "x[1, T([0, 2])]", "x[1, :, T([0, 2])]",
    "x[T([[0], [2]]), T([1, 3])]", "x[T([[0], [2]]), :, T([1, 3])]", "x[:, T([[0], [2]]), T([1, 3])]",
    "x[None, T([0, 1]), None, T([1, 2])]", "x[T([0, 1]), None, T([1, 2])]", "x[T(1)]", "x[T(-1), 2]",
    "x[T([0, 2], dtype=lib.int32)]", "x[np.int64(1)]", "x[np.int32(-1), 2]", "x[1:, T([0, 3])]",
    "x[B([True, False, True])]", "x[:, B([True, False, False, True])]", "x[B([[True, False, True, False]] * 3)]",
    "x[B([False, False, False])]", "x[B(True)]", "x[B(False)]", "x[..., B([True, False, True, False, True])]",
    "x[B([True, False, True]), 1]", "x[B([True, False, True]), :, T([0, 4])]", "x[[True, False, True]]",
    "x[T([1, 0, 1], dtype=lib.uint8)]", "x[T([0, 1]), B([True, False, False, True])]",
    "x[True, [0, 1]]", "x[:, True, [0, 1]]", "x[[0, 1], True]",
    # errors
    "x[3]", "x[-4]", "x[0, 4]", "x[0, 0, 0, 0]", "x[..., ...]", "x[::-1]", "x[::0]", "x[1.0]", "x['a']",
    "x[[3]]", "x[[0, 1], [0, 1, 2]]", "x[T([0.0])]", "x[T([0], dtype=lib.int16)]", "x[B([True, False])]",
    "x[T([[0, 5]])]", "x[:, [-5]]", "x[object()]",
]


def _env(lib):
    return {"lib": lib, "np": np, "T": lib.tensor, "B": lambda v: lib.tensor(v, dtype=lib.bool)}


def _eval(expr, lib, x):
    env = _env(lib)
    env["x"] = x
    return eval(expr, env)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("dt", GETITEM_DTYPES)
@pytest.mark.parametrize("expr", GETITEM_CASES)
def test_getitem(expr, dt):
    check(lambda lib, x: _eval(expr, lib, x), make_pair((3, 4, 5), dt, seed=1))


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("expr", ["x[0]", "x[:, 1:]", "x[[1, 0]]", "x[..., [2, 0], 1]", "x[None, 1, ::2]",
                                  "x[B([True, False, True, False])]"])
def test_getitem_noncontiguous(expr):
    c, t = make_pair((4, 6, 3), "float64", seed=2)
    check(lambda lib, x: _eval(expr, lib, x[:, ::2][1:]), (c, t))


def test_getitem_zero_dim_and_empty():
    for expr in ["x[...]", "x[None]", "x[()]", "x[True]", "x[False]", "x[None, ..., None]", "x[0]", "x[0:1]",
                 "x[[0]]", "x[B(True)]"]:
        check(lambda lib, x: _eval(expr, lib, x), make_pair((), "float32", seed=3))
    for expr in ["x[0]", "x[:, 1]", "x[[0, 0]]", "x[:, []]", "x[..., 1:]", "x[B([])]", "x[:, [2]]", "x[:, [5]]",
                 "x[[], [5]]", "x[[0]]"]:
        check(lambda lib, x: _eval(expr, lib, x), make_pair((0, 3), "int32", seed=4))
    for expr in ["x[[0]]", "x[[], [0]]", "x[:, [0]]", "x[[5]]", "x[[1, 5]]", "x[:1, [0]]"]:
        check(lambda lib, x: _eval(expr, lib, x), make_pair((3, 0), "int32", seed=4))
        check(lambda lib, x: _eval(expr, lib, x), make_pair((0, 0), "int32", seed=4))


def test_basic_index_is_view():
    x = ctorch.zeros(3, 4)
    v = x[1, 1:3]
    v.fill_(5.0)
    assert x.tolist()[1] == [0.0, 5.0, 5.0, 0.0]
    assert v.storage_offset() == 5 and v.stride() == (1,)
    w = x[::2, None, ::3]
    assert tuple(w.shape) == (2, 1, 2) and w.stride()[0] == 8 and w.stride()[2] == 3
    a = x[[0, 1]]  # advanced indexing copies
    a.fill_(7.0)
    assert x.tolist()[0][0] == 0.0


SETITEM_CASES = [
    ("x[0]", "1.5"), ("x[-1, 2]", "7"), ("x[:, 1]", "T([1.0, 2.0, 3.0, 4.0, 5.0])"), ("x[1:, ::2]", "-2"),
    ("x[...]", "3"), ("x[None, 0]", "T([[9.0] * 5])"), ("x[0]", "T([[1.0] * 5] * 4)"),
    ("x[0]", "T([[[2.0]]])"), ("x[[0, 2]]", "0"), ("x[[0, 2], [1, 1]]", "T([4.0, 5.0, 6.0, 7.0, 8.0])"),
    ("x[:, [3, 0], 1]", "T([1.0, 2.0])"), ("x[[0, 1], :, [1, 4]]", "T([[1.0], [2.0]])"),
    ("x[B([True, False, True])]", "-1"), ("x[M]", "0"), ("x[M]", "T(2.5)"),
    ("x[[2, 2, 2]]", "T([1.0, 2.0, 3.0, 4.0, 5.0])"), ("x[T([0, 1], dtype=lib.int32), 0]", "T([1, 2], dtype=lib.int64)"),
    ("x[True]", "4"), ("x[False]", "4"), ("x[0, 0, 0]", "True"), ("x[1]", "T(3, dtype=lib.int32)"),
    ("x[[]]", "1"), ("x[1:1]", "T([1.0])"),
    # errors
    ("x[0]", "T([1.0, 2.0, 3.0])"), ("x[[0, 1]]", "T([1.0, 2.0, 3.0])"), ("x[3]", "0"), ("x[::-1]", "0"),
    ("x[0]", "[1, 2, 3, 4, 5]"), ("x[0]", "'a'"), ("x[[0, 1], [0, 1, 2]]", "0"),
]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("dt", ["float32", "int64", "float64", "bfloat16"])
@pytest.mark.parametrize("idx,val", SETITEM_CASES)
def test_setitem(idx, val, dt):
    def run(lib, x, m):
        y = x.clone()
        env = _env(lib)
        env.update(y=y, x=y, M=m)
        v0 = y._version
        exec("%s = %s" % (idx, val), env)
        assert y._version >= v0
        return y
    check(run, make_pair((3, 4, 5), dt, seed=5), make_pair((3, 4, 5), "bool", seed=6))


def test_setitem_through_view_and_noncontiguous():
    def run(lib, x):
        y = x.clone()
        v = y[:, ::2]
        v[[0, 1], 1] = 9.0
        v[..., 0] = lib.tensor([1.0, 2.0, 3.0])
        y[1][2] = -4.0
        return y
    check(run, make_pair((3, 5, 3), "float32", seed=7))


MORE_GETITEM_CASES = [
    "x[2**70]", "x[-2**70]", "x[np.array([0, 1])]", "x[np.array([True, False, True])]", "x[(0,)]", "x[[0, None]]",
    "x[[0, slice(None), 1]]", "x[[0, ...]]", "x[np.bool_(True)]", "x[np.float64(1.0)]", "x[1:3:np.int64(2)]",
    "x[T(1):3]", "x[:T(2)]", "x[[0, 1], T(1)]", "x[[[0, 1]]]", "x[[T([0, 1])]]", "x[(T([0, 1]),)]", "x[[0, 1, 2] * 11]",
    "x[{0: 1}]", "x[1.5:]", "x[np.array(1)]", "x[np.array([[0], [1]]), np.array([0, 1])]",
    "x[T([0, 1]), ..., T([0, 1])]", "x[..., T([[0, 1]]), :]", "x[[], []]", "x[[[]]]", "x[T([], dtype=lib.bool)]",
    "x[T(True), T([0, 1])]", "x[True, False]", "x[None, True, ..., False]", "x[0, [True, False, True, True]]",
    "x[[0, 2], [True, False, True, True]]", "x[..., 0, ...]", "x[0, ..., ...]", "x[..., None, ...]",
    "x[..., ..., 0]",
]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("expr", MORE_GETITEM_CASES)
def test_getitem_more(expr):
    check(lambda lib, x: _eval(expr, lib, x), make_pair((3, 4, 5), "float32", seed=1))


MORE_SETITEM_CASES = [
    "x[0] = np.float32(2.5)", "x[0] = np.int64(3)", "x[0] = np.float64(-1.5)", "x[0] = np.bool_(True)", "x[0] = True",
    "x[[0, 0]] = T([[1.0] * 5] * 4)", "x[[0, 0], [1, 1]] = T([[1.0] * 5, [2.0] * 5])", "x[np.array([0, 1])] = 3",
    "x[2**70] = 1", "x[:, :, [True, False, True, False, True]] = T([1.0, 2.0, 3.0])", "x[..., None] = T(1.0)",
    "x[0][[1, 2]] = 5", "x[1:, [0, 2]] = T([[7.0] * 5] * 2)", "x[T([0, 1]), :, T([1, 2])] = 0",
    "x[True] = T(2.5, dtype=lib.float64)", "x[0, True] = T([2.5] * 5, dtype=lib.float64)",
    "x[B([True, False, True])] = T([2.5], dtype=lib.float64)", "x[B([True, False, True]), 0] = T(2, dtype=lib.int32)",
    "x[T(1)] = T([1.5] * 5, dtype=lib.float64)", "x[[0, 1]] = T(1, dtype=lib.int64)", "x[0] = [1, 2]",
    "x[0] = np.array([1.0])", "del x[0]", "x[1:] = x[:-1]", "x[0] = x[0]", "x[:, 1] = x[:, 0]", "x[1] = x[0]",
    "x[[1, 2]] = x[[0, 1]]", "x[0, 1:] = x[0, :-1]",
]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("dt", ["float32", "int32", "uint8", "int8", "bool", "float16", "int64"])
@pytest.mark.parametrize("stmt", MORE_SETITEM_CASES + ["x[0] = 2.7", "x[[0, 1]] = 2.7", "x[0] = -1", "x[0] = -255",
                                  "x[0] = 256", "x[0] = -129", "x[0] = 2**40", "x[0] = float('nan')",
                                  "x[0] = float('inf')", "x[0] = 1e300", "x[B([True, False, True])] = 300"])
def test_setitem_more(stmt, dt):
    def run(lib, x):
        y = x.clone()
        env = _env(lib)
        env.update(x=y)
        exec(stmt, env)
        return y
    check(run, make_pair((3, 4, 5), dt, seed=2))


def test_setitem_bumps_version():
    x = ctorch.zeros(3, 4)
    v = x._version
    x[0] = 1.0
    assert x._version == v + 1
    x[[0, 2], 1] = ctorch.tensor([2.0, 3.0])
    assert x._version == v + 2
    x[1:, ::2] = ctorch.tensor([[4.0, 5.0]])
    assert x._version == v + 3
    view = x[1]
    view[[0]] = 9.0
    assert x._version == v + 4 and x.tolist()[1][0] == 9.0


# ------------------------------------------------------------------ ops


def I(lib, arr, dtype=None):
    """An index tensor for lib from a NumPy array."""
    return lib.tensor(np.asarray(arr).tolist(), dtype=dtype or lib.int64)


OP_DTYPES = ["float32", "float64", "int64", "int32", "float16", "bfloat16", "bool", "uint8"]


@pytest.mark.parametrize("dt", OP_DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select(dt, dim):
    rng = np.random.default_rng(10)
    x = make_pair((3, 4, 5), dt, seed=11)
    n = (3, 4, 5)[dim]
    ix = rng.integers(0, n, size=7)
    check(lambda lib, x: lib.index_select(x, dim, I(lib, ix)), x)
    check(lambda lib, x: x.index_select(dim, I(lib, ix, lib.int32)), x)
    check(lambda lib, x: x[:, 1:].index_select(dim, I(lib, ix[:2] % 3)), x)
    check(lambda lib, x: x.index_select(dim, I(lib, [], lib.int64)), x)
    check(lambda lib, x: x.index_select(dim, I(lib, 1)), x)


def test_index_select_errors_and_out():
    x = make_pair((3, 4), "float32", seed=12)
    check(lambda lib, x: x.index_select(0, I(lib, [0, 3])), x)
    check(lambda lib, x: x.index_select(0, I(lib, [-1])), x)
    check(lambda lib, x: x.index_select(0, lib.tensor([1.0])), x)
    check(lambda lib, x: x.index_select(0, I(lib, [[1]])), x)
    check(lambda lib, x: x.index_select(2, I(lib, [1])), x)
    check(lambda lib, x: lib.index_select(x, 1, I(lib, [3, 0]), out=lib.empty(0)), x)
    check(lambda lib: lib.tensor(5.0).index_select(0, I(lib, [0])))


@pytest.mark.parametrize("dt", OP_DTYPES)
@pytest.mark.parametrize("dim", [0, 1, 2, -2])
def test_gather(dt, dim):
    rng = np.random.default_rng(20 + dim)
    x = make_pair((3, 4, 5), dt, seed=21)
    shape = [2, 3, 4]
    shape[dim] = 6
    ix = rng.integers(0, (3, 4, 5)[dim], size=shape)
    check(lambda lib, x: lib.gather(x, dim, I(lib, ix)), x)
    check(lambda lib, x: x.gather(dim, I(lib, ix)), x)
    check(lambda lib, x: lib.gather(x, dim, I(lib, ix), out=lib.empty(1, dtype=x.dtype)), x)


def test_gather_edge_and_errors():
    x = make_pair((3, 4), "float32", seed=22)
    check(lambda lib, x: x.gather(1, I(lib, np.zeros((3, 0), dtype=np.int64))), x)
    check(lambda lib, x: x[:, ::2].gather(0, I(lib, [[2, 0], [1, 1]])), x)
    check(lambda lib: lib.tensor(5.0).gather(0, I(lib, 0)))
    check(lambda lib, x: x.gather(1, I(lib, [[1]], lib.int32)), x)
    check(lambda lib, x: x.gather(1, lib.tensor([[1.0]])), x)
    check(lambda lib, x: x.gather(1, I(lib, [[4]])), x)
    check(lambda lib, x: x.gather(1, I(lib, [[-1]])), x)
    check(lambda lib, x: x.gather(1, I(lib, [1])), x)
    check(lambda lib, x: x.gather(1, I(lib, np.zeros((4, 1), dtype=np.int64))), x)
    check(lambda lib, x: x.gather(2, I(lib, [[0]])), x)


def _perm_index(rng, shape, n, dim):
    """Index of `shape` whose entries along dim are distinct (scatter writes are then deterministic)."""
    shape = list(shape)
    out = np.zeros(shape, dtype=np.int64)
    moved = np.moveaxis(out, dim, -1)
    for pos in np.ndindex(*moved.shape[:-1]):
        moved[pos] = rng.permutation(n)[:shape[dim]]
    return out


@pytest.mark.parametrize("dt", OP_DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter(dt, dim):
    rng = np.random.default_rng(30)
    x = make_pair((4, 5, 6), dt, seed=31)
    src = make_pair((4, 5, 6), dt, seed=32)
    ishape = [3, 4, 5]
    ix = _perm_index(rng, ishape, (4, 5, 6)[dim], dim if dim >= 0 else 2)
    check(lambda lib, x, s: lib.scatter(x, dim, I(lib, ix), s), x, src)
    check(lambda lib, x, s: x.scatter(dim, I(lib, ix), 2), x, src)
    check(lambda lib, x, s: x.clone().scatter_(dim, I(lib, ix), s), x, src)
    check(lambda lib, x, s: x.clone().scatter_(dim, I(lib, ix), True), x, src)
    check(lambda lib, x, s: lib.scatter(x, dim, I(lib, ix), s, out=lib.empty(0, dtype=x.dtype)), x, src)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("dt", ["float32", "float64", "int64", "int32", "bfloat16"])
def test_scatter_reduce_modes(dt):
    rng = np.random.default_rng(40)
    x = make_pair((4, 5), dt, seed=41, low=1, high=3)
    src = make_pair((6, 5), dt, seed=42, low=1, high=3)
    ix = rng.integers(0, 4, size=(6, 5))
    for red in ["add", "multiply"]:
        check(lambda lib, x, s: x.scatter(0, I(lib, ix), s, reduce=red), x, src)
        check(lambda lib, x, s: x.clone().scatter_(0, I(lib, ix), s, reduce=red), x, src)
        check(lambda lib, x, s: x.scatter(1, I(lib, ix[:4] % 5), 2, reduce=red), x, src)
    check(lambda lib, x, s: x.scatter(0, I(lib, ix), s, reduce="max"), x, src)
    check(lambda lib, x, s: lib.scatter_add(x, 0, I(lib, ix), s), x, src)
    check(lambda lib, x, s: x.clone().scatter_add_(0, I(lib, ix), s), x, src)
    check(lambda lib, x, s: x.scatter_add(0, I(lib, ix, lib.int32), s), x, src)
    check(lambda lib, x, s: x.scatter_add(1, I(lib, ix[:, :3] % 5), s), x, src)
    for red in ["sum", "prod", "mean", "amax", "amin"]:
        for inc in [True, False]:
            check(lambda lib, x, s: lib.scatter_reduce(x, 0, I(lib, ix), s, red, include_self=inc), x, src)
            check(lambda lib, x, s: x.clone().scatter_reduce_(0, I(lib, ix), s, red, include_self=inc), x, src)
            check(lambda lib, x, s: x[:, 1:].scatter_reduce(1, I(lib, ix[:2, :3] % 4), s, red, include_self=inc),
                  x, src)
    check(lambda lib, x, s: x.scatter_reduce(0, I(lib, ix), s, "median"), x, src)


def test_bool_and_view_writes():
    rng = np.random.default_rng(45)
    x = make_pair((4, 6), "bool", seed=46)
    s = make_pair((5, 6), "bool", seed=47)
    ix = rng.integers(0, 4, size=(5, 6))
    check(lambda lib, x, s: x.scatter_add(0, I(lib, ix), s), x, s)
    check(lambda lib, x, s: x.scatter(0, I(lib, ix), s, reduce="multiply"), x, s)
    for red in ["sum", "prod", "amax", "amin", "mean"]:
        check(lambda lib, x, s: x.scatter_reduce(0, I(lib, ix), s, red), x, s)
    check(lambda lib, x, s: x.index_add(0, I(lib, ix[:, 0]), s), x, s)
    check(lambda lib, x, s: x.clone().put_(I(lib, ix[0]), s[0], accumulate=True), x, s)
    check(lambda lib, x, s: x.index_put((I(lib, ix[0]),), s[0, 0], accumulate=True), x, s)
    f = make_pair((4, 6), "float32", seed=48)
    fs = make_pair((5, 6), "float32", seed=49)
    uix = _perm_index(rng, (4, 3), 4, 0)

    def into_view(lib, x, s):
        y = x.clone()
        y[:, ::2].scatter_(0, I(lib, uix), s[:, ::2])
        y[:, 1::2].index_add_(0, I(lib, ix[:, 0]), s[:, 1::2], alpha=-1)
        y[1:, 1:].masked_fill_(I(lib, [[1, 0, 1, 0, 1]] * 3, lib.bool), 7.0)
        y[::2].index_fill_(1, I(lib, [0, 5]), -3.0)
        y[:, 2:].scatter_reduce_(1, I(lib, ix[:4, :2] % 4), s[:4, :2], "amax", include_self=False)
        y[1:3].put_(I(lib, [0, 11]), s[0, :2], accumulate=True)
        y[:, 0].masked_scatter_(I(lib, [True, False, True, True], lib.bool), s[1])
        return y
    check(into_view, f, fs)


def test_scatter_errors():
    x = make_pair((3, 4), "float32", seed=43)
    s64 = make_pair((3, 4), "float64", seed=44)
    check(lambda lib, x: x.scatter(0, I(lib, [[5]]), 1.0), x)
    check(lambda lib, x: x.scatter(0, I(lib, [[-1]]), 1.0), x)
    check(lambda lib, x, s: x.scatter(0, I(lib, [[1]]), s), x, s64)
    check(lambda lib, x: x.scatter(0, lib.tensor([[1.0]]), 1.0), x)
    check(lambda lib, x: x.scatter(0, I(lib, np.zeros((3, 5), dtype=np.int64)), x), x)
    check(lambda lib, x: x.scatter(0, I(lib, [1]), x), x)
    check(lambda lib, x: x.scatter(0, I(lib, np.zeros((0,), dtype=np.int64)), 1.0), x)
    check(lambda lib: lib.tensor(2.0).scatter(0, I(lib, 0), lib.tensor(3.0)))
    check(lambda lib, x, s: x.scatter_reduce(0, I(lib, [[0]]), s, "sum"), x, s64)


@pytest.mark.parametrize("dt", OP_DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_add_copy_fill(dt, dim):
    rng = np.random.default_rng(50)
    x = make_pair((4, 5, 3), dt, seed=51)
    shape = [4, 5, 3]
    n = shape[dim]
    shape[dim] = 3
    src = make_pair(tuple(shape), dt, seed=52)
    ix = rng.integers(0, n, size=3)
    uix = rng.permutation(n)[:3]
    if dt != "bool":
        check(lambda lib, x, s: lib.index_add(x, dim, I(lib, ix), s), x, src)
        check(lambda lib, x, s: x.index_add(dim, I(lib, ix), s, alpha=2), x, src)
        check(lambda lib, x, s: x.clone().index_add_(dim, I(lib, ix, lib.int32), s), x, src)
    check(lambda lib, x, s: lib.index_copy(x, dim, I(lib, uix), s), x, src)
    check(lambda lib, x, s: x.clone().index_copy_(dim, I(lib, uix), s), x, src)
    check(lambda lib, x, s: x.index_fill(dim, I(lib, ix), 2), x, src)
    check(lambda lib, x, s: x.index_fill(dim, I(lib, [-1, 0]), lib.tensor(1)), x, src)
    check(lambda lib, x, s: x.clone().index_fill_(dim, I(lib, ix), True), x, src)
    check(lambda lib, x, s: x.clone().index_fill_(dim, I(lib, ix), lib.tensor(0)), x, src)


def test_index_family_edge_and_errors():
    x = make_pair((3, 4), "float32", seed=53)
    s = make_pair((2, 4), "float32", seed=54)
    s64 = make_pair((2, 4), "float64", seed=55)
    check(lambda lib, x, s: x[:, ::2].index_add(1, I(lib, [1, 1]), s[:, :2]), x, s)
    check(lambda lib, x, s: x.index_add(0, I(lib, [0, 3]), s), x, s)
    check(lambda lib, x, s: x.index_add(0, I(lib, [-1, 0]), s), x, s)
    check(lambda lib, x, s: x.index_add(0, I(lib, [0, 1]), s), x, s64)
    check(lambda lib, x, s: x.index_add(0, I(lib, [0]), s), x, s)
    check(lambda lib, x, s: x.index_add(0, I(lib, []), s[:0]), x, s)
    check(lambda lib, x, s: x.index_copy(0, I(lib, [0, 3]), s), x, s)
    check(lambda lib, x, s: x.index_copy(0, I(lib, [-1, 0]), s), x, s)
    check(lambda lib, x, s: x.index_copy(0, I(lib, [0, 1]), s), x, s64)
    check(lambda lib, x: x.index_fill(0, I(lib, [3]), 1.0), x)
    check(lambda lib, x: x.index_fill(0, I(lib, [-4]), 1.0), x)
    check(lambda lib, x: x.index_fill(0, I(lib, [1]), lib.tensor([2.0])), x)
    check(lambda lib, x: x.index_fill(1, lib.tensor([1.0]), 2.0), x)
    check(lambda lib: lib.tensor(1.5).index_fill(0, I(lib, [0]), 3.0))
    for op in ["index_add", "index_copy"]:
        check(lambda lib, x, s: getattr(x, op)(0, I(lib, [[0, 1]]), s), x, s)
        check(lambda lib, x, s: getattr(x, op)(0, lib.tensor([0.0, 1.0]), s), x, s)
        check(lambda lib, x, s: getattr(x, op)(0, I(lib, [0, 1], lib.int32), s), x, s)
        check(lambda lib, x, s: getattr(x, op)(0, I(lib, [0, 1, 2]), s), x, s)
        check(lambda lib, x, s: getattr(x, op)(0, I(lib, [0, 1]), s[:, :3]), x, s)
        check(lambda lib, x, s: getattr(x, op)(2, I(lib, [0, 1]), s), x, s)
    check(lambda lib, x: x.index_fill(0, I(lib, [[0]]), 1.0), x)
    check(lambda lib, x: x.index_fill(0, I(lib, [0], lib.int32), 1.0), x)
    check(lambda lib, x: x.gather(2, I(lib, [[0]])), x)
    check(lambda lib, x: x.masked_fill(lib.ones(2, dtype=lib.bool), 1.0), x)
    check(lambda lib, x: x.masked_scatter(lib.ones(2, dtype=lib.bool), lib.ones(12)), x)
    check(lambda lib: lib.zeros(4).masked_scatter_(lib.ones(3, 4, dtype=lib.bool), lib.ones(12)))
    check(lambda lib, x: lib.take_along_dim(x, I(lib, [[0]]), dim=3), x)
    check(lambda lib, x: lib.take_along_dim(x, I(lib, [[0, 0], [1, 1]]), dim=1), x)
    check(lambda lib, x: x.scatter(0, I(lib, [[0]]), lib.tensor(1.0)), x)
    check(lambda lib, x: x.index_put((I(lib, [0]),) * 3, lib.tensor(1.0)), x)
    check(lambda lib, x: x.index_put((lib.ones(3, 4, dtype=lib.bool),), lib.tensor(1.0)), x)
    check(lambda lib: lib.ones(3, dtype=lib.bfloat16).scatter_reduce(0, I(lib, [0, 0]),
                                                                     lib.tensor([2.0, 3.0], dtype=lib.bfloat16), "mean"))


@pytest.mark.parametrize("dt", OP_DTYPES)
def test_index_put(dt):
    rng = np.random.default_rng(60)
    x = make_pair((4, 5), dt, seed=61)
    v = make_pair((6,), dt, seed=62)
    i0, i1 = rng.integers(0, 4, size=6), rng.integers(-5, 5, size=6)
    u0 = rng.permutation(4)
    u1 = rng.permutation(5)[:4]
    check(lambda lib, x, v: lib.index_put(x, (I(lib, u0), I(lib, u1)), v[:4]), x, v)
    check(lambda lib, x, v: x.index_put((I(lib, u0),), v[:1]), x, v)
    check(lambda lib, x, v: x.clone().index_put_((I(lib, u0), I(lib, u1)), v[:4]), x, v)
    if dt != "bool":
        check(lambda lib, x, v: x.index_put((I(lib, i0), I(lib, i1)), v, accumulate=True), x, v)
        check(lambda lib, x, v: x.clone().index_put_([I(lib, i0)], v[:5], True), x, v)
        check(lambda lib, x, v: lib.index_put_(x.clone(), (I(lib, i0), I(lib, i1)), v, True), x, v)
    check(lambda lib, x, v: x.index_put((I(lib, u0), I(lib, u1)), lib.ones(1, dtype=lib.float64)), x, v)
    check(lambda lib, x, v: x.index_put((I(lib, [4]),), v[:1]), x, v)
    check(lambda lib, x, v: x.index_put((I(lib, [0, 1]), I(lib, [0, 1, 2])), v[:1]), x, v)


@pytest.mark.parametrize("dt", OP_DTYPES)
def test_masked_ops(dt):
    x = make_pair((3, 4), dt, seed=70)
    m = make_pair((3, 4), "bool", seed=71)
    mrow = make_pair((4,), "bool", seed=72)
    src = make_pair((12,), dt, seed=73)
    check(lambda lib, x, m: lib.masked_fill(x, m, 2), x, m)
    check(lambda lib, x, m: x.masked_fill(m, lib.tensor(1)), x, m)
    check(lambda lib, x, m: x.masked_fill(m, True), x, m)
    check(lambda lib, x, m: x.clone().masked_fill_(m, 0), x, mrow)
    check(lambda lib, x, m: x[:, ::2].masked_fill(m[:2], 3), x, mrow)
    check(lambda lib, x, m: x[0].masked_fill(m, 3), x, m)
    check(lambda lib, x, m: x[0].clone().masked_fill_(m, 3), x, m)
    check(lambda lib, x, m: lib.masked_select(x, m), x, m)
    check(lambda lib, x, m: x.masked_select(m), x, mrow)
    check(lambda lib, x, m: x[:, 1:].masked_select(m[1:]), x, mrow)
    check(lambda lib, x, m: lib.masked_select(x[0], m, out=lib.empty(0, dtype=x.dtype)), x, m)
    check(lambda lib, x, m, s: lib.masked_scatter(x, m, s), x, m, src)
    check(lambda lib, x, m, s: x.masked_scatter(m, s), x, mrow, src)
    check(lambda lib, x, m, s: x.clone().masked_scatter_(m, s), x, m, src)
    check(lambda lib, x, m, s: x[:, ::2].clone().masked_scatter_(m[::2], s), x, mrow, src)


@pytest.mark.parametrize("dt", ["uint8", "int8", "int32", "int64", "bool", "float16", "bfloat16", "float32"])
@pytest.mark.parametrize("value", [300, -1, -256, 200, 2.5, -1.5, 1e10, 1e300, float("nan"), float("inf"), 2**40])
def test_scalar_value_range(dt, value):
    x = make_pair((3,), dt, seed=76)
    m = make_pair((3,), "bool", seed=77)
    check(lambda lib, x, m: x.masked_fill(m, value), x, m)
    check(lambda lib, x, m: x.index_fill(0, I(lib, [1]), value), x, m)
    check(lambda lib, x, m: x.scatter(0, I(lib, [2]), value), x, m)
    check(lambda lib, x, m: x.clone().masked_fill_(m, lib.tensor(value)), x, m)


def test_masked_errors_and_edge():
    x = make_pair((3, 4), "float32", seed=74)
    m = make_pair((3, 4), "bool", seed=75)
    check(lambda lib, x: x.masked_fill(lib.ones(3, 4, dtype=lib.uint8), 1.0), x)
    check(lambda lib, x, m: x.masked_fill(m, lib.tensor([1.0])), x, m)
    check(lambda lib: lib.tensor([0, 1, 2]).masked_fill(lib.ones(2, 3, dtype=lib.bool), 1.7))
    check(lambda lib: lib.tensor([0, 1, 2]).masked_fill_(lib.ones(2, 3, dtype=lib.bool), 1))
    check(lambda lib: lib.tensor([0, 1, 2]).masked_fill(lib.tensor([True, False, True]), lib.tensor(1.7)))
    check(lambda lib, x: x.masked_select(lib.ones(3, 4, dtype=lib.uint8)), x)
    check(lambda lib, x, m: x.masked_select(m[:2]), x, m)
    check(lambda lib, x, m: x.masked_scatter(m, lib.ones(12, dtype=lib.float64)), x, m)
    check(lambda lib, x: x.masked_scatter(lib.ones(3, 4, dtype=lib.bool), lib.ones(11)), x)
    check(lambda lib, x: x.masked_scatter(lib.ones(3, 4, dtype=lib.uint8), lib.ones(12)), x)
    check(lambda lib: lib.tensor(2.0).masked_fill(lib.tensor(True), 5.0))
    check(lambda lib: lib.tensor(2.0).masked_select(lib.tensor(True)))
    check(lambda lib: lib.zeros(0, 3).masked_select(lib.zeros(0, 3, dtype=lib.bool)))


@pytest.mark.parametrize("dt", OP_DTYPES)
def test_take_put(dt):
    rng = np.random.default_rng(80)
    x = make_pair((3, 4), dt, seed=81)
    src = make_pair((2, 3), dt, seed=82)
    ix = rng.integers(-12, 12, size=(2, 3))
    uix = rng.permutation(12)[:6].reshape(2, 3)
    check(lambda lib, x: lib.take(x, I(lib, ix)), x)
    check(lambda lib, x: x[:, ::2].take(I(lib, ix % 6)), x)
    check(lambda lib, x: lib.take(x, I(lib, ix), out=lib.empty(0, dtype=x.dtype)), x)
    check(lambda lib, x, s: x.clone().put_(I(lib, uix), s), x, src)
    check(lambda lib, x, s: x[:, 1:].clone().put_(I(lib, uix % 9), s), x, src)
    check(lambda lib, x, s: lib.put(x, I(lib, uix), s), x, src)
    if dt != "bool":
        check(lambda lib, x, s: x.clone().put_(I(lib, ix), s, accumulate=True), x, src)
        check(lambda lib, x, s: x.put(I(lib, ix), s, True), x, src)
    tix = rng.integers(0, 4, size=(3, 2))
    check(lambda lib, x: lib.take_along_dim(x, I(lib, tix), dim=1), x)
    check(lambda lib, x: lib.take_along_dim(x, I(lib, [[2, 0]]), 0), x)
    check(lambda lib, x: x.take_along_dim(I(lib, [[1], [0], [3]]), dim=-1), x)
    check(lambda lib, x: lib.take_along_dim(x, I(lib, [5, 0, 11])), x)
    check(lambda lib, x: lib.take_along_dim(x, I(lib, [[1]]), dim=1, out=lib.empty(0, dtype=x.dtype)), x)


def test_take_put_errors():
    x = make_pair((3, 4), "float32", seed=83)
    check(lambda lib, x: x.take(I(lib, [12])), x)
    check(lambda lib, x: x.take(I(lib, [-13])), x)
    check(lambda lib, x: x.take(I(lib, [1], lib.int32)), x)
    check(lambda lib, x: x.take(I(lib, np.zeros((0, 2), dtype=np.int64))), x)
    check(lambda lib: lib.tensor(3.0).take(I(lib, [0, -1])))
    check(lambda lib, x: x.clone().put_(I(lib, [12]), lib.tensor([1.0])), x)
    check(lambda lib, x: x.clone().put_(I(lib, [1]), lib.tensor([1.0], dtype=lib.float64)), x)
    check(lambda lib, x: x.clone().put_(I(lib, [1, 2]), lib.tensor([1.0])), x)
    check(lambda lib, x: x.clone().put_(I(lib, [1], lib.int32), lib.tensor([1.0])), x)
    check(lambda lib, x: lib.take_along_dim(x, I(lib, [[0]], lib.int32), dim=0), x)
    check(lambda lib, x: lib.take_along_dim(x, I(lib, [0]), dim=0), x)
    check(lambda lib, x: lib.take_along_dim(x, I(lib, [[4]]), dim=1), x)
    check(lambda lib, x: lib.take_along_dim(x, I(lib, [[0, 1]] * 2), dim=1), x)


@pytest.mark.parametrize("dt", OP_DTYPES)
@pytest.mark.parametrize("shape", [(3, 4), (5,), (2, 3, 2), (0, 3), ()])
def test_nonzero_where_argwhere(dt, shape):
    x = make_pair(shape, dt, seed=90, low=-1, high=1)
    check(lambda lib, x: lib.nonzero(x), x)
    check(lambda lib, x: x.nonzero(), x)
    check(lambda lib, x: lib.nonzero(x, as_tuple=True), x)
    check(lambda lib, x: x.nonzero(as_tuple=True), x)
    check(lambda lib, x: lib.nonzero(x, out=lib.empty(0, dtype=lib.int64)), x)
    check(lambda lib, x: lib.argwhere(x), x)
    check(lambda lib, x: x.argwhere(), x)
    check(lambda lib, x: lib.where(x), x)


def test_index_put_broadcast_value():
    x = make_pair((3, 2), "float32", seed=91)
    check(lambda lib, x: x.index_put((I(lib, [0, 2]),), lib.tensor(1.0)), x)
    check(lambda lib, x: x.index_put((I(lib, [[0], [2]]), I(lib, [1, 0])), lib.tensor([5.0, 6.0])), x)
    check(lambda lib, x: x.index_put([I(lib, [0, 1, 2])], lib.tensor([[5.0, 6.0]]), accumulate=True), x)
    check(lambda lib, x: x.index_put((I(lib, [0]), I(lib, [0]), I(lib, [0])), lib.tensor(1.0)), x)
    check(lambda lib, x: x.index_put((None, I(lib, [0])), lib.tensor(1.0)), x)
    check(lambda lib, x: x.index_put((), lib.tensor(2.0)), x)
    check(lambda lib, x: x.index_put((), lib.tensor(2.0), accumulate=True), x)


# ------------------------------------------------------------------ random getitem expressions


@st.composite
def index_expr(draw):
    ndim = draw(st.integers(0, 4))
    shape = tuple(draw(st.integers(0, 4)) for _ in range(ndim))
    items = []
    used_ellipsis = False
    d = 0
    n_items = draw(st.integers(0, ndim + 2))
    for _ in range(n_items):
        kind = draw(st.sampled_from(["int", "slice", "none", "ellipsis", "list"]))
        if kind == "none":
            items.append("None")
            continue
        if kind == "ellipsis":
            if not used_ellipsis:
                used_ellipsis = True
                items.append("...")
            continue
        size = shape[d] if d < ndim else 3
        d += 1
        if kind == "int":
            items.append(str(draw(st.integers(-size - 1, size))))
        elif kind == "slice":
            a = draw(st.one_of(st.none(), st.integers(-6, 6)))
            b = draw(st.one_of(st.none(), st.integers(-6, 6)))
            c = draw(st.one_of(st.none(), st.integers(1, 3)))
            items.append("%s:%s%s" % ("" if a is None else a, "" if b is None else b,
                                      "" if c is None else ":%d" % c))
        else:
            k = draw(st.integers(0, 3))
            lo = -size if size else -1
            vals = [draw(st.integers(lo, max(size - 1, 0))) for _ in range(k)]
            items.append("T(%r)" % (vals,) if vals else "T([], dtype=lib.int64)")
    return shape, "x[%s]" % ", ".join(items) if items else "x[()]"


@settings(max_examples=100, deadline=None)
@given(index_expr())
def test_getitem_random(case):
    shape, expr = case
    check(lambda lib, x: _eval(expr, lib, x), make_pair(shape, "float64", seed=0))


def test_iteration():
    check(lambda lib, x: [r for r in x], make_pair((3, 2), "int64", seed=5))
    check(lambda lib, x: list(x[1:]), make_pair((3, 4, 2), "float32", seed=6))
    check(lambda lib, x: list(x), make_pair((0, 2), "float32", seed=7))
    check(lambda lib, x: list(x), make_pair((), "float32", seed=8))

    def unpack(lib, x):
        a, b = x
        return a, b
    check(unpack, make_pair((2, 3), "float64", seed=9))
    c = ctorch.zeros(2, 3)
    for row in c:
        row.fill_(1.0)  # rows are views
    assert c.tolist() == [[1.0] * 3] * 2
