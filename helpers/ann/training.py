"""Training of the CIFAR-10 ANNs: augmentation, one-cycle learning rate, fit, evaluate.

Augmentation (random 32x32 crop of the 4-pixel zero-padded image and horizontal flip) is
done in NumPy once per epoch from a generator seeded by ``(seed, epoch)``, so training is
reproducible, cheap on CPUs, and a run resumed from an epoch checkpoint sees the same
batches as an uninterrupted one.

Validation protocol: with ``TrainConfig.n_train`` set (45,000 by convention), the model
trains on the first ``n_train`` training images and is validated every epoch on the rest;
the test set is scored once, at the end, for the card.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
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
from helpers.data import arrays_sha256, channel_stats, normalize
from helpers.paths import BUILD_DIR
from helpers.results import read_json, sha256_file, write_json


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
    """Shuffled, augmented, normalised mini-batches of one epoch: the permutation and the
    augmentation are drawn from ``default_rng([seed, epoch])``."""

    def __init__(self, x_uint8: np.ndarray, y: np.ndarray, mean, std, batch_size: int,
                 seed: int, augment: bool = True, epoch: int = 0):
        super().__init__()
        self.x, self.y = x_uint8, y
        self.mean, self.std = mean, std
        self.batch_size = batch_size
        self.augment = augment
        self.seed = seed
        self.set_epoch(epoch)

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Draw the batches of ``epoch`` (0-based)."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.x))
        x = self.x[order]
        if self.augment:
            x = augment_batch(x, rng)
        self._x = normalize(x, self.mean, self.std)
        self._y = self.y[order]

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self._x[s], self._y[s]


#: ``build(cfg, total_steps, models_dir)`` -> the compiled model a run trains.
Builder = Callable[["TrainConfig", int, Any], tf.keras.Model]
#: ``export(trained model)`` -> ``(model to save, extra model-card fields)``.
Exporter = Callable[[tf.keras.Model], tuple[tf.keras.Model, dict[str, Any]]]


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
    n_train: int | None = None   # first n_train training images; the rest validate (None: all)
    init_from: str | None = None  # name of a model in the same folder to start from
    extra: dict[str, Any] = field(default_factory=dict)


def train_or_load(cfg: TrainConfig, data, mean=None, std=None, models_dir: str | Path = ".",
                  reuse: bool = True, checkpoint_dir: str | Path | None = None,
                  progress: bool = True, build: Builder | None = None,
                  export: Exporter | None = None) -> tuple[tf.keras.Model, dict[str, Any]]:
    """Train ``cfg`` on ``data`` (a :class:`helpers.data.Cifar10`) or re-use a saved model.

    With ``reuse``, a saved ``<name>.keras`` + ``<name>.json`` is returned when its card
    records exactly ``cfg`` (:func:`card_mismatch`); otherwise one line says what differs and
    the model is trained: SGD + Nesterov momentum, :class:`OneCycle` schedule, one epoch
    checkpoint per epoch in ``checkpoint_dir`` (default ``build/checkpoints/<name>``) from
    which an interrupted run resumes. The card holds the validation accuracy per epoch, the
    test accuracy (scored once, at the end), the data fingerprint and the timing.
    ``mean``/``std``: the normalisation (per channel, 0-255 scale); None: the parent's
    (``cfg.init_from``) or the channel statistics of the training images used.
    ``build(cfg, steps, models_dir)``: the compiled model to train (default: the ResNet of
    ``cfg``); ``export(model)``: ``(model to save, extra card fields)`` (default: the model
    itself) -- how FS-aware fine-tuning (:mod:`helpers.studies.finetune`) uses this loop.
    """
    model_file = model_paths(models_dir, cfg.name)[0]
    card = reusable_card(cfg, models_dir, reuse)
    if card is not None:
        return load_model(model_file), card
    if mean is None or std is None:
        mean, std = _normalisation(cfg, data, models_dir)
    ckpt = Path(checkpoint_dir) if checkpoint_dir else BUILD_DIR / "checkpoints" / cfg.name
    model, history, seconds = _fit(cfg, data, mean, std, models_dir, ckpt, progress,
                                   build or _build)
    x_test = normalize(data.x_test, mean, std)
    acc = accuracy(model, x_test, data.y_test)
    model, extra = export(model) if export else (model, {})
    card = {**_card(cfg, model, acc, data, mean, std, history, seconds, models_dir), **extra}
    save_model(model, model_file)
    save_card(card, models_dir)
    return model, card


def from_parent_config(activation: str, epochs: int, max_lr: float, seed: int,
                       parent: str = "resnet20_relu", n_train: int = 45_000,
                       parent_n_train: int | None = None) -> TrainConfig:
    """A ResNet-20 with ``activation`` that starts from ``parent``'s weights and trains on
    the first ``n_train`` images (validation: the rest), named
    ``resnet20_<activation>_from_<parent without "resnet20_">`` (``..._from_relu``,
    ``..._from_relu_45k``). ``parent_n_train``: how many training images the parent saw
    (None: all 50,000); the card's recipe says whether the parent saw the validation images."""
    if parent_n_train is not None and parent_n_train <= n_train:
        seen = f"trained on the first {parent_n_train:,} training images only: the validation " \
               "images are unseen"
    else:
        seen = "trained on all 50,000 training images, so its validation images were seen by " \
               "the parent"
    return TrainConfig(name=f"resnet20_{activation}_from_{parent.removeprefix('resnet20_')}",
                       activation=activation, epochs=epochs, max_lr=max_lr, seed=seed,
                       n_train=n_train, init_from=parent,
                       extra={"recipe": f"fine-tuned from {parent} ({seen})"})


def reusable_card(cfg: TrainConfig, models_dir: str | Path, reuse: bool = True
                  ) -> dict[str, Any] | None:
    """The saved card of ``cfg`` when ``reuse`` and it records exactly ``cfg`` (no data and no
    model needed: what lets the main job run offline); else None, with one printed line."""
    model_file, card_file = model_paths(models_dir, cfg.name)
    if not reuse or not (model_file.is_file() and card_file.is_file()):
        print(f"training {cfg.name}: " + ("reuse=False" if not reuse else
                                           f"no saved model in {models_dir}"))
        return None
    card = load_card(models_dir, cfg.name)
    why = card_mismatch(card, cfg)
    if why:
        print(f"retraining {cfg.name}: {why}")
        return None
    return card


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Every field of ``cfg`` (what a card must match for its model to be re-used)."""
    return asdict(cfg)


def card_mismatch(card: dict[str, Any], cfg: TrainConfig) -> str | None:
    """None when ``card`` was trained with exactly ``cfg``, else one line naming what differs.

    Cards written before configs were recorded are compared field by field with what they
    hold (epochs, seed, batch size, learning rate, momentum, L2, BN, training images)."""
    want = config_dict(cfg)
    have = card.get("config")
    if have is None:
        hp = card.get("hyperparameters", {})
        have = {**want, "name": card.get("name"), "activation": card.get("activation"),
                "epochs": card.get("epochs"), "seed": card.get("seed"),
                "batch_size": hp.get("batch_size"), "max_lr": hp.get("max_lr"),
                "momentum": hp.get("momentum"), "l2": hp.get("l2"),
                "batchnorm": card.get("batchnorm", True),
                "n_train": None if card.get("n_train") == 50_000 else card.get("n_train")}
    diff = [f"{k}: card {have.get(k)!r} -> asked {v!r}" for k, v in want.items()
            if have.get(k) != v]
    return "; ".join(diff) if diff else None


def _normalisation(cfg: TrainConfig, data, models_dir) -> tuple[list[float], list[float]]:
    """Per-channel mean and std: the parent model's (fine-tuning keeps its inputs), else those
    of the training images the run uses."""
    if cfg.init_from:
        pp = load_card(models_dir, cfg.init_from)["preprocessing"]
        return pp["mean"], pp["std"]
    mean, std = channel_stats(data.x_train[:cfg.n_train])
    return mean.tolist(), std.tolist()


def _split(cfg: TrainConfig, data, mean, std):
    """Training images (uint8) and labels, and the normalised validation set (or None)."""
    if cfg.n_train is None:
        return data.x_train, data.y_train, None
    n = len(data.y_train)
    if not 0 < cfg.n_train < n:
        raise ValueError(f"n_train={cfg.n_train} must leave validation images: 0 < n_train "
                         f"< {n} (the convention is 45,000 of CIFAR-10's 50,000)")
    val = (normalize(data.x_train[cfg.n_train:], mean, std), data.y_train[cfg.n_train:])
    return data.x_train[:cfg.n_train], data.y_train[:cfg.n_train], val


def _build(cfg: TrainConfig, steps: int, models_dir) -> tf.keras.Model:
    """The compiled model of ``cfg`` (weights copied from ``cfg.init_from`` if given)."""
    tf.keras.utils.set_random_seed(cfg.seed)
    model = resnet_cifar(cfg.depth, cfg.activation, cfg.width, l2=cfg.l2, name=cfg.name,
                         batchnorm=cfg.batchnorm)
    if cfg.init_from:
        model.set_weights(load_model(model_paths(models_dir, cfg.init_from)[0]).get_weights())
    return compile_sgd(model, cfg, steps)


def compile_sgd(model: tf.keras.Model, cfg: TrainConfig, steps: int) -> tf.keras.Model:
    """Compile ``model`` for ``steps`` SGD steps: Nesterov momentum ``cfg.momentum``,
    :class:`OneCycle` to ``cfg.max_lr``, cross-entropy on logits, accuracy."""
    opt = tf.keras.optimizers.SGD(OneCycle(steps, cfg.max_lr), momentum=cfg.momentum,
                                  nesterov=True)
    model.compile(opt, tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def _fit(cfg: TrainConfig, data, mean, std, models_dir, ckpt_dir: Path,
         progress: bool, build: Builder) -> tuple[tf.keras.Model, dict, float]:
    """Train epoch by epoch with a checkpoint after each; resume from the last one.
    Returns the model, the per-epoch history and the training seconds (all sessions)."""
    from tqdm.auto import tqdm

    x, y, val = _split(cfg, data, mean, std)
    train = AugmentedSequence(x, y, mean, std, cfg.batch_size, cfg.seed)
    model = build(cfg, len(train) * cfg.epochs, models_dir)
    ckpt = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    state = _resume(ckpt, ckpt_dir, cfg)
    bar = tqdm(range(state["epoch"], cfg.epochs), desc=cfg.name, disable=not progress,
               initial=state["epoch"], total=cfg.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        train.set_epoch(epoch)
        h = model.fit(train, epochs=epoch + 1, initial_epoch=epoch, validation_data=val,
                      validation_batch_size=500, verbose=0, shuffle=False).history
        state["seconds"] += time.perf_counter() - t0
        for k, v in h.items():
            state["history"].setdefault(k, []).append(float(v[-1]))
        state["epoch"] = epoch + 1
        ckpt.write(str(ckpt_dir / "ckpt"))
        write_json(ckpt_dir / "state.json", state)
        bar.set_postfix({k: f"{v[-1]:.3f}" for k, v in state["history"].items()})
    return model, state["history"], state["seconds"]


def _resume(ckpt: tf.train.Checkpoint, ckpt_dir: Path, cfg: TrainConfig) -> dict[str, Any]:
    """Restore the last epoch checkpoint of the same config, if any; return the run state
    (``epoch`` done, ``history``, ``seconds``). A checkpoint of another config is ignored."""
    state_file = ckpt_dir / "state.json"
    fresh = {"config": config_dict(cfg), "epoch": 0, "history": {}, "seconds": 0.0}
    if not state_file.is_file():
        return fresh
    state = read_json(state_file)
    if state.get("config") != fresh["config"]:
        print(f"ignoring the checkpoint in {ckpt_dir}: it was written for another config")
        return fresh
    ckpt.optimizer.build(ckpt.model.trainable_variables)   # slots exist before restoring
    ckpt.read(str(ckpt_dir / "ckpt")).assert_existing_objects_matched()
    print(f"resuming {cfg.name} after epoch {state['epoch']} from {ckpt_dir}")
    return state


def _card(cfg: TrainConfig, model, acc: float, data, mean, std, history: dict,
          seconds: float, models_dir) -> dict[str, Any]:
    """The model card of a finished run (every hyperparameter, accuracy, history, timing)."""
    n_train = cfg.n_train or len(data.y_train)
    parent = None
    if cfg.init_from:
        pfile = model_paths(models_dir, cfg.init_from)[0]
        parent = {"name": cfg.init_from, "sha256": sha256_file(pfile)}
    return {
        "name": cfg.name,
        "activation": cfg.activation,
        "architecture": (f"ResNet-{cfg.depth} (width {cfg.width}), "
                         + ("BN" if cfg.batchnorm else "no BN, no biases")
                         + ", stride-2 convs, GAP"),
        "batchnorm": cfg.batchnorm,
        "test_accuracy": acc,
        "val_accuracy": history["val_accuracy"][-1] if "val_accuracy" in history else None,
        "n_test": int(len(data.y_test)),
        "n_train": int(n_train),
        "n_val": int(len(data.y_train) - n_train),
        "epochs": cfg.epochs,
        "params": int(model.count_params()),
        "preprocessing": {"mean": [float(m) for m in mean], "std": [float(s) for s in std],
                          "scale": "0-255", "layout": "NHWC RGB"},
        "train_seconds": round(seconds, 1),
        "seed": cfg.seed,
        "init_from": parent,
        "config": config_dict(cfg),
        "data_sha256": {"train": arrays_sha256(data.x_train[:n_train], data.y_train[:n_train]),
                        "test": arrays_sha256(data.x_test, data.y_test)},
        "hyperparameters": {"batch_size": cfg.batch_size, "max_lr": cfg.max_lr,
                            "momentum": cfg.momentum, "l2": cfg.l2,
                            "schedule": "one-cycle (15% warm-up, cosine)",
                            "augmentation": "pad-4 random crop + horizontal flip, "
                                            "drawn per (seed, epoch)", **cfg.extra},
        "history": history,
        "tensorflow": tf.__version__,
    }
