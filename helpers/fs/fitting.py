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
from pathlib import Path
from typing import Any, Callable

import numpy as np

from helpers.fs import activations
from helpers.fs.codes import binary
from helpers.fs.measure import evaluate, spike_patterns, weighted_lstsq_d
from helpers.fs.neuron import FSCode
from helpers.fs.offset import OffsetCode, half_targets, offset_code
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


def _problem(target, x, weights, x_range, n_grid, activation):
    """Inputs ``x`` ``(N,)``, weights ``w`` (sum 1), targets ``y``, target function and its
    activation name for :func:`fit_code`."""
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
    return x, w / w.sum(), f(x), f, activation


class _Fitter:
    """Adam on ``(h, T, d)`` through the pseudo-derivative, with exact least-squares ``d``
    and the exact (float32 NumPy) loss ``mse + lam * mean_spikes`` for model selection."""

    def __init__(self, x, w, y, f, activation: str, K: int, lam: float, lr: float):
        import tensorflow as tf

        from helpers.fs.neuron import fs_tf

        self.x, self.w, self.y, self.f = x, w, y, f
        self.activation, self.K, self.lam = activation, K, lam
        x_tf, y_tf, w_tf = (tf.constant(a, tf.float32) for a in (x, y, w))
        self.vars = [tf.Variable(tf.zeros(K)) for _ in range(3)]      # h, T, d
        self.opt = tf.keras.optimizers.Adam(lr)
        self._zeros_like = tf.zeros_like

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                out, spikes = fs_tf(x_tf, *self.vars)
                loss = (tf.reduce_sum(w_tf * tf.square(out - y_tf))
                        + lam * tf.reduce_sum(w_tf * spikes))
            grads = tape.gradient(loss, self.vars)
            grads = [tf.where(tf.math.is_finite(g), g, 0.0) for g in grads]
            self.opt.apply_gradients(zip(grads, self.vars))
            return loss

        self.step = step

    def exact(self, h, T, d) -> tuple[float, dict[str, float]]:
        m = evaluate(FSCode("tmp", self.activation, h, T, d), self.x, self.w, self.f)
        return m["mse"] + self.lam * m["mean_spikes"], m

    def solve_d(self, h, T) -> np.ndarray:
        Z = spike_patterns(self.x, FSCode("tmp", self.activation, h, T, np.zeros(self.K)))
        return weighted_lstsq_d(Z, self.y, self.w)

    def start(self, h0, T0):
        """Reset the variables to ``(h0, T0, d*)`` and the optimiser state; return the start."""
        d0 = self.solve_d(h0, T0)
        for var, val in zip(self.vars, (h0, T0, d0)):
            var.assign(val.astype(np.float32))
        for var in self.opt.variables:
            var.assign(self._zeros_like(var))
        return self.exact(h0, T0, d0)[0], (h0, T0, d0)

    def run(self, h0, T0, steps: int, ls_every: int, bar) -> tuple[float, tuple]:
        """One restart: ``steps`` Adam steps, ``d`` re-solved every ``ls_every``; the best
        ``(exact loss, (h, T, d))`` seen."""
        best = self.start(h0, T0)
        h_v, T_v, d_v = self.vars
        for i in range(1, steps + 1):
            self.step()
            if i % ls_every == 0 or i == steps:
                h, T = h_v.numpy().astype(np.float64), T_v.numpy().astype(np.float64)
                d = self.solve_d(h, T)
                d_v.assign(d.astype(np.float32))
                loss, _ = self.exact(h, T, d)
                if loss < best[0]:
                    best = loss, (h, T, d)
            bar.update(1)
        return best


def fit_code(target: str | Callable[[np.ndarray], np.ndarray], K: int, *,
             x: np.ndarray | None = None, weights: np.ndarray | None = None,
             x_range: tuple[float, float] = (-10.0, 10.0), n_grid: int = 4001,
             lam: float = 0.0, restarts: int = 6, steps: int = 1500, lr: float = 0.02,
             ls_every: int = 100, seed: int | None = None, name: str | None = None,
             activation: str | None = None, progress: bool = True) -> FitResult:
    """Fit an FS code with ``K`` steps to ``target`` (an activation name or a function).

    ``x``/``weights``: the inputs and their probabilities (default: a uniform grid of
    ``n_grid`` points on ``x_range``). ``lam``: spike-count penalty. ``restarts``: the first
    starts from a binary code over the positive range, the others from random initialisations
    (half S&M-style, half spread thresholds). Returns the best code (lowest exact loss) with
    its metrics.
    """
    import tensorflow as tf
    from tqdm.auto import tqdm

    if not isinstance(K, (int, np.integer)) or K < 1:
        raise ValueError(f"K must be a positive integer, got {K!r}")
    x, w, y, f, activation = _problem(target, x, weights, x_range, n_grid, activation)
    lo, hi = float(x.min()), float(x.max())
    seed = DEFAULT_SEED if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    tf.random.set_seed(seed)
    fitter = _Fitter(x, w, y, f, activation, K, lam, lr)
    best, restart_losses = (np.inf, None), []
    kinds = ["binary"] + ["sm_random" if i % 2 else "spread" for i in range(1, restarts)]
    with tqdm(total=restarts * steps, desc=f"fit {activation} K={K}", disable=not progress,
              mininterval=2.0) as bar:
        for kind in kinds[:restarts]:
            run_best = fitter.run(*_init_params(kind, K, lo, hi, rng), steps, ls_every, bar)
            restart_losses.append(float(run_best[0]))
            if run_best[0] < best[0]:
                best = run_best
    h, T, d = best[1]
    loss, metrics = fitter.exact(h, T, d)
    code = FSCode(name or f"fitted_{activation}_K{K}", activation, h, T, d, (lo, hi),
                  {"family": "fitted", "lambda": float(lam), "loss": float(loss),
                   "restarts": restarts, "steps": steps, "seed": seed,
                   "fit_on": "uniform grid" if weights is None else "weighted samples"})
    return FitResult(code, float(loss), metrics, restart_losses)


def fit_or_load(activation: str, K: int, codes_dir, reuse: bool = True, name: str | None = None,
                **fit_kwargs) -> FSCode:
    """Load ``codes_dir/<name>.json`` when ``reuse`` and the file records the same fit
    (restarts, steps, seed, spike price, input range), else :func:`fit_code` and save it
    there, printing one line saying why. ``name`` defaults to ``fitted_<activation>_K<K>``."""
    name = name or f"fitted_{activation}_K{K}"
    path = Path(codes_dir) / f"{name}.json"
    if reuse and path.is_file():
        code = FSCode.load(path)
        why = _fit_mismatch(code, fit_kwargs)
        if not why:
            return code
        print(f"refitting {name}: {why}")
    code = fit_code(activation, K, name=name, **fit_kwargs).code
    code.save(codes_dir)
    return code


def _fit_mismatch(code: FSCode, fit_kwargs: dict) -> str:
    """What differs between a saved fit and the one asked for ("" when nothing does)."""
    defaults = {"restarts": 6, "steps": 1500, "seed": DEFAULT_SEED, "lambda": 0.0}
    asked = {"restarts": fit_kwargs.get("restarts", defaults["restarts"]),
             "steps": fit_kwargs.get("steps", defaults["steps"]),
             "seed": DEFAULT_SEED if fit_kwargs.get("seed") is None else int(fit_kwargs["seed"]),
             "lambda": float(fit_kwargs.get("lam", 0.0))}
    diff = [f"{k}: saved {code.meta.get(k)!r} -> asked {v!r}" for k, v in asked.items()
            if code.meta.get(k) != v]
    if "x_range" in fit_kwargs and fit_kwargs.get("x") is None and code.x_range is not None:
        lo, hi = (float(v) for v in fit_kwargs["x_range"])
        if not np.allclose(code.x_range, (lo, hi)):
            diff.append(f"x_range: saved {list(code.x_range)} -> asked {[lo, hi]}")
    return "; ".join(diff)


def fit_offset_code(activation: str, K: int, x: np.ndarray, weights: np.ndarray | None = None,
                    *, lam: float = 0.0, name: str | None = None, **fit_kwargs: Any
                    ) -> OffsetCode:
    """Fit both halves of an offset-folded ``activation`` code with ``K`` steps on inputs
    ``x`` (a layer's real pre-activations, or a grid) and their ``weights``: f⁺ on the
    non-negative inputs, f⁻ on the negated negative ones, each with spike price ``lam`` (the
    share of inputs on each side weights its spikes like everywhere else). ``fit_kwargs``:
    as for :func:`helpers.fs.fitting.fit_code`."""
    x = np.asarray(x, dtype=np.float64).ravel()
    w = np.ones_like(x) if weights is None else np.asarray(weights, np.float64).ravel()
    o, pos, neg = half_targets(activation)
    halves = []
    for side, target, xs, ws in (("positive", pos, x[x >= 0], w[x >= 0]),
                                 ("negative", neg, -x[x < 0], w[x < 0])):
        if xs.size == 0:
            raise ValueError(f"no {side} inputs to fit the {side} half of {activation!r} on; "
                             "pass inputs on both sides of 0")
        halves.append(fit_code(target, K, x=np.concatenate([[0.0], xs]),
                               weights=np.concatenate([[0.0], ws]), lam=lam,
                               activation=activation, **fit_kwargs).code)
    lam_tag = f"_lam{lam:g}" if lam else ""
    return offset_code(name or f"offset_{activation}{lam_tag}_K{K}", activation, *halves, o)
