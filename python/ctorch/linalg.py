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
