"""Code-design utilities and pre-activation sampling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from helpers.ann.preactivations import activation_layers, collect_preactivations
from helpers.fs import codes, measure
from helpers.fs import design as code_design
from helpers.fs.neuron import fs_numpy
from helpers.selection import fewest_spikes_at_error, pareto_front


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"mean_spikes": rng.uniform(0, 3, 200), "mse": rng.uniform(0, 1, 200)})
    front = pareto_front(df)
    brute = [i for i, r in df.iterrows()
             if not ((df.mean_spikes <= r.mean_spikes) & (df.mse < r.mse)).any()
             and not ((df.mean_spikes < r.mean_spikes) & (df.mse <= r.mse)).any()]
    assert sorted(front.index) == sorted(brute)


def test_fewest_spikes_at_error_picks_cheapest_per_family():
    net = pd.DataFrame({"family": ["a", "a", "b", "b"], "code": ["a1", "a2", "b1", "b2"],
                        "mse": [1.0, 0.5, 0.4, 2.0], "mean_spikes": [1.0, 2.0, 3.0, 0.1]})
    out = fewest_spikes_at_error(net, 1.0)
    assert out.code.tolist() == ["a1", "b1"]
    assert fewest_spikes_at_error(net, 0.1).empty


def test_layer_scale_and_network_weighting():
    rng = np.random.default_rng(1)
    layers = {"a": rng.normal(0, 1, 5000), "b": rng.normal(0, 3, 5000)}
    scales = {k: code_design.layer_scale(v, 99.0) for k, v in layers.items()}
    assert scales["b"] == pytest.approx(np.percentile(layers["b"][layers["b"] > 0], 99.0))
    c = codes.binary(4, 1.0)
    rows = code_design.evaluate_per_layer([c], layers, scales, sizes={"a": 1, "b": 3},
                                          progress=False)
    per = rows.set_index("layer")
    expected = 0.25 * per.loc["a", "mse"] + 0.75 * per.loc["b", "mse"]
    assert per.loc["network", "mse"] == pytest.approx(expected)
    assert per.loc["a", "mse"] == pytest.approx(measure.evaluate(c, layers["a"] / scales["a"])["mse"])


def test_collect_preactivations_equals_manual_forward_pass():
    inp = tf.keras.Input((4, 4, 2))
    y = tf.keras.layers.Conv2D(3, 3, padding="same", name="c1")(inp)
    y = tf.keras.layers.Activation("relu", name="a1")(y)
    y = tf.keras.layers.Conv2D(2, 1, name="c2")(y)
    y = tf.keras.layers.ReLU(name="a2")(y)
    m = tf.keras.Model(inp, y)
    x = np.random.default_rng(0).normal(size=(5, 4, 4, 2)).astype(np.float32)
    assert [layer.name for layer in activation_layers(m)] == ["a1", "a2"]
    got = collect_preactivations(m, x, max_per_layer=10_000, batch_size=2)
    c1 = m.get_layer("c1")(x).numpy()
    c2 = m.get_layer("c2")(np.maximum(c1, 0)).numpy()
    np.testing.assert_allclose(np.sort(got["a1"]), np.sort(c1.ravel()), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.sort(got["a2"]), np.sort(c2.ravel()), rtol=1e-5, atol=1e-6)
    sub = collect_preactivations(m, x, max_per_layer=30, batch_size=2)
    assert len(sub["a1"]) == 30 and set(sub["a1"]).issubset(set(c1.ravel()))
    with pytest.raises(ValueError, match="no Activation"):
        collect_preactivations(tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)]), x)


def _network_numbers(code, layers, scales, sizes):
    """Neuron-weighted MSE and mean spikes of ``code`` over the layers, from the FS neuron
    itself (inputs divided by each layer's scale, target ReLU)."""
    w = {k: sizes[k] / sum(sizes.values()) for k in layers}
    mse = spikes = 0.0
    for k, s in layers.items():
        x = np.asarray(s, np.float64) / scales[k]
        out, n = fs_numpy(x, code)
        mse += w[k] * np.mean((out.astype(np.float64) - np.maximum(x, 0)) ** 2)
        spikes += w[k] * np.mean(n)
    return mse, spikes


def test_design_relu_rows_match_the_saved_codes_and_a_closed_form_reference():
    rng = np.random.default_rng(3)
    calib = {"l1": rng.normal(-0.3, 1.0, 6000), "l2": rng.normal(-1.0, 2.0, 6000)}
    test = {"l1": rng.normal(-0.3, 1.0, 6000), "l2": rng.normal(-1.0, 2.0, 6000)}
    sizes = {"l1": 100, "l2": 300}
    res, chosen = code_design.design_relu(calib, test, sizes, [4, 6], 6, extra_K=1,
                                          lambdas=(0.0,))
    scales = {k: np.percentile(v[v > 0], 99.9) for k, v in calib.items()}
    assert res["scales"] == pytest.approx(scales)
    # the reference binary K=6, α=1, in closed form: clipped floor to multiples of 2^-6,
    # spikes = popcount of the level
    ref_mse = ref_spikes = 0.0
    for k, s in test.items():
        x = s / scales[k]
        level = np.clip(np.floor(np.maximum(x.astype(np.float32), 0) * 64), 0, 63).astype(int)
        w = sizes[k] / 400
        ref_mse += w * np.mean((level / 64 - np.maximum(x, 0)) ** 2)
        ref_spikes += w * np.mean([bin(v).count("1") for v in level])
    assert res["reference"]["code"] == "binary_p_K6"
    assert res["reference"]["mse"] == pytest.approx(ref_mse, rel=1e-9)
    assert res["reference"]["mean_spikes"] == pytest.approx(ref_spikes, rel=1e-12)
    # every chosen code, as saved for the converter, reproduces its row's numbers; the
    # overall designed winner is among them and is as accurate as the reference, with fewer
    # spikes
    assert chosen and all(c.name.startswith("relu_") and c.meta["input_scale"] == 1.0
                          for c in chosen)
    net = pd.DataFrame(res["rows"]).query("layer == 'network'").set_index("code")
    for c in chosen:
        mse, spikes = _network_numbers(c, test, scales, sizes)
        row = net.loc[c.name[len("relu_"):]]
        assert (row.mse, row.mean_spikes) == (pytest.approx(mse, rel=1e-9),
                                              pytest.approx(spikes, rel=1e-12))
    winners = pd.DataFrame(res["winners"])
    best = winners[~winners.family.isin(["binary", "binary_max"])].iloc[0]
    by_name = {c.name: c for c in chosen}
    mse, spikes = _network_numbers(by_name[f"relu_{best.code}"], test, scales, sizes)
    assert mse <= ref_mse * (1 + 1e-9) and spikes < ref_spikes
    assert best.spike_saving_pct == pytest.approx(100 * (1 - spikes / ref_spikes), rel=1e-9)
    # rounding (midpoint) halves the floor code's error on smooth densities: ~1/4 of the MSE
    assert net.loc["rounded_K6", "mse"] < 0.5 * net.loc["binary_p_K6", "mse"]


def test_smooth_candidates_cover_every_K_and_price_and_price_buys_spikes():
    """Density fits and offset pairs per (K, λ); a spike price lowers the spikes spent on
    the same inputs; the offset pair spends fewer spikes than the plain fit at rest."""
    from helpers.fs.design import smooth_candidates
    from helpers.fs.measure import evaluate
    from helpers.fs.offset import OffsetCode

    x = np.random.default_rng(1).normal(0.0, 1.0, 6000)
    cands = smooth_candidates("sigmoid", x, [4], [0.0, 1e-2], restarts=1, steps=60, seed=0)
    names = [c.name for c in cands]
    assert names == ["sigmoid_density_K4", "offset_sigmoid_K4", "sigmoid_density_lam0.01_K4",
                     "offset_sigmoid_lam0.01_K4"]
    assert isinstance(cands[1], OffsetCode) and cands[2].meta["lam"] == 0.01
    m = {c.name: evaluate(c, x, target="sigmoid") for c in cands}
    assert m["offset_sigmoid_lam0.01_K4"]["mean_spikes"] < m["offset_sigmoid_K4"]["mean_spikes"]
    near = x[np.abs(x) < 0.05]          # inputs at rest: the pair stays silent
    assert evaluate(cands[1], near, target="sigmoid")["mean_spikes"] < \
        evaluate(cands[0], near, target="sigmoid")["mean_spikes"]


def test_design_smooth_measures_every_candidate_on_every_layer(tmp_path):
    """A small sigmoid ResNet's real pre-activations: every candidate (published, density fits
    and offset pairs) gets a row per layer and one for the network; no code spends more spikes
    than its spike bound allows to go below; a network not trained yet gives no pre-activations."""
    from helpers.ann.preactivations import model_preactivations
    from helpers.ann.resnet import resnet_cifar, save_card, save_model
    from helpers.fs.design import design_smooth

    tf.keras.utils.set_random_seed(0)
    m = resnet_cifar(8, "sigmoid", width=4, name="tiny_sigmoid")
    save_model(m, tmp_path / "tiny_sigmoid.keras")
    save_card({"name": "tiny_sigmoid", "activation": "sigmoid", "test_accuracy": 0.1,
               "epochs": 0, "params": m.count_params(), "train_seconds": 0.0, "seed": 0,
               "preprocessing": {"mean": [120.0] * 3, "std": [60.0] * 3}}, tmp_path)
    x = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    assert model_preactivations(tmp_path, "not_trained", x[:8], x[8:], 2000, 0) is None
    pre = model_preactivations(tmp_path, "tiny_sigmoid", x[:8], x[8:], 2000, 0)
    rows, saved = design_smooth("sigmoid", pre["calib"], pre["val"], pre["sizes"],
                                [codes.sm_published("sigmoid")], [3], [0.0],
                                restarts=1, steps=10, seed=0)
    assert [c.name for c in saved] == ["sigmoid_density_K3", "offset_sigmoid_K3"]
    rows = pd.DataFrame(rows)
    layers = {r for r in rows.layer if r != "network"}
    assert len(layers) == 7                        # stem + 3 blocks x 2 activations
    for code, g in rows.groupby("code"):
        assert set(g.layer) == layers | {"network"}, code
    assert set(rows.code) == {"sm_sigmoid_K12", "sigmoid_density_K3", "offset_sigmoid_K3"}
    assert (rows.spike_bound <= rows.mean_spikes + 1e-9).all() and set(rows.activation) == {"sigmoid"}
