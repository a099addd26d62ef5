"""Offset folding: FS codes that spend no spikes on an activation's resting value.

A smooth activation f (SiLU, sigmoid) is never exactly zero, so a plain FS neuron spends
spikes on every input. Split it at its value at rest, ``o = f(0)`` (sigmoid: 0.5, SiLU: 0):

    f(x) = o + f⁺(x) − f⁻(−x),   f⁺(x) = max(f(x) − o, 0) for x ≥ 0 (else 0),
                                  f⁻(y) = max(o − f(−y), 0) for y ≥ 0 (else 0),

exact when f(x) ≥ o for x ≥ 0 and f(x) ≤ o for x ≤ 0 (true for both). The constant ``o``
moves out of the neuron: the converter adds it to the layer's output as a constant input of
the next layer (a bias map, exact at padded borders), and a *pair* of FS neurons sends the
signed remainder: one on x with a code for f⁺, one on −x with a code for f⁻. A neuron at
rest (x near 0) sends no spike. :class:`OffsetCode` holds both codes and the offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from helpers.fs import activations
from helpers.fs.neuron import FSCode, fs_numpy


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


@dataclass(frozen=True)
class OffsetCode(FSCode):
    """An offset-folded code: ``h, T, d`` are the positive half's code (neurons on x),
    ``meta['negative']`` the negative half's (neurons on −x, a code dict), ``meta['offset']``
    the constant moved to the next layer. ``K``: the longer half's steps."""

    @property
    def negative(self) -> FSCode:
        return FSCode.from_dict(self.meta["negative"])

    @property
    def offset(self) -> float:
        return float(self.meta["offset"])

    @property
    def K(self) -> int:
        return max(len(self.h), int(self.meta["negative"]["K"]))

    def with_meta(self, **meta: Any) -> "OffsetCode":
        return OffsetCode(self.name, self.activation, self.h, self.T, self.d, self.x_range,
                          {**self.meta, **meta})

    def renamed(self, name: str) -> "OffsetCode":
        return OffsetCode(name, self.activation, self.h, self.T, self.d, self.x_range, self.meta)

    def scaled(self, s: float) -> "OffsetCode":
        pos, neg = FSCode.scaled(self, s), self.negative.scaled(s)
        return OffsetCode(self.name, self.activation, pos.h, pos.T, pos.d, pos.x_range,
                          {**self.meta, "negative": neg.to_dict(), "offset": self.offset * s})


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


def fit_offset_code(activation: str, K: int, x: np.ndarray, weights: np.ndarray | None = None,
                    *, lam: float = 0.0, name: str | None = None, **fit_kwargs: Any
                    ) -> OffsetCode:
    """Fit both halves of an offset-folded ``activation`` code with ``K`` steps on inputs
    ``x`` (a layer's real pre-activations, or a grid) and their ``weights``: f⁺ on the
    non-negative inputs, f⁻ on the negated negative ones, each with spike price ``lam`` (the
    share of inputs on each side weights its spikes like everywhere else). ``fit_kwargs``:
    as for :func:`helpers.fs.fitting.fit_code`."""
    from helpers.fs.fitting import fit_code

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
