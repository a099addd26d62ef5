"""CIFAR-10 loader against the real dataset and an independent pickle parser."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest

from helpers.data import (CLASSES, DatasetCorruptError, DatasetNotFoundError, channel_stats,
                          find_cifar10_dir, load_cifar10, normalize, verify_sha256sums)


def test_real_cifar10_shapes_dtypes_and_class_balance(cifar10):
    assert cifar10.x_train.shape == (50000, 32, 32, 3) and cifar10.x_train.dtype == np.uint8
    assert cifar10.x_test.shape == (10000, 32, 32, 3) and cifar10.x_test.dtype == np.uint8
    assert cifar10.y_train.shape == (50000,) and cifar10.y_test.shape == (10000,)
    np.testing.assert_array_equal(np.bincount(cifar10.y_test, minlength=10), [1000] * 10)
    np.testing.assert_array_equal(np.bincount(cifar10.y_train, minlength=10), [5000] * 10)
    assert len(CLASSES) == 10


def test_channel_stats_match_published_values(cifar10):
    mean, std = channel_stats(cifar10.x_train)
    np.testing.assert_allclose(mean, [125.307, 122.950, 113.865], atol=1e-3)
    np.testing.assert_allclose(std, [62.993, 62.089, 66.705], atol=1e-3)
    test_mean, _ = channel_stats(cifar10.x_test)
    np.testing.assert_allclose(test_mean, [126.025, 123.709, 114.854], atol=1e-3)


def test_layout_matches_independent_parse(cifar10_dir):
    """Pixel (n, row, col, ch) must be byte ``ch*1024 + row*32 + col`` of record n."""
    sub = load_cifar10(cifar10_dir, n_train=300, n_test=10)
    with open(cifar10_dir / "data_batch_1", "rb") as f:
        raw = pickle.load(f, encoding="latin1")
    data = np.asarray(raw["data"])
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, r, c, ch = rng.integers(0, 300), rng.integers(0, 32), rng.integers(0, 32), rng.integers(0, 3)
        assert sub.x_train[n, r, c, ch] == data[n, ch * 1024 + r * 32 + c]
    assert sub.y_train.tolist() == raw["labels"][:300]
    assert sub.x_train.shape == (300, 32, 32, 3) and sub.x_test.shape == (10, 32, 32, 3)


def test_normalize_is_per_channel_standardisation():
    x = np.arange(2 * 2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 2, 3)
    mean, std = [1.0, 2.0, 3.0], [2.0, 4.0, 0.5]
    out = normalize(x, mean, std)
    assert out.dtype == np.float32
    for ch in range(3):
        np.testing.assert_allclose(out[..., ch], (x[..., ch] - mean[ch]) / std[ch], rtol=1e-6)
    with pytest.raises(ValueError, match="std must be positive"):
        normalize(x, mean, [1.0, 0.0, 1.0])


def test_missing_explicit_dir_names_path_and_fix(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFoundError) as e:
        find_cifar10_dir(missing, download=False)
    msg = str(e.value)
    assert str(missing) in msg and "CIFAR10_DIR" in msg and "data_batch_1" in msg


def test_env_var_is_used_and_checked(tmp_path, monkeypatch, cifar10_dir):
    monkeypatch.setenv("CIFAR10_DIR", str(cifar10_dir))
    assert find_cifar10_dir(download=False) == cifar10_dir.resolve()
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="environment variable CIFAR10_DIR"):
        find_cifar10_dir(download=False)


def test_nothing_found_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.delenv("CIFAR10_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr("helpers.data.REPO_ROOT", tmp_path)
    with pytest.raises(DatasetNotFoundError) as e:
        find_cifar10_dir(download=False)
    msg = str(e.value)
    assert str(tmp_path / "keras" / "datasets" / "cifar-10-batches-py") in msg
    assert str(tmp_path / "data" / "cifar-10-batches-py") in msg
    assert "download disabled" in msg


def _linked_copy(src, dst, real=("test_batch",)):
    """Copy of the dataset folder: symlinks except the files in ``real``, copied."""
    dst.mkdir()
    for f in src.iterdir():
        if f.name in real or f.name == "SHA256SUMS":
            shutil.copy(f, dst / f.name)
        else:
            (dst / f.name).symlink_to(f)
    return dst


def test_flipped_byte_fails_checksum(tmp_path, cifar10_dir):
    if not (cifar10_dir / "SHA256SUMS").is_file():
        pytest.skip("this copy of CIFAR-10 has no SHA256SUMS file")
    copy = _linked_copy(cifar10_dir, tmp_path / "c10")
    assert verify_sha256sums(copy) == 7
    with open(copy / "test_batch", "r+b") as f:
        f.seek(5000)
        b = f.read(1)
        f.seek(5000)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(DatasetCorruptError, match="checksum mismatch for .*test_batch"):
        load_cifar10(copy)


def test_truncated_batch_without_sums_is_reported(tmp_path, cifar10_dir):
    copy = _linked_copy(cifar10_dir, tmp_path / "c10")
    (copy / "SHA256SUMS").unlink()
    data = (copy / "test_batch").read_bytes()
    (copy / "test_batch").write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetCorruptError, match="could not parse CIFAR-10 batch .*test_batch"):
        load_cifar10(copy, n_train=10)
