"""minidl.models: every model builds, runs forward and backward, has torchvision's parameter count,
and the coursework nets equal hand-built torch twins (outputs and gradients after copying weights).

torchvision does not import here, so its published parameter counts are the reference, and
the twins are written in torch.nn below. Inputs are tiny; VGG and AlexNet are built once
each (their 4096-wide Linear layers take seconds to initialise on 2 cores).
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as tF

import minidl as md
from minidl import models
from minidl.models.vgg import cfgs, make_layers

RNG = np.random.default_rng(0)


def _x(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _forward_backward(model, shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
    x = md.tensor(_x(*shape), requires_grad=True)
    out = model(x)
    assert tuple(out.shape) == out_shape
    assert np.isfinite(out.detach().numpy()).all()
    out.sum().backward()
    assert x.grad is not None and tuple(x.grad.shape) == shape
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no grad for {missing[:5]}"


# ----------------------------------------------------------------- torchvision parameter counts
PUBLISHED = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "squeezenet1_0": 1_248_424,
    "squeezenet1_1": 1_235_496,
    "densenet121": 7_978_856,
    "googlenet": 6_624_904,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_count(name: str) -> None:
    assert models.count_parameters(getattr(models, name)()) == PUBLISHED[name]


VGG_PUBLISHED = {
    ("A", False): 132_863_336, ("A", True): 132_868_840, ("B", False): 133_047_848, ("B", True): 133_053_736,
    ("D", False): 138_357_544, ("D", True): 138_365_992, ("E", False): 143_667_240, ("E", True): 143_678_248,
}  # fmt: skip
VGG_CLASSIFIER_1000 = (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)


@pytest.mark.parametrize(("cfg", "bn"), sorted(VGG_PUBLISHED))
def test_vgg_features_parameter_count(cfg: str, bn: bool) -> None:
    """Every VGG's conv part plus the (shared) classifier gives torchvision's count, without
    building the 120M-parameter classifier eight times."""
    feats = make_layers(cfgs[cfg], batch_norm=bn)
    assert models.count_parameters(feats) + VGG_CLASSIFIER_1000 == VGG_PUBLISHED[(cfg, bn)]


def test_vgg16_full_count_forward_backward() -> None:
    model = models.vgg16()
    assert models.count_parameters(model) == 138_357_544
    assert len(model.features) == 31 and isinstance(model.classifier[6], md.nn.Linear)
    model.eval()  # dropout off; 1x3x32x32 -> 1x1 features, upsampled to 7x7 by the adaptive pool
    _forward_backward(model, (1, 3, 32, 32), (1, 1000))
    del model
    gc.collect()


def test_vgg11_bn_small_forward_backward() -> None:
    feats = make_layers(cfgs["A"], batch_norm=True)
    _forward_backward(feats, (2, 3, 32, 32), (2, 512, 1, 1))


@pytest.fixture(scope="module")
def alexnet_model():
    model = models.alexnet()
    yield model
    del model
    gc.collect()


def test_alexnet_count_forward_backward_head(alexnet_model) -> None:
    model = alexnet_model
    assert models.count_parameters(model) == 61_100_840
    model.eval()
    _forward_backward(model, (1, 3, 63, 63), (1, 1000))
    # §5: freeze the conv layers, replace the last Linear by a 12-class one
    model.zero_grad()
    frozen = models.freeze(model, up_to="classifier")
    assert frozen and all(n.startswith("features.") for n in frozen)
    new = models.replace_head(model, 12)
    assert model.classifier[6] is new and new.out_features == 12 and model.num_classes == 12
    out = model(md.tensor(_x(1, 3, 63, 63)))
    assert tuple(out.shape) == (1, 12)
    out.sum().backward()
    for n, p in model.named_parameters():
        assert (p.grad is None) == n.startswith("features."), n
    models.unfreeze(model)
    assert all(p.requires_grad for p in model.parameters())


# ----------------------------------------------------------------- every model runs
SMALL = [
    ("resnet18", dict(num_classes=10), (1, 3, 64, 64), (1, 10)),
    ("resnet50", dict(num_classes=10), (2, 3, 32, 32), (2, 10)),
    ("squeezenet1_1", dict(num_classes=7), (1, 3, 64, 64), (1, 7)),
    ("densenet121", dict(num_classes=5), (2, 3, 32, 32), (2, 5)),
    ("small_densenet", dict(num_classes=10), (2, 3, 32, 32), (2, 10)),
    ("googlenet", dict(num_classes=4), (2, 3, 32, 32), (2, 4)),
    ("small_googlenet", dict(num_classes=10), (2, 3, 32, 32), (2, 10)),
    ("CourseCNN", {}, (2, 3, 32, 32), (2, 2)),
    ("LeNet", {}, (2, 3, 32, 32), (2, 10)),
    ("Model1", {}, (2, 3, 32, 32), (2, 10)),
    ("Model2", dict(strided=True), (2, 3, 32, 32), (2, 10)),
    ("CatsDogsNet", {}, (2, 3, 64, 64), (2, 1)),
    ("CifarNet", dict(block="inception"), (2, 3, 32, 32), (2, 10)),
    ("CifarNet", dict(block="residual"), (2, 3, 32, 32), (2, 10)),
    ("Autoencoder", {}, (2, 1, 28, 28), (2, 1, 28, 28)),
    ("ConvAutoencoder", {}, (2, 1, 28, 28), (2, 1, 28, 28)),
    ("DenoisingAutoencoder", {}, (2, 784), (2, 784)),
    ("DenoisingAutoencoder", dict(autoencoder=models.ConvAutoencoder()), (2, 1, 28, 28), (2, 1, 28, 28)),
    ("SparseAutoencoder", dict(sparsity="kl"), (2, 784), (2, 784)),
]


@pytest.mark.parametrize(("name", "kwargs", "shape", "out_shape"), SMALL, ids=[f"{s[0]}-{i}" for i, s in enumerate(SMALL)])  # noqa: E501
def test_forward_backward(name: str, kwargs: dict, shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
    model = getattr(models, name)(**kwargs)
    model.train()
    _forward_backward(model, shape, out_shape)


def test_googlenet_aux_logits_in_training() -> None:
    model = models.googlenet(aux_logits=True)
    assert models.count_parameters(model) == 13_004_888  # torchvision's GoogLeNet with both aux heads
    model = models.googlenet(num_classes=3, aux_logits=True)
    out = model(md.tensor(_x(2, 3, 32, 32)))
    assert isinstance(out, models.GoogLeNetOutputs)
    assert [tuple(o.shape) for o in out] == [(2, 3)] * 3
    model.eval()
    assert tuple(model(md.tensor(_x(1, 3, 32, 32))).shape) == (1, 3)


def test_resnet_init_and_options() -> None:
    model = models.resnet18(zero_init_residual=True)
    assert float(model.layer1[0].bn2.weight.detach().numpy().max()) == 0.0
    assert float(model.bn1.weight.detach().numpy().min()) == 1.0
    assert float(np.abs(model.bn1.bias.detach().numpy()).max()) == 0.0
    w = model.layer3[0].conv1.weight.detach().numpy()  # kaiming normal, fan_out = 256 * 9
    assert abs(w.std() - np.sqrt(2.0 / (256 * 9))) < 0.1 * np.sqrt(2.0 / (256 * 9))
    r50 = models.resnet50()
    keys = list(r50.state_dict())
    assert "layer1.0.downsample.0.weight" in keys and "layer1.0.downsample.1.running_var" in keys
    assert "layer2.1.downsample.0.weight" not in keys
    assert tuple(r50.layer2[0].conv2.stride) == (2, 2)  # v1.5: the stride on the 3x3


# ----------------------------------------------------------------- torch twins
def _copy_and_compare(ours, theirs: tnn.Module, x: np.ndarray, rtol: float = 1e-4, atol: float = 1e-5,
                      train: bool = True, double: bool = False) -> None:  # fmt: skip
    """Keys equal; weights copied from torch; outputs, input grads and every parameter grad equal.

    ``double``: compare in float64 (tight tolerances). Nets with BatchNorm in train mode on a
    batch of 2-4 amplify float32 rounding (a ReLU mask flipping near 0) into 1e-3 relative
    gradient differences for some inputs, in either library; in float64 they agree to 1e-12.
    """
    ours_keys, their_keys = list(ours.state_dict()), list(theirs.state_dict())
    assert ours_keys == their_keys
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    if double:
        ours.double()
        theirs.double()
        x = x.astype(np.float64)
        rtol, atol = 1e-9, 1e-10
    ours.train(train)
    theirs.train(train)
    xm = md.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    om, ot = ours(xm), theirs(xt)
    np.testing.assert_allclose(om.detach().numpy(), ot.detach().numpy(), rtol=rtol, atol=atol)
    g = RNG.standard_normal(tuple(ot.shape)).astype(x.dtype)
    om.backward(md.tensor(g))
    ot.backward(torch.tensor(g))
    np.testing.assert_allclose(xm.grad.detach().numpy(), xt.grad.detach().numpy(), rtol=rtol, atol=atol)
    tp = dict(theirs.named_parameters())
    for n, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[n].grad.numpy(), rtol=rtol, atol=atol, err_msg=n)
    if train:  # BatchNorm running statistics moved the same way
        tb = dict(theirs.named_buffers())
        for n, b in ours.named_buffers():
            np.testing.assert_allclose(b.detach().numpy(), tb[n].detach().numpy(), rtol=rtol, atol=atol, err_msg=n)


class TorchCourseCNN(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        c = [3, 32, 64, 128, 256, 512]
        layers: list[tnn.Module] = []
        for i in range(5):
            layers += [tnn.Conv2d(c[i], c[i + 1], 3, 1, 1), tnn.ReLU()]
            if i < 4:
                layers.append(tnn.MaxPool2d(2, 2))
        self.features = tnn.Sequential(*layers)
        self.avgpool = tnn.AdaptiveAvgPool2d(1)
        self.fc = tnn.Linear(512, 2)

    def forward(self, x):
        return self.fc(self.avgpool(self.features(x)).view(-1, 512))


class TorchLeNet(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = tnn.Sequential(
            tnn.Conv2d(3, 32, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(32, 64, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(64, 128, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
        )  # fmt: skip
        self.classifier = tnn.Sequential(tnn.Linear(4 * 4 * 128, 64), tnn.ReLU(), tnn.Linear(64, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def torch_model1() -> tnn.Module:
    class Model1(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = tnn.Sequential(
                tnn.Dropout(0.0), tnn.Conv2d(3, 32, 3, padding=1), tnn.ReLU(),
                tnn.Conv2d(32, 32, 3, padding=1), tnn.ReLU(), tnn.Conv2d(32, 32, 3, padding=1), tnn.ReLU(),
                tnn.BatchNorm2d(32), tnn.MaxPool2d(2),
                tnn.Conv2d(32, 64, 3, padding=1), tnn.ReLU(), tnn.Conv2d(64, 64, 3, padding=1), tnn.ReLU(),
                tnn.BatchNorm2d(64), tnn.MaxPool2d(2),
            )  # fmt: skip
            self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(64 * 8 * 8, 128), tnn.BatchNorm1d(128),
                                             tnn.ReLU(), tnn.Linear(128, 10))  # fmt: skip

        def forward(self, x):
            return self.classifier(self.features(x))

    return Model1()


def torch_model2() -> tnn.Module:
    class Model2(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[tnn.Module] = []
            c = [3, 32, 64, 128]
            for i in range(3):
                layers += [tnn.Conv2d(c[i], c[i + 1], 3, padding=1), tnn.Dropout2d(0.0), tnn.BatchNorm2d(c[i + 1]),
                           tnn.ReLU(), tnn.MaxPool2d(2)]  # fmt: skip
            self.features = tnn.Sequential(*layers)
            self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(128 * 4 * 4, 64), tnn.BatchNorm1d(64),
                                             tnn.ReLU(), tnn.Linear(64, 10))  # fmt: skip

        def forward(self, x):
            return self.classifier(self.features(x))

    return Model2()


class TorchCatsDogs(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = tnn.Sequential(
            tnn.Conv2d(3, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(32, 64, 3, padding=1), tnn.BatchNorm2d(64), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(64, 128, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
        )  # fmt: skip
        self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(128 * 4 * 4, 512), tnn.ReLU(),
                                         tnn.Linear(512, 64), tnn.ReLU(), tnn.Linear(64, 1), tnn.Sigmoid())  # fmt: skip

    def forward(self, x):
        return self.classifier(self.features(x))


class TorchInception(tnn.Module):
    def __init__(self, cin: int, ch: int) -> None:
        super().__init__()
        self.branch1 = tnn.Sequential(tnn.Conv2d(cin, ch, 3, padding=1), tnn.ReLU())
        self.branch2 = tnn.Sequential(tnn.Conv2d(cin, ch, 3, padding=1), tnn.ReLU(),
                                      tnn.Conv2d(ch, ch, 3, padding=1), tnn.ReLU())  # fmt: skip
        self.branch3 = tnn.Sequential(tnn.Conv2d(cin, ch, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(3, 1, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x)], 1)


class TorchResidual(tnn.Module):
    """§4: two 3x3 convs of 128 and a 1x1 of 64 back to the 64-channel input, identity shortcut."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = tnn.Conv2d(64, 128, 3, padding=1)
        self.conv2 = tnn.Conv2d(128, 128, 3, padding=1)
        self.proj = tnn.Conv2d(128, 64, 1)

    def forward(self, x):
        return tF.relu(self.proj(tF.relu(self.conv2(tF.relu(self.conv1(x))))) + x)


class TorchResidualShortcut(tnn.Module):
    """The other reading: main path 64 -> 128 -> 128, a 1x1 shortcut conv 64 -> 128."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = tnn.Conv2d(64, 128, 3, padding=1)
        self.conv2 = tnn.Conv2d(128, 128, 3, padding=1)
        self.shortcut = tnn.Conv2d(64, 128, 1)

    def forward(self, x):
        return tF.relu(tF.relu(self.conv2(tF.relu(self.conv1(x)))) + self.shortcut(x))


class TorchCifarNet(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = tnn.Sequential(
            tnn.Conv2d(3, 32, 3, padding=1), tnn.ReLU(), tnn.Conv2d(32, 32, 3, padding=1), tnn.ReLU(),
            tnn.MaxPool2d(2), tnn.Dropout(0.25),
            tnn.Conv2d(32, 64, 3, padding=1), tnn.ReLU(), tnn.Conv2d(64, 64, 3, padding=1), tnn.ReLU(),
            tnn.MaxPool2d(2), tnn.Dropout(0.25),
        )  # fmt: skip
        self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(64 * 8 * 8, 512), tnn.ReLU(), tnn.Dropout(0.5),
                                         tnn.Linear(512, 10))  # fmt: skip

    def forward(self, x):
        return self.classifier(self.features(x))


TWINS = [
    ("CourseCNN", lambda: models.CourseCNN(), TorchCourseCNN, (2, 3, 32, 32), True),
    ("LeNet", lambda: models.LeNet(), TorchLeNet, (2, 3, 32, 32), True),
    ("Model1", lambda: models.Model1(dropout=0.0), torch_model1, (4, 3, 32, 32), "double"),
    ("Model2", lambda: models.Model2(dropout=0.0), torch_model2, (4, 3, 32, 32), "double"),
    ("CatsDogsNet", lambda: models.CatsDogsNet(image_size=32), TorchCatsDogs, (2, 3, 32, 32), True),
    ("CifarNet", lambda: models.CifarNet(), TorchCifarNet, (2, 3, 32, 32), False),
    ("InceptionBlock", lambda: models.InceptionBlock(16, 8), lambda: TorchInception(16, 8), (2, 16, 8, 8), True),
    ("ResidualBlock", lambda: models.ResidualBlock(64, 128, 64), TorchResidual, (2, 64, 8, 8), True),
    ("ResidualBlock-shortcut", lambda: models.ResidualBlock(64, 128, 128), TorchResidualShortcut, (2, 64, 8, 8),
     True),
]  # fmt: skip


@pytest.mark.parametrize(("name", "ours", "theirs", "shape", "train"), TWINS, ids=[t[0] for t in TWINS])
def test_coursework_net_equals_torch_twin(name, ours, theirs, shape, train) -> None:
    torch.manual_seed(0)
    _copy_and_compare(ours(), theirs(), _x(*shape), train=bool(train), double=train == "double")
    if train == "double":  # and in float32, outputs at the default tolerance
        m, t = ours(), theirs()
        m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
        x = _x(*shape)
        np.testing.assert_allclose(m(md.tensor(x)).detach().numpy(), t(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-4, atol=1e-5)  # fmt: skip


def test_lenet_parameter_count_by_hand() -> None:
    by_hand = sum(k * k * cin * cout + cout for k, cin, cout in [(5, 3, 32), (5, 32, 64), (5, 64, 128)])
    by_hand += 2048 * 64 + 64 + 64 * 10 + 10
    assert by_hand == 390_410 == models.count_parameters(models.LeNet())
    assert models.count_parameters(models.LeNet(strided=True)) == 390_410


# ----------------------------------------------------------------- resnet18 twin (keys + numbers)
class TorchBasicBlock(tnn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.relu = tnn.ReLU(inplace=True)
        self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = tnn.Sequential(tnn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                             tnn.BatchNorm2d(planes))  # fmt: skip

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + idt)


class TorchResNet18(tnn.Module):
    """torchvision's resnet18, written by hand."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = tnn.BatchNorm2d(64)
        self.relu = tnn.ReLU(inplace=True)
        self.maxpool = tnn.MaxPool2d(3, 2, 1)
        self.layer1 = tnn.Sequential(TorchBasicBlock(64, 64), TorchBasicBlock(64, 64))
        self.layer2 = tnn.Sequential(TorchBasicBlock(64, 128, 2), TorchBasicBlock(128, 128))
        self.layer3 = tnn.Sequential(TorchBasicBlock(128, 256, 2), TorchBasicBlock(256, 256))
        self.layer4 = tnn.Sequential(TorchBasicBlock(256, 512, 2), TorchBasicBlock(512, 512))
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def test_resnet18_equals_hand_written_torch_twin() -> None:
    ours = models.resnet18(num_classes=10)
    keys = list(ours.state_dict())
    assert keys[:6] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                        "bn1.num_batches_tracked"]  # fmt: skip
    assert "layer1.0.conv1.weight" in keys and "layer2.0.downsample.0.weight" in keys
    assert keys[-2:] == ["fc.weight", "fc.bias"]
    torch.manual_seed(0)
    _copy_and_compare(ours, TorchResNet18(10), _x(2, 3, 64, 64), double=True)


TORCHVISION_KEYS = {
    "squeezenet1_1": ["features.0.weight", "features.3.squeeze.weight", "features.3.expand3x3.bias",
                      "features.12.expand1x1.weight", "classifier.1.weight", "classifier.1.bias"],
    "densenet121": ["features.conv0.weight", "features.norm0.running_var",
                    "features.denseblock1.denselayer1.norm1.weight",
                    "features.denseblock1.denselayer6.conv2.weight", "features.transition1.conv.weight",
                    "features.denseblock4.denselayer16.norm2.bias", "features.norm5.weight", "classifier.weight"],
    "googlenet": ["conv1.conv.weight", "conv1.bn.running_mean", "conv3.bn.weight", "inception3a.branch1.conv.weight",
                  "inception3a.branch2.1.conv.weight", "inception4e.branch3.0.bn.bias",
                  "inception5b.branch4.1.conv.weight", "fc.weight"],
    "resnet50": ["layer1.0.conv3.weight", "layer1.0.bn3.running_mean", "layer4.0.downsample.0.weight",
                 "layer4.2.bn3.num_batches_tracked", "fc.bias"],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(TORCHVISION_KEYS))
def test_torchvision_key_names(name: str) -> None:
    """Spot checks of torchvision's state-dict keys (its module names), so converted .pth files load."""
    keys = set(getattr(models, name)().state_dict())
    missing = [k for k in TORCHVISION_KEYS[name] if k not in keys]
    assert not missing


# ----------------------------------------------------------------- freeze / replace_head
def test_freeze_up_to_and_replace_head_resnet18() -> None:
    model = models.resnet18(num_classes=10)
    frozen = models.freeze(model, up_to="layer4")
    assert frozen[0] == "conv1.weight" and frozen[-1].startswith("layer3.")
    assert not any(n.startswith(("layer4.", "fc.")) for n in frozen)
    new = models.replace_head(model, 3)
    assert model.fc is new and new.out_features == 3 and new.in_features == 512
    out = model(md.tensor(_x(2, 3, 32, 32)))
    assert tuple(out.shape) == (2, 3)
    out.sum().backward()
    for n, p in model.named_parameters():
        assert (p.grad is None) == (n in frozen), n
    assert models.count_parameters(model, trainable_only=True) == sum(
        p.numel() for n, p in model.named_parameters() if n.startswith(("layer4.", "fc."))
    )
    assert models.unfreeze(model, lambda n: n.startswith("layer3.")) and model.layer3[0].conv1.weight.requires_grad
    models.freeze(model)
    assert models.count_parameters(model, trainable_only=True) == 0
    with pytest.raises(ValueError):
        models.freeze(model, up_to="no_such_layer")


def test_replace_head_squeezenet_densenet_googlenet() -> None:
    sq = models.squeezenet1_1()
    models.freeze(sq)
    conv = models.replace_head(sq, 5)
    assert sq.classifier[1] is conv and conv.out_channels == 5 and conv.weight.requires_grad
    assert tuple(sq(md.tensor(_x(1, 3, 64, 64))).shape) == (1, 5)
    dn = models.small_densenet(num_classes=10)
    lin = models.replace_head(dn, 4)
    assert dn.classifier is lin and tuple(dn(md.tensor(_x(2, 3, 32, 32))).shape) == (2, 4)
    gn = models.small_googlenet()
    assert models.replace_head(gn, 2) is gn.fc
    cnn = models.CatsDogsNet(image_size=32)
    assert models.replace_head(cnn, 2) is cnn.classifier[5]


# ----------------------------------------------------------------- autoencoders
class TorchAE(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = tnn.Sequential(tnn.Linear(64, 16), tnn.ReLU(), tnn.Linear(16, 4), tnn.Identity())
        self.decoder = tnn.Sequential(tnn.Linear(4, 16), tnn.ReLU(), tnn.Linear(16, 64), tnn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x.reshape(x.shape[0], -1))).reshape(x.shape)


class TorchConvAE(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = tnn.Sequential(tnn.Conv2d(1, 4, 3, 2, 1), tnn.ReLU(), tnn.Conv2d(4, 8, 3, 2, 1), tnn.ReLU())
        self.decoder = tnn.Sequential(tnn.ConvTranspose2d(8, 4, 3, 2, 1, output_padding=1), tnn.ReLU(),
                                      tnn.ConvTranspose2d(4, 1, 3, 2, 1, output_padding=1), tnn.Sigmoid())  # fmt: skip

    def forward(self, x):
        return self.decoder(self.encoder(x))


def test_autoencoders_equal_torch_twins() -> None:
    _copy_and_compare(models.Autoencoder(64, (16,), 4), TorchAE(), _x(3, 1, 8, 8))
    _copy_and_compare(models.ConvAutoencoder(1, (4, 8)), TorchConvAE(), _x(2, 1, 12, 12))


def test_denoising_adds_fresh_noise_only_in_training() -> None:
    dae = models.DenoisingAutoencoder(models.Autoencoder(64, (16,), 4), noise_std=0.5)
    x = md.tensor(RNG.random((4, 64)).astype(np.float32))
    a, b = dae(x).detach().numpy(), dae(x).detach().numpy()
    assert not np.allclose(a, b)  # new noise each call
    noisy = dae.add_noise(x).detach().numpy()
    assert noisy.min() >= 0 and noisy.max() <= 1 and not np.allclose(noisy, x.detach().numpy())
    dae.eval()
    np.testing.assert_array_equal(dae(x).detach().numpy(), dae.autoencoder(x).detach().numpy())
    assert next(iter(dae.state_dict())) == "autoencoder.encoder.0.weight"


@pytest.mark.parametrize("kind", ["l1", "kl"])
def test_sparse_penalty_matches_torch(kind: str) -> None:
    sae = models.SparseAutoencoder(64, (16,), 8, sparsity=kind, sparsity_weight=0.1, rho=0.05)
    x = md.tensor(RNG.random((5, 64)).astype(np.float32))
    out = sae(x)
    z = sae.last_code
    assert tuple(z.shape) == (5, 8) and tuple(out.shape) == (5, 64)
    pen = sae.sparsity_penalty()
    zt = torch.tensor(z.detach().numpy())
    if kind == "l1":
        assert z.detach().numpy().min() >= 0
        expect = 0.1 * zt.abs().sum(1).mean()
    else:
        rho, rh = 0.05, zt.mean(0)
        expect = 0.1 * (rho * torch.log(rho / rh) + (1 - rho) * torch.log((1 - rho) / (1 - rh))).sum()
    np.testing.assert_allclose(pen.detach().numpy(), expect.detach().numpy(), rtol=1e-4)
    (md.nn.functional.mse_loss(out, x) + pen).backward()
    assert sae.encoder[0].weight.grad is not None
