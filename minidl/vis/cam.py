"""Where the network looks: Grad-CAM heat-maps, saliency maps, and overlays on the photo."""

from __future__ import annotations

from typing import Any

import numpy as np

import minidl as md
import minidl.nn.functional as F
from minidl.vis._common import display_image, image_to_input, model_dtype, new_figure, resolve_layer, save, to_numpy
from minidl.vis.filters import capture


def _class_score(out: Any, class_index: int | None) -> tuple[Any, int]:
    if out.ndim != 2:
        raise ValueError(f"the model must return scores of shape (1, classes), got {tuple(out.shape)}")
    if class_index is None:
        class_index = int(np.argmax(to_numpy(out)[0]))
    return out[0, class_index], int(class_index)


def grad_cam(model: Any, target_layer: Any, image: Any, class_index: int | None = None) -> np.ndarray:
    """Grad-CAM: an (H, W) heat-map in [0, 1] of where ``target_layer`` saw class ``class_index``.

    With A the layer's activations (K, h, w) and dS/dA the gradient of the class score S
    (the model's output before softmax; default: the predicted class), each channel gets
    the weight a_k = mean over (h, w) of dS/dA_k; the map is ReLU(sum_k a_k A_k), upsampled
    bilinearly to the input's H x W and scaled to [0, 1] (min-max). ``image``: HWC numpy
    (uint8 divided by 255) or a CHW tensor. Captured with a forward hook; the gradients come
    from ``minidl.autograd.grad``, so no ``.grad`` is left on the model.
    The class used is in ``grad_cam.last_class``.
    """
    module = resolve_layer(model, target_layer)
    x, _ = image_to_input(image, model_dtype(model))
    x.requires_grad_(True)  # so that the graph exists even with frozen weights
    out, act = capture(model, module, x)
    score, class_index = _class_score(out, class_index)
    (grad,) = md.autograd.grad(score, [act])
    weights = grad.detach().mean(dim=(2, 3), keepdim=True)  # (1, K, 1, 1)
    cam = (weights * act.detach()).sum(dim=1, keepdim=True).relu()  # (1, 1, h, w)
    cam = F.interpolate(cam, size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)
    heat = to_numpy(cam)[0, 0].astype(np.float64)
    heat = heat - heat.min()
    heat = heat / (heat.max() + 1e-12) if heat.max() > 0 else heat
    grad_cam.last_class = class_index
    return heat


grad_cam.last_class = None


def saliency(model: Any, image: Any, class_index: int | None = None) -> np.ndarray:
    """A saliency map (H, W): the max over colour channels of |d score / d input|.

    ``score`` is the model's output for ``class_index`` (default: the predicted class),
    before softmax. Not rescaled: the values are gradient magnitudes.
    """
    x, _ = image_to_input(image, model_dtype(model))
    x.requires_grad_(True)
    out = model(x)
    score, class_index = _class_score(out, class_index)
    (grad,) = md.autograd.grad(score, [x])
    saliency.last_class = class_index
    return np.abs(to_numpy(grad)[0]).max(axis=0).astype(np.float64)


saliency.last_class = None


def _resize(heat: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if heat.shape == shape:
        return heat
    from scipy.ndimage import zoom

    return zoom(heat, (shape[0] / heat.shape[0], shape[1] / heat.shape[1]), order=1)


def overlay(image: Any, heatmap: Any, path: Any = None, alpha: float = 0.4, title: str | None = None,
            cmap: str = "jet", heat_label: str = "importance") -> Any:  # fmt: skip
    """The photo, the heat-map (with a colour bar) and the heat-map laid over the photo.

    ``heatmap`` (h, w) is resized to the image (bilinear) when needed; ``alpha`` is the
    heat-map's opacity in the overlay.
    """
    img = display_image(image)
    heat = _resize(to_numpy(heatmap).astype(np.float64), img.shape[:2])
    fig = new_figure((11, 3.8))
    axes = fig.subplots(1, 3)
    gray = "gray" if img.ndim == 2 else None
    axes[0].imshow(img, cmap=gray)
    axes[0].set_title("image")
    im = axes[1].imshow(heat, cmap=cmap)
    axes[1].set_title("heat-map")
    fig.colorbar(im, ax=axes[1], fraction=0.046, pad=0.03).set_label(heat_label, fontsize=8)
    axes[2].imshow(img, cmap=gray)
    axes[2].imshow(heat, cmap=cmap, alpha=alpha)
    axes[2].set_title(f"overlay (alpha {alpha:g})")
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)
