"""minidl's own threads (minidl/backend/threads.py): parallel_for and the threaded matmul.

- ``parallel_for`` calls every piece exactly once, on up to the given number of threads (the caller's
  one of them), returns only when all are done, raises the first error, runs nested calls in order;
  BLAS runs on one thread inside and gets its thread count back after (also after an error);
- ``blas_on_one_thread`` holds BLAS at one thread and restores it;
- ``threads.matmul`` computes ``np.matmul``'s result for every way it cuts the product (columns, rows,
  the summed dimension), for stacks with broadcasting, vectors, ``out``, and one thread;
- a convolution leaves BLAS's thread count as it found it.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.backend import threads

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads() -> dict[str, int]:
    """Each loaded BLAS library's thread count, by its file (importing scipy may load a second one)."""
    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    return {c.filepath: c.num_threads for c in blas.lib_controllers}


@pytest.fixture
def two_threads():
    before = threads.get_num_threads()
    threads.set_num_threads(2)
    try:
        yield
    finally:
        threads.set_num_threads(before)


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("count", [0, 1, 2, 5, 17])
def test_parallel_for_calls_each_piece_once(workers, count):
    seen, lock, names = [], threading.Lock(), set()

    def piece(i):
        with lock:
            seen.append(i)
            names.add(threading.current_thread().name)

    threads.parallel_for(piece, count, threads=workers)
    assert sorted(seen) == list(range(count))
    assert len(names) <= max(1, min(workers, count))


def test_parallel_for_holds_blas_at_one_thread_and_restores_it(two_threads):
    before = _blas_threads()
    inside = []
    threads.parallel_for(lambda i: inside.append(_blas_threads()), 4, threads=2)
    assert all(t[lib] == 1 for t in inside for lib in before)
    assert _blas_threads() == before


def test_parallel_for_raises_after_every_piece_ran(two_threads):
    before, done = _blas_threads(), []

    def piece(i):
        if i == 1:
            raise KeyError("piece 1")
        done.append(i)

    with pytest.raises(KeyError, match="piece 1"):
        threads.parallel_for(piece, 6, threads=2)
    assert sorted(done) == [0, 2, 3, 4, 5]
    assert _blas_threads() == before


def test_nested_parallel_for_runs_in_order(two_threads):
    out = np.zeros((3, 4), dtype=int)

    def row(i):
        threads.parallel_for(lambda j: out.__setitem__((i, j), 10 * i + j), 4)

    threads.parallel_for(row, 3, threads=2)
    assert (out == np.arange(3)[:, None] * 10 + np.arange(4)).all()


def test_blas_on_one_thread_restores(two_threads):
    before = _blas_threads()
    with threads.blas_on_one_thread():
        assert all(_blas_threads()[lib] == 1 for lib in before)
    assert _blas_threads() == before


@st.composite
def products(draw):
    """Operand shapes of np.matmul: stacks with broadcast leading dims, or a vector on one side."""
    m, k, n = draw(st.integers(1, 40)), draw(st.integers(1, 40)), draw(st.integers(1, 40))
    lead = draw(st.sampled_from([(), (3,), (2, 1)]))
    lead_b = tuple(reversed(lead)) if len(lead) == 2 else lead
    kind = draw(st.sampled_from(["mat", "vec_a", "vec_b"]))
    a = (k,) if kind == "vec_a" else (*lead, m, k)
    b = (k,) if kind == "vec_b" else (*lead_b, k, n)
    return a, b, draw(st.sampled_from([np.float32, np.float64]))


@given(products(), st.integers(1, 3))
def test_matmul_is_numpys(shapes, workers):
    a_shape, b_shape, dtype = shapes
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape).astype(dtype), rng.standard_normal(b_shape).astype(dtype)
    want = np.matmul(a, b)
    before, split = threads.get_num_threads(), threads.MATMUL_SPLIT_FLOPS
    threads.set_num_threads(workers)
    threads.MATMUL_SPLIT_FLOPS = 0  # cut even these small products
    try:
        got = threads.matmul(a, b)
    finally:
        threads.MATMUL_SPLIT_FLOPS = split
        threads.set_num_threads(before)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


@pytest.mark.parametrize("shape", [((2, 8, 30), (2, 30, 500)), ((2, 500, 30), (30, 8)), ((7, 3000), (3000, 5))])
def test_matmul_cuts_each_side(shape, two_threads, monkeypatch):
    """Columns, rows and the summed dimension (its pieces' products added), into ``out`` too."""
    monkeypatch.setattr(threads, "MATMUL_SPLIT_FLOPS", 0)
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(shape[0]), rng.standard_normal(shape[1])
    want = a @ b
    np.testing.assert_allclose(threads.matmul(a, b), want, rtol=1e-12, atol=1e-12)
    out = np.empty_like(want)
    assert threads.matmul(a, b, out=out) is out
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


def test_convolution_leaves_blas_threads_as_they_were(two_threads):
    before = _blas_threads()
    x = md.randn(8, 16, 12, 12, requires_grad=True)
    conv = md.nn.Conv2d(16, 32, 3, padding=1)
    conv(x).sum().backward()
    assert {lib: n for lib, n in _blas_threads().items() if lib in before} == before


def test_threads_for_small_work_is_one(two_threads):
    assert threads.threads_for(threads.PARALLEL_MIN_BYTES - 1) == 1
    assert threads.threads_for(threads.PARALLEL_MIN_BYTES) == 2
    assert threads.threads_for(0, threads.MATMUL_SPLIT_FLOPS - 1) == 1
    assert threads.threads_for(0, threads.MATMUL_SPLIT_FLOPS) == 2  # few bytes, many flops


def test_thread_ranges_two_per_thread_or_one(two_threads):
    big = threads.PARALLEL_MIN_BYTES
    assert threads.thread_ranges(10, big) == [(0, 2), (2, 5), (5, 7), (7, 10)]
    assert threads.thread_ranges(10, 0, threads.MATMUL_SPLIT_FLOPS) == [(0, 2), (2, 5), (5, 7), (7, 10)]
    assert threads.thread_ranges(10, big - 1) == [(0, 10)]
    assert threads.thread_ranges(3, big) == [(0, 1), (1, 2), (2, 3)]
    assert threads.thread_ranges(0, big) == []


@given(st.integers(0, 200), st.integers(1, 9))
def test_even_ranges_cover_in_order_evenly(n, parts):
    ranges = threads.even_ranges(n, parts)
    assert [i for lo, hi in ranges for i in range(lo, hi)] == list(range(n))
    assert all(hi > lo for lo, hi in ranges) and len(ranges) == min(parts, n)
    sizes = [hi - lo for lo, hi in ranges]
    assert not sizes or max(sizes) - min(sizes) <= 1
    assert threads.even_ranges(10, 4) == [(0, 2), (2, 5), (5, 7), (7, 10)]


def test_add_up_in_order_leaves_the_parts():
    parts = [np.full(3, 1e16), np.full(3, 1.0), np.full(3, -1e16)]
    first = parts[0].copy()
    assert threads.add_up(parts).tolist() == [0.0, 0.0, 0.0]  # ((1e16 + 1) - 1e16): the order's rounding
    assert np.array_equal(parts[0], first)
    assert threads.add_up([np.ones(2)]).tolist() == [1.0, 1.0]
