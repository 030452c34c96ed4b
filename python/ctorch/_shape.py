"""Thin Python wrappers for shape ops whose torch signature the op table can't express
(varargs tensors, Python-int results). The work is done by the C ops in _C."""
import builtins

from . import _C

_ns = _C._ns_torch


def _unpack(tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(tensors[0])
    return tensors


def broadcast_tensors(*tensors):
    return _ns.broadcast_tensors(list(_unpack(tensors)))


def meshgrid(*tensors, indexing=None):
    if indexing is None:
        import warnings
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
                      UserWarning, stacklevel=2)
    return _ns.meshgrid(list(_unpack(tensors)), indexing=indexing)


def _atleast(fn, tensors):
    if len(tensors) == 1:
        x = tensors[0]
        if isinstance(x, (list, tuple)):
            return fn(list(x))
        return fn(x)
    return fn(list(tensors))


def atleast_1d(*tensors):
    return _atleast(_ns.atleast_1d, tensors)


def atleast_2d(*tensors):
    return _atleast(_ns.atleast_2d, tensors)


def atleast_3d(*tensors):
    return _atleast(_ns.atleast_3d, tensors)


def broadcast_shapes(*shapes):
    """The broadcast of the given shapes (ints or sequences of ints) as a Size; no tensors."""
    from ._size import Size
    dims = []
    for s in shapes:
        if isinstance(s, builtins.int) or hasattr(s, "__index__") and not isinstance(s, (list, tuple)):
            s = (s,)
        s = [builtins.int(v) for v in s]
        for v in s:
            if v < 0:
                raise ValueError("Attempting to broadcast a dimension with negative length!")
        n = len(s)
        if n > len(dims):
            dims = [1] * (n - len(dims)) + dims
        for i in range(1, n + 1):
            a, b = dims[-i], s[-i]
            if a == 1 or a == b:
                dims[-i] = b
            elif b != 1:
                raise RuntimeError("Shape mismatch: objects cannot be broadcast to a single shape. Mismatch is "
                                   "between arg 0 and arg 1.")
    return Size(dims)


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    from . import tensor
    if isinstance(data, _C.Tensor):
        r = data.clone().detach() if hasattr(data, "detach") else data.clone()
        r = r.to(dtype if dtype is not None else data.dtype)
    else:
        r = tensor(data, dtype=dtype if dtype is not None else self.dtype)
    if requires_grad:
        r.requires_grad_(True)
    return r


_C.Tensor.new_tensor = _new_tensor
