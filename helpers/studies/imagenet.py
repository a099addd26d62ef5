"""Notebook 07's studies: EfficientNet-Lite on the ImageNet sample as a spiking network with
codes designed for it (calibration / validation / evaluation parts of the sample), and the
optional Keras EfficientNetB0 path with analog squeeze-excite products."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from helpers.ann.metrics import topk_hits
from helpers.fs import codes as code_families
from helpers.fs.neuron import FSCode
from helpers.selection import UNCORRECTED_TWIN, bias_correction_targets, chosen_per_K
from helpers.snn.convert import convert
from helpers.snn.network import FSNetwork
from helpers.snn.stability import noise_draws
from helpers.studies.lite_codes import (BIAS_NOTE, Candidate, convert_candidate, layer_samples,
                                        layer_sensitivities, per_layer_candidates,
                                        pooled_candidates)
from helpers.studies.rows import net_row, snn_energy, verified


#: What notebook 07 may choose codes by on the validation part (row fields, smaller is
#: better): the top-1 gap to the ANN (pp) or the fraction of images whose class differs from
#: the ANN's.
SELECTION_METRICS = ("accuracy_gap_pp", "ann_disagreement")


def sample_parts(n: int, n_calib: int, n_val: int) -> dict[str, slice]:
    """The three parts of an image sample, in file order: ``calib`` (layer scales and code
    design), ``val`` (every choice), ``eval`` (the reported numbers)."""
    if n_calib < 1 or n_val < 1 or n_calib + n_val >= n:
        raise ValueError(f"n_calib={n_calib} + n_val={n_val} must leave evaluation images out "
                         f"of {n} (and each be >= 1). Fix: lower them or use more images")
    return {"calib": slice(0, n_calib), "val": slice(n_calib, n_calib + n_val),
            "eval": slice(n_calib + n_val, n)}


def _ann_check(model, x: np.ndarray, y: np.ndarray, batch_size: int, parts: dict[str, slice]
               ) -> tuple[dict[str, Any], np.ndarray]:
    """Top-1 / top-5 of the ported ANN on all images and on each part; its logits."""
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    hit1, hit5 = logits.argmax(1) == y, topk_hits(logits, y, 5)
    ann = {"top1": float(hit1.mean()), "top5": float(hit5.mean()), "n_images": int(len(y)),
           **{f"{k}_top1": float(hit1[s].mean()) for k, s in parts.items()},
           **{f"{k}_top5": float(hit5[s].mean()) for k, s in parts.items()}}
    print(f"ANN (port check) on all {len(y)} images: top-1 {ann['top1']:.2%}, top-5 "
          f"{ann['top5']:.2%}")
    return ann, logits


def _row(model, cand: Candidate, x_cal, x, y, *, split: str, ann: dict, model_name: str,
         batch_size: int, input_mode: str = "analog", spiking: bool = True,
         ann_predictions: np.ndarray | None = None):
    """One results row of ``cand`` on ``(x, y)`` (the sample's ``split``), and the network
    (``ann_predictions``: the ANN's classes on ``x``, for the row's ``ann_disagreement``)."""
    net = convert_candidate(model, cand, x_cal, input_mode, spiking)
    row = net_row(net, x, y, model_name=model_name, batch_size=batch_size,
                  ann_accuracy=ann[f"{split}_top1"], split=split,
                  ann_predictions=ann_predictions)
    row.update(code=cand.name, n_images=int(len(y)), ann_top1=ann[f"{split}_top1"],
               ann_top5=ann[f"{split}_top5"], snn_top1=row["snn_accuracy"],
               lam=cand.relu6.meta.get("lam"), per_layer_codes=cand.layer_codes is not None,
               bias_images=cand.bias_images,
               bias_estimator=cand.bias_estimator if cand.bias_images else None)
    print(f"{split:>4} {cand.name:>36} {input_mode:>6} {row['bottlenecks']:>8} bottlenecks: "
          f"top-1 {row['snn_accuracy']:.2%} (ANN {row['ann_accuracy']:.2%}), "
          f"{row['mean_spikes_per_neuron']:.3f} spikes/neuron, latency {row['latency_timesteps']}")
    return row, net


#: Each designed family's price keyword of :func:`design_candidates`.
FAMILY_PRICES = {"distribution_aware": "lambdas", "distribution_aware_per_layer":
                 "per_layer_lambdas", "distribution_aware_per_layer_weighted": "weighted_lambdas",
                 "distribution_aware_per_layer_fisher": "fisher_lambdas"}


def design_candidates(model, x_cal: np.ndarray, *, K_list, lambdas, per_layer_lambdas,
                      jra_specs, weighted_lambdas=(), fisher_lambdas=(), resnet_codes=(),
                      max_per_layer: int = 20_000, seed: int = 0, batch_size: int = 16
                      ) -> tuple[list[Candidate], dict[str, float]]:
    """Every candidate for ``model`` (:mod:`helpers.studies.lite_codes`), designed on its own
    FS layers' inputs on ``x_cal`` (scales from the binary code at the largest K), plus the
    ``resnet_codes`` (notebook 03's codes, designed on the CIFAR-10 ResNet) as they are; and
    each FS layer's sensitivity on ``x_cal`` (:func:`layer_sensitivities`, by layer name)."""
    K = max(K_list)
    base = convert_candidate(model, Candidate(code_families.binary(K), code_families.binary(K)),
                             x_cal)
    samples = layer_samples(base, x_cal, max_per_layer, seed, batch_size)
    sens = layer_sensitivities(base, x_cal, seed=seed, batch_size=batch_size)
    kinds = {i.name: i.activation for i in base.layers}
    base.release()
    return (pooled_candidates(samples, kinds, K_list, lambdas, jra_specs)
            + per_layer_candidates(samples, base, K_list, per_layer_lambdas,
                                   weighted_lambdas=weighted_lambdas,
                                   fisher_lambdas=fisher_lambdas, sensitivity=sens)
            + [Candidate(c.with_meta(family="resnet_designed"), c) for c in resnet_codes]), sens


def _bias_corrected_twins(model, cands: dict[str, Candidate], val_rows: list, bias: dict,
                          metric: str, x_cal, x_val, y_val, **kw) -> list[dict[str, Any]]:
    """Validation rows of the designed codes :func:`chosen_per_K` picks (the best at each K
    and the headline code, references aside: :func:`bias_correction_targets`) again with
    empirical bias correction (``bias``: :class:`Candidate`'s ``bias_images`` and
    ``bias_estimator``); the twins are added to ``cands``."""
    rows = []
    for v in bias_correction_targets(val_rows, metric=metric):
        twin = replace(cands[v["code"]], **bias)
        cands[twin.name] = twin
        row, net = _row(model, twin, x_cal, x_val, y_val, split="val", **kw)
        rows.append(row)
        net.release()
    return rows


def _eval_rows(model, cands: dict[str, Candidate], chosen: dict[str, Any], x_cal, x_ev, y_ev,
               fs_input_K: int, n_sim: int, **kw) -> list[dict[str, Any]]:
    """Evaluation-part rows of one code ``chosen`` on the validation part (its row, with
    ``chosen_on``): analog input and spiking bottlenecks; the binary code at ``fs_input_K``
    also with FS-encoded input and with analog bottlenecks; a bias-corrected headline code
    also without the correction (:data:`UNCORRECTED_TWIN`). Chosen codes' rows (not the
    references', not the comparison's) are simulated event by event on ``n_sim`` images."""
    cand, why = cands[chosen["code"]], chosen["chosen_on"]
    variants = [(cand, "analog", True, why)]
    if chosen["code"] == f"binary_K{fs_input_K}":     # FS-encoded input; analog bottlenecks
        variants += [(cand, "fs", True, why), (cand, "analog", False, why)]
    if cand.bias_images and why.endswith("(best_code)"):
        variants.append((replace(cand, bias_images=0), "analog", True, UNCORRECTED_TWIN))
    rows = []
    for c, mode, spiking, why in variants:
        row, net = _row(model, c, x_cal, x_ev, y_ev, split="eval", input_mode=mode,
                        spiking=spiking, **kw)
        row["chosen_on"] = why
        if n_sim and spiking and mode == "analog" and why.startswith("val:"):
            row.update(verified(net, x_ev[:n_sim], y_ev[:n_sim]))   # chosen: event by event
        rows.append(row)
        net.release()
    return rows


def lite_design_study(model, x: np.ndarray, y: np.ndarray, *, n_calib: int, n_val: int,
                   K_list, lambdas, per_layer_lambdas, jra_specs, fs_input_K: int,
                   weighted_lambdas=(), fisher_lambdas=(), resnet_codes=(), n_sim: int,
                   batch_size: int, seed: int = 0,
                   metric: str = "accuracy_gap_pp", bias_images: int = 0,
                   bias_estimator: str = "mean",
                   model_name: str = "efficientnet_lite0") -> dict[str, Any]:
    """Notebook 07's computation: the ANN check, codes designed for ``model`` on the
    calibration part (:func:`design_candidates`), every candidate on the validation part,
    and what :func:`helpers.selection.chosen_per_K` picks there by ``metric`` (a row field
    to minimise: ``accuracy_gap_pp``, or ``ann_disagreement``, the fraction of images whose
    class differs from the ANN's; per K the best designed code, every reference, the
    headline code) on the evaluation part, fully spiking; the
    chosen codes (not the references) also simulated event by event on the first ``n_sim``
    evaluation images; the binary code at ``fs_input_K`` also with FS-encoded input and
    with analog bottlenecks. With ``bias_images`` > 0 the designed codes chosen so (per K
    and the headline) are also validated with empirical bias correction on that many
    calibration images and ``bias_estimator`` (:func:`_bias_corrected_twins`), and compete
    in the choice; a chosen corrected headline code's uncorrected twin is scored on the
    evaluation part beside it, for comparison."""
    if metric not in SELECTION_METRICS:
        raise ValueError(f"metric={metric!r}: choose one of {SELECTION_METRICS}")
    parts = sample_parts(len(y), n_calib, n_val)
    ann, logits = _ann_check(model, x, y, batch_size, parts)
    (x_cal, _), (x_val, y_val), (x_ev, y_ev) = ((x[s], y[s]) for s in parts.values())
    ann_val, ann_ev = (logits[parts[k]].argmax(1) for k in ("val", "eval"))
    designed, sens = design_candidates(
        model, x_cal, K_list=K_list, lambdas=lambdas, per_layer_lambdas=per_layer_lambdas,
        jra_specs=jra_specs, weighted_lambdas=weighted_lambdas, fisher_lambdas=fisher_lambdas,
        resnet_codes=resnet_codes, seed=seed, batch_size=batch_size)
    cands = {c.name: c for c in designed}
    kw = dict(ann=ann, model_name=model_name, batch_size=batch_size)
    val_rows = []
    for c in cands.values():
        row, net = _row(model, c, x_cal, x_val, y_val, split="val", ann_predictions=ann_val,
                        **kw)
        val_rows.append(row)
        net.release()
    if bias_images:
        bias = {"bias_images": bias_images, "bias_estimator": bias_estimator}
        val_rows += _bias_corrected_twins(model, cands, val_rows, bias, metric, x_cal, x_val,
                                          y_val, ann_predictions=ann_val, **kw)
    rows = val_rows + [row for v in chosen_per_K(val_rows, metric=metric)
                       for row in _eval_rows(model, cands, v, x_cal, x_ev, y_ev, fs_input_K,
                                             n_sim, ann_predictions=ann_ev, **kw)]
    return {"n_calib": n_calib, "n_val": n_val, "n_eval": int(len(y_ev)), "ann": ann,
            "metric": metric,
            "parts": {k: [s.start, s.stop] for k, s in parts.items()}, "seed": seed,
            "caveat": "shipped 1,300-image sample: easier than the full validation set",
            "bias_images": bias_images, "bias_estimator": bias_estimator,
            "layer_sensitivity": sens, "rows": rows}


def headline_row(results: dict[str, Any]) -> dict[str, Any]:
    """The headline row of a :func:`lite_design_study` result: the designed code chosen on the
    validation part, on the evaluation part."""
    for r in results["rows"]:
        if str(r.get("chosen_on", "")).endswith("(best_code)"):
            return r
    raise ValueError("the study has no headline row: no designed code met the spike rule on "
                     "the validation part. Fix: add codes with fewer spikes (spike prices, "
                     "smaller K) to the study")


def _recipe_bias(recipe: dict[str, Any]) -> dict[str, Any]:
    """A headline row's bias correction, as :class:`Candidate` fields."""
    return {"bias_images": int(recipe.get("bias_images") or 0),
            "bias_estimator": recipe.get("bias_estimator") or "mean"}


def recipe_candidates(model, x_cal: np.ndarray, recipe: dict[str, Any], *, seed: int = 0,
                      batch_size: int = 16) -> tuple[list[Candidate], dict[str, float]]:
    """``recipe`` (a headline row: its family, K, spike price and bias correction) designed
    for ``model`` on its calibration images ``x_cal``: the binary code at that K, the
    recipe's code without and (last) with its bias correction -- the recipe as chosen; only
    the binary code if the family is not designed anew per network. And each FS layer's
    sensitivity (:func:`design_candidates`)."""
    K, lam, fam = int(recipe["K"]), recipe.get("lam"), recipe["family"]
    bias = _recipe_bias(recipe)
    prices = {kw: [lam] if fam == f else [] for f, kw in FAMILY_PRICES.items()}
    cands, sens = design_candidates(model, x_cal, K_list=[K], jra_specs=[], **prices,
                                    seed=seed, batch_size=batch_size)
    base = recipe["code"].removesuffix(BIAS_NOTE)
    keep = [c for c in cands if c.name in (f"binary_K{K}", base)]
    found = [c for c in keep if c.name == base]
    if not found:
        print(f"{recipe['code']} ({fam}) is not designed anew per network: binary only")
    elif bias["bias_images"]:         # the recipe as chosen, and without the correction
        keep.append(replace(found[0], **bias))
    return keep, sens


def carried_over(model, x: np.ndarray, y: np.ndarray, recipe: dict[str, Any], *, n_calib: int,
                 n_val: int, n_sim: int, batch_size: int, seed: int = 0,
                 model_name: str = "efficientnet_lite2") -> dict[str, Any]:
    """A second network with the recipe chosen on the first (``recipe``: its headline row):
    the ANN check, then that recipe designed anew on this network's own calibration inputs
    (with its bias correction, and without it) and the binary code at the same K
    (:func:`recipe_candidates`), on the evaluation part (same parts as the first network),
    each simulated event by event on ``n_sim`` images. Nothing is chosen here."""
    parts = sample_parts(len(y), n_calib, n_val)
    ann, logits = _ann_check(model, x, y, batch_size, parts)
    (x_cal, _), _, (x_ev, y_ev) = ((x[s], y[s]) for s in parts.values())
    ann_ev = logits[parts["eval"]].argmax(1)
    keep, sens = recipe_candidates(model, x_cal, recipe, seed=seed, batch_size=batch_size)
    rows = []
    for c in keep:
        row, net = _row(model, c, x_cal, x_ev, y_ev, split="eval", ann=ann,
                        model_name=model_name, batch_size=batch_size, ann_predictions=ann_ev)
        if n_sim:
            row.update(verified(net, x_ev[:n_sim], y_ev[:n_sim]))
        rows.append(row)
        net.release()
    return {"model": model_name, "ann": ann,
            "recipe": {"code": recipe["code"], "family": recipe["family"], "K": int(recipe["K"]),
                       "lam": recipe.get("lam"), **_recipe_bias(recipe)},
            "layer_sensitivity": sens, "rows": rows}


def rebuilt_headline(model, x: np.ndarray, y: np.ndarray, lite0: dict[str, Any], *,
                     batch_size: int) -> tuple[FSNetwork, dict[str, slice], dict[str, Any]]:
    """The headline network of ``lite0`` (a :func:`lite_design_study` result on the same
    images) built again: its recipe designed on the calibration part with the study's seed
    (:func:`recipe_candidates`) and converted. Returns ``(network, the sample's parts,
    headline_check)``; the check compares the rebuilt network's FS-equivalent top-1 and spikes
    on all evaluation images with the recorded headline row (equal: the same network)."""
    head = headline_row(lite0)
    parts = sample_parts(len(y), lite0["n_calib"], lite0["n_val"])
    x_cal, x_ev, y_ev = x[parts["calib"]], x[parts["eval"]], y[parts["eval"]]
    cand = recipe_candidates(model, x_cal, head, seed=lite0["seed"],
                             batch_size=batch_size)[0][-1]
    if cand.name != head["code"]:
        raise ValueError(f"the headline code {head['code']!r} cannot be designed again from "
                         f"its row (got {cand.name!r}); only designed families can be rebuilt")
    net = convert_candidate(model, cand, x_cal)
    full = net.run(x_ev, batch_size=batch_size)
    n_neurons = sum(info.n_neurons for info in net.layers)
    check = {"n_images": int(len(y_ev)),
             "snn_top1": float(np.mean(full["logits"].argmax(1) == y_ev)),
             "recorded_snn_top1": head["snn_top1"],
             "mean_spikes_per_neuron": float(full["spikes"].sum(1).mean() / n_neurons),
             "recorded_mean_spikes_per_neuron": head["mean_spikes_per_neuron"]}
    return net, parts, check


def lite_genn_study(model, x: np.ndarray, y: np.ndarray, lite0: dict[str, Any], *,
                    n_genn: int, batch_size: int, backend: str | None = None,
                    model_name: str = "efficientnet_lite0", progress: bool = True
                    ) -> dict[str, Any]:
    """The headline network of ``lite0`` (:func:`rebuilt_headline`, with its check) on GeNN:
    the first ``n_genn`` evaluation images through GeNN (our FS neurons; depthwise
    convolutions as explicit synapses; the bottlenecks' signed identity neurons side by
    side), the event-level simulator and the FS-equivalent model
    (:func:`helpers.studies.genn.network_rows`; ``rows`` follow notebook 05's mlgenn.json)."""
    from helpers.studies.genn import Images, network_rows

    net, parts, check = rebuilt_headline(model, x, y, lite0, batch_size=batch_size)
    x_cal, x_ev, y_ev = x[parts["calib"]], x[parts["eval"]], y[parts["eval"]]
    ann_pred = model.predict(x_ev[:n_genn], batch_size=batch_size, verbose=0).argmax(1)
    im = Images(model_name, model, x_cal, x_ev[:n_genn], y_ev[:n_genn], ann_pred)
    code = headline_row(lite0)["code"]
    rows = network_rows(im, net, code, progress=progress, backend=backend)
    net.release()
    return {"model": model_name, "code": code, "n_genn": int(n_genn),
            "images": f"the first {n_genn} evaluation images (sample images "
                      f"{parts['eval'].start}-{parts['eval'].start + n_genn - 1})",
            "headline_check": check, "rows": rows}


def lite_stability_study(model, x: np.ndarray, y: np.ndarray, lite0: dict[str, Any], *,
                         sigma: float, n_draws: int, batch_size: int, seed: int = 0,
                         model_name: str = "efficientnet_lite0") -> dict[str, Any]:
    """How stable the classes of ``lite0``'s headline network (:func:`rebuilt_headline`, with
    its check) are under input noise of standard deviation ``sigma`` far below one intensity
    level, ``n_draws`` draws (:func:`helpers.snn.stability.noise_draws`), on the validation
    part (where the code was chosen) and on the evaluation part (where it is reported)."""
    net, parts, check = rebuilt_headline(model, x, y, lite0, batch_size=batch_size)
    out = {"model": model_name, "code": headline_row(lite0)["code"], "headline_check": check}
    for k, part in enumerate(("val", "eval")):
        s = parts[part]
        out[part] = {"images": f"sample images {s.start}-{s.stop - 1}",
                     **noise_draws(net, x[s], y[s], sigma=sigma, n_draws=n_draws,
                                   seed=seed + k, batch_size=batch_size)}
    net.release()
    return out


def upscaling_cost(model, imagenet_dir, *, n: int | None, size: int, larger_size: int,
                   batch_size: int, class_index=None) -> dict[str, Any]:
    """What upscaling small stored images costs a network with a larger input, measured on
    ``model`` (input ``size``): its top-1 on the images as usual and on the same images
    with only the detail the ``larger_size`` network gets from them (shrunk by the ratio of
    the two upscale factors first, :func:`helpers.imagenet.preprocess`)."""
    from helpers.imagenet import list_images, load_imagenet, upscale_factor

    first = list_images(imagenet_dir, class_index)[0][0]
    detail = upscale_factor(first, size) / upscale_factor(first, larger_size)
    out = {"size": size, "larger_size": larger_size, "detail": detail,
           "upscale_factor": upscale_factor(first, size),
           "larger_upscale_factor": upscale_factor(first, larger_size)}
    for key, d in (("top1_as_stored", 1.0), ("top1_less_detail", detail)):
        x, y = load_imagenet(imagenet_dir, n=n, class_index=class_index, size=size, detail=d)
        out[key] = float(np.mean(model.predict(x, batch_size=batch_size, verbose=0).argmax(1) == y))
    out["cost_pp"] = 100 * (out["top1_as_stored"] - out["top1_less_detail"])
    return out


def lite2_study(lite0_results: dict[str, Any], imagenet_dir, *, n_images: int | None,
                class_index, n_calib: int, n_val: int, n_sim: int, batch_size: int,
                seed: int = 0) -> dict[str, Any]:
    """EfficientNet-Lite2 (its own input size) with the headline recipe chosen on Lite0
    (:func:`carried_over`, same parts of the sample) and the upscaling measurement on Lite0
    (:func:`upscaling_cost`): ``{"lite2": ..., "upscaling": ...}`` for imagenet.json."""
    from helpers.ann.efficientnet import VARIANTS, load_pretrained
    from helpers.imagenet import load_imagenet

    head = headline_row(lite0_results)
    size = VARIANTS[2][2]
    x, y = load_imagenet(imagenet_dir, n=n_images, class_index=class_index, size=size)
    lite2 = carried_over(load_pretrained(variant=2), x, y, head, n_calib=n_calib, n_val=n_val,
                         n_sim=n_sim, batch_size=batch_size, seed=seed)
    lite2["published_top1"] = VARIANTS[2][5]
    up = upscaling_cost(load_pretrained(), imagenet_dir, n=n_images, size=VARIANTS[0][2],
                        larger_size=size, batch_size=batch_size, class_index=class_index)
    return {"lite2": lite2, "upscaling": up}


def keras_b0_study(weights, x: np.ndarray, y: np.ndarray, codes: dict[str, FSCode], *,
                   n_calib: int, batch_size: int = 16):
    """Notebook 07's optional path: Keras EfficientNetB0 (SiLU, sigmoid squeeze-excite gates)
    with FS codes for both, **squeeze-excite products analog** (not purely spiking).
    ``x``: images in the Lite0 preprocessing ``(x - 127) / 128``, mapped back to Keras' 0-255
    scale; the first ``n_calib`` calibrate, the rest are evaluated. ``weights``: a Keras weights
    file, or None (random weights: a structural check only). Returns ``(rows, keras_model,
    fs_network)``."""
    x255 = x * 128.0 + 127.0
    model, net = keras_b0_spiking(weights, codes, x255[:n_calib], input_shape=x.shape[1:])
    x_ev, y_ev = x255[n_calib:], np.asarray(y[n_calib:])
    probs = model.predict(x_ev, batch_size=batch_size, verbose=0)
    r = net.evaluate(x_ev, y_ev, batch_size)
    _, ratio = snn_energy(net, r["synops_per_layer"], "fp32")
    top5 = topk_hits(probs, y_ev, 5)
    ann_top1 = float(np.mean(probs.argmax(1) == y_ev))
    row = {"model": "efficientnet_b0_keras", "weights": str(weights) if weights else "random",
           "code": "+".join(c.name for c in codes.values()),
           "K": max(c.K for c in codes.values()), "n_images": int(len(y_ev)),
           "squeeze_excite": "analog products", "analog_products_per_image": net.analog_products,
           "ann_top1": ann_top1, "ann_top5": float(np.mean(top5)), "snn_top1": r["accuracy"],
           "snn_top5": r["top5"], "accuracy_gap_pp": 100 * (ann_top1 - r["accuracy"]),
           "mean_spikes_per_neuron": r["mean_spikes_per_neuron"],
           "latency_timesteps": r["latency_timesteps"], "energy_ratio": ratio}
    return [row], model, net


def keras_b0_spiking(weights: str | Path | None, codes: dict, x_calib: np.ndarray,
                     input_shape: tuple[int, int, int] = (224, 224, 3), **convert_kwargs):
    """Optional path: Keras ``EfficientNetB0`` (SiLU everywhere, sigmoid gates in the
    squeeze-excite blocks) as an FS network whose **squeeze-excite products stay analog**
    (``FSNetwork.analog_products`` counts them; it is therefore not purely spiking, unlike
    EfficientNet-Lite0). ``weights``: a Keras weights file the user downloaded (``None``:
    random weights, for structural checks). ``codes``: ``{"silu": ..., "sigmoid": ...}``
    (e.g. the fitted codes of notebook 02). ``x_calib``: images on Keras' 0-255 RGB scale (the
    model rescales and normalises internally). Returns ``(keras_model, fs_network)``.
    """
    model = tf.keras.applications.EfficientNetB0(weights=None, input_shape=input_shape)
    if weights is not None:
        model.load_weights(str(weights))
    return model, convert(model, codes, x_calib, analog_products=True, **convert_kwargs)
