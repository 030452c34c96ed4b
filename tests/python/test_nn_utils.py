"""nn.utils against torch: gradient clipping, parameter/vector conversion, parametrize."""
import math

import numpy as np
import pytest
import torch

import ctorch
from helpers import assert_same


def params_with_grads(lib, seed=0):
    rng = np.random.default_rng(seed)
    ps = []
    for shape in ((3,), (2, 4), (5, 1)):
        p = lib.nn.Parameter(lib.tensor(rng.standard_normal(shape), dtype=lib.float32))
        p.grad = lib.tensor(rng.standard_normal(shape) * 3, dtype=lib.float32)
        ps.append(p)
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 0.5, 3.0])
@pytest.mark.parametrize("max_norm", [0.1, 100.0])
def test_clip_grad_norm(norm_type, max_norm):
    cps, tps = params_with_grads(ctorch), params_with_grads(torch)
    cn = ctorch.nn.utils.clip_grad_norm_(cps, max_norm, norm_type=norm_type)
    tn = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type=norm_type)
    assert_same(cn, tn, rtol=1e-5, atol=1e-6)
    for c, t in zip(cps, tps):
        assert_same(c.grad, t.grad, rtol=1e-5, atol=1e-6)


def test_clip_grad_norm_nonfinite_and_empty():
    for lib in (ctorch, torch):
        ps = params_with_grads(lib)
        ps[0].grad[0] = float("inf")
        with pytest.raises(RuntimeError):
            lib.nn.utils.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
        p = lib.nn.Parameter(lib.ones(2))
        assert float(lib.nn.utils.clip_grad_norm_([p], 1.0)) == 0.0


def test_clip_grad_value():
    cps, tps = params_with_grads(ctorch), params_with_grads(torch)
    ctorch.nn.utils.clip_grad_value_(cps, 0.5)
    torch.nn.utils.clip_grad_value_(tps, 0.5)
    for c, t in zip(cps, tps):
        assert_same(c.grad, t.grad)


def test_parameters_vector_round_trip():
    cps, tps = params_with_grads(ctorch), params_with_grads(torch)
    cv = ctorch.nn.utils.parameters_to_vector(cps)
    tv = torch.nn.utils.parameters_to_vector(tps)
    assert_same(cv, tv.detach())
    ctorch.nn.utils.vector_to_parameters(cv * 2, cps)
    torch.nn.utils.vector_to_parameters(tv * 2, tps)
    for c, t in zip(cps, tps):
        assert_same(c.detach(), t.detach())
    with pytest.raises(TypeError):
        ctorch.nn.utils.vector_to_parameters([1.0], cps)


def test_parametrize_symmetric():
    outs = []
    for lib in (ctorch, torch):
        class Symmetric(lib.nn.Module):
            def forward(self, x):
                return x.triu() + x.triu(1).transpose(-1, -2)

        class M(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.weight = lib.nn.Parameter(lib.arange(9.0).reshape(3, 3))

        m = M()
        lib.nn.utils.parametrize.register_parametrization(m, "weight", Symmetric())
        assert lib.nn.utils.parametrize.is_parametrized(m, "weight")
        w = m.weight
        outs.append((w.tolist(), list(m.state_dict().keys()), type(m).__name__))
        lib.nn.utils.parametrize.remove_parametrizations(m, "weight")
        assert not lib.nn.utils.parametrize.is_parametrized(m)
        outs.append((m.weight.tolist(), list(m.state_dict().keys()), type(m).__name__))
    assert outs[0] == outs[2] and outs[1] == outs[3]


@pytest.mark.parametrize("norm_type", [2, 0.1, 3.5, float("inf"), 1])
def test_clip_grad_norm_nonfinite_message(norm_type):
    msgs = []
    for lib in (torch, ctorch):
        p = lib.nn.Parameter(lib.ones(2))
        p.grad = lib.tensor([float("nan"), 1.0])
        with pytest.raises(RuntimeError) as e:
            lib.nn.utils.clip_grad_norm_([p], 1.0, norm_type=norm_type, error_if_nonfinite=True)
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]
