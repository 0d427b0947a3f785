"""Moving weights between PyTorch and minidl: torch ``.pth``/``.pt`` files <-> minidl ``.npz``.

minidl never unpickles, and torch checkpoints are pickles, so a torch file is converted
once, where torch is installed, with torch's own safe loader
(``torch.load(..., weights_only=True)``, which refuses arbitrary code)::

    from minidl.utils.torch_interop import torch_to_npz, npz_to_torch
    torch_to_npz("resnet18-f37072fd.pth", "resnet18.npz")    # pretrained torchvision weights
    model.load_state_dict(minidl.load("resnet18.npz"))

    npz_to_torch("minidl_weights.npz", "for_torch.pth")       # and back
    torch_model.load_state_dict(torch.load("for_torch.pth"))

Key names are the same in both libraries (``features.0.weight``, ``bn1.running_var``,
``bn1.num_batches_tracked``), so no renaming is needed between equivalent models.
The in-memory versions are :func:`state_dict_from_torch` and :func:`state_dict_to_torch`.
torch is imported inside these functions only: the rest of minidl never needs it.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

import numpy as np

from minidl.tensor import Size, Tensor

__all__ = ["npz_to_torch", "state_dict_from_torch", "state_dict_to_torch", "torch_to_npz"]

#: Keys under which training scripts commonly store the model's weights in a checkpoint dict.
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "weights")


def _torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            "minidl.utils.torch_interop needs PyTorch to read or write torch files, and it is not installed. "
            "Convert the file on a machine with torch (pip install torch), then copy the .npz here."
        ) from e
    return torch


def state_dict_from_torch(sd: Any) -> Any:
    """A torch object tree (a state dict, an optimiser's, a checkpoint dict) with minidl tensors.

    ``torch.Tensor`` -> minidl ``Tensor`` (a CPU copy, same dtype; ``bfloat16``, which minidl
    lacks, becomes float32); ``torch.Size`` -> ``minidl.Size``; dicts (order and
    ``OrderedDict``-ness kept), lists and tuples are walked; anything else is returned as is.
    """
    torch = _torch()
    if isinstance(sd, torch.Tensor):
        t = sd.detach().cpu()
        if t.dtype == torch.bfloat16:
            t = t.float()
        return Tensor._make(t.numpy().copy())
    if isinstance(sd, torch.Size):
        return Size(sd)
    return _walk(sd, state_dict_from_torch)


def state_dict_to_torch(sd: Any) -> Any:
    """The reverse of :func:`state_dict_from_torch`: minidl tensors and numpy arrays -> CPU ``torch.Tensor``.

    The result is what ``torch_module.load_state_dict`` (or ``torch.save``) takes.
    """
    torch = _torch()
    if isinstance(sd, Tensor):
        from minidl.backend import Device, to_device

        return torch.from_numpy(np.array(to_device(sd._data, Device("cpu")), copy=True))
    if isinstance(sd, np.ndarray):
        return torch.from_numpy(np.array(sd, copy=True))
    if isinstance(sd, Size):
        return torch.Size(sd)
    return _walk(sd, state_dict_to_torch)


def _walk(obj: Any, fn: Any) -> Any:
    if isinstance(obj, dict):
        out = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            out[k] = fn(v)
        return out
    if isinstance(obj, list):
        return [fn(v) for v in obj]
    if isinstance(obj, tuple) and not hasattr(obj, "_fields"):
        return tuple(fn(v) for v in obj)
    return obj


def _extract(obj: Any, key: str | None, src: str) -> Any:
    """The model weights inside a checkpoint dict (``{"state_dict": ..., "epoch": ...}``)."""
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            found = list(obj)[:20] if isinstance(obj, dict) else type(obj).__name__
            raise KeyError(f"torch_to_npz: {src!r} has no entry {key!r} (it holds {found})")
        return obj[key]
    if isinstance(obj, dict):
        holds_tensors = any(hasattr(v, "shape") for v in obj.values())
        if not holds_tensors:
            for k in CHECKPOINT_KEYS:
                if isinstance(obj.get(k), dict):
                    return obj[k]
    return obj


def torch_to_npz(src_path: str | os.PathLike[str], dst_path: str | os.PathLike[str], *, key: str | None = None,
                 strip_prefix: str | None = None) -> Any:  # fmt: skip
    """Convert a torch file (``torch.save`` output: ``.pth``/``.pt``) into a minidl ``.npz``.

    The file is read with ``torch.load(src, map_location="cpu", weights_only=True)``, so
    a file that needs arbitrary unpickling (a whole pickled model) is refused by torch.
    A checkpoint dict that holds the weights under ``state_dict``, ``model_state_dict``,
    ``model``, ``net`` or ``weights`` (and no tensors at its top level) is reduced to
    those weights; ``key="optimizer"`` picks another entry, and ``key=None`` on a plain
    state dict converts it whole. ``strip_prefix="module."`` removes a prefix
    ``nn.DataParallel`` adds to every key. Returns what was written (minidl tensors),
    as :func:`minidl.serialization.load` will read it back.
    """
    torch = _torch()
    from minidl import serialization

    src = os.fspath(src_path)
    try:
        obj = torch.load(src, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:
        raise RuntimeError(
            f"torch_to_npz: torch could not read {src!r} with weights_only=True ({type(e).__name__}: {e}). "
            "A file holding a whole pickled model (torch.save(model)) cannot be converted safely: in the script "
            "that made it, save model.state_dict() instead."
        ) from e
    obj = state_dict_from_torch(_extract(obj, key, src))
    if strip_prefix and isinstance(obj, dict):
        obj = type(obj)((k[len(strip_prefix):] if isinstance(k, str) and k.startswith(strip_prefix) else k, v)
                        for k, v in obj.items())  # fmt: skip
    serialization.save(obj, dst_path)
    return obj


def npz_to_torch(src_path: str | os.PathLike[str], dst_path: str | os.PathLike[str]) -> Any:
    """Convert a file written by ``minidl.save`` into a torch file that ``torch.load`` reads.

    Tensors become CPU ``torch.Tensor``s with the same dtypes and key order. The torch
    file is written atomically (a temporary file renamed over ``dst_path``). Returns
    what was written (torch tensors).
    """
    torch = _torch()
    from minidl import serialization

    obj = state_dict_to_torch(serialization.load(src_path, map_location="cpu"))
    dst = os.fspath(dst_path)
    tmp = os.path.join(os.path.dirname(os.path.abspath(dst)), f".{os.path.basename(dst)}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return obj
