"""nn.functional: loss family (C kernels behind thin wrappers), plus the distance helpers the
losses use (cosine_similarity, pairwise_distance, normalize)."""
import warnings as _warnings

import ctorch as _ct
from ctorch import _C

_nn = _C._ns_nn

__all__ = [
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "kl_div", "poisson_nll_loss", "gaussian_nll_loss", "cosine_embedding_loss",
    "margin_ranking_loss", "hinge_embedding_loss", "multilabel_margin_loss", "multilabel_soft_margin_loss",
    "multi_margin_loss", "soft_margin_loss", "triplet_margin_loss", "triplet_margin_with_distance_loss", "ctc_loss",
    "cosine_similarity", "pairwise_distance", "normalize",
]

# kinds of _C._ns_nn._pw_loss (enum in src/kernels/cpu/loss.c)
(_MSE, _L1, _SMOOTH_L1, _HUBER, _BCE, _BCE_LOGITS, _SOFT_MARGIN, _KL_DIV, _POISSON, _GAUSSIAN, _HINGE_EMB,
 _MARGIN_RANK, _COS_EMB, _TRIPLET, _MLSM) = range(15)

_RED = {"none": 0, "mean": 1, "sum": 2}


def _legacy(size_average, reduce):
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    if reduce:
        return "sum"
    return "none"


def _red(reduction, size_average=None, reduce=None):
    if size_average is not None or reduce is not None:
        reduction = _legacy(size_average, reduce)
    try:
        return _RED[reduction]
    except (KeyError, TypeError):
        raise ValueError(f"{reduction} is not a valid value for reduction") from None


def _same_size_warn(input, target):
    if tuple(target.shape) != tuple(input.shape):
        _warnings.warn(
            f"Using a target size ({target.size()}) that is different to the input size ({input.size()}). "
            "This will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.",
            stacklevel=3,
        )


def _weighted_mean_by_weight(input, target, weight, kind, red, p0=0.0):
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    if red == 1:
        return _nn._pw_loss(input, target, weight, None, kind, 2, p0) / _nn._reduce_loss(weight, 2)
    return _nn._pw_loss(input, target, weight, None, kind, red, p0)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    _same_size_warn(input, target)
    red = _red(reduction, size_average, reduce)
    if weight is not None:
        return _weighted_mean_by_weight(input, target, weight, _MSE, red)
    return _nn._pw_loss(input, target, None, None, _MSE, red)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    _same_size_warn(input, target)
    red = _red(reduction, size_average, reduce)
    if weight is not None:
        return _weighted_mean_by_weight(input, target, weight, _L1, red)
    return _nn._pw_loss(input, target, None, None, _L1, red)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    _same_size_warn(input, target)
    red = _red(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    return _nn._pw_loss(input, target, None, None, _SMOOTH_L1, red, float(beta))


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    _same_size_warn(input, target)
    red = _red(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    if weight is not None and tuple(weight.shape) != tuple(input.shape):
        raise ValueError("Weights and input must have the same size.")
    return _nn._pw_loss(input, target, weight, None, _HUBER, red, float(delta))


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    red = _red(reduction, size_average, reduce)
    return _nn._cross_entropy(input, target, weight, red, ignore_index, float(label_smoothing), 0)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    red = _red(reduction, size_average, reduce)
    return _nn._cross_entropy(input, target, weight, red, ignore_index, 0.0, 1)


def _no_weight_grad(name, weight, arg="weight"):
    if weight is not None and weight.requires_grad and _ct.is_grad_enabled():
        raise RuntimeError(f"The function '{name}' is not differentiable with respect to argument '{arg}'. "
                           "This input cannot have requires_grad True.")


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    red = _red(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({target.size()}) that is different to the input size ({input.size()}) is "
            "deprecated. Please ensure they have the same size."
        )
    _no_weight_grad("binary_cross_entropy", weight)
    if weight is not None:
        _ct.broadcast_shapes(tuple(target.shape), tuple(weight.shape))
    return _nn._pw_loss(input, target, weight, None, _BCE, red)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    red = _red(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.size()}) must be the same as input size ({input.size()})")
    _no_weight_grad("binary_cross_entropy_with_logits", weight)
    _no_weight_grad("binary_cross_entropy_with_logits", pos_weight, "pos_weight")
    return _nn._pw_loss(input, target, weight, pos_weight, _BCE_LOGITS, red)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    if size_average is not None or reduce is not None:
        reduction = _legacy(size_average, reduce)
    if reduction == "mean":
        _warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support size."
            "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
            "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
            stacklevel=2,
        )
    if reduction == "batchmean":
        out = _nn._pw_loss(input, target, None, None, _KL_DIV, 2, 1.0 if log_target else 0.0)
        if input.dim() != 0:
            out = out / input.size(0)
        return out
    return _nn._pw_loss(input, target, None, None, _KL_DIV, _red(reduction), 1.0 if log_target else 0.0)


def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    if size_average is not None or reduce is not None:
        reduction = _legacy(size_average, reduce)
    if reduction not in _RED:
        raise ValueError(reduction + " is not a valid value for reduction")
    flags = (1 if log_input else 0) | (2 if full else 0)
    return _nn._pw_loss(input, target, None, None, _POISSON, _RED[reduction], float(flags), float(eps))


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        var = _ct.full(tuple(input.shape), float(var), dtype=input.dtype)
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.reshape(tuple(var.shape) + (1,))
        elif tuple(input.shape[:-1]) == tuple(var.shape[:-1]) and var.size(-1) == 1:
            pass
        else:
            raise ValueError("var is of incorrect size")
    if reduction not in _RED:
        raise ValueError(reduction + " is not valid")
    if _any_negative(var):
        raise ValueError("var has negative entry/entries")
    return _nn._pw_loss(input, target, var, None, _GAUSSIAN, _RED[reduction], 1.0 if full else 0.0, float(eps))


def _any_negative(t):
    return _ct.relu(-t.detach()).sum().item() > 0


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    return _nn._cosine_similarity(x1, x2, dim, float(eps), 0)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    d = x1 - x2 + eps
    if d.dim() == 0:
        return _nn._norm_dim(d.reshape((1,)), float(p), 0, keepdim).reshape(())
    return _nn._norm_dim(d, float(p), -1, keepdim)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    denom = _nn._norm_dim(input, float(p), dim, True, float(eps))
    if out is None:
        return input / denom
    return _ct.div(input, denom, out=out)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    red = _red(reduction, size_average, reduce)
    if input1.dim() != input2.dim():
        raise RuntimeError(
            f"cosine_embedding_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.size()}, input2: {input2.size()}, target: {target.size()} ")
    if input1.dim() not in (1, 2) or target.dim() != input1.dim() - 1:
        raise RuntimeError(
            f"{input1.dim()}D target tensor expects {input1.dim() - 1}D input tensors, but found inputs with sizes "
            f"{input1.size()}, {input2.size()} and target with size {target.size()}.")
    cos = _nn._cosine_similarity(input1, input2, -1, 0.0, 1)
    return _nn._pw_loss(cos, target, None, None, _COS_EMB, red, float(margin))


def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    red = _red(reduction, size_average, reduce)
    if input1.dim() != input2.dim() or input1.dim() != target.dim():
        raise RuntimeError(
            f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.size()}, input2: {input2.size()}, target: {target.size()} ")
    return _nn._pw_loss(input1, input2, target, None, _MARGIN_RANK, red, float(margin))


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    red = _red(reduction, size_average, reduce)
    return _nn._pw_loss(input, target, None, None, _HINGE_EMB, red, float(margin))


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    red = _red(reduction, size_average, reduce)
    return _nn._pw_loss(input, target, None, None, _SOFT_MARGIN, red)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    red = _red(reduction, size_average, reduce)
    if red == 1:
        return _nn._pw_loss(input, target, weight, None, _MLSM, 1)
    if red == 2:
        return _nn._pw_loss(input, target, weight, None, _MLSM, 2) / input.size(-1)
    return _nn._reduce_loss(_nn._pw_loss(input, target, weight, None, _MLSM, 0), 3)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    red = _red(reduction, size_average, reduce)
    return _nn._margin_loss(input, target, None, 1, red, 1, 1.0)


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None, reduction="mean"):
    red = _red(reduction, size_average, reduce)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.dim() != 1:
        raise ValueError("weight must be one-dimensional")
    return _nn._margin_loss(input, target, weight, 0, red, int(p), float(margin))


def _check_triplet_dims(a, p, n):
    if not (a.dim() == p.dim() == n.dim()):
        raise RuntimeError(
            f"The anchor, positive, and negative tensors are expected to have the same number of dimensions, but "
            f"got: anchor {a.dim()}D, positive {p.dim()}D, and negative {n.dim()}D inputs")


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    red = _red(reduction, size_average, reduce)
    _check_triplet_dims(anchor, positive, negative)
    if margin <= 0:
        raise ValueError(f"TripletMarginLoss: expected margin to be greater than 0, got {margin} instead")
    d_ap = pairwise_distance(anchor, positive, p, eps)
    d_an = pairwise_distance(anchor, negative, p, eps)
    d_pn = pairwise_distance(positive, negative, p, eps) if swap else None
    return _nn._pw_loss(d_ap, d_an, d_pn, None, _TRIPLET, red, float(margin), 1.0 if swap else 0.0)


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0, swap=False,
                                      reduction="mean"):
    red = _red(reduction)
    if margin <= 0:
        raise ValueError(f"TripletMarginWithDistanceLoss: expected margin to be greater than 0, got {margin} instead")
    _check_triplet_dims(anchor, positive, negative)
    dist = distance_function if distance_function is not None else pairwise_distance
    d_ap = dist(anchor, positive)
    d_an = dist(anchor, negative)
    d_pn = dist(positive, negative) if swap else None
    return _nn._pw_loss(d_ap, d_an, d_pn, None, _TRIPLET, red, float(margin), 1.0 if swap else 0.0)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    red = _red(reduction)
    if not isinstance(input_lengths, _ct.Tensor):
        input_lengths = _ct.tensor(list(input_lengths) if not isinstance(input_lengths, int) else input_lengths,
                                   dtype=_ct.int64)
    if not isinstance(target_lengths, _ct.Tensor):
        target_lengths = _ct.tensor(list(target_lengths) if not isinstance(target_lengths, int) else target_lengths,
                                    dtype=_ct.int64)
    if log_probs.dim() == 2:  # unbatched (T, C)
        out = _nn._ctc_loss(log_probs.reshape((log_probs.size(0), 1, log_probs.size(1))),
                            targets.reshape((1, -1)) if targets.dim() == 1 else targets,
                            input_lengths.reshape((1,)), target_lengths.reshape((1,)), blank, red, zero_infinity)
        return out.reshape(()) if red == 0 else out
    return _nn._ctc_loss(log_probs, targets, input_lengths, target_lengths, blank, red, zero_infinity)
