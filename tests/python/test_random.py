"""Random sampling vs torch 2.13 on CPU.

ctorch's generator reproduces torch's CPU stream, so most samplers are compared for exact
equality after seeding both libraries alike. That includes float32 randn of >= 16 elements,
where torch uses vectorised Cephes log/sincos polynomials that ctorch evaluates identically.
Not reproduced bit for bit (and so not compared for equality): randperm with
n >= 2**32 / 20 (too big for a test; torch uses a different shuffle there).
"""
import numpy as np
import pytest
import torch

import ctorch
from helpers import DTYPES, assert_same

FLOATS = ["float32", "float64", "float16", "bfloat16"]


def seeded(fn, seed=0, rtol=0, atol=0):
    """fn(lib) after lib.manual_seed(seed) for torch and ctorch; compare (exactly by default)
    or compare exception classes."""
    torch.manual_seed(seed)
    try:
        t = fn(torch)
    except Exception as e:
        ctorch.manual_seed(seed)
        with pytest.raises(type(e)):
            fn(ctorch)
        return
    ctorch.manual_seed(seed)
    c = fn(ctorch)
    assert_same(c, t, rtol=rtol, atol=atol)
    return c, t


def D(lib, name):
    return getattr(lib, name)


# ------------------------------------------------------------------ exact streams

@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(5,), (3, 7), (), (0,), (2, 0, 3), (100,)])
def test_rand_exact(dtype, shape):
    seeded(lambda l: l.rand(shape, dtype=D(l, dtype)), seed=3)


def test_rand_varargs_and_default_dtype():
    seeded(lambda l: l.rand(2, 3))
    seeded(lambda l: [l.rand(4), l.rand(3), l.rand(2, dtype=l.float64)], seed=11)


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
@pytest.mark.parametrize("n", [1, 5, 15, 16, 17, 37, 64, 100])
def test_randn_exact(dtype, n):
    seeded(lambda l: l.randn(n, dtype=D(l, dtype)), seed=n)


@pytest.mark.parametrize("n", [1, 2, 5, 15])
def test_randn_float32_small_exact(n):
    seeded(lambda l: [l.randn(n), l.randn(3), l.randn(1)], seed=5)


@pytest.mark.parametrize("n", [16, 37, 1000, 40000])
def test_randn_float32_block_path_exact(n):
    seeded(lambda l: l.randn(n), seed=1)
    seeded(lambda l: [l.randn(n), l.rand(5)], seed=2)   # same stream position afterwards
    seeded(lambda l: l.empty(n).normal_(2.5, 0.3), seed=3)


def test_randn_cached_sample_is_in_state():
    torch.manual_seed(9)
    ctorch.manual_seed(9)
    torch.randn(3, dtype=torch.float64)
    ctorch.randn(3, dtype=ctorch.float64)
    assert ctorch.get_rng_state().tolist() == torch.get_rng_state().tolist()
    assert_same(ctorch.randn(1, dtype=ctorch.float64), torch.randn(1, dtype=torch.float64), rtol=0, atol=0)


@pytest.mark.parametrize("args", [(0, 10, (40,)), (-5, 5, (3, 4)), (0, 2 ** 40, (10,)), (-2 ** 62, 2 ** 62, (6,)),
                                  (1, 2, (5,)), (0, 10, (0,))])
def test_randint_exact(args):
    seeded(lambda l: l.randint(*args))


def test_randint_high_only_and_dtypes():
    seeded(lambda l: l.randint(7, (20,)))
    for dt in ["uint8", "int8", "int16", "int32", "float32", "float64", "float16", "bfloat16"]:
        seeded(lambda l: l.randint(3, 100, (20,), dtype=D(l, dt)))
    seeded(lambda l: l.randint(0, 2 ** 40, (8,), dtype=l.float64))


@pytest.mark.parametrize("n", [0, 1, 2, 10, 1000])
def test_randperm_exact(n):
    seeded(lambda l: l.randperm(n))


def test_randperm_dtypes():
    for dt in ["int32", "int16", "float32", "float64"]:
        seeded(lambda l: l.randperm(50, dtype=D(l, dt)))


@pytest.mark.parametrize("dtype", FLOATS)
def test_uniform_(dtype):
    seeded(lambda l: l.empty(30, dtype=D(l, dtype)).uniform_(-2, 3))
    seeded(lambda l: l.empty(4, 5, dtype=D(l, dtype)).uniform_())


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
def test_normal_(dtype):
    seeded(lambda l: l.empty(40, dtype=D(l, dtype)).normal_(2, 3))
    seeded(lambda l: l.empty(7, dtype=D(l, dtype)).normal_(mean=-1, std=0.5))


def test_normal_float32():
    seeded(lambda l: l.empty(10).normal_(2, 3))
    seeded(lambda l: l.empty(40).normal_(2, 3))


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int16", "int32", "int64"] + FLOATS)
def test_random_(dtype):
    seeded(lambda l: l.empty(12, dtype=D(l, dtype)).random_())
    if dtype != "bool":
        seeded(lambda l: l.empty(12, dtype=D(l, dtype)).random_(100))
        seeded(lambda l: l.empty(12, dtype=D(l, dtype)).random_(3, 50))
        seeded(lambda l: l.empty(12, dtype=D(l, dtype)).random_(5, None))
    else:
        seeded(lambda l: l.empty(12, dtype=D(l, dtype)).random_(0, 2))


def test_random_full_range():
    seeded(lambda l: l.empty(8, dtype=l.int64).random_(-2 ** 63, None))
    seeded(lambda l: l.empty(8, dtype=l.int64).random_(-2 ** 40, 2 ** 40))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool", "uint8"])
def test_bernoulli_float_p(dtype):
    seeded(lambda l: l.empty(30, dtype=D(l, dtype)).bernoulli_(0.3))
    seeded(lambda l: l.empty(30, dtype=D(l, dtype)).bernoulli_())
    seeded(lambda l: l.bernoulli(l.zeros(20, dtype=D(l, dtype)), 0.7))


@pytest.mark.parametrize("pdtype", ["float32", "float64", "float16"])
def test_bernoulli_tensor_p(pdtype):
    p = np.linspace(0, 1, 24).reshape(4, 6)
    seeded(lambda l: l.bernoulli(l.tensor(p, dtype=D(l, pdtype))))
    seeded(lambda l: l.empty(4, 6).bernoulli_(l.tensor(p[0], dtype=D(l, pdtype))))


def test_bernoulli_out():
    seeded(lambda l: l.bernoulli(l.full((5,), 0.5), out=l.empty(5)))


@pytest.mark.parametrize("dtype", FLOATS)
def test_exponential_geometric_lognormal_cauchy(dtype):
    rtol = {"float16": 1e-3, "bfloat16": 1e-2}.get(dtype, 0)
    seeded(lambda l: l.empty(20, dtype=D(l, dtype)).exponential_(2.5), rtol=rtol)
    seeded(lambda l: l.empty(20, dtype=D(l, dtype)).geometric_(0.3))
    seeded(lambda l: l.empty(20, dtype=D(l, dtype)).log_normal_(0.5, 0.25), rtol=rtol)
    seeded(lambda l: l.empty(20, dtype=D(l, dtype)).cauchy_(1, 2), rtol=rtol)


def test_geometric_integer():
    seeded(lambda l: l.empty(20, dtype=l.int64).geometric_(0.2))


def test_normal_overloads():
    m = np.arange(20.0).reshape(4, 5)
    seeded(lambda l: l.normal(l.tensor(m), l.ones(4, 5, dtype=l.float64) * 2))
    seeded(lambda l: l.normal(l.tensor(m), 0.5))
    seeded(lambda l: l.normal(3.0, l.tensor(m[0])))
    seeded(lambda l: l.normal(1.0, 2.0, (3, 4), dtype=l.float64))
    seeded(lambda l: l.normal(1.0, 2.0, size=(5,)))
    seeded(lambda l: l.normal(l.tensor(m[:1]), l.tensor(m[:, :1] + 1)))   # broadcast
    seeded(lambda l: l.normal(l.zeros(3, dtype=l.float64), 1.0, out=l.empty(3, dtype=l.float64)))


def test_like_functions():
    seeded(lambda l: l.rand_like(l.zeros(3, 4)))
    seeded(lambda l: l.randn_like(l.zeros(3, 4, dtype=l.float64)))
    seeded(lambda l: l.randint_like(l.zeros(3, 4), 10))
    seeded(lambda l: l.randint_like(l.zeros(3, 4, dtype=l.int32), -5, 5))
    seeded(lambda l: l.rand_like(l.zeros(5, dtype=l.int64), dtype=l.float64))


@pytest.mark.parametrize("replacement", [True, False])
def test_multinomial_exact(replacement):
    p = [[0.1, 0.2, 0.3, 0.4], [1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 5.0, 1.0]]
    seeded(lambda l: l.multinomial(l.tensor(p), 2, replacement))
    seeded(lambda l: l.multinomial(l.tensor(p[0], dtype=l.float64), 1, replacement))
    if replacement:
        seeded(lambda l: l.multinomial(l.tensor(p), 50, True))
        seeded(lambda l: l.tensor(p[1]).multinomial(7, replacement=True))


def test_multinomial_distribution():
    ctorch.manual_seed(0)
    s = ctorch.multinomial(ctorch.tensor([1.0, 3.0, 6.0]), 20000, True)
    counts = np.bincount(np.array(s.tolist()), minlength=3) / 20000
    np.testing.assert_allclose(counts, [0.1, 0.3, 0.6], atol=0.02)
    s = ctorch.multinomial(ctorch.tensor([1.0, 1.0, 0.0, 1.0]), 3)
    assert sorted(s.tolist()) == [0, 1, 3]


def test_noncontiguous_outputs_follow_memory_order():
    seeded(lambda l: l.empty_strided((4, 5), (1, 4)).uniform_())
    seeded(lambda l: l.empty_strided((4, 5), (1, 4), dtype=l.float64).normal_())
    seeded(lambda l: l.empty_strided((3, 4), (1, 3), dtype=l.int64).random_(0, 100))
    seeded(lambda l: l.empty_strided((4, 5), (1, 4)).bernoulli_(0.5))


# ------------------------------------------------------------------ generators

def test_generator_objects_match_torch():
    for seed in [0, 1, 12345, 2 ** 40 + 7, 2 ** 64 - 1]:
        cg, tg = ctorch.Generator(), torch.Generator()
        assert cg.manual_seed(seed) is cg
        tg.manual_seed(seed)
        assert cg.initial_seed() == tg.initial_seed() == seed
        assert_same(ctorch.rand(10, generator=cg), torch.rand(10, generator=tg), rtol=0, atol=0)
        assert_same(ctorch.randint(0, 5, (10,), generator=cg), torch.randint(0, 5, (10,), generator=tg))
        assert_same(ctorch.empty(6, dtype=ctorch.float64).normal_(generator=cg),
                    torch.empty(6, dtype=torch.float64).normal_(generator=tg), rtol=0, atol=0)
        assert_same(ctorch.randperm(12, generator=cg), torch.randperm(12, generator=tg))


def test_generator_defaults_and_independence():
    g = ctorch.Generator()
    assert g.initial_seed() == torch.Generator().initial_seed() == 67280421310721
    assert str(g.device) == "cpu"
    ctorch.manual_seed(0)
    g.manual_seed(0)
    a = ctorch.rand(5, generator=g)
    b = ctorch.rand(5)
    assert a.tolist() == b.tolist()  # separate streams, same seed


def test_negative_and_overflowing_seeds():
    g, tg = ctorch.Generator(), torch.Generator()
    g.manual_seed(-1)
    tg.manual_seed(-1)
    assert g.initial_seed() == tg.initial_seed()
    for bad in [2 ** 64, -2 ** 63 - 1]:
        with pytest.raises(ValueError):
            g.manual_seed(bad)
        with pytest.raises(ValueError):
            tg.manual_seed(bad)
    with pytest.raises(TypeError):
        g.manual_seed("x")


def test_seed_and_initial_seed():
    s = ctorch.seed()
    assert isinstance(s, int) and 0 <= s < 2 ** 64
    assert ctorch.initial_seed() == s
    assert ctorch.seed() != s or ctorch.seed() != s
    assert ctorch.manual_seed(42) is ctorch.default_generator
    assert ctorch.initial_seed() == 42
    assert ctorch.random.initial_seed() == 42


def test_state_save_restore():
    ctorch.manual_seed(1)
    ctorch.rand(7)
    st = ctorch.get_rng_state()
    assert st.dtype == ctorch.uint8 and tuple(st.shape) == (5056,)
    a = ctorch.randn(20, dtype=ctorch.float64).tolist()
    ctorch.set_rng_state(st)
    assert ctorch.randn(20, dtype=ctorch.float64).tolist() == a
    g = ctorch.Generator()
    g.set_state(st)
    assert ctorch.randn(20, dtype=ctorch.float64, generator=g).tolist() == a
    assert g.get_state().tolist() == ctorch.get_rng_state().tolist()


def test_state_interchange_with_torch():
    torch.manual_seed(77)
    torch.rand(3)
    torch.randn(1, dtype=torch.float64)   # leaves a cached normal in the state
    ts = torch.get_rng_state()
    ctorch.set_rng_state(ctorch.tensor(ts.numpy()))
    assert ctorch.get_rng_state().tolist() == ts.tolist()
    assert_same(ctorch.randn(5, dtype=ctorch.float64), torch.randn(5, dtype=torch.float64), rtol=0, atol=0)
    assert_same(ctorch.rand(700), torch.rand(700), rtol=0, atol=0)  # crosses a state regeneration


def test_bad_states():
    with pytest.raises(TypeError):
        ctorch.set_rng_state(ctorch.zeros(5056))
    with pytest.raises(TypeError):
        torch.set_rng_state(torch.zeros(5056))
    with pytest.raises(RuntimeError):
        ctorch.set_rng_state(ctorch.zeros(50, dtype=ctorch.uint8))
    with pytest.raises(RuntimeError):
        torch.set_rng_state(torch.zeros(50, dtype=torch.uint8))


def test_fork_rng():
    ctorch.manual_seed(5)
    before = ctorch.get_rng_state().tolist()
    with ctorch.random.fork_rng():
        ctorch.manual_seed(100)
        ctorch.rand(10)
    assert ctorch.get_rng_state().tolist() == before
    with ctorch.random.fork_rng(enabled=False):
        ctorch.rand(1)
    assert ctorch.get_rng_state().tolist() != before
    with pytest.raises(KeyError):
        with ctorch.random.fork_rng():
            ctorch.rand(3)
            raise KeyError("x")
    ctorch.manual_seed(5)
    ctorch.rand(1)
    assert ctorch.get_rng_state().tolist() != before


def test_requires_grad_and_out():
    assert ctorch.rand(3, requires_grad=True).requires_grad
    assert ctorch.randn(3, requires_grad=True).requires_grad
    seeded(lambda l: l.rand(4, out=l.empty(4)))
    seeded(lambda l: l.randint(0, 9, (4,), out=l.empty(4, dtype=l.int64)))


# ------------------------------------------------------------------ bad inputs

@pytest.mark.parametrize("fn", [
    lambda l: l.randint(5, 5, (3,)),
    lambda l: l.randint(5, 2, (3,)),
    lambda l: l.randint(0, 300, (3,), dtype=l.uint8),
    lambda l: l.rand(-1),
    lambda l: l.randn(2, -3),
    lambda l: l.rand(3, dtype=l.int64),
    lambda l: l.randn(3, dtype=l.int32),
    lambda l: l.randperm(-1),
    lambda l: l.multinomial(l.tensor([0.5, -0.1, 0.6]), 2),
    lambda l: l.multinomial(l.tensor([0.5, -0.1, 0.6]), 2, True),
    lambda l: l.multinomial(l.tensor([0.0, 0.0]), 1),
    lambda l: l.multinomial(l.tensor([0.5, 0.5]), 3),
    lambda l: l.multinomial(l.tensor([0.5, 0.5]), 0),
    lambda l: l.multinomial(l.tensor([1, 2]), 1),
    lambda l: l.multinomial(l.zeros(2, 2, 2), 1),
    lambda l: l.bernoulli(l.tensor([0.5, 1.5])),
    lambda l: l.zeros(3).bernoulli_(1.5),
    lambda l: l.zeros(3).normal_(0, -1),
    lambda l: l.normal(l.zeros(3), l.tensor([1.0, -1.0, 1.0])),
    lambda l: l.normal(0.0, -1.0, (3,)),
    lambda l: l.zeros(3).uniform_(2, 1),
    lambda l: l.zeros(3).exponential_(-1),
    lambda l: l.zeros(3).geometric_(1.5),
    lambda l: l.zeros(3).log_normal_(0, -1),
    lambda l: l.zeros(3).cauchy_(0, -1),
    lambda l: l.zeros(3, dtype=l.int64).uniform_(),
    lambda l: l.zeros(3, dtype=l.int64).normal_(),
    lambda l: l.zeros(3).random_(5, 2),
    lambda l: l.rand(3, generator=5),
])
def test_bad_inputs(fn):
    seeded(fn)


def test_samples_in_range():
    ctorch.manual_seed(0)
    x = np.array(ctorch.rand(10000).tolist())
    assert x.min() >= 0 and x.max() < 1 and abs(x.mean() - 0.5) < 0.02
    y = np.array(ctorch.randn(10000).tolist())
    assert abs(y.mean()) < 0.05 and abs(y.std() - 1) < 0.05
    z = np.array(ctorch.randint(-3, 4, (10000,)).tolist())
    assert z.min() == -3 and z.max() == 3


@pytest.mark.parametrize("fn", [
    lambda l: l.zeros(3, dtype=l.bool).geometric_(0.5),
    lambda l: l.bernoulli(l.zeros(3, dtype=l.int64)),
    lambda l: l.zeros(3).bernoulli_(l.zeros(3, dtype=l.int64)),
    lambda l: l.zeros(3, dtype=l.int64).exponential_(),
    lambda l: l.zeros(3, dtype=l.int32).cauchy_(),
    lambda l: l.zeros(3, dtype=l.int32).log_normal_(),
    lambda l: l.zeros(3).bernoulli_(l.zeros(4)),
])
def test_bad_dtypes_and_shapes(fn):
    seeded(fn)


def test_generator_pickle_and_clone():
    import pickle
    g = ctorch.Generator().manual_seed(5)
    ctorch.rand(3, generator=g)
    h = pickle.loads(pickle.dumps(g))
    c = g.clone_state()
    a = ctorch.rand(4, generator=g).tolist()
    assert ctorch.rand(4, generator=h).tolist() == a
    assert ctorch.rand(4, generator=c).tolist() == a
    assert h.initial_seed() == 5
