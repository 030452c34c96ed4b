"""ctorch: PyTorch's programming model with its compute core in C.

`import ctorch as torch` runs ordinary PyTorch code for the supported surface (see the
README's table).
"""
from . import _C
from ._C import (  # noqa: F401
    Tensor, dtype, return_types,
    bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64,
    half, float, double, short, int, long,
    tensor, as_tensor, get_default_dtype, set_default_dtype, promote_types, result_type, can_cast,
    get_num_threads, set_num_threads, is_tensor,
)

# Every generated op function (ctorch.add, ctorch.zeros, ...).
for _name in dir(_C._ns_torch):
    if not _name.startswith("__"):
        globals()[_name] = getattr(_C._ns_torch, _name)
del _name

from ._size import Size  # noqa: E402
_C._set_size_type(Size)
from ._device import device  # noqa: E402,F401
from . import cuda, accelerator  # noqa: E402,F401
from . import _tensor  # noqa: E402,F401  (Python-level Tensor methods)
from . import autograd  # noqa: E402,F401
from . import nn  # noqa: E402,F401
from . import optim  # noqa: E402,F401
from .autograd.grad_mode import (  # noqa: E402,F401
    enable_grad, inference_mode, is_inference_mode_enabled, no_grad, set_grad_enabled,
)
from ._C import is_grad_enabled  # noqa: E402,F401

__version__ = "0.1.0"


def is_floating_point(input):
    return input.is_floating_point()


def numel(input):
    return input.numel()
