"""Poster panels and headline numbers, drawn only from committed files.

Every panel reads ``data/results/*.json``, ``data/codes/*.json`` or model cards -- never
recomputes a result -- and is a function ``panel_<name>(src, fig)`` that draws into ``fig``
or raises :class:`MissingResults` naming the file it lacks. :func:`draw_panels` writes each
panel to ``figures/poster/<name>.{png,pdf}`` and reports which were skipped;
:func:`headline_numbers` reads the numbers the poster quotes. The A0 page itself is
:mod:`helpers.report.poster_page`.

Which images a number comes from: CIFAR-10 rows carry ``split`` -- "val" (every code, on
validation images) or "test" (only what was chosen on the validation rows); a row without
``split`` (files written before splits were recorded) counts as a test row. Panels that
compare every code draw the validation rows where there are any; the headline quotes the
test row of the code :func:`helpers.selection.best_code` picks on the validation rows
(:func:`helpers.selection.chosen_test_row`). ImageNet rows are all on the evaluation images of the sample.

The ReLU network (the accuracy-vs-spikes panel and the CIFAR-10 headline) is, in this order:
``relu_model`` as passed to :func:`draw_panels` / :func:`headline_numbers` /
:func:`make_poster`; notebook 06's ``models["relu"]`` as recorded in cifar10.json's
provenance; :data:`DEFAULT_RELU_MODEL`. A results file without rows of it is an error
(:class:`PosterError`), not a silent choice of another network.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.fs.neuron import FSCode
from helpers.report.panels import (
    CIFAR10_ANCHORS,
    plot_accuracy_vs_K,
    plot_accuracy_vs_spikes,
    plot_approximation,
    plot_energy,
    plot_error_vs_K,
    plot_finetune_pareto,
    plot_fs_trace,
    plot_pareto,
    plot_raster_summary,
    split_label,
)
from helpers.report.style import ACTIVATION_LABELS, code_label, model_label, savefig, set_style
from helpers.results import read_json
from helpers.selection import best_code, chosen_test_row, split_of

#: The network per activation when neither the caller nor cifar10.json's provenance names
#: one (the names notebook 01 gives them).
DEFAULT_MODELS = {"relu": "resnet20_relu", "silu": "resnet20_silu_from_relu_45k",
                  "sigmoid": "resnet20_sigmoid_from_relu_45k"}
DEFAULT_RELU_MODEL = DEFAULT_MODELS["relu"]

#: Resolution of the panel PNGs (dots per inch). The poster PDF embeds each panel at 100 px
#: per inch of the A0 page, and a panel is shown at most 0.94 * 33.1 in / 20 in = 1.56 times
#: its drawn size (the widest panels alone in a row), so 160 dpi keeps every pixel the poster
#: shows; the panel PDFs are vector graphics for print.
PANEL_DPI = 160

class MissingResults(FileNotFoundError):
    """A panel's input file does not exist (yet)."""


class PosterError(ValueError):
    """The results files do not hold what the poster is configured to show."""


@dataclass(frozen=True)
class Sources:
    """Where the panels read from: ``<root>/data/{results,codes,models}``; each results file
    is read once. ``relu_model``: the ReLU network to show (None: see the module docstring)."""

    root: Path
    relu_model: str | None = None
    _read: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def result(self, name: str) -> dict[str, Any]:
        """The parsed ``data/results/<name>.json`` (shared between callers: do not modify)."""
        if name not in self._read:
            path = self.root / "data" / "results" / f"{name}.json"
            if not path.is_file():
                raise MissingResults(f"{path} not found (written by the notebook that produces "
                                     f"{name}.json; see the README table)")
            self._read[name] = read_json(path)
        return self._read[name]

    def code(self, name: str) -> FSCode:
        path = self.root / "data" / "codes" / f"{name}.json"
        if not path.is_file():
            raise MissingResults(f"{path} not found (written by notebooks 02/03)")
        return FSCode.load(path)

    def network(self, activation: str) -> str | None:
        """The network notebook 06 evaluated for ``activation`` (cifar10.json's provenance,
        ``models``; else :data:`DEFAULT_MODELS`)."""
        recorded = (self.result("cifar10").get("provenance") or {}).get("params", {})
        return recorded.get("models", DEFAULT_MODELS).get(activation)

    def relu(self, models: Iterable[str]) -> str:
        """The ReLU network's name (see the module docstring); :class:`PosterError` when it
        is not among ``models`` (the networks of cifar10.json's FS rows)."""
        recorded = (self.result("cifar10").get("provenance") or {}).get("params", {})
        name = self.relu_model or recorded.get("models", {}).get("relu") or DEFAULT_RELU_MODEL
        models = list(dict.fromkeys(models))
        if name not in models:
            raise PosterError(f"cifar10.json has no FS rows of the ReLU network {name!r} (its "
                              f"networks: {models}). Fix: pass relu_model=<one of them> to "
                              "draw_panels / headline_numbers / make_poster, or re-run "
                              f"notebook 06 with models['relu'] = {name!r}")
        return name


def _with_split(rows: pd.DataFrame, missing: str = "test") -> pd.DataFrame:
    """``rows`` with a ``split`` column (rows without one: ``missing``)."""
    split = rows["split"].fillna(missing) if "split" in rows else missing
    return rows.assign(split=split)


def compared_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows a panel that compares every code draws: the validation rows where ``rows``
    has any, else its test rows."""
    val = rows[rows.split == "val"]
    return val if len(val) else rows[rows.split == "test"]


def finetuned_mask(rows: pd.DataFrame) -> pd.Series:
    """Which rows are fine-tuned networks (``finetuned`` is True; files written before the
    flag existed: none)."""
    return rows["finetuned"].eq(True) if "finetuned" in rows else \
        pd.Series(False, index=rows.index)


def is_finetuned_of(row: Mapping[str, Any], activation: str) -> bool:
    """Whether one results row is a fine-tuned network of the ``activation`` family (the
    rule of :func:`finetuned_of`, for a row as a mapping)."""
    return bool(row.get("finetuned")) and row.get("activation") == activation


def finetuned_of(rows: pd.DataFrame, activation: str) -> pd.Series:
    """Which rows are fine-tuned networks of the ``activation`` family -- from whichever
    parent (notebook 04 fine-tunes a ReLU network trained on 45,000 images only, not the
    post-hoc codes' network)."""
    if "activation" not in rows:
        return pd.Series(False, index=rows.index)
    return finetuned_mask(rows) & rows["activation"].eq(activation)


def _fs_rows(src: Sources, with_finetuned: bool = False) -> pd.DataFrame:
    """The cifar10.json rows, with ``split`` (missing: "test"); the fine-tuned networks'
    rows (notebook 04) only ``with_finetuned``."""
    rows = _with_split(pd.DataFrame(src.result("cifar10")["rows"]))
    return rows if with_finetuned else rows[~finetuned_mask(rows)]


def _imagenet_rows(src: Sources) -> pd.DataFrame:
    """ImageNet rows of the fully spiking network with analog input on the sample's
    evaluation images (``split`` "eval"; rows without one count as such; a ``family`` column
    added from ``code`` for files written before families were stored)."""
    rows = _with_split(pd.DataFrame(src.result("imagenet")["rows"]), "eval")
    rows = rows[rows.split == "eval"]
    if "bottlenecks" in rows:
        rows = rows[(rows.bottlenecks == "spiking") & (rows.input_mode == "analog")]
    return rows if "family" in rows else rows.assign(family=rows.code)


# -- panels -------------------------------------------------------------------------------------
def panel_fs_neuron(src: Sources, fig: plt.Figure) -> None:
    """How an FS neuron works: voltage, thresholds and spikes, binary vs a designed code."""
    fit = src.result("fitting")
    K = next((r["K"] for r in fit["comparison"] if r["activation"] == "relu"), 10)
    binary = src.code(f"binary_K{K}")
    designed = src.code(f"fitted_relu_K{K}")
    axes = fig.subplots(1, 2, sharey=True)
    plot_fs_trace(binary, 6.3, axes[0], title=f"binary, K = {binary.K}")
    plot_fs_trace(designed, 6.3, axes[1], title=f"fitted, K = {designed.K}")
    axes[0].set_ylabel("v (input units)")     # short enough for the poster's narrow column
    axes[1].set_ylabel("")


def panel_approximations(src: Sources, fig: plt.Figure) -> None:
    """FS approximations of ReLU, SiLU, sigmoid, and error vs K."""
    fit = src.result("fitting")
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1, 1, 1, 1.2]})
    main = {r["activation"]: r["K"] for r in fit["comparison"] if r["code"].startswith("ours")}
    refs = {"relu": f"binary_K{main.get('relu', 10)}", "silu": "sm_silu_K16",
            "sigmoid": "sm_sigmoid_K12"}
    for ax, (act, K) in zip(axes, main.items()):
        plot_approximation([src.code(refs[act]), src.code(f"fitted_{act}_K{K}")], (-6, 6), ax)
        ax.set_title(f"{act}, K = {K}")
        ax.legend(fontsize="x-small")
    plot_error_vs_K(pd.DataFrame(fit["error_vs_K"]), axes[3])
    axes[3].set_title("error vs K")
    axes[3].legend(fontsize="x-small")


def panel_code_design(src: Sources, fig: plt.Figure) -> None:
    """Approximation error vs mean spikes per neuron: Pareto fronts per code family."""
    r = src.result("codes")["relu"]
    rows = pd.DataFrame(r["rows"])
    ax = fig.subplots()
    plot_pareto(rows[rows.layer == "network"], ax, front_only=True, reference=r["reference"])
    ax.set_title("ReLU ResNet-20, real pre-activations: error vs spikes")


#: Code families the poster's spike-bound panel draws (the rest are in notebook 03).
BOUND_FAMILIES = ("binary", "distribution_aware", "fitted", "jra_fp", "jra_fp_improved",
                  "spike_bound")


def panel_spike_bound(src: Sources, fig: plt.Figure) -> None:
    """Error vs spikes per neuron on the ReLU network's real pre-activations: Pareto fronts
    of binary, designed and floating-point codes, and the spike bound (spike_bound.json)."""
    sb = src.result("spike_bound")
    rows = pd.DataFrame(sb["rows"])
    net = rows[(rows.layer == "network") & rows.family.isin(BOUND_FAMILIES)]
    ax = fig.subplots()
    plot_pareto(net, ax, front_only=True, reference=sb["reference"])
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=1, frameon=False)
    ax.set_title("all ReLU layers, validation images")


def panel_smooth(src: Sources, fig: plt.Figure) -> None:
    """SiLU and sigmoid: our fitted codes against Stöckl & Maass's (fitting.json's K)."""
    fit = src.result("fitting")
    main = {r["activation"]: r["K"] for r in fit["comparison"] if r["code"].startswith("ours")}
    refs = {"silu": "sm_silu_K16", "sigmoid": "sm_sigmoid_K12"}
    axes = fig.subplots(1, 2)
    for ax, act in zip(axes, ("silu", "sigmoid")):
        K = main.get(act)
        if K is None:
            raise MissingResults(f"fitting.json has no fitted {act} code (run notebook 02)")
        sm, ours = src.code(refs[act]), src.code(f"fitted_{act}_K{K}")
        plot_approximation([sm, ours], (-6, 6), ax)
        for line, label in zip(ax.get_lines(), ("exact", "Stöckl & Maass", "fitted (ours)")):
            line.set_label(label)
        ax.legend(loc="upper left", frameon=False)
        ax.set_title(f"{'SiLU' if act == 'silu' else 'sigmoid'}: K = {ours.K} (S&M: {sm.K})")


#: Stöckl & Maass's published codes: the reference beside our codes for smooth activations.
SM_CODES = {"silu": "sm_silu_K16", "sigmoid": "sm_sigmoid_K12"}
#: The smooth-network target: accuracy gap (pp), spikes per neuron, SNN/ANN energy ratio.
SMOOTH_TARGET = {"accuracy_gap_pp": 0.3, "mean_spikes_per_neuron": 1.0, "energy_ratio": 0.3}
SMOOTH_COLUMNS = ("model", "code", "K", "ann_accuracy", "snn_accuracy", "accuracy_gap_pp",
                  "gap_ci_low_pp", "gap_ci_high_pp", "mean_spikes_per_neuron",
                  "latency_timesteps", "energy_ratio", "event_level_n", "event_level_agreement")


def smooth_network_rows(rows: Iterable[Mapping[str, Any]], models: Mapping[str, str]
                        ) -> pd.DataFrame:
    """Per SiLU / sigmoid network of ``models`` (activation -> name; cifar10.json rows): the
    test row of the code :func:`best_code` picks on its analog-input validation rows (``role``
    "chosen on validation images"), of the one it picks within the target's energy ratio
    where that is another ("chosen within the energy budget") and of Stöckl & Maass's code
    (:data:`SM_CODES`), then the test rows of the networks fine-tuned from it (notebook 04,
    "FS-aware fine-tuned"), with ``target_met``: every bound of :data:`SMOOTH_TARGET` kept."""
    rows = [r for r in rows if r.get("method") == "fs" and r.get("input_mode") == "analog"]
    out = []
    for act in ("silu", "sigmoid"):
        tuned = [r for r in rows if is_finetuned_of(r, act) and split_of(r) == "test"]
        mine = [r for r in rows if r["model"] == models.get(act) and not r.get("finetuned")]
        val = [r for r in mine if split_of(r) == "val"]
        pick = best_code(val)
        lean = best_code(val, max_energy=SMOOTH_TARGET["energy_ratio"])
        sm = next((r for r in mine if split_of(r) == "test" and r["code"] == SM_CODES[act]), None)
        for role, r in (("chosen on validation images", pick and chosen_test_row(mine, pick)),
                        ("chosen within the energy budget",
                         lean is not pick and lean and chosen_test_row(mine, lean)),
                        ("Stöckl & Maass", sm),
                        *(("FS-aware fine-tuned", t) for t in tuned)):
            if r:
                out.append({"activation": act, "role": role,
                            **{k: r.get(k) for k in SMOOTH_COLUMNS}})
    df = pd.DataFrame(out)
    if len(df):
        df["target_met"] = np.logical_and.reduce([df[k] <= v for k, v in SMOOTH_TARGET.items()])
    return df


def panel_smooth_networks(src: Sources, fig: plt.Figure) -> None:
    """SiLU and sigmoid networks as FS-SNNs: accuracy against spikes per neuron of every code
    (validation rows where there are any), per family, Stöckl & Maass's codes among them."""
    rows = _fs_rows(src)
    nets = [(act, n) for act in ("silu", "sigmoid") if (n := src.network(act))
            and (rows.model == n).any()]
    if not nets:
        raise MissingResults("cifar10.json has no SiLU or sigmoid network rows (run notebook 06)")
    axes = fig.subplots(1, len(nets), squeeze=False)[0]
    for ax, (act, name) in zip(axes, nets):
        g = compared_rows(rows[(rows.model == name) & (rows.input_mode == "analog")])
        plot_accuracy_vs_spikes(g, g.iloc[:0], ax, ann_accuracy=g["ann_accuracy"].iloc[0])
        ax.set(title=f"{ACTIVATION_LABELS[act]} network", xlabel="spikes per neuron",
               ylabel="accuracy (%)" if ax is axes[0] else "")
    fig.suptitle(f"every code, {split_label(g)}")


def panel_cifar_accuracy_vs_K(src: Sources, fig: plt.Figure) -> None:
    """CIFAR-10: SNN accuracy vs K per code family (every code: validation rows where there
    are any), ANN on the same images as reference line."""
    rows = _fs_rows(src)
    fs = rows[(rows.method == "fs") & (rows.input_mode == "analog")]
    names = list(fs.model.unique())
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    for ax, name in zip(axes, names):
        g = compared_rows(fs[fs.model == name])
        plot_accuracy_vs_K(g, ax, ann_accuracy=g.ann_accuracy.iloc[0])
        ax.set_title(model_label(name))
        ax.legend(fontsize="x-small")


def mlgenn_anchors(src: Sources) -> list[dict]:
    """mlGeNN's own FewSpike path as measured here (``mlgenn.json``), as anchor points; none
    when that file does not exist. A different network (no BN, no biases) -- labelled so."""
    try:
        rows = pd.DataFrame(src.result("mlgenn")["rows"])
    except MissingResults:
        return []
    own = rows[rows.backend.str.endswith("mlGeNN FewSpike")]
    return [{"x": float(r.mean_spikes_per_neuron), "y": 100 * float(r.accuracy),
             "label": f"mlGeNN FewSpike, K = {r.K} (measured here; {_short_model(r.model)})"}
            for r in own.itertuples()]


def _short_model(model: str) -> str:
    """The network an mlGeNN anchor ran on, briefly (mlGeNN's converter needs one without BN)."""
    return "no-BN network" if model.endswith("_nobn") else model_label(model)


def panel_accuracy_vs_spikes(src: Sources, fig: plt.Figure) -> None:
    """Accuracy vs spikes per neuron of the ReLU network: every FS code (validation rows
    where there are any) against rate coding, anchors marked."""
    rows = _fs_rows(src)
    fs = rows[(rows.method == "fs") & (rows.input_mode == "analog")]
    name = src.relu(fs.model)
    fs = compared_rows(fs[fs.model == name])
    rate = compared_rows(rows[(rows.method == "rate") & (rows.model == name)])
    ax = fig.subplots()
    plot_accuracy_vs_spikes(fs, rate, ax, ann_accuracy=fs.ann_accuracy.iloc[0],
                            anchors=CIFAR10_ANCHORS + mlgenn_anchors(src))
    ax.set_title(f"{model_label(name)}: FS codes vs rate coding")


def panel_finetuning(src: Sources, fig: plt.Figure) -> None:
    """Post-hoc codes vs FS-aware fine-tuned networks (test set): accuracy against spikes per
    neuron and against latency, Pareto fronts, rate coding and the anchors."""
    rows = _fs_rows(src, with_finetuned=True)
    test = rows[(rows.split == "test") & (rows.method == "fs")]
    name = src.relu(test[~finetuned_mask(test)].model)
    ft = test[finetuned_of(test, "relu")]
    if ft.empty:
        raise MissingResults("cifar10.json has no fine-tuned rows of the ReLU network (run "
                             "notebooks 04 and 06)")
    post = test[(test.model == name) & (test.input_mode == "analog") & ~finetuned_mask(test)
                & ~test.family.isin(["jra_fp", "jra_fp_improved"])]    # (notebook 06 has them)
    rate = rows[(rows.method == "rate") & (rows.model == name)]
    axes = fig.subplots(1, 2)
    parent = set(ft.parent) != {name}       # fine-tuned from another parent network
    plot_finetune_pareto(post, ft, axes[0], axes[1], ann_accuracy=post.ann_accuracy.iloc[0],
                         anchors=CIFAR10_ANCHORS + mlgenn_anchors(src), rate=rate,
                         finetuned_ann_accuracy=ft.ann_accuracy.iloc[0] if parent else None)
    axes[0].set_title(f"{model_label(name)}: by spikes")       # short: the two titles
    axes[1].set_title("the same networks by latency")             # share one row


def panel_energy(src: Sources, fig: plt.Figure) -> None:
    """Energy per image, ANN vs SNN, per layer."""
    e = src.result("cifar10").get("energy") or {}
    if not e:
        raise MissingResults("cifar10.json has no 'energy' entry (run notebook 06)")
    ax = fig.subplots()
    plot_energy(e, ax)
    ax.set(title=f"{code_label(e['code'])}, test set", ylabel="µJ per image")


#: The code families of the poster's ImageNet panel.
IMAGENET_PANEL_FAMILIES = ("binary", "distribution_aware", "distribution_aware_per_layer",
                           "distribution_aware_per_layer_weighted",
                           "distribution_aware_per_layer_fisher")


def panel_imagenet(src: Sources, fig: plt.Figure) -> None:
    """ImageNet (EfficientNet-Lite0, FS neurons for every ReLU6): top-1 vs K, spikes; the
    binary code and the codes designed for the network (the other references are in notebook
    07's figure)."""
    rows = _imagenet_rows(src)
    rows = rows[rows.family.isin(IMAGENET_PANEL_FAMILIES)]
    axes = fig.subplots(1, 2)
    plot_accuracy_vs_K(rows, axes[0], ann_accuracy=rows.ann_accuracy.iloc[0], ax_spikes=axes[1],
                       ylabel="top-1 (%)", ms=9)
    axes[0].set_title("top-1, evaluation images")
    axes[1].set(ylabel="", title="spikes per neuron")
    axes[0].legend(fontsize="x-small")


def panel_raster(src: Sources, fig: plt.Figure) -> None:
    """Spike raster and per-layer spikes of one CIFAR-10 image (stored by notebook 05)."""
    r = src.result("conversion").get("raster")
    if not r:
        raise MissingResults("conversion.json has no 'raster' entry (run notebook 05)")
    axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    plot_raster_summary(r, axes[0], axes[1])


def panel_mlgenn(src: Sources, fig: plt.Figure) -> None:
    """GeNN (mlGeNN's FewSpike path and our FS neuron) vs our simulators: a table."""
    rows = pd.DataFrame(src.result("mlgenn")["rows"])
    cols = {"model": "model", "backend": "run", "code": "code", "K": "K",
            "accuracy": "accuracy %", "agreement_with_reference": "agreement %",
            "reference": "agreement with", "mean_spikes_per_neuron": "spikes/neuron",
            "ms_per_image": "ms/image"}
    t = rows[[c for c in cols if c in rows]].copy()
    for c in ("accuracy", "agreement_with_reference"):
        if c in t:
            t[c] = (100 * t[c]).map("{:.1f}".format)
    for c, f in (("mean_spikes_per_neuron", "{:.2f}"), ("ms_per_image", "{:.0f}")):
        if c in t:
            t[c] = t[c].map(f.format)
    if "backend" in t:
        t["backend"] = t["backend"].str.replace("single_threaded_cpu", "CPU")
    for c, label in (("model", lambda m: model_label(m, brief=True)), ("code", code_label)):
        if c in t:
            t[c] = t[c].map(label)
    t = t.rename(columns=cols)
    fig.set_size_inches(fig.get_figwidth(), 1.2 + 0.3 * (len(t) + 1))   # 0.3 in per row
    ax = fig.subplots()
    ax.axis("off")
    tab = ax.table(cellText=t.astype(str).values, colLabels=list(t.columns), cellLoc="left",
                   bbox=[0, 0, 1, 1])                  # fills the axes, under the title
    tab.auto_set_font_size(False)
    tab.set_fontsize(11)
    tab.auto_set_column_width(list(range(len(t.columns))))
    n = src.result("mlgenn").get("n_test", rows.get("n_test", pd.Series([0])).max())
    ax.set_title(f"The same networks on GeNN (mlGeNN) and in our simulators, {n} CIFAR-10 "
                 "test images")


PANELS: dict[str, tuple[Callable, tuple[float, float], str]] = {
    "fs_neuron": (panel_fs_neuron, (14, 5), "One FS neuron, K steps: the membrane voltage is compared with a threshold each step; a spike subtracts h(t) and adds d(t) to the output."),
    "approximations": (panel_approximations, (20, 5.5), "FS approximations of ReLU, SiLU and sigmoid (ours vs Stöckl & Maass) and error vs K."),
    "code_design": (panel_code_design, (12, 6), "Code families on the real pre-activations of the ReLU network: error vs spikes (Pareto fronts); star = binary code reference."),
    "cifar_accuracy_vs_K": (panel_cifar_accuracy_vs_K, (20, 5.5), "CIFAR-10 accuracy of every FS code vs timesteps K, per code family, on the images the axis names (validation images: where codes are chosen); dotted: the ANN."),
    "accuracy_vs_spikes": (panel_accuracy_vs_spikes, (12, 6), "Accuracy vs spikes per neuron: FS codes reach ANN accuracy with ~1 spike per neuron; rate coding needs many more."),
    "finetuning": (panel_finetuning, (20, 6), "FS-aware fine-tuning (FS neurons in the training loop, surrogate gradient, a price per spike) against post-hoc codes on the test set: accuracy vs spikes per neuron and vs latency, with Pareto fronts, rate coding and published anchors."),
    "energy": (panel_energy, (14, 5), "Energy per image and layer of the headline code on the test set (Horowitz 45 nm): ANN MACs vs SNN accumulates."),
    "imagenet": (panel_imagenet, (14, 5), "ImageNet sample: EfficientNet-Lite0 as a spiking network (FS neurons for every ReLU6, signed identity FS neurons on the linear bottlenecks)."),
    "raster": (panel_raster, (16, 6), "Spikes of one CIFAR-10 image through the pipelined network, and spikes per neuron per layer."),
    "spike_bound": (panel_spike_bound, (12, 8), "Error vs spikes per neuron of binary, designed and floating-point codes on the ReLU network's real pre-activations, and the spike bound (the fewest spikes any code with the same output levels could spend)."),
    "smooth": (panel_smooth, (14, 5), "SiLU and sigmoid: our fitted FS codes against Stöckl & Maass's published ones."),
    "smooth_networks": (panel_smooth_networks, (14, 6), "SiLU and sigmoid ResNet-20s as FS-SNNs: accuracy vs spikes per neuron of every code (density fits, spike-priced fits, offset-folded pairs, Stöckl & Maass's codes); dotted: the ANN."),
    "mlgenn": (panel_mlgenn, (24, 4.5), "The same networks on GeNN via mlGeNN: mlGeNN's FewSpike path vs our GeNN FS neuron (identical), and our codes in GeNN vs our event-level simulator."),
}


def draw_panels(root: str | Path, out_dir: str | Path, only: list[str] | None = None,
                context: str = "poster", relu_model: str | None = None) -> dict[str, str]:
    """Draw every panel from the files under ``root`` into ``out_dir`` (PNG at
    :data:`PANEL_DPI` and PDF); return ``{panel: "drawn" | "skipped: <reason>"}``.
    ``relu_model``: the ReLU network to show (None: see the module docstring)."""
    src = Sources(Path(root), relu_model)
    set_style(context)
    status = {}
    for name, (fn, size, _) in PANELS.items():
        if only and name not in only:
            continue
        fig = plt.figure(figsize=size, layout="constrained")
        try:
            fn(src, fig)
        except MissingResults as exc:
            status[name] = f"skipped: {exc}"
            plt.close(fig)
            continue
        savefig(fig, name, out_dir, dpi=PANEL_DPI)
        plt.close(fig)
        status[name] = "drawn"
    return status


# -- headline numbers ----------------------------------------------------------------------------
#: What the headline quotes per section (keys of a results row).
CIFAR_KEYS = ("code", "K", "ann_accuracy", "snn_accuracy", "accuracy_gap_pp",
              "mean_spikes_per_neuron", "latency_timesteps")
IMAGENET_KEYS = ("code", "K", "snn_accuracy", "ann_accuracy", "accuracy_gap_pp",
                 "mean_spikes_per_neuron")


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _numbers(row: Mapping[str, Any], keys: Iterable[str], where: str,
             prefix: str = "") -> dict[str, Any]:
    """``row``'s values of ``keys``; an absent (or None/NaN) one is None, and ``"missing"``
    maps it to ``"<where>: <prefix><key>"``."""
    out: dict[str, Any] = {k: None if _is_missing(row.get(k)) else row[k] for k in keys}
    out["missing"] = {k: f"{where}: {prefix}{k}" for k in keys if out[k] is None}
    return out


def _cifar_headline(src: Sources) -> dict[str, Any]:
    """The test row of the code :func:`best_code` picks on the ReLU network's analog-input
    validation rows (without validation rows: on its test rows)."""
    rows = src.result("cifar10")["rows"]
    fs = [r for r in rows if r.get("method") == "fs" and r.get("input_mode") == "analog"
          and not r.get("finetuned")]
    name = src.relu(r["model"] for r in fs)
    mine = [r for r in fs if r["model"] == name]
    val = [r for r in mine if split_of(r) == "val"]
    pick = best_code(val or [r for r in mine if split_of(r) == "test"])
    if pick is None:
        raise PosterError(f"cifar10.json has no analog-input FS rows of {name!r} to pick the "
                          "headline code from. Fix: re-run notebook 06")
    test = chosen_test_row(rows, pick)
    if test is None:
        out = _numbers({"code": pick["code"], "K": pick["K"]}, CIFAR_KEYS, "cifar10.json")
        out["missing"] = {k: f"cifar10.json: the test row of {pick['code']}"
                          for k in out["missing"]}
    else:
        out = _numbers(test, CIFAR_KEYS, "cifar10.json")
    return {**out, "model": name, "chosen_on": "validation images" if val else "the test set"}


def _energy_headline(src: Sources) -> dict[str, Any]:
    """SNN/ANN energy ratio of the headline code (cifar10.json's ``energy`` entry)."""
    e = src.result("cifar10").get("energy") or {}
    return _numbers(e, ("ratio", "code"), "cifar10.json", prefix="energy.")


def _imagenet_headline(src: Sources) -> dict[str, Any]:
    """The evaluation row of the headline code chosen on the validation part of the sample
    (``chosen_on`` "... (best_code)"); files without one: any code (the binary one included)
    with <= 2 spikes per neuron if there is one."""
    rows = _imagenet_rows(src).to_dict("records")
    best = next((r for r in rows if str(r.get("chosen_on", "")).endswith("(best_code)")), None)
    best = best or best_code(rows, max_K=None, max_spikes=2.0, exclude_families=())
    if best is None:
        raise PosterError("imagenet.json has no fully spiking analog-input rows. Fix: re-run "
                          "notebook 07")
    return _numbers(best, IMAGENET_KEYS, "imagenet.json")


def _genn_headline(src: Sources) -> dict[str, Any]:
    """Agreement of GeNN runs with mlGeNN's FewSpike path and with the event-level simulator
    (the smallest share of images over the runs; None without such runs)."""
    rows = pd.DataFrame(src.result("mlgenn")["rows"])
    ours = rows[rows["backend"].str.contains("our FS neuron")
                & (rows["reference"] == "event-level simulator")]
    same = rows[rows["reference"] == "mlGeNN FewSpike"]
    agree = "agreement_with_reference"
    return {"n_test": int(rows["n_test"].max()),
            "agree_mlgenn": float(same[agree].min()) if len(same) else None,
            "agree_simulator": float(ours[agree].min()) if len(ours) else None,
            "n_codes": len(ours), "missing": {}}


#: Headline sections: (key, results file, function reading it).
HEADLINES: tuple[tuple[str, str, Callable[[Sources], dict[str, Any]]], ...] = (
    ("cifar", "cifar10.json", _cifar_headline), ("energy", "cifar10.json", _energy_headline),
    ("imagenet", "imagenet.json", _imagenet_headline), ("genn", "mlgenn.json", _genn_headline))


def headline_numbers(root: str | Path, relu_model: str | None = None) -> dict[str, Any]:
    """The numbers the poster quotes, read from the results files.

    Per section ("cifar", "energy", "imagenet", "genn"): a dict of numbers, None where the
    results file does not exist; a number the file lacks is None and named in the section's
    ``"missing"`` (``{key: "<file>: <key>"}``), a section whose rows lack a column is
    ``{"missing": {"*": "<file>: <column>"}}``. ``"missing"`` at the top lists all of them;
    ``"files_missing"`` the results files not found.
    """
    src = Sources(Path(root), relu_model)
    out: dict[str, Any] = {"files_missing": []}
    for key, file, read in HEADLINES:
        try:
            out[key] = read(src)
        except MissingResults:
            out[key] = None
            out["files_missing"] += [file] if file not in out["files_missing"] else []
        except KeyError as exc:          # a column every row lacks
            out[key] = {"missing": {"*": f"{file}: {exc.args[0]}"}}
    out["missing"] = [m for key, _, _ in HEADLINES if out[key]
                      for m in dict.fromkeys(out[key]["missing"].values())]
    return out


def _show(section: Mapping[str, Any], key: str, fmt: str, scale: float = 1.0) -> str:
    """``section[key]`` formatted with ``fmt`` (times ``scale``), or "n/a (missing in ...)"."""
    value = section.get(key)
    if value is None:
        return f"n/a (missing in {section['missing'].get(key) or section['missing']['*']})"
    return fmt.format(scale * value) if isinstance(value, (int, float)) else fmt.format(value)


def _cifar_text(c: Mapping[str, Any], e: Mapping[str, Any] | None) -> list[str]:
    if "*" in c["missing"]:
        return [f"CIFAR-10: n/a (missing in {c['missing']['*']})"]
    code = code_label(c["code"]) if c.get("code") else _show(c, "code", "{}")
    lines = [f"CIFAR-10 test set ({model_label(c['model'])}): "
             + f"{_show(c, 'snn_accuracy', '{:.2f} %', 100)} with code “{code}” "
             + f"(chosen on {c['chosen_on']}) — "
             + f"{_show(c, 'accuracy_gap_pp', '{:.2f} pp')} below the ANN "
             + f"({_show(c, 'ann_accuracy', '{:.2f} %', 100)}) at "
             + f"{_show(c, 'mean_spikes_per_neuron', '{:.2f}')} spikes per neuron, latency "
             + f"{_show(c, 'latency_timesteps', '{:.0f}')} timesteps"]
    if e is not None:
        other = (f" for code “{code_label(e['code'])}”"
                 if e.get("code") and e["code"] != c.get("code") else "")
        lines.append(f"Estimated energy per image on the test set{other}: SNN / ANN = "
                     f"{_show(e, 'ratio', '{:.3f}')} (Horowitz 45 nm)")
    return lines


def _imagenet_text(i: Mapping[str, Any]) -> str:
    if "*" in i["missing"]:
        return f"ImageNet sample: n/a (missing in {i['missing']['*']})"
    code = code_label(i["code"]) if i.get("code") else _show(i, "code", "{}")
    return (f"ImageNet sample (EfficientNet-Lite0 as a spiking network): "
            f"{_show(i, 'snn_accuracy', '{:.1f} %', 100)} top-1 with code “{code}”, "
            f"{_show(i, 'accuracy_gap_pp', '{:.2f} pp')} below the ANN, "
            f"{_show(i, 'mean_spikes_per_neuron', '{:.2f}')} spikes per neuron")


def _genn_text(g: Mapping[str, Any]) -> str | None:
    if "*" in g["missing"]:
        return f"GeNN: n/a (missing in {g['missing']['*']})"
    if g["agree_simulator"] is None:
        return None
    mlg = (f"our FS neuron reproduces mlGeNN's FewSpike on {100 * g['agree_mlgenn']:.0f} % of "
           "images; " if g["agree_mlgenn"] is not None else "")
    a = g["agree_simulator"]
    share = "100 %" if a == 1.0 else f"≥ {100 * a:.1f} %"
    return (f"On GeNN ({g['n_test']} CIFAR-10 images): {mlg}our codes in GeNN agree with "
            f"the event-level simulator on {share} of images ({g['n_codes']} codes)")


def headline_text(h: dict[str, Any]) -> list[str]:
    """Poster sentences for :func:`headline_numbers`: one per section whose results file
    exists, "n/a (missing in <file>: <key>)" for each number it lacks."""
    lines = _cifar_text(h["cifar"], h.get("energy")) if h.get("cifar") else []
    if h.get("imagenet"):
        lines.append(_imagenet_text(h["imagenet"]))
    if h.get("genn") and (g := _genn_text(h["genn"])):
        lines.append(g)
    return lines or ["(no results files yet: run notebooks 01-06)"]
