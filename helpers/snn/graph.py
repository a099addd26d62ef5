"""A Keras classifier read as a graph of nodes the FS converter understands; BatchNorm folding.

:func:`model_graph` lists the layers of a model as :class:`GraphNode` s in topological order
and refuses every layer the converter cannot map onto FS neurons and synapses
(:class:`UnsupportedLayerError`, naming the layer, its type and what to do instead, from
:data:`ADVICE`). :func:`folded_weights` gives every Conv2D / DepthwiseConv2D / Dense its kernel
and bias with a following BatchNormalization folded in (:func:`fold_batchnorm`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np
import tensorflow as tf

from helpers.fs.activations import KERAS_TO_PROJECT

LINEAR = (tf.keras.layers.Conv2D, tf.keras.layers.DepthwiseConv2D, tf.keras.layers.Dense)
PASS_THROUGH = (tf.keras.layers.AveragePooling2D, tf.keras.layers.GlobalAveragePooling2D,
                tf.keras.layers.Flatten, tf.keras.layers.Add, tf.keras.layers.ZeroPadding2D,
                tf.keras.layers.Reshape)
#: Elementwise preprocessing of the image inside the model (computed before the first layer).
PREPROCESSING = (tf.keras.layers.Rescaling, tf.keras.layers.Normalization)

#: The kind of a :class:`GraphNode`:
#:
#: * ``"input"``: the image (InputLayer);
#: * ``"linear"``: Conv2D / DepthwiseConv2D / Dense -- synapses, with a following BN folded
#:   in; with a fused activation (``act`` set) it is also a layer of FS neurons;
#: * ``"bn"``: BatchNormalization after a linear layer (folded into it; identity here);
#: * ``"act"``: Activation / ReLU -- a layer of FS neurons (``act`` None: a linear activation,
#:   identity); also the signed identity neurons inserted in front of a linear bottleneck;
#: * ``"pass"``: pooling, Flatten, Reshape, ZeroPadding2D, residual Add -- synaptic, kept;
#: * ``"drop"``: Dropout (identity at inference);
#: * ``"pre"``: Rescaling / Normalization of the image inside the model (analog first layer);
#: * ``"mul"``: Multiply kept as an analog product (``analog_products=True``, squeeze-excite).
NodeKind = Literal["input", "linear", "bn", "act", "pass", "drop", "pre", "mul"]
NODE_KINDS: tuple[str, ...] = get_args(NodeKind)

ADVICE = {
    "MaxPooling2D": "replace it with AveragePooling2D (or a stride-2 convolution) and retrain: "
                    "a max over spike trains is not a synaptic operation",
    "GlobalMaxPooling2D": "replace it with GlobalAveragePooling2D and retrain",
    "Concatenate": "FS conversion supports residual Add but not Concatenate; use Add or "
                   "convert the branches separately",
    "LeakyReLU": "use ReLU, SiLU or sigmoid (FS codes exist for these) and retrain",
    "PReLU": "use ReLU, SiLU or sigmoid and retrain",
    "ELU": "use ReLU, SiLU or sigmoid and retrain, or fit an FS code to ELU with "
           "helpers.fs.fitting.fit_code and extend helpers.fs.activations.KERAS_TO_PROJECT",
    "Multiply": "products of activations are not synaptic; remove them (e.g. squeeze-excite) "
                "or pass analog_products=True to keep them as analog multiplications",
    "LayerNormalization": "only BatchNormalization directly after a Conv2D/Dense can be folded",
}
_DEFAULT_ADVICE = ("replace it by a supported layer (Conv2D, DepthwiseConv2D, Dense, "
                   "BatchNormalization, AveragePooling2D, GlobalAveragePooling2D, Flatten, Add, "
                   "Dropout, ReLU/SiLU/sigmoid) and retrain")


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
    if fn not in KERAS_TO_PROJECT:
        raise _unsupported(layer, f"activation {fn!r} has no FS code",
                           "use relu, swish/silu or sigmoid, or fit a code to it and add it "
                           "to helpers.fs.activations.KERAS_TO_PROJECT")
    return KERAS_TO_PROJECT[fn]


@dataclass
class GraphNode:
    """One layer of the model (or an inserted identity-neuron layer, ``layer`` None)."""

    name: str
    layer: Any                     # the Keras layer
    inputs: list[str]              # names of the nodes feeding it
    kind: NodeKind                 # see NodeKind
    act: str | None = None         # project activation name of an FS layer ("act" nodes and
    #                                "linear" nodes with a fused activation), else None

    def __post_init__(self) -> None:
        if self.kind not in NODE_KINDS:
            raise ValueError(f"node {self.name!r}: kind must be one of {NODE_KINDS}, "
                             f"got {self.kind!r}")

    @property
    def is_fs(self) -> bool:
        """True if the node is a layer of FS neurons."""
        return self.act is not None and self.kind in ("act", "linear")


def as_functional(model: tf.keras.Model) -> tf.keras.Model:
    """``model`` itself, or a functional copy (sharing its layers) of a Sequential model."""
    if isinstance(model, tf.keras.Sequential):
        inp = tf.keras.Input(model.input_shape[1:], name="image")
        x = inp
        for layer in model.layers:
            x = layer(x)
        return tf.keras.Model(inp, x, name=model.name)
    return model


def _graph_node(layer, ins: list[str], is_output: bool, analog_products: bool) -> GraphNode:
    """The node of one Keras layer; refuses layers without an FS equivalent."""
    if isinstance(layer, tf.keras.layers.InputLayer):
        return GraphNode(layer.name, layer, ins, "input")
    if isinstance(layer, LINEAR):
        softmax_out = (is_output
                       and getattr(layer, "activation", None) is tf.keras.activations.softmax)
        act = None if softmax_out else activation_kind(layer)
        return GraphNode(layer.name, layer, ins, "linear", act)
    if isinstance(layer, tf.keras.layers.BatchNormalization):
        return GraphNode(layer.name, layer, ins, "bn")
    if isinstance(layer, (tf.keras.layers.Activation, tf.keras.layers.ReLU)):
        return GraphNode(layer.name, layer, ins, "act", activation_kind(layer))
    if isinstance(layer, PASS_THROUGH):
        return GraphNode(layer.name, layer, ins, "pass")
    if isinstance(layer, tf.keras.layers.Dropout):
        return GraphNode(layer.name, layer, ins, "drop")
    if isinstance(layer, PREPROCESSING):
        return GraphNode(layer.name, layer, ins, "pre")
    if analog_products and isinstance(layer, tf.keras.layers.Multiply):
        return GraphNode(layer.name, layer, ins, "mul")
    raise _unsupported(layer, "no FS equivalent is implemented for this layer type",
                       ADVICE.get(type(layer).__name__, _DEFAULT_ADVICE))


def consumers(nodes: list[GraphNode]) -> dict[str, list[GraphNode]]:
    """The nodes reading each node's output, by node name."""
    return {n.name: [m for m in nodes if n.name in m.inputs] for n in nodes}


def _check_batchnorm(nodes: list[GraphNode]) -> None:
    """Every BN must follow a linear layer without activation that feeds only it, and
    normalise the channels (last axis)."""
    readers = consumers(nodes)
    by_name = {n.name: n for n in nodes}
    for n in nodes:
        if n.kind != "bn":
            continue
        src = by_name[n.inputs[0]]
        if src.kind != "linear" or src.act is not None or len(readers[src.name]) != 1:
            raise _unsupported(
                n.layer, f"it follows {type(src.layer).__name__} {src.name!r}, which is "
                "not a Conv2D/DepthwiseConv2D/Dense without activation used only by this BN",
                "place BatchNormalization directly after a convolution or dense layer, "
                "before the activation")
        if n.layer.axis not in ([-1], [len(n.layer.input_shape) - 1], -1):
            raise _unsupported(n.layer, f"BN over axis {n.layer.axis}", "use channels-last")


def model_graph(model: tf.keras.Model, analog_products: bool = False
                ) -> tuple[list[GraphNode], list[str], list[str]]:
    """Nodes in topological order, input names and output names; refuses unsupported layers.

    ``analog_products``: accept ``Multiply`` (squeeze-excite) as an analog product node. A
    softmax on the output layer is dropped (it does not change the predicted class)."""
    model = as_functional(model)
    cfg = model.get_config()
    ins = [t[0] for t in cfg["input_layers"]]
    outs = [t[0] for t in cfg["output_layers"]]
    nodes: list[GraphNode] = []
    for lc in cfg["layers"]:
        layer = model.get_layer(lc["name"])
        inbound = lc.get("inbound_nodes") or []
        if len(inbound) > 1:
            raise _unsupported(layer, "the layer is shared (called more than once)",
                               "use a separate layer object for each call")
        sources = [t[0] for t in inbound[0]] if inbound else []
        nodes.append(_graph_node(layer, sources, layer.name in outs, analog_products))
    _check_batchnorm(nodes)
    if len(ins) != 1 or len(outs) != 1:
        raise UnsupportedLayerError(f"model {model.name!r} has {len(ins)} inputs and "
                                    f"{len(outs)} outputs; FS conversion needs exactly one each")
    return nodes, ins, outs


def output_name(nodes: list[GraphNode]) -> str:
    """Name of the output (logits) node: the last node that no other node reads."""
    consumed = {i for n in nodes for i in n.inputs}
    return [n.name for n in nodes if n.name not in consumed][-1]


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


def folded_weights(nodes: list[GraphNode]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{linear node name: (kernel, bias)}`` float32, a following BN folded in, a missing
    bias as zeros."""
    readers = consumers(nodes)
    out = {}
    for n in nodes:
        if n.kind != "linear":
            continue
        w = n.layer.get_weights()
        kernel = w[0]
        bias = w[1] if len(w) > 1 else np.zeros(n.layer.output_shape[-1], np.float32)
        nxt = readers[n.name]
        if len(nxt) == 1 and nxt[0].kind == "bn":
            kernel, bias = fold_batchnorm(kernel, bias, nxt[0].layer,
                                          isinstance(n.layer, tf.keras.layers.DepthwiseConv2D))
        out[n.name] = (kernel.astype(np.float32), bias.astype(np.float32))
    return out
