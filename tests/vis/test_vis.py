"""minidl.vis: every plot writes a non-blank PNG; Grad-CAM and saliency match torch hooks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import minidl as md
from minidl import nn, vis
from minidl.train import History


def _twins(seed: int = 0) -> tuple[nn.Module, torch.nn.Module]:
    torch.manual_seed(seed)
    t = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(), torch.nn.Linear(16, 5),
    ).double().eval()  # fmt: skip
    m = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(16, 5),
    ).double().eval()  # fmt: skip
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    return m, t


@pytest.fixture(scope="module")
def twins() -> tuple[nn.Module, torch.nn.Module]:
    return _twins()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return vis.demo_image("chelsea", 24)


def _check_png(path, min_std: float = 5.0) -> None:
    assert path.exists(), path
    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.float64)
    assert arr.shape[0] > 50 and arr.shape[1] > 50
    assert arr.std() > min_std, f"{path.name} looks blank (pixel std {arr.std():.2f})"


def _torch_input(photo: np.ndarray) -> torch.Tensor:
    return torch.tensor(photo.transpose(2, 0, 1)[None] / 255.0, dtype=torch.float64)


# ------------------------------------------------------------------ Grad-CAM and saliency
def _torch_grad_cam(t: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor, cls: int | None) -> np.ndarray:
    store = {}

    def fwd(_m, _i, out):
        store["act"] = out
        out.register_hook(lambda g: store.__setitem__("grad", g))

    handle = layer.register_forward_hook(fwd)
    out = t(x)
    handle.remove()
    cls = int(out.argmax()) if cls is None else cls
    out[0, cls].backward()
    a, g = store["act"].detach(), store["grad"]
    cam = torch.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True))
    cam = torch.nn.functional.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)[0, 0]
    cam = cam - cam.min()
    return (cam / (cam.max() + 1e-12)).numpy()


@pytest.mark.parametrize("layer_index", [3, 4])
@pytest.mark.parametrize("cls", [None, 2])
def test_grad_cam_matches_torch_hooks(twins, photo, layer_index, cls) -> None:
    m, t = twins
    heat = vis.grad_cam(m, str(layer_index), photo, class_index=cls)
    ref = _torch_grad_cam(t, t[layer_index], _torch_input(photo), cls)
    assert heat.shape == photo.shape[:2]
    assert heat.min() >= 0 and heat.max() <= 1 + 1e-12
    np.testing.assert_allclose(heat, ref, atol=1e-9)
    assert all(p.grad is None for p in m.parameters())  # the model's grads are untouched


def test_grad_cam_accepts_module_and_chw_tensor(twins, photo) -> None:
    m, _ = twins
    x = md.tensor(photo.transpose(2, 0, 1) / 255.0, dtype=md.float64)
    np.testing.assert_allclose(vis.grad_cam(m, m[3], x), vis.grad_cam(m, "3", photo), atol=1e-12)


@pytest.mark.parametrize("cls", [None, 4])
def test_saliency_matches_torch(twins, photo, cls) -> None:
    m, t = twins
    x = _torch_input(photo).requires_grad_(True)
    out = t(x)
    out[0, int(out.argmax()) if cls is None else cls].backward()
    ref = x.grad.abs().amax(dim=1)[0].numpy()
    np.testing.assert_allclose(vis.saliency(m, photo, cls), ref, rtol=1e-9, atol=1e-12)


def test_overlay_png(twins, photo, tmp_path) -> None:
    m, _ = twins
    big = vis.demo_image("chelsea", 48)
    heat = vis.grad_cam(m, "3", big)
    fig = vis.overlay(big, heat, tmp_path / "cam.png", title="Grad-CAM")
    assert fig is not None
    _check_png(tmp_path / "cam.png")
    vis.overlay(big, vis.saliency(m, big), tmp_path / "sal.png", heat_label="|d score / d pixel|")
    _check_png(tmp_path / "sal.png")


# ------------------------------------------------------------------ filters, activations
@pytest.mark.parametrize("mode", ["rgb", "channels", "mean"])
def test_filters_png(twins, tmp_path, mode) -> None:
    m, _ = twins
    path = tmp_path / f"filters_{mode}.png"
    fig = vis.filters(m[0], path, mode=mode)
    assert fig.axes
    _check_png(path)


def test_filters_of_a_deeper_layer_and_a_weight(twins, tmp_path) -> None:
    m, _ = twins
    vis.filters(m[3], tmp_path / "deep.png")  # 8 input channels: falls back to the mean
    _check_png(tmp_path / "deep.png")
    vis.filters(m[3].weight, tmp_path / "deep_channels.png", mode="channels")
    _check_png(tmp_path / "deep_channels.png")
    with pytest.raises(ValueError, match="mode"):
        vis.filters(m[0], mode="hsv")


def test_activations_by_name_and_module(twins, photo, tmp_path) -> None:
    m, t = twins
    fig = vis.activations(m, "1", photo, tmp_path / "act.png")
    _check_png(tmp_path / "act.png")
    with torch.no_grad():
        ref = t[:2](_torch_input(photo)).numpy()
    np.testing.assert_allclose(fig.activations, ref, atol=1e-12)
    assert not m[1]._forward_hooks  # the hook was removed
    vis.activations(m, m[4], photo, tmp_path / "act4.png", normalize="layer", max_maps=8)
    _check_png(tmp_path / "act4.png")
    vis.activations(m, m[7], photo, tmp_path / "dense.png")
    _check_png(tmp_path / "dense.png")


# ------------------------------------------------------------------ gradient ascent
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_gradient_ascent_increases_activation(twins, optimizer) -> None:
    m, _ = twins
    res = vis.gradient_ascent(m, "3", channel=5, steps=25, lr=0.05, size=16, optimizer=optimizer)
    assert res.final_activation > res.start_activation + 1e-3
    assert res.history[-1] > res.history[0]
    assert res.input.shape == (3, 16, 16) and res.image.shape == (16, 16, 3)
    assert 0 <= res.image.min() and res.image.max() <= 1
    assert all(p.grad is None for p in m.parameters())


def test_gradient_ascent_without_regularisers_and_grid(twins, tmp_path) -> None:
    m, _ = twins
    res = vis.gradient_ascent(m, m[0], channel=1, steps=10, size=12, regularisers=())
    assert res.final_activation > res.start_activation
    res.plot(tmp_path / "one.png")
    _check_png(tmp_path / "one.png")
    fig = vis.gradient_ascent_grid(m, "3", channels=range(4), path=tmp_path / "grid.png", steps=8, size=16)
    assert len(fig.results) == 4
    _check_png(tmp_path / "grid.png")
    with pytest.raises(ValueError, match="regularisers"):
        vis.gradient_ascent(m, "3", 0, regularisers=("tv",))


# ------------------------------------------------------------------ curves, confusion, ROC, grid
def test_curves_png(tmp_path) -> None:
    h = History()
    for e in range(1, 9):
        h.append(e, {"loss": 1 / e, "val_loss": 1 / e + 0.05 * max(0, e - 5), "accuracy": 1 - 0.5 / e,
                     "val_accuracy": 0.9 - 0.5 / e})  # fmt: skip
    vis.curves(h, tmp_path / "curves.png")
    _check_png(tmp_path / "curves.png")
    vis.curves({"loss": [3, 2, 1.5]}, tmp_path / "loss_only.png")
    _check_png(tmp_path / "loss_only.png")


def test_confusion_matrix_png(tmp_path) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    pred = np.where(rng.random(200) < 0.7, y, rng.integers(0, 4, 200))
    names = ["cat", "dog", "bird", "frog"]
    vis.confusion_matrix_plot((y, pred), names, path=tmp_path / "cm.png")
    _check_png(tmp_path / "cm.png")
    cm = np.zeros((4, 4), dtype=int)
    np.add.at(cm, (y, pred), 1)
    vis.confusion_matrix_plot(md.tensor(cm), names, normalize=True, path=tmp_path / "cm_norm.png")
    _check_png(tmp_path / "cm_norm.png")
    with pytest.raises(ValueError, match="square"):
        vis.confusion_matrix_plot(np.zeros((2, 3)))


def test_roc_png_and_auc(tmp_path) -> None:
    from minidl.vis.plots import _roc

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = y + rng.normal(0, 0.8, 300)
    fpr, tpr, auc = _roc(y == 1, s)
    pos, neg = s[y == 1], s[y == 0]
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert auc == pytest.approx(pairs)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    vis.roc_plot(y, s, tmp_path / "roc.png")
    _check_png(tmp_path / "roc.png")
    y3 = rng.integers(0, 3, 300)
    scores = np.eye(3)[y3] + rng.normal(0, 0.7, (300, 3))
    vis.roc_plot(y3, scores, tmp_path / "roc3.png", class_names=["a", "b", "c"])
    _check_png(tmp_path / "roc3.png")


def test_image_grid_png(tmp_path) -> None:
    photos = np.stack([vis.demo_image(n, 32) for n in ("chelsea", "astronaut", "coffee")] * 4)
    vis.image_grid(photos, labels=[0, 1, 2] * 4, predictions=[0, 1, 1] * 4,
                   class_names=["cat", "person", "coffee"], path=tmp_path / "grid.png")  # fmt: skip
    _check_png(tmp_path / "grid.png")
    chw = md.tensor(photos.transpose(0, 3, 1, 2) / 127.5 - 1)  # normalised NCHW tensor
    vis.image_grid(chw, labels=[0, 1, 2] * 4, path=tmp_path / "grid_chw.png", nrow=4)
    _check_png(tmp_path / "grid_chw.png")


# ------------------------------------------------------------------ autograd graph
def test_draw_graph_dot(twins, tmp_path) -> None:
    x = md.randn(2, 3, requires_grad=True)
    w = md.randn(3, 4, requires_grad=True)
    y = ((x @ w).relu() * 2).sum()
    dot = vis.draw_graph(y, tmp_path / "g.png", params={"x": x, "w": w})
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for name in ("SumBackward", "MulBackward", "ReLUBackward", "MatMulBackward", "AccumulateGrad"):
        assert name in dot
    assert "(2, 3)" in dot and "(3, 4)" in dot and "(2, 4)" in dot
    assert '"x\\n(2, 3)"' in dot and '"w\\n(3, 4)"' in dot
    assert (tmp_path / "g.dot").read_text() == dot
    m, _ = twins
    out = m(md.tensor(np.zeros((1, 3, 8, 8))))
    dot2 = vis.draw_graph(out, params=dict(m.named_parameters()))
    assert "0.weight\\n(8, 3, 3, 3)" in dot2 and "(1, 5)" in dot2
