"""The main demo, the README's first command: ``python -m minidl.demo``.

Trains a small CNN on the generated Shapes task (32x32 colour images of ten kinds of
shapes, a CIFAR-like problem that needs no download) with SGD + Nesterov momentum,
BatchNorm, dropout, data augmentation (random flips and padded random crops) and a
one-cycle learning-rate schedule; prints the test accuracy and writes the loss/accuracy
curves, the first layer's filters and a gradient-descent plot on the Schaffer function to an
output folder. About a minute on 2 cores.

``--autograd`` instead runs the tiny raw-tensor demo: two spirals learned by a network
whose every gradient comes from minidl's autograd.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

import minidl as md
from minidl import nn, optim
from minidl.data import DataLoader, datasets
from minidl.data import transforms as T
from minidl.train import evaluate, fit

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def demo_cnn(num_classes: int = 10) -> nn.Module:
    """conv-BN-ReLU-pool x3, adaptive average pool, dropout, linear (about 100k parameters)."""

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(
        *block(3, 24), *block(24, 48), *block(48, 96),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(96, num_classes),
    )  # fmt: skip


def plot_filters(weight: np.ndarray, path: Path) -> None:
    """The first conv layer's filters as small RGB images, each normalised to [0, 1]."""
    import matplotlib.pyplot as plt

    n = weight.shape[0]
    cols = 8
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9))
    for i, ax in enumerate(np.asarray(axes).reshape(-1)):
        ax.axis("off")
        if i < n:
            w = weight[i].transpose(1, 2, 0)
            ax.imshow((w - w.min()) / (np.ptp(w) + 1e-8), interpolation="nearest")
    fig.suptitle("First-layer filters")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_cnn(args: argparse.Namespace) -> float:
    import matplotlib

    matplotlib.use("Agg")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    md.manual_seed(args.seed)
    train_tf = T.Compose([T.RandomHorizontalFlip(), T.RandomCrop(32, padding=4, padding_mode="reflect"),
                          T.ToTensor(), T.Normalize(MEAN, STD)])  # fmt: skip
    test_tf = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])
    n_train, n_test = (1000, 300) if args.quick else (args.train_size, 2000)
    train = datasets.Shapes(n=n_train, train=True, seed=args.seed, transform=train_tf)
    test = datasets.Shapes(n=n_test, train=False, seed=args.seed, transform=test_tf)
    train_loader = DataLoader(train, batch_size=64, shuffle=True)
    test_loader = DataLoader(test, batch_size=256)
    model = demo_cnn(len(train.classes))
    epochs = 2 if args.quick else args.epochs
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, epochs=epochs, steps_per_epoch=len(train_loader))
    print(f"minidl demo: a {sum(p.numel() for p in model.parameters()):,}-parameter CNN on Shapes "
          f"({len(train)} train / {len(test)} test images, {len(train.classes)} classes), "
          f"SGD + Nesterov, {epochs} epochs")  # fmt: skip
    start = time.perf_counter()
    history = fit(model, nn.CrossEntropyLoss(), opt, train_loader, epochs, val_loader=test_loader, scheduler=sched,
                  progress=None if not args.quick else False)  # fmt: skip
    result = evaluate(model, test_loader, nn.CrossEntropyLoss())
    print(f"test accuracy {result['accuracy']:.3f} (loss {result['loss']:.3f}) after "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip
    history.plot(out / "curves.png", title="minidl demo: CNN on Shapes")
    plot_filters(model[0].weight.detach().numpy(), out / "filters.png")
    md.save(model.state_dict(), out / "demo_cnn.npz")
    descent_plot(out / "schaffer_descent.png", steps=100 if args.quick else 400)
    print(f"wrote {out / 'curves.png'}, {out / 'filters.png'}, {out / 'schaffer_descent.png'} and "
          f"{out / 'demo_cnn.npz'}")  # fmt: skip
    return result["accuracy"]


def descent_plot(path: Path, steps: int = 400) -> None:
    """Gradient descent, momentum and Nesterov (beta 0.9) on Schaffer N.2 (COURSEWORK.md section 1)."""
    from minidl import landscapes

    landscapes.compare(landscapes.get("schaffer_n2"), (1.2, 0.9), ["gd", "momentum", "nesterov"], path,
                       lr=0.01, steps=steps, domain=((-1.6, 1.6), (-1.6, 1.6)),
                       title="Schaffer N.2: GD vs momentum vs Nesterov")  # fmt: skip


# ---------------------------------------------------------------------------- autograd demo
def spirals(n: int, seed: int = 0) -> tuple[md.Tensor, md.Tensor]:
    """``n`` points per class on two interleaved spirals: inputs (2n, 2), labels (2n,)."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.05, 1, n)) * 3 * math.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * math.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0, 0.03, (2 * n, 2))
    y = np.concatenate([np.zeros(n), np.ones(n)]).astype(np.int64)
    return md.tensor(x, dtype=md.float32), md.tensor(y)


def run_autograd(steps: int = 3000, lr: float = 1.0) -> float:
    """Two spirals learned by raw tensors and autograd, plain gradient descent."""
    md.manual_seed(0)
    x, y = spirals(200)
    hidden = 64
    w1 = (md.randn(2, hidden) * math.sqrt(2 / 2)).requires_grad_()
    b1 = md.zeros(hidden, requires_grad=True)
    w2 = (md.randn(hidden, 2) * math.sqrt(1 / hidden)).requires_grad_()
    b2 = md.zeros(2, requires_grad=True)
    params = [w1, b1, w2, b2]
    acc = 0.0
    for step in range(steps + 1):
        logits = (x @ w1 + b1).tanh() @ w2 + b2  # (400, 2)
        loss = -logits.log_softmax(dim=1)[md.arange(len(y)), y].mean()  # cross-entropy
        for p in params:
            p.grad = None
        loss.backward()
        with md.no_grad():
            for p in params:
                p -= lr * p.grad
        if step % (steps // 5 or 1) == 0:
            acc = (logits.argmax(1) == y).float().mean().item()
            print(f"step {step:5d}  loss {loss.item():.4f}  accuracy {acc:.3f}")
    return acc


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="minidl-demo", help="folder for the figures and weights (created)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train-size", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a few seconds: tiny data, 2 epochs (for tests)")
    parser.add_argument("--autograd", action="store_true", help="run the raw-tensor spirals demo instead")
    parser.add_argument("--steps", type=int, default=3000, help="steps of the --autograd demo")
    args = parser.parse_args(argv)
    if args.autograd:
        return run_autograd(args.steps)
    return run_cnn(args)


if __name__ == "__main__":
    main()
