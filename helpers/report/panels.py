"""One figure style for every notebook, and the one way figures are written to disk.

:func:`set_style` applies a seaborn theme with a colour-blind-safe palette;
:func:`savefig` writes each figure as PNG (300 dpi) and PDF into ``figures/`` (or the
profile's figures folder) atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from helpers.paths import REPO_ROOT

PALETTE = "colorblind"
#: Consistent colours per activation across all figures.
ACTIVATION_COLORS = dict(zip(("relu", "silu", "sigmoid"), sns.color_palette(PALETTE, 3)))


def set_style(context: str = "notebook") -> None:
    """Apply the project style (``context``: "paper", "notebook", "talk" or "poster")."""
    sns.set_theme(context=context, style="whitegrid", palette=PALETTE)
    plt.rcParams.update({"figure.dpi": 100, "savefig.bbox": "tight",
                         "axes.spines.top": False, "axes.spines.right": False,
                         "pdf.fonttype": 42})


def savefig(fig: plt.Figure, name: str, figures_dir: str | Path | None = None,
            dpi: int = 300) -> list[Path]:
    """Save ``fig`` as ``<figures_dir>/<name>.png`` (``dpi``) and ``.pdf``; return both paths.

    ``figures_dir`` defaults to the repository's ``figures/``; ``name`` may contain
    sub-folders (e.g. ``"poster/accuracy"``). Each file is written to a temporary name and
    renamed, so a failed save never leaves a half-written figure.
    """
    base = Path(figures_dir) if figures_dir is not None else REPO_ROOT / "figures"
    paths = []
    # no creation date in the PDF, so re-running a notebook leaves unchanged figures unchanged
    for ext, kw in (("png", {"dpi": dpi}), ("pdf", {"metadata": {"CreationDate": None}})):
        path = base / f"{name}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp.{ext}")
        fig.savefig(tmp, format=ext, **kw)
        os.replace(tmp, path)
        paths.append(path)
    return paths


def plot_training_curves(cards: list[dict], ax_loss: plt.Axes | None = None,
                         ax_acc: plt.Axes | None = None) -> plt.Figure:
    """Loss and test accuracy per epoch for each model card (needs ``card["history"]``)."""
    if ax_loss is None or ax_acc is None:
        fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    else:
        fig = ax_loss.figure
    for card in cards:
        h = card["history"]
        c = ACTIVATION_COLORS.get(card["activation"])
        if card.get("batchnorm") is False:       # the BN-free variant: same activation, grey
            c = "dimgray"
        ep = range(1, len(h["loss"]) + 1)
        ax_loss.plot(ep, h["loss"], color=c, label=f"{card['name']} train")
        if "val_loss" in h:
            ax_loss.plot(ep, h["val_loss"], color=c, ls="--", label=f"{card['name']} test")
        ax_acc.plot(ep, [100 * a for a in h["accuracy"]], color=c, label=f"{card['name']} train")
        if "val_accuracy" in h:
            ax_acc.plot(ep, [100 * a for a in h["val_accuracy"]], color=c, ls="--",
                        label=f"{card['name']} test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss (nats)", yscale="log")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", ylim=(0, 100))
    ax_acc.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


#: Consistent colours per code family across all figures (and the poster).
FAMILY_ORDER = ("binary", "rounded", "fibonacci", "float_like", "distribution_aware", "fitted",
                "sm_published", "binary_max")
FAMILY_COLORS = dict(zip(FAMILY_ORDER, sns.color_palette(PALETTE, len(FAMILY_ORDER))))
FAMILY_LABELS = {"binary": "binary (mlGeNN code)", "binary_max": "binary, α = max (DataNorm)",
                 "rounded": "binary, round-to-nearest",
                 "fibonacci": "Fibonacci (φ radix)", "float_like": "float-like (radix > 2)",
                 "distribution_aware": "distribution-aware", "fitted": "fitted (ours)",
                 "sm_published": "Stöckl & Maass"}


def family_of(code) -> str:
    """Colour family of a code (its ``meta['family']``; midpoint radix-2 codes are 'rounded')."""
    fam = code.meta.get("family", "fitted")
    if fam == "geometric":
        return "rounded" if code.meta.get("midpoint") else "binary"
    return fam


def plot_fs_trace(code, x: float, ax: plt.Axes | None = None, title: str | None = None) -> plt.Axes:
    """Membrane voltage v(t), threshold T(t) and spikes of one FS neuron for input ``x``."""
    from helpers.fs.neuron import fs_trace

    ax = ax or plt.subplots(figsize=(6, 3.5))[1]
    tr = fs_trace(x, code)
    t = range(1, code.K + 1)
    col = FAMILY_COLORS.get(family_of(code))
    ax.step(t, tr["v"], where="mid", color=col, label="membrane voltage v(t)")
    ax.plot(t, tr["T"], "k--", lw=1, label="threshold T(t)")
    spk = [i + 1 for i, z in enumerate(tr["z"]) if z > 0]
    ax.plot(spk, [tr["v"][i - 1] for i in spk], "v", color="crimson", ms=9, label="spike")
    ax.set(xlabel="timestep t", ylabel="voltage (input units)",
           title=title or f"{code.name}: x = {x:g} → {float(tr['out'][-1]):.4g} "
                          f"({int(tr['z'].sum())} spikes)")
    ax.legend(fontsize="small")
    return ax


def plot_approximation(codes_: list, x_range: tuple[float, float], ax: plt.Axes,
                       target=None, n: int = 4001) -> plt.Axes:
    """FS outputs of ``codes_`` against the true activation over ``x_range``."""

    from helpers.fs import activations
    from helpers.fs.neuron import fs_numpy

    x = np.linspace(*x_range, n)
    f = target or activations.get(codes_[0].activation)
    ax.plot(x, f(x), color="black", lw=2.5, alpha=0.4, label=f"{codes_[0].activation} (exact)")
    for c in codes_:
        ax.plot(x, fs_numpy(x, c)[0], color=FAMILY_COLORS.get(family_of(c)), lw=1.3,
                label=f"{FAMILY_LABELS.get(family_of(c), c.name)}, K={c.K}")
    ax.set(xlabel="input x", ylabel="output")
    ax.legend(fontsize="small")
    return ax


def plot_pareto(net, ax: plt.Axes, front_only: bool = False, reference=None) -> plt.Axes:
    """Approximation error vs mean spikes per neuron, one colour per code family.

    ``net``: rows with ``family``, ``K``, ``mse``, ``mean_spikes`` (e.g. the ``network`` rows
    of :func:`helpers.fs.design.evaluate_per_layer`). ``reference``: a row to mark.
    """
    from helpers.fs.design import pareto_front

    for fam, g in net.groupby("family"):
        g = pareto_front(g) if front_only else g.sort_values("mean_spikes")
        col = FAMILY_COLORS.get(fam, FAMILY_COLORS.get(fam.split("_")[0]))
        ls = ":" if fam == "binary_max" else "-"
        ax.plot(g["mean_spikes"], g["mse"], marker="o", ms=4, ls=ls, color=col,
                label=FAMILY_LABELS.get(fam, fam.replace("_", " ")))
    if reference is not None:
        ax.plot(reference["mean_spikes"], reference["mse"], marker="*", ms=18, color="black",
                ls="none", label=f"reference: {reference['code']}")
        ax.axhline(reference["mse"], color="black", lw=0.8, ls="--")
    ax.set(xlabel="mean spikes per neuron", ylabel="MSE (normalised units²)", yscale="log")
    ax.legend(fontsize="small")
    return ax


def plot_accuracy_vs_spikes(fs_rows, rate_rows, ax: plt.Axes, ann_accuracy: float | None = None,
                            anchors: list[dict] | None = None) -> plt.Axes:
    """Accuracy (%) against mean spikes per neuron (log axis): FS codes vs rate coding.

    ``fs_rows``/``rate_rows``: DataFrames with ``mean_spikes_per_neuron``, ``snn_accuracy``
    and a ``label`` column; ``anchors``: published points ``{x, y, label}`` to mark.
    """
    for label, g in fs_rows.groupby("label"):
        g = g.sort_values("mean_spikes_per_neuron")
        ax.plot(g["mean_spikes_per_neuron"], 100 * g["snn_accuracy"], marker="o", label=label,
                color=FAMILY_COLORS.get(g["family"].iloc[0]) if "family" in g else None)
    for label, g in rate_rows.groupby("label"):
        g = g.sort_values("mean_spikes_per_neuron")
        ax.plot(g["mean_spikes_per_neuron"], 100 * g["snn_accuracy"], marker="s", ls="--",
                color="grey", alpha=0.8, label=label)
    if ann_accuracy is not None:
        ax.axhline(100 * ann_accuracy, color="black", lw=1, ls=":", label="ANN")
    for a in anchors or []:
        ax.plot(a["x"], a["y"], marker="*", ms=14, color="crimson", ls="none")
        ax.annotate(a["label"], (a["x"], a["y"]), fontsize=8, xytext=(4, 4),
                    textcoords="offset points")
    ax.set(xscale="log", xlabel="mean spikes per neuron (per image)", ylabel="test accuracy (%)")
    ax.legend(fontsize="small")
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


def plot_layer_values(rows, value: str, ax: plt.Axes, codes_: list[str] | None = None) -> plt.Axes:
    """A per-layer quantity (e.g. ``mean_spikes``) for several codes; ``rows`` has ``code``,
    ``layer`` and ``value`` columns (network rows are ignored)."""
    rows = rows[rows.layer != "network"]
    layers = list(dict.fromkeys(rows.layer))
    for name, g in rows.groupby("code"):
        if codes_ is not None and name not in codes_:
            continue
        g = g.set_index("layer").loc[layers]
        ax.plot(range(len(layers)), g[value], marker="o", ms=4, label=name)
    ax.set_xticks(range(len(layers)), layers, rotation=70, fontsize=8)
    ax.legend(fontsize="small")
    return ax


def plot_code_points(net_rows, ax: plt.Axes, title: str = "") -> plt.Axes:
    """MSE vs mean spikes per code (one point each, labelled), coloured by family."""
    for fam, g in net_rows.groupby("family"):
        ax.plot(g["mean_spikes"], g["mse"], marker="o", ls="none", ms=9,
                color=FAMILY_COLORS.get(fam), label=FAMILY_LABELS.get(fam, fam))
        for _, r in g.iterrows():
            ax.annotate(r["code"], (r["mean_spikes"], r["mse"]), fontsize=7)
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
    ax_raster.set(xlabel="timestep (each layer fires in its own K-step window)",
                  ylabel="neurons (sampled, by layer)", yticks=[],
                  title=f"{r.get('model', '')} {r.get('code', '')}: test image {r['image']}, "
                        f"{r['total_spikes']:,} spikes, latency {r['latency_timesteps']} steps")
    if ax_bars is not None:
        ax_bars.barh(range(n), [layer["spikes_per_neuron"] for layer in r["layers"]], color=colors)
        ax_bars.set_yticks(range(n), [layer["name"] for layer in r["layers"]], fontsize=7)
        ax_bars.set(xlabel="spikes per neuron")
        ax_bars.invert_yaxis()
