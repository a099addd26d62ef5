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

import numpy as np


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
