"""Recurrent layers: RNN/LSTM/GRU (+ cells) and nn.utils.rnn vs torch with identical weights."""
import numpy as np
import pytest
import torch

import ctorch
from helpers import assert_same, train_mse_in_lockstep

DT = {"float32": (ctorch.float32, torch.float32, 2e-5), "float64": (ctorch.float64, torch.float64, 1e-10)}


def c2t(x):
    return torch.tensor(np.array(x.detach().tolist()), dtype=torch.float64 if x.dtype == ctorch.float64 else torch.float32)


def t2c(x, requires_grad=False):
    return ctorch.tensor(x.detach().numpy(), requires_grad=requires_grad)


def copy_weights(tm, cm):
    cm.load_state_dict({k: t2c(v) for k, v in tm.state_dict().items()})


def close(c, t, tol):
    assert tuple(c.shape) == tuple(t.shape)
    np.testing.assert_allclose(np.array(c.detach().tolist()), t.detach().double().numpy(), rtol=tol, atol=tol)


def pair(cls, *args, dtype="float64", **kw):
    torch.manual_seed(0)
    tm = getattr(torch.nn, cls)(*args, **kw).to(DT[dtype][1])
    cm = getattr(ctorch.nn, cls)(*args, **kw).to(DT[dtype][0])
    copy_weights(tm, cm)
    return tm, cm


def hidden_loss(h):
    if isinstance(h, tuple):
        return (h[0] * h[0]).sum() + (h[1] * 3).sum()
    return (h * h).sum()


CONFIGS = [
    ("LSTM", {}), ("LSTM", {"num_layers": 2, "bidirectional": True}), ("LSTM", {"proj_size": 3}),
    ("LSTM", {"proj_size": 2, "bidirectional": True, "num_layers": 2, "batch_first": True}),
    ("LSTM", {"bias": False, "batch_first": True}),
    ("GRU", {}), ("GRU", {"num_layers": 3, "bidirectional": True, "batch_first": True}), ("GRU", {"bias": False}),
    ("RNN", {}), ("RNN", {"nonlinearity": "relu", "num_layers": 2}), ("RNN", {"bidirectional": True, "bias": False}),
]


@pytest.mark.parametrize("cls,kw", CONFIGS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("with_hx", [False, True])
def test_rnn_forward_backward(cls, kw, dtype, with_hx):
    tm, cm = pair(cls, 5, 6, dtype=dtype, **kw)
    tol = DT[dtype][2]
    bf = kw.get("batch_first", False)
    D = 2 if kw.get("bidirectional") else 1
    L = kw.get("num_layers", 1)
    P = kw.get("proj_size", 0) or 6
    x = torch.randn((4, 7, 5) if bf else (7, 4, 5), dtype=DT[dtype][1], requires_grad=True)
    cx = t2c(x, True)
    targs, cargs = [x], [cx]
    hx_t = hx_c = None
    if with_hx:
        h0 = torch.randn(L * D, 4, P, dtype=DT[dtype][1], requires_grad=True)
        if cls == "LSTM":
            c0 = torch.randn(L * D, 4, 6, dtype=DT[dtype][1], requires_grad=True)
            hx_t, hx_c = (h0, c0), (t2c(h0, True), t2c(c0, True))
        else:
            hx_t, hx_c = h0, t2c(h0, True)
        targs.append(hx_t)
        cargs.append(hx_c)
    to, th = tm(*targs)
    co, ch = cm(*cargs)
    close(co, to, tol)
    if cls == "LSTM":
        close(ch[0], th[0], tol)
        close(ch[1], th[1], tol)
    else:
        close(ch, th, tol)
    ((to * to * to).sum() + hidden_loss(th)).backward()
    ((co * co * co).sum() + hidden_loss(ch)).backward()
    close(cx.grad, x.grad, tol * 10)
    for (n, p), (n2, q) in zip(tm.named_parameters(), cm.named_parameters()):
        assert n == n2
        close(q.grad, p.grad, tol * 10)
    if with_hx:
        for a, b in (zip(hx_c, hx_t) if cls == "LSTM" else [(hx_c, hx_t)]):
            close(a.grad, b.grad, tol * 10)



@pytest.mark.parametrize("cls,kw", [("LSTM", {"bidirectional": True}), ("LSTM", {"proj_size": 3}),
                                    ("GRU", {"bidirectional": True}), ("RNN", {"nonlinearity": "relu"})])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_batch_shares(cls, kw, threads):
    """Batches of 8+ rows per thread run each thread's rows through the whole sequence on their own
    (NOTE [ RNN batch shares ]): uneven shares and sequences ending inside a share."""
    tm, cm = pair(cls, 5, 6, num_layers=2, **kw)
    lengths = [9] * 7 + [8, 8, 6, 5, 5, 5, 4] + [3] * 20 + [1] * 7
    x = torch.randn(9, len(lengths), 5, dtype=torch.float64, requires_grad=True)
    cx = t2c(x, True)
    old = ctorch.get_num_threads()
    ctorch.set_num_threads(threads)
    try:
        for packed in (False, True):
            x.grad = cx.grad = None
            for m in (tm, cm):
                m.zero_grad()
            if packed:
                to, th = tm(torch.nn.utils.rnn.pack_padded_sequence(x, lengths))
                co, ch = cm(ctorch.nn.utils.rnn.pack_padded_sequence(cx, lengths))
                to, co = to.data, co.data
            else:
                to, th = tm(x)
                co, ch = cm(cx)
            close(co, to, 1e-10)
            close(ch[0] if cls == "LSTM" else ch, th[0] if cls == "LSTM" else th, 1e-10)
            ((to * to * to).sum() + hidden_loss(th)).backward()
            ((co * co * co).sum() + hidden_loss(ch)).backward()
            close(cx.grad, x.grad, 1e-9)
            for p, q in zip(tm.parameters(), cm.parameters()):
                close(q.grad, p.grad, 1e-9)
    finally:
        ctorch.set_num_threads(old)


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_sequence(cls, enforce_sorted):
    kw = {"num_layers": 2, "bidirectional": True}
    if cls == "LSTM":
        kw["proj_size"] = 3
    tm, cm = pair(cls, 5, 6, **kw)
    lengths = [7, 5, 5, 2] if enforce_sorted else [3, 7, 1, 5]
    x = torch.randn(7, 4, 5, dtype=torch.float64, requires_grad=True)
    cx = t2c(x, True)
    tp = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
    cp = ctorch.nn.utils.rnn.pack_padded_sequence(cx, lengths, enforce_sorted=enforce_sorted)
    close(cp.data, tp.data, 1e-12)
    assert cp.batch_sizes.tolist() == tp.batch_sizes.tolist()
    to, th = tm(tp)
    co, ch = cm(cp)
    assert isinstance(co, ctorch.nn.utils.rnn.PackedSequence)
    close(co.data, to.data, 1e-10)
    tpad, tl = torch.nn.utils.rnn.pad_packed_sequence(to, total_length=9)
    cpad, cl = ctorch.nn.utils.rnn.pad_packed_sequence(co, total_length=9)
    close(cpad, tpad, 1e-10)
    assert cl.tolist() == tl.tolist()
    hl = th[0] if cls == "LSTM" else th
    chl = ch[0] if cls == "LSTM" else ch
    close(chl, hl, 1e-10)
    ((tpad * tpad).sum() + hidden_loss(th)).backward()
    ((cpad * cpad).sum() + hidden_loss(ch)).backward()
    close(cx.grad, x.grad, 1e-9)
    for p, q in zip(tm.parameters(), cm.parameters()):
        close(q.grad, p.grad, 1e-9)


def test_pad_and_pack_helpers():
    seqs = [torch.randn(n, 3, dtype=torch.float64) for n in (4, 2, 3)]
    cseqs = [t2c(s) for s in seqs]
    R = torch.nn.utils.rnn
    C = ctorch.nn.utils.rnn
    for bf in (False, True):
        for side in ("right", "left"):
            close(C.pad_sequence(cseqs, batch_first=bf, padding_value=-1.5, padding_side=side),
                  R.pad_sequence(seqs, batch_first=bf, padding_value=-1.5, padding_side=side), 0)
    tp = R.pack_sequence(seqs, enforce_sorted=False)
    cp = C.pack_sequence(cseqs, enforce_sorted=False)
    close(cp.data, tp.data, 0)
    assert cp.sorted_indices.tolist() == tp.sorted_indices.tolist()
    assert cp.unsorted_indices.tolist() == tp.unsorted_indices.tolist()
    for a, b in zip(C.unpack_sequence(cp), R.unpack_sequence(tp)):
        close(a, b, 0)
    pad, lens = R.pad_packed_sequence(tp, batch_first=True, padding_value=2.0)
    cpad, clens = C.pad_packed_sequence(cp, batch_first=True, padding_value=2.0)
    close(cpad, pad, 0)
    for a, b in zip(C.unpad_sequence(cpad, clens, batch_first=True), R.unpad_sequence(pad, lens, batch_first=True)):
        close(a, b, 0)
    with pytest.raises(RuntimeError):
        C.pack_padded_sequence(ctorch.zeros(3, 2, 1), [1, 3])
    with pytest.raises(ValueError):
        C.pad_packed_sequence(cp, total_length=2)
    with pytest.raises(ValueError):
        C.pad_sequence(cseqs, padding_side="middle")


@pytest.mark.parametrize("cls,args", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu", "bias": False}),
                                      ("LSTMCell", {}), ("GRUCell", {}), ("GRUCell", {"bias": False})])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cells(cls, args, dtype):
    tm, cm = pair(cls, 4, 5, dtype=dtype, **args)
    tol = DT[dtype][2]
    x = torch.randn(3, 4, dtype=DT[dtype][1], requires_grad=True)
    cx = t2c(x, True)
    h = torch.randn(3, 5, dtype=DT[dtype][1], requires_grad=True)
    ch = t2c(h, True)
    if cls == "LSTMCell":
        c = torch.randn(3, 5, dtype=DT[dtype][1])
        to = tm(x, (h, c))
        co = cm(cx, (ch, t2c(c)))
        close(co[0], to[0], tol)
        close(co[1], to[1], tol)
    else:
        to = tm(x, h)
        co = cm(cx, ch)
        close(co, to, tol)
    hidden_loss(to).backward()
    hidden_loss(co).backward()
    close(cx.grad, x.grad, tol * 10)
    close(ch.grad, h.grad, tol * 10)
    for p, q in zip(tm.parameters(), cm.parameters()):
        close(q.grad, p.grad, tol * 10)
    # unbatched and default state
    to1 = tm(x[0].detach())
    co1 = cm(cx[0].detach())
    close(co1[0] if cls == "LSTMCell" else co1, to1[0] if cls == "LSTMCell" else to1, tol)


def test_unbatched_input():
    tm, cm = pair("LSTM", 3, 4, num_layers=2)
    x = torch.randn(5, 3, dtype=torch.float64)
    to, (th, tc) = tm(x)
    co, (ch, cc) = cm(t2c(x))
    close(co, to, 1e-12)
    close(ch, th, 1e-12)
    close(cc, tc, 1e-12)


def test_parameter_names_shapes_and_init():
    for cls, kw in CONFIGS:
        tm = getattr(torch.nn, cls)(5, 6, **kw)
        cm = getattr(ctorch.nn, cls)(5, 6, **kw)
        assert [(n, tuple(p.shape)) for n, p in tm.named_parameters()] == \
            [(n, tuple(p.shape)) for n, p in cm.named_parameters()]
        assert repr(cm) == repr(tm)
        for p in cm.parameters():
            assert float(p.abs().max()) <= 1 / 6 ** 0.5
        cm.flatten_parameters()
    for cls, kw in [("RNNCell", {"nonlinearity": "relu", "bias": False}), ("LSTMCell", {}), ("GRUCell", {})]:
        assert repr(getattr(ctorch.nn, cls)(3, 4, **kw)) == repr(getattr(torch.nn, cls)(3, 4, **kw))
    assert repr(ctorch.nn.RNN(3, 4, 2, dropout=0.5)) == repr(torch.nn.RNN(3, 4, 2, dropout=0.5))


def test_bad_inputs():
    for exc, fn in [(ValueError, lambda nn: nn.LSTM(3, 4, proj_size=4)),
                    (ValueError, lambda nn: nn.GRU(3, 4, proj_size=2)),
                    (ValueError, lambda nn: nn.LSTM(3, 4, dropout=1.5)),
                    (ValueError, lambda nn: nn.RNN(3, 4, nonlinearity="sigmoid")),
                    (ValueError, lambda nn: nn.LSTM(3, 0))]:
        with pytest.raises(exc):
            fn(torch.nn)
        with pytest.raises(exc):
            fn(ctorch.nn)
    tm, cm = pair("LSTM", 3, 4)
    with pytest.raises(RuntimeError):
        tm(torch.randn(2, 1, 5, dtype=torch.float64))
    with pytest.raises(RuntimeError):
        cm(ctorch.randn(2, 1, 5, dtype=ctorch.float64))
    bad = (ctorch.zeros(2, 1, 4, dtype=ctorch.float64), ctorch.zeros(1, 1, 4, dtype=ctorch.float64))
    with pytest.raises(RuntimeError):
        cm(ctorch.randn(2, 1, 3, dtype=ctorch.float64), bad)
    g = ctorch.nn.GRU(3, 4)
    with pytest.raises(RuntimeError):
        g(ctorch.randn(2, 1, 3), ctorch.zeros(1, 2, 4))


def test_dropout_between_layers():
    m = ctorch.nn.LSTM(4, 5, num_layers=3, dropout=0.5)
    x = ctorch.randn(6, 2, 4)
    ctorch.manual_seed(3)
    a, _ = m(x)
    ctorch.manual_seed(3)
    b, _ = m(x)
    assert a.tolist() == b.tolist()
    ctorch.manual_seed(4)
    c, _ = m(x)
    assert a.tolist() != c.tolist()
    m.eval()
    e1, _ = m(x)
    e2, _ = m(x)
    assert e1.tolist() == e2.tolist()
    m2 = ctorch.nn.LSTM(4, 5, num_layers=3, dropout=0.0)
    m2.load_state_dict(m.state_dict())
    close(m2(x)[0], c2t(e1), 0)


def test_lstm_training_matches_torch():
    torch.manual_seed(1)

    def build(lib):
        class M(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = lib.nn.LSTM(3, 8, num_layers=2, batch_first=True)
                self.w = lib.nn.Parameter(lib.zeros(8, 2))

            def forward(self, x):
                h, _ = self.lstm(x)
                return h.select(1, -1) @ self.w
        return M()
    tm = build(torch)
    with torch.no_grad():
        tm.w.normal_()
    cm = build(ctorch)
    copy_weights(tm, cm)
    x = torch.randn(16, 10, 3)
    y = torch.randn(16, 2)
    cx, cy = t2c(x), t2c(y)
    train_mse_in_lockstep(tm, cm, x, y, cx, cy, lr=0.1)
