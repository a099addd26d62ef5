"""Models, augmentation, learning-rate schedule and the train/re-use cycle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from helpers.ann.resnet import REQUIRED_CARD_KEYS, load_model, model_paths, resnet_cifar
from helpers.ann.schedules import OneCycle
from helpers.ann.training import TrainConfig, augment_batch, card_mismatch, train_or_load


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


def _tiny_data(tmp_path, n_train=64):
    from helpers.data import Cifar10

    rng = np.random.default_rng(0)
    return Cifar10(rng.integers(0, 256, (n_train, 32, 32, 3), dtype=np.uint8),
                   rng.integers(0, 10, n_train),
                   rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 32),
                   tmp_path)


MEAN, STD = [120.0] * 3, [60.0] * 3


@pytest.mark.slow
def test_train_then_reuse_only_on_an_exact_match(tmp_path, capsys):
    data = _tiny_data(tmp_path)
    cfg = TrainConfig(name="tiny", depth=8, width=4, epochs=1, batch_size=32, seed=3)
    model, card = train_or_load(cfg, data, MEAN, STD, tmp_path, reuse=True,
                                checkpoint_dir=tmp_path / "ck", progress=False)
    assert set(REQUIRED_CARD_KEYS) <= set(card) and card["n_test"] == 32
    assert len(card["history"]["loss"]) == 1 and card["config"]["max_lr"] == 0.1
    again, card2 = train_or_load(cfg, data, MEAN, STD, tmp_path, reuse=True, progress=False)
    assert card2 == card
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    other = TrainConfig(name="tiny", depth=8, width=4, epochs=1, batch_size=32, seed=3,
                        max_lr=0.05)
    assert card_mismatch(card, other) == "max_lr: card 0.1 -> asked 0.05"
    _, card3 = train_or_load(other, data, MEAN, STD, tmp_path, reuse=True,
                             checkpoint_dir=tmp_path / "ck2", progress=False)
    assert "retraining tiny: max_lr: card 0.1 -> asked 0.05" in capsys.readouterr().out
    assert card3["config"]["max_lr"] == 0.05
    with pytest.raises(FileNotFoundError, match="01_ann_training"):
        load_model(model_paths(tmp_path, "absent")[0])


def test_legacy_card_is_compared_field_by_field():
    card = {"name": "m", "activation": "relu", "epochs": 30, "seed": 1234, "n_train": 50_000,
            "hyperparameters": {"batch_size": 128, "max_lr": 0.1, "momentum": 0.9,
                                "l2": 2.5e-4}}
    assert card_mismatch(card, TrainConfig(name="m", epochs=30)) is None
    assert card_mismatch(card, TrainConfig(name="m", epochs=12)) == "epochs: card 30 -> asked 12"
    assert card_mismatch(card, TrainConfig(name="m", epochs=30, n_train=45_000)) == \
        "n_train: card None -> asked 45000"


@pytest.mark.slow
def test_validation_split_and_resume_equal_an_uninterrupted_run(tmp_path):
    data = _tiny_data(tmp_path, n_train=80)
    cfg = TrainConfig(name="split", depth=8, width=4, epochs=2, batch_size=32, seed=5,
                      n_train=64)
    full, card = train_or_load(cfg, data, MEAN, STD, tmp_path / "a", reuse=False,
                               checkpoint_dir=tmp_path / "ck_a", progress=False)
    assert (card["n_train"], card["n_val"]) == (64, 16)
    assert len(card["history"]["val_accuracy"]) == 2
    assert card["val_accuracy"] == card["history"]["val_accuracy"][-1]
    # the same run stopped after epoch 1 (what _fit leaves behind), then resumed
    from helpers.ann import training

    ck = tmp_path / "ck_b"
    x, y, val = training._split(cfg, data, MEAN, STD)
    seq = training.AugmentedSequence(x, y, MEAN, STD, cfg.batch_size, cfg.seed)
    model = training._build(cfg, len(seq) * cfg.epochs, tmp_path)
    model.fit(seq, epochs=1, verbose=0, shuffle=False, validation_data=val)
    tf.train.Checkpoint(model=model, optimizer=model.optimizer).write(str(ck / "ckpt"))
    training.write_json(ck / "state.json", {"config": training.config_dict(cfg), "epoch": 1,
                                            "history": {}, "seconds": 0.0})
    resumed, _ = train_or_load(cfg, data, MEAN, STD, tmp_path / "b", reuse=False,
                               checkpoint_dir=ck, progress=False)
    for a, b in zip(full.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


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


@pytest.mark.slow
def test_committed_models_reproduce_their_cards(cifar10):
    """The check notebook 01 runs with verify=True: every committed model, re-loaded and
    evaluated on the full test set, gives its card's accuracy (at most one image apart); a
    fine-tuned model (notebook 04) as the FS network its card's per-layer codes define (at
    most ten images apart: see below)."""
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
        model = load_model(model_paths(models_dir, name)[0])
        x = normalize(cifar10.x_test, pp["mean"], pp["std"])
        tol = 1
        if card.get("finetuned"):    # the card scores the FS network, not the ReLU ANN
            from helpers.studies.finetune import finetuned_network

            acc = finetuned_network(model, card, x[:100]).evaluate(x, cifar10.y_test)["accuracy"]
            # the card was scored by the training forward pass (x / α against the code in
            # α-units), the converted network compares x with α·T: the same spikes up to
            # float rounding at thresholds, a few images of 10,000 -- most where a high spike
            # price has pushed many pre-activations onto the thresholds (λ = 2 at K = 4 from
            # the 45,000-image parent: 6 images; every other network at most 5)
            tol = 10
        else:
            acc = accuracy(model, x, cifar10.y_test)
        assert card["n_test"] == len(cifar10.y_test)
        assert abs(acc - card["test_accuracy"]) <= tol / len(cifar10.y_test) + 1e-12, name


def test_batched_logits_equal_one_eager_call_and_accuracy_counts_hits():
    from helpers.ann.metrics import accuracy, logits, predictions

    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((4, 4, 3)),
                                 tf.keras.layers.Conv2D(5, 3, activation="sigmoid"),
                                 tf.keras.layers.Flatten(), tf.keras.layers.Dense(3)])
    x = np.random.default_rng(1).normal(size=(7, 4, 4, 3)).astype(np.float32)
    ref = model(x, training=False).numpy()                 # one eager call on all 7 images
    np.testing.assert_allclose(logits(model, x, batch_size=3), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(predictions(model, x, batch_size=3), ref.argmax(1))
    y = ref.argmax(1).copy()
    y[:2] = (y[:2] + 1) % 3                                 # two wrong labels of seven
    assert accuracy(model, x, y, batch_size=3) == pytest.approx(5 / 7)


def test_from_parent_config_names_the_parent_and_says_whether_it_saw_the_validation_images():
    from helpers.ann.training import from_parent_config

    old = from_parent_config("sigmoid", 40, 0.05, 7)
    assert (old.name, old.init_from, old.n_train) == ("resnet20_sigmoid_from_relu",
                                                      "resnet20_relu", 45_000)
    assert "validation images were seen by the parent" in old.extra["recipe"]
    new = from_parent_config("silu", 15, 0.05, 7, parent="resnet20_relu_45k",
                             parent_n_train=45_000)
    assert (new.name, new.init_from, new.epochs, new.seed) == (
        "resnet20_silu_from_relu_45k", "resnet20_relu_45k", 15, 7)
    assert "first 45,000 training images only" in new.extra["recipe"]
    # a parent that saw more training images than the child keeps for itself saw its validation
    leaky = from_parent_config("silu", 15, 0.05, 7, parent="resnet20_relu_45k", n_train=40_000,
                               parent_n_train=45_000)
    assert "were seen by the parent" in leaky.extra["recipe"]


def test_paired_gap_counts_discordant_images_and_matches_closed_forms():
    from helpers.ann.metrics import paired_gap

    y = np.zeros(10, int)
    new = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    r = paired_gap(y, np.zeros(10, int), new, seed=1)
    assert (r["ref_only"], r["new_only"], r["n"]) == (3, 0, 10)
    assert r["gap_pp"] == pytest.approx(30.0)
    assert r["mcnemar_p"] == pytest.approx(2 * 0.5 ** 3)   # all 3 discordant one way
    assert 0.0 <= r["ci_low_pp"] < 30.0 < r["ci_high_pp"] <= 100.0   # no image favours new
    # 5 images only ref gets right, 1 only new: exact two-sided p = 2 (1 + 6) / 2^6
    ref = np.array([0] * 5 + [1] + [0] * 4)
    new = np.array([1] * 5 + [0] + [0] * 4)
    assert paired_gap(y, ref, new)["mcnemar_p"] == pytest.approx(2 * 7 / 64)
    # a large sample: the bootstrap interval is the normal one, gap ± 1.96 SE with the
    # per-image variance p_b + p_c - (p_b - p_c)^2 of the paired difference
    n, b, c = 10_000, 400, 224
    y = np.zeros(n, int)
    ref = np.r_[np.zeros(b, int), np.ones(c, int), np.zeros(n - b - c, int)]
    new = np.r_[np.ones(b, int), np.zeros(c, int), np.zeros(n - b - c, int)]
    r = paired_gap(y, ref, new, seed=3)
    pb, pc = b / n, c / n
    se = 100 * np.sqrt((pb + pc - (pb - pc) ** 2) / n)
    assert r["gap_pp"] == pytest.approx(1.76)
    assert r["ci_low_pp"] == pytest.approx(1.76 - 1.959964 * se, abs=0.03)
    assert r["ci_high_pp"] == pytest.approx(1.76 + 1.959964 * se, abs=0.03)
    assert r == paired_gap(y, ref, new, seed=3)                      # seeded
    with pytest.raises(ValueError, match="one label and two predictions per image"):
        paired_gap(y, ref[:-1], new)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        paired_gap(y, ref, new, confidence=1.0)
