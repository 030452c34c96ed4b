"""ctorch.utils: data loading, hooks, tensorboard (imported on first use), safetensors."""
import importlib

from . import hooks  # noqa: F401


def __getattr__(name):
    # data (DataLoader: multiprocessing, dataclasses, inspect) is imported on first use: it
    # was about half of `import ctorch`.
    if name in ("data", "tensorboard"):
        return importlib.import_module("." + name, __name__)
    raise AttributeError("module 'ctorch.utils' has no attribute %r" % name)
