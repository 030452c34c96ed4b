"""Custom autograd.Function against torch: saved tensors, needs_input_grad, mark_dirty,
mark_non_differentiable, materialize grads, once_differentiable, setup_context, errors,
double backward."""
import pytest
import torch

import ctorch


def make_classes(lib):
    class Cube(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.save_for_backward(x)
            ctx.k = k
            return x * x * x * k

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * 3 * x * x * ctx.k, None

    class Two(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            ctx.save_for_backward(x, y)
            ctx.flags = ctx.needs_input_grad
            return x * y, x + y

        @staticmethod
        def backward(ctx, ga, gb):
            x, y = ctx.saved_tensors
            return ga * y + gb, ga * x + gb

    class SaveOut(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            out = x.exp()
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx, g):
            out, = ctx.saved_tensors
            return g * out

    class Dirty(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class NonDiff(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            idx = (x * 0).to_dtype(lib.int64) if hasattr(x, "to_dtype") else None
            out = x * 2
            mask = x * 0
            ctx.mark_non_differentiable(mask)
            return out, mask

        @staticmethod
        def backward(ctx, g, gmask):
            return g * 2

    class NoMat(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 1, x * 2

        @staticmethod
        def backward(ctx, g1, g2):
            ctx.seen = (g1 is None, g2 is None)
            r = 0
            if g1 is not None:
                r = r + g1
            if g2 is not None:
                r = r + g2 * 2
            return r

    class Once(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @lib.autograd.function.once_differentiable
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * 2 * x

    class Setup(lib.autograd.Function):
        @staticmethod
        def forward(x, k):
            return x * k

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.k = inputs[1]

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None

    class BadCount(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    return dict(Cube=Cube, Two=Two, SaveOut=SaveOut, Dirty=Dirty, NonDiff=NonDiff, NoMat=NoMat, Once=Once,
                Setup=Setup, BadCount=BadCount)


C = make_classes(ctorch)
T = make_classes(torch)


def grads_of(lib, cls, vals, *extra, outputs=lambda r: r):
    x = lib.tensor(vals, requires_grad=True)
    r = outputs(cls.apply(x, *extra))
    r.backward(lib.ones(len(vals)))
    return x.grad.tolist(), r


def test_basic_and_names():
    cg, cr = grads_of(ctorch, C["Cube"], [1.0, 2.0], 3)
    tg, tr = grads_of(torch, T["Cube"], [1.0, 2.0], 3)
    assert cg == tg
    assert cr.grad_fn.name() == "CubeBackward"


def test_two_outputs_and_needs_input_grad():
    for lib, cl in ((ctorch, C), (torch, T)):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = lib.tensor([3.0, 4.0])
        a, b = cl["Two"].apply(x, y)
        assert a.grad_fn is b.grad_fn
        (a * 2 + b).backward(lib.ones(2))
        assert x.grad.tolist() == [7.0, 9.0]
        assert a.grad_fn is not None


def test_saved_output():
    cg, _ = grads_of(ctorch, C["SaveOut"], [0.5, 1.0])
    tg, _ = grads_of(torch, T["SaveOut"], [0.5, 1.0])
    assert cg == pytest.approx(tg)


def test_mark_dirty():
    res = []
    for lib, cl in ((ctorch, C), (torch, T)):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 1
        z = cl["Dirty"].apply(y)
        assert z is y
        (z * z).backward(lib.ones(2))
        res.append(x.grad.tolist())
        leaf = lib.tensor([1.0], requires_grad=True)
        with pytest.raises(RuntimeError):
            cl["Dirty"].apply(leaf)
    assert res[0] == res[1]


def test_non_differentiable_output():
    for lib, cl in ((ctorch, C), (torch, T)):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        out, mask = cl["NonDiff"].apply(x)
        assert out.requires_grad and not mask.requires_grad


def test_materialize_grads_off():
    for lib, cl in ((ctorch, C), (torch, T)):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        a, b = cl["NoMat"].apply(x)
        a.backward(lib.ones(2))
        assert x.grad.tolist() == [1.0, 1.0]


def test_once_differentiable_and_setup_context():
    cg, _ = grads_of(ctorch, C["Once"], [1.0, -2.0])
    tg, _ = grads_of(torch, T["Once"], [1.0, -2.0])
    assert cg == tg
    cg, _ = grads_of(ctorch, C["Setup"], [1.0, -2.0], 5.0)
    tg, _ = grads_of(torch, T["Setup"], [1.0, -2.0], 5.0)
    assert cg == tg


def test_wrong_gradient_count():
    for lib, cl in ((ctorch, C), (torch, T)):
        x = lib.tensor([1.0], requires_grad=True)
        y = lib.tensor([1.0], requires_grad=True)
        with pytest.raises(RuntimeError):
            cl["BadCount"].apply(x, y).backward(lib.ones(1))


def test_no_record_without_grad():
    x = ctorch.tensor([1.0, 2.0])
    assert C["Cube"].apply(x, 2).grad_fn is None
    with ctorch.no_grad():
        assert C["Cube"].apply(ctorch.tensor([1.0], requires_grad=True), 2).grad_fn is None


def test_double_backward_through_function():
    res = []
    for lib, cl in ((ctorch, C), (torch, T)):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = cl["Cube"].apply(x, 1.0)
        g, = lib.autograd.grad(y, x, grad_outputs=lib.ones(2), create_graph=True)
        h, = lib.autograd.grad(g, x, grad_outputs=lib.ones(2))
        res.append(h.tolist())
    assert res[0] == res[1]


def test_saved_tensor_modified_in_place():
    for lib, cl in ((ctorch, C), (torch, T)):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 1
        z = cl["Cube"].apply(y, 1.0)
        with lib.no_grad():
            y.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace"):
            z.backward(lib.ones(2))
