"""nn.functional: dropout family.

Composites of differentiable ops, drawn as torch's CPU dropout draws: a noise tensor of the
input's shape (feature dropout: (N, C, 1, ...)) filled with bernoulli_(1 - p) from ctorch's
generator, so the same seed gives the same mask as torch."""
import warnings

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"]

_ALPHA = 1.7580993408473766


def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError("dropout probability has to be between 0 and 1, but got %s" % (p,))


def _feature_noise(input):
    if input.dim() < 2:
        raise RuntimeError("Feature dropout requires at least 2 dimensions in the input")
    shape = (input.shape[0], input.shape[1]) + (1,) * (input.dim() - 2)
    return input.new_empty(shape)


def _dropout_impl(input, p, train, feature, alpha, inplace):
    if p == 0 or not train or input.numel() == 0:
        return input
    if p == 1:
        from ... import zeros
        z = zeros((), dtype=input.dtype)
        return input.mul_(z) if inplace else input.mul(z)
    if feature:
        noise = _feature_noise(input)
    else:  # empty_like keeps a permuted input's layout: bernoulli_ then draws in its memory order, as torch's
        from ... import empty_like
        noise = empty_like(input)
    noise.bernoulli_(1 - p)
    if alpha:
        a = 1.0 / ((_ALPHA * _ALPHA * p + 1) * (1 - p)) ** 0.5
        b = noise.add(-1).mul_(_ALPHA * a).add_(_ALPHA * a * p)
        noise.mul_(a)
        out = input.mul_(noise) if inplace else input.mul(noise)
        return out.add_(b)
    noise.div_(1 - p)
    return input.mul_(noise) if inplace else input.mul(noise)


def dropout(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    return _dropout_impl(input, p, training, False, False, inplace)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    _check_p(p)
    return _dropout_impl(input, p, training, False, True, inplace)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    _check_p(p)
    return _dropout_impl(input, p, training, True, True, inplace)


def _unsqueeze0(t):
    return t.unsqueeze(0)


def _squeeze0(t):
    return t.squeeze(0)


def dropout1d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    inp_dim = input.dim()
    if inp_dim not in (2, 3):
        raise RuntimeError("dropout1d: Expected 2D or 3D input, but received a %dD input. Note that dropout1d exists "
                           "to provide channel-wise dropout on inputs with 1 spatial dimension, a channel dimension, "
                           "and an optional batch dimension (i.e. 2D or 3D inputs)." % inp_dim)
    is_batched = inp_dim == 3
    x = input if is_batched else _unsqueeze0(input)
    result = _dropout_impl(x, p, training, True, False, inplace)
    return result if is_batched else (input if inplace else _squeeze0(result))


def dropout2d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    inp_dim = input.dim()
    if inp_dim not in (3, 4):
        warnings.warn("dropout2d: Received a %d-D input to dropout2d, which is deprecated and will result in an error "
                      "in a future release. To retain the behavior and silence this warning, please use dropout "
                      "instead. Note that dropout2d exists to provide channel-wise dropout on inputs with 2 spatial "
                      "dimensions, a channel dimension, and an optional batch dimension (i.e. 3D or 4D inputs)."
                      % inp_dim)
    if inp_dim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior "
                      "is desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior "
                      "will change in a future release to interpret the input as one without a batch dimension, i.e. "
                      "shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using "
                      "dropout1d instead.")
    return _dropout_impl(input, p, training, True, False, inplace)


def dropout3d(input, p=0.5, training=True, inplace=False):
    _check_p(p)
    inp_dim = input.dim()
    if inp_dim not in (4, 5):
        warnings.warn("dropout3d: Received a %d-D input to dropout3d, which is deprecated and will result in an error "
                      "in a future release. To retain the behavior and silence this warning, please use dropout "
                      "instead. Note that dropout3d exists to provide channel-wise dropout on inputs with 3 spatial "
                      "dimensions, a channel dimension, and an optional batch dimension (i.e. 4D or 5D inputs)."
                      % inp_dim)
    is_batched = inp_dim == 5
    x = input if is_batched else _unsqueeze0(input)
    result = _dropout_impl(x, p, training, True, False, inplace)
    return result if is_batched else (input if inplace else _squeeze0(result))
