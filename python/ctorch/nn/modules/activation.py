"""nn.modules.activation (file layout mirrors torch's so qualified names match)."""
import ctorch as _ct

from .. import functional as F
from ..parameter import Parameter
from .module import Module

__all__ = [
    "Threshold", "ReLU", "RReLU", "Hardtanh", "ReLU6", "Sigmoid", "Hardsigmoid", "Tanh", "SiLU", "Mish",
    "Hardswish", "ELU", "CELU", "SELU", "GLU", "GELU", "Hardshrink", "LeakyReLU", "LogSigmoid", "Softplus",
    "Softshrink", "PReLU", "Softsign", "Tanhshrink", "Softmin", "Softmax", "Softmax2d", "LogSoftmax",
]


def _inplace_str(inplace, first=False):
    if not inplace:
        return ""
    return "inplace=True" if first else ", inplace=True"


# Bodies several activation modules share verbatim in torch. They are plain functions bound as
# class attributes (not a common base class), so each class keeps torch's bases and signature.
def _inplace_init(self, inplace=False):
    Module.__init__(self)
    self.inplace = inplace


def _inplace_repr(self):
    return _inplace_str(self.inplace, True)


def _alpha_init(self, alpha=1.0, inplace=False):
    Module.__init__(self)
    self.alpha = alpha
    self.inplace = inplace


def _alpha_repr(self):
    return f"alpha={self.alpha}" + _inplace_str(self.inplace)


def _lambd_init(self, lambd=0.5):
    Module.__init__(self)
    self.lambd = lambd


def _lambd_repr(self):
    return str(self.lambd)


def _dim_init(self, dim=None):
    Module.__init__(self)
    self.dim = dim


def _dim_setstate(self, state):
    Module.__setstate__(self, state)
    if not hasattr(self, "dim"):
        self.dim = None


def _dim_repr(self):
    return f"dim={self.dim}"


class Threshold(Module):
    __constants__ = ["threshold", "value", "inplace"]

    def __init__(self, threshold, value, inplace=False):
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}" + _inplace_str(self.inplace)


class ReLU(Module):
    __constants__ = ["inplace"]

    __init__ = _inplace_init

    def forward(self, input):
        return F.relu(input, inplace=self.inplace)

    extra_repr = _inplace_repr


class RReLU(Module):
    __constants__ = ["lower", "upper", "inplace"]

    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, inplace=False):
        super().__init__()
        self.lower = lower
        self.upper = upper
        self.inplace = inplace

    def forward(self, input):
        return F.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}" + _inplace_str(self.inplace)


class Hardtanh(Module):
    __constants__ = ["min_val", "max_val", "inplace"]

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False, min_value=None, max_value=None):
        super().__init__()
        if min_value is not None:
            min_val = min_value
        if max_value is not None:
            max_val = max_value
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace
        assert self.max_val > self.min_val

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}" + _inplace_str(self.inplace)


class ReLU6(Hardtanh):
    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)

    extra_repr = _inplace_repr


class Sigmoid(Module):
    def forward(self, input):
        return F.sigmoid(input)


class Hardsigmoid(Module):
    __constants__ = ["inplace"]

    __init__ = _inplace_init

    def forward(self, input):
        return F.hardsigmoid(input, self.inplace)


class Tanh(Module):
    def forward(self, input):
        return F.tanh(input)


class SiLU(Module):
    __constants__ = ["inplace"]

    __init__ = _inplace_init

    def forward(self, input):
        return F.silu(input, inplace=self.inplace)

    extra_repr = _inplace_repr


class Mish(Module):
    __constants__ = ["inplace"]

    __init__ = _inplace_init

    def forward(self, input):
        return F.mish(input, inplace=self.inplace)

    extra_repr = _inplace_repr


class Hardswish(Module):
    __constants__ = ["inplace"]

    __init__ = _inplace_init

    def forward(self, input):
        return F.hardswish(input, self.inplace)


class ELU(Module):
    __constants__ = ["alpha", "inplace"]

    __init__ = _alpha_init

    def forward(self, input):
        return F.elu(input, self.alpha, self.inplace)

    extra_repr = _alpha_repr


class CELU(Module):
    __constants__ = ["alpha", "inplace"]

    __init__ = _alpha_init

    def forward(self, input):
        return F.celu(input, self.alpha, self.inplace)

    extra_repr = _alpha_repr


class SELU(Module):
    __constants__ = ["inplace"]

    __init__ = _inplace_init

    def forward(self, input):
        return F.selu(input, self.inplace)

    extra_repr = _inplace_repr


class GLU(Module):
    __constants__ = ["dim"]

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)

    extra_repr = _dim_repr


class GELU(Module):
    __constants__ = ["approximate"]

    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={repr(self.approximate)}"


class Hardshrink(Module):
    __constants__ = ["lambd"]

    __init__ = _lambd_init

    def forward(self, input):
        return F.hardshrink(input, self.lambd)

    extra_repr = _lambd_repr


class LeakyReLU(Module):
    __constants__ = ["inplace", "negative_slope"]

    def __init__(self, negative_slope=1e-2, inplace=False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}" + _inplace_str(self.inplace)


class LogSigmoid(Module):
    def forward(self, input):
        return F.logsigmoid(input)


class Softplus(Module):
    __constants__ = ["beta", "threshold"]

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Softshrink(Module):
    __constants__ = ["lambd"]

    __init__ = _lambd_init

    def forward(self, input):
        return F.softshrink(input, self.lambd)

    extra_repr = _lambd_repr


class PReLU(Module):
    __constants__ = ["num_parameters"]

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        self.num_parameters = num_parameters
        super().__init__()
        self.init = init
        self.weight = Parameter(_ct.empty((num_parameters,), dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self):
        with _ct.no_grad():
            self.weight.fill_(self.init)

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Softsign(Module):
    def forward(self, input):
        return F.softsign(input)


class Tanhshrink(Module):
    def forward(self, input):
        return F.tanhshrink(input)


class Softmin(Module):
    __constants__ = ["dim"]

    __init__ = _dim_init
    __setstate__ = _dim_setstate

    def forward(self, input):
        return F.softmin(input, self.dim, _stacklevel=5)

    extra_repr = _dim_repr


class Softmax(Module):
    __constants__ = ["dim"]

    __init__ = _dim_init
    __setstate__ = _dim_setstate

    def forward(self, input):
        return F.softmax(input, self.dim, _stacklevel=5)

    extra_repr = _dim_repr


class Softmax2d(Module):
    def forward(self, input):
        if input.dim() not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.dim()}D instead")
        return F.softmax(input, -3, _stacklevel=5)


class LogSoftmax(Module):
    __constants__ = ["dim"]

    __init__ = _dim_init
    __setstate__ = _dim_setstate

    def forward(self, input):
        return F.log_softmax(input, self.dim, _stacklevel=5)
    extra_repr = _dim_repr
