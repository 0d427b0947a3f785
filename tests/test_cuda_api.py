"""minidl.cuda, devices and the mixed-device check, tested without a GPU.

Two stand-ins replace CuPy here (monkeypatched into ``minidl.backend``):

- ``no_cupy``: CuPy not installed, whatever this machine has, so the errors a student
  without a GPU meets are tested everywhere;
- ``fake_cupy``: a "CuPy" whose arrays are numpy arrays of a subclass that says it lives on
  GPU ``i`` (``FakeCudaArray``) and whose functions are numpy's, their results moved to
  the current fake GPU. It exercises every piece of device logic (parsing, moving,
  Module.to, optimiser state, the op check, saving) with real numbers; the numbers of the
  real GPU path are in tests/gpu.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
import minidl.backend as backend
import minidl.backend.cuda as cuda_kernels
import minidl.nn.functional as F
from minidl import nn
from minidl.backend import device_of

INSTALL = r"pip install 'minidl\[cuda12\]'"


# ---------------------------------------------------------------------------- the stand-ins
class FakeCudaArray(np.ndarray):
    """A numpy array that reports GPU ``_gpu`` as its device, as a CuPy array would."""

    _gpu = 0

    def __array_finalize__(self, obj: Any) -> None:
        self._gpu = getattr(obj, "_gpu", _FakeCuda.current)

    @property
    def device(self) -> types.SimpleNamespace:
        return types.SimpleNamespace(id=self._gpu)

    def copy(self, order: str = "C") -> FakeCudaArray:
        """A copy on the current GPU (CuPy's ``ndarray.copy``)."""
        out = np.ndarray.copy(self, order)
        out._gpu = _FakeCuda.current
        return out

    def get(self) -> np.ndarray:
        """Copy to the host (CuPy's ``ndarray.get``)."""
        return np.array(self.view(np.ndarray))


class _FakeDevice:
    def __init__(self, i: int) -> None:
        self.id = i

    def use(self) -> None:
        _FakeCuda.current = self.id

    def synchronize(self) -> None:
        _FakeCuda.synchronized.append(self.id)

    def __enter__(self) -> _FakeDevice:
        self._prev, _FakeCuda.current = _FakeCuda.current, self.id
        return self

    def __exit__(self, *exc: Any) -> None:
        _FakeCuda.current = self._prev


class _FakeCuda:
    """``cupy.cuda`` with ``n`` devices; ``n = None`` stands for a broken driver."""

    current = 0
    n: int | None = 2
    synchronized: list[int] = []
    Device = _FakeDevice

    class runtime:  # noqa: N801 - CuPy's name
        @staticmethod
        def getDeviceCount() -> int:  # noqa: N802
            if _FakeCuda.n is None:
                raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")
            return _FakeCuda.n

        @staticmethod
        def getDevice() -> int:  # noqa: N802
            return _FakeCuda.current

        @staticmethod
        def getDeviceProperties(i: int) -> dict[str, Any]:  # noqa: N802
            return {"name": f"Fake GPU {i}".encode()}


def _on_device(x: Any) -> Any:
    if type(x) is np.ndarray:
        out = x.view(FakeCudaArray)
        out._gpu = _FakeCuda.current
        return out
    if isinstance(x, tuple):
        return tuple(_on_device(v) for v in x)
    return x


class _FakeCupy(types.ModuleType):
    """numpy's functions, their array results living on the current fake GPU."""

    ndarray = FakeCudaArray
    cuda = _FakeCuda

    def __getattr__(self, name: str) -> Any:
        f = getattr(np, name)
        if isinstance(f, (types.ModuleType, type, np.ufunc)) or not callable(f):
            return f  # ufuncs keep the subclass of their inputs (and their .at/.reduce)
        return lambda *a, **k: _on_device(f(*a, **k))

    @staticmethod
    def asarray(a: Any, dtype: Any = None) -> Any:
        if isinstance(a, FakeCudaArray) and a._gpu == _FakeCuda.current:
            return a if dtype is None else a.astype(dtype, copy=False)
        return _on_device(np.array(a.view(np.ndarray) if isinstance(a, np.ndarray) else a, dtype=dtype))


class _HostArray(np.ndarray):
    """A numpy subclass that is not a GPU array."""


@pytest.fixture
def no_cupy(monkeypatch: pytest.MonkeyPatch) -> None:
    """CuPy is not installed."""
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_checked", True)


@pytest.fixture
def fake_cupy(monkeypatch: pytest.MonkeyPatch) -> Iterator[_FakeCupy]:
    """CuPy with two fake GPUs (numpy underneath)."""
    fake = _FakeCupy("cupy")
    monkeypatch.setattr(backend, "_cupy", fake)
    monkeypatch.setattr(backend, "_cupy_checked", True)
    monkeypatch.setitem(sys.modules, "cupyx", types.SimpleNamespace(scatter_add=np.add.at))
    # the hand-written CUDA kernels need a real GPU: the fake runs the numpy references, as
    # MINIDL_CUDA_KERNELS=0 does on a GPU
    monkeypatch.setattr(cuda_kernels, "_enabled", False)
    monkeypatch.setattr(_FakeCuda, "current", 0)
    monkeypatch.setattr(_FakeCuda, "n", 2)
    monkeypatch.setattr(_FakeCuda, "synchronized", [])
    yield fake


# ---------------------------------------------------------------------------- minidl.cuda without CuPy
def test_no_cupy_is_not_available_and_never_raises(no_cupy: None) -> None:
    assert md.cuda.is_available() is False
    assert md.cuda.device_count() == 0


@pytest.mark.parametrize(
    "call",
    [md.cuda.current_device, md.cuda.synchronize, md.cuda.get_device_name, lambda: md.cuda.set_device(0)],
    ids=["current_device", "synchronize", "get_device_name", "set_device"],
)
def test_no_cupy_device_functions_say_how_to_install(no_cupy: None, call: Callable[[], Any]) -> None:
    with pytest.raises(RuntimeError, match=INSTALL):
        call()


def test_manual_seed_changes_nothing_as_torch_without_cuda(no_cupy: None) -> None:
    md.manual_seed(3)
    expected = md.rand(4).tolist()
    md.manual_seed(3)
    md.cuda.manual_seed(7)
    md.cuda.manual_seed_all(7)
    assert md.rand(4).tolist() == expected
    md.cuda.manual_seed(0)
    torch.cuda.manual_seed(0)  # torch accepts it too where CUDA is not available


@pytest.mark.parametrize(
    "move",
    [
        lambda: md.zeros(2).to("cuda"),
        lambda: md.zeros(2).to(device="cuda:0", dtype=md.float64),
        lambda: md.zeros(2).cuda(),
        lambda: md.zeros(2, device="cuda"),
        lambda: md.tensor([1.0, 2.0], device=md.device("cuda", 0)),
        lambda: md.randn(2, 3, device="cuda"),
        lambda: nn.Linear(2, 3).cuda(),
        lambda: nn.Linear(2, 3).to("cuda"),
    ],
    ids=["to", "to_kw", "cuda", "zeros", "tensor", "randn", "Module.cuda", "Module.to"],
)
def test_no_cupy_moving_to_cuda_says_how_to_install(no_cupy: None, move: Callable[[], Any]) -> None:
    with pytest.raises(RuntimeError, match=INSTALL):
        move()


def test_failed_module_cuda_leaves_the_module_unchanged(no_cupy: None) -> None:
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    with pytest.raises(RuntimeError, match=INSTALL):
        m.to("cuda", md.float64)  # the device is checked before anything is cast
    for k, v in m.state_dict().items():
        assert v.device == "cpu" and v.dtype == before[k].dtype


# ---------------------------------------------------------------------------- CuPy without a usable device
def test_broken_driver_is_not_available(fake_cupy: _FakeCupy) -> None:
    _FakeCuda.n = None
    assert md.cuda.is_available() is False and md.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match="driver"):
        md.cuda.current_device()
    with pytest.raises(RuntimeError, match="no CUDA device can be used"):
        md.ones(2).cuda()


def test_no_device_is_not_available(fake_cupy: _FakeCupy) -> None:
    _FakeCuda.n = 0
    assert md.cuda.is_available() is False and md.cuda.device_count() == 0
    with pytest.raises(RuntimeError, match="no CUDA device"):
        md.cuda.get_device_name()
    with pytest.raises(RuntimeError, match="no CUDA device"):
        md.ones(2).cuda()


# ---------------------------------------------------------------------------- minidl.cuda with (fake) devices
def test_device_functions_with_two_devices(fake_cupy: _FakeCupy) -> None:
    assert md.cuda.is_available() and md.cuda.device_count() == 2
    assert md.cuda.current_device() == 0
    assert md.cuda.get_device_name() == "Fake GPU 0" and md.cuda.get_device_name("cuda:1") == "Fake GPU 1"
    md.cuda.set_device(1)
    assert md.cuda.current_device() == 1 and md.cuda.get_device_name() == "Fake GPU 1"
    md.cuda.set_device(md.device("cuda:0"))
    assert md.cuda.current_device() == 0
    md.cuda.set_device(-1)  # torch: a negative index does nothing
    assert md.cuda.current_device() == 0
    md.cuda.synchronize()
    md.cuda.synchronize(1)
    assert _FakeCuda.synchronized == [0, 1]


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (2, RuntimeError, "invalid device ordinal"),
        ("cuda:5", RuntimeError, "invalid device ordinal"),
        ("cpu", ValueError, "Expected a cuda device, but got: cpu"),
        ("gpu", ValueError, "unknown device type"),
        (1.0, TypeError, "expected a device index"),
    ],
)
def test_device_functions_reject_bad_devices(fake_cupy: _FakeCupy, bad: Any, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        md.cuda.get_device_name(bad)
    with pytest.raises(error, match=match):
        md.cuda.set_device(bad)


# ---------------------------------------------------------------------------- Device
@pytest.mark.parametrize("spec", ["cpu", "cuda:0", "cuda:1", "cuda:12"])
def test_device_strings_as_torch(spec: str) -> None:
    d, t = md.device(spec), torch.device(spec)
    assert (str(d), repr(d), d.type, d.index) == (str(t), repr(t), t.type, t.index)
    assert d == spec and d == md.device(d) and hash(d) == hash(md.device(spec))


def test_device_defaults_and_errors() -> None:
    assert md.device("cuda") == "cuda:0" and md.device("cuda", 1) == "cuda:1" and md.device("cpu").index is None
    assert md.device("cpu") != "cuda:0" and md.device("cuda:0") != md.device("cuda:1") and md.device("cpu") != "gpu"
    for bad in ("gpu", "cuda:x", "cuda:", "tpu:0"):
        with pytest.raises(ValueError):
            md.device(bad)


# ---------------------------------------------------------------------------- moving tensors (fake GPU)
@given(st.lists(st.floats(-1e3, 1e3, width=32), min_size=1, max_size=12), st.sampled_from(["cuda", "cuda:1"]))
def test_tensor_round_trip(values: list[float], spec: str) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(backend, "_cupy", _FakeCupy("cupy"))
        mp.setattr(backend, "_cupy_checked", True)
        mp.setattr(_FakeCuda, "n", 2)
        mp.setattr(_FakeCuda, "current", 0)
        x = md.tensor(values)
        g = x.to(spec)
        assert g.device == md.device(spec) and g.is_cuda and not x.is_cuda
        assert g.to(spec) is g and g.cuda(g.device.index) is g
        back = g.cpu()
        assert type(back._data) is np.ndarray and back.device == "cpu"
        np.testing.assert_array_equal(back.numpy(), np.asarray(values, np.float32))
        other = g.to("cuda:0" if spec == "cuda:1" else "cuda:1")  # GPU to GPU
        assert other.device != g.device
        np.testing.assert_array_equal(other.cpu().numpy(), back.numpy())


def test_gradient_flows_back_across_devices(fake_cupy: _FakeCupy) -> None:
    x = md.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = (x.cuda() * 2.0).relu().sum()
    assert y.device == "cuda:0"
    y.backward()
    assert x.grad.device == "cpu" and x.grad.tolist() == [2.0, 0.0, 2.0]


def test_creation_functions_take_device(fake_cupy: _FakeCupy) -> None:
    made = [md.zeros(2, 3, device="cuda"), md.ones(2, device="cuda:1"), md.full((2,), 3.0, device="cuda"),
            md.arange(4, device="cuda"), md.randn(3, device="cuda"), md.tensor([1, 2], device="cuda:1"),
            md.eye(2, device="cuda")]  # fmt: skip
    assert [str(t.device) for t in made] == ["cuda:0", "cuda:1", "cuda:0", "cuda:0", "cuda:0", "cuda:1", "cuda:0"]
    like = md.zeros_like(made[1])
    assert like.device == "cuda:1"


# ---------------------------------------------------------------------------- Module.to
def _net() -> nn.Module:
    # no conv bias before the BatchNorm: its true gradient is 0, and Adam would blow the rounding noise up
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3 * 4 * 4, 5))  # fmt: skip


def test_module_to_cpu_and_dtype_keep_the_parameter_objects() -> None:
    m = _net()
    params, buffers = list(m.parameters()), list(m.buffers())
    assert m.to("cpu") is m and m.cpu() is m
    m(md.randn(2, 2, 4, 4)).sum().backward()
    assert m.to(md.float64) is m
    assert all(a is b for a, b in zip(m.parameters(), params)) and all(a is b for a, b in zip(m.buffers(), buffers))
    assert all(p.dtype == md.float64 and p.grad.dtype == md.float64 for p in m.parameters())
    bn = m[1]
    assert bn.running_mean.dtype == md.float64 and bn.num_batches_tracked.dtype == md.int64  # floats only, as torch
    out = m(md.randn(2, 2, 4, 4, dtype=md.float64))
    assert out.dtype == md.float64
    assert m.to(dtype=md.float32).float() is m and all(p.dtype == md.float32 for p in m.parameters())


def test_module_to_dtype_matches_torch() -> None:
    ours, theirs = _net(), torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1, bias=False), torch.nn.BatchNorm2d(3))
    ours.to(md.float64)
    theirs.to(torch.float64)
    for (name, t), (tname, tt) in zip(ours[:2].state_dict().items(), theirs.state_dict().items()):
        assert name == tname and str(t.dtype).split(".")[1] == str(tt.dtype).split(".")[1], name


def test_module_to_rejects_what_torch_rejects() -> None:
    with pytest.raises(TypeError, match="floating point"):
        _net().to(md.int64)
    with pytest.raises(TypeError, match="unexpected keyword"):
        _net().to("cpu", memory_format=None, colour="red")
    assert _net().to("cpu", non_blocking=True) is not None


def test_optimiser_built_before_to_still_steps() -> None:
    m = nn.Linear(3, 2)
    opt = md.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    m.to(md.float64)
    w0 = m.weight.detach().clone()
    m(md.randn(4, 3, dtype=md.float64)).sum().backward()
    opt.step()
    assert m.weight.dtype == md.float64 and not np.array_equal(m.weight.detach().numpy(), w0.numpy())


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda ps: md.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
        lambda ps: md.optim.Adam(ps, lr=0.01),
        lambda ps: md.optim.AdamW(ps, lr=0.01),
        lambda ps: md.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    ],
    ids=["SGD", "Adam", "AdamW", "RMSprop"],
)
def test_fake_gpu_training_step_equals_cpu(fake_cupy: _FakeCupy, make_opt: Callable[[Any], Any]) -> None:
    """Module.cuda() moves in place; the step on the (fake) GPU gives the CPU numbers; state lives on the GPU."""
    md.manual_seed(0)
    cpu_net = _net()
    gpu_net = _net()
    gpu_net.load_state_dict(cpu_net.state_dict())
    params = list(gpu_net.parameters())
    opt_gpu = make_opt(gpu_net.parameters())  # built before .cuda(), as many scripts do
    assert gpu_net.cuda() is gpu_net and all(a is b for a, b in zip(gpu_net.parameters(), params))
    assert all(t.device == "cuda:0" for t in (*gpu_net.parameters(), *gpu_net.buffers()))
    opt_cpu = make_opt(cpu_net.parameters())
    x, y = md.randn(4, 2, 4, 4), md.tensor([0, 1, 4, 2])
    for net, opt, xb, yb in ((cpu_net, opt_cpu, x, y), (gpu_net, opt_gpu, x.cuda(), y.cuda())):
        for _ in range(2):
            opt.zero_grad()
            loss = F.cross_entropy(net(xb), yb)
            loss.backward()
            opt.step()
        assert loss.device == xb.device
    for (name, a), b in zip(cpu_net.state_dict().items(), gpu_net.state_dict().values()):
        assert b.device == "cuda:0", name
        np.testing.assert_allclose(b.cpu().numpy(), a.numpy(), rtol=1e-6, atol=1e-7, err_msg=name)
    state = [v for s in opt_gpu.state.values() for v in s.values() if hasattr(v, "shape") and np.ndim(v)]
    assert state and all(device_of(v) == "cuda:0" for v in state)


def test_fake_gpu_state_dict_saves_numpy(fake_cupy: _FakeCupy, tmp_path: Any) -> None:
    m = _net().cuda()
    md.save(m.state_dict(), tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as raw:
        assert all(type(raw[k]) is np.ndarray for k in raw.files)
    loaded = md.load(tmp_path / "m.npz", map_location="cpu")
    for (k, a), b in zip(m.state_dict().items(), loaded.values()):
        assert b.device == "cpu" and type(b._data) is np.ndarray
        np.testing.assert_array_equal(b.numpy(), a.cpu().numpy(), err_msg=k)
    fresh = _net()
    fresh.load_state_dict(loaded)
    m.load_state_dict(fresh.state_dict())  # CPU arrays into GPU parameters: copied across
    assert all(p.device == "cuda:0" for p in m.parameters())


# ---------------------------------------------------------------------------- the mixed-device check
MIXED = r"Expected all tensors to be on the same device, but found at least two devices, {} and {}!"


def _gpu(values: Any, i: int = 0) -> md.Tensor:
    with _FakeCuda.Device(i):
        return md.Tensor._make(_on_device(np.asarray(values, dtype=np.float32)))


@pytest.mark.parametrize(
    "op, name",
    [
        (lambda a, b: a + b, "Add"),
        (lambda a, b: a * b, "Mul"),
        (lambda a, b: a @ b.reshape(3, 1), "MatMul"),
        (lambda a, b: md.cat([a, b]), "Cat"),
        (lambda a, b: md.stack([a, b]), "Stack"),
        (lambda a, b: md.where(a > 0, a, b), "Where"),
        (lambda a, b: F.mse_loss(a, b), "MSE"),
    ],
)
def test_mixed_devices_raise_torch_error_naming_the_op(fake_cupy: _FakeCupy, op: Callable[..., Any], name: str
                                                       ) -> None:  # fmt: skip
    cpu, gpu = md.tensor([1.0, -2.0, 3.0]), _gpu([0.5, 0.5, 0.5])
    with pytest.raises(RuntimeError, match=MIXED.format("cpu", "cuda:0") + rf".*in {name}\b"):
        op(cpu, gpu)
    with pytest.raises(RuntimeError, match=MIXED.format("cuda:0", "cpu")):
        op(gpu, cpu)
    with pytest.raises(RuntimeError, match=MIXED.format("cuda:0", "cuda:1")):
        op(gpu, _gpu([1.0, 2.0, 3.0], 1))
    assert op(gpu, _gpu([1.0, 2.0, 3.0])).device == "cuda:0"  # one device: fine


def test_mixed_devices_in_keyword_arrays(fake_cupy: _FakeCupy) -> None:
    """Targets, weights and running statistics reach forward as keyword arrays: checked too."""
    logits = _gpu(np.random.default_rng(0).standard_normal((4, 3)))
    with pytest.raises(RuntimeError, match=MIXED.format("cuda:0", "cpu") + ".*in CrossEntropy"):
        F.cross_entropy(logits, md.tensor([0, 1, 2, 1]))
    with pytest.raises(RuntimeError, match=MIXED.format("cuda:0", "cpu") + ".*in NLL"):
        F.nll_loss(logits, md.tensor([0, 1, 2, 1]))
    bn = nn.BatchNorm1d(3)  # its running statistics stay on the CPU
    with pytest.raises(RuntimeError, match=MIXED.format("cuda:0", "cpu") + ".*in BatchNorm"):
        bn(logits)
    with pytest.raises(RuntimeError, match=MIXED.format("cuda:0", "cpu") + ".*in Linear"):
        nn.Linear(3, 2)(logits)


def test_cpu_only_arrays_never_trip_the_check(fake_cupy: _FakeCupy) -> None:
    """numpy arrays of any kind (subclasses, memmaps) are all on the CPU once CuPy is imported."""
    base = np.arange(6, dtype=np.float32)
    a, b = md.Tensor._make(base), md.Tensor._make(base.view(_HostArray))
    assert (a + b).device == "cpu" and F.mse_loss(a, b).item() == 0.0


def test_check_is_skipped_until_cupy_is_imported(no_cupy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU-only hot path does no device work: the check function is never called."""
    import minidl.autograd.function as function

    def boom(*args: Any) -> None:
        raise AssertionError("device check ran without CuPy")

    monkeypatch.setattr(function, "check_same_device", boom)
    x = md.randn(3, requires_grad=True)
    (x * x + 1.0).sum().backward()
    assert x.grad.shape == (3,)


def test_memmap_tensors_mix_with_plain_ones(tmp_path: Any) -> None:
    """A tensor over a np.memmap (a numpy subclass) is on the CPU: no device error, CuPy or not."""
    mm = np.memmap(tmp_path / "x.dat", dtype=np.float32, mode="w+", shape=(3,))
    mm[:] = [1.0, 2.0, 3.0]
    t = md.from_numpy(mm)
    assert t.device == "cpu" and (t + md.ones(3)).tolist() == [2.0, 3.0, 4.0]
    assert type(t.cpu()._data) is not FakeCudaArray and nn.Linear(3, 1).to("cpu")(t.reshape(1, 3)).shape == (1, 1)
