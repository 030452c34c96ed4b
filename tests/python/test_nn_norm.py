"""Normalisation layers vs torch: batch/layer/group/instance/rms norm and local response norm,
functional and modules, forward and backward (input and parameter gradients), train vs eval,
running statistics after several steps (momentum, momentum=None, track_running_stats=False),
reprs, bad inputs."""
import warnings

import numpy as np
import pytest
import torch

import ctorch
from helpers import assert_same, check, check_grad, make_pair

F64 = dict(dtype="float64", rtol=1e-9, atol=1e-10)
F32 = dict(dtype="float32", rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ functional

@pytest.mark.parametrize("tol", [F64, F32])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(4, 3), (3, 3, 5), (2, 3, 4, 5), (2, 3, 2, 3, 2)])
def test_batch_norm_functional(tol, training, shape):
    stats = {}

    def f(lib, x, w, b):
        dt = x.dtype
        rm = lib.tensor([0.1, -0.2, 0.3], dtype=dt)
        rv = lib.tensor([1.5, 0.5, 2.0], dtype=dt)
        stats[lib] = (rm, rv)
        return lib.nn.functional.batch_norm(x, rm, rv, w, b, training, 0.3, 1e-3)

    check_grad(f, shape, (3,), (3,), **tol)
    assert_same(stats[ctorch], stats[torch], tol["rtol"], tol["atol"])
    check_grad(lambda lib, x: lib.nn.functional.batch_norm(x, None, None, training=True), shape, **tol)


@pytest.mark.parametrize("tol", [F64, F32])
def test_layer_group_rms_norm_functional(tol):
    F = lambda lib: lib.nn.functional  # noqa: E731
    check_grad(lambda lib, x, w, b: F(lib).layer_norm(x, (5,), w, b), (3, 4, 5), (5,), (5,), **tol)
    check_grad(lambda lib, x, w, b: F(lib).layer_norm(x, [4, 5], w, b, 1e-3), (3, 4, 5), (4, 5), (4, 5), **tol)
    check_grad(lambda lib, x: F(lib).layer_norm(x, (5,)), (2, 3, 5), **tol)
    check(lambda lib, x: F(lib).layer_norm(x, 5), make_pair((2, 5), seed=0))
    check_grad(lambda lib, x, w: F(lib).layer_norm(x, (5,), w), (7, 5), (5,), **tol)
    check_grad(lambda lib, x, w, b: F(lib).group_norm(x, 2, w, b), (3, 4, 5), (4,), (4,), **tol)
    check_grad(lambda lib, x, w, b: F(lib).group_norm(x, 3, w, b, 1e-2), (2, 6, 2, 3), (6,), (6,), **tol)
    check_grad(lambda lib, x: F(lib).group_norm(x, 1), (2, 4, 3), **tol)
    check_grad(lambda lib, x, w: F(lib).rms_norm(x, (5,), w), (3, 4, 5), (5,), **tol)
    check_grad(lambda lib, x, w: F(lib).rms_norm(x, (4, 5), w, 1e-3), (3, 4, 5), (4, 5), **tol)
    check_grad(lambda lib, x: F(lib).rms_norm(x, [5]), (3, 5), **tol)


@pytest.mark.parametrize("tol", [F64, F32])
def test_instance_norm_and_lrn_functional(tol):
    F = lambda lib: lib.nn.functional  # noqa: E731
    check_grad(lambda lib, x, w, b: F(lib).instance_norm(x, weight=w, bias=b), (3, 4, 5), (4,), (4,), **tol)
    check_grad(lambda lib, x: F(lib).instance_norm(x, eps=1e-2), (2, 3, 2, 3), **tol)

    kept = {}

    def stats(lib, x):
        dt = x.dtype
        rm = lib.tensor([0.1, -0.2, 0.3], dtype=dt)
        rv = lib.tensor([1.5, 0.5, 2.0], dtype=dt)
        kept[lib] = (rm, rv)
        return F(lib).instance_norm(x, rm, rv, momentum=0.2)
    check_grad(stats, (4, 3, 5), **tol)
    assert_same(kept[ctorch], kept[torch], tol["rtol"], tol["atol"])

    def eval_stats(lib, x):
        dt = x.dtype
        rm = lib.tensor([0.1, -0.2, 0.3], dtype=dt)
        rv = lib.tensor([1.5, 0.5, 2.0], dtype=dt)
        return F(lib).instance_norm(x, rm, rv, use_input_stats=False)
    check_grad(eval_stats, (4, 3, 5), **tol)
    check_grad(lambda lib, x: F(lib).local_response_norm(x, 3), (3, 6, 5), **tol)
    check_grad(lambda lib, x: F(lib).local_response_norm(x, 4, 0.1, 0.5, 2.0), (3, 6, 5, 2), **tol)
    check_grad(lambda lib, x: F(lib).local_response_norm(x, 1, 1e-2), (2, 3, 2, 2, 2), **tol)


def test_half_and_noncontig():
    for dt in ("float16", "bfloat16"):
        check(lambda lib, x: lib.nn.functional.layer_norm(x, (6,)), make_pair((4, 6), dt, seed=0))
        check(lambda lib, x: lib.nn.functional.group_norm(x, 2), make_pair((2, 4, 3), dt, seed=1))
        check(lambda lib, x: lib.nn.functional.batch_norm(x, None, None, training=True), make_pair((5, 4), dt, seed=2))
    check(lambda lib, x: lib.nn.functional.layer_norm(x, (4,)), make_pair((5, 4), "float64", seed=3, noncontig=True))
    check(lambda lib, x: lib.nn.functional.batch_norm(x, None, None, training=True),
          make_pair((5, 4), "float64", seed=3, noncontig=True))
    check(lambda lib, x: lib.nn.functional.rms_norm(x, (4,)), make_pair((5, 4), "float32", seed=3, noncontig=True))


def test_grad_fn_names():
    x = {lib: lib.ones(2, 3, 4, requires_grad=True) for lib in (ctorch, torch)}
    for f in [lambda lib: lib.nn.functional.batch_norm(x[lib], lib.zeros(3), lib.ones(3), training=True),
              lambda lib: lib.nn.functional.batch_norm(x[lib], lib.zeros(3), lib.ones(3)),
              lambda lib: lib.nn.functional.layer_norm(x[lib], (4,)),
              lambda lib: lib.nn.functional.group_norm(x[lib], 3)]:
        assert f(ctorch).grad_fn.name() == f(torch).grad_fn.name()


def test_norm_errors():
    x = make_pair((2, 3, 4), seed=0)
    cases = [
        lambda lib, x: lib.nn.functional.batch_norm(x.reshape(1, 24), None, None, training=True),
        lambda lib, x: lib.nn.functional.batch_norm(x, lib.zeros(4), lib.ones(4), training=True),
        lambda lib, x: lib.nn.functional.batch_norm(x, lib.zeros(3), lib.ones(3), lib.ones(2)),
        lambda lib, x: lib.nn.functional.batch_norm(x.long(), None, None, training=True),
        lambda lib, x: lib.nn.functional.layer_norm(x, (3,)),
        lambda lib, x: lib.nn.functional.layer_norm(x, (4,), lib.ones(3)),
        lambda lib, x: lib.nn.functional.layer_norm(x.long(), (4,)),
        lambda lib, x: lib.nn.functional.group_norm(x, 2),
        lambda lib, x: lib.nn.functional.group_norm(x, 3, lib.ones(4)),
        lambda lib, x: lib.nn.functional.rms_norm(x, (2,)),
        lambda lib, x: lib.nn.functional.instance_norm(x.reshape(2, 12, 1)),
        lambda lib, x: lib.nn.functional.instance_norm(x, use_input_stats=False),
        lambda lib, x: lib.nn.functional.local_response_norm(x.reshape(6, 4), 2),
        lambda lib, x: lib.nn.functional.batch_norm(x, None, None, training=True, eps=0.0),
        lambda lib, x: lib.nn.functional.batch_norm(x, lib.zeros(3), lib.ones(3), eps=-1.0),
    ]
    for fn in cases:
        check(fn, x)


# ------------------------------------------------------------------ modules

def _sync(cm, tm, seed=0):
    """random parameters in torch's module, copied into ctorch's through state_dict"""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.rand(p.shape, generator=g, dtype=p.dtype) + 0.5)
    cm.load_state_dict({k: ctorch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


def _run(cm, tm, shape, steps, train, dtype="float64", rtol=1e-9, atol=1e-10):
    cm.train(train)
    tm.train(train)
    rng = np.random.default_rng(7)
    for s in range(steps):
        xa = rng.normal(size=shape) * (s + 1) + s
        ga = rng.uniform(-1, 1, size=shape)
        outs = {}
        for lib, m in ((ctorch, cm), (torch, tm)):
            dt = getattr(lib, dtype)
            x = lib.tensor(xa, dtype=dt, requires_grad=True)
            y = m(x)
            y.backward(lib.tensor(ga, dtype=dt))
            outs[lib] = (y, x.grad)
        assert_same(outs[ctorch][0], outs[torch][0], rtol, atol)
        assert_same(outs[ctorch][1], outs[torch][1], rtol, atol)
    cs, ts = cm.state_dict(), tm.state_dict()
    assert list(cs) == list(ts)
    for k in ts:
        assert_same(cs[k], ts[k], rtol, atol)
    for (cn, cp), (tn, tp) in zip(cm.named_parameters(), tm.named_parameters()):
        assert cn == tn
        assert_same(cp.grad, tp.grad, rtol, atol)


BN = [("BatchNorm1d(3)", (4, 3)), ("BatchNorm1d(3, momentum=None)", (4, 3, 5)), ("BatchNorm2d(3)", (2, 3, 4, 5)),
      ("BatchNorm2d(3, momentum=None, affine=False)", (2, 3, 4, 5)), ("BatchNorm2d(3, bias=False)", (2, 3, 2, 2)),
      ("BatchNorm3d(3, eps=1e-3, momentum=0.3)", (2, 3, 2, 3, 2)),
      ("BatchNorm2d(3, track_running_stats=False)", (2, 3, 4, 5))]


@pytest.mark.parametrize("m,shape", BN)
def test_batchnorm_modules(m, shape):
    cm, tm = eval("ctorch.nn." + m).double(), eval("torch.nn." + m).double()
    _sync(cm, tm)
    _run(cm, tm, shape, 3, True)
    _run(cm, tm, shape, 2, False)
    cm, tm = eval("ctorch.nn." + m), eval("torch.nn." + m)
    _sync(cm, tm, 1)
    _run(cm, tm, shape, 2, True, "float32", 1e-4, 1e-4)


NORMS = [("LayerNorm(5)", (3, 4, 5)), ("LayerNorm((4, 5), elementwise_affine=False)", (3, 4, 5)),
         ("LayerNorm(5, bias=False)", (2, 5)), ("GroupNorm(2, 4)", (3, 4, 5)), ("GroupNorm(3, 6, affine=False)", (2, 6, 2, 2)),
         ("GroupNorm(2, 4, bias=False)", (2, 4, 3)), ("RMSNorm(5)", (3, 4, 5)), ("RMSNorm([4, 5], eps=1e-3)", (3, 4, 5)),
         ("RMSNorm(5, elementwise_affine=False)", (3, 5)), ("LocalResponseNorm(3)", (2, 5, 4)),
         ("InstanceNorm1d(3)", (2, 3, 5)), ("InstanceNorm1d(3, affine=True)", (3, 5)),
         ("InstanceNorm2d(3, affine=True, track_running_stats=True)", (2, 3, 4, 5)),
         ("InstanceNorm2d(3, track_running_stats=True, momentum=None)", (2, 3, 4, 5)),
         ("InstanceNorm3d(2, affine=True, track_running_stats=True)", (2, 2, 3, 2, 3)),
         ("InstanceNorm3d(2, track_running_stats=True)", (2, 3, 2, 3))]


@pytest.mark.parametrize("m,shape", NORMS)
def test_norm_modules(m, shape):
    cm, tm = eval("ctorch.nn." + m).double(), eval("torch.nn." + m).double()
    _sync(cm, tm)
    _run(cm, tm, shape, 3, True)
    _run(cm, tm, shape, 2, False)


REPRS = [m for m, _ in BN + NORMS] + ["BatchNorm1d(3, 1e-3, 0.2, False, False)", "GroupNorm(1, 1, 1e-3, False)",
                                       "InstanceNorm1d(4, bias=False, affine=True)", "LocalResponseNorm(2, 1e-3, 0.5, 2)"]


@pytest.mark.parametrize("m", REPRS)
def test_norm_repr(m):
    assert repr(eval("ctorch.nn." + m)) == repr(eval("torch.nn." + m))


def test_module_errors():
    for lib in (ctorch, torch):
        with pytest.raises(ValueError):
            lib.nn.GroupNorm(3, 4)
        with pytest.raises(ValueError):
            lib.nn.BatchNorm2d(3)(lib.ones(2, 3))
        with pytest.raises(ValueError):
            lib.nn.BatchNorm1d(3)(lib.ones(2, 3, 4, 5))
        with pytest.raises(ValueError):
            lib.nn.BatchNorm1d(3)(lib.ones(1, 3))
        with pytest.raises(ValueError):
            lib.nn.InstanceNorm1d(3, affine=True)(lib.ones(2, 4, 5))
        with pytest.raises(ValueError):
            lib.nn.InstanceNorm2d(3)(lib.ones(2, 3))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ctorch.nn.InstanceNorm1d(3)(ctorch.ones(2, 4, 5))
        assert any("does not match num_features" in str(x.message) for x in w)
    for lib in (ctorch, torch):
        m = lib.nn.BatchNorm1d(3)
        m.eval()
        assert m(lib.ones(1, 3)).shape == (1, 3)


DOUBLE = [
    (lambda lib, x, w, b: lib.nn.functional.layer_norm(x, (5,), w, b), [(3, 4, 5), (5,), (5,)]),
    (lambda lib, x: lib.nn.functional.layer_norm(x, (4, 5)), [(3, 4, 5)]),
    (lambda lib, x, w, b: lib.nn.functional.group_norm(x, 2, w, b), [(3, 4, 5), (4,), (4,)]),
    (lambda lib, x, w: lib.nn.functional.rms_norm(x, (5,), w), [(3, 4, 5), (5,)]),
    (lambda lib, x, w, b: lib.nn.functional.batch_norm(x, None, None, w, b, True), [(3, 4, 5), (4,), (4,)]),
    (lambda lib, x, w, b: lib.nn.functional.batch_norm(x, lib.zeros(4, dtype=x.dtype), lib.ones(4, dtype=x.dtype) * 2,
                                                       w, b, False), [(3, 4, 5), (4,), (4,)]),
    (lambda lib, x, w, b: lib.nn.functional.instance_norm(x, weight=w, bias=b), [(3, 4, 5), (4,), (4,)]),
]


@pytest.mark.parametrize("case", range(len(DOUBLE)))
@pytest.mark.parametrize("first", [0, 1])
def test_norm_double_backward(case, first):
    # under create_graph the norm gradients are a composite of recorded ops (differentiable again)
    fn, shapes = DOUBLE[case]
    if first >= len(shapes):
        return
    order = [first] + [j for j in range(len(shapes)) if j != first]

    def g(lib, *ins):
        args = [None] * len(ins)
        for k, o in enumerate(order):
            args[o] = ins[k]
        return fn(lib, *args)
    check_grad(g, *[shapes[o] for o in order], create_graph=True, dtype="float64", rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
def test_lrn_double_backward_and_sizes(size):
    # local_response_norm is torch's composite of recorded ops: double backward, names as torch
    check_grad(lambda lib, x: lib.nn.functional.local_response_norm(x, size, 0.1, 0.6, 1.5), (2, 5, 3),
               create_graph=True, dtype="float64", rtol=1e-8, atol=1e-9)
    check_grad(lambda lib, x: lib.nn.functional.local_response_norm(x, size), (2, 3, 2, 2), **F64)
    c = ctorch.nn.functional.local_response_norm(ctorch.ones(1, 3, 4, requires_grad=True), size)
    t = torch.nn.functional.local_response_norm(torch.ones(1, 3, 4, requires_grad=True), size)
    assert c.grad_fn.name() == t.grad_fn.name()
