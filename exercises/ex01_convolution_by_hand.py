"""Exercise 1 - convolution and max pooling by hand (COURSEWORK.md section 4, the worked examples).

A small 6x6 image and a 3x3 filter are convolved four ways, each with plain Python loops
that print every sliding window, the element-wise products and their sum:

1. without padding                        (6x6 -> 4x4),
2. with zero padding 1 ('same')            (6x6 -> 6x6),
3. dilated, dilation 2, zero padding 2     (6x6 -> 6x6: the 3x3 filter covers 5x5),
4. 2x2 max pooling, stride 2               (6x6 -> 3x3).

Each hand result is then checked against ``minidl.nn.functional.conv2d`` / ``max_pool2d``
(``assert`` equal), and a figure shows the image, the filter and the four results with
their numbers, and one highlighted window per case.

Note: deep-learning "convolution" (PyTorch's and minidl's ``conv2d``) is cross-correlation:
the filter is slid over the image *without* being flipped.

    python exercises/ex01_convolution_by_hand.py [--quick] [--out DIR] [--all-windows]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import minidl as md
import minidl.nn.functional as F

# the worked example: a small integer image with an edge and a bright blob, and a
# vertical-edge (Sobel-like) filter
IMAGE = np.array(
    [
        [1, 2, 0, 1, 3, 0],
        [0, 1, 3, 2, 1, 1],
        [2, 0, 1, 4, 0, 2],
        [1, 3, 2, 0, 1, 0],
        [0, 1, 0, 2, 3, 1],
        [2, 0, 1, 1, 0, 2],
    ],
    dtype=np.float64,
)
FILTER = np.array(
    [
        [1, 0, -1],
        [2, 0, -2],
        [1, 0, -1],
    ],
    dtype=np.float64,
)


def fmt_matrix(a: np.ndarray, indent: str = "    ", width: int = 4) -> str:
    return "\n".join(indent + " ".join(f"{v:>{width}g}" for v in row) for row in a)


def conv2d_by_hand(img: np.ndarray, k: np.ndarray, padding: int = 0, dilation: int = 1, stride: int = 1,
                   show: int | None = 3, title: str = "") -> np.ndarray:  # fmt: skip
    """Cross-correlate ``img`` with ``k`` using loops, printing windows, products and sums.

    ``show``: how many windows to print in full (None: all); the rest print only their sum.
    """
    h, w = img.shape
    kh, kw = k.shape
    padded = np.zeros((h + 2 * padding, w + 2 * padding))
    padded[padding : padding + h, padding : padding + w] = img
    span_h, span_w = dilation * (kh - 1) + 1, dilation * (kw - 1) + 1  # what the (dilated) filter covers
    oh = (h + 2 * padding - span_h) // stride + 1
    ow = (w + 2 * padding - span_w) // stride + 1
    print(f"\n=== {title} ===")
    print(f"input {h}x{w}, zero padding {padding} -> padded {padded.shape[0]}x{padded.shape[1]}; "
          f"filter {kh}x{kw}, dilation {dilation} covers {span_h}x{span_w}; stride {stride}")  # fmt: skip
    print(f"output size = floor(({h} + 2*{padding} - {span_h}) / {stride}) + 1 = {oh}  ->  {oh}x{ow}")
    if padding:
        print("padded input:\n" + fmt_matrix(padded))
    out = np.zeros((oh, ow))
    n = 0
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride, j * stride
            window = padded[r0 : r0 + span_h : dilation, c0 : c0 + span_w : dilation]  # every dilation-th pixel
            products = window * k + 0.0  # + 0.0 turns -0 into 0 for printing
            total = 0.0
            for a in range(kh):  # the sum, as a loop: nothing hidden
                for b in range(kw):
                    total += products[a, b]
            out[i, j] = total
            if show is None or n < show:
                rows = f"rows {r0}..{r0 + span_h - 1:<2}" + (f" step {dilation}" if dilation > 1 else "")
                cols = f"cols {c0}..{c0 + span_w - 1}" + (f" step {dilation}" if dilation > 1 else "")
                print(f"  out[{i},{j}]: window = padded[{rows}, {cols}]")
                for wr, pr, kr in zip(window, products, k):
                    print("     " + " ".join(f"{v:>3g}" for v in wr) + "   *   "
                          + " ".join(f"{v:>3g}" for v in kr) + "   =   "
                          + " ".join(f"{v:>4g}" for v in pr))  # fmt: skip
                terms = " + ".join(f"({v:g})" for v in products.ravel())
                print(f"     sum = {terms} = {total:g}")
            elif show is not None and n == show:
                print(f"  ... (the other {oh * ow - show} windows the same way; --all-windows prints them)")
            n += 1
    print("result:\n" + fmt_matrix(out))
    return out


def max_pool_by_hand(img: np.ndarray, size: int = 2, stride: int = 2, show: int | None = 3) -> np.ndarray:
    h, w = img.shape
    oh, ow = (h - size) // stride + 1, (w - size) // stride + 1
    print(f"\n=== 4. {size}x{size} max pooling, stride {stride} ===")
    print(f"output size = floor(({h} - {size}) / {stride}) + 1 = {oh}  ->  {oh}x{ow}")
    out = np.zeros((oh, ow))
    n = 0
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride, j * stride
            window = img[r0 : r0 + size, c0 : c0 + size]
            best = window[0, 0]
            for v in window.ravel():
                if v > best:
                    best = v
            out[i, j] = best
            if show is None or n < show:
                vals = ", ".join(f"{v:g}" for v in window.ravel())
                print(f"  out[{i},{j}]: window rows {r0}..{r0 + size - 1}, cols {c0}..{c0 + size - 1} = "
                      f"[{vals}]  ->  max = {best:g}")  # fmt: skip
            elif show is not None and n == show:
                print(f"  ... (the other {oh * ow - show} windows the same way)")
            n += 1
    print("result:\n" + fmt_matrix(out))
    return out


def as_nchw(a: np.ndarray) -> md.Tensor:
    return md.tensor(a[None, None].copy())


def draw(out_dir: str, results: dict[str, np.ndarray]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    panels = [
        ("input image 6x6", IMAGE, "Greys", None),
        ("3x3 filter (vertical edges)", FILTER, "RdBu_r", None),
        ("1. no padding -> 4x4", results["valid"], "RdBu_r", None),
        ("2. zero padding 1 -> 6x6", results["same"], "RdBu_r", None),
        ("3. dilation 2, zero padding 2 -> 6x6", results["dilated"], "RdBu_r", None),
        ("4. 2x2 max pool, stride 2 -> 3x3", results["pool"], "Greys", None),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(13, 8.6), layout="constrained")
    for ax, (title, a, cmap, _) in zip(axes.ravel(), panels):
        lim = float(np.abs(a).max()) or 1.0
        vmin, vmax = (-lim, lim) if cmap == "RdBu_r" else (0, lim * 1.6)
        ax.imshow(a, cmap=cmap, vmin=vmin, vmax=vmax)
        for (r, c), v in np.ndenumerate(a):
            shade = (v - vmin) / (vmax - vmin)
            dark = shade > 0.8 or shade < 0.2 if cmap == "RdBu_r" else shade > 0.6
            ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=12, fontweight="bold",
                    color="white" if dark else "black")  # fmt: skip
        ax.set_title(title, fontsize=12, fontweight="bold")
        ax.set_xticks(range(a.shape[1]))
        ax.set_yticks(range(a.shape[0]))
        ax.tick_params(labelsize=8)
    # highlight which input pixels produce out[0,0] (no padding), out[1,1] (dilated), pool out[0,0]
    img_ax = axes[0, 0]
    img_ax.add_patch(Rectangle((-0.5, -0.5), 3, 3, fill=False, ec="tab:orange", lw=3, label="no-padding out[0,0]"))
    for r in (0, 2, 4):  # dilated out[2,2] with padding 2 reads input rows/cols 0, 2, 4
        for c in (0, 2, 4):
            img_ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="tab:green", lw=2.5, ls="--"))
    img_ax.add_patch(Rectangle((3.5, 3.5), 2, 2, fill=False, ec="tab:purple", lw=3))
    axes[0, 2].add_patch(Rectangle((-0.5, -0.5), 1, 1, fill=False, ec="tab:orange", lw=3))
    axes[1, 1].add_patch(Rectangle((1.5, 1.5), 1, 1, fill=False, ec="tab:green", lw=3, ls="--"))
    axes[1, 2].add_patch(Rectangle((1.5, 1.5), 1, 1, fill=False, ec="tab:purple", lw=3))
    img_ax.set_xlabel("orange: window of no-padding out[0,0]\ngreen dashed: dilated out[2,2]\n"
                      "purple: max-pool out[2,2]", fontsize=9)  # fmt: skip
    fig.suptitle("Convolution by hand (cross-correlation, as conv2d): checked against F.conv2d / F.max_pool2d",
                 fontsize=13, fontweight="bold")  # fmt: skip
    path = os.path.join(out_dir, "convolution_by_hand.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="(same work: this exercise is instant)")
    p.add_argument("--out", default=os.path.join("exercises", "out", "ex01"), help="output folder")
    p.add_argument("--all-windows", action="store_true", help="print every window, not the first three")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    show = None if args.all_windows else 3

    print("input image (6x6):\n" + fmt_matrix(IMAGE))
    print("filter (3x3):\n" + fmt_matrix(FILTER))
    results = {
        "valid": conv2d_by_hand(IMAGE, FILTER, padding=0, show=None if args.all_windows else 4,
                                title="1. convolution without padding"),  # fmt: skip
        "same": conv2d_by_hand(IMAGE, FILTER, padding=1, show=show, title="2. convolution with zero padding 1"),
        "dilated": conv2d_by_hand(IMAGE, FILTER, padding=2, dilation=2, show=show,
                                  title="3. dilated convolution (dilation 2) with zero padding 2"),  # fmt: skip
        "pool": max_pool_by_hand(IMAGE, 2, 2, show=show),
    }

    print("\n=== checks against minidl ===")
    x, w = as_nchw(IMAGE), md.tensor(FILTER[None, None].copy())
    checks = {
        "valid": ("F.conv2d(x, w)", F.conv2d(x, w)),
        "same": ("F.conv2d(x, w, padding=1)", F.conv2d(x, w, padding=1)),
        "dilated": ("F.conv2d(x, w, padding=2, dilation=2)", F.conv2d(x, w, padding=2, dilation=2)),
        "pool": ("F.max_pool2d(x, 2)", F.max_pool2d(x, 2)),
    }
    for key, (call, got) in checks.items():
        got = got.numpy()[0, 0]
        assert got.shape == results[key].shape, (key, got.shape, results[key].shape)
        assert np.array_equal(got, results[key]), (key, got, results[key])
        print(f"  {call:<40} shape {tuple(got.shape)}  == by hand: OK")
    # the 'same' string padding and a flipped-kernel reminder
    assert np.array_equal(F.conv2d(x, w, padding="same").numpy()[0, 0], results["same"])
    print("  F.conv2d(x, w, padding='same')            == zero padding 1: OK")
    flipped = F.conv2d(x, md.tensor(FILTER[::-1, ::-1][None, None].copy())).numpy()[0, 0]
    print(f"  (a true, flipped-kernel convolution would give out[0,0] = {flipped[0, 0]:g}, "
          f"not {results['valid'][0, 0]:g}: conv2d does not flip)")  # fmt: skip

    path = draw(args.out, results)
    print(f"\nfigure: {path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
