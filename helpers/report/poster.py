"""Poster panels and the A0 poster draft, drawn only from committed files.

Every panel reads ``data/results/*.json``, ``data/codes/*.json`` or model cards -- never
recomputes a result -- and is a function ``panel_<name>(src, fig)`` that draws into ``fig``
or raises :class:`MissingResults` naming the file it lacks. :func:`draw_panels` writes each
panel to ``figures/poster/<name>.{png,pdf}`` and reports which were skipped;
:func:`make_poster` lays them out on one A0 portrait page with a title, captions and the
headline numbers read from the results files (:func:`headline_numbers`).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.backends.backend_pdf import PdfPages

from helpers.fs.neuron import FSCode
from helpers.report.panels import (
    CIFAR10_ANCHORS,
    plot_accuracy_vs_K,
    plot_accuracy_vs_spikes,
    plot_approximation,
    plot_energy,
    plot_error_vs_K,
    plot_fs_trace,
    plot_pareto,
    plot_raster_summary,
)
from helpers.report.style import code_label, model_label, savefig, set_style
from helpers.results import atomic_output, read_json
from helpers.selection import best_code


class MissingResults(FileNotFoundError):
    """A panel's input file does not exist (yet)."""


@dataclass(frozen=True)
class Sources:
    """Where the panels read from: ``<root>/data/{results,codes,models}``."""

    root: Path

    def result(self, name: str) -> dict[str, Any]:
        path = self.root / "data" / "results" / f"{name}.json"
        if not path.is_file():
            raise MissingResults(f"{path} not found (written by the notebook that produces "
                                 f"{name}.json; see the README table)")
        return read_json(path)

    def code(self, name: str) -> FSCode:
        path = self.root / "data" / "codes" / f"{name}.json"
        if not path.is_file():
            raise MissingResults(f"{path} not found (written by notebooks 02/03)")
        return FSCode.load(path)


def _fs_rows(src: Sources) -> pd.DataFrame:
    rows = pd.DataFrame(src.result("cifar10")["rows"])
    return rows


def _imagenet_rows(src: Sources) -> pd.DataFrame:
    """ImageNet rows of the fully spiking network with analog input (a ``family`` column
    added from ``code`` for files written before families were stored)."""
    rows = pd.DataFrame(src.result("imagenet")["rows"])
    if "bottlenecks" in rows:
        rows = rows[(rows.bottlenecks == "spiking") & (rows.input_mode == "analog")]
    return rows if "family" in rows else rows.assign(family=rows.code)


def _relu_model(rows: pd.DataFrame) -> str:
    names = [m for m in rows.model.unique() if "relu" in m]
    return names[0] if names else rows.model.iloc[0]


# -- panels -------------------------------------------------------------------------------------
def panel_fs_neuron(src: Sources, fig: plt.Figure) -> None:
    """How an FS neuron works: voltage, thresholds and spikes, binary vs a designed code."""
    fit = src.result("fitting")
    K = next((r["K"] for r in fit["comparison"] if r["activation"] == "relu"), 10)
    binary = src.code(f"binary_K{K}")
    designed = src.code(f"fitted_relu_K{K}")
    axes = fig.subplots(1, 2, sharey=True)
    plot_fs_trace(binary, 6.3, axes[0], title=f"binary code (mlGeNN), K={binary.K}")
    plot_fs_trace(designed, 6.3, axes[1], title=f"fitted code, K={designed.K}")


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


def panel_cifar_accuracy_vs_K(src: Sources, fig: plt.Figure) -> None:
    """CIFAR-10: SNN accuracy vs K per code family, ANN as reference line."""
    rows = _fs_rows(src)
    fs = rows[(rows.method == "fs") & (rows.input_mode == "analog")]
    names = list(fs.model.unique())
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    for ax, name in zip(axes, names):
        g = fs[fs.model == name]
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
             "label": f"mlGeNN FewSpike on GeNN, K = {r.K} ({model_label(r.model)}, {r.n_test} "
                      "images; measured here)"} for r in own.itertuples()]


def panel_accuracy_vs_spikes(src: Sources, fig: plt.Figure) -> None:
    """Accuracy vs spikes per neuron: FS codes against rate coding, anchors marked."""
    rows = _fs_rows(src)
    name = _relu_model(rows)
    fs = rows[(rows.method == "fs") & (rows.model == name) & (rows.input_mode == "analog")]
    rate = rows[rows.method == "rate"]
    ax = fig.subplots()
    plot_accuracy_vs_spikes(fs, rate, ax, ann_accuracy=fs.ann_accuracy.iloc[0],
                            anchors=CIFAR10_ANCHORS + mlgenn_anchors(src))
    ax.set_title(f"{model_label(name)}: FS codes vs rate coding")


def panel_energy(src: Sources, fig: plt.Figure) -> None:
    """Energy per image, ANN vs SNN, per layer."""
    e = src.result("cifar10").get("energy") or {}
    if not e:
        raise MissingResults("cifar10.json has no 'energy' entry (run notebook 05)")
    plot_energy(e, fig.subplots())


def panel_imagenet(src: Sources, fig: plt.Figure) -> None:
    """ImageNet (EfficientNet-Lite0, FS neurons for every ReLU6): top-1 vs K, spikes."""
    rows = _imagenet_rows(src)
    axes = fig.subplots(1, 2)
    plot_accuracy_vs_K(rows, axes[0], ann_accuracy=rows.ann_accuracy.iloc[0], ax_spikes=axes[1],
                       ylabel="top-1 (%), image sample", ms=9)
    axes[0].legend(fontsize="x-small")


def panel_raster(src: Sources, fig: plt.Figure) -> None:
    """Spike raster and per-layer spikes of one CIFAR-10 image (stored by notebook 04)."""
    r = src.result("conversion").get("raster")
    if not r:
        raise MissingResults("conversion.json has no 'raster' entry (run notebook 04)")
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
    for c, label in (("model", model_label), ("code", code_label)):
        if c in t:
            t[c] = t[c].map(label)
    t = t.rename(columns=cols)
    ax = fig.subplots()
    ax.axis("off")
    tab = ax.table(cellText=t.astype(str).values, colLabels=list(t.columns), loc="center",
                   cellLoc="left")
    tab.auto_set_font_size(False)
    tab.set_fontsize(11)
    tab.auto_set_column_width(list(range(len(t.columns))))
    tab.scale(1, 1.6)
    n = src.result("mlgenn").get("n_test", rows.get("n_test", pd.Series([0])).max())
    ax.set_title(f"The same networks on GeNN (mlGeNN) and in our simulators, {n} CIFAR-10 "
                 "test images")


PANELS: dict[str, tuple[Callable, tuple[float, float], str]] = {
    "fs_neuron": (panel_fs_neuron, (14, 5), "One FS neuron, K steps: the membrane voltage is compared with a threshold each step; a spike subtracts h(t) and adds d(t) to the output."),
    "approximations": (panel_approximations, (20, 5.5), "FS approximations of ReLU, SiLU and sigmoid (ours vs Stöckl & Maass) and error vs K."),
    "code_design": (panel_code_design, (12, 6), "Code families on the real pre-activations of the ReLU network: error vs spikes (Pareto fronts); star = binary code reference."),
    "cifar_accuracy_vs_K": (panel_cifar_accuracy_vs_K, (20, 5.5), "CIFAR-10 test accuracy of the FS networks vs timesteps K, per code family; dotted: the ANN."),
    "accuracy_vs_spikes": (panel_accuracy_vs_spikes, (12, 6), "Accuracy vs spikes per neuron: FS codes reach ANN accuracy with ~1 spike per neuron; rate coding needs many more."),
    "energy": (panel_energy, (14, 5), "Estimated energy per image and layer (Horowitz 45 nm): MACs for the ANN, accumulates per spike for the SNN."),
    "imagenet": (panel_imagenet, (14, 5), "ImageNet sample: EfficientNet-Lite0 as a spiking network (FS neurons for every ReLU6, signed identity FS neurons on the linear bottlenecks)."),
    "raster": (panel_raster, (16, 6), "Spikes of one CIFAR-10 image through the pipelined network, and spikes per neuron per layer."),
    "mlgenn": (panel_mlgenn, (24, 4.5), "The same networks on GeNN via mlGeNN: mlGeNN's FewSpike path vs our GeNN FS neuron (identical), and our codes in GeNN vs our event-level simulator."),
}


#: Rows of the A0 layout: wide panels alone, square ones in pairs (skipped panels drop out).
LAYOUT = [["fs_neuron", "code_design"], ["approximations"], ["cifar_accuracy_vs_K"],
          ["accuracy_vs_spikes", "imagenet"], ["energy", "raster"], ["mlgenn"]]


def draw_panels(root: str | Path, out_dir: str | Path, only: list[str] | None = None,
                context: str = "poster") -> dict[str, str]:
    """Draw every panel from the files under ``root`` into ``out_dir``; return
    ``{panel: "drawn" | "skipped: <reason>"}``."""
    src = Sources(Path(root))
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
        savefig(fig, name, out_dir)
        plt.close(fig)
        status[name] = "drawn"
    return status


def headline_numbers(root: str | Path) -> dict[str, Any]:
    """The numbers the poster quotes, read from the results files (missing ones are None)."""
    src = Sources(Path(root))
    out: dict[str, Any] = {"cifar": None, "energy_ratio": None, "imagenet": None, "genn": None}
    try:
        rows = _fs_rows(src)
        fs = rows[(rows.method == "fs") & (rows.input_mode == "analog")]
        best = best_code(fs[fs.model == _relu_model(fs)].to_dict("records"))
        out["cifar"] = {k: best[k] for k in ("code", "K", "ann_accuracy", "snn_accuracy",
                                             "accuracy_gap_pp", "mean_spikes_per_neuron",
                                             "latency_timesteps")}
        out["cifar"]["K"] = int(out["cifar"]["K"])
        e = src.result("cifar10").get("energy") or {}
        out["energy_ratio"] = e.get("ratio")
    except MissingResults:
        pass
    try:        # any code (the binary one included) with <= 2 spikes per neuron if there is one
        best = best_code(_imagenet_rows(src).to_dict("records"), max_K=None, max_spikes=2.0,
                         exclude_families=())
        out["imagenet"] = {k: best[k] for k in ("code", "K", "snn_accuracy", "ann_accuracy",
                                                "accuracy_gap_pp", "mean_spikes_per_neuron")}
    except (MissingResults, KeyError):
        pass
    try:
        rows = pd.DataFrame(src.result("mlgenn")["rows"])
        ours = rows[rows.backend.str.contains("our FS neuron")
                    & (rows.reference == "event-level simulator")]
        same = rows[rows.reference == "mlGeNN FewSpike"]
        out["genn"] = {"n_test": int(rows.n_test.max()),
                       "agree_mlgenn": float(same.agreement_with_reference.min())
                       if len(same) else None,
                       "agree_simulator": float(ours.agreement_with_reference.min())
                       if len(ours) else None, "n_codes": len(ours)}
    except (MissingResults, KeyError, AttributeError):
        out["genn"] = None
    return out


def headline_text(h: dict[str, Any]) -> list[str]:
    """Poster sentences for :func:`headline_numbers` (one per available number)."""
    lines = []
    c = h.get("cifar")
    if c:
        lines.append(f"CIFAR-10 (ResNet-20): {100 * c['snn_accuracy']:.2f} % with code "
                     f"“{code_label(c['code'])}” — {c['accuracy_gap_pp']:.2f} pp below the "
                     f"ANN ({100 * c['ann_accuracy']:.2f} %) at {c['mean_spikes_per_neuron']:.2f} "
                     "spikes per neuron")
    if h.get("energy_ratio") is not None:
        lines.append(f"Estimated energy per image: SNN / ANN = {h['energy_ratio']:.3f} "
                     "(Horowitz 45 nm)")
    i = h.get("imagenet")
    if i:
        lines.append(f"ImageNet sample (EfficientNet-Lite0 as a spiking network): "
                     f"{100 * i['snn_accuracy']:.1f} % top-1 with code "
                     f"“{code_label(i['code'])}”, "
                     f"{i['accuracy_gap_pp']:.2f} pp below the ANN, "
                     f"{i['mean_spikes_per_neuron']:.2f} spikes per neuron")
    g = h.get("genn")
    if g and g["agree_simulator"] is not None:
        mlg = (f"our FS neuron reproduces mlGeNN's FewSpike on {100 * g['agree_mlgenn']:.0f} % of "
               "images; " if g["agree_mlgenn"] is not None else "")
        a = g["agree_simulator"]
        share = "100 %" if a == 1.0 else f"≥ {100 * a:.1f} %"
        lines.append(f"On GeNN ({g['n_test']} CIFAR-10 images): {mlg}our codes in GeNN agree with "
                     f"the event-level simulator on {share} of images ({g['n_codes']} codes)")
    return lines or ["(no results files yet: run notebooks 01-06)"]


def make_poster(root: str | Path, panel_dir: str | Path, out_file: str | Path,
                title: str = "Few-Spikes neuron codes: converting ANNs into spiking networks "
                              "with fewer spikes") -> Path:
    """Lay the drawn panels (PNG files in ``panel_dir``) on one A0 portrait page: ``out_file``
    (PDF) and a small PNG thumbnail beside it, both written atomically."""
    panel_dir, out_file = Path(panel_dir), Path(out_file)
    W, H = 33.1, 46.8                                             # A0 portrait, inches
    rows = [[n for n in row if (panel_dir / f"{n}.png").is_file()] for row in LAYOUT]
    rows = [row for row in rows if row]
    fig = plt.figure(figsize=(W, H))
    fig.text(0.5, 0.975, title, ha="center", va="top", fontsize=54, weight="bold")
    fig.text(0.5, 0.955, "fs-codes · every panel regenerated from data/results by notebook 07",
             ha="center", va="top", fontsize=26, color="dimgray")
    lines = headline_text(headline_numbers(root))
    for k, line in enumerate(lines):
        fig.text(0.04, 0.935 - 0.012 * k, "• " + line, fontsize=25, va="top")
    top, bottom, gap, cap = 0.925 - 0.012 * len(lines), 0.01, 0.008, 0.014
    # height (figure fraction) of each row at full width, from the panels' aspect ratios
    def row_height(row, scale):
        wf = scale * 0.94 / len(row)
        return max(wf * W * PANELS[n][1][1] / PANELS[n][1][0] / H for n in row)
    avail = top - bottom - len(rows) * (gap + cap)
    scale = min(1.0, avail / sum(row_height(r, 1.0) for r in rows))
    y = top
    for row in rows:
        h = row_height(row, scale)
        wf = scale * 0.94 / len(row)
        x0 = 0.5 - scale * 0.47
        for i, name in enumerate(row):
            ax = fig.add_axes([x0 + i * wf, y - h, wf * 0.98, h])
            ax.imshow(plt.imread(panel_dir / f"{name}.png"))
            ax.axis("off")
            caption = textwrap.fill(PANELS[name][2], width=int(150 * wf / 0.94))
            fig.text(x0 + i * wf, y - h - 0.002, caption, fontsize=20, va="top")
        y -= h + cap + gap
    with atomic_output(out_file) as tmp, PdfPages(tmp, metadata={"CreationDate": None}) as pdf:
        pdf.savefig(fig)
    with atomic_output(out_file.with_suffix(".png")) as tmp:      # README thumbnail
        fig.savefig(tmp, format="png", dpi=25)
    plt.close(fig)
    return out_file
