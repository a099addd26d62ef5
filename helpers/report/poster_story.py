"""The poster's numbered sections: their titles, the sentences that tell the story, and the
panel each shows. Every number is read from the results files through
:class:`helpers.report.poster.Sources`; a number whose file is missing reads "n/a (run
notebook NN)". Display names only (:func:`code_label`, :func:`model_label`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from helpers.fs.neuron import fs_trace
from helpers.report.panels import CIFAR10_ANCHORS
from helpers.report.poster import (SMOOTH_TARGET, MissingResults, PosterError, Sources,
                                   _cifar_headline, _energy_headline, _genn_headline,
                                   _imagenet_headline, _imagenet_rows, is_finetuned_of,
                                   smooth_network_rows)
from helpers.report.style import code_label, model_label, trained_codes
from helpers.selection import best_finetuned, chosen_test_row, split_of


@dataclass(frozen=True)
class Section:
    """One numbered section: ``title``, ``paragraphs`` (plain sentences; a leading "• "
    makes a bullet), the poster panel it shows (a key of ``helpers.report.poster.PANELS``,
    or None) and that panel's height in inches at the section's width."""

    title: str
    paragraphs: list[str]
    panel: str | None = None
    panel_height: float = 0.0


def _pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def _versus_ann(gap_pp: float, digits: int = 2) -> str:
    """A gap to the ANN (percentage points, positive: below) in words: "0.89 points below
    the ANN", "1.0 points above the ANN"."""
    side = "below" if gap_pp >= 0 else "above"
    return f"{abs(gap_pp):.{digits}f} points {side} the ANN"


def _missing(notebook: str) -> str:
    return f"n/a (run notebook {notebook})"


def question(src: Sources) -> Section:
    return Section("The question", [
        "An ANN multiplies and adds for every connection; a spiking network only adds, when "
        "a spike arrives: its energy follows its spikes. Few-Spikes (FS) neurons send each "
        "activation as at most K spikes in K steps. How few spikes and steps keep the "
        "ANN's accuracy?"])


def neuron(src: Sources) -> Section:
    text = ["Each step the voltage meets a threshold T(t); a spike subtracts h(t) and adds "
            "d(t) to the output. The binary code sends a value's bits; ours fit T, h, d to the "
            "values a layer really receives."]
    try:
        code = src.code("binary_K10")
    except MissingResults:
        return Section("The FS neuron", text, "fs_neuron", 4.4)
    tr = fs_trace(6.3, code)
    bits = "".join(str(int(z)) for z in tr["z"])
    text.append(f"Example: 6.3 with the binary code (K = {code.K}, α = {2 * code.T[0]:g}) is "
                f"sent as {bits} — {int(tr['z'].sum())} spikes — and read as "
                f"{float(tr['out'][-1]):.3f}.")
    return Section("The FS neuron", text, "fs_neuron", 4.4)


def codes(src: Sources) -> Section:
    try:
        sb = src.result("spike_bound")
    except MissingResults:
        return Section("Codes and their limit", [f"Code design: {_missing('03')}"])
    ref, gaps = sb["reference"], sb["bound_gaps"]
    best = next((g for g in gaps if g["family"] not in ("binary", "binary_max")), None)
    text = [f"On the ReLU layers' real inputs, {code_label(ref['code'])} spends "
            f"{ref['mean_spikes']:.2f} spikes per neuron."]
    if best:
        text[0] += (f" At its error our {code_label(best['code'])} code spends "
                    f"{best['mean_spikes']:.2f}; no code could spend under "
                    f"{best['bound_at_error']:.2f} (black: the most frequent levels get the "
                    "fewest spikes).")
    jra = _jra_sentence(sb)
    return Section("Codes and their limit", text + ([jra] if jra else []), "spike_bound", 7.2)


def _jra_sentence(sb: dict) -> str | None:
    """The seed project's floating-point code at 8 timesteps against binary K = 8."""
    net = {r["code"]: r for r in sb["rows"] if r["layer"] == "network"}
    seed = [r for r in net.values() if r["family"] == "jra_fp" and r["K"] == 8]
    ours = [r for r in net.values() if r["family"] == "jra_fp_improved" and r["K"] == 8]
    if not (seed and ours and "binary_p_K8" in net):
        return None
    s, o = min(seed, key=lambda r: r["mse"]), min(ours, key=lambda r: r["mse"])
    return (f"The student project's floating-point code spends {s['mean_spikes']:.2f} spikes "
            f"in 8 steps, our improved variant {o['mean_spikes']:.2f} (binary: "
            f"{net['binary_p_K8']['mean_spikes']:.2f}).")


def cifar(src: Sources) -> Section:
    try:
        c = _cifar_headline(src)
    except MissingResults:
        return Section("CIFAR-10: accuracy, spikes, timesteps",
                       [f"CIFAR-10: {_missing('06')}"], "finetuning", 8.2)
    text = [f"ResNet-20 (ANN {_pct(c['ann_accuracy'])} on the test set). Chosen on "
            f"validation images: the {code_label(c['code'])} code keeps "
            f"{_pct(c['snn_accuracy'])} ({_versus_ann(c['accuracy_gap_pp'])}) "
            f"with {c['mean_spikes_per_neuron']:.2f} spikes per neuron."]
    text += _finetuned_sentences(src)
    anchor = CIFAR10_ANCHORS[0]
    text.append(f"Beside them: rate coding (grey) and {anchor['label'].split(':')[0]} "
                f"({anchor['y']} % at {anchor['x']} spikes per neuron, K = 10).")
    return Section("CIFAR-10: accuracy, spikes, timesteps", text, "finetuning", 8.2)


def _finetuned_sentences(src: Sources) -> list[str]:
    """The fine-tuned ReLU networks (notebook 04) at K = 4 and K = 2, chosen on validation
    rows, with their parent ANN where it is not the post-hoc codes' network."""
    rows = src.result("cifar10")["rows"]
    ft = [r for r in rows if is_finetuned_of(r, "relu")]
    parts, parents = [], []
    for K in (4, 2):
        val = [r for r in ft if r["K"] == K and split_of(r) == "val"]
        pick = best_finetuned(val, None, accuracy="snn_accuracy", spikes="mean_spikes_per_neuron")
        test = chosen_test_row(rows, pick) if pick else None
        if test:
            parts.append(f"{_pct(test['snn_accuracy'])} at K = {K} ({test['latency_timesteps']} "
                         f"timesteps, {test['mean_spikes_per_neuron']:.2f} spikes per neuron)")
            parents.append((test["parent"], test["ann_accuracy"]))
    who = "its FS neurons in the loop, it"
    if parents and parents[0][0] != src.network("relu"):
        who = (f"FS neurons in the loop, the network “{model_label(parents[0][0])}” "
               f"(ANN {_pct(parents[0][1])})")
    out = [f"Trained with {who} reaches {' and '.join(parts)}."] if parts else []
    val4 = [r for r in ft if r["K"] == 4 and split_of(r) == "val"]
    lean = best_finetuned(val4, HALF_SPIKE, accuracy="snn_accuracy",
                          spikes="mean_spikes_per_neuron")
    test = chosen_test_row(rows, lean) if lean else None
    if test and lean["mean_spikes_per_neuron"] <= HALF_SPIKE:
        out.append(f"With at most {HALF_SPIKE} spikes per neuron at K = 4 (chosen on validation "
                   f"images): {_pct(test['snn_accuracy'])} at "
                   f"{test['mean_spikes_per_neuron']:.2f} spikes per neuron.")
    return out


#: The spike budget of the fine-tuning target (spikes per neuron at K = 4).
HALF_SPIKE = 0.5


def smooth(src: Sources) -> Section:
    try:
        rows = src.result("cifar10")["rows"]
    except MissingResults:
        return Section("SiLU and sigmoid", [f"SiLU and sigmoid: {_missing('06')}"])
    tab = smooth_network_rows(rows, {a: src.network(a) for a in ("silu", "sigmoid")})
    if tab.empty:
        return Section("SiLU and sigmoid", ["SiLU and sigmoid: no rows in cifar10.json "
                                            "(notebook 06's models)"])
    text = []
    for act, g in tab.groupby("activation", sort=False):
        r = g.iloc[0]
        line = (f"{model_label(r['model'])} (ANN {_pct(r['ann_accuracy'])}): "
                f"{_pct(r['snn_accuracy'])} with the {code_label(r['code'])} code at "
                f"{r['mean_spikes_per_neuron']:.2f} spikes per neuron")
        lean = g[g.role == "chosen within the energy budget"]
        if len(lean):
            e = lean.iloc[0]
            line += (f" (energy {r['energy_ratio']:.2f} of the ANN's); within "
                     f"{SMOOTH_TARGET['energy_ratio']:g} of its energy, the "
                     f"{code_label(e['code'])} code: {_pct(e['snn_accuracy'])} at "
                     f"{e['mean_spikes_per_neuron']:.2f} (energy {e['energy_ratio']:.2f})")
        sm = g[g.role == "Stöckl & Maass"]
        if len(sm) and r["role"] != "Stöckl & Maass":
            s = sm.iloc[0]
            line += (f"; Stöckl & Maass's K = {s['K']} code {_pct(s['snn_accuracy'])} at "
                     f"{s['mean_spikes_per_neuron']:.2f}")
        for _, f in g[g.role == "FS-aware fine-tuned"].iterrows():
            codes = " with trained codes" if trained_codes(f["model"]) else ""
            line += (f"; FS-aware fine-tuned{codes}, K = {f['K']}: "
                     f"{_pct(f['snn_accuracy'])} at {f['mean_spikes_per_neuron']:.2f} "
                     f"(energy {f['energy_ratio']:.2f})")
        text.append(line + ".")
    text.append("An offset-folded pair moves the activation's resting value into the next "
                "layer's bias: a neuron at rest sends no spike.")
    return Section("SiLU and sigmoid", text, "smooth_networks", 5.5)


def imagenet(src: Sources) -> Section:
    try:
        i = _imagenet_headline(src)
    except MissingResults:
        return Section("ImageNet", [f"ImageNet: {_missing('07')}"])
    per_K = _imagenet_chosen_per_K(src)
    if per_K:
        text = ["EfficientNet-Lite0, spiking end to end, with codes designed on its own layers "
                "and chosen on validation images. On the evaluation images (top-1 against the "
                "ANN's in points, spikes per neuron): " + "; ".join(per_K) + "."]
    else:       # a results file without choices: its headline row
        text = [f"EfficientNet-Lite0, spiking end to end: the {code_label(i['code'])} code "
                f"scores {_pct(i['snn_accuracy'])} top-1, {_versus_ann(i['accuracy_gap_pp'])}, "
                f"at {i['mean_spikes_per_neuron']:.2f} spikes per neuron."]
    l2 = src.result("imagenet").get("lite2")
    if l2:
        row = next(r for r in l2["rows"] if r["code"] == l2["recipe"]["code"])
        text.append(f"The larger EfficientNet-Lite2 with the K = {l2['recipe']['K']} recipe: "
                    f"{_versus_ann(row['accuracy_gap_pp'], 1)} at "
                    f"{row['mean_spikes_per_neuron']:.2f} spikes.")
    return Section("ImageNet", text, "imagenet", 6.5)


def _imagenet_chosen_per_K(src: Sources) -> list[str]:
    """"K = k: top-1 minus the ANN's (pp, signed) at spikes per neuron" for the codes chosen
    on the sample's validation part (one per K, evaluation images), or nothing for files
    without choices."""
    rows = _imagenet_rows(src)
    if "chosen_on" not in rows:
        return []
    chosen = rows[rows.chosen_on.fillna("").str.startswith("val:")]
    chosen = (chosen.assign(other=~chosen.chosen_on.str.endswith("(best_code)"))
              .sort_values(["K", "other"]).drop_duplicates("K"))     # the headline first
    return [f"K = {r.K}: {-r.accuracy_gap_pp:+.1f} at {r.mean_spikes_per_neuron:.2f}"
            for r in chosen.itertuples()]


def genn(src: Sources) -> Section:
    try:
        g = _genn_headline(src)
    except MissingResults:
        return Section("On GeNN", [f"GeNN: {_missing('05')}"])
    text = ["Our FS neuron runs on GeNN, through mlGeNN."]
    if g["agree_mlgenn"] is not None:
        text[0] += (f" It matches mlGeNN's FewSpike on {100 * g['agree_mlgenn']:.0f} % of "
                    f"{g['n_test']} test images.")
    if g["agree_simulator"] is not None:
        text[0] += (f" Our codes on GeNN agree with our event-level simulator on ≥ "
                    f"{100 * g['agree_simulator']:.1f} % ({g['n_codes']} network"
                    f"{'s' if g['n_codes'] != 1 else ''}).")
    return Section("On GeNN", [text[0] + _lite_genn(src)])


def _lite_genn(src: Sources) -> str:
    """A sentence on EfficientNet-Lite0 on GeNN (imagenet_genn.json), or "" without it."""
    try:
        rows = src.result("imagenet_genn")["rows"]
    except MissingResults:
        return ""
    g = next((r for r in rows if r["reference"] == "event-level simulator"), None)
    if g is None:
        return ""
    n = g["n_test"]
    same = round(g["agreement_with_reference"] * n)
    flips = g.get("disagreements") or []
    why = (", the others float32 rounding at near-ties"
           if same < n and len(flips) == n - same and all(d["explained"] for d in flips) else "")
    return (f" So does EfficientNet-Lite0 (depthwise convolutions as explicit synapses): the "
            f"simulator's class on {same} of {n} ImageNet images{why}.")


def energy(src: Sources) -> Section:
    try:
        e = _energy_headline(src)
    except MissingResults:
        return Section("Energy", [f"Energy: {_missing('06')}"])
    if e["ratio"] is None:
        return Section("Energy", [f"Energy: {_missing('06')}"])
    return Section("Energy", [
        f"Per image (45 nm, Horowitz 2014) the {code_label(e['code'])} network needs "
        f"{e['ratio']:.2f} of the ANN's energy."], "energy", 4.2)


def conclusion(src: Sources) -> Section:
    bullets = []
    for read, line in ((_cifar_headline, lambda c: f"• Designed codes keep the ANN's CIFAR-10 "
                        f"accuracy within {c['accuracy_gap_pp']:.2f} points at "
                        f"{c['mean_spikes_per_neuron']:.2f} spikes per neuron."),
                       (_energy_headline, lambda e: f"• About {e['ratio']:.2f} of the ANN's "
                        "energy per image.")):
        try:
            bullets.append(line(read(src)))
        except (MissingResults, PosterError, TypeError):
            continue
    bullets += ["• Training with FS neurons in the loop rescues short codes (K = 2 to 4).",
                "• Fixed FS schedules stay above the spike bound."]
    return Section("Conclusion", bullets)


#: The story in reading order: (key, section builder).
SECTIONS: tuple[tuple[str, Callable[[Sources], Section]], ...] = (
    ("question", question), ("neuron", neuron), ("codes", codes), ("genn", genn),
    ("cifar", cifar), ("smooth", smooth), ("energy", energy), ("imagenet", imagenet),
    ("conclusion", conclusion))


def story(src: Sources) -> dict[str, Section]:
    """Every section of the poster, keyed as in :data:`SECTIONS`."""
    return {key: build(src) for key, build in SECTIONS}
