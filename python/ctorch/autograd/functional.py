"""ctorch.autograd.functional: vjp, jvp, jacobian, hessian, hvp, vhp — compositions of
autograd.grad (jvp by the double-vjp trick)."""
from .. import _C
from . import grad as _grad
from .grad_mode import enable_grad

Tensor = _C.Tensor

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


def _as_tuple(x, name, fn_name):
    is_tuple = isinstance(x, tuple)
    if not is_tuple:
        x = (x,)
    for i, e in enumerate(x):
        if not isinstance(e, Tensor):
            if is_tuple:
                raise TypeError("The %s given to %s must be either a Tensor or a tuple of Tensors but the value at "
                                "index %d has type %s." % (name, fn_name, i, type(e)))
            raise TypeError("The %s given to %s must be either a Tensor or a tuple of Tensors but the given %s has "
                            "type %s." % (name, fn_name, name, type(e)))
    return is_tuple, x


def _grad_preprocess(inputs, create_graph):
    res = []
    for inp in inputs:
        if create_graph and inp.requires_grad:
            res.append(inp.view_as(inp) if hasattr(inp, "view_as") else inp * 1)
        else:
            res.append(inp.detach().requires_grad_(True))
    return tuple(res)


def _fill_zeros(grads, refs):
    import ctorch
    return tuple(g if g is not None else ctorch.zeros_like(r) for g, r in zip(grads, refs))


def _detach_all(xs, create_graph):
    if create_graph:
        return xs
    return tuple(x.detach() for x in xs)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J)."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _grad_preprocess(inputs, create_graph)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", "vjp")
        if v is not None:
            _, v = _as_tuple(v, "v", "vjp")
        else:
            if len(outputs) != 1 or outputs[0].numel() != 1:
                raise RuntimeError("The vector v can only be None if the user-provided function returns a single "
                                   "Tensor with a single element.")
        diff = [o for o in outputs if o.requires_grad]
        if diff:
            gos = v if v is not None else None
            grads = _grad(tuple(o for o in outputs if o.requires_grad), inputs,
                          grad_outputs=tuple(g for o, g in zip(outputs, gos) if o.requires_grad) if gos else None,
                          create_graph=create_graph, allow_unused=True)
        else:
            grads = (None,) * len(inputs)
        if strict and any(g is None for g in grads):
            raise RuntimeError("The output of the user-provided function is independent of an input. This is not "
                               "allowed in strict mode.")
        grads = _fill_zeros(grads, inputs)
    outputs = _detach_all(outputs, create_graph)
    grads = _detach_all(grads, create_graph)
    return (outputs if is_outputs_tuple else outputs[0]), (grads if is_inputs_tuple else grads[0])


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v), computed with two vector-Jacobian products."""
    import ctorch
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jvp")
        inputs = _grad_preprocess(inputs, create_graph)
        if v is not None:
            _, v = _as_tuple(v, "v", "jvp")
        else:
            if len(inputs) != 1 or inputs[0].numel() != 1:
                raise RuntimeError("The vector v can only be None if the input to the user-provided function is a "
                                   "single Tensor with a single element.")
            v = (ctorch.ones_like(inputs[0]),)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", "jvp")
        # u: dummy cotangents that require grad; g(u) = J^T u is linear in u; d/du (g(u) . v) = J v
        us = tuple(ctorch.zeros_like(o).requires_grad_(True) for o in outputs)
        diff = [i for i, o in enumerate(outputs) if o.requires_grad]
        if diff:
            gs = _grad(tuple(outputs[i] for i in diff), inputs, grad_outputs=tuple(us[i] for i in diff),
                       create_graph=True, allow_unused=True)
            gs_used = [(g, vv) for g, vv in zip(gs, v) if g is not None]
            if gs_used:
                jv = _grad(tuple(g for g, _ in gs_used), tuple(us[i] for i in diff),
                           grad_outputs=tuple(vv for _, vv in gs_used), create_graph=create_graph,
                           allow_unused=True)
                full = [None] * len(outputs)
                for k, i in enumerate(diff):
                    full[i] = jv[k]
            else:
                full = [None] * len(outputs)
        else:
            full = [None] * len(outputs)
        if strict and any(j is None for j in full):
            raise RuntimeError("The output of the user-provided function is independent of the input. This is not "
                               "allowed in strict mode.")
        jvs = _fill_zeros(full, outputs)
    outputs = _detach_all(outputs, create_graph)
    jvs = _detach_all(jvs, create_graph)
    return (outputs if is_outputs_tuple else outputs[0]), (jvs if is_outputs_tuple else jvs[0])


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """Jacobian of func at inputs, one vjp per output element (reverse mode)."""
    import ctorch
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError('Expected strategy to be either "forward-mode" or "reverse-mode".')
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _grad_preprocess(inputs, create_graph)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function", "jacobian")
        jac = []
        for out in outputs:
            flat = out.reshape(-1)
            rows = [[] for _ in inputs]
            for j in range(flat.numel()):
                if out.requires_grad:
                    gs = _grad(flat[j], inputs, retain_graph=True, create_graph=create_graph, allow_unused=True)
                else:
                    gs = (None,) * len(inputs)
                for k, (g, inp) in enumerate(zip(gs, inputs)):
                    if g is None:
                        if strict:
                            raise RuntimeError("Output %d of the user-provided function is independent of input %d. "
                                               "This is not allowed in strict mode." % (outputs.index(out), k))
                        g = ctorch.zeros_like(inp)
                    rows[k].append(g)
            per_input = []
            for k, inp in enumerate(inputs):
                if rows[k]:
                    st = ctorch.stack(rows[k], 0)
                else:
                    st = ctorch.zeros((0,) + tuple(inp.shape), dtype=inp.dtype)
                per_input.append(st.reshape(tuple(out.shape) + tuple(inp.shape)))
            jac.append(tuple(_detach_all(tuple(per_input), create_graph)))
    if is_outputs_tuple:
        return tuple(j if is_inputs_tuple else j[0] for j in jac)
    return jac[0] if is_inputs_tuple else jac[0][0]


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    """Hessian of a scalar function."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "hessian")

    def ensure_single_output_function(*inp):
        out = func(*inp)
        is_out_tuple, t_out = _as_tuple(out, "outputs of the user-provided function", "hessian")
        if is_out_tuple or not isinstance(out, Tensor):
            raise RuntimeError("The function given to hessian should return a single Tensor")
        if out.numel() != 1:
            raise RuntimeError("The Tensor returned by the function given to hessian should contain a single element")
        return out.reshape(())

    def jac_func(*inp):
        inp = tuple(i.detach().requires_grad_(True) if not i.requires_grad else i for i in inp)
        return jacobian(ensure_single_output_function, inp, create_graph=True)

    res = jacobian(jac_func, inputs, create_graph=create_graph, strict=strict)
    if not is_inputs_tuple:
        return res[0][0]  # one input: a Tensor, not ((H,),)
    return res


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H)."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vhp")
        inputs = _grad_preprocess(inputs, create_graph)
        if v is not None:
            _, v = _as_tuple(v, "v", "vhp")
        outputs = func(*inputs)
        _, outputs = _as_tuple(outputs, "outputs of the user-provided function", "vhp")
        if len(outputs) != 1 or outputs[0].numel() != 1:
            raise RuntimeError("The function given to vhp should return a single Tensor with a single element")
        jac = _grad(outputs[0], inputs, create_graph=True, allow_unused=True)
        jac = _fill_zeros(jac, inputs)
        grads = _grad(jac, inputs, grad_outputs=v, create_graph=create_graph, allow_unused=True)
        grads = _fill_zeros(grads, inputs)
    out = outputs[0] if create_graph else outputs[0].detach()
    grads = _detach_all(grads, create_graph)
    return out, (grads if is_inputs_tuple else grads[0])


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v); equal to vhp for the symmetric Hessian of a C2 function."""
    return vhp(func, inputs, v, create_graph, strict)
