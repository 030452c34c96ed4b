"""safetensors files, read and written by the C codec (src/serialize/safetensors.c).

API of `safetensors.torch`: save_file / load_file / save / load / safe_open. Files are
byte-identical to the `safetensors` package's output. Reading validates the whole header
first (offsets contiguous, sizes matching shapes and dtypes, no trailing bytes) and then
reads tensors lazily: safe_open maps the file and get_tensor copies only that tensor.
"""
import os

from .. import _C

__all__ = ["save_file", "load_file", "save", "load", "safe_open", "SafetensorError"]


class SafetensorError(RuntimeError):
    """A malformed or hostile safetensors file (also a RuntimeError)."""


def _open(src):
    try:
        return _C._st_open(src)
    except RuntimeError as e:
        if type(e) is RuntimeError:
            raise SafetensorError(str(e)) from None
        raise


def _flatten(tensors):
    if not isinstance(tensors, dict):
        raise ValueError("Expected a dict of [str, torch.Tensor] but received %s" % type(tensors).__name__)
    names, values = [], []
    for k, v in tensors.items():
        if not isinstance(k, str):
            raise ValueError("Expected a dict of [str, torch.Tensor] but received key %r" % (k,))
        if not isinstance(v, _C.Tensor):
            raise ValueError("Key `%s` is invalid, expected torch.Tensor but received %s" % (k, type(v)))
        names.append(k)
        values.append(v.detach())
    return names, values


def _check_metadata(metadata):
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        raise ValueError("metadata must be a dict of str to str")
    return metadata


def save(tensors, metadata=None):
    """The bytes of a safetensors file holding `tensors` (name -> tensor)."""
    names, values = _flatten(tensors)
    return _C._st_save(None, names, values, _check_metadata(metadata))


def save_file(tensors, filename, metadata=None):
    """Write `tensors` to filename (atomically: temp file, fsync, rename)."""
    names, values = _flatten(tensors)
    _C._st_save(os.fsdecode(os.fspath(filename)), names, values, _check_metadata(metadata))


def _check_device(device):
    d = str(device)
    if d.split(":")[0] != "cpu":
        raise RuntimeError("this build of ctorch supports only the 'cpu' device, got %r" % (device,))


def load(data):
    """Tensors of a safetensors file given as bytes."""
    h = _open(bytes(data))
    return {name: _C._st_get(h, name, False) for name in sorted(e[0] for e in _C._st_entries(h))}


def load_file(filename, device="cpu"):
    """All tensors of a file (name -> tensor)."""
    _check_device(device)
    with safe_open(filename, framework="pt", device=device) as f:
        return {k: f.get_tensor(k) for k in f.keys()}


class safe_open:
    """Lazy reader: `with safe_open(path, framework="pt") as f: f.get_tensor(name)`."""

    def __init__(self, filename, framework="pt", device="cpu"):
        if framework not in ("pt", "pytorch", "torch", "np", "numpy"):
            raise ValueError("framework %r is not supported by ctorch" % (framework,))
        _check_device(device)
        self._h = _open(os.fsdecode(os.fspath(filename)))
        self._entries = {e[0]: e for e in _C._st_entries(self._h)}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._h = None
        return False

    def keys(self):
        return sorted(self._entries)

    def offset_keys(self):
        return [e[0] for e in sorted(self._entries.values(), key=lambda e: e[3][0])]

    def metadata(self):
        return _C._st_metadata(self._h)

    def get_tensor(self, name):
        if self._h is None:
            raise SafetensorError("File is closed")
        if name not in self._entries:
            raise SafetensorError("File does not contain tensor %s" % name)
        return _C._st_get(self._h, name, False)
