"""ctorch.nn: modules, parameters, containers, functional, init."""
from . import functional, init, modules, utils  # noqa: F401
from .modules import *  # noqa: F401,F403
from .modules.module import Module  # noqa: F401
from .parameter import Buffer, Parameter  # noqa: F401
