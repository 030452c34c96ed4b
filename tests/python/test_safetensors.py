"""ctorch.utils.safetensors against the `safetensors` package: byte-identical files both ways,
every dtype, metadata, lazy reads, and hostile headers rejected cleanly (FORMATS.md 3)."""
import json
import random
import struct

import pytest
import torch

import ctorch
from ctorch.utils import safetensors as cst
from helpers import ALL_DTYPES, DTYPES

st = pytest.importorskip("safetensors.torch")
safe_open_ref = pytest.importorskip("safetensors").safe_open


def pair(dt, shape):
    n = 1
    for s in shape:
        n *= s
    t = (torch.arange(n) - 3).reshape(shape).to(DTYPES[dt][1])
    c = (ctorch.arange(n) - 3).reshape(shape).to(DTYPES[dt][0])
    return c, t


def as_list(x):
    return x.float().tolist() if "bfloat16" in str(x.dtype) else x.tolist()


def test_worked_example():
    data = cst.save({"w": ctorch.tensor([1.0, 2.0])}, metadata={"format": "pt"})
    hdr = b'{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}   '
    assert data == struct.pack("<Q", 88) + hdr + bytes.fromhex("0000803f00000040")
    assert len(data) == 104


def test_every_dtype_byte_identical_both_ways(tmp_path):
    cs, ts = {}, {}
    for i, dt in enumerate(ALL_DTYPES):
        for shape in [(2, 3), (), (0, 4), (5,)]:
            c, t = pair(dt, shape)
            name = "%s_%d" % (dt, len(shape)) + ("e" if 0 in shape else "")
            cs[name], ts[name] = c, t
    meta = {"format": "pt"}
    mine = cst.save(cs, metadata=meta)
    ref = st.save(ts, metadata=meta)
    assert mine == ref
    loaded = cst.load(ref)
    assert sorted(loaded) == sorted(ts)
    for k in ts:
        assert str(loaded[k].dtype) == str(ts[k].dtype) and tuple(loaded[k].shape) == tuple(ts[k].shape)
        assert as_list(loaded[k]) == as_list(ts[k])
    back = st.load(mine)
    for k in ts:
        assert torch.equal(back[k], ts[k])
    # files
    cst.save_file(cs, tmp_path / "m.safetensors", metadata=meta)
    assert (tmp_path / "m.safetensors").read_bytes() == ref
    r = st.load_file(tmp_path / "m.safetensors")
    assert set(r) == set(ts)
    st.save_file(ts, tmp_path / "t.safetensors")
    r = cst.load_file(tmp_path / "t.safetensors")
    assert as_list(r["float32_2"]) == as_list(ts["float32_2"])


def test_noncontiguous_and_views_are_written_dense():
    x = ctorch.arange(12.0).reshape(3, 4)
    data = cst.save({"t": x.t(), "s": x[1:, ::2]})
    r = st.load(data)
    assert r["t"].tolist() == x.t().tolist() and r["s"].tolist() == x[1:, ::2].tolist()


def test_safe_open_lazy_and_metadata(tmp_path):
    p = tmp_path / "x.safetensors"
    st.save_file({"a": torch.ones(3), "b": torch.zeros(2, 2, dtype=torch.int64)}, p,
                 metadata={"format": "pt", "note": "é\"\\\n"})
    with cst.safe_open(p, framework="pt", device="cpu") as f:
        assert f.keys() == ["a", "b"]
        assert f.metadata() == {"format": "pt", "note": "é\"\\\n"}
        assert f.get_tensor("b").dtype == ctorch.int64
        assert f.get_tensor("a").tolist() == [1.0, 1.0, 1.0]
        with pytest.raises(cst.SafetensorError):
            f.get_tensor("zzz")
    with safe_open_ref(str(p), framework="pt") as f:
        assert f.metadata()["note"] == "é\"\\\n"
    # names with escapes round-trip through both implementations
    names = {'q"uote': ctorch.ones(1), "back\\slash": ctorch.ones(1), "ctl\x01": ctorch.ones(1), "ünï": ctorch.ones(1)}
    data = cst.save(names)
    assert data == st.save({k: torch.ones(1) for k in names})
    assert sorted(cst.load(data)) == sorted(names)


def test_unsupported_dtype_reports_type_error():
    data = st.save({"u": torch.ones(2, dtype=torch.uint16), "f": torch.ones(1)})
    r = cst._C._st_open(data)
    with pytest.raises(TypeError, match="U16"):
        cst._C._st_get(r, "u", False)
    assert cst._C._st_get(r, "f", False).tolist() == [1.0]


def raw(header, data=b"", n=None, pad=True):
    h = json.dumps(header, separators=(",", ":")).encode() if not isinstance(header, bytes) else header
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h) if n is None else n) + h + data


@pytest.mark.parametrize("bad, match", [
    (b"", "8 bytes"),
    (b"\x01\x00", "8 bytes"),
    (struct.pack("<Q", 200_000_000) + b"{}", "too large"),
    (struct.pack("<Q", 64) + b"{}", "exceeds"),
    (raw(b"[]"), "'{'"),
    (raw(b"{\xff}"), "UTF-8"),
    (raw(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],'
         b'"data_offsets":[4,8]}}', b"\0" * 8), "duplicate"),
    (raw({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4), "size"),
    (raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8), "contiguous"),
    (raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
          "b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}, b"\0" * 6), "contiguous"),
    (raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 5), "trailing"),
    (raw({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 3), "size|trailing|missing"),
    (raw({"a": {"dtype": "X99", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4), "dtype"),
    (raw({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4), "shape"),
    (raw({"a": {"dtype": "F32", "shape": [2**62, 2**62], "data_offsets": [0, 4]}}, b"\0" * 4), "size"),
    (raw({"a": {"dtype": "F32", "shape": [1]}}, b"\0" * 4), "lacks"),
    (raw({"__metadata__": {"n": 1}}), "strings"),
    (raw({"__metadata__": {"n": {"x": "y"}}}), "strings"),
    (raw({"a": {"dtype": "F32", "shape": [1] * 30, "data_offsets": [0, 4]}}, b"\0" * 4), "dimensions"),
    (raw(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} x', b"\0" * 4, pad=False), "trailing"),
    (raw({"a": {"dtype": "F4", "shape": [3], "data_offsets": [0, 1]}}, b"\0"), "size"),
])
def test_hostile_headers(bad, match):
    with pytest.raises(RuntimeError, match=match):
        cst.load(bad)
    if match != "dimensions":  # valid for the format; ctorch tensors have at most 25 dims
        with pytest.raises(Exception):
            st.load(bad)


def test_fuzz_mutations():
    good = st.save({"a": torch.arange(6.0).reshape(2, 3), "b": torch.ones(4, dtype=torch.int16)},
                   metadata={"format": "pt"})
    rng = random.Random(7)
    ok = bad = 0
    for i in range(2000):
        d = bytearray(good)
        if i % 2:
            d = d[:rng.randrange(len(d) + 1)]
        else:
            for _ in range(rng.randint(1, 3)):
                d[rng.randrange(len(d))] = rng.randrange(256)
        try:
            r = cst.load(bytes(d))
            ok += 1
            assert all(isinstance(v, ctorch.Tensor) for v in r.values())
        except (RuntimeError, TypeError):
            bad += 1
    assert bad > 0 and ok > 0
