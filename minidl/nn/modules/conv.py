"""``Conv2d`` and ``ConvTranspose2d``: torch's arguments, weight shapes, init and repr.

Conv2d weight: (out_channels, in_channels/groups, kh, kw); ConvTranspose2d weight:
(in_channels, out_channels/groups, kh, kw); bias: (out_channels,). Both start at torch's
default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias, with fan_in =
weight.shape[1]*kh*kw (for ConvTranspose2d that is out_channels/groups*kh*kw, as torch's
``_calculate_fan_in_and_fan_out`` reads the transposed weight).

The computation is :func:`minidl.ops.conv.conv2d` / ``conv_transpose2d``; a padding_mode
other than 'zeros' pads first with :func:`minidl.ops.shape.pad`, as torch does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from minidl import creation
from minidl.errors import ShapeError
from minidl.nn import init
from minidl.nn.modules.module import Module
from minidl.nn.parameter import Parameter
from minidl.ops.conv import conv2d, conv_transpose2d
from minidl.ops.shape import pad
from minidl.tensor import Tensor

__all__ = ["Conv2d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _pair(layer: str, name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return (value[0], value[1])
    raise TypeError(f"{layer}: {name} must be an int or a tuple of 2 ints, got {value!r}")


class _ConvNd(Module):
    """What Conv2d and ConvTranspose2d share: checked arguments, parameters, init, repr."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
        transposed: bool, output_padding: Any, groups: int, bias: bool, padding_mode: str,
        device: Any = None, dtype: Any = None,
    ) -> None:  # fmt: skip
        super().__init__()
        name = type(self).__name__
        for arg, v in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if not isinstance(v, int) or isinstance(v, bool):
                raise TypeError(f"{name}: {arg} must be an int, got {v!r}")
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError(f"in_channels must be divisible by groups ({name}: in_channels={in_channels}, "
                             f"groups={groups})")  # fmt: skip
        if out_channels % groups != 0:
            raise ValueError(f"out_channels must be divisible by groups ({name}: out_channels={out_channels}, "
                             f"groups={groups})")  # fmt: skip
        kernel_size = _pair(name, "kernel_size", kernel_size)
        stride = _pair(name, "stride", stride)
        dilation = _pair(name, "dilation", dilation)
        if min(kernel_size) <= 0 or min(stride) <= 0 or min(dilation) <= 0:
            raise ValueError(f"{name}: kernel_size, stride and dilation must be positive, got kernel_size="
                             f"{kernel_size}, stride={stride}, dilation={dilation}")  # fmt: skip
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'same', 'valid'}}")
            if padding == "same" and stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
        else:
            padding = _pair(name, "padding", padding)
            if min(padding) < 0:
                raise ValueError(f"{name}: padding must be non-negative, got {padding}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"padding_mode must be one of {{'zeros', 'reflect', 'replicate', 'circular'}}, but got "
                f"padding_mode='{padding_mode}'"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.transposed = transposed
        self.output_padding = output_padding
        self.groups = groups
        self.padding_mode = padding_mode
        # F.pad's (left, right, top, bottom): torch's attribute of the same name
        if isinstance(padding, str):
            pads = [0, 0, 0, 0]
            if padding == "same":
                for i, (k, d) in enumerate(zip(kernel_size, dilation)):
                    total = d * (k - 1)
                    pads[2 - 2 * i] = total // 2
                    pads[3 - 2 * i] = total - total // 2
            self._reversed_padding_repeated_twice = pads
        else:
            self._reversed_padding_repeated_twice = [padding[1], padding[1], padding[0], padding[0]]
        if transposed:
            shape = (in_channels, out_channels // groups, *kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *kernel_size)
        self.weight = Parameter(creation.empty(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's init: kaiming_uniform_(a=sqrt(5)) for the weight, U(+-1/sqrt(fan_in)) for the bias."""
        init.default_layer_init_(self.weight, self.bias)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if isinstance(self.padding, str):
            s += f", padding={self.padding}"
        elif self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def _describe(self) -> str:
        return f"{type(self).__name__}({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size})"

    def _check_input(self, input: Any, channels: int) -> None:
        """Clear errors naming the layer: not a tensor, wrong ndim, wrong channels, wrong dtype."""
        if not isinstance(input, Tensor):
            raise TypeError(f"{self._describe()}: expected a Tensor input, got {type(input).__name__}")
        shape = tuple(input.shape)
        if input.ndim not in (3, 4):
            raise ShapeError(
                f"{self._describe()}: expected input (N, {channels}, H, W) or ({channels}, H, W), got {shape}"
            )
        if shape[-3] != channels:
            expected = f"(N, {channels}, H, W)" if input.ndim == 4 else f"({channels}, H, W)"
            raise ShapeError(f"{self._describe()}: expected input {expected}, got {shape}")
        if input.dtype != self.weight.dtype:
            raise RuntimeError(
                f"{self._describe()}: input dtype {input.dtype} does not match the layer's weight dtype "
                f"{self.weight.dtype}; convert one of them (e.g. input.to(layer.weight.dtype) or layer.to(dtype))"
            )


class Conv2d(_ConvNd):
    """2-D convolution layer: (N, C_in, H, W) -> (N, C_out, oh, ow) (also (C_in, H, W) -> (C_out, oh, ow)).

    ``oh = floor((H + 2*ph - dh*(kh - 1) - 1) / sh) + 1`` (ow alike); ``padding`` may be
    an int, a pair, 'valid' or 'same'; ``padding_mode`` 'zeros', 'reflect', 'replicate' or
    'circular'.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, False, (0, 0), groups,
                         bias, padding_mode, device, dtype)  # fmt: skip

    def forward(self, input: Tensor) -> Tensor:
        self._check_input(input, self.in_channels)
        left, right, top, bottom = self._reversed_padding_repeated_twice
        h, w = input.shape[-2:]
        hp, wp = h + top + bottom, w + left + right
        eh = self.dilation[0] * (self.kernel_size[0] - 1) + 1
        ew = self.dilation[1] * (self.kernel_size[1] - 1) + 1
        if hp < eh or wp < ew:
            raise ShapeError(
                f"{self._describe()}: input {tuple(input.shape)} padded to ({hp} x {wp}) is smaller than the "
                f"kernel ({eh} x {ew}, dilation included): Kernel size can't be greater than actual input size"
            )
        if self.padding_mode != "zeros":
            try:
                padded = pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            except RuntimeError as e:
                raise type(e)(f"{self._describe()}: padding_mode={self.padding_mode!r}: {e}") from None
            return conv2d(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution layer: (N, C_in, H, W) -> (N, C_out, Hout, Wout).

    ``Hout = (H - 1)*sh - 2*ph + dh*(kh - 1) + output_padding_h + 1``; ``forward(input,
    output_size)`` may instead name the wanted (H, W), and output_padding is derived.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        output_padding: int | tuple[int, int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, int] = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be an int or a tuple of 2 ints, got {padding!r}")
        output_padding = _pair(type(self).__name__, "output_padding", output_padding)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, True, output_padding,
                         groups, bias, padding_mode, device, dtype)  # fmt: skip

    def _output_padding(self, input: Tensor, output_size: Sequence[int] | None) -> tuple[int, int]:
        """The output_padding that gives ``output_size`` (torch's rule), or the layer's own."""
        if output_size is None:
            return self.output_padding
        output_size = [int(s) for s in output_size]
        n_lead = input.ndim - 2
        if len(output_size) == n_lead + 2:
            output_size = output_size[n_lead:]
        if len(output_size) != 2:
            raise ValueError(
                f"ConvTranspose2D: for {input.ndim}D input, output_size must have 2 or {n_lead + 2} elements "
                f"(got {len(output_size)})"
            )
        lo, hi = [], []
        for d in range(2):
            size = (
                (input.shape[d - 2] - 1) * self.stride[d] - 2 * self.padding[d]
                + self.dilation[d] * (self.kernel_size[d] - 1) + 1
            )  # fmt: skip
            lo.append(size)
            hi.append(size + self.stride[d] - 1)
        for d in range(2):
            if not lo[d] <= output_size[d] <= hi[d]:
                raise ValueError(
                    f"requested an output size of {output_size}, but valid sizes range from {lo} to {hi} "
                    f"(for an input of {list(input.shape[-2:])})"
                )
        return (output_size[0] - lo[0], output_size[1] - lo[1])

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        self._check_input(input, self.in_channels)
        output_padding = self._output_padding(input, output_size)
        return conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, output_padding,
                                self.groups, self.dilation)  # fmt: skip
