"""The coursework's own networks (COURSEWORK.md §2, §3, §4), built from ``minidl.nn``.

Every net returns logits (use ``nn.CrossEntropyLoss``, which applies the softmax the
reports' Keras models put in the last layer), except :class:`CatsDogsNet`, which ends in a
sigmoid for ``nn.BCELoss`` as §4 describes. Shapes are for the default arguments.

CourseCNN       §2  (N, 3, 32, 32) -> (N, 2) (any H, W >= 16)  1,569,602 parameters
LeNet           §3  (N, 3, 32, 32) -> (N, 10)                    390,410
Model1          §3  (N, 3, 32, 32) -> (N, 10)                    600,970
Model2          §3  (N, 3, 32, 32) -> (N, 10)                    225,610
CatsDogsNet     §4  (N, 3, 64, 64) -> (N, 1) probabilities       4,321,089
CifarNet        §4  (N, 3, 32, 32) -> (N, 10)                    2,168,362
InceptionBlock  §4  (N, C, H, W) -> (N, 3 * channels, H, W)
ResidualBlock   §4  (N, C, H, W) -> (N, out_channels, H, W)
"""

from __future__ import annotations

import minidl as md
import minidl.nn.functional as F
from minidl import nn

__all__ = ["CatsDogsNet", "CifarNet", "CourseCNN", "InceptionBlock", "LeNet", "Model1", "Model2", "ResidualBlock"]


class CourseCNN(nn.Module):
    """§2: the course CNN for 32x32 colour images.

    ``features``: five 3x3 convs (padding 1) 3->32->64->128->256->512, each followed by
    ReLU, a 2x2 max-pool after the first four (32 -> 16 -> 8 -> 4 -> 2); ``avgpool``:
    AdaptiveAvgPool2d(1); ``view(-1, 512)``; ``fc``: Linear(512, num_classes).
    (N, 3, 32, 32) -> (N, num_classes); any H, W >= 16 works thanks to the adaptive pool.
    """

    def __init__(self, num_classes: int = 2, in_channels: int = 3) -> None:
        super().__init__()
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        widths = [in_channels, 32, 64, 128, 256, 512]
        for i in range(5):
            layers += [nn.Conv2d(widths[i], widths[i + 1], kernel_size=3, stride=1, padding=1), nn.ReLU(inplace=True)]
            if i < 4:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: md.Tensor) -> md.Tensor:
        x = self.avgpool(self.features(x))
        return self.fc(x.view(-1, 512))


class LeNet(nn.Module):
    """§3: LeNet-style net, 390,410 parameters with the defaults.

    ``features``: three 5x5 'same' convs (padding 2) 3->32->64->128, each with ReLU and a
    2x2 max-pool (32 -> 16 -> 8 -> 4); flatten 4*4*128 = 2048; ``classifier``:
    Linear(2048, 64), ReLU, Linear(64, num_classes). Counted by hand (kh*kw*cin*cout + cout):
    2,432 + 51,264 + 204,928 + 131,136 + 650 = 390,410.
    ``strided=True`` replaces each conv+pool by a stride-2 conv (same parameter count).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, image_size: int = 32,
                 strided: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        widths = [in_channels, 32, 64, 128]
        for i in range(3):
            if strided:
                layers += [nn.Conv2d(widths[i], widths[i + 1], 5, stride=2, padding=2), nn.ReLU(inplace=True)]
            else:
                layers += [nn.Conv2d(widths[i], widths[i + 1], 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        side = image_size // 8
        self.classifier = nn.Sequential(nn.Linear(128 * side * side, 64), nn.ReLU(inplace=True),
                                        nn.Linear(64, num_classes))  # fmt: skip

    def forward(self, x: md.Tensor) -> md.Tensor:
        return self.classifier(md.flatten(self.features(x), 1))


def _xavier_(model: nn.Module) -> None:
    """Keras' default (glorot_uniform weights, zero biases) for every conv and linear."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class Model1(nn.Module):
    """§3 "Model 1": dropout 10% on the input, conv-relu, (conv-relu-conv-relu-BN-pool) x2, two dense.

    ``features`` (32x32 -> 8x8): Dropout(0.1); conv 3->w, ReLU; conv w->w, ReLU, conv w->w,
    ReLU, BatchNorm2d, max-pool; conv w->2w, ReLU, conv 2w->2w, ReLU, BatchNorm2d, max-pool.
    ``classifier``: Flatten, Linear(2w*8*8, hidden), BatchNorm1d, ReLU, Linear(hidden, num_classes).
    Xavier (glorot uniform) initialisation; train with Adam lr 1e-3, batch 64.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 32, hidden: int = 128,
                 image_size: int = 32, dropout: float = 0.1, strided: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.num_classes = num_classes
        w = width

        def down(c: int) -> list[nn.Module]:
            return [nn.Conv2d(c, c, 3, stride=2, padding=1), nn.ReLU(inplace=True)] if strided else [nn.MaxPool2d(2)]

        self.features = nn.Sequential(
            nn.Dropout(dropout),
            nn.Conv2d(in_channels, w, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 3, padding=1), nn.ReLU(inplace=True),
            nn.BatchNorm2d(w), *down(w),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(inplace=True),
            nn.BatchNorm2d(2 * w), *down(2 * w),
        )  # fmt: skip
        side = image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * w * side * side, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )  # fmt: skip
        _xavier_(self)

    def forward(self, x: md.Tensor) -> md.Tensor:
        return self.classifier(self.features(x))


class Model2(nn.Module):
    """§3 "Model 2": three conv-Dropout2d-BatchNorm2d-ReLU-maxpool blocks, dense 64, BatchNorm1d, ReLU, dense.

    ``features`` (32x32 -> 4x4): for widths 32, 64, 128: conv 3x3 p1, Dropout2d(p),
    BatchNorm2d, ReLU, MaxPool2d(2) (or a stride-2 conv with ``strided=True``).
    ``classifier``: Flatten, Linear(128*4*4, 64), BatchNorm1d(64), ReLU, Linear(64, num_classes).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, image_size: int = 32, dropout: float = 0.1,
                 strided: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.num_classes = num_classes
        layers: list[nn.Module] = []
        widths = [in_channels, 32, 64, 128]
        for i in range(3):
            conv = nn.Conv2d(widths[i], widths[i + 1], 3, stride=2 if strided else 1, padding=1)
            layers += [conv, nn.Dropout2d(dropout), nn.BatchNorm2d(widths[i + 1]), nn.ReLU(inplace=True)]
            if not strided:
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        side = image_size // 8
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(128 * side * side, 64), nn.BatchNorm1d(64), nn.ReLU(inplace=True),
            nn.Linear(64, num_classes),
        )  # fmt: skip

    def forward(self, x: md.Tensor) -> md.Tensor:
        return self.classifier(self.features(x))


class CatsDogsNet(nn.Module):
    """§4 binary classifier (cats vs dogs), sigmoid output for ``nn.BCELoss``; RMSprop in the report.

    ``features``: conv 3->32, ReLU, max-pool; conv 32->64, BatchNorm2d, ReLU, max-pool;
    conv 64->128, ReLU, max-pool (3x3, padding 1: image_size -> image_size // 8);
    ``classifier``: Flatten, Linear(128*s*s, 512), ReLU, Linear(512, 64), ReLU, Linear(64, 1), Sigmoid.
    (N, 3, image_size, image_size) -> (N, 1) probabilities of the positive class.
    """

    def __init__(self, image_size: int = 64, in_channels: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )  # fmt: skip
        side = image_size // 2 // 2 // 2
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(128 * side * side, 512), nn.ReLU(inplace=True),
            nn.Linear(512, 64), nn.ReLU(inplace=True), nn.Linear(64, 1), nn.Sigmoid(),
        )  # fmt: skip

    def forward(self, x: md.Tensor) -> md.Tensor:
        return self.classifier(self.features(x))


class InceptionBlock(nn.Module):
    """§4 inception block: three branches on the same input, concatenated on channels.

    ``branch1``: conv 3x3 'same', ReLU; ``branch2``: conv 3x3, ReLU, conv 3x3, ReLU;
    ``branch3``: conv 3x3, ReLU, max-pool 3x3 stride 1 'same'.
    (N, in_channels, H, W) -> (N, 3 * channels, H, W); ``out_channels`` says 3 * channels.
    """

    def __init__(self, in_channels: int, channels: int = 64) -> None:
        super().__init__()
        self.out_channels = 3 * channels
        self.branch1 = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(inplace=True))
        self.branch2 = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.branch3 = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=1, padding=1),
        )  # fmt: skip

    def forward(self, x: md.Tensor) -> md.Tensor:
        return md.cat([self.branch1(x), self.branch2(x), self.branch3(x)], 1)


class ResidualBlock(nn.Module):
    """§4 residual block: two 3x3 convs of ``channels`` (128) and a 1x1 to match shapes, added to the input.

    ``conv1`` (in -> channels), ReLU, ``conv2`` (channels -> channels), ReLU; then
      * when ``out_channels != channels`` (the §4 default, 64-channel input, out 64):
        ``proj`` a 1x1 conv of ``out_channels`` (64) brings the main path back to the
        input's shape, and the shortcut is the identity (or a 1x1 ``shortcut`` conv when
        ``in_channels != out_channels``);
      * when ``out_channels == channels`` (e.g. ``ResidualBlock(64, 128, 128)``): no ``proj``
        and a 1x1 ``shortcut`` conv (in -> out) matches the input to the main path.
    out = ReLU(main + shortcut). (N, in_channels, H, W) -> (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int = 64, channels: int = 128, out_channels: int | None = None) -> None:
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        self.out_channels = out_channels
        self.conv1 = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.proj = nn.Conv2d(channels, out_channels, 1) if out_channels != channels else None
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: md.Tensor) -> md.Tensor:
        out = F.relu(self.conv2(F.relu(self.conv1(x))))
        if self.proj is not None:
            out = self.proj(out)
        identity = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + identity)


class CifarNet(nn.Module):
    """§4 CIFAR-10 net: (conv-ReLU-conv-ReLU-maxpool-Dropout(0.25)) for widths 32 and 64, dense 512, dense 10.

    ``features`` (32x32 -> 8x8, 3x3 'same' convs); optional ``block`` after it:
    ``"inception"`` (:class:`InceptionBlock` (64 -> 3 * 64)) or ``"residual"``
    (:class:`ResidualBlock` (64 -> 128 -> 128 -> 1x1 64)), the two variants §4 compared;
    ``classifier``: Flatten, Linear(C*8*8, 512), ReLU, Dropout(0.5), Linear(512, num_classes).
    Trained with RMSprop in the report (about 0.74 test accuracy, 0.78 with either block).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, image_size: int = 32,
                 block: str | None = None) -> None:  # fmt: skip
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Dropout(0.25),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2), nn.Dropout(0.25),
        )  # fmt: skip
        channels = 64
        if block is None:
            self.block: nn.Module | None = None
        elif block == "inception":
            self.block = InceptionBlock(64, 64)
            channels = 3 * 64
        elif block == "residual":
            self.block = ResidualBlock(64, 128, 64)
        else:
            raise ValueError(f"block must be None, 'inception' or 'residual', got {block!r}")
        side = image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * side * side, 512), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(512, num_classes),
        )  # fmt: skip

    def forward(self, x: md.Tensor) -> md.Tensor:
        x = self.features(x)
        if self.block is not None:
            x = self.block(x)
        return self.classifier(x)
