"""Codes designed for the EfficientNet-Lite network they run in (notebook 07).

The network is converted once with the binary code to fix each FS layer's scale α_l (the
converter's statistic of its calibration inputs); the inputs of every FS layer on the
calibration images, divided by α_l, are the design data: ReLU6 layers ``min(v, 6) / α_l``
(the ceiling included), the signed identity neurons of the linear bottlenecks ``±v / α_l``
(each of the pair sees one sign). From them: distribution-aware codes (with spike prices λ)
pooled over all layers of a kind, and per layer (one spike price for all layers, or prices
scaled by each layer's size or divided by its loss sensitivity, :func:`layer_sensitivities`);
the JRA floating-point code on the ReLU6 layers. Every candidate is a :class:`Candidate`
that :func:`convert_candidate` turns into a network, with empirical bias correction if asked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from helpers.fs import codes as code_families
from helpers.fs.jra import jra_code
from helpers.fs.neuron import FSCode
from helpers.snn.bias import BIAS_NOTE, bias_corrected
from helpers.snn.convert import convert
from helpers.snn.graph import output_name
from helpers.snn.network import FSNetwork, build_model

KINDS = ("relu6", "identity")


@dataclass(frozen=True)
class Candidate:
    """One way to convert the network: ``relu6`` and ``bottleneck`` codes in normalised units
    (input scale 1), or ``layer_codes`` per FS layer in the layer's units (then ``relu6``
    only names the candidate in results rows); with ``bias_images`` > 0, the converted
    network's biases are then corrected on the first that many calibration images with
    ``bias_estimator`` (:func:`helpers.snn.bias.bias_corrected`)."""

    relu6: FSCode
    bottleneck: FSCode
    layer_codes: dict[str, FSCode] | None = None
    bias_images: int = 0
    bias_estimator: str = "mean"

    @property
    def name(self) -> str:
        return self.relu6.name + (BIAS_NOTE if self.bias_images else "")


def layer_samples(net: FSNetwork, x: np.ndarray, max_per_layer: int = 20_000, seed: int = 0,
                  batch_size: int = 16) -> dict[str, np.ndarray]:
    """Normalised inputs of every FS layer of ``net`` on images ``x`` (see the module
    docstring), at most ``max_per_layer`` per layer by layer name: a seeded random subset,
    drawn batch by batch in proportion to the batch's size, so memory stays at one batch's
    activations (Lite0: 7.3 million FS neurons per image)."""
    ann, pre = build_model(net.graph, output_name(net.graph), net.ann_folded, "ann")
    info = {i.name: i for i in net.layers}
    names = [k for k in pre if k in info]
    probe = tf.keras.Model(ann.inputs, [pre[k] for k in names])
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in names}
    for i in range(0, len(x), batch_size):
        outs = probe(x[i:i + batch_size], training=False)
        share = int(np.ceil(max_per_layer * len(x[i:i + batch_size]) / len(x)))
        for k, o in zip(names, outs if isinstance(outs, (list, tuple)) else [outs]):
            v = np.asarray(o, np.float64).ravel()
            v = np.minimum(v, 6.0) if info[k].activation == "relu6" else np.concatenate([v, -v])
            if v.size > share:
                v = rng.choice(v, share, replace=False)
            parts[k].append(v / info[k].scale)
    out = {}
    for k, p in parts.items():
        v = np.concatenate(p)
        out[k] = v if v.size <= max_per_layer else rng.choice(v, max_per_layer, replace=False)
    return out


def _as(code: FSCode, activation: str, name: str, **meta) -> FSCode:
    """``code`` for layers of ``activation`` (normalised units), renamed, with ``meta``."""
    return FSCode(name, activation, code.h, code.T, code.d, code.x_range,
                  {**code.meta, "input_scale": 1.0, **meta})


def pooled_candidates(samples: dict[str, np.ndarray], kinds: dict[str, str], K_list,
                      lambdas, jra_specs, *, progress: bool = True) -> list[Candidate]:
    """Binary, distribution-aware (each λ of ``lambdas``: one code per kind, designed on the
    pooled samples of its layers) and JRA floating point on the ReLU6 layers (``(mantissa K,
    exponent steps)`` of ``jra_specs``, binary bottlenecks with as many steps) for every K.
    ``kinds``: each layer's kind ("relu6" / "identity")."""
    pooled = {kind: np.concatenate([v for k, v in samples.items() if kinds[k] == kind])
              for kind in KINDS}
    out = [Candidate(_as(code_families.binary(K), "relu6", f"binary_K{K}"),
                     code_families.binary(K)) for K in K_list]
    jobs = [(K, lam) for K in K_list for lam in lambdas]
    for K, lam in tqdm(jobs, desc="pooled codes", disable=not progress):
        tag = f"lam{lam:g}_K{K}"
        c = {kind: code_families.distribution_aware(pooled[kind], K, lam) for kind in KINDS}
        out.append(Candidate(_as(c["relu6"], "relu6", f"lite_distaware_{tag}", lam=lam),
                             _as(c["identity"], "identity", f"lite_bottleneck_{tag}", lam=lam)))
    for m, e in jra_specs:
        for improved in (False, True):
            jra = jra_code(m, e, 1.0, improved)
            out.append(Candidate(jra, code_families.binary(m + e)))
    return out


def layer_sensitivities(net: FSNetwork, x: np.ndarray, *, seed: int = 0,
                        batch_size: int = 16) -> dict[str, float]:
    """How much the network's loss grows per unit of squared code error in each FS layer of
    ``net``, by layer name: ``α_l² · E[g²]``, the mean over the layer's neurons and the images
    ``x`` of the squared gradient ``g`` of the cross-entropy with respect to the layer's
    pre-activation, at a label drawn from the ANN's own softmax (a Monte-Carlo estimate of the
    Fisher information's diagonal: to second order a code error δ in normalised units costs
    ``½ · α_l² · E[g²] · δ²`` per neuron). ReLU6 layers: g is 0 where the neuron is silent
    or above its ceiling. Seeded: the same ``seed`` draws the same labels."""
    ann, pre = build_model(net.graph, output_name(net.graph), net.ann_folded, "ann")
    info = {i.name: i for i in net.layers}
    names = [k for k in pre if k in info]
    probe = tf.keras.Model(ann.inputs, [*(pre[k] for k in names), *ann.outputs])
    rng = np.random.default_rng(seed)
    total = dict.fromkeys(names, 0.0)
    for i in range(0, len(x), batch_size):
        with tf.GradientTape() as tape:
            *acts, logits = probe(x[i:i + batch_size], training=False)
            p = tf.nn.softmax(logits).numpy().astype(np.float64)
            y = np.array([rng.choice(p.shape[1], p=q / q.sum()) for q in p])
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        for k, g in zip(names, tape.gradient(loss, acts)):
            total[k] += float(tf.reduce_sum(tf.square(g))) / (g.shape[1:].num_elements())
    return {k: info[k].scale ** 2 * v / len(x) for k, v in total.items()}


def per_layer_candidates(samples: dict[str, np.ndarray], net: FSNetwork, K_list, lambdas, *,
                         weighted_lambdas=(), fisher_lambdas=(),
                         sensitivity: dict[str, float] | None = None,
                         progress: bool = True) -> list[Candidate]:
    """A distribution-aware code for every FS layer of ``net`` (its own samples, in its own
    units α_l) for each K and spike price: the network-specific design taken to single layers.

    ``lambdas``: one price λ for every layer. ``weighted_lambdas``: prices scaled by each
    layer's size, λ_l = λ · n_l / n̄ (n_l its neurons per image, n̄ their mean over layers) --
    the Lagrangian of "least squared error summed over layers, at a given mean number of
    spikes per neuron of the network": a spike in a layer of many neurons weighs more in that
    mean, so big layers buy fewer spikes and small ones keep their precision.
    ``fisher_lambdas``: prices divided by each layer's ``sensitivity`` (see
    :func:`layer_sensitivities`), λ_l = λ · s̄ / s_l (s̄ their geometric mean) -- the
    Lagrangian of "least loss increase at a given mean number of spikes per neuron": the
    layer's squared error counts n_l · s_l times in the loss and its spikes n_l times in the
    mean, so n_l cancels and layers the loss barely feels buy few spikes."""
    n = np.array([i.n_neurons for i in net.layers], dtype=np.float64)
    scales = {"per_layer": np.ones_like(n), "per_layer_weighted": n / n.mean()}
    if fisher_lambdas:
        if sensitivity is None or any(not sensitivity.get(i.name, 0) > 0 for i in net.layers):
            raise ValueError("fisher_lambdas need a positive sensitivity for every FS layer: "
                             "pass sensitivity=layer_sensitivities(net, x_calib)")
        s = np.array([sensitivity[i.name] for i in net.layers])
        scales["per_layer_fisher"] = np.exp(np.log(s).mean()) / s
    prices = ([(lam, "per_layer") for lam in lambdas]
              + [(lam, "per_layer_weighted") for lam in weighted_lambdas]
              + [(lam, "per_layer_fisher") for lam in fisher_lambdas])
    out = []
    for K in K_list:
        for lam, kind in prices:
            layer_codes = {}
            for info, w in tqdm(list(zip(net.layers, scales[kind])), disable=not progress,
                                desc=f"{kind.replace('_', ' ')} codes K={K} λ={lam:g}"):
                c = code_families.distribution_aware(samples[info.name], K, lam * float(w))
                layer_codes[info.name] = _as(c, info.activation, f"{info.name}_{c.name}").scaled(
                    info.scale).with_meta(layer_scale_value=info.scale)
            name = _as(code_families.binary(K), "relu6", f"lite_distaware_{kind}_lam{lam:g}_K{K}",
                       family=f"distribution_aware_{kind}", lam=lam)
            out.append(Candidate(name, code_families.binary(K), layer_codes))
    return out


def convert_candidate(model, cand: Candidate, x_calib: np.ndarray, input_mode: str = "analog",
                      spiking_bottlenecks: bool = True) -> FSNetwork:
    """``model`` converted with ``cand`` (bottlenecks as signed identity FS neurons unless
    ``spiking_bottlenecks`` is False: then analog, and per-layer codes are not allowed), its
    biases corrected on the first ``cand.bias_images`` of ``x_calib`` (if any)."""
    if cand.layer_codes is not None and not spiking_bottlenecks:
        raise ValueError(f"{cand.name}: per-layer codes include the bottleneck neurons; "
                         "convert it with spiking bottlenecks")
    net = convert(model, {"relu6": cand.relu6}, x_calib, input_mode=input_mode,
                  bottleneck_code=cand.bottleneck if spiking_bottlenecks else None,
                  layer_codes=cand.layer_codes)
    if cand.bias_images > len(x_calib):
        raise ValueError(f"{cand.name}: bias_images={cand.bias_images} but only "
                         f"{len(x_calib)} calibration images. Fix: lower it or calibrate "
                         "with more images")
    if not cand.bias_images:
        return net
    return bias_corrected(net, x_calib[:cand.bias_images], cand.bias_estimator)
