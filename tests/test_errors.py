"""Bad input is answered with a message that names the problem and the fix."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from helpers.data import load_cifar10
from helpers.fs.codes import binary
from helpers.fs.neuron import CodeError, FSCode, fs_numpy
from helpers.snn.convert import convert

L = tf.keras.layers


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_fs_neuron_refuses_non_finite_input(bad):
    with pytest.raises(ValueError, match="1 NaN or inf value"):
        fs_numpy(np.array([0.5, bad, 2.0]), binary(4, 4.0))


@pytest.mark.parametrize("kw", [{"n_train": 0}, {"n_test": -1}, {"n_test": 10_001},
                                {"n_train": 50_001}, {"n_train": 2.5}])
def test_subset_sizes_outside_the_data_set_are_refused(kw, tmp_path):
    name = next(iter(kw))
    with pytest.raises(ValueError, match=f"{name}=.*between 1 and"):
        load_cifar10(tmp_path, **kw)        # checked before the folder is looked at


def test_corrupt_code_file_names_the_file(tmp_path):
    path = binary(4, 2.0).save(tmp_path)
    path.write_text(path.read_text()[:40])
    with pytest.raises(CodeError, match=f"code file {path} is not valid JSON"):
        FSCode.load(path)


def test_incomplete_code_file_names_the_file_and_the_keys(tmp_path):
    path = binary(4, 2.0).save(tmp_path)
    obj = json.loads(path.read_text())
    del obj["T"]
    path.write_text(json.dumps(obj))
    with pytest.raises(CodeError, match=rf"code file {path}: code JSON is missing keys \['T'\]"):
        FSCode.load(path)


def test_relu_code_with_a_negative_threshold_is_refused(tmp_path):
    c = FSCode("bad_relu", "relu", [1.0, 0.5], [1.0, -0.5], [1.0, 0.5])
    path = c.save(tmp_path)
    with pytest.raises(CodeError, match=r"negative T .*thresholds and resets >= 0"):
        FSCode.load(path)
    silu = FSCode("ok_silu", "silu", [1.0, -0.5], [1.0, -0.5], [1.0, 0.5])
    assert FSCode.load(silu.save(tmp_path)).T.tolist() == [1.0, -0.5]


def _dense_net(activation: str = "relu", bias: float = 0.0) -> tf.keras.Model:
    """Dense 2->2 (weights [[1, 2], [3, -1]], bias ``bias``) -> activation -> Dense 2->1."""
    inp = tf.keras.Input((2,))
    h = L.Activation(activation, name="act")(L.Dense(2, name="d1")(inp))
    m = tf.keras.Model(inp, L.Dense(1, name="d2")(h))
    m.get_layer("d1").set_weights([np.array([[1.0, 2.0], [3.0, -1.0]]), np.full(2, bias)])
    m.get_layer("d2").set_weights([np.ones((2, 1)), np.zeros(1)])
    return m


#: Images whose pre-activations (bias 0) are [4, 1], [2, 4], [9, -3].
_X = np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 3.0]], np.float32)


def test_dead_layer_is_named_instead_of_getting_scale_one():
    m = _dense_net(bias=-20.0)                       # every pre-activation is negative
    with pytest.raises(ValueError, match=r"layer 'act' \(relu\): its scale α_l \(percentile of "
                       r"the calibration pre-activations\) is 0.*more or other images "
                       r"\(x_calib\).*the layer is dead"):
        convert(m, binary(4, 1.0), _X)
    # bias -8: pre-activations [-4, -7], [-6, -4], [1, -11]; the one positive value is
    # enough: α = max = 1
    net = convert(_dense_net(bias=-8.0), binary(4, 1.0), _X, scale="max")
    assert net.layers[0].scale == pytest.approx(1.0)


@pytest.mark.parametrize("bad,n", [(np.nan, 1), (np.inf, 1), (-np.inf, 2)])
def test_non_finite_calibration_images_are_refused(bad, n):
    x = _X.copy()
    x.flat[:n] = bad
    with pytest.raises(ValueError, match=rf"x_calib \(the calibration images\) holds {n} NaN "
                       r"or inf values.*normalisation"):
        convert(_dense_net(), binary(4, 1.0), x)


def test_empty_calibration_set_is_refused():
    with pytest.raises(ValueError, match=r"x_calib \(the calibration images\) holds 0 images"
                       r".*at least one image"):
        convert(_dense_net(), binary(4, 1.0), _X[:0])


def test_fs_input_without_a_relu_code_needs_input_code():
    silu = FSCode("s", "silu", [1.0, 0.5], [0.5, 0.25], [1.0, 0.5], (-4, 4))
    with pytest.raises(ValueError, match=r"input_mode='fs' with codes for \['silu'\] only.*"
                       r"pass input_code="):
        convert(_dense_net("swish"), silu, _X, input_mode="fs")
    net = convert(_dense_net("swish"), silu, _X, input_mode="fs", input_code=binary(3, 4.0))
    assert (net.layers[0].name, net.layers[0].code.K) == ("input", 3)
    with pytest.raises(ValueError, match=r"the percentile of \|x_calib\| is 0"):
        convert(_dense_net(), binary(4, 1.0), np.zeros_like(_X), input_mode="fs")


@pytest.mark.parametrize("method", ["run", "evaluate"])
def test_non_finite_evaluation_images_are_refused(method):
    net = convert(_dense_net(), binary(4, 9.0), _X, scale="max")
    x = _X.copy()
    x[1] = [np.nan, np.inf]
    args = (x, np.zeros(3, int)) if method == "evaluate" else (x,)
    with pytest.raises(ValueError, match=r"the evaluation images x hold 2 NaN or inf values"):
        getattr(net, method)(*args)
    # finite images run: binary K = 4 at α = 9 rounds down to steps of 9/16, at most 15 steps
    step = 9 / 16
    np.testing.assert_allclose(net.run(_X)["logits"][:, 0],
                               np.array([7 + 1, 3 + 7, 15 + 0]) * step, rtol=1e-6)
