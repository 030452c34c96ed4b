"""nn.utils.parametrize: express a parameter as a function of an unconstrained one
(register_parametrization, remove_parametrizations, is_parametrized, cached)."""
from contextlib import contextmanager

from ..modules.container import ModuleDict, ModuleList
from ..modules.module import Module
from ..modules.module import _C_no_grad as _no_grad
from ..parameter import Parameter

_cache_enabled = 0
_cache = {}

__all__ = ["register_parametrization", "remove_parametrizations", "is_parametrized", "cached",
           "ParametrizationList", "type_before_parametrizations"]


@contextmanager
def cached():
    global _cache_enabled
    _cache_enabled += 1
    try:
        yield
    finally:
        _cache_enabled -= 1
        if not _cache_enabled:
            _cache.clear()


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order; `original` holds the raw tensor."""

    def __init__(self, modules, original, unsafe=False):
        super().__init__(modules)
        self.unsafe = unsafe
        new = original
        with _no_grad():
            for module in reversed(self):
                if hasattr(module, "right_inverse"):
                    new = module.right_inverse(new)
        # a right_inverse may split the tensor into several originals (weight_norm: g and v)
        self.is_tensor = not isinstance(new, (tuple, list))
        self.ntensors = 1 if self.is_tensor else len(new)
        original_shape, original_dtype = tuple(original.shape), original.dtype
        if self.is_tensor and (new is original or tuple(new.shape) == original_shape):
            # the registered original stays the same tensor object (an optimizer holding it keeps working)
            if new is not original:
                with _no_grad():
                    original.copy_(new)
            if isinstance(original, Parameter):
                self.register_parameter("original", original)
            else:
                self.register_buffer("original", original)
        else:
            for i, t in enumerate([new] if self.is_tensor else new):
                if not hasattr(t, "detach"):
                    raise ValueError("'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                                     "Got element %d of type %s" % (i, type(t).__name__))
                key = "original" if self.is_tensor else "original%d" % i
                if isinstance(original, Parameter):
                    self.register_parameter(key, Parameter(t.detach(), original.requires_grad))
                else:
                    self.register_buffer(key, t.detach())
        if not unsafe:  # one forward call checks the parametrization keeps dtype and shape
            z = self()
            _check_same(z, original_shape, original_dtype)

    def right_inverse(self, value):
        with _no_grad():
            for module in reversed(self):
                if hasattr(module, "right_inverse"):
                    value = module.right_inverse(value)
            if self.is_tensor:
                self.original.copy_(value)
            else:
                for i, t in enumerate(value):
                    getattr(self, "original%d" % i).copy_(t)

    def forward(self):
        if not self.is_tensor:
            x = self[0](*[getattr(self, "original%d" % i) for i in range(self.ntensors)])
            for module in list(self)[1:]:
                x = module(x)
            return x
        x = self[0](self.original)
        for module in list(self)[1:]:
            x = module(x)
        return x


def _inject_new_class(module):
    cls = module.__class__

    def getstate(self):
        raise RuntimeError("Serialization of parametrized modules is only supported through state_dict().")

    param_cls = type("Parametrized" + cls.__name__, (cls,), {"__getstate__": getstate})
    module.__class__ = param_cls


def _inject_property(module, tensor_name):
    def get_parametrized(self):
        parametrization = self.parametrizations[tensor_name]
        if _cache_enabled:
            key = (id(module), tensor_name)
            tensor = _cache.get(key)
            if tensor is None:
                tensor = parametrization()
                _cache[key] = tensor
            return tensor
        return parametrization()

    def set_original(self, value):
        self.parametrizations[tensor_name].right_inverse(value)

    setattr(module.__class__, tensor_name, property(get_parametrized, set_original))


def _check_same(z, shape, dtype):
    if not hasattr(z, "dtype"):
        raise ValueError("A parametrization must return a tensor. Got %s." % type(z).__name__)
    if z.dtype != dtype:
        raise ValueError("Registering a parametrization may not change the dtype of the tensor, unless `unsafe` "
                         "flag is enabled.\nunparametrized dtype: %s\nparametrized dtype: %s" % (dtype, z.dtype))
    if tuple(z.shape) != tuple(shape):
        raise ValueError("Registering a parametrization may not change the shape of the tensor, unless `unsafe` "
                         "flag is enabled.\nunparametrized shape: %s\nparametrized shape: %s" % (shape, z.shape))


def register_parametrization(module, tensor_name, parametrization, *, unsafe=False):
    """Replace module.<tensor_name> by parametrization(original)."""
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            y = getattr(module, tensor_name)
            _check_same(parametrization(y), y.shape, y.dtype)
            if hasattr(parametrization, "right_inverse"):
                try:
                    zr = parametrization.right_inverse(parametrization(y))
                except NotImplementedError:
                    pass
                else:
                    _check_same(zr, y.shape, y.dtype)
        module.parametrizations[tensor_name].append(parametrization)
        module.parametrizations[tensor_name].unsafe |= unsafe
        return module
    if tensor_name in module._buffers or tensor_name in module._parameters:
        original = getattr(module, tensor_name)
        parametrizations = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            _inject_new_class(module)
            module.parametrizations = ModuleDict()
        _inject_property(module, tensor_name)
        module.parametrizations[tensor_name] = parametrizations
    else:
        raise ValueError("Module '%s' does not have a parameter, a buffer, or a parametrized element with name '%s'"
                         % (module, tensor_name))
    return module


def is_parametrized(module, tensor_name=None):
    parametrizations = getattr(module, "parametrizations", None)
    if parametrizations is None or not isinstance(parametrizations, ModuleDict):
        return False
    if tensor_name is None:
        return len(parametrizations) > 0
    return tensor_name in parametrizations


def remove_parametrizations(module, tensor_name, leave_parametrized=True):
    if not is_parametrized(module, tensor_name):
        raise ValueError("Module %s does not have a parametrization on %s" % (module, tensor_name))
    parametrizations = module.parametrizations[tensor_name]
    if not parametrizations.is_tensor:
        if not leave_parametrized:
            raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is "
                             "parametrized in terms of a sequence of tensors.")
        with _no_grad():
            t = getattr(module, tensor_name)
        first = parametrizations.original0
        original = Parameter(t.detach(), first.requires_grad) if isinstance(first, Parameter) else t.detach()
        leave_parametrized = False
    else:
        original = parametrizations.original
    if leave_parametrized:
        with _no_grad():
            t = getattr(module, tensor_name)
        with _no_grad():
            if t.shape == original.shape:
                original.copy_(t)
            else:
                original = Parameter(t.detach(), original.requires_grad) if isinstance(original, Parameter) else t
    delattr(module.__class__, tensor_name)
    del module.parametrizations[tensor_name]
    if isinstance(original, Parameter):
        module.register_parameter(tensor_name, original)
    else:
        module.register_buffer(tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        orig_cls = module.__class__.__bases__[0]
        module.__class__ = orig_cls
    return module


def type_before_parametrizations(module):
    if is_parametrized(module):
        return module.__class__.__bases__[0]
    return type(module)


_ = Module
