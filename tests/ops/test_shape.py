"""Shape ops against torch: reshape family, permutes, expand/repeat, cat/stack/split,
flip/narrow, pad, gather/index_select. Forward and every gradient (check_op), float64
finite differences (check_gradcheck), and torch's error types for bad arguments."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from tests.helpers import check_gradcheck, check_op
from tests.strategies import array_and_dim, arrays, float_dtypes, shapes


# ---------------------------------------------------------------------------- strategies
def _prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


@st.composite
def factor_shape(draw, n: int, allow_infer: bool = True, max_dims: int = 4) -> tuple[int, ...]:
    """A shape whose product is ``n`` (possibly with 1s), one entry maybe -1."""
    k = draw(st.integers(1, max_dims))
    dims = [1] * k
    for p in _prime_factors(n):
        dims[draw(st.integers(0, k - 1))] *= p
    if allow_infer and draw(st.booleans()):
        dims[draw(st.integers(0, k - 1))] = -1
    return tuple(dims)


@st.composite
def array_with_ones(draw, min_dims: int = 0, max_dims: int = 4, dtype=None) -> np.ndarray:
    """An array whose shape has many size-1 dims (for squeeze / expand)."""
    shape = tuple(draw(st.lists(st.sampled_from([1, 1, 2, 3]), min_size=min_dims, max_size=max_dims)))
    return draw(arrays(shape=shape, dtype=dtype))


def _signed(draw, d: int, ndim: int) -> int:
    """``d`` or its negative alias."""
    return d - ndim if draw(st.booleans()) else d


# ---------------------------------------------------------------------------- reshape family
@given(data=st.data())
def test_reshape_and_view(data):
    a = data.draw(arrays())
    target = data.draw(factor_shape(a.size))
    check_op(lambda x: x.reshape(target), [a])
    check_op(lambda x: x.view(target), [a])
    check_op(lambda x: x.view(*target), [a])
    check_op(lambda x: md.reshape(x, target), [a], torch_fn=lambda x: torch.reshape(x, target))


@given(data=st.data())
def test_reshape_gradcheck(data):
    a = data.draw(arrays(shape=data.draw(shapes(max_side=3)), dtype=np.float64))
    target = data.draw(factor_shape(a.size))
    check_gradcheck(lambda x: x.reshape(target) * 1.5, [a])


@given(data=st.data())
def test_view_as_and_reshape_as(data):
    a = data.draw(arrays())
    other = np.zeros(data.draw(factor_shape(a.size, allow_infer=False)), dtype=a.dtype)
    check_op(lambda x, y: x.view_as(y), [a, other], requires_grad=[True, False])
    check_op(lambda x, y: x.reshape_as(y), [a, other], requires_grad=[True, False])
    if a.size <= 24:  # gradcheck costs one backward per output element
        ref = md.tensor(other)
        check_gradcheck(lambda x: x.view_as(ref), [a])


@given(data=st.data())
def test_flatten(data):
    a = data.draw(arrays(shape=data.draw(shapes(min_dims=1))))
    s = data.draw(st.integers(0, a.ndim - 1))
    e = data.draw(st.integers(s, a.ndim - 1))
    s, e = _signed(data.draw, s, a.ndim), _signed(data.draw, e, a.ndim)
    check_op(lambda x: x.flatten(s, e), [a])
    check_op(lambda x: md.flatten(x, s, e), [a], torch_fn=lambda x: torch.flatten(x, s, e))
    check_gradcheck(lambda x: x.flatten(s, e), [a[tuple(slice(0, 2) for _ in range(a.ndim))]])


def test_flatten_0d():
    check_op(lambda x: x.flatten(), [np.float32(2.5)])
    check_op(lambda x: x.flatten(0, -1), [np.float64(-1.0)])


@given(data=st.data())
def test_unflatten(data):
    a, d = data.draw(array_and_dim())
    sizes = data.draw(factor_shape(a.shape[d], max_dims=3))
    check_op(lambda x: x.unflatten(d, sizes), [a])
    check_gradcheck(lambda x: x.unflatten(d, sizes), [a])


@given(data=st.data())
def test_squeeze(data):
    a = data.draw(array_with_ones())
    check_op(lambda x: x.squeeze(), [a])
    check_op(lambda x: md.squeeze(x), [a], torch_fn=lambda x: torch.squeeze(x))
    n = max(a.ndim, 1)
    d = data.draw(st.integers(-n, n - 1))
    check_op(lambda x: x.squeeze(d), [a])
    check_op(lambda x: md.squeeze(x, d), [a], torch_fn=lambda x: torch.squeeze(x, d))
    if a.ndim:
        dims = tuple(
            _signed(data.draw, i, a.ndim)
            for i in data.draw(st.lists(st.integers(0, a.ndim - 1), unique=True, max_size=a.ndim))
        )
        check_op(lambda x: x.squeeze(dims), [a])
    check_gradcheck(lambda x: x.squeeze(), [a])


@given(data=st.data())
def test_unsqueeze(data):
    a = data.draw(arrays(shape=data.draw(shapes(max_dims=3))))
    d = data.draw(st.integers(-a.ndim - 1, a.ndim))
    check_op(lambda x: x.unsqueeze(d), [a])
    check_op(lambda x: md.unsqueeze(x, d), [a], torch_fn=lambda x: torch.unsqueeze(x, d))
    check_gradcheck(lambda x: x.unsqueeze(d), [a])


# ---------------------------------------------------------------------------- permutes
@given(data=st.data())
def test_transpose(data):
    a = data.draw(arrays(shape=data.draw(shapes(min_dims=1))))
    d0 = data.draw(st.integers(-a.ndim, a.ndim - 1))
    d1 = data.draw(st.integers(-a.ndim, a.ndim - 1))
    check_op(lambda x: x.transpose(d0, d1), [a])
    check_op(lambda x: md.transpose(x, d0, d1), [a], torch_fn=lambda x: torch.transpose(x, d0, d1))
    check_gradcheck(lambda x: x.transpose(d0, d1), [a[tuple(slice(0, 2) for _ in range(a.ndim))]])


@given(data=st.data())
def test_permute(data):
    a = data.draw(arrays(shape=data.draw(shapes())))
    dims = tuple(_signed(data.draw, d, a.ndim) for d in data.draw(st.permutations(range(a.ndim))))
    check_op(lambda x: x.permute(dims), [a])
    if dims:
        check_op(lambda x: x.permute(*dims), [a])
    check_op(lambda x: md.permute(x, dims), [a], torch_fn=lambda x: torch.permute(x, dims))
    check_gradcheck(lambda x: x.permute(dims), [a[tuple(slice(0, 2) for _ in range(a.ndim))]])


@given(data=st.data())
def test_T_and_t_2d(data):
    a = data.draw(arrays(shape=data.draw(shapes(min_dims=2, max_dims=2))))
    check_op(lambda x: x.T, [a])
    check_op(lambda x: x.t(), [a])
    check_gradcheck(lambda x: x.T, [a])


@given(data=st.data())
def test_mT(data):
    a = data.draw(arrays(shape=data.draw(shapes(min_dims=2))))
    check_op(lambda x: x.mT, [a])
    check_gradcheck(lambda x: x.mT, [a[tuple(slice(0, 2) for _ in range(a.ndim))]])


def test_mT_1d_error_type():
    with pytest.raises(RuntimeError):
        torch.zeros(3).mT
    with pytest.raises(RuntimeError, match="mT"):
        md.zeros(3).mT


# ---------------------------------------------------------------------------- expand, repeat
@st.composite
def expand_case(draw):
    a = draw(array_with_ones())
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    sizes = []
    for s in a.shape:
        if s == 1:
            sizes.append(draw(st.sampled_from([1, 2, 3, -1])))
        else:
            sizes.append(draw(st.sampled_from([s, -1])))
    return a, (*lead, *sizes)


@given(case=expand_case())
def test_expand(case):
    a, sizes = case
    check_op(lambda x: x.expand(sizes), [a])
    if sizes:
        check_op(lambda x: x.expand(*sizes), [a])
    check_gradcheck(lambda x: x.expand(sizes), [a])


@given(case=expand_case())
def test_expand_as(case):
    a, sizes = case
    target_shape = tuple(torch.zeros(a.shape).expand(sizes).shape)
    other = np.zeros(target_shape, dtype=a.dtype)
    check_op(lambda x, y: x.expand_as(y), [a, other], requires_grad=[True, False])
    check_op(lambda x: x.broadcast_to(target_shape), [a])
    ref = md.tensor(other)
    check_gradcheck(lambda x: x.expand_as(ref), [a])


@given(data=st.data())
def test_repeat(data):
    a = data.draw(arrays(shape=data.draw(shapes(max_dims=3, max_side=3))))
    extra = data.draw(st.integers(0, 2))
    sizes = tuple(data.draw(st.lists(st.integers(0, 3), min_size=a.ndim + extra, max_size=a.ndim + extra)))
    check_op(lambda x: x.repeat(sizes), [a])
    if sizes:
        check_op(lambda x: x.repeat(*sizes), [a])
    check_op(lambda x: md.repeat(x, sizes), [a], torch_fn=lambda x: x.repeat(sizes))
    if all(sizes):
        check_gradcheck(lambda x: x.repeat(sizes), [a])


# ---------------------------------------------------------------------------- cat, stack
@st.composite
def cat_case(draw, same_shape: bool = False, dtypes=None, min_size: int = 0):
    """Several arrays that can be joined along ``dim`` (mixed float dtypes)."""
    base = draw(shapes(min_dims=1, max_dims=3, max_side=3))
    k = draw(st.integers(1, 4))
    d = draw(st.integers(-len(base), len(base) - 1))
    out = []
    for _ in range(k):
        shape = list(base)
        if not same_shape:
            shape[d] = draw(st.integers(min_size, 3))
        dtype = draw(float_dtypes if dtypes is None else st.sampled_from(dtypes))
        out.append(draw(arrays(shape=tuple(shape), dtype=dtype)))
    return out, d


@given(case=cat_case())
def test_cat(case):
    arrs, d = case
    check_op(lambda *xs: md.cat(xs, d), arrs, torch_fn=lambda *xs: torch.cat(xs, d))
    check_op(lambda *xs: md.cat(list(xs), dim=d), arrs, torch_fn=lambda *xs: torch.cat(list(xs), dim=d))
    check_op(lambda *xs: md.concat(xs, d), arrs, torch_fn=lambda *xs: torch.concat(xs, d))


@given(case=cat_case(dtypes=[np.float32, np.float64, np.int64, np.int32]))
def test_cat_promotes_like_torch(case):
    arrs, d = case
    check_op(lambda *xs: md.cat(xs, d), arrs, torch_fn=lambda *xs: torch.cat(xs, d))


@given(case=cat_case(dtypes=[np.float64], min_size=1))
def test_cat_gradcheck(case):
    arrs, d = case
    check_gradcheck(lambda *xs: md.cat(xs, d), arrs)


def test_cat_skips_legacy_empty_1d():
    a = np.ones((2, 3), np.float32)
    e = np.zeros((0,), np.float32)
    check_op(lambda x, y: md.cat([x, y, x], 0), [a, e], torch_fn=lambda x, y: torch.cat([x, y, x], 0))


@given(data=st.data())
def test_stack(data):
    arrs, _ = data.draw(cat_case(same_shape=True))
    d = data.draw(st.integers(-arrs[0].ndim - 1, arrs[0].ndim))
    check_op(lambda *xs: md.stack(xs, d), arrs, torch_fn=lambda *xs: torch.stack(xs, d))
    check_op(lambda *xs: md.stack(list(xs), dim=d), arrs, torch_fn=lambda *xs: torch.stack(list(xs), dim=d))


@given(data=st.data())
def test_stack_promotes_like_torch(data):
    arrs, _ = data.draw(cat_case(same_shape=True, dtypes=[np.float32, np.int64, np.float64]))
    check_op(lambda *xs: md.stack(xs, -1), arrs, torch_fn=lambda *xs: torch.stack(xs, -1))


@given(data=st.data())
def test_stack_gradcheck(data):
    arrs, _ = data.draw(cat_case(same_shape=True, dtypes=[np.float64]))
    d = data.draw(st.integers(-arrs[0].ndim - 1, arrs[0].ndim))
    check_gradcheck(lambda *xs: md.stack(xs, d), arrs)


# ---------------------------------------------------------------------------- split, chunk, unbind


@pytest.mark.parametrize("op", ["split", "chunk", "split_sections"])
def test_backward_from_sibling_outputs(op):
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    if op == "split":
        check_op(lambda x: x.split(2), [a])
    elif op == "chunk":
        check_op(lambda x: x.chunk(3, 1), [a])
    else:
        check_op(lambda x: md.split(x, [1, 3]), [a], torch_fn=lambda x: torch.split(x, [1, 3]))


@given(data=st.data())
def test_split_int(data):
    a, d = data.draw(array_and_dim())
    size = data.draw(st.integers(1, a.shape[d] + 1))
    check_op(lambda x: x.split(size, d), [a])
    check_op(lambda x: md.split(x, size, d), [a], torch_fn=lambda x: torch.split(x, size, d))
    pieces = md.tensor(a).split(size, d)
    n = a.shape[d]
    assert [p.shape[d] for p in pieces] == [size] * (n // size) + ([n % size] if n % size else [])
    check_gradcheck(lambda x: x.split(size, d), [a])


@given(data=st.data())
def test_split_sections(data):
    a, d = data.draw(array_and_dim())
    n = a.shape[d]
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=3)))
    sections = [b - c for b, c in zip([*cuts, n], [0, *cuts])]
    check_op(lambda x: x.split(sections, d), [a])
    check_op(
        lambda x: md.split(x, sections, dim=d),
        [a],
        torch_fn=lambda x: torch.split(x, sections, dim=d),
    )
    check_gradcheck(lambda x: x.split(sections, d), [a])


@given(data=st.data())
def test_chunk(data):
    a, d = data.draw(array_and_dim())
    chunks = data.draw(st.integers(1, a.shape[d] + 2))
    check_op(lambda x: x.chunk(chunks, d), [a])
    check_op(lambda x: md.chunk(x, chunks, d), [a], torch_fn=lambda x: torch.chunk(x, chunks, d))
    n, per = a.shape[d], math.ceil(a.shape[d] / chunks)
    assert [p.shape[d] for p in md.tensor(a).chunk(chunks, d)] == [min(per, n - i) for i in range(0, n, per)]
    check_gradcheck(lambda x: x.chunk(chunks, d), [a])


@pytest.mark.parametrize(("n", "chunks"), [(0, 1), (0, 3), (5, 4), (6, 4), (7, 3), (1, 5)])
def test_chunk_edge_counts(n, chunks):
    a = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    check_op(lambda x: x.chunk(chunks), [a])


@given(data=st.data())
def test_unbind(data):
    a, d = data.draw(array_and_dim())
    check_op(lambda x: x.unbind(d), [a])
    check_op(lambda x: md.unbind(x, d), [a], torch_fn=lambda x: torch.unbind(x, d))
    check_gradcheck(lambda x: x.unbind(d), [a])


# ---------------------------------------------------------------------------- flip, narrow
@given(data=st.data())
def test_flip(data):
    a = data.draw(arrays(shape=data.draw(shapes(min_dims=1))))
    dims = [_signed(data.draw, d, a.ndim) for d in data.draw(st.lists(st.integers(0, a.ndim - 1), unique=True))]
    check_op(lambda x: x.flip(dims), [a])
    if dims:
        check_op(lambda x: x.flip(*dims), [a])
    check_op(lambda x: md.flip(x, dims), [a], torch_fn=lambda x: torch.flip(x, dims))
    check_gradcheck(lambda x: x.flip(dims), [a[tuple(slice(0, 2) for _ in range(a.ndim))]])


@given(data=st.data())
def test_narrow(data):
    a, d = data.draw(array_and_dim())
    n = a.shape[d]
    start = data.draw(st.integers(-n, n))
    length = data.draw(st.integers(0, n - (start % n if start < 0 else start)))
    check_op(lambda x: x.narrow(d, start, length), [a])
    check_op(lambda x: md.narrow(x, d, start, length), [a], torch_fn=lambda x: torch.narrow(x, d, start, length))
    check_gradcheck(lambda x: x.narrow(d, start, length), [a])


# ---------------------------------------------------------------------------- pad
@st.composite
def pad_case(draw, mode: str, dtype=None, max_side: int = 4):
    """An input (3-D or 4-D) and a pad tuple torch accepts for ``mode``."""
    ndim = draw(st.sampled_from([3, 4]))
    shape = tuple(draw(st.lists(st.integers(1, max_side), min_size=ndim, max_size=ndim)))
    a = draw(arrays(shape=shape, dtype=dtype))
    if mode == "constant":
        k = draw(st.integers(1, ndim))
    else:  # torch's non-constant modes pad the last 1 (3-D), 2 or 3 (4-D) dims
        k = draw(st.sampled_from([1, 2] if ndim == 3 else [2, 3]))
    pad = []
    for j in range(k):
        n = shape[-1 - j]
        if mode == "constant":  # negative widths crop (at most the whole dim), then pad
            before = draw(st.integers(-n, 3))
            after = draw(st.integers(-(n + min(before, 0)), 3))
        elif mode == "reflect":
            before, after = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        elif mode == "replicate":
            before, after = draw(st.integers(0, 4)), draw(st.integers(0, 4))
        else:
            before, after = draw(st.integers(0, n)), draw(st.integers(0, n))
        pad += [before, after]
    return a, tuple(pad)


@given(case=pad_case("constant"), value=st.sampled_from([0.0, 1.5, -2.0]))
def test_pad_constant(case, value):
    a, pad = case
    check_op(lambda x: md.pad(x, pad, value=value), [a], torch_fn=lambda x: F.pad(x, pad, value=value))
    check_op(lambda x: md.pad(x, pad), [a], torch_fn=lambda x: F.pad(x, pad))
    check_op(
        lambda x: md.pad(x, pad, mode="constant", value=value),
        [a],
        torch_fn=lambda x: F.pad(x, pad, mode="constant", value=value),
    )


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@given(data=st.data())
def test_pad_modes(mode, data):
    a, pad = data.draw(pad_case(mode))
    check_op(lambda x: md.pad(x, pad, mode=mode), [a], torch_fn=lambda x: F.pad(x, pad, mode=mode))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@given(data=st.data())
def test_pad_gradcheck(mode, data):
    a, pad = data.draw(pad_case(mode, dtype=np.float64, max_side=3))
    check_gradcheck(lambda x: md.pad(x, pad, mode=mode), [a])


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
@given(data=st.data())
def test_pad_negative_widths_crop_in_reflect_and_replicate(mode, data):
    """torch crops with negative widths in these modes too (output must stay non-empty)."""
    a = data.draw(arrays(shape=tuple(data.draw(st.lists(st.integers(2, 4), min_size=3, max_size=3)))))
    n = a.shape[-1]
    before = data.draw(st.integers(-(n - 1), n - 1))
    after = data.draw(st.integers(-(n + before - 1) if before < 0 else -(n - 1), n - 1))
    if n + before + after < 1:
        after = 1 - n - before
    pad = (before, after)
    check_op(lambda x: md.pad(x, pad, mode=mode), [a], torch_fn=lambda x: F.pad(x, pad, mode=mode))


# ---------------------------------------------------------------------------- gather, index_select
@st.composite
def gather_case(draw, dtype=None):
    a, d = draw(array_and_dim(dtype=dtype))
    ax = d % a.ndim
    idx_shape = tuple(draw(st.integers(1, 4)) if i == ax else draw(st.integers(1, s)) for i, s in enumerate(a.shape))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    index = rng.integers(0, a.shape[ax], size=idx_shape)
    return a, d, index


@given(case=gather_case())
def test_gather(case):
    a, d, index = case
    check_op(lambda x, i: x.gather(d, i), [a, index])
    check_op(lambda x, i: md.gather(x, d, i), [a, index], torch_fn=lambda x, i: torch.gather(x, d, i))


@given(case=gather_case(dtype=np.float64))
def test_gather_gradcheck(case):
    a, d, index = case
    idx = md.tensor(index)
    check_gradcheck(lambda x: x.gather(d, idx), [a])


@given(data=st.data())
def test_index_select(data):
    a, d = data.draw(array_and_dim())
    k = data.draw(st.integers(0, 5))
    index = np.asarray(data.draw(st.lists(st.integers(0, a.shape[d] - 1), min_size=k, max_size=k)), dtype=np.int64)
    check_op(lambda x, i: x.index_select(d, i), [a, index])
    check_op(lambda x, i: md.index_select(x, d, i), [a, index], torch_fn=lambda x, i: torch.index_select(x, d, i))
    scalar = np.int64(data.draw(st.integers(0, a.shape[d] - 1)))
    check_op(lambda x, i: x.index_select(d, i), [a, scalar])
    idx = md.tensor(index)
    check_gradcheck(lambda x: x.index_select(d, idx), [a.astype(np.float64)])


def test_index_select_repeated_indices_accumulate():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    check_op(lambda x, i: x.index_select(1, i), [a, np.array([0, 2, 0, 0, 3])])


# ---------------------------------------------------------------------------- errors
def _both_raise(exc, md_fn, torch_fn, *fragments):
    """Both libraries raise ``exc``; minidl's message contains every fragment."""
    with pytest.raises(exc):
        torch_fn(torch)
    with pytest.raises(exc) as info:
        md_fn(md)
    msg = str(info.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"
    return msg


def X(lib, shape=(2, 3, 4), dtype=None):
    return lib.zeros(*shape) if dtype is None else lib.zeros(*shape, dtype=dtype)


ERRORS = {
    "reshape_size": (RuntimeError, lambda L: X(L).reshape(5, 5), ("reshape", "[5, 5]", "24", "(2, 3, 4)")),
    "view_infer": (RuntimeError, lambda L: X(L).view(5, -1), ("view", "[5, -1]", "24")),
    "reshape_two_infer": (RuntimeError, lambda L: X(L).reshape(-1, -1), ("reshape", "one dimension")),
    "reshape_negative": (RuntimeError, lambda L: X(L).reshape(-2, 12), ("reshape", "-2")),
    "flatten_order": (RuntimeError, lambda L: X(L).flatten(2, 1), ("flatten", "start_dim")),
    "flatten_dim": (IndexError, lambda L: X(L).flatten(0, 3), ("flatten", "3")),
    "unflatten_sizes": (RuntimeError, lambda L: X(L).unflatten(1, (2, 2)), ("unflatten", "2, 2", "3")),
    "squeeze_dim": (IndexError, lambda L: X(L).squeeze(3), ("squeeze", "3")),
    "squeeze_dup": (RuntimeError, lambda L: X(L, (1, 2, 1)).squeeze((0, -3)), ("squeeze", "multiple")),
    "unsqueeze_dim": (IndexError, lambda L: X(L).unsqueeze(4), ("unsqueeze", "4")),
    "unsqueeze_neg": (IndexError, lambda L: X(L).unsqueeze(-5), ("unsqueeze", "-5")),
    "transpose_dim": (IndexError, lambda L: X(L).transpose(0, 3), ("transpose", "3")),
    "permute_dup": (RuntimeError, lambda L: X(L).permute(0, 0, 1), ("permute", "(0, 0, 1)")),
    "permute_len": (RuntimeError, lambda L: X(L).permute(0, 1), ("permute", "3", "2")),
    "permute_dim": (IndexError, lambda L: X(L).permute(0, 1, 3), ("permute", "3")),
    "expand_size": (RuntimeError, lambda L: X(L).expand(3, 3, 4), ("expand", "[3, 3, 4]", "[2, 3, 4]")),
    "expand_few": (RuntimeError, lambda L: X(L).expand(3, 4), ("expand", "(2)", "(3)")),
    "expand_lead_infer": (RuntimeError, lambda L: X(L).expand(-1, 2, 3, 4), ("expand", "-1")),
    "repeat_few": (RuntimeError, lambda L: X(L).repeat(2, 2), ("repeat",)),
    "cat_shapes": (RuntimeError, lambda L: L.cat([X(L), X(L, (2, 4, 4))], 2), ("cat", "(2, 3, 4)", "(2, 4, 4)")),
    "cat_ndim": (RuntimeError, lambda L: L.cat([X(L), X(L, (2, 4))], 0), ("cat", "(2, 3, 4)", "(2, 4)")),
    "cat_dim": (IndexError, lambda L: L.cat([X(L), X(L)], 3), ("cat", "3")),
    "cat_empty": (ValueError, lambda L: L.cat([]), ("cat", "non-empty")),
    "stack_shapes": (RuntimeError, lambda L: L.stack([X(L), X(L, (2, 4, 4))]), ("stack", "(2, 3, 4)", "(2, 4, 4)")),
    "stack_dim": (IndexError, lambda L: L.stack([X(L), X(L)], 4), ("stack", "4")),
    "stack_empty": (RuntimeError, lambda L: L.stack([]), ("stack", "non-empty")),
    "split_sections": (RuntimeError, lambda L: X(L).split([1, 1], 1), ("split", "[1, 1]", "3")),
    "split_zero": (RuntimeError, lambda L: X(L).split(0, 1), ("split", "0")),
    "split_dim": (IndexError, lambda L: X(L).split(1, 3), ("split", "3")),
    "chunk_zero": (RuntimeError, lambda L: X(L).chunk(0, 1), ("chunk", "0")),
    "unbind_dim": (IndexError, lambda L: X(L).unbind(-4), ("unbind", "-4")),
    "flip_dup": (RuntimeError, lambda L: X(L).flip(0, -3), ("flip", "multiple")),
    "flip_dim": (IndexError, lambda L: X(L).flip(3), ("flip", "3")),
    "narrow_length": (RuntimeError, lambda L: X(L).narrow(2, 3, 2), ("narrow", "3", "2", "4")),
    "narrow_start": (IndexError, lambda L: X(L).narrow(2, -5, 1), ("narrow", "-5", "4")),
    "narrow_start_big": (IndexError, lambda L: X(L).narrow(2, 5, 0), ("narrow", "5", "4")),
    "gather_negative": (RuntimeError, lambda L: X(L).gather(1, L.full((2, 2, 4), -1)), ("gather", "-1", "3")),
    "gather_bounds": (RuntimeError, lambda L: X(L).gather(1, L.full((2, 2, 4), 3)), ("gather", "3")),
    "gather_ndim": (RuntimeError, lambda L: X(L).gather(1, L.zeros(2, 2, dtype=L.int64)), ("gather", "(2, 2)")),
    "gather_bigger_index": (
        RuntimeError,
        lambda L: X(L).gather(1, L.zeros(3, 2, 4, dtype=L.int64)),
        ("gather", "(3, 2, 4)", "(2, 3, 4)"),
    ),
    "gather_float": (RuntimeError, lambda L: X(L).gather(1, L.zeros(2, 2, 4)), ("gather", "float")),
    "index_select_2d": (IndexError, lambda L: X(L).index_select(1, L.tensor([[1]])), ("index_select", "vector")),
    "index_select_bounds": (RuntimeError, lambda L: X(L).index_select(1, L.tensor([0, 3])), ("index_select", "3")),
    "index_select_negative": (RuntimeError, lambda L: X(L).index_select(1, L.tensor([-1])), ("index_select", "-1")),
    "index_select_float": (RuntimeError, lambda L: X(L).index_select(1, L.tensor([1.0])), ("index_select",)),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_shape_errors(name):
    exc, fn, fragments = ERRORS[name]
    _both_raise(exc, fn, fn, *fragments)


def _pad_fn(pad, **kw):
    def run(lib, shape=(2, 3, 4)):
        x = lib.zeros(*shape)
        return lib.pad(x, pad, **kw) if lib is md else F.pad(x, pad, **kw)

    return run


PAD_ERRORS = {
    "odd_length": (RuntimeError, _pad_fn((1, 2, 3)), ("pad", "divisible by 2", "3")),
    "too_long": (RuntimeError, _pad_fn((1,) * 8), ("pad", "8", "3")),
    "crop_too_much": (RuntimeError, _pad_fn((-3, -2)), ("pad", "(2, 3, 4)")),
    "crop_past_input": (RuntimeError, _pad_fn((1, -5)), ("pad", "(2, 3, 4)")),
    "reflect_too_big": (RuntimeError, _pad_fn((4, 0), mode="reflect"), ("pad", "(4, 0)", "4")),
    "reflect_too_big_right": (RuntimeError, _pad_fn((1, 1, 0, 3), mode="reflect"), ("pad", "(0, 3)", "3")),
    "circular_wraps": (RuntimeError, _pad_fn((5, 0), mode="circular"), ("pad", "4")),
    "reflect_value": (RuntimeError, _pad_fn((1, 1), mode="reflect", value=1.0), ("pad", "reflect", "value")),
    "replicate_value": (RuntimeError, _pad_fn((1, 1), mode="replicate", value=2.0), ("pad", "replicate", "value")),
    "replicate_empty_out": (RuntimeError, _pad_fn((-2, -2), mode="replicate"), ("pad", "4")),
    "bad_mode": (NotImplementedError, _pad_fn((1, 1), mode="nearest"), ("pad", "nearest")),
}


@pytest.mark.parametrize("name", list(PAD_ERRORS))
def test_pad_errors(name):
    exc, fn, fragments = PAD_ERRORS[name]
    _both_raise(exc, fn, fn, *fragments)


def test_error_messages_name_the_shapes():
    """A reshape error tells what was asked and what the tensor is."""
    with pytest.raises(RuntimeError) as info:
        md.zeros(2, 3).view(4, 2)
    assert re.search(r"view.*\[4, 2\].*6", str(info.value))


def test_pad_refuses_what_torch_refuses():
    for x_shape, widths, mode in [((1, 2, 3, 4, 4), [1, 1, 1, 1], "reflect"), ((1, 3, 4, 4), [1, 1], "replicate")]:
        with pytest.raises(NotImplementedError):
            torch.nn.functional.pad(torch.zeros(x_shape), widths, mode=mode)
        with pytest.raises(NotImplementedError, match=str(x_shape)):
            md.pad(md.zeros(x_shape), widths, mode=mode)
    with pytest.raises(TypeError):
        torch.nn.functional.pad(torch.zeros(2, 3), [1.5, 1])
    with pytest.raises(TypeError, match="ints"):
        md.pad(md.zeros(2, 3), [1.5, 1])
