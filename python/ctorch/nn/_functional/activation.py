"""nn.functional: activation family (C kernels behind thin wrappers)."""
__all__ = []
