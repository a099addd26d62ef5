"""Operation counts and energy estimates for ANNs and FS spiking networks.

* ANN: multiply-accumulates (MACs) of every Conv2D / DepthwiseConv2D / Dense layer (pooling
  and residual additions are not counted -- they are few and the same in both networks);
* SNN: synaptic operations = Σ over spikes of the spiking neuron's fan-out (accumulates,
  ACs), as returned by :class:`helpers.snn.network.FSNetwork` per layer; with an analog first
  layer its MACs are counted as MACs.

Energy per operation, 45 nm CMOS (M. Horowitz, "Computing's energy problem (and what we can
do about it)", ISSCC 2014, Fig. 1.1.9): 32-bit float multiply 3.7 pJ + add 0.9 pJ, so a MAC
costs 4.6 pJ and an AC 0.9 pJ; 32-bit integer multiply 3.1 pJ, add 0.1 pJ -- the "int32"
pair 3.1 / 0.1 pJ. The units are picojoules (the same numbers read as mJ would be off by
10^9).
"""

from __future__ import annotations

import numpy as np

#: Energy per operation in picojoules (Horowitz, ISSCC 2014, 45 nm).
ENERGY_PJ: dict[str, dict[str, float]] = {
    "fp32": {"mac": 4.6, "ac": 0.9},
    "int32": {"mac": 3.1, "ac": 0.1},
}


def layer_macs(layer) -> int:
    """MACs of one Keras Conv2D / DepthwiseConv2D / Dense layer for one input (0 otherwise)."""
    import tensorflow as tf

    if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        _, h, w, c = layer.output_shape
        return int(h * w * c * kh * kw)
    if isinstance(layer, tf.keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        _, h, w, cout = layer.output_shape
        cin = layer.input_shape[-1] // layer.groups
        return int(h * w * cout * kh * kw * cin)
    if isinstance(layer, tf.keras.layers.Dense):
        return int(np.prod(layer.input_shape[1:]) * layer.units)
    return 0


def ann_macs(model) -> dict[str, int]:
    """MACs per layer (layers with none are left out), in layer order."""
    return {layer.name: m for layer in model.layers if (m := layer_macs(layer)) > 0}


def energy(macs: float, acs: float, precision: str = "fp32") -> float:
    """Energy in picojoules of ``macs`` MACs and ``acs`` ACs at ``precision``."""
    if precision not in ENERGY_PJ:
        raise ValueError(f"precision must be one of {sorted(ENERGY_PJ)}, got {precision!r}")
    e = ENERGY_PJ[precision]
    return float(macs * e["mac"] + acs * e["ac"])


def energy_table(ann_layer_macs: dict[str, int], snn_synops: dict[str, float],
                 analog_macs: int = 0, precision: str = "fp32"):
    """Per-layer energy table (pJ per image) for the ANN and the SNN, and their ratio.

    ``ann_layer_macs``: MACs per ANN layer; ``snn_synops``: synaptic operations per FS layer
    (the spikes of that layer times their fan-out); ``analog_macs``: MACs the SNN still
    does on non-spiking inputs -- the first layer when it receives the analog image, and
    linear layers fed by another linear layer (e.g. EfficientNet's linear bottlenecks).
    Returns a pandas DataFrame with rows for every layer plus a ``total`` row, and the SNN/ANN
    energy ratio.
    """
    import pandas as pd

    rows = [{"layer": k, "network": "ANN", "ops": v, "op": "MAC",
             "energy_pj": energy(v, 0, precision)} for k, v in ann_layer_macs.items()]
    if analog_macs:
        rows.append({"layer": "analog MAC layers", "network": "SNN",
                     "ops": analog_macs, "op": "MAC",
                     "energy_pj": energy(analog_macs, 0, precision)})
    rows += [{"layer": k, "network": "SNN", "ops": v, "op": "AC",
              "energy_pj": energy(0, v, precision)} for k, v in snn_synops.items()]
    df = pd.DataFrame(rows)
    tot = df.groupby("network")["energy_pj"].sum()
    ratio = float(tot.get("SNN", 0.0) / tot["ANN"])
    return df, ratio
