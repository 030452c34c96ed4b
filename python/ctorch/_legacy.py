"""Legacy typed-tensor classes (ctorch.FloatTensor, ...) and Tensor.type().

As in torch, `FloatTensor` is not a Tensor subclass: its metaclass makes
`isinstance(t, ctorch.FloatTensor)` true for any float32 CPU tensor, and calling it builds a
float32 tensor from sizes, a torch.Size, data, or another tensor of the same dtype.
"""
from . import _C

__all__ = ["BoolTensor", "ByteTensor", "CharTensor", "ShortTensor", "IntTensor", "LongTensor",
           "HalfTensor", "BFloat16Tensor", "FloatTensor", "DoubleTensor"]


class tensortype(type):
    """Metaclass of the legacy tensor types (torch.tensortype)."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, _C.Tensor) and obj.dtype == cls.dtype

    def __call__(cls, *args, device=None):
        from . import _device
        if device is not None and str(_device.device(device)) != "cpu":
            raise RuntimeError(f"legacy constructor expects device type: cpu but device type: {device} was passed")
        dtype = cls.dtype
        if not args:
            return _C._ns_torch.empty((0,), dtype=dtype)
        if len(args) == 1:
            a = args[0]
            if isinstance(a, _C.Tensor):
                if a.dtype != dtype:
                    raise TypeError(f"expected {cls.__name__} (dtype {dtype}) (got tensor with dtype {a.dtype})")
                return _C.Tensor(a)
            if isinstance(a, tuple) and type(a).__name__ == "Size":
                return _C._ns_torch.empty(tuple(a), dtype=dtype)
            if isinstance(a, (bool, float, complex, str, bytes)) or not hasattr(a, "__len__"):
                if not isinstance(a, int) or isinstance(a, bool):
                    raise TypeError(f"new(): data must be a sequence (got {type(a).__name__})")
            else:
                return _C.tensor(a, dtype=dtype)
        if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            return _C._ns_torch.empty(args, dtype=dtype)
        raise TypeError(f"new() received an invalid combination of arguments - got "
                        f"({', '.join(type(a).__name__ for a in args)})")

    def __repr__(cls):
        return f"<class 'torch.{cls.__name__}'>"


def _make(name, dtype):
    return tensortype(name, (), {"dtype": dtype, "is_cuda": False, "is_sparse": False, "__module__": "torch"})


BoolTensor = _make("BoolTensor", _C.bool)
ByteTensor = _make("ByteTensor", _C.uint8)
CharTensor = _make("CharTensor", _C.int8)
ShortTensor = _make("ShortTensor", _C.int16)
IntTensor = _make("IntTensor", _C.int32)
LongTensor = _make("LongTensor", _C.int64)
HalfTensor = _make("HalfTensor", _C.float16)
BFloat16Tensor = _make("BFloat16Tensor", _C.bfloat16)
FloatTensor = _make("FloatTensor", _C.float32)
DoubleTensor = _make("DoubleTensor", _C.float64)

_BY_DTYPE = {c.dtype: c for c in (BoolTensor, ByteTensor, CharTensor, ShortTensor, IntTensor, LongTensor,
                                  HalfTensor, BFloat16Tensor, FloatTensor, DoubleTensor)}
_BY_NAME = {"torch." + c.__name__: c for c in _BY_DTYPE.values()}


def _type(self, dtype=None, non_blocking=False, **kwargs):
    """Tensor.type(): the legacy type name, or a conversion to another type."""
    if dtype is None:
        return "torch." + _BY_DTYPE[self.dtype].__name__
    if isinstance(dtype, str):
        cls = _BY_NAME.get(dtype)
        if cls is None:
            if dtype.startswith("torch.cuda."):
                raise RuntimeError(f"type {dtype!r}: this build of ctorch supports only the 'cpu' device")
            raise ValueError(f"invalid type: {dtype!r}")
        target = cls.dtype
    elif isinstance(dtype, tensortype):
        target = dtype.dtype
    elif isinstance(dtype, _C.dtype):
        target = dtype
    else:
        raise TypeError("dtype must be a type, str, or dtype object")
    return _C._to_dtype(self, target)


_C.Tensor.type = _type
