"""Conversion-friendly Keras CIFAR-10 classifiers and their model cards.

The networks use only layers an FS converter can map to spiking neurons and synapses:
Conv2D, BatchNormalization (folded at conversion), one activation per hidden layer
(ReLU, SiLU/swish or sigmoid), residual ``Add``, GlobalAveragePooling2D and Dense.
No max pooling: down-sampling is done by stride-2 convolutions.

Inputs are normalised images ``(N, 32, 32, 3)`` float32 (see :func:`helpers.data.normalize`);
the output is ``(N, 10)`` logits (no softmax layer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tensorflow as tf

from helpers.results import atomic_output, read_json, write_json

#: Hidden activations we train networks with (Keras names; "swish" is SiLU).
ACTIVATIONS: dict[str, str] = {"relu": "relu", "silu": "swish", "sigmoid": "sigmoid"}


def _conv_bn(x: tf.Tensor, filters: int, kernel: int, stride: int, name: str,
             l2: float, batchnorm: bool = True, zero_init: bool = False) -> tf.Tensor:
    """Conv2D (+ BatchNormalization). Without BN the convolution has no bias either."""
    reg = tf.keras.regularizers.l2(l2) if l2 > 0 else None
    init = "zeros" if zero_init else "he_normal"
    x = tf.keras.layers.Conv2D(filters, kernel, strides=stride, padding="same",
                               use_bias=batchnorm, kernel_initializer=init,
                               kernel_regularizer=reg, name=f"{name}_conv")(x)
    return tf.keras.layers.BatchNormalization(name=f"{name}_bn")(x) if batchnorm else x


def resnet_cifar(depth: int = 20, activation: str = "relu", width: int = 16,
                 num_classes: int = 10, l2: float = 2.5e-4,
                 name: str | None = None, batchnorm: bool = True) -> tf.keras.Model:
    """ResNet-``depth`` for 32x32 inputs (He et al. 2016, CIFAR variant, 3 stages).

    ``depth = 6n + 2``; stage widths ``width, 2*width, 4*width``. Shortcuts are identity
    or, when the shape changes, a strided 1x1 convolution + BN (option B). ``activation``
    is one of :data:`ACTIVATIONS` ("relu", "silu", "sigmoid"). ``l2`` is the L2 penalty on
    kernels (2.5e-4 * sum(w^2), i.e. weight decay 5e-4 in SGD terms).
    ResNet-20 at width 16 has 0.27 M parameters and ~41 M multiply-accumulates per image.

    ``batchnorm=False`` gives the variant mlGeNN's own FewSpike converter accepts: no
    BatchNormalization and no biases anywhere (the dense read-out included). The last
    convolution of every residual branch then starts at zero (Fixup-style, Zhang et al. 2019),
    so that the un-normalised network trains without exploding activations.
    """
    if (depth - 2) % 6 != 0:
        raise ValueError(f"depth must be 6n+2 (20, 32, 44, ...), got {depth}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    act = ACTIVATIONS[activation]
    n = (depth - 2) // 6
    inputs = tf.keras.Input(shape=(32, 32, 3), name="image")
    bn = batchnorm
    x = _conv_bn(inputs, width, 3, 1, "stem", l2, bn)
    x = tf.keras.layers.Activation(act, name="stem_act")(x)
    filters = width
    for stage in range(3):
        for block in range(n):
            stride = 2 if (stage > 0 and block == 0) else 1
            out_filters = width * (2 ** stage)
            prefix = f"s{stage + 1}b{block + 1}"
            y = _conv_bn(x, out_filters, 3, stride, f"{prefix}_a", l2, bn)
            y = tf.keras.layers.Activation(act, name=f"{prefix}_a_act")(y)
            y = _conv_bn(y, out_filters, 3, 1, f"{prefix}_b", l2, bn, zero_init=not bn)
            if stride != 1 or out_filters != filters:
                shortcut = _conv_bn(x, out_filters, 1, stride, f"{prefix}_short", l2, bn)
            else:
                shortcut = x
            x = tf.keras.layers.Add(name=f"{prefix}_add")([y, shortcut])
            x = tf.keras.layers.Activation(act, name=f"{prefix}_out_act")(x)
            filters = out_filters
    x = tf.keras.layers.GlobalAveragePooling2D(name="gap")(x)
    reg = tf.keras.regularizers.l2(l2) if l2 > 0 else None
    outputs = tf.keras.layers.Dense(num_classes, use_bias=bn, kernel_regularizer=reg,
                                    name="logits")(x)
    return tf.keras.Model(inputs, outputs, name=name or f"resnet{depth}_{activation}")


def save_model(model: tf.keras.Model, path: str | Path) -> Path:
    """Save a Keras model to ``path`` (``.keras`` format) atomically: a failed save leaves
    the previous file intact (:func:`helpers.results.atomic_output`)."""
    path = Path(path)
    with atomic_output(path) as tmp:
        model.save(tmp)
    return path


def load_model(path: str | Path) -> tf.keras.Model:
    """Load a model saved by :func:`save_model` (uncompiled: for inference/conversion)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"model file {path} does not exist; run notebooks/01_ann_training.ipynb "
            "(or `git checkout data/models`) to create it")
    from helpers.ann import schedules  # noqa: F401  registers OneCycle for deserialising

    return tf.keras.models.load_model(path, compile=False)


REQUIRED_CARD_KEYS = ("name", "activation", "test_accuracy", "epochs", "params",
                      "preprocessing", "train_seconds", "seed")


def model_paths(models_dir: str | Path, name: str) -> tuple[Path, Path]:
    """``(model_file, card_file)`` for model ``name`` in ``models_dir``."""
    models_dir = Path(models_dir)
    return models_dir / f"{name}.keras", models_dir / f"{name}.json"


def save_card(card: dict[str, Any], models_dir: str | Path) -> Path:
    """Validate and write a model card to ``models_dir/<name>.json`` atomically."""
    missing = [k for k in REQUIRED_CARD_KEYS if k not in card]
    if missing:
        raise ValueError(f"model card is missing keys {missing}")
    return write_json(model_paths(models_dir, card["name"])[1], card)


def load_card(models_dir: str | Path, name: str) -> dict[str, Any]:
    """Read ``models_dir/<name>.json``."""
    return read_json(model_paths(models_dir, name)[1])
