"""Exercise 11 - gradient-ascent filter images and Grad-CAM heat-maps (COURSEWORK.md section 4).

* A small CNN is trained briefly on ``Shapes`` (10 classes, 32x32 RGB).
* Filter visualisation by gradient ascent on the input (``vis.gradient_ascent_grid``):
  start from small noise and climb the mean activation of one channel of a conv layer
  (Adam, L2 penalty, blur and jitter as regularisers), for the first and the last conv
  layer - simple colours and edges first, larger patterns later.
* Class-activation heat-maps with Grad-CAM (``vis.grad_cam``): the last conv layer's
  maps weighted by the spatial mean of the class score's gradient, ReLU, upsampled, laid
  over test images (``vis.overlay``); a saliency map (|d score / d input|) for
  comparison. The heat should sit on the shape, not on the background.

    python exercises/ex11_gradient_ascent_and_grad_cam.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import minidl as md
from minidl import nn, optim, vis
from minidl.data import DataLoader, TensorDataset
from minidl.data.datasets import Shapes
from minidl.train import fit


class SmallCNN(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        )  # fmt: skip
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x: md.Tensor) -> md.Tensor:
        return self.fc(md.flatten(self.pool(self.features(x)), 1))


def tensors(ds: Shapes) -> TensorDataset:
    x = md.tensor(ds.data.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    return TensorDataset(x, md.tensor(ds.targets.astype(np.int64)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny data, one epoch, few ascent steps (for CI)")
    p.add_argument("--out", default=os.path.join("exercises", "out", "ex11"), help="output folder")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    md.manual_seed(0)
    q = args.quick
    n, epochs, steps, n_cam = (128, 1, 8, 2) if q else (3000, 6, 60, 6)
    paths: list[str] = []

    def save(fig: object, name: str) -> None:
        path = os.path.join(args.out, name)
        fig.savefig(path, dpi=100)  # type: ignore[attr-defined]
        plt.close(fig)  # type: ignore[arg-type]
        paths.append(path)

    model = SmallCNN()
    print(f"=== training a small CNN on Shapes: {n} images 32x32, {epochs} epoch(s), Adam lr 1e-3 ===")
    train_ds = Shapes(n, 32, train=True)
    test_ds = Shapes(max(n // 4, 64), 32, train=False)
    h = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3),
            DataLoader(tensors(train_ds), batch_size=64, shuffle=True), epochs,
            val_loader=DataLoader(tensors(test_ds), batch_size=128), verbose=False, progress=False)  # fmt: skip
    print(f"  test accuracy {h['val_accuracy'][-1]:.3f} (chance 0.100)   ({time.perf_counter() - t0:.0f} s)")
    model.eval()

    print(f"\n=== gradient ascent on the input: {steps} Adam steps, L2 + blur + jitter ===")
    for layer, label, chans in (("features.0", "first conv", range(4 if q else 16)),
                                ("features.6", "last conv", range(4 if q else 16))):  # fmt: skip
        fig = vis.gradient_ascent_grid(model, layer, chans, steps=steps, size=32, lr=0.05)
        gains = [r.final_activation - r.start_activation for r in fig.results]
        print(f"  {label:<10} ({layer}): mean activation raised by {np.mean(gains):.3f} on average"
              f" (min {np.min(gains):.3f}, max {np.max(gains):.3f}) over {len(gains)} channels")  # fmt: skip
        save(fig, f"ascent_{label.replace(' ', '_')}.png")

    print("\n=== Grad-CAM on the last conv layer (features.6) for test images ===")
    fig, axes = plt.subplots(3, n_cam, figsize=(2.2 * n_cam, 7), squeeze=False, layout="constrained")
    inside = []
    for i in range(n_cam):
        img = test_ds.data[i]
        heat = vis.grad_cam(model, "features.6", img)
        cls = vis.grad_cam.last_class
        sal = vis.saliency(model, img, cls)
        # how much of the heat lies on the shape: pixels that differ from the image's median colour
        diff = np.abs(img.astype(np.float64) - np.median(img.reshape(-1, 3), axis=0)).sum(-1)
        mask = diff > np.percentile(diff, 70)
        share = float(heat[mask].sum() / (heat.sum() + 1e-12))
        inside.append(share)
        true = test_ds.classes[int(test_ds.targets[i])]
        print(f"  image {i}: true {true:<9} explained class {test_ds.classes[cls]:<9}"
              f" heat on the brightest-contrast 30% of pixels: {share:.0%}")  # fmt: skip
        axes[0, i].imshow(img)
        axes[0, i].set_title(f"true: {true}", fontsize=9)
        axes[1, i].imshow(img)
        axes[1, i].imshow(heat, cmap="jet", alpha=0.45)
        axes[1, i].set_title(f"Grad-CAM: {test_ds.classes[cls]}", fontsize=9)
        axes[2, i].imshow(sal, cmap="hot")
        axes[2, i].set_title("saliency", fontsize=9)
        for ax in axes[:, i]:
            ax.axis("off")
    fig.suptitle("Grad-CAM (last conv layer) and saliency on test shapes", fontweight="bold")
    save(fig, "grad_cam_grid.png")
    print(f"  on average {np.mean(inside):.0%} of the Grad-CAM heat is on those 30% of pixels (30% if uniform)")

    photo = vis.demo_image("chelsea", 96)
    heat = vis.grad_cam(model, "features.6", photo)
    name = train_ds.classes[vis.grad_cam.last_class]
    save(vis.overlay(photo, heat, title=f"Grad-CAM on a photo the net never saw: explained class '{name}'"),
         "grad_cam_chelsea.png")  # fmt: skip

    print("\nfigures: " + ", ".join(paths))
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
