"""Rate-coded baseline: the classic ANN-to-SNN conversion, to compare FS codes against.

Integrate-and-fire (IF) neurons with reset by subtraction replace every ReLU; thresholds come
from data-based normalisation (DataNorm, Diehl et al. 2015; Rueckauer et al. 2017, as in
mlGeNN): the threshold of layer l is the maximum or the 99.9th percentile of its ReLU
activations on calibration images, and each spike carries that value to the next layer. All
layers update every timestep; a layer sees the spikes its sources emitted in the previous
step (one step of synaptic delay per layer). The read-out integrates its input current; the
prediction after T steps is the argmax of the accumulated current.

Input: ``"constant"`` (the analog image is injected as a current every step) or
``"poisson"`` (each pixel emits signed spikes with probability |x| / x_max per step, each
carrying x_max).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from helpers.snn.graph import output_name
from helpers.snn.network import FSNetwork, build_model


def _check_rate_args(net: FSNetwork, norm: str, input_mode: str) -> None:
    if any(info.activation not in ("relu",) for info in net.layers if info.name != "input"):
        raise ValueError("rate coding with IF neurons approximates ReLU only; this network has "
                         f"{sorted({i.activation for i in net.layers})} activations")
    if norm not in ("max", "percentile"):
        raise ValueError(f"norm must be 'max' or 'percentile', got {norm!r}")
    if input_mode not in ("constant", "poisson"):
        raise ValueError(f"input_mode must be 'constant' or 'poisson', got {input_mode!r}")


def _thresholds(ann: tf.keras.Model, pre: dict[str, tf.Tensor], x_calib: np.ndarray,
                norm: str, percentile: float) -> list[float]:
    """DataNorm threshold of every ReLU layer: the maximum or the ``percentile`` of its
    positive activations on ``x_calib`` (1.0 if it has none)."""
    probe = tf.keras.Model(ann.inputs, [tf.nn.relu(t) for t in pre.values()])
    acts = probe(x_calib, training=False)
    acts = acts if isinstance(acts, (list, tuple)) else [acts]
    lam = []
    for a in acts:
        a = np.asarray(a)
        pos = a[a > 0]
        lam.append(float((pos.max() if norm == "max" else np.percentile(pos, percentile))
                         if pos.size else 1.0))
    return lam


def _rate_batch(affine, shapes: list[tuple], xb: np.ndarray, yb: np.ndarray, lam: list[float],
                T_list: list[int], input_mode: str, x_max: float, rng: np.random.Generator,
                bar) -> dict[int, tuple[int, float, float]]:
    """Run IF neurons on one batch for ``max(T_list)`` steps; for each T in ``T_list``: the
    number of correct predictions, IF spikes and input spikes after T steps."""
    B = len(xb)
    s = [np.zeros((B,) + shape, np.float32) for shape in shapes]
    v = [np.zeros_like(a) for a in s]
    out_acc = 0.0
    n_spk = 0.0
    n_in = 0.0
    counts = {}
    for t in range(1, T_list[-1] + 1):
        if input_mode == "constant":
            img = xb
        else:
            fire = rng.random(xb.shape) < np.abs(xb) / x_max
            img = (np.sign(xb) * fire * x_max).astype(np.float32)
            n_in += fire.sum()
        cur = [o.numpy() for o in affine([img] + [si * li for si, li in zip(s, lam)])]
        for i in range(len(v)):
            v[i] += cur[i]
            z = (v[i] >= lam[i]).astype(np.float32)
            v[i] -= z * lam[i]
            s[i] = z
            n_spk += z.sum()
        out_acc = out_acc + cur[-1]
        if t in T_list:
            counts[t] = (int(np.sum(np.argmax(out_acc, 1) == yb)), n_spk, n_in)
        bar.update(B)
    return counts


def rate_simulate(net: FSNetwork, x: np.ndarray, y: np.ndarray, T_list: Iterable[int],
                  x_calib: np.ndarray, norm: str = "percentile", percentile: float = 99.9,
                  input_mode: str = "constant", batch_size: int = 100, seed: int = 0,
                  progress: bool = True) -> list[dict[str, Any]]:
    """Accuracy and spikes per neuron of the rate-coded network after each T in ``T_list``.

    ``net``: a converted network (only its BN-folded graph is used, without bias correction;
    every activation must be ReLU). Returns one row per T: ``T``, ``accuracy``,
    ``mean_spikes_per_neuron`` (IF neurons; Poisson input spikes reported separately as
    ``input_spikes_per_pixel``).
    """
    _check_rate_args(net, norm, input_mode)
    output = output_name(net.graph)
    affine_model, _ = build_model(net.graph, output, net.ann_folded, "split")
    ann, pre = build_model(net.graph, output, net.ann_folded, "ann")

    @tf.function(reduce_retracing=True)
    def affine(inputs):
        return affine_model(inputs, training=False)

    lam = _thresholds(ann, pre, x_calib, norm, percentile)
    x_max = float(np.abs(x_calib).max())
    T_list = sorted({int(t) for t in T_list})
    shapes = [tuple(t.shape[1:]) for t in affine_model.inputs[1:]]
    n_neurons = sum(int(np.prod(shape)) for shape in shapes)
    rng = np.random.default_rng(seed)
    correct = {t: 0 for t in T_list}
    spikes = {t: 0.0 for t in T_list}
    in_spikes = {t: 0.0 for t in T_list}
    bar = tqdm(total=len(x) * T_list[-1], desc=f"rate {norm}/{input_mode}",
               disable=not progress, mininterval=2.0)
    for b0 in range(0, len(x), batch_size):
        xb = np.asarray(x[b0:b0 + batch_size], np.float32)
        yb = np.asarray(y[b0:b0 + batch_size])
        batch = _rate_batch(affine, shapes, xb, yb, lam, T_list, input_mode, x_max, rng, bar)
        for t, (n_correct, n_spk, n_in) in batch.items():
            correct[t] += n_correct
            spikes[t] += n_spk
            in_spikes[t] += n_in
    bar.close()
    n_pix = float(np.prod(x.shape[1:]))
    return [{"T": t, "accuracy": correct[t] / len(x),
             "mean_spikes_per_neuron": spikes[t] / (len(x) * n_neurons),
             "input_spikes_per_pixel": in_spikes[t] / (len(x) * n_pix),
             "norm": norm, "input": input_mode, "thresholds": lam, "n": int(len(x))}
            for t in T_list]
