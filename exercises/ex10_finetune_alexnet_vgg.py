"""Exercise 10 - fine-tuning AlexNet and VGG at small scale (COURSEWORK.md section 5).

The reports fine-tuned ImageNet-pretrained AlexNet and VGG16 on 12 or 101 classes. Here
everything is offline and must run in a few minutes on a 2-core CPU, so the same steps
are scaled down, with torchvision's architectures unchanged:

* "ImageNet" is the first 6 classes of the generated ``Shapes`` task (circle, ring,
  square, frame, triangle, diamond): ``minidl.models.alexnet`` and ``vgg11_bn`` are
  pretrained on it (Adam with a 10-step linear warm-up, batches of 64) and saved to
  ``alexnet_shapes6.npz`` / ``vgg11_bn_shapes6.npz``; ``--weights`` / ``--vgg-weights``
  load a saved (or a converted torchvision) state dict instead. The new task is the
  other 4 classes (plus, cross, star, crescent) with only a few training images, where
  pretraining matters.
* Inputs: AlexNet needs at least 63x63 pixels, so it sees 64x64 crops of 72x72 images
  (its conv stack then ends at 1x1 and ``AdaptiveAvgPool2d((6, 6))`` keeps the classifier
  at 9216 -> 4096 -> 4096); VGG sees 32x32 crops of 36x36 images. VGG11 with BatchNorm
  (``vgg11_bn``) stands in for the reports' VGG16: the plain VGGs do not leave chance
  level from scratch in the few hundred steps this exercise can afford.
* Fine-tuning as in the reports: the last Linear replaced (``replace_head``), SGD with
  momentum 0.9 and weight decay 5e-4, ``StepLR``, cross-entropy, random crops and
  horizontal flips for training. AlexNet: from scratch (same recipe, random weights) vs
  pretrained with the conv layers frozen (only the classifier learns) vs the classifier
  frozen (the conv layers and the new head learn) vs everything trained. VGG, dearer per
  step, only from scratch vs pretrained with the conv layers frozen. Every fine-tune
  starts from the same pretrained state dict, kept in memory.
* TenCrop at test time: the four corners, the centre and their mirror images of each
  72x72 (36x36) test image classified, the ten softmax outputs averaged - against the
  single centre crop.
* A learning-rate table (0.001, 0.01, 0.05) on the cheapest configuration: AlexNet with
  its conv layers frozen.

    python exercises/ex10_finetune_alexnet_vgg.py [--quick] [--out DIR] [--weights alexnet.npz]
                                                  [--vgg-weights vgg11_bn.npz]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

import minidl as md
import minidl.nn.functional as F
from minidl import models, nn, optim
from minidl.data import DataLoader, Dataset
from minidl.data import transforms as T
from minidl.data.datasets import Shapes
from minidl.optim.lr_scheduler import LinearLR, StepLR

SOURCE = ["circle", "ring", "square", "frame", "triangle", "diamond"]
TARGET = ["plus", "cross", "star", "crescent"]


def shapes(n: int, size: int, train: bool, classes: list[str], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` Shapes images as (n, 3, size, size) float32 in [0, 1], and their (n,) int64 labels."""
    ds = Shapes(n, size, train=train, classes=classes, seed=seed)
    return np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0, ds.targets.astype(np.int64)


class RandomCropFlip(Dataset):
    """Training augmentation on (N, C, S, S) arrays: a random ``crop`` x ``crop`` window, flipped half the time.

    torchvision's ``RandomCrop(crop)`` + ``RandomHorizontalFlip()``, done with numpy slicing
    on the already normalised array (much cheaper than a PIL round trip per image).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, crop: int, seed: int = 0) -> None:
        self.x, self.y, self.crop = x, y, crop
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        top, left = self.rng.integers(0, self.x.shape[-1] - self.crop + 1, 2)
        img = self.x[i, :, top : top + self.crop, left : left + self.crop]
        if self.rng.random() < 0.5:
            img = img[:, :, ::-1]
        return np.ascontiguousarray(img), self.y[i]


def centre(x: np.ndarray, crop: int) -> np.ndarray:
    """The central ``crop`` x ``crop`` window of (N, C, S, S) images (torchvision's ``CenterCrop``)."""
    o = (x.shape[-1] - crop) // 2
    return np.ascontiguousarray(x[:, :, o : o + crop, o : o + crop])


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, crop: int, tencrop: bool = False) -> float:
    """Test accuracy from the centre crop, or from the mean softmax of the ten crops (``T.TenCrop``).

    TenCrop: (N, C, S, S) -> 10 views (N, C, crop, crop) each; p = mean over views of
    softmax(model(view)); prediction argmax p.
    """
    model.eval()
    with md.no_grad():
        if tencrop:
            views = T.TenCrop(crop)(md.tensor(x))  # 10 tensors (N, C, crop, crop), batched crops of all images
            probs = sum(F.softmax(model(v), dim=1).numpy() for v in views) / len(views)
        else:
            probs = model(md.tensor(centre(x, crop))).numpy()
    return float(np.mean(np.argmax(probs, axis=1) == y))


def freeze_part(model: nn.Module, part: str) -> None:
    """Freeze ``features`` (the conv layers) or ``classifier`` (all its Linears but the new head)."""
    if part == "features":
        models.freeze(model, lambda n: n.startswith("features."))
    elif part == "classifier":
        models.freeze(model, lambda n: n.startswith("classifier.") and not n.startswith("classifier.6."))
    elif part != "none":
        raise ValueError(f"freeze_part: part must be 'features', 'classifier' or 'none', got {part!r}")


def train(model: nn.Module, opt: optim.Optimizer, data: dict[str, np.ndarray], crop: int, epochs: int, batch: int,
          scheduler: Any = None, frozen: str = "none", warmup: Any = None) -> list[float]:  # fmt: skip
    """Epochs on augmented crops; returns the centre-crop test accuracy after each epoch.

    ``scheduler`` steps once per epoch (``StepLR``), ``warmup`` once per batch (``LinearLR``).
    """
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(RandomCropFlip(data["xtr"], data["ytr"], crop), batch_size=batch, shuffle=True)
    curve = []
    for _ in range(epochs):
        model.train()
        if frozen == "features":  # frozen BatchNorm layers keep their (pretrained) running statistics
            model.features.eval()
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if warmup is not None:
                warmup.step()
        if scheduler is not None:
            scheduler.step()
        curve.append(accuracy(model, data["xte"], data["yte"], crop))
    return curve


def pretrain(model: nn.Module, data: dict[str, np.ndarray], crop: int, epochs: int, lr: float,
             batch: int = 64) -> list[float]:  # fmt: skip
    """The "ImageNet" stage: Adam on the source classes (all layers); returns the test accuracy per epoch.

    Adam rather than SGD here: with torch's default init a BatchNorm-free AlexNet sits at
    chance for hundreds of SGD steps (the signal shrinks through 8 layers); Adam's
    per-parameter step sizes get it moving within this exercise's budget. The lr rises
    linearly over the first 10 steps (``LinearLR``, stepped per batch): the huge Linears
    (9216 -> 4096 is fed 36 copies of each pooled feature, VGG's 25088 -> 4096 49 copies,
    so Adam's first full-size steps move their outputs a lot) otherwise throw the loss
    up at the start. Measured on this task: Adam 3e-4, batch 64 leaves the plateau
    (loss 1.79 = ln 6) after about 40 steps for AlexNet; 1e-3 (or 1e-4 with He init)
    blows the loss up and stays at chance; for vgg11_bn 1e-4 learns, while 1e-3 or SGD
    0.01-0.05 (momentum 0.9) blow up.
    """
    opt = optim.Adam(model.parameters(), lr=lr)
    warm = LinearLR(opt, start_factor=0.1, total_iters=10)
    return train(model, opt, data, crop, epochs, batch=batch, warmup=warm)


def finetune(label: str, model: nn.Module, n_classes: int, part: str, data: dict[str, np.ndarray], crop: int,
             lr: float, epochs: int, batch: int, tencrop: bool = True) -> dict[str, Any]:  # fmt: skip
    """New head, ``part`` frozen, SGD + StepLR; prints and returns accuracies (centre crop and TenCrop)."""
    models.replace_head(model, n_classes)
    freeze_part(model, part)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)
    sched = StepLR(opt, step_size=max(epochs - 1, 1), gamma=0.1)  # the last epoch at lr / 10
    t0 = time.perf_counter()
    curve = train(model, opt, data, crop, epochs, batch, sched, part)
    ten = accuracy(model, data["xte"], data["yte"], crop, tencrop=True) if tencrop else float("nan")
    n_train = sum(p.numel() for p in params)
    print(f"  {label:<44} trainable {n_train:>11,}  lr {lr:<6g} centre crop {curve[-1]:.3f}  TenCrop {ten:.3f}"
          f"   ({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
    return dict(label=label, acc=curve[-1], tencrop=ten, curve=curve, trainable=n_train, lr=lr)


def normalised(arrays: dict[str, tuple[np.ndarray, np.ndarray]], mean: np.ndarray, std: np.ndarray
               ) -> dict[str, np.ndarray]:  # fmt: skip
    """{"xtr", "ytr", "xte", "yte"} with images normalised by the source training set's channel mean/std."""
    (xtr, ytr), (xte, yte) = arrays["train"], arrays["test"]
    return dict(xtr=(xtr - mean) / std, ytr=ytr, xte=(xte - mean) / std, yte=yte)


def load_state(path: str, build: Any) -> nn.Module:
    """A model from ``build(num_classes=...)`` with a saved state dict (its class count read from the head)."""
    state = md.load(path)
    model = build(num_classes=int(np.asarray(state["classifier.6.weight"]).shape[0]))
    model.load_state_dict(state)
    return model


def experiment(name: str, build: Any, crop: int, weights: str | None, sizes: dict[str, Any], src_lr: float,
               parts: list[str], out: str) -> tuple[list[dict[str, Any]], dict[str, np.ndarray], Any]:  # fmt: skip
    """Pretrain ``name`` on the source classes (or load ``weights``), then fine-tune it on the target classes."""
    size = crop * 9 // 8  # 72 for 64 crops, 36 for 32: torchvision's Resize(256) + crop 224 is 8/7
    src = {"train": shapes(sizes["n_src"], size, True, SOURCE, 0), "test": shapes(200, size, False, SOURCE, 0)}
    mean = src["train"][0].mean(axis=(0, 2, 3), keepdims=True)
    std = src["train"][0].std(axis=(0, 2, 3), keepdims=True)
    tgt = normalised({"train": shapes(sizes["n_tgt"], size, True, TARGET, 1),
                      "test": shapes(sizes["n_test"], size, False, TARGET, 1)}, mean, std)  # fmt: skip
    print(f"\n=== {name}: {crop}x{crop} crops of {size}x{size} images ===")
    md.manual_seed(0)
    if weights:
        state = load_state(weights, build).state_dict()
        print(f"  pretrained weights from {weights}")
    else:
        net = build(num_classes=len(SOURCE), dropout=0.0)  # dropout slows the first steps; the weights are the same
        t0 = time.perf_counter()
        curve = pretrain(net, normalised(src, mean, std), crop, sizes["src_epochs"], src_lr, sizes["src_batch"])
        path = os.path.join(out, f"{name.lower().replace('-', '_')}_shapes6.npz")
        md.save(net.state_dict(), path)
        state = net.state_dict()
        print(f"  pretrained on {SOURCE}, {sizes['n_src']} images, {sizes['src_epochs']} epochs of batch"
              f" {sizes['src_batch']} (Adam lr {src_lr:g}, 10 warm-up steps):"
              f" source test accuracy {' '.join(f'{a:.3f}' for a in curve)} (chance {1 / len(SOURCE):.3f},"
              f" {time.perf_counter() - t0:.0f} s) -> {path}")  # fmt: skip
    print(f"  fine-tuning on {TARGET}: {sizes['n_tgt']} training, {sizes['n_test']} test images, SGD momentum 0.9,"
          f" weight decay 5e-4, StepLR, {sizes['epochs']} epochs, batch {sizes['batch']}")  # fmt: skip
    results = []
    n_out = len(TARGET)

    def pretrained() -> nn.Module:
        md.manual_seed(1)
        net = build(num_classes=int(np.asarray(state["classifier.6.weight"]).shape[0]))
        net.load_state_dict(state)
        return net

    md.manual_seed(1)
    results.append(finetune(f"{name} from scratch (all layers)", build(num_classes=1000), n_out, "none", tgt, crop,
                            sizes["lr"], sizes["epochs"], sizes["batch"]))  # fmt: skip
    what = {"features": "conv layers frozen", "classifier": "classifier frozen", "none": "all layers trained"}
    for part in parts:
        results.append(finetune(f"{name} pretrained, {what[part]}", pretrained(), n_out, part, tgt, crop,
                                sizes["lr"], sizes["epochs"], sizes["batch"]))  # fmt: skip
    return results, tgt, pretrained


def draw(path: str, results: list[dict[str, Any]], table: list[dict[str, Any]]) -> None:
    """Test accuracy per fine-tuning epoch for every run; the lr table and TenCrop vs centre crop as bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chance = 1 / len(TARGET)
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(17, 4.8), layout="constrained")
    for r in results:
        style = "o--" if "scratch" in r["label"] else "o-"
        a1.plot(range(1, len(r["curve"]) + 1), r["curve"], style, label=f"{r['label']} ({r['trainable']:,})")
    a1.axhline(chance, color="grey", ls=":", label="chance")
    a1.set_xlabel("fine-tuning epoch")
    a1.set_ylabel("test accuracy (centre crop)")
    a1.set_ylim(0, 1.02)
    a1.legend(fontsize=7)
    a1.set_title("From scratch vs pretrained; what is frozen\n(trainable parameters in brackets)", fontweight="bold")
    x = np.arange(len(results))
    a2.bar(x - 0.2, [r["acc"] for r in results], 0.4, label="centre crop")
    a2.bar(x + 0.2, [r["tencrop"] for r in results], 0.4, label="TenCrop average")
    a2.set_xticks(x, [r["label"].replace(" pretrained, ", "\n").replace(" from ", "\nfrom ") for r in results],
                  fontsize=7, rotation=30, ha="right")  # fmt: skip
    a2.axhline(chance, color="grey", ls=":")
    a2.set_ylim(0, 1.1)
    a2.legend()
    a2.set_title("TenCrop vs a single centre crop at test time", fontweight="bold")
    x = np.arange(len(table))
    a3.bar(x - 0.2, [r["acc"] for r in table], 0.4, label="centre crop")
    a3.bar(x + 0.2, [r["tencrop"] for r in table], 0.4, label="TenCrop average")
    a3.set_xticks(x, [f"lr {r['lr']:g}" for r in table])
    a3.axhline(chance, color="grey", ls=":")
    a3.set_ylim(0, 1.1)
    a3.legend()
    a3.set_title("Learning rate: AlexNet pretrained, conv layers frozen", fontweight="bold")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a few images, one epoch, AlexNet only (for CI)")
    p.add_argument("--out", default=os.path.join("exercises", "out", "ex10"), help="output folder")
    p.add_argument(
        "--weights",
        default=None,
        help="AlexNet state dict (.npz; torchvision names) to fine-tune from instead of pretraining",
    )
    p.add_argument("--vgg-weights", default=None, help="the same for vgg11_bn")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    q = args.quick
    # The time goes to the steps (an AlexNet step is half the 54.5M-parameter classifier), so
    # pretraining takes batches of 64 and each fine-tune a few steps of 24 images.
    alex = dict(n_src=48, src_epochs=1, src_batch=64, n_tgt=16, n_test=16, epochs=1, batch=16, lr=0.01) if q else \
        dict(n_src=3840, src_epochs=3, src_batch=64, n_tgt=120, n_test=160, epochs=4, batch=24, lr=0.01)  # fmt: skip
    vgg = dict(alex, n_src=1024, src_epochs=3)  # a VGG step costs ~3.5 AlexNet steps (a 25088 -> 4096 Linear)
    results, tgt, pretrained = experiment(
        "AlexNet",
        models.alexnet,
        64,
        args.weights,
        alex,
        3e-4,
        ["features"] if q else ["features", "classifier", "none"],
        args.out,
    )
    if not q:
        # VGG: only the one comparison (pretrained, conv frozen vs scratch); the freezing and
        # lr studies run on AlexNet, which is cheaper per step.
        vgg_results, _, _ = experiment("VGG11-BN", models.vgg11_bn, 32, args.vgg_weights, vgg, 1e-4,
                                       ["features"], args.out)  # fmt: skip
        results += vgg_results

    print("\n=== learning-rate table: AlexNet pretrained, conv layers frozen (the cheapest run) ===")
    table = [r for r in results if r["label"] == "AlexNet pretrained, conv layers frozen"]
    for lr in [] if q else [0.001, 0.05]:
        table.append(finetune("AlexNet pretrained, conv layers frozen", pretrained(), len(TARGET), "features", tgt,
                              64, lr, alex["epochs"], alex["batch"]))  # fmt: skip
    table.sort(key=lambda r: r["lr"])
    print(f"\n  {'lr':>6}  {'centre crop':>11}  {'TenCrop':>8}")
    for r in table:
        print(f"  {r['lr']:>6g}  {r['acc']:>11.3f}  {r['tencrop']:>8.3f}")

    print(f"\n=== summary: test accuracy on {TARGET} (chance {1 / len(TARGET):.3f}) ===")
    print(f"  {'run':<44}  {'trainable':>11}  {'centre crop':>11}  {'TenCrop':>8}")
    for r in results:
        print(f"  {r['label']:<44}  {r['trainable']:>11,}  {r['acc']:>11.3f}  {r['tencrop']:>8.3f}")
    # The transfer lesson in one number per net: what pretrained conv features add over training from scratch.
    # (With the budget here VGG11-BN reaches only about 1/3 on the source task, so its gain stays near 0.)
    by = {r["label"]: r["acc"] for r in results}
    for net in ("AlexNet", "VGG11-BN"):
        if f"{net} pretrained, conv layers frozen" in by:
            gain = by[f"{net} pretrained, conv layers frozen"] - by[f"{net} from scratch (all layers)"]
            print(f"  {net}: pretrained conv layers (frozen) vs from scratch: {gain:+.3f}")
    path = os.path.join(args.out, "finetune_alexnet_vgg.png")
    draw(path, results, table)
    print(f"\nfigure: {path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
