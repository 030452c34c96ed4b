"""ctorch.accelerator: no accelerator backend in this build."""


def is_available():
    return False


def device_count():
    return 0
