"""nn.modules.rnn (file layout mirrors torch's so qualified names match).

Each layer and direction runs as: one GEMM for the input projections of all time steps (recorded
by autograd as an ordinary addmm/mm), then the fused recurrent kernel ctorch._C._ns_nn.rnn_layer
(src/kernels/cpu/rnn.c), whose backward is the fused backward through time. Packed sequences run
through the same kernel (active rows per step = batch_sizes[t])."""
import math
import numbers
import warnings

import ctorch

from ..parameter import Parameter
from ..utils.rnn import PackedSequence, _take
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_MODES = {"RNN_TANH": 0, "RNN_RELU": 1, "LSTM": 2, "GRU": 3}
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _dropout(x, p, training):
    from .. import functional as F
    return F.dropout(x, p, training) if training and p else x


def _proj(x, w, b):
    """x (N, I) @ w^T + b."""
    if b is None:
        return ctorch.mm(x, w.t())
    return ctorch.addmm(b, x, w.t())


def _layer(mode, xg, w_hh, b_hh, w_hr, h0, c0, batch_sizes, reverse):
    return ctorch._C._ns_nn.rnn_layer(xg, w_hh, b_hh, w_hr, h0, c0, batch_sizes, _MODES[mode], reverse)


class RNNBase(Module):
    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        num_directions = 2 if bidirectional else 1
        if (not isinstance(dropout, numbers.Number) or not 0 <= dropout <= 1 or isinstance(dropout, bool)):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          "expects num_layers greater than 1, but got dropout=%s and num_layers=%s" % (dropout, num_layers))
        if not isinstance(hidden_size, int):
            raise TypeError("hidden_size should be of type int, got: %s" % type(hidden_size).__name__)
        if hidden_size <= 0:
            raise ValueError("hidden_size must be greater than zero")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _MODES:
            raise ValueError("Unrecognized RNN mode: " + mode)
        if proj_size and mode != "LSTM":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        gate_size = _GATES[mode] * hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        real_hidden = proj_size if proj_size > 0 else hidden_size
        kw = {"dtype": dtype}
        for layer in range(num_layers):
            for direction in range(num_directions):
                layer_input = input_size if layer == 0 else real_hidden * num_directions
                w_ih = Parameter(ctorch.empty((gate_size, layer_input), **kw))
                w_hh = Parameter(ctorch.empty((gate_size, real_hidden), **kw))
                b_ih = Parameter(ctorch.empty(gate_size, **kw))
                b_hh = Parameter(ctorch.empty(gate_size, **kw))
                params = [w_ih, w_hh]
                if bias:
                    params += [b_ih, b_hh]
                if proj_size > 0:
                    params.append(Parameter(ctorch.empty((proj_size, hidden_size), **kw)))
                suffix = "_reverse" if direction == 1 else ""
                names = ["weight_ih_l{}{}", "weight_hh_l{}{}"]
                if bias:
                    names += ["bias_ih_l{}{}", "bias_hh_l{}{}"]
                if proj_size > 0:
                    names += ["weight_hr_l{}{}"]
                names = [n.format(layer, suffix) for n in names]
                for name, param in zip(names, params):
                    setattr(self, name, param)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def _flat_weights(self):
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        return [[getattr(self, w) for w in ws] for ws in self._all_weights]

    def flatten_parameters(self):
        pass

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            weight.data.uniform_(-stdv, stdv)

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    def _weights(self, layer, direction):
        names = self._all_weights[layer * (2 if self.bidirectional else 1) + direction]
        ws = [getattr(self, n) for n in names]
        w_ih, w_hh = ws[0], ws[1]
        b_ih = b_hh = w_hr = None
        k = 2
        if self.bias:
            b_ih, b_hh = ws[2], ws[3]
            k = 4
        if self.proj_size > 0:
            w_hr = ws[k]
        return w_ih, w_hh, b_ih, b_hh, w_hr

    def _check_hidden(self, h, expected, msg="Expected hidden size {}, got {}"):
        if tuple(h.shape) != tuple(expected):
            raise RuntimeError(msg.format(tuple(expected), list(h.shape)))

    def forward(self, input, hx=None):
        D = 2 if self.bidirectional else 1
        real_hidden = self.proj_size if self.proj_size > 0 else self.hidden_size
        is_lstm = self.mode == "LSTM"
        packed = isinstance(input, PackedSequence)
        unbatched = False
        if packed:
            data = input.data
            batch_sizes = [int(b) for b in input.batch_sizes.tolist()]
            B = batch_sizes[0]
            sorted_indices, unsorted_indices = input.sorted_indices, input.unsorted_indices
        else:
            batch_dim = 0 if self.batch_first else 1
            if input.dim() not in (2, 3):
                raise ValueError("%s: Expected input to be 2D or 3D, got %dD input instead"
                                 % (type(self).__name__, input.dim()))
            if input.dim() == 2:
                unbatched = True
                input = input.unsqueeze(batch_dim)
                if hx is not None:
                    if is_lstm:
                        if hx[0].dim() != 2 or hx[1].dim() != 2:
                            raise RuntimeError("For unbatched 2-D input, hx and cx should also be 2-D but got "
                                               "(%d-D, %d-D) tensors" % (hx[0].dim(), hx[1].dim()))
                        hx = (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
                    else:
                        if hx.dim() != 2:
                            raise RuntimeError("For unbatched 2-D input, hx should also be 2-D but got %d-D tensor"
                                               % hx.dim())
                        hx = hx.unsqueeze(1)
            elif hx is not None:
                hs = hx if is_lstm else (hx,)
                for h in hs:
                    if h.dim() != 3:
                        raise RuntimeError("For batched 3-D input, hx and cx should also be 3-D but got %d-D tensor"
                                           % h.dim() if is_lstm else
                                           "For batched 3-D input, hx should also be 3-D but got %d-D tensor"
                                           % h.dim())
            if self.batch_first:
                input = input.transpose(0, 1)
            T, B = input.shape[0], input.shape[1]
            batch_sizes = [B] * T
            data = input.reshape(T * B, input.shape[2])
            sorted_indices = unsorted_indices = None
        if data.shape[-1] != self.input_size:
            raise RuntimeError("input.size(-1) must be equal to input_size. Expected %d, got %d"
                               % (self.input_size, data.shape[-1]))
        dtype = data.dtype
        if hx is None:
            h0 = ctorch.zeros((self.num_layers * D, B, real_hidden), dtype=dtype)
            c0 = ctorch.zeros((self.num_layers * D, B, self.hidden_size), dtype=dtype) if is_lstm else None
        else:
            if is_lstm:
                h0, c0 = hx
            else:
                h0, c0 = hx, None
            if sorted_indices is not None:
                h0 = _take(h0, sorted_indices, 1)
                if c0 is not None:
                    c0 = _take(c0, sorted_indices, 1)
            if is_lstm:
                self._check_hidden(h0, (self.num_layers * D, B, real_hidden), "Expected hidden[0] size {}, got {}")
                self._check_hidden(c0, (self.num_layers * D, B, self.hidden_size), "Expected hidden[1] size {}, got {}")
            else:
                self._check_hidden(h0, (self.num_layers * D, B, real_hidden))
        x = data
        hns, cns = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, d)
                idx = layer * D + d
                if self.mode != "GRU" and b_ih is not None and b_hh is not None:
                    # the gates are linear in both biases: one summed bias added by the kernel,
                    # whose bias gradient then reaches b_ih and b_hh (no bias copy into xg, no
                    # second sum of the same gradient)
                    xg, b_hh = ctorch.mm(x, w_ih.t()), b_ih + b_hh
                else:
                    xg = _proj(x, w_ih, b_ih)
                out, hn, cn, _ = _layer(self.mode, xg, w_hh, b_hh, w_hr, h0.select(0, idx), c0.select(0, idx) if is_lstm else None,
                                        batch_sizes, d == 1)
                outs.append(out)
                hns.append(hn)
                cns.append(cn)
            x = outs[0] if D == 1 else ctorch.cat(outs, 1)
            if layer < self.num_layers - 1:
                x = _dropout(x, self.dropout, self.training)
        h_n = ctorch.stack(hns, 0)
        c_n = ctorch.stack(cns, 0) if is_lstm else None
        if unsorted_indices is not None:
            h_n = _take(h_n, unsorted_indices, 1)
            if is_lstm:
                c_n = _take(c_n, unsorted_indices, 1)
        hidden = (h_n, c_n) if is_lstm else h_n
        if packed:
            return PackedSequence(x, input.batch_sizes, sorted_indices, unsorted_indices), hidden
        out = x.reshape(len(batch_sizes), B, x.shape[-1])
        if self.batch_first:
            out = out.transpose(0, 1)
        if unbatched:
            out = out.squeeze(0 if self.batch_first else 1)
            hidden = (h_n.squeeze(1), c_n.squeeze(1)) if is_lstm else h_n.squeeze(1)
        return out, hidden


class RNN(RNNBase):
    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, device=None, dtype=None, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if kwargs:
            raise TypeError("RNN.__init__() got an unexpected keyword argument '%s'" % next(iter(kwargs)))
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError("Unknown nonlinearity '%s'. Select from 'tanh' or 'relu'." % nonlinearity)
        self.nonlinearity = nonlinearity
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device=device, dtype=dtype)


class GRU(RNNBase):
    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if kwargs:
            raise TypeError("GRU.__init__() got an unexpected keyword argument '%s'" % next(iter(kwargs)))
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


class RNNCellBase(Module):
    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(ctorch.empty((num_chunks * hidden_size, input_size), dtype=dtype))
        self.weight_hh = Parameter(ctorch.empty((num_chunks * hidden_size, hidden_size), dtype=dtype))
        if bias:
            self.bias_ih = Parameter(ctorch.empty(num_chunks * hidden_size, dtype=dtype))
            self.bias_hh = Parameter(ctorch.empty(num_chunks * hidden_size, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self):
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self):
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            weight.data.uniform_(-stdv, stdv)

    def _cell(self, mode, input, hx, cx):
        if input.dim() not in (1, 2):
            raise ValueError("%s: Expected input to be 1D or 2D, got %dD instead" % (type(self).__name__, input.dim()))
        if hx is not None and hx.dim() not in (1, 2):
            raise ValueError("%s: Expected hidden to be 1D or 2D, got %dD instead" % (type(self).__name__, hx.dim()))
        batched = input.dim() == 2
        if not batched:
            input = input.unsqueeze(0)
        if input.shape[1] != self.input_size:
            raise RuntimeError("input has inconsistent input_size: got %d expected %d" % (input.shape[1], self.input_size))
        B = input.shape[0]
        if hx is None:
            hx = ctorch.zeros((B, self.hidden_size), dtype=input.dtype)
            if mode == "LSTM":
                cx = ctorch.zeros((B, self.hidden_size), dtype=input.dtype)
        elif not batched:
            hx = hx.unsqueeze(0)
            cx = cx.unsqueeze(0) if cx is not None else None
        if hx.shape[0] != B:
            raise RuntimeError("Input batch size %d doesn't match hidden0 batch size %d" % (B, hx.shape[0]))
        if hx.shape[1] != self.hidden_size:
            raise RuntimeError("hidden0 has inconsistent hidden_size: got %d, expected %d" % (hx.shape[1], self.hidden_size))
        xg = _proj(input, self.weight_ih, self.bias_ih)
        _, hn, cn, _ = _layer(mode, xg, self.weight_hh, self.bias_hh, None, hx, cx, [B], False)
        if not batched:
            hn = hn.squeeze(0)
            cn = cn.squeeze(0)
        return (hn, cn) if mode == "LSTM" else hn


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        if self.nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif self.nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise RuntimeError("Unknown nonlinearity: %s" % self.nonlinearity)
        return self._cell(mode, input, hx, None)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        if hx is None:
            return self._cell("LSTM", input, None, None)
        return self._cell("LSTM", input, hx[0], hx[1])


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        return self._cell("GRU", input, hx, None)
