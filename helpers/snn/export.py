"""The BN-folded ANN of a converted network as a plain Keras model, for other SNN toolchains
(GeNN / mlGeNN read it layer by layer)."""

from __future__ import annotations

import tensorflow as tf

from helpers.fs.activations import PROJECT_TO_KERAS
from helpers.snn.graph import GraphNode, UnsupportedLayerError, consumers, output_name
from helpers.snn.network import FSNetwork, linear_clone


def _first_fs_cut(nodes: list[GraphNode]) -> tuple[str, set[str]]:
    """The single FS Activation fed by the image, and the image and analog layers before it."""
    upstream: set[str] = set()
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
    return image_fed[0], upstream


def _read_through_flatten(nodes: list[GraphNode], first: str | None) -> set[str]:
    """FS layers read only through a Flatten. They are exported as Flatten -> Activation (the
    same function; mlGeNN's converter mis-shapes Conv -> Activation -> Flatten -> Dense)."""
    readers = consumers(nodes)
    return {n.name for n in nodes if n.kind == "act" and n.act is not None
            and n.name != first and len(readers[n.name]) == 1
            and isinstance(readers[n.name][0].layer, tf.keras.layers.Flatten)}


def _activation_layer(n: GraphNode, x, flat_first: set[str]):
    if n.name in flat_first:
        x = tf.keras.layers.Flatten()(x)
    if n.act is None:
        return x
    if n.act == "relu6":
        return tf.keras.layers.ReLU(6.0, name=n.name)(x)
    return tf.keras.layers.Activation(PROJECT_TO_KERAS[n.act], name=n.name)(x)


def _export_node(n: GraphNode, net: FSNetwork, src: list, flat_first: set[str]):
    """The exported tensor of one non-input node, from its sources' tensors ``src``."""
    x = src[0]
    if n.kind == "linear":
        if n.act is not None:
            raise UnsupportedLayerError(
                f"layer {n.name!r} has a fused activation; the export needs a separate "
                "Activation layer (Conv2D(..., activation=None) followed by Activation)")
        k, b = net.folded[n.name]
        return linear_clone(n, k, b)(x)
    if n.kind in ("bn", "drop"):
        return x
    if n.kind == "pre":
        return n.layer(x)
    if n.kind == "mul":
        raise UnsupportedLayerError(
            f"layer {n.name!r} is an analog product; a purely synaptic toolchain (GeNN) "
            "cannot run it. Convert without analog_products")
    if n.kind == "act":
        return _activation_layer(n, x, flat_first)
    if isinstance(n.layer, tf.keras.layers.Add):
        return tf.keras.layers.Add(name=n.name)(src)
    if n.inputs and n.inputs[0] in flat_first:    # already flattened
        return x
    return type(n.layer).from_config(n.layer.get_config())(x)


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
    first, upstream = _first_fs_cut(nodes) if start == "first_fs" else (None, set())
    flat_first = _read_through_flatten(nodes, first)
    tensors: dict[str, tf.Tensor] = {}
    inp = None
    for n in nodes:
        if n.name in upstream:
            continue
        if n.name == first:
            inp = tensors[n.name] = tf.keras.Input(n.layer.output_shape[1:], name=n.name)
        elif n.kind == "input":
            inp = tensors[n.name] = tf.keras.Input(
                n.layer.get_config()["batch_input_shape"][1:], name=n.name)
        else:
            tensors[n.name] = _export_node(n, net, [tensors[i] for i in n.inputs], flat_first)
    return tf.keras.Model(inp, tensors[output_name(nodes)], name=f"{net.ann.name}_folded")
