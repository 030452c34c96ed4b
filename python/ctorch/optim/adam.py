"""Adam (and AdamW through decoupled_weight_decay), amsgrad, maximize (fused C step)."""
import ctorch
from .optimizer import (Optimizer, _check_flags, _check_lr, _eval_closure, _fused, _no_grad_step,
                        _scalar_tensor, _to_scalar, _zeros_like)

__all__ = ["Adam"]


def _check_adam_args(lr, betas, eps, weight_decay):
    if not 0.0 <= _to_scalar(lr):
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def _fix_step_state(opt, keys=("step",)):
    """Old checkpoints keep scalar state (step, ASGD's eta/mu, NAdam's mu_product) as Python
    numbers; the fused kernels take 0-dim tensors, as torch's __setstate__ makes them."""
    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state.get(p, [])
            for key in keys:
                if len(st) != 0 and key in st and not isinstance(st[key], ctorch.Tensor):
                    st[key] = _scalar_tensor(float(st[key]))


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _check_lr(lr)
        _check_adam_args(lr, betas, eps, weight_decay)
        if not ((isinstance(betas[0], float) and isinstance(betas[1], float))
                or (isinstance(betas[0], ctorch.Tensor) and isinstance(betas[1], ctorch.Tensor))):
            raise ValueError("betas must be either both floats or both Tensors")
        for i, b in enumerate(betas):
            if isinstance(b, ctorch.Tensor) and b.numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")
        betas = tuple(map(_to_scalar, betas))
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable, "fused": fused,
                    "decoupled_weight_decay": decoupled_weight_decay}
        _check_flags(defaults)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("amsgrad", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("capturable", False)
            group.setdefault("differentiable", False)
            group.setdefault("decoupled_weight_decay", False)
            group.setdefault("fused", None)
        _fix_step_state(self)

    @_no_grad_step
    def step(self, closure=None):
        loss = _eval_closure(closure)
        for group in self.param_groups:
            params, grads = self._grad_params(group)
            m, v, vmax, steps = [], [], [], []
            for p in params:
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _scalar_tensor(0.0)
                    state["exp_avg"] = _zeros_like(p)
                    state["exp_avg_sq"] = _zeros_like(p)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = _zeros_like(p)
                m.append(state["exp_avg"])
                v.append(state["exp_avg_sq"])
                if group["amsgrad"]:
                    vmax.append(state["max_exp_avg_sq"])
                steps.append(state["step"])
            beta1, beta2 = group["betas"]
            _fused.adam_(params, grads, m, v, vmax, steps, lr=_to_scalar(group["lr"]), beta1=_to_scalar(beta1),
                         beta2=_to_scalar(beta2), eps=group["eps"], weight_decay=group["weight_decay"],
                         amsgrad=group["amsgrad"], maximize=group["maximize"],
                         decoupled_weight_decay=group["decoupled_weight_decay"])
        return loss
