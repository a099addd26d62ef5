"""The Few-Spikes (FS) neuron (Stöckl & Maass 2021, Nat. Mach. Intell. 3:230) and its code.

An FS neuron turns an analog input ``x`` (any shape) into at most ``K`` spikes over ``K``
timesteps. With the code ``(h, T, d)`` -- reset, threshold and output weight per step, all in
the units of ``x`` -- and 0-based steps ``t = 0..K-1``::

    v(0) = x
    z(t) = Θ(v(t) - T(t))            Θ(0) = 1: a neuron exactly at threshold fires
    out  = Σ_t d(t) z(t)
    v(t+1) = v(t) - h(t) z(t)

so ``FS(x) = Σ_t d(t) z(t)`` and the spike count is ``Σ_t z(t)``.

The threshold test is evaluated as ``(v - T) / (|v| + 1) >= 0`` in float32, in NumPy and in
TensorFlow alike, so the two implementations agree bit for bit; in TensorFlow the Heaviside
step gets S&M's pseudo-derivative ``max(0, 1 - |v_scaled|)`` of the scaled distance
``v_scaled = (v - T) / (|v| + 1)``, so gradients flow to ``x``, ``h``, ``T`` and ``d``.

S&M's published coefficients follow the same convention (``h[t]`` is the reset after a
spike at step ``t``; see :func:`helpers.fs.codes.sm_published`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from helpers.results import read_json, write_json

DTYPE = np.float32


class CodeError(ValueError):
    """A malformed FS code (lengths, K, non-finite values)."""


@dataclass(frozen=True)
class FSCode:
    """An FS code: per-step reset ``h``, threshold ``T`` and output weight ``d``, shape ``(K,)``.

    ``activation`` names the function the code approximates ("relu", "silu", "sigmoid", ...);
    ``x_range`` is the input interval it was designed or fitted on; ``meta`` holds anything
    else (fitting loss, source, alpha, ...). Values are in the units of the neuron's input.
    """

    name: str
    activation: str
    h: np.ndarray
    T: np.ndarray
    d: np.ndarray
    x_range: tuple[float, float] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        arrays = {}
        for key in ("h", "T", "d"):
            try:
                a = np.asarray(getattr(self, key), dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise CodeError(f"code {self.name!r}: {key} must be a list of numbers ({exc})")
            if a.ndim != 1:
                raise CodeError(f"code {self.name!r}: {key} must be 1-D, got shape {a.shape}")
            if not np.all(np.isfinite(a)):
                raise CodeError(f"code {self.name!r}: {key} contains NaN or inf: {a.tolist()}")
            arrays[key] = a
        lengths = {k: len(a) for k, a in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise CodeError(f"code {self.name!r}: h, T and d must have the same length K, got "
                            f"{lengths}")
        if lengths["h"] == 0:
            raise CodeError(f"code {self.name!r}: K must be at least 1 (h, T, d are empty)")
        for k, a in arrays.items():
            a.setflags(write=False)
            object.__setattr__(self, k, a)
        if self.x_range is not None:
            lo, hi = (float(v) for v in self.x_range)
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise CodeError(f"code {self.name!r}: x_range must be finite with lo < hi, got "
                                f"{self.x_range}")
            object.__setattr__(self, "x_range", (lo, hi))

    @property
    def K(self) -> int:
        """Number of timesteps (= maximum spikes per input)."""
        return len(self.h)

    # -- JSON --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "activation": self.activation, "K": self.K,
                "h": self.h.tolist(), "T": self.T.tolist(), "d": self.d.tolist(),
                "x_range": list(self.x_range) if self.x_range else None, **self.meta}

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "FSCode":
        obj = dict(obj)
        missing = [k for k in ("name", "activation", "K", "h", "T", "d") if k not in obj]
        if missing:
            raise CodeError(f"code JSON is missing keys {missing}")
        name, K = obj.pop("name"), obj.pop("K")
        if cls is FSCode and obj.get("family") == "offset":    # a pair of neurons
            cls = OffsetCode
        code = cls(name, obj.pop("activation"), obj.pop("h"), obj.pop("T"), obj.pop("d"),
                   obj.pop("x_range", None), obj)
        if not isinstance(K, int) or K != code.K:
            raise CodeError(f"code {name!r}: K={K!r} but h, T, d have length {code.K}")
        return code

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/<name>.json`` atomically; return the path."""
        return write_json(Path(folder) / f"{self.name}.json", self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "FSCode":
        """Read a code file; a corrupt or incomplete file raises :class:`CodeError` naming it."""
        try:
            code = cls.from_dict(read_json(path))
        except json.JSONDecodeError as exc:
            raise CodeError(f"code file {path} is not valid JSON ({exc}); restore it with "
                            "`git checkout` or re-run the notebook that wrote it") from None
        except CodeError as exc:
            raise CodeError(f"code file {path}: {exc}. Fix the file or re-run the notebook "
                            "that wrote it") from None
        check_relu_like(code, where=f"code file {path}")
        return code

    def with_meta(self, **meta: Any) -> "FSCode":
        return FSCode(self.name, self.activation, self.h, self.T, self.d, self.x_range,
                      {**self.meta, **meta})

    def renamed(self, name: str) -> "FSCode":
        return FSCode(name, self.activation, self.h, self.T, self.d, self.x_range, self.meta)

    def scaled(self, s: float) -> "FSCode":
        """The same code for inputs scaled by ``s`` (h, T, d multiplied by ``s``); for
        positively homogeneous activations such as ReLU, FS_s(s x) = s FS(x)."""
        return FSCode(self.name, self.activation, self.h * s, self.T * s, self.d * s,
                      None if self.x_range is None else (self.x_range[0] * s,
                                                         self.x_range[1] * s), self.meta)


@dataclass(frozen=True)
class OffsetCode(FSCode):
    """An offset-folded code: ``h, T, d`` are the positive half's code (neurons on x),
    ``meta['negative']`` the negative half's (neurons on −x, a code dict), ``meta['offset']``
    the constant moved to the next layer (see :mod:`helpers.fs.offset`). ``K``: the longer
    half's steps."""

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


#: Activations whose codes encode a non-negative magnitude: thresholds and resets must be >= 0.
RELU_LIKE = ("relu", "relu6", "identity")


def check_relu_like(code: FSCode, where: str = "") -> None:
    """Refuse a ReLU-like code with a negative threshold or reset (an input of 0 would fire,
    or a spike would raise the voltage); SiLU / sigmoid codes may have both signs."""
    if code.activation not in RELU_LIKE:
        return
    bad = {k: a.tolist() for k, a in (("T", code.T), ("h", code.h)) if np.any(a < 0)}
    if bad:
        raise CodeError(f"{where or 'code'} {code.name!r} ({code.activation}): negative "
                        f"{' and '.join(bad)} {bad}; a {code.activation} code needs "
                        "thresholds and resets >= 0. Re-fit or re-design the code")


def check_finite(x: np.ndarray, what: str = "FS neuron input") -> None:
    """Raise a clear error when ``x`` holds NaN or inf (an FS neuron would encode them as 0
    or saturate silently)."""
    bad = ~np.isfinite(np.asarray(x, dtype=np.float64))
    if bad.any():
        raise ValueError(f"{what} contains {int(bad.sum())} NaN or inf value(s) of "
                         f"{bad.size}; check the images / calibration data (normalised with "
                         "the model card's mean and std) and the layer before")


def fs_spike_trains(x: np.ndarray, code: FSCode) -> dict[str, np.ndarray]:
    """The FS neuron's K steps on ``x`` (any shape), float32 -- the one NumPy step loop.

    At step t the neuron fires ``z = Θ((v - T[t]) / (|v| + 1))`` (Θ(0) = 1; the scaled test is
    S&M's and equals ``v >= T[t]`` for finite inputs), adds ``d[t] z`` to its output and
    resets ``v -= h[t] z``. Returns ``out`` (``x``'s shape), and ``z`` and ``v`` (the voltage
    before each step's test) of shape ``x.shape + (K,)``.
    """
    check_finite(x)
    v = np.asarray(x, dtype=DTYPE).copy()
    h, T, d = (np.asarray(a, dtype=DTYPE) for a in (code.h, code.T, code.d))
    out = np.zeros_like(v)
    zs, vs = [], []
    one = DTYPE(1)
    for t in range(code.K):
        vs.append(v)
        z = ((v - T[t]) / (np.abs(v) + one) >= 0).astype(DTYPE)
        out = out + d[t] * z
        v = v - h[t] * z
        zs.append(z)
    return {"out": out, "z": np.stack(zs, axis=-1), "v": np.stack(vs, axis=-1)}


def fs_numpy(x: np.ndarray, code: FSCode) -> tuple[np.ndarray, np.ndarray]:
    """Run FS neurons on ``x`` (any shape) in float32; return ``(output, spike_count)``.

    ``output`` has ``x``'s shape, float32; ``spike_count`` int32, same shape.
    """
    r = fs_spike_trains(x, code)
    return r["out"], r["z"].sum(axis=-1, dtype=np.int32)


def fs_trace(x: float, code: FSCode) -> dict[str, np.ndarray]:
    """Membrane voltage, threshold and spikes of one neuron over its K steps.

    Returns arrays of shape ``(K,)``: ``v`` (before the test of each step), ``T``, ``z`` and
    the running output ``out``.
    """
    r = fs_spike_trains(np.array([x], dtype=DTYPE), code)
    z = r["z"][0]
    return {"v": r["v"][0], "T": np.asarray(code.T, dtype=DTYPE), "z": z,
            "out": np.cumsum(np.asarray(code.d, dtype=DTYPE) * z, dtype=DTYPE)}


# -- TensorFlow ----------------------------------------------------------------------------
def _tf():
    import tensorflow as tf

    return tf


def spike_function(v_scaled):
    """Heaviside step ``v_scaled >= 0`` with S&M's triangular pseudo-derivative."""
    tf = _tf()

    @tf.custom_gradient
    def _spike(vs):
        z = tf.cast(vs >= 0, vs.dtype)

        def grad(dy):
            return dy * tf.maximum(1.0 - tf.abs(vs), 0.0)

        return z, grad

    return _spike(v_scaled)


def fs_tf(x, h, T, d, return_spikes: bool = True):
    """TensorFlow FS neurons on ``x`` (any shape), differentiable through the pseudo-derivative.

    ``h``, ``T``, ``d``: float32 tensors or variables of shape ``(K,)`` (an :class:`FSCode`'s
    arrays are accepted too). Returns ``(output, spike_count)`` (both float32, ``x``'s shape),
    or the output alone when ``return_spikes`` is False. The spike count also carries the
    pseudo-gradient, so ``mean(spike_count)`` can be used as a penalty.
    """
    tf = _tf()
    x = tf.convert_to_tensor(x, dtype=tf.float32)
    h, T, d = (tf.convert_to_tensor(a, dtype=tf.float32) for a in (h, T, d))
    out, spikes = _tf_steps(x, h, T, d, lambda v, T_t: spike_function((v - T_t) / (tf.abs(v) + 1.0)))
    return (out, spikes) if return_spikes else out


def _tf_steps(x, h, T, d, fire):
    """The TF step loop shared by :func:`fs_tf` and :func:`fs_tf_forward`: ``fire(v, T[t])``
    gives the spikes of step t. Returns ``(output, spike_count)``."""
    tf = _tf()
    v = x
    out = tf.zeros_like(x)
    spikes = tf.zeros_like(x)
    for t in range(h.shape[0]):
        z = fire(v, T[t])
        out = out + d[t] * z
        v = v - h[t] * z
        spikes = spikes + z
    return out, spikes


def _fires(v, T_t):
    """The inference test ``v >= T(t)`` as 0/1 spikes (see :func:`fs_tf_forward`)."""
    return _tf().cast(v >= T_t, v.dtype)


_FS_FORWARD = None


def fs_tf_forward(x, h, T, d):
    """Inference-only FS neurons: ``(output, spike_count)`` like :func:`fs_tf`, without the
    pseudo-derivative, compiled with XLA so the K steps fuse into one elementwise kernel.

    The test ``v >= T`` is used directly; it equals ``(v - T) / (|v| + 1) >= 0`` for every
    finite float32 input outside a subnormal neighbourhood of the threshold.
    """
    global _FS_FORWARD
    if _FS_FORWARD is None:
        tf = _tf()

        @tf.function(jit_compile=True)
        def forward(x, h, T, d):
            return _tf_steps(x, h, T, d, _fires)

        _FS_FORWARD = forward
    return _FS_FORWARD(x, h, T, d)


_FS_PAIR = None


def fs_pair_tf_forward(x, pos, neg, offset: float = 0.0):
    """A signed pair per value (neurons with code arrays ``pos = (h, T, d)`` on x and ``neg``
    on -x): ``((out(x) - out_neg(-x)) + offset, spikes of both)``, like
    :func:`fs_tf_forward`, in **one** XLA kernel -- so TensorFlow's graph optimiser cannot
    regroup the difference and the offset with the sums around them (the event-level
    simulator adds them in this order)."""
    global _FS_PAIR
    if _FS_PAIR is None:
        tf = _tf()

        @tf.function(jit_compile=True)
        def pair(x, h, T, d, hn, Tn, dn, offset, add_offset: bool):
            out, z = _tf_steps(x, h, T, d, _fires)
            out_n, z_n = _tf_steps(-x, hn, Tn, dn, _fires)
            out = out - out_n
            return (out + offset if add_offset else out), z + z_n

        _FS_PAIR = pair
    return _FS_PAIR(x, *pos, *neg, np.float32(offset), bool(offset))


def fs_tf_code(x, code: FSCode, return_spikes: bool = True):
    """:func:`fs_tf` with the arrays of an :class:`FSCode`."""
    return fs_tf(x, code.h.astype(DTYPE), code.T.astype(DTYPE), code.d.astype(DTYPE),
                 return_spikes)


def load_codes(folder: str | Path) -> dict[str, FSCode]:
    """All ``*.json`` codes in ``folder``, by name."""
    return {c.name: c for c in (FSCode.load(p) for p in sorted(Path(folder).glob("*.json")))}

