"""Normalisation: batch_norm and layer_norm, each one fused Function with a closed-form backward.

batch_norm, input x: (N, C), (N, C, L), (N, C, H, W) or any (N, C, *). Statistics are per
channel over the n = N * prod(*) values of that channel:

    xhat = (x - mean) / sqrt(var + eps)       var: the *biased* batch variance (divide by n)
    out  = gamma * xhat + beta                gamma, beta: (C,) or None
    running_mean <- (1 - momentum) running_mean + momentum mean
    running_var  <- (1 - momentum) running_var  + momentum var * n / (n - 1)   (unbiased!)

    backward (training):  dx = gamma / (n sqrt(var + eps)) * (n g - sum(g) - xhat sum(g xhat))
                          dgamma = sum(g xhat),  dbeta = sum(g)          (sums per channel)

In eval mode (``training=False``) the running statistics replace the batch ones and the
op is an affine map per channel: dx = g gamma / sqrt(running_var + eps).

layer_norm, input x: (*, *normalized_shape); the statistics are per row over the trailing
K = prod(normalized_shape) values, gamma and beta have ``normalized_shape``:

    backward:  dx = rstd / K * (K gh - sum(gh) - xhat sum(gh xhat)),  gh = g gamma
               dgamma = sum over rows of g xhat,  dbeta = sum over rows of g

float32 stays float32: per-channel (per-row) constants are computed in float64 (they are
small) and cast back before they touch the big arrays. The statistics take one pass each
(einsum reductions over every axis but C at once).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from minidl.autograd.function import Function
from minidl.backend import array_module, numba_kernels_or_none
from minidl.errors import ShapeError
from minidl.ops.elementwise import DtypeError
from minidl.tensor import Tensor

__all__ = ["batch_norm", "layer_norm"]


# ---------------------------------------------------------------------------- reductions
def _channel_sum(x3):
    """sum over axes 0 and 2 of x3: (N, C, L) -> (C,), in one pass.

    einsum's single-threaded loop, not a BLAS matrix-vector product: as fast alone, and
    multi-threaded BLAS slows down many times over when another process shares the cores.
    """
    return array_module(x3).einsum("ncl->c", x3)


def _channel_dot(a3, b3):
    """sum over axes 0 and 2 of a3 * b3: (N, C, L) x2 -> (C,), without a temporary array."""
    return array_module(a3).einsum("ncl,ncl->c", a3, b3)


def _as_ncl(a):
    """(N, C, *) -> (N, C, L), L = prod(*): a view for contiguous arrays."""
    return a.reshape(a.shape[0], a.shape[1], math.prod(a.shape[2:]))


def _per_channel(v, dtype):
    """(C,) -> (1, C, 1) in ``dtype``, to broadcast against (N, C, L)."""
    return v.astype(dtype, copy=False)[None, :, None]


def _update_running_stats(running_mean, running_var, mean, var, n, momentum):
    """In place: running <- (1 - momentum) running + momentum batch, with the UNBIASED var (n / (n - 1))."""
    if running_mean is not None:
        running_mean *= 1 - momentum
        running_mean += (momentum * mean).astype(running_mean.dtype, copy=False)
    if running_var is not None:  # n > 1 is checked by the caller
        running_var *= 1 - momentum
        running_var += (momentum * var * (n / max(n - 1, 1))).astype(running_var.dtype, copy=False)


#: the numba kernels loop over each channel's rows of L values: below this L (BatchNorm1d's (N, C) is
#: L = 1) they stride through memory and numpy's whole-array passes are faster (measured, 2 cores)
_FUSED_MIN_L = 2


def _fused_kernels(x3):
    """The numba kernel module for x3 (N, C, L), or None: numba off, not a float32/64 numpy array, short rows."""
    nk = numba_kernels_or_none()
    if nk is None or not nk.supports(x3) or x3.shape[2] < _FUSED_MIN_L:
        return None
    return nk


# ---------------------------------------------------------------------------- batch norm
class BatchNorm(Function):
    """Batch normalisation of x: (N, C, *) (viewed as (N, C, L)); weight, bias: (C,) or None.

    Training: normalise with the batch statistics and update the running ones in place.
    Eval: out = x * scale + shift with scale = gamma / sqrt(running_var + eps).

    Every full-size step is one numpy pass, and they are few: xhat is never formed.
    Training keeps xc = x - m, m the float32-rounded mean, whose own mean d (the rounding
    left over, ~1e-7) the corrected two-pass algorithm takes out of the statistics, so
    xhat = (xc - d) * inv_std; out and dx fold d and inv_std into per-channel constants.

    With numba (:func:`minidl.backend.numba_kernels_or_none`, rows of L >= 2) the same formulas
    run channel by channel in one kernel for the forward (mean, var, out) and one for the
    backward (sum(g), sum(g xhat), dx), sums in float64 as torch's: each channel is read from
    memory once, and stays in cache for the later passes. It saves the input itself, not xc.
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, weight, bias, *, running_mean, running_var, training, momentum, eps):
        xp = array_module(x)
        dt = x.dtype
        ctx.x_shape = x.shape
        x_in, x = x, _as_ncl(x)  # (N, C, L), a view
        n = x.shape[0] * x.shape[2]
        ctx.training, ctx.n = training, n
        nk = _fused_kernels(x)
        if nk is not None and training:  # numba: the statistics and out in one kernel, one channel at a time
            x_in = np.ascontiguousarray(x_in)  # saved: the input itself when contiguous (its version is checked)
            out, mean, var = nk.batch_norm_train_forward(_as_ncl(x_in), weight, bias, eps)
            inv_std = 1.0 / np.sqrt(var + eps)
            _update_running_stats(running_mean, running_var, mean, var, n, momentum)
            ctx.kernels = nk  # backward uses the same kernels, whatever the switch says by then
            # saved in x's dtype like torch's save_mean/save_invstd; the mean as its rounded value m plus
            # the rounding left over (mean - m), so backward gets the float64 mean back (x - mean must be exact)
            m = mean.astype(dt)
            ctx.save_for_backward(x_in, m, (mean - m).astype(dt), inv_std.astype(dt), weight)
            return out.reshape(ctx.x_shape)
        ctx.kernels = None  # backward: numpy (eval's is one pass already)
        if training:
            m = _channel_sum(x).astype(np.float64) / n  # (C,)
            xc = x - _per_channel(m, dt)  # (N, C, L)
            d = _channel_sum(xc).astype(np.float64) / n  # torch sums in float64 instead
            mean = m + d
            var = xp.maximum(_channel_dot(xc, xc).astype(np.float64) / n - d * d, 0)  # biased: normalise with it
            inv_std = 1.0 / xp.sqrt(var + eps)
            _update_running_stats(running_mean, running_var, mean, var, n, momentum)
            ctx.save_for_backward(xc, d.astype(dt), inv_std.astype(dt), weight)  # x's dtype, as torch saves them
            # out = gamma (xc - d) inv_std + beta = xc * scale + shift
            scale = inv_std if weight is None else inv_std * weight
            shift = -d * scale if bias is None else bias - d * scale
            out = xc * _per_channel(scale, dt)
        else:  # an affine map per channel
            inv_std = 1.0 / xp.sqrt(running_var.astype(np.float64) + eps)
            scale = inv_std if weight is None else inv_std * weight
            shift = -running_mean * scale if bias is None else bias - running_mean * scale
            # running stats change later: a copy
            ctx.save_for_backward(x, running_mean.copy(), inv_std.astype(dt), scale.astype(dt))
            if nk is not None:  # one pass instead of two
                return nk.batch_norm_affine(x, scale, shift).reshape(ctx.x_shape)
            out = x * _per_channel(scale, dt)
        out += _per_channel(shift, dt)
        return out.reshape(ctx.x_shape)

    @staticmethod
    def backward(ctx, g):
        dt = g.dtype
        g = _as_ncl(g)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if ctx.kernels is not None:  # numba: sum(g), sum(g xhat) and dx in one kernel, one channel at a time
            x, m, rest, inv_std, weight = ctx.saved_tensors
            mean = m.astype(np.float64) + rest  # (C,) float64: the kernel's accumulator type
            inv_std = inv_std.astype(np.float64)
            gx, sum_g, sum_gxhat = ctx.kernels.batch_norm_train_backward(g, _as_ncl(x), mean, inv_std, weight, need_x)
            gw = sum_gxhat if need_w else None
        elif ctx.training:
            sum_g = _channel_sum(g).astype(np.float64)  # (C,)
            xc, d, inv_std, weight = ctx.saved_tensors
            d, inv_std = d.astype(np.float64), inv_std.astype(np.float64)  # per-channel constants in float64
            n = ctx.n
            sum_gxhat = (_channel_dot(g, xc) - d * sum_g) * inv_std  # sum(g xhat), (C,)
            if need_x:
                # dx = k (g - sum_g / n - xhat sum_gxhat / n), k = gamma inv_std,
                #    = k (g - a xc - c) with xhat = (xc - d) inv_std
                k = inv_std if weight is None else inv_std * weight
                a = inv_std * sum_gxhat / n
                c = sum_g / n - a * d
                gx = xc * _per_channel(-a, dt)
                gx += g
                gx -= _per_channel(c, dt)
                gx *= _per_channel(k, dt)
            gw = sum_gxhat if need_w else None
        else:
            sum_g = _channel_sum(g).astype(np.float64) if need_b else None  # (C,)
            x, running_mean, inv_std, scale = ctx.saved_tensors
            if need_x:
                gx = g * _per_channel(scale, dt)
            if need_w:
                gw = _channel_dot(g, (x - _per_channel(running_mean, dt)) * _per_channel(inv_std, dt))
        if need_b:
            gb = sum_g
        return (
            None if gx is None else gx.reshape(ctx.x_shape),
            None if gw is None else gw.astype(dt, copy=False),
            None if gb is None else gb.astype(dt, copy=False),
        )


def _check_channel_vector(op: str, name: str, v: Tensor | None, c: int, x: Tensor) -> None:
    if v is None:
        return
    if not isinstance(v, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor or None, got {type(v).__name__}")
    if v.numel() != c:
        raise ShapeError(
            f"{op}: {name} should contain {c} elements not {v.numel()} "
            f"(input {tuple(x.shape)} has {c} channels; {name} has shape {tuple(v.shape)})"
        )
    if v._data.dtype != x._data.dtype:
        raise DtypeError(f"{op}: mixed dtype: {name} is {v._data.dtype}, input is {x._data.dtype} (cast one of them)")


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation (``F.batch_norm``); see the module docstring for the formulas.

    input: (N, C, *); running_mean, running_var, weight, bias: (C,) or None. With
    ``training=True`` the batch statistics normalise and the running ones (when given)
    are updated in place; with ``training=False`` the running statistics normalise.
    """
    op = "batch_norm"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input._data.dtype.kind != "f":
        raise DtypeError(f"{op}: expected a floating point input, got {input.dtype}")
    if input.ndim < 2:
        raise ShapeError(f"{op}: expected input of shape (N, C, *) with at least 2 dims, got {tuple(input.shape)}")
    if momentum is None or isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
        raise TypeError(f"{op}(): argument 'momentum' must be float, not {type(momentum).__name__}")
    c = input.shape[1]
    for name, v in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):  # fmt: skip
        _check_channel_vector(op, name, v, c, input)
    if training:
        size = input.shape
        if size[0] * math.prod(size[2:]) == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {size!r}")
    if training and eps <= 0.0:
        raise ValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise ValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError(f"{op}: running_mean and running_var must be defined in evaluation mode (training=False)")
    # the Function takes (C,) parameters; torch accepts any shape with C elements
    weight = weight if weight is None or tuple(weight.shape) == (c,) else weight.reshape(c)
    bias = bias if bias is None or tuple(bias.shape) == (c,) else bias.reshape(c)
    out = BatchNorm.apply(
        input,
        weight,
        bias,
        running_mean=None if running_mean is None else running_mean._data.reshape(c),
        running_var=None if running_var is None else running_var._data.reshape(c),
        training=bool(training),
        momentum=float(momentum),
        eps=float(eps),
    )
    if training:
        for t in (running_mean, running_var):
            if t is not None:
                t._version[0] += 1
    return out


# ---------------------------------------------------------------------------- layer norm
class LayerNorm(Function):
    """Layer normalisation of x: (*, *normalized_shape), viewed as (M, K) rows;
    weight, bias: normalized_shape (K elements) or None."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, weight, bias, *, k, eps):
        xp = array_module(x)
        dt = x.dtype
        ctx.x_shape = x.shape
        ctx.p_shape = None if weight is None else weight.shape
        x = x.reshape(-1, k) if k else x.reshape(0, 0)  # (M, K)
        weight = None if weight is None else weight.reshape(k)
        bias = None if bias is None else bias.reshape(k)
        mean = x.sum(axis=1, dtype=np.float64) / k  # (M,)
        xc = x - mean.astype(dt)[:, None]
        var = xp.einsum("mk,mk->m", xc, xc).astype(np.float64) / k  # biased
        rstd = 1.0 / xp.sqrt(var + eps)
        xhat = xc
        xhat *= rstd.astype(dt)[:, None]
        ctx.save_for_backward(xhat, rstd, weight)
        if weight is None and bias is None:
            return xhat.reshape(ctx.x_shape)
        out = xhat * weight if weight is not None else xhat.copy()
        if bias is not None:
            out += bias
        return out.reshape(ctx.x_shape)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        xhat, rstd, weight = ctx.saved_tensors
        dt = g.dtype
        k = xhat.shape[1]
        g = g.reshape(xhat.shape)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if need_x:  # rstd (gh - mean(gh) - xhat mean(gh xhat)), gh = g gamma, means per row
            gh = g * weight if weight is not None else g
            mean_gh = gh.sum(axis=1, dtype=np.float64) / k
            mean_ghx = xp.einsum("mk,mk->m", gh, xhat).astype(np.float64) / k
            gx = gh - xhat * mean_ghx.astype(dt)[:, None]
            gx -= mean_gh.astype(dt)[:, None]
            gx *= rstd.astype(dt)[:, None]
            gx = gx.reshape(ctx.x_shape)
        if need_w:
            gw = xp.einsum("mk,mk->k", g, xhat).reshape(ctx.p_shape)
        if need_b:
            gb = g.sum(axis=0).reshape(ctx.p_shape)
        return gx, gw, gb


def _normalized_shape(op: str, normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
        return (int(normalized_shape),)
    try:
        shape = tuple(int(s) for s in normalized_shape)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: normalized_shape must be an int or a tuple of ints, got {normalized_shape!r}") from None
    if not shape:
        raise ShapeError(
            f"{op}: Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one "
            "element, but got normalized_shape = []"
        )
    return shape


def layer_norm(
    input: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer normalisation (``F.layer_norm``) over the trailing ``normalized_shape`` dims.

    input: (*, *normalized_shape); weight, bias: ``normalized_shape`` or None.
    """
    op = "layer_norm"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input._data.dtype.kind != "f":
        raise DtypeError(f"{op}: expected a floating point input, got {input.dtype}")
    shape = _normalized_shape(op, normalized_shape)
    d = len(shape)
    if input.ndim < d or tuple(input.shape[input.ndim - d :]) != shape:
        raise ShapeError(
            f"{op}: Given normalized_shape={list(shape)}, expected input with shape [*, "
            f"{', '.join(map(str, shape))}], but got input of size {tuple(input.shape)}"
        )
    for name, v in (("weight", weight), ("bias", bias)):
        if v is None:
            continue
        if not isinstance(v, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor or None, got {type(v).__name__}")
        if tuple(v.shape) != shape:
            raise ShapeError(
                f"{op}: Expected {name} to be of same shape as normalized_shape, but got {name} of shape "
                f"{list(v.shape)} and normalized_shape = {list(shape)}"
            )
        if v._data.dtype != input._data.dtype:
            raise DtypeError(f"{op}: mixed dtype: {name} is {v._data.dtype}, input is {input._data.dtype}")
    return LayerNorm.apply(input, weight, bias, k=math.prod(shape), eps=float(eps))
