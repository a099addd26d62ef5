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

Supported layers: InputLayer, Conv2D, DepthwiseConv2D, Dense, BatchNormalization (folded),
Activation / ReLU (relu, swish/silu, sigmoid, relu6, linear), AveragePooling2D,
GlobalAveragePooling2D, Flatten, Reshape, Add, ZeroPadding2D, Dropout (ignored), Rescaling /
Normalization on the image (analog first layer only), a softmax on the output layer (dropped)
and, with ``analog_products=True``, Multiply (squeeze-excite, kept analog: the network is then
not purely spiking). Anything else raises :class:`UnsupportedLayerError` naming the layer, its
type and what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorflow as tf

from helpers.fs.codes import binary
from helpers.fs.neuron import FSCode, fs_tf_forward

LINEAR = (tf.keras.layers.Conv2D, tf.keras.layers.DepthwiseConv2D, tf.keras.layers.Dense)
PASS_THROUGH = (tf.keras.layers.AveragePooling2D, tf.keras.layers.GlobalAveragePooling2D,
                tf.keras.layers.Flatten, tf.keras.layers.Add, tf.keras.layers.ZeroPadding2D,
                tf.keras.layers.Reshape)
#: Elementwise preprocessing of the image inside the model (computed before the first layer).
PREPROCESSING = (tf.keras.layers.Rescaling, tf.keras.layers.Normalization)
ACTIVATION_NAMES = {"relu": "relu", "swish": "silu", "silu": "silu", "sigmoid": "sigmoid",
                    "relu6": "relu6", "linear": None}
ADVICE = {
    "MaxPooling2D": "replace it with AveragePooling2D (or a stride-2 convolution) and retrain: "
                    "a max over spike trains is not a synaptic operation",
    "GlobalMaxPooling2D": "replace it with GlobalAveragePooling2D and retrain",
    "Concatenate": "FS conversion supports residual Add but not Concatenate; use Add or "
                   "convert the branches separately",
    "LeakyReLU": "use ReLU, SiLU or sigmoid (FS codes exist for these) and retrain",
    "PReLU": "use ReLU, SiLU or sigmoid and retrain",
    "ELU": "use ReLU, SiLU or sigmoid and retrain, or fit an FS code to ELU with "
           "helpers.fs.fitting.fit_code and extend ACTIVATION_NAMES",
    "Multiply": "products of activations are not synaptic; remove them (e.g. squeeze-excite) "
                "or pass analog_products=True to keep them as analog multiplications",
    "LayerNormalization": "only BatchNormalization directly after a Conv2D/Dense can be folded",
}


class UnsupportedLayerError(ValueError):
    """A layer the FS converter cannot map onto neurons and synapses."""


def _unsupported(layer, why: str, fix: str) -> UnsupportedLayerError:
    return UnsupportedLayerError(
        f"layer {layer.name!r} of type {type(layer).__name__} cannot be converted to FS "
        f"neurons: {why}. Fix: {fix}.")


def activation_kind(layer) -> str | None:
    """'relu' / 'silu' / 'sigmoid' / 'relu6' for an activation layer, None for linear."""
    if isinstance(layer, tf.keras.layers.ReLU):
        cfg = layer.get_config()
        if cfg.get("negative_slope", 0) or cfg.get("threshold", 0):
            raise _unsupported(layer, "leaky or thresholded ReLU", "use a plain ReLU")
        mv = cfg.get("max_value")
        if mv is None:
            return "relu"
        if float(mv) == 6.0:
            return "relu6"
        raise _unsupported(layer, f"ReLU(max_value={mv})", "use ReLU or ReLU6")
    fn = tf.keras.activations.serialize(layer.activation)
    fn = fn if isinstance(fn, str) else fn.get("config", fn.get("class_name", str(fn)))
    if fn not in ACTIVATION_NAMES:
        raise _unsupported(layer, f"activation {fn!r} has no FS code",
                           "use relu, swish/silu or sigmoid, or fit a code to it and add it "
                           "to helpers.snn.convert.ACTIVATION_NAMES")
    return ACTIVATION_NAMES[fn]


# -- graph --------------------------------------------------------------------------------
@dataclass
class _Node:
    name: str
    layer: Any
    inputs: list[str]
    kind: str                      # input | linear | bn | act | pass | drop
    act: str | None = None         # for act nodes (and linear nodes with a fused activation)


def _as_functional(model: tf.keras.Model) -> tf.keras.Model:
    if isinstance(model, tf.keras.Sequential):
        inp = tf.keras.Input(model.input_shape[1:], name="image")
        x = inp
        for layer in model.layers:
            x = layer(x)
        return tf.keras.Model(inp, x, name=model.name)
    return model


def model_graph(model: tf.keras.Model, analog_products: bool = False
                ) -> tuple[list[_Node], list[str], list[str]]:
    """Nodes in topological order, input names and output names; refuses unsupported layers.

    ``analog_products``: accept ``Multiply`` (squeeze-excite) as an analog product node. A
    softmax on the output layer is dropped (it does not change the predicted class)."""
    model = _as_functional(model)
    cfg = model.get_config()
    out_names = {t[0] for t in cfg["output_layers"]}
    nodes: list[_Node] = []
    for lc in cfg["layers"]:
        layer = model.get_layer(lc["name"])
        inbound = lc.get("inbound_nodes") or []
        if len(inbound) > 1:
            raise _unsupported(layer, "the layer is shared (called more than once)",
                               "use a separate layer object for each call")
        ins = [t[0] for t in inbound[0]] if inbound else []
        if isinstance(layer, tf.keras.layers.InputLayer):
            nodes.append(_Node(layer.name, layer, ins, "input"))
        elif isinstance(layer, LINEAR):
            softmax_out = (layer.name in out_names
                           and getattr(layer, "activation", None) is tf.keras.activations.softmax)
            act = None if softmax_out else activation_kind(layer)
            nodes.append(_Node(layer.name, layer, ins, "linear", act))
        elif isinstance(layer, tf.keras.layers.BatchNormalization):
            nodes.append(_Node(layer.name, layer, ins, "bn"))
        elif isinstance(layer, (tf.keras.layers.Activation, tf.keras.layers.ReLU)):
            nodes.append(_Node(layer.name, layer, ins, "act", activation_kind(layer)))
        elif isinstance(layer, PASS_THROUGH):
            nodes.append(_Node(layer.name, layer, ins, "pass"))
        elif isinstance(layer, tf.keras.layers.Dropout):
            nodes.append(_Node(layer.name, layer, ins, "drop"))
        elif isinstance(layer, PREPROCESSING):
            nodes.append(_Node(layer.name, layer, ins, "pre"))
        elif analog_products and isinstance(layer, tf.keras.layers.Multiply):
            nodes.append(_Node(layer.name, layer, ins, "mul"))
        else:
            kind = type(layer).__name__
            raise _unsupported(layer, "no FS equivalent is implemented for this layer type",
                               ADVICE.get(kind, "replace it by a supported layer (Conv2D, "
                                          "DepthwiseConv2D, Dense, BatchNormalization, "
                                          "AveragePooling2D, GlobalAveragePooling2D, Flatten, "
                                          "Add, Dropout, ReLU/SiLU/sigmoid) and retrain"))
    consumers: dict[str, list[str]] = {n.name: [] for n in nodes}
    for n in nodes:
        for i in n.inputs:
            consumers[i].append(n.name)
    by_name = {n.name: n for n in nodes}
    for n in nodes:
        if n.kind == "bn":
            src = by_name[n.inputs[0]]
            if src.kind != "linear" or src.act is not None or len(consumers[src.name]) != 1:
                raise _unsupported(
                    n.layer, f"it follows {type(src.layer).__name__} {src.name!r}, which is "
                    "not a Conv2D/DepthwiseConv2D/Dense without activation used only by this BN",
                    "place BatchNormalization directly after a convolution or dense layer, "
                    "before the activation")
            if n.layer.axis not in ([-1], [len(n.layer.input_shape) - 1], -1):
                raise _unsupported(n.layer, f"BN over axis {n.layer.axis}", "use channels-last")
    ins = [t[0] for t in cfg["input_layers"]]
    outs = [t[0] for t in cfg["output_layers"]]
    if len(ins) != 1 or len(outs) != 1:
        raise UnsupportedLayerError(f"model {model.name!r} has {len(ins)} inputs and "
                                    f"{len(outs)} outputs; FS conversion needs exactly one each")
    return nodes, ins, outs


def fold_batchnorm(kernel: np.ndarray, bias: np.ndarray | None, bn, depthwise: bool = False
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Kernel and bias of ``linear -> BN`` as one linear layer (inference statistics).

    ``kernel``: Conv2D ``(kh, kw, cin, cout)``, Dense ``(in, out)`` or DepthwiseConv2D
    ``(kh, kw, cin, mult)``; BN is over the output channels.
    """
    gamma = bn.gamma.numpy() if bn.scale else 1.0
    beta = bn.beta.numpy() if bn.center else 0.0
    s = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    s = np.broadcast_to(s, bn.moving_mean.shape).astype(np.float64)
    b = np.zeros(bn.moving_mean.shape) if bias is None else bias.astype(np.float64)
    if depthwise:
        cin, mult = kernel.shape[2], kernel.shape[3]
        k = kernel * s.reshape(cin, mult)[None, None]
    else:
        k = kernel * s
    new_b = (b - bn.moving_mean.numpy()) * s + beta
    return k.astype(np.float32), new_b.astype(np.float32)


# -- FS layers ---------------------------------------------------------------------------------
class FSActivation(tf.keras.layers.Layer):
    """A layer of FS neurons with one code; returns ``[output, spikes, synops]``.

    ``spikes`` and ``synops`` are per image ``(N,)``: total spikes of the layer, and total
    synaptic events they cause (spikes weighted by each neuron's fan-out, if given).
    ``signed``: two neurons per input (for x and -x), as for FS-encoded signed images.
    """

    def __init__(self, code: FSCode, signed: bool = False, fanout: np.ndarray | None = None,
                 **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.code = code
        self.signed = signed
        self.h, self.T, self.d = (tf.constant(a.astype(np.float32)) for a in (code.h, code.T, code.d))
        self.fanout = None if fanout is None else tf.constant(fanout.astype(np.float32))

    def call(self, x):
        out, z = fs_tf_forward(x, self.h, self.T, self.d)
        if self.signed:
            out_n, z_n = fs_tf_forward(-x, self.h, self.T, self.d)
            out, z = out - out_n, z + z_n
        axes = list(range(1, len(x.shape)))
        spikes = tf.reduce_sum(z, axis=axes)
        synops = tf.reduce_sum(z * self.fanout, axis=axes) if self.fanout is not None else spikes * 0
        return [out, spikes, synops]


@dataclass
class FSLayerInfo:
    """One layer of FS neurons in a converted network."""

    name: str
    activation: str
    code: FSCode             # the code as used (already scaled to the layer)
    scale: float             # α_l applied to a ReLU-like code (1.0 otherwise)
    n_neurons: int           # neurons per image (x2 for signed neurons)
    stage: int               # pipeline stage: the layer fires during steps [stage*K, (stage+1)*K)
    signed: bool = False     # two neurons per value (x and -x): FS-encoded input, bottlenecks


@dataclass
class FSNetwork:
    """A converted network. ``model(x) -> [logits, spikes_1..L, synops_1..L]`` per image."""

    model: tf.keras.Model
    ann: tf.keras.Model                 # the BN-folded ANN (exact activations)
    layers: list[FSLayerInfo]
    input_mode: str
    graph: list[_Node] = field(repr=False, default_factory=list)
    folded: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False, default_factory=dict)
    analog_macs: int = 0          # MACs on non-spiking inputs (see helpers.snn.energy)
    analog_products: int = 0      # analog multiplications per image (squeeze-excite products)
    _call: Any = field(default=None, repr=False)

    @property
    def K(self) -> int:
        return max(info.code.K for info in self.layers)

    @property
    def latency_timesteps(self) -> int:
        """Steps until the read-out has all its input: (last stage + 1) * K."""
        return (max(info.stage for info in self.layers) + 1) * self.K

    def _forward(self, x):
        return self.model(x, training=False)

    def run(self, x: np.ndarray, batch_size: int = 250) -> dict[str, np.ndarray]:
        """Logits ``(N, classes)``, spikes ``(N, L)`` and synaptic ops ``(N, L)`` for images x."""
        L = len(self.layers)
        if self._call is None:   # graph mode: the FS layers' XLA kernels + oneDNN convolutions
            self._call = tf.function(self._forward, reduce_retracing=True)
        logits, spikes, synops = [], [], []
        for i in range(0, len(x), batch_size):
            outs = self._call(tf.convert_to_tensor(x[i:i + batch_size]))
            logits.append(outs[0].numpy())
            spikes.append(np.stack([o.numpy() for o in outs[1:1 + L]], axis=1))
            synops.append(np.stack([o.numpy() for o in outs[1 + L:]], axis=1))
        return {"logits": np.concatenate(logits), "spikes": np.concatenate(spikes),
                "synops": np.concatenate(synops)}

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int = 250) -> dict[str, Any]:
        """Top-1 and top-5 accuracy, mean spikes per neuron (network and per layer), synaptic
        operations per image and layer, latency."""
        r = self.run(x, batch_size)
        n = np.array([info.n_neurons for info in self.layers], dtype=np.float64)
        per_layer = r["spikes"].mean(axis=0) / n
        top5 = np.argsort(-r["logits"], 1)[:, :5]
        return {"accuracy": float(np.mean(np.argmax(r["logits"], 1) == np.asarray(y))),
                "top5": float(np.mean((top5 == np.asarray(y)[:, None]).any(1))),
                "mean_spikes_per_neuron": float(r["spikes"].sum(1).mean() / n.sum()),
                "spikes_per_neuron_per_layer": dict(zip([i.name for i in self.layers],
                                                        per_layer.tolist())),
                "synops_per_image": float(r["synops"].sum(1).mean()),
                "synops_per_layer": dict(zip([i.name for i in self.layers],
                                             r["synops"].mean(0).tolist())),
                "latency_timesteps": self.latency_timesteps, "n": int(len(y))}


# -- building ----------------------------------------------------------------------------------
def _linear_clone(node: _Node, kernel: np.ndarray, bias: np.ndarray, ones: bool = False,
                  zero_bias: bool = False):
    cfg = node.layer.get_config()
    cfg.update(activation="linear", use_bias=True, name=cfg["name"])
    for k in ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
              "depthwise_regularizer"):
        cfg.pop(k, None)
    layer = type(node.layer).from_config(cfg)
    layer.build(node.layer.input_shape)
    k = np.ones_like(kernel) if ones else kernel
    b = np.zeros_like(bias) if (ones or zero_bias) else bias
    layer.set_weights([k, b])
    return layer


def _folded_weights(nodes: list[_Node]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    consumers = {n.name: [m for m in nodes if n.name in m.inputs] for n in nodes}
    out = {}
    for n in nodes:
        if n.kind != "linear":
            continue
        w = n.layer.get_weights()
        kernel, bias = w[0], (w[1] if len(w) > 1 else np.zeros(n.layer.output_shape[-1], np.float32))
        nxt = consumers[n.name]
        if len(nxt) == 1 and nxt[0].kind == "bn":
            kernel, bias = fold_batchnorm(kernel, bias, nxt[0].layer,
                                          isinstance(n.layer, tf.keras.layers.DepthwiseConv2D))
        out[n.name] = (kernel.astype(np.float32), bias.astype(np.float32))
    return out


def _build(nodes, ins, outs, folded, mode: str, fs_layers: dict[str, FSActivation] | None = None,
           input_fs: FSActivation | None = None):
    """Rebuild the network.

    mode "ann": folded weights, exact activations; "fs": activations replaced by
    ``fs_layers``; "split"/"linear"/"structural": activations cut -- their outputs become
    extra model inputs and their inputs extra outputs (linear: biases zero; structural: ones
    kernels, zero biases, sum pools).
    Returns ``(model, activation_input_tensors_by_name)``.
    """
    tensors: dict[str, tf.Tensor] = {}
    pre: dict[str, tf.Tensor] = {}
    extra_inputs: list[tf.Tensor] = []
    stats: list[tf.Tensor] = []
    sinks: list[tf.Tensor] = []
    ones = mode == "structural"
    image = None
    for n in nodes:
        if n.kind == "input":
            image = tf.keras.Input(n.layer.get_config()["batch_input_shape"][1:], name=n.name)
            x = image
            if mode == "fs" and input_fs is not None:
                x, s, o = input_fs(x)
                stats.append((s, o))
            tensors[n.name] = x
            continue
        xs = [tensors[i] for i in n.inputs]
        x = xs[0]
        if n.kind == "linear":
            k, b = folded[n.name]
            y = _linear_clone(n, k, b, ones, zero_bias=mode == "linear")(x)
            if ones:   # structural graph: count the synapses a spike reaches here, stop there
                sinks.append(tf.reduce_sum(y, axis=list(range(1, len(y.shape)))))
                y = tf.zeros_like(y)
            if n.act is not None:   # fused activation: treat as a separate activation node
                y = _activation(n, y, mode, fs_layers, pre, extra_inputs, stats)
            tensors[n.name] = y
        elif n.kind in ("bn", "drop"):
            tensors[n.name] = x
        elif n.kind == "pre":       # the layer itself (keeps its weights); identity for the
            # structural graph and for spike increments (the image never enters those)
            tensors[n.name] = x if ones or mode == "linear" else n.layer(x)
        elif n.kind == "mul":       # analog product (squeeze-excite)
            tensors[n.name] = tf.keras.layers.Multiply()(xs)
        elif n.kind == "act":
            tensors[n.name] = x if n.act is None else _activation(
                n, x, mode, fs_layers, pre, extra_inputs, stats)
        elif isinstance(n.layer, tf.keras.layers.Add):
            tensors[n.name] = tf.keras.layers.Add()(xs)
        elif ones and isinstance(n.layer, tf.keras.layers.AveragePooling2D):
            ph, pw = n.layer.pool_size
            y = type(n.layer).from_config(n.layer.get_config() | {"name": None})(x)
            tensors[n.name] = y * float(ph * pw)
        elif ones and isinstance(n.layer, tf.keras.layers.GlobalAveragePooling2D):
            tensors[n.name] = tf.reduce_sum(x, axis=[1, 2], keepdims=n.layer.keepdims)
        else:
            cfg = n.layer.get_config()
            cfg.pop("name", None)
            tensors[n.name] = type(n.layer).from_config(cfg)(x)
    logits = tensors[outs[0]]
    if mode == "ann":
        return tf.keras.Model(image, logits), pre
    if mode == "fs":
        spikes = [s for s, _ in stats]
        synops = [o for _, o in stats]
        return tf.keras.Model(image, [logits] + spikes + synops), pre
    return tf.keras.Model([image] + extra_inputs, list(pre.values()) + [logits] + sinks), pre


def _activation(n, x, mode, fs_layers, pre, extra_inputs, stats):
    pre[n.name] = x
    if mode == "ann":
        return {"relu": tf.nn.relu, "silu": tf.nn.silu, "sigmoid": tf.nn.sigmoid,
                "relu6": tf.nn.relu6, "identity": tf.identity}[n.act](x)
    if mode == "fs":
        out, s, o = fs_layers[n.name](x)
        stats.append((s, o))
        return out
    inp = tf.keras.Input(x.shape[1:], name=f"{n.name}_spikes")
    extra_inputs.append(inp)
    return inp


def _act_nodes(nodes) -> list[_Node]:
    return [n for n in nodes if n.act is not None and n.kind in ("act", "linear")]


def _stages(nodes, input_mode: str) -> dict[str, int]:
    """Pipeline stage of each FS layer: 1 + the latest stage among the FS layers feeding it."""
    stage: dict[str, int] = {}
    base = 1 if input_mode == "fs" else 0
    for n in nodes:
        if n.kind == "input":
            stage[n.name] = 0 if input_mode == "fs" else -1
            continue
        src = max((stage[i] for i in n.inputs), default=-1)
        if n.act is not None and n.kind in ("act", "linear"):
            stage[n.name] = max(src + 1, base)
        else:
            stage[n.name] = src
    return stage


def code_input_scale(code: FSCode) -> float:
    """Input value that the code treats as 1 (its design scale): ``meta['input_scale']`` or
    the top of its ``x_range``."""
    if "input_scale" in code.meta:
        return float(code.meta["input_scale"])
    if code.x_range is None:
        raise ValueError(f"code {code.name!r} has neither meta['input_scale'] nor x_range; "
                         "cannot scale it to a layer")
    return float(code.x_range[1])


def convert(model: tf.keras.Model, codes: dict[str, FSCode] | FSCode, x_calib: np.ndarray, *,
            scale: str = "percentile", percentile: float = 99.9, input_mode: str = "analog",
            input_code: FSCode | None = None, bottleneck_code: FSCode | None = None,
            analog_products: bool = False, batch_size: int = 250) -> FSNetwork:
    """Convert ``model`` to an FS network (see the module docstring).

    ``codes``: one code, or a code per activation kind ("relu", "silu", "sigmoid", "relu6").
    ReLU-like codes are scaled to each layer: ``code.scaled(α_l / code_input_scale(code))``.
    ``x_calib``: normalised calibration images for α_l and for the input encoder's range.
    ``input_code``: the code of the FS-encoded input (``input_mode="fs"``); default: binary
    with the K of the ReLU code and α = the chosen statistic of |x_calib|.
    ``bottleneck_code``: if given, every linear layer fed by another linear layer (a linear
    bottleneck, e.g. EfficientNet's project convolution + residual sum) receives its input
    through *signed identity* FS neurons with this ReLU-type code (two neurons per value, for
    x and -x, scaled to the chosen statistic of |x|), so the network is spiking throughout;
    otherwise those layers see analog values and are counted as MACs.
    ``analog_products``: keep ``Multiply`` layers (squeeze-excite) as analog products of their
    inputs -- the network is then *not* purely spiking: ``FSNetwork.analog_products`` counts
    them, they are charged as MACs, and the layers after them receive analog values (MACs).
    """
    if scale not in ("max", "percentile"):
        raise ValueError(f"scale must be 'max' or 'percentile', got {scale!r}")
    if input_mode not in ("analog", "fs"):
        raise ValueError(f"input_mode must be 'analog' or 'fs', got {input_mode!r}")
    nodes, ins, outs = model_graph(model, analog_products)
    pre_layers = [n.name for n in nodes if n.kind == "pre"]
    if pre_layers and input_mode == "fs":
        raise UnsupportedLayerError(
            f"preprocessing layers {pre_layers} inside the model cannot follow FS-encoded input; "
            "use input_mode='analog' or apply the preprocessing to the images beforehand")
    if isinstance(codes, FSCode):
        codes = {codes.activation: codes}
    if bottleneck_code is not None:
        nodes = _insert_identity_neurons(nodes, input_mode)
        codes = {**codes, "identity": bottleneck_code}
    acts = _act_nodes(nodes)
    for n in acts:
        if n.act not in codes:
            raise ValueError(f"no FS code given for activation {n.act!r} (layer {n.name!r}); "
                             f"pass codes={{'{n.act}': ...}}")
    folded = _folded_weights(nodes)
    ann, pre_t = _build(nodes, ins, outs, folded, "ann")

    # calibration: pre-activations of every activation layer, computed by the exact ANN
    probe = tf.keras.Model(ann.inputs, list(pre_t.values()))
    stat = {n.name: [] for n in acts}
    for i in range(0, len(x_calib), batch_size):
        outs_ = probe(x_calib[i:i + batch_size], training=False)
        outs_ = outs_ if isinstance(outs_, (list, tuple)) else [outs_]
        for n, o in zip(acts, outs_):
            o = np.asarray(o)
            pos = np.abs(o).ravel() if n.act == "identity" else o[o > 0]
            stat[n.name].append(pos if pos.size else np.zeros(1, np.float32))
    stage = _stages(nodes, input_mode)
    fanouts = _fanouts(nodes, ins, outs, folded)
    fs_layers, infos = {}, []
    input_fs = None
    if input_mode == "fs":
        relu_like = next((c for a, c in codes.items() if a in ("relu", "relu6")), None)
        K_in = input_code.K if input_code else (relu_like.K if relu_like else 8)
        absx = np.abs(x_calib)
        a_in = float(absx.max() if scale == "max" else np.percentile(absx, percentile))
        code_in = input_code or binary(K_in, a_in, name=f"input_binary_K{K_in}")
        input_fs = FSActivation(code_in, signed=True, fanout=fanouts["__input__"],
                                name="fs_input")
        infos.append(FSLayerInfo("input", "signed", code_in, a_in,
                                 2 * int(np.prod(x_calib.shape[1:])), 0, True))
    for n in acts:
        c = codes[n.act]
        a = 1.0
        if n.act in ("relu", "relu6", "identity"):
            pos = np.concatenate(stat[n.name])
            a = float(pos.max() if scale == "max" else np.percentile(pos, percentile))
            a = a if a > 0 else 1.0
            if n.act == "relu6":       # the code's range must not exceed ReLU6's ceiling
                a = min(a, 6.0)
            c = c.scaled(a / code_input_scale(c))
        c = c.renamed(f"{c.name}@{n.name}")
        signed = n.act == "identity"
        fs_layers[n.name] = FSActivation(c, signed=signed, fanout=fanouts[n.name],
                                         name=f"fs_{n.name}")
        shape = pre_t[n.name].shape[1:]
        infos.append(FSLayerInfo(n.name, n.act, c, a, (2 if signed else 1) * int(np.prod(shape)),
                                 stage[n.name], signed))
    fs_model, _ = _build(nodes, ins, outs, folded, "fs", fs_layers, input_fs)
    products = sum(int(np.prod(n.layer.output_shape[1:])) for n in nodes if n.kind == "mul")
    return FSNetwork(fs_model, ann, infos, input_mode, nodes, folded,
                     _analog_macs(nodes, input_mode) + products, products)


def _fanouts(nodes, ins, outs, folded) -> dict[str, np.ndarray]:
    """Per-neuron fan-out (synapses per spike) of every FS layer and of the input image.

    Computed as the gradient of the summed outputs of the structural synaptic graph (kernels
    of ones, sum pooling, every conv/dense layer a sink that passes nothing on): the number
    of synapses from a neuron into the first linear layers its spikes reach (through pooling,
    flatten and adds), plus direct identity connections into FS layers. Linear layers fed
    by another linear layer receive no spikes; they are counted as analog MACs instead.
    """
    model, pre = _build(nodes, ins, outs, folded, "structural")
    shapes = [t.shape[1:] for t in model.inputs]
    xs = [tf.ones((2,) + tuple(s)) for s in shapes]   # batch 1 crashes oneDNN here
    # only input gradients: asking for kernel gradients here crashes oneDNN's backprop-filter
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(xs)
        total = tf.add_n([tf.reduce_sum(o) for o in model(xs)])
    grads = tape.gradient(total, xs)
    names = ["__input__"] + list(pre)
    return {n: (g.numpy()[0] if g is not None else np.zeros(s)) for n, g, s in
            zip(names, grads, shapes)}


def _analog_mac_layers(nodes, input_mode: str) -> set[str]:
    """Conv/Dense layers whose input is not (only) spikes: fed by the analog image or by
    another linear layer (through pooling/adds). The SNN computes these as MACs."""
    spiking: dict[str, bool] = {}
    analog = set()
    for n in nodes:
        if n.kind == "input":
            spiking[n.name] = input_mode == "fs"
            continue
        src = all(spiking[i] for i in n.inputs)
        if n.kind == "linear":
            if not src:
                analog.add(n.name)
            spiking[n.name] = n.act is not None        # a fused activation makes it spike
        elif n.kind == "act":
            spiking[n.name] = n.act is not None or src
        elif n.kind == "mul":
            spiking[n.name] = False
        else:
            spiking[n.name] = src
    return analog


def _insert_identity_neurons(nodes, input_mode: str) -> list[_Node]:
    """A copy of ``nodes`` with an ``identity`` activation node in front of every linear layer
    fed by another linear layer (not by the image: that one is the analog first layer)."""
    analog = _analog_mac_layers(nodes, input_mode)
    images = {n.name for n in nodes if n.kind == "input"}
    out = []
    for n in nodes:
        if n.name in analog and not (set(n.inputs) & images):
            ident = _Node(f"{n.name}_in", None, list(n.inputs), "act", "identity")
            out.append(ident)
            n = _Node(n.name, n.layer, [ident.name], n.kind, n.act)
        out.append(n)
    return out


def _analog_macs(nodes, input_mode: str) -> int:
    from helpers.snn.energy import layer_macs

    analog = _analog_mac_layers(nodes, input_mode)
    return sum(layer_macs(n.layer) for n in nodes if n.name in analog)


_KERAS_ACTIVATION = {"relu": "relu", "silu": "swish", "sigmoid": "sigmoid", "identity": "linear"}


def folded_keras_model(net: FSNetwork, start: str = "image") -> tf.keras.Model:
    """The BN-folded ANN of ``net`` as a plain Keras model, for other SNN toolchains.

    Conv2D / DepthwiseConv2D / Dense carry the folded kernel and bias (BatchNormalization and
    Dropout are gone); every FS layer is an ``Activation`` (ReLU6: ``ReLU(6)``) named after it
    (``net.layers[i].name``); pooling, flatten, padding and adds are kept.
    ``start="image"``: the input is the image. ``start="first_fs"``: the network is cut after
    its analog first layer -- the input, named after the (single) FS layer the image feeds, is
    that layer's *output* (shape of its pre-activation); used when the first layer is computed
    off the SNN and its FS neurons are driven directly.
    """
    if start not in ("image", "first_fs"):
        raise ValueError(f"start must be 'image' or 'first_fs', got {start!r}")
    nodes = net.graph
    upstream: set[str] = set()       # image and the analog layers before the first FS layer
    first = None
    if start == "first_fs":
        image_fed = []
        for n in nodes:
            fed = n.kind == "input" or any(i in upstream for i in n.inputs)
            if fed and n.act is not None and n.kind == "act":
                image_fed.append(n.name)
            elif fed:
                upstream.add(n.name)
        if len(image_fed) != 1 or any(n.act is not None for n in nodes if n.name in upstream):
            raise UnsupportedLayerError(
                f"start='first_fs' needs exactly one Activation layer fed by the image, found "
                f"{image_fed}; use start='image'")
        first = image_fed[0]
    consumers = {n.name: [m for m in nodes if n.name in m.inputs] for n in nodes}
    # an FS layer read only through Flatten is exported as Flatten -> Activation (the same
    # function; mlGeNN's converter mis-shapes Conv -> Activation -> Flatten -> Dense)
    flat_first = {n.name for n in nodes if n.kind == "act" and n.act is not None
                  and n.name != first and len(consumers[n.name]) == 1
                  and isinstance(consumers[n.name][0].layer, tf.keras.layers.Flatten)}
    tensors: dict[str, tf.Tensor] = {}
    inp = None
    for n in nodes:
        if n.name in upstream:
            continue
        if n.name == first:
            inp = tensors[n.name] = tf.keras.Input(n.layer.output_shape[1:], name=n.name)
            continue
        if n.kind == "input":
            inp = tensors[n.name] = tf.keras.Input(
                n.layer.get_config()["batch_input_shape"][1:], name=n.name)
            continue
        src = [tensors[i] for i in n.inputs]
        x = src[0]
        if n.kind == "linear":
            if n.act is not None:
                raise UnsupportedLayerError(
                    f"layer {n.name!r} has a fused activation; the export needs a separate "
                    "Activation layer (Conv2D(..., activation=None) followed by Activation)")
            k, b = net.folded[n.name]
            y = _linear_clone(n, k, b)(x)
        elif n.kind in ("bn", "drop"):
            y = x
        elif n.kind == "pre":
            y = n.layer(x)
        elif n.kind == "mul":
            raise UnsupportedLayerError(
                f"layer {n.name!r} is an analog product; a purely synaptic toolchain (GeNN) "
                "cannot run it. Convert without analog_products")
        elif n.kind == "act":
            if n.name in flat_first:
                x = tf.keras.layers.Flatten()(x)
            if n.act is None:
                y = x
            elif n.act == "relu6":
                y = tf.keras.layers.ReLU(6.0, name=n.name)(x)
            else:
                y = tf.keras.layers.Activation(_KERAS_ACTIVATION[n.act], name=n.name)(x)
        elif isinstance(n.layer, tf.keras.layers.Add):
            y = tf.keras.layers.Add(name=n.name)(src)
        elif n.inputs and n.inputs[0] in flat_first:    # already flattened
            y = x
        else:
            y = type(n.layer).from_config(n.layer.get_config())(x)
        tensors[n.name] = y
    consumed = {i for m in nodes for i in m.inputs}
    out = [n.name for n in nodes if n.name not in consumed][-1]
    return tf.keras.Model(inp, tensors[out], name=f"{net.ann.name}_folded")
