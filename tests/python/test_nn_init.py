"""nn.init vs torch: with the same seed the values equal torch's (the random ops follow torch's
stream), gains and fans, errors, no_grad behaviour."""
import math
import warnings

import numpy as np
import pytest
import torch

import ctorch


def arr(t):
    return np.array(t.tolist()) if isinstance(t, ctorch.Tensor) else t.detach().numpy()


def run_both(fn, shape, dtype="float32", seed=0, **kw):
    ct = ctorch.empty(shape, dtype=getattr(ctorch, dtype), requires_grad=True)
    tt = torch.empty(shape, dtype=getattr(torch, dtype), requires_grad=True)
    ctorch.manual_seed(seed)
    rc = getattr(ctorch.nn.init, fn)(ct, **kw)
    torch.manual_seed(seed)
    rt = getattr(torch.nn.init, fn)(tt, **kw)
    assert rc is ct and rt is tt
    assert ct.requires_grad and ct.grad_fn is None and ct.is_leaf
    return arr(ct), arr(tt)


EXACT = [
    ("uniform_", (3, 4), dict(a=-2.0, b=5.0)),
    ("normal_", (5, 3), dict(mean=1.0, std=0.5)),
    ("constant_", (2, 3), dict(val=1.25)),
    ("ones_", (2, 3), {}),
    ("zeros_", (2, 3), {}),
    ("eye_", (3, 5), {}),
    ("dirac_", (4, 2, 3), {}),
    ("dirac_", (6, 2, 3, 3), dict(groups=2)),
    ("dirac_", (2, 3, 3, 2, 3), {}),
    ("xavier_uniform_", (7, 5), dict(gain=2.0)),
    ("xavier_normal_", (4, 3, 2, 2), {}),
    ("kaiming_uniform_", (6, 4, 3), dict(a=math.sqrt(5))),
    ("kaiming_uniform_", (6, 4), dict(mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal_", (8, 4, 3, 3), {}),
    ("kaiming_normal_", (8, 4), dict(a=0.2, mode="fan_out", nonlinearity="leaky_relu")),
    ("sparse_", (10, 4), dict(sparsity=0.3)),
]


@pytest.mark.parametrize("fn,shape,kw", EXACT)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_init_exact(fn, shape, kw, dtype):
    c, t = run_both(fn, shape, dtype, **kw)
    np.testing.assert_array_equal(c, t)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.5, 2.0, -1.0, 3.0), (0.0, 1.0, 1.0, 3.0),
                                          (0.0, 0.02, -0.04, 0.04), (3.0, 1.0, -1.0, 0.5)])
def test_trunc_normal(dtype, mean, std, a, b):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c, t = run_both("trunc_normal_", (50, 40), dtype, mean=mean, std=std, a=a, b=b)
    np.testing.assert_array_equal(c, t)
    assert c.min() >= a and c.max() <= b


@pytest.mark.parametrize("shape", [(6, 4), (3, 8), (4, 2, 3)])
def test_orthogonal(shape):
    c, t = run_both("orthogonal_", shape, "float64", gain=1.5)
    np.testing.assert_allclose(c, t, rtol=1e-10, atol=1e-10)


def test_generator_argument():
    cg = ctorch.Generator().manual_seed(7)
    tg = torch.Generator().manual_seed(7)
    c = ctorch.nn.init.kaiming_uniform_(ctorch.empty((4, 5)), generator=cg)
    t = torch.nn.init.kaiming_uniform_(torch.empty(4, 5), generator=tg)
    np.testing.assert_array_equal(arr(c), arr(t))


def test_gain_and_fans():
    for nl, p in [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                  ("leaky_relu", None), ("leaky_relu", 0.3), ("leaky_relu", 2), ("selu", None)]:
        assert ctorch.nn.init.calculate_gain(nl, p) == torch.nn.init.calculate_gain(nl, p)
    for nl, p in [("foo", None), ("leaky_relu", "x"), ("leaky_relu", True)]:
        with pytest.raises(ValueError):
            torch.nn.init.calculate_gain(nl, p)
        with pytest.raises(ValueError):
            ctorch.nn.init.calculate_gain(nl, p)
    for shape in [(3, 4), (5, 2, 3, 3), (2, 7, 4)]:
        assert ctorch.nn.init._calculate_fan_in_and_fan_out(ctorch.empty(shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    for lib in (torch, ctorch):
        with pytest.raises(ValueError):
            lib.nn.init._calculate_fan_in_and_fan_out(lib.empty((3,)))
        with pytest.raises(ValueError):
            lib.nn.init.kaiming_uniform_(lib.empty((3, 4)), mode="fan_avg")
        with pytest.raises(ValueError):
            lib.nn.init.eye_(lib.empty((3, 4, 5)))
        with pytest.raises(ValueError):
            lib.nn.init.dirac_(lib.empty((3, 4)))
        with pytest.raises(ValueError):
            lib.nn.init.dirac_(lib.empty((3, 4, 3)), groups=2)
        with pytest.raises(ValueError):
            lib.nn.init.orthogonal_(lib.empty((3,)))
        with pytest.raises(ValueError):
            lib.nn.init.sparse_(lib.empty((3, 4, 5)), 0.1)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            lib.nn.init.kaiming_uniform_(lib.empty((0, 3)))
        assert any("zero-element" in str(x.message) for x in w)


@pytest.mark.parametrize("make", [
    lambda nn: nn.Linear(7, 5),
    lambda nn: nn.Linear(3, 2, bias=False),
    lambda nn: nn.Conv1d(3, 4, 5),
    lambda nn: nn.Conv2d(4, 8, 3, groups=2),
    lambda nn: nn.Conv3d(2, 3, (1, 2, 3)),
    lambda nn: nn.ConvTranspose2d(4, 6, 3, groups=2),
    lambda nn: nn.Bilinear(3, 4, 5),
    lambda nn: nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2)),
])
def test_module_default_init_matches_torch(make):
    torch.manual_seed(0)
    tm = make(torch.nn)
    ctorch.manual_seed(0)
    cm = make(ctorch.nn)
    tsd, csd = tm.state_dict(), cm.state_dict()
    assert list(tsd) == list(csd)
    for k in tsd:
        np.testing.assert_array_equal(arr(csd[k]), arr(tsd[k]), err_msg=k)
    # the generator is left in the same state
    np.testing.assert_array_equal(arr(ctorch.rand(3)), arr(torch.rand(3)))
