"""ctorch.utils: data loading, hooks, tensorboard (imported on first use), safetensors."""
import importlib

from . import data, hooks  # noqa: F401


def __getattr__(name):
    if name in ("tensorboard",):
        return importlib.import_module("." + name, __name__)
    raise AttributeError("module 'ctorch.utils' has no attribute %r" % name)
