"""FS neuron against closed forms and independent re-implementations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from helpers.fs import codes, measure
from helpers.fs.neuron import (CodeError, FSCode, fs_numpy, fs_spike_trains, fs_tf, fs_tf_code,
                               fs_tf_forward, fs_trace, load_codes)


def _reference_loop(x: float, h, T, d):
    """Scalar, pure-Python FS neuron (float64): z = [v >= T], out += d z, v -= h z per step."""
    v, out, n = x, 0.0, 0
    for t in range(len(h)):
        z = 1 if v >= T[t] else 0
        out += d[t] * z
        v -= h[t] * z
        n += z
    return out, n


@pytest.mark.parametrize("K,alpha", [(1, 1.0), (4, 3.0), (8, 25.0), (10, 25.0), (16, 1.0)])
def test_binary_code_is_clipped_floor_quantised_relu_with_popcount(K, alpha):
    code = codes.binary(K, alpha)
    q = alpha * 2.0 ** -K
    # every grid point k*q exactly, plus random inputs, plus out-of-range inputs
    ks = np.arange(0, 2 ** K)
    rng = np.random.default_rng(K)
    x = np.concatenate([ks * q, rng.uniform(-alpha, 2 * alpha, 5000), [-1e-7, alpha, 10 * alpha]])
    x = x.astype(np.float32).astype(np.float64)
    out, spikes = fs_numpy(x, code)
    levels = np.clip(np.floor(np.maximum(x, 0) / q), 0, 2 ** K - 1).astype(np.int64)
    np.testing.assert_array_equal(out, (levels * q).astype(np.float32))
    np.testing.assert_array_equal(spikes, [bin(k).count("1") for k in levels])


def test_numpy_matches_scalar_reference_on_random_codes():
    rng = np.random.default_rng(1)
    for _ in range(20):
        K = int(rng.integers(1, 12))
        code = FSCode("r", "silu", rng.normal(0, 2, K), rng.normal(0, 2, K), rng.normal(0, 1, K))
        x = rng.normal(0, 4, 300)
        out, spikes = fs_numpy(x, code)
        for xi, oi, si in zip(x, out, spikes):
            ro, rn = _reference_loop(float(np.float32(xi)), code.h.astype(np.float32),
                                     code.T.astype(np.float32), code.d.astype(np.float32))
            assert si == rn and oi == pytest.approx(ro, abs=1e-5)


@pytest.mark.parametrize("shape", [(257,), (3, 5, 7), (2, 4, 4, 6)])
def test_numpy_and_tensorflow_agree_bit_for_bit(shape):
    rng = np.random.default_rng(2)
    for _ in range(10):
        K = int(rng.integers(1, 17))
        code = FSCode("r", "x", rng.normal(0, 3, K), rng.normal(0, 3, K), rng.normal(0, 2, K))
        x = rng.normal(0, 5, shape).astype(np.float32)
        o_np, s_np = fs_numpy(x, code)
        o_tf, s_tf = fs_tf_code(x, code)
        assert o_tf.shape == shape
        np.testing.assert_array_equal(o_np, o_tf.numpy())
        np.testing.assert_array_equal(s_np, s_tf.numpy().astype(np.int32))
        o_fw, s_fw = fs_tf_forward(x, *(a.astype(np.float32) for a in (code.h, code.T, code.d)))
        np.testing.assert_array_equal(o_np, o_fw.numpy())       # XLA inference path
        np.testing.assert_array_equal(s_np, s_fw.numpy().astype(np.int32))


def _all_paths(x: np.ndarray, code: FSCode) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(output, spike count) of the NumPy, differentiable-TF and XLA-TF neurons on ``x``."""
    h, T, d = (a.astype(np.float32) for a in (code.h, code.T, code.d))
    o_tf, s_tf = fs_tf(tf.constant(x), h, T, d)
    o_fw, s_fw = fs_tf_forward(tf.constant(x), h, T, d)
    return {"fs_numpy": fs_numpy(x, code), "fs_tf": (o_tf.numpy(), s_tf.numpy()),
            "fs_tf_forward": (o_fw.numpy(), s_fw.numpy())}


def test_inputs_exactly_at_a_threshold_fire_in_every_path():
    """Θ(0) = 1, hand-checked on binary K=3, α=8 (h = T = d = [4, 2, 1]): 4 fires at step 0
    only, 6 at steps 0 and 1, 7 at all three; just below a threshold does not fire there."""
    below4, below6 = (np.nextafter(np.float32(v), np.float32(0)) for v in (4, 6))
    x = np.array([0, 1, 2, 3, 4, 5, 6, 7, below4, below6], np.float32)
    out = np.array([0, 1, 2, 3, 4, 5, 6, 7, 3, 5], np.float32)      # 3.99..: 2 + 1; 5.99..: 4 + 1
    spikes = np.array([0, 1, 1, 2, 1, 2, 2, 3, 2, 2])
    code = codes.binary(3, 8.0)
    np.testing.assert_array_equal(code.T, [4, 2, 1])
    z = fs_spike_trains(x, code)["z"]
    np.testing.assert_array_equal(z[4], [1, 0, 0])
    np.testing.assert_array_equal(z[6], [1, 1, 0])
    np.testing.assert_array_equal(z[7], [1, 1, 1])
    np.testing.assert_array_equal(z[8], [0, 1, 1])
    for name, (o, s) in _all_paths(x, code).items():
        np.testing.assert_array_equal(o, out, err_msg=name)
        np.testing.assert_array_equal(s.astype(np.int64), spikes, err_msg=name)


def test_negative_and_fractional_thresholds_tie_the_same_way():
    """One step, T = -0.5 and T = 0.75 (exact in float32): x == T fires, the next float below
    does not, in NumPy and both TF paths."""
    for T in (-0.5, 0.75):
        code = FSCode("tie", "x", [1.0], [T], [2.0])
        t = np.float32(T)
        x = np.array([t, np.nextafter(t, np.float32(-np.inf)), np.nextafter(t, np.float32(np.inf))],
                     np.float32)
        for name, (o, s) in _all_paths(x, code).items():
            np.testing.assert_array_equal(s, [1, 0, 1], err_msg=f"{name}, T={T}")
            np.testing.assert_array_equal(o, [2, 0, 2], err_msg=f"{name}, T={T}")


def test_pseudo_gradient_matches_closed_form_for_one_step():
    """K=1: out = d Θ(vs), vs = (x-T)/(|x|+1), so d out/dx = d max(0, 1-|vs|) dvs/dx."""
    T, d = 2.0, 1.5
    xs = np.array([1.5, 2.5, -0.5, 9.0, -20.0], np.float32)
    x = tf.constant(xs)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = fs_tf(x, [1.0], [T], [d], return_spikes=False)
    g = tape.gradient(out, x).numpy()
    xs = xs.astype(np.float64)
    vs = (xs - T) / (np.abs(xs) + 1)
    dvs = ((np.abs(xs) + 1) - (xs - T) * np.sign(xs)) / (np.abs(xs) + 1) ** 2
    expected = d * np.maximum(0, 1 - np.abs(vs)) * dvs
    np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-7)
    assert g[0] > 0 and g[1] > 0 and g[4] == 0      # near threshold: flows; |vs| > 1: zero


def test_gradients_are_finite_and_reach_every_parameter():
    code = codes.binary(4, 8.0)
    x = tf.constant(np.linspace(-3, 9, 50), tf.float32)
    h, T, d = (tf.Variable(a.astype(np.float32)) for a in (code.h, code.T, code.d))
    with tf.GradientTape() as tape:
        out, spikes = fs_tf(x, h, T, d)
        loss = tf.reduce_mean(tf.square(out - tf.nn.relu(x))) + tf.reduce_mean(spikes)
    grads = tape.gradient(loss, [h, T, d])
    for g in grads:
        assert np.all(np.isfinite(g.numpy())) and np.any(g.numpy() != 0)
    # d's gradient is exact: mean over inputs of 2 (out - y) z_t
    Z = measure.spike_patterns(x.numpy(), code)
    err = fs_numpy(x.numpy(), code)[0] - np.maximum(x.numpy(), 0)
    np.testing.assert_allclose(grads[2].numpy(), 2 * (err[:, None] * Z).mean(0), rtol=1e-5,
                               atol=1e-7)


def test_trace_matches_vectorised_neuron():
    code = codes.fibonacci(10, 5.0)
    tr = fs_trace(3.3, code)
    out, spikes = fs_numpy(np.array([3.3]), code)
    assert tr["out"][-1] == out[0] and tr["z"].sum() == spikes[0]
    np.testing.assert_allclose(tr["T"], code.T.astype(np.float32))
    assert tr["v"][0] == np.float32(3.3)


def test_json_round_trip_is_lossless(tmp_path):
    rng = np.random.default_rng(3)
    code = FSCode("fit_x", "sigmoid", rng.normal(size=7), rng.normal(size=7), rng.normal(size=7),
                  (-10, 10), {"loss": 1.25e-5, "seed": 4})
    path = code.save(tmp_path)
    raw = json.loads(path.read_text())
    assert {"name", "activation", "K", "h", "T", "d"} <= set(raw) and raw["K"] == 7
    back = FSCode.load(path)
    for k in ("h", "T", "d"):
        np.testing.assert_array_equal(getattr(back, k), getattr(code, k))
    assert back.meta == code.meta and back.x_range == (-10.0, 10.0) and back.name == "fit_x"
    assert list(load_codes(tmp_path)) == ["fit_x"]


@pytest.mark.parametrize("kwargs,msg", [
    (dict(h=[1, 2], T=[1], d=[1, 2]), "same length"),
    (dict(h=[], T=[], d=[]), "K must be at least 1"),
    (dict(h=[1, np.nan], T=[1, 1], d=[1, 1]), "NaN or inf"),
    (dict(h=[[1]], T=[[1]], d=[[1]]), "1-D"),
    (dict(h=["a"], T=[1], d=[1]), "list of numbers"),
])
def test_malformed_codes_are_rejected(kwargs, msg):
    with pytest.raises(CodeError, match=msg):
        FSCode("bad", "relu", **kwargs)


def test_malformed_json_is_rejected():
    with pytest.raises(CodeError, match="missing keys"):
        FSCode.from_dict({"name": "x", "h": [1]})
    with pytest.raises(CodeError, match="K=3"):
        FSCode.from_dict({"name": "x", "activation": "relu", "K": 3, "h": [1], "T": [1], "d": [1]})


def test_signed_pair_kernel_equals_two_numpy_neurons_and_the_offset():
    """fs_pair_tf_forward: (out(x) − out_neg(−x)) + offset with its own code for the −x
    neurons, and the spikes of both, equal to two NumPy neurons (float32, same order)."""
    from helpers.fs.neuron import fs_pair_tf_forward

    pos, neg = codes.binary(6, 2.0), codes.geometric(5, 1.0, 2.0, True)
    x = np.random.default_rng(3).normal(0, 1.2, (4, 7, 3)).astype(np.float32)
    arrays = [tuple(tf.constant(a.astype(np.float32)) for a in (c.h, c.T, c.d)) for c in (pos, neg)]
    for offset in (0.0, 0.5):
        out, z = fs_pair_tf_forward(tf.constant(x), *arrays, offset)
        o_p, s_p = fs_numpy(x, pos)
        o_n, s_n = fs_numpy(-x, neg)
        ref = (o_p.astype(np.float32) - o_n.astype(np.float32)) + np.float32(offset)
        np.testing.assert_array_equal(out.numpy(), ref)
        np.testing.assert_array_equal(z.numpy(), s_p + s_n)
    assert z.numpy().sum() > 0 and np.abs(out.numpy() - 0.5).max() > 0.1
