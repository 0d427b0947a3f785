"""Exercise 2 - output sizes and parameter counts (COURSEWORK.md sections 3 and 4).

* The output-size rule ``out = floor((w - k + 2p) / s) + 1`` (with dilation d the filter
  spans ``d(k - 1) + 1``) for the course's cases - 128x128x32 with sixteen 3x3 filters ->
  126x126x16, the same with stride 2 -> 63x63x16, a 1x1 convolution with 16 filters turning
  64x64x32 into 64x64x16 - and a few more (padding, pooling, dilation); each is checked by
  running the layer on a zero input and compared with ``minidl.nn.utils.conv_output_size``.
* LeNet's parameters counted by hand, layer by layer (conv: ``kh*kw*cin*cout + cout``,
  dense: ``in*out + out``) = 390,410, checked with ``minidl.train.summary``. The LeNet is
  built here from ``nn`` layers (and compared with ``minidl.models.LeNet`` when present).
* A figure: LeNet's parameters per layer and its feature-map sizes.

    python exercises/ex02_output_sizes_and_parameters.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

import minidl as md
from minidl import nn
from minidl.nn.utils import conv_output_size
from minidl.train import summary

# (description, input (C, H, W), layer factory)
CASES = [
    ("128x128x32, sixteen 3x3 filters (course)", (32, 128, 128), lambda: nn.Conv2d(32, 16, 3)),
    ("  ... with stride 2 (course)", (32, 128, 128), lambda: nn.Conv2d(32, 16, 3, stride=2)),
    ("64x64x32, 1x1 conv with 16 filters (course)", (32, 64, 64), lambda: nn.Conv2d(32, 16, 1)),
    ("32x32x3, 5x5 conv, padding 2 ('same')", (3, 32, 32), lambda: nn.Conv2d(3, 32, 5, padding=2)),
    ("32x32x3, 11x11 conv, stride 4, padding 2", (3, 32, 32), lambda: nn.Conv2d(3, 8, 11, stride=4, padding=2)),
    ("32x32x8, 3x3 conv, dilation 2", (8, 32, 32), lambda: nn.Conv2d(8, 8, 3, dilation=2)),
    ("32x32x8, 2x2 max-pool, stride 2", (8, 32, 32), lambda: nn.MaxPool2d(2)),
    ("31x31x8, 3x3 max-pool, stride 2", (8, 31, 31), lambda: nn.MaxPool2d(3, stride=2)),
]


class LeNet(nn.Module):
    """COURSEWORK §3's LeNet: three 5x5 'same' convs 3->32->64->128 with ReLU and 2x2 max-pool, 2048->64->10."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),    # 32x32 -> 16x16
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),   # -> 8x8
            nn.Conv2d(64, 128, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # -> 4x4
        )  # fmt: skip
        self.classifier = nn.Sequential(nn.Linear(4 * 4 * 128, 64), nn.ReLU(), nn.Linear(64, num_classes))

    def forward(self, x: md.Tensor) -> md.Tensor:
        return self.classifier(md.flatten(self.features(x), 1))


def layer_geometry(layer: nn.Module) -> tuple[int, int, int, int, int]:
    """(cout or None, k, s, p, d) of a Conv2d or MaxPool2d."""

    def one(v: object) -> int:
        return int(v[0]) if isinstance(v, (tuple, list)) else int(v)  # type: ignore[index]

    k = one(layer.kernel_size)
    s = one(layer.stride if layer.stride is not None else k)
    p = one(layer.padding)
    d = one(getattr(layer, "dilation", 1))
    cout = getattr(layer, "out_channels", None)
    return cout, k, s, p, d


def output_sizes() -> list[dict[str, object]]:
    print("=== output size: out = floor((w - d(k-1) - 1 + 2p) / s) + 1   (d = 1: floor((w - k + 2p) / s) + 1) ===")
    rows = []
    for desc, (c, h, w), make in CASES:
        layer = make()
        cout, k, s, p, d = layer_geometry(layer)
        span = d * (k - 1) + 1
        by_hand = math.floor((w - span + 2 * p) / s) + 1
        util = conv_output_size(w, k, s, p, d)
        y = layer(md.zeros(1, c, h, w))
        got = tuple(y.shape[1:])
        expect_c = cout if cout is not None else c
        assert by_hand == util == got[1] == got[2], (desc, by_hand, util, got)
        assert got[0] == expect_c
        formula = f"floor(({w} - {span} + 2*{p}) / {s}) + 1 = {by_hand}"
        print(f"  {desc:<44} {formula:<36} -> {by_hand}x{by_hand}x{expect_c}"
              f"   (ran {type(layer).__name__}: {got[1]}x{got[2]}x{got[0]} OK)")  # fmt: skip
        rows.append(dict(case=desc.strip(), out=(by_hand, by_hand, expect_c)))
    return rows


def count_by_hand(model: nn.Module, input_size: tuple[int, int, int]) -> tuple[list[tuple[str, int, str]], int]:
    print("\n=== LeNet parameters by hand (conv: kh*kw*cin*cout + cout; dense: in*out + out) ===")
    c, h, w = input_size
    rows = []
    total = 0
    for name, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            kh, kw = (m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size,) * 2)
            n = kh * kw * m.in_channels * m.out_channels + m.out_channels
            expr = f"{kh}*{kw}*{m.in_channels}*{m.out_channels} + {m.out_channels}"
            _, k, s, p, d = layer_geometry(m)
            h = conv_output_size(h, k, s, p, d)
            w = conv_output_size(w, k, s, p, d)
            c = m.out_channels
            shape = f"{h}x{w}x{c}"
        elif isinstance(m, nn.MaxPool2d):
            _, k, s, p, d = layer_geometry(m)
            h = conv_output_size(h, k, s, p, d)
            w = conv_output_size(w, k, s, p, d)
            print(f"  {name:<14} {'max-pool 2x2: no parameters':<34} {0:>9,}   -> {h}x{w}x{c}")
            continue
        elif isinstance(m, nn.Linear):
            n = m.in_features * m.out_features + m.out_features
            expr = f"{m.in_features}*{m.out_features} + {m.out_features}"
            shape = f"{m.out_features}"
        else:
            continue
        total += n
        rows.append((name, n, shape))
        print(f"  {name:<14} {expr:<34} {n:>9,}   -> {shape}")
    print(f"  {'total':<14} {'':<34} {total:>9,}")
    return rows, total


def draw(out_dir: str, rows: list[tuple[str, int, str]], total: int, sizes: list[tuple[str, int, int]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 5.2), layout="constrained")
    names = [r[0] for r in rows]
    counts = [r[1] for r in rows]
    bars = a1.barh(names[::-1], counts[::-1], color=["#4e79a7"] * 2 + ["#f28e2b"] * 3)
    for b, n in zip(bars, counts[::-1]):
        a1.text(b.get_width() * 1.02, b.get_y() + b.get_height() / 2, f"{n:,} ({n / total:.0%})", va="center",
                fontsize=10)  # fmt: skip
    a1.set_xlim(0, max(counts) * 1.45)
    a1.set_xlabel("parameters")
    a1.set_title(f"LeNet parameters per layer: total {total:,}\n(orange: conv layers, blue: dense layers)",
                 fontsize=12, fontweight="bold")  # fmt: skip
    labels = [s[0] for s in sizes]
    hw = [s[1] for s in sizes]
    ch = [s[2] for s in sizes]
    x = np.arange(len(sizes))
    a2.bar(x - 0.2, hw, 0.4, label="height = width", color="#59a14f")
    a2b = a2.twinx()
    a2b.bar(x + 0.2, ch, 0.4, label="channels", color="#e15759")
    for i in range(len(sizes)):
        a2.text(x[i], 0.95, f"{hw[i]}x{hw[i]}\nx{ch[i]}", ha="center", va="top", fontsize=9,
                transform=a2.get_xaxis_transform())  # fmt: skip
    a2.set_ylim(0, max(hw) * 1.35)
    a2b.set_ylim(0, max(ch) * 1.35)
    a2.set_xticks(x, labels, rotation=30, ha="right", fontsize=9)
    a2.set_ylabel("height = width", color="#59a14f")
    a2b.set_ylabel("channels", color="#e15759")
    a2.set_title("LeNet feature maps (height x width x channels):\n'same' convs keep the size, each 2x2 pool halves it",
                 fontsize=12, fontweight="bold")  # fmt: skip
    path = os.path.join(out_dir, "lenet_parameters.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="(same work: this exercise is fast)")
    p.add_argument("--out", default=os.path.join("exercises", "out", "ex02"), help="output folder")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()

    output_sizes()

    model = LeNet()
    rows, total = count_by_hand(model, (3, 32, 32))
    print("\n=== minidl.train.summary(LeNet(), (3, 32, 32)) ===")
    s = summary(model, (3, 32, 32))
    assert total == s.total_params == 390_410, (total, s.total_params)
    print(f"by hand {total:,} == summary {s.total_params:,} == the course's 390,410: OK")
    import minidl.models

    if hasattr(minidl.models, "LeNet"):
        n_zoo = sum(p.numel() for p in minidl.models.LeNet().parameters())
        assert n_zoo == total, n_zoo
        print(f"minidl.models.LeNet() has the same {n_zoo:,} parameters: OK")

    sizes = [("input", 32, 3)]
    x = md.zeros(1, 3, 32, 32)
    for name, m in model.features.named_children():
        x = m(x)
        if not isinstance(m, nn.ReLU):
            sizes.append((f"{type(m).__name__} ({name})", x.shape[2], x.shape[1]))
    path = draw(args.out, rows, total, sizes)
    print(f"\nfigure: {path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
