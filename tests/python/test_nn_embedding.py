"""Embedding, EmbeddingBag, one_hot: forward and backward vs torch with identical weights."""
import numpy as np
import pytest
import torch

import ctorch
import ctorch.nn  # noqa: F401
import ctorch.nn.functional  # noqa: F401
from helpers import assert_same

R = np.random.default_rng(0)
W = R.normal(size=(10, 4))


def pair_w(dtype="float64", w=W):
    c = ctorch.tensor(w, dtype=getattr(ctorch, dtype), requires_grad=True)
    t = torch.tensor(w, dtype=getattr(torch, dtype), requires_grad=True)
    return c, t


def grads(cout, tout, cin, tin, rtol=1e-9, atol=1e-10):
    g = np.linspace(-1, 1, tout.numel()).reshape(tuple(tout.shape))
    cg = ctorch.autograd.grad(cout, cin, ctorch.tensor(g, dtype=cout.dtype), allow_unused=True)
    tg = torch.autograd.grad(tout, tin, torch.tensor(g, dtype=tout.dtype), allow_unused=True)
    for c, t in zip(cg, tg):
        assert_same(c, t, rtol, atol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", [{}, {"padding_idx": 3}, {"padding_idx": -2}, {"scale_grad_by_freq": True},
                                {"padding_idx": 0, "scale_grad_by_freq": True}])
def test_embedding(dtype, kw):
    idx = np.array([[1, 3, 3, 0], [9, 8, 3, 1]])
    cw, tw = pair_w(dtype)
    co = ctorch.nn.functional.embedding(ctorch.tensor(idx), cw, **kw)
    to = torch.nn.functional.embedding(torch.tensor(idx), tw, **kw)
    assert_same(co, to)
    assert co.grad_fn.name() == to.grad_fn.name()
    grads(co, to, [cw], [tw], 1e-5, 1e-6)
    co = ctorch.nn.functional.embedding(ctorch.tensor(idx[0], dtype=ctorch.int32), cw, **kw)
    to = torch.nn.functional.embedding(torch.tensor(idx[0], dtype=torch.int32), tw, **kw)
    assert_same(co, to)


def test_embedding_max_norm():
    idx = np.array([1, 3, 3, 7])
    cw = ctorch.tensor(W * 3)
    tw = torch.tensor(W * 3)
    for nt in (2.0, 1.0, 3.0):
        cw2, tw2 = cw.clone(), tw.clone()
        co = ctorch.nn.functional.embedding(ctorch.tensor(idx), cw2, max_norm=1.5, norm_type=nt)
        to = torch.nn.functional.embedding(torch.tensor(idx), tw2, max_norm=1.5, norm_type=nt)
        assert_same(co, to)
        assert_same(cw2, tw2)


def test_embedding_bad():
    cw, tw = pair_w()
    for idx in (np.array([1, 10]), np.array([-1, 2])):
        with pytest.raises(IndexError):
            torch.nn.functional.embedding(torch.tensor(idx), tw)
        with pytest.raises(IndexError):
            ctorch.nn.functional.embedding(ctorch.tensor(idx), cw)
    with pytest.raises(RuntimeError):
        torch.nn.functional.embedding(torch.tensor([1.0]), tw)
    with pytest.raises(RuntimeError):
        ctorch.nn.functional.embedding(ctorch.tensor([1.0]), cw)


def test_embedding_module():
    for kw in [{}, {"padding_idx": 2}, {"max_norm": 1.0, "norm_type": 3.0}, {"scale_grad_by_freq": True},
               {"sparse": True}]:
        c, t = ctorch.nn.Embedding(10, 4, **kw), torch.nn.Embedding(10, 4, **kw)
        assert repr(c) == repr(t)
        assert tuple(c.weight.shape) == tuple(t.weight.shape)
        assert list(c.state_dict()) == list(t.state_dict())
    c, t = ctorch.nn.Embedding(10, 4, padding_idx=2), torch.nn.Embedding(10, 4, padding_idx=2)
    assert not np.array(c.weight[2].tolist()).any()
    c.load_state_dict({"weight": ctorch.tensor(W, dtype=ctorch.float32)})
    t.load_state_dict({"weight": torch.tensor(W, dtype=torch.float32)})
    idx = np.array([[2, 3], [1, 2]])
    co, to = c(ctorch.tensor(idx)), t(torch.tensor(idx))
    assert_same(co, to)
    grads(co, to, [c.weight], [t.weight], 1e-5, 1e-6)
    cp = ctorch.nn.Embedding.from_pretrained(ctorch.tensor(W))
    tp = torch.nn.Embedding.from_pretrained(torch.tensor(W))
    assert repr(cp) == repr(tp) and cp.weight.requires_grad == tp.weight.requires_grad
    assert_same(cp(ctorch.tensor([4, 5])), tp(torch.tensor([4, 5])))
    cp = ctorch.nn.Embedding.from_pretrained(ctorch.tensor(W), freeze=False, padding_idx=1)
    assert cp.weight.requires_grad and cp.padding_idx == 1


BAG_CASES = [
    dict(mode="sum"), dict(mode="mean"), dict(mode="max"), dict(mode="sum", psw=True),
    dict(mode="mean", padding_idx=3), dict(mode="sum", include_last_offset=True),
    dict(mode="max", padding_idx=3), dict(mode="mean", max_norm=1.0),
]


@pytest.mark.parametrize("case", range(len(BAG_CASES)))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_embedding_bag(case, dtype):
    kw = dict(BAG_CASES[case])
    psw = kw.pop("psw", False)
    idx = np.array([1, 3, 3, 0, 9, 8, 3, 1, 5])
    offs = np.array([0, 2, 2, 6]) if not kw.get("include_last_offset") else np.array([0, 2, 2, 6, 9])
    cw, tw = pair_w(dtype, W * (3 if "max_norm" in kw else 1))
    if "max_norm" in kw:
        cw, tw = cw.detach().clone(), tw.detach().clone()
        cw.requires_grad_(True)
        tw.requires_grad_(True)
        cw0, tw0 = cw.detach(), tw.detach()
    cargs, targs = {}, {}
    if psw:
        p = R.uniform(size=idx.shape)
        cargs["per_sample_weights"] = ctorch.tensor(p, dtype=getattr(ctorch, dtype), requires_grad=True)
        targs["per_sample_weights"] = torch.tensor(p, dtype=getattr(torch, dtype), requires_grad=True)
    if "max_norm" in kw:
        with ctorch.no_grad():
            co = ctorch.nn.functional.embedding_bag(ctorch.tensor(idx), cw0, ctorch.tensor(offs), **kw, **cargs)
        with torch.no_grad():
            to = torch.nn.functional.embedding_bag(torch.tensor(idx), tw0, torch.tensor(offs), **kw, **targs)
        assert_same(co, to)
        assert_same(cw0, tw0)
        return
    co = ctorch.nn.functional.embedding_bag(ctorch.tensor(idx), cw, ctorch.tensor(offs), **kw, **cargs)
    to = torch.nn.functional.embedding_bag(torch.tensor(idx), tw, torch.tensor(offs), **kw, **targs)
    assert_same(co, to)
    ins_c, ins_t = [cw], [tw]
    if psw:
        ins_c.append(cargs["per_sample_weights"])
        ins_t.append(targs["per_sample_weights"])
    grads(co, to, ins_c, ins_t, 1e-5, 1e-6)


def test_embedding_bag_2d_and_module():
    idx = np.array([[1, 3, 3], [0, 9, 8]])
    cw, tw = pair_w()
    for mode in ("sum", "mean", "max"):
        co = ctorch.nn.functional.embedding_bag(ctorch.tensor(idx), cw, mode=mode)
        to = torch.nn.functional.embedding_bag(torch.tensor(idx), tw, mode=mode)
        assert_same(co, to)
        grads(co, to, [cw], [tw])
    c, t = ctorch.nn.EmbeddingBag(10, 4, mode="sum"), torch.nn.EmbeddingBag(10, 4, mode="sum")
    assert repr(c) == repr(t)
    c.load_state_dict({"weight": ctorch.tensor(W, dtype=ctorch.float32)})
    t.load_state_dict({"weight": torch.tensor(W, dtype=torch.float32)})
    assert_same(c(ctorch.tensor(idx)), t(torch.tensor(idx)))
    assert repr(ctorch.nn.EmbeddingBag(5, 2, max_norm=2.0, padding_idx=0)) == \
        repr(torch.nn.EmbeddingBag(5, 2, max_norm=2.0, padding_idx=0))


def test_embedding_bag_bad():
    cw, tw = pair_w()
    cases = [
        (lambda lib, w: lib.nn.functional.embedding_bag(lib.tensor([[1, 2]]), w, lib.tensor([0])), ValueError),
        (lambda lib, w: lib.nn.functional.embedding_bag(lib.tensor([1, 2]), w), ValueError),
        (lambda lib, w: lib.nn.functional.embedding_bag(lib.tensor([1, 2]), w, lib.tensor([0]), mode="bad"),
         ValueError),
        (lambda lib, w: lib.nn.functional.embedding_bag(lib.tensor([1, 2]), w, lib.tensor([0]), mode="max",
                                                        per_sample_weights=lib.ones(2, dtype=lib.float64)),
         NotImplementedError),
    ]
    for fn, exc in cases:
        with pytest.raises(exc):
            fn(torch, tw)
        with pytest.raises(exc):
            fn(ctorch, cw)


def test_one_hot():
    t = np.array([[0, 3], [2, 1]])
    assert_same(ctorch.nn.functional.one_hot(ctorch.tensor(t)), torch.nn.functional.one_hot(torch.tensor(t)))
    assert_same(ctorch.nn.functional.one_hot(ctorch.tensor(t), 6), torch.nn.functional.one_hot(torch.tensor(t), 6))
    assert_same(ctorch.nn.functional.one_hot(ctorch.tensor(np.zeros(0, dtype=np.int64)), 3),
                torch.nn.functional.one_hot(torch.tensor(np.zeros(0, dtype=np.int64)), 3))
    for bad, nc in ((np.array([-1, 2]), -1), (np.array([1, 5]), 3)):
        with pytest.raises(RuntimeError):
            torch.nn.functional.one_hot(torch.tensor(bad), nc)
        with pytest.raises(RuntimeError):
            ctorch.nn.functional.one_hot(ctorch.tensor(bad), nc)
    with pytest.raises(RuntimeError):
        ctorch.nn.functional.one_hot(ctorch.tensor([1.0]))
