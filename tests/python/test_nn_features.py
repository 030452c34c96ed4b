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
    f = lambda lib, x: lib.nn.functional.interpolate(x, size=(4, 7), mode=mode, align_corners=ac, antialias=True)  # noqa
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
