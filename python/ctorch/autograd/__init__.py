"""ctorch.autograd: backward(), grad(), grad modes, anomaly detection."""
from .. import _C
from .function import Function, FunctionCtx, InplaceFunction, once_differentiable  # noqa: F401
from .grad_mode import (  # noqa: F401
    enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad, set_grad_enabled,
)


def _seq(x):
    if x is None:
        return None
    if isinstance(x, _C.Tensor):
        return (x,)
    return tuple(x)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, grad_variables=None, inputs=None):
    """Accumulate gradients of `tensors` into the leaves' .grad."""
    if grad_variables is not None:
        grad_tensors = grad_variables
    tensors = _seq(tensors)
    if grad_tensors is not None:
        grad_tensors = _seq(grad_tensors)
    if inputs is not None:
        inputs = _seq(inputs)
        if len(inputs) == 0:
            raise RuntimeError("'inputs' argument to backward() cannot be empty.")
    _C._autograd_backward(tensors, grad_tensors, retain_graph, create_graph, inputs)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Gradients of outputs with respect to inputs, returned as a tuple."""
    if is_grads_batched:
        raise NotImplementedError("is_grads_batched=True is not supported")
    single = isinstance(inputs, _C.Tensor)
    outs = _seq(outputs)
    ins = _seq(inputs)
    gos = _seq(grad_outputs) if grad_outputs is not None else None
    return _C._autograd_grad(outs, ins, gos, retain_graph, create_graph, allow_unused, materialize_grads) \
        if not single else _C._autograd_grad(outs, ins, gos, retain_graph, create_graph, allow_unused,
                                             materialize_grads)


class detect_anomaly:
    """Context manager naming the forward op whose backward produced NaN."""

    def __init__(self, check_nan=True):
        self.check_nan = check_nan

    def __enter__(self):
        self.prev = _C.is_anomaly_enabled()
        _C.set_anomaly_enabled(self.check_nan)

    def __exit__(self, *exc):
        _C.set_anomaly_enabled(self.prev)


class set_detect_anomaly:
    def __init__(self, mode, check_nan=True):
        self.prev = _C.is_anomaly_enabled()
        _C.set_anomaly_enabled(bool(mode))

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _C.set_anomaly_enabled(self.prev)


from . import functional  # noqa: F401,E402
from .gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: F401,E402
