"""default_collate / default_convert: turn a list of samples into a batch."""
import collections
import re

from .... import _C

np_str_obj_array_pattern = re.compile(r"[SaUO]")

default_collate_err_msg_format = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                                  "found {}")


def _torch():
    import ctorch
    return ctorch


def _is_ndarray(x):
    t = type(x)
    return t.__module__ == "numpy" and t.__name__ in ("ndarray", "memmap")


def _is_np_scalar(x):
    return type(x).__module__ == "numpy" and not _is_ndarray(x)


def default_convert(data):
    """Convert numpy arrays (and containers of them) to tensors; leave the rest."""
    t = _torch()
    elem_type = type(data)
    if isinstance(data, _C.Tensor):
        return data
    if _is_ndarray(data):
        if data.dtype.kind in "SaUO":
            return data
        return t.as_tensor(data)
    if _is_np_scalar(data):
        return t.as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        try:
            return elem_type({key: default_convert(data[key]) for key in data})
        except TypeError:
            return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return elem_type([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def _stack(batch):
    """Stack tensors along a new first dim; inside a worker, straight into shared memory."""
    t = _torch()
    from .worker import get_worker_info
    elem = batch[0]
    if get_worker_info() is not None:
        out = t.empty((len(batch),) + tuple(elem.shape), dtype=elem.dtype)
        out.share_memory_()
        try:
            return t.stack(batch, 0, out=out)
        except TypeError:
            out.copy_(t.stack(batch, 0))
            return out
    return t.stack(batch, 0)


def default_collate(batch):
    """Collate samples into a batch: tensors are stacked, numbers become tensors, containers
    are collated element-wise, strings are kept as lists."""
    t = _torch()
    elem = batch[0]
    elem_type = type(elem)
    if isinstance(elem, _C.Tensor):
        return _stack(batch)
    if _is_ndarray(elem):
        if np_str_obj_array_pattern.search(elem.dtype.str) is not None:
            raise TypeError(default_collate_err_msg_format.format(elem.dtype))
        return default_collate([t.as_tensor(b) for b in batch])
    if _is_np_scalar(elem) and getattr(elem, "shape", None) == ():
        return t.as_tensor(batch) if not hasattr(elem, "dtype") else t.as_tensor(__import__("numpy").array(batch))
    if isinstance(elem, float):
        return t.tensor(batch, dtype=t.float64)
    if isinstance(elem, int):
        return t.tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        try:
            return elem_type({key: default_collate([d[key] for d in batch]) for key in elem})
        except TypeError:
            return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return elem_type(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        it = iter(batch)
        elem_size = len(next(it))
        if not all(len(e) == elem_size for e in it):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):
            return [default_collate(samples) for samples in transposed]
        try:
            return elem_type([default_collate(samples) for samples in transposed])
        except TypeError:
            return [default_collate(samples) for samples in transposed]
    raise TypeError(default_collate_err_msg_format.format(elem_type))


collate = default_collate
