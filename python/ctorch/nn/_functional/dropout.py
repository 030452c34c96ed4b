"""nn.functional: dropout family (C kernels behind thin wrappers)."""
__all__ = []
