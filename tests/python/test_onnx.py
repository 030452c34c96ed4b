"""ctorch.onnx.export: the exported model passes onnx.checker and onnxruntime gives ctorch's
outputs (1e-5), for several batch sizes when dynamic axes are declared."""
import io

import numpy as np
import pytest

import ctorch
from ctorch import nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

F = nn.functional


def npy(t):
    return np.array(t.tolist(), dtype={ctorch.float32: np.float32, ctorch.int64: np.int64,
                                       ctorch.bool: np.bool_, ctorch.float64: np.float64}[t.dtype])


def export_bytes(model, args, **kw):
    f = io.BytesIO()
    ctorch.onnx.export(model, args, f, **kw)
    data = f.getvalue()
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    return data


def roundtrip(model, example, make_input=None, sizes=(1, 3, 5), dynamic=True, n_out=1, atol=1e-5, opset=17,
              names=None):
    """Export with the batch axis (0) of every input dynamic; run onnxruntime at several
    batch sizes against ctorch."""
    if isinstance(example, ctorch.Tensor):
        example = (example,)
    in_names = names or ["x%d" % i for i in range(len(example))]
    out_names = ["y%d" % i for i in range(n_out)]
    dyn = None
    if dynamic:
        dyn = {n: {0: "batch"} for n in in_names}
        dyn.update({n: {0: "batch"} for n in out_names})
    data = export_bytes(model, example, input_names=in_names, output_names=out_names, dynamic_axes=dyn,
                        opset_version=opset)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    for n in (sizes if dynamic else (example[0].shape[0],)):
        xs = make_input(n) if make_input else tuple(ctorch.randn(n, *e.shape[1:]) for e in example)
        if isinstance(xs, ctorch.Tensor):
            xs = (xs,)
        with ctorch.no_grad():
            ref = model(*xs)
        if isinstance(ref, ctorch.Tensor):
            ref = (ref,)
        got = sess.run(None, {nm: npy(x) for nm, x in zip(in_names, xs)})
        assert len(got) == len(ref)
        for r, g in zip(ref, got):
            assert tuple(r.shape) == g.shape
            np.testing.assert_allclose(g, npy(r), rtol=1e-5, atol=atol)
    return data


def op_types(data):
    return [n.op_type for n in onnx.load_from_string(data).graph.node]


class Affine(nn.Module):
    """A linear layer from primitives (works without nn.Linear)."""

    def __init__(self, i, o):
        super().__init__()
        self.weight = nn.Parameter(ctorch.randn(o, i) * 0.3)
        self.bias = nn.Parameter(ctorch.randn(o) * 0.1)

    def forward(self, x):
        return ctorch.addmm(self.bias, x, self.weight.t()) if x.dim() == 2 else x @ self.weight.t() + self.bias


def _has(*names):
    return all(hasattr(nn, n) for n in names)


# ------------------------------------------------------------------ the C writer

def test_builder_relu_bytes():
    m = ctorch._C._OnnxModel("g", 13, 8)
    m.add_node("Relu", ["X"], ["Y"], {})
    m.add_value(False, "X", ctorch.float32, [1, 4])
    m.add_value(True, "Y", ctorch.float32, [1, 4])
    data = m.serialize()
    # FORMATS.md 5.6 with producer "ctorch"
    assert data[:2] == b"\x08\x08" and data.endswith(bytes.fromhex("42040a00100d"))
    assert bytes.fromhex("0a0c0a0158120159220452656c75") in data
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    out = ort.InferenceSession(data).run(None, {"X": np.array([[-1, 2, -3, 4]], np.float32)})[0]
    np.testing.assert_array_equal(out, [[0, 2, 0, 4]])


def test_builder_attributes_and_initializers():
    m = ctorch._C._OnnxModel("g", 17)
    w = ctorch.tensor([[1.0, 2.0], [3.0, 4.0]])
    m.add_initializer("W", w)
    m.add_node("Gemm", ["X", "W"], ["Y"], {"transB": 1, "alpha": 2.0})
    m.add_node("Transpose", ["Y"], ["Z"], {"perm": [1, 0]})
    m.add_value(False, "X", ctorch.float32, ["N", 2])
    m.add_value(True, "Z", ctorch.float32, [2, "N"])
    data = m.serialize()
    g = onnx.load_from_string(data)
    assert g.ir_version == 8 and g.opset_import[0].version == 17
    assert g.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    onnx.checker.check_model(g, full_check=True)
    x = np.array([[1, 1], [2, 0], [0, 1]], np.float32)
    out = ort.InferenceSession(data).run(None, {"X": x})[0]
    np.testing.assert_allclose(out, (2 * x @ np.array([[1, 2], [3, 4]], np.float32).T).T)
    m2 = ctorch._C._OnnxModel("g", 17)
    m2.add_node("RNN", ["X", "W", "R"], ["Y"], {"activations": ["Relu"], "hidden_size": 3})
    attrs = {a.name: a for a in onnx.load_from_string(m2.serialize()).graph.node[0].attribute}
    assert attrs["activations"].type == onnx.AttributeProto.STRINGS and attrs["activations"].strings == [b"Relu"]
    with pytest.raises(TypeError):
        m.add_node("Relu", ["a"], ["b"], {"bad": object()})
    with pytest.raises(ValueError):
        ctorch._C._OnnxModel("g", 99)


# ------------------------------------------------------------------ models from primitives

def test_mlp_primitives():
    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = Affine(4, 16), Affine(16, 3)

        def forward(self, x):
            return ctorch.sigmoid(self.fc2(ctorch.tanh(self.fc1(x)))) * 2 - 1

    data = roundtrip(MLP(), ctorch.randn(2, 4))
    g = onnx.load_from_string(data)
    inits = {i.name for i in g.graph.initializer}
    assert {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"} <= inits
    assert g.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert g.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert "Gemm" in op_types(data)


def test_elementwise_ops():
    class M(nn.Module):
        def forward(self, x, y):
            a = (x + y) * 2.5 - y / 3 + 1
            b = ctorch.exp(x.abs().neg()) + ctorch.log(y * y + 1) + ctorch.sqrt(x * x + 0.5)
            c = ctorch.where(x > y, x, y) + (x >= 0).float() - (y < 0.5).float() + (x == x).float()
            d = x.pow(2) + 2 ** y.clamp(-1, 1) + ctorch.maximum(x, y) - ctorch.minimum(x, y)
            e = ctorch.rsqrt(x * x + 1) + ctorch.reciprocal(y.abs() + 1) + x.clamp(min=0.1)
            f = x.masked_fill(y > 0, -1.0) + ctorch.erf(x) + x.sin() * y.cos() + (-x)
            return a + b + c + d + e + f, (x != y) & (x > 0)

    def make(n):
        return ctorch.randn(n, 5), ctorch.randn(n, 5)

    roundtrip(M(), make(2), make_input=make, n_out=2)


def test_reductions():
    class M(nn.Module):
        def forward(self, x):
            outs = [x.sum(1), x.sum(dim=(1, 2), keepdim=True).flatten(1), x.mean(-1).sum(-1, keepdim=True),
                    x.amax(2).amin(1, keepdim=True), x.max(1)[0].sum(1, keepdim=True), x.min(dim=2).values[:, :1],
                    x.prod(2)[:, 1:2], x.var(2).mean(1, keepdim=True), x.std(1, keepdim=True).flatten(1)[:, :1],
                    x.argmax(1).float(), x.logsumexp(2)[:, :1], x.norm(dim=2)[:, 2:]]
            return ctorch.cat([o.reshape(x.shape[0], -1) for o in outs], 1), x.sum(), x.max()

    # x.sum() / x.max() have no batch axis: only the input's batch axis is declared
    m = M()
    x = ctorch.randn(2, 3, 4)
    data = export_bytes(m, (x,), input_names=["x"], dynamic_axes={"x": {0: "N"}})
    sess = ort.InferenceSession(data)
    for n in (1, 4):
        xi = ctorch.randn(n, 3, 4)
        ref = m(xi)
        got = sess.run(None, {"x": npy(xi)})
        for r, g in zip(ref, got):
            np.testing.assert_allclose(g, npy(r), rtol=1e-5, atol=1e-5)


def test_shape_ops_and_indexing():
    class M(nn.Module):
        def forward(self, x):
            b = x.size(0)
            y = x.view(b, 3, 2, 2).permute(0, 2, 1, 3).reshape(b, -1)
            z = y.unsqueeze(1).expand(b, 2, 12).transpose(1, 2).flatten(1)
            p, q = y.chunk(2, dim=1)
            s = ctorch.stack([p, q], dim=1).squeeze(1).sum(1)
            parts = ctorch.split(y, [4, 8], dim=1)
            w = y[:, 1:7:2] + y[:, -3:] + y[..., 0:3] + y[:, None, 2]
            v = x[:, 0, 1:] + x.narrow(1, 1, 1).reshape(b, -1)[:, :3]
            u = ctorch.cat([z, s.flatten(1), parts[0], w, v, x.select(1, 2).flatten(1), x.mT.flatten(1),
                            y.flip(1), y.repeat(1, 2), y.unflatten(1, (3, 4)).flatten(1)], dim=1)
            return u, y[0]

    m = M()
    data = export_bytes(m, (ctorch.randn(2, 3, 4),), input_names=["x"], dynamic_axes={"x": {0: "N"}})
    sess = ort.InferenceSession(data)
    for n in (1, 2, 6):
        xi = ctorch.randn(n, 3, 4)
        ref = m(xi)
        got = sess.run(None, {"x": npy(xi)})
        for r, g in zip(ref, got):
            assert tuple(r.shape) == g.shape
            np.testing.assert_allclose(g, npy(r), rtol=1e-5, atol=1e-5)


def test_dynamic_sequence_axis_and_runtime_shapes():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = Affine(8, 8)

        def forward(self, x):  # x: (B, T, 8) with B and T dynamic: a heads split and merge
            b, t, c = x.shape
            h = self.proj(x).view(b, t, 2, 4).transpose(1, 2)  # (B, 2, T, 4)
            att = (h @ h.transpose(-2, -1)) * 0.5
            mask = ctorch.ones(t, t).tril() == 0
            att = ctorch.softmax(att.masked_fill(mask, float("-inf")), dim=-1) if hasattr(ctorch, "softmax") \
                else att.masked_fill(mask, -1e9).exp()
            out = (att @ h).transpose(1, 2).reshape(b, t, c)
            return out + ctorch.zeros(b, t, 1) + ctorch.arange(t).float().reshape(1, t, 1)

    m = M()
    x = ctorch.randn(2, 5, 8)
    data = export_bytes(m, (x,), input_names=["x"], output_names=["y"],
                        dynamic_axes={"x": {0: "B", 1: "T"}, "y": {0: "B", 1: "T"}})
    g = onnx.load_from_string(data)
    assert [d.dim_param for d in g.graph.output[0].type.tensor_type.shape.dim[:2]] == ["B", "T"]
    sess = ort.InferenceSession(data)
    for b, t in ((1, 3), (2, 5), (4, 7)):
        xi = ctorch.randn(b, t, 8)
        np.testing.assert_allclose(sess.run(None, {"x": npy(xi)})[0], npy(m(xi)), rtol=1e-5, atol=1e-5)


def test_static_export_file_and_names(tmp_path):
    m = Affine(3, 2)
    path = tmp_path / "m.onnx"
    ctorch.onnx.export(m, (ctorch.randn(4, 3),), str(path), input_names=["inp"], output_names=["out"])
    g = onnx.load(str(path))
    onnx.checker.check_model(g, full_check=True)
    assert [i.name for i in g.graph.input] == ["inp"] and [o.name for o in g.graph.output] == ["out"]
    assert [d.dim_value for d in g.graph.input[0].type.tensor_type.shape.dim] == [4, 3]
    assert g.ir_version == 8 and g.opset_import[0].version == 17
    data13 = export_bytes(m, ctorch.randn(4, 3), opset_version=13)
    assert onnx.load_from_string(data13).ir_version == 7
    with pytest.raises(ValueError):
        ctorch.onnx.export(m, ctorch.randn(4, 3), io.BytesIO(), opset_version=11)


def test_unsupported_op_names_the_op():
    class M(nn.Module):
        def forward(self, x):
            return x.cummax(dim=1)[0]

    with pytest.raises(ctorch.onnx.UnsupportedOperatorError, match="'cummax'"):
        ctorch.onnx.export(M(), ctorch.randn(2, 3), io.BytesIO())

    class S(nn.Module):
        def forward(self, x):
            x = x.clone()
            x[x[:, 0] > 0] = x[0]  # mask assignment of a row: needs nonzero
            return x

    with pytest.raises(ctorch.onnx.UnsupportedOperatorError, match="__setitem__"):
        ctorch.onnx.export(S(), ctorch.randn(2, 3), io.BytesIO())


def test_tracer_is_off_after_export_and_on_error():
    class Bad(nn.Module):
        def forward(self, x):
            raise KeyError("boom")

    with pytest.raises(KeyError):
        ctorch.onnx.export(Bad(), ctorch.randn(2), io.BytesIO())
    assert ctorch._C._set_tracer(None) is None


def test_constants_created_in_forward():
    class M(nn.Module):
        def forward(self, x):
            return x * ctorch.tensor([1.0, 2.0, 3.0]) + ctorch.ones(3) * 0.5

    roundtrip(M(), ctorch.randn(2, 3))


# ------------------------------------------------------------------ nn layers (as they land)

@pytest.mark.skipif(not _has("Linear", "ReLU", "Softmax"), reason="nn.Linear not available")
def test_mlp_layers():
    m = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3), nn.Softmax(dim=1))
    ops = op_types(export_bytes(m, ctorch.randn(2, 4)))  # exported in eval mode, training mode restored after
    assert m.training and ops == ["Gemm", "Relu", "Gemm", "Softmax"]
    m.eval()
    data = roundtrip(m, ctorch.randn(2, 4))
    assert op_types(data) == ["Gemm", "Relu", "Gemm", "Softmax"]


@pytest.mark.skipif(not _has("Conv2d", "BatchNorm2d", "MaxPool2d", "AdaptiveAvgPool2d", "Linear"),
                    reason="conv/pool/norm layers not available")
def test_cnn_and_residual_block():
    class Res(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
            self.c2, self.b2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

        def forward(self, x):
            return F.relu(self.b2(self.c2(F.relu(self.b1(self.c1(x))))) + x)

    m = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                      nn.MaxPool2d(2, ceil_mode=True), Res(8), nn.AvgPool2d(3, stride=1, padding=1,
                                                                            count_include_pad=False),
                      nn.Dropout(0.3), nn.AdaptiveAvgPool2d((2, 2)), nn.Flatten(), nn.Linear(32, 10),
                      nn.LogSoftmax(1))
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-1, 1)
            mod.running_var.uniform_(0.5, 2)
    m.eval()
    data = roundtrip(m, ctorch.randn(2, 3, 16, 16))
    ops = op_types(data)
    assert {"Conv", "BatchNormalization", "MaxPool", "AveragePool", "Gemm", "LogSoftmax"} <= set(ops)
    assert "Dropout" not in ops
    gap = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    assert "GlobalAveragePool" in op_types(roundtrip(gap, ctorch.randn(2, 3, 8, 8)))
    # training mode: batch norm exports (batch statistics, see test_batch_norm_batch_statistics);
    # random dropout masks have no deterministic ONNX form
    m.train()
    with pytest.raises(ctorch.onnx.UnsupportedOperatorError, match="bernoulli_|dropout"):
        ctorch.onnx.export(m, ctorch.randn(2, 3, 16, 16), io.BytesIO(), training=True)


@pytest.mark.skipif(not _has("Conv1d", "ConvTranspose2d", "MaxPool1d", "GroupNorm", "Hardswish"),
                    reason="conv/pool/norm layers not available")
def test_conv1d_convtranspose_groupnorm():
    m = nn.Sequential(nn.Conv1d(4, 6, 3, padding=2, dilation=2, groups=2), nn.ReLU(), nn.MaxPool1d(2),
                      nn.AvgPool1d(2), nn.AdaptiveAvgPool1d(1), nn.Flatten())
    roundtrip(m, ctorch.randn(2, 4, 20))
    m2 = nn.Sequential(nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), nn.GroupNorm(1, 3),
                       nn.Hardswish())
    assert "ConvTranspose" in op_types(roundtrip(m2, ctorch.randn(2, 4, 5, 5)))


@pytest.mark.skipif(not _has("Linear", "GELU", "SiLU", "LeakyReLU", "ELU", "Hardtanh", "LayerNorm"),
                    reason="activation/norm layers not available")
@pytest.mark.parametrize("opset", [13, 17])
def test_activations_and_layer_norm(opset):
    m = nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Linear(8, 8), nn.SiLU(), nn.LeakyReLU(0.2), nn.ELU(),
                      nn.Hardtanh(-0.5, 0.5), nn.Tanh(), nn.Sigmoid(), nn.LayerNorm(8), nn.Softmax(-1))
    roundtrip(m, ctorch.randn(3, 6), opset=opset)
    m2 = nn.Sequential(nn.GELU(approximate="tanh"), nn.Softplus(), nn.Mish(), nn.Hardsigmoid(), nn.SELU(),
                       nn.LogSigmoid(), nn.Softsign())
    roundtrip(m2, ctorch.randn(3, 6) * 3, opset=opset)


@pytest.mark.skipif(not _has("Bilinear"), reason="nn.Bilinear not available")
def test_bilinear():
    roundtrip(nn.Bilinear(3, 4, 2), (ctorch.randn(2, 3), ctorch.randn(2, 4)))


@pytest.mark.skipif(not _has("Embedding", "Linear", "Flatten"), reason="nn.Embedding not available")
def test_embedding():
    m = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(12, 2))
    roundtrip(m, ctorch.tensor([[1, 2, 3], [4, 5, 9]]), make_input=lambda n: ctorch.randint(0, 10, (n, 3)))


@pytest.mark.skipif(not _has("LSTM", "GRU", "RNN"), reason="nn.LSTM/nn.GRU not available")
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN", "RNN_relu"])
def test_rnn(kind):
    extra = {"nonlinearity": "relu"} if kind == "RNN_relu" else {}
    kind = kind.split("_")[0]

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(nn, kind)(5, 7, num_layers=2, batch_first=True, **extra)

        def forward(self, x):
            return self.rnn(x)[0]

    data = roundtrip(M(), ctorch.randn(2, 4, 5))
    assert ("LSTM" if kind == "LSTM" else kind) in op_types(data)

    class Bi(nn.Module):  # time-major, bidirectional, final hidden state out; time and batch dynamic
        def __init__(self):
            super().__init__()
            self.rnn = getattr(nn, kind)(5, 6, num_layers=2, bidirectional=True, **extra)

        def forward(self, x):
            o, h = self.rnn(x)
            return o, (h[0] if kind == "LSTM" else h)

    m = Bi()
    data = export_bytes(m, ctorch.randn(4, 2, 5), input_names=["x"], dynamic_axes={"x": {0: "T", 1: "B"}})
    sess = ort.InferenceSession(data)
    for t, b in ((4, 2), (1, 1), (6, 3)):
        x = ctorch.randn(t, b, 5)
        for r, g in zip(m(x), sess.run(None, {"x": npy(x)})):
            np.testing.assert_allclose(g, npy(r), rtol=1e-5, atol=1e-5)


def _run_dynamic(m, example, dyn, shapes):
    data = export_bytes(m, (example,), input_names=["x"], dynamic_axes=dyn)
    sess = ort.InferenceSession(data)
    for sh in shapes:
        x = ctorch.randn(*sh)
        ref = m(x)
        ref = ref[0] if isinstance(ref, tuple) else ref
        np.testing.assert_allclose(sess.run(None, {"x": npy(x)})[0], npy(ref), rtol=1e-5, atol=1e-5)
    return data


@pytest.mark.skipif(not _has("TransformerEncoderLayer", "MultiheadAttention"),
                    reason="nn.TransformerEncoderLayer not available")
def test_transformer_encoder_layer():
    m = nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32, dropout=0.1, batch_first=True)
    m.eval()
    roundtrip(m, ctorch.randn(2, 6, 16))
    pre = nn.TransformerEncoderLayer(16, 4, 32, activation="gelu", norm_first=True, batch_first=True).eval()
    _run_dynamic(pre, ctorch.randn(2, 5, 16), {"x": {0: "B", 1: "T"}}, [(2, 5, 16), (3, 7, 16), (1, 1, 16)])

    class Causal(nn.Module):  # a mask built from the (dynamic) sequence length inside forward
        def __init__(self):
            super().__init__()
            self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True), 2)

        def forward(self, x):
            mask = nn.Transformer.generate_square_subsequent_mask(x.size(1))
            return self.enc(x, mask=mask, is_causal=True)

    _run_dynamic(Causal().eval(), ctorch.randn(2, 5, 16), {"x": {0: "B", 1: "T"}}, [(2, 5, 16), (4, 6, 16)])


@pytest.mark.skipif(not hasattr(F, "scaled_dot_product_attention") or not _has("MultiheadAttention"),
                    reason="attention not available")
def test_attention():
    class SDPA(nn.Module):
        def forward(self, x):
            return F.scaled_dot_product_attention(x, x * 2, x + 1, is_causal=True)

    _run_dynamic(SDPA(), ctorch.randn(2, 3, 5, 8), {"x": {0: "B", 2: "T"}}, [(2, 3, 5, 8), (1, 3, 9, 8)])

    class MHA(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = nn.MultiheadAttention(16, 4, batch_first=True)

        def forward(self, x):
            return self.m(x, x, x)  # output and averaged attention weights

    m = MHA().eval()
    data = export_bytes(m, (ctorch.randn(2, 5, 16),), input_names=["x"], dynamic_axes={"x": {0: "B", 1: "T"}})
    sess = ort.InferenceSession(data)
    x = ctorch.randn(3, 7, 16)
    for r, g in zip(m(x), sess.run(None, {"x": npy(x)})):
        np.testing.assert_allclose(g, npy(r), rtol=1e-5, atol=1e-5)


_ZOO = [
    ("AvgPool2d", lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=True), (2, 3, 8, 8)),
    ("AvgPool2d", lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 3, 8, 8)),
    ("MaxPool2d", lambda: nn.MaxPool2d(3, 2, 1, dilation=2, ceil_mode=True), (2, 3, 9, 9)),
    ("AdaptiveMaxPool2d", lambda: nn.AdaptiveMaxPool2d((2, 3)), (2, 3, 8, 9)),
    ("AdaptiveAvgPool1d", lambda: nn.AdaptiveAvgPool1d(4), (2, 3, 8)),
    ("ReflectionPad2d", lambda: nn.ReflectionPad2d(2), (2, 3, 5, 5)),
    ("ReplicationPad1d", lambda: nn.ReplicationPad1d((1, 2)), (2, 3, 5)),
    ("ConstantPad2d", lambda: nn.ConstantPad2d((1, 0, 2, 1), 0.5), (2, 3, 5, 5)),
    ("Conv2d", lambda: nn.Conv2d(3, 4, 3, padding="same"), (2, 3, 6, 6)),
    ("Conv2d", lambda: nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), (2, 3, 6, 6)),
    ("Conv3d", lambda: nn.Conv3d(2, 2, 3, padding=1), (2, 2, 4, 4, 4)),
    ("BatchNorm1d", lambda: nn.BatchNorm1d(3).eval(), (2, 3, 5)),
    ("InstanceNorm2d", lambda: nn.InstanceNorm2d(3), (2, 3, 5, 5)),
    ("RMSNorm", lambda: nn.RMSNorm(5), (2, 5)),
    ("PReLU", lambda: nn.PReLU(3), (2, 3, 4)),
    ("GLU", lambda: nn.GLU(), (2, 6)),
    ("CELU", lambda: nn.CELU(0.7), (2, 5)),
    ("Threshold", lambda: nn.Threshold(0.1, 20.0), (2, 5)),
    ("Softshrink", lambda: nn.Softshrink(0.3), (2, 5)),
    ("Tanhshrink", lambda: nn.Tanhshrink(), (2, 5)),
    ("ReLU6", lambda: nn.ReLU6(), (2, 5)),
    ("Softmin", lambda: nn.Softmin(1), (2, 5)),
    ("PixelShuffle", lambda: nn.PixelShuffle(2), (2, 4, 3, 3)),
    ("Upsample", lambda: nn.Upsample(scale_factor=2, mode="nearest"), (2, 3, 4, 4)),
    ("Upsample", lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (2, 3, 4, 4)),
    ("Upsample", lambda: nn.Upsample(size=(7, 5), mode="bilinear", align_corners=True), (2, 3, 4, 4)),
    ("Upsample", lambda: nn.Upsample(scale_factor=2, mode="bicubic"), (2, 3, 4, 4)),
    ("Upsample", lambda: nn.Upsample(scale_factor=1.5, mode="bilinear"), (2, 3, 5, 7)),
    ("Upsample", lambda: nn.Upsample(scale_factor=(0.6, 1.7), mode="nearest"), (2, 3, 5, 7)),
    ("Upsample", lambda: nn.Upsample(scale_factor=1.3, mode="bicubic", align_corners=True), (2, 3, 5, 7)),
    ("PixelUnshuffle", lambda: nn.PixelUnshuffle(2), (2, 3, 4, 6)),
    ("LocalResponseNorm", lambda: nn.LocalResponseNorm(3, alpha=0.01, beta=0.7, k=1.5), (2, 5, 4, 4)),
    ("LPPool2d", lambda: nn.LPPool2d(2, 2), (2, 3, 6, 6)),
]


@pytest.mark.parametrize("i", range(len(_ZOO)))
def test_layer_zoo(i):
    name, make, shape = _ZOO[i]
    assert _has(name), "nn.%s is missing" % name
    roundtrip(make(), ctorch.randn(*shape) * 3, sizes=(1, 3))


def test_integer_ops_kwargs_and_options():
    class M(nn.Module):
        def forward(self, x, k=None, scale=2):
            q = x // 3 + x % 4 + ctorch.div(x, -3, rounding_mode="trunc") + ctorch.div(x, -3, rounding_mode="floor")
            return q * scale + k, x  # the second output is the input itself

    m = M()
    x = ctorch.randint(-20, 20, (2, 5))
    k = ctorch.randint(-5, 5, (5,))
    f = io.BytesIO()
    ctorch.onnx.export(m, (x,), f, input_names=["x", "k"], output_names=["y", "x_out"], kwargs={"k": k},
                       dynamic_axes={"x": {0: "N"}})
    data = f.getvalue()
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    sess = ort.InferenceSession(data)
    xi = ctorch.randint(-20, 20, (4, 5))
    got = sess.run(None, {"x": npy(xi), "k": npy(k)})
    ref = m(xi, k=k)
    np.testing.assert_array_equal(got[0], npy(ref[0]))
    np.testing.assert_array_equal(got[1], npy(xi))

    # export_params=False: parameters become graph inputs
    a = Affine(3, 2)
    g = onnx.load_from_string(export_bytes(a, ctorch.randn(4, 3), export_params=False, input_names=["x"]))
    assert not g.graph.initializer
    assert {i.name for i in g.graph.input} == {"x", "weight", "bias"}
    g = onnx.load_from_string(export_bytes(a, ctorch.randn(4, 3), keep_initializers_as_inputs=True,
                                           input_names=["x"]))
    assert {i.name for i in g.graph.initializer} == {"weight", "bias"}
    assert [i.name for i in g.graph.input] == ["x", "weight", "bias"]


def test_inplace_ops():
    class M(nn.Module):
        def forward(self, x):
            y = x * 2
            y.add_(1).mul_(3)
            z = ctorch.zeros(3)
            z.copy_(y[0])  # a constant buffer overwritten with a computed value
            w = y.clone().fill_(0.5)
            x2 = x.clone()
            x2 += y
            return z + w.sum(0) + x2[1]

    m = M()
    data = export_bytes(m, (ctorch.randn(2, 3),), input_names=["x"])
    xi = ctorch.randn(2, 3)
    got = ort.InferenceSession(data).run(None, {"x": npy(xi)})[0]
    np.testing.assert_allclose(got, npy(m(xi)), rtol=1e-5, atol=1e-5)


def test_more_elementwise_and_einsum():
    class M(nn.Module):
        def forward(self, x, y):
            p = ctorch.sigmoid(x) * 0.8 + 0.1
            a = ctorch.trunc(x * 3) + ctorch.erfc(x) + ctorch.logit(p) + ctorch.lerp(x, y, 0.3)
            b = ctorch.addcmul(x, x, y, value=0.5) + ctorch.addcdiv(x, x, y.abs() + 1)
            c = ctorch.einsum("bi,bj->bij", x, y).flatten(1)[:, :5]
            d = (x > 0).all(1, keepdim=True).float() + (y > 1).any(1, keepdim=True).float()
            return a + b + c + d + ctorch.isnan(x).float() + ctorch.isinf(y).float()

    def make(n):
        return ctorch.randn(n, 5), ctorch.randn(n, 5)

    roundtrip(M(), make(2), make_input=make)


def test_verbose_and_in_export_flag(capsys):
    seen = []

    class M(nn.Module):
        def forward(self, x):
            seen.append(ctorch.onnx.is_in_onnx_export())
            return ctorch.relu(x) if hasattr(ctorch, "relu") else x.clamp(min=0)

    ctorch.onnx.export(M(), ctorch.randn(2, 3), io.BytesIO(), verbose=True)
    assert seen == [True] and not ctorch.onnx.is_in_onnx_export()
    out = capsys.readouterr().out
    assert out.startswith("graph(input) -> (output)") and "output = " in out


def test_setitem_and_index_put():
    class M(nn.Module):
        def forward(self, x, i):
            y = x.clone()
            y[0] = 1.5                      # int
            y[:, 1:3] = y[:, 3:5] * 2       # slices, tensor value
            y[1, ::2] = -1.0                # int + stepped slice
            y[..., -1] = x[:, 0]            # ellipsis, negative index, broadcast value
            y[y > 2.0] = 0.25               # boolean mask, scalar value
            y[i] = x[i] + 10                # an index tensor (from the input)
            y[i, ctorch.tensor([0, -1])] = -3.0  # two index tensors
            z = x.clone()
            z[:, None, 2] = ctorch.tensor([7.0])  # None in the index
            w = x.clone()
            w.index_put_((i, ctorch.tensor([0, -1])), ctorch.tensor(3.0))
            w.index_put_((i,), x[i] * 0.5, accumulate=True)
            v = ctorch.zeros(3, 6).index_put((ctorch.tensor([[0], [2]]), ctorch.tensor([1, 4, 5])), ctorch.ones(3))
            return y, z, w, v

    m = M()
    x, i = ctorch.randn(4, 6), ctorch.tensor([3, 1])
    data = export_bytes(m, (x, i), input_names=["x", "i"], dynamic_axes={"x": {0: "N"}}, opset_version=17)
    types = op_types(data)
    assert "ScatterElements" in types and "ScatterND" in types and "Where" in types
    sess = ort.InferenceSession(data)
    for n in (4, 6):
        xi = ctorch.randn(n, 6)
        ii = ctorch.tensor([n - 1, 0])
        got = sess.run(None, {"x": npy(xi), "i": npy(ii)})
        for r, g in zip(m(xi, ii), got):
            np.testing.assert_allclose(g, npy(r), rtol=1e-5, atol=1e-5)

    class Acc(nn.Module):
        def forward(self, x):
            return x.clone().index_put_((ctorch.tensor([0]),), x[1], accumulate=True)

    with pytest.raises(ctorch.onnx.UnsupportedOperatorError, match="opset 16"):
        ctorch.onnx.export(Acc(), ctorch.randn(2, 3), io.BytesIO(), opset_version=15)
    roundtrip(Acc(), ctorch.randn(3, 4), dynamic=False)


@pytest.mark.parametrize("dims", [(4, 3), (4, 3, 5), (4, 3, 5, 6)])
def test_batch_norm_batch_statistics(dims):
    # torch.onnx exports the eval behaviour by default and the batch-statistics behaviour with
    # training=TrainingMode.TRAINING; track_running_stats=False always uses batch statistics
    bn_cls = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d}[len(dims)]
    m = bn_cls(3)
    m.weight.data.uniform_(0.5, 1.5)
    m.bias.data.uniform_(-0.5, 0.5)
    m.running_mean.fill_(0.3)
    m.running_var.fill_(2.0)
    x = ctorch.randn(*dims) * 2 + 1
    for training, want_train in ((None, False), (ctorch.onnx.TrainingMode.EVAL, False),
                                 (ctorch.onnx.TrainingMode.TRAINING, True)):
        f = io.BytesIO()
        kw = {} if training is None else {"training": training}
        ctorch.onnx.export(m, (x,), f, input_names=["x"], dynamic_axes={"x": {0: "N"}}, **kw)
        assert m.training  # modes restored
        onnx.checker.check_model(onnx.load_from_string(f.getvalue()), full_check=True)
        sess = ort.InferenceSession(f.getvalue())
        for n in (4, 7):
            xi = ctorch.randn(n, *dims[1:]) * 2 + 1
            with ctorch.no_grad():
                ref = F.batch_norm(xi, m.running_mean.clone(), m.running_var.clone(), m.weight, m.bias,
                                   training=want_train, eps=m.eps)
            np.testing.assert_allclose(sess.run(None, {"x": npy(xi)})[0], npy(ref), rtol=1e-4, atol=1e-5)
    m2 = bn_cls(3, affine=False, track_running_stats=False).eval()
    roundtrip(m2, x, sizes=(2, 5), atol=1e-5)


_MORE_OPS = [
    ("sort", lambda x: x.sort(dim=1)[0] + x.sort(dim=1, descending=True)[1].float()),
    ("argsort", lambda x: x.argsort(dim=-1, descending=True)),
    ("sort_batch_axis", lambda x: x.sort(dim=0)[0]),  # sorts along the dynamic axis
    ("topk", lambda x: x.topk(2, dim=1)[0] - x.topk(3, dim=1, largest=False)[1][:, :2].float()),
    ("kthvalue", lambda x: x.kthvalue(2, 1)[0] + x.kthvalue(3, 1, keepdim=True)[1].squeeze(1).float()),
    ("median", lambda x: x.median(1)[0] + x.median(0, keepdim=True)[0].sum() + x.median()),
    ("scatter", lambda x: x.scatter(1, ctorch.tensor([[0, 1]]).expand(x.shape[0], 2), 9.0)),
    ("scatter_src", lambda x: x.scatter(1, (x[:, :3].abs() * 10).long() % 6, x[:, 3:])),
    ("scatter_add", lambda x: x.scatter_add(1, ctorch.tensor([[1, 1, 5]]).expand(x.shape[0], 3), x[:, :3])),
    ("scatter_reduce", lambda x: x.scatter_reduce(1, ctorch.tensor([[1, 1, 5]]).expand(x.shape[0], 3), x[:, :3],
                                                  "prod")),
    ("one_hot", lambda x: nn.functional.one_hot((x.abs() * 3).long() % 4, 4).float().sum(-1)),
    ("index_fill", lambda x: x.index_fill(1, ctorch.tensor([0, -2]), -1.0)),
    ("index_copy", lambda x: x.index_copy(1, ctorch.tensor([5, 0]), x[:, 1:3] * 2)),
    ("index_add", lambda x: x.index_add(1, ctorch.tensor([4, 4, 1]), x[:, :3], alpha=0.5)),
    ("atan2", lambda x: ctorch.atan2(x, x.flip(1)) + ctorch.atan2(x, ctorch.zeros(6))),
    ("roll", lambda x: x.roll(2, 1) + x.roll((1, -7), (1, 1))),
    ("repeat_interleave", lambda x: x.repeat_interleave(2, dim=1)),
    ("repeat_interleave_batch", lambda x: x.repeat_interleave(3, dim=0)),
    ("normalize", lambda x: nn.functional.normalize(x, dim=1) + nn.functional.normalize(x, p=1.0, dim=-1)),
    ("cosine_similarity", lambda x: nn.functional.cosine_similarity(x, x.flip(1) + 0.5, dim=1)),
    ("pairwise_distance", lambda x: nn.functional.pairwise_distance(x, x * 0.5)),
    ("frac", lambda x: (x * 3).frac()),
    ("nan_to_num", lambda x: ctorch.nan_to_num(ctorch.log(x) / (x - x[:, :1]), nan=0.5, neginf=-7.0)),
    ("count_nonzero", lambda x: ctorch.count_nonzero((x > 0).float(), dim=1)),
    ("var_mean", lambda x: ctorch.var_mean(x, 1)[0] + ctorch.std_mean(x, 1, keepdim=True)[1].squeeze(1)),
    ("diagonal", lambda x: x.view(-1, 2, 3).diagonal(0, 1, 2) + x.view(-1, 2, 3).diagonal(1, 1, 2)),
    ("index_two_tensors", lambda x: x[ctorch.tensor([0, 1, -1]), ctorch.tensor([[2], [-1]])] + x[ctorch.tensor(
        [1]), ctorch.tensor([0, 3]), ...].sum()),
    ("pad_circular", lambda x: nn.functional.pad(x.unsqueeze(1), (2, 3), mode="circular")),
    ("interp_nearest_exact", lambda x: nn.functional.interpolate(x.view(-1, 1, 2, 3), size=(5, 7),
                                                                 mode="nearest-exact")),
]


@pytest.mark.parametrize("i", range(len(_MORE_OPS)))
def test_more_ops(i):
    name, fn = _MORE_OPS[i]

    class M(nn.Module):
        def forward(self, x):
            return fn(x)

    roundtrip(M(), ctorch.randn(4, 6), sizes=(2, 4, 5))


def test_static_only_ops():
    for fn in (lambda x: x.trace() + x[:3, :3].trace(), lambda x: ctorch.nonzero(x > 0).float().sum(0),
               lambda x: x[ctorch.where(x > 0)].sum() + ctorch.nonzero(x[0] > 0, as_tuple=True)[0].sum(),
               lambda x: x.roll(1)):
        class M(nn.Module):
            def forward(self, x):
                return fn(x)
        roundtrip(M(), ctorch.randn(4, 6), dynamic=False)
    # still unsupported ops name themselves
    class C(nn.Module):
        def forward(self, x):
            return x.cumprod(1)
    with pytest.raises(ctorch.onnx.UnsupportedOperatorError, match="'cumprod'"):
        ctorch.onnx.export(C(), ctorch.randn(2, 3), io.BytesIO())


@pytest.mark.parametrize("bidirectional,batch_first,layers", [(False, False, 1), (True, True, 2)])
def test_lstm_proj_size_unrolled(bidirectional, batch_first, layers):
    lstm = nn.LSTM(4, 6, num_layers=layers, proj_size=3, bidirectional=bidirectional, batch_first=batch_first)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lstm

        def forward(self, x):
            y, (h, c) = self.lstm(x)
            return y, h, c

    m = M()
    bax = 0 if batch_first else 1
    shape = [5, 2, 4] if not batch_first else [2, 5, 4]
    x = ctorch.randn(*shape)
    data = export_bytes(m, (x,), input_names=["x"], output_names=["y", "h", "c"],
                        dynamic_axes={"x": {bax: "B"}, "y": {bax: "B"}, "h": {1: "B"}, "c": {1: "B"}})
    assert "LSTM" not in op_types(data)
    sess = ort.InferenceSession(data)
    for b in (1, 3):
        shape[bax] = b
        xi = ctorch.randn(*shape)
        with ctorch.no_grad():
            ref = m(xi)
        for r, g in zip(ref, sess.run(None, {"x": npy(xi)})):
            np.testing.assert_allclose(g, npy(r), rtol=1e-5, atol=1e-5)
    # the sequence length is unrolled: a dynamic time axis is refused with a clear error
    with pytest.raises(ctorch.onnx.UnsupportedOperatorError, match="proj_size"):
        ctorch.onnx.export(m, (x,), io.BytesIO(), input_names=["x"], dynamic_axes={"x": {1 - bax: "T"}})
