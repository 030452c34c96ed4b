"""nn features vs torch: grid_sample mode='bicubic', interpolate(antialias=True) (bilinear and
bicubic), and dropout inside scaled_dot_product_attention / MultiheadAttention with the
generator consumed as torch does (same seed -> equal outputs and gradients)."""
import warnings

import numpy as np
import pytest
import torch

import ctorch
from helpers import assert_same, check, check_grad, make_pair

F64 = dict(dtype="float64", rtol=1e-9, atol=1e-10)
F32 = dict(dtype="float32", rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ grid_sample bicubic

@pytest.mark.parametrize("pm", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("ac", [False, True])
def test_grid_sample_bicubic(pm, ac):
    f = lambda lib, x, g: lib.nn.functional.grid_sample(x, g, mode="bicubic", padding_mode=pm,  # noqa
                                                        align_corners=ac)
    # grid points well outside [-1, 1] exercise the padding of every tap
    check_grad(f, (2, 3, 5, 6), (2, 4, 7, 2), low=-1.8, high=1.8, **F64)
    check_grad(f, (2, 3, 5, 6), (2, 4, 7, 2), low=-1.8, high=1.8, seed=3, **F32)
    check_grad(f, (3, 2, 4, 5), (3, 3, 2, 2), low=-1.5, high=1.5, seed=5, noncontig=True, **F64)


def test_grid_sample_bicubic_noncontig_and_special():
    x = make_pair((2, 3, 6, 5), dtype="float64", seed=1, noncontig=True)
    g = make_pair((2, 4, 3, 2), dtype="float64", low=-1.2, high=1.2, seed=2)
    for pm in ["zeros", "border", "reflection"]:
        check(lambda lib, x, g: lib.nn.functional.grid_sample(x.transpose(2, 3), g, mode="bicubic",
                                                              padding_mode=pm, align_corners=False), x, g)
    # 1x1 input, far-away grid points, empty grid
    x1 = make_pair((1, 2, 1, 1), dtype="float64", seed=3)
    gf = make_pair((1, 2, 2, 2), dtype="float64", low=-9, high=9, seed=4)
    for pm in ["zeros", "border", "reflection"]:
        for ac in [False, True]:
            f = lambda lib, x, g: lib.nn.functional.grid_sample(x, g, mode="bicubic", padding_mode=pm,  # noqa
                                                                align_corners=ac)
            check(f, x1, gf)
            check(f, make_pair((1, 2, 3, 4), dtype="float64", seed=5), gf)
    ge = make_pair((1, 0, 3, 2), seed=6)
    check(lambda lib, x, g: lib.nn.functional.grid_sample(x, g, mode="bicubic", align_corners=True),
          make_pair((1, 2, 3, 4), seed=7), ge)


def test_grid_sample_bicubic_gradcheck():
    rng = np.random.default_rng(0)
    for pm in ["zeros", "border", "reflection"]:
        for ac in [False, True]:
            x = ctorch.tensor(rng.standard_normal((1, 2, 4, 5)), dtype=ctorch.float64, requires_grad=True)
            g = ctorch.tensor(rng.uniform(-1.4, 1.4, (1, 3, 2, 2)), dtype=ctorch.float64, requires_grad=True)
            assert ctorch.autograd.gradcheck(
                lambda x, g: ctorch.nn.functional.grid_sample(x, g, mode="bicubic", padding_mode=pm,
                                                              align_corners=ac), (x, g))


def test_grid_sample_bicubic_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x5 = make_pair((1, 2, 3, 3, 3), seed=0)
        g5 = make_pair((1, 2, 2, 2, 3), seed=1)
        check(lambda lib, x, g: lib.nn.functional.grid_sample(x, g, mode="bicubic"), x5, g5)
        check(lambda lib, x, g: lib.nn.functional.grid_sample(x.double(), g, mode="bicubic"),
              make_pair((1, 2, 3, 3), seed=2), make_pair((1, 2, 2, 2), seed=3))
        check(lambda lib, x, g: lib.nn.functional.grid_sample(x, g, mode="bicubic", padding_mode="edge"),
              make_pair((1, 2, 3, 3), seed=2), make_pair((1, 2, 2, 2), seed=3))


# ------------------------------------------------------------------ interpolate(antialias=True)

AA_CASES = [((2, 3, 17, 13), dict(size=(5, 4))),          # downsampling
            ((2, 2, 6, 5), dict(size=(13, 11))),          # upsampling
            ((1, 2, 9, 30), dict(scale_factor=0.3)),
            ((1, 2, 9, 30), dict(scale_factor=(2.5, 0.41))),  # up in H, down in W
            ((1, 2, 9, 8), dict(size=(9, 3))),            # one dim unchanged
            ((1, 1, 40, 33), dict(scale_factor=1 / 7.3)),  # wide filter support
            ((1, 2, 5, 6), dict(size=(1, 1))),
            ((1, 2, 10, 12), dict(scale_factor=0.5, recompute_scale_factor=True))]


# (torch's lanczos mode rejects align_corners=True: checked in the errors test)
@pytest.mark.parametrize("mode,ac", [("bilinear", False), ("bilinear", True), ("bicubic", False), ("bicubic", True),
                                     ("lanczos", False)])
def test_interpolate_antialias(mode, ac):
    for i, (shape, kw) in enumerate(AA_CASES):
        f = lambda lib, x: lib.nn.functional.interpolate(x, mode=mode, align_corners=ac, antialias=True, **kw)  # noqa
        c, t = check_grad(f, shape, seed=i, **F64)
        assert c.grad_fn.name() == t.grad_fn.name()
        check_grad(f, shape, seed=i, low=-3, high=3, **F32)
    f = lambda lib, x: lib.nn.functional.interpolate(x, size=(4, 7), mode=mode, align_corners=ac,  # noqa
                                                     antialias=True)
    check_grad(f, (3, 2, 9, 5), noncontig=True, **F64)
    # double backward: the backward is itself recorded (its adjoint is the forward)
    check_grad(f, (1, 2, 9, 5), create_graph=True, **F64)


def test_interpolate_antialias_float32_values():
    """float32 values within 1e-5 of torch's on a larger image (both directions)."""
    x = make_pair((2, 3, 64, 48), dtype="float32", low=0, high=1, seed=11)
    for mode in ["bilinear", "bicubic", "lanczos"]:
        for size in [(21, 17), (100, 150), (64, 20)]:
            check(lambda lib, x: lib.nn.functional.interpolate(x, size=size, mode=mode, antialias=True), x,
                  rtol=0, atol=1e-5)


def test_interpolate_antialias_errors():
    x4 = make_pair((1, 2, 6, 6), seed=0)
    x3 = make_pair((1, 2, 6), seed=1)
    cases = [lambda lib, x4, x3: lib.nn.functional.interpolate(x4, size=(3, 3), mode="nearest", antialias=True),
             lambda lib, x4, x3: lib.nn.functional.interpolate(x3, size=3, mode="linear", antialias=True),
             lambda lib, x4, x3: lib.nn.functional.interpolate(x3, size=3, mode="bilinear", antialias=True),
             lambda lib, x4, x3: lib.nn.functional.interpolate(x4, size=(3, 3), mode="lanczos"),
             lambda lib, x4, x3: lib.nn.functional.interpolate(x4, size=(3, 3), mode="lanczos", align_corners=True,
                                                               antialias=True),
             lambda lib, x4, x3: lib.nn.functional.interpolate(x3, size=3, mode="lanczos"),
             lambda lib, x4, x3: lib.nn.functional.interpolate(x4.half(), size=(3, 3), mode="bilinear", antialias=True),
             lambda lib, x4, x3: lib.nn.functional.interpolate(x4.bfloat16(), size=(3, 3), mode="bicubic",
                                                               antialias=True),
             lambda lib, x4, x3: lib.nn.functional.interpolate(x4.long(), size=(3, 3), mode="bicubic", antialias=True),
             lambda lib, x4, x3: lib.nn.functional.interpolate(x4, size=(0, 3), mode="bilinear", antialias=True)]
    for fn in cases:
        check(fn, x4, x3)


# ------------------------------------------------------------------ dropout in attention (same seed as torch)

def _seeded(lib, seed, fn, arrays, dtype):
    ins = [lib.tensor(a, dtype=getattr(lib, dtype), requires_grad=True) for a in arrays]
    lib.manual_seed(seed)
    out = fn(lib, *ins)
    outs = out if isinstance(out, tuple) else (out,)
    rng = np.random.default_rng(seed)
    loss = 0
    for o in outs:
        if o is not None:
            loss = loss + (o * lib.tensor(rng.uniform(-1, 1, tuple(o.shape)), dtype=o.dtype)).sum()
    grads = lib.autograd.grad(loss, ins, allow_unused=True)
    after = lib.rand(5)  # the generator must be left in the same state
    return outs, grads, after


def _compare_seeded(fn, shapes, dtype="float64", seed=0, rtol=1e-9, atol=1e-10):
    rng = np.random.default_rng(seed + 100)
    arrays = [rng.standard_normal(s) for s in shapes]
    c = _seeded(ctorch, seed, fn, arrays, dtype)
    t = _seeded(torch, seed, fn, arrays, dtype)
    for co, to in zip(c[0], t[0]):
        assert (co is None) == (to is None)
        if to is not None:
            assert_same(co, to, rtol, atol)
    for cg, tg in zip(c[1], t[1]):
        assert (cg is None) == (tg is None)
        if tg is not None:
            assert_same(cg, tg, rtol, atol)
    assert_same(c[2], t[2], 0, 0)


SDPA = lambda **kw: (lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(q, k, v, **kw))  # noqa


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_sdpa_dropout_matches_torch(p):
    s4 = [(2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 3)]
    _compare_seeded(SDPA(dropout_p=p), s4, seed=1)
    _compare_seeded(SDPA(dropout_p=p, is_causal=True), s4, seed=2)
    _compare_seeded(SDPA(dropout_p=p, scale=0.3), s4, seed=3)
    _compare_seeded(SDPA(dropout_p=p), s4, seed=4, dtype="float32", rtol=1e-5, atol=1e-6)
    # broadcast batch dims, 3-d inputs, grouped-query attention
    _compare_seeded(SDPA(dropout_p=p), [(2, 3, 5, 4), (1, 3, 6, 4), (3, 6, 4)], seed=5)
    _compare_seeded(SDPA(dropout_p=p), [(4, 5, 4), (4, 7, 4), (4, 7, 2)], seed=6)
    _compare_seeded(SDPA(dropout_p=p, enable_gqa=True), [(2, 4, 5, 4), (2, 2, 6, 4), (2, 2, 6, 4)], seed=7)


def test_sdpa_dropout_masks_matches_torch():
    s4 = [(2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 3)]
    rng = np.random.default_rng(0)
    fm = rng.standard_normal((5, 6))
    bm = rng.random((2, 1, 5, 6)) < 0.7
    bm[..., 0] = True
    for lib_mask in [lambda lib: lib.tensor(fm), lambda lib: lib.tensor(bm)]:
        _compare_seeded(lambda lib, q, k, v: lib.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=lib_mask(lib), dropout_p=0.3), s4, seed=8)
    # dropout_p = 1 draws nothing: everything is dropped and the generator is untouched
    _compare_seeded(SDPA(dropout_p=1.0), s4, seed=9)


def test_sdpa_dropout_statistics():
    ctorch.manual_seed(0)
    q = ctorch.zeros(1, 1, 200, 4)
    v = ctorch.ones(1, 1, 50, 1)
    out = ctorch.nn.functional.scaled_dot_product_attention(q, ctorch.zeros(1, 1, 50, 4), v, dropout_p=0.25)
    # uniform weights 1/50: each output = (kept count) / 50 / 0.75
    kept = out.reshape(-1) * 50 * 0.75
    assert float((kept - kept.round()).abs().max()) < 1e-4
    assert abs(float(kept.mean()) / 50 - 0.75) < 0.02


def _mha_pair(E, H, **kw):
    torch.manual_seed(1)
    tm = torch.nn.MultiheadAttention(E, H, **kw).double()
    cm = ctorch.nn.MultiheadAttention(E, H, **kw).double()
    cm.load_state_dict({k: ctorch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return tm, cm


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights,avg", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("mask", [None, "float", "bool", "key_padding", "causal"])
def test_multihead_attention_dropout_matches_torch(batch_first, need_weights, avg, mask):
    tm, cm = _mha_pair(8, 2, dropout=0.4, batch_first=batch_first)
    L, S, B = 4, 5, 3
    qs = (B, L, 8) if batch_first else (L, B, 8)
    ks = (B, S, 8) if batch_first else (S, B, 8)
    rng = np.random.default_rng(3)
    fm, bm, kpm = rng.standard_normal((L, S)), rng.random((L, S)) < 0.3, rng.random((B, S)) < 0.3
    bm[:, 0] = kpm[:, 0] = False

    def fn(lib, q, k):
        m = tm if lib is torch else cm
        kw = {}
        if mask == "float":
            kw["attn_mask"] = lib.tensor(fm)
        elif mask == "bool":
            kw["attn_mask"] = lib.tensor(bm)
        elif mask == "key_padding":
            kw["key_padding_mask"] = lib.tensor(kpm)
        elif mask == "causal":
            kw["attn_mask"] = lib.nn.Transformer.generate_square_subsequent_mask(L, dtype=lib.float64)
            kw["is_causal"] = True
            k = q
        return m(q, k, k, need_weights=need_weights, average_attn_weights=avg, **kw)

    _compare_seeded(fn, [qs, ks], seed=11)
    # the parameters' gradients too (their .grad from the same seeded step)
    for lib, m in ((torch, tm), (ctorch, cm)):
        m.zero_grad()
        q = lib.tensor(np.random.default_rng(5).standard_normal(qs))
        lib.manual_seed(12)
        o, w = fn(lib, q, q if mask == "causal" else lib.tensor(np.random.default_rng(6).standard_normal(ks)))
        (o.sum() + (w.sum() if w is not None else 0)).backward()
    for (n, tp), cp in zip(tm.named_parameters(), cm.parameters()):
        assert_same(cp.grad, tp.grad, 1e-9, 1e-10)


def test_multihead_attention_weights_eval_and_unbatched():
    tm, cm = _mha_pair(6, 3, dropout=0.5)
    x = np.random.default_rng(0).standard_normal((4, 6))
    for train in (True, False):
        tm.train(train), cm.train(train)
        _compare_seeded(lambda lib, q: (tm if lib is torch else cm)(q, q, q), [(4, 6)], seed=13)
    # a fully masked row: torch's need_weights path gives NaN weights and outputs, SDPA's gives zeros
    tm.eval(), cm.eval()
    m = np.zeros((4, 4), dtype=bool)
    m[1] = True
    for nw in (True, False):
        c = cm(ctorch.tensor(x), ctorch.tensor(x), ctorch.tensor(x), attn_mask=ctorch.tensor(m), need_weights=nw)
        t = tm(torch.tensor(x), torch.tensor(x), torch.tensor(x), attn_mask=torch.tensor(m), need_weights=nw)
        assert_same(c[0], t[0], 1e-9, 1e-10)
        if nw:
            assert_same(c[1], t[1], 1e-9, 1e-10)


def test_grid_sample_bicubic_nonfinite_grid():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 2, 5, 6))
    for pm in ["zeros", "border", "reflection"]:
        for ac in [False, True]:
            for bad in ([np.nan, 0.2], [0.3, np.nan], [np.inf, 0.2], [0.2, -np.inf]):
                g = rng.uniform(-1.2, 1.2, (1, 2, 2, 2))
                g[0, 0, 1] = bad
                res = []
                for lib in (torch, ctorch):
                    xt, gt = lib.tensor(x, requires_grad=True), lib.tensor(g, requires_grad=True)
                    y = lib.nn.functional.grid_sample(xt, gt, mode="bicubic", padding_mode=pm, align_corners=ac)
                    y.sum().backward()
                    res.append((y, xt.grad, gt.grad))
                for c, t in zip(res[1], res[0]):
                    assert_same(c, t, 1e-9, 1e-10)


def test_dropout_permuted_input_draws_in_memory_order():
    x = np.arange(1, 25.0).reshape(2, 3, 4)
    for view in [lambda t: t.transpose(0, 2), lambda t: t.permute(1, 2, 0), lambda t: t[:, ::2]]:
        _compare_seeded(lambda lib, a: lib.nn.functional.dropout(view(a), 0.4), [x.shape], seed=21)


@pytest.mark.parametrize("cls", ["TransformerEncoderLayer", "TransformerDecoderLayer"])
@pytest.mark.parametrize("kw", [dict(), dict(batch_first=True), dict(norm_first=True, batch_first=True)])
def test_transformer_layer_dropout_matches_torch(cls, kw):
    torch.manual_seed(0)
    tm = getattr(torch.nn, cls)(8, 2, 16, dropout=0.3, **kw).double()
    cm = getattr(ctorch.nn, cls)(8, 2, 16, dropout=0.3, **kw).double()
    cm.load_state_dict({k: ctorch.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    if cls == "TransformerEncoderLayer":
        fn = lambda lib, x: (tm if lib is torch else cm)(x)  # noqa
        shapes = [(3, 4, 8)]
    else:
        fn = lambda lib, x, m: (tm if lib is torch else cm)(x, m)  # noqa
        shapes = [(3, 4, 8), (5, 4, 8) if not kw else (3, 5, 8)]
    _compare_seeded(fn, shapes, seed=22)


def test_sdpa_float_mask_gradient():
    s4 = [(2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 3)]
    for p in (0.0, 0.4):
        # the mask is an input requiring grad (shape (L, S), broadcast over batch and heads)
        _compare_seeded(lambda lib, q, k, v, m: lib.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=m, dropout_p=p), s4 + [(5, 6)], seed=23)
    # a fully masked row: zeros and zero gradients
    m = np.zeros((5, 6))
    m[2] = -np.inf
    _compare_seeded(lambda lib, q, k, v, mm: lib.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=mm + lib.tensor(m)), s4 + [(5, 6)], seed=24)
