"""Optimizer base class: param groups, per-parameter state, hooks, state_dict (torch's layout).

Python does the bookkeeping only; every element-wise update runs in one fused C call per param
group (ctorch._C._ns_optim, src/optim/fused.c).
"""
import functools
import warnings
from collections import OrderedDict, defaultdict
from copy import deepcopy
from itertools import chain

import ctorch
from ctorch import _C
from ctorch.utils.hooks import RemovableHandle

_fused = _C._ns_optim

__all__ = ["Optimizer", "register_optimizer_step_pre_hook", "register_optimizer_step_post_hook"]


class _RequiredParameter:
    """Singleton class representing a required parameter for an Optimizer."""

    def __repr__(self):
        return "<required parameter>"


required = _RequiredParameter()

_global_optimizer_pre_hooks = OrderedDict()
_global_optimizer_post_hooks = OrderedDict()


def _handle(table, hook):
    h = RemovableHandle(lambda: table.pop(h.id, None))
    table[h.id] = hook
    return h


def register_optimizer_step_pre_hook(hook):
    """Register a pre hook common to all optimizers: hook(optimizer, args, kwargs) -> None or (args, kwargs)."""
    return _handle(_global_optimizer_pre_hooks, hook)


def register_optimizer_step_post_hook(hook):
    """Register a post hook common to all optimizers: hook(optimizer, args, kwargs) -> None."""
    return _handle(_global_optimizer_post_hooks, hook)


def _get_scalar_dtype():
    return ctorch.float64 if ctorch.get_default_dtype() == ctorch.float64 else ctorch.float32


def _to_scalar(x):
    if isinstance(x, ctorch.Tensor):
        return x.item()
    return x


def _zeros_like(p):
    return ctorch.zeros(tuple(p.shape), dtype=p.dtype)


def _empty_like(p):
    return ctorch.empty(tuple(p.shape), dtype=p.dtype)


def _full_like(p, v):
    return ctorch.full(tuple(p.shape), v, dtype=p.dtype)


def _scalar_tensor(v):
    return ctorch.tensor(float(v), dtype=_get_scalar_dtype())


def _check_lr(lr):
    if isinstance(lr, ctorch.Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")


def _check_nonneg_lr(lr):
    """A 1-element (or number) lr that is >= 0, with torch's messages."""
    _check_lr(lr)
    if not 0.0 <= _to_scalar(lr):
        raise ValueError(f"Invalid learning rate: {lr}")


def _check_nonneg(**values):
    """Each keyword must be >= 0, checked in the order given ("Invalid <name> value: <v>")."""
    for name, v in values.items():
        if not 0.0 <= v:
            raise ValueError(f"Invalid {name} value: {v}")


def _check_betas(betas):
    for i in (0, 1):
        if not 0.0 <= betas[i] < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")


def _check_adam_args(lr, betas, eps, weight_decay):
    """The lr/eps/betas/weight_decay checks the Adam family shares (in torch's order)."""
    if not 0.0 <= _to_scalar(lr):
        raise ValueError(f"Invalid learning rate: {lr}")
    _check_nonneg(epsilon=eps)
    _check_betas(betas)
    _check_nonneg(weight_decay=weight_decay)


def _fix_step_state(opt, keys=("step",)):
    """Old checkpoints keep scalar state (step, ASGD's eta/mu, NAdam's mu_product) as Python
    numbers; the fused kernels take 0-dim tensors, as torch's __setstate__ makes them."""
    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state.get(p, [])
            for key in keys:
                if len(st) != 0 and key in st and not isinstance(st[key], ctorch.Tensor):
                    st[key] = _scalar_tensor(float(st[key]))


_FLAG_DEFAULTS = (("foreach", None), ("maximize", False), ("differentiable", False), ("capturable", False))


def _setstate_fused(opt, state, defaults=_FLAG_DEFAULTS, scalar_keys=("step",)):
    """__setstate__ of the fused-step optimizers: base restore, group defaults for keys an older
    checkpoint lacks, scalar state back to 0-dim tensors."""
    Optimizer.__setstate__(opt, state)
    for group in opt.param_groups:
        for k, d in defaults:
            group.setdefault(k, d)
    _fix_step_state(opt, scalar_keys)


def _check_flags(defaults):
    """foreach/fused/capturable are accepted (the fused C math runs regardless)."""
    if defaults.get("differentiable"):
        raise NotImplementedError("ctorch.optim: differentiable=True is not supported (steps run in fused C kernels)")
    if defaults.get("fused") and defaults.get("foreach"):
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def _wrap_step(step):
    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        for pre in chain(_global_optimizer_pre_hooks.values(), self._optimizer_step_pre_hooks.values()):
            result = pre(self, args, kwargs)
            if result is not None:
                if isinstance(result, tuple) and len(result) == 2:
                    args, kwargs = result
                else:
                    raise RuntimeError(
                        f"{pre} must return None or a tuple of (new_args, new_kwargs), but got {result}.")
        out = step(self, *args, **kwargs)
        for post in chain(self._optimizer_step_post_hooks.values(), _global_optimizer_post_hooks.values()):
            post(self, args, kwargs)
        return out
    wrapper._ctorch_hooked = True
    return wrapper


class Optimizer:
    """Base class for all optimizers (torch.optim.Optimizer)."""

    def __init__(self, params, defaults):
        self.defaults = defaults
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()
        self._optimizer_state_dict_pre_hooks = OrderedDict()
        self._optimizer_state_dict_post_hooks = OrderedDict()
        self._optimizer_load_state_dict_pre_hooks = OrderedDict()
        self._optimizer_load_state_dict_post_hooks = OrderedDict()
        if isinstance(params, ctorch.Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {_typename(params)}")
        self.state = defaultdict(dict)
        self.param_groups = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)
        self._warned_capturable_if_run_uncaptured = True
        self._patch_step_function()

    def _patch_step_function(self):
        # Like torch: the step of the instance's class is wrapped once to run the step hooks.
        cls = self.__class__
        if not getattr(cls.step, "_ctorch_hooked", False):
            cls.step = _wrap_step(cls.step)

    def __getstate__(self):
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._patch_step_function()
        for name in ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks", "_optimizer_state_dict_pre_hooks",
                     "_optimizer_state_dict_post_hooks", "_optimizer_load_state_dict_pre_hooks",
                     "_optimizer_load_state_dict_post_hooks"):
            if name not in self.__dict__:
                setattr(self, name, OrderedDict())

    def __repr__(self):
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += "\n"
            s += f"Parameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        s += ")"
        return s

    # ------------------------------------------------------------------ groups

    def add_param_group(self, param_group):
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, ctorch.Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                            "tensors in sets will change between runs. Please use a list instead.")
        else:
            param_group["params"] = list(params)
        extracted, names = [], []
        for p in param_group["params"]:
            if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str):
                names.append(p[0])
                extracted.append(p[1])
            else:
                extracted.append(p)
        if names:
            if len(names) != len(extracted):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["params"] = extracted
            param_group["param_names"] = names
        for param in param_group["params"]:
            if not isinstance(param, ctorch.Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is " + _typename(param))
            if not self.defaults.get("differentiable", None) and not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        params = param_group["params"]
        if len(params) != len(set(params)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will cause "
                          "an error; see github.com/pytorch/pytorch/issues/40967 for more information", stacklevel=3)
        param_set = set()
        for group in self.param_groups:
            param_set.update(set(group["params"]))
            if ("param_names" in param_group) != ("param_names" in group):
                current = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {current} to the optimizer")
        if not param_set.isdisjoint(set(param_group["params"])):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # ------------------------------------------------------------------ grads, steps, hooks

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        g = p.grad
                        if g.grad_fn is not None:
                            g.detach_()
                        else:
                            g.requires_grad_(False)
                        g.zero_()

    def step(self, closure=None):
        raise NotImplementedError

    def register_step_pre_hook(self, hook):
        return _handle(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook):
        return _handle(self._optimizer_step_post_hooks, hook)

    def register_state_dict_pre_hook(self, hook, prepend=False):
        h = _handle(self._optimizer_state_dict_pre_hooks, hook)
        if prepend:
            self._optimizer_state_dict_pre_hooks.move_to_end(h.id, last=False)
        return h

    def register_state_dict_post_hook(self, hook, prepend=False):
        h = _handle(self._optimizer_state_dict_post_hooks, hook)
        if prepend:
            self._optimizer_state_dict_post_hooks.move_to_end(h.id, last=False)
        return h

    def register_load_state_dict_pre_hook(self, hook, prepend=False):
        h = _handle(self._optimizer_load_state_dict_pre_hooks, hook)
        if prepend:
            self._optimizer_load_state_dict_pre_hooks.move_to_end(h.id, last=False)
        return h

    def register_load_state_dict_post_hook(self, hook, prepend=False):
        h = _handle(self._optimizer_load_state_dict_post_hooks, hook)
        if prepend:
            self._optimizer_load_state_dict_post_hooks.move_to_end(h.id, last=False)
        return h

    def _grad_params(self, group):
        """(params with a grad, their grads) of a group; sparse grads are not supported."""
        ps, gs = [], []
        for p in group["params"]:
            if p.grad is not None:
                ps.append(p)
                gs.append(p.grad)
        return ps, gs

    def _state_lists(self, params, init, *keys):
        """Per-parameter state, made by init(p) (a dict, in torch's key order) the first time a
        parameter is seen; returns one list per key (an empty list for a key given as None)."""
        lists = tuple([] for _ in keys)
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state.update(init(p))
            for lst, key in zip(lists, keys):
                if key is not None:
                    lst.append(state[key])
        return lists

    # ------------------------------------------------------------------ state dict

    def state_dict(self):
        for pre in self._optimizer_state_dict_pre_hooks.values():
            pre(self)
        param_mappings = {}
        start_index = 0

        def pack_group(group):
            nonlocal start_index
            packed = {k: v for k, v in group.items() if k != "params"}
            param_mappings.update({id(p): i for i, p in enumerate(group["params"], start_index)
                                   if id(p) not in param_mappings})
            packed["params"] = [param_mappings[id(p)] for p in group["params"]]
            start_index += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        packed_state = {(param_mappings[id(k)] if isinstance(k, ctorch.Tensor) else k): v
                        for k, v in self.state.items()}
        state_dict = {"state": packed_state, "param_groups": param_groups}
        for post in self._optimizer_state_dict_post_hooks.values():
            hook_result = post(self, state_dict)
            if hook_result is not None:
                state_dict = hook_result
        return state_dict

    @staticmethod
    def _process_value_according_to_param_policy(param, value, param_id, param_groups, key=None):
        if key == "step":
            return value
        if param.is_floating_point() and value.dtype != param.dtype and value.is_floating_point():
            return ctorch.tensor(value, dtype=param.dtype)
        return value

    def load_state_dict(self, state_dict):
        state_dict = state_dict.copy()
        for pre in self._optimizer_load_state_dict_pre_hooks.values():
            hook_result = pre(self, state_dict)
            if hook_result is not None:
                state_dict = hook_result
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        param_lens = (len(g["params"]) for g in groups)
        saved_lens = (len(g["params"]) for g in saved_groups)
        if any(p_len != s_len for p_len, s_len in zip(param_lens, saved_lens)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))

        def _cast(param, value, param_id=None, param_groups=None, key=None):
            if isinstance(value, ctorch.Tensor):
                return Optimizer._process_value_according_to_param_policy(param, value, param_id, param_groups, key)
            if isinstance(value, dict):
                return {k: _cast(param, v, param_id=param_id, param_groups=param_groups, key=k)
                        for k, v in value.items()}
            if isinstance(value, (list, tuple)) and not isinstance(value, str):
                return type(value)(_cast(param, v, param_id=param_id, param_groups=param_groups) for v in value)
            return value

        state = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = _cast(param, v, param_id=k, param_groups=state_dict["param_groups"])
            else:
                state[k] = v

        def update_group(group, new_group):
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            return new_group

        param_groups = [update_group(g, ng) for g, ng in zip(groups, saved_groups)]
        self.__setstate__({"state": state, "param_groups": param_groups})
        for post in self._optimizer_load_state_dict_post_hooks.values():
            post(self)


def _typename(o):
    if isinstance(o, ctorch.Tensor):
        return "torch." + ("FloatTensor" if o.dtype == ctorch.float32 else
                           "DoubleTensor" if o.dtype == ctorch.float64 else "Tensor")
    module = type(o).__module__
    name = type(o).__qualname__
    if module in ("builtins", None):
        return name
    return module + "." + name


def _no_grad_step(step):
    """Run an optimizer's step with grad mode off (the closure re-enables it)."""
    @functools.wraps(step)
    def wrapper(self, *args, **kwargs):
        with ctorch.no_grad():
            return step(self, *args, **kwargs)
    return wrapper


def _eval_closure(closure):
    if closure is None:
        return None
    with ctorch.enable_grad():
        return closure()
