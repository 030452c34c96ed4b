"""Thin Python-level methods of ctorch.Tensor (hook registration handles)."""
from . import _C
from .utils.hooks import _tensor_hook_handle

Tensor = _C.Tensor


def register_hook(self, hook):
    """Register a gradient hook; returns a handle whose remove() unregisters it."""
    return _tensor_hook_handle(self, self._register_hook(hook))


def register_post_accumulate_grad_hook(self, hook):
    """Hook called with the leaf tensor after its .grad was accumulated."""
    def call(_grad, _self_ref=__import__("weakref").ref(self)):
        t = _self_ref()
        if t is not None:
            hook(t)
        return None
    return _tensor_hook_handle(self, self._register_post_accumulate_grad_hook(call))


Tensor.register_hook = register_hook
Tensor.register_post_accumulate_grad_hook = register_post_accumulate_grad_hook
