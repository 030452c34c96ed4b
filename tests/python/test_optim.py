"""ctorch.optim against torch.optim: 100-step trajectories on the same problem from the same init,
state_dict structure and round trips through torch, param groups, hooks, bad inputs."""
import importlib
import warnings

import numpy as np
import pytest
import torch

import ctorch
from helpers import to_torch

SHAPES = [(3, 4), (5,), (2, 1, 3)]


def _make(lib, dtype, seed=0):
    rng = np.random.RandomState(seed)
    dt = getattr(lib, dtype)
    params = [lib.nn.Parameter(lib.tensor(rng.randn(*s).tolist(), dtype=dt)) for s in SHAPES]
    targets = [lib.tensor(rng.randn(*s).tolist(), dtype=dt) for s in SHAPES]
    return params, targets


def _flat_sum(t):
    v = t.tolist()
    while isinstance(v, list) and v and isinstance(v[0], list):
        v = [x for row in v for x in row]
    return float(sum(v)) if isinstance(v, list) else float(v)


def _loss_and_grads(lib, params, targets):
    """loss = sum_i sum((p_i - t_i)^2 * exp(p_i / 4)) + (p_i * 0.1)^4 ; grads by backward(ones)."""
    total = 0.0
    for p, t in zip(params, targets):
        d = p - t
        q = p * 0.1
        term = d * d * (p / 4).exp() + q * q * q * q
        term.backward(lib.ones(tuple(p.shape), dtype=p.dtype))
        total += _flat_sum(term.detach())
    return total


def _run(lib, name, kw, dtype, steps=100, groups=False):
    params, targets = _make(lib, dtype)
    if groups:
        opt = getattr(lib.optim, name)([{"params": params[:2]}, {"params": params[2:], "lr": kw["lr"] * 0.5}], **kw)
    else:
        opt = getattr(lib.optim, name)(params, **kw)
    for _ in range(steps):
        opt.zero_grad()
        _loss_and_grads(lib, params, targets)
        opt.step()
    return params, opt


def _np(ps):
    return [np.array(p.detach().tolist()) for p in ps]


def _assert_close(a, b, rtol, atol):
    for x, y in zip(_np(a), _np(b)):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


CONFIGS = [
    ("SGD", dict(lr=0.01)),
    ("SGD", dict(lr=0.01, momentum=0.9)),
    ("SGD", dict(lr=0.01, momentum=0.9, dampening=0.3, weight_decay=0.05)),
    ("SGD", dict(lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.01, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True)),
    ("Adam", dict(lr=0.01, foreach=False, capturable=False, fused=None)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("AdamW", dict(lr=0.01, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True)),
    ("RMSprop", dict(lr=0.005, momentum=0.8, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.005, momentum=0.5, centered=True, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.1, eps=1e-6, maximize=True)),
    ("Adadelta", dict(lr=1.0)),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.05)),
    ("Adadelta", dict(lr=1.0, maximize=True)),
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.02, betas=(0.8, 0.95), weight_decay=0.05, eps=1e-5)),
    ("Adamax", dict(lr=0.01, maximize=True)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, momentum_decay=0.01, weight_decay=0.05)),
    ("NAdam", dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.01, maximize=True)),
    ("RAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01, weight_decay=0.05)),
    ("RAdam", dict(lr=0.01, weight_decay=0.05, decoupled_weight_decay=True, betas=(0.8, 0.9))),
    ("RAdam", dict(lr=0.01, maximize=True)),
    ("ASGD", dict(lr=0.01)),
    ("ASGD", dict(lr=0.01, lambd=1e-3, alpha=0.5, t0=20, weight_decay=0.05)),
    ("ASGD", dict(lr=0.01, t0=0, maximize=True)),
    ("Rprop", dict(lr=0.01)),
    ("Rprop", dict(lr=0.01, etas=(0.3, 1.5), step_sizes=(1e-4, 0.1))),
    ("Rprop", dict(lr=0.01, maximize=True)),
]


def _id(c):
    return c[0] + "-" + ",".join(f"{k}={v}" for k, v in c[1].items())


@pytest.mark.parametrize("name,kw", CONFIGS, ids=[_id(c) for c in CONFIGS])
def test_trajectory_float64(name, kw):
    a, _ = _run(ctorch, name, kw, "float64")
    b, _ = _run(torch, name, kw, "float64")
    _assert_close(a, b, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name,kw", CONFIGS[::3], ids=[_id(c) for c in CONFIGS[::3]])
def test_trajectory_float32(name, kw):
    a, _ = _run(ctorch, name, kw, "float32", steps=50)
    b, _ = _run(torch, name, kw, "float32", steps=50)
    _assert_close(a, b, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.02, momentum=0.9)), ("Adam", dict(lr=0.01)),
                                     ("RMSprop", dict(lr=0.01, centered=True)), ("NAdam", dict(lr=0.01))])
def test_param_groups_trajectory(name, kw):
    a, oa = _run(ctorch, name, kw, "float64", steps=30, groups=True)
    b, ob = _run(torch, name, kw, "float64", steps=30, groups=True)
    _assert_close(a, b, rtol=1e-6, atol=1e-9)
    assert oa.param_groups[1]["lr"] == ob.param_groups[1]["lr"]


def test_mixed_dtypes_and_missing_grads():
    for lib in (ctorch, torch):
        p32 = lib.nn.Parameter(lib.tensor([1.0, -2.0, 3.0]))
        p64 = lib.nn.Parameter(lib.tensor([[0.5, -1.5]], dtype=lib.float64))
        unused = lib.nn.Parameter(lib.tensor([7.0]))
        opt = lib.optim.Adam([p32, p64, unused], lr=0.1)
        for _ in range(5):
            opt.zero_grad()
            (p32 * p32).backward(lib.ones([3]))
            (p64 * p64 * p64).backward(lib.ones([1, 2], dtype=lib.float64))
            opt.step()
        if lib is ctorch:
            res_c = [p32.detach().tolist(), p64.detach().tolist(), unused.detach().tolist()]
            assert unused not in opt.state
        else:
            res_t = [p32.detach().tolist(), p64.detach().tolist(), unused.detach().tolist()]
    np.testing.assert_allclose(res_c[0], res_t[0], rtol=1e-5)
    np.testing.assert_allclose(res_c[1], res_t[1], rtol=1e-12)
    assert res_c[2] == res_t[2]


# Strided (non-contiguous) parameters are covered by tests/c/test_optim.c (no Python op makes one yet).


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("kw", [dict(lr=1, max_iter=20), dict(lr=0.5, max_iter=5, history_size=3),
                                dict(lr=1, max_iter=10, tolerance_grad=1e-3, tolerance_change=1e-5)])
def test_lbfgs(kw, line_search_fn):
    results = []
    losses = []
    for lib in (ctorch, torch):
        params, targets = _make(lib, "float64")
        opt = lib.optim.LBFGS(params, line_search_fn=line_search_fn, **kw)

        def closure():
            opt.zero_grad()
            return lib.tensor(_loss_and_grads(lib, params, targets), dtype=lib.float64)

        ls = [float(opt.step(closure)) for _ in range(4)]
        losses.append(ls)
        results.append(params)
        st = opt.state[params[0]]
        results.append((st["func_evals"], st["n_iter"]))
    _assert_close(results[0], results[2], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-8)
    assert results[1] == results[3]


def test_lbfgs_float32():
    out = []
    for lib in (ctorch, torch):
        params, targets = _make(lib, "float32")
        opt = lib.optim.LBFGS(params, max_iter=10, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            return lib.tensor(_loss_and_grads(lib, params, targets))

        for _ in range(2):
            opt.step(closure)
        out.append(params)
    _assert_close(out[0], out[1], rtol=1e-3, atol=1e-4)


def test_lbfgs_errors():
    for lib in (ctorch, torch):
        p = lib.nn.Parameter(lib.tensor([1.0]))
        with pytest.raises(ValueError):
            lib.optim.LBFGS([p], lr=-1)
        with pytest.raises(ValueError):
            lib.optim.LBFGS([{"params": [p]}, {"params": [lib.nn.Parameter(lib.tensor([2.0]))]}])
        opt = lib.optim.LBFGS([p], line_search_fn="bogus")

        def closure():
            opt.zero_grad()
            (p * p).backward(lib.ones([1]))
            return lib.tensor(float(p.detach().tolist()[0]) ** 2)

        with pytest.raises(RuntimeError):
            opt.step(closure)


# ------------------------------------------------------------------ state dicts


def _to_ctorch(x):
    if isinstance(x, torch.Tensor):
        dt = getattr(ctorch, str(x.dtype).split(".")[1])
        return ctorch.tensor(x.tolist(), dtype=dt) if x.dim() else ctorch.tensor(x.item(), dtype=dt)
    if isinstance(x, dict):
        return {k: _to_ctorch(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_to_ctorch(v) for v in x)
    return x


def _params_to(lib, params):
    dt = getattr(lib, str(params[0].dtype).split(".")[1])
    return [lib.nn.Parameter(lib.tensor(p.detach().tolist(), dtype=dt)) for p in params]


def _steps(lib, opt, params, targets, n):
    for _ in range(n):
        opt.zero_grad()
        _loss_and_grads(lib, params, targets)
        opt.step()


def _compare_state_dicts(sc, st):
    assert set(sc["state"]) == set(st["state"])
    for k in st["state"]:
        assert list(sc["state"][k]) == list(st["state"][k])
        for name, v in st["state"][k].items():
            c = sc["state"][k][name]
            if isinstance(v, torch.Tensor):
                assert str(c.dtype) == str(v.dtype), name
                assert tuple(c.shape) == tuple(v.shape), name
                np.testing.assert_allclose(np.array(c.tolist()), v.numpy(), rtol=1e-6, atol=1e-9)
            else:
                assert c == v
    assert sc["param_groups"] == st["param_groups"]


STATE_CONFIGS = [c for c in CONFIGS if c[0] in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax",
                                                "NAdam", "RAdam", "ASGD", "Rprop")][::2]


@pytest.mark.parametrize("name,kw", STATE_CONFIGS, ids=[_id(c) for c in STATE_CONFIGS])
def test_state_dict_round_trip(name, kw):
    pc, tc = _make(ctorch, "float64")
    pt, tt = _make(torch, "float64")
    oc = getattr(ctorch.optim, name)(pc, **kw)
    ot = getattr(torch.optim, name)(pt, **kw)
    _steps(ctorch, oc, pc, tc, 20)
    _steps(torch, ot, pt, tt, 20)
    _compare_state_dicts(oc.state_dict(), ot.state_dict())

    # ctorch -> torch: a fresh torch optimizer on ctorch's parameters continues like ctorch.
    pt2 = _params_to(torch, pc)
    ot2 = getattr(torch.optim, name)(pt2, **kw)
    ot2.load_state_dict(to_torch(oc.state_dict()))
    # torch -> ctorch: likewise the other way.
    pc2 = _params_to(ctorch, pt)
    oc2 = getattr(ctorch.optim, name)(pc2, **kw)
    oc2.load_state_dict(_to_ctorch(ot.state_dict()))
    # loading casts non-step state to the parameter dtype (e.g. NAdam's mu_product), as in torch
    ot3 = getattr(torch.optim, name)(_params_to(torch, pt), **kw)
    ot3.load_state_dict(ot.state_dict())
    _compare_state_dicts(oc2.state_dict(), ot3.state_dict())

    _steps(ctorch, oc, pc, tc, 20)
    _steps(torch, ot2, pt2, tt, 20)
    _steps(torch, ot, pt, tt, 20)
    _steps(ctorch, oc2, pc2, tc, 20)
    _assert_close(pc, pt2, rtol=1e-6, atol=1e-9)
    _assert_close(pc2, pt, rtol=1e-6, atol=1e-9)
    _assert_close(pc, pt, rtol=1e-6, atol=1e-9)


def test_state_dict_layout_and_errors():
    pc, _ = _make(ctorch, "float32")
    opt = ctorch.optim.Adam([{"params": pc[:1]}, {"params": pc[1:], "lr": 0.5}])
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0] and sd["param_groups"][1]["params"] == [1, 2]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["state"] == {}
    other = ctorch.optim.Adam(pc)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        other.load_state_dict(sd)
    two = ctorch.optim.Adam([{"params": pc[:2]}, {"params": pc[2:]}])
    with pytest.raises(ValueError, match="doesn't match the size"):
        two.load_state_dict(sd)


def test_state_step_is_float32_tensor():
    pc, tc = _make(ctorch, "float64")
    opt = ctorch.optim.Adam(pc)
    _steps(ctorch, opt, pc, tc, 3)
    st = opt.state[pc[0]]
    assert list(st) == ["step", "exp_avg", "exp_avg_sq"]
    assert st["step"].dtype == ctorch.float32 and st["step"].dim() == 0 and st["step"].item() == 3.0
    assert st["exp_avg"].dtype == ctorch.float64


# ------------------------------------------------------------------ base class behaviour


def test_zero_grad():
    for lib in (ctorch, torch):
        p = lib.nn.Parameter(lib.tensor([1.0, 2.0]))
        opt = lib.optim.SGD([p], lr=0.1)
        (p * p).backward(lib.ones([2]))
        opt.zero_grad(set_to_none=False)
        assert p.grad is not None and p.grad.tolist() == [0.0, 0.0]
        opt.zero_grad()
        assert p.grad is None


def test_closure_runs_with_grad_enabled():
    for lib in (ctorch, torch):
        p = lib.nn.Parameter(lib.tensor([1.0, 2.0]))
        opt = lib.optim.SGD([p], lr=0.1)
        seen = []

        def closure():
            seen.append(lib.is_grad_enabled())
            opt.zero_grad()
            (p * p).backward(lib.ones([2]))
            return 3.5

        with lib.no_grad():
            assert opt.step(closure) == 3.5
        assert seen == [True]
        assert p.detach().tolist() == pytest.approx([0.8, 1.6])


def test_repr_matches_torch():
    reprs = []
    for lib in (ctorch, torch):
        ps, _ = _make(lib, "float32")
        for name, kw in [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", {}), ("RMSprop", dict(centered=True)),
                         ("Rprop", {}), ("Adagrad", {}), ("NAdam", {})]:
            reprs.append(repr(getattr(lib.optim, name)([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.3}], **kw)))
    n = len(reprs) // 2
    assert reprs[:n] == reprs[n:]


def test_add_param_group_and_defaults():
    for lib in (ctorch, torch):
        ps, _ = _make(lib, "float32")
        opt = lib.optim.SGD(ps[:1], lr=0.1, momentum=0.9)
        opt.add_param_group({"params": ps[1], "lr": 0.01})
        assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.01
        assert opt.param_groups[1]["params"] == [ps[1]]
        with pytest.raises(ValueError, match="more than one parameter group"):
            opt.add_param_group({"params": [ps[0]]})
        with pytest.raises(TypeError):
            opt.add_param_group({"params": {ps[2]}})
        with pytest.raises(TypeError):
            opt.add_param_group([ps[2]])
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            opt.add_param_group({"params": [ps[2], ps[2]]})
        assert any("duplicate parameters" in str(x.message) for x in w)


def test_named_parameters():
    for lib in (ctorch, torch):
        ps, _ = _make(lib, "float32")
        opt = lib.optim.Adam([("a", ps[0]), ("b", ps[1])])
        assert opt.param_groups[0]["param_names"] == ["a", "b"]
        assert opt.state_dict()["param_groups"][0]["param_names"] == ["a", "b"]


def test_step_hooks():
    calls = {ctorch: [], torch: []}
    for lib in (ctorch, torch):
        p = lib.nn.Parameter(lib.tensor([1.0]))
        opt = lib.optim.SGD([p], lr=0.1)
        log = calls[lib]
        h1 = opt.register_step_pre_hook(lambda o, a, k: log.append("pre"))
        h2 = opt.register_step_post_hook(lambda o, a, k: log.append("post"))
        mod = ctorch.optim.optimizer if lib is ctorch else importlib.import_module("torch.optim.optimizer")
        g1 = mod.register_optimizer_step_pre_hook(lambda o, a, k: log.append("gpre"))
        g2 = mod.register_optimizer_step_post_hook(lambda o, a, k: log.append("gpost"))
        p.grad = lib.ones([1])
        opt.step()
        h1.remove()
        g1.remove()
        opt.step()
        h2.remove()
        g2.remove()
        opt.step()
        log.append(round(p.detach().tolist()[0], 6))

        def bad(o, a, k):
            return 5

        h = opt.register_step_pre_hook(bad)
        with pytest.raises(RuntimeError):
            opt.step()
        h.remove()
    assert calls[ctorch] == calls[torch]


def test_state_dict_hooks():
    for lib in (ctorch, torch):
        p = lib.nn.Parameter(lib.tensor([1.0]))
        opt = lib.optim.SGD([p], lr=0.1)
        seen = []
        opt.register_state_dict_pre_hook(lambda o: seen.append("pre"))
        opt.register_state_dict_post_hook(lambda o, sd: seen.append("post"))
        opt.register_load_state_dict_pre_hook(lambda o, sd: seen.append("lpre"))
        opt.register_load_state_dict_post_hook(lambda o: seen.append("lpost"))
        opt.load_state_dict(opt.state_dict())
        assert seen == ["pre", "post", "lpre", "lpost"]


BAD = [
    ("SGD", dict(lr=-0.1)), ("SGD", dict(lr=0.1, momentum=-1)), ("SGD", dict(lr=0.1, weight_decay=-1)),
    ("SGD", dict(lr=0.1, nesterov=True)), ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)),
    ("Adam", dict(lr=-1)), ("Adam", dict(eps=-1)), ("Adam", dict(betas=(1.0, 0.9))), ("Adam", dict(betas=(0.9, -0.1))),
    ("Adam", dict(weight_decay=-1)), ("AdamW", dict(lr=-1)), ("RMSprop", dict(lr=-1)), ("RMSprop", dict(alpha=-1)),
    ("RMSprop", dict(momentum=-1)), ("RMSprop", dict(eps=-1)), ("Adagrad", dict(lr_decay=-1)),
    ("Adagrad", dict(initial_accumulator_value=-1)), ("Adadelta", dict(rho=1.5)), ("Adadelta", dict(lr=-1)),
    ("Adamax", dict(betas=(0.9, 1.0))), ("NAdam", dict(momentum_decay=-1)), ("RAdam", dict(eps=-1)),
    ("ASGD", dict(weight_decay=-1)), ("Rprop", dict(etas=(1.5, 1.2))), ("Rprop", dict(lr=-1)),
]


@pytest.mark.parametrize("name,kw", BAD, ids=[_id(c) for c in BAD])
def test_bad_arguments(name, kw):
    for lib in (ctorch, torch):
        p = lib.nn.Parameter(lib.tensor([1.0]))
        with pytest.raises(ValueError):
            getattr(lib.optim, name)([p], **kw)


def test_bad_params():
    for lib in (ctorch, torch):
        p = lib.nn.Parameter(lib.tensor([1.0]))
        with pytest.raises(ValueError, match="empty parameter list"):
            lib.optim.SGD([], lr=0.1)
        with pytest.raises(TypeError):
            lib.optim.SGD(p, lr=0.1)
        with pytest.raises(TypeError):
            lib.optim.SGD([1.0], lr=0.1)
        with pytest.raises(ValueError, match="non-leaf"):
            lib.optim.SGD([p * 2], lr=0.1)


def test_differentiable_documented_unsupported():
    p = ctorch.nn.Parameter(ctorch.tensor([1.0]))
    with pytest.raises(NotImplementedError):
        ctorch.optim.Adam([p], differentiable=True)
    for lib in (ctorch, torch):
        with pytest.raises(RuntimeError):
            lib.optim.Adam([lib.nn.Parameter(lib.tensor([1.0]))], fused=True, foreach=True)


def test_fused_c_api_errors():
    F = ctorch._C._ns_optim
    p = ctorch.tensor([1.0, 2.0])
    with pytest.raises(TypeError):
        F.sgd_([ctorch.tensor([1, 2])], [ctorch.tensor([1, 2])], [], [], lr=0.1)
    with pytest.raises(TypeError):
        F.sgd_([p], [ctorch.tensor([1.0, 2.0], dtype=ctorch.float64)], [], [], lr=0.1)
    with pytest.raises(RuntimeError):
        F.sgd_([p], [ctorch.tensor([1.0])], [], [], lr=0.1)
    with pytest.raises(ValueError):
        F.adam_([p], [p], [], [], [], [], lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8)
    v = p._version
    F.sgd_([p], [ctorch.tensor([1.0, 1.0])], [], [], lr=0.5)
    assert p.tolist() == [0.5, 1.5] and p._version > v
    assert F.dot(ctorch.tensor([1.0, 2.0], dtype=ctorch.float64), ctorch.tensor([3.0, 4.0], dtype=ctorch.float64)) == 11
    assert F.abs_max(ctorch.tensor([1.0, -5.0, 2.0])) == 5.0
    assert F.abs_sum(ctorch.tensor([1.0, -5.0, 2.0])) == 8.0


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Rprop"])
def test_tensor_lr(name):
    out = []
    for lib in (ctorch, torch):
        params, targets = _make(lib, "float64")
        kw = dict(lr=lib.tensor(0.01))
        if name == "SGD":
            kw["momentum"] = 0.9
        opt = getattr(lib.optim, name)(params, **kw)
        _steps(lib, opt, params, targets, 10)
        out.append(params)
        with pytest.raises(ValueError, match="1-element"):
            getattr(lib.optim, name)(params, lr=lib.tensor([0.1, 0.2]))
    _assert_close(out[0], out[1], rtol=1e-6, atol=1e-9)


def test_adam_betas_types():
    for lib in (ctorch, torch):
        p = lib.nn.Parameter(lib.tensor([1.0]))
        with pytest.raises(ValueError, match="both floats or both Tensors"):
            lib.optim.Adam([p], betas=(0, 0.999))


def test_large_params_multithreaded():
    # Parameters above the parallel grain size: the step is split across threads.
    rng = np.random.RandomState(3)
    init = rng.randn(70000) * 0.1
    grad = rng.randn(70000) * 0.1
    old = ctorch.get_num_threads()
    ctorch.set_num_threads(2)
    try:
        out = []
        for lib in (ctorch, torch):
            p = lib.nn.Parameter(lib.tensor(init.tolist(), dtype=lib.float64))
            opt = lib.optim.Adam([p], lr=0.01, amsgrad=True, weight_decay=0.1)
            for _ in range(5):
                p.grad = lib.tensor(grad.tolist(), dtype=lib.float64)
                opt.step()
            out.append(np.array(p.detach().tolist()))
    finally:
        ctorch.set_num_threads(old)
    np.testing.assert_allclose(out[0], out[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_state_dict_round_trip(line_search_fn):
    kw = dict(lr=0.8, max_iter=4, history_size=5, line_search_fn=line_search_fn)

    def make(lib, params):
        return lib.optim.LBFGS(params, **kw)

    def closure_for(lib, opt, params, targets):
        def closure():
            opt.zero_grad()
            return lib.tensor(_loss_and_grads(lib, params, targets), dtype=lib.float64)
        return closure

    pc, tc = _make(ctorch, "float64")
    pt, tt = _make(torch, "float64")
    oc, ot = make(ctorch, pc), make(torch, pt)
    for _ in range(2):
        oc.step(closure_for(ctorch, oc, pc, tc))
        ot.step(closure_for(torch, ot, pt, tt))
    # ctorch -> torch and torch -> ctorch, then two more steps everywhere
    pt2 = _params_to(torch, pc)
    ot2 = make(torch, pt2)
    ot2.load_state_dict(to_torch(oc.state_dict()))
    pc2 = _params_to(ctorch, pt)
    oc2 = make(ctorch, pc2)
    oc2.load_state_dict(_to_ctorch(ot.state_dict()))
    for _ in range(2):
        oc.step(closure_for(ctorch, oc, pc, tc))
        ot.step(closure_for(torch, ot, pt, tt))
        ot2.step(closure_for(torch, ot2, pt2, tt))
        oc2.step(closure_for(ctorch, oc2, pc2, tc))
    _assert_close(pc, pt, rtol=1e-6, atol=1e-9)
    _assert_close(pc, pt2, rtol=1e-6, atol=1e-9)
    _assert_close(pc2, pt, rtol=1e-6, atol=1e-9)


HALF_SHAPES = [(3, 4), (5,), (2, 1, 3), (40,)]


def _run_fixed_grads(lib, name, kw, dtype, steps=20):
    rng = np.random.RandomState(0)
    dt = getattr(lib, dtype)
    params = [lib.nn.Parameter(lib.tensor(rng.randn(*s).tolist(), dtype=dt)) for s in HALF_SHAPES]
    opt = getattr(lib.optim, name)(params, **kw)
    for _ in range(steps):
        for p, s in zip(params, HALF_SHAPES):
            p.grad = lib.tensor((rng.randn(*s) * 0.5).tolist(), dtype=dt)
        opt.step()
    return [np.array((p.detach().float() if lib is torch else p.detach()).tolist()) for p in params], opt


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("name,kw", CONFIGS, ids=[_id(c) for c in CONFIGS])
def test_trajectory_16bit(name, kw, dtype):
    # The same gradients in both libraries: the 16-bit step arithmetic (per-op rounding) follows
    # torch's; a few elements may differ by an ulp (see NOTE [ 16-bit optimizer math ]).
    a, oa = _run_fixed_grads(ctorch, name, kw, dtype)
    b, ob = _run_fixed_grads(torch, name, kw, dtype)
    same = sum(int((x == y).sum()) for x, y in zip(a, b))
    total = sum(x.size for x in a)
    assert same >= 0.8 * total
    tol = (3e-2, 1e-2) if dtype == "bfloat16" else (4e-3, 2e-3)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=tol[0], atol=tol[1])
    st = oa.state[oa.param_groups[0]["params"][0]]
    for key, v in ob.state[ob.param_groups[0]["params"][0]].items():
        assert str(st[key].dtype) == str(v.dtype), key


def test_lbfgs_bfloat16_runs():
    out = []
    for lib in (ctorch, torch):
        rng = np.random.RandomState(0)
        p = lib.nn.Parameter(lib.tensor(rng.randn(6).tolist(), dtype=lib.bfloat16))
        opt = lib.optim.LBFGS([p], max_iter=3)

        def closure():
            opt.zero_grad()
            p.grad = (p * 2).detach()
            return lib.tensor(1.0)

        opt.step(closure)
        out.append(np.array((p.detach().float() if lib is torch else p.detach()).tolist()))
    np.testing.assert_allclose(out[0], out[1], rtol=5e-2, atol=5e-2)


def test_custom_optimizer_subclass_hooks():
    # A user optimizer built on the base class gets step hooks and state_dict like torch's.
    log = {}
    for lib in (ctorch, torch):
        class Halve(lib.optim.Optimizer):
            def __init__(self, params):
                super().__init__(params, {"lr": 0.5})

            def step(self, closure=None):
                with lib.no_grad():
                    for group in self.param_groups:
                        for p in group["params"]:
                            p.mul_(group["lr"])
                            self.state[p]["n"] = self.state[p].get("n", 0) + 1

        p = lib.nn.Parameter(lib.tensor([4.0]))
        opt = Halve([p])
        seen = log.setdefault(lib, [])
        opt.register_step_pre_hook(lambda o, a, k: seen.append("pre"))
        opt.register_step_post_hook(lambda o, a, k: seen.append("post"))
        opt.step()
        opt.step()
        seen.append(p.detach().tolist())
        seen.append(opt.state_dict()["state"])
    assert log[ctorch] == log[torch]


@pytest.mark.parametrize("name,keys", [("ASGD", ("step", "eta", "mu")), ("NAdam", ("step", "mu_product")),
                                       ("Adam", ("step",))])
def test_load_state_with_python_number_scalars(name, keys):
    # Older checkpoints store these as Python numbers; loading turns them into tensors (torch too).
    res = []
    for lib, conv in ((ctorch, _to_ctorch), (torch, lambda x: x)):
        pt, tt = _make(torch, "float64")
        ot = getattr(torch.optim, name)(pt, lr=0.01)
        _steps(torch, ot, pt, tt, 5)
        sd = ot.state_dict()
        for st in sd["state"].values():
            for k in keys:
                st[k] = st[k].item()
        ps, ts = _make(lib, "float64")
        ps = _params_to(lib, pt)
        opt = getattr(lib.optim, name)(ps, lr=0.01)
        opt.load_state_dict(conv(sd))
        _steps(lib, opt, ps, ts, 5)
        res.append(ps)
    _assert_close(res[0], res[1], rtol=1e-6, atol=1e-9)
