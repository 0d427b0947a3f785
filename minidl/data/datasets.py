"""Datasets that need no download: ``Digits``, ``Shapes``, ``CIFAR10`` (binary files), ``ImageFolder``.

Each is a map-style dataset like torchvision's: ``len(ds)``, and ``ds[i]`` is
``(image, target)`` where ``image`` is a numpy **HWC uint8** array (``(H, W, C)``, values
0..255) -- or whatever ``transform(image)`` returns -- and ``target`` an ``int`` (or
``target_transform(target)``). minidl's transforms (``ToTensor``, ``RandomCrop``, ...)
accept numpy HWC arrays and PIL images alike, as torchvision's do; ``ToTensor`` makes
a CHW float32 tensor in [0, 1].

Array-backed datasets (:class:`Digits`, :class:`Shapes`, :class:`CIFAR10`) hold every
image in ``data`` (``(N, H, W, C)`` uint8) and every label in ``targets`` (``(N,)``
int64), and give the DataLoader a whole batch at once through ``__getitems__``:

``ds.__getitems__(indices)`` (``indices`` a list of ints, ``B = len(indices)``)
    * with no ``transform`` and no ``target_transform``: a
      :class:`~minidl.data.BatchedSamples` whose ``.batch`` is the tuple
      ``(images, targets)`` -- ``images`` a ``(B, H, W, C)`` uint8 numpy array,
      ``targets`` a ``(B,)`` int64 numpy array, in ``indices``' order. It is still the
      sequence of ``B`` samples torch's protocol promises (``len``, ``[i]``, iteration
      give ``(image, label)`` pairs), and the default collate turns it straight into
      ``[uint8 tensor (B, H, W, C), int64 tensor (B,)]``, what it makes of ``B`` samples;
    * otherwise: a list of ``B`` samples ``[ds[i] for i in indices]``, for the collate
      function to batch as usual.

Files on disk are validated, and an error names the broken file
(:class:`DatasetFileError`, which is both a ``RuntimeError`` -- what torchvision raises
for a corrupt dataset -- and an ``OSError``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minidl.data.dataset import BatchedSamples, Dataset

__all__ = [
    "CIFAR10",
    "IMG_EXTENSIONS",
    "DatasetFileError",
    "DatasetFolder",
    "DatasetNotFoundError",
    "Digits",
    "ImageFolder",
    "Shapes",
    "default_loader",
    "find_classes",
    "has_file_allowed_extension",
    "make_dataset",
    "pil_loader",
]


class DatasetFileError(RuntimeError, OSError):
    """A dataset file that is missing, truncated or corrupt; the message names the file."""


class DatasetNotFoundError(DatasetFileError, FileNotFoundError):
    """A dataset's files are not where they were looked for; the message says where to put them."""


# ============================================================================ array-backed base
class _ArrayDataset(Dataset):
    """Shared by datasets whose samples all sit in memory as ``data`` (N, H, W, C) uint8 and ``targets`` (N,)."""

    data: np.ndarray
    targets: np.ndarray
    classes: list[str]
    transform: Callable[[Any], Any] | None
    target_transform: Callable[[Any], Any] | None
    train: bool

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.classes)}

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        """``(image, target)``: image (H, W, C) uint8 (or ``transform(image)``), target an int."""
        img, target = self.data[index], int(self.targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __getitems__(self, indices: Sequence[int]) -> BatchedSamples | list[tuple[Any, Any]]:
        """A batch: ``BatchedSamples((images (B, H, W, C) uint8, targets (B,) int64))`` when no
        transform is set, else the list ``[self[i] for i in indices]`` (see the module docstring)."""
        if self.transform is None and self.target_transform is None:
            idx = np.asarray(indices, dtype=np.int64).reshape(-1)
            n = len(self.data)
            if idx.size and (idx.min() < -n or idx.max() >= n):
                bad = int(idx.min()) if idx.min() < -n else int(idx.max())
                raise IndexError(f"{type(self).__name__}: index {bad} is out of range for {n} samples")
            return BatchedSamples((self.data[idx], self.targets[idx]), len(idx))
        return [self[int(i)] for i in indices]

    def _extra_repr(self) -> list[str]:
        return []

    def __repr__(self) -> str:
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}",
                 f"    Split: {'Train' if self.train else 'Test'}", *self._extra_repr()]  # fmt: skip
        if self.transform is not None:
            lines.append(f"    Transform: {self.transform!r}")
        if self.target_transform is not None:
            lines.append(f"    Target transform: {self.target_transform!r}")
        return "\n".join(lines)


# ============================================================================ Digits
@functools.lru_cache(maxsize=8)
def _digits_arrays(size: int, rgb: bool) -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as (N, size, size, 1 or 3) uint8 in 0..255, and their labels (N,) int64."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)  # 0..16 -> 0..255
    if size != 8:
        from PIL import Image

        images = np.stack([np.asarray(Image.fromarray(im, mode="L").resize((size, size), Image.BILINEAR))
                           for im in images])  # fmt: skip
    images = images[..., None]
    if rgb:
        images = np.repeat(images, 3, axis=-1)
    images = np.ascontiguousarray(images)
    targets = bunch.target.astype(np.int64)
    images.flags.writeable = False  # shared by every Digits instance through the cache
    targets.flags.writeable = False
    return images, targets


def _stratified_split(targets: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices (each sorted): ``round(test_fraction * n_c)`` of each class c go to test."""
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(targets):
        idx = np.flatnonzero(targets == c)
        n_test = round(test_fraction * len(idx))
        test.append(rng.permutation(idx)[:n_test])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(len(targets)), test_idx)
    return train_idx, test_idx


class Digits(_ArrayDataset):
    """scikit-learn's handwritten digits (1797 8x8 images, 10 classes), offline, split into train/test.

    ``size=8`` keeps the original 8x8 images; ``size=32`` (any size) resizes them with
    PIL's bilinear filter, e.g. to feed CIFAR-sized networks; ``rgb=True`` repeats the grey
    channel three times. Pixel values 0..16 are scaled to 0..255 uint8.

    The split is stratified and deterministic: ``round(test_fraction * n_c)`` images of
    each class c, chosen by ``seed``, form the test set (``test_fraction=0.2``: 1438 train,
    359 test); both sets keep the original order.

    Attributes: ``data`` (N, size, size, 1 or 3) uint8, ``targets`` (N,) int64,
    ``classes`` ``["0", ..., "9"]``, ``class_to_idx``. ``ds[i]`` is ``(image, label)``,
    ``image`` (size, size, C) uint8 or ``transform(image)``. ``root`` and ``download``
    are accepted for torchvision-style code and unused (the data ships with scikit-learn).
    """

    classes = [str(i) for i in range(10)]

    def __init__(self, root: str | os.PathLike[str] | None = None, train: bool = True,
                 transform: Callable[[Any], Any] | None = None, target_transform: Callable[[Any], Any] | None = None,
                 size: int = 8, rgb: bool = False, test_fraction: float = 0.2, seed: int = 0,
                 download: bool = False) -> None:  # fmt: skip
        if int(size) != size or size < 1:
            raise ValueError(f"Digits: size must be a positive int (8 keeps the originals), got {size!r}")
        if not 0.0 <= test_fraction < 1.0:
            raise ValueError(f"Digits: test_fraction must be in [0, 1), got {test_fraction!r}")
        self.root, self.train, self.transform, self.target_transform = root, train, transform, target_transform
        self.size, self.rgb, self.test_fraction, self.seed = int(size), bool(rgb), float(test_fraction), int(seed)
        images, targets = _digits_arrays(self.size, self.rgb)
        train_idx, test_idx = _stratified_split(targets, self.test_fraction, self.seed)
        idx = train_idx if train else test_idx
        self.data = images[idx]  # fancy indexing copies: this dataset's arrays are its own
        self.targets = targets[idx]

    def _extra_repr(self) -> list[str]:
        return [f"    Image size: {self.size}x{self.size}x{3 if self.rgb else 1}"]


# ============================================================================ Shapes
SHAPE_NAMES = ("circle", "ring", "square", "frame", "triangle", "diamond", "plus", "cross", "star", "crescent")
# Shapes that a rotation would turn into another class (square <-> diamond, plus <-> cross)
# turn by at most 20 degrees; the others by any angle.
_SMALL_TURN = {"square", "frame", "diamond", "plus", "cross"}


def _shape_mask(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test of a shape of radius about 1 in its own coordinates (u right, v down)."""
    if name == "circle":
        return u * u + v * v <= 1.0
    if name == "ring":
        r2 = u * u + v * v
        return (r2 <= 1.0) & (r2 >= 0.6**2)
    if name == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8
    if name == "frame":
        m = np.maximum(np.abs(u), np.abs(v))
        return (m <= 0.85) & (m >= 0.5)
    if name == "triangle":  # equilateral, circumradius 1, pointing up
        s3 = np.sqrt(3.0)
        return (v <= 0.5) & (s3 * u - v <= 1.0) & (-s3 * u - v <= 1.0)
    if name == "diamond":
        return np.abs(u) + np.abs(v) <= 1.0
    if name in ("plus", "cross"):
        if name == "cross":
            u, v = (u + v) / np.sqrt(2.0), (u - v) / np.sqrt(2.0)
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.3) & (av <= 1.0)) | ((av <= 0.3) & (au <= 1.0))
    if name == "star":  # five points: radius 1 at the tips, 0.45 between them
        rho = np.sqrt(u * u + v * v)
        phi = np.arctan2(v, u) + np.pi / 2
        return rho <= 0.45 + 0.55 * ((1.0 + np.cos(5.0 * phi)) / 2.0) ** 2
    if name == "crescent":
        return (u * u + v * v <= 1.0) & ((u - 0.5) ** 2 + v * v >= 0.8**2)
    raise ValueError(f"unknown shape {name!r}")


class Shapes(_ArrayDataset):
    """A generated CIFAR-like task: coloured shapes on noisy backgrounds, ``size`` x ``size`` RGB.

    Classes (default all ten, in this order): circle, ring, square, frame, triangle,
    diamond, plus, cross (an x), star, crescent; ``classes=`` picks some by name (or the
    first k with an int). Each image holds one shape whose class is its label, drawn with
    a random colour, position, size (radius 20-42% of the image), aspect (0.8-1.25) and
    rotation, anti-aliased, on a background that is a random two-colour gradient plus
    Gaussian noise (std 10). The foreground colour differs clearly from the background,
    so the task is learnable, while size, colour and pose vary enough that a linear model
    does poorly and a small CNN does well.

    Deterministic: the same ``(n, size, train, seed, classes)`` gives the same images;
    ``train=True`` and ``train=False`` draw from different streams of the same seed.
    ``n`` defaults to 10000 images for train and 2000 for test; labels are balanced.
    Attributes: ``data`` (n, size, size, 3) uint8, ``targets`` (n,) int64, ``classes``.
    """

    def __init__(self, n: int | None = None, size: int = 32, train: bool = True, seed: int = 0,
                 transform: Callable[[Any], Any] | None = None, classes: Sequence[str] | int | None = None,
                 target_transform: Callable[[Any], Any] | None = None) -> None:  # fmt: skip
        if classes is None:
            names = list(SHAPE_NAMES)
        elif isinstance(classes, int):
            if not 2 <= classes <= len(SHAPE_NAMES):
                raise ValueError(f"Shapes: classes={classes}: expected between 2 and {len(SHAPE_NAMES)}")
            names = list(SHAPE_NAMES[:classes])
        else:
            names = list(classes)
            unknown = [c for c in names if c not in SHAPE_NAMES]
            if unknown or len(set(names)) != len(names) or len(names) < 2:
                raise ValueError(f"Shapes: classes must be 2 or more distinct names from {SHAPE_NAMES}, got {names}")
        if n is None:
            n = 10000 if train else 2000
        if int(n) != n or n < 0:
            raise ValueError(f"Shapes: n must be a non-negative int, got {n!r}")
        if int(size) != size or size < 8:
            raise ValueError(f"Shapes: size must be an int >= 8, got {size!r}")
        self.n, self.size, self.train, self.seed = int(n), int(size), bool(train), int(seed)
        self.transform, self.target_transform = transform, target_transform
        self.classes = names
        self.data, self.targets = _render_shapes(self.n, self.size, names, self.seed, 0 if train else 1)

    def _extra_repr(self) -> list[str]:
        return [f"    Image size: {self.size}x{self.size}x3, seed: {self.seed}"]


def _render_shapes(n: int, size: int, names: list[str], seed: int, stream: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images (n, size, size, 3) uint8 and labels (n,) int64; every draw comes from one seeded rng."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, stream, 0x5A4E5]))
    k = len(names)
    labels = rng.permutation(np.arange(n) % k).astype(np.int64)
    s = float(size)
    # per-image parameters, drawn in a fixed order so the data depend only on the seed
    radius = rng.uniform(0.20, 0.42, n) * s
    aspect = np.exp(rng.uniform(np.log(0.8), np.log(1.25), n))
    margin = radius * 0.8
    cx = rng.uniform(margin, s - margin)
    cy = rng.uniform(margin, s - margin)
    turn = rng.uniform(-np.pi, np.pi, n)
    small = np.array([names[c] in _SMALL_TURN for c in labels], dtype=bool)
    turn[small] = rng.uniform(-np.pi / 9, np.pi / 9, int(small.sum()))
    bg0 = rng.uniform(0, 255, (n, 3))
    bg1 = np.clip(bg0 + rng.normal(0, 60, (n, 3)), 0, 255)
    grad_dir = rng.uniform(-np.pi, np.pi, n)
    candidates = rng.uniform(0, 255, (n, 8, 3))  # foreground colours: the first far enough from the background
    noise_seed = int(rng.integers(2**63))
    dist = np.linalg.norm(candidates - ((bg0 + bg1) / 2)[:, None, :], axis=-1)
    ok = dist >= 110.0
    pick = np.where(ok.any(axis=1), ok.argmax(axis=1), dist.argmax(axis=1))
    fg = candidates[np.arange(n), pick]

    images = np.empty((n, size, size, 3), dtype=np.uint8)
    ss = 2  # 2x2 supersampling for anti-aliased edges
    sub = (np.arange(size * ss, dtype=np.float64) + 0.5) / ss  # sample positions in pixels
    gy, gx = np.meshgrid(sub, sub, indexing="ij")
    pix = np.arange(size, dtype=np.float64) + 0.5
    py, px = np.meshgrid(pix, pix, indexing="ij")
    noise_rng = np.random.default_rng(noise_seed)
    chunk = 512
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        sl = slice(lo, hi)
        dx = gx[None] - cx[sl, None, None]
        dy = gy[None] - cy[sl, None, None]
        c, si = np.cos(turn[sl])[:, None, None], np.sin(turn[sl])[:, None, None]
        r = radius[sl, None, None]
        a = aspect[sl, None, None]
        u = (c * dx + si * dy) / (r * a)
        v = (-si * dx + c * dy) * a / r
        mask = np.zeros(u.shape, dtype=bool)
        for ci, name in enumerate(names):
            sel = np.flatnonzero(labels[sl] == ci)
            if len(sel):
                mask[sel] = _shape_mask(name, u[sel], v[sel])
        alpha = mask.reshape(hi - lo, size, ss, size, ss).mean(axis=(2, 4))[..., None]
        # background: a linear gradient from bg0 to bg1 across the image in a random direction
        gd = grad_dir[sl]
        t = ((px[None] - s / 2) * np.cos(gd)[:, None, None] + (py[None] - s / 2) * np.sin(gd)[:, None, None]) / s
        t = np.clip(t + 0.5, 0.0, 1.0)[..., None]
        bg = bg0[sl, None, None, :] * (1 - t) + bg1[sl, None, None, :] * t
        img = bg * (1 - alpha) + fg[sl, None, None, :] * alpha
        img += noise_rng.normal(0.0, 10.0, img.shape)
        images[sl] = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return images, labels


# ============================================================================ CIFAR-10 (binary version)
_CIFAR_RECORD = 1 + 3 * 32 * 32  # one label byte, then 1024 R, 1024 G, 1024 B bytes (row-major 32x32)
_CIFAR_OFFICIAL_RECORDS = 10000
_CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_CIFAR_HELP = (
    "minidl does not download (no network is assumed). Download the *binary version* of CIFAR-10, "
    "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz (162 MB), and extract it so that "
    "{folder} holds data_batch_1.bin ... data_batch_5.bin, test_batch.bin and batches.meta.txt "
    "(e.g. tar -xzf cifar-10-binary.tar.gz -C {root})."
)


class CIFAR10(_ArrayDataset):
    """CIFAR-10 read from the official **binary** files -- no pickle, so not the "python version".

    ``root`` is the folder holding ``cifar-10-batches-bin/`` (as extracted from
    ``cifar-10-binary.tar.gz``), or that folder itself. ``train=True`` reads
    ``data_batch_1.bin`` ... ``data_batch_5.bin`` in that order, ``train=False``
    ``test_batch.bin``. Each record is 3073 bytes: the label (0..9), then the 32x32 red,
    green and blue planes, row-major.

    Every file is checked before use: it must exist, its size must be a positive multiple
    of 3073 bytes and at most the official 10000 records (``strict=True``: exactly 10000),
    and every label must be in 0..9; otherwise :class:`DatasetFileError` names the file.
    ``batches.meta.txt`` (the class names, one a line) is read when present.
    ``download=True`` cannot download: when the files are missing it raises an error that
    says where to put them (when they are present it is ignored).

    Attributes: ``data`` (N, 32, 32, 3) uint8 (HWC, as torchvision's), ``targets`` (N,)
    int64, ``classes``, ``class_to_idx``. ``ds[i]`` is ``(image (32, 32, 3) uint8, label)``.
    """

    base_folder = "cifar-10-batches-bin"
    train_list = [f"data_batch_{i}.bin" for i in range(1, 6)]
    test_list = ["test_batch.bin"]
    meta_file = "batches.meta.txt"
    n_classes = 10

    def __init__(self, root: str | os.PathLike[str], train: bool = True,
                 transform: Callable[[Any], Any] | None = None, target_transform: Callable[[Any], Any] | None = None,
                 download: bool = False, strict: bool = False) -> None:  # fmt: skip
        self.root = os.fspath(root)
        self.train, self.transform, self.target_transform, self.strict = train, transform, target_transform, strict
        folder = self._find_folder()
        names = self.train_list if train else self.test_list
        paths = [os.path.join(folder, name) for name in names]
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            msg = f"{type(self).__name__}: missing file(s) {', '.join(repr(p) for p in missing)}. "
            if os.path.isdir(os.path.join(self.root, "cifar-10-batches-py")):
                msg += ("Found cifar-10-batches-py, the pickled 'python version': minidl never unpickles and reads "
                        "the binary version instead. ")  # fmt: skip
            if download:
                msg = "download=True: " + msg
            raise DatasetNotFoundError(msg + _CIFAR_HELP.format(folder=folder, root=self.root))
        images, labels = [], []
        for p in paths:
            im, lb = self._read_batch(p)
            images.append(im)
            labels.append(lb)
        self.data = np.concatenate(images) if len(images) > 1 else images[0]
        self.targets = np.concatenate(labels) if len(labels) > 1 else labels[0]
        self.classes = self._read_meta(os.path.join(folder, self.meta_file))
        self.folder = folder

    def _find_folder(self) -> str:
        nested = os.path.join(self.root, self.base_folder)
        if os.path.isdir(nested):
            return nested
        if any(os.path.isfile(os.path.join(self.root, f)) for f in self.train_list + self.test_list):
            return self.root  # root is the batches folder itself
        return nested

    def _read_batch(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        """One batch file -> images (n, 32, 32, 3) uint8 and labels (n,) int64, validated."""
        nbytes = os.path.getsize(path)
        name = type(self).__name__
        if nbytes == 0 or nbytes % _CIFAR_RECORD:
            raise DatasetFileError(
                f"{name}: {path!r} is truncated or not a CIFAR binary batch: {nbytes} bytes is not a positive "
                f"multiple of the record size {_CIFAR_RECORD} (1 label byte + 3072 pixel bytes)"
            )
        n = nbytes // _CIFAR_RECORD
        if n > _CIFAR_OFFICIAL_RECORDS or (self.strict and n != _CIFAR_OFFICIAL_RECORDS):
            raise DatasetFileError(
                f"{name}: {path!r} holds {n} records; the official batch files hold {_CIFAR_OFFICIAL_RECORDS}"
            )
        try:
            raw = np.fromfile(path, dtype=np.uint8)
        except OSError as e:
            raise DatasetFileError(f"{name}: cannot read {path!r}: {e}") from e
        if raw.size != nbytes:
            raise DatasetFileError(f"{name}: {path!r}: read {raw.size} bytes, expected {nbytes}")
        records = raw.reshape(n, _CIFAR_RECORD)
        labels = records[:, 0].astype(np.int64)
        bad = np.flatnonzero(labels >= self.n_classes)
        if len(bad):
            raise DatasetFileError(
                f"{name}: {path!r} is corrupt: record {int(bad[0])} has label {int(labels[bad[0]])}, "
                f"expected 0..{self.n_classes - 1} ({len(bad)} bad label(s) in all)"
            )
        # (n, 3, 32, 32) planes -> (n, 32, 32, 3) HWC, contiguous
        images = np.ascontiguousarray(records[:, 1:].reshape(n, 3, 32, 32).transpose(0, 2, 3, 1))
        return images, labels

    def _read_meta(self, path: str) -> list[str]:
        if not os.path.isfile(path):
            return list(_CIFAR_CLASSES)
        try:
            with open(path, encoding="utf-8") as fh:
                names = [line.strip() for line in fh if line.strip()]
        except (OSError, UnicodeDecodeError) as e:
            raise DatasetFileError(f"{type(self).__name__}: cannot read {path!r}: {e}") from e
        if len(names) != self.n_classes:
            raise DatasetFileError(
                f"{type(self).__name__}: {path!r} lists {len(names)} class names, expected {self.n_classes}"
            )
        return names

    def _extra_repr(self) -> list[str]:
        return [f"    Root location: {self.root}"]


# ============================================================================ ImageFolder
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def has_file_allowed_extension(filename: str, extensions: str | tuple[str, ...]) -> bool:
    """True when ``filename`` ends with one of ``extensions`` (case-insensitive)."""
    return filename.lower().endswith(extensions if isinstance(extensions, str) else tuple(extensions))


def find_classes(directory: str | os.PathLike[str]) -> tuple[list[str], dict[str, int]]:
    """The class folders of ``directory``: sorted names, and name -> index."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"Couldn't find the folder {directory!r}.")
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
    return classes, {name: i for i, name in enumerate(classes)}


def make_dataset(directory: str | os.PathLike[str], class_to_idx: dict[str, int] | None = None,
                 extensions: str | tuple[str, ...] | None = None, is_valid_file: Callable[[str], bool] | None = None,
                 allow_empty: bool = False) -> list[tuple[str, int]]:  # fmt: skip
    """``(path, class_index)`` for every accepted file under each class folder, walking sorted, as torchvision.

    Exactly one of ``extensions`` and ``is_valid_file`` decides which files count.
    """
    directory = os.path.expanduser(os.fspath(directory))
    if class_to_idx is None:
        _, class_to_idx = find_classes(directory)
    elif not class_to_idx:
        raise ValueError("'class_to_index' must have at least one entry to collect any samples.")
    if (extensions is None) == (is_valid_file is None):
        raise ValueError("Both extensions and is_valid_file cannot be None or not None at the same time")
    if extensions is not None:
        def is_valid_file(x: str) -> bool:
            return has_file_allowed_extension(x, extensions)  # type: ignore[arg-type]
    assert is_valid_file is not None
    instances: list[tuple[str, int]] = []
    available: set[str] = set()
    for target_class in sorted(class_to_idx, key=lambda c: class_to_idx[c]):
        class_index = class_to_idx[target_class]
        target_dir = os.path.join(directory, target_class)
        if not os.path.isdir(target_dir):
            continue
        for root, _, fnames in sorted(os.walk(target_dir, followlinks=True)):
            for fname in sorted(fnames):
                path = os.path.join(root, fname)
                if is_valid_file(path):
                    instances.append((path, class_index))
                    available.add(target_class)
    empty = set(class_to_idx) - available
    if empty and not allow_empty:
        msg = f"Found no valid file for the classes {', '.join(sorted(empty))}. "
        if extensions is not None:
            msg += f"Supported extensions are: {extensions if isinstance(extensions, str) else ', '.join(extensions)}"
        raise FileNotFoundError(msg)
    return instances


def pil_loader(path: str) -> np.ndarray:
    """Read an image file as an RGB (H, W, 3) uint8 numpy array (PIL, any format it knows)."""
    from PIL import Image

    with open(path, "rb") as fh:
        img = Image.open(fh)
        return np.asarray(img.convert("RGB")).copy()


default_loader = pil_loader


class DatasetFolder(Dataset):
    """Samples arranged as ``root/<class>/**/<file>``: torchvision's ``DatasetFolder``.

    ``loader(path)`` reads one sample; ``extensions`` or ``is_valid_file`` (not both)
    select the files. ``classes`` (sorted folder names), ``class_to_idx``, ``samples``
    (list of ``(path, index)``) and ``targets`` (list of ints) are as torchvision's.
    A file the loader cannot read raises :class:`DatasetFileError` naming it.
    """

    def __init__(self, root: str | os.PathLike[str], loader: Callable[[str], Any],
                 extensions: tuple[str, ...] | None = None, transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None,
                 is_valid_file: Callable[[str], bool] | None = None, allow_empty: bool = False) -> None:  # fmt: skip
        self.root = os.fspath(root)
        self.transform, self.target_transform, self.loader, self.extensions = (
            transform, target_transform, loader, extensions)  # fmt: skip
        classes, class_to_idx = self.find_classes(self.root)
        samples = self.make_dataset(self.root, class_to_idx, extensions, is_valid_file, allow_empty)
        self.classes, self.class_to_idx = classes, class_to_idx
        self.samples = samples
        self.targets = [s[1] for s in samples]

    @staticmethod
    def make_dataset(directory: str, class_to_idx: dict[str, int], extensions: tuple[str, ...] | None = None,
                     is_valid_file: Callable[[str], bool] | None = None,
                     allow_empty: bool = False) -> list[tuple[str, int]]:  # fmt: skip
        return make_dataset(directory, class_to_idx, extensions, is_valid_file, allow_empty)

    def find_classes(self, directory: str) -> tuple[list[str], dict[str, int]]:
        return find_classes(directory)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        """``(sample, target)``: ``transform(loader(path))`` and ``target_transform(class_index)``."""
        path, target = self.samples[index]
        try:
            sample = self.loader(path)
        except (OSError, ValueError, SyntaxError) as e:  # PIL reports broken files as any of these
            raise DatasetFileError(
                f"{type(self).__name__}: cannot read sample {index} from {path!r} ({type(e).__name__}: {e})"
            ) from e
        if self.transform is not None:
            sample = self.transform(sample)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return sample, target

    def __repr__(self) -> str:
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}",
                 f"    Root location: {self.root}"]  # fmt: skip
        if self.transform is not None:
            lines.append(f"    Transform: {self.transform!r}")
        return "\n".join(lines)


class ImageFolder(DatasetFolder):
    """Images arranged as ``root/<class>/<image>``, as torchvision's ``ImageFolder``.

    ``classes`` are the sorted sub-folder names, ``class_to_idx`` maps them to 0..k-1,
    ``samples`` lists ``(path, class_index)`` (classes in order, files sorted), and
    ``targets`` the indices. ``ds[i]`` is ``(image, class_index)``: by default the image
    is read with PIL, converted to RGB and returned as an (H, W, 3) uint8 numpy array --
    minidl's transforms accept it as they accept PIL images, so ``ToTensor()`` etc. work
    unchanged; pass ``loader=`` to get something else (e.g. a PIL image).

    Files count when their extension is in ``extensions`` (default :data:`IMG_EXTENSIONS`,
    case-insensitive) or, instead, when ``is_valid_file(path)`` is true. A folder with no
    class folder, or a class folder with no valid file, raises ``FileNotFoundError`` (as
    torchvision; ``allow_empty=True`` accepts empty classes). An image that cannot be
    read raises :class:`DatasetFileError` naming the file, when it is loaded;
    :meth:`verify` checks them all up front.
    """

    def __init__(self, root: str | os.PathLike[str], transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None, loader: Callable[[str], Any] | None = None,
                 is_valid_file: Callable[[str], bool] | None = None, allow_empty: bool = False,
                 extensions: tuple[str, ...] | None = None) -> None:  # fmt: skip
        if is_valid_file is None and extensions is None:
            extensions = IMG_EXTENSIONS
        super().__init__(root, loader if loader is not None else default_loader, extensions, transform,
                         target_transform, is_valid_file, allow_empty)  # fmt: skip
        self.imgs = self.samples

    def verify(self) -> None:
        """Open every image (PIL's ``verify``) and raise :class:`DatasetFileError` naming the first broken one."""
        from PIL import Image

        for path, _ in self.samples:
            try:
                with Image.open(path) as img:
                    img.verify()
            except (OSError, ValueError, SyntaxError) as e:
                raise DatasetFileError(f"{type(self).__name__}: broken image file {path!r} ({type(e).__name__}: {e})"
                                       ) from e  # fmt: skip
