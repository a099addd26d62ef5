"""How stable a converted network's classes are under input changes far below the data's
resolution.

An FS neuron is a step function of its input: a change of a few float32 ulps can move one
neuron across a threshold, and the changed spike moves the inputs of the next layer, so a
network of millions of FS neurons may give another class for an image that differs from the
original by far less than one intensity level, where the ANN (a continuous function) gives the
same class. :func:`noise_draws` measures it: the network and its ANN on copies of the images
with Gaussian noise of standard deviation ``sigma`` (in the network's input units) added
pixel by pixel, draw by draw. The spread of the accuracy gap over the draws is the part of a
single measurement that is arithmetic, not code; the classes that change from the clean run
say how many images sit that close to a decision.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from helpers.ann.metrics import paired_gap
from helpers.snn.network import FSNetwork


def _draw_row(net: FSNetwork, x: np.ndarray, y: np.ndarray, batch_size: int,
              clean: dict[str, np.ndarray] | None = None) -> tuple[dict[str, Any], dict]:
    """One pass of the network and its ANN on ``x``: the row and both class vectors."""
    n_neurons = sum(info.n_neurons for info in net.layers)
    r = net.run(x, batch_size=batch_size)
    snn = r["logits"].argmax(1)
    ann = net.ann.predict(x, batch_size=batch_size, verbose=0).argmax(1)
    row = {"snn_top1": float(np.mean(snn == y)), "ann_top1": float(np.mean(ann == y)),
           "accuracy_gap_pp": float(100 * (np.mean(ann == y) - np.mean(snn == y))),
           "ann_disagreement": float(np.mean(snn != ann)),
           "mean_spikes_per_neuron": float(r["spikes"].sum(1).mean() / n_neurons)}
    if clean is not None:
        row["snn_changed"] = float(np.mean(snn != clean["snn"]))
        row["ann_changed"] = float(np.mean(ann != clean["ann"]))
    return row, {"snn": snn, "ann": ann}


def noise_draws(net: FSNetwork, x: np.ndarray, y: np.ndarray, *, sigma: float, n_draws: int,
                seed: int, batch_size: int = 16) -> dict[str, Any]:
    """``net`` (a converted network) and its ANN ``net.ann`` on the images ``x`` (N, ...)
    with labels ``y`` (N,), as they are (``clean``) and ``n_draws`` times with N(0, sigma²)
    added to every input value (seeded by ``seed``; float32). Each row: ``snn_top1``,
    ``ann_top1``, ``accuracy_gap_pp`` (ANN minus SNN, on the same noisy images),
    ``ann_disagreement`` (fraction of images where the two classes differ),
    ``mean_spikes_per_neuron``; each draw also ``snn_changed`` / ``ann_changed``, the
    fraction of images whose class differs from the clean run's. ``summary``: the gap's
    mean, standard deviation (ddof 1), minimum and maximum over the draws, their mean
    disagreement, and ``images_ever_changed``, the fraction of images whose SNN class
    differs from the clean run's in at least one draw. ``clean_gap``: how sure the clean
    run's gap is for this sample of images (:func:`helpers.ann.metrics.paired_gap`, ANN vs
    SNN, bootstrap seeded by ``seed``) -- the other uncertainty of a gap measured once."""
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma={sigma!r}: the noise's standard deviation must be positive "
                         "and finite (in the network's input units)")
    if n_draws < 2:
        raise ValueError(f"n_draws={n_draws}: a spread needs at least 2 draws")
    rng = np.random.default_rng(seed)
    clean, classes = _draw_row(net, x, y, batch_size)
    draws, changed = [], np.zeros(len(y), dtype=bool)
    for _ in range(n_draws):
        xn = (x + sigma * rng.standard_normal(x.shape)).astype(np.float32)
        row, c = _draw_row(net, xn, y, batch_size, classes)
        changed |= c["snn"] != classes["snn"]
        draws.append(row)
    gaps = np.array([d["accuracy_gap_pp"] for d in draws])
    summary = {"gap_mean_pp": float(gaps.mean()), "gap_sd_pp": float(gaps.std(ddof=1)),
               "gap_min_pp": float(gaps.min()), "gap_max_pp": float(gaps.max()),
               "disagreement_mean": float(np.mean([d["ann_disagreement"] for d in draws])),
               "images_ever_changed": float(changed.mean())}
    return {"sigma": float(sigma), "n_draws": int(n_draws), "n_images": int(len(y)),
            "seed": int(seed), "clean": clean, "draws": draws, "summary": summary,
            "clean_gap": paired_gap(y, classes["ann"], classes["snn"], seed=seed)}
