"""ctorch.onnx: export a model to ONNX by tracing the ops one forward call runs.

The tracer (NOTE [Op tracer] in src/python/argparse.h) reports every op called from Python
with its parsed arguments and its result; this module rewrites that list into ONNX nodes
(the graph rewriting lives in _mapping.py) and the C writer (ctorch._C._OnnxModel,
src/serialize/onnx.c) serializes the ModelProto.

With dynamic_axes the forward runs twice, the second time with every dynamic axis grown by
a distinct amount: a dimension (or a Python int argument) that differs between the two runs
depends on a dynamic axis, and is computed at run time in the graph (Shape/Gather/Concat,
or 0/-1 in Reshape) instead of being frozen.
"""
import enum
import io
import os

import ctorch as _ct
from ctorch import _C

from ._mapping import Exporter, UnsupportedOperatorError, OnnxExporterError

__all__ = ["export", "UnsupportedOperatorError", "OnnxExporterError", "is_in_onnx_export", "TrainingMode"]


class TrainingMode(enum.IntEnum):
    """export(training=...): EVAL (default) exports the model's eval behaviour, TRAINING its
    training behaviour (batch norm with batch statistics), PRESERVE each module's current mode."""
    EVAL = 0
    PRESERVE = 1
    TRAINING = 2

_exporting = False


def is_in_onnx_export():
    return _exporting


class _Recorder:
    def __init__(self):
        self.records = []

    def __call__(self, name, names, values, result):
        args = {}
        for k, v in zip(names, values):
            args["input" if k == "self" else k] = v
        self.records.append((name, args, result))


def _trace(model, args, kwargs):
    rec = _Recorder()
    prev = _C._set_tracer(rec)
    try:
        with _ct.no_grad():
            out = model(*args, **kwargs)
    finally:
        _C._set_tracer(prev)
    return rec.records, out


def _flatten_outputs(out):
    if isinstance(out, _ct.Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        res = []
        for o in out:
            res.extend(_flatten_outputs(o))
        return res
    if isinstance(out, dict):
        res = []
        for o in out.values():
            res.extend(_flatten_outputs(o))
        return res
    raise OnnxExporterError("model output of type %s is not supported (tensors, tuples, lists, dicts)"
                            % type(out).__name__)


def _normalize_dynamic_axes(dynamic_axes):
    res = {}
    for name, axes in (dynamic_axes or {}).items():
        if isinstance(axes, dict):
            res[name] = {int(k): str(v) for k, v in axes.items()}
        else:
            res[name] = {int(k): "%s_dynamic_axes_%d" % (name, i + 1) for i, k in enumerate(axes)}
    return res


def _grow(t, axis, extra):
    """t with axis grown by `extra` elements (repeating its leading entries)."""
    axis = axis % t.dim()
    n = t.shape[axis]
    if n == 0:
        raise OnnxExporterError("dynamic axis %d of an input has size 0" % axis)
    parts = [t]
    while extra > 0:
        k = min(extra, n)
        parts.append(t.narrow(axis, 0, k))
        extra -= k
    return _ct.cat(parts, axis)


def export(model, args, f, input_names=None, output_names=None, dynamic_axes=None, opset_version=17,
           do_constant_folding=True, export_params=True, verbose=False, kwargs=None, training=None,
           keep_initializers_as_inputs=None, **unused):
    """Export `model` (an nn.Module or a callable) called with `args` to the ONNX file (path or
    binary file object) `f`. See torch.onnx.export; opsets 13 to 17 are supported."""
    global _exporting
    if opset_version is None:
        opset_version = 17
    if not 13 <= int(opset_version) <= 17:
        raise ValueError("ctorch.onnx.export supports opset_version 13 to 17, got %s" % opset_version)
    if isinstance(args, _ct.Tensor):
        args = (args,)
    elif isinstance(args, list):
        args = tuple(args)
    if not isinstance(args, tuple):
        args = (args,)
    kwargs = dict(kwargs or {})
    if args and isinstance(args[-1], dict) and not kwargs:
        kwargs = args[-1]
        args = args[:-1]
    inputs = [a for a in args if isinstance(a, _ct.Tensor)] + [v for v in kwargs.values()
                                                               if isinstance(v, _ct.Tensor)]
    input_names = list(input_names or [])
    for i in range(len(input_names), len(inputs)):
        input_names.append("input" if len(inputs) == 1 and i == 0 else "input_%d" % i)
    dyn = _normalize_dynamic_axes(dynamic_axes)
    for name in dyn:
        if name not in input_names and (output_names is None or name not in output_names):
            raise ValueError("dynamic_axes names '%s', which is neither an input nor an output name" % name)

    # torch's default (TrainingMode.EVAL): export in eval mode, restore the modes after
    saved_modes = [(m, m.training) for m in model.modules()] if hasattr(model, "modules") else []
    if saved_modes:
        if training is None or training == TrainingMode.EVAL or training is False:
            model.eval()
        elif training == TrainingMode.TRAINING or training is True:
            model.train()
    _exporting = True
    try:
        records, out = _trace(model, args, kwargs)
        records2 = out2 = None
        # run 2: grow every dynamic input axis by an amount particular to its symbol name
        # distinct primes, so that sizes derived from different symbols (2*B vs T...) rarely coincide
        primes = [3, 5, 7, 11, 13, 17, 19, 23, 29, 31]
        symbols = {}
        for name, axes in dyn.items():
            if name in input_names:
                for ax, sym in axes.items():
                    if sym not in symbols:
                        symbols[sym] = primes[len(symbols) % len(primes)] + 31 * (len(symbols) // len(primes))
        if symbols:
            arg_map = {}
            for i, t in enumerate(inputs):
                axes = dyn.get(input_names[i], {})
                g = t
                for ax, sym in axes.items():
                    g = _grow(g, ax, symbols[sym])
                arg_map[id(t)] = g
            new_args = tuple(arg_map.get(id(a), a) if isinstance(a, _ct.Tensor) else a for a in args)
            new_kwargs = {k: (arg_map.get(id(v), v) if isinstance(v, _ct.Tensor) else v) for k, v in kwargs.items()}
            try:
                records2, out2 = _trace(model, new_args, new_kwargs)
            except Exception as e:
                raise OnnxExporterError(
                    "dynamic_axes: the model failed when run again with the dynamic input axes grown (to find "
                    "which sizes depend on them): %s: %s" % (type(e).__name__, e)) from e
            inputs2 = [arg_map[id(t)] for t in inputs]
        else:
            inputs2 = None
        outputs = _flatten_outputs(out)
        outputs2 = _flatten_outputs(out2) if out2 is not None else None
        params = {}
        if hasattr(model, "named_parameters"):
            for n, p in model.named_parameters(remove_duplicate=False) if _accepts_dup(model) else \
                    model.named_parameters():
                params.setdefault(id(p), (n, p))
            for n, b in model.named_buffers():
                if b is not None:
                    params.setdefault(id(b), (n, b))
        output_names = list(output_names or [])
        for i in range(len(output_names), len(outputs)):
            output_names.append("output" if len(outputs) == 1 and i == 0 else "output_%d" % i)
        ex = Exporter(opset_version, records, records2, inputs, inputs2, input_names, outputs, outputs2,
                      output_names, params, dyn, export_params=export_params,
                      keep_initializers_as_inputs=keep_initializers_as_inputs)
        data = ex.build()
    finally:
        _exporting = False
        for m, mode in saved_modes:
            m.training = mode
    if verbose:
        print(ex.describe())
    if isinstance(f, (str, bytes, os.PathLike)):
        with open(f, "wb") as fh:
            fh.write(data)
    elif isinstance(f, io.IOBase) or hasattr(f, "write"):
        f.write(data)
    else:
        raise TypeError("f must be a path or a binary file object, not %s" % type(f).__name__)
    return None


def _accepts_dup(model):
    import inspect
    try:
        return "remove_duplicate" in inspect.signature(model.named_parameters).parameters
    except (TypeError, ValueError):
        return False
