"""nn.utils.rnn: PackedSequence and the pad/pack helpers (row moves through differentiable views/cat)."""
from collections import namedtuple

import ctorch

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "unpad_sequence", "pack_sequence", "unpack_sequence"]


def _take(x, idx, dim=0):
    """x rows reordered by idx (a list or 1-d int tensor), differentiably."""
    idx = [int(i) for i in (idx.tolist() if isinstance(idx, ctorch.Tensor) else idx)]
    if idx == list(range(x.shape[dim])):
        return x
    parts = x.unbind(dim)
    return ctorch.stack([parts[i] for i in idx], dim)


def invert_permutation(permutation):
    if permutation is None:
        return None
    perm = permutation.tolist()
    out = [0] * len(perm)
    for i, p in enumerate(perm):
        out[p] = i
    return ctorch.tensor(out, dtype=ctorch.int64)


_PackedSequenceBase = namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


class PackedSequence(_PackedSequenceBase):
    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is not None:
            return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)
        data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def double(self):
        return self.to(dtype=ctorch.float64)

    def float(self):
        return self.to(dtype=ctorch.float32)

    def cpu(self, *args, **kwargs):
        return self

    @property
    def is_cuda(self):
        return False

    def is_pinned(self):
        return False


def _pack_time_major(x, lengths):
    """x (T, B, *) with B sorted by decreasing lengths -> (data, batch_sizes list)."""
    bs = []
    for t in range(int(lengths[0]) if lengths else 0):
        bs.append(sum(1 for n in lengths if n > t))
    data = ctorch.cat([x.select(0, t).narrow(0, 0, b) for t, b in enumerate(bs)], 0) if bs else x.reshape((0,) + tuple(x.shape[2:]))
    return data, bs


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    if isinstance(lengths, ctorch.Tensor):
        lengths = lengths.tolist()
    else:
        lengths = [int(n) for n in lengths]
    if enforce_sorted:
        if any(lengths[i] < lengths[i + 1] for i in range(len(lengths) - 1)):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence "
                               "to sidestep this requirement if you do not need ONNX exportability.")
        sorted_indices = None
    else:
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        sorted_indices = ctorch.tensor(order, dtype=ctorch.int64)
        lengths = [lengths[i] for i in order]
        input = _take(input, order, 0 if batch_first else 1)
    if any(n <= 0 for n in lengths):
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' "
                           "that is <= 0")
    if batch_first:
        input = input.transpose(0, 1)
    if lengths[0] > input.shape[0]:
        raise RuntimeError("Expected sequence length to be larger than or equal to the maximum length")
    data, bs = _pack_time_major(input, lengths)
    return PackedSequence(data, ctorch.tensor(bs, dtype=ctorch.int64), sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    data, batch_sizes = sequence.data, sequence.batch_sizes.tolist()
    max_len = len(batch_sizes)
    if total_length is not None:
        if total_length < max_len:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, "
                             "but got total_length=%d and max sequence length being %d" % (total_length, max_len))
    else:
        total_length = max_len
    B = batch_sizes[0] if batch_sizes else 0
    rows = []
    off = 0
    tail = tuple(data.shape[1:])
    for b in batch_sizes:
        step = data.narrow(0, off, b)
        if b < B:
            step = ctorch.cat([step, ctorch.full((B - b,) + tail, padding_value, dtype=data.dtype)], 0)
        rows.append(step)
        off += b
    for _ in range(total_length - max_len):
        rows.append(ctorch.full((B,) + tail, padding_value, dtype=data.dtype))
    out = ctorch.stack(rows, 0)
    lengths = [sum(1 for b in batch_sizes if b > i) for i in range(B)]
    lengths_t = ctorch.tensor(lengths, dtype=ctorch.int64)
    if sequence.unsorted_indices is not None:
        order = sequence.unsorted_indices.tolist()
        out = _take(out, order, 1)
        lengths_t = ctorch.tensor([lengths[i] for i in order], dtype=ctorch.int64)
    if batch_first:
        out = out.transpose(0, 1)
    return out, lengths_t


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    if padding_side not in ("left", "right"):
        raise ValueError("Expected padding_side to be one of left or right, but got %s." % padding_side)
    if isinstance(sequences, ctorch.Tensor):
        sequences = sequences.unbind(0)
    sequences = list(sequences)
    max_len = max(s.shape[0] for s in sequences)
    rows = []
    for s in sequences:
        pad = max_len - s.shape[0]
        if pad:
            filler = ctorch.full((pad,) + tuple(s.shape[1:]), padding_value, dtype=s.dtype)
            s = ctorch.cat([s, filler] if padding_side == "right" else [filler, s], 0)
        rows.append(s)
    return ctorch.stack(rows, 0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    lengths = lengths.tolist() if isinstance(lengths, ctorch.Tensor) else list(lengths)
    return [padded_sequences.select(0, i).narrow(0, 0, int(n)) for i, n in enumerate(lengths)]


def pack_sequence(sequences, enforce_sorted=True):
    lengths = ctorch.tensor([v.shape[0] for v in sequences], dtype=ctorch.int64)
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
