"""Helpers several exercises share: a fixed random subset of a dataset, and a normalised loader."""

from __future__ import annotations

from typing import Any

import numpy as np

import minidl as md
from minidl.data import DataLoader, TensorDataset


def subset(train: Any, test: Any, n_train: int, n_test: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The first ``n_train`` / ``n_test`` images and labels of a fixed (seed 0) shuffle of each split.

    ``train``/``test`` have ``.data`` (N, H, W, C) uint8 and ``.targets``; returns
    (train images, train labels, test images, test labels) as numpy arrays.
    """
    rng = np.random.default_rng(0)
    itr = rng.permutation(len(train.data))[:n_train]
    ite = rng.permutation(len(test.data))[:n_test]
    return (np.asarray(train.data)[itr], np.asarray(train.targets)[itr],
            np.asarray(test.data)[ite], np.asarray(test.targets)[ite])  # fmt: skip


def to_loader(x: np.ndarray, y: np.ndarray, mean: np.ndarray, std: np.ndarray, batch: int,
              shuffle: bool) -> DataLoader:  # fmt: skip
    """(N, H, W, 3) uint8 images -> normalised (N, 3, H, W) float32 tensors in a DataLoader."""
    xf = ((x.astype(np.float32) / 255 - mean) / std).transpose(0, 3, 1, 2)
    ds = TensorDataset(md.tensor(np.ascontiguousarray(xf)), md.tensor(y.astype(np.int64)))
    return DataLoader(ds, batch_size=batch, shuffle=shuffle)
