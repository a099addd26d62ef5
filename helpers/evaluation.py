"""One row of the CIFAR-10 / ImageNet evaluation tables: an FS conversion measured end to end
(accuracy, spikes per neuron, latency, synaptic operations and energy against the ANN)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .convert import FSNetwork, convert
from .energy import ann_macs, energy_table
from .fs_neuron import FSCode


def fs_row(model, code: FSCode | dict[str, FSCode], x_calib: np.ndarray, x: np.ndarray,
           y: np.ndarray, *, model_name: str, input_mode: str = "analog",
           scale: str = "percentile", precision: str = "fp32",
           batch_size: int = 250) -> tuple[dict[str, Any], FSNetwork]:
    """Convert ``model`` with ``code`` and evaluate it on ``(x, y)``; return (row, network).

    The row has ``model``, ``method`` ("fs"), ``code``, ``family``, ``K``, ``input_mode``,
    ``scale``, ``ann_accuracy``, ``snn_accuracy``, ``mean_spikes_per_neuron``,
    ``latency_timesteps``, ``synops_per_image``, ``energy_ratio`` (SNN/ANN), ``n_test`` and
    ``spikes_per_layer``. ``ann_accuracy`` is measured on the same images with the
    BN-folded ANN.
    """
    net = convert(model, code, x_calib, scale=scale, input_mode=input_mode)
    r = net.evaluate(x, y, batch_size)
    ann_logits = np.concatenate([net.ann(x[i:i + batch_size], training=False).numpy()
                                 for i in range(0, len(x), batch_size)])
    ann_accuracy = float(np.mean(np.argmax(ann_logits, 1) == np.asarray(y)))
    c = code if isinstance(code, FSCode) else next(iter(code.values()))
    _, ratio = energy_table(ann_macs(net.ann), r["synops_per_layer"], net.first_layer_macs,
                            precision)
    row = {"model": model_name, "method": "fs", "code": c.name,
           "family": c.meta.get("family", "fitted"), "K": c.K, "input_mode": input_mode,
           "scale": scale, "ann_accuracy": ann_accuracy, "snn_accuracy": r["accuracy"],
           "accuracy_gap_pp": 100 * (ann_accuracy - r["accuracy"]),
           "mean_spikes_per_neuron": r["mean_spikes_per_neuron"],
           "latency_timesteps": r["latency_timesteps"], "synops_per_image": r["synops_per_image"],
           "energy_ratio": ratio, "n_test": r["n"],
           "spikes_per_layer": r["spikes_per_neuron_per_layer"]}
    return row, net
