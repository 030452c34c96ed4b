"""Shape and view ops against torch: values, dtypes, shapes, view-ness (storage sharing),
copies, conversions, and exception classes for bad inputs."""
import pytest
import torch

import ctorch
from helpers import ALL_DTYPES, DTYPES, assert_same, check, make_pair

SOME_DTYPES = ["bool", "uint8", "int32", "int64", "float16", "bfloat16", "float32", "float64"]

# ops that return views of a (2, 3, 4) input: name -> fn(lib, x)
VIEW_OPS = {
    "view": lambda lib, x: x.contiguous().view(4, 6),
    "view_neg": lambda lib, x: x.contiguous().view(-1, 4),
    "view_as": lambda lib, x: x.contiguous().view_as(lib.zeros(6, 4)),
    "reshape_as": lambda lib, x: x.reshape_as(lib.zeros(4, 6)),
    "flatten": lambda lib, x: x.flatten(),
    "flatten_1": lambda lib, x: lib.flatten(x, 1),
    "flatten_neg": lambda lib, x: x.flatten(start_dim=-2, end_dim=-1),
    "flatten_same": lambda lib, x: x.flatten(1, 1),
    "unflatten": lambda lib, x: x.unflatten(2, (2, 2)),
    "unflatten_neg": lambda lib, x: lib.unflatten(x, -1, (-1, 2)),
    "ravel": lambda lib, x: lib.ravel(x),
    "squeeze_none": lambda lib, x: x.unsqueeze(1).squeeze(),
    "squeeze_dim": lambda lib, x: lib.squeeze(x.unsqueeze(-1), -1),
    "squeeze_nonone": lambda lib, x: x.squeeze(1),
    "squeeze_tuple": lambda lib, x: x.unsqueeze(0).unsqueeze(2).squeeze((0, 2, 3)),
    "squeeze_varargs": lambda lib, x: x.unsqueeze(0).unsqueeze(2).squeeze(0, 2),
    "unsqueeze0": lambda lib, x: x.unsqueeze(0),
    "unsqueeze_last": lambda lib, x: lib.unsqueeze(x, 3),
    "unsqueeze_neg": lambda lib, x: x.unsqueeze(-2),
    "permute_varargs": lambda lib, x: x.permute(2, 0, 1),
    "permute_tuple": lambda lib, x: lib.permute(x, (1, -1, 0)),
    "permute_kw": lambda lib, x: x.permute(dims=[2, 1, 0]),
    "transpose": lambda lib, x: x.transpose(0, 2),
    "transpose_neg": lambda lib, x: lib.transpose(x, -1, -2),
    "swapaxes": lambda lib, x: lib.swapaxes(x, 0, 1),
    "swapdims": lambda lib, x: x.swapdims(-1, 0),
    "T": lambda lib, x: x.T,
    "mT": lambda lib, x: x.mT,
    "mH": lambda lib, x: x.mH,
    "H": lambda lib, x: x.select(0, 0).H,
    "t": lambda lib, x: x.select(0, 1).t(),
    "t_fn": lambda lib, x: lib.t(lib.select(x, 2, 0)),
    "adjoint": lambda lib, x: x.adjoint(),
    "expand": lambda lib, x: x.unsqueeze(0).expand(3, -1, -1, -1),
    "expand_tuple": lambda lib, x: x.select(2, 0).unsqueeze(-1).expand((2, 3, 5)),
    "expand_as": lambda lib, x: x.select(1, 0).unsqueeze(1).expand_as(x),
    "broadcast_to": lambda lib, x: lib.broadcast_to(x, (2, 2, 3, 4)),
    "narrow": lambda lib, x: x.narrow(2, 1, 2),
    "narrow_neg": lambda lib, x: lib.narrow(x, -1, -3, 2),
    "narrow_empty": lambda lib, x: x.narrow(1, 3, 0),
    "select": lambda lib, x: x.select(1, 2),
    "select_neg": lambda lib, x: lib.select(x, -1, -1),
    "movedim": lambda lib, x: x.movedim(0, 2),
    "movedim_tuple": lambda lib, x: lib.movedim(x, (0, 1), (2, 0)),
    "moveaxis": lambda lib, x: lib.moveaxis(x, -1, 0),
    "diagonal": lambda lib, x: x.diagonal(),
    "diagonal_args": lambda lib, x: lib.diagonal(x, 1, 1, 2),
    "diagonal_neg": lambda lib, x: x.diagonal(offset=-1, dim1=-1, dim2=0),
    "diagonal_big": lambda lib, x: x.diagonal(7, 1, 2),
    "as_strided": lambda lib, x: lib.as_strided(x.contiguous(), (3, 2), (2, 5)),
    "as_strided_off": lambda lib, x: x.contiguous().as_strided((2, 2), (1, 4), 3),
    "atleast_1d": lambda lib, x: lib.atleast_1d(x),
    "atleast_3d": lambda lib, x: lib.atleast_3d(x),
}


@pytest.mark.parametrize("name", sorted(VIEW_OPS))
@pytest.mark.parametrize("dt", ["float32", "int64", "bool", "bfloat16"])
def test_view_ops_values(name, dt):
    check(VIEW_OPS[name], make_pair((2, 3, 4), dt, seed=1))


@pytest.mark.parametrize("name", sorted(VIEW_OPS))
def test_view_ops_noncontig(name):
    c, t = make_pair((4, 3, 2), "float64", seed=2)
    # a (2, 3, 4) non-contiguous input
    check(VIEW_OPS[name], (c.permute(2, 1, 0), t.permute(2, 1, 0)))


# views that can be written through (no overlapping elements)
WRITABLE = [n for n in VIEW_OPS if not n.startswith(("expand", "broadcast", "view", "as_strided", "reshape",
                                                      "flatten", "ravel"))]


@pytest.mark.parametrize("name", sorted(WRITABLE))
def test_views_share_storage(name):
    def fn(lib, x):
        base = x.clone()
        v = VIEW_OPS[name](lib, base)
        v.fill_(7)
        v.add_(1)
        return base

    check(fn, make_pair((2, 3, 4), "float32", seed=3))
    c = make_pair((2, 3, 4), "float32", seed=3)[0]
    v = VIEW_OPS[name](ctorch, c)
    if v.numel():
        assert v.data_ptr() >= c.data_ptr() and v.data_ptr() < c.data_ptr() + c.nbytes


def test_view_reshape_flatten_share_when_possible():
    c = ctorch.zeros(2, 3, 4)
    for v in (c.view(6, 4), c.reshape(4, 6), c.flatten(), c.ravel(), c.view_as(ctorch.zeros(24)),
              c.as_strided((2, 2), (1, 4), 3), c.unflatten(0, (1, 2))):
        assert v.data_ptr() >= c.data_ptr()
        v.add_(1)
    assert c.as_strided((1,), (1,), 0).item() == 6.0  # element 0 seen by the six views covering it
    e = ctorch.zeros(3)
    x = e.unsqueeze(0).expand(4, 3)
    assert x.data_ptr() == e.data_ptr() and x.stride() == (0, 1)
    e.fill_(2)
    assert x.tolist() == [[2.0] * 3] * 4
    # non-viewable reshape / flatten copy (as torch)
    t = ctorch.zeros(3, 4).t()
    f = t.flatten()
    f.fill_(1)
    assert t.tolist() == [[0.0] * 3] * 4


def test_view_errors():
    x = make_pair((2, 3, 4), "float32", seed=4)
    bad = [
        lambda lib, x: x.view(5, 5),
        lambda lib, x: x.transpose(0, 1).view(-1),
        lambda lib, x: x.flatten(2, 0),
        lambda lib, x: x.flatten(0, 3),
        lambda lib, x: x.unflatten(1, (2, 2)),
        lambda lib, x: x.unflatten(1, ()),
        lambda lib, x: x.unflatten(5, (1, 3)),
        lambda lib, x: x.squeeze(3),
        lambda lib, x: x.unsqueeze(4),
        lambda lib, x: x.unsqueeze(-5),
        lambda lib, x: x.permute(0, 1),
        lambda lib, x: x.permute(0, 1, 1),
        lambda lib, x: x.permute(0, 1, 3),
        lambda lib, x: x.transpose(0, 3),
        lambda lib, x: x.t(),
        lambda lib, x: x.H,
        lambda lib, x: x.select(0, 0).select(0, 0).mT,
        lambda lib, x: x.select(0, 0).select(0, 0).H,
        lambda lib, x: x.expand(3, 3, 4),
        lambda lib, x: x.expand(3, 4),
        lambda lib, x: x.expand(-1, 2, 3, 4),
        lambda lib, x: x.expand(2, -2, 4),
        lambda lib, x: lib.broadcast_to(x, (3, 4)),
        lambda lib, x: x.narrow(0, 1, 2),
        lambda lib, x: x.narrow(0, 3, 0),
        lambda lib, x: x.narrow(0, -3, 1),
        lambda lib, x: x.narrow(0, 0, -1),
        lambda lib, x: x.narrow(3, 0, 1),
        lambda lib, x: x.select(1, 3),
        lambda lib, x: x.select(1, -4),
        lambda lib, x: x.select(3, 0),
        lambda lib, x: x.movedim((0, 1), (1,)),
        lambda lib, x: x.movedim((0, 0), (1, 2)),
        lambda lib, x: x.movedim(0, 3),
        lambda lib, x: x.diagonal(0, 1, 1),
        lambda lib, x: x.diagonal(0, 1, 3),
        lambda lib, x: lib.as_strided(x, (2, 2), (1,)),
        lambda lib, x: lib.as_strided(x, (5, 5), (5, 1)),
        lambda lib, x: lib.as_strided(x, (2,), (1,), 30),
        lambda lib, x: lib.as_strided(x, (2,), (-1,), 3),
    ]
    for fn in bad:
        check(fn, x)


@pytest.mark.parametrize("dt", ["float32", "int16"])
def test_zero_dim_and_empty_views(dt):
    s = make_pair((), dt, seed=5)
    e = make_pair((0, 3), dt, seed=6)
    fns = [
        lambda lib, x: x.flatten(), lambda lib, x: x.ravel(), lambda lib, x: x.unsqueeze(0),
        lambda lib, x: x.unsqueeze(-1), lambda lib, x: x.squeeze(), lambda lib, x: x.squeeze(0),
        lambda lib, x: x.squeeze(-1), lambda lib, x: x.permute(()), lambda lib, x: x.transpose(0, -1),
        lambda lib, x: x.t(), lambda lib, x: x.T, lambda lib, x: x.expand(2, 3), lambda lib, x: x.expand(()),
        lambda lib, x: x.movedim(0, 0), lambda lib, x: x.reshape(1, 1), lambda lib, x: x.view(-1),
        lambda lib, x: lib.atleast_1d(x), lambda lib, x: lib.atleast_2d(x), lambda lib, x: lib.atleast_3d(x),
        lambda lib, x: x.narrow(0, 0, 1), lambda lib, x: x.select(0, 0), lambda lib, x: x.unbind(),
        lambda lib, x: x.split(1), lambda lib, x: x.chunk(2), lambda lib, x: x.tensor_split(2),
        lambda lib, x: x.diagonal(), lambda lib, x: x.squeeze(1), lambda lib, x: x.unflatten(0, (1,)),
        lambda lib, x: lib.hsplit(x, 1), lambda lib, x: x.mT, lambda lib, x: x.flip(0), lambda lib, x: x.flip(()),
        lambda lib, x: x.roll(1), lambda lib, x: x.repeat(2, 2), lambda lib, x: x.repeat(()),
        lambda lib, x: x.repeat_interleave(2), lambda lib, x: lib.tile(x, (2,)), lambda lib, x: lib.diag(x),
        lambda lib, x: lib.tril(x), lambda lib, x: lib.cat([x, x]), lambda lib, x: lib.stack([x, x]),
        lambda lib, x: lib.hstack([x, x]), lambda lib, x: lib.vstack([x, x]), lambda lib, x: lib.dstack([x, x]),
        lambda lib, x: lib.column_stack([x, x]), lambda lib, x: lib.diag_embed(x), lambda lib, x: lib.fliplr(x),
        lambda lib, x: lib.flipud(x),
    ]
    for fn in fns:
        check(fn, s)
    efns = fns + [lambda lib, x: x.split(0, 0), lambda lib, x: x.chunk(3, 0), lambda lib, x: x.tensor_split(2, 0),
                  lambda lib, x: x.roll(2, 1), lambda lib, x: x.flip(0, 1), lambda lib, x: x.repeat(2, 0, 3),
                  lambda lib, x: lib.cat([x, x], 1), lambda lib, x: x.repeat_interleave(2, dim=0),
                  lambda lib, x: x.diagonal(1), lambda lib, x: lib.triu(x, -1)]
    for fn in efns:
        check(fn, e)


# ------------------------------------------------------------------ split family


@pytest.mark.parametrize("dt", SOME_DTYPES)
@pytest.mark.parametrize("noncontig", [False, True])
def test_split_family(dt, noncontig):
    x = make_pair((5, 6), dt, seed=7, noncontig=noncontig)
    fns = [
        lambda lib, x: x.unbind(), lambda lib, x: lib.unbind(x, -1), lambda lib, x: x.unbind(dim=1),
        lambda lib, x: x.chunk(2), lambda lib, x: lib.chunk(x, 4, 1), lambda lib, x: x.chunk(10, dim=-1),
        lambda lib, x: x.split(2), lambda lib, x: lib.split(x, 4, 1), lambda lib, x: x.split([1, 4]),
        lambda lib, x: lib.split(x, [2, 0, 4], dim=-1), lambda lib, x: x.split(10),
        lambda lib, x: x.split(split_size=2), lambda lib, x: x.split(split_size=[1, 4], dim=0),
        lambda lib, x: lib.split(x, split_size_or_sections=3, dim=1),
        lambda lib, x: x.split(split_size_or_sections=2),
        lambda lib, x: x.split_with_sizes([3, 2]), lambda lib, x: lib.split_with_sizes(x, [1, 5], 1),
        lambda lib, x: x.tensor_split(3), lambda lib, x: lib.tensor_split(x, 4, dim=1),
        lambda lib, x: x.tensor_split([1, 3]), lambda lib, x: lib.tensor_split(x, (2, 1, 9), 1),
        lambda lib, x: x.tensor_split((-2, 4)), lambda lib, x: x.tensor_split(lib.tensor([1, 4]), dim=1),
        lambda lib, x: x.tensor_split(lib.tensor(2)),
        lambda lib, x: lib.hsplit(x, 3), lambda lib, x: x.hsplit([1, 2]), lambda lib, x: lib.vsplit(x, [2]),
        lambda lib, x: lib.hsplit(x.select(0, 0), 2), lambda lib, x: x.unsqueeze(-1).expand(5, 6, 4).dsplit(2),
        lambda lib, x: lib.dsplit(x.unsqueeze(0).expand(2, 5, 6), [2, 3]),
    ]
    for fn in fns:
        check(fn, x)


def test_split_views_share_storage():
    for lib in (ctorch, torch):
        x = lib.zeros(4, 6)
        for part in x.split(2, 1):
            part.add_(1)
        for part in x.chunk(2):
            part.add_(1)
        for part in x.tensor_split([1, 3]):
            part.add_(1)
        for part in x.unbind(1):
            part.add_(1)
        assert x.tolist() == [[4.0] * 6] * 4


def test_split_errors():
    x = make_pair((5, 6), "float32", seed=8)
    s = make_pair((), "float32", seed=8)
    for fn in [lambda lib, x: x.split(0), lambda lib, x: x.split(-1), lambda lib, x: x.split([1, 2]),
               lambda lib, x: x.split([6, -1]), lambda lib, x: x.split(2, 2), lambda lib, x: x.chunk(0),
               lambda lib, x: x.chunk(-1), lambda lib, x: x.tensor_split(0), lambda lib, x: x.unbind(2),
               lambda lib, x: lib.hsplit(x, 4), lambda lib, x: lib.vsplit(x, 2), lambda lib, x: lib.dsplit(x, 2),
               lambda lib, x: lib.hsplit(x, 0)]:
        check(fn, x)
    for fn in [lambda lib, x: x.unbind(), lambda lib, x: x.split(1), lambda lib, x: x.chunk(1),
               lambda lib, x: x.tensor_split(1), lambda lib, x: lib.hsplit(x, 1), lambda lib, x: x.narrow(0, 0, 1),
               lambda lib, x: x.select(0, 0), lambda lib, x: lib.vsplit(x, 1), lambda lib, x: x.unflatten(0, (1,))]:
        check(fn, s)


# ------------------------------------------------------------------ copying ops

COPY_OPS = {
    "flip": lambda lib, x: x.flip(0),
    "flip_varargs": lambda lib, x: x.flip(0, 2),
    "flip_fn": lambda lib, x: lib.flip(x, (-1,)),
    "flip_all": lambda lib, x: lib.flip(x, [0, 1, 2]),
    "fliplr": lambda lib, x: lib.fliplr(x),
    "flipud": lambda lib, x: x.flipud(),
    "roll": lambda lib, x: x.roll(1, 0),
    "roll_flat": lambda lib, x: lib.roll(x, 5),
    "roll_none": lambda lib, x: x.roll(-3, dims=None),
    "roll_neg": lambda lib, x: x.roll(-7, -1),
    "roll_tuple": lambda lib, x: lib.roll(x, shifts=(1, -2), dims=(2, 1)),
    "roll_big": lambda lib, x: x.roll(100, 2),
    "repeat": lambda lib, x: x.repeat(2, 1, 3),
    "repeat_more": lambda lib, x: x.repeat(2, 1, 1, 2),
    "repeat_tuple": lambda lib, x: x.repeat((1, 2, 1)),
    "repeat_zero": lambda lib, x: x.repeat(1, 0, 1),
    "tile": lambda lib, x: lib.tile(x, (2,)),
    "tile_more": lambda lib, x: x.tile((2, 1, 1, 2)),
    "ri_int": lambda lib, x: x.repeat_interleave(2),
    "ri_dim": lambda lib, x: lib.repeat_interleave(x, 3, dim=1),
    "ri_neg": lambda lib, x: x.repeat_interleave(2, -1),
    "ri_tensor": lambda lib, x: x.repeat_interleave(lib.tensor([1, 0, 2]), dim=1),
    "ri_tensor1": lambda lib, x: lib.repeat_interleave(x, lib.tensor([2]), dim=0),
    "ri_out_size": lambda lib, x: x.repeat_interleave(lib.tensor([1, 2]), dim=0, output_size=3),
    "diag_embed": lambda lib, x: lib.diag_embed(x),
    "diag_embed_args": lambda lib, x: x.diag_embed(1, 0, 2),
    "diag_embed_neg": lambda lib, x: lib.diag_embed(x, offset=-2, dim1=-1, dim2=1),
    "tril": lambda lib, x: x.tril(),
    "tril_k": lambda lib, x: lib.tril(x, 1),
    "tril_neg": lambda lib, x: lib.tril(x, diagonal=-2),
    "triu": lambda lib, x: lib.triu(x),
    "triu_k": lambda lib, x: x.triu(2),
    "triu_neg": lambda lib, x: x.triu(-1),
    "triu_big": lambda lib, x: x.triu(-10),
    "diag_2d": lambda lib, x: lib.diag(x.select(0, 1)),
    "diag_2d_k": lambda lib, x: x.select(0, 0).diag(-1),
    "diag_1d": lambda lib, x: lib.diag(x.select(0, 0).select(0, 1), 2),
    "diag_1d_neg": lambda lib, x: x.select(0, 0).select(0, 1).diag(-1),
}


@pytest.mark.parametrize("name", sorted(COPY_OPS))
@pytest.mark.parametrize("dt", SOME_DTYPES)
def test_copy_ops(name, dt):
    check(COPY_OPS[name], make_pair((2, 3, 4), dt, seed=9))


@pytest.mark.parametrize("name", sorted(COPY_OPS))
def test_copy_ops_noncontig_and_fresh_storage(name):
    c, t = make_pair((4, 3, 2), "int32", seed=10)
    check(COPY_OPS[name], (c.permute(2, 1, 0), t.permute(2, 1, 0)))
    # the result owns its storage: writing to it leaves the input alone
    before = c.tolist()
    r = COPY_OPS[name](ctorch, c.permute(2, 1, 0))
    r.fill_(100)
    assert c.tolist() == before


def test_inplace_tri():
    for dt in ["float32", "int64"]:
        x = make_pair((3, 4), dt, seed=11)
        check(lambda lib, x: x.clone().tril_(), x)
        check(lambda lib, x: x.clone().triu_(1), x)
        check(lambda lib, x: x.clone().t().tril_(-1), x)
        c = x[0].clone()
        assert c.tril_() is c


def test_copy_op_errors():
    x = make_pair((2, 3, 4), "float32", seed=12)
    for fn in [lambda lib, x: x.flip(0, 0), lambda lib, x: x.flip(3), lambda lib, x: lib.fliplr(x.select(0, 0).select(0, 0)),
               lambda lib, x: lib.flipud(x.select(0, 0).select(0, 0).select(0, 0)),
               lambda lib, x: x.roll((1, 2)), lambda lib, x: x.roll(1, (0, 1)), lambda lib, x: x.roll((), ()),
               lambda lib, x: x.roll(1, 3), lambda lib, x: x.repeat(2, 2), lambda lib, x: x.repeat(1, -1, 1),
               lambda lib, x: x.repeat_interleave(-1), lambda lib, x: x.repeat_interleave(2, 3),
               lambda lib, x: x.repeat_interleave(lib.tensor([1, 2]), dim=1),
               lambda lib, x: x.repeat_interleave(lib.tensor([1, -1, 1]), dim=1),
               lambda lib, x: x.repeat_interleave(lib.tensor([[1]]), dim=1),
               lambda lib, x: x.repeat_interleave(2, dim=0, output_size=3),
               lambda lib, x: lib.repeat_interleave(lib.tensor([[1, 2]])),
               lambda lib, x: lib.diag(x), lambda lib, x: lib.diag(x.select(0, 0).select(0, 0).select(0, 0)),
               lambda lib, x: lib.diag_embed(x, 0, 1, 1), lambda lib, x: lib.diag_embed(x, 0, 0, 4),
               lambda lib, x: lib.tril(x.select(0, 0).select(0, 0)), lambda lib, x: lib.triu(x.select(0, 0).select(0, 0))]:
        check(fn, x)


def test_repeat_interleave_repeats_only():
    for dt in ["int64", "int32"]:
        r = make_pair((4,), dt, low=0, high=3, seed=13)
        check(lambda lib, r: lib.repeat_interleave(r), r)
        total = int(r[1].sum())
        check(lambda lib, r: lib.repeat_interleave(r, output_size=total), r)
    check(lambda lib: lib.repeat_interleave(lib.tensor([], dtype=lib.int64)))


# ------------------------------------------------------------------ cat / stack


@pytest.mark.parametrize("dt", SOME_DTYPES)
def test_cat_stack(dt):
    a = make_pair((2, 3), dt, seed=14)
    b = make_pair((2, 3), dt, seed=15, noncontig=True)
    c = make_pair((4, 3), dt, seed=16)
    check(lambda lib, a, b, c: lib.cat([a, b, c]), a, b, c)
    check(lambda lib, a, b: lib.cat((a, b), 1), a, b)
    check(lambda lib, a, b: lib.cat([a, b], dim=-1), a, b)
    check(lambda lib, a, b: lib.concat([a, b], -2), a, b)
    check(lambda lib, a, b: lib.concatenate([a, b], axis=1), a, b)
    check(lambda lib, a: lib.cat([a]), a)
    check(lambda lib, a, b: lib.stack([a, b]), a, b)
    check(lambda lib, a, b: lib.stack((a, b, a), 1), a, b)
    check(lambda lib, a, b: lib.stack([a, b], dim=-1), a, b)
    check(lambda lib, a, b: lib.hstack([a, b]), a, b)
    check(lambda lib, a, c: lib.vstack([a, c]), a, c)
    check(lambda lib, a, c: lib.row_stack([a, c]), a, c)
    check(lambda lib, a, b: lib.dstack([a, b]), a, b)
    check(lambda lib, a, b: lib.column_stack([a, b]), a, b)
    v = make_pair((3,), dt, seed=17, noncontig=True)
    s = make_pair((), dt, seed=18)
    check(lambda lib, v: lib.hstack([v, v]), v)
    check(lambda lib, v: lib.vstack([v, v]), v)
    check(lambda lib, v: lib.dstack([v, v]), v)
    check(lambda lib, v, s: lib.hstack([v, s]), v, s)
    check(lambda lib, v, a: lib.column_stack([v, a.t()]), v, a)
    check(lambda lib, s: lib.column_stack([s, s]), s)
    check(lambda lib, v: lib.stack([v, v], 1), v)


@pytest.mark.parametrize("da", ["bool", "uint8", "int8", "int32", "float16", "bfloat16", "float32"])
@pytest.mark.parametrize("db", ["bool", "int16", "int64", "bfloat16", "float64"])
def test_cat_stack_promotion(da, db):
    a = make_pair((2, 2), da, seed=19)
    b = make_pair((1, 2), db, seed=20)
    check(lambda lib, a, b: lib.cat([a, b]), a, b)
    check(lambda lib, a, b: lib.stack([a, a, b.expand(2, 2)]), a, b)
    check(lambda lib, a, b: lib.vstack([a, b]), a, b)
    e = make_pair((0,), db, seed=21)
    check(lambda lib, a, e: lib.cat([e, a, e]), a, e)


def test_cat_empty_and_out():
    a = make_pair((2, 3), "float32", seed=22)
    e = make_pair((0,), "float32", seed=23)
    e2 = make_pair((0, 3), "float32", seed=24)
    check(lambda lib, e: lib.cat([e, e]), e)
    check(lambda lib, a, e: lib.cat([e, a], 1), a, e)
    check(lambda lib, a, e2: lib.cat([a, e2, a]), a, e2)
    check(lambda lib, e2: lib.stack([e2, e2], 2), e2)
    for lib, x in ((ctorch, a[0]), (torch, a[1])):
        out = lib.empty(0)
        r = lib.cat([x, x], out=out)
        assert r is out
        assert tuple(out.shape) == (4, 3)
        out2 = lib.empty(0)
        assert lib.stack([x, x], out=out2) is out2 and tuple(out2.shape) == (2, 2, 3)
    outs = [lib.cat([x, x], 1, out=lib.zeros(2, 6)) for lib, x in ((ctorch, a[0]), (torch, a[1]))]
    assert_same(outs[0], outs[1])
    # the result is a fresh tensor: writing to it leaves the inputs alone
    r = ctorch.cat([a[0], a[0]])
    r.fill_(0)
    assert a[0].tolist() == a[1].tolist()


def test_cat_stack_errors():
    a = make_pair((2, 3), "float32", seed=25)
    b = make_pair((2, 4), "float32", seed=26)
    s = make_pair((), "float32", seed=27)
    c3 = make_pair((2, 3, 1), "float32", seed=28)
    check(lambda lib: lib.cat([]))
    check(lambda lib: lib.stack([]))
    check(lambda lib: lib.hstack([]))
    check(lambda lib, a, b: lib.cat([a, b]), a, b)
    check(lambda lib, a, b: lib.cat([a, b], 2), a, b)
    check(lambda lib, a, b: lib.cat([a, b], -3), a, b)
    check(lambda lib, a, s: lib.cat([a, s]), a, s)
    check(lambda lib, a, c: lib.cat([a, c]), a, c3)
    check(lambda lib, a, b: lib.stack([a, b]), a, b)
    check(lambda lib, a: lib.stack([a, a], 3), a)
    check(lambda lib, a: lib.cat(a), a)


# ------------------------------------------------------------------ broadcast / meshgrid / atleast


def test_broadcast_family():
    a = make_pair((3, 1), "float32", seed=29)
    b = make_pair((4,), "int32", seed=30)
    s = make_pair((), "int64", seed=31)
    check(lambda lib, a, b: lib.broadcast_tensors(a, b), a, b)
    check(lambda lib, a, b, s: lib.broadcast_tensors(a, b, s), a, b, s)
    check(lambda lib, a: lib.broadcast_tensors(a), a)
    check(lambda lib, a, b: lib.broadcast_tensors(a, b.unsqueeze(0).expand(2, 4)), a, b)
    check(lambda lib, a: lib.broadcast_tensors(a, a.t()), a)
    check(lambda lib, a: lib.broadcast_tensors(a, lib.zeros(2)), a)
    check(lambda lib, b: b.broadcast_to((2, 4)), b)
    check(lambda lib, b: b.broadcast_to((3,)), b)
    for shapes in [((2, 1), (3,)), ((), (1,)), (5, (3, 1)), ((1, 4), (3, 1), (2, 1, 1)), (), ((0,), (1,)),
                   ((2,), (3,)), ((-1,),)]:
        check(lambda lib: lib.broadcast_shapes(*shapes))
    assert isinstance(ctorch.broadcast_shapes((2, 1), (3,)), ctorch.Size)
    # broadcast results are views of the inputs
    x = ctorch.zeros(3, 1)
    y, _ = ctorch.broadcast_tensors(x, ctorch.zeros(4))
    assert y.data_ptr() == x.data_ptr() and y.stride() == (1, 0)


@pytest.mark.parametrize("indexing", [None, "ij", "xy"])
def test_meshgrid(indexing):
    a = make_pair((3,), "float32", seed=32)
    b = make_pair((4,), "float32", seed=33, noncontig=True)
    s = make_pair((), "float32", seed=34)
    kw = {} if indexing is None else {"indexing": indexing}
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(lambda lib, a, b: lib.meshgrid(a, b, **kw), a, b)
        check(lambda lib, a, b: lib.meshgrid([a, b], **kw), a, b)
        check(lambda lib, a, b, s: lib.meshgrid(a, s, b, **kw), a, b, s)
        check(lambda lib, a: lib.meshgrid(a, **kw), a)
        check(lambda lib, a, b: lib.meshgrid(a, b.unsqueeze(0), **kw), a, b)
        check(lambda lib, a: lib.meshgrid(a, a.int(), **kw), a)
    check(lambda lib, a: lib.meshgrid(a, a, indexing="yx"), a)
    x = ctorch.zeros(3)
    g = ctorch.meshgrid(x, ctorch.zeros(2), indexing="ij")
    assert g[0].data_ptr() == x.data_ptr()


def test_atleast():
    s = make_pair((), "int32", seed=35)
    v = make_pair((3,), "float32", seed=36)
    m = make_pair((2, 3), "float64", seed=37, noncontig=True)
    t = make_pair((2, 3, 4), "float32", seed=38)
    for name in ["atleast_1d", "atleast_2d", "atleast_3d"]:
        for x in (s, v, m, t):
            check(lambda lib, x: getattr(lib, name)(x), x)
        check(lambda lib, s, v, m: getattr(lib, name)(s, v, m), s, v, m)
        check(lambda lib, s, v: getattr(lib, name)([s, v]), s, v)
        check(lambda lib, s, v: getattr(lib, name)((s, v)), s, v)
    x = ctorch.zeros(3)
    x2 = ctorch.atleast_2d(x)
    x2.add_(1)
    assert x.tolist() == [1.0, 1.0, 1.0]


# ------------------------------------------------------------------ conversions


@pytest.mark.parametrize("src", ALL_DTYPES)
def test_dtype_methods(src):
    x = make_pair((2, 3), src, seed=39, noncontig=True)
    for m in ["float", "double", "half", "bfloat16", "long", "int", "short", "char", "byte", "bool", "cpu"]:
        check(lambda lib, x: getattr(x, m)(), x)
    for dst in ALL_DTYPES:
        check(lambda lib, x: x.to(getattr(lib, dst)), x)
        check(lambda lib, x: x.to(dtype=getattr(lib, dst)), x)
        check(lambda lib, x: x.type_as(lib.zeros(1, dtype=getattr(lib, dst))), x)


def test_to_overloads():
    x = make_pair((2, 3), "float32", seed=40)
    o = make_pair((1,), "int16", seed=41)
    check(lambda lib, x: x.to("cpu"), x)
    check(lambda lib, x: x.to("cpu", lib.float64), x)
    check(lambda lib, x: x.to(device="cpu", dtype=lib.int32), x)
    check(lambda lib, x: x.to(lib.device("cpu")), x)
    check(lambda lib, x: x.to(lib.float16, non_blocking=True), x)
    check(lambda lib, x: x.to(lib.float32, True, True), x)
    check(lambda lib, x, o: x.to(o), x, o)
    check(lambda lib, x, o: x.to(o, copy=True), x, o)
    check(lambda lib, x: x.to(float), x)
    check(lambda lib, x: x.to(), x)
    for lib, t in ((ctorch, x[0]), (torch, x[1])):
        assert t.to(lib.float32) is t
        assert t.to("cpu") is t
        assert t.float() is t
        assert t.cpu() is t
        assert t.type_as(t) is t
        c = t.to(lib.float32, copy=True)
        assert c is not t and c.data_ptr() != t.data_ptr()
        d = t.to(lib.float64)
        assert d.dtype == lib.float64


def test_new_factories():
    for dt in ["float32", "int32", "bool"]:
        x = make_pair((2, 3), dt, seed=42)
        check(lambda lib, x: x.new_zeros(2, 4), x)
        check(lambda lib, x: x.new_zeros((3,)), x)
        check(lambda lib, x: x.new_ones([2, 2], dtype=lib.float64), x)
        check(lambda lib, x: x.new_ones(()), x)
        check(lambda lib, x: x.new_full((2, 3), 7), x)
        check(lambda lib, x: x.new_full((2,), 2.5, dtype=lib.float16), x)
        check(lambda lib, x: x.new_empty(2, 0).shape, x)
        check(lambda lib, x: str(x.new_empty((3, 2)).dtype), x)
        check(lambda lib, x: x.new_tensor([1, 2, 3]), x)
        check(lambda lib, x: x.new_tensor([[1.5, 2]], dtype=lib.float64), x)
        check(lambda lib, x: x.new_zeros(2, -1), x)
    r = ctorch.zeros(1).new_ones(2, requires_grad=True)
    assert r.requires_grad


@pytest.mark.parametrize("dt", ["float32", "int64", "bool", "bfloat16"])
def test_like_factories(dt):
    x = make_pair((2, 3), dt, seed=43, noncontig=True)
    check(lambda lib, x: lib.zeros_like(x), x)
    check(lambda lib, x: lib.ones_like(x), x)
    check(lambda lib, x: lib.ones_like(x, dtype=lib.int8), x)
    check(lambda lib, x: lib.full_like(x, 3), x)
    check(lambda lib, x: lib.full_like(x, 1.5, dtype=lib.float64), x)
    check(lambda lib, x: lib.empty_like(x).shape, x)
    check(lambda lib, x: str(lib.empty_like(x, dtype=lib.float16).dtype), x)
    check(lambda lib, x: lib.zeros_like(x).stride(), x)  # preserve_format keeps the transposed layout
    check(lambda lib, x: lib.zeros_like(x.select(1, 0)), x)
    check(lambda lib, x: lib.zeros_like(x.select(0, 0).select(0, 0)), x)
    r = ctorch.zeros_like(x[0], requires_grad=True) if dt == "float32" else None
    assert r is None or r.requires_grad


def test_argument_parsing_varargs_rule():
    # an int list is varargs only when it is the one positional parameter (torch's rule)
    x = make_pair((2, 3), "float32", seed=44)
    check(lambda lib, x: x.roll(1, 0), x)
    check(lambda lib, x: x.roll(1, 1), x)
    check(lambda lib, x: x.view(3, 2), x)
    check(lambda lib, x: x.expand(2, 2, 3), x)
    check(lambda lib, x: x.flip(1, 0), x)
    check(lambda lib, x: x.tile(2, 1), x)
    check(lambda lib, x: lib.zeros(2, 3, dtype=lib.int32), x)


def test_error_precedence():
    # which check fires first decides the exception class: these follow torch's order
    x = make_pair((3,), "float32", seed=45)
    e = make_pair((0,), "float32", seed=46)
    s = make_pair((), "float32", seed=47)
    for fn in [lambda lib, x: x.narrow(5, 1, -1), lambda lib, x: x.narrow(0, 5, -1), lambda lib, x: x.split(-1, 5),
               lambda lib, x: x.split([1, 2], 5), lambda lib, x: x.split([-1, 4], 0),
               lambda lib, x: x.tensor_split(0, 5), lambda lib, x: x.chunk(0, 5), lambda lib, x: x.unflatten(5, ()),
               lambda lib, x: x.repeat_interleave(-1, dim=3),
               lambda lib, x: x.repeat_interleave(lib.tensor([1, 2]), dim=3),
               lambda lib, x: x.unsqueeze(0).movedim((0, 0), (0, 3)), lambda lib, x: x.roll(1, 5)]:
        check(fn, x)
    for fn in [lambda lib, x: x.roll(1, 5), lambda lib, x: x.roll((1, 2), (0,)), lambda lib, x: x.roll((), ()),
               lambda lib, x: lib.cat([x, x], 3), lambda lib, x: lib.cat([x, x], -2),
               lambda lib, x: x.split(-1, -2)]:
        check(fn, e)
    for fn in [lambda lib, x: x.roll(1, 0), lambda lib, x: x.roll(1, -1), lambda lib, x: x.roll(1),
               lambda lib, x: x.repeat_interleave(2, dim=-1), lambda lib, x: x.repeat_interleave(-1, dim=0),
               lambda lib, x: x.repeat_interleave(-1, dim=2), lambda lib, x: x.repeat_interleave(2),
               lambda lib, x: x.unflatten(0, (1,)), lambda lib, x: x.unflatten(-2, (1,)),
               lambda lib, x: x.squeeze((-1, 0, -3)), lambda lib, x: x.squeeze((-3,)), lambda lib, x: x.flatten(0, 2),
               lambda lib, x: x.flatten(-2), lambda lib, x: x.movedim((0, -1), (0, 3))]:
        check(fn, s)


def test_deprecation_warnings_as_torch():
    import warnings
    # (torch warns once per process for T, so only ctorch's side is counted)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ctorch.zeros(2, 3, 4).T
        ctorch.zeros(()).T
        ctorch.meshgrid(ctorch.zeros(2), ctorch.zeros(3))
    assert [type(x.message) for x in w] == [UserWarning] * 3
    for lib in (ctorch, torch):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            lib.zeros(2, 3).T
            lib.meshgrid(lib.zeros(2), indexing="ij")


def test_out_variants():
    x = make_pair((3, 4), "float32", seed=48)
    v = make_pair((3,), "int32", seed=49)
    fns = [lambda lib, x, v, o: lib.tril(x, 1, out=o), lambda lib, x, v, o: lib.triu(x, out=o),
           lambda lib, x, v, o: lib.diag(x, -1, out=o), lambda lib, x, v, o: lib.diag(v, out=o),
           lambda lib, x, v, o: lib.hstack([x, x], out=o), lambda lib, x, v, o: lib.vstack([x, x.select(0, 1)], out=o),
           lambda lib, x, v, o: lib.dstack([x, x], out=o), lambda lib, x, v, o: lib.column_stack([v, v], out=o),
           lambda lib, x, v, o: lib.concat([x, x], 1, out=o), lambda lib, x, v, o: lib.concatenate([x, x], out=o)]
    for fn in fns:
        res = []
        for lib, xx, vv in ((ctorch, x[0], v[0]), (torch, x[1], v[1])):
            o = lib.empty(0, dtype=lib.float32 if fn is not fns[3] else lib.int32)
            r = fn(lib, xx, vv, o)
            assert r is o
            res.append(o)
        assert_same(res[0], res[1])


INPLACE_GEOMETRY = [
    lambda x: x.t_() if x.dim() <= 2 else x.transpose_(0, 1), lambda x: x.transpose_(-1, 0),
    lambda x: x.swapaxes_(0, 1), lambda x: x.swapdims_(1, -1), lambda x: x.unsqueeze_(1),
    lambda x: x.unsqueeze_(-1).squeeze_(), lambda x: x.unsqueeze_(0).squeeze_(0), lambda x: x.squeeze_((0, 1)),
    lambda x: x.contiguous().as_strided_((2, 2), (1, 3), 1),
]


@pytest.mark.parametrize("k", range(len(INPLACE_GEOMETRY)))
def test_inplace_geometry(k):
    fn = INPLACE_GEOMETRY[k]

    def run(lib, x):
        y = x.clone()
        r = fn(y)
        assert r is y
        return y

    check(run, make_pair((2, 3, 4), "float32", seed=50))
    check(run, make_pair((1, 3, 2), "int64", seed=51, noncontig=True))
    check(run, make_pair((2, 3), "int16", seed=52))


def test_inplace_geometry_errors():
    x = make_pair((2, 3, 4), "float32", seed=53)
    for fn in [lambda lib, x: x.clone().t_(), lambda lib, x: x.clone().transpose_(0, 3),
               lambda lib, x: x.clone().unsqueeze_(5), lambda lib, x: x.clone().squeeze_(4),
               lambda lib, x: x.clone().as_strided_((30,), (1,))]:
        check(fn, x)
