"""FS-aware fine-tuning runs (notebook 04): a committed network fine-tuned with the FS neurons
of one code in the loop (:mod:`helpers.snn.finetune`), through the resumable, re-usable
training loop of :func:`helpers.ann.training.train_or_load`.

A run is a :class:`helpers.ann.training.TrainConfig` whose ``extra["fs"]`` names the code (and
the SHA-256 of its file), K, the spike price λ, the surrogate gradient, whether codes and
scales train, and the calibration images; ``init_from`` is the parent network. The saved model
is the fine-tuned network, BN folded, as a plain Keras model; its card adds ``finetuned``,
``parent``, ``code``, ``K``, ``lam``, ``surrogate`` and ``layer_codes`` (the trained code of
every FS layer, in the layer's units), which :func:`finetuned_network` hands to the converter.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from helpers.ann.resnet import load_card, load_model, model_paths
from helpers.ann.training import TrainConfig, compile_sgd, reusable_card, train_or_load
from helpers.data import normalize
from helpers.fs import codes as code_families
from helpers.fs.neuron import FSCode
from helpers.paths import BUILD_DIR
from helpers.results import sha256_file
from helpers.selection import best_finetuned
from helpers.snn.convert import convert
from helpers.snn.finetune import (
    SURROGATES,
    fs_trainer,
    finetuned_export,
    layer_codes_from_dict,
    layer_codes_to_dict,
)
from helpers.snn.network import FSNetwork


def run_code(code_name: str, codes_dir) -> tuple[FSCode, str | None]:
    """The starting code of a run and the SHA-256 of its file: ``binary_K<K>`` is generated
    (:func:`helpers.fs.codes.binary`, no file), any other name is read from ``codes_dir``."""
    if code_name.startswith("binary_K") and code_name[8:].isdigit():
        return code_families.binary(int(code_name[8:]), 1.0), None
    path = Path(codes_dir) / f"{code_name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"code {code_name!r}: {path} does not exist. Fix: name a code "
                                "saved by notebooks 02/03 or binary_K<K>")
    return FSCode.load(path), sha256_file(path)


def check_finetune_parameters(K_list, K_sweep: int, lambdas, surrogates, n_train: int) -> None:
    """Notebook 04's parameter checks (:func:`helpers.notebooks.check_parameters`)."""
    from helpers.notebooks import check_parameters

    check_parameters([
        (K_sweep in K_list, f"K_sweep={K_sweep} must be one of K_list={K_list}"),
        (len(lambdas) > 0 and min(lambdas) >= 0,
         f"lambdas={lambdas}: give at least one price >= 0"),
        (len(surrogates) > 0 and set(surrogates) <= set(SURROGATES),
         f"surrogates={surrogates}: choose from {SURROGATES}"),
        (0 < n_train <= 45000, f"n_train={n_train} must be in 1..45000 (the rest validates)"),
    ])


def finetune_config(parent: str, code_name: str, codes_dir, *, lam: float, surrogate: str,
                    epochs: int, max_lr: float, seed: int, train_code: bool = False,
                    n_calib: int = 500, percentile: float = 99.9, n_train: int = 45_000,
                    batch_size: int = 128, spike_target: float | None = None,
                    distill: float = 0.0, temperature: float = 4.0) -> TrainConfig:
    """The config of one fine-tuning run of ``parent`` with the code ``code_name``, named
    ``<parent>_ft_K<K>_<code>_lam<λ>_<surrogate>[_codes][_e<epochs>][_s<target>][_kd<β>]``
    (``_e``: more than one epoch; ``_s``: the spike price applies above ``spike_target``
    spikes per neuron; ``_kd``: distilled from the parent's logits with weight ``distill`` at
    ``temperature``; see :class:`helpers.snn.finetune.FSTrainer`)."""
    if surrogate not in SURROGATES:
        raise ValueError(f"surrogate must be one of {SURROGATES}, got {surrogate!r}")
    if not lam >= 0:
        raise ValueError(f"the spike price lam must be >= 0, got {lam!r}")
    code, sha = run_code(code_name, codes_dir)
    name = (f"{parent}_ft_K{code.K}_{code_name}_lam{lam:g}_{surrogate}"
            + ("_codes" if train_code else "") + (f"_e{epochs}" if epochs != 1 else "")
            + (f"_s{spike_target:g}" if spike_target is not None else "")
            + (f"_kd{distill:g}" if distill else ""))
    fs = {"code": code_name, "code_sha256": sha, "K": code.K, "lam": float(lam),
          "surrogate": surrogate, "train_code": train_code, "train_scale": True,
          "n_calib": n_calib, "percentile": percentile, **_budget(spike_target, distill,
                                                                  temperature)}
    return TrainConfig(name=name, activation=code.activation, epochs=epochs,
                       batch_size=batch_size, max_lr=max_lr, l2=0.0, seed=seed,
                       batchnorm=False, n_train=n_train, init_from=parent,
                       extra={"recipe": f"FS-aware fine-tuning of {parent} (BN folded)",
                              "fs": fs})


def _budget(spike_target: float | None, distill: float, temperature: float) -> dict[str, Any]:
    """The spike-budget options of a run, only those that are set (so the configs, names and
    cards of runs without them stay as they were)."""
    out: dict[str, Any] = {}
    if spike_target is not None:
        out["spike_target"] = float(spike_target)
    if distill:
        out.update(distill=float(distill), temperature=float(temperature))
    return out


BUDGET_KEYS = ("spike_target", "distill", "temperature")


class _Run:
    """The build and export steps of one fine-tuning run (they share the converted parent)."""

    def __init__(self, cfg: TrainConfig, data, codes_dir):
        self.cfg, self.data, self.codes_dir = cfg, data, codes_dir
        self.net: FSNetwork | None = None

    def build(self, cfg: TrainConfig, steps: int, models_dir) -> tf.keras.Model:
        fs = cfg.extra["fs"]
        tf.keras.utils.set_random_seed(cfg.seed)
        parent = load_model(model_paths(models_dir, cfg.init_from)[0])
        pp = load_card(models_dir, cfg.init_from)["preprocessing"]
        x_calib = normalize(self.data.x_train[:fs["n_calib"]], pp["mean"], pp["std"])
        code, _ = run_code(fs["code"], self.codes_dir)
        self.net = convert(parent, {code.activation: code}, x_calib,
                           percentile=fs["percentile"])
        budget = {k: fs[k] for k in BUDGET_KEYS if k in fs}
        if fs.get("distill"):
            budget["teacher"] = parent                   # the original ANN's logits
        trainer = fs_trainer(self.net, surrogate=fs["surrogate"], train_code=fs["train_code"],
                             train_scale=fs["train_scale"], lam=fs["lam"], **budget)
        return compile_sgd(trainer, cfg, steps)

    def export(self, trainer) -> tuple[tf.keras.Model, dict[str, Any]]:
        model, codes = finetuned_export(trainer, self.net)
        fs = self.cfg.extra["fs"]
        return model, {
            "finetuned": True, "parent": self.cfg.init_from, "code": fs["code"], "K": fs["K"],
            "family": code_families.code_family(self.net.code),
            "lam": fs["lam"], "surrogate": fs["surrogate"], "train_code": fs["train_code"],
            **{k: fs[k] for k in BUDGET_KEYS if k in fs},
            "architecture": "ResNet-20 (width 16), BN folded into the convolutions' biases, "
                            "FS neurons in the loop",
            "accuracy_is": "FS-equivalent network (exact FS forward pass)",
            "layer_codes": layer_codes_to_dict(codes)}


def finetune_or_load(cfg: TrainConfig, data, models_dir, codes_dir, *, reuse: bool = True,
                     progress: bool = True, checkpoints=BUILD_DIR / "checkpoints"
                     ) -> dict[str, Any]:
    """The card of run ``cfg`` (:func:`finetune_config`): its saved card when ``reuse`` and it
    records exactly ``cfg`` and the parent file it started from (SHA-256), else the run is
    trained on ``data`` (a :class:`helpers.data.Cifar10`, or a function returning one: called
    only then) and saved; an interrupted run resumes from its epoch checkpoint
    (``checkpoints/<name>``)."""
    card = reusable_card(cfg, models_dir, reuse)
    parent_sha = sha256_file(model_paths(models_dir, cfg.init_from)[0])
    if card is not None and card["init_from"]["sha256"] == parent_sha:
        return card
    if card is not None:
        print(f"retraining {cfg.name}: its parent {cfg.init_from} changed (SHA-256 "
              f"{card['init_from']['sha256'][:12]}… -> {parent_sha[:12]}…)")
    data = data() if callable(data) else data
    # Keras' global state (graphs, name counters) otherwise grows run by run in one kernel:
    # notebook 04's ~20 runs reached 16.7 GB; the previous runs' models are not used again.
    tf.keras.backend.clear_session()
    gc.collect()
    run = _Run(cfg, data, codes_dir)
    return train_or_load(cfg, data, models_dir=models_dir, reuse=False, progress=progress,
                         checkpoint_dir=Path(checkpoints) / cfg.name, build=run.build,
                         export=run.export)[1]


def run_row(card: dict[str, Any]) -> dict[str, Any]:
    """One row of notebook 04's table from a fine-tuned model's card (validation numbers:
    the last epoch's FS-equivalent accuracy and mean spikes per neuron; ``spike_target``
    None and ``distill`` 0 for runs with neither)."""
    h = card["history"]
    return {"model": card["name"], "parent": card["parent"], "code": card["code"],
            "family": card["family"],
            "K": card["K"], "lam": card["lam"], "surrogate": card["surrogate"],
            "train_code": card["train_code"], "epochs": card["epochs"],
            "val_accuracy": h["val_accuracy"][-1],
            "val_spikes_per_neuron": h["val_spikes_per_neuron"][-1],
            "n_train": card["n_train"], "n_val": card["n_val"],
            "train_minutes": round(card["train_seconds"] / 60, 1),
            "spike_target": card.get("spike_target"), "distill": card.get("distill", 0.0)}


def finetuned_network(model: tf.keras.Model, card: dict[str, Any], x_calib: np.ndarray,
                      **convert_kwargs) -> FSNetwork:
    """The FS network of a fine-tuned model: converted with its card's per-layer codes."""
    codes = layer_codes_from_dict(card["layer_codes"])
    first = next(iter(codes.values()))
    return convert(model, {card["activation"]: first}, x_calib, layer_codes=codes,
                   **convert_kwargs)


def finetune_study(parent: str, designed: dict[int, str], data, models_dir, codes_dir, *,
                   K_list, K_sweep: int, lambdas, surrogates, max_spikes: float | None,
                   epochs: int, max_lr: float, n_calib: int, seed: int,
                   n_train: int = 45_000, train_code: bool = False, reuse: bool = True,
                   progress: bool = True, checkpoints=BUILD_DIR / "checkpoints"
                   ) -> dict[str, Any]:
    """Notebook 04's runs, every choice on validation images (:func:`best_finetuned`):

    1. at ``K_sweep``, the designed code ``designed[K_sweep]`` with each spike price in
       ``lambdas`` (surrogate ``surrogates[0]``) -> the chosen λ;
    2. at ``K_sweep`` and that λ, every other surrogate -> the chosen surrogate;
    3. at each K in ``K_list`` (``K_sweep`` first): the binary code and ``designed[K]`` with
       the chosen λ and surrogate -- the fine-tuned networks notebooks 05/06 convert and
       evaluate.

    ``train_code``: the codes' h, T and d train too (per layer). ``data``: a
    :class:`helpers.data.Cifar10` whose first ``n_train`` training images train
    and the rest validate (:func:`helpers.data.load_training_view`), or a function returning
    one (called only when a run is not re-used). Returns ``runs`` (a row per run, :func:`run_row`, with its ``role``),
    ``lam``, ``surrogate`` and ``final`` (the step-3 model names).
    """
    rows: dict[str, dict[str, Any]] = {}
    settings = dict(epochs=epochs, max_lr=max_lr, seed=seed, n_calib=n_calib, n_train=n_train,
                    train_code=train_code, reuse=reuse, progress=progress,
                    checkpoints=checkpoints)

    def run(code: str, lam: float, surrogate: str, role: str) -> dict[str, Any]:
        return _run_once(rows, parent, code, data, models_dir, codes_dir, lam=lam,
                         surrogate=surrogate, role=role, **settings)

    sweep = [run(designed[K_sweep], lam, surrogates[0], "spike price") for lam in lambdas]
    lam = best_finetuned(sweep, max_spikes)["lam"]
    compare = [r for r in sweep if r["lam"] == lam]
    compare += [run(designed[K_sweep], lam, s, "surrogate") for s in surrogates[1:]]
    surrogate = best_finetuned(compare, max_spikes)["surrogate"]
    order = sorted(K_list, key=lambda K: (K != K_sweep, K))     # K_sweep first
    final = [run(code, lam, surrogate, "final")["model"]
             for K in order for code in (f"binary_K{K}", designed[K])]
    for name in final:
        rows[name]["final"] = True
    return {"runs": list(rows.values()), "lam": lam, "surrogate": surrogate, "final": final}


def _run_once(rows: dict[str, dict[str, Any]], parent: str, code: str, data, models_dir,
              codes_dir, *, lam: float, surrogate: str, role: str, reuse: bool,
              progress: bool, checkpoints, **config) -> dict[str, Any]:
    """The row of the run of ``parent`` with ``code`` (trained or re-used, once per name in
    ``rows``, where it is kept with its ``role``; ``config``: :func:`finetune_config`'s)."""
    cfg = finetune_config(parent, code, codes_dir, lam=lam, surrogate=surrogate, **config)
    if cfg.name not in rows:
        card = finetune_or_load(cfg, data, models_dir, codes_dir, reuse=reuse,
                                progress=progress, checkpoints=checkpoints)
        rows[cfg.name] = {**run_row(card), "role": role, "final": False}
    return rows[cfg.name]


def finetune_runs(jobs: list[tuple[str, str, float]], data, models_dir, codes_dir, *,
                  role: str, surrogate: str, epochs: int, max_lr: float, n_calib: int,
                  seed: int, n_train: int = 45_000, train_code: bool = False,
                  reuse: bool = True, progress: bool = True,
                  checkpoints=BUILD_DIR / "checkpoints", **budget) -> list[dict[str, Any]]:
    """Fine-tuning runs beyond :func:`finetune_study`'s, one per ``(parent, code, λ)`` in
    ``jobs`` -- e.g. the SiLU/sigmoid networks from an offset-folded pair of notebook 03 with
    the λ and surrogate chosen on the ReLU network, or longer runs at high spike prices.
    ``budget``: :func:`finetune_config`'s ``spike_target``, ``distill`` and ``temperature``.
    ``data`` as for :func:`finetune_study`. Returns a row per run (:func:`run_row`, with
    ``role``) with the test accuracy its card records (scored once, at the end of the run)."""
    rows: dict[str, dict[str, Any]] = {}
    for parent, code, lam in jobs:
        row = _run_once(rows, parent, code, data, models_dir, codes_dir, lam=lam,
                        surrogate=surrogate, role=role, epochs=epochs, max_lr=max_lr,
                        seed=seed, n_calib=n_calib, n_train=n_train, train_code=train_code,
                        reuse=reuse, progress=progress, checkpoints=checkpoints, **budget)
        row["test_accuracy"] = load_card(models_dir, row["model"])["test_accuracy"]
    return list(rows.values())


def spike_budget_runs(parent: str, code: str, data, models_dir, codes_dir, *,
                      lambdas: list[float], distills: list[float], spike_target: float,
                      epochs: int, long_epochs: int | None, max_spikes: float | None,
                      code_training: bool = False, **settings) -> list[dict[str, Any]]:
    """Notebook 04's spike-budget runs of ``parent`` with ``code``: each price λ in
    ``lambdas`` (paid only above ``spike_target`` spikes per neuron) with each distillation
    weight β in ``distills``, ``epochs`` epochs each; with ``code_training``, the run
    :func:`best_finetuned` keeps on validation images within ``max_spikes`` again with
    ``epochs`` epochs and trainable codes (h, T, d of every layer); then whichever of these
    two the same rule keeps again with ``long_epochs`` epochs (its λ, β and code training;
    ``None``: no longer run). ``settings``: :func:`finetune_runs`' other keywords
    (surrogate, max_lr, n_calib, seed, train_code, ...). Rows as :func:`finetune_runs`',
    role "spike budget", in the order they ran."""
    def runs(jobs, n_epochs, beta, **extra):
        return finetune_runs(jobs, data, models_dir, codes_dir, role="spike budget",
                             epochs=n_epochs, spike_target=spike_target, distill=beta,
                             **{**settings, **extra})

    rows = [row for beta in distills
            for row in runs([(parent, code, lam) for lam in lambdas], epochs, beta)]
    best, extra = best_finetuned(rows, max_spikes), {}
    if best is None:
        return rows
    if code_training and not settings.get("train_code"):
        coded = runs([(parent, code, best["lam"])], epochs, best["distill"], train_code=True)
        rows += coded
        if best_finetuned([best, *coded], max_spikes) is not best:
            best, extra = coded[0], {"train_code": True}
    if long_epochs is not None and long_epochs != epochs:
        rows += runs([(parent, code, best["lam"])], long_epochs, best["distill"], **extra)
    return rows


def smooth_inputs(starts: dict[str, str], budget_starts: dict[str, str], models_dir,
                  codes_dir) -> list[Path]:
    """The files notebook 04's SiLU/sigmoid runs read (for their provenance): each network's
    model and card and each start code's file, once each. ``starts``/``budget_starts``:
    network -> start code (:func:`helpers.selection.smooth_start_codes`)."""
    nets = dict.fromkeys([*starts, *budget_starts])
    codes = dict.fromkeys([*starts.values(), *budget_starts.values()])
    return [*(p for m in nets for p in model_paths(models_dir, m)),
            *(Path(codes_dir) / f"{c}.json" for c in codes)]


def smooth_runs(starts: dict[str, str], budget_starts: dict[str, str], budget: dict[str, Any],
                data, models_dir, codes_dir, *, lam: float, epochs: int,
                **settings) -> list[dict[str, Any]]:
    """Notebook 04's SiLU/sigmoid runs: each network of ``starts`` from its start code at the
    price ``lam`` for ``epochs`` epochs (role "smooth network"); then each of
    ``budget_starts`` with ``budget``'s spike budget -- price ``budget["lam"]`` above
    ``budget["target"]`` spikes per neuron, distillation weight ``budget["distill"]``,
    ``budget["epochs"]`` epochs -- once per distinct entry of ``budget["train_codes"]``
    (default ``[False]``; True: the codes' h, T, d train too; False: as
    ``settings["train_code"]``), role "smooth spike budget". ``settings``:
    :func:`finetune_runs`' other keywords (surrogate, max_lr, n_calib, seed, train_code, ...).
    Rows as :func:`finetune_runs`', in the order they ran."""
    rows = finetune_runs([(m, c, lam) for m, c in starts.items()], data, models_dir,
                         codes_dir, role="smooth network", epochs=epochs, **settings)
    for coded in dict.fromkeys(tc or settings.get("train_code", False)
                               for tc in budget.get("train_codes", [False])):
        rows += finetune_runs([(m, c, budget["lam"]) for m, c in budget_starts.items()],
                              data, models_dir, codes_dir, role="smooth spike budget",
                              epochs=budget["epochs"], spike_target=budget["target"],
                              distill=budget["distill"], **{**settings, "train_code": coded})
    return rows


def final_network_at(results: dict[str, Any], K: int) -> str | None:
    """The K = ``K`` winner of notebook 04's ``finetune.json`` (``results``): among the final
    fine-tuned networks at K, the one :func:`helpers.selection.best_finetuned` keeps on
    validation images within the recorded ``max_spikes``; None if there is none."""
    finals = [r for r in results["runs"] if r["final"] and r["K"] == K]
    best = best_finetuned(finals, results.get("max_spikes"))
    return None if best is None else best["model"]
