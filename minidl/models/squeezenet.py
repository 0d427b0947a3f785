"""SqueezeNet 1.0 / 1.1 as torchvision builds them (COURSEWORK §5 discussion of small nets).

    model = squeezenet1_1(num_classes=10)    # x: (N, 3, H, W), H, W >= 17 -> (N, 10)

``features``: conv 3x3 s2 (1.1) then Fire modules (squeeze 1x1 -> expand 1x1 and 3x3,
concatenated) between ceil-mode max-pools; ``classifier``: Dropout, ``final_conv``
1x1 (512 -> num_classes, at ``classifier[1]``), ReLU, AdaptiveAvgPool2d((1, 1)); then
flatten. squeezenet1_1 has 1,235,496 parameters with 1000 classes.
"""

from __future__ import annotations

import minidl as md
from minidl import nn

__all__ = ["Fire", "SqueezeNet", "squeezenet1_0", "squeezenet1_1"]


class Fire(nn.Module):
    """(N, inplanes, H, W) -> (N, expand1x1_planes + expand3x3_planes, H, W)."""

    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int) -> None:
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: md.Tensor) -> md.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return md.cat([self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
    def __init__(self, version: str = "1_0", num_classes: int = 1000, dropout: float = 0.5) -> None:
        super().__init__()
        self.num_classes = num_classes
        if version == "1_0":
            self.features = nn.Sequential(
                nn.Conv2d(3, 96, kernel_size=7, stride=2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(96, 16, 64, 64),
                Fire(128, 16, 64, 64),
                Fire(128, 32, 128, 128),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(256, 32, 128, 128),
                Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(512, 64, 256, 256),
            )
        elif version == "1_1":
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, kernel_size=3, stride=2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(64, 16, 64, 64),
                Fire(128, 16, 64, 64),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(128, 32, 128, 128),
                Fire(256, 32, 128, 128),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(256, 48, 192, 192),
                Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256),
                Fire(512, 64, 256, 256),
            )
        else:
            raise ValueError(f"Unsupported SqueezeNet version {version}: 1_0 or 1_1 expected")
        final_conv = nn.Conv2d(512, num_classes, kernel_size=1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1))
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    nn.init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)

    def forward(self, x: md.Tensor) -> md.Tensor:
        x = self.features(x)
        x = self.classifier(x)
        return md.flatten(x, 1)


def squeezenet1_0(num_classes: int = 1000, **kwargs: object) -> SqueezeNet:
    """SqueezeNet 1.0 (1,248,424 parameters)."""
    return SqueezeNet("1_0", num_classes=num_classes, **kwargs)  # type: ignore[arg-type]


def squeezenet1_1(num_classes: int = 1000, **kwargs: object) -> SqueezeNet:
    """SqueezeNet 1.1: 2.4x less computation than 1.0; 1,235,496 parameters."""
    return SqueezeNet("1_1", num_classes=num_classes, **kwargs)  # type: ignore[arg-type]
