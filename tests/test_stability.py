"""Class stability under input noise far below the data's resolution (helpers.snn.stability)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from helpers.fs import codes
from helpers.snn.convert import convert
from helpers.snn.stability import noise_draws

L = tf.keras.layers


def _threshold_net():
    """x -> Dense 1->1 (identity) -> ReLU -> Dense 1->2: logits [relu(x), 3.5], class 0 iff
    the hidden value exceeds 3.5."""
    inp = tf.keras.Input((1,))
    h = L.Activation("relu", name="act")(L.Dense(1, name="d1")(inp))
    m = tf.keras.Model(inp, L.Dense(2, name="d2")(h))
    m.get_layer("d1").set_weights([np.ones((1, 1)), np.zeros(1)])
    m.get_layer("d2").set_weights([np.array([[1.0, 0.0]]), np.array([0.0, 3.5])])
    return m


def test_noise_draws_flip_exactly_the_images_at_a_threshold():
    """Binary K = 3 at α = 8 (thresholds 4, 2, 1): an input at 4 - ε spends two spikes and
    reads 3 (class 1), at 4 + ε one spike and reads 4 (class 0); inputs at 6.5 (reads 6) and
    1.5 (reads 1) are far from every threshold. So, draw by draw, the SNN's class changes
    from the clean run exactly where the noisy copy of 4 fell below 4 (re-drawn here with the
    same seed), and the ANN's never does."""
    x = np.repeat(np.array([[4.0], [6.5], [1.5]], np.float32), 50, axis=0)
    y = np.repeat([0, 0, 1], 50)
    net = convert(_threshold_net(), codes.binary(3, 8.0), np.array([[8.0]], np.float32),
                  scale="max")
    sigma, seed, n = 1e-3, 7, 4
    out = noise_draws(net, x, y, sigma=sigma, n_draws=n, seed=seed, batch_size=32)

    at4 = np.arange(len(x)) < 50
    assert out["clean"]["snn_top1"] == 1.0 and out["clean"]["ann_top1"] == 1.0
    rng, ever = np.random.default_rng(seed), np.zeros(len(x), dtype=bool)
    for d in out["draws"]:
        xn = (x + sigma * rng.standard_normal(x.shape)).astype(np.float32)[:, 0]
        below = at4 & (xn < 4.0)
        ever |= below
        assert d["snn_changed"] == pytest.approx(below.mean())
        assert d["ann_changed"] == 0.0
        assert d["snn_top1"] == pytest.approx(1 - below.mean())
        assert d["accuracy_gap_pp"] == pytest.approx(100 * below.mean())
        assert d["ann_disagreement"] == pytest.approx(below.mean())
        spikes = np.where(at4, np.where(below, 2, 1), np.where(np.arange(len(x)) < 100, 2, 1))
        assert d["mean_spikes_per_neuron"] == pytest.approx(spikes.mean())
    assert 0 < ever.mean() < at4.mean()          # some, not all, copies of 4 ever flipped
    assert out["summary"]["images_ever_changed"] == pytest.approx(ever.mean())
    gaps = [d["accuracy_gap_pp"] for d in out["draws"]]
    assert out["summary"]["gap_mean_pp"] == pytest.approx(np.mean(gaps))
    assert out["summary"]["gap_sd_pp"] == pytest.approx(np.std(gaps, ddof=1))
    # the clean run: both networks right on every image, so no image is discordant
    assert out["clean_gap"]["gap_pp"] == 0.0 and out["clean_gap"]["n"] == len(x)
    assert (out["clean_gap"]["ref_only"], out["clean_gap"]["new_only"]) == (0, 0)
    assert out["clean_gap"]["ci_low_pp"] == out["clean_gap"]["ci_high_pp"] == 0.0


@pytest.mark.parametrize("kw,match", [({"sigma": 0.0}, "sigma"), ({"sigma": float("nan")}, "sigma"),
                                      ({"n_draws": 1}, "at least 2 draws")])
def test_noise_draws_refuse_meaningless_settings(kw, match):
    net = convert(_threshold_net(), codes.binary(3, 8.0), np.array([[8.0]], np.float32),
                  scale="max")
    x, y = np.array([[4.0]], np.float32), np.array([0])
    with pytest.raises(ValueError, match=match):
        noise_draws(net, x, y, **{"sigma": 1e-3, "n_draws": 2, "seed": 0, **kw})
