"""nn.functional: loss family (C kernels behind thin wrappers)."""
__all__ = []
