"""Helpers several exercises share.

* ``subset`` and ``to_loader``: a fixed random subset of a dataset, and a normalised loader
  (exercises 5 and 8).
* ``SmallResNet``, ``from_state`` and ``RESNET_WEIGHTS``: the small ResNet exercise 6
  pretrains and saves, and the builder that turns a saved state dict back into its model
  (exercise 6 with ``--weights``, exercise 7 for the ResNet's filters and activations).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import minidl as md
from minidl import models, nn
from minidl.data import DataLoader, TensorDataset
from minidl.models.resnet import BasicBlock, conv1x1

#: the file name exercise 6 saves its pretrained ResNet's state dict under (in its --out folder)
RESNET_WEIGHTS = "resnet_shapes6.npz"


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


class SmallResNet(nn.Module):
    """A narrow torchvision-style ResNet: 3x3 stem, one BasicBlock per stage, avgpool, fc.

    (N, 3, H, W) -> (N, num_classes); ``widths`` (16, 32, 64) and stem stride 2: a 32x32
    image becomes 16x16 (layer1), 8x8 (layer2), 4x4 (layer3). Module and parameter names
    follow torchvision's ResNet (``conv1``, ``bn1``, ``layer2.0.downsample.0.weight``, ``fc``).
    """

    def __init__(self, num_classes: int, widths: tuple[int, ...] = (16, 32, 64), stem_stride: int = 2) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.widths = tuple(widths)
        w0 = widths[0]
        self.conv1 = nn.Conv2d(3, w0, kernel_size=3, stride=stem_stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w0)
        self.relu = nn.ReLU(inplace=True)
        inplanes = w0
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or inplanes != w:
                down = nn.Sequential(conv1x1(inplanes, w, stride), nn.BatchNorm2d(w))
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(inplanes, w, stride, down)))
            inplanes = w
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: md.Tensor) -> md.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(len(self.widths)):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(md.flatten(self.avgpool(x), 1))


def from_state(state: dict[str, Any]) -> nn.Module:
    """The model a saved state dict belongs to (a torchvision resnet18 or a SmallResNet), loaded.

    A state dict with ``layer4`` and a 7x7 ``conv1`` (a converted torchvision ResNet18)
    builds ``models.resnet18``; anything else a ``SmallResNet`` whose widths are read from
    ``layer{i}.0.conv1.weight``. ``fc.weight`` (classes, features) gives the head's size.
    """
    n_out = int(np.asarray(state["fc.weight"]).shape[0])
    conv1 = np.asarray(state["conv1.weight"]).shape
    if "layer4.0.conv1.weight" in state and conv1[-1] == 7:
        model: nn.Module = models.resnet18(num_classes=n_out)
    else:
        widths = []
        while f"layer{len(widths) + 1}.0.conv1.weight" in state:
            widths.append(int(np.asarray(state[f"layer{len(widths) + 1}.0.conv1.weight"]).shape[0]))
        model = SmallResNet(n_out, tuple(widths))
    model.load_state_dict(state)
    return model
