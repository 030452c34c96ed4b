"""ctorch.optim.lr_scheduler against torch: lr (and momentum) sequences over 200 steps, state
dicts, composed schedulers, bad arguments."""
import math
import warnings

import pytest
import torch

import ctorch


def _opt(lib, kind="SGD"):
    a = lib.nn.Parameter(lib.tensor([1.0, 2.0]))
    b = lib.nn.Parameter(lib.tensor([3.0]))
    groups = [{"params": [a]}, {"params": [b], "lr": 0.05}]
    if kind == "SGD":
        return lib.optim.SGD(groups, lr=0.1, momentum=0.9)
    return lib.optim.Adam(groups, lr=0.1)


def _trace(lib, make, steps=200, kind="SGD", metrics=None):
    opt = _opt(lib, kind)
    sched = make(lib, opt)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(steps):
            opt.step()
            if metrics is not None:
                sched.step(metrics(i))
            else:
                sched.step()
            rec = [list(sched.get_last_lr())]
            for g in opt.param_groups:
                rec.append(g.get("momentum", g.get("betas")))
            out.append(rec)
    return out, sched, opt


S = lambda lib: lib.optim.lr_scheduler  # noqa: E731

SCHEDULERS = {
    "StepLR": lambda lib, o: S(lib).StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda lib, o: S(lib).MultiStepLR(o, milestones=[10, 30, 30, 80], gamma=0.3),
    "ConstantLR": lambda lib, o: S(lib).ConstantLR(o, factor=0.25, total_iters=13),
    "LinearLR": lambda lib, o: S(lib).LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=37),
    "LinearLR-default": lambda lib, o: S(lib).LinearLR(o),
    "ExponentialLR": lambda lib, o: S(lib).ExponentialLR(o, gamma=0.97),
    "PolynomialLR": lambda lib, o: S(lib).PolynomialLR(o, total_iters=150, power=2.0),
    "PolynomialLR-lin": lambda lib, o: S(lib).PolynomialLR(o, total_iters=50),
    "CosineAnnealingLR": lambda lib, o: S(lib).CosineAnnealingLR(o, T_max=30, eta_min=0.001),
    "CosineAnnealingLR-0": lambda lib, o: S(lib).CosineAnnealingLR(o, T_max=17),
    "WarmRestarts": lambda lib, o: S(lib).CosineAnnealingWarmRestarts(o, T_0=10, eta_min=1e-4),
    "WarmRestarts-mult": lambda lib, o: S(lib).CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2),
    "CyclicLR-tri": lambda lib, o: S(lib).CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=15),
    "CyclicLR-tri2": lambda lib, o: S(lib).CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=10,
                                                     step_size_down=25, mode="triangular2"),
    "CyclicLR-exp": lambda lib, o: S(lib).CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=12, mode="exp_range",
                                                    gamma=0.99, base_momentum=0.7, max_momentum=0.95),
    "CyclicLR-nomom": lambda lib, o: S(lib).CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=9,
                                                      cycle_momentum=False),
    "CyclicLR-fn": lambda lib, o: S(lib).CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=9,
                                                   scale_fn=lambda x: 0.5 ** x, scale_mode="iterations"),
    "OneCycleLR-cos": lambda lib, o: S(lib).OneCycleLR(o, max_lr=0.5, total_steps=200),
    "OneCycleLR-lin": lambda lib, o: S(lib).OneCycleLR(o, max_lr=[0.5, 0.2], epochs=20, steps_per_epoch=10,
                                                        anneal_strategy="linear", pct_start=0.4),
    "OneCycleLR-3": lambda lib, o: S(lib).OneCycleLR(o, max_lr=0.5, total_steps=210, three_phase=True,
                                                      div_factor=10.0, final_div_factor=100.0),
    "OneCycleLR-nomom": lambda lib, o: S(lib).OneCycleLR(o, max_lr=0.5, total_steps=200, cycle_momentum=False),
    "LambdaLR": lambda lib, o: S(lib).LambdaLR(o, lr_lambda=lambda e: 0.95 ** e),
    "LambdaLR-list": lambda lib, o: S(lib).LambdaLR(o, lr_lambda=[lambda e: 1 / (1 + e), lambda e: math.cos(e)]),
    "MultiplicativeLR": lambda lib, o: S(lib).MultiplicativeLR(o, lr_lambda=lambda e: 0.99 if e % 3 else 1.01),
    "SequentialLR": lambda lib, o: S(lib).SequentialLR(
        o, schedulers=[S(lib).LinearLR(o, start_factor=0.1, total_iters=10),
                       S(lib).CosineAnnealingLR(o, T_max=50), S(lib).ExponentialLR(o, gamma=0.98)],
        milestones=[10, 90]),
    "ChainedScheduler": lambda lib, o: S(lib).ChainedScheduler(
        [S(lib).ConstantLR(o, factor=0.5, total_iters=5), S(lib).ExponentialLR(o, gamma=0.99),
         S(lib).StepLR(o, step_size=20, gamma=0.7)]),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_lr_sequence(name):
    kind = "SGD"
    a, _, _ = _trace(ctorch, SCHEDULERS[name], kind=kind)
    b, _, _ = _trace(torch, SCHEDULERS[name], kind=kind)
    assert a == b


@pytest.mark.parametrize("name", ["CyclicLR-tri", "OneCycleLR-cos", "OneCycleLR-3"])
def test_momentum_cycling_with_betas(name):
    a, _, oa = _trace(ctorch, SCHEDULERS[name], kind="Adam")
    b, _, ob = _trace(torch, SCHEDULERS[name], kind="Adam")
    assert a == b
    assert [g["betas"] for g in oa.param_groups] == [g["betas"] for g in ob.param_groups]


@pytest.mark.parametrize("kw", [dict(), dict(mode="max", factor=0.5, patience=3, threshold=0.1, cooldown=2),
                                dict(threshold_mode="abs", patience=2, min_lr=[0.01, 0.02], eps=1e-3),
                                dict(mode="max", threshold_mode="abs", patience=0, factor=0.9, min_lr=1e-3)])
def test_reduce_on_plateau(kw):
    def metrics(i):
        return 1.0 / (1 + (i % 17)) + 0.01 * (i % 5)

    mk = lambda lib, o: S(lib).ReduceLROnPlateau(o, **kw)  # noqa: E731
    a, sa, _ = _trace(ctorch, mk, metrics=metrics)
    b, sb, _ = _trace(torch, mk, metrics=metrics)
    assert a == b
    assert (sa.best, sa.num_bad_epochs, sa.cooldown_counter, sa.last_epoch) == \
           (sb.best, sb.num_bad_epochs, sb.cooldown_counter, sb.last_epoch)


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR",
                                  "PolynomialLR", "CosineAnnealingLR", "WarmRestarts-mult"])
def test_step_with_epoch_closed_form(name):
    res = []
    for lib in (ctorch, torch):
        opt = _opt(lib)
        sched = SCHEDULERS[name](lib, opt)
        seq = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for e in [3, 7, 12, 40, 41, 100, 5]:
                opt.step()
                sched.step(e)
                seq.append(sched.get_last_lr())
        res.append(seq)
    for x, y in zip(res[0], res[1]):
        assert x == pytest.approx(y, rel=1e-12)


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "CyclicLR-exp", "OneCycleLR-cos", "LambdaLR",
                                  "SequentialLR", "ChainedScheduler", "WarmRestarts-mult"])
def test_state_dict_resume(name):
    # Run 60 steps, save, rebuild, load, continue 60 more: same lrs as an uninterrupted run.
    full, _, _ = _trace(ctorch, SCHEDULERS[name], steps=120)
    ref, _, _ = _trace(torch, SCHEDULERS[name], steps=120)
    assert full == ref
    first, sched, opt = _trace(ctorch, SCHEDULERS[name], steps=60)
    sd = sched.state_dict()
    opt_sd = opt.state_dict()
    opt2 = _opt(ctorch)
    sched2 = SCHEDULERS[name](ctorch, opt2)
    opt2.load_state_dict(opt_sd)
    sched2.load_state_dict(sd)
    rest = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(60):
            opt2.step()
            sched2.step()
            rec = [list(sched2.get_last_lr())]
            for g in opt2.param_groups:
                rec.append(g.get("momentum", g.get("betas")))
            rest.append(rec)
    assert first + rest == ref


def test_state_dict_keys_match_torch():
    for name in ["StepLR", "CosineAnnealingLR", "LambdaLR", "SequentialLR", "ReduceLROnPlateau"]:
        keys = []
        for lib in (ctorch, torch):
            opt = _opt(lib)
            if name == "ReduceLROnPlateau":
                s = S(lib).ReduceLROnPlateau(opt)
            else:
                s = SCHEDULERS[name](lib, opt)
            sd = s.state_dict()
            keys.append(sorted(k for k in sd if not k.startswith("_get_lr") and k != "_is_initial"))
            if name in ("StepLR", "CosineAnnealingLR"):
                assert sd["last_epoch"] == 0 and sd["base_lrs"] == [0.1, 0.05] and sd["_step_count"] == 1
        assert keys[0] == keys[1], name


def test_initial_lr_and_last_epoch():
    for lib in (ctorch, torch):
        opt = _opt(lib)
        s = S(lib).StepLR(opt, step_size=2)
        assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.05]
        assert s.last_epoch == 0 and s.get_last_lr() == [0.1, 0.05]
        opt2 = _opt(lib)
        with pytest.raises(KeyError):
            S(lib).StepLR(opt2, step_size=2, last_epoch=3)


def test_get_lr_outside_step_warns():
    for lib in (ctorch, torch):
        s = S(lib).StepLR(_opt(lib), step_size=2)
        with pytest.warns(UserWarning, match="get_last_lr"):
            s.get_lr()


BAD = [
    lambda lib, o: S(lib).ConstantLR(o, factor=1.5),
    lambda lib, o: S(lib).LinearLR(o, start_factor=0),
    lambda lib, o: S(lib).LinearLR(o, end_factor=1.5),
    lambda lib, o: S(lib).CosineAnnealingWarmRestarts(o, T_0=0),
    lambda lib, o: S(lib).CosineAnnealingWarmRestarts(o, T_0=5, T_mult=0),
    lambda lib, o: S(lib).CosineAnnealingWarmRestarts(o, T_0=5, eta_min="x"),
    lambda lib, o: S(lib).CyclicLR(o, base_lr=0.1, max_lr=1.0, mode="bogus"),
    lambda lib, o: S(lib).CyclicLR(o, base_lr=[0.1], max_lr=1.0),
    lambda lib, o: S(lib).OneCycleLR(o, max_lr=0.1),
    lambda lib, o: S(lib).OneCycleLR(o, max_lr=0.1, total_steps=0),
    lambda lib, o: S(lib).OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1.5),
    lambda lib, o: S(lib).OneCycleLR(o, max_lr=0.1, total_steps=10, anneal_strategy="x"),
    lambda lib, o: S(lib).OneCycleLR(o, max_lr=0.1, epochs=0, steps_per_epoch=3),
    lambda lib, o: S(lib).ReduceLROnPlateau(o, factor=1.0),
    lambda lib, o: S(lib).ReduceLROnPlateau(o, mode="middle"),
    lambda lib, o: S(lib).ReduceLROnPlateau(o, threshold_mode="x"),
    lambda lib, o: S(lib).ReduceLROnPlateau(o, min_lr=[0.1]),
    lambda lib, o: S(lib).LambdaLR(o, lr_lambda=[lambda e: 1.0]),
    lambda lib, o: S(lib).SequentialLR(o, schedulers=[], milestones=[]),
    lambda lib, o: S(lib).SequentialLR(o, schedulers=[S(lib).StepLR(o, 2)], milestones=[3]),
    lambda lib, o: S(lib).ChainedScheduler([]),
    lambda lib, o: S(lib).SequentialLR(o, schedulers=[S(lib).ReduceLROnPlateau(o), S(lib).StepLR(o, 2)],
                                       milestones=[3]),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_arguments(i):
    for lib in (ctorch, torch):
        with pytest.raises(ValueError):
            BAD[i](lib, _opt(lib))


def test_type_errors():
    for lib in (ctorch, torch):
        with pytest.raises(TypeError):
            S(lib).StepLR(object(), step_size=2)
        with pytest.raises(TypeError):
            S(lib).MultiplicativeLR(_opt(lib), lr_lambda=3)
        with pytest.raises(ValueError):
            S(lib).CyclicLR(lib.optim.Rprop([lib.nn.Parameter(lib.tensor([1.0]))]), base_lr=0.1, max_lr=1.0)


def test_onecycle_overrun():
    for lib in (ctorch, torch):
        opt = _opt(lib)
        s = S(lib).OneCycleLR(opt, max_lr=0.5, total_steps=5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(5):
                s.step()
            with pytest.raises(ValueError, match="Tried to step"):
                s.step()


def test_step_order_warning():
    for lib in (ctorch, torch):
        opt = _opt(lib)
        s = S(lib).StepLR(opt, step_size=2)
        with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
            s.step()
        opt2 = _opt(lib)
        s2 = S(lib).StepLR(opt2, step_size=2)
        opt2.step()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            s2.step()
