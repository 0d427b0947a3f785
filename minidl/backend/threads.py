"""How many CPU threads minidl computes with: numba's parallel kernels and the BLAS under numpy.

``set_num_threads(n)`` sets both (as ``torch.set_num_threads`` does for torch): numba
through ``numba.set_num_threads`` (capped at the threads numba started with, and, as in
numba, for the calling thread), BLAS/OpenMP through a ``threadpoolctl`` limit that is held
until the next call. ``get_num_threads()`` returns the last value set, or numba's (else
the CPU count) before any call. Where numba or threadpoolctl is missing, that part is
skipped.

``parallel_for(fn, count)`` runs the independent pieces of one op (a convolution's slices of the
batch, batch norm's channels, ReLU's and pooling's samples: :func:`even_ranges`, :func:`thread_ranges`; their
partial sums added in order by :func:`add_up`) on that many threads,
the caller's one of them, each piece's GEMMs on BLAS held at one thread meanwhile. Why not BLAS's
own threads for the GEMMs and numba's for the rest: after a multi-threaded BLAS call OpenBLAS's idle
workers spin for a while, and a second thread of ours then shares a core with one of them
(measured: transforms split over two threads around two-thread GEMMs ran 1.2-1.5x *slower* than one
thread). One pool doing all the work, as oneDNN does for torch, has no such hand-over.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["add_up", "blas_on_one_thread", "even_ranges", "get_num_threads", "matmul", "parallel_for",
           "set_num_threads", "thread_ranges", "threads_for"]

_num_threads: int | None = None
_blas_limit: Any = None  # the threadpoolctl limit in force (kept alive: it is global until replaced)


def _numba() -> Any:
    from minidl.backend import numba_kernels_or_none

    if numba_kernels_or_none() is None and "numba" not in sys.modules:
        return None
    try:
        import numba
    except Exception:
        return None
    return numba


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for minidl's ops (:func:`parallel_for`, :func:`matmul`), numba kernels and BLAS."""
    global _num_threads, _blas_limit
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    nb = _numba()
    if nb is not None:
        nb.set_num_threads(min(n, nb.config.NUMBA_NUM_THREADS))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        if _blas_limit is not None:
            _blas_limit.restore_original_limits()
        _blas_limit = threadpool_limits(limits=n)
    _num_threads = n


def get_num_threads() -> int:
    """The thread count set by :func:`set_num_threads` (numba's, or the CPU count, before)."""
    if _num_threads is not None:
        return _num_threads
    nb = _numba()
    if nb is not None:
        return int(nb.get_num_threads())
    return os.cpu_count() or 1


# ---------------------------------------------------------------------------- parallel_for
#: work moving fewer bytes runs on one thread (:func:`threads_for`): handing a piece to another thread wakes its
#: core, 30-80 us in the virtual machines measured (a parallel_for of nothing: 75-95 us on 2 cores), as long as
#: one core moves about 0.4 MB. ResNet-18 at batch 32 made 192 parallel_for calls a step with thresholds 16x lower.
PARALLEL_MIN_BYTES = 4 * 2**20


#: products of fewer flops run as one BLAS call (on one thread): splitting them costs more than it saves
#: (about 0.35 ms of one core; see PARALLEL_MIN_BYTES)
MATMUL_SPLIT_FLOPS = 48_000_000


def threads_for(nbytes: int, flops: int = 0) -> int:
    """The threads for a piece of work that moves ``nbytes`` and does ``flops``: :func:`get_num_threads`, or 1
    below both :data:`PARALLEL_MIN_BYTES` and :data:`MATMUL_SPLIT_FLOPS`."""
    return get_num_threads() if nbytes >= PARALLEL_MIN_BYTES or flops >= MATMUL_SPLIT_FLOPS else 1


def thread_ranges(count: int, nbytes: int, flops: int = 0) -> list[tuple[int, int]]:
    """0..count (samples, blocks) cut for :func:`threads_for` threads: two ranges a thread, which the threads
    take in turn (:func:`parallel_for`: uneven ranges even out), or one range on one thread.

        >>> set_num_threads(2); thread_ranges(10, 2**30)
        [(0, 2), (2, 5), (5, 7), (7, 10)]
        >>> thread_ranges(10, 0)   # too little work for a hand-over
        [(0, 10)]
    """
    workers = threads_for(nbytes, flops)
    return even_ranges(count, 2 * workers if workers > 1 else 1)


_pool: list[Any] = [None, None]  # [the ThreadPoolExecutor of the helper threads, (pid, its size)]
_blas: list[Any] = []  # [the threadpoolctl controllers of the loaded BLAS libraries, len(sys.modules) then]
_local = threading.local()  # .inside: this thread is running a parallel_for piece


def _blas_controllers() -> list[Any] | None:
    """threadpoolctl's controllers of the loaded BLAS libraries, or None without threadpoolctl. Looked up again
    after new modules were imported (importing scipy loads a second BLAS, which numba's ``np.dot`` calls)."""
    if not _blas or (_blas[0] is not None and _blas[1] != len(sys.modules)):
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas[:] = [None, 0]
        else:
            _blas[:] = [ThreadpoolController().select(user_api="blas").lib_controllers, len(sys.modules)]
    return _blas[0]


def _helpers(n: int) -> ThreadPoolExecutor:
    """A pool of n helper threads, made once per process (a forked child makes its own: threads do not fork)."""
    key = (os.getpid(), n)
    if _pool[1] != key:
        _pool[0] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="minidl")
        _pool[1] = key
    return _pool[0]


def even_ranges(n: int, parts: int) -> list[tuple[int, int]]:
    """0..n cut into at most ``parts`` [lo, hi) ranges in order, their sizes differing by at most one, none
    empty: how minidl shares samples, channels or a product's side among its threads.

        >>> even_ranges(10, 4)
        [(0, 2), (2, 5), (5, 7), (7, 10)]
        >>> even_ranges(2, 4)
        [(0, 1), (1, 2)]
    """
    parts = max(1, min(parts, n))
    bounds = [n * i // parts for i in range(parts + 1)]
    return [(lo, hi) for lo, hi in itertools.pairwise(bounds) if hi > lo]


def add_up(parts: list[Any]) -> Any:
    """The sum of the pieces' partial results (a weight or bias gradient, one per range), added in range order:
    the same cut gives the same bits whichever thread ran which range. The first part is not modified.

        >>> add_up([np.ones(2), np.ones(2), np.ones(2)]).tolist()
        [3.0, 3.0]
    """
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def parallel_for(fn: Callable[[int], None], count: int, threads: int | None = None) -> None:
    """Call ``fn(i)`` for every i in range(count), spread over ``threads`` threads (default
    :func:`get_num_threads`; never more than ``count``), the calling thread one of them; return when all
    are done, raising the first exception any call raised.

    The pieces must be independent (each writes its own part of the outputs) and should release the GIL
    for most of their time (numpy's GEMMs and the nogil numba kernels do). Meanwhile the BLAS libraries
    run on one thread per call (restored after): every thread computes, none waits on another's pool.
    One thread (or no threadpoolctl to hold BLAS with, or a call from inside a piece) runs the pieces in
    order on the caller's thread, BLAS untouched.

        >>> out = [0] * 4
        >>> def square(i):
        ...     out[i] = i * i
        >>> parallel_for(square, 4, threads=2); out
        [0, 1, 4, 9]
    """
    workers = min(get_num_threads() if threads is None else threads, count)
    blas = _blas_controllers() if workers > 1 and not getattr(_local, "inside", False) else None
    if blas is None:
        for i in range(count):
            fn(i)
        return
    counter = itertools.count()  # next() on it is atomic: each piece is taken once

    def work() -> None:
        _local.inside = True
        try:
            i = next(counter)
            while i < count:
                fn(i)
                i = next(counter)
        finally:
            _local.inside = False

    with blas_on_one_thread():
        futures = [_helpers(workers - 1).submit(work) for _ in range(workers - 1)]
        error = None
        try:
            work()
        except BaseException as e:  # the helpers must finish before the caller may go on
            error = e
        for f in futures:
            try:
                f.result()
            except BaseException as e:
                error = error or e
        if error is not None:
            raise error


@contextmanager
def blas_on_one_thread() -> Iterator[None]:
    """Hold the BLAS libraries at one thread per call inside the block (restored after; nothing where
    threadpoolctl is missing). Around the serial GEMMs of an op that also calls :func:`parallel_for`:
    a multi-threaded BLAS call before it would leave BLAS's workers spinning on the cores its threads need.

        >>> with blas_on_one_thread():   # a thin product, then the pieces: no BLAS pool between
        ...     u = np.ones((16, 9)) @ np.ones((9, 4))
        ...     parallel_for(lambda i: None, 2)
    """
    blas = _blas_controllers() or []
    saved = [(c, c.num_threads) for c in blas]
    for c, n in saved:
        if n != 1:
            c.set_num_threads(1)
    try:
        yield
    finally:
        for c, n in saved:
            if n != 1:
                c.set_num_threads(n)


def matmul(a: Any, b: Any, out: Any | None = None) -> Any:
    """``np.matmul(a, b)`` (stacks of matrices, numpy's broadcasting) computed on minidl's threads: the
    product cut into one piece per thread along its longest side (the columns, the rows, or the summed
    dimension, whose pieces' results are then added), each piece one BLAS call on one thread
    (:func:`parallel_for`). minidl's ops take their GEMMs through here, so that BLAS's own threads never
    run (and never spin, idle, on the cores minidl's next op needs: see the module docstring). Arrays
    other than numpy's (cupy) go to their own ``matmul``.

        >>> a, b = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
        >>> bool((matmul(a, b) == a @ b).all())
        True
    """
    if type(a) is not np.ndarray or type(b) is not np.ndarray:
        from minidl.backend import array_module

        return array_module(a).matmul(a, b, out=out)
    if getattr(_local, "inside", False):  # a piece of a parallel_for: one call, BLAS is held at one thread
        return np.matmul(a, b, out=out)
    if a.ndim < 2 or b.ndim < 2:  # a vector: numpy's own rules, one call
        with blas_on_one_thread():
            return np.matmul(a, b, out=out)
    (m, k), n = a.shape[-2:], b.shape[-1]
    lead = a.shape[:-2] if a.shape[:-2] == b.shape[:-2] else np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    count = math.prod(lead)
    flops = 2 * m * n * k * count
    moved = a.nbytes + b.nbytes + m * n * count * a.itemsize  # a thin product (K = 9) is memory-bound
    workers = get_num_threads()
    side = max((n, "n"), (m, "m"), (k, "k"))[1] if workers > 1 else ""
    size = {"n": n, "m": m, "k": k}.get(side, 0)
    if threads_for(moved, flops) == 1 or size < 2 * workers or _blas_controllers() is None:
        with blas_on_one_thread():
            return np.matmul(a, b, out=out)
    if out is None:
        out = np.empty((*lead, m, n), dtype=np.result_type(a, b))
    ranges = even_ranges(size, workers)
    parts: list[Any] = [None] * len(ranges)

    def piece(i: int) -> None:
        lo, hi = ranges[i]
        if side == "n":
            np.matmul(a, b[..., lo:hi], out=out[..., lo:hi])
        elif side == "m":
            np.matmul(a[..., lo:hi, :], b, out=out[..., lo:hi, :])
        else:
            parts[i] = np.matmul(a[..., lo:hi], b[..., lo:hi, :])

    parallel_for(piece, len(ranges))
    if side == "k":
        np.add(parts[0], parts[1], out=out)
        for p in parts[2:]:
            out += p
    return out
