"""nn.functional: linear family (C kernels behind thin wrappers)."""
__all__ = []
