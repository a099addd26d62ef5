"""Event-level, time-stepped simulation of a network converted by :mod:`helpers.snn.convert`.

The network is cut at its FS layers into a *synaptic* map ``S`` (convolutions, pooling,
residual adds: everything between spiking layers). Each FS layer fires during its own window
of K steps, ``[stage*K, (stage+1)*K)``; before its window it integrates the weighted spikes
``d(t) z(t)`` its sources emit, step by step, through the bias-free synaptic map, on top of
its constant input current (biases, and the analog image for a first layer that receives
it). When the window opens, the neuron starts from the integrated input and runs its code:
``z = Θ(v - T(t))``, ``v -= h(t) z``. The read-out integrates the last layer's weighted spikes.
Latency is ``(last stage + 1) * K`` steps and grows with depth.

The result must equal :meth:`helpers.snn.network.FSNetwork.run` (identical predictions, logits
equal to float tolerance): the evidence that the FS network is a spiking network and not an
ANN with quantised activations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from helpers.snn.graph import GraphNode, output_name
from helpers.snn.network import FSNetwork, _Builder, build_model, linear_clone


def _cut_model(net: FSNetwork, mode: str) -> tf.keras.Model:
    return build_model(net.graph, output_name(net.graph), net.folded, mode)[0]


def affine_model(net: FSNetwork) -> tf.keras.Model:
    """The network cut at its FS layers: ``[image, FS outputs...] -> [pre-activations of every
    FS layer..., logits]`` with biases -- the constant currents when spikes are zero."""
    return _cut_model(net, "split")


def _increment(n: GraphNode, xs: list, net: FSNetwork, builder: _Builder):
    """The increment at node ``n`` (not an FS layer) caused by increments ``xs`` at the inputs
    the source reaches (an ``Add`` with one of them passes it on; biases are zero)."""
    if n.kind == "linear":
        return linear_clone(n, *net.folded[n.name], zero_bias=True)(xs[0])
    if n.kind == "act" or (isinstance(n.layer, tf.keras.layers.Add) and len(xs) == 1):
        return xs[0]
    return builder._synaptic(n, xs)


def source_model(net: FSNetwork, source: str, shape: tuple) -> tuple[tf.keras.Model, list[int]]:
    """The synapses of one spiking source (an FS layer, or the image node for FS-encoded
    input): a model from its weighted spikes ``(B, *shape)`` to the increments they cause at
    the FS layers they reach (their pre-activations) and at the read-out, and the index of
    each target in the network's FS pre-activation list (-1: the logits). Only the
    convolutions on the source's outgoing paths run -- the event-driven part of a step."""
    fs_nodes = [n.name for n in net.graph if n.is_fs]
    builder = _Builder("linear", net.folded, {}, None)
    inp = tf.keras.Input(shape, name=f"{source}_spikes")
    reached: dict[str, tf.Tensor] = {source: inp}
    outs, targets = [], []
    for n in net.graph:
        xs = [reached[i] for i in n.inputs if i in reached]
        if n.name == source or not xs:
            continue
        if n.is_fs:
            pre = (linear_clone(n, *net.folded[n.name], zero_bias=True)(xs[0])
                   if n.kind == "linear" else xs[0])
            outs.append(pre)
            targets.append(fs_nodes.index(n.name))
            continue
        reached[n.name] = _increment(n, xs, net, builder)
    out = output_name(net.graph)
    if out in reached and out != source:
        outs.append(reached[out])
        targets.append(-1)
    return tf.keras.Model(inp, outs), targets


def _fire(v: list[np.ndarray], code: tuple[np.ndarray, np.ndarray, np.ndarray], t: int
          ) -> list[np.ndarray]:
    """Step ``t`` of FS neurons with membranes ``v`` (one array, two for signed neurons):
    the spikes ``z = Θ(v - T(t))``; ``v`` is reset in place by ``h(t) z``."""
    h, T, _ = code
    one = np.float32(1)
    zs = []
    for k, vv in enumerate(v):
        z = ((vv - T[t]) / (np.abs(vv) + one) >= 0).astype(np.float32)
        v[k] = vv - h[t] * z
        zs.append(z)
    return zs


def _simulate_batch(net: FSNetwork, xb: np.ndarray, affine, sources: list, spike_shapes: list[tuple],
                    codes: list[tuple], r: int | None, raster: dict[str, np.ndarray]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``(B, classes)`` and spikes per layer ``(B, L)`` of one batch ``xb``; if ``r``
    is an index into the batch, that image's spikes are written into ``raster``."""
    layers, K, has_input = net.layers, net.K, net.input_mode == "fs"
    B = len(xb)
    zeros_a = [np.zeros((B,) + shape, np.float32) for shape in spike_shapes]
    img0 = np.zeros_like(xb) if has_input else xb
    base = [o.numpy() for o in affine([img0] + zeros_a, training=False)]
    acc, logits = base[:-1], base[-1]
    v: list[Any] = [None] * len(layers)
    counts = np.zeros((B, len(layers)))
    if r is not None:
        for info in layers:
            raster[info.name] = np.zeros((K, info.n_neurons), bool)
    for tau in range(net.latency_timesteps):
        for j, info in enumerate(layers):
            t = tau - info.stage * K
            if not 0 <= t < info.code.K:
                continue
            is_input = has_input and j == 0
            if t == 0:
                start = xb if is_input else acc[j - has_input]
                v[j] = [start.copy(), -start] if info.signed else [start.copy()]
            zs = _fire(v[j], codes[j], t)
            z_net = zs[0] - zs[1] if info.signed else zs[0]
            n_z = sum(z.reshape(B, -1).sum(1) for z in zs)
            counts[:, j] += n_z
            if r is not None:
                raster[info.name][t] = np.concatenate([z[r].ravel() for z in zs]) > 0
            if not n_z.any():
                continue
            model, targets = sources[j]      # only this source's synapses carry events
            inc = model(codes[j][2][t] * z_net)
            for i, o in zip(targets, inc if isinstance(inc, (list, tuple)) else [inc]):
                if i < 0:
                    logits = logits + o.numpy()
                else:
                    acc[i] += o.numpy()
    return logits, counts


def simulate(net: FSNetwork, x: np.ndarray, batch_size: int = 100,
             raster_image: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Simulate ``net`` on normalised images ``x`` ``(N, H, W, C)`` event by event.

    Returns ``logits`` ``(N, classes)``, ``spikes`` ``(N, L)`` (spikes per layer and image, in
    ``net.layers`` order), ``latency_timesteps`` and, if ``raster_image`` is an index into
    ``x``, ``raster``: for each layer a bool array ``(K, n_neurons)`` of that image's spikes.
    """
    if any(n.kind == "mul" for n in net.graph):
        raise NotImplementedError(
            "event-level simulation needs a purely synaptic network; this one keeps analog "
            "products (squeeze-excite). Convert without analog_products to simulate it")
    affine = affine_model(net)
    spike_shapes = [tuple(t.shape[1:]) for t in affine.inputs[1:]]
    names = ([n.name for n in net.graph if n.kind == "input"] if net.input_mode == "fs" else [])
    names += [n.name for n in net.graph if n.is_fs]
    shapes = ([tuple(affine.inputs[0].shape[1:])] if net.input_mode == "fs" else []) + spike_shapes
    sources = []
    for name, shape in zip(names, shapes):
        model, targets = source_model(net, name, shape)
        sources.append((tf.function(model, reduce_retracing=True), targets))
    codes = [(info.code.h.astype(np.float32), info.code.T.astype(np.float32),
              info.code.d.astype(np.float32)) for info in net.layers]
    all_logits, all_spikes = [], []
    raster: dict[str, np.ndarray] = {}
    bar = tqdm(total=len(x), desc="event-level simulation", disable=not progress)
    for b0 in range(0, len(x), batch_size):
        xb = np.asarray(x[b0:b0 + batch_size], dtype=np.float32)
        rec = raster_image is not None and b0 <= raster_image < b0 + len(xb)
        logits, counts = _simulate_batch(net, xb, affine, sources, spike_shapes, codes,
                                         raster_image - b0 if rec else None, raster)
        all_logits.append(logits)
        all_spikes.append(counts)
        bar.update(len(xb))
    bar.close()
    out = {"logits": np.concatenate(all_logits), "spikes": np.concatenate(all_spikes),
           "latency_timesteps": net.latency_timesteps,
           "layer_names": [i.name for i in net.layers]}
    if raster_image is not None:
        out["raster"] = raster
    return out


def agreement(net: FSNetwork, x: np.ndarray, y: np.ndarray | None = None,
              batch_size: int = 100, progress: bool = True) -> dict[str, Any]:
    """Compare the event-level simulation with the FS-equivalent model on images ``x``."""
    sim = simulate(net, x, batch_size, progress=progress)
    eq = net.run(x, batch_size)
    p_sim, p_eq = sim["logits"].argmax(1), eq["logits"].argmax(1)
    res = {"n_images": int(len(x)),
           "same_prediction": float(np.mean(p_sim == p_eq)),
           "max_abs_logit_diff": float(np.max(np.abs(sim["logits"] - eq["logits"]))),
           "max_abs_logit": float(np.max(np.abs(eq["logits"]))),
           "spike_count_rel_diff": float(np.abs(sim["spikes"].sum() - eq["spikes"].sum())
                                         / max(1.0, eq["spikes"].sum())),
           "latency_timesteps": sim["latency_timesteps"]}
    if y is not None:
        res["accuracy_simulated"] = float(np.mean(p_sim == np.asarray(y)))
        res["accuracy_equivalent"] = float(np.mean(p_eq == np.asarray(y)))
    return res


def raster_summary(net: FSNetwork, sim: dict[str, Any], image: int, max_neurons: int = 100,
                   **info: Any) -> dict[str, Any]:
    """A JSON-friendly raster of one simulated image: per layer, the spikes ``[t, row]`` of up
    to ``max_neurons`` evenly sampled neurons, its stage and spikes per neuron."""
    layers = []
    for j, layer in enumerate(net.layers):
        r = sim["raster"][layer.name]
        idx = np.linspace(0, r.shape[1] - 1, min(r.shape[1], max_neurons)).astype(int)
        t, n = np.nonzero(r[:, idx])
        layers.append({"name": layer.name, "stage": layer.stage, "n_shown": int(len(idx)),
                       "spikes": np.stack([t, n], 1).ravel().tolist(),
                       "spikes_per_neuron": float(r.sum() / layer.n_neurons)})
    return {"image": image, "K": net.K, "latency_timesteps": sim["latency_timesteps"],
            "total_spikes": int(sum(sim["raster"][lay.name].sum() for lay in net.layers)),
            "layers": layers, **info}
