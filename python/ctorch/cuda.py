"""ctorch.cuda: this build has no CUDA backend."""


def is_available():
    return False


def device_count():
    return 0


def manual_seed(seed):
    """Accepted for compatibility: there is no CUDA generator to seed."""


def manual_seed_all(seed):
    """Accepted for compatibility: there is no CUDA generator to seed."""
