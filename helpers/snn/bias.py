"""Empirical bias correction of a converted network (Nagel et al. 2019, "Data-free
quantization through weight equalization and bias correction", its empirical variant).

FS codes round every activation; their errors are not zero-mean per channel, and the mean part
adds up through the network. :func:`bias_corrected` measures, layer by layer in graph order,
the mean (or median, see there) error per channel of each FS layer's input (the FS network
against the exact ANN on the same images, every upstream layer already corrected) and
subtracts it from the bias of the linear layer producing that input; last the read-out's
error per class. Sequential, not
all layers at once: a correction changes the errors of every layer after it. The result is an
ordinary :class:`~helpers.snn.network.FSNetwork` whose ``folded`` biases are the corrected ones
(the event-level simulator, the GeNN export and fine-tuning read them from there) and whose
``ann_folded`` is still the exact ANN. Corrections cost no spikes and no timesteps: a bias is a
constant input current.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from helpers.snn.graph import GraphNode, output_name
from helpers.snn.network import FSNetwork, GraphBuilder, build_model, linear_clone

#: What a bias-corrected network's code name adds in results rows.
BIAS_NOTE = " (bias-corrected)"

#: Nodes a per-channel shift passes through unchanged on its way from a bias to an FS layer.
_SHIFT_PRESERVING = (tf.keras.layers.AveragePooling2D, tf.keras.layers.GlobalAveragePooling2D)


def _producer_chain(by_name: dict[str, GraphNode], start: str) -> list[str] | None:
    """Nodes from ``start`` back to the linear node whose bias shifts it per channel
    (``start`` first, the linear node last): through folded BN, dropout, linear activations,
    average pooling and one branch of a residual Add (the last branch that reaches a bias);
    None if none does."""
    n = by_name[start]
    if n.kind == "linear" and n.act is None:
        return [start]
    if (n.kind in ("bn", "drop") or n.kind == "act" and n.act is None
            or isinstance(n.layer, _SHIFT_PRESERVING)):
        branches = n.inputs[:1]
    elif isinstance(n.layer, tf.keras.layers.Add):
        branches = n.inputs[::-1]
    else:
        return None
    for b in branches:
        chain = _producer_chain(by_name, b)
        if chain is not None:
            return [start, *chain]
    return None


def _check_chain(nodes: list[GraphNode], chain: list[str], target: str) -> None:
    """Refuse a correction that earlier nodes would miss: no node before ``target`` (outside
    ``chain``) may read a tensor of the chain, which the correction shifts after the fact."""
    pos = {n.name: i for i, n in enumerate(nodes)}
    for n in nodes[pos[chain[-1]] + 1:pos[target]]:
        if n.name not in chain and set(n.inputs) & set(chain):
            raise ValueError(
                f"bias correction of FS layer {target!r}: node {n.name!r} reads "
                f"{sorted(set(n.inputs) & set(chain))} before {target!r} does, so shifting "
                f"the bias of {chain[-1]!r} would change it unmeasured. Fix: convert without "
                "bias correction (this graph shares that tensor between branches)")


#: How :func:`bias_corrected` estimates a channel's systematic error from the images.
ESTIMATORS = ("mean", "median")


def _channel_error(fs: tf.Tensor, ann: tf.Tensor, estimator: str) -> np.ndarray:
    """The systematic error of ``fs`` against ``ann`` per channel (last axis), float64:
    ``"mean"`` over images and positions, or ``"median"`` over images of each image's mean
    over positions (robust to a few images with large errors)."""
    e = tf.cast(fs, tf.float64) - tf.cast(ann, tf.float64)
    per_image = tf.reduce_mean(tf.reshape(e, (e.shape[0], -1, e.shape[-1])), axis=1).numpy()
    return per_image.mean(0) if estimator == "mean" else np.median(per_image, axis=0)


def _correct(nodes, by_name, fs: GraphBuilder, ann: GraphBuilder, folded, target: str,
             start: str, estimator: str) -> str:
    """Remove the systematic error of tensor ``start`` (FS side vs ANN side) at the bias
    that produces it: that bias in ``folded`` and the FS side's tensors along the way (those
    still held) are shifted. Returns the name of the linear node whose bias changed."""
    chain = _producer_chain(by_name, start)
    if chain is None:
        raise ValueError(f"bias correction of FS layer {target!r}: no bias reaches its input "
                         f"{start!r} through BN, pooling or a residual Add. Fix: convert "
                         "without bias correction")
    _check_chain(nodes, chain, target)
    m = -_channel_error(fs.tensors[start], ann.tensors[start], estimator)
    for c in chain:
        if c in fs.tensors:
            fs.tensors[c] = fs.tensors[c] + m.astype(np.float32)
    w, b = folded[chain[-1]]
    folded[chain[-1]] = (w, (b + m).astype(b.dtype))
    return chain[-1]


def _fused_input(n: GraphNode, folded, builder: GraphBuilder) -> tf.Tensor:
    """The pre-activation of a linear node ``n`` with a fused activation."""
    return linear_clone(n, *folded[n.name])(builder.tensors[n.inputs[0]])


def bias_corrected(net: FSNetwork, x: np.ndarray, estimator: str = "mean") -> FSNetwork:
    """``net`` with every FS layer's input and the read-out corrected for their systematic
    error per channel on images ``x`` (see the module docstring), as a new network.

    ``x``: calibration images (normalised like the model's input; not the evaluation
    images), all held in memory at once with the activations of a few layers -- tens to a few
    hundred. ``estimator``: "mean" (Nagel et al.: the mean error over images and positions)
    or "median" (the median over images of each image's mean error: a few images with large
    errors do not set the correction). A network corrected before is corrected further (its
    ``ann_folded`` stays the exact ANN). Layers fed by the image (analog first layer) have
    no error to correct.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator={estimator!r}: choose one of {ESTIMATORS}")
    FSNetwork._check_images(x)
    nodes, out = net.graph, output_name(net.graph)
    by_name = {n.name: n for n in nodes}
    layers = {i.name: net.model.get_layer(f"fs_{i.name}") for i in net.layers}
    input_fs = layers.pop("input", None)
    folded, exact = dict(net.folded), net.ann_folded
    fs, ann = GraphBuilder("fs", folded, layers, None), GraphBuilder("ann", exact, None, None)
    last_read = {i: k for k, n in enumerate(nodes) for i in n.inputs}
    changed = []
    xt = tf.constant(x, tf.float32)
    for k, n in enumerate(nodes):
        if n.kind == "input":
            ann.tensors[n.name] = xt
            fs.tensors[n.name] = input_fs(xt)[0] if input_fs is not None else xt
            continue
        if n.is_fs and n.kind == "linear":     # fused activation: its own bias, before it runs
            m = -_channel_error(_fused_input(n, folded, fs), _fused_input(n, exact, ann),
                                estimator)
            folded[n.name] = (folded[n.name][0], (folded[n.name][1] + m).astype(np.float32))
            changed.append(n.name)
        elif n.is_fs:
            changed.append(_correct(nodes, by_name, fs, ann, folded, n.name, n.inputs[0],
                                    estimator))
        fs.add(n)
        ann.add(n)
        fs.pre.clear()
        ann.pre.clear()
        for name in [t for t in fs.tensors if last_read.get(t, len(nodes)) <= k and t != out]:
            del fs.tensors[name], ann.tensors[name]
    changed.append(_correct(nodes, by_name, fs, ann, folded, out, out, estimator))
    model, _ = build_model(nodes, out, folded, "fs", layers, input_fs)
    ann_bias = {**{k: exact[k][1] for k in changed}, **net.ann_bias}
    return dataclasses.replace(net, model=model, folded=folded, ann_bias=ann_bias, _call=None)
