"""A small, safe reader for PyTorch checkpoint files (state dicts of tensors) without torch.

Supports both of PyTorch's formats:

* the zip format (``torch.save`` since 1.6): ``<name>/data.pkl`` + ``<name>/data/<key>``;
* the legacy format (before 1.6): consecutive pickles -- magic number, protocol, system
  info, the object, the list of storage keys -- followed by each storage's raw bytes
  (8-byte little-endian element count, then the data).

Every pickle in either format -- including the legacy header (magic number, protocol, system
info) and the storage-key list -- goes through one restricted unpickler that allows only the
handful of classes a state dict needs (``OrderedDict``, tensor rebuilding, storage types);
anything else raises ``pickle.UnpicklingError``, so a checkpoint cannot run code. Every
tensor view is checked against its storage's size, and every storage against the bytes the
file holds. Tensors come back as NumPy arrays (C-contiguous copies).
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
           "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class _StorageType:
    def __init__(self, name: str):
        self.dtype = np.dtype(_DTYPES[name])


class _Storage:
    def __init__(self, key: str, dtype: np.dtype, size: int | None):
        self.key, self.dtype, self.size = key, dtype, size
        self.data: np.ndarray | None = None


class _TensorRef:
    def __init__(self, storage: _Storage, offset: int, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialise(self) -> np.ndarray:
        base = self.storage.data
        if base is None:
            raise pickle.UnpicklingError(f"storage {self.storage.key} has no data")
        if self.offset < 0 or any(n < 0 for n in self.size) or any(st < 0 for st in self.stride):
            raise pickle.UnpicklingError(
                f"tensor view on storage {self.storage.key} has a negative offset, size or "
                f"stride (offset {self.offset}, size {self.size}, stride {self.stride})")
        if 0 not in self.size:
            last = self.offset + sum((n - 1) * st for n, st in zip(self.size, self.stride))
            if last >= base.size:
                raise pickle.UnpicklingError(
                    f"tensor view (offset {self.offset}, size {self.size}, stride "
                    f"{self.stride}) runs past storage {self.storage.key} of {base.size} "
                    "elements: the checkpoint is corrupt")
        item = base.itemsize
        arr = np.lib.stride_tricks.as_strided(base[self.offset:], shape=self.size,
                                              strides=[st * item for st in self.stride])
        return np.array(arr, copy=True)


def _rebuild_tensor(storage, storage_offset, size, stride, *args):
    return _TensorRef(storage, storage_offset, size, stride)


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, storages: dict[str, _Storage], zip_dtype_from_type: bool):
        super().__init__(f)
        self.storages = storages
        self.zip_mode = zip_dtype_from_type

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return _rebuild_tensor
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a checkpoint "
                                     "(only tensors and OrderedDict are allowed)")

    def persistent_load(self, pid):
        # pid = ('storage', storage_type, key, location, size[, view_metadata])
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        stype, key = pid[1], str(pid[2])
        size = pid[4] if len(pid) > 4 else None
        if key not in self.storages:
            self.storages[key] = _Storage(key, stype.dtype, size)
        return self.storages[key]


def _materialise(obj):
    if isinstance(obj, _TensorRef):
        return obj.materialise()
    if isinstance(obj, dict):
        return OrderedDict((k, _materialise(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialise(v) for v in obj)
    return obj


def load_state_dict(path: str | Path) -> "OrderedDict[str, np.ndarray]":
    """Read a PyTorch state dict file into ``{name: numpy array}``."""
    path = Path(path)
    storages: dict[str, _Storage] = {}
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            pkl = next(n for n in z.namelist() if n.endswith("data.pkl"))
            prefix = pkl[: -len("data.pkl")]
            obj = _Unpickler(io.BytesIO(z.read(pkl)), storages, True).load()
            for key, st in storages.items():
                st.data = np.frombuffer(z.read(f"{prefix}data/{key}"), dtype=st.dtype)
        return _materialise(obj)
    with open(path, "rb") as f:
        magic = _Unpickler(f, storages, False).load()
        if magic != LEGACY_MAGIC:
            raise ValueError(f"{path} is neither a zip nor a legacy PyTorch checkpoint")
        _Unpickler(f, storages, False).load()          # protocol version
        _Unpickler(f, storages, False).load()          # sys info (plain dict)
        obj = _Unpickler(f, storages, False).load()
        keys = _Unpickler(f, storages, False).load()
        _read_legacy_storages(f, storages, keys, path)
    return _materialise(obj)


def _read_legacy_storages(f, storages: dict[str, _Storage], keys, path: Path) -> None:
    """Each storage's raw bytes after the pickles: an 8-byte little-endian element count,
    then the data; checked against the file's length and the count the object declared."""
    if not isinstance(keys, list):
        raise pickle.UnpicklingError(f"{path}: storage key list is a {type(keys).__name__}")
    for key in keys:
        if str(key) not in storages:
            raise pickle.UnpicklingError(f"{path}: storage {key!r} is not used by any tensor")
        st = storages[str(key)]
        head = f.read(8)
        if len(head) != 8:
            raise pickle.UnpicklingError(f"{path} is truncated before storage {key!r}")
        (n,) = struct.unpack("<q", head)
        if n < 0 or (st.size is not None and n != st.size):
            raise pickle.UnpicklingError(f"{path}: storage {key!r} holds {n} elements, the "
                                         f"tensors declared {st.size}")
        raw = f.read(n * st.dtype.itemsize)
        if len(raw) != n * st.dtype.itemsize:
            raise pickle.UnpicklingError(f"{path} is truncated inside storage {key!r}")
        st.data = np.frombuffer(raw, dtype=st.dtype)
