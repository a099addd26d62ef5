"""Models, augmentation, learning-rate schedule and the train/re-use cycle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from helpers.ann.resnet import REQUIRED_CARD_KEYS, load_model, model_paths, resnet_cifar
from helpers.ann.schedules import OneCycle
from helpers.ann.training import TrainConfig, augment_batch, train_or_load


def test_augment_gives_crops_of_padded_image_and_flips_half():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(400, 8, 8, 3), dtype=np.uint8)
    out = augment_batch(x, np.random.default_rng(1), pad=2)
    assert out.shape == x.shape and out.dtype == x.dtype
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    n_flipped = 0
    for i in range(len(x)):
        matches = [(oy, ox, f) for oy in range(5) for ox in range(5) for f in (False, True)
                   if np.array_equal(out[i], (lambda c: c[:, ::-1] if f else c)(
                       padded[i, oy:oy + 8, ox:ox + 8]))]
        assert matches, f"image {i} is not a (flipped) crop of its padded input"
        n_flipped += all(f for _, _, f in matches)
    assert 0.4 < n_flipped / len(x) < 0.6


def test_one_cycle_matches_closed_form():
    sched = OneCycle(total_steps=1000, max_lr=0.2, pct_start=0.1, div=10, final_div=100)
    steps = np.array([0, 50, 100, 550, 1000])
    got = np.array([float(sched(s)) for s in steps])

    def ref(s):
        if s < 100:
            return 0.02 + (0.2 - 0.02) * s / 100
        frac = (s - 100) / 900
        return 0.002 + 0.5 * (0.2 - 0.002) * (1 + math.cos(math.pi * frac))

    np.testing.assert_allclose(got, [ref(s) for s in steps], rtol=1e-6)
    assert OneCycle.from_config(sched.get_config()).get_config() == sched.get_config()


def _expected_resnet_params(depth: int, w: int, classes: int = 10) -> int:
    """Closed-form parameter count: conv kernels + biases, BN (4 per channel), dense."""
    def conv_bn(k, cin, cout):
        return k * k * cin * cout + cout + 4 * cout

    n = (depth - 2) // 6
    total, cin = conv_bn(3, 3, w), w
    for stage in range(3):
        cout = w * 2 ** stage
        for b in range(n):
            total += conv_bn(3, cin, cout) + conv_bn(3, cout, cout)
            if cin != cout:
                total += conv_bn(1, cin, cout)
            cin = cout
    return total + cin * classes + classes


@pytest.mark.parametrize("depth,width", [(20, 16), (8, 8)])
def test_resnet_parameter_count_and_layers(depth, width):
    m = resnet_cifar(depth, "silu", width)
    assert m.count_params() == _expected_resnet_params(depth, width)
    kinds = {type(layer).__name__ for layer in m.layers}
    assert "MaxPooling2D" not in kinds and {"Conv2D", "Add", "GlobalAveragePooling2D"} <= kinds
    acts = [layer.activation.__name__ for layer in m.layers
            if isinstance(layer, tf.keras.layers.Activation)]
    assert set(acts) == {"swish"} and len(acts) == depth - 1
    assert m.output_shape == (None, 10)


def test_bad_architecture_arguments():
    with pytest.raises(ValueError, match="6n\\+2"):
        resnet_cifar(21)
    with pytest.raises(ValueError, match="activation must be one of"):
        resnet_cifar(20, "tanh")


def test_train_then_reuse(tmp_path):
    rng = np.random.default_rng(0)
    from helpers.data import Cifar10

    data = Cifar10(rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 64),
                   rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 32),
                   tmp_path)
    cfg = TrainConfig(name="tiny", depth=8, width=4, epochs=1, batch_size=32, seed=3)
    model, card = train_or_load(cfg, data, [120.0] * 3, [60.0] * 3, tmp_path, reuse=True)
    assert set(REQUIRED_CARD_KEYS) <= set(card) and card["n_test"] == 32
    assert len(card["history"]["loss"]) == 1
    again, card2 = train_or_load(cfg, data, [120.0] * 3, [60.0] * 3, tmp_path, reuse=True)
    assert card2 == card
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.warns(UserWarning, match="re-using .* trained for 1 epochs"):
        train_or_load(TrainConfig(name="tiny", depth=8, width=4, epochs=5), data,
                      [120.0] * 3, [60.0] * 3, tmp_path, reuse=True)
    with pytest.raises(FileNotFoundError, match="01_ann_training"):
        load_model(model_paths(tmp_path, "absent")[0])


def test_no_bn_variant_has_no_bn_no_biases_and_zero_residual_branches():
    m = resnet_cifar(20, "relu", 16, batchnorm=False)
    kinds = {type(layer).__name__ for layer in m.layers}
    assert "BatchNormalization" not in kinds
    assert all(not layer.use_bias for layer in m.layers if hasattr(layer, "use_bias"))
    # Fixup-style start: the second convolution of every residual branch is zero
    for layer in m.layers:
        if layer.name.endswith("_b_conv"):
            assert not np.any(layer.get_weights()[0])
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
    assert np.all(np.isfinite(m(x).numpy()))


def test_committed_models_reproduce_their_cards(cifar10):
    """The check notebook 01 runs with verify=True: every committed model, re-loaded and
    evaluated on the full test set, gives its card's accuracy (at most one image apart)."""
    from helpers.data import normalize
    from helpers.ann.resnet import load_card
    from helpers.paths import REPO_ROOT
    from helpers.ann.metrics import accuracy

    models_dir = REPO_ROOT / "data" / "models"
    names = sorted(p.stem for p in models_dir.glob("*.keras"))
    assert {"resnet20_relu", "resnet20_silu", "resnet20_sigmoid", "resnet20_relu_nobn"} <= set(names)
    for name in names:
        card = load_card(models_dir, name)
        pp = card["preprocessing"]
        acc = accuracy(load_model(model_paths(models_dir, name)[0]),
                                normalize(cifar10.x_test, pp["mean"], pp["std"]), cifar10.y_test)
        assert card["n_test"] == len(cifar10.y_test)
        assert abs(acc - card["test_accuracy"]) <= 1 / len(cifar10.y_test) + 1e-12, name
