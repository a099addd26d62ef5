"""The floating-point spike code of the student project this work continues
(thomasshoesmith/JRA_Public, notebook ``floating_point_conversion.ipynb``: ``fp_d2s`` /
``fp_s2d``), and that notebook's FS reference, in NumPy.

Encoder, for an input ``x`` (ReLU: negative inputs act as 0) and a range ``alpha``:

* ``x`` is capped at ``alpha``;
* the exponent ``e`` is the number of halvings of ``alpha`` until ``alpha / 2**e <= x``, at
  most ``2**elim - 1``; it is sent as ``elim`` binary spikes (one per set bit);
* the K mantissa thresholds are ``m, m/2, ..., m/2**(K-1)`` with ``m = alpha / 2**e``, fired
  greedily (a spike when the threshold is <= the remaining value, which it then loses);
* the decoded value is the sum of the fired thresholds.

Unlike an FS code it is not a fixed weighted sum of spikes: a mantissa spike's weight depends
on the exponent sent before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers.fs.neuron import FSCode


def jra_fp(x: np.ndarray, K: int, elim: int, alpha: float) -> dict[str, np.ndarray]:
    """Encode and decode ``x`` (any shape) with the JRA floating-point code.

    Returns ``value`` (decoded, ``x``'s shape), ``exponent`` (int), ``spikes`` (exponent bits
    set + mantissa spikes) and ``mantissa`` (``(K,) + x.shape`` bool spikes).
    """
    if K < 1 or elim < 1 or not alpha > 0:
        raise ValueError(f"need K >= 1, elim >= 1 and alpha > 0; got K={K}, elim={elim}, "
                         f"alpha={alpha}")
    x = np.minimum(np.asarray(x, dtype=np.float64), alpha)
    e_max = 2 ** elim - 1
    e = np.full(x.shape, e_max)
    for k in range(e_max, -1, -1):       # ends with the smallest e with alpha/2**e <= x
        e = np.where(alpha * 2.0 ** -k <= x, k, e)
    m = alpha * 2.0 ** -e
    v, value = x.copy(), np.zeros_like(x)
    bits = []
    for i in range(K):
        t = m * 2.0 ** -i
        z = t <= v
        v = np.where(z, v - t, v)
        value = value + np.where(z, t, 0.0)
        bits.append(z)
    mantissa = np.stack(bits)
    popcount = np.vectorize(lambda n: bin(int(n)).count("1"))(e) if e.size else e
    return {"value": value, "exponent": e, "mantissa": mantissa,
            "spikes": popcount + mantissa.sum(0)}


def jra_fs_reference(x: np.ndarray, K: int, alpha: float) -> np.ndarray:
    """The JRA notebook's FS neuron (``fs()``): thresholds, resets and outputs
    ``alpha / 2**i`` for ``i = 1..K``, a spike when ``v >= T``."""
    v = np.asarray(x, dtype=np.float64).copy()
    out = np.zeros_like(v)
    for i in range(1, K + 1):
        t = alpha * 2.0 ** -i
        z = v >= t
        out += np.where(z, t, 0.0)
        v = np.where(z, v - t, v)
    return out


def percent_difference(fs_error: float, fp_error: float) -> float:
    """The JRA poster's comparison: ``(FS error - FP error) / mean of the two``, in %."""
    return 100.0 * (fs_error - fp_error) / ((fs_error + fp_error) / 2)


# -- as a code family of the FS networks ----------------------------------------------------
#
# The exponent part is e' = #{k in [0, e_max - 1]: alpha 2^-k <= x}, so e = e_max - e' is the
# seed project's exponent, and both are found by a binary search of elim threshold tests
# "e' >= c"  <=>  x >= alpha 2^(c - e_max)  (one test per exponent step). The mantissa part is
# an FS neuron (T = h = d) on the input divided by the gain g = 2^-e: every value involved is
# alpha times a power of two, so all of it is exact in float32 (subtractions by Sterbenz's
# lemma), in NumPy, TensorFlow and the event-level simulator alike.
#
# Improved variant ("implicit"): the exponent goes out as the bits of e' (a neuron at zero
# sends no exponent spike; the seed code sends all elim of them) and, as in IEEE 754, the
# leading mantissa bit of a normal number (e' >= 1: it always fires) is implicit: the synapse
# adds alpha 2^-e when the exponent arrives, and the K mantissa steps carry the next K bits
# (one more bit of precision at the same latency). e' = 0 is the subnormal range, scaled like
# e' = 1 without the implicit bit.


@dataclass(frozen=True)
class JRACode(FSCode):
    """The JRA floating-point code as a code of FS layers: ``h = T = d`` are the mantissa
    thresholds for gain 1 (``alpha 2^-i``, i = 0..K-1; improved: i = 1..K), ``K`` is the
    window length ``elim`` + mantissa steps, ``meta`` holds ``family`` ("jra_fp"; improved:
    "jra_fp_improved"), ``elim``, ``alpha`` and ``improved``."""

    @property
    def K(self) -> int:
        return self.elim + len(self.h)

    @property
    def elim(self) -> int:
        return int(self.meta["elim"])

    @property
    def alpha(self) -> float:
        return float(self.meta["alpha"])

    @property
    def improved(self) -> bool:
        return bool(self.meta["improved"])

    def _like(self, name: str, arrays, x_range, meta) -> "JRACode":
        return JRACode(name, self.activation, *arrays, x_range, meta)

    def with_meta(self, **meta: Any) -> "JRACode":
        return self._like(self.name, (self.h, self.T, self.d), self.x_range, {**self.meta, **meta})

    def renamed(self, name: str) -> "JRACode":
        return self._like(name, (self.h, self.T, self.d), self.x_range, self.meta)

    def scaled(self, s: float) -> "JRACode":
        return self._like(self.name, (self.h * s, self.T * s, self.d * s),
                          None if self.x_range is None else (0.0, self.x_range[1] * s),
                          {**self.meta, "alpha": self.alpha * s})


def jra_code(K: int, elim: int, alpha: float = 1.0, improved: bool = False) -> JRACode:
    """The JRA floating-point code with ``K`` mantissa steps and ``elim`` exponent steps on
    inputs capped at ``alpha`` (names ``jra_fp_K<K>_E<elim>``, improved: ``jra_fp_implicit_...``)."""
    if K < 1 or elim < 1 or not alpha > 0:
        raise ValueError(f"need K >= 1, elim >= 1 and alpha > 0; got K={K}, elim={elim}, "
                         f"alpha={alpha}")
    i = np.arange(1, K + 1) if improved else np.arange(K)
    t = alpha * 2.0 ** -i
    name = f"jra_fp{'_implicit' if improved else ''}_K{K}_E{elim}"
    return JRACode(name, "relu", t, t, t, (0.0, float(alpha)),
                   {"family": "jra_fp_improved" if improved else "jra_fp", "elim": elim, "alpha": float(alpha),
                    "improved": improved, "input_scale": float(alpha)})


def jra_numpy(x: np.ndarray, code: JRACode) -> tuple[np.ndarray, np.ndarray]:
    """``(output, spikes)`` of ``code`` for inputs ``x`` (any shape), in float32 like the
    networks: exponent by binary search, then the mantissa neuron on ``x / g``."""
    f32 = np.float32
    a, e_max = f32(code.alpha), 2 ** code.elim - 1
    x = np.minimum(np.maximum(np.asarray(x, f32), f32(0)), a)
    ep = np.zeros(x.shape, np.int64)
    spikes = np.zeros(x.shape, np.int64)
    for k in range(code.elim):                    # MSB first: is e' >= prefix + bit?
        c = ep + 2 ** (code.elim - 1 - k)
        ok = x >= a * np.exp2(c - e_max).astype(f32)
        ep = np.where(ok, c, ep)
        spikes += ok if code.improved else ~ok    # the seed code sends the bits of e
    e = e_max - ep
    if code.improved:
        g = np.exp2(-np.minimum(e, e_max - 1)).astype(f32)
        implicit = np.where(ep >= 1, a * g, f32(0)).astype(f32)
    else:
        g, implicit = np.exp2(-e).astype(f32), np.zeros_like(x)
    v, out = (x - implicit) / g, np.zeros_like(x)
    for t in code.T.astype(f32):
        z = v >= t
        v = np.where(z, v - t, v)
        out = out + np.where(z, t, f32(0))
        spikes += z
    return implicit + g * out, spikes


def jra_tf_forward(x, code: JRACode):
    """:func:`jra_numpy` in TensorFlow (the FS-equivalent model's JRA layers): returns
    ``(output, spike_count)``, both shaped like ``x``, float32."""
    import tensorflow as tf

    f32 = np.float32
    a, e_max = f32(code.alpha), 2 ** code.elim - 1
    thresholds = tf.constant(a * np.exp2(np.arange(e_max + 1) - e_max).astype(f32))
    x = tf.minimum(tf.maximum(x, 0.0), a)
    ep = tf.zeros_like(x, tf.int32)
    spikes = tf.zeros_like(x)
    for k in range(code.elim):
        c = ep + 2 ** (code.elim - 1 - k)
        ok = x >= tf.gather(thresholds, c)
        ep = tf.where(ok, c, ep)
        spikes += tf.cast(ok if code.improved else ~ok, tf.float32)
    e = e_max - ep
    gains = tf.constant(np.exp2(-np.arange(e_max + 1)).astype(f32))
    if code.improved:
        g = tf.gather(gains, tf.minimum(e, e_max - 1))
        implicit = tf.where(ep >= 1, a * g, 0.0)
    else:
        g, implicit = tf.gather(gains, e), tf.zeros_like(x)
    v, out = (x - implicit) / g, tf.zeros_like(x)
    for t in code.T.astype(f32):
        z = tf.cast(v >= t, tf.float32)
        v = v - t * z
        out = out + t * z
        spikes += z
    return implicit + g * out, spikes


#: The seed project's poster cases: (input upper end, alpha, FP K, FP elim, its percent
#: difference (FS K = 8 error - FP error) / mean of the two).
POSTER_CASES = ((100, 100, 4, 4, -166), (100, 100, 6, 2, -93), (1000, 1000, 6, 2, -93),
                (1, 100, 4, 4, 155))


def jra_reproduction(n: int = 1000) -> dict[str, object]:
    """The seed notebook's comparison (summed absolute error on ``n`` evenly spaced inputs in
    [0, 1]: FS K = 8, alpha = 10 -> 19.53; floating point K = 4, elim = 4, alpha = 10 ->
    22.40) and its poster's four cases, recomputed, beside the published values."""
    x = np.linspace(0, 1, n)
    cases = []
    for hi, alpha, K, elim, published in POSTER_CASES:
        xs = np.linspace(0, hi, n)
        fs_err = float(np.abs(jra_fs_reference(xs, 8, alpha) - xs).sum())
        fp_err = float(np.abs(jra_fp(xs, K, elim, alpha)["value"] - xs).sum())
        cases.append({"inputs": [0, hi], "alpha": alpha, "fp_K": K, "fp_elim": elim,
                      "fs_error": fs_err, "fp_error": fp_err,
                      "percent_difference": percent_difference(fs_err, fp_err),
                      "published": published})
    return {"notebook": {"fs_K8_alpha10": float(np.abs(jra_fs_reference(x, 8, 10.0) - x).sum()),
                         "fp_K4_elim4_alpha10": float(np.abs(jra_fp(x, 4, 4, 10.0)["value"]
                                                             - x).sum()),
                         "published": {"fs_K8_alpha10": 19.53, "fp_K4_elim4_alpha10": 22.40}},
            "poster_cases": cases}
