"""nn.functional: pooling family (C kernels behind thin wrappers).

The kernels live in src/kernels/cpu/pool.c (ops in src/ops/nn_pool.ops); 1-d pools run as
2-d pools over a (*, 1, L) view, as torch does."""
from ... import _C

_nn = _C._ns_nn

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
    "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d",
    "adaptive_max_pool3d", "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d_with_indices", "max_unpool1d", "max_unpool2d", "max_unpool3d", "lp_pool1d", "lp_pool2d",
    "lp_pool3d",
]


def _tup(v, n, name="argument"):
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        v = tuple(int(a) for a in v)
        if len(v) == 1:
            return v * n
        return v
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise TypeError("%s must be an int or a tuple of ints, got %s" % (name, type(v).__name__))
    return (int(v),) * n


def _type_name(t):
    return {"uint8": "Byte", "int8": "Char", "int16": "Short", "int32": "Int", "int64": "Long",
            "bool": "Bool"}.get(str(t.dtype).split(".")[-1], str(t.dtype))


def _stride(stride, kernel, n):
    if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0):
        return kernel
    return _tup(stride, n, "stride")


def _check_rank(input, nd, name):
    if input.dim() not in (nd + 1, nd + 2):
        raise RuntimeError("%s: Expected %dD or %dD (batch mode) tensor for input, but got a tensor with %d dims"
                           % (name, nd + 1, nd + 2, input.dim()))


def _as2d(input):
    """(*, L) -> (*, 1, L) view (torch's 1-d pools unsqueeze(-2) and run the 2-d kernel)."""
    return input.unsqueeze(-2)


def _from2d(t):
    return t.squeeze(-2)


# ------------------------------------------------------------------ max pool

def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, n):
    k = _tup(kernel_size, n, "kernel_size")
    return _nn.max_pool(input, k, _stride(stride, k, n), _tup(padding, n, "padding"), _tup(dilation, n, "dilation"),
                        bool(ceil_mode))


def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    _check_rank(input, 1, "max_pool1d")
    if not input.is_floating_point():
        raise NotImplementedError("\"max_pool1d_impl\" not implemented for '%s'" % _type_name(input))
    k = _tup(kernel_size, 1, "kernel_size")
    s = _stride(stride, k, 1)
    out, ind = _nn.max_pool(_as2d(input), (1,) + k, (1,) + s, (0,) + _tup(padding, 1, "padding"),
                            (1,) + _tup(dilation, 1, "dilation"), bool(ceil_mode))
    return _from2d(out), _from2d(ind)


def _values_only(input, return_indices):
    """no indices asked for and no gradient to record: the max pool kernel skips the indices"""
    return not return_indices and not (input.requires_grad and _C.is_grad_enabled())


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    if _values_only(input, return_indices) and input.is_floating_point():
        _check_rank(input, 1, "max_pool1d")
        k = _tup(kernel_size, 1, "kernel_size")
        return _from2d(_nn.max_pool_values(_as2d(input), (1,) + k, (1,) + _stride(stride, k, 1),
                                           (0,) + _tup(padding, 1, "padding"), (1,) + _tup(dilation, 1, "dilation"),
                                           bool(ceil_mode)))
    out, ind = max_pool1d_with_indices(input, kernel_size, stride, padding, dilation, ceil_mode)
    return (out, ind) if return_indices else out


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, 2)


def _max_pool_values(input, kernel_size, stride, padding, dilation, ceil_mode, n):
    k = _tup(kernel_size, n, "kernel_size")
    return _nn.max_pool_values(input, k, _stride(stride, k, n), _tup(padding, n, "padding"),
                               _tup(dilation, n, "dilation"), bool(ceil_mode))


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    if _values_only(input, return_indices):
        return _max_pool_values(input, kernel_size, stride, padding, dilation, ceil_mode, 2)
    out, ind = _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, 2)
    return (out, ind) if return_indices else out


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, 3)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    if _values_only(input, return_indices):
        return _max_pool_values(input, kernel_size, stride, padding, dilation, ceil_mode, 3)
    out, ind = _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, 3)
    return (out, ind) if return_indices else out


# ------------------------------------------------------------------ avg pool

def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    _check_rank(input, 1, "avg_pool1d")
    k = _tup(kernel_size, 1, "kernel_size")
    s = _stride(stride, k, 1)
    out = _nn.avg_pool(_as2d(input), (1,) + k, (1,) + s, (0,) + _tup(padding, 1, "padding"), bool(ceil_mode),
                       bool(count_include_pad), None)
    return _from2d(out)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    k = _tup(kernel_size, 2, "kernel_size")
    return _nn.avg_pool(input, k, _stride(stride, k, 2), _tup(padding, 2, "padding"), bool(ceil_mode),
                        bool(count_include_pad), divisor_override)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    k = _tup(kernel_size, 3, "kernel_size")
    return _nn.avg_pool(input, k, _stride(stride, k, 3), _tup(padding, 3, "padding"), bool(ceil_mode),
                        bool(count_include_pad), divisor_override)


# ------------------------------------------------------------------ adaptive pools

def _out_size(input, output_size, n):
    if isinstance(output_size, (list, tuple)):
        if len(output_size) not in (1, n):
            raise RuntimeError("adaptive pool: output_size must be %d" % n)
        sz = tuple(output_size) * (n if len(output_size) == 1 else 1)
    else:
        sz = (output_size,) * n
    shape = tuple(input.shape)
    return tuple(int(shape[len(shape) - n + i]) if v is None else int(v) for i, v in enumerate(sz))


def adaptive_avg_pool1d(input, output_size):
    _check_rank(input, 1, "adaptive_avg_pool1d")
    (o,) = _out_size(input, output_size, 1)
    return _from2d(_nn.adaptive_avg_pool(_as2d(input), (1, o)))


def adaptive_avg_pool2d(input, output_size):
    return _nn.adaptive_avg_pool(input, _out_size(input, output_size, 2))


def adaptive_avg_pool3d(input, output_size):
    return _nn.adaptive_avg_pool(input, _out_size(input, output_size, 3))


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    _check_rank(input, 1, "adaptive_max_pool1d")
    (o,) = _out_size(input, output_size, 1)
    out, ind = _nn.adaptive_max_pool(_as2d(input), (1, o))
    return _from2d(out), _from2d(ind)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    out, ind = adaptive_max_pool1d_with_indices(input, output_size)
    return (out, ind) if return_indices else out


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    return _nn.adaptive_max_pool(input, _out_size(input, output_size, 2))


def adaptive_max_pool2d(input, output_size, return_indices=False):
    out, ind = _nn.adaptive_max_pool(input, _out_size(input, output_size, 2))
    return (out, ind) if return_indices else out


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    return _nn.adaptive_max_pool(input, _out_size(input, output_size, 3))


def adaptive_max_pool3d(input, output_size, return_indices=False):
    out, ind = _nn.adaptive_max_pool(input, _out_size(input, output_size, 3))
    return (out, ind) if return_indices else out


# ------------------------------------------------------------------ max unpool

def _unpool_output_size(input, kernel_size, stride, padding, output_size, n):
    shape = tuple(input.shape)
    default = [(shape[len(shape) - n + d] - 1) * stride[d] + kernel_size[d] - 2 * padding[d] for d in range(n)]
    if output_size is None:
        return tuple(default)
    output_size = list(output_size)
    if len(output_size) == n + 2:
        output_size = output_size[2:]
    elif len(output_size) == n + 1 and len(shape) == n + 1:
        output_size = output_size[1:]
    if len(output_size) != n:
        raise ValueError("output_size should be a sequence containing %d or %d elements, but it has a length of '%d'"
                         % (n, n + 2, len(output_size)))
    for d in range(n):
        lo, hi = default[d] - stride[d], default[d] + stride[d]
        if not lo < output_size[d] < hi:
            raise ValueError('invalid output_size "%s" (dim %d must be between %d and %d)'
                             % (output_size, d, lo, hi))
    return tuple(int(v) for v in output_size)


def _max_unpool(input, indices, kernel_size, stride, padding, output_size, n):
    k = _tup(kernel_size, n, "kernel_size")
    s = _stride(stride, k, n)
    p = _tup(padding, n, "padding")
    return _nn.max_unpool(input, indices, _unpool_output_size(input, k, s, p, output_size, n))


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    k = _tup(kernel_size, 1, "kernel_size")
    s = _stride(stride, k, 1)
    p = _tup(padding, 1, "padding")
    (o,) = _unpool_output_size(input, k, s, p, output_size, 1)
    return _from2d(_nn.max_unpool(_as2d(input), _as2d(indices), (1, o)))


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 2)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool(input, indices, kernel_size, stride, padding, output_size, 3)


# ------------------------------------------------------------------ lp pool
# torch's composites (pow, avg pool, sign/abs, pow): same dtypes (integer inputs with an integer
# norm_type pool in integers), same gradients and double backward. relu(abs(out)) is written
# abs(out).clamp_min(0): equal values, and equal gradients since sign(0) = 0 multiplies them.
# (nn_lp_pool in C computes the same thing in one pass for the C API.)

def _lp_tail(out, norm_type, kprod):
    return (out.sign() * out.abs().clamp_min(0)).mul(kprod).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    if stride is not None:
        out = avg_pool1d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    else:
        out = avg_pool1d(input.pow(norm_type), kernel_size, padding=0, ceil_mode=ceil_mode)
    return _lp_tail(out, norm_type, kernel_size)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    kw, kh = _tup(kernel_size, 2, "kernel_size")
    if isinstance(norm_type, (int, float)):
        if norm_type == float("inf"):
            return max_pool2d(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
        if norm_type == -float("inf"):
            return -max_pool2d(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    if stride is not None:
        out = avg_pool2d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    else:
        out = avg_pool2d(input.pow(norm_type), kernel_size, padding=0, ceil_mode=ceil_mode)
    return _lp_tail(out, norm_type, kw * kh)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    kd, kw, kh = _tup(kernel_size, 3, "kernel_size")
    if isinstance(norm_type, (int, float)):
        if norm_type == float("inf"):
            return max_pool3d(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
        if norm_type == -float("inf"):
            return -max_pool3d(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    if stride is not None:
        out = avg_pool3d(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    else:
        out = avg_pool3d(input.pow(norm_type), kernel_size, padding=0, ceil_mode=ceil_mode)
    return _lp_tail(out, norm_type, kd * kw * kh)
