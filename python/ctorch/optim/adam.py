"""Adam (and AdamW through decoupled_weight_decay), amsgrad, maximize (fused C step)."""
import ctorch
from .optimizer import (Optimizer, _check_adam_args, _check_flags, _check_lr, _eval_closure, _fused,
                        _no_grad_step, _scalar_tensor, _setstate_fused, _to_scalar, _zeros_like)

__all__ = ["Adam"]


def _adam_init(amsgrad):
    def init(p):
        state = {"step": _scalar_tensor(0.0), "exp_avg": _zeros_like(p), "exp_avg_sq": _zeros_like(p)}
        if amsgrad:
            state["max_exp_avg_sq"] = _zeros_like(p)
        return state
    return init


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
        _setstate_fused(self, state, (("amsgrad", False), ("maximize", False), ("foreach", None),
                                      ("capturable", False), ("differentiable", False),
                                      ("decoupled_weight_decay", False), ("fused", None)))

    @_no_grad_step
    def step(self, closure=None):
        loss = _eval_closure(closure)
        for group in self.param_groups:
            params, grads = self._grad_params(group)
            m, v, vmax, steps = self._state_lists(
                params, _adam_init(group["amsgrad"]), "exp_avg", "exp_avg_sq",
                "max_exp_avg_sq" if group["amsgrad"] else None, "step")
            beta1, beta2 = group["betas"]
            _fused.adam_(params, grads, m, v, vmax, steps, lr=_to_scalar(group["lr"]), beta1=_to_scalar(beta1),
                         beta2=_to_scalar(beta2), eps=group["eps"], weight_decay=group["weight_decay"],
                         amsgrad=group["amsgrad"], maximize=group["maximize"],
                         decoupled_weight_decay=group["decoupled_weight_decay"])
        return loss
