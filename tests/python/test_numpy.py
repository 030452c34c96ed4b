"""NumPy interop (from_numpy, Tensor.numpy, __array__), DLPack both ways (with NumPy and
with real torch tensors), legacy typed-tensor classes and Tensor.type(), vs torch."""
import gc
import warnings

import numpy as np
import pytest
import torch

import ctorch
from helpers import DTYPES

NP_DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


def exc_class(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return type(e)
    return None


def same_exception(fc, ft):
    et = exc_class(ft)
    assert et is not None
    assert exc_class(fc) is et


# ------------------------------------------------------------------ from_numpy

@pytest.mark.parametrize("dt", NP_DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (5,), (3, 4), (2, 3, 4)])
def test_from_numpy_values_and_sharing(dt, shape):
    arr = (np.arange(int(np.prod(shape))) % 2 if dt == "bool" else np.arange(int(np.prod(shape)))).astype(dt)
    arr = arr.reshape(shape)
    c, t = ctorch.from_numpy(arr), torch.from_numpy(arr)
    assert c.dtype == DTYPES[dt][0] and tuple(c.shape) == tuple(t.shape)
    assert c.tolist() == t.tolist()
    if arr.size:
        assert c.data_ptr() == arr.ctypes.data
        flat = arr.reshape(-1)
        flat[0] = 1 if dt != "bool" else True
        assert c.reshape(-1).tolist()[0] == 1
        c.fill_(0)
        assert not arr.any()


def test_from_numpy_noncontiguous_views():
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    for arr in [base.T, base[::2, 1::3], base[:, 2]]:
        c, t = ctorch.from_numpy(arr), torch.from_numpy(arr)
        assert c.tolist() == t.tolist() and c.stride() == t.stride()
    c = ctorch.from_numpy(base.T)
    c.fill_(7)
    assert (base == 7).all()


def test_from_numpy_keeps_array_alive():
    arr = np.arange(10, dtype=np.float64)
    c = ctorch.from_numpy(arr)
    del arr
    gc.collect()
    assert c.tolist() == list(map(float, range(10)))


def test_from_numpy_errors():
    same_exception(lambda: ctorch.from_numpy([1, 2]), lambda: torch.from_numpy([1, 2]))
    same_exception(lambda: ctorch.from_numpy(ctorch.ones(2)), lambda: torch.from_numpy(torch.ones(2)))
    for bad in [np.array(["a"]), np.array([1], dtype=object), np.array([1 + 2j])[:0].astype("M8[s]")]:
        same_exception(lambda: ctorch.from_numpy(bad), lambda: torch.from_numpy(bad))
    same_exception(lambda: ctorch.from_numpy(np.arange(4)[::-1]), lambda: torch.from_numpy(np.arange(4)[::-1]))
    be = np.arange(4, dtype=">i4")
    same_exception(lambda: ctorch.from_numpy(be), lambda: torch.from_numpy(be))
    with pytest.raises(TypeError):  # ctorch has no uint16 (torch does): a clean TypeError
        ctorch.from_numpy(np.ones(3, dtype=np.uint16))


def test_from_numpy_readonly_warns():
    arr = np.arange(3.0)
    arr.flags.writeable = False
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        c = ctorch.from_numpy(arr)
    assert any(issubclass(x.category, UserWarning) for x in w)
    assert c.tolist() == [0.0, 1.0, 2.0]


def test_as_tensor_and_tensor_from_ndarray():
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    shared = ctorch.as_tensor(arr)
    copied = ctorch.tensor(arr)
    arr[0, 0] = 42
    assert shared.tolist()[0][0] == 42
    assert copied.tolist()[0][0] == 0
    conv = ctorch.as_tensor(arr, dtype=ctorch.float64)
    arr[0, 1] = 5
    assert conv.tolist()[0][1] == 1 and conv.dtype == ctorch.float64


# ------------------------------------------------------------------ Tensor.numpy / __array__

@pytest.mark.parametrize("dt", NP_DTYPES)
def test_numpy_shares_memory(dt):
    c = ctorch.ones((2, 3), dtype=DTYPES[dt][0])
    t = torch.ones((2, 3), dtype=DTYPES[dt][1])
    a, b = c.numpy(), t.numpy()
    assert a.dtype == b.dtype and a.shape == b.shape and a.strides == b.strides
    assert (a == b).all()
    assert a.ctypes.data == c.data_ptr()
    a[1, 2] = 0
    assert c.tolist()[1][2] == 0
    c.fill_(0)
    assert not a.any()


def test_numpy_0dim_empty_and_strided():
    c, t = ctorch.tensor(3.5), torch.tensor(3.5)
    assert c.numpy().shape == t.numpy().shape == ()
    assert c.numpy()[()] == 3.5
    assert ctorch.ones((0, 3)).numpy().shape == (0, 3)
    base = np.arange(12, dtype=np.int64).reshape(3, 4)
    c = ctorch.from_numpy(base.T)
    assert (c.numpy() == base.T).all() and c.numpy().strides == base.T.strides


def test_numpy_keeps_storage_alive():
    c = ctorch.tensor([1.0, 2.0, 3.0])
    a = c.numpy()
    del c
    gc.collect()
    assert a.tolist() == [1.0, 2.0, 3.0]
    a[0] = 9  # still writable memory owned by the storage
    assert a[0] == 9


def test_numpy_errors():
    same_exception(lambda: ctorch.ones(2, dtype=ctorch.bfloat16).numpy(),
                   lambda: torch.ones(2, dtype=torch.bfloat16).numpy())
    same_exception(lambda: ctorch.ones(2, requires_grad=True).numpy(),
                   lambda: torch.ones(2, requires_grad=True).numpy())
    same_exception(lambda: np.asarray(ctorch.ones(2, requires_grad=True)),
                   lambda: np.asarray(torch.ones(2, requires_grad=True)))
    assert ctorch.ones(2, requires_grad=True).numpy(force=True).tolist() == [1.0, 1.0]
    with pytest.raises(TypeError):
        ctorch.ones(2).numpy(True)  # force is keyword-only, as in torch
    with pytest.raises(TypeError):
        ctorch.ones(2).numpy(bogus=1)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's __array__ has no copy=
def test_array_protocol():
    c, t = ctorch.tensor([[1.5, 2.0]]), torch.tensor([[1.5, 2.0]])
    for f in [lambda x: np.asarray(x), lambda x: np.asarray(x, dtype=np.float64), lambda x: np.array(x),
              lambda x: np.array(x, dtype=np.int32)]:
        a, b = f(c), f(t)
        assert a.dtype == b.dtype and (a == b).all()
    a = np.asarray(c)
    a[0, 0] = 7
    assert c.tolist()[0][0] == 7  # asarray shares
    b = np.array(c)
    b[0, 0] = 1
    assert c.tolist()[0][0] == 7  # array copies
    assert ctorch.Tensor.__array_priority__ == torch.Tensor.__array_priority__
    assert c.__array__(np.float64, copy=True).dtype == np.float64
    assert (c.__array__(copy=True) == a).all()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's __array_wrap__ takes one argument
def test_numpy_ufuncs_return_tensors():
    c, t = ctorch.tensor([0.5, 1.0]), torch.tensor([0.5, 1.0])
    for f in [np.sin, lambda x: np.add(x, 1), lambda x: np.greater(x, 0.7), lambda x: np.multiply(x, x)]:
        rc, rt = f(c), f(t)
        assert isinstance(rc, ctorch.Tensor) and isinstance(rt, torch.Tensor)
        assert str(rc.dtype) == str(rt.dtype) and rc.tolist() == pytest.approx(rt.tolist())
    with pytest.raises(TypeError):
        c.__array_wrap__([1, 2])


# ------------------------------------------------------------------ DLPack

def test_dlpack_device_and_capsules():
    c = ctorch.ones(3)
    assert c.__dlpack_device__() == tuple(torch.ones(3).__dlpack_device__())
    cap = c.__dlpack__()
    assert "dltensor" in repr(cap) and "versioned" not in repr(cap)
    capv = c.__dlpack__(max_version=(1, 0))
    assert "dltensor_versioned" in repr(capv)
    assert c.__dlpack__(max_version=(0, 8)) is not None
    del cap, capv  # unconsumed capsules free their managed tensors
    gc.collect()


@pytest.mark.parametrize("dt", ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"])
def test_dlpack_numpy_both_ways(dt):
    arr = np.arange(6).reshape(2, 3).astype(dt)
    c = ctorch.from_dlpack(arr)
    assert c.dtype == DTYPES[dt][0] and c.tolist() == arr.tolist()
    arr[0, 0] = 1
    c.fill_(1)
    assert arr.all()
    back = np.from_dlpack(c)
    assert back.dtype == arr.dtype and back.shape == (2, 3)
    back[1, 1] = 0
    assert c.tolist()[1][1] == 0


def test_dlpack_torch_both_ways():
    for td, cd in [(torch.float32, ctorch.float32), (torch.int64, ctorch.int64), (torch.bfloat16, ctorch.bfloat16),
                   (torch.bool, ctorch.bool), (torch.float16, ctorch.float16)]:
        t = torch.arange(12).reshape(3, 4).to(td)
        c = ctorch.from_dlpack(t)
        assert c.dtype == cd and tuple(c.shape) == (3, 4) and c.data_ptr() == t.data_ptr()
        c.fill_(0)
        assert not t.any()
        c2 = ctorch.ones((2, 5), dtype=cd)
        t2 = torch.from_dlpack(c2)
        assert t2.dtype == td and t2.data_ptr() == c2.data_ptr()
        t2.zero_()
        assert not any(c2.reshape(-1).tolist())
    # non-contiguous views keep their strides
    t = torch.arange(12.0).reshape(3, 4).t()
    c = ctorch.from_dlpack(t)
    assert c.stride() == t.stride() and c.tolist() == t.tolist()
    t3 = torch.from_dlpack(ctorch.from_numpy(np.arange(12.0).reshape(3, 4).T))
    assert t3.stride() == (1, 4)


def test_dlpack_capsule_and_lifetime():
    c = ctorch.tensor([1.0, 2.0, 3.0])
    cap = c.__dlpack__()
    del c
    gc.collect()
    r = ctorch.from_dlpack(cap)
    assert r.tolist() == [1.0, 2.0, 3.0]
    same_exception(lambda: ctorch.from_dlpack(cap), lambda: torch.from_dlpack(cap))
    capv = ctorch.tensor([4, 5]).__dlpack__(max_version=(1, 0))
    assert ctorch.from_dlpack(capv).tolist() == [4, 5]
    # an exported tensor outlives the ctorch tensor inside torch
    c = ctorch.tensor([7.0, 8.0])
    t = torch.from_dlpack(c)
    del c
    gc.collect()
    assert t.tolist() == [7.0, 8.0]
    # and a torch tensor imported into ctorch outlives the torch tensor
    t = torch.tensor([1, 2, 3])
    c = ctorch.from_dlpack(t)
    del t
    gc.collect()
    assert c.tolist() == [1, 2, 3]
    a = np.arange(4.0)
    c = ctorch.from_dlpack(a)
    del a
    gc.collect()
    assert c.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_dlpack_errors():
    same_exception(lambda: ctorch.from_dlpack([1]), lambda: torch.from_dlpack([1]))
    same_exception(lambda: ctorch.from_dlpack(object()), lambda: torch.from_dlpack(object()))
    same_exception(lambda: ctorch.ones(2, requires_grad=True).__dlpack__(),
                   lambda: torch.ones(2, requires_grad=True).__dlpack__())
    same_exception(lambda: ctorch.ones(2).__dlpack__(1), lambda: torch.ones(2).__dlpack__(1))
    same_exception(lambda: ctorch.ones(2).__dlpack__(stream=3), lambda: torch.ones(2).__dlpack__(stream=3))
    same_exception(lambda: ctorch.ones(2).__dlpack__(stream="x"), lambda: torch.ones(2).__dlpack__(stream="x"))
    assert ctorch.ones(2).__dlpack__(stream=None) is not None
    assert ctorch.ones(2).__dlpack__(stream=-1) is not None
    with pytest.raises(BufferError):
        ctorch.ones(2).__dlpack__(dl_device=(2, 0))
    with pytest.raises(TypeError):
        ctorch.ones(2).__dlpack__(max_version="x")
    with pytest.raises(RuntimeError):  # uint16 is not a ctorch dtype
        ctorch.from_dlpack(np.ones(2, dtype=np.uint16))


def test_dlpack_copy():
    c = ctorch.tensor([1.0, 2.0])
    t = torch.from_dlpack(c.__dlpack__(copy=True))
    t.zero_()
    assert c.tolist() == [1.0, 2.0]
    a = np.arange(3.0)
    c = ctorch.from_dlpack(a, copy=True)
    c.fill_(0)
    assert a.tolist() == [0.0, 1.0, 2.0]


# ------------------------------------------------------------------ legacy types

LEGACY = ["BoolTensor", "ByteTensor", "CharTensor", "ShortTensor", "IntTensor", "LongTensor", "HalfTensor",
          "BFloat16Tensor", "FloatTensor", "DoubleTensor"]


@pytest.mark.parametrize("name", LEGACY)
def test_legacy_constructors(name):
    C, T = getattr(ctorch, name), getattr(torch, name)
    assert str(C.dtype) == str(T.dtype)
    for args in [(), (2, 3), (0,), ([1, 0, 1],), ((2, 3),), ([[1, 2], [3, 0]],)]:
        c, t = C(*args), T(*args)
        assert c.dtype == C.dtype and tuple(c.shape) == tuple(t.shape)
        if args and not isinstance(args[0], int):
            assert c.tolist() == t.tolist()
    assert tuple(C(ctorch.Size([2, 4])).shape) == tuple(T(torch.Size([2, 4])).shape)
    assert isinstance(ctorch.ones(2, dtype=C.dtype), C)
    assert isinstance(torch.ones(2, dtype=T.dtype), T)
    other = ctorch.float64 if C.dtype != ctorch.float64 else ctorch.float32
    assert not isinstance(ctorch.ones(2, dtype=other), C)
    assert not isinstance([1], C)
    assert issubclass(C, ctorch.Tensor) == issubclass(T, torch.Tensor)


def test_legacy_misc():
    assert isinstance(ctorch.ones(2), ctorch.FloatTensor)
    assert not isinstance(ctorch.ones(2), ctorch.DoubleTensor)
    assert ctorch.LongTensor([1.5]).tolist() == torch.LongTensor([1.5]).tolist()
    src = ctorch.ones(3)
    same = ctorch.FloatTensor(src)
    same.fill_(2)
    assert src.tolist() == [2.0, 2.0, 2.0]
    same_exception(lambda: ctorch.FloatTensor(ctorch.ones(2, dtype=ctorch.int64)),
                   lambda: torch.FloatTensor(torch.ones(2, dtype=torch.int64)))
    same_exception(lambda: ctorch.FloatTensor(2, "x"), lambda: torch.FloatTensor(2, "x"))
    for bad in [2.5, True, "ab", None]:
        same_exception(lambda: ctorch.FloatTensor(bad), lambda: torch.FloatTensor(bad))
    same_exception(lambda: ctorch.FloatTensor([1], device="cuda"), lambda: torch.FloatTensor([1], device="cuda"))
    assert repr(ctorch.FloatTensor([1, 2])) == repr(torch.FloatTensor([1, 2]))


def test_tensor_type():
    for cd, td in [(ctorch.float32, torch.float32), (ctorch.int64, torch.int64), (ctorch.bool, torch.bool),
                   (ctorch.bfloat16, torch.bfloat16), (ctorch.uint8, torch.uint8), (ctorch.int8, torch.int8)]:
        assert ctorch.ones(2, dtype=cd).type() == torch.ones(2, dtype=td).type()
    c, t = ctorch.tensor([1.5, -2.5]), torch.tensor([1.5, -2.5])
    for spec_c, spec_t in [(ctorch.float64, torch.float64), ("torch.IntTensor", "torch.IntTensor"),
                           (ctorch.DoubleTensor, torch.DoubleTensor), (ctorch.int64, torch.int64)]:
        rc, rt = c.type(spec_c), t.type(spec_t)
        assert repr(rc) == repr(rt)
    assert c.type(ctorch.float32) is c
    assert c.type("torch.FloatTensor") is c
    assert repr(c.type(dtype=ctorch.float64, non_blocking=True)) == repr(t.type(dtype=torch.float64,
                                                                              non_blocking=True))
    same_exception(lambda: c.type("foo"), lambda: t.type("foo"))
    same_exception(lambda: c.type(5), lambda: t.type(5))


def test_tensor_and_as_tensor_ndarray_errors_match_torch():
    for bad in [np.arange(4)[::-1], np.arange(4, dtype=">i4"), np.array(["a"]), np.array([None])]:
        same_exception(lambda: ctorch.tensor(bad), lambda: torch.tensor(bad))
        same_exception(lambda: ctorch.as_tensor(bad), lambda: torch.as_tensor(bad))
    ro = np.arange(3.0)
    ro.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ctorch.tensor(ro).tolist() == [0.0, 1.0, 2.0]  # copies: no warning, as torch
    for dt in NP_DTYPES:
        arr = np.ones((2, 2), dtype=dt)
        c, t = ctorch.tensor(arr), torch.tensor(arr)
        assert str(c.dtype) == str(t.dtype) and c.tolist() == t.tolist()


def test_numpy_of_strided_views_shares_memory():
    for lib in (ctorch, torch):
        x = lib.arange(12.0).reshape(3, 4)
        for v in (x[:, 1], x[::2, ::3], x.t()[1], x[1:, 2:]):
            a = v.numpy()
            assert a.shape == tuple(v.shape) and a.tolist() == v.tolist()
        a = x[:, 1].numpy()
        a[0] = -1.0
        assert x[0, 1].item() == -1.0
