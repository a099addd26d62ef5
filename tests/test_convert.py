"""Converter, event-level simulator and energy counts."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from helpers.ann.resnet import resnet_cifar
from helpers.fs import codes
from helpers.fs.neuron import FSCode
from helpers.snn.convert import code_input_scale, convert
from helpers.snn.energy import ann_macs, energy, energy_table, layer_macs
from helpers.snn.graph import UnsupportedLayerError, fold_batchnorm, model_graph
from helpers.snn.rate import rate_simulate
from helpers.snn.simulate import (EventSimulator, agreement, dendrite_models, disagreements,
                                 max_batch, simulate)

L = tf.keras.layers


def _randomise_bn(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            c = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(0, 0.2, c))
            layer.moving_variance.assign(rng.uniform(0.3, 2.0, c))
            layer.gamma.assign(rng.uniform(0.5, 1.5, c))
            layer.beta.assign(rng.normal(0, 0.2, c))
    return model


def _images(n=16, shape=(32, 32, 3), seed=0):
    return np.random.default_rng(seed).normal(size=(n,) + shape).astype(np.float32)


def test_bn_folding_leaves_outputs_unchanged():
    m = _randomise_bn(resnet_cifar(8, "relu", 8))
    x = _images()
    net = convert(m, codes.binary(8, 1.0), x)
    np.testing.assert_allclose(net.ann(x).numpy(), m(x).numpy(), atol=1e-5, rtol=1e-5)
    # depthwise + dense folding against the layer-by-layer definition
    inp = tf.keras.Input((6, 6, 4))
    y = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(inp)
    y = L.BatchNormalization()(y)
    y = L.ReLU()(y)
    y = L.Flatten()(y)
    y = L.Dense(5)(y)
    y = L.BatchNormalization()(y)
    m2 = _randomise_bn(tf.keras.Model(inp, y), 1)
    x2 = _images(8, (6, 6, 4))
    net2 = convert(m2, codes.binary(8, 1.0), x2)
    np.testing.assert_allclose(net2.ann(x2).numpy(), m2(x2).numpy(), atol=1e-5, rtol=1e-5)


def test_fold_batchnorm_closed_form():
    bn = L.BatchNormalization(epsilon=0.5)
    bn.build((None, 2))
    bn.set_weights([np.array([2.0, 1.0]), np.array([0.5, -1.0]), np.array([1.0, 0.0]),
                    np.array([1.5, 3.5])])
    k, b = fold_batchnorm(np.array([[1.0, 2.0]]), np.array([3.0, 4.0]), bn)
    # y = gamma (x w + c - mean) / sqrt(var + eps) + beta, sqrt(2) = 1.414.., sqrt(4) = 2
    np.testing.assert_allclose(k, [[2 / np.sqrt(2), 2 / 2]], rtol=1e-6)
    np.testing.assert_allclose(b, [2 * (3 - 1) / np.sqrt(2) + 0.5, 1 * 4 / 2 - 1.0], rtol=1e-6)


def _hand_dense_net():
    """Dense 2->2 -> ReLU -> Dense 2->1 whose ReLU pre-activations on ``_HAND_X`` are the
    integers [4, 2], [2, 5], [9, -2] (largest positive: 9)."""
    inp = tf.keras.Input((2,))
    h = L.Dense(2, name="d1")(inp)
    h = L.Activation("relu", name="act")(h)
    m = tf.keras.Model(inp, L.Dense(1, name="d2")(h))
    m.get_layer("d1").set_weights([np.array([[1.0, 2.0], [3.0, -1.0]]), np.array([0.0, 1.0])])
    m.get_layer("d2").set_weights([np.array([[1.0], [1.0]]), np.array([0.0])])
    return m


_HAND_X = np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 3.0]], np.float32)


def test_hand_built_network_spike_counts():
    """Dense 2->2 (integer weights) -> ReLU FS (binary K=3, α=8: levels 0..7 step 1) ->
    Dense 2->1. Pre-activations are hand-computed integers, so spikes = popcount."""
    m, x = _hand_dense_net(), _HAND_X
    # pre = [x0 + 3 x1, 2 x0 - x1 + 1] = [4, 2], [2, 5], [9, -2]
    code = codes.binary(3, 8.0)          # thresholds 4, 2, 1; output clipped at 7
    net = convert(m, code, x, scale="max")
    assert net.layers[0].scale == pytest.approx(9.0)   # max positive pre-activation
    net = convert(m, codes.binary(3, 9.0), x, scale="max")   # α/input_scale = 1: code unchanged
    r = net.run(x)
    # levels with step 9/8: 4 -> 3 (011), 2 -> 1 (001), 2 -> 1, 5 -> 4 (100), 9 -> 7 (111), -2 -> 0
    np.testing.assert_array_equal(r["spikes"][:, 0], [2 + 1, 1 + 1, 3 + 0])
    np.testing.assert_allclose(r["logits"][:, 0], np.array([3 + 1, 1 + 4, 7 + 0]) * 9 / 8,
                               rtol=1e-6)
    # synaptic ops: every hidden spike reaches the one output neuron
    np.testing.assert_array_equal(r["synops"][:, 0], r["spikes"][:, 0])
    assert net.latency_timesteps == 3
    sim = simulate(net, x, progress=False)
    np.testing.assert_array_equal(sim["spikes"], r["spikes"])
    np.testing.assert_allclose(sim["logits"], r["logits"], rtol=1e-6)


def _random_net(seed: int, activation: str = "relu"):
    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inp = tf.keras.Input((12, 12, 3))
    a = L.Conv2D(6, 3, strides=int(rng.integers(1, 3)), padding=["same", "valid"][seed % 2])(inp)
    a = L.BatchNormalization()(a)
    a = L.Activation(activation)(a)
    b = L.Conv2D(6, 3, padding="same")(a)
    b = L.Activation(activation)(b)
    c = L.Add()([a, L.Conv2D(6, 1)(b)])
    c = L.Activation(activation)(c)
    c = L.AveragePooling2D(2)(c)
    c = L.Dropout(0.3)(c)
    c = L.Flatten()(c)
    out = L.Dense(4)(c)
    m = _randomise_bn(tf.keras.Model(inp, out), seed)
    for layer in m.layers:   # non-zero biases everywhere
        if isinstance(layer, (L.Conv2D, L.Dense)):
            w = layer.get_weights()
            layer.set_weights([w[0], rng.normal(0, 0.3, w[1].shape).astype(np.float32)])
    return m


@pytest.mark.parametrize("seed,mode", [(0, "analog"), (1, "analog"), (2, "fs"), (3, "fs")])
def test_simulator_equals_equivalent_model_on_random_networks(seed, mode):
    m = _random_net(seed)
    x = _images(24, (12, 12, 3), seed)
    net = convert(m, codes.geometric(6, 1.0, 2.0, True), x, input_mode=mode,
                  scale=["max", "percentile"][seed % 2])
    # summed delivery adds in the FS-equivalent model's order: bit for bit
    sim, eq = simulate(net, x, progress=False), net.run(x)
    np.testing.assert_array_equal(sim["spikes"], eq["spikes"])
    np.testing.assert_array_equal(sim["logits"], eq["logits"])
    a = agreement(net, x, progress=False, delivery="per_step")
    assert a["same_prediction"] == 1.0 and a["delivery"] == "per_step"
    # per step, float32 sums in another order can move a neuron across a threshold (one
    # spike more or less, ~1e-5 of all spikes); each flip shifts a logit by one spike's weight
    assert a["spike_count_rel_diff"] < 1e-3
    assert a["max_abs_logit_diff"] <= 2e-2 * max(1.0, a["max_abs_logit"])
    stages = [i.stage for i in net.layers]
    assert a["latency_timesteps"] == (max(stages) + 1) * 6


def test_dendrites_reach_back_to_the_sources_of_each_layer():
    """In the random net the block's output neurons (after Add([a, conv(b)])) get input from
    layers a and b; b from a; the read-out from the output neurons; the first layer from the
    image (slot 0)."""
    m = _random_net(0)
    net = convert(m, codes.binary(4, 1.0), _images(8, (12, 12, 3)))
    needs = [need for _, need in dendrite_models(net)]
    assert needs == [[0], [1], [1, 2], [3]]
    with pytest.raises(ValueError, match="unknown delivery 'exact'.*summed"):
        EventSimulator(net, "exact")


def test_simulator_with_fitted_silu_code():
    m = _random_net(5, "swish")
    x = _images(16, (12, 12, 3), 5)
    code = codes.sm_published("silu")
    net = convert(m, code, x)
    a = agreement(net, x, progress=False)
    assert a["same_prediction"] == 1.0 and a["max_abs_logit_diff"] < 1e-3


def test_raster_matches_spike_counts():
    m = _random_net(0)
    x = _images(5, (12, 12, 3))
    net = convert(m, codes.binary(5, 1.0), x)
    sim = simulate(net, x, raster_image=3, progress=False)
    for j, info in enumerate(net.layers):
        assert sim["raster"][info.name].shape == (5, info.n_neurons)
        assert sim["raster"][info.name].sum() == sim["spikes"][3, j]


@pytest.mark.parametrize("make,match", [
    (lambda x: L.MaxPooling2D()(x), "MaxPooling2D.*AveragePooling2D"),
    (lambda x: L.Concatenate()([x, x]), "Concatenate.*Add"),
    (lambda x: L.Activation("elu")(x), "activation 'elu' has no FS code"),
    (lambda x: L.LeakyReLU()(x), "LeakyReLU"),
    (lambda x: L.ReLU(max_value=3.0)(x), r"ReLU\(max_value=3.0\)"),
    (lambda x: L.BatchNormalization()(L.Activation("relu")(x)), "place BatchNormalization"),
])
def test_refused_layers_name_layer_type_and_fix(make, match):
    inp = tf.keras.Input((8, 8, 2))
    y = make(L.Conv2D(2, 3, padding="same")(inp))
    m = tf.keras.Model(inp, L.Dense(2)(L.Flatten()(y)))
    with pytest.raises(UnsupportedLayerError, match=match) as e:
        model_graph(m)
    assert "Fix:" in str(e.value) and "layer '" in str(e.value)


def test_missing_code_is_reported():
    m = _random_net(0, "sigmoid")
    with pytest.raises(ValueError, match="no FS code given for activation 'sigmoid'"):
        convert(m, codes.binary(4, 1.0), _images(4, (12, 12, 3)))


def test_energy_of_tiny_network_equals_hand_count():
    inp = tf.keras.Input((4, 4, 1))
    y = L.Conv2D(2, 3, padding="valid", name="c")(inp)        # out 2x2x2
    y = L.Activation("relu", name="a")(y)
    y = L.Flatten()(y)
    out = L.Dense(3, name="d")(y)                             # 8 -> 3
    m = tf.keras.Model(inp, out)
    assert layer_macs(m.get_layer("c")) == 2 * 2 * 2 * 3 * 3 * 1 and layer_macs(m.get_layer("d")) == 24
    assert ann_macs(m) == {"c": 72, "d": 24}
    x = np.abs(_images(6, (4, 4, 1))) + 0.5
    m.get_layer("c").set_weights([np.ones((3, 3, 1, 2), np.float32), np.zeros(2, np.float32)])
    net = convert(m, codes.binary(4, 1.0), x)
    r = net.run(x)
    # every hidden neuron projects to the 3 outputs: synops = 3 x spikes
    np.testing.assert_allclose(r["synops"][:, 0], 3 * r["spikes"][:, 0])
    assert net.analog_macs == 72
    acs = float(r["synops"][:, 0].mean())
    table, ratio = energy_table(ann_macs(m), {"a": acs}, 72, "fp32", {"a": 8 * 4})
    e_ann = 96 * 4.6                                   # 72 + 24 MACs
    # 72 analog MACs of the first layer + one AC per synaptic event + 8 neurons x 4 steps,
    # each step one MAC (d(t)-scaled input accumulated) and one comparison
    e_snn = 72 * 4.6 + 0.9 * acs + 32 * (4.6 + 0.9)
    assert ratio == pytest.approx(e_snn / e_ann)
    row = table.set_index("layer").loc["a"]
    assert (row.snn_acs, row.neuron_macs, row.neuron_cmp) == (pytest.approx(acs), 32, 32)
    assert table.energy_pj.sum() == pytest.approx(e_ann + e_snn)
    assert energy(10, 100, "int32") == pytest.approx(10 * (3.1 + 0.1) + 100 * 0.1)


def test_fanout_of_conv_layer_counts_edges():
    """A 3x3 'same' conv with 2 output channels: interior neurons reach 9*2 targets, corners
    4*2; the input FS layer (fs mode) is fanned out by the first conv."""
    inp = tf.keras.Input((5, 5, 1))
    y = L.Conv2D(1, 1, name="c0")(inp)
    y = L.Activation("relu", name="a0")(y)
    y = L.Conv2D(2, 3, padding="same", name="c1")(y)
    y = L.Activation("relu", name="a1")(y)
    out = L.Dense(1)(L.Flatten()(y))
    m = tf.keras.Model(inp, out)
    # positive kernels on positive images: both ReLU layers fire, so they can be calibrated
    m.get_layer("c0").set_weights([np.ones((1, 1, 1, 1)), np.zeros(1)])
    m.get_layer("c1").set_weights([np.ones((3, 3, 1, 2)), np.zeros(2)])
    x = np.abs(_images(4, (5, 5, 1))) + 0.1
    net = convert(m, codes.binary(4, 1.0), x, input_mode="fs")
    fan = net.model.get_layer("fs_a0").fanout.numpy()[..., 0]
    assert fan[2, 2] == 18 and fan[0, 0] == 8 and fan[0, 2] == 12
    assert np.all(net.model.get_layer("fs_input").fanout.numpy() == 1)


def test_rate_coding_converges_to_ann_and_counts_spikes_by_hand():
    # one hidden ReLU neuron with activation 0.5 * threshold fires every second step
    inp = tf.keras.Input((1,))
    h = L.Dense(1, name="d1")(inp)
    h = L.Activation("relu")(h)
    out = L.Dense(2, name="d2")(h)
    m = tf.keras.Model(inp, out)
    m.get_layer("d1").set_weights([np.array([[1.0]]), np.array([0.0])])
    m.get_layer("d2").set_weights([np.array([[1.0, -1.0]]), np.array([0.0, 0.1])])
    x_cal = np.array([[2.0]], np.float32)                   # threshold = max activation = 2
    x = np.array([[1.0], [-1.0]], np.float32)               # rates 0.5 and 0
    net = convert(m, codes.binary(4, 1.0), x_cal, scale="max")
    rows = rate_simulate(net, x, np.array([0, 1]), [10, 20], x_cal, norm="max",
                         progress=False)
    # 10 steps: x=1 -> 5 spikes, x=-1 -> 0 spikes; 2 images x 1 neuron
    assert rows[0]["mean_spikes_per_neuron"] == pytest.approx(5 / 2)
    assert rows[1]["mean_spikes_per_neuron"] == pytest.approx(10 / 2)
    assert rows[1]["accuracy"] == 1.0


def test_rate_coding_refuses_non_relu():
    m = _random_net(0, "sigmoid")
    x = _images(4, (12, 12, 3))
    net = convert(m, codes.sm_published("sigmoid"), x)
    with pytest.raises(ValueError, match="ReLU only"):
        rate_simulate(net, x, np.zeros(4), [4], x)


def test_linear_bottleneck_is_counted_as_analog_macs():
    """conv -> ReLU -> 1x1 'project' (linear) -> 1x1 'expand' -> ReLU -> dense: the expand
    conv receives no spikes (its input is linear), so it costs MACs; the first ReLU's spikes
    only reach the project conv (fan-out = its 4 output channels)."""
    inp = tf.keras.Input((3, 3, 2))
    y = L.Conv2D(3, 1, name="a")(inp)
    y = L.Activation("relu", name="r1")(y)
    y = L.Conv2D(4, 1, name="project")(y)
    y = L.Conv2D(5, 1, name="expand")(y)
    y = L.Activation("relu", name="r2")(y)
    out = L.Dense(2)(L.Flatten()(y))
    m = tf.keras.Model(inp, out)
    x = np.abs(_images(4, (3, 3, 2))) + 0.1
    net = convert(m, codes.binary(4, 1.0), x)
    assert net.analog_macs == 9 * 3 * 2 + 9 * 5 * 4          # first layer + expand
    assert np.all(net.model.get_layer("fs_r1").fanout.numpy() == 4)
    assert np.all(net.model.get_layer("fs_r2").fanout.numpy() == 2)
    net_fs = convert(m, codes.binary(4, 1.0), x, input_mode="fs")
    assert net_fs.analog_macs == 9 * 5 * 4


def test_signed_identity_neurons_make_bottlenecks_spiking():
    """With ``bottleneck_code`` the linear bottleneck gets signed identity FS neurons: no
    analog MACs are left (FS-encoded input), the equivalent model is close to the ANN, and the
    event-level simulator agrees with it."""
    tf.keras.utils.set_random_seed(0)
    inp = tf.keras.Input((6, 6, 2))
    y = L.Conv2D(4, 3, padding="same", name="a")(inp)
    y = L.Activation("relu", name="r1")(y)
    p = L.Conv2D(3, 1, name="project")(y)                    # linear bottleneck (can be < 0)
    y = L.Conv2D(5, 1, name="expand")(p)
    y = L.Activation("relu", name="r2")(y)
    out = L.Dense(3)(L.Flatten()(y))
    m = tf.keras.Model(inp, out)
    x = _images(32, (6, 6, 2), 7)
    plain = convert(m, codes.binary(10, 1.0), x, input_mode="fs")
    assert plain.analog_macs == 36 * 5 * 3
    net = convert(m, codes.binary(10, 1.0), x, input_mode="fs", scale="max",   # no clipping
                  bottleneck_code=codes.binary(10, 1.0))
    assert net.analog_macs == 0
    info = {i.name: i for i in net.layers}
    assert info["expand_in"].signed and info["expand_in"].n_neurons == 2 * 36 * 3
    assert [i.stage for i in net.layers] == [0, 1, 2, 3]
    ref = m(x).numpy()
    got = net.run(x)["logits"]
    assert np.max(np.abs(got - ref)) < 0.05 * np.max(np.abs(ref))   # K=10 everywhere
    a = agreement(net, x, progress=False)
    assert a["same_prediction"] == 1.0 and a["spike_count_rel_diff"] < 1e-3


def test_non_binary_codes_are_scaled_by_alpha_over_their_input_scale():
    m = _hand_dense_net()
    # meta["input_scale"] wins over x_range (0, 1): s = α / 0.25 = 9 / 0.25
    geo = codes.geometric(5, 1.0, radix=3.0).with_meta(input_scale=0.25)
    # only x_range: the code treats its top, 3, as 1: s = 9 / 3
    hand = FSCode("hand", "relu", [2.0, 1.0, 0.5], [1.5, 0.75, 0.25], [2.0, 1.0, 0.5],
                  x_range=(-1.0, 3.0))
    for code, input_scale in ((geo, 0.25), (hand, 3.0)):
        assert code_input_scale(code) == input_scale
        s = 9.0 / input_scale
        info = convert(m, code, _HAND_X, scale="max").layers[0]
        assert info.scale == 9.0
        np.testing.assert_allclose(info.code.h, code.h * s, rtol=1e-12)
        np.testing.assert_allclose(info.code.T, code.T * s, rtol=1e-12)
        np.testing.assert_allclose(info.code.d, code.d * s, rtol=1e-12)
        assert info.code.name == f"{code.name}@act"


def test_code_without_input_scale_or_x_range_is_refused():
    bare = FSCode("bare", "relu", [1.0, 0.5], [1.0, 0.5], [1.0, 0.5])
    with pytest.raises(ValueError, match=r"'bare' has neither meta\['input_scale'\] nor x_range"):
        code_input_scale(bare)
    with pytest.raises(ValueError, match="cannot scale it to a layer"):
        convert(_hand_dense_net(), bare, _HAND_X)


def test_compiled_simulator_reused_across_chunks_and_batch_cap():
    """One EventSimulator on two chunks with other batch sizes gives the one-call result;
    max_batch caps the batch by the widest window's memory."""
    m = _random_net(1)
    x = _images(10, (12, 12, 3), 1)
    net = convert(m, codes.binary(4, 1.0), x)
    whole = simulate(net, x, batch_size=10, progress=False)
    sim = EventSimulator(net)
    parts = [sim(x[:3], batch_size=2, progress=False), sim(x[3:], batch_size=4, progress=False)]
    np.testing.assert_array_equal(np.concatenate([p["spikes"] for p in parts]), whole["spikes"])
    np.testing.assert_allclose(np.concatenate([p["logits"] for p in parts]), whole["logits"],
                               rtol=1e-6, atol=1e-6)
    widest = max(i.n_neurons for i in net.layers)
    assert max_batch(net, budget_bytes=2 * 4 * 4 * 2 * widest * 3) == 3
    assert max_batch(net, budget_bytes=1.0) == 1


def test_disagreements_name_margin_logit_shift_and_first_layer():
    """Hand-made results: image 1 flips its class; its first differing layer is 'b'."""
    eq = {"logits": np.array([[2.0, 0.0], [1.0, 0.9], [0.0, 3.0]]),
          "spikes": np.array([[3, 1], [2, 5], [0, 0]])}
    sim = {"logits": np.array([[2.0, 0.1], [0.8, 0.95], [0.0, 3.0]]),
           "spikes": np.array([[3, 1], [2, 6], [0, 0]]), "layer_names": ["a", "b"]}
    d = disagreements(sim, eq)
    assert len(d) == 1 and d[0]["image"] == 1 and d[0]["first_layer_count_diff"] == "b"
    assert d[0]["equivalent_top2_margin"] == pytest.approx(0.1)
    assert d[0]["max_abs_logit_diff"] == pytest.approx(0.2) and d[0]["explained"]


@pytest.mark.parametrize("improved", [False, True])
def test_jra_layers_hand_net_and_simulator_with_synaptic_gain(improved):
    """JRA floating-point neurons in the hand-built net (code alpha 8/9 times the layer scale
    9 of scale='max': the layer's alpha is 8): logits are the sum of the NumPy reference's
    outputs; the simulator (exponent spikes set the synapses' gain) gives the same spikes
    and logits."""
    from helpers.fs.jra import jra_code, jra_numpy

    m, x = _hand_dense_net(), _HAND_X
    code = jra_code(2, 2, 8.0 / 9.0, improved).with_meta(input_scale=1.0)
    net = convert(m, code, x, scale="max")
    assert net.layers[0].code.alpha == pytest.approx(8.0) and net.K == 4
    pre = np.array([[4.0, 2.0], [2.0, 5.0], [9.0, -2.0]], np.float32)
    out, spikes = jra_numpy(pre, jra_code(2, 2, 8.0, improved))
    r = net.run(x)
    np.testing.assert_array_equal(r["spikes"][:, 0], spikes.sum(1))
    np.testing.assert_allclose(r["logits"][:, 0], out.sum(1), rtol=1e-6)
    sim = simulate(net, x, raster_image=0, progress=False)
    np.testing.assert_array_equal(sim["spikes"], r["spikes"])
    np.testing.assert_allclose(sim["logits"], r["logits"], rtol=1e-6)
    assert sim["raster"]["act"].shape == (4, 2) and sim["raster"]["act"].sum() == spikes[0].sum()


def test_jra_code_simulated_on_a_random_network():
    from helpers.fs.jra import jra_code

    m = _random_net(4)
    x = _images(16, (12, 12, 3), 4)
    net = convert(m, jra_code(3, 2, 1.0, True), x)
    a = agreement(net, x, progress=False)       # summed: the synaptic gain state, bit for bit
    assert a["max_abs_logit_diff"] == 0.0 and a["images_all_counts_equal"] == 1.0
    a = agreement(net, x, progress=False, delivery="per_step")
    assert a["same_prediction"] == 1.0 and a["spike_count_rel_diff"] < 1e-3
    assert a["latency_timesteps"] == (max(i.stage for i in net.layers) + 1) * 5


def _offset_sigmoid_code(K: int = 6):
    from helpers.fs.offset import half_targets, offset_code

    o, pos, neg = half_targets("sigmoid")
    T = 2.0 * 2.0 ** -np.arange(1, K + 1)      # binary thresholds on [0, 2), outputs x / 4
    half = FSCode("half", "sigmoid", T, T, T / 4)  # (sigmoid(x) - 0.5 ~ x / 4 near 0)
    return offset_code("offset_sigmoid_K6", "sigmoid", half, half, o)


def test_offset_folding_splits_sigmoid_at_rest_and_spends_nothing_there():
    """f(x) = 0.5 + f⁺(x) − f⁻(−x) exactly for the targets; a neuron pair at rest sends no
    spike; the NumPy pair equals its reference built from fs_numpy."""
    from helpers.fs.activations import sigmoid
    from helpers.fs.neuron import fs_numpy
    from helpers.fs.offset import half_targets, offset_numpy

    o, pos, neg = half_targets("sigmoid")
    x = np.linspace(-8, 8, 1601)
    assert o == 0.5
    np.testing.assert_allclose(o + pos(x) - neg(-x), sigmoid(x), atol=1e-12)
    code = _offset_sigmoid_code()
    out, spikes = offset_numpy(x, code)
    ref_p, z_p = fs_numpy(x, code)
    ref_n, z_n = fs_numpy(-x, code.negative)
    np.testing.assert_array_equal(out, 0.5 + ref_p - ref_n)
    assert spikes[np.abs(x) < 0.03].sum() == 0 and np.abs(out - sigmoid(x))[np.abs(x) < 1].max() < 0.03
    s = code.scaled(2.0)
    assert s.offset == 1.0 and s.negative.T[0] == 2 * code.negative.T[0]


def test_offset_folded_sigmoid_network_matches_simulator_and_padding(monkeypatch):
    """A sigmoid net with offset folding: the FS-equivalent model equals the network whose
    activations are 0.5 + pair output (the constant enters the next conv including its
    zero-padded border), and the event-level simulator agrees with it."""
    from helpers.fs.offset import offset_numpy

    m = _random_net(6, "sigmoid")
    x = _images(12, (12, 12, 3), 6)
    code = _offset_sigmoid_code()
    net = convert(m, code, x)
    assert all(i.signed and i.n_neurons % 2 == 0 for i in net.layers)
    # the reference: the folded ANN with every sigmoid replaced by the NumPy pair
    from helpers.snn import network
    from helpers.snn.graph import output_name

    def pair(v):
        out = tf.numpy_function(lambda a: offset_numpy(a, code)[0].astype(np.float32), [v],
                                tf.float32)
        out.set_shape(v.shape)
        return out

    monkeypatch.setitem(network.TF_ACTIVATIONS, "sigmoid", pair)
    ref, _ = network.build_model(net.graph, output_name(net.graph), net.folded, "ann")
    r = net.run(x)
    np.testing.assert_allclose(r["logits"], ref(x).numpy(), rtol=1e-4, atol=1e-4)
    a = agreement(net, x, progress=False)
    assert a["max_abs_logit_diff"] == 0.0 and a["images_all_counts_equal"] == 1.0
    a = agreement(net, x, progress=False, delivery="per_step")
    assert a["same_prediction"] == 1.0 and a["spike_count_rel_diff"] < 1e-3


def test_committed_sigmoid_network_with_offset_code_is_bit_exact(cifar10):
    """On the committed sigmoid ResNet-20 with an offset-folded code, summed delivery equals
    the FS-equivalent model bit for bit: the pair's difference and the offset are added in
    one kernel on both sides, so TensorFlow's graph optimiser cannot regroup those sums with a
    residual add (before this, logits differed by up to 0.038 on these 200 images)."""
    from helpers.ann.resnet import load_card, load_model
    from helpers.data import normalize
    from helpers.paths import project_dirs

    dirs = project_dirs(None)
    pp = load_card(dirs.models, "resnet20_sigmoid_from_relu")["preprocessing"]
    m = load_model(dirs.models / "resnet20_sigmoid_from_relu.keras")
    x_cal = normalize(cifar10.x_train[45_000:45_200], pp["mean"], pp["std"])
    x = normalize(cifar10.x_test[:200], pp["mean"], pp["std"])
    net = convert(m, FSCode.load(dirs.codes / "offset_sigmoid_K6.json"), x_cal)
    a = agreement(net, x, progress=False)
    assert a["max_abs_logit_diff"] == 0.0 and a["images_all_counts_equal"] == 1.0


def test_summed_windows_of_networks_with_the_same_shapes_reuse_one_compiled_kernel():
    """A second network of the same shapes and K (other weights, other code values) traces
    no new window function: compiled kernels are shared, not kept per network."""
    from helpers.snn import simulate as sim

    x = _images(8, (12, 12, 3), 1)
    first = convert(_random_net(0), codes.binary(4, 1.0), x)
    simulate(first, x, progress=False)
    fn = sim._FS_WINDOWS[(False, False)]
    traced = fn.experimental_get_tracing_count()
    second = convert(_random_net(2), codes.geometric(4, 1.0, 2.0, True), x)
    assert [i.n_neurons for i in second.layers] == [i.n_neurons for i in first.layers]
    s, eq = simulate(second, x, progress=False), second.run(x)
    assert fn.experimental_get_tracing_count() == traced
    np.testing.assert_array_equal(s["logits"], eq["logits"])
