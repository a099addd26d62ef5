"""Conversion of a Keras classifier into a network of Few-Spikes (FS) neurons.

:func:`convert` takes a Keras model, an FS code per activation and calibration images, and
returns an :class:`FSNetwork`:

* BatchNormalization is folded into the preceding Conv2D / DepthwiseConv2D / Dense; biases
  are kept (they become constant input currents);
* every activation (ReLU, SiLU/swish, sigmoid, ReLU6) becomes a layer of FS neurons. ReLU-like
  codes are rescaled per layer to the layer's input scale α_l, the maximum or a percentile
  of its positive calibration pre-activations (``scale="max"`` / ``"percentile"``); SiLU and
  sigmoid codes are used in the units they were fitted in;
* the image either enters the first layer as analog current (``input_mode="analog"``, as
  Stöckl & Maass did) or is itself FS-encoded by signed input neurons
  (``input_mode="fs"``, as mlGeNN does: a positive and a negative neuron per pixel);
* everything between FS layers (convolutions, pooling, flatten, residual adds) is synaptic.

``FSNetwork.model`` is a Keras model whose activations are FS layers -- the exact mathematical
equivalent of the SNN, evaluated at close to ANN speed -- that also returns the spikes and
synaptic operations per layer. :mod:`helpers.snn.simulate` runs the same network event by event.

The steps live in their own modules: :mod:`helpers.snn.graph` (reading the Keras graph,
folding BatchNorm, refusing unsupported layers), :mod:`helpers.snn.network` (the FS layers and
the models built from the graph), :mod:`helpers.snn.accounting` (fan-outs and analog MACs) and
:mod:`helpers.snn.export` (the BN-folded Keras model for GeNN / mlGeNN).

Supported layers: InputLayer, Conv2D, DepthwiseConv2D, Dense, BatchNormalization (folded),
Activation / ReLU (relu, swish/silu, sigmoid, relu6, linear), AveragePooling2D,
GlobalAveragePooling2D, Flatten, Reshape, Add, ZeroPadding2D, Dropout (ignored), Rescaling /
Normalization on the image (analog first layer only), a softmax on the output layer (dropped)
and, with ``analog_products=True``, Multiply (squeeze-excite, kept analog: the network is then
not purely spiking). Anything else raises :class:`UnsupportedLayerError` naming the layer, its
type and what to do instead.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from helpers.fs.codes import binary
from helpers.fs.neuron import FSCode
from helpers.fs.offset import OffsetCode
from helpers.snn.accounting import (
    analog_macs,
    analog_product_count,
    fanouts,
    insert_identity_neurons,
)
from helpers.snn.graph import (
    GraphNode,
    UnsupportedLayerError,
    folded_weights,
    model_graph,
)
from helpers.snn.network import (
    FSActivation,
    FSLayerInfo,
    FSNetwork,
    build_model,
    layer_stages,
)

#: Activations whose codes are rescaled to each layer's input scale α_l (positively
#: homogeneous: FS_s(s x) = s FS(x)); the others are used in the units they were fitted in.
SCALED_ACTIVATIONS = ("relu", "relu6", "identity")


def code_input_scale(code: FSCode) -> float:
    """Input value that the code treats as 1 (its design scale): ``meta['input_scale']`` or
    the top of its ``x_range``."""
    if "input_scale" in code.meta:
        return float(code.meta["input_scale"])
    if code.x_range is None:
        raise ValueError(f"code {code.name!r} has neither meta['input_scale'] nor x_range; "
                         "cannot scale it to a layer. Fix: give it an x_range or "
                         "code.with_meta(input_scale=<the input it treats as 1>)")
    return float(code.x_range[1])


def _check_options(scale: str, input_mode: str) -> None:
    if scale not in ("max", "percentile"):
        raise ValueError(f"scale must be 'max' or 'percentile', got {scale!r}")
    if input_mode not in ("analog", "fs"):
        raise ValueError(f"input_mode must be 'analog' or 'fs', got {input_mode!r}")


def _check_preprocessing(nodes: list[GraphNode], input_mode: str) -> None:
    pre_layers = [n.name for n in nodes if n.kind == "pre"]
    if pre_layers and input_mode == "fs":
        raise UnsupportedLayerError(
            f"preprocessing layers {pre_layers} inside the model cannot follow FS-encoded input; "
            "use input_mode='analog' or apply the preprocessing to the images beforehand")


def _check_codes(fs_nodes: list[GraphNode], codes: dict[str, FSCode]) -> None:
    for n in fs_nodes:
        if n.act not in codes:
            raise ValueError(f"no FS code given for activation {n.act!r} (layer {n.name!r}); "
                             f"pass codes={{'{n.act}': ...}}")


def _check_layer_codes(fs_nodes: list[GraphNode], layer_codes: dict[str, FSCode] | None) -> None:
    """Every FS layer has a per-layer code of its activation, and no code names another layer."""
    if layer_codes is None:
        return
    names = {n.name: n.act for n in fs_nodes}
    missing = sorted(set(names) - set(layer_codes))
    extra = sorted(set(layer_codes) - set(names))
    wrong = sorted(k for k, c in layer_codes.items() if k in names and c.activation != names[k])
    if missing or extra or wrong:
        raise ValueError(f"layer_codes do not fit the model: no code for {missing}, codes for "
                         f"unknown layers {extra}, wrong activation for {wrong}. Fix: pass the "
                         "codes saved with this fine-tuned model (its card's 'layer_codes')")


def _statistic(values: np.ndarray, scale: str, percentile: float) -> float:
    """The maximum (``scale="max"``) or the ``percentile`` of ``values``."""
    return float(values.max() if scale == "max" else np.percentile(values, percentile))


def _check_calibration(x_calib: np.ndarray) -> None:
    """Refuse an empty calibration set or one with NaN/inf values (they would make every
    layer scale α_l NaN or meaningless without an error)."""
    if len(x_calib) == 0:
        raise ValueError("x_calib (the calibration images) holds 0 images; the layer scales "
                         "α_l are taken from them. Fix: pass at least one image, normalised "
                         "like the model's input (e.g. the first training images)")
    bad = int(np.size(x_calib) - np.count_nonzero(np.isfinite(x_calib)))
    if bad:
        raise ValueError(f"x_calib (the calibration images) holds {bad} NaN or inf values; "
                         "the layer scales α_l would be NaN. Fix: check the images and their "
                         "normalisation (a channel with std 0 divides by zero)")


def _calibration_values(ann: tf.keras.Model, pre: dict[str, tf.Tensor],
                        fs_nodes: list[GraphNode], x_calib: np.ndarray,
                        batch_size: int) -> dict[str, np.ndarray]:
    """The calibration pre-activations each rescaled FS layer's α_l is taken from, computed
    by the exact ANN: positive values (|x| for identity neurons), flattened; empty if none."""
    probe = tf.keras.Model(ann.inputs, list(pre.values()))
    parts: dict[str, list[np.ndarray]] = {n.name: [] for n in fs_nodes
                                          if n.act in SCALED_ACTIVATIONS}
    for i in range(0, len(x_calib), batch_size):
        outs = probe(x_calib[i:i + batch_size], training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for n, o in zip(fs_nodes, outs):
            if n.name not in parts:
                continue
            o = np.asarray(o)
            parts[n.name].append(np.abs(o).ravel() if n.act == "identity" else o[o > 0])
    return {name: np.concatenate(p) for name, p in parts.items()}


def _input_encoder(codes: dict[str, FSCode], input_code: FSCode | None, x_calib: np.ndarray,
                   scale: str, percentile: float, fanout: np.ndarray
                   ) -> tuple[FSActivation, FSLayerInfo]:
    """Signed FS neurons encoding the image: ``input_code``, or binary with the K of the ReLU
    (or ReLU6) code and α = the chosen statistic of |x_calib|."""
    relu_like = next((c for a, c in codes.items() if a in ("relu", "relu6")), None)
    if input_code is None and relu_like is None:
        raise ValueError(f"input_mode='fs' with codes for {sorted(codes)} only: the input "
                         "neurons take the K of a ReLU/ReLU6 code, and there is none. Fix: "
                         "pass input_code=<FSCode of the signed input neurons>, e.g. "
                         "helpers.fs.codes.binary(K, 1.0)")
    K_in = input_code.K if input_code else relu_like.K
    a_in = _statistic(np.abs(x_calib), scale, percentile)
    if input_code is None and not a_in > 0:
        raise ValueError(f"input_mode='fs': the {scale} of |x_calib| is {a_in:g}, so the "
                         "input neurons' scale is undefined. Fix: calibrate with images that "
                         "are not all zero, normalised like the model's input")
    code_in = input_code or binary(K_in, a_in, name=f"input_binary_K{K_in}")
    layer = FSActivation(code_in, signed=True, fanout=fanout, name="fs_input")
    info = FSLayerInfo("input", "signed", code_in, a_in, 2 * int(np.prod(x_calib.shape[1:])),
                       0, True)
    return layer, info


def _fs_layer(n: GraphNode, code: FSCode, values: np.ndarray | None, scale: str,
              percentile: float, fanout: np.ndarray, shape: tuple, stage: int,
              layer_code: FSCode | None = None) -> tuple[FSActivation, FSLayerInfo]:
    """The FS neurons of node ``n`` (pre-activation ``shape`` per image): a rescaled code
    ``code.scaled(α_l / code_input_scale(code))`` with α_l the chosen statistic of the
    calibration ``values`` (ReLU6: at most 6), or ``code`` as fitted; ``layer_code`` (a
    fine-tuned layer's code, already in the layer's units, with ``meta['layer_scale_value']``
    = its α_l) replaces both."""
    a = 1.0
    if layer_code is not None:
        code, a = layer_code, float(layer_code.meta.get("layer_scale_value", 1.0))
    elif n.act in SCALED_ACTIVATIONS:
        a = _statistic(values, scale, percentile) if values.size else 0.0
        if not a > 0:
            raise ValueError(
                f"layer {n.name!r} ({n.act}): its scale α_l ({scale} of the calibration "
                f"pre-activations) is {a:g}: no calibration image gives it enough "
                f"{'non-zero' if n.act == 'identity' else 'positive'} input. Fix: calibrate "
                "with more or other images (x_calib), or check the model: the layer is dead "
                "(it does not fire on these images)")
        if n.act == "relu6":       # the code's range must not exceed ReLU6's ceiling
            a = min(a, 6.0)
        code = code.scaled(a / code_input_scale(code))
    code = code.renamed(f"{code.name}@{n.name}")
    signed = n.act == "identity" or isinstance(code, OffsetCode)
    layer = FSActivation(code, signed=signed, fanout=fanout, name=f"fs_{n.name}")
    info = FSLayerInfo(n.name, n.act, code, a, (2 if signed else 1) * int(np.prod(shape)),
                       stage, signed)
    return layer, info


def convert(model: tf.keras.Model, codes: dict[str, FSCode] | FSCode, x_calib: np.ndarray, *,
            scale: str = "percentile", percentile: float = 99.9, input_mode: str = "analog",
            input_code: FSCode | None = None, bottleneck_code: FSCode | None = None,
            analog_products: bool = False, batch_size: int = 250,
            layer_codes: dict[str, FSCode] | None = None) -> FSNetwork:
    """Convert ``model`` to an FS network (see the module docstring).

    ``codes``: one code, or a code per activation kind ("relu", "silu", "sigmoid", "relu6").
    ReLU-like codes are scaled to each layer: ``code.scaled(α_l / code_input_scale(code))``.
    ``x_calib``: normalised calibration images for α_l and for the input encoder's range (at
    least one, all finite; every rescaled layer must have a positive pre-activation on them).
    ``input_code``: the code of the FS-encoded input (``input_mode="fs"``); default: binary
    with the K of the ReLU/ReLU6 code (required when there is none) and α = the chosen
    statistic of |x_calib|.
    ``bottleneck_code``: if given, every linear layer fed by another linear layer (a linear
    bottleneck, e.g. EfficientNet's project convolution + residual sum) receives its input
    through *signed identity* FS neurons with this ReLU-type code (two neurons per value, for
    x and -x, scaled to the chosen statistic of |x|), so the network is spiking throughout;
    otherwise those layers see analog values and are counted as MACs.
    ``analog_products``: keep ``Multiply`` layers (squeeze-excite) as analog products of their
    inputs -- the network is then *not* purely spiking: ``FSNetwork.analog_products`` counts
    them, they are charged as MACs, and the layers after them receive analog values (MACs).
    ``layer_codes``: a code per FS layer name, used as given (a fine-tuned network's codes,
    :func:`helpers.snn.finetune.finetuned_export`); every FS layer must have one, and their
    activations must match the layers'.
    """
    _check_options(scale, input_mode)
    _check_calibration(x_calib)
    nodes, _, outs = model_graph(model, analog_products)
    _check_preprocessing(nodes, input_mode)
    if isinstance(codes, FSCode):
        codes = {codes.activation: codes}
    if bottleneck_code is not None:
        nodes = insert_identity_neurons(nodes, input_mode)
        codes = {**codes, "identity": bottleneck_code}
    fs_nodes = [n for n in nodes if n.is_fs]
    _check_codes(fs_nodes, codes)
    _check_layer_codes(fs_nodes, layer_codes)
    folded = folded_weights(nodes)
    ann, pre = build_model(nodes, outs[0], folded, "ann")
    values = _calibration_values(ann, pre, fs_nodes, x_calib, batch_size)
    stage = layer_stages(nodes, input_mode)
    fan = fanouts(nodes, outs[0], folded)
    infos, input_fs = [], None
    if input_mode == "fs":
        input_fs, info = _input_encoder(codes, input_code, x_calib, scale, percentile,
                                        fan["__input__"])
        infos.append(info)
    fs_layers = {}
    for n in fs_nodes:
        fs_layers[n.name], info = _fs_layer(n, codes[n.act], values.get(n.name), scale,
                                            percentile, fan[n.name], pre[n.name].shape[1:],
                                            stage[n.name], (layer_codes or {}).get(n.name))
        infos.append(info)
    fs_model, _ = build_model(nodes, outs[0], folded, "fs", fs_layers, input_fs)
    products = analog_product_count(nodes)
    return FSNetwork(fs_model, ann, infos, input_mode, nodes, folded,
                     analog_macs(nodes, input_mode) + products, products, codes, scale)
