"""Training of the CIFAR-10 ANNs: augmentation, one-cycle learning rate, fit, evaluate.

Augmentation (random 32x32 crop of the 4-pixel zero-padded image and horizontal flip) is
done in NumPy once per epoch from a seeded generator, so training is reproducible and
cheap on CPUs.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from helpers.ann.metrics import accuracy
from helpers.ann.resnet import (
    load_card,
    load_model,
    model_paths,
    resnet_cifar,
    save_card,
    save_model,
)
from helpers.ann.schedules import OneCycle
from helpers.data import normalize


def augment_batch(x: np.ndarray, rng: np.random.Generator, pad: int = 4) -> np.ndarray:
    """Random crop (after zero padding by ``pad`` pixels) and random horizontal flip.

    ``x``: ``(N, H, W, C)`` any dtype; returns an array of the same shape and dtype.
    """
    n, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    oy = rng.integers(0, 2 * pad + 1, size=n)
    ox = rng.integers(0, 2 * pad + 1, size=n)
    rows = oy[:, None] + np.arange(h)[None, :]          # (N, H)
    cols = ox[:, None] + np.arange(w)[None, :]          # (N, W)
    flip = rng.random(n) < 0.5
    cols = np.where(flip[:, None], cols[:, ::-1], cols)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


class AugmentedSequence(tf.keras.utils.Sequence):
    """Shuffled, augmented, normalised mini-batches; a new permutation every epoch."""

    def __init__(self, x_uint8: np.ndarray, y: np.ndarray, mean, std, batch_size: int,
                 seed: int, augment: bool = True):
        super().__init__()
        self.x, self.y = x_uint8, y
        self.mean, self.std = mean, std
        self.batch_size = batch_size
        self.augment = augment
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def on_epoch_end(self) -> None:
        order = self.rng.permutation(len(self.x))
        x = self.x[order]
        if self.augment:
            x = augment_batch(x, self.rng)
        self._x = normalize(x, self.mean, self.std)
        self._y = self.y[order]

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self._x[s], self._y[s]


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (all stored in the model card)."""

    name: str
    activation: str = "relu"
    depth: int = 20
    width: int = 16
    epochs: int = 30
    batch_size: int = 128
    max_lr: float = 0.1
    momentum: float = 0.9
    l2: float = 2.5e-4
    seed: int = 1234
    batchnorm: bool = True       # False: no BN and no biases (mlGeNN FewSpike-compatible)
    extra: dict[str, Any] = field(default_factory=dict)


def train_or_load(cfg: TrainConfig, data, mean, std, models_dir: str | Path,
                  reuse: bool = True) -> tuple[tf.keras.Model, dict[str, Any]]:
    """Train ``cfg`` on ``data`` (a :class:`helpers.data.Cifar10`) or re-use a saved model.

    With ``reuse`` and both ``<name>.keras`` and ``<name>.json`` present in ``models_dir``,
    the saved model and card are returned untouched. Otherwise the model is trained with
    SGD + Nesterov momentum and the :class:`OneCycle` schedule, evaluated on the full test
    arrays in ``data``, and saved with its card (test accuracy, history, timing).
    """
    model_file, card_file = model_paths(models_dir, cfg.name)
    if reuse and model_file.is_file() and card_file.is_file():
        card = load_card(models_dir, cfg.name)
        if card.get("epochs") != cfg.epochs:
            warnings.warn(f"re-using {model_file} trained for {card.get('epochs')} epochs "
                          f"although {cfg.epochs} were asked for; pass reuse=False "
                          "(or FORCE=1 make run) to retrain", stacklevel=2)
        return load_model(model_file), card
    model, history, seconds = _fit(cfg, data, mean, std)
    x_test = normalize(data.x_test, mean, std)
    card = _card(cfg, model, accuracy(model, x_test, data.y_test), data, mean, std, history,
                 seconds)
    save_model(model, model_file)
    save_card(card, models_dir)
    return model, card


def _fit(cfg: TrainConfig, data, mean, std) -> tuple[tf.keras.Model, dict, float]:
    """Build and train the model of ``cfg``; return it, its Keras history and the seconds."""
    from tqdm.keras import TqdmCallback

    tf.keras.utils.set_random_seed(cfg.seed)
    model = resnet_cifar(cfg.depth, cfg.activation, cfg.width, l2=cfg.l2, name=cfg.name,
                         batchnorm=cfg.batchnorm)
    train = AugmentedSequence(data.x_train, data.y_train, mean, std, cfg.batch_size, cfg.seed)
    x_test = normalize(data.x_test, mean, std)
    steps = len(train) * cfg.epochs
    opt = tf.keras.optimizers.SGD(OneCycle(steps, cfg.max_lr), momentum=cfg.momentum,
                                  nesterov=True)
    model.compile(opt, tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    t0 = time.perf_counter()
    hist = model.fit(train, epochs=cfg.epochs, validation_data=(x_test, data.y_test),
                     validation_batch_size=500, verbose=0, shuffle=False,
                     callbacks=[TqdmCallback(verbose=0, desc=cfg.name)])
    return model, hist.history, time.perf_counter() - t0


def _card(cfg: TrainConfig, model, acc: float, data, mean, std, history: dict,
          seconds: float) -> dict[str, Any]:
    """The model card of a finished run (every hyperparameter, accuracy, history, timing)."""
    return {
        "name": cfg.name,
        "activation": cfg.activation,
        "architecture": (f"ResNet-{cfg.depth} (width {cfg.width}), "
                         + ("BN" if cfg.batchnorm else "no BN, no biases")
                         + ", stride-2 convs, GAP"),
        "batchnorm": cfg.batchnorm,
        "test_accuracy": acc,
        "n_test": int(len(data.y_test)),
        "n_train": int(len(data.y_train)),
        "epochs": cfg.epochs,
        "params": int(model.count_params()),
        "preprocessing": {"mean": [float(m) for m in mean], "std": [float(s) for s in std],
                          "scale": "0-255", "layout": "NHWC RGB"},
        "train_seconds": round(seconds, 1),
        "seed": cfg.seed,
        "hyperparameters": {"batch_size": cfg.batch_size, "max_lr": cfg.max_lr,
                            "momentum": cfg.momentum, "l2": cfg.l2,
                            "schedule": "one-cycle (15% warm-up, cosine)",
                            "augmentation": "pad-4 random crop + horizontal flip", **cfg.extra},
        "history": {k: [float(v) for v in vals] for k, vals in history.items()},
        "tensorflow": tf.__version__,
    }
