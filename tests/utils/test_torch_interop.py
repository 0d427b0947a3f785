"""minidl.utils.torch_interop: torch files <-> minidl .npz, checked by identical model outputs."""

from __future__ import annotations

import pathlib
import sys
from collections import OrderedDict

import numpy as np
import pytest

import minidl
from minidl import nn
from minidl.serialization import load, save
from minidl.utils.torch_interop import npz_to_torch, state_dict_from_torch, state_dict_to_torch, torch_to_npz

torch = pytest.importorskip("torch")


def _torch_mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))


def _minidl_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))


def _outputs(torch_model: torch.nn.Module, minidl_model: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    with torch.no_grad():
        t_out = torch_model(torch.from_numpy(x)).numpy()
    with minidl.no_grad():
        m_out = minidl_model(minidl.tensor(x)).numpy()
    return t_out, m_out


def test_torch_file_to_minidl_model(tmp_path: pathlib.Path) -> None:
    tm = _torch_mlp()
    torch.save(tm.state_dict(), tmp_path / "weights.pth")
    written = torch_to_npz(tmp_path / "weights.pth", tmp_path / "weights.npz")
    assert list(written) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    mm = _minidl_mlp()
    mm.load_state_dict(load(tmp_path / "weights.npz"))
    t_out, m_out = _outputs(tm, mm)
    np.testing.assert_allclose(m_out, t_out, rtol=1e-5, atol=1e-6)
    for k, v in load(tmp_path / "weights.npz").items():
        np.testing.assert_array_equal(v.numpy(), tm.state_dict()[k].numpy())


def test_minidl_file_to_torch_model(tmp_path: pathlib.Path) -> None:
    minidl.manual_seed(3)
    mm = _minidl_mlp()
    save(mm.state_dict(), tmp_path / "m.npz")
    npz_to_torch(tmp_path / "m.npz", str(tmp_path / "m.pth"))
    sd = torch.load(tmp_path / "m.pth", weights_only=True)
    assert isinstance(sd, OrderedDict) and list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    tm = _torch_mlp()
    tm.load_state_dict(sd)
    t_out, m_out = _outputs(tm, mm)
    np.testing.assert_allclose(t_out, m_out, rtol=1e-5, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz", "m.pth"]  # no temporary left


def test_checkpoint_dicts_and_prefixes(tmp_path: pathlib.Path) -> None:
    tm = _torch_mlp()
    opt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9)
    tm(torch.randn(3, 6)).sum().backward()
    opt.step()
    for key in ("state_dict", "model", "model_state_dict"):
        torch.save({key: tm.state_dict(), "optimizer": opt.state_dict(), "epoch": 7}, tmp_path / "ckpt.pt")
        sd = torch_to_npz(tmp_path / "ckpt.pt", tmp_path / "ckpt.npz")
        assert list(sd) == ["0.weight", "0.bias", "2.weight", "2.bias"], key
    opt_sd = torch_to_npz(tmp_path / "ckpt.pt", tmp_path / "opt.npz", key="optimizer")
    back = load(tmp_path / "opt.npz")
    assert list(back["state"]) == [0, 1, 2, 3] and back["param_groups"][0]["momentum"] == 0.9
    np.testing.assert_array_equal(back["state"][0]["momentum_buffer"].numpy(),
                                  opt.state_dict()["state"][0]["momentum_buffer"].numpy())  # fmt: skip
    assert opt_sd["param_groups"][0]["params"] == [0, 1, 2, 3]
    with pytest.raises(KeyError, match="scheduler"):
        torch_to_npz(tmp_path / "ckpt.pt", tmp_path / "x.npz", key="scheduler")

    wrapped = OrderedDict(("module." + k, v) for k, v in tm.state_dict().items())  # nn.DataParallel's keys
    torch.save(wrapped, tmp_path / "dp.pth")
    sd = torch_to_npz(tmp_path / "dp.pth", tmp_path / "dp.npz", strip_prefix="module.")
    assert list(load(tmp_path / "dp.npz")) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_in_memory_conversion_keeps_dtypes_and_order() -> None:
    sd = OrderedDict([
        ("w", torch.randn(2, 3, dtype=torch.float64)), ("n", torch.tensor(5)),
        ("h", torch.ones(2, dtype=torch.float16)),
        ("b", torch.tensor([True, False])), ("bf", torch.ones(2, dtype=torch.bfloat16)),
        ("meta", {"shape": torch.Size([2, 3]), "xs": [torch.zeros(1)], "t": (1, "a")}),
    ])  # fmt: skip
    m = state_dict_from_torch(sd)
    assert isinstance(m, OrderedDict) and list(m) == list(sd)
    assert m["w"].dtype == minidl.float64 and m["n"].dtype == minidl.int64 and m["n"].shape == ()
    assert m["h"].dtype == minidl.float16 and m["b"].dtype == minidl.bool
    assert m["bf"].dtype == minidl.float32  # minidl has no bfloat16
    assert m["meta"]["shape"] == minidl.Size([2, 3]) and m["meta"]["t"] == (1, "a")
    back = state_dict_to_torch(m)
    assert list(back) == list(sd) and back["w"].dtype == torch.float64 and back["n"].dtype == torch.int64
    assert torch.equal(back["w"], sd["w"]) and isinstance(back["meta"]["shape"], torch.Size)
    assert torch.equal(state_dict_to_torch({"a": np.arange(3)})["a"], torch.arange(3))
    m["w"]._data[0, 0] = 123.0  # copies, not views of torch's memory
    assert sd["w"][0, 0].item() != 123.0


def test_conv_batchnorm_model_both_ways(tmp_path: pathlib.Path) -> None:
    try:
        from minidl.nn.modules.batchnorm import BatchNorm2d
        from minidl.nn.modules.conv import Conv2d
    except ImportError:
        pytest.skip("minidl.nn has no Conv2d/BatchNorm2d yet")
    tm = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU())
    tm.train()
    tm(torch.randn(8, 3, 6, 6))  # running statistics and num_batches_tracked move
    tm.eval()
    torch.save(tm.state_dict(), tmp_path / "cnn.pth")
    torch_to_npz(tmp_path / "cnn.pth", tmp_path / "cnn.npz")
    mm = nn.Sequential(Conv2d(3, 4, 3, padding=1), BatchNorm2d(4), nn.ReLU()).eval()
    mm.load_state_dict(load(tmp_path / "cnn.npz"))
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(np.float32)
    with torch.no_grad():
        ref = tm(torch.from_numpy(x)).numpy()
    with minidl.no_grad():
        np.testing.assert_allclose(mm(minidl.tensor(x)).numpy(), ref, rtol=1e-4, atol=1e-5)
    save(mm.state_dict(), tmp_path / "back.npz")
    npz_to_torch(tmp_path / "back.npz", tmp_path / "back.pth")
    tm2 = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU()).eval()
    tm2.load_state_dict(torch.load(tmp_path / "back.pth", weights_only=True))
    with torch.no_grad():
        np.testing.assert_allclose(tm2(torch.from_numpy(x)).numpy(), ref, rtol=1e-5, atol=1e-6)


def test_whole_pickled_model_is_refused(tmp_path: pathlib.Path) -> None:
    torch.save(_torch_mlp(), tmp_path / "model.pt")  # a pickled Module, not a state dict
    with pytest.raises(RuntimeError, match="state_dict"):
        torch_to_npz(tmp_path / "model.pt", tmp_path / "model.npz")
    assert not (tmp_path / "model.npz").exists()


def test_clear_import_error_without_torch(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" now fails
    with pytest.raises(ImportError, match="needs PyTorch"):
        torch_to_npz(tmp_path / "a.pth", tmp_path / "a.npz")
    with pytest.raises(ImportError, match="needs PyTorch"):
        state_dict_to_torch({})
