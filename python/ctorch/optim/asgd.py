"""ASGD (averaged SGD): lambd, alpha, t0, weight decay, maximize (fused C step)."""
from .optimizer import (Optimizer, _check_flags, _check_nonneg, _check_nonneg_lr, _eval_closure, _fused,
                        _no_grad_step, _scalar_tensor, _setstate_fused, _to_scalar, _zeros_like)

__all__ = ["ASGD"]


class ASGD(Optimizer):
    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        _check_nonneg_lr(lr)
        _check_nonneg(weight_decay=weight_decay)
        defaults = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0, "weight_decay": weight_decay,
                    "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
                    "capturable": capturable}
        _check_flags(defaults)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        _setstate_fused(self, state, scalar_keys=("step", "eta", "mu"))

    @_no_grad_step
    def step(self, closure=None):
        loss = _eval_closure(closure)
        for group in self.param_groups:
            params, grads = self._grad_params(group)
            lr = _to_scalar(group["lr"])
            axs, mus, etas, steps = self._state_lists(
                params, lambda p: {"step": _scalar_tensor(0.0), "eta": _scalar_tensor(lr),
                                   "mu": _scalar_tensor(1.0), "ax": _zeros_like(p)},
                "ax", "mu", "eta", "step")
            _fused.asgd_(params, grads, axs, mus, etas, steps, lr=lr, lambd=group["lambd"],
                         alpha=group["alpha"], t0=group["t0"], weight_decay=group["weight_decay"],
                         maximize=group["maximize"])
        return loss
