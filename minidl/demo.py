"""The short autograd demo the README's first command runs: ``python -m minidl.demo``.

A two-layer network written with raw tensors learns two interleaved spirals by plain
gradient descent: every gradient comes from minidl's autograd. No download, no GPU.
(Once ``minidl.nn``/``minidl.optim`` land, the main demo trains the course CNN instead.)
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import minidl as md


def spirals(n: int, seed: int = 0) -> tuple[md.Tensor, md.Tensor]:
    """``n`` points per class on two interleaved spirals: inputs (2n, 2), labels (2n,)."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.05, 1, n)) * 3 * math.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * math.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0, 0.03, (2 * n, 2))
    y = np.concatenate([np.zeros(n), np.ones(n)]).astype(np.int64)
    return md.tensor(x, dtype=md.float32), md.tensor(y)


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=1.0)
    args = parser.parse_args(argv)

    md.manual_seed(0)
    x, y = spirals(200)
    hidden = 64
    w1 = (md.randn(2, hidden) * math.sqrt(2 / 2)).requires_grad_()
    b1 = md.zeros(hidden, requires_grad=True)
    w2 = (md.randn(hidden, 2) * math.sqrt(1 / hidden)).requires_grad_()
    b2 = md.zeros(2, requires_grad=True)
    params = [w1, b1, w2, b2]

    for step in range(args.steps + 1):
        logits = (x @ w1 + b1).tanh() @ w2 + b2           # (400, 2)
        logp = logits.log_softmax(dim=1)                  # stable log-probabilities
        loss = -logp[md.arange(len(y)), y].mean()         # cross-entropy
        for p in params:
            p.grad = None
        loss.backward()
        with md.no_grad():
            for p in params:
                p -= args.lr * p.grad
        if step % (args.steps // 5 or 1) == 0:
            acc = (logits.argmax(1) == y).float().mean().item()
            print(f"step {step:5d}  loss {loss.item():.4f}  accuracy {acc:.3f}")
    return acc


if __name__ == "__main__":
    main()
