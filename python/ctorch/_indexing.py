"""Thin wrappers for indexing ops whose return type depends on an argument (nonzero's
as_tuple); the work is done in C (src/kernels/cpu/index.c)."""
from . import _C

_ns = _C._ns_torch


def nonzero(input, *, out=None, as_tuple=False):
    if as_tuple:
        return _ns._nonzero_tuple(input)
    if out is not None:
        return _ns._nonzero(input, out=out)
    return _ns._nonzero(input)


def _tensor_nonzero(self, *, as_tuple=False):
    return nonzero(self, as_tuple=as_tuple)


_C.Tensor.nonzero = _tensor_nonzero
