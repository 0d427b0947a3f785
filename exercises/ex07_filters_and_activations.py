"""Exercise 7 - filters and activations of the first and last conv layers for a photo (COURSEWORK.md section 3).

* minidl's demo CNN (``minidl.demo.demo_cnn``: conv-BN-ReLU-pool x3 with 24/48/96 3x3
  filters) is trained on ``Shapes`` (10 classes, 32x32 RGB) with the demo's recipe - SGD
  + Nesterov, weight decay, one-cycle learning rate, flips and reflect-padded crops - to
  about 85% test accuracy in under a minute, so that its filters are no longer random.
  Inputs are in [0, 1] as ``vis`` feeds them (the BatchNorm after the first conv absorbs
  the demo's constant mean/std normalisation).
* Its first layer's filters as colour images (``vis.filters(mode="rgb")``) and with the
  red, green and blue weights alone (``mode="channels"``), before and after training.
* The activations of the first and the last conv layer for one photo - scikit-image's
  cat ``chelsea`` (``vis.demo_image``), as the course did with a zebra: the first layer
  keeps the picture (edges, colour blobs); the last one is small and abstract.
* When exercise 6 has saved its pretrained ResNet (``resnet_shapes6.npz``: looked for in
  this run's ``--out`` folder, then in ``exercises/out/ex06/``; or ``--weights FILE.npz``),
  the same for that ResNet's ``conv1`` and its last conv. The model is rebuilt from the
  state dict with ``_common.from_state``, as exercise 6 does: its small ResNet (3x3 stem,
  one BasicBlock per stage), or a torchvision ResNet18 converted to ``.npz``.

    python exercises/ex07_filters_and_activations.py [--quick] [--out DIR] [--weights FILE.npz]
    python exercises/ex06_transfer_learning.py --out DIR && python exercises/ex07_filters_and_activations.py --out DIR
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from _common import RESNET_WEIGHTS, from_state  # exercises/_common.py, beside this script

import minidl as md
from minidl import models, nn, optim, vis
from minidl.data import DataLoader
from minidl.data import transforms as T
from minidl.data.datasets import Shapes
from minidl.demo import demo_cnn
from minidl.train import evaluate, fit

EX06_OUT = os.path.join("exercises", "out", "ex06")  # exercise 6's default --out (relative to where you run it)

FIRST, LAST = "0", "8"  # demo_cnn's first and last Conv2d (nn.Sequential indices)


def train_cnn(n: int, n_test: int, epochs: int) -> tuple[nn.Module, float]:
    """``demo_cnn`` trained with minidl.demo's recipe on ``n`` Shapes images; returns it and its test accuracy."""
    train_tf = T.Compose([T.RandomHorizontalFlip(), T.RandomCrop(32, padding=4, padding_mode="reflect"), T.ToTensor()])
    train = DataLoader(Shapes(n, 32, train=True, transform=train_tf), batch_size=64, shuffle=True)
    test = DataLoader(Shapes(n_test, 32, train=False, transform=T.ToTensor()), batch_size=256)
    model = demo_cnn(10)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, epochs=epochs, steps_per_epoch=len(train))
    fit(model, nn.CrossEntropyLoss(), opt, train, epochs, scheduler=sched, verbose=False, progress=False)
    return model, float(evaluate(model, test, nn.CrossEntropyLoss())["accuracy"])


def find_resnet_weights(out_dir: str) -> str | None:
    """Exercise 6's saved ResNet: in this run's output folder (both run with the same --out), else ex06's default."""
    for folder in (out_dir, EX06_OUT):
        path = os.path.join(folder, RESNET_WEIGHTS)
        if os.path.isfile(path):
            return path
    return None


def last_conv_name(model: nn.Module) -> str:
    """The name of the last Conv2d on the main path (e.g. ``layer4.1.conv2``), not in a ``downsample`` shortcut."""
    names = [k for k, m in model.named_modules() if isinstance(m, nn.Conv2d) and "downsample" not in k]
    return names[-1]


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
    p.add_argument("--quick", action="store_true", help="tiny data, one epoch (for CI; stays near chance)")
    p.add_argument("--out", default=os.path.join("exercises", "out", "ex07"), help="output folder")
    p.add_argument("--weights", default=None,
                   help=f"a ResNet state dict (.npz); default: exercise 6's {RESNET_WEIGHTS}, if present")  # fmt: skip
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t0 = time.perf_counter()
    md.manual_seed(0)
    n, n_test, epochs = (128, 64, 1) if args.quick else (5000, 1000, 8)
    paths: list[str] = []

    def save(fig: object, name: str) -> None:
        path = os.path.join(args.out, name)
        fig.savefig(path, dpi=100)  # type: ignore[attr-defined]
        plt.close(fig)  # type: ignore[arg-type]
        paths.append(path)

    md.manual_seed(0)
    model = demo_cnn(10)
    save(vis.filters(model[0], title="first-layer filters BEFORE training (random)"), "filters_untrained.png")
    print(f"=== training minidl.demo.demo_cnn on Shapes: {n} images 32x32, {epochs} epoch(s), "
          "SGD + Nesterov, one-cycle lr 0.2, flips + crops ===")  # fmt: skip
    md.manual_seed(0)
    model, acc = train_cnn(n, n_test, epochs)
    print(f"  test accuracy {acc:.3f} on {n_test} images (chance 0.100)   ({time.perf_counter() - t0:.0f} s)")
    model.eval()

    w = model[0].weight.detach().numpy()
    print(f"\n=== first conv layer: {w.shape[0]} filters {w.shape[1]}x{w.shape[2]}x{w.shape[3]} ===")
    for c, colour in enumerate(("red", "green", "blue")):
        print(f"  {colour:<5} weights: mean {w[:, c].mean():+.3f}  std {w[:, c].std():.3f}")
    save(vis.filters(model[0], mode="rgb", title="first-layer filters after training"), "filters_rgb.png")
    save(vis.filters(model[0], mode="channels", title="first-layer filters after training"),
         "filters_channels.png")  # fmt: skip
    save(vis.filters(model[int(LAST)], mode="mean", max_filters=32,
                     title="last conv layer: 32 of 96 filters (mean over 48 inputs)"),
         "filters_last_conv.png")  # fmt: skip

    photo = vis.demo_image("chelsea", 96)
    print(f"\n=== activations for scikit-image's 'chelsea' ({photo.shape[0]}x{photo.shape[1]}) ===")
    describe_maps(f"first conv (layer {FIRST})", model, FIRST, photo)
    describe_maps(f"last conv (layer {LAST})", model, LAST, photo)
    save(vis.activations(model, FIRST, photo, title="chelsea: activations of the first conv layer (24 maps)"),
         "activations_first_conv.png")  # fmt: skip
    save(vis.activations(model, LAST, photo, title="chelsea: activations of the last conv layer (64 of 96 maps)"),
         "activations_last_conv.png")  # fmt: skip

    weights = args.weights or find_resnet_weights(args.out)
    if weights:
        net = from_state(md.load(weights))  # the same model class exercise 6 built and saved
        net.eval()
        arch = "ResNet18" if isinstance(net, models.ResNet) else "small ResNet"
        last = last_conv_name(net)
        k, cin, kh, kw = net.conv1.weight.shape
        n_last = dict(net.named_modules())[last].out_channels
        print(f"\n=== {arch} from {weights} ({models.count_parameters(net):,} parameters) ===")
        save(vis.filters(net.conv1, mode="rgb", title=f"{arch} conv1: {k} filters {cin}x{kh}x{kw}"),
             "resnet_filters_rgb.png")  # fmt: skip
        describe_maps(f"{arch} conv1", net, "conv1", photo)
        describe_maps(f"{arch} {last} (last)", net, last, photo)
        save(vis.activations(net, "conv1", photo, title=f"chelsea: {arch} conv1 ({k} maps)"),
             "resnet_activations_first.png")  # fmt: skip
        save(vis.activations(net, last, photo, title=f"chelsea: {arch} last conv {last} ({min(64, n_last)} of "
                                                     f"{n_last} maps)"),
             "resnet_activations_last.png")  # fmt: skip
    else:
        print(f"\n(no ResNet weights: run exercise 6 first, with the same --out or its default, to see its filters "
              f"here too; it saves {RESNET_WEIGHTS})")

    print("\nfigures: " + ", ".join(paths))
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
