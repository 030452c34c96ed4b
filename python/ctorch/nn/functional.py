"""ctorch.nn.functional: the functional forms of the layers (kernels in C)."""
from ._functional.activation import *  # noqa: F401,F403
from ._functional.attention import *  # noqa: F401,F403
from ._functional.conv import *  # noqa: F401,F403
from ._functional.dropout import *  # noqa: F401,F403
from ._functional.linear import *  # noqa: F401,F403
from ._functional.loss import *  # noqa: F401,F403
from ._functional.normalization import *  # noqa: F401,F403
from ._functional.pooling import *  # noqa: F401,F403
from ._functional.rnn import *  # noqa: F401,F403
from ._functional.sparse import *  # noqa: F401,F403
from ._functional.vision import *  # noqa: F401,F403
