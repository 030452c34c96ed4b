"""nn.modules.flatten (file layout mirrors torch's so qualified names match)."""
from .module import Module  # noqa: F401

__all__ = []
