"""Synaptic and analog operation accounting of a converted network.

:func:`fanouts`: synapses per spike of every FS neuron (and of the FS-encoded image);
:func:`analog_mac_layers` / :func:`analog_macs`: the conv/dense layers that receive analog
values instead of spikes and their MACs; :func:`analog_product_count`: the analog
multiplications kept with ``analog_products=True``; :func:`insert_identity_neurons`: signed
identity FS neurons in front of linear bottlenecks, which makes those layers spiking.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from helpers.snn.energy import layer_macs
from helpers.snn.graph import GraphNode
from helpers.snn.network import build_model


def fanouts(nodes: list[GraphNode], output: str,
            folded: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-neuron fan-out (synapses per spike) of every FS layer, by name, and of the input
    image (``"__input__"``); each array has the layer's shape without the batch axis.

    Computed as the gradient of the summed outputs of the structural synaptic graph (kernels
    of ones, sum pooling, every conv/dense layer a sink that passes nothing on): the number
    of synapses from a neuron into the first linear layers its spikes reach (through pooling,
    flatten and adds), plus direct identity connections into FS layers. Linear layers fed
    by another linear layer receive no spikes; they are counted as analog MACs instead.
    """
    model, pre = build_model(nodes, output, folded, "structural")
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


def analog_mac_layers(nodes: list[GraphNode], input_mode: str) -> set[str]:
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


def insert_identity_neurons(nodes: list[GraphNode], input_mode: str) -> list[GraphNode]:
    """A copy of ``nodes`` with an ``identity`` activation node in front of every linear layer
    fed by another linear layer (not by the image: that one is the analog first layer)."""
    analog = analog_mac_layers(nodes, input_mode)
    images = {n.name for n in nodes if n.kind == "input"}
    out = []
    for n in nodes:
        if n.name in analog and not (set(n.inputs) & images):
            ident = GraphNode(f"{n.name}_in", None, list(n.inputs), "act", "identity")
            out.append(ident)
            n = GraphNode(n.name, n.layer, [ident.name], n.kind, n.act)
        out.append(n)
    return out


def analog_macs(nodes: list[GraphNode], input_mode: str) -> int:
    """MACs per image of the layers in :func:`analog_mac_layers`."""
    analog = analog_mac_layers(nodes, input_mode)
    return sum(layer_macs(n.layer) for n in nodes if n.name in analog)


def analog_product_count(nodes: list[GraphNode]) -> int:
    """Analog multiplications per image: the output size of every ``mul`` node."""
    return sum(int(np.prod(n.layer.output_shape[1:])) for n in nodes if n.kind == "mul")
