"""minidl.serialization: exact round trips, atomic writes, and refusing anything pickled."""

from __future__ import annotations

import io
import math
import os
import pathlib
import pickle
import re
import zipfile
from collections import Counter, OrderedDict

import numpy as np
import pytest

import minidl
import minidl.optim
from minidl import nn
from minidl.serialization import SerializationError, UnsafeFileError, load, save


def _model() -> nn.Module:
    minidl.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))


def _trained(steps: int = 3) -> tuple[nn.Module, minidl.optim.Optimizer]:
    model = _model()
    opt = minidl.optim.Adam(model.parameters(), lr=1e-2, betas=(0.8, 0.95), weight_decay=1e-3)
    x = minidl.randn(16, 5)
    for _ in range(steps):
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()
    return model, opt


def _assert_same(a: object, b: object, where: str = "obj") -> None:
    """Equal structure, types, key order, dtypes and values (NaN equal to NaN)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, minidl.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert a.requires_grad == b.requires_grad, where
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy(), err_msg=where)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and (a == b or (a != a and b != b)), where
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys()), where
        for (ka, va), kb in zip(a.items(), b.keys()):
            assert type(ka) is type(kb), f"{where}: key {ka!r}"
            _assert_same(va, b[kb], f"{where}[{ka!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, where


# ---------------------------------------------------------------------------- round trips
def test_model_and_optimizer_state_round_trip(tmp_path: pathlib.Path) -> None:
    model, opt = _trained()
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}
    path = tmp_path / "ckpt.npz"
    save(ckpt, path)
    loaded = load(path)
    _assert_same(ckpt, loaded)
    assert isinstance(loaded["model"], OrderedDict)
    assert list(loaded["model"]) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert list(loaded["optimizer"]["state"]) == [0, 1, 2, 3]  # int keys stay ints
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.8, 0.95)  # tuples stay tuples
    assert loaded["optimizer"]["param_groups"][0]["params"] == [0, 1, 2, 3]


def test_loaded_state_gives_identical_model_and_optimizer_trajectory(tmp_path: pathlib.Path) -> None:
    model, opt = _trained()
    save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "c.npz")
    ckpt = load(tmp_path / "c.npz")

    fresh = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))
    fresh.load_state_dict(ckpt["model"])
    fresh_opt = minidl.optim.Adam(fresh.parameters(), lr=0.5)
    fresh_opt.load_state_dict(ckpt["optimizer"])
    x = minidl.randn(4, 5)
    np.testing.assert_array_equal(model(x).detach().numpy(), fresh(x).detach().numpy())
    for m, o in ((model, opt), (fresh, fresh_opt)):
        for _ in range(3):
            o.zero_grad()
            m(x).pow(2).mean().backward()
            o.step()
    for p, q in zip(model.parameters(), fresh.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_every_supported_value_round_trips(tmp_path: pathlib.Path) -> None:
    base = np.arange(12, dtype=np.float64).reshape(3, 4)
    obj = OrderedDict([
        ("z", 1), ("a", 2),  # insertion order, not sorted
        (7, "int key"), (2.5, "float key"), (True, "bool key"), (None, "none key"), ((1, "x"), "tuple key"),
        ("numbers", [0, -(2**70), 1.5, float("inf"), -float("inf"), float("nan"), 1e-310, True, False, None]),
        ("strings", ["", "héllo ✓", "quote\"s", "\n"]),
        ("bytes", b"\x00\xffabc"),
        ("nested", {"t": (1, (2, [3, {"deep": ()}])), "empty": {}, "list": []}),
        ("arrays", [base, base[:, ::2], np.asfortranarray(base), np.zeros((0, 3), np.int8), np.array(3.5),
                    np.array([True, False]), np.arange(4, dtype=np.uint8), np.array(["ab", "c"])]),
        ("np_scalars", [np.float32(1.25), np.float64(2.5), np.int64(-3), np.bool_(True), np.float16(0.5),
                        np.str_("s")]),
        ("tensors", [minidl.tensor([1.0, 2.0]), minidl.tensor(3, dtype=minidl.int64),
                     minidl.zeros(2, 0, 3), minidl.tensor([[True]]), minidl.randn(2, 2, dtype=minidl.float64),
                     minidl.ones(2, dtype=minidl.float16), minidl.tensor([1, 2], dtype=minidl.int32)]),
        ("size", minidl.Size([2, 3])),
        ("dtype", minidl.float64),
        ("device", minidl.device("cpu")),
        ("counter", Counter([30, 80, 80])),
        ("plain_dict", {"b": 1, "a": 2}),
    ])  # fmt: skip
    save(obj, tmp_path / "all.npz")
    back = load(tmp_path / "all.npz")
    _assert_same(obj, back)
    assert back["dtype"] is minidl.float64
    assert back["arrays"][1].flags.c_contiguous or back["arrays"][1].shape == (3, 2)


def test_sets_and_parameters(tmp_path: pathlib.Path) -> None:
    p = nn.Parameter(minidl.randn(3))
    t = minidl.randn(2, requires_grad=True)
    save({"s": {3, 1, 2}, "p": p, "t": t}, tmp_path / "x.npz")
    back = load(tmp_path / "x.npz")
    assert back["s"] == {1, 2, 3}
    assert isinstance(back["p"], nn.Parameter) and back["p"].requires_grad
    assert back["t"].requires_grad and back["t"].is_leaf
    np.testing.assert_array_equal(back["p"].detach().numpy(), p.detach().numpy())


def test_shared_arrays_are_stored_once(tmp_path: pathlib.Path) -> None:
    w = minidl.randn(64, 64)
    save({"a": w, "b": w.detach(), "c": [w]}, tmp_path / "tied.npz")
    with np.load(tmp_path / "tied.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["__manifest__", "a0"]
    back = load(tmp_path / "tied.npz")
    np.testing.assert_array_equal(back["b"].numpy(), w.numpy())


def test_file_is_a_plain_npz_with_a_json_manifest(tmp_path: pathlib.Path) -> None:
    import json

    save({"w": minidl.ones(2, 3), "epoch": 4}, tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as z:
        manifest = json.loads(z["__manifest__"].tobytes().decode())
        assert z["a0"].shape == (2, 3) and z["a0"].dtype == np.float32
    assert manifest["format"] == "minidl.save" and manifest["version"] == 1
    assert manifest["root"]["t"] == "dict"


def test_paths_and_file_objects(tmp_path: pathlib.Path) -> None:
    sd = _model().state_dict()
    save(sd, str(tmp_path / "s.weights"))  # used as given: no .npz appended
    assert os.listdir(tmp_path) == ["s.weights"]
    _assert_same(sd, load(str(tmp_path / "s.weights")))
    buf = io.BytesIO()
    save(sd, buf)
    buf.seek(0)
    _assert_same(sd, load(buf))
    save(sd, tmp_path / "c.npz", compress=True)
    _assert_same(sd, load(tmp_path / "c.npz"))


def test_map_location(tmp_path: pathlib.Path) -> None:
    save({"w": minidl.ones(2)}, tmp_path / "w.npz")
    for loc in ("cpu", minidl.device("cpu"), {"cuda:0": "cpu"}):
        assert load(tmp_path / "w.npz", map_location=loc)["w"].device == "cpu"
    with pytest.raises(TypeError, match="map_location"):
        load(tmp_path / "w.npz", map_location=3.0)


def test_plain_npz_and_npy_load_as_tensors(tmp_path: pathlib.Path) -> None:
    np.savez(tmp_path / "plain.npz", weight=np.ones((2, 2), np.float32), bias=np.zeros(2))
    back = load(tmp_path / "plain.npz")
    assert isinstance(back, OrderedDict) and list(back) == ["weight", "bias"]
    assert back["bias"].dtype == minidl.float64
    np.save(tmp_path / "one.npy", np.arange(3))
    assert load(tmp_path / "one.npy").tolist() == [0, 1, 2]


# ---------------------------------------------------------------------------- atomic saving
def test_interrupted_save_leaves_the_old_file_intact(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ckpt.npz"
    old = {"epoch": 1, "w": minidl.ones(3)}
    save(old, path)

    def half_written(file, *args, **kwargs):  # writes part of an archive, then the "crash"
        file.write(b"PK\x03\x04 partial archive bytes")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", half_written)
    with pytest.raises(KeyboardInterrupt):
        save({"epoch": 2, "w": minidl.zeros(3)}, path)
    monkeypatch.undo()
    _assert_same(old, load(path))
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # the temporary file was removed


def test_failed_rename_leaves_the_old_file_and_no_temporary(tmp_path: pathlib.Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    path = tmp_path / "ckpt.npz"
    save({"epoch": 1}, path)
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk gone")))
    with pytest.raises(OSError, match="disk gone"):
        save({"epoch": 2}, path)
    monkeypatch.undo()
    assert load(path) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["ckpt.npz"]


def test_save_into_a_missing_folder(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save({"a": 1}, tmp_path / "nope" / "x.npz")


# ---------------------------------------------------------------------------- what save refuses
def test_save_refuses_unpicklable_free_objects_naming_where(tmp_path: pathlib.Path) -> None:
    class Thing:
        pass

    with pytest.raises(TypeError, match=r"obj\['model'\]\['fc'\].*Thing"):
        save({"model": {"fc": Thing()}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="object array"):
        save({"a": np.array([1, "x", None], dtype=object)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="function"):
        save([lambda: 0], tmp_path / "x.npz")
    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="contains itself"):
        save(loop, tmp_path / "x.npz")
    assert not os.listdir(tmp_path)


# ---------------------------------------------------------------------------- what load refuses
def test_torch_and_pickle_files_are_refused(tmp_path: pathlib.Path) -> None:
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.ones(2)}, tmp_path / "zip.pt")
    torch.save({"w": torch.ones(2)}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    with open(tmp_path / "p.pkl", "wb") as fh:
        pickle.dump({"w": np.ones(2)}, fh)
    with open(tmp_path / "p0.pkl", "wb") as fh:
        pickle.dump([1, 2], fh, protocol=0)
    for name in ("zip.pt", "legacy.pt", "p.pkl", "p0.pkl"):
        with pytest.raises(UnsafeFileError, match="never unpickles") as info:
            load(tmp_path / name)
        assert name in str(info.value)
        assert isinstance(info.value, pickle.UnpicklingError)


def test_object_arrays_are_refused(tmp_path: pathlib.Path) -> None:
    np.savez(tmp_path / "obj.npz", a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(UnsafeFileError, match="never unpickles"):
        load(tmp_path / "obj.npz")
    # an object array smuggled into a minidl file is refused too
    save({"w": minidl.ones(2)}, tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz", "a") as z, z.open("a1.npy", "w") as fh:
        np.lib.format.write_array(fh, np.array([None], dtype=object), allow_pickle=True)
    with pytest.raises(UnsafeFileError, match=re.escape("m.npz")):
        load(tmp_path / "m.npz")


def test_truncated_and_corrupt_files_name_the_path(tmp_path: pathlib.Path) -> None:
    save({"w": minidl.randn(100, 100)}, tmp_path / "good.npz")
    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "half.npz").write_bytes(data[: len(data) // 2])
    mid = len(data) // 3
    (tmp_path / "flipped.npz").write_bytes(data[:mid] + bytes(b ^ 0xFF for b in data[mid:mid + 64]) + data[mid + 64:])
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "text.npz").write_text("hello, not a checkpoint")
    for name in ("half.npz", "flipped.npz", "empty.npz", "text.npz"):
        with pytest.raises(SerializationError, match=re.escape(name)):
            load(tmp_path / name)
    with pytest.raises(FileNotFoundError, match=re.escape("missing.npz")):
        load(tmp_path / "missing.npz")


def test_manifest_that_disagrees_with_the_arrays_is_refused(tmp_path: pathlib.Path) -> None:
    import json

    manifest = {"format": "minidl.save", "version": 1,
                "root": {"t": "ndarray", "a": "a0", "dtype": "float32", "shape": [5]}}  # fmt: skip
    raw = np.frombuffer(json.dumps(manifest).encode(), np.uint8)
    np.savez(tmp_path / "bad.npz", a0=np.zeros(3, np.float32), __manifest__=raw)
    with pytest.raises(SerializationError, match=re.escape("bad.npz")):
        load(tmp_path / "bad.npz")
    manifest["version"] = 99
    np.savez(tmp_path / "new.npz", __manifest__=np.frombuffer(json.dumps(manifest).encode(), np.uint8))
    with pytest.raises(SerializationError, match="newer"):
        load(tmp_path / "new.npz")


def test_cuda_map_location_without_gpu_says_use_cpu(tmp_path: pathlib.Path) -> None:
    from minidl.backend import cupy_or_none

    if cupy_or_none() is not None:
        pytest.skip("CuPy is installed")
    save({"w": minidl.ones(2)}, tmp_path / "w.npz")
    with pytest.raises(RuntimeError, match="map_location='cpu'"):
        load(tmp_path / "w.npz", map_location="cuda:0")
