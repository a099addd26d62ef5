"""Notebook 07's studies: EfficientNet-Lite0 on the ImageNet sample as a spiking network, and
the optional Keras EfficientNetB0 path with analog squeeze-excite products."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from helpers.ann.metrics import topk_hits
from helpers.fs import codes as code_families
from helpers.fs.neuron import FSCode
from helpers.snn.convert import convert
from helpers.studies.rows import fs_row, snn_energy, verified


def imagenet_study(model, x: np.ndarray, y: np.ndarray, codes_dir, *, n_calib: int, K_list,
                   fs_input_K: int, designed_codes, n_sim: int, batch_size: int,
                   seed: int = 0) -> dict[str, Any]:
    """Notebook 07's computation: the ANN check on all images, then FS conversions (spiking
    bottlenecks; plus FS-encoded input and analog bottlenecks for ``binary_K<fs_input_K>``)
    calibrated on the first ``n_calib`` images and evaluated on the rest; every fully spiking
    row (spiking bottlenecks) is also simulated event by event on the first ``n_sim``
    evaluation images (:func:`helpers.studies.rows.verified`)."""
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    top5_hit = topk_hits(logits, y, 5)
    ann = {"top1": float(np.mean(logits.argmax(1) == y)), "top5": float(np.mean(top5_hit)),
           "n_images": int(len(y))}
    print(f"ANN (port check) on all {len(y)} images: top-1 {ann['top1']:.2%}, top-5 "
          f"{ann['top5']:.2%} — reference on the 1,300-image sample: 83.08 % / 95.54 %")
    x_cal, x_ev, y_ev = x[:n_calib], x[n_calib:], y[n_calib:]
    ann_top1 = float(np.mean(logits[n_calib:].argmax(1) == y_ev))
    ann_top5 = float(np.mean(top5_hit[n_calib:]))
    saved = {c.name: c for c in code_families.saved_codes_for("relu", codes_dir)}
    missing = [n for n in designed_codes if n not in saved]
    if missing:
        print(f"SKIPPED designed codes {missing}: not in {codes_dir} (run notebook 03)")
    cands = ([code_families.binary(K, 1.0) for K in K_list]
             + [saved[n] for n in designed_codes if n in saved])
    rows = []
    for code in cands:
        variants = [("analog", code)]
        if code.name == f"binary_K{fs_input_K}":      # FS-encoded input; analog bottlenecks
            variants += [("fs", code), ("analog", None)]
        for mode, bottleneck in variants:
            row, net = fs_row(model, {"relu6": code}, x_cal, x_ev, y_ev,
                              model_name="efficientnet_lite0", input_mode=mode,
                              batch_size=batch_size, bottleneck_code=bottleneck,
                              ann_accuracy=ann_top1, split="eval")
            row.update(n_images=int(len(y_ev)), ann_top1=ann_top1, ann_top5=ann_top5,
                       snn_top1=row["snn_accuracy"])
            rows.append(row)
            print(f"{code.name:>28} {mode:>6} {row['bottlenecks']:>8} bottlenecks: top-1 "
                  f"{row['snn_accuracy']:.2%} (ANN {ann_top1:.2%}), "
                  f"{row['mean_spikes_per_neuron']:.3f} spikes/neuron, "
                  f"latency {row['latency_timesteps']}")
            if n_sim and bottleneck:        # fully spiking: checked event by event
                row.update(verified(net, x_ev[:n_sim], y_ev[:n_sim]))
            net.release()
    return {"n_calib": n_calib, "n_eval": int(len(y_ev)), "ann": ann, "seed": seed,
            "caveat": "shipped 1,300-image sample: easier than the full validation set",
            "rows": rows}


def keras_b0_study(weights, x: np.ndarray, y: np.ndarray, codes: dict[str, FSCode], *,
                   n_calib: int, batch_size: int = 16):
    """Notebook 07's optional path: Keras EfficientNetB0 (SiLU, sigmoid squeeze-excite gates)
    with FS codes for both, **squeeze-excite products analog** (not purely spiking).
    ``x``: images in the Lite0 preprocessing ``(x - 127) / 128``, mapped back to Keras' 0-255
    scale; the first ``n_calib`` calibrate, the rest are evaluated. ``weights``: a Keras weights
    file, or None (random weights: a structural check only). Returns ``(rows, keras_model,
    fs_network)``."""
    x255 = x * 128.0 + 127.0
    model, net = keras_b0_spiking(weights, codes, x255[:n_calib], input_shape=x.shape[1:])
    x_ev, y_ev = x255[n_calib:], np.asarray(y[n_calib:])
    probs = model.predict(x_ev, batch_size=batch_size, verbose=0)
    r = net.evaluate(x_ev, y_ev, batch_size)
    _, ratio = snn_energy(net, r["synops_per_layer"], "fp32")
    top5 = topk_hits(probs, y_ev, 5)
    ann_top1 = float(np.mean(probs.argmax(1) == y_ev))
    row = {"model": "efficientnet_b0_keras", "weights": str(weights) if weights else "random",
           "code": "+".join(c.name for c in codes.values()),
           "K": max(c.K for c in codes.values()), "n_images": int(len(y_ev)),
           "squeeze_excite": "analog products", "analog_products_per_image": net.analog_products,
           "ann_top1": ann_top1, "ann_top5": float(np.mean(top5)), "snn_top1": r["accuracy"],
           "snn_top5": r["top5"], "accuracy_gap_pp": 100 * (ann_top1 - r["accuracy"]),
           "mean_spikes_per_neuron": r["mean_spikes_per_neuron"],
           "latency_timesteps": r["latency_timesteps"], "energy_ratio": ratio}
    return [row], model, net


def keras_b0_spiking(weights: str | Path | None, codes: dict, x_calib: np.ndarray,
                     input_shape: tuple[int, int, int] = (224, 224, 3), **convert_kwargs):
    """Optional path: Keras ``EfficientNetB0`` (SiLU everywhere, sigmoid gates in the
    squeeze-excite blocks) as an FS network whose **squeeze-excite products stay analog**
    (``FSNetwork.analog_products`` counts them; it is therefore not purely spiking, unlike
    EfficientNet-Lite0). ``weights``: a Keras weights file the user downloaded (``None``:
    random weights, for structural checks). ``codes``: ``{"silu": ..., "sigmoid": ...}``
    (e.g. the fitted codes of notebook 02). ``x_calib``: images on Keras' 0-255 RGB scale (the
    model rescales and normalises internally). Returns ``(keras_model, fs_network)``.
    """
    model = tf.keras.applications.EfficientNetB0(weights=None, input_shape=input_shape)
    if weights is not None:
        model.load_weights(str(weights))
    return model, convert(model, codes, x_calib, analog_products=True, **convert_kwargs)
