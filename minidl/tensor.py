"""``Tensor``: an array, plus what autograd needs (``requires_grad``, ``grad``, ``grad_fn``).

The array is numpy's (or cupy's, on a GPU) and is reached as ``t._data`` inside minidl;
users get it with ``t.numpy()``. Every method that computes something is a one-line call
into :mod:`minidl.ops`, where the op's forward and backward stand side by side.

In-place methods (``add_``, ``zero_``, ``x[i] = v``, ``+=``) follow torch:

* under ``no_grad``, or on tensors outside any graph, they write into the array;
* on a leaf that requires grad (a parameter) outside ``no_grad`` they raise;
* on other tensors in a graph (``out += identity`` in a residual block) the tensor takes
  the result *and its history*: its ``grad_fn`` becomes the op's node, so backward is
  right, and values saved for backward earlier are untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from minidl import dtypes
from minidl.backend import Device, array_module, cupy_or_none, device_of, to_device

__all__ = ["Size", "Tensor"]


class Size(tuple):
    """A tensor's shape: a tuple that prints as ``minidl.Size([2, 3])`` (torch.Size)."""

    def __repr__(self) -> str:
        return f"minidl.Size({list(self)})"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Python data (numbers, nested lists, arrays, tensors) as a numpy array, torch's way.

    Python floats become the default float dtype (float32), ints int64, bools bool;
    numpy arrays keep their dtype.
    """
    if isinstance(data, Tensor):
        arr = data._data
    elif isinstance(data, np.ndarray):
        arr = data
    elif hasattr(data, "__cuda_array_interface__"):  # cupy, or another library's GPU array: held as cupy
        cp = cupy_or_none()
        if cp is None:
            raise RuntimeError("tensor(): a GPU array needs CuPy: pip install 'minidl[cuda12]' (or cuda13)")
        arr = data if isinstance(data, cp.ndarray) else cp.asarray(data)
    elif isinstance(data, np.generic):  # numpy scalars keep their dtype, as in torch
        arr = np.asarray(data)
    else:
        if isinstance(data, (str, bytes)) or data is None:
            raise TypeError(f"tensor(): expected numbers or (nested) sequences of numbers, got {data!r}")
        try:
            arr = np.asarray(data)
        except ValueError as e:
            raise ValueError(f"tensor(): data of inconsistent shape ({e})") from None
        if arr.dtype.kind not in "biuf":
            if arr.dtype == object and arr.size and all(isinstance(x, Tensor) for x in arr.flat):
                arr = np.asarray([x.item() for x in arr.flat]).reshape(arr.shape)
            else:
                raise TypeError(
                    f"tensor(): could not convert data of type {arr.dtype} to numbers: {data!r:.60}"
                )
        if dtype is None and arr.dtype.kind == "f":
            arr = arr.astype(dtypes.get_default_dtype().numpy_dtype)
        elif dtype is None and arr.dtype.kind in "iu":
            arr = arr.astype(np.int64)
    if dtype is not None:
        arr = arr.astype(dtypes.to_dtype(dtype).numpy_dtype, copy=False)
    elif arr.dtype not in dtypes._BY_NUMPY:
        raise TypeError(f"tensor(): unsupported dtype {arr.dtype}")
    return arr


class Tensor:
    """A multi-dimensional array that can record the operations applied to it.

    Make one with :func:`minidl.tensor` (``minidl.tensor([[1., 2.]], requires_grad=True)``).
    """

    __slots__ = (
        "__dict__",
        "__weakref__",
        "_accumulator",
        "_data",
        "_grad",
        "_output_nr",
        "_requires_grad",
        "_retains_grad",
        "_version",
        "grad_fn",
    )
    __array_priority__ = 1000  # numpy defers `ndarray * tensor` to Tensor.__rmul__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self._data = _to_array(data, dtype)
        self._init_autograd()
        if requires_grad:
            self.requires_grad = True

    def _init_autograd(self) -> None:
        self._requires_grad = False
        self.grad_fn = None
        self._output_nr = 0
        self._grad: Tensor | None = None
        self._version = [0]  # shared with detach()ed tensors of the same array
        self._accumulator = None
        self._retains_grad = False

    @staticmethod
    def _make(data: Any) -> Tensor:
        """Wrap an array (no copy, no checks): the fast path every op's result takes."""
        t = object.__new__(Tensor)
        if isinstance(data, np.generic):  # numpy reductions give scalars, not 0-d arrays
            data = np.asarray(data)
        t._data = data
        t._requires_grad = False
        t.grad_fn = None
        t._output_nr = 0
        t._grad = None
        t._version = [0]
        t._accumulator = None
        t._retains_grad = False
        return t

    # ------------------------------------------------------------------ basic attributes
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None) -> Size | int:
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_dim("size", dim, self._data.ndim)]

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def ndimension(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> dtypes.dtype:
        return dtypes.from_numpy_dtype(self._data.dtype)

    @property
    def device(self) -> Device:
        return device_of(self._data)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def itemsize(self) -> int:
        return self._data.itemsize

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __hash__(self) -> int:
        return id(self)

    # ------------------------------------------------------------------ conversions
    def item(self) -> int | float | bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._data.reshape(()).item()

    def numpy(self, force: bool = False) -> np.ndarray:
        """The data as a numpy array (shared with the tensor, as in torch)."""
        if self._requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
            )
        if type(self._data) is not np.ndarray:
            if not force:
                raise TypeError(
                    f"can't convert {self.device} tensor to numpy. Use Tensor.cpu() to copy the "
                    "tensor to host memory first."
                )
            return self._data.get()
        return self._data

    def tolist(self) -> Any:
        return to_device(self._data, Device("cpu")).tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        arr = to_device(self._data, Device("cpu"))
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with more than one value is ambiguous (shape {tuple(self.shape)})"
            )
        return bool(self.item())

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return format(self.item(), spec)
        return object.__format__(self, spec) if not spec else format(repr(self), spec)

    def __repr__(self) -> str:
        from minidl._format import tensor_repr

        return tensor_repr(self)

    # ------------------------------------------------------------------ autograd
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self.grad_fn is not None:
            if value:
                return
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        if value and self._data.dtype.kind not in "fc":
            raise RuntimeError(
                "only Tensors of floating point and complex dtype can require gradients "
                f"(got {self.dtype})"
            )
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def grad(self) -> Tensor | None:
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad must be a Tensor or None, got {type(value).__name__}")
            if value.shape != self.shape:
                raise RuntimeError(
                    f"assigned grad has data of a different size: {tuple(value.shape)} vs {tuple(self.shape)}"
                )
        self._grad = value

    @property
    def data(self) -> Tensor:
        """The same array without history (``p.data.add_(...)`` writes into ``p``)."""
        return self.detach()

    @data.setter
    def data(self, value: Tensor) -> None:
        self._data = value._data if isinstance(value, Tensor) else _to_array(value)
        self._version[0] += 1

    def detach(self) -> Tensor:
        """A tensor sharing this one's array, outside the graph."""
        t = Tensor._make(self._data)
        t._version = self._version
        return t

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self._requires_grad = False
        return self

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Sequence[Tensor] | None = None,
    ) -> None:
        """Add d(self)/d(leaf) into ``.grad`` of every leaf that requires grad."""
        from minidl.autograd import engine

        engine.backward(
            self, None if gradient is None else [gradient], retain_graph, create_graph, inputs
        )

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Any:
        """Call ``hook(grad)`` when this tensor's gradient is computed; it may return a new one."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        from minidl.autograd.function import _grad_node_of

        node, nr = _grad_node_of(self)
        if node is not None and self.grad_fn is None:
            self._accumulator_keepalive = node  # the leaf keeps its hooked accumulator
        return node.register_prehook(nr, hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if self.grad_fn is None:
            if not self._requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return
        if self._retains_grad:
            return
        import weakref

        ref = weakref.ref(self)

        def keep(grad: Tensor) -> None:
            t = ref()
            if t is not None:
                t._grad = Tensor._make(grad._data.copy()) if t._grad is None else t._grad + grad

        self.grad_fn.register_prehook(self._output_nr, keep)
        self._retains_grad = True

    # ------------------------------------------------------------------ dtype and device
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(other_tensor)``."""
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        copy = kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to() got unexpected arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype, device = a.dtype, a.device
            elif isinstance(a, (str, Device)):
                device = a
            else:
                dtype = a
        out = self
        if device is not None:
            device = Device(device)
            if device != self.device:
                out = ops.shape.move_to(out, device)
        if dtype is not None:
            np_dtype = dtypes.to_dtype(dtype).numpy_dtype
            if np_dtype != out._data.dtype:
                out = ops.elementwise.cast(out, np_dtype)
        if copy and out is self:
            out = self.clone()
        return out

    def type(self, dtype: Any = None) -> Any:
        if dtype is None:
            return f"minidl.{self.dtype.name}"
        return self.to(dtype)

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        return self.to(dtypes.float16)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool)

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, device: int | str | None = None) -> Tensor:
        return self.to(Device(device) if isinstance(device, (str, Device)) else Device("cuda", device))

    def clone(self) -> Tensor:
        return ops.elementwise.clone(self)

    def contiguous(self) -> Tensor:
        return ops.shape.contiguous(self)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other: Any) -> Tensor:
        return ops.elementwise.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.elementwise.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.elementwise.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.elementwise.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.elementwise.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.elementwise.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.elementwise.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.elementwise.div(other, self)

    def __floordiv__(self, other: Any) -> Tensor:
        return ops.elementwise.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Tensor:
        return ops.elementwise.floor_divide(other, self)

    def __mod__(self, other: Any) -> Tensor:
        return ops.elementwise.remainder(self, other)

    def __pow__(self, exponent: Any) -> Tensor:
        return ops.elementwise.pow(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return ops.elementwise.pow(base, self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.linalg.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.linalg.matmul(other, self)

    def __neg__(self) -> Tensor:
        return ops.elementwise.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return ops.elementwise.abs(self)

    def add(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return ops.elementwise.add(self, other, alpha=alpha)

    def sub(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return ops.elementwise.sub(self, other, alpha=alpha)

    subtract = sub

    def mul(self, other: Any) -> Tensor:
        return ops.elementwise.mul(self, other)

    multiply = mul

    def div(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        return ops.elementwise.div(self, other, rounding_mode=rounding_mode)

    divide = div

    def pow(self, exponent: Any) -> Tensor:
        return ops.elementwise.pow(self, exponent)

    def matmul(self, other: Tensor) -> Tensor:
        return ops.linalg.matmul(self, other)

    def mm(self, other: Tensor) -> Tensor:
        return ops.linalg.mm(self, other)

    def bmm(self, other: Tensor) -> Tensor:
        return ops.linalg.bmm(self, other)

    def dot(self, other: Tensor) -> Tensor:
        return ops.linalg.dot(self, other)

    def neg(self) -> Tensor:
        return ops.elementwise.neg(self)

    negative = neg

    def exp(self) -> Tensor:
        return ops.elementwise.exp(self)

    def log(self) -> Tensor:
        return ops.elementwise.log(self)

    def log1p(self) -> Tensor:
        return ops.elementwise.log1p(self)

    def expm1(self) -> Tensor:
        return ops.elementwise.expm1(self)

    def sqrt(self) -> Tensor:
        return ops.elementwise.sqrt(self)

    def rsqrt(self) -> Tensor:
        return ops.elementwise.rsqrt(self)

    def square(self) -> Tensor:
        return ops.elementwise.square(self)

    def reciprocal(self) -> Tensor:
        return ops.elementwise.reciprocal(self)

    def abs(self) -> Tensor:
        return ops.elementwise.abs(self)

    def sign(self) -> Tensor:
        return ops.elementwise.sign(self)

    def sin(self) -> Tensor:
        return ops.elementwise.sin(self)

    def cos(self) -> Tensor:
        return ops.elementwise.cos(self)

    def tanh(self) -> Tensor:
        return ops.activation.tanh(self)

    def sigmoid(self) -> Tensor:
        return ops.activation.sigmoid(self)

    def relu(self) -> Tensor:
        return ops.activation.relu(self)

    def floor(self) -> Tensor:
        return ops.elementwise.floor(self)

    def ceil(self) -> Tensor:
        return ops.elementwise.ceil(self)

    def round(self, decimals: int = 0) -> Tensor:
        return ops.elementwise.round(self, decimals=decimals)

    def trunc(self) -> Tensor:
        return ops.elementwise.trunc(self)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        return ops.elementwise.clamp(self, min, max)

    clip = clamp

    def maximum(self, other: Tensor) -> Tensor:
        return ops.elementwise.maximum(self, other)

    def minimum(self, other: Tensor) -> Tensor:
        return ops.elementwise.minimum(self, other)

    def where(self, condition: Tensor, other: Any) -> Tensor:
        return ops.elementwise.where(condition, self, other)

    def masked_fill(self, mask: Tensor, value: Any) -> Tensor:
        return ops.elementwise.masked_fill(self, mask, value)

    def lerp(self, end: Tensor, weight: Any) -> Tensor:
        return self + (end - self) * weight

    # ------------------------------------------------------------------ comparisons, logic
    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return ops.elementwise.compare("eq", self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return ops.elementwise.compare("ne", self, other)

    def __lt__(self, other: Any) -> Tensor:
        return ops.elementwise.compare("lt", self, other)

    def __le__(self, other: Any) -> Tensor:
        return ops.elementwise.compare("le", self, other)

    def __gt__(self, other: Any) -> Tensor:
        return ops.elementwise.compare("gt", self, other)

    def __ge__(self, other: Any) -> Tensor:
        return ops.elementwise.compare("ge", self, other)

    def eq(self, other: Any) -> Tensor:
        return ops.elementwise.compare("eq", self, other)

    def ne(self, other: Any) -> Tensor:
        return ops.elementwise.compare("ne", self, other)

    def lt(self, other: Any) -> Tensor:
        return ops.elementwise.compare("lt", self, other)

    def le(self, other: Any) -> Tensor:
        return ops.elementwise.compare("le", self, other)

    def gt(self, other: Any) -> Tensor:
        return ops.elementwise.compare("gt", self, other)

    def ge(self, other: Any) -> Tensor:
        return ops.elementwise.compare("ge", self, other)

    def equal(self, other: Tensor) -> bool:
        return self.shape == other.shape and bool((self == other).all())

    def allclose(self, other: Tensor, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
        xp = array_module(self._data)
        return bool(xp.allclose(self._data, other._data, rtol=rtol, atol=atol, equal_nan=equal_nan))

    def __and__(self, other: Any) -> Tensor:
        return ops.elementwise.logical("and", self, other)

    def __or__(self, other: Any) -> Tensor:
        return ops.elementwise.logical("or", self, other)

    def __xor__(self, other: Any) -> Tensor:
        return ops.elementwise.logical("xor", self, other)

    __rand__ = __and__
    __ror__ = __or__
    __rxor__ = __xor__

    def __invert__(self) -> Tensor:
        return ops.elementwise.bitwise_not(self)

    def bitwise_not(self) -> Tensor:
        return ops.elementwise.bitwise_not(self)

    def logical_not(self) -> Tensor:
        return ops.elementwise.logical_not(self)

    def isnan(self) -> Tensor:
        return ops.elementwise.isnan(self)

    def isinf(self) -> Tensor:
        return ops.elementwise.isinf(self)

    def isfinite(self) -> Tensor:
        return ops.elementwise.isfinite(self)

    def any(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return ops.reduce.any(self, dim, keepdim)

    def all(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        return ops.reduce.all(self, dim, keepdim)

    # ------------------------------------------------------------------ reductions
    def sum(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        return ops.reduce.sum(self, dim, keepdim, dtype=dtype)

    def mean(self, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
        return ops.reduce.mean(self, dim, keepdim, dtype=dtype)

    def var(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None) -> Tensor:
        return ops.reduce.var(self, dim, unbiased, keepdim, correction=correction)

    def std(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, *, correction: Any = None) -> Tensor:
        return ops.reduce.std(self, dim, unbiased, keepdim, correction=correction)

    def prod(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return ops.reduce.prod(self, dim, keepdim)

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        return ops.reduce.max(self, dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        return ops.reduce.min(self, dim, keepdim)

    def amax(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        return ops.reduce.amax(self, dim, keepdim)

    def amin(self, dim: Any = (), keepdim: bool = False) -> Tensor:
        return ops.reduce.amin(self, dim, keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return ops.reduce.argmax(self, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        return ops.reduce.argmin(self, dim, keepdim)

    def logsumexp(self, dim: Any, keepdim: bool = False) -> Tensor:
        return ops.reduce.logsumexp(self, dim, keepdim)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:
        return ops.reduce.norm(self, p, dim, keepdim)

    def softmax(self, dim: int, dtype: Any = None) -> Tensor:
        return ops.activation.softmax(self, dim, dtype=dtype)

    def log_softmax(self, dim: int, dtype: Any = None) -> Tensor:
        return ops.activation.log_softmax(self, dim, dtype=dtype)

    def cumsum(self, dim: int) -> Tensor:
        return ops.reduce.cumsum(self, dim)

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape: Any) -> Tensor:
        return ops.shape.reshape(self, _shape_args(shape))

    def view(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list, Size)):
            return self.to(shape[0])  # view(dtype) as in torch, a reinterpreting cast is not offered
        return ops.shape.reshape(self, _shape_args(shape), name="view")

    def view_as(self, other: Tensor) -> Tensor:
        return ops.shape.reshape(self, other.shape, name="view")

    def reshape_as(self, other: Tensor) -> Tensor:
        return ops.shape.reshape(self, other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return ops.shape.flatten(self, start_dim, end_dim)

    def unflatten(self, dim: int, sizes: Sequence[int]) -> Tensor:
        return ops.shape.unflatten(self, dim, sizes)

    def squeeze(self, dim: Any = None) -> Tensor:
        return ops.shape.squeeze(self, dim)

    def unsqueeze(self, dim: int) -> Tensor:
        return ops.shape.unsqueeze(self, dim)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        return ops.shape.transpose(self, dim0, dim1)

    swapaxes = transpose
    swapdims = transpose

    def t(self) -> Tensor:
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self if self.ndim < 2 else ops.shape.transpose(self, 0, 1)

    def permute(self, *dims: Any) -> Tensor:
        return ops.shape.permute(self, _shape_args(dims))

    @property
    def T(self) -> Tensor:
        return ops.shape.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self) -> Tensor:
        if self.ndim < 2:
            raise RuntimeError(
                f"tensor.mT is only supported on matrices or batches of matrices. Got {self.ndim}-D tensor."
            )
        return ops.shape.transpose(self, -2, -1)

    def expand(self, *sizes: Any) -> Tensor:
        return ops.shape.expand(self, _shape_args(sizes))

    def expand_as(self, other: Tensor) -> Tensor:
        return ops.shape.expand(self, other.shape)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        return ops.shape.expand(self, tuple(shape))

    def repeat(self, *sizes: Any) -> Tensor:
        return ops.shape.repeat(self, _shape_args(sizes))

    def split(self, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
        return ops.shape.split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        return ops.shape.chunk(self, chunks, dim)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        return ops.shape.unbind(self, dim)

    def flip(self, *dims: Any) -> Tensor:
        return ops.shape.flip(self, _shape_args(dims))

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        return ops.shape.narrow(self, dim, start, length)

    def gather(self, dim: int, index: Tensor) -> Tensor:
        return ops.shape.gather(self, dim, index)

    def index_select(self, dim: int, index: Tensor) -> Tensor:
        return ops.shape.index_select(self, dim, index)

    def __getitem__(self, key: Any) -> Tensor:
        return ops.shape.getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        ops.shape.setitem(self, key, value)

    # ------------------------------------------------------------------ in-place
    def _inplace(self, name: str, compute: Callable[[], Tensor]) -> Tensor:
        """Run the out-of-place ``compute()`` and make ``self`` its result (see module doc)."""
        from minidl.ops.inplace import apply_inplace

        return apply_inplace(self, name, compute)

    def add_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return self._inplace("add_", lambda: ops.elementwise.add(self, other, alpha=alpha))

    def sub_(self, other: Any, *, alpha: Any = 1) -> Tensor:
        return self._inplace("sub_", lambda: ops.elementwise.sub(self, other, alpha=alpha))

    def mul_(self, other: Any) -> Tensor:
        return self._inplace("mul_", lambda: ops.elementwise.mul(self, other))

    def div_(self, other: Any) -> Tensor:
        return self._inplace("div_", lambda: ops.elementwise.div(self, other))

    def pow_(self, exponent: Any) -> Tensor:
        return self._inplace("pow_", lambda: ops.elementwise.pow(self, exponent))

    def neg_(self) -> Tensor:
        return self._inplace("neg_", lambda: ops.elementwise.neg(self))

    def exp_(self) -> Tensor:
        return self._inplace("exp_", lambda: ops.elementwise.exp(self))

    def sqrt_(self) -> Tensor:
        return self._inplace("sqrt_", lambda: ops.elementwise.sqrt(self))

    def abs_(self) -> Tensor:
        return self._inplace("abs_", lambda: ops.elementwise.abs(self))

    def relu_(self) -> Tensor:
        return self._inplace("relu_", lambda: ops.activation.relu(self))

    def sigmoid_(self) -> Tensor:
        return self._inplace("sigmoid_", lambda: ops.activation.sigmoid(self))

    def tanh_(self) -> Tensor:
        return self._inplace("tanh_", lambda: ops.activation.tanh(self))

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        return self._inplace("clamp_", lambda: ops.elementwise.clamp(self, min, max))

    clip_ = clamp_

    def masked_fill_(self, mask: Tensor, value: Any) -> Tensor:
        return self._inplace("masked_fill_", lambda: ops.elementwise.masked_fill(self, mask, value))

    def copy_(self, src: Any, non_blocking: bool = False) -> Tensor:
        return self._inplace("copy_", lambda: ops.shape.copy_from(self, src))

    def fill_(self, value: Any) -> Tensor:
        return self._inplace("fill_", lambda: ops.shape.filled_like(self, value))

    def zero_(self) -> Tensor:
        return self._inplace("zero_", lambda: ops.shape.filled_like(self, 0))

    def uniform_(self, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Tensor:
        from minidl import creation

        return self._inplace("uniform_", lambda: creation.uniform_like(self, a, b, generator))

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
        from minidl import creation

        return self._inplace("normal_", lambda: creation.normal_like(self, mean, std, generator))

    def bernoulli_(self, p: float = 0.5, *, generator: Any = None) -> Tensor:
        from minidl import creation

        return self._inplace("bernoulli_", lambda: creation.bernoulli_like(self, p, generator))

    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)


def _shape_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``f(2, 3)``, ``f((2, 3))`` and ``f([2, 3])`` all mean the shape ``(2, 3)``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _dim(op: str, dim: int, ndim: int) -> int:
    from minidl.errors import normalize_dim

    return normalize_dim(op, dim, ndim)


# The ops modules import Tensor from here, so they are imported once the class exists.
from minidl import ops  # noqa: E402
