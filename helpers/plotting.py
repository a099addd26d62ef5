"""One figure style for every notebook, and the one way figures are written to disk.

:func:`set_style` applies a seaborn theme with a colour-blind-safe palette;
:func:`savefig` writes each figure as PNG (300 dpi) and PDF into ``figures/`` (or the
profile's figures folder) atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import seaborn as sns

from .paths import REPO_ROOT

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
    for ext, kw in (("png", {"dpi": dpi}), ("pdf", {})):
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
