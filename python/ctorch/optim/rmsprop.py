"""RMSprop: centered, momentum, alpha, weight decay, maximize (fused C step)."""
from .optimizer import (Optimizer, _check_flags, _check_nonneg, _check_nonneg_lr, _eval_closure, _fused,
                        _no_grad_step, _scalar_tensor, _setstate_fused, _to_scalar, _zeros_like)

__all__ = ["RMSprop"]


def _rmsprop_init(group):
    def init(p):
        state = {"step": _scalar_tensor(0.0), "square_avg": _zeros_like(p)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = _zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = _zeros_like(p)
        return state
    return init


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check_nonneg_lr(lr)
        _check_nonneg(epsilon=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable}
        _check_flags(defaults)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        _setstate_fused(self, state, (("momentum", 0), ("centered", False), ("foreach", None), ("maximize", False),
                                      ("differentiable", False), ("capturable", False)))

    @_no_grad_step
    def step(self, closure=None):
        loss = _eval_closure(closure)
        for group in self.param_groups:
            params, grads = self._grad_params(group)
            sq, ga, bufs, steps = self._state_lists(
                params, _rmsprop_init(group), "square_avg", "grad_avg" if group["centered"] else None,
                "momentum_buffer" if group["momentum"] > 0 else None, "step")
            _fused.rmsprop_(params, grads, sq, ga, bufs, steps, lr=_to_scalar(group["lr"]), alpha=group["alpha"],
                            eps=group["eps"], weight_decay=group["weight_decay"], momentum=group["momentum"],
                            centered=group["centered"], maximize=group["maximize"])
        return loss
