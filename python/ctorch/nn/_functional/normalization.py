"""nn.functional: normalization family (C kernels behind thin wrappers).

Kernels: src/kernels/cpu/norm.c (ops in src/ops/nn_norm.ops); backward in
src/autograd/formulas_norm.c."""
from ... import _C

_nn = _C._ns_nn

__all__ = ["batch_norm", "instance_norm", "layer_norm", "group_norm", "rms_norm", "local_response_norm"]


def _shape_list(s, fn):
    if isinstance(s, (list, tuple)):
        return tuple(int(v) for v in s)
    raise TypeError("%s(): argument 'normalized_shape' (position 2) must be tuple of ints, not %s"
                    % (fn, type(s).__name__))


def _verify_batch_size(size):
    size_prods = size[0]
    for i in range(len(size) - 2):
        size_prods *= size[i + 2]
    if size_prods == 1:
        raise ValueError("Expected more than 1 value per channel when training, got input size %s" % (size,))


def _verify_spatial_size(size):
    size_prods = 1
    for i in range(2, len(size)):
        size_prods *= size[i]
    if size_prods == 1:
        raise ValueError("Expected more than 1 spatial element when training, got input size %s" % (size,))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-05):
    if training:
        _verify_batch_size(input.size())
    if training and eps <= 0.0:
        raise ValueError("batch_norm eps must be positive during training, but got %s" % (eps,))
    elif eps < 0.0:
        raise ValueError("batch_norm eps must be non-negative, but got %s" % (eps,))
    return _nn.batch_norm(input, weight, bias, running_mean, running_var, bool(training), float(momentum),
                          float(eps))[0]


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-05):
    if use_input_stats:
        _verify_spatial_size(input.size())
        if running_mean is not None or running_var is not None:
            _nn.instance_norm_update_stats(input.detach(), running_mean, running_var, float(momentum))
        if input.dim() < 2:
            raise RuntimeError("instance_norm: expected at least 2 dimensions for input tensor")
        return _nn.group_norm(input, input.shape[1], weight, bias, float(eps))[0]
    if running_mean is None or running_var is None:
        raise RuntimeError("Expected running_mean and running_var to be defined when use_input_stats is false")
    return _nn.batch_norm(input, weight, bias, running_mean, running_var, False, float(momentum), float(eps))[0]


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-05):
    return _nn.layer_norm(input, _shape_list(normalized_shape, "layer_norm"), weight, bias, float(eps))[0]


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-05):
    if input.dim() < 2:
        raise RuntimeError("Expected at least 2 dimensions for input tensor but received %d" % input.dim())
    _verify_batch_size([input.size(0) * input.size(1) // num_groups, num_groups] + list(input.size()[2:]))
    return _nn.group_norm(input, int(num_groups), weight, bias, float(eps))[0]


def rms_norm(input, normalized_shape, weight=None, eps=None):
    return _nn.rms_norm(input, _shape_list(normalized_shape, "rms_norm"), weight, None if eps is None else float(eps))[0]


def local_response_norm(input, size, alpha=0.0001, beta=0.75, k=1.0):
    """torch's composite: x / (k + alpha * avg over a window of size channels of x^2) ^ beta.
    The zero padding (size // 2 before, (size - 1) // 2 after) is the avg pool's own padding
    (count_include_pad) with the extra last row of even sizes cut off."""
    dim = input.dim()
    if dim < 3:
        raise ValueError("Expected 3D or higher dimensionality                          input (got %d dimensions)"
                         % dim)
    if input.numel() == 0:
        return input
    size = int(size)
    sizes = tuple(input.shape)
    div = input.mul(input).reshape((sizes[0], 1, sizes[1], -1))
    div = _nn.avg_pool(div, (size, 1), (1, 1), (size // 2, 0), False, True, None)
    div = div.narrow(2, 0, sizes[1]).reshape(sizes)
    div = div.mul(alpha).add(k).pow(beta)
    return input / div
