"""``minidl.save`` / ``minidl.load``: state dicts as ``.npz`` files, with no pickle anywhere.

What can be saved: nested ``dict`` (also ``OrderedDict`` and ``Counter``, any str/int/
float/bool/None/tuple keys, order kept), ``list``, ``tuple``, ``set``, minidl
Tensors (and Parameters), numpy arrays and scalars, Python numbers, bools, None,
strings, bytes, minidl dtypes and devices. So a model's ``state_dict()``, an optimiser's
``state_dict()`` and ``{"model": ..., "optimizer": ..., "epoch": 3}`` all round-trip
exactly: same keys and order, same dtypes and values, tuples stay tuples, int keys stay
ints.

The file format
---------------
One ``.npz`` (a zip of ``.npy`` files, readable by ``np.load`` anywhere) holding

* ``a0``, ``a1``, ... -- the arrays, one per distinct array object (two tensors sharing
  one array, as tied weights do, are stored once);
* ``__manifest__`` -- a uint8 array holding UTF-8 JSON::

      {"format": "minidl.save", "version": 1, "root": NODE}

  where a NODE is ``{"t": TYPE, ...}``:

  ==============  ==========================================================
  ``tensor``      ``a`` (array name), ``dtype``, ``shape``, ``device``,
                  ``requires_grad``, ``parameter`` (was an ``nn.Parameter``)
  ``ndarray``     ``a``, ``dtype``, ``shape``
  ``npscalar``    ``a`` (a 0-d array), ``dtype``
  ``none``        --
  ``bool/int``    ``v`` (a JSON bool / int)
  ``float``       ``v``: ``repr(x)`` as a string (exact, and ``inf``/``nan`` survive)
  ``str``         ``v``
  ``bytes``       ``v``: hex string
  ``list``        ``items``: list of NODEs (also ``tuple``, ``set``, ``size``)
  ``dict``        ``kind`` (``dict``, ``OrderedDict`` or ``Counter``), ``keys`` and
                  ``values``: lists of NODEs in insertion order
  ``dtype``       ``v``: the dtype's name (``float32``)
  ``device``      ``v``: ``"cpu"`` or ``"cuda:0"``
  ==============  ==========================================================

Safety: :func:`save` writes to a temporary file in the target's folder, flushes and
fsyncs it, then renames it over the target (``os.replace``, atomic), so an interrupted
save leaves the previous file intact. :func:`load` reads with ``allow_pickle=False``:
pickle files (``torch.save``'s output, ``pickle.dump``'s) and object arrays are refused,
and a broken file gives an error that names it.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import secrets
import zipfile
import zlib
from collections import Counter, OrderedDict
from typing import IO, Any, Union

import numpy as np

from minidl import dtypes
from minidl.backend import Device, device_of, to_device
from minidl.tensor import Size, Tensor

__all__ = ["FORMAT_VERSION", "SerializationError", "UnsafeFileError", "load", "save"]

FORMAT_VERSION = 1
_FORMAT = "minidl.save"
_MANIFEST = "__manifest__"

PathOrFile = Union[str, "os.PathLike[str]", IO[bytes]]
MapLocation = Union[None, str, Device, "dict[str, str]"]


class SerializationError(RuntimeError):
    """A file that :func:`load` cannot read: missing, truncated, corrupt, or not minidl's."""


class UnsafeFileError(SerializationError, pickle.UnpicklingError):
    """A file that would need unpickling (torch.save/pickle output, object arrays): refused.

    Also an ``UnpicklingError``, which is what ``torch.load(weights_only=True)`` raises.
    """


# ============================================================================ save
def save(obj: Any, f: PathOrFile, *, compress: bool = False) -> None:
    """Write ``obj`` (a state dict, or nested dicts/lists of tensors, arrays and numbers) to ``f``.

    ``f`` is a path (``str`` or ``pathlib.Path``, used as given: no ``.npz`` is appended)
    or a binary file object opened for writing. A path is written atomically: a
    temporary file in the same folder, flushed and fsynced, is renamed over ``f``, so a
    crash or an exception mid-save leaves any previous file at ``f`` untouched.
    ``compress=True`` deflates the arrays (smaller, slower).

    Raises ``TypeError`` naming the offending entry (``obj['model']['fc.weight']``) when
    something cannot be stored without pickle (functions, arbitrary objects, object arrays).
    """
    arrays: dict[str, np.ndarray] = {}
    root = _Encoder(arrays).encode(obj, "obj")
    manifest = json.dumps({"format": _FORMAT, "version": FORMAT_VERSION, "root": root}, ensure_ascii=True)
    arrays[_MANIFEST] = np.frombuffer(manifest.encode("utf-8"), dtype=np.uint8)
    writer = np.savez_compressed if compress else np.savez

    if not isinstance(f, (str, os.PathLike)):
        if not hasattr(f, "write"):
            raise TypeError(f"save: expected a path or a binary file object, got {type(f).__name__}")
        writer(f, allow_pickle=False, **arrays)
        return

    path = os.fspath(f)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: folder {folder!r} does not exist (saving to {path!r})")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    # os.open with 0o666 lets the umask decide the permissions, as open(path, "wb") would
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            writer(out, allow_pickle=False, **arrays)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: str) -> None:
    """Make the rename itself durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


class _Encoder:
    """Turns an object tree into manifest nodes, collecting its arrays into ``arrays``."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.names: dict[int, str] = {}  # id(array) -> name, so shared arrays are stored once
        self.active: set[int] = set()  # containers being encoded: catches cycles

    def _store(self, arr: Any, where: str) -> str:
        name = self.names.get(id(arr))
        if name is None:
            cpu = to_device(arr, Device("cpu"))
            if cpu.dtype.hasobject:
                raise TypeError(f"save: {where} is an object array ({cpu.dtype}), which cannot be saved without pickle")
            name = f"a{len(self.names)}"
            self.names[id(arr)] = name
            self.arrays[name] = cpu
        return name

    def encode(self, obj: Any, where: str) -> dict[str, Any]:
        if obj is None:
            return {"t": "none"}
        if isinstance(obj, Tensor):
            arr = obj._data
            from minidl.nn.parameter import Parameter  # nn sits above this module; imported on use

            return {"t": "tensor", "a": self._store(arr, where), "dtype": str(arr.dtype), "shape": list(arr.shape),
                    "device": str(device_of(arr)), "requires_grad": bool(obj.requires_grad),
                    "parameter": isinstance(obj, Parameter)}  # fmt: skip
        if isinstance(obj, np.generic):  # before Python numbers: np.float64 is a float subclass
            arr = np.asarray(obj)
            if arr.dtype.hasobject:
                raise TypeError(f"save: {where} is a numpy object scalar, which cannot be saved without pickle")
            name = f"a{len(self.names)}"
            self.names[id(arr)] = name
            self.arrays[name] = arr
            return {"t": "npscalar", "a": name, "dtype": str(arr.dtype)}
        if isinstance(obj, bool):
            return {"t": "bool", "v": obj}
        if isinstance(obj, int):
            return {"t": "int", "v": int(obj)}
        if isinstance(obj, float):
            return {"t": "float", "v": repr(float(obj))}
        if isinstance(obj, str):
            return {"t": "str", "v": str(obj)}
        if isinstance(obj, (bytes, bytearray)):
            return {"t": "bytes", "v": bytes(obj).hex()}
        if isinstance(obj, np.ndarray) or hasattr(obj, "__cuda_array_interface__"):
            return {"t": "ndarray", "a": self._store(obj, where), "dtype": str(obj.dtype), "shape": list(obj.shape)}
        if isinstance(obj, dtypes.dtype):
            return {"t": "dtype", "v": obj.name}
        if isinstance(obj, Device):
            return {"t": "device", "v": str(obj)}
        if isinstance(obj, (dict, list, tuple, set, frozenset)):
            if id(obj) in self.active:
                raise ValueError(f"save: {where} contains itself (a reference cycle cannot be saved)")
            self.active.add(id(obj))
            try:
                return self._encode_container(obj, where)
            finally:
                self.active.discard(id(obj))
        raise TypeError(
            f"save: cannot save {where} of type {type(obj).__name__} without pickle; minidl saves tensors, "
            "numpy arrays, numbers, strings, None and dicts/lists/tuples of them"
        )

    def _encode_container(self, obj: Any, where: str) -> dict[str, Any]:
        if isinstance(obj, dict):
            if type(obj) not in (dict, OrderedDict, Counter):
                kind = "OrderedDict" if isinstance(obj, OrderedDict) else "dict"
            else:
                kind = type(obj).__name__
            keys, values = [], []
            for k, v in obj.items():
                if not isinstance(k, (str, int, float, bool, tuple, type(None))):
                    raise TypeError(f"save: {where} has a key of type {type(k).__name__} ({k!r:.40}); keys must be "
                                    "str, int, float, bool, None or tuples of them")  # fmt: skip
                keys.append(self.encode(k, f"{where} key {k!r}"))
                values.append(self.encode(v, f"{where}[{k!r}]"))
            return {"t": "dict", "kind": kind, "keys": keys, "values": values}
        if isinstance(obj, Size):
            kind = "size"
        elif isinstance(obj, tuple):
            if hasattr(obj, "_fields"):
                raise TypeError(f"save: cannot save {where}, a namedtuple {type(obj).__name__}, without pickle; "
                                "convert it with ._asdict() or tuple()")  # fmt: skip
            kind = "tuple"
        elif isinstance(obj, list):
            kind = "list"
        else:
            kind = "set"
            obj = sorted(obj, key=repr)  # a stable order in the file
        return {"t": kind, "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}


# ============================================================================ load
def load(f: PathOrFile, map_location: MapLocation = None, weights_only: bool = True, **kwargs: Any) -> Any:
    """Read what :func:`save` wrote, never unpickling anything.

    ``f``: a path (``str``/``pathlib.Path``) or a binary file object.
    ``map_location``: where tensors go -- None (the device they were saved from), a
    device (``"cpu"``, ``"cuda:0"``, ``minidl.device("cpu")``) for all of them, or a
    dict mapping saved devices to new ones (``{"cuda:0": "cpu"}``). numpy arrays stay
    numpy arrays on the CPU.
    ``weights_only`` is accepted for torch compatibility; minidl always behaves as
    ``weights_only=True`` (its files hold no code), whatever the value.

    A plain ``.npz`` (from ``np.savez``) loads as an ``OrderedDict`` of tensors by array
    name, and an ``.npy`` as one tensor. A pickle file -- ``torch.save``'s output (convert
    it with ``minidl.utils.torch_interop.torch_to_npz``) or ``pickle.dump``'s -- or an
    object array raises :class:`UnsafeFileError`; a truncated or corrupt file raises
    :class:`SerializationError`; both name the file.
    """
    del weights_only, kwargs  # minidl never unpickles: every load is "weights only"
    _target_device("cpu", map_location)  # a bad map_location fails here, not deep inside the file
    name = _describe(f)
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        if not os.path.exists(path):
            raise FileNotFoundError(f"load: no such file: {path!r}")
        if os.path.isdir(path):
            raise IsADirectoryError(f"load: {path!r} is a folder, not a file saved by minidl.save")
        with open(path, "rb") as fh:
            return _load_stream(fh, name, map_location)
    if not hasattr(f, "read"):
        raise TypeError(f"load: expected a path or a binary file object, got {type(f).__name__}")
    return _load_stream(f, name, map_location)


def _describe(f: Any) -> str:
    if isinstance(f, (str, os.PathLike)):
        return repr(os.fspath(f))
    name = getattr(f, "name", None)
    return repr(name) if isinstance(name, str) else f"<{type(f).__name__}>"


_PICKLE_HINT = (
    "minidl never unpickles files (unpickling can run arbitrary code). "
    "Save with minidl.save, or convert a torch checkpoint once with "
    "minidl.utils.torch_interop.torch_to_npz(src, dst) where torch is installed."
)


def _load_stream(fh: IO[bytes], name: str, map_location: MapLocation) -> Any:
    start = fh.tell() if fh.seekable() else 0
    head = fh.read(8)
    if fh.seekable():
        fh.seek(start)
    else:  # np.load needs to seek: read the rest into memory
        fh = io.BytesIO(head + fh.read())
    if not head:
        raise SerializationError(f"load: {name} is empty (0 bytes): an interrupted write or not a minidl file")
    if head.startswith(b"\x80") or head[:1] in (b"(", b"]", b"}"):
        raise UnsafeFileError(f"load: {name} is a pickle file (e.g. written by torch.save or pickle.dump). "
                              + _PICKLE_HINT)  # fmt: skip
    if head.startswith(b"\x93NUMPY"):
        return _plain(_read(lambda: np.load(fh, allow_pickle=False), name, "the array"), map_location)
    if not head.startswith(b"PK"):
        raise SerializationError(f"load: {name} is not a minidl file (expected an .npz zip archive, "
                                 f"found bytes {head!r})")  # fmt: skip
    npz = _read(lambda: np.load(fh, allow_pickle=False), name, "the zip directory")
    with npz:
        files = list(npz.files)
        if any(n.endswith(".pkl") for n in files):
            raise UnsafeFileError(f"load: {name} is a torch.save checkpoint (a zip holding pickled data). "
                                  + _PICKLE_HINT)  # fmt: skip
        if _MANIFEST not in files:  # a plain np.savez file: its arrays by name
            plain = OrderedDict()
            for n in files:
                plain[n] = _plain(_read(lambda n=n: npz[n], name, f"array {n!r}"), map_location)
            return plain
        raw = _read(lambda: npz[_MANIFEST], name, "the manifest")
        try:
            manifest = json.loads(raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise SerializationError(f"load: {name} has a corrupt manifest ({e})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT or "root" not in manifest:
            raise SerializationError(f"load: {name} has a manifest that is not minidl's")
        version = manifest.get("version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise SerializationError(
                f"load: {name} was written in format version {version!r}, newer than this minidl reads "
                f"({FORMAT_VERSION}): upgrade minidl"
            )
        arrays = {n: _read(lambda n=n: npz[n], name, f"array {n!r}") for n in files if n != _MANIFEST}
    try:
        return _Decoder(arrays, map_location).decode(manifest["root"])
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        raise SerializationError(f"load: {name} has a corrupt manifest or arrays ({type(e).__name__}: {e})") from None


def _read(fn: Any, name: str, what: str) -> Any:
    """Run a numpy read, turning its many failure modes into one clear error naming the file."""
    try:
        return fn()
    except ValueError as e:
        if "pickle" in str(e).lower() or "object arrays" in str(e).lower():
            raise UnsafeFileError(f"load: {name}: {what} holds Python objects (an object array). " + _PICKLE_HINT
                                  ) from None  # fmt: skip
        raise SerializationError(f"load: {name} is corrupt or truncated: cannot read {what} ({e})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, NotImplementedError) as e:
        raise SerializationError(
            f"load: {name} is corrupt or truncated: cannot read {what} ({type(e).__name__}: {e})"
        ) from None


def _plain(arr: np.ndarray, map_location: MapLocation) -> Any:
    """An array from a plain .npy/.npz: a tensor where minidl has its dtype, else the array."""
    if arr.dtype not in dtypes._BY_NUMPY:
        return arr
    return _restore_tensor(arr, "cpu", False, False, map_location)


def _target_device(saved: str, map_location: MapLocation) -> str:
    if map_location is None:
        return saved
    if isinstance(map_location, (str, Device)):
        return str(Device(map_location))
    if isinstance(map_location, dict):
        return str(Device(map_location.get(saved, saved)))
    raise TypeError(
        f"load: map_location must be None, a device or a dict of devices, got {type(map_location).__name__}"
    )


def _restore_tensor(arr: np.ndarray, saved_device: str, requires_grad: bool, parameter: bool,
                    map_location: MapLocation) -> Tensor:  # fmt: skip
    if arr.dtype not in dtypes._BY_NUMPY:
        raise ValueError(f"a tensor of dtype {arr.dtype}, which minidl does not have")
    device = Device(_target_device(saved_device, map_location))
    if device.type == "cuda":
        try:
            arr = to_device(arr, device)
        except RuntimeError as e:
            raise RuntimeError(
                f"load: attempting to put a tensor saved on {saved_device} onto {device}, but {e}. "
                "On a CPU-only machine, use minidl.load(f, map_location='cpu')."
            ) from None
    if parameter:
        from minidl.nn.parameter import Parameter

        return Parameter(Tensor._make(arr), requires_grad=requires_grad)
    t = Tensor._make(arr)
    if requires_grad:
        t.requires_grad = True
    return t


class _Decoder:
    def __init__(self, arrays: dict[str, np.ndarray], map_location: MapLocation) -> None:
        self.arrays = arrays
        self.map_location = map_location

    def _array(self, node: dict[str, Any]) -> np.ndarray:
        arr = self.arrays[node["a"]]
        if str(arr.dtype) != node["dtype"] or ("shape" in node and list(arr.shape) != node["shape"]):
            raise ValueError(f"array {node['a']} is {arr.dtype}{list(arr.shape)}, the manifest says "
                             f"{node['dtype']}{node.get('shape')}")  # fmt: skip
        return arr

    def decode(self, node: dict[str, Any]) -> Any:
        t = node["t"]
        if t == "tensor":
            return _restore_tensor(self._array(node), node["device"], node["requires_grad"], node["parameter"],
                                   self.map_location)  # fmt: skip
        if t == "ndarray":
            return self._array(node)
        if t == "npscalar":
            return self._array(node)[()]
        if t == "none":
            return None
        if t == "bool":
            return bool(node["v"])
        if t == "int":
            return int(node["v"])
        if t == "float":
            return float(node["v"])
        if t == "str":
            return str(node["v"])
        if t == "bytes":
            return bytes.fromhex(node["v"])
        if t == "dtype":
            return dtypes.to_dtype(node["v"])
        if t == "device":
            return Device(node["v"])
        if t in ("list", "tuple", "set", "size"):
            items = [self.decode(n) for n in node["items"]]
            return {"list": list, "tuple": tuple, "set": set, "size": Size}[t](items)
        if t == "dict":
            cls = {"dict": dict, "OrderedDict": OrderedDict, "Counter": Counter}[node["kind"]]
            out = cls()
            for k, v in zip(node["keys"], node["values"], strict=True):
                out[self.decode(k)] = self.decode(v)
            return out
        raise ValueError(f"unknown node type {t!r}")
