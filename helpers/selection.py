"""Selection rules over result rows: which code a study quotes as "the best designed code"
(one rule, shared by the CIFAR-10 study, notebook 06 and the poster's headline), Pareto
fronts and the fewest spikes at a given error.

Pure Python over result rows (dicts such as those in ``data/results/cifar10.json``), so
report code can use it without TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Families that are baselines, not designed codes (the mlGeNN binary code and its
#: max-normalised variant; the seed project's floating-point code).
BASELINE_FAMILIES = ("binary", "binary_max", "jra_fp", "jra_fp_improved")


def best_code(rows: Iterable[Mapping[str, Any]], *, max_K: int | None = 8,
              max_spikes: float | None = 1.0, max_energy: float | None = None,
              exclude_families: Iterable[str] = BASELINE_FAMILIES,
              metric: str = "accuracy_gap_pp") -> Mapping[str, Any] | None:
    """The row with the smallest ``metric`` among the designed codes in ``rows``.

    ``rows``: FS rows of one network and input mode, each with ``family``, ``K``,
    ``mean_spikes_per_neuron`` (spikes per neuron per image) and ``metric`` (default: the
    accuracy gap to the ANN, percentage points; smaller is better). Designed codes are rows
    whose family is not in ``exclude_families`` and with ``K <= max_K`` (``None``: any K).
    Among them, those with ``mean_spikes_per_neuron <= max_spikes`` (``None``: any) compete;
    when none is that sparse, every designed code competes; when there is no designed code,
    every row competes. ``max_energy`` (SNN/ANN ``energy_ratio``; ``None``: no bound) narrows
    that pool the same way: those within it compete, or the whole pool when none is. Ties go
    to the earlier row. Returns ``None`` for no rows.
    """
    rows = list(rows)
    excluded = set(exclude_families)
    designed = [r for r in rows if r["family"] not in excluded
                and (max_K is None or (r["K"] is not None and r["K"] <= max_K))]
    pool = designed or rows
    if max_spikes is not None:
        pool = [r for r in pool if r["mean_spikes_per_neuron"] <= max_spikes] or pool
    if max_energy is not None:
        pool = [r for r in pool if r["energy_ratio"] <= max_energy] or pool
    return min(pool, key=lambda r: r[metric], default=None)


#: Families scored on the test set as fixed references, whatever the validation rows say.
REFERENCE_FAMILIES = ("binary", "binary_max", "sm_published", "jra_fp", "jra_fp_improved")


#: ``chosen_on`` of the code :func:`best_code` picks within an energy budget, where it is
#: not the headline code.
WITHIN_ENERGY = "val: best code within the energy budget"
#: ``chosen_on`` of the designed code with the smallest metric at its K.
BEST_AT_K = "val: best designed code at this K"


def best_designed_per_K(rows: Iterable[Mapping[str, Any]], metric: str = "accuracy_gap_pp"
                        ) -> list[Mapping[str, Any]]:
    """Per network (``model``), ``input_mode`` and K: the designed row (neither a reference
    family, :data:`REFERENCE_FAMILIES`, nor fine-tuned) with the smallest ``metric`` (ties:
    fewer spikes, then the earlier row); in the order the groups first appear."""
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in rows:
        if not r.get("finetuned") and r["family"] not in REFERENCE_FAMILIES:
            groups.setdefault((r["model"], r["input_mode"], r["K"]), []).append(r)
    return [min(g, key=lambda r: (r[metric], r["mean_spikes_per_neuron"]))
            for g in groups.values()]


def chosen_per_K(val_rows: Iterable[Mapping[str, Any]], metric: str = "accuracy_gap_pp",
                 energy_budget: float | None = None) -> list[dict[str, Any]]:
    """The validation rows whose codes are scored on the test set, each with ``chosen_on``.

    Per network (``model``) and ``input_mode``: at every K the designed code with the
    smallest ``metric`` (ties: fewer spikes); every reference code
    (:data:`REFERENCE_FAMILIES`); the headline code of :func:`best_code`; and with
    ``energy_budget`` (SNN/ANN energy ratio) the code :func:`best_code` picks within it
    (:data:`WITHIN_ENERGY`, where it differs from the headline). Fine-tuned
    networks (rows with ``finetuned``) were chosen on validation images before (notebook 04)
    and are all scored. The order follows ``val_rows``.
    """
    rows = [dict(r) for r in val_rows if r.get("method", "fs") == "fs"]
    why: dict[int, str] = {}
    for i, r in enumerate(rows):
        if r.get("finetuned"):
            why[i] = "val: fine-tuned network (chosen in notebook 04)"
        elif r["family"] in REFERENCE_FAMILIES:
            why[i] = "reference code"
    position = {id(r): i for i, r in enumerate(rows)}
    for best in best_designed_per_K(rows, metric):
        why.setdefault(position[id(best)], BEST_AT_K)
    for key in dict.fromkeys((r["model"], r["input_mode"]) for r in rows
                             if not r.get("finetuned")):
        pool = [i for i, r in enumerate(rows) if (r["model"], r["input_mode"]) == key]
        pick = best_code([rows[i] for i in pool], metric=metric)
        if pick is not None:
            why[_index(rows, pool, pick)] = "val: headline code (best_code)"
        if energy_budget is not None:
            lean = best_code([rows[i] for i in pool], metric=metric, max_energy=energy_budget)
            if lean is not None and lean is not pick:
                why[_index(rows, pool, lean)] = WITHIN_ENERGY
    return [{**rows[i], "chosen_on": why[i]} for i in sorted(why)]


#: ``chosen_on`` of a bias-corrected headline code's uncorrected twin, scored beside it on
#: the test (evaluation) images for comparison, not chosen.
UNCORRECTED_TWIN = "comparison: the headline code without bias correction"


def bias_correction_targets(val_rows: Iterable[Mapping[str, Any]], **choice
                            ) -> list[dict[str, Any]]:
    """The validation rows whose networks are validated again with empirical bias correction
    (:mod:`helpers.snn.bias`): the designed codes :func:`chosen_per_K` picks with ``choice``
    (``metric``, ``energy_budget``) -- best at each K, the headline code, the code within the
    energy budget -- neither reference codes nor fine-tuned networks (whose biases were
    trained with their FS neurons)."""
    return [v for v in chosen_per_K(val_rows, **choice)
            if v["family"] not in REFERENCE_FAMILIES and not v.get("finetuned")]


def _index(rows: list, pool: list[int], row) -> int:
    """The index in ``rows`` (one of ``pool``) of the very object ``row``."""
    return pool[[rows[j] is row for j in pool].index(True)]


def split_of(row: Mapping[str, Any], missing: str = "test") -> str:
    """The images ``row`` was measured on: its ``split``, or ``missing`` without one."""
    s = row.get("split")
    return s if isinstance(s, str) else missing


def chosen_test_row(rows: Iterable[Mapping[str, Any]],
                pick: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The test-set row of the converted network ``pick`` (a row chosen on validation
    images): the row with split "test" (or none) and the same ``model``, ``method``,
    ``code``, ``input_mode``, ``scale`` and ``bottlenecks`` (those ``pick`` records).
    ``pick`` itself when it is a test row; None when ``rows`` has no such row."""
    if split_of(pick) == "test":
        return pick
    keys = [k for k in ("model", "method", "code", "input_mode", "scale", "bottlenecks")
            if k in pick]
    return next((r for r in rows if split_of(r) == "test"
                 and all(r.get(k) == pick[k] for k in keys)), None)


def pareto_front(df, x: str = "mean_spikes", y: str = "mse"):
    """Rows of the DataFrame ``df`` not dominated in (fewer ``x``, lower ``y``), sorted by
    ``x``."""
    d = df.sort_values([x, y])
    keep, best = [], float("inf")
    for idx, val in zip(d.index, d[y]):
        if val < best:
            keep.append(idx)
            best = val
    return d.loc[keep]


def fewest_spikes_at_error(net, mse_target: float):
    """Per family, the code with the fewest mean spikes among those with ``mse <= target``
    (``net``: a DataFrame with ``family``, ``mse``, ``mean_spikes``)."""
    ok = net[net["mse"] <= mse_target * (1 + 1e-9)]
    if ok.empty:
        return ok
    return ok.loc[ok.groupby("family")["mean_spikes"].idxmin()].sort_values("mean_spikes")


def designed_code_per_K(code_rows: Iterable[Mapping[str, Any]], K_list: Iterable[int], *,
                        model: str | None = None, prefix: str = "relu_",
                        max_spikes: float | None = None) -> dict[int, str]:
    """Per K in ``K_list``: the designed code with the lowest network MSE on validation
    pre-activations, by the name it is saved under (``prefix`` + code). ``code_rows``:
    notebook 03's ``codes.json["relu"]["rows"]`` (saved as ``relu_<code>``) or, with
    ``model`` and ``prefix=""``, its ``smooth_rows`` of that network. ``max_spikes``: only
    codes with at most this many mean spikes per value (the rows' ``mean_spikes``) compete.
    Ties go to fewer spikes, then to the name. A K without such a code raises."""
    net = [r for r in code_rows if r["layer"] == "network"
           and r["family"] not in (*BASELINE_FAMILIES, "sm_published")
           and (model is None or r.get("model") == model)
           and (max_spikes is None or r["mean_spikes"] <= max_spikes)]
    out = {}
    for K in K_list:
        at_K = [r for r in net if r["K"] == K]
        if not at_K:
            raise ValueError(f"codes.json has no designed code of {model or 'ReLU'} at K={K}"
                             + ("" if max_spikes is None else f" within {max_spikes} spikes")
                             + f". Fix: add {K} to notebook 03's K_list (fit_K, smooth_K) "
                             "and re-run it, or raise the spike bound")
        best = min(at_K, key=lambda r: (r["mse"], r["mean_spikes"], r["code"]))
        out[K] = prefix + best["code"]
    return out


def smooth_start_codes(smooth_rows: Iterable[Mapping[str, Any]], parents: Iterable[str],
                       K: int, max_spikes: float | None) -> dict[str, str]:
    """Per SiLU/sigmoid network in ``parents``: the code its fine-tuning starts from, the
    :func:`designed_code_per_K` rule at ``K`` on notebook 03's ``smooth_rows`` of that
    network (lowest network MSE within ``max_spikes`` spikes per value)."""
    rows = list(smooth_rows)
    return {m: designed_code_per_K(rows, [K], model=m, prefix="", max_spikes=max_spikes)[K]
            for m in parents}


def best_finetuned(runs: Iterable[Mapping[str, Any]], max_spikes: float | None, *,
                   accuracy: str = "val_accuracy", spikes: str = "val_spikes_per_neuron"
                   ) -> Mapping[str, Any] | None:
    """The fine-tuning run to keep: the highest ``accuracy`` among ``runs`` with ``spikes``
    <= ``max_spikes`` (``None``: all); when none is that sparse, the sparsest run. Ties go to
    the earlier run; ``None`` for no runs. (Results rows of validation images: pass
    ``accuracy="snn_accuracy", spikes="mean_spikes_per_neuron"``.)"""
    runs = list(runs)
    ok = [r for r in runs if max_spikes is None or r[spikes] <= max_spikes]
    if ok:
        return max(ok, key=lambda r: r[accuracy])
    return min(runs, key=lambda r: r[spikes], default=None)
