"""The restricted PyTorch checkpoint reader on hand-made legacy and zip checkpoints: the
tensors come back exactly, and no pickle of either format can run code or read past a
storage."""

from __future__ import annotations

import io
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from helpers.ann.pth_reader import LEGACY_MAGIC, load_state_dict


@pytest.fixture
def fake_torch(monkeypatch):
    """Stand-ins for the torch globals a checkpoint names (torch is not installed here)."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while pickling")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch, utils


class _Tensor:
    """Pickles like a torch tensor: a view (offset, size, stride) on storage ``key``."""

    def __init__(self, key, n, offset, size, stride):
        self.key, self.n, self.offset, self.size, self.stride = key, n, offset, size, stride

    def __reduce__(self):
        rebuild = sys.modules["torch._utils"]._rebuild_tensor_v2
        return rebuild, (_StorageRef(self.key, self.n), self.offset, self.size, self.stride,
                         False, OrderedDict())


class _StorageRef:
    def __init__(self, key, n):
        self.key, self.n = key, n


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _StorageRef):
            return ("storage", sys.modules["torch"].FloatStorage, obj.key, "cpu", obj.n)
        return None


def _dumps(obj) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


class _Poison:
    """Unpickling this would create ``path`` (builtins.open in write mode)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


STORE = np.arange(12, dtype=np.float32)


def _legacy(path, parts: dict | None = None, storage=STORE, view=(0, (3, 4), (4, 1))):
    parts = {"magic": LEGACY_MAGIC, "protocol": 1001,
             "sys_info": {"protocol_version": 1001, "little_endian": True},
             "object": OrderedDict(w=_Tensor("0", storage.size, *view)), "keys": ["0"],
             **(parts or {})}
    with open(path, "wb") as f:
        for name in ("magic", "protocol", "sys_info"):
            f.write(pickle.dumps(parts[name], protocol=2))
        f.write(_dumps(parts["object"]))
        f.write(pickle.dumps(parts["keys"], protocol=2))
        f.write(struct.pack("<q", storage.size) + storage.tobytes())
    return path


def test_legacy_checkpoint_round_trip(tmp_path, fake_torch):
    sd = load_state_dict(_legacy(tmp_path / "ok.pth"))
    np.testing.assert_array_equal(sd["w"], STORE.reshape(3, 4))


def test_transposed_view_is_read_by_its_strides(tmp_path, fake_torch):
    sd = load_state_dict(_legacy(tmp_path / "t.pth", view=(1, (4, 2), (1, 4))))
    np.testing.assert_array_equal(sd["w"], STORE[1:9].reshape(2, 4).T)


@pytest.mark.parametrize("part", ["magic", "protocol", "sys_info", "object", "keys"])
def test_a_poisoned_pickle_raises_and_creates_nothing(tmp_path, fake_torch, part):
    target = tmp_path / f"pwned_{part}"
    bad = _legacy(tmp_path / "bad.pth", {part: _Poison(target)})
    with pytest.raises(pickle.UnpicklingError, match="refusing to load io.open"):
        load_state_dict(bad)
    assert not target.exists()


def test_a_poisoned_zip_checkpoint_raises_and_creates_nothing(tmp_path, fake_torch):
    target = tmp_path / "pwned_zip"
    bad = tmp_path / "bad_zip.pth"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(_Poison(target), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load io.open"):
        load_state_dict(bad)
    assert not target.exists()


@pytest.mark.parametrize("view", [(0, (4, 4), (4, 1)), (10, (3,), (1,)), (0, (2, 7), (7, 1))])
def test_a_view_past_its_storage_is_refused(tmp_path, fake_torch, view):
    bad = _legacy(tmp_path / "past.pth", view=view)
    with pytest.raises(pickle.UnpicklingError, match="runs past storage"):
        load_state_dict(bad)


def test_a_truncated_storage_is_refused(tmp_path, fake_torch):
    path = _legacy(tmp_path / "cut.pth")
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(pickle.UnpicklingError, match="truncated inside storage"):
        load_state_dict(path)
