"""nn.Module system against torch: registration, traversal, state_dict, load errors,
hooks, containers, repr, modes."""
from collections import OrderedDict

import pytest
import torch

import ctorch


def build(lib):
    class Leaf(lib.nn.Module):
        def __init__(self, n):
            super().__init__()
            self.weight = lib.nn.Parameter(lib.ones(n, 2) * 0.5)
            self.bias = lib.nn.Parameter(lib.zeros(n))
            self.register_buffer("running", lib.ones(n))
            self.register_buffer("tmp", lib.zeros(1), persistent=False)

        def forward(self, x):
            return x * self.weight

        def extra_repr(self):
            return "n=%d" % self.weight.shape[0]

    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Leaf(3)
            self.blocks = lib.nn.ModuleList([Leaf(3), Leaf(3)])
            self.seq = lib.nn.Sequential(OrderedDict([("first", Leaf(3)), ("second", Leaf(3))]))
            self.d = lib.nn.ModuleDict({"x": Leaf(3)})
            self.shared = self.a
            self.plist = lib.nn.ParameterList([lib.nn.Parameter(lib.ones(2)), lib.nn.Parameter(lib.zeros(3))])
            self.pdict = lib.nn.ParameterDict({"p": lib.nn.Parameter(lib.ones(1))})
            self.scale = 2.0

        def forward(self, x):
            x = self.a(x)
            for b in self.blocks:
                x = b(x)
            return self.seq(x) * self.scale

    return Net


CNet, TNet = build(ctorch), build(torch)


def test_names_and_repr_match_torch():
    c, t = CNet(), TNet()
    assert [n for n, _ in c.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in c.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in c.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in c.named_modules(remove_duplicate=False)] == \
        [n for n, _ in t.named_modules(remove_duplicate=False)]
    assert [n for n, _ in c.named_children()] == [n for n, _ in t.named_children()]
    assert [n for n, _ in c.named_parameters(prefix="m", recurse=False)] == \
        [n for n, _ in t.named_parameters(prefix="m", recurse=False)]
    assert list(c.state_dict().keys()) == list(t.state_dict().keys())
    assert repr(c) == repr(t)
    assert repr(c.blocks) == repr(t.blocks)


def test_state_dict_round_trip_and_errors():
    c = CNet()
    sd = c.state_dict()
    for v in sd.values():
        v.mul_(0) if v.dtype.is_floating_point else None
    res = c.load_state_dict(sd)
    assert repr(res) == "<All keys matched successfully>"
    assert c.a.weight.tolist()[0] == [0.0, 0.0]
    for lib, net in ((ctorch, CNet), (torch, TNet)):
        m = net()
        sd = m.state_dict()
        sd.pop("a.bias")
        sd["extra"] = lib.ones(1)
        with pytest.raises(RuntimeError) as ei:
            m.load_state_dict(sd)
        msg = str(ei.value)
        assert 'Missing key(s) in state_dict: "a.bias"' in msg and 'Unexpected key(s) in state_dict: "extra"' in msg
        r = m.load_state_dict(sd, strict=False)
        assert list(r.missing_keys) == ["a.bias"] and list(r.unexpected_keys) == ["extra"]
        sd2 = m.state_dict()
        sd2["a.weight"] = lib.ones(5, 2)
        with pytest.raises(RuntimeError, match="size mismatch for a.weight"):
            m.load_state_dict(sd2)


def test_state_dict_weights_transfer_between_libs():
    c, t = CNet(), TNet()
    with torch.no_grad():
        for p in t.parameters():
            p.add_(torch.arange(p.numel(), dtype=p.dtype).reshape(p.shape) if hasattr(torch, "arange") else 1)
    sd = {k: ctorch.tensor(v.numpy()) for k, v in t.state_dict().items()}
    c.load_state_dict(sd)
    for (kc, vc), (kt, vt) in zip(c.state_dict().items(), t.state_dict().items()):
        assert kc == kt and vc.tolist() == vt.tolist()


def test_setattr_rules():
    for lib in (ctorch, torch):
        m = lib.nn.Module()
        m.p = lib.nn.Parameter(lib.ones(1))
        assert "p" in m._parameters
        with pytest.raises(TypeError):
            m.p = lib.ones(1)
        m.p = None
        assert m.p is None
        m.register_buffer("b", lib.ones(1))
        with pytest.raises(TypeError):
            m.b = 3
        with pytest.raises(KeyError):
            m.register_buffer("a.b", lib.ones(1))
        with pytest.raises(KeyError):
            m.register_parameter("b", lib.nn.Parameter(lib.ones(1)))
        m.sub = lib.nn.Module()
        with pytest.raises(TypeError):
            m.sub = 3
        del m.sub
        assert "sub" not in m._modules
        with pytest.raises(AttributeError):
            m.nothing
        with pytest.raises(TypeError):
            m.register_parameter("q", lib.ones(1))


def test_parameter_basics():
    p = ctorch.nn.Parameter(ctorch.ones(2))
    assert isinstance(p, ctorch.Tensor) and isinstance(p, ctorch.nn.Parameter)
    assert p.requires_grad and p.is_leaf
    q = ctorch.nn.Parameter(ctorch.ones(2), requires_grad=False)
    assert not q.requires_grad
    assert (p * 2).grad_fn is not None and not isinstance(p * 2, ctorch.nn.Parameter)
    assert type(ctorch.nn.Parameter()).__name__ == "Parameter"


def test_train_eval_zero_grad_requires_grad():
    c = CNet()
    c.eval()
    assert not any(m.training for m in c.modules())
    c.train()
    assert all(m.training for m in c.modules())
    with pytest.raises(ValueError):
        c.train("yes")
    out = c(ctorch.ones(3, 2))
    out.backward(ctorch.ones(3, 2))
    assert c.a.weight.grad is not None
    c.zero_grad(set_to_none=False)
    assert c.a.weight.grad.tolist() == [[0.0, 0.0]] * 3
    c.zero_grad()
    assert c.a.weight.grad is None
    c.requires_grad_(False)
    assert not any(p.requires_grad for p in c.parameters())


def test_submodule_access():
    for net in (CNet, TNet):
        m = net()
        assert m.get_submodule("seq.first") is m.seq.first
        assert m.get_parameter("seq.first.weight") is m.seq.first.weight
        assert m.get_buffer("a.running") is m.a.running
        with pytest.raises(AttributeError):
            m.get_submodule("nope")
        with pytest.raises(AttributeError):
            m.get_parameter("a.running")


def test_forward_hooks():
    for lib, net in ((ctorch, CNet), (torch, TNet)):
        m = net()
        calls = []
        h1 = m.a.register_forward_pre_hook(lambda mod, args: calls.append("pre") or (args[0] * 2,))
        h2 = m.a.register_forward_hook(lambda mod, args, out: calls.append("post") or out + 1)
        h3 = m.a.register_forward_hook(lambda mod, args, kwargs, out: calls.append("kw"), with_kwargs=True)
        y = m.a(lib.ones(3, 2))
        assert calls == ["pre", "post", "kw"] and y.tolist() == [[2.0, 2.0]] * 3
        h1.remove(), h2.remove(), h3.remove()
        calls.clear()
        y = m.a(lib.ones(3, 2))
        assert calls == [] and y.tolist() == [[0.5, 0.5]] * 3


def test_full_backward_hook():
    res = []
    for lib, net in ((ctorch, CNet), (torch, TNet)):
        m = net()
        seen = {}

        def hook(mod, gin, gout):
            seen["gin"] = [g.tolist() if g is not None else None for g in gin]
            seen["gout"] = [g.tolist() for g in gout]
        m.a.register_full_backward_hook(hook)
        x = lib.ones(3, 2, requires_grad=True)
        m.a(x).backward(lib.ones(3, 2) * 3)
        res.append(seen)
    assert res[0] == res[1]


def test_sequential_ops():
    for lib in (ctorch, torch):
        s = lib.nn.Sequential(lib.nn.Module(), lib.nn.Module(), lib.nn.Module())
        assert len(s) == 3 and len(s[1:]) == 2 and isinstance(s[1:], lib.nn.Sequential)
        s.append(lib.nn.Module())
        s.insert(0, lib.nn.Module())
        assert len(s) == 5 and list(s._modules.keys()) == ["0", "1", "2", "3", "4"]
        del s[0]
        assert list(s._modules.keys()) == ["0", "1", "2", "3"]
        with pytest.raises(IndexError):
            s[10]
        s.extend(lib.nn.Sequential(lib.nn.Module()))
        assert len(s) == 5
    ml = ctorch.nn.ModuleList([ctorch.nn.Module()])
    ml.append(ctorch.nn.Module())
    assert len(ml) == 2 and len(ml[:1]) == 1
    md = ctorch.nn.ModuleDict({"a": ctorch.nn.Module()})
    md["b"] = ctorch.nn.Module()
    assert list(md.keys()) == ["a", "b"] and "a" in md


def test_apply_and_to():
    c = CNet()
    names = []
    c.apply(lambda m: names.append(type(m).__name__))
    assert names[-1] == "Net"
    with pytest.raises(RuntimeError):
        c.to("cuda")
