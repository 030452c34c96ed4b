"""NAdam: momentum_decay, decoupled weight decay, maximize (fused C step)."""
from .optimizer import (_FLAG_DEFAULTS, Optimizer, _check_adam_args, _check_flags, _check_lr, _check_nonneg,
                        _eval_closure, _fused, _no_grad_step, _scalar_tensor, _setstate_fused, _to_scalar,
                        _zeros_like)

__all__ = ["NAdam"]


class NAdam(Optimizer):
    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check_lr(lr)
        _check_adam_args(lr, betas, eps, weight_decay)
        _check_nonneg(momentum_decay=momentum_decay)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable}
        _check_flags(defaults)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        _setstate_fused(self, state, _FLAG_DEFAULTS + (("decoupled_weight_decay", False),),
                        ("step", "mu_product"))

    @_no_grad_step
    def step(self, closure=None):
        loss = _eval_closure(closure)
        for group in self.param_groups:
            params, grads = self._grad_params(group)
            m, v, mus, steps = self._state_lists(
                params, lambda p: {"step": _scalar_tensor(0.0), "mu_product": _scalar_tensor(1.0),
                                   "exp_avg": _zeros_like(p), "exp_avg_sq": _zeros_like(p)},
                "exp_avg", "exp_avg_sq", "mu_product", "step")
            beta1, beta2 = group["betas"]
            _fused.nadam_(params, grads, m, v, mus, steps, lr=_to_scalar(group["lr"]), beta1=beta1, beta2=beta2,
                          eps=group["eps"], weight_decay=group["weight_decay"],
                          momentum_decay=group["momentum_decay"],
                          decoupled_weight_decay=group["decoupled_weight_decay"], maximize=group["maximize"])
        return loss
