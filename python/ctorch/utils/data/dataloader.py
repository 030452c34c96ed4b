"""DataLoader: batches from a dataset, in this process or in worker processes.

With num_workers > 0, each worker gets index batches round-robin through its own queue and
sends collated batches back through one result queue; batch tensors travel as shared
memory (see ctorch.multiprocessing.reductions), and results are reordered so the batch
sequence is identical to num_workers=0. The main process checks worker liveness while it
waits, so a crashed or killed worker raises an error instead of hanging."""
import gc
import glob
import itertools
import multiprocessing as python_multiprocessing
import os
import queue
import threading
import warnings

from ... import _C
from . import _utils
from ._utils.collate import default_collate, default_convert
from ._utils.worker import ExceptionWrapper, _IterableDatasetStopIteration, _ResumeIteration, get_worker_info
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info", "default_collate", "default_convert"]


class _InfiniteConstantSampler:
    def __iter__(self):
        while True:
            yield None


def _base_seed(generator):
    import ctorch
    kw = {"generator": generator} if generator is not None else {}
    return int(ctorch.empty((), dtype=ctorch.int64).random_(**kw).item())


class DataLoader:
    """Combines a dataset and a sampler; iterates over batches.

    Memory with ``num_workers > 0`` (fork start method): workers share the parent's memory
    copy-on-write. The loader freezes the garbage collector's view of every existing object
    (``gc.freeze()``) while it forks, so garbage collections inside workers never write into the
    dataset's objects. Reading a Python object still writes its reference count, though, so a
    dataset that holds millions of small Python objects (a list of file names, labels, dicts) gets
    copied page by page into every worker that reads it: the "copy-on-read" problem, which
    CPython makes unavoidable for plain lists. Hold such data in flat buffers instead: tensors,
    numpy arrays, or ``ctorch.utils.data.CompactList(items)``, which packs a list of ints, floats,
    strs, bytes or any picklable items into one buffer plus offsets and returns the items on
    indexing. A worker reading all 1.5M file names of a plain list copies ~93 MB; from a
    CompactList, under 1.5 MB (tests/python/test_data.py measures Private_Dirty)."""

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None, persistent_workers=False,
                 pin_memory_device="", in_order=True):
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable "
                             "multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 "
                             "to enable multiprocessing, otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.in_order = in_order

        if isinstance(dataset, IterableDataset):
            self._dataset_kind = "iterable"
            if shuffle not in {False, None}:
                raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                                 "shuffle=%s" % shuffle)
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler option, but got "
                                 "sampler=%s" % sampler)
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified batch_sampler option, but got "
                                 "batch_sampler=%s" % batch_sampler)
        else:
            shuffle = bool(shuffle)
            self._dataset_kind = "map"

        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and "
                                 "drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None:
            if drop_last:
                raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with "
                                 "drop_last")

        if sampler is None:
            if self._dataset_kind == "iterable":
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.persistent_workers = persistent_workers
        self._iterator = None
        self._initialized = True

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def _get_iterator(self):
        if self.num_workers == 0:
            return _SingleProcessDataLoaderIter(self)
        return _MultiProcessingDataLoaderIter(self)

    def __iter__(self):
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None:
                self._iterator = self._get_iterator()
            else:
                self._iterator._reset(self)
            return self._iterator
        return self._get_iterator()

    def __len__(self):
        if self._dataset_kind == "iterable":
            length = len(self.dataset)
            if self.batch_size is not None:
                from math import ceil
                length = length // self.batch_size if self.drop_last else ceil(length / self.batch_size)
            return length
        return len(self._index_sampler)

    def __del__(self):
        it = self.__dict__.get("_iterator")
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()


class _BaseDataLoaderIter:
    def __init__(self, loader):
        self._dataset = loader.dataset
        self._dataset_kind = loader._dataset_kind
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        self._prefetch_factor = loader.prefetch_factor
        self._timeout = loader.timeout
        self._collate_fn = loader.collate_fn
        self._generator = loader.generator
        self._sampler_iter = iter(self._index_sampler)
        self._base_seed = _base_seed(loader.generator)
        self._persistent_workers = loader.persistent_workers
        self._num_yielded = 0
        self._loader_len = len(loader) if _has_len(loader) else None

    def __iter__(self):
        return self

    def _reset(self, loader, first_iter=False):
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0

    def _next_index(self):
        return next(self._sampler_iter)

    def _next_data(self):
        raise NotImplementedError

    def __next__(self):
        if self._sampler_iter is None:
            self._reset(None)
        data = self._next_data()
        self._num_yielded += 1
        return data

    def __len__(self):
        return len(self._index_sampler)


def _has_len(loader):
    try:
        len(loader)
        return True
    except TypeError:
        return False


class _SingleProcessDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader):
        super().__init__(loader)
        from ._utils.fetch import create_fetcher
        self._dataset_fetcher = create_fetcher(self._dataset_kind, self._dataset, self._auto_collation,
                                               self._collate_fn, self._drop_last)

    def _next_data(self):
        index = self._next_index()
        return self._dataset_fetcher.fetch(index)


_iter_counter = itertools.count()


class _MultiProcessingDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader):
        super().__init__(loader)
        from ...multiprocessing.reductions import init_reductions
        init_reductions()
        if loader.multiprocessing_context is None:
            ctx = python_multiprocessing.get_context("fork")
        elif isinstance(loader.multiprocessing_context, str):
            ctx = python_multiprocessing.get_context(loader.multiprocessing_context)
        else:
            ctx = loader.multiprocessing_context
        self._shm_prefix = "%d.%d." % (os.getpid(), next(_iter_counter))
        self._worker_init_fn = loader.worker_init_fn
        self._worker_result_queue = ctx.Queue()
        self._workers_done_event = ctx.Event()
        self._index_queues = []
        self._workers = []
        # Copy-on-write hygiene for forked workers: move every object that exists now into the
        # GC's permanent generation while the workers fork, so a garbage collection inside a worker
        # never writes the GC headers of the parent's objects (the dataset's lists, dicts, tuples)
        # and so never copies their pages. The parent unfreezes right after the forks.
        freeze = ctx.get_start_method() == "fork" and gc.get_freeze_count() == 0
        if freeze:
            gc.freeze()
        self._shutdown = False  # from here on, shutdown reaps whatever workers have started
        try:
            self._start_workers(ctx)
        finally:
            if freeze:
                gc.unfreeze()
        self._reset(loader, first_iter=True)

    def _start_workers(self, ctx):
        for i in range(self._num_workers):
            index_queue = ctx.Queue()
            index_queue.cancel_join_thread()
            w = ctx.Process(
                target=_utils.worker._worker_loop,
                args=(self._dataset_kind, self._dataset, index_queue, self._worker_result_queue,
                      self._workers_done_event, self._auto_collation, self._collate_fn, self._drop_last,
                      self._base_seed, self._worker_init_fn, i, self._num_workers, self._persistent_workers,
                      self._shm_prefix))
            w.daemon = True
            w.start()
            self._index_queues.append(index_queue)
            self._workers.append(w)

    def _reset(self, loader, first_iter=False):
        super()._reset(loader, first_iter)
        self._send_idx = 0
        self._rcvd_idx = 0
        self._task_info = {}
        self._tasks_outstanding = 0
        self._workers_status = [True for _ in range(self._num_workers)]
        self._worker_queue_idx_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:
            for idx in range(self._num_workers):
                self._index_queues[idx].put(_ResumeIteration(_base_seed(self._generator)))
            resume_iteration_cnt = self._num_workers
            while resume_iteration_cnt > 0:
                return_idx, return_data = self._get_data()
                if isinstance(return_idx, _ResumeIteration):
                    resume_iteration_cnt -= 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def _check_workers(self):
        failed = [w for w in self._workers if w.exitcode is not None and w.exitcode != 0]
        failed += [w for i, w in enumerate(self._workers) if self._workers_status[i] and not w.is_alive()
                   and w not in failed]
        if failed:
            self._shutdown_workers()
            desc = []
            for w in failed:
                code = w.exitcode
                if code is not None and code < 0:
                    import signal as _signal
                    try:
                        name = _signal.Signals(-code).name
                    except ValueError:
                        name = str(-code)
                    desc.append("DataLoader worker (pid %d) is killed by signal: %s." % (w.pid, name))
                else:
                    desc.append("DataLoader worker (pid %d) exited unexpectedly with exit code %s." % (w.pid, code))
            raise RuntimeError(" ".join(desc))

    def _try_get_data(self, timeout):
        try:
            data = self._worker_result_queue.get(timeout=timeout)
            return True, data
        except queue.Empty:
            self._check_workers()
            return False, None
        except (EOFError, OSError, ConnectionError):
            self._check_workers()
            return False, None

    def _get_data(self):
        if self._timeout > 0:
            import time
            deadline = time.monotonic() + self._timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._shutdown_workers()
                    raise RuntimeError("DataLoader timed out after %s seconds" % self._timeout)
                success, data = self._try_get_data(min(remaining, _utils.LIVENESS_CHECK_INTERVAL))
                if success:
                    return data
        while True:
            success, data = self._try_get_data(_utils.LIVENESS_CHECK_INTERVAL if len(self._workers) else 0.1)
            if success:
                return data

    def _next_data(self):
        while True:
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info is None:
                    self._rcvd_idx += 1
                    continue
                worker_id = info[0]
                if len(info) == 2 or self._workers_status[worker_id]:
                    break
                del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:
                data = self._task_info.pop(self._rcvd_idx)[1]
                self._rcvd_idx += 1
                return self._process_data(data)
            assert not self._shutdown and self._tasks_outstanding > 0
            idx, data = self._get_data()
            self._tasks_outstanding -= 1
            if self._dataset_kind == "iterable" and isinstance(data, _IterableDatasetStopIteration):
                if self._persistent_workers:
                    self._workers_status[data.worker_id] = False
                else:
                    self._mark_worker_as_unavailable(data.worker_id)
                self._try_put_index()
                continue
            if idx != self._rcvd_idx:
                self._task_info[idx] += (data,)
            else:
                del self._task_info[idx]
                self._rcvd_idx += 1
                return self._process_data(data)

    def _try_put_index(self):
        max_tasks = self._prefetch_factor * self._num_workers
        assert self._tasks_outstanding < max_tasks
        try:
            index = self._next_index()
        except StopIteration:
            return
        for _ in range(self._num_workers):
            worker_queue_idx = next(self._worker_queue_idx_cycle)
            if self._workers_status[worker_queue_idx]:
                break
        else:
            return
        self._index_queues[worker_queue_idx].put((self._send_idx, index))
        self._task_info[self._send_idx] = (worker_queue_idx,)
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _process_data(self, data):
        self._try_put_index()
        if isinstance(data, ExceptionWrapper):
            data.reraise()
        return data

    def _mark_worker_as_unavailable(self, worker_id, shutdown=False):
        q = self._index_queues[worker_id]
        q.put(None)
        self._workers_status[worker_id] = False

    def _shutdown_workers(self):
        if self.__dict__.get("_shutdown", True):
            return
        self._shutdown = True
        try:
            self._workers_done_event.set()
            for worker_id in range(len(self._workers)):
                try:
                    self._index_queues[worker_id].put(None)
                except Exception:
                    pass
            for w in self._workers:
                w.join(timeout=_utils.MP_STATUS_CHECK_INTERVAL)
            for q in self._index_queues:
                q.cancel_join_thread()
                q.close()
        finally:
            for w in self._workers:
                if w.is_alive():
                    w.terminate()
                    w.join(timeout=1.0)
            try:
                self._worker_result_queue.cancel_join_thread()
                self._worker_result_queue.close()
            except Exception:
                pass
            # shared-memory batches created by workers but never received
            for path in glob.glob("/dev/shm/ctorch.%s*" % self._shm_prefix):
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def __del__(self):
        self._shutdown_workers()


_ = (_C, threading, warnings, get_worker_info)
