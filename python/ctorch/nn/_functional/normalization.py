"""nn.functional: normalization family (C kernels behind thin wrappers)."""
__all__ = []
