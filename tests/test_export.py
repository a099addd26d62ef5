"""The BN-folded Keras export of a converted network (no GeNN needed)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from helpers.fs import codes
from helpers.snn.convert import convert
from helpers.snn.export import folded_keras_model
from helpers.snn.graph import UnsupportedLayerError, model_graph, output_name

L = tf.keras.layers


def _residual_net(seed: int = 0) -> tf.keras.Model:
    """Conv+BN -> ReLU (the image-fed FS layer) -> [Conv+BN -> SiLU -> DepthwiseConv+BN]
    + skip -> ReLU -> AvgPool -> Conv -> ReLU -> Flatten -> Dropout -> Dense, with random BN
    statistics and non-zero biases everywhere."""
    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inp = tf.keras.Input((8, 8, 3), name="image")
    a = L.BatchNormalization()(L.Conv2D(4, 3, padding="same", name="c0")(inp))
    a = L.Activation("relu", name="r0")(a)
    b = L.BatchNormalization()(L.Conv2D(4, 3, padding="same", name="c1")(a))
    b = L.Activation("swish", name="s1")(b)
    b = L.BatchNormalization()(L.DepthwiseConv2D(3, padding="same", name="dw")(b))
    c = L.Activation("relu", name="r2")(L.Add(name="add")([a, b]))
    c = L.AveragePooling2D(2, name="pool")(c)
    c = L.Activation("relu", name="r3")(L.Conv2D(3, 1, name="c3")(c))
    c = L.Dropout(0.5, name="drop")(L.Flatten(name="flat")(c))
    m = tf.keras.Model(inp, L.Dense(5, name="out")(c))
    for layer in m.layers:
        w = layer.get_weights()
        if isinstance(layer, L.BatchNormalization):
            shape = w[0].shape
            layer.set_weights([rng.uniform(0.5, 1.5, shape), rng.normal(0, 0.2, shape),
                               rng.normal(0, 0.2, shape), rng.uniform(0.3, 2.0, shape)])
        elif isinstance(layer, (L.Conv2D, L.Dense)):    # DepthwiseConv2D is a Conv2D
            layer.set_weights([w[0], rng.normal(0, 0.3, w[1].shape).astype(np.float32)])
    return m


@pytest.fixture(scope="module")
def converted():
    m = _residual_net()
    x = np.random.default_rng(1).normal(size=(6, 8, 8, 3)).astype(np.float32)
    net = convert(m, {"relu": codes.binary(6, 1.0), "silu": codes.sm_published("silu")}, x)
    return m, net, x


def test_image_export_equals_folded_ann(converted):
    m, net, x = converted
    exported = folded_keras_model(net, "image")
    ref = net.ann(x).numpy()
    np.testing.assert_allclose(exported(x).numpy(), ref, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(ref, m(x).numpy(), atol=1e-5, rtol=1e-5)   # folding is exact
    kinds = {type(layer) for layer in exported.layers}
    assert not kinds & {L.BatchNormalization, L.Dropout}
    fs = {layer.name for layer in exported.layers if isinstance(layer, (L.Activation, L.ReLU))}
    assert fs == {info.name for info in net.layers} == {"r0", "s1", "r2", "r3"}
    assert exported.get_layer("s1").get_config()["activation"] in ("swish", "silu")


def test_first_fs_export_continues_from_the_first_layer_output(converted):
    m, net, x = converted
    cut = folded_keras_model(net, "first_fs")
    assert cut.input_names == ["r0"] and tuple(cut.input_shape[1:]) == (8, 8, 4)
    # the first FS layer's output, from the original (unfolded) model
    first = tf.keras.Model(m.input, m.get_layer("r0").output)(x)
    np.testing.assert_allclose(cut(first).numpy(), net.ann(x).numpy(), atol=1e-5, rtol=1e-5)


def test_first_fs_export_needs_one_image_fed_activation():
    inp = tf.keras.Input((4, 4, 2))
    a = L.Activation("relu", name="ra")(L.Conv2D(2, 1, name="ca")(inp))
    b = L.Activation("relu", name="rb")(L.Conv2D(2, 1, name="cb")(inp))
    m = tf.keras.Model(inp, L.Dense(2)(L.Flatten()(L.Add()([a, b]))))
    x = np.ones((2, 4, 4, 2), np.float32)
    net = convert(m, codes.binary(4, 1.0), x)
    with pytest.raises(UnsupportedLayerError, match=r"exactly one Activation.*\['ra', 'rb'\]"):
        folded_keras_model(net, "first_fs")


def test_output_name_is_the_model_output():
    nodes, _, outs = model_graph(_residual_net())
    assert output_name(nodes) == outs[0] == "out"
