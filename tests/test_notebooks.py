"""Notebook hygiene (parameters cell, stripped outputs, profile coverage) and papermill runs
of every notebook in the quick profile, in order, chained through a freshly emptied
build/quick: 01 writes the models 03-06 read, 02/03 the codes 04-07 read, 04 the fine-tuned
networks 05/06 read, 08 draws the poster from the quick results. After each run the files it wrote are checked."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from helpers.notebooks import (load_profile, notebooks_on_disk, parameter_names,
                               printed_text, profile_problems, run_notebook, static_problems)
from helpers.paths import BUILD_DIR, resolve

NOTEBOOKS = notebooks_on_disk()
QUICK_ROOT = BUILD_DIR / "quick"
#: Notebook prefix -> the notebooks whose quick outputs it reads.
READS = {"03": ("01", "02"), "04": ("01", "03"), "05": ("01", "02", "03", "04"),
         "06": ("01", "02", "03", "04"), "08": ("02", "03", "04", "05", "06")}


def non_finite_numbers(tree: Any, where: str = "$") -> list[str]:
    """JSON paths of every number in ``tree`` (nested dicts/lists) that is NaN or infinite."""
    if isinstance(tree, dict):
        return [p for k, v in tree.items() for p in non_finite_numbers(v, f"{where}.{k}")]
    if isinstance(tree, list):
        return [p for i, v in enumerate(tree) for p in non_finite_numbers(v, f"{where}[{i}]")]
    if isinstance(tree, float) and not math.isfinite(tree):
        return [where]
    return []


def test_non_finite_numbers_finds_nan_and_inf_anywhere():
    tree = json.loads('{"a": 1, "b": [0.5, NaN, {"c": Infinity, "d": null, "e": "nan"}],'
                      ' "f": {"g": -Infinity, "h": true}}')
    assert non_finite_numbers(tree) == ["$.b[1]", "$.b[2].c", "$.f.g"]
    assert non_finite_numbers({"rows": [{"x": 1.0, "y": None}]}) == []


def _json(path: Path) -> Any:
    assert path.is_file(), f"{path} was not written"
    obj = json.loads(path.read_text(encoding="utf-8"))
    bad = non_finite_numbers(obj)
    assert bad == [], f"{path}: non-finite numbers at {bad[:10]}"
    return obj


def _figures(root: Path, *names: str) -> None:
    for name in names:
        for ext in ("png", "pdf"):
            f = root / "figures" / f"{name}.{ext}"
            assert f.is_file() and f.stat().st_size > 0, f"{f} was not written"


def _rows_ok(rows: list[dict], keys: set[str], n_key: str | None = None, n: int | None = None):
    for r in rows:
        assert keys <= set(r), f"row lacks {keys - set(r)}: {r}"
        for k in ("ann_accuracy", "snn_accuracy", "accuracy", "same_prediction"):
            if r.get(k) is not None:
                assert 0.0 <= r[k] <= 1.0, (k, r)
        if n_key:
            assert r[n_key] == n, (n_key, r)


# -- what each quick run must write -------------------------------------------------------
def check_01(root: Path, p: dict) -> None:
    from helpers.ann.resnet import REQUIRED_CARD_KEYS

    models = dict(p["epochs"])
    if p.get("nobn_epochs"):
        models["relu_nobn"] = p["nobn_epochs"]
    for suffix, epochs in models.items():
        name = f"resnet20_{suffix}"
        assert (root / "data" / "models" / f"{name}.keras").stat().st_size > 0
        card = _json(root / "data" / "models" / f"{name}.json")
        assert set(REQUIRED_CARD_KEYS) <= set(card) and card["name"] == name
        assert card["epochs"] == epochs and len(card["history"]["loss"]) == epochs
        assert (card["n_train"], card["n_test"]) == (p["n_train"], p["n_test"])
        assert 0.0 <= card["test_accuracy"] <= 1.0
    for act, epochs in p.get("from_relu", {}).items():   # started from the ReLU network
        card = _json(root / "data" / "models" / f"resnet20_{act}_from_relu.json")
        assert card["init_from"]["name"] == "resnet20_relu" and card["epochs"] == epochs
        assert (card["n_train"], card["n_val"]) == (p["from_relu_n_train"],
                                                    p["n_train"] - p["from_relu_n_train"])
        assert len(card["history"]["val_accuracy"]) == epochs
    if p.get("relu_45k_epochs"):      # the ReLU network on the first images only, from scratch
        card = _json(root / "data" / "models" / "resnet20_relu_45k.json")
        assert (card["n_train"], card["epochs"], card["init_from"]) == (
            p["from_relu_n_train"], p["relu_45k_epochs"], None)
        assert len(card["history"]["val_accuracy"]) == p["relu_45k_epochs"]
        for act, epochs in p.get("from_relu_45k", {}).items():   # ... and its children
            card = _json(root / "data" / "models" / f"resnet20_{act}_from_relu_45k.json")
            assert card["init_from"]["name"] == "resnet20_relu_45k" and card["epochs"] == epochs
            assert card["n_train"] == p["from_relu_n_train"] and card["activation"] == act
            assert "validation images are unseen" in card["hyperparameters"]["recipe"]
    _figures(root, "01_training_curves")


def check_02(root: Path, p: dict) -> None:
    res = _json(root / "data" / "results" / "fitting.json")
    assert {"x_range", "n_eval", "seed", "comparison", "error_vs_K", "provenance"} <= set(res)
    assert res["n_eval"] == p["n_eval"]
    assert len(res["comparison"]) == 2 * len(p["K_main"])     # ours and the reference each
    sweep = {act: set(p["K_sweep"]) | {K} for act, K in p["K_main"].items()}
    assert len(res["error_vs_K"]) == sum(map(len, sweep.values())) + len(sweep["relu"])
    _rows_ok(res["error_vs_K"], {"activation", "K", "family", "mse", "mean_spikes"})
    for act, Ks in sweep.items():
        for K in Ks:
            code = _json(root / "data" / "codes" / f"fitted_{act}_K{K}.json")
            assert code["K"] == K == len(code["h"]) and code["activation"] == act
    _json(root / "data" / "codes" / f"binary_K{p['K_main']['relu']}.json")
    _figures(root, "02_fs_approximations", "02_error_vs_K", "02_spikes_vs_x", "02_fs_trace")


def check_03(root: Path, p: dict) -> None:
    res = _json(root / "data" / "results" / "codes.json")
    assert {"protocol", "histograms", "relu", "smooth_rows", "provenance"} <= set(res)
    proto = res["protocol"]
    assert (proto["n_calib"], proto["n_val"], proto["K_ref"]) == (p["n_calib"], p["n_val"],
                                                                  p["K_ref"])
    assert proto["splits"]["val"] == f"train[45000:{45000 + p['n_val']}]"
    assert res["provenance"]["params"]["n_val"] == p["n_val"]
    assert "data/models/resnet20_relu.keras" in res["provenance"]["files"]
    relu = res["relu"]
    assert relu["reference"]["code"] == f"binary_p_K{p['K_ref']}"
    layers = set(relu["scales"])
    assert layers and layers == set(res["histograms"]["relu"]["density"])
    per_code: dict[str, list[str]] = {}
    for r in relu["rows"]:
        per_code.setdefault(r["code"], []).append(r["layer"])
    for code, ls in per_code.items():     # every candidate on every layer, plus the network
        assert sorted(ls) == sorted(layers | {"network"}), code
    Ks = {r["K"] for r in relu["rows"]}
    assert Ks == set(range(min(p["K_list"]), max(p["K_list"]) + p["extra_K"] + 1))
    for K in p["K_list"]:
        assert f"binary_p_K{K}" in per_code
    for K in p["fit_K"]:
        for lam in p["fit_lambdas"]:
            assert f"fitted_density_lam{lam:g}_K{K}" in per_code
    relu_codes = sorted((root / "data" / "codes").glob("relu_*.json"))
    assert relu_codes, "notebook 03 saved no ReLU code"
    for f in relu_codes:
        assert f.stem[len("relu_"):] in per_code and _json(f)["input_scale"] == 1.0
    smooth = {r["activation"] for r in res["smooth_rows"]}
    assert smooth == set(p["models"]) - {"relu"}
    for act in smooth:      # density fits and offset-folded pairs, every K and spike price
        for K in p["smooth_K"]:
            for lam in p["smooth_lambdas"].get(act, [0.0]):
                tag = f"_lam{lam:g}" if lam else ""
                for name in (f"{act}_density{tag}_K{K}", f"offset_{act}{tag}_K{K}"):
                    assert _json(root / "data" / "codes" / f"{name}.json")["K"] == K, name
                    assert {r["model"] for r in res["smooth_rows"] if r["code"] == name} == \
                        {p["models"][act]}
        uniform = {r["code"] for r in res["smooth_rows"] if r["activation"] == act}
        assert any(c.startswith(f"fitted_{act}_K") for c in uniform), "02's fits not read"
    _figures(root, "03_preactivations", "03_pareto_relu", "03_relu_per_layer", "03_smooth_codes",
             "03_spike_bound")
    check_spike_bound(root, p, layers, {f.stem for f in relu_codes})


def check_spike_bound(root: Path, p: dict, layers: set, designed: set) -> None:
    """spike_bound.json: the JRA code (both variants) and the spike bound per layer and
    network beside the binary and designed codes; no code spends fewer spikes than its bound;
    the seed project's numbers reproduced to 0.01."""
    res = _json(root / "data" / "results" / "spike_bound.json")
    rows = res["rows"]
    codes = {r["code"] for r in rows}
    for K, e in p["jra_specs"]:
        assert {f"jra_fp_K{K}_E{e}", f"jra_fp_implicit_K{K}_E{e}"} <= codes
    assert {f"binary_p_K{K}" for K in p["bound_binary_K"]} | designed <= codes
    fams = {r["family"] for r in rows}
    assert {"jra_fp", "jra_fp_improved", "spike_bound"} <= fams
    for r in rows:
        assert r["layer"] in layers | {"network"}
        assert r["spike_bound"] <= r["mean_spikes"] + 1e-9, r["code"]
    for g in res["bound_gaps"]:
        assert g["mean_spikes"] >= g["bound_at_error"] - 1e-9
    rep = res["jra_reproduction"]["notebook"]
    assert abs(rep["fs_K8_alpha10"] - 19.53) < 0.01 and abs(rep["fp_K4_elim4_alpha10"] - 22.40) < 0.01
    for case in res["jra_reproduction"]["poster_cases"]:
        assert round(case["percent_difference"]) == case["published"]


def check_04(root: Path, p: dict) -> None:
    from helpers.selection import best_finetuned

    res = _json(root / "data" / "results" / "finetune.json")
    assert {"parent", "designed", "runs", "lam", "surrogate", "final", "provenance"} <= set(res)
    runs = {r["model"]: r for r in res["runs"]}
    sweep = [r for r in res["runs"] if r["role"] == "spike price"]
    assert sorted(r["lam"] for r in sweep) == sorted(p["lambdas"])
    assert {r["K"] for r in sweep} == {p["K_sweep"]}
    # the choices follow the rule on the recorded validation numbers
    assert res["lam"] == best_finetuned(sweep, p.get("max_spikes"))["lam"]
    compare = [r for r in res["runs"] if r["K"] == p["K_sweep"] and r["lam"] == res["lam"]
               and r["code"] == res["designed"][str(p["K_sweep"])]]
    assert {r["surrogate"] for r in compare} == set(p["surrogates"])
    assert res["surrogate"] == best_finetuned(compare, p.get("max_spikes"))["surrogate"]
    assert len(res["final"]) == 2 * len(p["K_list"])
    for name in res["final"]:
        r = runs[name]
        assert r["final"] and (r["lam"], r["surrogate"]) == (res["lam"], res["surrogate"])
        card = _json(root / "data" / "models" / f"{name}.json")
        assert card["finetuned"] and card["parent"] == res["parent"]
        assert (card["n_train"], card["n_val"], card["n_test"]) == (p["n_train"], p["n_val"],
                                                                    p["n_test"])
        assert len(card["layer_codes"]) == 19 and card["epochs"] == p.get("epochs", 1)
        assert card["history"]["val_accuracy"][-1] == r["val_accuracy"]
        assert (root / "data" / "models" / f"{name}.keras").stat().st_size > 0
    _rows_ok(res["runs"], {"val_accuracy", "val_spikes_per_neuron", "train_minutes"})
    _figures(root, "04_finetune_runs")
    # the smooth networks: each starts from the rule's code and uses the ReLU choices; the
    # spike-budget runs start from the rule's code at smooth_budget's K, with its budget
    from helpers.selection import designed_code_per_K

    smooth = _json(root / "data" / "results" / "finetune_smooth.json")
    code_rows = _json(root / "data" / "results" / "codes.json")["smooth_rows"]
    sb = p["smooth_budget"]
    assert list(smooth["starts"]) == p["smooth_parents"]
    assert list(smooth["budget_starts"]) == sb["parents"]
    roles = [r["role"] for r in smooth["runs"]]
    assert roles == (["smooth network"] * len(p["smooth_parents"])
                     + ["smooth spike budget"] * len(sb["parents"]) * len(sb["train_codes"]))
    budget_rows = [r for r in smooth["runs"] if r["role"] == "smooth spike budget"]
    assert [(r["parent"], r["train_code"]) for r in budget_rows] == [
        (m, tc) for tc in sb["train_codes"] for m in sb["parents"]]
    for r in smooth["runs"]:
        plain = r["role"] == "smooth network"
        K, max_spikes = ((p["smooth_K"], p["smooth_max_spikes"]) if plain
                         else (sb["K"], sb["max_spikes"]))
        assert smooth["starts" if plain else "budget_starts"][r["parent"]] == r["code"] == (
            designed_code_per_K(code_rows, [K], model=r["parent"], prefix="",
                                max_spikes=max_spikes)[K])
        assert (r["lam"], r["surrogate"], r["epochs"], r["spike_target"], r["distill"]) == (
            (res["lam"], res["surrogate"], p.get("epochs", 1), None, 0.0) if plain
            else (sb["lam"], res["surrogate"], sb["epochs"], sb["target"], sb["distill"]))
        card = _json(root / "data" / "models" / f"{r['model']}.json")
        assert card["finetuned"] and card["activation"] != "relu"
        assert len(card["layer_codes"]) == 19 and card["test_accuracy"] == r["test_accuracy"]
    _rows_ok(smooth["runs"], {"val_accuracy", "val_spikes_per_neuron", "test_accuracy"})
    # the longer runs: the designed code at K_sweep, the chosen surrogate, long_epochs each
    long = _json(root / "data" / "results" / "finetune_long.json")
    assert sorted(r["lam"] for r in long["runs"]) == sorted(p["long_lambdas"])
    for r in long["runs"]:
        assert (r["K"], r["code"], r["surrogate"], r["role"], r["epochs"]) == (
            p["K_sweep"], res["designed"][str(p["K_sweep"])], res["surrogate"], "longer run",
            p["long_epochs"])
        card = _json(root / "data" / "models" / f"{r['model']}.json")
        assert r["model"].endswith(f"_e{p['long_epochs']}") and card["epochs"] == p["long_epochs"]
        assert len(card["history"]["val_accuracy"]) == p["long_epochs"]
        assert card["test_accuracy"] == r["test_accuracy"]
    _rows_ok(long["runs"], {"val_accuracy", "val_spikes_per_neuron", "test_accuracy"})
    # the spike-budget runs: each λ with each distillation weight, the budget on the cards
    budget = _json(root / "data" / "results" / "finetune_budget.json")
    grid = [r for r in budget["runs"] if r["epochs"] == p["budget_epochs"]
            and not r["train_code"]]
    assert sorted((r["lam"], r["distill"]) for r in grid) == sorted(
        (lam, beta) for lam in p["budget_lambdas"] for beta in p["budget_distill"])
    longer = [r for r in budget["runs"] if r not in grid]
    recorded = budget["provenance"]["params"]

    def keep(rows):                     # most accurate within the budget, else the sparsest
        ok = [r for r in rows if r["val_spikes_per_neuron"] <= recorded["target_spikes"]]
        return (max(ok, key=lambda r: r["val_accuracy"]) if ok
                else min(rows, key=lambda r: r["val_spikes_per_neuron"]))

    # the grid's winner again with trainable codes (budget_train_codes), then whichever of
    # the two is kept on validation images again with budget_long_epochs
    best, n_coded = keep(grid), int(recorded.get("budget_train_codes", False))
    follow = keep([best, *longer[:n_coded]])
    assert [(r["lam"], r["distill"], r["epochs"], r["train_code"]) for r in longer] == [
        *[(best["lam"], best["distill"], p["budget_epochs"], True)] * n_coded,
        (best["lam"], best["distill"], recorded["budget_long_epochs"], follow["train_code"])]
    assert all(("_codes" in r["model"]) == r["train_code"] for r in budget["runs"])
    for r in budget["runs"]:
        card = _json(root / "data" / "models" / f"{r['model']}.json")
        assert (r["role"], r["spike_target"], r["epochs"]) == (
            "spike budget", p["budget_target"], card["epochs"]) == (
            "spike budget", card["spike_target"], len(card["history"]["val_accuracy"]))
        assert card.get("distill", 0.0) == r["distill"] and card["test_accuracy"] == r[
            "test_accuracy"]
    _rows_ok(budget["runs"], {"val_accuracy", "val_spikes_per_neuron", "test_accuracy"})


def _expected_conversions(root: Path, p: dict, binary_K: list[int], modes: list[str],
                          fs_input_K, jra_specs=()) -> list[tuple[str, int, str]]:
    """(code, K, input_mode) of every conversion notebooks 05/06 must report: every saved
    code of every network, notebook 04's fine-tuned networks (analog input: the chosen ones,
    the longer runs, the SiLU/sigmoid ones) and, for the ReLU network, the JRA floating-point
    codes of ``jra_specs`` (both variants, analog input)."""
    from helpers.fs.codes import saved_codes_for

    results = root / "data" / "results"
    names = _json(results / "finetune.json")["final"] + [
        r["model"] for f in ("finetune_long.json", "finetune_budget.json", "finetune_smooth.json")
        for r in _json(results / f)["runs"]]
    cards = [_json(root / "data" / "models" / f"{name}.json") for name in names]
    out = [(c["code"], c["K"], "analog") for c in cards]
    for act in p["models"]:
        saved = [(c.name, c.K) for c in saved_codes_for(act, root / "data" / "codes")]
        cands = saved[:p["max_codes"]]
        if act == "relu":
            cands = [(f"binary_K{K}", K) for K in binary_K] + cands
        for name, K in cands:
            ms = modes if act == "relu" else ["analog"]
            if fs_input_K is not None and K not in fs_input_K:
                ms = [m for m in ms if m != "fs"]
            out += [(name, K, m) for m in ms]
    out += [(f"jra_fp{v}_K{K}_E{e}", K + e, "analog") for K, e in jra_specs for v in ("", "_implicit")]
    return out


def check_05(root: Path, p: dict) -> None:
    res = _json(root / "data" / "results" / "conversion.json")
    assert {"n_check", "n_sim", "n_calib", "seed", "rows", "agreement", "raster",
            "provenance"} <= set(res)
    assert {r["split"] for r in res["rows"]} == {"val"}
    assert (res["n_check"], res["n_sim"], res["n_calib"]) == (p["n_check"], p["n_sim"],
                                                              p["n_calib"])
    expected = _expected_conversions(root, p, [p.get("binary_K", 8)],
                                     p.get("input_modes", ["analog", "fs"]),
                                     p.get("fs_input_K", [8]))
    got = [(r["code"], r["K"], r["input_mode"]) for r in res["rows"]]
    assert sorted(got) == sorted(expected)
    _rows_ok(res["rows"], {"model", "code", "snn_accuracy", "mean_spikes_per_neuron",
                           "energy_ratio", "finetuned"}, "n_test", p["n_check"])
    ft = [r for r in res["rows"] if r["finetuned"]]
    assert ft and all(r["model"].startswith(f"{r['parent']}_ft_") for r in ft)
    parents = {r["parent"] for r in ft}
    smooth = _json(root / "data" / "results" / "finetune_smooth.json")["starts"]
    assert parents == {_json(root / "data" / "results" / "finetune.json")["parent"], *smooth}
    for parent in parents:             # gaps to the original ANN (one per parent), family
        card = _json(root / "data" / "models" / f"{parent}.json")
        assert {r["activation"] for r in ft if r["parent"] == parent} == {card["activation"]}
        parent_acc = {r["ann_accuracy"] for r in res["rows"] if r["model"] == parent}
        assert len(parent_acc | {r["ann_accuracy"] for r in ft if r["parent"] == parent}) == 1
    assert len(res["agreement"]) == len(expected)
    _rows_ok(res["agreement"], {"same_prediction", "max_abs_logit_diff"}, "n_images", p["n_sim"])
    assert res["raster"]["total_spikes"] > 0
    if (root / "data" / "results" / "mlgenn.json").is_file():      # only where pygenn imports
        rows = _json(root / "data" / "results" / "mlgenn.json")["rows"]
        from helpers.studies.finetune import final_network_at

        winners = {final_network_at(_json(root / "data" / "results" / "finetune.json"), K)
                   for K in p.get("genn_finetuned_K", [])}
        assert {r["model"] for r in rows} == {j["model"] for j in p["mlgenn_jobs"]} | winners
        _rows_ok(rows, {"backend", "accuracy", "agreement_with_reference"}, "n_test",
                 p["n_mlgenn"])
    _figures(root, "05_raster")


def check_06(root: Path, p: dict) -> None:
    res = _json(root / "data" / "results" / "cifar10.json")
    assert {"n_test", "n_rate", "n_calib", "precision", "seed", "rows", "energy"} <= set(res)
    assert (res["n_test"], res["n_rate"], res["n_calib"]) == (p["n_test"], p["n_rate"],
                                                              p["n_calib"])
    fs = [r for r in res["rows"] if r["method"] == "fs"]
    rate = [r for r in res["rows"] if r["method"] == "rate"]
    val = [r for r in fs if r["split"] == "val"]
    test = [r for r in fs if r["split"] == "test"]
    expected = _expected_conversions(root, p, p["binary_K_list"], p["input_modes"],
                                     p.get("fs_input_K", [8]), p["jra_specs"])
    plain = [r for r in val if not r.get("bias_images")]
    assert sorted((r["code"], r["K"], r["input_mode"]) for r in plain) == sorted(expected)
    _rows_ok(val, {"snn_accuracy", "mean_spikes_per_neuron", "energy_ratio"}, "n_test",
             p["n_val"])
    # with bias_images: the designed codes chosen on validation rows, again bias-corrected
    from helpers.selection import UNCORRECTED_TWIN, bias_correction_targets, chosen_per_K

    budget = p["energy_budget"]
    assert (res["bias_images"], res["bias_estimator"]) == (p["bias_images"], p["bias_estimator"])
    twins = [r for r in val if r.get("bias_images")]
    assert [(r["code"], r["input_mode"]) for r in twins] == [
        (f"{r['code']} (bias-corrected)", r["input_mode"])
        for r in bias_correction_targets(plain, energy_budget=budget)] * bool(p["bias_images"])
    assert all((r["bias_images"], r["bias_estimator"]) == (p["bias_images"], p["bias_estimator"])
               for r in twins)
    # the test set scores what was chosen on validation rows: the references, per K the
    # best designed code and the best within the energy budget, recomputed here; beside a
    # corrected headline code, the same code uncorrected
    assert res["energy_budget"] == budget
    compared = [r for r in test if r["chosen_on"] == UNCORRECTED_TWIN]
    test = [r for r in test if r["chosen_on"] != UNCORRECTED_TWIN]
    assert sorted((r["code"], r["input_mode"], r["chosen_on"]) for r in test) == sorted(
        (r["code"], r["input_mode"], r["chosen_on"])
        for r in chosen_per_K(val, energy_budget=budget))
    assert sorted((r["model"], r["code"], r["input_mode"]) for r in compared) == sorted(
        (r["model"], r["code"].removesuffix(" (bias-corrected)"), r["input_mode"]) for r in test
        if r.get("bias_images") and r["chosen_on"].endswith("(best_code)"))
    _rows_ok(test, {"snn_accuracy", "mean_spikes_per_neuron", "energy_ratio"}, "n_test",
             p["n_test"])
    # every test row checked event by event: headline rows (chosen on validation images,
    # fine-tuned ones included, and binary K = 8) on n_verify images, the rest on fewer
    from helpers.studies.cifar10 import is_headline

    assert any(r.get("finetuned") for r in test)
    for r in test:
        n = p["n_verify"] if is_headline(r) else p["n_verify_reference"]
        assert r["event_level_n"] == r["event_level"]["n_images"] == n
        assert r["event_level_agreement"] == r["event_level"]["same_prediction"]
        assert 0.5 <= r["event_level_agreement"] <= 1 and 0 <= r["event_level"][
            "layer_counts_equal"] <= 1
    assert len(rate) == len(p["rate_T"]) * len(p["rate_configs"])
    _rows_ok(rate, {"T", "snn_accuracy", "mean_spikes_per_neuron"}, "n_test", p["n_rate"])
    assert {r["T"] for r in rate} == set(p["rate_T"])
    e = res["energy"]
    assert {"code", "ratio", "precision", "table"} <= set(e) and e["ratio"] > 0 and e["table"]
    assert e["code"] in {r["code"] for r in test}
    assert res["provenance"]["params"]["n_val"] == p["n_val"]
    _figures(root, "06_accuracy_vs_K", "06_accuracy_vs_spikes", "06_layer_spikes", "06_energy")


def check_07(root: Path, p: dict) -> None:
    res = _json(root / "data" / "results" / "imagenet.json")
    assert {"n_calib", "n_val", "n_eval", "ann", "parts", "seed", "rows", "provenance"} <= set(res)
    n_eval = p["n_images"] - p["n_calib"] - p["n_val"]
    assert (res["n_calib"], res["n_val"], res["n_eval"]) == (p["n_calib"], p["n_val"], n_eval)
    assert res["parts"] == {"calib": [0, p["n_calib"]], "val": [p["n_calib"], p["n_calib"] + p["n_val"]],
                            "eval": [p["n_calib"] + p["n_val"], p["n_images"]]}
    assert res["ann"]["n_images"] == p["n_images"]
    val = [r for r in res["rows"] if r["split"] == "val"]
    ev = [r for r in res["rows"] if r["split"] == "eval"]
    assert len(val) + len(ev) == len(res["rows"])
    # every candidate on the validation part: binary, pooled and per-layer distribution-aware
    # codes per K and λ (per layer also with prices by layer size and by loss sensitivity),
    # JRA (both variants), notebook 03's codes
    Ks, lams, pl = p["K_list"], p["lambdas"], p["per_layer_lambdas"]
    expected = ({f"binary_K{K}" for K in Ks} | {f"lite_distaware_lam{lam:g}_K{K}" for K in Ks for lam in lams}
                | {f"lite_distaware_per_layer_lam{lam:g}_K{K}" for K in Ks for lam in pl}
                | {f"lite_distaware_per_layer_{kind}_lam{lam:g}_K{K}" for K in Ks
                   for kind in ("weighted", "fisher") for lam in p[f"per_layer_{kind}_lambdas"]}
                | {f"jra_fp{v}_K{m}_E{e}" for m, e in p["jra_specs"] for v in ("", "_implicit")}
                | set(p["resnet_codes"]))
    plain = [r for r in val if not r["bias_images"]]
    assert [r["code"] for r in plain] and {r["code"] for r in plain} == expected
    assert len(plain) == len(expected)
    # with bias_images: the chosen designed codes (per K, the headline) again, bias-corrected
    from helpers.selection import UNCORRECTED_TWIN, bias_correction_targets, chosen_per_K

    bias = p.get("bias_images", 0)
    assert (res["bias_images"], res["bias_estimator"]) == (bias, p.get("bias_estimator", "mean"))
    twins = [r for r in val if r["bias_images"]]
    assert [r["code"] for r in twins] == [
        f"{r['code']} (bias-corrected)"
        for r in bias_correction_targets(plain, metric=res["metric"])] * bool(bias)
    assert all((r["bias_images"], r["bias_estimator"]) == (bias, res["bias_estimator"])
               for r in twins)
    # every FS layer's loss sensitivity, positive, one per layer of the per-layer spike counts
    sens = res["layer_sensitivity"]
    assert all(v > 0 for v in sens.values()) and set(sens) == set(val[0]["spikes_per_layer"])
    _rows_ok(val, {"code", "snn_top1", "snn_top5", "mean_spikes_per_neuron"}, "n_images", p["n_val"])
    _rows_ok(ev, {"code", "snn_top1", "chosen_on", "mean_spikes_per_neuron"}, "n_images", n_eval)
    assert sum(r["chosen_on"].endswith("(best_code)") for r in ev) == 1
    # what was chosen, by the notebook's metric on the validation part, is what was evaluated
    # (and a bias-corrected headline code's uncorrected twin beside it)
    assert res["metric"] == p.get("metric", "ann_disagreement")
    assert all(0 <= r["ann_disagreement"] <= 1 for r in val + ev)
    assert {r["code"]: r["chosen_on"] for r in chosen_per_K(val, metric=res["metric"])} == {
        r["code"]: r["chosen_on"] for r in ev
        if (r["input_mode"], r["bottlenecks"]) == ("analog", "spiking")
        and r["chosen_on"] != UNCORRECTED_TWIN}
    head = next(r for r in ev if r["chosen_on"].endswith("(best_code)"))
    assert [r["code"] for r in ev if r["chosen_on"] == UNCORRECTED_TWIN] == (
        [head["code"].removesuffix(" (bias-corrected)")] if head["bias_images"] else [])
    assert {f"binary_K{K}" for K in Ks} <= {r["code"] for r in ev}
    fs_in = [r for r in ev if r["code"] == f"binary_K{p['fs_input_K']}"]
    assert sorted((r["input_mode"], r["bottlenecks"]) for r in fs_in) == [
        ("analog", "analog"), ("analog", "spiking"), ("fs", "spiking")]
    for r in ev:        # every chosen code (not the references) checked event by event
        chosen = r["chosen_on"].startswith("val:") and r["input_mode"] == "analog"
        assert ("event_level_n" in r) == (bool(p["n_sim"]) and r["bottlenecks"] == "spiking" and chosen)
        if "event_level_n" in r:
            assert r["event_level_n"] == p["n_sim"] and 0 <= r["event_level_agreement"] <= 1
    if p["lite2"]:
        l2 = res["lite2"]
        assert l2["recipe"]["code"] == head["code"] and l2["ann"]["n_images"] == p["n_images"]
        assert [r["code"] for r in l2["rows"]] == list(dict.fromkeys([
            f"binary_K{head['K']}", head["code"].removesuffix(" (bias-corrected)"), head["code"]]))
        assert all(r["event_level_n"] == p["n_sim_lite2"] for r in l2["rows"])
        up = res["upscaling"]
        assert 0 < up["detail"] < 1 and up["larger_upscale_factor"] > up["upscale_factor"] > 1
    # the headline network rebuilt from its recipe is the recorded one; noise draws on both parts
    stab = _json(root / "data" / "results" / "imagenet_stability.json")
    assert stab["code"] == head["code"] and stab["headline_check"]["n_images"] == n_eval
    assert stab["eval"]["clean"]["snn_top1"] == stab["headline_check"]["snn_top1"] == head["snn_top1"]
    assert stab["eval"]["clean"]["mean_spikes_per_neuron"] == pytest.approx(
        head["mean_spikes_per_neuron"], rel=1e-6)
    for part, n in (("val", p["n_val"]), ("eval", n_eval)):
        s = stab[part]
        assert (s["n_images"], s["n_draws"], len(s["draws"])) == (n, p["noise_draws"], p["noise_draws"])
        assert s["summary"]["gap_min_pp"] <= s["summary"]["gap_mean_pp"] <= s["summary"]["gap_max_pp"]
        assert all(0 <= d["snn_changed"] <= s["summary"]["images_ever_changed"] for d in s["draws"])
        g = s["clean_gap"]         # the clean run's gap over the same images, with its interval
        assert g["n"] == n and g["gap_pp"] == pytest.approx(s["clean"]["accuracy_gap_pp"])
        assert g["ci_low_pp"] <= g["gap_pp"] <= g["ci_high_pp"] and 0 <= g["mcnemar_p"] <= 1
        assert g["ref_only"] + g["new_only"] <= round(s["clean"]["ann_disagreement"] * n)
    _figures(root, "07_top1_vs_K", "07_layer_spikes", "07_noise_gap")


def check_08(root: Path, p: dict) -> None:
    from helpers.report.poster import PANELS

    out = root / "figures" / "poster"
    pdf = out / "poster.pdf"
    assert pdf.is_file() and pdf.read_bytes()[:5] == b"%PDF-"
    optional = {"imagenet": "imagenet.json", "mlgenn": "mlgenn.json"}
    for name in PANELS:
        results = optional.get(name)
        if results is None or (root / "data" / "results" / results).is_file():
            _figures(root, f"poster/{name}")


CHECKS = {"01": check_01, "02": check_02, "03": check_03, "04": check_04, "05": check_05,
          "06": check_06, "07": check_07, "08": check_08}


# -- static checks ------------------------------------------------------------------------
def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "01_ann_training.ipynb"
    assert {nb.name[:2] for nb in NOTEBOOKS} == set(CHECKS), "add a check_NN for a new notebook"


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_every_notebook_is_in_each_profile(profile):
    assert profile_problems(profile) == []


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_stripped_and_has_parameters(nb):
    assert static_problems(nb) == []


def test_checks_catch_outputs_missing_tag_unlisted_and_unknown_parameters(tmp_path):
    nb = new_notebook(cells=[new_code_cell("x = 1")])
    nb.cells[0].outputs = [new_output("stream", text="1")]
    nbformat.write(nb, tmp_path / "09_bad.ipynb")
    problems = static_problems(tmp_path / "09_bad.ipynb")
    assert any("parameters" in p for p in problems) and any("outputs" in p for p in problems)
    missing = profile_problems("quick", folder=tmp_path)
    assert any(p.startswith("09_bad.ipynb: not listed") for p in missing)
    cell = new_code_cell("a = 1\nb, c = 2, 3", metadata={"tags": ["parameters"]})
    nbformat.write(new_notebook(cells=[cell]), tmp_path / "01_ok.ipynb")
    assert parameter_names(tmp_path / "01_ok.ipynb") == {"a", "b", "c"}
    (tmp_path / "p.yaml").write_text("01_ok.ipynb: {a: 2, d: 4, b: [1.0e-3, 1e-3], c: '2'}\n")
    problems = profile_problems(tmp_path / "p.yaml", folder=tmp_path)
    where = "01_ok.ipynb: profile " + str(tmp_path / "p.yaml")
    assert [p for p in problems if "01_ok" in p] == [
        where + " passes ['d'], which its parameters cell does not define; add them there "
        "(with defaults) or drop them from the profile",
        where + " gives b the strings ['1e-3']; YAML reads a number like 1e-3 as text: write "
        "1.0e-3 or 0.001",
        where + " gives c the strings ['2']; YAML reads a number like 1e-3 as text: write "
        "1.0e-3 or 0.001"]


def test_quick_profile_chains_through_build_quick():
    params = load_profile("quick")
    by_name = {nb.name: nb for nb in NOTEBOOKS}
    for name, p in params.items():
        assert resolve(p.get("output_root")) == QUICK_ROOT, f"{name} must write build/quick"
        if "input_root" in parameter_names(by_name[name]):
            assert resolve(p.get("input_root")) == QUICK_ROOT, f"{name} must read build/quick"
    p01 = params["01_ann_training.ipynb"]
    trained = {f"resnet20_{a}" for a, e in p01["epochs"].items() if e}
    trained |= {"resnet20_relu_nobn"} if p01.get("nobn_epochs") else set()
    for name in ("03_code_design.ipynb", "05_conversion.ipynb", "06_cifar10_evaluation.ipynb"):
        for m in params[name].get("models", {}).values():
            assert m in trained, f"{name} reads {m}, which notebook 01 quick does not train"
    for job in params["05_conversion.ipynb"].get("mlgenn_jobs", []):
        assert job["model"] in trained, f"mlGeNN job {job} needs a model notebook 01 trains"


# -- the chained quick runs ---------------------------------------------------------------
@pytest.fixture(scope="session")
def quick_chain():
    """Empties build/quick once per test session; records the notebooks that ran there."""
    assert QUICK_ROOT.resolve().is_relative_to(BUILD_DIR.resolve())
    if QUICK_ROOT.exists():
        shutil.rmtree(QUICK_ROOT)
    QUICK_ROOT.mkdir(parents=True)
    return set()


@pytest.mark.slow
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_quick_profile(nb, cifar10_dir, quick_chain):
    prefix = nb.name[:2]
    if prefix == "07" and not os.environ.get("IMAGENET_DIR"):
        if os.environ.get("CI"):
            pytest.fail("CI must set IMAGENET_DIR for notebook 07")
        pytest.skip("set IMAGENET_DIR (ImageNet validation images) to run notebook 07")
    missing = [r for r in READS.get(prefix, ()) if r not in quick_chain]
    if missing:
        pytest.skip(f"{nb.name} reads the quick outputs of notebooks {missing}, which did not "
                    "run in this session; run the whole chain: pytest tests/test_notebooks.py")
    params = load_profile("quick")[nb.name]
    out = run_notebook(nb, params, BUILD_DIR / "executed" / "quick")
    assert out.is_file()
    CHECKS[prefix](QUICK_ROOT, params)
    quick_chain.add(prefix)


@pytest.mark.slow
def test_changing_one_parameter_recomputes_and_an_unchanged_run_reuses(quick_chain, tmp_path):
    if "06" not in quick_chain:
        pytest.skip("needs the quick chain's notebook 06 outputs in this session")
    nb = next(n for n in NOTEBOOKS if n.name.startswith("06"))
    params = {**load_profile("quick")[nb.name], "reuse": True}
    text = printed_text(run_notebook(nb, params, tmp_path / "same"))
    assert "re-using" in text and "recomputing" not in text
    changed = {**params, "rate_T": [8]}
    text = printed_text(run_notebook(nb, changed, tmp_path / "changed"))
    assert "recomputing cifar10.json: rate_T: [8, 16] -> [8]" in text
    rows = _json(QUICK_ROOT / "data" / "results" / "cifar10.json")["rows"]
    assert {r["T"] for r in rows if r["method"] == "rate"} == {8}
