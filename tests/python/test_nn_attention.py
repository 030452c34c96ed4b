"""scaled_dot_product_attention, multi_head_attention_forward and nn.MultiheadAttention vs torch."""
import numpy as np
import pytest
import torch

import ctorch

TDT = {"float32": (torch.float32, 1e-5), "float64": (torch.float64, 1e-11)}


def t2c(x, requires_grad=False):
    return ctorch.tensor(x.detach().numpy(), requires_grad=requires_grad)


def close(c, t, tol):
    assert tuple(c.shape) == tuple(t.shape)
    np.testing.assert_allclose(np.array(c.detach().tolist()), t.detach().double().numpy(), rtol=tol, atol=tol)


def rand(*shape, dtype="float64"):
    return torch.randn(*shape, dtype=TDT[dtype][0], requires_grad=True)


MASKS = [None, "bool2d", "bool4d", "float3d", "causal", "fully_masked_row"]


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("scale", [None, 0.25])
def test_sdpa_forward_backward(mask, dtype, scale):
    torch.manual_seed(0)
    q, k, v = rand(2, 3, 5, 4, dtype=dtype), rand(2, 3, 7, 4, dtype=dtype), rand(2, 3, 7, 6, dtype=dtype)
    tmask = None
    causal = False
    if mask == "bool2d":
        tmask = torch.rand(5, 7) > 0.3
        tmask[:, 0] = True
    elif mask == "bool4d":
        tmask = torch.rand(2, 1, 5, 7) > 0.5
        tmask[..., 1] = True
    elif mask == "float3d":
        tmask = torch.randn(3, 5, 7, dtype=TDT[dtype][0])
    elif mask == "causal":
        causal = True
    elif mask == "fully_masked_row":
        tmask = torch.rand(5, 7) > 0.3
        tmask[2] = False
        tmask[0, 0] = True
    cq, ck, cv = t2c(q, True), t2c(k, True), t2c(v, True)
    cmask = t2c(tmask) if tmask is not None else None
    to = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=tmask, is_causal=causal, scale=scale)
    co = ctorch.nn.functional.scaled_dot_product_attention(cq, ck, cv, attn_mask=cmask, is_causal=causal, scale=scale)
    tol = TDT[dtype][1]
    close(co, to, tol)
    (to * to * to).sum().backward()
    (co * co * co).sum().backward()
    for a, b in ((cq, q), (ck, k), (cv, v)):
        close(a.grad, b.grad, tol * 10)


def test_sdpa_broadcast_and_3d():
    q = rand(4, 5, 8)
    k = rand(1, 6, 8)
    v = rand(1, 6, 3)
    cq, ck, cv = t2c(q, True), t2c(k, True), t2c(v, True)
    to = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    co = ctorch.nn.functional.scaled_dot_product_attention(cq, ck, cv)
    close(co, to, 1e-12)
    to.sum().backward()
    co.sum().backward()
    close(ck.grad, k.grad, 1e-11)
    close(cv.grad, v.grad, 1e-11)


def test_sdpa_gqa():
    q, k, v = rand(2, 4, 5, 8), rand(2, 2, 6, 8), rand(2, 2, 6, 8)
    to = torch.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    co = ctorch.nn.functional.scaled_dot_product_attention(t2c(q), t2c(k), t2c(v), enable_gqa=True)
    close(co, to, 1e-12)


def test_sdpa_dropout_deterministic():
    q = ctorch.randn(2, 4, 6, 8)
    ctorch.manual_seed(5)
    a = ctorch.nn.functional.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    ctorch.manual_seed(5)
    b = ctorch.nn.functional.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    assert a.tolist() == b.tolist()
    c = ctorch.nn.functional.scaled_dot_product_attention(q, q, q, dropout_p=0.0)
    assert a.tolist() != c.tolist()
    z = ctorch.nn.functional.scaled_dot_product_attention(q, q, q, dropout_p=1.0)
    assert float(z.abs().max()) == 0.0
    # gradient through the dropped-out weights matches a finite difference
    qq = ctorch.randn(1, 3, 4, dtype=ctorch.float64, requires_grad=True)
    ctorch.manual_seed(7)
    out = ctorch.nn.functional.scaled_dot_product_attention(qq, qq, qq, dropout_p=0.3)
    out.sum().backward()
    eps = 1e-6
    base = qq.detach().clone()
    num = []
    for i in range(12):
        vals = []
        for s in (eps, -eps):
            x = base.clone().reshape(-1)
            x[i] = x[i] + s
            ctorch.manual_seed(7)
            vals.append(float(ctorch.nn.functional.scaled_dot_product_attention(
                x.reshape(1, 3, 4), x.reshape(1, 3, 4), x.reshape(1, 3, 4), dropout_p=0.3).sum()))
        num.append((vals[0] - vals[1]) / (2 * eps))
    np.testing.assert_allclose(np.array(qq.grad.reshape(-1).tolist()), num, rtol=1e-5, atol=1e-6)


def test_sdpa_bad_inputs():
    q = ctorch.randn(2, 3, 4)
    with pytest.raises(RuntimeError):
        ctorch.nn.functional.scaled_dot_product_attention(q, q, q, attn_mask=ctorch.ones(3, 3, dtype=ctorch.bool),
                                                          is_causal=True)
    with pytest.raises(RuntimeError):
        torch.nn.functional.scaled_dot_product_attention(torch.randn(2, 3, 4), torch.randn(2, 3, 4),
                                                         torch.randn(2, 3, 4, dtype=torch.float64))
    with pytest.raises(RuntimeError):
        ctorch.nn.functional.scaled_dot_product_attention(q, q, ctorch.randn(2, 3, 4, dtype=ctorch.float64))


def mha_pair(*args, dtype="float64", **kw):
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(*args, **kw).to(TDT[dtype][0])
    cm = ctorch.nn.MultiheadAttention(*args, **kw).to(ctorch.float64 if dtype == "float64" else ctorch.float32)
    assert list(cm.state_dict()) == list(tm.state_dict())
    assert repr(cm) == repr(tm)
    cm.load_state_dict({k: t2c(v) for k, v in tm.state_dict().items()})
    return tm, cm


MHA_CONFIGS = [
    {}, {"batch_first": True}, {"bias": False}, {"kdim": 3, "vdim": 5}, {"add_bias_kv": True},
    {"add_zero_attn": True}, {"add_bias_kv": True, "add_zero_attn": True, "kdim": 3, "vdim": 5, "batch_first": True},
]


@pytest.mark.parametrize("kw", MHA_CONFIGS)
@pytest.mark.parametrize("masks", [None, "kpm_bool", "attn_float", "both", "attn3d_bool"])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_multihead_attention(kw, masks, need_weights, average):
    tm, cm = mha_pair(8, 2, **kw)
    bf = kw.get("batch_first", False)
    kd, vd = kw.get("kdim", 8), kw.get("vdim", 8)
    L, S, B = 4, 6, 3

    def shp(n, e):
        return (B, n, e) if bf else (n, B, e)
    q = torch.randn(*shp(L, 8), dtype=torch.float64, requires_grad=True)
    same = "kdim" not in kw
    k = q if same else torch.randn(*shp(S, kd), dtype=torch.float64, requires_grad=True)
    v = q if same else torch.randn(*shp(S, vd), dtype=torch.float64, requires_grad=True)
    S = k.shape[1 if bf else 0]
    cq = t2c(q, True)
    ck = cq if same else t2c(k, True)
    cv = cq if same else t2c(v, True)
    extra = (1 if kw.get("add_bias_kv") else 0) + (1 if kw.get("add_zero_attn") else 0)
    tkw, ckw = {}, {}
    if masks in ("kpm_bool", "both"):
        kpm = torch.zeros(B, S, dtype=torch.bool)
        kpm[1, S - 2:] = True
        tkw["key_padding_mask"], ckw["key_padding_mask"] = kpm, t2c(kpm)
    if masks in ("attn_float", "both"):
        am = torch.randn(L, S, dtype=torch.float64)
        tkw["attn_mask"], ckw["attn_mask"] = am, t2c(am)
    if masks == "attn3d_bool":
        am = torch.rand(B * 2, L, S) > 0.7
        am[..., 0] = False
        tkw["attn_mask"], ckw["attn_mask"] = am, t2c(am)
    to, tw = tm(q, k, v, need_weights=need_weights, average_attn_weights=average, **tkw)
    co, cw = cm(cq, ck, cv, need_weights=need_weights, average_attn_weights=average, **ckw)
    close(co, to, 1e-11)
    if need_weights:
        close(cw, tw, 1e-11)
    else:
        assert cw is None and tw is None
    (to * to).sum().backward()
    (co * co).sum().backward()
    close(cq.grad, q.grad, 1e-10)
    if not same:
        close(ck.grad, k.grad, 1e-10)
        close(cv.grad, v.grad, 1e-10)
    for (n, p), (n2, c) in zip(tm.named_parameters(), cm.named_parameters()):
        assert n == n2
        close(c.grad, p.grad, 1e-10)
    del extra


def test_multihead_attention_float32_and_unbatched():
    tm, cm = mha_pair(8, 4, dtype="float32")
    q = torch.randn(5, 8)
    to, tw = tm(q, q, q)
    co, cw = cm(t2c(q), t2c(q), t2c(q))
    close(co, to, 1e-5)
    close(cw, tw, 1e-5)


def test_multihead_attention_dropout_and_errors():
    cm = ctorch.nn.MultiheadAttention(8, 2, dropout=0.5)
    x = ctorch.randn(4, 2, 8)
    ctorch.manual_seed(1)
    a, _ = cm(x, x, x)
    ctorch.manual_seed(1)
    b, _ = cm(x, x, x)
    assert a.tolist() == b.tolist()
    cm.eval()
    e, _ = cm(x, x, x)
    cm2 = ctorch.nn.MultiheadAttention(8, 2)
    cm2.load_state_dict(cm.state_dict())
    assert cm2(x, x, x)[0].tolist() == e.tolist()
    with pytest.raises(AssertionError):
        torch.nn.MultiheadAttention(8, 3)
    with pytest.raises(AssertionError):
        ctorch.nn.MultiheadAttention(8, 3)
    with pytest.raises(RuntimeError):
        torch.nn.MultiheadAttention(8, 2)(torch.randn(4, 2, 8), torch.randn(4, 2, 8), torch.randn(4, 2, 8),
                                          attn_mask=torch.zeros(3, 3))
    with pytest.raises(RuntimeError):
        cm(x, x, x, attn_mask=ctorch.zeros(3, 3))
    with pytest.raises(RuntimeError):
        cm(x, x, x, is_causal=True)


def test_multi_head_attention_forward_functional():
    torch.manual_seed(0)
    E, H = 8, 2
    w = torch.randn(3 * E, E, dtype=torch.float64)
    b = torch.randn(3 * E, dtype=torch.float64)
    ow = torch.randn(E, E, dtype=torch.float64)
    ob = torch.randn(E, dtype=torch.float64)
    q = torch.randn(4, 2, E, dtype=torch.float64)
    k = torch.randn(6, 2, E, dtype=torch.float64)
    to, tw = torch.nn.functional.multi_head_attention_forward(q, k, k, E, H, w, b, None, None, False, 0.0, ow, ob,
                                                              training=False)
    co, cw = ctorch.nn.functional.multi_head_attention_forward(t2c(q), t2c(k), t2c(k), E, H, t2c(w), t2c(b), None,
                                                               None, False, 0.0, t2c(ow), t2c(ob), training=False)
    close(co, to, 1e-12)
    close(cw, tw, 1e-12)
