"""Comparing FS code families on real input distributions: sweeps, Pareto fronts and the
"same error, fewer spikes" question.

Inputs of a ReLU layer are normalised by the layer's scale ``α_l`` (a high percentile of its
positive pre-activations, as in data-based normalisation), so one code in normalised units
serves every layer: the layer's code is ``code.scaled(α_l)`` and its MSE in layer units is
``α_l^2`` times the normalised MSE.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from helpers.fs import codes, measure
from helpers.fs.fitting import density_grid, fit_code
from helpers.fs.neuron import FSCode
from helpers.selection import fewest_spikes_at_error


def layer_scale(samples: np.ndarray, percentile: float = 99.9) -> float:
    """``percentile`` of the positive samples (the layer's α); 1.0 if none is positive."""
    pos = np.asarray(samples)[np.asarray(samples) > 0]
    return float(np.percentile(pos, percentile)) if pos.size else 1.0


def relu_candidates(calib: np.ndarray, K_list: Iterable[int], *, extra_K: int = 6,
                    float_radices: Iterable[float] = (2.5, 3.0),
                    lambdas: Iterable[float] = (0.0, 1e-5),
                    fit_K: Iterable[int] = (), fit_lambdas: Iterable[float] = (0.0,),
                    fit_kwargs: dict | None = None, seed: int = 0,
                    progress: bool = True) -> list[FSCode]:
    """Candidate ReLU codes in normalised units (inputs divided by the layer scale).

    ``calib``: pooled normalised calibration samples (design data). Families: binary with
    α = 1 (percentile norm) and α = max (max norm), rounded binary, float-like; Fibonacci and
    distribution-aware (per λ) for K up to ``max(K_list) + extra_K``, since codes with a
    radix below 2 need more timesteps for the same resolution; and, for ``fit_K``,
    gradient-fitted codes on the calibration density (per λ in ``fit_lambdas``).
    """
    calib = np.asarray(calib, dtype=np.float64)
    amax = float(calib.max())
    K_list = list(K_list)
    out: list[FSCode] = []
    for K in K_list:
        out.append(codes.binary(K, 1.0, name=f"binary_p_K{K}"))
        out.append(codes.binary(K, amax, name=f"binary_max_K{K}").with_meta(norm="max"))
        out.append(codes.geometric(K, 1.0, 2.0, True, name=f"rounded_K{K}"))
        for r in float_radices:
            out.append(codes.float_like(K, 1.0, r))
    long_K = range(min(K_list), max(K_list) + extra_K + 1)
    for K in long_K:
        out.append(codes.fibonacci(K, 1.0))
    jobs = [(K, lam) for K in long_K for lam in lambdas]
    for K, lam in tqdm(jobs, desc="distribution-aware", disable=not progress):
        out.append(codes.distribution_aware(calib, K, lam, name=f"distaware_lam{lam:g}_K{K}"))
    if fit_K:
        x, w = density_grid(calib, bins=1500, x_range=(float(calib.min()), amax))
        for K in fit_K:
            for lam in fit_lambdas:
                r = fit_code("relu", K, x=x, weights=w, lam=lam, seed=seed, progress=progress,
                             name=f"fitted_density_lam{lam:g}_K{K}", **(fit_kwargs or {}))
                out.append(r.code)
    return out


#: What :func:`evaluate_per_layer` reports per code and layer (network: neuron-weighted means).
_MEASURES = ("mse", "mae", "mean_spikes", "spike_bound")


def evaluate_per_layer(candidates: list[FSCode], layers: dict[str, np.ndarray],
                       scales: dict[str, float], sizes: dict[str, int] | None = None,
                       activation: str = "relu", progress: bool = True) -> pd.DataFrame:
    """MSE (normalised units), mean spikes and the spike bound
    (:func:`helpers.fs.measure.spike_bound`) of every candidate on every layer's samples.

    ``layers``: raw samples per layer; ``scales``: α per layer (use 1.0 for non-normalised
    codes such as SiLU/sigmoid); ``sizes``: neurons per layer, for the network average.
    Returns one row per (code, layer) plus one ``layer == "network"`` row per code holding
    the neuron-weighted averages.
    """
    rows = []
    for c in tqdm(candidates, desc="evaluate", disable=not progress):
        for name, s in layers.items():
            m = measure.evaluate(c, np.asarray(s) / scales[name], target=activation)
            rows.append({"code": c.name, "family": _family(c), "K": c.K, "layer": name,
                         **{k: m[k] for k in _MEASURES}})
    df = pd.DataFrame(rows)
    w = pd.Series(sizes or {k: 1 for k in layers}, dtype=float)
    df["weight"] = df["layer"].map(w / w.sum())
    net = (df.assign(**{k: df[k] * df.weight for k in _MEASURES})
             .groupby(["code", "family", "K"], as_index=False)[list(_MEASURES)].sum())
    net["layer"] = "network"
    return pd.concat([df.drop(columns="weight"), net], ignore_index=True)


def _family(c: FSCode) -> str:
    fam = c.meta.get("family", "fitted")
    if fam == "binary":
        return "binary_max" if c.meta.get("norm") == "max" else "binary"
    if fam == "geometric":
        return "rounded" if c.meta.get("midpoint") else "binary"
    return fam


def histograms(layers: dict[str, np.ndarray], bins: int = 200,
               x_range: tuple[float, float] = (-8.0, 8.0)) -> dict[str, Any]:
    """Per-layer density histograms (for plots that must not need the raw samples)."""
    edges = np.linspace(*x_range, bins + 1)
    return {"edges": edges.tolist(),
            "density": {k: np.histogram(np.clip(v, *x_range), edges, density=True)[0].tolist()
                        for k, v in layers.items()}}


def design_relu(calib: dict[str, np.ndarray], val: dict[str, np.ndarray],
                sizes: dict[str, int], K_list: list[int], K_ref: int, *,
                percentile: float = 99.9, extra_K: int = 6, lambdas=(0.0, 1e-5),
                fit_K=(), fit_lambdas=(0.0,), fit_kwargs: dict | None = None,
                seed: int = 0) -> tuple[dict[str, Any], list[FSCode]]:
    """The ReLU code-design study of notebook 03.

    Designs candidates on the pooled normalised ``calib`` pre-activations, evaluates them per
    layer on the validation pre-activations ``val`` (every choice is made there), and finds, per family, the code with the fewest spikes at the error of
    ``binary_p_K<K_ref>``. Returns ``(results, chosen_codes)``: ``results`` holds
    ``scales``, ``rows`` (per code and layer, plus ``layer == "network"``), ``reference`` and
    ``winners``; ``chosen_codes`` are, per K, the lowest-error designed code and the designed
    code with the fewest spikes at most as wrong as binary at that K, plus the overall
    winner, renamed ``relu_<name>`` with ``meta['input_scale'] = 1`` (normalised units).
    """
    scales = {k: layer_scale(v, percentile) for k, v in calib.items()}
    calib_norm = np.concatenate([v / scales[k] for k, v in calib.items()])
    cands = relu_candidates(calib_norm, K_list, extra_K=extra_K, lambdas=lambdas, fit_K=fit_K,
                            fit_lambdas=fit_lambdas, fit_kwargs=fit_kwargs, seed=seed)
    rows = evaluate_per_layer(cands, val, scales, sizes)
    net = rows[rows.layer == "network"]
    ref = net[net.code == f"binary_p_K{K_ref}"].iloc[0]
    winners = fewest_spikes_at_error(net, ref["mse"])
    winners = winners.assign(spike_saving_pct=100 * (1 - winners.mean_spikes / ref["mean_spikes"]))
    chosen = []
    for K in K_list:   # per K: the most accurate designed code, and the sparsest one that is
        g = net[(net.K == K) & ~net.family.isin(["binary", "binary_max"])]   # as accurate as binary
        chosen.append(g.loc[g.mse.idxmin(), "code"])
        bin_mse = net.loc[net.code == f"binary_p_K{K}", "mse"]
        ok = g[g.mse <= float(bin_mse.iloc[0])] if len(bin_mse) else g.iloc[:0]
        if len(ok):
            chosen.append(ok.loc[ok.mean_spikes.idxmin(), "code"])
    designed = winners[~winners.family.isin(["binary", "binary_max"])]
    if len(designed):
        chosen.append(designed.iloc[0]["code"])
    by_name = {c.name: c for c in cands}
    codes_out = [by_name[n].renamed(f"relu_{n}").with_meta(
        input_scale=1.0, units="normalised: the converter multiplies h, T, d by the layer scale",
        layer_scale=f"{percentile}th percentile of positive pre-activations")
        for n in dict.fromkeys(chosen)]
    results = {"scales": scales, "rows": rows.to_dict(orient="records"),
               "reference": ref.to_dict(), "winners": winners.to_dict(orient="records")}
    return results, codes_out


def design_smooth(activation: str, calib: dict[str, np.ndarray], val: dict[str, np.ndarray],
                  sizes: dict[str, int], uniform_codes: list[FSCode], K_list: list[int],
                  lambdas=(0.0,), *, restarts: int = 4, steps: int = 1500, seed: int = 0
                  ) -> tuple[list[dict[str, Any]], list[FSCode]]:
    """SiLU / sigmoid study: the candidates of :func:`smooth_candidates` (density fits and
    offset-folded pairs for each K and spike price, on the pooled calibration density),
    evaluated per layer on the validation pre-activations ``val`` beside ``uniform_codes``
    (notebook 02's and S&M's). Returns ``(rows, candidates)``."""
    cands = smooth_candidates(activation, np.concatenate(list(calib.values())), K_list, lambdas,
                              restarts=restarts, steps=steps, seed=seed)
    rows = evaluate_per_layer(list(uniform_codes) + cands, val, {k: 1.0 for k in val}, sizes,
                              activation=activation)
    return rows.assign(activation=activation).to_dict(orient="records"), cands


def smooth_candidates(activation: str, calib: np.ndarray, K_list, lambdas, *,
                      restarts: int = 4, steps: int = 1500, seed: int = 0,
                      progress: bool = False) -> list[FSCode]:
    """Codes for a smooth activation fitted on the pooled calibration pre-activations
    ``calib``, for every K in ``K_list`` and spike price λ in ``lambdas`` (MSE units per mean
    spike): plain density fits (``<act>_density[_lam<λ>]_K<K>``) and offset-folded pairs
    (``offset_<act>[_lam<λ>]_K<K>``, :mod:`helpers.fs.offset`: no spikes at rest)."""
    from helpers.fs.fitting import fit_offset_code

    cal = np.asarray(calib, dtype=np.float64).ravel()
    x, w = density_grid(cal, bins=1500)
    out = []
    for K in K_list:
        for lam in lambdas:
            tag = f"_lam{lam:g}" if lam else ""
            kw = dict(lam=lam, restarts=restarts, steps=steps, seed=seed, progress=progress)
            out.append(fit_code(activation, K, x=x, weights=w, name=f"{activation}_density{tag}_K{K}",
                                **kw).code.with_meta(family="fitted", lam=lam))
            out.append(fit_offset_code(activation, K, x, w, **kw).with_meta(lam=lam))
    return out
