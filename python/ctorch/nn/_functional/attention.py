"""nn.functional: attention family (C kernels behind thin wrappers)."""
__all__ = []
