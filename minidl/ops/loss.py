"""Loss functions: cross_entropy, nll_loss, binary_cross_entropy(_with_logits), mse_loss,
l1_loss, smooth_l1_loss, huber_loss, kl_div.

Every loss is one Function that computes the per-element loss *and* its reduction
('none' | 'mean' | 'sum'), so a training step records one node for its loss, and the
backward is the closed form (cross-entropy: ``softmax - onehot``, no log-softmax node).

Shapes (as torch):

* class losses: input (N, C) or (N, C, d1, ...), or unbatched (C,); class-index target
  (N,) / (N, d1, ...) / () of int64 (or uint8), or a class-probability target of
  input's own shape (cross_entropy only). 'none' gives (N, d1, ...).
* elementwise losses: input and target broadcast together (a size mismatch warns, as
  torch); 'none' gives the broadcast shape.

'mean' is torch's: the sum divided by the number of elements, except for class-index
cross_entropy / nll_loss, which divide by the sum of the weights of the targets that
are not ``ignore_index`` (by their count without ``weight``), and kl_div's 'batchmean',
which divides by the batch size.

Numerics (DESIGN.md, "Traps"): softmax/log-softmax subtract the row max; BCE clamps its
logs at -100; BCE-with-logits uses ``log sigmoid(x) = min(x, 0) - log1p(e**-|x|)``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from minidl import dtypes
from minidl.autograd import grad_mode
from minidl.autograd.function import Function
from minidl.backend import array_module
from minidl.errors import ShapeError
from minidl.ops.elementwise import DtypeNotImplementedError, cast
from minidl.ops.shape import reshape
from minidl.tensor import Tensor

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "huber_loss",
    "kl_div", "l1_loss", "mse_loss", "nll_loss", "smooth_l1_loss",
]  # fmt: skip

_TORCH_NAMES = {
    "int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
    "bool": "Bool", "float16": "Half", "float32": "Float", "float64": "Double",
}  # fmt: skip


# ---------------------------------------------------------------------------- helpers
def _torch_name(dtype: Any) -> str:
    return _TORCH_NAMES.get(np.dtype(dtype).name, np.dtype(dtype).name)


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(x.shape)


def _check_tensor(op: str, name: str, pos: int, x: Any) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' (position {pos}) must be Tensor, not {type(x).__name__}")


def _check_float(op: str, name: str, x: Tensor) -> None:
    if x._data.dtype.kind != "f":
        raise DtypeNotImplementedError(
            f"{op}: expected a floating-point {name}, got {x.dtype} of shape {_shape(x)} "
            f"(torch: not implemented for '{_torch_name(x._data.dtype)}')"
        )


def get_reduction(op: str, reduction: str, size_average: Any = None, reduce: Any = None, stacklevel: int = 3) -> str:
    """The reduction to use: ``reduction``, or the one the legacy ``size_average``/``reduce``
    flags mean (with torch's deprecation warning). An unknown string is a ValueError."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        ret = "mean" if size_average and reduce else ("sum" if reduce else "none")
        warnings.warn(
            f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.",
            UserWarning,
            stacklevel=stacklevel,
        )
        return ret
    if reduction == "elementwise_mean":
        warnings.warn(
            "reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
            UserWarning,
            stacklevel=stacklevel,
        )
        return "mean"
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{op}: {reduction} is not a valid value for reduction (use 'none', 'mean' or 'sum')")
    return reduction


def _reduce(loss: Any, reduction: str) -> Any:
    """'none': the elementwise loss; 'sum': its sum; 'mean': sum / numel (nan when empty)."""
    xp = array_module(loss)
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "mean":
        total = total / loss.size if loss.size else total * np.nan
    return xp.asarray(total, dtype=loss.dtype)


def _upstream(g: Any, reduction: str, n: int) -> Any:
    """The upstream gradient of each element of a reduced loss of ``n`` elements."""
    return g / n if reduction == "mean" and n else g


def _weight_array(op: str, weight: Any, x: Tensor) -> Any:
    """``weight``'s array on ``x``'s device, refusing a weight that requires grad (torch)."""
    if weight is None:
        return None
    _check_tensor(op, "weight", 3, weight)
    if weight._requires_grad and grad_mode.is_grad_enabled():
        raise RuntimeError(
            f"{op}: the loss is not differentiable with respect to argument 'weight'. This input cannot have "
            "requires_grad True (torch: \"... is not differentiable with respect to argument 'weight'\")."
        )
    return weight._data


def _warn_size(op: str, input: Tensor, target: Tensor) -> None:
    if _shape(input) != _shape(target):
        warnings.warn(
            f"{op}: Using a target size ({_shape(target)}) that is different to the input size ({_shape(input)}). "
            "This will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.",
            UserWarning,
            stacklevel=3,
        )


def _broadcast_shape(op: str, a: Tensor, b: Tensor, what: str = "input and target") -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(_shape(a), _shape(b)))
    except ValueError:
        raise ShapeError(
            f"{op}: {what} shapes {_shape(a)} and {_shape(b)} cannot be broadcast together (sizes must match "
            "or be 1 in every dimension, counted from the right)"
        ) from None


def _common_float(op: str, input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """input and target in their common (torch-promoted) floating dtype."""
    _check_float(op, "input", input)
    rd = dtypes.result_type(input, target)
    if rd.kind != "f":
        rd = input._data.dtype
    x = input if input._data.dtype == rd else cast(input, rd)
    t = target if target._data.dtype == rd else cast(target, rd)
    return x, t


# ---------------------------------------------------------------------------- class losses
class CrossEntropy(Function):
    """Fused log_softmax + NLL over class indices (label smoothing eps, class weights w).

    x: (N, C, *d) logits, target: (N, *d) ints  ->  (N, *d) for 'none', () otherwise.
        logp = x - max - log(sum(e**(x - max)))          (along C)
        loss_i = (1 - eps) * -w[t_i] * logp[i, t_i] + eps / C * -sum_c w_c logp[i, c]
    (0 where t_i == ignore_index); 'mean' divides by sum_i w[t_i] over kept targets.
        dx[i] = g_i * ((1 - eps) w[t_i] (p_i - onehot(t_i)) + eps / C (W p_i - w)),
    p = softmax(x), W = sum_c w_c (w = 1 and W = C without weights).
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, target, weight, ignore_index, reduction, smoothing):
        xp = array_module(x)
        dt = x.dtype.type
        n_classes = x.shape[1]
        shifted = x - x.max(axis=1, keepdims=True)
        logp = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        valid = target != ignore_index
        t = xp.where(valid, target, 0)
        picked = xp.take_along_axis(logp, t[:, None], axis=1)[:, 0]
        w_t = valid.astype(x.dtype) if weight is None else xp.where(valid, weight[t], dt(0))
        loss = xp.where(valid, -w_t * picked, dt(0))
        if smoothing > 0:
            if weight is None:
                smooth = -logp.sum(axis=1)
            else:
                smooth = -(logp * weight.reshape((n_classes,) + (1,) * (x.ndim - 2))).sum(axis=1)
            smooth = xp.where(valid, smooth, dt(0))
            loss = dt(1 - smoothing) * loss + dt(smoothing / n_classes) * smooth
        ctx.reduction, ctx.smoothing, ctx.has_weight = reduction, smoothing, weight is not None
        ctx.save_for_backward(logp, t, valid, w_t, weight)
        if reduction == "none":
            return loss
        total = loss.sum()
        if reduction == "mean":
            ctx.denom = w_t.sum()
            total = total / ctx.denom
        return xp.asarray(total, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        logp, t, valid, w_t, weight = ctx.saved_tensors
        xp = array_module(g)
        n_classes, eps = logp.shape[1], ctx.smoothing
        zero = g.dtype.type(0)
        s = g / ctx.denom if ctx.reduction == "mean" else g  # per-target upstream gradient
        p = xp.exp(logp)
        classes = xp.arange(n_classes).reshape((1, n_classes) + (1,) * (logp.ndim - 2))
        onehot = t[:, None] == classes
        a = xp.where(valid, s * w_t, zero)  # 0 for ignored targets, even when s is inf
        if eps > 0:
            a = a * g.dtype.type(1 - eps)
        grad = (p - onehot) * a[:, None]
        if eps > 0:
            b = xp.where(valid, s, zero) * g.dtype.type(eps / n_classes)
            if weight is None:
                grad += (p * n_classes - 1) * b[:, None]
            else:
                wc = weight.reshape((n_classes,) + (1,) * (logp.ndim - 2))
                grad += (p * weight.sum() - wc) * b[:, None]
        return grad


class CrossEntropyProbs(Function):
    """Fused log_softmax + cross-entropy against class probabilities q (input's shape).

    x, q: (N, C, *d), weight w: (C,) or None  ->  (N, *d) for 'none', () otherwise.
        q' = (1 - eps) q + eps / C;   loss_i = -sum_c w_c q'_ic logp_ic
    'mean' divides by N * prod(d) (the number of distributions).
        dx = g (p sum_c(w q') - w q'),   dq = -g (1 - eps) w logp,   dw = -sum g q' logp.
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, q, w, *, reduction, smoothing):
        xp = array_module(x)
        n_classes = x.shape[1]
        shifted = x - x.max(axis=1, keepdims=True)
        logp = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
        if smoothing > 0:
            q = q * x.dtype.type(1 - smoothing) + x.dtype.type(smoothing / n_classes)
        wc = None if w is None else w.reshape((n_classes,) + (1,) * (x.ndim - 2))
        wq = q if wc is None else q * wc
        loss = -(logp * wq).sum(axis=1)
        ctx.reduction, ctx.smoothing, ctx.n = reduction, smoothing, loss.size
        ctx.save_for_backward(logp, q, wq, wc)
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx, g):
        logp, q, wq, wc = ctx.saved_tensors
        xp = array_module(g)
        s = _upstream(g, ctx.reduction, ctx.n)
        s = s[:, None] if s.ndim else s
        gx = gq = gw = None
        if ctx.needs_input_grad[0]:
            gx = (xp.exp(logp) * wq.sum(axis=1, keepdims=True) - wq) * s
        if ctx.needs_input_grad[1]:
            gq = -(logp if wc is None else logp * wc) * s
            if ctx.smoothing > 0:
                gq = gq * g.dtype.type(1 - ctx.smoothing)
        if ctx.needs_input_grad[2]:
            gw = -(q * logp * s).sum(axis=tuple(i for i in range(logp.ndim) if i != 1))
        return gx, gq, gw


class NLL(Function):
    """Negative log-likelihood: loss_i = -w[t_i] * x[i, t_i] (0 where t_i == ignore_index).

    x: (N, C, *d) log-probabilities, target: (N, *d)  ->  (N, *d) for 'none', () otherwise;
    'mean' divides by sum_i w[t_i] over kept targets.   dx[i, t_i] = -g_i w[t_i], else 0.
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, target, weight, ignore_index, reduction):
        xp = array_module(x)
        dt = x.dtype.type
        valid = target != ignore_index
        t = xp.where(valid, target, 0)
        picked = xp.take_along_axis(x, t[:, None], axis=1)[:, 0]
        w_t = valid.astype(x.dtype) if weight is None else xp.where(valid, weight[t], dt(0))
        loss = xp.where(valid, -w_t * picked, dt(0))
        ctx.reduction, ctx.n_classes = reduction, x.shape[1]
        ctx.save_for_backward(t, valid, w_t)
        if reduction == "none":
            return loss
        total = loss.sum()
        if reduction == "mean":
            ctx.denom = w_t.sum()
            total = total / ctx.denom
        return xp.asarray(total, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        t, valid, w_t = ctx.saved_tensors
        xp = array_module(g)
        s = g / ctx.denom if ctx.reduction == "mean" else g
        a = xp.where(valid, -s * w_t, g.dtype.type(0))
        classes = xp.arange(ctx.n_classes).reshape((1, ctx.n_classes) + (1,) * (t.ndim - 1))
        return (t[:, None] == classes) * a[:, None]


def _class_dims(op: str, input: Tensor, target: Tensor) -> None:
    """Check that ``target`` (class indices) fits ``input`` (N, C, *d): target (N, *d)."""
    si, st = _shape(input), _shape(target)
    if input.ndim == 0:
        raise ShapeError(f"{op}: Expected 1 or more dimensions (got 0): input must be (C,), (N, C) or (N, C, d1, ...)")
    if input.ndim == 1:
        if target.ndim > 1 or (target.ndim == 1 and st[0] != 1):
            raise ShapeError(
                f"{op}: For 1D input, 1D target must have size 1, but got target size: {st} (input {si})"
            )
        return
    if target.ndim == 0 or st[0] != si[0]:
        got = st[0] if target.ndim else "none, a 0-d target"
        raise ShapeError(
            f"{op}: Expected input batch_size ({si[0]}) to match target batch_size ({got}). "
            f"input {si}, target {st}"
        )
    if st != si[:1] + si[2:]:
        raise ShapeError(
            f"{op}: Expected target size {si[:1] + si[2:]}, got {st} (input {si}: the target has input's shape "
            "without the class dim 1)"
        )


def _class_target(op: str, input: Tensor, target: Tensor, weight: Any, ignore_index: int) -> tuple[Any, Any]:
    """Validate a class-index target (and weight) for ``input``; return their arrays."""
    tgt = target._data
    if tgt.dtype not in (np.int64, np.uint8):
        raise RuntimeError(
            f"{op}: expected target dtype to be Long or Byte, but got {_torch_name(tgt.dtype)} "
            f"(target {target.dtype} of shape {_shape(target)}; use target.long())"
        )
    _class_dims(op, input, target)
    n_classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    if n_classes == 0:
        raise ShapeError(f"{op}: input {_shape(input)} has no classes (C = 0 along dim {min(input.ndim - 1, 1)})")
    w = _weight_array(op, weight, input)
    if w is not None:
        if w.ndim != 1 or w.shape[0] != n_classes:
            raise ShapeError(
                f"{op}: weight tensor should be defined either for all {n_classes} classes or no classes but got "
                f"weight tensor of shape: {_shape(w)} (input {_shape(input)})"
            )
        if w.dtype != input._data.dtype:
            raise RuntimeError(
                f"{op}: expected scalar type {_torch_name(input._data.dtype)} but found {_torch_name(w.dtype)} "
                f"(weight is {w.dtype}, input is {input.dtype})"
            )
    tgt = tgt.astype(np.int64, copy=False)
    bad = (tgt != ignore_index) & ((tgt < 0) | (tgt >= n_classes))
    if bad.any():
        value = int(tgt[bad].reshape(-1)[0])
        raise IndexError(
            f"{op}: Target {value} is out of bounds. Class indices must be in [0, {n_classes - 1}] for C = "
            f"{n_classes} classes (input {_shape(input)}), or equal ignore_index ({ignore_index})."
        )
    return tgt, w


def _batched(input: Tensor, tgt: Any) -> tuple[Tensor, Any, bool]:
    """An unbatched (C,) input and its target as a batch of one."""
    if input.ndim != 1:
        return input, tgt, False
    return reshape(input, (1, input.shape[0])), tgt.reshape(1), True


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between logits ``input`` and ``target`` (torch's ``F.cross_entropy``).

    input: (N, C), (N, C, d1, ...) or (C,). target: class indices (N,), (N, d1, ...) or ()
    (int64 / uint8), or class probabilities of input's shape (floating). ``weight`` (C,)
    rescales each class; targets equal to ``ignore_index`` add nothing (class indices
    only); ``label_smoothing`` eps mixes the target with the uniform distribution.
    'mean' divides by the summed weight of the kept targets (class indices) or by the
    number of distributions (probabilities).
    """
    op = "cross_entropy"
    _check_tensor(op, "input", 1, input)
    _check_tensor(op, "target", 2, target)
    red = get_reduction(op, reduction, size_average, reduce)
    _check_float(op, "input", input)
    if input.ndim == 0:
        raise ShapeError(f"{op}: input must be (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor")
    eps = float(label_smoothing)
    if eps > 1.0:
        raise RuntimeError(f"{op}: label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if _shape(input) == _shape(target):
        return _cross_entropy_probs(input, target, weight, ignore_index, red, eps)
    if target._data.dtype.kind == "f" and target.ndim == input.ndim:
        raise ShapeError(
            f"{op}: a class-probability target must have input's shape {_shape(input)}, got {_shape(target)}"
        )
    tgt, w = _class_target(op, input, target, weight, ignore_index)
    x, tgt, unbatched = _batched(input, tgt)
    out = CrossEntropy.apply(
        x, target=tgt, weight=w, ignore_index=ignore_index, reduction=red, smoothing=max(eps, 0.0)
    )
    return reshape(out, ()) if unbatched and red == "none" else out


def _cross_entropy_probs(input: Tensor, target: Tensor, weight: Any, ignore_index: int, red: str, eps: float) -> Tensor:
    op = "cross_entropy"
    if target._data.dtype.kind != "f":
        raise RuntimeError(
            f"{op}: Expected floating point type for target with class probabilities, got "
            f"{_torch_name(target._data.dtype)} (a class-index target has input's shape without the class dim)"
        )
    if ignore_index >= 0:
        raise RuntimeError(f"{op}: ignore_index is not supported for floating point target (got {ignore_index})")
    n_classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    if weight is not None:
        _check_tensor(op, "weight", 3, weight)
        if weight.ndim != 1 or weight.shape[0] != n_classes:
            raise ShapeError(
                f"{op}: weight tensor should be defined either for all {n_classes} classes or no classes but got "
                f"weight tensor of shape: {_shape(weight)} (input {_shape(input)})"
            )
    x, q = _common_float(op, input, target)
    if weight is not None and weight._data.dtype != x._data.dtype:
        weight = cast(weight, x._data.dtype)
    unbatched = input.ndim == 1
    if unbatched:
        x, q = reshape(x, (1, n_classes)), reshape(q, (1, n_classes))
    out = CrossEntropyProbs.apply(x, q, weight, reduction=red, smoothing=max(eps, 0.0))
    return reshape(out, ()) if unbatched and red == "none" else out


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class indices: ``-weight[t] * input[n, t]`` (torch's ``F.nll_loss``).

    input: log-probabilities (N, C), (N, C, d1, ...) or (C,); target: (N,), (N, d1, ...)
    or () int64 / uint8. 'mean' divides by the summed weight of the targets that are not
    ``ignore_index``.
    """
    op = "nll_loss"
    _check_tensor(op, "input", 1, input)
    _check_tensor(op, "target", 2, target)
    red = get_reduction(op, reduction, size_average, reduce)
    _check_float(op, "input", input)
    tgt, w = _class_target(op, input, target, weight, ignore_index)
    x, tgt, unbatched = _batched(input, tgt)
    out = NLL.apply(x, target=tgt, weight=w, ignore_index=ignore_index, reduction=red)
    return reshape(out, ()) if unbatched and red == "none" else out


# ---------------------------------------------------------------------------- binary losses
class BCE(Function):
    """Binary cross-entropy of probabilities x against targets t (same shape).

        loss = -w (t max(log x, -100) + (1 - t) max(log(1 - x), -100))
        dx = g w (x - t) / max(x (1 - x), 1e-12),   dt = -g w log(x / (1 - x))
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, t, *, weight, reduction):
        xp = array_module(x)
        dt = x.dtype.type
        log_x = xp.maximum(xp.log(x), dt(-100))
        log_1mx = xp.maximum(xp.log1p(-x), dt(-100))
        loss = (t - dt(1)) * log_1mx - t * log_x
        if weight is not None:
            loss = loss * weight
        ctx.reduction = reduction
        ctx.save_for_backward(x, t, weight)
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx, g):
        x, t, weight = ctx.saved_tensors
        xp = array_module(g)
        dt = g.dtype.type
        s = _upstream(g, ctx.reduction, x.size)
        if weight is not None:
            s = s * weight
        gx = (x - t) / xp.maximum((dt(1) - x) * x, dt(1e-12)) * s if ctx.needs_input_grad[0] else None
        gt = -xp.log(x / (dt(1) - x)) * s if ctx.needs_input_grad[1] else None
        return gx, gt


class BCEWithLogits(Function):
    """Binary cross-entropy of logits x against targets t, in the log-sum-exp form.

        ls(x) = log sigmoid(x) = min(x, 0) - log1p(e**-|x|)      (never overflows)
        loss = w ((1 - t) x - (1 + (pw - 1) t) ls(x))            (pw: pos_weight, else 1)
        dx = g w ((pw t + 1 - t) sigmoid(x) - pw t),   dt = g w (ls(-x) - pw ls(x))
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, t, *, weight, pos_weight, reduction):
        xp = array_module(x)
        one = x.dtype.type(1)
        ls = xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))
        if pos_weight is not None:
            ls = ls * ((pos_weight - one) * t + one)
        loss = (one - t) * x - ls
        if weight is not None:
            loss = loss * weight
        ctx.reduction = reduction
        ctx.save_for_backward(x, t, weight, pos_weight)
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx, g):
        x, t, weight, pw = ctx.saved_tensors
        xp = array_module(g)
        one = g.dtype.type(1)
        s = _upstream(g, ctx.reduction, x.size)
        if weight is not None:
            s = s * weight
        gx = gt = None
        if ctx.needs_input_grad[0]:
            e = xp.exp(-xp.abs(x))
            sig = xp.where(x >= 0, one / (one + e), e / (one + e))
            if pw is None:
                gx = (sig - t) * s
            else:
                pt = pw * t
                gx = ((pt + one - t) * sig - pt) * s
        if ctx.needs_input_grad[1]:
            if pw is None:
                gt = -x * s
            else:
                log1p_e = xp.log1p(xp.exp(-xp.abs(x)))
                ls_pos = xp.minimum(x, 0) - log1p_e  # log sigmoid(x)
                ls_neg = xp.minimum(-x, 0) - log1p_e  # log sigmoid(-x)
                gt = (ls_neg - pw * ls_pos) * s
        return gx, gt


def _fits_into(op: str, name: str, value: Tensor, shape: tuple[int, ...]) -> None:
    """``value`` must broadcast to ``shape`` without growing it (torch's in-place multiply)."""
    try:
        ok = tuple(np.broadcast_shapes(_shape(value), shape)) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(f"{op}: {name} of shape {_shape(value)} cannot be broadcast to the input's shape {shape}")


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Tensor:
    """Binary cross-entropy of probabilities ``input`` in [0, 1] and ``target`` in [0, 1].

    input, target: same shape (*); ``weight`` broadcasts to it. Each log is clamped at
    -100, as torch, so ``input`` of exactly 0 or 1 gives a finite loss.
    """
    op = "binary_cross_entropy"
    _check_tensor(op, "input", 1, input)
    _check_tensor(op, "target", 2, target)
    red = get_reduction(op, reduction, size_average, reduce)
    if _shape(target) != _shape(input):
        raise ShapeError(
            f"{op}: Using a target size ({_shape(target)}) that is different to the input size "
            f"({_shape(input)}) is deprecated. Please ensure they have the same size."
        )
    _check_float(op, "input", input)
    if target._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"{op}: Found dtype {_torch_name(target._data.dtype)} but expected {_torch_name(input._data.dtype)} "
            f"(target is {target.dtype}, input is {input.dtype})"
        )
    x, t = input._data, target._data
    if x.size and not bool(((x >= 0) & (x <= 1)).all()):
        raise RuntimeError(
            f"{op}: all elements of input should be between 0 and 1 (got values in [{float(x.min())}, "
            f"{float(x.max())}]); apply sigmoid first, or use binary_cross_entropy_with_logits"
        )
    if t.size and not bool(((t >= 0) & (t <= 1)).all()):
        raise RuntimeError(f"{op}: all elements of target should be between 0 and 1")
    w = _weight_array(op, weight, input)
    if w is not None:
        _fits_into(op, "weight", weight, _shape(input))
        w = w.astype(x.dtype, copy=False)
    return BCE.apply(input, target, weight=w, reduction=red)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Binary cross-entropy of logits: sigmoid and BCE in one stable formula.

    input, target: same shape (*); ``weight`` broadcasts to it; ``pos_weight`` weighs the
    positive term and broadcasts along the last dims (e.g. (C,) for (N, C)).
    """
    op = "binary_cross_entropy_with_logits"
    _check_tensor(op, "input", 1, input)
    _check_tensor(op, "target", 2, target)
    red = get_reduction(op, reduction, size_average, reduce)
    if _shape(target) != _shape(input):
        raise ShapeError(f"{op}: Target size ({_shape(target)}) must be the same as input size ({_shape(input)})")
    _check_float(op, "input", input)
    dt = target._data.dtype  # torch computes in place in the target's dtype
    if dt.kind != "f":
        raise RuntimeError(
            f"{op}: result type {_torch_name(input._data.dtype)} can't be cast to the desired output type "
            f"{_torch_name(dt)} (target is {target.dtype}: pass a floating-point target)"
        )
    x = input if input._data.dtype == dt else cast(input, dt)
    t = target
    w = _weight_array(op, weight, input)
    if w is not None:
        _fits_into(op, "weight", weight, _shape(input))
        w = w.astype(dt, copy=False)
    pw = None
    if pos_weight is not None:
        _check_tensor(op, "pos_weight", 7, pos_weight)
        if pos_weight._requires_grad and grad_mode.is_grad_enabled():
            raise RuntimeError(
                f"{op}: the loss is not differentiable with respect to argument 'pos_weight'. This input cannot "
                "have requires_grad True."
            )
        _fits_into(op, "pos_weight", pos_weight, _shape(input))
        pw = pos_weight._data.astype(dt, copy=False)
    return BCEWithLogits.apply(x, t, weight=w, pos_weight=pw, reduction=red)


# ---------------------------------------------------------------------------- regression losses
class MSE(Function):
    """loss = (x - t)**2;  dx = 2 g (x - t),  dt = -dx.   x, t broadcast together."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, t, *, reduction):
        d = x - t
        ctx.reduction = reduction
        ctx.save_for_backward(d)
        return _reduce(d * d, reduction)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        gx = _upstream(g, ctx.reduction, d.size) * g.dtype.type(2) * d
        return gx, (-gx if ctx.needs_input_grad[1] else None)


class L1(Function):
    """loss = |x - t|;  dx = g sign(x - t) (0 where x == t),  dt = -dx."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, t, *, reduction):
        d = x - t
        ctx.reduction = reduction
        ctx.save_for_backward(d)
        return _reduce(array_module(d).abs(d), reduction)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        gx = _upstream(g, ctx.reduction, d.size) * array_module(d).sign(d)
        return gx, (-gx if ctx.needs_input_grad[1] else None)


class SmoothL1(Function):
    """z = |x - t|:  loss = 0.5 z**2 / beta if z < beta else z - 0.5 beta;
    dx = g clamp((x - t) / beta, -1, 1),  dt = -dx."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, t, *, reduction, beta):
        xp = array_module(x)
        dt = x.dtype.type
        d = x - t
        z = xp.abs(d)
        loss = xp.where(z < dt(beta), dt(0.5) * z * z / dt(beta), z - dt(0.5 * beta))
        ctx.reduction, ctx.beta = reduction, beta
        ctx.save_for_backward(d)
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        xp = array_module(g)
        beta = g.dtype.type(ctx.beta)
        slope = xp.where(d < -beta, g.dtype.type(-1), xp.where(d > beta, g.dtype.type(1), d / beta))
        gx = _upstream(g, ctx.reduction, d.size) * slope
        return gx, (-gx if ctx.needs_input_grad[1] else None)


class Huber(Function):
    """z = |x - t|:  loss = 0.5 z**2 if z < delta else delta (z - 0.5 delta);
    dx = g clamp(x - t, -delta, delta),  dt = -dx."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, t, *, reduction, delta):
        xp = array_module(x)
        dt = x.dtype.type
        d = x - t
        z = xp.abs(d)
        loss = xp.where(z < dt(delta), dt(0.5) * z * z, dt(delta) * (z - dt(0.5 * delta)))
        ctx.reduction, ctx.delta = reduction, delta
        ctx.save_for_backward(d)
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        xp = array_module(g)
        delta = g.dtype.type(ctx.delta)
        slope = xp.where(d < -delta, -delta, xp.where(d > delta, delta, d))
        gx = _upstream(g, ctx.reduction, d.size) * slope
        return gx, (-gx if ctx.needs_input_grad[1] else None)


def _regression_inputs(op: str, input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    _check_tensor(op, "input", 1, input)
    _check_tensor(op, "target", 2, target)
    _warn_size(op, input, target)
    _broadcast_shape(op, input, target)
    return _common_float(op, input, target)


def _weighted(op: str, loss: Tensor, weight: Any, input: Tensor, reduction: str, mean_by_weight: bool) -> Tensor:
    """torch's optional elementwise ``weight`` of mse/l1/huber: loss * weight, then reduced
    ('mean' divides by sum(weight) for mse/l1, by numel for huber)."""
    _check_tensor(op, "weight", 6, weight)
    if _shape(weight) != _shape(input):
        raise ShapeError(
            f"{op}: Weights and input must have the same size. (weight {_shape(weight)}, input {_shape(input)})"
        )
    weighted = loss * weight
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    if reduction == "mean":
        return weighted.sum() / weight.sum() if mean_by_weight else weighted.mean()
    raise ValueError(f"{op}: Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', 'sum'.")


def _pointwise_loss(op: str, fn: type[Function], input: Tensor, target: Tensor, size_average: bool | None,
                    reduce: bool | None, reduction: str, weight: Tensor | None) -> Tensor:  # fmt: skip
    """MSE and L1: elementwise ``fn`` of input and target, optionally weighted, then reduced."""
    x, t = _regression_inputs(op, input, target)
    if weight is not None:
        if size_average is not None or reduce is not None:
            reduction = get_reduction(op, reduction, size_average, reduce)
        return _weighted(op, fn.apply(x, t, reduction="none"), weight, input, reduction, True)
    return fn.apply(x, t, reduction=get_reduction(op, reduction, size_average, reduce))


def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean squared error ``(input - target)**2`` (input and target broadcast together)."""
    return _pointwise_loss("mse_loss", MSE, input, target, size_average, reduce, reduction, weight)


def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """Mean absolute error ``|input - target|`` (input and target broadcast together)."""
    return _pointwise_loss("l1_loss", L1, input, target, size_average, reduce, reduction, weight)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """Smooth L1: quadratic ``0.5 d**2 / beta`` below ``beta``, linear ``|d| - beta / 2`` above.

    ``beta = 0`` is the L1 loss; a negative beta is an error (as torch).
    """
    op = "smooth_l1_loss"
    x, t = _regression_inputs(op, input, target)
    red = get_reduction(op, reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError(f"{op}: smooth_l1_loss does not support negative values for beta. (got beta={beta})")
    if beta == 0.0:
        return L1.apply(x, t, reduction=red)
    return SmoothL1.apply(x, t, reduction=red, beta=float(beta))


def huber_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Tensor | None = None,
) -> Tensor:
    """Huber: quadratic ``0.5 d**2`` below ``delta``, linear ``delta (|d| - delta / 2)`` above.

    ``delta`` must be positive. With ``weight`` (input's shape), 'mean' is the plain mean of
    the weighted losses (torch's rule, unlike mse_loss/l1_loss which divide by sum(weight)).
    """
    op = "huber_loss"
    _regression_inputs(op, input, target)
    x = input  # torch computes in the input's dtype (the others promote)
    t = target if target._data.dtype == input._data.dtype else cast(target, input._data.dtype)
    if delta <= 0:
        raise RuntimeError(f"{op}: huber_loss does not support non-positive values for delta. (got delta={delta})")
    if weight is not None:
        return _weighted(op, Huber.apply(x, t, reduction="none", delta=float(delta)), weight, input, reduction, False)
    return Huber.apply(x, t, reduction=get_reduction(op, reduction), delta=float(delta))


# ---------------------------------------------------------------------------- kl_div
class KLDiv(Function):
    """Pointwise KL divergence of log-probabilities x from targets t (broadcast together).

    log_target=False:  loss = xlogy(t, t) - t x   (0 where t == 0);
                       dx = -g t,  dt = g (xlogy(t != 0, t) + t / t - x)
    log_target=True:   loss = e**t (t - x);   dx = -g e**t,  dt = g e**t (t - x + 1)
    'batchmean' divides the sum by ``batch`` (input.shape[0]).
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, t, *, reduction, log_target, batch):
        xp = array_module(x)
        if log_target:
            loss = xp.exp(t) * (t - x)
        else:
            xlogy = xp.where(t == 0, t.dtype.type(0), t * xp.log(t))
            loss = xlogy - t * x
        ctx.reduction, ctx.log_target, ctx.batch, ctx.n = reduction, log_target, batch, loss.size
        ctx.save_for_backward(x, t)
        if reduction == "batchmean":
            return xp.asarray(loss.sum() / batch, dtype=loss.dtype)
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved_tensors
        xp = array_module(g)
        dt = g.dtype.type
        s = g / ctx.batch if ctx.reduction == "batchmean" else _upstream(g, ctx.reduction, ctx.n)
        gx = gt = None
        if ctx.log_target:
            et = xp.exp(t)
            if ctx.needs_input_grad[0]:
                gx = -et * s
            if ctx.needs_input_grad[1]:
                gt = et * (t - x + dt(1)) * s
        else:
            if ctx.needs_input_grad[0]:
                gx = -t * s
            if ctx.needs_input_grad[1]:
                gt = (xp.where(t != 0, xp.log(t), dt(0)) + t / t - x) * s
        if gx is not None:
            gx = xp.broadcast_to(gx, xp.broadcast_shapes(x.shape, t.shape))
        return gx, gt


def kl_div(
    input: Tensor,
    target: Tensor,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """KL divergence ``sum target * (log target - input)`` with ``input`` log-probabilities.

    ``target`` is probabilities, or log-probabilities with ``log_target=True``; the two
    broadcast together. reduction: 'none' | 'mean' (over all elements, with torch's
    warning) | 'batchmean' (over input.shape[0]: the true KL divergence) | 'sum'.
    """
    op = "kl_div"
    _check_tensor(op, "input", 1, input)
    _check_tensor(op, "target", 2, target)
    if target._data.dtype.kind not in "f" or input._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: Integral inputs not supported (input {input.dtype}, target {target.dtype})")
    if size_average is not None or reduce is not None:
        red = get_reduction(op, reduction, size_average, reduce)
    else:
        if reduction == "mean":
            warnings.warn(
                "reduction: 'mean' divides the total loss by both the batch size and the support size."
                "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                UserWarning,
                stacklevel=2,
            )
        red = reduction if reduction == "batchmean" else get_reduction(op, reduction)
    _broadcast_shape(op, input, target)
    x, t = _common_float(op, input, target)
    if red == "batchmean" and input.ndim == 0:
        red = "sum"  # torch: a 0-d input has no batch dim to divide by
    batch = input.shape[0] if red == "batchmean" else 1
    return KLDiv.apply(x, t, reduction=red, log_target=bool(log_target), batch=batch)
