"""Fitting FS codes ``(h, T, d)`` to a target activation over an input distribution.

Loss (weights ``w`` sum to 1)::

    L = Σ_i w_i (FS(x_i) - f(x_i))^2  +  λ Σ_i w_i spikes(x_i)

minimised with Adam through S&M's pseudo-derivative (:func:`helpers.fs.neuron.fs_tf`), with
random restarts. Because ``FS(x)`` is linear in ``d`` for fixed spike trains, ``d`` is
re-solved exactly by weighted least squares every ``ls_every`` steps (and at the end); the
best *exact* loss over all restarts and checkpoints is kept. The input distribution is
either S&M's uniform grid (``x_range``) or samples of a real layer's pre-activations,
summarised by :func:`density_grid` as histogram bin centres with their probabilities as
weights. Deterministic under ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from helpers.fs import activations
from helpers.fs.codes import binary
from helpers.fs.measure import evaluate, spike_patterns, weighted_lstsq_d
from helpers.fs.neuron import FSCode
from helpers.seeding import DEFAULT_SEED


def density_grid(samples: np.ndarray, bins: int = 2000,
                 x_range: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Histogram summary of ``samples``: bin centres ``(bins,)`` and probabilities ``(bins,)``
    (empty bins dropped). ``x_range`` defaults to the 0.01 %-99.99 % quantiles, and the
    samples outside it are clipped into the edge bins."""
    x = np.asarray(samples, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("no samples to build a density from")
    lo, hi = x_range or (float(np.quantile(x, 1e-4)), float(np.quantile(x, 1 - 1e-4)))
    if hi <= lo:
        hi = lo + 1e-6
    counts, edges = np.histogram(np.clip(x, lo, hi), bins=bins, range=(lo, hi))
    centres = 0.5 * (edges[:-1] + edges[1:])
    keep = counts > 0
    return centres[keep], counts[keep] / counts.sum()


@dataclass
class FitResult:
    """Outcome of :func:`fit_code`: the best code and its exact metrics on the fitting set."""

    code: FSCode
    loss: float
    metrics: dict[str, float]
    restart_losses: list[float]


def _init_params(kind: str, K: int, lo: float, hi: float, rng: np.random.Generator):
    span = max(abs(lo), abs(hi))
    if kind == "binary":
        w = binary(K, max(hi, 1e-3)).h
        return w.copy(), w.copy()
    if kind == "sm_random":  # S&M's find_coeffs.py initialisation, scaled to the range
        s = span / 10.0
        return rng.uniform(-1, 0, K) * s, rng.uniform(-1, 1, K) * s
    # "spread": positive resets, thresholds spread over the range
    h = rng.uniform(0.02, 0.5, K) * span
    T = np.sort(rng.uniform(lo, hi, K))[::-1] * rng.uniform(0.3, 1.0)
    return h, T


def fit_code(target: str | Callable[[np.ndarray], np.ndarray], K: int, *,
             x: np.ndarray | None = None, weights: np.ndarray | None = None,
             x_range: tuple[float, float] = (-10.0, 10.0), n_grid: int = 4001,
             lam: float = 0.0, restarts: int = 6, steps: int = 1500, lr: float = 0.02,
             ls_every: int = 100, v_reg: float = 0.0, seed: int | None = None,
             name: str | None = None, activation: str | None = None,
             progress: bool = True) -> FitResult:
    """Fit an FS code with ``K`` steps to ``target`` (an activation name or a function).

    ``x``/``weights``: the inputs and their probabilities (default: a uniform grid of
    ``n_grid`` points on ``x_range``). ``lam``: spike-count penalty. ``restarts``: the first
    starts from a binary code over the positive range, the others from random initialisations
    (half S&M-style, half spread thresholds). ``v_reg``: S&M's voltage regulariser weight.
    Returns the best code (lowest exact loss) with its metrics.
    """
    import tensorflow as tf
    from tqdm.auto import tqdm

    from helpers.fs.neuron import fs_tf

    if not isinstance(K, (int, np.integer)) or K < 1:
        raise ValueError(f"K must be a positive integer, got {K!r}")
    if isinstance(target, str):
        activation = activation or target
        f = activations.get(target)
    else:
        f = target
        activation = activation or getattr(target, "__name__", "custom")
    if x is None:
        x = np.linspace(x_range[0], x_range[1], n_grid)
    x = np.asarray(x, dtype=np.float64).ravel()
    w = np.full(x.size, 1.0 / x.size) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    y = f(x)
    lo, hi = float(x.min()), float(x.max())
    seed = DEFAULT_SEED if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    tf.random.set_seed(seed)

    x_tf = tf.constant(x, tf.float32)
    y_tf = tf.constant(y, tf.float32)
    w_tf = tf.constant(w, tf.float32)
    h_v = tf.Variable(tf.zeros(K))
    T_v = tf.Variable(tf.zeros(K))
    d_v = tf.Variable(tf.zeros(K))
    opt = tf.keras.optimizers.Adam(lr)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            out, spikes = fs_tf(x_tf, h_v, T_v, d_v)
            loss = tf.reduce_sum(w_tf * tf.square(out - y_tf)) + lam * tf.reduce_sum(w_tf * spikes)
            if v_reg > 0:  # S&M: keep voltages within the pseudo-derivative's support
                loss += v_reg * tf.reduce_sum(w_tf * tf.square(x_tf / (tf.abs(x_tf) + 1.0)))
        grads = tape.gradient(loss, [h_v, T_v, d_v])
        grads = [tf.where(tf.math.is_finite(g), g, 0.0) for g in grads]
        opt.apply_gradients(zip(grads, [h_v, T_v, d_v]))
        return loss

    def exact(h, T, d):
        c = FSCode("tmp", activation, h, T, d)
        m = evaluate(c, x, w, f)
        return m["mse"] + lam * m["mean_spikes"], m

    def solve_d(h, T):
        Z = spike_patterns(x, FSCode("tmp", activation, h, T, np.zeros(K)))
        return weighted_lstsq_d(Z, y, w)

    best = (np.inf, None)
    restart_losses = []
    kinds = ["binary"] + ["sm_random" if i % 2 else "spread" for i in range(1, restarts)]
    bar = tqdm(total=restarts * steps, desc=f"fit {activation} K={K}", disable=not progress,
               mininterval=2.0)
    for kind in kinds[:restarts]:
        h0, T0 = _init_params(kind, K, lo, hi, rng)
        d0 = solve_d(h0, T0)
        h_v.assign(h0.astype(np.float32))
        T_v.assign(T0.astype(np.float32))
        d_v.assign(d0.astype(np.float32))
        for var in opt.variables:
            var.assign(tf.zeros_like(var))
        run_best = exact(h0, T0, d0)[0], (h0, T0, d0)
        for i in range(1, steps + 1):
            step()
            if i % ls_every == 0 or i == steps:
                h, T = h_v.numpy().astype(np.float64), T_v.numpy().astype(np.float64)
                d = solve_d(h, T)
                d_v.assign(d.astype(np.float32))
                loss, _ = exact(h, T, d)
                if loss < run_best[0]:
                    run_best = loss, (h, T, d)
            bar.update(1)
        restart_losses.append(float(run_best[0]))
        if run_best[0] < best[0]:
            best = run_best
    bar.close()
    h, T, d = best[1]
    loss, metrics = exact(h, T, d)
    code = FSCode(name or f"fitted_{activation}_K{K}", activation, h, T, d, (lo, hi),
                  {"family": "fitted", "lambda": float(lam), "loss": float(loss),
                   "restarts": restarts, "steps": steps, "seed": seed,
                   "fit_on": "uniform grid" if weights is None else "weighted samples"})
    return FitResult(code, float(loss), metrics, restart_losses)


def fit_or_load(activation: str, K: int, codes_dir, reuse: bool = True, name: str | None = None,
                **fit_kwargs) -> FSCode:
    """Load ``codes_dir/<name>.json`` when ``reuse`` and it exists, else :func:`fit_code` and
    save it there. ``name`` defaults to ``fitted_<activation>_K<K>``."""
    from pathlib import Path

    name = name or f"fitted_{activation}_K{K}"
    path = Path(codes_dir) / f"{name}.json"
    if reuse and path.is_file():
        return FSCode.load(path)
    code = fit_code(activation, K, name=name, **fit_kwargs).code
    code.save(codes_dir)
    return code
