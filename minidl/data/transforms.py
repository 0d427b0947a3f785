"""Image transforms with ``torchvision.transforms``' names, arguments, sampling rules and reprs.

    from minidl.data import transforms as T
    train_tf = T.Compose([
        T.RandomCrop(32, padding=4, padding_mode="reflect"),
        T.RandomHorizontalFlip(),
        T.ToTensor(),                                   # HWC uint8 -> CHW float32 in [0, 1]
        T.Normalize((0.49, 0.48, 0.45), (0.25, 0.24, 0.26)),
    ])

Images are what torchvision takes, plus numpy arrays:

* PIL images: processed exactly as torchvision's PIL backend does (same PIL calls), so
  the pixels equal torchvision's for the same random parameters;
* numpy arrays ``(H, W)`` or ``(H, W, C)`` (HWC, the layout of image files): flips, crops
  and pads are numpy indexing / ``numpy.pad``; resampling (resize, rotation, affine) and
  colour changes of ``uint8`` images with 1, 3 or 4 channels go through PIL (the same
  numbers as for a PIL image), other dtypes are resampled channel by channel in PIL's
  32-bit float mode ``"F"`` (no hand-written interpolation);
* minidl tensors ``(..., C, H, W)`` (after ``ToTensor``): channel planes resampled in
  PIL's ``"F"`` mode (for float images this agrees with torchvision's tensor backend to
  float rounding: antialiased bilinear/bicubic resize, rotation, affine), ``nearest``
  resize with torch's tensor rule ``src = floor(dst * in / out)``, colour changes with
  torchvision's tensor formulas.

A numpy image comes back as a numpy image, a PIL image as a PIL image, a tensor as a tensor.
Every random choice draws from minidl's global generator (``minidl.manual_seed``). The
functional forms (``hflip``, ``crop``, ``pad``, ``resize``, ``rotate``, ``affine``,
``adjust_hue``, ...) live in this module too; ``functional`` is an alias of it, so
torchvision's ``F.hflip(img)`` spelling works.

"Random scaling" (COURSEWORK.md §2) is ``RandomAffine(degrees=0, scale=(0.9, 1.1))``
(zoom about the centre, same output size) or ``RandomResizedCrop``, as in torchvision.
"""

from __future__ import annotations

import math
import numbers
import sys
import warnings
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, Union

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from minidl import dtypes
from minidl import random as _random
from minidl.backend import array_module
from minidl.tensor import Tensor

__all__ = [
    "CenterCrop", "ColorJitter", "Compose", "FiveCrop", "GaussianNoise", "Grayscale", "InterpolationMode",
    "Lambda", "Normalize", "Pad", "RandomAffine", "RandomApply", "RandomChoice", "RandomCrop", "RandomErasing",
    "RandomGrayscale", "RandomHorizontalFlip", "RandomOrder", "RandomResizedCrop", "RandomRotation",
    "RandomVerticalFlip", "Resize", "TenCrop", "ToPILImage", "ToTensor",
    "adjust_brightness", "adjust_contrast", "adjust_hue", "adjust_saturation", "affine", "center_crop", "crop",
    "erase", "five_crop", "get_dimensions", "hflip", "normalize", "pad", "resize", "resized_crop",
    "rgb_to_grayscale", "rotate", "ten_crop", "to_pil_image", "to_tensor", "vflip",
]  # fmt: skip

Image_ = Union[Image.Image, np.ndarray, Tensor]  # noqa: UP007 (a runtime alias)


def _rng() -> np.random.Generator:
    return _random.rng(None)


# ---------------------------------------------------------------------------- interpolation
class InterpolationMode(Enum):
    """Resampling filters (torchvision's enum); PIL's integer constants are accepted too."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


_PIL_FILTER = {
    InterpolationMode.NEAREST: Image.NEAREST,
    InterpolationMode.NEAREST_EXACT: Image.NEAREST,
    InterpolationMode.BILINEAR: Image.BILINEAR,
    InterpolationMode.BICUBIC: Image.BICUBIC,
    InterpolationMode.BOX: Image.BOX,
    InterpolationMode.HAMMING: Image.HAMMING,
    InterpolationMode.LANCZOS: Image.LANCZOS,
}
_FROM_INT = {0: "NEAREST", 2: "BILINEAR", 3: "BICUBIC", 4: "BOX", 5: "HAMMING", 1: "LANCZOS"}


def _interpolation(mode: Any, who: str) -> InterpolationMode:
    if isinstance(mode, InterpolationMode):
        return mode
    if isinstance(mode, int) and not isinstance(mode, bool) and mode in _FROM_INT:
        return InterpolationMode[_FROM_INT[mode]]
    if isinstance(mode, str):
        try:
            return InterpolationMode(mode.lower())
        except ValueError:
            pass
    raise TypeError(
        f"{who}: interpolation should be an InterpolationMode or a corresponding Pillow integer constant, got {mode!r}"
    )


# ---------------------------------------------------------------------------- image kinds
def _is_pil(img: Any) -> bool:
    return isinstance(img, Image.Image)


def _describe(img: Any) -> str:
    if _is_pil(img):
        return f"a PIL image (mode {img.mode}, size {img.size[0]}x{img.size[1]})"
    if isinstance(img, np.ndarray):
        return f"an array of shape {tuple(img.shape)} {img.dtype}"
    if isinstance(img, Tensor):
        return f"a tensor of shape {tuple(img.shape)} {img.dtype}"
    return f"a {type(img).__name__}"


def get_dimensions(img: Image_, who: str = "get_dimensions") -> tuple[int, int, int]:
    """``(channels, height, width)`` of a PIL image, an HWC/HW array or a ``(..., C, H, W)`` tensor."""
    if _is_pil(img):
        return len(img.getbands()), img.size[1], img.size[0]
    if isinstance(img, np.ndarray):
        if img.ndim == 2:
            return 1, img.shape[0], img.shape[1]
        if img.ndim == 3:
            if img.shape[2] > 4 and img.shape[0] in (1, 3, 4):
                warnings.warn(
                    f"{who}: {_describe(img)} looks channels-first; numpy images are HxWxC "
                    "(use img.transpose(1, 2, 0))",
                    stacklevel=3,
                )
            return img.shape[2], img.shape[0], img.shape[1]
        raise ValueError(f"{who}: expected an HxW or HxWxC image, got {_describe(img)}")
    if isinstance(img, Tensor):
        if img.ndim < 2:
            raise ValueError(f"{who}: expected a tensor image of shape (..., C, H, W) or (H, W), got {_describe(img)}")
        c = img.shape[-3] if img.ndim >= 3 else 1
        return c, img.shape[-2], img.shape[-1]
    raise TypeError(f"{who}: expected a PIL image, a numpy HWC array or a minidl tensor, got {_describe(img)}")


def _array_of(img: np.ndarray | Tensor) -> tuple[Any, int, int]:
    """The array behind an array/tensor image and its (H axis, W axis)."""
    if isinstance(img, Tensor):
        return img._data, img.ndim - 2, img.ndim - 1
    return img, 0, 1


def _like(img: np.ndarray | Tensor, arr: Any) -> Any:
    return Tensor._make(arr) if isinstance(img, Tensor) else arr


def _channel_axis(img: np.ndarray | Tensor) -> int | None:
    if isinstance(img, Tensor):
        return img.ndim - 3 if img.ndim >= 3 else None
    return 2 if img.ndim == 3 else None


# ---------------------------------------------------------------------------- size helpers
def _setup_size(size: Any, error_msg: str) -> Any:
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) == 1:
        return size[0], size[0]
    if not isinstance(size, Sequence) or len(size) != 2:
        raise ValueError(error_msg)
    return size


def _check_sequence_input(x: Any, name: str, req_sizes: tuple[int, ...]) -> None:
    msg = req_sizes[0] if len(req_sizes) < 2 else " or ".join(str(s) for s in req_sizes)
    if not isinstance(x, Sequence):
        raise TypeError(f"{name} should be a sequence of length {msg}.")
    if len(x) not in req_sizes:
        raise ValueError(f"{name} should be a sequence of length {msg}.")


def _setup_angle(x: Any, name: str, req_sizes: tuple[int, ...] = (2,)) -> list[float]:
    if isinstance(x, numbers.Number):
        if x < 0:
            raise ValueError(f"If {name} is a single number, it must be positive.")
        x = [-x, x]
    else:
        _check_sequence_input(x, name, req_sizes)
    return [float(d) for d in x]


# ---------------------------------------------------------------------------- flips, crops, pads
def hflip(img: Image_) -> Image_:
    """Mirror left-right (the W axis)."""
    if _is_pil(img):
        return img.transpose(Image.FLIP_LEFT_RIGHT)
    get_dimensions(img, "hflip")
    arr, _, wax = _array_of(img)
    return _like(img, array_module(arr).flip(arr, wax).copy())


def vflip(img: Image_) -> Image_:
    """Mirror top-bottom (the H axis)."""
    if _is_pil(img):
        return img.transpose(Image.FLIP_TOP_BOTTOM)
    get_dimensions(img, "vflip")
    arr, hax, _ = _array_of(img)
    return _like(img, array_module(arr).flip(arr, hax).copy())


def crop(img: Image_, top: int, left: int, height: int, width: int) -> Image_:
    """The ``height x width`` window whose top-left corner is ``(top, left)``; outside the image is 0."""
    if _is_pil(img):
        return img.crop((left, top, left + width, top + height))
    _, h, w = get_dimensions(img, "crop")
    arr, hax, wax = _array_of(img)
    top, left, height, width = int(top), int(left), int(height), int(width)
    if 0 <= top and 0 <= left and top + height <= h and left + width <= w:
        idx = [slice(None)] * arr.ndim
        idx[hax], idx[wax] = slice(top, top + height), slice(left, left + width)
        return _like(img, arr[tuple(idx)].copy())
    shape = list(arr.shape)
    shape[hax], shape[wax] = height, width
    out = array_module(arr).zeros(shape, arr.dtype)
    t0, t1 = max(top, 0), min(top + height, h)
    l0, l1 = max(left, 0), min(left + width, w)
    if t0 < t1 and l0 < l1:
        src = [slice(None)] * arr.ndim
        dst = [slice(None)] * arr.ndim
        src[hax], src[wax] = slice(t0, t1), slice(l0, l1)
        dst[hax], dst[wax] = slice(t0 - top, t1 - top), slice(l0 - left, l1 - left)
        out[tuple(dst)] = arr[tuple(src)]
    return _like(img, out)


def center_crop(img: Image_, output_size: Any) -> Image_:
    """The central ``output_size`` window (zero-padded first when the image is smaller)."""
    if isinstance(output_size, numbers.Number):
        output_size = (int(output_size), int(output_size))
    elif isinstance(output_size, (tuple, list)) and len(output_size) == 1:
        output_size = (output_size[0], output_size[0])
    _, image_height, image_width = get_dimensions(img, "center_crop")
    crop_height, crop_width = output_size
    if crop_width > image_width or crop_height > image_height:
        padding_ltrb = [
            (crop_width - image_width) // 2 if crop_width > image_width else 0,
            (crop_height - image_height) // 2 if crop_height > image_height else 0,
            (crop_width - image_width + 1) // 2 if crop_width > image_width else 0,
            (crop_height - image_height + 1) // 2 if crop_height > image_height else 0,
        ]
        img = pad(img, padding_ltrb, fill=0)
        _, image_height, image_width = get_dimensions(img, "center_crop")
        if crop_width == image_width and crop_height == image_height:
            return img
    crop_top = round((image_height - crop_height) / 2.0)
    crop_left = round((image_width - crop_width) / 2.0)
    return crop(img, crop_top, crop_left, crop_height, crop_width)


_PADDING_MODES = ("constant", "edge", "reflect", "symmetric")


def _parse_padding(padding: Any, who: str) -> tuple[int, int, int, int]:
    """torchvision's padding forms -> (left, top, right, bottom)."""
    if isinstance(padding, bool) or not isinstance(padding, (numbers.Number, tuple, list)):
        raise TypeError(f"{who}: Got inappropriate padding arg {padding!r}")
    if isinstance(padding, (tuple, list)):
        if len(padding) not in (1, 2, 4):
            raise ValueError(
                f"{who}: Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple"
            )
        p = [int(v) for v in padding]
        if len(p) == 1:
            return p[0], p[0], p[0], p[0]
        if len(p) == 2:
            return p[0], p[1], p[0], p[1]
        return p[0], p[1], p[2], p[3]
    p0 = int(padding)
    return p0, p0, p0, p0


def _fill_per_channel(fill: Any, channels: int, who: str) -> list[float]:
    if fill is None:
        fill = 0
    if isinstance(fill, (int, float, np.number)):
        return [fill] * channels
    fill = list(fill)
    if len(fill) == 1:
        return fill * channels
    if len(fill) != channels:
        raise ValueError(
            f"{who}: the number of elements in 'fill' does not match the number of channels of the image "
            f"({len(fill)} != {channels})"
        )
    return fill


def _pil_fill(fill: Any, img: Image.Image, who: str) -> Any:
    """torchvision's ``_parse_fill``: a fill value PIL accepts for ``img``'s mode."""
    n = len(img.getbands())
    values = _fill_per_channel(fill, n, who)
    if img.mode != "F":
        values = [int(v) for v in values]
    return tuple(values) if n > 1 else values[0]


def pad(img: Image_, padding: Any, fill: Any = 0, padding_mode: str = "constant") -> Image_:
    """Pad the borders: ``padding`` is an int, ``(lr, tb)`` or ``(left, top, right, bottom)``.

    ``padding_mode``: ``constant`` (``fill``, a number or one value per channel), ``edge``,
    ``reflect`` (mirror without repeating the edge: [1,2,3] -> [3,2,1,2,3,2,1]) or
    ``symmetric`` (mirror repeating it) — the same as ``numpy.pad``'s modes of those names.
    """
    if padding_mode not in _PADDING_MODES:
        raise ValueError(
            f"pad: Padding mode should be either constant, edge, reflect or symmetric, got {padding_mode!r}"
        )
    left, top, right, bottom = _parse_padding(padding, "pad")
    if fill is not None and not isinstance(fill, (numbers.Number, tuple, list)):
        raise TypeError(f"pad: Got inappropriate fill arg {fill!r}")
    if _is_pil(img) and padding_mode == "constant":
        opts = _pil_fill(fill, img, "pad")
        palette = img.getpalette() if img.mode == "P" else None
        out = ImageOps.expand(img, border=(left, top, right, bottom), fill=opts)
        if palette is not None:
            out.putpalette(palette)
        return out
    # negative padding crops (torchvision's rule)
    cl, ct, cr, cb = (max(-v, 0) for v in (left, top, right, bottom))
    left, top, right, bottom = (max(v, 0) for v in (left, top, right, bottom))
    if _is_pil(img):
        if cl or ct or cr or cb:
            img = img.crop((cl, ct, img.width - cr, img.height - cb))
        palette = img.getpalette() if img.mode == "P" else None
        arr = np.asarray(img)
        widths = [(top, bottom), (left, right)] + [(0, 0)] * (arr.ndim - 2)
        out = Image.fromarray(np.pad(arr, widths, mode=padding_mode))
        if palette is not None:
            out.putpalette(palette)
        return out
    channels, h, w = get_dimensions(img, "pad")
    if cl or ct or cr or cb:
        img = crop(img, ct, cl, h - ct - cb, w - cl - cr)
        _, h, w = get_dimensions(img, "pad")
    arr, hax, wax = _array_of(img)
    xp = array_module(arr)
    if padding_mode == "constant":
        shape = list(arr.shape)
        shape[hax], shape[wax] = h + top + bottom, w + left + right
        out = xp.empty(shape, arr.dtype)
        values = _fill_per_channel(fill, channels, "pad")
        cax = _channel_axis(img)
        if cax is None or len(set(values)) == 1:
            out[...] = values[0]
        else:
            bshape = [1] * arr.ndim
            bshape[cax] = channels
            out[...] = xp.asarray(values, dtype=arr.dtype).reshape(bshape)
        idx = [slice(None)] * arr.ndim
        idx[hax], idx[wax] = slice(top, top + h), slice(left, left + w)
        out[tuple(idx)] = arr
        return _like(img, out)
    widths = [(0, 0)] * arr.ndim
    widths[hax], widths[wax] = (top, bottom), (left, right)
    return _like(img, xp.pad(arr, widths, mode=padding_mode))


def five_crop(img: Image_, size: Any) -> tuple[Image_, ...]:
    """``(top-left, top-right, bottom-left, bottom-right, centre)`` crops of ``size``."""
    if isinstance(size, numbers.Number):
        size = (int(size), int(size))
    elif isinstance(size, (tuple, list)) and len(size) == 1:
        size = (size[0], size[0])
    if len(size) != 2:
        raise ValueError("Please provide only two dimensions (h, w) for size.")
    _, image_height, image_width = get_dimensions(img, "five_crop")
    crop_height, crop_width = size
    if crop_width > image_width or crop_height > image_height:
        raise ValueError(
            f"FiveCrop: requested crop size {tuple(size)} is bigger than input size {(image_height, image_width)} "
            f"({_describe(img)})"
        )
    tl = crop(img, 0, 0, crop_height, crop_width)
    tr = crop(img, 0, image_width - crop_width, crop_height, crop_width)
    bl = crop(img, image_height - crop_height, 0, crop_height, crop_width)
    br = crop(img, image_height - crop_height, image_width - crop_width, crop_height, crop_width)
    center = center_crop(img, [crop_height, crop_width])
    return tl, tr, bl, br, center


def ten_crop(img: Image_, size: Any, vertical_flip: bool = False) -> tuple[Image_, ...]:
    """The five crops, then the five crops of the flipped image (horizontal flip unless ``vertical_flip``)."""
    first_five = five_crop(img, size)
    flipped = vflip(img) if vertical_flip else hflip(img)
    return first_five + five_crop(flipped, size)


# ---------------------------------------------------------------------------- resampling through PIL
def _to_dtype_like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "f":
        return values.astype(dtype, copy=False)
    if dtype.kind == "b":
        return values > 0.5
    info = np.iinfo(dtype)
    return np.clip(np.rint(values), info.min, info.max).astype(dtype)


def _through_pil(img: Image_, fn: Callable[[Image.Image, Any], Image.Image], fill: Any, who: str) -> Image_:
    """Apply a PIL resampling ``fn(pil_image, fillcolor)`` to any image kind.

    uint8 arrays with 1, 3 or 4 channels become one L/RGB/RGBA image (the numbers of a PIL
    image); anything else is resampled one channel plane at a time in PIL's float mode "F".
    """
    if _is_pil(img):
        return fn(img, _pil_fill(fill, img, who))
    channels, _, _ = get_dimensions(img, who)
    if isinstance(img, np.ndarray) and img.dtype == np.uint8 and channels in (1, 3, 4):
        pil = Image.fromarray(img[..., 0] if img.ndim == 3 and channels == 1 else img)
        out = np.array(fn(pil, _pil_fill(fill, pil, who)))  # a writable copy
        return out[..., None] if img.ndim == 3 and out.ndim == 2 else out
    if isinstance(img, Tensor):
        data = img._data
        host = data if isinstance(data, np.ndarray) else data.get()
        planes = host.reshape((-1, *host.shape[-2:]))
    else:
        host = img
        planes = np.moveaxis(img, -1, 0) if img.ndim == 3 else img[None]
    values = _fill_per_channel(fill, channels, who)
    outs = []
    for k, plane in enumerate(planes):
        pil = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))
        outs.append(np.asarray(fn(pil, float(values[k % channels]))))
    stacked = _to_dtype_like(np.stack(outs), host.dtype)
    if isinstance(img, Tensor):
        stacked = stacked.reshape((*host.shape[:-2], *stacked.shape[-2:]))
        return Tensor._make(stacked if isinstance(data, np.ndarray) else array_module(data).asarray(stacked))
    return np.moveaxis(stacked, 0, -1) if img.ndim == 3 else stacked[0]


def _resized_output_size(h: int, w: int, size: list[int], max_size: int | None) -> list[int]:
    """torchvision's rule: one number is the new *smaller* edge, the other keeps the aspect ratio (floored)."""
    if len(size) == 1:
        short, long = (w, h) if w <= h else (h, w)
        requested_new_short = size[0]
        new_short, new_long = requested_new_short, int(requested_new_short * long / short)
        if max_size is not None:
            if max_size <= requested_new_short:
                raise ValueError(
                    f"max_size = {max_size} must be strictly greater than the requested size for the smaller edge "
                    f"size = {size}"
                )
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        return [new_h, new_w]
    return [size[0], size[1]]


def _nearest_index(n_in: int, n_out: int) -> np.ndarray:
    scale = np.float32(n_in) / np.float32(n_out)
    idx = np.floor(np.arange(n_out, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(idx, n_in - 1)


def resize(
    img: Image_,
    size: Any,
    interpolation: Any = InterpolationMode.BILINEAR,
    max_size: int | None = None,
    antialias: bool | None = True,
) -> Image_:
    """Resize to ``size``: ``(h, w)``, or an int for the smaller edge (``(32, 64)`` image, ``size=16`` -> ``(16, 32)``).

    Resampled by PIL (bilinear by default, antialiased when shrinking, as PIL always does).
    """
    mode = _interpolation(interpolation, "resize")
    if isinstance(size, (list, tuple)):
        if len(size) not in (1, 2):
            raise ValueError(
                f"resize: Size must be an int or a 1 or 2 element tuple/list, not a {len(size)} element tuple/list"
            )
        if max_size is not None and len(size) != 1:
            raise ValueError(
                "max_size should only be passed if size specifies the length of the smaller edge, i.e. size should "
                "be an int or a sequence of length 1 in torchscript mode."
            )
        size = [int(s) for s in size]
    else:
        size = [int(size)]
    _, h, w = get_dimensions(img, "resize")
    out_h, out_w = _resized_output_size(h, w, size, max_size)
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"Resize: output size {(out_h, out_w)} is empty for {_describe(img)}")
    if [h, w] == [out_h, out_w]:
        return img
    if isinstance(img, Tensor) and mode == InterpolationMode.NEAREST:
        # torch's legacy "nearest" on tensors: src = floor(dst * in / out) in float32 (not PIL's centres)
        rows = _nearest_index(h, out_h)
        cols = _nearest_index(w, out_w)
        data = img._data
        xp = array_module(data)
        return Tensor._make(data[..., xp.asarray(rows)[:, None], xp.asarray(cols)[None, :]])
    filt = _PIL_FILTER[mode]
    return _through_pil(img, lambda p, _f: p.resize((out_w, out_h), filt), None, "resize")


def resized_crop(
    img: Image_, top: int, left: int, height: int, width: int, size: Any,
    interpolation: Any = InterpolationMode.BILINEAR, antialias: bool | None = True,
) -> Image_:  # fmt: skip
    """``crop`` then ``resize`` to ``size``."""
    return resize(crop(img, top, left, height, width), size, interpolation, antialias=antialias)


def _get_inverse_affine_matrix(
    center: Sequence[float], angle: float, translate: Sequence[float], scale: float, shear: Sequence[float]
) -> list[float]:
    """The output->input pixel map PIL's ``Image.transform(AFFINE)`` takes (torchvision's formula).

    Forward map: ``M = T * C * RotateScaleShear * C^-1`` with the rotation clockwise in
    image coordinates; the inverse is written out in closed form.
    """
    rot = math.radians(angle)
    sx, sy = math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    matrix = [x / scale for x in (d, -b, 0.0, -c, a, 0.0)]
    matrix[2] += matrix[0] * (-cx - tx) + matrix[1] * (-cy - ty)
    matrix[5] += matrix[3] * (-cx - tx) + matrix[4] * (-cy - ty)
    matrix[2] += cx
    matrix[5] += cy
    return matrix


def rotate(
    img: Image_, angle: float, interpolation: Any = InterpolationMode.NEAREST, expand: bool = False,
    center: Sequence[int] | None = None, fill: Any = None,
) -> Image_:  # fmt: skip
    """Rotate by ``angle`` degrees counter-clockwise about ``center`` (default: the image centre), via PIL."""
    filt = _PIL_FILTER[_interpolation(interpolation, "rotate")]
    if not isinstance(angle, (int, float)):
        raise TypeError("Argument angle should be int or float")
    ctr = None if center is None else tuple(center)
    return _through_pil(img, lambda p, f: p.rotate(angle, filt, expand, ctr, fillcolor=f), fill, "rotate")


def affine(
    img: Image_, angle: float, translate: Sequence[int], scale: float, shear: Any,
    interpolation: Any = InterpolationMode.NEAREST, fill: Any = None, center: Sequence[int] | None = None,
) -> Image_:  # fmt: skip
    """Rotate (``angle`` degrees, clockwise), scale, shear (degrees) about the centre, then translate (pixels)."""
    filt = _PIL_FILTER[_interpolation(interpolation, "affine")]
    if not isinstance(translate, (list, tuple)) or len(translate) != 2:
        raise ValueError("Argument translate should be a sequence of length 2")
    if scale <= 0.0:
        raise ValueError("Argument scale should be positive")
    if isinstance(shear, numbers.Number):
        shear = [shear, 0.0]
    shear = list(shear)
    if len(shear) == 1:
        shear = [shear[0], shear[0]]
    if len(shear) != 2:
        raise ValueError(f"Shear should be a sequence containing two values. Got {shear}")
    _, h, w = get_dimensions(img, "affine")
    ctr = [w * 0.5, h * 0.5] if center is None else list(center)
    matrix = _get_inverse_affine_matrix(ctr, float(angle), list(translate), scale, shear)
    return _through_pil(
        img, lambda p, f: p.transform(p.size, Image.AFFINE, matrix, filt, fillcolor=f), fill, "affine"
    )


# ---------------------------------------------------------------------------- colour
def _color(
    img: Image_, who: str, pil_fn: Callable[[Image.Image], Image.Image], chw_fn: Callable[[np.ndarray], np.ndarray]
) -> Image_:
    """PIL images and uint8 numpy images (1 or 3 channels) go through ``pil_fn`` (torchvision's
    PIL numbers); other arrays and tensors through ``chw_fn`` on a ``(..., C, H, W)`` array."""
    if _is_pil(img):
        return pil_fn(img)
    channels, _, _ = get_dimensions(img, who)
    if channels not in (1, 3):
        raise ValueError(f"{who}: expected an image with 1 or 3 channels, got {_describe(img)}")
    if isinstance(img, np.ndarray):
        if img.dtype == np.uint8:
            out = np.array(pil_fn(Image.fromarray(img[..., 0] if img.ndim == 3 and channels == 1 else img)))
            return out[..., None] if img.ndim == 3 and out.ndim == 2 else out
        chw = np.moveaxis(img, -1, 0) if img.ndim == 3 else img[None]
        out = chw_fn(chw)
        return np.moveaxis(out, 0, -1) if img.ndim == 3 else out[0]
    data = img._data
    host = data if isinstance(data, np.ndarray) else data.get()
    out = chw_fn(host if host.ndim >= 3 else host[None])
    out = out if host.ndim >= 3 else out[0]
    return Tensor._make(out if isinstance(data, np.ndarray) else array_module(data).asarray(out))


def _max_value(dtype: np.dtype) -> float:
    return 1.0 if dtype.kind == "f" else float(np.iinfo(dtype).max)


def _blend(img1: np.ndarray, img2: Any, ratio: float) -> np.ndarray:
    """``ratio * img1 + (1 - ratio) * img2`` clamped to the dtype's range, in img1's dtype (torchvision's)."""
    dt = img1.dtype
    work = dt if dt.kind == "f" else np.dtype(np.float32)
    out = ratio * img1.astype(work) + (1.0 - ratio) * np.asarray(img2).astype(work)
    return np.clip(out, 0, _max_value(dt)).astype(dt)


def _gray_chw(x: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma of a (..., 3, H, W) array, kept as (..., 1, H, W) in x's dtype."""
    r, g, b = x[..., 0, :, :], x[..., 1, :, :], x[..., 2, :, :]
    dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    gray = (0.2989 * r.astype(dt) + 0.587 * g.astype(dt) + 0.114 * b.astype(dt)).astype(x.dtype)
    return gray[..., None, :, :]


def adjust_brightness(img: Image_, brightness_factor: float) -> Image_:
    """Multiply by ``brightness_factor`` (0 black, 1 unchanged), clamped."""
    if brightness_factor < 0:
        raise ValueError(f"brightness_factor ({brightness_factor}) is not non-negative.")
    return _color(
        img, "adjust_brightness",
        lambda p: ImageEnhance.Brightness(p).enhance(brightness_factor),
        lambda x: _blend(x, np.zeros((), x.dtype), brightness_factor),
    )  # fmt: skip


def adjust_contrast(img: Image_, contrast_factor: float) -> Image_:
    """Blend with the image's mean grey level (0 flat grey, 1 unchanged)."""
    if contrast_factor < 0:
        raise ValueError(f"contrast_factor ({contrast_factor}) is not non-negative.")

    def chw(x: np.ndarray) -> np.ndarray:
        dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
        base = _gray_chw(x) if x.shape[-3] == 3 else x
        mean = base.astype(dt).mean(axis=(-3, -2, -1), keepdims=True)
        return _blend(x, mean, contrast_factor)

    return _color(img, "adjust_contrast", lambda p: ImageEnhance.Contrast(p).enhance(contrast_factor), chw)


def adjust_saturation(img: Image_, saturation_factor: float) -> Image_:
    """Blend with the grey image (0 grey, 1 unchanged, 2 twice as saturated)."""
    if saturation_factor < 0:
        raise ValueError(f"saturation_factor ({saturation_factor}) is not non-negative.")
    return _color(
        img, "adjust_saturation",
        lambda p: ImageEnhance.Color(p).enhance(saturation_factor),
        lambda x: x if x.shape[-3] == 1 else _blend(x, _gray_chw(x), saturation_factor),
    )  # fmt: skip


def _rgb2hsv(x: np.ndarray) -> np.ndarray:
    r, g, b = x[..., 0, :, :], x[..., 1, :, :], x[..., 2, :, :]
    maxc, minc = x.max(axis=-3), x.min(axis=-3)
    eqc = maxc == minc
    cr = maxc - minc
    ones = np.ones_like(maxc)
    s = cr / np.where(eqc, ones, maxc)
    cr_divisor = np.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / cr_divisor, (maxc - g) / cr_divisor, (maxc - b) / cr_divisor
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = np.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return np.stack((h, s, maxc), axis=-3)


def _hsv2rgb(x: np.ndarray) -> np.ndarray:
    h, s, v = x[..., 0, :, :], x[..., 1, :, :], x[..., 2, :, :]
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.astype(np.int32) % 6
    p = np.clip(v * (1.0 - s), 0.0, 1.0)
    q = np.clip(v * (1.0 - s * f), 0.0, 1.0)
    t = np.clip(v * (1.0 - s * (1.0 - f)), 0.0, 1.0)
    r = np.choose(i, (v, q, p, p, t, v))
    g = np.choose(i, (t, v, v, q, p, p))
    b = np.choose(i, (p, p, t, v, v, q))
    return np.stack((r, g, b), axis=-3).astype(x.dtype)


def _pil_adjust_hue(img: Image.Image, hue_factor: float) -> Image.Image:
    if img.mode in {"L", "1", "I", "F"}:
        return img
    h, s, v = img.convert("HSV").split()
    np_h = np.array(h, dtype=np.uint8)
    np_h += np.int32(hue_factor * 255).astype(np.uint8)  # uint8 wrap-around is the cyclic shift
    return Image.merge("HSV", (Image.fromarray(np_h), s, v)).convert(img.mode)


def adjust_hue(img: Image_, hue_factor: float) -> Image_:
    """Shift the hue cyclically by ``hue_factor`` turns, in ``[-0.5, 0.5]``."""
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f"hue_factor ({hue_factor}) is not in [-0.5, 0.5].")

    def chw(x: np.ndarray) -> np.ndarray:
        if x.shape[-3] == 1:
            return x
        work = x.astype(np.float32) / np.float32(255) if x.dtype.kind != "f" else x
        hsv = _rgb2hsv(work)
        hsv[..., 0, :, :] = (hsv[..., 0, :, :] + hue_factor) % 1.0
        out = _hsv2rgb(hsv)
        if x.dtype.kind != "f":
            out = (out * (255 + 1.0 - 1e-3)).astype(x.dtype)
        return out

    return _color(img, "adjust_hue", lambda p: _pil_adjust_hue(p, hue_factor), chw)


def rgb_to_grayscale(img: Image_, num_output_channels: int = 1) -> Image_:
    """Luma ``0.299 R + 0.587 G + 0.114 B``, as 1 channel or repeated to 3."""
    if num_output_channels not in (1, 3):
        raise ValueError("num_output_channels should be either 1 or 3")

    def pil_fn(p: Image.Image) -> Image.Image:
        gray = p.convert("L")
        return gray if num_output_channels == 1 else Image.merge("RGB", (gray, gray, gray))

    def chw(x: np.ndarray) -> np.ndarray:
        gray = _gray_chw(x) if x.shape[-3] == 3 else x.copy()
        return gray if num_output_channels == 1 else np.repeat(gray, 3, axis=-3)

    return _color(img, "rgb_to_grayscale", pil_fn, chw)


# ---------------------------------------------------------------------------- tensor conversions
def to_tensor(pic: Image.Image | np.ndarray) -> Tensor:
    """A PIL image or an ``(H, W[, C])`` array as a ``(C, H, W)`` tensor; uint8 is scaled to float32 in [0, 1].

    As torchvision: other dtypes keep their dtype and values; a 2-D array gives ``(1, H, W)``.
    """
    if isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"ToTensor: pic should be 2/3 dimensional. Got {pic.ndim} dimensions ({_describe(pic)}).")
        if pic.ndim == 2:
            pic = pic[:, :, None]
        chw = np.ascontiguousarray(pic.transpose((2, 0, 1)))
        if chw.dtype == np.uint8:
            dt = dtypes.get_default_dtype().numpy_dtype
            return Tensor._make(chw.astype(dt) / dt.type(255))
        if chw.dtype not in dtypes._BY_NUMPY:
            raise TypeError(f"ToTensor: can't convert {_describe(pic)} to a tensor")
        return Tensor._make(chw)
    if not _is_pil(pic):
        raise TypeError(f"ToTensor: pic should be PIL Image or ndarray. Got {type(pic)}")
    mode_to_nptype = {"I": np.int32, "I;16" if sys.byteorder == "little" else "I;16B": np.int16, "F": np.float32}
    arr = np.array(pic, mode_to_nptype.get(pic.mode, np.uint8), copy=True)
    if pic.mode == "1":
        arr = 255 * arr
    arr = arr.reshape(pic.size[1], pic.size[0], len(pic.getbands()))
    chw = np.ascontiguousarray(arr.transpose((2, 0, 1)))
    if chw.dtype == np.uint8:
        dt = dtypes.get_default_dtype().numpy_dtype
        return Tensor._make(chw.astype(dt) / dt.type(255))
    return Tensor._make(chw)


def to_pil_image(pic: Tensor | np.ndarray, mode: str | None = None) -> Image.Image:
    """A ``(C, H, W)`` tensor (float is scaled by 255) or an ``(H, W[, C])`` array as a PIL image."""
    if isinstance(pic, Tensor):
        if pic.ndim not in (2, 3):
            raise ValueError(f"ToPILImage: pic should be 2/3 dimensional. Got {_describe(pic)}.")
        data = pic.detach().numpy(force=True)
        if data.ndim == 2:
            data = data[None]
        if data.dtype.kind == "f" and mode != "F":
            data = (data * 255).astype(np.uint8)
        arr = np.ascontiguousarray(data.transpose(1, 2, 0))
    elif isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"ToPILImage: pic should be 2/3 dimensional. Got {_describe(pic)}.")
        arr = pic[:, :, None] if pic.ndim == 2 else pic
    else:
        raise TypeError(f"ToPILImage: pic should be Tensor or ndarray. Got {type(pic)}.")
    if arr.shape[-1] == 1:
        arr = arr[:, :, 0]
        if arr.dtype not in (np.uint8, np.int16, np.int32, np.float32):
            raise TypeError(f"ToPILImage: input type {arr.dtype} is not supported")
    elif arr.shape[-1] in (2, 3, 4):
        if arr.dtype != np.uint8:
            raise TypeError(f"ToPILImage: input type {arr.dtype} is not supported for {arr.shape[-1]} channels")
    else:
        raise ValueError(f"ToPILImage: pic should not have > 4 channels. Got {arr.shape[-1]} channels.")
    out = Image.fromarray(np.ascontiguousarray(arr))
    return out if mode is None or out.mode == mode else out.convert(mode)


def normalize(tensor: Tensor, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> Tensor:
    """``(x - mean[c]) / std[c]`` per channel of a float ``(..., C, H, W)`` tensor, in its dtype."""
    if not isinstance(tensor, Tensor):
        raise TypeError(
            f"Normalize: img should be a Tensor image (use ToTensor first). Got {_describe(tensor)}"
        )
    if not tensor.is_floating_point():
        raise TypeError(f"Normalize: input tensor should be a float tensor. Got {tensor.dtype} ({_describe(tensor)}).")
    if tensor.ndim < 3:
        raise ValueError(
            f"Normalize: expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() = "
            f"{tuple(tensor.shape)}"
        )
    data = tensor._data
    xp = array_module(data)
    m = xp.asarray(mean, dtype=data.dtype).reshape(-1)
    s = xp.asarray(std, dtype=data.dtype).reshape(-1)
    if bool((s == 0).any()):
        raise ValueError(f"std evaluated to zero after conversion to {tensor.dtype}, leading to division by zero.")
    channels = tensor.shape[-3]
    for name, v in (("mean", m), ("std", s)):
        if v.size not in (1, channels):
            raise ValueError(
                f"Normalize: {v.size} values of {name} for an image with {channels} channels ({_describe(tensor)})"
            )
    m, s = m.reshape(-1, 1, 1), s.reshape(-1, 1, 1)
    if inplace and not tensor.requires_grad:
        xp.subtract(data, m, out=data)
        xp.divide(data, s, out=data)
        tensor._version[0] += 1
        return tensor
    return Tensor._make((data - m) / s)


def erase(img: Tensor, i: int, j: int, h: int, w: int, v: Any, inplace: bool = False) -> Tensor:
    """``img[..., i:i+h, j:j+w] = v`` on a ``(..., C, H, W)`` tensor."""
    if not isinstance(img, Tensor):
        raise TypeError(f"erase: img should be a Tensor image. Got {_describe(img)}")
    data = img._data if inplace else img._data.copy()
    data[..., i : i + h, j : j + w] = v._data if isinstance(v, Tensor) else v
    if inplace:
        img._version[0] += 1
        return img
    return Tensor._make(data)


# ============================================================================ transform classes
class Compose:
    """Apply ``transforms`` one after the other."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = transforms

    def __call__(self, img: Any) -> Any:
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        return self.__class__.__name__ + "(" + "".join(f"\n    {t}" for t in self.transforms) + "\n)"


class ToTensor:
    """PIL image or ``(H, W[, C])`` array -> ``(C, H, W)`` tensor; uint8 becomes float32 / 255."""

    def __call__(self, pic: Image.Image | np.ndarray) -> Tensor:
        return to_tensor(pic)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


class ToPILImage:
    """``(C, H, W)`` tensor or ``(H, W[, C])`` array -> PIL image (float tensors scaled by 255)."""

    def __init__(self, mode: str | None = None) -> None:
        self.mode = mode

    def __call__(self, pic: Tensor | np.ndarray) -> Image.Image:
        return to_pil_image(pic, self.mode)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(" + (f"mode={self.mode}" if self.mode is not None else "") + ")"


class Normalize:
    """``output[c] = (input[c] - mean[c]) / std[c]`` on a float ``(..., C, H, W)`` tensor."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def __call__(self, tensor: Tensor) -> Tensor:
        return normalize(tensor, self.mean, self.std, self.inplace)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(mean={self.mean}, std={self.std})"


class Resize:
    """Resize to ``size`` (``(h, w)``, or an int for the smaller edge, the other edge
    ``int(size * long / short)``), with PIL's ``interpolation`` (bilinear)."""

    def __init__(
        self, size: Any, interpolation: Any = InterpolationMode.BILINEAR, max_size: int | None = None,
        antialias: bool | None = True,
    ) -> None:  # fmt: skip
        if isinstance(size, (bool, str, bytes)) or not isinstance(size, (int, Sequence)):
            raise TypeError(f"Resize: size should be int or sequence. Got {type(size)}")
        if isinstance(size, Sequence) and len(size) not in (1, 2):
            raise ValueError(f"Resize: if size is a sequence, it should have 1 or 2 values, got {size!r}")
        if max_size is not None and isinstance(size, Sequence) and len(size) != 1:
            raise ValueError("Resize: max_size should only be passed if size specifies the length of the smaller edge")
        self.size = size
        self.max_size = max_size
        self.interpolation = _interpolation(interpolation, "Resize")
        self.antialias = antialias

    def __call__(self, img: Image_) -> Image_:
        return resize(img, self.size, self.interpolation, self.max_size, self.antialias)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(size={self.size}, interpolation={self.interpolation.value}, "
            f"max_size={self.max_size}, antialias={self.antialias})"
        )


class CenterCrop:
    """The central ``size`` window (zero-padded when the image is smaller)."""

    def __init__(self, size: Any) -> None:
        self.size = _setup_size(size, error_msg="Please provide only two dimensions (h, w) for size.")

    def __call__(self, img: Image_) -> Image_:
        return center_crop(img, self.size)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(size={self.size})"


class Pad:
    """Pad the borders (see :func:`pad` for ``padding`` and ``padding_mode``)."""

    def __init__(self, padding: Any, fill: Any = 0, padding_mode: str = "constant") -> None:
        if isinstance(padding, bool) or not isinstance(padding, (numbers.Number, tuple, list)):
            raise TypeError("Got inappropriate padding arg")
        if not isinstance(fill, (numbers.Number, str, tuple, list)):
            raise TypeError("Got inappropriate fill arg")
        if padding_mode not in _PADDING_MODES:
            raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
        if isinstance(padding, Sequence) and len(padding) not in (1, 2, 4):
            raise ValueError(
                f"Pad: Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple"
            )
        self.padding = padding
        self.fill = fill
        self.padding_mode = padding_mode

    def __call__(self, img: Image_) -> Image_:
        return pad(img, self.padding, self.fill, self.padding_mode)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(padding={self.padding}, fill={self.fill}, padding_mode={self.padding_mode})"


class Lambda:
    """Apply a user function as a transform."""

    def __init__(self, lambd: Callable[[Any], Any]) -> None:
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, img: Any) -> Any:
        return self.lambd(img)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}()"


class RandomApply:
    """Apply all of ``transforms`` with probability ``p``, else none."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]], p: float = 0.5) -> None:
        self.transforms = transforms
        self.p = p

    def __call__(self, img: Any) -> Any:
        if self.p < _rng().random():
            return img
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        return self.__class__.__name__ + f"(\n    p={self.p}" + "".join(f"\n    {t}" for t in self.transforms) + "\n)"


class _RandomTransforms:
    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        if not isinstance(transforms, Sequence):
            raise TypeError("Argument transforms should be a sequence")
        self.transforms = transforms

    def __repr__(self) -> str:
        return self.__class__.__name__ + "(" + "".join(f"\n    {t}" for t in self.transforms) + "\n)"


class RandomOrder(_RandomTransforms):
    """Apply ``transforms`` in a random order."""

    def __call__(self, img: Any) -> Any:
        for i in _rng().permutation(len(self.transforms)).tolist():
            img = self.transforms[i](img)
        return img


class RandomChoice(_RandomTransforms):
    """Apply one of ``transforms``, picked with weights ``p`` (uniform when None)."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]], p: Sequence[float] | None = None) -> None:
        super().__init__(transforms)
        if p is not None and not isinstance(p, Sequence):
            raise TypeError("Argument p should be a sequence")
        self.p = p

    def __call__(self, *args: Any) -> Any:
        w = None if self.p is None else np.asarray(self.p, dtype=np.float64) / np.sum(self.p)
        t = self.transforms[int(_rng().choice(len(self.transforms), p=w))]
        return t(*args)

    def __repr__(self) -> str:
        return f"{super().__repr__()}(p={self.p})"


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img: Image_) -> Image_:
        return hflip(img) if _rng().random() < self.p else img

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(p={self.p})"


class RandomVerticalFlip:
    """Mirror top-bottom with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img: Image_) -> Image_:
        return vflip(img) if _rng().random() < self.p else img

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(p={self.p})"


class RandomCrop:
    """A ``size`` window at a uniformly random position, after optional padding.

    ``padding`` (int, ``(lr, tb)`` or ``(l, t, r, b)``) is applied first with ``fill`` /
    ``padding_mode`` (constant, edge, reflect, symmetric); ``pad_if_needed`` pads a too
    small image by the missing size on both sides of that dimension (torchvision's rule).
    """

    def __init__(
        self, size: Any, padding: Any = None, pad_if_needed: bool = False, fill: Any = 0,
        padding_mode: str = "constant",
    ) -> None:  # fmt: skip
        self.size = tuple(_setup_size(size, error_msg="Please provide only two dimensions (h, w) for size."))
        if padding is not None:
            _parse_padding(padding, "RandomCrop")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"RandomCrop: padding_mode should be either constant, edge, reflect or symmetric, got {padding_mode!r}"
            )
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    @staticmethod
    def get_params(img: Image_, output_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """``(top, left, h, w)`` of a uniformly placed crop."""
        _, h, w = get_dimensions(img, "RandomCrop")
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(
                f"RandomCrop: required crop size {(th, tw)} is larger than input image size {(h, w)} "
                f"({_describe(img)})"
            )
        if w == tw and h == th:
            return 0, 0, h, w
        rng = _rng()
        i = int(rng.integers(0, h - th + 1))
        j = int(rng.integers(0, w - tw + 1))
        return i, j, th, tw

    def __call__(self, img: Image_) -> Image_:
        if self.padding is not None:
            img = pad(img, self.padding, self.fill, self.padding_mode)
        _, height, width = get_dimensions(img, "RandomCrop")
        if self.pad_if_needed and width < self.size[1]:
            img = pad(img, [self.size[1] - width, 0], self.fill, self.padding_mode)
        if self.pad_if_needed and height < self.size[0]:
            img = pad(img, [0, self.size[0] - height], self.fill, self.padding_mode)
        i, j, h, w = self.get_params(img, self.size)
        return crop(img, i, j, h, w)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(size={self.size}, padding={self.padding})"


class RandomResizedCrop:
    """A crop of random area (``scale`` of the image's) and aspect ratio (log-uniform in
    ``ratio``), resized to ``size`` — Inception's augmentation.

    Sampling (torchvision's): up to 10 attempts draw ``area * U(scale)`` and
    ``exp(U(log ratio))``, take ``w = round(sqrt(area * r))``, ``h = round(sqrt(area / r))``
    and accept when it fits, placing it uniformly; otherwise a central crop with the ratio
    clamped into ``ratio``.
    """

    def __init__(
        self, size: Any, scale: Sequence[float] = (0.08, 1.0), ratio: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0),
        interpolation: Any = InterpolationMode.BILINEAR, antialias: bool | None = True,
    ) -> None:  # fmt: skip
        self.size = _setup_size(size, error_msg="Please provide only two dimensions (h, w) for size.")
        if not isinstance(scale, Sequence):
            raise TypeError("Scale should be a sequence")
        if not isinstance(ratio, Sequence):
            raise TypeError("Ratio should be a sequence")
        if len(scale) != 2 or len(ratio) != 2:
            raise ValueError(f"RandomResizedCrop: scale and ratio should be (min, max) pairs, got {scale}, {ratio}")
        if (scale[0] > scale[1]) or (ratio[0] > ratio[1]):
            warnings.warn("Scale and ratio should be of kind (min, max)", stacklevel=2)
        if ratio[0] <= 0 or scale[0] < 0:
            raise ValueError(f"RandomResizedCrop: ratio must be positive and scale non-negative, got {scale}, {ratio}")
        self.interpolation = _interpolation(interpolation, "RandomResizedCrop")
        self.antialias = antialias
        self.scale = scale
        self.ratio = ratio

    @staticmethod
    def get_params(img: Image_, scale: Sequence[float], ratio: Sequence[float]) -> tuple[int, int, int, int]:
        """``(top, left, h, w)`` of the random crop (see the class docstring)."""
        _, height, width = get_dimensions(img, "RandomResizedCrop")
        area = height * width
        rng = _rng()
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            target_area = area * rng.uniform(scale[0], scale[1])
            aspect_ratio = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
            w = round(math.sqrt(target_area * aspect_ratio))
            h = round(math.sqrt(target_area / aspect_ratio))
            if 0 < w <= width and 0 < h <= height:
                i = int(rng.integers(0, height - h + 1))
                j = int(rng.integers(0, width - w + 1))
                return i, j, h, w
        in_ratio = float(width) / float(height)
        if in_ratio < min(ratio):
            w = width
            h = round(w / min(ratio))
        elif in_ratio > max(ratio):
            h = height
            w = round(h * max(ratio))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, img: Image_) -> Image_:
        i, j, h, w = self.get_params(img, self.scale, self.ratio)
        return resized_crop(img, i, j, h, w, list(self.size), self.interpolation, antialias=self.antialias)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(size={self.size}, scale={tuple(round(s, 4) for s in self.scale)}, "
            f"ratio={tuple(round(r, 4) for r in self.ratio)}, interpolation={self.interpolation.value}, "
            f"antialias={self.antialias})"
        )


class FiveCrop:
    """The four corner crops and the centre crop, as a tuple ``(tl, tr, bl, br, center)``."""

    def __init__(self, size: Any) -> None:
        self.size = _setup_size(size, error_msg="Please provide only two dimensions (h, w) for size.")

    def __call__(self, img: Image_) -> tuple[Image_, ...]:
        return five_crop(img, self.size)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(size={self.size})"


class TenCrop:
    """``FiveCrop`` of the image, then of its mirror: ``(tl, tr, bl, br, center, tl', tr', bl', br', center')``.

    Test-time augmentation: stack the crops, run the model on ``(B * 10, C, h, w)`` and
    average the predictions over the 10.
    """

    def __init__(self, size: Any, vertical_flip: bool = False) -> None:
        self.size = _setup_size(size, error_msg="Please provide only two dimensions (h, w) for size.")
        self.vertical_flip = vertical_flip

    def __call__(self, img: Image_) -> tuple[Image_, ...]:
        return ten_crop(img, self.size, self.vertical_flip)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(size={self.size}, vertical_flip={self.vertical_flip})"


class ColorJitter:
    """Random brightness, contrast, saturation and hue changes, applied in a random order.

    A number ``b`` for brightness/contrast/saturation means a factor drawn uniformly from
    ``[max(0, 1 - b), 1 + b]``; a pair is the ``[min, max]`` range. ``hue`` ``h`` (``<= 0.5``)
    shifts the hue by a draw from ``[-h, h]``. Zero (or a range of exactly 1 / 0) disables it.
    """

    def __init__(
        self, brightness: float | Sequence[float] = 0, contrast: float | Sequence[float] = 0,
        saturation: float | Sequence[float] = 0, hue: float | Sequence[float] = 0,
    ) -> None:  # fmt: skip
        self.brightness = self._check_input(brightness, "brightness")
        self.contrast = self._check_input(contrast, "contrast")
        self.saturation = self._check_input(saturation, "saturation")
        self.hue = self._check_input(hue, "hue", center=0, bound=(-0.5, 0.5), clip_first_on_zero=False)

    @staticmethod
    def _check_input(
        value: Any, name: str, center: float = 1, bound: tuple[float, float] = (0, float("inf")),
        clip_first_on_zero: bool = True,
    ) -> tuple[float, float] | None:  # fmt: skip
        if isinstance(value, numbers.Number):
            if value < 0:
                raise ValueError(f"ColorJitter: if {name} is a single number, it must be non negative.")
            value = [center - float(value), center + float(value)]
            if clip_first_on_zero:
                value[0] = max(value[0], 0.0)
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            value = [float(value[0]), float(value[1])]
        else:
            raise TypeError(f"ColorJitter: {name} should be a single number or a list/tuple with length 2.")
        if not bound[0] <= value[0] <= value[1] <= bound[1]:
            raise ValueError(f"ColorJitter: {name} values should be between {bound}, but got {value}.")
        if value[0] == value[1] == center:
            return None
        return tuple(value)  # type: ignore[return-value]

    @staticmethod
    def get_params(
        brightness: Sequence[float] | None, contrast: Sequence[float] | None,
        saturation: Sequence[float] | None, hue: Sequence[float] | None,
    ) -> tuple[list[int], float | None, float | None, float | None, float | None]:  # fmt: skip
        """The random order of the four adjustments and their factors (None: off)."""
        rng = _rng()
        fn_idx = rng.permutation(4).tolist()
        b = None if brightness is None else float(rng.uniform(brightness[0], brightness[1]))
        c = None if contrast is None else float(rng.uniform(contrast[0], contrast[1]))
        s = None if saturation is None else float(rng.uniform(saturation[0], saturation[1]))
        h = None if hue is None else float(rng.uniform(hue[0], hue[1]))
        return fn_idx, b, c, s, h

    def __call__(self, img: Image_) -> Image_:
        fn_idx, b, c, s, h = self.get_params(self.brightness, self.contrast, self.saturation, self.hue)
        if isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim in (2, 3):
            channels = get_dimensions(img, "ColorJitter")[0]
            if channels in (1, 3):  # one trip through PIL for all four adjustments
                pil = Image.fromarray(img[..., 0] if img.ndim == 3 and channels == 1 else img)
                out = np.array(self._adjust(pil, fn_idx, b, c, s, h))
                return out[..., None] if img.ndim == 3 and out.ndim == 2 else out
        return self._adjust(img, fn_idx, b, c, s, h)

    @staticmethod
    def _adjust(
        img: Image_, fn_idx: list[int], b: float | None, c: float | None, s: float | None, h: float | None
    ) -> Image_:
        for fn_id in fn_idx:
            if fn_id == 0 and b is not None:
                img = adjust_brightness(img, b)
            elif fn_id == 1 and c is not None:
                img = adjust_contrast(img, c)
            elif fn_id == 2 and s is not None:
                img = adjust_saturation(img, s)
            elif fn_id == 3 and h is not None:
                img = adjust_hue(img, h)
        return img

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(brightness={self.brightness}, contrast={self.contrast}, "
            f"saturation={self.saturation}, hue={self.hue})"
        )


def _check_fill(fill: Any) -> Any:
    if fill is None:
        return 0
    if not isinstance(fill, (Sequence, numbers.Number)):
        raise TypeError("Fill should be either a sequence or a number.")
    return fill


class RandomRotation:
    """Rotate by an angle drawn uniformly from ``degrees`` (``d`` means ``[-d, d]``),
    counter-clockwise, via PIL; the corners are filled with ``fill``."""

    def __init__(
        self, degrees: float | Sequence[float], interpolation: Any = InterpolationMode.NEAREST, expand: bool = False,
        center: Sequence[int] | None = None, fill: Any = 0,
    ) -> None:  # fmt: skip
        self.interpolation = _interpolation(interpolation, "RandomRotation")
        self.degrees = _setup_angle(degrees, name="degrees", req_sizes=(2,))
        if center is not None:
            _check_sequence_input(center, "center", req_sizes=(2,))
        self.center = center
        self.expand = expand
        self.fill = _check_fill(fill)

    @staticmethod
    def get_params(degrees: Sequence[float]) -> float:
        return float(_rng().uniform(float(degrees[0]), float(degrees[1])))

    def __call__(self, img: Image_) -> Image_:
        angle = self.get_params(self.degrees)
        return rotate(img, angle, self.interpolation, self.expand, self.center, self.fill)

    def __repr__(self) -> str:
        s = f"{self.__class__.__name__}(degrees={self.degrees}, interpolation={self.interpolation.value}"
        s += f", expand={self.expand}"
        if self.center is not None:
            s += f", center={self.center}"
        if self.fill is not None:
            s += f", fill={self.fill}"
        return s + ")"


class RandomAffine:
    """A random affine map about the image centre: rotation (``degrees``), translation
    (``translate=(a, b)``: up to ``a * width``, ``b * height`` pixels), scale (``scale=(lo, hi)``:
    random zoom, the course's "random scaling") and shear (degrees), via PIL."""

    def __init__(
        self, degrees: float | Sequence[float], translate: Sequence[float] | None = None,
        scale: Sequence[float] | None = None, shear: float | Sequence[float] | None = None,
        interpolation: Any = InterpolationMode.NEAREST, fill: Any = 0, center: Sequence[int] | None = None,
    ) -> None:  # fmt: skip
        self.interpolation = _interpolation(interpolation, "RandomAffine")
        self.degrees = _setup_angle(degrees, name="degrees", req_sizes=(2,))
        if translate is not None:
            _check_sequence_input(translate, "translate", req_sizes=(2,))
            for t in translate:
                if not 0.0 <= t <= 1.0:
                    raise ValueError("translation values should be between 0 and 1")
        self.translate = translate
        if scale is not None:
            _check_sequence_input(scale, "scale", req_sizes=(2,))
            for s in scale:
                if s <= 0:
                    raise ValueError("scale values should be positive")
        self.scale = scale
        self.shear = _setup_angle(shear, name="shear", req_sizes=(2, 4)) if shear is not None else None
        self.fill = _check_fill(fill)
        if center is not None:
            _check_sequence_input(center, "center", req_sizes=(2,))
        self.center = center

    @staticmethod
    def get_params(
        degrees: Sequence[float], translate: Sequence[float] | None, scale_ranges: Sequence[float] | None,
        shears: Sequence[float] | None, img_size: Sequence[int],
    ) -> tuple[float, tuple[int, int], float, tuple[float, float]]:  # fmt: skip
        """``(angle, (tx, ty), scale, (shear_x, shear_y))``; ``img_size`` is ``(width, height)``."""
        rng = _rng()
        angle = float(rng.uniform(float(degrees[0]), float(degrees[1])))
        if translate is not None:
            max_dx = float(translate[0] * img_size[0])
            max_dy = float(translate[1] * img_size[1])
            translations = (round(rng.uniform(-max_dx, max_dx)), round(rng.uniform(-max_dy, max_dy)))
        else:
            translations = (0, 0)
        scale = float(rng.uniform(scale_ranges[0], scale_ranges[1])) if scale_ranges is not None else 1.0
        shear_x = shear_y = 0.0
        if shears is not None:
            shear_x = float(rng.uniform(shears[0], shears[1]))
            if len(shears) == 4:
                shear_y = float(rng.uniform(shears[2], shears[3]))
        return angle, translations, scale, (shear_x, shear_y)

    def __call__(self, img: Image_) -> Image_:
        _, height, width = get_dimensions(img, "RandomAffine")
        angle, translations, scale, shear = self.get_params(
            self.degrees, self.translate, self.scale, self.shear, [width, height]
        )
        return affine(img, angle, translations, scale, shear, self.interpolation, self.fill, self.center)

    def __repr__(self) -> str:
        s = f"{self.__class__.__name__}(degrees={self.degrees}"
        s += f", translate={self.translate}" if self.translate is not None else ""
        s += f", scale={self.scale}" if self.scale is not None else ""
        s += f", shear={self.shear}" if self.shear is not None else ""
        s += f", interpolation={self.interpolation.value}" if self.interpolation != InterpolationMode.NEAREST else ""
        s += f", fill={self.fill}" if self.fill != 0 else ""
        s += f", center={self.center}" if self.center is not None else ""
        return s + ")"


class Grayscale:
    """Convert to grey (luma), with 1 or 3 (equal) output channels."""

    def __init__(self, num_output_channels: int = 1) -> None:
        self.num_output_channels = num_output_channels

    def __call__(self, img: Image_) -> Image_:
        return rgb_to_grayscale(img, self.num_output_channels)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_output_channels={self.num_output_channels})"


class RandomGrayscale:
    """Convert to grey with probability ``p``, keeping the number of channels."""

    def __init__(self, p: float = 0.1) -> None:
        self.p = p

    def __call__(self, img: Image_) -> Image_:
        channels, _, _ = get_dimensions(img, "RandomGrayscale")
        if _rng().random() < self.p:
            return rgb_to_grayscale(img, num_output_channels=channels)
        return img

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(p={self.p})"


class RandomErasing:
    """With probability ``p``, overwrite a random rectangle of a ``(..., C, H, W)`` tensor
    (area fraction in ``scale``, aspect ratio in ``ratio``) with ``value`` (or normal noise
    for ``value="random"``) — Zhong et al.'s Random Erasing, torchvision's sampling."""

    def __init__(
        self, p: float = 0.5, scale: Sequence[float] = (0.02, 0.33), ratio: Sequence[float] = (0.3, 3.3),
        value: Any = 0, inplace: bool = False,
    ) -> None:  # fmt: skip
        if not isinstance(value, (numbers.Number, str, tuple, list)):
            raise TypeError("Argument value should be either a number or str or a sequence")
        if isinstance(value, str) and value != "random":
            raise ValueError("If value is str, it should be 'random'")
        if not isinstance(scale, Sequence):
            raise TypeError("Scale should be a sequence")
        if not isinstance(ratio, Sequence):
            raise TypeError("Ratio should be a sequence")
        if (scale[0] > scale[1]) or (ratio[0] > ratio[1]):
            warnings.warn("Scale and ratio should be of kind (min, max)", stacklevel=2)
        if scale[0] < 0 or scale[1] > 1:
            raise ValueError("Scale should be between 0 and 1")
        if p < 0 or p > 1:
            raise ValueError("Random erasing probability should be between 0 and 1")
        self.p = p
        self.scale = scale
        self.ratio = ratio
        self.value = value
        self.inplace = inplace

    @staticmethod
    def get_params(
        img: Tensor, scale: Sequence[float], ratio: Sequence[float], value: list[float] | None = None
    ) -> tuple[int, int, int, int, Any]:
        """``(i, j, h, w, v)`` for :func:`erase`; the whole image and itself when nothing fits in 10 tries."""
        img_c, img_h, img_w = img.shape[-3], img.shape[-2], img.shape[-1]
        area = img_h * img_w
        rng = _rng()
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            erase_area = area * rng.uniform(scale[0], scale[1])
            aspect_ratio = math.exp(rng.uniform(log_ratio[0], log_ratio[1]))
            h = round(math.sqrt(erase_area * aspect_ratio))
            w = round(math.sqrt(erase_area / aspect_ratio))
            if not (h < img_h and w < img_w):
                continue
            if value is None:
                v: Any = rng.standard_normal((img_c, h, w), dtype=np.float32)
            else:
                v = np.asarray(value, dtype=np.float32)[:, None, None]
            i = int(rng.integers(0, img_h - h + 1))
            j = int(rng.integers(0, img_w - w + 1))
            return i, j, h, w, v
        return 0, 0, img_h, img_w, img

    def __call__(self, img: Tensor) -> Tensor:
        if not isinstance(img, Tensor) or img.ndim < 3:
            raise TypeError(f"RandomErasing: expected a (..., C, H, W) tensor image, got {_describe(img)}")
        if _rng().random() < self.p:
            if isinstance(self.value, (int, float)):
                value: list[float] | None = [float(self.value)]
            elif isinstance(self.value, str):
                value = None
            else:
                value = [float(v) for v in self.value]
            if value is not None and len(value) not in (1, img.shape[-3]):
                raise ValueError(
                    "RandomErasing: if value is a sequence, it should have either a single value or "
                    f"{img.shape[-3]} (number of input channels), got {len(value)} for {_describe(img)}"
                )
            i, j, h, w, v = self.get_params(img, scale=self.scale, ratio=self.ratio, value=value)
            if v is img:
                return img
            return erase(img, i, j, h, w, np.asarray(v, dtype=img._data.dtype), self.inplace)
        return img

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(p={self.p}, scale={self.scale}, ratio={self.ratio}, value={self.value}, "
            f"inplace={self.inplace})"
        )


class GaussianNoise:
    """Add ``N(mean, sigma^2)`` noise (fresh each call) to a float image in [0, 1] (or uint8 in
    [0, 255], noise scaled by 255), clipping to the range when ``clip`` — the input
    corruption of a denoising autoencoder. Works on tensors ``(..., C, H, W)`` and on numpy
    arrays; not on PIL images (as torchvision's)."""

    def __init__(self, mean: float = 0.0, sigma: float = 0.1, clip: bool = True) -> None:
        if sigma < 0:
            raise ValueError(f"GaussianNoise: sigma shouldn't be negative. Got {sigma}")
        self.mean = mean
        self.sigma = sigma
        self.clip = clip

    def __call__(self, img: Tensor | np.ndarray) -> Tensor | np.ndarray:
        if _is_pil(img):
            raise ValueError("GaussianNoise is not implemented for PIL images (use ToTensor first).")
        if not isinstance(img, (Tensor, np.ndarray)):
            raise TypeError(f"GaussianNoise: expected a tensor or a numpy array, got {_describe(img)}")
        arr = img._data if isinstance(img, Tensor) else img
        xp = array_module(arr)
        rng = _rng()
        if arr.dtype.kind == "f":
            z = rng.standard_normal(arr.shape, dtype=np.float32 if arr.dtype == np.float32 else np.float64)
            out = arr + (self.mean + xp.asarray(z).astype(arr.dtype) * self.sigma)
            if self.clip:
                out = xp.clip(out, 0, 1)
            out = out.astype(arr.dtype, copy=False)
        elif arr.dtype == np.uint8:
            z = xp.asarray(rng.standard_normal(arr.shape, dtype=np.float32))
            noise = (self.mean * 255 + z * (self.sigma * 255)).astype(np.int16)
            out = arr.astype(np.int16) + noise
            out = (xp.clip(out, 0, 255) if self.clip else out).astype(np.uint8)
        else:
            raise ValueError(
                f"GaussianNoise: input is expected to be in uint8 or float dtype, got {_describe(img)}"
            )
        return Tensor._make(out) if isinstance(img, Tensor) else out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(mean={self.mean}, sigma={self.sigma}, clip={self.clip})"


#: torchvision's ``transforms.functional``: the functional forms are defined in this module.
functional = sys.modules[__name__]
