"""torch twins of the minidl models the benchmarks time, built by hand from ``torch.nn``.

torchvision does not import on these machines, so the twins copy torchvision's (and
COURSEWORK.md's) architectures here, module for module, with the same attribute names:
a twin's ``state_dict()`` keys equal the minidl model's, and :func:`copy_weights` loads
minidl's initial weights into it so that both libraries compute the same numbers.

    md_model = minidl.models.resnet18(num_classes=10)
    t_model = torch_resnet18(num_classes=10)          # the torch twin
    copy_weights(md_model.state_dict(), t_model)      # same weights, same outputs

Which models the training-step benchmark runs, and on what input: ``_models.py``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["copy_weights", "torch_course_cnn", "torch_lenet", "torch_resnet18", "torch_vgg11"]


# ---------------------------------------------------------------------------- course CNN (COURSEWORK.md §2)
class TorchCourseCNN(nn.Module):
    """COURSEWORK.md §2, as ``minidl.models.CourseCNN``: five 3x3 p1 convs 3->32->64->128->256->512,
    ReLU after each, 2x2 max-pool after the first four (32 -> 2), AdaptiveAvgPool2d(1),
    ``view(-1, 512)``, Linear(512, num_classes). (N, 3, 32, 32) -> (N, num_classes).
    """

    def __init__(self, num_classes: int = 2, in_channels: int = 3) -> None:
        super().__init__()
        widths = [in_channels, 32, 64, 128, 256, 512]
        layers: list[nn.Module] = []
        for i in range(5):
            layers += [nn.Conv2d(widths[i], widths[i + 1], kernel_size=3, stride=1, padding=1), nn.ReLU(inplace=True)]
            if i < 4:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.avgpool(self.features(x)).view(-1, 512))


def torch_course_cnn(num_classes: int = 2) -> nn.Module:
    return TorchCourseCNN(num_classes)


# ---------------------------------------------------------------------------- LeNet (COURSEWORK.md §3)
class TorchLeNet(nn.Module):
    """COURSEWORK.md §3, as ``minidl.models.LeNet``: three 5x5 p2 convs 3->32->64->128, each with
    ReLU and a 2x2 max-pool (32 -> 4), flatten 2048, Linear(2048, 64), ReLU, Linear(64, num_classes).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, image_size: int = 32) -> None:
        super().__init__()
        widths = [in_channels, 32, 64, 128]
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [nn.Conv2d(widths[i], widths[i + 1], 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        side = image_size // 8
        self.classifier = nn.Sequential(nn.Linear(128 * side * side, 64), nn.ReLU(inplace=True),
                                        nn.Linear(64, num_classes))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def torch_lenet(num_classes: int = 10) -> nn.Module:
    return TorchLeNet(num_classes)


# ---------------------------------------------------------------------------- ResNet-18 (torchvision's)
class TorchBasicBlock(nn.Module):
    """torchvision's BasicBlock: conv3x3-bn-relu-conv3x3-bn, plus the (downsampled) input, relu."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class TorchResNet18(nn.Module):
    """torchvision's resnet18 (7x7 s2 stem, 3x3 s2 max-pool, BasicBlock x [2, 2, 2, 2]) without its init."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = 64
        for i, planes in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            downsample = None
            if stride != 1 or inplanes != planes:
                downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                                           nn.BatchNorm2d(planes))  # fmt: skip
            blocks = [TorchBasicBlock(inplanes, planes, stride, downsample), TorchBasicBlock(planes, planes)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            inplanes = planes
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def torch_resnet18(num_classes: int = 1000) -> nn.Module:
    return TorchResNet18(num_classes)


# ---------------------------------------------------------------------------- VGG-11 (torchvision's)
VGG11_CFG: list[int | str] = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


class TorchVGG(nn.Module):
    """torchvision's VGG: ``features``, AdaptiveAvgPool2d((7, 7)), 25088->4096->4096->classes with dropout."""

    def __init__(self, cfg: list[int | str], num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(in_channels, int(v), kernel_size=3, padding=1), nn.ReLU(True)]
                in_channels = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def torch_vgg11(num_classes: int = 1000) -> nn.Module:
    return TorchVGG(VGG11_CFG, num_classes)


# ---------------------------------------------------------------------------- weights
def copy_weights(state: Iterable[tuple[str, np.ndarray]] | dict[str, Any], model: nn.Module) -> None:
    """Load ``state`` (minidl state-dict items, or (key, numpy array) pairs) into torch ``model``.

    Copied one entry at a time into the existing parameters and buffers (no second copy of
    the whole model is held: the training-step benchmark measures peak memory). The key sets
    must be equal; every mismatch is reported at once.
    """
    items = state.items() if isinstance(state, dict) else state
    target = model.state_dict(keep_vars=True)
    seen: set[str] = set()
    problems: list[str] = []
    with torch.no_grad():
        for key, value in items:
            arr = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
            seen.add(key)
            if key not in target:
                problems.append(f"unexpected key {key!r}")
            elif tuple(target[key].shape) != arr.shape:
                problems.append(f"{key}: shape {arr.shape} vs torch's {tuple(target[key].shape)}")
            else:
                target[key].copy_(torch.from_numpy(arr if arr.flags.c_contiguous else arr.copy()))
    problems += [f"missing key {k!r}" for k in target if k not in seen]
    if problems:
        raise KeyError("copy_weights: the twin does not match minidl's model: " + "; ".join(problems))
