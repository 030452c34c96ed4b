"""nn.functional: linear family (C kernels behind thin wrappers)."""
from ... import _C

_nn = _C._ns_nn

__all__ = ["linear", "bilinear"]


def linear(input, weight, bias=None):
    return _nn.linear(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    return _nn.bilinear(input1, input2, weight, bias)
