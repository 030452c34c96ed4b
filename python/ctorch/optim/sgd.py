"""SGD with momentum, dampening, Nesterov, weight decay, maximize (fused C step)."""
from .optimizer import (Optimizer, _check_flags, _check_lr, _eval_closure, _fused, _no_grad_step, _to_scalar,
                        _empty_like)

__all__ = ["SGD"]


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        _check_lr(lr)
        if _to_scalar(lr) < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "foreach": foreach,
                    "differentiable": differentiable, "fused": fused}
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        _check_flags(defaults)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", None)
            group.setdefault("differentiable", False)
            group.setdefault("fused", False)

    @_no_grad_step
    def step(self, closure=None):
        loss = _eval_closure(closure)
        for group in self.param_groups:
            params, grads = self._grad_params(group)
            bufs, fresh = [], []
            momentum = group["momentum"]
            if momentum != 0:
                for p in params:
                    buf = self.state[p].get("momentum_buffer")
                    if buf is None:
                        buf = _empty_like(p)  # filled from the gradient by the kernel (fresh=1)
                        self.state[p]["momentum_buffer"] = buf
                        fresh.append(1)
                    else:
                        fresh.append(0)
                    bufs.append(buf)
            _fused.sgd_(params, grads, bufs, fresh, lr=_to_scalar(group["lr"]), momentum=momentum,
                        dampening=group["dampening"], weight_decay=_to_scalar(group["weight_decay"]),
                        nesterov=group["nesterov"], maximize=group["maximize"])
        return loss
