"""Reductions, scans, sorting, unique, histograms and searching vs torch."""
import math
import warnings

import numpy as np
import pytest
import torch

import ctorch
from helpers import ALL_DTYPES, FLOAT_DTYPES, INT_DTYPES, DTYPES, check, make_pair

# torch warns when correction >= the number of reduced elements; the values are what we test
pytestmark = pytest.mark.filterwarnings("ignore:.*degrees of freedom")

SHAPE = (3, 4, 5)
DIMS = [None, 0, 1, 2, -1, -3, (0, 2), [1, 2], (0, 1, 2), (), (-1, 0)]


def pair_of(values, dtype="float32"):
    return ctorch.tensor(values, dtype=DTYPES[dtype][0]), torch.tensor(values, dtype=DTYPES[dtype][1])


NAN = float("nan")


# ------------------------------------------------------------------ sum-like

@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("op", ["sum", "nansum", "mean", "nanmean", "amax", "amin"])
def test_reduce_dims_dtypes(op, dtype):
    x = make_pair(SHAPE, dtype, seed=1)
    for dim in DIMS:
        for keepdim in (False, True):
            if dim is None:
                if op in ("amax", "amin"):
                    continue
                check(lambda lib, x: getattr(lib, op)(x), x)
                check(lambda lib, x: getattr(x, op)(keepdim=keepdim), x)
            else:
                check(lambda lib, x: getattr(lib, op)(x, dim, keepdim), x)
                check(lambda lib, x: getattr(x, op)(dim=dim, keepdim=keepdim), x)


@pytest.mark.parametrize("op", ["sum", "mean", "nansum", "nanmean", "prod"])
def test_reduce_dtype_kw(op):
    for src in ("int32", "float32", "bool", "float16"):
        x = make_pair((4, 3), src, seed=2)
        for dt in ("float64", "float32", "int64"):
            check(lambda lib, x: getattr(lib, op)(x, dtype=DTYPES[dt][0 if lib is ctorch else 1]), x)
            if op != "prod":
                check(lambda lib, x: getattr(lib, op)(x, 0, dtype=DTYPES[dt][0 if lib is ctorch else 1]), x)
            else:
                check(lambda lib, x: getattr(lib, op)(x, 0, dtype=DTYPES[dt][0 if lib is ctorch else 1]), x)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_prod(dtype):
    x = make_pair((3, 4), dtype, low=-2, high=2, seed=3)
    check(lambda lib, x: lib.prod(x), x)
    for d in (0, 1, -1):
        check(lambda lib, x: lib.prod(x, d), x)
        check(lambda lib, x: x.prod(d, keepdim=True), x)
    check(lambda lib, x: lib.prod(x, 2), x)  # IndexError


def test_sum_large_accuracy_and_layouts():
    rng = np.random.default_rng(0)
    for shape in [(100003,), (7, 20001), (20001, 7), (3, 5000, 4), (2, 3, 70000), (3, 300000)]:
        a = rng.standard_normal(shape).astype(np.float32)
        c, t = ctorch.tensor(a), torch.tensor(a)
        for d in [None] + list(range(len(shape))):
            r = lambda lib, x: lib.sum(x) if d is None else lib.sum(x, d)
            check(r, (c, t), rtol=1e-4, atol=1e-3)
            check(lambda lib, x: lib.amax(x, d if d is not None else ()), (c, t))
            check(lambda lib, x: lib.mean(x, d), (c, t), rtol=1e-4, atol=1e-5)
    big = np.ones(1 << 22, dtype=np.float32) * 0.1
    assert abs(ctorch.tensor(big).sum().item() - float(torch.tensor(big).sum())) < 1.0
    i = np.arange(1 << 20, dtype=np.int64)
    assert ctorch.tensor(i).sum().item() == int(i.sum())
    assert ctorch.tensor(i.reshape(1024, 1024)).sum(0).tolist() == i.reshape(1024, 1024).sum(0).tolist()


def test_empty_and_0dim():
    e = make_pair((0, 3), "float32")
    for f in [lambda lib, x: lib.sum(x), lambda lib, x: lib.sum(x, 0), lambda lib, x: lib.sum(x, 1),
              lambda lib, x: lib.mean(x), lambda lib, x: lib.mean(x, 0), lambda lib, x: lib.prod(x, 0),
              lambda lib, x: lib.nansum(x), lambda lib, x: lib.max(x), lambda lib, x: lib.max(x, 0),
              lambda lib, x: lib.max(x, 1), lambda lib, x: lib.amax(x, 0), lambda lib, x: lib.amax(x, 1),
              lambda lib, x: lib.amax(x), lambda lib, x: lib.argmax(x), lambda lib, x: lib.argmin(x, 1),
              lambda lib, x: lib.argmax(x, 0), lambda lib, x: lib.all(x), lambda lib, x: lib.any(x),
              lambda lib, x: lib.all(x, 0), lambda lib, x: lib.count_nonzero(x, 0), lambda lib, x: lib.var(x, 0),
              lambda lib, x: lib.aminmax(x), lambda lib, x: lib.logsumexp(x, 0), lambda lib, x: lib.logsumexp(x, 1),
              lambda lib, x: lib.linalg.vector_norm(x), lambda lib, x: lib.norm(x, dim=1),
              lambda lib, x: lib.cumsum(x, 0), lambda lib, x: lib.sort(x, 0), lambda lib, x: lib.median(x),
              lambda lib, x: lib.median(x, 0), lambda lib, x: lib.unique(x), lambda lib, x: lib.argsort(x)]:
        check(f, e)
    z = make_pair((), "float32", seed=4)
    for f in [lambda lib, x: lib.sum(x), lambda lib, x: lib.sum(x, 0), lambda lib, x: lib.sum(x, -1, True),
              lambda lib, x: lib.mean(x, 0), lambda lib, x: lib.max(x), lambda lib, x: lib.max(x, 0),
              lambda lib, x: lib.argmax(x), lambda lib, x: lib.argmax(x, 0, True), lambda lib, x: lib.amin(x, 0),
              lambda lib, x: lib.var(x), lambda lib, x: lib.std(x, 0, correction=0),
              lambda lib, x: lib.cumsum(x, 0), lambda lib, x: lib.cummax(x, 0), lambda lib, x: lib.sort(x),
              lambda lib, x: lib.topk(x, 1), lambda lib, x: lib.median(x), lambda lib, x: lib.logsumexp(x, 0),
              lambda lib, x: lib.sum(x, 1), lambda lib, x: lib.max(x, 2), lambda lib, x: lib.all(x, 0)]:
        check(f, z)


def test_bad_dims():
    x = make_pair(SHAPE, "float32", seed=5)
    for f in [lambda lib, x: lib.sum(x, 3), lambda lib, x: lib.sum(x, -4), lambda lib, x: lib.sum(x, (0, 0)),
              lambda lib, x: lib.mean(x, (1, -2)), lambda lib, x: lib.amax(x, 5), lambda lib, x: lib.max(x, 3),
              lambda lib, x: lib.argmax(x, -4), lambda lib, x: lib.var(x, 7), lambda lib, x: lib.cumsum(x, 3),
              lambda lib, x: lib.sort(x, 3), lambda lib, x: lib.topk(x, 6), lambda lib, x: lib.topk(x, -1),
              lambda lib, x: lib.kthvalue(x, 0), lambda lib, x: lib.kthvalue(x, 6), lambda lib, x: lib.median(x, 3),
              lambda lib, x: lib.logsumexp(x, 3), lambda lib, x: lib.all(x, 3), lambda lib, x: lib.sum(x, "a")]:
        check(f, x)


def test_mean_int_errors():
    x = make_pair((3, 4), "int64", seed=6)
    check(lambda lib, x: lib.mean(x), x)
    check(lambda lib, x: lib.mean(x, 0), x)
    check(lambda lib, x: lib.nanmean(x), x)
    check(lambda lib, x: lib.mean(x, dtype=DTYPES["float32"][0 if lib is ctorch else 1]), x)
    b = make_pair((3, 4), "bool", seed=6)
    check(lambda lib, x: lib.mean(x), b)


def test_out_kw():
    x = make_pair((3, 4), "float32", seed=7)
    for fn in ("sum", "mean", "amax", "logsumexp", "nansum"):
        def f(lib, x, fn=fn):
            out = lib.empty(0)
            r = getattr(lib, fn)(x, 1, out=out)
            assert r is out
            return out
        check(f, x)

    def g(lib, x):
        out = lib.empty(0, dtype=lib.int64)
        lib.argmax(x, 0, out=out)
        return out
    check(g, x)


# ------------------------------------------------------------------ max / min / arg

@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_max_min_dim(dtype):
    x = make_pair((4, 5, 3), dtype, low=-2, high=2, seed=8)  # many ties
    for op in ("max", "min"):
        check(lambda lib, x: getattr(lib, op)(x), x)
        for d in (0, 1, 2, -1):
            for kd in (False, True):
                check(lambda lib, x: getattr(lib, op)(x, d, kd), x)
                check(lambda lib, x: getattr(x, op)(dim=d, keepdim=kd), x)
    for op in ("argmax", "argmin"):
        if dtype == "bool":
            continue  # torch has no argmax for bool
        check(lambda lib, x: getattr(lib, op)(x), x)
        check(lambda lib, x: getattr(lib, op)(x, keepdim=True), x)
        for d in (0, 1, 2, -2):
            check(lambda lib, x: getattr(lib, op)(x, d), x)
            check(lambda lib, x: getattr(x, op)(dim=d, keepdim=True), x)
    check(lambda lib, x: lib.aminmax(x), x)
    for d in (0, 1, -1):
        check(lambda lib, x: lib.aminmax(x, dim=d, keepdim=True), x)
        check(lambda lib, x: x.aminmax(dim=d), x)


def test_max_named_tuples():
    c, t = make_pair((3, 4), "float32", seed=9)
    r = ctorch.max(c, 1)
    assert type(r).__name__ == "max" and type(r).__module__ == "ctorch.return_types"
    assert r.values.tolist() == torch.max(t, 1).values.tolist()
    assert r.indices.tolist() == torch.max(t, 1).indices.tolist()
    v, i = ctorch.min(c, dim=0)
    assert i.tolist() == torch.min(t, 0)[1].tolist()
    mn, mx = ctorch.aminmax(c)
    assert ctorch.aminmax(c).min.item() == mn.item() and ctorch.aminmax(c).max.item() == mx.item()
    assert ctorch.sort(c).indices.tolist() == torch.sort(t).indices.tolist()
    assert ctorch.cummax(c, 0).values.tolist() == torch.cummax(t, 0).values.tolist()


def test_nan_propagation():
    vals = [[1.0, NAN, 3.0, NAN], [2.0, 5.0, -1.0, 0.0], [NAN, 1.0, 1.0, 9.0]]
    for dt in ("float32", "float64", "float16", "bfloat16"):
        x = pair_of(vals, dt)
        for f in [lambda lib, x: lib.max(x), lambda lib, x: lib.min(x), lambda lib, x: lib.max(x, 1),
                  lambda lib, x: lib.min(x, 0), lambda lib, x: lib.amax(x, 1), lambda lib, x: lib.amin(x, 0),
                  lambda lib, x: lib.argmax(x), lambda lib, x: lib.argmin(x, 1), lambda lib, x: lib.argmax(x, 0),
                  lambda lib, x: lib.aminmax(x, dim=1), lambda lib, x: lib.sum(x, 1), lambda lib, x: lib.nansum(x, 1),
                  lambda lib, x: lib.nansum(x), lambda lib, x: lib.nanmean(x, 1), lambda lib, x: lib.nanmean(x),
                  lambda lib, x: lib.sort(x, 1), lambda lib, x: lib.sort(x, 1, descending=True),
                  lambda lib, x: lib.argsort(x, 0), lambda lib, x: lib.median(x, 1), lambda lib, x: lib.median(x),
                  lambda lib, x: lib.nanmedian(x), lambda lib, x: lib.nanmedian(x, 1).values, lambda lib, x: lib.cummax(x, 1),
                  lambda lib, x: lib.cummin(x, 1), lambda lib, x: lib.logsumexp(x, 1), lambda lib, x: lib.all(x, 1),
                  lambda lib, x: lib.any(x), lambda lib, x: lib.count_nonzero(x, 0),
                  lambda lib, x: lib.logcumsumexp(x, 1)]:
            check(f, x)
    allnan = pair_of([[NAN, NAN], [1.0, NAN]])
    check(lambda lib, x: lib.nanmedian(x, 1), allnan)
    check(lambda lib, x: lib.nanmean(x, 1), allnan)


# ------------------------------------------------------------------ var / std / norms

@pytest.mark.parametrize("dtype", FLOAT_DTYPES + ["int64"])
def test_var_std(dtype):
    x = make_pair(SHAPE, dtype, seed=10)
    for op in ("var", "std", "var_mean", "std_mean"):
        check(lambda lib, x: getattr(lib, op)(x), x)
        check(lambda lib, x: getattr(lib, op)(x, False), x)
        for dim in (0, 2, -1, (0, 1), [0, 2], None):
            check(lambda lib, x: getattr(lib, op)(x, dim), x)
            check(lambda lib, x: getattr(lib, op)(x, dim, False, True), x)
            check(lambda lib, x: getattr(lib, op)(x, dim=dim, correction=0, keepdim=True), x)
            check(lambda lib, x: getattr(lib, op)(x, dim=dim, correction=2), x)
            check(lambda lib, x: getattr(lib, op)(x, dim, unbiased=False), x)
    for op in ("var", "std"):
        check(lambda lib, x: getattr(x, op)(1), x)
        check(lambda lib, x: getattr(x, op)(dim=1, correction=0), x)
    one = make_pair((1, 3), "float32", seed=1)
    check(lambda lib, x: lib.var(x, 0), one)
    check(lambda lib, x: lib.std(x, 0, correction=5), one)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int64"])
def test_norms(dtype):
    x = make_pair((3, 4, 2), dtype, seed=11)
    for p in (2, 1, math.inf, -math.inf, 0, 3, 0.5, -1.5):
        check(lambda lib, x: lib.linalg.vector_norm(x, p), x)
        check(lambda lib, x: lib.norm(x, p), x)
        for dim in (0, -1, (0, 2), None):
            check(lambda lib, x: lib.linalg.vector_norm(x, p, dim, True), x)
            check(lambda lib, x: lib.linalg.vector_norm(x, ord=p, dim=dim), x)
            if dim is not None:
                check(lambda lib, x: lib.norm(x, p, dim), x)
                check(lambda lib, x: x.norm(p, dim, keepdim=True), x)
    check(lambda lib, x: lib.norm(x), x)
    check(lambda lib, x: x.norm(), x)
    check(lambda lib, x: lib.norm(x, "fro"), x)
    check(lambda lib, x: lib.norm(x, "fro", (0, 1)), x)
    check(lambda lib, x: lib.linalg.vector_norm(x, dtype=DTYPES["float64"][0 if lib is ctorch else 1]), x)
    for ord in ("fro", 1, -1, math.inf, -math.inf):
        check(lambda lib, x: lib.linalg.matrix_norm(x, ord), x)
        check(lambda lib, x: lib.linalg.matrix_norm(x, ord, (0, 2)), x)
        check(lambda lib, x: lib.linalg.matrix_norm(x, ord, (2, 0), keepdim=True), x)
    check(lambda lib, x: lib.linalg.matrix_norm(x), x)
    v = make_pair((4,), dtype, seed=11)
    check(lambda lib, x: lib.linalg.matrix_norm(x), v)


def test_matrix_norm_svd_orders():
    x = make_pair((3, 3), "float32", seed=12)
    for ord in ("nuc", 2, -2):
        check(lambda lib, t: lib.linalg.matrix_norm(t, ord), x, rtol=1e-5, atol=1e-5)
    check(lambda lib, t: lib.linalg.matrix_norm(t, "nuc"), make_pair((3,), "float32", seed=13))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int64", "bool"])
def test_logsumexp(dtype):
    x = make_pair(SHAPE, dtype, low=-50, high=50, seed=13)
    for dim in (0, 1, -1, (0, 2), [0, 1, 2]):
        check(lambda lib, x: lib.logsumexp(x, dim), x)
        check(lambda lib, x: x.logsumexp(dim, keepdim=True), x)
    big = pair_of([[1000.0, 1000.0], [-math.inf, -math.inf], [math.inf, 1.0]], "float32")
    check(lambda lib, x: lib.logsumexp(x, 1), big)


# ------------------------------------------------------------------ bool reductions

@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_all_any_count(dtype):
    x = make_pair((3, 4, 2), dtype, low=0, high=1, seed=14)
    for op in ("all", "any"):
        check(lambda lib, x: getattr(lib, op)(x), x)
        for dim in (0, 1, -1, (0, 2)):
            check(lambda lib, x: getattr(lib, op)(x, dim), x)
            check(lambda lib, x: getattr(x, op)(dim, keepdim=True), x)
    check(lambda lib, x: lib.count_nonzero(x), x)
    for dim in (0, 2, (0, 1), [-1, 0]):
        check(lambda lib, x: lib.count_nonzero(x, dim), x)


# ------------------------------------------------------------------ scans

@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_scans(dtype):
    x = make_pair((3, 4, 2), dtype, low=-2, high=2, seed=15)
    for d in (0, 1, 2, -1):
        check(lambda lib, x: lib.cumsum(x, d), x)
        check(lambda lib, x: x.cumprod(d), x)
        check(lambda lib, x: lib.cummax(x, d), x)
        check(lambda lib, x: x.cummin(dim=d), x)
        check(lambda lib, x: lib.logcumsumexp(x, d), x)
        check(lambda lib, x: lib.cumsum(x, d, dtype=DTYPES["float64"][0 if lib is ctorch else 1]), x)
    check(lambda lib, x: lib.cumsum(x, 3), x)
    check(lambda lib, x: lib.cummax(x, -4), x)


def test_cumsum_out():
    x = make_pair((3, 4), "float32", seed=16)

    def f(lib, x):
        out = lib.empty(0)
        lib.cumsum(x, 1, out=out)
        return out
    check(f, x)


# ------------------------------------------------------------------ sorting & selection

@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_sort_stable_ties(dtype):
    x = make_pair((4, 6, 3), dtype, low=-2, high=2, seed=17)  # many ties: stability matters
    for d in (0, 1, 2, -1):
        for desc in (False, True):
            check(lambda lib, x: lib.sort(x, d, desc), x)
            check(lambda lib, x: x.sort(dim=d, descending=desc, stable=True), x)
            check(lambda lib, x: lib.argsort(x, d, desc), x)
            check(lambda lib, x: lib.argsort(x, dim=d, descending=desc, stable=True), x)
    check(lambda lib, x: lib.sort(x), x)
    check(lambda lib, x: lib.msort(x), x)
    check(lambda lib, x: x.msort(), x)


def test_sort_large():
    rng = np.random.default_rng(3)
    a = rng.integers(-1000, 1000, size=(5, 3001)).astype(np.float32)
    check(lambda lib, x: lib.sort(x, 1, stable=True), (ctorch.tensor(a), torch.tensor(a)))
    check(lambda lib, x: lib.sort(x, dim=0, descending=True, stable=True), (ctorch.tensor(a), torch.tensor(a)))


@pytest.mark.parametrize("dtype", ["float32", "int32", "float64", "int64", "uint8", "float16", "bfloat16"])
def test_topk_kthvalue_median_distinct(dtype):
    rng = np.random.default_rng(18)
    n = 24 if dtype in ("uint8", "float16", "bfloat16") else 60
    vals = rng.permutation(n).reshape(2, 3, n // 6).astype(np.float64)
    x = pair_of(vals.tolist(), dtype)
    for d in (0, 1, 2, -1):
        L = vals.shape[d]
        for k in (1, L // 2 + 1, L):
            check(lambda lib, x: lib.topk(x, k, d), x)
            check(lambda lib, x: lib.topk(x, k, dim=d, largest=False), x)
            check(lambda lib, x: x.kthvalue(k, d), x)
            check(lambda lib, x: lib.kthvalue(x, k, d, keepdim=True), x)
        check(lambda lib, x: lib.median(x, d), x)
        check(lambda lib, x: x.median(dim=d, keepdim=True), x)
        check(lambda lib, x: lib.nanmedian(x, d), x)
    check(lambda lib, x: lib.median(x), x)
    check(lambda lib, x: lib.nanmedian(x), x)
    check(lambda lib, x: lib.topk(x, 2), x)


def test_topk_ties_values():
    c, t = pair_of([[1.0, 3.0, 3.0, 2.0, 3.0, 0.0]])
    rc, rt = ctorch.topk(c, 3), torch.topk(t, 3)
    assert rc.values.tolist() == rt.values.tolist()
    assert sorted(rc.indices.tolist()[0]) == [1, 2, 4]
    even = pair_of([[4.0, 1.0, 3.0, 2.0]])
    check(lambda lib, x: lib.median(x, 1), even)  # lower median
    check(lambda lib, x: lib.median(x), even)


@pytest.mark.parametrize("dtype", ["int64", "float32", "bool", "int8"])
def test_mode(dtype):
    x = make_pair((3, 7, 2), dtype, low=-2, high=2, seed=19)
    for d in (0, 1, 2, -1):
        check(lambda lib, x: lib.mode(x, d), x)
        check(lambda lib, x: x.mode(d, keepdim=True), x)
    check(lambda lib, x: lib.mode(x), x)


# ------------------------------------------------------------------ unique

@pytest.mark.parametrize("dtype", ["int64", "float32", "bool", "uint8", "int16"])
def test_unique(dtype):
    x = make_pair((4, 5, 3), dtype, low=-2, high=2, seed=20)
    for ri in (False, True):
        for rc in (False, True):
            check(lambda lib, x: lib.unique(x, return_inverse=ri, return_counts=rc), x)
            check(lambda lib, x: x.unique(sorted=True, return_inverse=ri, return_counts=rc), x)
            check(lambda lib, x: lib.unique_consecutive(x, return_inverse=ri, return_counts=rc), x)
            for d in (0, 1, 2, -1):
                check(lambda lib, x: lib.unique(x, dim=d, return_inverse=ri, return_counts=rc), x)
                check(lambda lib, x: lib.unique_consecutive(x, return_inverse=ri, return_counts=rc, dim=d), x)
    rep = pair_of([[1, 2], [1, 2], [0, 5], [1, 2], [0, 5]], "int64")
    check(lambda lib, x: lib.unique(x, dim=0, return_inverse=True, return_counts=True), rep)
    check(lambda lib, x: lib.unique_consecutive(x, dim=0, return_counts=True), rep)
    check(lambda lib, x: x.unique_consecutive(return_inverse=True), rep)


# ------------------------------------------------------------------ histograms and search

def test_bincount():
    x = pair_of([0, 3, 1, 3, 3, 7], "int64")
    check(lambda lib, x: lib.bincount(x), x)
    check(lambda lib, x: x.bincount(minlength=10), x)
    for wdt in ("float32", "float64", "int64"):
        w = pair_of([0.5, 1, 2, 3, 4, 5], wdt)
        check(lambda lib, x, w: lib.bincount(x, w), x, w)
        check(lambda lib, x, w: lib.bincount(x, weights=w, minlength=3), x, w)
    check(lambda lib, x: lib.bincount(x), pair_of([], "int64"))
    check(lambda lib, x: lib.bincount(x, minlength=4), pair_of([], "int32"))
    check(lambda lib, x: lib.bincount(x), pair_of([1, -1], "int64"))
    check(lambda lib, x: lib.bincount(x), pair_of([1.0, 2.0], "float32"))
    check(lambda lib, x: lib.bincount(x), pair_of([[1, 2]], "int64"))
    check(lambda lib, x: lib.bincount(x, minlength=-1), x)
    check(lambda lib, x, w: lib.bincount(x, w), x, pair_of([1.0, 2.0]))
    check(lambda lib, x: lib.bincount(x), pair_of([1, 0, 2], "uint8"))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_histc(dtype):
    x = make_pair((50,), dtype, low=-3, high=3, seed=21)
    check(lambda lib, x: lib.histc(x), x)
    check(lambda lib, x: lib.histc(x, bins=7, min=-2, max=2), x)
    check(lambda lib, x: x.histc(4, -10, 10), x)
    check(lambda lib, x: lib.histc(x, bins=0), x)
    check(lambda lib, x: lib.histc(x, 3, 2, 1), x)
    check(lambda lib, x: lib.histc(x, 5), make_pair((2, 3), dtype, seed=22))
    const = pair_of([1.0, 1.0, 1.0], "float32")
    check(lambda lib, x: lib.histc(x, 4), const)
    check(lambda lib, x: lib.histc(x, 4), pair_of([], "float32"))


@pytest.mark.parametrize("dtype", ["float32", "int64", "float64", "int32"])
def test_searchsorted_bucketize(dtype):
    seq = pair_of([1, 3, 3, 5, 7, 9], dtype)
    vals = pair_of([[0, 3, 4], [9, 10, 5]], dtype)
    for right in (False, True):
        check(lambda lib, s, v: lib.searchsorted(s, v, right=right), seq, vals)
        check(lambda lib, s, v: lib.searchsorted(s, v, side="right" if right else "left", out_int32=True), seq, vals)
        check(lambda lib, s, v: lib.bucketize(v, s, right=right), seq, vals)
        check(lambda lib, s, v: lib.bucketize(v, s, out_int32=True, right=right), seq, vals)
        check(lambda lib, s: lib.searchsorted(s, 3, right=right), seq)
        check(lambda lib, s: lib.bucketize(4, s, right=right), seq)
    seq2 = pair_of([[1, 2, 3], [2, 4, 6]], dtype)
    v2 = pair_of([[2, 3], [1, 6]], dtype)
    check(lambda lib, s, v: lib.searchsorted(s, v), seq2, v2)
    check(lambda lib, s, v: lib.searchsorted(s, v, right=True), seq2, v2)
    check(lambda lib, s, v: lib.searchsorted(s, v), seq2, pair_of([[2, 3]], dtype))  # bad leading dims
    unsorted = pair_of([5, 1, 9, 3], dtype)
    sorter = pair_of([1, 3, 0, 2], "int64")
    check(lambda lib, s, v, so: lib.searchsorted(s, v, sorter=so), unsorted, vals, sorter)
    check(lambda lib, s, v, so: lib.searchsorted(s, v, side="right", sorter=so), unsorted, vals, sorter)
    check(lambda lib, s, v: lib.searchsorted(s, v, right=True, side="left"), seq, vals)
    check(lambda lib, s, v: lib.bucketize(v, s), seq2, vals)


def test_search_mixed_dtypes_and_scan_bool_dtype():
    check(lambda lib, s, v: lib.searchsorted(s, v), pair_of([1, 2, 3], "int64"), pair_of([1.5, 2.0, 7.0]))
    check(lambda lib, s, v: lib.searchsorted(s, v, right=True), pair_of([1.0, 2, 3]), pair_of([1, 3], "int64"))
    check(lambda lib, s, v: lib.bucketize(v, s), pair_of([1, 2, 3], "int32"), pair_of([2.5, 0.5]))
    check(lambda lib, s: lib.bucketize(2.5, s, right=True), pair_of([1, 2, 3], "int64"))
    b = pair_of([True, False, True], "bool")
    check(lambda lib, x: lib.cumsum(x, 0, dtype=DTYPES["bool"][0 if lib is ctorch else 1]), b)
    check(lambda lib, x: lib.sum(x, dtype=DTYPES["bool"][0 if lib is ctorch else 1]), b)


def test_searchsorted_nd_values_1d_seq():
    seq = pair_of([0.0, 1.0, 2.0])
    check(lambda lib, s, v: lib.searchsorted(s, v), seq, make_pair((2, 3, 2), "float32", seed=23))


@pytest.mark.parametrize("dtype", ["bool", "uint8", "float16", "bfloat16"])
def test_dtype_support_errors(dtype):
    x = make_pair((3, 4), dtype, low=0, high=1, seed=24)
    seq = make_pair((4,), dtype, low=0, high=0, seed=25)
    check(lambda lib, s, x: lib.searchsorted(s, x), seq, x)
    check(lambda lib, s, x: lib.bucketize(x, s), seq, x)
    # ties: torch leaves the index of tied elements unspecified for topk/kthvalue/median
    for f in [lambda lib, x: lib.argmax(x), lambda lib, x: lib.argmin(x, 1), lambda lib, x: lib.topk(x, 1).values,
              lambda lib, x: lib.kthvalue(x, 1).values, lambda lib, x: lib.median(x),
              lambda lib, x: lib.median(x, 0).values,
              lambda lib, x: lib.nanmedian(x), lambda lib, x: lib.logcumsumexp(x, 0), lambda lib, x: lib.histc(x),
              lambda lib, x: lib.prod(x), lambda lib, x: lib.amax(x, 0), lambda lib, x: lib.max(x, 1),
              lambda lib, x: lib.cummax(x, 0), lambda lib, x: lib.msort(x), lambda lib, x: lib.var(x),
              lambda lib, x: lib.linalg.vector_norm(x), lambda lib, x: lib.mode(x, 0)]:
        check(f, x)


def test_order_stats_ties_large():
    """kthvalue/median/topk on rows full of ties: values match torch, indices point at them."""
    rng = np.random.default_rng(26)
    for dtype in ("int64", "float32"):
        a = rng.integers(-5, 6, size=(7, 301)).astype(dtype)
        if dtype == "float32":
            a[3, 17] = np.nan
        c, t = ctorch.tensor(a), torch.tensor(a)
        for name, f in [("kth1", lambda L, x: L.kthvalue(x, 1, 1)), ("kth150", lambda L, x: L.kthvalue(x, 150, 1)),
                        ("kth301", lambda L, x: L.kthvalue(x, 301, 1)), ("median", lambda L, x: L.median(x, 1)),
                        ("nanmedian", lambda L, x: L.nanmedian(x, 1)), ("topk", lambda L, x: L.topk(x, 5, 1))]:
            rc, rt = f(ctorch, c), f(torch, t)
            np.testing.assert_array_equal(np.array(rc.values.tolist()), rt.values.numpy(), err_msg=name)
            idx = np.array(rc.indices.tolist())
            idx = idx if idx.ndim == 2 else idx[:, None]
            picked = np.take_along_axis(a, idx, 1)
            vals = np.array(rc.values.tolist()).reshape(picked.shape)
            np.testing.assert_array_equal(picked, vals, err_msg=name)


def test_float32_sum_many_short_rows_accuracy():
    rng = np.random.default_rng(27)
    a = (rng.random((200000, 3, 2)) + 1).astype(np.float32)
    c, t = ctorch.tensor(a), torch.tensor(a)
    exact = a.astype(np.float64).sum(axis=(0, 2))
    got = np.array(ctorch.sum(c, (0, 2)).tolist())
    assert np.max(np.abs(got - exact) / exact) < 1e-5  # (torch itself is off by ~1e-5 here)
    check(lambda lib, x: lib.sum(x, (0, 2)), (c, t), rtol=1e-4)


def test_tuple_out():
    x = make_pair((3, 4), "float32", seed=28)
    for name, f in [("max", lambda lib, x, o: lib.max(x, 1, out=o)), ("min", lambda lib, x, o: lib.min(x, 0, True, out=o)),
                    ("sort", lambda lib, x, o: lib.sort(x, 1, out=o)), ("topk", lambda lib, x, o: lib.topk(x, 2, out=o)),
                    ("kthvalue", lambda lib, x, o: lib.kthvalue(x, 2, 0, out=o)),
                    ("median", lambda lib, x, o: lib.median(x, 1, out=o)), ("mode", lambda lib, x, o: lib.mode(x, out=o)),
                    ("cummax", lambda lib, x, o: lib.cummax(x, 1, out=o)),
                    ("aminmax", lambda lib, x, o: lib.aminmax(x, dim=0, out=o))]:
        def g(lib, x, f=f):
            idt = lib.float32 if f is not None and "aminmax" in f.__code__.co_names else lib.int64
            o = (lib.empty(0), lib.empty(0, dtype=idt))
            r = f(lib, x, o)
            assert r[0] is o[0] and r[1] is o[1]
            return r
        check(g, x)
    c, _ = x
    with pytest.raises(TypeError):
        ctorch.max(c, 1, out=ctorch.empty(0))


def test_empty_dim_list_semantics():
    """dim=() means "all dims" for sum/mean/amax/var/norm but "no dims" for all/any."""
    for a in (make_pair((3, 4), "float32", seed=29), make_pair((), "float32", seed=29)):
        for f in [lambda lib, x: lib.sum(x, ()), lambda lib, x: lib.mean(x, [], True), lambda lib, x: lib.amax(x, (), True),
                  lambda lib, x: lib.var(x, dim=[], correction=0), lambda lib, x: lib.norm(x, 2, ()),
                  lambda lib, x: lib.linalg.vector_norm(x, 2, ()), lambda lib, x: lib.nansum(x, ()),
                  lambda lib, x: lib.count_nonzero(x, ()), lambda lib, x: lib.all(x, ()),
                  lambda lib, x: lib.any(x, [], True), lambda lib, x: lib.logsumexp(x, ()),
                  lambda lib, x: lib.logsumexp(x, (), True), lambda lib, x: lib.aminmax(x, keepdim=True)]:
            check(f, a)


# ------------------------------------------------------------------ sweep over edge shapes

SWEEP_SHAPES = [(2, 0, 3), (0,), (1, 3), (4, 1, 2)]
SWEEP_OPS = {
 "sum": lambda lib, x, d, k: lib.sum(x, d, k), "mean": lambda lib, x, d, k: lib.mean(x, d, k),
 "nanmean": lambda lib, x, d, k: lib.nanmean(x, d, k), "prod": lambda lib, x, d, k: lib.prod(x, d if isinstance(d, int) else 0, k),
 "amax": lambda lib, x, d, k: lib.amax(x, d, k), "max": lambda lib, x, d, k: lib.max(x, d, k) if isinstance(d, int) else lib.max(x),
 "argmin": lambda lib, x, d, k: lib.argmin(x, d if isinstance(d, int) else None, k), "var": lambda lib, x, d, k: lib.var(x, d, keepdim=k),
 "std_mean": lambda lib, x, d, k: lib.std_mean(x, d, keepdim=k, correction=0), "norm": lambda lib, x, d, k: lib.linalg.vector_norm(x, 3, d, k),
 "ninf": lambda lib, x, d, k: lib.linalg.vector_norm(x, float("-inf"), d, k), "lse": lambda lib, x, d, k: lib.logsumexp(x, d, k),
 "all": lambda lib, x, d, k: lib.all(x, d, k), "any": lambda lib, x, d, k: lib.any(x, d, k), "cnz": lambda lib, x, d, k: lib.count_nonzero(x, d),
 "cumsum": lambda lib, x, d, k: lib.cumsum(x, d) if isinstance(d, int) else lib.cumsum(x, 0), "cumprod": lambda lib, x, d, k: lib.cumprod(x, d if isinstance(d, int) else -1),
 "cummin": lambda lib, x, d, k: lib.cummin(x, d if isinstance(d, int) else -1), "lcse": lambda lib, x, d, k: lib.logcumsumexp(x, d if isinstance(d, int) else 0),
 "sort": lambda lib, x, d, k: lib.sort(x, d if isinstance(d, int) else -1, k, stable=True), "argsort": lambda lib, x, d, k: lib.argsort(x, dim=d if isinstance(d, int) else -1, descending=k, stable=True),
 "topk": lambda lib, x, d, k: lib.topk(x, 1, d if isinstance(d, int) else -1, k).values, "kth": lambda lib, x, d, k: lib.kthvalue(x, 1, d if isinstance(d, int) else -1, k).values,
 "median": lambda lib, x, d, k: lib.median(x, d, k).values if isinstance(d, int) else lib.median(x), "nanmedian": lambda lib, x, d, k: lib.nanmedian(x, d, k).values if isinstance(d, int) else lib.nanmedian(x),
 "mode": lambda lib, x, d, k: lib.mode(x, d if isinstance(d, int) else -1, k).values, "aminmax": lambda lib, x, d, k: lib.aminmax(x, dim=d if isinstance(d, int) else None, keepdim=k),
 "unique": lambda lib, x, d, k: lib.unique(x, dim=d if isinstance(d, int) else None, return_inverse=True, return_counts=True),
 "uc": lambda lib, x, d, k: lib.unique_consecutive(x, dim=d if isinstance(d, int) else None, return_inverse=True, return_counts=True),
 "msort": lambda lib, x, d, k: lib.msort(x), "nansum": lambda lib, x, d, k: lib.nansum(x, d, k, dtype=DTYPES["float64"][0 if lib is ctorch else 1]),
 "mnorm": lambda lib, x, d, k: lib.linalg.matrix_norm(x, 1, (0, -1), k), "mnormi": lambda lib, x, d, k: lib.linalg.matrix_norm(x, float("-inf"), (-1, 0), k),
}


@pytest.mark.parametrize("name", sorted(SWEEP_OPS))
def test_sweep_edge_shapes(name):
    """Every op over empty / size-1 shapes, several dtypes, dims and keepdim: same values,
    dtypes, shapes or exception classes as torch."""
    f = SWEEP_OPS[name]
    for shape in SWEEP_SHAPES:
        for dt in ["float32", "int32", "bool", "float16", "uint8"]:
            x = make_pair(shape, dt, seed=3)
            for d in [0, -1, 1, (0, -1), None]:
                if shape == (0,) and ((name == "amax" and d == (0, -1)) or (name == "cummin" and d == 1)):
                    continue  # torch quirks on empty 1-d input: error order / no dim check
                for k in (False, True):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        check(lambda lib, x: f(lib, x, d, k), x)


@pytest.mark.parametrize("dtype", ["float32", "int64", "float16"])
def test_noncontiguous_inputs(dtype):
    """Transposed inputs (make_pair(noncontig=True): a real non-contiguous view once a transpose
    op exists; the C test test_reduce.c covers permuted views directly)."""
    x = make_pair((4, 5, 3), dtype, noncontig=True, seed=30)
    fl = dtype != "int64"
    for d in (0, 1, 2, (0, 2)):
        check(lambda lib, x: lib.sum(x, d), x)
        check(lambda lib, x: lib.amax(x, d, True), x)
        check(lambda lib, x: lib.nansum(x, d), x)
        if fl:
            check(lambda lib, x: lib.mean(x, d), x)
            check(lambda lib, x: lib.var(x, d), x)
            check(lambda lib, x: lib.linalg.vector_norm(x, 3, d), x)
            check(lambda lib, x: lib.logsumexp(x, d), x)
        check(lambda lib, x: lib.all(x, d), x)
    for d in (0, 1, 2):
        check(lambda lib, x: lib.max(x, d), x)
        check(lambda lib, x: lib.argmin(x, d), x)
        check(lambda lib, x: lib.cumsum(x, d), x)
        check(lambda lib, x: lib.cummax(x, d), x)
        check(lambda lib, x: lib.sort(x, d, stable=True), x)
        check(lambda lib, x: lib.topk(x, 2, d).values, x)
        check(lambda lib, x: lib.median(x, d).values, x)
        check(lambda lib, x: lib.unique(x, dim=d), x)
    check(lambda lib, x: lib.unique(x, return_counts=True), x)
