"""Helpers for transfer learning: freeze/unfreeze parameters, replace a classifier head.

    model = resnet18(num_classes=1000)
    freeze(model, up_to="layer3")     # conv1, bn1, layer1, layer2 stop learning
    replace_head(model, 12)           # a fresh Linear(512, 12) as model.fc (trainable)

Used by COURSEWORK §3 (ResNet18 transfer learning) and §5 (AlexNet/VGG16 fine-tuning
with the conv layers or the classifier frozen).
"""

from __future__ import annotations

from collections.abc import Callable

from minidl import nn

__all__ = ["count_parameters", "freeze", "replace_head", "unfreeze"]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """The number of scalar parameters of ``model`` (only those with requires_grad when asked)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _selector(up_to: str | Callable[[str], bool] | None, names: list[str]) -> set[str]:
    """The parameter names ``up_to`` selects (see :func:`freeze`)."""
    if up_to is None:
        return set(names)
    if callable(up_to):
        return {n for n in names if up_to(n)}
    if not isinstance(up_to, str):
        raise TypeError(f"up_to must be None, a module name or a predicate, got {type(up_to).__name__}")
    chosen: set[str] = set()
    for n in names:
        if n == up_to or n.startswith(up_to + "."):
            return chosen
        chosen.add(n)
    raise ValueError(f"no parameter is under {up_to!r}; names start {names[:3]}")


def freeze(model: nn.Module, up_to: str | Callable[[str], bool] | None = None) -> list[str]:
    """Set ``requires_grad=False`` on parameters of ``model``; returns the frozen names.

    ``up_to``:
      * ``None``: every parameter;
      * a module (or parameter) name such as ``"layer3"`` or ``"classifier"``: every
        parameter registered *before* it (that module itself stays trainable);
      * a predicate ``name -> bool``: the parameters it accepts, e.g.
        ``lambda n: n.startswith("features")`` freezes the conv part of AlexNet/VGG.

    Frozen parameters get no ``.grad`` in backward, and an optimiser built over
    ``filter(lambda p: p.requires_grad, model.parameters())`` leaves them alone.
    BatchNorm running statistics still update in ``train()`` mode; call ``.eval()`` on
    frozen BatchNorm layers to keep them fixed.
    """
    names = [n for n, _ in model.named_parameters()]
    chosen = _selector(up_to, names)
    for n, p in model.named_parameters():
        if n in chosen:
            p.requires_grad_(False)
    return [n for n in names if n in chosen]


def unfreeze(model: nn.Module, up_to: str | Callable[[str], bool] | None = None) -> list[str]:
    """The inverse of :func:`freeze` (same ``up_to`` rules): ``requires_grad=True``; returns the names."""
    names = [n for n, _ in model.named_parameters()]
    chosen = _selector(up_to, names)
    for n, p in model.named_parameters():
        if n in chosen:
            p.requires_grad_(True)
    return [n for n in names if n in chosen]


def _parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    if "." not in name:
        return model, name
    head, _, leaf = name.rpartition(".")
    return model.get_submodule(head), leaf


def _set(parent: nn.Module, leaf: str, module: nn.Module) -> None:
    if isinstance(parent, (nn.Sequential, nn.ModuleList)) and leaf.isdigit():
        parent[int(leaf)] = module
    else:
        setattr(parent, leaf, module)


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Replace the classifier's last layer by a fresh one with ``num_classes`` outputs; returns it.

    Finds ``model.fc`` (ResNet, GoogLeNet), the last ``Linear`` of ``model.classifier``
    (AlexNet, VGG: ``classifier[6]``; DenseNet: ``classifier``), squeezenet's 1x1
    ``classifier[1]`` conv head, or else the last ``Linear`` anywhere in the model. The new
    layer has the same ``in_features`` (or ``in_channels``), torch's default init and
    ``requires_grad=True`` even when the rest of the model is frozen. Sets
    ``model.num_classes`` when the model has that attribute.
    """
    from minidl.models.squeezenet import SqueezeNet

    if isinstance(model, SqueezeNet):
        old = model.classifier[1]
        new: nn.Module = nn.Conv2d(old.in_channels, num_classes, kernel_size=1)
        nn.init.normal_(new.weight, mean=0.0, std=0.01)
        nn.init.constant_(new.bias, 0)
        model.classifier[1] = new
    else:
        linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        fc = getattr(model, "fc", None)
        if isinstance(fc, nn.Linear):
            name, old = "fc", fc
        else:
            cls = [(n, m) for n, m in linears if n == "classifier" or n.startswith("classifier.")]
            pool = cls or linears
            if not pool:
                raise ValueError(f"{type(model).__name__} has no Linear layer to replace")
            name, old = pool[-1]
        new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
        parent, leaf = _parent(model, name)
        _set(parent, leaf, new)
    if hasattr(model, "num_classes"):
        model.num_classes = num_classes
    return new
