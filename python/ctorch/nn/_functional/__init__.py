"""Pieces of nn.functional, one file per family."""
