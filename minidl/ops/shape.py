"""Shape ops: reshape/view, permute/transpose, expand, repeat, cat/stack/split, pad,
flip, indexing (``x[...]`` and ``x[...] = v``), gather, index_select.

None of these do arithmetic, so their backward only moves gradients back to where the
values came from: reshape the gradient back, permute it back, split it, crop it, or
scatter-add it (indexing with repeated indices adds up, as torch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from minidl import dtypes
from minidl.autograd.function import Function
from minidl.backend import Device, array_module, scatter_add, to_device
from minidl.errors import ShapeError, normalize_dim, normalize_dims
from minidl.tensor import Tensor

__all__ = [
    "cat", "chunk", "contiguous", "expand", "flatten", "flip", "gather", "getitem",
    "index_select", "narrow", "pad", "permute", "repeat", "reshape", "setitem", "split",
    "squeeze", "stack", "transpose", "unbind", "unflatten", "unsqueeze",
]  # fmt: skip


# ---------------------------------------------------------------------------- reshape family
class Reshape(Function):
    """out = x with a new shape (same elements, row-major order);  dx = g reshaped back."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.in_shape)


def _infer_shape(op: str, shape: Sequence[int], numel: int, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred, got shape {shape}")
    if any(s < -1 for s in shape):
        raise RuntimeError(f"{op}: invalid shape dimension in {shape}")
    known = math.prod(s for s in shape if s != -1)
    if -1 in shape:
        if known == 0 or numel % known:
            raise ShapeError(f"{op}: shape {list(shape)} is invalid for input of size {numel} (shape {in_shape})")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise ShapeError(f"{op}: shape {list(shape)} is invalid for input of size {numel} (shape {in_shape})")
    return shape


def reshape(input: Tensor, shape: Sequence[int], name: str = "reshape") -> Tensor:
    """Same elements, new ``shape`` (one entry may be -1). ``view`` is the same op here:
    numpy copies when the memory layout requires it, so minidl's ``view`` never fails
    where torch would ask for ``reshape``."""
    shape = _infer_shape(name, shape, input.numel(), tuple(input.shape))
    if shape == tuple(input.shape):
        return Reshape.apply(input, shape=shape) if input._requires_grad else Tensor._make(input._data)
    return Reshape.apply(input, shape=shape)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` into one."""
    if input.ndim == 0:
        return reshape(input, (1,))
    s = normalize_dim("flatten", start_dim, input.ndim)
    e = normalize_dim("flatten", end_dim, input.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = tuple(input.shape)
    return reshape(input, (*shape[:s], math.prod(shape[s : e + 1]), *shape[e + 1 :]))


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """Split dim ``dim`` into ``sizes`` (one may be -1)."""
    d = normalize_dim("unflatten", dim, input.ndim)
    shape = tuple(input.shape)
    sizes = _infer_shape("unflatten", sizes, shape[d], (shape[d],))
    return reshape(input, (*shape[:d], *sizes, *shape[d + 1 :]))


def squeeze(input: Tensor, dim: Any = None) -> Tensor:
    """Drop size-1 dims (all of them, or those in ``dim`` that have size 1)."""
    shape = tuple(input.shape)
    if dim is None:
        dims = {i for i, s in enumerate(shape) if s == 1}
    else:
        dims = normalize_dims("squeeze", tuple(dim) if isinstance(dim, (tuple, list)) else dim, input.ndim)
        dims = {d for d in dims if shape[d] == 1}
    return reshape(input, tuple(s for i, s in enumerate(shape) if i not in dims))


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dim at ``dim`` (``-1`` appends)."""
    d = normalize_dim("unsqueeze", dim, input.ndim + 1)
    shape = tuple(input.shape)
    return reshape(input, (*shape[:d], 1, *shape[d:]))


def contiguous(input: Tensor) -> Tensor:
    if input._data.flags.c_contiguous:
        return input
    return Reshape.apply(input, shape=tuple(input.shape)) if input._requires_grad else Tensor._make(
        array_module(input._data).ascontiguousarray(input._data)
    )


# ---------------------------------------------------------------------------- permute
class Permute(Function):
    """out = x with its dims reordered by ``dims``;  dx = g permuted by the inverse order."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, dims):
        ctx.inverse = tuple(np.argsort(dims))
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(ctx.inverse)


def permute(input: Tensor, dims: Sequence[int]) -> Tensor:
    """Reorder the dims: ``out.shape[i] == input.shape[dims[i]]``."""
    if len(dims) != input.ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {input.ndim} is not "
            f"equal to len(dims) = {len(dims)}"
        )
    axes = tuple(normalize_dim("permute", d, input.ndim) for d in dims)
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"permute: repeated dim in {tuple(dims)}")
    return Permute.apply(input, dims=axes)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims."""
    if input.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return input
    a = normalize_dim("transpose", dim0, input.ndim)
    b = normalize_dim("transpose", dim1, input.ndim)
    order = list(range(input.ndim))
    order[a], order[b] = order[b], order[a]
    return Permute.apply(input, dims=tuple(order))


# ---------------------------------------------------------------------------- expand, repeat
class Expand(Function):
    """out = x broadcast to ``shape`` (a read-only view);  dx = g, summed back by the engine."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, shape):
        return array_module(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return g


def expand(input: Tensor, sizes: Sequence[int]) -> Tensor:
    """Broadcast to ``sizes``; -1 keeps a dim, new dims may only be added in front."""
    sizes = tuple(int(s) for s in sizes)
    shape = tuple(input.shape)
    if len(sizes) < len(shape):
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to "
            f"the number of dimensions in the tensor ({len(shape)})"
        )
    lead = len(sizes) - len(shape)
    out = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise RuntimeError(f"expand: -1 is not allowed in a leading, non-existing dimension ({sizes})")
            out.append(s)
            continue
        cur = shape[i - lead]
        if s == -1:
            s = cur
        if cur != s and cur != 1:
            raise ShapeError(
                f"expand: the expanded size of the tensor ({s}) must match the existing size ({cur}) "
                f"at non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: {list(shape)}"
            )
        out.append(s)
    return Expand.apply(input, shape=tuple(out))


class Repeat(Function):
    """out = x tiled ``reps`` times along each dim;  dx = sum of g over the tiles."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, reps):
        ctx.reps, ctx.x_shape = reps, x.shape
        x = x.reshape((1,) * (len(reps) - x.ndim) + x.shape)
        ctx.in_shape = x.shape
        return array_module(x).tile(x, reps)

    @staticmethod
    def backward(ctx, g):
        # view g as (r0, s0, r1, s1, ...) and sum the tile axes r_i (sizes given: a
        # repeat of 0 leaves g empty, where -1 could not be inferred)
        split = []
        for r, n in zip(ctx.reps, ctx.in_shape):
            split += [r, n]
        g = g.reshape(split)
        return g.sum(axis=tuple(range(0, g.ndim, 2))).reshape(ctx.x_shape)


def repeat(input: Tensor, sizes: Sequence[int]) -> Tensor:
    """Tile the tensor: ``sizes`` has at least ``ndim`` entries (extra ones add dims in front)."""
    if len(sizes) < input.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor"
        )
    return Repeat.apply(input, reps=tuple(int(s) for s in sizes))


# ---------------------------------------------------------------------------- cat, stack, split
class Cat(Function):
    """out = the inputs joined along ``dim``;  d(input i) = its slice of g.

    Inputs flagged in ``skip`` (torch's legacy empty 1-D tensors, shape (0,)) take no
    part in the join; their gradient is an empty (0,) array.
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, *xs, dim, skip):
        ctx.dim, ctx.skip = dim, skip
        kept = [x for x, s in zip(xs, skip) if not s]
        ctx.sizes = [x.shape[dim] for x in kept]
        return array_module(*xs).concatenate(kept, axis=dim)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        pieces = iter(xp.split(g, np.cumsum(ctx.sizes)[:-1].tolist(), axis=ctx.dim))
        return tuple(xp.zeros((0,), dtype=g.dtype) if s else next(pieces) for s in ctx.skip)


class Stack(Function):
    """out = the inputs stacked along a new ``dim``;  d(input i) = g[..., i, ...]."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.dim = dim
        return array_module(*xs).stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        return tuple(xp.take(g, i, axis=ctx.dim) for i in range(g.shape[ctx.dim]))


class Split(Function):
    """outs = views of x cut along ``dim`` at ``sizes``;  dx = the output grads joined."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, sizes, dim):
        ctx.dim = dim
        return tuple(array_module(x).split(x, np.cumsum(sizes)[:-1].tolist(), axis=dim))

    @staticmethod
    def backward(ctx, *grads):
        return array_module(grads[0]).concatenate(grads, axis=ctx.dim)


def _common(op: str, tensors: Sequence[Tensor]) -> list[Tensor]:
    tensors = list(tensors)
    if not tensors:  # torch raises ValueError for cat, RuntimeError for stack
        raise (ValueError if op == "cat" else RuntimeError)(f"{op}(): expected a non-empty list of Tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): expected a sequence of Tensors, got {type(t).__name__}")
    rd = dtypes.result_type(*tensors)
    return [t if t._data.dtype == rd else t.to(rd) for t in tensors]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing ``dim``; other dims must match."""
    ts = _common("cat", tensors)
    # torch skips empty 1-D tensors (shape (0,)) whatever the other shapes are
    skip = tuple(t.ndim == 1 and t.shape[0] == 0 for t in ts)
    if all(skip):
        skip = (False,) * len(ts)
    i0 = skip.index(False)
    ref = ts[i0]
    d = normalize_dim("cat", dim, ref.ndim)
    for i, t in enumerate(ts):
        if skip[i]:
            continue
        if t.ndim != ref.ndim or any(a != b for j, (a, b) in enumerate(zip(t.shape, ref.shape)) if j != d):
            raise ShapeError(
                f"cat(): sizes of tensors must match except in dimension {d}: tensor {i0} has shape "
                f"{tuple(ref.shape)}, tensor {i} has shape {tuple(t.shape)}"
            )
    return Cat.apply(*ts, dim=d, skip=skip)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Stack equal-shaped tensors along a new ``dim``."""
    ts = _common("stack", tensors)
    d = normalize_dim("stack", dim, ts[0].ndim + 1)
    for i, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise ShapeError(
                f"stack expects each tensor to be equal size, but got {tuple(ts[0].shape)} at entry 0 "
                f"and {tuple(t.shape)} at entry {i}"
            )
    return Stack.apply(*ts, dim=d)


def split(input: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Cut into pieces of ``split_size`` (the last may be smaller) or of the given sizes."""
    d = normalize_dim("split", dim, input.ndim)
    n = input.shape[d]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0 and n:
            raise RuntimeError(f"split: split_size must be positive, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else []) if n else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                f"dimension {d}), but got split_sizes={sizes}"
            )
    outs = Split.apply(input, sizes=sizes, dim=d)
    return outs if isinstance(outs, tuple) else (outs,)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Cut into ``chunks`` pieces of ceil(n / chunks) (fewer when that already covers n)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = normalize_dim("chunk", dim, input.ndim)
    if input.shape[d] == 0:
        return split(input, [0] * chunks, d)  # torch: `chunks` empty pieces
    return split(input, -(-input.shape[d] // chunks), d)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, that dim removed."""
    d = normalize_dim("unbind", dim, input.ndim)
    return tuple(squeeze(p, d) for p in split(input, 1, d))


# ---------------------------------------------------------------------------- flip, narrow
class Flip(Function):
    """out = x reversed along ``dims``;  dx = g reversed along them."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, dims):
        ctx.dims = dims
        return array_module(x).flip(x, axis=dims)

    @staticmethod
    def backward(ctx, g):
        return array_module(g).flip(g, axis=ctx.dims)


def flip(input: Tensor, dims: Sequence[int]) -> Tensor:
    axes = normalize_dims("flip", tuple(dims), input.ndim)  # refuses a repeated dim, as torch
    return Flip.apply(input, dims=axes)


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """``length`` elements of ``dim`` from ``start`` (a view)."""
    d = normalize_dim("narrow", dim, input.ndim)
    n = input.shape[d]
    if not -n <= start <= n:  # torch: IndexError for the start, RuntimeError for the length
        raise IndexError(f"narrow: start out of range (expected to be in range of [{-n}, {n}], but got {start})")
    if start < 0:
        start += n
    if length < 0:
        raise RuntimeError(f"narrow: length must be non-negative, got {length}")
    if start + length > n:
        raise RuntimeError(
            f"narrow: start ({start}) + length ({length}) exceeds dimension size ({n}) of dim {d} "
            f"of a tensor of shape {tuple(input.shape)}"
        )
    key = (slice(None),) * d + (slice(start, start + length),)
    return getitem(input, key)


# ---------------------------------------------------------------------------- pad
class Pad(Function):
    """out = x padded by ``widths`` [(before, after) per dim] in ``mode``.

    constant: fill with ``value``; reflect: mirror without the edge; replicate: repeat the
    edge; circular: wrap around. Backward: the centre of g, plus (for the non-constant
    modes) every padded cell's gradient added to the cell it copied. Each padded dim is
    handled as a gather along that dim, so the backward is its scatter-add.
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, widths, mode, value):
        ctx.widths, ctx.mode, ctx.in_shape = widths, mode, x.shape
        xp = array_module(x)
        if mode == "constant":
            crop = tuple(slice(max(-a, 0), n - max(-b, 0)) for (a, b), n in zip(widths, x.shape))
            pos = tuple((max(a, 0), max(b, 0)) for a, b in widths)
            return xp.pad(x[crop], pos, mode="constant", constant_values=value)
        out = x
        for axis, (a, b) in enumerate(widths):
            if a or b:
                out = xp.take(out, _pad_index(x.shape[axis], a, b, mode), axis=axis)
        return out

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        if ctx.mode == "constant":
            crop = tuple(slice(max(a, 0), g.shape[i] - max(b, 0)) for i, (a, b) in enumerate(ctx.widths))
            g = g[crop]
            if g.shape == ctx.in_shape:
                return g
            pos = tuple((max(-a, 0), max(-b, 0)) for a, b in ctx.widths)
            return xp.pad(g, pos)  # cells cropped away by negative padding get 0
        for axis, (a, b) in enumerate(ctx.widths):
            if a or b:
                n = ctx.in_shape[axis]
                moved = xp.moveaxis(g, axis, 0)
                acc = xp.zeros((n, *moved.shape[1:]), dtype=g.dtype)
                scatter_add(acc, xp.asarray(_pad_index(n, a, b, ctx.mode)), moved)
                g = xp.moveaxis(acc, 0, axis)
        return g


def _pad_index(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each output position along one dim, the input index it copies."""
    i = np.arange(-before, n + after)
    if mode == "reflect":
        period = 2 * (n - 1)
        i = np.abs(i) % period if period else np.zeros_like(i)
        i = np.where(i >= n, period - i, i)
    elif mode == "replicate":
        i = np.clip(i, 0, n - 1)
    elif mode == "circular":
        i = i % n
    return i


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left, right, top, bottom, ...)``, last dim first.

    ``mode``: 'constant' (with ``value``, default 0), 'reflect', 'replicate' or 'circular'.
    Negative widths crop (constant, reflect, replicate), as in torch.
    Errors as torch's: RuntimeError for bad widths, NotImplementedError for a bad mode.
    """
    if any(not isinstance(p, (int, np.integer)) or isinstance(p, bool) for p in pad):
        raise TypeError(f"pad(): argument 'pad' must be a tuple of ints, got {tuple(pad)!r}")
    pad = [int(p) for p in pad]
    shape = tuple(input.shape)
    if len(pad) % 2:
        raise ShapeError(f"pad: padding length must be divisible by 2, got {len(pad)} ({pad})")
    k = len(pad) // 2
    if k > input.ndim:
        raise ShapeError(
            f"pad: padding length should be less than or equal to two times the input dimension, but "
            f"got padding length {len(pad)} for an input of shape {shape}"
        )
    if mode in ("reflect", "replicate", "circular") and input.ndim not in (k + 1, k + 2):
        raise NotImplementedError(
            f"pad: {mode} padding of {len(pad)} values pads the last {k} dims of a {k + 1}-D or {k + 2}-D input "
            f"(batched or not), got an input of shape {shape}"
        )
    widths = [(0, 0)] * (input.ndim - k) + [(pad[2 * j], pad[2 * j + 1]) for j in reversed(range(k))]
    if mode == "constant":
        for axis, ((a, b), n) in enumerate(zip(widths, shape)):
            if n - max(-a, 0) - max(-b, 0) < 0:  # torch crops first, then pads
                raise RuntimeError(
                    f"pad: padding {pad} crops more than the {n} elements of dimension {axis} of an "
                    f"input of shape {shape}"
                )
        return Pad.apply(input, widths=tuple(widths), mode=mode, value=0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(
            f"pad: unrecognised padding mode {mode!r}; use 'constant', 'reflect', 'replicate' or 'circular'"
        )
    if value not in (None, 0):
        raise RuntimeError(f"pad: padding mode {mode!r} doesn't take in value argument")
    for axis, ((a, b), n) in enumerate(zip(widths, shape)):
        if axis < input.ndim - k:
            continue
        if mode == "circular" and (a < 0 or b < 0):
            raise RuntimeError(f"pad: negative padding is not supported in circular mode, got {pad}")
        if mode != "circular" and n > 0 and n + a + b < 1:
            raise RuntimeError(
                f"pad: input of shape {shape} is too small for padding {pad}: dimension {axis} of "
                f"size {n} would have size {n + a + b}"
            )
        if mode == "reflect" and (a >= n or b >= n):
            raise RuntimeError(
                f"pad: padding size should be less than the corresponding input dimension, but got: "
                f"padding ({a}, {b}) at dimension {axis} of size {n} (input shape {shape})"
            )
        if mode == "circular" and (a > n or b > n):
            raise RuntimeError(
                f"pad: padding value causes wrapping around more than once ({pad} for dimension {axis} "
                f"of size {n}, input shape {shape})"
            )
        if mode == "replicate" and n == 0 and (a or b):
            raise RuntimeError(f"pad: cannot replicate-pad the empty dimension {axis} of an input of shape {shape}")
    return Pad.apply(input, widths=tuple(widths), mode=mode, value=None)


# ---------------------------------------------------------------------------- indexing
def _index_key(key: Any) -> tuple[Any, bool]:
    """``key`` with tensors turned into arrays, and whether it uses only basic indexing.

    Basic keys (ints, slices, None, Ellipsis) select each element at most once, so the
    gradient can be assigned; advanced keys (integer arrays) may repeat an element, so
    the gradient must be scatter-added.
    """
    items = key if isinstance(key, tuple) else (key,)
    out = []
    basic = True
    for k in items:
        if isinstance(k, Tensor):
            k = k._data
            if k.dtype.kind == "f":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            if k.dtype == np.uint8:  # torch reads a uint8 (byte) tensor as a mask
                k = k.astype(np.bool_)
            elif k.ndim == 0 and k.dtype.kind in "iu":  # torch: a 0-d integer tensor is an int
                k = int(k)
        elif isinstance(k, list):
            k = np.asarray(k) if k else np.zeros(0, dtype=np.int64)  # x[[]] selects nothing
        if isinstance(k, slice) and k.step is not None and k.step <= 0:
            # torch refuses negative steps (numpy would reverse): use flip()
            raise ValueError("slice step cannot be zero" if k.step == 0 else "step must be greater than zero")
        if isinstance(k, (int, np.integer, slice)) or k is None or k is Ellipsis:
            pass
        elif getattr(k, "dtype", None) == np.bool_:
            basic = False  # a mask never repeats, but it is not a view either
        else:
            basic = False
        out.append(k)
    return tuple(out), basic


def _stages(key: tuple[Any, ...], basic: bool) -> tuple[tuple[Any, ...], ...]:
    """``key`` as numpy keys applied one after the other, so that numpy gives torch's result.

    numpy counts an int next to index arrays as one more index array, which moves the
    indexed dims to the front when a slice separates them ("x[:, [0, 1], :, 0]"); torch
    applies ints (and slices, None) first, then the arrays. So such a key becomes two
    stages: a basic key (a view), then the arrays on what is left.
    """
    if basic or not any(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in key):
        return (key,)
    first: list[Any] = []
    then: list[Any] = []
    for k in key:
        if isinstance(k, bool):  # a bool scalar adds a dim (a view only written as None)
            first.append(None if k else k)
            then.append(slice(None))
        elif isinstance(k, (int, np.integer)):
            first.append(k)  # the dim is gone
        elif k is None or isinstance(k, slice):
            first.append(k)
            then.append(slice(None))
        elif k is Ellipsis:
            first.append(k)
            then.append(k)
        else:  # an index array, or a mask over k.ndim dims
            first.extend([slice(None)] * (k.ndim if k.dtype == np.bool_ else 1))
            then.append(k)
    return tuple(first), tuple(then)


def _view(x: Any, stages: tuple[tuple[Any, ...], ...]) -> Any:
    """``x`` indexed by every stage but the last (basic keys: a view that writes through)."""
    for k in stages[:-1]:
        x = x[k]
    return x


class Index(Function):
    """out = x[key];  dx = zeros with g placed (basic) or scatter-added (advanced) at key.

    ``stages``: the key as one numpy key, or two applied in turn (see ``_stages``).
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, stages, basic):
        ctx.stages, ctx.basic, ctx.shape = stages, basic, x.shape
        return _view(x, stages)[stages[-1]]

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        gx = xp.zeros(ctx.shape, dtype=g.dtype)
        key = ctx.stages[-1]
        if ctx.basic or _is_single_mask(key):
            _view(gx, ctx.stages)[key] = g
        else:
            scatter_add(_view(gx, ctx.stages), key, g)
        return gx


def _is_single_mask(key: tuple[Any, ...]) -> bool:
    return len(key) == 1 and getattr(key[0], "dtype", None) == np.bool_


def getitem(input: Tensor, key: Any) -> Tensor:
    """``input[key]`` with torch's rules: ints, slices, None, ..., masks, index arrays."""
    k, basic = _index_key(key)
    try:
        return Index.apply(input, stages=_stages(k, basic), basic=basic)
    except IndexError as e:
        raise IndexError(f"index {key!r} is invalid for a tensor of shape {tuple(input.shape)}: {e}") from None


class IndexPut(Function):
    """out = x with out[key] = v;  dx = g with g[key] = 0,  dv = g[key].

    v broadcasts to x[key] (it may also have extra leading 1s, as numpy and torch allow);
    the engine sums dv back over the broadcast dims.
    """

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, v, *, stages):
        ctx.stages, ctx.v_ndim = stages, v.ndim
        out = x.copy()
        _view(out, stages)[stages[-1]] = v
        return out

    @staticmethod
    def backward(ctx, g):
        gx = gv = None
        key = ctx.stages[-1]
        if ctx.needs_input_grad[0]:
            gx = g.copy()
            _view(gx, ctx.stages)[key] = 0
        if ctx.needs_input_grad[1]:
            gv = _view(g, ctx.stages)[key]
            if gv.ndim < ctx.v_ndim:  # v had extra leading 1s
                gv = gv.reshape((1,) * (ctx.v_ndim - gv.ndim) + gv.shape)
        return gx, gv


def setitem(input: Tensor, key: Any, value: Any) -> None:
    """``input[key] = value``: writes in place; inside a graph, records the write (torch)."""
    from minidl.ops.elementwise import as_tensor_operand

    k, basic = _index_key(key)
    stages = _stages(k, basic)
    v = as_tensor_operand(value, input)
    xp = array_module(input._data)
    try:  # the shape of input[key], from a zero-stride stand-in (no copy of the data)
        stand_in = xp.broadcast_to(xp.zeros((), dtype=np.bool_), tuple(input.shape))
        target = tuple(_view(stand_in, stages)[stages[-1]].shape)
    except IndexError as e:
        raise IndexError(f"index {key!r} is invalid for a tensor of shape {tuple(input.shape)}: {e}") from None
    vs = tuple(v.shape)
    while len(vs) > len(target) and vs[0] == 1:
        vs = vs[1:]
    try:
        fits = np.broadcast_shapes(vs, target) == target
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(
            f"setitem: shape mismatch: value tensor of shape {tuple(v.shape)} cannot be broadcast to "
            f"indexing result of shape {target} (tensor of shape {tuple(input.shape)}, index {key!r})"
        )
    if v._data.dtype != input._data.dtype:
        v = v.to(input.dtype)
    input._inplace("setitem", lambda: IndexPut.apply(input, v, stages=stages))


# ---------------------------------------------------------------------------- gather
class Gather(Function):
    """out[i][j] = x[i][index[i][j]] (along ``dim``);  dx = g scatter-added to those places."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, index, dim):
        ctx.dim, ctx.shape = dim, x.shape
        ctx.save_for_backward(index)
        # index may be smaller than x in the dims other than ``dim``: those are cropped
        x = x[tuple(slice(None) if i == dim else slice(0, s) for i, s in enumerate(index.shape))]
        return array_module(x).take_along_axis(x, index, axis=dim)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        xp = array_module(g)
        gx = xp.zeros(ctx.shape, dtype=g.dtype)
        # the full index tuple of every element of g, then one scatter-add
        grids = list(xp.indices(index.shape, sparse=True))
        grids[ctx.dim] = index
        scatter_add(gx, tuple(grids), g)
        return gx


def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """Pick along ``dim`` by ``index`` (same number of dims as input)."""
    d = normalize_dim("gather", dim, input.ndim)
    idx = index._data if isinstance(index, Tensor) else np.asarray(index)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"gather(): Expected dtype int64 for index, got {idx.dtype}")
    if idx.ndim != input.ndim:
        raise RuntimeError(
            f"gather(): Index tensor must have the same number of dimensions as input tensor "
            f"(index {tuple(idx.shape)}, input {tuple(input.shape)})"
        )
    for i, (a, b) in enumerate(zip(idx.shape, input.shape)):
        if i != d and a > b:
            raise RuntimeError(
                f"gather(): Size does not match at dimension {i}: expected index {tuple(idx.shape)} to "
                f"be no larger than input {tuple(input.shape)} apart from dimension {d}"
            )
    n = input.shape[d]
    if idx.size and (idx.min() < 0 or idx.max() >= n):  # torch takes no negative index here
        bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
        raise RuntimeError(
            f"gather(): index {bad} is out of bounds for dimension {d} with size {n} "
            f"(input shape {tuple(input.shape)})"
        )
    return Gather.apply(input, index=idx, dim=d)


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The slices ``index`` (1-D) along ``dim``."""
    d = normalize_dim("index_select", dim, input.ndim)
    idx = index._data if isinstance(index, Tensor) else np.asarray(index)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"index_select(): Expected dtype int32 or int64 for index, got {idx.dtype}")
    if idx.ndim > 1:
        raise IndexError(f"index_select(): Index is supposed to be a vector, got shape {tuple(idx.shape)}")
    n = input.shape[d]
    if idx.size and (idx.min() < 0 or idx.max() >= n):  # torch takes no negative index here
        bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
        raise RuntimeError(
            f"index_select(): index {bad} is out of range for dimension {d} with size {n} "
            f"(input shape {tuple(input.shape)})"
        )
    return getitem(input, (slice(None),) * d + (idx.reshape(-1),))


# ---------------------------------------------------------------------------- copies
def copy_from(target: Tensor, src: Any) -> Tensor:
    """``src`` broadcast to ``target``'s shape, dtype and device (for ``copy_``)."""
    if not isinstance(src, Tensor):
        src = Tensor(src)
    if src.device != target.device:
        src = move_to(src, target.device)
    if src._data.dtype != target._data.dtype:
        src = src.to(target.dtype)
    if tuple(src.shape) != tuple(target.shape):
        src = expand(src, tuple(target.shape))
    return src if src is not target else src.clone()


def filled_like(target: Tensor, value: Any) -> Tensor:
    """A new tensor of ``target``'s shape and dtype, every element ``value``."""
    xp = array_module(target._data)
    return Tensor._make(xp.full(target._data.shape, value, dtype=target._data.dtype))


class ToDevice(Function):
    """out = x copied to another device;  dx = g copied back."""

    works_on_arrays = True

    @staticmethod
    def forward(ctx, x, *, device):
        from minidl.backend import device_of

        ctx.src = device_of(x)
        return to_device(x, device)

    @staticmethod
    def backward(ctx, g):
        return to_device(g, ctx.src)


def move_to(input: Tensor, device: Device) -> Tensor:
    """``input`` on ``device`` (differentiable: the gradient travels back)."""
    return ToDevice.apply(input, device=device)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot rows: ``(*,)`` class indices -> ``(*, num_classes)`` (no gradient)."""
    idx = tensor._data
    if idx.dtype.kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and (idx.min() < 0 or idx.max() >= num_classes):
        raise RuntimeError(
            f"one_hot: class values must be in [0, {num_classes}), got {int(idx.min())}..{int(idx.max())}"
        )
    xp = array_module(idx)
    return Tensor._make((idx[..., None] == xp.arange(num_classes)).astype(np.int64))
