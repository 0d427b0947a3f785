"""Conv layers, minidl vs torch vs the GEMM floor, measured side by side in one run.

Layers (float32, NCHW): the five 3x3 p1 convs of the course CNN (COURSEWORK.md §2) at
their input sizes (batch 128, 32x32 images: 3->32 @32, 32->64 @16, 64->128 @8,
128->256 @4, 256->512 @2), a stride-2 3x3, a dilation-2 3x3, a groups=4 3x3 (batch 128)
and AlexNet's first layer, 3->64 11x11 stride 4 pad 2 on 3x224x224 (batch 16).

For each layer: forward (``no_grad``) and forward+backward (the input requires grad, so
backward computes dx, dw and db) of ``minidl.nn.Conv2d`` and ``torch.nn.Conv2d`` holding
the same weights, and the *GEMM floor*: the matrix products minidl's im2col convolution
does (``minidl/ops/conv.py``), timed alone with numpy's ``matmul`` on arrays of the same
shapes, dtype and memory layout, with G groups, K = C/G*kh*kw and L = N*oh*ow::

    forward          y    = W (G, O/G, K) @ cols (G, K, L)
    weight grad      dW   = g (G, O/G, L) @ cols^T           (cols^T a transposed view)
    input-cols grad  dcol = W^T (G, K, O/G) @ g (G, O/G, L)   (W^T a transposed view)

The floor of forward is the first product, that of forward+backward all three: what
minidl would take if im2col, col2im, the layout changes and the autograd bookkeeping
were free. Layers with large output planes (``minidl/backend/numba_conv.py``: the course CNN's
first layer) run the same products one sample at a time, each sample's columns (G, K, oh*ow) in
cache and its GEMM writing its output planes: their floor is those per-sample products, run as the
path runs them (numpy's matmul over stacks of samples, ranges of samples shared over minidl's threads
with BLAS on one thread each), and the whole-batch products above are their ``im2col_floor``.
Layers on the Winograd path (3x3, stride 1, >= 16 input channels per group:
``minidl/backend/winograd.py``) do other products, and their floor is those, with
T = N*ceil(oh/2)*ceil(ow/2) tiles (F(2x2); F(4x4): 36 positions, tiles of 4x4), per group::

    forward          M  = U (16, O, C) @ V (16, C, T)
    weight grad      dU = dM (16, O, T) @ V^T
    input grad       dV = U^T (16, C, O) @ dM (16, O, T)

A dilated layer whose padding and size are multiples of the dilation runs on Winograd too, as
d*d undilated convolutions of the input's phases (``winograd.phases``): T counts the tiles of
N*d*d planes of oh/d x ow/d; and a strided layer with a large kernel (AlexNet's 11x11 stride 4) as
a stride-1 convolution of its input's s*s phases stacked as channels (``winograd.strided``: C*s*s
channels, kernels of ceil(k/s) taps). For those layers the im2col products are timed too (``im2col_floor``):
what the best im2col convolution could reach at all, i.e. the convolution's own multiply-adds at
numpy's GEMM speed (issue 7's "conv GEMMs at numpy's BLAS speed"); ``fwdbwd_ratio_im2col_floor``
is forward+backward against it (the floor itself on the im2col path). Reported: times (median of ``--repeats`` after a warm-up), the ratios
minidl / torch and minidl / floor (> 1: minidl is slower), and GFLOP/s (2*O*K*L
multiply-adds per product). Both libraries, and numpy's BLAS, are pinned to ``--threads``.
Each layer's output and gradients are checked against torch's (float32 tolerance); the
checks go into the JSON (``checks``, ``ok``) and the script exits 1 if one fails.

    python benchmarks/bench_conv.py              # full run (about a minute on 2 cores)
    python benchmarks/bench_conv.py --quick      # smoke run: batch 2, 1 repeat (timings not meaningful)

Results: ``<out>/conv.json`` and ``<out>/conv.md`` (``<out>`` defaults to ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this checkout's minidl, installed or not

import torch  # noqa: E402
from _report import SETTLE_S, WARM_S, blas_info, settle, write_results  # noqa: E402  (benchmarks/, the script's folder)

import minidl as md  # noqa: E402
from minidl import nn  # noqa: E402
from minidl.backend import threads, winograd  # noqa: E402
from minidl.backend.im2col import conv_output_size  # noqa: E402
from minidl.ops.conv import _per_sample, _winograd_route  # noqa: E402  (the path each layer takes)


@dataclass(frozen=True)
class ConvCase:
    """One conv layer: ``Conv2d(c, o, k, stride, padding, dilation, groups)`` on (batch, c, size, size)."""

    name: str
    c: int
    o: int
    k: int
    size: int
    batch: int
    stride: int = 1
    padding: int = 1
    dilation: int = 1
    groups: int = 1

    def out_size(self) -> int:
        return conv_output_size(self.size, self.k, self.stride, self.padding, self.dilation)

    def gemm_shapes(self, batch: int) -> tuple[int, int, int, int]:
        """(G, O/G, K, L) of the products: K = C/G*kh*kw, L = N*oh*ow."""
        return self.groups, self.o // self.groups, self.c // self.groups * self.k * self.k, batch * self.out_size() ** 2


COURSE = [(3, 32, 32), (32, 64, 16), (64, 128, 8), (128, 256, 4), (256, 512, 2)]
CASES: list[ConvCase] = [
    *(ConvCase(f"course conv {c}->{o} k3 p1 @{s}x{s}", c, o, 3, s, 128) for c, o, s in COURSE),
    ConvCase("64->128 k3 s2 p1 @16x16", 64, 128, 3, 16, 128, stride=2),
    ConvCase("64->64 k3 d2 p2 @16x16", 64, 64, 3, 16, 128, padding=2, dilation=2),
    ConvCase("128->128 k3 p1 g4 @8x8", 128, 128, 3, 8, 128, groups=4),
    ConvCase("AlexNet conv1 3->64 k11 s4 p2 @224x224", 3, 64, 11, 224, 16, stride=4, padding=2),
]
QUICK_BATCH = 2


# ---------------------------------------------------------------------------- timing
_SETTLE = [0]  # the threads to warm before each timing; 0 (a quick run): no settling


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    """Median seconds of one call of ``fn`` over ``repeats`` calls, after one warm-up call (JIT, caches), from
    settled cores (:func:`_report.settle`: the library timed before leaves its thread pools spinning)."""
    if _SETTLE[0]:
        settle(_SETTLE[0])
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _compare(name: str, got: np.ndarray, want: np.ndarray) -> dict[str, Any]:
    """float32 agreement: |got - want| <= 1e-4 * (|want| + max|want|), sums of up to K terms in another order."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return {"check": name, "ok": False, "max_abs_diff": None, "note": f"shapes {got.shape} vs {want.shape}"}
    diff = np.abs(got - want)
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    ok = bool(np.all(diff <= 1e-4 * (np.abs(want) + scale)))
    return {"check": name, "ok": ok, "max_abs_diff": float(diff.max()) if diff.size else 0.0}


def bench_case(case: ConvCase, batch: int, repeats: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Time one layer in minidl, torch and as its bare GEMMs; check minidl against torch."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, case.c, case.size, case.size)).astype(np.float32)
    t_layer = torch.nn.Conv2d(case.c, case.o, case.k, stride=case.stride, padding=case.padding,
                              dilation=case.dilation, groups=case.groups)  # fmt: skip
    m_layer = nn.Conv2d(case.c, case.o, case.k, stride=case.stride, padding=case.padding,
                        dilation=case.dilation, groups=case.groups)  # fmt: skip
    m_layer.load_state_dict({k: v.detach().numpy().copy() for k, v in t_layer.state_dict().items()})
    oh = case.out_size()
    g = rng.standard_normal((batch, case.o, oh, oh)).astype(np.float32)
    xm, xt = md.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    gm, gt = md.tensor(g), torch.tensor(g)

    # correctness first: output, dx, dw, db from the same weights and input
    ym, yt = m_layer(xm), t_layer(xt)
    ym.backward(gm)
    yt.backward(gt)
    pairs = [("output", ym.detach().numpy(), yt.detach().numpy()), ("dx", xm.grad.numpy(), xt.grad.numpy()),
             ("dw", m_layer.weight.grad.numpy(), t_layer.weight.grad.numpy()),
             ("db", m_layer.bias.grad.numpy(), t_layer.bias.grad.numpy())]  # fmt: skip
    checks = [_compare(f"{case.name}: {what}", a, b) for what, a, b in pairs]
    del ym, yt

    def m_fwd() -> None:
        with md.no_grad():
            m_layer(xm)

    def t_fwd() -> None:
        with torch.no_grad():
            t_layer(xt)

    def m_fwdbwd() -> None:
        xm.grad = m_layer.weight.grad = m_layer.bias.grad = None
        m_layer(xm).backward(gm)

    def t_fwdbwd() -> None:
        xt.grad = t_layer.weight.grad = t_layer.bias.grad = None
        t_layer(xt).backward(gt)

    # the floor: minidl's three products alone, on operands of the same shapes and layouts
    G, og, K, L = case.gemm_shapes(batch)
    w3 = rng.standard_normal((G, og, K)).astype(np.float32)
    cols = rng.standard_normal((G, K, L)).astype(np.float32)
    g3 = rng.standard_normal((G, og, L)).astype(np.float32)

    def im2col_fwd() -> None:
        np.matmul(w3, cols)

    def im2col_fwdbwd() -> None:
        np.matmul(w3, cols)
        np.matmul(g3, cols.transpose(0, 2, 1))
        np.matmul(w3.transpose(0, 2, 1), g3)

    # the route the layer takes: im2col, or Winograd on the layer itself, on a dilated layer's phases as
    # more samples, or on a strided layer's phases as more channels
    pads = ((case.padding, case.padding),) * 2
    route = _winograd_route(x, (case.o, case.c // case.groups, case.k, case.k), (case.stride,) * 2, pads,
                            (case.dilation,) * 2, case.groups, (oh, oh))  # fmt: skip
    tile = route.tile if route else 0
    d = route.phases[0] if route and route.phases else 1
    s = route.space[0] if route and route.space else 1
    k = -(-case.k // s)
    path = "im2col"
    per_sample = not route and _per_sample(x, np.empty((case.o, case.c // case.groups, case.k, case.k), np.float32),
                                           (oh, oh))  # fmt: skip
    if per_sample:
        path = "im2col per sample"
    if route:
        phase_note = f" ({d * d} phases)" if d > 1 else f" ({s * s} phase channels)" if s > 1 else ""
        path = f"winograd F{tile}{phase_note}"
    floor_fwd, floor_fwdbwd = im2col_fwd, im2col_fwdbwd
    gemm_flop = 2.0 * G * og * K * L  # one product's multiply-adds, counted as 2 flops each
    if per_sample:  # one GEMM per sample (and group), as the path runs them: ranges of samples over the threads
        n_cols = rng.standard_normal((batch, G, K, L // batch)).astype(np.float32)
        n_g = rng.standard_normal((batch, G, og, L // batch)).astype(np.float32)
        ranges = threads.even_ranges(batch, 2 * md.get_num_threads())

        def per_samples(products: Callable[[slice], None]) -> None:
            threads.parallel_for(lambda i: products(slice(*ranges[i])), len(ranges))  # BLAS on one thread each

        def floor_fwd() -> None:
            per_samples(lambda s: np.matmul(w3, n_cols[s]))

        def floor_fwdbwd() -> None:
            def products(s: slice) -> None:
                np.matmul(w3, n_cols[s])
                np.matmul(n_g[s], np.swapaxes(n_cols[s], -1, -2))
                np.matmul(np.swapaxes(w3, -1, -2), n_g[s])

            per_samples(products)

    if tile:
        tiles, blocks = winograd.tiles_for(oh // d, oh // d, tile), (tile + 2) ** 2
        t = batch * d * d * tiles[0] * tiles[1]
        kc = case.c * s * s * np.prod(winograd.kernel_blocks(k, k))  # the GEMMs' inner dimension, B*C
        u = rng.standard_normal((blocks, case.o, kc // case.groups)).astype(np.float32)
        v = winograd.stack(blocks, kc, t, np.float32)
        v[...] = rng.standard_normal(v.shape)
        m, dm, dv = (winograd.stack(blocks, *shape, np.float32) for shape in ((case.o, t), (case.o, t), (kc, t)))
        dm[...] = rng.standard_normal(dm.shape)
        u, v, m, dm, dv = (winograd.grouped(a, case.groups) for a in (u, v, m, dm, dv))  # groups: batched GEMMs

        def floor_fwd() -> None:
            np.matmul(u, v, out=m)

        def floor_fwdbwd() -> None:
            np.matmul(u, v, out=m)
            np.matmul(dm, np.swapaxes(v, -1, -2))
            np.matmul(np.swapaxes(u, -1, -2), dm, out=dv)

        gemm_flop = 2.0 * blocks * case.o * kc // case.groups * t

    times = {
        "minidl_fwd": median_time(m_fwd, repeats), "torch_fwd": median_time(t_fwd, repeats),
        "floor_fwd": median_time(floor_fwd, repeats),
        "minidl_fwdbwd": median_time(m_fwdbwd, repeats), "torch_fwdbwd": median_time(t_fwdbwd, repeats),
        "floor_fwdbwd": median_time(floor_fwdbwd, repeats),
    }  # fmt: skip
    if tile or per_sample:
        times["im2col_floor_fwdbwd"] = median_time(im2col_fwdbwd, repeats)
    row: dict[str, Any] = {"layer": case.name, **asdict(case), "batch": batch, "out_size": oh, "path": path,
                           "gemm": {"G": G, "O/G": og, "K": K, "L": L}}  # fmt: skip
    row.update({f"{k}_ms": 1e3 * v for k, v in times.items()})
    for part, flop in (("fwd", gemm_flop), ("fwdbwd", 3 * gemm_flop)):
        row[f"{part}_ratio_torch"] = times[f"minidl_{part}"] / times[f"torch_{part}"]
        row[f"{part}_ratio_floor"] = times[f"minidl_{part}"] / times[f"floor_{part}"]
        for lib in ("minidl", "torch", "floor"):
            row[f"{lib}_{part}_gflops"] = flop / times[f"{lib}_{part}"] / 1e9
    # against the layer's im2col GEMMs (its own floor on the im2col path): the convolution's multiply-adds
    # at numpy's GEMM speed, whichever algorithm runs
    row["fwdbwd_ratio_im2col_floor"] = times["minidl_fwdbwd"] / times.get("im2col_floor_fwdbwd", times["floor_fwdbwd"])
    return row, checks


# ---------------------------------------------------------------------------- reporting
def format_markdown(result: dict[str, Any]) -> str:
    meta = result["meta"]
    lines = [
        "# Conv layers, minidl vs torch vs the GEMM floor",
        "",
        f"{meta['platform']}, {meta['cpu_count']} CPUs, python {meta['python']}, numpy {meta['numpy']} "
        f"({meta['blas']}), torch {meta['torch']}, threads={meta['threads']}, float32, median of "
        f"{meta['repeats']} after a warm-up{' (quick run: timings are not meaningful)' if meta['quick'] else ''}.",
        "",
        "Floor = minidl's GEMMs alone (numpy matmul, same shapes and layouts): the forward product, and for "
        "fwd+bwd also the two gradient products: on the im2col path dW = g @ cols^T and dcols = W^T @ g "
        "(GFLOP/s: 3 GEMMs of 2*O*K*L flops; 'im2col per sample': the same products one sample at a time), "
        "on the Winograd path M = U @ V, dU = dM @ V^T, dV = U^T @ dM "
        "((m+2)^2 products each of 2*O*C*T flops: 16 for F2 = F(2x2, 3x3), 36 for F4 = F(4x4, 3x3); T tiles of "
        "m x m outputs; the GFLOP/s count the Winograd flops, 2.25x (F2) or 4x (F4) fewer than im2col's). "
        "'im2col floor' (Winograd and per-sample layers): the whole-batch im2col GEMMs of the same layer, the convolution's own "
        "multiply-adds at numpy's GEMM speed ('=': the floor itself); 'minidl/im2col floor' is fwd+bwd against it. "
        "A dilated layer whose padding and size are multiples of the dilation runs as d*d undilated ones on "
        "the input's phases (batch x d*d planes of H/d x W/d), AlexNet's 11x11 stride-4 layer as a 3x3 stride-1 "
        "one on its input's 16 phases stacked as channels (48). Ratios > 1: minidl is slower.",
        "",
        "| layer | path | batch | fwd ms minidl | torch | floor | minidl/torch | minidl/floor "
        "| fwd+bwd ms minidl | torch | floor | im2col floor | minidl/torch | minidl/floor | minidl/im2col floor "
        "| GFLOP/s minidl | torch | floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        im2col_floor = f"{r['im2col_floor_fwdbwd_ms']:.2f}" if "im2col_floor_fwdbwd_ms" in r else "="
        lines.append(
            f"| {r['layer']} | {r.get('path', 'im2col')} | {r['batch']} | {r['minidl_fwd_ms']:.2f} | "
            f"{r['torch_fwd_ms']:.2f} | "
            f"{r['floor_fwd_ms']:.2f} | {r['fwd_ratio_torch']:.2f} | {r['fwd_ratio_floor']:.2f} | "
            f"{r['minidl_fwdbwd_ms']:.2f} | {r['torch_fwdbwd_ms']:.2f} | {r['floor_fwdbwd_ms']:.2f} | "
            f"{im2col_floor} | {r['fwdbwd_ratio_torch']:.2f} | {r['fwdbwd_ratio_floor']:.2f} | "
            f"{r.get('fwdbwd_ratio_im2col_floor', r['fwdbwd_ratio_floor']):.2f} | {_g(r['minidl_fwdbwd_gflops'])} | "
            f"{_g(r['torch_fwdbwd_gflops'])} | {_g(r['floor_fwdbwd_gflops'])} |"
        )
    failed = [c for c in result["checks"] if not c["ok"]]
    lines += ["", f"Numerical checks (minidl vs torch: output, dx, dw, db): "
                  f"{len(result['checks']) - len(failed)}/{len(result['checks'])} passed."]  # fmt: skip
    lines += [f"- FAILED: {c['check']} (max abs diff {c['max_abs_diff']})" for c in failed]
    return "\n".join(lines) + "\n"


def _g(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{x:.2g}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--quick", action="store_true", help=f"smoke run: batch {QUICK_BATCH}, 1 repeat")
    p.add_argument("--threads", type=int, default=2, help="threads for torch, numba and numpy's BLAS (default 2)")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per measurement (default 9; 1 quick)")
    p.add_argument("--batch", type=int, default=None, help="one batch for every layer (default: 128, AlexNet's 16)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="folder for conv.json/.md")
    args = p.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 9)
    if args.threads < 1 or repeats < 1 or (args.batch is not None and args.batch < 1):
        p.error("--threads, --repeats and --batch must be positive")
    md.set_num_threads(args.threads)  # numba and, through threadpoolctl, numpy's BLAS (the floor's too)
    _SETTLE[0] = 0 if args.quick else args.threads
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    start = time.perf_counter()
    rows, checks = [], []
    for case in CASES:
        batch = args.batch or (QUICK_BATCH if args.quick else case.batch)
        row, row_checks = bench_case(case, batch, repeats)
        rows.append(row)
        checks += row_checks
        print(f"{case.name:42} batch {batch:3}: fwd+bwd {row['minidl_fwdbwd_ms']:8.2f} ms, "
              f"x{row['fwdbwd_ratio_torch']:.2f} torch, x{row['fwdbwd_ratio_floor']:.2f} floor; "
              f"fwd x{row['fwd_ratio_torch']:.2f} torch, x{row['fwd_ratio_floor']:.2f} floor")  # fmt: skip
    meta = {"quick": args.quick, "threads": args.threads, "repeats": repeats, "statistic": "median after a warm-up",
            "settle": None if args.quick else {"pause_s": SETTLE_S, "warm_s": WARM_S},
            "dtype": "float32", "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__, "blas": blas_info(),
            "torch": torch.__version__, "minidl": md.__version__, "numba": md.backend.numba_enabled(),
            "ratio": "minidl time / other time", "elapsed_s": time.perf_counter() - start}  # fmt: skip
    result = {"meta": meta, "rows": rows, "checks": checks, "ok": all(c["ok"] for c in checks)}
    return write_results(args.out, "conv", result, format_markdown(result), meta["elapsed_s"])


if __name__ == "__main__":
    sys.exit(main())
