"""Autograd of the shape family (views, copies, conversions) against torch: gradients in
float64 and float32, non-contiguous inputs, double backward, grad_fn names."""
import numpy as np
import pytest
import torch

import ctorch
from helpers import check_grad

# fn(lib, x) -> tensor, input shape
UNARY = {
    "view_as": (lambda lib, x: x.view_as(x.reshape(-1)), (3, 4)),
    "reshape_as": (lambda lib, x: x.t().reshape_as(x), (3, 4)),
    "flatten": (lambda lib, x: x.flatten(1), (2, 3, 4)),
    "flatten_nc": (lambda lib, x: x.transpose(0, 2).flatten(), (2, 3, 4)),
    "unflatten": (lambda lib, x: x.unflatten(1, (2, 2)), (3, 4)),
    "ravel": (lambda lib, x: x.t().ravel(), (3, 4)),
    "squeeze": (lambda lib, x: x.squeeze(), (3, 1, 4, 1)),
    "squeeze_dim": (lambda lib, x: x.squeeze(1), (3, 1, 4)),
    "squeeze_dims": (lambda lib, x: x.squeeze((1, 3)), (3, 1, 4, 1)),
    "unsqueeze": (lambda lib, x: x.unsqueeze(-1), (3, 4)),
    "permute": (lambda lib, x: x.permute(2, 0, 1), (2, 3, 4)),
    "transpose": (lambda lib, x: x.transpose(0, 2), (2, 3, 4)),
    "swapaxes": (lambda lib, x: x.swapaxes(1, 2), (2, 3, 4)),
    "swapdims": (lambda lib, x: x.swapdims(0, 1), (2, 3, 4)),
    "t": (lambda lib, x: x.t(), (3, 4)),
    "t_1d": (lambda lib, x: x.t() * 2, (3,)),
    "T": (lambda lib, x: x.T, (3, 4)),
    "mT": (lambda lib, x: x.mT, (2, 3, 4)),
    "adjoint": (lambda lib, x: x.adjoint(), (2, 3, 4)),
    "expand": (lambda lib, x: x.expand(2, 3, 4), (3, 1)),
    "expand_as": (lambda lib, x: x.expand_as(lib.zeros(5, 3, 4, dtype=x.dtype)), (1, 4)),
    "broadcast_to": (lambda lib, x: lib.broadcast_to(x, (2, 3, 4)), (4,)),
    "narrow": (lambda lib, x: x.narrow(1, 1, 2), (3, 4)),
    "narrow_neg": (lambda lib, x: x.narrow(-1, -3, 2), (3, 4)),
    "select": (lambda lib, x: x.select(1, -1), (3, 4)),
    "movedim": (lambda lib, x: x.movedim(0, 2), (2, 3, 4)),
    "movedim_list": (lambda lib, x: lib.movedim(x, (0, 1), (2, 0)), (2, 3, 4)),
    "moveaxis": (lambda lib, x: lib.moveaxis(x, -1, 0), (2, 3, 4)),
    "as_strided": (lambda lib, x: x.as_strided((2, 2), (1, 2)), (3, 4)),
    "as_strided_overlap": (lambda lib, x: x.as_strided((3, 3), (1, 1), 1), (12,)),
    "as_strided_of_view": (lambda lib, x: x.t().narrow(0, 1, 2).as_strided((2, 3), (1, 2), 1), (3, 4)),
    "as_strided_of_expanded": (lambda lib, x: (x * 1).unsqueeze(1).expand(3, 2, 4).as_strided((3, 3), (2, 1), 1),
                               (3, 4)),
    "diagonal": (lambda lib, x: x.diagonal(), (3, 4)),
    "diagonal_off": (lambda lib, x: x.diagonal(1, 0, 2), (3, 2, 4)),
    "diagonal_neg": (lambda lib, x: lib.diagonal(x, -1), (4, 3)),
    "atleast_3d": (lambda lib, x: lib.atleast_3d(x), (3, 4)),
    "atleast_2d": (lambda lib, x: lib.atleast_2d(x), (3,)),
    "repeat": (lambda lib, x: x.repeat(2, 1, 3), (3, 4)),
    "repeat_ones": (lambda lib, x: x.repeat(1, 2), (3, 4)),
    "tile": (lambda lib, x: x.tile((2,)), (3, 4)),
    "repeat_interleave": (lambda lib, x: x.repeat_interleave(3), (2, 3)),
    "repeat_interleave_dim": (lambda lib, x: x.repeat_interleave(2, dim=1), (2, 3)),
    "flip": (lambda lib, x: x.flip(0, 1), (3, 4)),
    "fliplr": (lambda lib, x: x.fliplr(), (3, 4)),
    "flipud": (lambda lib, x: x.flipud(), (3, 4)),
    "roll": (lambda lib, x: x.roll(1, 0), (3, 4)),
    "roll_multi": (lambda lib, x: x.roll((1, -2), (0, 1)), (3, 4)),
    "roll_flat": (lambda lib, x: x.roll(5), (3, 4)),
    "diag_1d": (lambda lib, x: lib.diag(x, 1), (3,)),
    "diag_2d": (lambda lib, x: lib.diag(x, -1), (3, 4)),
    "diag_embed": (lambda lib, x: lib.diag_embed(x, 1, 0, 2), (2, 3)),
    "tril": (lambda lib, x: x.tril(), (4, 4)),
    "tril_k": (lambda lib, x: x.tril(-1), (3, 5)),
    "triu": (lambda lib, x: x.triu(1), (2, 3, 4)),
    "tril_": (lambda lib, x: (x * 1).tril_(), (4, 4)),
    "triu_": (lambda lib, x: (x * 1).triu_(-1), (4, 4)),
    "to_float": (lambda lib, x: x.to(lib.float32), (3, 4)),
    "float": (lambda lib, x: x.float() * 2, (3, 4)),
    "double": (lambda lib, x: x.double() * 2, (3, 4)),
    "type_as": (lambda lib, x: x.type_as(lib.zeros(1, dtype=lib.float32)), (3, 4)),
    "to_copy": (lambda lib, x: x.to(x.dtype, copy=True), (3, 4)),
    "chain": (lambda lib, x: x.t().unsqueeze(0).expand(2, 4, 3).narrow(2, 1, 2).select(0, 1), (3, 4)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_unary_grads(name, dtype):
    fn, shape = UNARY[name]
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else {}
    check_grad(fn, shape, dtype=dtype, **tol)


# as_strided addresses the storage (a transposed input means other elements) and view_as needs a
# contiguous input, so neither has a non-contiguous variant.
@pytest.mark.parametrize("name", sorted(n for n in UNARY if not n.startswith("as_strided") and n != "view_as"))
def test_unary_noncontiguous(name):
    fn, shape = UNARY[name]
    # the same values reached through a transpose of a transposed copy
    check_grad(lambda lib, x: fn(lib, x.mT.contiguous().mT) if x.dim() >= 2 else fn(lib, x.expand(2, -1).select(0, 1)), shape)


DOUBLE = ["permute", "expand", "narrow", "select", "diagonal", "repeat", "flip", "roll", "diag_1d", "diag_2d",
          "tril", "as_strided", "as_strided_overlap", "repeat_interleave_dim", "movedim", "squeeze", "chain"]


@pytest.mark.parametrize("name", DOUBLE)
def test_double_backward(name):
    fn, shape = UNARY[name]
    check_grad(lambda lib, x: fn(lib, x) * fn(lib, x), shape, create_graph=True)


LISTS = {
    "cat": (lambda lib, x, y: lib.cat([x, y, x], 1), [(3, 2), (3, 4)]),
    "cat_neg": (lambda lib, x, y: lib.cat([x, y], -2), [(2, 3), (4, 3)]),
    "cat_legacy_empty": (lambda lib, x, y: lib.cat([x, lib.zeros(0, dtype=x.dtype), y]), [(2, 3), (4, 3)]),
    "concat": (lambda lib, x, y: lib.concat([x, y]), [(2, 3), (4, 3)]),
    "concatenate": (lambda lib, x, y: lib.concatenate([x, y], axis=1), [(2, 3), (2, 1)]),
    "stack": (lambda lib, x, y: lib.stack([x, y], 1), [(2, 3), (2, 3)]),
    "hstack": (lambda lib, x, y: lib.hstack([x, y]), [(2, 3), (2, 1)]),
    "hstack_1d": (lambda lib, x, y: lib.hstack([x, y]), [(2,), (3,)]),
    "vstack": (lambda lib, x, y: lib.vstack([x, y]), [(3,), (2, 3)]),
    "row_stack": (lambda lib, x, y: lib.row_stack([x, y]), [(3,), (2, 3)]),
    "dstack": (lambda lib, x, y: lib.dstack([x, y]), [(2, 3), (2, 3)]),
    "column_stack": (lambda lib, x, y: lib.column_stack([x, y]), [(3,), (3, 2)]),
    "broadcast_tensors": (lambda lib, x, y: lib.broadcast_tensors(x, y)[0] * lib.broadcast_tensors(x, y)[1],
                          [(3, 1), (4,)]),
    "meshgrid": (lambda lib, x, y: lib.meshgrid(x, y, indexing="ij")[0] * lib.meshgrid(x, y, indexing="xy")[1].t(),
                 [(3,), (4,)]),
    "unbind": (lambda lib, x, y: x.unbind(1)[0] * 2 + x.unbind(1)[2] * y, [(3, 4), (3,)]),
    "chunk": (lambda lib, x, y: x.chunk(3, 1)[1] * y, [(3, 6), (3, 1)]),
    "split": (lambda lib, x, y: lib.split(x, 2, 0)[1] + y, [(5, 3), (3,)]),
    "split_sizes": (lambda lib, x, y: x.split([1, 3], 1)[1] * y, [(3, 4), (3, 1)]),
    "split_with_sizes": (lambda lib, x, y: x.split_with_sizes([2, 2], 1)[0] * y, [(3, 4), (1,)]),
    "tensor_split": (lambda lib, x, y: x.tensor_split(3, 1)[2] * y, [(3, 5), (3, 1)]),
    "tensor_split_idx": (lambda lib, x, y: lib.tensor_split(x, [1, 3], 1)[1] * y, [(3, 5), (3, 1)]),
    "hsplit": (lambda lib, x, y: x.hsplit(2)[1] * y, [(3, 4), (3, 1)]),
    "vsplit": (lambda lib, x, y: x.vsplit([1])[1] * y, [(3, 4), (4,)]),
    "dsplit": (lambda lib, x, y: x.dsplit(2)[0] * y, [(2, 3, 4), (2, 3, 1)]),
    "atleast_seq": (lambda lib, x, y: lib.atleast_2d((x, y))[0] * lib.atleast_2d((x, y))[1], [(3,), (2, 3)]),
    "repeat_interleave_t": (lambda lib, x, y: lib.repeat_interleave(x, lib.tensor([1, 0, 3]), dim=0) * 1.5 + y,
                            [(3, 2), (2,)]),
    "repeat_interleave_t1": (lambda lib, x, y: x.repeat_interleave(lib.tensor([2]), dim=1) * y, [(2, 3), (6,)]),
}


@pytest.mark.parametrize("name", sorted(LISTS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_multi_grads(name, dtype):
    fn, shapes = LISTS[name]
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else {}
    check_grad(fn, *shapes, dtype=dtype, **tol)


@pytest.mark.parametrize("name", ["cat", "stack", "unbind", "split_sizes", "tensor_split", "meshgrid"])
def test_multi_double_backward(name):
    fn, shapes = LISTS[name]
    check_grad(lambda lib, x, y: fn(lib, x, y) * fn(lib, x, y), *shapes, create_graph=True)


def _pair(shape):
    a = np.random.default_rng(1).uniform(-1, 1, size=shape)
    return (ctorch.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True))


NAMES = {
    "squeeze": lambda x: x.unsqueeze(0).squeeze(), "squeeze_dim": lambda x: x.unsqueeze(0).squeeze(0),
    "squeeze_dims": lambda x: x.unsqueeze(0).squeeze((0,)), "unsqueeze": lambda x: x.unsqueeze(0),
    "permute": lambda x: x.permute(1, 0), "transpose": lambda x: x.transpose(0, 1), "t": lambda x: x.t(),
    "swapaxes": lambda x: x.swapaxes(0, 1), "adjoint": lambda x: x.adjoint(), "mT": lambda x: x.mT,
    "T": lambda x: x.T, "H": lambda x: x.H, "mH": lambda x: x.mH,
    "expand": lambda x: x.narrow(0, 0, 1).expand(3, 4), "broadcast_to": lambda x: x.broadcast_to(2, 3, 4),
    "narrow": lambda x: x.narrow(1, 1, 2), "select": lambda x: x.select(1, 1), "movedim": lambda x: x.movedim(0, 1),
    "as_strided": lambda x: x.as_strided((2, 2), (1, 2)), "diagonal": lambda x: x.diagonal(),
    "unbind": lambda x: x.unbind(1)[1], "chunk": lambda x: x.chunk(2, 1)[0], "split": lambda x: x.split(2, 1)[1],
    "split_sizes": lambda x: x.split([1, 3], 1)[0], "split_with_sizes": lambda x: x.split_with_sizes([1, 3], 1)[1],
    "tensor_split": lambda x: x.tensor_split(3, 1)[0], "hsplit": lambda x: x.hsplit(2)[1],
    "cat": lambda x: torch_or(x).cat([x, x]), "stack": lambda x: torch_or(x).stack([x, x]),
    "hstack": lambda x: torch_or(x).hstack([x, x]), "column_stack": lambda x: torch_or(x).column_stack([x.select(0, 0), x.select(0, 1)]),
    "repeat": lambda x: x.repeat(2, 1), "tile": lambda x: x.tile(2, 1), "flip": lambda x: x.flip(0),
    "fliplr": lambda x: x.fliplr(), "roll": lambda x: x.roll(1, 0), "diag1": lambda x: torch_or(x).diag(x.select(0, 0)),
    "diag2": lambda x: torch_or(x).diag(x), "diag_embed": lambda x: torch_or(x).diag_embed(x),
    "tril": lambda x: x.tril(), "triu": lambda x: x.triu(), "tril_": lambda x: x.clone().tril_(),
    "to": lambda x: x.to(torch_or(x).float32), "float": lambda x: x.float(), "half": lambda x: x.half(),
    "type_as": lambda x: x.type_as(torch_or(x).zeros(1)), "view": lambda x: x.view(12), "flatten": lambda x: x.flatten(),
    "unflatten": lambda x: x.unflatten(1, (2, 2)), "ravel": lambda x: x.ravel(), "ravel_nc": lambda x: x.t().ravel(),
    "flatten_nc": lambda x: x.t().flatten(), "reshape_nc": lambda x: x.t().reshape(-1),
    "repeat_interleave": lambda x: x.repeat_interleave(torch_or(x).tensor([1, 2, 0]), dim=0),
    "meshgrid": lambda x: torch_or(x).meshgrid(x.select(0, 0), x.select(0, 1), indexing="ij")[1],
}


def torch_or(x):
    return torch if isinstance(x, torch.Tensor) else ctorch


@pytest.mark.parametrize("name", sorted(NAMES))
def test_grad_fn_names(name):
    c, t = _pair((3, 4))
    cr, tr = NAMES[name](c), NAMES[name](t)
    assert cr.grad_fn.name() == type(tr.grad_fn).__name__
    assert cr.requires_grad == tr.requires_grad


def test_no_grad_paths():
    c, t = _pair((3, 4))
    assert c.double().grad_fn is None and c.to(ctorch.float64) is c
    assert not c.long().requires_grad and not c.long().float().requires_grad
    assert ctorch.zeros_like(c).requires_grad is False
    assert ctorch.ones_like(c).grad_fn is None and c.new_zeros(2).requires_grad is False
    with ctorch.no_grad():
        assert c.t().grad_fn is None and ctorch.cat([c, c]).grad_fn is None


def test_views_refuse_inplace_and_split_unused_outputs():
    c, t = _pair((4, 3))
    a, b = c.split(2)
    g, = ctorch.autograd.grad(a * 3, c, grad_outputs=ctorch.ones(2, 3, dtype=c.dtype))
    tg, = torch.autograd.grad(t.split(2)[0] * 3, t, grad_outputs=torch.ones(2, 3, dtype=t.dtype))
    np.testing.assert_allclose(g.numpy(), tg.numpy())
    grads = []
    for lib, x in ((ctorch, c), (torch, t)):
        v = x.t() * 1
        w = v.t()
        w.mul_(2)  # in-place on a (transposed) view: the base v is rebased, as in torch
        g, = lib.autograd.grad((v * v).sum(), x)
        grads.append(g.tolist())
    assert grads[0] == grads[1]


def test_integer_outputs_not_differentiable():
    c, _ = _pair((3, 4))
    assert not c.long().t().requires_grad
    r = ctorch.repeat_interleave(ctorch.tensor([1, 2]))
    assert not r.requires_grad


def test_gradcheck_shape_ops():
    x = ctorch.tensor(np.random.default_rng(0).uniform(-1, 1, (3, 4)), requires_grad=True)
    assert ctorch.autograd.gradcheck(lambda a: ctorch.cat([a.t().flip(0), a.roll(1, 1).t()], 1).diagonal(), (x,))
    assert ctorch.autograd.gradcheck(lambda a: a.repeat(2, 1).tril(1).narrow(0, 1, 3), (x,))
    assert ctorch.autograd.gradcheck(lambda a: ctorch.stack(a.unbind(1), 0).expand(2, 4, 3), (x,))


INPLACE_GEOMETRY = {
    "t_": lambda y: y.t_(), "transpose_": lambda y: y.transpose_(0, 1), "swapaxes_": lambda y: y.swapaxes_(1, 0),
    "swapdims_": lambda y: y.swapdims_(0, 1), "squeeze_": lambda y: y.unsqueeze(0).squeeze_(),
    "squeeze_dim": lambda y: y.unsqueeze(0).squeeze_(0), "squeeze_dims": lambda y: y.unsqueeze(0).squeeze_((0,)),
    "unsqueeze_": lambda y: y.unsqueeze_(1), "as_strided_": lambda y: y.as_strided_((2, 2), (1, 2)),
}


@pytest.mark.parametrize("name", sorted(INPLACE_GEOMETRY))
def test_inplace_geometry(name):
    f = INPLACE_GEOMETRY[name]
    check_grad(lambda lib, x: f(x * 1) * 2, (3, 4))
    c, t = _pair((3, 4))
    cy, ty = c * 1, t * 1
    cr, tr = f(cy), f(ty)
    assert cr.grad_fn.name() == type(tr.grad_fn).__name__
    with pytest.raises(RuntimeError, match="leaf Variable"):
        f(c) if name.endswith("_") and "squeeze" not in name else c.squeeze_()


def test_atleast_returns_input():
    c, t = _pair((3, 4))
    assert ctorch.atleast_1d(c) is c and ctorch.atleast_2d(c) is c and torch.atleast_2d(t) is t
    assert ctorch.atleast_3d(c).grad_fn.name() == type(torch.atleast_3d(t).grad_fn).__name__


SHAPE_EDGE = {
    "cat_empty": (lambda lib, x, y: lib.cat([x, y], 0), [(0, 3), (2, 3)]),
    "narrow0": (lambda lib, x, y: x.narrow(0, 1, 0) + y, [(3, 2), (2,)]),
    "split0": (lambda lib, x, y: x.split([0, 3], 0)[1] * y, [(3, 2), (2,)]),
    "repeat0": (lambda lib, x, y: x.repeat(0, 2) + y, [(3, 2), (4,)]),
    "select1d": (lambda lib, x, y: x.select(0, 1) * y, [(3,), ()]),
    "unbind1d": (lambda lib, x, y: x.unbind(0)[2] * y, [(3,), ()]),
    "stack0d": (lambda lib, x, y: lib.stack([x, y, x]), [(), ()]),
    "expand0d": (lambda lib, x, y: x.expand(2, 3) * y, [(), (3,)]),
    "diag_embed1": (lambda lib, x, y: lib.diag_embed(x) * y, [(3,), (3, 1)]),
    "half": (lambda lib, x, y: (x.half() * 2).float() + y, [(3,), (3,)]),
    "bf16": (lambda lib, x, y: x.bfloat16().double() * y, [(3,), (3,)]),
    "roll_neg": (lambda lib, x, y: x.roll(-4, -1) * y, [(2, 3), (3,)]),
    "flip_empty": (lambda lib, x, y: x.flip(0) + y, [(0, 2), (2,)]),
    "tril_batch_neg": (lambda lib, x, y: x.tril(-5) + y, [(2, 3, 3), (3,)]),
    "movedim_multi": (lambda lib, x, y: lib.movedim(x, [0, 1], [-1, -2]) * y, [(2, 3, 4), (3, 2)]),
    "permute_neg": (lambda lib, x, y: x.permute(-1, 0, 1) * y, [(2, 3, 4), (3,)]),
}


@pytest.mark.parametrize("name", sorted(SHAPE_EDGE))
def test_edge_cases(name):
    """empty and 0-dim tensors, 16-bit round trips, negative dims; first and second order"""
    f, shapes = SHAPE_EDGE[name]
    check_grad(f, *shapes)
    check_grad(lambda lib, x, y: f(lib, x, y) * f(lib, x, y), *shapes, create_graph=True)


def test_zero_dim_transposes_return_input():
    c = ctorch.tensor(2.0, requires_grad=True)
    assert c.mT is c and c.H is c and c.mH is c
