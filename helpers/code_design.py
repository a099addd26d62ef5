"""Comparing FS code families on real input distributions: sweeps, Pareto fronts and the
"same error, fewer spikes" question.

Inputs of a ReLU layer are normalised by the layer's scale ``α_l`` (a high percentile of its
positive pre-activations, as in data-based normalisation), so one code in normalised units
serves every layer: the layer's code is ``code.scaled(α_l)`` and its MSE in layer units is
``α_l^2`` times the normalised MSE.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from . import codes
from .fitting import density_grid, fit_code
from .fs_neuron import FSCode


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


def evaluate_per_layer(candidates: list[FSCode], layers: dict[str, np.ndarray],
                       scales: dict[str, float], sizes: dict[str, int] | None = None,
                       activation: str = "relu", progress: bool = True) -> pd.DataFrame:
    """MSE (normalised units) and mean spikes of every candidate on every layer's samples.

    ``layers``: raw samples per layer; ``scales``: α per layer (use 1.0 for non-normalised
    codes such as SiLU/sigmoid); ``sizes``: neurons per layer, for the network average.
    Returns one row per (code, layer) plus one ``layer == "network"`` row per code holding
    the neuron-weighted averages.
    """
    rows = []
    for c in tqdm(candidates, desc="evaluate", disable=not progress):
        for name, s in layers.items():
            m = codes.evaluate(c, np.asarray(s) / scales[name], target=activation)
            rows.append({"code": c.name, "family": _family(c), "K": c.K, "layer": name,
                         "mse": m["mse"], "mae": m["mae"], "mean_spikes": m["mean_spikes"]})
    df = pd.DataFrame(rows)
    w = pd.Series(sizes or {k: 1 for k in layers}, dtype=float)
    df["weight"] = df["layer"].map(w / w.sum())
    net = (df.assign(mse=df.mse * df.weight, mae=df.mae * df.weight,
                     mean_spikes=df.mean_spikes * df.weight)
             .groupby(["code", "family", "K"], as_index=False)[["mse", "mae", "mean_spikes"]].sum())
    net["layer"] = "network"
    return pd.concat([df.drop(columns="weight"), net], ignore_index=True)


def _family(c: FSCode) -> str:
    fam = c.meta.get("family", "fitted")
    if fam == "binary":
        return "binary_max" if c.meta.get("norm") == "max" else "binary"
    if fam == "geometric":
        return "rounded" if c.meta.get("midpoint") else "binary"
    return fam


def pareto_front(df: pd.DataFrame, x: str = "mean_spikes", y: str = "mse") -> pd.DataFrame:
    """Rows of ``df`` not dominated in (fewer ``x``, lower ``y``), sorted by ``x``."""
    d = df.sort_values([x, y])
    keep, best = [], np.inf
    for idx, val in zip(d.index, d[y]):
        if val < best:
            keep.append(idx)
            best = val
    return d.loc[keep]


def fewest_spikes_at_error(net: pd.DataFrame, mse_target: float) -> pd.DataFrame:
    """Per family, the code with the fewest mean spikes among those with ``mse <= target``."""
    ok = net[net["mse"] <= mse_target * (1 + 1e-9)]
    if ok.empty:
        return ok
    return ok.loc[ok.groupby("family")["mean_spikes"].idxmin()].sort_values("mean_spikes")
