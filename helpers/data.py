"""CIFAR-10 loading (standard ``cifar-10-batches-py`` layout) and the one normalisation helper.

Images come back as ``uint8`` arrays of shape ``(N, 32, 32, 3)`` (NHWC, RGB, 0-255) and
labels as ``int64`` arrays of shape ``(N,)``. Where to look, in order:

1. the ``cifar10_dir`` argument;
2. the ``CIFAR10_DIR`` environment variable;
3. ``data/cifar-10-batches-py`` in the repository;
4. the Keras cache ``~/.keras/datasets/cifar-10-batches-py``;
5. Keras' own download (``tf.keras.datasets.cifar10.load_data``), which fills that cache.

A path given explicitly (1 or 2) must hold the data: it is never silently replaced by
another copy. When a ``SHA256SUMS`` file lies beside the batches, every listed file is
verified before loading.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.paths import REPO_ROOT
from helpers.results import sha256_file

ENV_VAR = "CIFAR10_DIR"
FOLDER_NAME = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")

_FIX = (
    "Fix: download the python version of CIFAR-10 (cifar-10-python.tar.gz), extract it, and "
    f"either pass its `cifar-10-batches-py` folder as `cifar10_dir=...`, set {ENV_VAR}=/path/to/"
    f"{FOLDER_NAME}, or place it at {REPO_ROOT / 'data' / FOLDER_NAME}."
)


class DatasetNotFoundError(FileNotFoundError):
    """No usable copy of a dataset was found; the message lists where we looked."""


class DatasetCorruptError(ValueError):
    """A dataset file failed its checksum or could not be parsed."""


def keras_cache_dir() -> Path:
    """The folder Keras downloads CIFAR-10 into (honours ``KERAS_HOME``)."""
    home = os.environ.get("KERAS_HOME", str(Path.home() / ".keras"))
    return Path(home) / "datasets" / FOLDER_NAME


def _has_batches(d: Path) -> bool:
    return all((d / f).is_file() for f in TRAIN_FILES + TEST_FILES)


def find_cifar10_dir(cifar10_dir: str | Path | None = None, *, download: bool = True) -> Path:
    """Return the folder that holds the CIFAR-10 python batches.

    Raises :class:`DatasetNotFoundError` naming every place looked at and how to fix it.
    """
    explicit = [(cifar10_dir, "argument cifar10_dir"),
                (os.environ.get(ENV_VAR) or None, f"environment variable {ENV_VAR}")]
    for value, source in explicit:
        if value is None:
            continue
        d = Path(value).expanduser().resolve()
        if _has_batches(d):
            return d
        missing = [f for f in TRAIN_FILES + TEST_FILES if not (d / f).is_file()]
        raise DatasetNotFoundError(
            f"CIFAR-10 not found at {d} (given by {source}): missing {', '.join(missing)}. "
            f"The folder must be the extracted `{FOLDER_NAME}` directory. " + _FIX)

    looked = [REPO_ROOT / "data" / FOLDER_NAME, keras_cache_dir()]
    for d in looked:
        if _has_batches(d):
            return d
    if download:
        try:
            import tensorflow as tf

            tf.keras.datasets.cifar10.load_data()
            if _has_batches(keras_cache_dir()):
                return keras_cache_dir()
            reason = "Keras download finished but the cache folder is incomplete"
        except Exception as exc:  # network errors, missing TF, ...
            reason = f"Keras download failed: {type(exc).__name__}: {exc}"
    else:
        reason = "download disabled"
    raise DatasetNotFoundError(
        "CIFAR-10 not found. Looked at: argument cifar10_dir (not given), "
        f"${ENV_VAR} (not set), " + ", ".join(str(d) for d in looked)
        + f"; {reason}. " + _FIX)


def arrays_sha256(*arrays: np.ndarray) -> str:
    """Hex SHA-256 of arrays' shapes, dtypes and bytes (a fingerprint of a data subset)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def verify_sha256sums(folder: str | Path, sums_name: str = "SHA256SUMS") -> int:
    """Check every file listed in ``folder/SHA256SUMS``; return how many were checked.

    Returns 0 when there is no sums file. Raises :class:`DatasetCorruptError` on the first
    mismatch or missing file.
    """
    folder = Path(folder)
    sums = folder / sums_name
    if not sums.is_file():
        return 0
    n = 0
    for line in sums.read_text().splitlines():
        if not line.strip():
            continue
        expected, name = line.split(maxsplit=1)
        name = name.lstrip("*")
        target = folder / name
        if not target.is_file():
            raise DatasetCorruptError(f"{target} is listed in {sums} but missing. "
                                      "Re-extract the dataset. " + _FIX)
        actual = sha256_file(target)
        if actual != expected.lower():
            raise DatasetCorruptError(
                f"checksum mismatch for {target}: expected {expected}, got {actual}. "
                "The copy is corrupt or incomplete; delete the folder and extract it again. "
                + _FIX)
        n += 1
    return n


def _load_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
        images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    except Exception as exc:
        raise DatasetCorruptError(
            f"could not parse CIFAR-10 batch {path}: {type(exc).__name__}: {exc}. "
            "Delete the folder and extract it again. " + _FIX) from exc
    if len(images) != len(labels):
        raise DatasetCorruptError(f"{path}: {len(images)} images but {len(labels)} labels")
    return np.ascontiguousarray(images), labels


@dataclass(frozen=True)
class Cifar10:
    """CIFAR-10 arrays: ``x_*`` uint8 ``(N, 32, 32, 3)``, ``y_*`` int64 ``(N,)``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: Path


def load_cifar10(cifar10_dir: str | Path | None = None, *, n_train: int | None = None,
                 n_test: int | None = None, verify: bool = True,
                 download: bool = True) -> Cifar10:
    """Load CIFAR-10 (optionally only the first ``n_train`` / ``n_test`` images).

    Subsets keep the official order, so they are reproducible; the training subset is taken
    from the start of ``data_batch_1``.
    """
    for name, n, total in (("n_train", n_train, 50_000), ("n_test", n_test, 10_000)):
        if n is not None and (not isinstance(n, (int, np.integer)) or not 0 < n <= total):
            raise ValueError(f"{name}={n!r}: CIFAR-10 has {total:,} images there; pass an "
                             f"integer between 1 and {total:,} (or None for all)")
    folder = find_cifar10_dir(cifar10_dir, download=download)
    if verify:
        verify_sha256sums(folder)

    def load(files: tuple[str, ...], limit: int | None) -> tuple[np.ndarray, np.ndarray]:
        xs, ys, n = [], [], 0
        for name in files:
            if limit is not None and n >= limit:
                break
            x, y = _load_batch(folder / name)
            xs.append(x)
            ys.append(y)
            n += len(y)
        x, y = np.concatenate(xs), np.concatenate(ys)
        return (x[:limit], y[:limit]) if limit is not None else (x, y)

    x_train, y_train = load(TRAIN_FILES, n_train)
    x_test, y_test = load(TEST_FILES, n_test)
    return Cifar10(x_train, y_train, x_test, y_test, folder)


#: First training image of the validation split (the last 5,000 training images): models
#: train on ``[0, VAL_START)``, every choice is made on ``[VAL_START, 50000)``.
VAL_START = 45_000


@dataclass(frozen=True)
class Splits:
    """The three roles of CIFAR-10 images in a study (uint8 NHWC images, int64 labels).

    ``calib``: the first ``n_calib`` training images (layer scales, code design);
    ``val``: ``n_val`` validation images from training image 45,000 on (every choice);
    ``test``: the first ``n_test`` test images (scored once, for what was chosen).
    """

    x_calib: np.ndarray
    y_calib: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: Path

    def images(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of ``split`` ("calib", "val" or "test")."""
        if split not in ("calib", "val", "test"):
            raise ValueError(f"split must be 'calib', 'val' or 'test', got {split!r}")
        return getattr(self, f"x_{split}"), getattr(self, f"y_{split}")

    def describe(self) -> dict[str, str]:
        """Which images each split holds (recorded in results files)."""
        return {"calib": f"train[0:{len(self.y_calib)}]",
                "val": f"train[{VAL_START}:{VAL_START + len(self.y_val)}]",
                "test": f"test[0:{len(self.y_test)}]"}


def load_splits(cifar10_dir: str | Path | None = None, *, n_calib: int, n_val: int,
                n_test: int, download: bool = True) -> Splits:
    """Calibration, validation and test images of CIFAR-10 (see :class:`Splits`)."""
    for name, n, total in (("n_calib", n_calib, VAL_START), ("n_val", n_val, 50_000 - VAL_START),
                           ("n_test", n_test, 10_000)):
        if not isinstance(n, (int, np.integer)) or not 0 <= n <= total:
            raise ValueError(f"{name}={n!r}: pass an integer between 0 and {total:,}")
    d = load_cifar10(cifar10_dir, n_train=VAL_START + n_val if n_val else max(n_calib, 1),
                     n_test=max(n_test, 1), download=download)
    val = slice(VAL_START, VAL_START + n_val)
    return Splits(d.x_train[:n_calib], d.y_train[:n_calib], d.x_train[val], d.y_train[val],
                  d.x_test[:n_test], d.y_test[:n_test], d.source)


def channel_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of NHWC images, shape ``(C,)`` each, float64.

    For the 50,000 CIFAR-10 training images on the 0-255 scale this gives the published
    means (125.307, 122.950, 113.865) and stds (62.993, 62.089, 66.705).
    """
    x = np.asarray(x)
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
    return flat.mean(axis=0), flat.std(axis=0)


def normalize(x: np.ndarray, mean: np.ndarray | list[float],
              std: np.ndarray | list[float]) -> np.ndarray:
    """``(x - mean) / std`` per channel, as float32; ``x`` is NHWC on the 0-255 scale.

    Every notebook uses this with the mean/std stored in the model card
    (``card["preprocessing"]``), so converted networks see exactly the ANN's inputs.
    """
    mean = np.asarray(mean, dtype=np.float32)
    std = np.asarray(std, dtype=np.float32)
    if np.any(std <= 0):
        raise ValueError(f"std must be positive per channel, got {std.tolist()}")
    return (np.asarray(x, dtype=np.float32) - mean) / std


def load_training_view(cifar10_dir: str | Path | None = None, *, n_train: int, n_val: int,
                       n_test: int, download: bool = True) -> Cifar10:
    """CIFAR-10 for a training run under the validation protocol: ``x_train`` holds the first
    ``n_train`` training images followed by ``n_val`` validation images (training images
    45,000 on), so a run with ``TrainConfig.n_train = n_train`` trains on the former and
    validates on the latter; ``x_test``: the first ``n_test`` test images."""
    if not 0 < n_train <= VAL_START:
        raise ValueError(f"n_train={n_train!r}: pass an integer between 1 and {VAL_START:,} "
                         "(training images after that are the validation split)")
    s = load_splits(cifar10_dir, n_calib=n_train, n_val=n_val, n_test=n_test,
                    download=download)
    return Cifar10(np.concatenate([s.x_calib, s.x_val]), np.concatenate([s.y_calib, s.y_val]),
                   s.x_test, s.y_test, s.source)
