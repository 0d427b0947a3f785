"""Shared helpers of minidl.vis: figures, saving, images in and out, layers by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import minidl as md
from minidl.tensor import Tensor


def new_figure(figsize: tuple[float, float] = (6.0, 4.0)) -> Any:
    """A matplotlib Figure drawn by the Agg canvas: no pyplot, no display needed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def save(fig: Any, path: Any, dpi: int = 120) -> Any:
    """Save ``fig`` as a PNG (or the suffix of ``path``) when ``path`` is given; return it."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, bbox_inches="tight", facecolor="white")
    return fig


def to_numpy(x: Any) -> np.ndarray:
    """A numpy copy of a Tensor, Parameter, torch tensor, list or array."""
    if isinstance(x, Tensor):
        return np.array(x.detach().numpy())
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        return x.detach().cpu().numpy()
    return np.asarray(x)


def model_dtype(model: Any) -> Any:
    """The dtype of the model's first parameter (float32 when it has none)."""
    for p in model.parameters():
        return p.dtype
    return md.float32


def model_in_channels(model: Any, default: int = 3) -> int:
    """The input channels of the first Conv2d of ``model`` (``default`` when there is none)."""
    for m in model.modules():
        if hasattr(m, "in_channels"):
            return int(m.in_channels)
    return default


def resolve_layer(model: Any, layer: Any) -> Any:
    """``layer`` as a module: a module itself, a dotted name ("features.3") or an index."""
    if isinstance(layer, str):
        return model.get_submodule(layer)
    if isinstance(layer, int):
        return list(model.children())[layer]
    return layer


def layer_label(model: Any, layer: Any) -> str:
    """``"features.3 (Conv2d)"`` for a module of ``model``."""
    for name, m in model.named_modules():
        if m is layer:
            return f"{name or 'model'} ({type(m).__name__})"
    return type(layer).__name__


def image_to_input(image: Any, dtype: Any = None) -> tuple[Tensor, np.ndarray]:
    """An image as a (1, C, H, W) tensor and as an HWC float array in [0, 1] to show.

    ``image`` is an HWC (or HW) numpy array, uint8 (divided by 255) or float, or a CHW /
    NCHW tensor or array (given as it is to the model; shown min-max scaled).
    """
    if isinstance(image, Tensor) or (hasattr(image, "detach") and hasattr(image, "cpu")):
        arr = to_numpy(image).astype(np.float64)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim == 3:
            arr = arr[None]
        batch = arr
    else:
        arr = np.asarray(image)
        scale = 255.0 if arr.dtype == np.uint8 else 1.0
        arr = arr.astype(np.float64) / scale
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3:
            raise ValueError(f"a numpy image must be HWC or HW, got shape {arr.shape}")
        batch = arr.transpose(2, 0, 1)[None]
    x = md.tensor(np.ascontiguousarray(batch), dtype=dtype or md.float32)
    return x, chw_to_display(batch[0])


def chw_to_display(chw: np.ndarray) -> np.ndarray:
    """A CHW array as an HWC (or HW for one channel) float image in [0, 1]."""
    img = np.asarray(chw, dtype=np.float64)
    img = img.transpose(1, 2, 0) if img.ndim == 3 else img
    lo, hi = img.min(), img.max()
    if lo < 0 or hi > 1:
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    return img


def display_image(image: Any) -> np.ndarray:
    """Any image (HWC/HW numpy, uint8 or float, or CHW tensor) as HWC/HW floats in [0, 1]."""
    if isinstance(image, Tensor) or (hasattr(image, "detach") and hasattr(image, "cpu")):
        arr = to_numpy(image)
        if arr.ndim == 4:
            arr = arr[0]
        return chw_to_display(arr if arr.ndim == 3 else arr[None])
    arr = np.asarray(image)
    if arr.dtype == np.uint8:
        arr = arr / 255.0
    arr = arr.astype(np.float64)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[2] not in (1, 3):  # CHW array
        return chw_to_display(arr)
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi > 1:
        arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return arr


def mosaic(tiles: np.ndarray, nrow: int, pad: int = 1, fill: float = 1.0) -> np.ndarray:
    """Tiles (N, h, w) or (N, h, w, 3) laid out ``nrow`` per row with ``pad`` pixels between."""
    n, h, w = tiles.shape[:3]
    ncol = min(nrow, n)
    rows = -(-n // ncol)
    shape = (rows * (h + pad) + pad, ncol * (w + pad) + pad, *tiles.shape[3:])
    out = np.full(shape, fill, dtype=np.float64)
    for i in range(n):
        r, c = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y : y + h, x : x + w] = tiles[i]
    return out


def label_mosaic_axes(ax: Any, n: int, nrow: int, h: int, w: int, pad: int = 1) -> None:
    """Ticks so that tile index = row label + column label."""
    ncol = min(nrow, n)
    rows = -(-n // ncol)
    ax.set_xticks([pad + c * (w + pad) + (w - 1) / 2 for c in range(ncol)])
    ax.set_xticklabels([str(c) for c in range(ncol)], fontsize=7)
    ax.set_yticks([pad + r * (h + pad) + (h - 1) / 2 for r in range(rows)])
    ax.set_yticklabels([str(r * ncol) for r in range(rows)], fontsize=7)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)


def demo_image(name: str = "chelsea", size: int | tuple[int, int] | None = None) -> np.ndarray:
    """A photo bundled with scikit-image (``chelsea``, ``astronaut``, ``coffee``...) as HWC uint8.

    ``size`` (an int for a square, or (H, W)) resizes it with Pillow; no downloads.
    """
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if size is not None:
        from PIL import Image

        h, w = (size, size) if isinstance(size, int) else size
        img = np.asarray(Image.fromarray(img[:, :, :3]).resize((w, h), Image.BILINEAR))
    return img
