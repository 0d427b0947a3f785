"""VGG 11/13/16/19 (with or without BatchNorm) as torchvision builds them (COURSEWORK §5).

    model = vgg16(num_classes=101)       # x: (N, 3, H, W), H, W >= 32 -> (N, 101)

``features``: 3x3 convs (padding 1) with ReLU (and BatchNorm2d in ``*_bn``), 5 max-pools
(224 -> 7); ``avgpool``: AdaptiveAvgPool2d((7, 7)); ``classifier``: Linear 25088->4096,
ReLU, Dropout, Linear 4096->4096, ReLU, Dropout, Linear 4096->num_classes (``classifier[6]``).
vgg16 has 138,357,544 parameters (553 MB in float32) with 1000 classes. Init as
torchvision: kaiming_normal_(fan_out, relu) for convs, N(0, 0.01) for linears, biases 0.
"""

from __future__ import annotations

import minidl as md
from minidl import nn

__all__ = [
    "VGG",
    "cfgs",
    "make_layers",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
]  # fmt: skip

cfgs: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


class VGG(nn.Module):
    def __init__(self, features: nn.Module, num_classes: int = 1000, init_weights: bool = True,
                 dropout: float = 0.5) -> None:  # fmt: skip
        super().__init__()
        self.num_classes = num_classes
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x: md.Tensor) -> md.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = md.flatten(x, 1)
        return self.classifier(x)


def make_layers(cfg: list[int | str], batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    """torchvision's ``make_layers``: ints are 3x3 conv widths, ``"M"`` a 2x2 max-pool."""
    layers: list[nn.Module] = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            conv = nn.Conv2d(in_channels, int(v), kernel_size=3, padding=1)
            layers += [conv, nn.BatchNorm2d(int(v)), nn.ReLU(inplace=True)] if batch_norm else [conv, nn.ReLU(True)]
            in_channels = int(v)
    return nn.Sequential(*layers)


def _vgg(cfg: str, batch_norm: bool, num_classes: int, **kwargs: object) -> VGG:
    return VGG(make_layers(cfgs[cfg], batch_norm=batch_norm), num_classes=num_classes, **kwargs)  # type: ignore[arg-type]


def vgg11(num_classes: int = 1000, **kwargs: object) -> VGG:
    """VGG 11-layer (configuration "A")."""
    return _vgg("A", False, num_classes, **kwargs)


def vgg11_bn(num_classes: int = 1000, **kwargs: object) -> VGG:
    """VGG 11-layer with BatchNorm."""
    return _vgg("A", True, num_classes, **kwargs)


def vgg13(num_classes: int = 1000, **kwargs: object) -> VGG:
    """VGG 13-layer (configuration "B")."""
    return _vgg("B", False, num_classes, **kwargs)


def vgg13_bn(num_classes: int = 1000, **kwargs: object) -> VGG:
    """VGG 13-layer with BatchNorm."""
    return _vgg("B", True, num_classes, **kwargs)


def vgg16(num_classes: int = 1000, **kwargs: object) -> VGG:
    """VGG 16-layer (configuration "D"), 138,357,544 parameters with 1000 classes."""
    return _vgg("D", False, num_classes, **kwargs)


def vgg16_bn(num_classes: int = 1000, **kwargs: object) -> VGG:
    """VGG 16-layer with BatchNorm."""
    return _vgg("D", True, num_classes, **kwargs)


def vgg19(num_classes: int = 1000, **kwargs: object) -> VGG:
    """VGG 19-layer (configuration "E")."""
    return _vgg("E", False, num_classes, **kwargs)


def vgg19_bn(num_classes: int = 1000, **kwargs: object) -> VGG:
    """VGG 19-layer with BatchNorm."""
    return _vgg("E", True, num_classes, **kwargs)
