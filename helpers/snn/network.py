"""The FS-equivalent model of a converted network, and the Keras models cut from its graph.

:class:`FSActivation` is a layer of FS neurons; :class:`FSNetwork` holds a converted network
(its FS-equivalent Keras model, the BN-folded ANN, one :class:`FSLayerInfo` per FS layer).
:func:`build_model` rebuilds a :mod:`helpers.snn.graph` graph with folded weights as the exact
ANN, as the FS-equivalent model, or cut at its FS layers (for the event-level simulator, the
rate-coded baseline and the fan-out count). :func:`layer_stages` gives each FS layer its
pipeline stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import tensorflow as tf

from helpers.ann.metrics import topk_hits
from helpers.fs.jra import JRACode, jra_tf_forward
from helpers.fs.neuron import FSCode, fs_pair_tf_forward, fs_tf_forward
from helpers.fs.offset import OffsetCode
from helpers.snn.graph import GraphNode

#: Project activation name -> the TensorFlow function of the exact ANN.
TF_ACTIVATIONS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "relu": tf.nn.relu, "silu": tf.nn.silu, "sigmoid": tf.nn.sigmoid, "relu6": tf.nn.relu6,
    "identity": tf.identity}

#: How :func:`build_model` rebuilds a graph (see there).
BuildMode = Literal["ann", "fs", "split", "linear", "structural"]


class FSActivation(tf.keras.layers.Layer):
    """A layer of FS neurons with one code; returns ``[output, spikes, synops]``.

    ``spikes`` and ``synops`` are per image ``(N,)``: total spikes of the layer, and total
    synaptic events they cause (spikes weighted by each neuron's fan-out, if given).
    ``signed``: two neurons per input (for x and -x), as for FS-encoded signed images; an
    offset-folded code (:class:`helpers.fs.offset.OffsetCode`) is signed with its own code
    for the -x neurons, and its offset is added to the output (a constant input of the next
    layer, no spikes).
    """

    def __init__(self, code: FSCode, signed: bool = False, fanout: np.ndarray | None = None,
                 **kwargs):
        super().__init__(trainable=False, **kwargs)
        self.code = code
        self.signed = signed
        self.h, self.T, self.d = (tf.constant(a.astype(np.float32)) for a in (code.h, code.T, code.d))
        self.fanout = None if fanout is None else tf.constant(fanout.astype(np.float32))
        neg = code.negative if isinstance(code, OffsetCode) else code
        self.neg = tuple(tf.constant(a.astype(np.float32)) for a in (neg.h, neg.T, neg.d))
        self.offset = code.offset if isinstance(code, OffsetCode) else 0.0
        if self.offset and not signed:
            raise ValueError(f"{code.name}: an offset-folded code needs signed neurons (a pair "
                             "per value); convert() sets signed=True for it")
        if isinstance(code, JRACode) and signed:
            raise ValueError(f"{code.name}: JRA floating-point codes are for ReLU layers; "
                             "signed (input, bottleneck) neurons need FS codes")
        # JRA neurons: their own XLA kernel (the code's steps are Python constants)
        self._jra = (tf.function(lambda x: jra_tf_forward(x, self.code), jit_compile=True,
                                 reduce_retracing=True) if isinstance(code, JRACode) else None)

    def call(self, x):
        if self._jra is not None:          # exponent steps, then the mantissa neuron
            out, z = self._jra(x)
        elif self.signed:                  # the pair (and offset) in one kernel, see there
            out, z = fs_pair_tf_forward(x, (self.h, self.T, self.d), self.neg, self.offset)
        else:
            out, z = fs_tf_forward(x, self.h, self.T, self.d)
        axes = list(range(1, len(x.shape)))
        spikes = tf.reduce_sum(z, axis=axes)
        synops = (tf.reduce_sum(z * self.fanout, axis=axes) if self.fanout is not None
                  else spikes * 0)
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
    """A converted network. ``model(x) -> [logits, spikes_1..L, synops_1..L]`` per image.
    ``folded``: the BN-folded kernel and bias of every linear node as the SNN uses them."""

    model: tf.keras.Model
    ann: tf.keras.Model                 # the BN-folded ANN (exact activations)
    layers: list[FSLayerInfo]
    input_mode: str
    graph: list[GraphNode] = field(repr=False, default_factory=list)
    folded: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False, default_factory=dict)
    analog_macs: int = 0          # MACs on non-spiking inputs (see helpers.snn.energy)
    analog_products: int = 0      # analog multiplications per image (squeeze-excite products)
    codes: dict[str, FSCode] = field(default_factory=dict)   # per activation, as given
    scale: str = "percentile"     # the layer-scale statistic ("max" or "percentile")
    #: per linear node whose bias the bias correction changed, the exact ANN's bias
    #: (``folded`` holds the SNN's; see ``ann_folded``); empty: not corrected
    ann_bias: dict[str, np.ndarray] = field(repr=False, default_factory=dict)
    _call: Any = field(default=None, repr=False)

    def __repr__(self) -> str:      # short: TensorFlow's retracing warnings print it
        return (f"FSNetwork({len(self.layers)} FS layers, K={self.K}, "
                f"input_mode={self.input_mode!r}, code={self.code.name!r})")

    @property
    def code(self) -> FSCode:
        """The code of the network's hidden activation (the first given, bottlenecks aside)."""
        return next(c for a, c in self.codes.items() if a != "identity")

    @property
    def ann_folded(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The exact ANN's folded weights: ``folded`` without the bias correction
        (:mod:`helpers.snn.bias`), for whatever compares with or samples the ANN."""
        return {k: (w, self.ann_bias.get(k, b)) for k, (w, b) in self.folded.items()}

    @property
    def spiking_bottlenecks(self) -> bool:
        """True when linear bottlenecks receive spikes through signed identity neurons."""
        return "identity" in self.codes

    @property
    def K(self) -> int:
        return max(info.code.K for info in self.layers)

    @property
    def latency_timesteps(self) -> int:
        """Steps until the read-out has all its input: (last stage + 1) * K."""
        return (max(info.stage for info in self.layers) + 1) * self.K

    @staticmethod
    def _check_images(x: np.ndarray) -> None:
        """Refuse evaluation images with NaN or inf values: FS neurons would turn them into
        arbitrary spike counts and predictions instead of an error."""
        finite = np.isfinite(x)
        if not finite.all():
            bad = finite.size - np.count_nonzero(finite)
            raise ValueError(f"the evaluation images x hold {bad} NaN or inf values. Fix: check "
                             "the images and their normalisation (a channel with std 0 divides "
                             "by zero)")

    def _forward(self, x):
        return self.model(x, training=False)

    def release(self) -> None:
        """Drop the traced graph of :meth:`run` (it is traced again on the next call): a
        study holding many converted networks keeps one traced graph at a time."""
        self._call = None

    def run(self, x: np.ndarray, batch_size: int = 250) -> dict[str, np.ndarray]:
        """Logits ``(N, classes)``, spikes ``(N, L)`` and synaptic ops ``(N, L)`` for images x
        (finite values, normalised like the calibration images)."""
        self._check_images(x)
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
        operations per image and layer, latency, and the predicted class of every image
        (``predictions``, shape (N,))."""
        r = self.run(x, batch_size)
        n = np.array([info.n_neurons for info in self.layers], dtype=np.float64)
        per_layer = r["spikes"].mean(axis=0) / n
        pred = np.argmax(r["logits"], 1)
        return {"accuracy": float(np.mean(pred == np.asarray(y))), "predictions": pred,
                "top5": float(np.mean(topk_hits(r["logits"], y, 5))),
                "mean_spikes_per_neuron": float(r["spikes"].sum(1).mean() / n.sum()),
                "spikes_per_neuron_per_layer": dict(zip([i.name for i in self.layers],
                                                        per_layer.tolist())),
                "synops_per_image": float(r["synops"].sum(1).mean()),
                "synops_per_layer": dict(zip([i.name for i in self.layers],
                                             r["synops"].mean(0).tolist())),
                "latency_timesteps": self.latency_timesteps, "n": len(y)}


def linear_clone(node: GraphNode, kernel: np.ndarray, bias: np.ndarray, ones: bool = False,
                 zero_bias: bool = False) -> tf.keras.layers.Layer:
    """A copy of the node's Conv2D / DepthwiseConv2D / Dense layer without activation,
    built with ``kernel`` and ``bias`` (``ones``: a kernel of ones and zero bias;
    ``zero_bias``: the kernel with zero bias)."""
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


class GraphBuilder:
    """One :func:`build_model` pass: the tensor of every node, the pre-activation of every FS
    layer (``pre``), the inputs that replace cut FS layers (``extra_inputs``), the spike and
    synop outputs of FS layers (``stats``) and the synapse counts of the structural graph
    (``sinks``)."""

    def __init__(self, mode: BuildMode, folded, fs_layers, input_fs, offsets=None):
        self.mode, self.folded, self.offsets = mode, folded, offsets or {}
        self.fs_layers, self.input_fs = fs_layers, input_fs
        self.ones = mode == "structural"
        self.tensors: dict[str, tf.Tensor] = {}
        self.pre: dict[str, tf.Tensor] = {}
        self.extra_inputs: list[tf.Tensor] = []
        self.stats: list[tuple[tf.Tensor, tf.Tensor]] = []
        self.sinks: list[tf.Tensor] = []
        self.image = None

    def add(self, n: GraphNode) -> None:
        if n.kind == "input":
            self.tensors[n.name] = self._input(n)
        elif n.kind == "linear":
            self.tensors[n.name] = self._linear(n, self.tensors[n.inputs[0]])
        elif n.kind == "act":
            x = self.tensors[n.inputs[0]]
            self.tensors[n.name] = x if n.act is None else self._activation(n, x)
        else:
            self.tensors[n.name] = self._synaptic(n, [self.tensors[i] for i in n.inputs])

    def _input(self, n: GraphNode):
        self.image = tf.keras.Input(n.layer.get_config()["batch_input_shape"][1:], name=n.name)
        x = self.image
        if self.mode == "fs" and self.input_fs is not None:
            x, s, o = self.input_fs(x)
            self.stats.append((s, o))
        return x

    def _linear(self, n: GraphNode, x):
        k, b = self.folded[n.name]
        y = linear_clone(n, k, b, self.ones, zero_bias=self.mode == "linear")(x)
        if self.ones:   # structural graph: count the synapses a spike reaches here, stop there
            self.sinks.append(tf.reduce_sum(y, axis=list(range(1, len(y.shape)))))
            y = tf.zeros_like(y)
        if n.act is not None:   # fused activation: treat as a separate activation node
            y = self._activation(n, y)
        return y

    def _activation(self, n: GraphNode, x):
        self.pre[n.name] = x
        if self.mode == "ann":
            return TF_ACTIVATIONS[n.act](x)
        if self.mode == "fs":
            out, s, o = self.fs_layers[n.name](x)
            self.stats.append((s, o))
            return out
        inp = tf.keras.Input(x.shape[1:], name=f"{n.name}_spikes")
        self.extra_inputs.append(inp)
        return inp + self.offsets[n.name] if self.offsets.get(n.name) else inp

    def _synaptic(self, n: GraphNode, xs: list):
        """Everything between FS layers other than conv/dense: BN (folded), dropout,
        preprocessing, analog products, pooling, flatten, padding, adds."""
        x = xs[0]
        if n.kind in ("bn", "drop"):
            return x
        if n.kind == "pre":       # the layer itself (keeps its weights); identity for the
            # structural graph and for spike increments (the image never enters those)
            return x if self.ones or self.mode == "linear" else n.layer(x)
        if n.kind == "mul":       # analog product (squeeze-excite)
            return tf.keras.layers.Multiply()(xs)
        if isinstance(n.layer, tf.keras.layers.Add):
            return tf.keras.layers.Add()(xs)
        if self.ones and isinstance(n.layer, tf.keras.layers.AveragePooling2D):
            ph, pw = n.layer.pool_size
            y = type(n.layer).from_config(n.layer.get_config() | {"name": None})(x)
            return y * float(ph * pw)
        if self.ones and isinstance(n.layer, tf.keras.layers.GlobalAveragePooling2D):
            return tf.reduce_sum(x, axis=[1, 2], keepdims=n.layer.keepdims)
        cfg = n.layer.get_config()
        cfg.pop("name", None)
        return type(n.layer).from_config(cfg)(x)

    def model(self, output: str) -> tf.keras.Model:
        logits = self.tensors[output]
        if self.mode == "ann":
            return tf.keras.Model(self.image, logits)
        if self.mode == "fs":
            spikes = [s for s, _ in self.stats]
            synops = [o for _, o in self.stats]
            return tf.keras.Model(self.image, [logits] + spikes + synops)
        return tf.keras.Model([self.image] + self.extra_inputs,
                              list(self.pre.values()) + [logits] + self.sinks)


def build_model(nodes: list[GraphNode], output: str,
                folded: dict[str, tuple[np.ndarray, np.ndarray]], mode: BuildMode,
                fs_layers: dict[str, FSActivation] | None = None,
                input_fs: FSActivation | None = None, offsets: dict[str, float] | None = None
                ) -> tuple[tf.keras.Model, dict[str, tf.Tensor]]:
    """Rebuild the network of ``nodes`` with the ``folded`` weights, read out at ``output``.

    ``mode`` "ann": exact activations, ``image -> logits``; "fs": activations replaced by
    ``fs_layers`` (and the image encoded by ``input_fs``, if given), ``image -> [logits,
    spikes..., synops...]``; "split" / "linear" / "structural": activations cut --
    ``[image, FS outputs...] -> [FS pre-activations..., logits, sinks...]`` ("linear": biases
    zero; "structural": kernels of ones, zero biases, sum pooling, and per conv/dense layer a
    sink counting the synapses its inputs reach, nothing passed on). ``offsets``: constants
    added to the cut FS layers' outputs in "split" mode (offset-folded codes).
    Returns ``(model, FS pre-activation tensors by layer name)``.
    """
    builder = GraphBuilder(mode, folded, fs_layers, input_fs, offsets)
    for n in nodes:
        builder.add(n)
    return builder.model(output), builder.pre


def layer_stages(nodes: list[GraphNode], input_mode: str) -> dict[str, int]:
    """Pipeline stage of each FS layer: 1 + the latest stage among the FS layers feeding it
    (other nodes: the stage of their latest source; the FS-encoded input is stage 0)."""
    stage: dict[str, int] = {}
    base = 1 if input_mode == "fs" else 0
    for n in nodes:
        if n.kind == "input":
            stage[n.name] = 0 if input_mode == "fs" else -1
            continue
        src = max((stage[i] for i in n.inputs), default=-1)
        stage[n.name] = max(src + 1, base) if n.is_fs else src
    return stage
