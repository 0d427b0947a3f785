"""``x[key]`` and ``x[key] = value`` against torch.

Keys are drawn as specs (ints, slices with steps, None, Ellipsis, index lists and int64
tensors with repeated entries, boolean masks) and built for each library, so torch sees
torch tensors and minidl sees minidl tensors. Forward and every gradient are compared
(check_op): repeated indices must add up their gradients, as in torch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from tests.helpers import assert_close, check_gradcheck, check_op
from tests.strategies import arrays, float_dtypes, shapes


# ---------------------------------------------------------------------------- key specs
def build(spec, lib):
    """The key described by ``spec`` for ``lib`` (minidl or torch)."""
    items = []
    for kind, val in spec["items"]:
        if kind in ("int", "slice"):
            items.append(val)
        elif kind == "none":
            items.append(None)
        elif kind == "ellipsis":
            items.append(Ellipsis)
        elif kind == "list":
            items.append(list(val))
        elif kind in ("tensor", "mask", "int0d"):
            items.append(lib.tensor(val))
        else:  # pragma: no cover
            raise AssertionError(kind)
    return items[0] if spec["single"] else tuple(items)


def _slice(draw, n):
    bound = st.none() | st.integers(-n - 2, n + 2)
    return slice(draw(bound), draw(bound), draw(st.none() | st.integers(1, 3)))


@st.composite
def index_spec(draw, shape, advanced="none"):
    """A key for an array of ``shape``.

    ``advanced``: "none" (ints, slices, None, ...), "arrays" (1-2 index lists/tensors that
    broadcast together, entries repeated and negative), "mask" (one boolean mask over
    one or more consecutive dims).
    """
    ndim = len(shape)
    items = []
    arr_dims, mask_at, mask_len = set(), -1, 0
    if advanced == "arrays":
        arr_dims = set(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=2, unique=True)))
        ishape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    elif advanced == "mask":
        mask_at = draw(st.integers(0, ndim - 1))
        mask_len = draw(st.integers(1, ndim - mask_at))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    d = 0
    while d < ndim:
        n = shape[d]
        if d == mask_at:
            mshape = shape[d : d + mask_len]
            items.append(("mask", rng.random(mshape) < draw(st.sampled_from([0.3, 0.6, 1.0]))))
            d += mask_len
            continue
        if d in arr_dims:
            ish = tuple(s if draw(st.booleans()) else 1 for s in ishape)
            idx = rng.integers(-n, n, size=ish)
            if len(ish) == 1 and draw(st.booleans()):
                items.append(("list", [int(i) for i in idx]))
            else:
                items.append(("tensor", idx.astype(np.int64)))
        else:
            kind = draw(st.sampled_from(["int", "slice", "full", "int0d"]))
            if kind == "int":
                items.append(("int", draw(st.integers(-n, n - 1))))
            elif kind == "int0d":
                items.append(("int0d", np.int64(draw(st.integers(-n, n - 1)))))
            elif kind == "slice":
                items.append(("slice", _slice(draw, n)))
            else:
                items.append(("slice", slice(None)))
        d += 1
    # an Ellipsis standing for a run of dims, or trailing dims left out
    if advanced == "none" and draw(st.booleans()):
        i = draw(st.integers(0, len(items)))
        j = draw(st.integers(i, len(items)))
        items = [*items[:i], ("ellipsis", None), *items[j:]]
    elif advanced == "none":
        items = items[: draw(st.integers(0, len(items)))]
    for _ in range(draw(st.integers(0, 2))):
        items.insert(draw(st.integers(0, len(items))), ("none", None))
    single = len(items) == 1 and items[0][0] != "list" and draw(st.booleans())
    return {"items": items, "single": single}


@st.composite
def array_and_key(draw, advanced="none", min_dims=1, dtype=None):
    a = draw(arrays(shape=draw(shapes(min_dims=min_dims, max_dims=4, max_side=4)), dtype=dtype))
    return a, draw(index_spec(a.shape, advanced))


def _check_getitem(a, spec, **kw):
    check_op(lambda x: x[build(spec, md)], [a], torch_fn=lambda x: x[build(spec, torch)], **kw)


# ---------------------------------------------------------------------------- getitem
@given(data=st.data())
def test_int(data):
    a = data.draw(arrays(shape=data.draw(shapes(min_dims=1))))
    i = data.draw(st.integers(-a.shape[0], a.shape[0] - 1))
    check_op(lambda x: x[i], [a])
    check_gradcheck(lambda x: x[i], [a])


@given(data=st.data())
def test_slices_with_steps(data):
    a = data.draw(arrays(shape=data.draw(shapes(min_dims=1, max_side=6))))
    key = tuple(_slice(data.draw, n) for n in a.shape[: data.draw(st.integers(1, a.ndim))])
    check_op(lambda x: x[key], [a])
    check_op(lambda x: x[key[0]], [a])
    check_gradcheck(lambda x: x[key], [a[tuple(slice(0, 3) for _ in range(a.ndim))]])


@given(data=st.data())
def test_none_and_ellipsis(data):
    a = data.draw(arrays(shape=data.draw(shapes(min_dims=0))))
    check_op(lambda x: x[None], [a])
    check_op(lambda x: x[...], [a])
    check_op(lambda x: x[..., None], [a])
    check_op(lambda x: x[None, ..., None], [a])
    if a.ndim:
        check_op(lambda x: x[..., 0], [a])
        check_op(lambda x: x[0, ..., None], [a])


@given(case=array_and_key("none"))
def test_basic_keys(case):
    """Mixed ints (also 0-d int tensors, negative), slices with steps, None and Ellipsis."""
    _check_getitem(*case)


@given(case=array_and_key("none", dtype=np.float64))
def test_basic_keys_gradcheck(case):
    a, spec = case
    a = a[tuple(slice(0, 3) for _ in range(a.ndim))]
    spec = {**spec, "items": [(k, v) for k, v in spec["items"] if k != "int" or -3 <= v < min(a.shape)]}
    key = build(spec, md)
    try:
        torch.zeros(a.shape)[build(spec, torch)]
    except IndexError:  # the crop made an int out of range: nothing to check
        return
    check_gradcheck(lambda x: x[key], [a])


@given(case=array_and_key("arrays"))
def test_integer_array_keys(case):
    """Index lists and int64 tensors (repeated, negative entries), with ints/slices/None around."""
    _check_getitem(*case)


@given(case=array_and_key("arrays", dtype=np.float64))
def test_integer_array_keys_gradcheck(case):
    a, spec = case
    key = build(spec, md)
    check_gradcheck(lambda x: x[key], [a])


@given(case=array_and_key("mask"))
def test_mask_keys(case):
    _check_getitem(*case)


@given(case=array_and_key("mask", dtype=np.float64))
def test_mask_keys_gradcheck(case):
    a, spec = case
    key = build(spec, md)
    check_gradcheck(lambda x: x[key], [a])


@given(data=st.data(), dtype=float_dtypes)
def test_repeated_indices_accumulate(data, dtype):
    a = data.draw(arrays(shape=data.draw(shapes(min_dims=1, max_dims=3)), dtype=dtype))
    n = a.shape[0]
    idx = data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=8))
    check_op(lambda x: x[idx], [a])
    check_op(lambda x, i: x[i], [a, np.asarray(idx, dtype=np.int64)])
    check_op(lambda x, i: x[i, ...], [a, np.asarray(idx, dtype=np.int64)])
    # a gradient of ones counts how often each row was picked
    x = md.tensor(a, requires_grad=True)
    x[md.tensor(idx)].sum().backward()
    counts = np.bincount(np.asarray(idx) % n, minlength=n).astype(dtype)
    np.testing.assert_array_equal(x.grad.numpy(), np.broadcast_to(counts.reshape((n,) + (1,) * (a.ndim - 1)), a.shape))


def test_ints_apart_from_arrays_follow_torch():
    """torch applies ints before index arrays; numpy would move the indexed dims to the front."""
    a = np.arange(120, dtype=np.float32).reshape(2, 3, 4, 5)
    for key in [
        (slice(None), [0, 1], slice(None), 0),
        (0, slice(None), [0, 1]),
        (0, slice(None), [2, 0, 2], slice(1, None, 2)),
        (1, Ellipsis, [0, 1], None, 0),
        ([0, 1], slice(None), 0),
        ([1, 0], None, [1, 2]),
    ]:
        check_op(lambda x, k=key: x[k], [a])


def test_list_of_bools_and_byte_mask():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    check_op(lambda x: x[[True, False]], [a])
    check_op(lambda x: x[:, [False, True, True]], [a])
    mask = np.array([[1, 0, 1], [0, 0, 1]], dtype=np.uint8)
    with pytest.warns(UserWarning):
        expected = torch.tensor(a)[torch.tensor(mask)]
    assert_close(md.tensor(a)[md.tensor(mask)], expected, 0, 0, "uint8 mask")


def test_full_mask_and_scalar_bool():
    a = np.arange(12, dtype=np.float64).reshape(3, 4)
    check_op(lambda x: x[x > 5], [a])
    check_op(lambda x: x[True], [a])
    check_op(lambda x: x[False], [a])


def test_empty_selection():
    a = np.ones((3, 4), np.float32)
    check_op(lambda x: x[[]], [a])
    check_op(lambda x: x[2:1], [a])
    check_op(lambda x: x[:, 10:], [a])


# ---------------------------------------------------------------------------- setitem
def _selected_shape_and_unique(a, spec):
    """Shape of a[key] in torch, and whether the key picks each element at most once."""
    ids = torch.arange(a.size).reshape(a.shape)[build(spec, torch)]
    return tuple(ids.shape), ids.numel() == torch.unique(ids).numel()


@st.composite
def setitem_case(draw, advanced, dtype=None):
    a, spec = draw(array_and_key(advanced, dtype=dtype))
    shape, unique = _selected_shape_and_unique(a, spec)
    kind = draw(st.sampled_from(["scalar", "full", "suffix"]) if unique else st.just("scalar"))
    if kind == "scalar":
        vshape = ()
    elif kind == "full":
        vshape = shape
    else:  # broadcast over leading dims, maybe size-1 dims
        vshape = tuple(1 if draw(st.booleans()) else s for s in shape[draw(st.integers(0, len(shape))) :])
    value = draw(arrays(shape=vshape, dtype=a.dtype if dtype is None else dtype))
    return a, spec, value


@pytest.mark.parametrize("advanced", ["none", "arrays", "mask"])
@given(data=st.data())
def test_setitem_plain(advanced, data):
    a, spec, value = data.draw(setitem_case(advanced))
    x, t = md.tensor(a), torch.tensor(a)
    x[build(spec, md)] = md.tensor(value)
    t[build(spec, torch)] = torch.tensor(value)
    assert_close(x, t, 0, 0, "after setitem")
    if value.ndim == 0:  # a Python number
        x[build(spec, md)] = float(value) * 2
        t[build(spec, torch)] = float(value) * 2
        assert_close(x, t, 0, 0, "after setitem of a number")


@pytest.mark.parametrize("advanced", ["none", "arrays", "mask"])
@given(data=st.data())
def test_setitem_no_grad_on_leaf(advanced, data):
    a, spec, value = data.draw(setitem_case(advanced))
    x = md.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    with md.no_grad():
        x[build(spec, md)] = md.tensor(value)
    with torch.no_grad():
        t[build(spec, torch)] = torch.tensor(value)
    assert_close(x, t, 0, 0, "after setitem")
    assert x.is_leaf and x.requires_grad and x.grad_fn is None
    g = np.random.default_rng(0).standard_normal(a.shape).astype(a.dtype)
    (x * md.tensor(g)).sum().backward()
    (t * torch.tensor(g)).sum().backward()
    assert_close(x.grad, t.grad, 0, 0, "gradient after setitem")


@pytest.mark.parametrize("advanced", ["none", "arrays", "mask"])
@given(data=st.data())
def test_setitem_in_graph(advanced, data):
    """y = x * 1; y[key] = w: gradients for both x (zero where overwritten) and w."""
    a, spec, value = data.draw(setitem_case(advanced))

    def fn(lib):
        def run(x, w):
            y = x * 1
            y[build(spec, lib)] = w
            return y

        return run

    check_op(fn(md), [a, value], torch_fn=fn(torch))


@given(data=st.data())
def test_setitem_in_graph_gradcheck(data):
    """Keys that pick each element once: with repeats torch's (and minidl's) value gradient
    counts every write, which is not the derivative finite differences see."""
    advanced = data.draw(st.sampled_from(["none", "arrays", "mask"]))
    a, spec, value = data.draw(setitem_case(advanced, dtype=np.float64))
    if not _selected_shape_and_unique(a, spec)[1] or value.size == 0:  # (gradcheck needs elements)
        return

    def run(x, w):
        y = x * 1.5
        y[build(spec, md)] = w * 2
        return y

    check_gradcheck(run, [a, value])


@given(a=arrays(shape=(3, 4)), w=arrays(shape=(4,)), dtype=float_dtypes)
def test_setitem_row_of_product(a, w, dtype):
    def run(x, v):
        y = x * 1
        y[0] = v
        return y

    check_op(run, [a.astype(dtype), w.astype(dtype)])
    check_gradcheck(run, [a, w])


def test_setitem_twice_and_from_itself():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    w = rng.standard_normal((3,)).astype(np.float32)

    def twice(x, v):
        y = x * 2
        y[0] = v[0]
        y[:, 1] = v
        return y

    def from_itself(x):
        y = x * 1
        y[0] = y[1] * 3
        y[[2, 2]] = y[0] * 1  # torch refuses a value that overlaps the target
        return y

    check_op(twice, [a, w])
    check_op(from_itself, [a])


@given(data=st.data())
def test_setitem_value_dtype_is_cast(data):
    """A float64 value written into float32: forward cast, float64 gradient for the value."""
    a, spec, value = data.draw(setitem_case("none"))
    a, value = a.astype(np.float32), value.astype(np.float64)

    def fn(lib):
        def run(x, w):
            y = x * 1
            y[build(spec, lib)] = w
            return y

        return run

    check_op(fn(md), [a, value], torch_fn=fn(torch))


def test_setitem_value_only_requires_grad():
    """x (no grad) takes w's history: x.grad_fn is set and w gets its gradient."""
    a = np.zeros((3, 4), np.float32)
    w = np.arange(4, dtype=np.float32)

    def run(x, v):
        x[1] = v
        return x

    check_op(run, [a, w], requires_grad=[False, True])


def test_setitem_value_with_extra_leading_ones():
    a = np.zeros((3, 4), np.float32)
    w = np.arange(4, dtype=np.float32).reshape(1, 1, 4)

    def run(x, v):
        y = x * 1
        y[1] = v
        return y

    check_op(run, [a, w])


def test_setitem_no_grad_bumps_version():
    """A value saved for backward, then changed under no_grad: backward must refuse."""
    for lib in (torch, md):
        w = lib.ones(3, requires_grad=True)
        y = w * w
        with lib.no_grad():
            w[0] = 2.0
        with pytest.raises(RuntimeError):
            y.sum().backward()


def test_setitem_on_plain_view_writes_through():
    a = np.zeros((2, 3), np.float32)
    x, t = md.tensor(a), torch.tensor(a)
    x[1][2] = 5.0
    t[1][2] = 5.0
    x[0, :2][1] = 7.0
    t[0, :2][1] = 7.0
    assert_close(x, t, 0, 0, "writes through basic-indexing views")


# ---------------------------------------------------------------------------- errors
def _both_raise(exc, fn, *fragments):
    with pytest.raises(exc):
        fn(torch)
    with pytest.raises(exc) as info:
        fn(md)
    msg = str(info.value)
    for f in fragments:
        assert f in msg, f"{f!r} not in {msg!r}"


def _set(key, value_shape):
    def run(lib):
        x = lib.zeros(2, 3, 4)
        x[key] = lib.ones(*value_shape)

    return run


ERRORS = {
    "int_out_of_range": (IndexError, lambda L: L.zeros(2, 3)[2], ("2", "(2, 3)")),
    "negative_out_of_range": (IndexError, lambda L: L.zeros(2, 3)[:, -4], ("-4", "(2, 3)")),
    "too_many_indices": (IndexError, lambda L: L.zeros(2, 3)[0, 0, 0], ("(2, 3)",)),
    "list_out_of_range": (IndexError, lambda L: L.zeros(2, 3)[[0, 2]], ("2", "(2, 3)")),
    "tensor_out_of_range": (IndexError, lambda L: L.zeros(2, 3)[:, L.tensor([0, -4])], ("-4", "(2, 3)")),
    "float_tensor": (IndexError, lambda L: L.zeros(2, 3)[L.tensor([0.0])], ("long", "bool")),
    "mask_shape": (IndexError, lambda L: L.zeros(2, 3)[L.ones(3, dtype=L.bool)], ("(2, 3)",)),
    "negative_step": (ValueError, lambda L: L.zeros(4)[::-1], ("step",)),
    "zero_step": (ValueError, lambda L: L.zeros(4)[::0], ("step",)),
    "setitem_shape": (RuntimeError, _set(0, (3,)), ("setitem", "(3,)", "(3, 4)")),
    "setitem_shape_advanced": (RuntimeError, _set([0, 1], (3, 3, 4)), ("setitem", "(3, 3, 4)", "(2, 3, 4)")),
    "setitem_out_of_range": (IndexError, _set(5, (4,)), ("5", "(2, 3, 4)")),
    "setitem_leaf": (RuntimeError, lambda L: L.zeros(3, requires_grad=True).__setitem__(0, 1.0), ("leaf",)),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_indexing_errors(name):
    exc, fn, fragments = ERRORS[name]
    _both_raise(exc, fn, *fragments)
