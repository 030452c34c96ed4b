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
    set_printoptions, get_printoptions, from_numpy, from_dlpack,
)

# Every generated op function (ctorch.add, ctorch.zeros, ...).
for _name in dir(_C._ns_torch):
    if not _name.startswith("__"):
        globals()[_name] = getattr(_C._ns_torch, _name)
del _name

from ._size import Size  # noqa: E402
from ._shape import (  # noqa: E402,F401
    broadcast_tensors, meshgrid, atleast_1d, atleast_2d, atleast_3d, broadcast_shapes,
)
_C._set_size_type(Size)
from ._device import device  # noqa: E402,F401
from . import cuda, accelerator  # noqa: E402,F401
from . import _tensor  # noqa: E402,F401  (Python-level Tensor methods)
from ._memory_format import (  # noqa: E402,F401
    memory_format, contiguous_format, channels_last, channels_last_3d, preserve_format)
from . import autograd  # noqa: E402,F401
from . import nn  # noqa: E402,F401
from . import optim  # noqa: E402,F401
from .autograd.grad_mode import (  # noqa: E402,F401
    enable_grad, inference_mode, is_inference_mode_enabled, no_grad, set_grad_enabled,
)
from ._C import is_grad_enabled  # noqa: E402,F401
from ._legacy import (  # noqa: E402,F401
    BoolTensor, ByteTensor, CharTensor, ShortTensor, IntTensor, LongTensor, HalfTensor, BFloat16Tensor,
    FloatTensor, DoubleTensor,
)
from ._linalg_funcs import einsum, tensordot  # noqa: E402,F401
from . import linalg  # noqa: E402,F401


def _find_lapack():
    """Directory of the scipy-openblas32 library, found without importing the package (the
    library itself is dlopen'ed at the first linalg call; CTORCH_LAPACK overrides)."""
    import importlib.util
    import os
    spec = importlib.util.find_spec("scipy_openblas32")
    if spec is not None and spec.submodule_search_locations:
        _C._set_lapack_path(os.path.join(list(spec.submodule_search_locations)[0], "lib"))


_find_lapack()
from . import random  # noqa: E402,F401
from . import onnx  # noqa: E402,F401
from .storage import UntypedStorage  # noqa: E402,F401
from ._C import Generator, default_generator  # noqa: E402,F401
from .random import manual_seed, seed, initial_seed, get_rng_state, set_rng_state  # noqa: E402,F401
from ._reduce import unique, unique_consecutive, _install as _install_reduce  # noqa: E402,F401
_install_reduce(Tensor)

__version__ = "0.1.0"


def is_floating_point(input):
    return input.is_floating_point()


def numel(input):
    return input.numel()


def range(start, end, step=1, **kwargs):  # noqa: A001 (torch.range shadows the builtin too)
    """Deprecated torch.range: [start, end] inclusive, default float dtype; warns as torch does."""
    import warnings
    warnings.warn("torch.range is deprecated and will be removed in a future release because its behavior is "
                  "inconsistent with Python's range builtin. Instead, use torch.arange, which produces values "
                  "in [start, end).", UserWarning, stacklevel=2)
    return _C._ns_torch.range(start, end, step, **kwargs)
from ._indexing import nonzero  # noqa: E402,F401
from .nn._functional.conv import (conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d,  # noqa: E402,F401
                                  conv_transpose3d, pixel_shuffle, pixel_unshuffle)
from .nn._functional.linear import bilinear  # noqa: E402,F401
from . import serialization  # noqa: E402
from .serialization import save, load  # noqa: E402,F401
