"""Adadelta: rho, eps, weight decay, maximize (fused C step)."""
from .adam import _fix_step_state
from .optimizer import (Optimizer, _check_flags, _check_lr, _eval_closure, _fused, _no_grad_step,
                        _scalar_tensor, _to_scalar, _zeros_like)

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 <= _to_scalar(lr):
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize,
                    "capturable": capturable, "foreach": foreach, "differentiable": differentiable}
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
            sq, acc, steps = [], [], []
            for p in params:
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _scalar_tensor(0.0)
                    state["square_avg"] = _zeros_like(p)
                    state["acc_delta"] = _zeros_like(p)
                sq.append(state["square_avg"])
                acc.append(state["acc_delta"])
                steps.append(state["step"])
            _fused.adadelta_(params, grads, sq, acc, steps, lr=_to_scalar(group["lr"]), rho=group["rho"],
                             eps=group["eps"], weight_decay=group["weight_decay"], maximize=group["maximize"])
        return loss
