"""Notebook 05/06's CIFAR-10 studies under the validation protocol: every network converted
with every code and measured on validation images; per network, input mode and K the best
designed code is chosen there, and only the chosen codes and the fixed references are scored
on the test set. Plus the rate-coded baseline and the energy table of the headline code."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from helpers.ann.metrics import accuracy, predictions
from helpers.ann.resnet import load_card, load_model, model_paths
from helpers.data import Splits, normalize
from helpers.fs import codes as code_families
from helpers.fs.jra import jra_code
from helpers.fs.neuron import FSCode
from helpers.paths import BUILD_DIR
from helpers.results import cached, read_json, sha256_file
from helpers.selection import (UNCORRECTED_TWIN, best_code, bias_correction_targets,
                               chosen_per_K)
from helpers.snn.bias import BIAS_NOTE, bias_corrected
from helpers.snn.convert import convert
from helpers.snn.finetune import layer_codes_from_dict
from helpers.snn.network import FSNetwork
from helpers.snn.rate import rate_simulate
from helpers.snn.simulate import agreement, raster_summary, simulate
from helpers.studies.finetune import finetuned_network
from helpers.studies.rows import net_row, snn_energy, verified


def study_inputs(models: dict[str, str], inputs, finetuned: list[str] = ()) -> list:
    """The files a CIFAR-10 study reads (for its provenance): every model file and card in
    ``models`` and ``finetuned`` and every saved code of their activations, under ``inputs``
    (ProjectDirs)."""
    names = [*models.values(), *finetuned]
    reads = [p for name in names for p in model_paths(inputs.models, name)]
    return reads + [p for act in models for p in code_families.saved_code_files(act, inputs.codes)]


#: Notebook 04's results files whose fine-tuned networks notebooks 05/06 convert, each with
#: the entry naming them: the networks ``finetune.json`` chose (``final``), the longer runs,
#: the spike-budget runs and the SiLU/sigmoid runs (``runs``).
FINETUNE_FILES = {"finetune.json": "final", "finetune_long.json": "runs",
                  "finetune_budget.json": "runs", "finetune_smooth.json": "runs"}

#: Only the networks ``finetune.json`` chose (notebook 05's GeNN section).
FINETUNE_FINAL = {"finetune.json": "final"}


def finetuned_models(inputs, use: bool = True,
                     files: dict[str, str] = FINETUNE_FILES) -> list[str]:
    """The fine-tuned networks of notebook 04 named in ``files`` (results file name ->
    entry: a list of model names or of rows with ``model``) under ``inputs`` (ProjectDirs),
    in that order, each once; none when ``use`` is False. A missing file adds none and
    says so in one line."""
    if not use:
        return []
    names: list[str] = []
    for fname, key in files.items():
        path = inputs.results / fname
        if not path.is_file():
            print(f"no fine-tuned networks from {fname}: {path} not found "
                  "(run notebooks/04_fs_finetuning.ipynb)")
            continue
        names += [r if isinstance(r, str) else r["model"] for r in read_json(path)[key]]
    return list(dict.fromkeys(names))


RELU_REQUIRED = "models must name the ReLU network, e.g. {'relu': 'resnet20_relu', ...}"


def conversion_jobs(models: dict[str, str], models_dir, codes_dir, *, binary_K_list=(8,),
                    input_modes=("analog", "fs"), fs_input_K=None,
                    max_codes: int | None = None, finetuned: list[str] = (),
                    jra_specs=()) -> list[tuple[str, str, FSCode | None, str]]:
    """``(activation, model name, code, input mode)`` for every saved code of every model in
    ``models`` (:func:`helpers.fs.codes.saved_codes_for`; ReLU also the binary code at each K
    in ``binary_K_list``). ReLU networks get each input mode (the FS-encoded input only for K
    in ``fs_input_K``, if given), SiLU/sigmoid ones the analog first layer. Each fine-tuned
    network in ``finetuned`` adds one job with code None (its card holds its codes) and the
    analog first layer it was trained with. ReLU networks also get the JRA floating-point
    code, both variants, for each ``(mantissa K, elim)`` in ``jra_specs`` (analog input)."""
    jobs = [(load_card(models_dir, name)["activation"], name, None, "analog")
            for name in finetuned]
    for act, name in models.items():
        path = model_paths(models_dir, name)[0]
        if not path.is_file():
            print(f"SKIPPED {name}: {path} not found — run notebooks/01_ann_training.ipynb")
            continue
        cands = code_families.saved_codes_for(act, codes_dir)[:max_codes]
        if act == "relu":
            cands = [code_families.binary(K, 1.0) for K in binary_K_list] + cands
        for code in cands:
            modes = input_modes if act == "relu" else ["analog"]
            if fs_input_K is not None and code.K not in fs_input_K:
                modes = [m for m in modes if m != "fs"]
            jobs += [(act, name, code, mode) for mode in modes]
        if act == "relu":
            jobs += [(act, name, jra_code(K, e, 1.0, imp), "analog")
                     for K, e in jra_specs for imp in (False, True)]
    return jobs


class _Nets(Mapping):
    """Converted networks by ``(model, code name, input mode)``, each built the first time it
    is asked for (a study whose rows are cached converts only what it still measures), with
    the ``fingerprints`` (JSON) of what shapes each: model files, code, input mode, images."""

    def __init__(self):
        self._build: dict[tuple, Callable[[], FSNetwork]] = {}
        self._built: dict[tuple, FSNetwork] = {}
        self.fingerprints: dict[tuple, dict[str, Any]] = {}

    def add(self, key: tuple, build: Callable[[], FSNetwork], fingerprint: dict[str, Any]):
        """Register network ``key``: ``build()`` converts it (a network registered again
        with another fingerprint is built anew)."""
        if self.fingerprints.get(key, fingerprint) != fingerprint:
            self._built.pop(key, None)
        self._build[key], self.fingerprints[key] = build, fingerprint

    def __getitem__(self, key: tuple) -> FSNetwork:
        if key not in self._built:
            self._built[key] = self._build[key]()
        return self._built[key]

    def __iter__(self):
        return iter(self._build)

    def __len__(self) -> int:
        return len(self._build)

    @property
    def converted(self) -> int:
        """How many networks were built so far."""
        return len(self._built)


class _Models:
    """Models loaded once, with their calibration images and the ANN accuracy per split.
    Normalised images are held once per split and preprocessing (the fine-tuned networks
    share their parent's): 15,500 CIFAR-10 images are 0.76 GB in float32."""

    def __init__(self, models_dir, data: Splits):
        self.dir, self.data, self._cache, self._normalised = models_dir, data, {}, {}
        self._predictions: dict[tuple[str, str], np.ndarray] = {}
        self._fingerprints: dict[str, dict[str, str]] = {}

    def get(self, name: str):
        if name not in self._cache:
            card = load_card(self.dir, name)
            self._cache[name] = (load_model(model_paths(self.dir, name)[0]),
                                 card["preprocessing"], {}, card)
        return self._cache[name]

    def fingerprint(self, name: str) -> dict[str, str]:
        """SHA-256 of the files a row of ``name`` depends on: its model and card and those of
        the ANN its rows are compared with (a fine-tuned network's parent)."""
        if name not in self._fingerprints:
            card = load_card(self.dir, name)
            names = [name] + ([card["parent"]] if card.get("finetuned") else [])
            self._fingerprints[name] = {p.name: sha256_file(p) for n in names
                                        for p in model_paths(self.dir, n)}
        return self._fingerprints[name]

    def add_network(self, nets: "_Nets", act: str, name: str, code: FSCode | None,
                    mode: str) -> tuple[str, str, str]:
        """Register model ``name`` converted with ``code`` (:meth:`convert`) in ``nets``
        under ``(name, code name, mode)``, the key it returns; converted when first used."""
        shown = code or next(iter(layer_codes_from_dict(load_card(self.dir, name)
                                                        ["layer_codes"]).values()))
        key = (name, shown.name, mode)
        nets.add(key, partial(self.convert, name, act, code, mode),
                 {"model": self.fingerprint(name), "code": shown.to_dict() if code else None,
                  "input_mode": mode, "calib": self.data.describe()["calib"]})
        return key

    def convert(self, name: str, act: str, code: FSCode | None, mode: str) -> FSNetwork:
        """Model ``name`` converted with ``code`` (None: a fine-tuned network's own codes),
        calibrated on the calibration images."""
        model, _, _, card = self.get(name)
        x_cal = self.images(name, "calib")[0]
        if code is None:
            return finetuned_network(model, card, x_cal, input_mode=mode)
        return convert(model, {act: code}, x_cal, input_mode=mode)

    def reference_accuracy(self, name: str, split: str) -> float:
        """The ANN accuracy a row of ``name`` is compared with on ``split``: the network's
        own, or, for a fine-tuned network, its parent's (the original ANN)."""
        return self.images(self._reference(name), split)[2]

    def reference_predictions(self, name: str, split: str) -> np.ndarray:
        """The classes ``(N,)`` of :meth:`reference_accuracy`'s ANN on ``split``."""
        ref = self._reference(name)
        self.images(ref, split)
        return self._predictions[(ref, split)]

    def _reference(self, name: str) -> str:
        card = self.get(name)[3]
        return card["parent"] if card.get("finetuned") else name

    def row_info(self, name: str) -> dict[str, Any]:
        """What a results row says about its network: ``finetuned`` and, for fine-tuned
        networks, ``parent``, ``activation`` (the parent's: which network family the row
        belongs to, whichever parent it was fine-tuned from), ``lam`` and ``surrogate``."""
        card = self.get(name)[3]
        if not card.get("finetuned"):
            return {"finetuned": False}
        return {"finetuned": True, "parent": card["parent"], "activation": card["activation"],
                "lam": card["lam"], "surrogate": card["surrogate"]}

    def images(self, name: str, split: str):
        """Normalised ``(x, y)`` of ``split`` for model ``name``, and the ANN's accuracy."""
        model, pp, seen, _ = self.get(name)
        if split not in seen:
            key = (split, tuple(pp["mean"]), tuple(pp["std"]))
            if key not in self._normalised:
                x, y = self.data.images(split)
                self._normalised[key] = (normalize(x, pp["mean"], pp["std"]), y)
            x, y = self._normalised[key]
            acc = None
            if split != "calib":
                self._predictions[(name, split)] = pred = predictions(model, x)
                acc = float(np.mean(pred == y))
            seen[split] = (x, y, acc)
        return seen[split]


def conversion_study(models: dict[str, str], models_dir, codes_dir, data: Splits, *,
                     split: str = "val", n_sim: int = 0, precision: str = "fp32",
                     progress: bool = True, cache_dir=None, reuse: bool = True,
                     **job_kwargs):
    """Convert every job of :func:`conversion_jobs` (calibrated on ``data``'s calibration
    images) and measure it on the ``split`` images. With ``n_sim > 0`` the event-level
    simulator is compared with the FS-equivalent model on ``n_sim`` of those images per
    conversion. With ``cache_dir`` each conversion's row is kept there
    (:func:`helpers.results.cached`, keyed by its network's fingerprint and the images) and
    re-used when ``reuse``, so an interrupted study resumes. Returns ``(rows,
    agreement_rows, nets, loaded)``; ``nets`` (:class:`_Nets`) maps ``(model, code,
    input_mode)`` to the network, ``loaded`` holds the models and their images."""
    rows, agree, nets = [], [], _Nets()
    loaded = _Models(models_dir, data)
    for act, name, code, mode in tqdm(conversion_jobs(models, models_dir, codes_dir,
                                                      **job_kwargs),
                                      desc="conversions", disable=not progress):
        key = loaded.add_network(nets, act, name, code, mode)
        piece = _cached_row(cache_dir, reuse, nets, key, data, split,
                            partial(_split_row, nets, key, loaded, split, precision, n_sim),
                            precision=precision, n_sim=n_sim)
        rows.append(piece["row"])
        if n_sim:
            agree.append(piece["agreement"])
    return rows, agree, nets, loaded


def _cached_row(cache_dir, reuse: bool, nets: _Nets, key: tuple, data: Splits, split: str,
                compute, **settings) -> Any:
    """``compute()`` for network ``key`` on the ``split`` images, kept in ``cache_dir``
    (:func:`helpers.results.cached`) under the network's fingerprint, the images and the
    row's ``settings``."""
    return cached(cache_dir, "__".join((*key, split)),
                  {**nets.fingerprints[key], "images": data.describe()[split], **settings},
                  compute, reuse)


def _split_row(nets: _Nets, key: tuple, loaded: _Models, split: str, precision: str,
               n_sim: int = 0) -> dict[str, Any]:
    """Network ``key``'s ``row`` on the ``split`` images and, with ``n_sim``, its event-level
    ``agreement`` on the first ``n_sim`` of them."""
    name, _, mode = key
    net, (x, y, _) = nets[key], loaded.images(name, split)
    row = {**net_row(net, x, y, model_name=name, precision=precision, split=split,
                     ann_accuracy=loaded.reference_accuracy(name, split)),
           **loaded.row_info(name)}
    a = None
    if n_sim:
        a = {"model": name, "code": net.code.name, "K": net.K, "input_mode": mode,
             "split": split, **agreement(net, x[:n_sim], y[:n_sim], progress=False)}
    net.release()
    return {"row": row, "agreement": a}


def raster(loaded: _Models, model_name: str, K: int, image: int) -> dict[str, Any]:
    """Spike raster summary of validation image ``image`` through ``model_name`` converted
    with the binary code at ``K``, simulated event by event (notebook 05's raster)."""
    x = loaded.images(model_name, "val")[0][image:image + 1]
    net = loaded.convert(model_name, "relu", code_families.binary(K, 1.0), "analog")
    sim = simulate(net, x, raster_image=0, progress=False)
    return raster_summary(net, sim, image, model=model_name, code=f"binary_K{K}")


def bias_twins(val_rows: list[dict], nets: _Nets, loaded: _Models, *, bias_images: int,
               estimator: str = "median", precision: str = "fp32",
               energy_budget: float | None = None, progress: bool = True, cache_dir=None,
               reuse: bool = True) -> list[dict[str, Any]]:
    """Validation rows of the networks :func:`~helpers.selection.bias_correction_targets`
    picks among ``val_rows`` (best designed code per K, headline, within the energy budget),
    again with empirical bias correction (:func:`helpers.snn.bias.bias_corrected`) on their
    model's first ``bias_images`` calibration images by ``estimator``. Their ``code`` adds
    :data:`~helpers.snn.bias.BIAS_NOTE`; the corrected networks join ``nets`` under it.
    ``cache_dir``, ``reuse``: as in :func:`conversion_study`."""
    if not 0 < bias_images <= len(loaded.data.y_calib):
        raise ValueError(f"bias_images={bias_images} must be 1..{len(loaded.data.y_calib)}, "
                         "the calibration images. Fix: lower it or raise n_calib")
    rows = []
    for v in tqdm(bias_correction_targets(val_rows, energy_budget=energy_budget),
                  desc="bias correction", disable=not progress):
        model, mode = v["model"], v["input_mode"]
        base, key = (model, v["code"], mode), (model, v["code"] + BIAS_NOTE, mode)
        nets.add(key, partial(_corrected, nets, base, loaded, bias_images, estimator),
                 {**nets.fingerprints[base], "bias": [bias_images, estimator]})
        piece = _cached_row(cache_dir, reuse, nets, key, loaded.data, "val",
                            partial(_split_row, nets, key, loaded, "val", precision),
                            precision=precision, n_sim=0)
        rows.append({**piece["row"], "code": key[1], "bias_images": bias_images,
                     "bias_estimator": estimator})
    return rows


def _corrected(nets: _Nets, base: tuple, loaded: _Models, bias_images: int, estimator: str
               ) -> FSNetwork:
    x_cal = loaded.images(base[0], "calib")[0]
    return bias_corrected(nets[base], x_cal[:bias_images], estimator)


def score_on_test(val_rows: list[dict], nets: _Nets, loaded: _Models, *,
                  precision: str = "fp32", n_verify: int = 0, n_verify_reference: int = 0,
                  energy_budget: float | None = None, progress: bool = True, cache_dir=None,
                  reuse: bool = True) -> list[dict[str, Any]]:
    """Test-set rows of what was chosen on the validation rows (:func:`chosen_per_K`): per
    network, input mode and K the best designed code and the reference codes (and the best
    code within ``energy_budget``, an SNN/ANN energy ratio). With
    ``n_verify``, each headline row (:func:`is_headline`) is also simulated event by event on
    the first ``n_verify`` test images, every other reference row on the first
    ``n_verify_reference`` (:func:`helpers.studies.rows.verified`). A chosen headline code
    with bias correction (:func:`bias_twins`) is scored also without it, for comparison
    (``chosen_on`` :data:`~helpers.selection.UNCORRECTED_TWIN`, not simulated).
    ``cache_dir``, ``reuse``: as in :func:`conversion_study`."""
    jobs = []
    for v in chosen_per_K(val_rows, energy_budget=energy_budget):
        jobs.append((v, v["code"], v["chosen_on"],
                     n_verify if is_headline(v) else n_verify_reference))
        if v.get("bias_images") and v["chosen_on"].endswith("(best_code)"):
            jobs.append((v, v["code"].removesuffix(BIAS_NOTE), UNCORRECTED_TWIN, 0))
    out = []
    for v, code, chosen_on, n in tqdm(jobs, desc="test set", disable=not progress):
        key = (v["model"], code, v["input_mode"])
        out.append(_cached_row(cache_dir, reuse, nets, key, loaded.data, "test",
                               partial(_test_row, v, code, nets, loaded, precision,
                                       chosen_on, n),
                               precision=precision, n_verify=n, chosen_on=chosen_on))
    return out


def _test_row(v: dict, code: str, nets: _Nets, loaded: _Models, precision: str,
              chosen_on: str, n_verify: int) -> dict[str, Any]:
    """The test row of network ``(v's model, code, v's input mode)``, simulated event by
    event on the first ``n_verify`` test images."""
    x, y, _ = loaded.images(v["model"], "test")
    net = nets[(v["model"], code, v["input_mode"])]
    row = net_row(net, x, y, model_name=v["model"], precision=precision, split="test",
                  ann_accuracy=loaded.reference_accuracy(v["model"], "test"),
                  ann_predictions=loaded.reference_predictions(v["model"], "test"))
    bias = {k: v[k] for k in ("bias_images", "bias_estimator") if code == v["code"] and k in v}
    row = {**row, **loaded.row_info(v["model"]), "code": code, **bias, "chosen_on": chosen_on,
           **_verified(net, x, y, n_verify)}
    net.release()
    return row


def is_headline(row: dict[str, Any]) -> bool:
    """Whether a test row is a headline row: chosen on validation images (a network's best
    code at its K, its headline code, a fine-tuned network) or the binary K = 8 reference."""
    return (not row["chosen_on"].startswith("reference")
            or (row["family"] == "binary" and row["K"] == 8))


def _verified(net, x, y, n: int) -> dict[str, Any]:
    return verified(net, x[:n], y[:n]) if n else {}


def rate_rows(net: FSNetwork, model_name: str, loaded: _Models, T_list, configs, n_rate: int,
              seed: int = 0) -> list[dict[str, Any]]:
    """Rate-coded baseline rows (``method == "rate"``) for one network: one per
    (normalisation, input) in ``configs`` and T in ``T_list``, on the first ``n_rate`` test
    images (a fixed baseline, nothing is chosen), using ``net``'s BN-folded graph."""
    x_cal = loaded.images(model_name, "calib")[0]
    x, y, _ = loaded.images(model_name, "test")
    x, y = x[:n_rate], y[:n_rate]
    ann_acc = accuracy(net.ann, x, y)
    rows = []
    for norm, inp in configs:
        for r in rate_simulate(net, x, y, T_list, x_cal, norm=norm, input_mode=inp, seed=seed):
            rows.append({"model": model_name, "method": "rate", "code": f"rate_{norm}_{inp}",
                         "family": "rate", "K": None, "T": r["T"], "input_mode": inp,
                         "scale": norm, "split": "test", "ann_accuracy": ann_acc,
                         "snn_accuracy": r["accuracy"],
                         "accuracy_gap_pp": 100 * (ann_acc - r["accuracy"]),
                         "mean_spikes_per_neuron": r["mean_spikes_per_neuron"],
                         "input_spikes_per_pixel": r["input_spikes_per_pixel"],
                         "latency_timesteps": r["T"], "energy_ratio": None, "n_test": r["n"]})
    return rows


def cifar10_study(models: dict[str, str], inputs, data: Splits, *, binary_K_list, input_modes,
                  fs_input_K, max_codes, rate_T, rate_configs, n_rate: int,
                  precision: str = "fp32", seed: int = 0, finetuned: list[str] = (),
                  n_verify: int = 0, n_verify_reference: int = 0, jra_specs=(),
                  energy_budget: float | None = None, bias_images: int = 0,
                  bias_estimator: str = "median", cache_dir=BUILD_DIR / "cifar10_rows",
                  reuse: bool = True) -> dict[str, Any]:
    """Notebook 06's computation: every FS conversion (post-hoc codes, the JRA floating-point
    codes of ``jra_specs`` and the fine-tuned networks of ``finetuned``) on the validation
    images, the chosen ones on the test images,
    the rate-coded baseline, and the per-layer energy table of the headline code
    (:func:`helpers.selection.best_code` on the ReLU network's validation rows, measured on
    the test set). Headline test rows are checked event by event on ``n_verify`` test images,
    the other references on ``n_verify_reference`` (:func:`score_on_test`); ``energy_budget``
    adds each network's best code within that SNN/ANN energy ratio. With ``bias_images``,
    the designed codes chosen so are validated again with empirical bias correction on that
    many calibration images (:func:`bias_twins`) and compete in the choice. Every row is
    kept in ``cache_dir`` as it is measured and re-used when ``reuse`` (an interrupted study
    resumes; None: nothing kept). Returns cifar10.json's dict (without its provenance)."""
    keep = dict(cache_dir=cache_dir, reuse=reuse)
    val, _, nets, loaded = conversion_study(
        models, inputs.models, inputs.codes, data, split="val", precision=precision,
        binary_K_list=binary_K_list, input_modes=input_modes, fs_input_K=fs_input_K,
        max_codes=max_codes, finetuned=finetuned, jra_specs=jra_specs, **keep)
    if bias_images:
        val += bias_twins(val, nets, loaded, bias_images=bias_images, estimator=bias_estimator,
                          precision=precision, energy_budget=energy_budget, **keep)
    test = score_on_test(val, nets, loaded, precision=precision, n_verify=n_verify,
                         n_verify_reference=n_verify_reference, energy_budget=energy_budget,
                         **keep)
    relu = models.get("relu")
    rate = []
    if relu and (key := next((k for k in nets if k[0] == relu), None)):
        rate = cached(cache_dir, f"{relu}__rate",
                      {"model": loaded.fingerprint(relu), "calib": data.describe()["calib"],
                       "images": data.describe()["test"], "n_rate": n_rate, "T": rate_T,
                       "configs": rate_configs, "seed": seed},
                      lambda: rate_rows(nets[key], relu, loaded, rate_T, rate_configs, n_rate,
                                        seed=seed), reuse)
    pick = best_code([r for r in val if r["model"] == relu and r["input_mode"] == "analog"
                      and not r.get("finetuned")])
    return {"splits": data.describe(), "n_test": int(len(data.y_test)),
            "n_val": int(len(data.y_val)), "n_rate": n_rate, "n_calib": int(len(data.y_calib)),
            "precision": precision, "energy_budget": energy_budget, "seed": seed,
            "bias_images": bias_images, "bias_estimator": bias_estimator,
            "rows": val + test + rate, "energy": _headline_energy(pick, test, nets, precision)}


def _headline_energy(pick: dict | None, test: list[dict], nets: _Nets, precision: str
                     ) -> dict[str, Any]:
    """The per-layer energy table of the headline code ``pick`` (a validation row) from its
    analog-input test row; empty without one."""
    if pick is None:
        return {}
    key = (pick["model"], pick["code"], "analog")
    row = next(r for r in test if (r["model"], r["code"], r["input_mode"]) == key)
    table, ratio = snn_energy(nets[key], row["synops_per_layer"], precision)
    return {"code": pick["code"], "ratio": ratio, "precision": precision, "split": "test",
            "table": table.to_dict(orient="records")}
