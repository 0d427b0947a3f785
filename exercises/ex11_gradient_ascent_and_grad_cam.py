"""Exercise 11 - gradient-ascent filter images and Grad-CAM heat-maps (COURSEWORK.md section 4).

* minidl's demo CNN (``minidl.demo.demo_cnn``: conv-BN-ReLU-pool x3 with 24/48/96 3x3
  filters) is trained on ``Shapes`` (10 classes, 32x32 RGB) with the demo's recipe - SGD
  + Nesterov, weight decay, one-cycle learning rate, flips and reflect-padded crops - to
  about 85% test accuracy in under a minute. Inputs are in [0, 1] as ``vis`` feeds them
  (the BatchNorm after the first conv absorbs the demo's constant mean/std normalisation).
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
from minidl.data import DataLoader
from minidl.data import transforms as T
from minidl.data.datasets import Shapes
from minidl.demo import demo_cnn
from minidl.train import evaluate, fit

FIRST, LAST = "0", "8"  # demo_cnn's first and last Conv2d (nn.Sequential indices)


def train_cnn(train_ds: Shapes, test_ds: Shapes, epochs: int) -> tuple[nn.Module, float]:
    """``demo_cnn`` trained with minidl.demo's recipe; returns it and its test accuracy."""
    train_tf = T.Compose([T.RandomHorizontalFlip(), T.RandomCrop(32, padding=4, padding_mode="reflect"), T.ToTensor()])
    train_ds.transform, test_ds.transform = train_tf, T.ToTensor()
    train = DataLoader(train_ds, batch_size=64, shuffle=True)
    test = DataLoader(test_ds, batch_size=256)
    model = demo_cnn(len(train_ds.classes))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, epochs=epochs, steps_per_epoch=len(train))
    fit(model, nn.CrossEntropyLoss(), opt, train, epochs, scheduler=sched, verbose=False, progress=False)
    acc = float(evaluate(model, test, nn.CrossEntropyLoss())["accuracy"])
    train_ds.transform = test_ds.transform = None  # back to raw uint8 images for the figures
    return model, acc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny data, 1 epoch, few ascent steps (CI; near chance)")
    p.add_argument("--out", default=os.path.join("exercises", "out", "ex11"), help="output folder")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    md.manual_seed(0)
    q = args.quick
    n, n_test, epochs, steps, n_cam = (128, 64, 1, 8, 2) if q else (5000, 1000, 8, 60, 6)
    paths: list[str] = []

    def save(fig: object, name: str) -> None:
        path = os.path.join(args.out, name)
        fig.savefig(path, dpi=100)  # type: ignore[attr-defined]
        plt.close(fig)  # type: ignore[arg-type]
        paths.append(path)

    print(f"=== training minidl.demo.demo_cnn on Shapes: {n} images 32x32, {epochs} epoch(s), "
          "SGD + Nesterov, one-cycle lr 0.2, flips + crops ===")  # fmt: skip
    train_ds = Shapes(n, 32, train=True)
    test_ds = Shapes(n_test, 32, train=False)
    model, acc = train_cnn(train_ds, test_ds, epochs)
    print(f"  test accuracy {acc:.3f} on {n_test} images (chance 0.100)   ({time.perf_counter() - t0:.0f} s)")
    model.eval()

    print(f"\n=== gradient ascent on the input: {steps} Adam steps, L2 + blur + jitter ===")
    for layer, label, chans in ((FIRST, "first conv", range(4 if q else 16)),
                                (LAST, "last conv", range(4 if q else 16))):  # fmt: skip
        fig = vis.gradient_ascent_grid(model, layer, chans, steps=steps, size=32, lr=0.05)
        gains = [r.final_activation - r.start_activation for r in fig.results]
        print(f"  {label:<10} ({layer}): mean activation raised by {np.mean(gains):.3f} on average"
              f" (min {np.min(gains):.3f}, max {np.max(gains):.3f}) over {len(gains)} channels")  # fmt: skip
        save(fig, f"ascent_{label.replace(' ', '_')}.png")

    print(f"\n=== Grad-CAM on the last conv layer (layer {LAST}, 8x8 maps) for test images ===")
    fig, axes = plt.subplots(3, n_cam, figsize=(2.2 * n_cam, 7), squeeze=False, layout="constrained")
    inside = []
    for i in range(n_cam):
        img = test_ds.data[i]
        heat = vis.grad_cam(model, LAST, img)
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
    heat = vis.grad_cam(model, LAST, photo)
    name = train_ds.classes[vis.grad_cam.last_class]
    save(vis.overlay(photo, heat, title=f"Grad-CAM on a photo the net never saw: explained class '{name}'"),
         "grad_cam_chelsea.png")  # fmt: skip

    print("\nfigures: " + ", ".join(paths))
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
