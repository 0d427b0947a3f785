"""Every ``.cu`` file of minidl/backend/cuda compiles with ``nvcc --ptx`` for each instantiation the loader uses.

No GPU is needed (``--ptx`` stops before any device code is loaded); the test skips only
where ``nvcc`` is absent. Warnings are errors. The PTX must define every kernel the loader
launches (:data:`minidl.backend.cuda.KERNELS`), and the sources must define no kernel the
loader does not know, so the loader and the ``.cu`` files cannot drift apart.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from minidl.backend import cuda
from minidl.backend.cuda import mirror

NVCC = shutil.which("nvcc")
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc is not installed")
#: a virtual architecture every CUDA toolkit from 11 to 13 accepts (compute_75: Turing)
ARCH = "compute_75"


def test_loader_knows_every_source_and_kernel():
    sources = sorted(p.name for p in cuda.SOURCE_DIR.glob("*.cu"))
    assert sources == sorted(cuda.KERNELS)
    for source, kernels in cuda.KERNELS.items():
        assert sorted(mirror.kernel_signatures(source)) == sorted(kernels), source
        for name in kernels:
            assert callable(getattr(mirror, name)), f"no mirror for kernel {name}"


@needs_nvcc
@pytest.mark.parametrize(
    ("source", "dtype", "code_dtype"),
    [(s, d, c) for s in sorted(cuda.KERNELS) for d, c in itertools.product(cuda.SCALAR_TYPES, cuda.CODE_TYPES)
     if s == "pool.cu" or c == np.dtype(np.uint8)],  # code_t is used by pool.cu only
)  # fmt: skip
def test_cu_compiles_to_ptx(tmp_path: Path, source: str, dtype: np.dtype, code_dtype: np.dtype):
    options = cuda.compile_options(dtype, code_dtype)  # the very -D options the loader gives NVRTC
    ptx = tmp_path / "out.ptx"
    cmd = [NVCC, "--ptx", f"-arch={ARCH}", "-Werror", "all-warnings", *options, str(cuda.SOURCE_DIR / source),
           "-o", str(ptx)]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stdout}\n{result.stderr}"
    text = ptx.read_text()
    entries = set(re.findall(r"\.entry\s+(\w+)\s*\(", text))
    assert entries == set(cuda.KERNELS[source]), entries  # extern "C": unmangled names, as get_function asks
    # the data pointer type follows scalar_t: f32 loads for float, f64 for double
    assert (".f64" in text) == (np.dtype(dtype) == np.float64)
