"""Flatten parameters into one vector and back."""
from ... import _C

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """One 1-D tensor holding all parameters (a single C cat)."""
    return _C._ns_torch.cat([p.view(-1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy slices of vec into the parameters (their .data is replaced, as torch does)."""
    if not isinstance(vec, _C.Tensor):
        raise TypeError("expected torch.Tensor, but got: %s" % type(vec).__name__)
    params = list(parameters)
    sizes = [p.numel() for p in params]
    for p, chunk in zip(params, vec.split(sizes)):
        p.data = chunk.view_as(p).data
