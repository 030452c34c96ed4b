"""SummaryWriter: scalars, histograms, images, text, hparams and matplotlib figures to
TensorBoard event files, with torch.utils.tensorboard's API."""
import math
import os
import socket
import time
from datetime import datetime

from ... import _C

Tensor = _C.Tensor

__all__ = ["SummaryWriter"]


def _torch():
    import ctorch
    return ctorch


def _as_tensor(x):
    t = _torch()
    if isinstance(x, Tensor):
        return x.detach()
    return t.as_tensor(x)


def _scalar(x):
    if isinstance(x, Tensor):
        if x.numel() != 1:
            raise ValueError("scalar should be 0D")
        return float(x.item())
    if hasattr(x, "item") and not isinstance(x, (int, float)):
        return float(x.item())
    return float(x)


def _to_hwc(img, dataformats):
    """A uint8 HWC tensor (1-channel images become RGB, as torch's writer does)."""
    t = _torch()
    x = _as_tensor(img)
    fmt = dataformats.upper()
    if len(fmt) != x.dim():
        raise AssertionError("size of input tensor and input format are different. tensor shape: %s, input_format: %s"
                             % (tuple(x.shape), dataformats))
    if fmt == "HW":
        x = x.unsqueeze(-1)
    elif fmt == "WH":
        x = x.t().unsqueeze(-1)
    elif fmt == "CHW":
        x = x.permute(1, 2, 0)
    elif fmt == "HWC":
        pass
    else:
        raise ValueError("unsupported dataformats %r" % dataformats)
    if x.dtype != t.uint8:
        x = (x.double() * 255.0).clamp(0, 255).round().to(t.uint8) if x.is_floating_point() else \
            x.clamp(0, 255).to(t.uint8)
    if x.shape[2] == 1:
        x = x.expand(-1, -1, 3)
    return x.contiguous()


def _grid(imgs, dataformats):
    """NCHW/NHWC batch -> one CHW grid image (ceil(sqrt(N)) columns, zero padding)."""
    t = _torch()
    x = _as_tensor(imgs)
    fmt = dataformats.upper()
    if fmt == "NHWC":
        x = x.permute(0, 3, 1, 2)
    elif fmt == "NHW":
        x = x.unsqueeze(1)
    elif fmt != "NCHW":
        raise ValueError("unsupported dataformats %r" % dataformats)
    n, c, h, w = x.shape
    if c == 1:
        x = x.expand(-1, 3, -1, -1)
        c = 3
    ncols = int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    canvas = t.zeros((c, nrows * h, ncols * w), dtype=x.dtype)
    for i in range(n):
        r, q = divmod(i, ncols)
        canvas[:, r * h:(r + 1) * h, q * w:(q + 1) * w] = x[i]
    return canvas


class SummaryWriter:
    """Writes entries to event files in log_dir for TensorBoard to read."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120, filename_suffix=""):
        if not log_dir:
            current_time = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", current_time + "_" + socket.gethostname() + comment)
        self.log_dir = str(log_dir)
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self._writer = _C._EventFileWriter(self.log_dir, filename_suffix)
        self._all_writers = {self.log_dir: self._writer}
        self._last_flush = time.time()

    def get_logdir(self):
        return self.log_dir

    def _maybe_flush(self):
        if time.time() - self._last_flush >= self.flush_secs:
            self.flush()

    @staticmethod
    def _step(global_step):
        return 0 if global_step is None else int(global_step)

    @staticmethod
    def _wall(walltime):
        return -1.0 if walltime is None else float(walltime)

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        self._writer.add_scalar(tag, _scalar(scalar_value), self._step(global_step), self._wall(walltime))
        self._maybe_flush()

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        walltime = time.time() if walltime is None else walltime
        for tag, value in tag_scalar_dict.items():
            path = os.path.join(self.log_dir, main_tag.replace("/", "_") + "_" + tag)
            w = self._all_writers.get(path)
            if w is None:
                w = _C._EventFileWriter(path, self.filename_suffix)
                self._all_writers[path] = w
            w.add_scalar(main_tag, _scalar(value), self._step(global_step), float(walltime))
        self._maybe_flush()

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None, max_bins=None):
        nb = bins if isinstance(bins, int) else 30
        if max_bins is not None:
            nb = min(nb, int(max_bins))
        self._writer.add_histogram(tag, _as_tensor(values).double().reshape(-1), nb, self._step(global_step),
                                   self._wall(walltime))
        self._maybe_flush()

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        self._writer.add_image(tag, _to_hwc(img_tensor, dataformats), self._step(global_step), self._wall(walltime))
        self._maybe_flush()

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        self.add_image(tag, _grid(img_tensor, dataformats), global_step, walltime, "CHW")

    def add_figure(self, tag, figure, global_step=None, close=True, walltime=None):
        figs = figure if isinstance(figure, list) else [figure]
        imgs = []
        for fig in figs:
            import numpy as np
            fig.canvas.draw()
            rgba = np.asarray(fig.canvas.buffer_rgba())
            imgs.append(_torch().as_tensor(np.ascontiguousarray(rgba[:, :, :3])))
            if close:
                import matplotlib.pyplot as plt
                plt.close(fig)
        if len(imgs) == 1:
            self.add_image(tag, imgs[0], global_step, walltime, dataformats="HWC")
        else:
            self.add_images(tag, _torch().stack(imgs), global_step, walltime, dataformats="NHWC")

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        self._writer.add_text(tag, str(text_string), self._step(global_step), self._wall(walltime))
        self._maybe_flush()

    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None, run_name=None, global_step=None):
        if not isinstance(hparam_dict, dict) or not isinstance(metric_dict, dict):
            raise TypeError("hparam_dict and metric_dict should be dictionary.")
        hps = []
        for k, v in hparam_dict.items():
            if isinstance(v, Tensor):
                v = v.item()
            if v is None:
                v = "None"
            if not isinstance(v, (bool, int, float, str)):
                v = str(v)
            hps.append((str(k), v))
        run = run_name or str(time.time())
        logdir = os.path.join(self.log_dir, run)
        w = _C._EventFileWriter(logdir, self.filename_suffix)
        try:
            w.add_hparams(hps, [str(k) for k in metric_dict], -1.0)
            for k, v in metric_dict.items():
                w.add_scalar(str(k), _scalar(v), self._step(global_step), -1.0)
        finally:
            w.close()

    def flush(self):
        for w in self._all_writers.values():
            w.flush()
        self._last_flush = time.time()

    def close(self):
        for w in self._all_writers.values():
            w.close()
        self._all_writers = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
