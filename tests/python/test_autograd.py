"""Autograd engine and API against torch: gradients, broadcasting reduction, double
backward, grad(), hooks, retain_grad, grad modes, errors, long chains, memory."""
import gc
import resource

import numpy as np
import pytest
import torch

import ctorch
from helpers import assert_same, check_grad

BINARY = {
    "add": lambda lib, x, y: x + y,
    "add_alpha": lambda lib, x, y: lib.add(x, y, alpha=0.5),
    "sub": lambda lib, x, y: x - y,
    "sub_alpha": lambda lib, x, y: lib.sub(x, y, alpha=3),
    "mul": lambda lib, x, y: x * y,
    "div": lambda lib, x, y: x / (y * y + 1),
    "rdiv": lambda lib, x, y: 2.0 / (y * y + 1) + x,
    "rsub": lambda lib, x, y: 1 - x * y,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3,)), ((4, 1), (1, 5)), ((), (2, 2)), ((2, 1, 3), (4, 1))])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_grads(name, shapes, dtype):
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else {}
    check_grad(BINARY[name], *shapes, dtype=dtype, **tol)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_double_backward(name):
    check_grad(BINARY[name], (2, 3), (3,), create_graph=True)


UNARY = {
    "neg": lambda lib, x: -x,
    "exp": lambda lib, x: x.exp(),
    "view": lambda lib, x: x.view(3, 2) * 2,
    "reshape": lambda lib, x: x.reshape(-1).exp(),
    "clone": lambda lib, x: x.clone() * x,
    "chain": lambda lib, x: ((x * 2).exp() - x) / 3,
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_grads(name):
    check_grad(UNARY[name], (2, 3))
    check_grad(UNARY[name], (2, 3), create_graph=True)


def test_mixed_dtype_grads_cast_back():
    cx = ctorch.ones(3, dtype=ctorch.float32, requires_grad=True)
    cy = ctorch.ones(3, dtype=ctorch.float64, requires_grad=True)
    (cx * cy).backward(ctorch.ones(3, dtype=ctorch.float64))
    assert cx.grad.dtype == ctorch.float32 and cy.grad.dtype == ctorch.float64


def test_grad_fn_names_and_leaves():
    x = ctorch.ones(2, requires_grad=True)
    y = x * 2
    assert y.grad_fn.name() == "MulBackward0" and repr(y.grad_fn).startswith("<MulBackward0 object at")
    assert x.is_leaf and not y.is_leaf and y.requires_grad
    acc = y.grad_fn.next_functions[0][0]
    assert acc.name() == "AccumulateGrad" and acc.variable is x
    assert y.grad_fn is y.grad_fn
    z = ctorch.ones(2) * 2
    assert z.grad_fn is None and not z.requires_grad
    assert ctorch.tensor([1, 2]).requires_grad is False
    with pytest.raises(RuntimeError):
        ctorch.tensor([1, 2]).requires_grad_()


def test_accumulation_and_retain_graph():
    for lib in (torch, ctorch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * x
        y.backward(lib.ones(2), retain_graph=True)
        y.backward(lib.ones(2))
        assert x.grad.tolist() == [4.0, 8.0]
        with pytest.raises(RuntimeError):
            y.backward(lib.ones(2))


def test_errors_match_torch():
    for lib in (torch, ctorch):
        x = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError):
            (x * 2).backward()              # non-scalar without gradient
        with pytest.raises(RuntimeError):
            lib.ones(3).backward(lib.ones(3))  # does not require grad
        with pytest.raises(RuntimeError):
            (x * 2).backward(lib.ones(4))   # shape mismatch
        with pytest.raises(RuntimeError):
            x.add_(1)                        # in-place on a leaf
        a = x * 1
        b = a * a
        a.mul_(2)                            # saved tensor modified in place
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            b.backward(lib.ones(3))


def test_inplace_on_nonleaf_rebases_history():
    grads = []
    for lib in (torch, ctorch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        y.add_(x)
        y.mul_(3)
        assert y.grad_fn.name() == "MulBackward0"
        (y * y).backward(lib.ones(3))
        grads.append(x.grad.tolist())
        z = x * 2
        z.mul_(z)            # saves z, then overwrites it: both raise at backward
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.backward(lib.ones(3))
    np.testing.assert_allclose(grads[1], grads[0])


def test_autograd_grad_api():
    x = ctorch.tensor([1.0, 2.0], requires_grad=True)
    y = ctorch.tensor([3.0, 4.0], requires_grad=True)
    z = x * y
    gx, = ctorch.autograd.grad(z, x, grad_outputs=ctorch.ones(2), retain_graph=True)
    assert gx.tolist() == [3.0, 4.0] and x.grad is None
    w = ctorch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError):
        ctorch.autograd.grad(z, [x, w], grad_outputs=ctorch.ones(2), retain_graph=True)
    r = ctorch.autograd.grad(z, [x, w], grad_outputs=ctorch.ones(2), allow_unused=True, retain_graph=True)
    assert r[1] is None
    r = ctorch.autograd.grad(z, [x, w], grad_outputs=ctorch.ones(2), materialize_grads=True)
    assert r[1].tolist() == [0.0, 0.0]


def test_backward_inputs_restricts_accumulation():
    x = ctorch.tensor([1.0, 2.0], requires_grad=True)
    y = ctorch.tensor([3.0, 4.0], requires_grad=True)
    (x * y).backward(ctorch.ones(2), inputs=[x])
    assert x.grad.tolist() == [3.0, 4.0] and y.grad is None


def test_hooks_and_retain_grad():
    x = ctorch.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    h = x.register_hook(lambda g: seen.append(g.tolist()))
    y = x * 3
    y.retain_grad()
    y.register_hook(lambda g: g * 2)     # replaces the gradient flowing on
    (y * 1).backward(ctorch.ones(2))
    assert y.grad.tolist() == [1.0, 1.0]
    assert seen == [[6.0, 6.0]] and x.grad.tolist() == [6.0, 6.0]
    h.remove()
    (x * 1).backward(ctorch.ones(2))
    assert len(seen) == 1
    post = []
    x.register_post_accumulate_grad_hook(lambda t: post.append(t.grad.tolist()))
    (x * 1).backward(ctorch.ones(2))
    assert post == [[8.0, 8.0]]


def test_hook_exception_propagates():
    x = ctorch.ones(2, requires_grad=True)

    def bad(g):
        raise ValueError("boom")
    x.register_hook(bad)
    with pytest.raises(ValueError, match="boom"):
        (x * 2).backward(ctorch.ones(2))


def test_grad_modes():
    x = ctorch.ones(2, requires_grad=True)
    with ctorch.no_grad():
        assert not (x * 2).requires_grad
        with ctorch.enable_grad():
            assert (x * 2).requires_grad
    assert ctorch.is_grad_enabled()

    @ctorch.no_grad()
    def f():
        return x * 2
    assert not f().requires_grad
    with ctorch.set_grad_enabled(False):
        assert not ctorch.is_grad_enabled()
    assert ctorch.is_grad_enabled()
    with ctorch.inference_mode():
        assert not (x * 2).requires_grad and ctorch.is_inference_mode_enabled()
    assert not ctorch.is_inference_mode_enabled()


def test_detach():
    x = ctorch.ones(2, requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad and y.grad_fn is None
    z = x * 2
    z.detach_()
    assert z.grad_fn is None


def test_anomaly_mode_names_op():
    x = ctorch.tensor([0.0], requires_grad=True)
    with ctorch.autograd.detect_anomaly():
        y = x / x
        with pytest.raises(RuntimeError, match="DivBackward0"):
            y.backward(ctorch.ones(1))


def test_long_chain_no_recursion():
    x = ctorch.ones(1, requires_grad=True)
    y = x
    for _ in range(100000):
        y = y * 1.0
    y.backward(ctorch.ones(1))
    assert x.grad.tolist() == [1.0]
    del y
    gc.collect()


def test_memory_flat_over_training_steps():
    w = ctorch.ones(64, 64, requires_grad=True)
    xin = ctorch.ones(64, 64)

    def step():
        loss = ((w * xin).exp() * 0.001 - w) / 3
        loss.backward(ctorch.ones(64, 64))
        with ctorch.no_grad():
            w.sub_(w.grad, alpha=1e-3)
        w.grad = None

    for _ in range(200):
        step()
    gc.collect()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(2000):
        step()
    gc.collect()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert after - before < 20_000, "RSS grew by %d kB" % (after - before)


def test_double_backward_matches_torch_hvp():
    # d/dx of (d/dx sum(exp(x)*x)) . v
    def f(lib, x):
        return x.exp() * x
    for lib in (ctorch, torch):
        pass
    cx = ctorch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    tx = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    cg, = ctorch.autograd.grad(f(ctorch, cx), cx, grad_outputs=ctorch.ones(3), create_graph=True)
    tg, = torch.autograd.grad(f(torch, tx), tx, grad_outputs=torch.ones(3), create_graph=True)
    assert_same(cg, tg, rtol=1e-6, atol=1e-6, check_dtype=True)
    v = [0.3, 0.2, -0.1]
    ch, = ctorch.autograd.grad(cg, cx, grad_outputs=ctorch.tensor(v))
    th, = torch.autograd.grad(tg, tx, grad_outputs=torch.tensor(v))
    assert_same(ch, th, rtol=1e-6, atol=1e-6)


def test_repr_shows_grad_fn_like_torch():
    for expr in (lambda lib, x: x * 2, lambda lib, x: (x / 3).exp(), lambda lib, x: x.view(2, 1)):
        c = expr(ctorch, ctorch.tensor([1.0, 2.0], requires_grad=True))
        t = expr(torch, torch.tensor([1.0, 2.0], requires_grad=True))
        assert repr(c) == repr(t)


# ---------------------------------------------------------------- out=, views after in-place, saved indices

def _out_calls(lib, x):
    return {
        "add": lambda: lib.add(x, x, out=lib.empty(3)),
        "sign": lambda: lib.sign(x, out=lib.empty(3)),
        "sum": lambda: lib.sum(x, 0, out=lib.empty(())),
        "mm": lambda: lib.mm(x[None], x[:, None], out=lib.empty(1, 1)),
        "sort": lambda: lib.sort(x, out=(lib.empty(3), lib.empty(3, dtype=lib.long))),
        "cat": lambda: lib.cat([x, x], out=lib.empty(6)),
        "int_out": lambda: lib.add(x, x, out=lib.empty(3, dtype=lib.long)),
        "out_requires_grad": lambda: lib.add(x.detach(), 1, out=x),
        "argmax_nondiff": lambda: lib.argmax(x, out=lib.empty((), dtype=lib.long)),
        "eq_nondiff": lambda: lib.eq(x, x, out=lib.empty(3, dtype=lib.bool)),
    }


def test_out_with_input_requiring_grad_raises_like_torch():
    import torch
    tx = torch.randn(3, requires_grad=True)
    cx = ctorch.randn(3, requires_grad=True)
    tcalls, ccalls = _out_calls(torch, tx), _out_calls(ctorch, cx)
    for name in tcalls:
        try:
            tcalls[name]()
            terr = None
        except RuntimeError as e:
            terr = str(e)
        if terr is None:
            ccalls[name]()
        else:
            with pytest.raises(RuntimeError) as ei:
                ccalls[name]()
            assert str(ei.value) == terr, name
    with ctorch.no_grad():  # fine without grad mode
        o = ctorch.empty(3)
        ctorch.add(cx, cx, out=o)
        assert not o.requires_grad


def _views_after_inplace(lib):
    res = {}
    a = lib.tensor([[1.0, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]], requires_grad=True)
    b = a * 1
    v1, v2, v3 = b[0:2], b[1:3], b[:, 1]
    v1.mul_(2)  # through one view: the others see the new history
    res["names"] = (v1.grad_fn.name(), v2.grad_fn.name(), v3.grad_fn.name())
    ((v2 ** 2).sum() + (v3 ** 3).sum()).backward()
    res["g1"] = a.grad.tolist()
    a2 = lib.tensor([[1.0, 2, 3], [4, 5, 6]], dtype=lib.float64, requires_grad=True)
    b2 = a2.clone()
    w1, w2 = b2[0], b2[:, 0]
    w1.sin_()
    w2.mul_(3)
    (b2.sum() + (w1 * w2[0]).sum()).backward()
    res["g2"] = a2.grad.tolist()
    a3 = lib.tensor([1.0, 2, 3, 4], dtype=lib.float64, requires_grad=True)
    b3 = a3 * 2
    u = b3[1:]
    b3.add_(a3 * a3)  # the base itself written in place
    (u * u).sum().backward()
    res["g3"] = a3.grad.tolist()
    return res


def test_other_views_after_inplace_through_a_view():
    import torch
    t, c = _views_after_inplace(torch), _views_after_inplace(ctorch)
    assert c["names"] == ("AsStridedBackward0",) * 3 == t["names"]
    for k in ("g1", "g2", "g3"):
        np.testing.assert_allclose(np.array(c[k]), np.array(t[k]), rtol=1e-6)


def test_index_tensor_modified_inplace_before_backward():
    import torch
    for lib in (torch, ctorch):
        cases = []
        x = lib.tensor([1.0, 2, 3, 4], requires_grad=True)
        idx = lib.tensor([0, 2])
        y = x[idx]
        idx.add_(1)
        cases.append(y)
        x = lib.tensor([1.0, 2, 3, 4], requires_grad=True)
        m = lib.tensor([True, False, True, False])
        y = x[m]
        m.logical_not_()
        cases.append(y)
        x = lib.tensor([[1.0, 2], [3, 4]], requires_grad=True)
        idx = lib.tensor([1, 0])
        y = x[idx, 1]
        idx.zero_()
        cases.append(y)
        for y in cases:
            with pytest.raises(RuntimeError, match="modified by an inplace operation"):
                (y * y).sum().backward()
    # an unrelated in-place change of a basic integer index is fine
    x = ctorch.tensor([1.0, 2, 3], requires_grad=True)
    i = ctorch.tensor(1)
    y = x[i]
    i.add_(1)
    y.backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0]
