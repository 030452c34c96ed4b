"""Layer classes (file layout mirrors torch.nn.modules so qualified names match)."""
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential  # noqa: F401
from .module import Module  # noqa: F401
