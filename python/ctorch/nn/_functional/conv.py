"""nn.functional: conv family (C kernels behind thin wrappers)."""
__all__ = []
