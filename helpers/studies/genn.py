"""Notebook 05's GeNN section: the same test images through GeNN (via mlGeNN) and through our
simulators; rows follow data/results/mlgenn.json."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers.ann.metrics import predictions
from helpers.ann.resnet import load_card, load_model, model_paths
from helpers.data import normalize
from helpers.fs import codes as code_families
from helpers.fs.neuron import FSCode
from helpers.paths import BUILD_DIR
from helpers.results import cache_file, read_json, sha256_file, write_json
from helpers.snn import mlgenn
from helpers.snn.convert import convert
from helpers.snn.network import FSNetwork
from helpers.snn.simulate import disagreements, simulate
from helpers.studies.cifar10 import FINETUNE_FINAL, finetuned_models, study_inputs
from helpers.studies.finetune import final_network_at, finetuned_network


def _genn_row(model: str, backend: str, code: str, K: int, acc: float, agree: float,
              reference: str, spikes: float, latency: int, build_s, ms: float, n: int,
              ann_acc: float, **extra) -> dict[str, Any]:
    return {"model": model, "backend": backend, "code": code, "K": int(K), "n_test": int(n),
            "accuracy": float(acc), "agreement_with_reference": float(agree),
            "reference": reference, "mean_spikes_per_neuron": float(spikes),
            "latency_timesteps": int(latency), "build_seconds": build_s,
            "ms_per_image": float(ms), "ann_accuracy": float(ann_acc), **extra}


@dataclass
class Images:
    """One job's model, its calibration and test images (normalised as the model was
    trained) and the Keras ANN's test predictions."""

    name: str
    model: Any                  # tf.keras.Model
    x_cal: np.ndarray           # (N_cal, H, W, C)
    x: np.ndarray               # (N, H, W, C)
    y: np.ndarray               # (N,) labels
    ann_pred: np.ndarray        # (N,) Keras ANN predictions

    @property
    def ann_acc(self) -> float:
        return float(np.mean(self.ann_pred == self.y))

    def row(self, backend: str, code: str, K: int, pred: np.ndarray, agree: float,
            reference: str, spikes: float, latency: int, build_s, ms: float,
            **extra) -> dict[str, Any]:
        """A results row for predictions ``pred``; ``agree``: fraction equal to the
        ``reference``'s."""
        return _genn_row(self.name, backend, code, K, np.mean(pred == self.y), agree, reference,
                         spikes, latency, build_s, ms, len(self.y), self.ann_acc, **extra)


def _load_images(name: str, models_dir, data) -> Images:
    """Model ``name`` from ``models_dir`` with ``data``'s calibration and test images
    (a :class:`helpers.data.Splits`) normalised by its card's preprocessing."""
    model = load_model(model_paths(models_dir, name)[0])
    pp = load_card(models_dir, name)["preprocessing"]
    x = normalize(data.x_test, pp["mean"], pp["std"])
    return Images(name, model, normalize(data.x_calib, pp["mean"], pp["std"]), x,
                   np.asarray(data.y_test), predictions(model, x))


def _fewspike_rows(im: Images, K: int, **run_kw) -> list[dict[str, Any]]:
    """mlGeNN's own FewSpike path (binary K, mlGeNN's α; compared with the Keras ANN), the same
    network with our GeNN FS neuron (compared with mlGeNN), and with our neuron plus the exact
    read-out and signed-input normalisation (compared with the ANN)."""
    name = im.name
    ref = mlgenn.run_fewspike(im.model, im.x_cal, im.x, K, name=f"{name}_fewspike", **run_kw)
    ours = mlgenn.run_fewspike_with_fs_neurons(im.model, im.x_cal, im.x, K,
                                               name=f"{name}_fsbinary", **run_kw)
    fixed = mlgenn.run_fewspike_with_fs_neurons(im.model, im.x_cal, im.x, K, readout="exact",
                                                signed_norm="exact",
                                                name=f"{name}_fsbinary_exact", **run_kw)
    code = f"binary_K{K} (mlGeNN α)"
    rows = []
    for r, label, refname, agree in (
            (ref, "mlGeNN FewSpike", "Keras ANN", np.mean(ref.predictions == im.ann_pred)),
            (ours, "our FS neuron", "mlGeNN FewSpike",
             np.mean(ours.predictions == ref.predictions)),
            (fixed, "our FS neuron, exact read-out + signed-input normalisation", "Keras ANN",
             np.mean(fixed.predictions == im.ann_pred))):
        rows.append(im.row(
            f"GeNN {r.backend}: {label}", code, K, r.predictions, agree, refname,
            r.mean_spikes_per_neuron, r.latency_timesteps, r.build_seconds, r.ms_per_image,
            max_abs_logit_diff_vs_mlgenn=float(np.abs(r.logits - ref.logits).max())))
    return rows


def _load_code(cname: str, codes_dir) -> FSCode:
    """``"binary_K<k>"`` (α = 1) or the code file ``<codes_dir>/<cname>.json``."""
    if cname.startswith("binary_K"):
        return code_families.binary(int(cname[len("binary_K"):]), 1.0)
    return FSCode.load(Path(codes_dir) / f"{cname}.json")


def _timed(fn, *args, **kwargs) -> tuple[Any, float]:
    """``fn(*args, **kwargs)`` and its wall time in seconds."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _network(im: Images, cname: str, codes_dir, models_dir) -> FSNetwork:
    """The job's FS network: the model converted with code ``cname`` (analog first layer),
    or, for ``cname == "finetuned"``, with the per-layer codes of its card."""
    if cname == "finetuned":
        return finetuned_network(im.model, load_card(models_dir, im.name), im.x_cal)
    code = _load_code(cname, codes_dir)
    act = "relu" if code.activation in ("relu", "binary") else code.activation
    return convert(im.model, {act: code}, im.x_cal)


def network_rows(im: Images, net: FSNetwork, cname: str, *, progress: bool,
                 **run_kw) -> list[dict[str, Any]]:
    """``net`` (``im.model`` converted with code ``cname``) on ``im.x``: in GeNN with our FS
    neurons (compared with the event-level simulator), in the event-level simulator (compared
    with the FS-equivalent model) and as the FS-equivalent model (compared with the ANN)."""
    code = net.code
    n_neurons = sum(info.n_neurons for info in net.layers)
    name = re.sub(r"[^0-9A-Za-z_]+", "_", f"{im.name}_{cname}").strip("_")   # GeNN's folder
    g = mlgenn.run_fs_network(net, im.x, name=name, progress=progress, **run_kw)
    # GeNN delivers each step's spikes: the per-step simulator is its like-for-like reference
    s, t_sim = _timed(simulate, net, im.x, progress=progress, delivery="per_step")
    e, t_eq = _timed(net.run, im.x)
    p_sim, p_eq = s["logits"].argmax(1), e["logits"].argmax(1)
    n = len(im.y)
    g_run = {"logits": g.logits, "spikes": g.spikes, "layer_names": g.layer_names}
    return [
        im.row(f"GeNN {g.backend}: our FS neuron", cname, code.K, g.predictions,
               np.mean(g.predictions == p_sim), "event-level simulator",
               g.mean_spikes_per_neuron, g.latency_timesteps, g.build_seconds, g.ms_per_image,
               max_abs_logit_diff_vs_simulator=float(np.abs(g.logits - s["logits"]).max()),
               disagreements=disagreements(g_run, s)),
        im.row("event-level simulator (NumPy/TF)", cname, code.K, p_sim,
               np.mean(p_sim == p_eq), "FS-equivalent model",
               s["spikes"].sum(1).mean() / n_neurons, s["latency_timesteps"], None,
               1e3 * t_sim / n, disagreements=disagreements(s, e)),
        im.row("FS-equivalent Keras model", cname, code.K, p_eq, np.mean(p_eq == im.ann_pred),
               "Keras ANN", e["spikes"].sum(1).mean() / n_neurons, net.latency_timesteps, None,
               1e3 * t_eq / n)]


def _job_files(job: dict[str, Any], models_dir, codes_dir) -> list[Path]:
    """The files a job's rows depend on: its model and card, and its code file (if any)."""
    files = list(model_paths(models_dir, job["model"]))
    code = Path(codes_dir) / f"{job['code']}.json"
    return files + ([code] if code.is_file() else [])


def _cache_file(cache_dir, job: dict[str, Any], data, backend: str | None, K_binary: int,
                files: list[Path]) -> Path | None:
    """Where a job's rows are kept (None without ``cache_dir``): one file per model, code,
    GeNN backend and fingerprint of everything that shapes its rows -- the job, the SHA-256
    of the files it reads (:func:`_job_files`), the numbers of calibration and test images
    and the binary K of mlGeNN's own path."""
    if not cache_dir:
        return None
    key = [job, {f.name: sha256_file(f) for f in files}, len(data.y_calib), len(data.y_test),
           K_binary]
    return cache_file(cache_dir, f"{job['model']}__{job['code']}__"
                      f"{backend or mlgenn.default_backend()}", key)


def genn_jobs_and_reads(jobs: list[dict[str, Any]], finetuned_K, finetuned: bool,
                        models: dict[str, str], inputs) -> tuple[list[dict[str, Any]], list]:
    """Notebook 05's GeNN jobs -- ``jobs`` plus, for each K in ``finetuned_K``, notebook 04's
    fine-tuned winner at K (when ``finetuned``) -- and the files they read: those of
    ``models`` and of the networks ``finetune.json`` chose
    (:func:`helpers.studies.cifar10.study_inputs`), plus every job's model and card, under
    ``inputs`` (ProjectDirs)."""
    ft = finetuned_models(inputs, finetuned, FINETUNE_FINAL)
    if ft:
        results = read_json(inputs.results / "finetune.json")
        jobs = jobs + [{"model": m, "code": "finetuned"} for K in finetuned_K
                       if (m := final_network_at(results, K))]
    reads = study_inputs(models, inputs, ft)
    return jobs, reads + [p for j in jobs for p in model_paths(inputs.models, j["model"])]


def mlgenn_study(jobs: list[dict[str, Any]], models_dir, codes_dir, data, *, K_binary: int = 8,
                 backend: str | None = None, batch_size: int = 1,
                 cache_dir=BUILD_DIR / "mlgenn_rows", reuse: bool = True,
                 progress: bool = True) -> list[dict[str, Any]]:
    """Notebook 05's mlGeNN section: the same test images through GeNN and through our
    simulators. ``data``: a :class:`helpers.data.Splits` (calibration and test images).

    Each job is ``{"model": name, "code": c}``. ``c == "mlgenn"`` (a model without BN and
    biases): mlGeNN's own FewSpike path with binary K_binary and our neuron on its network
    (:func:`_fewspike_rows`). ``c == "finetuned"``: a fine-tuned network (notebook 04) with
    its own per-layer codes. Otherwise ``c`` is ``"binary_K<k>"`` or a code file in
    ``codes_dir``: the model converted with it (:func:`helpers.snn.convert.convert`) in GeNN,
    in the event-level simulator and as the FS-equivalent model (:func:`network_rows`).
    Rows follow data/results/mlgenn.json. With ``cache_dir`` each job's rows are kept in a
    file there, keyed by what shapes them (see :func:`_cache_file`), and re-used when
    ``reuse``, so an interrupted study resumes and a new job does not recompute the others;
    ``reuse=False`` recomputes every job.
    """
    rows: list[dict[str, Any]] = []
    for job in jobs:
        cache = _cache_file(cache_dir, job, data, backend, K_binary,
                            _job_files(job, models_dir, codes_dir))
        if reuse and cache is not None and cache.is_file():
            rows += read_json(cache)["rows"]
            continue
        im = _load_images(job["model"], models_dir, data)
        run_kw = dict(backend=backend, batch_size=batch_size, progress=progress)
        if job["code"] == "mlgenn":
            job_rows = _fewspike_rows(im, K_binary, **run_kw)
        else:
            net = _network(im, job["code"], codes_dir, models_dir)
            job_rows = network_rows(im, net, job["code"], **run_kw)
        if cache is not None:
            write_json(cache, {"job": job, "rows": job_rows})
        rows += job_rows
    return rows
