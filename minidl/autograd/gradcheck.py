"""``gradcheck``: compare backward's gradients with finite differences, in float64.

For every input that requires grad and every element ``x_k`` of it, the numerical
Jacobian column is the central difference ``(f(x + eps e_k) - f(x - eps e_k)) / (2 eps)``;
the analytical one comes from one backward per output element. They must agree within
``atol + rtol * |numerical|``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minidl.autograd import engine, grad_mode

__all__ = ["GradcheckError", "gradcheck"]


class GradcheckError(RuntimeError):
    """Raised by :func:`gradcheck` when the analytical and numerical gradients differ."""


def _outputs(fn: Callable[..., Any], inputs: Sequence[Any]) -> list[Any]:
    out = fn(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    from minidl.tensor import Tensor

    return [o for o in outs if isinstance(o, Tensor) and o._data.dtype.kind == "f"]


def gradcheck(
    fn: Callable[..., Any],
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """True when ``fn``'s analytical gradients match finite differences for every input.

    ``inputs``: a tensor or tuple of tensors (float64 for meaningful results); those with
    ``requires_grad=True`` are checked. Raises :class:`GradcheckError` naming the input,
    the output and the largest difference (or returns False with ``raise_exception=False``).
    """
    from minidl.tensor import Tensor

    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; set requires_grad=True on what to check")
    for i in checked:
        if inputs[i]._data.dtype != np.float64:
            warnings.warn(
                f"gradcheck: input {i} is {inputs[i].dtype}, not float64: finite differences "
                "will be too coarse for the default tolerances",
                stacklevel=2,
            )

    outs = _outputs(fn, inputs)
    with grad_mode.no_grad():
        out_values = [o._data.copy() for o in outs]

    for oi, (o, value) in enumerate(zip(outs, out_values)):
        n_out = value.size
        for i in checked:
            x = inputs[i]
            flat = x._data.reshape(-1)  # a view: writing into it perturbs x
            if flat.size and not np.shares_memory(flat, x._data):
                raise ValueError(f"gradcheck: input {i} must be contiguous")
            # numerical Jacobian: d out[j] / d x[k], one column per input element
            numerical = np.zeros((n_out, flat.size))
            with grad_mode.no_grad():
                for k in range(flat.size):
                    orig = flat[k]
                    flat[k] = orig + eps
                    plus = _outputs(fn, inputs)[oi]._data.reshape(-1).astype(np.float64)
                    flat[k] = orig - eps
                    minus = _outputs(fn, inputs)[oi]._data.reshape(-1).astype(np.float64)
                    flat[k] = orig
                    numerical[:, k] = (plus - minus) / (2 * eps)
            # analytical Jacobian: one backward per output element
            analytical = np.zeros_like(numerical)
            if o.requires_grad:
                for j in range(n_out):
                    seed = np.zeros(value.shape, dtype=value.dtype)
                    seed.reshape(-1)[j] = 1
                    (g,) = engine.grad(o, x, Tensor._make(seed), retain_graph=True, allow_unused=True)
                    if g is not None:
                        analytical[j] = g._data.reshape(-1)
            diff = np.abs(analytical - numerical)
            bad = diff > atol + rtol * np.abs(numerical)
            if bad.any():
                j, k = np.unravel_index(np.argmax(np.where(bad, diff, -1)), diff.shape)
                msg = (
                    f"gradcheck: Jacobian mismatch for output {oi} with respect to input {i} "
                    f"(shape {tuple(x.shape)}): largest difference {diff.max():.3g} at output element "
                    f"{j}, input element {k}: analytical {analytical[j, k]:.6g} vs numerical "
                    f"{numerical[j, k]:.6g}"
                )
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True
