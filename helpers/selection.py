"""Selection rules over result rows: which code a study quotes as "the best designed code"
(one rule, shared by the CIFAR-10 study, notebook 05 and the poster's headline), Pareto
fronts and the fewest spikes at a given error.

Pure Python over result rows (dicts such as those in ``data/results/cifar10.json``), so
report code can use it without TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Families that are baselines, not designed codes (the mlGeNN binary code and its
#: max-normalised variant).
BASELINE_FAMILIES = ("binary", "binary_max")


def best_code(rows: Iterable[Mapping[str, Any]], *, max_K: int | None = 8,
              max_spikes: float | None = 1.0,
              exclude_families: Iterable[str] = BASELINE_FAMILIES,
              metric: str = "accuracy_gap_pp") -> Mapping[str, Any] | None:
    """The row with the smallest ``metric`` among the designed codes in ``rows``.

    ``rows``: FS rows of one network and input mode, each with ``family``, ``K``,
    ``mean_spikes_per_neuron`` (spikes per neuron per image) and ``metric`` (default: the
    accuracy gap to the ANN, percentage points; smaller is better). Designed codes are rows
    whose family is not in ``exclude_families`` and with ``K <= max_K`` (``None``: any K).
    Among them, those with ``mean_spikes_per_neuron <= max_spikes`` (``None``: any) compete;
    when none is that sparse, every designed code competes; when there is no designed code,
    every row competes. Ties go to the earlier row. Returns ``None`` for no rows.
    """
    rows = list(rows)
    excluded = set(exclude_families)
    designed = [r for r in rows if r["family"] not in excluded
                and (max_K is None or (r["K"] is not None and r["K"] <= max_K))]
    pool = designed or rows
    if max_spikes is not None:
        pool = [r for r in pool if r["mean_spikes_per_neuron"] <= max_spikes] or pool
    return min(pool, key=lambda r: r[metric], default=None)


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
