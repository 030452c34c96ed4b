"""RemovableHandle: what register_*_hook functions return."""
import itertools
import weakref


class RemovableHandle:
    """A handle whose remove() unregisters a hook; usable as a context manager."""

    _ids = itertools.count()

    def __init__(self, remover):
        self.id = next(RemovableHandle._ids)
        self._remover = remover

    def remove(self):
        if self._remover is not None:
            r, self._remover = self._remover, None
            r()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _tensor_hook_handle(tensor, hook_id):
    ref = weakref.ref(tensor)

    def remover():
        t = ref()
        if t is not None:
            t._remove_hook(hook_id)

    return RemovableHandle(remover)
