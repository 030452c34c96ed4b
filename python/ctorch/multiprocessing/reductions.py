"""Pickling of tensors for multiprocessing: the storage moves into shared memory and only
its name, dtype and geometry are pickled; the receiving process maps it (once)."""
from multiprocessing.reduction import ForkingPickler

from .. import _C


def rebuild_tensor(handle, requires_grad, cls):
    t = _C._tensor_from_shm(*handle)
    if cls is not _C.Tensor:
        t = _C.Tensor._make_subclass(cls, t, requires_grad)
    elif requires_grad:
        t.requires_grad_(True)
    return t


def reduce_tensor(t):
    if t.requires_grad and not t.is_leaf:
        raise RuntimeError("Cowardly refusing to serialize non-leaf tensor which requires_grad, since autograd does "
                           "not support crossing process boundaries.  If you just want to transfer the data, call "
                           "detach() on the tensor before serializing (e.g., putting it on the queue).")
    return (rebuild_tensor, (_C._shm_handle(t), t.requires_grad, type(t)))


_done = False


def init_reductions():
    global _done
    if _done:
        return
    ForkingPickler.register(_C.Tensor, reduce_tensor)
    from ..nn.parameter import Parameter
    ForkingPickler.register(Parameter, reduce_tensor)
    _done = True
