"""The CIFAR-10 study's bias-corrected twins (helpers.studies.cifar10.bias_twins and
score_on_test): which validation rows get a corrected twin, on which images the correction
is measured, and the test rows of a corrected headline code -- against the corrected networks
built directly with helpers.snn.bias.bias_corrected on the first calibration images."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from helpers.ann.resnet import resnet_cifar, save_card, save_model
from helpers.data import Splits
from helpers.fs import codes
from helpers.fs.neuron import FSCode
from helpers.selection import UNCORRECTED_TWIN
from helpers.snn.bias import bias_corrected
from helpers.studies.cifar10 import bias_twins, conversion_study, score_on_test

NOTE = " (bias-corrected)"


def _designed(name: str, scale: float) -> FSCode:
    """A binary-like K = 4 code that the selection counts as designed (not a reference)."""
    b = codes.binary(4, scale)
    return FSCode(name, "relu", b.h, b.T, b.d, b.x_range, {"family": "distribution_aware"})


def _tiny_study(tmp):
    """A tiny ReLU ResNet-8 with random BN statistics, random images and three codes at K = 4
    (the binary reference and two designed ones) under ``tmp``: (models dir, codes dir,
    splits)."""
    tf.keras.utils.set_random_seed(3)
    model = resnet_cifar(8, width=4, name="tiny")
    rng = np.random.default_rng(3)
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([g, rng.normal(0, 0.5, b.shape), rng.normal(0, 0.3, m.shape), v])
    save_model(model, tmp / "tiny.keras")
    save_card({"name": "tiny", "activation": "relu", "test_accuracy": 0.1, "epochs": 1,
               "params": 1, "train_seconds": 0, "seed": 0,
               "preprocessing": {"mean": [120.0] * 3, "std": [60.0] * 3}}, tmp)
    (tmp / "codes").mkdir()
    _designed("relu_a_K4", 1.0).save(tmp / "codes")
    _designed("relu_b_K4", 0.8).save(tmp / "codes")
    img = lambda n: rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)   # noqa: E731
    lab = lambda n: rng.integers(0, 10, n)                                # noqa: E731
    return tmp, tmp / "codes", Splits(img(20), lab(20), img(24), lab(24), img(16), lab(16), tmp)


def _val_rows(models_dir, codes_dir, data, **kw):
    return conversion_study({"relu": "tiny"}, models_dir, codes_dir, data, binary_K_list=(4,),
                            input_modes=("analog",), progress=False, **kw)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The tiny network converted with its three codes and measured on validation images."""
    val, _, nets, loaded = _val_rows(*_tiny_study(tmp_path_factory.mktemp("models")))
    assert [r["code"] for r in val] == ["binary_K4", "relu_a_K4", "relu_b_K4"]
    return loaded, nets, val


def test_twins_are_the_chosen_designed_codes_corrected_on_the_first_calibration_images(study):
    loaded, nets, val = study
    twins = bias_twins(val, nets, loaded, bias_images=8, estimator="mean",
                       progress=False)
    best = min(val[1:], key=lambda r: (r["accuracy_gap_pp"], r["mean_spikes_per_neuron"]))
    assert [t["code"] for t in twins] == [best["code"] + NOTE]    # best at K = 4 = headline
    t = twins[0]
    assert (t["bias_images"], t["bias_estimator"], t["split"]) == (8, "mean", "val")
    direct = bias_corrected(nets[("tiny", best["code"], "analog")],
                            loaded.images("tiny", "calib")[0][:8], "mean")
    x, y, _ = loaded.images("tiny", "val")
    logits = direct.run(x)["logits"]
    assert t["snn_accuracy"] == pytest.approx(np.mean(logits.argmax(1) == y))
    assert t["mean_spikes_per_neuron"] == pytest.approx(
        direct.evaluate(x, y)["mean_spikes_per_neuron"])
    # the correction did something: other logits than the uncorrected network's
    plain = nets[("tiny", best["code"], "analog")].run(x)["logits"]
    assert np.abs(logits - plain).max() > 1e-3
    # other calibration images give another correction: the first 8 were used
    other = bias_corrected(nets[("tiny", best["code"], "analog")],
                           loaded.images("tiny", "calib")[0][8:16], "mean").run(x)["logits"]
    assert np.abs(other - logits).max() > 1e-4


def test_a_corrected_headline_is_scored_with_its_uncorrected_twin(study):
    loaded, nets, val = study
    twins = bias_twins(val, nets, loaded, bias_images=8, estimator="median", progress=False)
    twins = [{**t, "accuracy_gap_pp": -50.0} for t in twins]       # the twin wins the choice
    test = score_on_test(val + twins, nets, loaded, n_verify=4, progress=False)
    head = [r for r in test if r["chosen_on"].endswith("(best_code)")]
    assert [r["code"] for r in head] == [twins[0]["code"]]
    assert (head[0]["bias_images"], head[0]["bias_estimator"]) == (8, "median")
    assert head[0]["event_level_n"] == 4 and head[0]["event_level_agreement"] == 1.0
    base = twins[0]["code"].removesuffix(NOTE)
    comparison = [r for r in test if r["chosen_on"] == UNCORRECTED_TWIN]
    assert [r["code"] for r in comparison] == [base] and "event_level_n" not in comparison[0]
    x, y, _ = loaded.images("tiny", "test")
    direct = bias_corrected(nets[("tiny", base, "analog")],
                            loaded.images("tiny", "calib")[0][:8], "median")
    assert head[0]["snn_accuracy"] == pytest.approx(np.mean(direct.run(x)["logits"].argmax(1) == y))
    plain = nets[("tiny", base, "analog")].run(x)["logits"]
    assert comparison[0]["snn_accuracy"] == pytest.approx(np.mean(plain.argmax(1) == y))
    assert {r["code"] for r in test} == {"binary_K4", base, base + NOTE}
    # each test row's gap as a paired comparison, counted from the ANN's own predictions
    ann = np.asarray(loaded.get("tiny")[0](x, training=False)).argmax(1)
    snn = direct.run(x)["logits"].argmax(1)
    r = head[0]
    assert (r["ann_only"], r["snn_only"]) == (np.sum((ann == y) & (snn != y)),
                                              np.sum((ann != y) & (snn == y)))
    assert r["accuracy_gap_pp"] == pytest.approx(100 * (r["ann_only"] - r["snn_only"]) / len(y))
    assert r["gap_ci_low_pp"] <= r["accuracy_gap_pp"] <= r["gap_ci_high_pp"]
    assert r["ann_disagreement"] == pytest.approx(np.mean(ann != snn))


def test_a_gap_interval_needs_the_predictions_of_the_rows_ann():
    from helpers.studies.rows import gap_interval

    y = np.array([0, 1, 2, 3])
    g = gap_interval(y, np.array([0, 1, 2, 0]), np.array([0, 1, 0, 3]), 0.75)
    assert (g["ann_only"], g["snn_only"], g["mcnemar_p"]) == (1, 1, 1.0)
    with pytest.raises(ValueError, match="not the row's ann_accuracy 0.500000"):
        gap_interval(y, np.array([0, 1, 2, 0]), y, 0.5)


def test_bias_images_beyond_the_calibration_images_are_refused(study):
    loaded, nets, val = study
    with pytest.raises(ValueError, match="bias_images=21 must be 1..20"):
        bias_twins(val, nets, loaded, bias_images=21, progress=False)


def test_a_cached_study_resumes_without_converting_and_measures_again_what_changed(tmp_path):
    models_dir, codes_dir, data = _tiny_study(tmp_path)
    cache = tmp_path / "rows"
    val, _, nets, loaded = _val_rows(models_dir, codes_dir, data, cache_dir=cache)
    twins = bias_twins(val, nets, loaded, bias_images=8, cache_dir=cache, progress=False)
    test = score_on_test(val + twins, nets, loaded, n_verify=4, cache_dir=cache, progress=False)
    assert nets.converted == 4 and len(list(cache.iterdir())) == 4 + len(test)
    # a second run (an interrupted one resumed) reads every row and converts nothing
    val2, _, nets2, loaded2 = _val_rows(models_dir, codes_dir, data, cache_dir=cache)
    twins2 = bias_twins(val2, nets2, loaded2, bias_images=8, cache_dir=cache, progress=False)
    test2 = score_on_test(val2 + twins2, nets2, loaded2, n_verify=4, cache_dir=cache,
                          progress=False)
    assert (val2, twins2, test2) == (val, twins, test) and nets2.converted == 0
    # another bias estimator is another network: its rows are measured
    other = bias_twins(val2, nets2, loaded2, bias_images=8, estimator="mean", cache_dir=cache,
                       progress=False)
    assert nets2.converted == 2 and other[0]["snn_accuracy"] is not None
    # a changed code file: only its row is measured again, and differs
    b = _designed("relu_b_K4", 0.8)             # (a scaled code converts the same: α_l)
    FSCode(b.name, "relu", b.h, b.T * [1, 1.5, 1, 1], b.d, b.x_range, b.meta).save(codes_dir)
    val3, _, nets3, _ = _val_rows(models_dir, codes_dir, data, cache_dir=cache)
    assert nets3.converted == 1 and val3[:2] == val[:2]
    assert val3[2]["mean_spikes_per_neuron"] != val[2]["mean_spikes_per_neuron"]
    # reuse=False measures everything
    assert _val_rows(models_dir, codes_dir, data, cache_dir=cache, reuse=False)[2].converted == 3
