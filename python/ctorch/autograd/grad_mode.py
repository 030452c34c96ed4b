"""Grad-mode context managers, usable as decorators (state is thread-local in C)."""
import functools

from .. import _C


class _DecoratorContextManager:
    def __call__(self, fn):
        import inspect  # lazily: inspect (with ast, dis) costs milliseconds at `import ctorch`

        if inspect.isclass(fn):
            raise RuntimeError("cannot decorate a class with a grad-mode context manager")
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen(*args, **kwargs):
                with self.clone():
                    g = fn(*args, **kwargs)
                    resp = None
                    try:
                        while True:
                            resp = g.send(resp)
                            with _ExitTemporarily(self):
                                resp = yield resp
                    except StopIteration as e:
                        return e.value
            return gen

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.clone():
                return fn(*args, **kwargs)
        return wrapper

    def clone(self):
        return self.__class__()


class _ExitTemporarily:
    def __init__(self, cm):
        self.cm = cm

    def __enter__(self):
        self.prev = _C._set_grad_enabled(self.cm._outer)

    def __exit__(self, *exc):
        _C._set_grad_enabled(self.prev)


class no_grad(_DecoratorContextManager):
    """Disable gradient recording inside the block."""

    def __enter__(self):
        self._outer = _C._set_grad_enabled(False)

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._outer)


class enable_grad(_DecoratorContextManager):
    """Enable gradient recording inside the block."""

    def __enter__(self):
        self._outer = _C._set_grad_enabled(True)

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._outer)


class set_grad_enabled(_DecoratorContextManager):
    """Set grad mode: takes effect immediately (like torch), and as a context manager
    restores the previous mode on exit."""

    def __init__(self, mode):
        self.mode = bool(mode)
        self._outer = _C._set_grad_enabled(self.mode)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._outer)

    def clone(self):
        return self.__class__(self.mode)


class inference_mode(_DecoratorContextManager):
    """Like no_grad, and marks the thread as in inference mode."""

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __new__(cls, mode=True):
        if isinstance(mode, bool) or mode is None:
            return super().__new__(cls)
        return cls()(mode)  # used as a bare decorator

    def __enter__(self):
        self._outer_grad = _C._set_grad_enabled(not self.mode if self.mode else _C.is_grad_enabled())
        self._outer = _C._set_inference_mode(self.mode)

    def __exit__(self, *exc):
        _C._set_inference_mode(self._outer)
        _C._set_grad_enabled(self._outer_grad)

    def clone(self):
        return self.__class__(self.mode)


def is_grad_enabled():
    return _C.is_grad_enabled()


def is_inference_mode_enabled():
    return _C.is_inference_mode_enabled()
