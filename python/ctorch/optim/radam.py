"""RAdam (rectified Adam): decoupled weight decay, maximize (fused C step)."""
from .optimizer import (_FLAG_DEFAULTS, Optimizer, _check_adam_args, _check_flags, _check_lr, _eval_closure,
                        _fused, _no_grad_step, _scalar_tensor, _setstate_fused, _to_scalar, _zeros_like)

__all__ = ["RAdam"]


class RAdam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        _check_lr(lr)
        _check_adam_args(lr, betas, eps, weight_decay)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "maximize": maximize,
                    "foreach": foreach, "capturable": capturable, "decoupled_weight_decay": decoupled_weight_decay,
                    "differentiable": differentiable}
        _check_flags(defaults)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        _setstate_fused(self, state, _FLAG_DEFAULTS + (("decoupled_weight_decay", False),))

    @_no_grad_step
    def step(self, closure=None):
        loss = _eval_closure(closure)
        for group in self.param_groups:
            params, grads = self._grad_params(group)
            m, v, steps = self._state_lists(
                params, lambda p: {"step": _scalar_tensor(0.0), "exp_avg": _zeros_like(p),
                                   "exp_avg_sq": _zeros_like(p)},
                "exp_avg", "exp_avg_sq", "step")
            beta1, beta2 = group["betas"]
            _fused.radam_(params, grads, m, v, steps, lr=_to_scalar(group["lr"]), beta1=beta1, beta2=beta2,
                          eps=group["eps"], weight_decay=group["weight_decay"],
                          decoupled_weight_decay=group["decoupled_weight_decay"], maximize=group["maximize"])
        return loss
