"""gradcheck / gradgradcheck: compare analytical gradients (backward) with central finite
differences, as torch.autograd.gradcheck does (float64 inputs recommended)."""
import warnings

from .. import _C
from . import grad as _grad
from .grad_mode import no_grad

Tensor = _C.Tensor

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


class GradcheckError(RuntimeError):
    pass


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _flat_outputs(outs):
    return [o for o in _as_tuple(outs) if isinstance(o, Tensor) and o.is_floating_point()]


def _numerical_jacobian(func, inputs, diff_idx, eps):
    """cols[k][j]: flattened d(outputs)/d(input k, element j) by central differences."""
    import ctorch
    result = []
    for k in diff_idx:
        x = inputs[k]
        flat = x.detach().reshape(-1)
        cols = []
        for j in range(flat.numel()):
            orig = flat[j].item()
            # only the perturbation runs without grad: func itself may need autograd
            # (gradgradcheck's func computes gradients)
            with no_grad():
                flat[j] = orig + eps
            plus = [o.detach().reshape(-1).clone() for o in _flat_outputs(func(*inputs))]
            with no_grad():
                flat[j] = orig - eps
            minus = [o.detach().reshape(-1).clone() for o in _flat_outputs(func(*inputs))]
            with no_grad():
                flat[j] = orig
            cols.append([(p - m) / (2 * eps) for p, m in zip(plus, minus)])
        result.append(cols)
    del ctorch
    return result


def _analytical_jacobian(outputs, inputs, diff_idx):
    """rows[o][i][k]: flattened d(output o, element i)/d(input k)."""
    import ctorch
    rows = []
    diff_inputs = tuple(inputs[k] for k in diff_idx)
    for o in outputs:
        per = []
        for i in range(o.numel()):
            if o.requires_grad:
                # one-hot grad_output: no differentiable indexing of the output needed
                e = ctorch.zeros(o.numel(), dtype=o.dtype)
                e[i] = 1
                gs = _grad(o, diff_inputs, grad_outputs=e.reshape(tuple(o.shape)), retain_graph=True,
                           allow_unused=True)
            else:
                gs = (None,) * len(diff_inputs)
            per.append([(g if g is not None else ctorch.zeros_like(x)).reshape(-1)
                        for g, x in zip(gs, diff_inputs)])
        rows.append(per)
    return rows


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, nondet_tol=0.0,
              check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
              check_batched_forward_grad=False, check_forward_ad=False, check_backward_ad=True, fast_mode=False,
              masked=None):
    """True if the backward of func matches finite differences at inputs."""
    inputs = _as_tuple(inputs)
    diff_idx = [k for k, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but none of the them have "
                         "requires_grad=True.")
    for k in diff_idx:
        if inputs[k].dtype != _C.float64:
            warnings.warn("Input #%d requires gradient and is not a double precision floating point. This check will "
                          "likely fail if all the inputs are not of double precision floating point. " % k)
    outputs = _flat_outputs(func(*inputs))
    analytical = _analytical_jacobian(outputs, inputs, diff_idx)
    numerical = _numerical_jacobian(func, inputs, diff_idx, eps)
    for oi, o in enumerate(outputs):
        for ki, k in enumerate(diff_idx):
            n_el = inputs[k].numel()
            for j in range(n_el):
                num_col = numerical[ki][j][oi]
                for i in range(o.numel()):
                    a = analytical[oi][i][ki].reshape(-1)[j].item()
                    n = num_col[i].item()
                    if abs(a - n) > atol + rtol * abs(n):
                        msg = ("Jacobian mismatch for output %d with respect to input %d,\nnumerical:%s\nanalytical:%s"
                               "\n(at output element %d, input element %d)" % (oi, k, n, a, i, j))
                        if raise_exception:
                            raise GradcheckError(msg)
                        return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, gen_non_contig_grad_outputs=False,
                  raise_exception=True, nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
                  check_batched_grad=False, check_fwd_over_rev=False, check_rev_over_rev=True, fast_mode=False,
                  masked=False):
    """True if the second derivatives of func match finite differences of its gradients."""
    import ctorch
    inputs = _as_tuple(inputs)
    outputs = _flat_outputs(func(*inputs))
    if grad_outputs is None:
        g = ctorch.Generator()
        g.manual_seed(0)
        grad_outputs = tuple(ctorch.randn(tuple(o.shape), dtype=o.dtype, generator=g).requires_grad_(True)
                             for o in outputs)
    else:
        grad_outputs = _as_tuple(grad_outputs)
    n_in = len(inputs)
    diff_idx = [k for k, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def new_func(*args):
        ins, gos = args[:n_in], args[n_in:]
        outs = _flat_outputs(func(*ins))
        diff_ins = tuple(ins[k] for k in diff_idx)
        gs = _grad(tuple(outs), diff_ins, grad_outputs=tuple(gos), create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(new_func, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
