"""Tensor printing (__repr__/__str__/__format__) and print options, compared with torch's
exact strings."""
import math

import numpy as np
import pytest
import torch

import ctorch
from helpers import DTYPES, ALL_DTYPES

DEFAULTS = dict(precision=4, threshold=1000, edgeitems=3, linewidth=80, sci_mode=None)


@pytest.fixture(autouse=True)
def _restore_printoptions():
    yield
    torch.set_printoptions(profile="default", sci_mode=None)
    ctorch.set_printoptions(profile="default", sci_mode=None)
    torch.set_default_dtype(torch.float32)
    ctorch.set_default_dtype(ctorch.float32)


def pair_from_numpy(arr, dtype):
    """The same values as a (ctorch, torch) pair of the given dtype name."""
    tt = torch.from_numpy(np.array(arr, order="C")).to(DTYPES[dtype][1])
    src = tt.double().numpy() if dtype in ("float16", "bfloat16") else tt.numpy()
    ct = ctorch.tensor(src, dtype=DTYPES[dtype][0])
    return ct, tt


def values(kind, shape, rng):
    n = int(np.prod(shape)) if shape else 1
    if kind == "fixed":
        a = rng.uniform(-3, 3, n)
    elif kind == "intlike":
        a = rng.integers(-50, 50, n).astype(np.float64)
    elif kind == "bigint":
        a = rng.integers(-10**6, 10**6, n).astype(np.float64) * 1000
    elif kind == "wide":
        a = rng.uniform(-1, 1, n) * 10.0 ** rng.integers(-6, 6, n)
    elif kind == "tiny":
        a = rng.uniform(1e-7, 5e-5, n)
    elif kind == "huge":
        a = rng.uniform(1e8, 5e9, n)
    elif kind == "special":
        a = rng.uniform(-3, 3, n)
        pool = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0])
        idx = rng.integers(0, max(n, 1), max(1, n // 3)) if n else np.zeros(0, dtype=int)
        a[idx] = rng.choice(pool, idx.size)
    elif kind == "ints":
        a = rng.integers(-1000, 1000, n)
    elif kind == "small_ints":
        a = rng.integers(0, 10, n)
    elif kind == "bool":
        a = rng.integers(0, 2, n).astype(bool)
    return a.reshape(shape)


SHAPES = [(), (0,), (1,), (5,), (0, 3), (2, 0, 3), (3, 4), (2, 3, 4), (2, 2, 3, 2), (30,), (100,), (7, 25)]
FLOAT_KINDS = ["fixed", "intlike", "bigint", "wide", "tiny", "huge", "special"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", FLOAT_KINDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_repr_float_modes(shape, kind, dtype):
    rng = np.random.default_rng(hash((shape, kind)) % 2**32)
    c, t = pair_from_numpy(values(kind, shape, rng), dtype)
    assert repr(c) == repr(t)
    assert str(c) == str(t)


@pytest.mark.parametrize("shape", [(), (4,), (3, 5), (2, 3, 4), (40,)])
@pytest.mark.parametrize("kind", ["fixed", "intlike", "wide", "special", "tiny"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_repr_half(shape, kind, dtype):
    rng = np.random.default_rng(7)
    c, t = pair_from_numpy(values(kind, shape, rng), dtype)
    assert repr(c) == repr(t)


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (6,), (3, 4), (2, 3, 2), (0, 2), (50,)])
def test_repr_every_dtype(dtype, shape):
    rng = np.random.default_rng(3)
    kind = "bool" if dtype == "bool" else ("small_ints" if dtype in ("uint8",) else "ints" if "int" in dtype
                                           else "fixed")
    c, t = pair_from_numpy(values(kind, shape, rng), dtype)
    assert repr(c) == repr(t)


@pytest.mark.parametrize("shape", [(1001,), (2000,), (40, 40), (11, 12, 13), (5, 6, 7, 8), (3, 400), (400, 3)])
@pytest.mark.parametrize("kind", ["fixed", "ints", "wide", "special"])
def test_repr_summarized(shape, kind):
    rng = np.random.default_rng(11)
    dtype = "int64" if kind == "ints" else "float32"
    c, t = pair_from_numpy(values(kind, shape, rng), dtype)
    assert repr(c) == repr(t)


def test_repr_summary_uses_edge_values_only():
    a = np.zeros(2000)
    a[1000] = 1e-9  # hidden by summarization: must not switch to sci mode
    a[:3] = [1.5, 2.5, 3.5]
    c, t = pair_from_numpy(a, "float32")
    assert repr(c) == repr(t)


OPTION_SETS = [
    dict(precision=2), dict(precision=8), dict(precision=0), dict(threshold=5), dict(threshold=5, edgeitems=1),
    dict(threshold=5, edgeitems=0), dict(edgeitems=0), dict(linewidth=40), dict(linewidth=200), dict(linewidth=5),
    dict(sci_mode=True), dict(sci_mode=False), dict(profile="short"), dict(profile="full"),
    dict(profile="short", precision=6), dict(threshold=10, edgeitems=2, linewidth=30, precision=3),
]


@pytest.mark.parametrize("opts", OPTION_SETS, ids=[str(o) for o in OPTION_SETS])
@pytest.mark.parametrize("shape", [(), (7,), (4, 5), (3, 4, 5), (2, 3, 2, 3), (1200,)])
@pytest.mark.parametrize("kind", ["fixed", "wide", "intlike", "ints", "special"])
def test_repr_printoptions(opts, shape, kind):
    torch.set_printoptions(**opts)
    ctorch.set_printoptions(**opts)
    rng = np.random.default_rng(5)
    dtype = "int32" if kind == "ints" else "float64"
    c, t = pair_from_numpy(values(kind, shape, rng), dtype)
    assert repr(c) == repr(t)


def test_get_printoptions_roundtrip():
    assert ctorch.get_printoptions() == DEFAULTS
    ctorch.set_printoptions(precision=2, threshold=10, edgeitems=1, linewidth=60, sci_mode=True)
    torch.set_printoptions(precision=2, threshold=10, edgeitems=1, linewidth=60, sci_mode=True)
    assert ctorch.get_printoptions() == torch._tensor_str.get_printoptions()
    ctorch.set_printoptions(profile="full")
    torch.set_printoptions(profile="full")
    got = ctorch.get_printoptions()
    assert got == torch._tensor_str.get_printoptions() and math.isinf(got["threshold"])
    ctorch.set_printoptions(profile="default")
    assert ctorch.get_printoptions() == DEFAULTS
    # sci_mode is reset by every call, as in torch
    ctorch.set_printoptions(sci_mode=True)
    ctorch.set_printoptions(precision=4)
    assert ctorch.get_printoptions()["sci_mode"] is None


def test_set_printoptions_bad_input():
    with pytest.raises(TypeError):
        ctorch.set_printoptions(precision="x")
    with pytest.raises(TypeError):
        ctorch.set_printoptions(1, 2, 3, 4, None, None, 7)
    assert ctorch.get_printoptions() == DEFAULTS


def test_repr_special_scalars():
    for v in [float("nan"), float("inf"), -float("inf"), -0.0, 0.0, 1e-5, 123456789.0, 1.5, 3.0, -2.0, 1e20]:
        for d in ["float32", "float64", "float16", "bfloat16"]:
            c, t = pair_from_numpy(np.array(v), d)
            assert repr(c) == repr(t), (v, d)
    c, t = pair_from_numpy(np.array([-0.0, 0.0, -0.0]), "float32")
    assert repr(c) == repr(t)
    c, t = pair_from_numpy(np.array([np.nan, np.nan]), "float32")
    assert repr(c) == repr(t)
    c, t = pair_from_numpy(np.array([-np.nan, 1.0]), "float64")
    assert repr(c) == repr(t)


def test_repr_requires_grad_and_suffix_wrapping():
    for lib in (ctorch, torch):
        lib.set_printoptions(linewidth=80)
    c = ctorch.ones(3, requires_grad=True)
    t = torch.ones(3, requires_grad=True)
    assert repr(c) == repr(t)
    c = ctorch.ones(2, dtype=ctorch.float64, requires_grad=True)
    t = torch.ones(2, dtype=torch.float64, requires_grad=True)
    assert repr(c) == repr(t)
    # long last line: suffixes go to their own lines
    rng = np.random.default_rng(1)
    c, t = pair_from_numpy(rng.uniform(-1, 1, 9), "float64")
    c.requires_grad_(True)
    t.requires_grad_(True)
    assert repr(c) == repr(t)
    c, t = pair_from_numpy(np.zeros((0, 3)), "float64")
    c.requires_grad_(True)
    t.requires_grad_(True)
    assert repr(c) == repr(t)


def test_repr_default_dtype_float64():
    torch.set_default_dtype(torch.float64)
    ctorch.set_default_dtype(ctorch.float64)
    for d in ["float32", "float64", "int64", "bool", "float16"]:
        for shape in [(3,), (0,), (0, 2)]:
            c, t = pair_from_numpy(np.ones(shape), d)
            assert repr(c) == repr(t)


def test_repr_noncontiguous():
    rng = np.random.default_rng(2)
    base = rng.uniform(-5, 5, (4, 6))
    t = torch.from_numpy(base.copy()).T
    c = ctorch.from_numpy(base.copy().T.copy().T)  # positive strides, transposed layout
    assert not c.is_contiguous()
    assert repr(c) == repr(torch.from_numpy(base.copy().T.copy().T))
    assert repr(ctorch.from_numpy(base[::2, 1::2])) == repr(torch.from_numpy(base[::2, 1::2]))
    assert t.shape == (6, 4)


def test_repr_subclass_prefix():
    class MyT(ctorch.Tensor):
        pass

    class MyTT(torch.Tensor):
        pass

    c = ctorch.Tensor._make_subclass(MyT, ctorch.ones(2))
    t = torch.Tensor._make_subclass(MyTT, torch.ones(2))
    assert repr(c).replace("MyT(", "X(") == repr(t).replace("MyTT(", "X(")

    class Custom(ctorch.Tensor):
        def __repr__(self):
            return "custom"

    class CustomT(torch.Tensor):
        def __repr__(self):
            return "custom"

    c = ctorch.Tensor._make_subclass(Custom, ctorch.ones(2))
    t = torch.Tensor._make_subclass(CustomT, torch.ones(2))
    assert str(c) == str(t) == "custom" and f"{c}" == f"{t}"


def test_format():
    for v, d in [(2.5, "float32"), (3, "int64"), (True, "bool"), (-1.25, "float64")]:
        c, t = pair_from_numpy(np.array(v), d)
        for spec in ["", ".2f", "8.3e", ">10", "d" if d in ("int64", "bool") else "g"]:
            assert format(c, spec) == format(t, spec)
            assert f"{c:{spec}}" == f"{t:{spec}}"
    c, t = pair_from_numpy(np.ones(2), "float32")
    assert format(c, "") == format(t, "")
    with pytest.raises(TypeError):
        format(c, ".2f")
    with pytest.raises(TypeError):
        format(t, ".2f")
    c = ctorch.ones((), requires_grad=True)
    assert format(c, ".1f") == "1.0"


def test_dtype_repr():
    for name, (cd, td) in DTYPES.items():
        assert repr(cd) == repr(td)
        assert str(cd) == str(td)


def test_repr_extreme_precision():
    for p in [-1, 20, 400, 10**10]:
        for v in [[1.5], [1.0], [float("nan")], [1e-9, 1.0], [1e300]]:
            torch.set_printoptions(precision=p)
            ctorch.set_printoptions(precision=p)
            c, t = pair_from_numpy(np.array(v), "float64")
            try:
                expected = repr(t)
            except ValueError:
                with pytest.raises(ValueError):
                    repr(c)
                continue
            assert repr(c) == expected
