"""Core basics against torch: creation, dtype inference, promotion, arithmetic, views."""
import pytest
import torch

import ctorch
from helpers import ALL_DTYPES, DTYPES, check, make_pair


@pytest.mark.parametrize("data", [[1, 2, 3], [1.0, 2], [True, False], [[1, 2], [3, 4]], 3, 2.5, True, [], [[]],
                                  [True, 2], [[1.5], [2]]])
def test_tensor_inference(data):
    check(lambda lib: lib.tensor(data))


def test_ragged_and_bad_data():
    check(lambda lib: lib.tensor([[1, 2], [3]]))
    check(lambda lib: lib.tensor(["a"]))


@pytest.mark.parametrize("a", ALL_DTYPES)
@pytest.mark.parametrize("b", ALL_DTYPES)
def test_promote_types(a, b):
    assert str(ctorch.promote_types(DTYPES[a][0], DTYPES[b][0])) == str(torch.promote_types(DTYPES[a][1], DTYPES[b][1]))


@pytest.mark.parametrize("dt", ALL_DTYPES)
@pytest.mark.parametrize("scalar", [2, 2.5, True])
def test_result_type_with_scalars(dt, scalar):
    c, t = make_pair((3,), dt, seed=0)
    assert str(ctorch.result_type(c, scalar)) == str(torch.result_type(t, scalar))
    c0, t0 = make_pair((), dt, seed=1)
    c1, t1 = make_pair((2,), "int32", seed=2)
    assert str(ctorch.result_type(c0, c1)) == str(torch.result_type(t0, t1))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("dt", ALL_DTYPES)
@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((2, 3), (3,)), ((4, 1), (1, 5)), ((), (3,)), ((0, 3), (3,)),
                                    ((2, 3), (4,))])
def test_binary(op, dt, shapes):
    a = make_pair(shapes[0], dt, seed=1)
    b = make_pair(shapes[1], dt, low=1, seed=2)
    check(lambda lib, x, y: getattr(lib, op)(x, y), a, b)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("dt", ["int64", "float32", "bool", "uint8"])
@pytest.mark.parametrize("scalar", [2, 1.5, True])
def test_binary_scalar(op, dt, scalar):
    a = make_pair((2, 3), dt, low=1, seed=3)
    check(lambda lib, x: getattr(lib, op)(x, scalar), a)
    check(lambda lib, x: {"add": lambda: scalar + x, "sub": lambda: scalar - x, "mul": lambda: scalar * x,
                          "div": lambda: scalar / x}[op](), a)


def test_alpha_and_inplace():
    a = make_pair((2, 3), "float32", seed=4)
    b = make_pair((3,), "float32", seed=5)
    check(lambda lib, x, y: lib.add(x, y, alpha=2.5), a, b)
    check(lambda lib, x, y: lib.sub(x, y, alpha=2), a, b)
    check(lambda lib, x, y: x.clone().add_(y), a, b)
    ai = make_pair((3,), "int64", seed=6)
    check(lambda lib, x: x.clone().add_(1.5), ai)          # can't cast float result into int
    check(lambda lib, x, y: lib.add(x, y, alpha=1.5), ai, ai)
    check(lambda lib, x, y: x.clone().add_(y), make_pair((3,), "float32", seed=7), make_pair((2, 3), "float32", seed=8))


def test_inplace_identity_and_version():
    x = ctorch.ones(3)
    y = x.view(3)
    assert x.add_(1) is x
    assert y.tolist() == [2.0, 2.0, 2.0]
    x += 1
    assert y.tolist() == [3.0, 3.0, 3.0]


def test_view_reshape():
    a = make_pair((4, 6), "float32", seed=9)
    check(lambda lib, x: x.view(2, -1, 3), a)
    check(lambda lib, x: x.view((24,)), a)
    check(lambda lib, x: x.reshape(3, 8), a)
    check(lambda lib, x: x.view(5, 5), a)
    check(lambda lib, x: x.view(-1, -1), a)
    x = ctorch.ones(4, 6)
    assert x.view(24).data_ptr() == x.data_ptr()


def test_factories():
    check(lambda lib: lib.zeros(2, 3))
    check(lambda lib: lib.ones((2, 3), dtype=lib.int32))
    check(lambda lib: lib.full((2,), 3))
    check(lambda lib: lib.full((2,), 3.5))
    check(lambda lib: lib.full((2,), True))
    check(lambda lib: lib.zeros(2, -1))
    assert tuple(ctorch.empty(2, 3).shape) == (2, 3)
    with pytest.raises(RuntimeError):
        ctorch.zeros(2, device="cuda")


def test_size_and_repr_types():
    x = ctorch.zeros(2, 3)
    assert repr(x.shape) == "torch.Size([2, 3])"
    assert x.size(1) == 3 and x.size(-1) == 3 and x.stride() == (3, 1)
    with pytest.raises(IndexError):
        x.size(2)
    assert repr(ctorch.float32) == "torch.float32"
    assert ctorch.float32.is_floating_point and ctorch.float64.itemsize == 8


def test_item_and_conversions():
    check(lambda lib: lib.tensor([2.5]).item())
    check(lambda lib: float(lib.tensor(3)))
    check(lambda lib: int(lib.tensor(3.7)))
    check(lambda lib: bool(lib.tensor([1, 2])))
    check(lambda lib: lib.tensor([1, 2]).item())
    check(lambda lib: len(lib.zeros(4, 2)))
    check(lambda lib: len(lib.tensor(1.0)))


def test_bad_arguments():
    check(lambda lib: lib.add(lib.ones(2), "x"))
    check(lambda lib: lib.ones(2).add(lib.ones(2), foo=1))
    check(lambda lib: lib.ones(2) - lib.tensor([True, False]))
    check(lambda lib: -lib.tensor([True]))
