"""One row of the CIFAR-10 / ImageNet evaluation tables: an FS conversion measured end to end
(accuracy, spikes per neuron, latency, synaptic operations and energy against the ANN)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .convert import FSNetwork, convert
from .energy import ann_macs, energy_table
from .fs_neuron import FSCode


def fs_row(model, code: FSCode | dict[str, FSCode], x_calib: np.ndarray, x: np.ndarray,
           y: np.ndarray, *, model_name: str, input_mode: str = "analog",
           scale: str = "percentile", precision: str = "fp32", batch_size: int = 250,
           ann_accuracy: float | None = None,
           bottleneck_code: FSCode | None = None) -> tuple[dict[str, Any], FSNetwork]:
    """Convert ``model`` with ``code`` and evaluate it on ``(x, y)``; return (row, network).

    The row has ``model``, ``method`` ("fs"), ``code``, ``family``, ``K``, ``input_mode``,
    ``scale``, ``ann_accuracy``, ``snn_accuracy``, ``mean_spikes_per_neuron``,
    ``latency_timesteps``, ``synops_per_image``, ``energy_ratio`` (SNN/ANN), ``n_test``,
    ``spikes_per_layer`` (spikes per neuron) and ``synops_per_layer`` (per image).
    ``ann_accuracy`` is measured on the same images with the BN-folded ANN unless given.
    """
    net = convert(model, code, x_calib, scale=scale, input_mode=input_mode,
                  bottleneck_code=bottleneck_code)
    r = net.evaluate(x, y, batch_size)
    if ann_accuracy is None:
        ann_accuracy = accuracy(net.ann, x, y, batch_size)
    c = code if isinstance(code, FSCode) else next(iter(code.values()))
    _, ratio = energy_table(ann_macs(net.ann), r["synops_per_layer"], net.analog_macs,
                            precision)
    row = {"model": model_name, "method": "fs", "code": c.name,
           "family": c.meta.get("family", "fitted"), "K": c.K, "input_mode": input_mode,
           "scale": scale, "bottlenecks": "spiking" if bottleneck_code else "analog",
           "ann_accuracy": ann_accuracy, "snn_accuracy": r["accuracy"],
           "snn_top5": r["top5"],
           "accuracy_gap_pp": 100 * (ann_accuracy - r["accuracy"]),
           "mean_spikes_per_neuron": r["mean_spikes_per_neuron"],
           "latency_timesteps": r["latency_timesteps"], "synops_per_image": r["synops_per_image"],
           "energy_ratio": ratio, "n_test": r["n"],
           "spikes_per_layer": r["spikes_per_neuron_per_layer"],
           "synops_per_layer": r["synops_per_layer"]}
    return row, net


def predictions(model, x: np.ndarray, batch_size: int = 250) -> np.ndarray:
    """Predicted classes ``(N,)`` of a Keras model, in batches (graph-free, no retracing)."""
    return np.concatenate([model(x[i:i + batch_size], training=False).numpy().argmax(1)
                           for i in range(0, len(x), batch_size)])


def accuracy(model, x: np.ndarray, y: np.ndarray, batch_size: int = 250) -> float:
    """Top-1 accuracy of a Keras model on ``(x, y)``."""
    return float(np.mean(predictions(model, x, batch_size) == np.asarray(y)))


def conversion_study(models: dict[str, str], models_dir, codes_dir, data, *,
                     binary_K_list=(8,), input_modes=("analog", "fs"), fs_input_K=None,
                     max_codes: int | None = None, n_eval: int | None = None, n_sim: int = 0,
                     precision: str = "fp32", progress: bool = True):
    """Convert every model in ``models`` (activation -> model name) with every saved code
    (:func:`helpers.codes.saved_codes_for`; ReLU also with the binary code at each K in
    ``binary_K_list``) and evaluate on the first ``n_eval`` test images of ``data``.

    ReLU networks are converted with each input mode (the FS-encoded input only for codes
    whose K is in ``fs_input_K``, if given), SiLU/sigmoid ones with the analog first layer. With ``n_sim > 0`` the event-level simulator is compared with the
    FS-equivalent model on ``n_sim`` test images per conversion. Returns ``(rows,
    agreement_rows, nets)``; ``nets`` maps ``(model, code, input_mode)`` to the network.
    """
    from tqdm.auto import tqdm

    from . import codes as code_families
    from .data import normalize
    from .models import load_card, load_model, model_paths
    from .simulate import agreement

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
    from .data import normalize
    from .models import load_card
    from .rate import rate_simulate

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
    from .energy import ann_macs, energy_table

    fs_rows, _, nets = conversion_study(models, inputs.models, inputs.codes, data,
                                        binary_K_list=binary_K_list, input_modes=input_modes,
                                        fs_input_K=fs_input_K, max_codes=max_codes,
                                        n_eval=len(data.y_test), precision=precision)
    rate = rate_rows(nets, models.get("relu"), inputs.models, data, rate_T, rate_configs,
                     n_rate, seed=seed)
    relu_fs = [r for r in fs_rows if r["model"] == models.get("relu")
               and r["input_mode"] == "analog"]
    cand = [r for r in relu_fs if r["family"] != "binary" and r["K"] <= 8] or relu_fs
    ok = [r for r in cand if r["mean_spikes_per_neuron"] <= 1.0] or cand
    energy = {}
    if ok:
        best = min(ok, key=lambda r: r["accuracy_gap_pp"])
        net = nets[(best["model"], best["code"], "analog")]
        table, ratio = energy_table(ann_macs(net.ann), best["synops_per_layer"],
                                    net.analog_macs, precision)
        energy = {"code": best["code"], "ratio": ratio, "precision": precision,
                  "table": table.to_dict(orient="records")}
    return {"n_test": int(len(data.y_test)), "n_rate": n_rate, "n_calib": int(len(data.y_train)),
            "precision": precision, "seed": seed, "rows": fs_rows + rate, "energy": energy}


def imagenet_study(model, x: np.ndarray, y: np.ndarray, codes_dir, *, n_calib: int, K_list,
                   fs_input_K: int, designed_codes, n_sim: int, batch_size: int,
                   seed: int = 0) -> dict[str, Any]:
    """Notebook 06's computation: the ANN check on all images, then FS conversions (spiking
    bottlenecks; plus FS-encoded input and analog bottlenecks for ``binary_K<fs_input_K>``)
    calibrated on the first ``n_calib`` images and evaluated on the rest."""
    from . import codes as code_families
    from .simulate import agreement

    logits = model.predict(x, batch_size=batch_size, verbose=0)
    top5_hit = (np.argsort(-logits, 1)[:, :5] == y[:, None]).any(1)
    ann = {"top1": float(np.mean(logits.argmax(1) == y)), "top5": float(np.mean(top5_hit)),
           "n_images": int(len(y))}
    print(f"ANN (port check) on all {len(y)} images: top-1 {ann['top1']:.2%}, top-5 "
          f"{ann['top5']:.2%} — reference on the 1,300-image sample: 83.08 % / 95.54 %")
    x_cal, x_ev, y_ev = x[:n_calib], x[n_calib:], y[n_calib:]
    ann_top1 = float(np.mean(logits[n_calib:].argmax(1) == y_ev))
    ann_top5 = float(np.mean(top5_hit[n_calib:]))
    saved = {c.name: c for c in code_families.saved_codes_for("relu", codes_dir)}
    missing = [n for n in designed_codes if n not in saved]
    if missing:
        print(f"SKIPPED designed codes {missing}: not in {codes_dir} (run notebook 03)")
    cands = ([code_families.binary(K, 1.0) for K in K_list]
             + [saved[n] for n in designed_codes if n in saved])
    rows, agree = [], []
    for code in cands:
        variants = [("analog", code)]
        if code.name == f"binary_K{fs_input_K}":      # FS-encoded input; analog bottlenecks
            variants += [("fs", code), ("analog", None)]
        for mode, bottleneck in variants:
            row, net = fs_row(model, {"relu6": code}, x_cal, x_ev, y_ev,
                              model_name="efficientnet_lite0", input_mode=mode,
                              batch_size=batch_size, bottleneck_code=bottleneck,
                              ann_accuracy=ann_top1)
            row.update(n_images=int(len(y_ev)), ann_top1=ann_top1, ann_top5=ann_top5,
                       snn_top1=row["snn_accuracy"])
            rows.append(row)
            print(f"{code.name:>28} {mode:>6} {row['bottlenecks']:>8} bottlenecks: top-1 "
                  f"{row['snn_accuracy']:.2%} (ANN {ann_top1:.2%}), "
                  f"{row['mean_spikes_per_neuron']:.3f} spikes/neuron, "
                  f"latency {row['latency_timesteps']}")
            if n_sim and code.name == f"binary_K{fs_input_K}" and mode == "analog" and bottleneck:
                agree.append({"code": code.name, **agreement(net, x_ev[:n_sim], y_ev[:n_sim],
                                                             batch_size=n_sim, progress=False)})
    return {"n_calib": n_calib, "n_eval": int(len(y_ev)), "ann": ann, "seed": seed,
            "caveat": "shipped 1,300-image sample: easier than the full validation set",
            "rows": rows, "agreement": agree}


def _genn_row(model: str, backend: str, code: str, K: int, acc: float, agree: float,
              reference: str, spikes: float, latency: int, build_s, ms: float, n: int,
              ann_acc: float, **extra) -> dict[str, Any]:
    return {"model": model, "backend": backend, "code": code, "K": int(K), "n_test": int(n),
            "accuracy": float(acc), "agreement_with_reference": float(agree),
            "reference": reference, "mean_spikes_per_neuron": float(spikes),
            "latency_timesteps": int(latency), "build_seconds": build_s,
            "ms_per_image": float(ms), "ann_accuracy": float(ann_acc), **extra}


def mlgenn_study(jobs: list[dict[str, Any]], models_dir, codes_dir, data, *, K_binary: int = 8,
                 backend: str | None = None, batch_size: int = 1, cache_dir=None,
                 progress: bool = True) -> list[dict[str, Any]]:
    """Notebook 04's mlGeNN section: the same test images through GeNN and through our
    simulators. Calibration images: ``data.x_train``; test images: ``data.x_test``.

    Each job is ``{"model": name, "code": c}``. ``c == "mlgenn"`` (a model without BN and
    biases): mlGeNN's own FewSpike path (binary K_binary, mlGeNN's α; compared with the Keras
    ANN), the same network with our GeNN FS neuron (compared with mlGeNN), and with our
    neuron plus the exact read-out and signed-input normalisation (compared with the ANN).
    Otherwise ``c`` is
    ``"binary_K<k>"`` or a code file in ``codes_dir``: the model converted with it
    (:func:`helpers.convert.convert`, analog first layer) runs in GeNN with our FS neurons
    (compared with the event-level simulator), in the event-level simulator (compared with the
    FS-equivalent model) and as the FS-equivalent model (compared with the ANN).
    Rows follow data/results/mlgenn.json. With ``cache_dir`` each job's rows are kept in a
    file there and re-used, so an interrupted study resumes.
    """
    import time
    from pathlib import Path

    from . import codes as code_families
    from . import mlgenn
    from .data import normalize
    from .models import load_card, load_model, model_paths
    from .results import read_json, write_json
    from .simulate import simulate

    rows: list[dict[str, Any]] = []
    n = int(len(data.y_test))
    y = np.asarray(data.y_test)
    for job in jobs:
        name, cname = job["model"], job["code"]
        key = f"{name}__{cname}__cal{len(data.y_train)}_test{n}_{backend or mlgenn.default_backend()}"
        cache = Path(cache_dir) / f"{key}.json" if cache_dir else None
        if cache is not None and cache.is_file():
            rows += read_json(cache)["rows"]
            continue
        model = load_model(model_paths(models_dir, name)[0])
        pp = load_card(models_dir, name)["preprocessing"]
        x_cal = normalize(data.x_train, pp["mean"], pp["std"])
        x = normalize(data.x_test, pp["mean"], pp["std"])
        ann_pred = predictions(model, x)
        ann_acc = float(np.mean(ann_pred == y))
        job_rows = []
        if cname == "mlgenn":
            kw = dict(backend=backend, batch_size=batch_size, progress=progress)
            ref = mlgenn.run_fewspike(model, x_cal, x, K_binary, name=f"{name}_fewspike", **kw)
            ours = mlgenn.run_fewspike_with_fs_neurons(model, x_cal, x, K_binary,
                                                       name=f"{name}_fsbinary", **kw)
            fixed = mlgenn.run_fewspike_with_fs_neurons(model, x_cal, x, K_binary,
                                                        readout="exact", signed_norm="exact",
                                                        name=f"{name}_fsbinary_exact", **kw)
            code = f"binary_K{K_binary} (mlGeNN α)"
            for r, label, refname, agree in (
                    (ref, "mlGeNN FewSpike", "Keras ANN", np.mean(ref.predictions == ann_pred)),
                    (ours, "our FS neuron", "mlGeNN FewSpike",
                     np.mean(ours.predictions == ref.predictions)),
                    (fixed, "our FS neuron, exact read-out + signed-input normalisation",
                     "Keras ANN", np.mean(fixed.predictions == ann_pred))):
                job_rows.append(_genn_row(
                    name, f"GeNN {r.backend}: {label}", code, K_binary,
                    np.mean(r.predictions == y), agree, refname, r.mean_spikes_per_neuron,
                    r.latency_timesteps, r.build_seconds, r.ms_per_image, n, ann_acc,
                    max_abs_logit_diff_vs_mlgenn=float(np.abs(r.logits - ref.logits).max())))
        else:
            if cname.startswith("binary_K"):
                code = code_families.binary(int(cname[len("binary_K"):]), 1.0)
            else:
                code = FSCode.load(Path(codes_dir) / f"{cname}.json")
            act = "relu" if code.activation in ("relu", "binary") else code.activation
            net = convert(model, {act: code}, x_cal)
            n_neurons = sum(info.n_neurons for info in net.layers)
            g = mlgenn.run_fs_network(net, x, backend=backend, batch_size=batch_size,
                                      name=f"{name}_{cname}", progress=progress)
            t0 = time.perf_counter()
            s = simulate(net, x, progress=progress)
            t_sim = time.perf_counter() - t0
            t0 = time.perf_counter()
            e = net.run(x)
            t_eq = time.perf_counter() - t0
            p_sim, p_eq = s["logits"].argmax(1), e["logits"].argmax(1)
            job_rows += [
                _genn_row(name, f"GeNN {g.backend}: our FS neuron", cname, code.K,
                          np.mean(g.predictions == y), np.mean(g.predictions == p_sim),
                          "event-level simulator", g.mean_spikes_per_neuron,
                          g.latency_timesteps, g.build_seconds, g.ms_per_image, n, ann_acc,
                          max_abs_logit_diff_vs_simulator=float(
                              np.abs(g.logits - s["logits"]).max())),
                _genn_row(name, "event-level simulator (NumPy/TF)", cname, code.K,
                          np.mean(p_sim == y), np.mean(p_sim == p_eq), "FS-equivalent model",
                          s["spikes"].sum(1).mean() / n_neurons, s["latency_timesteps"], None,
                          1e3 * t_sim / n, n, ann_acc),
                _genn_row(name, "FS-equivalent Keras model", cname, code.K,
                          np.mean(p_eq == y), np.mean(p_eq == ann_pred), "Keras ANN",
                          e["spikes"].sum(1).mean() / n_neurons, net.latency_timesteps, None,
                          1e3 * t_eq / n, n, ann_acc)]
        if cache is not None:
            write_json(cache, {"job": job, "rows": job_rows})
        rows += job_rows
    return rows


def keras_b0_study(weights, x: np.ndarray, y: np.ndarray, codes: dict[str, FSCode], *,
                   n_calib: int, batch_size: int = 16):
    """Notebook 06's optional path: Keras EfficientNetB0 (SiLU, sigmoid squeeze-excite gates)
    with FS codes for both, **squeeze-excite products analog** (not purely spiking).
    ``x``: images in the Lite0 preprocessing ``(x - 127) / 128``, mapped back to Keras' 0-255
    scale; the first ``n_calib`` calibrate, the rest are evaluated. ``weights``: a Keras weights
    file, or None (random weights: a structural check only). Returns ``(rows, keras_model,
    fs_network)``."""
    from .efficientnet import keras_b0_spiking

    x255 = x * 128.0 + 127.0
    model, net = keras_b0_spiking(weights, codes, x255[:n_calib], input_shape=x.shape[1:])
    x_ev, y_ev = x255[n_calib:], np.asarray(y[n_calib:])
    probs = model.predict(x_ev, batch_size=batch_size, verbose=0)
    r = net.evaluate(x_ev, y_ev, batch_size)
    _, ratio = energy_table(ann_macs(net.ann), r["synops_per_layer"], net.analog_macs, "fp32")
    top5 = (np.argsort(-probs, 1)[:, :5] == y_ev[:, None]).any(1)
    ann_top1 = float(np.mean(probs.argmax(1) == y_ev))
    row = {"model": "efficientnet_b0_keras", "weights": str(weights) if weights else "random",
           "code": "+".join(c.name for c in codes.values()),
           "K": max(c.K for c in codes.values()), "n_images": int(len(y_ev)),
           "squeeze_excite": "analog products", "analog_products_per_image": net.analog_products,
           "ann_top1": ann_top1, "ann_top5": float(np.mean(top5)), "snn_top1": r["accuracy"],
           "snn_top5": r["top5"], "accuracy_gap_pp": 100 * (ann_top1 - r["accuracy"]),
           "mean_spikes_per_neuron": r["mean_spikes_per_neuron"],
           "latency_timesteps": r["latency_timesteps"], "energy_ratio": ratio}
    return [row], model, net
