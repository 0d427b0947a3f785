"""``minidl.models``: torchvision's architectures and the coursework's own networks, in ``minidl.nn``.

    from minidl import models
    net = models.resnet18(num_classes=10)           # state-dict keys equal torchvision's
    net.load_state_dict(md.load("resnet18.npz"))    # weights converted from a torchvision .pth
    models.freeze(net, up_to="layer4"); models.replace_head(net, 12)

torchvision names (no download; build, then load converted weights):
``alexnet``; ``vgg11/13/16/19`` and ``*_bn``; ``resnet18/34/50/101/152``,
``resnext50_32x4d``, ``wide_resnet50_2`` (``BasicBlock``, ``Bottleneck``);
``squeezenet1_0/1_1``; ``densenet121/161/169/201`` and ``small_densenet``;
``googlenet`` and ``small_googlenet``. All take ``num_classes``.

The coursework's nets (COURSEWORK.md): ``CourseCNN`` (§2), ``LeNet``, ``Model1``, ``Model2``
(§3), ``CatsDogsNet``, ``CifarNet``, ``InceptionBlock``, ``ResidualBlock`` (§4); autoencoders
``Autoencoder``, ``ConvAutoencoder``, ``DenoisingAutoencoder``, ``SparseAutoencoder`` (§5).
Helpers: ``freeze``, ``unfreeze``, ``replace_head``, ``count_parameters``.
"""

from minidl.models._utils import count_parameters, freeze, replace_head, unfreeze
from minidl.models.alexnet import AlexNet, alexnet
from minidl.models.autoencoders import Autoencoder, ConvAutoencoder, DenoisingAutoencoder, SparseAutoencoder
from minidl.models.coursework import (
    CatsDogsNet,
    CifarNet,
    CourseCNN,
    InceptionBlock,
    LeNet,
    Model1,
    Model2,
    ResidualBlock,
)
from minidl.models.densenet import DenseNet, densenet121, densenet161, densenet169, densenet201, small_densenet
from minidl.models.googlenet import GoogLeNet, GoogLeNetOutputs, SmallGoogLeNet, googlenet, small_googlenet
from minidl.models.resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    resnext50_32x4d,
    wide_resnet50_2,
)
from minidl.models.squeezenet import SqueezeNet, squeezenet1_0, squeezenet1_1
from minidl.models.vgg import (
    VGG,
    vgg11,
    vgg11_bn,
    vgg13,
    vgg13_bn,
    vgg16,
    vgg16_bn,
    vgg19,
    vgg19_bn,
)

__all__ = [
    "VGG", "AlexNet", "Autoencoder", "BasicBlock", "Bottleneck", "CatsDogsNet", "CifarNet", "ConvAutoencoder",
    "CourseCNN", "DenoisingAutoencoder", "DenseNet", "GoogLeNet", "GoogLeNetOutputs", "InceptionBlock", "LeNet",
    "Model1", "Model2", "ResNet", "ResidualBlock", "SmallGoogLeNet", "SparseAutoencoder", "SqueezeNet", "alexnet",
    "count_parameters", "densenet121", "densenet161", "densenet169", "densenet201", "freeze", "googlenet",
    "replace_head", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
    "small_densenet", "small_googlenet", "squeezenet1_0", "squeezenet1_1", "unfreeze", "vgg11", "vgg11_bn",
    "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "wide_resnet50_2",
]  # fmt: skip
