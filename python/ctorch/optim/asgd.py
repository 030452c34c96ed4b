"""ASGD (averaged SGD): lambd, alpha, t0, weight decay, maximize (fused C step)."""
from .adam import _fix_step_state
from .optimizer import (Optimizer, _check_flags, _check_lr, _eval_closure, _fused, _no_grad_step,
                        _scalar_tensor, _to_scalar, _zeros_like)

__all__ = ["ASGD"]


class ASGD(Optimizer):
    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
                 maximize=False, differentiable=False, capturable=False):
        _check_lr(lr)
        if not 0.0 <= _to_scalar(lr):
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0, "weight_decay": weight_decay,
                    "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
                    "capturable": capturable}
        _check_flags(defaults)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            for k, d in (("foreach", None), ("maximize", False), ("differentiable", False), ("capturable", False)):
                group.setdefault(k, d)
        _fix_step_state(self, ("step", "eta", "mu"))

    @_no_grad_step
    def step(self, closure=None):
        loss = _eval_closure(closure)
        for group in self.param_groups:
            params, grads = self._grad_params(group)
            axs, mus, etas, steps = [], [], [], []
            for p in params:
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = _scalar_tensor(0.0)
                    state["eta"] = _scalar_tensor(_to_scalar(group["lr"]))
                    state["mu"] = _scalar_tensor(1.0)
                    state["ax"] = _zeros_like(p)
                mus.append(state["mu"])
                axs.append(state["ax"])
                etas.append(state["eta"])
                steps.append(state["step"])
            _fused.asgd_(params, grads, axs, mus, etas, steps, lr=_to_scalar(group["lr"]), lambd=group["lambd"],
                         alpha=group["alpha"], t0=group["t0"], weight_decay=group["weight_decay"],
                         maximize=group["maximize"])
        return loss
