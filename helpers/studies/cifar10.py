"""Notebook 04/05's CIFAR-10 studies: every network converted with every code and measured on
the test images, the rate-coded baseline, and the energy table of the best designed code."""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm

from helpers.ann.metrics import accuracy
from helpers.ann.resnet import load_card, load_model, model_paths
from helpers.data import normalize
from helpers.fs import codes as code_families
from helpers.selection import best_code
from helpers.snn.rate import rate_simulate
from helpers.snn.simulate import agreement
from helpers.studies.rows import fs_row, snn_energy


def conversion_study(models: dict[str, str], models_dir, codes_dir, data, *,
                     binary_K_list=(8,), input_modes=("analog", "fs"), fs_input_K=None,
                     max_codes: int | None = None, n_eval: int | None = None, n_sim: int = 0,
                     precision: str = "fp32", progress: bool = True):
    """Convert every model in ``models`` (activation -> model name) with every saved code
    (:func:`helpers.fs.codes.saved_codes_for`; ReLU also with the binary code at each K in
    ``binary_K_list``) and evaluate on the first ``n_eval`` test images of ``data``.

    ReLU networks are converted with each input mode (the FS-encoded input only for codes
    whose K is in ``fs_input_K``, if given), SiLU/sigmoid ones with the analog first layer. With ``n_sim > 0`` the event-level simulator is compared with the
    FS-equivalent model on ``n_sim`` test images per conversion. Returns ``(rows,
    agreement_rows, nets)``; ``nets`` maps ``(model, code, input_mode)`` to the network.
    """
    rows, agree, nets = [], [], {}
    jobs = []
    for act, name in models.items():
        path = model_paths(models_dir, name)[0]
        if not path.is_file():
            print(f"SKIPPED {name}: {path} not found — run notebooks/01_ann_training.ipynb")
            continue
        saved = code_families.saved_codes_for(act, codes_dir)[:max_codes]
        cands = saved
        if act == "relu":
            cands = [code_families.binary(K, 1.0) for K in binary_K_list] + saved
        for code in cands:
            modes = input_modes if act == "relu" else ["analog"]
            if fs_input_K is not None and code.K not in fs_input_K:
                modes = [m for m in modes if m != "fs"]
            for mode in modes:
                jobs.append((act, name, code, mode))
    loaded = {}
    for act, name, code, mode in tqdm(jobs, desc="conversions", disable=not progress):
        if name not in loaded:
            model, card = load_model(model_paths(models_dir, name)[0]), load_card(models_dir, name)
            pp = card["preprocessing"]
            x_te = normalize(data.x_test[:n_eval], pp["mean"], pp["std"])
            loaded[name] = (model, normalize(data.x_train, pp["mean"], pp["std"]), x_te,
                            accuracy(model, x_te, data.y_test[:len(x_te)]))
        model, x_cal, x_te, ann_acc = loaded[name]
        y = data.y_test[:len(x_te)]
        row, net = fs_row(model, {act: code}, x_cal, x_te, y, model_name=name, input_mode=mode,
                          precision=precision, ann_accuracy=ann_acc)
        rows.append(row)
        nets[(name, code.name, mode)] = net
        if n_sim:
            a = agreement(net, x_te[:n_sim], y[:n_sim], progress=False)
            agree.append({"model": name, "code": code.name, "K": code.K, "input_mode": mode, **a})
    return rows, agree, nets


def rate_rows(nets: dict, relu_model: str | None, models_dir, data, T_list, configs,
              n_rate: int, seed: int = 0) -> list[dict[str, Any]]:
    """Rate-coded baseline rows (``method == "rate"``) for the ReLU model: one per
    (normalisation, input) in ``configs`` and T in ``T_list``, on the first ``n_rate`` test
    images, using the BN-folded graph of one of its converted networks in ``nets``."""
    key = next((k for k in nets if k[0] == relu_model), None)
    if key is None:
        return []
    net = nets[key]
    pp = load_card(models_dir, relu_model)["preprocessing"]
    x_cal = normalize(data.x_train, pp["mean"], pp["std"])
    x = normalize(data.x_test[:n_rate], pp["mean"], pp["std"])
    y = data.y_test[:n_rate]
    ann_acc = accuracy(net.ann, x, y)
    rows = []
    for norm, inp in configs:
        for r in rate_simulate(net, x, y, T_list, x_cal, norm=norm, input_mode=inp, seed=seed):
            rows.append({"model": relu_model, "method": "rate", "code": f"rate_{norm}_{inp}",
                         "family": "rate", "K": None, "T": r["T"], "input_mode": inp,
                         "scale": norm, "ann_accuracy": ann_acc, "snn_accuracy": r["accuracy"],
                         "accuracy_gap_pp": 100 * (ann_acc - r["accuracy"]),
                         "mean_spikes_per_neuron": r["mean_spikes_per_neuron"],
                         "input_spikes_per_pixel": r["input_spikes_per_pixel"],
                         "latency_timesteps": r["T"], "energy_ratio": None, "n_test": r["n"]})
    return rows


def cifar10_study(models: dict[str, str], inputs, data, *, binary_K_list, input_modes,
                  fs_input_K, max_codes, rate_T, rate_configs, n_rate: int,
                  precision: str = "fp32", seed: int = 0) -> dict[str, Any]:
    """Notebook 05's computation: every FS conversion on ``data``'s test images, the
    rate-coded baseline, and the per-layer energy table of the best designed ReLU code
    (K <= 8, <= 1 spike/neuron if any, smallest accuracy gap). Returns cifar10.json's dict."""
    fs_rows, _, nets = conversion_study(models, inputs.models, inputs.codes, data,
                                        binary_K_list=binary_K_list, input_modes=input_modes,
                                        fs_input_K=fs_input_K, max_codes=max_codes,
                                        n_eval=len(data.y_test), precision=precision)
    rate = rate_rows(nets, models.get("relu"), inputs.models, data, rate_T, rate_configs,
                     n_rate, seed=seed)
    relu_fs = [r for r in fs_rows if r["model"] == models.get("relu")
               and r["input_mode"] == "analog"]
    best = best_code(relu_fs)
    energy = {}
    if best is not None:
        net = nets[(best["model"], best["code"], "analog")]
        table, ratio = snn_energy(net, best["synops_per_layer"], precision)
        energy = {"code": best["code"], "ratio": ratio, "precision": precision,
                  "table": table.to_dict(orient="records")}
    return {"n_test": int(len(data.y_test)), "n_rate": n_rate, "n_calib": int(len(data.y_train)),
            "precision": precision, "seed": seed, "rows": fs_rows + rate, "energy": energy}


