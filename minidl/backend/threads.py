"""How many CPU threads minidl computes with: numba's parallel kernels and the BLAS under numpy.

``set_num_threads(n)`` sets both (as ``torch.set_num_threads`` does for torch): numba
through ``numba.set_num_threads`` (capped at the threads numba started with, and, as in
numba, for the calling thread), BLAS/OpenMP through a ``threadpoolctl`` limit that is held
until the next call. ``get_num_threads()`` returns the last value set, or numba's (else
the CPU count) before any call. Where numba or threadpoolctl is missing, that part is
skipped.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["get_num_threads", "set_num_threads"]

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
    """Use ``n`` threads for numba kernels and for BLAS (numpy's matmul)."""
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
