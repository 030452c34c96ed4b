"""CompactList: a read-only list stored in a few flat buffers instead of millions of Python objects.

Why: DataLoader workers are forked, so they share the parent's memory copy-on-write. In CPython
every *read* of a Python object writes its reference count, so a worker that walks a dataset
holding a list of millions of small objects (file names, labels, captions, ...) dirties every
page those objects live on and ends up with a private copy of all of them -- N workers, N copies
(the "copy-on-read" problem). A CompactList keeps the items in one `bytes` blob plus an offsets
`array`, i.e. three Python objects whatever the length: reading item i creates a fresh object from
the buffers and writes nothing into the shared pages, so the workers' memory stays flat.

Items are stored by kind, chosen from the types in the list:
  * all int (fitting int64)   -> array('q'), items come back as int
  * all float                 -> array('d'), items come back as float
  * all bool                  -> bytes of 0/1, items come back as bool
  * all str                   -> UTF-8 blob + offsets, items come back as str
  * all bytes                 -> blob + offsets, items come back as bytes
  * anything else (tuples, dicts, numpy arrays, mixed) -> one pickle per item in the blob, unpickled
    on access (equal values, new objects).
"""
import pickle
from array import array
from itertools import accumulate

__all__ = ["CompactList"]

def _offsets(lengths):
    off = array("q", [0])
    off.extend(accumulate(lengths))
    return off


class CompactList:
    """A read-only sequence packed into flat buffers (see the module docstring).

    Use it for large lists that a Dataset holds, so that forked DataLoader workers don't copy
    them page by page: ``self.files = CompactList(files)``. Supports len(), indexing (negative
    indices too), slicing (returns a list), iteration, ``tolist()`` and pickling."""

    __slots__ = ("_kind", "_data", "_offsets", "_len")

    def __init__(self, items):
        items = items if isinstance(items, (list, tuple)) else list(items)
        n = len(items)
        types = set(map(type, items))
        kind = "pickle"
        if types == {int}:
            try:
                data = array("q", items)
                kind = "int"
            except OverflowError:
                pass
        elif types == {float}:
            data, kind = array("d", items), "float"
        elif types == {bool}:
            data, kind = bytes(items), "bool"
        elif types == {str}:
            enc = list(map(str.encode, items))
            data, kind = b"".join(enc), "str"
            self._offsets = _offsets(map(len, enc))
        elif types == {bytes}:
            data, kind = b"".join(items), "bytes"
            self._offsets = _offsets(map(len, items))
        elif not types:
            data, kind = array("q"), "int"
        if kind == "pickle":
            dumps = pickle.dumps
            enc = [dumps(x, protocol=pickle.HIGHEST_PROTOCOL) for x in items]
            data = b"".join(enc)
            self._offsets = _offsets(map(len, enc))
        self._kind = kind
        self._data = data
        self._len = n

    def __len__(self):
        return self._len

    def _item(self, i):
        kind = self._kind
        if kind == "int" or kind == "float":
            return self._data[i]
        if kind == "bool":
            return self._data[i] != 0
        off = self._offsets
        a, b = off[i], off[i + 1]
        if kind == "str":
            return self._data[a:b].decode("utf-8")
        if kind == "bytes":
            return self._data[a:b]
        return pickle.loads(memoryview(self._data)[a:b])

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(self._len))]
        try:
            i = index.__index__()
        except AttributeError:
            raise TypeError("CompactList indices must be integers or slices, not %s" % type(index).__name__) from None
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError("CompactList index out of range")
        return self._item(i)

    def __iter__(self):
        for i in range(self._len):
            yield self._item(i)

    def tolist(self):
        return [self._item(i) for i in range(self._len)]

    @property
    def nbytes(self):
        """Bytes held by the buffers (data and offsets)."""
        n = len(self._data) * (self._data.itemsize if isinstance(self._data, array) else 1)
        if self._kind in ("str", "bytes", "pickle"):
            n += len(self._offsets) * self._offsets.itemsize
        return n

    def __reduce__(self):
        return (_rebuild, (self._kind, self._data, getattr(self, "_offsets", None), self._len))

    def __repr__(self):
        return "CompactList(len=%d, kind=%s, nbytes=%d)" % (self._len, self._kind, self.nbytes)


def _rebuild(kind, data, offsets, n):
    obj = CompactList.__new__(CompactList)
    obj._kind, obj._data, obj._len = kind, data, n
    if offsets is not None:
        obj._offsets = offsets
    return obj
