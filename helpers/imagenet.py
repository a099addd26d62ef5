"""ImageNet validation images with the EfficientNet(-Lite) reference preprocessing.

Layouts read by :func:`load_imagenet`:

* the shipped sample: a folder with ``labels.csv`` (``file, val_index, wnid, keras_index,
  class_name``) and the images it names (``SHA256SUMS`` verified when present);
* class-per-folder: ``<root>/<wnid>/*.JPEG``;
* flat validation files with ``LOC_val_solution.csv`` (Kaggle) beside them.

Class indices follow Keras' ``imagenet_class_index.json`` order (wnids sorted). Preprocessing
(TF Lite reference): RGB, central crop of ``224 / (224 + 32)`` of the shorter side, bicubic
resize to 224x224, ``(x - 127) / 128``. Found via the ``imagenet_dir`` argument or the
``IMAGENET_DIR`` environment variable.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from helpers.data import DatasetNotFoundError, verify_sha256sums

ENV_VAR = "IMAGENET_DIR"
IMAGE_SIZE = 224
CROP_PADDING = 32


def preprocess(path: str | Path, size: int = IMAGE_SIZE, detail: float = 1.0) -> np.ndarray:
    """One image file -> ``(size, size, 3)`` float32, reference EfficientNet-Lite input.
    ``detail < 1`` first shrinks the central crop to that fraction of its pixels per side
    (bicubic), so the network sees an image upscaled by ``1 / detail`` more than usual: the
    loss of detail a network with a larger input suffers on small stored images."""
    import tensorflow as tf
    from PIL import Image

    if not 0 < detail <= 1:
        raise ValueError(f"detail={detail} must be in (0, 1]")
    img = np.asarray(Image.open(path).convert("RGB"))
    h, w = img.shape[:2]
    crop = int(size / (size + CROP_PADDING) * min(h, w))
    top, left = (h - crop + 1) // 2, (w - crop + 1) // 2
    img = img[top:top + crop, left:left + crop].astype(np.float32)[None]
    if detail < 1:
        small = max(1, round(crop * detail))
        img = tf.image.resize(img, (small, small), method="bicubic")
    img = tf.image.resize(img, (size, size), method="bicubic")[0]
    return ((img.numpy() - 127.0) / 128.0).astype(np.float32)


def upscale_factor(path: str | Path, size: int) -> float:
    """How much :func:`preprocess` enlarges the central crop of the image at ``path`` to
    reach ``size`` pixels (> 1: the network sees an upscaled image)."""
    from PIL import Image

    w, h = Image.open(path).size
    return size / int(size / (size + CROP_PADDING) * min(h, w))


def find_imagenet_dir(imagenet_dir: str | Path | None = None) -> Path:
    value = imagenet_dir or os.environ.get(ENV_VAR)
    if not value:
        raise DatasetNotFoundError(
            f"no ImageNet folder given: pass imagenet_dir=... or set {ENV_VAR} to a folder with "
            "labels.csv (the shipped sample), class-per-folder images, or validation images "
            "with LOC_val_solution.csv")
    d = Path(value).expanduser().resolve()
    if not d.is_dir():
        raise DatasetNotFoundError(f"ImageNet folder {d} does not exist (from "
                                   f"{'argument' if imagenet_dir else ENV_VAR})")
    return d


def list_images(imagenet_dir: str | Path | None = None,
                class_index: dict[str, int] | None = None) -> tuple[list[Path], np.ndarray]:
    """Image paths and Keras class indices for any supported layout."""
    d = find_imagenet_dir(imagenet_dir)
    if (d / "labels.csv").is_file():
        verify_sha256sums(d)
        with open(d / "labels.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        return [d / r["file"] for r in rows], np.array([int(r["keras_index"]) for r in rows])
    if class_index is None:
        raise ValueError("this layout names classes by wnid: pass class_index (wnid -> index), "
                         "e.g. from keras' imagenet_class_index.json")
    if (d / "LOC_val_solution.csv").is_file():
        with open(d / "LOC_val_solution.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        files = {p.stem: p for p in d.rglob("*.JPEG")}
        pairs = [(files[r["ImageId"]], class_index[r["PredictionString"].split()[0]])
                 for r in rows if r["ImageId"] in files]
        pairs.sort()
        return [p for p, _ in pairs], np.array([c for _, c in pairs])
    pairs = sorted((p, class_index[p.parent.name]) for p in d.glob("n*/*.JPEG"))
    if not pairs:
        raise DatasetNotFoundError(f"{d} has no labels.csv, LOC_val_solution.csv or "
                                   "class-per-folder (n*/...JPEG) images")
    return [p for p, _ in pairs], np.array([c for _, c in pairs])


def load_imagenet(imagenet_dir: str | Path | None = None, n: int | None = None,
                  class_index: dict[str, int] | None = None, size: int = IMAGE_SIZE,
                  detail: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Preprocessed images ``(N, size, size, 3)`` float32 (default 224: Lite0; Lite2 takes
    260) and labels ``(N,)`` (first ``n``); ``detail``: see :func:`preprocess`."""
    from tqdm.auto import tqdm

    paths, labels = list_images(imagenet_dir, class_index)
    paths, labels = paths[:n], labels[:n]
    x = np.stack([preprocess(p, size, detail)
                  for p in tqdm(paths, desc="ImageNet images", mininterval=2)])
    return x, labels


def load_class_index(path: str | Path) -> dict[str, int]:
    """``{wnid: Keras class index}`` from Keras' ``imagenet_class_index.json``
    (``{"0": ["n01440764", "tench"], ...}``)."""
    import json

    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    return {wnid: int(i) for i, (wnid, _) in raw.items()}
