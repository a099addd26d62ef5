"""Measuring FS codes on inputs: spike trains, error and spikes, least-squares output
weights. Shared by the code families (:mod:`helpers.fs.codes`) and the fitter
(:mod:`helpers.fs.fitting`), below both."""

from __future__ import annotations

from typing import Callable

import numpy as np

from math import comb, fsum

from helpers.fs import activations
from helpers.fs.jra import JRACode, jra_numpy
from helpers.fs.offset import OffsetCode, offset_numpy
from helpers.fs.neuron import FSCode, fs_numpy, fs_spike_trains


def weighted_lstsq_d(Z: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """argmin_d Σ w (Z d - y)^2 (minimum-norm solution for unused steps)."""
    sw = np.sqrt(w)[:, None]
    d, *_ = np.linalg.lstsq(Z * sw, y * sw[:, 0], rcond=None)
    return d


def spike_patterns(x: np.ndarray, code: FSCode) -> np.ndarray:
    """Spike trains ``(N, K)`` float64 of the code's neurons for inputs ``x`` ``(N,)``."""
    return fs_spike_trains(np.asarray(x).ravel(), code)["z"].astype(np.float64)


def refit_d(code: FSCode, x: np.ndarray, weights: np.ndarray | None = None,
            target: Callable[[np.ndarray], np.ndarray] | None = None) -> FSCode:
    """The same code with ``d`` re-fitted by weighted least squares to the target on ``x``."""
    target = target or activations.get(code.activation)
    x = np.asarray(x, dtype=np.float64).ravel()
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    d = weighted_lstsq_d(spike_patterns(x, code), target(x), w)
    return FSCode(code.name, code.activation, code.h, code.T, d, code.x_range,
                  {**code.meta, "d_refit": "weighted least squares"})


def code_outputs(code: FSCode, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(output, spikes)`` of any code's neurons for inputs ``x`` (FS, JRA floating point,
    offset-folded pairs)."""
    if isinstance(code, JRACode):
        return jra_numpy(x, code)
    if isinstance(code, OffsetCode):
        return offset_numpy(x, code)
    return fs_numpy(x, code)


def binary_steps(code: FSCode) -> int:
    """How many binary (spike / no spike) slots one value of ``code`` uses: K, or 2K for the
    neuron pair of an offset-folded code."""
    return 2 * code.K if isinstance(code, OffsetCode) else code.K


def spike_bound(out: np.ndarray, K: int, weights: np.ndarray | None = None) -> float:
    """The fewest expected spikes per input any ``K``-step code could spend to send the
    output levels in ``out`` with their (``weights``-weighted) frequencies: the most frequent
    level gets the pattern with no spike, the next ``K`` levels the one-spike patterns, the
    next ``C(K, 2)`` the two-spike ones, ... (the Huffman-like ideal; no fixed FS schedule is
    assumed to realise it)."""
    _, inverse = np.unique(np.asarray(out).ravel(), return_inverse=True)
    w = np.ones(inverse.size) if weights is None else np.asarray(weights, float).ravel()
    freq = np.sort(np.bincount(inverse, weights=w))[::-1] / w.sum()
    if len(freq) > 2 ** K:
        raise ValueError(f"{len(freq)} output levels cannot be sent with {K} binary steps "
                         f"(at most {2 ** K} patterns)")
    spikes = np.repeat(np.arange(K + 1), [comb(K, i) for i in range(K + 1)])[:len(freq)]
    return fsum(freq * spikes)     # exactly rounded: the same digits on every CPU


def evaluate(code: FSCode, x: np.ndarray, weights: np.ndarray | None = None,
             target: Callable[[np.ndarray], np.ndarray] | str | None = None) -> dict[str, float]:
    """Error and spikes of ``code`` on inputs ``x`` (``(N,)``), optionally density-weighted.

    Returns ``mse``, ``mae`` (weighted means), ``max_abs_err`` (over ``x`` with weight > 0),
    ``mean_spikes`` (weighted mean spikes per input), ``spike_bound`` (:func:`spike_bound` of
    the code's output levels) and ``n``.
    """
    if target is None or isinstance(target, str):
        target = activations.get(target or code.activation)
    x = np.asarray(x, dtype=np.float64).ravel()
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    w = w / w.sum()
    out, spikes = code_outputs(code, x)
    err = out.astype(np.float64) - target(x)
    return {"mse": float(np.sum(w * err ** 2)), "mae": float(np.sum(w * np.abs(err))),
            "max_abs_err": float(np.max(np.abs(err[w > 0]))),
            "mean_spikes": float(np.sum(w * spikes)),
            "spike_bound": spike_bound(out, binary_steps(code), w),
            "n": int(x.size)}


def representable_outputs(code: FSCode, x_range: tuple[float, float] | None = None,
                          n: int = 1 << 18) -> np.ndarray:
    """Sorted distinct outputs of the code over a fine grid of ``n`` inputs on ``x_range``
    (default: the code's own range)."""
    lo, hi = x_range or code.x_range or (-10.0, 10.0)
    out, _ = fs_numpy(np.linspace(lo, hi, n), code)
    return np.unique(out)
