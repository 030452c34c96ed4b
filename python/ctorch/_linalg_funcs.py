"""Thin wrappers giving einsum and tensordot torch's argument forms; the work is in C
(src/ops/linalg.c)."""
from . import _C


def _sublist_equation(args):
    """einsum(op1, sublist1, op2, sublist2, ..., [sublist_out]) -> (equation, operands)."""
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def sub(lst):
        out = []
        for v in lst:
            if v is Ellipsis:
                out.append("...")
            elif isinstance(v, int) and 0 <= v < 52:
                out.append(letters[v])
            else:
                raise ValueError("einsum(): subscript in subscript list is not within the valid range [0, 52)")
        return "".join(out)

    ops, terms = list(args[0::2]), [sub(s) for s in args[1::2]]
    if len(args) % 2 == 1:  # trailing output sublist
        out = sub(ops.pop())
        return ",".join(terms) + "->" + out, ops
    return ",".join(terms), ops


def einsum(*args):
    """einsum(equation, *operands), einsum(equation, [operands]) or the sublist form
    einsum(op1, [0, 1], op2, [1, 2], [0, 2])."""
    if not args:
        raise TypeError("einsum(): must specify the equation string and at least one operand")
    if not isinstance(args[0], str):
        equation, operands = _sublist_equation(args)
        return _C._ns_torch._einsum(equation, list(operands))
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
