"""Tensor creation, attributes, conversions, repr and bad input, against torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given

import minidl as md
from tests.strategies import shapes

# ---------------------------------------------------------------------------- creation


@pytest.mark.parametrize(
    "data",
    [1.5, 3, True, [1.0, 2.0], [1, 2], [True, False], [[1, 2], [3, 4]], [[1.5], [2]], [], np.float64(2.0)],
)
def test_tensor_infers_dtype_like_torch(data):
    m, t = md.tensor(data), torch.tensor(data)
    assert m.dtype.name == str(t.dtype).replace("torch.", "")
    assert tuple(m.shape) == tuple(t.shape)
    np.testing.assert_array_equal(m.numpy(), t.numpy())


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_])
def test_tensor_from_numpy_keeps_dtype(np_dtype):
    a = np.arange(6).reshape(2, 3).astype(np_dtype)
    assert md.tensor(a).dtype == np_dtype
    assert md.tensor(a).dtype.name == str(torch.tensor(a).dtype).replace("torch.", "")


def test_tensor_copies_but_from_numpy_shares():
    a = np.zeros(3, dtype=np.float32)
    t, s = md.tensor(a), md.from_numpy(a)
    a[0] = 5
    assert t[0].item() == 0 and s[0].item() == 5


@pytest.mark.parametrize("bad", ["abc", None, [1, "a"], object()])
def test_non_numeric_data_is_rejected(bad):
    with pytest.raises((TypeError, ValueError)):
        md.tensor(bad)


def test_ragged_data_is_rejected():
    with pytest.raises(ValueError, match="inconsistent"):
        md.tensor([[1, 2], [3]])


def test_dtype_argument_and_requires_grad():
    t = md.tensor([1, 2], dtype=md.float64, requires_grad=True)
    assert t.dtype == md.float64 and t.requires_grad and t.is_leaf and t.grad is None


@pytest.mark.parametrize("fn", ["zeros", "ones", "empty", "rand", "randn"])
def test_size_forms_and_default_dtype(fn):
    f = getattr(md, fn)
    for args in ((2, 3), ((2, 3),), ([2, 3],)):
        t = f(*args)
        assert t.shape == (2, 3) and t.dtype == md.float32
    assert f(2, dtype=md.float64).dtype == md.float64
    assert f(2, requires_grad=True).requires_grad


def test_full_dtype_follows_fill_value_like_torch():
    for v in (1.5, 2, True):
        assert md.full((2,), v).dtype.name == str(torch.full((2,), v).dtype).replace("torch.", "")


def test_like_functions():
    x = md.tensor([[1, 2]], dtype=md.int32)
    assert md.zeros_like(x).dtype == md.int32 and md.ones_like(x).shape == (1, 2)
    assert md.full_like(x, 7).tolist() == [[7, 7]]
    assert md.zeros_like(x, dtype=md.float32).dtype == md.float32
    assert md.rand_like(md.zeros(3)).shape == (3,) and md.randn_like(md.zeros(3)).dtype == md.float32


@pytest.mark.parametrize(
    "args", [(5,), (1, 4), (0, 10, 3), (1.0, 2.0, 0.25), (0, 1, 0.1), (-3, 3), (10, 0, -2), (0.5, 3)]
)
def test_arange_like_torch(args):
    m, t = md.arange(*args), torch.arange(*args)
    assert m.dtype.name == str(t.dtype).replace("torch.", "")
    np.testing.assert_allclose(m.numpy(), t.numpy(), rtol=1e-6)


def test_linspace_eye_like_torch():
    np.testing.assert_allclose(md.linspace(-1, 1, 7).numpy(), torch.linspace(-1, 1, 7).numpy(), atol=1e-7)
    assert md.linspace(0, 1, 5).dtype == md.float32
    np.testing.assert_array_equal(md.eye(3, 4).numpy(), torch.eye(3, 4).numpy())


def test_randint_forms_and_range():
    md.manual_seed(0)
    a = md.randint(10, (1000,))
    b = md.randint(5, 8, (2, 3))
    assert a.dtype == md.int64 and 0 <= a.min().item() and a.max().item() < 10
    assert b.shape == (2, 3) and 5 <= b.min().item() and b.max().item() < 8
    p = md.randperm(10)
    assert sorted(p.tolist()) == list(range(10))


def test_manual_seed_makes_every_random_op_repeatable():
    def draw():
        return [md.rand(3).tolist(), md.randn(2).tolist(), md.randint(0, 100, (4,)).tolist(),
                md.zeros(3).uniform_(-1, 1).tolist(), md.zeros(2).normal_().tolist()]  # fmt: skip

    md.manual_seed(123)
    first = draw()
    md.manual_seed(123)
    assert draw() == first
    g = md.Generator().manual_seed(5)
    assert md.rand(3, generator=g).tolist() == md.rand(3, generator=md.Generator().manual_seed(5)).tolist()


def test_random_statistics():
    md.manual_seed(0)
    u, n = md.rand(100_000), md.randn(100_000)
    assert abs(u.mean().item() - 0.5) < 0.01 and 0 <= u.min().item() and u.max().item() < 1
    assert abs(n.mean().item()) < 0.02 and abs(n.std().item() - 1) < 0.02


def test_negative_size_is_rejected():
    with pytest.raises(RuntimeError, match="negative dimension"):
        md.zeros(2, -1)


# ---------------------------------------------------------------------------- attributes


@given(shapes(min_dims=0, max_dims=4))
def test_shape_size_numel_ndim(shape):
    m, t = md.zeros(shape), torch.zeros(shape)
    assert m.shape == tuple(t.shape) and m.size() == tuple(t.size())
    assert m.ndim == t.ndim == m.dim() and m.numel() == t.numel()
    for d in range(-m.ndim, m.ndim):
        assert m.size(d) == t.size(d)
    if m.ndim:
        assert len(m) == len(t)


def test_size_repr_and_dim_errors():
    t = md.zeros(2, 3)
    assert repr(t.shape) == "minidl.Size([2, 3])" and t.shape.numel() == 6
    with pytest.raises(IndexError, match=r"range of \[-2, 1\], but got 2"):
        t.size(2)
    with pytest.raises(TypeError, match="0-d"):
        len(md.tensor(1.0))


def test_dtype_objects():
    assert md.float32 == np.float32 and md.float32 != md.float64 and md.int64 == np.dtype("int64")
    assert repr(md.float32) == "minidl.float32" and md.float is md.float32 and md.long is md.int64
    assert md.float32.is_floating_point and not md.int64.is_floating_point
    assert {md.float32: 1}[md.float32] == 1


def test_device_attribute():
    t = md.zeros(2)
    assert t.device == "cpu" and str(t.device) == "cpu" and t.device == md.device("cpu")
    assert not t.is_cuda and t.cpu() is t
    assert md.device("cuda:1").index == 1 and md.device("cuda").type == "cuda"


def test_item_and_python_conversions():
    assert md.tensor([2.5]).item() == 2.5 and isinstance(md.tensor(3).item(), int)
    assert float(md.tensor(1.5)) == 1.5 and int(md.tensor(2)) == 2 and bool(md.tensor(True))
    assert [1, 2, 3][md.tensor(1)] == 2
    assert f"{md.tensor(1 / 3):.3f}" == "0.333"
    with pytest.raises(RuntimeError, match="2 elements cannot be converted"):
        md.tensor([1.0, 2.0]).item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(md.tensor([1.0, 2.0]))


def test_numpy_and_tolist():
    t = md.tensor([[1.0, 2.0]])
    assert t.tolist() == [[1.0, 2.0]] and isinstance(t.numpy(), np.ndarray)
    t.numpy()[0, 0] = 9.0  # shares memory, as torch
    assert t[0, 0].item() == 9.0
    with pytest.raises(RuntimeError, match="requires grad"):
        md.tensor([1.0], requires_grad=True).numpy()
    assert np.asarray(md.tensor([1, 2])).tolist() == [1, 2]


def test_iteration_yields_rows():
    rows = list(md.tensor([[1, 2], [3, 4]]))
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4]]


# ---------------------------------------------------------------------------- conversions


@pytest.mark.parametrize("method,dtype", [("float", "float32"), ("double", "float64"), ("long", "int64"),
                                          ("int", "int32"), ("bool", "bool"), ("half", "float16")])  # fmt: skip
def test_cast_methods(method, dtype):
    m = getattr(md.tensor([0.0, 1.5, -2.0]), method)()
    t = getattr(torch.tensor([0.0, 1.5, -2.0]), method)()
    assert m.dtype.name == dtype == str(t.dtype).replace("torch.", "")
    np.testing.assert_array_equal(m.numpy(), t.numpy())


def test_to_forms_and_differentiable_cast():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(md.float64)
    assert y.dtype == md.float64 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == md.float32 and x.grad.tolist() == [2.0, 4.0]
    assert x.to("cpu") is x and x.to(x) is x
    assert md.zeros(2).to("cpu", md.float64).dtype == md.float64
    assert md.zeros(2).to(dtype=md.int64).dtype == md.int64
    assert x.to(md.float32, copy=True) is not x


def test_detach_shares_clone_copies():
    x = md.tensor([1.0, 2.0], requires_grad=True)
    d, c = x.detach(), x.clone()
    assert not d.requires_grad and c.requires_grad and c.grad_fn is not None
    with md.no_grad():
        x[0] = 5.0
    assert d[0].item() == 5.0 and c[0].item() == 1.0
    c.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_contiguous():
    t = md.arange(6.0).reshape(2, 3).T
    assert not t.is_contiguous() and t.contiguous().is_contiguous()
    assert t.contiguous().tolist() == t.tolist()


def test_cuda_without_cupy_says_how_to_install():
    from minidl.backend import cupy_or_none

    if cupy_or_none() is not None:
        pytest.skip("CuPy is installed here")
    with pytest.raises(RuntimeError, match="CuPy"):
        md.zeros(2).to("cuda")


# ---------------------------------------------------------------------------- repr


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.tensor([[1.0, 2.0], [3.0, 4.0]]),
        lambda lib: lib.tensor([1.5, -2.25, 3.0]),
        lambda lib: lib.tensor(3.5),
        lambda lib: lib.tensor([1, 2, 3]),
        lambda lib: lib.tensor([True, False]),
        lambda lib: lib.tensor([1.0, 2.0], dtype=lib.float64),
        lambda lib: lib.tensor([1e-5, 1e3]),
        lambda lib: lib.tensor([1.0, 2.0], requires_grad=True),
        lambda lib: lib.zeros(0),
        lambda lib: lib.zeros(2, 0),
        lambda lib: lib.tensor([[1, 22], [333, 4]]),
        lambda lib: lib.tensor([1.0, float("nan"), float("inf")]),
    ],
)
def test_repr_like_torch(make):
    expected = repr(make(torch)).replace("torch.", "minidl.")
    assert repr(make(md)) == expected


def test_repr_shows_grad_fn():
    y = md.tensor([1.0], requires_grad=True) * 2
    assert repr(y) == "tensor([2.], grad_fn=<MulBackward>)"


def test_repr_summarises_large_tensors():
    r = repr(md.zeros(2000))
    assert "..." in r and len(r) < 200


# ---------------------------------------------------------------------------- promotion table


PROMOTION_CASES = [
    ((np.float32, 1), 2.5), ((np.int64, 1), 0.5), ((np.int64, 1), 2), ((np.bool_, 1), 1),
    ((np.float32, 1), (np.float64, 0)), ((np.float32, 1), (np.float64, 1)), ((np.int32, 1), (np.int64, 1)),
    ((np.int64, 1), (np.float32, 0)), ((np.uint8, 1), (np.int8, 1)), ((np.bool_, 1), (np.bool_, 1)),
    ((np.int32, 0), (np.float64, 0)), ((np.float64, 0), 3),
]  # fmt: skip


@pytest.mark.parametrize(
    "a,b,op",
    [(a, b, op) for a, b in PROMOTION_CASES for op in ("add", "mul", "truediv", "maximum")
     if op != "maximum" or isinstance(b, tuple)],  # maximum takes two tensors
)  # fmt: skip
def test_result_dtypes_match_torch(a, b, op):
    def make(lib, spec):
        if isinstance(spec, tuple):
            dt, nd = spec
            arr = np.ones((2,) * nd, dtype=dt)
            return lib.tensor(arr) if lib is md else torch.from_numpy(arr)
        return spec

    fns = {
        "add": lambda x, y: x + y,
        "mul": lambda x, y: x * y,
        "truediv": lambda x, y: x / y,
        "maximum": lambda x, y: (md if isinstance(x, md.Tensor) else torch).maximum(x, y),
    }
    try:
        t = fns[op](make(torch, a), make(torch, b))
    except RuntimeError:
        with pytest.raises((RuntimeError, TypeError)):
            fns[op](make(md, a), make(md, b))
        return
    m = fns[op](make(md, a), make(md, b))
    assert m.dtype.name == str(t.dtype).replace("torch.", ""), f"{a} {op} {b}"


# ---------------------------------------------------------------------------- in-place


def test_in_place_methods_write_into_plain_tensors():
    t = md.tensor([1.0, -2.0, 3.0])
    alias = t.detach()
    t.add_(1).mul_(2).sub_(md.tensor([1.0, 1.0, 1.0]), alpha=2).div_(2).clamp_(min=0)
    expected = torch.tensor([1.0, -2.0, 3.0]).add_(1).mul_(2).sub_(torch.ones(3), alpha=2).div_(2).clamp_(min=0)
    np.testing.assert_allclose(t.numpy(), expected.numpy())
    np.testing.assert_allclose(alias.numpy(), expected.numpy())
    t.zero_()
    assert t.tolist() == [0.0, 0.0, 0.0]
    t.fill_(2.5)
    assert t.tolist() == [2.5, 2.5, 2.5]
    t += 1
    t *= 2
    assert t.tolist() == [7.0, 7.0, 7.0]
    t.copy_(md.tensor([1, 2, 3]))
    assert t.tolist() == [1.0, 2.0, 3.0] and t.dtype == md.float32


def test_in_place_shape_and_dtype_errors():
    t = md.zeros(3)
    with pytest.raises(RuntimeError, match="broadcast shape"):
        t.add_(md.zeros(2, 3))
    with pytest.raises(RuntimeError, match="can't be cast"):
        md.zeros(3, dtype=md.int64).add_(0.5)


def test_setitem_on_plain_tensor():
    m, t = md.zeros(3, 4), torch.zeros(3, 4)
    for lib_t in (m, t):
        lib_t[0] = 1.0
        lib_t[1, 1:3] = 2.0
        lib_t[:, -1] = lib_t[:, 0] + 5
        lib_t[lib_t > 4] = -1.0
    np.testing.assert_array_equal(m.numpy(), t.numpy())
