"""nn.functional: pooling family (C kernels behind thin wrappers)."""
__all__ = []
