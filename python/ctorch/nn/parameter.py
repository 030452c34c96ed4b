"""nn.Parameter and nn.Buffer: tensors that modules register automatically."""
from .. import _C

Tensor = _C.Tensor


class Parameter(Tensor):
    """A Tensor that is a module parameter: assigning it to a Module attribute registers it.
    requires_grad defaults to True."""

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = _C._ns_torch.empty((0,))
        return Tensor._make_subclass(cls, data, requires_grad)

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + Tensor.__repr__(self)

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.data.clone(), self.requires_grad)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, proto):
        return (_rebuild_parameter, (self.data, self.requires_grad))

    __hash__ = object.__hash__


def _rebuild_parameter(data, requires_grad):
    return Parameter(data, requires_grad)


class Buffer:
    """Marks a tensor to be registered as a buffer when assigned to a Module attribute."""

    def __new__(cls, data=None, *, persistent=True):
        if data is None:
            data = _C._ns_torch.empty((0,))
        t = data.detach()
        t._is_buffer = True
        t.persistent = persistent
        return t


def is_lazy(param):
    return False
