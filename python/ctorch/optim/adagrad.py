"""Adagrad: lr_decay, initial_accumulator_value, weight decay, maximize (fused C step)."""
from .optimizer import (Optimizer, _check_flags, _check_nonneg, _check_nonneg_lr, _eval_closure, _full_like,
                        _fused, _no_grad_step, _scalar_tensor, _setstate_fused, _to_scalar)

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_nonneg_lr(lr)
        _check_nonneg(lr_decay=lr_decay, weight_decay=weight_decay,
                      initial_accumulator_value=initial_accumulator_value, epsilon=eps)
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "fused": fused}
        _check_flags(defaults)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = _scalar_tensor(0.0)
                state["sum"] = _full_like(p, group["initial_accumulator_value"])

    def __setstate__(self, state):
        _setstate_fused(self, state, (("foreach", None), ("maximize", False), ("differentiable", False),
                                      ("fused", None)))

    @_no_grad_step
    def step(self, closure=None):
        loss = _eval_closure(closure)
        for group in self.param_groups:
            params, grads = self._grad_params(group)
            sums = [self.state[p]["sum"] for p in params]
            steps = [self.state[p]["step"] for p in params]
            _fused.adagrad_(params, grads, sums, steps, lr=_to_scalar(group["lr"]), lr_decay=group["lr_decay"],
                            weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"])
        return loss
