"""Notebook 03's study: real pre-activations of the committed networks, the ReLU code design
and the SiLU/sigmoid density fits (:mod:`helpers.fs.design` does the per-layer work)."""

from __future__ import annotations

from typing import Any

from helpers.ann.preactivations import model_preactivations
from helpers.data import Splits
from helpers.fs import codes, design


def run_study(models: dict[str, str], inputs, outputs, data: Splits, *, max_per_layer: int,
              percentile: float, K_list, K_ref: int, extra_K: int, lambdas, fit_K, fit_lambdas,
              fit_kwargs: dict, smooth_K, smooth_kwargs: dict, seed: int) -> dict[str, Any]:
    """Notebook 03's whole study: pre-activations of every model in ``models`` (activation ->
    name, read from ``inputs.models``) on ``data``'s calibration images (codes are designed
    there) and validation images (codes are ranked there), the ReLU design and the
    SiLU/sigmoid density fits. Chosen codes are saved to ``outputs.codes``; returns the
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
        uniform = [c for c in codes.saved_codes_for(act, inputs.codes) if "density" not in c.name]
        rows, fitted = design.design_smooth(act, pre[act]["calib"], pre[act]["val"], pre[act]["sizes"],
                                     uniform, smooth_K, seed=seed, **smooth_kwargs)
        results["smooth_rows"] += rows
        written += [c.save(outputs.codes) for c in fitted]
    _remove_stale_codes(outputs.codes, written)
    return results


def _remove_stale_codes(folder, written) -> None:
    """Delete the code files this study owns (``relu_*``, ``<act>_density_K*``) that it did
    not write this time, so later notebooks never read a code an earlier run chose."""
    keep = {p.resolve() for p in written}
    for pattern in ("relu_*.json", "silu_density_K*.json", "sigmoid_density_K*.json"):
        for f in sorted(folder.glob(pattern)):
            if f.resolve() not in keep:
                print(f"removing {f.name}: not chosen by this run")
                f.unlink()
