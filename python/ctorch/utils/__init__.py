"""ctorch.utils."""
