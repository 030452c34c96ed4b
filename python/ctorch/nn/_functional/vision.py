"""nn.functional: vision family (C kernels behind thin wrappers)."""
__all__ = []
