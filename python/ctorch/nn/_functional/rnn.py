"""nn.functional: rnn family (C kernels behind thin wrappers)."""
__all__ = []
