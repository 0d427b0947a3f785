"""Writing a benchmark's results: ``<stem>.json`` and ``<stem>.md`` in the output folder, and the
summary of its numerical checks (minidl vs torch) on the terminal; :func:`settle` before a timing.
Shared by the bench_* scripts."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

#: before each timing: a pause, for the thread pools of what ran just before (torch's OpenMP, OpenBLAS) to stop
#: spinning on the cores the next library needs (measured: torch's batch-8 course-CNN step 15.6 ms alone, 42 ms
#: right after a minidl step, 20.7 ms after a 0.3 s pause) ...
SETTLE_S = 0.25
#: ... then the cores kept busy this long: after the pause they start slow (a virtual machine's idle cores,
#: clocks), which a training loop, whose steps follow each other, never sees (measured: minidl's course-CNN step
#: right after a 0.25 s pause 105-111 ms, after 30 ms of this 90 ms, back to back 90 ms; torch's unchanged)
WARM_S = 0.03

_DETAILS = ("max_abs_diff", "minidl", "torch", "note")


def blas_info() -> str:
    """numpy's BLAS as threadpoolctl sees it, with the kernel family OpenBLAS chose for this CPU.

    ``OPENBLAS_CORETYPE`` (an environment variable) overrides OpenBLAS's own CPU detection: on an
    AVX-512 machine ``Haswell`` pins it to AVX2 kernels, which multiply float32 matrices up to
    ~1.7x slower than its ``SkylakeX`` ones. A benchmark must say which it ran with.
    """
    from threadpoolctl import threadpool_info

    libs = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')} kernels)"
            for i in threadpool_info() if i.get("user_api") == "blas"]  # fmt: skip
    pinned = os.environ.get("OPENBLAS_CORETYPE")
    return (", ".join(libs) or "unknown BLAS") + (f", OPENBLAS_CORETYPE={pinned}" if pinned else "")


def write_results(out: Path, stem: str, result: dict[str, Any], markdown: str, elapsed_s: float | None = None) -> int:
    """Write the JSON and markdown, print how many checks passed (and each failure); the exit code: 0 if all did."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / f"{stem}.md").write_text(markdown, encoding="utf-8")
    checks = result.get("checks", [])
    failed = [c for c in checks if not c["ok"]]
    took = f" ({elapsed_s:.1f} s)" if elapsed_s is not None else ""
    print(f"numerical checks: {len(checks) - len(failed)}/{len(checks)} passed; wrote {out / stem}.json/.md{took}")
    for c in failed:
        details = ", ".join(f"{k} {c[k]}" for k in _DETAILS if k in c)
        print(f"  FAILED: {c['check']}: {details}", file=sys.stderr)
    return 0 if not failed else 1


def settle(threads: int, pause: bool = True) -> None:
    """Sleep :data:`SETTLE_S` (unless ``pause`` is False), then keep ``threads`` cores busy for :data:`WARM_S`
    (numpy sums, which release the GIL): every library's timing starts from the same quiet, warm cores."""
    if pause:
        time.sleep(SETTLE_S)
    a = np.ones(1 << 20, dtype=np.float32)

    def spin() -> None:
        end = time.perf_counter() + WARM_S
        while time.perf_counter() < end:
            a.sum()

    helpers = [threading.Thread(target=spin) for _ in range(threads - 1)]
    for h in helpers:
        h.start()
    spin()
    for h in helpers:
        h.join()
