"""Exercise 6 - transfer learning with a small ResNet (COURSEWORK.md sections 3 and 5).

* The network is a narrow ResNet built from torchvision's ``BasicBlock``
  (``minidl.models.resnet``): a 3x3 stem (16 channels, stride 2 on 32x32 images), then
  ``layer1``..``layer3`` of one BasicBlock each (16, 32, 64 channels, strides 1, 2, 2),
  global average pooling and ``fc`` - the module names of torchvision's ResNet, about
  78k parameters. A full ResNet18 (11M parameters) cannot be pretrained in numpy in a
  few minutes, and a half-trained source model transfers nothing; this one reaches
  about 0.8 on the source task (chance 0.167) in 5 epochs, a minute or two on a CPU.
* Source task (offline, pretrained here): the first 6 classes of ``Shapes`` (circle,
  ring, square, frame, triangle, diamond), 3000 images, Adam with a one-cycle schedule.
  The weights are saved to ``resnet_shapes6.npz``, where exercise 7 finds them (given
  the same ``--out``) to show this network's filters and activations.
* Target task: the other 4 classes (plus, cross, star, crescent) with only 120
  training images (30 per class) - where transfer helps. Three runs with the same
  number of epochs in total: from scratch; transferred with the feature layers frozen
  (conv1, bn1, layer1, layer2, layer3 and their BatchNorm statistics) and a new head
  (``replace_head``); and the same then unfrozen (all layers, lower lr).
* Prints the accuracy table and saves the curves (``transfer_curves.png``) and a bar
  chart (``transfer_accuracy.png``).
* ``--weights FILE.npz`` starts from a saved state dict instead of pretraining: the
  ``resnet_shapes6.npz`` of an earlier run (``minidl.save(model.state_dict(), path)``),
  or a torchvision ResNet18 - convert its ``.pth`` first with
  ``minidl.utils.torch_interop.torch_to_npz`` (a state dict with ``layer4`` and a 7x7
  ``conv1`` builds ``models.resnet18``, which is much slower here; anything else builds
  the small ResNet with the widths read from the file).

    python exercises/ex06_transfer_learning.py [--quick] [--out DIR] [--weights FILE.npz]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time

import numpy as np
from _common import RESNET_WEIGHTS, SmallResNet, from_state  # exercises/_common.py, beside this script

import minidl as md
from minidl import models, nn, optim
from minidl.data import DataLoader, TensorDataset
from minidl.data.datasets import Shapes
from minidl.train import evaluate, fit

SOURCE = ["circle", "ring", "square", "frame", "triangle", "diamond"]
TARGET = ["plus", "cross", "star", "crescent"]


def tensors(ds: Shapes) -> TensorDataset:
    x = md.tensor(ds.data.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    return TensorDataset(x, md.tensor(ds.targets.astype(np.int64)))


def loader(ds: TensorDataset, batch: int, shuffle: bool) -> DataLoader:
    return DataLoader(ds, batch_size=batch, shuffle=shuffle)


def trainable(model: nn.Module) -> list[md.Tensor]:
    return [p for p in model.parameters() if p.requires_grad]


def run(name: str, model: nn.Module, lr: float, epochs: int, train: DataLoader, test: DataLoader,
        history: dict[str, list[float]]) -> float:  # fmt: skip
    opt = optim.Adam(trainable(model), lr=lr)
    n_train = models.count_parameters(model, trainable_only=True)
    t0 = time.perf_counter()
    h = fit(model, nn.CrossEntropyLoss(), opt, train, epochs, val_loader=test, verbose=False, progress=False)
    acc = h["val_accuracy"][-1]
    history.setdefault(name, []).extend(h["val_accuracy"])
    print(f"  {name:<34} trainable {n_train:>10,}  {epochs} epoch(s)  test accuracy {acc:.3f}"
          f"   ({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    return acc


def draw(out_dir: str, history: dict[str, list[float]], table: dict[str, float], chance: float, arch: str,
         n_tgt: int) -> list[str]:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"from scratch": "#e15759", "transferred, layers frozen": "#4e79a7",
               "transferred, then unfrozen": "#59a14f"}  # fmt: skip
    fig, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    scratch = history["from scratch"]
    ax.plot(range(1, len(scratch) + 1), scratch, "o-", color=colours["from scratch"], label="from scratch")
    frozen = history["transferred, layers frozen"]
    ax.plot(range(1, len(frozen) + 1), frozen, "s-", color=colours["transferred, layers frozen"],
            label="transferred, layers frozen (new head)")  # fmt: skip
    un = history["transferred, then unfrozen"]
    ax.plot(range(len(frozen) + 1, len(frozen) + len(un) + 1), un, "^-", color=colours["transferred, then unfrozen"],
            label="... then all layers unfrozen")  # fmt: skip
    ax.axhline(chance, color="grey", ls=":", label="chance")
    ax.set_xlabel("epoch on the target task")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper left")
    ax.set_title(f"{arch} on 4 new shape classes ({n_tgt} training images):\n"
                 "from scratch vs transferred from the 6 other classes", fontweight="bold")  # fmt: skip
    p1 = os.path.join(out_dir, "transfer_curves.png")
    fig.savefig(p1, dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    names = list(table)
    bars = ax.bar(range(len(names)), [table[n] for n in names], color=[colours[n] for n in names])
    for b, n in zip(bars, names):
        ax.text(b.get_x() + b.get_width() / 2, b.get_height() + 0.01, f"{table[n]:.3f}", ha="center")
    ax.axhline(chance, color="grey", ls=":")
    ax.set_xticks(range(len(names)), names)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("final test accuracy")
    ax.set_title("Transfer learning, final test accuracy", fontweight="bold")
    p2 = os.path.join(out_dir, "transfer_accuracy.png")
    fig.savefig(p2, dpi=100)
    plt.close(fig)
    return [p1, p2]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny data, few epochs (for CI)")
    p.add_argument("--out", default=os.path.join("exercises", "out", "ex06"), help="output folder")
    p.add_argument("--weights", default=None,
                   help="a state dict (.npz) to start from instead of pretraining (see the docstring)")  # fmt: skip
    p.add_argument("--size", type=int, default=32, help="image size (default 32)")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    md.manual_seed(0)
    q = args.quick
    n_src, src_epochs = (96, 1) if q else (3000, 5)
    n_tgt, n_test, epochs = (32, 32, 1) if q else (120, 400, 8)
    batch = 16 if q else 32
    size = args.size

    # ---------------------------------------------------------------- source model
    if args.weights:
        print(f"=== source weights from {args.weights} ===")
        source = from_state(md.load(args.weights))
    else:
        print(f"=== pretraining a small ResNet on the source task: Shapes {SOURCE}, {n_src} images {size}x{size} ===")
        src_train = loader(tensors(Shapes(n_src, size, train=True, classes=SOURCE)), batch, True)
        src_test = loader(tensors(Shapes(max(n_src // 5, 32), size, train=False, classes=SOURCE)), 100, False)
        source = SmallResNet(len(SOURCE))
        print(f"  {models.count_parameters(source):,} parameters")
        opt = optim.Adam(source.parameters(), lr=1e-3)
        sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, epochs=src_epochs, steps_per_epoch=len(src_train))
        ts = time.perf_counter()
        h = fit(source, nn.CrossEntropyLoss(), opt, src_train, src_epochs, val_loader=src_test, scheduler=sched,
                verbose=False, progress=False)  # fmt: skip
        print(f"  source test accuracy per epoch: {' '.join(f'{a:.3f}' for a in h['val_accuracy'])}"
              f"   (chance {1 / len(SOURCE):.3f}, {time.perf_counter() - ts:.0f} s)")  # fmt: skip
        path = os.path.join(args.out, RESNET_WEIGHTS)
        md.save(source.state_dict(), path)
        print(f"  saved the source weights to {path}")
    arch = "ResNet18" if isinstance(source, models.ResNet) else "small ResNet"
    last = "layer4" if isinstance(source, models.ResNet) else f"layer{len(source.widths)}"

    # ---------------------------------------------------------------- target task
    print(f"\n=== target task: Shapes {TARGET}, {n_tgt} training images, {n_test} test images ===")
    train = loader(tensors(Shapes(n_tgt, size, train=True, seed=1, classes=TARGET)), 16, True)
    test = loader(tensors(Shapes(n_test, size, train=False, seed=1, classes=TARGET)), 100, False)
    history: dict[str, list[float]] = {}
    table: dict[str, float] = {}

    md.manual_seed(1)
    if isinstance(source, models.ResNet):  # same architecture, fresh random weights
        scratch: nn.Module = models.resnet18(num_classes=len(TARGET))
    else:
        scratch = SmallResNet(len(TARGET), source.widths)
    table["from scratch"] = run("from scratch", scratch, 2e-3, 1 if q else 2 * epochs, train, test, history)

    md.manual_seed(1)
    model = copy.deepcopy(source)
    frozen = models.freeze(model, up_to="fc")  # every feature layer: only the new head learns
    for m in model.modules():  # keep the frozen BatchNorm statistics fixed too
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
            m.train = lambda mode=True, _m=m: _m  # stays in eval mode when fit calls model.train()
    head = models.replace_head(model, len(TARGET))
    print(f"  froze {len(frozen)} parameter tensors (conv1 .. {last}); new head {head}")
    print(f"  before training: test accuracy {evaluate(model, test)['accuracy']:.3f} (new random head)")
    table["transferred, layers frozen"] = run("transferred, layers frozen", model, 1e-2, epochs, train, test,
                                              history)  # fmt: skip
    models.unfreeze(model)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.__dict__.pop("train", None)
    table["transferred, then unfrozen"] = run("transferred, then unfrozen", model, 5e-4, epochs, train, test,
                                              history)  # fmt: skip

    chance = 1.0 / len(TARGET)
    print(f"\n=== test accuracy on the target task ({n_tgt} training images; the same number of epochs in total) ===")
    print(f"  {'run':<30} {'accuracy':>8}")
    for k, v in table.items():
        print(f"  {k:<30} {v:>8.3f}")
    print(f"  {'chance':<30} {chance:>8.3f}")
    paths = draw(args.out, history, table, chance, arch, n_tgt)
    print("\nfigures: " + ", ".join(paths))
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
