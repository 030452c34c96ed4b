"""Writes a fuzzing corpus of real checkpoints (torch.save, ZIP and legacy, ctorch.save,
safetensors) into the directory given as argv[1]. Generated at test time: no binaries in git."""
import collections
import io
import os
import sys
import zipfile

import torch


def main(out):
    os.makedirs(out, exist_ok=True)
    x = torch.arange(12.0).reshape(3, 4)
    m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    m(torch.randn(4, 3)).sum().backward()
    opt.step()
    objs = {
        "tensor": {"w": torch.tensor([1.0, 2.0])},
        "views": {"x": x, "t": x.t(), "s": x[1:, 2:], "z": torch.tensor(3, dtype=torch.int16)},
        "state_dict": m.state_dict(),
        "optim": opt.state_dict(),
        "mixed": {"a": [1, 2.5, None, True, "s", (1, 2, 3, 4)], "b": b"xy", "d": torch.float16,
                  "p": torch.nn.Parameter(torch.ones(2)), "o": collections.OrderedDict(k=torch.zeros(1))},
        "dtypes": {str(d): torch.ones(2, dtype=d) for d in (torch.bool, torch.uint8, torch.int8, torch.int64,
                                                           torch.float64, torch.bfloat16, torch.float16)},
    }
    for name, obj in objs.items():
        b = io.BytesIO()
        torch.save(obj, b)
        open(os.path.join(out, name + ".pt"), "wb").write(b.getvalue())
        b = io.BytesIO()
        torch.save(obj, b, _use_new_zipfile_serialization=False)
        open(os.path.join(out, name + ".legacy.pt"), "wb").write(b.getvalue())
        # the bare pickle too (the fuzz target also feeds inputs as data.pkl)

        with zipfile.ZipFile(os.path.join(out, name + ".pt")) as z:
            pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
            open(os.path.join(out, name + ".pkl"), "wb").write(z.read(pkl))
    try:
        import safetensors.torch as st
        open(os.path.join(out, "st.safetensors"), "wb").write(
            st.save({"a": x.contiguous(), "b": torch.ones(2, dtype=torch.int64)}, metadata={"format": "pt"}))
    except ImportError:
        pass


if __name__ == "__main__":
    main(sys.argv[1])
