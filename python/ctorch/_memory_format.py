"""torch.memory_format objects and the memory_format= argument of Tensor.contiguous,
Tensor.is_contiguous and Tensor.to (thin wrappers: a channels-last copy is a permute, a
contiguous copy and the inverse permute, all ops of the C core)."""
from . import _C

Tensor = _C.Tensor


class memory_format:
    """A memory layout (torch.memory_format)."""

    def __init__(self, name):
        self._name = name

    def __repr__(self):
        return "torch." + self._name

    def __reduce__(self):
        return self._name


contiguous_format = memory_format("contiguous_format")
channels_last = memory_format("channels_last")
channels_last_3d = memory_format("channels_last_3d")
preserve_format = memory_format("preserve_format")

# dims of a channels-last tensor from the innermost (stride 1) outwards, and the permutation
# that takes it to its physical (N, spatial..., C) order
_ORDER = {4: (1, 3, 2, 0), 5: (1, 4, 3, 2, 0)}
_TO_PHYS = {4: (0, 2, 3, 1), 5: (0, 2, 3, 4, 1)}
_FROM_PHYS = {4: (0, 3, 1, 2), 5: (0, 4, 1, 2, 3)}


def _cl_ndim(fmt, op):
    if fmt is channels_last:
        return 4
    if fmt is channels_last_3d:
        return 5
    raise RuntimeError("%s: unsupported memory format %r" % (op, fmt))


def _is_cl(t, nd):
    if t.dim() != nd:
        return False
    size, stride, expected = t.shape, t.stride(), 1
    for d in _ORDER[nd]:
        if size[d] != 1:
            if stride[d] != expected:
                return False
            expected *= size[d]
    return True


_is_contiguous = Tensor.is_contiguous
_contiguous = Tensor.contiguous
_to = Tensor.to


def is_contiguous(self, memory_format=contiguous_format):
    if memory_format is contiguous_format or memory_format is None:
        return _is_contiguous(self)
    nd = _cl_ndim(memory_format, "is_contiguous")
    return _is_cl(self, nd)


def _cl_strides(t, nd):
    size, st, acc = t.shape, [0] * nd, 1
    for d in _ORDER[nd]:
        st[d] = acc
        acc *= max(size[d], 1)
    return tuple(st)


def _to_cl(t, fmt, exact):
    """t as a channels-last tensor: t itself when it is channels-last contiguous (exact: with
    exactly the canonical strides, size-1 dims included), else a copy"""
    nd = _cl_ndim(fmt, "contiguous")
    if t.dim() != nd:
        raise RuntimeError("required rank %d tensor to use %s format" % (nd, fmt._name))
    if (t.stride() == _cl_strides(t, nd)) if exact else _is_cl(t, nd):
        return t
    r = _contiguous(t.permute(*_TO_PHYS[nd])).permute(*_FROM_PHYS[nd])
    st = _cl_strides(r, nd)
    if r.stride() != st:  # differs in size-1 dims only: the same elements, torch's strides
        r = r.as_strided(r.shape, st, r.storage_offset())
    return r


def contiguous(self, memory_format=contiguous_format):
    if memory_format is contiguous_format or memory_format is None:
        return _contiguous(self)
    if memory_format is preserve_format:
        raise RuntimeError("preserve memory format is unsupported by the contiguous operator")
    return _to_cl(self, memory_format, False)


def to(self, *args, memory_format=None, **kwargs):
    r = _to(self, *args, **kwargs)
    if memory_format is None or memory_format is preserve_format:
        return r
    if memory_format is contiguous_format:
        return _contiguous(r)
    return _to_cl(r, memory_format, True)


Tensor.is_contiguous = is_contiguous
Tensor.contiguous = contiguous
Tensor.to = to
