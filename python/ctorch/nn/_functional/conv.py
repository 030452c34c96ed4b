"""nn.functional: conv family (C kernels behind thin wrappers): convolutions, pad, unfold/fold,
pixel_shuffle/pixel_unshuffle."""
from ... import _C

_nn = _C._ns_nn

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "unfold",
           "fold", "pad", "pixel_shuffle", "pixel_unshuffle"]


def _list(v, n):
    if isinstance(v, int):
        return [v] * n
    return list(v)


def _conv(input, weight, bias, stride, padding, dilation, groups, nd):
    stride_l = _list(stride, nd) if isinstance(stride, int) else list(stride)
    dilation_l = _list(dilation, nd) if isinstance(dilation, int) else list(dilation)
    if isinstance(padding, str):
        if padding == "valid":
            padding = [0] * nd
        elif padding == "same":
            if any(s != 1 for s in stride_l):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            k = list(weight.shape[2:])
            if len(k) != nd or len(dilation_l) not in (1, nd):
                padding = [0] * nd  # the C op reports the shape error
            else:
                d = dilation_l * nd if len(dilation_l) == 1 else dilation_l
                total = [d[i] * (k[i] - 1) for i in range(nd)]
                padding = [t // 2 for t in total]
                extra = [t - 2 * (t // 2) for t in total]
                if any(extra):
                    pads = []
                    for e in reversed(extra):
                        pads += [0, e]
                    unbatched = input.dim() == nd + 1
                    input = pad(input, pads)
                    del unbatched
        else:
            raise RuntimeError("Invalid padding string: '%s'" % padding)
    else:
        padding = _list(padding, nd) if isinstance(padding, int) else list(padding)
    unbatched = input.dim() == nd + 1 and weight.dim() == nd + 2
    if unbatched:
        input = input.reshape((1,) + tuple(input.shape))
    out = _nn.convolution(input, weight, bias, stride_l, padding, dilation_l, False, [0], groups)
    if unbatched:
        out = out.reshape(tuple(out.shape[1:]))
    return out


def _conv_t(input, weight, bias, stride, padding, output_padding, groups, dilation, nd):
    if isinstance(padding, str):
        raise TypeError("conv_transpose%dd(): argument 'padding' must be tuple of ints, not str" % nd)
    unbatched = input.dim() == nd + 1 and weight.dim() == nd + 2
    if unbatched:
        input = input.reshape((1,) + tuple(input.shape))
    out = _nn.convolution(input, weight, bias, _list(stride, nd), _list(padding, nd), _list(dilation, nd), True,
                          _list(output_padding, nd), groups)
    if unbatched:
        out = out.reshape(tuple(out.shape[1:]))
    return out


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return _conv(input, weight, bias, stride, padding, dilation, groups, 3)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_t(input, weight, bias, stride, padding, output_padding, groups, dilation, 1)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_t(input, weight, bias, stride, padding, output_padding, groups, dilation, 2)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    return _conv_t(input, weight, bias, stride, padding, output_padding, groups, dilation, 3)


def _pair(v):
    return [v, v] if isinstance(v, int) else list(v)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    return _nn.im2col(input, _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride))


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    return _nn.col2im(input, _pair(output_size), _pair(kernel_size), _pair(dilation), _pair(padding), _pair(stride))


def pad(input, pad, mode="constant", value=None):
    return _nn.pad(input, list(pad), mode, value)


def pixel_shuffle(input, upscale_factor):
    return _nn.pixel_shuffle(input, upscale_factor)


def pixel_unshuffle(input, downscale_factor):
    return _nn.pixel_unshuffle(input, downscale_factor)
