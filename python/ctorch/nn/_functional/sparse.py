"""nn.functional: sparse family (C kernels behind thin wrappers): embedding, embedding_bag,
one_hot."""
import ctorch as _ct
from ctorch import _C

_nn = _C._ns_nn

__all__ = ["embedding", "embedding_bag", "one_hot"]


def _padding_idx(padding_idx, num):
    if padding_idx is None:
        return -1
    if padding_idx > 0:
        assert padding_idx < num, "Padding_idx must be within num_embeddings"
    elif padding_idx < 0:
        assert padding_idx >= -num, "Padding_idx must be within num_embeddings"
        padding_idx = num + padding_idx
    return padding_idx


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    padding_idx = _padding_idx(padding_idx, weight.size(0))
    if sparse:
        raise NotImplementedError("ctorch has no sparse tensors: embedding(sparse=True) is not supported")
    if max_norm is not None:
        input = input.contiguous()
        with _ct.no_grad():
            _nn._embedding_renorm_(weight, input, float(max_norm), float(norm_type))
    return _nn._embedding(weight, input, padding_idx, scale_grad_by_freq, sparse)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    if per_sample_weights is not None and tuple(input.shape) != tuple(per_sample_weights.shape):
        raise ValueError(
            f"embedding_bag: If per_sample_weights ({per_sample_weights.shape}) is not None, "
            f"then it must have the same shape as the input ({input.shape})")
    if weight.dim() != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.dim()}")
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError(
                "if input is 2D, then offsets has to be None, as input is treated is a mini-batch of fixed length "
                f"sequences. However, found offsets of type {type(offsets).__name__}")
        offsets = _ct.arange(0, input.numel(), max(input.size(1), 1), dtype=input.dtype)
        if input.size(1) == 0:
            offsets = _ct.zeros((input.size(0),), dtype=input.dtype)
        input = input.reshape(-1)
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    elif input.dim() == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.dim() != 1:
            raise ValueError("offsets has to be a 1D Tensor")
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.dim()}")
    modes = {"sum": 0, "mean": 1, "max": 2}
    if mode not in modes:
        raise ValueError("mode has to be one of sum, mean or max")
    if max_norm is not None:
        with _ct.no_grad():
            _nn._embedding_renorm_(weight, input, float(max_norm), float(norm_type))
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(
            "embedding_bag: per_sample_weights was not None. per_sample_weights is only supported for mode='sum' "
            f"(got mode='{mode}'). Please open a feature request on the Pytorch GitHub.")
    if sparse:
        raise NotImplementedError("ctorch has no sparse tensors: embedding_bag(sparse=True) is not supported")
    if scale_grad_by_freq:
        raise NotImplementedError("embedding_bag(scale_grad_by_freq=True) is not supported")
    padding_idx = _padding_idx(padding_idx, weight.size(0))
    return _nn._embedding_bag(weight, input, offsets, modes[mode], per_sample_weights, include_last_offset,
                              padding_idx)


def one_hot(tensor, num_classes=-1):
    if tensor.dtype != _ct.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if tensor.numel() == 0:
        if num_classes == -1:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        return _ct.zeros(tuple(tensor.shape) + (num_classes,), dtype=_ct.int64)
    if tensor.min().item() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        num_classes = tensor.max().item() + 1
    elif tensor.max().item() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    out = _ct.zeros(tuple(tensor.shape) + (num_classes,), dtype=_ct.int64)
    return out.scatter_(-1, tensor.unsqueeze(-1), 1)
