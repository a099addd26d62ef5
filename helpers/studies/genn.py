"""Notebook 04's GeNN section: the same test images through GeNN (via mlGeNN) and through our
simulators; rows follow data/results/mlgenn.json."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from helpers.ann.metrics import predictions
from helpers.ann.resnet import load_card, load_model, model_paths
from helpers.data import normalize
from helpers.fs import codes as code_families
from helpers.fs.neuron import FSCode
from helpers.results import read_json, write_json
from helpers.snn import mlgenn
from helpers.snn.convert import convert
from helpers.snn.simulate import simulate


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
    (:func:`helpers.snn.convert.convert`, analog first layer) runs in GeNN with our FS neurons
    (compared with the event-level simulator), in the event-level simulator (compared with the
    FS-equivalent model) and as the FS-equivalent model (compared with the ANN).
    Rows follow data/results/mlgenn.json. With ``cache_dir`` each job's rows are kept in a
    file there and re-used, so an interrupted study resumes.
    """
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
