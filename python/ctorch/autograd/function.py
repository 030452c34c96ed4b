"""ctorch.autograd.Function: custom differentiable operations written in Python.

forward/backward are static methods; apply() runs forward without recording and, when an
input requires grad, records one graph node whose backward calls the class's backward."""
import functools

from .. import _C
from .grad_mode import no_grad

Tensor = _C.Tensor


class FunctionCtx:
    """The ctx passed to forward/backward."""

    def __init__(self):
        self.to_save = ()
        self._saved = None
        self._saved_versions = ()
        self.dirty_tensors = ()
        self.non_differentiable = ()
        self.materialize_grads = True
        self.needs_input_grad = ()

    def save_for_backward(self, *tensors):
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError("save_for_backward can only save variables, but argument %d is not a Tensor or None"
                                % tensors.index(t))
        self.to_save = tensors

    def save_for_forward(self, *tensors):
        self.to_save_forward = tensors

    def mark_dirty(self, *args):
        self.dirty_tensors = args

    def mark_non_differentiable(self, *args):
        self.non_differentiable = args

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)

    @property
    def saved_tensors(self):
        if self._saved is None:
            raise RuntimeError("Trying to backward through the graph a second time (or directly access saved tensors "
                               "after they have already been freed).")
        for t, v in zip(self._saved, self._saved_versions):
            if t is not None and t._version != v:
                raise RuntimeError("one of the variables needed for gradient computation has been modified by an "
                                   "inplace operation: [%s %s] is at version %d; expected version %d instead."
                                   % (t.dtype, list(t.shape), t._version, v))
        return self._saved

    saved_variables = saved_tensors

    def _do_backward(self, grads):
        fn = self._cls.backward
        result = fn(self, *grads)
        if not isinstance(result, tuple):
            result = (result,)
        n = len(self.needs_input_grad)
        if len(result) < n:
            raise RuntimeError("function %sBackward returned an incorrect number of gradients (expected %d, got %d)"
                               % (self._cls.__name__, n, len(result)))
        if len(result) > n:
            if any(r is not None for r in result[n:]):
                raise RuntimeError("function %sBackward returned an incorrect number of gradients (expected %d, got "
                                   "%d)" % (self._cls.__name__, n, len(result)))
            result = result[:n]
        return tuple(result)


class FunctionMeta(type):
    pass


class Function(FunctionCtx, metaclass=FunctionMeta):
    """Base class of custom autograd functions."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for your custom "
                                  "autograd.Function to use it with backward mode AD.")

    vjp = backward

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        ctx._cls = cls
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        uses_setup = cls.setup_context is not Function.setup_context
        with no_grad():
            if uses_setup:
                outputs = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, outputs)
            else:
                outputs = cls.forward(ctx, *args, **kwargs)
        is_tuple = isinstance(outputs, tuple)
        outs = outputs if is_tuple else (outputs,)
        record = _C.is_grad_enabled() and any(ctx.needs_input_grad)
        input_ids = {id(a) for a in args if isinstance(a, Tensor)}
        dirty_ids = {id(t) for t in ctx.dirty_tensors}
        for t in ctx.dirty_tensors:
            if record and t.is_leaf and t.requires_grad:
                raise RuntimeError("a leaf Variable that requires grad has been used in an in-place operation.")
        if record:
            fixed = []
            for o in outs:
                if isinstance(o, Tensor) and id(o) in input_ids and id(o) not in dirty_ids:
                    o = o.detach()    # an input returned as is becomes a new output
                fixed.append(o)
            outs = tuple(fixed)
            nd_ids = {id(t) for t in ctx.non_differentiable}
            diff = tuple(isinstance(o, Tensor) and id(o) not in nd_ids for o in outs)
            out_ids = {id(o): o for o in outs if isinstance(o, Tensor)}
            saved = []
            for t in ctx.to_save:
                if t is not None and id(t) in out_ids and id(t) not in input_ids:
                    saved.append(("out", outs.index(t)))
                else:
                    saved.append(("in", t))
            _C._function_record(ctx, cls.__name__ + "Backward", tuple(a if isinstance(a, Tensor) else None
                                                                      for a in args), outs, diff)
            # outputs are saved detached (no reference cycle through the C node)
            ctx._saved = tuple(outs[v].detach() if k == "out" else v for k, v in saved)
            outputs = outs if is_tuple else outs[0]
        else:
            ctx._saved = tuple(ctx.to_save)
        ctx._saved_versions = tuple(t._version if t is not None else 0 for t in ctx._saved)
        for t in ctx.non_differentiable:
            pass
        return outputs


def once_differentiable(fn):
    """Mark a backward as not differentiable: it runs without recording."""
    @functools.wraps(fn)
    def wrapper(ctx, *args):
        with no_grad():
            outputs = fn(ctx, *args)
        return outputs
    return wrapper


class InplaceFunction(Function):
    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace


class NestedIOFunction(Function):
    pass
