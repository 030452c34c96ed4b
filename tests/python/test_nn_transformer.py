"""Transformer layers and stacks vs torch with identical weights."""
import warnings

import numpy as np
import pytest
import torch

import ctorch
from helpers import train_mse_in_lockstep


def t2c(x, requires_grad=False):
    return ctorch.tensor(x.detach().numpy(), requires_grad=requires_grad)


def close(c, t, tol):
    assert tuple(c.shape) == tuple(t.shape)
    np.testing.assert_allclose(np.array(c.detach().tolist()), t.detach().double().numpy(), rtol=tol, atol=tol)


def pair(cls, *args, double=True, **kw):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = getattr(torch.nn, cls)(*args, **kw)
    cm = getattr(ctorch.nn, cls)(*args, **kw)
    if double:
        tm, cm = tm.double(), cm.double()
    assert list(cm.state_dict()) == list(tm.state_dict())
    assert [tuple(v.shape) for v in cm.state_dict().values()] == [tuple(v.shape) for v in tm.state_dict().values()]
    assert repr(cm) == repr(tm)
    cm.load_state_dict({k: t2c(v) for k, v in tm.state_dict().items()})
    return tm, cm


ENC = [{}, {"norm_first": True}, {"batch_first": True}, {"bias": False}, {"layer_norm_eps": 1e-3},
       {"activation": "gelu"}, {"norm_first": True, "batch_first": True, "activation": "gelu"}]


@pytest.mark.parametrize("kw", ENC)
@pytest.mark.parametrize("mask", [None, "causal", "kpm"])
def test_encoder_layer(kw, mask):
    tm, cm = pair("TransformerEncoderLayer", 8, 2, 16, dropout=0.0, **kw)
    bf = kw.get("batch_first", False)
    x = torch.randn((3, 5, 8) if bf else (5, 3, 8), dtype=torch.float64, requires_grad=True)
    cx = t2c(x, True)
    tkw, ckw = {}, {}
    if mask == "causal":
        m = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
        tkw["src_mask"], ckw["src_mask"] = m, t2c(m)
        tkw["is_causal"] = ckw["is_causal"] = True
    elif mask == "kpm":
        kpm = torch.zeros(3, 5, dtype=torch.bool)
        kpm[0, 3:] = True
        tkw["src_key_padding_mask"], ckw["src_key_padding_mask"] = kpm, t2c(kpm)
    tm.train()
    to = tm(x, **tkw)
    co = cm(cx, **ckw)
    close(co, to, 1e-10)
    (to * to).sum().backward()
    (co * co).sum().backward()
    close(cx.grad, x.grad, 1e-9)
    for (n, p), (n2, q) in zip(tm.named_parameters(), cm.named_parameters()):
        assert n == n2
        close(q.grad, p.grad, 1e-9)


@pytest.mark.parametrize("kw", [{}, {"norm_first": True}, {"batch_first": True, "bias": False}])
def test_decoder_layer(kw):
    tm, cm = pair("TransformerDecoderLayer", 8, 2, 16, dropout=0.0, **kw)
    bf = kw.get("batch_first", False)
    tgt = torch.randn((2, 4, 8) if bf else (4, 2, 8), dtype=torch.float64, requires_grad=True)
    mem = torch.randn((2, 6, 8) if bf else (6, 2, 8), dtype=torch.float64, requires_grad=True)
    ctgt, cmem = t2c(tgt, True), t2c(mem, True)
    m = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    mkpm = torch.zeros(2, 6, dtype=torch.bool)
    mkpm[1, 4:] = True
    to = tm(tgt, mem, tgt_mask=m, memory_key_padding_mask=mkpm)
    co = cm(ctgt, cmem, tgt_mask=t2c(m), memory_key_padding_mask=t2c(mkpm))
    close(co, to, 1e-10)
    (to * to).sum().backward()
    (co * co).sum().backward()
    close(ctgt.grad, tgt.grad, 1e-9)
    close(cmem.grad, mem.grad, 1e-9)
    for p, q in zip(tm.parameters(), cm.parameters()):
        close(q.grad, p.grad, 1e-9)


def test_encoder_decoder_stacks_and_transformer():
    torch.manual_seed(0)
    tl = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)
    cl = ctorch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        te = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(8), enable_nested_tensor=False).double()
    ce = ctorch.nn.TransformerEncoder(cl, 2, norm=ctorch.nn.modules.transformer.LayerNorm(8),
                                      enable_nested_tensor=False).double()
    assert list(ce.state_dict()) == list(te.state_dict())
    assert repr(ce) == repr(te)
    ce.load_state_dict({k: t2c(v) for k, v in te.state_dict().items()})
    x = torch.randn(5, 3, 8, dtype=torch.float64)
    m = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    close(ce(t2c(x), mask=t2c(m)), te(x, mask=m), 1e-10)

    tm, cm = pair("Transformer", 8, 2, 2, 1, 16, dropout=0.0)
    src = torch.randn(6, 2, 8, dtype=torch.float64, requires_grad=True)
    tgt = torch.randn(4, 2, 8, dtype=torch.float64, requires_grad=True)
    csrc, ctgt = t2c(src, True), t2c(tgt, True)
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    cmask = ctorch.nn.Transformer.generate_square_subsequent_mask(4, dtype=ctorch.float64)
    close(cmask, tmask, 0)
    to = tm(src, tgt, tgt_mask=tmask)
    co = cm(csrc, ctgt, tgt_mask=cmask)
    close(co, to, 1e-10)
    (to * to).sum().backward()
    (co * co).sum().backward()
    close(csrc.grad, src.grad, 1e-9)
    for p, q in zip(tm.parameters(), cm.parameters()):
        close(q.grad, p.grad, 1e-9)
    with pytest.raises(RuntimeError):
        cm(csrc, ctorch.randn(4, 3, 8, dtype=ctorch.float64))
    with pytest.raises(RuntimeError):
        tm(src, torch.randn(4, 3, 8, dtype=torch.float64))


def test_default_init_and_float32():
    cm = ctorch.nn.Transformer(16, 2, 1, 1, 32)
    for n, p in cm.named_parameters():
        if p.dim() > 1:
            fan_out, fan_in = p.shape[0], p.shape[1]
            assert float(p.abs().max()) <= (6 / (fan_in + fan_out)) ** 0.5 + 1e-6, n
    tm, cm = pair("TransformerEncoderLayer", 16, 4, 32, double=False, dropout=0.0, batch_first=True)
    x = torch.randn(2, 7, 16)
    close(cm(t2c(x)), tm(x), 2e-5)


def test_dropout_train_eval():
    cm = ctorch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3)
    x = ctorch.randn(5, 2, 8)
    ctorch.manual_seed(2)
    a = cm(x)
    ctorch.manual_seed(2)
    b = cm(x)
    assert a.tolist() == b.tolist()
    ctorch.manual_seed(3)
    assert cm(x).tolist() != a.tolist()
    cm.eval()
    assert cm(x).tolist() == cm(x).tolist()


def test_transformer_training_matches_torch():
    torch.manual_seed(0)

    def build(lib):
        class M(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.enc = lib.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
                self.w = lib.nn.Parameter(lib.zeros(8, 3))

            def forward(self, x):
                return (self.enc(x) @ self.w).mean(1)
        return M()
    tm = build(torch)
    with torch.no_grad():
        tm.w.normal_()
    cm = build(ctorch)
    cm.load_state_dict({k: t2c(v) for k, v in tm.state_dict().items()})
    x = torch.randn(4, 6, 8)
    y = torch.randn(4, 3)
    cx, cy = t2c(x), t2c(y)
    train_mse_in_lockstep(tm, cm, x, y, cx, cy, lr=0.05)
