"""Samples of the inputs of every activation layer of a Keras model (its pre-activations).

These are the distributions FS codes are designed for: an FS neuron replaces the activation
and receives exactly these values.
"""

from __future__ import annotations

import numpy as np

from helpers.ann.resnet import load_card, load_model, model_paths
from helpers.data import normalize


def activation_layers(model) -> list:
    """The model's ``Activation`` / ``ReLU`` layers, in order."""
    import tensorflow as tf

    return [layer for layer in model.layers
            if isinstance(layer, (tf.keras.layers.Activation, tf.keras.layers.ReLU))]


def collect_preactivations(model, x: np.ndarray, max_per_layer: int = 200_000,
                           batch_size: int = 128, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs of each activation layer for images ``x`` (normalised, NHWC).

    Returns ``{layer_name: samples}`` with at most ``max_per_layer`` float32 values per layer,
    drawn uniformly at random (seeded) from all neurons of all images.
    """
    import tensorflow as tf

    layers = activation_layers(model)
    if not layers:
        raise ValueError(f"model {model.name!r} has no Activation/ReLU layers to sample")
    probe = tf.keras.Model(model.inputs, [layer.input for layer in layers])
    rng = np.random.default_rng(seed)
    chunks: dict[str, list[np.ndarray]] = {layer.name: [] for layer in layers}
    n_batches = max(1, int(np.ceil(len(x) / batch_size)))
    per_batch = int(np.ceil(max_per_layer / n_batches))
    for i in range(n_batches):
        outs = probe(x[i * batch_size:(i + 1) * batch_size], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for layer, o in zip(layers, outs):
            flat = np.asarray(o, dtype=np.float32).ravel()
            take = rng.choice(flat.size, size=min(per_batch, flat.size), replace=False)
            chunks[layer.name].append(flat[take])
    return {k: np.concatenate(v)[:max_per_layer] for k, v in chunks.items()}


def model_preactivations(models_dir, name: str, x_calib_u8: np.ndarray, x_val_u8: np.ndarray,
                         max_per_layer: int = 60_000, seed: int = 0) -> dict | None:
    """Calibration and validation pre-activations of a committed model, normalised with its
    card: codes are designed on the first and ranked on the second.

    Returns ``{"calib": {layer: samples}, "val": {...}, "sizes": {layer: neurons}}``, or
    ``None`` (with a printed message) when the model file is missing.
    """
    path = model_paths(models_dir, name)[0]
    if not path.is_file():
        print(f"SKIPPED {name}: {path} not found — run notebooks/01_ann_training.ipynb first")
        return None
    model, card = load_model(path), load_card(models_dir, name)
    mean, std = card["preprocessing"]["mean"], card["preprocessing"]["std"]
    calib = collect_preactivations(model, normalize(x_calib_u8, mean, std), max_per_layer,
                                   seed=seed)
    val = collect_preactivations(model, normalize(x_val_u8, mean, std), max_per_layer,
                                 seed=seed + 1)
    sizes = {layer.name: int(np.prod(layer.input.shape[1:])) for layer in model.layers
             if layer.name in calib}
    return {"calib": calib, "val": val, "sizes": sizes}
