"""Operation counts and energy estimates for ANNs and FS spiking networks.

* ANN: multiply-accumulates (MACs) of every Conv2D / DepthwiseConv2D / Dense layer (pooling
  and residual additions are not counted -- they are few and the same in both networks);
* SNN: synaptic operations = Σ over spikes of the spiking neuron's fan-out (accumulates,
  ACs), as returned by :class:`helpers.snn.network.FSNetwork` per layer; the FS neuron's own
  work, one MAC (input scaled by d(t), accumulated) and one threshold comparison per neuron
  and step; with an analog first layer its MACs are counted as MACs.

Energy per operation, 45 nm CMOS (M. Horowitz, "Computing's energy problem (and what we can
do about it)", ISSCC 2014, Fig. 1.1.9): 32-bit float multiply 3.7 pJ + add 0.9 pJ, so a MAC
costs 4.6 pJ and an AC (or comparison) 0.9 pJ; 32-bit integer multiply 3.1 pJ + add 0.1 pJ,
so an int32 MAC costs 3.2 pJ and an AC 0.1 pJ. The units are picojoules (the same numbers
read as mJ would be off by 10^9).
"""

from __future__ import annotations

import numpy as np

#: Energy per operation in picojoules (Horowitz, ISSCC 2014, 45 nm).
ENERGY_PJ: dict[str, dict[str, float]] = {
    "fp32": {"mac": 4.6, "ac": 0.9},
    "int32": {"mac": 3.2, "ac": 0.1},
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


def _check_precision(precision: str) -> str:
    if precision not in ENERGY_PJ:
        raise ValueError(f"precision must be one of {sorted(ENERGY_PJ)}, got {precision!r}")
    return precision


def energy(macs: float, acs: float, precision: str = "fp32") -> float:
    """Energy in picojoules of ``macs`` MACs and ``acs`` ACs at ``precision``."""
    e = ENERGY_PJ[_check_precision(precision)]
    return float(macs * e["mac"] + acs * e["ac"])


def energy_table(ann_layer_macs: dict[str, int], snn_synops: dict[str, float],
                 analog_macs: int = 0, precision: str = "fp32",
                 neuron_steps: dict[str, int] | None = None):
    """Per-layer energy table (pJ per image) of the ANN and the SNN, and their ratio.

    ``ann_layer_macs``: MACs per ANN layer. For the SNN, each FS layer's terms are columns:
    ``snn_acs`` -- synaptic operations (its spikes times their fan-out, one accumulate each);
    ``neuron_steps`` -- its neurons times the K steps each runs, and every neuron step costs
    one MAC (the input scaled by d(t) and accumulated, as the GeNN neuron does) and one
    threshold comparison (priced as an add, ``neuron_cmp``). ``analog_macs``: MACs the SNN
    still does on non-spiking inputs (the first layer when it receives the analog image,
    linear layers fed by another linear layer), one row. Energy::

        E_ANN = Σ MAC_l e_MAC
        E_SNN = Σ (AC_l e_AC + steps_l (e_MAC + e_AC)) + analog MACs e_MAC

    Returns a DataFrame with one row per layer (``network`` "ANN" or "SNN") and the columns
    ``ann_macs, snn_acs, snn_analog_macs, neuron_macs, neuron_cmp, energy_pj``, plus the
    SNN/ANN energy ratio.
    """
    import pandas as pd

    e = ENERGY_PJ[_check_precision(precision)]
    steps = neuron_steps or {}
    cols = ("ann_macs", "snn_acs", "snn_analog_macs", "neuron_macs", "neuron_cmp")
    rows = [{"layer": k, "network": "ANN", "ann_macs": v} for k, v in ann_layer_macs.items()]
    if analog_macs:
        rows.append({"layer": "analog MAC layers", "network": "SNN",
                     "snn_analog_macs": analog_macs})
    for k in dict.fromkeys(list(snn_synops) + list(steps)):
        rows.append({"layer": k, "network": "SNN", "snn_acs": snn_synops.get(k, 0.0),
                     "neuron_macs": steps.get(k, 0), "neuron_cmp": steps.get(k, 0)})
    df = pd.DataFrame(rows, columns=["layer", "network", *cols]).fillna(0)
    macs = df.ann_macs + df.snn_analog_macs + df.neuron_macs
    df["energy_pj"] = macs * e["mac"] + (df.snn_acs + df.neuron_cmp) * e["ac"]
    tot = df.groupby("network")["energy_pj"].sum()
    return df, float(tot.get("SNN", 0.0) / tot["ANN"])
