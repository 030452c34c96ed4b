"""Thin wrappers whose return arity depends on flags (torch.unique, unique_consecutive);
the work is one C op (`_unique_impl`, src/ops/sort_ops.c)."""
from . import _C


def _pack(res, return_inverse, return_counts):
    out, inv, cnt = res
    if not return_inverse and not return_counts:
        return out
    r = (out,)
    if return_inverse:
        r += (inv,)
    if return_counts:
        r += (cnt,)
    return r


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    res = _C._ns_torch._unique_impl(input, sorted, return_inverse, return_counts, dim, False)
    return _pack(res, return_inverse, return_counts)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    res = _C._ns_torch._unique_impl(input, True, return_inverse, return_counts, dim, True)
    return _pack(res, return_inverse, return_counts)


def _install(tensor_type):
    tensor_type.unique = unique
    tensor_type.unique_consecutive = unique_consecutive
