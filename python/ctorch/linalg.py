"""ctorch.linalg: torch.linalg's functions (decompositions and solvers on LAPACK from the
scipy-openblas32 package, loaded at the first call) and LinAlgError."""
from . import _C


class LinAlgError(RuntimeError):
    """Raised when a linear algebra routine fails (singular matrix, not positive-definite,
    no convergence), as torch.linalg.LinAlgError."""


for _name in dir(_C._ns_linalg):
    if not _name.startswith("__"):
        globals()[_name] = getattr(_C._ns_linalg, _name)

# Norms come from the reductions family when it is present.
for _name in ("vector_norm", "matrix_norm", "norm"):
    if hasattr(_C._ns_linalg, _name):
        globals()[_name] = getattr(_C._ns_linalg, _name)
del _name

_matrix_norm_c = matrix_norm  # noqa: F821  (generated above)


def _move_last(A, dim):
    d0, d1 = (d % A.dim() for d in dim)
    if d0 == d1:
        raise RuntimeError("linalg.matrix_norm: dims must be different. Got (%d, %d)" % tuple(dim))
    return A.movedim((d0, d1), (-2, -1)), sorted((d0, d1))


def _spectral(A, ord, dim, keepdim, dtype):
    """Nuclear and spectral (ord=+-2) norms from the singular values (differentiable)."""
    if dtype is not None:
        A = A.to(dtype)
    if not A.is_floating_point():
        raise RuntimeError("linalg.matrix_norm: Expected a floating point or complex tensor as input. Got %s"
                           % str(A.dtype).split(".")[1].capitalize())
    if A.dim() < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 dimensions.")
    M, dims = _move_last(A, dim)
    s = svdvals(M)  # noqa: F821
    r = s.sum(-1) if ord == "nuc" else (s.amax(-1) if ord == 2 else s.amin(-1))
    if keepdim:
        for d in dims:
            r = r.unsqueeze(d)
    return r


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None, out=None):
    """torch.linalg.matrix_norm; 'nuc' and +-2 go through the singular values."""
    if isinstance(ord, str) and ord == "nuc" or (not isinstance(ord, str) and ord in (2, -2)):
        r = _spectral(A, ord, tuple(dim), keepdim, dtype)
        return out.resize_(r.shape).copy_(r) if out is not None else r
    kw = {} if out is None else {"out": out}
    return _matrix_norm_c(A, ord, dim, keepdim, dtype=dtype, **kw)
