"""ctorch.utils.tensorboard: SummaryWriter writing TensorBoard event files (the format code
is C: TFRecord framing, CRC-32C, protobuf, PNG)."""
from .writer import SummaryWriter  # noqa: F401
