"""Hypothesis-driven conformance: random shapes, dtypes, dims and arguments thrown at
reductions, shape ops, matmul and factories; each case must give torch's result (values,
dtype, shape) or raise torch's exception class."""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from helpers import ALL_DTYPES, check, make_pair

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple)
dtypes = st.sampled_from(ALL_DTYPES)
float_dtypes = st.sampled_from(["float32", "float64"])
dims = st.integers(-5, 5)


def tol(dtype):
    """16-bit floats keep their own (looser) tolerance from helpers.TOL."""
    return {} if dtype in ("float16", "bfloat16") else dict(rtol=1e-4, atol=1e-4)


@SETTINGS
@given(shape=shapes, dtype=dtypes, dim=st.one_of(st.none(), dims, st.tuples(dims, dims)), keepdim=st.booleans(),
       op=st.sampled_from(["sum", "mean", "amax", "amin", "prod", "nansum", "argmax", "argmin", "all", "any",
                           "count_nonzero", "std", "var", "logsumexp"]),
       seed=st.integers(0, 2 ** 16))
def test_reductions(shape, dtype, dim, keepdim, op, seed):
    x = make_pair(shape, dtype, seed=seed)

    def fn(lib, t):
        f = getattr(lib, op)
        if op in ("argmax", "argmin"):
            return f(t, dim=dim if not isinstance(dim, tuple) else dim[0], keepdim=keepdim)
        if op == "count_nonzero":
            return f(t, dim=dim)
        if op == "logsumexp":
            return f(t, dim=dim if dim is not None else 0, keepdim=keepdim)
        if dim is None:
            return f(t)
        return f(t, dim, keepdim=keepdim)
    check(fn, x, **tol(dtype))


@SETTINGS
@given(shape=shapes, dtype=dtypes, seed=st.integers(0, 2 ** 16),
       op=st.sampled_from(["cumsum", "cumprod", "sort", "argsort", "flip", "roll", "squeeze", "unsqueeze",
                           "transpose", "softmax_like", "narrow", "select", "split", "chunk", "movedim"]),
       a=dims, b=dims)
def test_dim_ops(shape, dtype, seed, op, a, b):
    x = make_pair(shape, dtype, seed=seed)

    def fn(lib, t):
        if op == "cumsum":
            return t.cumsum(a)
        if op == "cumprod":
            return t.cumprod(a)
        if op == "sort":
            return t.sort(dim=a, stable=True)
        if op == "argsort":
            return t.argsort(dim=a, stable=True)
        if op == "flip":
            return t.flip(a)
        if op == "roll":
            return t.roll(b, a)
        if op == "squeeze":
            return t.squeeze(a)
        if op == "unsqueeze":
            return t.unsqueeze(a)
        if op == "transpose":
            return t.transpose(a, b)
        if op == "softmax_like":
            return t.amax(dim=a, keepdim=True)
        if op == "narrow":
            return t.narrow(a, 0, abs(b) % 3)
        if op == "select":
            return t.select(a, b)
        if op == "split":
            return t.split(abs(b) + 1, a)
        if op == "chunk":
            return t.chunk(abs(b) + 1, a)
        return t.movedim(a, b)
    check(fn, x, **tol(dtype))


@SETTINGS
@given(shape=shapes, new=st.lists(st.integers(-1, 6), min_size=0, max_size=4).map(tuple), dtype=dtypes,
       seed=st.integers(0, 2 ** 16), op=st.sampled_from(["view", "reshape", "expand", "repeat", "permute", "tile"]))
def test_shape_args(shape, new, dtype, seed, op):
    # torch returns a size -1 tensor for a 0-dim tensor expanded to (0, -1) (a torch bug; ctorch raises)
    assume(not (op == "expand" and shape == () and -1 in new and 0 in new))
    x = make_pair(shape, dtype, seed=seed)

    def fn(lib, t):
        if op == "permute":
            return t.permute(*[abs(v) % 5 for v in new])
        if op == "repeat":
            return t.repeat(*[abs(v) for v in new])
        if op == "tile":
            return t.tile(tuple(abs(v) for v in new))
        return getattr(t, op)(*new)
    check(fn, x)


@SETTINGS
@given(s1=shapes, s2=shapes, dtype=st.sampled_from(["float32", "float64", "int64"]), seed=st.integers(0, 2 ** 16),
       op=st.sampled_from(["matmul", "cat0", "cat_last", "stack", "add", "where", "maximum"]))
def test_pairs(s1, s2, dtype, seed, op):
    x = make_pair(s1, dtype, seed=seed)
    y = make_pair(s2, dtype, seed=seed + 1)

    def fn(lib, a, b):
        if op == "matmul":
            return lib.matmul(a, b)
        if op == "cat0":
            return lib.cat([a, b], 0)
        if op == "cat_last":
            return lib.cat([a, b], -1)
        if op == "stack":
            return lib.stack([a, b])
        if op == "add":
            return a + b
        if op == "where":
            return lib.where(a > 0, a, b)
        return lib.maximum(a, b)
    check(fn, x, y, rtol=1e-4, atol=1e-4)


@SETTINGS
@given(args=st.lists(st.one_of(st.integers(-3, 8), st.floats(-3, 8, allow_nan=False)), min_size=1, max_size=3),
       dtype=st.sampled_from([None, "float32", "int64", "float64", "int32"]),
       op=st.sampled_from(["arange", "linspace", "zeros", "ones", "full", "eye"]))
def test_factories(args, dtype, op):
    from helpers import DTYPES

    def fn(lib, *unused):
        kw = {} if dtype is None else {"dtype": DTYPES[dtype][0] if lib.__name__ == "ctorch" else DTYPES[dtype][1]}
        if op == "arange":
            return lib.arange(*args, **kw)
        if op == "linspace":
            return lib.linspace(args[0], args[-1], int(abs(args[0])) % 7, **kw)
        if op == "full":
            return lib.full(tuple(int(abs(a)) % 4 for a in args), args[0], **kw)
        if op == "eye":
            return lib.eye(*[int(a) for a in args[:2]], **kw)
        return getattr(lib, op)(*[int(a) if isinstance(a, float) and a.is_integer() else a for a in args], **kw)
    check(fn, rtol=1e-5, atol=1e-5)


def test_numpy_available():
    assert np.__version__
