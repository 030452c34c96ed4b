"""Autograd of the elementwise family: gradients and double backward vs torch (float64 tight,
float32 loose, broadcast and non-contiguous inputs), torch's subgradients at special points,
in-place variants, grad_fn names, non-differentiable integer/bool outputs."""
import math

import numpy as np
import pytest
import torch

import ctorch
from helpers import assert_same, check_grad

F32 = dict(dtype="float32", rtol=1e-4, atol=1e-5)

# op -> (function, low, high): the input range keeps the op inside its domain
UNARY = {
    "abs": (lambda l, x: l.abs(x), -2, 2),
    "neg": (lambda l, x: l.neg(x), -2, 2),
    "exp": (lambda l, x: l.exp(x), -2, 2),
    "sign": (lambda l, x: l.sign(x), -2, 2),
    "floor": (lambda l, x: l.floor(x), -2, 2),
    "ceil": (lambda l, x: l.ceil(x), -2, 2),
    "round": (lambda l, x: l.round(x), -2, 2),
    "round_decimals": (lambda l, x: l.round(x, decimals=1), -2, 2),
    "trunc": (lambda l, x: l.trunc(x), -2, 2),
    "frac": (lambda l, x: l.frac(x), -2, 2),
    "reciprocal": (lambda l, x: l.reciprocal(x), 0.5, 2),
    "sqrt": (lambda l, x: l.sqrt(x), 0.1, 2),
    "rsqrt": (lambda l, x: l.rsqrt(x), 0.1, 2),
    "square": (lambda l, x: l.square(x), -2, 2),
    "exp2": (lambda l, x: l.exp2(x), -2, 2),
    "expm1": (lambda l, x: l.expm1(x), -2, 2),
    "log": (lambda l, x: l.log(x), 0.1, 2),
    "log2": (lambda l, x: l.log2(x), 0.1, 2),
    "log10": (lambda l, x: l.log10(x), 0.1, 2),
    "log1p": (lambda l, x: l.log1p(x), -0.5, 2),
    "sin": (lambda l, x: l.sin(x), -2, 2),
    "cos": (lambda l, x: l.cos(x), -2, 2),
    "tan": (lambda l, x: l.tan(x), -1, 1),
    "asin": (lambda l, x: l.asin(x), -0.9, 0.9),
    "acos": (lambda l, x: l.acos(x), -0.9, 0.9),
    "atan": (lambda l, x: l.atan(x), -2, 2),
    "sinh": (lambda l, x: l.sinh(x), -2, 2),
    "cosh": (lambda l, x: l.cosh(x), -2, 2),
    "tanh": (lambda l, x: l.tanh(x), -2, 2),
    "asinh": (lambda l, x: l.asinh(x), -2, 2),
    "acosh": (lambda l, x: l.acosh(x), 1.1, 3),
    "atanh": (lambda l, x: l.atanh(x), -0.9, 0.9),
    "sigmoid": (lambda l, x: l.sigmoid(x), -2, 2),
    "logit": (lambda l, x: l.logit(x), 0.05, 0.95),
    "logit_eps": (lambda l, x: l.logit(x, eps=0.2), 0.05, 0.95),
    "erf": (lambda l, x: l.erf(x), -2, 2),
    "erfc": (lambda l, x: l.erfc(x), -2, 2),
    "erfinv": (lambda l, x: l.erfinv(x), -0.9, 0.9),
    "lgamma": (lambda l, x: l.lgamma(x), 0.2, 3),
    "digamma": (lambda l, x: l.digamma(x), 0.2, 3),
    "polygamma1": (lambda l, x: l.polygamma(1, x), 0.2, 3),
    "polygamma2": (lambda l, x: l.polygamma(2, x), 0.2, 3),
    "nan_to_num": (lambda l, x: l.nan_to_num(x), -2, 2),
    "clamp": (lambda l, x: l.clamp(x, -0.5, 0.7), -2, 2),
    "clamp_min": (lambda l, x: l.clamp_min(x, -0.5), -2, 2),
    "clamp_max": (lambda l, x: l.clamp_max(x, 0.5), -2, 2),
    "clamp_only_max": (lambda l, x: l.clamp(x, max=0.5), -2, 2),
    "clip": (lambda l, x: l.clip(x, -1, 1), -2, 2),
    "pow_2": (lambda l, x: x ** 2, -2, 2),
    "pow_3": (lambda l, x: l.pow(x, 3), -2, 2),
    "pow_half": (lambda l, x: x ** 0.5, 0.2, 2),
    "pow_m1": (lambda l, x: x ** -1, 0.5, 2),
    "pow_m2": (lambda l, x: x ** -2.0, 0.5, 2),
    "pow_2_5": (lambda l, x: x ** 2.5, 0.2, 2),
    "pow_0": (lambda l, x: x ** 0, -2, 2),
    "rpow": (lambda l, x: 2 ** x, -2, 2),
    "rpow_fn": (lambda l, x: l.pow(1.5, x), -2, 2),
    "rsub": (lambda l, x: 2 - x, -2, 2),
    "rdiv": (lambda l, x: 2 / x, 0.5, 2),
    "radd": (lambda l, x: 2 + x, -2, 2),
    "rmul": (lambda l, x: 3 * x, -2, 2),
    "div_scalar": (lambda l, x: x / 3, -2, 2),
    "remainder_scalar": (lambda l, x: x % 1.5, -2, 2),
    "fmod_scalar": (lambda l, x: l.fmod(x, 1.5), -2, 2),
    "div_floor_scalar": (lambda l, x: l.div(x, 0.7, rounding_mode="floor"), -2, 2),
    "lerp_scalar_self": (lambda l, x: l.lerp(x, x * 0 + 1, 0.3), -2, 2),
}
# abs: torch's second derivative is a ZeroTensor (checked in test_abs_sign_at_zero)
SMOOTH = [k for k in UNARY if k not in ("abs", "sign", "floor", "ceil", "round", "round_decimals", "trunc",
                                         "div_floor_scalar")]


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_grads(name):
    fn, lo, hi = UNARY[name]
    check_grad(fn, (3, 4), low=lo, high=hi)
    check_grad(fn, (3, 4), low=lo, high=hi, seed=1, **F32)
    check_grad(fn, (4, 3), low=lo, high=hi, seed=2, noncontig=True)
    check_grad(fn, (), low=lo, high=hi, seed=3)  # 0-dim


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_unary_double_backward(name):
    fn, lo, hi = UNARY[name]
    check_grad(fn, (2, 3), low=lo, high=hi, create_graph=True, rtol=1e-5, atol=1e-7)


# binary/ternary ops on two (or three) float inputs; (function, shapes, low, high)
BINARY = {
    "true_divide": (lambda l, x, y: l.true_divide(x, y), 0.5, 2),
    "div": (lambda l, x, y: l.div(x, y), 0.5, 2),
    "div_floor": (lambda l, x, y: l.div(x, y, rounding_mode="floor"), 0.5, 2),
    "div_trunc": (lambda l, x, y: l.div(x, y, rounding_mode="trunc"), 0.5, 2),
    "remainder": (lambda l, x, y: l.remainder(x, y), 0.3, 2),
    "remainder_op": (lambda l, x, y: x % y, 0.3, 2),
    "fmod": (lambda l, x, y: l.fmod(x, y), 0.3, 2),
    "pow": (lambda l, x, y: l.pow(x, y), 0.3, 2),
    "pow_op": (lambda l, x, y: x ** y, 0.3, 2),
    "atan2": (lambda l, x, y: l.atan2(x, y), -2, 2),
    "arctan2": (lambda l, x, y: l.arctan2(x, y), -2, 2),
    "hypot": (lambda l, x, y: l.hypot(x, y), -2, 2),
    "minimum": (lambda l, x, y: l.minimum(x, y), -2, 2),
    "maximum": (lambda l, x, y: l.maximum(x, y), -2, 2),
    "fmin": (lambda l, x, y: l.fmin(x, y), -2, 2),
    "fmax": (lambda l, x, y: l.fmax(x, y), -2, 2),
    "clamp_min_t": (lambda l, x, y: l.clamp_min(x, y), -2, 2),
    "clamp_max_t": (lambda l, x, y: l.clamp_max(x, y), -2, 2),
    "clamp_t_min": (lambda l, x, y: l.clamp(x, min=y), -2, 2),
    "clamp_t_max": (lambda l, x, y: l.clamp(x, max=y), -2, 2),
    "clip_t": (lambda l, x, y: l.clip(x, y, y + 0.5), -2, 2),
    "clamp_t_crossed": (lambda l, x, y: l.clamp(x, y, y - 0.5), -2, 2),  # min > max: result is max
    "lerp": (lambda l, x, y: l.lerp(x, y, 0.3), -2, 2),
    "lerp_big_w": (lambda l, x, y: l.lerp(x, y, 0.8), -2, 2),
    "where": (lambda l, x, y: l.where(x > 0, x, y), -2, 2),
    "where_method": (lambda l, x, y: x.where(y > 0, y), -2, 2),
    "where_scalar_other": (lambda l, x, y: l.where(y > 0, x, 2.0), -2, 2),
    "where_scalar_input": (lambda l, x, y: l.where(y > 0, 2.0, x * y), -2, 2),
    "sub_alpha": (lambda l, x, y: l.sub(x, y, alpha=2), -2, 2),
}
TERNARY = {
    "lerp_t": (lambda l, x, y, w: l.lerp(x, y, w), -1, 1),
    "addcmul": (lambda l, x, y, z: l.addcmul(x, y, z, value=0.5), -2, 2),
    "addcmul_default": (lambda l, x, y, z: l.addcmul(x, y, z), -2, 2),
    "addcdiv": (lambda l, x, y, z: l.addcdiv(x, y, z * z + 0.5, value=-2), -2, 2),
    "clamp_t": (lambda l, x, y, z: l.clamp(x, y, y + z * z), -2, 2),
}
NONSMOOTH_BINARY = ("div_floor", "div_trunc")


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_grads(name):
    fn, lo, hi = BINARY[name]
    check_grad(fn, (3, 4), (3, 4), low=lo, high=hi)
    check_grad(fn, (3, 4), (4,), low=lo, high=hi, seed=1)  # broadcast
    check_grad(fn, (2, 1, 4), (3, 1), low=lo, high=hi, seed=2, **F32)
    check_grad(fn, (3, 4), (3, 4), low=lo, high=hi, seed=3, noncontig=True)
    check_grad(fn, (), (3,), low=lo, high=hi, seed=4)


@pytest.mark.parametrize("name", sorted(set(BINARY) - set(NONSMOOTH_BINARY)))
def test_binary_double_backward(name):
    fn, lo, hi = BINARY[name]
    check_grad(fn, (2, 3), (3,), low=lo, high=hi, create_graph=True, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", sorted(TERNARY))
def test_ternary_grads(name):
    fn, lo, hi = TERNARY[name]
    check_grad(fn, (3, 4), (3, 4), (3, 4), low=lo, high=hi)
    check_grad(fn, (3, 4), (4,), (3, 1), low=lo, high=hi, seed=1)
    check_grad(fn, (3, 4), (4,), (3, 1), low=lo, high=hi, seed=2, **F32)
    check_grad(fn, (2, 3), (3,), (2, 1), low=lo, high=hi, seed=3, create_graph=True, rtol=1e-5, atol=1e-7)


def test_division_scalar_first_records():
    """Python-number-first forms (torch's rsub, reciprocal * number, rpow)."""
    for fn, lo in [(lambda l, x: 2 - x, -2), (lambda l, x: 2 / x, 0.5), (lambda l, x: 2 ** x, -2),
                   (lambda l, x: l.sub(2, x), -2), (lambda l, x: l.add(2, x, alpha=3), -2),
                   (lambda l, x: l.mul(2, x), -2), (lambda l, x: l.true_divide(2, x), 0.5),
                   (lambda l, x: l.div(2, x), 0.5)]:
        check_grad(fn, (3,), low=lo, high=2)
        check_grad(fn, (3,), low=lo, high=2, create_graph=True)


# ------------------------------------------------------------------ special points

def grads_at(fn, *values, dtype="float64", create_graph=False):
    """fn applied to leaves with the given values in both libraries: outputs and gradients
    (of the sum of outputs) compared exactly (NaN/inf included)."""
    cin = [ctorch.tensor(v, dtype=getattr(ctorch, dtype), requires_grad=True) for v in values]
    tin = [torch.tensor(v, dtype=getattr(torch, dtype), requires_grad=True) for v in values]
    cout, tout = fn(ctorch, *cin), fn(torch, *tin)
    assert_same(cout, tout)
    cg = ctorch.autograd.grad(cout, cin, grad_outputs=ctorch.ones(tuple(cout.shape), dtype=cout.dtype),
                              allow_unused=True, create_graph=create_graph)
    tg = torch.autograd.grad(tout, tin, grad_outputs=torch.ones_like(tout), allow_unused=True,
                             create_graph=create_graph)
    for c, t in zip(cg, tg):
        assert (c is None) == (t is None)
        if t is not None:
            assert_same(c, t)
    return cg, tg


def test_abs_sign_at_zero():
    cg, _ = grads_at(lambda l, x: l.abs(x), [-1.0, 0.0, -0.0, 2.0])
    assert cg[0].tolist() == [-1.0, 0.0, 0.0, 1.0]
    grads_at(lambda l, x: l.sign(x), [-1.0, 0.0, 2.0])
    # second derivative of abs: zero (torch returns a ZeroTensor)
    x = ctorch.tensor([-1.0, 0.0, 2.0], dtype=ctorch.float64, requires_grad=True)
    g, = ctorch.autograd.grad(x.abs() * x, [x], grad_outputs=ctorch.ones(3, dtype=ctorch.float64),
                              create_graph=True)
    h, = ctorch.autograd.grad(g, [x], grad_outputs=ctorch.ones(3, dtype=ctorch.float64))
    assert g.tolist() == [2.0, 0.0, 4.0] and h.tolist() == [-2.0, 0.0, 2.0]


def test_sqrt_rsqrt_log_at_zero():
    cg, _ = grads_at(lambda l, x: l.sqrt(x), [0.0, 4.0])
    assert cg[0].tolist()[0] == math.inf
    grads_at(lambda l, x: l.rsqrt(x), [0.0, 4.0])
    grads_at(lambda l, x: l.log(x), [0.0, 4.0])
    grads_at(lambda l, x: l.reciprocal(x), [0.0, 4.0])
    grads_at(lambda l, x: l.sqrt(x), [-1.0, 1.0])  # nan


def test_clamp_boundaries_pass_gradient():
    xs = [-2.0, -1.0, -0.5, 0.0, 1.0, 1.5]
    cg, _ = grads_at(lambda l, x: l.clamp(x, -1.0, 1.0), xs)
    assert cg[0].tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    grads_at(lambda l, x: l.clamp(x, min=-1), xs)
    grads_at(lambda l, x: l.clamp(x, max=1), xs)
    grads_at(lambda l, x: l.clamp_min(x, -1.0), xs)
    grads_at(lambda l, x: l.clamp_max(x, 1), xs)
    grads_at(lambda l, x: l.clamp(x, 1.0, -1.0), xs)  # min > max
    grads_at(lambda l, x: l.clamp(x, -1.0, 1.0), [float("nan"), 0.0])
    # tensor bounds, with ties and crossed bounds
    lo = [-1.0, -1.0, -1.0, 0.0, 2.0, 1.5]
    hi = [1.0, -1.0, 0.0, 0.0, 1.0, 1.5]
    grads_at(lambda l, x, a, b: l.clamp(x, a, b), xs, lo, hi)
    grads_at(lambda l, x, a: l.clamp(x, min=a), xs, lo)
    grads_at(lambda l, x, b: l.clamp(x, max=b), xs, hi)
    grads_at(lambda l, x, a: l.clamp_min(x, a), xs, lo)
    grads_at(lambda l, x, b: l.clamp_max(x, b), xs, hi)
    grads_at(lambda l, x, a, b: l.clip(x, a, b), xs, lo, hi, dtype="float32")


def test_min_max_ties_split():
    x = [1.0, 2.0, 3.0, float("nan"), 1.0, float("nan")]
    y = [1.0, 1.0, 4.0, 1.0, float("nan"), float("nan")]
    for op in ("maximum", "minimum", "fmax", "fmin"):
        grads_at(lambda l, a, b: getattr(l, op)(a, b), x, y)
    cg, _ = grads_at(lambda l, a, b: l.maximum(a, b), [1.0, 2.0], [1.0, 3.0])
    assert cg[0].tolist() == [0.5, 0.0] and cg[1].tolist() == [0.5, 1.0]
    # broadcast tie: the halves sum back into the broadcast operand
    grads_at(lambda l, a, b: l.minimum(a, b), [[1.0, 2.0], [1.0, 0.0]], [1.0, 2.0])


def test_pow_special_points():
    xs = [0.0, 0.0, 0.0, 2.0, -2.0, 0.0]
    es = [0.0, 2.0, -1.0, 0.0, 3.0, 0.5]
    grads_at(lambda l, x, e: l.pow(x, e), xs, es)
    for e in (0, 0.0, 1, 2, 0.5, -1, -2, 3, 2.5):
        grads_at(lambda l, x: l.pow(x, e), [0.0, 1.0, -1.5, 2.0])
    for b in (0, 0.0, 2, 2.5, -2.0, 1):
        grads_at(lambda l, e: l.pow(b, e), [-1.0, 0.0, 1.0, 2.5])
        grads_at(lambda l, e: b ** e, [-1.0, 0.0, 1.0, 2.5])
    # double backward through the special cases
    grads_at(lambda l, x, e: l.pow(x, e), [0.5, 2.0, 1.5], [0.0, 2.0, 3.0], create_graph=True)


def test_remainder_fmod_other_grad():
    x = [5.5, -5.5, 5.5, -5.5, 3.0]
    y = [2.0, 2.0, -2.0, -2.0, 1.5]
    grads_at(lambda l, a, b: l.remainder(a, b), x, y)
    grads_at(lambda l, a, b: l.fmod(a, b), x, y)
    grads_at(lambda l, a, b: a % b, x, y, dtype="float32")


def test_where_condition_and_nan_to_num():
    grads_at(lambda l, x, y: l.where(x > 0, x, y), [1.0, -1.0, 0.0], [3.0, 4.0, 5.0])
    grads_at(lambda l, x: l.nan_to_num(x), [float("nan"), float("inf"), -float("inf"), 1.0])
    grads_at(lambda l, x: l.nan_to_num(x, nan=1.0, posinf=2.0, neginf=-2.0), [float("nan"), float("inf"), 1.0])


def test_logit_eps_and_domain():
    xs = [-0.5, 0.0, 0.1, 0.5, 0.95, 1.0, 1.5]
    grads_at(lambda l, x: l.logit(x), xs)
    grads_at(lambda l, x: l.logit(x, eps=0.1), xs)
    grads_at(lambda l, x: l.logit(x, 0.2), xs, dtype="float32")


def test_erfinv_lgamma_digamma_points():
    grads_at(lambda l, x: l.erfinv(x), [-1.0, -0.5, 0.0, 0.99, 1.0])
    grads_at(lambda l, x: l.lgamma(x), [-2.5, -0.5, 0.5, 1.0, 10.0])
    grads_at(lambda l, x: l.digamma(x), [-2.5, -0.5, 0.5, 1.0, 10.0, 100.0])
    grads_at(lambda l, x: l.polygamma(3, x), [-2.5, 0.5, 1.0, 10.0])


# ------------------------------------------------------------------ in-place variants

INPLACE = {
    "sqrt_": (lambda y: y.sqrt_(), 0.1, 2), "rsqrt_": (lambda y: y.rsqrt_(), 0.1, 2),
    "exp2_": (lambda y: y.exp2_(), -1, 1), "expm1_": (lambda y: y.expm1_(), -1, 1),
    "log_": (lambda y: y.log_(), 0.1, 2), "log2_": (lambda y: y.log2_(), 0.1, 2),
    "log10_": (lambda y: y.log10_(), 0.1, 2), "log1p_": (lambda y: y.log1p_(), 0.1, 2),
    "sin_": (lambda y: y.sin_(), -2, 2), "cos_": (lambda y: y.cos_(), -2, 2), "tan_": (lambda y: y.tan_(), -1, 1),
    "asin_": (lambda y: y.asin_(), -0.9, 0.9), "acos_": (lambda y: y.acos_(), -0.9, 0.9),
    "atan_": (lambda y: y.atan_(), -2, 2), "sinh_": (lambda y: y.sinh_(), -2, 2),
    "cosh_": (lambda y: y.cosh_(), -2, 2), "tanh_": (lambda y: y.tanh_(), -2, 2),
    "sigmoid_": (lambda y: y.sigmoid_(), -2, 2),
    "erf_": (lambda y: y.erf_(), -2, 2), "erfc_": (lambda y: y.erfc_(), -2, 2),
    "erfinv_": (lambda y: y.erfinv_(), -0.9, 0.9), "lgamma_": (lambda y: y.lgamma_(), 0.2, 3),
    "digamma_": (lambda y: y.digamma_(), 0.2, 3), "reciprocal_": (lambda y: y.reciprocal_(), 0.5, 2),
    "logit_": (lambda y: y.logit_(0.1), 0.05, 0.95), "abs_": (lambda y: y.abs_(), -2, 2),
    "sign_": (lambda y: y.sign_(), -2, 2), "floor_": (lambda y: y.floor_(), -2, 2),
    "ceil_": (lambda y: y.ceil_(), -2, 2), "trunc_": (lambda y: y.trunc_(), -2, 2),
    "fix_": (lambda y: y.fix_(), -2, 2), "frac_": (lambda y: y.frac_(), -2, 2),
    "round_": (lambda y: y.round_(decimals=1), -2, 2), "square_": (lambda y: y.square_(), -2, 2),
    "nan_to_num_": (lambda y: y.nan_to_num_(), -2, 2), "exp_": (lambda y: y.exp_(), -2, 2),
    "neg_": (lambda y: y.neg_(), -2, 2), "clamp_": (lambda y: y.clamp_(-0.5, 0.5), -2, 2),
    "clip_": (lambda y: y.clip_(max=0.5), -2, 2), "clamp_min_": (lambda y: y.clamp_min_(0.1), -2, 2),
    "clamp_max_": (lambda y: y.clamp_max_(0.1), -2, 2), "pow_": (lambda y: y.pow_(3), -2, 2),
    "ipow": (lambda y: y.__ipow__(2), -2, 2), "imod": (lambda y: y.__imod__(0.7), -2, 2),
    "true_divide_": (lambda y: y.true_divide_(3), -2, 2), "remainder_": (lambda y: y.remainder_(0.7), -2, 2),
    "fmod_": (lambda y: y.fmod_(0.7), -2, 2), "div_floor_": (lambda y: y.div_(0.7, rounding_mode="floor"), -2, 2),
    "lerp_": (lambda y, x: y.lerp_(x * 2, 0.25), -2, 2), "addcmul_": (lambda y, x: y.addcmul_(x * 2, x + 1, value=2), -2, 2),
    "addcdiv_": (lambda y, x: y.addcdiv_(x * 2, x * x + 1, value=2), -2, 2),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_variants(name):
    f, lo, hi = INPLACE[name]

    def fn(l, x):
        y = x * 1.0
        f(y, x) if f.__code__.co_argcount == 2 else f(y)
        return y
    check_grad(fn, (3, 4), low=lo, high=hi)
    check_grad(fn, (3, 4), low=lo, high=hi, seed=1, **F32)


@pytest.mark.parametrize("name", ["pow_", "atan2_", "hypot_", "lerp_t_", "clamp_t_", "clamp_min_t_",
                                  "clamp_max_t_", "addcdiv_", "remainder_", "fmod_"])
def test_inplace_binary_tensor_args(name):
    ops = {
        "pow_": lambda y, o: y.pow_(o), "atan2_": lambda y, o: y.atan2_(o), "hypot_": lambda y, o: y.hypot_(o),
        "lerp_t_": lambda y, o: y.lerp_(o, o * 0.5), "clamp_t_": lambda y, o: y.clamp_(o, o + 1),
        "clamp_min_t_": lambda y, o: y.clamp_min_(o), "clamp_max_t_": lambda y, o: y.clamp_max_(o),
        "addcdiv_": lambda y, o: y.addcdiv_(o, o * o + 1), "remainder_": lambda y, o: y.remainder_(o),
        "fmod_": lambda y, o: y.fmod_(o),
    }

    def fn(l, x, o):
        y = x * 1.0
        ops[name](y, o)
        return y
    check_grad(fn, (3, 4), (4,), low=0.3, high=2)
    check_grad(fn, (3, 4), (4,), low=0.3, high=2, create_graph=True)


def test_inplace_inverse_hyperbolics_have_no_derivative_like_torch():
    """torch records AsinhBackward1 & co. for asinh_/acosh_/atanh_ and raises on backward."""
    for lib in (ctorch, torch):
        x = lib.tensor([0.5, 0.25], requires_grad=True)
        for op, name in (("asinh_", "AsinhBackward1"), ("atanh_", "AtanhBackward1"), ("acosh_", "AcoshBackward1"),
                         ("arcsinh_", "AsinhBackward1")):
            y = getattr(x * 1, op)()
            assert y.requires_grad and y.grad_fn.name() == name
            with pytest.raises(NotImplementedError, match="inplace version of"):
                y.backward(lib.ones(2))
        with lib.no_grad():
            y = (x * 1).atanh_()
        assert not y.requires_grad
    y = ctorch.tensor([0.5, 0.25], requires_grad=True) * 1
    assert_same(y.atanh_(), torch.atanh(torch.tensor([0.5, 0.25])))


def test_inplace_on_leaf_refused_like_torch():
    for lib in (ctorch, torch):
        x = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError):
            x.sin_()
        with pytest.raises(RuntimeError):
            x.clamp_(0, 1)
        with pytest.raises(RuntimeError):
            x.pow_(2)
        with lib.no_grad():
            x.sin_()  # allowed without recording
        assert x.grad_fn is None


def test_inplace_saved_tensor_modified_errors():
    for lib in (ctorch, torch):
        x = lib.ones(3, requires_grad=True)
        y = x * 2
        z = y.sin()
        y.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.backward(lib.ones(3))
        # the in-place op keeps its own copy of self, but another argument aliasing self is
        # saved by reference and overwritten: torch raises at backward
        for f in (lambda t: t.atan2_(t), lambda t: t.pow_(t), lambda t: t.hypot_(t)):
            z = x * 2
            f(z)
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                z.backward(lib.ones(3))


# ------------------------------------------------------------------ names and non-differentiable outputs

NAMES = {
    "2-t": lambda l, t, u, c: 2 - t, "t-2": lambda l, t, u, c: t - 2, "2/t": lambda l, t, u, c: 2 / t,
    "t/2": lambda l, t, u, c: t / 2, "2**t": lambda l, t, u, c: 2 ** t, "t**2": lambda l, t, u, c: t ** 2,
    "t**u": lambda l, t, u, c: t ** u, "pow_scalar": lambda l, t, u, c: l.pow(2, t),
    "t%2": lambda l, t, u, c: t % 2, "t%u": lambda l, t, u, c: t % u, "2%t": lambda l, t, u, c: 2 % t,
    "t//2": lambda l, t, u, c: t // 2, "2//t": lambda l, t, u, c: 2 // t, "t//u": lambda l, t, u, c: t // u,
    "fmod": lambda l, t, u, c: l.fmod(t, u), "fmod_s": lambda l, t, u, c: l.fmod(t, 2),
    "div_floor": lambda l, t, u, c: l.div(t, u, rounding_mode="floor"),
    "div_trunc": lambda l, t, u, c: l.div(t, 2, rounding_mode="trunc"),
    "true_divide": lambda l, t, u, c: l.true_divide(t, u), "square": lambda l, t, u, c: t.square(),
    "round": lambda l, t, u, c: t.round(), "round1": lambda l, t, u, c: t.round(decimals=1),
    "clamp": lambda l, t, u, c: t.clamp(0.2, 0.8), "clamp_min_only": lambda l, t, u, c: t.clamp(min=0.2),
    "clampT": lambda l, t, u, c: t.clamp(u), "clampT2": lambda l, t, u, c: t.clamp(u, u + 1),
    "clamp_min": lambda l, t, u, c: t.clamp_min(0.2), "clamp_minT": lambda l, t, u, c: t.clamp_min(u),
    "clamp_max": lambda l, t, u, c: t.clamp_max(0.2), "clamp_maxT": lambda l, t, u, c: t.clamp_max(u),
    "clip": lambda l, t, u, c: t.clip(0.1, 0.2), "minimum": lambda l, t, u, c: l.minimum(t, u),
    "maximum": lambda l, t, u, c: l.maximum(t, u), "fmin": lambda l, t, u, c: l.fmin(t, u),
    "fmax": lambda l, t, u, c: l.fmax(t, u), "lerp": lambda l, t, u, c: l.lerp(t, u, 0.3),
    "lerpT": lambda l, t, u, c: l.lerp(t, u, u), "addcmul": lambda l, t, u, c: l.addcmul(t, t, u),
    "addcdiv": lambda l, t, u, c: l.addcdiv(t, t, u), "hypot": lambda l, t, u, c: l.hypot(t, u),
    "atan2": lambda l, t, u, c: l.atan2(t, u), "n2n": lambda l, t, u, c: t.nan_to_num(),
    "where": lambda l, t, u, c: l.where(c, t, u), "wheres": lambda l, t, u, c: l.where(c, t, 2.0),
    "wheres2": lambda l, t, u, c: l.where(c, 2.0, t), "neg": lambda l, t, u, c: -t,
    "abs_op": lambda l, t, u, c: abs(t), "logit": lambda l, t, u, c: t.logit(0.1),
    "polygamma": lambda l, t, u, c: l.polygamma(2, t), "log1p": lambda l, t, u, c: t.log1p(),
    "sin_inplace": lambda l, t, u, c: (t * 1).sin_(), "clamp_inplace": lambda l, t, u, c: (t * 1).clamp_(0, 1),
}
UNARY_NAMES = ["abs", "sign", "floor", "ceil", "trunc", "frac", "reciprocal", "sqrt", "rsqrt", "exp2",
               "expm1", "log", "log2", "log10", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh",
               "tanh", "asinh", "acosh", "atanh", "sigmoid", "logit", "erf", "erfc", "erfinv", "lgamma",
               "digamma", "exp", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "fix",
               "absolute", "negative"]


def test_grad_fn_names_match_torch():
    vals = [0.3, 0.6, 0.9]
    for lib_pair in [(ctorch, torch)]:
        ct = ctorch.tensor(vals, dtype=ctorch.float64, requires_grad=True)
        cu = ctorch.tensor([0.5, 0.2, 0.7], dtype=ctorch.float64, requires_grad=True)
        cc = ctorch.tensor([True, False, True])
        tt = torch.tensor(vals, dtype=torch.float64, requires_grad=True)
        tu = torch.tensor([0.5, 0.2, 0.7], dtype=torch.float64, requires_grad=True)
        tc = torch.tensor([True, False, True])
        del lib_pair
    for k, f in NAMES.items():
        a, b = f(ctorch, ct, cu, cc), f(torch, tt, tu, tc)
        assert b.grad_fn.name().endswith(a.grad_fn.name()), k  # torch::autograd::NotImplemented
        assert a.requires_grad == b.requires_grad, k
    for op in UNARY_NAMES:
        a, b = getattr(ctorch, op)(ct), getattr(torch, op)(tt)
        assert a.grad_fn.name() == b.grad_fn.name(), op
        if op in ("asinh", "acosh", "atanh", "arcsinh", "arccosh", "arctanh"):
            continue
        a, b = getattr(ct * 1, op + "_")(), getattr(tt * 1, op + "_")()
        assert a.grad_fn.name() == b.grad_fn.name(), op + "_"


def test_no_derivative_ops_raise_like_torch():
    for lib in (ctorch, torch):
        x = lib.tensor([1.0, 2.5], requires_grad=True)
        for y in (x // 2, lib.floor_divide(x, x), 2 % x):
            assert y.requires_grad
            with pytest.raises(RuntimeError, match="not implemented"):
                y.backward(lib.ones(2))


def test_integer_and_bool_outputs_not_differentiable():
    x = ctorch.tensor([0.5, -1.0, float("nan")], requires_grad=True)
    y = ctorch.tensor([0.5, 2.0, 1.0], requires_grad=True)
    for out in (x == y, x != y, x < y, x <= y, x > y, x >= y, ctorch.isnan(x), ctorch.isinf(x),
                ctorch.isfinite(x), ctorch.isposinf(x), ctorch.isneginf(x), ctorch.logical_not(x),
                ctorch.logical_and(x, y), ctorch.logical_or(x, y), ctorch.logical_xor(x, y),
                ctorch.isclose(x, y), ctorch.eq(x, 0.5), ctorch.signbit(x) if hasattr(ctorch, "signbit") else x > 0):
        assert not out.requires_grad and out.grad_fn is None
    xi = ctorch.tensor([1, 2, 3])
    for out in (xi.abs(), xi // 2, xi % 2, xi.sign(), xi * 2, xi.clamp(0, 1), ctorch.maximum(xi, xi)):
        assert not out.requires_grad
    # integer base and float exponent requiring grad: differentiable through the exponent only
    e = ctorch.tensor([0.5, 1.5], requires_grad=True)
    r = ctorch.pow(ctorch.tensor([2, 3]), e)
    assert r.requires_grad and r.grad_fn.name() == "PowBackward1"
    g, = ctorch.autograd.grad(r, [e], grad_outputs=ctorch.ones(2))
    te = torch.tensor([0.5, 1.5], requires_grad=True)
    tg, = torch.autograd.grad(torch.pow(torch.tensor([2, 3]), te), [te], grad_outputs=torch.ones(2))
    assert_same(g, tg)


def test_mixed_dtypes_cast_back():
    """float32 input with a float64 partner: each gradient comes back in its input's dtype."""
    xs, ys = [0.5, -1.0, 2.0], [1.5, 0.25, 2.0]
    fns = [lambda l, x, y: l.atan2(x, y), lambda l, x, y: l.maximum(x, y), lambda l, x, y: l.where(x > 0, x, y),
           lambda l, x, y: l.clamp(x, y), lambda l, x, y: l.pow(y, x), lambda l, x, y: l.hypot(x, y)]
    for fn in fns:
        res = []
        for lib in (ctorch, torch):
            x = lib.tensor(xs, dtype=lib.float32, requires_grad=True)
            y = lib.tensor(ys, dtype=lib.float64, requires_grad=True)
            out = fn(lib, x, y)
            res.append((out,) + tuple(lib.autograd.grad(out, [x, y], grad_outputs=lib.ones(3, dtype=out.dtype))))
        for c, t in zip(*res):
            assert_same(c, t, rtol=1e-6, atol=1e-7)


def jacobian_check(fn, *inputs, eps=1e-6, rtol=1e-4, atol=1e-6):
    """gradcheck by hand: every row of the Jacobian from backward with a one-hot grad_output
    against central finite differences (ctorch.autograd.gradcheck needs differentiable
    indexing, which is not this family's)."""
    out = fn(*inputs)
    n_out = out.numel()
    base = [np.array(x.detach().tolist(), dtype=np.float64) for x in inputs]
    fd = [np.zeros((n_out, b.size)) for b in base]
    for k, b in enumerate(base):
        for j in range(b.size):
            cols = []
            for sgn in (1, -1):
                vals = [a.copy() for a in base]
                vals[k].reshape(-1)[j] += sgn * eps
                args = [ctorch.tensor(v, dtype=ctorch.float64) for v in vals]
                cols.append(np.array(fn(*args).tolist(), dtype=np.float64).reshape(-1))
            fd[k][:, j] = (cols[0] - cols[1]) / (2 * eps)
    for i in range(n_out):
        onehot = np.zeros(n_out)
        onehot[i] = 1
        go = ctorch.tensor(onehot.reshape(tuple(out.shape)), dtype=out.dtype)
        gs = ctorch.autograd.grad(out, inputs, grad_outputs=go, retain_graph=True, allow_unused=True)
        for k, g in enumerate(gs):
            row = np.zeros(base[k].size) if g is None else np.array(g.tolist(), dtype=np.float64).reshape(-1)
            np.testing.assert_allclose(row, fd[k][i], rtol=rtol, atol=atol)
    return True


def test_jacobians_against_finite_differences():
    rng = np.random.default_rng(0)
    x = ctorch.tensor(rng.uniform(0.5, 2, (3, 2)), dtype=ctorch.float64, requires_grad=True)
    y = ctorch.tensor(rng.uniform(0.5, 2, (2,)), dtype=ctorch.float64, requires_grad=True)
    assert jacobian_check(lambda a, b: ctorch.pow(a, b), x, y)
    assert jacobian_check(lambda a, b: ctorch.atan2(a, b) * ctorch.hypot(a, b), x, y)
    assert jacobian_check(lambda a: ctorch.digamma(a) + ctorch.lgamma(a) + ctorch.erfinv(a / 3), x)
    assert jacobian_check(lambda a, b: ctorch.lerp(a, b, a.sigmoid()) + ctorch.addcdiv(a, a, b), x, y)
    assert jacobian_check(lambda a: ctorch.polygamma(1, a) * a.rsqrt() + ctorch.polygamma(3, a), x)
    assert jacobian_check(lambda a, b: ctorch.remainder(a * 3, b) + ctorch.fmod(a * 3, b), x, y)
    # second derivatives: the Jacobian of a first gradient taken with create_graph
    def first_grad(a, b):
        a = a if a.requires_grad else a.requires_grad_()
        out = ctorch.pow(a, b).tanh() * ctorch.sqrt(a)
        g, = ctorch.autograd.grad(out, [a], grad_outputs=ctorch.ones(tuple(out.shape), dtype=out.dtype),
                                  create_graph=True)
        return g
    assert jacobian_check(first_grad, x, y, rtol=1e-3, atol=1e-5)


def test_polygamma_values_match_torch():
    xs = [-3.5, -0.5, 0.25, 1.0, 2.0, 7.5, 30.0, 1e3]
    for n in range(0, 5):
        c = ctorch.polygamma(n, ctorch.tensor(xs, dtype=ctorch.float64))
        t = torch.polygamma(n, torch.tensor(xs, dtype=torch.float64))
        assert_same(c, t, rtol=1e-9, atol=1e-12)
        c = ctorch.tensor(xs).polygamma(n)
        t = torch.tensor(xs).polygamma(n)
        assert_same(c, t, rtol=1e-5, atol=1e-6)
    assert_same(ctorch.polygamma(1, ctorch.tensor([0.0, -1.0, -2.0])), torch.polygamma(1, torch.tensor([0.0, -1.0, -2.0])))
    assert_same(ctorch.polygamma(2, ctorch.tensor([1, 2])), torch.polygamma(2, torch.tensor([1, 2])))
    with pytest.raises(RuntimeError):
        ctorch.polygamma(-1, ctorch.tensor([1.0]))
    with pytest.raises(RuntimeError):
        torch.polygamma(-1, torch.tensor([1.0]))
