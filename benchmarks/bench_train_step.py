"""One training step of the coursework's models, minidl vs torch, same weights, same threads.

Models (``--models``, all by default; input, batch of the full run):

- ``course_cnn``: the course CNN of COURSEWORK.md §2 (``minidl.models.CourseCNN``), 3x32x32, batch 128
- ``lenet``: LeNet of COURSEWORK.md §3 (``minidl.models.LeNet``), 3x32x32, batch 128
- ``resnet18``: torchvision's ResNet-18 (``minidl.models.resnet18``), 3x32x32, batch 32
- ``vgg11``: torchvision's VGG-11 (``minidl.models.vgg11``), 3x64x64, batch 16

A step is ``zero_grad``, forward, cross-entropy, ``backward``, ``SGD(lr=0.1 (0.01 for ResNet-18 and VGG-11), momentum=0.9,
nesterov=True, weight_decay=1e-4).step()``. The torch model is a hand-built twin
(``benchmarks/_twins.py``; the models' list: ``_models.py``) loaded with minidl's initial
weights, so both compute the same numbers; the script checks that they do (the eval-mode loss of the initial weights, and,
for models without dropout, the first two training losses) and exits 1 if not.

Each (library, model) runs in its own fresh child process with the same thread count, so
that its peak memory is its own and its FIRST step shows what a student waits for after
``python train.py``: lazy imports and numba's JIT, which loads compiled kernels from its
on-disk cache (warm after any earlier run; ``--cold-jit`` adds a run of the course CNN
with an empty numba cache). The two children of a model live side by side: after each
has set up and done its first step, the parent has them take turns, one step each per
round (which goes first alternates), then one eval-mode forward (``no_grad``) each per
round, so that the slow spells of a shared machine fall on both libraries alike. Reported
per model: the first step (seconds), the median step after it, the median eval forward,
the ratios minidl / torch as the median of the rounds' ratios (with their quartiles: the
run's spread), and the peak resident memory of the training steps (Linux ``VmHWM``, reset
after the model and data are set up; ``ru_maxrss`` of the whole process elsewhere).
Ratios > 1: minidl is slower or bigger.

``--device cuda`` runs minidl on CuPy (``model.to("cuda")``) and torch on CUDA on the same
GPU, synchronising before each clock read, and records the device name; the results
then go to ``train_step_cuda.{json,md}`` and peak memory is each library's GPU memory
pool. Without a usable GPU it exits with status 2 and says why.

    python benchmarks/bench_train_step.py                         # full run (a few minutes on 2 cores)
    python benchmarks/bench_train_step.py --quick                 # smoke run: tiny batches, 2 steps
    python benchmarks/bench_train_step.py --models course_cnn,lenet --threads 1
    python benchmarks/bench_train_step.py --device cuda           # minidl on CuPy vs torch CUDA

Results: ``<out>/train_step.json`` and ``<out>/train_step.md`` (``<out>`` defaults to
``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
for p in (str(ROOT), str(HERE)):  # this checkout's minidl (not an installed one), and _twins
    if p not in sys.path:
        sys.path.insert(0, p)
from _report import SETTLE_S, WARM_S, blas_info, settle, write_results  # noqa: E402  (benchmarks/, the script's folder)

MODEL_NAMES = ("course_cnn", "lenet", "resnet18", "vgg11")
OPTIM = {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}
RTOL, ATOL = 1e-4, 1e-5  # float32 losses of the same weights, summed in different orders


# ---------------------------------------------------------------------------- memory
def _vm_hwm_mb() -> float | None:
    """Peak resident memory since the last reset (Linux ``VmHWM``), in MB; None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0: write 5 to clear_refs); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _rss_mb() -> float:
    """The process' peak RSS so far (ru_maxrss: KB on Linux, bytes on macOS), in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


# ---------------------------------------------------------------------------- one library, one model
def child(lib: str, model_name: str, batch: int, threads: int, device: str, weights: str) -> dict:
    """Set up ``model_name`` in ``lib`` and time its first training step; then run and time one step
    (``step``) or one eval-mode forward (``eval``) for each line the parent writes, until ``end``; report."""
    t_start = time.perf_counter()
    from _models import MODELS

    spec = MODELS[model_name]
    cuda = device == "cuda"
    if lib == "torch":
        import torch
        from _twins import copy_weights

        torch.set_num_threads(threads)
        import_s = time.perf_counter() - t_start
        dev = torch.device("cuda" if cuda else "cpu")

        def initial_model() -> Any:
            net = spec.make_torch()
            with np.load(weights) as z:  # minidl's initial weights, one array at a time
                copy_weights(((k, z[k]) for k in z.files), net)
            return net.to(dev)

        model = initial_model()
        opt = torch.optim.SGD(model.parameters(), **{**OPTIM, "lr": spec.lr})
        loss_fn = torch.nn.CrossEntropyLoss()
        no_grad = torch.no_grad

        def as_input(a: np.ndarray) -> Any:
            return torch.from_numpy(a).to(dev)

        def sync() -> None:
            if cuda:
                torch.cuda.synchronize()

        def gpu_peak_mb() -> float | None:
            return torch.cuda.max_memory_reserved() / 2**20 if cuda else None

        device_name = torch.cuda.get_device_name() if cuda else platform.processor() or platform.machine()
        version = torch.__version__
    else:
        import minidl as md
        from minidl import nn, optim

        md.set_num_threads(threads)  # numba's threads and the BLAS under numpy
        import_s = time.perf_counter() - t_start

        def initial_model() -> Any:
            md.manual_seed(0)  # the same weights every time
            net = spec.make_minidl()
            return net.to("cuda") if cuda else net

        model = initial_model()
        np.savez(weights, **{k: v.cpu().numpy() for k, v in model.state_dict().items()})  # for the torch twin
        opt = optim.SGD(model.parameters(), **{**OPTIM, "lr": spec.lr})
        loss_fn = nn.CrossEntropyLoss()
        no_grad = md.no_grad

        def as_input(a: np.ndarray) -> Any:
            t = md.tensor(a)
            return t.to("cuda") if cuda else t

        def sync() -> None:
            if cuda:
                import cupy

                cupy.cuda.Device().synchronize()

        def gpu_peak_mb() -> float | None:
            if not cuda:
                return None
            import cupy

            return cupy.get_default_memory_pool().total_bytes() / 2**20

        version = md.__version__
        if cuda:
            import cupy

            device_name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"].decode()
        else:
            device_name = platform.processor() or platform.machine()

    rng = np.random.default_rng(0)
    x = as_input(rng.standard_normal((batch, spec.channels, spec.size, spec.size)).astype(np.float32))
    y = as_input(rng.integers(0, spec.num_classes, batch))

    setup_s = time.perf_counter() - t_start
    gc.collect()
    rss_setup = _rss_mb()
    peak_reset = _reset_peak()

    def step() -> float:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        sync()
        return float(loss)

    losses = []
    t0 = time.perf_counter()
    losses.append(step())
    first_step_s = time.perf_counter() - t0
    # then serve the parent, which alternates the two libraries' children step by step (see run_model)
    print(json.dumps({"ready": True}), flush=True)
    times, eval_times = [], []
    for line in sys.stdin:
        command = line.strip()
        if command == "end":
            break
        settle(threads, pause=False)  # the parent paused before the command (interleave)
        t0 = time.perf_counter()
        if command == "step":
            losses.append(step())
            times.append(time.perf_counter() - t0)
        elif command == "eval":
            if model.training:  # the steps are over
                model.eval()
                t0 = time.perf_counter()
            with no_grad():
                model(x)
            sync()
            eval_times.append(time.perf_counter() - t0)
        else:
            raise ValueError(f"unknown command {command!r}")
        print(json.dumps({"s": time.perf_counter() - t0}), flush=True)
    hwm = _vm_hwm_mb() if peak_reset else None
    gpu_peak = gpu_peak_mb()

    # the numerical check, on the initial weights again: done last, so that the first step above is
    # the process' first use of every kernel (it pays the JIT / cache loading a student waits for)
    model = opt = None  # free the trained model (and its optimiser state) first
    gc.collect()
    model = initial_model()
    model.eval()
    with no_grad():
        eval_loss = float(loss_fn(model(x), y))
    return {
        "import_s": import_s,
        "setup_s": setup_s,
        "first_step_s": first_step_s,
        "step_ms": 1e3 * float(np.median(times)),
        "eval_ms": 1e3 * float(np.median(eval_times)),
        "step_times_ms": [1e3 * t for t in times],
        "eval_times_ms": [1e3 * t for t in eval_times],
        "peak_rss_mb": hwm if hwm is not None else _rss_mb(),
        "peak_rss_scope": "training steps (VmHWM reset after setup)" if hwm is not None else "whole process",
        "rss_setup_mb": rss_setup,
        "gpu_peak_mb": gpu_peak,
        "eval_loss": eval_loss,
        "losses": losses,
        "device_name": device_name,
        "version": version,
    }


# ---------------------------------------------------------------------------- the parent
def cuda_problem() -> str | None:
    """Why ``--device cuda`` cannot run here, or None when both libraries see a GPU."""
    problems = []
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            problems.append("CuPy finds no CUDA device")
    except ImportError:
        problems.append("minidl needs CuPy for CUDA and it is not installed (pip install 'minidl[cuda12]')")
    except Exception as e:  # a driver or runtime that fails to load
        problems.append(f"CuPy cannot use a CUDA device ({type(e).__name__}: {e})")
    import torch

    if not torch.cuda.is_available():
        problems.append(f"torch {torch.__version__} sees no CUDA device (torch.cuda.is_available() is False)")
    return "; ".join(problems) or None


class Child:
    """One library's child process: set up, first step done, then one timed step or eval forward per command."""

    def __init__(self, lib: str, model: str, batch: int, args: argparse.Namespace, weights: str,
                 env: dict[str, str] | None = None) -> None:  # fmt: skip
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", lib, "--models", model, "--batch", str(batch),
               "--threads", str(args.threads), "--device", args.device, "--weights", weights]  # fmt: skip
        self.lib, self.model = lib, model
        self.stderr = tempfile.TemporaryFile("w+")  # a file, not a pipe: a chatty child cannot block on it
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                     text=True, env=env)  # fmt: skip
        self._reply()  # {"ready": true}: set up and first step done

    def _reply(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self.stderr.seek(0)
            raise RuntimeError(f"{self.lib} {self.model} child failed (exit {self.proc.returncode}):\n"
                               f"{self.stderr.read()[-4000:]}")  # fmt: skip
        return json.loads(line)

    def send(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def finish(self) -> dict:
        """The child's report (first step, medians, memory, losses, eval loss); the process ends."""
        report = self.send("end")
        self.proc.wait()
        self.stderr.close()
        return report


def interleave(children: list[Child], command: str, rounds: int) -> None:
    """``rounds`` times one ``command`` in each child, alternating which goes first: the two libraries are
    timed side by side, so that a slow spell of a shared machine falls on both."""
    for i in range(rounds):
        for c in children[:: 1 if i % 2 == 0 else -1]:
            time.sleep(SETTLE_S)
            c.send(command)


def paired_ratio(m_ms: list[float], t_ms: list[float]) -> dict:
    """The median of the per-round ratios minidl / torch, and their quartiles (the run's spread)."""
    r = np.asarray(m_ms) / np.asarray(t_ms)
    q1, med, q3 = np.percentile(r, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3)}


def _close(name: str, got: float, want: float, rtol: float = RTOL) -> dict:
    diff = abs(got - want)
    return {"check": name, "ok": bool(np.isfinite(got) and diff <= ATOL + rtol * abs(want)), "minidl": got,
            "torch": want, "abs_diff": diff}  # fmt: skip


def model_checks(name: str, m: dict, t: dict, has_dropout: bool) -> list[dict]:
    """minidl and torch computed the same numbers from the same weights and batch."""
    checks = [_close(f"{name}: eval-mode loss of the initial weights", m["eval_loss"], t["eval_loss"])]
    if not has_dropout:  # dropout masks differ between the libraries: no step-by-step comparison
        checks.append(_close(f"{name}: loss of training step 1", m["losses"][0], t["losses"][0]))
        # after one SGD-Nesterov update: the optimiser agrees too. float32 rounding drifts after an update
        # that moves the loss a lot: ResNet-18's step-2 loss is 1.0234369 in float64 in both libraries (to
        # 1e-15) and 1.0234373 in minidl's float32, but 1.0215521 in torch's (0.18% off): hence 5e-3
        checks.append(_close(f"{name}: loss of training step 2", m["losses"][1], t["losses"][1], rtol=5e-3))
    checks.append({"check": f"{name}: minidl's losses are finite", "ok": bool(np.all(np.isfinite(m["losses"])))})
    return checks


def run_model(name: str, args: argparse.Namespace) -> dict:
    from _models import MODELS

    spec = MODELS[name]
    batch = args.batch or (spec.quick_batch if args.quick else spec.batch)
    with tempfile.TemporaryDirectory(prefix="minidl-bench-") as tmp:
        weights = str(Path(tmp) / "weights.npz")
        # the minidl child starts first: it writes the initial weights the torch child loads
        children = [Child("minidl", name, batch, args, weights)]
        children.append(Child("torch", name, batch, args, weights))
        interleave(children, "step", args.steps)
        interleave(children, "eval", max(2, args.steps // 2))
        m, t = (c.finish() for c in children)
        cold = None
        if args.cold_jit and name == "course_cnn" and args.device == "cpu":
            # numba compiles every kernel again when its cache is empty: the first run on a new machine
            env = {**os.environ, "NUMBA_CACHE_DIR": str(Path(tmp) / "numba-cache")}
            c = Child("minidl", name, batch, args, str(Path(tmp) / "cold.npz"), env=env)
            interleave([c], "step", args.steps)
            cold = c.finish()
    step_pairs = paired_ratio(m["step_times_ms"], t["step_times_ms"])
    eval_pairs = paired_ratio(m["eval_times_ms"], t["eval_times_ms"])
    ratios = {"step": step_pairs["median"], "eval": eval_pairs["median"], "step_quartiles": step_pairs,
              "eval_quartiles": eval_pairs,
              "peak_memory": m["peak_rss_mb"] / t["peak_rss_mb"], "first_step": m["first_step_s"] / t["first_step_s"]}  # fmt: skip
    if m["gpu_peak_mb"] and t["gpu_peak_mb"]:
        ratios["gpu_peak_memory"] = m["gpu_peak_mb"] / t["gpu_peak_mb"]
    out = {"title": spec.title, "batch": batch, "input": [spec.channels, spec.size, spec.size],
           "num_classes": spec.num_classes, "minidl": m, "torch": t, "ratios": ratios,
           "checks": model_checks(name, m, t, spec.has_dropout)}  # fmt: skip
    if cold is not None:
        out["minidl_cold_jit"] = {"first_step_s": cold["first_step_s"], "step_ms": cold["step_ms"]}
    return out


def format_markdown(result: dict) -> str:
    meta = result["meta"]
    where = f"{meta['device']} ({meta['device_name']})" if meta["device"] == "cuda" else "CPU"
    lines = [f"# Training step, minidl vs torch ({where}, {meta['threads']} thread{'s' * (meta['threads'] != 1)})", "",
             f"{meta['platform']}, python {meta['python']}, numpy {meta['numpy']} ({meta.get('blas', '?')}), "
             f"torch {meta['torch']}; "
             f"SGD lr 0.1 (ResNet-18 and VGG-11: 0.01, where 0.1 diverges on random data), Nesterov momentum 0.9, "
             f"weight decay 1e-4, cross-entropy, float32"
             f"{' (quick run: timings are not meaningful)' if meta['quick'] else ''}.", "",
             "Ratio = minidl / torch (> 1: minidl is slower or uses more memory). The two libraries take turns, "
             f"one step each per round, {meta['steps']} rounds after the first step (then eval forwards the same "
             "way); step and eval ms: each library's median; their ratio: the median of the rounds' ratios, "
             "[quartiles] the run's spread. First step: in a fresh process, numba's cache warm.", "",
             "| model | batch | step ms minidl | step ms torch | ratio [q1-q3] | eval fwd ms minidl | eval fwd ms torch "
             "| ratio [q1-q3] "
             "| peak MB minidl | peak MB torch | ratio | first step s minidl | first step s torch |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in result["models"].values():
        m, t, q = r["minidl"], r["torch"], r["ratios"]
        mem_m, mem_t = (
            (m["gpu_peak_mb"], t["gpu_peak_mb"]) if meta["device"] == "cuda" else (m["peak_rss_mb"], t["peak_rss_mb"])
        )
        mem_ratio = q.get("gpu_peak_memory", q["peak_memory"]) if meta["device"] == "cuda" else q["peak_memory"]
        sq, eq = q["step_quartiles"], q["eval_quartiles"]
        lines.append(f"| {r['title']} | {r['batch']} | {m['step_ms']:.1f} | {t['step_ms']:.1f} | {q['step']:.2f} "
                     f"[{sq['q1']:.2f}-{sq['q3']:.2f}] | {m['eval_ms']:.1f} | {t['eval_ms']:.1f} | {q['eval']:.2f} "
                     f"[{eq['q1']:.2f}-{eq['q3']:.2f}] | {mem_m:.0f} | {mem_t:.0f} | "
                     f"{mem_ratio:.2f} | {m['first_step_s']:.2f} | {t['first_step_s']:.2f} |")  # fmt: skip
    cold = {n: r["minidl_cold_jit"] for n, r in result["models"].items() if "minidl_cold_jit" in r}
    for name, c in cold.items():
        lines += ["", f"{name}, minidl with an empty numba cache (JIT compiles every kernel): first step "
                      f"{c['first_step_s']:.2f} s, then {c['step_ms']:.1f} ms a step."]  # fmt: skip
    failed = [c for c in result["checks"] if not c["ok"]]
    lines += ["", f"Numerical checks (minidl vs torch, same weights): {len(result['checks']) - len(failed)}/"
                  f"{len(result['checks'])} passed."]  # fmt: skip
    lines += [f"- FAILED: {c['check']} (minidl {c.get('minidl')}, torch {c.get('torch')})" for c in failed]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--quick", action="store_true", help="smoke run: tiny batches, 2 steps (timings meaningless)")
    p.add_argument("--threads", type=int, default=2, help="threads for both libraries (default 2)")
    p.add_argument("--models", default=",".join(MODEL_NAMES), help=f"comma-separated subset of {MODEL_NAMES}")
    p.add_argument("--batch", type=int, default=None, help="one batch size for every model (default: per model)")
    p.add_argument("--steps", type=int, default=None, help="timed steps after the first (default 10; 2 quick)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--cold-jit", action="store_true", help="also time the course CNN with an empty numba cache")
    p.add_argument("--out", type=Path, default=HERE / "results", help="folder for the JSON and markdown results")
    p.add_argument("--child", choices=("minidl", "torch"), help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.model_list = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.model_list if m not in MODEL_NAMES]
    if unknown or not args.model_list:
        p.error(f"--models: unknown {unknown}; choose from {', '.join(MODEL_NAMES)}")
    if args.steps is None:
        args.steps = 2 if args.quick else 10
    if args.threads < 1 or args.steps < 2 or (args.batch is not None and args.batch < 1):
        p.error("--threads and --batch must be positive, --steps at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.model_list[0], args.batch, args.threads, args.device, args.weights)))
        return 0
    if args.device == "cuda":
        problem = cuda_problem()
        if problem:
            print(f"bench_train_step.py --device cuda: no usable GPU here: {problem}. "
                  "Run it on a machine with an NVIDIA GPU, CuPy and a CUDA build of torch.", file=sys.stderr)  # fmt: skip
            return 2
    start = time.perf_counter()
    models = {}
    for name in args.model_list:
        try:
            models[name] = run_model(name, args)
        except RuntimeError as e:
            print(e, file=sys.stderr)
            return 1
        r = models[name]
        m, t, q = r["minidl"], r["torch"], r["ratios"]
        print(f"{r['title']}, batch {r['batch']}: step {m['step_ms']:.1f} / {t['step_ms']:.1f} ms = {q['step']:.2f} "
              f"[{q['step_quartiles']['q1']:.2f}-{q['step_quartiles']['q3']:.2f}], "
              f"eval {q['eval']:.2f}, peak memory {m['peak_rss_mb']:.0f} / {t['peak_rss_mb']:.0f} MB = "
              f"{q['peak_memory']:.2f}, first step {m['first_step_s']:.2f} / {t['first_step_s']:.2f} s")  # fmt: skip
    checks = [c for r in models.values() for c in r["checks"]]
    first = next(iter(models.values()))
    meta = {"device": args.device, "device_name": first["minidl"]["device_name"], "threads": args.threads,
            "steps": args.steps, "quick": args.quick, "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "numpy": np.__version__, "blas": blas_info(),
            "torch": first["torch"]["version"],
            "optimizer": {"name": "SGD", **OPTIM}, "statistic": "rounds alternate the libraries; median of each library's steps after the first; ratio: "
                         "median of the rounds' ratios",
            "pause_s": SETTLE_S, "warm_s": WARM_S,
            "ratio": "minidl / torch", "elapsed_s": time.perf_counter() - start}  # fmt: skip
    result = {"meta": meta, "models": models, "checks": checks, "ok": all(c["ok"] for c in checks)}
    stem = "train_step_cuda" if args.device == "cuda" else "train_step"
    return write_results(args.out, stem, result, format_markdown(result), meta["elapsed_s"])


if __name__ == "__main__":
    sys.exit(main())
