"""Thin wrappers giving einsum and tensordot torch's argument forms; the work is in C
(src/ops/linalg.c)."""
from . import _C


def einsum(*args):
    """einsum(equation, *operands) or einsum(equation, [operands])."""
    if not args:
        raise TypeError("einsum(): must specify the equation string and at least one operand")
    equation, operands = args[0], args[1:]
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = operands[0]
    return _C._ns_torch._einsum(equation, list(operands))


def tensordot(a, b, dims=2, out=None):
    """tensordot(a, b, dims=2): dims is an int (last dims of a with first dims of b), a pair
    of lists, or a 2-row tensor."""
    if hasattr(dims, "tolist"):
        dims = dims.tolist()
    if isinstance(dims, int):
        if dims < 0:
            raise RuntimeError("tensordot expects dims >= 0, but got dims=%d" % dims)
        if dims > a.dim() or dims > b.dim():
            raise RuntimeError("tensordot expects dims < ndim_a or ndim_b, but got dims=%d" % dims)
        da = list(range(a.dim() - dims, a.dim()))
        db = list(range(dims))
    else:
        if len(dims) != 2:
            raise RuntimeError("tensordot expects dims to be a pair of lists")
        da, db = dims
        da = [da] if isinstance(da, int) else list(da)
        db = [db] if isinstance(db, int) else list(db)
    r = _C._ns_torch._tensordot(a, b, da, db)
    if out is not None:
        out.resize_(r.shape)
        out.copy_(r)
        return out
    return r
