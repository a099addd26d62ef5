"""Empirical bias correction (helpers.snn.bias) against a NumPy re-implementation and its
defining property: no mean error per channel left at any FS layer's input."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from helpers.fs import codes
from helpers.fs.neuron import fs_numpy
from helpers.snn.bias import bias_corrected
from helpers.snn.convert import convert
from helpers.snn.graph import output_name
from helpers.snn.network import build_model
from helpers.snn.simulate import simulate

L = tf.keras.layers


def _dense_net(seed=0):
    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input((5,))
    h = L.Dense(8, activation="relu", bias_initializer="random_normal", name="d1")(inp)
    h = L.Dense(6, bias_initializer="random_normal", name="d2")(h)
    h = L.ReLU(name="r2")(h)
    return tf.keras.Model(inp, L.Dense(3, name="d3")(h))


@pytest.mark.parametrize("estimator", ["mean", "median"])
def test_dense_chain_equals_the_numpy_sequential_correction(estimator):
    """x -> d1 (fused ReLU) -> d2 -> ReLU -> d3: d1 sees the analog image (nothing to
    correct); d2's bias loses the mean (median over images) error of its output, d3's the
    logit error left after d2 was corrected -- computed here with the NumPy FS neuron."""
    m = _dense_net()
    x = np.random.default_rng(1).normal(size=(200, 5)).astype(np.float32)
    net = convert(m, codes.binary(3), x)
    fixed = bias_corrected(net, x, estimator)
    (w1, b1), (w2, b2), (w3, b3) = (net.folded[k] for k in ("d1", "d2", "d3"))
    c1, c2 = (i.code for i in net.layers)
    stat = {"mean": np.mean, "median": np.median}[estimator]
    h1 = x @ w1 + b1
    a1, a1_ann = fs_numpy(h1, c1)[0], np.maximum(h1, 0)
    m2 = stat(a1 @ w2 - a1_ann @ w2, axis=0)                 # d2's output error per channel
    h2 = a1 @ w2 + (b2 - m2).astype(np.float32)
    a2, a2_ann = fs_numpy(h2, c2)[0], np.maximum(a1_ann @ w2 + b2, 0)
    m3 = stat(a2 @ w3 - a2_ann @ w3, axis=0)
    assert np.abs(m2).max() > 0.05 and np.abs(m3).max() > 0.05    # binary K=3: coarse
    np.testing.assert_array_equal(fixed.folded["d1"][1], b1)
    np.testing.assert_allclose(fixed.folded["d2"][1], b2 - m2, atol=1e-5)
    np.testing.assert_allclose(fixed.folded["d3"][1], b3 - m3, atol=1e-4)
    # the exact ANN is kept apart, and the input network is left as it was
    for k in ("d1", "d2", "d3"):
        np.testing.assert_array_equal(fixed.ann_folded[k][1], net.folded[k][1])
    np.testing.assert_array_equal(net.folded["d2"][1], b2)


def _residual_net(seed=0):
    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inp = tf.keras.Input((10, 10, 3))
    a = L.ReLU()(L.BatchNormalization()(L.Conv2D(6, 3, padding="same")(inp)))
    b = L.Conv2D(6, 3, padding="same", activation="relu")(a)           # fused activation
    c = L.BatchNormalization()(L.Conv2D(6, 1)(b))
    c = L.ReLU()(L.Add()([a, c]))
    out = L.Dense(4)(L.GlobalAveragePooling2D()(c))
    m = tf.keras.Model(inp, out)
    for layer in m.layers:
        if isinstance(layer, L.BatchNormalization):
            layer.beta.assign(rng.normal(0, 0.3, layer.beta.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 2, layer.beta.shape))
    return m


def _input_errors(net, x, stat=np.mean):
    """Per FS layer (and the logits): ``stat`` over images of each image's mean over
    positions of the FS network's input minus the exact ANN's, per channel."""
    out = output_name(net.graph)
    layers = {i.name: net.model.get_layer(f"fs_{i.name}") for i in net.layers
              if i.name != "input"}
    inp = net.model.get_layer("fs_input") if net.input_mode == "fs" else None
    fs, pre_fs = build_model(net.graph, out, net.folded, "fs", layers, inp)
    ann, pre_ann = build_model(net.graph, out, net.ann_folded, "ann")
    names = list(pre_fs)
    f = tf.keras.Model(fs.inputs, [pre_fs[k] for k in names] + [fs.outputs[0]])(x)
    a = tf.keras.Model(ann.inputs, [pre_ann[k] for k in names] + [ann.outputs[0]])(x)
    return {k: stat((np.asarray(u) - np.asarray(v)).reshape(len(x), -1, u.shape[-1]).mean(1),
                    axis=0) for k, u, v in zip(names + ["logits"], f, a)}


@pytest.mark.parametrize("mode,estimator", [("analog", "mean"), ("fs", "mean"),
                                            ("analog", "median")])
def test_corrected_network_has_no_systematic_error_left_and_simulates_bit_for_bit(mode,
                                                                                  estimator):
    m = _residual_net()
    x = np.random.default_rng(2).normal(size=(64, 10, 10, 3)).astype(np.float32)
    net = convert(m, codes.binary(4), x, input_mode=mode)
    stat = {"mean": np.mean, "median": np.median}[estimator]
    before, fixed = _input_errors(net, x, stat), bias_corrected(net, x, estimator)
    after = _input_errors(fixed, x, stat)
    rms = {k: float(np.sqrt(np.mean(v ** 2))) for k, v in before.items()}
    assert max(rms.values()) > 0.05                   # there was something to correct ...
    for k, v in after.items():                        # ... and (spike flips aside) none is left
        assert np.sqrt(np.mean(v ** 2)) <= 0.02 * max(rms[k], 1e-3), k
    # the exact ANN is unchanged: ann_folded rebuilds the original model's logits
    ann, _ = build_model(fixed.graph, output_name(fixed.graph), fixed.ann_folded, "ann")
    np.testing.assert_allclose(ann(x).numpy(), m(x).numpy(), rtol=1e-4, atol=1e-4)
    # the event-level simulator reads the corrected biases: bit for bit as before
    sim, eq = simulate(fixed, x[:16], progress=False), fixed.run(x[:16])
    np.testing.assert_array_equal(sim["spikes"], eq["spikes"])
    np.testing.assert_array_equal(sim["logits"], eq["logits"])


def test_a_bias_that_cannot_reach_a_layer_is_refused():
    inp = tf.keras.Input((6, 6, 2))
    h = L.ZeroPadding2D(1)(L.Conv2D(3, 3)(inp))      # padding: a bias shift is not uniform
    h = L.ReLU()(h)
    out = L.Dense(2)(L.Flatten()(h))
    x = np.random.default_rng(0).normal(size=(8, 6, 6, 2)).astype(np.float32)
    net = convert(tf.keras.Model(inp, out), codes.binary(3), x, input_mode="fs")
    with pytest.raises(ValueError, match="no bias reaches its input"):
        bias_corrected(net, x)
    with pytest.raises(ValueError, match="estimator='trimmed': choose one of"):
        bias_corrected(net, x, "trimmed")
