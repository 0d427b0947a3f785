"""One helper to test any op against torch, forward and every gradient (teenygrad-style).

    check_op(lambda x, y: x * y, [a, b])                # same lambda for both libraries
    check_op(lambda x: md.softmax(x, 1), [a], torch_fn=lambda x: torch.softmax(x, 1))

``inputs`` are numpy arrays; each becomes a minidl and a torch tensor (requiring grad when
float, unless ``requires_grad`` says otherwise). Outputs (one or a tuple) are compared,
then a random upstream gradient is backpropagated through both and every input's
gradient is compared. A random upstream gradient (not ``out.sum()``) catches ops whose
gradient of a sum is trivially zero (softmax, normalisation).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
import torch

import minidl as md

TOLERANCES = {np.float32: (1e-4, 1e-5), np.float64: (1e-9, 1e-10)}


def _tols(dtype: np.dtype, rtol: float | None, atol: float | None) -> tuple[float, float]:
    r, a = TOLERANCES.get(np.dtype(dtype).type, (1e-4, 1e-5))
    return (r if rtol is None else rtol), (a if atol is None else atol)


def to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, md.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def assert_close(actual: Any, expected: Any, rtol: float, atol: float, what: str) -> None:
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != torch's {e.shape}"
    assert a.dtype == e.dtype, f"{what}: dtype {a.dtype} != torch's {e.dtype}"
    if a.dtype.kind in "biu":
        np.testing.assert_array_equal(a, e, err_msg=what)
    else:
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def _outputs(out: Any) -> list[Any]:
    if isinstance(out, (tuple, list)):
        return list(out)
    return [out]


def check_op(
    fn: Callable[..., Any],
    inputs: Sequence[np.ndarray],
    torch_fn: Callable[..., Any] | None = None,
    requires_grad: Sequence[bool] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
    check_grad: bool = True,
) -> None:
    """Assert ``fn`` (minidl) and ``torch_fn`` (default: ``fn``) agree, forward and backward."""
    torch_fn = torch_fn or fn
    inputs = [np.asarray(x) for x in inputs]
    if requires_grad is None:
        requires_grad = [x.dtype.kind == "f" for x in inputs]
    m_in = [md.tensor(x, requires_grad=rg) for x, rg in zip(inputs, requires_grad)]
    t_in = [torch.tensor(x, requires_grad=rg) for x, rg in zip(inputs, requires_grad)]
    m_out = _outputs(fn(*m_in))
    t_out = _outputs(torch_fn(*t_in))
    assert len(m_out) == len(t_out), f"{len(m_out)} outputs != torch's {len(t_out)}"
    dtype = next((x.dtype for x in inputs if x.dtype.kind == "f"), np.dtype(np.float32))
    r, a = _tols(dtype, rtol, atol)
    for i, (mo, to) in enumerate(zip(m_out, t_out)):
        assert_close(mo, to, r, a, f"output {i}")
    if not check_grad:
        return
    rng = np.random.default_rng(seed)
    m_roots, m_grads, t_roots, t_grads = [], [], [], []
    for mo, to in zip(m_out, t_out):
        if isinstance(to, torch.Tensor) and to.requires_grad:
            assert mo.requires_grad, "torch's output requires grad, minidl's does not"
            g = rng.standard_normal(tuple(to.shape)).astype(to_numpy(to).dtype)
            m_roots.append(mo)
            m_grads.append(md.tensor(g))
            t_roots.append(to)
            t_grads.append(torch.tensor(g))
    if not t_roots:
        return
    md.autograd.backward(m_roots, m_grads)
    torch.autograd.backward(t_roots, t_grads)
    for k, (mi, ti) in enumerate(zip(m_in, t_in)):
        if not ti.requires_grad:
            continue
        if ti.grad is None:
            assert mi.grad is None or not np.any(mi.grad.numpy()), f"input {k}: torch has no gradient"
            continue
        assert mi.grad is not None, f"input {k}: minidl computed no gradient"
        assert_close(mi.grad, ti.grad, r, a, f"gradient of input {k}")


def check_gradcheck(fn: Callable[..., Any], inputs: Sequence[np.ndarray], **kwargs: Any) -> None:
    """float64 finite-difference check of minidl's gradient of ``fn`` at ``inputs``."""
    ts = [md.tensor(np.asarray(x, dtype=np.float64), requires_grad=True) for x in inputs]
    assert md.autograd.gradcheck(fn, ts, **kwargs)


def raises_like_torch(md_fn: Any, torch_fn: Any, *fragments: str) -> Exception:
    """``md_fn()`` raises the same error type as ``torch_fn()``, with ``fragments`` in its message."""
    with pytest.raises(Exception) as t_info:
        torch_fn()
    expected = type(t_info.value)
    with pytest.raises(Exception) as m_info:
        md_fn()
    err = m_info.value
    assert isinstance(err, expected), f"minidl raised {type(err).__name__}: {err}; torch raises {expected.__name__}"
    for f in fragments:
        assert f in str(err), f"{f!r} not in the message {str(err)!r}"
    return err


class no_numpy_warnings:
    """Turn numpy floating-point warnings (overflow, underflow into inf/nan) into errors."""

    def __enter__(self) -> None:
        self._err = np.seterr(over="raise", invalid="raise", divide="raise")
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("error", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._w.__exit__(*exc)
        np.seterr(**self._err)


@contextmanager
def numba_path(enabled: bool) -> Iterator[None]:
    """Run the block with minidl's numba kernels switched on or off, restoring the switch after."""
    from minidl import backend

    prev = backend._numba_wanted
    backend.use_numba(enabled)
    try:
        yield
    finally:
        backend.use_numba(prev)
