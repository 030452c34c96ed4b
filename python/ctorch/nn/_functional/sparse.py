"""nn.functional: sparse family (C kernels behind thin wrappers)."""
__all__ = []
