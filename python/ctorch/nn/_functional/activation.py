"""nn.functional: activation family (C kernels behind thin wrappers).

Every elementwise activation is one C op, ``_C._ns_nn._act(input, kind, p0, p1, p2)``;
the kind numbers follow NOTE [ Activation kinds ] in src/kernels/cpu/nn.h."""
import math as _math
import warnings as _warnings

import ctorch as _ct
from ctorch import _C

_nn = _C._ns_nn

__all__ = [
    "threshold", "threshold_", "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_",
    "prelu", "rrelu", "rrelu_", "elu", "elu_", "selu", "selu_", "celu", "celu_", "gelu", "silu", "mish",
    "softplus", "softsign", "softshrink", "hardshrink", "tanhshrink", "hardswish", "hardsigmoid", "tanh",
    "sigmoid", "logsigmoid", "glu", "softmax", "log_softmax", "softmin", "gumbel_softmax",
]

(_RELU, _HARDTANH, _LEAKY, _ELU, _CELU, _GELU, _SILU, _MISH, _SOFTPLUS, _SOFTSIGN, _SOFTSHRINK, _HARDSHRINK,
 _TANHSHRINK, _HARDSWISH, _HARDSIGMOID, _TANH, _SIGMOID, _LOGSIGMOID, _THRESHOLD) = range(19)

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _needs_grad(input):
    return _ct.is_grad_enabled() and input.requires_grad


def _act(input, kind, inplace=False, p0=0.0, p1=0.0, p2=0.0, result_based=True):
    if not isinstance(input, _ct.Tensor):
        raise TypeError("expected Tensor as element 0 in argument 0, but got %s" % type(input).__name__)
    if not inplace:
        return _nn._act(input, kind, p0, p1, p2)
    if result_based or not _needs_grad(input):
        return _nn._act_(input, kind, p0, p1, p2)
    # backward needs the original input: compute from a copy, then write back (recorded)
    return input.copy_(_nn._act(input.clone(), kind, p0, p1, p2))


def threshold(input, threshold, value, inplace=False):
    return _act(input, _THRESHOLD, inplace, float(threshold), float(value), result_based=False)


def threshold_(input, threshold, value):
    return _act(input, _THRESHOLD, True, float(threshold), float(value), result_based=False)


def relu(input, inplace=False):
    return _ct.relu_(input) if inplace else _ct.relu(input)


def relu_(input):
    return _ct.relu_(input)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _act(input, _HARDTANH, inplace, float(min_val), float(max_val))


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    return hardtanh(input, min_val, max_val, True)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def _negative_inplace(name, inplace, input, v):
    # torch refuses the backward of these (RuntimeError); ctorch refuses the in-place call itself
    if inplace and v < 0 and _needs_grad(input):
        raise RuntimeError(
            f"In-place {name} backward calculation is triggered with a negative slope which is not supported. This "
            "is caused by calling in-place forward function with a negative slope, please call out-of-place version "
            "instead.")


def leaky_relu(input, negative_slope=0.01, inplace=False):
    _negative_inplace("leakyReLu", inplace, input, negative_slope)
    return _act(input, _LEAKY, inplace, float(negative_slope))


def leaky_relu_(input, negative_slope=0.01):
    return leaky_relu(input, negative_slope, True)


def prelu(input, weight):
    return _nn.prelu(input, weight)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    if training:
        noise = _ct.empty(input.shape, dtype=input.dtype)
        out = _nn.rrelu_with_noise(input, noise, float(lower), float(upper), True)
    else:
        out = _nn.rrelu_with_noise(input, input, float(lower), float(upper), False)
    if inplace:
        return input.copy_(out)
    return out


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return rrelu(input, lower, upper, training, True)


def elu(input, alpha=1.0, inplace=False):
    _negative_inplace("elu", inplace, input, alpha)
    return _act(input, _ELU, inplace, float(alpha), 1.0, 1.0)


def elu_(input, alpha=1.0):
    return elu(input, alpha, True)


def selu(input, inplace=False):
    return _act(input, _ELU, inplace, _SELU_ALPHA, _SELU_SCALE, 1.0)


def selu_(input):
    return selu(input, True)


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError")
    _negative_inplace("elu", inplace, input, alpha)
    return _act(input, _CELU, inplace, float(alpha), 1.0, 1.0 / float(alpha))


def celu_(input, alpha=1.0):
    return celu(input, alpha, True)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _nn._act(input, _GELU, 0.0 if approximate == "none" else 1.0, 0.0, 0.0)


def silu(input, inplace=False):
    return _act(input, _SILU, inplace, result_based=False)


def mish(input, inplace=False):
    return _act(input, _MISH, inplace, result_based=False)


def softplus(input, beta=1.0, threshold=20.0):
    return _nn._act(input, _SOFTPLUS, float(beta), float(threshold), 0.0)


def softsign(input):
    return _nn._act(input, _SOFTSIGN, 0.0, 0.0, 0.0)


def softshrink(input, lambd=0.5):
    return _nn._act(input, _SOFTSHRINK, float(lambd), 0.0, 0.0)


def hardshrink(input, lambd=0.5):
    return _nn._act(input, _HARDSHRINK, float(lambd), 0.0, 0.0)


def tanhshrink(input):
    return _nn._act(input, _TANHSHRINK, 0.0, 0.0, 0.0)


def hardswish(input, inplace=False):
    return _act(input, _HARDSWISH, inplace, result_based=False)


def hardsigmoid(input, inplace=False):
    return _act(input, _HARDSIGMOID, inplace)


def tanh(input):
    return _nn._act(input, _TANH, 0.0, 0.0, 0.0)


def sigmoid(input):
    return _nn._act(input, _SIGMOID, 0.0, 0.0, 0.0)


def logsigmoid(input):
    return _nn._act(input, _LOGSIGMOID, 0.0, 0.0, 0.0)


def glu(input, dim=-1):
    if input.dim() == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    return _nn.glu(input, dim)


def _get_softmax_dim(name, ndim, stacklevel):
    _warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. "
        "Change the call to include dim=X as an argument.",
        stacklevel=stacklevel,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _get_softmax_dim("softmax", input.dim(), _stacklevel)
    return _ct.softmax(input, dim, dtype=dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _get_softmax_dim("softmin", input.dim(), _stacklevel)
    return _ct.softmax(-input, dim, dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    if dim is None:
        dim = _get_softmax_dim("log_softmax", input.dim(), _stacklevel)
    return _ct.log_softmax(input, dim, dtype=dtype)


def gumbel_softmax(logits, tau=1.0, hard=False, eps=1e-10, dim=-1):
    # gumbel noise -log(Exponential(1)), drawn like torch's (exponential_ on the default generator)
    gumbels = -_ct.empty(logits.shape, dtype=logits.dtype).exponential_().log()
    y_soft = _ct.softmax((logits + gumbels) / tau, dim)
    if hard:
        index = y_soft.argmax(dim, keepdim=True)
        y_hard = _ct.zeros_like(logits).scatter_(dim, index, 1.0)
        return y_hard - y_soft.detach() + y_soft
    return y_soft
