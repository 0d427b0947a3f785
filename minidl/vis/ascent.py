"""Gradient ascent on the input: the image that a channel of a layer likes most."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

import minidl as md
from minidl.vis._common import (
    layer_label,
    model_dtype,
    model_in_channels,
    new_figure,
    resolve_layer,
    save,
    to_numpy,
)
from minidl.vis.filters import capture


@dataclass
class AscentResult:
    """What :func:`gradient_ascent` found.

    ``input``: the optimised input (C, H, W), as the model sees it; ``image``: the same as
    an HWC (or HW) picture in [0, 1]; ``history``: the channel's mean activation per step;
    ``start_activation`` / ``final_activation``: on the starting noise and on ``input``.
    """

    input: np.ndarray
    image: np.ndarray
    channel: int
    history: list[float] = field(default_factory=list)
    start_activation: float = 0.0
    final_activation: float = 0.0

    def plot(self, path: Any = None, title: str | None = None) -> Any:
        """The image and the activation per step."""
        fig = new_figure((8, 3.6))
        ax_img, ax = fig.subplots(1, 2)
        ax_img.imshow(self.image, cmap="gray" if self.image.ndim == 2 else None)
        ax_img.set_title(title or f"channel {self.channel}: input found by gradient ascent", fontsize=9)
        ax_img.axis("off")
        ax.plot(np.arange(1, len(self.history) + 1), self.history, color="tab:orange")
        ax.set_xlabel("step")
        ax.set_ylabel("mean activation of the channel")
        ax.set_title(f"{self.start_activation:.3g} -> {self.final_activation:.3g}", fontsize=9)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return save(fig, path)


def deprocess(x: np.ndarray) -> np.ndarray:
    """A CHW input as an HWC picture: centred, 0.15 per standard deviation, clipped to [0, 1]."""
    img = np.asarray(x, dtype=np.float64)
    img = (img - img.mean()) / (img.std() + 1e-8) * 0.15 + 0.5
    img = np.clip(img, 0, 1).transpose(1, 2, 0)
    return img[:, :, 0] if img.shape[2] == 1 else img


def _channel_mean(act: Any, channel: int) -> Any:
    return act[0, channel].mean() if act.ndim >= 3 else act[0, channel]


def gradient_ascent(model: Any, layer: Any, channel: int, steps: int = 60, lr: float = 0.05,
                    size: int | tuple[int, int] = 64, regularisers: Any = ("l2", "blur", "jitter"), *,
                    optimizer: str = "adam", l2: float = 1e-3, blur_every: int = 4, blur_sigma: float = 0.5,
                    jitter: int = 2, in_channels: int | None = None, init_std: float = 0.1,
                    seed: int = 0) -> AscentResult:  # fmt: skip
    """The input that maximises the mean activation of ``channel`` of ``layer``.

    Starts from small noise of shape (C, size, size) (C = the first Conv2d's
    ``in_channels``) and climbs ``steps`` times with Adam (``optimizer="adam"``) or plain
    gradient ascent (``"sgd"``) from minidl.optim. ``regularisers`` keep the picture
    natural: ``"l2"`` (a penalty ``l2 * mean(x**2)``), ``"blur"`` (a Gaussian blur of
    ``blur_sigma`` pixels every ``blur_every`` steps) and ``"jitter"`` (roll the image by up
    to ``jitter`` pixels before each step and back after). The model's weights are not
    changed (no ``.grad`` is left on them). Returns an :class:`AscentResult`.
    """
    from scipy.ndimage import gaussian_filter

    regs = set(regularisers or ())
    unknown = regs - {"l2", "blur", "jitter"}
    if unknown:
        raise ValueError(f"unknown regularisers {sorted(unknown)}; use 'l2', 'blur', 'jitter'")
    module = resolve_layer(model, layer)
    h, w = (size, size) if isinstance(size, int) else size
    c = in_channels or model_in_channels(model)
    rng = np.random.default_rng(seed)
    start = rng.normal(0.0, init_std, size=(1, c, h, w))
    dtype = model_dtype(model)
    x = md.tensor(start, dtype=dtype, requires_grad=True)
    if optimizer == "adam":
        opt = md.optim.Adam([x], lr=lr, maximize=True)
    elif optimizer == "sgd":
        opt = md.optim.SGD([x], lr=lr, maximize=True)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")

    def activation(arr: np.ndarray) -> float:
        with md.no_grad():
            _, act = capture(model, module, md.tensor(arr, dtype=dtype))
        return float(_channel_mean(act, channel).item())

    history: list[float] = []
    for step in range(steps):
        dy = dx = 0
        if "jitter" in regs and jitter > 0:
            dy, dx = (int(v) for v in rng.integers(-jitter, jitter + 1, size=2))
            x.data = md.tensor(np.roll(to_numpy(x), (dy, dx), axis=(2, 3)), dtype=dtype)
        _, act = capture(model, module, x)
        score = _channel_mean(act, channel)
        objective = score - l2 * (x * x).mean() if "l2" in regs else score
        (grad,) = md.autograd.grad(objective, [x])
        x.grad = grad
        if optimizer == "sgd":  # plain ascent on the gradient scaled to unit RMS
            x.grad = grad / (float(np.sqrt(np.mean(to_numpy(grad) ** 2))) + 1e-8)
        opt.step()
        x.grad = None
        history.append(float(score.item()))
        arr = to_numpy(x)
        if dy or dx:
            arr = np.roll(arr, (-dy, -dx), axis=(2, 3))
        if "blur" in regs and blur_every > 0 and (step + 1) % blur_every == 0:
            arr = gaussian_filter(arr, sigma=(0, 0, blur_sigma, blur_sigma))
        x.data = md.tensor(arr, dtype=dtype)
    final = to_numpy(x)
    return AscentResult(
        input=final[0], image=deprocess(final[0]), channel=int(channel), history=history,
        start_activation=activation(start), final_activation=activation(final),
    )  # fmt: skip


def gradient_ascent_grid(model: Any, layer: Any, channels: Any = None, path: Any = None, nrow: int = 8,
                         title: str | None = None, **kwargs: Any) -> Any:  # fmt: skip
    """:func:`gradient_ascent` for several channels of ``layer`` (default: the first 16) as a grid.

    ``kwargs`` go to :func:`gradient_ascent`. The Figure has ``fig.results`` (one
    :class:`AscentResult` per channel).
    """
    module = resolve_layer(model, layer)
    if channels is None:
        n_out = getattr(module, "out_channels", getattr(module, "out_features", 16))
        channels = range(min(16, int(n_out)))
    channels = [int(c) for c in channels]
    results = [gradient_ascent(model, module, c, **kwargs) for c in channels]
    n = len(results)
    ncol = min(nrow, n)
    rows = -(-n // ncol)
    fig = new_figure((ncol * 1.3 + 0.6, rows * 1.45 + 0.9))
    axes = fig.subplots(rows, ncol, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(results[i].image, cmap="gray" if results[i].image.ndim == 2 else None)
            r = results[i]
            ax.set_title(f"ch {r.channel}\n{r.start_activation:.2g}->{r.final_activation:.2g}", fontsize=7)
    fig.suptitle(title or f"Inputs that maximise each channel of {layer_label(model, module)}\n"
                 "(gradient ascent; above each: mean activation on the start noise -> on the image)",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.results = results
    return save(fig, path)
