"""Convolution filters as images, and the feature maps a layer makes for one photo."""

from __future__ import annotations

from typing import Any

import numpy as np

import minidl as md
from minidl.vis._common import (
    image_to_input,
    label_mosaic_axes,
    layer_label,
    model_dtype,
    mosaic,
    new_figure,
    resolve_layer,
    save,
    to_numpy,
)

_CHANNEL_NAMES = ("red", "green", "blue")


def _normalise_each(w: np.ndarray) -> np.ndarray:
    """Min-max scale each filter (first axis) to [0, 1]."""
    axes = tuple(range(1, w.ndim))
    lo = w.min(axis=axes, keepdims=True)
    hi = w.max(axis=axes, keepdims=True)
    return (w - lo) / np.where(hi > lo, hi - lo, 1.0)


def filters(weight_or_conv: Any, path: Any = None, mode: str = "rgb", nrow: int = 8,
            max_filters: int = 64, title: str | None = None) -> Any:  # fmt: skip
    """The filters of a convolution as a grid of small images, each normalised on its own.

    ``weight_or_conv``: an ``nn.Conv2d`` (or any module with ``.weight``) or a weight of
    shape (out, in, kh, kw). ``mode``:

    - ``"rgb"``: one colour image per filter when it has 3 input channels (red, green,
      blue weights as the image's channels); other inputs fall back to ``"mean"``;
    - ``"channels"``: one grid per input channel; for 3 channels each shows that colour
      alone (the red weights in red...), as in the course reports;
    - ``"mean"``: the average over input channels, in grey.

    Bright = large weight, dark = small (most negative) weight of that filter.
    Returns the Figure; saved as PNG when ``path`` is given.
    """
    weight = getattr(weight_or_conv, "weight", weight_or_conv)
    w = to_numpy(weight).astype(np.float64)
    if w.ndim == 3:
        w = w[:, None]
    if w.ndim != 4:
        raise ValueError(f"expected a conv weight (out, in, kh, kw), got shape {w.shape}")
    if mode not in ("rgb", "channels", "mean"):
        raise ValueError(f"mode must be 'rgb', 'channels' or 'mean', got {mode!r}")
    n_all, cin, kh, kw = w.shape
    w = w[:max_filters]
    n = w.shape[0]
    if mode == "rgb" and cin != 3:
        mode = "mean"
    shown = f"{n} of {n_all}" if n < n_all else f"{n}"
    head = title or f"{shown} filters, {cin}x{kh}x{kw} each"
    norm = _normalise_each(w)  # (n, cin, kh, kw), per filter over all its channels
    rows = -(-n // min(nrow, n))
    tile = 0.55 if max(kh, kw) <= 7 else 0.75
    if mode == "channels":
        chans = min(cin, 3 if cin == 3 else 4)
        fig = new_figure((chans * (min(nrow, n) * tile + 0.6), rows * tile + 1.2))
        axes = fig.subplots(1, chans, squeeze=False)[0]
        for c, ax in enumerate(axes):
            if cin == 3:
                tiles = np.zeros((n, kh, kw, 3))
                tiles[..., c] = norm[:, c]
                ax.imshow(mosaic(tiles, nrow), interpolation="nearest")
                ax.set_title(f"{_CHANNEL_NAMES[c]} channel only")
            else:
                ax.imshow(mosaic(norm[:, c], nrow), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                ax.set_title(f"input channel {c}")
            label_mosaic_axes(ax, n, nrow, kh, kw)
        fig.suptitle(f"{head} - each input channel alone (normalised per filter)")
    else:
        fig = new_figure((min(nrow, n) * tile + 1.6, rows * tile + 1.0))
        ax = fig.subplots()
        if mode == "rgb":
            ax.imshow(mosaic(norm.transpose(0, 2, 3, 1), nrow), interpolation="nearest")
            how = "as RGB"
        else:
            ax.imshow(mosaic(_normalise_each(w.mean(axis=1)), nrow), cmap="gray", vmin=0, vmax=1,
                      interpolation="nearest")  # fmt: skip
            how = "mean over input channels" if cin > 1 else "grey"
        label_mosaic_axes(ax, n, nrow, kh, kw)
        ax.set_xlabel("filter index = row label + column label", fontsize=8)
        ax.set_title(f"{head}\n{how}, normalised per filter (bright = large weight)", fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def capture(model: Any, layer: Any, x: Any) -> tuple[Any, Any]:
    """Run ``model(x)`` with a forward hook on ``layer``; return (model output, layer output)."""
    module = resolve_layer(model, layer)
    store: dict[str, Any] = {}

    def hook(_m: Any, _args: Any, output: Any) -> None:
        store["out"] = output[0] if isinstance(output, tuple) else output

    handle = module.register_forward_hook(hook)
    try:
        out = model(x)
    finally:
        handle.remove()
    if "out" not in store:
        raise RuntimeError(f"layer {type(module).__name__} was not called by the model's forward")
    return out, store["out"]


def activations(model: Any, layer: Any, image: Any, path: Any = None, max_maps: int = 64, nrow: int = 8,
                normalize: str = "map", title: str | None = None) -> Any:  # fmt: skip
    """The feature maps of ``layer`` for one image, captured with a forward hook.

    ``layer``: the module or its dotted name ("features.0"). ``image``: HWC uint8/float numpy
    (uint8 divided by 255) or a CHW tensor prepared for the model. ``normalize="map"``
    scales each map to [0, 1] on its own (shows the pattern of weak maps);
    ``"layer"`` shares one colour scale (shows which maps are strong or dead).
    The Figure has ``fig.activations`` (the layer's output, numpy). Runs under ``no_grad``;
    call ``model.eval()`` first for dropout/batch-norm models.
    """
    module = resolve_layer(model, layer)
    x, shown = image_to_input(image, model_dtype(model))
    with md.no_grad():
        _, act = capture(model, module, x)
    a = to_numpy(act)[0].astype(np.float64)
    name = layer_label(model, module)
    if a.ndim == 1:  # a dense layer: bars
        fig = new_figure((10, 3.2))
        ax_img, ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 4]})
        ax_img.imshow(shown, cmap="gray" if shown.ndim == 2 else None)
        ax_img.set_title("input")
        ax_img.axis("off")
        ax.bar(np.arange(a.size), a, color="tab:blue")
        ax.set_xlabel("unit")
        ax.set_ylabel("activation")
        ax.set_title(title or f"activations of {name}: {a.size} units")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.activations = a
        return save(fig, path)
    if a.ndim != 3:
        raise ValueError(f"expected the layer to output (1, C, H, W) or (1, F), got {tuple(act.shape)}")
    c_all, h, w = a.shape
    maps = a[:max_maps]
    n = maps.shape[0]
    if normalize == "map":
        tiles, vmin, vmax = _normalise_each(maps), 0.0, 1.0
        cbar_label = "activation, scaled per map (0 = its min, 1 = its max)"
    elif normalize == "layer":
        tiles, vmin, vmax = maps, float(maps.min()), float(maps.max())
        cbar_label = "activation"
    else:
        raise ValueError(f"normalize must be 'map' or 'layer', got {normalize!r}")
    ncol = min(nrow, n)
    rows = -(-n // ncol)
    tile = max(0.7, min(1.4, 9.0 / ncol))
    fig = new_figure((ncol * tile + min(2.4, rows * tile + 0.6) + 1.2, max(rows * tile + 1.0, 2.4)))
    ax_img, ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [min(2.4, rows * tile + 0.6), ncol * tile]})
    ax_img.imshow(shown, cmap="gray" if shown.ndim == 2 else None)
    ax_img.set_title(f"input {shown.shape[0]}x{shown.shape[1]}", fontsize=9)
    ax_img.axis("off")
    pad = max(1, h // 16)
    im = ax.imshow(mosaic(tiles, nrow, pad=pad, fill=np.nan), cmap="viridis", vmin=vmin, vmax=vmax,
                   interpolation="nearest")  # fmt: skip
    label_mosaic_axes(ax, n, nrow, h, w, pad=pad)
    ax.set_xlabel("channel = row label + column label", fontsize=8)
    shown_txt = f"{n} of {c_all}" if n < c_all else f"{n}"
    dead = int(np.sum(maps.max(axis=(1, 2)) <= 0))
    ax.set_title(title or f"{name}: {shown_txt} feature maps, {h}x{w} each ({dead} all <= 0)", fontsize=10)
    cb = fig.colorbar(im, ax=ax, fraction=0.035, pad=0.02)
    cb.set_label(cbar_label, fontsize=8)
    fig.activations = to_numpy(act)
    return save(fig, path)
