"""Offset folding: FS codes that spend no spikes on an activation's resting value.

A smooth activation f (SiLU, sigmoid) is never exactly zero, so a plain FS neuron spends
spikes on every input. Split it at its value at rest, ``o = f(0)`` (sigmoid: 0.5, SiLU: 0):

    f(x) = o + f⁺(x) − f⁻(−x),   f⁺(x) = max(f(x) − o, 0) for x ≥ 0 (else 0),
                                  f⁻(y) = max(o − f(−y), 0) for y ≥ 0 (else 0),

exact when f(x) ≥ o for x ≥ 0 and f(x) ≤ o for x ≤ 0 (true for both). The constant ``o``
moves out of the neuron: the converter adds it to the layer's output as a constant input of
the next layer (a bias map, exact at padded borders), and a *pair* of FS neurons sends the
signed remainder: one on x with a code for f⁺, one on −x with a code for f⁻. A neuron at
rest (x near 0) sends no spike. :class:`OffsetCode` (defined with the other codes in
:mod:`helpers.fs.neuron`) holds both codes and the offset; :func:`helpers.fs.fitting.
fit_offset_code` fits them.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from helpers.fs import activations
from helpers.fs.neuron import FSCode, OffsetCode, fs_numpy

__all__ = ["OffsetCode", "half_targets", "offset_code", "offset_numpy"]


def half_targets(activation: str) -> tuple[float, Callable, Callable]:
    """``(o, f⁺, f⁻)`` of ``activation`` split at its value at 0 (see the module docstring)."""
    f = activations.get(activation)
    o = float(f(np.zeros(1))[0])

    def pos(x):
        x = np.asarray(x, dtype=np.float64)
        return np.where(x >= 0, np.maximum(f(x) - o, 0.0), 0.0)

    def neg(y):
        y = np.asarray(y, dtype=np.float64)
        return np.where(y >= 0, np.maximum(o - f(-y), 0.0), 0.0)

    return o, pos, neg


def offset_code(name: str, activation: str, positive: FSCode, negative: FSCode,
                offset: float) -> OffsetCode:
    """An :class:`OffsetCode` from its two halves (family "offset")."""
    if len(positive.h) != len(negative.h):
        raise ValueError(f"the halves of {name!r} need the same K (both neurons run in the same "
                         f"window): {len(positive.h)} and {len(negative.h)}")
    return OffsetCode(name, activation, positive.h, positive.T, positive.d, positive.x_range,
                      {"family": "offset", "offset": float(offset),
                       "negative": negative.to_dict(), **{k: v for k, v in positive.meta.items()
                                                          if k not in ("family",)}})


def offset_numpy(x: np.ndarray, code: OffsetCode) -> tuple[np.ndarray, np.ndarray]:
    """``(output, spikes)`` of an offset-folded neuron pair for inputs ``x``."""
    x = np.asarray(x)
    out_p, z_p = fs_numpy(x, code)
    out_n, z_n = fs_numpy(-x, code.negative)
    return code.offset + out_p - out_n, z_p + z_n
