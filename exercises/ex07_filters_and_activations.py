"""Exercise 7 - filters and activations of the first and last conv layers for a photo (COURSEWORK.md section 3).

* A small CNN (three convs, 5x5 then 3x3) is trained briefly on ``Shapes`` (10 classes,
  32x32 RGB), so that its filters are no longer random.
* Its first layer's filters as colour images (``vis.filters(mode="rgb")``) and with the
  red, green and blue weights alone (``mode="channels"``), before and after training.
* The activations of the first and the last conv layer for one photo - scikit-image's
  cat ``chelsea`` (``vis.demo_image``), as the course did with a zebra: the first layer
  keeps the picture (edges, colour blobs); the last one is small and abstract.
* When exercise 6 has saved ResNet18 weights (``exercises/out/ex06/resnet18_shapes6.npz``,
  or ``--weights``), the same for that ResNet18's conv1 (7x7 filters) and its last conv.

    python exercises/ex07_filters_and_activations.py [--quick] [--out DIR] [--weights FILE.npz]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import minidl as md
from minidl import models, nn, optim, vis
from minidl.data import DataLoader, TensorDataset
from minidl.data.datasets import Shapes
from minidl.train import fit

EX06_WEIGHTS = os.path.join("exercises", "out", "ex06", "resnet18_shapes6.npz")


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


def describe_maps(name: str, model: nn.Module, layer: str, image: np.ndarray) -> None:
    fig = vis.activations(model, layer, image)
    a = np.asarray(fig.activations)[0] if np.asarray(fig.activations).ndim == 4 else np.asarray(fig.activations)
    import matplotlib.pyplot as plt

    plt.close(fig)
    dead = int((a.reshape(a.shape[0], -1).max(axis=1) <= 0).sum())
    print(f"  {name:<34} maps {a.shape[0]} x {a.shape[1]}x{a.shape[2]}   mean {a.mean():.3f}"
          f"   maps never > 0: {dead}/{a.shape[0]}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny data, one epoch (for CI)")
    p.add_argument("--out", default=os.path.join("exercises", "out", "ex07"), help="output folder")
    p.add_argument("--weights", default=None, help="ResNet18 state dict (.npz); default: exercise 6's, if present")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    md.manual_seed(0)
    n, epochs = (128, 1) if args.quick else (3000, 5)
    paths: list[str] = []

    def save(fig: object, name: str) -> None:
        path = os.path.join(args.out, name)
        fig.savefig(path, dpi=100)  # type: ignore[attr-defined]
        plt.close(fig)  # type: ignore[arg-type]
        paths.append(path)

    model = SmallCNN()
    save(vis.filters(model.features[0], title="first-layer filters BEFORE training (random)"), "filters_untrained.png")
    print(f"=== training a small CNN on Shapes: {n} images 32x32, {epochs} epoch(s), Adam lr 1e-3 ===")
    train = DataLoader(tensors(Shapes(n, 32, train=True)), batch_size=64, shuffle=True)
    test = DataLoader(tensors(Shapes(max(n // 4, 64), 32, train=False)), batch_size=128)
    h = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-3), train, epochs, val_loader=test,
            verbose=False, progress=False)  # fmt: skip
    print(f"  test accuracy {h['val_accuracy'][-1]:.3f} (chance 0.100)   ({time.perf_counter() - t0:.0f} s)")
    model.eval()

    w = model.features[0].weight.detach().numpy()
    print("\n=== first conv layer: 16 filters 3x5x5 ===")
    for c, colour in enumerate(("red", "green", "blue")):
        print(f"  {colour:<5} weights: mean {w[:, c].mean():+.3f}  std {w[:, c].std():.3f}")
    save(vis.filters(model.features[0], mode="rgb", title="first-layer filters after training"), "filters_rgb.png")
    save(vis.filters(model.features[0], mode="channels", title="first-layer filters after training"),
         "filters_channels.png")  # fmt: skip
    save(vis.filters(model.features[6], mode="mean", max_filters=32,
                     title="last conv layer: 32 filters (mean over 32 inputs)"),
         "filters_last_conv.png")  # fmt: skip

    photo = vis.demo_image("chelsea", 96)
    print(f"\n=== activations for scikit-image's 'chelsea' ({photo.shape[0]}x{photo.shape[1]}) ===")
    describe_maps("first conv (features.0)", model, "features.0", photo)
    describe_maps("last conv (features.6)", model, "features.6", photo)
    save(vis.activations(model, "features.0", photo, title="chelsea: activations of the first conv layer (16 maps)"),
         "activations_first_conv.png")  # fmt: skip
    save(vis.activations(model, "features.6", photo, title="chelsea: activations of the last conv layer (32 maps)"),
         "activations_last_conv.png")  # fmt: skip

    weights = args.weights or (EX06_WEIGHTS if os.path.isfile(EX06_WEIGHTS) else None)
    if weights:
        state = md.load(weights)
        net = models.resnet18(num_classes=int(np.asarray(state["fc.weight"]).shape[0]))
        net.load_state_dict(state)
        net.eval()
        print(f"\n=== ResNet18 from {weights} ===")
        save(vis.filters(net.conv1, mode="rgb", title="ResNet18 conv1: 64 filters 3x7x7"), "resnet18_filters_rgb.png")
        describe_maps("ResNet18 conv1", net, "conv1", photo)
        describe_maps("ResNet18 layer4.1.conv2 (last)", net, "layer4.1.conv2", photo)
        save(vis.activations(net, "conv1", photo, title="chelsea: ResNet18 conv1"), "resnet18_activations_first.png")
        save(vis.activations(net, "layer4.1.conv2", photo, title="chelsea: ResNet18 last conv (64 of 512 maps)"),
             "resnet18_activations_last.png")  # fmt: skip
    else:
        print("\n(no ResNet18 weights: run exercise 6 first to see its filters here too)")

    print("\nfigures: " + ", ".join(paths))
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
