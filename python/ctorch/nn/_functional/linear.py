"""nn.functional: linear family (C kernels behind thin wrappers)."""
from ... import _C

_nn = _C._ns_nn

__all__ = ["linear", "bilinear"]


def linear(input, weight, bias=None):
    if weight.dim() == 1 and input.dim() >= 1:  # a vector weight contracts the last dim away (matmul rules)
        out = _nn.linear(input, weight.reshape((1, weight.shape[0])), None)
        out = out.reshape(tuple(out.shape[:-1]))
        if bias is None:
            return out
        if bias.dim() != 0 or input.dim() == 2:  # torch's addmm / broadcast paths refuse these
            raise RuntimeError("mat2 must be a matrix, got 1-D tensor")
        return out + bias
    return _nn.linear(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    return _nn.bilinear(input1, input2, weight, bias)
