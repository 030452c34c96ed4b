"""Adadelta: rho, eps, weight decay, maximize (fused C step)."""
from .optimizer import (Optimizer, _check_flags, _check_nonneg, _check_nonneg_lr, _eval_closure, _fused,
                        _no_grad_step, _scalar_tensor, _setstate_fused, _to_scalar, _zeros_like)

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _check_nonneg_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check_nonneg(epsilon=eps, weight_decay=weight_decay)
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize,
                    "capturable": capturable, "foreach": foreach, "differentiable": differentiable}
        _check_flags(defaults)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        _setstate_fused(self, state)

    @_no_grad_step
    def step(self, closure=None):
        loss = _eval_closure(closure)
        for group in self.param_groups:
            params, grads = self._grad_params(group)
            sq, acc, steps = self._state_lists(
                params, lambda p: {"step": _scalar_tensor(0.0), "square_avg": _zeros_like(p),
                                   "acc_delta": _zeros_like(p)},
                "square_avg", "acc_delta", "step")
            _fused.adadelta_(params, grads, sq, acc, steps, lr=_to_scalar(group["lr"]), rho=group["rho"],
                             eps=group["eps"], weight_decay=group["weight_decay"], maximize=group["maximize"])
        return loss
