"""The mlGeNN/GeNN backend (helpers.snn.mlgenn).

The GeNN tests are skipped with a one-line reason where pygenn / ml_genn / ml_genn_tf are not
installed (they are not on PyPI). Each compiles small networks with GeNN's CPU backend into a
temporary folder.
"""

import importlib.util

import numpy as np
import pytest
import tensorflow as tf

from helpers.fs.codes import binary
from helpers.fs.neuron import FSCode, OffsetCode
from helpers.paths import REPO_ROOT
from helpers.snn import mlgenn
from helpers.snn.convert import convert
from helpers.snn.graph import UnsupportedLayerError
from helpers.snn.simulate import simulate

HAVE_GENN = all(importlib.util.find_spec(m) for m in ("pygenn", "ml_genn", "ml_genn_tf"))


def _genn():
    """Skip (one line, with how to install) unless pygenn, ml_genn and ml_genn_tf import."""
    reason = mlgenn.missing_reason()
    for mod in ("pygenn", "ml_genn", "ml_genn_tf"):
        pytest.importorskip(mod, reason=reason)


# -- no GeNN needed --------------------------------------------------------------------------
@pytest.mark.parametrize("depthwise,stride,kernel,padding", [
    (False, 2, 3, "same"), (False, 2, 1, "same"), (False, 1, 3, "valid"), (False, 3, 3, "same"),
    (True, 1, 3, "same"), (True, 2, 3, "same"), (True, 2, 5, "same"), (True, 1, 3, "valid")])
def test_conv_synapses_equal_tensorflow_convolution(depthwise, stride, kernel, padding):
    """Plain and depthwise convolutions (channel c to channel c only) as synapse lists."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 9, 8, 3)).astype(np.float32)
    w = rng.normal(size=(kernel, kernel, 3, 1 if depthwise else 4)).astype(np.float32)
    conv = (tf.nn.depthwise_conv2d(x, w, (1, stride, stride, 1), padding.upper()) if depthwise
            else tf.nn.conv2d(x, w, stride, padding.upper()))
    ref = conv.numpy()[0]
    pre, post, g = mlgenn.conv_synapses(x.shape[1:], ref.shape, w, (stride, stride), padding,
                                        depthwise=depthwise)
    out = np.zeros(ref.size, np.float64)
    np.add.at(out, post, g * x[0].ravel()[pre])       # HWC-flattened, as mlGeNN lays out
    np.testing.assert_allclose(out.reshape(ref.shape), ref, rtol=1e-5, atol=1e-5)
    assert len(g) <= kernel * kernel * ref.size * (1 if depthwise else 3)   # taps inside only
    if depthwise:
        with pytest.raises(ValueError, match="depth multiplier 1"):
            mlgenn.conv_synapses(x.shape[1:], ref.shape[:2] + (6,), np.repeat(w, 2, 3),
                                 (stride, stride), padding, depthwise=True)


def test_missing_reason_agrees_with_installed_modules():
    reason = mlgenn.missing_reason()
    assert (reason is None) == HAVE_GENN
    if reason is not None:
        assert "not on PyPI" in reason and "README" in reason and "\n" not in reason


def test_binary_d_matches_mlgenn_decoding_constants():
    # unsigned: alpha 2^-(t+1); signed (K=8): +alpha/16*(8,4,2,1) on even, minus on odd steps
    np.testing.assert_array_equal(mlgenn._binary_d(4, 2.0, False), [1.0, 0.5, 0.25, 0.125])
    d = mlgenn._binary_d(8, 16.0, True)
    np.testing.assert_array_equal(d, [8, -8, 4, -4, 2, -2, 1, -1])


# -- GeNN ----------------------------------------------------------------------------------
def _residual_net(bias: bool, bn: bool, act: str = "relu", seed: int = 0):
    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input((8, 8, 2))

    def conv(x, f, s=1):
        x = tf.keras.layers.Conv2D(f, 3, strides=s, padding="same", use_bias=bias)(x)
        if bn:
            b = tf.keras.layers.BatchNormalization()
            x = b(x)
            b.set_weights([np.random.uniform(0.5, 1.5, f), np.random.uniform(-.2, .2, f),
                           np.random.uniform(-.2, .2, f), np.random.uniform(0.5, 2, f)])
        return x

    x = tf.keras.layers.Activation(act)(conv(inp, 4))
    y = tf.keras.layers.Activation(act)(conv(x, 4))
    x = tf.keras.layers.Activation(act)(tf.keras.layers.Add()([conv(y, 4), x]))
    x = tf.keras.layers.Activation(act)(conv(x, 6, 2))
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    return tf.keras.Model(inp, tf.keras.layers.Dense(5, use_bias=bias)(x))


def _images(n, seed):
    return np.random.default_rng(seed).normal(size=(n, 8, 8, 2)).astype(np.float32)


def test_fs_neuron_reproduces_mlgenn_fewspike_exactly(tmp_path):
    _genn()
    model = _residual_net(bias=False, bn=False)
    x_cal, x = _images(32, 1), _images(12, 2)
    ref = mlgenn.run_fewspike(model, x_cal, x, 8, code_dir=tmp_path, progress=False)
    ours = mlgenn.run_fewspike_with_fs_neurons(model, x_cal, x, 8, code_dir=tmp_path,
                                               progress=False)
    np.testing.assert_array_equal(ours.logits, ref.logits)      # bit for bit
    np.testing.assert_array_equal(ours.spikes, ref.spikes)
    assert ref.spikes.sum() > 0 and ours.layer_names == ref.layer_names
    # mlGeNN's read-out approximates the Keras model (binary K=8)
    keras = model.predict(x, verbose=0)
    assert np.abs(ref.logits - keras).max() < 0.25 * np.abs(keras).max()


@pytest.mark.parametrize("act,code_name", [("relu", "binary"), ("relu", "relu_distaware_lam0_K6"),
                                            ("silu", "fitted_silu_K8"),
                                            ("sigmoid", "fitted_sigmoid_K6"),
                                            ("sigmoid", "offset_sigmoid_K6"),
                                            ("silu", "offset_silu_K4"),
                                            ("sigmoid", "offset_sigmoid_lam0.0003_K8")])
def test_genn_matches_event_level_simulator(tmp_path, act, code_name):
    """Plain codes and offset-folded pairs: the pairs' halves side by side in K-step windows
    (the first layer's too), the −x half's events weighted by its own d(t) (for SiLU of the
    other sign); a pair whose −x half sends where the x half's d is 0 takes turns in 2K."""
    _genn()
    code = binary(6, 1.0) if code_name == "binary" else FSCode.load(
        REPO_ROOT / "data" / "codes" / f"{code_name}.json")
    model = _residual_net(bias=True, bn=True, act="swish" if act == "silu" else act)
    x_cal, x = _images(32, 3), _images(10, 4)
    net = convert(model, {act: code}, x_cal)
    g = mlgenn.run_fs_network(net, x, code_dir=tmp_path, progress=False)
    s = simulate(net, x, progress=False)
    np.testing.assert_array_equal(g.predictions, s["logits"].argmax(1))
    np.testing.assert_allclose(g.logits, s["logits"], atol=1e-3 * np.abs(s["logits"]).max())
    # spike counts per layer agree up to neurons within float rounding of a threshold
    np.testing.assert_allclose(g.spikes, s["spikes"], rtol=0.01, atol=2)
    assert g.layer_names == s["layer_names"]
    n_neurons = [info.n_neurons for info in net.layers]           # a pair: two FS neurons
    assert g.n_neurons.tolist() == n_neurons
    assert g.mean_spikes_per_neuron == pytest.approx(s["spikes"].sum(1).mean() / sum(n_neurons))
    turns = isinstance(code, OffsetCode) and np.any((code.d == 0) & (code.negative.d != 0))
    assert turns == (code_name == "offset_sigmoid_lam0.0003_K8")
    assert g.latency_timesteps == (2 if turns else 1) * net.latency_timesteps + 1  # read-out: +1


def test_residual_sum_of_layers_with_their_own_codes_runs_in_genn(tmp_path):
    """Fine-tuned networks train each layer's code: a residual sum then receives spikes
    from layers whose d(t) are not proportional. Each such group of sources arrives in its
    own GeNN input variable with its own d(t); GeNN still matches the event-level simulator."""
    _genn()
    from helpers.snn.convert import code_input_scale
    model = _residual_net(bias=True, bn=True)
    x_cal, x = _images(32, 3), _images(10, 4)
    base = convert(model, {"relu": binary(6, 1.0)}, x_cal)
    designed = FSCode.load(REPO_ROOT / "data" / "codes" / "relu_distaware_lam0_K6.json")
    layer_codes = {info.name: info.code.with_meta(layer_scale_value=info.scale)
                   for info in base.layers}
    second = base.layers[1]                  # the block's inner layer: a source of the sum
    layer_codes[second.name] = designed.scaled(
        second.scale / code_input_scale(designed)).with_meta(layer_scale_value=second.scale)
    ds = [layer_codes[i.name].d for i in base.layers[:2]]
    assert not np.allclose(ds[1] / ds[1][0], ds[0] / ds[0][0])    # not proportional
    net = convert(model, {"relu": binary(6, 1.0)}, x_cal, layer_codes=layer_codes)
    g = mlgenn.run_fs_network(net, x, code_dir=tmp_path, progress=False)
    s = simulate(net, x, progress=False)
    np.testing.assert_array_equal(g.predictions, s["logits"].argmax(1))
    np.testing.assert_allclose(g.logits, s["logits"], atol=1e-3 * np.abs(s["logits"]).max())
    np.testing.assert_allclose(g.spikes, s["spikes"], rtol=0.01, atol=2)


def _mbconv_net(seed: int = 0):
    """EfficientNet-Lite's pieces: conv + BN + ReLU6, depthwise 3x3 (stride 2, then 1) + BN +
    ReLU6, linear 1x1 projections (bottlenecks), a residual sum of two projections, a 1x1
    expansion, a head, average pooling and a dense read-out."""
    L = tf.keras.layers
    tf.keras.utils.set_random_seed(seed)

    def bn(x):
        b = L.BatchNormalization()
        x = b(x)
        f = b.gamma.shape[0]
        b.set_weights([np.random.uniform(0.5, 1.5, f), np.random.uniform(-.2, .2, f),
                       np.random.uniform(-.2, .2, f), np.random.uniform(0.5, 2, f)])
        return x

    def relu6(x):
        return L.ReLU(6.0)(bn(x))

    inp = tf.keras.Input((8, 8, 2))
    x = relu6(L.Conv2D(4, 3, padding="same", use_bias=False)(inp))
    y = relu6(L.DepthwiseConv2D(3, 2, padding="same", use_bias=False)(x))
    x = bn(L.Conv2D(3, 1, use_bias=False)(y))                         # bottleneck, 4x4x3
    y = relu6(L.Conv2D(6, 1, use_bias=False)(x))
    y = relu6(L.DepthwiseConv2D(3, 1, padding="same", use_bias=False)(y))
    x = L.Add()([x, bn(L.Conv2D(3, 1, use_bias=False)(y))])           # residual bottleneck
    x = relu6(L.Conv2D(8, 1, use_bias=False)(x))
    return tf.keras.Model(inp, L.Dense(5)(L.GlobalAveragePooling2D()(x)))


def test_depthwise_convolutions_and_signed_bottlenecks_run_in_genn(tmp_path):
    """An EfficientNet-Lite-like network, fully spiking: depthwise convolutions as explicit
    synapses, the linear bottlenecks (one a residual sum) as signed identity neurons side by
    side (spikes and spike-like events, K-step windows). GeNN matches the event-level
    simulator."""
    _genn()
    model = _mbconv_net()
    x_cal = 3 * _images(32, 5)
    x = 3 * _images(10, 6)
    code = binary(6, 1.0)
    net = convert(model, {"relu6": code}, x_cal, bottleneck_code=code)
    signed = [i.name for i in net.layers if i.signed]
    assert len(signed) == 2 and all(i.activation == "identity" for i in net.layers if i.signed)
    g = mlgenn.run_fs_network(net, x, code_dir=tmp_path, progress=False)
    s = simulate(net, x, progress=False)
    np.testing.assert_array_equal(g.predictions, s["logits"].argmax(1))
    np.testing.assert_allclose(g.logits, s["logits"], atol=1e-3 * np.abs(s["logits"]).max())
    np.testing.assert_allclose(g.spikes, s["spikes"], rtol=0.01, atol=2)
    assert g.layer_names == s["layer_names"] and s["spikes"][:, 1:].sum() > 0
    assert g.latency_timesteps == net.latency_timesteps + 1           # pairs side by side
    pairs = [g.layer_names.index(n) for n in signed]
    assert g.spikes[:, pairs].min() > 0                               # the bottlenecks spike
    keras = model.predict(x, verbose=0)                               # and carry the values
    assert np.abs(g.logits - keras).max() < 0.2 * np.abs(keras).max()


def _identity_net(n: int = 4, mix: bool = False):
    """Input(n) -> Dense(ReLU) -> Dense(identity): the read-out shows the hidden layer's code.
    The hidden weights are the identity, or with ``mix`` random positive mixtures (so hidden
    values are not confined to the coarse grid of the 4-bit signed input)."""
    inp = tf.keras.Input((n,))
    h = tf.keras.layers.Dense(n, use_bias=False, activation="relu")(inp)
    out = tf.keras.layers.Dense(n, use_bias=False)(h)
    m = tf.keras.Model(inp, out)
    w = (np.random.default_rng(7).uniform(0.1, 1, (n, n)).astype(np.float32) if mix
         else np.eye(n, dtype=np.float32))
    m.set_weights([w, np.eye(n, dtype=np.float32)])
    return m


def test_a_mlgenn_readout_misses_the_last_spike_exact_readout_does_not(tmp_path):
    _genn()
    K = 8
    model = _identity_net(16, mix=True)
    x = np.random.default_rng(5).uniform(0.05, 1.0, size=(8, 16)).astype(np.float32)
    x_cal = np.concatenate([x, np.ones((1, 16), np.float32)])
    kw = dict(code_dir=tmp_path, progress=False)
    low = mlgenn.run_fewspike_with_fs_neurons(model, x_cal, x, K, readout="mlgenn", **kw)
    exact = mlgenn.run_fewspike_with_fs_neurons(model, x_cal, x, K, readout="exact", **kw)
    _, _, _, pops, _ = mlgenn.fewspike_network(model, x_cal, K)
    alpha = next(p.neuron.alpha for p in pops.values()
                 if p.neuron.readout is None and not hasattr(p.neuron, "signed_input"))
    lsb = np.float32(alpha * 2.0 ** -K)
    steps = (exact.logits - low.logits) / lsb
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
    assert set(np.unique(np.round(steps))) == {0.0, 1.0}     # odd codes read one step low
    # the exact read-out is the hidden layer's binary code of its input: a multiple of lsb
    q = exact.logits / lsb
    np.testing.assert_allclose(q, np.round(q), atol=1e-3)


def test_b_signed_input_normalisation(tmp_path):
    _genn()
    K = 8
    model = _identity_net(1)
    x = np.array([[1.0]], np.float32)
    # mlGeNN: alpha = max|x| / (1 - 2^(1-K)), but K/2 bits per sign reach alpha (1 - 2^(-K/2))
    for norm, expect in (("mlgenn", (1 - 2.0 ** -4) / (1 - 2.0 ** -7)), ("exact", 1.0)):
        _, _, inputs, pops, _ = mlgenn.fewspike_network(model, x, K, signed_norm=norm)
        inp = next(p.neuron for p in pops.values() if hasattr(p.neuron, "signed_input"))
        top = mlgenn._binary_d(K, inp.alpha, True).clip(0).sum()
        assert top == pytest.approx(expect, rel=1e-6)
    assert (1 - 2.0 ** -4) / (1 - 2.0 ** -7) == pytest.approx(0.9449, abs=1e-4)
    # end to end in GeNN, x = 15 (exact normalisation: alpha = 16, thresholds 8, 4, 2, 1):
    # mlGeNN's normalisation delivers 15 * 0.9449 = 14.17, the exact one 15, each then
    # floored to the hidden layer's grid of 15 / 255
    x = np.array([[15.0]], np.float32)
    kw = dict(code_dir=tmp_path, progress=False, readout="exact")
    r_ml = mlgenn.run_fewspike_with_fs_neurons(model, x, x, K, signed_norm="mlgenn", **kw)
    r_ex = mlgenn.run_fewspike_with_fs_neurons(model, x, x, K, signed_norm="exact", **kw)
    grid = 15.0 / 255
    assert 15.0 - grid - 1e-4 <= r_ex.logits[0, 0] <= 15.0 + 1e-4
    assert 15.0 * 0.9449 - grid - 1e-3 <= r_ml.logits[0, 0] <= 15.0 * 0.9449 + 1e-3


def test_c_datanorm_with_signed_poisson_input_fails_in_genn(tmp_path, capfd):
    _genn()
    from ml_genn_tf.converters import DataNorm

    model = mlgenn.mlgenn_keras_model(_identity_net())
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)

    def build(signed):
        conv = DataNorm(evaluate_timesteps=16, signed_input=signed, norm_data=[[(x, None)]])
        net, inputs, outputs, _ = conv.convert(model)
        compiler = conv.create_compiler(backend="single_threaded_cpu")
        compiled = compiler.compile(net, name=f"datanorm_{signed}", inputs=inputs,
                                    outputs=outputs)
        compiled.genn_model.build(path_to_model=str(tmp_path) + "/")

    build(False)                       # unsigned Poisson input: builds
    capfd.readouterr()
    # pinned upstream behaviour (mlGeNN 2.3.1 / GeNN 5.4): signed PoissonInput adds a negative
    # threshold condition reading Input_pre, which GeNN's presynaptic event threshold does not
    # define; GeNN logs why (on stdout) and raises a RuntimeError without a message
    with pytest.raises(RuntimeError):
        build(True)
    log = capfd.readouterr().out
    assert "presynaptic event threshold condition" in log
    assert "Error at 'Input_pre': Undefined identifier" in log


def _conv_flatten_dense(bias: bool):
    tf.keras.utils.set_random_seed(1)
    inp = tf.keras.Input((6, 6, 2))
    x = tf.keras.layers.Conv2D(3, 3, use_bias=bias)(inp)
    x = tf.keras.layers.Activation("relu")(x)
    x = tf.keras.layers.Conv2D(3, 3, use_bias=bias)(x)
    x = tf.keras.layers.Activation("relu")(x)
    x = tf.keras.layers.Flatten()(x)
    return tf.keras.Model(inp, tf.keras.layers.Dense(4, use_bias=bias)(x))


def test_d_conv_flatten_dense_fails_in_mlgenn_and_works_here(tmp_path):
    _genn()
    x = np.random.default_rng(2).normal(size=(6, 6, 6, 2)).astype(np.float32)
    # pinned upstream behaviour (mlGeNN 2.3.1): Conv2D -> Flatten -> Dense is refused
    with pytest.raises(RuntimeError, match=r"Target layer shape \(2, 2, 3\) doesn't match "
                                           r"flattened output shape \(12,\)"):
        mlgenn.run_fewspike(_conv_flatten_dense(False), x, x, 8, code_dir=tmp_path,
                            progress=False)
    net = convert(_conv_flatten_dense(True), binary(8, 1.0), x)
    g = mlgenn.run_fs_network(net, x, code_dir=tmp_path, progress=False)
    s = simulate(net, x, progress=False)
    np.testing.assert_allclose(g.logits, s["logits"], atol=1e-4 * np.abs(s["logits"]).max())


def test_e_mlgenn_accepts_capped_relu_our_converter_refuses_it():
    _genn()
    inp = tf.keras.Input((4,))
    h = tf.keras.layers.Dense(4, use_bias=False)(inp)
    h = tf.keras.layers.ReLU(max_value=0.5, name="capped")(h)
    model = tf.keras.Model(inp, tf.keras.layers.Dense(2, use_bias=False)(h))
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    _, _, _, pops, _ = mlgenn.fewspike_network(model, x, 8)
    capped = next(p.neuron for layer, p in pops.items() if layer.name == "capped")
    assert type(capped).__mro__[1].__name__ == "FewSpikeRelu"    # plain ReLU neuron, no cap
    with pytest.raises(UnsupportedLayerError, match="capped"):
        convert(model, binary(8, 1.0), x)
