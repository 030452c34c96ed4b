"""ctorch.multiprocessing: the standard multiprocessing module, with tensors pickled
through shared memory (their bytes never go through the pipe)."""
import multiprocessing
from multiprocessing import *  # noqa: F401,F403

from .reductions import init_reductions

__all__ = list(multiprocessing.__all__)

init_reductions()
