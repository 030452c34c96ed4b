"""Double backward (create_graph) through the nn ops whose first-order backward is a fused kernel:
activations, softmax, losses, embedding, recurrent layers, attention, LRN, lp_pool, grid_sample.
Each case computes the gradient with create_graph in ctorch and torch, backpropagates a random
weighting of it and compares the second-order gradients (float64); a few run
ctorch.autograd.gradgradcheck. Scenario tests: WGAN-GP gradient penalty, MAML, Hessian-vector
products through an LSTM and a TransformerEncoderLayer."""
import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

import ctorch


def _np(t):
    return None if t is None else np.array(t.detach().tolist(), dtype=np.float64)


def dbl(fn, shapes, seed=0, nograd=(), rtol=1e-7, atol=1e-9, pos=()):
    """grad with create_graph in both libraries, backprop a random weighting of it, compare the
    first- and second-order gradients. Where torch cannot differentiate its gradient (it carries no
    history), ctorch still has to run."""
    rng = np.random.default_rng(seed)
    arrs = [rng.standard_normal(s) for s in shapes]
    arrs = [np.abs(a) + 0.2 if i in pos else a for i, a in enumerate(arrs)]
    res = []
    for lib in (torch, ctorch):
        xs = [lib.tensor(a, dtype=lib.float64, requires_grad=i not in nograd) for i, a in enumerate(arrs)]
        y = fn(lib, *xs)
        w = lib.tensor(np.random.default_rng(seed + 1).standard_normal(tuple(y.shape)), dtype=lib.float64)
        dx = [x for x in xs if x.requires_grad]
        gs = lib.autograd.grad((y * w).sum(), dx, create_graph=True)
        vs = [lib.tensor(np.random.default_rng(seed + 2 + i).standard_normal(tuple(g.shape)), dtype=lib.float64)
              for i, g in enumerate(gs)]
        s = sum((g * v).sum() for g, v in zip(gs, vs))
        try:
            gg = [_np(g) for g in lib.autograd.grad(s, dx, allow_unused=True)]
        except RuntimeError:
            if lib is ctorch:
                raise
            gg = None
        res.append(([_np(g) for g in gs], gg))
    for a, b in zip(res[0][0], res[1][0]):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=atol)
    if res[0][1] is None:
        return
    for a, b in zip(res[0][1], res[1][1]):
        if a is None or b is None:
            assert (a is None or not a.any()) and (b is None or not b.any())
        else:
            np.testing.assert_allclose(b, a, rtol=rtol, atol=atol)


def F(lib):
    return lib.nn.functional


ACTS = {
    "relu": lambda l, x: F(l).relu(x),
    "gelu": lambda l, x: F(l).gelu(x),
    "gelu_tanh": lambda l, x: F(l).gelu(x, approximate="tanh"),
    "silu": lambda l, x: F(l).silu(x),
    "mish": lambda l, x: F(l).mish(x),
    "elu": lambda l, x: F(l).elu(x, 0.7),
    "elu_neg_alpha": lambda l, x: F(l).elu(x, -0.7),
    "selu": lambda l, x: F(l).selu(x),
    "celu": lambda l, x: F(l).celu(x, 1.3),
    "softplus": lambda l, x: F(l).softplus(x, beta=2, threshold=1),
    "hardswish": lambda l, x: F(l).hardswish(x * 3),
    "leaky_relu": lambda l, x: F(l).leaky_relu(x, 0.1),
    "logsigmoid": lambda l, x: F(l).logsigmoid(x),
    "softshrink": lambda l, x: F(l).softshrink(x, 0.3),
    "hardshrink": lambda l, x: F(l).hardshrink(x, 0.3),
    "threshold": lambda l, x: F(l).threshold(x, 0.1, 2.0),
    "glu": lambda l, x: F(l).glu(x, 1),
    "glu_dim0": lambda l, x: F(l).glu(x[:2], 0),
    "tanh": lambda l, x: F(l).tanh(x),
    "sigmoid": lambda l, x: F(l).sigmoid(x),
    "softsign": lambda l, x: F(l).softsign(x),
    "tanhshrink": lambda l, x: F(l).tanhshrink(x),
    "hardtanh": lambda l, x: F(l).hardtanh(x),
    "relu6": lambda l, x: F(l).relu6(x * 4),
    "rrelu_eval": lambda l, x: F(l).rrelu(x, training=False),
    "softmax": lambda l, x: F(l).softmax(x, 1),
    "log_softmax": lambda l, x: F(l).log_softmax(x, 0),
    "softmin": lambda l, x: F(l).softmin(x, 1),
    "softmax_0d": lambda l, x: F(l).softmax(x[0, 0], 0),
    "log_softmax_0d": lambda l, x: F(l).log_softmax(x[0, 0], 0),
}


@pytest.mark.parametrize("name", sorted(ACTS))
def test_activation_double_backward(name):
    dbl(ACTS[name], [(3, 4)])


def test_activation_noncontig_and_nn_modules():
    dbl(lambda l, x: F(l).silu(x.t()) * F(l).gelu(x.t()), [(4, 3)])
    dbl(lambda l, x: l.nn.Softplus()(x) + l.nn.ELU()(x) + l.nn.Mish()(x), [(2, 5)])


def test_prelu_double_backward():
    dbl(lambda l, x, w: F(l).prelu(x, w), [(3, 4, 2), (4,)])
    dbl(lambda l, x, w: F(l).prelu(x, w), [(3, 4), (1,)])


def test_rrelu_training_grad_is_differentiable():
    x = ctorch.randn(3, 4, dtype=ctorch.float64, requires_grad=True)
    y = F(ctorch).rrelu(x, training=True)
    g, = ctorch.autograd.grad((y * y).sum(), x, create_graph=True)
    gg, = ctorch.autograd.grad(g.sum(), x)
    slope = (y / x).detach()
    np.testing.assert_allclose(_np(g), _np(2 * y * slope), rtol=1e-10)
    np.testing.assert_allclose(_np(gg), _np(2 * slope * slope), rtol=1e-10)


def test_hardsigmoid_double_backward():
    # torch has no derivative for hardsigmoid_backward; ctorch's is the (zero) second derivative
    x = ctorch.randn(3, 4, dtype=ctorch.float64, requires_grad=True)
    g, = ctorch.autograd.grad(F(ctorch).hardsigmoid(x * 3).sum(), x, create_graph=True)
    gg, = ctorch.autograd.grad((g * g).sum(), x, allow_unused=True)
    assert gg is None or not gg.any()


REDS = ["mean", "sum", "none"]
T = [1, 0, 3]


def _pm1(l, shape):
    return l.tensor(np.where(np.arange(np.prod(shape)).reshape(shape) % 2 == 0, 1.0, -1.0), dtype=l.float64)


LOSSES = {
    "mse": (lambda l, x, y, r: F(l).mse_loss(x, y, reduction=r), [(3, 4), (3, 4)], {}),
    "mse_broadcast": (lambda l, x, y, r: F(l).mse_loss(x, y.expand(3, 4), reduction=r), [(3, 4), (4,)], {}),
    "l1": (lambda l, x, y, r: F(l).l1_loss(x, y, reduction=r), [(3, 4), (3, 4)], {}),
    "smooth_l1": (lambda l, x, y, r: F(l).smooth_l1_loss(x, y, reduction=r, beta=0.5), [(3, 4), (3, 4)], {}),
    "smooth_l1_beta0": (lambda l, x, y, r: F(l).smooth_l1_loss(x, y, reduction=r, beta=0.0), [(3, 4), (3, 4)], {}),
    "huber": (lambda l, x, y, r: F(l).huber_loss(x, y, reduction=r, delta=0.5), [(3, 4), (3, 4)], {}),
    "bce": (lambda l, x, y, w, r: F(l).binary_cross_entropy(l.sigmoid(x), l.sigmoid(y), w, reduction=r),
            [(3, 4), (3, 4), (4,)], {"nograd": (2,)}),
    "bce_logits": (lambda l, x, y, w, p, r: F(l).binary_cross_entropy_with_logits(x, l.sigmoid(y), w, reduction=r,
                                                                                pos_weight=p),
                   [(3, 4), (3, 4), (4,), (4,)], {"nograd": (2, 3)}),
    "kl_div": (lambda l, x, y, r: F(l).kl_div(x, l.sigmoid(y), reduction=r), [(3, 4), (3, 4)], {}),
    "kl_div_log_target": (lambda l, x, y, r: F(l).kl_div(x, y, reduction=r, log_target=True), [(3, 4), (3, 4)], {}),
    "poisson_nll": (lambda l, x, y, r: F(l).poisson_nll_loss(x, l.exp(y), reduction=r), [(3, 4), (3, 4)], {}),
    "poisson_nll_full": (lambda l, x, y, r: F(l).poisson_nll_loss(l.exp(x), l.exp(y) * 3, log_input=False, full=True,
                                                                  reduction=r), [(3, 4), (3, 4)], {}),
    "gaussian_nll": (lambda l, x, y, v, r: F(l).gaussian_nll_loss(x, y, l.exp(v), reduction=r, full=True),
                     [(3, 4), (3, 4), (3, 4)], {}),
    "soft_margin": (lambda l, x, r: F(l).soft_margin_loss(x, _pm1(l, (3, 4)), reduction=r), [(3, 4)], {}),
    "hinge_embedding": (lambda l, x, r: F(l).hinge_embedding_loss(x, _pm1(l, (3, 4)), reduction=r), [(3, 4)], {}),
    "margin_ranking": (lambda l, x, y, r: F(l).margin_ranking_loss(x, y, _pm1(l, (3,)), reduction=r), [(3,), (3,)],
                       {}),
    "cosine_embedding": (lambda l, x, y, r: F(l).cosine_embedding_loss(x, y, _pm1(l, (3,)), reduction=r),
                         [(3, 5), (3, 5)], {}),
    "triplet": (lambda l, x, y, z, r: F(l).triplet_margin_loss(x, y, z, reduction=r, swap=True),
                [(3, 5), (3, 5), (3, 5)], {}),
    "multilabel_soft_margin": (lambda l, x, w, r: F(l).multilabel_soft_margin_loss(
        x, l.tensor([[1.0, 0, 1, 0]] * 3, dtype=l.float64), w, reduction=r), [(3, 4), (4,)], {}),
    "cross_entropy": (lambda l, x, r: F(l).cross_entropy(x, l.tensor(T), reduction=r), [(3, 4)], {}),
    "cross_entropy_weight_ls_ignore": (lambda l, x, w, r: F(l).cross_entropy(
        x, l.tensor(T), weight=w.exp(), reduction=r, label_smoothing=0.2, ignore_index=0), [(3, 4), (4,)],
        {"nograd": (1,)}),
    "cross_entropy_ls_ignore": (lambda l, x, r: F(l).cross_entropy(x, l.tensor(T), reduction=r, label_smoothing=0.2,
                                                                   ignore_index=0), [(3, 4)], {}),
    "cross_entropy_prob": (lambda l, x, p, r: F(l).cross_entropy(x, p.softmax(1), reduction=r, label_smoothing=0.1),
                           [(3, 4), (3, 4)], {}),
    "cross_entropy_prob_weight": (lambda l, x, p, r: F(l).cross_entropy(
        x, p.softmax(1), weight=l.tensor([1.0, 2, 3, 4], dtype=l.float64), reduction=r), [(3, 4), (3, 4)], {}),
    "cross_entropy_3d": (lambda l, x, r: F(l).cross_entropy(x, l.tensor([[1, 0], [3, 2], [0, 0]]), reduction=r),
                         [(3, 4, 2)], {}),
    "cross_entropy_unbatched": (lambda l, x, r: F(l).cross_entropy(x, l.tensor(2), reduction=r), [(4,)], {}),
    "nll": (lambda l, x, r: F(l).nll_loss(x.log_softmax(1), l.tensor(T), reduction=r), [(3, 4)], {}),
    "nll_weight": (lambda l, x, r: F(l).nll_loss(x, l.tensor(T), weight=l.tensor([1.0, 2, 3, 4], dtype=l.float64),
                                                 reduction=r), [(3, 4)], {}),
}


@pytest.mark.parametrize("red", REDS)
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_double_backward(name, red):
    fn, shapes, kw = LOSSES[name]
    dbl(lambda l, *xs: fn(l, *xs, red), shapes, **kw)


def test_distance_and_similarity_double_backward():
    dbl(lambda l, x, y: F(l).cosine_similarity(x, y), [(3, 5), (3, 5)])
    dbl(lambda l, x, y: F(l).cosine_similarity(x, y, dim=0), [(3, 5), (1, 5)])
    dbl(lambda l, x: F(l).normalize(x), [(3, 5)])
    dbl(lambda l, x, y: F(l).pairwise_distance(x, y), [(3, 5), (3, 5)])
    dbl(lambda l, x, y: F(l).pairwise_distance(x, y, p=3), [(3, 5), (3, 5)])


def test_embedding_double_backward():
    idx = [[0, 2], [2, 3]]
    dbl(lambda l, w: F(l).embedding(l.tensor(idx), w) ** 2, [(5, 3)])
    dbl(lambda l, w: F(l).embedding(l.tensor(idx), w, padding_idx=3, scale_grad_by_freq=True) ** 2, [(5, 3)])
    dbl(lambda l, w: l.nn.functional.embedding(l.tensor([1, 1, 4]), w).sin(), [(5, 2)])


def test_unsupported_like_torch():
    # torch has no double backward for these either (RuntimeError); ctorch says NotImplementedError
    w = ctorch.randn(5, 3, dtype=ctorch.float64, requires_grad=True)
    y = F(ctorch).embedding_bag(ctorch.tensor([0, 2, 1, 3]), w, ctorch.tensor([0, 2]), mode="sum")
    g, = ctorch.autograd.grad((y ** 2).sum(), w, create_graph=True)
    with pytest.raises(NotImplementedError, match="double backward"):
        g.sum().backward()
    lp = ctorch.randn(6, 2, 4, dtype=ctorch.float64).log_softmax(2).detach().requires_grad_()
    L = F(ctorch).ctc_loss(lp, ctorch.tensor([[1, 2], [1, 1]]), ctorch.tensor([6, 5]), ctorch.tensor([2, 2]))
    g, = ctorch.autograd.grad(L, lp, create_graph=True)
    with pytest.raises(NotImplementedError, match="double backward"):
        (g ** 2).sum().backward()


MARGIN = {
    "multi_margin": lambda l, x, r: F(l).multi_margin_loss(x, l.tensor([1, 0, 4, 2]), reduction=r),
    "multi_margin_p2_weight": lambda l, x, r: F(l).multi_margin_loss(
        x, l.tensor([1, 0, 4, 2]), p=2, margin=0.7, weight=l.tensor([1.0, 2, 3, 4, 5], dtype=l.float64), reduction=r),
    "multi_margin_unbatched": lambda l, x, r: F(l).multi_margin_loss(x[0], l.tensor(3), reduction=r),
    "multilabel_margin": lambda l, x, r: F(l).multilabel_margin_loss(
        x, l.tensor([[1, 2, -1, 0, 0], [0, -1, 1, 1, 2], [3, 2, 1, 0, 4], [4, 4, -1, -1, -1]]), reduction=r),
    "multilabel_margin_unbatched": lambda l, x, r: F(l).multilabel_margin_loss(x[1], l.tensor([2, 0, -1, 1, 1]),
                                                                               reduction=r),
}


@pytest.mark.parametrize("red", REDS)
@pytest.mark.parametrize("name", sorted(MARGIN))
def test_margin_losses_double_backward(name, red):
    # torch has no double backward here: the create_graph gradient must equal torch's first-order
    # one, and the second order passes gradgradcheck
    f = MARGIN[name]
    xa = np.random.default_rng(0).standard_normal((4, 5))
    res = []
    for lib in (torch, ctorch):
        x = lib.tensor(xa, requires_grad=True)
        y = f(lib, x, red)
        w = lib.tensor(np.random.default_rng(1).standard_normal(tuple(y.shape)))
        g, = lib.autograd.grad((y * w).sum(), x, create_graph=lib is ctorch)
        res.append(_np(g))
    np.testing.assert_allclose(res[1], res[0], rtol=1e-10, atol=1e-12)
    x = ctorch.tensor(xa, requires_grad=True)
    assert ctorch.autograd.gradgradcheck(lambda a: f(ctorch, a, red), (x,))


def test_gradgradcheck_float64():
    gg = ctorch.autograd.gradgradcheck
    x = ctorch.randn(2, 3, dtype=ctorch.float64, requires_grad=True)
    y = ctorch.randn(2, 3, dtype=ctorch.float64, requires_grad=True)
    assert gg(lambda a: F(ctorch).gelu(a), (x,))
    assert gg(lambda a: F(ctorch).mish(a), (x,))
    assert gg(lambda a: F(ctorch).elu(a), (x,))
    assert gg(lambda a: F(ctorch).softplus(a), (x,))
    assert gg(lambda a: F(ctorch).log_softmax(a, 1), (x,))
    assert gg(lambda a: F(ctorch).softmax(a, 0), (x,))
    assert gg(lambda a, b: F(ctorch).mse_loss(a, b), (x, y))
    assert gg(lambda a: F(ctorch).cross_entropy(a, ctorch.tensor([0, 2]), label_smoothing=0.1), (x,))
    assert gg(lambda a, b: F(ctorch).binary_cross_entropy_with_logits(a, b.sigmoid()), (x, y))
    q = ctorch.randn(1, 2, 3, dtype=ctorch.float64, requires_grad=True)
    k = ctorch.randn(1, 3, 3, dtype=ctorch.float64, requires_grad=True)
    v = ctorch.randn(1, 3, 2, dtype=ctorch.float64, requires_grad=True)
    assert gg(lambda a, b, c: F(ctorch).scaled_dot_product_attention(a, b, c), (q, k, v))
    lstm = ctorch.nn.LSTM(2, 2).double()
    xs = ctorch.randn(3, 1, 2, dtype=ctorch.float64, requires_grad=True)
    assert gg(lambda a: lstm(a)[0], (xs,))


# ---------------------------------------------------------------- attention

SDPA = {
    "plain": (lambda l, q, k, v: F(l).scaled_dot_product_attention(q, k, v), [(2, 3, 4), (2, 5, 4), (2, 5, 3)]),
    "causal": (lambda l, q, k, v: F(l).scaled_dot_product_attention(q, k, v, is_causal=True),
               [(2, 3, 4), (2, 5, 4), (2, 5, 3)]),
    "float_mask": (lambda l, q, k, v, m: F(l).scaled_dot_product_attention(q, k, v, attn_mask=m),
                   [(2, 3, 4), (2, 5, 4), (2, 5, 3), (3, 5)]),
    "float_mask_4d": (lambda l, q, k, v, m: F(l).scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.3),
                      [(2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 3), (2, 1, 3, 5)]),
    "bool_mask": (lambda l, q, k, v: F(l).scaled_dot_product_attention(
        q, k, v, attn_mask=l.tensor([[True, False, True, True, False]] * 3)), [(2, 3, 4), (2, 5, 4), (2, 5, 3)]),
}


@pytest.mark.parametrize("name", sorted(SDPA))
def test_sdpa_double_backward(name):
    fn, shapes = SDPA[name]
    with sdpa_kernel(SDPBackend.MATH):
        dbl(fn, shapes)


def test_sdpa_attn_mask_gradient_first_order():
    rng = np.random.default_rng(3)
    a = [rng.standard_normal(s) for s in [(2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 3), (3, 5)]]
    res = []
    for lib in (torch, ctorch):
        q, k, v, m = [lib.tensor(x, dtype=lib.float32, requires_grad=True) for x in a]
        out = F(lib).scaled_dot_product_attention(q, k, v, attn_mask=m)
        (out * out).sum().backward()
        res.append([_np(t.grad) for t in (q, k, v, m)])
        assert m.grad is not None and m.grad.grad_fn is None
    for x, y in zip(*res):
        np.testing.assert_allclose(y, x, rtol=1e-4, atol=1e-5)


def test_mha_float_attn_mask_gradient():
    res = []
    rng = np.random.default_rng(4)
    xa, ma = rng.standard_normal((4, 2, 6)), rng.standard_normal((4, 4))
    for lib in (torch, ctorch):
        lib.manual_seed(0)
        mha = lib.nn.MultiheadAttention(6, 2).double()
        if lib is torch:
            tm = mha
        else:
            _copy_params(mha, tm)
        x = lib.tensor(xa, dtype=lib.float64)
        m = lib.tensor(ma, dtype=lib.float64, requires_grad=True)
        out, _ = mha(x, x, x, attn_mask=m)
        (out ** 2).sum().backward()
        res.append(_np(m.grad))
    np.testing.assert_allclose(res[1], res[0], rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------- recurrent layers and scenarios

def _copy_params(cm, tm):
    for (n1, p), (n2, q) in zip(cm.named_parameters(), tm.named_parameters()):
        assert n1 == n2
        with ctorch.no_grad():
            p.copy_(ctorch.tensor(q.detach().tolist(), dtype=p.dtype))


def hvp_module(make, xshape, seed=0, loss=lambda y: (y ** 2).sum(), prep=None):
    """Hessian-vector products (inputs and parameters) of loss(module(x)) in both libraries."""
    outs = []
    for lib in (torch, ctorch):
        with sdpa_kernel(SDPBackend.MATH):
            lib.manual_seed(0)
            m = make(lib).double()
            if lib is torch:
                tm = m
            else:
                _copy_params(m, tm)
            m.eval()
            x = lib.tensor(np.random.default_rng(seed).standard_normal(xshape), dtype=lib.float64, requires_grad=True)
            y = m(prep(lib, x) if prep else x)
            if isinstance(y, tuple):
                y = y[0]
            if hasattr(y, "data") and not isinstance(y, (torch.Tensor, ctorch.Tensor)):  # PackedSequence
                y = y.data
            ps = [x] + list(m.parameters())
            gs = lib.autograd.grad(loss(y), ps, create_graph=True)
            vs = [lib.tensor(np.random.default_rng(i + 7).standard_normal(tuple(g.shape)), dtype=lib.float64)
                  for i, g in enumerate(gs)]
            hv = lib.autograd.grad(sum((g * v).sum() for g, v in zip(gs, vs)), ps, allow_unused=True)
            outs.append([_np(g) for g in gs] + [_np(h) for h in hv])
    for a, b in zip(*outs):
        if a is None or b is None:
            assert (a is None or not a.any()) and (b is None or not b.any())
        else:
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-9)


RNNS = {
    "lstm": lambda l: l.nn.LSTM(3, 4),
    "gru": lambda l: l.nn.GRU(3, 4),
    "rnn_tanh": lambda l: l.nn.RNN(3, 4),
    "rnn_relu": lambda l: l.nn.RNN(3, 4, nonlinearity="relu"),
    "lstm_proj_bidir_2layers": lambda l: l.nn.LSTM(3, 4, proj_size=2, num_layers=2, bidirectional=True),
    "gru_bidir_nobias": lambda l: l.nn.GRU(3, 4, bidirectional=True, bias=False),
}


@pytest.mark.parametrize("name", sorted(RNNS))
def test_rnn_hessian_vector_product(name):
    hvp_module(RNNS[name], (5, 2, 3))


def test_lstm_packed_hvp():
    def prep(lib, x):
        return lib.nn.utils.rnn.pack_padded_sequence(x, lib.tensor([5, 3]), enforce_sorted=True)
    hvp_module(lambda l: l.nn.LSTM(3, 4, bidirectional=True), (5, 2, 3), prep=prep)


def test_lstm_initial_state_hvp():
    res = []
    rng = np.random.default_rng(1)
    arrs = [rng.standard_normal(s) for s in [(4, 2, 3), (1, 2, 4), (1, 2, 4)]]
    for lib in (torch, ctorch):
        lib.manual_seed(0)
        m = lib.nn.LSTM(3, 4).double()
        if lib is torch:
            tm = m
        else:
            _copy_params(m, tm)
        x, h0, c0 = [lib.tensor(a, dtype=lib.float64, requires_grad=True) for a in arrs]
        y, (hn, cn) = m(x, (h0, c0))
        L = (y ** 2).sum() + (hn * cn).sum()
        gs = lib.autograd.grad(L, [x, h0, c0], create_graph=True)
        hv = lib.autograd.grad(sum((g ** 2).sum() for g in gs), [x, h0, c0] + list(m.parameters()))
        res.append([_np(g) for g in gs + hv])
    for a, b in zip(*res):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-9)


def test_transformer_encoder_layer_hvp():
    hvp_module(lambda l: l.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), (5, 2, 8))
    hvp_module(lambda l: l.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu", norm_first=True,
                                                      batch_first=True), (2, 5, 8))


def test_wgan_gp_gradient_penalty():
    acts = {"leaky": lambda l: l.nn.LeakyReLU(0.2), "relu": lambda l: l.nn.ReLU(), "tanh": lambda l: l.nn.Tanh(),
            "softplus": lambda l: l.nn.Softplus()}
    for name, act in acts.items():
        res = []
        rng = np.random.default_rng(2)
        real, fake, alpha = rng.standard_normal((6, 4)), rng.standard_normal((6, 4)), rng.random((6, 1))
        for lib in (torch, ctorch):
            lib.manual_seed(0)
            D = lib.nn.Sequential(lib.nn.Linear(4, 8), act(lib), lib.nn.Linear(8, 8), act(lib), lib.nn.Linear(8, 1))
            D = D.double()
            if lib is torch:
                tD = D
            else:
                _copy_params(D, tD)
            r, f, a = (lib.tensor(v, dtype=lib.float64) for v in (real, fake, alpha))
            xi = (a * r + (1 - a) * f).requires_grad_(True)
            out = D(xi)
            g, = lib.autograd.grad(out, xi, grad_outputs=lib.ones_like(out), create_graph=True)
            gp = ((g.norm(2, dim=1) - 1) ** 2).mean()
            loss = D(f).mean() - D(r).mean() + 10 * gp
            loss.backward()
            res.append([_np(p.grad) for p in D.parameters()])
        for a, b in zip(*res):
            np.testing.assert_allclose(b, a, rtol=1e-7, atol=1e-10, err_msg=name)


def test_maml_inner_step():
    res = []
    rng = np.random.default_rng(5)
    xs, xq = rng.standard_normal((8, 5)), rng.standard_normal((8, 5))
    ys, yq = rng.integers(0, 3, 8), rng.integers(0, 3, 8)
    for lib in (torch, ctorch):
        lib.manual_seed(0)
        net = lib.nn.Sequential(lib.nn.Linear(5, 16), lib.nn.ReLU(), lib.nn.Linear(16, 3)).double()
        if lib is torch:
            tnet = net
        else:
            _copy_params(net, tnet)
        w1, b1, w2, b2 = list(net.parameters())

        def fwd(x, p):
            return F(lib).linear(F(lib).relu(F(lib).linear(x, p[0], p[1])), p[2], p[3])
        params = [w1, b1, w2, b2]
        for _ in range(2):  # two inner steps, second-order
            inner = F(lib).cross_entropy(fwd(lib.tensor(xs), params), lib.tensor(ys))
            grads = lib.autograd.grad(inner, params, create_graph=True)
            params = [p - 0.4 * g for p, g in zip(params, grads)]
        outer = F(lib).cross_entropy(fwd(lib.tensor(xq), params), lib.tensor(yq), label_smoothing=0.1)
        outer.backward()
        res.append([_np(p.grad) for p in (w1, b1, w2, b2)])
    for a, b in zip(*res):
        np.testing.assert_allclose(b, a, rtol=1e-7, atol=1e-10)


def test_first_order_values_unchanged_float32():
    # the fused kernels still give the first-order gradients; the create_graph composites agree
    x = ctorch.randn(4, 6, requires_grad=True)
    t = ctorch.tensor([0, 2, 5, 1])
    for f in (lambda a: F(ctorch).cross_entropy(a, t, label_smoothing=0.1), lambda a: F(ctorch).gelu(a).sum(),
              lambda a: F(ctorch).log_softmax(a, 1).sum(), lambda a: F(ctorch).smooth_l1_loss(a, a.detach() * 0.5)):
        g1, = ctorch.autograd.grad(f(x), x)
        g2, = ctorch.autograd.grad(f(x), x, create_graph=True)
        assert g1.grad_fn is None and g2.requires_grad
        np.testing.assert_allclose(_np(g2), _np(g1), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- C ops with fused backwards (C API)

def test_c_local_response_norm_double_backward():
    nn = ctorch._C._ns_nn
    for size, k, shape in [(3, 1.0, (2, 5, 3, 2)), (4, 2.0, (2, 5, 3))]:
        dbl(lambda l, x: nn.local_response_norm(x, size, 0.1, 0.75, k) if l is ctorch
            else F(l).local_response_norm(x, size, 0.1, 0.75, k), [shape])


def test_c_lp_pool_double_backward():
    nn = ctorch._C._ns_nn
    dbl(lambda l, x: nn.lp_pool(x.abs() + 0.2, 2.0, [2, 2], [2, 2], False) if l is ctorch
        else F(l).lp_pool2d(x.abs() + 0.2, 2.0, 2, 2), [(1, 2, 4, 4)])
    dbl(lambda l, x: nn.lp_pool(x.abs() + 0.2, 3.0, [3], [2], True) if l is ctorch
        else F(l).lp_pool1d(x.abs() + 0.2, 3.0, 3, 2, ceil_mode=True), [(1, 2, 8)])


def test_python_lp_pool_and_lrn_double_backward():
    dbl(lambda l, x: F(l).lp_pool2d(x.abs() + 0.2, 2.0, 2), [(1, 2, 4, 4)])
    dbl(lambda l, x: F(l).local_response_norm(x, 3), [(2, 5, 3)])


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("pad", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [False, True])
def test_grid_sample_double_backward(mode, pad, align):
    for shapes in ([(2, 3, 4, 5), (2, 3, 2, 2)], [(1, 2, 3, 4, 3), (1, 2, 2, 3, 3)]):
        dbl(lambda l, x, g: F(l).grid_sample(x, g * 1.3, mode=mode, padding_mode=pad, align_corners=align), shapes)


def test_grid_sample_affine_grid_gradgradcheck():
    x = ctorch.randn(1, 2, 3, 3, dtype=ctorch.float64, requires_grad=True)
    theta = ctorch.tensor([[[0.9, 0.2, 0.1], [-0.1, 1.1, 0.05]]], dtype=ctorch.float64, requires_grad=True)
    assert ctorch.autograd.gradgradcheck(
        lambda a, t: F(ctorch).grid_sample(a, F(ctorch).affine_grid(t, (1, 2, 2, 2), align_corners=False),
                                           align_corners=False), (x, theta))


def test_inplace_activations_double_backward():
    dbl(lambda l, x: F(l).relu(x * 1, inplace=True) * x, [(4, 3)])
    dbl(lambda l, x: F(l).leaky_relu(x * 1, 0.2, inplace=True) * x, [(4, 3)])
    dbl(lambda l, x: F(l).elu(x * 1, inplace=True) * x, [(4, 3)])
    dbl(lambda l, x: F(l).silu(x * 1, inplace=True) * x, [(4, 3)])
    dbl(lambda l, x: F(l).hardtanh(x * 2, inplace=True) * x, [(4, 3)])


def test_conv_wgan_gp_with_inplace_leaky_relu_and_norm():
    res = []
    rng = np.random.default_rng(7)
    real, fake = rng.standard_normal((3, 2, 6, 6)), rng.standard_normal((3, 2, 6, 6))
    for lib in (torch, ctorch):
        lib.manual_seed(0)
        D = lib.nn.Sequential(lib.nn.Conv2d(2, 4, 3, 2, 1), lib.nn.LeakyReLU(0.2, inplace=True),
                              lib.nn.Conv2d(4, 4, 3, 1, 1), lib.nn.LayerNorm([4, 3, 3]), lib.nn.SiLU(),
                              lib.nn.Flatten(), lib.nn.Linear(36, 1)).double()
        if lib is torch:
            tD = D
        else:
            _copy_params(D, tD)
        r, f = lib.tensor(real), lib.tensor(fake)
        xi = (0.3 * r + 0.7 * f).requires_grad_(True)
        out = D(xi)
        g, = lib.autograd.grad(out.sum(), xi, create_graph=True)
        gp = ((g.reshape(3, -1).norm(2, dim=1) - 1) ** 2).mean()
        (D(f).mean() - D(r).mean() + 10 * gp).backward()
        res.append([_np(p.grad) for p in D.parameters()])
    for a, b in zip(*res):
        np.testing.assert_allclose(b, a, rtol=1e-7, atol=1e-10)


def test_sdpa_create_graph_matches_fused_first_order():
    # dropout (same mask), causal, fully masked rows: the composite's gradients equal the kernel's
    q = ctorch.randn(2, 4, 3, dtype=ctorch.float64, requires_grad=True)
    k = ctorch.randn(2, 3, 3, dtype=ctorch.float64, requires_grad=True)
    v = ctorch.randn(2, 3, 2, dtype=ctorch.float64, requires_grad=True)
    m = ctorch.tensor([[True, False, True], [False, False, False], [True, True, True], [False, True, False]])
    for kw in [dict(dropout_p=0.3), dict(is_causal=True), dict(attn_mask=m), dict(attn_mask=m, dropout_p=0.5)]:
        outs = []
        for cg in (False, True):
            ctorch.manual_seed(3)
            o = F(ctorch).scaled_dot_product_attention(q, k, v, **kw)
            gs = ctorch.autograd.grad((o * o).sum(), [q, k, v], create_graph=cg)
            outs.append([_np(g) for g in gs])
        for a, b in zip(*outs):
            np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
            assert not np.isnan(b).any()


@pytest.mark.parametrize("dt", ["float32", "bfloat16"])
def test_create_graph_low_precision(dt):
    for f in (lambda l, x: F(l).cross_entropy(x, l.zeros(3, dtype=l.long), label_smoothing=0.1),
              lambda l, x: F(l).gelu(x).sum(), lambda l, x: F(l).log_softmax(x, 1).pow(2).sum(),
              lambda l, x: F(l).binary_cross_entropy_with_logits(x, x.detach().sigmoid())):
        res = []
        for lib in (torch, ctorch):
            x = lib.tensor(np.random.default_rng(0).standard_normal((3, 4)), dtype=getattr(lib, dt), requires_grad=True)
            g, = lib.autograd.grad(f(lib, x), x, create_graph=True)
            gg, = lib.autograd.grad((g.float() ** 2).sum(), x)
            assert g.dtype == x.dtype and gg.dtype == x.dtype
            res.append((_np(g.float()), _np(gg.float())))
        tol = 1e-5 if dt == "float32" else 5e-2
        np.testing.assert_allclose(res[1][0], res[0][0], rtol=tol, atol=tol)
        np.testing.assert_allclose(res[1][1], res[0][1], rtol=10 * tol, atol=10 * tol)


@pytest.mark.parametrize("avg", [True, False])
def test_mha_attention_weights_are_differentiable(avg):
    # the returned attention weights carry the graph (first order and create_graph), like torch's
    xa = np.random.default_rng(0).standard_normal((3, 2, 4))
    res = []
    for lib in (torch, ctorch):
        lib.manual_seed(0)
        m = lib.nn.MultiheadAttention(4, 2).double()
        if lib is torch:
            tm = m
        else:
            _copy_params(m, tm)
        x = lib.tensor(xa, requires_grad=True)
        o, w = m(x, x, x, average_attn_weights=avg)
        assert w.requires_grad
        ps = [x] + list(m.parameters())
        g1 = [g for g in lib.autograd.grad((w ** 2).sum(), ps, retain_graph=True, allow_unused=True) if g is not None]
        gs = lib.autograd.grad((o ** 2).sum() + (w ** 3).sum(), ps, create_graph=True)
        hv = lib.autograd.grad(sum((g ** 2).sum() for g in gs), [x])
        res.append([_np(g) for g in list(g1) + list(gs) + list(hv)])
    for a, b in zip(*res):
        np.testing.assert_allclose(b, a, rtol=1e-7, atol=1e-10)
