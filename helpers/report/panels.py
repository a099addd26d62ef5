"""The plotting functions shared by the notebooks and the poster.

Each function draws into axes it is given (or makes its own figure where said) and labels
codes, families and networks with the display names of :mod:`helpers.report.style`, never
with identifiers. Notebooks 01-06 and :mod:`helpers.report.poster` call the same functions,
so a figure and its poster panel cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.fs import activations
from helpers.fs.codes import code_family
from helpers.fs.neuron import fs_numpy, fs_trace
from helpers.report.style import (
    ACTIVATION_LABELS,
    FAMILY_COLORS,
    SURROGATE_LABELS,
    code_label,
    family_label,
    model_label,
)
from helpers.selection import pareto_front

#: How figures name the images a results row was measured on (its ``split``).
SPLIT_LABELS = {"val": "validation images", "test": "test set",
                "eval": "evaluation images of the sample"}


def split_label(rows: pd.DataFrame, missing: str = "test") -> str:
    """Which images ``rows`` were measured on, for axis labels and titles ("validation
    images", "test set", ...; several joined with " + "). Rows without ``split`` (files
    written before splits were recorded) count as ``missing``."""
    splits = rows["split"].fillna(missing) if "split" in rows else [missing] * len(rows)
    names = list(dict.fromkeys(splits)) or [missing]
    return " + ".join(SPLIT_LABELS.get(s, s) for s in names)


#: Published CIFAR-10 reference points ``{x: spikes per neuron, y: accuracy %, label}``,
#: marked on the accuracy-vs-spikes figures.
CIFAR10_ANCHORS = [{"x": 1.36, "y": 92.5, "label": "Stöckl & Maass 2021: CIFAR-10 ResNet, K = 10"}]


#: Training recipes of notebook 01's networks: (label, colour) by what a card records.
TRAINING_RECIPES = {
    "scratch_50k": ("from scratch, all 50,000 images", "#0072B2"),
    "nobn": ("no BatchNorm, from scratch, 50,000 images", "dimgray"),
    "scratch_45k": ("from scratch, first 45,000 images", "#009E73"),
    "parent_50k": ("from the 50,000-image ReLU network", "#E69F00"),
    "parent_45k": ("from the 45,000-image ReLU network", "#CC79A7"),
}


def training_recipe(card: dict) -> str:
    """The key in :data:`TRAINING_RECIPES` of a model card: its parent (``init_from``), the
    images it trained on (``n_train``; absent or 50,000: all) and ``batchnorm``."""
    parent = card.get("init_from")
    parent = parent.get("name") if isinstance(parent, dict) else parent
    if parent:
        return "parent_45k" if parent.endswith("_45k") else "parent_50k"
    if card.get("batchnorm") is False:
        return "nobn"
    return "scratch_45k" if card.get("n_train", 50_000) < 50_000 else "scratch_50k"


def plot_training_curves(cards: list[dict]) -> plt.Figure:
    """Loss (top) and accuracy (bottom) per epoch of each model card (needs
    ``card["history"]``), one column per hidden activation, one colour per training recipe
    (:func:`training_recipe`): solid on the training images, dashed on the held-out ones --
    the validation images of a run with ``n_val``, else the test set."""
    acts = list(dict.fromkeys(c["activation"] for c in cards))
    fig, axes = plt.subplots(2, len(acts), figsize=(4.6 * len(acts), 7), squeeze=False,
                             sharex="col")
    for col, act in enumerate(acts):
        ax_loss, ax_acc = axes[0, col], axes[1, col]
        for card in (c for c in cards if c["activation"] == act):
            h, (recipe, color) = card["history"], TRAINING_RECIPES[training_recipe(card)]
            held_out = "validation" if card.get("n_val") else "test"
            ep = range(1, len(h["loss"]) + 1)
            for ax, key, scale in ((ax_loss, "loss", 1), (ax_acc, "accuracy", 100)):
                ax.plot(ep, [scale * v for v in h[key]], color=color, label=f"{recipe}: train")
                if f"val_{key}" in h:
                    ax.plot(ep, [scale * v for v in h[f"val_{key}"]], color=color, ls="--",
                            label=f"{recipe}: {held_out}")
        ax_loss.set(title=ACTIVATION_LABELS.get(act, act), ylabel="cross-entropy loss (nats)",
                    yscale="log")
        ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", ylim=(0, 100))
        ax_acc.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.2))
    fig.tight_layout()
    return fig


def plot_fs_trace(code, x: float, ax: plt.Axes | None = None, title: str | None = None) -> plt.Axes:
    """Membrane voltage v(t), threshold T(t) and spikes of one FS neuron for input ``x``."""
    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    tr = fs_trace(x, code)
    t = range(1, code.K + 1)
    col = FAMILY_COLORS.get(code_family(code))
    ax.step(t, tr["v"], where="mid", color=col, label="membrane voltage v(t)")
    ax.plot(t, tr["T"], "k--", lw=1, label="threshold T(t)")
    spk = [i + 1 for i, z in enumerate(tr["z"]) if z > 0]
    ax.plot(spk, [tr["v"][i - 1] for i in spk], "v", color="crimson", ms=9, label="spike")
    ax.set(xlabel="timestep t", ylabel="voltage (input units)",
           title=title or f"{code_label(code.name)}: x = {x:g} → {float(tr['out'][-1]):.4g} "
                          f"({int(tr['z'].sum())} spikes)")
    ax.legend(fontsize="small")
    return ax


def plot_approximation(codes_: list, x_range: tuple[float, float], ax: plt.Axes,
                       target=None, n: int = 4001) -> plt.Axes:
    """FS outputs of ``codes_`` against the true activation over ``x_range``."""
    x = np.linspace(*x_range, n)
    f = target or activations.get(codes_[0].activation)
    ax.plot(x, f(x), color="black", lw=2.5, alpha=0.4, label=f"{codes_[0].activation} (exact)")
    for c in codes_:
        ax.plot(x, fs_numpy(x, c)[0], color=FAMILY_COLORS.get(code_family(c)), lw=1.3,
                label=f"{family_label(code_family(c))}, K = {c.K}")
    ax.set(xlabel="input x", ylabel="output")
    ax.legend(fontsize="small")
    return ax


def plot_error_vs_K(rows: pd.DataFrame, ax: plt.Axes) -> plt.Axes:
    """Approximation error vs K per activation and family (``rows``: ``activation``,
    ``family``, ``K``, ``mse``, e.g. ``fitting.json``'s ``error_vs_K``); fitted codes solid."""
    for (act, fam), g in rows.groupby(["activation", "family"]):
        ax.plot(g.K, g.mse, marker="o", ls="-" if fam == "fitted" else "--",
                color=FAMILY_COLORS.get(fam), label=f"{act}, {family_label(fam)}")
    ax.set(yscale="log", xlabel="timesteps K", ylabel="MSE on [−10, 10]")
    ax.legend(fontsize="small")
    return ax


def plot_pareto(net, ax: plt.Axes, front_only: bool = False, reference=None) -> plt.Axes:
    """Approximation error vs mean spikes per neuron, one colour per code family.

    ``net``: rows with ``family``, ``K``, ``mse``, ``mean_spikes`` (e.g. the ``network`` rows
    of :func:`helpers.fs.design.evaluate_per_layer`). ``reference``: a row to mark.
    """
    for fam, g in net.groupby("family"):
        g = pareto_front(g) if front_only else g.sort_values("mean_spikes")
        col = FAMILY_COLORS.get(fam, FAMILY_COLORS.get(fam.split("_")[0]))
        ls = ":" if fam == "binary_max" else "-"
        ax.plot(g["mean_spikes"], g["mse"], marker="o", ms=4, ls=ls, color=col,
                label=family_label(fam))
    if reference is not None:
        ax.plot(reference["mean_spikes"], reference["mse"], marker="*", ms=18, color="black",
                ls="none", label=f"reference: {code_label(reference['code'])}")
        ax.axhline(reference["mse"], color="black", lw=0.8, ls="--")
    ax.set(xlabel="mean spikes per neuron", ylabel="MSE (normalised units²)", yscale="log")
    # under the axes: the curves cross the whole plot, a legend inside would cover some
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
              frameon=False)
    return ax


def plot_accuracy_vs_K(rows: pd.DataFrame, ax: plt.Axes, ann_accuracy: float | None = None,
                       ax_spikes: plt.Axes | None = None, ylabel: str | None = None,
                       ms: float | None = None) -> plt.Axes:
    """SNN accuracy (%) against timesteps per layer K, one line per code family (through
    its most accurate code at each K; the family's other codes as markers).

    ``rows``: FS rows of one network with ``family``, ``K``, ``snn_accuracy`` (fraction) and
    ``mean_spikes_per_neuron``; ``ann_accuracy`` (fraction) is drawn as a dotted line;
    ``ax_spikes``: also mean spikes per neuron against K there. ``ms``: marker size.
    ``ylabel``: default "accuracy (%), <the images the rows were measured on>"
    (:func:`split_label`).
    """
    ylabel = ylabel or f"accuracy (%), {split_label(rows)}"
    for fam, g in rows.groupby("family"):
        best = g.loc[g.groupby("K").snn_accuracy.idxmax()].sort_values("K")
        rest = g.drop(best.index)
        kw = {"marker": "o", "ms": ms, "color": FAMILY_COLORS.get(fam),
              "label": family_label(fam), "ls": "-" if len(best) > 1 else "none"}
        ax.plot(best.K, 100 * best.snn_accuracy, **kw)
        ax.plot(rest.K, 100 * rest.snn_accuracy, "o", ms=ms, mfc="none", color=kw["color"])
        if ax_spikes is not None:
            ax_spikes.plot(best.K, best.mean_spikes_per_neuron, **kw)
            ax_spikes.plot(rest.K, rest.mean_spikes_per_neuron, "o", ms=ms, mfc="none",
                           color=kw["color"])
    if ann_accuracy is not None:
        ax.axhline(100 * ann_accuracy, color="black", ls=":", label="ANN")
    ax.set(xlabel="timesteps per layer K", ylabel=ylabel)
    if ax_spikes is not None:
        ax_spikes.set(xlabel="timesteps per layer K", ylabel="mean spikes per neuron")
    ax.legend(fontsize="small")
    return ax


def plot_accuracy_vs_spikes(fs_rows: pd.DataFrame, rate_rows: pd.DataFrame, ax: plt.Axes,
                            ann_accuracy: float | None = None,
                            anchors: list[dict] | None = None) -> plt.Axes:
    """Accuracy (%) against mean spikes per neuron (log axis): FS codes vs rate coding.

    ``fs_rows``: FS rows of one network (``family``, ``mean_spikes_per_neuron``,
    ``snn_accuracy``), one line per family; ``rate_rows``: rate-coded rows, one grey line per
    configuration (``code``); ``anchors``: published points ``{x, y, label}`` to mark. The
    y axis names the images of ``fs_rows`` (:func:`split_label`); rate-coded lines measured
    on other images say which in their legend entry.
    """
    fs_images, rate_images = split_label(fs_rows), split_label(rate_rows)
    rate_note = f" ({rate_images})" if rate_images != fs_images else ""
    for fam, g in fs_rows.groupby("family"):
        g = g.sort_values("mean_spikes_per_neuron")
        ax.plot(g["mean_spikes_per_neuron"], 100 * g["snn_accuracy"], marker="o",
                label=f"FS: {family_label(fam)}", color=FAMILY_COLORS.get(fam))
    for code, g in rate_rows.groupby("code"):
        g = g.sort_values("mean_spikes_per_neuron")
        ax.plot(g["mean_spikes_per_neuron"], 100 * g["snn_accuracy"], marker="s", ls="--",
                color=FAMILY_COLORS["rate"], alpha=0.8, label=code_label(code) + rate_note)
    if ann_accuracy is not None:
        ax.axhline(100 * ann_accuracy, color="black", lw=1, ls=":", label="ANN")
    for a in anchors or []:
        ax.plot(a["x"], a["y"], marker="*", ms=14, color="crimson", ls="none")
        ax.annotate(a["label"], (a["x"], a["y"]), fontsize=8, xytext=(4, 4),
                    textcoords="offset points")
    ax.set(xscale="log", xlabel="mean spikes per neuron (per image)",
           ylabel=f"accuracy (%), {fs_images}")
    ax.legend(fontsize="small")
    return ax


def plot_energy(energy: dict, ax: plt.Axes) -> plt.Axes:
    """Energy per image and layer, ANN vs SNN bars (``energy``: ``cifar10.json``'s entry with
    ``table`` rows ``network``, ``energy_pj``, and ``code``, ``ratio``, ``precision`` and
    ``split``, the images the spikes were counted on; without it: the test set)."""
    images = SPLIT_LABELS.get(energy.get("split", "test"), energy.get("split"))
    table = pd.DataFrame(energy["table"])
    for i, (who, g) in enumerate(table.groupby("network")):
        ax.bar(np.arange(len(g)) + 0.4 * i, g.energy_pj / 1e6, width=0.4, label=who)
    ax.set(ylabel="energy per image (µJ)", xlabel="layer (input → output)", yscale="log",
           title=f"{code_label(energy['code'])}: SNN/ANN energy = {energy['ratio']:.3f} "
                 f"({energy['precision']}, Horowitz 45 nm), {images}")
    ax.legend()
    return ax


def plot_preactivation_histograms(hist: dict, ax: plt.Axes, title: str = "") -> plt.Axes:
    """Per-layer densities from :func:`helpers.fs.design.histograms` (shallow → deep)."""
    edges = np.asarray(hist["edges"])
    centres = 0.5 * (edges[1:] + edges[:-1])
    dens = hist["density"]
    for i, (layer, d) in enumerate(dens.items()):
        ax.plot(centres, d, lw=0.8, color=plt.cm.viridis(i / max(1, len(dens) - 1)))
    sm = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(0, len(dens) - 1))
    ax.figure.colorbar(sm, ax=ax, label="layer index (shallow → deep)")
    ax.set(yscale="log", xlabel="pre-activation x", ylabel="density", title=title)
    return ax


def layer_spikes(rows: pd.DataFrame, codes_: Iterable[str]) -> pd.DataFrame:
    """Long table ``code, layer, spikes`` (spikes per neuron per image) of the rows whose
    ``code`` is in ``codes_``, from their ``spikes_per_layer`` dicts."""
    keep = set(codes_)
    return pd.DataFrame([{"code": r.code, "layer": k, "spikes": v} for r in rows.itertuples()
                         if r.code in keep for k, v in r.spikes_per_layer.items()],
                        columns=["code", "layer", "spikes"])


def plot_layer_values(rows, value: str, ax: plt.Axes, codes_: list[str] | None = None) -> plt.Axes:
    """A per-layer quantity (e.g. ``mean_spikes``) for several codes; ``rows`` has ``code``,
    ``layer`` and ``value`` columns (network rows are ignored)."""
    rows = rows[rows.layer != "network"]
    layers = list(dict.fromkeys(rows.layer))
    groups = [(name, g) for name, g in rows.groupby("code") if codes_ is None or name in codes_]
    labels = [code_label(name) for name, _ in groups]
    if len(set(labels)) < len(labels):          # codes that differ only in λ
        labels = [code_label(name, with_lambda=True) for name, _ in groups]
    for (_, g), label in zip(groups, labels):
        g = g.set_index("layer").loc[layers]
        ax.plot(range(len(layers)), g[value], marker="o", ms=4, label=label)
    ax.set_xticks(range(len(layers)), layers, rotation=70, fontsize=8)
    ax.legend(fontsize="small")
    return ax


def plot_code_points(net_rows, ax: plt.Axes, title: str = "") -> plt.Axes:
    """MSE vs mean spikes per code (one point each, labelled), coloured by family."""
    for fam, g in net_rows.groupby("family"):
        ax.plot(g["mean_spikes"], g["mse"], marker="o", ls="none", ms=9,
                color=FAMILY_COLORS.get(fam), label=family_label(fam))
        for _, r in g.iterrows():
            ax.annotate(code_label(r["code"]), (r["mean_spikes"], r["mse"]), fontsize=7)
    ax.set(title=title, xlabel="mean spikes per neuron", ylabel="MSE", yscale="log")
    ax.legend(fontsize="small")
    return ax


def plot_raster_summary(r: dict, ax_raster: plt.Axes, ax_bars: plt.Axes | None = None) -> None:
    """Raster of one image from :func:`helpers.snn.simulate.raster_summary` (stored in
    ``data/results/conversion.json``), and spikes per neuron per layer as bars."""
    n = len(r["layers"])
    colors = [plt.cm.viridis(i / max(1, n - 1)) for i in range(n)]
    row = 0
    for layer, col in zip(r["layers"], colors):
        sp = np.asarray(layer["spikes"], dtype=int).reshape(-1, 2)
        t0 = layer["stage"] * r["K"]
        ax_raster.scatter(t0 + sp[:, 0] + 1, row + sp[:, 1], s=2, marker="|", color=col)
        row += layer["n_shown"] + 10
    who = ", ".join(label for label in (model_label(r.get("model", "")),
                                        code_label(r.get("code", ""))) if label)
    ax_raster.set(xlabel="timestep (each layer fires in its own K-step window)",
                  ylabel="neurons (sampled, by layer)", yticks=[],
                  title=f"{who + ': ' if who else ''}test image {r['image']}, "
                        f"{r['total_spikes']:,} spikes, latency {r['latency_timesteps']} steps")
    if ax_bars is not None:
        ax_bars.barh(range(n), [layer["spikes_per_neuron"] for layer in r["layers"]], color=colors)
        ax_bars.set_yticks(range(n), [layer["name"] for layer in r["layers"]], fontsize=7)
        ax_bars.set(xlabel="spikes per neuron")
        ax_bars.invert_yaxis()


#: Marker per role of a fine-tuning run (notebook 04's ``finetune.json`` rows).
_ROLE_MARKERS = {"spike price": "o", "surrogate": "s", "final": "D", "longer run": "*",
                 "spike budget": "P"}


def _run_extras(r) -> str:
    """The key's words for a run's epochs, spike target, distillation and trained codes
    (where set)."""
    def given(k):
        v = r.get(k)
        return v is not None and v == v                  # not missing, not NaN (a table gap)

    return ((f", {r['epochs']} epochs" if r.get("epochs", 1) != 1 else "")
            + (f", price above {r['spike_target']:g}" if given("spike_target") else "")
            + (f", distilled (β = {r['distill']:g})" if given("distill") and r["distill"] else "")
            + (", trained codes" if given("train_code") and bool(r["train_code"]) else ""))


def plot_finetune_runs(runs: pd.DataFrame, ax: plt.Axes, max_spikes: float | None = None
                       ) -> plt.Axes:
    """Validation accuracy (%) against validation mean spikes per neuron of every
    fine-tuning run (``runs``: ``family``, ``K``, ``lam``, ``surrogate``, ``role``,
    ``val_accuracy`` (fraction), ``val_spikes_per_neuron``), coloured by code family, one
    marker per role, each numbered; the legend (beside the axes) says which K, λ and
    surrogate each number is; ``max_spikes``: a spike budget, as a dashed line."""
    key = []
    for k, (_, r) in enumerate(runs.sort_values("val_spikes_per_neuron").iterrows(), 1):
        ax.plot(r["val_spikes_per_neuron"], 100 * r["val_accuracy"], ls="none",
                marker=_ROLE_MARKERS.get(r["role"], "o"), ms=8,
                color=FAMILY_COLORS.get(r["family"]))
        ax.annotate(str(k), (r["val_spikes_per_neuron"], 100 * r["val_accuracy"]),
                    fontsize="small", xytext=(5, 5), textcoords="offset points")
        key.append(f"{k}: K = {r['K']}, λ = {r['lam']:g}, "
                   f"{SURROGATE_LABELS.get(r['surrogate'], r['surrogate'])}{_run_extras(r)}")
    for fam in runs["family"].unique():
        ax.plot([], [], "o", color=FAMILY_COLORS.get(fam), label=family_label(fam))
    for role in runs["role"].unique():
        ax.plot([], [], _ROLE_MARKERS.get(role, "o"), color="grey", label=f"run: {role}")
    if max_spikes is not None:
        ax.axvline(max_spikes, color="black", ls="--", lw=1, label="spike budget")
    for line in key:
        ax.plot([], [], " ", label=line)
    ax.set(xlabel="mean spikes per neuron (validation images)",
           ylabel="FS-SNN accuracy (%), validation images")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return ax


def _front(rows: pd.DataFrame, x: str) -> pd.DataFrame:
    """Rows not beaten by another with fewer ``x`` and higher ``snn_accuracy``, by ``x``."""
    return pareto_front(rows.assign(error=-rows["snn_accuracy"]), x=x, y="error")


def plot_finetune_pareto(posthoc: pd.DataFrame, finetuned: pd.DataFrame, ax_spikes: plt.Axes,
                         ax_latency: plt.Axes | None = None, ann_accuracy: float | None = None,
                         anchors: list[dict] | None = None,
                         rate: pd.DataFrame | None = None,
                         finetuned_ann_accuracy: float | None = None) -> None:
    """Accuracy (%) against mean spikes per neuron (and, on ``ax_latency``, against latency
    in timesteps), log x axes: post-hoc codes (circles) vs FS-aware fine-tuned networks
    (diamonds), coloured by code family, each group's Pareto front as a line; ``rate``: the
    rate-coded baseline rows, one grey line per configuration; ``anchors``: published points
    ``{x, y, label}`` (spikes axis only); the ANN as a dotted line, and the ANN the
    fine-tuned networks started from as a dash-dotted one where that is another network
    (``finetuned_ann_accuracy``). Rows: test rows with ``family``, ``K``, ``snn_accuracy``
    (fraction), ``mean_spikes_per_neuron``, ``latency_timesteps``."""
    images = split_label(pd.concat([posthoc, finetuned]))
    axes = [(ax_spikes, "mean_spikes_per_neuron", "mean spikes per neuron (per image)"),
            (ax_latency, "latency_timesteps", "latency (timesteps to the read-out)")]
    for ax, x, xlabel in axes:
        if ax is None:
            continue
        for rows, marker, what, ls in ((posthoc, "o", "post-hoc", "--"),
                                       (finetuned, "D", "fine-tuned", "-")):
            if rows.empty:
                continue
            for _, r in rows.iterrows():
                ax.plot(r[x], 100 * r["snn_accuracy"], marker=marker, ms=7, ls="none",
                        color=FAMILY_COLORS.get(r["family"]))
            f = _front(rows, x)
            ax.plot(f[x], 100 * f["snn_accuracy"], ls=ls, color="black", lw=1,
                    label=f"{what}: Pareto front")
        for fam in pd.concat([posthoc, finetuned])["family"].unique():
            ax.plot([], [], "s", color=FAMILY_COLORS.get(fam), label=family_label(fam))
        ax.plot([], [], "o", color="grey", label="post-hoc code")
        ax.plot([], [], "D", color="grey", label="fine-tuned network")
        for code, g in (rate.groupby("code") if rate is not None else []):
            g = g.sort_values(x)
            ax.plot(g[x], 100 * g["snn_accuracy"], marker="s", ms=4, ls="--", alpha=0.7,
                    color=FAMILY_COLORS["rate"], label=f"{code_label(code)} ({split_label(g)})")
        two = finetuned_ann_accuracy is not None
        if ann_accuracy is not None:
            ax.axhline(100 * ann_accuracy, color="black", ls=":",
                       label="ANN of the post-hoc codes" if two else "ANN")
        if two:
            ax.axhline(100 * finetuned_ann_accuracy, color="black", ls="-.",
                       label="ANN the fine-tuned networks start from")
        ax.set(xscale="log", xlabel=xlabel, ylabel=f"accuracy (%), {images}")
    for a, marker in zip(anchors or [], ["*", "P", "X", "^"] * 4):
        ax_spikes.plot(a["x"], a["y"], marker=marker, ms=13, color="crimson", ls="none",
                       label=a["label"])
    if ax_latency is None:
        ax_spikes.legend(fontsize="x-small")
    else:   # one legend for both axes, outside them, so that no point is hidden
        ax_latency.legend(*ax_spikes.get_legend_handles_labels(), fontsize="x-small",
                          loc="upper left", bbox_to_anchor=(1.02, 1.0))
