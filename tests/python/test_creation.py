"""Creation ops vs torch 2.13: zeros/ones/full/empty kwargs, arange/range, linspace/logspace,
eye, empty_strided, tril/triu_indices.

Values are compared exactly, except long float32 logspace (torch's rounding of some elements
is not reproduced; compared with rtol 1e-6). arange of more than 32768 floats may differ
in the last bit (torch splits it across threads, changing the vector grouping)."""
import warnings

import pytest
import torch

import ctorch
from helpers import DTYPES, check

ALL = list(DTYPES)


def exact(fn, *args):
    check(fn, *args, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", ALL)
def test_zeros_ones_full_empty_dtypes(dtype):
    exact(lambda l: l.zeros(2, 3, dtype=getattr(l, dtype)))
    exact(lambda l: l.ones((4,), dtype=getattr(l, dtype)))
    exact(lambda l: l.full((2, 2), 1, dtype=getattr(l, dtype)))
    exact(lambda l: l.empty(0, 3, dtype=getattr(l, dtype)))
    exact(lambda l: l.zeros((), dtype=getattr(l, dtype)))


def test_factory_kwargs():
    exact(lambda l: l.zeros(2, dtype=l.float64, device="cpu"))
    exact(lambda l: l.ones(size=(2, 3)))
    exact(lambda l: l.full(size=(2,), fill_value=2.5))
    for lib in (ctorch, torch):
        assert lib.zeros(2, requires_grad=True).requires_grad
        assert lib.ones(2, dtype=lib.float64, requires_grad=True).requires_grad
        assert lib.full((2,), 1.0, requires_grad=True).requires_grad
        assert lib.empty(2, pin_memory=False).shape == (2,)
        assert not lib.zeros(2).requires_grad


def test_full_dtype_inference():
    exact(lambda l: l.full((2,), True))
    exact(lambda l: l.full((2,), 3))
    exact(lambda l: l.full((2,), 3.5))
    exact(lambda l: l.full((2,), 3.5, dtype=l.int32))
    exact(lambda l: l.full((2, 0), 7))


def test_complex_not_supported():
    with pytest.raises(TypeError):
        ctorch.full((2,), 1 + 2j)
    assert not hasattr(ctorch, "complex64")


def test_negative_sizes():
    for fn in [lambda l: l.zeros(-1), lambda l: l.ones(2, -3), lambda l: l.full((-1,), 1.0), lambda l: l.empty(-2)]:
        exact(fn)


@pytest.mark.parametrize("args", [(5,), (0,), (1, 10), (10, 1, -3), (-4, 7, 2), (0, 2.5, 0.5), (0, 1, 0.1),
                                  (0.5, 4), (3.0,), (True,), (-2, -10, -1.5)])
def test_arange(args):
    exact(lambda l: l.arange(*args))


@pytest.mark.parametrize("dtype", ALL[1:])
def test_arange_dtype(dtype):
    exact(lambda l: l.arange(0, 10, 2, dtype=getattr(l, dtype)))
    exact(lambda l: l.arange(1, 5.5, 0.5, dtype=getattr(l, dtype)))


def test_arange_inexact_float_steps():
    # bit-exact thanks to reproducing torch's vector/tail rounding (NOTE [ arange rounding ])
    for args in [(-3.5, 7.25, 0.37), (0, 100, 0.1), (1, 2, 0.013), (-1e3, 5e3, 3.3), (0.1, 3000.7, 0.77)]:
        exact(lambda l: l.arange(*args))
        exact(lambda l: l.arange(*args, dtype=l.float64))
    exact(lambda l: l.arange(0, 7.5, 0.3, dtype=l.float16))


def test_arange_kwargs_and_out():
    exact(lambda l: l.arange(start=1, end=4))
    exact(lambda l: l.arange(end=4, dtype=l.float64))
    exact(lambda l: l.arange(5, out=l.empty(5, dtype=l.int64)))
    for lib in (ctorch, torch):
        assert lib.arange(3.0, requires_grad=True).requires_grad


@pytest.mark.parametrize("fn", [
    lambda l: l.arange(0, 10, 0),
    lambda l: l.arange(10, 0, 1),
    lambda l: l.arange(0, -5),
    lambda l: l.arange(0, float("inf")),
    lambda l: l.arange(0, 2.5, 0.5, dtype=l.int64),
    lambda l: l.range(5, 0, 1),
])
def test_arange_bad(fn):
    exact(fn)


def test_range_warns():
    for lib in (ctorch, torch):
        with pytest.warns(UserWarning, match="deprecated"):
            lib.range(0, 2)


def test_range():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact(lambda l: l.range(0, 3))
        exact(lambda l: l.range(1, 4, 0.5))
        exact(lambda l: l.range(1, 4, dtype=l.int64))
        exact(lambda l: l.range(5, 0, -2))


@pytest.mark.parametrize("args", [(0, 1, 100), (-3, 7, 37), (2, 10, 1), (2, 10, 0), (5, -5, 11), (0, 1, 2)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linspace(args, dtype):
    exact(lambda l: l.linspace(*args, dtype=getattr(l, dtype)))


def test_linspace_other_dtypes():
    for dt in ["int64", "int32", "int16", "int8", "uint8", "float16", "bfloat16"]:
        exact(lambda l: l.linspace(-54, 23, 226, dtype=getattr(l, dt)))
        exact(lambda l: l.linspace(-7.7, 3.4, 57, dtype=getattr(l, dt)))


def test_linspace_int_and_default():
    exact(lambda l: l.linspace(0, 10, 5, dtype=l.int64))
    exact(lambda l: l.linspace(-7, 10, 9, dtype=l.int32))
    exact(lambda l: l.linspace(0, 10, 5))
    exact(lambda l: l.linspace(start=0, end=1, steps=3))
    exact(lambda l: l.linspace(0, 1, -1))


@pytest.mark.parametrize("args", [(0, 2, 5), (-1, 3, 17), (0, 1, 1), (1, 0, 4)])
def test_logspace_exact_small(args):
    exact(lambda l: l.logspace(*args))
    exact(lambda l: l.logspace(*args, base=2))
    exact(lambda l: l.logspace(*args, dtype=l.float64))
    exact(lambda l: l.logspace(0, 1, -2))


def test_logspace_long():
    # torch rounds some float32 elements of long logspaces differently (last bit): compared closely;
    # float64 is exact
    for args in [(0.913, -1.5347, 923), (-3.2, 2.09, 122)]:
        check(lambda l: l.logspace(*args), rtol=1e-6, atol=0)
        exact(lambda l: l.logspace(*args, dtype=l.float64))


@pytest.mark.parametrize("dtype", ALL)
def test_eye(dtype):
    exact(lambda l: l.eye(3, dtype=getattr(l, dtype)))
    exact(lambda l: l.eye(2, 4, dtype=getattr(l, dtype)))
    exact(lambda l: l.eye(4, 2, dtype=getattr(l, dtype)))


def test_eye_edge_and_bad():
    exact(lambda l: l.eye(0))
    exact(lambda l: l.eye(3, 0))
    exact(lambda l: l.eye(-1))
    exact(lambda l: l.eye(2, -1))
    exact(lambda l: l.eye(3, out=l.empty(3, 3)))


def test_empty_strided():
    for lib in (ctorch, torch):
        t = lib.empty_strided((2, 3), (1, 2))
        assert tuple(t.shape) == (2, 3) and tuple(t.stride()) == (1, 2)
        assert not t.is_contiguous()
        z = lib.empty_strided((2, 0), (1, 1), dtype=lib.int64)
        assert tuple(z.shape) == (2, 0) and z.dtype == lib.int64
    exact(lambda l: l.empty_strided((2, 3), (1, 2)).fill_(1.5))
    exact(lambda l: l.empty_strided((2, 3), (-1, 2)))
    exact(lambda l: l.empty_strided((2, 3), (1,)))


@pytest.mark.parametrize("args", [(3, 4), (4, 3, -1), (3, 3, 1), (5, 3, -2), (0, 3), (3, 4, 10), (3, 4, -10)])
def test_tri_indices(args):
    exact(lambda l: l.tril_indices(*args))
    exact(lambda l: l.triu_indices(*args))
    exact(lambda l: l.tril_indices(*args, dtype=l.int32))


def test_tri_indices_bad():
    exact(lambda l: l.tril_indices(-1, 3))
    exact(lambda l: l.triu_indices(3, -1))
    exact(lambda l: l.tril_indices(3, 3, dtype=l.float32))
