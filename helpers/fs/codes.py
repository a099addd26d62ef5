"""FS code families (how each one is measured: :mod:`helpers.fs.measure`).

Every family is a function returning an :class:`~helpers.fs.neuron.FSCode` for a given
``K`` and input range (``alpha``: the largest input the code must represent, in the units of
the neuron's input). Steps are 0-based below, ``t = 0..K-1``.

* :func:`binary` -- the mlGeNN / Stöckl & Maass ReLU code ``h = T = d = α 2^-(t+1)``: floor
  quantisation to ``α 2^-K``, clipped at ``α (1 - 2^-K)``; spikes = popcount.
* :func:`geometric` -- the same greedy code with any radix ``r`` and optionally *midpoint*
  thresholds (spike when that brings the output closer: ``T(t) = (d(t) + Σ_{s>t} d(s)) / 2``).
  For ``r = 2`` midpoint thresholds turn floor into round-to-nearest (half the max error
  at the same K).
* :func:`float_like` -- radix ``r > 2`` with midpoint thresholds: code points are dense near
  zero with roughly constant *relative* spacing, like floating point (small values cost few
  spikes), at the price of coarser steps at the top of the range.
* :func:`fibonacci` -- radix φ (golden ratio), greedy: for inputs in ``[0, α)`` the spike
  train is the Zeckendorf representation, which never has two consecutive spikes; it needs
  ~1.44x more timesteps than binary for the same resolution but spends ~0.28 instead of
  0.5 spikes per step.
* :func:`distribution_aware` -- designed on samples of a layer's inputs (a Huffman-like
  idea: frequent inputs cost few spikes): range, radix and threshold rule chosen to minimise
  ``E[err^2] + λ E[spikes]`` on the samples, then ``d`` re-fitted so every code point sits at
  the mean of the inputs it stands for. (A per-step greedy "matching pursuit" design was
  tried first and is worse: its midpoint decisions leave negative residuals that later,
  subtract-only steps can never correct.)
* :func:`sm_published` -- Stöckl & Maass's published SiLU (K=16) and sigmoid (K=12) codes
  (christophstoeckl/FS-neurons, ``fs_weights.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers.fs.measure import evaluate, refit_d
from helpers.fs.neuron import FSCode

GOLDEN_RATIO = (1.0 + 5.0 ** 0.5) / 2.0


def _check(K: int, alpha: float) -> None:
    if not isinstance(K, (int, np.integer)) or K < 1:
        raise ValueError(f"K must be a positive integer, got {K!r}")
    if not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"alpha must be a positive finite number, got {alpha!r}")


def binary(K: int, alpha: float = 1.0, name: str | None = None) -> FSCode:
    """mlGeNN's FewSpike / S&M ReLU code: ``h = T = d = α 2^-(t+1)``."""
    _check(K, alpha)
    w = alpha * 2.0 ** -np.arange(1, K + 1)
    return FSCode(name or f"binary_K{K}", "relu", w, w, w, (0.0, float(alpha)),
                  {"family": "binary", "alpha": float(alpha), "radix": 2.0})


def geometric(K: int, alpha: float = 1.0, radix: float = 2.0, midpoint: bool = True,
              name: str | None = None, family: str = "geometric") -> FSCode:
    """Greedy code with weights ``α (r-1) r^-(t+1)`` (so the weights of an infinite code would
    sum to α), with midpoint (round-to-nearest) or plain (floor) thresholds."""
    _check(K, alpha)
    if radix <= 1:
        raise ValueError(f"radix must be > 1, got {radix}")
    w = alpha * (radix - 1.0) * radix ** -np.arange(1, K + 1, dtype=np.float64)
    if radix == 2.0:
        w = alpha * 2.0 ** -np.arange(1, K + 1)
    rest = np.concatenate([np.cumsum(w[::-1])[::-1][1:], [0.0]])   # Σ_{s>t} w(s)
    T = (w + rest) / 2.0 if midpoint else w.copy()
    tag = "mid" if midpoint else "floor"
    return FSCode(name or f"{family}_r{radix:.3g}_{tag}_K{K}", "relu", w, T, w,
                  (0.0, float(alpha)),
                  {"family": family, "alpha": float(alpha), "radix": float(radix),
                   "midpoint": bool(midpoint)})


def float_like(K: int, alpha: float = 1.0, radix: float = 2.5, name: str | None = None) -> FSCode:
    """Floating-point-like code: radix ``r > 2`` with midpoint thresholds.

    A fixed FS schedule has a single state variable, so a true exponent + mantissa code
    (relative precision after the leading spike) cannot be realised; a radix above 2 gives
    the same shape of representable set -- spacing that grows with the value.
    """
    if radix <= 2:
        raise ValueError(f"float_like needs radix > 2 (got {radix}); use geometric() otherwise")
    return geometric(K, alpha, radix, True, name or f"float_r{radix:.3g}_K{K}", "float_like")


def fibonacci(K: int, alpha: float = 1.0, name: str | None = None) -> FSCode:
    """Greedy radix-φ code ``h = T = d = α φ^-(t+1)``: Zeckendorf spike trains.

    Since ``w(t) = w(t+1) + w(t+2)``, an input in ``[0, α)`` never fires two consecutive
    spikes (``α = w(0) + w(1)`` is the largest sum of non-adjacent weights, in the limit);
    inputs at or above ``α`` saturate with spikes at steps 0 and 1.
    """
    _check(K, alpha)
    w = alpha * GOLDEN_RATIO ** -np.arange(1, K + 1, dtype=np.float64)
    return FSCode(name or f"fibonacci_K{K}", "relu", w, w, w, (0.0, float(alpha)),
                  {"family": "fibonacci", "alpha": float(alpha), "radix": GOLDEN_RATIO})


def distribution_aware(samples: np.ndarray, K: int, lam: float = 0.0,
                       radices: tuple[float, ...] = (1.3, 1.4, 1.5, GOLDEN_RATIO, 1.75, 2.0,
                                                     2.5),
                       quantiles: tuple[float, ...] = (0.99, 0.995, 0.999, 0.9999, 1.0),
                       name: str | None = None, activation: str = "relu",
                       max_samples: int = 200_000, seed: int = 0) -> FSCode:
    """Code designed for the inputs ``samples`` of one layer (ReLU-like targets).

    Searches radix ``r`` (``radices``), range ``α`` (``quantiles`` of the positive samples)
    and threshold rule (floor / midpoint) for the greedy code that minimises
    ``E[(FS(x) - f(x))^2] + lam * E[spikes]`` on the samples, then re-fits ``d`` by least
    squares so each code point moves to the mean of the inputs it represents (Lloyd's
    centroid condition). ``lam`` is the price of one spike in squared output units.
    Radices below 2 trade timesteps for spikes: they need a larger K for the same
    resolution but fire less often per step. At most ``max_samples`` samples (a seeded
    random subset) are used.
    """
    if activation not in ("relu", "relu6"):
        raise ValueError("distribution_aware designs codes for ReLU-like targets; use "
                         "fitting.fit_code for SiLU / sigmoid")
    x = np.asarray(samples, dtype=np.float64).ravel()
    if x.size > max_samples:
        x = np.random.default_rng(seed).choice(x, max_samples, replace=False)
    pos = x[x > 0]
    if pos.size == 0:
        raise ValueError("samples contain no positive input; nothing to encode")
    best = None
    for q in quantiles:
        alpha = float(np.quantile(pos, q))
        for r in radices:
            for mid in (False, True):
                c = refit_d(geometric(K, alpha, r, mid), x)
                m = evaluate(c, x)
                cost = m["mse"] + lam * m["mean_spikes"]
                if best is None or cost < best[0]:
                    best = (cost, c, q, r, mid)
    _, c, q, r, mid = best
    return FSCode(name or f"distaware_lam{lam:.3g}_K{K}", activation, c.h, c.T, c.d,
                  (float(x.min()), float(x.max())),
                  {"family": "distribution_aware", "lambda": float(lam), "radix": float(r),
                   "alpha_quantile": float(q), "alpha": float(c.meta["alpha"]),
                   "midpoint": bool(mid), "d_refit": "weighted least squares"})


# S&M's published coefficients (christophstoeckl/FS-neurons, fs_weights.py). They are used as
# published, with h[t] the reset after a spike at step t (the convention of fs_neuron): their
# last h is 0, i.e. unused, and on [-10, 10] they give MSE 0.0030 (SiLU) and 1.4e-4 (sigmoid),
# matching the losses recorded beside them. Applying them in the order of the repository's
# fs_coding.py loop (reset before the test, h[0] unused) gives 0.34 and 0.060 instead.
_SM = {
    "silu": dict(
        h=[0.7844085, 1.7550646, 1.4212719, 1.9244663, 1.4400164, 1.9249276, 1.6100428,
           1.29061, 0.83985287, 3.0827985, 0.43503317, 0.5155389, 0.3269445, 7.618048,
           -14.419675, 0],
        d=[0.40088242, 1.8856316, 1.4915457, 1.947229, 1.4717816, 1.9147849, 1.6389303,
           1.2934641, 0.8703124, 0.68460804, 0.44262582, 0.32832766, 0.13907616,
           -0.26217145, 0.23736191, -0.14830568],
        T=[0.05946945, 1.6541206, 1.3066754, 1.3267198, 1.1000695, 1.2308974, 1.1188028,
           0.9472501, 0.5447531, 1.0236325, 0.11921431, -0.12855051, -0.44731247,
           -2.1383545, 1., -4.109145]),
    "sigmoid": dict(
        h=[1.6558512, 1.0989026, 10.7739, 1.3579437, 1.0146959, 0.8972655, 2.1207616,
           1.6949341, 3.6397197, -2.1483946, 5.1177883, 0],
        d=[0.37689912, 0.21977554, 0.40271342, 0.17005783, 0.09584032, 0.06293014,
           0.04360681, -0.0443096, 0.01999909, 0.07107325, 0.01502249, 0.01021793],
        T=[-0.00824843, -0.9319625, 1.0080122, -1.2074932, -1.7885877, -2.7065408,
           -3.2715735, 0.07132628, -3.719372, -0.543918, -3.7693157, -5.5447803]),
}


def sm_published(activation: str) -> FSCode:
    """Stöckl & Maass's published FS code for "silu" (K=16) or "sigmoid" (K=12); their ReLU
    code is :func:`binary` (K=10, α=25)."""
    if activation not in _SM:
        raise ValueError(f"S&M published codes exist for {sorted(_SM)}; for ReLU use "
                         "binary(10, 25.0)")
    c = _SM[activation]
    return FSCode(f"sm_{activation}_K{len(c['h'])}", activation, c["h"], c["T"], c["d"],
                  (-10.0, 10.0), {"family": "sm_published",
                                  "source": "christophstoeckl/FS-neurons fs_weights.py"})


def saved_code_files(activation: str, codes_dir, designed: bool = True) -> list[Path]:
    """The committed code files usable for ``activation``: ReLU → the codes chosen by
    notebook 03 (``relu_*.json``, normalised units); SiLU / sigmoid → notebook 02's fits
    (``fitted_<act>_K*``), S&M's (``sm_<act>_*``) and, unless ``designed`` is False, notebook
    03's codes designed on the network's pre-activations (density fits ``<act>_density_*``,
    offset-folded pairs ``offset_<act>_*``). Sorted by name."""
    folder = Path(codes_dir)
    if activation == "relu":
        patterns = ["relu_*.json"]
    else:
        patterns = [f"fitted_{activation}_K*.json", f"sm_{activation}_K*.json"]
        if designed:
            patterns += [f"{activation}_density_*.json", f"offset_{activation}_*.json"]
    return sorted({p for pat in patterns for p in folder.glob(pat)})


def saved_codes_for(activation: str, codes_dir, designed: bool = True) -> list[FSCode]:
    """The codes of :func:`saved_code_files`, sorted by (K, name)."""
    return sorted((FSCode.load(p) for p in saved_code_files(activation, codes_dir, designed)),
                  key=lambda c: (c.K, c.name))


def code_family(code: FSCode) -> str:
    """The family of ``code`` in results rows and figures: its ``meta['family']`` (default
    "fitted"); geometric codes are "rounded" with midpoint thresholds, else "binary"."""
    fam = code.meta.get("family", "fitted")
    if fam == "geometric":
        return "rounded" if code.meta.get("midpoint") else "binary"
    return fam
