"""Every op family and layer on the GPU (CuPy) against the CPU path, forward and backward.

Each case of ``CASES`` builds float32 numpy inputs and a function of minidl tensors. The
function runs twice, on CPU tensors and on the same values moved with ``device="cuda"``;
a random upstream gradient flows back through both, and outputs and input gradients must
agree within float32 tolerance (the GPU sums in another order: GEMMs, reductions). Where
torch has CUDA, a convolution and a training step are compared with torch on the GPU too.

All tests carry the ``gpu`` marker: they skip without a CUDA device and fail instead when
``MINIDL_REQUIRE_GPU=1`` (tests/conftest.py). Nothing here imports cupy: the tests reach
the GPU through minidl's own API, as a student would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import torch

import minidl as md
import minidl.nn.functional as F
from minidl import nn

pytestmark = pytest.mark.gpu

RTOL, ATOL = 1e-4, 1e-5

Build = Callable[[np.random.Generator], tuple[Callable[..., Any], list[np.ndarray]]]


def _r(rng: np.random.Generator, *shape: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    return rng.uniform(low, high, shape).astype(np.float32)


def _distinct(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Values without ties (max-pool and max send the gradient to one argmax)."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0 - 3.0).astype(np.float32)


def _labels(rng: np.random.Generator, n: int, c: int) -> md.Tensor:
    return md.tensor(rng.integers(0, c, n))


# (name, builder): the builder returns (fn, inputs); fn takes one minidl tensor per input plus
# the device (for constant tensors it makes itself, which must live where the inputs live)
CASES: list[tuple[str, Build]] = [
    # elementwise (broadcasting included)
    ("add_broadcast", lambda g: (lambda a, b, d: a + b, [_r(g, 3, 4), _r(g, 4)])),
    ("sub_mul_div", lambda g: (lambda a, b, d: (a - b) * a / (b + 3.0), [_r(g, 2, 3), _r(g, 2, 1)])),
    ("pow_exp_log", lambda g: (lambda a, d: a.pow(3) + a.exp() + (a + 2.0).log(), [_r(g, 5, 3)])),
    ("sqrt_rsqrt", lambda g: (lambda a, d: a.sqrt() + md.rsqrt(a), [_r(g, 4, 4, low=0.5, high=2.0)])),
    ("abs_clamp_sign", lambda g: (lambda a, d: a.abs() + a.clamp(-0.3, 0.4) * md.sign(a), [_r(g, 6, 5)])),
    ("maximum_where", lambda g: (lambda a, b, d: md.where(a > b, md.maximum(a, b), a * b),
                                 [_r(g, 3, 5), _r(g, 3, 5)])),
    ("sin_cos", lambda g: (lambda a, d: a.sin() * a.cos(), [_r(g, 7)])),
    # reductions
    ("sum_mean", lambda g: (lambda a, d: a.sum(dim=1) + a.mean(dim=(0, 2), keepdim=True).sum(), [_r(g, 3, 4, 5)])),
    ("var_std", lambda g: (lambda a, d: a.var(dim=0) + a.std(dim=0, correction=0), [_r(g, 6, 4)])),
    ("max_min_dim", lambda g: (lambda a, d: a.max(dim=1)[0] - a.min(dim=0)[0][:3], [_distinct(g, 3, 5)])),
    ("amax_logsumexp", lambda g: (lambda a, d: md.amax(a, dim=1) + md.logsumexp(a, dim=1), [_distinct(g, 4, 6)])),
    ("norm_prod_cumsum", lambda g: (lambda a, d: md.norm(a) + a.prod(dim=1).sum() + a.cumsum(dim=1),
                                    [_r(g, 3, 4, low=0.5, high=1.5)])),
    # matmul and linear
    ("matmul", lambda g: (lambda a, b, d: a @ b, [_r(g, 5, 7), _r(g, 7, 3)])),
    ("bmm", lambda g: (lambda a, b, d: md.bmm(a, b), [_r(g, 2, 4, 6), _r(g, 2, 6, 3)])),
    ("linear", lambda g: (lambda x, w, b, d: F.linear(x, w, b), [_r(g, 8, 5), _r(g, 3, 5), _r(g, 3)])),
    # shape, indexing, cat, pad
    ("reshape_permute", lambda g: (lambda a, d: a.reshape(4, 6).T.permute(1, 0).reshape(2, 12) * 2.0,
                                   [_r(g, 2, 3, 4)])),
    ("slice_index", lambda g: (lambda a, d: a[1:, ::2] + a[md.tensor([0, 2, 2], device=d)][:, :3:1][:2],
                               [_r(g, 3, 6)])),
    ("cat_stack_split", lambda g: (lambda a, b, d: md.cat([a, b], dim=1).split(2, dim=1)[1] + md.stack([a, b])[1],
                                   [_r(g, 3, 2), _r(g, 3, 2)])),
    ("gather_flip_repeat", lambda g: (lambda a, d: a.gather(1, md.tensor([[0, 2], [1, 1]], device=d)).flip(1)
                                      .repeat(2, 3), [_r(g, 2, 3)])),
    ("pad_modes", lambda g: (lambda a, d: md.cat([F.pad(a, (1, 2, 2, 1), value=0.5).flatten(),
                                                 F.pad(a, (1, 1, 2, 0), mode="reflect").flatten(),
                                                 F.pad(a, (2, 1, 0, 1), mode="replicate").flatten()]),
                             [_r(g, 1, 2, 4, 5)])),
    ("expand_unsqueeze", lambda g: (lambda a, d: a.unsqueeze(0).expand(3, 2, 4) * a, [_r(g, 2, 4)])),
    # activations
    ("relu_leaky_elu", lambda g: (lambda a, d: F.relu(a) + F.leaky_relu(a, 0.1) + F.elu(a), [_r(g, 4, 5)])),
    ("gelu_softplus_hardtanh", lambda g: (lambda a, d: F.gelu(a) + F.gelu(a, approximate="tanh") + F.softplus(a)
                                          + F.hardtanh(a, -0.5, 0.5), [_r(g, 4, 5, low=-3, high=3)])),
    ("sigmoid_tanh", lambda g: (lambda a, d: md.sigmoid(a) * md.tanh(a), [_r(g, 3, 3, low=-4, high=4)])),
    ("softmax_log_softmax", lambda g: (lambda a, d: F.softmax(a, dim=1) + F.log_softmax(a, dim=0), [_r(g, 4, 6)])),
    # convolution: stride, padding, dilation, groups (weight (O, C/groups, kh, kw))
    ("conv2d_plain", lambda g: (lambda x, w, b, d: F.conv2d(x, w, b),
                                [_r(g, 2, 3, 7, 7), _r(g, 4, 3, 3, 3), _r(g, 4)])),
    ("conv2d_stride_pad", lambda g: (lambda x, w, b, d: F.conv2d(x, w, b, stride=2, padding=1),
                                     [_r(g, 2, 3, 9, 8), _r(g, 5, 3, 3, 3), _r(g, 5)])),
    ("conv2d_dilation", lambda g: (lambda x, w, d: F.conv2d(x, w, stride=(1, 2), padding=(2, 1), dilation=2),
                                   [_r(g, 1, 2, 9, 9), _r(g, 3, 2, 3, 2)])),
    ("conv2d_groups", lambda g: (lambda x, w, b, d: F.conv2d(x, w, b, stride=2, padding=1, groups=2),
                                 [_r(g, 2, 4, 8, 8), _r(g, 6, 2, 3, 3), _r(g, 6)])),
    ("conv2d_depthwise", lambda g: (lambda x, w, d: F.conv2d(x, w, padding=2, groups=3),
                                    [_r(g, 2, 3, 6, 6), _r(g, 3, 1, 5, 5)])),
    ("conv_transpose2d", lambda g: (lambda x, w, b, d: F.conv_transpose2d(x, w, b, stride=2, padding=1,
                                                                          output_padding=1),
                                    [_r(g, 2, 3, 4, 5), _r(g, 3, 4, 3, 3), _r(g, 4)])),
    ("conv_transpose2d_groups", lambda g: (lambda x, w, d: F.conv_transpose2d(x, w, stride=(2, 1), groups=2,
                                                                              dilation=2),
                                           [_r(g, 1, 4, 5, 5), _r(g, 4, 3, 2, 3)])),
    # pooling
    ("max_pool2d", lambda g: (lambda x, d: F.max_pool2d(x, 2), [_distinct(g, 2, 3, 8, 8)])),
    ("max_pool2d_overlap", lambda g: (lambda x, d: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
                                      [_distinct(g, 2, 2, 9, 7)])),
    ("max_pool2d_dilation", lambda g: (lambda x, d: F.max_pool2d(x, (3, 2), stride=1, dilation=(2, 3)),
                                       [_distinct(g, 1, 2, 9, 9)])),
    ("avg_pool2d", lambda g: (lambda x, d: F.avg_pool2d(x, 3, stride=2, padding=1) + 0.0, [_r(g, 2, 3, 8, 8)])),
    ("avg_pool2d_ceil_exclude", lambda g: (lambda x, d: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True,
                                                                     count_include_pad=False), [_r(g, 2, 2, 8, 7)])),
    ("adaptive_avg_pool2d", lambda g: (lambda x, d: F.adaptive_avg_pool2d(x, (3, 4)), [_r(g, 2, 3, 7, 10)])),
    ("adaptive_max_pool2d", lambda g: (lambda x, d: F.adaptive_max_pool2d(x, (3, 2)), [_distinct(g, 2, 3, 8, 5)])),
    # normalisation (functional; the modules' running statistics are tested below)
    ("batch_norm_train", lambda g: (lambda x, w, b, d: F.batch_norm(x, None, None, w, b, training=True),
                                    [_r(g, 4, 3, 5, 5), _r(g, 3), _r(g, 3)])),
    ("layer_norm", lambda g: (lambda x, w, b, d: F.layer_norm(x, (4, 5), w, b),
                              [_r(g, 3, 2, 4, 5), _r(g, 4, 5), _r(g, 4, 5)])),
    # losses
    ("cross_entropy", lambda g: (lambda x, d: F.cross_entropy(x, _labels(np.random.default_rng(1), 6, 5).to(d)),
                                 [_r(g, 6, 5, low=-3, high=3)])),
    ("cross_entropy_options", lambda g: (lambda x, d: F.cross_entropy(
        x, md.tensor([0, 4, -100, 2, 1, 3], device=d), weight=md.tensor([1.0, 2.0, 0.5, 1.0, 3.0], device=d),
        label_smoothing=0.1), [_r(g, 6, 5, low=-3, high=3)])),
    ("cross_entropy_spatial", lambda g: (lambda x, d: F.cross_entropy(x, md.tensor(
        np.random.default_rng(2).integers(0, 3, (2, 4, 4)), device=d), reduction="none"), [_r(g, 2, 3, 4, 4)])),
    ("nll_loss", lambda g: (lambda x, d: F.nll_loss(F.log_softmax(x, 1), md.tensor([2, 0, 1, 1], device=d)),
                            [_r(g, 4, 3)])),
    ("mse_loss", lambda g: (lambda x, t, d: F.mse_loss(x, t) + F.mse_loss(x, t, reduction="sum"),
                            [_r(g, 4, 3), _r(g, 4, 3)])),
    ("bce", lambda g: (lambda x, d: F.binary_cross_entropy(md.sigmoid(x), md.tensor(
        np.random.default_rng(3).uniform(0, 1, (5, 2)).astype(np.float32), device=d)), [_r(g, 5, 2, low=-3, high=3)])),
    ("bce_with_logits", lambda g: (lambda x, d: F.binary_cross_entropy_with_logits(
        x, md.tensor(np.random.default_rng(4).integers(0, 2, (5, 3)).astype(np.float32), device=d),
        pos_weight=md.tensor([1.0, 2.0, 0.5], device=d)), [_r(g, 5, 3, low=-4, high=4)])),
    # upsampling
    ("upsample_nearest", lambda g: (lambda x, d: F.interpolate(x, scale_factor=2, mode="nearest"),
                                    [_r(g, 2, 3, 4, 5)])),
    ("upsample_nearest_size", lambda g: (lambda x, d: F.interpolate(x, size=(7, 3)), [_r(g, 1, 2, 5, 4)])),
    ("upsample_bilinear", lambda g: (lambda x, d: F.interpolate(x, size=(7, 9), mode="bilinear", align_corners=False),
                                     [_r(g, 2, 2, 4, 5)])),
    ("upsample_bilinear_corners", lambda g: (lambda x, d: F.interpolate(x, scale_factor=2, mode="bilinear",
                                                                        align_corners=True), [_r(g, 1, 3, 3, 4)])),
]  # fmt: skip


def _run(fn: Callable[..., Any], arrays: Sequence[np.ndarray], device: str, upstream_seed: int = 7
         ) -> tuple[np.ndarray, list[np.ndarray]]:  # fmt: skip
    """fn's output and every input's gradient, all as numpy arrays (the output must be on ``device``)."""
    xs = [md.tensor(a, device=device, requires_grad=True) for a in arrays]
    out = fn(*xs, device)
    assert out.device == md.device(device), f"output on {out.device}, inputs on {device}"
    up = md.tensor(np.random.default_rng(upstream_seed).standard_normal(out.shape).astype(np.float32), device=device)
    (out * up).sum().backward()
    grads = []
    for x in xs:
        assert x.grad is not None and x.grad.device == md.device(device) and x.grad.dtype == x.dtype
        grads.append(x.grad.cpu().numpy())
    return out.detach().cpu().numpy(), grads


@pytest.mark.parametrize("name, build", CASES, ids=[c[0] for c in CASES])
def test_op_on_gpu_equals_cpu(name: str, build: Build) -> None:
    fn, arrays = build(np.random.default_rng(0))
    out_cpu, grads_cpu = _run(fn, arrays, "cpu")
    out_gpu, grads_gpu = _run(fn, arrays, "cuda")
    assert out_gpu.dtype == out_cpu.dtype
    np.testing.assert_allclose(out_gpu, out_cpu, rtol=RTOL, atol=ATOL, err_msg=f"{name}: forward")
    for i, (a, b) in enumerate(zip(grads_gpu, grads_cpu)):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=f"{name}: gradient of input {i}")


@pytest.mark.parametrize("kernels", [True, False], ids=["cuda_kernels", "numpy_reference_on_cupy"])
def test_conv_and_pool_both_gpu_paths(kernels: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hand-written kernels and the numpy references run on cupy arrays give the CPU numbers."""
    from minidl.backend import cuda as cuda_kernels

    monkeypatch.setattr(cuda_kernels, "_enabled", kernels)
    for name in ("conv2d_groups", "conv_transpose2d", "max_pool2d_overlap", "avg_pool2d_ceil_exclude",
                 "adaptive_avg_pool2d", "adaptive_max_pool2d"):  # fmt: skip
        test_op_on_gpu_equals_cpu(name, dict(CASES)[name])


# ---------------------------------------------------------------------------- layers with state
def test_batchnorm_train_and_eval_running_stats() -> None:
    rng = np.random.default_rng(0)
    cpu, gpu = nn.BatchNorm2d(3, momentum=0.2), nn.BatchNorm2d(3, momentum=0.2)
    gpu.load_state_dict(cpu.state_dict())
    gpu.cuda()
    for step in range(3):
        x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32) * (step + 1)
        a, b = cpu(md.tensor(x)), gpu(md.tensor(x, device="cuda"))
        np.testing.assert_allclose(b.detach().cpu().numpy(), a.detach().numpy(), rtol=RTOL, atol=ATOL)
    for (k, a), b in zip(cpu.state_dict().items(), gpu.state_dict().values()):
        assert b.device == "cuda:0", k
        np.testing.assert_allclose(b.cpu().numpy(), a.numpy(), rtol=RTOL, atol=ATOL, err_msg=k)
    cpu.eval(), gpu.eval()
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(gpu(md.tensor(x, device="cuda")).detach().cpu().numpy(),
                               cpu(md.tensor(x)).detach().numpy(), rtol=RTOL, atol=ATOL)  # fmt: skip


def test_dropout_statistics_on_gpu() -> None:
    """Inverted dropout on the GPU: about p of the elements zero, the rest scaled by 1/(1-p); eval is identity."""
    p, n = 0.3, 200_000
    drop = nn.Dropout(p).cuda()
    x = md.ones(n, device="cuda", requires_grad=True)
    y = drop(x)
    assert y.device == "cuda:0"
    values = y.detach().cpu().numpy()
    kept = values != 0
    assert abs(1 - kept.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(values[kept], np.float32(1 / (1 - p)), rtol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.cpu().numpy(), values)  # the gradient goes through the same mask
    drop.eval()
    assert drop(x) is x or np.array_equal(drop(x).detach().cpu().numpy(), np.ones(n, np.float32))


def test_dropout_same_seed_same_mask_on_both_devices() -> None:
    """minidl draws masks from one host generator: a seeded run repeats on the other device."""
    md.manual_seed(5)
    a = F.dropout(md.ones(1000), 0.5).numpy()
    md.manual_seed(5)
    b = F.dropout(md.ones(1000, device="cuda"), 0.5).cpu().numpy()
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------- a whole model
def _train(model: nn.Module, device: str, steps: int = 3) -> tuple[list[float], nn.Module, Any]:
    rng = np.random.default_rng(0)
    model.to(device)
    opt = md.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    losses = []
    for _ in range(steps):
        x = md.tensor(rng.standard_normal((8, 3, 32, 32)).astype(np.float32)).to(device)  # moved as a DataLoader batch
        y = md.tensor(rng.integers(0, 10, 8)).to(device)
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, model, opt


@pytest.mark.parametrize("make", [lambda: md.models.LeNet(), lambda: md.models.CourseCNN(num_classes=10)],
                         ids=["LeNet", "CourseCNN"])  # fmt: skip
def test_model_training_on_gpu_equals_cpu(make: Callable[[], nn.Module]) -> None:
    md.manual_seed(0)
    cpu_model = make()
    gpu_model = make()
    gpu_model.load_state_dict(cpu_model.state_dict())
    losses_cpu, cpu_model, _ = _train(cpu_model, "cpu")
    params = list(gpu_model.parameters())
    losses_gpu, gpu_model, opt = _train(gpu_model, "cuda")
    assert all(a is b for a, b in zip(gpu_model.parameters(), params))  # moved in place
    np.testing.assert_allclose(losses_gpu, losses_cpu, rtol=1e-4)
    for (k, a), b in zip(cpu_model.state_dict().items(), gpu_model.state_dict().values()):
        assert b.device == "cuda:0", k
        np.testing.assert_allclose(b.cpu().numpy(), a.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)
    buffers = [s["momentum_buffer"] for s in opt.state.values()]
    assert buffers and all(md.Tensor._make(b).device == "cuda:0" for b in buffers)  # optimiser state on the GPU


# ---------------------------------------------------------------------------- devices
def test_device_api_and_round_trip() -> None:
    assert md.cuda.is_available() and md.cuda.device_count() >= 1
    assert 0 <= md.cuda.current_device() < md.cuda.device_count()
    assert isinstance(md.cuda.get_device_name(), str) and md.cuda.get_device_name()
    x = md.randn(3, 4)
    g = x.to("cuda")
    assert g.is_cuda and g.device == "cuda:0" and g.cuda() is g and x.cuda().device == "cuda:0"
    md.cuda.synchronize()
    back = g.cpu()
    assert not back.is_cuda and type(back.numpy()) is np.ndarray
    np.testing.assert_array_equal(back.numpy(), x.numpy())
    assert md.zeros(2, 3, device="cuda").device == "cuda:0"
    with pytest.raises(TypeError, match="numpy"):
        g.numpy()  # as torch: copy to the CPU first


def test_mixed_devices_raise() -> None:
    a, b = md.ones(3), md.ones(3, device="cuda")
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        a + b
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        F.cross_entropy(md.randn(4, 3, device="cuda"), md.tensor([0, 1, 2, 1]))
    with pytest.raises(RuntimeError, match="Expected all tensors to be on the same device"):
        nn.Linear(3, 2)(b.reshape(1, 3))


def test_save_and_load_of_gpu_state_dict(tmp_path: Any) -> None:
    model = md.models.LeNet().cuda()
    md.save(model.state_dict(), tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as raw:
        assert raw.files
    on_gpu = md.load(tmp_path / "m.npz")
    on_cpu = md.load(tmp_path / "m.npz", map_location="cpu")
    for (k, a), b, c in zip(model.state_dict().items(), on_gpu.values(), on_cpu.values()):
        assert b.device == "cuda:0" and c.device == "cpu", k
        np.testing.assert_array_equal(c.numpy(), a.cpu().numpy(), err_msg=k)


# ---------------------------------------------------------------------------- torch on CUDA
needs_torch_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="this torch has no CUDA")


@pytest.fixture
def no_tf32(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's cuDNN convolutions use TF32 (10-bit mantissa) by default on Ampere and later: off, for fp32 numbers."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)


@needs_torch_cuda
@pytest.mark.parametrize("stride, padding, dilation, groups", [(1, 1, 1, 1), (2, 0, 2, 2), (1, 2, 1, 4)])
def test_conv2d_matches_torch_cuda(stride: int, padding: int, dilation: int, groups: int, no_tf32: None) -> None:
    rng = np.random.default_rng(0)
    x, w, b = _r(rng, 2, 4, 11, 9), _r(rng, 8, 4 // groups, 3, 3), _r(rng, 8)
    ours = [md.tensor(a, device="cuda", requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, device="cuda", requires_grad=True) for a in (x, w, b)]
    out = F.conv2d(*ours, stride=stride, padding=padding, dilation=dilation, groups=groups)
    ref = torch.nn.functional.conv2d(*theirs, stride=stride, padding=padding, dilation=dilation, groups=groups)
    up = rng.standard_normal(ref.shape).astype(np.float32)
    (out * md.tensor(up, device="cuda")).sum().backward()
    (ref * torch.tensor(up, device="cuda")).sum().backward()
    np.testing.assert_allclose(out.detach().cpu().numpy(), ref.detach().cpu().numpy(), rtol=RTOL, atol=1e-4)
    for a, t in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.cpu().numpy(), t.grad.cpu().numpy(), rtol=RTOL, atol=1e-4)


@needs_torch_cuda
def test_training_step_matches_torch_cuda(no_tf32: None) -> None:
    from minidl.utils.torch_interop import state_dict_to_torch

    md.manual_seed(0)
    model = md.models.LeNet().cuda()
    ref = torch.nn.Sequential(
        torch.nn.Sequential(torch.nn.Conv2d(3, 32, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                            torch.nn.Conv2d(32, 64, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                            torch.nn.Conv2d(64, 128, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2)),
        torch.nn.Flatten(),
        torch.nn.Sequential(torch.nn.Linear(2048, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)),
    ).cuda()  # fmt: skip
    weights = state_dict_to_torch(model.state_dict())
    for i, part in ((0, "features."), (2, "classifier.")):
        ref[i].load_state_dict({k[len(part):]: v for k, v in weights.items() if k.startswith(part)})
    opt = md.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    topt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((8, 3, 32, 32)).astype(np.float32)
        y = rng.integers(0, 10, 8)
        opt.zero_grad(), topt.zero_grad()
        loss = F.cross_entropy(model(md.tensor(x, device="cuda")), md.tensor(y, device="cuda"))
        tloss = torch.nn.functional.cross_entropy(ref(torch.tensor(x, device="cuda")), torch.tensor(y, device="cuda"))
        loss.backward(), tloss.backward()
        opt.step(), topt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-4)
    for (k, a), t in zip(model.state_dict().items(), ref.state_dict().values()):
        np.testing.assert_allclose(a.cpu().numpy(), t.cpu().numpy(), rtol=1e-3, atol=1e-5, err_msg=k)
