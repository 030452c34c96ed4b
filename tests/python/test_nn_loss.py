"""nn losses: forward and backward vs torch over reductions and options, extremes, bad inputs,
module reprs."""
import warnings

import numpy as np
import pytest
import torch

import ctorch
import ctorch.nn  # noqa: F401
import ctorch.nn.functional  # noqa: F401
from helpers import assert_same

TOLS = {"float64": (1e-9, 1e-10), "float32": (2e-5, 2e-6)}


def T(lib, a, dtype=None, grad=False):
    if a is None:
        return None
    if isinstance(a, np.ndarray) and a.dtype.kind in "iub":
        return lib.tensor(a)
    dt = getattr(lib, dtype) if dtype else None
    t = lib.tensor(a, dtype=dt)
    if grad:
        t.requires_grad_(True)
    return t


def run(fn, args, grads=(0,), dtype="float64", tol=None):
    """fn(lib, *tensors); args: numpy arrays (float -> dtype, int -> int64) or plain values."""
    rtol, atol = tol or TOLS[dtype]
    cs = [T(ctorch, a, dtype, i in grads) if isinstance(a, np.ndarray) else a for i, a in enumerate(args)]
    ts = [T(torch, a, dtype, i in grads) if isinstance(a, np.ndarray) else a for i, a in enumerate(args)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tout = fn(torch, *ts)
        except Exception as e:
            with pytest.raises(Exception) as ei:
                fn(ctorch, *cs)
            assert isinstance(ei.value, type(e)), "ctorch raised %r, torch %r" % (ei.value, e)
            return
        cout = fn(ctorch, *cs)
    assert_same(cout, tout, rtol, atol)
    if not grads or not tout.requires_grad:
        return
    w = np.linspace(-1.0, 1.5, max(tout.numel(), 1)).reshape(tuple(tout.shape))
    cin = [cs[i] for i in grads]
    tin = [ts[i] for i in grads]
    cg = ctorch.autograd.grad(cout, cin, T(ctorch, w, dtype), allow_unused=True)
    tg = torch.autograd.grad(tout, tin, T(torch, w, dtype), allow_unused=True)
    for c, t in zip(cg, tg):
        if t is None:
            assert c is None or not np.array(c.tolist()).any()
        else:
            assert_same(c, t, rtol * 10, atol * 10)


R = np.random.default_rng(0)
X = R.normal(size=(4, 5))
Y = R.normal(size=(4, 5))
P = 1 / (1 + np.exp(-X))
Q = R.uniform(0, 1, size=(4, 5))
REDS = ["none", "mean", "sum"]
DTS = ["float64", "float32"]


@pytest.mark.parametrize("red", REDS)
@pytest.mark.parametrize("dt", DTS)
def test_regression_losses(red, dt):
    F = lambda lib: lib.nn.functional  # noqa: E731
    run(lambda l, x, y: F(l).mse_loss(x, y, reduction=red), [X, Y], (0, 1), dt)
    run(lambda l, x, y: F(l).l1_loss(x, y, reduction=red), [X, Y], (0, 1), dt)
    run(lambda l, x, y: F(l).smooth_l1_loss(x, y, reduction=red), [X, Y], (0, 1), dt)
    run(lambda l, x, y: F(l).smooth_l1_loss(x, y, reduction=red, beta=0.3), [X, Y], (0, 1), dt)
    run(lambda l, x, y: F(l).smooth_l1_loss(x, y, reduction=red, beta=0.0), [X, Y], (0, 1), dt)
    run(lambda l, x, y: F(l).huber_loss(x, y, reduction=red, delta=0.4), [X, Y], (0, 1), dt)
    run(lambda l, x, y, w: F(l).mse_loss(x, y, reduction=red, weight=w), [X, Y, Q], (0, 1, 2), dt)
    run(lambda l, x, y, w: F(l).l1_loss(x, y, reduction=red, weight=w), [X, Y, Q], (0, 1), dt)
    run(lambda l, x, y, w: F(l).huber_loss(x, y, reduction=red, weight=w), [X, Y, Q], (0, 1), dt)
    run(lambda l, x, y: F(l).mse_loss(x, y, reduction=red), [X, Y[:1]], (0, 1), dt)  # broadcast (warns)
    run(lambda l, x, y: F(l).soft_margin_loss(x, y, reduction=red), [X, np.sign(Y)], (0,), dt)
    run(lambda l, x, y: F(l).kl_div(x, y, reduction=red), [np.log(P), Q], (0, 1), dt)
    run(lambda l, x, y: F(l).kl_div(x, y, reduction=red, log_target=True), [np.log(P), np.log(Q)], (0, 1), dt)
    run(lambda l, x, y: F(l).poisson_nll_loss(x, y, reduction=red), [X, Q * 3], (0, 1), dt)
    run(lambda l, x, y: F(l).poisson_nll_loss(x, y, log_input=False, full=True, reduction=red), [P, Q * 3],
        (0, 1), dt)
    run(lambda l, x, y, v: F(l).gaussian_nll_loss(x, y, v, reduction=red), [X, Y, Q], (0, 1, 2), dt)
    run(lambda l, x, y, v: F(l).gaussian_nll_loss(x, y, v, full=True, reduction=red), [X, Y, Q[:, :1]], (0, 2), dt)
    run(lambda l, x, y, v: F(l).gaussian_nll_loss(x, y, v, reduction=red), [X, Y, Q[:, 0]], (0, 2), dt)


def test_kl_batchmean_and_legacy():
    run(lambda l, x, y: l.nn.functional.kl_div(x, y, reduction="batchmean"), [np.log(P), Q], (0, 1))
    run(lambda l, x, y: l.nn.functional.mse_loss(x, y, size_average=False), [X, Y], (0,))
    run(lambda l, x, y: l.nn.functional.mse_loss(x, y, reduce=False), [X, Y], (0,))


@pytest.mark.parametrize("red", REDS)
@pytest.mark.parametrize("dt", DTS)
def test_bce(red, dt):
    F = lambda lib: lib.nn.functional  # noqa: E731
    tgt = (R.uniform(size=(4, 5)) > 0.5).astype(np.float64)
    run(lambda l, x, y: F(l).binary_cross_entropy(x, y, reduction=red), [P, tgt], (0,), dt)
    run(lambda l, x, y: F(l).binary_cross_entropy(x, y, reduction=red), [P, Q], (0, 1), dt)
    run(lambda l, x, y, w: F(l).binary_cross_entropy(x, y, w, reduction=red), [P, Q, Q[0]], (0, 1), dt)
    edge = np.array([[0.0, 1.0, 0.5, 1e-30]])
    run(lambda l, x, y: F(l).binary_cross_entropy(x, y, reduction=red), [edge, np.array([[1.0, 0.0, 1.0, 1.0]])],
        (), dt)
    run(lambda l, x, y: F(l).binary_cross_entropy_with_logits(x, y, reduction=red), [X, Q], (0, 1), dt)
    run(lambda l, x, y, w, pw: F(l).binary_cross_entropy_with_logits(x, y, w, reduction=red, pos_weight=pw),
        [X, Q, Q[0], Q[1] * 3], (0, 1), dt)
    run(lambda l, x, y, pw: F(l).binary_cross_entropy_with_logits(x, y, pos_weight=pw), [X, Q, Q[1]], (0, 2), dt)
    big = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]])
    run(lambda l, x, y: F(l).binary_cross_entropy_with_logits(x, y, reduction=red), [big, np.array([[1.0, 0, 1, 0, 1]])],
        (0,), dt)


@pytest.mark.parametrize("red", REDS)
@pytest.mark.parametrize("dt", DTS)
def test_cross_entropy(red, dt):
    F = lambda lib: lib.nn.functional  # noqa: E731
    t = np.array([1, 0, 4, 2])
    w = R.uniform(0.5, 2, size=5)
    for kw in [{}, {"label_smoothing": 0.25}, {"ignore_index": 0}, {"ignore_index": 4, "label_smoothing": 0.1}]:
        run(lambda l, x, y: F(l).cross_entropy(x, y, reduction=red, **kw), [X, t], (0,), dt)
        run(lambda l, x, y, ww: F(l).cross_entropy(x, y, ww, reduction=red, **kw), [X, t, w], (0,), dt)
    run(lambda l, x, y: F(l).nll_loss(x, y, reduction=red), [X, t], (0,), dt)
    run(lambda l, x, y, ww: F(l).nll_loss(x, y, ww, reduction=red, ignore_index=1), [X, t, w], (0,), dt)
    # class probabilities
    prob = np.exp(Y) / np.exp(Y).sum(1, keepdims=True)
    run(lambda l, x, y: F(l).cross_entropy(x, y, reduction=red), [X, prob], (0, 1), dt)
    run(lambda l, x, y, ww: F(l).cross_entropy(x, y, ww, reduction=red, label_smoothing=0.2), [X, prob, w], (0, 1), dt)
    # K-dimensional (N, C, d1, d2)
    xk = R.normal(size=(2, 3, 4, 2))
    tk = R.integers(0, 3, size=(2, 4, 2))
    run(lambda l, x, y: F(l).cross_entropy(x, y, reduction=red, label_smoothing=0.1), [xk, tk], (0,), dt)
    run(lambda l, x, y, ww: F(l).nll_loss(x, y, ww, reduction=red, ignore_index=2), [xk, tk, w[:3]], (0,), dt)
    run(lambda l, x, y: F(l).cross_entropy(x, y, reduction=red), [xk, np.abs(R.normal(size=(2, 3, 4, 2)))], (0,), dt)
    # unbatched
    run(lambda l, x, y: F(l).cross_entropy(x, y, reduction=red), [X[0], np.array(3)], (0,), dt)


@pytest.mark.parametrize("dt", DTS)
def test_extreme_logits(dt):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [5e3, 1e4, -3.0]])
    t = np.array([1, 2, 0])
    F = lambda lib: lib.nn.functional  # noqa: E731
    for red in REDS:
        run(lambda l, a, b: F(l).cross_entropy(a, b, reduction=red), [x, t], (0,), dt, tol=(1e-6, 1e-6))
        run(lambda l, a, b: F(l).cross_entropy(a, b, reduction=red, label_smoothing=0.1), [x, t], (0,), dt,
            tol=(1e-6, 1e-6))
        run(lambda l, a: F(l).log_softmax(a, 1), [x], (0,), dt, tol=(1e-6, 1e-6))
        run(lambda l, a: F(l).softplus(a), [x], (0,), dt, tol=(1e-6, 1e-6))


def test_ce_bad_inputs():
    F = lambda lib: lib.nn.functional  # noqa: E731
    run(lambda l, x, y: F(l).cross_entropy(x, y), [X, np.array([1, 0, 5, 2])], ())
    run(lambda l, x, y: F(l).cross_entropy(x, y), [X, np.array([1, 0, -3, 2])], ())
    run(lambda l, x, y: F(l).nll_loss(x, y), [X, np.array([1, 0, 2])], ())
    run(lambda l, x, y: F(l).cross_entropy(x, y), [X, np.array([[1, 0, 2, 1]])], ())
    run(lambda l, x, y: F(l).cross_entropy(x, y), [X, Y[:, :3]], ())
    run(lambda l, x, y, w: F(l).cross_entropy(x, y, w), [X, np.array([1, 0, 2, 2]), np.ones(3)], ())
    run(lambda l, x, y: F(l).cross_entropy(x, y, reduction="bad"), [X, np.array([1, 0, 2, 2])], ())
    run(lambda l, x, y: F(l).binary_cross_entropy(x, y), [P, Q[:, :2]], ())
    run(lambda l, x, y: F(l).binary_cross_entropy(x, y), [X, Q], ())
    run(lambda l, x, y: F(l).binary_cross_entropy_with_logits(x, y), [X, Q[:2]], ())
    run(lambda l, x, y: F(l).mse_loss(x, y), [X, Y[:, :2]], ())
    run(lambda l, x, y: F(l).multi_margin_loss(x, y), [X, np.array([1, 0, 7, 2])], ())
    run(lambda l, x, y: F(l).multi_margin_loss(x, y, p=3), [X, np.array([1, 0, 2, 2])], ())
    run(lambda l, x, y, v: F(l).gaussian_nll_loss(x, y, v), [X, Y, -Q], ())
    run(lambda l, x, y, v: F(l).gaussian_nll_loss(x, y, v), [X, Y, Q[:2]], ())


def test_ce_grad_fn_and_all_ignored():
    cx = ctorch.randn(3, 4, requires_grad=True)
    tx = torch.randn(3, 4, requires_grad=True)
    assert ctorch.nn.functional.cross_entropy(cx, ctorch.tensor([0, 1, 2])).grad_fn.name() == \
        torch.nn.functional.cross_entropy(tx, torch.tensor([0, 1, 2])).grad_fn.name()
    assert ctorch.nn.functional.mse_loss(cx, cx.detach()).grad_fn.name() == "MseLossBackward0"
    run(lambda l, x, y: l.nn.functional.cross_entropy(x, y), [X[:2], np.array([-100, -100])], (0,))


@pytest.mark.parametrize("red", REDS)
def test_margin_losses(red):
    F = lambda lib: lib.nn.functional  # noqa: E731
    y = np.sign(R.normal(size=4))
    run(lambda l, a, b, t: F(l).margin_ranking_loss(a, b, t, margin=0.3, reduction=red), [X[:, 0], Y[:, 0], y],
        (0, 1))
    run(lambda l, a, t: F(l).hinge_embedding_loss(a, t, margin=0.5, reduction=red), [X, np.sign(Y)], (0,))
    run(lambda l, a, b, t: F(l).cosine_embedding_loss(a, b, t, margin=0.1, reduction=red), [X, Y, y], (0, 1))
    run(lambda l, a, b, t: F(l).cosine_embedding_loss(a, b, t, reduction=red), [X[0], Y[0], np.array(1.0)], (0, 1))
    t = np.array([1, 0, 4, 2])
    run(lambda l, a, t: F(l).multi_margin_loss(a, t, reduction=red), [X, t], (0,))
    run(lambda l, a, t, w: F(l).multi_margin_loss(a, t, p=2, margin=0.7, weight=w, reduction=red),
        [X, t, Q[0]], (0,))
    run(lambda l, a, t: F(l).multi_margin_loss(a, t, reduction=red), [X[0], np.array(3)], (0,))
    ml = np.array([[3, 0, -1, 1, 1], [0, 1, 2, 3, 4], [4, -1, 0, 0, 0], [-1, 1, 1, 1, 1]])
    run(lambda l, a, t: F(l).multilabel_margin_loss(a, t, reduction=red), [X, ml], (0,))
    run(lambda l, a, t: F(l).multilabel_margin_loss(a, t, reduction=red), [X[0], ml[0]], (0,))
    run(lambda l, a, t: F(l).multilabel_soft_margin_loss(a, t, reduction=red), [X, (Q > 0.5) * 1.0], (0,))
    run(lambda l, a, t, w: F(l).multilabel_soft_margin_loss(a, t, w, reduction=red), [X, (Q > 0.5) * 1.0, Q[0]],
        (0,))
    Z = R.normal(size=(4, 5))
    run(lambda l, a, p, n: F(l).triplet_margin_loss(a, p, n, reduction=red), [X, Y, Z], (0, 1, 2))
    run(lambda l, a, p, n: F(l).triplet_margin_loss(a, p, n, margin=2.0, p=1, swap=True, reduction=red),
        [X, Y, Z], (0, 1, 2))
    run(lambda l, a, p, n: F(l).triplet_margin_with_distance_loss(a, p, n, reduction=red), [X, Y, Z], (0, 1, 2))


def test_distances():
    F = lambda lib: lib.nn.functional  # noqa: E731
    run(lambda l, a, b: F(l).cosine_similarity(a, b), [X, Y], (0, 1))
    run(lambda l, a, b: F(l).cosine_similarity(a, b, dim=0, eps=1e-3), [X, Y[:1]], (0, 1))
    run(lambda l, a, b: F(l).cosine_similarity(a, b, dim=-1), [X, np.zeros((4, 5))], (0,))
    run(lambda l, a, b: F(l).cosine_similarity(a, b), [X, Y], (0, 1), "float32")
    for p in (2.0, 1.0, 3.0, float("inf")):
        run(lambda l, a, b: F(l).pairwise_distance(a, b, p=p), [X, Y], (0, 1))
        run(lambda l, a, b: F(l).pairwise_distance(a, b, p=p, keepdim=True), [X, Y[0]], (0, 1))
        run(lambda l, a: F(l).normalize(a, p=p), [X], (0,))
        run(lambda l, a: F(l).normalize(a, p=p, dim=0), [X], (0,))
    run(lambda l, a: F(l).normalize(a), [np.zeros((2, 3))], (0,))
    run(lambda l, a, b: F(l).pairwise_distance(a, b), [X[0], Y[0]], (0, 1))


@pytest.mark.parametrize("name,args", [
    ("L1Loss", ()), ("MSELoss", ()), ("MSELoss", (None, None, "sum")), ("SmoothL1Loss", ()),
    ("SmoothL1Loss", (None, None, "none", 0.5)), ("HuberLoss", ()), ("HuberLoss", ("sum", 0.3)), ("NLLLoss", ()),
    ("CrossEntropyLoss", ()), ("BCELoss", ()), ("BCEWithLogitsLoss", ()), ("KLDivLoss", ()),
    ("KLDivLoss", (None, None, "batchmean", True)), ("PoissonNLLLoss", ()), ("GaussianNLLLoss", ()),
    ("CosineEmbeddingLoss", ()), ("CosineEmbeddingLoss", (0.5,)), ("MarginRankingLoss", ()),
    ("MarginRankingLoss", (0.2,)), ("HingeEmbeddingLoss", ()), ("HingeEmbeddingLoss", (2.0,)),
    ("MultiLabelMarginLoss", ()), ("MultiLabelSoftMarginLoss", ()), ("MultiMarginLoss", ()),
    ("MultiMarginLoss", (2, 0.5)), ("SoftMarginLoss", ()), ("TripletMarginLoss", ()),
    ("TripletMarginLoss", (0.5, 1.0, 1e-5, True)), ("TripletMarginWithDistanceLoss", ()), ("CTCLoss", ()),
    ("CTCLoss", (1, "sum", True)),
])
def test_loss_module_repr(name, args):
    c = getattr(ctorch.nn, name)(*args)
    t = getattr(torch.nn, name)(*args)
    assert repr(c) == repr(t)
    for k in ("reduction", "ignore_index", "label_smoothing", "margin", "p", "eps", "swap", "beta", "delta",
              "log_input", "full", "log_target", "blank", "zero_infinity"):
        if hasattr(t, k):
            assert getattr(c, k) == getattr(t, k), k


def test_loss_modules_forward():
    t = np.array([1, 0, 4, 2])
    w = R.uniform(0.5, 2, size=5)
    cases = [
        ("CrossEntropyLoss", lambda lib: {"weight": T(lib, w), "label_smoothing": 0.1, "ignore_index": 4}, [X, t]),
        ("NLLLoss", lambda lib: {"weight": T(lib, w), "reduction": "sum"}, [X, t]),
        ("BCEWithLogitsLoss", lambda lib: {"pos_weight": T(lib, Q[0])}, [X, Q]),
        ("BCELoss", lambda lib: {"weight": T(lib, Q[1])}, [P, Q]),
        ("MSELoss", lambda lib: {}, [X, Y]),
        ("L1Loss", lambda lib: {"reduction": "none"}, [X, Y]),
        ("MultiMarginLoss", lambda lib: {"weight": T(lib, w)}, [X, t]),
        ("MultiLabelSoftMarginLoss", lambda lib: {"weight": T(lib, w)}, [X, Q]),
        ("PoissonNLLLoss", lambda lib: {"log_input": False}, [P, Q]),
        ("KLDivLoss", lambda lib: {"reduction": "batchmean"}, [np.log(P), Q]),
    ]
    for name, kw, args in cases:
        run(lambda l, *a: getattr(l.nn, name)(**kw(l))(*a), args, (0,))
    run(lambda l, a, b, v: l.nn.GaussianNLLLoss(full=True)(a, b, v), [X, Y, Q], (0, 2))
    run(lambda l, a, b, y: l.nn.CosineEmbeddingLoss(0.2)(a, b, y), [X, Y, np.sign(X[:, 0])], (0, 1))
    run(lambda l, a, b, y: l.nn.MarginRankingLoss(0.2)(a, b, y), [X[0], Y[0], np.sign(X[0])], (0, 1))
    run(lambda l, a, b, y: l.nn.TripletMarginLoss(swap=True)(a, b, y), [X, Y, Q], (0, 1, 2))
    c, tm = ctorch.nn.CrossEntropyLoss(weight=ctorch.ones(3)), torch.nn.CrossEntropyLoss(weight=torch.ones(3))
    assert list(dict(c.named_buffers())) == list(dict(tm.named_buffers()))


def _ctc_inputs(T=12, N=3, C=5, S=4, seed=1):
    r = np.random.default_rng(seed)
    logits = r.normal(size=(T, N, C))
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    tl = np.array([S, 2, 0][:N]) if N <= 3 else r.integers(1, S + 1, size=N)
    il = np.array([T, T - 3, 5][:N]) if N <= 3 else np.full(N, T)
    tg = r.integers(1, C, size=(N, S))
    tg[0, 1] = tg[0, 2]  # a repeated label
    return lp, tg, il, tl


@pytest.mark.parametrize("red", REDS)
@pytest.mark.parametrize("dt", DTS)
def test_ctc_loss(red, dt):
    lp, tg, il, tl = _ctc_inputs()
    F = lambda lib: lib.nn.functional  # noqa: E731

    def fn(lib, x, t, i, l, **kw):
        return F(lib).ctc_loss(x.log_softmax(2), t, i, l, reduction=red, **kw)
    run(fn, [lp, tg, il, tl], (0,), dt, tol=(1e-9, 1e-9) if dt == "float64" else (1e-4, 1e-5))
    # 1-D concatenated targets, raw log_probs (gradient formula as torch's)
    flat = np.concatenate([tg[b, :tl[b]] for b in range(3)])
    run(lambda lib, x, t, i, l: F(lib).ctc_loss(x, t, i, l, reduction=red), [lp, flat, il, tl], (0,), dt,
        tol=(1e-9, 1e-9) if dt == "float64" else (1e-4, 1e-5))
    # impossible alignment (target longer than input) -> inf, or 0 with zero_infinity
    il2 = np.array([12, 2, 5])
    tl2 = np.array([4, 4, 0])
    run(lambda lib, x, t, i, l: F(lib).ctc_loss(x, t, i, l, reduction=red), [lp, tg, il2, tl2], (), dt)
    run(lambda lib, x, t, i, l: F(lib).ctc_loss(x, t, i, l, reduction=red, zero_infinity=True),
        [lp, tg, il2, tl2], (0,), dt, tol=(1e-9, 1e-9) if dt == "float64" else (1e-4, 1e-5))


def test_ctc_unbatched_and_module():
    lp, tg, il, tl = _ctc_inputs()
    run(lambda lib, x, t: lib.nn.functional.ctc_loss(x, t, (10,), (4,), blank=0), [lp[:, 0], tg[0]], (0,))
    run(lambda lib, x, t, i, l: lib.nn.functional.ctc_loss(x, t, i, l, reduction="none"),
        [lp[:, 0], tg[0], np.array(10), np.array(4)], (0,))
    run(lambda lib, x, t, i, l: lib.nn.CTCLoss(blank=0, zero_infinity=True)(x, t, i, l), [lp, tg, il, tl], (0,))
    run(lambda lib, x, t: lib.nn.functional.ctc_loss(x, t, (12, 9, 5), (4, 2, 0)), [lp, tg], (0,))
    # bad inputs
    run(lambda lib, x, t: lib.nn.functional.ctc_loss(x, t, (13, 9, 5), (4, 2, 0)), [lp, tg], ())
    run(lambda lib, x, t: lib.nn.functional.ctc_loss(x, t, (12, 9, 5), (5, 2, 0)), [lp, tg], ())
