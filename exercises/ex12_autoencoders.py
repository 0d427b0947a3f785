"""Exercise 12 - autoencoders (COURSEWORK.md section 5, the prose questions made runnable).

* MLP autoencoders (``minidl.models.Autoencoder``, sigmoid output) on scikit-learn's 8x8
  handwritten digits (``Digits``, pixels scaled to [0, 1]), all trained with Adam:
  - reconstruction loss MSE vs binary cross-entropy (BCE: the pixels read as
    probabilities; its gradient does not vanish when the sigmoid saturates);
  - sparse (``SparseAutoencoder``): a wider code with an L1 or a KL penalty, most code
    units silent for any one image;
  - denoising (``DenoisingAutoencoder``): fresh Gaussian noise on every forward pass in
    training, so every epoch sees new noise; the loss compares with the clean image.
* Prints a loss table (test MSE on clean and on noisy images, active code units) and
  saves a grid of reconstructions and the training curves.

    python exercises/ex12_autoencoders.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import minidl as md
import minidl.nn.functional as F
from minidl import models, nn, optim
from minidl.data.datasets import Digits

NOISE = 0.3


def train(model: nn.Module, x: np.ndarray, loss: str, epochs: int, lr: float = 3e-3, batch: int = 64) -> list[float]:
    opt = optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(0)
    curve = []
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(x))
        total = 0.0
        for i in range(0, len(x), batch):
            xb = md.tensor(x[order[i:i + batch]])
            out = model(xb)
            out_c = out.clamp(1e-6, 1 - 1e-6)
            rec = F.binary_cross_entropy(out_c, xb) if loss == "bce" else F.mse_loss(out, xb)
            obj = rec + model.sparsity_penalty() if isinstance(model, models.SparseAutoencoder) else rec
            opt.zero_grad()
            obj.backward()
            opt.step()
            total += float(rec.item()) * len(xb)
        curve.append(total / len(x))
    model.eval()
    return curve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a few epochs on a subset (for CI)")
    p.add_argument("--out", default=os.path.join("exercises", "out", "ex12"), help="output folder")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    md.manual_seed(0)
    epochs = 3 if args.quick else 60
    xtr = Digits(train=True).data.reshape(-1, 64).astype(np.float32) / 255.0
    xte = Digits(train=False).data.reshape(-1, 64).astype(np.float32) / 255.0
    if args.quick:
        xtr = xtr[:256]
    rng = np.random.default_rng(1)
    xte_noisy = np.clip(xte + NOISE * rng.standard_normal(xte.shape), 0, 1).astype(np.float32)
    print(f"=== Digits 8x8 -> 64 inputs in [0, 1]: {len(xtr)} train, {len(xte)} test;"
          f" Adam lr 3e-3, {epochs} epochs ===")

    def ae(latent: int = 16) -> nn.Module:
        return models.Autoencoder(64, hidden_features=(48,), latent_features=latent)

    runs: dict[str, tuple[nn.Module, str]] = {
        "MSE loss": (ae(), "mse"),
        "BCE loss": (ae(), "bce"),
        "sparse L1 (64-unit code)": (models.SparseAutoencoder(64, (48,), 64, sparsity="l1", sparsity_weight=1e-3),
                                     "bce"),
        "sparse KL (64-unit code)": (models.SparseAutoencoder(64, (48,), 64, sparsity="kl", rho=0.05,
                                                               sparsity_weight=3e-2), "bce"),  # fmt: skip
        "denoising (fresh noise)": (models.DenoisingAutoencoder(ae(), noise_std=NOISE), "bce"),
    }
    curves: dict[str, list[float]] = {}
    recon: dict[str, np.ndarray] = {}
    print(f"\n  {'model':<26} {'loss':<4} {'test MSE':>9} {'test MSE, noisy in':>19} {'active code units':>18}")
    for name, (model, loss) in runs.items():
        curves[name] = train(model, xtr, loss, epochs)
        with md.no_grad():
            clean = model(md.tensor(xte)).numpy()
            noisy = model(md.tensor(xte_noisy)).numpy()
            inner = model.autoencoder if isinstance(model, models.DenoisingAutoencoder) else model
            code = inner.encode(md.tensor(xte)).numpy()
        kl = isinstance(model, models.SparseAutoencoder) and model.sparsity == "kl"
        active = float((code > (0.1 if kl else 1e-3)).mean())
        mse, mse_noisy = float(((clean - xte) ** 2).mean()), float(((noisy - xte) ** 2).mean())
        recon[name] = np.stack([clean[:8], noisy[:8]])
        print(f"  {name:<26} {loss:<4} {mse:>9.4f} {mse_noisy:>19.4f}"
              f" {active * code.shape[1]:>8.1f} of {code.shape[1]:<3}")
    print(f"  (noisy input itself: test MSE {float(((xte_noisy - xte) ** 2).mean()):.4f}, noise std {NOISE})")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("original", xte[:8]), (f"noisy (std {NOISE})", xte_noisy[:8])]
    for name, r in recon.items():
        rows.append((name, r[0]))
    rows.append(("denoising AE on noisy", recon["denoising (fresh noise)"][1]))
    rows.append(("MSE AE on noisy", recon["MSE loss"][1]))
    fig, axes = plt.subplots(len(rows), 8, figsize=(8, 1.1 * len(rows) + 0.6), layout="constrained")
    for r, (label, imgs) in enumerate(rows):
        for c in range(8):
            axes[r, c].imshow(imgs[c].reshape(8, 8), cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle("Autoencoder reconstructions of test digits", fontweight="bold")
    p1 = os.path.join(args.out, "reconstructions.png")
    fig.savefig(p1, dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    for name, c in curves.items():
        ax.plot(range(1, len(c) + 1), c, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training reconstruction loss (its own loss)")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title("Training curves (Adam)", fontweight="bold")
    p2 = os.path.join(args.out, "training_curves.png")
    fig.savefig(p2, dpi=100)
    plt.close(fig)
    print(f"\nfigures: {p1}, {p2}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
