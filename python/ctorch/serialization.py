"""ctorch.save / ctorch.load: PyTorch's checkpoint format (ZIP + pickle), read and written by C.

* Weights-only-compatible objects (dicts, OrderedDicts, lists, tuples, str, int, float, bool,
  None, bytes, sets, dtypes, devices, tensors, Parameters) are pickled by the C writer
  (src/serialize), byte-compatible with torch.save.
* Anything else (whole modules, optimizers, user classes) is pickled by Python's pickle with
  tensors as persistent storage references, in torch's layout, into the same C ZIP writer.
* load(weights_only=True) (the default) runs the C unpickler, which understands only an
  allow-list of globals (extend it with add_safe_globals / safe_globals) and never imports or
  calls anything named by the file. weights_only=False uses Python's Unpickler with torch.*
  globals mapped onto their ctorch.* equivalents.
"""
import collections
import io
import os
import pickle
import sys
import threading

from . import _C

__all__ = ["save", "load", "add_safe_globals", "get_safe_globals", "clear_safe_globals", "safe_globals",
           "DEFAULT_PROTOCOL"]

DEFAULT_PROTOCOL = 2

_lock = threading.Lock()
_safe = {}  # "module.qualname" -> object


def _setup():
    from .nn.parameter import Parameter
    from ._device import device
    _C._serialize_setup(Parameter, collections.OrderedDict, device)


_setup()


# ------------------------------------------------------------------ allow-list


def _global_name(obj):
    if isinstance(obj, tuple):
        if len(obj) != 2 or not isinstance(obj[1], str):
            raise TypeError("expected (object, 'module.name') tuples, got %r" % (obj,))
        return obj[1], obj[0]
    mod = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if mod is None or name is None:
        raise TypeError("cannot tell the module and name of %r; pass (obj, 'module.name')" % (obj,))
    return "%s.%s" % (mod, name), obj


def add_safe_globals(safe_globals):
    """Allow these globals (classes or functions, or (obj, "module.name") tuples) in
    weights_only loads. Only for files you trust to call them."""
    with _lock:
        for g in safe_globals:
            name, obj = _global_name(g)
            _safe[name] = obj


def get_safe_globals():
    with _lock:
        return list(_safe.values())


def clear_safe_globals():
    with _lock:
        _safe.clear()


class safe_globals:
    """Context manager: the given globals are allowed inside the block only."""

    def __init__(self, safe_globals):
        self.safe_globals = list(safe_globals)

    def __enter__(self):
        with _lock:
            self._saved = dict(_safe)
        add_safe_globals(self.safe_globals)

    def __exit__(self, *exc):
        with _lock:
            _safe.clear()
            _safe.update(self._saved)
        return False


# ------------------------------------------------------------------ save


def _path_of(f):
    if isinstance(f, (str, os.PathLike)):
        return os.fsdecode(os.fspath(f))
    return None


class _Global:
    """Stands for a GLOBAL opcode naming a torch object (written by name, never imported)."""
    __slots__ = ("module", "name")
    _cache = {}

    def __new__(cls, module, name):
        key = (module, name)
        g = cls._cache.get(key)
        if g is None:
            g = object.__new__(cls)
            g.module, g.name = module, name
            cls._cache[key] = g
        return g

    def __call__(self, *a):  # pickle insists that a reduce function be callable
        raise TypeError("%s.%s stands for a global in a pickle being written; it cannot be called"
                        % (self.module, self.name))


class _StorageRef:
    __slots__ = ("key", "cls", "numel")

    def __init__(self, key, cls, numel):
        self.key, self.cls, self.numel = key, cls, numel


_STORAGE_NAMES = {
    "bool": "BoolStorage", "uint8": "ByteStorage", "int8": "CharStorage", "int16": "ShortStorage",
    "int32": "IntStorage", "int64": "LongStorage", "float16": "HalfStorage", "bfloat16": "BFloat16Storage",
    "float32": "FloatStorage", "float64": "DoubleStorage",
}


def _dtype_name(dt):
    return str(dt).split(".")[-1]


class _TorchPickler(pickle._Pickler):
    """Python's pickler with tensors written as torch writes them: _rebuild_tensor_v2 of a
    persistent storage reference, so torch.load(weights_only=False) reads the result."""

    dispatch = pickle._Pickler.dispatch.copy()

    def __init__(self, file, protocol):
        super().__init__(file, protocol)
        self.storages = []   # (key, tensor whose storage is written whole)
        self._by_storage = {}  # storage address -> (key, dtype name)

    def _save_global_ref(self, obj):
        self.write(pickle.GLOBAL + obj.module.encode("ascii") + b"\n" + obj.name.encode("ascii") + b"\n")
        self.memoize(obj)

    dispatch[_Global] = _save_global_ref

    def persistent_id(self, obj):
        if type(obj) is _StorageRef:
            return ("storage", obj.cls, obj.key, "cpu", obj.numel)
        return None

    def _storage_of(self, t):
        """(key, copied): the storage record for t; copied when t is written as its own
        contiguous copy (its storage is already used with another dtype)."""
        addr, nbytes = _C._storage_info(t)
        dname = _dtype_name(t.dtype)
        got = self._by_storage.get(addr)
        if got is not None and got[1] == dname:
            return got[0], False
        key = str(len(self.storages))
        if got is not None or nbytes % t.element_size():
            self.storages.append((key, t.contiguous().clone()))
            return key, True
        self._by_storage[addr] = (key, dname)
        self.storages.append((key, t))
        return key, False

    def reducer_override(self, obj):
        from . import Tensor, Size
        from .nn.parameter import Parameter
        from ._device import device
        t = type(obj)
        if t is Parameter:
            return (_Global("torch._utils", "_rebuild_parameter"),
                    (obj.detach(), obj.requires_grad, collections.OrderedDict()))
        if t is Tensor:
            key, copied = self._storage_of(obj)
            if copied:
                base = self.storages[-1][1]
                size, stride, offset = tuple(base.shape), tuple(base.stride()), 0
                numel = base.numel()
            else:
                size, stride, offset = tuple(obj.shape), tuple(obj.stride()), obj.storage_offset()
                numel = _C._storage_info(obj)[1] // obj.element_size()
            ref = _StorageRef(key, _Global("torch", _STORAGE_NAMES[_dtype_name(obj.dtype)]), numel)
            return (_Global("torch._utils", "_rebuild_tensor_v2"),
                    (ref, offset, size, stride, obj.requires_grad, collections.OrderedDict()))
        if t is device:
            return (_Global("torch", "device"), (str(obj),))
        if t is Size:
            return (_Global("torch", "Size"), (tuple(obj),))
        return NotImplemented


def _save_dtype(self, obj):
    self.write(pickle.GLOBAL + b"torch\n" + _dtype_name(obj).encode("ascii") + b"\n")
    self.memoize(obj)


_TorchPickler.dispatch[_C.dtype] = _save_dtype


def _serialization_id():
    import random
    return "".join(random.choice("0123456789") for _ in range(40))


def _python_pickle_records(obj, protocol):
    buf = io.BytesIO()
    p = _TorchPickler(buf, protocol)
    p.dump(obj)
    records = [("data.pkl", buf.getvalue()), (".format_version", b"1"), (".storage_alignment", b"64"),
               ("byteorder", b"little")]
    for key, t in p.storages:
        records.append(("data/" + key, t))
    records.append(("version", b"3\n"))
    records.append((".data/serialization_id", _serialization_id().encode("ascii")))
    return records


def save(obj, f, pickle_module=pickle, pickle_protocol=DEFAULT_PROTOCOL, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Save obj to a path (atomically: temp file in the same directory, fsync, rename) or a
    writable binary file-like object, in torch.save's ZIP format."""
    if not _use_new_zipfile_serialization:
        raise NotImplementedError("ctorch.save writes only the ZIP format (_use_new_zipfile_serialization=True)")
    path = _path_of(f)
    if path is None and not hasattr(f, "write"):
        raise AttributeError("'%s' object has no attribute 'write'" % type(f).__name__)
    result = _C._save(obj, path)
    if result is NotImplemented:
        records = _python_pickle_records(obj, pickle_protocol)
        result = _C._zip_write(path, records)
    if path is None:
        f.write(result)
        if hasattr(f, "flush"):
            f.flush()


# ------------------------------------------------------------------ load


_GPU_KINDS = ("cuda", "mps", "xpu", "hpu", "meta", "mtia", "privateuseone")


def _default_restore(byte_tensor, location):
    """What a storage tagged with `location` becomes when nothing maps it elsewhere: CPU
    storages stay; other devices raise RuntimeError as torch does when they are unavailable."""
    kind = location.split(":")[0]
    if kind == "cpu":
        return byte_tensor
    if kind in _GPU_KINDS:
        raise RuntimeError("Attempting to deserialize object on a %s device but ctorch runs on the CPU only. Use "
                           "ctorch.load with map_location=torch.device('cpu') (or 'cpu', or a dict such as "
                           "{'%s': 'cpu'}) to map your storages to the CPU." % (kind.upper(), location))
    raise RuntimeError("don't know how to restore data location of torch.storage.UntypedStorage (tagged with %s)"
                       % location)


def _restore_location(map_location):
    """map_location as torch interprets it -> restore(byte_tensor, location) -> byte_tensor:
    None: every storage to the location it was saved from; str / device: all storages to it;
    dict: saved location -> new location (others unchanged); callable: fn(storage, location)
    gives the storage to use (an UntypedStorage), or None for the default."""
    from ._device import device

    def is_device(x):  # ctorch.device, or a real torch.device
        return isinstance(x, device) or (type(x).__name__ == "device" and hasattr(x, "type"))
    if map_location is None:
        return _default_restore
    if isinstance(map_location, str) or is_device(map_location):
        target = str(map_location)
        return lambda t, location: _default_restore(t, target)
    if isinstance(map_location, dict):
        mapping = {k: str(v) if is_device(v) else v for k, v in map_location.items()}
        return lambda t, location: _default_restore(t, mapping.get(location, location))
    from .storage import UntypedStorage

    def restore(t, location):
        result = map_location(UntypedStorage._wrap(t), location)
        if result is None:
            return _default_restore(t, location)
        if not isinstance(result, UntypedStorage):
            raise TypeError("map_location must return an UntypedStorage (or None), but got %s"
                            % type(result).__name__)
        return result._bytes
    return restore


def _source(f, mmap):
    """A path (str) or the file's bytes."""
    path = _path_of(f)
    if path is not None:
        return path
    if mmap:
        name = getattr(f, "name", None)
        if isinstance(name, (str, bytes)) and os.path.isfile(name):
            return os.fsdecode(name)
        raise ValueError("mmap=True requires a path or a file object opened from a file")
    if not hasattr(f, "read"):
        raise AttributeError("'%s' object has no attribute 'read'" % type(f).__name__)
    data = f.read()
    if isinstance(data, str):
        raise TypeError("ctorch.load needs a binary file")
    return bytes(data) if not isinstance(data, bytes) else data


def _is_zip(src):
    if isinstance(src, str):
        with open(src, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    return bytes(src[:4]) == b"PK\x03\x04"


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **pickle_load_args):
    """Load a checkpoint written by torch.save or ctorch.save (ZIP or legacy format).

    map_location as torch.load: None keeps each storage where the file says it was saved
    (a GPU location raises RuntimeError: ctorch runs on the CPU); a str or device sends every
    storage there ('cpu'); a dict maps saved locations to new ones ({'cuda:0': 'cpu'});
    a callable fn(storage, location) is called once per storage with an UntypedStorage
    holding its bytes and the saved location string, and returns the storage to use (or None
    for the default)."""
    restore = _restore_location(map_location)
    if weights_only is None:
        weights_only = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "0") not in ("1", "true", "True")
    if weights_only and pickle_module is not None and pickle_module is not pickle:
        raise RuntimeError("Can not safely load weights when explicit pickle_module is specified")
    src = _source(f, bool(mmap))
    if weights_only or not _is_zip(src):
        with _lock:
            allowed = dict(_safe)
        return _C._load(src, allowed, bool(mmap), restore)
    return _load_python(src, bool(mmap), pickle_module or pickle, pickle_load_args, restore)


# ---- weights_only=False: Python's Unpickler over the C archive reader


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _rebuild_tensor_v2(storage, storage_offset, size, stride, False, None)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    t = storage.resolve(None).as_strided(tuple(size), tuple(stride), storage_offset)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype, metadata=None):
    t = storage.resolve(dtype).as_strided(tuple(size), tuple(stride), storage_offset)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    from .nn.parameter import Parameter
    p = Parameter(data, requires_grad)
    if state:
        for k, v in (state.items() if isinstance(state, dict) else []):
            setattr(p, k, v)
    return p


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return _rebuild_parameter(data, requires_grad, backward_hooks, state)


def _rebuild_from_type_v2(func, new_type, args, state):
    return func(*args)


class _StorageType:
    def __init__(self, dtype):
        self.dtype = dtype


class _LazyStorage:
    def __init__(self, loader, key, dtype, location):
        self.loader, self.key, self.dtype, self.location = loader, key, dtype, location

    def resolve(self, dtype):
        return self.loader._storage(self.key, dtype or self.dtype, self.location)


_UTILS = {
    "_rebuild_tensor": _rebuild_tensor, "_rebuild_tensor_v2": _rebuild_tensor_v2,
    "_rebuild_tensor_v3": _rebuild_tensor_v3, "_rebuild_parameter": _rebuild_parameter,
    "_rebuild_parameter_with_state": _rebuild_parameter_with_state,
}


def _dtype_for_storage(name):
    from . import uint8
    if name == "UntypedStorage":
        return uint8
    for k, v in _STORAGE_NAMES.items():
        if v == name:
            return getattr(sys.modules["ctorch"], k)
    return None


class _CtorchUnpickler(pickle.Unpickler):
    def __init__(self, file, loader, **kw):
        super().__init__(file, **kw)
        self.loader = loader

    def find_class(self, module, name):
        import importlib
        ct = sys.modules["ctorch"]
        if module == "torch._utils" and name in _UTILS:
            return _UTILS[name]
        if module in ("torch._tensor", "torch.tensor") and name == "_rebuild_from_type_v2":
            return _rebuild_from_type_v2
        if module == "torch" or module.startswith("torch."):
            if module == "torch" and "Storage" in name:
                dt = _dtype_for_storage(name)
                if dt is None:
                    raise pickle.UnpicklingError("storage type torch.%s is not supported by ctorch" % name)
                return _StorageType(dt)
            if module == "torch" and name in ("Tensor", "Size", "device") or hasattr(ct, name) and module == "torch":
                return getattr(ct, name)
            target = "ctorch" + module[len("torch"):]
            try:
                mod = importlib.import_module(target)
                return getattr(mod, name)
            except (ImportError, AttributeError):
                pass
            for fallback in ("ctorch.nn", "ctorch"):
                mod = importlib.import_module(fallback)
                if hasattr(mod, name):
                    return getattr(mod, name)
            raise pickle.UnpicklingError("ctorch has no equivalent of %s.%s" % (module, name))
        return super().find_class(module, name)

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise pickle.UnpicklingError("unsupported persistent id %r" % (pid,))
        _, stype, key, location, _numel = pid
        dt = stype.dtype if isinstance(stype, _StorageType) else stype
        return _LazyStorage(self.loader, str(key), dt, str(location))


class _ZipLoader:
    def __init__(self, src, mmap, restore):
        self.handle = _C._zip_open(src)
        self.mmap = mmap
        self.restore = restore
        self.records = {}  # key -> byte tensor (after map_location)
        self.cache = {}

    def _storage(self, key, dtype, location):
        got = self.cache.get((key, dtype))
        if got is None:
            raw = self.records.get(key)
            if raw is None:
                from . import uint8
                raw = _C._zip_storage(self.handle, "data/" + key, uint8, self.mmap)
                raw = self.restore(raw, location)
                self.records[key] = raw
            got = _C._storage_view(raw, dtype)
            self.cache[(key, dtype)] = got
        return got


def _load_python(src, mmap, pickle_module, kw, restore=_default_restore):
    loader = _ZipLoader(src, mmap, restore)
    data = _C._zip_record(loader.handle, "data.pkl")
    if data is None:
        raise RuntimeError("[load] invalid checkpoint archive: no data.pkl record")
    kw.setdefault("encoding", "utf-8")
    up = _CtorchUnpickler(io.BytesIO(data), loader, **kw)
    return up.load()
