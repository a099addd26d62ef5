"""Event-level, time-stepped simulation of a network converted by :mod:`helpers.snn.convert`.

The network is cut at its FS layers into a *synaptic* map (convolutions, pooling, residual
adds: everything between spiking layers). Each FS layer fires during its own window of K
steps, ``[stage*K, (stage+1)*K)``; before its window it integrates the weighted spikes
``d(t) z(t)`` its sources emit through the synaptic map, on top of its constant input current
(biases, and the analog image for a first layer that receives it). When the window opens,
the neuron starts from the integrated input and runs its code step by step: ``z = Θ(v -
T(t))``, ``v -= h(t) z``. The read-out integrates the last layer's weighted spikes. Latency is
``(last stage + 1) * K`` steps and grows with depth.

Every source's window closes before any of its targets' windows opens (pipelined stages), so
a target has all of a window's input before it fires, and the simulation runs layer by layer
in stage order. The synapses are linear, so a window's spikes can reach the target step by
step or as their sum -- the same membrane in exact arithmetic. Two deliveries:

* ``"summed"`` (default): each source's window output ``Σ_t d(t) z(t)`` (summed in step order;
  the JRA gain state applied; a signed pair's two trains subtracted) is kept until a target's
  window opens; then the target's synapses -- every path from its sources, with biases -- pass
  it in one go, in the FS-equivalent model's order of operations. Spikes and logits therefore
  match that model bit for bit, with one known exception: TensorFlow's graph optimiser
  ("remapping") may fuse a convolution with a residual add in one graph and not in the
  other, which moves a pre-activation by one float32 ulp (seen on JRA codes; gone with
  remapping switched off). Synaptic work: one pass per target and window.
* ``"per_step"``: each step's frame ``d(t) z(t)`` crosses the source's outgoing synapses (all
  K as one batch of K x images) and the targets add the K increments in step order, as GeNN
  does. Float32 rounding of the partial sums can move a neuron within ~1e-6 of a threshold
  across it: a spike more or less, rarely another prediction.

The result must equal :meth:`helpers.snn.network.FSNetwork.run`: the evidence that the FS
network is a spiking network and not an ANN with quantised activations.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from helpers.fs.jra import JRACode
from helpers.fs.offset import OffsetCode
from helpers.snn.graph import GraphNode, output_name
from helpers.snn.network import FSNetwork, GraphBuilder, build_model, linear_clone


def affine_model(net: FSNetwork, offsets: bool = True) -> tf.keras.Model:
    """The network cut at its FS layers: ``[image, FS outputs...] -> [pre-activations of every
    FS layer..., logits]`` with biases and (``offsets``) the offsets of offset-folded layers
    -- the constant currents when spikes are zero."""
    add = {i.name: i.code.offset for i in net.layers if isinstance(i.code, OffsetCode)}
    return build_model(net.graph, output_name(net.graph), net.folded, "split",
                       offsets=add if offsets else None)[0]


def _increment(n: GraphNode, xs: list, net: FSNetwork, builder: GraphBuilder):
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
    builder = GraphBuilder("linear", net.folded, {}, None)
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


#: The ways a window's weighted spikes reach the targets (see the module docstring).
DELIVERIES = ("summed", "per_step")


def _check_delivery(delivery: str) -> None:
    if delivery not in DELIVERIES:
        raise ValueError(f"unknown delivery {delivery!r}: use one of {DELIVERIES}")


def dendrite_models(net: FSNetwork) -> list[tuple[tf.keras.Model, list[int]]]:
    """The synapses *into* each FS layer (graph order, the FS-encoded input excluded) and into
    the read-out (last): a model from the window outputs of the sources it reaches back to
    (through convolutions, pooling and adds, with biases and folded offsets) to its input
    current, and the slots of those sources (0: the image or its FS-encoded frame; 1 + i:
    the i-th FS layer). Summed delivery runs each once per window, with the FS-equivalent
    model's operations in its order; an offset-folded layer's window output already holds its
    offset (:func:`_fs_steps`, as the FS-equivalent layer's kernel adds it)."""
    cut = affine_model(net, offsets=False)
    nodes = {n.name: n for n in net.graph}
    fs = [n.name for n in net.graph if n.is_fs]

    def slots(name: str) -> set[int]:
        n = nodes[name]
        if n.kind == "input":
            return {0}
        if n.is_fs:
            return {1 + fs.index(name)}
        return set().union(*(slots(i) for i in n.inputs))

    out = []
    for k, name in enumerate(fs + [output_name(net.graph)]):
        need = sorted(set().union(*(slots(i) for i in nodes[name].inputs)))
        out.append((tf.keras.Model([cut.inputs[s] for s in need], cut.outputs[k]), need))
    return out


def _deliver(model, frames: list, accs: list) -> list:
    """Per-step delivery: the K spike frames ``(B, ...)`` of a window through the source's
    synapses ``model`` as one batch of K*B, each target's increments added to its input
    ``accs`` step by step, in step order (inside a compiled window function)."""
    S, B = len(frames), tf.shape(frames[0])[0]
    incs = model(tf.concat(frames, 0))
    new = []
    for acc, o in zip(accs, incs if isinstance(incs, (list, tuple)) else [incs]):
        o = tf.reshape(o, tf.concat([[S, B], tf.shape(o)[1:]], 0))
        for t in range(S):
            acc = acc + o[t]
        new.append(acc)
    return new


def _fs_steps(codes: list[tuple], offset=None):
    """One FS layer's K steps as a function ``(start, r) -> (frames, window, counts,
    raster)``: its neurons from membrane ``start`` ``(B, ...)`` (``z = Θ(v - T(t))`` as ``v >=
    T(t)``, the FS-equivalent model's test; ``v -= h(t) z``) -- ``codes``: the ``(h, T, d)``
    (arrays or tensors) of the neurons on ``start`` and, for a signed pair, of those on
    ``-start``; ``offset``: an offset-folded code's constant, or None. Returns the
    weighted spike frames ``d(t) z(t)`` of each step (the second neuron's negative), their sum
    over the window (each neuron's train summed in step order, then the pair subtracted, then
    an offset-folded code's ``offset`` added: the FS-equivalent layer's order), the spikes per
    image ``(B,)`` and image ``r``'s spikes ``(K, n_neurons)``."""
    h, T, d = ([tf.convert_to_tensor(c[k], tf.float32) for c in codes] for k in range(3))
    K, signed = int(h[0].shape[0]), len(codes) == 2

    def steps(start, r):
        B = tf.shape(start)[0]
        v = [start, -start] if signed else [start]
        sums = [tf.zeros_like(start) for _ in v]
        frames, counts, raster = [], tf.zeros([B]), []
        for t in range(K):
            zs = [tf.cast(vv >= T[i][t], tf.float32) for i, vv in enumerate(v)]
            v = [vv - h[i][t] * z for i, (vv, z) in enumerate(zip(v, zs))]
            sums = [s + d[i][t] * z for i, (s, z) in enumerate(zip(sums, zs))]
            frames.append(d[0][t] * zs[0] - d[1][t] * zs[1] if signed else d[0][t] * zs[0])
            counts += tf.add_n([tf.reduce_sum(tf.reshape(z, [B, -1]), 1) for z in zs])
            raster.append(tf.concat([tf.reshape(z[r], [-1]) for z in zs], 0) > 0)
        window = sums[0] - sums[1] if signed else sums[0]
        return frames, window if offset is None else window + offset, counts, tf.stack(raster)

    return steps


def _jra_steps(code: JRACode):
    """:func:`_fs_steps` for a layer of JRA floating-point neurons (:mod:`helpers.fs.jra`).

    Neuron: its membrane saturates at alpha; during the ``elim`` exponent steps it tests
    ``v >= alpha 2^(c - e_max)`` for a candidate exponent ``c`` (a binary search, MSB first;
    adaptive threshold) and spikes on the bits of e (seed code) or e' (improved); then it runs
    the mantissa steps with thresholds ``T_i g`` scaled by its gain ``g = 2^-e``. Synapse: the
    exponent spikes carry no current; they set a gain state per presynaptic neuron (the
    exponent decoded from the received bits), which scales every later mantissa spike's
    weight ``d_i`` (improved: the state also delivers the implicit leading ``alpha g``, the
    first frame). The gains are powers of two, so the window sum (implicit part + the
    gain-scaled mantissa spikes) adds in the FS-equivalent model's order exactly."""
    f32, elim, e_max = np.float32, code.elim, 2 ** code.elim - 1
    a = f32(code.alpha)
    thresholds = tf.constant(a * np.exp2(np.arange(e_max + 1) - e_max).astype(f32))
    gains = tf.constant(np.exp2(-np.arange(e_max + 1)).astype(f32))
    T = code.T.astype(f32)

    def gain(e):
        return tf.gather(gains, tf.minimum(e, e_max - 1) if code.improved else e)

    def steps(start, r):
        B = tf.shape(start)[0]
        v = tf.minimum(start, a)
        ep = tf.zeros_like(v, tf.int32)            # the neuron's exponent search
        received = tf.zeros_like(v, tf.int32)      # what the synapses decoded from spikes
        counts, raster, frames = tf.zeros([B]), [], []
        for k in range(elim):
            c = ep + 2 ** (elim - 1 - k)
            ok = v >= tf.gather(thresholds, c)
            ep = tf.where(ok, c, ep)
            z = ok if code.improved else ~ok
            received += tf.cast(z, tf.int32) * 2 ** (elim - 1 - k)
            counts += tf.reduce_sum(tf.reshape(tf.cast(z, tf.float32), [B, -1]), 1)
            raster.append(tf.reshape(z[r], [-1]))
        e_syn = received if not code.improved else e_max - received
        g, g_syn = gain(e_max - ep), gain(e_syn)
        if code.improved:                          # the implicit leading one
            v = tf.where(ep >= 1, v - a * g, v)
            frames.append(tf.where(received >= 1, a * g_syn, 0.0))
        mantissa = tf.zeros_like(v)
        for t in T:
            z = tf.cast(v >= t * g, tf.float32)
            v = v - (t * g) * z
            frames.append((t * g_syn) * z)
            mantissa = mantissa + frames[-1]
            counts += tf.reduce_sum(tf.reshape(z, [B, -1]), 1)
            raster.append(tf.reshape(z[r], [-1]) > 0)
        window = frames[0] + mantissa if code.improved else mantissa
        return frames, window, counts, tf.stack(raster)

    return steps


def _compile_window(steps, model: tf.keras.Model | None = None):
    """One layer's window as a compiled function. Summed delivery (``model`` None): ``(start,
    r) -> (window output, counts, raster)``; per-step delivery through the source's synapses
    ``model``: ``(start, accs, r) -> (accs, counts, raster)``."""
    if model is None:     # XLA, like the FS-equivalent model's neurons: the same float ops
        @tf.function(reduce_retracing=True, jit_compile=True)
        def summed(start, r):
            _, window, counts, raster = steps(start, r)
            return window, counts, raster
        return summed

    @tf.function(reduce_retracing=True)
    def per_step(start, accs, r):
        frames, _, counts, raster = steps(start, r)
        return _deliver(model, frames, accs), counts, raster
    return per_step


def _stage_order(net: FSNetwork) -> list[int]:
    """Layer indices in stage order: a layer's window opens after the windows of all its
    sources have closed, so its membrane starts from their integrated input."""
    return sorted(range(len(net.layers)), key=lambda j: (net.layers[j].stage, j))


def _simulate_summed(net: FSNetwork, xb: np.ndarray, dendrites: list, windows: list,
                     r: int | None, raster: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``(B, classes)`` and spikes per layer ``(B, L)`` of one batch ``xb`` with summed
    delivery; if ``r`` is an index into the batch, that image's spikes go into ``raster``."""
    has_input = net.input_mode == "fs"
    slots: list = [tf.constant(xb)] + [None] * (len(net.layers) - has_input)
    counts = np.zeros((len(xb), len(net.layers)))
    for j in _stage_order(net):
        if has_input and j == 0:
            start = slots[0]
        else:
            model, need = dendrites[j - has_input]
            start = model([slots[s] for s in need])
        slots[j + 1 - has_input], counts[:, j], ras = windows[j](start, tf.constant(r or 0))
        if r is not None:
            raster[net.layers[j].name] = ras.numpy()
    model, need = dendrites[-1]
    return model([slots[s] for s in need]).numpy(), counts


def _simulate_per_step(net: FSNetwork, xb: np.ndarray, affine, windows: list,
                       spike_shapes: list[tuple], r: int | None,
                       raster: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_simulate_summed` with per-step delivery: the targets start from their constant
    currents (``affine`` with zero spikes) and integrate each source's increments."""
    layers, has_input = net.layers, net.input_mode == "fs"
    B = len(xb)
    zeros_a = [tf.zeros((B,) + shape) for shape in spike_shapes]
    img0 = np.zeros_like(xb) if has_input else xb
    state = list(affine([tf.constant(img0)] + zeros_a))     # FS inputs ..., logits
    counts = np.zeros((B, len(layers)))
    for j in _stage_order(net):
        run, targets = windows[j]
        start = tf.constant(xb) if has_input and j == 0 else state[j - has_input]
        new, counts[:, j], ras = run(start, [state[i] for i in targets], tf.constant(r or 0))
        for i, a in zip(targets, new):
            state[i] = a
        if r is not None:
            raster[layers[j].name] = ras.numpy()
    return state[-1].numpy(), counts


def max_batch(net: FSNetwork, budget_bytes: float = 1.5e9) -> int:
    """The largest batch whose biggest window (K spike frames in, K increment frames out, as
    float32; per-step delivery's worst case) fits in ``budget_bytes``: the memory bound of
    :func:`simulate`."""
    widest = max(info.n_neurons for info in net.layers)
    return max(1, int(budget_bytes // (2 * 4 * net.K * 2 * widest)))


def _layer_steps(info):
    """The step function of one converted layer (:func:`_fs_steps` / :func:`_jra_steps`)."""
    if isinstance(info.code, JRACode):
        if info.signed:
            raise NotImplementedError("JRA floating-point codes are for ReLU layers; "
                                      "signed (input, bottleneck) neurons need FS codes")
        return _jra_steps(info.code)
    return _fs_steps(*_fs_arrays(info))


def _fs_arrays(info) -> tuple[list[tuple[np.ndarray, ...]], float | None]:
    """The ``(h, T, d)`` of an FS layer's neurons (both of a signed pair) and its offset."""
    folded = isinstance(info.code, OffsetCode)
    neg = info.code.negative if folded else info.code
    codes = [info.code, neg] if info.signed else [info.code]
    return ([tuple(np.asarray(a, np.float32) for a in (c.h, c.T, c.d)) for c in codes],
            np.float32(info.code.offset) if folded else None)


#: Summed-delivery windows of FS layers, one XLA function per (signed, offset-folded) kind;
#: the code arrays are arguments, so every layer and network of the same shapes and K re-uses
#: one compiled kernel instead of compiling (and keeping) its own.
_FS_WINDOWS: dict[tuple[bool, bool], Any] = {}


def _summed_window(info):
    """One layer's summed-delivery window ``(start, r) -> (window output, counts, raster)``."""
    if isinstance(info.code, JRACode):
        return _compile_window(_layer_steps(info))
    codes, offset = _fs_arrays(info)
    key = (len(codes) == 2, offset is not None)
    if key not in _FS_WINDOWS:
        @tf.function(jit_compile=True)      # XLA, like the FS-equivalent model's neurons
        def window(start, r, add, *arrays):        # add: the offset (unused if key[1] is False)
            pairs = [arrays[i:i + 3] for i in range(0, len(arrays), 3)]
            _, w, counts, raster = _fs_steps(pairs, add if key[1] else None)(start, r)
            return w, counts, raster
        _FS_WINDOWS[key] = window
    args = [tf.constant(np.float32(0.0) if offset is None else offset)]
    args += [tf.constant(a) for c in codes for a in c]
    return lambda start, r: _FS_WINDOWS[key](start, r, *args)


class EventSimulator:
    """The event-level simulation of ``net``, compiled once (per-layer windows, synapses) and
    run on any number of images; ``delivery``: ``"summed"`` or ``"per_step"`` (module
    docstring); :func:`simulate` is the one-call form."""

    def __init__(self, net: FSNetwork, delivery: str = "summed"):
        _check_delivery(delivery)
        if any(n.kind == "mul" for n in net.graph):
            raise NotImplementedError(
                "event-level simulation needs a purely synaptic network; this one keeps analog "
                "products (squeeze-excite). Convert without analog_products to simulate it")
        self.net, self.delivery = net, delivery
        if delivery == "summed":
            self.dendrites = [(tf.function(m, reduce_retracing=True), need)
                              for m, need in dendrite_models(net)]
            self.windows = [_summed_window(info) for info in net.layers]
            return
        steps = [_layer_steps(info) for info in net.layers]
        cut = affine_model(net)
        self.affine = tf.function(cut, reduce_retracing=True)
        self.spike_shapes = [tuple(t.shape[1:]) for t in cut.inputs[1:]]
        fs_in = net.input_mode == "fs"
        names = [n.name for n in net.graph if n.kind == "input"] if fs_in else []
        names += [n.name for n in net.graph if n.is_fs]
        shapes = ([tuple(cut.inputs[0].shape[1:])] if fs_in else []) + self.spike_shapes
        self.windows = []
        for s, name, shape in zip(steps, names, shapes):
            model, targets = source_model(net, name, shape)
            self.windows.append((_compile_window(s, model), targets))

    def _batch(self, xb: np.ndarray, r: int | None, raster: dict) -> tuple[np.ndarray, np.ndarray]:
        if self.delivery == "summed":
            return _simulate_summed(self.net, xb, self.dendrites, self.windows, r, raster)
        return _simulate_per_step(self.net, xb, self.affine, self.windows, self.spike_shapes,
                                  r, raster)

    def __call__(self, x: np.ndarray, batch_size: int = 250, raster_image: int | None = None,
                 progress: bool = True) -> dict[str, Any]:
        """See :func:`simulate`."""
        batch_size = min(batch_size, max_batch(self.net))
        all_logits, all_spikes = [], []
        raster: dict[str, np.ndarray] = {}
        bar = tqdm(total=len(x), desc="event-level simulation", disable=not progress)
        for b0 in range(0, len(x), batch_size):
            xb = np.asarray(x[b0:b0 + batch_size], dtype=np.float32)
            rec = raster_image is not None and b0 <= raster_image < b0 + len(xb)
            logits, counts = self._batch(xb, raster_image - b0 if rec else None, raster)
            all_logits.append(logits)
            all_spikes.append(counts)
            bar.update(len(xb))
        bar.close()
        out = {"logits": np.concatenate(all_logits), "spikes": np.concatenate(all_spikes),
               "latency_timesteps": self.net.latency_timesteps,
               "layer_names": [i.name for i in self.net.layers]}
        if raster_image is not None:
            out["raster"] = raster
        return out


def simulate(net: FSNetwork, x: np.ndarray, batch_size: int = 250,
             raster_image: int | None = None, progress: bool = True,
             delivery: str = "summed") -> dict[str, Any]:
    """Simulate ``net`` on normalised images ``x`` ``(N, H, W, C)`` event by event.

    Returns ``logits`` ``(N, classes)``, ``spikes`` ``(N, L)`` (spikes per layer and image, in
    ``net.layers`` order), ``latency_timesteps`` and, if ``raster_image`` is an index into
    ``x``, ``raster``: for each layer a bool array ``(K, n_neurons)`` of that image's spikes.
    ``batch_size`` is capped by :func:`max_batch` (memory grows with K and the widest layer).
    ``delivery``: ``"summed"`` or ``"per_step"`` (module docstring).
    """
    return EventSimulator(net, delivery)(x, batch_size, raster_image, progress)


def disagreements(sim: dict[str, Any], eq: dict[str, Any], max_items: int = 20
                  ) -> list[dict[str, Any]]:
    """The images where a simulation ``sim`` (the event-level simulator, or GeNN: logits,
    spikes per image and layer, layer names) and its reference ``eq`` (the FS-equivalent
    model, or the simulator) predict different classes (at most ``max_items``), each with
    what explains it: the reference's margin between its top two logits, the largest logit
    difference between the two, the first layer whose spike count differs (a neuron within
    float32 rounding of a threshold there flips one spike; the flip moves later inputs by
    that spike's weight) and ``explained``: a spike count differs and the logits moved
    enough to swap the top two (margin <= twice the largest logit difference)."""
    out = []
    for i in np.flatnonzero(sim["logits"].argmax(1) != eq["logits"].argmax(1))[:max_items]:
        top2 = np.sort(eq["logits"][i])[-2:]
        diff = np.flatnonzero(sim["spikes"][i] != eq["spikes"][i])
        margin = float(top2[1] - top2[0])
        shift = float(np.abs(sim["logits"][i] - eq["logits"][i]).max())
        out.append({"image": int(i), "equivalent_top2_margin": margin,
                    "max_abs_logit_diff": shift,
                    "first_layer_count_diff": sim["layer_names"][diff[0]] if len(diff) else None,
                    "explained": bool(len(diff) and margin <= 2 * shift)})
    return out


def agreement(net: FSNetwork, x: np.ndarray, y: np.ndarray | None = None,
              batch_size: int = 250, progress: bool = True, delivery: str = "summed"
              ) -> dict[str, Any]:
    """Compare the event-level simulation (``delivery``: see the module docstring) with the
    FS-equivalent model on images ``x``: same predictions, logits, spike counts (in total,
    per image and layer, per image) and the disagreements (:func:`disagreements`)."""
    sim = simulate(net, x, batch_size, progress=progress, delivery=delivery)
    eq = net.run(x, batch_size)
    p_sim, p_eq = sim["logits"].argmax(1), eq["logits"].argmax(1)
    equal = sim["spikes"] == eq["spikes"]
    res = {"n_images": int(len(x)),
           "same_prediction": float(np.mean(p_sim == p_eq)),
           "max_abs_logit_diff": float(np.max(np.abs(sim["logits"] - eq["logits"]))),
           "max_abs_logit": float(np.max(np.abs(eq["logits"]))),
           "spike_count_rel_diff": float(np.abs(sim["spikes"].sum() - eq["spikes"].sum())
                                         / max(1.0, eq["spikes"].sum())),
           "layer_counts_equal": float(equal.mean()),
           "images_all_counts_equal": float(equal.all(1).mean()),
           "disagreements": disagreements(sim, eq),
           "latency_timesteps": sim["latency_timesteps"], "delivery": delivery}
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
