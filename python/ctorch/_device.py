"""ctorch.device: only the CPU exists; other device types raise a clear error when used."""


class device:
    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if isinstance(type, int) and not isinstance(type, bool):
            raise RuntimeError("Device %d is not available: this build of ctorch supports only the 'cpu' device" % type)
        if not isinstance(type, str):
            raise TypeError("device() received an invalid combination of arguments - got (%s)" % type.__class__.__name__)
        name, _, idx = type.partition(":")
        if idx:
            try:
                index = int(idx)
            except ValueError:
                raise RuntimeError("Invalid device string: '%s'" % type) from None
        if name not in ("cpu", "cuda", "mps", "xpu", "meta", "hip", "xla", "mkldnn", "opengl", "opencl",
                        "ideep", "vulkan", "ve", "ipu", "mtia", "hpu", "privateuseone"):
            raise RuntimeError("Expected one of cpu, cuda, mps, xpu, meta device type at start of device string: %s"
                               % type)
        self.type = name
        self.index = index

    def __repr__(self):
        if self.index is None:
            return "device(type='%s')" % self.type
        return "device(type='%s', index=%d)" % (self.type, self.index)

    def __str__(self):
        return self.type if self.index is None else "%s:%d" % (self.type, self.index)

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (self.type, self.index))
