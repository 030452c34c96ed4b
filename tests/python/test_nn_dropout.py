"""Dropout family vs torch: with the same seed the masks (hence values and gradients) equal
torch's, since both draw bernoulli_(1 - p) on a tensor of the input's (or (N, C, 1...)) shape;
train vs eval, in-place, modules, bad inputs."""
import warnings

import numpy as np
import pytest
import torch

import ctorch
from helpers import assert_same, check

VARIANTS = [("dropout", {}), ("alpha_dropout", dict(training=True)), ("feature_alpha_dropout", dict(training=True)),
            ("dropout1d", {}), ("dropout2d", {}), ("dropout3d", {})]
SHAPES = [(4, 6, 5), (3, 4, 5, 3), (2, 3, 4, 5, 6), (6, 5), (2, 3, 0)]


def _both(fn, shape, dtype="float64", seed=3, grad=False):
    a = np.random.default_rng(seed).uniform(-2, 2, size=shape)
    res = {}
    for lib in (ctorch, torch):
        lib.manual_seed(seed)
        x = lib.tensor(a, dtype=getattr(lib, dtype), requires_grad=grad)
        try:
            y = fn(lib, x)
        except Exception as e:  # noqa: BLE001
            res[lib] = e
            continue
        g = None
        if grad and y.requires_grad:
            ga = np.random.default_rng(seed + 1).uniform(-1, 1, size=tuple(y.shape))
            (g,) = lib.autograd.grad(y, x, lib.tensor(ga, dtype=getattr(lib, dtype)))
        res[lib] = (x, y, g, lib.rand(3))  # the generator advanced the same way
    return res[ctorch], res[torch]


@pytest.mark.parametrize("name,kw", VARIANTS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("p", [0.3, 0.0, 1.0, 0.75])
def test_dropout_masks_equal_torch(name, kw, shape, p):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c, t = _both(lambda lib, x: getattr(lib.nn.functional, name)(x, p, **kw), shape)
    if isinstance(t, Exception):
        assert isinstance(c, type(t)), (c, t)
        return
    assert c[1].tolist() == t[1].tolist()  # exactly the same values: same mask, same scaling
    assert c[3].tolist() == t[3].tolist()


@pytest.mark.parametrize("name,kw", VARIANTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_grad(name, kw, dtype):
    shp = (3, 4, 5, 3) if name != "dropout1d" else (3, 4, 5)
    c, t = _both(lambda lib, x: getattr(lib.nn.functional, name)(x, 0.4, **kw), shp, dtype, grad=True)
    assert c[1].tolist() == t[1].tolist()
    assert_same(c[2], t[2], 0, 0)


def test_eval_identity_and_inplace():
    for name, _ in VARIANTS:
        for shp in [(2, 3, 4), (2, 3, 4, 5)]:
            same = {}
            for lib in (ctorch, torch):
                x = lib.ones(*shp)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        y = getattr(lib.nn.functional, name)(x, 0.5, training=False)
                    except RuntimeError:
                        same[lib] = "error"
                        continue
                same[lib] = (y is x, y.tolist() == x.tolist())
            assert same[ctorch] == same[torch]
    for name, kw in [("dropout", {}), ("dropout2d", {}), ("dropout3d", {}), ("alpha_dropout", dict(training=True)),
                     ("dropout1d", {})]:
        outs = {}
        for lib in (ctorch, torch):
            lib.manual_seed(5)
            x = lib.ones(3, 4, 5) * 1.5 if name == "dropout1d" else lib.ones(2, 3, 4, 5) * 1.5
            y = getattr(lib.nn.functional, name)(x, 0.5, inplace=True, **kw)
            outs[lib] = (y is x, x.tolist())
        assert outs[ctorch] == outs[torch]


def test_dropout_errors():
    x = (ctorch.ones(2, 3, 4), torch.ones(2, 3, 4))
    for fn in [lambda lib, x: lib.nn.functional.dropout(x, 1.5), lambda lib, x: lib.nn.functional.dropout(x, -0.1),
               lambda lib, x: lib.nn.functional.alpha_dropout(x, 2.0),
               lambda lib, x: lib.nn.functional.dropout1d(x.reshape(2, 3, 2, 2)),
               lambda lib, x: lib.nn.functional.feature_alpha_dropout(x.reshape(24), 0.5, True)]:
        check(fn, x)
    for lib in (ctorch, torch):
        with pytest.raises(ValueError):
            lib.nn.Dropout(1.2)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ctorch.nn.functional.dropout2d(ctorch.ones(2, 3, 4))
        assert any("dropout2d" in str(m.message) for m in w)


MODULES = ["Dropout()", "Dropout(0.2, True)", "Dropout1d(0.3)", "Dropout2d(p=0.1)", "Dropout3d(0.4, inplace=True)",
           "AlphaDropout(0.2)", "FeatureAlphaDropout(0.6)"]


@pytest.mark.parametrize("m", MODULES)
def test_dropout_modules(m):
    assert repr(eval("ctorch.nn." + m)) == repr(eval("torch.nn." + m))
    shp = (2, 3, 4) if "1d" in m else (2, 3, 4, 5) if "3d" not in m else (2, 3, 2, 4, 5)
    outs = {}
    for lib in (ctorch, torch):
        mod = eval("lib.nn." + m)
        lib.manual_seed(11)
        x = lib.ones(*shp, dtype=lib.float64) * 2
        y_train = mod(x.clone()).tolist()
        mod.eval()
        x2 = lib.ones(*shp, dtype=lib.float64)
        y_eval = mod(x2)
        outs[lib] = (y_train, y_eval.tolist(), y_eval is x2)
    assert outs[ctorch] == outs[torch]
