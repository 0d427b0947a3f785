"""minidl.data.datasets: Digits, Shapes, CIFAR10 (binary files written here), ImageFolder."""

from __future__ import annotations

import os
import pathlib
import re

import numpy as np
import pytest
from PIL import Image

from minidl.data.dataset import BatchedSamples
from minidl.data.datasets import (
    CIFAR10,
    SHAPE_NAMES,
    DatasetFileError,
    DatasetNotFoundError,
    Digits,
    ImageFolder,
    Shapes,
)


# ---------------------------------------------------------------------------- Digits
def test_digits_split_is_stratified_deterministic_and_complete() -> None:
    from sklearn.datasets import load_digits

    train, test = Digits(train=True), Digits(train=False)
    assert len(train) + len(test) == 1797 and len(test) == 359
    assert train.data.shape == (len(train), 8, 8, 1) and train.data.dtype == np.uint8
    assert train.targets.dtype == np.int64 and train.classes == [str(i) for i in range(10)]
    counts = np.bincount(load_digits().target)
    np.testing.assert_array_equal(np.bincount(test.targets), np.round(0.2 * counts).astype(int))
    # every original image appears exactly once, scaled 0..16 -> 0..255
    ref = np.round(load_digits().images * 255 / 16).astype(np.uint8)
    both = np.concatenate([train.data[..., 0], test.data[..., 0]]).reshape(1797, -1)
    assert sorted(map(bytes, both)) == sorted(map(bytes, ref.reshape(1797, -1)))
    assert train.data.max() == 255
    again = Digits(train=False)
    np.testing.assert_array_equal(again.data, test.data)
    other = Digits(train=False, seed=1)
    assert not np.array_equal(other.targets, test.targets) or not np.array_equal(other.data, test.data)


def test_digits_sizes_channels_and_samples() -> None:
    big = Digits(train=False, size=32, rgb=True)
    assert big.data.shape == (359, 32, 32, 3)
    np.testing.assert_array_equal(big.data[..., 0], big.data[..., 2])
    small = Digits(train=False)
    np.testing.assert_array_equal(np.bincount(big.targets), np.bincount(small.targets))
    img, label = big[5]
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8 and type(label) is int
    assert label == small.targets[5]
    # resizing is PIL bilinear of the 8x8 original
    expect = np.asarray(Image.fromarray(small.data[5, :, :, 0], "L").resize((32, 32), Image.BILINEAR))
    np.testing.assert_array_equal(img[..., 0], expect)
    with pytest.raises(ValueError, match="size"):
        Digits(size=0)


def test_transforms_and_getitems_contract() -> None:
    ds = Digits(train=False)
    batch = ds.__getitems__([3, 0, 7])
    assert isinstance(batch, BatchedSamples) and len(batch) == 3
    images, targets = batch.batch
    assert images.shape == (3, 8, 8, 1) and images.dtype == np.uint8 and targets.dtype == np.int64
    np.testing.assert_array_equal(images, ds.data[[3, 0, 7]])
    np.testing.assert_array_equal(targets, ds.targets[[3, 0, 7]])
    img, lab = batch[1]  # still a sequence of samples
    np.testing.assert_array_equal(img, ds[0][0])
    assert lab == ds[0][1]
    with pytest.raises(IndexError, match="out of range"):
        ds.__getitems__([0, len(ds)])

    tds = Digits(train=False, transform=lambda im: im.astype(np.float32) / 255, target_transform=lambda t: t + 100)
    img, lab = tds[2]
    assert img.dtype == np.float32 and lab == ds.targets[2] + 100
    samples = tds.__getitems__([2, 4])
    assert isinstance(samples, list) and len(samples) == 2 and samples[0][1] == lab


def test_dataloader_batches_of_array_backed_datasets() -> None:
    from minidl.data import DataLoader

    ds = Digits(train=False)
    x, y = next(iter(DataLoader(ds, batch_size=16)))
    assert tuple(x.shape) == (16, 8, 8, 1) and x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(x.numpy(), ds.data[:16])
    np.testing.assert_array_equal(y.numpy(), ds.targets[:16])
    tds = Digits(train=False, transform=lambda im: im.astype(np.float32))
    x, y = next(iter(DataLoader(tds, batch_size=4)))
    assert tuple(x.shape) == (4, 8, 8, 1) and x.dtype == np.float32


# ---------------------------------------------------------------------------- Shapes
def test_shapes_is_deterministic_balanced_and_varied() -> None:
    a = Shapes(n=200, seed=3)
    b = Shapes(n=200, seed=3)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert a.data.shape == (200, 32, 32, 3) and a.data.dtype == np.uint8 and a.targets.dtype == np.int64
    assert a.classes == list(SHAPE_NAMES) and len(a.classes) == 10
    np.testing.assert_array_equal(np.bincount(a.targets), np.full(10, 20))
    assert not np.array_equal(Shapes(n=200, seed=4).data, a.data)
    assert not np.array_equal(Shapes(n=200, seed=3, train=False).data, a.data)
    # colours, positions and sizes vary: images are far from each other and from their class mean
    flat = a.data.reshape(200, -1).astype(np.float64)
    assert flat.std(axis=0).mean() > 40
    assert len({bytes(r) for r in a.data.reshape(200, -1)}) == 200
    img, label = a[0]
    assert img.shape == (32, 32, 3) and type(label) is int and a.classes[label] in SHAPE_NAMES


def test_shapes_foreground_contrasts_with_the_background() -> None:
    ds = Shapes(n=60, seed=0, classes=["circle", "square"])
    for img in ds.data.astype(np.float64):
        centre_spread = np.linalg.norm(img.reshape(-1, 3) - np.median(img.reshape(-1, 3), axis=0), axis=1)
        assert (centre_spread > 60).mean() > 0.03  # some pixels (the shape) stand out from the background


def test_shapes_options() -> None:
    ds = Shapes(n=30, size=48, classes=["star", "ring", "cross"])
    assert ds.classes == ["star", "ring", "cross"] and ds.data.shape == (30, 48, 48, 3)
    assert ds.class_to_idx == {"star": 0, "ring": 1, "cross": 2}
    assert Shapes(n=12, classes=4).classes == list(SHAPE_NAMES[:4])
    assert len(Shapes(train=False, n=None, classes=2)) == 2000
    with pytest.raises(ValueError, match="hexagon"):
        Shapes(n=10, classes=["circle", "hexagon"])
    batch = ds.__getitems__([1, 2])
    assert batch.batch[0].shape == (2, 48, 48, 3)


# ---------------------------------------------------------------------------- CIFAR-10 binary files
def _write_batch(path: pathlib.Path, images: np.ndarray, labels: np.ndarray) -> None:
    """The official record layout: label byte, then the R, G, B planes (32x32 each, row-major)."""
    planes = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
    path.write_bytes(np.concatenate([labels.astype(np.uint8)[:, None], planes], axis=1).tobytes())


def _cifar_tree(root: pathlib.Path, sizes: tuple[int, ...] = (7, 3, 1, 2, 4), n_test: int = 5,
                meta: bool = True) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    images = rng.integers(0, 256, (sum(sizes) + n_test, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, sum(sizes) + n_test)
    start = 0
    for i, n in enumerate(sizes, 1):
        _write_batch(folder / f"data_batch_{i}.bin", images[start:start + n], labels[start:start + n])
        start += n
    _write_batch(folder / "test_batch.bin", images[start:], labels[start:])
    if meta:
        names = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        (folder / "batches.meta.txt").write_text("\n".join(names) + "\n\n")
    return images, labels


def test_cifar10_reads_pixels_labels_and_order(tmp_path: pathlib.Path) -> None:
    images, labels = _cifar_tree(tmp_path)
    train = CIFAR10(tmp_path, train=True)
    assert train.data.shape == (17, 32, 32, 3) and train.data.dtype == np.uint8
    np.testing.assert_array_equal(train.data, images[:17])
    np.testing.assert_array_equal(train.targets, labels[:17])
    assert train.classes[1] == "car" and train.class_to_idx["truck"] == 9
    test = CIFAR10(str(tmp_path), train=False)
    np.testing.assert_array_equal(test.data, images[17:])
    img, label = test[2]
    np.testing.assert_array_equal(img, images[19])
    assert label == labels[19]
    # a pixel by hand: the record's red plane first, row-major
    raw = (tmp_path / "cifar-10-batches-bin" / "test_batch.bin").read_bytes()
    assert raw[0] == labels[17] and raw[1 + 32 * 4 + 5] == images[17, 4, 5, 0]
    assert raw[1 + 1024 + 32 * 4 + 5] == images[17, 4, 5, 1] and raw[1 + 2048] == images[17, 0, 0, 2]
    # root may be the batches folder itself
    same = CIFAR10(tmp_path / "cifar-10-batches-bin", train=False)
    np.testing.assert_array_equal(same.data, test.data)
    batch = train.__getitems__([16, 0])
    np.testing.assert_array_equal(batch.batch[0], images[[16, 0]])


def test_cifar10_default_classes_without_meta(tmp_path: pathlib.Path) -> None:
    _cifar_tree(tmp_path, meta=False)
    assert CIFAR10(tmp_path, train=False).classes[0] == "airplane"


def test_cifar10_missing_files_say_where_to_put_them(tmp_path: pathlib.Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=re.escape("cifar-10-binary.tar.gz")) as info:
        CIFAR10(tmp_path)
    assert "data_batch_1.bin" in str(info.value) and isinstance(info.value, FileNotFoundError)
    with pytest.raises(RuntimeError, match="download=True"):
        CIFAR10(tmp_path, download=True)
    (tmp_path / "cifar-10-batches-py").mkdir()
    with pytest.raises(RuntimeError, match="never unpickles"):
        CIFAR10(tmp_path, train=False)
    _cifar_tree(tmp_path / "other")
    (tmp_path / "other" / "cifar-10-batches-bin" / "data_batch_4.bin").unlink()
    with pytest.raises(DatasetFileError, match=re.escape("data_batch_4.bin")):
        CIFAR10(tmp_path / "other")
    assert len(CIFAR10(tmp_path / "other", train=False, download=True)) == 5  # files present: no error


def test_cifar10_broken_files_are_named(tmp_path: pathlib.Path) -> None:
    _cifar_tree(tmp_path)
    folder = tmp_path / "cifar-10-batches-bin"
    good = (folder / "data_batch_3.bin").read_bytes()
    (folder / "data_batch_3.bin").write_bytes(good[:-100])  # truncated
    with pytest.raises(DatasetFileError, match=re.escape("data_batch_3.bin") + ".*multiple of the record size"):
        CIFAR10(tmp_path)
    (folder / "data_batch_3.bin").write_bytes(good)
    bad = bytearray((folder / "data_batch_2.bin").read_bytes())
    bad[3073] = 10  # the second record's label
    (folder / "data_batch_2.bin").write_bytes(bytes(bad))
    with pytest.raises(DatasetFileError, match=re.escape("data_batch_2.bin") + ".*record 1 has label 10"):
        CIFAR10(tmp_path)
    (folder / "test_batch.bin").write_bytes(b"")
    with pytest.raises(RuntimeError, match=re.escape("test_batch.bin")):
        CIFAR10(tmp_path, train=False)
    _cifar_tree(tmp_path / "strict")
    with pytest.raises(DatasetFileError, match="10000"):
        CIFAR10(tmp_path / "strict", train=False, strict=True)
    (tmp_path / "strict" / "cifar-10-batches-bin" / "batches.meta.txt").write_text("a\nb\n")
    with pytest.raises(DatasetFileError, match=re.escape("batches.meta.txt")):
        CIFAR10(tmp_path / "strict", train=False)


# ---------------------------------------------------------------------------- ImageFolder
def _image_tree(root: pathlib.Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {}
    files = ["dog/b.png", "dog/a.PNG", "cat/x.png", "cat/sub/deeper.bmp", "bird/only.png"]
    for rel in files:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        arr = rng.integers(0, 256, (5 + len(rel), 7, 3), dtype=np.uint8)
        Image.fromarray(arr).save(path)
        arrays[rel] = arr
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "stray.png").write_bytes(b"")  # files at the top level are not classes
    return arrays


def test_image_folder_classes_samples_and_pixels(tmp_path: pathlib.Path) -> None:
    arrays = _image_tree(tmp_path)
    ds = ImageFolder(tmp_path)
    assert ds.classes == ["bird", "cat", "dog"] and ds.class_to_idx == {"bird": 0, "cat": 1, "dog": 2}
    rel = [os.path.relpath(p, tmp_path).replace(os.sep, "/") for p, _ in ds.samples]
    assert rel == ["bird/only.png", "cat/x.png", "cat/sub/deeper.bmp", "dog/a.PNG", "dog/b.png"]
    assert ds.targets == [0, 1, 1, 2, 2] and ds.imgs is ds.samples and len(ds) == 5
    for i, r in enumerate(rel):
        img, target = ds[i]
        assert img.dtype == np.uint8 and img.shape == arrays[r].shape
        np.testing.assert_array_equal(img, arrays[r])
        assert target == ds.targets[i]
    ds.verify()


def test_image_folder_options(tmp_path: pathlib.Path) -> None:
    _image_tree(tmp_path)
    Image.fromarray(np.full((4, 4), 9, np.uint8), "L").save(tmp_path / "bird" / "grey.png")
    ds = ImageFolder(tmp_path, transform=lambda im: im.shape, target_transform=str)
    grey = next(i for i, (p, _) in enumerate(ds.samples) if p.endswith("grey.png"))
    assert ds[grey] == ((4, 4, 3), "0")  # grey images come back RGB
    only_png = ImageFolder(tmp_path, is_valid_file=lambda p: p.endswith(".png"))
    assert len(only_png) == 4 and all(p.endswith(".png") for p, _ in only_png.samples)
    assert len(ImageFolder(tmp_path, extensions=(".bmp",), allow_empty=True)) == 1
    pil = ImageFolder(tmp_path, loader=lambda p: Image.open(p).convert("RGB"))
    assert isinstance(pil[0][0], Image.Image)
    with pytest.raises(ValueError, match="Both extensions and is_valid_file"):
        ImageFolder(tmp_path, is_valid_file=lambda p: True, extensions=(".png",))


def test_image_folder_errors(tmp_path: pathlib.Path) -> None:
    (tmp_path / "empty_root").mkdir()
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder"):
        ImageFolder(tmp_path / "empty_root")
    _image_tree(tmp_path / "t")
    (tmp_path / "t" / "fish").mkdir()
    with pytest.raises(FileNotFoundError, match="Found no valid file for the classes fish"):
        ImageFolder(tmp_path / "t")
    assert ImageFolder(tmp_path / "t", allow_empty=True).classes == ["bird", "cat", "dog", "fish"]
    (tmp_path / "t" / "fish" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    ds = ImageFolder(tmp_path / "t")
    broken = next(i for i, (p, _) in enumerate(ds.samples) if p.endswith("broken.png"))
    with pytest.raises(DatasetFileError, match=re.escape("broken.png")):
        ds[broken]
    with pytest.raises(OSError, match=re.escape("broken.png")):
        ds.verify()
    with pytest.raises(FileNotFoundError):
        ImageFolder(tmp_path / "nowhere")
