"""Shared test helpers: run the same function in ctorch and torch and compare values,
dtypes, shapes and exception classes."""
import numpy as np
import torch

import ctorch

DTYPES = {
    "bool": (ctorch.bool, torch.bool), "uint8": (ctorch.uint8, torch.uint8), "int8": (ctorch.int8, torch.int8),
    "int16": (ctorch.int16, torch.int16), "int32": (ctorch.int32, torch.int32), "int64": (ctorch.int64, torch.int64),
    "float16": (ctorch.float16, torch.float16), "bfloat16": (ctorch.bfloat16, torch.bfloat16),
    "float32": (ctorch.float32, torch.float32), "float64": (ctorch.float64, torch.float64),
}
FLOAT_DTYPES = ["float32", "float64", "float16", "bfloat16"]
INT_DTYPES = ["uint8", "int8", "int16", "int32", "int64"]
ALL_DTYPES = ["bool"] + INT_DTYPES + FLOAT_DTYPES

TOL = {"float16": (1e-2, 1e-2), "bfloat16": (2e-2, 2e-2), "float32": (1e-5, 1e-5), "float64": (1e-10, 1e-10)}


def to_torch(x):
    """ctorch value -> torch value (tensors copied via numpy-free lists where needed)."""
    if isinstance(x, ctorch.Tensor):
        name = str(x.dtype).split(".")[1]
        t = torch.tensor(x.tolist(), dtype=DTYPES[name][1]) if x.dim() else torch.tensor(x.item(), dtype=DTYPES[name][1])
        return t.reshape(tuple(x.shape))
    if isinstance(x, (list, tuple)):
        return type(x)(to_torch(v) for v in x)
    if isinstance(x, dict):
        return {k: to_torch(v) for k, v in x.items()}
    if x in DTYPES_C2T:
        return DTYPES_C2T[x]
    return x


DTYPES_C2T = {c: t for c, t in DTYPES.values()}


def make_pair(shape, dtype="float32", low=-3, high=3, noncontig=False, seed=None):
    """The same random values as a (ctorch, torch) pair; noncontig gives a transposed view."""
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        arr = rng.integers(0, 2, size=shape).astype(np.bool_)
    elif dtype in INT_DTYPES:
        lo = 0 if dtype == "uint8" else low
        arr = rng.integers(lo, high + 1, size=shape).astype(dtype)
    else:
        arr = rng.uniform(low, high, size=shape).astype(np.float64)
    tt = torch.tensor(arr).to(DTYPES[dtype][1])
    src = tt.float().numpy() if dtype in ("float16", "bfloat16") else tt.numpy()
    ct = ctorch.tensor(src, dtype=DTYPES[dtype][0])
    if noncontig and len(shape) >= 2:
        tt = tt.transpose(0, 1).contiguous().transpose(0, 1)
        ct = ct.transpose(0, 1).contiguous().transpose(0, 1) if hasattr(ct, "transpose") else ct
    elif noncontig and len(shape) == 1 and hasattr(ct, "select"):
        # every other element of a (n, 2) tensor: a 1-D view with stride 2
        tt = torch.stack([tt, tt], 1).select(1, 0)
        ct = ctorch.stack([ct, ct], 1).select(1, 0)
    return ct, tt


def assert_same(c, t, rtol=None, atol=None, check_dtype=True, zero_sign=False):
    """Compare a ctorch result with a torch result: type, shape, dtype and values
    (zero_sign: also the sign of zeros, -0.0 vs 0.0)."""
    if isinstance(t, torch.Tensor):
        assert isinstance(c, ctorch.Tensor), "expected a Tensor, got %r" % type(c)
        assert tuple(c.shape) == tuple(t.shape), "shape %s vs torch %s" % (tuple(c.shape), tuple(t.shape))
        cname = str(c.dtype).split(".")[1]
        tname = str(t.dtype).split(".")[1]
        if check_dtype:
            assert cname == tname, "dtype %s vs torch %s" % (cname, tname)
        r, a = TOL.get(tname, (0, 0))
        r = rtol if rtol is not None else r
        a = atol if atol is not None else a
        cv = np.array(c.tolist(), dtype=np.float64).reshape(tuple(c.shape))
        tv = t.detach().double().numpy() if t.dtype != torch.bool else t.numpy().astype(np.float64)
        np.testing.assert_allclose(cv, tv, rtol=r, atol=a, equal_nan=True)
        if zero_sign:
            z = (cv == 0) & (tv == 0)
            assert (np.signbit(cv[z]) == np.signbit(tv[z])).all(), "signs of zeros differ: %s vs torch %s" % (cv, tv)
    elif isinstance(t, (tuple, list)):
        assert len(c) == len(t)
        for x, y in zip(c, t):
            assert_same(x, y, rtol, atol, check_dtype, zero_sign)
    elif isinstance(t, float):
        assert isinstance(c, float) or isinstance(c, int)
        np.testing.assert_allclose(c, t, rtol=rtol or 1e-6, atol=atol or 1e-6, equal_nan=True)
    else:
        assert c == t, "%r vs torch %r" % (c, t)


def check(fn, *args, rtol=None, atol=None, check_dtype=True, zero_sign=False, **kwargs):
    """Run fn(lib, *args) with lib = ctorch and torch (args given as (ctorch, torch) pairs or
    plain values); compare results, or compare exception classes when torch raises."""
    cargs = [a[0] if isinstance(a, tuple) and len(a) == 2 and isinstance(a[1], torch.Tensor) else a for a in args]
    targs = [a[1] if isinstance(a, tuple) and len(a) == 2 and isinstance(a[1], torch.Tensor) else a for a in args]
    try:
        tres = fn(torch, *targs, **kwargs)
    except Exception as e:  # torch raised: ctorch must raise the same class
        texc = type(e)
        try:
            cres = fn(ctorch, *cargs, **kwargs)
        except Exception as ce:
            assert isinstance(ce, texc) or issubclass(texc, type(ce)) and type(ce) is not Exception, \
                "ctorch raised %s(%s), torch raised %s(%s)" % (type(ce).__name__, ce, texc.__name__, e)
            return
        raise AssertionError("torch raised %s(%s) but ctorch returned %r" % (texc.__name__, e, cres))
    cres = fn(ctorch, *cargs, **kwargs)
    assert_same(cres, tres, rtol, atol, check_dtype, zero_sign)
    return cres, tres


def check_grad(fn, *shapes, dtype="float64", seed=0, rtol=1e-6, atol=1e-8, create_graph=False, low=-2, high=2,
               noncontig=False):
    """Run fn(lib, *inputs) in ctorch and torch with inputs requiring grad; compare the
    output and the gradients of sum(output * fixed random weights) w.r.t. every input.
    With create_graph, also compare second derivatives (gradient of the sum of the first
    gradients). noncontig: inputs of 2+ dims are transposed (non-contiguous) leaves."""
    import numpy as np
    rng = np.random.default_rng(seed)
    arrs = [rng.uniform(low, high, size=s) for s in shapes]
    if noncontig:
        def leaf(lib, a, dt):
            if a.ndim < 2:
                return lib.tensor(a, dtype=dt, requires_grad=True)
            return lib.tensor(np.ascontiguousarray(a.swapaxes(0, 1)), dtype=dt).transpose(0, 1).requires_grad_()
        cin = [leaf(ctorch, a, DTYPES[dtype][0]) for a in arrs]
        tin = [leaf(torch, a, DTYPES[dtype][1]) for a in arrs]
    else:
        cin = [ctorch.tensor(a, dtype=DTYPES[dtype][0], requires_grad=True) for a in arrs]
        tin = [torch.tensor(a, dtype=DTYPES[dtype][1], requires_grad=True) for a in arrs]
    cout = fn(ctorch, *cin)
    tout = fn(torch, *tin)
    assert_same(cout, tout, rtol, atol)
    wt = rng.uniform(-1, 1, size=tuple(tout.shape))
    cw = ctorch.tensor(wt, dtype=DTYPES[dtype][0])
    tw = torch.tensor(wt, dtype=DTYPES[dtype][1])
    cg = ctorch.autograd.grad((cout * cw), cin, grad_outputs=ctorch.ones(tuple(cout.shape), dtype=cout.dtype),
                              create_graph=create_graph, allow_unused=True)
    tg = torch.autograd.grad((tout * tw), tin, grad_outputs=torch.ones_like(tout), create_graph=create_graph,
                             allow_unused=True)
    for c, t in zip(cg, tg):
        if t is None:
            assert c is None
        else:
            assert_same(c, t, rtol, atol)
    if create_graph:
        pairs = [(c, t) for c, t in zip(cg, tg) if t is not None and t.requires_grad]
        if pairs:
            c, t = pairs[0]
            c2 = ctorch.autograd.grad(c * c, cin, grad_outputs=ctorch.ones(tuple(c.shape), dtype=c.dtype),
                                      allow_unused=True)
            t2 = torch.autograd.grad(t * t, tin, grad_outputs=torch.ones_like(t), allow_unused=True)
            for a, b in zip(c2, t2):
                if b is None:
                    assert a is None
                else:
                    assert_same(a, b, rtol, atol)
    return cout, tout


def train_mse_in_lockstep(tm, cm, x, y, cx, cy, lr, steps=20, rtol=1e-4):
    """SGD on an MSE loss, the torch model tm on (x, y) and the ctorch model cm on (cx, cy) side
    by side; the two losses must agree to rtol at every step."""
    topt = torch.optim.SGD(tm.parameters(), lr=lr)
    copt = ctorch.optim.SGD(cm.parameters(), lr=lr)
    for _ in range(steps):
        tl = ((tm(x) - y) ** 2).mean()
        topt.zero_grad()
        tl.backward()
        topt.step()
        d = cm(cx) - cy
        cl = (d * d).mean()
        copt.zero_grad()
        cl.backward()
        copt.step()
        assert abs(cl.item() - tl.item()) <= rtol * abs(tl.item())


def c_example(name, tmp_path):
    """Path of the C example program examples/c/<name>.c: built against the installed package's
    public headers and libctorch.so, as a C user would (a regular install), or the program meson
    built next to the extension (an editable install). $CTORCH_<NAME>_EXE overrides both."""
    import glob
    import os
    import shutil
    import subprocess
    import sysconfig
    exe = os.environ.get("CTORCH_%s_EXE" % name.upper())
    if exe:
        return exe
    pkg = os.path.dirname(ctorch.__file__)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    if os.path.isdir(os.path.join(pkg, "include")):
        cc = os.environ.get("CC") or sysconfig.get_config_var("CC").split()[0] or shutil.which("cc")
        exe = str(tmp_path / name)
        subprocess.run([cc, "-O1", "-I", os.path.join(pkg, "include"), os.path.join(root, "examples", "c", name + ".c"),
                        "-L", os.path.join(pkg, "lib"), "-lctorch", "-lm", "-Wl,-rpath," + os.path.join(pkg, "lib"),
                        "-o", exe], check=True)
        return exe
    cands = glob.glob(os.path.join(root, "build*", "**", "examples", "c", name), recursive=True)
    assert cands, "examples/c/%s was not built" % name
    return cands[0]
