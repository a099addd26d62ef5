"""One figure style for every notebook and the poster: palette, display names, saving.

:func:`set_style` applies a seaborn theme with a colour-blind-safe palette; :data:`FAMILIES`
is the one table of code families (display label and colour); :func:`code_label` and
:func:`model_label` turn identifiers such as ``relu_fitted_density_lam1e-05_K6`` into the
names figures show; :func:`savefig` writes each figure as PNG (300 dpi) and PDF atomically.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import seaborn as sns

from helpers.paths import REPO_ROOT
from helpers.results import atomic_output

PALETTE = "colorblind"
ACTIVATION_LABELS = {"relu": "ReLU", "relu6": "ReLU6", "silu": "SiLU", "sigmoid": "sigmoid"}


@dataclass(frozen=True)
class Family:
    """How a code family appears in figures: legend label and colour (RGB in [0, 1] or a
    matplotlib colour name)."""

    label: str
    color: Any


_FAMILY_ORDER = ("binary", "rounded", "fibonacci", "float_like", "distribution_aware", "fitted",
                 "sm_published", "binary_max", "jra_fp", "jra_fp_improved")
_FAMILY_LABELS = ("binary (mlGeNN code)", "binary, round-to-nearest", "Fibonacci (φ radix)",
                  "float-like (radix > 2)", "distribution-aware", "fitted (ours)",
                  "Stöckl & Maass", "binary, α = max (DataNorm)",
                  "floating point (JRA student project)", "floating point, improved (ours)")
#: The one table of code families (the ``family`` column of results rows) for all figures.
FAMILIES: dict[str, Family] = {
    **{fam: Family(label, color) for fam, label, color in
       zip(_FAMILY_ORDER, _FAMILY_LABELS, sns.color_palette(PALETTE, len(_FAMILY_ORDER)))},
    "rate": Family("rate coding", "grey"),
    "spike_bound": Family("spike bound (Huffman-like ideal)", "black"),
    "offset": Family("offset-folded pair (ours)", "#882255"),
    "distribution_aware_per_layer": Family("distribution-aware, per layer (ours)", "#117733"),
    "distribution_aware_per_layer_weighted": Family("per layer, spike price by layer size (ours)",
                                                    "#44AA99"),
    "distribution_aware_per_layer_fisher": Family(
        "per layer, spike price by loss sensitivity (ours)", "#332288"),
    "resnet_designed": Family("designed on the CIFAR-10 ResNet", "#999933"),
}
FAMILY_COLORS = {fam: f.color for fam, f in FAMILIES.items()}
FAMILY_LABELS = {fam: f.label for fam, f in FAMILIES.items()}


def family_label(family: str) -> str:
    """Legend label of a code family (unknown families: underscores become spaces)."""
    return FAMILY_LABELS.get(family, family.replace("_", " "))




_ACT = r"(?:relu|silu|sigmoid)"
#: (pattern for a code name without activation prefix and ``_K<n>`` suffix, display name).
_CODE_NAMES: tuple[tuple[str, str], ...] = (
    (r"binary(?:_p)?", "binary"),
    (r"binary_max", "binary, α = max"),
    (r"rounded", "binary, round-to-nearest"),
    (r"fib(?:onacci)?", "Fibonacci"),
    (r"float_r(?P<radix>[\d.]+)", "float-like, radix {radix}"),
    (r"geometric_r(?P<radix>[\d.]+)_(?:mid|floor)", "geometric, radix {radix}"),
    (r"distaware(?:_lam(?P<lam>[^_]+))?", "distribution-aware"),
    (r"lite_distaware(?:_lam(?P<lam>[^_]+))?", "distribution-aware"),
    (r"lite_distaware_per_layer(?:_lam(?P<lam>[^_]+))?", "distribution-aware, per layer"),
    (r"lite_distaware_per_layer_weighted(?:_lam(?P<lam>[^_]+))?",
     "distribution-aware, per layer, spike price by layer size"),
    (r"lite_distaware_per_layer_fisher(?:_lam(?P<lam>[^_]+))?",
     "distribution-aware, per layer, spike price by loss sensitivity"),
    (r"(?:fitted_)?density(?:_lam(?P<lam>[^_]+))?", "density-fitted"),
    (rf"fitted(?:_{_ACT})?", "fitted"),
    (rf"sm_{_ACT}", "Stöckl & Maass"),
    (rf"offset_{_ACT}(?:_lam(?P<lam>[^_]+))?", "offset-folded pair"),
    (r"finetuned", "its own trained per-layer codes"),      # a fine-tuned network's (GeNN jobs)
    (r"jra_fp_K(?P<m>\d+)_E(?P<e>\d+)", "JRA floating point, {e} exponent + {m} mantissa steps"),
    (r"jra_fp_implicit_K(?P<m>\d+)_E(?P<e>\d+)", "floating point, improved, {e} exponent + {m} mantissa steps"),
)
_RATE = re.compile(r"rate_(?P<norm>max|percentile)_(?P<input>constant|poisson)")
_RATE_WORDS = {"max": "max-norm", "percentile": "percentile-norm", "constant": "constant input",
               "poisson": "Poisson input"}


def code_label(code: str, with_lambda: bool = False) -> str:
    """Display name of a code identifier: ``"relu_fitted_density_lam1e-05_K6"`` ->
    ``"density-fitted, K = 6"``, ``"binary_K8"`` -> ``"binary, K = 8"``,
    ``"rate_max_constant"`` -> ``"rate, max-norm, constant input"``. A trailing note in
    parentheses is kept; ``with_lambda`` adds the spike penalty λ of fitted codes.
    Unknown names keep their words with underscores replaced by spaces."""
    name, sep, note = code.partition(" (")
    rate = _RATE.fullmatch(name)
    if rate:
        label = f"rate, {_RATE_WORDS[rate['norm']]}, {_RATE_WORDS[rate['input']]}"
        return label + sep + note
    m = re.fullmatch(rf"(?:{_ACT}_)?(?P<core>.+?)(?:_K(?P<K>\d+))?", name)
    core, K = m["core"], m["K"]
    label = core.replace("_", " ")
    for pattern, display in _CODE_NAMES:
        c = re.fullmatch(pattern, core)
        if c:
            label = display.format(**c.groupdict())
            if with_lambda and c.groupdict().get("lam") is not None:
                label += f" (λ = {c['lam']})"
            break
    return (label + (f", K = {K}" if K else "")) + sep + note


#: Surrogate gradients of FS-aware fine-tuning (:mod:`helpers.snn.finetune`), for figures.
SURROGATE_LABELS = {"sm": "S&M pseudo-derivative", "ste": "straight-through"}
_FINETUNED = re.compile(r"(?P<parent>.+?)_ft_K\d+_(?P<code>.+)_lam(?P<lam>[^_]+)_"
                        r"(?P<sur>sm|ste)(?P<codes>_codes)?(?:_e(?P<epochs>\d+))?"
                        r"(?:_s(?P<target>[^_]+))?(?:_kd(?P<kd>[^_]+))?")


def trained_codes(model: str) -> bool:
    """Whether ``model`` is a fine-tuned network whose codes (h, T, d) were trained too."""
    ft = _FINETUNED.fullmatch(model)
    return bool(ft and ft["codes"])


def model_label(model: str, brief: bool = False) -> str:
    """Display name of a network identifier: ``"resnet20_relu"`` -> ``"ResNet-20, ReLU"``,
    ``"resnet20_relu_nobn"`` -> ``"ResNet-20, ReLU, no BatchNorm"``,
    ``"resnet20_silu_from_relu"`` -> ``"ResNet-20, SiLU (from ReLU weights)"``,
    ``"resnet20_silu_from_relu_45k"`` -> ``"ResNet-20, SiLU (from the 45,000-image ReLU
    network's weights)"``,
    ``"resnet20_relu_45k"`` -> ``"ResNet-20, ReLU, 45,000 training images"``, a fine-tuned network
    ``"resnet20_relu_ft_K4_binary_K4_lam0.2_sm"`` -> ``"ResNet-20, ReLU, fine-tuned with
    binary, K = 4 (λ = 0.2, S&M pseudo-derivative)"`` (``brief``: λ and trained codes only,
    for tables); others unchanged except that underscores become spaces."""
    ft = _FINETUNED.fullmatch(model)
    if ft:
        codes = ", trained codes" if ft["codes"] else ""
        if brief:
            return (f"{model_label(ft['parent'])}, fine-tuned with {code_label(ft['code'])} "
                    f"(λ = {ft['lam']}{codes})")
        extra = codes + (
            f", {ft['epochs']} epochs" if ft["epochs"] else "") + (
            f", price above {ft['target']} spikes/neuron" if ft["target"] else "") + (
            f", distilled from the ANN (β = {ft['kd']})" if ft["kd"] else "")
        return (f"{model_label(ft['parent'])}, fine-tuned with {code_label(ft['code'])} "
                f"(λ = {ft['lam']}, {SURROGATE_LABELS[ft['sur']]}{extra})")
    m = re.fullmatch(r"resnet(?P<depth>\d+)_(?P<act>[a-z0-9]+)(?P<nobn>_nobn)?"
                     r"(?P<parent>_from_relu)?(?P<k45>_45k)?", model)
    if not m:
        return model.replace("_", " ")
    act = ACTIVATION_LABELS.get(m["act"], m["act"])
    if m["parent"]:     # started from a ReLU network's weights: which one
        origin = (" (from the 45,000-image ReLU network's weights)" if m["k45"]
                  else " (from ReLU weights)")
    else:
        origin = ", 45,000 training images" if m["k45"] else ""
    return f"ResNet-{m['depth']}, {act}" + (", no BatchNorm" if m["nobn"] else "") + origin


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
    sub-folders (e.g. ``"poster/accuracy"``). Each file is written atomically
    (:func:`helpers.results.atomic_output`), so a failed save never leaves a half-written
    figure.
    """
    base = Path(figures_dir) if figures_dir is not None else REPO_ROOT / "figures"
    paths = []
    # no creation date in the PDF, so re-running a notebook leaves unchanged figures unchanged
    for ext, kw in (("png", {"dpi": dpi}), ("pdf", {"metadata": {"CreationDate": None}})):
        with atomic_output(base / f"{name}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, **kw)
        paths.append(base / f"{name}.{ext}")
    return paths
