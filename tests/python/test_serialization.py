"""ctorch.save / ctorch.load against real torch 2.13: round trips both ways, the byte-exact
worked example of FORMATS.md 2.9, hostile files (malicious pickles, damaged archives),
atomic save under kill, mmap loads."""
import collections
import io
import os
import pickle
import random
import signal
import struct
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import torch

import ctorch
from helpers import ALL_DTYPES, DTYPES, c_example


def t2c(obj, **kw):
    b = io.BytesIO()
    torch.save(obj, b)
    return ctorch.load(io.BytesIO(b.getvalue()), **kw)


def c2t(obj, **kw):
    b = io.BytesIO()
    ctorch.save(obj, b)
    kw.setdefault("weights_only", True)
    return torch.load(io.BytesIO(b.getvalue()), **kw)


def ct_bytes(obj):
    b = io.BytesIO()
    ctorch.save(obj, b)
    return b.getvalue()


def same(c, t):
    """ctorch tensor c equals torch tensor t in dtype, shape, strides, offset and values."""
    assert str(c.dtype) == str(t.dtype)
    assert tuple(c.shape) == tuple(t.shape)
    assert tuple(c.stride()) == tuple(t.stride())
    assert c.storage_offset() == t.storage_offset()
    vals = c.float().tolist() if c.dtype == ctorch.bfloat16 else c.tolist()
    ct = torch.tensor(vals, dtype=torch.float64).reshape(tuple(c.shape))
    assert torch.equal(ct, t.double())


def tdata(dt, shape=(2, 3)):
    n = int(np.prod(shape))
    return (torch.arange(n) - 2).reshape(shape).to(DTYPES[dt][1])


def cdata(dt, shape=(2, 3)):
    n = int(np.prod(shape))
    return (ctorch.arange(n) - 2).reshape(shape).to(DTYPES[dt][0])


# ------------------------------------------------------------------ torch -> ctorch


@pytest.mark.parametrize("dt", ALL_DTYPES)
def test_torch_to_ctorch_dtypes(dt):
    x = tdata(dt, (3, 4))
    obj = {"x": x, "t": x.t(), "row": x[1], "cols": x[:, 1:3], "step": x[::2, ::3], "scalar": x[1, 2].clone(),
           "empty": torch.zeros(0, 3, dtype=x.dtype)}
    r = t2c(obj)
    for k in obj:
        same(r[k], obj[k])
    # views of one storage stay one storage
    assert r["x"].data_ptr() == r["t"].data_ptr()
    r["x"][0, 0] = 1
    assert r["t"][0, 0].item() == 1


def test_torch_to_ctorch_sharing_and_params():
    w = torch.nn.Parameter(torch.randn(3, 2))
    base = torch.arange(10.0)
    obj = {"p": w, "frozen": torch.nn.Parameter(torch.ones(2), requires_grad=False), "a": base, "b": base[3:7],
           "tied": [base, base], "rg": torch.ones(2, requires_grad=True)}
    r = t2c(obj)
    assert isinstance(r["p"], ctorch.nn.Parameter) and r["p"].requires_grad
    assert isinstance(r["frozen"], ctorch.nn.Parameter) and not r["frozen"].requires_grad
    assert r["rg"].requires_grad and not isinstance(r["rg"], ctorch.nn.Parameter)
    assert r["b"].storage_offset() == 3 and r["b"].tolist() == [3.0, 4.0, 5.0, 6.0]
    assert r["tied"][0] is r["tied"][1] is r["a"]
    r["a"][4] = 100
    assert r["b"][1].item() == 100


def test_torch_to_ctorch_nested_and_state_dicts():
    m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    sd = m.state_dict()
    r = t2c(sd)
    assert isinstance(r, collections.OrderedDict) and list(r) == list(sd)
    assert r._metadata == sd._metadata
    for k in sd:
        same(r[k], sd[k])
    obj = {"model": sd, "epoch": 7, "lr": 0.5, "name": "run", "flags": (True, False, None),
           "hist": [1.5, -2, 2**40, -(2**40)], "nested": {"a": {"b": [{"c": ()}]}}, "big": list(range(1500)),
           "d": {i: str(i) for i in range(1200)}, "bytes": b"\x00\xffab", "dtype": torch.float16,
           "dev": torch.device("cpu"), "size": torch.Size([2, 3]), "set": {1, 2, 3}}
    r = t2c(obj)
    assert r["epoch"] == 7 and r["lr"] == 0.5 and r["name"] == "run" and r["flags"] == (True, False, None)
    assert r["hist"] == obj["hist"] and r["nested"] == obj["nested"] and r["big"] == obj["big"]
    assert r["d"] == obj["d"] and r["bytes"] == obj["bytes"] and r["dtype"] is ctorch.float16
    assert str(r["dev"]) == "cpu" and tuple(r["size"]) == (2, 3) and r["set"] == {1, 2, 3}


def test_torch_to_ctorch_optimizer_state():
    m = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m(torch.randn(4, 3)).sum().backward()
    opt.step()
    sd = opt.state_dict()
    r = t2c(sd)
    assert r["param_groups"][0]["params"] == [0, 1]
    assert r["param_groups"][0]["betas"] == (0.9, 0.999)
    for i in (0, 1):
        for k in ("step", "exp_avg", "exp_avg_sq"):
            same(r["state"][i][k], sd["state"][i][k])


def test_torch_whole_model_weights_only_false():
    tm = torch.nn.Sequential(torch.nn.ParameterList([torch.nn.Parameter(torch.ones(2))]))
    b = io.BytesIO()
    torch.save(tm, b)
    cm = ctorch.load(io.BytesIO(b.getvalue()), weights_only=False)
    assert type(cm) is ctorch.nn.Sequential
    assert [p.tolist() for p in cm.parameters()] == [[1.0, 1.0]]
    # weights_only=True refuses the module class by name
    with pytest.raises(pickle.UnpicklingError, match="torch.nn.modules.container.Sequential"):
        ctorch.load(io.BytesIO(b.getvalue()))


def test_torch_legacy_format():
    x = torch.arange(10.0)
    obj = {"a": x, "b": x[2:5], "c": [1, "z", 2.5], "i": torch.tensor([1, 2], dtype=torch.int16)}
    b = io.BytesIO()
    torch.save(obj, b, _use_new_zipfile_serialization=False)
    r = ctorch.load(io.BytesIO(b.getvalue()))
    assert r["a"].tolist() == x.tolist() and r["b"].tolist() == [2.0, 3.0, 4.0] and r["c"] == [1, "z", 2.5]
    assert r["i"].dtype == ctorch.int16
    r["a"][3] = -1
    assert r["b"][1].item() == -1


def test_torch_files_paths_and_prefixes(tmp_path):
    p = tmp_path / "model.pt"
    torch.save({"w": torch.ones(3)}, p)
    assert zipfile.ZipFile(p).namelist()[0].startswith("model/")
    assert ctorch.load(p)["w"].tolist() == [1.0, 1.0, 1.0]
    assert ctorch.load(str(p), map_location="cpu")["w"].sum().item() == 3
    assert ctorch.load(open(p, "rb"), map_location=ctorch.device("cpu"))["w"].shape == (3,)
    assert ctorch.load(p, map_location={"cuda:0": "cpu"})["w"].shape == (3,)
    assert ctorch.load(p, map_location=lambda s, loc: s)["w"].shape == (3,)
    with pytest.raises(RuntimeError):
        ctorch.load(p, map_location="cuda:0")


def _torch_bytes_at(obj, location, legacy=False):
    """torch.save output whose storages are tagged with `location` (as a GPU-trained
    checkpoint is), written by real torch."""
    import torch.serialization as S
    orig = S.location_tag
    S.location_tag = lambda s: location
    try:
        b = io.BytesIO()
        torch.save(obj, b, _use_new_zipfile_serialization=not legacy)
    finally:
        S.location_tag = orig
    return b.getvalue()


def _load_outcome(lib, data, ml, **kw):
    try:
        r = lib.load(io.BytesIO(data), map_location=ml, **kw)
    except Exception as e:  # noqa: BLE001 - compared with torch's exception class
        return type(e)
    return {k: v.tolist() for k, v in r.items()}


_ML_CASES = [None, "cpu", "cuda", "cuda:1", "foo", b"cpu", {"cuda:1": "cpu"}, {"cuda:0": "cpu"}, {"cuda:1": "foo"},
             {"cuda:1": "cuda:0"}, {"cpu": "cpu"}]


@pytest.mark.parametrize("weights_only", [True, False])
@pytest.mark.parametrize("location", ["cpu", "cuda:1"])
@pytest.mark.parametrize("legacy", [False, True])
def test_map_location_str_device_dict_like_torch(location, weights_only, legacy):
    data = _torch_bytes_at({"a": torch.arange(4.0), "b": torch.arange(3), "v": torch.arange(6.0)[2:]}, location,
                           legacy)
    for ml in _ML_CASES + ["device"]:
        tml, cml = ml, ml
        if ml == "device":
            tml, cml = torch.device("cpu"), ctorch.device("cpu")
        want = _load_outcome(torch, data, tml, weights_only=weights_only)
        got = _load_outcome(ctorch, data, cml, weights_only=weights_only)
        assert got == want, (ml, got, want)


@pytest.mark.parametrize("weights_only", [True, False])
def test_map_location_callable_called_like_torch(weights_only):
    a = torch.arange(4.0)
    data = _torch_bytes_at({"a": a, "b": torch.arange(3), "v": a[1:]}, "cuda:0")
    calls = {"torch": [], "ctorch": []}

    def spy(name):
        def fn(storage, location):
            calls[name].append((location, storage.nbytes(), storage.device.type, bytes(storage.tolist())))
            return storage.cpu()
        return fn
    want = torch.load(io.BytesIO(data), map_location=spy("torch"), weights_only=weights_only)
    got = ctorch.load(io.BytesIO(data), map_location=spy("ctorch"), weights_only=weights_only)
    assert sorted(calls["ctorch"]) == sorted(calls["torch"]) and len(calls["ctorch"]) == 2
    assert {k: v.tolist() for k, v in got.items()} == {k: v.tolist() for k, v in want.items()}
    # the views still share the one storage
    got["a"][2] = 7.0
    assert got["v"][1].item() == 7.0
    # None from the callable means the default restore: a cuda location is then an error
    for lib in (torch, ctorch):
        with pytest.raises(RuntimeError):
            lib.load(io.BytesIO(data), map_location=lambda s, loc: None, weights_only=weights_only)
    # the returned storage is the one used
    got = ctorch.load(io.BytesIO(data), map_location=lambda s, loc: ctorch.UntypedStorage(s.nbytes()).fill_(0),
                      weights_only=weights_only)
    assert got["a"].tolist() == [0.0] * 4
    # anything else than a storage: TypeError, as torch
    for lib in (torch, ctorch):
        with pytest.raises(TypeError):
            lib.load(io.BytesIO(data), map_location=lambda s, loc: 3, weights_only=weights_only)
    # an exception raised by the callable propagates unchanged
    def boom(s, loc):
        raise KeyError("no room for " + loc)
    with pytest.raises(KeyError, match="no room for cuda:0"):
        ctorch.load(io.BytesIO(data), map_location=boom, weights_only=weights_only)
    # too small a storage is refused cleanly
    with pytest.raises(RuntimeError, match="map_location"):
        ctorch.load(io.BytesIO(data), map_location=lambda s, loc: ctorch.UntypedStorage(1), weights_only=True)


def test_map_location_with_mmap(tmp_path):
    p = tmp_path / "gpu.pt"
    p.write_bytes(_torch_bytes_at({"w": torch.arange(1000.0)}, "cuda:0"))
    seen = []
    r = ctorch.load(p, mmap=True, map_location=lambda s, loc: seen.append(loc) or s)
    assert seen == ["cuda:0"] and r["w"].sum().item() == 499500.0
    assert ctorch.load(p, mmap=True, map_location="cpu")["w"][999].item() == 999.0


# ------------------------------------------------------------------ ctorch -> torch


@pytest.mark.parametrize("dt", ALL_DTYPES)
def test_ctorch_to_torch_dtypes(dt):
    x = cdata(dt, (3, 4))
    obj = {"x": x, "t": x.t(), "row": x[1], "cols": x[:, 1:3], "scalar": x[1, 2].clone(),
           "empty": ctorch.zeros(0, 3, dtype=x.dtype)}
    r = c2t(obj)
    for k in obj:
        same(obj[k], r[k])
    assert r["x"].untyped_storage().data_ptr() == r["t"].untyped_storage().data_ptr()


def test_ctorch_to_torch_containers_params():
    base = ctorch.arange(6.0)
    p = ctorch.nn.Parameter(ctorch.ones(2, 2))
    sd = collections.OrderedDict([("w", base), ("v", base[1:4]), ("p", p)])
    obj = {"sd": sd, "l": [1, 2.5, None, True, "s", (1, 2, 3, 4)], "e": {}, "t": (), "neg": -5, "big": 2**40,
           "bytes": b"ab\xff", "empty_bytes": b"", "dtype": ctorch.bfloat16, "set": {3, 4}}
    r = c2t(obj)
    assert isinstance(r["sd"], collections.OrderedDict) and list(r["sd"]) == ["w", "v", "p"]
    assert isinstance(r["sd"]["p"], torch.nn.Parameter)
    assert r["sd"]["v"].storage_offset() == 1
    assert r["sd"]["v"].untyped_storage().data_ptr() == r["sd"]["w"].untyped_storage().data_ptr()
    for k in ("l", "e", "t", "neg", "big", "bytes", "empty_bytes", "set"):
        assert r[k] == obj[k]
    assert r["dtype"] is torch.bfloat16


def test_ctorch_state_dict_metadata_roundtrip():
    sd = collections.OrderedDict([("0.weight", ctorch.ones(2, 2))])
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("0", {"version": 1})])
    r = c2t(sd)
    assert r._metadata == sd._metadata
    assert t2c(r)._metadata == sd._metadata


def test_ctorch_roundtrip_self():
    x = ctorch.arange(12.0).reshape(3, 4)
    obj = {"x": x, "xt": x.t(), "nested": [x, {"k": (x[0],)}]}
    r = ctorch.load(io.BytesIO(ct_bytes(obj)))
    assert r["x"].tolist() == x.tolist() and r["xt"].tolist() == x.t().tolist()
    assert r["nested"][0] is r["x"]


def test_ctorch_whole_objects_python_pickle():
    m = ctorch.nn.ParameterList([ctorch.nn.Parameter(ctorch.ones(2)), ctorch.nn.Parameter(ctorch.zeros(3))])
    data = ct_bytes(m)
    r = ctorch.load(io.BytesIO(data), weights_only=False)
    assert type(r) is ctorch.nn.ParameterList and [p.shape for p in r.parameters()] == [(2,), (3,)]
    # torch reads the layout (the classes are ctorch's)
    rt = torch.load(io.BytesIO(data), weights_only=False)
    assert type(rt) is ctorch.nn.ParameterList
    # a plain user class with tensors: torch.load(weights_only=False) gets torch tensors
    obj = {"cls": collections.Counter(a=1), "t": ctorch.arange(4.0)[1:], "fn": len}
    rt = torch.load(io.BytesIO(ct_bytes(obj)), weights_only=False)
    assert rt["cls"] == collections.Counter(a=1) and rt["t"].tolist() == [1.0, 2.0, 3.0]
    assert rt["t"].storage_offset() == 1 and rt["fn"] is len


def test_weights_only_default_rejects_and_safe_globals():
    data = ct_bytes({"c": collections.Counter(a=1), "f": len})
    with pytest.raises(pickle.UnpicklingError, match="builtins.len"):
        ctorch.load(io.BytesIO(data))
    try:
        ctorch.serialization.add_safe_globals([len])
        assert len in ctorch.serialization.get_safe_globals()
        r = ctorch.load(io.BytesIO(data))
        assert r["f"] is len and r["c"] == collections.Counter(a=1)
    finally:
        ctorch.serialization.clear_safe_globals()
    assert ctorch.serialization.get_safe_globals() == []
    with ctorch.serialization.safe_globals([len]):
        assert ctorch.load(io.BytesIO(data))["f"] is len
    with pytest.raises(pickle.UnpicklingError):
        ctorch.load(io.BytesIO(data))


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


def test_safe_globals_user_class():
    data = ct_bytes({"pt": Point(1, ctorch.ones(2))})
    with pytest.raises(pickle.UnpicklingError, match="Point"):
        ctorch.load(io.BytesIO(data))
    with ctorch.serialization.safe_globals([Point]):
        r = ctorch.load(io.BytesIO(data))
    assert isinstance(r["pt"], Point) and r["pt"].x == 1 and r["pt"].y.tolist() == [1.0, 1.0]


# ------------------------------------------------------------------ byte-exact worked example


def test_worked_example_bytes():
    data = ct_bytes({"w": ctorch.tensor([1.0, 2.0])})
    assert len(data) == 1577
    z = zipfile.ZipFile(io.BytesIO(data))
    pkl = z.read("archive/data.pkl")
    assert len(pkl) == 162
    b = io.BytesIO()
    torch.save({"w": torch.tensor([1.0, 2.0])}, b)
    ref = b.getvalue()
    assert pkl == zipfile.ZipFile(io.BytesIO(ref)).read("archive/data.pkl")
    # everything but the 40 serialization-id digits (0x3C0..0x3E8) and their CRC is identical
    assert data[:0x3C0] == ref[:0x3C0]
    assert data[0x3E8:0x3EC] == ref[0x3E8:0x3EC]  # descriptor signature
    layout = [(i.filename, i.header_offset, i.file_size) for i in z.infolist()]
    assert layout == [("archive/data.pkl", 0x000, 162), ("archive/.format_version", 0x0F2, 1),
                      ("archive/.storage_alignment", 0x151, 2), ("archive/byteorder", 0x1D2, 6),
                      ("archive/data/0", 0x256, 8), ("archive/version", 0x2D8, 2),
                      ("archive/.data/serialization_id", 0x352, 40)]
    assert data[0x2C0:0x2C8] == bytes.fromhex("0000803f00000040")
    for off in (0x40, 0x140, 0x1C0, 0x240, 0x2C0, 0x340, 0x3C0):
        assert off % 64 == 0
    assert data[0x3F8:0x3FC] == b"PK\x01\x02" and data[0x5C7:0x5CB] == b"PK\x06\x06"
    assert data[0x5FF:0x603] == b"PK\x06\x07" and data[0x613:0x617] == b"PK\x05\x06"
    # apart from the serialization id and its CRC, the central directory matches too
    crc_pos = 0x3F8 + 6 * 0 + sum(46 + len(n) for n, _, _ in layout[:6]) + 16
    masked = bytearray(data)
    masked_ref = bytearray(ref)
    for buf in (masked, masked_ref):
        buf[0x3C0:0x3E8] = b"\0" * 0x28  # the digits
        buf[0x3EC:0x3F0] = b"\0" * 4  # their CRC in the data descriptor
        buf[crc_pos:crc_pos + 4] = b"\0" * 4
    assert masked == masked_ref


def test_worked_example_memo_less_pickle():
    # the same object without BINPUTs (134 bytes) loads identically
    memo_less = (b"\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage"
                 b"ctorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x02tQK\x00K\x02\x85K\x01\x85\x89"
                 b"ccollections\nOrderedDict\n)RtRs.")
    assert len(memo_less) == 134
    data = _archive({"data.pkl": memo_less, "data/0": struct.pack("<2f", 1, 2), "version": b"3\n"}, prefix="w")
    assert ctorch.load(io.BytesIO(data))["w"].tolist() == [1.0, 2.0]


def _archive(records, prefix="archive"):
    """A ZIP written with Python's zipfile (other layout than torch's: no alignment)."""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_STORED) as z:
        for name, data in records.items():
            z.writestr(prefix + "/" + name, data)
    return b.getvalue()


def test_reordered_records_and_long_memo():
    obj = {"k%d" % i: torch.full((2,), float(i)) for i in range(300)}
    b = io.BytesIO()
    torch.save(obj, b)
    z = zipfile.ZipFile(io.BytesIO(b.getvalue()))
    recs = {n.split("/", 1)[1]: z.read(n) for n in reversed(z.namelist())}
    assert b"r" in recs["data.pkl"]  # LONG_BINPUT used beyond 256 memo entries
    r = ctorch.load(io.BytesIO(_archive(recs, prefix="other")))
    assert [r["k%d" % i][1].item() for i in range(300)] == [float(i) for i in range(300)]


# ------------------------------------------------------------------ hostile input


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/ctorch_pwned_%d" % os.getpid(),))


def test_malicious_reduce_is_rejected(tmp_path):
    marker = "/tmp/ctorch_pwned_%d" % os.getpid()
    b = io.BytesIO()
    torch.save({"x": Evil()}, b)
    with pytest.raises(pickle.UnpicklingError, match=r"(posix|os)\.system"):
        ctorch.load(io.BytesIO(b.getvalue()))
    # even if the user allows it by name: os/sys/posix are never allowed
    with ctorch.serialization.safe_globals([(os.system, "posix.system")]):
        with pytest.raises(pickle.UnpicklingError):
            ctorch.load(io.BytesIO(b.getvalue()))
    assert not os.path.exists(marker)


@pytest.mark.parametrize("pkl, match", [
    (b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueR.", "os.system"),
    (b"\x80\x02cbuiltins\neval\nX\x01\x00\x00\x001\x85R.", "builtins.eval"),
    (b"\x80\x02X\x02\x00\x00\x00osX\x06\x00\x00\x00system\x93.", "os.system"),
    (b"\x80\x02\xff.", "opcode"),
    (b"\x80\x02I1\n.", "opcode"),  # protocol-0 INT is not accepted
    (b"\x80\x02" + b"(" * 100 + b".", "MARK"),
    (b"\x80\x02.", "underflow"),
    (b"\x80\x02h\x05.", "memo"),
    (b"\x80\x02]q\x00h\x00a.", "recursive"),
    (b"\x80\x02N" + b"\x85" * 5000 + b".", "nesting"),
    (b"\x80\x02X\xff\xff\xff\x7f", "truncated"),
    (b"\x80\x02\x8a\x09" + b"\x01" * 9 + b".", "64 bits"),
    (b"\x80\x02K\x01K\x02s.", "SETITEM"),
    (b"\x80\x02K\x01K\x02K\x03s.", "non-dict"),
    (b"\x80\x02X\x01\x00\x00\x00\xff.", "UTF-8"),
    (b"\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu"
     b"J\xff\xff\xff\x7ftQ.", "record"),
])
def test_malicious_pickles(pkl, match):
    data = _archive({"data.pkl": pkl, "data/0": b"\0" * 8, "version": b"3\n"})
    with pytest.raises((pickle.UnpicklingError, RuntimeError), match=match):
        ctorch.load(io.BytesIO(data))


def test_tensor_outside_storage_rejected():
    pkl = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
           b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x02tQK\x01K\x02\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR.")
    data = _archive({"data.pkl": pkl, "data/0": struct.pack("<2f", 1, 2), "version": b"3\n"})
    with pytest.raises(pickle.UnpicklingError, match="outside"):
        ctorch.load(io.BytesIO(data))
    huge = pkl.replace(b"K\x02\x85K\x01\x85", b"\x8a\x05\x00\x00\x00\x00\x10\x85K\x01\x85")
    with pytest.raises(pickle.UnpicklingError):
        ctorch.load(io.BytesIO(_archive({"data.pkl": huge, "data/0": b"\0" * 8, "version": b"3\n"})))


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d[:100], "ZIP|end of central"),
    (lambda d: d[:-10], "end of central|ZIP"),
    (lambda d: b"", "neither|ZIP"),
    (lambda d: b"PK\x03\x04" + b"\0" * 40, "end of central"),
    (lambda d: b"garbage" * 10, "neither"),
])
def test_damaged_archives(mutate, match):
    data = ct_bytes({"w": ctorch.ones(4)})
    with pytest.raises(RuntimeError, match=match):
        ctorch.load(io.BytesIO(mutate(data)))


def _set_u32(data, off, v):
    return data[:off] + struct.pack("<I", v) + data[off + 4:]


def test_huge_declared_sizes():
    data = ct_bytes({"w": ctorch.tensor([1.0, 2.0])})
    cd = 0x3F8
    # central directory sizes for data.pkl claim 4 GiB - 2: must be refused, not allocated
    bad = _set_u32(_set_u32(data, cd + 20, 0xFFFFFFFE), cd + 24, 0xFFFFFFFE)
    with pytest.raises(RuntimeError, match="past the end"):
        ctorch.load(io.BytesIO(bad))
    # compressed != uncompressed (a "zip bomb" can only be stored here)
    with pytest.raises(RuntimeError, match="differing"):
        ctorch.load(io.BytesIO(_set_u32(data, cd + 24, 10)))
    # entry count beyond the central directory
    eocd = 0x613
    bad = data[:eocd + 8] + struct.pack("<HH", 0xFFFE, 0xFFFE) + data[eocd + 12:]
    with pytest.raises(RuntimeError):
        ctorch.load(io.BytesIO(bad))
    # local header offset pointing outside the file
    with pytest.raises(RuntimeError, match="local header"):
        ctorch.load(io.BytesIO(_set_u32(data, cd + 42, 0x7FFFFFFF)))
    # storage numel larger than its record
    b = io.BytesIO()
    torch.save({"w": torch.ones(2)}, b)
    d = bytearray(b.getvalue())
    i = d.index(b"cpu") + 3
    assert d[i] == 0x71 and d[i + 2] == ord("K")
    d[i + 3] = 200
    with pytest.raises(RuntimeError, match="holds"):
        ctorch.load(io.BytesIO(bytes(d)))


def test_fuzz_truncations_and_bitflips():
    b = io.BytesIO()
    m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    torch.save({"sd": m.state_dict(), "step": 3, "x": torch.arange(6.0).reshape(2, 3).t()}, b)
    good = b.getvalue()
    rng = random.Random(1234)
    outcomes = collections.Counter()
    for i in range(1500):
        d = bytearray(good)
        kind = i % 3
        if kind == 0:
            d = d[:rng.randrange(len(d))]
        else:
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(len(d))
                if kind == 1:
                    d[pos] ^= 1 << rng.randrange(8)
                else:
                    d[pos] = rng.randrange(256)
        try:
            ctorch.load(io.BytesIO(bytes(d)))
            outcomes["ok"] += 1
        except (pickle.UnpicklingError, RuntimeError) as e:
            assert str(e)
            outcomes[type(e).__name__] += 1
    assert outcomes["RuntimeError"] > 0 and outcomes["UnpicklingError"] > 0


# ------------------------------------------------------------------ files


def test_save_paths_and_file_objects(tmp_path):
    p = tmp_path / "ck.pt"
    ctorch.save({"w": ctorch.ones(2)}, p)
    assert torch.load(p)["w"].tolist() == [1.0, 1.0]
    with open(tmp_path / "f.pt", "wb") as fh:
        ctorch.save([ctorch.zeros(1)], fh)
    assert torch.load(tmp_path / "f.pt")[0].tolist() == [0.0]
    assert [f for f in os.listdir(tmp_path) if ".tmp." in f] == []
    with pytest.raises(OSError):
        ctorch.save({"w": ctorch.ones(1)}, tmp_path / "missing_dir" / "x.pt")


def test_atomic_save_under_kill(tmp_path):
    p = tmp_path / "ck.pt"
    ctorch.save({"w": ctorch.full((4,), 7.0)}, p)
    before = p.read_bytes()
    script = textwrap.dedent("""
        import sys, ctorch
        big = {"w%d" % i: ctorch.zeros(1 << 20) for i in range(64)}
        print("ready", flush=True)
        while True:
            ctorch.save(big, sys.argv[1])
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, str(p)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    import time
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the file is the old one or a complete new one, never a torn write
    r = ctorch.load(p)
    if "w" in r:
        assert p.read_bytes() == before and r["w"].tolist() == [7.0] * 4
    else:
        assert len(r) == 64 and all(v.shape == (1 << 20,) for v in r.values())
    for f in os.listdir(tmp_path):
        if ".tmp." in f:
            os.unlink(tmp_path / f)


def test_mmap_load(tmp_path):
    p = tmp_path / "big.pt"
    torch.save({"a": torch.arange(4096.0), "b": torch.ones(3, dtype=torch.int64)}, p)
    r = ctorch.load(p, mmap=True)
    assert r["a"][4095].item() == 4095.0 and r["b"].tolist() == [1, 1, 1]
    # storages live inside the mapping (64-byte aligned payloads) and writes stay private
    r["a"][0] = -5
    assert torch.load(p)["a"][0].item() == 0.0
    r2 = ctorch.load(open(p, "rb"), mmap=True)
    assert r2["a"][1].item() == 1.0
    with pytest.raises(ValueError):
        ctorch.load(io.BytesIO(p.read_bytes()), mmap=True)
    rp = ctorch.load(p, mmap=True, weights_only=False)
    assert rp["a"][10].item() == 10.0


def test_c_example_program(tmp_path):
    exe = c_example("load_checkpoint", tmp_path)
    p = tmp_path / "sd.pt"
    sd = collections.OrderedDict([("w", torch.arange(6.0).reshape(2, 3)), ("b", torch.tensor([1, 2], dtype=torch.int32))])
    torch.save(sd, p)
    out = subprocess.run([exe, str(p)], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["w float32 [2, 3] sum=15", "b int32 [2] sum=3"]


def _zip64ify(data):
    """Rewrite the central directory so that every entry carries its sizes and offset in a
    ZIP64 extra field (0xFFFFFFFF in the 32-bit fields), and the EOCD defers to the ZIP64
    end record: the >4 GiB code path of the reader, exercised on a small file."""
    eocd = data.rindex(b"PK\x05\x06")
    n, cd_size, cd_off = struct.unpack_from("<HII", data, eocd + 10)
    entries, p = [], cd_off
    for _ in range(n):
        (sig, made, need, flags, method, tm, dt, crc, csize, usize, nl, el, cl, disk, iattr, eattr,
         off) = struct.unpack_from("<IHHHHHHIIIHHHHHII", data, p)
        name = data[p + 46:p + 46 + nl]
        extra = struct.pack("<HHQQQ", 1, 24, usize, csize, off)
        entries.append(struct.pack("<IHHHHHHIIIHHHHHII", sig, made, need, flags, method, tm, dt, crc, 0xFFFFFFFF,
                                   0xFFFFFFFF, nl, len(extra), 0, disk, iattr, eattr, 0xFFFFFFFF) + name + extra)
        p += 46 + nl + el + cl
    cd = b"".join(entries)
    z64 = cd_off + len(cd)
    tail = (struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 0x2D, 0, 0, n, n, len(cd), cd_off) +
            struct.pack("<IIQI", 0x07064B50, 0, z64, 1) +
            struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    return data[:cd_off] + cd + tail


def test_zip64_records():
    x = ctorch.arange(5.0)
    data = _zip64ify(ct_bytes({"x": x, "v": x[1:3]}))
    r = ctorch.load(io.BytesIO(data))
    assert r["x"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0] and r["v"].tolist() == [1.0, 2.0]
    assert torch.load(io.BytesIO(data))["x"].tolist() == r["x"].tolist()  # torch agrees it is valid
    # a ZIP64 extra too short for the saturated fields is refused
    bad = bytearray(data)
    i = bad.index(struct.pack("<HH", 1, 24))
    bad[i + 2] = 8
    with pytest.raises(RuntimeError):
        ctorch.load(io.BytesIO(bytes(bad)))


def test_big_records_crc_and_torch_readback(tmp_path):
    # records >= 16 MB take the overlapped path (CRC on a helper thread, chunked writes with
    # early writeback): the CRCs must still be right and torch must read the file
    p = tmp_path / "big.pt"
    a = ctorch.randn(5_000_000)
    sd = {"a": a, "b": ctorch.arange(10), "c": a[7:]}
    ctorch.save(sd, p)
    with zipfile.ZipFile(p) as z:
        assert z.testzip() is None
    r = torch.load(p, weights_only=True)
    assert np.array_equal(r["a"].numpy(), a.numpy()) and r["c"].data_ptr() == r["a"].data_ptr() + 28
    # the Python-pickle path (a non-weights-only object) goes through the same writer
    ctorch.save({"sd": sd, "obj": collections.Counter("ab")}, p)
    with zipfile.ZipFile(p) as z:
        assert z.testzip() is None
    assert np.array_equal(ctorch.load(p, weights_only=False)["sd"]["a"].numpy(), a.numpy())
