"""Adamax (infinity-norm Adam): betas, eps, weight decay, maximize (fused C step)."""
from .adam import _fix_step_state
from .optimizer import (Optimizer, _check_flags, _check_lr, _eval_closure, _fused, _no_grad_step,
                        _scalar_tensor, _to_scalar, _zeros_like)

__all__ = ["Adamax"]


class Adamax(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check_lr(lr)
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
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "capturable": capturable}
        _check_flags(defaults)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for k, d in (("foreach", None), ("maximize", False), ("differentiable", False), ("capturable", False)):
                group.setdefault(k, d)
        _fix_step_state(self)

    @_no_grad_step
    def step(self, closure=None):
        loss = _eval_closure(closure)
        for group in self.param_groups:
            params, grads = self._grad_params(group)
            m, u, steps = [], [], []
            for p in params:
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _scalar_tensor(0.0)
                    state["exp_avg"] = _zeros_like(p)
                    state["exp_inf"] = _zeros_like(p)
                m.append(state["exp_avg"])
                u.append(state["exp_inf"])
                steps.append(state["step"])
            beta1, beta2 = group["betas"]
            _fused.adamax_(params, grads, m, u, steps, lr=_to_scalar(group["lr"]), beta1=beta1, beta2=beta2,
                           eps=group["eps"], weight_decay=group["weight_decay"], maximize=group["maximize"])
        return loss
