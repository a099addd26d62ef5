"""The poster and the shared panels on results rows with and without ``split``: every code
is compared on validation rows, the headline quotes the test row of the code chosen there."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from helpers.report import poster
from helpers.report.panels import plot_accuracy_vs_spikes, plot_energy, split_label
from helpers.results import write_json
from helpers.selection import chosen_test_row, split_of


def _row(code, family, K, acc, spikes, split=None, mode="analog", model="resnet20_relu",
         ann=0.91):
    r = {"model": model, "method": "fs", "code": code, "family": family, "K": K,
         "input_mode": mode, "scale": "percentile", "ann_accuracy": ann, "snn_accuracy": acc,
         "accuracy_gap_pp": 100 * (ann - acc), "mean_spikes_per_neuron": spikes,
         "latency_timesteps": 19 * K}
    return r if split is None else {**r, "split": split}


#: On validation images the Fibonacci code wins (smaller gap, <= 1 spike); on the test set
#: the fitted one would -- the headline must follow the validation pick.
VAL = [_row("binary_K6", "binary", 6, 0.880, 1.2, "val", ann=0.92),
       _row("relu_fib_K6", "fibonacci", 6, 0.915, 0.8, "val", ann=0.92),
       _row("relu_fitted_K6", "fitted", 6, 0.905, 0.7, "val", ann=0.92),
       _row("relu_fib_K6", "fibonacci", 6, 0.700, 0.9, "val", mode="fs", ann=0.92)]
TEST = [_row("binary_K6", "binary", 6, 0.870, 1.2, "test"),
        _row("relu_fib_K6", "fibonacci", 6, 0.901, 0.81, "test"),
        _row("relu_fitted_K6", "fitted", 6, 0.908, 0.69, "test"),
        _row("relu_fib_K6", "fibonacci", 6, 0.650, 0.9, "test", mode="fs")]
RATE = [{"model": "resnet20_relu", "method": "rate", "code": "rate_max_constant",
         "family": "rate", "K": None, "T": T, "input_mode": "constant", "split": "test",
         "ann_accuracy": 0.91, "snn_accuracy": 0.5 + T / 1000, "mean_spikes_per_neuron": T / 20,
         "latency_timesteps": T} for T in (32, 64)]


def _strip_split(rows):
    return [{k: v for k, v in r.items() if k != "split"} for r in rows]


def _write(root, rows, energy=None):
    write_json(root / "data" / "results" / "cifar10.json",
               {"rows": rows, "energy": energy or {}})
    return root


def test_chosen_test_row_matches_the_configuration_not_just_the_code():
    rows = VAL + TEST
    assert chosen_test_row(rows, VAL[1]) is TEST[1]
    assert chosen_test_row(rows, VAL[3]) is TEST[3]                 # FS-encoded input
    assert chosen_test_row(rows, TEST[2]) is TEST[2]                # a test pick: itself
    assert chosen_test_row(VAL, VAL[1]) is None                     # never scored on test
    old = _strip_split(TEST)                   # rows without split count as test rows
    assert chosen_test_row(VAL + old, VAL[2]) is old[2]
    assert split_of(old[0]) == "test" and split_of(VAL[0]) == "val"


def test_headline_quotes_the_test_row_of_the_validation_pick(tmp_path):
    h = poster.headline_numbers(_write(tmp_path, VAL + TEST + RATE))
    c = h["cifar"]
    assert (c["code"], c["chosen_on"]) == ("relu_fib_K6", "validation images")
    assert (c["snn_accuracy"], c["ann_accuracy"]) == (0.901, 0.91)     # the test row's numbers
    assert c["accuracy_gap_pp"] == pytest.approx(0.9)
    text = poster.headline_text(h)[0]
    assert text.startswith("CIFAR-10 test set (ResNet-20, ReLU): 90.10 % with code "
                           "“Fibonacci, K = 6” (chosen on validation images) — 0.90 pp below "
                           "the ANN (91.00 %) at 0.81 spikes per neuron, latency 114 timesteps")


def test_headline_without_split_picks_and_quotes_the_test_rows(tmp_path):
    h = poster.headline_numbers(_write(tmp_path, _strip_split(TEST)))
    assert (h["cifar"]["code"], h["cifar"]["chosen_on"]) == ("relu_fitted_K6", "the test set")
    assert h["cifar"]["snn_accuracy"] == 0.908


def test_headline_says_when_the_picked_code_has_no_test_row(tmp_path):
    h = poster.headline_numbers(_write(tmp_path, VAL + TEST[:1]))
    assert h["missing"] == ["cifar10.json: the test row of relu_fib_K6",
                            "cifar10.json: energy.ratio", "cifar10.json: energy.code"]
    text = poster.headline_text(h)[0]
    assert "“Fibonacci, K = 6”" in text
    assert text.count("n/a (missing in cifar10.json: the test row of relu_fib_K6)") == 5


def _lines(ax):
    """``{legend label: (x, y)}`` of the lines in ``ax``."""
    return {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.lines}


@pytest.mark.parametrize("with_split", [True, False])
def test_accuracy_vs_K_panel_draws_validation_rows_where_there_are_any(tmp_path, with_split):
    rows = VAL + TEST if with_split else _strip_split(TEST)
    fig = plt.figure()
    poster.panel_cifar_accuracy_vs_K(poster.Sources(_write(tmp_path, rows)), fig)
    ax = fig.axes[0]
    shown, ref = (VAL, "validation images") if with_split else (TEST, "test set")
    assert ax.get_ylabel() == f"accuracy (%), {ref}"
    fib = [r for r in shown if r["code"] == "relu_fib_K6" and r["input_mode"] == "analog"]
    assert _lines(ax)["Fibonacci (φ radix)"] == ([6], [pytest.approx(100 * fib[0]["snn_accuracy"])])
    assert _lines(ax)["ANN"][1] == [pytest.approx(100 * shown[0]["ann_accuracy"])] * 2
    plt.close(fig)


def test_accuracy_vs_spikes_names_the_images_of_each_kind_of_row(tmp_path):
    fig = plt.figure()
    poster.panel_accuracy_vs_spikes(poster.Sources(_write(tmp_path, VAL + TEST + RATE)), fig)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "accuracy (%), validation images"
    lines = _lines(ax)
    assert lines["FS: fitted (ours)"] == ([0.7], [pytest.approx(90.5)])          # VAL[2]
    assert lines["rate, max-norm, constant input (test set)"][1] == [
        pytest.approx(53.2), pytest.approx(56.4)]
    plt.close(fig)
    fig, ax = plt.subplots()                # FS and rate rows on the same images: no note
    plot_accuracy_vs_spikes(pd.DataFrame(_strip_split(TEST)), pd.DataFrame(RATE), ax)
    assert ax.get_ylabel() == "accuracy (%), test set"
    assert "rate, max-norm, constant input" in _lines(ax)
    plt.close(fig)


def test_energy_title_names_the_test_set():
    energy = {"code": "relu_fib_K6", "ratio": 0.25, "precision": "fp32", "split": "test",
              "table": [{"network": "ANN", "energy_pj": 1e6}, {"network": "SNN",
                                                                "energy_pj": 2.5e5}]}
    fig, ax = plt.subplots()
    plot_energy(energy, ax)
    assert ax.get_title() == ("Fibonacci, K = 6: SNN/ANN energy = 0.250 (fp32, Horowitz 45 nm), "
                              "test set")
    plt.close(fig)


def test_split_label_and_compared_rows():
    df = poster._with_split(pd.DataFrame(VAL + _strip_split(TEST)))
    assert split_label(df) == "validation images + test set"
    assert split_label(df[df.split == "val"]) == "validation images"
    assert split_label(pd.DataFrame(_strip_split(TEST))) == "test set"
    assert split_label(pd.DataFrame([{"split": "eval"}])) == "evaluation images of the sample"
    assert list(poster.compared_rows(df).code) == [r["code"] for r in VAL]
    only_test = poster.compared_rows(df[df.split == "test"])
    assert list(only_test.snn_accuracy) == [r["snn_accuracy"] for r in TEST]


def test_imagenet_rows_with_and_without_split_are_the_evaluation_images(tmp_path):
    rows = [{"code": f"binary_K{K}", "family": "binary", "K": K, "snn_accuracy": 0.7 + K / 100,
             "ann_accuracy": 0.83, "accuracy_gap_pp": 13.0 - K, "mean_spikes_per_neuron": 0.3 * K}
            for K in (4, 6)]
    for split in (None, "eval"):
        rs = [r if split is None else {**r, "split": split} for r in rows]
        write_json(tmp_path / "data" / "results" / "imagenet.json", {"rows": rs})
        h = poster.headline_numbers(tmp_path)
        assert h["imagenet"]["code"] == "binary_K6"             # <= 2 spikes, smaller gap
        assert h["imagenet"]["snn_accuracy"] == pytest.approx(0.76)
    assert np.isclose(h["imagenet"]["mean_spikes_per_neuron"], 1.8)


def test_finetune_runs_key_names_epochs_spike_budget_distillation_and_trained_codes():
    from helpers.report.panels import plot_finetune_runs

    runs = pd.DataFrame([
        {"family": "binary", "K": 4, "lam": 0.05, "surrogate": "sm", "role": "final",
         "epochs": 1, "val_accuracy": 0.9, "val_spikes_per_neuron": 0.6},
        {"family": "binary", "K": 4, "lam": 1.0, "surrogate": "sm", "role": "spike budget",
         "epochs": 4, "val_accuracy": 0.8, "val_spikes_per_neuron": 0.45,
         "spike_target": 0.47, "distill": 0.5, "train_code": True},
        {"family": "binary", "K": 4, "lam": 1.0, "surrogate": "sm", "role": "spike budget",
         "epochs": 4, "val_accuracy": 0.7, "val_spikes_per_neuron": 0.44,
         "spike_target": 0.47, "distill": 0.0, "train_code": False}])
    fig, ax = plt.subplots()
    plot_finetune_runs(runs, ax, max_spikes=0.5)
    key = [t.get_text() for t in ax.get_legend().get_texts() if t.get_text()[0].isdigit()]
    plt.close(fig)
    assert key == ["1: K = 4, λ = 1, S&M pseudo-derivative, 4 epochs, price above 0.47",
                   "2: K = 4, λ = 1, S&M pseudo-derivative, 4 epochs, price above 0.47, "
                   "distilled (β = 0.5), trained codes",
                   "3: K = 4, λ = 0.05, S&M pseudo-derivative"]
