"""Gradient clipping: one C call per parameter list."""
from ... import _C

Tensor = _C.Tensor

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale the gradients so that their total norm is at most max_norm; returns the total norm."""
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if len(grads) == 0:
        return _C.tensor(0.0)
    return _C._ns_torch._clip_grad_norm_(grads, float(max_norm), norm_type, bool(error_if_nonfinite))


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    import warnings
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    tensors = list(tensors)
    if not tensors:
        return _C.tensor(0.0)
    total = _C._ns_torch._total_norm(tensors, float(norm_type))
    if error_if_nonfinite and not (abs(total.item()) < float("inf")):
        raise RuntimeError("The total norm of order %s for gradients from `parameters` is non-finite, so it cannot be "
                           "clipped." % float(norm_type))
    return total


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    grads = _grads(parameters)
    if not grads:
        return
    coef = float(max_norm) / (float(total_norm) + 1e-6)
    if coef < 1.0:
        for g in grads:
            g.mul_(coef)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element to [-clip_value, clip_value] in place."""
    _C._ns_torch._clip_grad_value_(_grads(parameters), float(clip_value))
