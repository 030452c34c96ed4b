"""UntypedStorage: the raw bytes of a tensor storage, as map_location callables receive them.

ctorch keeps storages inside tensors; this class exists so that `ctorch.load(f,
map_location=fn)` can call `fn(storage, location)` as torch does, with an object that
supports what such callables use (`nbytes()`, `size()`, `device`, `cpu()`, `to()`, `clone()`,
`data_ptr()`, `tolist()`, indexing). It wraps a 1-D uint8 tensor over the storage's bytes."""

__all__ = ["UntypedStorage"]


class UntypedStorage:
    """Bytes of a CPU storage. UntypedStorage(n) makes n uninitialised bytes."""

    __slots__ = ("_bytes",)
    is_cuda = False
    is_sparse = False

    def __init__(self, size=0, *, device=None):
        import ctorch
        if device is not None and str(device).split(":")[0] != "cpu":
            raise RuntimeError("ctorch storages live on the CPU only, not on %s" % device)
        if isinstance(size, (list, tuple)):
            self._bytes = ctorch.tensor(list(size), dtype=ctorch.uint8)
        else:
            self._bytes = ctorch.empty(int(size), dtype=ctorch.uint8)

    @classmethod
    def _wrap(cls, byte_tensor):
        s = cls.__new__(cls)
        s._bytes = byte_tensor
        return s

    @property
    def device(self):
        import ctorch
        return ctorch.device("cpu")

    def nbytes(self):
        return self._bytes.numel()

    def size(self):
        return self._bytes.numel()

    def __len__(self):
        return self._bytes.numel()

    def element_size(self):
        return 1

    def data_ptr(self):
        return self._bytes.data_ptr()

    def cpu(self):
        return self

    def to(self, device=None, non_blocking=False):
        if device is not None and str(device).split(":")[0] != "cpu":
            raise RuntimeError("ctorch storages live on the CPU only, not on %s" % device)
        return self

    def cuda(self, device=None, non_blocking=False):
        raise RuntimeError("ctorch storages live on the CPU only; cuda() is not available")

    def clone(self):
        return UntypedStorage._wrap(self._bytes.clone())

    def copy_(self, src, non_blocking=False):
        if not isinstance(src, UntypedStorage) or src.nbytes() != self.nbytes():
            raise RuntimeError("copy_: expected an UntypedStorage of %d bytes" % self.nbytes())
        self._bytes.copy_(src._bytes)
        return self

    def fill_(self, value):
        self._bytes.fill_(value)
        return self

    def tolist(self):
        return self._bytes.tolist()

    def __getitem__(self, i):
        if isinstance(i, slice):
            return UntypedStorage._wrap(self._bytes[i])
        return int(self._bytes[i])

    def __setitem__(self, i, v):
        self._bytes[i] = v

    def __iter__(self):
        return iter(self.tolist())

    def __repr__(self):
        head = " " + "\n ".join(str(x) for x in self.tolist()) if self.nbytes() <= 20 else " ..."
        return "%s\n[ctorch.storage.UntypedStorage(device=cpu) of size %d]" % (head, self.nbytes())
