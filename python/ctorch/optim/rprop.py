"""Rprop (resilient backprop): etas, step_sizes, maximize (fused C step)."""
from .optimizer import (Optimizer, _check_flags, _check_nonneg_lr, _eval_closure, _full_like, _fused,
                        _no_grad_step, _scalar_tensor, _setstate_fused, _to_scalar, _zeros_like)

__all__ = ["Rprop"]


class Rprop(Optimizer):
    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None,
                 maximize=False, differentiable=False):
        _check_nonneg_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = {"lr": lr, "etas": etas, "step_sizes": step_sizes, "foreach": foreach, "maximize": maximize,
                    "differentiable": differentiable, "capturable": capturable}
        _check_flags(defaults)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        _setstate_fused(self, state)

    @_no_grad_step
    def step(self, closure=None):
        loss = _eval_closure(closure)
        for group in self.param_groups:
            params, grads = self._grad_params(group)
            lr = _to_scalar(group["lr"])
            prevs, sizes, steps = self._state_lists(
                params, lambda p: {"step": _scalar_tensor(0.0), "prev": _zeros_like(p),
                                   "step_size": _full_like(p, lr)},
                "prev", "step_size", "step")
            etaminus, etaplus = group["etas"]
            lo, hi = group["step_sizes"]
            _fused.rprop_(params, grads, prevs, sizes, steps, etaminus=etaminus, etaplus=etaplus,
                          step_size_min=lo, step_size_max=hi, maximize=group["maximize"])
        return loss
