"""Notebook 03's studies: real pre-activations of the committed networks, the ReLU code design
and the SiLU/sigmoid codes (density fits, spike-priced fits, offset-folded pairs) (:mod:`helpers.fs.design` does the per-layer work); the
seed project's floating-point code and the spike bound beside them."""

from __future__ import annotations

from typing import Any

import pandas as pd

from helpers.ann.preactivations import model_preactivations
from helpers.data import Splits
from helpers.fs import codes, design
from helpers.fs.jra import jra_code, jra_reproduction
from helpers.selection import fewest_spikes_at_error


def run_study(models: dict[str, str], inputs, outputs, data: Splits, *, max_per_layer: int,
              percentile: float, K_list, K_ref: int, extra_K: int, lambdas, fit_K, fit_lambdas,
              fit_kwargs: dict, smooth_K, smooth_lambdas: dict[str, list[float]] | None = None,
              smooth_kwargs: dict, seed: int) -> dict[str, Any]:
    """Notebook 03's whole study: pre-activations of every model in ``models`` (activation ->
    name, read from ``inputs.models``) on ``data``'s calibration images (codes are designed
    there) and validation images (codes are ranked there), the ReLU design and the
    SiLU/sigmoid codes (density fits and offset-folded pairs, K in ``smooth_K``, spike prices
    ``smooth_lambdas[activation]`` (default: none), :func:`helpers.fs.design.design_smooth`).
    Chosen codes are saved to ``outputs.codes``; returns the
    results dict for codes.json (without its provenance)."""
    pre = {act: p for act, name in models.items()
           if (p := model_preactivations(inputs.models, name, data.x_calib, data.x_val,
                                         max_per_layer, seed)) is not None}
    results = {"protocol": {"n_calib": len(data.y_calib), "n_val": len(data.y_val),
                            "splits": data.describe(),
                            "percentile": percentile, "K_ref": K_ref, "seed": seed,
                            "units": "ReLU: normalised by layer α_l"},
               "histograms": {act: design.histograms(p["val"]) for act, p in pre.items()},
               "smooth_rows": []}
    relu_results, relu_codes = design.design_relu(
        pre["relu"]["calib"], pre["relu"]["val"], pre["relu"]["sizes"], K_list, K_ref,
        percentile=percentile, extra_K=extra_K, lambdas=lambdas, fit_K=fit_K,
        fit_lambdas=fit_lambdas, fit_kwargs=fit_kwargs, seed=seed)
    results["relu"] = relu_results
    written = [c.save(outputs.codes) for c in relu_codes]
    for act in ("silu", "sigmoid"):
        if act not in pre:
            continue
        uniform = codes.saved_codes_for(act, inputs.codes, designed=False)
        rows, fitted = design.design_smooth(act, pre[act]["calib"], pre[act]["val"],
                                            pre[act]["sizes"], uniform, smooth_K,
                                            (smooth_lambdas or {}).get(act, [0.0]),
                                            seed=seed, **smooth_kwargs)
        results["smooth_rows"] += [{**r, "model": models[act]} for r in rows]
        written += [c.save(outputs.codes) for c in fitted]
    _remove_stale_codes(outputs.codes, written)
    return results


def _remove_stale_codes(folder, written) -> None:
    """Delete the code files this study owns (``relu_*``, ``<act>_density*``, ``offset_*``) that it did
    not write this time, so later notebooks never read a code an earlier run chose."""
    keep = {p.resolve() for p in written}
    for pattern in ("relu_*.json", "silu_density*.json", "sigmoid_density*.json", "offset_*.json"):
        for f in sorted(folder.glob(pattern)):
            if f.resolve() not in keep:
                print(f"removing {f.name}: not chosen by this run")
                f.unlink()


def bound_gaps(net: pd.DataFrame, mse_ref: float) -> list[dict[str, Any]]:
    """Per family, its fewest spikes at ``mse <= mse_ref`` (``net``: network rows with
    ``family``, ``code``, ``K``, ``mse``, ``mean_spikes``, ``spike_bound``) beside the spike
    bound at that error: the smallest ``spike_bound`` of any code at most that wrong."""
    ok = net[net["mse"] <= mse_ref * (1 + 1e-9)]
    if ok.empty:
        return []
    bound = float(ok["spike_bound"].min())
    return [{"family": r["family"], "code": r["code"], "K": int(r["K"]), "mse": r["mse"],
             "mean_spikes": r["mean_spikes"], "bound_at_error": bound,
             "spikes_above_bound": r["mean_spikes"] - bound,
             "ratio_to_bound": r["mean_spikes"] / bound if bound > 0 else float("inf")}
            for _, r in fewest_spikes_at_error(net, mse_ref).iterrows()]


def spike_code_study(model_name: str, models_dir, codes_dir, data: Splits, *, max_per_layer: int,
                     percentile: float, binary_K, jra_specs, K_ref: int, seed: int
                     ) -> dict[str, Any]:
    """Notebook 03's second study on the ReLU network ``model_name`` (in ``models_dir``): the
    binary codes (K in ``binary_K``), the designed codes saved in ``codes_dir`` and the JRA
    floating-point code (both variants, ``(mantissa K, elim)`` in ``jra_specs``) per layer on
    validation pre-activations (layer scales from calibration ones), each with its spike bound
    (:func:`helpers.fs.measure.spike_bound`), also as rows of family "spike_bound" (its
    spikes: the bound of that code's output levels); every family's distance from the bound
    at the error of ``binary_p_K<K_ref>`` (:func:`bound_gaps`); and the seed project's
    numbers recomputed (:func:`helpers.fs.jra.jra_reproduction`)."""
    pre = model_preactivations(models_dir, model_name, data.x_calib, data.x_val,
                               max_per_layer, seed)
    scales = {k: design.layer_scale(v, percentile) for k, v in pre["calib"].items()}
    cands = ([codes.binary(K, 1.0, name=f"binary_p_K{K}") for K in binary_K]
             + codes.saved_codes_for("relu", codes_dir)
             + [jra_code(K, e, 1.0, imp) for K, e in jra_specs for imp in (False, True)])
    rows = design.evaluate_per_layer(cands, pre["val"], scales, pre["sizes"])
    net = rows[rows.layer == "network"]
    ref = net[net.code == f"binary_p_K{K_ref}"].iloc[0]
    bound = rows.assign(family="spike_bound", code="spike_bound_" + rows.code,
                        mean_spikes=rows.spike_bound)      # the limit of each code's levels
    return {"protocol": {"model": model_name, "n_calib": len(data.y_calib),
                         "n_val": len(data.y_val), "splits": data.describe(),
                         "percentile": percentile, "K_ref": K_ref,
                         "units": "normalised by layer α_l (as codes.json)"},
            "scales": scales, "rows": pd.concat([rows, bound]).to_dict(orient="records"),
            "reference": ref.to_dict(), "bound_gaps": bound_gaps(net, float(ref["mse"])),
            "jra_reproduction": jra_reproduction()}
