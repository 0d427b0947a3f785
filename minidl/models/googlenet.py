"""GoogLeNet (Inception v1) as torchvision builds it, and a small Inception net for 32x32 images.

    model = googlenet(num_classes=10)        # x: (N, 3, H, W), H, W >= 32 -> (N, 10)
    tiny = small_googlenet(num_classes=10)   # (N, 3, 32, 32) -> (N, 10), ~0.2M parameters

COURSEWORK §5 discusses Inception; §4's own three-branch block is
:class:`minidl.models.InceptionBlock`. Each ``Inception`` module runs four branches on the
same input and concatenates them on channels: ``branch1`` 1x1; ``branch2`` 1x1 then 3x3;
``branch3`` 1x1 then 3x3 (torchvision's 3x3 where the paper has 5x5, kept so weights
load); ``branch4`` 3x3 max-pool (stride 1) then 1x1. Every conv is a ``BasicConv2d``
(``conv`` without bias, ``bn`` with eps 0.001, ReLU). googlenet has 6,624,904 parameters
with 1000 classes and ``aux_logits=False`` (the default here, as torchvision's pretrained
builder sets; ``aux_logits=True`` adds ``aux1``/``aux2`` and, in training, returns
``(logits, aux2, aux1)``).
"""

from __future__ import annotations

from collections import namedtuple

import minidl as md
import minidl.nn.functional as F
from minidl import nn

__all__ = ["BasicConv2d", "GoogLeNet", "GoogLeNetOutputs", "Inception", "InceptionAux", "SmallGoogLeNet", "googlenet",
           "small_googlenet"]  # fmt: skip

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])


class BasicConv2d(nn.Module):
    """conv (no bias) - BatchNorm2d(eps=0.001) - ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs: object) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)  # type: ignore[arg-type]
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: md.Tensor) -> md.Tensor:
        return F.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """(N, in_channels, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int) -> None:  # fmt: skip
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, kernel_size=1),
                                     BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1))  # fmt: skip
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, kernel_size=1),
                                     BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1))  # fmt: skip
        self.branch4 = nn.Sequential(nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
                                     BasicConv2d(in_channels, pool_proj, kernel_size=1))  # fmt: skip

    def forward(self, x: md.Tensor) -> md.Tensor:
        return md.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: 4x4 average pool, 1x1 conv to 128, Linear 2048 -> 1024 -> num_classes."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: md.Tensor) -> md.Tensor:
        x = F.adaptive_avg_pool2d(x, (4, 4))
        x = md.flatten(self.conv(x), 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


def _init_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


class GoogLeNet(nn.Module):
    def __init__(self, num_classes: int = 1000, aux_logits: bool = False, transform_input: bool = False,
                 init_weights: bool | None = True, dropout: float = 0.2, dropout_aux: float = 0.7) -> None:  # fmt: skip
        super().__init__()
        self.num_classes = num_classes
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        if aux_logits:
            self.aux1: InceptionAux | None = InceptionAux(512, num_classes, dropout=dropout_aux)
            self.aux2: InceptionAux | None = InceptionAux(528, num_classes, dropout=dropout_aux)
        else:
            self.aux1 = None
            self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)
        if init_weights or init_weights is None:
            _init_weights(self)

    def _transform_input(self, x: md.Tensor) -> md.Tensor:
        if self.transform_input:
            x_ch0 = x[:, 0:1] * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
            x_ch1 = x[:, 1:2] * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
            x_ch2 = x[:, 2:3] * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
            x = md.cat([x_ch0, x_ch1, x_ch2], 1)
        return x

    def forward(self, x: md.Tensor) -> md.Tensor | GoogLeNetOutputs:
        x = self._transform_input(x)
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = md.flatten(self.avgpool(x), 1)
        x = self.fc(self.dropout(x))
        if self.training and self.aux_logits:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


class SmallGoogLeNet(nn.Module):
    """A small Inception net for 32x32 images with GoogLeNet's module names.

    conv1 BasicConv2d 3->32 3x3 (32x32), inception3a (->64), inception3b (->128),
    maxpool3 (16x16), inception4a (->192), maxpool4 (8x8), inception5a (->256), global
    average pool, dropout, ``fc`` Linear(256, num_classes).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, dropout: float = 0.2) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.conv1 = BasicConv2d(in_channels, 32, kernel_size=3, padding=1)
        self.inception3a = Inception(32, 16, 16, 24, 8, 12, 12)
        self.inception3b = Inception(64, 32, 24, 48, 12, 24, 24)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, padding=1)
        self.inception4a = Inception(128, 48, 32, 80, 16, 32, 32)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(192, 64, 48, 96, 24, 48, 48)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(256, num_classes)
        _init_weights(self)

    def forward(self, x: md.Tensor) -> md.Tensor:
        x = self.conv1(x)
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.maxpool4(self.inception4a(x))
        x = self.inception5a(x)
        x = md.flatten(self.avgpool(x), 1)
        return self.fc(self.dropout(x))


def googlenet(num_classes: int = 1000, **kwargs: object) -> GoogLeNet:
    """torchvision.models.googlenet; ``aux_logits`` defaults to False (as for pretrained weights)."""
    return GoogLeNet(num_classes=num_classes, **kwargs)  # type: ignore[arg-type]


def small_googlenet(num_classes: int = 10, **kwargs: object) -> SmallGoogLeNet:
    """:class:`SmallGoogLeNet` for CIFAR-sized input."""
    return SmallGoogLeNet(num_classes=num_classes, **kwargs)  # type: ignore[arg-type]
