"""The one rule that picks "the best designed code", on hand-made rows and on the committed
CIFAR-10 results."""

from __future__ import annotations

from helpers.paths import REPO_ROOT
from helpers.results import read_json
from helpers.selection import WITHIN_ENERGY, best_code, chosen_per_K


def _row(code, family, K, gap, spikes):
    return {"code": code, "family": family, "K": K, "accuracy_gap_pp": gap,
            "mean_spikes_per_neuron": spikes}


BINARY = _row("binary_K8", "binary", 8, 0.10, 1.60)
BINARY_MAX = _row("binary_max_K4", "binary_max", 4, 0.01, 0.30)
FITTED = _row("fitted_K6", "fitted", 6, 0.40, 0.80)
DISTAWARE = _row("distaware_K6", "distribution_aware", 6, 0.20, 1.20)
LONG = _row("fitted_K10", "fitted", 10, 0.05, 0.50)
ROWS = [BINARY, BINARY_MAX, FITTED, DISTAWARE, LONG]


def test_smallest_gap_among_sparse_designed_codes_with_small_K():
    # DISTAWARE has a smaller gap but 1.2 spikes; LONG has K = 10; binaries are baselines
    assert best_code(ROWS) is FITTED


def test_no_sparse_designed_code_falls_back_to_every_designed_code():
    rows = [BINARY, BINARY_MAX, DISTAWARE, LONG, _row("fib_K8", "fibonacci", 8, 0.3, 1.1)]
    assert best_code(rows) is DISTAWARE           # 0.2 pp < 0.3 pp, both above 1 spike


def test_no_designed_code_falls_back_to_every_row():
    assert best_code([BINARY, BINARY_MAX]) is BINARY_MAX          # the one with <= 1 spike
    dense = _row("binary_K10", "binary", 10, 0.02, 2.5)
    assert best_code([BINARY, dense]) is dense                    # none sparse: smallest gap
    assert best_code([BINARY, LONG]) is LONG      # K = 10 is not a designed code at K <= 8


def test_criteria_are_keywords():
    assert best_code(ROWS, max_K=None) is LONG
    assert best_code(ROWS, max_spikes=None) is DISTAWARE
    assert best_code(ROWS, exclude_families=()) is BINARY_MAX
    assert best_code(ROWS, metric="mean_spikes_per_neuron", max_K=None) is LONG
    assert best_code(ROWS, max_K=4) is BINARY_MAX                 # no designed code has K <= 4


def test_ties_go_to_the_earlier_row_and_no_rows_give_none():
    twin = {**FITTED, "code": "twin_K6"}
    assert best_code([FITTED, twin]) is FITTED and best_code([twin, FITTED]) is twin
    assert best_code([]) is None


def test_committed_results_pick_the_code_of_the_energy_table():
    results = read_json(REPO_ROOT / "data" / "results" / "cifar10.json")
    relu = [r for r in results["rows"] if r["method"] == "fs" and r["model"] == "resnet20_relu"
            and r["input_mode"] == "analog" and r["split"] == "val"]   # chosen on validation
    best = best_code(relu)
    assert best["code"] == results["energy"]["code"]
    assert best["K"] <= 8 and best["mean_spikes_per_neuron"] <= 1.0
    designed = [r for r in relu if r["family"] != "binary" and r["K"] <= 8
                and r["mean_spikes_per_neuron"] <= 1.0]
    assert best["accuracy_gap_pp"] == min(r["accuracy_gap_pp"] for r in designed)


def _val(model, code, family, K, gap, spikes, mode="analog"):
    return {"model": model, "code": code, "family": family, "K": K, "input_mode": mode,
            "accuracy_gap_pp": gap, "mean_spikes_per_neuron": spikes, "method": "fs"}


def test_chosen_per_K_takes_best_designed_per_K_references_and_the_headline():
    rows = [_val("n", "binary_K6", "binary", 6, 1.7, 1.1),
            _val("n", "a6", "distribution_aware", 6, 0.1, 1.07),   # best at K=6 (gap)
            _val("n", "b6", "fitted", 6, 0.2, 0.80),               # headline: <= 1 spike
            _val("n", "c8", "fitted", 8, 0.05, 1.5),
            _val("n", "d8", "fibonacci", 8, 0.05, 1.2),            # tie on gap: fewer spikes
            _val("n", "sm", "sm_published", 16, 0.3, 2.0),
            _val("n", "a6", "distribution_aware", 6, 0.4, 1.0, mode="fs")]
    chosen = {(r["code"], r["input_mode"]): r["chosen_on"] for r in chosen_per_K(rows)}
    assert chosen == {("binary_K6", "analog"): "reference code",
                      ("a6", "analog"): "val: best designed code at this K",
                      ("b6", "analog"): "val: headline code (best_code)",
                      ("d8", "analog"): "val: best designed code at this K",
                      ("sm", "analog"): "reference code",
                      ("a6", "fs"): "val: headline code (best_code)"}


def test_energy_budget_narrows_the_pool_and_falls_back_when_nobody_keeps_it():
    lean = {**_row("offset_K6", "offset", 6, 0.30, 0.67), "energy_ratio": 0.2995}
    rich = {**_row("offset_K8", "offset", 8, 0.04, 0.64), "energy_ratio": 0.317}
    rows = [rich, lean]
    assert best_code(rows) is rich                          # smallest gap, both <= 1 spike
    assert best_code(rows, max_energy=0.3) is lean          # the only one within 0.3
    assert best_code(rows, max_energy=0.2) is rich          # none within: the whole pool


def test_chosen_per_K_adds_the_best_code_within_the_energy_budget():
    rows = [{**_val("n", "k8", "offset", 8, 0.04, 0.64), "energy_ratio": 0.317},
            {**_val("n", "k6", "offset", 6, 0.30, 0.67), "energy_ratio": 0.2995},
            {**_val("n", "k6b", "offset", 6, 0.38, 0.49), "energy_ratio": 0.24}]
    chosen = {r["code"]: r["chosen_on"] for r in chosen_per_K(rows, energy_budget=0.3)}
    assert chosen == {"k8": "val: headline code (best_code)", "k6": WITHIN_ENERGY}
    assert {r["code"] for r in chosen_per_K(rows)} == {"k8", "k6"}    # k6: best at K = 6
    # a budget the headline keeps adds nothing
    assert len(chosen_per_K(rows, energy_budget=0.35)) == len(chosen_per_K(rows))


def test_bias_correction_targets_are_the_chosen_designed_codes_only():
    rows = [_val("n", "binary_K6", "binary", 6, 0.1, 1.1),               # reference
            _val("n", "a6", "distribution_aware", 6, 0.3, 1.07),          # best at K=6
            _val("n", "b6", "fitted", 6, 0.4, 0.90),                      # headline
            _val("n", "c6", "fitted", 6, 0.5, 0.95),                      # not chosen
            {**_val("n_ft", "ft", "fitted", 4, 0.2, 0.5), "finetuned": True},  # own network
            {**_val("n", "e8", "offset", 8, 0.9, 0.4), "energy_ratio": 0.2}]
    for r in rows[:5]:
        r["energy_ratio"] = 0.5
    from helpers.selection import bias_correction_targets

    assert [r["code"] for r in bias_correction_targets(rows)] == ["a6", "b6", "e8"]
    lean = bias_correction_targets(rows, energy_budget=0.3)
    assert [(r["code"], r["chosen_on"]) for r in lean] == [
        ("a6", "val: best designed code at this K"), ("b6", "val: headline code (best_code)"),
        ("e8", WITHIN_ENERGY)]
