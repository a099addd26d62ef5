"""Notebook 03's study: real pre-activations of the committed networks, the ReLU code design
and the SiLU/sigmoid density fits (:mod:`helpers.fs.design` does the per-layer work)."""

from __future__ import annotations

from typing import Any

from helpers.ann.preactivations import model_preactivations
from helpers.fs import codes, design


def run_study(models: dict[str, str], inputs, outputs, data, *, max_per_layer: int,
              percentile: float, K_list, K_ref: int, extra_K: int, lambdas, fit_K, fit_lambdas,
              fit_kwargs: dict, smooth_K, smooth_kwargs: dict, seed: int) -> dict[str, Any]:
    """Notebook 03's whole study: pre-activations of every model in ``models`` (activation ->
    name, read from ``inputs.models``), the ReLU design and the SiLU/sigmoid density fits.
    Chosen codes are saved to ``outputs.codes``; returns the results dict for codes.json."""
    pre = {act: p for act, name in models.items()
           if (p := model_preactivations(inputs.models, name, data.x_train, data.x_test,
                                         max_per_layer, seed)) is not None}
    results = {"protocol": {"n_calib": len(data.y_train), "n_test": len(data.y_test),
                            "percentile": percentile, "K_ref": K_ref, "seed": seed,
                            "units": "ReLU: normalised by layer α_l"},
               "histograms": {act: design.histograms(p["test"]) for act, p in pre.items()},
               "smooth_rows": []}
    relu_results, relu_codes = design.design_relu(
        pre["relu"]["calib"], pre["relu"]["test"], pre["relu"]["sizes"], K_list, K_ref,
        percentile=percentile, extra_K=extra_K, lambdas=lambdas, fit_K=fit_K,
        fit_lambdas=fit_lambdas, fit_kwargs=fit_kwargs, seed=seed)
    results["relu"] = relu_results
    for c in relu_codes:
        c.save(outputs.codes)
    for act in ("silu", "sigmoid"):
        if act not in pre:
            continue
        uniform = [c for c in codes.saved_codes_for(act, inputs.codes) if "density" not in c.name]
        rows, fitted = design.design_smooth(act, pre[act]["calib"], pre[act]["test"], pre[act]["sizes"],
                                     uniform, smooth_K, seed=seed, **smooth_kwargs)
        results["smooth_rows"] += rows
        for c in fitted:
            c.save(outputs.codes)
    return results
