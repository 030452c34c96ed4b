"""autograd.functional and gradcheck against torch."""
import pytest
import torch

import ctorch
from helpers import assert_same


def f1(lib):
    def f(x, y):
        return (x * y).exp() + x * x
    return f


def inputs(lib):
    x = lib.tensor([0.1, -0.4, 0.3], dtype=lib.float64)
    y = lib.tensor([0.5, 0.2, -0.7], dtype=lib.float64)
    return x, y


def test_vjp_jvp():
    v = [1.0, -2.0, 0.5]
    for name in ("vjp", "jvp"):
        c = getattr(ctorch.autograd.functional, name)(f1(ctorch), inputs(ctorch), ctorch.tensor(v, dtype=ctorch.float64)
                                                      if name == "vjp" else tuple(ctorch.tensor(v, dtype=ctorch.float64)
                                                                                  for _ in range(2)))
        t = getattr(torch.autograd.functional, name)(f1(torch), inputs(torch), torch.tensor(v, dtype=torch.float64)
                                                     if name == "vjp" else tuple(torch.tensor(v, dtype=torch.float64)
                                                                                 for _ in range(2)))
        assert_same(c[0], t[0])
        assert_same(c[1], t[1])


def test_jacobian_and_hessian():
    c = ctorch.autograd.functional.jacobian(f1(ctorch), inputs(ctorch))
    t = torch.autograd.functional.jacobian(f1(torch), inputs(torch))
    assert_same(c, t)

    def scalar(lib):
        return lambda x: (x * x * x).exp().sum() if hasattr(x, "sum") else None
    c = ctorch.autograd.functional.hessian(scalar(ctorch), inputs(ctorch)[0])
    t = torch.autograd.functional.hessian(scalar(torch), inputs(torch)[0])
    assert_same(c, t)


def test_hvp_vhp():
    def scalar(lib):
        return lambda x: (x * x * x).exp().sum()
    v = [1.0, 0.5, -1.0]
    for name in ("hvp", "vhp"):
        c = getattr(ctorch.autograd.functional, name)(scalar(ctorch), inputs(ctorch)[0],
                                                      ctorch.tensor(v, dtype=ctorch.float64))
        t = getattr(torch.autograd.functional, name)(scalar(torch), inputs(torch)[0],
                                                     torch.tensor(v, dtype=torch.float64))
        assert_same(c[0], t[0])
        assert_same(c[1], t[1])


def test_gradcheck_detects_wrong_backward():
    x = ctorch.tensor([0.3, -0.2], dtype=ctorch.float64, requires_grad=True)
    assert ctorch.autograd.gradcheck(lambda a: (a * a).exp(), (x,))
    assert ctorch.autograd.gradgradcheck(lambda a: a * a * a, (x,))

    class Wrong(ctorch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * a

        @staticmethod
        def backward(ctx, g):
            return g * 3
    with pytest.raises(ctorch.autograd.GradcheckError):
        ctorch.autograd.gradcheck(Wrong.apply, (x,))
    assert ctorch.autograd.gradcheck(Wrong.apply, (x,), raise_exception=False) is False
