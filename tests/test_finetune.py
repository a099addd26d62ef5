"""FS-aware fine-tuning (helpers.snn.finetune, helpers.studies.finetune): the exact FS forward
pass, the two surrogate gradients against hand-computed values, and the round trip trained
network -> plain Keras model + per-layer codes -> converter."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from helpers.fs import codes
from helpers.fs.neuron import FSCode, fs_numpy
from helpers.selection import best_finetuned, designed_code_per_K, smooth_start_codes
from helpers.snn.convert import convert
from helpers.snn.finetune import FSTrainable, finetuned_export, fs_trainer
from helpers.report.style import model_label

L = tf.keras.layers


def _one_step_code() -> FSCode:
    """K = 1, h = T = d = 1: out = Θ(x - 1)."""
    return FSCode("step", "relu", np.array([1.0]), np.array([1.0]), np.array([1.0]))


def _grad(layer: FSTrainable, x: np.ndarray) -> np.ndarray:
    xt = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        total = tf.reduce_sum(layer(xt)[0])
    return tape.gradient(total, xt).numpy()


def test_forward_is_the_exact_fs_neuron_of_the_scaled_code():
    code = codes.binary(4, 1.0).scaled(2.5)          # a layer with α = 2.5
    layer = FSTrainable(code, 2.5)
    x = np.linspace(-1, 4, 201, dtype=np.float32)[None, :]
    out, spikes, _ = (t.numpy() for t in layer(tf.constant(x)))
    ref_out, ref_spikes = fs_numpy(x, code)
    np.testing.assert_allclose(out, ref_out, atol=1e-5)
    assert spikes[0] == ref_spikes.sum()
    assert layer.trained_code().meta["layer_scale_value"] == pytest.approx(2.5)
    np.testing.assert_allclose(layer.trained_code().T, code.T, rtol=1e-6)


def test_sm_surrogate_is_the_pseudo_derivative_through_the_scaled_distance():
    layer = FSTrainable(_one_step_code(), 1.0, surrogate="sm")
    # x = 0.5: vs = (x - T) / (|x| + 1) = -1/3, pseudo-derivative 2/3,
    # d vs / dx = ((|x| + 1) - (x - T)) / (|x| + 1)^2 = 2 / 2.25  ->  0.5926
    # x = 3: vs = 0.5, pseudo-derivative 0.5, d vs / dx = (4 - 2) / 16  ->  0.0625
    # x = -4: vs = -1, pseudo-derivative 0
    g = _grad(layer, np.array([0.5, 3.0, -4.0], np.float32))
    np.testing.assert_allclose(g, [2 / 3 * 2 / 2.25, 0.5 * 2 / 16, 0.0], rtol=1e-5)


def test_ste_passes_the_clipped_relu_gradient():
    code = codes.binary(3, 1.0).scaled(2.0)          # α = 2, top = 2 * sum(d) = 1.75
    layer = FSTrainable(code, 2.0, surrogate="ste")
    g = _grad(layer, np.array([-0.5, 0.3, 1.7, 1.8, 5.0], np.float32))
    np.testing.assert_allclose(g, [0.0, 1.0, 1.0, 0.0, 0.0])


def test_silu_layer_keeps_its_units_and_its_ste_is_the_silu_derivative():
    code = codes.sm_published("silu")
    layer = FSTrainable(code, 1.0, surrogate="ste")
    assert not layer.log_scale.trainable                       # SiLU codes are not rescaled
    x = np.array([-3.0, -0.5, 0.0, 0.7, 2.5], np.float32)
    np.testing.assert_allclose(layer(tf.constant(x))[0].numpy(), fs_numpy(x, code)[0],
                               atol=1e-5)
    sig = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(_grad(layer, x), sig * (1 + x * (1 - sig)), rtol=1e-5)


def test_trainable_codes_get_gradients_only_when_asked():
    code = codes.binary(3, 1.0).scaled(2.0)
    x = tf.constant(np.linspace(0.1, 1.9, 16, dtype=np.float32))
    for train_code in (False, True):
        layer = FSTrainable(code, 2.0, surrogate="sm", train_code=train_code)
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(layer(x)[0])
        names = [v.name.split(":")[0] for v in layer.trainable_variables]
        grads = tape.gradient(total, layer.trainable_variables)
        assert names == (["log_scale", "h", "T", "d"] if train_code else ["log_scale"])
        assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    # d gets the spike count of each step as its gradient: out = sum_t d_t z_t (α-units)
    # (times α = 2 for the output scale)
    unit = code.scaled(0.5)
    spikes_per_step = np.sum([fs_spike_step(v, unit) for v in x.numpy() / 2.0], axis=0)
    np.testing.assert_allclose(grads[3].numpy(), 2.0 * spikes_per_step, rtol=1e-6)


def fs_spike_step(x: float, code: FSCode) -> np.ndarray:
    """Spikes z(t) of one neuron, by hand (the module docstring's recursion)."""
    v, z = x, []
    for h, T in zip(code.h, code.T):
        z.append(float(v >= T))
        v -= h * z[-1]
    return np.array(z)


def test_bad_surrogate_and_scale_are_refused():
    with pytest.raises(ValueError, match="surrogate"):
        FSTrainable(_one_step_code(), 1.0, surrogate="magic")
    with pytest.raises(ValueError, match="positive and finite"):
        FSTrainable(_one_step_code(), float("nan"))


def _net(seed: int = 0) -> tf.keras.Model:
    """Conv+BN -> ReLU -> Conv+BN + skip -> ReLU -> GAP -> Dense, random BN statistics."""
    tf.keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inp = tf.keras.Input((6, 6, 3), name="image")
    a = L.Activation("relu", name="r0")(L.BatchNormalization()(L.Conv2D(4, 3, padding="same",
                                                                          name="c0")(inp)))
    b = L.BatchNormalization()(L.Conv2D(4, 3, padding="same", name="c1")(a))
    c = L.Activation("relu", name="r1")(L.Add(name="add")([a, b]))
    m = tf.keras.Model(inp, L.Dense(3, name="out")(L.GlobalAveragePooling2D(name="gap")(c)))
    for layer in m.layers:
        if isinstance(layer, L.BatchNormalization):
            shape = layer.get_weights()[0].shape
            layer.set_weights([rng.uniform(0.5, 1.5, shape), rng.normal(0, 0.2, shape),
                               rng.normal(0, 0.2, shape), rng.uniform(0.3, 2.0, shape)])
    return m


def test_one_training_step_then_export_converts_to_the_trained_network():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 6, 6, 3)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    net = convert(_net(), codes.binary(4, 1.0), x)
    trainer = fs_trainer(net, surrogate="sm", lam=0.1)
    logits0 = trainer(x).numpy()
    np.testing.assert_allclose(logits0, net.run(x)["logits"], atol=1e-4)   # same start
    trainer.compile(tf.keras.optimizers.SGD(0.05),
                    tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trainer.fit(x, y, batch_size=32, epochs=2, verbose=0)
    scales = [float(np.exp(layer.log_scale.numpy())) for layer in trainer.fs_layers.values()]
    assert scales != [info.scale for info in net.layers]                    # the scales trained
    model, layer_codes = finetuned_export(trainer, net)
    assert not any(isinstance(layer, L.BatchNormalization) for layer in model.layers)
    again = convert(model, {"relu": next(iter(layer_codes.values()))}, x,
                    layer_codes=layer_codes)
    assert [i.scale for i in again.layers] == pytest.approx(scales)
    np.testing.assert_allclose(again.run(x)["logits"], trainer(x).numpy(), atol=1e-4)
    assert np.abs(trainer(x).numpy() - logits0).max() > 1e-3                # the weights moved


def test_convert_refuses_layer_codes_that_do_not_fit():
    x = np.random.default_rng(0).normal(size=(8, 6, 6, 3)).astype(np.float32)
    c = codes.binary(4, 1.0)
    with pytest.raises(ValueError, match=r"no code for \['r1'\].*unknown layers \['zz'\]"):
        convert(_net(), c, x, layer_codes={"r0": c, "zz": c})


def test_designed_code_per_K_takes_the_lowest_mse_then_fewest_spikes():
    rows = [{"layer": "network", "code": "binary_p_K4", "family": "binary", "K": 4,
             "mse": 1e-5, "mean_spikes": 0.1},
            {"layer": "network", "code": "rounded_K4", "family": "rounded", "K": 4,
             "mse": 2e-4, "mean_spikes": 0.7},
            {"layer": "network", "code": "distaware_lam0_K4", "family": "distribution_aware",
             "K": 4, "mse": 2e-4, "mean_spikes": 0.6},
            {"layer": "c0", "code": "fitted_K4", "family": "fitted", "K": 4, "mse": 1e-9,
             "mean_spikes": 0.1}]
    assert designed_code_per_K(rows, [4]) == {4: "relu_distaware_lam0_K4"}
    with pytest.raises(ValueError, match="K=2.*K_list"):
        designed_code_per_K(rows, [2])


def test_designed_code_per_K_of_a_smooth_network_within_a_spike_bound():
    """Smooth rows: one network's codes, S&M's published code never chosen, the spike bound
    keeps the accurate but spike-hungry pair out."""
    def row(code, family, mse, spikes, model="silu_net"):
        return {"layer": "network", "code": code, "family": family, "K": 6, "mse": mse,
                "mean_spikes": spikes, "model": model}
    rows = [row("sm_silu_K6", "sm_published", 1e-6, 0.5),
            row("offset_silu_K6", "offset", 0.004, 2.05),
            row("offset_silu_lam0.001_K6", "offset", 0.0045, 1.34),
            row("silu_density_K6", "fitted", 0.0127, 1.2),
            row("offset_silu_K6_other", "offset", 1e-9, 0.1, model="other_net")]
    pick = dict(model="silu_net", prefix="", max_spikes=1.5)
    assert designed_code_per_K(rows, [6], **pick) == {6: "offset_silu_lam0.001_K6"}
    assert designed_code_per_K(rows, [6], model="silu_net", prefix="") == {6: "offset_silu_K6"}
    with pytest.raises(ValueError, match="silu_net at K=6 within 0.05 spikes"):
        designed_code_per_K(rows, [6], model="silu_net", prefix="", max_spikes=0.05)
    # one start code per network, each network's own rows (a generator is read once)
    assert smooth_start_codes(iter(rows), ["silu_net", "other_net"], 6, 1.5) == {
        "silu_net": "offset_silu_lam0.001_K6", "other_net": "offset_silu_K6_other"}


def test_best_finetuned_prefers_accuracy_within_the_spike_budget():
    runs = [{"lam": 0.05, "val_accuracy": 0.95, "val_spikes_per_neuron": 0.6},
            {"lam": 0.2, "val_accuracy": 0.93, "val_spikes_per_neuron": 0.45},
            {"lam": 0.5, "val_accuracy": 0.90, "val_spikes_per_neuron": 0.30}]
    assert best_finetuned(runs, 0.5)["lam"] == 0.2
    assert best_finetuned(runs, None)["lam"] == 0.05
    assert best_finetuned(runs, 0.1)["lam"] == 0.5          # none that sparse: the sparsest
    assert best_finetuned([], 0.5) is None


def test_fine_tuned_networks_get_display_names():
    assert model_label("resnet20_relu_ft_K4_relu_distaware_lam0_K4_lam0.2_sm") == (
        "ResNet-20, ReLU, fine-tuned with distribution-aware, K = 4 "
        "(λ = 0.2, S&M pseudo-derivative)")
    assert model_label("resnet20_relu_ft_K2_binary_K2_lam0.5_ste") == (
        "ResNet-20, ReLU, fine-tuned with binary, K = 2 (λ = 0.5, straight-through)")
    assert model_label("resnet20_relu_ft_K4_binary_K4_lam1_sm_e4") == (
        "ResNet-20, ReLU, fine-tuned with binary, K = 4 (λ = 1, S&M pseudo-derivative, "
        "4 epochs)")
    from helpers.report.style import trained_codes

    coded = "resnet20_sigmoid_from_relu_ft_K4_offset_sigmoid_lam0.001_K4_lam1_sm_codes_e6_s0.6_kd0.9"
    assert trained_codes(coded) and ", trained codes, 6 epochs" in model_label(coded)
    assert model_label(coded, brief=True) == (            # for tables: λ and trained codes
        "ResNet-20, sigmoid (from ReLU weights), fine-tuned with offset-folded pair, K = 4 "
        "(λ = 1, trained codes)")
    assert not trained_codes(coded.replace("_codes", "")) and not trained_codes("resnet20_relu")


def test_runs_of_more_than_one_epoch_get_their_own_name(tmp_path):
    from helpers.studies.finetune import finetune_config

    codes.binary(3, 1.0).renamed("binary3").save(tmp_path)
    kw = dict(lam=1.0, surrogate="sm", max_lr=0.01, seed=1)
    one, four = (finetune_config("parent", "binary3", tmp_path, epochs=e, **kw) for e in (1, 4))
    assert one.name == "parent_ft_K3_binary3_lam1_sm"        # the committed runs' names
    assert four.name == "parent_ft_K3_binary3_lam1_sm_e4" and four.epochs == 4


@pytest.mark.slow
def test_a_stopped_fine_tuning_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    from helpers.ann.resnet import resnet_cifar, save_card, save_model
    from helpers.data import Cifar10
    from helpers.snn import finetune as ft_module
    from helpers.studies.finetune import finetune_config, finetune_or_load

    rng = np.random.default_rng(0)
    data = Cifar10(rng.integers(0, 256, (48, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 48),
                   rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 16),
                   tmp_path)
    tf.keras.utils.set_random_seed(0)
    save_model(resnet_cifar(8, width=4, name="parent"), tmp_path / "parent.keras")
    save_card({"name": "parent", "activation": "relu", "test_accuracy": 0.1, "epochs": 1,
               "params": 1, "train_seconds": 0, "seed": 0,
               "preprocessing": {"mean": [120.0] * 3, "std": [60.0] * 3}}, tmp_path)
    codes.binary(3, 1.0).renamed("binary3").save(tmp_path / "codes")
    cfg = finetune_config("parent", "binary3", tmp_path / "codes", lam=0.1, surrogate="ste",
                          epochs=2, max_lr=0.01, seed=1, n_calib=16, n_train=32, batch_size=16)
    kw = dict(reuse=False, progress=False)
    full = finetune_or_load(cfg, data, tmp_path, tmp_path / "codes", checkpoints=tmp_path / "a",
                            **kw)
    assert full["finetuned"] and full["parent"] == "parent" and full["K"] == 3
    assert (full["n_train"], full["n_val"]) == (32, 16) and full["init_from"]["name"] == "parent"
    calls = {"n": 0}
    fit = ft_module.FSTrainer.fit

    def stop_in_epoch_2(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("stopped")
        return fit(self, *a, **k)

    monkeypatch.setattr(ft_module.FSTrainer, "fit", stop_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        finetune_or_load(cfg, data, tmp_path, tmp_path / "codes", checkpoints=tmp_path / "b", **kw)
    monkeypatch.setattr(ft_module.FSTrainer, "fit", fit)
    resumed = finetune_or_load(cfg, data, tmp_path, tmp_path / "codes",
                               checkpoints=tmp_path / "b", **kw)
    assert resumed["history"] == full["history"]
    assert resumed["layer_codes"] == full["layer_codes"]
    assert finetune_or_load(cfg, data, tmp_path, tmp_path / "codes", reuse=True) == resumed
    save_model(resnet_cifar(8, width=4, name="parent"), tmp_path / "parent.keras")   # new parent
    calls["n"] = 0
    monkeypatch.setattr(ft_module.FSTrainer, "fit", stop_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):       # not re-used: it trains again
        finetune_or_load(cfg, data, tmp_path, tmp_path / "codes", reuse=True, progress=False,
                         checkpoints=tmp_path / "c")


def test_offset_pair_layer_is_the_exact_pair_trains_both_halves_and_exports_a_pair():
    from helpers.fs.offset import offset_numpy
    from helpers.paths import REPO_ROOT

    code = FSCode.load(REPO_ROOT / "data" / "codes" / "offset_sigmoid_K6.json")
    layer = FSTrainable(code, 1.0, surrogate="sm", train_code=True)
    x = np.linspace(-6, 6, 241, dtype=np.float32)
    out, spikes, _ = (t.numpy() for t in layer(tf.constant(x[None, :])))
    ref_out, ref_spikes = offset_numpy(x, code)
    np.testing.assert_allclose(out[0], ref_out, atol=1e-6)
    assert spikes[0] == ref_spikes.sum() and ref_spikes[x < -1].sum() > 0   # both halves fire
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(layer(tf.constant(x))[0])
    grads = dict(zip([v.name.split(":")[0] for v in layer.trainable_variables],
                     tape.gradient(total, layer.trainable_variables)))
    assert sorted(grads) == ["T", "TN", "d", "dN", "h", "hN"]
    # the output is o + sum_t d(t) z+(t) - sum_t dN(t) z-(t): dN's gradient is minus the
    # negative half's spikes per step
    z_neg = np.sum([fs_spike_step(v, code.negative) for v in -x], axis=0)
    np.testing.assert_allclose(grads["dN"].numpy(), -z_neg)
    layer.dN.assign(layer.dN * 0.5)                       # a trained negative half ...
    trained = layer.trained_code()                        # ... is what the export carries
    assert type(trained).__name__ == "OffsetCode" and trained.offset == code.offset
    np.testing.assert_allclose(trained.negative.d, 0.5 * code.negative.d, rtol=1e-6)
    np.testing.assert_allclose(trained.T, code.T, rtol=1e-6)


def test_sigmoid_network_with_offset_pairs_starts_at_the_converted_network():
    tf.keras.utils.set_random_seed(3)
    inp = tf.keras.Input((6, 6, 3))
    a = L.Activation("sigmoid")(L.Conv2D(4, 3, padding="same")(inp))
    m = tf.keras.Model(inp, L.Dense(3)(L.GlobalAveragePooling2D()(L.Conv2D(4, 3)(a))))
    from helpers.paths import REPO_ROOT
    code = FSCode.load(REPO_ROOT / "data" / "codes" / "offset_sigmoid_K6.json")
    x = np.random.default_rng(2).normal(size=(16, 6, 6, 3)).astype(np.float32)
    net = convert(m, {"sigmoid": code}, x)
    trainer = fs_trainer(net, surrogate="sm", train_code=True)   # codes learn through "sm"
    np.testing.assert_allclose(trainer(x).numpy(), net.run(x)["logits"], atol=1e-5)
    trainer.compile(tf.keras.optimizers.SGD(0.5),
                    tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trainer.fit(x, np.arange(16) % 3, batch_size=16, epochs=2, verbose=0)
    model, layer_codes = finetuned_export(trainer, net)      # trained pairs convert again
    again = convert(model, {"sigmoid": code}, x, layer_codes=layer_codes)
    assert all(type(c).__name__ == "OffsetCode" for c in layer_codes.values())
    assert not np.allclose(next(iter(layer_codes.values())).negative.h, code.negative.h)
    np.testing.assert_allclose(again.run(x)["logits"], trainer(x).numpy(), atol=1e-5)



def test_networks_with_one_preprocessing_share_their_normalised_images(tmp_path):
    """The study's model cache holds each split's normalised images once per preprocessing
    (the fine-tuned networks share their parent's), each network with its own accuracy."""
    from helpers.ann.resnet import resnet_cifar, save_card, save_model
    from helpers.data import Splits, normalize
    from helpers.studies.cifar10 import _Models

    rng = np.random.default_rng(0)
    pp = {"mean": [120.0, 110.0, 100.0], "std": [60.0, 61.0, 62.0]}
    for i, name in enumerate(("a", "b", "c")):
        tf.keras.utils.set_random_seed(i)
        save_model(resnet_cifar(8, width=4, name=name), tmp_path / f"{name}.keras")
        save_card({"name": name, "activation": "relu", "test_accuracy": 0.1, "epochs": 1,
                   "params": 1, "train_seconds": 0, "seed": 0, "preprocessing":
                   pp if name != "c" else {"mean": [0.0] * 3, "std": [1.0] * 3}}, tmp_path)
    img = lambda n: rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)   # noqa: E731
    data = Splits(img(4), rng.integers(0, 10, 4), img(6), rng.integers(0, 10, 6), img(5),
                  rng.integers(0, 10, 5), tmp_path)
    models = _Models(tmp_path, data)
    xa, ya, _ = models.images("a", "val")
    xb, _, _ = models.images("b", "val")
    xc, _, _ = models.images("c", "val")
    assert xa is xb and xc is not xa                          # one copy per preprocessing
    np.testing.assert_array_equal(xa, normalize(data.x_val, pp["mean"], pp["std"]))
    np.testing.assert_array_equal(xc, data.x_val.astype(np.float32))
    np.testing.assert_array_equal(ya, data.y_val)


def test_notebooks_05_06_convert_the_final_the_longer_and_the_smooth_networks(tmp_path, capsys):
    from helpers.paths import project_dirs
    from helpers.results import write_json
    from helpers.studies.cifar10 import FINETUNE_FINAL, finetuned_models
    from helpers.studies.genn import genn_jobs_and_reads

    dirs = project_dirs(tmp_path)
    row = {"final": True, "K": 4, "val_accuracy": 0.9, "val_spikes_per_neuron": 0.6}
    write_json(dirs.results / "finetune.json", {"final": ["a", "b"], "max_spikes": None,
                                                "runs": [{**row, "model": "a"}]})
    write_json(dirs.results / "finetune_smooth.json", {"runs": [{"model": "s"}, {"model": "a"}]})
    files = {"finetune.json": "final", "finetune_long.json": "runs",
             "finetune_smooth.json": "runs"}
    assert finetuned_models(dirs, files=files) == ["a", "b", "s"]   # in file order, each once
    assert "finetune_long.json" in capsys.readouterr().out      # the missing file is named
    assert finetuned_models(dirs, files=FINETUNE_FINAL) == ["a", "b"]
    assert finetuned_models(dirs, use=False) == []
    # GeNN runs the K = 4 winner of finetune.json and reads only finetune.json's networks
    jobs, reads = genn_jobs_and_reads([], [4], True, {}, dirs)
    assert jobs == [{"model": "a", "code": "finetuned"}]
    assert sorted(p.name for p in reads) == ["a.json", "a.json", "a.keras", "a.keras",
                                             "b.json", "b.keras"]   # "s" is not read


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_spike_target_prices_only_the_excess_and_distillation_is_hinton_kd():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 6, 6, 3)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    net = convert(_net(), codes.binary(4, 1.0), x)
    teacher = _net(seed=5)
    trainer = fs_trainer(net, lam=2.0, spike_target=0.3, teacher=teacher, distill=0.25,
                         temperature=3.0)
    trainer.compile(tf.keras.optimizers.SGD(0.0),
                    tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # the spike term: λ · max(0, batch mean - target), by hand
    for rates, want in (([0.1, 0.3], 0.0), ([0.4, 0.6], 2.0 * 0.2)):
        assert float(trainer.spike_cost(tf.constant(rates))) == pytest.approx(want, abs=1e-6)
    # the task loss against a NumPy re-implementation of (1-β) CE + β τ² KL(p_t || p_s)
    logits = trainer(x).numpy()
    t = teacher(x).numpy()
    ce = -np.mean(np.log(_softmax(logits)[np.arange(16), y]))
    pt, ps = _softmax(t / 3.0), _softmax(logits / 3.0)
    kl = np.mean(np.sum(pt * np.log(pt / ps), axis=1))
    got = float(trainer.task_loss(tf.constant(x), tf.constant(y), tf.constant(logits)))
    assert got == pytest.approx(0.75 * ce + 0.25 * 9.0 * kl, rel=1e-4)
    # the teacher is frozen: a training step changes none of its weights
    before = [w.copy() for w in teacher.get_weights()]
    trainer.optimizer.learning_rate.assign(0.1)
    trainer.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, teacher.get_weights()))
    assert not any(v is w for v in trainer.trainable_variables for w in teacher.weights)


def test_spike_budget_options_are_checked_and_named(tmp_path):
    from helpers.studies.finetune import finetune_config

    net = convert(_net(), codes.binary(4, 1.0), np.ones((4, 6, 6, 3), np.float32))
    with pytest.raises(ValueError, match="teacher"):
        fs_trainer(net, distill=0.5)                       # a weight without a teacher
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        fs_trainer(net, teacher=_net(), distill=1.5)
    with pytest.raises(ValueError, match="spike_target"):
        fs_trainer(net, spike_target=0.0)
    codes.binary(3, 1.0).renamed("binary3").save(tmp_path)
    kw = dict(lam=2.0, surrogate="sm", max_lr=0.01, seed=1, epochs=4)
    plain = finetune_config("parent", "binary3", tmp_path, **kw)
    budget = finetune_config("parent", "binary3", tmp_path, spike_target=0.47, distill=0.5, **kw)
    assert budget.name == "parent_ft_K3_binary3_lam2_sm_e4_s0.47_kd0.5"
    assert {k: budget.extra["fs"][k] for k in ("spike_target", "distill", "temperature")} == {
        "spike_target": 0.47, "distill": 0.5, "temperature": 4.0}
    assert not {"spike_target", "distill"} & set(plain.extra["fs"])   # old runs' configs kept
    assert model_label(budget.name).endswith(
        "price above 0.47 spikes/neuron, distilled from the ANN (β = 0.5))")


def test_spike_budget_runs_repeat_the_validation_winner_within_the_budget_longer(monkeypatch):
    from helpers.studies import finetune as study

    # validation accuracy and spikes of each (λ, β) grid run: (1, 0.9) is the most accurate
    # but over the 0.5-spike budget, so (1, 0.5) is the one repeated
    val = {(1.0, 0.0): (0.85, 0.47), (1.0, 0.5): (0.89, 0.48), (1.0, 0.9): (0.91, 0.52),
           (2.0, 0.0): (0.80, 0.45), (2.0, 0.5): (0.84, 0.46), (2.0, 0.9): (0.86, 0.46)}
    calls, code_gain = [], {"acc": 0.0}       # accuracy trainable codes add to a run

    def fake_runs(jobs, data, models_dir, codes_dir, *, role, epochs, spike_target, distill,
                  **settings):
        calls.append((jobs, epochs, spike_target, distill, role, settings))
        coded = settings.get("train_code", False)
        return [{"lam": lam, "distill": distill, "epochs": epochs, "train_code": coded,
                 "val_accuracy": val[lam, distill][0] + 0.01 * (epochs > 4)
                 + code_gain["acc"] * coded,
                 "val_spikes_per_neuron": val[lam, distill][1]} for _, _, lam in jobs]

    monkeypatch.setattr(study, "finetune_runs", fake_runs)
    kw = dict(lambdas=[1.0, 2.0], distills=[0.0, 0.5, 0.9], spike_target=0.47, epochs=4,
              max_spikes=0.5, surrogate="sm", seed=3)
    rows = study.spike_budget_runs("p", "c", None, None, None, long_epochs=8, **kw)
    assert [(r["lam"], r["distill"], r["epochs"]) for r in rows] == [
        (1.0, 0.0, 4), (2.0, 0.0, 4), (1.0, 0.5, 4), (2.0, 0.5, 4), (1.0, 0.9, 4),
        (2.0, 0.9, 4), (1.0, 0.5, 8)]
    assert calls[-1][:5] == ([("p", "c", 1.0)], 8, 0.47, 0.5, "spike budget")
    assert all(c[5] == {"surrogate": "sm", "seed": 3} for c in calls)
    calls.clear()
    assert len(study.spike_budget_runs("p", "c", None, None, None, long_epochs=None, **kw)) == 6
    assert len(calls) == 3                                         # no longer run
    calls.clear()                       # the winner again with trainable codes, same epochs
    rows = study.spike_budget_runs("p", "c", None, None, None, long_epochs=None,
                                   code_training=True, **kw)
    assert (len(rows), calls[-1][:5]) == (7, ([("p", "c", 1.0)], 4, 0.47, 0.5, "spike budget"))
    assert calls[-1][5] == {"surrogate": "sm", "seed": 3, "train_code": True}
    assert all(c[5] == {"surrogate": "sm", "seed": 3} for c in calls[:-1])
    # the longer run follows whichever of the winner and its trainable-code run is more
    # accurate on validation images: the fixed code when codes add nothing (a tie keeps it) ...
    rows = study.spike_budget_runs("p", "c", None, None, None, long_epochs=8,
                                   code_training=True, **kw)
    assert [(r["epochs"], r["train_code"]) for r in rows[-2:]] == [(4, True), (8, False)]
    code_gain["acc"] = 0.02                                        # ... the codes when they do
    rows = study.spike_budget_runs("p", "c", None, None, None, long_epochs=8,
                                   code_training=True, **kw)
    assert [(r["epochs"], r["train_code"]) for r in rows[-2:]] == [(4, True), (8, True)]
    assert calls[-1][:4] == ([("p", "c", 1.0)], 8, 0.47, 0.5) and calls[-1][5]["train_code"]


def test_smooth_runs_run_each_network_then_the_budget_once_per_code_training(monkeypatch,
                                                                            tmp_path):
    from helpers.studies import finetune as study

    calls = []

    def fake_runs(jobs, data, models_dir, codes_dir, *, role, epochs, **settings):
        calls.append((jobs, role, epochs, settings))
        return [{"model": f"{m}|{c}|{lam}|{epochs}|{settings.get('train_code')}"}
                for m, c, lam in jobs]

    monkeypatch.setattr(study, "finetune_runs", fake_runs)
    starts, budget_starts = {"silu": "a", "sig": "b"}, {"sig": "c"}
    budget = {"lam": 1.0, "target": 0.6, "distill": 0.9, "epochs": 6,
              "train_codes": [False, True, True]}
    rows = study.smooth_runs(starts, budget_starts, budget, None, None, None, lam=0.05,
                             epochs=1, surrogate="sm", train_code=False)
    assert [r["model"] for r in rows] == ["silu|a|0.05|1|False", "sig|b|0.05|1|False",
                                          "sig|c|1.0|6|False", "sig|c|1.0|6|True"]
    assert [c[1] for c in calls] == ["smooth network"] + 2 * ["smooth spike budget"]
    assert calls[1][3] == {"surrogate": "sm", "train_code": False, "spike_target": 0.6,
                           "distill": 0.9}
    calls.clear()            # codes trained everywhere: False means "as the other runs"
    rows = study.smooth_runs(starts, budget_starts, budget, None, None, None, lam=0.05,
                             epochs=1, train_code=True)
    assert [r["model"] for r in rows][2:] == ["sig|c|1.0|6|True"]
    # the files read: each network's model and card, each start code, once each
    files = study.smooth_inputs(starts, budget_starts, tmp_path, tmp_path / "codes")
    assert [f.name for f in files] == ["silu.keras", "silu.json", "sig.keras", "sig.json",
                                       "a.json", "b.json", "c.json"]


def test_signed_bottleneck_neurons_train_as_a_pair_of_one_code_and_convert_again():
    """A linear bottleneck (Lite0's "project" convolutions) has signed identity neurons,
    FS(x) - FS(-x) with one code: the trainer starts at the converted network, its
    straight-through reference is the identity clipped at both signs, and the trained network
    converts again to the trainer's logits."""
    tf.keras.utils.set_random_seed(3)
    inp = tf.keras.Input((6, 6, 2))
    y = L.ReLU(6.0)(L.Conv2D(4, 3, padding="same")(inp))
    p = L.Conv2D(3, 1, name="project")(y)                  # no activation: signed neurons
    y = L.ReLU(6.0)(L.Conv2D(5, 1)(p))
    m = tf.keras.Model(inp, L.Dense(4)(L.Flatten()(y)))
    x = np.random.default_rng(0).normal(size=(16, 6, 6, 2)).astype(np.float32)
    b = codes.binary(6)
    code, bottleneck = (FSCode(f"binary_{act}", act, b.h, b.T, b.d, b.x_range)
                        for act in ("relu6", "identity"))
    net = convert(m, {"relu6": code}, x, bottleneck_code=bottleneck)
    trainer = fs_trainer(net, surrogate="sm")
    np.testing.assert_allclose(trainer(x).numpy(), net.run(x)["logits"], atol=1e-5)
    (signed,) = [i.name for i in net.layers if i.signed]    # the bottleneck's neurons
    pair = trainer.fs_layers[signed]
    assert [layer.signed for layer in trainer.fs_layers.values()] == [False, True, False]
    v = np.linspace(0.0, 2.0 * pair.code.x_range[1], 41, dtype=np.float32)  # layer units
    ref_out, ref_spikes = fs_numpy(v, pair.code)           # the positive half alone
    for sign in (1.0, -1.0):
        out, spikes, _ = (t.numpy() for t in pair(tf.constant(sign * v[None, :])))
        np.testing.assert_allclose(out[0], sign * ref_out, rtol=1e-5, atol=1e-6)
        assert spikes[0] == ref_spikes.sum() > 0
    ste = FSTrainable(bottleneck, 1.0, surrogate="ste", signed=True)
    top = float(np.sum(bottleneck.d))
    np.testing.assert_allclose(_grad(ste, np.array([-2 * top, -0.3, 0.3, 2 * top])), [0, 1, 1, 0])
    trainer.compile(tf.keras.optimizers.SGD(0.5),
                    tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trainer.fit(x, np.arange(16) % 4, batch_size=16, epochs=2, verbose=0)
    model, layer_codes = finetuned_export(trainer, net)
    again = convert(model, {"relu6": code}, x, bottleneck_code=bottleneck, layer_codes=layer_codes)
    assert [i.signed for i in again.layers] == [i.signed for i in net.layers]
    np.testing.assert_allclose(again.run(x)["logits"], trainer(x).numpy(), atol=1e-5)
