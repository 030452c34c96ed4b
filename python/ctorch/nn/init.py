"""nn.init: parameter initialisation (filled in C through the random generator)."""
