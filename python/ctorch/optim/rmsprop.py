"""RMSprop: centered, momentum, alpha, weight decay, maximize (fused C step)."""
from .adam import _fix_step_state
from .optimizer import (Optimizer, _check_flags, _check_lr, _eval_closure, _fused, _no_grad_step,
                        _scalar_tensor, _to_scalar, _zeros_like)

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 <= _to_scalar(lr):
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable}
        _check_flags(defaults)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for k, d in (("momentum", 0), ("centered", False), ("foreach", None), ("maximize", False),
                         ("differentiable", False), ("capturable", False)):
                group.setdefault(k, d)
        _fix_step_state(self)

    @_no_grad_step
    def step(self, closure=None):
        loss = _eval_closure(closure)
        for group in self.param_groups:
            params, grads = self._grad_params(group)
            sq, ga, bufs, steps = [], [], [], []
            for p in params:
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _scalar_tensor(0.0)
                    state["square_avg"] = _zeros_like(p)
                    if group["momentum"] > 0:
                        state["momentum_buffer"] = _zeros_like(p)
                    if group["centered"]:
                        state["grad_avg"] = _zeros_like(p)
                sq.append(state["square_avg"])
                steps.append(state["step"])
                if group["momentum"] > 0:
                    bufs.append(state["momentum_buffer"])
                if group["centered"]:
                    ga.append(state["grad_avg"])
            _fused.rmsprop_(params, grads, sq, ga, bufs, steps, lr=_to_scalar(group["lr"]), alpha=group["alpha"],
                            eps=group["eps"], weight_decay=group["weight_decay"], momentum=group["momentum"],
                            centered=group["centered"], maximize=group["maximize"])
        return loss
